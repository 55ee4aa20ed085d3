/* pendulum_lp.h: Pendulum-v1 written from Gymnasium's formulas
 * (gymnasium/envs/classic_control/pendulum.py) as an lp_env with a box
 * action, for lossplug's training loop (docs/pendulum.md).
 *
 *   observation  [cos theta, sin theta, theta_dot]            f32 [3]
 *   action       torque u in [-2, 2]                          box [1]
 *   dynamics     theta_dot' = clip(theta_dot + (3 g / (2 l) sin theta
 *                             + 3 / (m l^2) u) dt, -8, 8)
 *                theta' = theta + theta_dot' dt
 *                g 10, m 1, l 1, dt 0.05, u clipped to [-2, 2]
 *   reward       -(norm(theta)^2 + 0.1 theta_dot^2 + 0.001 u^2), norm(theta)
 *                in [-pi, pi)
 *   episodes     200 steps, then truncated (never terminated); a new one
 *                starts at theta ~ U(-pi, pi), theta_dot ~ U(-1, 1)
 *
 * The `env:` section it reads (every key optional; normalize_obs is the
 * trainer's): num_envs (must equal buffer.segments), seed (default the
 * trainer's). State in double precision as Gymnasium's; snapshots make
 * resumes bit for bit. */
#ifndef PENDULUM_LP_H
#define PENDULUM_LP_H

#include <lossplug/host.h>

#include <stdint.h>

#define PD_OBS_DIM    3
#define PD_MAX_SPEED  8.0
#define PD_MAX_TORQUE 2.0
#define PD_DT         0.05
#define PD_G          10.0
#define PD_M          1.0
#define PD_L          1.0
#define PD_MAX_STEPS  200

/* One pendulum: everything that decides its future. */
typedef struct pd_state {
    double theta, theta_dot;
    double ep_return;
    int32_t steps;
    int32_t reserved;
    uint64_t rng; /* splitmix64 state of this environment */
} pd_state;

typedef struct pendulum_lp {
    pd_state *envs; /* num_envs, created by open */
    int64_t num_envs;
    int seed_forced; /* 1: the trainer's seed wins over env.seed (--seed) */
    uint64_t seed;
    float low[1], high[1]; /* the action box */
} pendulum_lp;

/* Zero `p` and fill `env` with Pendulum's callbacks (user = p). */
void pendulum_lp_init(pendulum_lp *p, lp_env *env);

/* Free the environments. NULL is a no-op. */
void pendulum_lp_free(pendulum_lp *p);

/* One step of one pendulum with torque u (clipped here): the reward, and
 * the new state. Exposed for tests/pendulum. */
double pd_dynamics(pd_state *s, double u);

/* theta mapped to [-pi, pi). */
double pd_angle_normalize(double x);

#endif
