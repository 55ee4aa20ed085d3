/*
 * lossplug/train.h: the training loop, lp_train_run, which trains the
 * reference model with Adam on a program's vectorised environment
 * (docs/training.md), and a ready progress printer. Part of
 * liblossplug-train (pkg-config lossplug-train).
 *
 * The rules of lossplug/registry.h hold for every function here (status
 * and lp_error, no global state, one thread per object, nothing printed).
 */
#ifndef LOSSPLUG_TRAIN_H
#define LOSSPLUG_TRAIN_H

#include <lossplug/checkpoint.h>
#include <lossplug/config.h>
#include <lossplug/session.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

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
    /* The plugin search as registry options, as
     * lp_session_options.registry: when not NULL, plugin_paths,
     * plugin_path_count, use_env_path, use_install_dir and allow_insecure
     * above are not read. Borrowed for the call. Default NULL. (Added in
     * lossplug 0.2.) */
    const lp_registry_options *registry;
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

#endif /* LOSSPLUG_TRAIN_H */
