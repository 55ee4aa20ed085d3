/*
 * lossplug embedding API: what a program links (liblossplug) to discover,
 * load and drive loss plugins.
 *
 * Rules for every function here:
 *  - Functions that can fail return an lp_status (LP_OK or negative) and, when
 *    `err` is not NULL, fill it with a message that says what failed, where
 *    and how to fix it. `err` is caller-owned.
 *  - No global mutable state: objects from two lp_registry_open calls are
 *    independent. An object is not thread-safe: use it from one thread at a
 *    time (the thread that drives it). Distinct objects may be used from
 *    distinct threads.
 *  - Nothing is printed: logs go to the callback given in the options.
 */
#ifndef LOSSPLUG_HOST_H
#define LOSSPLUG_HOST_H

#include <lossplug/abi.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the functions liblossplug exports; everything else in the library is
 * built with hidden visibility. */
#ifndef LP_API
#if defined(__GNUC__)
#define LP_API __attribute__((visibility("default")))
#else
#define LP_API
#endif
#endif

/* ---- library ------------------------------------------------------------- */

/* "MAJOR.MINOR.PATCH" of liblossplug. Static storage. [any-thread] */
LP_API const char *lp_version_string(void);

/* Message and name ("LP_EINVAL") of a status; "unknown status" for others.
 * Static storage. [any-thread] */
LP_API const char *lp_strerror(int32_t status);
LP_API const char *lp_err_name(int32_t status);

#define LP_ERROR_MAX 1024

/* A status and its message. Caller-owned; no cleanup needed. */
typedef struct lp_error {
    int32_t code;
    char message[LP_ERROR_MAX];
} lp_error;

/* Log sink: `msg` is valid during the call only. Called on the thread that
 * called into the library. */
typedef void (*lp_log_fn)(void *user, int32_t level, const char *msg);

/* ---- plugin registry (discovery and loading) ------------------------------- */

typedef struct lp_registry lp_registry;

typedef struct lp_registry_options {
    uint32_t struct_size;            /* set by lp_registry_options_init */
    const char *const *plugin_paths; /* searched first, in order; copied */
    size_t plugin_path_count;
    int use_env_path;    /* also search LOSSPLUG_PATH (':'-separated, read
                            with secure_getenv); default 1 */
    int use_install_dir; /* also search the installed plugin directory;
                            default 1 */
    int allow_insecure;  /* load plugins from files or directories that are
                            writable by group/others or owned by another
                            user; default 0 */
    lp_log_fn log;       /* may be NULL */
    void *log_user;
    /* Added in lossplug 0.2 (read only when struct_size covers them): */
    int scan;            /* 1: before a file is loaded in-process, the helper program
                            lossplug-scan loads it in a child process, so that a plugin
                            whose constructor or init crashes, aborts, exits or hangs
                            becomes a diagnostic naming the file and what happened
                            instead of ending or hanging this process; results are
                            cached (docs/loader.md). Default 0: an embedding program
                            opts in (it costs a fork+exec per new or changed file, and
                            the helper must be installed beside the library). */
    int scan_timeout_ms; /* per file; default (0): 3000 */
} lp_registry_options;

/* Fill `opt` with the defaults. */
LP_API void lp_registry_options_init(lp_registry_options *opt);

/* Search every root for `*.so` files (not recursively), load each with
 * RTLD_NOW | RTLD_LOCAL, validate it and collect its losses. A bad plugin
 * does not fail the call: it is refused with a diagnostic naming the file
 * and the reason (see lp_registry_diag_*) while the others load. Fails only
 * on bad arguments or out of memory. `*out` must be closed with
 * lp_registry_close. [main-thread] */
LP_API int32_t lp_registry_open(const lp_registry_options *opt, lp_registry **out, lp_error *err);

/* Deinit every plugin this registry initialised and free the registry. Code
 * stays mapped (plugins are never unloaded). NULL is a no-op. */
LP_API void lp_registry_close(lp_registry *reg);

/* A loss found by the registry. Registry-owned, valid until
 * lp_registry_close. */
typedef struct lp_loss_info {
    const lp_loss_desc *desc; /* copied into this host's layout; absent trailing
                                 fields are zero */
    const char *path;         /* the plugin file it came from */
    uint32_t abi_major;       /* the ABI version the plugin was built for */
    uint32_t abi_minor;
} lp_loss_info;

/* Losses in discovery order (search roots in order, files sorted by name). */
LP_API size_t lp_registry_loss_count(const lp_registry *reg);
LP_API const lp_loss_info *lp_registry_loss_at(const lp_registry *reg, size_t index);

/* Find a loss by id. LP_ENOENT names the known ids (and the nearest one);
 * an id that two files provide is refused naming both. */
LP_API int32_t lp_registry_find(const lp_registry *reg, const char *id, const lp_loss_info **out,
                                lp_error *err);

typedef enum lp_diag_severity {
    LP_DIAG_WARNING = 1,
    LP_DIAG_ERROR = 2,
} lp_diag_severity;

/* A problem met while loading. Registry-owned, valid until close. */
typedef struct lp_diag {
    int32_t severity;    /* lp_diag_severity */
    int32_t code;        /* lp_status */
    const char *path;    /* file or directory concerned */
    const char *message; /* full sentence, starts with the path */
} lp_diag;

LP_API size_t lp_registry_diag_count(const lp_registry *reg);
LP_API const lp_diag *lp_registry_diag_at(const lp_registry *reg, size_t index);

/* The search roots actually used, in order. */
LP_API size_t lp_registry_root_count(const lp_registry *reg);
LP_API const char *lp_registry_root_at(const lp_registry *reg, size_t index);

/* The installed plugin directory configured at build time. The registry
 * searches `lossplug/plugins` next to the running liblossplug instead when
 * that exists (a relocated install); see docs/loader.md. */
LP_API const char *lp_install_plugin_dir(void);

/* ---- sessions: losses composed from a config over one buffer ------------------ */

/* A session opens a YAML config (docs/config.md), loads the plugins it names,
 * creates their instances in config order, merges what they declare with what
 * the program declares into one experience spec, allocates one buffer, and
 * drives the loss lifecycle (docs/abi.md "Order of calls") when the program
 * asks. Single-threaded: call it from one thread. No hidden threads, no
 * globals, nothing printed. */
typedef struct lp_session lp_session;

/* A per-step field the program writes during rollout, or a per-sample model
 * output. The shape may use LP_DIM_* symbols (abi.h). Caller-owned; copied. */
typedef struct lp_decl {
    const char *name; /* [a-z][a-z0-9_]* */
    int32_t dtype;    /* lp_dtype */
    int32_t rank;
    int64_t shape[LP_MAX_RANK];
} lp_decl;

typedef struct lp_session_options {
    uint32_t struct_size; /* set by lp_session_options_init */
    /* Plugin search, as lp_registry_options; searched before the config's
     * plugin_path. */
    const char *const *plugin_paths;
    size_t plugin_path_count;
    int use_env_path;    /* default 1 */
    int use_install_dir; /* default 1 */
    int allow_insecure;  /* default 0 */
    /* The environment: observation and action shapes, number of discrete
     * actions (segments and horizon come from the config). */
    lp_env_info env;
    int env_set; /* 0: take the environment from the config's `program` section */
    /* The fields the program writes during rollout and the outputs its model
     * provides. count 0: take them from the config's `program` section. When
     * both are given they must agree (a difference is an error naming both). */
    const lp_decl *fields;
    size_t field_count;
    const lp_decl *outputs;
    size_t output_count;
    /* Top-level config sections the program owns (e.g. "env"): passed
     * through untouched, readable with lp_session_section_scalar. Copied. */
    const char *const *sections;
    size_t section_count;
    const char *stats_path; /* overrides the config's `stats.path`; NULL: keep it */
    int seed_set;           /* 1: `seed` overrides the config's buffer.seed */
    int64_t seed;
    lp_log_fn log; /* plugin logs and host notices; may be NULL */
    void *log_user;
    /* The model lp_session_train will be given, when a loss uses the host
     * extension "lossplug.model/1" (expert_ce does): the session offers the
     * extension only when it has forward_aux, backward_aux and memory_size,
     * and calls memory_size(user) once at open (nothing else). Copied, not
     * kept. NULL: the extension is not offered. */
    const struct lp_model *model;
    /* The config's `program.sections` lists top-level sections its program
     * owns. 0 (default): each must be among `sections` above, else open
     * fails (nothing in a config is silently ignored). 1: accept the list as
     * it is, for tools that open a config without its program (lossplug
     * check). */
    int trust_config_sections;
    /* 1: open only to check the config (lossplug check): every check runs and
     * every size is computed (lp_session_buffer_bytes), but the buffer and
     * the model outputs are only reserved as untouched virtual memory, never
     * written by the host, and no stats file is created or written. Such a
     * session must not be trained. Default 0. (Added in lossplug 0.2.) */
    int check_only;
    /* 1: the session's registry scans plugins out of process first
     * (lp_registry_options.scan). Default 0. (Added in lossplug 0.2.) */
    int scan_plugins;
    /* Data-parallel training (docs/distributed.md): `replicas` processes
     * run this session on their own environments in lockstep, so each
     * lp_session_rollout_step counts segments * replicas env steps (the
     * counter, schedules and the stats file then speak of the whole job).
     * Default 1. */
    int64_t replicas;
    int stats_off; /* 1: write no stats file (every rank but one); default 0 */
    /* Optional: called at the end of every train phase, before the means are
     * taken and the stats line is written, with each statistic's sum and
     * count of this process (index i is lp_session_stat_name(s, i); a
     * program statistic's handle is its index). A data-parallel program sums
     * them across processes here, in place, so that every process gets, and
     * the stats file holds, the mean over all. Called from lp_session_train's
     * thread; the arrays are session-owned and valid during the call. */
    int32_t (*stats_reduce)(void *user, double *sums, double *counts, size_t count, lp_error *err);
    void *stats_reduce_user;
    /* 1: a debug check. Around every hook that sees a batch (rollout_step,
     * train_start, update_epoch_start, train), hash the fields the instance
     * declared LP_FIELD_READ for that phase and fail the hook (LP_EPLUGIN,
     * naming instance, hook and field) when one changed: a declared read
     * that writes. Costs a pass over those fields per hook; 0 (default):
     * nothing. (Added with ABI 1.1 field updates.) */
    int check_fields;
} lp_session_options;

LP_API void lp_session_options_init(lp_session_options *opt);

/* Open a session from the config file at `path` (relative plugin and stats
 * paths are relative to its directory). Every check happens here, before
 * anything runs: config errors (FILE:LINE:COLUMN), unknown plugins, params,
 * and the merged spec (dtype/shape clash naming both declarers and their
 * config lines, a field read that nobody writes, a field written by two, a
 * model output a loss needs and the model lacks). On error *out is NULL and
 * nothing is left allocated. */
LP_API int32_t lp_session_open(const char *path, const lp_session_options *opt, lp_session **out,
                               lp_error *err);

/* The same from `len` bytes of YAML; `name` labels messages and gives the
 * base directory of relative paths (NULL: "<string>", the current
 * directory). */
LP_API int32_t lp_session_open_string(const char *yaml, size_t len, const char *name,
                                      const lp_session_options *opt, lp_session **out,
                                      lp_error *err);

/* Destroy the instances (reverse config order), deinit the plugins, free
 * everything. NULL is a no-op. */
LP_API void lp_session_close(lp_session *s);

/* -- the merged spec and the buffer -- */

/* One field of the merged spec. Session-owned, valid until close. */
typedef struct lp_field_info {
    const char *name;
    int32_t dtype;
    int32_t rank; /* per step, symbols resolved */
    int64_t shape[LP_MAX_RANK];
    const char *writer;   /* "program" or the writing instance's name */
    const char *readers;  /* instance names, ", "-separated; "" when none */
    uint32_t write_phase; /* LP_PHASE_* of the writer */
    uint64_t offset;      /* byte offset in the buffer (64-byte aligned) */
    uint64_t bytes;       /* segments * horizon * per-step bytes */
    /* Added with ABI 1.1 field updates: */
    const char *updaters; /* instances that update it (LP_FIELD_UPDATE), ", "-separated,
                             in config order; "" when none */
    const char *chain;    /* the order its parties act in, with their phases:
                             "program (rollout) -> rn (rollout, update) -> gae (train)" */
} lp_field_info;

LP_API size_t lp_session_field_count(const lp_session *s);
LP_API const lp_field_info *lp_session_field_at(const lp_session *s, size_t index);

/* Handle of a field (its index in the spec), or -1. Resolve once. */
LP_API int32_t lp_session_field_handle(const lp_session *s, const char *name);

/* A view of the whole field, shaped [segments, horizon, ...], contiguous.
 * The data is session-owned, valid until close; the program writes rollout
 * steps into it. A bad handle gives a view with data NULL. */
LP_API lp_tensor lp_session_field(const lp_session *s, int32_t handle);

/* Where step (row, t) of a field starts, for writing one element at a time.
 * No checks beyond the handle's: row < segments, t < horizon are the
 * caller's. */
LP_API void *lp_session_step_ptr(const lp_session *s, int32_t handle, int64_t row, int64_t t);

/* The environment and buffer dimensions in use. */
LP_API const lp_env_info *lp_session_env(const lp_session *s);
LP_API size_t lp_session_buffer_bytes(const lp_session *s);

/* A scalar in a program-owned section (lp_session_options.sections) by
 * dotted path, e.g. "env.num_envs": its text, or NULL when absent or not a
 * scalar. `line`/`column` (may be NULL) receive its 1-based position for the
 * program's own error messages. Session-owned, valid until close. */
LP_API const char *lp_session_section_scalar(const lp_session *s, const char *dotted_path,
                                             int *line, int *column);

/* The config's display name (its path), for messages. */
LP_API const char *lp_session_config_name(const lp_session *s);

/* Instances in config order (name, plugin id, weight); NULL / 0.0 when
 * `index` is out of range. */
LP_API size_t lp_session_instance_count(const lp_session *s);
LP_API const char *lp_session_instance_name(const lp_session *s, size_t index);
LP_API const char *lp_session_instance_plugin(const lp_session *s, size_t index);
LP_API double lp_session_instance_weight(const lp_session *s, size_t index);

/* The model outputs in use, in declaration order (the order of lp_model's
 * outputs[] and grads[]); per-sample shapes, symbols resolved. NULL when
 * `index` is out of range. Session-owned, valid until close. */
LP_API size_t lp_session_output_count(const lp_session *s);
LP_API const lp_decl *lp_session_output_at(const lp_session *s, size_t index);

/* What a minibatch is made of (the config's buffer.sample). */
typedef enum lp_sample_mode {
    /* Whole buffer rows: a minibatch is minibatch_segments rows of `horizon`
     * consecutive steps, [rows, horizon, ...]. */
    LP_SAMPLE_ROWS = 0,
    /* Single steps: each update epoch permutes all segments * horizon
     * samples and cuts the permutation into minibatches of
     * minibatch_segments * horizon samples, each gathered as a batch of
     * rows = samples, horizon = 1; lp_batch.row_index and .step_index give
     * each sample's place in the buffer. */
    LP_SAMPLE_TRANSITIONS = 1,
} lp_sample_mode;

/* What a train phase does with a minibatch whose loss or output gradient is
 * not finite after a train hook (the config's buffer.nonfinite). Either way
 * nothing of that minibatch reaches the model. */
typedef enum lp_nonfinite_mode {
    LP_NONFINITE_STOP = 0, /* lp_session_train fails with LP_ENUMERIC naming the
                              instance, output, minibatch and source */
    LP_NONFINITE_SKIP = 1, /* the minibatch is skipped with a warning; the stat
                              "nonfinite_skips" counts them per train phase */
} lp_nonfinite_mode;

/* How a train phase walks the buffer (from the config's `buffer`, the seed
 * possibly overridden by the options). */
typedef struct lp_train_plan {
    int64_t minibatch_segments; /* buffer.minibatch_segments */
    int64_t minibatches;        /* per update epoch: segments / minibatch_segments */
    int64_t update_epochs;
    int64_t seed;
    int32_t shuffle;           /* 1: shuffled per update epoch (gathered into scratch);
                                  0: contiguous minibatch views, in order (rows only) */
    int32_t sample;            /* lp_sample_mode */
    int64_t minibatch_samples; /* steps per minibatch: minibatch_segments * horizon */
    int32_t nonfinite;         /* lp_nonfinite_mode */
} lp_train_plan;

/* Session-owned, valid until close. */
LP_API const lp_train_plan *lp_session_train_plan(const lp_session *s);

/* -- the lifecycle -- */

/* The model, in the train phase. Every callback returns LP_OK or fills `err`
 * and returns a negative status, which ends the train phase with that
 * error. */
typedef struct lp_model {
    void *user;
    /* Run the model on minibatch `mb` (its fields) and write each output
     * into outputs[i] (i in the order of the declared outputs; host-owned,
     * contiguous [rows, horizon, ...]). */
    int32_t (*forward)(void *user, const lp_batch *mb, const lp_tensor *outputs, lp_error *err);
    /* Backpropagate `grads` (d total_loss / d outputs[i], same order and
     * shapes) into the model's parameter gradients. */
    int32_t (*backward)(void *user, const lp_batch *mb, const lp_tensor *grads, lp_error *err);
    /* Clip, step the optimizer, zero the parameter gradients. */
    int32_t (*step)(void *user, const lp_ctx *ctx, lp_error *err);

    /* Optional auxiliary passes, for losses that run the model on batches of
     * their own through the host extension "lossplug.model/1"
     * (lossplug/ext/model.h, docs/abi.md). All three or none; NULL: the
     * extension is not offered. They run during a loss's train hook, between
     * forward and backward of the minibatch, and must keep their own
     * activations (separate work buffers): the minibatch's forward state
     * must survive them for backward. */
    /* Recurrent memory floats per batch row (0 for a feed-forward model);
     * fixed for the model's life. */
    int64_t (*memory_size)(void *user);
    /* Forward `batch` (the loss's: fields by the session's handles, any
     * strides, data NULL where absent; row_index NULL) into outputs[i]
     * (session-owned, contiguous [rows, horizon, ...], declared order).
     * `starts` (u8 [rows, horizon], may be NULL): zero a row's memory before
     * each step flagged 1. `memory` (f32 [rows, memory_size], NULL when 0):
     * the state before step 0, overwritten with the state after the last
     * step. Keep what backward_aux needs. */
    int32_t (*forward_aux)(void *user, const lp_batch *batch, const uint8_t *starts, float *memory,
                           const lp_tensor *outputs, lp_error *err);
    /* Backpropagate `grads` (d total_loss / d outputs of the last
     * forward_aux, same batch) into the parameter gradients, ADDING to them;
     * no gradient flows into the initial memory. */
    int32_t (*backward_aux)(void *user, const lp_batch *batch, const lp_tensor *grads,
                            lp_error *err);
} lp_model;

/* Start an epoch: annealed params are brought up to date and every instance
 * gets epoch_start. */
LP_API int32_t lp_session_epoch_start(lp_session *s, lp_error *err);

/* Start the rollout phase (rollout_start on instances enabled for it). */
LP_API int32_t lp_session_rollout_start(lp_session *s, lp_error *err);

/* The program stored step `t` (0 .. horizon-1) of every row: rollout_step on
 * enabled instances, then env_steps += segments. */
LP_API int32_t lp_session_rollout_step(lp_session *s, int64_t t, lp_error *err);

/* What a train phase did. */
typedef struct lp_train_summary {
    uint32_t struct_size;
    int32_t minibatches;    /* minibatches trained */
    int32_t update_epochs;  /* update epochs begun */
    int32_t stopped;        /* 1 when an instance asked to stop early */
    const char *stopped_by; /* that instance's name, or NULL; session-owned */
    double total_loss;      /* mean over minibatches of sum(weight * loss) */
    int32_t skipped;        /* minibatches skipped as non-finite (buffer.nonfinite: skip) */
} lp_train_summary;

/* The whole train phase: stats reset; train_start; for each update epoch
 * (segments shuffled with the seed, reproducibly): update_epoch_start, then
 * per minibatch: model forward once, each enabled instance's train with its
 * weight (gradients summed), model backward and step, minibatch_end; a stop
 * request ends the phase after its minibatch. Then train_end, the stats are
 * final, and when a stats path is set one line is appended to it. Ends the
 * epoch: the epoch counter advances. `summary` may be NULL. */
LP_API int32_t lp_session_train(lp_session *s, const lp_model *model, lp_train_summary *summary,
                                lp_error *err);

/* During a train phase (from the model's callbacks): whether an instance
 * has asked to stop it (it then ends after the current minibatch), and a
 * way for the program to end it after the current minibatch as if one had
 * (summary->stopped 1, stopped_by NULL). A data-parallel program agrees on
 * the stop across processes with these. LP_ESTATE outside a train phase. */
LP_API int lp_session_train_stopping(const lp_session *s);
LP_API int32_t lp_session_train_stop(lp_session *s, lp_error *err);

/* Counters: the current epoch (from 0) and environment steps so far. */
LP_API int64_t lp_session_epoch(const lp_session *s);
LP_API int64_t lp_session_env_steps(const lp_session *s);

/* -- stats -- */

/* Stats of the last train phase, in registration order: "<instance>/<key>"
 * for what instances recorded, "<instance>/loss" for each instance's loss,
 * "total_loss", then the program's own (lp_session_stat_register). The value is the mean over the
 * phase's minibatches (NaN when nothing was recorded). Names are session-owned, valid until close.
 */
LP_API size_t lp_session_stat_count(const lp_session *s);
LP_API const char *lp_session_stat_name(const lp_session *s, size_t index);
LP_API double lp_session_stat_value(const lp_session *s, size_t index);
/* By name: LP_ENOENT when there is no such stat. */
LP_API int32_t lp_session_stat(const lp_session *s, const char *name, double *value);

/* Program statistics: numbers of the program's own (e.g. the mean return of
 * its last episodes) reported and written with the others, under `name`
 * ([a-z][a-z0-9_/]*, at most 127 characters; not an existing stat's name,
 * nor "epoch" or "env_steps"). Register each once, before the first
 * lp_session_train (right after open: the stats file's columns are fixed by
 * the first line); *handle receives its handle (>= 0; -1 on error).
 * LP_EINVAL for a bad or taken name, LP_ESTATE after the first train phase. */
LP_API int32_t lp_session_stat_register(lp_session *s, const char *name, int32_t *handle,
                                        lp_error *err);
/* Record one value: no string look-up, nothing allocated. The stat's value
 * at the end of a train phase is the mean of what was recorded during that
 * epoch: after the previous train phase ended and before this one ended (the
 * rollout and the train phase); NaN when nothing was. LP_EINVAL for a handle
 * that is not a program stat's, LP_ERANGE for a non-finite value (not
 * recorded). */
LP_API int32_t lp_session_stat_record(lp_session *s, int32_t handle, double value);

/* -- checkpoints (docs/checkpoint.md) -- */

/* A tensor the program saves with the session's state (model parameters,
 * optimizer moments): caller-owned, valid during the call. */
typedef struct lp_named_tensor {
    const char *name; /* e.g. "model/w1"; not "host/..." nor an instance's prefix */
    lp_tensor view;
} lp_named_tensor;

/* Write every instance's registered state (after its save hook), the host's
 * counters and `extra` to `path`, atomically: on failure the previous file
 * is intact. */
LP_API int32_t lp_session_save(lp_session *s, const char *path, const lp_named_tensor *extra,
                               size_t extra_count, lp_error *err);

typedef struct lp_load_report lp_load_report;

/* Restore from `path` into the instances' registered state, the counters and
 * `extra` (the targets). strict: any missing, unexpected or mismatched entry
 * fails and nothing is written. lenient: what matches by name is restored
 * and the rest reported (resuming with another set of losses restores the
 * instances whose names match). A corrupt or truncated file fails and
 * nothing is written. Instances whose state was restored get their load
 * hook. `*report` (may be NULL) must be freed with lp_load_report_free. */
LP_API int32_t lp_session_load(lp_session *s, const char *path, const lp_named_tensor *extra,
                               size_t extra_count, int strict, lp_load_report **report,
                               lp_error *err);

/* lp_session_load from `size` bytes of a checkpoint file held in memory
 * (read once and broadcast to the processes of a data-parallel run);
 * `label` names it in messages (NULL: "<buffer>"). The bytes are copied;
 * the caller keeps its buffer. */
LP_API int32_t lp_session_load_buffer(lp_session *s, const void *data, size_t size,
                                      const char *label, const lp_named_tensor *extra,
                                      size_t extra_count, int strict, lp_load_report **report,
                                      lp_error *err);

/* The bytes of the checkpoint file at `path`, read as lp_session_load
 * reads it (without blocking; a FIFO, device or directory is refused,
 * naming its kind), not yet verified: for a program that reads a file once
 * and hands it to lp_session_load_buffer in several processes. `*data` is
 * malloc'd and the caller's to free(); on failure it is NULL. */
LP_API int32_t lp_checkpoint_read(const char *path, void **data, size_t *size, lp_error *err);

typedef enum lp_load_kind {
    LP_LOAD_RESTORED = 0,
    LP_LOAD_MISSING = 1,    /* the session has it, the file does not */
    LP_LOAD_UNEXPECTED = 2, /* the file has it, the session does not */
    LP_LOAD_MISMATCHED = 3, /* both, with another dtype or shape */
} lp_load_kind;

/* Entries of a report by kind; names are report-owned. */
LP_API size_t lp_load_report_count(const lp_load_report *r, int32_t kind);
LP_API const char *lp_load_report_name(const lp_load_report *r, int32_t kind, size_t index);
LP_API void lp_load_report_free(lp_load_report *r);

/* ---- reference model (MLP) and optimizer (Adam) ------------------------------ */

/* A ready model for discrete-action policies (docs/model.md): an MLP with an
 * actor head (logits) and a critic head (value), CleanRL's orthogonal
 * initialisation, forward and backward on whole minibatches with OpenBLAS
 * sgemm. Parameters and gradients are two flat f32 arrays of the same layout.
 * No threads of its own and no global state; OpenBLAS's thread count is the
 * program's choice (OPENBLAS_NUM_THREADS). Not thread-safe: one thread at a
 * time per model. */
typedef struct lp_mlp lp_mlp;

typedef enum lp_activation {
    LP_ACTIVATION_TANH = 1,
    LP_ACTIVATION_RELU = 2,
} lp_activation;

#define LP_MLP_MAX_HIDDEN 16 /* hidden layers per trunk */

typedef struct lp_mlp_options {
    uint32_t struct_size;  /* set by lp_mlp_options_init */
    int64_t obs_dim;       /* flattened f32 observation size; required (> 0) */
    int64_t num_actions;   /* width of the policy output per step (lp_env_info.
                              policy_width); required (> 0): the number of
                              actions, the sum of the multi-discrete counts,
                              or 2 x the box dimensions */
    const int64_t *hidden; /* hidden layer sizes, input side first; copied.
                              Default {64, 64}; count 0: linear heads */
    size_t hidden_count;   /* <= LP_MLP_MAX_HIDDEN */
    int32_t activation;    /* lp_activation; default tanh */
    int32_t shared_trunk;  /* 0: separate actor and critic trunks (default,
                              CleanRL); 1: one trunk feeds both heads */
    uint64_t seed;         /* initialisation seed; default 1 */
    int64_t max_batch;     /* most rows a forward takes; default 1024 (see
                              lp_mlp_reserve) */
    double hidden_gain;    /* orthogonal gain of hidden layers; default sqrt 2 */
    double actor_gain;     /* of the actor head; default 0.01 */
    double critic_gain;    /* of the critic head; default 1.0 */
    /* The policy head per action space (docs/model.md). DISCRETE (default)
     * and MULTI_DISCRETE: one linear head of num_actions logits (multi-
     * discrete: the components' logits concatenated). BOX: a diagonal
     * Gaussian as CleanRL's ppo_continuous_action: the head computes the
     * num_actions / 2 means and a state-independent parameter vector
     * "model/actor/log_std" gives the log-stds, written after the means. */
    int32_t action_space; /* lp_action_space */
    int32_t reserved;
    double log_std_init; /* BOX: the log-stds' initial value; default 0 */
} lp_mlp_options;

LP_API void lp_mlp_options_init(lp_mlp_options *opt);

/* Build the model, initialise its parameters (deterministic for a seed, on
 * every machine), zero its gradients and allocate every work buffer for
 * `max_batch` rows. On error *out is NULL. */
LP_API int32_t lp_mlp_create(const lp_mlp_options *opt, lp_mlp **out, lp_error *err);

/* NULL is a no-op. */
LP_API void lp_mlp_destroy(lp_mlp *m);

/* Grow the work buffers to take batches of `max_batch` rows (never shrinks).
 * The only call after create that allocates; on failure the model is
 * unchanged. */
LP_API int32_t lp_mlp_reserve(lp_mlp *m, int64_t max_batch, lp_error *err);

LP_API int64_t lp_mlp_obs_dim(const lp_mlp *m);
LP_API int64_t lp_mlp_num_actions(const lp_mlp *m);
LP_API int64_t lp_mlp_max_batch(const lp_mlp *m);

/* The flat parameter and gradient arrays: lp_mlp_param_count floats each,
 * model-owned, valid until destroy, never moved. */
LP_API size_t lp_mlp_param_count(const lp_mlp *m);
LP_API float *lp_mlp_params(lp_mlp *m);
LP_API float *lp_mlp_grads(lp_mlp *m);

/* One parameter tensor of the flat arrays: name ("model/actor/0/w"),
 * offset in floats, shape (weights [out, in], row-major as torch's Linear;
 * biases [out]). Model-owned, valid until destroy. NULL when out of range. */
typedef struct lp_mlp_tensor_info {
    const char *name;
    size_t offset;
    int32_t rank; /* 2 for weights, 1 for biases */
    int32_t reserved;
    int64_t shape[2];
} lp_mlp_tensor_info;

LP_API size_t lp_mlp_tensor_count(const lp_mlp *m);
LP_API const lp_mlp_tensor_info *lp_mlp_tensor_at(const lp_mlp *m, size_t index);

/* Fill out[0 .. min(count, cap)) with views of the parameters for
 * lp_session_save/load (names and data model-owned); returns the count. */
LP_API size_t lp_mlp_named_params(lp_mlp *m, lp_named_tensor *out, size_t cap);

/* Forward `n` observations (row i at obs + i * ld_obs, ld_obs >= obs_dim)
 * into logits [n, num_actions] (BOX: means then log-stds per row) and
 * values [n], both caller-owned and
 * contiguous. Either output may be NULL to skip its head (and its trunk).
 * Keeps the activations for lp_mlp_backward. n > max_batch is LP_ERANGE:
 * call lp_mlp_reserve first. Allocates nothing. */
LP_API int32_t lp_mlp_forward(lp_mlp *m, const float *obs, int64_t ld_obs, int64_t n, float *logits,
                              float *values, lp_error *err);

/* Backpropagate dlogits [n, num_actions] and dvalues [n] (either may be NULL:
 * zero) through the activations of the LAST forward, which must have been on
 * the same `obs` and `n` and have computed the heads given here. ADDS into
 * the gradient array (accumulates across calls); lp_mlp_zero_grad clears it.
 * Allocates nothing. */
LP_API int32_t lp_mlp_backward(lp_mlp *m, const float *obs, int64_t ld_obs, int64_t n,
                               const float *dlogits, const float *dvalues, lp_error *err);

LP_API void lp_mlp_zero_grad(lp_mlp *m);

/* An optimizer step over a flat parameter array and its gradients: may
 * modify grads (clipping); returns LP_OK or fills err. */
typedef int32_t (*lp_optim_step_fn)(void *user, float *params, float *grads, size_t count,
                                    const lp_ctx *ctx, lp_error *err);

/* The lp_model adapter of an lp_mlp for lp_session_train. Order contract:
 * the session passes outputs[] and grads[] in the order of its declared
 * outputs (lp_session_output_at); the adapter takes the indices of "logits"
 * ([rows, horizon, num_actions] f32) and "values" ([rows, horizon] or
 * [rows, horizon, 1] f32) in that order and the handle of the observation
 * field ([rows, horizon, obs...] f32, any strides) from the program, which
 * resolves them by name: see docs/model.md. */
typedef struct lp_mlp_model_options {
    uint32_t struct_size;  /* set by lp_mlp_model_options_init */
    const char *obs_field; /* the observation field's name, for messages;
                              default "obs"; copied */
    int32_t obs_handle;    /* lp_session_field_handle(s, obs_field); required */
    int32_t logits_output; /* index of "logits" among the outputs; default 0 */
    int32_t values_output; /* index of "values"; default 1; -1: none */
    int32_t reserved;
    lp_optim_step_fn step; /* called by lp_model.step, then the gradients are
                              zeroed; required (e.g. lp_adam_step_fn) */
    void *step_user;       /* e.g. the lp_adam */
} lp_mlp_model_options;

typedef struct lp_mlp_model lp_mlp_model;

LP_API void lp_mlp_model_options_init(lp_mlp_model_options *opt);

/* Wrap `m` (borrowed: it must outlive the adapter). Allocates a gather
 * buffer for max_batch observations (used when a minibatch's observations
 * are not evenly spaced rows). On error *out is NULL. */
LP_API int32_t lp_mlp_model_create(lp_mlp *m, const lp_mlp_model_options *opt, lp_mlp_model **out,
                                   lp_error *err);

/* NULL is a no-op. */
LP_API void lp_mlp_model_destroy(lp_mlp_model *a);

/* The callbacks to pass to lp_session_train; user is the adapter. */
LP_API lp_model lp_mlp_model_callbacks(lp_mlp_model *a);

/* Adam as torch.optim.Adam (bias correction included), after global
 * gradient-norm clipping as torch.nn.utils.clip_grad_norm_ (norm in f64),
 * with a learning rate the program anneals. docs/model.md has the math. */
typedef struct lp_adam lp_adam;

typedef struct lp_adam_options {
    uint32_t struct_size; /* set by lp_adam_options_init */
    int32_t reserved;
    double lr;            /* base learning rate; default 2.5e-4 */
    double beta1;         /* default 0.9 */
    double beta2;         /* default 0.999 */
    double eps;           /* default 1e-5 (CleanRL; torch's is 1e-8) */
    double max_grad_norm; /* clip the global L2 norm to this; default 0.5;
                             0: no clipping */
} lp_adam_options;

LP_API void lp_adam_options_init(lp_adam_options *opt);

/* Moments zeroed, step 0, lr = opt->lr. On error *out is NULL. */
LP_API int32_t lp_adam_create(const lp_adam_options *opt, size_t param_count, lp_adam **out,
                              lp_error *err);

/* NULL is a no-op. */
LP_API void lp_adam_destroy(lp_adam *a);

/* Clip `grads` in place, then update `params` (both `count` = param_count
 * floats). A non-finite gradient norm is LP_ENUMERIC and changes nothing. */
LP_API int32_t lp_adam_step(lp_adam *a, float *params, float *grads, size_t count, lp_error *err);

/* lp_adam_step as an lp_optim_step_fn: `user` is the lp_adam. */
LP_API int32_t lp_adam_step_fn(void *user, float *params, float *grads, size_t count,
                               const lp_ctx *ctx, lp_error *err);

/* The learning rate in use, and setting it: absolutely, or as a fraction
 * (0 .. 1) of the base lr (annealing). LP_ERANGE for a negative or non-finite
 * value or a fraction above 1. */
LP_API double lp_adam_lr(const lp_adam *a);
LP_API int32_t lp_adam_set_lr(lp_adam *a, double lr, lp_error *err);
LP_API int32_t lp_adam_set_lr_fraction(lp_adam *a, double fraction, lp_error *err);

/* CleanRL's linear annealing: 1 - (update - 1) / num_updates for update 1 ..
 * num_updates (clamped to [0, 1]; 1.0 when num_updates <= 0). */
LP_API double lp_lr_linear_fraction(int64_t update, int64_t num_updates);

/* Steps taken, and the global gradient norm before clipping at the last step
 * (NaN before the first). */
LP_API int64_t lp_adam_step_count(const lp_adam *a);
LP_API double lp_adam_grad_norm(const lp_adam *a);

/* Zero the moments and the step count (the lr is kept). */
LP_API void lp_adam_reset(lp_adam *a);

/* Fill out[0..3) with "optimizer/m" [count] f32, "optimizer/v" [count] f32
 * and "optimizer/step" (i64 scalar): views of the optimizer's own state for
 * lp_session_save/load, valid until destroy. Returns LP_ADAM_TENSOR_COUNT. */
#define LP_ADAM_TENSOR_COUNT 3
LP_API size_t lp_adam_named_tensors(lp_adam *a, lp_named_tensor *out);

/* ---- training loop ------------------------------------------------------------ */

/* lp_train_run trains the reference MLP with Adam on a vectorised
 * environment, with the losses a config composes, through the same public
 * session API a program would use (docs/training.md): per epoch a rollout of
 * `horizon` steps over `num_envs` environments (one buffer row each), then
 * the session's train phase. Progress reaches the program through a
 * callback (lp_train_printer is a ready one); stats go to the session's
 * stats file; checkpoints hold the session, the model, the optimizer, the
 * trainer's counters and random state and the environment's snapshot, so a
 * resumed run continues bit for bit. Single-threaded: call from one thread;
 * nothing is allocated per step and nothing is printed unless the program
 * installs the printer. */

/* One scalar of a program-owned config section, for the environment's own
 * checks: `key` is the dotted path below the section ("num_envs",
 * "physics.gravity", "starts[0]"); `value` the scalar's text. */
typedef struct lp_config_entry {
    const char *key;
    const char *value;
    int32_t line; /* 1-based position of the value, for FILE:LINE:COLUMN */
    int32_t column;
    int32_t quoted; /* 1 when the scalar was quoted or a block scalar */
    int32_t reserved;
} lp_config_entry;

/* What the trainer tells an environment's `open` callback. Trainer-owned,
 * valid during the call. */
typedef struct lp_env_setup {
    uint32_t struct_size;
    int32_t resuming;     /* 1 when a checkpoint will be restored after reset */
    const char *config;   /* the config's path, for messages */
    const char *section;  /* the environment's section name ("env") */
    int32_t section_line; /* its key's position; 0 when the config has none */
    int32_t section_column;
    const lp_config_entry *entries; /* the section's scalars, file order */
    size_t entry_count;
    int64_t num_envs; /* buffer.segments: the environment must run this many */
    int64_t seed;     /* this process's seed: the trainer's (trainer.seed or the
                         options') on rank 0, one derived from it and the rank
                         on the others */
    int32_t rank;     /* this process in a data-parallel run (0 alone) */
    int32_t ranks;    /* processes in the run (1 alone) */
} lp_env_setup;

/* What an environment's `step` writes: trainer-owned arrays of num_envs rows,
 * observations f32 [num_envs, obs...] row-major. */
typedef struct lp_env_step_out {
    float *obs;               /* the next observations; where an episode ended, the
                                 next episode's first (the environment resets
                                 itself) */
    float *rewards;           /* the reward of the step */
    uint8_t *terminated;      /* 1: the episode ended in a terminal state */
    uint8_t *truncated;       /* 1: it was cut by a time limit (both may be set) */
    float *final_obs;         /* rows where an episode ended: the observation the
                                 step reached, before the reset (the trainer
                                 bootstraps V(final_obs) where truncated and not
                                 terminated); other rows: not read */
    float *episode_returns;   /* rows where an episode ended: its return */
    int32_t *episode_lengths; /* rows where an episode ended: its length */
} lp_env_step_out;

/* A vectorised environment with f32 observations and a discrete, multi-
 * discrete or box action (docs/training.md "Action spaces"). Program-owned; the trainer copies the
 * struct and calls the callbacks from the thread that called lp_train_run, with `user`. Every
 * callback that can fail returns LP_OK or fills `err` and returns a negative status, which ends the
 * run with that error. */
typedef struct lp_env {
    uint32_t struct_size; /* set by lp_env_init */
    int32_t obs_rank;     /* observation shape (f32), per environment */
    int64_t obs_shape[LP_MAX_RANK];
    int64_t num_actions; /* DISCRETE: the number of actions (> 0); else 0 */
    int64_t num_envs;    /* environments stepped together; 0: buffer.segments.
                            Must equal buffer.segments (one buffer row each) */
    void *user;
    /* Optional: called once, before anything else, with the config's
     * environment section; may set obs_rank, obs_shape, num_actions and
     * num_envs of `env` (the trainer's copy). */
    int32_t (*open)(struct lp_env *env, const lp_env_setup *setup, lp_error *err);
    /* Start an episode in every environment; write the first observations
     * into obs [num_envs, obs...]. Called once per run. */
    int32_t (*reset)(void *user, float *obs, lp_error *err);
    /* Apply actions [num_envs] (each in 0 .. num_actions-1; MULTI_DISCRETE:
     * [num_envs, action_dims], component k in 0 .. action_nvec[k]-1) to
     * every environment, fill `out`, reset the environments whose episode
     * ended. A BOX environment sets step_box instead. */
    int32_t (*step)(void *user, const int32_t *actions, const lp_env_step_out *out, lp_error *err);
    /* Optional: a teacher's view of the current observations obs
     * [num_envs, obs...]. Fill what is not NULL: actions [num_envs],
     * logits [num_envs, num_actions], values [num_envs]. With a teacher the
     * trainer can write the fields teacher_actions, teacher_logits and
     * teacher_values. */
    int32_t (*teacher)(void *user, const float *obs, int32_t *actions, float *logits, float *values,
                       lp_error *err);
    /* Optional, all three or none: everything that determines the
     * environment's future as bytes, for checkpoints. snapshot_size is fixed
     * after reset; restore gets a snapshot of an environment of the same
     * configuration (refuse anything else with an error). */
    size_t (*snapshot_size)(void *user);
    int32_t (*snapshot)(void *user, void *buf, size_t size, lp_error *err);
    int32_t (*restore)(void *user, const void *buf, size_t size, lp_error *err);
    /* The action space; lp_env_init sets DISCRETE (num_actions). `open` may
     * set all of these. The arrays are program-owned and must stay valid
     * until lp_train_run returns. */
    int32_t action_space;       /* lp_action_space */
    int32_t action_dims;        /* MULTI_DISCRETE: components; BOX: dimensions */
    const int64_t *action_nvec; /* MULTI_DISCRETE: action_dims counts (each >= 1) */
    const float *action_low;    /* BOX: action_dims bounds (-INFINITY allowed) */
    const float *action_high;   /* BOX: action_dims bounds (INFINITY allowed) */
    /* BOX: apply actions [num_envs, action_dims], the policy's samples
     * clipped to [action_low, action_high] (the buffer keeps the samples);
     * otherwise as step. */
    int32_t (*step_box)(void *user, const float *actions, const lp_env_step_out *out,
                        lp_error *err);
} lp_env;

/* Zero `env` and set struct_size. */
LP_API void lp_env_init(lp_env *env);

typedef enum lp_train_event {
    LP_TRAIN_EVENT_START = 1,      /* before the first epoch (after a resume) */
    LP_TRAIN_EVENT_RESUMED = 2,    /* a checkpoint was loaded: load_report */
    LP_TRAIN_EVENT_EPOCH = 3,      /* an epoch (rollout and train) ended */
    LP_TRAIN_EVENT_CHECKPOINT = 4, /* a checkpoint was written: path */
    LP_TRAIN_EVENT_END = 5,        /* the run ended: outcome */
} lp_train_event;

typedef enum lp_train_stop {
    LP_TRAIN_STOP_NONE = 0,
    LP_TRAIN_STOP_BUDGET = 1,      /* env steps reached the budget */
    LP_TRAIN_STOP_SOLVED = 2,      /* mean return reached the target */
    LP_TRAIN_STOP_INTERRUPTED = 3, /* SIGINT (with handle_sigint) */
    LP_TRAIN_STOP_CALLBACK = 4,    /* the progress callback asked to stop */
} lp_train_stop;

/* How a run ended. */
typedef struct lp_train_outcome {
    uint32_t struct_size;
    int32_t solved;      /* 1 when the mean return reached the target */
    int32_t stop_reason; /* lp_train_stop */
    int32_t reserved;
    int64_t epochs;          /* epochs done, a resumed run's included */
    int64_t env_steps;       /* env steps so far, a resumed run's included */
    int64_t episodes;        /* episodes finished, a resumed run's included */
    double seconds;          /* wall time of this call */
    double steps_per_second; /* env steps of this call / seconds */
    double mean_return;      /* mean of the last return_window episodes; NaN before any */
} lp_train_outcome;

/* What the progress callback receives. Trainer-owned, valid during the call. */
typedef struct lp_train_progress {
    uint32_t struct_size;
    int32_t event; /* lp_train_event */
    int64_t epoch; /* epochs done */
    int64_t env_steps;
    int64_t episodes;                  /* episodes finished so far */
    int64_t window_count;              /* episodes in the mean (at most return_window) */
    double mean_return;                /* mean return of those; NaN when none */
    double total_loss;                 /* the last train phase's (NaN before one) */
    double seconds;                    /* since lp_train_run started */
    double steps_per_second;           /* env steps of this call / seconds */
    double learning_rate;              /* in use in the last train phase */
    int64_t log_every;                 /* trainer.log_every, for printers */
    const lp_session *session;         /* stats by name (lp_session_stat) */
    const char *path;                  /* CHECKPOINT, RESUMED: the file */
    const lp_load_report *load_report; /* RESUMED: what was restored */
    const lp_train_outcome *outcome;   /* END */
    const lp_train_summary *summary;   /* EPOCH: the train phase (minibatches, early stop) */
    const float *params;               /* the model's parameters (lp_mlp_params), read-only */
    size_t param_count;
    int32_t rank;  /* this process, of `ranks` (docs/distributed.md); episodes, */
    int32_t ranks; /* env steps, returns and stats above are the whole job's */
} lp_train_progress;

/* Return 0 to go on, nonzero to stop after this event (a checkpoint is then
 * written when a checkpoint path is set). */
typedef int (*lp_train_progress_fn)(void *user, const lp_train_progress *p);

typedef struct lp_train_options {
    uint32_t struct_size; /* set by lp_train_options_init */
    /* Plugin search, as lp_session_options. */
    const char *const *plugin_paths;
    size_t plugin_path_count;
    int use_env_path;        /* default 1 */
    int use_install_dir;     /* default 1 */
    int allow_insecure;      /* default 0 */
    const char *env_section; /* the environment's config section; default "env" */
    /* More top-level sections the program owns (not model, optimizer,
     * trainer nor env_section, which are always accepted). Copied. */
    const char *const *sections;
    size_t section_count;
    const char *stats_path; /* overrides the config's stats.path; NULL: keep */
    int seed_set;           /* 1: `seed` overrides trainer.seed and buffer.seed */
    int64_t seed;
    int64_t max_steps;             /* > 0: stop at this many env steps instead of
                                      trainer.total_steps (the lr anneal keeps
                                      trainer.total_steps). Both are one rank's:
                                      N ranks stop at N times it */
    int target_set;                /* 1: `target_return` overrides trainer.target_return */
    double target_return;          /* stop when the mean return reaches it; NaN: never */
    const char *checkpoint_path;   /* written every trainer.checkpoint_every epochs,
                                      at the end and on a stop; NULL: none */
    const char *resume_path;       /* load this checkpoint before training */
    int resume_strict;             /* 1: the checkpoint must match every instance; default 0:
                                      restore what matches by name, report the rest */
    int handle_sigint;             /* 1: SIGINT stops the run at the next epoch boundary,
                                      with a checkpoint; the previous handler is restored
                                      before returning. Default 0 */
    lp_train_progress_fn progress; /* may be NULL */
    void *progress_user;
    lp_log_fn log; /* plugin logs, host and trainer notices; may be NULL */
    void *log_user;
    /* Data-parallel training (lossplug/comm.h, docs/distributed.md): every
     * rank runs lp_train_run with the same config and its own environments;
     * gradients are averaged before each optimizer step, only rank 0 writes
     * stats and checkpoints. Borrowed for the call. NULL: one process. */
    const struct lp_comm *comm;
    /* 1: lp_session_options.check_fields for the run's session (a debug
     * check: a hook that changes a field its loss declared read-only fails
     * the run). Default 0. (Added with ABI 1.1 field updates.) */
    int check_fields;
} lp_train_options;

LP_API void lp_train_options_init(lp_train_options *opt);

/* Train on `env` with the config at `path` (its own sections: model,
 * optimizer, trainer; the environment's section is handed to env->open
 * untouched). Every check happens before the first step: the config
 * (FILE:LINE:COLUMN), the plugins, the merged spec against the fields the
 * trainer writes (obs, actions, logprobs, values, rewards, dones,
 * truncateds, next_values, and with a teacher teacher_actions,
 * teacher_logits, teacher_values: the config's program.fields may list any
 * of them, and then exactly those are written). Returns LP_OK when the run
 * ended by the budget, the target, SIGINT or the callback (see
 * outcome->stop_reason); `outcome` may be NULL. */
LP_API int32_t lp_train_run(const char *path, const lp_train_options *opt, const lp_env *env,
                            lp_train_outcome *outcome, lp_error *err);

/* A ready progress callback: on a terminal one live line rewritten with \r
 * (epoch, env steps, steps/s, mean return of the last episodes, total loss),
 * elsewhere one line every `every` epochs (0: trainer.log_every), plus a line
 * per checkpoint, resume and the end. Writes to `stream` only. */
typedef struct lp_train_printer {
    uint32_t struct_size; /* set by lp_train_printer_init */
    int32_t live;         /* 1: \r line; set by init from isatty(stream) */
    void *stream;         /* a FILE *, e.g. stderr */
    int64_t every;
    int32_t line_open; /* internal: a live line is on screen */
    int32_t verbose;   /* 1: a resume names every entry; 0 (init): counts and the first few */
} lp_train_printer;

/* `stream` is a FILE * (stderr when NULL). */
LP_API void lp_train_printer_init(lp_train_printer *p, void *stream, int64_t every);

/* An lp_train_progress_fn: `user` is an lp_train_printer. Never asks to stop. */
LP_API int lp_train_print_progress(void *user, const lp_train_progress *p);

#ifdef __cplusplus
}
#endif

#endif /* LOSSPLUG_HOST_H */
