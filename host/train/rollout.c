/* One rollout: for each step of the horizon, the MLP's forward on the
 * current observations of every environment (normalised with
 * env.normalize_obs), an action sampled per action space (policy.c), the
 * teacher's view when the buffer has teacher
 * fields, the environment's step, the step's fields, and the bootstrap
 * values. Allocates nothing: every array was sized at setup. */
#include "train/train_impl.h"

#include "util/error.h"
#include "util/rng.h"

#include <math.h>
#include <string.h>

/* ---- the sampling generator: xoshiro256** (util/rng.h) --------------------------------- */

void lp__train_rng_seed(uint64_t s[4], uint64_t seed) {
    /* A stream of its own: the model's initialisation and the environments
     * draw from seeds derived otherwise. */
    lp__xoshiro_seed(s, seed ^ 0x5a3c1e0f96d2b487ULL);
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

/* The mean of the filled part of a ring of the last episodes; NaN when
 * none has ended. */
static double ring_mean(const lp__trainer *t, const double *ring) {
    int64_t count = t->counters[LP__CTR_RING_COUNT];
    if (count == 0)
        return NAN;
    double sum = 0.0;
    for (int64_t i = 0; i < count; i++)
        sum += ring[i];
    return sum / (double)count;
}

double lp__mean_return(const lp__trainer *t) {
    return ring_mean(t, t->returns);
}

double lp__mean_length(const lp__trainer *t) {
    return ring_mean(t, t->lengths);
}

/* ---- the rollout --------------------------------------------------------------------- */

/* `err` is the trainer's own (never NULL), cleared before the callback. */
static int32_t env_failed(const lp__trainer *t, const char *what, int32_t rc, lp_error *err) {
    int32_t code = rc < 0 ? rc : LP_EPLUGIN;
    if (err->message[0] != '\0') {
        char msg[LP_ERROR_MAX];
        memcpy(msg, err->message, sizeof msg);
        msg[LP_ERROR_MAX - 1] = '\0';
        return lp__error_set(err, code, "environment %s (epoch %lld): %s", what,
                             (long long)lp_session_epoch(t->s), msg);
    }
    return lp__error_set(err, code,
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
        return lp__error_set(err, LP_ENUMERIC,
                             "environment '%s': reset gave a non-finite %s (%g) for env %lld "
                             "(epoch %lld); an environment must return finite values",
                             env, what, v, (long long)r, (long long)lp_session_epoch(t->s));
    return lp__error_set(err, LP_ENUMERIC,
                         "environment '%s': step %lld of epoch %lld (env steps %lld) gave a "
                         "non-finite %s (%g) for env %lld; an environment must return finite "
                         "values (refused before it reached the buffer, the return window or the "
                         "model)",
                         env, (long long)step, (long long)lp_session_epoch(t->s),
                         (long long)lp_session_env_steps(t->s), what, v, (long long)r);
}

/* The observations the model sees: the environment's, or their
 * normalisation with the running statistics (env.normalize_obs). */
static const float *model_obs(lp__trainer *t) {
    if (!t->normalize_obs)
        return t->obs;
    lp__obs_norm_apply(t, t->obs, t->obs_n, t->n);
    return t->obs_n;
}

/* Row r's sampled action into the actions field at sample i: i32 [],
 * i32 [K] or, for a box, the f32 [K] sample before clipping. */
static void store_action(const lp__trainer *t, int64_t i, int64_t r) {
    const lp__fields *f = &t->f;
    const int64_t K = t->K;
    if (f->actions != NULL)
        memcpy(f->actions + i * K, t->actions + r * K, (size_t)K * sizeof(int32_t));
    if (f->actions_f != NULL)
        memcpy(f->actions_f + i * K, t->box_actions + r * K, (size_t)K * sizeof(float));
}

int32_t lp__rollout(lp__trainer *t, lp_error *err) {
    const int64_t n = t->n, H = t->horizon, D = t->obs_dim, A = t->A;
    const lp__fields *f = &t->f;
    const size_t obs_bytes = (size_t)D * sizeof(float);
    lp_env_step_out out = {t->obs,       t->rewards,    t->terminated, t->truncated,
                           t->final_obs, t->ep_returns, t->ep_lengths};
    for (int64_t step = 0; step < H; step++) {
        /* 1. The observation of this step, and the policy's view of it. */
        const float *obs = model_obs(t);
        if (f->obs != NULL)
            for (int64_t r = 0; r < n; r++)
                memcpy(f->obs + (r * H + step) * D, obs + r * D, obs_bytes);
        if (step == 0)
            lp__model_store_start(t);
        int32_t rc = lp__model_act(t, obs, err);
        if (rc != LP_OK)
            return rc;
        lp__policy_sample(t);
        if (t->t_actions != NULL || t->t_logits != NULL || t->t_values != NULL) {
            err->message[0] = '\0';
            rc = t->env.teacher(t->env.user, t->obs, t->t_actions, t->t_logits, t->t_values, err);
            if (rc != LP_OK)
                return env_failed(t, "teacher", rc, err);
        }
        /* 2. The environment's step: t->obs becomes the next observations. */
        err->message[0] = '\0';
        rc = t->space == LP_ACTION_BOX ? t->env.step_box(t->env.user, t->box_applied, &out, err)
                                       : t->env.step(t->env.user, t->actions, &out, err);
        if (rc != LP_OK)
            return env_failed(t, "step", rc, err);
        rc = lp__env_values_check(t, step, err);
        if (rc != LP_OK)
            return rc;
        if (t->normalize_obs)
            lp__obs_norm_update(t, t->obs, n);
        /* 3. The step's fields. */
        int64_t nboot = 0;
        for (int64_t r = 0; r < n; r++) {
            const int64_t i = r * H + step;
            const uint8_t term = t->terminated[r] != 0, trunc = t->truncated[r] != 0;
            store_action(t, i, r);
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
                rc = lp__model_values(t, model_obs(t), NULL, n, t->values, err);
                if (rc != LP_OK)
                    return rc;
                for (int64_t r = 0; r < n; r++)
                    f->next_values[r * H + step] = t->values[r];
            }
            if (nboot > 0) {
                if (t->normalize_obs)
                    lp__obs_norm_apply(t, t->boot_obs, t->boot_obs, nboot);
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
