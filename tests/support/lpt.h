/*
 * lpt: test support for loss plugin unit tests.
 *
 * A mock host that drives a plugin the way the real host does, through the
 * ABI only: the test of a plugin loads its real built `.so`.
 *
 *     lpt_plugin *pl = lpt_plugin_open(PLUGIN_PATH, err, sizeof err);
 *     lpt_inst *in = lpt_inst_new(lpt_plugin_find(pl, "my_loss"), "mine");
 *     lpt_set_f(in, "coef", 0.5);                     // override a default
 *     lpt_add_field(in, "teacher_actions", LPT_VIEW(acts, LP_DTYPE_I32, R, T));
 *     lpt_add_output(in, "logits", LPT_VIEW(z, LP_DTYPE_F32, R, T, A),
 *                    LPT_VIEW(g, LP_DTYPE_F32, R, T, A));
 *     assert(lpt_create(in) == LP_OK && lpt_attach(in) == LP_OK);
 *     lpt_train(in, 1.0f, &res);                      // res.loss, g += dL/dz
 *     lpt_stat_last(in, "accuracy", &v);
 *     lpt_inst_free(in);                              // destroy
 *     lpt_plugin_close(pl);
 *
 * The mock also checks the contract and counts breaches (lpt_violations):
 * a hook that fails without host->error (or reports an error and returns
 * LP_OK), stats or state registered outside create/attach, field or output
 * names looked up outside attach (they must be resolved once, there), and
 * [instance] services called on the init table. Hooks receive a host-owned
 * copy of the lp_loss, as the ABI allows, so a plugin that keeps state in the
 * struct itself is caught.
 *
 * It refuses, too, to drive a plugin the way the real host never would
 * (abi.h, "what the host guarantees"): a hook that receives a batch or a
 * context before a successful attach returns LP_EINVAL uncalled, and a
 * fixture that breaks a guarantee makes the hook return LPT_EFIXTURE
 * uncalled, with the reason in lpt_fixture_error (and on stderr): a
 * parameter of another type or outside its schema range, a declared field
 * of another dtype or shape than the loss declared, an output and its
 * gradient that are not contiguous [rows, horizon, ...] of one dtype and
 * shape. A plugin test with a wrong fixture so fails in the support, and
 * the plugin need not check what the host guarantees.
 *
 * Not thread-safe; one test thread. Tensors added by the test stay
 * test-owned; the mock only keeps the views.
 */
#ifndef LPT_H
#define LPT_H

#include <lossplug/plugin.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A contiguous row-major view: LPT_VIEW(ptr, LP_DTYPE_F32, rows, horizon, A).
 * With no dims it is a scalar. */
#define LPT_VIEW(data, dtype, ...)                                                                 \
    lp_tensor_make((data), (dtype),                                                                \
                   (int32_t)(sizeof((int64_t[]){0, __VA_ARGS__}) / sizeof(int64_t) - 1),           \
                   (const int64_t[]){0, __VA_ARGS__} + 1)

/* What a hook driver returns, without calling the hook, for a fixture that
 * breaks what the host guarantees (see the top). */
#define LPT_EFIXTURE (-1000)

/* ---- plugin files ------------------------------------------------------ */

typedef struct lpt_plugin lpt_plugin;

/* dlopen `path` (RTLD_NOW | RTLD_LOCAL), find `lossplug_entry`, check the ABI
 * major and call init. NULL on failure, with the reason in err. The code
 * stays loaded after close (the ABI never unloads). */
lpt_plugin *lpt_plugin_open(const char *path, char *err, size_t errlen);
/* deinit and free. NULL is fine. */
void lpt_plugin_close(lpt_plugin *pl);
/* The descriptor whose id is `id`, or NULL. */
const lp_loss_desc *lpt_plugin_find(const lpt_plugin *pl, const char *id);
const lp_entry *lpt_plugin_entry(const lpt_plugin *pl);

/* ---- instances --------------------------------------------------------- */

typedef struct lpt_inst lpt_inst;

/* A host-side instance of `desc` named `name`: parameters set to the schema's
 * defaults, an lp_env_info with zeros, no fields or outputs. create is not
 * called yet. NULL when desc is NULL or memory runs out. */
lpt_inst *lpt_inst_new(const lp_loss_desc *desc, const char *name);
/* destroy (if created) and free. NULL is fine. */
void lpt_inst_free(lpt_inst *in);

/* Set a parameter by name, before or after create: the values array stays
 * at one address, so a set after create is what annealing looks like to the
 * plugin. The value is not checked here: a value outside the schema's range
 * makes the next hook return LPT_EFIXTURE (the host never passes one). 0, or
 * -1 when there is no such parameter or its type differs (set_f accepts int
 * params and rounds). */
int lpt_set_f(lpt_inst *in, const char *name, double v);
int lpt_set_i(lpt_inst *in, const char *name, int64_t v);
int lpt_set_b(lpt_inst *in, const char *name, int v);
int lpt_set_s(lpt_inst *in, const char *name, const char *v); /* string or enum; copied */
/* The values array handed to create, in schema order. */
lp_value *lpt_params(lpt_inst *in);

/* Writable before create: the environment and the lifecycle context. */
lp_env_info *lpt_env(lpt_inst *in);
lp_ctx *lpt_ctx(lpt_inst *in);

/* Experience fields and model outputs, by name. The handle the plugin gets
 * for a name is the index returned here. Adding an existing name replaces
 * its view (the handle stays). -1 when the table is full or the name too
 * long. */
int32_t lpt_add_field(lpt_inst *in, const char *name, lp_tensor view);
int32_t lpt_add_output(lpt_inst *in, const char *name, lp_tensor value, lp_tensor grad);
/* rows and horizon of the batches built from here on. When never set they
 * are taken from dims 0 and 1 of the first output (else the first field). */
void lpt_set_dims(lpt_inst *in, int64_t rows, int64_t horizon);
/* lp_create_args.config_dir (copied; NULL, the default, passes NULL):
 * what the session sets to the config file's directory. */
int lpt_set_config_dir(lpt_inst *in, const char *dir);
/* Register a host extension returned by host->get_extension(id). */
int lpt_add_extension(lpt_inst *in, const char *id, const void *ext);

/* The batch the next hook will see: fields, outputs and grads as added, the
 * rows/horizon above and row_index = 0..rows-1. Valid until the next call
 * that changes the tables. */
const lp_batch *lpt_batch(lpt_inst *in);

/* ---- hooks --------------------------------------------------------------- */
/* Each returns the hook's status; a NULL hook returns LP_OK. All but create
 * need a successful create (LP_EINVAL otherwise). */

int32_t lpt_create(lpt_inst *in);
/* `all` = the fields only (no outputs), as the host passes the whole buffer. */
int32_t lpt_attach(lpt_inst *in);
int32_t lpt_epoch_start(lpt_inst *in);
int32_t lpt_rollout_start(lpt_inst *in);
int32_t lpt_rollout_step(lpt_inst *in); /* fields only, as a step view */
int32_t lpt_train_start(lpt_inst *in);
int32_t lpt_update_epoch_start(lpt_inst *in);
/* Zeroes *out (when not NULL, else uses its own) and sets its struct_size. */
int32_t lpt_train(lpt_inst *in, float weight, lp_train_result *out);
int32_t lpt_minibatch_end(lpt_inst *in);
int32_t lpt_train_end(lpt_inst *in);
int32_t lpt_save(lpt_inst *in);
int32_t lpt_load(lpt_inst *in);
/* The instance's own get_extension, or NULL. */
const void *lpt_loss_extension(lpt_inst *in, const char *id);
/* The descriptor's or the instance's field list (the `fields` hook). */
int32_t lpt_fields(lpt_inst *in, const lp_field_spec **specs, uint32_t *count);

/* ---- what the host saw ------------------------------------------------------ */

/* The last message passed to host->error ("" when none) and how many. */
const char *lpt_last_error(const lpt_inst *in);
int lpt_error_count(const lpt_inst *in);
/* The last log line ("" when none) and how many. Lines go to stderr too when
 * the environment variable LPT_LOG is set. */
const char *lpt_last_log(const lpt_inst *in);
int lpt_log_count(const lpt_inst *in);
/* Contract breaches (see the top), and the last one's description. */
int lpt_violations(const lpt_inst *in);
const char *lpt_last_violation(const lpt_inst *in);
/* Why the last hook returned LPT_EFIXTURE ("" when none did), and how many
 * hooks did. */
const char *lpt_fixture_error(const lpt_inst *in);
int lpt_fixture_errors(const lpt_inst *in);

/* Declared reads that write: around rollout_step, train_start,
 * update_epoch_start and train, every field the plugin's descriptor declares
 * LP_FIELD_READ (without WRITE or UPDATE) for that phase, and that the test
 * added, is checksummed; a change fails the test at once (the plugin, the
 * instance, the hook and the field on stderr, then abort). soft = 1 records
 * it as a contract violation instead (for tests of the check itself). */
void lpt_field_check_soft(lpt_inst *in, int soft);

/* on = 0: the per-hook checks above (the fixture against the contract, the
 * read-only checksums) are skipped for this instance, so that a benchmark
 * (bench/loss_kernels) times the plugin's hook and not the mock host's
 * checks, which walk every field element by element. Attach still checks
 * the fixture once. Tests leave them on (the default, 1). */
void lpt_hook_checks(lpt_inst *in, int on);

/* A statistic by key: number of recorded values (-1 when never registered),
 * and the last value and the mean when the pointers are not NULL. */
int lpt_stat(const lpt_inst *in, const char *key, double *last, double *mean);
/* Forget recorded values (keys and handles stay). */
void lpt_stat_reset(lpt_inst *in);
/* A registered state tensor by name, or NULL. */
const lp_tensor *lpt_state(const lpt_inst *in, const char *name);
int lpt_state_count(const lpt_inst *in);

/* ---- numerics --------------------------------------------------------------- */

/* Deterministic random numbers (splitmix64), independent of libc. */
typedef struct lpt_rng {
    uint64_t s;
} lpt_rng;
lpt_rng lpt_rng_seed(uint64_t seed);
uint64_t lpt_rng_u64(lpt_rng *r);
double lpt_rng_uniform(lpt_rng *r, double lo, double hi); /* [lo, hi) */
double lpt_rng_normal(lpt_rng *r);                        /* mean 0, std 1 */
int64_t lpt_rng_int(lpt_rng *r, int64_t lo, int64_t hi);  /* [lo, hi], inclusive */

/* A scalar function of n doubles, supplied by the test. */
typedef double (*lpt_scalar_fn)(const double *x, size_t n, void *ctx);

/* Central differences: grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2h).
 * x is perturbed in place and restored exactly. */
void lpt_fd_grad(lpt_scalar_fn f, void *ctx, double *x, size_t n, double h, double *grad);

/* Compares an analytic gradient with a numeric one: element i passes when
 * |a_i - n_i| <= atol + rtol * |n_i|. Returns the number of failing
 * elements; *worst (when not NULL) gets the index of the largest excess,
 * *max_abs the largest |a_i - n_i|. */
size_t lpt_grad_compare(const double *analytic, const double *numeric, size_t n, double atol,
                        double rtol, size_t *worst, double *max_abs);

/* The worst element of lpt_check_own_gradient, for the caller's message. */
typedef struct lpt_own_grad {
    int32_t rc; /* of the training call at weight 1: LP_OK, or why it failed */
    size_t worst;
    double analytic, numeric;
} lpt_own_grad;

/* Checks that an instance's own reported loss, differentiated numerically,
 * agrees with its own gradient (value and gradient come from one function).
 * out[0..n) are the values of one output and grad[0..n) its gradient buffer,
 * which must hold zeros. Trains once at weight 1 for the analytic gradient,
 * then takes central differences (step h) of the loss that lpt_train reports
 * at weight 0 as a function of out, and compares the two with
 * lpt_grad_compare(atol, rtol). out is restored. Returns the number of
 * failing elements, or SIZE_MAX when the training call at weight 1 failed
 * (r->rc says why); r gets the worst element. */
size_t lpt_check_own_gradient(lpt_inst *in, float *out, const float *grad, size_t n, double h,
                              double atol, double rtol, lpt_own_grad *r);

#ifdef __cplusplus
}
#endif

#endif /* LPT_H */
