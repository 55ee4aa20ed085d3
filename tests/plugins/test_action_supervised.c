/*
 * Unit tests of plugins/action_supervised, through its built .so and the
 * mock host of tests/support (lpt.h).
 *
 *   L = -coef * mean_i log softmax(z_i)[a*_i]
 *   dL/dz_ij = (coef / M) (p_ij - 1[j = a*_i]),  scaled by the weight.
 */
#include <lpt_assert.h>
#include <lpt_catref.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

LPT_PLUGIN_GROUP("action_supervised")

/* ---- a minibatch owned by the test ---------------------------------------- */

typedef struct mb {
    int64_t R, T, A, M;
    float *z;   /* logits [R, T, A] */
    float *g;   /* their gradient buffer, zeroed */
    int32_t *a; /* teacher actions [R, T] */
    lpt_inst *in;
    lpt_mb m; /* owns the instance and the arrays */
} mb;

/* An instance with the field and the output added; create is not called. */
static void mb_init(mb *b, int64_t R, int64_t T, int64_t A) {
    b->R = R, b->T = T, b->A = A, b->M = R * T;
    b->in = lpt_mb_init(&b->m, g_desc, "bc", R, T);
    b->a = lpt_mb_field(&b->m, "teacher_actions", LP_DTYPE_I32, 0);
    b->z = lpt_mb_logits(&b->m, A, &b->g);
}

static void mb_start(mb *b) {
    assert_create_attach(b->in);
}

/* Asserts the plugin kept the host contract; frees everything. */
static void mb_done(mb *b) {
    lpt_mb_done(&b->m);
}

/* ---- a double-precision reference, written from the formula --------------- */

typedef struct ref {
    int64_t M, A;
    const int32_t *a; /* contiguous */
    double coef;
} ref;

static double ref_loss(const double *z, size_t n, void *ctx) {
    const ref *r = ctx;
    (void)n;
    double nll = 0.0;
    for (int64_t i = 0; i < r->M; i++) {
        const double *zi = z + i * r->A;
        double m = zi[0];
        for (int64_t j = 1; j < r->A; j++)
            m = fmax(m, zi[j]);
        double s = 0.0;
        for (int64_t j = 0; j < r->A; j++)
            s += exp(zi[j] - m);
        nll += m + log(s) - zi[r->a[i]];
    }
    return r->coef * nll / (double)r->M;
}

/* p = softmax of one row, in double. */
static void ref_softmax(const float *z, int64_t A, double *p) {
    double m = z[0], s = 0.0;
    for (int64_t j = 1; j < A; j++)
        m = fmax(m, z[j]);
    for (int64_t j = 0; j < A; j++)
        s += (p[j] = exp(z[j] - m));
    for (int64_t j = 0; j < A; j++)
        p[j] /= s;
}

/* ---- the descriptor ----------------------------------------------------------- */

static void test_descriptor(void **state) {
    (void)state;
    const lp_entry *e = lpt_plugin_entry(g_plugin);
    assert_int_equal(e->abi_major, LP_ABI_MAJOR);
    assert_int_equal(e->loss_count(), 1);
    assert_ptr_equal(e->loss_get(0), g_desc);
    assert_null(e->loss_get(1));

    assert_string_equal(g_desc->id, "action_supervised");
    assert_true(g_desc->version != NULL && g_desc->version[0] != '\0');
    assert_true(g_desc->summary != NULL && g_desc->summary[0] != '\0');

    assert_int_equal(g_desc->param_count, 1);
    const lp_param_spec *p = &g_desc->params[0];
    assert_string_equal(p->name, "coef");
    assert_int_equal(p->type, LP_PARAM_FLOAT);
    assert_true(p->doc != NULL && p->doc[0] != '\0');
    assert_near(p->default_float, 1.0, 0.0);
    assert_int_equal(p->flags, LP_PARAM_HAS_MIN | LP_PARAM_HAS_MAX);
    assert_near(p->min, 0.0, 0.0);
    assert_near(p->max, 1e6, 0.0);

    assert_int_equal(g_desc->field_count, 2);
    assert_mask_field(&g_desc->fields[1]);
    const lp_field_spec *f = &g_desc->fields[0];
    assert_string_equal(f->name, "teacher_actions");
    assert_int_equal(f->dtype, LP_DTYPE_I32);
    assert_int_equal(f->rank, 0);
    assert_int_equal(f->access, LP_FIELD_READ);
    assert_int_equal(f->phase, LP_PHASE_TRAIN);
    assert_true(f->doc != NULL && strstr(f->doc, "rollout") != NULL);

    assert_non_null(g_desc->outputs);
    assert_string_equal(g_desc->outputs[0], "logits");
    assert_null(g_desc->outputs[1]);
}

/* ---- value, gradient and stats on a hand-built minibatch ---------------------- */

/*
 * rows 1, horizon 2, A 3, coef 2, weight 0.5, so M = 2.
 *   sample 0: z = (0, ln 2, ln 3), p = (1/6, 2/6, 3/6), a* = 2
 *   sample 1: z = (5, 5, 5),       p = (1/3, 1/3, 1/3), a* = 1
 *   L = -2 * (ln(1/2) + ln(1/3)) / 2 = ln 6 = 1.791759469228055
 *   grad = weight * coef / M * (p - onehot(a*)) = 0.5 * (p - onehot)
 *     sample 0: 0.5 * (1/6, 1/3, -1/2)  = (1/12, 1/6, -1/4)
 *     sample 1: 0.5 * (1/3, -2/3, 1/3)  = (1/6, -1/3, 1/6)
 *   entropy: sample 0: (1/6) ln 6 + (1/3) ln 3 + (1/2) ln 2 = 1.011404264707...
 *            sample 1: ln 3 = 1.098612288668...  mean 1.055008276688...
 *   accuracy: argmax 2 == 2; argmax of a tie is the first index, 0 != 1: 0.5
 */
static void hand_batch(mb *b) {
    mb_init(b, 1, 2, 3);
    const float z[6] = {0.0f, (float)log(2.0), (float)log(3.0), 5.0f, 5.0f, 5.0f};
    memcpy(b->z, z, sizeof z);
    b->a[0] = 2;
    b->a[1] = 1;
    assert_int_equal(lpt_set_f(b->in, "coef", 2.0), 0);
    mb_start(b);
}

static const double hand_loss = 1.791759469228055;
static const double hand_grad[6] = {1.0 / 12, 1.0 / 6, -1.0 / 4, 1.0 / 6, -1.0 / 3, 1.0 / 6};
static const double hand_entropy = (1.011404264707 + 1.098612288668) / 2;

static void test_hand_value_and_gradient(void **state) {
    (void)state;
    mb b;
    hand_batch(&b);
    lp_train_result res;
    assert_int_equal(lpt_train(b.in, 0.5f, &res), LP_OK);
    assert_near(res.loss, hand_loss, 1e-6);
    assert_int_equal(res.stop, 0);
    for (int k = 0; k < 6; k++)
        assert_near(b.g[k], hand_grad[k], 1e-6);
    mb_done(&b);
}

static void test_hand_stats(void **state) {
    (void)state;
    mb b;
    hand_batch(&b);
    double last, mean;
    assert_int_equal(lpt_stat(b.in, "accuracy", NULL, NULL), 0); /* registered, none yet */
    assert_int_equal(lpt_stat(b.in, "entropy", NULL, NULL), 0);
    assert_int_equal(lpt_train(b.in, 0.5f, NULL), LP_OK);
    assert_int_equal(lpt_stat(b.in, "accuracy", &last, NULL), 1);
    assert_near(last, 0.5, 1e-12);
    assert_int_equal(lpt_stat(b.in, "entropy", &last, NULL), 1);
    assert_near(last, hand_entropy, 1e-6);

    /* A second minibatch where the teacher agrees everywhere: accuracy 1. */
    b.a[1] = 0;
    assert_int_equal(lpt_train(b.in, 0.5f, NULL), LP_OK);
    assert_int_equal(lpt_stat(b.in, "accuracy", &last, &mean), 2);
    assert_near(last, 1.0, 1e-12);
    assert_near(mean, 0.75, 1e-12);
    mb_done(&b);
}

/* ---- gradient against central differences, many seeds ------------------------ */

/* Random logits: mostly moderate, sometimes wide, sometimes +-1e4 extremes
 * with deliberate ties. */
static void fill_random(mb *b, lpt_rng *rng, int mode) {
    const double scale = mode == 0 ? 0.5 : mode == 1 ? 3.0 : 20.0;
    for (int64_t k = 0; k < b->M * b->A; k++) {
        if (mode == 3)
            b->z[k] = (float)(lpt_rng_int(rng, 0, 2) - 1) * 1e4f; /* -1e4, 0, 1e4 */
        else
            b->z[k] = (float)(scale * lpt_rng_normal(rng));
    }
    for (int64_t i = 0; i < b->M; i++)
        b->a[i] = (int32_t)lpt_rng_int(rng, 0, b->A - 1);
}

static void test_gradient_finite_differences(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 300; seed++) {
        lpt_rng rng = lpt_rng_seed(seed);
        const int64_t R = lpt_rng_int(&rng, 1, 4), T = lpt_rng_int(&rng, 1, 5);
        const int64_t A = lpt_rng_int(&rng, 1, 9);
        mb b;
        mb_init(&b, R, T, A);
        fill_random(&b, &rng, (int)(seed % 4));
        const double coef = lpt_rng_uniform(&rng, 0.05, 5.0);
        const float weight = (float)lpt_rng_uniform(&rng, 0.1, 3.0);
        assert_int_equal(lpt_set_f(b.in, "coef", coef), 0);
        mb_start(&b);

        lp_train_result res;
        assert_int_equal(lpt_train(b.in, weight, &res), LP_OK);

        const size_t n = (size_t)(b.M * A);
        double *x = malloc(n * sizeof *x), *fd = malloc(n * sizeof *fd);
        double *an = malloc(n * sizeof *an);
        assert_true(x != NULL && fd != NULL && an != NULL);
        for (size_t k = 0; k < n; k++) {
            x[k] = b.z[k];
            an[k] = b.g[k];
        }
        ref r = {b.M, A, b.a, coef};
        const double want = ref_loss(x, n, &r);
        double maxz = 0.0;
        for (size_t k = 0; k < n; k++)
            maxz = fmax(maxz, fabs(x[k]));
        if (!(fabs(res.loss - want) <= 1e-6 * coef * (1.0 + maxz)))
            fail_msg("seed %llu: loss %.9g, reference %.9g", (unsigned long long)seed, res.loss,
                     want);

        lpt_fd_grad(ref_loss, &r, x, n, 1e-4, fd);
        for (size_t k = 0; k < n; k++)
            fd[k] *= weight;
        const double scale = weight * coef / (double)b.M;
        size_t worst;
        double max_abs;
        size_t bad = lpt_grad_compare(an, fd, n, 5e-6 * scale, 1e-4, &worst, &max_abs);
        if (bad != 0)
            fail_msg("seed %llu (R %lld T %lld A %lld): %zu gradient elements off; worst [%zu] "
                     "analytic %.9g, finite differences %.9g",
                     (unsigned long long)seed, (long long)R, (long long)T, (long long)A, bad, worst,
                     an[worst], fd[worst]);
        free(x);
        free(fd);
        free(an);
        mb_done(&b);
    }
}

/* The plugin's own loss, differentiated numerically, agrees with its own
 * gradient (a check that value and gradient come from one function). */
static void test_gradient_of_plugin_loss(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        lpt_rng rng = lpt_rng_seed(1000 + seed);
        mb b;
        mb_init(&b, lpt_rng_int(&rng, 1, 3), lpt_rng_int(&rng, 1, 3), lpt_rng_int(&rng, 2, 6));
        fill_random(&b, &rng, (int)(seed % 2));
        mb_start(&b);
        lpt_own_grad og;
        const size_t bad = lpt_check_own_gradient(b.in, b.z, b.g, (size_t)(b.M * b.A), 1e-2,
                                                  1e-3 / (double)b.M, 1e-3, &og);
        assert_int_equal(og.rc, LP_OK);
        if (bad != 0)
            fail_msg("seed %llu: [%zu] analytic %.9g, plugin finite differences %.9g",
                     (unsigned long long)seed, og.worst, og.analytic, og.numeric);
        mb_done(&b);
    }
}

/* ---- weight, coef, accumulation ------------------------------------------------- */

static void random_batch(mb *b, uint64_t seed, int64_t R, int64_t T, int64_t A) {
    lpt_rng rng = lpt_rng_seed(seed);
    mb_init(b, R, T, A);
    fill_random(b, &rng, 1);
}

static void test_weight_scaling(void **state) {
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
    assert_true(norm > 1e-3); /* so that the scaling below means something */

    const float weights[] = {2.5f, 0.0f, -1.0f, 1e-3f};
    for (size_t w = 0; w < LP_COUNT_OF(weights); w++) {
        memset(b.g, 0, n * sizeof *b.g);
        assert_int_equal(lpt_train(b.in, weights[w], &r), LP_OK);
        assert_near(r.loss, r1.loss, 1e-12); /* the loss is reported unweighted */
        for (size_t k = 0; k < n; k++)
            assert_near(b.g[k], weights[w] * g1[k], 1e-6 * (fabs(g1[k]) + 1e-6));
    }
    mb_done(&b);
}

static void test_coef_read_at_call_time(void **state) {
    (void)state;
    mb b;
    random_batch(&b, 11, 2, 3, 4);
    mb_start(&b); /* created with the default coef 1 */
    const size_t n = (size_t)(b.M * b.A);
    float g1[24];
    lp_train_result r1, r;
    assert_int_equal(lpt_train(b.in, 1.0f, &r1), LP_OK);
    assert_true(r1.loss > 0.0);
    memcpy(g1, b.g, n * sizeof *g1);

    /* The host anneals the value in place, after create. */
    const double coefs[] = {0.25, 3.0, 0.0};
    for (size_t c = 0; c < LP_COUNT_OF(coefs); c++) {
        assert_int_equal(lpt_set_f(b.in, "coef", coefs[c]), 0);
        memset(b.g, 0, n * sizeof *b.g);
        assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
        assert_near(r.loss, coefs[c] * r1.loss, 1e-9 * (1.0 + r1.loss));
        for (size_t k = 0; k < n; k++)
            assert_near(b.g[k], coefs[c] * g1[k], 1e-6 * (fabs(g1[k]) + 1e-6));
    }
    mb_done(&b);
}

/* The gradient is added into the buffer (other losses' contributions stay),
 * and nothing else the host owns is written. */
static void test_accumulates_and_leaves_the_rest(void **state) {
    (void)state;
    mb b;
    hand_batch(&b);
    float values[2], vgrad[2] = {3.0f, -4.0f};
    assert_true(lpt_add_output(b.in, "values", LPT_VIEW(values, LP_DTYPE_F32, 1, 2),
                               LPT_VIEW(vgrad, LP_DTYPE_F32, 1, 2)) >= 0);
    values[0] = 0.5f;
    values[1] = -0.5f;
    for (int k = 0; k < 6; k++)
        b.g[k] = 7.0f;
    float z0[6];
    int32_t a0[2];
    memcpy(z0, b.z, sizeof z0);
    memcpy(a0, b.a, sizeof a0);

    assert_int_equal(lpt_train(b.in, 0.5f, NULL), LP_OK);
    for (int k = 0; k < 6; k++)
        assert_near(b.g[k], 7.0 + hand_grad[k], 1e-6);
    assert_near(vgrad[0], 3.0, 0.0);
    assert_near(vgrad[1], -4.0, 0.0);
    assert_near(values[0], 0.5, 0.0);
    assert_near(values[1], -0.5, 0.0);
    assert_memory_equal(z0, b.z, sizeof z0);
    assert_memory_equal(a0, b.a, sizeof a0);

    /* Twice: the sum of two contributions. */
    assert_int_equal(lpt_train(b.in, 0.5f, NULL), LP_OK);
    for (int k = 0; k < 6; k++)
        assert_near(b.g[k], 7.0 + 2.0 * hand_grad[k], 2e-6);
    mb_done(&b);
}

/* Fields may be strided views: actions interleaved with other data. */
static void test_strided_field(void **state) {
    (void)state;
    mb b;
    random_batch(&b, 5, 2, 3, 4);
    int32_t packed[2 * 3 * 2];
    for (int64_t i = 0; i < b.M; i++) {
        packed[2 * i] = b.a[i];
        packed[2 * i + 1] = 99; /* out of range: reading it would fail the call */
    }
    lp_tensor v = LPT_VIEW(packed, LP_DTYPE_I32, 2, 3);
    v.strides[0] = 6;
    v.strides[1] = 2;
    assert_true(lpt_add_field(b.in, "teacher_actions", v) >= 0);
    mb_start(&b);
    lp_train_result rs;
    assert_int_equal(lpt_train(b.in, 1.0f, &rs), LP_OK);

    double x[24];
    for (int k = 0; k < 24; k++)
        x[k] = b.z[k];
    ref r = {b.M, b.A, b.a, 1.0};
    assert_near(rs.loss, ref_loss(x, 24, &r), 1e-5);
    mb_done(&b);
}

/* ---- edge cases ------------------------------------------------------------------ */

static void test_extreme_logits(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 1, 4, 3);
    const float z[12] = {
        1e4f,  -1e4f, -1e4f, /* a* = 1, the least likely: -log p = 2e4 */
        1e4f,  -1e4f, -1e4f, /* a* = 0, certain: -log p = 0 */
        1e4f,  1e4f,  1e4f,  /* a tie at 1e4: p = 1/3 */
        -1e4f, -1e4f, 1e4f,  /* a* = 0 */
    };
    memcpy(b.z, z, sizeof z);
    const int32_t a[4] = {1, 0, 2, 0};
    memcpy(b.a, a, sizeof a);
    mb_start(&b);
    lp_train_result r;
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
    /* mean(2e4, 0, ln 3, 2e4) */
    assert_true(isfinite(r.loss));
    assert_near(r.loss, (4e4 + log(3.0)) / 4.0, 1e-3);
    assert_all_finite(b.g, 12);
    const double q = 0.25; /* coef / M */
    const double want[12] = {q, -q, 0.0, 0.0, 0.0, 0.0, q / 3, q / 3, q / 3 - q, -q, 0.0, q};
    for (int k = 0; k < 12; k++)
        assert_near(b.g[k], want[k], 1e-7);
    double acc, ent;
    assert_int_equal(lpt_stat(b.in, "accuracy", &acc, NULL), 1);
    assert_int_equal(lpt_stat(b.in, "entropy", &ent, NULL), 1);
    /* argmax (first of a tie) = 0, 0, 0, 2 against a* = 1, 0, 2, 0: only sample 1 agrees */
    assert_near(acc, 0.25, 1e-12);
    assert_near(ent, log(3.0) / 4.0, 1e-6);
    mb_done(&b);
}

static void test_one_action(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 2, 2, 1);
    const float z[4] = {1e4f, -1e4f, 0.0f, 3.5f};
    memcpy(b.z, z, sizeof z);
    mb_start(&b);
    lp_train_result r;
    assert_int_equal(lpt_train(b.in, 2.0f, &r), LP_OK);
    assert_near(r.loss, 0.0, 0.0);
    for (int k = 0; k < 4; k++)
        assert_near(b.g[k], 0.0, 0.0);
    double acc, ent;
    assert_int_equal(lpt_stat(b.in, "accuracy", &acc, NULL), 1);
    assert_int_equal(lpt_stat(b.in, "entropy", &ent, NULL), 1);
    assert_near(acc, 1.0, 0.0);
    assert_near(ent, 0.0, 0.0);

    /* Action 1 does not exist when there is one action. */
    b.a[3] = 1;
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_ERANGE);
    mb_done(&b);
}

/*
 * One sample: z = (1, 2, 4, -3), a* = 1, coef 1, weight 1, M = 1.
 *   logsumexp = 4 + ln(e^-3 + e^-2 + 1 + e^-7) = 4.0659100..., L = lse - 2
 *   grad = p - onehot(1)
 */
static void test_one_sample(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 1, 1, 4);
    const float z[4] = {1.0f, 2.0f, 4.0f, -3.0f};
    memcpy(b.z, z, sizeof z);
    b.a[0] = 1;
    mb_start(&b);
    lp_train_result r;
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
    const double s = exp(-3.0) + exp(-2.0) + 1.0 + exp(-7.0);
    assert_near(r.loss, 4.0 + log(s) - 2.0, 1e-6);
    const double p[4] = {exp(-3.0) / s, exp(-2.0) / s, 1.0 / s, exp(-7.0) / s};
    for (int k = 0; k < 4; k++)
        assert_near(b.g[k], p[k] - (k == 1), 1e-6);
    double pr[4];
    ref_softmax(b.z, 4, pr);
    assert_near(pr[2], p[2], 1e-12); /* the reference agrees with the comment */
    mb_done(&b);
}

/* An empty minibatch (a host could pass one) is not a division by zero. */
static void test_empty_minibatch(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 1, 1, 3);
    mb_start(&b);
    static float zz[1], gg[1];
    static int32_t aa[1];
    lpt_add_field(b.in, "teacher_actions", LPT_VIEW(aa, LP_DTYPE_I32, 0, 1));
    lpt_add_output(b.in, "logits", LPT_VIEW(zz, LP_DTYPE_F32, 0, 1, 3),
                   LPT_VIEW(gg, LP_DTYPE_F32, 0, 1, 3));
    lp_train_result r;
    r.loss = 5.0;
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
    assert_contains(msg, "teacher action 4");
    assert_contains(msg, "sample 5");
    assert_contains(msg, "row 1, step 2");
    assert_contains(msg, "[0, 4)");
    assert_contains(msg, "'bc'");
    for (int k = 0; k < 24; k++)
        assert_near(b.g[k], 0.5, 0.0); /* nothing written by a failing call */

    b.a[5] = 0;
    b.a[2] = -1;
    assert_int_equal(lpt_train(b.in, 1.0f, NULL), LP_ERANGE);
    assert_contains(lpt_last_error(b.in), "teacher action -1 at sample 2");
    assert_int_equal(lpt_error_count(b.in), 2);
    mb_done(&b);
}

static void test_missing_field_at_attach(void **state) {
    (void)state;
    float z[3], g[3];
    lpt_inst *in = lpt_inst_new(g_desc, "bc");
    assert_non_null(in);
    lpt_add_output(in, "logits", LPT_VIEW(z, LP_DTYPE_F32, 1, 1, 3),
                   LPT_VIEW(g, LP_DTYPE_F32, 1, 1, 3));
    assert_int_equal(lpt_create(in), LP_OK);
    assert_int_equal(lpt_attach(in), LP_ESPEC);
    assert_contains(lpt_last_error(in), "no field 'teacher_actions'");
    assert_contains(lpt_last_error(in), "'bc'");
    /* train after a failed attach is refused, not a crash */
    assert_int_equal(lpt_train(in, 1.0f, NULL), LP_EINVAL);
    assert_int_equal(lpt_violations(in), 0);
    lpt_inst_free(in);
}

static void test_missing_output_at_attach(void **state) {
    (void)state;
    int32_t a[1];
    lpt_inst *in = lpt_inst_new(g_desc, "bc");
    assert_non_null(in);
    lpt_add_field(in, "teacher_actions", LPT_VIEW(a, LP_DTYPE_I32, 1, 1));
    assert_int_equal(lpt_create(in), LP_OK);
    assert_int_equal(lpt_attach(in), LP_ESPEC);
    assert_contains(lpt_last_error(in), "no output 'logits'");
    assert_int_equal(lpt_violations(in), 0);
    lpt_inst_free(in);
}

static void test_wrong_dtype(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 1, 2, 3);
    float af[2] = {0, 1};
    lpt_add_field(b.in, "teacher_actions", LPT_VIEW(af, LP_DTYPE_F32, 1, 2));
    assert_int_equal(lpt_create(b.in), LP_OK);
    /* The host never passes a field of another dtype than the loss
     * declared (abi.h; tests/session/test_spec.c): the support refuses it. */
    assert_int_equal(lpt_attach(b.in), LPT_EFIXTURE);
    assert_contains(lpt_fixture_error(b.in), "'teacher_actions' is f32, the loss declared i32");

    /* Logits that are not [rows, horizon, ...] in a minibatch too. */
    lpt_add_field(b.in, "teacher_actions", LPT_VIEW(b.a, LP_DTYPE_I32, 1, 2));
    assert_int_equal(lpt_attach(b.in), LP_OK);
    lpt_add_output(b.in, "logits", LPT_VIEW(b.z, LP_DTYPE_F32, 1, 6),
                   LPT_VIEW(b.g, LP_DTYPE_F32, 1, 6));
    lpt_set_dims(b.in, 1, 2);
    assert_int_equal(lpt_train(b.in, 1.0f, NULL), LPT_EFIXTURE);
    assert_contains(lpt_fixture_error(b.in), "'logits'");
    mb_done(&b);
}

static void test_bad_coef(void **state) {
    (void)state;
    mb b;
    hand_batch(&b);
    assert_int_equal(lpt_set_f(b.in, "coef", NAN), 0);
    /* The host never passes a value outside the schema (abi.h;
     * tests/config/test_params.c): the support refuses it. */
    assert_int_equal(lpt_train(b.in, 1.0f, NULL), LPT_EFIXTURE);
    assert_contains(lpt_fixture_error(b.in), "'coef'");
    for (int k = 0; k < 6; k++)
        assert_near(b.g[k], 0.0, 0.0);
    mb_done(&b);
}

/* Handles are resolved once in attach; the mock host counts any look-up by
 * name elsewhere as a violation, which mb_done asserts is zero. This runs
 * several minibatches to make such a look-up visible. */
static void test_no_lookups_per_call(void **state) {
    (void)state;
    mb b;
    random_batch(&b, 9, 2, 2, 3);
    mb_start(&b);
    for (int k = 0; k < 5; k++)
        assert_int_equal(lpt_train(b.in, 1.0f, NULL), LP_OK);
    assert_int_equal(lpt_violations(b.in), 0);
    assert_int_equal(lpt_stat(b.in, "accuracy", NULL, NULL), 5);
    assert_int_equal(lpt_state_count(b.in), 0); /* nothing to checkpoint */
    mb_done(&b);
}

/* ---- masked actions against a float64 reference ----------------------------- */

typedef struct as_ref {
    const lpt_masked_case *c;
} as_ref;

/* -mean(log p_a*), float64, allowed actions. */
static double as_ref_loss(const double *x, size_t n, void *vctx) {
    (void)n;
    const as_ref *r = vctx;
    double nll = 0.0;
    for (int64_t i = 0; i < LPT_MC_M; i++)
        nll -= lpt_ref_logp(x + i * LPT_MC_A, lpt_mc_mask(r->c, i), LPT_MC_A, r->c->act[i]);
    return nll / LPT_MC_M;
}

static void test_masked_reference(void **state) {
    (void)state;
    for (int with_mask = 0; with_mask <= 1; with_mask++) {
        lpt_masked_case c;
        lpt_masked_case_make(&c, with_mask, 31 + (uint64_t)with_mask);
        float g[LPT_MC_N] = {0};
        double x[LPT_MC_N], num[LPT_MC_N];
        for (int64_t k = 0; k < LPT_MC_N; k++)
            x[k] = c.z[k];
        lpt_inst *in = lpt_inst_new(g_desc, "bc");
        assert_non_null(in);
        assert_true(lpt_add_field(in, "teacher_actions",
                                  LPT_VIEW(c.act, LP_DTYPE_I32, LPT_MC_R, LPT_MC_T)) >= 0);
        if (with_mask)
            assert_true(
                lpt_add_field(in, "action_mask",
                              LPT_VIEW(c.mask, LP_DTYPE_U8, LPT_MC_R, LPT_MC_T, LPT_MC_A)) >= 0);
        assert_add_logits(in, c.z, g, LPT_MC_R, LPT_MC_T, LPT_MC_A);
        assert_create_attach(in);
        lp_train_result res;
        assert_int_equal(lpt_train(in, 1.0f, &res), LP_OK);
        as_ref r = {&c};
        assert_near(res.loss, as_ref_loss(x, LPT_MC_N, &r), 1e-5);
        assert_near(stat_last(in, "entropy"), lpt_mc_mean_entropy(&c, x), 1e-5);
        int64_t worst = -1;
        if (lpt_mc_fd_check(&c, as_ref_loss, &r, x, 1e-5, g, num, 1e-5, &worst) != 0)
            fail_msg("mask %d: gradient entry %lld is %g, reference %g", with_mask,
                     (long long)worst, (double)g[worst], num[worst]);

        lpt_mc_mask_taken(&c, 5);
        memset(g, 0, sizeof g);
        assert_int_equal(lpt_train(in, 1.0f, &res), LP_ERANGE);
        assert_contains(lpt_last_error(in), "teacher action");
        assert_contains(lpt_last_error(in), "row 1, step 2 has probability 0");
        for (int64_t k = 0; k < LPT_MC_N; k++)
            assert_true(g[k] == 0.0f);
        assert_contract_kept(in);
        lpt_inst_free(in);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_hand_value_and_gradient),
        cmocka_unit_test(test_hand_stats),
        cmocka_unit_test(test_gradient_finite_differences),
        cmocka_unit_test(test_gradient_of_plugin_loss),
        cmocka_unit_test(test_weight_scaling),
        cmocka_unit_test(test_coef_read_at_call_time),
        cmocka_unit_test(test_accumulates_and_leaves_the_rest),
        cmocka_unit_test(test_strided_field),
        cmocka_unit_test(test_extreme_logits),
        cmocka_unit_test(test_one_action),
        cmocka_unit_test(test_one_sample),
        cmocka_unit_test(test_empty_minibatch),
        cmocka_unit_test(test_out_of_range_action),
        cmocka_unit_test(test_missing_field_at_attach),
        cmocka_unit_test(test_missing_output_at_attach),
        cmocka_unit_test(test_wrong_dtype),
        cmocka_unit_test(test_bad_coef),
        cmocka_unit_test(test_no_lookups_per_call),
        cmocka_unit_test(test_masked_reference),
    };
    return cmocka_run_group_tests_name("action_supervised", tests, group_setup, group_teardown);
}
