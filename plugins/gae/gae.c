/*
 * gae: generalized advantage estimation, and V-trace as IMPALA defines it.
 *
 * Per row of the buffer, backwards in time (docs/losses/gae.md):
 *
 *   delta_t = rho_t * (r_t + gamma * V_{t+1} * nnt_t - V_t)
 *   D_t     = delta_t + gamma * lambda * c_t * nnt_t * D_{t+1}   (v_t - V_t)
 *   returns_t = D_t + V_t                                         (v_t)
 *   advantages_t = D_t                                  (plain GAE; and
 *                  V-trace with vtrace_advantages: value_target)
 *   advantages_t = rho_t (r_t + gamma nnt_t v_{t+1} - V_t)
 *                = delta_t + gamma rho_t nnt_t D_{t+1}  (V-trace, impala)
 *
 * with nnt_t = 1 - done_t, rho_t = min(ratio_t, rho_bar),
 * c_t = min(ratio_t, c_bar), V_{t+1} of a row's last step = next_values
 * (and v_{t+1} there too: D = 0 beyond the row). Every input is checked
 * (and every row computed) before anything is written: a failing call
 * leaves advantages and returns as they were.
 * With bootstrap_truncated, a truncated step cuts the trace but bootstraps
 * from next_values[t]. It writes the buffer fields `advantages` and
 * `returns` at train_start, and with vtrace again at each update epoch after
 * the first, with the `ratios` the previous pass wrote. It adds no loss.
 */
#include <lossplug/plugin.h>

#include "lp_attach.h"

#include <stdlib.h>

/* Inlined into a unit-stride and a strided caller, so that the first sees
 * constant strides. */
#if defined(__GNUC__)
#define G_INLINE static inline __attribute__((always_inline))
#else
#define G_INLINE static inline
#endif

enum {
    G_P_GAMMA = 0,
    G_P_LAMBDA,
    G_P_RHO_BAR,
    G_P_C_BAR,
    G_P_VTRACE,
    G_P_BOOT_TRUNC,
    G_P_VTRACE_ADV,
};

static const char *const g_vtrace_adv[] = {"impala", "value_target", NULL};

static const lp_param_spec g_params[] = {
    LP_PARAM_FLOAT_SPEC("gamma", "discount factor", 0.99, 0.0, 1.0),
    LP_PARAM_FLOAT_SPEC("lambda",
                        "GAE lambda: 0 gives one-step TD errors, 1 discounted returns minus V",
                        0.95, 0.0, 1.0),
    LP_PARAM_FLOAT_SPEC("rho_bar", "V-trace: the TD error uses min(ratio, rho_bar)", 1.0, 0.0, 1e6),
    LP_PARAM_FLOAT_SPEC("c_bar", "V-trace: the trace uses min(ratio, c_bar)", 1.0, 0.0, 1e6),
    LP_PARAM_BOOL_SPEC("vtrace",
                       "recompute at each update epoch after the first with the 'ratios' field "
                       "the previous pass wrote (ratios are 1 at train start)",
                       0),
    LP_PARAM_BOOL_SPEC("bootstrap_truncated",
                       "a step flagged in 'truncateds' bootstraps from next_values[t] (the final "
                       "observation's value) instead of 0, still cutting the trace",
                       0),
    LP_PARAM_ENUM_SPEC("vtrace_advantages",
                       "with vtrace: impala writes IMPALA's policy-gradient advantages "
                       "rho_t (r_t + gamma v_{t+1} - V_t); value_target writes v_t - V_t",
                       "impala", g_vtrace_adv),
};

/* Field order = the order of handles in g_inst.fh. */
enum {
    G_F_REWARDS = 0,
    G_F_DONES,
    G_F_VALUES,
    G_F_NEXT_VALUES,
    G_F_TRUNCATEDS,
    G_F_RATIOS,
    G_F_ADVANTAGES,
    G_F_RETURNS,
    G_F_COUNT
};

static const lp_field_spec g_fields[] = {
    LP_FIELD_SCALAR("rewards", "reward for the step taken at t", LP_FIELD_READ, LP_PHASE_TRAIN,
                    LP_DTYPE_F32),
    LP_FIELD_SCALAR("dones",
                    "1 when the step taken at t ended its episode (terminated or truncated)",
                    LP_FIELD_READ, LP_PHASE_TRAIN, LP_DTYPE_U8),
    LP_FIELD_SCALAR("values", "V(obs_t) recorded at rollout", LP_FIELD_READ, LP_PHASE_TRAIN,
                    LP_DTYPE_F32),
    LP_FIELD_SCALAR("next_values",
                    "V(obs_{t+1}): read at the last step of each row (the bootstrap) and at "
                    "truncated steps when bootstrap_truncated is set",
                    LP_FIELD_READ, LP_PHASE_TRAIN, LP_DTYPE_F32),
    LP_FIELD_SCALAR("truncateds", "1 when the end at t was a time-limit truncation (optional)",
                    LP_FIELD_READ | LP_FIELD_OPTIONAL, LP_PHASE_TRAIN, LP_DTYPE_U8),
    LP_FIELD_SCALAR("ratios",
                    "importance ratios of the latest minibatch pass, for V-trace (optional; "
                    "written by ppo)",
                    LP_FIELD_READ | LP_FIELD_OPTIONAL, LP_PHASE_TRAIN, LP_DTYPE_F32),
    LP_FIELD_SCALAR("advantages", "advantage estimates, written for the whole buffer",
                    LP_FIELD_WRITE, LP_PHASE_TRAIN, LP_DTYPE_F32),
    LP_FIELD_SCALAR("returns", "advantages + values, the critic's target", LP_FIELD_WRITE,
                    LP_PHASE_TRAIN, LP_DTYPE_F32),
};

typedef char g_fields_match[LP_COUNT_OF(g_fields) == G_F_COUNT ? 1 : -1];

typedef struct g_inst {
    lp_loss loss;
    const lp_host *host;
    const lp_value *params; /* host-owned, updated in place (annealing) */
    const char *name;       /* host-owned (args->name), valid until destroy */
    int32_t fh[G_F_COUNT];  /* field handles, resolved in attach; -1 when absent */
    int32_t stat_mean;
    int32_t stat_std;
    /* Scratch of `cap` elements: per-step TD errors (then advantages) and
     * trace coefficients, and a row of ratios 1 that stands in for the
     * ratios field when it is not used, so that one branch-free loop serves
     * both cases. */
    float *delta, *coef, *ones, *pg; /* pg: gamma rho_t nnt_t (IMPALA advantages) */
    int64_t cap;
} g_inst;

static g_inst *g_of(const lp_loss *self) {
    return (g_inst *)self->data;
}

static double g_param_f(const g_inst *in, int i) {
    return lp_value_f(&in->params[i]);
}

static int g_param_b(const g_inst *in, int i) {
    return lp_value_b(&in->params[i]);
}

static int32_t g_attach(const lp_loss *self, const lp_batch *all) {
    (void)all; /* field types are declared, and guaranteed */
    g_inst *in = g_of(self);
    const lp_host *h = in->host;
    for (int f = 0; f < G_F_COUNT; f++) {
        in->fh[f] = lp__field_handle(h, g_fields[f].name);
        if (in->fh[f] < 0 && !(g_fields[f].access & LP_FIELD_OPTIONAL))
            return lp_errorf(h, LP_ESPEC,
                             "gae '%s': the experience buffer has no field '%s' (%s, one per "
                             "step); %s",
                             in->name, g_fields[f].name, lp_dtype_name(g_fields[f].dtype),
                             g_fields[f].access & LP_FIELD_WRITE
                                 ? "the host should have created it from gae's declaration"
                                 : "the embedding program must write it during rollout");
    }

    if (g_param_b(in, G_P_VTRACE) && in->fh[G_F_RATIOS] < 0)
        lp_logf(h, LP_LOG_WARN,
                "gae '%s': vtrace is set but the buffer has no 'ratios' field; advantages are "
                "computed once per train phase, as plain GAE",
                in->name);
    if (g_param_b(in, G_P_BOOT_TRUNC) && in->fh[G_F_TRUNCATEDS] < 0)
        lp_logf(h, LP_LOG_WARN,
                "gae '%s': bootstrap_truncated is set but the buffer has no 'truncateds' field; "
                "every done step ends its trace without a bootstrap",
                in->name);
    return LP_OK;
}

static int32_t g_reserve(g_inst *in, int64_t n) {
    if (n <= in->cap)
        return LP_OK;
    float *d = realloc(in->delta, (size_t)n * sizeof *d);
    if (d == NULL)
        goto oom;
    in->delta = d;
    float *c = realloc(in->coef, (size_t)n * sizeof *c);
    if (c == NULL)
        goto oom;
    in->coef = c;
    float *o = realloc(in->ones, (size_t)n * sizeof *o);
    if (o == NULL)
        goto oom;
    in->ones = o;
    float *q = realloc(in->pg, (size_t)n * sizeof *q);
    if (q == NULL)
        goto oom;
    in->pg = q;
    for (int64_t t = 0; t < n; t++)
        in->ones[t] = 1.0f;
    in->cap = n;
    return LP_OK;
oom:
    return lp_errorf(in->host, LP_ENOMEM, "gae '%s': out of memory (horizon %lld)", in->name,
                     (long long)n);
}

/* One row's inputs and outputs, each with its step stride (elements). */
typedef struct g_row {
    const float *r, *v, *nv, *ratio;
    const uint8_t *done, *trunc;
    float *adv, *ret;
    int64_t sr, sv, snv, sratio, sdone, strunc, sadv, sret;
} g_row;

typedef struct g_coefs {
    float gamma, gl, rho_bar, c_bar;
} g_coefs;

/* One step, with branches: the last step of a row (V_{t+1} is next_values)
 * and, in bootstrap mode (`trunc` not NULL), a truncated step, which ends
 * the trace but bootstraps from next_values[t]. next_values is read only
 * there: elsewhere it may hold anything, NaN included. */
static inline void g_step(const g_row *w, int64_t t, int64_t T, g_coefs k, float *restrict delta,
                          float *restrict coef, float *restrict pg) {
    const int tr = w->trunc != NULL && w->trunc[t * w->strunc] != 0;
    const int end = tr || w->done[t * w->sdone] != 0;
    float boot = 0.0f;
    if (tr || !end)
        boot = k.gamma * (tr || t == T - 1 ? w->nv[t * w->snv] : w->v[(t + 1) * w->sv]);
    const float ratio = w->ratio[t * w->sratio];
    const float rho = ratio < k.rho_bar ? ratio : k.rho_bar;
    const float c = ratio < k.c_bar ? ratio : k.c_bar;
    delta[t] = rho * (w->r[t * w->sr] + boot - w->v[t * w->sv]);
    coef[t] = end ? 0.0f : k.gl * c;
    pg[t] = end ? 0.0f : k.gamma * rho;
}

/* A whole row. The TD errors and trace coefficients of steps [0, T-1) come
 * from one branch-free loop that vectorises (inlined with unit strides in
 * the common case): V_{t+1} = values[t+1], times nnt_t = 1 - done_t as the
 * formula writes it (values are finite, so 0 * V is 0). Then the last step,
 * then truncated steps are redone one by one, then the backward recurrence
 * (serial). Afterwards delta holds the advantages (D, or IMPALA's with
 * `impala`) and coef the returns; they are written to the row when `write`.
 * Returns the row's sum of advantages (f64). */
G_INLINE double g_row_run(const g_row *w, int64_t T, g_coefs k, float *restrict delta,
                          float *restrict coef, float *restrict pg, int impala, int write) {
    for (int64_t t = 0; t < T - 1; t++) {
        const float nnt = w->done[t * w->sdone] == 0 ? 1.0f : 0.0f;
        const float ratio = w->ratio[t * w->sratio];
        const float rho = ratio < k.rho_bar ? ratio : k.rho_bar;
        const float c = ratio < k.c_bar ? ratio : k.c_bar;
        delta[t] =
            rho * (w->r[t * w->sr] + k.gamma * w->v[(t + 1) * w->sv] * nnt - w->v[t * w->sv]);
        coef[t] = k.gl * c * nnt;
        pg[t] = k.gamma * rho * nnt;
    }
    g_step(w, T - 1, T, k, delta, coef, pg);
    if (w->trunc != NULL)
        for (int64_t t = 0; t < T - 1; t++)
            if (w->trunc[t * w->strunc] != 0)
                g_step(w, t, T, k, delta, coef, pg);

    /* D_t = delta_t + coef_t D_{t+1}; IMPALA's advantage needs D_{t+1}
     * (v_{t+1} - V_{t+1}) and delta_t of the same step. */
    float a = 0.0f;
    double sum = 0.0;
    for (int64_t t = T - 1; t >= 0; t--) {
        const float d = delta[t], next = a;
        a = d + coef[t] * a;
        const float adv = impala ? d + pg[t] * next : a;
        coef[t] = a + w->v[t * w->sv]; /* returns: v_t */
        delta[t] = adv;
        sum += (double)adv;
    }
    if (write)
        for (int64_t t = 0; t < T; t++) {
            w->adv[t * w->sadv] = delta[t];
            w->ret[t * w->sret] = coef[t];
        }
    return sum;
}

/* The common layout (every step stride 1), so that the compiler sees
 * constant strides after inlining. */
static double g_row_unit(const g_row *w, int64_t T, g_coefs k, float *restrict delta,
                         float *restrict coef, float *restrict pg, int impala, int write) {
    g_row u = *w;
    u.sr = u.sv = u.snv = u.sratio = u.sdone = u.strunc = u.sadv = u.sret = 1;
    return g_row_run(&u, T, k, delta, coef, pg, impala, write);
}

static double g_row_strided(const g_row *w, int64_t T, g_coefs k, float *restrict delta,
                            float *restrict coef, float *restrict pg, int impala, int write) {
    return g_row_run(w, T, k, delta, coef, pg, impala, write);
}

/* Reports a row whose advantages are not finite: the last step (going
 * backwards, where the recurrence starts) with a non-finite input that the
 * computation reads, else the overflow. Nothing has been written. */
static int32_t g_report_nonfinite(const g_inst *in, const g_row *w, int64_t row, int64_t T) {
    for (int64_t t = T - 1; t >= 0; t--) {
        const int tr = w->trunc != NULL && w->trunc[t * w->strunc] != 0;
        const int reads_nv = t == T - 1 || tr;
        const float r = w->r[t * w->sr], v = w->v[t * w->sv], nv = w->nv[t * w->snv];
        const char *what = !isfinite(r)                ? "rewards"
                           : !isfinite(v)              ? "values"
                           : reads_nv && !isfinite(nv) ? "next_values"
                                                       : NULL;
        if (what != NULL)
            return lp_errorf(in->host, LP_ENUMERIC,
                             "gae '%s': field '%s' is not finite at row %lld, step %lld (reward "
                             "%g, value %g, next value %g); rewards, values and next_values must "
                             "be finite; advantages and returns were left as they were",
                             in->name, what, (long long)row, (long long)t, (double)r, (double)v,
                             (double)nv);
    }
    return lp_errorf(in->host, LP_ENUMERIC,
                     "gae '%s': the advantages of row %lld overflow (finite inputs too large for "
                     "f32); advantages and returns were left as they were",
                     in->name, (long long)row);
}

/* Computes advantages and returns for the whole buffer `all`, with the
 * ratios field when `use_ratios`, else with ratios of 1. */
static int32_t g_compute(g_inst *in, const lp_batch *all, int use_ratios) {
    const lp_host *h = in->host;
    /* Read at every call: the host may anneal them in place. */
    const double gamma = g_param_f(in, G_P_GAMMA), lambda = g_param_f(in, G_P_LAMBDA);
    const double rho_bar = g_param_f(in, G_P_RHO_BAR), c_bar = g_param_f(in, G_P_C_BAR);

    const int64_t R = all->rows, T = all->horizon;
    if (R == 0 || T == 0)
        return LP_OK;
    int32_t rc = g_reserve(in, T);
    if (rc != LP_OK)
        return rc;

    const lp_tensor *f = all->fields;
    const lp_tensor *tr = &f[in->fh[G_F_REWARDS]], *td = &f[in->fh[G_F_DONES]];
    const lp_tensor *tv = &f[in->fh[G_F_VALUES]], *tn = &f[in->fh[G_F_NEXT_VALUES]];
    const lp_tensor *ta = &f[in->fh[G_F_ADVANTAGES]], *tt = &f[in->fh[G_F_RETURNS]];
    const lp_tensor *ttr = g_param_b(in, G_P_BOOT_TRUNC) && in->fh[G_F_TRUNCATEDS] >= 0
                               ? &f[in->fh[G_F_TRUNCATEDS]]
                               : NULL;
    const lp_tensor *tra = use_ratios ? &f[in->fh[G_F_RATIOS]] : NULL;

    /* Every ratio is checked before anything is written. */
    if (tra != NULL) {
        const float *ra = (const float *)tra->data;
        for (int64_t r = 0; r < R; r++)
            for (int64_t t = 0; t < T; t++) {
                const float x = ra[r * tra->strides[0] + t * tra->strides[1]];
                if (!(isfinite(x) && x >= 0.0f))
                    return lp_errorf(h, LP_ENUMERIC,
                                     "gae '%s': ratio %g at row %lld, step %lld is not a finite "
                                     "value >= 0; the loss that writes 'ratios' (ppo) must write "
                                     "exp(log p_new - logprobs) at every step",
                                     in->name, (double)x, (long long)r, (long long)t);
            }
    }

    const g_coefs k = {(float)gamma, (float)(gamma * lambda), (float)rho_bar, (float)c_bar};
    /* IMPALA's advantages whenever V-trace runs (ratios 1 at train start, so
     * that every update epoch uses the same definition); without a ratios
     * field vtrace falls back to plain GAE (attach warned). */
    const int impala = g_param_b(in, G_P_VTRACE) && in->fh[G_F_RATIOS] >= 0 &&
                       strcmp(lp_value_s(&in->params[G_P_VTRACE_ADV]), "impala") == 0;
    g_row w = {
        .sr = tr->strides[1],
        .sv = tv->strides[1],
        .snv = tn->strides[1],
        .sratio = tra != NULL ? tra->strides[1] : 1,
        .sdone = td->strides[1],
        .strunc = ttr != NULL ? ttr->strides[1] : 1,
        .sadv = ta->strides[1],
        .sret = tt->strides[1],
    };
    const int unit = (w.sr | w.sv | w.snv | w.sratio | w.sdone | w.strunc | w.sadv | w.sret) == 1;

    /* Pass 0 computes every row without writing (a failure leaves the
     * fields as they were); pass 1 computes and writes. Mean and variance
     * merged across rows (Chan et al.), in f64, on the written pass. */
    double n = 0.0, mean = 0.0, m2 = 0.0;
    for (int pass = 0; pass < 2; pass++)
        for (int64_t r = 0; r < R; r++) {
            w.r = (const float *)tr->data + r * tr->strides[0];
            w.v = (const float *)tv->data + r * tv->strides[0];
            w.nv = (const float *)tn->data + r * tn->strides[0];
            w.done = (const uint8_t *)td->data + r * td->strides[0];
            w.trunc = ttr != NULL ? (const uint8_t *)ttr->data + r * ttr->strides[0] : NULL;
            w.ratio = tra != NULL ? (const float *)tra->data + r * tra->strides[0] : in->ones;
            w.adv = (float *)ta->data + r * ta->strides[0];
            w.ret = (float *)tt->data + r * tt->strides[0];

            const double sum =
                unit ? g_row_unit(&w, T, k, in->delta, in->coef, in->pg, impala, pass)
                     : g_row_strided(&w, T, k, in->delta, in->coef, in->pg, impala, pass);
            if (!isfinite(sum))
                return g_report_nonfinite(in, &w, r, T);
            if (pass == 0)
                continue;
            const double rmean = sum / (double)T;
            double rm2 = 0.0;
            for (int64_t t = 0; t < T; t++) {
                const double d = (double)in->delta[t] - rmean;
                rm2 += d * d;
            }
            const double nn = n + (double)T, dm = rmean - mean;
            mean += dm * (double)T / nn;
            m2 += rm2 + dm * dm * n * (double)T / nn;
            n = nn;
        }
    lp_stat(h, in->stat_mean, mean);
    lp_stat(h, in->stat_std, n > 1.0 ? sqrt(m2 / (n - 1.0)) : 0.0);
    return LP_OK;
}

static int32_t g_train_start(const lp_loss *self, const lp_ctx *ctx, const lp_batch *all) {
    (void)ctx;
    /* The policy has not changed since the rollout: every ratio is 1. */
    return g_compute(g_of(self), all, 0);
}

static int32_t g_update_epoch_start(const lp_loss *self, const lp_ctx *ctx, const lp_batch *all) {
    g_inst *in = g_of(self);
    if (!g_param_b(in, G_P_VTRACE) || in->fh[G_F_RATIOS] < 0)
        return LP_OK;
    /* Update epoch 0 follows train_start, which already computed them. */
    if (ctx->update_epoch <= 0)
        return LP_OK;
    return g_compute(in, all, 1);
}

static void g_destroy(const lp_loss *self) {
    g_inst *in = g_of(self);
    if (in == NULL)
        return;
    free(in->delta);
    free(in->coef);
    free(in->ones);
    free(in->pg);
    free(in);
}

static int32_t g_create(const lp_create_args *args, const lp_loss **out) {
    const lp_host *h = args->host; /* params: schema order, types and ranges guaranteed */
    g_inst *in = calloc(1, sizeof *in);
    if (in == NULL)
        return lp_errorf(h, LP_ENOMEM, "gae: out of memory creating the instance");
    in->name = args->name;
    in->host = h;
    in->params = args->params;
    for (int f = 0; f < G_F_COUNT; f++)
        in->fh[f] = -1;
    in->stat_mean = lp_stat_handle(h, "advantage_mean");
    in->stat_std = lp_stat_handle(h, "advantage_std");

    in->loss.struct_size = sizeof(lp_loss);
    in->loss.data = in;
    in->loss.attach = g_attach;
    in->loss.train_start = g_train_start;
    in->loss.update_epoch_start = g_update_epoch_start;
    in->loss.destroy = g_destroy;
    *out = &in->loss;
    return LP_OK;
}

static const lp_loss_desc g_desc = {
    .struct_size = sizeof(lp_loss_desc),
    .id = "gae",
    .version = "1.0.0",
    .summary = "advantages and returns by GAE(lambda), with V-trace clipping; adds no loss",
    LP_DESC_PARAMS(g_params),
    LP_DESC_FIELDS(g_fields),
    .outputs = NULL, /* it reads no model output */
    .create = g_create,
};

LP_PLUGIN_ENTRY(&g_desc)
