/* Checkpoints of a training run: the session's state (every instance's
 * registered tensors, the host's counters) plus the trainer's extra tensors:
 *
 *   model/...          the MLP's parameters (lp_mlp_named_params)
 *   optimizer/m, v, step   Adam's moments and step count
 *   trainer/rng        i64[4]: the action sampler's xoshiro256** state
 *   trainer/obs        f32[num_envs, obs...]: the current observations
 *   trainer/returns    f64[return_window]: the ring of the last returns
 *   trainer/lengths    f64[return_window]: and of their lengths
 *   trainer/counters   i64[3]: episodes finished, ring position, ring count
 *   trainer/obs_norm   f64[2 * obs_dim + 1]: with env.normalize_obs, the running
 *                      mean and variance of every observation element and the count
 *   trainer/memory     f32[num_envs, M]: with model.type gru, each
 *                      environment's recurrent state before its next step
 *   env/snapshot       u8[size]: the environment's own snapshot (when it has
 *                      snapshot callbacks)
 *
 * With those a resumed run draws the same actions, sees the same
 * observations and trains on the same minibatches as the uninterrupted run. */
#include "train/train_impl.h"

#include "util/error.h"

#include <math.h>

#include <stdlib.h>
#include <string.h>

/* Element i of a checkpoint entry (unaligned file data), as a double or an
 * int64; 0 for another dtype. */
static double entry_f64(const lp_load_entry *e, int64_t i) {
    const unsigned char *d = e->data;
    if (e->dtype == LP_DTYPE_F32) {
        float f;
        memcpy(&f, d + 4 * i, 4);
        return f;
    }
    if (e->dtype == LP_DTYPE_F64) {
        double v;
        memcpy(&v, d + 8 * i, 8);
        return v;
    }
    return 0.0;
}

static int64_t entry_i64(const lp_load_entry *e, int64_t i) {
    const unsigned char *d = e->data;
    if (e->dtype == LP_DTYPE_I64) {
        int64_t v;
        memcpy(&v, d + 8 * i, 8);
        return v;
    }
    if (e->dtype == LP_DTYPE_I32) {
        int32_t v;
        memcpy(&v, d + 4 * i, 4);
        return v;
    }
    return 0;
}

static lp_tensor view1(void *data, int32_t dtype, int64_t len) {
    lp_tensor v;
    memset(&v, 0, sizeof v);
    v.data = data;
    v.dtype = dtype;
    v.rank = 1;
    v.shape[0] = len;
    v.strides[0] = 1;
    return v;
}

int32_t lp__persist_setup(lp__trainer *t, lp_error *err) {
    size_t nparams = lp__model_tensor_count(t);
    int has_snap = t->env.snapshot != NULL;
    if (has_snap) {
        t->snap_size = t->env.snapshot_size(t->env.user);
        if (t->snap_size == 0)
            return lp__error_set(err, LP_EINVAL,
                                 "lp_train_run: the environment's snapshot_size is 0; return the "
                                 "size of a snapshot, or leave the three snapshot callbacks NULL");
        t->snap = malloc(t->snap_size);
        if (t->snap == NULL)
            return lp__error_set(err, LP_ENOMEM,
                                 "lp_train_run: out of memory for the environment's snapshot (%zu "
                                 "bytes)",
                                 t->snap_size);
    }
    size_t count = nparams + LP_ADAM_TENSOR_COUNT + 7 + (has_snap ? 1 : 0);
    t->extra = calloc(count, sizeof *t->extra);
    if (t->extra == NULL)
        return lp__error_set(err, LP_ENOMEM,
                             "lp_train_run: out of memory for the checkpoint table");
    size_t k = lp__model_named_params(t, t->extra, nparams);
    k += lp_adam_named_tensors(t->adam, t->extra + k);
    t->extra[k].name = "trainer/rng";
    t->extra[k++].view = view1(t->rng, LP_DTYPE_I64, 4);
    lp_tensor obs = view1(t->obs, LP_DTYPE_F32, t->n);
    const lp_env_info *ei = lp_session_env(t->s);
    obs.rank = 1 + ei->obs_rank;
    int64_t stride = t->obs_dim;
    obs.strides[0] = stride;
    for (int32_t d = 0; d < ei->obs_rank; d++) {
        obs.shape[1 + d] = ei->obs_shape[d];
        stride /= ei->obs_shape[d];
        obs.strides[1 + d] = stride;
    }
    t->extra[k].name = "trainer/obs";
    t->extra[k++].view = obs;
    t->extra[k].name = "trainer/returns";
    t->extra[k++].view = view1(t->returns, LP_DTYPE_F64, t->window);
    t->extra[k].name = "trainer/lengths";
    t->extra[k++].view = view1(t->lengths, LP_DTYPE_F64, t->window);
    t->extra[k].name = "trainer/counters";
    t->extra[k++].view = view1(t->counters, LP_DTYPE_I64, LP__CTR_COUNT);
    if (t->obs_stats != NULL) {
        t->extra[k].name = "trainer/obs_norm";
        t->extra[k++].view = view1(t->obs_stats, LP_DTYPE_F64, 2 * t->obs_dim + 1);
    }
    if (t->gru != NULL) {
        lp_tensor mem = view1(t->mem, LP_DTYPE_F32, t->n);
        mem.rank = 2;
        mem.shape[1] = lp_gru_memory_size(t->gru);
        mem.strides[0] = mem.shape[1];
        mem.strides[1] = 1;
        t->extra[k].name = "trainer/memory";
        t->extra[k++].view = mem;
    }
    if (has_snap) {
        t->extra[k].name = "env/snapshot";
        t->extra[k++].view = view1(t->snap, LP_DTYPE_U8, (int64_t)t->snap_size);
    }
    t->extra_count = k;
    if (t->comm.size > 1)
        return lp__persist_ranks_setup(t, nparams + LP_ADAM_TENSOR_COUNT, err);
    return LP_OK;
}

int32_t lp__persist_save(lp__trainer *t, const char *path, lp_error *err) {
    if (t->snap != NULL) {
        err->message[0] = '\0';
        int32_t rc = t->env.snapshot(t->env.user, t->snap, t->snap_size, err);
        if (rc != LP_OK) {
            if (err->message[0] == '\0')
                lp__error_set(err, rc < 0 ? rc : LP_EPLUGIN,
                              "environment snapshot failed with status %d (%s); fix the "
                              "environment's snapshot callback",
                              (int)rc, lp_strerror(rc));
            return rc < 0 ? rc : LP_EPLUGIN;
        }
    }
    if (t->comm.size > 1) {
        int32_t rc = lp__persist_ranks_gather(t, err);
        if (rc != LP_OK || t->comm.rank != 0)
            return rc;
    }
    return lp_session_save(t->s, path, t->extra, t->extra_count, err);
}

/* Whether `name` is one of the trainer's own entries (not an instance's). */
static int trainer_owned(const lp__trainer *t, const char *name) {
    for (size_t i = 0; i < t->extra_count; i++)
        if (strcmp(t->extra[i].name, name) == 0)
            return 1;
    return 0;
}

/* The trainer's entries in the file, checked before anything is restored
 * (lp_session_load_checked): an RNG state that is not all zero (xoshiro
 * would stay at zero), finite parameters, observations, returns and Adam
 * moments, a non-negative second moment, counters in range. */
static int32_t check_entry(void *user, const char *path, const lp_load_entry *e, lp_error *err) {
    const lp__trainer *t = user;
    const char *n = e->name;
    if (strcmp(n, "trainer/rng") == 0) {
        int64_t any = 0;
        for (int64_t i = 0; i < e->numel; i++)
            any |= entry_i64(e, i);
        if (any == 0)
            return lp__error_set(
                err, LP_ECORRUPT,
                "%s: checkpoint entry 'trainer/rng' is all zero, which is not a "
                "xoshiro256** state (it would never leave zero); refusing to resume "
                "from it (nothing was changed)",
                path);
        return LP_OK;
    }
    if (strcmp(n, "trainer/counters") == 0) {
        const int64_t ep = entry_i64(e, LP__CTR_EPISODES);
        const int64_t pos = entry_i64(e, LP__CTR_RING_POS);
        const int64_t cnt = entry_i64(e, LP__CTR_RING_COUNT);
        if (pos < 0 || pos >= t->window || cnt < 0 || cnt > t->window || ep < cnt ||
            ep > ((int64_t)1 << 62))
            return lp__error_set(err, LP_ECORRUPT,
                                 "%s: checkpoint entry 'trainer/counters' holds impossible values "
                                 "(episodes %lld, ring position %lld, count %lld for a window of "
                                 "%lld); refusing to resume from it (nothing was changed)",
                                 path, (long long)ep, (long long)pos, (long long)cnt,
                                 (long long)t->window);
        return LP_OK;
    }
    if (strcmp(n, "optimizer/step") == 0) {
        const int64_t v = entry_i64(e, 0);
        if (v < 0 || v > ((int64_t)1 << 62))
            return lp__error_set(
                err, LP_ECORRUPT,
                "%s: checkpoint entry 'optimizer/step' = %lld is outside [0, 2^62]; "
                "refusing to resume from it (nothing was changed)",
                path, (long long)v);
        return LP_OK;
    }
    if (strcmp(n, "trainer/obs_norm") == 0) {
        const int64_t D = t->obs_dim;
        for (int64_t i = D; i < e->numel; i++) {
            const double v = entry_f64(e, i);
            if (!(v > 0.0) || !isfinite(v))
                return lp__error_set(err, LP_ECORRUPT,
                                     "%s: checkpoint entry 'trainer/obs_norm' holds %g at element "
                                     "%lld, where a variance or the count (> 0, finite) is; "
                                     "refusing to resume from it (nothing was changed)",
                                     path, v, (long long)i);
        }
    }
    if (e->dtype != LP_DTYPE_F32 && e->dtype != LP_DTYPE_F64)
        return LP_OK;
    const int second_moment = strcmp(n, "optimizer/v") == 0;
    for (int64_t i = 0; i < e->numel; i++) {
        const double v = entry_f64(e, i);
        if (!isfinite(v) || (second_moment && v < 0.0))
            return lp__error_set(
                err, LP_ECORRUPT,
                "%s: checkpoint entry '%s' holds %g at element %lld (%s); refusing "
                "to resume from it (nothing was changed)",
                path, n, v, (long long)i,
                isfinite(v) ? "Adam's second moment must be >= 0" : "it must be finite");
    }
    return LP_OK;
}

int32_t lp__persist_load(lp__trainer *t, const char *path, lp_load_report **report, lp_error *err) {
    *report = NULL;
    lp_load_report *r = NULL;
    /* The trainer's entries are required and checked before anything is
     * restored and before any loss's load hook runs; with several ranks, rank
     * 0 reads the file and every rank restores from its bytes. */
    int32_t rc = t->comm.size > 1
                     ? lp__persist_ranks_load(t, path, check_entry, &r, err)
                     : lp_session_load_checked(t->s, path, NULL, 0, t->extra, t->extra_count,
                                               t->opt->resume_strict, 1, check_entry, t, &r, err);
    if (rc == LP_OK)
        rc = lp__persist_ranks_check(t, path, r, err);
    if (rc != LP_OK) {
        lp_load_report_free(r); /* a refused load may still come with a report */
        return rc;
    }
    /* Instances may differ (another set of losses); the model, the
     * optimizer, the trainer and the environment must not. */
    static const int32_t bad_kinds[] = {LP_LOAD_MISSING, LP_LOAD_MISMATCHED};
    for (size_t b = 0; b < 2; b++)
        for (size_t i = 0; i < lp_load_report_count(r, bad_kinds[b]); i++) {
            const char *name = lp_load_report_name(r, bad_kinds[b], i);
            if (!trainer_owned(t, name))
                continue;
            rc = lp__error_set(err, LP_ESTATE,
                               "%s: the checkpoint %s '%s'; resume from a checkpoint of this "
                               "program with the same model, trainer.return_window, number of "
                               "environments, environment and number of ranks",
                               path,
                               bad_kinds[b] == LP_LOAD_MISSING ? "has no entry"
                                                               : "has another dtype or shape for",
                               name);
            lp_load_report_free(r);
            return rc;
        }
    const int64_t *c = t->counters;
    if (c[LP__CTR_RING_POS] < 0 || c[LP__CTR_RING_POS] >= t->window || c[LP__CTR_RING_COUNT] < 0 ||
        c[LP__CTR_RING_COUNT] > t->window || c[LP__CTR_EPISODES] < c[LP__CTR_RING_COUNT]) {
        lp_load_report_free(r);
        return lp__error_set(err, LP_ECORRUPT,
                             "%s: trainer/counters holds impossible values (episodes %lld, ring "
                             "position %lld, count %lld for a window of %lld); the file was not "
                             "written by lp_train_run",
                             path, (long long)c[0], (long long)c[1], (long long)c[2],
                             (long long)t->window);
    }
    if (t->snap != NULL) {
        err->message[0] = '\0';
        rc = t->env.restore(t->env.user, t->snap, t->snap_size, err);
        if (rc != LP_OK) {
            char msg[LP_ERROR_MAX];
            memcpy(msg, err->message, sizeof msg);
            lp_load_report_free(r);
            return lp__error_set(err, rc < 0 ? rc : LP_EPLUGIN,
                                 "%s: the environment refused its snapshot: %s", path,
                                 msg[0] != '\0' ? msg : lp_strerror(rc));
        }
    }
    *report = r;
    return LP_OK;
}
