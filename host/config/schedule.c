/* Schedules: when a loss is on, and the value of an annealed param. Pure
 * functions of (epoch, env_steps); no allocation. */
#include "config/config.h"

#include <math.h>

int lp__rule_matches(const lp__enable_rule *r, int64_t epoch, int64_t env_steps) {
    if (epoch < r->from_epoch || epoch >= r->to_epoch)
        return 0;
    if (env_steps < r->from_step || env_steps >= r->to_step)
        return 0;
    if (r->every_epochs > 0 && (epoch - r->from_epoch) % r->every_epochs >= r->on_epochs)
        return 0;
    return 1;
}

int lp__schedule_enabled(const lp__schedule *s, uint32_t phase, int64_t epoch, int64_t env_steps) {
    const lp__rule_list *list;
    if (phase == LP_PHASE_ROLLOUT)
        list = &s->rollout;
    else if (phase == LP_PHASE_TRAIN)
        list = &s->train;
    else
        return 0;
    if (!list->present)
        return 1;
    for (size_t i = 0; i < list->count; i++)
        if (lp__rule_matches(&list->rules[i], epoch, env_steps))
            return 1;
    return 0;
}

double lp__anneal_value(const lp__anneal_rule *r, double base, int64_t epoch, int64_t env_steps) {
    int64_t t = r->clock == LP__ANNEAL_BY_STEP ? env_steps : epoch;
    if (t <= r->start)
        return base;
    if (t >= r->end)
        return r->to;
    double frac = (double)(t - r->start) / (double)(r->end - r->start);
    double v;
    if (r->shape == LP__ANNEAL_COSINE) {
        const double pi = 3.14159265358979323846;
        v = r->to + (base - r->to) * 0.5 * (1.0 + cos(pi * frac));
    } else {
        v = base + (r->to - base) * frac;
    }
    /* Rounding may step an ulp past either end; both ends are in the
     * param's range, and abi.h promises the value is too. */
    const double lo = base < r->to ? base : r->to, hi = base < r->to ? r->to : base;
    return v < lo ? lo : v > hi ? hi : v;
}

void lp__anneal_apply(const lp__anneal_rule *r, const lp_value *base, lp_value *cur, int64_t epoch,
                      int64_t env_steps) {
    *cur = *base;
    if (base->type == LP_PARAM_FLOAT) {
        cur->f = lp__anneal_value(r, base->f, epoch, env_steps);
    } else if (base->type == LP_PARAM_INT) {
        /* Between two int64 values, so llround cannot overflow except at
         * the very ends of the range, which are returned exactly. */
        int64_t t = r->clock == LP__ANNEAL_BY_STEP ? env_steps : epoch;
        if (t <= r->start)
            cur->i = base->i;
        else if (t >= r->end)
            cur->i = r->to_is_int ? r->to_int : (int64_t)llround(r->to);
        else
            cur->i = (int64_t)llround(lp__anneal_value(r, (double)base->i, epoch, env_steps));
    }
}
