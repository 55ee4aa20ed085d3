/*
 * Internal: the training loop (lossplug/host.h "training loop"), shared by
 * the files of host/train. One idea per file:
 *   train_config.c  the trainer's own config sections (model, optimizer,
 *                   trainer) and the environment section's entries
 *   train.c         lp_train_run: setup, the epoch loop, stop conditions
 *   rollout.c       one rollout: forward, sampling, env step, fields
 *   persist.c       checkpoints: the extra tensors, save, resume
 *   sigint.c        the optional SIGINT handler and its flag
 *   distrib.c       data-parallel training over an lp_comm: seeds, the
 *                   gradient all-reduce, agreed stops, reduced stats
 *   persist_ranks.c checkpoints of several ranks: gather, read and broadcast
 *   printer.c       lp_train_printer
 * Nothing here is API; every non-static name is lp__*.
 */
#ifndef LP_TRAIN_IMPL_H
#define LP_TRAIN_IMPL_H

#include "util/message.h"

#include <lossplug/comm.h>
#include <lossplug/config.h>
#include <lossplug/host.h>

#include <lossplug/rnn.h>

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* The sections the trainer owns in a config. */
#define LP__TRAIN_SECTION_MODEL     "model"
#define LP__TRAIN_SECTION_OPTIMIZER "optimizer"
#define LP__TRAIN_SECTION_TRAINER   "trainer"

/* `model.type` */
enum { LP__MODEL_MLP = 0, LP__MODEL_GRU = 1 };

/* `model:` */
typedef struct lp__model_cfg {
    int32_t type;        /* LP__MODEL_*; default mlp */
    int64_t memory;      /* gru: the state size M; default 128 */
    double critic_trunk; /* gru: lp_gru_options.critic_trunk; default 1 */
    int hidden_set;      /* model.hidden was given */
    lp__pos type_pos;    /* the model.type value (line 0 when absent) */
    lp__pos hidden_seq_pos;
    int64_t hidden[LP_MLP_MAX_HIDDEN];
    size_t hidden_count;
    int32_t activation; /* lp_activation */
    int32_t shared;
    int seed_set;
    int64_t seed;
    double hidden_gain, actor_gain, critic_gain;
    int64_t max_bytes;                     /* model.max_bytes; 0: half the physical memory */
    lp__pos pos;                           /* the `model` key (line 0 when absent) */
    lp__pos hidden_pos[LP_MLP_MAX_HIDDEN]; /* each model.hidden entry */
} lp__model_cfg;

/* `optimizer:` */
typedef struct lp__optim_cfg {
    double lr, eps, beta1, beta2, max_grad_norm;
    int32_t anneal_lr;
} lp__optim_cfg;

/* `trainer:` */
typedef struct lp__trainer_cfg {
    int64_t total_steps;
    int target_set;
    double target_return;
    int64_t return_window;
    int64_t seed;
    int64_t checkpoint_every; /* epochs; 0: only at the end */
    int64_t log_every;        /* epochs */
    int64_t blas_threads;     /* OpenBLAS threads; -1: 1 unless the environment sets them */
} lp__trainer_cfg;

/* What the trainer reads of lossplug's own sections (buffer, program),
 * through lossplug/config.h. Positions: line 0 when absent. */
typedef struct lp__train_buffer {
    int64_t segments, horizon, minibatch_segments;
    int32_t sample; /* lp_sample_mode */
    lp__kvpos segments_pos, sample_pos;
} lp__train_buffer;

/* One entry of program.fields or program.outputs: its name (decl.name
 * only: the session checks the types) and where it is. */
typedef struct lp__train_decl {
    lp_decl decl;
    lp__kvpos pos;
} lp__train_decl;

typedef struct lp__train_program {
    int has_fields;
    size_t field_count;
    const lp__train_decl *fields;
    lp__kvpos fields_pos;
    int has_outputs;
    size_t output_count;
    const lp__train_decl *outputs;
    lp__kvpos outputs_pos;
} lp__train_program;

/* The config as the trainer sees it. */
typedef struct lp__train_file {
    const char *file; /* the display name, config-owned */
    lp__train_buffer buffer;
    lp__train_program program;
} lp__train_file;

/* Everything the trainer reads from a config. Owns `config` and the arrays
 * below. */
typedef struct lp__train_cfg {
    lp_config *config;
    lp__train_file cfg;
    lp__train_decl *decls; /* program.fields then program.outputs */
    lp__model_cfg model;
    lp__optim_cfg optim;
    lp__trainer_cfg trainer;
    /* the environment section's scalars (config-owned strings), file order,
     * without the keys the trainer reads itself */
    lp_config_entry *entries;
    size_t entry_count;
    int32_t env_line, env_column;
    int32_t normalize_obs; /* env.normalize_obs (taken out of the entries) */
} lp__train_cfg;

/* Open the config at `path` with the trainer's sections, the environment
 * section and `extra` as the program's (lp_config_open), and read the
 * trainer's sections strictly with lp_config_read (FILE:LINE:COLUMN
 * errors). On error nothing is left allocated. */
int32_t lp__train_cfg_read(const char *path, const char *env_section, const char *const *extra,
                           size_t extra_count, lp__train_cfg *out, lp_error *err);
void lp__train_cfg_free(lp__train_cfg *tc);

/* The SIGINT handler (sigint.c): install, restore the previous one, and the
 * flag the handler sets. */
typedef struct lp__sigint_saved {
    struct sigaction old;
    int installed;
} lp__sigint_saved;

int32_t lp__sigint_install(lp__sigint_saved *saved, lp_error *err);
void lp__sigint_restore(lp__sigint_saved *saved);
int lp__sigint_pending(void);

/* ---- the trainer's state during lp_train_run ----------------------------------- */

/* Per-step field base pointers into the session's buffer (each field is
 * [segments, horizon, ...], contiguous); NULL when the field is not in the
 * buffer. */
typedef struct lp__fields {
    float *obs;
    int32_t *actions; /* DISCRETE and MULTI_DISCRETE */
    float *actions_f; /* BOX */
    float *logprobs;
    float *values;
    float *rewards;
    uint8_t *dones;
    uint8_t *truncateds;
    float *next_values;
    int32_t *teacher_actions;
    float *teacher_logits;
    float *teacher_values;
    float *memory_start; /* recurrent model: [segments, horizon, M], step 0 written */
} lp__fields;

/* trainer/counters */
enum { LP__CTR_EPISODES = 0, LP__CTR_RING_POS = 1, LP__CTR_RING_COUNT = 2, LP__CTR_COUNT = 3 };

typedef struct lp__trainer {
    const lp_train_options *opt;
    lp__train_cfg tc;
    lp_env env;          /* the program's, after open */
    int64_t n;           /* environments = buffer rows */
    int64_t horizon;     /* steps per rollout */
    int64_t obs_dim;     /* flattened observation size */
    int64_t A;           /* the policy output's width (lp_env_info.policy_width) */
    int32_t space;       /* lp_action_space */
    int64_t K;           /* action components: 1, or the env's action_dims */
    const int64_t *nvec; /* MULTI_DISCRETE: the env's counts */
    const float *low;    /* BOX: the env's bounds */
    const float *high;
    int64_t seed;        /* the run's seed */
    int64_t budget;      /* stop at this many env steps of the job (N ranks: N x one rank's) */
    double target;       /* stop at this mean return; NaN: never */
    int64_t num_updates; /* the lr anneal's length in epochs */

    lp_session *s;
    lp_mlp *mlp;
    lp_adam *adam;
    lp_mlp_model *adapter;
    lp_gru *gru;               /* model.type gru: the model (t->mlp is NULL) */
    lp_gru_model *gru_adapter; /* and its adapter */
    float *mem;                /* [n, M]: each environment's state before its next step */
    float *mem_boot;           /* [n, M]: scratch for bootstrap values */
    lp__fields f;

    /* rollout work arrays, allocated once */
    float *obs;            /* [n, obs_dim]: the current observations */
    float *logits;         /* [n, A] */
    float *box_actions;    /* BOX: [n, K] the samples */
    float *box_applied;    /* BOX: [n, K] clipped to the bounds, for the env */
    int32_t normalize_obs; /* env.normalize_obs */
    float *obs_n;          /* [n, obs_dim] the normalised observations */
    double *obs_stats;     /* [2 * obs_dim + 1] mean, var, count (trainer/obs_norm) */
    double *obs_scratch;   /* [2 * obs_dim] a batch's mean and squared deviations */
    float *values;         /* [n] */
    float *logprobs;       /* [n] */
    int32_t *actions;      /* [n, K] */
    float *rewards;
    uint8_t *terminated, *truncated;
    float *final_obs; /* [n, obs_dim] */
    float *ep_returns;
    int32_t *ep_lengths;
    int32_t *t_actions; /* teacher outputs, when those fields are in the buffer */
    float *t_logits, *t_values;
    float *boot_obs; /* [n, obs_dim]: final observations to bootstrap from */
    float *boot_values;
    int64_t *boot_rows;

    /* episodes: a ring of the last `window` returns and lengths */
    double *returns;
    double *lengths;
    int64_t window;
    int64_t counters[LP__CTR_COUNT];
    uint64_t rng[4]; /* action sampling: xoshiro256** */

    unsigned char *snap; /* the environment's snapshot */
    size_t snap_size;
    lp_named_tensor *extra; /* what checkpoints hold besides the session */
    size_t extra_count;

    double t_start;
    int64_t steps_start;
    double last_loss;
    double last_lr;
    /* program stats (lp_session_stat_register) */
    int32_t stat_return, stat_length, stat_sps;

    /* data-parallel training (distrib.c, persist_ranks.c) */
    lp_comm comm;         /* opt->comm, or the single-process one */
    int64_t rank_seed;    /* this rank's environment and sampler seed */
    double ep_return;     /* the whole job's mean return of the last windows */
    double ep_length;     /* and mean length */
    int64_t ep_count;     /* episodes in those means: every rank's window */
    int64_t ep_episodes;  /* episodes finished, every rank */
    unsigned char *blobs; /* rank 0: every rank's own checkpoint entries */
    unsigned char *blob;  /* this rank's, packed for the gather */
    size_t blob_size;     /* bytes of one rank's entries */
    size_t own_first;     /* t->extra: index of the first per-rank entry */
    size_t own_count;     /* per-rank entries per rank */
    char *rank_names;     /* "rank<r>/..." names of the other ranks' entries */
} lp__trainer;

/* policy.c */
/* Sample t->actions (or box_actions and box_applied) and t->logprobs from
 * t->logits for every environment. */
void lp__policy_sample(lp__trainer *t);
/* env.normalize_obs: the initial statistics, merging `rows` observations
 * into them, and normalising `rows` observations (in may equal out). */
void lp__obs_norm_reset(lp__trainer *t);
void lp__obs_norm_update(lp__trainer *t, const float *obs, int64_t rows);
void lp__obs_norm_apply(const lp__trainer *t, const float *in, float *out, int64_t rows);
/* recurrent.c: the model the config chose (MLP or GRU), as the rest of the
 * trainer sees it. */
int32_t lp__model_build_gru(lp__trainer *t, int64_t max_batch, lp_error *err);
float *lp__model_params(lp__trainer *t);
size_t lp__model_param_count(const lp__trainer *t);
size_t lp__model_tensor_count(const lp__trainer *t);
size_t lp__model_named_params(lp__trainer *t, lp_named_tensor *out, size_t cap);
/* The policy's forward on `obs` (t->obs, or its normalised copy) for every
 * environment into t->logits and t->values; a recurrent model advances
 * t->mem. */
int32_t lp__model_act(lp__trainer *t, const float *obs, lp_error *err);
/* Values of `count` observations: rows[i] is the environment whose state
 * (t->mem, not advanced) goes with obs row i; rows NULL: environment i. */
int32_t lp__model_values(lp__trainer *t, const float *obs, const int64_t *rows, int64_t count,
                         float *values, lp_error *err);
/* Recurrent model: store the states before step 0 (rollout step 0), and
 * zero the state of every environment whose episode ended. No-ops for the
 * MLP. */
void lp__model_store_start(lp__trainer *t);
void lp__model_reset_done(lp__trainer *t);

/* rollout.c */
void lp__train_rng_seed(uint64_t s[4], uint64_t seed);
/* One rollout of `horizon` steps (the session's rollout_start done). */
int32_t lp__rollout(lp__trainer *t, lp_error *err);
/* LP_ENUMERIC naming the environment, env index and step when an
 * observation, reward, episode return or final observation is not finite
 * (step < 0: after reset, observations only). */
int32_t lp__env_values_check(const lp__trainer *t, int64_t step, lp_error *err);
double lp__mean_return(const lp__trainer *t);
double lp__mean_length(const lp__trainer *t);

/* persist.c */
int32_t lp__persist_setup(lp__trainer *t, lp_error *err);
int32_t lp__persist_save(lp__trainer *t, const char *path, lp_error *err);
int32_t lp__persist_load(lp__trainer *t, const char *path, lp_load_report **report, lp_error *err);

/* distrib.c: each is a no-op or local computation with one rank. */
/* Check opt->comm (or take the local one); this rank's seed. */
int32_t lp__dist_setup(lp__trainer *t, lp_error *err);
/* Rank 0's initial parameters to every rank. */
int32_t lp__dist_broadcast_params(lp__trainer *t, lp_error *err);
/* The optimizer step the model adapter calls: averages the gradients
 * across ranks and agrees on a loss's stop request, then Adam. */
int32_t lp__dist_step(void *user, float *params, float *grads, size_t count, const lp_ctx *ctx,
                      lp_error *err);
/* lp_session_options.stats_reduce. */
int32_t lp__dist_stats_reduce(void *user, double *sums, double *counts, size_t n, lp_error *err);
/* ep_return, ep_length, ep_count, ep_episodes of the whole job. */
int32_t lp__dist_episodes(lp__trainer *t, lp_error *err);
/* Whether any rank saw SIGINT or a progress callback asking to stop. */
int32_t lp__dist_agree(lp__trainer *t, int *sigint, int *want_stop, lp_error *err);

/* persist_ranks.c: with more than one rank. */
/* Give the per-rank entries t->extra[first ..] one copy per rank. */
int32_t lp__persist_ranks_setup(lp__trainer *t, size_t first, lp_error *err);
/* Gather every rank's entries into rank 0's copies (called by every rank). */
int32_t lp__persist_ranks_gather(lp__trainer *t, lp_error *err);
/* Rank 0 reads `path`, every rank restores from the broadcast bytes, each
 * trainer entry checked by `check` (user: t) before anything is restored. */
int32_t lp__persist_ranks_load(lp__trainer *t, const char *path, lp_load_check_fn check,
                               lp_load_report **report, lp_error *err);
/* Any rank: refuse a checkpoint of more ranks than this run has. */
int32_t lp__persist_ranks_check(const lp__trainer *t, const char *path, const lp_load_report *r,
                                lp_error *err);

/* train.c */
double lp__now(void);
void lp__train_log(const lp__trainer *t, int32_t level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
