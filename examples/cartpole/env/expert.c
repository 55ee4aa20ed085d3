/* The expert dataset writer: the teacher drives num_envs environments for
 * num_steps steps and every (observation, action, episode start) it saw
 * becomes a record, in the lossplug expert dataset format (docs/losses/
 * expert_ce.md) with obs_dim 4 (or 2: x and theta, the velocities hidden)
 * and 2 actions; docs/cartpole.md has it too. */
#include "cartpole.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Little-endian stores, independent of the host's byte order. */
static void cp__le32(unsigned char *p, uint32_t v) {
    for (int b = 0; b < 4; b++)
        p[b] = (unsigned char)(v >> (8 * b));
}

static void cp__le64(unsigned char *p, uint64_t v) {
    for (int b = 0; b < 8; b++)
        p[b] = (unsigned char)(v >> (8 * b));
}

static void cp__header(unsigned char h[CP_EXPERT_HEADER_SIZE], uint32_t obs_dim, uint32_t num_envs,
                       uint64_t num_steps, uint64_t seed, uint32_t payload_crc) {
    memset(h, 0, CP_EXPERT_HEADER_SIZE);
    memcpy(h, CP_EXPERT_MAGIC, 8);
    cp__le32(h + 8, CP_EXPERT_VERSION);
    cp__le32(h + 12, CP_EXPERT_HEADER_SIZE);
    cp__le32(h + 16, 4 * obs_dim + 8);
    cp__le32(h + 20, obs_dim);
    cp__le32(h + 24, CP_NUM_ACTIONS);
    cp__le32(h + 28, num_envs);
    cp__le64(h + 32, num_steps);
    cp__le64(h + 40, (uint64_t)num_envs * num_steps);
    cp__le64(h + 48, seed);
    cp__le32(h + 56, payload_crc);
    cp__le32(h + 60, cp_crc32(0, h, 60));
}

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
    const size_t rec_size = 4 * (size_t)dim + 8;
    /* At most 2^40 records (24 TiB): far beyond use, far below overflow. */
    if (!path || !*path || num_envs < 1 || num_steps < 1 ||
        (uint64_t)num_steps > (UINT64_C(1) << 40) / (uint64_t)num_envs)
        return CP_EINVAL;
    const size_t m = (size_t)num_envs;
    int rc = CP_ENOMEM;
    cp_env *env = NULL;
    FILE *f = NULL;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    /* One block for one step: obs, rewards, returns, actions, three flag
     * arrays and the records. */
    float *obs = malloc(m * ((CP_OBS_DIM + 2) * sizeof(float) + sizeof(int32_t) + 3 + rec_size));
    if (!tmp || !obs)
        goto done;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    float *reward = obs + m * CP_OBS_DIM;
    float *ep_return = reward + m;
    int32_t *actions = (int32_t *)(void *)(ep_return + m);
    uint8_t *term = (uint8_t *)(actions + m);
    uint8_t *trunc = term + m;
    uint8_t *start = trunc + m;
    unsigned char *rec = start + m;
    if ((rc = cp_create(&env, num_envs, seed)) != CP_OK)
        goto done;
    cp_reset(env, obs);
    memset(start, 1, m);

    rc = CP_EIO;
    f = fopen(tmp, "wb");
    if (!f)
        goto done;
    unsigned char header[CP_EXPERT_HEADER_SIZE];
    cp__header(header, dim, (uint32_t)num_envs, (uint64_t)num_steps, seed, 0);
    if (fwrite(header, 1, sizeof header, f) != sizeof header)
        goto done;

    uint32_t crc = 0;
    int64_t episodes = 0;
    double return_sum = 0;
    cp_step_out out = {.obs = obs,
                       .reward = reward,
                       .terminated = term,
                       .truncated = trunc,
                       .episode_return = ep_return};
    for (int64_t t = 0; t < num_steps; t++) {
        cp_teacher_actions(obs, num_envs, actions);
        for (size_t i = 0; i < m; i++) {
            unsigned char *r = rec + i * rec_size;
            for (uint32_t k = 0; k < dim; k++) {
                uint32_t bits;
                memcpy(&bits, &obs[i * CP_OBS_DIM + (size_t)ks[k]], 4);
                cp__le32(r + 4 * k, bits);
            }
            unsigned char *tail = r + 4 * dim;
            cp__le32(tail, (uint32_t)actions[i]);
            tail[4] = start[i];
            tail[5] = tail[6] = tail[7] = 0;
        }
        size_t bytes = m * rec_size;
        crc = cp_crc32(crc, rec, bytes);
        if (fwrite(rec, 1, bytes, f) != bytes)
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
    cp__header(header, dim, (uint32_t)num_envs, (uint64_t)num_steps, seed, crc);
    if (fseek(f, 0, SEEK_SET) != 0 || fwrite(header, 1, sizeof header, f) != sizeof header)
        goto done;
    if (fclose(f) != 0) {
        f = NULL;
        goto done;
    }
    f = NULL;
    if (rename(tmp, path) != 0)
        goto done;
    if (summary) {
        summary->records = (uint64_t)num_envs * (uint64_t)num_steps;
        summary->episodes = episodes;
        summary->mean_return = episodes ? return_sum / (double)episodes : 0.0;
    }
    rc = CP_OK;
done:
    if (f)
        fclose(f);
    if (rc != CP_OK && tmp)
        remove(tmp);
    cp_free(env);
    free(obs);
    free(tmp);
    return rc;
}
