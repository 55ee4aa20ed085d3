/* CartPole as an lp_env: see cartpole_lp.h. */
#include "cartpole_lp.h"
#include "example_env.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int32_t cp_status(lp_error *err, int rc, const char *what) {
    err->code = rc == CP_ENOMEM ? LP_ENOMEM : rc == CP_EFORMAT ? LP_ECORRUPT : LP_EINVAL;
    snprintf(err->message, sizeof err->message, "cartpole: %s: %s", what, cp_strerror(rc));
    return err->code;
}

static int32_t cl_open(lp_env *env, const lp_env_setup *s, lp_error *err) {
    cartpole_lp *c = env->user;
    long long num_envs = s->num_envs, seed = s->seed;
    int seed_from_config = 0;
    c->teacher_logit_scale = CP_TEACHER_LOGIT_SCALE;
    c->teacher_value = 100.0f;
    for (size_t i = 0; i < s->entry_count; i++) {
        const lp_config_entry *e = &s->entries[i];
        int32_t rc = LP_OK;
        if (strcmp(e->key, "num_envs") == 0) {
            rc = example_entry_int(err, s, e, 1, 1 << 20, &num_envs);
            if (rc == LP_OK && num_envs != s->num_envs)
                rc = example_entry_error(
                    err, s, e,
                    "%s.num_envs = %lld but buffer.segments = %lld; the trainer "
                    "gives each environment one buffer row: make them equal",
                    s->section, num_envs, (long long)s->num_envs);
        } else if (strcmp(e->key, "seed") == 0) {
            long long v = 0;
            rc = example_entry_int(err, s, e, 0, INT64_MAX, &v);
            if (!c->seed_forced) {
                seed = v;
                seed_from_config = 1;
            }
        } else if (strcmp(e->key, "teacher_logit_scale") == 0) {
            rc = example_entry_float(err, s, e, 1e-3, 1e3, &c->teacher_logit_scale);
        } else if (strcmp(e->key, "teacher_value") == 0) {
            rc = example_entry_float(err, s, e, -1e6, 1e6, &c->teacher_value);
        } else if (strcmp(e->key, "observe") == 0) {
            if (strcmp(e->value, "full") == 0 || strcmp(e->value, "position") == 0)
                c->position_only = strcmp(e->value, "position") == 0;
            else
                rc = example_entry_error(
                    err, s, e,
                    "%s.observe = '%s' is not a choice; use full (x, x_dot, theta, "
                    "theta_dot) or position (x, theta: the velocities hidden)",
                    s->section, e->value);
        } else {
            rc = example_entry_error(err, s, e,
                                     "unknown key '%s' in %s; valid keys: num_envs, seed, "
                                     "teacher_logit_scale, teacher_value, observe",
                                     e->key, s->section);
        }
        if (rc != LP_OK)
            return rc;
    }
    /* Each rank of a data-parallel run its own stream: the trainer's seed
     * already differs per rank; a seed from the config is mixed with the
     * rank (rank 0 keeps it as written). */
    if (seed_from_config && s->rank > 0)
        seed =
            (long long)(((uint64_t)seed + (uint64_t)s->rank * UINT64_C(0x9e3779b97f4a7c15)) >> 1);
    c->seed = (uint64_t)seed;
    cp_free(c->env);
    c->env = NULL;
    int rc = cp_create(&c->env, (int32_t)num_envs, c->seed);
    if (rc != CP_OK)
        return cp_status(err, rc, "cannot create the environments");
    free(c->full);
    free(c->full_final);
    c->full = c->full_final = NULL;
    if (c->position_only) {
        c->full = malloc((size_t)num_envs * CP_OBS_DIM * sizeof(float));
        c->full_final = malloc((size_t)num_envs * CP_OBS_DIM * sizeof(float));
        if (c->full == NULL || c->full_final == NULL)
            return cp_status(err, CP_ENOMEM, "the observation scratch");
    }
    env->num_envs = num_envs;
    env->obs_rank = 1;
    env->obs_shape[0] = c->position_only ? CARTPOLE_LP_POSITION_DIM : CP_OBS_DIM;
    env->num_actions = CP_NUM_ACTIONS;
    return LP_OK;
}

/* observe: position: [x, theta] of each full observation. */
static void positions(const float *full, int32_t n, float *obs) {
    for (int32_t i = 0; i < n; i++) {
        obs[2 * i] = full[CP_OBS_DIM * i];
        obs[2 * i + 1] = full[CP_OBS_DIM * i + 2];
    }
}

static int32_t cl_reset(void *user, float *obs, lp_error *err) {
    cartpole_lp *c = user;
    int rc = cp_reset(c->env, c->position_only ? c->full : obs);
    if (rc == CP_OK && c->position_only)
        positions(c->full, cp_num_envs(c->env), obs);
    return rc == CP_OK ? LP_OK : cp_status(err, rc, "reset");
}

static int32_t cl_step(void *user, const int32_t *actions, const lp_env_step_out *out,
                       lp_error *err) {
    cartpole_lp *c = user;
    const int hide = c->position_only;
    cp_step_out so = {hide ? c->full : out->obs,
                      out->rewards,
                      out->terminated,
                      out->truncated,
                      hide && out->final_obs != NULL ? c->full_final : out->final_obs,
                      out->episode_returns,
                      out->episode_lengths,
                      0};
    int rc = cp_step(c->env, actions, &so);
    if (rc == CP_OK && hide) {
        positions(c->full, cp_num_envs(c->env), out->obs);
        if (out->final_obs != NULL)
            positions(c->full_final, cp_num_envs(c->env), out->final_obs);
    }
    return rc == CP_OK ? LP_OK : cp_status(err, rc, "step");
}

static int32_t cl_teacher(void *user, const float *obs, int32_t *actions, float *logits,
                          float *values, lp_error *err) {
    (void)err;
    cartpole_lp *c = user;
    int32_t n = cp_num_envs(c->env);
    if (c->position_only) { /* the teacher is privileged: the full state */
        cp_observe(c->env, c->full);
        obs = c->full;
    }
    if (actions != NULL)
        cp_teacher_actions(obs, n, actions);
    if (logits != NULL)
        cp_teacher_logits(obs, n, c->teacher_logit_scale, logits);
    if (values != NULL)
        for (int32_t i = 0; i < n; i++)
            values[i] = c->teacher_value;
    return LP_OK;
}

static size_t cl_snapshot_size(void *user) {
    cartpole_lp *c = user;
    return cp_snapshot_size(c->env);
}

static int32_t cl_snapshot(void *user, void *buf, size_t size, lp_error *err) {
    cartpole_lp *c = user;
    int rc = cp_snapshot(c->env, buf, size);
    return rc == CP_OK ? LP_OK : cp_status(err, rc, "snapshot");
}

static int32_t cl_restore(void *user, const void *buf, size_t size, lp_error *err) {
    cartpole_lp *c = user;
    int rc = cp_restore(c->env, buf, size);
    return rc == CP_OK ? LP_OK
                       : cp_status(err, rc,
                                   "the checkpoint's snapshot is not one of these environments "
                                   "(another num_envs?)");
}

void cartpole_lp_init(cartpole_lp *c, lp_env *env) {
    memset(c, 0, sizeof *c);
    lp_env_init(env);
    env->user = c;
    env->obs_rank = 1;
    env->obs_shape[0] = CP_OBS_DIM;
    env->num_actions = CP_NUM_ACTIONS;
    env->open = cl_open;
    env->reset = cl_reset;
    env->step = cl_step;
    env->teacher = cl_teacher;
    env->snapshot_size = cl_snapshot_size;
    env->snapshot = cl_snapshot;
    env->restore = cl_restore;
}

void cartpole_lp_free(cartpole_lp *c) {
    if (c == NULL)
        return;
    cp_free(c->env);
    c->env = NULL;
    free(c->full);
    free(c->full_final);
    c->full = c->full_final = NULL;
}
