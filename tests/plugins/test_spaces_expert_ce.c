/*
 * expert_ce on the multi-discrete and box action spaces (ABI 1.1, expert
 * dataset version 2): the datasets are written here from
 * docs/losses/expert_ce.md ("Dataset format") alone; the fake model behind
 * "lossplug.model/1" returns per-sample outputs the test chooses. Loss,
 * stats and gradient against a float64 reference of the page's formulas
 * (tests/support/lpt_spaceref.h for log pi) within 1e-5 relative on random
 * cases; the plugin's own loss against central differences; version 2 with
 * a discrete action reads as version 1 does; the refusals (space mismatch,
 * a bad version 2 file, a masked expert component, a non-finite output)
 * write no gradient. The discrete path and version 1 files have their own
 * tests (test_expert_ce.c).
 */
#include <lpt_assert.h>
#include <lpt_bytes.h>
#include <lpt_spcase.h>

#include <lossplug/ext/model.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LP_TEST_TMP
#error "LP_TEST_TMP must name a writable directory"
#endif

LPT_PLUGIN_GROUP("expert_ce")

#define NE    3 /* streams */
#define NS    4 /* steps, = steps_per_batch: every call reads the whole file */
#define S     (NE * NS)
#define W_MAX 16
#define D     2 /* observation values */
#define PATH  LP_TEST_TMP "/spaces.lpx"

/* ---- version 2 files ------------------------------------------------------- */

/* actions[t][e][k] as 4-byte patterns (i32 or f32); *size gets the bytes. */
static unsigned char *v2_bytes(const lpt_sp *sp, const uint32_t *actions, size_t *size,
                               size_t *hsize) {
    const uint32_t K = (uint32_t)sp->dims;
    const uint32_t counts = sp->space == LP_ACTION_BOX ? 0 : K;
    const size_t hs = 64 + 8 + 4 * (size_t)counts, rs = 4 * D + 4 * (size_t)K + 4;
    *hsize = hs;
    *size = hs + (size_t)S * rs;
    unsigned char *b = calloc(*size, 1);
    assert_non_null(b);
    memcpy(b, "LPEXPERT", 8);
    lpt_put_le32(b + 8, 2);
    lpt_put_le32(b + 12, (uint32_t)hs);
    lpt_put_le32(b + 16, (uint32_t)rs);
    lpt_put_le32(b + 20, D);
    lpt_put_le32(b + 24, K);
    lpt_put_le32(b + 28, NE);
    lpt_put_le64(b + 32, NS);
    lpt_put_le64(b + 40, S);
    lpt_put_le64(b + 48, 11);
    lpt_put_le32(b + 64, (uint32_t)sp->space);
    for (uint32_t k = 0; k < counts; k++)
        lpt_put_le32(b + 72 + 4 * k, (uint32_t)sp->nvec[k]);
    for (size_t r = 0; r < S; r++) {
        unsigned char *p = b + hs + r * rs;
        for (int k = 0; k < D; k++) {
            const float x = (float)(10 * r + k);
            uint32_t bits;
            memcpy(&bits, &x, 4);
            lpt_put_le32(p + 4 * k, bits);
        }
        for (uint32_t k = 0; k < K; k++)
            lpt_put_le32(p + 4 * D + 4 * k, actions[r * K + k]);
        p[4 * D + 4 * K] = r < NE; /* every stream starts at step 0 */
    }
    return b;
}

static void seal(unsigned char *b, size_t size, size_t hs) {
    lpt_put_le32(b + 56, lpt_crc32_update(0, b + hs, size - hs));
    lpt_put_le32(b + 60, lpt_crc32_update(lpt_crc32_update(0, b, 60), b + 64, hs - 64));
}

static void put_file(const unsigned char *b, size_t n) {
    FILE *f = fopen(PATH, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* ---- the fake model: outputs[i] = out[i] (i = row * NS + step) ------------- */

static struct fake {
    int64_t W;
    int32_t obs_handle;
    float out[S * W_MAX], grad[S * W_MAX];
    lp_tensor out_view, grad_view;
} fake;

static int64_t fk_memory_size(const lp_host *h) {
    (void)h;
    return 0;
}

static int32_t fk_forward(const lp_host *h, const lp_batch *b, const uint8_t *starts, float *memory,
                          lp_model_pass *out) {
    (void)h;
    (void)starts;
    (void)memory;
    assert_int_equal(b->rows, NE);
    assert_int_equal(b->horizon, NS);
    /* the dataset's observations reach the model: x_0 = 10 * record */
    const lp_tensor *x = &b->fields[fake.obs_handle];
    for (int64_t r = 0; r < NE; r++)
        for (int64_t t = 0; t < NS; t++)
            assert_true(((const float *)x->data)[(r * NS + t) * D] == (float)(10 * (t * NE + r)));
    memset(fake.grad, 0, sizeof fake.grad);
    const int64_t shape[3] = {NE, NS, fake.W};
    fake.out_view = lp_tensor_make(fake.out, LP_DTYPE_F32, 3, shape);
    fake.grad_view = lp_tensor_make(fake.grad, LP_DTYPE_F32, 3, shape);
    out->output_count = 1;
    out->outputs = &fake.out_view;
    out->grads = &fake.grad_view;
    return LP_OK;
}

static const lp_model_ext fake_ext = {
    .struct_size = sizeof(lp_model_ext),
    .memory_size = fk_memory_size,
    .forward = fk_forward,
};

/* ---- a case: random outputs and expert actions on a space ------------------ */

typedef struct sp_case {
    lpt_sp sp;
    int64_t nvec[LPT_SP_MAX];
    float low[LPT_SP_MAX], high[LPT_SP_MAX];
    double zd[S * W_MAX];          /* outputs, sample order i = row * NS + step */
    double ad[S * LPT_SP_MAX];     /* the expert's actions, sample order */
    uint32_t file[S * LPT_SP_MAX]; /* the same, record order (step-major) */
    float obs[2 * D], z0[2 * W_MAX], g0[2 * W_MAX];
    double coef;
    lpt_inst *in;
} sp_case;

static sp_case g_c;

static void case_fill(sp_case *c, const lpt_sp *sp, uint64_t seed) {
    memset(c, 0, sizeof *c);
    c->sp = *sp;
    c->coef = 0.7;
    lpt_rng r = lpt_rng_seed(seed);
    for (int i = 0; i < S; i++) {
        lpt_sp_random(sp, &r, c->zd + i * sp->width, c->ad + i * sp->dims);
        for (int64_t j = 0; j < sp->width; j++) {
            const float z = (float)c->zd[i * sp->width + j];
            c->zd[i * sp->width + j] = z;
            fake.out[i * sp->width + j] = z;
        }
        const int row = i / NS, step = i % NS, rec = step * NE + row;
        for (int32_t k = 0; k < sp->dims; k++) {
            uint32_t bits;
            if (sp->space == LP_ACTION_BOX) {
                const float a = (float)c->ad[i * sp->dims + k];
                c->ad[i * sp->dims + k] = a;
                memcpy(&bits, &a, 4);
            } else {
                bits = (uint32_t)(int32_t)c->ad[i * sp->dims + k];
            }
            c->file[rec * sp->dims + k] = bits;
        }
    }
    fake.W = sp->width;
}

/* An instance on the file written from c (create and attach not called). */
static lpt_inst *case_inst(sp_case *c, const lpt_sp *env_sp) {
    lpt_inst *in = lpt_inst_new(g_desc, "expert");
    assert_non_null(in);
    lpt_sp_env(env_sp, lpt_env(in), c->nvec, c->low, c->high);
    assert_int_equal(lpt_set_s(in, "dataset", PATH), 0);
    assert_int_equal(lpt_set_i(in, "steps_per_batch", NS), 0);
    assert_int_equal(lpt_set_f(in, "coef", c->coef), 0);
    fake.obs_handle = lpt_add_field(in, "obs", LPT_VIEW(c->obs, LP_DTYPE_F32, 2, 1, D));
    assert_true(fake.obs_handle >= 0);
    assert_int_equal(lpt_add_output(in, "logits",
                                    LPT_VIEW(c->z0, LP_DTYPE_F32, 2, 1, env_sp->width),
                                    LPT_VIEW(c->g0, LP_DTYPE_F32, 2, 1, env_sp->width)),
                     0);
    assert_int_equal(lpt_add_extension(in, LP_EXT_MODEL, &fake_ext), 0);
    return in;
}

static void case_make(sp_case *c, const lpt_sp *sp, uint64_t seed) {
    case_fill(c, sp, seed);
    size_t n, hs;
    unsigned char *b = v2_bytes(sp, c->file, &n, &hs);
    seal(b, n, hs);
    put_file(b, n);
    free(b);
    c->in = case_inst(c, sp);
    assert_create_attach(c->in);
}

static void case_free(sp_case *c) {
    assert_int_equal(lpt_violations(c->in), 0);
    lpt_inst_free(c->in);
    c->in = NULL;
}

/* L = -coef * mean_i log pi(a*_i) in f64, as a function of the outputs. */
static double ref_loss(const double *x, size_t n, void *vctx) {
    (void)n;
    const sp_case *c = vctx;
    const lpt_sp *sp = &c->sp;
    double s = 0.0;
    for (int i = 0; i < S; i++)
        s -= lpt_sp_logp(sp, x + i * sp->width, NULL, c->ad + i * sp->dims);
    return c->coef * s / S;
}

/* The plugin's loss with the outputs set to x (every call reads the whole
 * file: steps_per_batch is its length). */
static double plugin_loss(const double *x, size_t n, void *vctx) {
    sp_case *c = vctx;
    for (size_t j = 0; j < n; j++)
        fake.out[j] = (float)x[j];
    lp_train_result res;
    assert_int_equal(lpt_train(c->in, 1.0f, &res), LP_OK);
    return res.loss;
}

static void check_space(const lpt_sp *sp, uint64_t seed) {
    for (int rep = 0; rep < 4; rep++) {
        sp_case *c = &g_c;
        case_make(c, sp, seed + (uint64_t)rep);
        const float weight = 1.5f;
        lp_train_result res;
        assert_int_equal(lpt_train(c->in, weight, &res), LP_OK);
        const double want = ref_loss(c->zd, 0, c);
        lpt_sp_expect_near("loss", res.loss, want, rep);
        double ce = 0.0;
        assert_int_equal(lpt_stat(c->in, "cross_entropy", &ce, NULL), 1);
        lpt_sp_expect_near("cross_entropy", ce, want / c->coef, rep);
        double acc = -1.0;
        const int has_acc = lpt_stat(c->in, "accuracy", &acc, NULL);
        if (sp->space == LP_ACTION_MULTI_DISCRETE) {
            int32_t ai[S * LPT_SP_MAX];
            for (int j = 0; j < S * sp->dims; j++)
                ai[j] = (int32_t)c->ad[j];
            assert_int_equal(has_acc, 1);
            assert_true(fabs(acc - (double)lpt_sp_exact_matches(sp, c->zd, NULL, ai, S) / S) <
                        1e-12);
        } else {
            assert_int_equal(has_acc, 0); /* a box has no exact match */
        }
        /* weight * dL/dz against central differences of the f64 reference,
         * then the plugin's own loss against its gradient */
        const size_t n = (size_t)S * (size_t)sp->width;
        double num[S * W_MAX], ana[S * W_MAX], x[S * W_MAX];
        memcpy(x, c->zd, n * sizeof *x);
        lpt_sp_expect_grad("logits", ref_loss, c, x, fake.grad, n, 1.0 / weight, NULL, rep);
        for (size_t j = 0; j < n; j++)
            ana[j] = (double)fake.grad[j] / weight;
        size_t worst;
        double max_abs;
        lpt_fd_grad(plugin_loss, c, x, n, 1e-2, num);
        if (lpt_grad_compare(ana, num, n, 2e-4, 2e-3, &worst, &max_abs) != 0)
            fail_msg("plugin FD %zu: %.9g vs %.9g (rep %d)", worst, ana[worst], num[worst], rep);
        case_free(c);
    }
}

static void test_multi_discrete(void **state) {
    (void)state;
    const int64_t nvec[3] = {5, 2, 3};
    const lpt_sp sp = lpt_sp_md(3, nvec);
    check_space(&sp, 100);
    const int64_t one[1] = {4};
    const lpt_sp sp1 = lpt_sp_md(1, one);
    check_space(&sp1, 200);
}

static void test_box(void **state) {
    (void)state;
    const lpt_sp sp = lpt_sp_box(3);
    check_space(&sp, 300);
    const lpt_sp sp1 = lpt_sp_box(1);
    check_space(&sp1, 400);
}

/* Version 2 with a discrete action: the same numbers as the categorical
 * reference (the discrete path of the plugin). */
static void test_v2_discrete(void **state) {
    (void)state;
    const lpt_sp sp = lpt_sp_discrete(4);
    sp_case *c = &g_c;
    case_make(c, &sp, 500);
    lp_train_result res;
    assert_int_equal(lpt_train(c->in, 1.0f, &res), LP_OK);
    const double want = ref_loss(c->zd, 0, c);
    assert_true(fabs(res.loss - want) <= 1e-5 * fmax(1.0, fabs(want)));
    case_free(c);
}

/* The dataset's space must be the environment's. */
static void test_space_mismatch(void **state) {
    (void)state;
    const int64_t nvec[2] = {3, 2}, other[2] = {3, 3};
    const lpt_sp md = lpt_sp_md(2, nvec), md2 = lpt_sp_md(2, other), box = lpt_sp_box(2);
    const lpt_sp disc = lpt_sp_discrete(5);
    const struct {
        const lpt_sp *file, *env;
        const char *msg;
    } cases[] = {
        {&md, &md2,
         "has a multi-discrete action [3, 2], the environment a multi-discrete "
         "action [3, 3]"},
        {&md, &box, "the environment a box action of 2 dimensions"},
        {&box, &md, "has a box action of 2 dimensions, the environment a multi-discrete"},
        {&disc, &md, "has a discrete action of 5 choices"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        sp_case *c = &g_c;
        case_fill(c, cases[k].file, 600 + k);
        size_t n, hs;
        unsigned char *b = v2_bytes(cases[k].file, c->file, &n, &hs);
        seal(b, n, hs);
        put_file(b, n);
        free(b);
        lpt_inst *in = case_inst(c, cases[k].env);
        assert_int_equal(lpt_create(in), LP_ESPEC);
        assert_contains(lpt_last_error(in), cases[k].msg);
        assert_int_equal(lpt_violations(in), 0);
        lpt_inst_free(in);
    }
}

/* create on the bytes fails with LP_ECORRUPT and `what`. */
static void expect_bad(sp_case *c, const lpt_sp *sp, const unsigned char *b, size_t n,
                       const char *what) {
    put_file(b, n);
    lpt_inst *in = case_inst(c, sp);
    assert_int_equal(lpt_create(in), LP_ECORRUPT);
    assert_contains(lpt_last_error(in), what);
    lpt_inst_free(in);
}

static void test_bad_v2_files(void **state) {
    (void)state;
    const int64_t nvec[2] = {3, 2};
    const lpt_sp md = lpt_sp_md(2, nvec), box = lpt_sp_box(2);
    sp_case *c = &g_c;
    case_fill(c, &md, 700);
    size_t n, hs;
    unsigned char *good = v2_bytes(&md, c->file, &n, &hs), *b = malloc(n);
    assert_non_null(b);
    seal(good, n, hs);
    const size_t rs = 4 * D + 8 + 4, rec1 = hs + rs; /* record 1 */
    memcpy(b, good, n);
    b[73] ^= 1; /* a count inside the descriptor, header CRC not updated */
    expect_bad(c, &md, b, n, "header's CRC-32 does not match");
    memcpy(b, good, n);
    lpt_put_le32(b + 64, 7); /* no such space */
    seal(b, n, hs);
    expect_bad(c, &md, b, n, "action space 7");
    memcpy(b, good, n);
    lpt_put_le32(b + 68, 1); /* reserved */
    seal(b, n, hs);
    expect_bad(c, &md, b, n, "zero reserved");
    memcpy(b, good, n);
    lpt_put_le32(b + 76, 0); /* a component with no choice */
    seal(b, n, hs);
    expect_bad(c, &md, b, n, "component 1 of the action has 0 choices");
    memcpy(b, good, n);
    lpt_put_le32(b + 12, 70);
    seal(b, n, hs);
    expect_bad(c, &md, b, n, "header_size 70");
    memcpy(b, good, n);
    lpt_put_le32(b + rec1 + 4 * D + 4, 2); /* component 1 of record 1: 2 of [0, 2) */
    seal(b, n, hs);
    expect_bad(c, &md, b, n, "action 2 (component 1): expected an action in [0, 2)");
    expect_bad(c, &md, good, n - 3, "truncated");
    free(b);
    free(good);

    case_fill(c, &box, 701);
    good = v2_bytes(&box, c->file, &n, &hs);
    seal(good, n, hs);
    assert_int_equal(hs, 72);
    b = malloc(n);
    assert_non_null(b);
    memcpy(b, good, n);
    lpt_put_le32(b + hs + 4 * D + 4, 0x7FC00000u); /* NaN in record 0, component 1 */
    seal(b, n, hs);
    expect_bad(c, &box, b, n, "action component 1 is nan; expected a finite value");
    free(b);
    free(good);
}

/* A masked expert component or a non-finite output: an error, nothing
 * written, the cursor where it was. */
static void test_refusals_write_nothing(void **state) {
    (void)state;
    const int64_t nvec[2] = {3, 4};
    const lpt_sp md = lpt_sp_md(2, nvec), box = lpt_sp_box(2);
    sp_case *c = &g_c;
    for (int which = 0; which < 3; which++) {
        const lpt_sp *sp = which < 2 ? &md : &box;
        case_make(c, sp, 800 + (uint64_t)which);
        const int i = S - 1; /* the last sample: everything before it passed */
        if (which == 0) {
            const int32_t a1 = (int32_t)c->ad[i * 2 + 1];
            fake.out[i * sp->width + 3 + a1] = -INFINITY;
        } else if (which == 1) {
            fake.out[i * sp->width + 1] = NAN;
        } else {
            fake.out[i * sp->width + 3] = INFINITY; /* a log_std */
        }
        lp_train_result res;
        /* fk_forward zeroes the gradient; poison it after by a value the
         * loss would not write: the check is that nothing changed */
        assert_int_equal(lpt_train(c->in, 1.0f, &res), which == 0 ? LP_ERANGE : LP_ENUMERIC);
        for (int j = 0; j < S * sp->width; j++)
            assert_true(fake.grad[j] == 0.0f);
        assert_contains(lpt_last_error(c->in),
                        which == 0 ? "expert action component 1" : "the model's output 'logits'");
        assert_contains(lpt_last_error(c->in), "row 2, step 3");
        const lp_tensor *cur = lpt_state(c->in, "cursor");
        assert_non_null(cur);
        assert_int_equal(((const int64_t *)cur->data)[0], 0);
        case_free(c);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multi_discrete), cmocka_unit_test(test_box),
        cmocka_unit_test(test_v2_discrete),    cmocka_unit_test(test_space_mismatch),
        cmocka_unit_test(test_bad_v2_files),   cmocka_unit_test(test_refusals_write_nothing),
    };
    return cmocka_run_group_tests_name("spaces_expert_ce", tests, group_setup, group_teardown);
}
