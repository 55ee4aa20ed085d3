/* Data-parallel training over an lp_comm (docs/distributed.md). Every rank
 * runs the same loop on its own environments; what crosses ranks:
 *
 *   setup         rank 0's initial parameters (broadcast)
 *   per minibatch one all-reduce (mean) of the gradient array, then one of
 *                 two doubles: a loss's stop request and non-finite
 *                 gradients, so that every rank stops after the same
 *                 minibatch, or fails with the same message
 *   per epoch     the episode window sums (the mean return of the whole
 *                 job), the stats' sums and counts, and a vote on SIGINT
 *                 and the progress callback's stop
 *
 * Everything else (the epoch counter, the env-step budget, the lr, the
 * solved check) is computed from values every rank holds equally, so the
 * ranks take the same decisions without asking. With one rank nothing here
 * calls the communicator: the single-process path is the same as without
 * one. */
#include "train/train_impl.h"

#include "util/error.h"
#include "util/rng.h"

#include <math.h>
#include <string.h>

int32_t lp__dist_setup(lp__trainer *t, lp_error *err) {
    if (t->opt->comm != NULL) {
        int32_t rc = lp_comm_check(t->opt->comm, err);
        if (rc != LP_OK)
            return rc;
        t->comm = *t->opt->comm;
    } else {
        lp_comm_local_init(&t->comm);
    }
    /* Rank 0 keeps the run's seed (one rank = the single-process run); the
     * others a SplitMix64 mix of it and the rank, non-negative. */
    t->rank_seed = t->seed;
    if (t->comm.rank > 0) {
        uint64_t x = (uint64_t)t->seed ^ ((uint64_t)t->comm.rank << 32);
        t->rank_seed = (int64_t)(lp__splitmix64(&x) >> 1);
    }
    return LP_OK;
}

int32_t lp__dist_broadcast_params(lp__trainer *t, lp_error *err) {
    if (t->comm.size == 1)
        return LP_OK;
    return t->comm.broadcast(t->comm.user, lp__model_params(t),
                             lp__model_param_count(t) * sizeof(float), 0, err);
}

/* 1 when every value is finite: the exponent bits of a NaN or an infinity
 * are all ones. An integer OR, in one pass. */
static int all_finite(const float *g, size_t n) {
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &g[i], sizeof b);
        bad |= (uint32_t)((b & 0x7f800000u) == 0x7f800000u);
    }
    return bad == 0;
}

int32_t lp__dist_step(void *user, float *params, float *grads, size_t count, const lp_ctx *ctx,
                      lp_error *err) {
    lp__trainer *t = user;
    const lp_comm *c = &t->comm;
    /* [0]: a loss of some rank asked to stop; [1]: size - (lowest rank whose
     * gradients are not finite), 0 when none: both as a MAX. */
    double vote[2] = {lp_session_train_stopping(t->s) ? 1.0 : 0.0,
                      all_finite(grads, count) ? 0.0 : (double)(c->size - c->rank)};
    int32_t rc = c->allreduce_f32(c->user, grads, count, LP_COMM_MEAN, err);
    if (rc == LP_OK)
        rc = c->allreduce_f64(c->user, vote, 2, LP_COMM_MAX, err);
    if (rc != LP_OK)
        return rc;
    if (vote[1] > 0.0) {
        int bad = c->size - (int)vote[1];
        return lp__error_set(
            err, LP_ENUMERIC,
            "rank %d of %d computed non-finite gradients (epoch %lld, update epoch "
            "%d, minibatch %d); no rank applied them. Look for a NaN or an "
            "infinity in that rank's losses or environment",
            bad, (int)c->size, (long long)ctx->epoch, (int)ctx->update_epoch, (int)ctx->minibatch);
    }
    if (vote[0] > 0.0 && !lp_session_train_stopping(t->s)) {
        rc = lp_session_train_stop(t->s, err);
        if (rc != LP_OK)
            return rc;
    }
    return lp_adam_step(t->adam, params, grads, count, err);
}

int32_t lp__dist_stats_reduce(void *user, double *sums, double *counts, size_t n, lp_error *err) {
    lp__trainer *t = user;
    const lp_comm *c = &t->comm;
    if (c->size == 1)
        return LP_OK;
    /* The trainer's own stats already hold the whole job's values on every
     * rank: count rank 0's once. */
    if (c->rank != 0) {
        const int32_t own[] = {t->stat_return, t->stat_length, t->stat_sps};
        for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
            if (own[i] >= 0 && (size_t)own[i] < n)
                sums[own[i]] = counts[own[i]] = 0.0;
    }
    int32_t rc = c->allreduce_f64(c->user, sums, n, LP_COMM_SUM, err);
    if (rc == LP_OK)
        rc = c->allreduce_f64(c->user, counts, n, LP_COMM_SUM, err);
    return rc;
}

int32_t lp__dist_episodes(lp__trainer *t, lp_error *err) {
    const int64_t *ctr = t->counters;
    if (t->comm.size == 1) {
        t->ep_return = lp__mean_return(t);
        t->ep_length = lp__mean_length(t);
        t->ep_count = ctr[LP__CTR_RING_COUNT];
        t->ep_episodes = ctr[LP__CTR_EPISODES];
        return LP_OK;
    }
    double v[4] = {0.0, 0.0, (double)ctr[LP__CTR_RING_COUNT], (double)ctr[LP__CTR_EPISODES]};
    for (int64_t i = 0; i < ctr[LP__CTR_RING_COUNT]; i++) {
        v[0] += t->returns[i];
        v[1] += t->lengths[i];
    }
    int32_t rc = t->comm.allreduce_f64(t->comm.user, v, 4, LP_COMM_SUM, err);
    if (rc != LP_OK)
        return rc;
    t->ep_count = (int64_t)v[2];
    t->ep_episodes = (int64_t)v[3];
    t->ep_return = t->ep_count > 0 ? v[0] / v[2] : NAN;
    t->ep_length = t->ep_count > 0 ? v[1] / v[2] : NAN;
    return LP_OK;
}

int32_t lp__dist_agree(lp__trainer *t, int *sigint, int *want_stop, lp_error *err) {
    if (t->comm.size == 1)
        return LP_OK;
    double v[2] = {*sigint ? 1.0 : 0.0, *want_stop ? 1.0 : 0.0};
    int32_t rc = t->comm.allreduce_f64(t->comm.user, v, 2, LP_COMM_MAX, err);
    *sigint = v[0] > 0.0;
    *want_stop = v[1] > 0.0;
    return rc;
}
