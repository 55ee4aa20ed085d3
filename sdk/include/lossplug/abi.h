/*
 * lossplug plugin ABI.
 *
 * A loss plugin is a shared object that exports exactly one data symbol,
 * `lossplug_entry` (an lp_entry). Everything else is reached through function
 * pointers: the plugin's through the entry, the descriptors and the instances;
 * the host's through the lp_host table it passes in. A plugin links nothing of
 * lossplug: this header (and the header-only helpers in plugin.h) is all it
 * needs.
 *
 * Stability rules (docs/abi.md says more):
 *  - The major version must be equal; the minor version says which trailing
 *    fields exist. Minor versions only ever append fields.
 *  - Every growable struct that crosses the boundary starts with
 *    `uint32_t struct_size`, set by whoever fills it in. A reader never
 *    touches a field that lies beyond `struct_size` (see LP_HAS_FIELD).
 *  - lp_tensor and lp_value are frozen: they are array elements, so they have
 *    no size prefix and change only with a major version.
 *  - The owner frees. Pointers handed across stay owned by the side that made
 *    them, valid until the event each comment names.
 *
 * Thread rules, written on every function pointer:
 *  [main-thread]  called only from the thread that drives the host (the
 *                 thread that opened it). Hooks of one instance never run
 *                 concurrently with each other.
 *  [any-thread]   may be called from any thread, concurrently.
 *
 * What the host guarantees (written once, here; a plugin trusts it and does
 * not check it again; the host's tests check it):
 *  - Structs. Every size-prefixed struct the host hands over (lp_host,
 *    lp_create_args, lp_env_info, lp_ctx, lp_batch, lp_train_result) covers
 *    at least the 1.0 layout, so every 1.0 field may be read without
 *    LP_HAS_FIELD; only fields added after 1.0 need it. Every 1.0 service of
 *    lp_host is non-NULL. Pointers the host hands over are non-NULL unless
 *    the field's comment says when they are NULL.
 *  - Parameters. args->params has param_count = the descriptor's
 *    param_count values, in schema order; each has the declared type and,
 *    for float and int parameters with HAS_MIN / HAS_MAX, lies inside
 *    [min, max]; floats are finite; a bool is 0 or 1; an enum is one of its
 *    choices; a string is non-NULL. The same holds for annealed values at
 *    every hook: the host moves a value only between its configured value
 *    and the anneal target, both checked against the range.
 *  - Fields. A field the loss declared (descriptor or `fields` hook) has, in
 *    every lp_batch, the declared dtype and the declared per-step shape with
 *    LP_DIM_* resolved, prefixed by [rows, horizon] (whole buffer and
 *    minibatches) or [rows] (a rollout step); other declarers of the field
 *    declared the same type, or the session did not open. Its handle is
 *    >= 0 from attach on, except for an optional read nobody writes (-1).
 *    Field views may be strided; minibatch rows and horizon are >= 1.
 *  - Outputs. An output named in the descriptor's `outputs` exists, and its
 *    handle is >= 0 from attach on. In a train hook outputs[h] and grads[h]
 *    are contiguous, non-NULL, shaped [rows, horizon, ...] with the model's
 *    declared per-sample shape and dtype, grads[h] has the dtype and shape
 *    of outputs[h], and every gradient is zero before the first train hook
 *    of each minibatch. The per-sample shape and dtype are the embedding
 *    program's declaration, which the host does not match against any loss:
 *    a loss that needs, e.g., f32 logits of num_actions checks that once.
 *  - Order. Hooks run in the order docs/abi.md gives: no hook of an
 *    instance whose create failed, and no hook that receives a batch or a
 *    context before attach succeeded. Parameters change only between hooks.
 *  - Not guaranteed: the values in fields and outputs (NaN, inf, actions
 *    out of range or masked are the loss's to report), and the train hook's
 *    `weight` (of either sign; a config value beyond float's range arrives
 *    as inf).
 *  - 1.1, to plugins built against 1.1: parameters with
 *    LP_PARAM_MIN_EXCLUSIVE / MAX_EXCLUSIVE lie strictly inside that end
 *    (annealed values too); a field a loss declares LP_FIELD_UPDATE has a
 *    writer, and in config order its writer comes first, then its updaters,
 *    then its readers; every 1.1 field of lp_env_info is filled for the
 *    declared action space and LP_DIM_POLICY is resolved to policy_width.
 *    A 1.0 plugin sees the 1.0 layout and rules only (docs/abi.md).
 */
#ifndef LOSSPLUG_ABI_H
#define LOSSPLUG_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- versions --------------------------------------------------------- */

#define LP_ABI_MAJOR 1
#define LP_ABI_MINOR 1 /* 1.1: field updates, exclusive bounds, action spaces */

/* Name of the one symbol a plugin exports. */
#define LP_ENTRY_SYMBOL "lossplug_entry"

/* True when a reader compiled against this header may use a struct written
 * by the other side: same major. Minor differences are handled per field
 * with LP_HAS_FIELD. */
static inline int lp_abi_compatible(uint32_t major) {
    return major == LP_ABI_MAJOR;
}

/* True when the struct at `ptr` (whose first member is struct_size) is large
 * enough to contain `member`. Use it before reading any field that a later
 * minor version added, and before writing into a struct the other side
 * allocated. */
#define LP_HAS_FIELD(ptr, type, member)                                                            \
    ((ptr) != NULL &&                                                                              \
     (ptr)->struct_size >= offsetof(type, member) + sizeof(((const type *)0)->member))

/* ---- status codes ----------------------------------------------------- */

/* X-macro: code name, value, message. The host library maps codes to names
 * and messages with lp_err_name() / lp_strerror() (lossplug/host.h). */
#define LP_STATUS_MAP(X)                                                                           \
    X(OK, 0, "success")                                                                            \
    X(EINVAL, -1, "invalid argument")                                                              \
    X(ENOMEM, -2, "out of memory")                                                                 \
    X(ENOENT, -3, "not found")                                                                     \
    X(EIO, -4, "input/output error")                                                               \
    X(EABI, -5, "incompatible plugin ABI")                                                         \
    X(EPLUGIN, -6, "invalid or failing plugin")                                                    \
    X(ESECURITY, -7, "insecure plugin path")                                                       \
    X(ECONFIG, -8, "invalid configuration")                                                        \
    X(ESPEC, -9, "conflicting experience spec")                                                    \
    X(ECORRUPT, -10, "corrupt or truncated data")                                                  \
    X(ESTATE, -11, "state does not match")                                                         \
    X(ERANGE, -12, "value out of range")                                                           \
    X(ENUMERIC, -13, "numerical error")                                                            \
    X(EUNSUPPORTED, -14, "not supported")                                                          \
    X(EINTERRUPTED, -15, "interrupted")

typedef enum lp_status {
#define LP__STATUS_ENUM(name, value, msg) LP_##name = value,
    LP_STATUS_MAP(LP__STATUS_ENUM)
#undef LP__STATUS_ENUM
} lp_status;

/* ---- tensors ---------------------------------------------------------- */

typedef enum lp_dtype {
    LP_DTYPE_F32 = 1,
    LP_DTYPE_F64 = 2,
    LP_DTYPE_I32 = 3,
    LP_DTYPE_I64 = 4,
    LP_DTYPE_U8 = 5,
} lp_dtype;

static inline size_t lp_dtype_size(int32_t dtype) {
    switch (dtype) {
    case LP_DTYPE_F32:
    case LP_DTYPE_I32:
        return 4;
    case LP_DTYPE_F64:
    case LP_DTYPE_I64:
        return 8;
    case LP_DTYPE_U8:
        return 1;
    default:
        return 0;
    }
}

/* "f32", "f64", "i32", "i64", "u8", or "?" for anything else: for messages.
 * Static storage. */
static inline const char *lp_dtype_name(int32_t dtype) {
    switch (dtype) {
    case LP_DTYPE_F32:
        return "f32";
    case LP_DTYPE_F64:
        return "f64";
    case LP_DTYPE_I32:
        return "i32";
    case LP_DTYPE_I64:
        return "i64";
    case LP_DTYPE_U8:
        return "u8";
    default:
        return "?";
    }
}

#define LP_MAX_RANK 8

/* A view of n-dimensional data. Frozen layout (no size prefix).
 * `strides` count elements, not bytes. The view never owns `data`: its
 * owner and lifetime are stated wherever a view is handed over. */
typedef struct lp_tensor {
    void *data;
    int32_t dtype; /* lp_dtype */
    int32_t rank;  /* 0 .. LP_MAX_RANK; rank 0 is a scalar */
    int64_t shape[LP_MAX_RANK];
    int64_t strides[LP_MAX_RANK];
} lp_tensor;

/* ---- parameters ------------------------------------------------------- */

typedef enum lp_param_type {
    LP_PARAM_FLOAT = 1,
    LP_PARAM_INT = 2,
    LP_PARAM_BOOL = 3,
    LP_PARAM_STRING = 4,
    LP_PARAM_ENUM = 5,
} lp_param_type;

/* "float", "int", "bool", "string", "enum", or "?" for anything else: for
 * messages. Static storage. */
static inline const char *lp_param_type_name(int32_t type) {
    switch (type) {
    case LP_PARAM_FLOAT:
        return "float";
    case LP_PARAM_INT:
        return "int";
    case LP_PARAM_BOOL:
        return "bool";
    case LP_PARAM_STRING:
        return "string";
    case LP_PARAM_ENUM:
        return "enum";
    default:
        return "?";
    }
}

enum {
    LP_PARAM_REQUIRED = 1u << 0, /* no default: the config must set it */
    LP_PARAM_HAS_MIN = 1u << 1,  /* `min` is meaningful (inclusive) */
    LP_PARAM_HAS_MAX = 1u << 2,  /* `max` is meaningful (inclusive) */
    /* Added in 1.1. With HAS_MIN / HAS_MAX: the bound itself is not allowed
     * (`(1, inf)`, `[0, 1)`). A 1.0 host ignores them and checks inclusively. */
    LP_PARAM_MIN_EXCLUSIVE = 1u << 3,
    LP_PARAM_MAX_EXCLUSIVE = 1u << 4,
};

/* One parameter of a loss's schema. Plugin-owned, static, valid while the
 * plugin is loaded. Arrays of specs are read with element stride
 * `specs[0].struct_size`: every element of one array must have the same
 * struct_size. */
typedef struct lp_param_spec {
    uint32_t struct_size;
    uint32_t flags;   /* LP_PARAM_REQUIRED | LP_PARAM_HAS_MIN | LP_PARAM_HAS_MAX */
    const char *name; /* [a-z][a-z0-9_]* */
    const char *doc;  /* one line */
    int32_t type;     /* lp_param_type */
    int32_t default_bool;
    int64_t default_int;
    double default_float;
    const char *default_string; /* string and enum (must be one of `choices`) */
    double min;                 /* float and int */
    double max;
    const char *const *choices; /* enum: NULL-terminated list */
} lp_param_spec;

/* A parameter's current value, in schema order. Frozen layout. Only the
 * member matching `type` is meaningful. */
typedef struct lp_value {
    int32_t type;  /* lp_param_type */
    int32_t b;     /* bool */
    int64_t i;     /* int */
    double f;      /* float */
    const char *s; /* string, enum */
} lp_value;

/* ---- experience fields ------------------------------------------------ */

enum {
    LP_FIELD_READ = 1u << 0,
    LP_FIELD_WRITE = 1u << 1,
    LP_FIELD_OPTIONAL = 1u << 2, /* a read that is satisfied by nobody is not an error:
                                    the field handle is then -1 */
    /* Added in 1.1. Read a field another party writes and rewrite it in
     * place, in the phases given (a reward normaliser on `rewards`). Per
     * phase the host orders the field's writer first, then its updaters in
     * config order, then its readers; a config that lists a reader of the
     * field before one of its updaters is refused. Not combined with
     * LP_FIELD_READ or LP_FIELD_WRITE in one spec. A 1.0 host refuses it. */
    LP_FIELD_UPDATE = 1u << 3,
};

enum {
    LP_PHASE_ROLLOUT = 1u << 0,
    LP_PHASE_TRAIN = 1u << 1,
};

/* Symbolic dimensions for lp_field_spec.shape, replaced by the host from the
 * environment (lp_env_info) when the spec is merged. */
#define LP_DIM_OBS         (-1) /* splices in the whole observation shape */
#define LP_DIM_ACTION      (-2) /* splices in the whole action shape */
#define LP_DIM_NUM_ACTIONS (-3) /* one dimension: number of discrete actions */
#define LP_DIM_POLICY      (-4) /* 1.1: one dimension, lp_env_info.policy_width */

/* A field of the experience buffer that a loss reads or writes. The shape is
 * per step: the buffer prepends [segments, horizon]. Plugin-owned, static or
 * valid until the instance is destroyed. Arrays use element stride
 * `specs[0].struct_size`. */
typedef struct lp_field_spec {
    uint32_t struct_size;
    uint32_t access;  /* LP_FIELD_READ | LP_FIELD_WRITE | LP_FIELD_OPTIONAL */
    uint32_t phase;   /* LP_PHASE_ROLLOUT | LP_PHASE_TRAIN: when it reads/writes */
    int32_t dtype;    /* lp_dtype */
    const char *name; /* [a-z][a-z0-9_]* */
    const char *doc;  /* one line */
    int32_t rank;
    int32_t reserved;
    int64_t shape[LP_MAX_RANK]; /* sizes > 0 or LP_DIM_* */
} lp_field_spec;

/* Action spaces (1.1). The policy output is named "logits" for every space
 * and has policy_width values per step:
 *  - DISCRETE: one choice among num_actions; the actions field is i32 [],
 *    the output holds num_actions logits.
 *  - MULTI_DISCRETE: action_dims independent choices, component k among
 *    action_nvec[k]; the actions field is i32 [action_dims], the output holds
 *    the components' logits concatenated in order (sum of nvec).
 *  - BOX: a diagonal Gaussian over action_dims real values; the actions
 *    field is f32 [action_dims] (the sample, before any clipping to
 *    [action_low, action_high] that the environment applies); the output
 *    holds the means then the log standard deviations (2 * action_dims).
 * A stored log-probability (`logprobs`, f32 []) is the sum over components. */
typedef enum lp_action_space {
    LP_ACTION_DISCRETE = 0,
    LP_ACTION_MULTI_DISCRETE = 1,
    LP_ACTION_BOX = 2,
} lp_action_space;

/* The environment the host trains on, as the embedding program declared it.
 * Host-owned, valid until the instance is destroyed (and so are the arrays
 * its 1.1 pointers point to). */
typedef struct lp_env_info {
    uint32_t struct_size;
    int32_t obs_dtype;
    int32_t obs_rank;
    int32_t action_dtype;
    int64_t obs_shape[LP_MAX_RANK];
    int32_t action_rank;
    int32_t reserved;
    int64_t action_shape[LP_MAX_RANK];
    int64_t num_actions; /* discrete choices (logits width); 0 when continuous */
    int64_t segments;    /* buffer rows (parallel environments x segments per env) */
    int64_t horizon;     /* steps per row (BPTT horizon) */
    /* ---- added in 1.1: read with LP_HAS_FIELD; a 1.0 host's env is
     * DISCRETE with num_actions choices. num_actions keeps its 1.0 meaning:
     * the discrete count, sum(nvec) for MULTI_DISCRETE, 0 for BOX. ---- */
    int32_t action_space;       /* lp_action_space */
    int32_t action_dims;        /* components: 1, nvec entries, or box dimensions */
    const int64_t *action_nvec; /* MULTI_DISCRETE: action_dims counts; else NULL */
    const float *action_low;    /* BOX: action_dims lower bounds (may be -inf); else NULL */
    const float *action_high;   /* BOX: action_dims upper bounds (may be +inf); else NULL */
    int64_t policy_width;       /* values of the "logits" output per step (see above) */
} lp_env_info;

/* ---- what hooks receive ------------------------------------------------ */

/* Where the host is in the lifecycle. Host-owned, valid during the call. */
typedef struct lp_ctx {
    uint32_t struct_size;
    int32_t update_epoch;    /* train phase: update epoch, from 0 */
    int64_t epoch;           /* from 0 */
    int64_t env_steps;       /* agent steps collected so far */
    int32_t minibatch;       /* train phase: minibatch within the update epoch */
    int32_t minibatch_count; /* train phase: minibatches per update epoch */
    int32_t step;            /* rollout: step within the horizon, from 0 */
    int32_t reserved;
} lp_ctx;

/* A set of views into the experience buffer and the model's outputs.
 * Host-owned, valid during the call only (copy nothing but the numbers).
 *  - fields[h] is the field whose handle is h (host->field_handle). For a
 *    minibatch or the whole buffer its shape is [rows, horizon, ...]; for a
 *    rollout step it is [rows, ...] at the current step. Views may be strided.
 *  - outputs[h] / grads[h] by output handle (host->output_handle); train
 *    phase only, shape [rows, horizon, ...], contiguous. A loss ADDS its
 *    gradient, already multiplied by its weight, into grads[h].data.
 *  - A loss may write only the fields it declared LP_FIELD_WRITE for the
 *    current phase. */
typedef struct lp_batch {
    uint32_t struct_size;
    uint32_t field_count;
    const lp_tensor *fields;
    uint32_t output_count;
    uint32_t reserved;
    const lp_tensor *outputs;
    const lp_tensor *grads;
    int64_t rows;
    int64_t horizon;
    const int64_t *row_index; /* buffer row of each batch row; `rows` entries */
    /* A minibatch of single steps (buffer.sample: transitions, horizon 1):
     * the step within its buffer row of each batch row, `rows` entries.
     * NULL otherwise (batch rows are whole buffer rows from step 0). */
    const int64_t *step_index;
} lp_batch;

/* Filled by a loss's train hook. Host-allocated and zeroed; the host sets
 * struct_size. */
typedef struct lp_train_result {
    uint32_t struct_size;
    int32_t stop; /* nonzero: end the train phase after this minibatch (target KL) */
    double loss;  /* this loss's scalar value, before weighting */
} lp_train_result;

/* ---- host services ----------------------------------------------------- */

typedef enum lp_log_level {
    LP_LOG_DEBUG = 0,
    LP_LOG_INFO = 1,
    LP_LOG_WARN = 2,
    LP_LOG_ERROR = 3,
} lp_log_level;

/* The host's function table. One per loss instance (passed to create) and
 * one per plugin file (passed to init). Host-owned; valid until the matching
 * destroy / deinit. Services marked [instance] fail (return a negative
 * status, or do nothing) on the table passed to init. */
typedef struct lp_host {
    uint32_t struct_size;
    uint32_t abi_major;
    uint32_t abi_minor;
    uint32_t reserved;
    void *host_data;     /* host-private; do not touch */
    const char *name;    /* "lossplug" */
    const char *version; /* host library version, "MAJOR.MINOR.PATCH" */

    /* Write a line to the host's log. `msg` is copied. [main-thread] */
    void (*log)(const struct lp_host *host, int32_t level, const char *msg);

    /* Report why the hook that is running is about to fail. The host copies
     * `msg` and attaches it to the failing status; call it, then return the
     * status. [main-thread] */
    void (*error)(const struct lp_host *host, const char *msg);

    /* [instance] Register a statistic `key` ([a-z][a-z0-9_]*). Returns a
     * handle >= 0, or a negative lp_status. Call from create or attach; the
     * host reports it as "<instance>/<key>". Registering a key twice returns
     * the same handle. [main-thread] */
    int32_t (*stat_handle)(const struct lp_host *host, const char *key);

    /* [instance] Record one value of a statistic, typically once per
     * minibatch; the host reports the mean over a train phase. No string is
     * looked up. [main-thread] */
    void (*stat_record)(const struct lp_host *host, int32_t handle, double value);

    /* [instance] Register a tensor to be saved in and restored from
     * checkpoints under "<instance>/<name>". The data stays plugin-owned and
     * must stay valid (same address, dtype and shape) until destroy. The
     * host copies the view. Call from create or attach. [main-thread] */
    int32_t (*state_register)(const struct lp_host *host, const char *name,
                              const lp_tensor *tensor);

    /* [instance] Handle of the experience field `name`: its index in
     * lp_batch.fields, or -1 when the buffer has no such field (possible only
     * for optional reads). Valid from attach on. Resolve once, in attach.
     * [main-thread] */
    int32_t (*field_handle)(const struct lp_host *host, const char *name);

    /* [instance] Handle of the model output `name` (e.g. "logits",
     * "values"): its index in lp_batch.outputs and .grads, or -1. Valid from
     * attach on. [main-thread] */
    int32_t (*output_handle)(const struct lp_host *host, const char *name);

    /* An optional host interface by versioned id ("lossplug.model/1"), or
     * NULL when the host has none. The pointer is host-owned and valid as
     * long as this table. [any-thread] */
    const void *(*get_extension)(const struct lp_host *host, const char *id);
} lp_host;

/* ---- loss instances ---------------------------------------------------- */

/* A loss instance: returned by create, its hooks called by the host in the
 * order of docs/abi.md. Plugin-owned: it stays valid until destroy, which
 * frees it. The host may copy this struct into storage of its own; hooks then
 * receive a pointer to the host's copy, so keep all state behind `data`.
 * Every hook is [main-thread] and may be NULL, which means "nothing to do".
 * Hooks return LP_OK, or call host->error and return a negative status. */
typedef struct lp_loss {
    uint32_t struct_size;
    uint32_t reserved;
    void *data; /* plugin-private */

    /* Override the descriptor's static field list, for fields that depend on
     * parameters. `*specs` stays plugin-owned, valid until destroy. */
    int32_t (*fields)(const struct lp_loss *self, const lp_field_spec **specs, uint32_t *count);

    /* The buffer exists: resolve field, output and stat handles here.
     * `all` views the whole buffer (fields only). */
    int32_t (*attach)(const struct lp_loss *self, const lp_batch *all);

    /* A new epoch begins. */
    int32_t (*epoch_start)(const struct lp_loss *self, const lp_ctx *ctx);

    /* The rollout phase begins. */
    int32_t (*rollout_start)(const struct lp_loss *self, const lp_ctx *ctx);

    /* One environment step was stored (ctx->step): `step` views it. */
    int32_t (*rollout_step)(const struct lp_loss *self, const lp_ctx *ctx, const lp_batch *step);

    /* The train phase begins: `all` views the whole buffer (e.g. compute
     * advantages). */
    int32_t (*train_start)(const struct lp_loss *self, const lp_ctx *ctx, const lp_batch *all);

    /* An update epoch begins (ctx->update_epoch); `all` views the whole
     * buffer. */
    int32_t (*update_epoch_start)(const struct lp_loss *self, const lp_ctx *ctx,
                                  const lp_batch *all);

    /* Train on one minibatch: set out->loss (unweighted), add
     * weight * d(loss)/d(output) into mb->grads, optionally set out->stop. */
    int32_t (*train)(const struct lp_loss *self, const lp_ctx *ctx, const lp_batch *mb,
                     float weight, lp_train_result *out);

    /* After the optimizer step of a minibatch. */
    int32_t (*minibatch_end)(const struct lp_loss *self, const lp_ctx *ctx);

    /* The train phase ended. */
    int32_t (*train_end)(const struct lp_loss *self, const lp_ctx *ctx);

    /* A checkpoint is about to be written: bring registered state tensors up
     * to date. */
    int32_t (*save)(const struct lp_loss *self, const lp_ctx *ctx);

    /* Registered state tensors were just restored from a checkpoint. */
    int32_t (*load)(const struct lp_loss *self, const lp_ctx *ctx);

    /* Free everything the instance owns, including what `self` came from. */
    void (*destroy)(const struct lp_loss *self);

    /* An optional interface by versioned id, or NULL. Plugin-owned, valid
     * until destroy. [any-thread] */
    const void *(*get_extension)(const struct lp_loss *self, const char *id);
} lp_loss;

/* What create receives. Host-owned. The struct itself is valid during create
 * only; `host`, `name`, `params`, `env` and `config_dir` (what its pointers
 * point to) stay valid until destroy, so keep those pointers, not `args`. */
typedef struct lp_create_args {
    uint32_t struct_size;
    uint32_t param_count;   /* equals the descriptor's param_count */
    const lp_host *host;    /* this instance's services */
    const char *name;       /* instance name from the config */
    const lp_value *params; /* schema order, defaults applied. The host updates
                               values in place between hooks (annealing): read
                               them when you use them. */
    const lp_env_info *env;
    /* The directory of the config file that names this instance ("." for a
     * config given as a string), to resolve relative paths in string
     * parameters against; valid until destroy. */
    const char *config_dir;
} lp_create_args;

/* ---- loss descriptors and the entry ------------------------------------ */

/* Describes one loss a plugin provides. Plugin-owned, static, valid while
 * the plugin is loaded (the host never unloads code). */
typedef struct lp_loss_desc {
    uint32_t struct_size;
    uint32_t param_count;
    const char *id;      /* [a-z][a-z0-9_]*, unique among all plugins */
    const char *version; /* the loss's own version, e.g. "1.0.0" */
    const char *summary; /* one line */
    const lp_param_spec *params;
    uint32_t field_count;
    uint32_t reserved;
    const lp_field_spec *fields;
    const char *const *outputs; /* model outputs it needs, NULL-terminated; may be NULL */

    /* Create an instance. On success store it in *out and return LP_OK; on
     * failure call args->host->error and return a negative status, leaving
     * nothing allocated. [main-thread] */
    int32_t (*create)(const lp_create_args *args, const lp_loss **out);
} lp_loss_desc;

/* The one symbol a plugin exports. */
typedef struct lp_entry {
    uint32_t struct_size;
    uint32_t abi_major; /* LP_ABI_MAJOR the plugin was built with */
    uint32_t abi_minor; /* LP_ABI_MINOR the plugin was built with */
    uint32_t reserved;

    /* Called once per host that loads the file, before anything else; two
     * hosts in one process call it twice, so count. `host` serves log and
     * error only and is valid until the matching deinit. [main-thread] */
    int32_t (*init)(const lp_host *host);

    /* Undo one init. Code is never unloaded afterwards. [main-thread] */
    void (*deinit)(void);

    /* Number of losses in this file, and each descriptor (NULL when out of
     * range). Valid between init and deinit. [any-thread] */
    uint32_t (*loss_count)(void);
    const lp_loss_desc *(*loss_get)(uint32_t index);
} lp_entry;

#ifdef __cplusplus
}
#endif

#endif /* LOSSPLUG_ABI_H */
