/* lp_mlp's policy heads per action space (docs/model.md): the BOX head's
 * means and state-independent log-stds against a naive double loop, its
 * backward (every parameter, the log-stds included) against central finite
 * differences; the log-std tensor in the table and the checkpoint views;
 * the multi-discrete head as one linear head of sum(nvec) logits; option
 * errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mlp_ref.h"

typedef struct box_case {
    int64_t obs_dim, dims;
    size_t hidden_count;
    int64_t hidden[3];
    int32_t activation;
    int32_t shared;
    uint64_t seed;
} box_case;

static lp_mlp *make_box(const box_case *c, int64_t max_batch, double actor_gain, ref_net *r) {
    lp_mlp_options o;
    lp_mlp_options_init(&o);
    o.obs_dim = c->obs_dim;
    o.num_actions = 2 * c->dims;
    o.action_space = LP_ACTION_BOX;
    o.hidden = c->hidden;
    o.hidden_count = c->hidden_count;
    o.activation = c->activation;
    o.shared_trunk = c->shared;
    o.seed = c->seed;
    o.max_batch = max_batch;
    o.actor_gain = actor_gain;
    lp_mlp *m = NULL;
    lp_error err = {0};
    if (lp_mlp_create(&o, &m, &err) != LP_OK)
        fail_msg("lp_mlp_create: %s", err.message);
    memset(r, 0, sizeof *r);
    r->obs_dim = c->obs_dim;
    r->num_actions = c->dims; /* the head: the means */
    r->hidden_count = c->hidden_count;
    memcpy(r->hidden, c->hidden, sizeof c->hidden);
    r->relu = c->activation == LP_ACTIVATION_RELU;
    r->shared = c->shared;
    r->m = m;
    return m;
}

/* The Gaussian policy output [n, 2 * dims] (means, then the log-std
 * parameters found by name) and values [n], in double. */
static int ref_box_forward(const ref_net *r, const double *p, const double *obs, int64_t n,
                           double *out, double *values) {
    const int64_t d = r->num_actions;
    const lp_mlp_tensor_info *ls = ref_tensor(r, "model/actor/log_std");
    if (ls == NULL || ls->rank != 1 || ls->shape[0] != d)
        return -1;
    for (int64_t s = 0; s < n; s++) {
        double ha[256], hc[256];
        int64_t wa, wc;
        const double *x = obs + s * r->obs_dim;
        if (ref_trunk(r, p, r->shared ? "trunk" : "actor", x, ha, &wa) != 0 ||
            ref_trunk(r, p, r->shared ? "trunk" : "critic", x, hc, &wc) != 0 ||
            ref_affine(r, p, "actor", "head", wa, d, ha, out + s * 2 * d) != 0 ||
            ref_affine(r, p, "critic", "head", wc, 1, hc, values + s) != 0)
            return -1;
        for (int64_t j = 0; j < d; j++)
            out[s * 2 * d + d + j] = p[ls->offset + (size_t)j];
    }
    return 0;
}

static double ref_box_loss(const ref_net *r, const double *p, const double *obs, int64_t n,
                           const double *dout, const double *dv) {
    const int64_t w = 2 * r->num_actions;
    double out[8 * 16], v[8];
    if (n > 8 || w > 16 || ref_box_forward(r, p, obs, n, out, v) != 0)
        return NAN;
    double L = 0.0;
    for (int64_t i = 0; i < n * w; i++)
        L += dout[i] * out[i];
    for (int64_t i = 0; i < n; i++)
        L += dv[i] * v[i];
    return L;
}

static void perturb(lp_mlp *m, uint64_t seed) {
    float *p = lp_mlp_params(m);
    for (size_t i = 0; i < lp_mlp_param_count(m); i++)
        p[i] += (float)(0.2 * ref_rand(&seed));
}

static double *as_double(lp_mlp *m) {
    size_t n = lp_mlp_param_count(m);
    double *p = malloc(n * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = lp_mlp_params(m)[i];
    return p;
}

static void check_box_case(const box_case *c) {
    const int64_t n = 7, w = 2 * c->dims;
    ref_net r;
    lp_mlp *m = make_box(c, n, 1.0, &r);
    perturb(m, c->seed + 3);
    uint64_t s = c->seed * 131 + 7;
    float obs[7 * 8], out[7 * 16], v[7], doutf[7 * 16], dvf[7];
    double obsd[7 * 8], rout[7 * 16], rv[7], dout[7 * 16], dv[7];
    for (int64_t i = 0; i < n * c->obs_dim; i++)
        obsd[i] = obs[i] = (float)(1.5 * ref_rand(&s));
    for (int64_t i = 0; i < n * w; i++)
        dout[i] = doutf[i] = (float)ref_rand(&s);
    for (int64_t i = 0; i < n; i++)
        dv[i] = dvf[i] = (float)ref_rand(&s);
    lp_error err = {0};
    assert_int_equal(lp_mlp_forward(m, obs, c->obs_dim, n, out, v, &err), LP_OK);
    double *p = as_double(m);
    assert_int_equal(ref_box_forward(&r, p, obsd, n, rout, rv), 0);
    for (int64_t i = 0; i < n * w; i++)
        expect_near(out[i], rout[i], 1e-5 * (1.0 + fabs(rout[i])));
    for (int64_t i = 0; i < n; i++)
        expect_near(v[i], rv[i], 1e-5 * (1.0 + fabs(rv[i])));

    assert_int_equal(lp_mlp_backward(m, obs, c->obs_dim, n, doutf, dvf, &err), LP_OK);
    const float *g = lp_mlp_grads(m);
    const double h = 1e-6;
    double worst = 0.0;
    size_t worst_i = 0;
    for (size_t i = 0; i < lp_mlp_param_count(m); i++) {
        double keep = p[i];
        p[i] = keep + h;
        double lp = ref_box_loss(&r, p, obsd, n, dout, dv);
        p[i] = keep - h;
        double lm = ref_box_loss(&r, p, obsd, n, dout, dv);
        p[i] = keep;
        double num = (lp - lm) / (2.0 * h);
        double e = fabs(num - g[i]) / (1e-3 + fabs(num));
        if (e > worst) {
            worst = e;
            worst_i = i;
        }
    }
    if (worst > 2e-3)
        fail_msg("box head: gradient of parameter %zu off by %g (relative) (obs %lld, dims %lld, "
                 "%zu hidden, %s, seed %llu)",
                 worst_i, worst, (long long)c->obs_dim, (long long)c->dims, c->hidden_count,
                 c->shared ? "shared" : "separate", (unsigned long long)c->seed);
    /* The log-std gradient is the column sum of the second half. */
    const lp_mlp_tensor_info *ls = ref_tensor(&r, "model/actor/log_std");
    for (int64_t j = 0; j < c->dims; j++) {
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++)
            sum += dout[i * w + c->dims + j];
        expect_near(g[ls->offset + (size_t)j], sum, 1e-5 * (1.0 + fabs(sum)));
    }
    free(p);
    lp_mlp_destroy(m);
}

static void box_head_forward_and_finite_differences(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 2; seed++) {
        for (int shared = 0; shared <= 1; shared++) {
            box_case a = {3, 1, 2, {6, 5}, LP_ACTIVATION_TANH, shared, seed}; /* Pendulum's shape */
            check_box_case(&a);
            box_case b = {5, 3, 2, {7, 4}, LP_ACTIVATION_RELU, shared, seed + 4};
            check_box_case(&b);
        }
        box_case linear = {4, 2, 0, {0}, LP_ACTIVATION_TANH, 0, seed};
        check_box_case(&linear);
    }
}

/* CleanRL's ppo_continuous_action: log-std 0 (std 1) at the start, the mean
 * head small (orthogonal gain 0.01), the log-std saved with the model. */
static void box_head_init_and_tensors(void **state) {
    (void)state;
    box_case c = {3, 2, 2, {64, 64}, LP_ACTIVATION_TANH, 0, 9};
    ref_net r;
    lp_mlp *m = make_box(&c, 4, 0.01, &r);
    const lp_mlp_tensor_info *ls = ref_tensor(&r, "model/actor/log_std");
    assert_non_null(ls);
    const float *p = lp_mlp_params(m);
    for (int64_t j = 0; j < 2; j++)
        assert_true(p[ls->offset + (size_t)j] == 0.0f);
    const lp_mlp_tensor_info *hw = ref_tensor(&r, "model/actor/head/w");
    assert_non_null(hw);
    assert_int_equal(hw->shape[0], 2); /* the means only */
    double sq = 0.0;
    for (int64_t i = 0; i < hw->shape[0] * hw->shape[1]; i++)
        sq += (double)p[hw->offset + (size_t)i] * p[hw->offset + (size_t)i];
    /* orthogonal rows scaled by 0.01: each row has norm 0.01 */
    expect_near(sqrt(sq / (double)hw->shape[0]), 0.01, 1e-6);
    /* the tensors tile the flat array, log_std right after the head's bias */
    size_t covered = 0;
    for (size_t i = 0; i < lp_mlp_tensor_count(m); i++) {
        const lp_mlp_tensor_info *t = lp_mlp_tensor_at(m, i);
        assert_int_equal(t->offset, covered);
        covered += (size_t)(t->rank == 2 ? t->shape[0] * t->shape[1] : t->shape[0]);
    }
    assert_int_equal(covered, lp_mlp_param_count(m));
    const lp_mlp_tensor_info *hb = ref_tensor(&r, "model/actor/head/b");
    assert_int_equal(ls->offset, hb->offset + 2);
    lp_named_tensor views[16];
    size_t nv = lp_mlp_named_params(m, views, 16);
    int found = 0;
    for (size_t i = 0; i < nv; i++)
        if (strcmp(views[i].name, "model/actor/log_std") == 0) {
            found = 1;
            assert_int_equal(views[i].view.rank, 1);
            assert_int_equal(views[i].view.shape[0], 2);
            assert_ptr_equal(views[i].view.data, lp_mlp_params(m) + ls->offset);
        }
    assert_true(found);
    lp_mlp_destroy(m);

    /* log_std_init */
    lp_mlp_options o;
    lp_mlp_options_init(&o);
    o.obs_dim = 3;
    o.num_actions = 2;
    o.action_space = LP_ACTION_BOX;
    o.log_std_init = -0.5;
    lp_error err = {0};
    assert_int_equal(lp_mlp_create(&o, &m, &err), LP_OK);
    float out[2], v;
    float x[3] = {0.1f, 0.2f, 0.3f};
    assert_int_equal(lp_mlp_forward(m, x, 3, 1, out, &v, &err), LP_OK);
    assert_true(out[1] == -0.5f);
    lp_mlp_destroy(m);
}

/* A multi-discrete head is one linear head of sum(nvec) logits: the same
 * parameters, draw for draw, as a discrete head of that width. */
static void multi_discrete_is_one_concatenated_head(void **state) {
    (void)state;
    lp_mlp_options o;
    lp_mlp_options_init(&o);
    o.obs_dim = 6;
    o.num_actions = 4 + 2; /* nvec {4, 2} */
    o.seed = 5;
    lp_mlp *d = NULL, *md = NULL;
    lp_error err = {0};
    assert_int_equal(lp_mlp_create(&o, &d, &err), LP_OK);
    o.action_space = LP_ACTION_MULTI_DISCRETE;
    assert_int_equal(lp_mlp_create(&o, &md, &err), LP_OK);
    assert_int_equal(lp_mlp_param_count(d), lp_mlp_param_count(md));
    assert_memory_equal(lp_mlp_params(d), lp_mlp_params(md), lp_mlp_param_count(d) * sizeof(float));
    assert_int_equal(lp_mlp_tensor_count(d), lp_mlp_tensor_count(md));
    lp_mlp_destroy(d);
    lp_mlp_destroy(md);
}

static void head_option_errors(void **state) {
    (void)state;
    lp_mlp_options o;
    lp_mlp_options_init(&o);
    o.obs_dim = 3;
    o.num_actions = 3;
    o.action_space = LP_ACTION_BOX;
    lp_mlp *m = NULL;
    lp_error err = {0};
    assert_int_equal(lp_mlp_create(&o, &m, &err), LP_EINVAL);
    assert_null(m);
    assert_non_null(strstr(err.message, "even width"));
    o.num_actions = 2;
    o.log_std_init = NAN;
    assert_int_equal(lp_mlp_create(&o, &m, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "log_std_init"));
    o.log_std_init = 0.0;
    o.action_space = 7;
    assert_int_equal(lp_mlp_create(&o, &m, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "action_space"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(box_head_forward_and_finite_differences),
        cmocka_unit_test(box_head_init_and_tensors),
        cmocka_unit_test(multi_discrete_is_one_concatenated_head),
        cmocka_unit_test(head_option_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
