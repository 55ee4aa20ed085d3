/*
 * Unit tests of plugins/a2c, through its built .so and the mock host of
 * tests/support (lpt.h).
 *
 *   L = -mean_i(A_i log p_i[a_i]) - ent_coef * mean_i(H_i)
 *   dL/dz_ij = -(A_i/M)(1[j = a_i] - p_ij) + (ent_coef/M) p_ij (log p_ij + H_i)
 *
 * with A normalised per minibatch when norm_adv: (A - mean) / (std + 1e-8),
 * unbiased std, 0 for a single sample.
 */
#include <lpt_assert.h>
#include <lpt_catref.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

LPT_PLUGIN_GROUP("a2c")

/* ---- a minibatch owned by the test ---------------------------------------- */

typedef struct mb {
    int64_t R, T, A, M;
    float *z;   /* logits [R, T, A] */
    float *g;   /* their gradient buffer, zeroed */
    int32_t *a; /* actions [R, T] */
    float *adv; /* advantages [R, T] */
    lpt_inst *in;
    lpt_mb m; /* owns the instance and the arrays */
} mb;

static void mb_init(mb *b, int64_t R, int64_t T, int64_t A) {
    b->R = R, b->T = T, b->A = A, b->M = R * T;
    b->in = lpt_mb_init(&b->m, g_desc, "pg", R, T);
    b->adv = lpt_mb_field(&b->m, "advantages", LP_DTYPE_F32, 0);
    b->a = lpt_mb_field(&b->m, "actions", LP_DTYPE_I32, 0);
    b->z = lpt_mb_logits(&b->m, A, &b->g);
}

static void mb_start(mb *b) {
    assert_create_attach(b->in);
}

static void mb_done(mb *b) {
    lpt_mb_done(&b->m);
}

/* ---- a double-precision reference, written from the formula --------------- */

typedef struct ref {
    int64_t M, A;
    const int32_t *a;
    double *adv; /* already normalised when norm_adv */
    double ent_coef;
    double pg, ent; /* the last evaluation's parts */
} ref;

/* Fills r->adv from the float advantages, normalised as the plugin should. */
static void ref_advantages(ref *r, const float *adv, int norm) {
    double mean = 0.0, ss = 0.0;
    for (int64_t i = 0; i < r->M; i++)
        mean += adv[i];
    mean /= (double)r->M;
    for (int64_t i = 0; i < r->M; i++)
        ss += (adv[i] - mean) * (adv[i] - mean);
    const double sd = r->M > 1 ? sqrt(ss / (double)(r->M - 1)) : 0.0;
    for (int64_t i = 0; i < r->M; i++)
        r->adv[i] = !norm ? adv[i] : r->M > 1 ? (adv[i] - mean) / (sd + 1e-8) : 0.0;
}

static double ref_loss(const double *z, size_t n, void *ctx) {
    ref *r = ctx;
    (void)n;
    double pg = 0.0, ent = 0.0;
    for (int64_t i = 0; i < r->M; i++) {
        const double *zi = z + i * r->A;
        double m = zi[0];
        for (int64_t j = 1; j < r->A; j++)
            m = fmax(m, zi[j]);
        double s = 0.0;
        for (int64_t j = 0; j < r->A; j++)
            s += exp(zi[j] - m);
        const double lse = m + log(s);
        double h = 0.0;
        for (int64_t j = 0; j < r->A; j++)
            h -= exp(zi[j] - lse) * (zi[j] - lse);
        pg -= r->adv[i] * (zi[r->a[i]] - lse);
        ent += h;
    }
    r->pg = pg / (double)r->M;
    r->ent = ent / (double)r->M;
    return r->pg - r->ent_coef * r->ent;
}

/* ---- the descriptor ----------------------------------------------------------- */

static void test_descriptor(void **state) {
    (void)state;
    assert_string_equal(g_desc->id, "a2c");
    assert_true(g_desc->summary != NULL && g_desc->summary[0] != '\0');
    assert_int_equal(g_desc->param_count, 2);
    const lp_param_spec *p = &g_desc->params[0];
    assert_string_equal(p->name, "ent_coef");
    assert_int_equal(p->type, LP_PARAM_FLOAT);
    assert_near(p->default_float, 0.01, 0.0);
    assert_int_equal(p->flags, LP_PARAM_HAS_MIN | LP_PARAM_HAS_MAX);
    assert_near(p->min, 0.0, 0.0);
    assert_true(p->doc != NULL && p->doc[0] != '\0');
    p = &g_desc->params[1];
    assert_string_equal(p->name, "norm_adv");
    assert_int_equal(p->type, LP_PARAM_BOOL);
    assert_int_equal(p->default_bool, 0);
    assert_true(p->doc != NULL && p->doc[0] != '\0');

    assert_int_equal(g_desc->field_count, 3);
    assert_mask_field(&g_desc->fields[2]);
    assert_string_equal(g_desc->fields[0].name, "advantages");
    assert_int_equal(g_desc->fields[0].dtype, LP_DTYPE_F32);
    assert_string_equal(g_desc->fields[1].name, "actions");
    assert_int_equal(g_desc->fields[1].dtype, LP_DTYPE_I32);
    for (int f = 0; f < 2; f++) {
        assert_int_equal(g_desc->fields[f].access, LP_FIELD_READ);
        assert_int_equal(g_desc->fields[f].phase, LP_PHASE_TRAIN);
        assert_int_equal(g_desc->fields[f].rank, 0);
    }
    assert_string_equal(g_desc->outputs[0], "logits");
    assert_null(g_desc->outputs[1]);
}

/* ---- hand-computed cases ---------------------------------------------------------- */

/*
 * rows 1, horizon 2, A 3, ent_coef 0.1, weight 1, M = 2.
 *   sample 0: z = (0, ln 2, ln 3), p = (1/6, 2/6, 3/6), a = 1, A = 2
 *   sample 1: z = (5, 5, 5),       p = (1/3, 1/3, 1/3), a = 2, A = -1
 *   policy_loss = -(2 ln(1/3) + (-1) ln(1/3)) / 2 = ln(3) / 2 = 0.549306144...
 *   H0 = (1/6) ln 6 + (1/3) ln 3 + (1/2) ln 2 = 1.011404264707...
 *   H1 = ln 3,  entropy = (H0 + ln 3) / 2 = 1.055008276688...
 *   L = ln(3)/2 - 0.1 * 1.055008276688 = 0.443805316...
 *   gradient, policy part -(A/M)(1[j=a] - p_j):
 *     sample 0: -(1)(-1/6, 1 - 1/3, -1/2) = (1/6, -2/3, 1/2)
 *     sample 1: (1/2)(-1/3, -1/3, 2/3)    = (-1/6, -1/6, 1/3)
 *   entropy part (0.1/2) p_j (log p_j + H):
 *     sample 0: 0.05 * (1/6)(ln(1/6) + H0), 0.05 * (1/3)(ln(1/3) + H0), 0.05 * (1/2)(ln(1/2) + H0)
 *     sample 1: log p_j + H1 = 0: nothing
 */
static void test_hand_value_and_gradient(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 1, 2, 3);
    const float z[6] = {0.0f, (float)log(2.0), (float)log(3.0), 5.0f, 5.0f, 5.0f};
    memcpy(b.z, z, sizeof z);
    b.a[0] = 1;
    b.a[1] = 2;
    b.adv[0] = 2.0f;
    b.adv[1] = -1.0f;
    assert_int_equal(lpt_set_f(b.in, "ent_coef", 0.1), 0);
    mb_start(&b);
    lp_train_result res;
    assert_int_equal(lpt_train(b.in, 1.0f, &res), LP_OK);
    const double H0 = log(6.0) / 6 + log(3.0) / 3 + log(2.0) / 2;
    const double ent = (H0 + log(3.0)) / 2;
    assert_near(res.loss, log(3.0) / 2 - 0.1 * ent, 1e-6);
    assert_int_equal(res.stop, 0);
    const double want[6] = {
        1.0 / 6 + 0.05 / 6 * (log(1.0 / 6) + H0),
        -2.0 / 3 + 0.05 / 3 * (log(1.0 / 3) + H0),
        1.0 / 2 + 0.05 / 2 * (log(1.0 / 2) + H0),
        -1.0 / 6,
        -1.0 / 6,
        1.0 / 3,
    };
    for (int k = 0; k < 6; k++)
        assert_near(b.g[k], want[k], 1e-6);
    double v;
    assert_int_equal(lpt_stat(b.in, "policy_loss", &v, NULL), 1);
    assert_near(v, log(3.0) / 2, 1e-6);
    assert_int_equal(lpt_stat(b.in, "entropy", &v, NULL), 1);
    assert_near(v, ent, 1e-6);
    mb_done(&b);
}

/*
 * The entropy bonus alone (A = 0, ent_coef 1, M = 1), z = (1, 0):
 * p = (e/(e+1), 1/(e+1)) = (0.7310586, 0.2689414); H = 0.5822031;
 * dL/dz_0 = p_0 (log p_0 + H) = 0.7310586 * (-0.3132617 + 0.5822031) = 0.196612
 * > 0: gradient descent lowers the larger logit, raising the entropy
 * (the sign one public kernel got wrong). Sums to 0 over j.
 */
static void test_entropy_gradient_sign(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 1, 1, 2);
    b.z[0] = 1.0f;
    b.z[1] = 0.0f;
    assert_int_equal(lpt_set_f(b.in, "ent_coef", 1.0), 0);
    mb_start(&b);
    lp_train_result res;
    assert_int_equal(lpt_train(b.in, 1.0f, &res), LP_OK);
    const double p0 = exp(1.0) / (exp(1.0) + 1.0), p1 = 1.0 - p0;
    const double H = -(p0 * log(p0) + p1 * log(p1));
    assert_near(res.loss, -H, 1e-6);
    assert_near(b.g[0], p0 * (log(p0) + H), 1e-6);
    assert_true(b.g[0] > 0.19);
    assert_near(b.g[0] + b.g[1], 0.0, 1e-7);
    mb_done(&b);
}

/*
 * norm_adv with advantages (1, 3): mean 2, unbiased std sqrt(2), so the
 * normalised advantages are (-1, 1) / (sqrt 2 + 1e-8). Logits 0 (A = 2
 * actions, p = 1/2, log p = -ln 2), actions (0, 1), ent_coef 0:
 *   policy_loss = -((-1/sqrt2)(-ln 2) + (1/sqrt2)(-ln 2)) / 2 = 0
 *   gradient sample 0: -(An/2)(1[j=0] - 1/2) = (1/(2 sqrt2)) (1/2, -1/2)
 */
static void test_hand_norm_adv(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 2, 1, 2);
    b.adv[0] = 1.0f;
    b.adv[1] = 3.0f;
    b.a[0] = 0;
    b.a[1] = 1;
    assert_int_equal(lpt_set_f(b.in, "ent_coef", 0.0), 0);
    assert_int_equal(lpt_set_b(b.in, "norm_adv", 1), 0);
    mb_start(&b);
    lp_train_result res;
    assert_int_equal(lpt_train(b.in, 1.0f, &res), LP_OK);
    assert_near(res.loss, 0.0, 1e-7);
    const double q = 1.0 / (2.0 * (sqrt(2.0) + 1e-8));
    assert_near(b.g[0], q / 2, 1e-7);
    assert_near(b.g[1], -q / 2, 1e-7);
    assert_near(b.g[2], q / 2, 1e-7); /* sample 1: An = +1/sqrt2, a = 1 */
    assert_near(b.g[3], -q / 2, 1e-7);
    /* The advantages in the buffer are not modified. */
    assert_near(b.adv[0], 1.0, 0.0);
    assert_near(b.adv[1], 3.0, 0.0);
    mb_done(&b);
}

/* ---- gradient against central differences, many seeds ------------------------ */

static void fill_random(mb *b, lpt_rng *rng, int mode) {
    const double scale = mode == 0 ? 0.5 : mode == 1 ? 3.0 : 20.0;
    for (int64_t k = 0; k < b->M * b->A; k++) {
        if (mode == 3)
            b->z[k] = (float)(lpt_rng_int(rng, 0, 2) - 1) * 1e4f; /* -1e4, 0, 1e4 */
        else
            b->z[k] = (float)(scale * lpt_rng_normal(rng));
    }
    const int equal_adv = lpt_rng_int(rng, 0, 7) == 0;
    const float a0 = (float)lpt_rng_normal(rng);
    for (int64_t i = 0; i < b->M; i++) {
        b->a[i] = (int32_t)lpt_rng_int(rng, 0, b->A - 1);
        b->adv[i] = equal_adv ? a0 : (float)(2.0 * lpt_rng_normal(rng));
    }
}

static void test_gradient_finite_differences(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 400; seed++) {
        lpt_rng rng = lpt_rng_seed(seed);
        const int64_t R = lpt_rng_int(&rng, 1, 4), T = lpt_rng_int(&rng, 1, 5);
        const int64_t A = lpt_rng_int(&rng, 1, 9);
        mb b;
        mb_init(&b, R, T, A);
        fill_random(&b, &rng, (int)(seed % 4));
        const double ent_coef = seed % 5 == 0 ? 0.0 : lpt_rng_uniform(&rng, 0.0, 2.0);
        const int norm = (seed / 4) % 2;
        const float weight = (float)lpt_rng_uniform(&rng, 0.1, 3.0);
        assert_int_equal(lpt_set_f(b.in, "ent_coef", ent_coef), 0);
        assert_int_equal(lpt_set_b(b.in, "norm_adv", norm), 0);
        mb_start(&b);

        lp_train_result res;
        assert_int_equal(lpt_train(b.in, weight, &res), LP_OK);

        const size_t n = (size_t)(b.M * A);
        double *x = malloc(n * sizeof *x), *fd = malloc(n * sizeof *fd);
        double *an = malloc(n * sizeof *an), *adv = malloc((size_t)b.M * sizeof *adv);
        assert_true(x != NULL && fd != NULL && an != NULL && adv != NULL);
        for (size_t k = 0; k < n; k++) {
            x[k] = b.z[k];
            an[k] = b.g[k];
        }
        ref r = {b.M, A, b.a, adv, ent_coef, 0, 0};
        ref_advantages(&r, b.adv, norm);
        const double want = ref_loss(x, n, &r);
        double maxz = 0.0, maxa = 0.0;
        for (size_t k = 0; k < n; k++)
            maxz = fmax(maxz, fabs(x[k]));
        for (int64_t i = 0; i < b.M; i++)
            maxa = fmax(maxa, fabs(adv[i]));
        if (!(fabs(res.loss - want) <= 1e-6 * (maxa + ent_coef) * (1.0 + maxz)))
            fail_msg("seed %llu: loss %.9g, reference %.9g", (unsigned long long)seed, res.loss,
                     want);
        double pg, ent;
        assert_int_equal(lpt_stat(b.in, "policy_loss", &pg, NULL), 1);
        assert_int_equal(lpt_stat(b.in, "entropy", &ent, NULL), 1);
        assert_near(pg, r.pg, 1e-6 * maxa * (1.0 + maxz));
        assert_near(ent, r.ent, 1e-5);

        lpt_fd_grad(ref_loss, &r, x, n, 1e-4, fd);
        for (size_t k = 0; k < n; k++)
            fd[k] *= weight;
        const double scale = weight * (maxa + ent_coef) / (double)b.M;
        size_t worst;
        const size_t bad = lpt_grad_compare(an, fd, n, 1e-5 * scale, 1e-4, &worst, NULL);
        if (bad != 0)
            fail_msg("seed %llu (R %lld T %lld A %lld norm %d ent %g): %zu gradient elements off; "
                     "worst [%zu] analytic %.9g, finite differences %.9g",
                     (unsigned long long)seed, (long long)R, (long long)T, (long long)A, norm,
                     ent_coef, bad, worst, an[worst], fd[worst]);
        for (size_t k = 0; k < n; k++)
            if (!isfinite(an[k]))
                fail_msg("seed %llu: gradient element %zu is %g", (unsigned long long)seed, k,
                         an[k]);
        free(x);
        free(fd);
        free(an);
        free(adv);
        mb_done(&b);
    }
}

/* The plugin's own loss, differentiated numerically, agrees with its own
 * gradient. */
static void test_gradient_of_plugin_loss(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        lpt_rng rng = lpt_rng_seed(1000 + seed);
        mb b;
        mb_init(&b, lpt_rng_int(&rng, 1, 3), lpt_rng_int(&rng, 1, 3), lpt_rng_int(&rng, 2, 6));
        fill_random(&b, &rng, (int)(seed % 2));
        assert_int_equal(lpt_set_f(b.in, "ent_coef", 0.5), 0);
        assert_int_equal(lpt_set_b(b.in, "norm_adv", (int)(seed % 3 == 0)), 0);
        mb_start(&b);
        lpt_own_grad og;
        const size_t bad = lpt_check_own_gradient(b.in, b.z, b.g, (size_t)(b.M * b.A), 1e-2,
                                                  2e-3 / (double)b.M, 2e-3, &og);
        assert_int_equal(og.rc, LP_OK);
        if (bad != 0)
            fail_msg("seed %llu: [%zu] analytic %.9g, plugin finite differences %.9g",
                     (unsigned long long)seed, og.worst, og.analytic, og.numeric);
        mb_done(&b);
    }
}

/* ---- weight, parameters, accumulation, layouts ---------------------------------- */

static void random_batch(mb *b, uint64_t seed, int64_t R, int64_t T, int64_t A) {
    lpt_rng rng = lpt_rng_seed(seed);
    mb_init(b, R, T, A);
    fill_random(b, &rng, 1);
}

static void test_weight_and_accumulation(void **state) {
    (void)state;
    mb b;
    random_batch(&b, 7, 3, 4, 5);
    mb_start(&b);
    const size_t n = (size_t)(b.M * b.A);
    float g1[60];
    lp_train_result r1, r;
    assert_int_equal(lpt_train(b.in, 1.0f, &r1), LP_OK);
    memcpy(g1, b.g, n * sizeof *g1);
    double norm = 0.0;
    for (size_t k = 0; k < n; k++)
        norm += fabs(g1[k]);
    assert_true(norm > 1e-3);

    const float weights[] = {2.5f, 0.0f, -1.0f};
    for (size_t w = 0; w < LP_COUNT_OF(weights); w++) {
        for (size_t k = 0; k < n; k++)
            b.g[k] = 7.0f; /* another loss's contribution stays */
        assert_int_equal(lpt_train(b.in, weights[w], &r), LP_OK);
        assert_near(r.loss, r1.loss, 1e-12); /* reported unweighted */
        for (size_t k = 0; k < n; k++)
            assert_near(b.g[k], 7.0 + weights[w] * g1[k], 2e-6 * (fabs(g1[k]) + 1.0));
    }
    mb_done(&b);
}

static void test_params_read_at_call_time(void **state) {
    (void)state;
    mb b;
    random_batch(&b, 11, 2, 3, 4);
    mb_start(&b);
    lp_train_result r0, r1, r2;
    assert_int_equal(lpt_train(b.in, 1.0f, &r0), LP_OK);
    double pg, ent;
    assert_int_equal(lpt_stat(b.in, "policy_loss", &pg, NULL), 1);
    assert_int_equal(lpt_stat(b.in, "entropy", &ent, NULL), 1);
    assert_near(r0.loss, pg - 0.01 * ent, 1e-9);
    assert_int_equal(lpt_set_f(b.in, "ent_coef", 0.5), 0);
    assert_int_equal(lpt_train(b.in, 1.0f, &r1), LP_OK);
    assert_near(r1.loss, pg - 0.5 * ent, 1e-9);
    assert_int_equal(lpt_set_b(b.in, "norm_adv", 1), 0);
    assert_int_equal(lpt_train(b.in, 1.0f, &r2), LP_OK);
    assert_true(fabs(r2.loss - r1.loss) > 1e-6); /* the normalisation changed the loss */
    mb_done(&b);
}

/* Fields may be strided views: interleaved with other data. */
static void test_strided_fields(void **state) {
    (void)state;
    mb b;
    random_batch(&b, 5, 2, 3, 4);
    int32_t packed_a[2 * 3 * 2];
    float packed_v[2 * 8];
    for (int64_t i = 0; i < b.M; i++) {
        packed_a[2 * i] = b.a[i];
        packed_a[2 * i + 1] = 99; /* out of range: reading it would fail the call */
    }
    for (int k = 0; k < 16; k++)
        packed_v[k] = NAN;
    for (int64_t r = 0; r < 2; r++)
        for (int64_t t = 0; t < 3; t++)
            packed_v[r * 8 + t * 2] = b.adv[r * 3 + t];
    lp_tensor va = LPT_VIEW(packed_a, LP_DTYPE_I32, 2, 3);
    va.strides[0] = 6;
    va.strides[1] = 2;
    lp_tensor vv = LPT_VIEW(packed_v, LP_DTYPE_F32, 2, 3);
    vv.strides[0] = 8;
    vv.strides[1] = 2;
    assert_true(lpt_add_field(b.in, "actions", va) >= 0);
    assert_true(lpt_add_field(b.in, "advantages", vv) >= 0);
    assert_int_equal(lpt_set_b(b.in, "norm_adv", 1), 0);
    mb_start(&b);
    lp_train_result rs;
    assert_int_equal(lpt_train(b.in, 1.0f, &rs), LP_OK);

    double x[24], adv[6];
    for (int k = 0; k < 24; k++)
        x[k] = b.z[k];
    ref r = {b.M, b.A, b.a, adv, 0.01, 0, 0};
    ref_advantages(&r, b.adv, 1);
    assert_near(rs.loss, ref_loss(x, 24, &r), 1e-5);
    mb_done(&b);
}

/* ---- edge cases ------------------------------------------------------------------ */

/*
 * Logits +-1e4, ent_coef 1, A = 1 everywhere:
 *   sample 0: (1e4, -1e4, -1e4), a = 1: -log p_a = 2e4, H = 0
 *   sample 1: (1e4, 1e4, 1e4),  a = 2: -log p_a = ln 3, H = ln 3
 *   L = (2e4 + ln 3)/2 - ln(3)/2 = 1e4
 */
static void test_extreme_logits(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 1, 2, 3);
    const float z[6] = {1e4f, -1e4f, -1e4f, 1e4f, 1e4f, 1e4f};
    memcpy(b.z, z, sizeof z);
    b.a[0] = 1;
    b.a[1] = 2;
    b.adv[0] = b.adv[1] = 1.0f;
    assert_int_equal(lpt_set_f(b.in, "ent_coef", 1.0), 0);
    mb_start(&b);
    lp_train_result r;
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
    assert_near(r.loss, 1e4, 1e-2);
    assert_all_finite(b.g, 6);
    /* sample 0: -(1/2)(onehot(1) - (1, 0, 0)) = (1/2, -1/2, 0); entropy part 0 */
    assert_near(b.g[0], 0.5, 1e-6);
    assert_near(b.g[1], -0.5, 1e-6);
    assert_near(b.g[2], 0.0, 1e-6);
    double ent;
    assert_int_equal(lpt_stat(b.in, "entropy", &ent, NULL), 1);
    assert_near(ent, log(3.0) / 2, 1e-6);
    mb_done(&b);
}

/* One action: log p = 0, H = 0: loss and gradient exactly 0. */
static void test_one_action(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 2, 2, 1);
    const float z[4] = {1e4f, -1e4f, 0.0f, 3.5f};
    memcpy(b.z, z, sizeof z);
    for (int k = 0; k < 4; k++)
        b.adv[k] = (float)k - 1.5f;
    assert_int_equal(lpt_set_b(b.in, "norm_adv", 1), 0);
    mb_start(&b);
    lp_train_result r;
    assert_int_equal(lpt_train(b.in, 2.0f, &r), LP_OK);
    assert_near(r.loss, 0.0, 0.0);
    for (int k = 0; k < 4; k++)
        assert_near(b.g[k], 0.0, 0.0);
    mb_done(&b);
}

/* One sample with norm_adv: the normalised advantage is 0, so only the
 * entropy term remains; equal advantages likewise (zero spread). */
static void test_one_sample_and_equal_advantages(void **state) {
    (void)state;
    for (int64_t M = 1; M <= 4; M += 3) {
        mb b;
        mb_init(&b, 1, M, 3);
        for (int64_t i = 0; i < M; i++) {
            b.z[i * 3] = 1.0f;
            b.z[i * 3 + 1] = 2.0f;
            b.z[i * 3 + 2] = -3.0f;
            b.adv[i] = 5.0f;
            b.a[i] = (int32_t)(i % 3);
        }
        assert_int_equal(lpt_set_b(b.in, "norm_adv", 1), 0);
        assert_int_equal(lpt_set_f(b.in, "ent_coef", 0.0), 0);
        mb_start(&b);
        lp_train_result r;
        assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
        assert_near(r.loss, 0.0, 0.0);
        for (int64_t k = 0; k < M * 3; k++)
            assert_near(b.g[k], 0.0, 0.0);
        double pg;
        assert_int_equal(lpt_stat(b.in, "policy_loss", &pg, NULL), 1);
        assert_true(isfinite(pg));
        mb_done(&b);
    }
}

static void test_empty_minibatch(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 1, 1, 3);
    mb_start(&b);
    static float zz[1], gg[1], vv[1];
    static int32_t aa[1];
    lpt_add_field(b.in, "actions", LPT_VIEW(aa, LP_DTYPE_I32, 0, 1));
    lpt_add_field(b.in, "advantages", LPT_VIEW(vv, LP_DTYPE_F32, 0, 1));
    lpt_add_output(b.in, "logits", LPT_VIEW(zz, LP_DTYPE_F32, 0, 1, 3),
                   LPT_VIEW(gg, LP_DTYPE_F32, 0, 1, 3));
    lp_train_result r;
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
    assert_near(r.loss, 0.0, 0.0);
    mb_done(&b);
}

/* ---- errors ------------------------------------------------------------------------ */

static void test_out_of_range_action(void **state) {
    (void)state;
    mb b;
    random_batch(&b, 3, 2, 3, 4);
    mb_start(&b);
    for (int k = 0; k < 24; k++)
        b.g[k] = 0.5f;
    b.a[5] = 4; /* row 1, step 2 */
    assert_int_equal(lpt_train(b.in, 1.0f, NULL), LP_ERANGE);
    const char *msg = lpt_last_error(b.in);
    assert_contains(msg, "action 4");
    assert_contains(msg, "row 1, step 2");
    assert_contains(msg, "[0, 4)");
    assert_contains(msg, "'pg'");
    for (int k = 0; k < 24; k++)
        assert_near(b.g[k], 0.5, 0.0); /* nothing written by a failing call */
    mb_done(&b);
}

static void test_missing_at_attach(void **state) {
    (void)state;
    const char *names[] = {"advantages", "actions", "logits"};
    for (int miss = 0; miss < 3; miss++) {
        float z[3], g[3], v[1];
        int32_t a[1];
        lpt_inst *in = lpt_inst_new(g_desc, "pg");
        assert_non_null(in);
        if (miss != 0)
            lpt_add_field(in, "advantages", LPT_VIEW(v, LP_DTYPE_F32, 1, 1));
        if (miss != 1)
            lpt_add_field(in, "actions", LPT_VIEW(a, LP_DTYPE_I32, 1, 1));
        if (miss != 2)
            lpt_add_output(in, "logits", LPT_VIEW(z, LP_DTYPE_F32, 1, 1, 3),
                           LPT_VIEW(g, LP_DTYPE_F32, 1, 1, 3));
        assert_int_equal(lpt_create(in), LP_OK);
        assert_int_equal(lpt_attach(in), LP_ESPEC);
        char want[64];
        snprintf(want, sizeof want, "no %s '%s'", miss == 2 ? "output" : "field", names[miss]);
        assert_contains(lpt_last_error(in), want);
        assert_int_equal(lpt_train(in, 1.0f, NULL), LP_EINVAL);
        assert_int_equal(lpt_violations(in), 0);
        lpt_inst_free(in);
    }
}

static void test_wrong_dtype_and_shape(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 1, 2, 3);
    lpt_add_field(b.in, "advantages", LPT_VIEW(b.a, LP_DTYPE_I32, 1, 2));
    assert_int_equal(lpt_create(b.in), LP_OK);
    /* The host never passes a field of another dtype than the loss
     * declared (abi.h; tests/session/test_spec.c): the support refuses it. */
    assert_int_equal(lpt_attach(b.in), LPT_EFIXTURE);
    assert_contains(lpt_fixture_error(b.in), "'advantages' is i32, the loss declared f32");
    lpt_add_field(b.in, "advantages", LPT_VIEW(b.adv, LP_DTYPE_F32, 1, 2));
    assert_int_equal(lpt_attach(b.in), LP_OK);
    lpt_add_output(b.in, "logits", LPT_VIEW(b.z, LP_DTYPE_F32, 1, 6),
                   LPT_VIEW(b.g, LP_DTYPE_F32, 1, 6));
    lpt_set_dims(b.in, 1, 2);
    assert_int_equal(lpt_train(b.in, 1.0f, NULL), LPT_EFIXTURE);
    assert_contains(lpt_fixture_error(b.in), "'logits'");
    mb_done(&b);
}

static void test_bad_ent_coef(void **state) {
    (void)state;
    mb b;
    random_batch(&b, 4, 1, 2, 3);
    mb_start(&b);
    /* The host never passes a value outside the schema (abi.h;
     * tests/config/test_params.c): the support refuses it. */
    assert_int_equal(lpt_set_f(b.in, "ent_coef", NAN), 0);
    assert_int_equal(lpt_train(b.in, 1.0f, NULL), LPT_EFIXTURE);
    assert_contains(lpt_fixture_error(b.in), "'ent_coef'");
    for (int k = 0; k < 6; k++)
        assert_near(b.g[k], 0.0, 0.0);
    mb_done(&b);
}

/* ---- masked actions against a float64 reference ----------------------------- */

typedef struct a2c_ref {
    const lpt_masked_case *c;
    const double *adv; /* normalised */
    double ent_coef;
} a2c_ref;

/* -mean(A log p_a) - ent_coef mean(H), in float64 over the allowed actions. */
static double a2c_ref_loss(const double *x, size_t n, void *vctx) {
    (void)n;
    const a2c_ref *r = vctx;
    double pg = 0.0, ent = 0.0;
    for (int64_t i = 0; i < LPT_MC_M; i++) {
        const double *zi = x + i * LPT_MC_A;
        pg -= r->adv[i] * lpt_ref_logp(zi, lpt_mc_mask(r->c, i), LPT_MC_A, r->c->act[i]);
        ent += lpt_ref_entropy(zi, lpt_mc_mask(r->c, i), LPT_MC_A);
    }
    return pg / LPT_MC_M - r->ent_coef * ent / LPT_MC_M;
}

static void test_masked_reference(void **state) {
    (void)state;
    for (int with_mask = 0; with_mask <= 1; with_mask++) {
        lpt_masked_case c;
        lpt_masked_case_make(&c, with_mask, 41 + (uint64_t)with_mask);
        float g[LPT_MC_N] = {0}, adv[LPT_MC_M];
        double advd[LPT_MC_M], x[LPT_MC_N], num[LPT_MC_N];
        lpt_rng rng = lpt_rng_seed(7);
        for (int64_t i = 0; i < LPT_MC_M; i++)
            adv[i] = (float)lpt_rng_normal(&rng), advd[i] = adv[i];
        lpt_inst *in = lpt_inst_new(g_desc, "pg");
        assert_non_null(in);
        assert_true(
            lpt_add_field(in, "advantages", LPT_VIEW(adv, LP_DTYPE_F32, LPT_MC_R, LPT_MC_T)) >= 0);
        assert_true(
            lpt_add_field(in, "actions", LPT_VIEW(c.act, LP_DTYPE_I32, LPT_MC_R, LPT_MC_T)) >= 0);
        if (with_mask)
            assert_true(
                lpt_add_field(in, "action_mask",
                              LPT_VIEW(c.mask, LP_DTYPE_U8, LPT_MC_R, LPT_MC_T, LPT_MC_A)) >= 0);
        assert_add_logits(in, c.z, g, LPT_MC_R, LPT_MC_T, LPT_MC_A);
        assert_int_equal(lpt_set_f(in, "ent_coef", 0.3), 0);
        assert_create_attach(in);
        lp_train_result res;
        assert_int_equal(lpt_train(in, 1.0f, &res), LP_OK);

        a2c_ref r = {&c, advd, 0.3};
        for (int64_t k = 0; k < LPT_MC_N; k++)
            x[k] = c.z[k];
        assert_near(res.loss, a2c_ref_loss(x, LPT_MC_N, &r), 1e-5);
        assert_near(stat_last(in, "entropy"), lpt_mc_mean_entropy(&c, x), 1e-5);
        int64_t worst = -1;
        if (lpt_mc_fd_check(&c, a2c_ref_loss, &r, x, 1e-4, g, num, 1e-5, &worst) != 0)
            fail_msg("mask %d: gradient entry %lld is %g, reference %g", with_mask,
                     (long long)worst, (double)g[worst], num[worst]);

        /* A taken action that is masked: an error naming row and step. */
        lpt_mc_mask_taken(&c, 5);
        memset(g, 0, sizeof g);
        assert_int_equal(lpt_train(in, 1.0f, &res), LP_ERANGE);
        assert_contains(lpt_last_error(in), "row 1, step 2 has probability 0");
        for (int64_t k = 0; k < LPT_MC_N; k++)
            assert_true(g[k] == 0.0f); /* nothing written */
        assert_contract_kept(in);
        lpt_inst_free(in);
    }
}

/* A NaN logit on an allowed action: LP_ENUMERIC naming the output, row and step. */
static void test_nonfinite_logit(void **state) {
    (void)state;
    lpt_masked_case c;
    lpt_masked_case_make(&c, 0, 5);
    float g[LPT_MC_N] = {0}, adv[LPT_MC_M] = {1, -1, 0.5f, 2, 0, 1};
    c.z[4 * LPT_MC_A + 2] = NAN;
    lpt_inst *in = lpt_inst_new(g_desc, "pg");
    assert_true(lpt_add_field(in, "advantages", LPT_VIEW(adv, LP_DTYPE_F32, LPT_MC_R, LPT_MC_T)) >=
                0);
    assert_true(lpt_add_field(in, "actions", LPT_VIEW(c.act, LP_DTYPE_I32, LPT_MC_R, LPT_MC_T)) >=
                0);
    assert_add_logits(in, c.z, g, LPT_MC_R, LPT_MC_T, LPT_MC_A);
    assert_create_attach(in);
    assert_int_equal(lpt_train(in, 1.0f, NULL), LP_ENUMERIC);
    assert_contains(lpt_last_error(in), "output 'logits'");
    assert_contains(lpt_last_error(in), "row 1, step 1");
    adv[1] = INFINITY;
    c.z[4 * LPT_MC_A + 2] = 0.0f;
    assert_int_equal(lpt_train(in, 1.0f, NULL), LP_ENUMERIC);
    assert_contains(lpt_last_error(in), "field 'advantages' is inf");
    assert_contains(lpt_last_error(in), "row 0, step 1");
    lpt_inst_free(in);
}

static void test_no_lookups_per_call(void **state) {
    (void)state;
    mb b;
    random_batch(&b, 9, 2, 2, 3);
    mb_start(&b);
    for (int k = 0; k < 5; k++)
        assert_int_equal(lpt_train(b.in, 1.0f, NULL), LP_OK);
    assert_int_equal(lpt_violations(b.in), 0);
    assert_int_equal(lpt_stat(b.in, "policy_loss", NULL, NULL), 5);
    assert_int_equal(lpt_state_count(b.in), 0);
    mb_done(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_hand_value_and_gradient),
        cmocka_unit_test(test_entropy_gradient_sign),
        cmocka_unit_test(test_hand_norm_adv),
        cmocka_unit_test(test_gradient_finite_differences),
        cmocka_unit_test(test_gradient_of_plugin_loss),
        cmocka_unit_test(test_weight_and_accumulation),
        cmocka_unit_test(test_params_read_at_call_time),
        cmocka_unit_test(test_strided_fields),
        cmocka_unit_test(test_extreme_logits),
        cmocka_unit_test(test_one_action),
        cmocka_unit_test(test_one_sample_and_equal_advantages),
        cmocka_unit_test(test_empty_minibatch),
        cmocka_unit_test(test_out_of_range_action),
        cmocka_unit_test(test_missing_at_attach),
        cmocka_unit_test(test_wrong_dtype_and_shape),
        cmocka_unit_test(test_bad_ent_coef),
        cmocka_unit_test(test_no_lookups_per_call),
        cmocka_unit_test(test_masked_reference),
        cmocka_unit_test(test_nonfinite_logit),
    };
    return cmocka_run_group_tests_name("a2c", tests, group_setup, group_teardown);
}
