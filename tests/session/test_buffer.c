/* The buffer: one allocation, every field 64-byte aligned and zeroed, whole
 * and step views, contiguous minibatches in order, shuffled minibatches
 * (a permutation per update epoch, reproducible for a seed, different across
 * update epochs) and train-phase writes scattered back; the same for
 * single-step minibatches (buffer.sample: transitions), with their shapes
 * and the gather of every field checked by the model. */
#include "session_test.h"

#include <stdint.h>

static void test_layout(void **state) {
    (void)state;
    lp_session *s = open_ok("buffer: {segments: 3, horizon: 5}\n" PROG
                            "losses: [{plugin: probe, params: {reads: \"obs:f32[OBS]\"}}]\n");
    size_t n = lp_session_field_count(s);
    assert_int_equal(n, 4);
    const lp_field_info *prev = NULL;
    uintptr_t base = (uintptr_t)lp_session_field(s, 0).data;
    assert_int_equal(base % 64, 0);
    for (size_t i = 0; i < n; i++) {
        const lp_field_info *f = lp_session_field_at(s, i);
        assert_int_equal(f->offset % 64, 0);
        size_t per = lp_dtype_size(f->dtype);
        for (int32_t d = 0; d < f->rank; d++)
            per *= (size_t)f->shape[d];
        assert_int_equal(f->bytes, 3 * 5 * per);
        if (prev != NULL)
            assert_true(f->offset >= prev->offset + prev->bytes);
        prev = f;
        lp_tensor t = lp_session_field(s, (int32_t)i);
        assert_int_equal((uintptr_t)t.data, base + f->offset);
        assert_int_equal(t.rank, f->rank + 2);
        assert_int_equal(t.shape[0], 3);
        assert_int_equal(t.shape[1], 5);
        const unsigned char *bytes = t.data;
        for (size_t b = 0; b < f->bytes; b++)
            assert_int_equal(bytes[b], 0);
    }
    assert_true(lp_session_buffer_bytes(s) >= prev->offset + prev->bytes);
    assert_int_equal(lp_session_buffer_bytes(s) % 64, 0);
    /* obs: [3, 5, 3] contiguous; step_ptr agrees with the view. */
    lp_tensor obs = lp_session_field(s, 0);
    assert_int_equal(obs.strides[0], 15);
    assert_int_equal(obs.strides[1], 3);
    assert_int_equal(obs.strides[2], 1);
    float *p = lp_session_step_ptr(s, 0, 2, 4);
    assert_ptr_equal(p, (float *)obs.data + 2 * 15 + 4 * 3);
    assert_null(lp_session_field(s, 99).data);
    assert_null(lp_session_step_ptr(s, -1, 0, 0));
    lp_session_close(s);
}

/* Rollout-phase writes land at (row, t) through the strided step views. */
static void test_step_views(void **state) {
    (void)state;
    lp_session *s = open_ok("buffer: {segments: 3, horizon: 4}\n" PROG
                            "losses: [{plugin: probe, params: {rollout_writes: "
                            "\"mark:f32[2]\"}}]\n");
    tmodel m = {0};
    run_epoch(s, &m, NULL);
    int32_t h = lp_session_field_handle(s, "mark");
    assert_true(h >= 0);
    lp_tensor t = lp_session_field(s, h);
    const float *d = t.data;
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < 4; k++)
            for (int e = 0; e < 2; e++)
                assert_true(d[r * 8 + k * 2 + e] == (float)k);
    lp_session_close(s);
}

/* The rows of each minibatch, from the probe's log: "rows=a,b" per line. */
static void rows_of(char out[][64], size_t max, size_t *n) {
    *n = 0;
    for (size_t i = 0; i < g_log.count && *n < max; i++) {
        const char *r = strstr(g_log.lines[i], ":rows=");
        if (r == NULL)
            continue;
        r += 6;
        size_t len = strcspn(r, ":");
        snprintf(out[*n], 64, "%.*s", (int)len, r);
        (*n)++;
    }
}

static void test_contiguous(void **state) {
    (void)state;
    lp_session *s = open_ok("buffer: {segments: 6, horizon: 2, minibatch_segments: 2, "
                            "update_epochs: 2, shuffle: false}\n" PROG
                            "losses: [{name: p, plugin: probe, params: {log: true, writes: "
                            "\"adv:f32\"}}]\n");
    assert_int_equal(lp_session_train_plan(s)->shuffle, 0);
    tmodel m = {0};
    tlog_reset();
    run_epoch(s, &m, NULL);
    char rows[16][64];
    size_t n;
    rows_of(rows, 16, &n);
    assert_int_equal(n, 6);
    const char *want[] = {"0,1", "2,3", "4,5", "0,1", "2,3", "4,5"};
    for (size_t i = 0; i < n; i++)
        assert_string_equal(rows[i], want[i]);
    /* Written in place through the views. */
    const float *adv = lp_session_field(s, lp_session_field_handle(s, "adv")).data;
    for (int r = 0; r < 6; r++)
        for (int t = 0; t < 2; t++)
            assert_true(adv[r * 2 + t] == (float)(1000 * r + t));
    lp_session_close(s);
}

/* Two epochs of shuffled minibatches; rows[e * 6 + u * 3 + k]. */
static void shuffled_rows(const char *seed, char rows[][64], size_t *n) {
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "buffer: {segments: 6, horizon: 2, minibatch_segments: 2, update_epochs: 2, seed: "
             "%s}\n" PROG "losses: [{name: p, plugin: probe, params: {log: true, writes: "
             "\"adv:f32\"}}]\n",
             seed);
    lp_session *s = open_ok(yaml);
    assert_int_equal(lp_session_train_plan(s)->shuffle, 1);
    tmodel m = {0};
    tlog_reset();
    run_epoch(s, &m, NULL);
    /* Every row was written back from the scratch it was gathered into. */
    const float *adv = lp_session_field(s, lp_session_field_handle(s, "adv")).data;
    for (int r = 0; r < 6; r++)
        for (int t = 0; t < 2; t++)
            assert_true(adv[r * 2 + t] == (float)(1000 * r + t));
    run_epoch(s, &m, NULL);
    rows_of(rows, 12, n);
    lp_session_close(s);
}

static void test_shuffled(void **state) {
    (void)state;
    char a[12][64], b[12][64], c[12][64];
    size_t na, nb, nc;
    shuffled_rows("5", a, &na);
    shuffled_rows("5", b, &nb);
    shuffled_rows("6", c, &nc);
    assert_int_equal(na, 12);
    assert_int_equal(nb, 12);
    assert_int_equal(nc, 12);
    int same_seed_same = 1, other_seed_same = 1;
    for (size_t i = 0; i < 12; i++) {
        same_seed_same &= strcmp(a[i], b[i]) == 0;
        other_seed_same &= strcmp(a[i], c[i]) == 0;
    }
    assert_true(same_seed_same);
    assert_false(other_seed_same);
    /* Each update epoch is a permutation of the 6 segments, and the four
     * update epochs (2 epochs x 2) are not all the same order. */
    char order[4][200];
    for (int u = 0; u < 4; u++) {
        int seen[6] = {0};
        snprintf(order[u], sizeof order[u], "%.60s,%.60s,%.60s", a[u * 3], a[u * 3 + 1],
                 a[u * 3 + 2]);
        const char *p = order[u];
        for (int k = 0; k < 6; k++) {
            int r = atoi(p);
            assert_true(r >= 0 && r < 6);
            seen[r]++;
            p = strchr(p, ',');
            if (p != NULL)
                p++;
        }
        for (int r = 0; r < 6; r++)
            assert_int_equal(seen[r], 1);
    }
    assert_true(strcmp(order[0], order[1]) != 0 || strcmp(order[1], order[2]) != 0 ||
                strcmp(order[2], order[3]) != 0);
    assert_string_not_equal(order[0], order[1]);
}

/* ---- buffer.sample: transitions ------------------------------------------ */

#define TR_SEG 3
#define TR_HOR 4
#define TR_N   (TR_SEG * TR_HOR)

/* A model that checks each minibatch of single steps: shapes, row_index and
 * step_index in range, and the gathered obs and actions equal to what the
 * program wrote at (row, step). */
typedef struct trmodel {
    int32_t h_obs, h_actions;
    int forwards;
    int64_t n; /* samples per minibatch expected */
} trmodel;

static int32_t tr_forward(void *user, const lp_batch *mb, const lp_tensor *outputs, lp_error *err) {
    (void)err;
    trmodel *m = user;
    m->forwards++;
    assert_true(LP_HAS_FIELD(mb, lp_batch, step_index));
    assert_non_null(mb->step_index);
    assert_int_equal(mb->rows, m->n);
    assert_int_equal(mb->horizon, 1);
    const lp_tensor *obs = &mb->fields[m->h_obs], *act = &mb->fields[m->h_actions];
    assert_int_equal(obs->rank, 3);
    assert_int_equal(obs->shape[0], m->n);
    assert_int_equal(obs->shape[1], 1);
    assert_int_equal(obs->shape[2], 3);
    assert_int_equal(act->rank, 2);
    assert_int_equal(act->shape[0], m->n);
    for (uint32_t i = 0; i < mb->output_count; i++) {
        assert_int_equal(outputs[i].shape[0], m->n);
        assert_int_equal(outputs[i].shape[1], 1);
    }
    const float *o = obs->data;
    const int32_t *a = act->data;
    for (int64_t j = 0; j < m->n; j++) {
        int64_t r = mb->row_index[j], t = mb->step_index[j];
        assert_true(r >= 0 && r < TR_SEG && t >= 0 && t < TR_HOR);
        for (int k = 0; k < 3; k++)
            assert_true(o[j * obs->strides[0] + k * obs->strides[2]] ==
                        (float)(100 * r + 10 * t + k));
        assert_int_equal(a[j * act->strides[0]], (int32_t)(7 * r + t));
    }
    return LP_OK;
}

/* Two epochs of single-step minibatches; the probe's log gives "r.t,..."
 * per minibatch: out[e * 2 * 3 + u * 3 + k] (2 update epochs x 3
 * minibatches of 4 samples). */
static void transition_order(const char *seed, char out[][64], size_t *n) {
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "buffer: {segments: %d, horizon: %d, minibatch_segments: 1, update_epochs: 2, "
             "seed: %s, sample: transitions}\n" PROG
             "losses: [{name: p, plugin: probe, params: {log: true, writes: \"adv:f32\"}}]\n",
             TR_SEG, TR_HOR, seed);
    lp_session *s = open_ok(yaml);
    const lp_train_plan *plan = lp_session_train_plan(s);
    assert_int_equal(plan->sample, LP_SAMPLE_TRANSITIONS);
    assert_int_equal(plan->minibatches, 3);
    assert_int_equal(plan->minibatch_samples, TR_HOR);
    trmodel m = {lp_session_field_handle(s, "obs"), lp_session_field_handle(s, "actions"), 0,
                 TR_HOR};
    lp_model model = {.user = &m, .forward = tr_forward};
    lp_error err;
    tlog_reset();
    for (int e = 0; e < 2; e++) {
        assert_int_equal(lp_session_epoch_start(s, &err), LP_OK);
        assert_int_equal(lp_session_rollout_start(s, &err), LP_OK);
        for (int64_t t = 0; t < TR_HOR; t++) {
            for (int64_t r = 0; r < TR_SEG; r++) {
                float *o = lp_session_step_ptr(s, m.h_obs, r, t);
                for (int k = 0; k < 3; k++)
                    o[k] = (float)(100 * r + 10 * t + k);
                *(int32_t *)lp_session_step_ptr(s, m.h_actions, r, t) = (int32_t)(7 * r + t);
            }
            assert_int_equal(lp_session_rollout_step(s, t, &err), LP_OK);
        }
        assert_int_equal(lp_session_train(s, &model, NULL, &err), LP_OK);
        /* Every sample was scattered back to its (row, step). */
        const float *adv = lp_session_field(s, lp_session_field_handle(s, "adv")).data;
        for (int r = 0; r < TR_SEG; r++)
            for (int t = 0; t < TR_HOR; t++)
                assert_true(adv[r * TR_HOR + t] == (float)(1000 * r + t));
    }
    assert_int_equal(m.forwards, 12);
    rows_of(out, 12, n);
    lp_session_close(s);
}

/* "r.t" of the 12 samples of update epoch u (3 minibatches) as indices
 * r * horizon + t, in order. */
static void samples_of(char rows[][64], int u, int64_t idx[TR_N]) {
    int64_t j = 0;
    for (int k = 0; k < 3; k++) {
        const char *p = rows[u * 3 + k];
        while (*p != '\0') {
            char *end;
            long r = strtol(p, &end, 10);
            assert_int_equal(*end, '.');
            long t = strtol(end + 1, &end, 10);
            assert_true(j < TR_N);
            idx[j++] = r * TR_HOR + t;
            p = *end == ',' ? end + 1 : end;
        }
    }
    assert_int_equal(j, TR_N);
}

static void test_transitions(void **state) {
    (void)state;
    char a[12][64], b[12][64], c[12][64];
    size_t na, nb, nc;
    transition_order("5", a, &na);
    transition_order("5", b, &nb);
    transition_order("6", c, &nc);
    assert_int_equal(na, 12);
    assert_int_equal(nb, 12);
    assert_int_equal(nc, 12);
    int same_seed_same = 1, other_seed_same = 1;
    for (size_t i = 0; i < 12; i++) {
        same_seed_same &= strcmp(a[i], b[i]) == 0;
        other_seed_same &= strcmp(a[i], c[i]) == 0;
    }
    assert_true(same_seed_same);
    assert_false(other_seed_same);
    /* Each update epoch (2 epochs x 2) is a permutation of all 12 samples,
     * mixing rows within a minibatch, and no two are the same order. */
    int64_t idx[4][TR_N];
    int mixed = 0;
    for (int u = 0; u < 4; u++) {
        samples_of(a, u, idx[u]);
        int seen[TR_N] = {0};
        for (int j = 0; j < TR_N; j++)
            seen[idx[u][j]]++;
        for (int j = 0; j < TR_N; j++)
            assert_int_equal(seen[j], 1);
        for (int k = 0; k < 3; k++)
            for (int j = 1; j < 4; j++)
                mixed |= idx[u][k * 4 + j] / TR_HOR != idx[u][k * 4] / TR_HOR;
    }
    assert_true(mixed);
    for (int u = 0; u < 4; u++)
        for (int v = u + 1; v < 4; v++)
            assert_memory_not_equal(idx[u], idx[v], sizeof idx[u]);
}

/* Rows mode has no step_index; transitions needs shuffling; a bad mode is
 * refused with a suggestion. */
static void test_sample_config(void **state) {
    (void)state;
    lp_session *s =
        open_ok("buffer: {segments: 2, horizon: 3}\n" PROG "losses: [{plugin: probe}]\n");
    assert_int_equal(lp_session_train_plan(s)->sample, LP_SAMPLE_ROWS);
    assert_int_equal(lp_session_train_plan(s)->minibatch_samples, 6);
    lp_session_close(s);
    open_err("buffer: {segments: 2, horizon: 3, sample: transition}\n" PROG
             "losses: [{plugin: probe}]\n",
             LP_ECONFIG,
             "t.yaml:1:43: buffer.sample 'transition' is not a sampling mode; did you mean "
             "'transitions'?");
    open_err("buffer: {segments: 2, horizon: 3, sample: steps}\n" PROG
             "losses: [{plugin: probe}]\n",
             LP_ECONFIG,
             "t.yaml:1:43: buffer.sample 'steps' is not a sampling mode; use rows (whole buffer "
             "rows per minibatch) or transitions (single steps drawn from the whole buffer)");
    open_err("buffer: {segments: 2, horizon: 3, shuffle: false, sample: transitions}\n" PROG
             "losses: [{plugin: probe}]\n",
             LP_ECONFIG,
             "t.yaml:1:44: buffer.shuffle = false but buffer.sample = transitions (at line 1) "
             "draws a new permutation of the samples every update epoch; remove shuffle: "
             "false, or use sample: rows for in-order minibatches");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_layout, teardown_log),
        cmocka_unit_test_teardown(test_step_views, teardown_log),
        cmocka_unit_test_teardown(test_contiguous, teardown_log),
        cmocka_unit_test_teardown(test_shuffled, teardown_log),
        cmocka_unit_test_teardown(test_transitions, teardown_log),
        cmocka_unit_test_teardown(test_sample_config, teardown_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
