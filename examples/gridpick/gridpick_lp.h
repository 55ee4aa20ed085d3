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
 * The `env:` section: num_envs (= buffer.segments), seed, and the trainer's
 * normalize_obs. Snapshots make resumes bit for bit. */
#ifndef GRIDPICK_LP_H
#define GRIDPICK_LP_H

#include <lossplug/host.h>

#include <stdint.h>

#define GP_SIZE      5
#define GP_OBS_DIM   5
#define GP_MAX_STEPS 50

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
    uint64_t seed;
    int64_t nvec[2]; /* {5, 2} */
} gridpick_lp;

void gridpick_lp_init(gridpick_lp *g, lp_env *env);
void gridpick_lp_free(gridpick_lp *g);

/* One step of one environment with move m (0 .. 4) and pick k (0, 1): the
 * reward. Exposed for tests. */
double gp_dynamics(gp_state *s, int32_t move, int32_t pick);

#endif
