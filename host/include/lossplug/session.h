/*
 * lossplug/session.h: sessions, the losses a config composes over one
 * buffer, driven by the program (docs/embedding.md). Part of liblossplug
 * (pkg-config lossplug), which links no BLAS.
 * A program with its own model needs only this, lossplug/model.h (included)
 * and lossplug/checkpoint.h.
 *
 * The rules of lossplug/registry.h hold for every function here (status
 * and lp_error, no global state, one thread per object, nothing printed).
 */
#ifndef LOSSPLUG_SESSION_H
#define LOSSPLUG_SESSION_H

#include <lossplug/model.h>
#include <lossplug/registry.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

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
    /* The model, handed over once (docs/embedding.md "The model"): every
     * lp_session_train trains it. The host extension "lossplug.model/1"
     * (expert_ce uses it) is offered only when it has forward_aux,
     * backward_aux and memory_size. Open calls memory_size(user) once and
     * nothing else, so `user` may be an adapter bound after open
     * (lp_mlp_model_bind). The struct is copied; what it points to stays the
     * program's, valid during every lp_session_train. NULL (default): each
     * lp_session_train is given the model; the extension is not offered. */
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
    /* The session's registry's lp_registry_options.scan. The registry is
     * opened with only_ids (the config's plugins), so the default,
     * LP_SCAN_AUTO, runs lossplug-scan on every plugin file the scan cache
     * does not know and loads only the files that provide a plugin the
     * config names: a plugin elsewhere in the search path whose
     * constructor or init crashes, exits or hangs is logged, not run here.
     * LP_SCAN_ON: the same. LP_SCAN_OFF: no scan (files the cache does not
     * know are loaded in-process). (Added in lossplug 0.2.) */
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
    /* The plugin search as registry options (lossplug/registry.h),
     * borrowed during lp_session_open. When not NULL, plugin_paths,
     * plugin_path_count, use_env_path, use_install_dir, allow_insecure and
     * scan_plugins above are not read: its fields are used instead (its
     * plugin_paths before the config's plugin_path; scan, scan_timeout_ms),
     * except its log: the registry's messages go to `log` above. Default
     * NULL: the fields above. (Added in lossplug 0.2.) */
    const lp_registry_options *registry;
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

/* How the train phase walks the buffer (lp_train_plan, lossplug/model.h).
 * Session-owned, valid until close. */
LP_API const lp_train_plan *lp_session_train_plan(const lp_session *s);

/* -- the lifecycle -- */

/* Start an epoch: annealed params are brought up to date and every instance
 * gets epoch_start. */
LP_API int32_t lp_session_epoch_start(lp_session *s, lp_error *err);

/* Start the rollout phase (rollout_start on instances enabled for it). */
LP_API int32_t lp_session_rollout_start(lp_session *s, lp_error *err);

/* The program stored step `t` (0 .. horizon-1) of every row: rollout_step on
 * enabled instances, then env_steps += segments. */
LP_API int32_t lp_session_rollout_step(lp_session *s, int64_t t, lp_error *err);

/* What a train phase did. An output the caller owns: it sets struct_size
 * to the size it has (`lp_train_summary sum = {.struct_size = sizeof sum};`)
 * and the session writes only what fits in that size (a program built
 * against an older lossplug gets the fields it knows, nothing past its
 * struct), then sets struct_size to what it wrote. Fields appended later say
 * the version that added them. */
typedef struct lp_train_summary {
    uint32_t struct_size;
    int32_t minibatches;    /* minibatches trained */
    int32_t update_epochs;  /* update epochs begun */
    int32_t stopped;        /* 1 when an instance asked to stop early */
    const char *stopped_by; /* that instance's name, or NULL; session-owned */
    double total_loss;      /* mean over minibatches of sum(weight * loss) */
    /* Added in lossplug 0.2: minibatches skipped as non-finite
     * (buffer.nonfinite: skip). */
    int32_t skipped;
} lp_train_summary;

/* The whole train phase: stats reset; train_start; for each update epoch
 * (segments shuffled with the seed, reproducibly): update_epoch_start, then
 * per minibatch: model forward once, each enabled instance's train with its
 * weight (gradients summed), model backward and step, minibatch_end; a stop
 * request ends the phase after its minibatch. Then train_end, the stats are
 * final, and when a stats path is set one line is appended to it. Ends the
 * epoch: the epoch counter advances. `summary` may be NULL; else its
 * struct_size must be at least the first layout's (through total_loss),
 * else LP_EINVAL and nothing runs. `model`: NULL
 * trains the one given at open (lp_session_options.model); a non-NULL model
 * must then be that one (same user and callbacks), else LP_EINVAL and
 * nothing runs. Without one at open it is required (borrowed for the call). */
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

#ifdef __cplusplus
}
#endif

#endif /* LOSSPLUG_SESSION_H */
