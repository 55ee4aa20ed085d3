/* What a data-parallel program needs of the session (docs/distributed.md):
 * env steps counted for all replicas, no stats file on the ranks that do
 * not write, the stats_reduce hook before the means, a stop the program
 * agrees on inside the model's step, and a checkpoint restored from bytes
 * in memory. */
#include "session_test.h"

#include <sys/stat.h>
#include <unistd.h>

#define YAML                                                                                       \
    "buffer: {segments: 4, horizon: 2, minibatch_segments: 2, update_epochs: 2}\n" PROG            \
    "losses:\n"                                                                                    \
    "  - {name: p, plugin: probe, params: {stat_base: 10, loss: 3}}\n"

static void test_replicas(void **state) {
    (void)state;
    lp_session_options opt;
    test_options(&opt);
    assert_int_equal(opt.replicas, 1);
    opt.replicas = 3;
    lp_session *s = NULL;
    lp_error err;
    assert_int_equal(open_yaml_opt(YAML, &opt, &s, &err), LP_OK);
    tmodel m = {0};
    run_epoch(s, &m, NULL);
    assert_int_equal(lp_session_env_steps(s), 4 * 2 * 3);
    lp_session_close(s);

    opt.replicas = 0;
    assert_int_equal(open_yaml_opt(YAML, &opt, &s, &err), LP_EINVAL);
    assert_null(s);
    assert_string_equal(err.message, "lp_session_open: options.replicas is 0; give the number of "
                                     "processes training together, 1 .. 2^20 (1: this one alone)");
}

static void test_stats_off(void **state) {
    (void)state;
    const char *path = LP_SESSION_TMP "/replicas_off.csv";
    unlink(path);
    lp_session_options opt;
    test_options(&opt);
    opt.stats_path = path;
    opt.stats_off = 1;
    lp_session *s = NULL;
    lp_error err;
    assert_int_equal(open_yaml_opt(YAML, &opt, &s, &err), LP_OK);
    tmodel m = {0};
    run_epoch(s, &m, NULL);
    lp_session_close(s);
    assert_int_equal(access(path, F_OK), -1);
}

/* A peer that recorded p/metric four times with 100 each; a hook failure
 * ends the phase with its message. */
typedef struct peer {
    int calls;
    size_t metric;
    int fail;
} peer;

static int32_t add_peer(void *user, double *sums, double *counts, size_t n, lp_error *err) {
    peer *p = user;
    p->calls++;
    if (p->fail) {
        snprintf(err->message, sizeof err->message, "reduce: the peers went away");
        return LP_EIO;
    }
    assert_true(p->metric < n);
    sums[p->metric] += 400.0;
    counts[p->metric] += 4.0;
    return LP_OK;
}

static void test_stats_reduce(void **state) {
    (void)state;
    peer pr = {0};
    lp_session_options opt;
    test_options(&opt);
    opt.stats_reduce = add_peer;
    opt.stats_reduce_user = &pr;
    lp_session *s = NULL;
    lp_error err;
    assert_int_equal(open_yaml_opt(YAML, &opt, &s, &err), LP_OK);
    for (size_t i = 0; i < lp_session_stat_count(s); i++)
        if (strcmp(lp_session_stat_name(s, i), "p/metric") == 0)
            pr.metric = i;
    tmodel m = {0};
    run_epoch(s, &m, NULL);
    assert_int_equal(pr.calls, 1);
    double v;
    /* this process: 10 + 0..3 (46 over 4), the peer 400 over 4 */
    assert_int_equal(lp_session_stat(s, "p/metric", &v), LP_OK);
    assert_true(fabs(v - (46.0 + 400.0) / 8.0) < 1e-12);
    assert_int_equal(lp_session_stat(s, "p/loss", &v), LP_OK);
    assert_true(fabs(v - 3.0) < 1e-12);

    pr.fail = 1;
    lp_model model = tmodel_make(&m);
    assert_int_equal(lp_session_epoch_start(s, &err), LP_OK);
    assert_int_equal(lp_session_rollout_start(s, &err), LP_OK);
    for (int64_t t = 0; t < 2; t++)
        assert_int_equal(lp_session_rollout_step(s, t, &err), LP_OK);
    assert_int_equal(lp_session_train(s, &model, NULL, &err), LP_EIO);
    assert_string_equal(err.message, "reduce: the peers went away");
    lp_session_close(s);
}

/* The program stops the phase from the model's step, as a peer's vote
 * would: after that minibatch, stopped with no instance named. */
typedef struct stopper {
    tmodel m;
    lp_session *s;
    int stop_at; /* step call */
    int seen_stopping;
} stopper;

static int32_t stop_step(void *user, const lp_ctx *ctx, lp_error *err) {
    stopper *st = user;
    int32_t rc = tm_step(&st->m, ctx, err);
    if (st->m.steps == st->stop_at) {
        assert_int_equal(lp_session_train_stopping(st->s), 0);
        rc = lp_session_train_stop(st->s, err);
        st->seen_stopping = lp_session_train_stopping(st->s);
    }
    return rc;
}

static void test_program_stop(void **state) {
    (void)state;
    stopper st = {0};
    st.stop_at = 2;
    st.s = open_ok(YAML);
    lp_error err;
    assert_int_equal(lp_session_train_stop(st.s, &err), LP_ESTATE);
    assert_string_equal(err.message, "lp_session_train_stop: no train phase is running; call it "
                                     "from the model's callbacks during lp_session_train");
    assert_int_equal(lp_session_train_stopping(st.s), 0);
    assert_int_equal(lp_session_epoch_start(st.s, &err), LP_OK);
    assert_int_equal(lp_session_rollout_start(st.s, &err), LP_OK);
    for (int64_t t = 0; t < 2; t++)
        assert_int_equal(lp_session_rollout_step(st.s, t, &err), LP_OK);
    lp_model model = tmodel_make(&st.m);
    model.user = &st; /* tm_forward, tm_backward: its first member is the tmodel */
    model.step = stop_step;
    lp_train_summary sum = {.struct_size = sizeof sum};
    assert_int_equal(lp_session_train(st.s, &model, &sum, &err), LP_OK);
    assert_int_equal(st.seen_stopping, 1);
    assert_int_equal(sum.minibatches, 2); /* of 4 */
    assert_int_equal(sum.stopped, 1);
    assert_null(sum.stopped_by);
    assert_int_equal(lp_session_train_stopping(st.s), 0);
    /* The next phase runs whole. */
    tmodel m = {0};
    run_epoch(st.s, &m, &sum);
    assert_int_equal(sum.minibatches, 4);
    assert_int_equal(sum.stopped, 0);
    lp_session_close(st.s);
}

static unsigned char *slurp_bytes(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static unsigned char buf[1 << 16];
    *size = fread(buf, 1, sizeof buf, f);
    assert_true(*size < sizeof buf);
    fclose(f);
    return buf;
}

static void test_load_buffer(void **state) {
    (void)state;
    const char *ckpt = LP_SESSION_TMP "/replicas.ckpt";
    lp_session *a = open_ok(YAML);
    tmodel m = {0};
    run_epoch(a, &m, NULL);
    run_epoch(a, &m, NULL);
    float w[3] = {1.5f, -2.0f, 0.25f};
    lp_named_tensor extra = {"model/w", {0}};
    extra.view.data = w;
    extra.view.dtype = LP_DTYPE_F32;
    extra.view.rank = 1;
    extra.view.shape[0] = 3;
    extra.view.strides[0] = 1;
    lp_error err;
    assert_int_equal(lp_session_save(a, ckpt, &extra, 1, &err), LP_OK);
    lp_session_close(a);
    size_t size = 0;
    unsigned char *bytes = slurp_bytes(ckpt, &size);

    lp_session *b = open_ok(YAML);
    float back[3] = {0};
    extra.view.data = back;
    lp_load_report *r = NULL;
    assert_int_equal(lp_session_load_buffer(b, bytes, size, "from rank 0", &extra, 1, 1, &r, &err),
                     LP_OK);
    lp_load_report_free(r);
    assert_int_equal(lp_session_epoch(b), 2);
    assert_int_equal(lp_session_env_steps(b), 16);
    assert_memory_equal(back, w, sizeof w);

    /* Truncated bytes: refused, the label in the message, nothing changed. */
    float untouched[3] = {9.0f, 9.0f, 9.0f};
    extra.view.data = untouched;
    assert_int_equal(
        lp_session_load_buffer(b, bytes, size - 7, "from rank 0", &extra, 1, 1, NULL, &err),
        LP_ECORRUPT);
    assert_non_null(strstr(err.message, "from rank 0"));
    assert_true(untouched[0] == 9.0f && untouched[2] == 9.0f);
    assert_int_equal(lp_session_load_buffer(b, NULL, 0, NULL, NULL, 0, 0, NULL, &err), LP_EINVAL);
    assert_string_equal(err.message, "lp_session_load_buffer: the data is NULL");
    lp_session_close(b);

    /* lp_checkpoint_read gives the file's bytes as they are on disk. */
    void *read = NULL;
    size_t read_size = 0;
    assert_int_equal(lp_checkpoint_read(ckpt, &read, &read_size, &err), LP_OK);
    assert_int_equal(read_size, size);
    assert_memory_equal(read, bytes, size);
    free(read);
}

/* lp_checkpoint_read refuses at once what is not a regular file (a FIFO
 * with no writer would block a plain open forever) and a missing file,
 * naming the path; *data is NULL after a failure. */
static void test_checkpoint_read_refuses(void **state) {
    (void)state;
    const char *fifo = LP_SESSION_TMP "/replicas.fifo";
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    void *data = (void *)1;
    size_t size = 1;
    lp_error err;
    assert_int_equal(lp_checkpoint_read(fifo, &data, &size, &err), LP_EIO);
    assert_null(data);
    assert_int_equal(size, 0);
    assert_non_null(strstr(err.message, "replicas.fifo': not a regular file: it is a FIFO"));
    unlink(fifo);
    assert_int_equal(lp_checkpoint_read(LP_SESSION_TMP, &data, &size, &err), LP_EIO);
    assert_non_null(strstr(err.message, "it is a directory"));
    assert_int_equal(lp_checkpoint_read(fifo, &data, &size, &err), LP_EIO);
    assert_non_null(strstr(err.message, "cannot open checkpoint"));
    assert_int_equal(lp_checkpoint_read(fifo, NULL, &size, &err), LP_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_replicas, teardown_log),
        cmocka_unit_test_teardown(test_stats_off, teardown_log),
        cmocka_unit_test_teardown(test_stats_reduce, teardown_log),
        cmocka_unit_test_teardown(test_program_stop, teardown_log),
        cmocka_unit_test_teardown(test_load_buffer, teardown_log),
        cmocka_unit_test_teardown(test_checkpoint_read_refuses, teardown_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
