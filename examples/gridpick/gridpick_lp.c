/* The item-collecting grid as an lp_env: see gridpick_lp.h. */
#include "gridpick_lp.h"
#include "example_env.h"
#include "lpx_writer.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int32_t cell(uint64_t *rng) {
    return (int32_t)((example_splitmix64(rng) >> 33) % GP_SIZE);
}

/* A new item on a cell the agent is not on. */
static void place_item(gp_state *s) {
    do {
        s->ix = cell(&s->rng);
        s->iy = cell(&s->rng);
    } while (s->ix == s->ax && s->iy == s->ay);
}

static void start_episode(gp_state *s) {
    s->ax = cell(&s->rng);
    s->ay = cell(&s->rng);
    place_item(s);
    s->steps = 0;
    s->ep_return = 0.0;
}

double gp_dynamics(gp_state *s, int32_t move, int32_t pick) {
    static const int32_t dx[5] = {0, 0, 0, -1, 1}, dy[5] = {0, -1, 1, 0, 0};
    int32_t x = s->ax + dx[move], y = s->ay + dy[move];
    if (x >= 0 && x < GP_SIZE && y >= 0 && y < GP_SIZE) {
        s->ax = x;
        s->ay = y;
    }
    if (!pick)
        return 0.0;
    if (s->ax == s->ix && s->ay == s->iy) {
        place_item(s);
        return 1.0;
    }
    return -0.01;
}

static void observe(const gp_state *s, float *obs) {
    const float scale = 1.0f / (float)(GP_SIZE - 1);
    obs[0] = (float)s->ax * scale;
    obs[1] = (float)s->ay * scale;
    obs[2] = (float)s->ix * scale;
    obs[3] = (float)s->iy * scale;
    obs[4] = s->ax == s->ix && s->ay == s->iy ? 1.0f : 0.0f;
}

static int32_t gl_open(lp_env *env, const lp_env_setup *s, lp_error *err) {
    gridpick_lp *g = env->user;
    long long num_envs = s->num_envs, seed = s->seed;
    for (size_t i = 0; i < s->entry_count; i++) {
        const lp_config_entry *e = &s->entries[i];
        int32_t rc = LP_OK;
        if (strcmp(e->key, "num_envs") == 0) {
            rc = example_entry_int(err, s, e, 1, 1 << 20, &num_envs);
            if (rc == LP_OK && num_envs != s->num_envs)
                rc = example_entry_error(
                    err, s, e, "%s.num_envs = %lld but buffer.segments = %lld; make them equal",
                    s->section, num_envs, (long long)s->num_envs);
        } else if (strcmp(e->key, "flat_actions") == 0) {
            /* the comparison of docs/gridpick.md: the product space as one
             * categorical of 10 actions, a = 2 * move + pick */
            if (!e->quoted && (strcmp(e->value, "true") == 0 || strcmp(e->value, "false") == 0))
                g->flat = strcmp(e->value, "true") == 0;
            else
                rc = example_entry_error(err, s, e,
                                         "%s.flat_actions = '%s'; use true (one categorical of "
                                         "10 actions, a = 2 * move + pick) or false (the "
                                         "multi-discrete {5, 2})",
                                         s->section, e->value);
        } else if (strcmp(e->key, "seed") == 0) {
            long long v = 0;
            rc = example_entry_int(err, s, e, 0, INT64_MAX, &v);
            if (!g->seed_forced)
                seed = v + s->rank;
        } else {
            rc = example_entry_error(err, s, e,
                                     "unknown key '%s' in %s; valid keys: num_envs, seed, "
                                     "flat_actions (and the trainer's normalize_obs)",
                                     e->key, s->section);
        }
        if (rc != LP_OK)
            return rc;
    }
    free(g->envs);
    g->envs = calloc((size_t)num_envs, sizeof *g->envs);
    if (g->envs == NULL) {
        err->code = LP_ENOMEM;
        snprintf(err->message, sizeof err->message, "gridpick: out of memory");
        return LP_ENOMEM;
    }
    g->num_envs = num_envs;
    g->seed = (uint64_t)seed;
    env->num_envs = num_envs;
    if (g->flat) {
        env->action_space = LP_ACTION_DISCRETE;
        env->action_dims = 1;
        env->action_nvec = NULL;
        env->num_actions = GP_FLAT_ACTIONS;
    }
    return LP_OK;
}

static int32_t gl_reset(void *user, float *obs, lp_error *err) {
    (void)err;
    gridpick_lp *g = user;
    for (int64_t i = 0; i < g->num_envs; i++) {
        gp_state *s = &g->envs[i];
        uint64_t mix = g->seed ^ ((uint64_t)i * 0xd1b54a32d192ed03ULL);
        s->rng = example_splitmix64(&mix);
        start_episode(s);
        observe(s, obs + i * GP_OBS_DIM);
    }
    return LP_OK;
}

static int32_t gl_step(void *user, const int32_t *actions, const lp_env_step_out *out,
                       lp_error *err) {
    gridpick_lp *g = user;
    for (int64_t i = 0; i < g->num_envs; i++) {
        gp_state *s = &g->envs[i];
        int32_t move, pick;
        if (g->flat) {
            const int32_t a = actions[i];
            if (a < 0 || a >= GP_FLAT_ACTIONS) {
                err->code = LP_EINVAL;
                snprintf(err->message, sizeof err->message,
                         "gridpick: env %lld got action %d; the flat actions are 0 .. 9",
                         (long long)i, (int)a);
                return LP_EINVAL;
            }
            move = a / 2;
            pick = a % 2;
        } else {
            move = actions[2 * i];
            pick = actions[2 * i + 1];
        }
        if (move < 0 || move > 4 || pick < 0 || pick > 1) {
            err->code = LP_EINVAL;
            snprintf(err->message, sizeof err->message,
                     "gridpick: env %lld got action {%d, %d}; moves are 0 .. 4, picks 0 .. 1",
                     (long long)i, (int)move, (int)pick);
            return LP_EINVAL;
        }
        const double r = gp_dynamics(s, move, pick);
        s->ep_return += r;
        s->steps++;
        out->rewards[i] = (float)r;
        out->terminated[i] = 0;
        out->truncated[i] = s->steps >= GP_MAX_STEPS;
        if (out->truncated[i]) {
            observe(s, out->final_obs + i * GP_OBS_DIM);
            out->episode_returns[i] = (float)s->ep_return;
            out->episode_lengths[i] = s->steps;
            start_episode(s);
        }
        observe(s, out->obs + i * GP_OBS_DIM);
    }
    return LP_OK;
}

static size_t gl_snapshot_size(void *user) {
    const gridpick_lp *g = user;
    return (size_t)g->num_envs * sizeof(gp_state);
}

static int32_t gl_snapshot(void *user, void *buf, size_t size, lp_error *err) {
    (void)err;
    const gridpick_lp *g = user;
    memcpy(buf, g->envs, size);
    return LP_OK;
}

static int32_t gl_restore(void *user, const void *buf, size_t size, lp_error *err) {
    gridpick_lp *g = user;
    const gp_state *in = buf;
    int ok = size == gl_snapshot_size(g);
    for (int64_t i = 0; ok && i < g->num_envs; i++)
        ok = in[i].ax >= 0 && in[i].ax < GP_SIZE && in[i].ay >= 0 && in[i].ay < GP_SIZE &&
             in[i].ix >= 0 && in[i].ix < GP_SIZE && in[i].iy >= 0 && in[i].iy < GP_SIZE &&
             in[i].steps >= 0 && in[i].steps < GP_MAX_STEPS;
    if (!ok) {
        err->code = LP_ECORRUPT;
        snprintf(err->message, sizeof err->message,
                 "gridpick: the snapshot (%zu bytes) is not one of %lld grid environments", size,
                 (long long)g->num_envs);
        return LP_ECORRUPT;
    }
    memcpy(g->envs, buf, size);
    return LP_OK;
}

void gridpick_lp_init(gridpick_lp *g, lp_env *env) {
    memset(g, 0, sizeof *g);
    g->nvec[0] = 5;
    g->nvec[1] = 2;
    lp_env_init(env);
    env->user = g;
    env->obs_rank = 1;
    env->obs_shape[0] = GP_OBS_DIM;
    env->action_space = LP_ACTION_MULTI_DISCRETE;
    env->action_dims = 2;
    env->action_nvec = g->nvec;
    env->open = gl_open;
    env->reset = gl_reset;
    env->step = gl_step;
    env->snapshot_size = gl_snapshot_size;
    env->snapshot = gl_snapshot;
    env->restore = gl_restore;
}

void gridpick_lp_free(gridpick_lp *g) {
    if (g == NULL)
        return;
    free(g->envs);
    g->envs = NULL;
}

void gp_teacher(const gp_state *s, int32_t *move, int32_t *pick) {
    static const int32_t dx[5] = {0, 0, 0, -1, 1}, dy[5] = {0, -1, 1, 0, 0};
    int32_t m = 0;
    if (s->ax != s->ix)
        m = s->ax < s->ix ? 4 : 3;
    else if (s->ay != s->iy)
        m = s->ay < s->iy ? 2 : 1;
    *move = m;
    *pick = s->ax + dx[m] == s->ix && s->ay + dy[m] == s->iy;
}

int gp_expert_write(const char *path, int32_t num_envs, int64_t num_steps, uint64_t seed, int flat,
                    double *mean_return) {
    if (num_envs < 1 || num_steps < 1 || num_envs > (1 << 20))
        return -1;
    gridpick_lp g;
    lp_env env;
    gridpick_lp_init(&g, &env);
    g.num_envs = num_envs;
    g.seed = seed;
    g.flat = flat;
    const size_t n = (size_t)num_envs;
    g.envs = calloc(n, sizeof *g.envs);
    float *obs = malloc(n * GP_OBS_DIM * sizeof *obs), *fin = malloc(n * GP_OBS_DIM * sizeof *fin);
    float *rew = malloc(n * sizeof *rew), *ret = malloc(n * sizeof *ret);
    int32_t *act = malloc(2 * n * sizeof *act), *len = malloc(n * sizeof *len);
    uint8_t *term = malloc(n), *trunc = malloc(n), *start = malloc(n);
    lpx_writer *w = NULL;
    int rc = -1;
    double sum = 0.0;
    int64_t episodes = 0;
    lp_error err;
    if (g.envs == NULL || obs == NULL || fin == NULL || rew == NULL || ret == NULL || act == NULL ||
        len == NULL || term == NULL || trunc == NULL || start == NULL)
        goto done;
    /* version 1 (discrete) for the flat space, version 2 for {5, 2} */
    const int64_t flat_n[1] = {GP_FLAT_ACTIONS};
    if (lpx_writer_open(&w, path, GP_OBS_DIM, (uint32_t)num_envs,
                        flat ? LPX_W_DISCRETE : LPX_W_MULTI_DISCRETE, flat ? 1u : 2u,
                        flat ? flat_n : g.nvec, seed) != 0)
        goto done;
    (void)gl_reset(&g, obs, &err);
    memset(start, 1, n);
    lp_env_step_out out = {obs, rew, term, trunc, fin, ret, len};
    for (int64_t t = 0; t < num_steps; t++) {
        for (size_t i = 0; i < n; i++) {
            int32_t m, k;
            gp_teacher(&g.envs[i], &m, &k);
            if (flat)
                act[i] = 2 * m + k;
            else
                act[2 * i] = m, act[2 * i + 1] = k;
        }
        if (lpx_writer_step(w, obs, act, start) != 0 || gl_step(&g, act, &out, &err) != LP_OK)
            goto done;
        for (size_t i = 0; i < n; i++) {
            start[i] = trunc[i];
            if (trunc[i])
                sum += ret[i], episodes++;
        }
    }
    rc = lpx_writer_close(w);
    w = NULL;
    if (rc == 0 && mean_return != NULL)
        *mean_return = episodes > 0 ? sum / (double)episodes : 0.0;
done:
    lpx_writer_abort(w);
    gridpick_lp_free(&g);
    free(obs);
    free(fin);
    free(rew);
    free(ret);
    free(act);
    free(len);
    free(term);
    free(trunc);
    free(start);
    return rc;
}
