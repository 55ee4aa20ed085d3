/*
 * Unit tests of plugins/kickstarter, through its built .so and the mock host
 * of tests/support (lpt.h).
 *
 *   q = softmax(t / T), p = softmax(z / T)
 *   L = action_coef T^2 mean KL(q || p) + value_coef mean (V - Vt)^2
 *   dL/dz = action_coef T (p - q) / M,   dL/dV = 2 value_coef (V - Vt) / M
 */
#include <lpt_assert.h>
#include <lpt_catref.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

LPT_PLUGIN_GROUP("kickstarter")

/* ---- a minibatch owned by the test ---------------------------------------- */

typedef struct mb {
    int64_t R, T, A, M;
    float *z, *gz;  /* student logits [R, T, A] and their gradient */
    float *v, *gv;  /* student values [R, T] and their gradient */
    float *tl, *tv; /* teacher logits [R, T, A] and values [R, T] */
    lpt_inst *in;
    lpt_mb m; /* owns the instance and the arrays */
} mb;

static void mb_init(mb *b, int64_t R, int64_t T, int64_t A) {
    b->R = R, b->T = T, b->A = A, b->M = R * T;
    b->in = lpt_mb_init(&b->m, g_desc, "ks", R, T);
    b->tl = lpt_mb_field(&b->m, "teacher_logits", LP_DTYPE_F32, A);
    b->tv = lpt_mb_field(&b->m, "teacher_values", LP_DTYPE_F32, 0);
    b->z = lpt_mb_logits(&b->m, A, &b->gz);
    b->v = lpt_mb_output(&b->m, "values", 0, &b->gv);
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
    const float *tl, *tv; /* contiguous */
    const double *z;      /* for the value-gradient check: the logits held fixed */
    const double *v;      /* for the logit-gradient check: the values held fixed */
    double T, ac, vc;
    double kl, mse; /* the last evaluation's T^2 mean KL and mean squared error */
} ref;

/* log softmax(x / T) of one row into out. */
static void ref_log_softmax(const double *x, int64_t A, double T, double *out) {
    double m = x[0] / T;
    for (int64_t j = 1; j < A; j++)
        m = fmax(m, x[j] / T);
    double s = 0.0;
    for (int64_t j = 0; j < A; j++)
        s += exp(x[j] / T - m);
    for (int64_t j = 0; j < A; j++)
        out[j] = x[j] / T - m - log(s);
}

static double ref_eval(ref *r, const double *z, const double *v) {
    double kl = 0.0, mse = 0.0, lq[16], lp[16], t[16];
    for (int64_t i = 0; i < r->M; i++) {
        for (int64_t j = 0; j < r->A; j++)
            t[j] = r->tl[i * r->A + j];
        ref_log_softmax(t, r->A, r->T, lq);
        ref_log_softmax(z + i * r->A, r->A, r->T, lp);
        for (int64_t j = 0; j < r->A; j++)
            kl += exp(lq[j]) * (lq[j] - lp[j]);
        const double d = v[i] - r->tv[i];
        mse += d * d;
    }
    r->kl = r->T * r->T * kl / (double)r->M;
    r->mse = mse / (double)r->M;
    return r->ac * r->kl + r->vc * r->mse;
}

static double ref_loss_of_logits(const double *z, size_t n, void *ctx) {
    (void)n;
    ref *r = ctx;
    return ref_eval(r, z, r->v);
}

static double ref_loss_of_values(const double *v, size_t n, void *ctx) {
    (void)n;
    ref *r = ctx;
    return ref_eval(r, r->z, v);
}

/* ---- the descriptor ----------------------------------------------------------- */

static void test_descriptor(void **state) {
    (void)state;
    assert_string_equal(g_desc->id, "kickstarter");
    assert_true(g_desc->summary != NULL && g_desc->summary[0] != '\0');
    assert_int_equal(g_desc->param_count, 3);
    const char *names[3] = {"temperature", "action_coef", "value_coef"};
    const double defs[3] = {2.0, 0.6, 1.0};
    for (int i = 0; i < 3; i++) {
        const lp_param_spec *p = &g_desc->params[i];
        assert_string_equal(p->name, names[i]);
        assert_int_equal(p->type, LP_PARAM_FLOAT);
        assert_near(p->default_float, defs[i], 0.0);
        /* temperature: (0, 1e6], the others [0, 1e6] */
        assert_int_equal(p->flags, LP_PARAM_HAS_MIN | LP_PARAM_HAS_MAX |
                                       (i == 0 ? LP_PARAM_MIN_EXCLUSIVE : 0u));
        assert_near(p->max, 1e6, 0.0);
        assert_true(p->doc != NULL && p->doc[0] != '\0');
    }
    assert_near(g_desc->params[0].min, 0.0, 0.0); /* temperature > 0 */
    assert_near(g_desc->params[1].min, 0.0, 0.0);
    assert_near(g_desc->params[2].min, 0.0, 0.0);

    assert_int_equal(g_desc->field_count, 3);
    assert_mask_field(&g_desc->fields[2]);
    const lp_field_spec *f = &g_desc->fields[0];
    assert_string_equal(f->name, "teacher_logits");
    assert_int_equal(f->dtype, LP_DTYPE_F32);
    assert_int_equal(f->rank, 1);
    assert_int_equal(f->shape[0], LP_DIM_NUM_ACTIONS);
    f = &g_desc->fields[1];
    assert_string_equal(f->name, "teacher_values");
    assert_int_equal(f->dtype, LP_DTYPE_F32);
    assert_int_equal(f->rank, 0);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(g_desc->fields[k].access, LP_FIELD_READ);
        assert_int_equal(g_desc->fields[k].phase, LP_PHASE_TRAIN);
        assert_true(strstr(g_desc->fields[k].doc, "rollout") != NULL);
    }
    assert_string_equal(g_desc->outputs[0], "logits");
    assert_string_equal(g_desc->outputs[1], "values");
    assert_null(g_desc->outputs[2]);
}

/* ---- hand-computed cases ---------------------------------------------------------- */

/*
 * rows 1, horizon 2, A 2, T 2 (default), action_coef 0.6, value_coef 1, M = 2.
 *   sample 0: z = (0, 0), p = (1/2, 1/2); t = (2 ln 3, 0), t/T = (ln 3, 0),
 *             q = (3/4, 1/4)
 *     KL(q||p) = (3/4) ln((3/4)/(1/2)) + (1/4) ln((1/4)/(1/2))
 *              = 0.75 ln 1.5 - 0.25 ln 2 = 0.130812035...
 *     V = 1.5, Vt = 0.5: (V - Vt)^2 = 1
 *   sample 1: z = t = (1, -1): KL 0; V = Vt = -2: 0
 *   action_loss = T^2 * 0.130812035 / 2 = 0.26162407...
 *   value_loss = 1 / 2 = 0.5
 *   L = 0.6 * 0.26162407 + 0.5 = 0.656974442...
 *   dL/dz sample 0 = 0.6 * 2 * (p - q) / 2 = 0.6 * (-1/4, 1/4) = (-0.15, 0.15)
 *   dL/dV sample 0 = 2 * 1 * 1 / 2 = 1; sample 1: 0
 */
static void hand_batch(mb *b) {
    mb_init(b, 1, 2, 2);
    b->tl[0] = (float)(2.0 * log(3.0));
    b->tl[1] = 0.0f;
    b->z[2] = b->tl[2] = 1.0f;
    b->z[3] = b->tl[3] = -1.0f;
    b->v[0] = 1.5f;
    b->tv[0] = 0.5f;
    b->v[1] = b->tv[1] = -2.0f;
    mb_start(b);
}

static void test_hand_value_and_gradient(void **state) {
    (void)state;
    mb b;
    hand_batch(&b);
    lp_train_result res;
    assert_int_equal(lpt_train(b.in, 1.0f, &res), LP_OK);
    const double kl = 0.75 * log(1.5) - 0.25 * log(2.0);
    assert_near(res.loss, 0.6 * 4.0 * kl / 2.0 + 0.5, 1e-6);
    assert_int_equal(res.stop, 0);
    assert_near(b.gz[0], -0.15, 1e-6);
    assert_near(b.gz[1], 0.15, 1e-6);
    assert_near(b.gz[2], 0.0, 1e-7);
    assert_near(b.gz[3], 0.0, 1e-7);
    assert_near(b.gv[0], 1.0, 1e-6);
    assert_near(b.gv[1], 0.0, 0.0);
    double v;
    assert_int_equal(lpt_stat(b.in, "action_loss", &v, NULL), 1);
    assert_near(v, 4.0 * kl / 2.0, 1e-6);
    assert_int_equal(lpt_stat(b.in, "value_loss", &v, NULL), 1);
    assert_near(v, 0.5, 1e-7);
    mb_done(&b);
}

/* The same batch at T = 1: q = softmax(2 ln 3, 0) = (9/10, 1/10);
 * KL = 0.9 ln 1.8 + 0.1 ln 0.2 = 0.368064...; gradient 0.6 * 1 * (p - q) / 2
 * = 0.3 * (-0.4, 0.4) = (-0.12, 0.12). Temperature read at call time. */
static void test_hand_temperature(void **state) {
    (void)state;
    mb b;
    hand_batch(&b);
    assert_int_equal(lpt_set_f(b.in, "temperature", 1.0), 0);
    assert_int_equal(lpt_set_f(b.in, "value_coef", 0.0), 0);
    lp_train_result res;
    assert_int_equal(lpt_train(b.in, 1.0f, &res), LP_OK);
    const double kl = 0.9 * log(1.8) + 0.1 * log(0.2);
    assert_near(res.loss, 0.6 * kl / 2.0, 1e-6);
    assert_near(b.gz[0], -0.12, 1e-6);
    assert_near(b.gz[1], 0.12, 1e-6);
    assert_near(b.gv[0], 0.0, 0.0); /* value_coef 0 */
    mb_done(&b);
}

/* ---- gradient against central differences, many seeds ------------------------ */

static void fill_random(mb *b, lpt_rng *rng, int mode) {
    const double scale = mode == 0 ? 0.5 : mode == 1 ? 3.0 : 20.0;
    for (int64_t k = 0; k < b->M * b->A; k++) {
        if (mode == 3) {
            b->z[k] = (float)(lpt_rng_int(rng, 0, 2) - 1) * 1e4f;
            b->tl[k] = (float)(lpt_rng_int(rng, 0, 2) - 1) * 1e4f;
        } else {
            b->z[k] = (float)(scale * lpt_rng_normal(rng));
            b->tl[k] = (float)(scale * lpt_rng_normal(rng));
        }
    }
    for (int64_t i = 0; i < b->M; i++) {
        b->v[i] = (float)(3.0 * lpt_rng_normal(rng));
        b->tv[i] = (float)(3.0 * lpt_rng_normal(rng));
    }
}

static void test_gradient_finite_differences(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 400; seed++) {
        lpt_rng rng = lpt_rng_seed(seed);
        const int64_t R = lpt_rng_int(&rng, 1, 4), T = lpt_rng_int(&rng, 1, 5);
        const int64_t A = lpt_rng_int(&rng, 1, 9);
        const int mode = (int)(seed % 4);
        mb b;
        mb_init(&b, R, T, A);
        fill_random(&b, &rng, mode);
        const double temps[] = {0.5, 1.0, 2.0, 3.7};
        const double temp = temps[lpt_rng_int(&rng, 0, 3)];
        const double ac = lpt_rng_uniform(&rng, 0.0, 2.0), vc = lpt_rng_uniform(&rng, 0.0, 2.0);
        const float weight = (float)lpt_rng_uniform(&rng, 0.1, 3.0);
        assert_int_equal(lpt_set_f(b.in, "temperature", temp), 0);
        assert_int_equal(lpt_set_f(b.in, "action_coef", ac), 0);
        assert_int_equal(lpt_set_f(b.in, "value_coef", vc), 0);
        mb_start(&b);

        lp_train_result res;
        assert_int_equal(lpt_train(b.in, weight, &res), LP_OK);

        const size_t n = (size_t)(b.M * A), m = (size_t)b.M;
        double *x = malloc(n * sizeof *x), *fd = malloc(n * sizeof *fd);
        double *an = malloc(n * sizeof *an), *xv = malloc(m * sizeof *xv);
        double *fdv = malloc(m * sizeof *fdv), *anv = malloc(m * sizeof *anv);
        assert_true(x && fd && an && xv && fdv && anv);
        double maxz = 0.0;
        for (size_t k = 0; k < n; k++) {
            x[k] = b.z[k];
            an[k] = b.gz[k];
            maxz = fmax(maxz, fmax(fabs(x[k]), fabs((double)b.tl[k])));
        }
        for (size_t k = 0; k < m; k++) {
            xv[k] = b.v[k];
            anv[k] = b.gv[k];
        }
        ref r = {b.M, A, b.tl, b.tv, x, xv, temp, ac, vc, 0, 0};
        const double want = ref_eval(&r, x, xv);
        const double tol = 1e-6 * (ac * temp * (1.0 + maxz) + vc * 10.0) + 1e-6 * fabs(want);
        if (!(fabs(res.loss - want) <= tol))
            fail_msg("seed %llu: loss %.9g, reference %.9g", (unsigned long long)seed, res.loss,
                     want);
        double st;
        assert_int_equal(lpt_stat(b.in, "action_loss", &st, NULL), 1);
        assert_near(st, r.kl, 1e-6 * temp * (1.0 + maxz) + 1e-6 * r.kl);
        assert_int_equal(lpt_stat(b.in, "value_loss", &st, NULL), 1);
        assert_near(st, r.mse, 1e-5 * (1.0 + r.mse));

        lpt_fd_grad(ref_loss_of_logits, &r, x, n, 1e-4, fd);
        lpt_fd_grad(ref_loss_of_values, &r, xv, m, 1e-4, fdv);
        for (size_t k = 0; k < n; k++)
            fd[k] *= weight;
        for (size_t k = 0; k < m; k++)
            fdv[k] *= weight;
        size_t worst;
        const double sz = weight * ac * temp / (double)b.M;
        size_t bad = lpt_grad_compare(an, fd, n, 1e-5 * sz, 1e-4, &worst, NULL);
        if (bad != 0)
            fail_msg("seed %llu (R %lld T %lld A %lld temp %g mode %d): %zu logit gradients off; "
                     "worst [%zu] analytic %.9g, finite differences %.9g",
                     (unsigned long long)seed, (long long)R, (long long)T, (long long)A, temp, mode,
                     bad, worst, an[worst], fd[worst]);
        const double sv = weight * vc / (double)b.M;
        bad = lpt_grad_compare(anv, fdv, m, 1e-5 * sv, 1e-4, &worst, NULL);
        if (bad != 0)
            fail_msg("seed %llu: %zu value gradients off; worst [%zu] analytic %.9g, finite "
                     "differences %.9g",
                     (unsigned long long)seed, bad, worst, anv[worst], fdv[worst]);
        free(x);
        free(fd);
        free(an);
        free(xv);
        free(fdv);
        free(anv);
        mb_done(&b);
    }
}

/* The plugin's own loss, differentiated numerically, agrees with its own
 * logit gradient. */
static void test_gradient_of_plugin_loss(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        lpt_rng rng = lpt_rng_seed(2000 + seed);
        mb b;
        mb_init(&b, lpt_rng_int(&rng, 1, 3), lpt_rng_int(&rng, 1, 3), lpt_rng_int(&rng, 2, 6));
        fill_random(&b, &rng, (int)(seed % 2));
        mb_start(&b);
        lpt_own_grad og;
        const size_t bad = lpt_check_own_gradient(b.in, b.z, b.gz, (size_t)(b.M * b.A), 1e-2,
                                                  2e-3 / (double)b.M, 2e-3, &og);
        assert_int_equal(og.rc, LP_OK);
        if (bad != 0)
            fail_msg("seed %llu: [%zu] analytic %.9g, plugin finite differences %.9g",
                     (unsigned long long)seed, og.worst, og.analytic, og.numeric);
        mb_done(&b);
    }
}

/* ---- weight, accumulation, layouts ------------------------------------------------ */

static void test_weight_and_accumulation(void **state) {
    (void)state;
    lpt_rng rng = lpt_rng_seed(7);
    mb b;
    mb_init(&b, 3, 4, 5);
    fill_random(&b, &rng, 1);
    mb_start(&b);
    const size_t n = 60, m = 12;
    float g1[60], v1[12];
    lp_train_result r1, r;
    assert_int_equal(lpt_train(b.in, 1.0f, &r1), LP_OK);
    memcpy(g1, b.gz, sizeof g1);
    memcpy(v1, b.gv, sizeof v1);
    const float weights[] = {2.5f, 0.0f, -1.0f};
    for (size_t w = 0; w < LP_COUNT_OF(weights); w++) {
        for (size_t k = 0; k < n; k++)
            b.gz[k] = 7.0f;
        for (size_t k = 0; k < m; k++)
            b.gv[k] = -3.0f;
        assert_int_equal(lpt_train(b.in, weights[w], &r), LP_OK);
        assert_near(r.loss, r1.loss, 1e-12);
        for (size_t k = 0; k < n; k++)
            assert_near(b.gz[k], 7.0 + weights[w] * g1[k], 2e-6 * (fabs(g1[k]) + 1.0));
        for (size_t k = 0; k < m; k++)
            assert_near(b.gv[k], -3.0 + weights[w] * v1[k], 2e-6 * (fabs(v1[k]) + 1.0));
    }
    mb_done(&b);
}

/* A call that fails at the last sample (a NaN teacher logit, a NaN teacher
 * value, a student output of -inf on the teacher's action) writes no
 * gradient at all: every sample is checked before any is written. */
static void test_failure_writes_nothing(void **state) {
    (void)state;
    for (int kind = 0; kind < 3; kind++) {
        lpt_rng rng = lpt_rng_seed(70 + (uint64_t)kind);
        mb b;
        mb_init(&b, 3, 4, 5);
        fill_random(&b, &rng, 1);
        mb_start(&b);
        const int64_t last = b.M - 1;
        if (kind == 0)
            b.tl[last * b.A + 2] = NAN;
        else if (kind == 1)
            b.tv[last] = NAN;
        else
            b.z[last * b.A + 1] = -INFINITY;
        for (int64_t k = 0; k < b.M * b.A; k++)
            b.gz[k] = 7.0f;
        for (int64_t k = 0; k < b.M; k++)
            b.gv[k] = -3.0f;
        lp_train_result r;
        assert_int_equal(lpt_train(b.in, 1.0f, &r), kind == 2 ? LP_ERANGE : LP_ENUMERIC);
        assert_contains(lpt_last_error(b.in), "row 2, step 3");
        for (int64_t k = 0; k < b.M * b.A; k++)
            assert_true(b.gz[k] == 7.0f);
        for (int64_t k = 0; k < b.M; k++)
            assert_true(b.gv[k] == -3.0f);
        mb_done(&b);
    }
}

/* Teacher fields as strided views (actions interleaved, rows padded), and
 * values as [R, T, 1]. */
static void test_strided_fields(void **state) {
    (void)state;
    lpt_rng rng = lpt_rng_seed(5);
    mb b;
    mb_init(&b, 2, 3, 4);
    fill_random(&b, &rng, 1);
    float ptl[2 * 30], ptv[2 * 7];
    for (int k = 0; k < 60; k++)
        ptl[k] = NAN;
    for (int k = 0; k < 14; k++)
        ptv[k] = NAN;
    for (int64_t r = 0; r < 2; r++)
        for (int64_t t = 0; t < 3; t++) {
            for (int64_t j = 0; j < 4; j++)
                ptl[r * 30 + t * 9 + j * 2] = b.tl[(r * 3 + t) * 4 + j];
            ptv[r * 7 + t * 2] = b.tv[r * 3 + t];
        }
    lp_tensor vl = LPT_VIEW(ptl, LP_DTYPE_F32, 2, 3, 4);
    vl.strides[0] = 30;
    vl.strides[1] = 9;
    vl.strides[2] = 2;
    lp_tensor vv = LPT_VIEW(ptv, LP_DTYPE_F32, 2, 3);
    vv.strides[0] = 7;
    vv.strides[1] = 2;
    assert_true(lpt_add_field(b.in, "teacher_logits", vl) >= 0);
    assert_true(lpt_add_field(b.in, "teacher_values", vv) >= 0);
    lpt_add_output(b.in, "values", LPT_VIEW(b.v, LP_DTYPE_F32, 2, 3, 1),
                   LPT_VIEW(b.gv, LP_DTYPE_F32, 2, 3, 1));
    mb_start(&b);
    lp_train_result rs;
    assert_int_equal(lpt_train(b.in, 1.0f, &rs), LP_OK);
    double x[24], xv[6];
    for (int k = 0; k < 24; k++)
        x[k] = b.z[k];
    for (int k = 0; k < 6; k++)
        xv[k] = b.v[k];
    ref r = {b.M, b.A, b.tl, b.tv, x, xv, 2.0, 0.6, 1.0, 0, 0};
    assert_near(rs.loss, ref_eval(&r, x, xv), 1e-5 * (1.0 + rs.loss));
    for (int k = 0; k < 6; k++)
        assert_near(b.gv[k], 2.0 * (b.v[k] - b.tv[k]) / 6.0, 1e-6);
    mb_done(&b);
}

/* ---- edge cases ------------------------------------------------------------------ */

/*
 * Opposite certainties at +-1e4, T = 2: z/T = (5e3, -5e3), t/T = (-5e3, 5e3),
 * q = (0, 1) (to e^-1e4), log q_1 = 0, log p_1 = -1e4: KL = 1e4;
 * action_loss = T^2 * 1e4 = 4e4. A tie in both (1e4, 1e4): KL 0. M = 2.
 *   action_loss = 4e4 / 2 = 2e4; gradient 0.6 * 2 * (p - q) / 2 = 0.6 (1, -1)
 */
static void test_extreme_logits(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 1, 2, 2);
    const float z[4] = {1e4f, -1e4f, 1e4f, 1e4f}, t[4] = {-1e4f, 1e4f, 1e4f, 1e4f};
    memcpy(b.z, z, sizeof z);
    memcpy(b.tl, t, sizeof t);
    mb_start(&b);
    lp_train_result r;
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
    assert_true(isfinite(r.loss));
    double al;
    assert_int_equal(lpt_stat(b.in, "action_loss", &al, NULL), 1);
    assert_near(al, 2e4, 1.0);
    assert_near(r.loss, 0.6 * 2e4, 1.0);
    assert_all_finite(b.gz, 4);
    assert_near(b.gz[0], 0.6, 1e-6);
    assert_near(b.gz[1], -0.6, 1e-6);
    assert_near(b.gz[2], 0.0, 0.0);
    assert_near(b.gz[3], 0.0, 0.0);
    mb_done(&b);
}

/* One action: both softmaxes are 1: KL and its gradient exactly 0. */
static void test_one_action(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 2, 1, 1);
    b.z[0] = 1e4f;
    b.tl[0] = -1e4f;
    b.z[1] = 0.5f;
    b.tl[1] = 3.0f;
    mb_start(&b);
    lp_train_result r;
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
    assert_near(r.loss, 0.0, 0.0);
    assert_near(b.gz[0], 0.0, 0.0);
    assert_near(b.gz[1], 0.0, 0.0);
    mb_done(&b);
}

/* One sample; identical teacher and student: loss 0, no NaN. */
static void test_one_sample_identical(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 1, 1, 5);
    for (int j = 0; j < 5; j++)
        b.z[j] = b.tl[j] = (float)(j * j) - 3.0f;
    b.v[0] = b.tv[0] = 2.5f;
    mb_start(&b);
    lp_train_result r;
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
    assert_near(r.loss, 0.0, 1e-7);
    for (int j = 0; j < 5; j++)
        assert_near(b.gz[j], 0.0, 1e-7);
    assert_near(b.gv[0], 0.0, 0.0);
    mb_done(&b);
}

static void test_empty_minibatch(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 1, 1, 3);
    mb_start(&b);
    static float z[1], g[1], v[1], gv[1], tl[1], tv[1];
    lpt_add_field(b.in, "teacher_logits", LPT_VIEW(tl, LP_DTYPE_F32, 0, 1, 3));
    lpt_add_field(b.in, "teacher_values", LPT_VIEW(tv, LP_DTYPE_F32, 0, 1));
    lpt_add_output(b.in, "logits", LPT_VIEW(z, LP_DTYPE_F32, 0, 1, 3),
                   LPT_VIEW(g, LP_DTYPE_F32, 0, 1, 3));
    lpt_add_output(b.in, "values", LPT_VIEW(v, LP_DTYPE_F32, 0, 1),
                   LPT_VIEW(gv, LP_DTYPE_F32, 0, 1));
    lp_train_result r;
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
    assert_near(r.loss, 0.0, 0.0);
    mb_done(&b);
}

/* ---- errors ------------------------------------------------------------------------ */

static void test_missing_at_attach(void **state) {
    (void)state;
    const char *names[] = {"teacher_logits", "teacher_values", "logits", "values"};
    for (int miss = 0; miss < 4; miss++) {
        float z[3], g[3], v[1], gv[1], tl[3], tv[1];
        lpt_inst *in = lpt_inst_new(g_desc, "ks");
        assert_non_null(in);
        if (miss != 0)
            lpt_add_field(in, "teacher_logits", LPT_VIEW(tl, LP_DTYPE_F32, 1, 1, 3));
        if (miss != 1)
            lpt_add_field(in, "teacher_values", LPT_VIEW(tv, LP_DTYPE_F32, 1, 1));
        if (miss != 2)
            lpt_add_output(in, "logits", LPT_VIEW(z, LP_DTYPE_F32, 1, 1, 3),
                           LPT_VIEW(g, LP_DTYPE_F32, 1, 1, 3));
        if (miss != 3)
            lpt_add_output(in, "values", LPT_VIEW(v, LP_DTYPE_F32, 1, 1),
                           LPT_VIEW(gv, LP_DTYPE_F32, 1, 1));
        assert_int_equal(lpt_create(in), LP_OK);
        assert_int_equal(lpt_attach(in), LP_ESPEC);
        char want[64];
        snprintf(want, sizeof want, "no %s '%s'", miss >= 2 ? "output" : "field", names[miss]);
        assert_contains(lpt_last_error(in), want);
        assert_contains(lpt_last_error(in), "'ks'");
        assert_int_equal(lpt_train(in, 1.0f, NULL), LP_EINVAL);
        assert_int_equal(lpt_violations(in), 0);
        lpt_inst_free(in);
    }
}

/* Teacher logits whose width differs from the student's are refused: the
 * teacher's is num_actions (declared), the student's the program's logits
 * (which the host does not match against it). */
static void test_width_mismatch(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 1, 2, 3);
    lpt_env(b.in)->num_actions = 4;
    float tl[8] = {0};
    lpt_add_field(b.in, "teacher_logits", LPT_VIEW(tl, LP_DTYPE_F32, 1, 2, 4));
    mb_start(&b);
    for (int k = 0; k < 6; k++)
        b.gz[k] = 0.25f;
    assert_int_equal(lpt_train(b.in, 1.0f, NULL), LP_ESPEC);
    assert_contains(lpt_last_error(b.in), "teacher_logits");
    assert_contains(lpt_last_error(b.in), "[1, 2, 3]");
    for (int k = 0; k < 6; k++)
        assert_near(b.gz[k], 0.25, 0.0);

    /* A teacher_values field of another dtype than declared: the host never
     * passes one (abi.h; tests/session/test_spec.c), the support refuses it. */
    int32_t iv[2];
    lpt_add_field(b.in, "teacher_values", LPT_VIEW(iv, LP_DTYPE_I32, 1, 2));
    assert_int_equal(lpt_attach(b.in), LPT_EFIXTURE);
    assert_contains(lpt_fixture_error(b.in), "'teacher_values' is i32, the loss declared f32");
    mb_done(&b);
}

static void test_bad_params(void **state) {
    (void)state;
    mb b;
    hand_batch(&b);
    const struct {
        const char *name;
        double v;
    } bad[] = {{"temperature", 0.0},
               {"temperature", -1.0},
               {"temperature", NAN},
               {"action_coef", -0.5},
               {"value_coef", INFINITY}};
    for (size_t i = 0; i < LP_COUNT_OF(bad); i++) {
        assert_int_equal(lpt_set_f(b.in, bad[i].name, bad[i].v), 0);
        /* The host never passes a value outside the schema (abi.h;
         * tests/config/test_params.c): the support refuses it. */
        assert_int_equal(lpt_train(b.in, 1.0f, NULL), LPT_EFIXTURE);
        assert_contains(lpt_fixture_error(b.in), bad[i].name);
        assert_int_equal(
            lpt_set_f(b.in, bad[i].name, g_desc->params[i < 3 ? 0 : i - 2].default_float), 0);
    }
    for (int k = 0; k < 4; k++)
        assert_near(b.gz[k], 0.0, 0.0);
    assert_near(b.gv[0], 0.0, 0.0);
    mb_done(&b);
}

static void test_no_lookups_per_call(void **state) {
    (void)state;
    mb b;
    hand_batch(&b);
    for (int k = 0; k < 5; k++)
        assert_int_equal(lpt_train(b.in, 1.0f, NULL), LP_OK);
    assert_int_equal(lpt_violations(b.in), 0);
    assert_int_equal(lpt_stat(b.in, "value_loss", NULL, NULL), 5);
    assert_int_equal(lpt_state_count(b.in), 0);
    mb_done(&b);
}

/* ---- masked actions against a float64 reference ----------------------------- */

typedef struct ks_ref {
    const lpt_masked_case *c;
    const double *tl; /* teacher logits */
    double T, ac;
} ks_ref;

/* ac T^2 mean KL(softmax(t/T) || softmax(z/T)), float64, allowed actions. */
static double ks_ref_loss(const double *x, size_t n, void *vctx) {
    (void)n;
    const ks_ref *r = vctx;
    double kl = 0.0;
    for (int64_t i = 0; i < LPT_MC_M; i++) {
        double zq[LPT_MC_A], zp[LPT_MC_A];
        for (int64_t j = 0; j < LPT_MC_A; j++)
            zq[j] = r->tl[i * LPT_MC_A + j] / r->T, zp[j] = x[i * LPT_MC_A + j] / r->T;
        kl += lpt_ref_kl(zq, zp, lpt_mc_mask(r->c, i), LPT_MC_A);
    }
    return r->ac * r->T * r->T * kl / LPT_MC_M;
}

static void test_masked_reference(void **state) {
    (void)state;
    for (int with_mask = 0; with_mask <= 1; with_mask++) {
        lpt_masked_case c;
        lpt_masked_case_make(&c, with_mask, 23 + (uint64_t)with_mask);
        float g[LPT_MC_N] = {0}, tl[LPT_MC_N], v[LPT_MC_M], gv[LPT_MC_M] = {0}, tv[LPT_MC_M];
        double tld[LPT_MC_N], x[LPT_MC_N], num[LPT_MC_N];
        lpt_rng rng = lpt_rng_seed(11);
        for (int64_t k = 0; k < LPT_MC_N; k++) {
            /* The teacher masks what the student masks (-inf), and more:
             * sample 2's action 0 and all but one action of sample 5. */
            tl[k] = c.z[k] == -INFINITY ? -INFINITY : (float)(2.0 * lpt_rng_normal(&rng));
            x[k] = c.z[k];
        }
        tl[2 * LPT_MC_A + 0] = -INFINITY;
        for (int64_t j = 1; j < LPT_MC_A; j++)
            tl[5 * LPT_MC_A + j] = -INFINITY;
        for (int64_t k = 0; k < LPT_MC_N; k++)
            tld[k] = tl[k];
        for (int64_t i = 0; i < LPT_MC_M; i++)
            v[i] = (float)lpt_rng_normal(&rng), tv[i] = (float)lpt_rng_normal(&rng);

        lpt_inst *in = lpt_inst_new(g_desc, "ks");
        assert_non_null(in);
        assert_true(lpt_add_field(in, "teacher_logits",
                                  LPT_VIEW(tl, LP_DTYPE_F32, LPT_MC_R, LPT_MC_T, LPT_MC_A)) >= 0);
        assert_true(lpt_add_field(in, "teacher_values",
                                  LPT_VIEW(tv, LP_DTYPE_F32, LPT_MC_R, LPT_MC_T)) >= 0);
        if (with_mask)
            assert_true(
                lpt_add_field(in, "action_mask",
                              LPT_VIEW(c.mask, LP_DTYPE_U8, LPT_MC_R, LPT_MC_T, LPT_MC_A)) >= 0);
        assert_add_logits(in, c.z, g, LPT_MC_R, LPT_MC_T, LPT_MC_A);
        assert_true(lpt_add_output(in, "values", LPT_VIEW(v, LP_DTYPE_F32, LPT_MC_R, LPT_MC_T),
                                   LPT_VIEW(gv, LP_DTYPE_F32, LPT_MC_R, LPT_MC_T)) >= 0);
        assert_int_equal(lpt_set_f(in, "value_coef", 0.0), 0);
        assert_create_attach(in);
        lp_train_result res;
        assert_int_equal(lpt_train(in, 1.0f, &res), LP_OK);

        ks_ref r = {&c, tld, 2.0, 0.6};
        assert_near(res.loss, ks_ref_loss(x, LPT_MC_N, &r), 1e-5);
        int64_t worst = -1;
        if (lpt_mc_fd_check(&c, ks_ref_loss, &r, x, 1e-5, g, num, 1e-5, &worst) != 0)
            fail_msg("mask %d: gradient entry %lld is %g, reference %g", with_mask,
                     (long long)worst, (double)g[worst], num[worst]);
        /* where only the teacher masks, the student is pushed away */
        assert_true(g[2 * LPT_MC_A + 0] > 0.0f);

        /* The student masks an action the teacher takes: KL = +inf. */
        memset(g, 0, sizeof g);
        tl[0 * LPT_MC_A + 1] = 1.0f;
        assert_int_equal(lpt_train(in, 1.0f, &res), LP_ERANGE);
        assert_contains(lpt_last_error(in), "row 0, step 0 the student gives probability 0");
        tl[0 * LPT_MC_A + 1] = -INFINITY;
        /* A teacher row with every action masked. */
        for (int64_t j = 0; j < LPT_MC_A; j++)
            tl[5 * LPT_MC_A + j] = -INFINITY;
        assert_int_equal(lpt_train(in, 1.0f, &res), LP_ERANGE);
        assert_contains(lpt_last_error(in),
                        "every action of the teacher is masked at row 1, step 2");
        /* A NaN teacher logit on an allowed action. */
        tl[5 * LPT_MC_A + 0] = 0.0f;
        tl[2 * LPT_MC_A + 2] = NAN;
        assert_int_equal(lpt_train(in, 1.0f, &res), LP_ENUMERIC);
        assert_contains(lpt_last_error(in), "field 'teacher_logits' is nan (not finite) at row 0, "
                                            "step 2");
        assert_contract_kept(in);
        lpt_inst_free(in);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_hand_value_and_gradient),
        cmocka_unit_test(test_hand_temperature),
        cmocka_unit_test(test_gradient_finite_differences),
        cmocka_unit_test(test_gradient_of_plugin_loss),
        cmocka_unit_test(test_weight_and_accumulation),
        cmocka_unit_test(test_failure_writes_nothing),
        cmocka_unit_test(test_strided_fields),
        cmocka_unit_test(test_extreme_logits),
        cmocka_unit_test(test_one_action),
        cmocka_unit_test(test_one_sample_identical),
        cmocka_unit_test(test_empty_minibatch),
        cmocka_unit_test(test_missing_at_attach),
        cmocka_unit_test(test_width_mismatch),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_no_lookups_per_call),
        cmocka_unit_test(test_masked_reference),
    };
    return cmocka_run_group_tests_name("kickstarter", tests, group_setup, group_teardown);
}
