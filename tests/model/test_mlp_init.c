/* lp_mlp initialisation and layout: orthogonal weights with CleanRL's gains
 * (W W^T = gain^2 I when square or wide, W^T W = gain^2 I when tall), zero
 * biases, the same parameters for the same seed (and pinned values, so that
 * a change of the generator or of the draw order shows), the tensor table
 * and its checkpoint views, option errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mlp_ref.h"
#include "model/rng.h"

static lp_mlp *cartpole(uint64_t seed, int shared) {
    lp_mlp_options o;
    lp_mlp_options_init(&o);
    o.obs_dim = 4;
    o.num_actions = 2;
    o.seed = seed;
    o.shared_trunk = shared;
    lp_mlp *m = NULL;
    lp_error err = {0};
    if (lp_mlp_create(&o, &m, &err) != LP_OK)
        fail_msg("lp_mlp_create: %s", err.message);
    return m;
}

/* max |G - gain^2 I| of the Gram matrix of W's rows (or columns when
 * tall). */
static double gram_error(const float *w, int64_t rows, int64_t cols, double gain) {
    int tall = rows > cols;
    int64_t k = tall ? cols : rows, len = tall ? rows : cols;
    double worst = 0.0;
    for (int64_t a = 0; a < k; a++) {
        for (int64_t b = 0; b < k; b++) {
            double s = 0.0;
            for (int64_t e = 0; e < len; e++) {
                double x = tall ? w[e * cols + a] : w[a * cols + e];
                double y = tall ? w[e * cols + b] : w[b * cols + e];
                s += x * y;
            }
            double d = fabs(s - (a == b ? gain * gain : 0.0));
            if (d > worst)
                worst = d;
        }
    }
    return worst;
}

static double expected_gain(const char *name) {
    if (strstr(name, "actor/head") != NULL)
        return 0.01;
    if (strstr(name, "critic/head") != NULL)
        return 1.0;
    return sqrt(2.0);
}

static void check_orthogonal(lp_mlp *m) {
    const float *p = lp_mlp_params(m);
    for (size_t i = 0; i < lp_mlp_tensor_count(m); i++) {
        const lp_mlp_tensor_info *t = lp_mlp_tensor_at(m, i);
        if (t->rank == 1) {
            for (int64_t j = 0; j < t->shape[0]; j++)
                expect_near(p[t->offset + (size_t)j], 0.0, 0.0);
            continue;
        }
        double g = expected_gain(t->name);
        double e = gram_error(p + t->offset, t->shape[0], t->shape[1], g);
        if (e > 2e-6 * (1.0 + g * g))
            fail_msg("%s [%lld, %lld]: Gram matrix off gain^2 I (gain %g) by %g", t->name,
                     (long long)t->shape[0], (long long)t->shape[1], g, e);
    }
}

static void weights_are_orthogonal_with_cleanrl_gains(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        for (int shared = 0; shared <= 1; shared++) {
            lp_mlp *m = cartpole(seed, shared);
            check_orthogonal(m);
            lp_mlp_destroy(m);
        }
    }
    /* Tall, square and wide layers of other sizes, relu. */
    lp_mlp_options o;
    lp_mlp_options_init(&o);
    const int64_t hidden[] = {3, 40, 40, 7};
    o.obs_dim = 11;
    o.num_actions = 9;
    o.hidden = hidden;
    o.hidden_count = 4;
    o.activation = LP_ACTIVATION_RELU;
    lp_mlp *m = NULL;
    assert_int_equal(lp_mlp_create(&o, &m, NULL), LP_OK);
    check_orthogonal(m);
    lp_mlp_destroy(m);
}

/* Not merely orthogonal: a gain-1 head and a hidden layer differ. */
static void gains_are_applied(void **state) {
    (void)state;
    lp_mlp_options o;
    lp_mlp_options_init(&o);
    o.obs_dim = 4;
    o.num_actions = 2;
    o.actor_gain = 0.5;
    o.critic_gain = 3.0;
    o.hidden_gain = 1.0;
    lp_mlp *m = NULL;
    assert_int_equal(lp_mlp_create(&o, &m, NULL), LP_OK);
    const float *p = lp_mlp_params(m);
    for (size_t i = 0; i < lp_mlp_tensor_count(m); i++) {
        const lp_mlp_tensor_info *t = lp_mlp_tensor_at(m, i);
        if (t->rank != 2)
            continue;
        double g = strstr(t->name, "actor/head") ? 0.5 : strstr(t->name, "critic/head") ? 3.0 : 1.0;
        assert_true(gram_error(p + t->offset, t->shape[0], t->shape[1], g) < 1e-5);
        /* and the defaults' gain would not fit */
        assert_true(gram_error(p + t->offset, t->shape[0], t->shape[1], expected_gain(t->name)) >
                    1e-3);
    }
    lp_mlp_destroy(m);
}

static void same_seed_same_parameters(void **state) {
    (void)state;
    lp_mlp *a = cartpole(42, 0), *b = cartpole(42, 0), *c = cartpole(43, 0);
    size_t n = lp_mlp_param_count(a);
    assert_int_equal(memcmp(lp_mlp_params(a), lp_mlp_params(b), n * sizeof(float)), 0);
    assert_int_not_equal(memcmp(lp_mlp_params(a), lp_mlp_params(c), n * sizeof(float)), 0);
    lp_mlp_destroy(a);
    lp_mlp_destroy(b);
    lp_mlp_destroy(c);
}

/* The generator's first outputs, pinned: splitmix64(0)'s first output is
 * the published 0xE220A8397B1DCDAF, and the model's first weights for seed
 * 1 must not drift between versions or machines. */
static void generator_and_draws_are_pinned(void **state) {
    (void)state;
    lp__rng r;
    lp__rng_seed(&r, 0);
    assert_int_equal(r.s[0], 0xE220A8397B1DCDAFull);
    /* Normals: mean 0, variance 1. */
    lp__rng_seed(&r, 7);
    double s = 0.0, s2 = 0.0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double z = lp__rng_normal(&r);
        s += z;
        s2 += z * z;
    }
    expect_near(s / n, 0.0, 0.01);
    expect_near(s2 / n, 1.0, 0.01);

    lp_mlp *m = cartpole(1, 0);
    const float *p = lp_mlp_params(m);
    const float pinned[4] = {-0.265435725f, 0.0116556017f, -0.164455041f, 0.133972943f};
    for (int i = 0; i < 4; i++)
        expect_near(p[i], pinned[i], 1e-6);
    lp_mlp_destroy(m);
}

/* CleanRL's CartPole agent: separate 64-64 trunks, 9155 parameters. */
static void tensor_table_and_views(void **state) {
    (void)state;
    lp_mlp *m = cartpole(1, 0);
    static const struct {
        const char *name;
        int32_t rank;
        int64_t s0, s1;
    } want[] = {
        {"model/actor/0/w", 2, 64, 4},     {"model/actor/0/b", 1, 64, 0},
        {"model/actor/1/w", 2, 64, 64},    {"model/actor/1/b", 1, 64, 0},
        {"model/actor/head/w", 2, 2, 64},  {"model/actor/head/b", 1, 2, 0},
        {"model/critic/0/w", 2, 64, 4},    {"model/critic/0/b", 1, 64, 0},
        {"model/critic/1/w", 2, 64, 64},   {"model/critic/1/b", 1, 64, 0},
        {"model/critic/head/w", 2, 1, 64}, {"model/critic/head/b", 1, 1, 0},
    };
    const size_t nw = sizeof want / sizeof want[0];
    assert_int_equal(lp_mlp_tensor_count(m), nw);
    assert_int_equal(lp_mlp_param_count(m), 9155);
    size_t off = 0;
    for (size_t i = 0; i < nw; i++) {
        const lp_mlp_tensor_info *t = lp_mlp_tensor_at(m, i);
        assert_string_equal(t->name, want[i].name);
        assert_int_equal(t->rank, want[i].rank);
        assert_int_equal(t->shape[0], want[i].s0);
        if (t->rank == 2)
            assert_int_equal(t->shape[1], want[i].s1);
        assert_int_equal(t->offset, off); /* contiguous, in table order */
        off += (size_t)(t->rank == 2 ? t->shape[0] * t->shape[1] : t->shape[0]);
    }
    assert_int_equal(off, lp_mlp_param_count(m));
    assert_null(lp_mlp_tensor_at(m, nw));

    lp_named_tensor views[16];
    assert_int_equal(lp_mlp_named_params(m, views, 16), nw);
    assert_int_equal(lp_mlp_named_params(m, views, 2), nw); /* count even when capped */
    assert_int_equal(lp_mlp_named_params(m, views, 16), nw);
    for (size_t i = 0; i < nw; i++) {
        const lp_mlp_tensor_info *t = lp_mlp_tensor_at(m, i);
        assert_string_equal(views[i].name, t->name);
        assert_ptr_equal(views[i].view.data, lp_mlp_params(m) + t->offset);
        assert_int_equal(views[i].view.dtype, LP_DTYPE_F32);
        assert_int_equal(views[i].view.rank, t->rank);
        assert_int_equal(views[i].view.shape[0], t->shape[0]);
        assert_int_equal(views[i].view.strides[t->rank - 1], 1);
        if (t->rank == 2)
            assert_int_equal(views[i].view.strides[0], t->shape[1]);
    }
    lp_mlp_destroy(m);

    /* Shared trunk: "trunk" layers, then both heads. */
    m = cartpole(1, 1);
    assert_string_equal(lp_mlp_tensor_at(m, 0)->name, "model/trunk/0/w");
    assert_string_equal(lp_mlp_tensor_at(m, 4)->name, "model/actor/head/w");
    assert_string_equal(lp_mlp_tensor_at(m, 6)->name, "model/critic/head/w");
    assert_int_equal(lp_mlp_param_count(m), 320 + 4160 + 130 + 65);
    lp_mlp_destroy(m);
}

static void option_errors(void **state) {
    (void)state;
    lp_mlp_options o;
    lp_mlp *m = (lp_mlp *)&o; /* must be reset to NULL on error */
    lp_error err = {0};
    lp_mlp_options_init(&o);
    assert_int_equal(lp_mlp_create(&o, &m, &err), LP_EINVAL); /* obs_dim unset */
    assert_null(m);
    assert_non_null(strstr(err.message, "obs_dim"));
    o.obs_dim = 4;
    assert_int_equal(lp_mlp_create(&o, &m, &err), LP_EINVAL); /* num_actions unset */
    assert_non_null(strstr(err.message, "num_actions"));
    o.num_actions = 2;
    o.activation = 7;
    assert_int_equal(lp_mlp_create(&o, &m, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "LP_ACTIVATION_TANH"));
    o.activation = LP_ACTIVATION_TANH;
    o.hidden = NULL;
    assert_int_equal(lp_mlp_create(&o, &m, &err), LP_EINVAL);
    const int64_t bad[2] = {64, 0};
    o.hidden = bad;
    assert_int_equal(lp_mlp_create(&o, &m, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "hidden[1]"));
    o.hidden_count = LP_MLP_MAX_HIDDEN + 1;
    assert_int_equal(lp_mlp_create(&o, &m, &err), LP_EINVAL);
    o.hidden_count = 1;
    o.max_batch = 0;
    assert_int_equal(lp_mlp_create(&o, &m, &err), LP_EINVAL);
    o.max_batch = 8;
    o.critic_gain = NAN;
    assert_int_equal(lp_mlp_create(&o, &m, &err), LP_EINVAL);
    o.critic_gain = 1.0;
    o.struct_size = 8;
    assert_int_equal(lp_mlp_create(&o, &m, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "lp_mlp_options_init"));
    o.struct_size = sizeof o;
    assert_int_equal(lp_mlp_create(NULL, &m, &err), LP_EINVAL);
    assert_int_equal(lp_mlp_create(&o, NULL, &err), LP_EINVAL);
    assert_int_equal(lp_mlp_create(&o, &m, NULL), LP_OK); /* err may be NULL */
    assert_non_null(m);
    lp_mlp_destroy(m);
    lp_mlp_destroy(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(weights_are_orthogonal_with_cleanrl_gains),
        cmocka_unit_test(gains_are_applied),
        cmocka_unit_test(same_seed_same_parameters),
        cmocka_unit_test(generator_and_draws_are_pinned),
        cmocka_unit_test(tensor_table_and_views),
        cmocka_unit_test(option_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
