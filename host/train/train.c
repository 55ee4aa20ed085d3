/* lp_train_run: the training loop of Metta's trainer on the public session
 * API (docs/training.md). Setup checks everything before the first step;
 * then per epoch: epoch_start, rollout_start, the rollout (rollout.c), the
 * learning rate, the session's train phase, progress, checkpoints and the
 * stop conditions. */
#include "train/train_impl.h"

#include "util/memory.h"
#include "model/blas_threads.h"
#include "util/error.h"
#include "util/log.h"
#include "util/options.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void lp_env_init(lp_env *env) {
    if (env == NULL)
        return;
    memset(env, 0, sizeof *env);
    env->struct_size = sizeof *env;
}

/* The oldest (1.0) layouts a caller may pass. */
#define TRAIN_OPTIONS_V1 LP__SIZE_THROUGH(lp_train_options, comm)
#define ENV_V1           LP__SIZE_THROUGH(lp_env, restore)

void lp_train_options_init(lp_train_options *opt) {
    if (!lp__opts_reset(opt, sizeof *opt))
        return;
    opt->use_env_path = 1;
    opt->use_install_dir = 1;
    opt->env_section = "env";
    opt->target_return = NAN;
}

double lp__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void lp__train_log(const lp__trainer *t, int32_t level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lp__log_emitv(t->opt->log, t->opt->log_user, level, fmt, ap);
    va_end(ap);
}

/* ---- the fields the trainer can write ------------------------------------------------ */

typedef struct known_field {
    const char *name;
    int32_t dtype;
    int32_t rank;
    int64_t dim0;
    int teacher; /* needs the environment's teacher */
} known_field;

static const known_field known_fields[] = {
    {"obs", LP_DTYPE_F32, 1, LP_DIM_OBS, 0},
    {"actions", LP_DTYPE_I32, 0, 0, 0},
    {"logprobs", LP_DTYPE_F32, 0, 0, 0},
    {"values", LP_DTYPE_F32, 0, 0, 0},
    {"rewards", LP_DTYPE_F32, 0, 0, 0},
    {"dones", LP_DTYPE_U8, 0, 0, 0},
    {"truncateds", LP_DTYPE_U8, 0, 0, 0},
    {"next_values", LP_DTYPE_F32, 0, 0, 0},
    {"teacher_actions", LP_DTYPE_I32, 0, 0, 1},
    {"teacher_logits", LP_DTYPE_F32, 1, LP_DIM_NUM_ACTIONS, 1},
    {"teacher_values", LP_DTYPE_F32, 0, 0, 1},
};
#define NKNOWN (sizeof known_fields / sizeof known_fields[0])

static const known_field known_outputs[] = {
    {"logits", LP_DTYPE_F32, 1, LP_DIM_NUM_ACTIONS, 0},
    {"values", LP_DTYPE_F32, 0, 0, 0},
};

/* The declaration of a field or output the trainer writes; "actions" and
 * "logits" follow the action space (lossplug/abi.h "Action spaces"). */
static lp_decl make_decl(const lp__trainer *t, const known_field *k) {
    lp_decl d;
    memset(&d, 0, sizeof d);
    d.name = k->name;
    d.dtype = k->dtype;
    d.rank = k->rank;
    d.shape[0] = k->dim0;
    if (t->space != LP_ACTION_DISCRETE && strcmp(k->name, "actions") == 0) {
        d.dtype = t->space == LP_ACTION_BOX ? LP_DTYPE_F32 : LP_DTYPE_I32;
        d.rank = 1;
        d.shape[0] = LP_DIM_ACTION;
    }
    if (t->space != LP_ACTION_DISCRETE && strcmp(k->name, "logits") == 0)
        d.shape[0] = LP_DIM_POLICY; /* concatenated logits, or means then log-stds */
    return d;
}

static const known_field *find_known(const known_field *list, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0)
            return &list[i];
    return NULL;
}

/* The recurrent model's stored start state, f32[M] per step. */
static lp_decl memory_decl(const lp__trainer *t) {
    lp_decl d;
    memset(&d, 0, sizeof d);
    d.name = "memory_start";
    d.dtype = LP_DTYPE_F32;
    d.rank = 1;
    d.shape[0] = lp_gru_memory_size(t->gru);
    return d;
}

/* A recurrent model trains on whole buffer rows from their stored start
 * states, resetting where `dones` says an episode ended: it needs both
 * fields and buffer.sample: rows. */
static int32_t check_recurrent(const lp__trainer *t, const lp_decl *fields, size_t nf,
                               lp_error *err) {
    if (t->gru == NULL)
        return LP_OK;
    const lp__train_file *cfg = &t->tc.cfg;
    const lp__pos at_model =
        t->tc.model.type_pos.line ? t->tc.model.type_pos : (lp__pos){cfg->file, 1, 1};
    if (cfg->buffer.sample == LP_SAMPLE_TRANSITIONS)
        return lp__cfgerr(
            err, cfg->buffer.sample_pos.value.line ? cfg->buffer.sample_pos.value : at_model,
            "buffer.sample: transitions with model.type: gru: a recurrent model "
            "recomputes its state along whole buffer rows from the state stored "
            "at each row's first step, which single transitions do not have; "
            "use sample: rows (docs/model.md)");
    int has_dones = 0, has_mem = 0;
    for (size_t i = 0; i < nf; i++) {
        has_dones |= strcmp(fields[i].name, "dones") == 0;
        has_mem |= strcmp(fields[i].name, "memory_start") == 0;
    }
    if (!has_dones || !has_mem)
        return lp__cfgerr(
            err, cfg->program.fields_pos.key.line ? cfg->program.fields_pos.key : at_model,
            "model.type: gru needs program.fields.%s (%s): add %s",
            has_dones ? "memory_start" : "dones",
            has_dones ? "the state at each row's first step"
                      : "where episodes end, to reset the state",
            has_dones ? "memory_start: \"f32[M]\" with M = model.memory" : "dones: u8");
    return LP_OK;
}

/* The program's declarations: every field it can write (teacher fields when
 * the environment has a teacher), or exactly the ones the config's
 * program.fields lists, each of which must be one it can write. The session
 * then checks the config's types against these. */
static int32_t choose_decls(const lp__trainer *t, lp_decl *fields, size_t *nf, lp_decl *outputs,
                            size_t *no, lp_error *err) {
    const lp__train_program *pc = &t->tc.cfg.program;
    const int teacher = t->env.teacher != NULL;
    *nf = 0;
    if (pc->has_fields) {
        int has_obs = 0;
        for (size_t i = 0; i < pc->field_count; i++) {
            const lp__train_decl *c = &pc->fields[i];
            if (strcmp(c->decl.name, "memory_start") == 0) {
                if (t->gru == NULL)
                    return lp__cfgerr(err, c->pos.key,
                                      "program.fields.memory_start is the recurrent model's "
                                      "stored state: set model.type: gru, or remove it");
                fields[(*nf)++] = memory_decl(t);
                continue;
            }
            const known_field *k = find_known(known_fields, NKNOWN, c->decl.name);
            if (k == NULL)
                return lp__cfgerr(err, c->pos.key,
                                  "program.fields.%s is not a field lp_train_run writes; it "
                                  "writes obs, actions, logprobs, values, rewards, dones, "
                                  "truncateds, next_values and, with a teacher, teacher_actions, "
                                  "teacher_logits, teacher_values: remove it",
                                  c->decl.name);
            if (k->teacher && !teacher)
                return lp__cfgerr(err, c->pos.key,
                                  "program.fields.%s needs a teacher, and the environment has "
                                  "none (lp_env.teacher is NULL); remove it, or run an "
                                  "environment with a teacher",
                                  c->decl.name);
            has_obs |= strcmp(k->name, "obs") == 0;
            fields[(*nf)++] = make_decl(t, k);
        }
        if (!has_obs)
            return lp__cfgerr(err, pc->fields_pos.key,
                              "program.fields does not declare obs, which the model reads; add "
                              "obs: \"f32[OBS]\"");
    } else {
        for (size_t i = 0; i < NKNOWN; i++)
            if (!known_fields[i].teacher || teacher)
                fields[(*nf)++] = make_decl(t, &known_fields[i]);
        if (t->gru != NULL)
            fields[(*nf)++] = memory_decl(t);
    }
    int32_t rc = check_recurrent(t, fields, *nf, err);
    if (rc != LP_OK)
        return rc;
    *no = 0;
    if (pc->has_outputs) {
        int has_logits = 0;
        for (size_t i = 0; i < pc->output_count; i++) {
            const lp__train_decl *c = &pc->outputs[i];
            const known_field *k = find_known(known_outputs, 2, c->decl.name);
            if (k == NULL)
                return lp__cfgerr(err, c->pos.key,
                                  "program.outputs.%s is not an output of the reference MLP; it "
                                  "computes logits and values: remove it",
                                  c->decl.name);
            has_logits |= strcmp(k->name, "logits") == 0;
            outputs[(*no)++] = make_decl(t, k);
        }
        if (!has_logits)
            return lp__cfgerr(err, pc->outputs_pos.key,
                              "program.outputs does not declare logits, which the trainer "
                              "samples actions from; add logits: \"f32[NUM_ACTIONS]\"");
    } else {
        outputs[(*no)++] = make_decl(t, &known_outputs[0]);
        outputs[(*no)++] = make_decl(t, &known_outputs[1]);
    }
    return LP_OK;
}

/* ---- setup ----------------------------------------------------------------------------- */

/* The environment's action space (lp_env: action_space and what it needs). */
static int32_t check_action_space(const lp_env *e, lp_error *err) {
    const int64_t max = 1 << 20;
    switch (e->action_space) {
    case LP_ACTION_DISCRETE:
        if (e->num_actions < 1 || e->num_actions > max)
            return lp__error_set(err, LP_EINVAL,
                                 "lp_train_run: the environment has %lld discrete actions; set "
                                 "lp_env.num_actions to 1 .. 1048576",
                                 (long long)e->num_actions);
        return LP_OK;
    case LP_ACTION_MULTI_DISCRETE:
    case LP_ACTION_BOX:
        break;
    default:
        return lp__error_set(err, LP_EINVAL,
                             "lp_train_run: lp_env.action_space is %d; use LP_ACTION_DISCRETE, "
                             "LP_ACTION_MULTI_DISCRETE or LP_ACTION_BOX",
                             (int)e->action_space);
    }
    const char *space = e->action_space == LP_ACTION_BOX ? "box" : "multi-discrete";
    if (e->action_dims < 1 || e->action_dims > 4096)
        return lp__error_set(err, LP_EINVAL,
                             "lp_train_run: the %s action has %d components; set "
                             "lp_env.action_dims to 1 .. 4096",
                             space, (int)e->action_dims);
    if (e->action_space == LP_ACTION_MULTI_DISCRETE) {
        if (e->action_nvec == NULL)
            return lp__error_set(err, LP_EINVAL,
                                 "lp_train_run: the multi-discrete action has no counts; set "
                                 "lp_env.action_nvec to action_dims counts");
        int64_t sum = 0;
        for (int32_t k = 0; k < e->action_dims; k++) {
            if (e->action_nvec[k] < 1 || e->action_nvec[k] > max)
                return lp__error_set(err, LP_EINVAL,
                                     "lp_train_run: lp_env.action_nvec[%d] is %lld; each count is "
                                     "1 .. 1048576",
                                     (int)k, (long long)e->action_nvec[k]);
            sum += e->action_nvec[k];
        }
        if (sum > max)
            return lp__error_set(err, LP_EINVAL,
                                 "lp_train_run: the multi-discrete counts add up to %lld logits; "
                                 "at most 1048576",
                                 (long long)sum);
        if (e->teacher != NULL)
            return lp__error_set(err, LP_EINVAL,
                                 "lp_train_run: a teacher is for discrete actions only; leave "
                                 "lp_env.teacher NULL");
        return LP_OK;
    }
    if (e->step_box == NULL || e->action_low == NULL || e->action_high == NULL)
        return lp__error_set(err, LP_EINVAL,
                             "lp_train_run: a box environment sets lp_env.step_box, action_low "
                             "and action_high (%s is NULL)",
                             e->step_box == NULL     ? "step_box"
                             : e->action_low == NULL ? "action_low"
                                                     : "action_high");
    for (int32_t k = 0; k < e->action_dims; k++)
        if (isnan(e->action_low[k]) || isnan(e->action_high[k]) ||
            !(e->action_low[k] <= e->action_high[k]))
            return lp__error_set(err, LP_EINVAL,
                                 "lp_train_run: box dimension %d has bounds [%g, %g]; give low <= "
                                 "high (infinite bounds are allowed)",
                                 (int)k, (double)e->action_low[k], (double)e->action_high[k]);
    if (e->teacher != NULL)
        return lp__error_set(err, LP_EINVAL,
                             "lp_train_run: a teacher is for discrete actions only; leave "
                             "lp_env.teacher NULL");
    return LP_OK;
}

static int32_t check_env(const lp__trainer *t, lp_error *err) {
    const lp_env *e = &t->env;
    const char *cfg = t->tc.cfg.file;
    if (e->reset == NULL || (e->step == NULL && e->action_space != LP_ACTION_BOX))
        return lp__error_set(err, LP_EINVAL,
                             "lp_train_run: the environment has no %s callback; set lp_env.reset "
                             "and lp_env.step",
                             e->reset == NULL ? "reset" : "step");
    int snaps = (e->snapshot_size != NULL) + (e->snapshot != NULL) + (e->restore != NULL);
    if (snaps != 0 && snaps != 3)
        return lp__error_set(
            err, LP_EINVAL,
            "lp_train_run: the environment has %d of the 3 snapshot callbacks; set "
            "snapshot_size, snapshot and restore, or none of them",
            snaps);
    int32_t rc = check_action_space(e, err);
    if (rc != LP_OK)
        return rc;
    if (e->obs_rank < 0 || e->obs_rank > LP_MAX_RANK - 2)
        return lp__error_set(err, LP_EINVAL,
                             "lp_train_run: the observation rank is %d; use 0 .. %d",
                             (int)e->obs_rank, LP_MAX_RANK - 2);
    int64_t dim = 1;
    for (int32_t d = 0; d < e->obs_rank; d++) {
        if (e->obs_shape[d] < 1 || e->obs_shape[d] > (1 << 24) || dim * e->obs_shape[d] > (1 << 24))
            return lp__error_set(
                err, LP_EINVAL,
                "lp_train_run: observation dimension %d is %lld; sizes must be > 0 "
                "and at most 2^24 elements in all",
                (int)d, (long long)e->obs_shape[d]);
        dim *= e->obs_shape[d];
    }
    int64_t segments = t->tc.cfg.buffer.segments;
    if (e->num_envs != segments)
        return lp__cfgerr(err,
                          t->tc.cfg.buffer.segments_pos.value.line
                              ? t->tc.cfg.buffer.segments_pos.value
                              : (lp__pos){cfg, 1, 1},
                          "buffer.segments = %lld but the environment runs %lld environments; "
                          "the trainer gives each environment one buffer row: make the two "
                          "equal",
                          (long long)segments, (long long)e->num_envs);
    return LP_OK;
}

#define ALLOC(ptr, count)                                                                          \
    do {                                                                                           \
        (ptr) = calloc((size_t)(count) > 0 ? (size_t)(count) : 1, sizeof *(ptr));                  \
        if ((ptr) == NULL)                                                                         \
            return lp__error_set(err, LP_ENOMEM, "lp_train_run: out of memory for %s", #ptr);      \
    } while (0)

static int32_t alloc_work(lp__trainer *t, lp_error *err) {
    const int64_t n = t->n, D = t->obs_dim, A = t->A;
    ALLOC(t->obs, n * D);
    ALLOC(t->logits, n * A);
    ALLOC(t->actions, n * t->K);
    if (t->space == LP_ACTION_BOX) {
        ALLOC(t->box_actions, n * t->K);
        ALLOC(t->box_applied, n * t->K);
    }
    if (t->normalize_obs) {
        ALLOC(t->obs_n, n * D);
        ALLOC(t->obs_stats, 2 * D + 1);
        ALLOC(t->obs_scratch, 2 * D);
    }
    ALLOC(t->values, n);
    ALLOC(t->logprobs, n);
    ALLOC(t->rewards, n);
    ALLOC(t->terminated, n);
    ALLOC(t->truncated, n);
    ALLOC(t->final_obs, n * D);
    ALLOC(t->ep_returns, n);
    ALLOC(t->ep_lengths, n);
    ALLOC(t->boot_obs, n * D);
    ALLOC(t->boot_values, n);
    ALLOC(t->boot_rows, n);
    ALLOC(t->returns, t->window);
    ALLOC(t->lengths, t->window);
    if (t->f.teacher_actions != NULL)
        ALLOC(t->t_actions, n);
    if (t->f.teacher_logits != NULL)
        ALLOC(t->t_logits, n * A);
    if (t->f.teacher_values != NULL)
        ALLOC(t->t_values, n);
    return LP_OK;
}

static void *field_base(const lp_session *s, const char *name, int32_t dtype) {
    int32_t h = lp_session_field_handle(s, name);
    if (h < 0)
        return NULL;
    lp_tensor v = lp_session_field(s, h);
    return v.dtype == dtype ? v.data : NULL;
}

/* a * b + c, saturating. */
static uint64_t mul_add_sat(uint64_t a, uint64_t b, uint64_t c) {
    if (b != 0 && a > (UINT64_MAX - c) / b)
        return UINT64_MAX;
    return a * b + c;
}

/* What lp_mlp_create and lp_adam_create will allocate for `mo`, computed
 * from the config before anything is, and refused above model.max_bytes (or
 * half the physical memory) at the model.hidden entry that made it big. */
static int32_t check_model_size(const lp__trainer *t, const lp_mlp_options *mo, lp_error *err) {
    const lp__model_cfg *mc = &t->tc.model;
    uint64_t trunks = mo->shared_trunk ? 1 : 2, params = 0, largest = 0, widths = 0, max_h = 0;
    uint64_t in = (uint64_t)mo->obs_dim;
    size_t widest = 0;
    for (size_t l = 0; l < mo->hidden_count; l++) {
        uint64_t h = (uint64_t)mo->hidden[l];
        params = mul_add_sat(in, h, mul_add_sat(params, 1, h)); /* w [h, in] + b [h] */
        largest = in * h > largest ? in * h : largest;
        widths += h;
        if (h > max_h) {
            max_h = h;
            widest = l;
        }
        in = h;
    }
    params = mul_add_sat(params, trunks, 0);
    params = mul_add_sat(in, (uint64_t)mo->num_actions + 1, params + (uint64_t)mo->num_actions + 1);
    /* params, grads, Adam's two moments (f32); the f64 initialisation
     * scratch of the largest matrix; activations and backward scratch for
     * max_batch rows. */
    uint64_t need = mul_add_sat(params, 16, mul_add_sat(largest, 8, 0));
    uint64_t work = mul_add_sat(trunks, widths, 2 * max_h);
    need = mul_add_sat(work, (uint64_t)mo->max_batch * 4, need);
    uint64_t limit = mc->max_bytes > 0 ? (uint64_t)mc->max_bytes : lp__memory_limit_default();
    if (need <= limit)
        return LP_OK;
    char needs[64], lim[64];
    lp__bytes_text(need, needs, sizeof needs);
    lp__bytes_text(limit, lim, sizeof lim);
    lp__pos at =
        mo->hidden_count > 0 && mc->hidden_pos[widest].line > 0 ? mc->hidden_pos[widest] : mc->pos;
    return lp__cfgerr(err, at,
                      "the model would need %s (%llu parameters, with their gradients, Adam's "
                      "moments and the work buffers for %lld rows), more than %s %s; use "
                      "smaller model.hidden layers, or raise model.max_bytes if this machine "
                      "really has the memory",
                      needs, (unsigned long long)params, (long long)mo->max_batch,
                      mc->max_bytes > 0 ? "model.max_bytes,"
                                        : "the default limit (half of the physical memory),",
                      lim);
}

static int32_t build_model(lp__trainer *t, lp_error *err) {
    const lp__model_cfg *mc = &t->tc.model;
    const lp__train_buffer *b = &t->tc.cfg.buffer;
    lp_mlp_options mo;
    lp_mlp_options_init(&mo);
    mo.obs_dim = t->obs_dim;
    mo.num_actions = t->A;
    mo.hidden = mc->hidden;
    mo.hidden_count = mc->hidden_count;
    mo.activation = mc->activation;
    mo.shared_trunk = mc->shared;
    mo.seed = (uint64_t)(mc->seed_set ? mc->seed : t->seed);
    int64_t mb_rows = b->minibatch_segments * b->horizon;
    mo.max_batch = mb_rows > t->n ? mb_rows : t->n;
    mo.hidden_gain = mc->hidden_gain;
    mo.actor_gain = mc->actor_gain;
    mo.critic_gain = mc->critic_gain;
    mo.action_space = t->space;
    /* The model's matrices are small: more BLAS threads than one cost
     * more than they bring, and make runs irreproducible (docs/model.md). */
    (void)lp__blas_threads_apply(t->tc.trainer.blas_threads);
    int32_t rc = check_model_size(t, &mo, err);
    if (rc == LP_OK)
        rc = mc->type == LP__MODEL_GRU ? lp__model_build_gru(t, mo.max_batch, err)
                                       : lp_mlp_create(&mo, &t->mlp, err);
    if (rc != LP_OK)
        return rc;
    lp_adam_options ao;
    lp_adam_options_init(&ao);
    ao.lr = t->tc.optim.lr;
    ao.eps = t->tc.optim.eps;
    ao.beta1 = t->tc.optim.beta1;
    ao.beta2 = t->tc.optim.beta2;
    ao.max_grad_norm = t->tc.optim.max_grad_norm;
    return lp_adam_create(&ao, lp__model_param_count(t), &t->adam, err);
}

/* The model's adapter, created before the session is open (the session is
 * handed its callbacks once, at open) and bound to the session's field
 * handles and output indices after (bind_session). */
static int32_t make_adapter(lp__trainer *t, lp_model *model, lp_error *err) {
    lp_optim_step_fn step = lp_adam_step_fn;
    void *step_user = t->adam;
    if (t->comm.size > 1) { /* the gradient all-reduce before Adam */
        step = lp__dist_step;
        step_user = t;
    }
    int32_t rc;
    if (t->gru != NULL) {
        lp_gru_model_options ga;
        lp_gru_model_options_init(&ga);
        ga.bind_later = 1;
        ga.step = step;
        ga.step_user = step_user;
        rc = lp_gru_model_create(t->gru, &ga, &t->gru_adapter, err);
        if (rc == LP_OK)
            *model = lp_gru_model_callbacks(t->gru_adapter);
    } else {
        lp_mlp_model_options ma;
        lp_mlp_model_options_init(&ma);
        ma.bind_later = 1;
        ma.step = step;
        ma.step_user = step_user;
        rc = lp_mlp_model_create(t->mlp, &ma, &t->adapter, err);
        if (rc == LP_OK)
            *model = lp_mlp_model_callbacks(t->adapter);
    }
    return rc;
}

/* The action part of the session's lp_env_info (lossplug/abi.h). */
static void fill_env_action(const lp__trainer *t, lp_env_info *ei) {
    ei->action_dtype = t->space == LP_ACTION_BOX ? LP_DTYPE_F32 : LP_DTYPE_I32;
    ei->action_rank = t->space == LP_ACTION_DISCRETE ? 0 : 1;
    ei->action_shape[0] = t->space == LP_ACTION_DISCRETE ? 0 : t->K;
    ei->num_actions = t->space == LP_ACTION_BOX ? 0 : t->A;
    ei->action_space = t->space;
    ei->action_dims = (int32_t)t->K;
    ei->action_nvec = t->space == LP_ACTION_MULTI_DISCRETE ? t->nvec : NULL;
    ei->action_low = t->space == LP_ACTION_BOX ? t->low : NULL;
    ei->action_high = t->space == LP_ACTION_BOX ? t->high : NULL;
    ei->policy_width = t->A;
}

static int32_t open_session(lp__trainer *t, const char *path, lp_error *err) {
    const lp_train_options *o = t->opt;
    lp_decl fields[NKNOWN + 1], outputs[2];
    size_t nf = 0, no = 0;
    int32_t rc = choose_decls(t, fields, &nf, outputs, &no, err);
    if (rc != LP_OK)
        return rc;
    const char *sections[64];
    size_t ns = 0;
    sections[ns++] = LP__TRAIN_SECTION_MODEL;
    sections[ns++] = LP__TRAIN_SECTION_OPTIMIZER;
    sections[ns++] = LP__TRAIN_SECTION_TRAINER;
    sections[ns++] = o->env_section;
    for (size_t i = 0; i < o->section_count && ns < 64; i++)
        sections[ns++] = o->sections[i];

    /* The model is handed to the session once, here: its adapter now, its
     * handles once the session is open. */
    lp_model model;
    rc = make_adapter(t, &model, err);
    if (rc != LP_OK)
        return rc;

    lp_session_options so;
    lp_session_options_init(&so);
    so.plugin_paths = o->plugin_paths;
    so.plugin_path_count = o->plugin_path_count;
    so.use_env_path = o->use_env_path;
    so.use_install_dir = o->use_install_dir;
    so.allow_insecure = o->allow_insecure;
    so.registry = o->registry;
    so.env_set = 1;
    so.env.struct_size = sizeof so.env;
    so.env.obs_dtype = LP_DTYPE_F32;
    so.env.obs_rank = t->env.obs_rank;
    memcpy(so.env.obs_shape, t->env.obs_shape, sizeof so.env.obs_shape);
    fill_env_action(t, &so.env);
    so.fields = fields;
    so.field_count = nf;
    so.outputs = outputs;
    so.output_count = no;
    so.sections = sections;
    so.section_count = ns;
    so.stats_path = o->stats_path;
    so.seed_set = o->seed_set;
    so.seed = o->seed;
    so.log = o->log;
    so.log_user = o->log_user;
    so.model = &model;
    so.replicas = t->comm.size;
    so.check_fields = o->check_fields;
    so.stats_off = t->comm.rank != 0;
    if (t->comm.size > 1) {
        so.stats_reduce = lp__dist_stats_reduce;
        so.stats_reduce_user = t;
    }
    rc = lp_session_open(path, &so, &t->s, err);
    if (rc == LP_OK)
        rc = t->gru != NULL ? lp_gru_model_bind(t->gru_adapter, t->s, err)
                            : lp_mlp_model_bind(t->adapter, t->s, err);
    if (rc != LP_OK)
        return rc;

    /* Where the rollout writes: only the fields in the buffer. */
    lp__fields *f = &t->f;
    f->obs = field_base(t->s, "obs", LP_DTYPE_F32);
    f->actions = field_base(t->s, "actions", LP_DTYPE_I32);
    f->actions_f = field_base(t->s, "actions", LP_DTYPE_F32);
    f->logprobs = field_base(t->s, "logprobs", LP_DTYPE_F32);
    f->values = field_base(t->s, "values", LP_DTYPE_F32);
    f->rewards = field_base(t->s, "rewards", LP_DTYPE_F32);
    f->dones = field_base(t->s, "dones", LP_DTYPE_U8);
    f->truncateds = field_base(t->s, "truncateds", LP_DTYPE_U8);
    f->next_values = field_base(t->s, "next_values", LP_DTYPE_F32);
    if (t->env.teacher != NULL) {
        f->teacher_actions = field_base(t->s, "teacher_actions", LP_DTYPE_I32);
        f->teacher_logits = field_base(t->s, "teacher_logits", LP_DTYPE_F32);
        f->teacher_values = field_base(t->s, "teacher_values", LP_DTYPE_F32);
    }
    f->memory_start = t->gru != NULL ? field_base(t->s, "memory_start", LP_DTYPE_F32) : NULL;
    return LP_OK;
}

static int32_t setup(lp__trainer *t, const char *path, const lp_env *env, lp_error *err) {
    const lp_train_options *o = t->opt;
    int32_t rc =
        lp__train_cfg_read(path, o->env_section, o->sections, o->section_count, &t->tc, err);
    if (rc != LP_OK)
        return rc;
    const lp__train_file *cfg = &t->tc.cfg;
    t->seed = o->seed_set ? o->seed : t->tc.trainer.seed;
    t->window = t->tc.trainer.return_window;
    t->horizon = cfg->buffer.horizon;
    rc = lp__dist_setup(t, err);
    if (rc != LP_OK)
        return rc;
    /* The budget and the lr anneal are one rank's: N ranks run the same
     * schedule of updates, each on N times the experience, so the job's
     * budget is N times the configured one (env steps count the job's). */
    int64_t rank_budget = o->max_steps > 0 ? o->max_steps : t->tc.trainer.total_steps;
    t->budget = rank_budget > INT64_MAX / t->comm.size ? INT64_MAX : rank_budget * t->comm.size;
    t->target = o->target_set              ? o->target_return
                : t->tc.trainer.target_set ? t->tc.trainer.target_return
                                           : NAN;
    t->num_updates = t->tc.trainer.total_steps / (cfg->buffer.segments * cfg->buffer.horizon);
    if (t->num_updates < 1)
        t->num_updates = 1;

    /* The environment: its section, then its shapes. */
    t->env = *env;
    if (t->env.num_envs == 0)
        t->env.num_envs = cfg->buffer.segments;
    if (t->env.open != NULL) {
        lp_env_setup es;
        memset(&es, 0, sizeof es);
        es.struct_size = sizeof es;
        es.resuming = o->resume_path != NULL;
        es.config = cfg->file;
        es.section = o->env_section;
        es.section_line = t->tc.env_line;
        es.section_column = t->tc.env_column;
        es.entries = t->tc.entries;
        es.entry_count = t->tc.entry_count;
        es.num_envs = t->env.num_envs;
        es.seed = t->rank_seed;
        es.rank = t->comm.rank;
        es.ranks = t->comm.size;
        err->message[0] = '\0';
        rc = t->env.open(&t->env, &es, err);
        if (rc != LP_OK) {
            if (err->message[0] == '\0')
                lp__error_set(err, rc < 0 ? rc : LP_EPLUGIN,
                              "lp_train_run: the environment's open callback failed with status "
                              "%d (%s) and gave no message",
                              (int)rc, lp_strerror(rc));
            return rc < 0 ? rc : LP_EPLUGIN;
        }
    }
    rc = check_env(t, err);
    if (rc != LP_OK)
        return rc;
    t->n = t->env.num_envs;
    t->space = t->env.action_space;
    t->K = t->space == LP_ACTION_DISCRETE ? 1 : t->env.action_dims;
    t->A = t->env.num_actions;
    if (t->space == LP_ACTION_MULTI_DISCRETE) {
        t->nvec = t->env.action_nvec;
        t->A = 0;
        for (int64_t k = 0; k < t->K; k++)
            t->A += t->nvec[k];
    } else if (t->space == LP_ACTION_BOX) {
        t->low = t->env.action_low;
        t->high = t->env.action_high;
        t->A = 2 * t->K;
    }
    t->normalize_obs = t->tc.normalize_obs;
    t->obs_dim = 1;
    for (int32_t d = 0; d < t->env.obs_rank; d++)
        t->obs_dim *= t->env.obs_shape[d];

    rc = build_model(t, err);
    if (rc == LP_OK)
        rc = lp__dist_broadcast_params(t, err);
    if (rc == LP_OK)
        rc = open_session(t, path, err);
    if (rc == LP_OK)
        rc = alloc_work(t, err);
    /* The trainer's own stats, written with the losses' (docs/training.md). */
    if (rc == LP_OK)
        rc = lp_session_stat_register(t->s, "episode_return", &t->stat_return, err);
    if (rc == LP_OK)
        rc = lp_session_stat_register(t->s, "episode_length", &t->stat_length, err);
    if (rc == LP_OK)
        rc = lp_session_stat_register(t->s, "env_steps_per_second", &t->stat_sps, err);
    if (rc != LP_OK)
        return rc;
    lp__train_rng_seed(t->rng, (uint64_t)t->rank_seed);
    err->message[0] = '\0';
    rc = t->env.reset(t->env.user, t->obs, err);
    if (rc != LP_OK) {
        if (err->message[0] == '\0')
            lp__error_set(err, rc < 0 ? rc : LP_EPLUGIN,
                          "lp_train_run: the environment's reset failed with status %d (%s)",
                          (int)rc, lp_strerror(rc));
        return rc < 0 ? rc : LP_EPLUGIN;
    }
    rc = lp__env_values_check(t, -1, err);
    if (rc != LP_OK)
        return rc;
    if (t->normalize_obs) {
        lp__obs_norm_reset(t);
        lp__obs_norm_update(t, t->obs, t->n);
    }
    return lp__persist_setup(t, err);
}

static void teardown(lp__trainer *t) {
    lp_mlp_model_destroy(t->adapter);
    lp_gru_model_destroy(t->gru_adapter);
    lp_session_close(t->s);
    lp_adam_destroy(t->adam);
    lp_mlp_destroy(t->mlp);
    lp_gru_destroy(t->gru);
    free(t->mem);
    free(t->mem_boot);
    void *arrays[] = {t->obs,         t->logits,     t->values,    t->logprobs,   t->actions,
                      t->rewards,     t->terminated, t->truncated, t->final_obs,  t->ep_returns,
                      t->ep_lengths,  t->t_actions,  t->t_logits,  t->t_values,   t->boot_obs,
                      t->boot_values, t->boot_rows,  t->returns,   t->lengths,    t->snap,
                      t->extra,       t->blobs,      t->blob,      t->rank_names, t->box_actions,
                      t->box_applied, t->obs_n,      t->obs_stats, t->obs_scratch};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
        free(arrays[i]);
    lp__train_cfg_free(&t->tc);
}

/* ---- progress --------------------------------------------------------------------------- */

static void fill_progress(const lp__trainer *t, int32_t event, lp_train_progress *p) {
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    p->event = event;
    p->epoch = lp_session_epoch(t->s);
    p->env_steps = lp_session_env_steps(t->s);
    p->episodes = t->ep_episodes;
    p->window_count = t->ep_count;
    p->mean_return = t->ep_return;
    p->total_loss = t->last_loss;
    p->seconds = lp__now() - t->t_start;
    p->steps_per_second =
        p->seconds > 0 ? (double)(p->env_steps - t->steps_start) / p->seconds : 0.0;
    p->learning_rate = t->last_lr;
    p->log_every = t->tc.trainer.log_every;
    p->session = t->s;
    p->params = lp__model_params((lp__trainer *)t);
    p->param_count = lp__model_param_count(t);
    p->rank = t->comm.rank;
    p->ranks = t->comm.size;
}

static int report(const lp__trainer *t, lp_train_progress *p) {
    if (t->opt->progress == NULL)
        return 0;
    return t->opt->progress(t->opt->progress_user, p);
}

/* ---- the run ---------------------------------------------------------------------------- */

static int32_t checkpoint(lp__trainer *t, lp_error *err) {
    const char *path = t->opt->checkpoint_path;
    int32_t rc = lp__persist_save(t, path, err);
    if (rc != LP_OK)
        return rc;
    if (t->comm.rank != 0) /* rank 0 wrote it */
        return LP_OK;
    lp_train_progress p;
    fill_progress(t, LP_TRAIN_EVENT_CHECKPOINT, &p);
    p.path = path;
    report(t, &p);
    return LP_OK;
}

static int32_t resume(lp__trainer *t, lp_error *err) {
    lp_load_report *r = NULL;
    int32_t rc = lp__persist_load(t, t->opt->resume_path, &r, err);
    if (rc == LP_OK)
        rc = lp__dist_episodes(t, err);
    if (rc != LP_OK) {
        lp_load_report_free(r);
        return rc;
    }
    size_t missing = lp_load_report_count(r, LP_LOAD_MISSING);
    size_t unexpected = lp_load_report_count(r, LP_LOAD_UNEXPECTED);
    size_t mismatched = lp_load_report_count(r, LP_LOAD_MISMATCHED);
    for (size_t i = 0; i < missing; i++)
        lp__train_log(t, LP_LOG_WARN, "resume: %s is not in %s; it keeps its initial value",
                      lp_load_report_name(r, LP_LOAD_MISSING, i), t->opt->resume_path);
    for (size_t i = 0; i < unexpected; i++)
        lp__train_log(t, LP_LOG_INFO, "resume: %s in %s is not used by this run",
                      lp_load_report_name(r, LP_LOAD_UNEXPECTED, i), t->opt->resume_path);
    for (size_t i = 0; i < mismatched; i++)
        lp__train_log(t, LP_LOG_WARN,
                      "resume: %s in %s has another dtype or shape; it keeps its initial value",
                      lp_load_report_name(r, LP_LOAD_MISMATCHED, i), t->opt->resume_path);
    lp_train_progress p;
    fill_progress(t, LP_TRAIN_EVENT_RESUMED, &p);
    p.path = t->opt->resume_path;
    p.load_report = r;
    report(t, &p);
    lp_load_report_free(r);
    return LP_OK;
}

static int32_t set_lr(lp__trainer *t, lp_error *err) {
    double frac = 1.0;
    if (t->tc.optim.anneal_lr)
        frac = lp_lr_linear_fraction(lp_session_epoch(t->s) + 1, t->num_updates);
    int32_t rc = lp_adam_set_lr_fraction(t->adam, frac, err);
    t->last_lr = lp_adam_lr(t->adam);
    return rc;
}

/* At the end of a rollout: the last-window means (absent before the first
 * episode ends) and this call's env steps per second so far. A non-finite
 * value is refused by the session and simply not recorded. */
static void record_stats(lp__trainer *t) {
    (void)lp_session_stat_record(t->s, t->stat_return, t->ep_return);
    (void)lp_session_stat_record(t->s, t->stat_length, t->ep_length);
    double secs = lp__now() - t->t_start;
    if (secs > 0)
        (void)lp_session_stat_record(t->s, t->stat_sps,
                                     (double)(lp_session_env_steps(t->s) - t->steps_start) / secs);
}

static int solved(const lp__trainer *t) {
    return !isnan(t->target) && t->ep_count >= t->window * t->comm.size &&
           t->ep_return >= t->target;
}

static int32_t loop(lp__trainer *t, lp_train_outcome *out, lp_error *err) {
    const lp_train_options *o = t->opt;
    const int64_t every = t->tc.trainer.checkpoint_every;
    int32_t stop = LP_TRAIN_STOP_NONE;
    int saved_now = 0;
    if (solved(t))
        stop = LP_TRAIN_STOP_SOLVED;
    else if (lp_session_env_steps(t->s) >= t->budget)
        stop = LP_TRAIN_STOP_BUDGET;
    while (stop == LP_TRAIN_STOP_NONE) {
        saved_now = 0;
        int32_t rc = lp_session_epoch_start(t->s, err);
        if (rc == LP_OK)
            rc = lp_session_rollout_start(t->s, err);
        if (rc == LP_OK)
            rc = lp__rollout(t, err);
        if (rc == LP_OK)
            rc = lp__dist_episodes(t, err);
        if (rc == LP_OK)
            record_stats(t);
        if (rc == LP_OK)
            rc = set_lr(t, err);
        lp_train_summary sum = {.struct_size = sizeof sum};
        if (rc == LP_OK)
            rc = lp_session_train(t->s, NULL, &sum, err); /* the model given at open */
        if (rc != LP_OK)
            return rc;
        t->last_loss = sum.total_loss;

        lp_train_progress p;
        fill_progress(t, LP_TRAIN_EVENT_EPOCH, &p);
        p.summary = &sum;
        int want_stop = report(t, &p);
        int sigint = o->handle_sigint && lp__sigint_pending();
        rc = lp__dist_agree(t, &sigint, &want_stop, err);
        if (rc != LP_OK)
            return rc;
        if (o->checkpoint_path != NULL && every > 0 && lp_session_epoch(t->s) % every == 0) {
            rc = checkpoint(t, err);
            if (rc != LP_OK)
                return rc;
            saved_now = 1;
        }
        if (solved(t))
            stop = LP_TRAIN_STOP_SOLVED;
        else if (lp_session_env_steps(t->s) >= t->budget)
            stop = LP_TRAIN_STOP_BUDGET;
        else if (sigint)
            stop = LP_TRAIN_STOP_INTERRUPTED;
        else if (want_stop)
            stop = LP_TRAIN_STOP_CALLBACK;
    }
    if (o->checkpoint_path != NULL && !saved_now) {
        int32_t rc = checkpoint(t, err);
        if (rc != LP_OK)
            return rc;
    }
    memset(out, 0, sizeof *out);
    out->struct_size = sizeof *out;
    out->stop_reason = stop;
    out->solved = solved(t);
    out->epochs = lp_session_epoch(t->s);
    out->env_steps = lp_session_env_steps(t->s);
    out->episodes = t->ep_episodes;
    out->seconds = lp__now() - t->t_start;
    out->steps_per_second =
        out->seconds > 0 ? (double)(out->env_steps - t->steps_start) / out->seconds : 0.0;
    out->mean_return = t->ep_return;
    lp_train_progress p;
    fill_progress(t, LP_TRAIN_EVENT_END, &p);
    p.outcome = out;
    report(t, &p);
    return LP_OK;
}

int32_t lp_train_run(const char *path, const lp_train_options *opt, const lp_env *env,
                     lp_train_outcome *outcome, lp_error *err) {
    static const char fn[] = "lp_train_run";
    if (path == NULL)
        return lp__error_set(err, LP_EINVAL, "%s: the config path is NULL; pass a YAML file", fn);
    if (opt == NULL)
        return lp__error_set(err, LP_EINVAL,
                             "%s: options are NULL: fill them with lp_train_options_init", fn);
    if (env == NULL)
        return lp__error_set(err, LP_EINVAL,
                             "%s: env is NULL: fill the environment with lp_env_init", fn);
    /* Older and newer callers alike (util/options.h): the run reads these
     * local copies. */
    lp_train_options opt_own;
    lp_env env_own;
    lp_train_options_init(&opt_own);
    lp_env_init(&env_own);
    int32_t crc = lp__opts_copy(&opt_own, sizeof opt_own, opt, TRAIN_OPTIONS_V1, fn, "options",
                                "lp_train_options_init", err);
    if (crc == LP_OK)
        crc = lp__opts_copy(&env_own, sizeof env_own, env, ENV_V1, fn, "env", "lp_env_init", err);
    if (crc != LP_OK)
        return crc;
    opt = &opt_own;
    env = &env_own;
    if (opt->env_section == NULL || opt->env_section[0] == '\0')
        return lp__error_set(err, LP_EINVAL,
                             "%s: options.env_section is empty; name the environment's config "
                             "section (\"env\")",
                             fn);
    if (opt->section_count > 0 && opt->sections == NULL)
        return lp__error_set(err, LP_EINVAL, "%s: options.sections is NULL with a count of %zu", fn,
                             opt->section_count);
    if (opt->checkpoint_path != NULL && opt->checkpoint_path[0] == '\0')
        return lp__error_set(err, LP_EINVAL,
                             "%s: options.checkpoint_path is empty; pass a file "
                             "name or NULL",
                             fn);

    lp_error e; /* the trainer's own: callbacks always get one */
    memset(&e, 0, sizeof e);
    lp_train_outcome local;
    lp__trainer *t = calloc(1, sizeof *t);
    if (t == NULL)
        return lp__error_set(err, LP_ENOMEM, "%s: out of memory", fn);
    t->opt = opt;
    t->last_loss = NAN;
    t->last_lr = NAN;
    t->t_start = lp__now();
    lp__sigint_saved sig;
    memset(&sig, 0, sizeof sig);

    int32_t rc = setup(t, path, env, &e);
    if (rc == LP_OK && opt->resume_path != NULL)
        rc = resume(t, &e);
    if (rc == LP_OK)
        rc = lp__dist_episodes(t, &e);
    if (rc == LP_OK && opt->handle_sigint)
        rc = lp__sigint_install(&sig, &e);
    if (rc == LP_OK) {
        t->steps_start = lp_session_env_steps(t->s);
        t->t_start = lp__now();
        lp_train_progress p;
        fill_progress(t, LP_TRAIN_EVENT_START, &p);
        report(t, &p);
        rc = loop(t, outcome != NULL ? outcome : &local, &e);
    }
    lp__sigint_restore(&sig);
    teardown(t);
    free(t);
    if (rc != LP_OK && err != NULL) {
        *err = e;
        err->code = rc;
    }
    return rc;
}
