/* The expert dataset writer: the teacher drives num_envs environments for
 * num_steps steps and every (observation, action, episode start) it saw
 * becomes a record, in the lossplug expert dataset format (docs/losses/
 * expert_ce.md) with obs_dim 4 (or 2: x and theta, the velocities hidden)
 * and 2 actions; docs/cartpole.md has it too. */
#include "cartpole.h"
#include "lpx_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cp_expert_write(const char *path, int32_t num_envs, int64_t num_steps, uint64_t seed,
                    cp_expert_summary *summary) {
    return cp_expert_write_obs(path, num_envs, num_steps, seed, 0, summary);
}

int cp_expert_write_obs(const char *path, int32_t num_envs, int64_t num_steps, uint64_t seed,
                        int position_only, cp_expert_summary *summary) {
    /* The recorded observation: all of it, or x and theta (0 and 2). */
    static const int full_k[4] = {0, 1, 2, 3}, pos_k[2] = {0, 2};
    const int *ks = position_only ? pos_k : full_k;
    const uint32_t dim = position_only ? 2u : (uint32_t)CP_OBS_DIM;
    /* At most 2^40 records (24 TiB): far beyond use, far below overflow. */
    if (!path || !*path || num_envs < 1 || num_steps < 1 ||
        (uint64_t)num_steps > (UINT64_C(1) << 40) / (uint64_t)num_envs)
        return CP_EINVAL;
    const size_t m = (size_t)num_envs;
    int rc = CP_ENOMEM;
    cp_env *env = NULL;
    lpx_writer *w = NULL;
    /* One block for one step: obs, rewards, returns, the recorded
     * observations, actions and three flag arrays. */
    float *obs = malloc(m * ((CP_OBS_DIM + 2 + dim) * sizeof(float) + sizeof(int32_t) + 3));
    if (!obs)
        goto done;
    float *reward = obs + m * CP_OBS_DIM;
    float *ep_return = reward + m;
    float *rec_obs = ep_return + m;
    int32_t *actions = (int32_t *)(void *)(rec_obs + m * dim);
    uint8_t *term = (uint8_t *)(actions + m);
    uint8_t *trunc = term + m;
    uint8_t *start = trunc + m;
    if ((rc = cp_create(&env, num_envs, seed)) != CP_OK)
        goto done;
    cp_reset(env, obs);
    memset(start, 1, m);

    /* The format's version 1 (a discrete action of CP_NUM_ACTIONS), written
     * by the examples' shared writer through path.tmp and a rename. */
    rc = CP_EIO;
    const int64_t counts[1] = {CP_NUM_ACTIONS};
    if (lpx_writer_open(&w, path, dim, (uint32_t)num_envs, LPX_W_DISCRETE, 1, counts, seed) != 0)
        goto done;
    int64_t episodes = 0;
    double return_sum = 0;
    cp_step_out out = {.obs = obs,
                       .reward = reward,
                       .terminated = term,
                       .truncated = trunc,
                       .episode_return = ep_return};
    for (int64_t t = 0; t < num_steps; t++) {
        cp_teacher_actions(obs, num_envs, actions);
        for (size_t i = 0; i < m; i++)
            for (uint32_t k = 0; k < dim; k++)
                rec_obs[i * dim + k] = obs[i * CP_OBS_DIM + (size_t)ks[k]];
        if (lpx_writer_step(w, rec_obs, actions, start) != 0)
            goto done;
        if (cp_step(env, actions, &out) != CP_OK) {
            rc = CP_EINVAL; /* cannot happen: the teacher only says 0 or 1 */
            goto done;
        }
        for (size_t i = 0; i < m; i++) {
            start[i] = term[i] || trunc[i];
            if (start[i]) {
                episodes++;
                return_sum += ep_return[i];
            }
        }
    }
    const int closed = lpx_writer_close(w);
    w = NULL;
    if (closed != 0)
        goto done;
    if (summary) {
        summary->records = (uint64_t)num_envs * (uint64_t)num_steps;
        summary->episodes = episodes;
        summary->mean_return = episodes ? return_sum / (double)episodes : 0.0;
    }
    rc = CP_OK;
done:
    lpx_writer_abort(w);
    cp_free(env);
    free(obs);
    return rc;
}
