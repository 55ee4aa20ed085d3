/* The training loop (lp_train_run) on CartPole, a few epochs per case:
 * swapping losses by config with the same binaries, resuming a ppo.yaml
 * checkpoint under distill.yaml, a resumed run continuing bit for bit, the
 * stop conditions, SIGINT, progress events and the printer. */
#include "../support/lpt_ckpt_patch.h"
#include "train_test.h"

#define PPO_EPOCH 512 /* 4 envs x 128 steps */

/* ppo.yaml, then a2c.yaml: the same program and plugins, other losses. */
static void test_swap_losses(void **state) {
    (void)state;
    lp_error err;
    lp_train_outcome out;
    run_log l = {0};
    l.stat_name = "actor/clipfrac";
    lp_train_options o;
    test_options(&o, &l);
    o.max_steps = 3 * PPO_EPOCH;
    assert_int_equal(run_cartpole(example("ppo.yaml"), &o, &out, &err), LP_OK);
    assert_int_equal(out.epochs, 3);
    assert_int_equal(out.env_steps, 3 * PPO_EPOCH);
    assert_int_equal(out.stop_reason, LP_TRAIN_STOP_BUDGET);
    assert_int_equal(l.epochs, 3);
    assert_int_equal(l.stat_seen, 3); /* ppo's stat */
    assert_true(isfinite(l.last_loss));

    run_log l2 = {0};
    l2.stat_name = "actor/clipfrac";
    test_options(&o, &l2);
    o.max_steps = 3 * 128; /* a2c.yaml: 8 envs x 16 steps */
    assert_int_equal(run_cartpole(example("a2c.yaml"), &o, &out, &err), LP_OK);
    assert_int_equal(out.epochs, 3);
    assert_int_equal(l2.epochs, 3);
    assert_int_equal(l2.stat_seen, 0); /* a2c has no clipfrac */
    assert_true(isfinite(l2.last_loss));

    /* bc.yaml and ppo_target_kl.yaml run too. */
    run_log l3 = {0};
    test_options(&o, &l3);
    o.max_steps = 2 * PPO_EPOCH;
    assert_int_equal(run_cartpole(example("bc.yaml"), &o, &out, &err), LP_OK);
    assert_int_equal(out.epochs, 2);
    assert_int_equal(run_cartpole(example("ppo_target_kl.yaml"), &o, &out, &err), LP_OK);
    assert_int_equal(out.epochs, 2);
    assert_int_equal(l3.minibatches, 2 * 8 + 2 * 40); /* bc: 2 x 4; ppo_target_kl: 10 x 4 */

    /* target_kl stops the phase: a copy of ppo_target_kl.yaml with a tiny
     * target stops after the first update epoch, every time. */
    size_t len = 0;
    char *text = read_all(example("ppo_target_kl.yaml"), &len);
    assert_non_null(text);
    char *at = strstr(text, "target_kl: 0.01}");
    assert_non_null(at);
    memcpy(at, "target_kl: 1e-9}", 16);
    write_all(tmp_path("tiny_kl.yaml"), text);
    free(text);
    run_log l4 = {0};
    test_options(&o, &l4);
    o.max_steps = 3 * PPO_EPOCH;
    assert_int_equal(run_cartpole(tmp_path("tiny_kl.yaml"), &o, &out, &err), LP_OK);
    assert_int_equal(l4.early_stops, 3);
    assert_int_equal(l4.minibatches, 3 * 4);
}

static int contains_name(const char *list, const char *name) {
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return 0;
}

/* A ppo.yaml checkpoint resumed under distill.yaml: the instances whose
 * names match get their state back, the others are reported. */
/* lp_train_options.registry reaches the session: its directories are
 * searched, the trainer's own search fields are not read. */
static void test_registry_options(void **state) {
    (void)state;
    lp_error err;
    lp_train_outcome out;
    run_log l = {0};
    lp_train_options o;
    test_options(&o, &l);
    lp_registry_options ro;
    lp_registry_options_init(&ro);
    ro.plugin_paths = test_plugin_dirs;
    ro.plugin_path_count = 2;
    ro.use_env_path = 0;
    ro.use_install_dir = 0;
    o.registry = &ro;
    o.plugin_paths = NULL; /* not read */
    o.plugin_path_count = 0;
    o.max_steps = PPO_EPOCH;
    assert_int_equal(run_cartpole(example("ppo.yaml"), &o, &out, &err), LP_OK);
    assert_int_equal(out.epochs, 1);
    /* Without the build's plugins the config's losses are unknown. */
    static const char *const none[] = {LP_TRAIN_TMP};
    ro.plugin_paths = none;
    ro.plugin_path_count = 1;
    o.plugin_paths = test_plugin_dirs; /* still not read */
    o.plugin_path_count = 2;
    assert_int_equal(run_cartpole(example("ppo.yaml"), &o, &out, &err), LP_ECONFIG);
    assert_non_null(strstr(err.message, "unknown plugin"));
}

static void test_resume_under_distill(void **state) {
    (void)state;
    lp_error err;
    lp_train_outcome out;
    /* Two probe instances with registered state on each side: one shared
     * name, one only in the checkpoint, one only in the new run. */
    const char *ppo = example_plus("ppo.yaml", "ppo_tally.yaml",
                                   "  - {name: tally_shared, plugin: probe, weight: 0.0}\n"
                                   "  - {name: tally_ppo, plugin: probe, weight: 0.0}\n");
    const char *distill = example_plus("distill.yaml", "distill_tally.yaml",
                                       "  - {name: tally_shared, plugin: probe, weight: 0.0}\n"
                                       "  - {name: tally_distill, plugin: probe, weight: 0.0}\n");
    const char *ckpt = tmp_path("ppo_for_distill.ckpt");
    run_log l = {0};
    lp_train_options o;
    test_options(&o, &l);
    o.max_steps = 3 * PPO_EPOCH;
    o.checkpoint_path = ckpt;
    assert_int_equal(run_cartpole(ppo, &o, &out, &err), LP_OK);
    assert_int_equal(l.checkpoints, 1); /* at the end */

    run_log l2 = {0};
    test_options(&o, &l2);
    o.max_steps = 5 * PPO_EPOCH;
    o.resume_path = ckpt;
    if (run_cartpole(distill, &o, &out, &err) != LP_OK)
        fail_msg("%s", err.message);
    assert_int_equal(l2.resumes, 1);
    assert_int_equal(l2.first_epoch, 3); /* the counters came back */
    assert_int_equal(out.epochs, 5);
    assert_int_equal(l2.epochs, 2);
    assert_true(contains_name(l2.restored, "tally_shared/counter"));
    assert_true(contains_name(l2.restored, "model/actor/0/w"));
    assert_true(contains_name(l2.restored, "optimizer/m"));
    assert_true(contains_name(l2.restored, "trainer/rng"));
    assert_true(contains_name(l2.restored, "env/snapshot"));
    assert_string_equal(l2.unexpected, "tally_ppo/counter");
    assert_string_equal(l2.missing, "tally_distill/counter");
    assert_string_equal(l2.mismatched, "");

    /* Strict: the tally instances differ, so the load is refused and says
     * which entries. */
    run_log l3 = {0};
    test_options(&o, &l3);
    o.resume_strict = 1;
    o.resume_path = ckpt;
    o.max_steps = 6 * PPO_EPOCH;
    assert_int_not_equal(run_cartpole(distill, &o, &out, &err), LP_OK);
    assert_non_null(strstr(err.message, "tally_"));

    /* The shipped files as they are: everything matches. */
    const char *plain = tmp_path("ppo_plain.ckpt");
    run_log l4 = {0};
    test_options(&o, &l4);
    o.max_steps = 3 * PPO_EPOCH;
    o.checkpoint_path = plain;
    assert_int_equal(run_cartpole(example("ppo.yaml"), &o, &out, &err), LP_OK);
    run_log l5 = {0};
    test_options(&o, &l5);
    o.max_steps = 4 * PPO_EPOCH;
    o.resume_path = plain;
    o.resume_strict = 1;
    if (run_cartpole(example("distill.yaml"), &o, &out, &err) != LP_OK)
        fail_msg("%s", err.message);
    assert_int_equal(l5.resumes, 1);
    assert_string_equal(l5.missing, "");
    assert_string_equal(l5.unexpected, "");
    assert_int_equal(out.epochs, 4);
}

static int files_equal(const char *a, const char *b) {
    size_t la = 0, lb = 0;
    char *ta = read_all(a, &la), *tb = read_all(b, &lb);
    int eq = ta != NULL && tb != NULL && la == lb && memcmp(ta, tb, la) == 0;
    free(ta);
    free(tb);
    return eq;
}

/* Lines `from`.. of a text file (0-based, the header is line 0). */
static char *lines_from(const char *path, int from) {
    size_t len = 0;
    char *t = read_all(path, &len);
    assert_non_null(t);
    char *p = t;
    for (int i = 0; i < from; i++) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    char *r = malloc(strlen(p) + 1);
    assert_non_null(r);
    strcpy(r, p);
    free(t);
    return r;
}

/* Drop the last field of every CSV line in place: the trainer's
 * env_steps_per_second, registered last, is wall time, not the run's state. */
static void drop_last_field(char *text) {
    char *w = text;
    for (char *line = text; *line != '\0';) {
        char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        char *comma = NULL;
        for (char *c = line; c < line + len; c++)
            if (*c == ',')
                comma = c;
        size_t keep = comma != NULL ? (size_t)(comma - line) : len;
        memmove(w, line, keep);
        w += keep;
        if (end == NULL)
            break;
        *w++ = '\n';
        line = end + 1;
    }
    *w = '\0';
}

/* Six epochs straight, and three + a resume for three more: the same
 * checkpoint bytes and the same stats for the last three epochs (but the
 * wall-time column). `epoch` is the config's env steps per epoch. */
static void resume_bit_for_bit(const char *config, int64_t epoch, const char *tag) {
    lp_error err;
    lp_train_outcome out;
    char names[6][64];
    const char *kinds[6] = {"straight.ckpt", "half.ckpt", "resumed.ckpt",
                            "straight.csv",  "half.csv",  "resumed.csv"};
    for (int i = 0; i < 6; i++)
        snprintf(names[i], sizeof names[i], "%s_%s", tag, kinds[i]);
    const char *straight = tmp_path(names[0]), *half = tmp_path(names[1]),
               *resumed = tmp_path(names[2]);
    const char *s_straight = tmp_path(names[3]), *s_half = tmp_path(names[4]),
               *s_resumed = tmp_path(names[5]);
    remove(s_straight);
    remove(s_half);
    remove(s_resumed);
    run_log l = {0};
    lp_train_options o;
    test_options(&o, &l);
    o.seed_set = 1;
    o.seed = 7;
    o.max_steps = 6 * epoch;
    o.checkpoint_path = straight;
    o.stats_path = s_straight;
    assert_int_equal(run_cartpole(config, &o, &out, &err), LP_OK);
    assert_int_equal(out.epochs, 6);

    o.max_steps = 3 * epoch;
    o.checkpoint_path = half;
    o.stats_path = s_half;
    assert_int_equal(run_cartpole(config, &o, &out, &err), LP_OK);
    assert_int_equal(out.epochs, 3);

    o.max_steps = 6 * epoch;
    o.checkpoint_path = resumed;
    o.stats_path = s_resumed;
    o.resume_path = half;
    assert_int_equal(run_cartpole(config, &o, &out, &err), LP_OK);
    assert_int_equal(out.epochs, 6);

    assert_true(files_equal(straight, resumed));
    assert_false(files_equal(straight, half));
    char *a = lines_from(s_straight, 4), *b = lines_from(s_resumed, 1);
    drop_last_field(a);
    drop_last_field(b);
    assert_string_equal(a, b);
    free(a);
    free(b);
}

static void test_resume_bit_for_bit(void **state) {
    (void)state;
    resume_bit_for_bit(example("ppo.yaml"), PPO_EPOCH, "ppo");
}

/* The recurrent model: the environments' states (trainer/memory) and the
 * stored start states make the resumed run the same as the straight one. */
static void test_resume_bit_for_bit_gru(void **state) {
    (void)state;
    /* ppo_gru.yaml with 2 update epochs instead of 20 (the same code paths;
     * 20 would cost minutes under valgrind). */
    size_t len = 0;
    char *text = read_all(example("ppo_gru.yaml"), &len);
    assert_non_null(text);
    char *at = strstr(text, "update_epochs: 20,");
    assert_non_null(at);
    memcpy(at, "update_epochs:  2,", 18);
    write_all(tmp_path("gru_2epochs.yaml"), text);
    free(text);
    resume_bit_for_bit(tmp_path("gru_2epochs.yaml"), 16 * 32, "gru");
}

/* The update recomputes whole rows from the stored start states exactly as
 * the rollout computed them: with one update epoch of one minibatch the
 * update's parameters are the rollout's, so PPO's approx_kl, old_approx_kl
 * and clipfrac are 0 up to float rounding (the rollout runs one step of 16
 * rows at a time, the update 16 rows x 32 steps). A start state stored one
 * step late, or another row's, moves them to 2e-4 and more. */
static void test_gru_recompute_matches_rollout(void **state) {
    (void)state;
    size_t len = 0;
    char *text = read_all(example("ppo_gru.yaml"), &len);
    assert_non_null(text);
    char *at = strstr(text, "update_epochs: 20,");
    assert_non_null(at);
    memcpy(at, "update_epochs:  1,", 18);
    const char *cfg = tmp_path("gru_1epoch.yaml"), *stats = tmp_path("gru_1epoch.csv");
    write_all(cfg, text);
    free(text);
    remove(stats);
    lp_error err;
    lp_train_outcome out;
    run_log l = {0};
    lp_train_options o;
    test_options(&o, &l);
    o.seed_set = 1;
    o.seed = 5;
    o.max_steps = 12 * 16 * 32;
    o.stats_path = stats;
    if (run_cartpole(cfg, &o, &out, &err) != LP_OK)
        fail_msg("%s", err.message);
    assert_int_equal(out.epochs, 12);
    char *csv = lines_from(stats, 0);
    int cols[3] = {-1, -1, -1};
    static const char *const names[3] = {"actor/approx_kl", "actor/old_approx_kl",
                                         "actor/clipfrac"};
    char *line = csv, *nl = strchr(line, '\n');
    assert_non_null(nl);
    *nl = '\0';
    int c = 0;
    for (char *tok = line, *next; tok != NULL; tok = next, c++) {
        next = strchr(tok, ',');
        if (next != NULL)
            *next++ = '\0';
        for (int k = 0; k < 3; k++)
            if (strcmp(tok, names[k]) == 0)
                cols[k] = c;
    }
    for (int k = 0; k < 3; k++)
        assert_true(cols[k] >= 0);
    int rows = 0;
    for (line = nl + 1; *line != '\0'; rows++) {
        nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        c = 0;
        for (char *tok = line, *next; tok != NULL; tok = next, c++) {
            next = strchr(tok, ',');
            if (next != NULL)
                *next++ = '\0';
            for (int k = 0; k < 3; k++)
                if (c == cols[k]) {
                    double v = strtod(tok, NULL);
                    if (!(fabs(v) < 1e-6))
                        fail_msg("epoch %d: %s is %g, expected 0 (below 1e-6)", rows, names[k], v);
                }
        }
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    assert_int_equal(rows, 12);
    free(csv);
}

/* The target return, the callback's stop, the step budget and checkpoints
 * every N epochs. */
static void test_stops(void **state) {
    (void)state;
    lp_error err;
    lp_train_outcome out;
    run_log l = {0};
    lp_train_options o;
    test_options(&o, &l);
    o.max_steps = 50 * PPO_EPOCH;
    l.stop_at_epoch = 2;
    o.checkpoint_path = tmp_path("stops.ckpt");
    assert_int_equal(run_cartpole(example("ppo.yaml"), &o, &out, &err), LP_OK);
    assert_int_equal(out.stop_reason, LP_TRAIN_STOP_CALLBACK);
    assert_int_equal(out.epochs, 2);
    assert_int_equal(l.checkpoints, 1);
    assert_int_equal(l.ends, 1);
    assert_int_equal(out.solved, 0);

    /* A target reached at once (the return of a random policy). */
    run_log l2 = {0};
    test_options(&o, &l2);
    o.checkpoint_path = NULL;
    o.target_set = 1;
    o.target_return = 5.0;
    assert_int_equal(run_cartpole(example("ppo.yaml"), &o, &out, &err), LP_OK);
    assert_int_equal(out.stop_reason, LP_TRAIN_STOP_SOLVED);
    assert_int_equal(out.solved, 1);
    assert_true(out.mean_return >= 5.0);
    assert_true(out.episodes >= 100); /* a full window of the last 100 */

    /* Periodic checkpoints: every 2 epochs over 5, and at the end. */
    run_log l3 = {0};
    const char *cfg = tmp_path("every2.yaml");
    size_t len = 0;
    char *text = read_all(example("ppo.yaml"), &len);
    assert_non_null(text);
    char *at = strstr(text, "log_every: 20");
    assert_non_null(at);
    memcpy(at, "log_every: 1,", 13);
    char *joined = malloc(len + 64);
    assert_non_null(joined);
    snprintf(joined, len + 64, "%.*s checkpoint_every: 2%s", (int)(at + 13 - text), text, at + 13);
    write_all(cfg, joined);
    free(joined);
    free(text);
    test_options(&o, &l3);
    o.max_steps = 5 * PPO_EPOCH;
    o.checkpoint_path = tmp_path("every2.ckpt");
    if (run_cartpole(cfg, &o, &out, &err) != LP_OK)
        fail_msg("%s", err.message);
    assert_int_equal(l3.checkpoints, 3); /* epochs 2, 4, and the end (5) */
}

static volatile sig_atomic_t previous_handler_ran = 0;
static void previous_handler(int sig) {
    (void)sig;
    previous_handler_ran = 1;
}

/* SIGINT during a run: the epoch completes, a checkpoint is written, the
 * run returns LP_OK with STOP_INTERRUPTED, and the previous handler is back. */
static void test_sigint(void **state) {
    (void)state;
    struct sigaction sa, now;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = previous_handler;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGINT, &sa, NULL), 0);

    lp_error err;
    lp_train_outcome out;
    run_log l = {0};
    l.raise_at_epoch = 2;
    lp_train_options o;
    test_options(&o, &l);
    o.handle_sigint = 1;
    o.max_steps = 50 * PPO_EPOCH;
    o.checkpoint_path = tmp_path("sigint.ckpt");
    remove(o.checkpoint_path);
    assert_int_equal(run_cartpole(example("ppo.yaml"), &o, &out, &err), LP_OK);
    assert_int_equal(out.stop_reason, LP_TRAIN_STOP_INTERRUPTED);
    assert_int_equal(out.epochs, 2);
    assert_int_equal(l.checkpoints, 1);
    assert_false(previous_handler_ran); /* the trainer's handler took it */
    assert_int_equal(sigaction(SIGINT, NULL, &now), 0);
    assert_ptr_equal(now.sa_handler, previous_handler);

    /* The checkpoint resumes where the run stopped. */
    run_log l2 = {0};
    test_options(&o, &l2);
    o.resume_path = tmp_path("sigint.ckpt");
    o.checkpoint_path = NULL;
    o.max_steps = 3 * PPO_EPOCH;
    assert_int_equal(run_cartpole(example("ppo.yaml"), &o, &out, &err), LP_OK);
    assert_int_equal(l2.first_epoch, 2);
    assert_int_equal(out.epochs, 3);

    /* Without handle_sigint the trainer leaves SIGINT alone. */
    run_log l3 = {0};
    l3.raise_at_epoch = 1;
    test_options(&o, &l3);
    o.resume_path = NULL;
    o.max_steps = 2 * PPO_EPOCH;
    assert_int_equal(run_cartpole(example("ppo.yaml"), &o, &out, &err), LP_OK);
    assert_int_equal(out.stop_reason, LP_TRAIN_STOP_BUDGET);
    assert_true(previous_handler_ran);
    signal(SIGINT, SIG_DFL);
}

/* The printer on a file (not a terminal): a line every N epochs, lines for
 * the checkpoint and the end. */
static void test_printer(void **state) {
    (void)state;
    const char *path = tmp_path("printer.txt");
    FILE *f = fopen(path, "w+");
    assert_non_null(f);
    lp_train_printer pr;
    lp_train_printer_init(&pr, f, 2);
    assert_int_equal(pr.live, 0);
    lp_train_options o;
    run_log l = {0};
    test_options(&o, &l);
    o.progress = lp_train_print_progress;
    o.progress_user = &pr;
    o.max_steps = 5 * PPO_EPOCH;
    o.checkpoint_path = tmp_path("printer.ckpt");
    lp_train_outcome out;
    lp_error err;
    assert_int_equal(run_cartpole(example("ppo.yaml"), &o, &out, &err), LP_OK);
    fclose(f);
    size_t len = 0;
    char *text = read_all(path, &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "epoch 2 | 1,024 steps | "));
    assert_non_null(strstr(text, "epoch 4 | 2,048 steps | "));
    assert_null(strstr(text, "epoch 3 |"));
    assert_non_null(strstr(text, "checkpoint "));
    assert_non_null(strstr(text, "step budget reached: mean return "));
    assert_non_null(strstr(text, "after 2,560 env steps (5 epochs)"));
    assert_null(strchr(text, '\r'));
    free(text);

    /* Live mode (what a terminal gets): every epoch rewrites one line with
     * \r, and the line is ended before the final summary. */
    f = fopen(path, "w+");
    assert_non_null(f);
    lp_train_printer_init(&pr, f, 0);
    pr.live = 1;
    o.checkpoint_path = NULL;
    o.max_steps = 3 * PPO_EPOCH;
    assert_int_equal(run_cartpole(example("ppo.yaml"), &o, &out, &err), LP_OK);
    fclose(f);
    text = read_all(path, &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "\repoch 1 | 512 steps | "));
    assert_non_null(strstr(text, "\repoch 2 | 1,024 steps | "));
    char *end = strstr(text, "\nstep budget reached: ");
    assert_non_null(end);
    assert_null(strchr(end, '\r'));
    free(text);
}

/* The trainer's own stats: episode_return and episode_length (the means of
 * the last-100 window at the end of each rollout) and env_steps_per_second,
 * written with the losses' stats. */
static void test_trainer_stats(void **state) {
    (void)state;
    lp_error err;
    lp_train_outcome out;
    const char *path = tmp_path("trainer_stats.csv");
    remove(path);
    run_log l = {0};
    lp_train_options o;
    test_options(&o, &l);
    o.seed_set = 1;
    o.seed = 3;
    o.max_steps = 4 * PPO_EPOCH;
    o.stats_path = path;
    assert_int_equal(run_cartpole(example("ppo.yaml"), &o, &out, &err), LP_OK);
    assert_int_equal(out.epochs, 4);
    char *text = lines_from(path, 0);
    size_t cols = 0;
    int ret_col = -1, len_col = -1, sps_col = -1;
    {
        char *nl = strchr(text, '\n');
        assert_non_null(nl);
        *nl = '\0';
        char *save = NULL;
        for (char *tok = strtok_r(text, ",", &save); tok != NULL;
             tok = strtok_r(NULL, ",", &save), cols++) {
            if (strcmp(tok, "episode_return") == 0)
                ret_col = (int)cols;
            else if (strcmp(tok, "episode_length") == 0)
                len_col = (int)cols;
            else if (strcmp(tok, "env_steps_per_second") == 0)
                sps_col = (int)cols;
        }
    }
    free(text);
    assert_true(ret_col > 0 && len_col == ret_col + 1 && sps_col == len_col + 1);
    assert_int_equal(sps_col, (int)cols - 1);
    char *last = lines_from(path, 4); /* epoch 3, the last line */
    double v[64];
    size_t n = 0;
    for (char *p = last; n < cols && n < 64; n++) {
        v[n] = strtod(p, &p);
        if (*p == ',')
            p++;
    }
    free(last);
    assert_int_equal(n, cols);
    /* Nothing happens to the window between the end of the last rollout and
     * the end of the run: the same mean. CartPole's reward is 1 per step. */
    assert_true(fabs(v[ret_col] - out.mean_return) < 1e-9 * fabs(out.mean_return));
    assert_true(fabs(v[len_col] - v[ret_col]) < 1e-9 * v[ret_col]);
    assert_true(v[sps_col] > 0.0 && isfinite(v[sps_col]));
}

/* ---- resume checks what it restores -------------------------------------------- */

/* Five checkpoints whose CRCs hold but whose values do not: each refused
 * at resume naming the entry and the file, before anything ran (no resume
 * callback, no epoch, no checkpoint written). */
static void test_resume_refuses_bad_values(void **state) {
    (void)state;
    lp_error err;
    lp_train_outcome out;
    const char *good = tmp_path("good.ckpt"), *bad = tmp_path("bad.ckpt"),
               *after = tmp_path("after.ckpt");
    run_log l = {0};
    lp_train_options o;
    test_options(&o, &l);
    o.max_steps = PPO_EPOCH;
    o.checkpoint_path = good;
    assert_int_equal(run_cartpole(example("ppo.yaml"), &o, &out, &err), LP_OK);

    const int64_t big = INT64_MAX, neg = -5;
    const int64_t zero[4] = {0, 0, 0, 0};
    const float nanf_ = NAN, negf = -1e-3f;
    const struct {
        const char *prefix;
        size_t at;
        const void *bytes;
        size_t len;
        const char *says;
    } cases[] = {
        {"host/epoch", 0, &big, 8, "outside [0, 2^62]"},
        {"host/env_steps", 0, &neg, 8, "outside [0, 2^62]"},
        {"trainer/rng", 0, zero, sizeof zero, "all zero"},
        {"model/", 4, &nanf_, 4, "must be finite"},
        {"optimizer/v", 8, &negf, 4, "second moment must be >= 0"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char name[300];
        assert_int_equal(lpt_ckpt_patch(good, bad, cases[c].prefix, cases[c].at, cases[c].bytes,
                                        cases[c].len, name, sizeof name),
                         0);
        remove(after);
        run_log l2 = {0};
        test_options(&o, &l2);
        o.max_steps = 2 * PPO_EPOCH;
        o.resume_path = bad;
        o.checkpoint_path = after;
        memset(&err, 0, sizeof err);
        assert_int_not_equal(run_cartpole(example("ppo.yaml"), &o, &out, &err), LP_OK);
        char quoted[320];
        snprintf(quoted, sizeof quoted, "'%s'", name);
        if (strstr(err.message, quoted) == NULL || strstr(err.message, bad) == NULL ||
            strstr(err.message, cases[c].says) == NULL)
            fail_msg("case %zu (%s): %s", c, name, err.message);
        assert_int_equal(l2.resumes, 0);
        assert_int_equal(l2.epochs, 0);
        FILE *f = fopen(after, "rb");
        assert_null(f);
    }
    o.resume_path = NULL;
}

/* `test_train gru` runs only the recurrent tests (the ctest train.gru), so
 * that they do not lengthen train.train under valgrind; no argument runs the
 * others. */
int main(int argc, char **argv) {
    const struct CMUnitTest gru[] = {
        cmocka_unit_test(test_resume_bit_for_bit_gru),
        cmocka_unit_test(test_gru_recompute_matches_rollout),
    };
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_swap_losses),
        cmocka_unit_test(test_resume_under_distill),
        cmocka_unit_test(test_resume_bit_for_bit),
        cmocka_unit_test(test_resume_refuses_bad_values),
        cmocka_unit_test(test_trainer_stats),
        cmocka_unit_test(test_registry_options),
        cmocka_unit_test(test_stops),
        cmocka_unit_test(test_sigint),
        cmocka_unit_test(test_printer),
    };
    if (argc > 1 && strcmp(argv[1], "gru") == 0)
        return cmocka_run_group_tests(gru, NULL, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
