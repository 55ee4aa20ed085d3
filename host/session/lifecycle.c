/* The lifecycle (docs/abi.md "Order of calls"): epochs, rollout, train.
 * Schedules gate each instance per phase; annealed params are brought up to
 * date at epoch start, rollout start and train start. Nothing on the
 * rollout-step or minibatch path allocates or looks up a string. */
#include "session/session_impl.h"

#include "util/error.h"
#include "util/options.h"

#include <math.h>
#include <string.h>

/* The first layout of lp_train_summary ends at total_loss. */
#define SUMMARY_V1 LP__SIZE_THROUGH(lp_train_summary, total_loss)

static void make_ctx(const lp_session *s, lp_ctx *c) {
    memset(c, 0, sizeof *c);
    c->struct_size = sizeof *c;
    c->epoch = s->epoch;
    c->env_steps = s->env_steps;
}

static void anneal(lp_session *s) {
    for (size_t i = 0; i < s->inst_count; i++) {
        lp__inst *in = &s->insts[i];
        const lp__schedule *sc = &in->cfg->schedule;
        for (size_t r = 0; r < sc->anneal_count; r++) {
            uint32_t k = in->anneal_index[r];
            lp__anneal_apply(&sc->anneal[r], &in->base[k], &in->params[k], s->epoch, s->env_steps);
        }
    }
}

static int32_t bad_session(lp_error *err, const char *fn) {
    return lp__error_set(err, LP_EINVAL, "%s: the session is NULL", fn);
}

/* Run hook `fn` (a member of lp_loss) on every instance selected by `on`. */
#define RUN_HOOKS(s, on, hook, name, err, ...)                                                     \
    do {                                                                                           \
        for (size_t i_ = 0; i_ < (s)->inst_count; i_++) {                                          \
            lp__inst *in_ = &(s)->insts[i_];                                                       \
            if (!(on) || in_->loss.hook == NULL)                                                   \
                continue;                                                                          \
            lp__hook_begin(in_);                                                                   \
            int32_t rc_ = in_->loss.hook(&in_->loss, __VA_ARGS__);                                 \
            if (rc_ != LP_OK)                                                                      \
                return lp__hook_result(in_, name, rc_, err);                                       \
        }                                                                                          \
    } while (0)

/* RUN_HOOKS for a hook that sees batch `b` (a pointer) in `phase`: with
 * check_fields on, its read-only fields are checked around each call. Off,
 * the cost is one test per call. */
#define RUN_BATCH_HOOKS(s, on, hook, name, err, phase, ctx, b)                                     \
    do {                                                                                           \
        for (size_t i_ = 0; i_ < (s)->inst_count; i_++) {                                          \
            lp__inst *in_ = &(s)->insts[i_];                                                       \
            if (!(on) || in_->loss.hook == NULL)                                                   \
                continue;                                                                          \
            if ((s)->opt.check_fields)                                                             \
                lp__fcheck_before(in_, phase, b);                                                  \
            lp__hook_begin(in_);                                                                   \
            int32_t rc_ = in_->loss.hook(&in_->loss, ctx, b);                                      \
            if (rc_ != LP_OK)                                                                      \
                return lp__hook_result(in_, name, rc_, err);                                       \
            if ((s)->opt.check_fields && (rc_ = lp__fcheck_after(in_, phase, b, name, err)) != 0)  \
                return rc_;                                                                        \
        }                                                                                          \
    } while (0)

/* Before epoch_start and rollout_start: annealed params and each
 * instance's rollout schedule brought up to date, and the hooks' ctx. */
static void rollout_begin(lp_session *s, lp_ctx *ctx) {
    anneal(s);
    make_ctx(s, ctx);
    for (size_t i = 0; i < s->inst_count; i++)
        s->insts[i].rollout_on = lp__schedule_enabled(&s->insts[i].cfg->schedule, LP_PHASE_ROLLOUT,
                                                      s->epoch, s->env_steps);
}

int32_t lp_session_epoch_start(lp_session *s, lp_error *err) {
    if (s == NULL)
        return bad_session(err, "lp_session_epoch_start");
    lp_ctx ctx;
    rollout_begin(s, &ctx);
    RUN_HOOKS(s, 1, epoch_start, "epoch_start", err, &ctx);
    return LP_OK;
}

int32_t lp_session_rollout_start(lp_session *s, lp_error *err) {
    if (s == NULL)
        return bad_session(err, "lp_session_rollout_start");
    lp_ctx ctx;
    rollout_begin(s, &ctx);
    RUN_HOOKS(s, in_->rollout_on, rollout_start, "rollout_start", err, &ctx);
    return LP_OK;
}

int32_t lp_session_rollout_step(lp_session *s, int64_t t, lp_error *err) {
    if (s == NULL)
        return bad_session(err, "lp_session_rollout_step");
    if (t < 0 || t >= s->env.horizon)
        return lp__error_set(err, LP_ERANGE,
                             "lp_session_rollout_step: step %lld is outside the horizon [0, %lld); "
                             "pass t from 0 to buffer.horizon - 1",
                             (long long)t, (long long)s->env.horizon);
    lp__buffer_step(s, t);
    lp_ctx ctx;
    make_ctx(s, &ctx);
    ctx.step = (int32_t)t;
    RUN_BATCH_HOOKS(s, in_->rollout_on, rollout_step, "rollout_step", err, LP_PHASE_ROLLOUT, &ctx,
                    &s->step_batch);
    s->env_steps += s->env.segments * s->opt.replicas;
    return LP_OK;
}

static int32_t model_failed(const lp_session *s, const char *what, int32_t rc, const lp_ctx *c,
                            const lp_error *merr, lp_error *err) {
    int32_t code = rc < 0 ? rc : LP_EINVAL;
    return lp__error_set(err, code,
                         "the model's %s failed at epoch %lld, update epoch %d, minibatch %d: %s",
                         what, (long long)s->epoch, (int)c->update_epoch, (int)c->minibatch,
                         merr->message[0] != '\0' ? merr->message : lp_strerror(rc));
}

static int32_t train_phase(lp_session *s, const lp_model *model, lp_train_summary *summary,
                           lp_error *err) {
    anneal(s);
    lp__stats_reset(s);
    for (size_t i = 0; i < s->inst_count; i++)
        s->insts[i].train_on = lp__schedule_enabled(&s->insts[i].cfg->schedule, LP_PHASE_TRAIN,
                                                    s->epoch, s->env_steps);
    lp_ctx ctx;
    make_ctx(s, &ctx);
    ctx.minibatch_count = (int32_t)s->plan.minibatches;
    RUN_BATCH_HOOKS(s, in_->train_on, train_start, "train_start", err, LP_PHASE_TRAIN, &ctx,
                    &s->all_batch);

    const lp__inst *stopper = NULL;
    s->train_stopper = NULL;
    s->program_stop = 0;
    int32_t minibatches = 0, update_epochs = 0, skipped = 0;
    double total_sum = 0.0;
    lp_error merr;
    for (int64_t ue = 0; ue < s->plan.update_epochs && stopper == NULL && !s->program_stop; ue++) {
        update_epochs++;
        ctx.update_epoch = (int32_t)ue;
        ctx.minibatch = 0;
        if (s->plan.shuffle)
            lp__permutation(s->perm, s->perm_count, s->plan.seed, s->epoch, ue);
        RUN_BATCH_HOOKS(s, in_->train_on, update_epoch_start, "update_epoch_start", err,
                        LP_PHASE_TRAIN, &ctx, &s->all_batch);
        for (int64_t k = 0; k < s->plan.minibatches && stopper == NULL && !s->program_stop; k++) {
            ctx.minibatch = (int32_t)k;
            lp__buffer_minibatch(s, k);
            merr.code = LP_OK;
            merr.message[0] = '\0';
            int32_t rc = model->forward(model->user, &s->mb_batch, s->out_views, &merr);
            if (rc != LP_OK)
                return model_failed(s, "forward", rc, &ctx, &merr, err);
            double total = 0.0;
            int skip = 0;
            for (size_t i = 0; i < s->inst_count && !skip; i++) {
                lp__inst *in = &s->insts[i];
                if (!in->train_on || in->loss.train == NULL)
                    continue;
                lp_train_result res;
                memset(&res, 0, sizeof res);
                res.struct_size = sizeof res;
                if (s->opt.check_fields)
                    lp__fcheck_before(in, LP_PHASE_TRAIN, &s->mb_batch);
                lp__hook_begin(in);
                s->train_inst = in; /* the model extension's forward is open to it */
                rc = in->loss.train(&in->loss, &ctx, &s->mb_batch, (float)in->cfg->weight, &res);
                s->train_inst = NULL;
                if (rc == LP_OK && s->opt.check_fields) {
                    rc = lp__fcheck_after(in, LP_PHASE_TRAIN, &s->mb_batch, "train", err);
                    if (rc != LP_OK)
                        return rc;
                }
                /* The guard: nothing non-finite goes on to the model. A
                 * hook's own LP_ENUMERIC counts as such a minibatch. */
                if (rc == LP_OK)
                    rc = lp__guard_check(s, in, res.loss, &ctx, err);
                else
                    rc = lp__hook_result(in, "train", rc, err);
                if (rc == LP_ENUMERIC && s->plan.nonfinite == LP_NONFINITE_SKIP) {
                    lp__session_log(s, LP_LOG_WARN, "skipping the minibatch: %s", err->message);
                    s->aux_pending = 0;
                    skip = 1;
                    break;
                }
                if (rc != LP_OK)
                    return rc;
                rc = lp__model_ext_flush(s, in, &ctx, err);
                if (rc != LP_OK)
                    return rc;
                lp__stat_record(s, in->loss_stat, res.loss);
                total += in->cfg->weight * res.loss;
                if (res.stop && stopper == NULL)
                    s->train_stopper = stopper = in;
            }
            if (skip) {
                skipped++;
                RUN_HOOKS(s, in_->train_on, minibatch_end, "minibatch_end", err, &ctx);
                continue;
            }
            lp__buffer_scatter(s, k);
            if (model->backward != NULL) {
                merr.message[0] = '\0';
                rc = model->backward(model->user, &s->mb_batch, s->grad_views, &merr);
                if (rc != LP_OK)
                    return model_failed(s, "backward", rc, &ctx, &merr, err);
            }
            if (model->step != NULL) {
                merr.message[0] = '\0';
                rc = model->step(model->user, &ctx, &merr);
                if (rc != LP_OK)
                    return model_failed(s, "step", rc, &ctx, &merr, err);
            }
            RUN_HOOKS(s, in_->train_on, minibatch_end, "minibatch_end", err, &ctx);
            lp__stat_record(s, s->total_stat, total);
            total_sum += total;
            minibatches++;
        }
    }
    RUN_HOOKS(s, in_->train_on, train_end, "train_end", err, &ctx);
    if (s->skip_stat >= 0)
        lp__stat_record(s, s->skip_stat, (double)skipped);
    int32_t rc = lp__stats_reduce(s, err);
    if (rc != LP_OK)
        return rc;
    lp__stats_finish(s);
    rc = lp__stats_write(s, s->epoch, err);
    lp__stats_reset_program(s);
    if (summary != NULL) {
        /* Only what fits in the caller's struct (checked at the start). */
        lp_train_summary out;
        memset(&out, 0, sizeof out);
        out.minibatches = minibatches;
        out.update_epochs = update_epochs;
        out.stopped = stopper != NULL || s->program_stop;
        out.stopped_by = stopper != NULL ? stopper->cfg->name : NULL;
        out.total_loss = minibatches > 0 ? total_sum / minibatches : NAN;
        out.skipped = skipped;
        const size_t n = summary->struct_size < sizeof out ? summary->struct_size : sizeof out;
        out.struct_size = (uint32_t)n;
        memcpy(summary, &out, n);
    }
    s->epoch++;
    return rc;
}

int32_t lp_session_train(lp_session *s, const lp_model *given, lp_train_summary *summary,
                         lp_error *err) {
    if (s == NULL)
        return bad_session(err, "lp_session_train");
    if (summary != NULL && summary->struct_size < SUMMARY_V1)
        return lp__error_set(err, LP_EINVAL,
                             "lp_session_train: summary->struct_size is %u, smaller than its "
                             "first layout (%zu bytes); set it to the size of the caller's "
                             "struct: lp_train_summary sum = {.struct_size = sizeof sum}",
                             (unsigned)summary->struct_size, (size_t)SUMMARY_V1);
    const lp_model *model = NULL;
    int32_t rc = lp__model_for_train(s, given, &model, err);
    if (rc != LP_OK)
        return rc;
    /* The model extension works while the phase runs, on this model. */
    s->train_begun = 1;
    s->train_model = model;
    s->in_train = 1;
    rc = train_phase(s, model, summary, err);
    s->in_train = 0;
    s->train_stopper = NULL;
    s->train_model = NULL;
    s->train_inst = NULL;
    s->aux_pending = 0;
    return rc;
}

int lp_session_train_stopping(const lp_session *s) {
    return s != NULL && s->in_train && (s->train_stopper != NULL || s->program_stop);
}

int32_t lp_session_train_stop(lp_session *s, lp_error *err) {
    if (s == NULL)
        return bad_session(err, "lp_session_train_stop");
    if (!s->in_train)
        return lp__error_set(err, LP_ESTATE,
                             "lp_session_train_stop: no train phase is running; call it from the "
                             "model's callbacks during lp_session_train");
    s->program_stop = 1;
    return LP_OK;
}
