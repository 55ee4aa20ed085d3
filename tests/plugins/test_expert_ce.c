/*
 * Unit tests of plugins/expert_ce, through its built .so and the mock host of
 * tests/support (lpt.h), which offers a fake "lossplug.model/1": a small
 * model whose outputs and memory are known in closed form.
 *
 *   L = -coef * mean_i log softmax(z_i)[a*_i]  over the plugin's own batch
 *   dL/dz_ij = (coef / M) (p_ij - 1[j = a*_i]),  scaled by the weight,
 *   added into the extension's gradient views.
 *
 * The datasets are written here from docs/losses/expert_ce.md alone.
 */
#include <lpt_assert.h>
#include <lpt_bytes.h>
#include <lpt_catref.h>

#include <lossplug/ext/model.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LP_TEST_TMP
#error "LP_TEST_TMP must name a writable directory"
#endif

LPT_PLUGIN_GROUP("expert_ce")

/* ---- datasets, written from the format's page ---------------------------- */

/* A dataset in memory: [N][M] records. */
typedef struct ds {
    uint32_t M, D, A;
    uint64_t N;
    float *obs;     /* [N][M][D] */
    int32_t *act;   /* [N][M] */
    uint8_t *start; /* [N][M] */
} ds;

/* obs[t][e][k] = 100 t + 10 e + k (so the model sees which record it got),
 * actions from a seed, starts at every env's first step and every `every`
 * steps of env e after e (0: never). */
static ds ds_make(uint32_t M, uint64_t N, uint32_t D, uint32_t A, uint64_t seed, uint64_t every) {
    ds d = {M, D, A, N, NULL, NULL, NULL};
    d.obs = calloc(N * M * D, sizeof *d.obs);
    d.act = calloc(N * M, sizeof *d.act);
    d.start = calloc(N * M, 1);
    assert_true(d.obs && d.act && d.start);
    lpt_rng rng = lpt_rng_seed(seed);
    for (uint64_t t = 0; t < N; t++)
        for (uint32_t e = 0; e < M; e++) {
            for (uint32_t k = 0; k < D; k++)
                d.obs[(t * M + e) * D + k] = (float)(100 * t + 10 * e + k);
            d.act[t * M + e] = (int32_t)lpt_rng_int(&rng, 0, A - 1);
            d.start[t * M + e] = t == 0 || (every > 0 && t > e && (t - e) % every == 0);
        }
    return d;
}

static void ds_free(ds *d) {
    free(d->obs);
    free(d->act);
    free(d->start);
}

/* The file's bytes; *size gets their count. */
static unsigned char *ds_bytes(const ds *d, size_t *size) {
    const uint32_t rs = 4 * d->D + 8;
    const uint64_t count = d->N * d->M;
    *size = 64 + (size_t)count * rs;
    unsigned char *b = calloc(*size, 1);
    assert_non_null(b);
    for (uint64_t r = 0; r < count; r++) {
        unsigned char *p = b + 64 + r * rs;
        for (uint32_t k = 0; k < d->D; k++) {
            uint32_t bits;
            memcpy(&bits, &d->obs[r * d->D + k], 4);
            lpt_put_le32(p + 4 * k, bits);
        }
        lpt_put_le32(p + 4 * d->D, (uint32_t)d->act[r]);
        p[4 * d->D + 4] = d->start[r];
    }
    memcpy(b, "LPEXPERT", 8);
    lpt_put_le32(b + 8, 1);
    lpt_put_le32(b + 12, 64);
    lpt_put_le32(b + 16, rs);
    lpt_put_le32(b + 20, d->D);
    lpt_put_le32(b + 24, d->A);
    lpt_put_le32(b + 28, d->M);
    lpt_put_le64(b + 32, d->N);
    lpt_put_le64(b + 40, count);
    lpt_put_le64(b + 48, 7);
    lpt_put_le32(b + 56, lpt_crc32(b + 64, *size - 64));
    lpt_put_le32(b + 60, lpt_crc32(b, 60));
    return b;
}

/* Recompute both CRCs after a deliberate edit of a field. */
static void reseal(unsigned char *b, size_t size) {
    lpt_put_le32(b + 56, lpt_crc32(b + 64, size - 64));
    lpt_put_le32(b + 60, lpt_crc32(b, 60));
}

static void put_file(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void ds_write(const ds *d, const char *path) {
    size_t n;
    unsigned char *b = ds_bytes(d, &n);
    put_file(path, b, n);
    free(b);
}

/* ---- the fake model behind "lossplug.model/1" ------------------------------- */
/*
 * Per row, memory m (fake.mem floats), reset where a step starts an
 * episode, then m_k += (k + 1) * x_0 at every step; logits
 *   z_j = sum_d W[j][d] x_d + bias[j] + offset[i][j] + U[j] m_0
 * with `offset` a per-sample table the tests perturb.
 */
#define FK_MAX 4096
static struct fake {
    int64_t mem, A, D;
    int32_t obs_handle;
    int in_train; /* set by the test around lpt_train */
    int fail_next;
    double W[8][8], bias[8], U[8];
    double offset[FK_MAX];
    float out[FK_MAX], grad[FK_MAX];
    lp_tensor out_view, grad_view;
    int calls;
    /* what the last forward saw */
    int64_t rows, horizon;
    float obs0[FK_MAX];     /* x_0 per sample */
    uint8_t starts[FK_MAX]; /* per sample */
    float mem_in[FK_MAX];   /* [rows, mem] */
    float mem_out[FK_MAX];
} fake;

static int64_t fk_memory_size(const lp_host *h) {
    (void)h;
    return fake.mem;
}

static int32_t fk_forward(const lp_host *h, const lp_batch *b, const uint8_t *starts, float *memory,
                          lp_model_pass *out) {
    if (!fake.in_train || fake.fail_next) {
        fake.fail_next = 0;
        h->error(h, "fake model: refused");
        return LP_ESTATE;
    }
    assert_non_null(b);
    assert_true(b->struct_size >= sizeof(lp_batch));
    assert_true((uint32_t)fake.obs_handle < b->field_count);
    const lp_tensor *x = &b->fields[fake.obs_handle];
    const int64_t R = b->rows, H = b->horizon, D = fake.D, A = fake.A;
    assert_int_equal(x->dtype, LP_DTYPE_F32);
    assert_int_equal(x->rank, 3);
    assert_int_equal(x->shape[0], R);
    assert_int_equal(x->shape[1], H);
    assert_int_equal(x->shape[2], D);
    assert_true(R * H * A <= FK_MAX && R * fake.mem <= FK_MAX);
    assert_non_null(out);
    assert_true(out->struct_size >= sizeof(lp_model_pass));
    if (fake.mem > 0)
        assert_non_null(memory);
    fake.calls++;
    fake.rows = R;
    fake.horizon = H;
    if (fake.mem > 0)
        memcpy(fake.mem_in, memory, (size_t)(R * fake.mem) * sizeof(float));
    const float *xd = x->data;
    for (int64_t r = 0; r < R; r++) {
        for (int64_t t = 0; t < H; t++) {
            const int64_t i = r * H + t;
            const float *xi = xd + r * x->strides[0] + t * x->strides[1];
            fake.obs0[i] = xi[0];
            fake.starts[i] = starts != NULL ? starts[i] : 0;
            float *m = fake.mem > 0 ? memory + r * fake.mem : NULL;
            if (m != NULL && fake.starts[i])
                memset(m, 0, (size_t)fake.mem * sizeof(float));
            for (int64_t k = 0; m != NULL && k < fake.mem; k++)
                m[k] += (float)(k + 1) * xi[0];
            for (int64_t j = 0; j < A; j++) {
                double z = fake.bias[j] + fake.offset[i * A + j];
                for (int64_t d = 0; d < D; d++)
                    z += fake.W[j][d] * xi[d * x->strides[2]];
                if (m != NULL)
                    z += fake.U[j] * m[0];
                fake.out[i * A + j] = (float)z;
            }
        }
    }
    if (fake.mem > 0)
        memcpy(fake.mem_out, memory, (size_t)(R * fake.mem) * sizeof(float));
    memset(fake.grad, 0, sizeof fake.grad);
    const int64_t shape[3] = {R, H, A};
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

static void fake_reset(int64_t mem, int64_t D, int64_t A, uint64_t seed) {
    memset(&fake, 0, sizeof fake);
    fake.mem = mem;
    fake.D = D;
    fake.A = A;
    lpt_rng rng = lpt_rng_seed(seed);
    for (int j = 0; j < 8; j++) {
        for (int d = 0; d < 8; d++)
            fake.W[j][d] = 0.01 * lpt_rng_normal(&rng);
        fake.bias[j] = lpt_rng_normal(&rng);
        fake.U[j] = 0.001 * lpt_rng_normal(&rng);
    }
}

/* ---- an instance over a dataset ------------------------------------------------ */

typedef struct fx {
    lpt_inst *in;
    float *obs_field; /* the buffer's observation field, [2, 1, D]: only its shape matters */
    float *z, *g;     /* the minibatch's logits (unused by the loss) */
} fx;

#define DS_PATH(name) LP_TEST_TMP "/" name

/* An instance reading `path` (set as the `dataset` param), with the fake
 * model's extension, an "obs" field of D floats and a "logits" output of A.
 * create is not called. */
static fx fx_new(const char *path, int64_t D, int64_t A, int64_t steps, int with_ext) {
    fx f;
    memset(&f, 0, sizeof f);
    f.in = lpt_inst_new(g_desc, "expert");
    assert_non_null(f.in);
    f.obs_field = calloc((size_t)(2 * D), sizeof(float));
    f.z = calloc((size_t)(2 * A), sizeof(float));
    f.g = calloc((size_t)(2 * A), sizeof(float));
    assert_true(f.obs_field && f.z && f.g);
    lpt_env(f.in)->num_actions = A;
    assert_int_equal(lpt_set_s(f.in, "dataset", path), 0);
    assert_int_equal(lpt_set_i(f.in, "steps_per_batch", steps), 0);
    fake.obs_handle = lpt_add_field(f.in, "obs", LPT_VIEW(f.obs_field, LP_DTYPE_F32, 2, 1, D));
    assert_true(fake.obs_handle >= 0);
    assert_int_equal(lpt_add_output(f.in, "logits", LPT_VIEW(f.z, LP_DTYPE_F32, 2, 1, A),
                                    LPT_VIEW(f.g, LP_DTYPE_F32, 2, 1, A)),
                     0);
    if (with_ext)
        assert_int_equal(lpt_add_extension(f.in, LP_EXT_MODEL, &fake_ext), 0);
    return f;
}

static void fx_free(fx *f) {
    assert_int_equal(lpt_violations(f->in), 0);
    lpt_inst_free(f->in);
    free(f->obs_field);
    free(f->z);
    free(f->g);
}

static int32_t train(fx *f, float weight, lp_train_result *res) {
    fake.in_train = 1;
    int32_t rc = lpt_train(f->in, weight, res);
    fake.in_train = 0;
    return rc;
}

static int64_t cursor_of(fx *f) {
    const lp_tensor *t = lpt_state(f->in, "cursor");
    assert_non_null(t);
    return ((const int64_t *)t->data)[0];
}

/* ---- the schema ------------------------------------------------------------------ */

static void test_describe(void **state) {
    (void)state;
    assert_string_equal(g_desc->id, "expert_ce");
    assert_int_equal(g_desc->param_count, 4);
    int32_t i = lp_param_index(g_desc, "dataset");
    assert_int_equal(i, 0);
    assert_true(g_desc->params[i].flags & LP_PARAM_REQUIRED);
    assert_int_equal(g_desc->params[i].type, LP_PARAM_STRING);
    i = lp_param_index(g_desc, "coef");
    assert_near(g_desc->params[i].default_float, 1.0, 0);
    i = lp_param_index(g_desc, "steps_per_batch");
    assert_int_equal(g_desc->params[i].default_int, 8);
    i = lp_param_index(g_desc, "obs_field");
    assert_string_equal(g_desc->params[i].default_string, "obs");
    assert_string_equal(g_desc->outputs[0], "logits");
    assert_null(g_desc->outputs[1]);
    assert_int_equal(g_desc->field_count, 0);
}

/* ---- value and gradient ---------------------------------------------------------- */

/* One stream, two steps, two actions; the model's logits are its bias
 * (W = 0), so the value is a closed form. */
static void test_value_by_hand(void **state) {
    (void)state;
    ds d = ds_make(1, 2, 1, 2, 1, 0);
    d.act[0] = 0;
    d.act[1] = 1;
    ds_write(&d, DS_PATH("hand.lpx"));
    fake_reset(0, 1, 2, 1);
    memset(fake.W, 0, sizeof fake.W);
    fake.bias[0] = 1.0;
    fake.bias[1] = -1.0;
    fx f = fx_new(DS_PATH("hand.lpx"), 1, 2, 2, 1);
    assert_int_equal(lpt_set_f(f.in, "coef", 0.5), 0);
    assert_create_attach(f.in);
    lp_train_result res;
    assert_int_equal(train(&f, 2.0f, &res), LP_OK);
    /* log p0 = -log(1 + e^-2), log p1 = -2 - log(1 + e^-2) */
    const double l1 = log1p(exp(-2.0));
    const double ce = 0.5 * (l1 + (2.0 + l1));
    assert_near(res.loss, 0.5 * ce, 1e-6);
    double v;
    assert_int_equal(lpt_stat(f.in, "cross_entropy", &v, NULL), 1);
    assert_near(v, ce, 1e-6);
    assert_int_equal(lpt_stat(f.in, "accuracy", &v, NULL), 1);
    assert_near(v, 0.5, 0); /* argmax is action 0 at both steps */
    /* gradient: weight * coef / M * (p - onehot), M = 2 */
    const double p0 = 1.0 / (1.0 + exp(-2.0));
    const double c = 2.0 * 0.5 / 2.0;
    assert_near(fake.grad[0], c * (p0 - 1.0), 1e-6);
    assert_near(fake.grad[1], c * (1.0 - p0), 1e-6);
    assert_near(fake.grad[2], c * p0, 1e-6);
    assert_near(fake.grad[3], c * (1.0 - p0 - 1.0), 1e-6);
    /* the minibatch's own gradient is not touched */
    for (int k = 0; k < 4; k++)
        assert_true(f.g[k] == 0.0f);
    fx_free(&f);
    ds_free(&d);
}

typedef struct fd_ctx {
    fx *f;
    size_t n;
} fd_ctx;

/* The loss as a function of the per-sample logit offsets. N == steps, so
 * every call reads the same batch (the cursor wraps to 0). */
static double loss_of_offsets(const double *x, size_t n, void *vctx) {
    fd_ctx *c = vctx;
    memcpy(fake.offset, x, n * sizeof *x);
    lp_train_result res;
    assert_int_equal(train(c->f, 1.0f, &res), LP_OK);
    return res.loss;
}

static void test_gradient_fd(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 12; seed++) {
        lpt_rng rng = lpt_rng_seed(seed * 7919);
        const uint32_t M = (uint32_t)lpt_rng_int(&rng, 1, 4);
        const uint32_t A = (uint32_t)lpt_rng_int(&rng, 1, 5);
        const uint32_t D = (uint32_t)lpt_rng_int(&rng, 1, 3);
        const int64_t H = lpt_rng_int(&rng, 1, 4);
        ds d = ds_make(M, (uint64_t)H, D, A, seed, 2);
        ds_write(&d, DS_PATH("fd.lpx"));
        fake_reset(0, D, A, seed);
        const double coef = lpt_rng_uniform(&rng, 0.1, 3.0);
        const float weight = (float)lpt_rng_uniform(&rng, 0.2, 2.0);
        const size_t n = (size_t)(M * (uint64_t)H * A);
        double *x = calloc(n, sizeof *x), *num = calloc(n, sizeof *num),
               *ana = calloc(n, sizeof *ana);
        assert_true(x && num && ana);
        for (size_t i = 0; i < n; i++)
            x[i] = 3.0 * lpt_rng_normal(&rng);
        fx f = fx_new(DS_PATH("fd.lpx"), D, A, H, 1);
        assert_int_equal(lpt_set_f(f.in, "coef", coef), 0);
        assert_create_attach(f.in);
        memcpy(fake.offset, x, n * sizeof *x);
        lp_train_result res;
        assert_int_equal(train(&f, weight, &res), LP_OK);
        assert_int_equal(cursor_of(&f), 0);
        for (size_t i = 0; i < n; i++)
            ana[i] = (double)fake.grad[i] / (double)weight;
        fd_ctx c = {&f, n};
        lpt_fd_grad(loss_of_offsets, &c, x, n, 1e-2, num);
        size_t worst;
        double max_abs;
        size_t bad = lpt_grad_compare(ana, num, n, 2e-4 * coef, 2e-3, &worst, &max_abs);
        if (bad != 0)
            fail_msg("seed %llu: %zu gradient entries off (worst %zu: %g vs %g)",
                     (unsigned long long)seed, bad, worst, ana[worst], num[worst]);
        fx_free(&f);
        ds_free(&d);
        free(x);
        free(num);
        free(ana);
    }
}

/* Logits of +-1e4 and a single action: finite everywhere. */
static void test_extreme_logits(void **state) {
    (void)state;
    for (uint32_t A = 1; A <= 3; A += 2) {
        ds d = ds_make(2, 3, 1, A, 5, 0);
        ds_write(&d, DS_PATH("extreme.lpx"));
        fake_reset(0, 1, A, 5);
        for (int i = 0; i < 2 * 3 * (int)A; i++)
            fake.offset[i] = (i % 2 ? 1e4 : -1e4);
        fx f = fx_new(DS_PATH("extreme.lpx"), 1, A, 3, 1);
        assert_create_attach(f.in);
        lp_train_result res;
        assert_int_equal(train(&f, 1.0f, &res), LP_OK);
        assert_true(isfinite(res.loss));
        if (A == 1)
            assert_near(res.loss, 0.0, 0);
        for (int i = 0; i < 2 * 3 * (int)A; i++)
            assert_true(isfinite(fake.grad[i]));
        fx_free(&f);
        ds_free(&d);
    }
}

/* ---- the batches: streams, cursor, wrap -------------------------------------------- */

/* N = 5 steps, 2 per batch: steps {0,1}, {2,3}, {4,0}, {1,2}, ... */
static void test_cursor_wraps(void **state) {
    (void)state;
    ds d = ds_make(3, 5, 2, 3, 9, 0);
    ds_write(&d, DS_PATH("wrap.lpx"));
    fake_reset(0, 2, 3, 9);
    fx f = fx_new(DS_PATH("wrap.lpx"), 2, 3, 2, 1);
    assert_create_attach(f.in);
    int64_t step = 0;
    for (int call = 0; call < 7; call++) {
        assert_int_equal(cursor_of(&f), step);
        assert_int_equal(train(&f, 1.0f, NULL), LP_OK);
        assert_int_equal(fake.rows, 3);
        assert_int_equal(fake.horizon, 2);
        for (int64_t t = 0; t < 2; t++) {
            const int64_t s = (step + t) % 5;
            for (int64_t r = 0; r < 3; r++) {
                assert_near(fake.obs0[r * 2 + t], 100.0 * (double)s + 10.0 * (double)r, 0);
                assert_int_equal(fake.starts[r * 2 + t], s == 0);
            }
        }
        step = (step + 2) % 5;
    }
    assert_int_equal(fake.calls, 7);
    fx_free(&f);
    ds_free(&d);
}

/* A batch longer than the dataset wraps within itself. */
static void test_batch_longer_than_dataset(void **state) {
    (void)state;
    ds d = ds_make(1, 3, 1, 2, 4, 0);
    ds_write(&d, DS_PATH("short.lpx"));
    fake_reset(0, 1, 2, 4);
    fx f = fx_new(DS_PATH("short.lpx"), 1, 2, 7, 1);
    assert_create_attach(f.in);
    assert_int_equal(train(&f, 1.0f, NULL), LP_OK);
    for (int t = 0; t < 7; t++)
        assert_near(fake.obs0[t], 100.0 * (t % 3), 0);
    assert_int_equal(cursor_of(&f), 7 % 3);
    fx_free(&f);
    ds_free(&d);
}

/* Memory: the model resets it where the plugin's start flags say, and the
 * plugin hands the memory the model left to the next batch. */
static void test_memory_reset_and_carried(void **state) {
    (void)state;
    const uint32_t M = 3;
    const uint64_t N = 11;
    ds d = ds_make(M, N, 2, 2, 3, 4); /* env e starts again at steps e + 4k */
    ds_write(&d, DS_PATH("memory.lpx"));
    fake_reset(2, 2, 2, 3);
    fx f = fx_new(DS_PATH("memory.lpx"), 2, 2, 3, 1);
    assert_create_attach(f.in);
    const lp_tensor *mt = lpt_state(f.in, "memory");
    assert_non_null(mt);
    assert_int_equal(mt->dtype, LP_DTYPE_F32);
    assert_int_equal(mt->rank, 2);
    assert_int_equal(mt->shape[0], M);
    assert_int_equal(mt->shape[1], 2);
    /* A reference of the memory, step by step along each stream. */
    double ref[3][2] = {{0}};
    int64_t step = 0;
    float prev_out[3 * 2] = {0};
    for (int call = 0; call < 9; call++) {
        assert_int_equal(train(&f, 1.0f, NULL), LP_OK);
        for (uint32_t r = 0; r < M; r++)
            for (int k = 0; k < 2; k++)
                assert_near(fake.mem_in[r * 2 + k], prev_out[r * 2 + k], 0);
        for (int64_t t = 0; t < 3; t++) {
            const uint64_t s = (uint64_t)((step + t) % (int64_t)N);
            for (uint32_t r = 0; r < M; r++) {
                assert_int_equal(fake.starts[r * 3 + t], d.start[s * M + r]);
                if (d.start[s * M + r])
                    ref[r][0] = ref[r][1] = 0.0;
                ref[r][0] += 1.0 * (double)d.obs[(s * M + r) * 2];
                ref[r][1] += 2.0 * (double)d.obs[(s * M + r) * 2];
            }
        }
        for (uint32_t r = 0; r < M; r++)
            for (int k = 0; k < 2; k++) {
                assert_near(fake.mem_out[r * 2 + k], ref[r][k], 1e-3);
                /* the registered state is the plugin's memory itself */
                assert_near(((const float *)mt->data)[r * 2 + k], ref[r][k], 1e-3);
            }
        memcpy(prev_out, fake.mem_out, sizeof prev_out);
        step = (step + 3) % (int64_t)N;
    }
    fx_free(&f);
    ds_free(&d);
}

/* A feed-forward model: no memory is registered, NULL is passed. */
static void test_no_memory_for_feed_forward(void **state) {
    (void)state;
    ds d = ds_make(2, 4, 1, 2, 2, 0);
    ds_write(&d, DS_PATH("ff.lpx"));
    fake_reset(0, 1, 2, 2);
    fx f = fx_new(DS_PATH("ff.lpx"), 1, 2, 2, 1);
    assert_create_attach(f.in);
    assert_null(lpt_state(f.in, "memory"));
    assert_non_null(lpt_state(f.in, "cursor"));
    assert_non_null(lpt_state(f.in, "dataset"));
    assert_int_equal(train(&f, 1.0f, NULL), LP_OK);
    fx_free(&f);
    ds_free(&d);
}

/* ---- checkpoints ------------------------------------------------------------------ */

/* Copy the registered state of `a` into `b` (same names), then load. */
static int32_t restore(fx *a, fx *b) {
    const char *names[] = {"cursor", "dataset", "memory"};
    for (int i = 0; i < 3; i++) {
        const lp_tensor *s = lpt_state(a->in, names[i]), *t = lpt_state(b->in, names[i]);
        assert_true((s == NULL) == (t == NULL));
        if (s == NULL)
            continue;
        size_t bytes = (size_t)lp_tensor_numel(s) * lp_dtype_size(s->dtype);
        assert_int_equal(lp_tensor_numel(s), lp_tensor_numel(t));
        memcpy(t->data, s->data, bytes);
    }
    return lpt_load(b->in);
}

static void test_checkpoint_resumes(void **state) {
    (void)state;
    ds d = ds_make(2, 9, 1, 3, 8, 3);
    ds_write(&d, DS_PATH("ckpt.lpx"));
    fake_reset(3, 1, 3, 8);
    fx a = fx_new(DS_PATH("ckpt.lpx"), 1, 3, 2, 1);
    assert_create_attach(a.in);
    for (int i = 0; i < 3; i++)
        assert_int_equal(train(&a, 1.0f, NULL), LP_OK);
    fx b = fx_new(DS_PATH("ckpt.lpx"), 1, 3, 2, 1);
    assert_create_attach(b.in);
    assert_int_equal(restore(&a, &b), LP_OK);
    assert_int_equal(cursor_of(&b), 6);
    /* Both continue identically: same records, same memory in. */
    lp_train_result ra, rb;
    assert_int_equal(train(&a, 1.0f, &ra), LP_OK);
    float obs_a[4], mem_a[6];
    memcpy(obs_a, fake.obs0, sizeof obs_a);
    memcpy(mem_a, fake.mem_in, sizeof mem_a);
    assert_int_equal(train(&b, 1.0f, &rb), LP_OK);
    assert_memory_equal(obs_a, fake.obs0, sizeof obs_a);
    assert_memory_equal(mem_a, fake.mem_in, sizeof mem_a);
    assert_true(ra.loss == rb.loss);

    /* A damaged cursor is refused at load. */
    int64_t *cur = lpt_state(b.in, "cursor")->data;
    *cur = 9;
    assert_int_equal(lpt_load(b.in), LP_ESTATE);
    assert_contains(lpt_last_error(b.in), "cursor 9 is outside the dataset's 9 steps");
    *cur = 0;
    fx_free(&a);
    fx_free(&b);

    /* A checkpoint of another dataset: the cursor starts over, with a warning. */
    fx c = fx_new(DS_PATH("ckpt.lpx"), 1, 3, 2, 1);
    assert_create_attach(c.in);
    assert_int_equal(train(&c, 1.0f, NULL), LP_OK);
    int64_t *ident = lpt_state(c.in, "dataset")->data;
    const int64_t crc = ident[2];
    ident[2] ^= 1;
    float *mem = lpt_state(c.in, "memory")->data;
    assert_int_equal(lpt_load(c.in), LP_OK);
    assert_contains(lpt_last_log(c.in), "another dataset");
    assert_int_equal(cursor_of(&c), 0);
    assert_int_equal(ident[2], crc);
    for (int i = 0; i < 6; i++)
        assert_true(mem[i] == 0.0f);
    fx_free(&c);
    ds_free(&d);
}

/* ---- errors ----------------------------------------------------------------------- */

/* create on the bytes `b` fails with `code` and a message containing `what`. */
static void expect_bad(const unsigned char *b, size_t n, int32_t code, const char *what) {
    put_file(DS_PATH("bad.lpx"), b, n);
    fake_reset(0, 2, 3, 1);
    fx f = fx_new(DS_PATH("bad.lpx"), 2, 3, 2, 1);
    assert_int_equal(lpt_create(f.in), code);
    assert_contains(lpt_last_error(f.in), what);
    fx_free(&f);
}

static void test_bad_files(void **state) {
    (void)state;
    ds d = ds_make(2, 4, 2, 3, 6, 0);
    size_t n;
    unsigned char *good = ds_bytes(&d, &n);
    unsigned char *b = malloc(n + 8);
    assert_non_null(b);

    memcpy(b, good, n);
    expect_bad(b, 10, LP_ECORRUPT, "shorter than its 64-byte header");
    memcpy(b, "CPEXPERT", 8);
    expect_bad(b, n, LP_ECORRUPT, "not a lossplug expert dataset");
    memcpy(b, good, n);
    b[30] ^= 4; /* num_envs, header CRC not updated */
    expect_bad(b, n, LP_ECORRUPT, "header's CRC-32 does not match");
    memcpy(b, good, n);
    lpt_put_le32(b + 8, 3);
    reseal(b, n);
    expect_bad(b, n, LP_ECORRUPT, "format version 3");
    memcpy(b, good, n);
    lpt_put_le32(b + 16, 20);
    reseal(b, n);
    expect_bad(b, n, LP_ECORRUPT, "4 * obs_dim + 8");
    memcpy(b, good, n);
    lpt_put_le64(b + 40, 9);
    reseal(b, n);
    expect_bad(b, n, LP_ECORRUPT, "record_count = num_envs * num_steps");
    memcpy(b, good, n);
    expect_bad(b, n - 1, LP_ECORRUPT, "truncated");
    expect_bad(b, n - 16, LP_ECORRUPT, "truncated");
    expect_bad(b, 64, LP_ECORRUPT, "truncated");
    b[n] = 0;
    expect_bad(b, n + 1, LP_ECORRUPT, "followed by extra bytes");
    for (size_t bit = 64 * 8; bit < n * 8; bit += 37) {
        memcpy(b, good, n);
        b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        put_file(DS_PATH("bad.lpx"), b, n);
        fake_reset(0, 2, 3, 1);
        fx f = fx_new(DS_PATH("bad.lpx"), 2, 3, 2, 1);
        assert_int_equal(lpt_create(f.in), LP_ECORRUPT);
        fx_free(&f);
    }
    /* Sealed files whose records break a rule. */
    const size_t rs = 16, rec1 = 64 + rs; /* record 1: step 0, env 1 */
    memcpy(b, good, n);
    lpt_put_le32(b + rec1 + 8, 3);
    reseal(b, n);
    expect_bad(b, n, LP_ECORRUPT, "action 3");
    memcpy(b, good, n);
    b[rec1 + 12] = 0; /* env 1's first record is not an episode start */
    reseal(b, n);
    expect_bad(b, n, LP_ECORRUPT, "1 at every env's first step");
    memcpy(b, good, n);
    b[64 + 2 * rs + 12] = 2;
    reseal(b, n);
    expect_bad(b, n, LP_ECORRUPT, "episode start 2");
    memcpy(b, good, n);
    b[64 + 2 * rs + 14] = 1;
    reseal(b, n);
    expect_bad(b, n, LP_ECORRUPT, "zero reserved bytes");
    memcpy(b, good, n);
    lpt_put_le32(b + 64 + 3 * rs + 4, 0x7FC00000u); /* NaN */
    reseal(b, n);
    expect_bad(b, n, LP_ECORRUPT, "non-finite observation");

    free(b);
    free(good);
    ds_free(&d);
}

static void test_missing_file_and_param(void **state) {
    (void)state;
    fake_reset(0, 2, 3, 1);
    fx f = fx_new(DS_PATH("no-such-file.lpx"), 2, 3, 2, 1);
    assert_int_equal(lpt_create(f.in), LP_EIO);
    assert_contains(lpt_last_error(f.in), "cannot open the dataset");
    assert_contains(lpt_last_error(f.in), "no-such-file.lpx");
    fx_free(&f);
    fx g = fx_new("", 2, 3, 2, 1);
    assert_int_equal(lpt_create(g.in), LP_EINVAL);
    assert_contains(lpt_last_error(g.in), "'dataset' is empty");
    fx_free(&g);
}

/* A relative path is the config file's directory's. */
static void test_relative_to_config_dir(void **state) {
    (void)state;
    ds d = ds_make(2, 4, 2, 3, 6, 0);
    ds_write(&d, DS_PATH("rel.lpx"));
    fake_reset(0, 2, 3, 1);
    fx f = fx_new("rel.lpx", 2, 3, 2, 1);
    assert_int_equal(lpt_set_config_dir(f.in, LP_TEST_TMP), 0);
    assert_int_equal(lpt_create(f.in), LP_OK);
    fx_free(&f);
    fx g = fx_new("rel.lpx", 2, 3, 2, 1);
    assert_int_equal(lpt_set_config_dir(g.in, LP_TEST_TMP "/elsewhere"), 0);
    assert_int_equal(lpt_create(g.in), LP_EIO);
    assert_contains(lpt_last_error(g.in), LP_TEST_TMP "/elsewhere/rel.lpx");
    fx_free(&g);
    ds_free(&d);
}

static void test_env_mismatch(void **state) {
    (void)state;
    ds d = ds_make(2, 4, 2, 3, 6, 0);
    ds_write(&d, DS_PATH("env.lpx"));
    fake_reset(0, 2, 3, 1);
    fx f = fx_new(DS_PATH("env.lpx"), 2, 3, 2, 1);
    lpt_env(f.in)->num_actions = 2;
    assert_int_equal(lpt_create(f.in), LP_ESPEC);
    assert_contains(
        lpt_last_error(f.in),
        "has a discrete action of 3 choices, the environment a discrete action of 2 choices");
    fx_free(&f);
    /* observations of another size: refused at attach */
    fx g = fx_new(DS_PATH("env.lpx"), 5, 3, 2, 1);
    assert_int_equal(lpt_create(g.in), LP_OK);
    assert_int_equal(lpt_attach(g.in), LP_ESPEC);
    assert_contains(lpt_last_error(g.in), "5 values per step");
    fx_free(&g);
    /* no such field */
    fx h = fx_new(DS_PATH("env.lpx"), 2, 3, 2, 1);
    assert_int_equal(lpt_set_s(h.in, "obs_field", "pixels"), 0);
    assert_int_equal(lpt_create(h.in), LP_OK);
    assert_int_equal(lpt_attach(h.in), LP_ESPEC);
    assert_contains(lpt_last_error(h.in), "no field 'pixels'");
    fx_free(&h);
    ds_free(&d);
}

/* A host without the model extension: a clear error at attach. */
static void test_no_extension(void **state) {
    (void)state;
    ds d = ds_make(2, 4, 2, 3, 6, 0);
    ds_write(&d, DS_PATH("noext.lpx"));
    fake_reset(0, 2, 3, 1);
    fx f = fx_new(DS_PATH("noext.lpx"), 2, 3, 2, 0);
    assert_int_equal(lpt_create(f.in), LP_OK);
    assert_int_equal(lpt_attach(f.in), LP_EUNSUPPORTED);
    assert_contains(lpt_last_error(f.in), "no \"lossplug.model/1\" extension");
    assert_contains(lpt_last_error(f.in), "forward_aux");
    fx_free(&f);
    ds_free(&d);
}

/* The model's refusal is passed on; the cursor does not move. */
static void test_forward_failure(void **state) {
    (void)state;
    ds d = ds_make(2, 4, 2, 3, 6, 0);
    ds_write(&d, DS_PATH("fail.lpx"));
    fake_reset(0, 2, 3, 1);
    fx f = fx_new(DS_PATH("fail.lpx"), 2, 3, 2, 1);
    assert_create_attach(f.in);
    fake.fail_next = 1;
    assert_int_equal(train(&f, 1.0f, NULL), LP_ESTATE);
    assert_contains(lpt_last_error(f.in), "fake model: refused");
    assert_int_equal(cursor_of(&f), 0);
    assert_int_equal(train(&f, 1.0f, NULL), LP_OK);
    assert_int_equal(cursor_of(&f), 2);
    /* outside train (the fake refuses as the host does) */
    assert_int_equal(lpt_train(f.in, 1.0f, NULL), LP_ESTATE);
    assert_int_equal(cursor_of(&f), 2);
    fx_free(&f);
    ds_free(&d);
}

/* The weight and coef scale the gradient; coef 0 writes none. */
/* A NaN logit at the batch's last sample: LP_ENUMERIC naming it, no
 * gradient written for any sample, the cursor where it was. */
static void test_nonfinite_logit_writes_nothing(void **state) {
    (void)state;
    ds d = ds_make(2, 4, 2, 3, 6, 0);
    ds_write(&d, DS_PATH("nan.lpx"));
    fake_reset(0, 2, 3, 1);
    fx f = fx_new(DS_PATH("nan.lpx"), 2, 3, 2, 1);
    assert_create_attach(f.in);
    fake.offset[3 * 3 + 1] = NAN; /* row 1, step 1 of the [2, 2] batch */
    assert_int_equal(train(&f, 1.0f, NULL), LP_ENUMERIC);
    assert_contains(lpt_last_error(f.in),
                    "the model's output 'logits' is nan (not finite) at row 1, "
                    "step 1");
    for (int j = 0; j < 4 * 3; j++)
        assert_true(fake.grad[j] == 0.0f);
    assert_int_equal(cursor_of(&f), 0);
    fx_free(&f);
    ds_free(&d);
}

static void test_weight_and_zero_coef(void **state) {
    (void)state;
    ds d = ds_make(2, 2, 1, 3, 6, 0);
    ds_write(&d, DS_PATH("w.lpx"));
    fake_reset(0, 1, 3, 1);
    fx f = fx_new(DS_PATH("w.lpx"), 1, 3, 2, 1);
    assert_create_attach(f.in);
    lp_train_result r1, r2;
    assert_int_equal(train(&f, 1.0f, &r1), LP_OK);
    float g1[12];
    memcpy(g1, fake.grad, sizeof g1);
    assert_int_equal(lpt_set_f(f.in, "coef", 2.0), 0); /* annealed in place */
    assert_int_equal(train(&f, 0.5f, &r2), LP_OK);
    assert_near(r2.loss, 2.0 * r1.loss, 1e-9);
    for (int i = 0; i < 12; i++)
        assert_near(fake.grad[i], g1[i], 1e-7);
    assert_int_equal(lpt_set_f(f.in, "coef", 0.0), 0);
    assert_int_equal(train(&f, 1.0f, &r2), LP_OK);
    assert_near(r2.loss, 0.0, 0);
    for (int i = 0; i < 12; i++)
        assert_true(fake.grad[i] == 0.0f);
    fx_free(&f);
    ds_free(&d);
}

/* ---- masked actions (-inf logits) against a float64 reference ----------------- */

typedef struct ec_ref {
    const int32_t *act; /* per sample */
    int64_t S, A;
} ec_ref;

static double ec_ref_loss(const double *x, size_t n, void *vctx) {
    (void)n;
    const ec_ref *r = vctx;
    double nll = 0.0;
    for (int64_t i = 0; i < r->S; i++)
        nll -= lpt_ref_logp(x + i * r->A, NULL, r->A, r->act[i]);
    return nll / (double)r->S;
}

static void test_masked_reference(void **state) {
    (void)state;
    enum { M = 2, H = 3, A = 5, S = M * H };
    ds d = ds_make(M, H, 1, A, 77, 0);
    ds_write(&d, DS_PATH("masked.lpx"));
    fake_reset(0, 1, A, 77);
    int32_t act[S];
    for (int64_t i = 0; i < S; i++)
        act[i] = d.act[(i % H) * M + i / H]; /* sample (r, t) reads record t * M + r */
    /* sample 0: two other actions masked; sample 4: all but the expert's */
    for (int64_t j = 0, n = 0; j < A && n < 2; j++)
        if (j != act[0])
            fake.offset[0 * A + j] = -INFINITY, n++;
    for (int64_t j = 0; j < A; j++)
        if (j != act[4])
            fake.offset[4 * A + j] = -INFINITY;
    fx f = fx_new(DS_PATH("masked.lpx"), 1, A, H, 1);
    assert_create_attach(f.in);
    lp_train_result res;
    assert_int_equal(train(&f, 1.0f, &res), LP_OK);
    double x[S * A], num[S * A];
    for (int64_t k = 0; k < S * A; k++)
        x[k] = fake.out[k];
    ec_ref r = {act, S, A};
    assert_near(res.loss, ec_ref_loss(x, S * A, &r), 1e-5);
    lpt_fd_grad(ec_ref_loss, &r, x, S * A, 1e-5, num);
    for (int64_t k = 0; k < S * A; k++) {
        if (fake.out[k] == -INFINITY)
            assert_true(fake.grad[k] == 0.0f);
        else
            assert_near(fake.grad[k], num[k], 1e-5);
    }
    /* The expert's action masked: an error naming row and step. */
    fake.offset[1 * A + act[1]] = -INFINITY;
    assert_int_equal(train(&f, 1.0f, &res), LP_ERANGE);
    assert_contains(lpt_last_error(f.in), "row 0, step 1 has probability 0");
    fx_free(&f);
    ds_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_value_by_hand),
        cmocka_unit_test(test_gradient_fd),
        cmocka_unit_test(test_extreme_logits),
        cmocka_unit_test(test_cursor_wraps),
        cmocka_unit_test(test_batch_longer_than_dataset),
        cmocka_unit_test(test_memory_reset_and_carried),
        cmocka_unit_test(test_no_memory_for_feed_forward),
        cmocka_unit_test(test_checkpoint_resumes),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_missing_file_and_param),
        cmocka_unit_test(test_relative_to_config_dir),
        cmocka_unit_test(test_env_mismatch),
        cmocka_unit_test(test_no_extension),
        cmocka_unit_test(test_forward_failure),
        cmocka_unit_test(test_nonfinite_logit_writes_nothing),
        cmocka_unit_test(test_weight_and_zero_coef),
        cmocka_unit_test(test_masked_reference),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
