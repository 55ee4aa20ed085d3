/*
 * Internal: the session (lossplug/host.h "sessions"), shared by the files of
 * host/session. One idea per file:
 *   session.c   open, close, options, accessors
 *   program.c   the program's declarations (options and/or config)
 *   instance.c  per-instance host service tables, create, fields, attach,
 *               hook calls and their error messages
 *   spec.c      the merged experience spec
 *   buffer.c    the buffer, whole/step/minibatch views, outputs and grads
 *   rng.c       the reproducible per-update-epoch permutation
 *   lifecycle.c epoch, rollout and train phases
 *   stats.c     stats aggregation and the CSV / JSON Lines writer
 *   persist.c   checkpoints: save, load, load reports
 *   model_ext.c the host extension "lossplug.model/1": auxiliary model
 *               passes on a loss's own batches
 *   guard.c     the non-finite guard between the train hooks and the model
 *   field_check.c  the debug check that a hook leaves its read-only fields
 *               unchanged (lp_session_options.check_fields)
 * Nothing here is API; every non-static name is lp__*.
 */
#ifndef LP_SESSION_IMPL_H
#define LP_SESSION_IMPL_H

#include "config/config.h"

#include <lossplug/host.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LP__SESSION_ALIGN   64
#define LP__MAX_FIELD_SPECS 4096 /* per instance */

/* What an instance's host services may do right now. */
enum {
    LP__SVC_CREATE = 1, /* stat_handle, state_register */
    LP__SVC_ATTACH = 2, /* the same, plus field_handle, output_handle */
    LP__SVC_RUN = 3,    /* field_handle, output_handle, stat_record */
};

/* A declaration of a field by the program or an instance, per step, symbols
 * resolved. */
typedef struct lp__fdecl {
    const char *name;
    int32_t dtype;
    int32_t rank;
    int64_t shape[LP_MAX_RANK];
    uint32_t access; /* LP_FIELD_* */
    uint32_t phase;  /* LP_PHASE_* */
} lp__fdecl;

typedef struct lp__inst {
    lp_host host; /* this instance's service table; host_data -> this */
    struct lp_session *s;
    size_t index;
    const lp__loss_cfg *cfg;
    const lp_loss_info *info;
    lp_value *params; /* live values, annealed in place */
    lp_value *base;   /* configured values */
    uint32_t *anneal_index;
    lp_loss loss; /* the host's copy (zeroed beyond the plugin's struct_size) */
    int created;
    int svc; /* LP__SVC_* */
    lp__fdecl *fields;
    uint32_t field_count;
    int rollout_on, train_on;
    int32_t loss_stat;
    char label[320];           /* "instance 'NAME' (plugin ID, FILE:LINE)" */
    char pos_text[256];        /* "FILE:LINE:COLUMN" of the config entry */
    char errmsg[LP_ERROR_MAX]; /* last host->error of the running hook */
    int has_err;
    int svc_oom; /* a host service ran out of memory during the running hook */
    /* lp_session_options.check_fields (field_check.c): the handles of the
     * fields this instance only reads, per phase (0 rollout, 1 train), and
     * their checksums before the running hook. NULL when the check is off. */
    int32_t *ro_fields[2];
    uint32_t ro_count[2];
    uint64_t *ro_sums;
} lp__inst;

/* One field of the merged spec. */
typedef struct lp__mfield {
    lp_field_info info; /* name, writer, readers point at the strings below */
    char *name;
    char *readers;
    char *updaters;        /* ", "-joined, config order */
    char *chain;           /* writer -> updaters -> readers, with phases */
    int32_t writer;        /* -1 the program, >= 0 an instance, -2 nobody */
    int train_written;     /* written in the train phase by an instance: scattered back */
    int64_t step_elems;    /* elements per step */
    size_t step_bytes;     /* bytes per step */
    size_t row_bytes;      /* horizon * step_bytes */
    size_t scratch_offset; /* in the gather scratch */
} lp__mfield;

typedef struct lp__stat {
    char *name;            /* "NAME/KEY", or "total_loss" */
    const lp__inst *owner; /* NULL for the host's own */
    const char *key;       /* after the '/' */
    double sum;
    int64_t count;
    double value; /* mean of the last train phase; NaN when nothing */
    int program;  /* registered by the program (lp_session_stat_register):
                     reset when a train phase ends, not when it starts */
} lp__stat;

typedef struct lp__state {
    char *name; /* "NAME/KEY" */
    const lp__inst *owner;
    lp_tensor view;
} lp__state;

typedef struct lp__output {
    lp_decl decl; /* per sample, resolved; decl.name owned */
    int64_t sample_elems;
    size_t bytes; /* mb_rows * horizon * sample_elems * dtype size */
} lp__output;

struct lp_session {
    lp_session_options opt; /* pointers not kept except log */
    lp__config *cfg;
    lp_registry *reg;
    lp_env_info env;
    void *action_store; /* the arrays env.action_nvec / action_low / action_high point into */
    lp_train_plan plan;
    char *stats_path;
    int32_t stats_format; /* lp__stats_format */
    FILE *stats_file;
    char *stats_line; /* one epoch's line (and the CSV header), sized at the first write */
    size_t stats_line_cap;

    /* the program's declarations (resolved) */
    lp__fdecl *prog_fields;
    size_t prog_field_count;
    const lp__kvpos *prog_field_pos; /* config positions, or NULL (options) */
    lp__output *outputs;
    size_t output_count;

    lp__inst *insts;
    size_t inst_count;

    lp__mfield *fields;
    size_t field_count;

    /* the buffer and its views */
    unsigned char *buf;
    size_t buf_bytes;
    lp_tensor *all_views;   /* [segments, horizon, ...] */
    lp_tensor *step_views;  /* [segments, ...] at step t */
    lp_tensor *mb_views;    /* [mb_rows, horizon, ...] */
    unsigned char *scratch; /* shuffle gather, one per field */
    size_t scratch_bytes;
    int64_t *identity;      /* 0 .. segments-1 */
    int64_t *perm;          /* this update epoch's order: of segments (rows), or of
                               the segments * horizon samples (transitions) */
    int64_t perm_count;     /* entries of perm */
    int64_t *mb_rows;       /* transitions: each minibatch sample's buffer row */
    int64_t *mb_steps;      /* and its step within the row */
    unsigned char *out_mem; /* outputs, then grads */
    size_t out_bytes;
    lp_tensor *out_views;
    lp_tensor *grad_views;
    lp_batch all_batch, step_batch, mb_batch;

    lp__stat *stats;
    size_t stat_count, stat_cap;
    int32_t total_stat;
    int32_t skip_stat; /* "nonfinite_skips", with buffer.nonfinite: skip; else -1 */
    int train_begun;   /* lp_session_train was called: no more program stats */
    lp__state *states;
    size_t state_count, state_cap;

    int64_t epoch;
    int64_t env_steps;
    char *stopped_by;
    /* during a train phase: the instance that asked to stop, and whether
     * the program did (lp_session_train_stop) */
    int in_train;
    const lp__inst *train_stopper;
    int program_stop;
    double *reduce_buf; /* stats_reduce: sums then counts, sized at the first use */

    /* The model (model_ext.c): the one given at open, which lp_session_train
     * trains when given NULL, and the host extension "lossplug.model/1". */
    lp_model open_model;         /* options.model, copied at open */
    int model_given;             /* options.model was not NULL */
    int model_aux;               /* it has the three aux callbacks */
    int64_t model_memory;        /* its memory_size at open */
    const lp_model *train_model; /* during lp_session_train */
    const lp__inst *train_inst;  /* whose train hook is running, or NULL */
    int aux_pending;             /* a forward_aux awaits its backward_aux */
    lp_batch aux_batch;          /* the pending pass: fields copied, outputs, grads */
    lp_tensor *aux_fields;       /* [field_count] */
    lp_tensor *aux_out_views;    /* [output_count] */
    lp_tensor *aux_grad_views;
    unsigned char *aux_mem; /* outputs, then grads, each half aux_half bytes */
    size_t aux_half;
    unsigned char *aux_data; /* copies of the batch's fields, contiguous */
    size_t aux_data_cap;
};

/* ---- session.c ---- */
void lp__session_log(const lp_session *s, int32_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "FILE:LINE:COLUMN" of a config position. */
void lp__pos_text(char *buf, size_t size, lp__pos pos);

/* ---- program.c ---- */
int32_t lp__program_resolve(lp_session *s, lp_error *err);

/* action.c: the action space (ABI 1.1). s->env already holds a copy of
 * `src` (the config's or the options' env); check its action space,
 * complete it (action_dims, policy_width, num_actions) and copy its arrays
 * into s->action_store. `who` names the source in errors. */
int32_t lp__action_take(lp_session *s, const lp_env_info *src, const char *who, lp_error *err);
/* Whether two completed envs declare the same action space. */
int lp__action_same(const lp_env_info *a, const lp_env_info *b);
/* "box, 1 dimensions, low [-2], high [2] (...)" for check and errors. */
void lp__action_text(char *buf, size_t size, const lp_env_info *e);
const char *lp__action_space_name(int32_t space);
/* Whether a plugin built for ABI 1.0 needs the "logits" output on a
 * non-discrete space (it would read it as a softmax: refused). */
int lp__action_refuses(const lp_session *s, const lp_loss_info *info);
/* Resolve symbolic dims of (rank, shape) against the env into out; -1 when
 * the result has more than LP_MAX_RANK dims. */
int lp__resolve_shape(const lp_env_info *env, int32_t rank, const int64_t *shape, int32_t *out_rank,
                      int64_t *out_shape);
/* "f32[4,2]" */
void lp__type_text(char *buf, size_t size, int32_t dtype, int32_t rank, const int64_t *shape);

/* ---- instance.c ---- */
/* The instance behind a host table (host_data), or NULL. */
static inline lp__inst *lp__inst_of(const lp_host *h) {
    return h != NULL ? (lp__inst *)h->host_data : NULL;
}
/* A host service (or the model extension) refused: the reason is kept as the
 * instance's pending error, so that a hook that passes the status on fails
 * with it; LP_ENOMEM also marks the hook failed (svc_oom). Returns `code`. */
int32_t lp__svc_fail(lp__inst *in, int32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int32_t lp__instances_create(lp_session *s, lp_error *err);
int32_t lp__instances_attach(lp_session *s, lp_error *err);
void lp__instances_destroy(lp_session *s);
/* Call a hook's result through: LP_OK, or the failure message naming the
 * instance, plugin and config line. */
int32_t lp__hook_result(lp__inst *in, const char *hook, int32_t rc, lp_error *err);
/* Clear the instance's pending error before a hook. */
static inline void lp__hook_begin(lp__inst *in) {
    in->has_err = 0;
    in->svc_oom = 0;
}

/* ---- spec.c ---- */
int32_t lp__spec_merge(lp_session *s, lp_error *err);
void lp__spec_free(lp_session *s);
int32_t lp__field_find(const lp_session *s, const char *name);

/* ---- buffer.c ---- */
/* `n` rounded up to LP__SESSION_ALIGN. */
static inline size_t lp__align_up(size_t n) {
    return (n + LP__SESSION_ALIGN - 1) & ~(size_t)(LP__SESSION_ALIGN - 1);
}
/* A contiguous row-major view [rows, horizon, shape...] at `data`. */
void lp__set_view(lp_tensor *t, void *data, int32_t dtype, int64_t rows, int64_t horizon,
                  int32_t rank, const int64_t *shape);
/* Frame `b` as a batch over the session's fields (and, when `outs` is not
 * NULL, its model outputs and their gradients) of [rows, horizon]; every
 * other member zero (row_index and step_index NULL: the caller sets them). */
void lp__batch_frame(lp_batch *b, const lp_session *s, const lp_tensor *fields,
                     const lp_tensor *outs, const lp_tensor *grads, int64_t rows, int64_t horizon);
int32_t lp__buffer_open(lp_session *s, lp_error *err);
void lp__buffer_free(lp_session *s);
void lp__buffer_step(lp_session *s, int64_t t);
/* Minibatch `k` of the current order (identity or s->perm): views, gather
 * (whole rows, or single samples in transitions mode), row_index and
 * step_index; zero the grads. */
void lp__buffer_minibatch(lp_session *s, int64_t k);
/* Scatter the train-written fields of minibatch `k` back (shuffle only), row
 * by row or sample by sample. */
void lp__buffer_scatter(lp_session *s, int64_t k);

/* ---- rng.c ---- */
void lp__permutation(int64_t *perm, int64_t n, int64_t seed, int64_t epoch, int64_t update_epoch);

/* ---- stats.c ---- */
int32_t lp__stat_add(lp_session *s, const lp__inst *owner, const char *key, int32_t *handle,
                     lp_error *err);
/* At a train phase's start: the instances' and the host's stats. */
void lp__stats_reset(lp_session *s);
/* At its end: every mean is final; then the program's stats restart. */
void lp__stats_finish(lp_session *s);
/* Before that: the program's stats_reduce over every sum and count. */
int32_t lp__stats_reduce(lp_session *s, lp_error *err);
void lp__stats_reset_program(lp_session *s);
int32_t lp__stats_open(lp_session *s, lp_error *err);
int32_t lp__stats_write(lp_session *s, int64_t epoch, lp_error *err);
void lp__stats_free(lp_session *s);
static inline void lp__stat_record(lp_session *s, int32_t h, double v) {
    s->stats[h].sum += v;
    s->stats[h].count++;
}

/* ---- model_ext.c ---- */
/* Take options.model at open; ask for its memory size. */
int32_t lp__model_ext_open(lp_session *s, const lp_model *model, lp_error *err);
/* The model lp_session_train trains: `given` (the caller's argument) or,
 * when NULL, the one given at open. LP_EINVAL when there is none, it has no
 * forward, or `given` is not the model given at open. */
int32_t lp__model_for_train(const lp_session *s, const lp_model *given, const lp_model **out,
                            lp_error *err);
void lp__model_ext_free(lp_session *s);
/* The extension table for host->get_extension, or NULL when the model
 * cannot run auxiliary passes. */
const void *lp__model_ext_get(const lp__inst *in);
/* After instance `in`'s train hook returned LP_OK: backpropagate its pending
 * pass, if any. On failure `err` names the instance. */
int32_t lp__model_ext_flush(lp_session *s, const lp__inst *in, const lp_ctx *ctx, lp_error *err);

/* ---- guard.c ---- */
/* After instance `in`'s train hook: LP_OK when `loss` and every output
 * gradient are finite; else LP_ENUMERIC naming the instance, the output and
 * element, the minibatch (ctx) and the source of the first non-finite
 * value. */
int32_t lp__guard_check(lp_session *s, const lp__inst *in, double loss, const lp_ctx *ctx,
                        lp_error *err);

/* ---- persist.c ---- */
void lp__states_free(lp_session *s);

/* ---- field_check.c ---- */
/* With lp_session_options.check_fields: list each instance's read-only
 * fields per phase (after the merge). Allocates nothing when the option is
 * off. */
int32_t lp__fcheck_open(lp_session *s, lp_error *err);
void lp__fcheck_free(lp_session *s);
/* Around a hook of `in` that sees `b` in phase `phase` (LP_PHASE_*): the
 * checksums of its read-only fields before, and after: LP_EPLUGIN naming
 * the instance, the hook and the field when one changed. Call only when
 * s->opt.check_fields is set. */
void lp__fcheck_before(lp__inst *in, uint32_t phase, const lp_batch *b);
int32_t lp__fcheck_after(lp__inst *in, uint32_t phase, const lp_batch *b, const char *hook,
                         lp_error *err);

#endif
