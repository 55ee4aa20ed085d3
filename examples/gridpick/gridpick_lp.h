/* gridpick_lp.h: a multi-discrete example environment (docs/gridpick.md).
 * An agent on a 5 x 5 grid collects items: each step it chooses a move
 * (stay, up, down, left, right) AND, independently, whether to pick up
 * (no, yes): the action is two categorical choices, nvec {5, 2}, as in
 * Metta's action space. The move happens first, then the pick: +1 when the
 * agent stands on the item (a new item appears on another cell), -0.01 for
 * a pick on an empty cell. 50-step episodes, then truncated.
 *
 *   observation  f32 [5]: agent x, y and item x, y (each / 4), and 1 when
 *                the agent stands on the item
 *   action       multi-discrete {5, 2}
 *
 * The `env:` section: num_envs (= buffer.segments), seed, flat_actions
 * (true: the same task with the product space flattened to one categorical
 * of 10 actions, a = 2 * move + pick, for the comparison in
 * docs/gridpick.md; examples/gridpick/ppo_flat.yaml), and the trainer's
 * normalize_obs. Snapshots make resumes bit for bit. */
#ifndef GRIDPICK_LP_H
#define GRIDPICK_LP_H

#include <lossplug/host.h>

#include <stdint.h>

#define GP_SIZE         5
#define GP_OBS_DIM      5
#define GP_MAX_STEPS    50
#define GP_FLAT_ACTIONS 10 /* env.flat_actions: 5 moves x 2 picks */

typedef struct gp_state {
    int32_t ax, ay, ix, iy;
    int32_t steps;
    int32_t reserved;
    double ep_return;
    uint64_t rng;
} gp_state;

typedef struct gridpick_lp {
    gp_state *envs;
    int64_t num_envs;
    int seed_forced;
    int flat; /* env.flat_actions */
    uint64_t seed;
    int64_t nvec[2]; /* {5, 2} */
} gridpick_lp;

void gridpick_lp_init(gridpick_lp *g, lp_env *env);
void gridpick_lp_free(gridpick_lp *g);

/* One step of one environment with move m (0 .. 4) and pick k (0, 1): the
 * reward. Exposed for tests. */
double gp_dynamics(gp_state *s, int32_t move, int32_t pick);

/* The scripted teacher: a move toward the item (x first, then y) and a
 * pick exactly when that move lands on it. */
void gp_teacher(const gp_state *s, int32_t *move, int32_t *pick);

/* Runs the teacher for num_steps steps over num_envs environments seeded
 * as gridpick-train's (seed) and writes the expert dataset to path
 * (docs/losses/expert_ce.md): version 2 with the multi-discrete {5, 2}
 * action, or (flat) version 1 with the 10 flat actions. mean_return (may be
 * NULL): the teacher's mean episode return. 0, or -1 (errno). */
int gp_expert_write(const char *path, int32_t num_envs, int64_t num_steps, uint64_t seed, int flat,
                    double *mean_return);

#endif
