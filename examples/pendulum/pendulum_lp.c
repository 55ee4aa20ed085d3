/* Pendulum-v1 as an lp_env: see pendulum_lp.h. */
#include "pendulum_lp.h"
#include "example_env.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double pd_pi = 3.14159265358979323846;

double pd_angle_normalize(double x) {
    double y = fmod(x + pd_pi, 2.0 * pd_pi); /* Python's %: the sign of the divisor */
    if (y < 0.0)
        y += 2.0 * pd_pi;
    return y - pd_pi;
}

double pd_dynamics(pd_state *s, double u) {
    u = u < -PD_MAX_TORQUE ? -PD_MAX_TORQUE : u > PD_MAX_TORQUE ? PD_MAX_TORQUE : u;
    const double th = s->theta, thdot = s->theta_dot;
    const double an = pd_angle_normalize(th);
    const double costs = an * an + 0.1 * thdot * thdot + 0.001 * u * u;
    double nthdot =
        thdot + (3.0 * PD_G / (2.0 * PD_L) * sin(th) + 3.0 / (PD_M * PD_L * PD_L) * u) * PD_DT;
    nthdot = nthdot < -PD_MAX_SPEED ? -PD_MAX_SPEED : nthdot > PD_MAX_SPEED ? PD_MAX_SPEED : nthdot;
    s->theta = th + nthdot * PD_DT;
    s->theta_dot = nthdot;
    return -costs;
}

/* Uniform in [lo, hi) with 53 random bits. */
static double uniform(uint64_t *x, double lo, double hi) {
    return lo + (hi - lo) * ((double)(example_splitmix64(x) >> 11) * 0x1.0p-53);
}

static void start_episode(pd_state *s) {
    s->theta = uniform(&s->rng, -pd_pi, pd_pi);
    s->theta_dot = uniform(&s->rng, -1.0, 1.0);
    s->ep_return = 0.0;
    s->steps = 0;
}

static void observe(const pd_state *s, float *obs) {
    obs[0] = (float)cos(s->theta);
    obs[1] = (float)sin(s->theta);
    obs[2] = (float)s->theta_dot;
}

static int32_t pl_open(lp_env *env, const lp_env_setup *s, lp_error *err) {
    pendulum_lp *p = env->user;
    long long num_envs = s->num_envs, seed = s->seed;
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
            if (!p->seed_forced)
                seed =
                    s->rank > 0
                        ? (long long)(((uint64_t)v + (uint64_t)s->rank * 0x9e3779b97f4a7c15ULL) >>
                                      1)
                        : v;
        } else {
            rc = example_entry_error(err, s, e,
                                     "unknown key '%s' in %s; valid keys: num_envs, seed (and the "
                                     "trainer's normalize_obs)",
                                     e->key, s->section);
        }
        if (rc != LP_OK)
            return rc;
    }
    free(p->envs);
    p->envs = calloc((size_t)num_envs, sizeof *p->envs);
    if (p->envs == NULL) {
        err->code = LP_ENOMEM;
        snprintf(err->message, sizeof err->message, "pendulum: out of memory for %lld environments",
                 num_envs);
        return LP_ENOMEM;
    }
    p->num_envs = num_envs;
    p->seed = (uint64_t)seed;
    env->num_envs = num_envs;
    return LP_OK;
}

static int32_t pl_reset(void *user, float *obs, lp_error *err) {
    (void)err;
    pendulum_lp *p = user;
    for (int64_t i = 0; i < p->num_envs; i++) {
        pd_state *s = &p->envs[i];
        uint64_t mix = p->seed ^ ((uint64_t)i * 0xd1b54a32d192ed03ULL);
        s->rng = example_splitmix64(&mix);
        start_episode(s);
        observe(s, obs + i * PD_OBS_DIM);
    }
    return LP_OK;
}

static int32_t pl_step(void *user, const float *actions, const lp_env_step_out *out,
                       lp_error *err) {
    (void)err;
    pendulum_lp *p = user;
    for (int64_t i = 0; i < p->num_envs; i++) {
        pd_state *s = &p->envs[i];
        const double r = pd_dynamics(s, (double)actions[i]);
        s->ep_return += r;
        s->steps++;
        out->rewards[i] = (float)r;
        out->terminated[i] = 0;
        out->truncated[i] = s->steps >= PD_MAX_STEPS;
        if (out->truncated[i]) {
            observe(s, out->final_obs + i * PD_OBS_DIM);
            out->episode_returns[i] = (float)s->ep_return;
            out->episode_lengths[i] = s->steps;
            start_episode(s);
        }
        observe(s, out->obs + i * PD_OBS_DIM);
    }
    return LP_OK;
}

static size_t pl_snapshot_size(void *user) {
    const pendulum_lp *p = user;
    return (size_t)p->num_envs * sizeof(pd_state);
}

static int32_t pl_snapshot(void *user, void *buf, size_t size, lp_error *err) {
    (void)err;
    const pendulum_lp *p = user;
    memcpy(buf, p->envs, size);
    return LP_OK;
}

static int32_t pl_restore(void *user, const void *buf, size_t size, lp_error *err) {
    pendulum_lp *p = user;
    if (size != pl_snapshot_size(p)) {
        err->code = LP_ECORRUPT;
        snprintf(err->message, sizeof err->message,
                 "pendulum: the snapshot holds %zu bytes, %zu expected for %lld environments "
                 "(another num_envs?)",
                 size, pl_snapshot_size(p), (long long)p->num_envs);
        return LP_ECORRUPT;
    }
    const pd_state *in = buf;
    for (int64_t i = 0; i < p->num_envs; i++)
        if (!isfinite(in[i].theta) || !isfinite(in[i].theta_dot) ||
            fabs(in[i].theta_dot) > PD_MAX_SPEED || in[i].steps < 0 ||
            in[i].steps >= PD_MAX_STEPS) {
            err->code = LP_ECORRUPT;
            snprintf(err->message, sizeof err->message,
                     "pendulum: the snapshot's environment %lld is not a pendulum state "
                     "(theta_dot %g, step %d)",
                     (long long)i, in[i].theta_dot, (int)in[i].steps);
            return LP_ECORRUPT;
        }
    memcpy(p->envs, buf, size);
    return LP_OK;
}

void pendulum_lp_init(pendulum_lp *p, lp_env *env) {
    memset(p, 0, sizeof *p);
    p->low[0] = (float)-PD_MAX_TORQUE;
    p->high[0] = (float)PD_MAX_TORQUE;
    lp_env_init(env);
    env->user = p;
    env->obs_rank = 1;
    env->obs_shape[0] = PD_OBS_DIM;
    env->action_space = LP_ACTION_BOX;
    env->action_dims = 1;
    env->action_low = p->low;
    env->action_high = p->high;
    env->open = pl_open;
    env->reset = pl_reset;
    env->step_box = pl_step;
    env->snapshot_size = pl_snapshot_size;
    env->snapshot = pl_snapshot;
    env->restore = pl_restore;
}

void pendulum_lp_free(pendulum_lp *p) {
    if (p == NULL)
        return;
    free(p->envs);
    p->envs = NULL;
}
