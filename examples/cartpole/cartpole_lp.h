/* cartpole_lp.h: the CartPole simulator (env/cartpole.h) as an lp_env for
 * lossplug's training loop (lossplug/host.h "training loop").
 *
 * It is what any simulator writes to use lp_train_run: an open callback that
 * reads the simulator's own config section, reset and step that map the
 * simulator's arrays onto lp_env_step_out, the scripted teacher, and
 * snapshots for bit-for-bit resumes. See docs/training.md.
 *
 * The `env:` section it reads (every key optional):
 *   num_envs:            must equal buffer.segments (one buffer row per env)
 *   seed:                the simulator's seed; default the trainer's seed
 *   teacher_logit_scale: the teacher's logits are +-this (default 2.0)
 *   teacher_value:       the value the teacher reports for every state
 *                        (default 100 = 1 / (1 - 0.99): the discounted return
 *                        of a policy that never falls, bootstrapped through
 *                        time limits)
 *   observe:             full (default: x, x_dot, theta, theta_dot) or
 *                        position (x, theta only: the velocities hidden, a
 *                        partially observable task that needs memory;
 *                        docs/cartpole.md). The teacher still sees the full
 *                        state (it is privileged). */
#ifndef CARTPOLE_LP_H
#define CARTPOLE_LP_H

#include "cartpole.h"

#include <lossplug/host.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CARTPOLE_LP_POSITION_DIM 2 /* observe: position: x, theta */

typedef struct cartpole_lp {
    cp_env *env;               /* created by the open callback */
    int seed_forced;           /* 1: the trainer's seed wins over env.seed (--seed) */
    uint64_t seed;             /* the seed in use, after open */
    float teacher_logit_scale; /* after open */
    float teacher_value;
    int position_only; /* observe: position */
    float *full;       /* position_only: [num_envs * 4] scratch for obs */
    float *full_final; /* and for final observations */
} cartpole_lp;

/* Zero `c` and fill `env` with CartPole's callbacks (user = c). */
void cartpole_lp_init(cartpole_lp *c, lp_env *env);

/* Free the simulator. NULL is a no-op. */
void cartpole_lp_free(cartpole_lp *c);

#ifdef __cplusplus
}
#endif

#endif
