/* One rollout: for each step of the horizon, the MLP's forward on the
 * current observations of every environment, an action sampled from the
 * softmax of its logits, the teacher's view when the buffer has teacher
 * fields, the environment's step, the step's fields, and the bootstrap
 * values. Allocates nothing: every array was sized at setup. */
#include "train_impl.h"

#include <lp_errset.h>
#include <lp_rng.h>

#include <math.h>
#include <string.h>

/* ---- the sampling generator: xoshiro256** (lp_rng.h) --------------------------------- */

void lp__train_rng_seed(uint64_t s[4], uint64_t seed) {
    /* A stream of its own: the model's initialisation and the environments
     * draw from seeds derived otherwise. */
    lp__xoshiro_seed(s, seed ^ 0x5a3c1e0f96d2b487ULL);
}

/* Uniform in [0, 1) with 24 random bits: exact in float. */
static float next_unit(uint64_t s[4]) {
    return (float)(lp__xoshiro_next(s) >> 40) * 0x1.0p-24f;
}

/* Sample from softmax(z) by inverse CDF and return the action; *logp is its
 * log-probability, max-shifted as the losses compute it. */
static int32_t sample(const float *z, int64_t A, uint64_t rng[4], float *logp) {
    float m = z[0];
    for (int64_t k = 1; k < A; k++)
        m = z[k] > m ? z[k] : m;
    float sum = 0.0f;
    for (int64_t k = 0; k < A; k++)
        sum += expf(z[k] - m);
    float u = next_unit(rng) * sum;
    int64_t a = A - 1;
    float c = 0.0f;
    for (int64_t k = 0; k < A - 1; k++) {
        c += expf(z[k] - m);
        if (u < c) {
            a = k;
            break;
        }
    }
    *logp = (z[a] - m) - logf(sum);
    return (int32_t)a;
}

/* ---- episodes ------------------------------------------------------------------------- */

static void push_episode(lp__trainer *t, double r, double len) {
    int64_t *c = t->counters;
    t->returns[c[LP__CTR_RING_POS]] = r;
    t->lengths[c[LP__CTR_RING_POS]] = len;
    c[LP__CTR_RING_POS] = (c[LP__CTR_RING_POS] + 1) % t->window;
    if (c[LP__CTR_RING_COUNT] < t->window)
        c[LP__CTR_RING_COUNT]++;
    c[LP__CTR_EPISODES]++;
}

double lp__mean_return(const lp__trainer *t) {
    int64_t count = t->counters[LP__CTR_RING_COUNT];
    if (count == 0)
        return NAN;
    double sum = 0.0;
    for (int64_t i = 0; i < count; i++)
        sum += t->returns[i];
    return sum / (double)count;
}

double lp__mean_length(const lp__trainer *t) {
    int64_t count = t->counters[LP__CTR_RING_COUNT];
    if (count == 0)
        return NAN;
    double sum = 0.0;
    for (int64_t i = 0; i < count; i++)
        sum += t->lengths[i];
    return sum / (double)count;
}

/* ---- the rollout --------------------------------------------------------------------- */

/* `err` is the trainer's own (never NULL), cleared before the callback. */
static int32_t env_failed(const lp__trainer *t, const char *what, int32_t rc, lp_error *err) {
    int32_t code = rc < 0 ? rc : LP_EPLUGIN;
    if (err->message[0] != '\0') {
        char msg[LP_ERROR_MAX];
        memcpy(msg, err->message, sizeof msg);
        msg[LP_ERROR_MAX - 1] = '\0';
        return lp__seterr(err, code, "environment %s (epoch %lld): %s", what,
                          (long long)lp_session_epoch(t->s), msg);
    }
    return lp__seterr(err, code,
                      "environment %s (epoch %lld) failed with status %d (%s) and gave no "
                      "message; fix the environment's callback",
                      what, (long long)lp_session_epoch(t->s), (int)rc, lp_strerror(rc));
}

/* The environment's values at the door: observations (and, after a step,
 * rewards, the episode returns of finished episodes and the final
 * observations of truncated ones) must be finite before they reach the
 * buffer, gae, the return window or the model. `step` < 0: after reset. */
int32_t lp__env_values_check(const lp__trainer *t, int64_t step, lp_error *err) {
    const int64_t n = t->n, D = t->obs_dim;
    const char *env = t->opt->env_section != NULL ? t->opt->env_section : "env";
    const char *what = NULL;
    int64_t r = 0;
    double v = 0.0;
    for (r = 0; r < n && what == NULL; r++) {
        for (int64_t d = 0; d < D && what == NULL; d++)
            if (!isfinite(t->obs[r * D + d]))
                what = "observation", v = t->obs[r * D + d];
        if (step < 0 || what != NULL)
            continue;
        const int end = t->terminated[r] != 0 || t->truncated[r] != 0;
        if (!isfinite(t->rewards[r]))
            what = "reward", v = t->rewards[r];
        else if (end && !isfinite(t->ep_returns[r]))
            what = "episode return", v = t->ep_returns[r];
        for (int64_t d = 0; t->truncated[r] != 0 && d < D && what == NULL; d++)
            if (!isfinite(t->final_obs[r * D + d]))
                what = "final observation", v = t->final_obs[r * D + d];
    }
    if (what == NULL)
        return LP_OK;
    r--;
    if (step < 0)
        return lp__seterr(err, LP_ENUMERIC,
                          "environment '%s': reset gave a non-finite %s (%g) for env %lld "
                          "(epoch %lld); an environment must return finite values",
                          env, what, v, (long long)r, (long long)lp_session_epoch(t->s));
    return lp__seterr(err, LP_ENUMERIC,
                      "environment '%s': step %lld of epoch %lld (env steps %lld) gave a "
                      "non-finite %s (%g) for env %lld; an environment must return finite "
                      "values (refused before it reached the buffer, the return window or the "
                      "model)",
                      env, (long long)step, (long long)lp_session_epoch(t->s),
                      (long long)lp_session_env_steps(t->s), what, v, (long long)r);
}

int32_t lp__rollout(lp__trainer *t, lp_error *err) {
    const int64_t n = t->n, H = t->horizon, D = t->obs_dim, A = t->A;
    const lp__fields *f = &t->f;
    const size_t obs_bytes = (size_t)D * sizeof(float);
    lp_env_step_out out = {t->obs,       t->rewards,    t->terminated, t->truncated,
                           t->final_obs, t->ep_returns, t->ep_lengths};
    for (int64_t step = 0; step < H; step++) {
        /* 1. The observation of this step, and the policy's view of it. */
        if (f->obs != NULL)
            for (int64_t r = 0; r < n; r++)
                memcpy(f->obs + (r * H + step) * D, t->obs + r * D, obs_bytes);
        if (step == 0)
            lp__model_store_start(t);
        int32_t rc = lp__model_act(t, err);
        if (rc != LP_OK)
            return rc;
        for (int64_t r = 0; r < n; r++)
            t->actions[r] = sample(t->logits + r * A, A, t->rng, &t->logprobs[r]);
        if (t->t_actions != NULL || t->t_logits != NULL || t->t_values != NULL) {
            err->message[0] = '\0';
            rc = t->env.teacher(t->env.user, t->obs, t->t_actions, t->t_logits, t->t_values, err);
            if (rc != LP_OK)
                return env_failed(t, "teacher", rc, err);
        }
        /* 2. The environment's step: t->obs becomes the next observations. */
        err->message[0] = '\0';
        rc = t->env.step(t->env.user, t->actions, &out, err);
        if (rc != LP_OK)
            return env_failed(t, "step", rc, err);
        rc = lp__env_values_check(t, step, err);
        if (rc != LP_OK)
            return rc;
        /* 3. The step's fields. */
        int64_t nboot = 0;
        for (int64_t r = 0; r < n; r++) {
            const int64_t i = r * H + step;
            const int32_t a = t->actions[r];
            const uint8_t term = t->terminated[r] != 0, trunc = t->truncated[r] != 0;
            if (f->actions != NULL)
                f->actions[i] = a;
            if (f->logprobs != NULL)
                f->logprobs[i] = t->logprobs[r];
            if (f->values != NULL)
                f->values[i] = t->values[r];
            if (f->rewards != NULL)
                f->rewards[i] = t->rewards[r];
            if (f->dones != NULL)
                f->dones[i] = (uint8_t)(term | trunc);
            if (f->truncateds != NULL)
                f->truncateds[i] = trunc;
            if (f->next_values != NULL)
                f->next_values[i] = 0.0f;
            if (f->teacher_actions != NULL)
                f->teacher_actions[i] = t->t_actions[r];
            if (f->teacher_logits != NULL)
                memcpy(f->teacher_logits + i * A, t->t_logits + r * A, (size_t)A * sizeof(float));
            if (f->teacher_values != NULL)
                f->teacher_values[i] = t->t_values[r];
            if (term || trunc)
                push_episode(t, (double)t->ep_returns[r], (double)t->ep_lengths[r]);
            if (trunc && !term && f->next_values != NULL) {
                memcpy(t->boot_obs + nboot * D, t->final_obs + r * D, obs_bytes);
                t->boot_rows[nboot++] = r;
            }
        }
        /* 4. Bootstrap values: V(obs_{t+1}) at the row's last step, V(final
         *    observation) where a time limit cut an episode. */
        if (f->next_values != NULL) {
            if (step == H - 1) {
                rc = lp__model_values(t, t->obs, NULL, n, t->values, err);
                if (rc != LP_OK)
                    return rc;
                for (int64_t r = 0; r < n; r++)
                    f->next_values[r * H + step] = t->values[r];
            }
            if (nboot > 0) {
                rc = lp__model_values(t, t->boot_obs, t->boot_rows, nboot, t->boot_values, err);
                if (rc != LP_OK)
                    return rc;
                for (int64_t b = 0; b < nboot; b++)
                    f->next_values[t->boot_rows[b] * H + step] = t->boot_values[b];
            }
        }
        lp__model_reset_done(t);
        rc = lp_session_rollout_step(t->s, step, err);
        if (rc != LP_OK)
            return rc;
    }
    return LP_OK;
}
