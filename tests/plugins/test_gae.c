/*
 * Unit tests of plugins/gae, through its built .so and the mock host of
 * tests/support (lpt.h), against a reference loop written here in double
 * precision straight from losses.md:
 *
 *   delta_t = rho_t (r_t + gamma V_{t+1} nnt_t - V_t)
 *   A_t     = delta_t + gamma lambda c_t nnt_t A_{t+1},   returns = A + V
 *   rho_t = min(ratio_t, rho_bar), c_t = min(ratio_t, c_bar)
 *
 * and, with bootstrap_truncated, a truncated step: delta_t = rho_t (r_t +
 * gamma next_values[t] - V_t), A_t = delta_t.
 */
#include <lpt_assert.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

LPT_PLUGIN_GROUP("gae")

/* ---- a buffer owned by the test ------------------------------------------- */

/* Padding the plugin must neither read (NaN would show) nor write. */
#define PAD_IN  NAN
#define PAD_OUT 12345.0f

/* Every field is [R, T] with element (r, t) at r * RS + t * ST, so that a
 * view can have a row stride larger than the horizon (RS > T) and a step
 * stride other than 1 (ST > 1). */
typedef struct buf {
    int64_t R, T, RS, ST, N;
    float *rew, *val, *nv, *ratio, *adv, *ret;
    uint8_t *done, *trunc;
    int with_trunc, with_ratio;
    lpt_inst *in;
} buf;

static size_t at(const buf *b, int64_t r, int64_t t) {
    return (size_t)(r * b->RS + t * b->ST);
}

static float *alloc_f(size_t n, float fill) {
    float *p = malloc(n * sizeof *p);
    assert_non_null(p);
    for (size_t k = 0; k < n; k++)
        p[k] = fill;
    return p;
}

static uint8_t *alloc_u8(size_t n, uint8_t fill) {
    uint8_t *p = malloc(n);
    assert_non_null(p);
    memset(p, fill, n);
    return p;
}

static lp_tensor view(const buf *b, void *data, int32_t dtype) {
    lp_tensor v = LPT_VIEW(data, dtype, b->R, b->T);
    v.strides[0] = b->RS;
    v.strides[1] = b->ST;
    return v;
}

/* Registers the views with the instance (the fields' handles follow the
 * order of addition; the plugin must not care). */
static void buf_views(buf *b) {
    assert_true(lpt_add_field(b->in, "advantages", view(b, b->adv, LP_DTYPE_F32)) >= 0);
    assert_true(lpt_add_field(b->in, "rewards", view(b, b->rew, LP_DTYPE_F32)) >= 0);
    assert_true(lpt_add_field(b->in, "dones", view(b, b->done, LP_DTYPE_U8)) >= 0);
    assert_true(lpt_add_field(b->in, "values", view(b, b->val, LP_DTYPE_F32)) >= 0);
    assert_true(lpt_add_field(b->in, "next_values", view(b, b->nv, LP_DTYPE_F32)) >= 0);
    if (b->with_trunc)
        assert_true(lpt_add_field(b->in, "truncateds", view(b, b->trunc, LP_DTYPE_U8)) >= 0);
    if (b->with_ratio)
        assert_true(lpt_add_field(b->in, "ratios", view(b, b->ratio, LP_DTYPE_F32)) >= 0);
    assert_true(lpt_add_field(b->in, "returns", view(b, b->ret, LP_DTYPE_F32)) >= 0);
    lpt_set_dims(b->in, b->R, b->T);
}

/* Allocates a buffer of R rows of T steps (inputs zero, padding poisoned)
 * and an instance with its views; create is not called. RS = 0 means T. */
static void buf_init(buf *b, int64_t R, int64_t T, int64_t RS, int64_t ST, int with_trunc,
                     int with_ratio) {
    memset(b, 0, sizeof *b);
    b->R = R, b->T = T, b->ST = ST;
    b->RS = RS > 0 ? RS : T * ST;
    assert_true(b->RS >= (T - 1) * ST + 1);
    b->N = R * b->RS;
    const size_t n = (size_t)b->N;
    b->rew = alloc_f(n, PAD_IN);
    b->val = alloc_f(n, PAD_IN);
    b->nv = alloc_f(n, PAD_IN);
    b->ratio = alloc_f(n, PAD_IN);
    b->adv = alloc_f(n, PAD_OUT);
    b->ret = alloc_f(n, PAD_OUT);
    b->done = alloc_u8(n, 1);
    b->trunc = alloc_u8(n, 1);
    for (int64_t r = 0; r < R; r++)
        for (int64_t t = 0; t < T; t++) {
            const size_t k = at(b, r, t);
            b->rew[k] = b->val[k] = 0.0f;
            b->ratio[k] = 1.0f;
            b->done[k] = b->trunc[k] = 0;
            /* next_values is read at the last step and at truncated ones
             * (bootstrap mode) only: elsewhere it may hold anything. */
            b->nv[k] = t == T - 1 ? 0.0f : NAN;
        }
    b->with_trunc = with_trunc;
    b->with_ratio = with_ratio;
    b->in = lpt_inst_new(g_desc, "adv");
    assert_non_null(b->in);
    buf_views(b);
}

static void buf_start(buf *b) {
    assert_create_attach(b->in);
}

static void buf_done(buf *b) {
    assert_contract_kept(b->in);
    lpt_inst_free(b->in);
    free(b->rew);
    free(b->val);
    free(b->nv);
    free(b->ratio);
    free(b->adv);
    free(b->ret);
    free(b->done);
    free(b->trunc);
}

/* ---- the reference ------------------------------------------------------------ */

typedef struct ref_params {
    double gamma, lambda, rho_bar, c_bar;
    int boot_trunc; /* with truncateds present */
    int use_ratios;
} ref_params;

/* Advantages (dense [R, T]) of buffer b, in double, one step at a time. */
static void ref_gae(const buf *b, ref_params p, double *adv) {
    for (int64_t r = 0; r < b->R; r++) {
        double next_adv = 0.0;
        for (int64_t t = b->T - 1; t >= 0; t--) {
            const size_t k = at(b, r, t);
            const double ratio = p.use_ratios ? b->ratio[k] : 1.0;
            const double rho = fmin(ratio, p.rho_bar), c = fmin(ratio, p.c_bar);
            const int truncated = p.boot_trunc && b->with_trunc && b->trunc[k];
            double a;
            if (truncated) {
                a = rho * (b->rew[k] + p.gamma * b->nv[k] - b->val[k]);
            } else {
                const double nnt = b->done[k] ? 0.0 : 1.0;
                const double v_next = t == b->T - 1 ? b->nv[k] : b->val[at(b, r, t + 1)];
                const double boot = nnt != 0.0 ? p.gamma * v_next * nnt : 0.0;
                const double delta = rho * (b->rew[k] + boot - b->val[k]);
                a = delta + p.gamma * p.lambda * c * nnt * next_adv;
            }
            adv[r * b->T + t] = a;
            next_adv = a;
        }
    }
}

static ref_params defaults(void) {
    ref_params p = {0.99, 0.95, 1.0, 1.0, 0, 0};
    return p;
}

static void set_params(buf *b, ref_params p) {
    assert_int_equal(lpt_set_f(b->in, "gamma", p.gamma), 0);
    assert_int_equal(lpt_set_f(b->in, "lambda", p.lambda), 0);
    assert_int_equal(lpt_set_f(b->in, "rho_bar", p.rho_bar), 0);
    assert_int_equal(lpt_set_f(b->in, "c_bar", p.c_bar), 0);
    assert_int_equal(lpt_set_b(b->in, "bootstrap_truncated", p.boot_trunc), 0);
}

/* The plugin's advantages and returns against the reference; the padding
 * untouched; the stats of this computation. `what` names the case. */
static void check_against_ref(const buf *b, ref_params p, const char *what) {
    const int64_t n = b->R * b->T;
    double *want = malloc((size_t)n * sizeof *want);
    assert_non_null(want);
    ref_gae(b, p, want);
    double sum = 0.0;
    for (int64_t r = 0; r < b->R; r++)
        for (int64_t t = 0; t < b->T; t++) {
            const size_t k = at(b, r, t);
            const double w = want[r * b->T + t], tol = 2e-5 * (1.0 + fabs(w));
            if (!(fabs(b->adv[k] - w) <= tol))
                fail_msg("%s: advantage [row %lld, step %lld] = %.9g, reference %.9g", what,
                         (long long)r, (long long)t, (double)b->adv[k], w);
            const double wr = w + b->val[k];
            if (!(fabs(b->ret[k] - wr) <= tol + 1e-6 * fabs(wr)))
                fail_msg("%s: return [row %lld, step %lld] = %.9g, reference %.9g", what,
                         (long long)r, (long long)t, (double)b->ret[k], wr);
            sum += w;
        }
    /* Nothing written between the rows or steps of the views. */
    for (int64_t k = 0; k < b->N; k++) {
        const int64_t r = k / b->RS, o = k % b->RS;
        if (o % b->ST == 0 && o / b->ST < b->T)
            continue;
        (void)r;
        if (b->adv[k] != PAD_OUT || b->ret[k] != PAD_OUT)
            fail_msg("%s: padding element %lld was written", what, (long long)k);
    }
    const double mean = sum / (double)n;
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++)
        ss += (want[i] - mean) * (want[i] - mean);
    const double sd = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
    double got_mean, got_sd;
    assert_true(lpt_stat(b->in, "advantage_mean", &got_mean, NULL) >= 1);
    assert_true(lpt_stat(b->in, "advantage_std", &got_sd, NULL) >= 1);
    if (!(fabs(got_mean - mean) <= 2e-5 * (1.0 + fabs(mean))) ||
        !(fabs(got_sd - sd) <= 2e-5 * (1.0 + sd)))
        fail_msg("%s: stats mean %.9g std %.9g, reference %.9g %.9g", what, got_mean, got_sd, mean,
                 sd);
    free(want);
}

/* ---- the descriptor ---------------------------------------------------------------- */

static const lp_param_spec *param(const char *name) {
    for (uint32_t i = 0; i < g_desc->param_count; i++)
        if (strcmp(g_desc->params[i].name, name) == 0)
            return &g_desc->params[i];
    fail_msg("no parameter %s", name);
    return NULL;
}

static const lp_field_spec *field(const char *name) {
    for (uint32_t i = 0; i < g_desc->field_count; i++)
        if (strcmp(g_desc->fields[i].name, name) == 0)
            return &g_desc->fields[i];
    fail_msg("no field %s", name);
    return NULL;
}

static void test_descriptor(void **state) {
    (void)state;
    assert_string_equal(g_desc->id, "gae");
    assert_true(g_desc->summary != NULL && g_desc->summary[0] != '\0');
    assert_int_equal(g_desc->param_count, 7);
    const struct {
        const char *name;
        double def, lo, hi;
    } fl[] = {{"gamma", 0.99, 0, 1},
              {"lambda", 0.95, 0, 1},
              {"rho_bar", 1, 0, 1e6},
              {"c_bar", 1, 0, 1e6}};
    for (size_t i = 0; i < LP_COUNT_OF(fl); i++) {
        const lp_param_spec *p = param(fl[i].name);
        assert_int_equal(p->type, LP_PARAM_FLOAT);
        assert_near(p->default_float, fl[i].def, 0.0);
        assert_int_equal(p->flags, LP_PARAM_HAS_MIN | LP_PARAM_HAS_MAX);
        assert_near(p->min, fl[i].lo, 0.0);
        assert_near(p->max, fl[i].hi, 0.0);
        assert_true(p->doc != NULL && p->doc[0] != '\0');
    }
    assert_int_equal(param("vtrace")->type, LP_PARAM_BOOL);
    assert_int_equal(param("vtrace")->default_bool, 0);
    assert_int_equal(param("bootstrap_truncated")->type, LP_PARAM_BOOL);
    assert_int_equal(param("bootstrap_truncated")->default_bool, 0);
    assert_int_equal(param("vtrace_advantages")->type, LP_PARAM_ENUM);
    assert_string_equal(param("vtrace_advantages")->default_string, "impala");

    const struct {
        const char *name;
        int32_t dtype;
        uint32_t access;
    } fs[] = {
        {"rewards", LP_DTYPE_F32, LP_FIELD_READ},
        {"dones", LP_DTYPE_U8, LP_FIELD_READ},
        {"values", LP_DTYPE_F32, LP_FIELD_READ},
        {"next_values", LP_DTYPE_F32, LP_FIELD_READ},
        {"truncateds", LP_DTYPE_U8, LP_FIELD_READ | LP_FIELD_OPTIONAL},
        {"ratios", LP_DTYPE_F32, LP_FIELD_READ | LP_FIELD_OPTIONAL},
        {"advantages", LP_DTYPE_F32, LP_FIELD_WRITE},
        {"returns", LP_DTYPE_F32, LP_FIELD_WRITE},
    };
    assert_int_equal(g_desc->field_count, LP_COUNT_OF(fs));
    for (size_t i = 0; i < LP_COUNT_OF(fs); i++) {
        const lp_field_spec *f = field(fs[i].name);
        assert_int_equal(f->dtype, fs[i].dtype);
        assert_int_equal(f->access, fs[i].access);
        assert_int_equal(f->phase, LP_PHASE_TRAIN);
        assert_int_equal(f->rank, 0);
        assert_true(f->doc != NULL && f->doc[0] != '\0');
    }
    /* It adds no loss and needs no model output. */
    assert_true(g_desc->outputs == NULL || g_desc->outputs[0] == NULL);
}

/* ---- hand-computed cases ------------------------------------------------------------ */

/*
 * One row of 3 steps, gamma 0.5, lambda 0.5 (gamma*lambda = 0.25):
 *   r = (1, 0, 2), V = (0.5, 1, 2), done = (0, 1, 0), next_values[2] = 4
 *   t=2: delta = 2 + 0.5*4 - 2 = 2,            A = 2
 *   t=1: done: delta = 0 + 0 - 1 = -1,         A = -1
 *   t=0: delta = 1 + 0.5*1 - 0.5 = 1,          A = 1 + 0.25*(-1) = 0.75
 *   returns = (1.25, 0, 4)
 *   mean = 1.75/3; std (N-1) = sqrt(((0.75-m)^2 + (-1-m)^2 + (2-m)^2) / 2)
 */
static void hand_buffer(buf *b, int with_trunc, int with_ratio) {
    buf_init(b, 1, 3, 0, 1, with_trunc, with_ratio);
    const float r[3] = {1, 0, 2}, v[3] = {0.5f, 1, 2};
    for (int t = 0; t < 3; t++) {
        b->rew[t] = r[t];
        b->val[t] = v[t];
    }
    b->done[1] = 1;
    b->nv[2] = 4.0f;
    assert_int_equal(lpt_set_f(b->in, "gamma", 0.5), 0);
    assert_int_equal(lpt_set_f(b->in, "lambda", 0.5), 0);
}

static void test_hand_case(void **state) {
    (void)state;
    buf b;
    hand_buffer(&b, 0, 0);
    buf_start(&b);
    assert_int_equal(lpt_train_start(b.in), LP_OK);
    const double adv[3] = {0.75, -1.0, 2.0}, ret[3] = {1.25, 0.0, 4.0};
    for (int t = 0; t < 3; t++) {
        assert_near(b.adv[t], adv[t], 1e-6);
        assert_near(b.ret[t], ret[t], 1e-6);
    }
    const double m = 1.75 / 3.0;
    const double sd =
        sqrt(((0.75 - m) * (0.75 - m) + (-1 - m) * (-1 - m) + (2 - m) * (2 - m)) / 2.0);
    double got;
    assert_int_equal(lpt_stat(b.in, "advantage_mean", &got, NULL), 1);
    assert_near(got, m, 1e-6);
    assert_int_equal(lpt_stat(b.in, "advantage_std", &got, NULL), 1);
    assert_near(got, sd, 1e-6);
    buf_done(&b);
}

/*
 * The same row with truncateds = (0, 1, 0), next_values[1] = 3 (the value
 * of the final observation of the truncated episode), bootstrap_truncated:
 *   t=2: A = 2 (as before)
 *   t=1: truncated: delta = 0 + 0.5*3 - 1 = 0.5, A = 0.5 (trace cut)
 *   t=0: A = 1 + 0.25*0.5 = 1.125
 * Without bootstrap_truncated the truncated flag is ignored: as before.
 */
static void test_hand_truncation(void **state) {
    (void)state;
    buf b;
    hand_buffer(&b, 1, 0);
    b.trunc[1] = 1;
    b.nv[1] = 3.0f;
    assert_int_equal(lpt_set_b(b.in, "bootstrap_truncated", 1), 0);
    buf_start(&b);
    assert_int_equal(lpt_train_start(b.in), LP_OK);
    assert_near(b.adv[2], 2.0, 1e-6);
    assert_near(b.adv[1], 0.5, 1e-6);
    assert_near(b.adv[0], 1.125, 1e-6);
    assert_near(b.ret[1], 1.5, 1e-6);

    /* Annealed off in place: the truncation is an ordinary end again. */
    assert_int_equal(lpt_set_b(b.in, "bootstrap_truncated", 0), 0);
    assert_int_equal(lpt_train_start(b.in), LP_OK);
    assert_near(b.adv[1], -1.0, 1e-6);
    assert_near(b.adv[0], 0.75, 1e-6);
    buf_done(&b);
}

/*
 * The first row again with ratios (2, 0.5, 1), rho_bar = c_bar = 1, vtrace:
 *   train_start: ratios are 1, so plain GAE: (0.75, -1, 2)
 *   update epoch 1:
 *   t=2: rho = 1, A = 2
 *   t=1: rho = 0.5, delta = 0.5*(-1) = -0.5, A = -0.5
 *   t=0: rho = c = min(2, 1) = 1, A = 1 + 0.25*1*(-0.5) = 0.875
 *   with c_bar = 2 instead: t=0: c = 2, A = 1 + 0.25*2*(-0.5) = 0.75
 */
static void test_hand_vtrace(void **state) {
    (void)state;
    buf b;
    hand_buffer(&b, 0, 1);
    b.ratio[0] = 2.0f;
    b.ratio[1] = 0.5f;
    b.ratio[2] = 1.0f;
    assert_int_equal(lpt_set_b(b.in, "vtrace", 1), 0);
    assert_int_equal(lpt_set_s(b.in, "vtrace_advantages", "value_target"), 0);
    buf_start(&b);
    assert_int_equal(lpt_train_start(b.in), LP_OK);
    assert_near(b.adv[0], 0.75, 1e-6);
    assert_near(b.adv[1], -1.0, 1e-6);
    lpt_ctx(b.in)->update_epoch = 1;
    assert_int_equal(lpt_update_epoch_start(b.in), LP_OK);
    assert_near(b.adv[2], 2.0, 1e-6);
    assert_near(b.adv[1], -0.5, 1e-6);
    assert_near(b.adv[0], 0.875, 1e-6);
    assert_near(b.ret[0], 1.375, 1e-6);
    assert_int_equal(lpt_set_f(b.in, "c_bar", 2.0), 0);
    lpt_ctx(b.in)->update_epoch = 2;
    assert_int_equal(lpt_update_epoch_start(b.in), LP_OK);
    assert_near(b.adv[0], 0.75, 1e-6);
    assert_int_equal(lpt_stat(b.in, "advantage_mean", NULL, NULL), 3); /* once per pass */
    buf_done(&b);
}

/* ---- random buffers against the reference -------------------------------------------- */

enum { DONES_RANDOM, DONES_NONE, DONES_ALL };

/* Random inputs: rewards and values ~ N(0, s), dones by `mode`, truncated
 * ends among the dones, ratios around the clips (some exactly at them). */
static void fill_random(buf *b, lpt_rng *rng, int mode, double rho_bar, double c_bar) {
    const double s = lpt_rng_uniform(rng, 0.1, 5.0);
    for (int64_t r = 0; r < b->R; r++)
        for (int64_t t = 0; t < b->T; t++) {
            const size_t k = at(b, r, t);
            b->rew[k] = (float)(s * lpt_rng_normal(rng));
            b->val[k] = (float)(s * lpt_rng_normal(rng));
            b->done[k] = mode == DONES_ALL    ? 1
                         : mode == DONES_NONE ? 0
                                              : (uint8_t)(lpt_rng_uniform(rng, 0, 1) < 0.25);
            b->trunc[k] = b->done[k] && lpt_rng_uniform(rng, 0, 1) < 0.5;
            if (b->trunc[k] || t == b->T - 1)
                b->nv[k] = (float)(s * lpt_rng_normal(rng));
            const int64_t kind = lpt_rng_int(rng, 0, 5);
            b->ratio[k] = kind == 0   ? (float)rho_bar
                          : kind == 1 ? (float)c_bar
                          : kind == 2 ? 0.0f
                                      : (float)lpt_rng_uniform(rng, 0.0, 3.0);
        }
}

static void random_params(lpt_rng *rng, ref_params *p) {
    const double gammas[] = {0.0, 0.5, 0.9, 0.99, 1.0};
    const double lambdas[] = {0.0, 0.5, 0.95, 1.0};
    const double clips[] = {0.5, 1.0, 1.5, 2.0};
    p->gamma = gammas[lpt_rng_int(rng, 0, 4)];
    p->lambda = lambdas[lpt_rng_int(rng, 0, 3)];
    p->rho_bar = clips[lpt_rng_int(rng, 0, 3)];
    p->c_bar = clips[lpt_rng_int(rng, 0, 3)];
}

static void test_random_against_reference(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 400; seed++) {
        lpt_rng rng = lpt_rng_seed(seed);
        const int64_t R = lpt_rng_int(&rng, 1, 5), T = lpt_rng_int(&rng, 1, 17);
        /* Layouts: dense; rows padded (row stride > horizon); steps
         * interleaved with other data (step stride 2 or 3). */
        const int layout = (int)(seed % 3);
        const int64_t ST = layout == 2 ? lpt_rng_int(&rng, 2, 3) : 1;
        const int64_t RS = layout == 0 ? 0 : T * ST + lpt_rng_int(&rng, 1, 7);
        const int mode = (int)(seed / 3 % 3);
        ref_params p = defaults();
        random_params(&rng, &p);
        p.boot_trunc = (seed & 8) != 0;
        const int with_trunc = (seed & 16) != 0 || p.boot_trunc;

        buf b;
        buf_init(&b, R, T, RS, ST, with_trunc, 1);
        fill_random(&b, &rng, mode, p.rho_bar, p.c_bar);
        set_params(&b, p);
        assert_int_equal(lpt_set_b(b.in, "vtrace", 1), 0);
        assert_int_equal(lpt_set_s(b.in, "vtrace_advantages", "value_target"), 0);
        buf_start(&b);

        char what[160];
        snprintf(what, sizeof what,
                 "seed %llu (R %lld T %lld RS %lld ST %lld dones %d gamma %g lambda %g rho_bar %g "
                 "c_bar %g boot %d)",
                 (unsigned long long)seed, (long long)R, (long long)T, (long long)b.RS,
                 (long long)ST, mode, p.gamma, p.lambda, p.rho_bar, p.c_bar, p.boot_trunc);

        /* train_start: the ratios field is there but every ratio counts as 1. */
        assert_int_equal(lpt_train_start(b.in), LP_OK);
        p.use_ratios = 0;
        check_against_ref(&b, p, what);

        /* update epoch 0 computes nothing (train_start just did). */
        const float a0 = b.adv[0];
        b.adv[0] = -7.0f;
        lpt_ctx(b.in)->update_epoch = 0;
        assert_int_equal(lpt_update_epoch_start(b.in), LP_OK);
        assert_near(b.adv[0], -7.0, 0.0);
        b.adv[0] = a0;

        /* update epoch 1: with the ratios. */
        lpt_ctx(b.in)->update_epoch = 1;
        assert_int_equal(lpt_update_epoch_start(b.in), LP_OK);
        p.use_ratios = 1;
        check_against_ref(&b, p, what);
        buf_done(&b);
    }
}

/* Each field with a layout of its own (row stride, step stride): the result
 * is the dense buffer's, which the test above checks against the reference. */
static void test_mixed_layouts(void **state) {
    (void)state;
    enum { NF = 8 };
    const char *names[NF] = {"rewards",    "dones",  "values",     "next_values",
                             "truncateds", "ratios", "advantages", "returns"};
    for (uint64_t seed = 1; seed <= 60; seed++) {
        lpt_rng rng = lpt_rng_seed(500 + seed);
        const int64_t R = lpt_rng_int(&rng, 1, 4), T = lpt_rng_int(&rng, 1, 9);
        buf b;
        buf_init(&b, R, T, 0, 1, 1, 1);
        fill_random(&b, &rng, DONES_RANDOM, 1.0, 1.5);
        assert_int_equal(lpt_set_b(b.in, "vtrace", 1), 0);
        assert_int_equal(lpt_set_s(b.in, "vtrace_advantages", "value_target"), 0);
        assert_int_equal(lpt_set_b(b.in, "bootstrap_truncated", 1), 0);
        assert_int_equal(lpt_set_f(b.in, "c_bar", 1.5), 0);
        buf_start(&b);
        lpt_ctx(b.in)->update_epoch = 1;
        assert_int_equal(lpt_update_epoch_start(b.in), LP_OK);
        ref_params p = defaults();
        p.c_bar = 1.5;
        p.boot_trunc = 1;
        p.use_ratios = 1;
        check_against_ref(&b, p, "dense");

        /* The same numbers, each field at its own strides (the last two
         * written by the plugin, starting as poison). */
        void *src[NF] = {b.rew, b.done, b.val, b.nv, b.trunc, b.ratio, b.adv, b.ret};
        void *dst[NF];
        int64_t rs[NF], st[NF];
        lpt_inst *in = lpt_inst_new(g_desc, "mixed");
        assert_non_null(in);
        for (int f = 0; f < NF; f++) {
            const int u8 = f == 1 || f == 4;
            st[f] = lpt_rng_int(&rng, 1, 3);
            rs[f] = T * st[f] + lpt_rng_int(&rng, 0, 4);
            const size_t n = (size_t)(R * rs[f]), es = u8 ? 1 : 4;
            dst[f] = malloc(n * es);
            assert_non_null(dst[f]);
            memset(dst[f], 0xff, n * es); /* NaN as f32 */
            for (int64_t r = 0; r < R; r++)
                for (int64_t t = 0; t < T; t++) {
                    char *d = (char *)dst[f] + (size_t)(r * rs[f] + t * st[f]) * es;
                    const char *s = (const char *)src[f] + (size_t)(r * T + t) * es;
                    memcpy(d, s, es);
                    if (f >= 6)
                        memset(d, 0xff, es);
                }
            lp_tensor v = LPT_VIEW(dst[f], u8 ? LP_DTYPE_U8 : LP_DTYPE_F32, R, T);
            v.strides[0] = rs[f];
            v.strides[1] = st[f];
            assert_true(lpt_add_field(in, names[f], v) >= 0);
        }
        lpt_set_dims(in, R, T);
        assert_int_equal(lpt_set_b(in, "vtrace", 1), 0);
        assert_int_equal(lpt_set_s(in, "vtrace_advantages", "value_target"), 0);
        assert_int_equal(lpt_set_b(in, "bootstrap_truncated", 1), 0);
        assert_int_equal(lpt_set_f(in, "c_bar", 1.5), 0);
        assert_create_attach(in);
        lpt_ctx(in)->update_epoch = 1;
        assert_int_equal(lpt_update_epoch_start(in), LP_OK);
        for (int f = 6; f < NF; f++)
            for (int64_t r = 0; r < R; r++)
                for (int64_t t = 0; t < T; t++) {
                    const float got = ((const float *)dst[f])[r * rs[f] + t * st[f]];
                    const float want = ((const float *)src[f])[r * T + t];
                    if (!(fabs(got - want) <= 1e-6 * (1.0 + fabs(want))))
                        fail_msg("seed %llu: %s [row %lld, step %lld] = %.9g, dense %.9g",
                                 (unsigned long long)seed, names[f], (long long)r, (long long)t,
                                 (double)got, (double)want);
                }
        assert_int_equal(lpt_violations(in), 0);
        lpt_inst_free(in);
        for (int f = 0; f < NF; f++)
            free(dst[f]);
        buf_done(&b);
    }
}

/* Without vtrace the ratios are never read, whatever the update epoch. */
static void test_no_vtrace_no_recompute(void **state) {
    (void)state;
    lpt_rng rng = lpt_rng_seed(77);
    buf b;
    buf_init(&b, 3, 5, 0, 1, 0, 1);
    fill_random(&b, &rng, DONES_RANDOM, 1.0, 1.0);
    buf_start(&b);
    assert_int_equal(lpt_train_start(b.in), LP_OK);
    ref_params p = defaults();
    check_against_ref(&b, p, "train_start");
    for (int k = 0; k < 15; k++)
        b.ratio[k] = NAN; /* would fail the pass if read */
    for (int e = 0; e < 3; e++) {
        lpt_ctx(b.in)->update_epoch = e;
        assert_int_equal(lpt_update_epoch_start(b.in), LP_OK);
    }
    check_against_ref(&b, p, "after update epochs");
    assert_int_equal(lpt_stat(b.in, "advantage_mean", NULL, NULL), 1);
    buf_done(&b);
}

/* vtrace with no ratios field: plain GAE once, and a warning at attach. */
static void test_vtrace_without_ratios(void **state) {
    (void)state;
    lpt_rng rng = lpt_rng_seed(78);
    buf b;
    buf_init(&b, 2, 4, 0, 1, 0, 0);
    fill_random(&b, &rng, DONES_RANDOM, 1.0, 1.0);
    assert_int_equal(lpt_set_b(b.in, "vtrace", 1), 0);
    assert_int_equal(lpt_set_s(b.in, "vtrace_advantages", "value_target"), 0);
    buf_start(&b);
    assert_int_equal(lpt_log_count(b.in), 1);
    assert_contains(lpt_last_log(b.in), "'ratios'");
    assert_int_equal(lpt_train_start(b.in), LP_OK);
    lpt_ctx(b.in)->update_epoch = 1;
    assert_int_equal(lpt_update_epoch_start(b.in), LP_OK);
    check_against_ref(&b, defaults(), "vtrace without ratios");
    assert_int_equal(lpt_stat(b.in, "advantage_mean", NULL, NULL), 1);
    buf_done(&b);
}

/* ---- edge cases ------------------------------------------------------------------------ */

/* Every step done: A = r - V, no bootstrap even at the last step (whose
 * next value is NaN here: it must not be read). */
static void test_all_dones(void **state) {
    (void)state;
    buf b;
    buf_init(&b, 2, 3, 0, 1, 0, 0);
    for (int k = 0; k < 6; k++) {
        b.rew[k] = (float)k;
        b.val[k] = 0.5f * (float)k;
        b.done[k] = 1;
        b.nv[k] = NAN;
    }
    buf_start(&b);
    assert_int_equal(lpt_train_start(b.in), LP_OK);
    for (int k = 0; k < 6; k++) {
        assert_near(b.adv[k], 0.5 * k, 1e-6);
        assert_near(b.ret[k], (double)k, 1e-6);
    }
    buf_done(&b);
}

/*
 * No dones, gamma = lambda = 1: A_t = sum_{s>=t} r_s + next_values - V_t,
 * the Monte Carlo return with the bootstrap. r = 1 everywhere, V = 0,
 * next_values = 10, T = 4: A = (14, 13, 12, 11).
 */
static void test_no_dones_bootstrap(void **state) {
    (void)state;
    buf b;
    buf_init(&b, 1, 4, 0, 1, 0, 0);
    for (int k = 0; k < 4; k++)
        b.rew[k] = 1.0f;
    b.nv[3] = 10.0f;
    assert_int_equal(lpt_set_f(b.in, "gamma", 1.0), 0);
    assert_int_equal(lpt_set_f(b.in, "lambda", 1.0), 0);
    buf_start(&b);
    assert_int_equal(lpt_train_start(b.in), LP_OK);
    for (int k = 0; k < 4; k++)
        assert_near(b.adv[k], 14.0 - k, 1e-5);
    buf_done(&b);
}

/* One step per row and one row: the bootstrap only; std of one value is 0. */
static void test_one_step(void **state) {
    (void)state;
    buf b;
    buf_init(&b, 1, 1, 0, 1, 0, 0);
    b.rew[0] = 1.0f;
    b.val[0] = 2.0f;
    b.nv[0] = 3.0f;
    buf_start(&b);
    assert_int_equal(lpt_train_start(b.in), LP_OK);
    assert_near(b.adv[0], 1.0 + 0.99 * 3.0 - 2.0, 1e-6);
    double sd;
    assert_int_equal(lpt_stat(b.in, "advantage_std", &sd, NULL), 1);
    assert_near(sd, 0.0, 0.0);
    buf_done(&b);
}

/* Equal advantages: std exactly 0, no NaN. */
static void test_equal_advantages(void **state) {
    (void)state;
    buf b;
    buf_init(&b, 3, 2, 0, 1, 0, 0);
    for (int k = 0; k < 6; k++) {
        b.rew[k] = 0.25f;
        b.done[k] = 1;
    }
    buf_start(&b);
    assert_int_equal(lpt_train_start(b.in), LP_OK);
    double m, sd;
    assert_int_equal(lpt_stat(b.in, "advantage_mean", &m, NULL), 1);
    assert_int_equal(lpt_stat(b.in, "advantage_std", &sd, NULL), 1);
    assert_near(m, 0.25, 0.0);
    assert_near(sd, 0.0, 0.0);
    buf_done(&b);
}

/* An empty buffer is no computation and no division by zero. */
static void test_empty_buffer(void **state) {
    (void)state;
    buf b;
    buf_init(&b, 1, 1, 0, 1, 0, 0);
    buf_start(&b);
    static float f[1];
    static uint8_t u[1];
    const char *fl[] = {"rewards", "values", "next_values", "advantages", "returns"};
    for (size_t i = 0; i < LP_COUNT_OF(fl); i++)
        lpt_add_field(b.in, fl[i], LPT_VIEW(f, LP_DTYPE_F32, 0, 1));
    lpt_add_field(b.in, "dones", LPT_VIEW(u, LP_DTYPE_U8, 0, 1));
    lpt_set_dims(b.in, 0, 1);
    assert_int_equal(lpt_train_start(b.in), LP_OK);
    assert_int_equal(lpt_stat(b.in, "advantage_mean", NULL, NULL), 0);
    buf_done(&b);
}

/* ---- errors ------------------------------------------------------------------------------ */

static void test_missing_field(void **state) {
    (void)state;
    const char *required[] = {"rewards", "dones", "values", "next_values", "advantages", "returns"};
    for (size_t i = 0; i < LP_COUNT_OF(required); i++) {
        buf b;
        buf_init(&b, 1, 2, 0, 1, 0, 0);
        lpt_inst_free(b.in);
        b.in = lpt_inst_new(g_desc, "adv");
        /* All views but one. */
        const struct {
            const char *name;
            void *data;
            int32_t dtype;
        } all[] = {{"rewards", b.rew, LP_DTYPE_F32},    {"dones", b.done, LP_DTYPE_U8},
                   {"values", b.val, LP_DTYPE_F32},     {"next_values", b.nv, LP_DTYPE_F32},
                   {"advantages", b.adv, LP_DTYPE_F32}, {"returns", b.ret, LP_DTYPE_F32}};
        for (size_t j = 0; j < LP_COUNT_OF(all); j++)
            if (j != i)
                lpt_add_field(b.in, all[j].name, view(&b, all[j].data, all[j].dtype));
        assert_int_equal(lpt_create(b.in), LP_OK);
        assert_int_equal(lpt_attach(b.in), LP_ESPEC);
        char want[64];
        snprintf(want, sizeof want, "no field '%s'", required[i]);
        assert_contains(lpt_last_error(b.in), want);
        assert_contains(lpt_last_error(b.in), "'adv'");
        /* train_start after a failed attach is refused, not a crash */
        assert_int_equal(lpt_train_start(b.in), LP_EINVAL);
        buf_done(&b);
    }
}

static void test_wrong_dtype(void **state) {
    (void)state;
    buf b;
    buf_init(&b, 1, 2, 0, 1, 0, 0);
    lpt_add_field(b.in, "dones", view(&b, b.rew, LP_DTYPE_F32));
    assert_int_equal(lpt_create(b.in), LP_OK);
    /* The host never passes a field of another dtype than the loss
     * declared (abi.h; tests/session/test_spec.c): the support refuses it. */
    assert_int_equal(lpt_attach(b.in), LPT_EFIXTURE);
    assert_contains(lpt_fixture_error(b.in), "'dones' is f32, the loss declared u8");

    /* A view of the wrong shape at train_start too. */
    lpt_add_field(b.in, "dones", view(&b, b.done, LP_DTYPE_U8));
    assert_int_equal(lpt_attach(b.in), LP_OK);
    lpt_add_field(b.in, "values", LPT_VIEW(b.val, LP_DTYPE_F32, 2));
    assert_int_equal(lpt_train_start(b.in), LPT_EFIXTURE);
    assert_contains(lpt_fixture_error(b.in), "'values'");
    buf_done(&b);
}

/* A bad ratio fails the pass, naming where, before anything is written. */
static void test_bad_ratio(void **state) {
    (void)state;
    const float bad[] = {-0.5f, NAN, INFINITY};
    for (size_t i = 0; i < LP_COUNT_OF(bad); i++) {
        lpt_rng rng = lpt_rng_seed(5 + i);
        buf b;
        buf_init(&b, 2, 3, 5, 1, 0, 1);
        fill_random(&b, &rng, DONES_RANDOM, 1.0, 1.0);
        assert_int_equal(lpt_set_b(b.in, "vtrace", 1), 0);
        assert_int_equal(lpt_set_s(b.in, "vtrace_advantages", "value_target"), 0);
        buf_start(&b);
        assert_int_equal(lpt_train_start(b.in), LP_OK);
        float before[10];
        memcpy(before, b.adv, sizeof before);
        b.ratio[at(&b, 1, 2)] = bad[i];
        lpt_ctx(b.in)->update_epoch = 1;
        assert_int_equal(lpt_update_epoch_start(b.in), LP_ENUMERIC);
        assert_contains(lpt_last_error(b.in), "row 1, step 2");
        assert_contains(lpt_last_error(b.in), "ratio");
        assert_memory_equal(before, b.adv, sizeof before);
        buf_done(&b);
    }
}

/* A non-finite reward is reported with its place. */
static void test_nonfinite_input(void **state) {
    (void)state;
    buf b;
    buf_init(&b, 2, 4, 0, 1, 0, 0);
    b.rew[at(&b, 1, 2)] = INFINITY;
    buf_start(&b);
    assert_int_equal(lpt_train_start(b.in), LP_ENUMERIC);
    assert_contains(lpt_last_error(b.in), "row 1, step 2");
    assert_contains(lpt_last_error(b.in), "reward inf");
    buf_done(&b);
}

static void test_bad_params(void **state) {
    (void)state;
    buf b;
    hand_buffer(&b, 0, 0);
    buf_start(&b);
    /* The host never passes a value outside the schema (abi.h;
     * tests/config/test_params.c): the support refuses it. */
    assert_int_equal(lpt_set_f(b.in, "gamma", NAN), 0);
    assert_int_equal(lpt_train_start(b.in), LPT_EFIXTURE);
    assert_contains(lpt_fixture_error(b.in), "'gamma'");
    assert_int_equal(lpt_set_f(b.in, "gamma", 0.9), 0);
    assert_int_equal(lpt_set_f(b.in, "c_bar", -1.0), 0);
    assert_int_equal(lpt_train_start(b.in), LPT_EFIXTURE);
    assert_contains(lpt_fixture_error(b.in), "'c_bar'");
    for (int t = 0; t < 3; t++)
        assert_near(b.adv[t], PAD_OUT, 0.0); /* nothing written */
    buf_done(&b);
}

/* Stats are registered once, nothing is looked up per call, no train hook. */
static void test_contract(void **state) {
    (void)state;
    lpt_rng rng = lpt_rng_seed(99);
    buf b;
    buf_init(&b, 2, 3, 0, 1, 1, 1);
    fill_random(&b, &rng, DONES_RANDOM, 1.0, 1.0);
    assert_int_equal(lpt_set_b(b.in, "vtrace", 1), 0);
    assert_int_equal(lpt_set_s(b.in, "vtrace_advantages", "value_target"), 0);
    buf_start(&b);
    for (int e = 0; e < 4; e++) {
        assert_int_equal(lpt_train_start(b.in), LP_OK);
        lpt_ctx(b.in)->update_epoch = e;
        assert_int_equal(lpt_update_epoch_start(b.in), LP_OK);
    }
    assert_int_equal(lpt_stat(b.in, "advantage_mean", NULL, NULL), 4 + 3);
    assert_int_equal(lpt_train(b.in, 1.0f, NULL), LP_OK); /* NULL hook: nothing to do */
    assert_int_equal(lpt_state_count(b.in), 0);
    assert_int_equal(lpt_violations(b.in), 0);
    buf_done(&b);
}

/* ---- V-trace as the IMPALA paper writes it --------------------------------------- */

/* Espeholt et al. 2018, eq. 1, transcribed in float64 without recursion
 * (no episode ends: the paper's setting), n = T - s steps to the row end
 * and V(x_T) = next_values of the last step:
 *   dV_t = rho_t (r_t + gamma V(x_{t+1}) - V(x_t)),  rho_t = min(rho_bar, ratio_t)
 *   v_s  = V(x_s) + sum_{t=s}^{T-1} gamma^{t-s} (prod_{i=s}^{t-1} c_i) dV_t,
 *          c_i = lambda min(c_bar, ratio_i)
 *   advantage_s = rho_s (r_s + gamma v_{s+1} - V(x_s)),  v_T = V(x_T). */
static void paper_vtrace(const buf *b, double gamma, double lambda, double rho_bar, double c_bar,
                         int use_ratios, int64_t r, double *vs, double *adv) {
    const int64_t T = b->T;
    double V[64], R[64], ratio[64];
    assert_true(T < 64);
    for (int64_t t = 0; t < T; t++) {
        V[t] = b->val[at(b, r, t)];
        R[t] = b->rew[at(b, r, t)];
        ratio[t] = use_ratios ? b->ratio[at(b, r, t)] : 1.0;
    }
    V[T] = b->nv[at(b, r, T - 1)];
    for (int64_t s = 0; s < T; s++) {
        double sum = 0.0;
        for (int64_t t = s; t < T; t++) {
            double prod = 1.0;
            for (int64_t i = s; i < t; i++)
                prod *= lambda * fmin(c_bar, ratio[i]);
            const double dV = fmin(rho_bar, ratio[t]) * (R[t] + gamma * V[t + 1] - V[t]);
            sum += pow(gamma, (double)(t - s)) * prod * dV;
        }
        vs[s] = V[s] + sum;
    }
    vs[T] = V[T];
    for (int64_t s = 0; s < T; s++)
        adv[s] = fmin(rho_bar, ratio[s]) * (R[s] + gamma * vs[s + 1] - V[s]);
}

static void test_vtrace_paper(void **state) {
    (void)state;
    const double gamma = 0.97, lambda = 0.9, rho_bar = 1.2, c_bar = 0.9;
    buf b;
    buf_init(&b, 3, 7, 0, 1, 0, 1);
    lpt_rng rng = lpt_rng_seed(2018);
    for (int64_t r = 0; r < b.R; r++)
        for (int64_t t = 0; t < b.T; t++) {
            const size_t k = at(&b, r, t);
            b.rew[k] = (float)lpt_rng_normal(&rng);
            b.val[k] = (float)lpt_rng_normal(&rng);
            b.ratio[k] = (float)lpt_rng_uniform(&rng, 0.3, 2.0);
            if (t == b.T - 1)
                b.nv[k] = (float)lpt_rng_normal(&rng);
        }
    assert_int_equal(lpt_set_b(b.in, "vtrace", 1), 0);
    assert_int_equal(lpt_set_f(b.in, "gamma", gamma), 0);
    assert_int_equal(lpt_set_f(b.in, "lambda", lambda), 0);
    assert_int_equal(lpt_set_f(b.in, "rho_bar", rho_bar), 0);
    assert_int_equal(lpt_set_f(b.in, "c_bar", c_bar), 0);
    buf_start(&b);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0) {
            assert_int_equal(lpt_train_start(b.in), LP_OK); /* ratios 1 */
        } else {
            lpt_ctx(b.in)->update_epoch = 1;
            assert_int_equal(lpt_update_epoch_start(b.in), LP_OK);
        }
        for (int64_t r = 0; r < b.R; r++) {
            double vs[64], adv[64];
            paper_vtrace(&b, gamma, lambda, rho_bar, c_bar, pass, r, vs, adv);
            for (int64_t t = 0; t < b.T; t++) {
                assert_near(b.adv[at(&b, r, t)], adv[t], 1e-5);
                assert_near(b.ret[at(&b, r, t)], vs[t], 1e-5);
            }
        }
    }
    /* The old form, by name: v_s - V(x_s). */
    assert_int_equal(lpt_set_s(b.in, "vtrace_advantages", "value_target"), 0);
    lpt_ctx(b.in)->update_epoch = 2;
    assert_int_equal(lpt_update_epoch_start(b.in), LP_OK);
    double vs[64], adv[64];
    paper_vtrace(&b, gamma, lambda, rho_bar, c_bar, 1, 0, vs, adv);
    for (int64_t t = 0; t < b.T; t++)
        assert_near(b.adv[at(&b, 0, t)], vs[t] - b.val[at(&b, 0, t)], 1e-5);
    buf_done(&b);
}

/* A non-finite input anywhere: LP_ENUMERIC naming it, and no field written
 * (not even the rows before it). */
static void test_nonfinite_writes_nothing(void **state) {
    (void)state;
    buf b;
    buf_init(&b, 3, 4, 0, 1, 0, 0);
    for (int64_t r = 0; r < b.R; r++)
        for (int64_t t = 0; t < b.T; t++)
            b.rew[at(&b, r, t)] = 1.0f;
    buf_start(&b);
    assert_int_equal(lpt_train_start(b.in), LP_OK);
    float adv0[64], ret0[64];
    memcpy(adv0, b.adv, (size_t)b.N * sizeof(float));
    memcpy(ret0, b.ret, (size_t)b.N * sizeof(float));
    b.rew[at(&b, 0, 0)] = 2.0f; /* would change row 0 */
    b.val[at(&b, 2, 1)] = NAN;
    assert_int_equal(lpt_train_start(b.in), LP_ENUMERIC);
    assert_contains(lpt_last_error(b.in), "field 'values' is not finite at row 2, step 1");
    assert_memory_equal(b.adv, adv0, (size_t)b.N * sizeof(float));
    assert_memory_equal(b.ret, ret0, (size_t)b.N * sizeof(float));
    b.val[at(&b, 2, 1)] = 0.0f;
    b.rew[at(&b, 1, 3)] = INFINITY;
    assert_int_equal(lpt_train_start(b.in), LP_ENUMERIC);
    assert_contains(lpt_last_error(b.in), "field 'rewards' is not finite at row 1, step 3");
    assert_memory_equal(b.adv, adv0, (size_t)b.N * sizeof(float));
    buf_done(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_hand_case),
        cmocka_unit_test(test_hand_truncation),
        cmocka_unit_test(test_hand_vtrace),
        cmocka_unit_test(test_vtrace_paper),
        cmocka_unit_test(test_nonfinite_writes_nothing),
        cmocka_unit_test(test_random_against_reference),
        cmocka_unit_test(test_mixed_layouts),
        cmocka_unit_test(test_no_vtrace_no_recompute),
        cmocka_unit_test(test_vtrace_without_ratios),
        cmocka_unit_test(test_all_dones),
        cmocka_unit_test(test_no_dones_bootstrap),
        cmocka_unit_test(test_one_step),
        cmocka_unit_test(test_equal_advantages),
        cmocka_unit_test(test_empty_buffer),
        cmocka_unit_test(test_missing_field),
        cmocka_unit_test(test_wrong_dtype),
        cmocka_unit_test(test_bad_ratio),
        cmocka_unit_test(test_nonfinite_input),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_contract),
    };
    return cmocka_run_group_tests_name("gae", tests, group_setup, group_teardown);
}
