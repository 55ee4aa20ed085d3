/* program.action: the action space (ABI 1.1). One of
 *   discrete         {dtype: i32, shape: [], num_actions: N}
 *   multi-discrete   {dtype: i32, shape: [K], nvec: [n_1, ..., n_K]}
 *   box (Gaussian)   {dtype: f32, shape: [K], low: [...], high: [...]}
 * low / high may be one number for every dimension, or .inf / -.inf; they
 * default to unbounded. An action with neither num_actions nor nvec is a
 * box (so the 1.0 "num_actions 0: continuous" reading still holds). The
 * arrays the env points to are arena-owned. */
#include "config/scalar.h"
#include "config/walk.h"

#include <math.h>
#include <string.h>

#define ACTION_MAX_DIMS ((int64_t)1 << 20)
#define ACTION_MAX_N    ((int64_t)1 << 31)

/* A bound: a number, or .inf / -.inf (YAML's spelling). */
static int parse_bound(const lp__ynode *n, double *out) {
    if (n->kind != LP__Y_SCALAR || n->tag != NULL)
        return -1;
    static const struct {
        const char *s;
        double v;
    } inf[] = {{".inf", INFINITY}, {"+.inf", INFINITY}, {"-.inf", -INFINITY},
               {".Inf", INFINITY}, {"+.Inf", INFINITY}, {"-.Inf", -INFINITY}};
    for (size_t i = 0; i < sizeof inf / sizeof inf[0]; i++)
        if (strlen(inf[i].s) == n->len && memcmp(inf[i].s, n->text, n->len) == 0) {
            *out = inf[i].v;
            return 0;
        }
    if (lp__parse_float(n->text, n->len, out) != LP__LIT_OK || !(fabs(*out) <= 3.4e38))
        return -1;
    return 0;
}

/* low or high: one number (broadcast) or `dims` numbers, into out[dims]. */
static int32_t walk_bounds(lp__walk *w, const lp__ynode *n, const char *where, int64_t dims,
                           float *out) {
    char q[LP__QUOTE_MAX];
    if (n->kind == LP__Y_SCALAR) {
        double v;
        if (parse_bound(n, &v) != 0)
            return lp__cfgerr(w->err, lp__walk_at(w, n),
                              "%s '%s' is not a bound; write a number (or .inf / -.inf) for "
                              "every dimension, or a list of %lld numbers",
                              where, lp__quote(q, n->text, n->len), (long long)dims);
        for (int64_t i = 0; i < dims; i++)
            out[i] = (float)v;
        return LP_OK;
    }
    int32_t rc = lp__walk_kind(w, n, LP__Y_SEQ, where);
    if (rc != LP_OK)
        return rc;
    if ((int64_t)n->count != dims)
        return lp__cfgerr(w->err, lp__walk_at(w, n),
                          "%s has %zu numbers but the action has %lld dimensions; give %lld "
                          "numbers, or one number for all of them",
                          where, n->count, (long long)dims, (long long)dims);
    for (size_t i = 0; i < n->count; i++) {
        double v;
        const lp__ynode *it = n->items[i];
        if (parse_bound(it, &v) != 0)
            return lp__cfgerr(w->err, lp__walk_at(w, it),
                              "%s[%zu] is not a bound; write a number (or .inf / -.inf)", where, i);
        out[i] = (float)v;
    }
    return LP_OK;
}

static int32_t walk_nvec(lp__walk *w, const lp__ynode *n, lp_env_info *env, int64_t comps,
                         const lp__ynode *shape) {
    int32_t rc = lp__walk_kind(w, n, LP__Y_SEQ, "program.action.nvec");
    if (rc != LP_OK)
        return rc;
    if (n->count == 0)
        return lp__cfgerr(w->err, lp__walk_at(w, n),
                          "program.action.nvec is empty; give one count (>= 1) per component, "
                          "e.g. nvec: [4, 3]");
    if ((int64_t)n->count != comps)
        return lp__cfgerr(w->err, lp__walk_at(w, shape),
                          "program.action.shape has %lld components but nvec has %zu counts; "
                          "make shape [%zu] (one component per count)",
                          (long long)comps, n->count, n->count);
    int64_t *nvec = lp__arena_array(w->a, n->count, sizeof *nvec);
    if (nvec == NULL)
        return lp__walk_oom(w);
    int64_t sum = 0;
    for (size_t i = 0; i < n->count; i++) {
        char wi[64];
        lp__strf(wi, sizeof wi, "program.action.nvec[%zu]", i);
        rc = lp__walk_int(w, n->items[i], wi, 1, ACTION_MAX_N, &nvec[i]);
        if (rc != LP_OK)
            return rc;
        sum += nvec[i];
        if (sum > ACTION_MAX_N)
            return lp__cfgerr(w->err, lp__walk_at(w, n->items[i]),
                              "program.action.nvec sums to more than %lld logits; use fewer or "
                              "smaller components",
                              (long long)ACTION_MAX_N);
    }
    env->action_space = LP_ACTION_MULTI_DISCRETE;
    env->action_dims = (int32_t)n->count;
    env->action_nvec = nvec;
    env->num_actions = sum;
    env->policy_width = sum;
    return LP_OK;
}

int32_t lp__walk_action_space(lp__walk *w, const lp__ynode *v, lp_env_info *env) {
    const lp__ynode *na = lp__ymap_get(v, "num_actions"), *nv = lp__ymap_get(v, "nvec");
    const lp__ynode *lo = lp__ymap_get(v, "low"), *hi = lp__ymap_get(v, "high");
    const lp__ynode *dt = lp__ymap_get(v, "dtype"), *shape = lp__ymap_get(v, "shape");
    int64_t comps = 1;
    for (int32_t d = 0; d < env->action_rank; d++)
        comps = comps * env->action_shape[d] > ACTION_MAX_N ? ACTION_MAX_N + 1
                                                            : comps * env->action_shape[d];
    if (na != NULL && nv != NULL)
        return lp__cfgerr(w->err, lp__walk_at(w, lp__walk_key_node(v, "nvec")),
                          "program.action gives both num_actions and nvec; keep num_actions for "
                          "one discrete choice, or nvec for several (multi-discrete)");
    if ((na != NULL && env->num_actions > 0) || nv != NULL) {
        const lp__ynode *b = lo != NULL ? lo : hi;
        if (b != NULL)
            return lp__cfgerr(w->err,
                              lp__walk_at(w, lp__walk_key_node(v, lo != NULL ? "low" : "high")),
                              "program.action.%s bounds a continuous (box) action, but this one "
                              "is discrete (%s); remove low/high, or remove %s for a box",
                              lo != NULL ? "low" : "high", na != NULL ? "num_actions" : "nvec",
                              na != NULL ? "num_actions" : "nvec");
    }
    if (nv != NULL || (na != NULL && env->num_actions > 0)) {
        if (nv != NULL && env->action_dtype != LP_DTYPE_I32)
            return lp__cfgerr(w->err, lp__walk_at(w, dt),
                              "program.action.dtype is %s, but a multi-discrete action is i32; "
                              "write dtype: i32",
                              lp_dtype_name(env->action_dtype));
        if (nv != NULL)
            return walk_nvec(w, nv, env, comps, shape);
        env->action_space = LP_ACTION_DISCRETE;
        env->action_dims = 1;
        env->policy_width = env->num_actions;
        return LP_OK;
    }
    /* A box: a diagonal Gaussian over the action's values. */
    if (env->action_dtype != LP_DTYPE_F32)
        return lp__cfgerr(w->err, lp__walk_at(w, dt),
                          "program.action.dtype is %s, but a continuous (box) action is f32; "
                          "write dtype: f32, or give num_actions (discrete) or nvec "
                          "(multi-discrete)",
                          lp_dtype_name(env->action_dtype));
    if (comps > ACTION_MAX_DIMS)
        return lp__cfgerr(w->err, lp__walk_at(w, shape),
                          "program.action.shape has more than %lld values; use a smaller box",
                          (long long)ACTION_MAX_DIMS);
    float *low = lp__arena_array(w->a, (size_t)comps, sizeof *low);
    float *high = lp__arena_array(w->a, (size_t)comps, sizeof *high);
    if (low == NULL || high == NULL)
        return lp__walk_oom(w);
    for (int64_t i = 0; i < comps; i++)
        low[i] = -INFINITY, high[i] = INFINITY;
    int32_t rc = LP_OK;
    if (lo != NULL)
        rc = walk_bounds(w, lo, "program.action.low", comps, low);
    if (rc == LP_OK && hi != NULL)
        rc = walk_bounds(w, hi, "program.action.high", comps, high);
    if (rc != LP_OK)
        return rc;
    for (int64_t i = 0; i < comps; i++)
        if (!(low[i] < high[i]))
            return lp__cfgerr(w->err, lp__walk_at(w, hi != NULL ? hi : lo),
                              "program.action: dimension %lld has low %g >= high %g; make each "
                              "low smaller than its high",
                              (long long)i, (double)low[i], (double)high[i]);
    env->num_actions = 0;
    env->action_space = LP_ACTION_BOX;
    env->action_dims = (int32_t)comps;
    env->action_low = low;
    env->action_high = high;
    env->policy_width = 2 * comps;
    return LP_OK;
}
