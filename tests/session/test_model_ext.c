/* The host extension "lossplug.model/1" through the real session: a loss
 * runs the model on a batch of its own during its train hook, the gradient
 * it adds is backpropagated by the model's backward_aux before the
 * minibatch's backward and step, the minibatch's forward state survives,
 * memory is carried by the loss, calls outside the train hook fail, and a
 * model without auxiliary passes is a clear error at open.
 *
 * This file is two programs. Built with LP_MX_PLUGIN it is the test plugin
 * "mxprobe" (first half: nothing but the ABI); otherwise it is the test
 * (second half), which also runs the real expert_ce on the reference MLP. */

#ifdef LP_MX_PLUGIN
/* ==== the plugin "mxprobe" ==================================================
 * Params:
 *   mode       "train": one pass per train call; "twice": two; "epoch_start"
 *              / "minibatch_end": call forward from that hook instead (and
 *              fail with its status); "bad_field": a batch of the wrong
 *              shape; "nomem": NULL memory
 *   rows, horizon   its batch
 *   grad       adds weight * grad to every element of the logits gradient
 *              of its pass
 *   main_grad  adds weight * main_grad to every element of the minibatch's
 *              logits gradient
 * Its batch's observations: obs[r, t, d] = 100 * call + 10 * r + t + d / 8,
 * where call counts its passes from 1. Episode starts: every row at t = 0
 * of the first pass, row 0 at t = 1 of every pass. Logs "pass:CALL" and
 * "memsize:N" (attach). */
#include <lossplug/ext/model.h>
#include <lossplug/plugin.h>

#include <stdlib.h>

enum { P_MODE, P_ROWS, P_HORIZON, P_GRAD, P_MAIN_GRAD, P_COUNT };

static const char *const modes[] = {"train",     "twice", "epoch_start", "minibatch_end",
                                    "bad_field", "nomem", NULL};

static const lp_param_spec params[] = {
    LP_PARAM_ENUM_SPEC("mode", "what to do", "train", modes),
    LP_PARAM_INT_SPEC("rows", "rows of its batch", 2, 1, 64),
    LP_PARAM_INT_SPEC("horizon", "steps of its batch", 3, 1, 64),
    LP_PARAM_FLOAT_SPEC("grad", "gradient added to its pass's logits", 0.5, -10, 10),
    LP_PARAM_FLOAT_SPEC("main_grad", "gradient added to the minibatch's logits", 0.0, -10, 10),
};

static const char *const outputs[] = {"logits", NULL};

typedef struct mx {
    lp_loss loss;
    const lp_host *host;
    const lp_value *p;
    const lp_model_ext *mx;
    int64_t msize, rows, horizon, obs_dim;
    int32_t h_obs, h_logits;
    int calls;
    lp_tensor *fields;
    float *obs, *memory;
    uint8_t *starts;
} mx;

static int32_t mx_attach(const lp_loss *self, const lp_batch *all) {
    mx *m = self->data;
    const lp_host *h = m->host;
    m->mx = h->get_extension(h, LP_EXT_MODEL);
    if (m->mx == NULL)
        return lp_errorf(h, LP_EUNSUPPORTED, "mxprobe: no " LP_EXT_MODEL);
    m->msize = m->mx->memory_size(h);
    lp_logf(h, LP_LOG_INFO, "memsize:%lld", (long long)m->msize);
    m->h_obs = h->field_handle(h, "obs");
    m->h_logits = h->output_handle(h, "logits");
    if (m->h_obs < 0 || m->h_logits < 0)
        return lp_errorf(h, LP_ESPEC, "mxprobe: needs field obs and output logits");
    m->obs_dim = all->fields[m->h_obs].shape[2];
    m->rows = m->p[P_ROWS].i;
    m->horizon = m->p[P_HORIZON].i;
    const int64_t n = m->rows * m->horizon;
    m->fields = calloc((size_t)m->h_obs + 1, sizeof *m->fields);
    m->obs = calloc((size_t)(n * m->obs_dim), sizeof *m->obs);
    m->starts = calloc((size_t)n, 1);
    m->memory = calloc((size_t)(m->rows * (m->msize > 0 ? m->msize : 1)), sizeof *m->memory);
    if (!m->fields || !m->obs || !m->starts || !m->memory)
        return lp_errorf(h, LP_ENOMEM, "mxprobe: out of memory");
    const int64_t shape[3] = {m->rows, m->horizon, m->obs_dim};
    m->fields[m->h_obs] = lp_tensor_make(m->obs, LP_DTYPE_F32, 3, shape);
    if (strcmp(m->p[P_MODE].s, "bad_field") == 0)
        m->fields[m->h_obs].shape[1] = m->horizon + 1;
    return LP_OK;
}

/* One pass: fill, forward, add the gradient. */
static int32_t mx_pass(mx *m, float weight, double *sum) {
    const lp_host *h = m->host;
    m->calls++;
    for (int64_t r = 0; r < m->rows; r++)
        for (int64_t t = 0; t < m->horizon; t++) {
            for (int64_t d = 0; d < m->obs_dim; d++)
                m->obs[(r * m->horizon + t) * m->obs_dim + d] =
                    (float)(100 * m->calls + 10 * r + t) + (float)d / 8.0f;
            m->starts[r * m->horizon + t] = (m->calls == 1 && t == 0) || (r == 0 && t == 1);
        }
    lp_batch b;
    memset(&b, 0, sizeof b);
    b.struct_size = sizeof b;
    b.field_count = (uint32_t)m->h_obs + 1;
    b.fields = m->fields;
    b.rows = m->rows;
    b.horizon = m->horizon;
    lp_model_pass pass = {.struct_size = sizeof pass};
    int nomem = strcmp(m->p[P_MODE].s, "nomem") == 0;
    int32_t rc = m->mx->forward(h, &b, m->starts, nomem ? NULL : m->memory, &pass);
    if (rc != LP_OK)
        return rc;
    lp_logf(h, LP_LOG_INFO, "pass:%d", m->calls);
    const lp_tensor *z = &pass.outputs[m->h_logits], *g = &pass.grads[m->h_logits];
    const int64_t n = lp_tensor_numel(z);
    for (int64_t i = 0; i < n; i++) {
        *sum += ((const float *)z->data)[i];
        ((float *)g->data)[i] += weight * (float)m->p[P_GRAD].f;
    }
    return LP_OK;
}

static int32_t mx_train(const lp_loss *self, const lp_ctx *ctx, const lp_batch *mb, float weight,
                        lp_train_result *out) {
    (void)ctx;
    mx *m = self->data;
    double sum = 0.0;
    const char *mode = m->p[P_MODE].s;
    if (strcmp(mode, "epoch_start") != 0 && strcmp(mode, "minibatch_end") != 0) {
        int32_t rc = mx_pass(m, weight, &sum);
        if (rc == LP_OK && strcmp(mode, "twice") == 0)
            rc = mx_pass(m, weight, &sum);
        if (rc != LP_OK)
            return rc;
    }
    const lp_tensor *g = &mb->grads[m->h_logits];
    for (int64_t i = 0; i < lp_tensor_numel(g); i++)
        ((float *)g->data)[i] += weight * (float)m->p[P_MAIN_GRAD].f;
    out->loss = sum;
    return LP_OK;
}

static int32_t mx_epoch_start(const lp_loss *self, const lp_ctx *ctx) {
    (void)ctx;
    mx *m = self->data;
    double sum = 0.0;
    return strcmp(m->p[P_MODE].s, "epoch_start") == 0 ? mx_pass(m, 1.0f, &sum) : LP_OK;
}

static int32_t mx_minibatch_end(const lp_loss *self, const lp_ctx *ctx) {
    (void)ctx;
    mx *m = self->data;
    double sum = 0.0;
    return strcmp(m->p[P_MODE].s, "minibatch_end") == 0 ? mx_pass(m, 1.0f, &sum) : LP_OK;
}

static void mx_destroy(const lp_loss *self) {
    mx *m = self->data;
    free(m->fields);
    free(m->obs);
    free(m->starts);
    free(m->memory);
    free(m);
}

static int32_t mx_create(const lp_create_args *args, const lp_loss **out) {
    mx *m = calloc(1, sizeof *m);
    if (m == NULL)
        return lp_errorf(args->host, LP_ENOMEM, "mxprobe: out of memory");
    m->host = args->host;
    m->p = args->params;
    m->loss.struct_size = sizeof m->loss;
    m->loss.data = m;
    m->loss.attach = mx_attach;
    m->loss.train = mx_train;
    m->loss.epoch_start = mx_epoch_start;
    m->loss.minibatch_end = mx_minibatch_end;
    m->loss.destroy = mx_destroy;
    *out = &m->loss;
    return LP_OK;
}

static const lp_loss_desc desc = {
    .struct_size = sizeof(lp_loss_desc),
    .id = "mxprobe",
    .version = "1.0.0",
    .summary = "test plugin: runs the model through lossplug.model/1",
    LP_DESC_PARAMS(params),
    .outputs = outputs,
    .create = mx_create,
};

LP_PLUGIN_ENTRY(&desc)

#else
/* ==== the test ============================================================== */
#include "session_test.h"

#include "../support/lpt_ckpt_patch.h"

#include <lossplug/rnn.h>
#include <math.h>

#define assert_near(actual, expected, tol)                                                         \
    do {                                                                                           \
        const double a_ = (actual), e_ = (expected), t_ = (tol);                                   \
        if (!(fabs(a_ - e_) <= t_))                                                                \
            fail_msg("%s = %.17g, expected %.17g (tolerance %g)", #actual, a_, e_, t_);            \
    } while (0)

#define HEAD "buffer: {segments: 4, horizon: 3, minibatch_segments: 2, update_epochs: 1}\n" PROG

/* ---- a linear model with auxiliary passes ------------------------------------
 * logits_j = sum_d x_d (j + 1) / 10 (+ m_0 with memory), values = sum_d x_d;
 * with memory: per row m zeroed at a start, then m_k += x_0. It logs its
 * calls and checks the session's side of the contract. */
typedef struct amodel {
    int64_t memory;
    int fail_fwd_aux, fail_bwd_aux;
    int32_t h_obs;
    float main_obs0;                   /* the first observation the last forward saw */
    float aux_obs0;                    /* ... the last forward_aux */
    double aux_grad;                   /* sum of the gradients backward_aux got */
    double main_grad;                  /* ... backward */
    float mem_in[4][8], mem_out[4][8]; /* by pass, while fewer than 4 */
    int aux_fwds, aux_bwds;
} amodel;

static int64_t numel(const lp_tensor *t) {
    int64_t n = 1;
    for (int32_t d = 0; d < t->rank; d++)
        n *= t->shape[d];
    return n;
}

static float first_obs(const lp_batch *b, int32_t h) {
    assert_true((uint32_t)h < b->field_count);
    assert_non_null(b->fields[h].data);
    return ((const float *)b->fields[h].data)[0];
}

static double sum_of(const lp_tensor *t) {
    double s = 0.0;
    for (int64_t i = 0; i < t->shape[0] * t->shape[1] * (t->rank > 2 ? t->shape[2] : 1); i++)
        s += ((const float *)t->data)[i];
    return s;
}

static int32_t am_forward(void *user, const lp_batch *mb, const lp_tensor *out, lp_error *err) {
    (void)err;
    amodel *m = user;
    m->main_obs0 = first_obs(mb, m->h_obs);
    memset(out[0].data, 0, (size_t)numel(&out[0]) * sizeof(float));
    tlog_add("model:forward");
    return LP_OK;
}

static int32_t am_backward(void *user, const lp_batch *mb, const lp_tensor *grads, lp_error *err) {
    (void)err;
    amodel *m = user;
    /* the minibatch's batch, not the auxiliary one */
    assert_true(first_obs(mb, m->h_obs) == m->main_obs0);
    assert_non_null(mb->row_index);
    m->main_grad += sum_of(&grads[0]);
    tlog_add("model:backward");
    return LP_OK;
}

static int32_t am_step(void *user, const lp_ctx *ctx, lp_error *err) {
    (void)user;
    (void)ctx;
    (void)err;
    tlog_add("model:step");
    return LP_OK;
}

static int64_t am_memory_size(void *user) {
    return ((amodel *)user)->memory;
}

static int32_t am_forward_aux(void *user, const lp_batch *b, const uint8_t *starts, float *memory,
                              const lp_tensor *out, lp_error *err) {
    amodel *m = user;
    if (m->fail_fwd_aux) {
        snprintf(err->message, sizeof err->message, "aux weights missing");
        return LP_EINVAL;
    }
    assert_null(b->row_index);
    assert_int_equal(b->output_count, 2);
    assert_true(b->outputs == out);
    const lp_tensor *x = &b->fields[m->h_obs];
    assert_int_equal(x->shape[0], b->rows);
    assert_int_equal(out[0].shape[0], b->rows);
    assert_int_equal(out[0].shape[1], b->horizon);
    assert_int_equal(out[0].shape[2], 2);
    const int64_t D = x->shape[2];
    m->aux_obs0 = first_obs(b, m->h_obs);
    const int k = m->aux_fwds < 4 ? m->aux_fwds : 3;
    if (m->memory > 0) {
        assert_non_null(memory);
        assert_true(b->rows * m->memory <= 8);
        memcpy(m->mem_in[k], memory, (size_t)(b->rows * m->memory) * sizeof(float));
    } else {
        assert_null(memory);
    }
    float *z = out[0].data, *v = out[1].data;
    for (int64_t r = 0; r < b->rows; r++)
        for (int64_t t = 0; t < b->horizon; t++) {
            const int64_t i = r * b->horizon + t;
            const float *xi = (const float *)x->data + r * x->strides[0] + t * x->strides[1];
            double s = 0.0;
            for (int64_t d = 0; d < D; d++)
                s += xi[d * x->strides[2]];
            float *mr = m->memory > 0 ? memory + r * m->memory : NULL;
            if (mr != NULL && starts[i])
                memset(mr, 0, (size_t)m->memory * sizeof(float));
            for (int64_t k = 0; mr != NULL && k < m->memory; k++)
                mr[k] += xi[0];
            for (int j = 0; j < 2; j++)
                z[i * 2 + j] = (float)(s * (j + 1) / 10.0) + (mr != NULL ? mr[0] : 0.0f);
            v[i] = (float)s;
        }
    if (m->memory > 0)
        memcpy(m->mem_out[k], memory, (size_t)(b->rows * m->memory) * sizeof(float));
    m->aux_fwds++;
    tlog_add("model:forward_aux");
    return LP_OK;
}

static int32_t am_backward_aux(void *user, const lp_batch *b, const lp_tensor *grads,
                               lp_error *err) {
    amodel *m = user;
    if (m->fail_bwd_aux) {
        snprintf(err->message, sizeof err->message, "aux gradient rejected");
        return LP_ENUMERIC;
    }
    /* the batch of the last forward_aux */
    assert_true(first_obs(b, m->h_obs) == m->aux_obs0);
    m->aux_grad += sum_of(&grads[0]);
    assert_true(sum_of(&grads[1]) == 0.0);
    m->aux_bwds++;
    tlog_add("model:backward_aux");
    return LP_OK;
}

static lp_model am_make(amodel *m) {
    lp_model model = {.user = m,
                      .forward = am_forward,
                      .backward = am_backward,
                      .step = am_step,
                      .memory_size = am_memory_size,
                      .forward_aux = am_forward_aux,
                      .backward_aux = am_backward_aux};
    return model;
}

/* Open `yaml` with `model` as the options' model. */
static int32_t open_with(const char *yaml, const lp_model *model, lp_session **s, lp_error *err) {
    lp_session_options opt;
    test_options(&opt);
    opt.model = model;
    return open_yaml_opt(yaml, &opt, s, err);
}

static lp_session *open_model_ok(const char *yaml, const lp_model *model, amodel *am) {
    lp_session *s = NULL;
    lp_error err;
    int32_t rc = open_with(yaml, model, &s, &err);
    if (rc != LP_OK)
        print_error("unexpected error: %s\n", err.message);
    assert_int_equal(rc, LP_OK);
    if (am != NULL)
        am->h_obs = lp_session_field_handle(s, "obs");
    return s;
}

static void fill_rollout(lp_session *s) {
    lp_error err;
    assert_int_equal(lp_session_epoch_start(s, &err), LP_OK);
    assert_int_equal(lp_session_rollout_start(s, &err), LP_OK);
    lp_tensor obs = lp_session_field(s, lp_session_field_handle(s, "obs"));
    for (int64_t i = 0; i < numel(&obs); i++)
        ((float *)obs.data)[i] = -1.0f - (float)i; /* unlike any of mxprobe's */
    for (int64_t t = 0; t < lp_session_env(s)->horizon; t++)
        assert_int_equal(lp_session_rollout_step(s, t, &err), LP_OK);
}

/* ---- order, gradients, caches ------------------------------------------------ */

static void test_order_and_gradients(void **state) {
    (void)state;
    tlog_reset();
    amodel am = {0};
    lp_model model = am_make(&am);
    lp_session *s = open_model_ok(
        HEAD "losses:\n  - {name: p, plugin: mxprobe, weight: 2.0, params: {grad: 0.5, main_grad: "
             "0.25}}\n",
        &model, &am);
    fill_rollout(s);
    tlog_reset();
    lp_error err;
    lp_train_summary sum = {.struct_size = sizeof sum};
    assert_int_equal(lp_session_train(s, &model, &sum, &err), LP_OK);
    char got[4096];
    tlog_join("", got, sizeof got);
    assert_string_equal(got, "model:forward|model:forward_aux|p: pass:1|model:backward_aux|"
                             "model:backward|model:step|"
                             "model:forward|model:forward_aux|p: pass:2|model:backward_aux|"
                             "model:backward|model:step");
    /* weight 2 * grad 0.5 on [2, 3, 2] logits, twice */
    assert_near(am.aux_grad, 2 * 2.0 * 0.5 * 12, 1e-9);
    /* weight 2 * main_grad 0.25 on the minibatch's [2, 3, 2] logits, twice */
    assert_near(am.main_grad, 2 * 2.0 * 0.25 * 12, 1e-9);
    assert_true(am.aux_obs0 == 200.0f);
    /* The loss is the sum of its pass's logits, (0.1 + 0.2) x the sum of a
     * sample's observations; p/loss is its mean over the two passes. */
    double want = 0.0;
    for (int k = 1; k <= 2; k++)
        for (int r = 0; r < 2; r++)
            for (int t = 0; t < 3; t++)
                want += 0.3 * (3.0 * (100 * k + 10 * r + t) + 3.0 / 8.0) / 2.0;
    double loss;
    assert_int_equal(lp_session_stat(s, "p/loss", &loss), LP_OK);
    assert_near(loss, want, 1e-3);
    lp_session_close(s);
    tlog_reset();
}

static void test_two_passes_in_one_hook(void **state) {
    (void)state;
    tlog_reset();
    amodel am = {0};
    lp_model model = am_make(&am);
    lp_session *s = open_model_ok(
        "buffer: {segments: 2, horizon: 3, minibatch_segments: 2, update_epochs: 1}\n" PROG
        "losses:\n  - {name: p, plugin: mxprobe, params: {mode: twice}}\n",
        &model, &am);
    fill_rollout(s);
    tlog_reset();
    lp_error err;
    assert_int_equal(lp_session_train(s, &model, NULL, &err), LP_OK);
    char got[4096];
    tlog_join("", got, sizeof got);
    assert_string_equal(got,
                        "model:forward|model:forward_aux|p: pass:1|model:backward_aux|"
                        "model:forward_aux|p: pass:2|model:backward_aux|model:backward|model:step");
    assert_near(am.aux_grad, 2 * 0.5 * 12, 1e-9);
    lp_session_close(s);
    tlog_reset();
}

/* ---- recurrent memory ------------------------------------------------------------- */

static void test_memory_is_carried(void **state) {
    (void)state;
    tlog_reset();
    amodel am = {.memory = 2};
    lp_model model = am_make(&am);
    lp_session *s = open_model_ok(
        HEAD "losses:\n  - {name: p, plugin: mxprobe, params: {rows: 3, horizon: 2}}\n", &model,
        &am);
    assert_true(tlog_find("p: memsize:2", 0) >= 0);
    fill_rollout(s);
    lp_error err;
    assert_int_equal(lp_session_train(s, &model, NULL, &err), LP_OK);
    /* Pass 1 starts every row at t = 0 and row 0 again at t = 1:
     * m = x_0(t = 1) = 101 for row 0, x_0(0) + x_0(1) = 201 + 20 r for the
     * others. Pass 2 starts from what pass 1 left: the loss carried it. */
    assert_int_equal(am.aux_fwds, 2);
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < 2; k++) {
            assert_true(am.mem_in[0][r * 2 + k] == 0.0f);
            assert_true(am.mem_out[0][r * 2 + k] == (r == 0 ? 101.0f : 201.0f + 20.0f * (float)r));
            assert_true(am.mem_in[1][r * 2 + k] == am.mem_out[0][r * 2 + k]);
        }
    /* pass 2 (x_0 = 200 + 10 r + t, no start at t = 0): row 0 resets at t = 1 */
    assert_true(am.mem_out[1][0] == 201.0f);
    assert_true(am.mem_out[1][2] == 221.0f + 200.0f + 10.0f + 201.0f + 10.0f);
    lp_session_close(s);
    tlog_reset();
}

static void test_memory_required(void **state) {
    (void)state;
    tlog_reset();
    amodel am = {.memory = 2};
    lp_model model = am_make(&am);
    lp_session *s = open_model_ok(
        HEAD "losses:\n  - {name: p, plugin: mxprobe, params: {mode: nomem}}\n", &model, &am);
    fill_rollout(s);
    lp_error err;
    assert_int_equal(lp_session_train(s, &model, NULL, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "`memory` is NULL but the model keeps 2 floats"));
    lp_session_close(s);
    tlog_reset();
}

/* ---- refusals -------------------------------------------------------------------- */

static void test_outside_train(void **state) {
    (void)state;
    tlog_reset();
    amodel am = {0};
    lp_model model = am_make(&am);
    lp_session *s = open_model_ok(
        HEAD "losses:\n  - {name: p, plugin: mxprobe, params: {mode: epoch_start}}\n", &model, &am);
    lp_error err;
    assert_int_equal(lp_session_epoch_start(s, &err), LP_ESTATE);
    assert_non_null(strstr(err.message, "lossplug.model/1 forward: the model runs on a loss's "
                                        "batch only during that loss's train hook (this is "
                                        "outside lp_session_train)"));
    lp_session_close(s);
    s = open_model_ok(HEAD
                      "losses:\n  - {name: p, plugin: mxprobe, params: {mode: minibatch_end}}\n",
                      &model, &am);
    fill_rollout(s);
    assert_int_equal(lp_session_train(s, &model, NULL, &err), LP_ESTATE);
    assert_non_null(strstr(err.message, "(this is another hook of the train phase)"));
    assert_int_equal(am.aux_fwds, 0);
    lp_session_close(s);
    tlog_reset();
}

static void test_model_without_aux(void **state) {
    (void)state;
    tlog_reset();
    const char *yaml = HEAD "losses:\n  - {name: p, plugin: mxprobe}\n";
    lp_session *s = NULL;
    lp_error err;
    /* no model at open */
    assert_int_equal(open_with(yaml, NULL, &s, &err), LP_EUNSUPPORTED);
    assert_null(s);
    assert_non_null(strstr(err.message, "mxprobe: no lossplug.model/1"));
    assert_non_null(strstr(err.message, "attach"));
    /* a model without the aux callbacks */
    tmodel tm = {0};
    lp_model plain = tmodel_make(&tm);
    assert_int_equal(open_with(yaml, &plain, &s, &err), LP_EUNSUPPORTED);
    assert_non_null(strstr(err.message, "mxprobe: no lossplug.model/1"));
    /* only some of them */
    amodel am = {0};
    lp_model half = am_make(&am);
    half.backward_aux = NULL;
    assert_int_equal(open_with(yaml, &half, &s, &err), LP_EINVAL);
    assert_string_equal(err.message, "lp_session_open: options.model has only some of "
                                     "forward_aux, backward_aux and memory_size: give all three "
                                     "(auxiliary passes) or none");
    tlog_reset();
}

/* ---- the model is handed over once ------------------------------------------------ */

static void test_model_handed_once(void **state) {
    (void)state;
    tlog_reset();
    const char *yaml = HEAD "losses:\n  - {name: p, plugin: mxprobe}\n";
    amodel am = {0};
    lp_model full = am_make(&am);
    lp_session *s = open_model_ok(yaml, &full, &am);
    lp_error err;

    /* Another model (another user, or the same user with other callbacks)
     * is refused before anything runs. */
    tmodel tm = {0};
    lp_model plain = tmodel_make(&tm);
    fill_rollout(s);
    tlog_reset();
    assert_int_equal(lp_session_train(s, &plain, NULL, &err), LP_EINVAL);
    assert_string_equal(err.message,
                        "lp_session_train: the model is not the one given at open "
                        "(lp_session_options.model): its user differs. A session trains the model "
                        "it was opened with: pass NULL (or that same lp_model) here");
    lp_model other = full;
    other.backward_aux = NULL;
    assert_int_equal(lp_session_train(s, &other, NULL, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "its backward_aux differs"));
    assert_int_equal(tm.forwards, 0);
    assert_int_equal(am.aux_fwds, 0);
    char got[256];
    tlog_join("", got, sizeof got);
    assert_string_equal(got, "");
    assert_int_equal(lp_session_epoch(s), 0);

    /* NULL trains the model given at open; so does the same model passed
     * again (a program that passes it twice), even as another copy of the
     * struct. */
    assert_int_equal(lp_session_train(s, NULL, NULL, &err), LP_OK);
    assert_int_equal(am.aux_fwds, 2);
    assert_int_equal(lp_session_epoch(s), 1);
    lp_model copy = am_make(&am);
    fill_rollout(s);
    assert_int_equal(lp_session_train(s, &copy, NULL, &err), LP_OK);
    assert_int_equal(am.aux_fwds, 4);
    assert_int_equal(lp_session_epoch(s), 2);

    /* memory_size is fixed for the model's life: a change is refused at
     * the next auxiliary pass. */
    am.memory = 3;
    fill_rollout(s);
    assert_int_not_equal(lp_session_train(s, NULL, NULL, &err), LP_OK);
    assert_non_null(strstr(err.message, "lossplug.model/1 forward: the model's memory_size "
                                        "returns 3, at open it returned 0: it must not change"));
    lp_session_close(s);

    /* A model given at open without forward (auxiliary passes only): train
     * has nothing to run. */
    am.memory = 0;
    lp_model aux_only = am_make(&am);
    aux_only.forward = NULL;
    s = open_model_ok(yaml, &aux_only, &am);
    fill_rollout(s);
    assert_int_equal(lp_session_train(s, NULL, NULL, &err), LP_EINVAL);
    assert_string_equal(err.message, "lp_session_train: the model given at open "
                                     "(lp_session_options.model) has no forward callback: give it "
                                     "forward (backward and step may be NULL)");
    lp_session_close(s);

    tlog_reset();
}

static void test_bad_batch_and_model_errors(void **state) {
    (void)state;
    tlog_reset();
    amodel am = {0};
    lp_model model = am_make(&am);
    lp_session *s = open_model_ok(
        HEAD "losses:\n  - {name: p, plugin: mxprobe, params: {mode: bad_field}}\n", &model, &am);
    fill_rollout(s);
    lp_error err;
    assert_int_equal(lp_session_train(s, &model, NULL, &err), LP_EINVAL);
    assert_non_null(
        strstr(err.message, "batch field 0 ('obs') is f32[2,4,3], expected f32[2,3,3]"));
    lp_session_close(s);

    s = open_model_ok(HEAD "losses:\n  - {name: p, plugin: mxprobe}\n", &model, &am);
    fill_rollout(s);
    am.fail_fwd_aux = 1;
    assert_int_equal(lp_session_train(s, &model, NULL, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "the model's forward_aux failed: aux weights missing"));
    am.fail_fwd_aux = 0;
    am.fail_bwd_aux = 1;
    fill_rollout(s);
    assert_int_equal(lp_session_train(s, &model, NULL, &err), LP_ENUMERIC);
    assert_non_null(strstr(err.message, "the model's backward_aux failed at epoch 0, update epoch "
                                        "0, minibatch 0, on the batch of instance 'p'"));
    assert_non_null(strstr(err.message, "aux gradient rejected"));
    am.fail_bwd_aux = 0;
    fill_rollout(s);
    assert_int_equal(lp_session_train(s, &model, NULL, &err), LP_OK);
    lp_session_close(s);
    tlog_reset();
}

/* ---- the reference MLP: its minibatch activations survive an aux pass ---------- */

typedef struct grab {
    float *grads;
    size_t count;
    int steps;
} grab;

static int32_t grab_step(void *user, float *params, float *grads, size_t count, const lp_ctx *ctx,
                         lp_error *err) {
    (void)params;
    (void)ctx;
    (void)err;
    grab *g = user;
    memcpy(g->grads, grads, count * sizeof *grads);
    g->count = count;
    g->steps++;
    return LP_OK;
}

static lp_mlp *make_mlp(int64_t max_batch) {
    lp_mlp_options o;
    lp_mlp_options_init(&o);
    o.obs_dim = 3;
    o.num_actions = 2;
    o.seed = 5;
    o.max_batch = max_batch;
    lp_mlp *m = NULL;
    lp_error err;
    assert_int_equal(lp_mlp_create(&o, &m, &err), LP_OK);
    return m;
}

static void test_mlp_cache_survives(void **state) {
    (void)state;
    tlog_reset();
    const char *yaml =
        "buffer: {segments: 2, horizon: 3, minibatch_segments: 2, update_epochs: 1}\n" PROG
        "losses:\n  - {name: p, plugin: mxprobe, params: {rows: 3, horizon: 4, grad: 0.5, "
        "main_grad: -0.25}}\n";
    lp_mlp *mlp = make_mlp(8); /* the probe's 12 samples exceed it: aux has its own */
    grab g = {calloc(lp_mlp_param_count(mlp), sizeof(float)), 0, 0};
    assert_non_null(g.grads);
    lp_mlp_model_options mo;
    lp_mlp_model_options_init(&mo);
    mo.obs_handle = 0; /* fixed below */
    mo.step = grab_step;
    mo.step_user = &g;
    lp_mlp_model *ad = NULL;
    lp_error err;
    assert_int_equal(lp_mlp_model_create(mlp, &mo, &ad, &err), LP_OK);
    lp_model model = lp_mlp_model_callbacks(ad);
    assert_non_null(model.forward_aux);
    assert_int_equal(model.memory_size(model.user), 0);
    lp_session *s = open_model_ok(yaml, &model, NULL);
    assert_int_equal(lp_session_field_handle(s, "obs"), 0);
    fill_rollout(s);
    assert_int_equal(lp_session_train(s, &model, NULL, &err), LP_OK);
    assert_int_equal(g.steps, 1);

    /* The reference: the same MLP, the minibatch's pass alone, then the
     * probe's batch alone, through lp_mlp_forward/backward. */
    lp_mlp *ref = make_mlp(16);
    float mobs[6 * 3], aobs[12 * 3], z[12 * 2], v[12], dz[12 * 2];
    lp_tensor all = lp_session_field(s, 0);
    memcpy(mobs, all.data, sizeof mobs);
    for (int r = 0; r < 3; r++)
        for (int t = 0; t < 4; t++)
            for (int d = 0; d < 3; d++)
                aobs[(r * 4 + t) * 3 + d] = (float)(100 + 10 * r + t) + (float)d / 8.0f;
    assert_int_equal(lp_mlp_forward(ref, mobs, 3, 6, z, v, &err), LP_OK);
    for (int i = 0; i < 12; i++)
        dz[i] = -0.25f;
    assert_int_equal(lp_mlp_backward(ref, mobs, 3, 6, dz, NULL, &err), LP_OK);
    assert_int_equal(lp_mlp_forward(ref, aobs, 3, 12, z, v, &err), LP_OK);
    for (int i = 0; i < 24; i++)
        dz[i] = 0.5f;
    assert_int_equal(lp_mlp_backward(ref, aobs, 3, 12, dz, NULL, &err), LP_OK);
    const float *want = lp_mlp_grads(ref);
    double worst = 0.0;
    for (size_t i = 0; i < g.count; i++) {
        double d = fabs((double)g.grads[i] - (double)want[i]);
        double tol = 1e-4 + 1e-4 * fabs((double)want[i]);
        if (d > tol)
            fail_msg("gradient %zu: %g, reference %g", i, (double)g.grads[i], (double)want[i]);
        worst = d > worst ? d : worst;
    }
    /* and something was learned from both */
    double norm = 0.0;
    for (size_t i = 0; i < g.count; i++)
        norm += fabs((double)want[i]);
    assert_true(norm > 0.0);
    lp_session_close(s);
    lp_mlp_destroy(ref);
    lp_mlp_model_destroy(ad);
    lp_mlp_destroy(mlp);
    free(g.grads);
    tlog_reset();
}

/* ---- the adapters' bind step: one adapter, created before open ----------------- */

static lp_mlp *make_mlp_dims(int64_t obs_dim, int64_t num_actions) {
    lp_mlp_options o;
    lp_mlp_options_init(&o);
    o.obs_dim = obs_dim;
    o.num_actions = num_actions;
    o.seed = 5;
    o.max_batch = 16;
    lp_mlp *m = NULL;
    lp_error err;
    assert_int_equal(lp_mlp_create(&o, &m, &err), LP_OK);
    return m;
}

/* A session of the recorder (no model extension needed) with `outputs` and
 * fields obs, actions, rewards and `more`. */
static lp_session *open_recorder_with(const char *outputs, const char *more) {
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "buffer: {segments: 2, horizon: 3, minibatch_segments: 2, update_epochs: 1}\n"
             "program:\n  observation: {dtype: f32, shape: [3]}\n"
             "  action: {dtype: i32, shape: [], num_actions: 2}\n"
             "  fields: {obs: \"f32[OBS]\", actions: i32, rewards: f32%s}\n"
             "  outputs: %s\n"
             "losses:\n  - {name: r, plugin: recorder}\n",
             more, outputs);
    static const char *const paths[] = {LP_RECORDER_PLUGINS};
    lp_session_options opt;
    test_options(&opt);
    opt.plugin_paths = paths;
    opt.plugin_path_count = 1;
    lp_session *s = NULL;
    lp_error err;
    int32_t rc = open_yaml_opt(yaml, &opt, &s, &err);
    if (rc != LP_OK)
        print_error("unexpected error: %s\n", err.message);
    assert_int_equal(rc, LP_OK);
    return s;
}

static lp_session *open_recorder(const char *outputs) {
    return open_recorder_with(outputs, "");
}

static void test_adapter_bind(void **state) {
    (void)state;
    tlog_reset();
    lp_mlp *mlp = make_mlp_dims(3, 2);
    grab g = {calloc(lp_mlp_param_count(mlp), sizeof(float)), 0, 0};
    assert_non_null(g.grads);
    lp_mlp_model_options mo;
    lp_mlp_model_options_init(&mo);
    mo.bind_later = 1; /* obs_handle -1, as init leaves it: not read */
    mo.step = grab_step;
    mo.step_user = &g;
    lp_mlp_model *ad = NULL;
    lp_error err;
    assert_int_equal(lp_mlp_model_create(mlp, &mo, &ad, &err), LP_OK);
    lp_model model = lp_mlp_model_callbacks(ad);
    assert_int_equal(model.memory_size(model.user), 0);

    /* Not bound yet: every pass is refused, nothing is written. */
    float out[12] = {0};
    lp_tensor ov = {out, LP_DTYPE_F32, 3, {2, 3, 2}, {6, 2, 1}};
    lp_batch mb = {.struct_size = sizeof mb, .output_count = 1, .rows = 2, .horizon = 3};
    assert_int_equal(model.forward(model.user, &mb, &ov, &err), LP_ESTATE);
    assert_string_equal(err.message,
                        "lp_mlp_model forward: the adapter was created with bind_later and is not "
                        "bound: call lp_mlp_model_bind(adapter, session, &err) after "
                        "lp_session_open");
    assert_int_equal(model.forward_aux(model.user, &mb, NULL, NULL, &ov, &err), LP_ESTATE);
    assert_int_equal(model.backward(model.user, &mb, &ov, &err), LP_ESTATE);
    for (int i = 0; i < 12; i++)
        assert_true(out[i] == 0.0f);

    /* Bound to a session whose only output is "logits": values -1, so a
     * forward with one output works. The same adapter, handed over once. */
    lp_session *s = open_recorder("{logits: \"f32[NUM_ACTIONS]\"}");
    assert_int_equal(lp_mlp_model_bind(ad, s, &err), LP_OK);
    fill_rollout(s);
    assert_int_equal(lp_session_train(s, &model, NULL, &err), LP_OK);
    assert_int_equal(g.steps, 1);
    lp_session_close(s);

    /* Refusals name the field or output, its size and the fix; the adapter
     * keeps what it had (a session with obs at handle 0 and logits first). */
    s = open_recorder("{values: f32, pi: \"f32[NUM_ACTIONS]\"}");
    assert_int_equal(lp_mlp_model_bind(ad, s, &err), LP_EINVAL);
    assert_string_equal(err.message,
                        "lp_mlp_model_bind: the session (t.yaml) has no output \"logits\": "
                        "declare it (program.outputs or lp_session_options.outputs, f32 [2]); the "
                        "adapter writes \"logits\" and, when declared, \"values\"");
    lp_session_close(s);
    s = open_recorder("{logits: \"f32[5]\", values: f32}");
    assert_int_equal(lp_mlp_model_bind(ad, s, &err), LP_EINVAL);
    assert_string_equal(err.message,
                        "lp_mlp_model_bind: output \"logits\" of the session (t.yaml) is f32 with "
                        "5 values per sample: the model writes f32 with 2; declare it so");
    lp_session_close(s);
    lp_mlp *wide = make_mlp_dims(4, 2);
    lp_mlp_model *ad4 = NULL;
    assert_int_equal(lp_mlp_model_create(wide, &mo, &ad4, &err), LP_OK);
    s = open_recorder("{logits: \"f32[NUM_ACTIONS]\", values: f32}");
    assert_int_equal(lp_mlp_model_bind(ad4, s, &err), LP_EINVAL);
    assert_string_equal(err.message,
                        "lp_mlp_model_bind: field \"obs\" of the session (t.yaml) is f32 with 3 "
                        "values per step: the model reads f32 with 4; declare it so, or give the "
                        "model that size");
    assert_int_equal(lp_mlp_model_bind(NULL, s, &err), LP_EINVAL);
    assert_int_equal(lp_mlp_model_bind(ad, NULL, &err), LP_EINVAL);
    mo.obs_field = "observation";
    lp_mlp_model *named = NULL;
    assert_int_equal(lp_mlp_model_create(mlp, &mo, &named, &err), LP_OK);
    assert_int_equal(lp_mlp_model_bind(named, s, &err), LP_EINVAL);
    assert_string_equal(err.message,
                        "lp_mlp_model_bind: the session (t.yaml) has no field \"observation\": "
                        "declare the observation field (program.fields or "
                        "lp_session_options.fields), or set obs_field to its name");
    /* The first adapter is still bound to the first session's layout: here
     * values is output 1, which it was not told, and it works as before
     * (only logits written). */
    fill_rollout(s);
    lp_model still = lp_mlp_model_callbacks(ad);
    assert_int_equal(lp_session_train(s, &still, NULL, &err), LP_OK);
    assert_int_equal(g.steps, 2);
    lp_session_close(s);

    lp_mlp_model_destroy(named);
    lp_mlp_model_destroy(ad4);
    lp_mlp_model_destroy(ad);
    lp_mlp_destroy(wide);
    lp_mlp_destroy(mlp);
    free(g.grads);
    tlog_reset();
}

static int32_t keep_params(void *user, float *params, float *grads, size_t count, const lp_ctx *ctx,
                           lp_error *err);

/* A GRU over obs f32[3] and 2 actions, and its adapter created with
 * bind_later and keep_params as the step. */
static lp_gru_model *make_gru_bind_later(int64_t encoder, int64_t memory, uint64_t seed,
                                         int64_t max_batch, lp_gru **gru_out) {
    lp_gru_options go;
    lp_gru_options_init(&go);
    go.obs_dim = 3;
    go.num_actions = 2;
    go.encoder = encoder;
    go.memory = memory;
    go.seed = seed;
    go.max_batch = max_batch;
    lp_error err;
    assert_int_equal(lp_gru_create(&go, gru_out, &err), LP_OK);
    lp_gru_model_options mo;
    lp_gru_model_options_init(&mo);
    mo.bind_later = 1;
    mo.step = keep_params;
    lp_gru_model *ad = NULL;
    assert_int_equal(lp_gru_model_create(*gru_out, &mo, &ad, &err), LP_OK);
    return ad;
}

/* The recurrent adapter: the same step, with its three fields. */
static void test_gru_adapter_bind(void **state) {
    (void)state;
    tlog_reset();
    lp_gru *gru = NULL;
    lp_gru_model *ad = make_gru_bind_later(4, 4, 1, 16, &gru);
    lp_error err;
    lp_model model = lp_gru_model_callbacks(ad);
    assert_int_equal(model.memory_size(model.user), 4); /* what open asks */
    lp_batch mb = {.struct_size = sizeof mb, .rows = 1, .horizon = 1};
    assert_int_equal(model.forward(model.user, &mb, NULL, &err), LP_ESTATE);
    assert_string_equal(err.message,
                        "lp_gru_model forward: the adapter was created with bind_later and is not "
                        "bound: call lp_gru_model_bind(adapter, session, &err) after "
                        "lp_session_open");
    assert_int_equal(model.backward_aux(model.user, &mb, NULL, &err), LP_ESTATE);

    /* dones and memory_start of the wrong kind are refused; absent, they
     * are -1 and a minibatch is refused where the model needs them. */
    lp_session *s =
        open_recorder_with("{logits: \"f32[NUM_ACTIONS]\", values: f32}", ", dones: f32");
    assert_int_equal(lp_gru_model_bind(ad, s, &err), LP_EINVAL);
    assert_string_equal(err.message, "lp_gru_model_bind: field \"dones\" of the session (t.yaml) "
                                     "is f32 with 1 values per step: the model reads u8 with 1; "
                                     "declare it so, or give the model that size");
    lp_session_close(s);
    s = open_recorder_with("{logits: \"f32[NUM_ACTIONS]\", values: f32}",
                           ", dones: u8, memory_start: \"f32[3]\"");
    assert_int_equal(lp_gru_model_bind(ad, s, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "field \"memory_start\" of the session (t.yaml) is f32 "
                                        "with 3 values per step: the model reads f32 with 4"));
    lp_session_close(s);
    s = open_recorder("{logits: \"f32[NUM_ACTIONS]\", values: f32}");
    assert_int_equal(lp_gru_model_bind(ad, s, &err), LP_OK);
    fill_rollout(s);
    assert_int_equal(lp_session_train(s, &model, NULL, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "lp_gru_model forward: the batch has no dones field "
                                        "(handle -1)"));
    lp_session_close(s);
    /* With both: bound, and a train phase runs. */
    s = open_recorder_with("{logits: \"f32[NUM_ACTIONS]\", values: f32}",
                           ", dones: u8, memory_start: \"f32[4]\"");
    assert_int_equal(lp_gru_model_bind(ad, s, &err), LP_OK);
    fill_rollout(s);
    assert_int_equal(lp_session_train(s, &model, NULL, &err), LP_OK);
    lp_session_close(s);
    lp_gru_model_destroy(ad);
    lp_gru_destroy(gru);
    tlog_reset();
}

/* ---- expert_ce, for real: a dataset, the MLP, Adam, a checkpoint ---------------- */

/* M streams of N steps of obs f32[3] uniform in [-1, 1); the expert's action
 * is 1 when x0 + x1 - x2 > 0; an episode starts every 16 steps. */
static void write_expert(const char *path, uint32_t M, uint32_t N) {
    const size_t rs = 20, n = 64 + (size_t)M * N * rs;
    unsigned char *b = calloc(n, 1);
    assert_non_null(b);
    uint64_t x = 12345;
    for (uint32_t t = 0; t < N; t++)
        for (uint32_t e = 0; e < M; e++) {
            unsigned char *p = b + 64 + ((size_t)t * M + e) * rs;
            float o[3];
            for (int k = 0; k < 3; k++) {
                x = x * 6364136223846793005u + 1442695040888963407u;
                o[k] = (float)((double)(x >> 11) / 9007199254740992.0 * 2.0 - 1.0);
                uint32_t bits;
                memcpy(&bits, &o[k], 4);
                lpt_put_le32(p + 4 * k, bits);
            }
            lpt_put_le32(p + 12, o[0] + o[1] - o[2] > 0.0f);
            p[16] = t % 16 == 0;
        }
    memcpy(b, "LPEXPERT", 8);
    lpt_put_le32(b + 8, 1);
    lpt_put_le32(b + 12, 64);
    lpt_put_le32(b + 16, (uint32_t)rs);
    lpt_put_le32(b + 20, 3);
    lpt_put_le32(b + 24, 2);
    lpt_put_le32(b + 28, M);
    lpt_put_le32(b + 32, N);
    lpt_put_le32(b + 40, M * N);
    lpt_put_le32(b + 56, lpt_crc32(b + 64, n - 64));
    lpt_put_le32(b + 60, lpt_crc32(b, 60));
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    free(b);
}

static void test_expert_ce_learns(void **state) {
    (void)state;
    tlog_reset();
    write_expert(LP_SESSION_TMP "/mx_expert.lpx", 4, 64);
    /* A config file next to the dataset: the relative path is its. */
    const char *yaml =
        "buffer: {segments: 2, horizon: 2, minibatch_segments: 2, update_epochs: 4}\n" PROG
        "losses:\n"
        "  - {name: e, plugin: expert_ce, params: {dataset: mx_expert.lpx, steps_per_batch: "
        "8}}\n";
    FILE *f = fopen(LP_SESSION_TMP "/mx_expert.yaml", "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);

    lp_mlp_options o;
    lp_mlp_options_init(&o);
    o.obs_dim = 3;
    o.num_actions = 2;
    const int64_t hidden[1] = {16};
    o.hidden = hidden;
    o.hidden_count = 1;
    o.seed = 3;
    o.max_batch = 4;
    lp_mlp *mlp = NULL;
    lp_error err;
    assert_int_equal(lp_mlp_create(&o, &mlp, &err), LP_OK);
    lp_adam_options ao;
    lp_adam_options_init(&ao);
    ao.lr = 1e-2;
    lp_adam *adam = NULL;
    assert_int_equal(lp_adam_create(&ao, lp_mlp_param_count(mlp), &adam, &err), LP_OK);
    /* As a program does it (and lp_train_run): one adapter, created before
     * open and handed over once, bound to the session's handles after. */
    lp_mlp_model_options mo;
    lp_mlp_model_options_init(&mo);
    mo.bind_later = 1;
    mo.step = lp_adam_step_fn;
    mo.step_user = adam;
    lp_mlp_model *ad = NULL;
    assert_int_equal(lp_mlp_model_create(mlp, &mo, &ad, &err), LP_OK);
    lp_model model = lp_mlp_model_callbacks(ad);

    static const char *const paths[] = {LP_SESSION_PLUGINS, LP_BUILTIN_PLUGINS};
    lp_session_options opt;
    test_options(&opt);
    opt.plugin_paths = paths;
    opt.plugin_path_count = 2;
    opt.model = &model;
    lp_session *s = NULL;
    int32_t rc = lp_session_open(LP_SESSION_TMP "/mx_expert.yaml", &opt, &s, &err);
    if (rc != LP_OK)
        print_error("%s\n", err.message);
    assert_int_equal(rc, LP_OK);
    assert_int_equal(lp_mlp_model_bind(ad, s, &err), LP_OK);
    double ce0 = 0.0, ce = 0.0, acc = 0.0;
    for (int epoch = 0; epoch < 40; epoch++) {
        fill_rollout(s);
        assert_int_equal(lp_session_train(s, NULL, NULL, &err), LP_OK);
        assert_int_equal(lp_session_stat(s, "e/cross_entropy", &ce), LP_OK);
        assert_int_equal(lp_session_stat(s, "e/accuracy", &acc), LP_OK);
        if (epoch == 0)
            ce0 = ce;
    }
    assert_true(ce0 > 0.6); /* about log 2 at the start */
    assert_true(ce < 0.5 * ce0);
    assert_true(acc > 0.85);

    /* 40 epochs x 4 batches of 8 steps: the cursor went round 64 steps */
    assert_int_equal(lp_session_save(s, LP_SESSION_TMP "/mx_expert.ckpt", NULL, 0, &err), LP_OK);
    lp_session *t = NULL;
    assert_int_equal(lp_session_open(LP_SESSION_TMP "/mx_expert.yaml", &opt, &t, &err), LP_OK);
    lp_load_report *rep = NULL;
    rc = lp_session_load(t, LP_SESSION_TMP "/mx_expert.ckpt", NULL, 0, 1, &rep, &err);
    if (rc != LP_OK)
        print_error("%s\n", err.message);
    assert_int_equal(rc, LP_OK);
    int found = 0;
    for (size_t i = 0; i < lp_load_report_count(rep, LP_LOAD_RESTORED); i++) {
        const char *name = lp_load_report_name(rep, LP_LOAD_RESTORED, i);
        found += strcmp(name, "e/cursor") == 0 || strcmp(name, "e/dataset") == 0;
    }
    assert_int_equal(found, 2);
    assert_int_equal(lp_load_report_count(rep, LP_LOAD_MISSING), 0);
    lp_load_report_free(rep);
    lp_session_close(t);
    lp_session_close(s);
    lp_mlp_model_destroy(ad);
    lp_adam_destroy(adam);
    lp_mlp_destroy(mlp);
    tlog_reset();
}

/* ---- expert_ce on the recurrent model: AllenAct's memory, for real --------------
 * The GRU (lossplug/rnn.h) as the session's model; the parameters stay
 * fixed (a step that only clears the gradients), so the memory expert_ce
 * carries has a closed reference: lp_gru_forward along each dataset stream,
 * batch after batch, zeroed where an episode starts. */

static int32_t keep_params(void *user, float *params, float *grads, size_t count, const lp_ctx *ctx,
                           lp_error *err) {
    (void)user, (void)params, (void)grads, (void)count, (void)ctx, (void)err;
    return LP_OK;
}

/* The minibatch's own pass is not under test here (PROG has no dones or
 * memory_start): only the auxiliary passes of the real adapter run. */
static int32_t no_forward(void *user, const lp_batch *mb, const lp_tensor *out, lp_error *err) {
    (void)user, (void)mb, (void)out, (void)err;
    return LP_OK;
}
static int32_t no_backward(void *user, const lp_batch *mb, const lp_tensor *g, lp_error *err) {
    (void)user, (void)mb, (void)g, (void)err;
    return LP_OK;
}

enum { GS = 4, GN = 64, GM = 8, GB = 6 }; /* streams, steps, memory, steps per batch */

/* The dataset's observations of steps [from, from + GB) of every stream
 * (obs f32[3], as write_expert lays them out) and their start flags. */
static void stream_batch(const unsigned char *file, int from, float *obs, uint8_t *starts) {
    for (int e = 0; e < GS; e++)
        for (int k = 0; k < GB; k++) {
            const int t = (from + k) % GN;
            const unsigned char *p = file + 64 + ((size_t)t * GS + (size_t)e) * 20;
            memcpy(obs + ((size_t)e * GB + (size_t)k) * 3, p, 12);
            starts[e * GB + k] = t == 0 ? 1 : p[16];
        }
}

static void test_expert_ce_gru_memory(void **state) {
    (void)state;
    tlog_reset();
    const char *data = LP_SESSION_TMP "/gru_expert.lpx", *cfg = LP_SESSION_TMP "/gru_expert.yaml";
    write_expert(data, GS, GN);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fputs("buffer: {segments: 2, horizon: 2, minibatch_segments: 2, update_epochs: 1}\n" PROG
          "losses:\n"
          "  - {name: e, plugin: expert_ce, params: {dataset: gru_expert.lpx, steps_per_batch: "
          "6}}\n",
          f);
    fclose(f);
    size_t flen = 0;
    unsigned char *file = NULL;
    {
        FILE *r = fopen(data, "rb");
        assert_non_null(r);
        fseek(r, 0, SEEK_END);
        flen = (size_t)ftell(r);
        fseek(r, 0, SEEK_SET);
        file = malloc(flen);
        assert_non_null(file);
        assert_int_equal(fread(file, 1, flen, r), flen);
        fclose(r);
    }

    lp_gru *gru = NULL;
    lp_gru_model *ad = make_gru_bind_later(8, GM, 5, GS * GB, &gru);
    lp_error err;
    lp_model model = lp_gru_model_callbacks(ad);
    model.forward = no_forward;
    model.backward = no_backward;

    static const char *const paths[] = {LP_SESSION_PLUGINS, LP_BUILTIN_PLUGINS};
    lp_session_options opt;
    test_options(&opt);
    opt.plugin_paths = paths;
    opt.plugin_path_count = 2;
    opt.model = &model;
    lp_session *s = NULL;
    int32_t rc = lp_session_open(cfg, &opt, &s, &err);
    if (rc != LP_OK)
        print_error("%s\n", err.message);
    assert_int_equal(rc, LP_OK);
    assert_int_equal(lp_gru_model_bind(ad, s, &err), LP_OK);

    /* The reference, batch by batch from zeros; and each batch from a
     * reset (zero) state instead of the carried one. */
    float ref[4][GS * GM], reset[4][GS * GM];
    float obs[GS * GB * 3], mem[GS * GM] = {0};
    uint8_t starts[GS * GB];
    for (int k = 0; k < 4; k++) {
        stream_batch(file, k * GB, obs, starts);
        float zero[GS * GM] = {0};
        assert_int_equal(lp_gru_forward(gru, obs, 3, GS, GB, starts, zero, NULL, NULL, &err),
                         LP_OK);
        memcpy(reset[k], zero, sizeof zero);
        assert_int_equal(lp_gru_forward(gru, obs, 3, GS, GB, starts, mem, NULL, NULL, &err), LP_OK);
        memcpy(ref[k], mem, sizeof mem);
    }

    const char *ck[4] = {LP_SESSION_TMP "/gru_e1.ckpt", LP_SESSION_TMP "/gru_e2.ckpt",
                         LP_SESSION_TMP "/gru_e3.ckpt", LP_SESSION_TMP "/gru_e3r.ckpt"};
    float got[GS * GM];
    for (int k = 0; k < 3; k++) {
        fill_rollout(s);
        assert_int_equal(lp_session_train(s, NULL, NULL, &err), LP_OK);
        assert_int_equal(lp_session_save(s, ck[k], NULL, 0, &err), LP_OK);
        assert_int_equal(lpt_ckpt_read(ck[k], "e/memory", got, sizeof got), (long)sizeof got);
        double dref = 0, dreset = 0;
        for (int i = 0; i < GS * GM; i++) {
            dref = fmax(dref, fabs(got[i] - ref[k][i]));
            dreset = fmax(dreset, fabs(got[i] - reset[k][i]));
        }
        assert_true(dref < 1e-6);
        /* batches 2 and 3 start inside episodes: carried != reset */
        /* batch 2 (steps 6..11) starts inside an episode: the carried
         * state differs from a reset one; batch 3 (steps 12..17) crosses the
         * episode start at step 16, where the state is zeroed: its final
         * state no longer depends on what was carried in. */
        if (k == 1)
            assert_true(dreset > 1e-3);
        if (k == 2)
            assert_true(dreset == 0.0);
    }

    /* Restored from the epoch-2 checkpoint, the third batch continues from
     * the carried memory, as in the uninterrupted session. */
    lp_session *t = NULL;
    assert_int_equal(lp_session_open(cfg, &opt, &t, &err), LP_OK);
    assert_int_equal(lp_gru_model_bind(ad, t, &err), LP_OK); /* the same layout: unchanged */
    lp_load_report *rep = NULL;
    assert_int_equal(lp_session_load(t, ck[1], NULL, 0, 1, &rep, &err), LP_OK);
    int restored = 0;
    for (size_t i = 0; i < lp_load_report_count(rep, LP_LOAD_RESTORED); i++)
        restored += strcmp(lp_load_report_name(rep, LP_LOAD_RESTORED, i), "e/memory") == 0;
    assert_int_equal(restored, 1);
    lp_load_report_free(rep);
    fill_rollout(t);
    assert_int_equal(lp_session_train(t, NULL, NULL, &err), LP_OK);
    assert_int_equal(lp_session_save(t, ck[3], NULL, 0, &err), LP_OK);
    float again[GS * GM];
    assert_int_equal(lpt_ckpt_read(ck[3], "e/memory", again, sizeof again), (long)sizeof again);
    assert_int_equal(lpt_ckpt_read(ck[2], "e/memory", got, sizeof got), (long)sizeof got);
    assert_memory_equal(again, got, sizeof got);

    lp_session_close(t);
    lp_session_close(s);
    lp_gru_model_destroy(ad);
    lp_gru_destroy(gru);
    free(file);
    tlog_reset();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_gradients),
        cmocka_unit_test(test_two_passes_in_one_hook),
        cmocka_unit_test(test_memory_is_carried),
        cmocka_unit_test(test_memory_required),
        cmocka_unit_test(test_outside_train),
        cmocka_unit_test(test_model_without_aux),
        cmocka_unit_test(test_model_handed_once),
        cmocka_unit_test(test_bad_batch_and_model_errors),
        cmocka_unit_test(test_mlp_cache_survives),
        cmocka_unit_test(test_adapter_bind),
        cmocka_unit_test(test_gru_adapter_bind),
        cmocka_unit_test(test_expert_ce_learns),
        cmocka_unit_test(test_expert_ce_gru_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
