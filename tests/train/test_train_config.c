/* lp_train_run's checks before the first step: its own config sections
 * (model, optimizer, trainer) with FILE:LINE:COLUMN errors, the
 * environment's section through its open callback, the program's fields
 * against the config's program section, the options and the environment;
 * errors of the environment's callbacks; and an environment of another
 * shape (not CartPole) without snapshots. */
#include "train_test.h"

#define CARTPOLE_HEAD "buffer: {segments: 4, horizon: 8, minibatch_segments: 2, update_epochs: 1}\n"

#define PPO_LOSSES                                                                                 \
    "losses:\n"                                                                                    \
    "  - {name: gae, plugin: gae}\n"                                                               \
    "  - {name: actor, plugin: ppo}\n"                                                             \
    "  - {name: critic, plugin: value}\n"

/* Run CartPole on `yaml` (written to a file) and expect an error whose
 * message contains `want`. */
static void expect_error(const char *name, const char *yaml, const char *want) {
    const char *path = tmp_path(name);
    write_all(path, yaml);
    lp_train_options o;
    run_log l = {0};
    test_options(&o, &l);
    o.max_steps = 32;
    lp_train_outcome out;
    lp_error err;
    int32_t rc = run_cartpole(path, &o, &out, &err);
    if (rc == LP_OK)
        fail_msg("%s: expected an error containing \"%s\", the run succeeded", name, want);
    if (strstr(err.message, want) == NULL)
        fail_msg("%s: expected \"%s\" in \"%s\"", name, want, err.message);
    assert_int_equal(l.starts, 0); /* nothing ran */
}

static void test_trainer_sections(void **state) {
    (void)state;
    expect_error("m1.yaml", CARTPOLE_HEAD "model: {hiden: [64]}\n" PPO_LOSSES,
                 "m1.yaml:2:9: unknown key 'hiden' in model; did you mean 'hidden'?");
    expect_error("m2.yaml", CARTPOLE_HEAD "model: {activation: sigmoid}\n" PPO_LOSSES,
                 "m2.yaml:2:21: model.activation 'sigmoid' is not a choice; use tanh or relu");
    expect_error("m3.yaml", CARTPOLE_HEAD "model: {hidden: [64, 0]}\n" PPO_LOSSES,
                 "m3.yaml:2:22: model.hidden[1] = 0 is out of range; use an integer in [1, 65536]");
    expect_error("m4.yaml", CARTPOLE_HEAD "model: {shared: yes}\n" PPO_LOSSES,
                 "m4.yaml:2:17: model.shared must be true or false, found 'yes'");
    expect_error("m5.yaml", CARTPOLE_HEAD "model: [64, 64]\n" PPO_LOSSES,
                 "m5.yaml:2:8: model must be a mapping, found a list");
    expect_error("o1.yaml", CARTPOLE_HEAD "optimizer: {lr: \"0.1\"}\n" PPO_LOSSES,
                 "o1.yaml:2:17: optimizer.lr must be a number, found a quoted string; remove the "
                 "quotes");
    expect_error("o2.yaml", CARTPOLE_HEAD "optimizer: {lr: 0}\n" PPO_LOSSES,
                 "o2.yaml:2:17: optimizer.lr = 0 is out of range; use a value in (0, 10]");
    expect_error("o3.yaml", CARTPOLE_HEAD "optimizer:\n  max_grad_norm: -1\n" PPO_LOSSES,
                 "o3.yaml:3:18: optimizer.max_grad_norm = -1 is out of range; use a value >= 0");
    expect_error(
        "o4.yaml", CARTPOLE_HEAD "optimizer: {max_grad_nrom: 1}\n" PPO_LOSSES,
        "o4.yaml:2:13: unknown key 'max_grad_nrom' in optimizer; did you mean 'max_grad_norm'?");
    expect_error("t1.yaml", CARTPOLE_HEAD "trainer: {total_steps: 0}\n" PPO_LOSSES,
                 "t1.yaml:2:24: trainer.total_steps = 0 is out of range");
    expect_error("t2.yaml", CARTPOLE_HEAD "trainer: {target_return: high}\n" PPO_LOSSES,
                 "trainer.target_return must be a number, found 'high'");
    expect_error("t3.yaml", CARTPOLE_HEAD "trainer: {log_every: 0}\n" PPO_LOSSES,
                 "trainer.log_every = 0 is out of range");
    /* Model sizes bounded before anything is allocated: at the widest
     * model.hidden entry, with the size it would need. Two 65536-wide
     * layers (each in range) need about 550 GB; two trunks of 16384 x 16384
     * need 10.75 GB, above an explicit model.max_bytes of 1 GB. The
     * parameter count of [4, 4] on CartPole (4 inputs, 2 actions) by hand:
     * two trunks of (4*4 + 4) + (4*4 + 4), actor 4*2 + 2, critic 4 + 1 = 95. */
    expect_error("s1.yaml", CARTPOLE_HEAD "model: {hidden: [64, 65536, 65536]}\n" PPO_LOSSES,
                 "s1.yaml:2:22: the model would need ");
    expect_error("s2.yaml",
                 CARTPOLE_HEAD
                 "model: {hidden: [16384, 16384], max_bytes: 1000000000}\n" PPO_LOSSES,
                 "s2.yaml:2:18: the model would need 10.75 GB");
    expect_error("s3.yaml", CARTPOLE_HEAD "model: {hidden: [4, 4], max_bytes: 1000}\n" PPO_LOSSES,
                 "(95 parameters, with their gradients, Adam's moments and the work buffers for "
                 "16 rows), more than model.max_bytes, 1.00 kB (1000 bytes); use smaller "
                 "model.hidden "
                 "layers, or raise model.max_bytes");
    /* The host's own sections are still strict; an unknown top level too. */
    expect_error("h1.yaml", CARTPOLE_HEAD "modle: {}\n" PPO_LOSSES,
                 "h1.yaml:2:1: unknown key 'modle' at the top level");
}

static void test_env_section(void **state) {
    (void)state;
    expect_error("e1.yaml", CARTPOLE_HEAD "env: {num_envs: 8}\n" PPO_LOSSES,
                 "e1.yaml:2:17: env.num_envs = 8 but buffer.segments = 4");
    expect_error("e2.yaml", CARTPOLE_HEAD "env:\n  gravity: 9.8\n" PPO_LOSSES,
                 "e2.yaml:3:12: unknown key 'gravity' in env; valid keys: num_envs, seed");
    expect_error("e3.yaml", CARTPOLE_HEAD "env: {seed: -1}\n" PPO_LOSSES,
                 "e3.yaml:2:13: env.seed = -1 is out of range");
}

static void test_program_fields(void **state) {
    (void)state;
    expect_error("p1.yaml",
                 CARTPOLE_HEAD "program:\n  fields: {obs: \"f32[OBS]\", colour: u8}\n" PPO_LOSSES,
                 "p1.yaml:3:29: program.fields.colour is not a field lp_train_run writes");
    expect_error("p2.yaml", CARTPOLE_HEAD "program:\n  fields: {actions: i32}\n" PPO_LOSSES,
                 "program.fields does not declare obs");
    /* A type that differs from what the trainer writes: the session's check. */
    expect_error("p3.yaml",
                 CARTPOLE_HEAD
                 "program:\n  fields: {obs: \"f32[OBS]\", actions: i64, logprobs: "
                 "f32, values: f32, rewards: f32, dones: u8, next_values: f32}\n" PPO_LOSSES,
                 "program.fields.actions is i64 here but i32 in lp_session_options.fields");
    expect_error("p4.yaml", CARTPOLE_HEAD "program:\n  outputs: {values: f32}\n" PPO_LOSSES,
                 "program.outputs does not declare logits");
    /* The losses need a field the config's program section leaves out. */
    expect_error("p5.yaml",
                 CARTPOLE_HEAD "program:\n  fields: {obs: \"f32[OBS]\", actions: i32}\n" PPO_LOSSES,
                 "nobody writes it");
}

/* Teacher fields need an environment with a teacher. */
static void test_teacher_needed(void **state) {
    (void)state;
    const char *path = tmp_path("bc_noteacher.yaml");
    write_all(path, CARTPOLE_HEAD "program:\n  fields: {obs: \"f32[OBS]\", teacher_actions: i32}\n"
                                  "  outputs: {logits: \"f32[NUM_ACTIONS]\"}\n"
                                  "losses:\n  - {plugin: action_supervised}\n");
    cartpole_lp cp;
    lp_env env;
    cartpole_lp_init(&cp, &env);
    env.teacher = NULL;
    lp_train_options o;
    run_log l = {0};
    test_options(&o, &l);
    o.max_steps = 32;
    lp_error err;
    assert_int_not_equal(lp_train_run(path, &o, &env, NULL, &err), LP_OK);
    cartpole_lp_free(&cp);
    assert_non_null(strstr(err.message, "bc_noteacher.yaml:3:29: program.fields.teacher_actions "
                                        "needs a teacher, and the environment has none"));
    /* Without a program section, no teacher fields are declared: the loss
     * that reads one is refused by the session. */
    write_all(path, CARTPOLE_HEAD "losses:\n  - {plugin: action_supervised}\n");
    cartpole_lp_init(&cp, &env);
    env.teacher = NULL;
    assert_int_not_equal(lp_train_run(path, &o, &env, NULL, &err), LP_OK);
    cartpole_lp_free(&cp);
    assert_non_null(strstr(err.message, "teacher_actions"));
}

static void test_bad_arguments(void **state) {
    (void)state;
    cartpole_lp cp;
    lp_env env;
    cartpole_lp_init(&cp, &env);
    lp_train_options o;
    run_log l = {0};
    test_options(&o, &l);
    lp_error err;
    assert_int_equal(lp_train_run(NULL, &o, &env, NULL, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "config path is NULL"));
    o.struct_size = 3;
    assert_int_equal(lp_train_run(example("ppo.yaml"), &o, &env, NULL, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "lp_train_options_init"));
    test_options(&o, &l);
    env.struct_size = 0;
    assert_int_equal(lp_train_run(example("ppo.yaml"), &o, &env, NULL, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "lp_env_init"));
    cartpole_lp_init(&cp, &env);
    env.snapshot = NULL;
    assert_int_equal(lp_train_run(example("ppo.yaml"), &o, &env, NULL, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "2 of the 3 snapshot callbacks"));
    cartpole_lp_free(&cp);
    /* A missing file. */
    cartpole_lp_init(&cp, &env);
    assert_int_equal(lp_train_run(tmp_path("nope.yaml"), &o, &env, NULL, &err), LP_EIO);
    cartpole_lp_free(&cp);
    /* A checkpoint that is not one. */
    write_all(tmp_path("junk.ckpt"), "not a checkpoint\n");
    cartpole_lp_init(&cp, &env);
    o.resume_path = tmp_path("junk.ckpt");
    assert_int_not_equal(lp_train_run(example("ppo.yaml"), &o, &env, NULL, &err), LP_OK);
    cartpole_lp_free(&cp);
    assert_non_null(strstr(err.message, "junk.ckpt"));
}

/* ---- an environment of another shape, without snapshots ---------------------- */

/* One-step episodes: observation [2, 3] of +-1, reward 1 when the action is
 * the sign of the first element. */
typedef struct sign_env {
    int64_t n;
    uint64_t state;
    int fail_at;  /* step call that fails (0: none) */
    int nan_at;   /* step call that gives a NaN to env 3 (0: none) */
    int nan_what; /* 0 its reward, 1 its observation, 2 its episode return */
    int steps;
} sign_env;

static float draw(sign_env *e) {
    e->state = e->state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (e->state >> 63) ? 1.0f : -1.0f;
}

static void fill(sign_env *e, float *obs) {
    for (int64_t i = 0; i < e->n * 6; i++)
        obs[i] = draw(e);
}

static int32_t sign_open(lp_env *env, const lp_env_setup *s, lp_error *err) {
    (void)err;
    sign_env *e = env->user;
    e->n = s->num_envs;
    e->state = (uint64_t)s->seed + 1;
    env->num_envs = s->num_envs;
    env->obs_rank = 2;
    env->obs_shape[0] = 2;
    env->obs_shape[1] = 3;
    env->num_actions = 2;
    return LP_OK;
}

static int32_t sign_reset(void *user, float *obs, lp_error *err) {
    (void)err;
    fill(user, obs);
    return LP_OK;
}

static int32_t sign_step(void *user, const int32_t *actions, const lp_env_step_out *out,
                         lp_error *err) {
    sign_env *e = user;
    if (++e->steps == e->fail_at) {
        snprintf(err->message, sizeof err->message, "the sign machine jammed");
        err->code = LP_EIO;
        return LP_EIO;
    }
    for (int64_t i = 0; i < e->n; i++) {
        float want = out->obs[i * 6] > 0 ? 1.0f : 0.0f;
        out->rewards[i] = (float)actions[i] == want ? 1.0f : 0.0f;
        out->terminated[i] = 1;
        out->truncated[i] = 0;
        memcpy(out->final_obs + i * 6, out->obs + i * 6, 6 * sizeof(float));
        out->episode_returns[i] = out->rewards[i];
        out->episode_lengths[i] = 1;
    }
    fill(e, out->obs);
    if (e->steps == e->nan_at && e->n > 3) {
        float *bad = e->nan_what == 0   ? &out->rewards[3]
                     : e->nan_what == 1 ? &out->obs[3 * 6 + 2]
                                        : &out->episode_returns[3];
        *bad = NAN;
    }
    return LP_OK;
}

static void test_other_env(void **state) {
    (void)state;
    const char *path = tmp_path("sign.yaml");
    write_all(path, "buffer: {segments: 8, horizon: 16, minibatch_segments: 4, update_epochs: 2}\n"
                    "optimizer: {lr: 0.01}\n"
                    "trainer: {return_window: 256}\n" PPO_LOSSES);
    sign_env se = {0};
    lp_env env;
    lp_env_init(&env);
    env.user = &se;
    env.open = sign_open;
    env.reset = sign_reset;
    env.step = sign_step;
    lp_train_options o;
    run_log l = {0};
    test_options(&o, &l);
    o.max_steps = 30 * 128;
    o.checkpoint_path = tmp_path("sign.ckpt");
    lp_train_outcome out;
    lp_error err;
    if (lp_train_run(path, &o, &env, &out, &err) != LP_OK)
        fail_msg("%s", err.message);
    assert_int_equal(out.epochs, 30);
    assert_int_equal(out.episodes, 30 * 128);
    assert_true(out.mean_return > 0.9); /* it learned the sign */

    /* Resume without environment snapshots: the trainer's state comes back,
     * the environment starts afresh. */
    run_log l2 = {0};
    test_options(&o, &l2);
    o.resume_path = tmp_path("sign.ckpt");
    o.checkpoint_path = NULL;
    o.max_steps = 31 * 128;
    se = (sign_env){0};
    if (lp_train_run(path, &o, &env, &out, &err) != LP_OK)
        fail_msg("%s", err.message);
    assert_int_equal(l2.first_epoch, 30);
    assert_int_equal(out.epochs, 31);
    assert_string_equal(l2.missing, "");

    /* A step that fails: its message, with where. */
    se = (sign_env){0};
    se.fail_at = 20;
    test_options(&o, &l2);
    o.max_steps = 10 * 128;
    assert_int_equal(lp_train_run(path, &o, &env, &out, &err), LP_EIO);
    assert_string_equal(err.message, "environment step (epoch 1): the sign machine jammed");

    /* Non-finite values from the environment: refused at the door, naming
     * the environment, the env index and the step (call 20 = epoch 1,
     * step 3 of the horizon of 16). */
    static const char *const what[3] = {"non-finite reward (nan) for env 3",
                                        "non-finite observation (nan) for env 3",
                                        "non-finite episode return (nan) for env 3"};
    for (int k = 0; k < 3; k++) {
        se = (sign_env){0};
        se.nan_at = 20;
        se.nan_what = k;
        run_log l3 = {0};
        test_options(&o, &l3);
        o.max_steps = 10 * 128;
        assert_int_equal(lp_train_run(path, &o, &env, &out, &err), LP_ENUMERIC);
        if (strstr(err.message, "environment 'env': step 3 of epoch 1") == NULL ||
            strstr(err.message, what[k]) == NULL)
            fail_msg("%d: %s", k, err.message);
        assert_int_equal(l3.epochs, 1); /* the second epoch never trained */
    }
}

/* OpenBLAS's own query (libopenblas, linked through liblossplug). */
int openblas_get_num_threads(void);

static void run_ok(const char *name, const char *yaml) {
    const char *path = tmp_path(name);
    write_all(path, yaml);
    lp_train_options o;
    run_log l = {0};
    test_options(&o, &l);
    o.max_steps = 32;
    lp_train_outcome out;
    lp_error err;
    if (run_cartpole(path, &o, &out, &err) != LP_OK)
        fail_msg("%s: %s", name, err.message);
}

/* trainer.blas_threads sets OpenBLAS's thread count; without it the
 * trainer uses one thread unless the environment chose a number. */
static void test_blas_threads(void **state) {
    (void)state;
    expect_error("b1.yaml", CARTPOLE_HEAD "trainer: {blas_threads: 0}\n" PPO_LOSSES,
                 "b1.yaml:2:25: trainer.blas_threads = 0 is out of range");
    run_ok("b2.yaml", CARTPOLE_HEAD "trainer: {blas_threads: 2}\n" PPO_LOSSES);
    assert_int_equal(openblas_get_num_threads(), 2);
    const char *saved = getenv("OPENBLAS_NUM_THREADS");
    char keep[32] = "";
    if (saved != NULL)
        snprintf(keep, sizeof keep, "%s", saved);
    setenv("OPENBLAS_NUM_THREADS", "2", 1); /* the environment's choice stands */
    run_ok("b3.yaml", CARTPOLE_HEAD PPO_LOSSES);
    assert_int_equal(openblas_get_num_threads(), 2);
    unsetenv("OPENBLAS_NUM_THREADS");
    unsetenv("OMP_NUM_THREADS");
    run_ok("b4.yaml", CARTPOLE_HEAD PPO_LOSSES); /* the default: one */
    assert_int_equal(openblas_get_num_threads(), 1);
    if (saved != NULL)
        setenv("OPENBLAS_NUM_THREADS", keep, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blas_threads),   cmocka_unit_test(test_trainer_sections),
        cmocka_unit_test(test_env_section),    cmocka_unit_test(test_program_fields),
        cmocka_unit_test(test_teacher_needed), cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_other_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
