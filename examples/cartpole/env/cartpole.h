/* cartpole.h: CartPole-v1 exactly as Gymnasium defines it, vectorised over N
 * environments, a scripted teacher, and an expert dataset writer.
 *
 * The physics runs in double like Gymnasium's (Python floats / float64) and the
 * observations come out as float32, as Gymnasium's np.array(state, float32).
 * Environments auto-reset inside cp_step. No globals, no output, no
 * allocation after cp_create; one cp_env is used by one thread at a time.
 * The dynamics, the teacher and the dataset format are in docs/cartpole.md. */
#ifndef CARTPOLE_H
#define CARTPOLE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CP_OBS_DIM     4   /* x, x_dot, theta, theta_dot */
#define CP_NUM_ACTIONS 2   /* 0 pushes left, 1 pushes right */
#define CP_MAX_STEPS   500 /* TimeLimit of CartPole-v1 */
#define CP_X_THRESHOLD 2.4
#define CP_RESET_BOUND 0.05 /* reset draws each state variable from (-0.05, 0.05) */

/* Status codes: 0 is success, failures are negative. */
#define CP_ERRNO_MAP(X)                                                                            \
    X(OK, 0, "success")                                                                            \
    X(EINVAL, -1, "invalid argument")                                                              \
    X(ENOMEM, -2, "out of memory")                                                                 \
    X(EIO, -3, "input/output error")                                                               \
    X(EFORMAT, -4, "malformed or truncated data")

enum {
#define CP__ERRNO_ENUM(name, value, msg) CP_##name = value,
    CP_ERRNO_MAP(CP__ERRNO_ENUM)
#undef CP__ERRNO_ENUM
};

/* A static message for a status code; never NULL. */
const char *cp_strerror(int status);

typedef struct cp_env cp_env;

/* Creates n (>= 1) environments. Env i's random stream depends only on seed
 * and i, not on n. The environments need cp_reset before the first cp_step.
 * On success *out owns the memory (free with cp_free). */
int cp_create(cp_env **out, int32_t n, uint64_t seed);

/* Frees everything cp_create allocated; NULL is a no-op. */
void cp_free(cp_env *env);

/* The number of environments. */
int32_t cp_num_envs(const cp_env *env);

/* Starts a new episode in every environment (each draws from its own stream)
 * and writes the first observations to obs f32[n*4] (may be NULL). */
int cp_reset(cp_env *env, float *obs);

/* The current observations, f32[n*4], without stepping. */
int cp_observe(const cp_env *env, float *obs);

/* What cp_step writes: arrays owned by the caller, n rows each. */
typedef struct cp_step_out {
    float *obs;              /* f32[n*4], required: next observation; after an episode
                                ends, the new episode's first observation */
    float *reward;           /* f32[n], required: +1 on every step, the last included */
    uint8_t *terminated;     /* u8[n], required: the pole fell or the cart left */
    uint8_t *truncated;      /* u8[n], required: the 500th step. Both flags are set
                                when the 500th step also terminates (as Gymnasium) */
    float *final_obs;        /* f32[n*4], optional: the observation the step reached,
                                before any auto-reset (= obs where nothing ended);
                                bootstrap truncated episodes from it */
    float *episode_return;   /* f32[n], optional: the return of the episode that
                                ended at env i this step, 0 where none ended */
    int32_t *episode_length; /* i32[n], optional: its length in steps, 0 where none */
    int32_t num_finished;    /* set by cp_step: how many episodes ended this step */
} cp_step_out;

/* Applies actions i32[n] (each 0 or 1) to every environment, fills out, and
 * resets the environments whose episode ended. On error (NULL required
 * pointer, an action outside {0, 1}, no cp_reset yet) nothing changes. */
int cp_step(cp_env *env, const int32_t *actions, cp_step_out *out);

/* Env i's full state in double: x, x_dot, theta, theta_dot, and the number of
 * steps taken in its current episode. For tests and debugging. */
int cp_get_state(const cp_env *env, int32_t i, double state[4], int32_t *elapsed);

/* Overwrites env i's state and step count (0 <= elapsed < 500) and sets its
 * running return to elapsed; marks the environments as started. */
int cp_set_state(cp_env *env, int32_t i, const double state[4], int32_t elapsed);

/* Snapshots for checkpoints: everything that determines the future (states,
 * step counts, returns, random streams) as a little-endian byte blob.
 * cp_snapshot_size gives the size; cp_snapshot writes exactly that many bytes
 * to buf (size must be at least that); cp_restore accepts only a snapshot of an
 * env with the same n and returns CP_EFORMAT for anything else. */
size_t cp_snapshot_size(const cp_env *env);
int cp_snapshot(const cp_env *env, void *buf, size_t size);
int cp_restore(cp_env *env, const void *buf, size_t size);

/* ---- The scripted teacher ------------------------------------------------
 * A linear stabiliser on the observation: push right (1) when
 * k . obs > 0, with k = CP_TEACHER_K_*; left (0) otherwise. */
#define CP_TEACHER_K_X         0.5f
#define CP_TEACHER_K_X_DOT     1.0f
#define CP_TEACHER_K_THETA     20.0f
#define CP_TEACHER_K_THETA_DOT 3.0f

/* A logit scale whose softmax gives the teacher's action probability
 * 1 / (1 + exp(-2 c / T)) at temperature T: 0.982 at T = 1, 0.881 at T = 2. */
#define CP_TEACHER_LOGIT_SCALE 2.0f

/* The teacher's action for each of n observations obs f32[n*4]. */
void cp_teacher_actions(const float *obs, int32_t n, int32_t *actions);

/* The teacher's logits f32[n*2]: +c for its action and -c for the other. */
void cp_teacher_logits(const float *obs, int32_t n, float c, float *logits);

/* ---- The expert dataset (format in docs/losses/expert_ce.md) -------------- */
#define CP_EXPERT_MAGIC       "LPEXPERT" /* the lossplug expert dataset format */
#define CP_EXPERT_VERSION     1u
#define CP_EXPERT_HEADER_SIZE 64u
#define CP_EXPERT_RECORD_SIZE 24u /* with the full observation: 4 * obs_dim + 8 */

/* What a writer saw while recording. */
typedef struct cp_expert_summary {
    uint64_t records;   /* num_envs * num_steps */
    int64_t episodes;   /* episodes that ended while recording */
    double mean_return; /* their mean return (0 if none) */
} cp_expert_summary;

/* Runs the teacher for num_steps steps over num_envs environments created
 * with seed and writes the dataset to path (through path.tmp and a rename).
 * summary may be NULL. CP_EIO if a file operation fails (errno tells why). */
int cp_expert_write(const char *path, int32_t num_envs, int64_t num_steps, uint64_t seed,
                    cp_expert_summary *summary);
/* The same; position_only: the records hold [x, theta] only (obs_dim 2,
 * the velocities hidden). The teacher still acts on the full state. */
int cp_expert_write_obs(const char *path, int32_t num_envs, int64_t num_steps, uint64_t seed,
                        int position_only, cp_expert_summary *summary);

/* CRC-32 (IEEE 802.3, reflected, the zlib one) of n bytes, continuing from
 * crc (start from 0). */
uint32_t cp_crc32(uint32_t crc, const void *data, size_t n);

#ifdef __cplusplus
}
#endif

#endif
