/* The action space of the session's environment (ABI 1.1): checked,
 * completed and copied into session-owned arrays, so that lp_env_info's
 * pointers stay valid until lp_session_destroy whoever declared it (the
 * config or lp_session_options.env). Also the one rule for plugins built
 * before action spaces existed. */
#include "session/session_impl.h"

#include "util/error.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define ACTION_END (offsetof(lp_env_info, policy_width) + sizeof(int64_t))

const char *lp__action_space_name(int32_t space) {
    switch (space) {
    case LP_ACTION_DISCRETE:
        return "discrete";
    case LP_ACTION_MULTI_DISCRETE:
        return "multi-discrete";
    case LP_ACTION_BOX:
        return "box";
    default:
        return "unknown";
    }
}

static int64_t action_values(const lp_env_info *e) {
    int64_t n = 1;
    for (int32_t d = 0; d < e->action_rank; d++) {
        if (e->action_shape[d] > ((int64_t)1 << 31) / n)
            return -1;
        n *= e->action_shape[d];
    }
    return n;
}

int32_t lp__action_take(lp_session *s, const lp_env_info *src, const char *who, lp_error *err) {
    lp_env_info *e = &s->env;
    /* A program built against 1.0 (or one that left the 1.1 fields zero)
     * declares a discrete action with num_actions choices, or a continuous
     * one with num_actions 0: read that as an unbounded box. */
    const int has11 = src->struct_size == 0 || src->struct_size >= ACTION_END;
    int32_t space = has11 ? src->action_space : LP_ACTION_DISCRETE;
    if (space == LP_ACTION_DISCRETE && src->num_actions == 0)
        space = LP_ACTION_BOX;
    const int64_t values = action_values(e);
    if (values < 0)
        return lp__error_set(err, LP_EINVAL, "%s: the action shape has too many values", who);
    e->action_nvec = NULL;
    e->action_low = e->action_high = NULL;
    switch (space) {
    case LP_ACTION_DISCRETE:
        e->action_space = LP_ACTION_DISCRETE;
        e->action_dims = 1;
        e->policy_width = e->num_actions;
        return LP_OK;
    case LP_ACTION_MULTI_DISCRETE: {
        if (e->action_dtype != LP_DTYPE_I32)
            return lp__error_set(err, LP_EINVAL,
                                 "%s: a multi-discrete action is i32, not %s; set action_dtype to "
                                 "LP_DTYPE_I32",
                                 who, lp_dtype_name(e->action_dtype));
        if (src->action_nvec == NULL || src->action_dims < 1 || src->action_dims != values)
            return lp__error_set(err, LP_EINVAL,
                                 "%s: a multi-discrete action needs action_nvec with action_dims "
                                 "counts, one per value of the action shape (%lld); action_dims is "
                                 "%d",
                                 who, (long long)values, (int)src->action_dims);
        int64_t *nvec = malloc((size_t)values * sizeof *nvec);
        if (nvec == NULL)
            return lp__error_set(err, LP_ENOMEM, "lp_session_open: out of memory");
        int64_t sum = 0;
        for (int64_t i = 0; i < values; i++) {
            nvec[i] = src->action_nvec[i];
            if (nvec[i] < 1 || nvec[i] > ((int64_t)1 << 31) ||
                (sum += nvec[i]) > ((int64_t)1 << 31)) {
                free(nvec);
                return lp__error_set(err, LP_EINVAL,
                                     "%s: action_nvec[%lld] is %lld; give counts >= 1 whose sum is "
                                     "at most 2^31",
                                     who, (long long)i, (long long)src->action_nvec[i]);
            }
        }
        if (src->num_actions != 0 && src->num_actions != sum) {
            free(nvec);
            return lp__error_set(err, LP_EINVAL,
                                 "%s: num_actions is %lld but action_nvec sums to %lld; set "
                                 "num_actions to the sum (or 0)",
                                 who, (long long)src->num_actions, (long long)sum);
        }
        s->action_store = nvec;
        e->action_space = LP_ACTION_MULTI_DISCRETE;
        e->action_dims = (int32_t)values;
        e->action_nvec = nvec;
        e->num_actions = sum;
        e->policy_width = sum;
        return LP_OK;
    }
    case LP_ACTION_BOX: {
        if (e->action_dtype != LP_DTYPE_F32)
            return lp__error_set(
                err, LP_EINVAL,
                "%s: a continuous (box) action is f32, not %s; set action_dtype to "
                "LP_DTYPE_F32 (or num_actions > 0 for a discrete action)",
                who, lp_dtype_name(e->action_dtype));
        if (has11 && src->action_space == LP_ACTION_BOX && src->action_dims != 0 &&
            src->action_dims != values)
            return lp__error_set(err, LP_EINVAL,
                                 "%s: action_dims is %d but the action shape has %lld values; make "
                                 "them agree",
                                 who, (int)src->action_dims, (long long)values);
        float *b = malloc(2 * (size_t)values * sizeof *b);
        if (b == NULL)
            return lp__error_set(err, LP_ENOMEM, "lp_session_open: out of memory");
        const float *lo = has11 ? src->action_low : NULL, *hi = has11 ? src->action_high : NULL;
        for (int64_t i = 0; i < values; i++) {
            b[i] = lo != NULL ? lo[i] : -INFINITY;
            b[values + i] = hi != NULL ? hi[i] : INFINITY;
            if (!(b[i] < b[values + i])) {
                free(b);
                return lp__error_set(err, LP_EINVAL,
                                     "%s: action dimension %lld has low %g >= high %g (or a NaN); "
                                     "make each low smaller than its high",
                                     who, (long long)i, (double)(lo != NULL ? lo[i] : -INFINITY),
                                     (double)(hi != NULL ? hi[i] : INFINITY));
            }
        }
        s->action_store = b;
        e->action_space = LP_ACTION_BOX;
        e->action_dims = (int32_t)values;
        e->action_low = b;
        e->action_high = b + values;
        e->num_actions = 0;
        e->policy_width = 2 * values;
        return LP_OK;
    }
    default:
        return lp__error_set(
            err, LP_EINVAL,
            "%s: action_space %d is not an lp_action_space; use LP_ACTION_DISCRETE, "
            "LP_ACTION_MULTI_DISCRETE or LP_ACTION_BOX",
            who, (int)space);
    }
}

/* Whether two declared action spaces are the same one. */
int lp__action_same(const lp_env_info *a, const lp_env_info *b) {
    if (a->action_space != b->action_space || a->action_dims != b->action_dims)
        return 0;
    for (int32_t i = 0; i < a->action_dims; i++) {
        if (a->action_space == LP_ACTION_MULTI_DISCRETE && a->action_nvec[i] != b->action_nvec[i])
            return 0;
        if (a->action_space == LP_ACTION_BOX &&
            (memcmp(&a->action_low[i], &b->action_low[i], sizeof(float)) != 0 ||
             memcmp(&a->action_high[i], &b->action_high[i], sizeof(float)) != 0))
            return 0;
    }
    return 1;
}

void lp__action_text(char *buf, size_t size, const lp_env_info *e) {
    size_t len = 0;
    switch (e->action_space) {
    case LP_ACTION_DISCRETE:
        snprintf(buf, size, "discrete, %lld actions (policy output: %lld logits)",
                 (long long)e->num_actions, (long long)e->policy_width);
        return;
    case LP_ACTION_MULTI_DISCRETE:
        len = (size_t)snprintf(buf, size, "multi-discrete, nvec [");
        for (int32_t i = 0; i < e->action_dims && len < size; i++)
            len += (size_t)snprintf(buf + len, size - len, "%s%lld", i ? ", " : "",
                                    (long long)e->action_nvec[i]);
        if (len < size)
            snprintf(buf + len, size - len, "] (policy output: %lld logits)",
                     (long long)e->policy_width);
        return;
    case LP_ACTION_BOX:
        len = (size_t)snprintf(buf, size, "box, %d dimensions, low [", (int)e->action_dims);
        for (int32_t i = 0; i < e->action_dims && len < size; i++)
            len += (size_t)snprintf(buf + len, size - len, "%s%g", i ? ", " : "",
                                    (double)e->action_low[i]);
        if (len < size)
            len += (size_t)snprintf(buf + len, size - len, "], high [");
        for (int32_t i = 0; i < e->action_dims && len < size; i++)
            len += (size_t)snprintf(buf + len, size - len, "%s%g", i ? ", " : "",
                                    (double)e->action_high[i]);
        if (len < size)
            snprintf(buf + len, size - len,
                     "] (policy output: %lld = means then log-stds of a diagonal Gaussian)",
                     (long long)e->policy_width);
        return;
    default:
        snprintf(buf, size, "unknown");
    }
}

int lp__action_refuses(const lp_session *s, const lp_loss_info *info) {
    if (s->env.action_space == LP_ACTION_DISCRETE || info->abi_minor >= 1 ||
        info->desc->outputs == NULL)
        return 0;
    for (const char *const *o = info->desc->outputs; *o != NULL; o++)
        if (strcmp(*o, "logits") == 0)
            return 1;
    return 0;
}
