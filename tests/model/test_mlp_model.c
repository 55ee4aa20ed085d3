/* The lp_model adapter on [rows, horizon, obs] batches: the order contract
 * (outputs by the indices given), observations read in place or gathered
 * from any strides, backward into the model's gradients, step delegated to
 * the optimizer then gradients zeroed, and every refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mlp_ref.h"

enum { ROWS = 4, HOR = 5, OBS = 3, ACT = 2, N = ROWS * HOR };

static lp_mlp *make_mlp(int64_t max_batch) {
    lp_mlp_options o;
    lp_mlp_options_init(&o);
    static const int64_t hidden[1] = {8};
    o.obs_dim = OBS;
    o.num_actions = ACT;
    o.hidden = hidden;
    o.hidden_count = 1;
    o.seed = 5;
    o.max_batch = max_batch;
    o.actor_gain = 1.0;
    lp_mlp *m = NULL;
    lp_error err = {0};
    if (lp_mlp_create(&o, &m, &err) != LP_OK)
        fail_msg("%s", err.message);
    return m;
}

static lp_tensor view(void *data, int32_t dtype, int32_t rank, const int64_t *shape,
                      const int64_t *strides) {
    lp_tensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.dtype = dtype;
    t.rank = rank;
    for (int i = 0; i < rank; i++) {
        t.shape[i] = shape[i];
        t.strides[i] = strides[i];
    }
    return t;
}

/* A fake optimizer that records its call. */
typedef struct fake_opt {
    int calls;
    float *params;
    float *grads;
    size_t count;
    float grad0;
    int32_t fail;
} fake_opt;

static int32_t fake_step(void *user, float *params, float *grads, size_t count, const lp_ctx *ctx,
                         lp_error *err) {
    fake_opt *f = user;
    (void)ctx;
    f->calls++;
    f->params = params;
    f->grads = grads;
    f->count = count;
    f->grad0 = grads[0];
    if (f->fail) {
        err->code = LP_ENUMERIC;
        snprintf(err->message, sizeof err->message, "fake optimizer failed");
        return LP_ENUMERIC;
    }
    return LP_OK;
}

/* The observations every layout below holds, and what the model makes of
 * them (computed directly, without the adapter). */
typedef struct expected {
    float obs[N * OBS];
    float logits[N * ACT], values[N];
    float dlogits[N * ACT], dvalues[N];
    float *grads;
    size_t count;
} expected;

static void compute_expected(expected *e) {
    uint64_t s = 3;
    for (int i = 0; i < N * OBS; i++)
        e->obs[i] = (float)ref_rand(&s);
    for (int i = 0; i < N * ACT; i++)
        e->dlogits[i] = (float)ref_rand(&s);
    for (int i = 0; i < N; i++)
        e->dvalues[i] = (float)ref_rand(&s);
    lp_mlp *m = make_mlp(N);
    lp_error err = {0};
    assert_int_equal(lp_mlp_forward(m, e->obs, OBS, N, e->logits, e->values, &err), LP_OK);
    assert_int_equal(lp_mlp_backward(m, e->obs, OBS, N, e->dlogits, e->dvalues, &err), LP_OK);
    e->count = lp_mlp_param_count(m);
    e->grads = malloc(e->count * sizeof(float));
    assert_non_null(e->grads);
    memcpy(e->grads, lp_mlp_grads(m), e->count * sizeof(float));
    lp_mlp_destroy(m);
}

/* Batch: field 0 is a distractor, field 1 the observations `obs`. Outputs
 * in the order the session would declare them here: values first (index
 * 0), then logits (index 1). */
typedef struct harness {
    lp_mlp *m;
    lp_mlp_model *a;
    lp_model cb;
    fake_opt opt;
    float rewards[N];
    lp_tensor fields[2];
    float logits[N * ACT], values[N];
    float dlogits[N * ACT], dvalues[N];
    lp_tensor outputs[2], grads[2];
    lp_batch mb;
} harness;

static void harness_init(harness *h, const expected *e, lp_tensor obs_view, int values_rank3) {
    memset(h, 0, sizeof *h);
    h->m = make_mlp(N);
    lp_mlp_model_options o;
    lp_mlp_model_options_init(&o);
    o.obs_handle = 1;
    o.values_output = 0;
    o.logits_output = 1;
    o.step = fake_step;
    o.step_user = &h->opt;
    lp_error err = {0};
    if (lp_mlp_model_create(h->m, &o, &h->a, &err) != LP_OK)
        fail_msg("%s", err.message);
    h->cb = lp_mlp_model_callbacks(h->a);
    const int64_t rshape[2] = {ROWS, HOR}, rstr[2] = {HOR, 1};
    h->fields[0] = view(h->rewards, LP_DTYPE_F32, 2, rshape, rstr);
    h->fields[1] = obs_view;
    const int64_t lshape[3] = {ROWS, HOR, ACT}, lstr[3] = {HOR * ACT, ACT, 1};
    const int64_t vshape[3] = {ROWS, HOR, 1}, vstr[3] = {HOR, 1, 1};
    h->outputs[0] = view(h->values, LP_DTYPE_F32, values_rank3 ? 3 : 2, vshape, vstr);
    h->outputs[1] = view(h->logits, LP_DTYPE_F32, 3, lshape, lstr);
    h->grads[0] = view(h->dvalues, LP_DTYPE_F32, values_rank3 ? 3 : 2, vshape, vstr);
    h->grads[1] = view(h->dlogits, LP_DTYPE_F32, 3, lshape, lstr);
    memcpy(h->dlogits, e->dlogits, sizeof h->dlogits);
    memcpy(h->dvalues, e->dvalues, sizeof h->dvalues);
    h->mb.struct_size = sizeof h->mb;
    h->mb.field_count = 2;
    h->mb.fields = h->fields;
    h->mb.output_count = 2;
    h->mb.outputs = h->outputs;
    h->mb.grads = h->grads;
    h->mb.rows = ROWS;
    h->mb.horizon = HOR;
}

static void harness_free(harness *h) {
    lp_mlp_model_destroy(h->a);
    lp_mlp_destroy(h->m);
}

/* Forward, backward and step through the callbacks agree with the direct
 * calls on the contiguous observations. */
static void run_and_compare(const expected *e, lp_tensor obs_view, int values_rank3) {
    harness h;
    lp_error err = {0};
    harness_init(&h, e, obs_view, values_rank3);
    assert_int_equal(h.cb.forward(h.cb.user, &h.mb, h.outputs, &err), LP_OK);
    for (int i = 0; i < N * ACT; i++)
        expect_near(h.logits[i], e->logits[i], 1e-6);
    for (int i = 0; i < N; i++)
        expect_near(h.values[i], e->values[i], 1e-6);
    assert_int_equal(h.cb.backward(h.cb.user, &h.mb, h.grads, &err), LP_OK);
    const float *g = lp_mlp_grads(h.m);
    for (size_t i = 0; i < e->count; i++)
        expect_near(g[i], e->grads[i], 1e-5 * (1.0 + fabs(e->grads[i])));
    lp_ctx ctx = {sizeof ctx, 0, 0, 0, 0, 1, 0, 0};
    assert_int_equal(h.cb.step(h.cb.user, &ctx, &err), LP_OK);
    assert_int_equal(h.opt.calls, 1);
    assert_ptr_equal(h.opt.params, lp_mlp_params(h.m));
    assert_ptr_equal(h.opt.grads, lp_mlp_grads(h.m));
    assert_int_equal(h.opt.count, lp_mlp_param_count(h.m));
    expect_near(h.opt.grad0, e->grads[0], 1e-5 * (1.0 + fabs(e->grads[0])));
    for (size_t i = 0; i < e->count; i++)
        expect_near(g[i], 0.0, 0.0); /* zeroed after the step */
    harness_free(&h);
}

static void contiguous_batch_and_order_contract(void **state) {
    (void)state;
    expected e;
    compute_expected(&e);
    const int64_t shape[3] = {ROWS, HOR, OBS}, str[3] = {HOR * OBS, OBS, 1};
    run_and_compare(&e, view(e.obs, LP_DTYPE_F32, 3, shape, str), 0);
    run_and_compare(&e, view(e.obs, LP_DTYPE_F32, 3, shape, str), 1); /* values [r, h, 1] */
    /* [rows, horizon, 1, obs]: the observation may have any shape */
    const int64_t shape4[4] = {ROWS, HOR, 1, OBS}, str4[4] = {HOR * OBS, OBS, 99, 1};
    run_and_compare(&e, view(e.obs, LP_DTYPE_F32, 4, shape4, str4), 0);
    free(e.grads);
}

static void strided_batches(void **state) {
    (void)state;
    expected e;
    compute_expected(&e);
    const int64_t shape[3] = {ROWS, HOR, OBS};
    /* (a) padded rows: every step is 5 floats, the first 3 used (in place, ld 5) */
    float pad[N * 5];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < 5; j++)
            pad[i * 5 + j] = j < OBS ? e.obs[i * OBS + j] : NAN;
    const int64_t spad[3] = {HOR * 5, 5, 1};
    run_and_compare(&e, view(pad, LP_DTYPE_F32, 3, shape, spad), 0);
    /* (b) every other buffer row (gathered) */
    float rows2[2 * N * OBS];
    for (int r = 0; r < ROWS; r++)
        for (int i = 0; i < HOR * OBS; i++) {
            rows2[(2 * r) * HOR * OBS + i] = e.obs[r * HOR * OBS + i];
            rows2[(2 * r + 1) * HOR * OBS + i] = NAN;
        }
    const int64_t sr2[3] = {2 * HOR * OBS, OBS, 1};
    run_and_compare(&e, view(rows2, LP_DTYPE_F32, 3, shape, sr2), 0);
    /* (c) observation-major storage [obs, rows, horizon] (gathered) */
    float tr[N * OBS];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < OBS; j++)
            tr[j * N + i] = e.obs[i * OBS + j];
    const int64_t str_[3] = {HOR, 1, N};
    run_and_compare(&e, view(tr, LP_DTYPE_F32, 3, shape, str_), 0);
    free(e.grads);
}

/* horizon 1 with rows spaced apart is read in place with ld = stride 0. */
static void horizon_one(void **state) {
    (void)state;
    lp_mlp *m = make_mlp(8);
    lp_mlp_model_options o;
    lp_mlp_model_options_init(&o);
    fake_opt f = {0};
    o.obs_handle = 0;
    o.logits_output = 0;
    o.values_output = -1; /* no values output declared */
    o.step = fake_step;
    o.step_user = &f;
    lp_mlp_model *a = NULL;
    lp_error err = {0};
    assert_int_equal(lp_mlp_model_create(m, &o, &a, &err), LP_OK);
    lp_model cb = lp_mlp_model_callbacks(a);
    float obs[4 * 7], flat[4 * OBS], lg[4 * ACT], want[4 * ACT], dl[4 * ACT];
    uint64_t s = 17;
    for (int i = 0; i < 4 * 7; i++)
        obs[i] = (float)ref_rand(&s);
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < OBS; j++)
            flat[r * OBS + j] = obs[r * 7 + j];
    for (int i = 0; i < 4 * ACT; i++)
        dl[i] = (float)ref_rand(&s);
    const int64_t shape[3] = {4, 1, OBS}, str[3] = {7, OBS, 1};
    const int64_t lshape[3] = {4, 1, ACT}, lstr[3] = {ACT, ACT, 1};
    lp_tensor field = view(obs, LP_DTYPE_F32, 3, shape, str);
    lp_tensor out = view(lg, LP_DTYPE_F32, 3, lshape, lstr);
    lp_tensor grad = view(dl, LP_DTYPE_F32, 3, lshape, lstr);
    lp_batch mb = {sizeof mb, 1, &field, 1, 0, &out, &grad, 4, 1, NULL, NULL};
    assert_int_equal(cb.forward(cb.user, &mb, &out, &err), LP_OK);
    assert_int_equal(lp_mlp_forward(m, flat, OBS, 4, want, NULL, &err), LP_OK);
    for (int i = 0; i < 4 * ACT; i++)
        expect_near(lg[i], want[i], 1e-6);
    assert_int_equal(cb.backward(cb.user, &mb, &grad, &err), LP_OK);
    /* only the actor side got gradients */
    const float *g = lp_mlp_grads(m);
    size_t nz_actor = 0, nz_critic = 0;
    for (size_t i = 0; i < lp_mlp_tensor_count(m); i++) {
        const lp_mlp_tensor_info *t = lp_mlp_tensor_at(m, i);
        size_t sz = (size_t)(t->rank == 2 ? t->shape[0] * t->shape[1] : t->shape[0]);
        for (size_t j = 0; j < sz; j++) {
            if (g[t->offset + j] != 0.0f) {
                if (strstr(t->name, "actor"))
                    nz_actor++;
                else
                    nz_critic++;
            }
        }
    }
    assert_true(nz_actor > 0);
    assert_int_equal(nz_critic, 0);
    /* A failing optimizer: its error comes back and the gradients stay. */
    f.fail = 1;
    lp_ctx ctx = {sizeof ctx, 0, 0, 0, 0, 1, 0, 0};
    assert_int_equal(cb.step(cb.user, &ctx, &err), LP_ENUMERIC);
    assert_string_equal(err.message, "fake optimizer failed");
    assert_true(g[0] != 0.0f || g[1] != 0.0f);
    lp_mlp_model_destroy(a);
    lp_mlp_destroy(m);
}

/* With the real Adam the step moves the parameters and clears the
 * gradients. */
static void steps_with_adam(void **state) {
    (void)state;
    expected e;
    compute_expected(&e);
    lp_mlp *m = make_mlp(N);
    lp_adam_options ao;
    lp_adam_options_init(&ao);
    lp_adam *adam = NULL;
    lp_error err = {0};
    assert_int_equal(lp_adam_create(&ao, lp_mlp_param_count(m), &adam, &err), LP_OK);
    lp_mlp_model_options o;
    lp_mlp_model_options_init(&o);
    o.obs_handle = 0;
    o.step = lp_adam_step_fn;
    o.step_user = adam;
    lp_mlp_model *a = NULL;
    assert_int_equal(lp_mlp_model_create(m, &o, &a, &err), LP_OK);
    lp_model cb = lp_mlp_model_callbacks(a);
    const int64_t shape[3] = {ROWS, HOR, OBS}, str[3] = {HOR * OBS, OBS, 1};
    const int64_t lshape[3] = {ROWS, HOR, ACT}, lstr[3] = {HOR * ACT, ACT, 1};
    const int64_t vshape[2] = {ROWS, HOR}, vstr[2] = {HOR, 1};
    float lg[N * ACT], v[N];
    lp_tensor field = view(e.obs, LP_DTYPE_F32, 3, shape, str);
    lp_tensor outs[2] = {view(lg, LP_DTYPE_F32, 3, lshape, lstr),
                         view(v, LP_DTYPE_F32, 2, vshape, vstr)};
    lp_tensor grads[2] = {view(e.dlogits, LP_DTYPE_F32, 3, lshape, lstr),
                          view(e.dvalues, LP_DTYPE_F32, 2, vshape, vstr)};
    lp_batch mb = {sizeof mb, 1, &field, 2, 0, outs, grads, ROWS, HOR, NULL, NULL};
    float before = lp_mlp_params(m)[0];
    assert_int_equal(cb.forward(cb.user, &mb, outs, &err), LP_OK);
    assert_int_equal(cb.backward(cb.user, &mb, grads, &err), LP_OK);
    lp_ctx ctx = {sizeof ctx, 0, 0, 0, 0, 1, 0, 0};
    assert_int_equal(cb.step(cb.user, &ctx, &err), LP_OK);
    assert_int_equal(lp_adam_step_count(adam), 1);
    assert_true(lp_mlp_params(m)[0] != before);
    for (size_t i = 0; i < lp_mlp_param_count(m); i++)
        expect_near(lp_mlp_grads(m)[i], 0.0, 0.0);
    lp_mlp_model_destroy(a);
    lp_adam_destroy(adam);
    lp_mlp_destroy(m);
    free(e.grads);
}

static void refusals(void **state) {
    (void)state;
    expected e;
    compute_expected(&e);
    const int64_t shape[3] = {ROWS, HOR, OBS}, str[3] = {HOR * OBS, OBS, 1};
    harness h;
    lp_error err = {0};
    harness_init(&h, &e, view(e.obs, LP_DTYPE_F32, 3, shape, str), 0);

    /* logits output with the wrong width */
    h.outputs[1].shape[2] = ACT + 1;
    assert_int_equal(h.cb.forward(h.cb.user, &h.mb, h.outputs, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "logits"));
    h.outputs[1].shape[2] = ACT;
    /* values not contiguous */
    h.outputs[0].strides[0] = 2 * HOR;
    assert_int_equal(h.cb.forward(h.cb.user, &h.mb, h.outputs, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "contiguous"));
    h.outputs[0].strides[0] = HOR;
    /* fewer outputs than the indices need */
    h.mb.output_count = 1;
    assert_int_equal(h.cb.forward(h.cb.user, &h.mb, h.outputs, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "logits_output"));
    h.mb.output_count = 2;
    /* the observation handle beyond the fields */
    h.mb.field_count = 1;
    assert_int_equal(h.cb.forward(h.cb.user, &h.mb, h.outputs, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "\"obs\""));
    h.mb.field_count = 2;
    /* wrong dtype, wrong observation size */
    h.fields[1].dtype = LP_DTYPE_F64;
    assert_int_equal(h.cb.forward(h.cb.user, &h.mb, h.outputs, &err), LP_EINVAL);
    h.fields[1].dtype = LP_DTYPE_F32;
    h.fields[1].shape[2] = OBS - 1;
    assert_int_equal(h.cb.forward(h.cb.user, &h.mb, h.outputs, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "obs_dim"));
    h.fields[1].shape[2] = OBS;
    /* gradients checked like outputs */
    h.grads[1].dtype = LP_DTYPE_F64;
    assert_int_equal(h.cb.forward(h.cb.user, &h.mb, h.outputs, &err), LP_OK);
    assert_int_equal(h.cb.backward(h.cb.user, &h.mb, h.grads, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "gradient"));
    h.grads[1].dtype = LP_DTYPE_F32;
    assert_int_equal(h.cb.backward(h.cb.user, &h.mb, h.grads, &err), LP_OK);
    harness_free(&h);

    /* A batch larger than max_batch: refused until lp_mlp_reserve, then the
     * gather buffer follows (strided rows). */
    lp_mlp *m = make_mlp(ROWS); /* 4 < 20 samples */
    lp_mlp_model_options o;
    lp_mlp_model_options_init(&o);
    fake_opt f = {0};
    o.obs_handle = 0;
    o.step = fake_step;
    o.step_user = &f;
    lp_mlp_model *a = NULL;
    assert_int_equal(lp_mlp_model_create(m, &o, &a, &err), LP_OK);
    lp_model cb = lp_mlp_model_callbacks(a);
    float rows2[2 * N * OBS];
    for (int r = 0; r < ROWS; r++)
        for (int i = 0; i < HOR * OBS; i++) {
            rows2[(2 * r) * HOR * OBS + i] = e.obs[r * HOR * OBS + i];
            rows2[(2 * r + 1) * HOR * OBS + i] = NAN;
        }
    const int64_t sr2[3] = {2 * HOR * OBS, OBS, 1};
    const int64_t lshape[3] = {ROWS, HOR, ACT}, lstr[3] = {HOR * ACT, ACT, 1};
    const int64_t vshape[2] = {ROWS, HOR}, vstr[2] = {HOR, 1};
    float lg[N * ACT], v[N];
    lp_tensor field = view(rows2, LP_DTYPE_F32, 3, shape, sr2);
    lp_tensor outs[2] = {view(lg, LP_DTYPE_F32, 3, lshape, lstr),
                         view(v, LP_DTYPE_F32, 2, vshape, vstr)};
    lp_batch mb = {sizeof mb, 1, &field, 2, 0, outs, outs, ROWS, HOR, NULL, NULL};
    assert_int_equal(cb.forward(cb.user, &mb, outs, &err), LP_ERANGE);
    assert_non_null(strstr(err.message, "max_batch"));
    assert_int_equal(lp_mlp_reserve(m, N, &err), LP_OK);
    assert_int_equal(cb.forward(cb.user, &mb, outs, &err), LP_OK);
    for (int i = 0; i < N * ACT; i++)
        expect_near(lg[i], e.logits[i], 1e-6);
    lp_mlp_model_destroy(a);

    /* create-time refusals */
    a = (lp_mlp_model *)&o;
    o.obs_handle = -1;
    o.obs_field = "observation";
    assert_int_equal(lp_mlp_model_create(m, &o, &a, &err), LP_EINVAL);
    assert_null(a);
    assert_non_null(strstr(err.message, "lp_session_field_handle(session, \"observation\")"));
    o.obs_handle = 0;
    o.values_output = o.logits_output;
    assert_int_equal(lp_mlp_model_create(m, &o, &a, &err), LP_EINVAL);
    o.values_output = 1;
    o.step = NULL;
    assert_int_equal(lp_mlp_model_create(m, &o, &a, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "lp_adam_step_fn"));
    o.step = fake_step;
    assert_int_equal(lp_mlp_model_create(NULL, &o, &a, &err), LP_EINVAL);
    o.struct_size = 0;
    assert_int_equal(lp_mlp_model_create(m, &o, &a, &err), LP_EINVAL);
    lp_model none = lp_mlp_model_callbacks(NULL);
    assert_null(none.forward);
    lp_mlp_model_destroy(NULL);
    lp_mlp_destroy(m);
    free(e.grads);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(contiguous_batch_and_order_contract),
        cmocka_unit_test(strided_batches),
        cmocka_unit_test(horizon_one),
        cmocka_unit_test(steps_with_adam),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
