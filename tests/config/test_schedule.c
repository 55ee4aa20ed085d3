/* Schedules: enable rules by epoch, step and cycle; annealing shapes. */
#include "cfg_test.h"

#include <math.h>

static lp__enable_rule rule(void) {
    lp__enable_rule r;
    memset(&r, 0, sizeof r);
    r.to_epoch = INT64_MAX;
    r.to_step = INT64_MAX;
    return r;
}

static void test_epoch_range(void **state) {
    (void)state;
    lp__enable_rule r = rule();
    r.from_epoch = 10;
    r.to_epoch = 20;
    assert_false(lp__rule_matches(&r, 9, 0));
    assert_true(lp__rule_matches(&r, 10, 0));
    assert_true(lp__rule_matches(&r, 19, 123456));
    assert_false(lp__rule_matches(&r, 20, 0));
    r.to_epoch = INT64_MAX; /* open end */
    assert_true(lp__rule_matches(&r, INT64_MAX - 1, 0));
}

static void test_step_range(void **state) {
    (void)state;
    lp__enable_rule r = rule();
    r.from_step = 100;
    r.to_step = 200;
    assert_false(lp__rule_matches(&r, 5, 99));
    assert_true(lp__rule_matches(&r, 5, 100));
    assert_true(lp__rule_matches(&r, 0, 199));
    assert_false(lp__rule_matches(&r, 0, 200));
    /* Both bounds in one rule: all must hold. */
    r.to_epoch = 3;
    assert_true(lp__rule_matches(&r, 2, 150));
    assert_false(lp__rule_matches(&r, 3, 150));
}

static void test_cycles(void **state) {
    (void)state;
    lp__enable_rule r = rule();
    r.every_epochs = 10;
    r.on_epochs = 2;
    int on[25];
    for (int e = 0; e < 25; e++)
        on[e] = lp__rule_matches(&r, e, 0);
    for (int e = 0; e < 25; e++)
        assert_int_equal(on[e], e % 10 < 2);
    /* Bounded and counted from from_epoch. */
    r.from_epoch = 5;
    r.to_epoch = 30;
    assert_false(lp__rule_matches(&r, 4, 0));
    assert_true(lp__rule_matches(&r, 5, 0));
    assert_true(lp__rule_matches(&r, 6, 0));
    assert_false(lp__rule_matches(&r, 7, 0));
    assert_true(lp__rule_matches(&r, 15, 0));
    assert_true(lp__rule_matches(&r, 26, 0));
    assert_false(lp__rule_matches(&r, 27, 0));
    assert_false(lp__rule_matches(&r, 35, 0));
}

static void test_phases_from_config(void **state) {
    (void)state;
    lp__config *cfg = cfg_ok(CFG_BUFFER "losses:\n  - plugin: ppo\n    schedule:\n"
                                        "      rollout: [{to_epoch: 5}]\n"
                                        "      train: [{from_epoch: 10, to_epoch: 20}, "
                                        "{from_step: 1000}]\n"
                                        "  - plugin: off\n    schedule: {train: []}\n"
                                        "  - plugin: always\n");
    const lp__schedule *s = &cfg->losses[0].schedule;
    assert_true(lp__schedule_enabled(s, LP_PHASE_ROLLOUT, 4, 0));
    assert_false(lp__schedule_enabled(s, LP_PHASE_ROLLOUT, 5, 0));
    assert_false(lp__schedule_enabled(s, LP_PHASE_TRAIN, 4, 999));
    assert_true(lp__schedule_enabled(s, LP_PHASE_TRAIN, 4, 1000)); /* second rule */
    assert_true(lp__schedule_enabled(s, LP_PHASE_TRAIN, 12, 0));   /* first rule */
    assert_false(lp__schedule_enabled(s, LP_PHASE_TRAIN, 20, 0));
    assert_false(lp__schedule_enabled(s, LP_PHASE_ROLLOUT | LP_PHASE_TRAIN, 0, 0));
    const lp__schedule *off = &cfg->losses[1].schedule;
    assert_false(lp__schedule_enabled(off, LP_PHASE_TRAIN, 0, 0));
    assert_true(lp__schedule_enabled(off, LP_PHASE_ROLLOUT, 0, 0));
    const lp__schedule *always = &cfg->losses[2].schedule;
    assert_true(lp__schedule_enabled(always, LP_PHASE_TRAIN, 123, 456));
    assert_true(lp__schedule_enabled(always, LP_PHASE_ROLLOUT, 0, 0));
    lp__config_free(cfg);
}

static lp__anneal_rule anneal(int32_t clock, int32_t shape, int64_t start, int64_t end, double to) {
    lp__anneal_rule r;
    memset(&r, 0, sizeof r);
    r.clock = clock;
    r.shape = shape;
    r.start = start;
    r.end = end;
    r.to = to;
    return r;
}

static void test_linear(void **state) {
    (void)state;
    lp__anneal_rule r = anneal(LP__ANNEAL_BY_EPOCH, LP__ANNEAL_LINEAR, 100, 200, 0.0);
    assert_true(lp__anneal_value(&r, 1.0, 0, 999999) == 1.0); /* before */
    assert_true(lp__anneal_value(&r, 1.0, 100, 0) == 1.0);    /* start */
    assert_true(lp__anneal_value(&r, 1.0, 150, 0) == 0.5);    /* middle */
    assert_true(lp__anneal_value(&r, 1.0, 125, 0) == 0.75);
    assert_true(lp__anneal_value(&r, 1.0, 200, 0) == 0.0);  /* end */
    assert_true(lp__anneal_value(&r, 1.0, 5000, 0) == 0.0); /* after */
    /* Upwards too, and by steps (epochs are ignored). */
    lp__anneal_rule u = anneal(LP__ANNEAL_BY_STEP, LP__ANNEAL_LINEAR, 0, 1000, 3.0);
    assert_true(lp__anneal_value(&u, 1.0, 999, 0) == 1.0);
    assert_true(lp__anneal_value(&u, 1.0, 0, 500) == 2.0);
    assert_true(lp__anneal_value(&u, 1.0, 0, 1000) == 3.0);
    assert_true(lp__anneal_value(&u, 1.0, 0, -5) == 1.0);
}

/* Rounding never takes a value past either end (abi.h: an annealed value
 * stays in the param's range, whose ends the configured value and the
 * target are). The unclamped formulas overshoot in both cases below. */
static void test_stays_between(void **state) {
    (void)state;
    const double base = -0.5045226072838558, to = 2.0547860339982614e-16;
    /* (double)(end - 1) / (double)end rounds to 1: base + (to - base) * 1
     * is 2.220446049250313e-16, above `to`. */
    const int64_t end = INT64_C(1) << 62;
    lp__anneal_rule r = anneal(LP__ANNEAL_BY_STEP, LP__ANNEAL_LINEAR, 0, end, to);
    assert_true(base + (to - base) * ((double)(end - 1) / (double)end) > to);
    double v = lp__anneal_value(&r, base, 0, end - 1);
    assert_true(v >= base && v <= to);
    /* Cosine one step in: to + (base - to) * c with c just below 1 lands
     * above `base`. */
    const double cb = 7.556747911954893e-19, ct = -2.1237639075546663e-10;
    lp__anneal_rule c = anneal(LP__ANNEAL_BY_STEP, LP__ANNEAL_COSINE, 0, 1000000000, ct);
    const double pi = 3.14159265358979323846;
    assert_true(ct + (cb - ct) * 0.5 * (1.0 + cos(pi * 1e-9)) > cb);
    v = lp__anneal_value(&c, cb, 0, 1);
    assert_true(v >= ct && v <= cb);
}

static void test_cosine(void **state) {
    (void)state;
    lp__anneal_rule r = anneal(LP__ANNEAL_BY_EPOCH, LP__ANNEAL_COSINE, 0, 100, 0.0);
    assert_true(lp__anneal_value(&r, 2.0, 0, 0) == 2.0);
    assert_float_equal(lp__anneal_value(&r, 2.0, 50, 0), 1.0, 1e-12);
    /* A quarter of the way: to + (base - to) * (1 + cos(pi/4)) / 2. */
    assert_float_equal(lp__anneal_value(&r, 2.0, 25, 0), 1.0 + sqrt(0.5), 1e-12);
    assert_float_equal(lp__anneal_value(&r, 2.0, 75, 0), 1.0 - sqrt(0.5), 1e-12);
    assert_true(lp__anneal_value(&r, 2.0, 100, 0) == 0.0);
    assert_true(lp__anneal_value(&r, 2.0, 101, 0) == 0.0);
    assert_true(lp__anneal_value(&r, 2.0, -1, 0) == 2.0);
    /* Cosine starts slower than linear. */
    lp__anneal_rule l = r;
    l.shape = LP__ANNEAL_LINEAR;
    assert_true(lp__anneal_value(&r, 2.0, 10, 0) > lp__anneal_value(&l, 2.0, 10, 0));
    assert_true(lp__anneal_value(&r, 2.0, 90, 0) < lp__anneal_value(&l, 2.0, 90, 0));
}

static void test_apply(void **state) {
    (void)state;
    lp__anneal_rule r = anneal(LP__ANNEAL_BY_EPOCH, LP__ANNEAL_LINEAR, 0, 4, 0.0);
    r.to_is_int = 1;
    r.to_int = 0;
    lp_value base = {LP_PARAM_INT, 0, 10, 0, NULL}, cur;
    lp__anneal_apply(&r, &base, &cur, 1, 0);
    assert_int_equal(cur.type, LP_PARAM_INT);
    assert_int_equal(cur.i, 8); /* 7.5 rounds away from zero */
    lp__anneal_apply(&r, &base, &cur, 3, 0);
    assert_int_equal(cur.i, 3); /* 2.5 */
    lp__anneal_apply(&r, &base, &cur, 9, 0);
    assert_int_equal(cur.i, 0);
    lp__anneal_apply(&r, &base, &cur, 0, 0);
    assert_int_equal(cur.i, 10);
    base.i = INT64_MAX; /* exact at the ends, whatever doubles can hold */
    lp__anneal_apply(&r, &base, &cur, 0, 0);
    assert_true(cur.i == INT64_MAX);

    lp_value fb = {LP_PARAM_FLOAT, 0, 0, 1.0, NULL};
    lp__anneal_apply(&r, &fb, &cur, 2, 0);
    assert_int_equal(cur.type, LP_PARAM_FLOAT);
    assert_true(cur.f == 0.5);
    lp_value sb = {LP_PARAM_STRING, 0, 0, 0, "x"};
    lp__anneal_apply(&r, &sb, &cur, 2, 0);
    assert_ptr_equal(cur.s, sb.s);
    assert_int_equal(cur.type, LP_PARAM_STRING);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_epoch_range),   cmocka_unit_test(test_step_range),
        cmocka_unit_test(test_cycles),        cmocka_unit_test(test_phases_from_config),
        cmocka_unit_test(test_linear),        cmocka_unit_test(test_cosine),
        cmocka_unit_test(test_stays_between), cmocka_unit_test(test_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
