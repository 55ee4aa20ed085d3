/* The scripted teacher: it solves CartPole-v1 (mean return >= 475 over 100
 * episodes), while simple non-controllers measured the same way do not; its
 * logits agree with its actions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cartpole.h"

enum { N = 10, EPISODES = 100 };

typedef void (*policy_fn)(const float *obs, int32_t n, int32_t *actions, int t);

static void teacher(const float *obs, int32_t n, int32_t *actions, int t) {
    (void)t;
    cp_teacher_actions(obs, n, actions);
}

static void always_right(const float *obs, int32_t n, int32_t *actions, int t) {
    (void)obs;
    (void)t;
    for (int32_t i = 0; i < n; i++)
        actions[i] = 1;
}

/* Alternating pushes keep the cart near the middle but do not balance. */
static void alternate(const float *obs, int32_t n, int32_t *actions, int t) {
    (void)obs;
    for (int32_t i = 0; i < n; i++)
        actions[i] = t & 1;
}

/* The teacher with its angle gain's sign flipped: pushes the wrong way. */
static void flipped(const float *obs, int32_t n, int32_t *actions, int t) {
    (void)t;
    for (int32_t i = 0; i < n; i++) {
        float o[4];
        memcpy(o, obs + 4 * i, sizeof o);
        o[2] = -o[2];
        o[3] = -o[3];
        cp_teacher_actions(o, 1, actions + i);
    }
}

/* The mean return of the first EPISODES episodes to end over N envs. */
static double mean_return(policy_fn policy, uint64_t seed, float *min_return) {
    cp_env *env = NULL;
    assert_int_equal(cp_create(&env, N, seed), CP_OK);
    float obs[N * 4], reward[N], ret[N];
    uint8_t term[N], trunc[N];
    int32_t actions[N], len[N];
    cp_step_out out = {.obs = obs,
                       .reward = reward,
                       .terminated = term,
                       .truncated = trunc,
                       .episode_return = ret,
                       .episode_length = len};
    assert_int_equal(cp_reset(env, obs), CP_OK);
    int episodes = 0;
    double sum = 0;
    *min_return = 1e9f;
    for (int t = 0; episodes < EPISODES; t++) {
        assert_true(t < 100000);
        policy(obs, N, actions, t);
        assert_int_equal(cp_step(env, actions, &out), CP_OK);
        for (int i = 0; i < N && episodes < EPISODES; i++) {
            if (!(term[i] || trunc[i]))
                continue;
            assert_true(ret[i] == (float)len[i]);
            sum += ret[i];
            *min_return = fminf(*min_return, ret[i]);
            episodes++;
        }
    }
    cp_free(env);
    return sum / EPISODES;
}

static void teacher_solves_cartpole(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        float worst;
        double m = mean_return(teacher, seed, &worst);
        print_message("teacher, seed %d: mean return %.2f over %d episodes, worst %.0f\n",
                      (int)seed, m, EPISODES, (double)worst);
        assert_true(m >= 475.0);
    }
}

static void non_controllers_do_not(void **state) {
    (void)state;
    float worst;
    assert_true(mean_return(always_right, 1, &worst) < 50.0);
    assert_true(mean_return(alternate, 1, &worst) < 475.0);
    assert_true(mean_return(flipped, 1, &worst) < 100.0);
}

static void teacher_pushes_under_the_falling_pole(void **state) {
    (void)state;
    /* Pole leaning or swinging right: push right; mirrored: push left. */
    const float obs[] = {
        0, 0, 0.05f, 0, 0, 0, 0, 0.5f, 0, 0, -0.05f, 0, 0, 0, 0, -0.5f,
    };
    int32_t a[4] = {-1, -1, -1, -1};
    cp_teacher_actions(obs, 4, a);
    assert_int_equal(a[0], 1);
    assert_int_equal(a[1], 1);
    assert_int_equal(a[2], 0);
    assert_int_equal(a[3], 0);
    /* The documented rule, push right iff k . obs > 0, on observations of
     * every size down to a hair's breadth from the switching plane. */
    for (int k = 0; k < 2000; k++) {
        float o[4];
        double scale = pow(10.0, -(k % 7));
        for (int j = 0; j < 4; j++)
            o[j] = (float)(scale * sin(1.7 * k + 2.3 * j + 0.1 * k * j));
        double dot = (double)CP_TEACHER_K_X * o[0] + (double)CP_TEACHER_K_X_DOT * o[1] +
                     (double)CP_TEACHER_K_THETA * o[2] + (double)CP_TEACHER_K_THETA_DOT * o[3];
        if (fabs(dot) < 1e-5 * scale)
            continue; /* float and double may disagree on the sign this close */
        int32_t act = -1;
        cp_teacher_actions(o, 1, &act);
        assert_int_equal(act, dot > 0 ? 1 : 0);
    }
    /* Each gain against the angle's: a unit of variable j balanced by the
     * angle that cancels it, give or take 1%, decides the push. */
    const float k[4] = {CP_TEACHER_K_X, CP_TEACHER_K_X_DOT, CP_TEACHER_K_THETA,
                        CP_TEACHER_K_THETA_DOT};
    for (int j = 0; j < 4; j++) {
        if (j == 2)
            continue;
        for (int side = -1; side <= 1; side += 2) {
            float o[4] = {0, 0, 0, 0};
            o[j] = 1.0f;
            o[2] = -(k[j] / k[2]) * (1.0f + 0.01f * (float)side);
            int32_t act = -1;
            cp_teacher_actions(o, 1, &act);
            assert_int_equal(act, side < 0 ? 1 : 0);
        }
    }
}

static void logits_agree_with_actions(void **state) {
    (void)state;
    cp_env *env = NULL;
    assert_int_equal(cp_create(&env, 64, 11), CP_OK);
    float obs[64 * 4], logits[64 * 2];
    int32_t actions[64];
    int seen[2] = {0, 0};
    for (int r = 0; r < 10; r++) {
        assert_int_equal(cp_reset(env, obs), CP_OK);
        cp_teacher_actions(obs, 64, actions);
        memset(logits, 0, sizeof logits);
        cp_teacher_logits(obs, 64, CP_TEACHER_LOGIT_SCALE, logits);
        for (int i = 0; i < 64; i++) {
            int a = actions[i];
            seen[a]++;
            assert_true(logits[2 * i + a] == CP_TEACHER_LOGIT_SCALE);
            assert_true(logits[2 * i + 1 - a] == -CP_TEACHER_LOGIT_SCALE);
        }
    }
    assert_true(seen[0] > 100 && seen[1] > 100);
    /* The documented probabilities: sigmoid(2c/T). */
    const double c = CP_TEACHER_LOGIT_SCALE;
    assert_true(fabs(1 / (1 + exp(-2 * c / 1.0)) - 0.982) < 5e-4);
    assert_true(fabs(1 / (1 + exp(-2 * c / 2.0)) - 0.881) < 5e-4);
    cp_free(env);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(teacher_solves_cartpole),
        cmocka_unit_test(non_controllers_do_not),
        cmocka_unit_test(teacher_pushes_under_the_falling_pole),
        cmocka_unit_test(logits_agree_with_actions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
