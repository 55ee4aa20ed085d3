/* CartPole dynamics: one step against formulas written here, episode ends at
 * the exact thresholds, truncation, rewards, auto-reset, seeds, snapshots and
 * argument errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cartpole.h"

#define PI 3.14159265358979323846

/* The equations of motion in the textbook arrangement (Florian 2007, eq. 23
 * and 24 with no friction), not Gymnasium's: total mass and pole moment
 * spelled out, the force's sign folded into the numerator. */
static void textbook_step(const double s[4], int action, double out[4]) {
    const double g = 9.8, mc = 1.0, mp = 0.1, l = 0.5, dt = 0.02;
    const double f = action ? 10.0 : -10.0;
    const double th = s[2], w = s[3];
    const double num = g * sin(th) + cos(th) * (-f - mp * l * w * w * sin(th)) / (mc + mp);
    const double den = l * (4.0 / 3.0 - mp * cos(th) * cos(th) / (mc + mp));
    const double thacc = num / den;
    const double xacc = (f + mp * l * (w * w * sin(th) - thacc * cos(th))) / (mc + mp);
    out[0] = s[0] + dt * s[1];
    out[1] = s[1] + dt * xacc;
    out[2] = s[2] + dt * s[3];
    out[3] = s[3] + dt * thacc;
}

/* Gymnasium's expressions in its order of operations: the simulator must
 * agree with these to the last bit. */
static void gymnasium_step(const double s[4], int action, double out[4]) {
    const double total_mass = 0.1 + 1.0, polemass_length = 0.1 * 0.5;
    const double force = action == 1 ? 10.0 : -10.0;
    const double costheta = cos(s[2]), sintheta = sin(s[2]);
    const double temp = (force + polemass_length * pow(s[3], 2) * sintheta) / total_mass;
    const double thetaacc = (9.8 * sintheta - costheta * temp) /
                            (0.5 * (4.0 / 3.0 - 0.1 * pow(costheta, 2) / total_mass));
    const double xacc = temp - polemass_length * thetaacc * costheta / total_mass;
    out[0] = s[0] + 0.02 * s[1];
    out[1] = s[1] + 0.02 * xacc;
    out[2] = s[2] + 0.02 * s[3];
    out[3] = s[3] + 0.02 * thetaacc;
}

typedef struct bufs {
    float obs[64 * 4], final_obs[64 * 4], reward[64], ep_return[64];
    uint8_t term[64], trunc[64];
    int32_t ep_len[64], actions[64];
    cp_step_out out;
} bufs;

static void bufs_init(bufs *b) {
    memset(b, 0xA5, sizeof *b);
    b->out = (cp_step_out){.obs = b->obs,
                           .reward = b->reward,
                           .terminated = b->term,
                           .truncated = b->trunc,
                           .final_obs = b->final_obs,
                           .episode_return = b->ep_return,
                           .episode_length = b->ep_len,
                           .num_finished = -1};
}

static cp_env *make(int32_t n, uint64_t seed, bufs *b) {
    cp_env *env = NULL;
    assert_int_equal(cp_create(&env, n, seed), CP_OK);
    assert_non_null(env);
    bufs_init(b);
    assert_int_equal(cp_reset(env, b->obs), CP_OK);
    return env;
}

/* Steps env 0 of a one-env simulator from s with action a; returns the flags. */
static void step_from(cp_env *env, bufs *b, const double s[4], int32_t elapsed, int a) {
    assert_int_equal(cp_set_state(env, 0, s, elapsed), CP_OK);
    b->actions[0] = a;
    assert_int_equal(cp_step(env, b->actions, &b->out), CP_OK);
}

static void hand_computed_from_rest(void **state) {
    (void)state;
    /* From rest, pushing right: temp = 100/11, thetaacc = -600/41,
     * xacc = 400/41, so x_dot = 8/41 and theta_dot = -12/41 after one step. */
    bufs b;
    cp_env *env = make(1, 1, &b);
    const double rest[4] = {0, 0, 0, 0};
    step_from(env, &b, rest, 0, 1);
    double s[4];
    assert_int_equal(cp_get_state(env, 0, s, NULL), CP_OK);
    assert_true(s[0] == 0.0 && s[2] == 0.0);
    assert_true(fabs(s[1] - 8.0 / 41.0) < 1e-15);
    assert_true(fabs(s[3] + 12.0 / 41.0) < 1e-15);
    assert_true(b.obs[1] == (float)(8.0 / 41.0) && b.obs[3] == (float)(-12.0 / 41.0));
    /* Pushing left mirrors it. */
    step_from(env, &b, rest, 0, 0);
    assert_int_equal(cp_get_state(env, 0, s, NULL), CP_OK);
    assert_true(fabs(s[1] + 8.0 / 41.0) < 1e-15);
    assert_true(fabs(s[3] - 12.0 / 41.0) < 1e-15);
    cp_free(env);
}

static void one_step_matches_references(void **state) {
    (void)state;
    const double starts[][4] = {
        {0.01, -0.02, 0.03, 0.04},     {-0.5, 1.3, -0.15, 2.0},  {1.7, -0.8, 0.2, -1.5},
        {-2.3, -2.5, -0.199, 0.7},     {0.0, 0.0, 0.2094, -3.0}, {2.39, 0.1, -0.05, 0.0},
        {0.049, -0.049, 0.049, 0.049},
    };
    bufs b;
    cp_env *env = make(1, 2, &b);
    for (size_t k = 0; k < sizeof starts / sizeof starts[0]; k++) {
        for (int a = 0; a < 2; a++) {
            double text[4], gym[4], got[4];
            textbook_step(starts[k], a, text);
            gymnasium_step(starts[k], a, gym);
            step_from(env, &b, starts[k], 0, a);
            /* final_obs holds the reached state even if the episode ended. */
            double reached[4];
            if (b.term[0]) {
                for (int j = 0; j < 4; j++)
                    reached[j] = gym[j];
            } else {
                assert_int_equal(cp_get_state(env, 0, got, NULL), CP_OK);
                for (int j = 0; j < 4; j++) {
                    reached[j] = got[j];
                    /* Bit for bit with Gymnasium's order of operations. */
                    assert_memory_equal(&got[j], &gym[j], sizeof(double));
                }
            }
            for (int j = 0; j < 4; j++) {
                double tol = 1e-13 * (1 + fabs(text[j]));
                assert_true(fabs(reached[j] - text[j]) < tol);
                /* float32 observations: the rounding of the double state. */
                assert_true(b.final_obs[j] == (float)gym[j]);
                if (!b.term[0])
                    assert_true(b.obs[j] == (float)gym[j]);
            }
            assert_true(b.reward[0] == 1.0f);
        }
    }
    /* Thousands of states over the whole box: any reordering of Gymnasium's
     * arithmetic shows up as a last-bit difference in some of them. */
    uint64_t lcg = 12345;
    const double span[4] = {2.4, 3.0, 0.2, 3.5};
    for (int k = 0; k < 4000; k++) {
        double s[4], gym[4], got[4];
        for (int j = 0; j < 4; j++) {
            lcg = lcg * 6364136223846793005u + 1442695040888963407u;
            s[j] = span[j] * ((double)(lcg >> 11) * 0x1.0p-53 * 2 - 1);
        }
        gymnasium_step(s, k & 1, gym);
        step_from(env, &b, s, 0, k & 1);
        for (int j = 0; j < 4; j++)
            assert_true(b.final_obs[j] == (float)gym[j]);
        if (b.term[0])
            continue;
        assert_int_equal(cp_get_state(env, 0, got, NULL), CP_OK);
        assert_memory_equal(got, gym, sizeof got);
    }
    cp_free(env);
}

static double theta_threshold(void) {
    return 12 * 2 * PI / 360;
}

/* One step from s with zero velocities leaves the position where it is. */
static int terminates_at(cp_env *env, bufs *b, double x, double theta) {
    const double s[4] = {x, 0.0, theta, 0.0};
    step_from(env, b, s, 0, 1);
    /* The state really was the threshold candidate after the step. */
    assert_true(b->final_obs[0] == (float)x && b->final_obs[2] == (float)theta);
    assert_true(b->term[0] == 0 || b->term[0] == 1);
    assert_int_equal(b->out.num_finished, b->term[0]);
    return b->term[0];
}

static void termination_at_exact_thresholds(void **state) {
    (void)state;
    bufs b;
    cp_env *env = make(1, 3, &b);
    const double th = theta_threshold();
    assert_false(terminates_at(env, &b, 2.4, 0));
    assert_false(terminates_at(env, &b, nextafter(2.4, 0), 0));
    assert_true(terminates_at(env, &b, nextafter(2.4, 3), 0));
    assert_false(terminates_at(env, &b, -2.4, 0));
    assert_true(terminates_at(env, &b, nextafter(-2.4, -3), 0));
    assert_true(terminates_at(env, &b, 2.5, 0));
    assert_false(terminates_at(env, &b, 0, th));
    assert_false(terminates_at(env, &b, 0, nextafter(th, 0)));
    assert_true(terminates_at(env, &b, 0, nextafter(th, 1)));
    assert_false(terminates_at(env, &b, 0, -th));
    assert_true(terminates_at(env, &b, 0, nextafter(-th, -1)));
    /* 12 degrees is 0.20943951...; a tenth of a degree over ends it. */
    assert_true(terminates_at(env, &b, 0, 12.1 * PI / 180));
    assert_false(terminates_at(env, &b, 0, 11.9 * PI / 180));

    /* The check is on the state after the step: moving out ends, moving in
     * does not. */
    const double out_of[4] = {2.39, 1.0, 0, 0}, back_in[4] = {2.41, -1.0, 0, 0};
    step_from(env, &b, out_of, 0, 1);
    assert_int_equal(b.term[0], 1);
    assert_true(b.final_obs[0] > 2.4f);
    step_from(env, &b, back_in, 0, 1);
    assert_int_equal(b.term[0], 0);
    cp_free(env);
}

static void truncation_at_500_with_final_obs(void **state) {
    (void)state;
    bufs b;
    cp_env *env = make(1, 4, &b);
    /* Hold the pole up from the reset: a stabiliser that never fails here. */
    for (int t = 1; t <= CP_MAX_STEPS; t++) {
        double before[4], want[4];
        assert_int_equal(cp_get_state(env, 0, before, NULL), CP_OK);
        cp_teacher_actions(b.obs, 1, b.actions);
        gymnasium_step(before, b.actions[0], want);
        assert_int_equal(cp_step(env, b.actions, &b.out), CP_OK);
        assert_int_equal(b.term[0], 0);
        assert_true(b.reward[0] == 1.0f);
        for (int j = 0; j < 4; j++)
            assert_true(b.final_obs[j] == (float)want[j]);
        if (t < CP_MAX_STEPS) {
            assert_int_equal(b.trunc[0], 0);
            assert_int_equal(b.out.num_finished, 0);
            assert_int_equal(b.ep_len[0], 0);
            assert_true(b.ep_return[0] == 0.0f);
            assert_memory_equal(b.obs, b.final_obs, sizeof(float) * 4);
        } else {
            assert_int_equal(b.trunc[0], 1);
            assert_int_equal(b.out.num_finished, 1);
            assert_int_equal(b.ep_len[0], 500);
            assert_true(b.ep_return[0] == 500.0f);
            /* obs is the next episode's start, final_obs the reached state. */
            assert_memory_not_equal(b.obs, b.final_obs, sizeof(float) * 4);
            int32_t elapsed = -1;
            assert_int_equal(cp_get_state(env, 0, want, &elapsed), CP_OK);
            assert_int_equal(elapsed, 0);
        }
    }
    /* The 500th step that also terminates sets both flags. */
    const double falling[4] = {0, 0, 0.25, 0};
    step_from(env, &b, falling, CP_MAX_STEPS - 1, 1);
    assert_int_equal(b.term[0], 1);
    assert_int_equal(b.trunc[0], 1);
    assert_int_equal(b.ep_len[0], 500);
    assert_true(b.ep_return[0] == 500.0f);
    /* One step earlier it is a plain termination. */
    step_from(env, &b, falling, CP_MAX_STEPS - 2, 1);
    assert_int_equal(b.term[0], 1);
    assert_int_equal(b.trunc[0], 0);
    assert_int_equal(b.ep_len[0], 499);
    cp_free(env);
}

static void rewards_include_the_last_step(void **state) {
    (void)state;
    bufs b;
    const int32_t n = 5;
    cp_env *env = make(n, 5, &b);
    float sum[5] = {0};
    int32_t steps[5] = {0};
    int ended = 0;
    /* Always pushing left topples every pole within a few dozen steps. */
    for (int t = 0; t < 200 && ended < 3 * n; t++) {
        for (int i = 0; i < n; i++)
            b.actions[i] = 0;
        assert_int_equal(cp_step(env, b.actions, &b.out), CP_OK);
        int finished = 0;
        for (int i = 0; i < n; i++) {
            assert_true(b.reward[i] == 1.0f);
            sum[i] += b.reward[i];
            steps[i]++;
            if (b.term[i] || b.trunc[i]) {
                finished++;
                assert_int_equal(b.term[i], 1);
                assert_true(b.ep_return[i] == sum[i]);
                assert_int_equal(b.ep_len[i], steps[i]);
                assert_true(steps[i] > 1 && steps[i] < 100);
                sum[i] = 0;
                steps[i] = 0;
                ended++;
            } else {
                assert_true(b.ep_return[i] == 0.0f);
                assert_int_equal(b.ep_len[i], 0);
            }
        }
        assert_int_equal(b.out.num_finished, finished);
    }
    assert_true(ended >= 3 * n);
    cp_free(env);
}

static void auto_reset_starts_inside_the_reset_box(void **state) {
    (void)state;
    bufs b;
    const int32_t n = 16;
    cp_env *env = make(n, 6, &b);
    int resets = 0;
    for (int t = 0; t < 400; t++) {
        for (int i = 0; i < n; i++)
            b.actions[i] = (t / 7 + i) % 3 == 0; /* mostly left: episodes end */
        assert_int_equal(cp_step(env, b.actions, &b.out), CP_OK);
        for (int i = 0; i < n; i++) {
            if (!(b.term[i] || b.trunc[i]))
                continue;
            resets++;
            double s[4];
            int32_t elapsed = -1;
            assert_int_equal(cp_get_state(env, i, s, &elapsed), CP_OK);
            assert_int_equal(elapsed, 0);
            for (int j = 0; j < 4; j++) {
                assert_true(s[j] > -0.05 && s[j] < 0.05);
                assert_true(b.obs[i * 4 + j] == (float)s[j]);
                assert_true(fabsf(b.obs[i * 4 + j]) <= 0.05f);
            }
            assert_memory_not_equal(b.obs + i * 4, b.final_obs + i * 4, sizeof(float) * 4);
        }
    }
    assert_true(resets > 50);
    /* The reset draws cover the box: each variable reaches both halves'
     * outer fifths over a few thousand resets. */
    double lo[4] = {1, 1, 1, 1}, hi[4] = {-1, -1, -1, -1};
    for (int r = 0; r < 200; r++) {
        assert_int_equal(cp_reset(env, b.obs), CP_OK);
        for (int i = 0; i < n * 4; i++) {
            lo[i % 4] = fmin(lo[i % 4], b.obs[i]);
            hi[i % 4] = fmax(hi[i % 4], b.obs[i]);
        }
    }
    for (int j = 0; j < 4; j++)
        assert_true(lo[j] < -0.04 && hi[j] > 0.04);
    cp_free(env);
}

/* Runs n envs from seed for steps steps with fixed pseudo-random actions and
 * returns a hash of every observation written. */
static uint64_t run_hash(int32_t n, uint64_t seed, int steps, int32_t only) {
    bufs b;
    cp_env *env = make(n, seed, &b);
    uint64_t h = 1469598103934665603u;
    for (int t = 0; t <= steps; t++) {
        for (int32_t i = 0; i < n; i++) {
            if (only >= 0 && i != only)
                continue;
            const unsigned char *p = (const unsigned char *)(b.obs + i * 4);
            for (size_t k = 0; k < 4 * sizeof(float); k++)
                h = (h ^ p[k]) * 1099511628211u;
        }
        if (t == steps)
            break;
        for (int32_t i = 0; i < n; i++)
            b.actions[i] = (int32_t)(((uint32_t)t * 2654435761u >> 7) & 1u);
        assert_int_equal(cp_step(env, b.actions, &b.out), CP_OK);
    }
    cp_free(env);
    return h;
}

static void seeds_reproduce_and_streams_differ(void **state) {
    (void)state;
    assert_true(run_hash(8, 42, 1000, -1) == run_hash(8, 42, 1000, -1));
    assert_true(run_hash(8, 42, 1000, -1) != run_hash(8, 43, 1000, -1));
    /* Env i depends on the seed and i only, not on how many there are. */
    assert_true(run_hash(3, 42, 1000, 2) == run_hash(8, 42, 1000, 2));
    /* Different envs of one seed draw different starts. */
    bufs b;
    cp_env *env = make(16, 42, &b);
    for (int i = 0; i < 16; i++)
        for (int k = i + 1; k < 16; k++)
            assert_memory_not_equal(b.obs + i * 4, b.obs + k * 4, sizeof(float) * 4);
    /* A second reset draws new starts from the same streams. */
    float first[64];
    memcpy(first, b.obs, sizeof first);
    assert_int_equal(cp_reset(env, b.obs), CP_OK);
    assert_memory_not_equal(first, b.obs, sizeof first);
    cp_free(env);
    /* Seed 0 is a seed like any other. */
    assert_true(run_hash(2, 0, 50, -1) == run_hash(2, 0, 50, -1));
    assert_true(run_hash(2, 0, 50, -1) != run_hash(2, 1, 50, -1));
}

static void snapshot_restores_the_future(void **state) {
    (void)state;
    bufs b1, b2;
    const int32_t n = 4;
    cp_env *a = make(n, 7, &b1), *c = make(n, 99, &b2);
    for (int t = 0; t < 123; t++) {
        for (int i = 0; i < n; i++)
            b1.actions[i] = (t + i) % 3 != 0;
        assert_int_equal(cp_step(a, b1.actions, &b1.out), CP_OK);
    }
    size_t size = cp_snapshot_size(a);
    assert_int_equal(size, cp_snapshot_size(c));
    unsigned char *snap = malloc(size), *bad = malloc(size);
    assert_non_null(snap);
    assert_non_null(bad);
    assert_int_equal(cp_snapshot(a, snap, size - 1), CP_EINVAL);
    assert_int_equal(cp_snapshot(a, snap, size), CP_OK);
    assert_int_equal(cp_restore(c, snap, size), CP_OK);
    for (int t = 0; t < 700; t++) {
        for (int i = 0; i < n; i++)
            b1.actions[i] = b2.actions[i] = (t * 7 + i) % 5 < 2;
        assert_int_equal(cp_step(a, b1.actions, &b1.out), CP_OK);
        assert_int_equal(cp_step(c, b2.actions, &b2.out), CP_OK);
        assert_memory_equal(b1.obs, b2.obs, sizeof(float) * 4 * (size_t)n);
        assert_memory_equal(b1.ep_len, b2.ep_len, sizeof(int32_t) * (size_t)n);
        assert_memory_equal(b1.final_obs, b2.final_obs, sizeof(float) * 4 * (size_t)n);
    }
    /* Every corruption is refused and changes nothing. */
    assert_int_equal(cp_snapshot(a, snap, size), CP_OK);
    for (size_t k = 0; k < size; k += 7) {
        memcpy(bad, snap, size);
        bad[k] ^= 0x10;
        assert_int_equal(cp_restore(c, bad, size), CP_EFORMAT);
    }
    assert_int_equal(cp_restore(c, snap, size - 1), CP_EFORMAT);
    cp_env *other = make(n + 1, 7, &b2);
    assert_int_equal(cp_restore(other, snap, size), CP_EFORMAT);
    cp_free(other);
    free(snap);
    free(bad);
    cp_free(a);
    cp_free(c);
}

static void errors_change_nothing(void **state) {
    (void)state;
    cp_env *env = (cp_env *)&env;
    assert_int_equal(cp_create(&env, 0, 1), CP_EINVAL);
    assert_null(env);
    assert_int_equal(cp_create(&env, -3, 1), CP_EINVAL);
    assert_int_equal(cp_create(NULL, 2, 1), CP_EINVAL);
    assert_int_equal(cp_create(&env, 2, 1), CP_OK);
    bufs b;
    bufs_init(&b);
    b.actions[0] = b.actions[1] = 1;
    /* Stepping before a reset is refused. */
    assert_int_equal(cp_step(env, b.actions, &b.out), CP_EINVAL);
    assert_int_equal(cp_reset(env, NULL), CP_OK);
    assert_int_equal(cp_observe(env, b.obs), CP_OK);
    float before[8];
    memcpy(before, b.obs, sizeof before);
    b.actions[1] = 2;
    assert_int_equal(cp_step(env, b.actions, &b.out), CP_EINVAL);
    b.actions[1] = -1;
    assert_int_equal(cp_step(env, b.actions, &b.out), CP_EINVAL);
    b.actions[1] = 0;
    cp_step_out missing = b.out;
    missing.truncated = NULL;
    assert_int_equal(cp_step(env, b.actions, &missing), CP_EINVAL);
    assert_int_equal(cp_step(env, NULL, &b.out), CP_EINVAL);
    assert_int_equal(cp_observe(env, b.obs), CP_OK);
    assert_memory_equal(before, b.obs, sizeof before);
    /* Optional outputs may be NULL. */
    cp_step_out minimal = {
        .obs = b.obs, .reward = b.reward, .terminated = b.term, .truncated = b.trunc};
    assert_int_equal(cp_step(env, b.actions, &minimal), CP_OK);
    assert_int_equal(minimal.num_finished, 0);
    double s[4] = {0, 0, 0, 0};
    assert_int_equal(cp_get_state(env, 2, s, NULL), CP_EINVAL);
    assert_int_equal(cp_set_state(env, 0, s, CP_MAX_STEPS), CP_EINVAL);
    s[1] = NAN;
    assert_int_equal(cp_set_state(env, 0, s, 0), CP_EINVAL);
    assert_int_equal(cp_num_envs(env), 2);
    assert_int_equal(cp_num_envs(NULL), 0);
    assert_string_equal(cp_strerror(CP_EFORMAT), "malformed or truncated data");
    assert_string_equal(cp_strerror(12345), "unknown status");
    cp_free(env);
    cp_free(NULL);
}

static void crc32_check_value(void **state) {
    (void)state;
    assert_int_equal(cp_crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(cp_crc32(cp_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
    assert_int_equal(cp_crc32(0, "", 0), 0u);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hand_computed_from_rest),
        cmocka_unit_test(one_step_matches_references),
        cmocka_unit_test(termination_at_exact_thresholds),
        cmocka_unit_test(truncation_at_500_with_final_obs),
        cmocka_unit_test(rewards_include_the_last_step),
        cmocka_unit_test(auto_reset_starts_inside_the_reset_box),
        cmocka_unit_test(seeds_reproduce_and_streams_differ),
        cmocka_unit_test(snapshot_restores_the_future),
        cmocka_unit_test(errors_change_nothing),
        cmocka_unit_test(crc32_check_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
