/* A program with its own model on liblossplug alone (no liblossplug-train,
 * no BLAS): a linear softmax policy, logits = W obs + b, trained by
 * behaviour cloning with the built-in loss action_supervised through the
 * public session API (lossplug/session.h, lossplug/checkpoint.h). The model
 * is handed over once, at open (lp_session_options.model); each train phase
 * trains it (lp_session_train with NULL), so the counts of its callbacks
 * below check that the session kept it.
 *
 * It checks, against float64 formulas computed here from the logits the
 * model produced (docs/losses/action_supervised.md):
 *   - the gradient the session hands to backward, (p - onehot(a*)) / M, per
 *     sample and action;
 *   - the train phase's total_loss, the mean cross-entropy;
 * that a few SGD updates cut the loss well below its start (log A) and
 * reach the teacher's accuracy; and that lp_session_load_checked passes the
 * program's own entries to its check and refuses a resume the check
 * refuses with nothing changed. CMakeLists.txt checks that the binary links
 * no BLAS.
 *
 * usage: test_linear PLUGIN_DIR TMP_DIR */
#include <lossplug/checkpoint.h>
#include <lossplug/session.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { D = 3, A = 3, ENVS = 8, STEPS = 4, N = ENVS * STEPS };

static int failures;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* One minibatch of all ENVS rows (minibatch_segments = segments). */
static const char config[] =
    "buffer: {segments: 8, horizon: 4, minibatch_segments: 8, update_epochs: 1}\n"
    "losses:\n"
    "  - {name: bc, plugin: action_supervised}\n";

typedef struct linear {
    float w[A][D], b[A]; /* parameters */
    float gw[A][D], gb[A];
    float lr;
    int32_t obs_h, teacher_h;
    /* The last forward's logits, for the float64 reference. */
    double logits[N][A];
    double ref_loss;   /* mean cross-entropy of the last forward, float64 */
    double max_gerr;   /* largest |grad - reference| seen in backward */
    int64_t backwards; /* backward calls */
} linear;

static float obs_at(const lp_tensor *f, int64_t r, int64_t t, int k) {
    return ((const float *)f->data)[r * f->strides[0] + t * f->strides[1] + k * f->strides[2]];
}

static int32_t teacher_at(const lp_tensor *f, int64_t r, int64_t t) {
    return ((const int32_t *)f->data)[r * f->strides[0] + t * f->strides[1]];
}

static int32_t lin_forward(void *user, const lp_batch *mb, const lp_tensor *outputs,
                           lp_error *err) {
    (void)err;
    linear *m = user;
    const lp_tensor *obs = &mb->fields[m->obs_h], *tch = &mb->fields[m->teacher_h];
    float *logits = outputs[0].data;
    double ce = 0.0;
    const int64_t M = mb->rows * mb->horizon;
    for (int64_t r = 0; r < mb->rows; r++)
        for (int64_t t = 0; t < mb->horizon; t++) {
            const int64_t i = r * mb->horizon + t;
            double mx = -INFINITY;
            for (int a = 0; a < A; a++) {
                float z = m->b[a];
                for (int k = 0; k < D; k++)
                    z += m->w[a][k] * obs_at(obs, r, t, k);
                logits[i * A + a] = z;
                m->logits[i][a] = z;
                mx = fmax(mx, z);
            }
            double lse = 0.0;
            for (int a = 0; a < A; a++)
                lse += exp(m->logits[i][a] - mx);
            ce -= m->logits[i][teacher_at(tch, r, t)] - mx - log(lse);
        }
    m->ref_loss = ce / (double)M;
    return LP_OK;
}

static int32_t lin_backward(void *user, const lp_batch *mb, const lp_tensor *grads, lp_error *err) {
    (void)err;
    linear *m = user;
    const lp_tensor *obs = &mb->fields[m->obs_h], *tch = &mb->fields[m->teacher_h];
    const float *g = grads[0].data;
    const int64_t M = mb->rows * mb->horizon;
    for (int64_t r = 0; r < mb->rows; r++)
        for (int64_t t = 0; t < mb->horizon; t++) {
            const int64_t i = r * mb->horizon + t;
            const int32_t target = teacher_at(tch, r, t);
            double mx = -INFINITY, sum = 0.0;
            for (int a = 0; a < A; a++)
                mx = fmax(mx, m->logits[i][a]);
            for (int a = 0; a < A; a++)
                sum += exp(m->logits[i][a] - mx);
            for (int a = 0; a < A; a++) {
                const double p = exp(m->logits[i][a] - mx) / sum;
                const double ref = (p - (a == target ? 1.0 : 0.0)) / (double)M;
                m->max_gerr = fmax(m->max_gerr, fabs((double)g[i * A + a] - ref));
                m->gb[a] += g[i * A + a];
                for (int k = 0; k < D; k++)
                    m->gw[a][k] += g[i * A + a] * obs_at(obs, r, t, k);
            }
        }
    m->backwards++;
    return LP_OK;
}

static int32_t lin_step(void *user, const lp_ctx *ctx, lp_error *err) {
    (void)ctx, (void)err;
    linear *m = user;
    for (int a = 0; a < A; a++) {
        m->b[a] -= m->lr * m->gb[a], m->gb[a] = 0.0f;
        for (int k = 0; k < D; k++)
            m->w[a][k] -= m->lr * m->gw[a][k], m->gw[a][k] = 0.0f;
    }
    return LP_OK;
}

/* The teacher: argmax of a fixed linear map of the observation. */
static int32_t teacher(const float *x) {
    static const float T[A][D] = {{2, -1, 0}, {-1, 2, 0.5f}, {0, -1, 2}};
    int32_t best = 0;
    float bz = -INFINITY;
    for (int a = 0; a < A; a++) {
        float z = 0;
        for (int k = 0; k < D; k++)
            z += T[a][k] * x[k];
        if (z > bz)
            bz = z, best = a;
    }
    return best;
}

static uint32_t rng = 2024u;
static float uniform(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) * 0x1.0p-24f;
}

/* The program's own counter, refused by the check when negative. */
static int32_t check_counter(void *user, const char *label, const lp_load_entry *e, lp_error *err) {
    int *calls = user;
    (*calls)++;
    if (strcmp(e->name, "program/counter") != 0)
        return LP_OK;
    int64_t v;
    memcpy(&v, e->data, sizeof v);
    if (v < 0) {
        snprintf(err->message, sizeof err->message, "%s: program/counter = %lld is negative", label,
                 (long long)v);
        err->code = LP_ECORRUPT;
        return LP_ECORRUPT;
    }
    return LP_OK;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: test_linear PLUGIN_DIR TMP_DIR\n");
        return 2;
    }
    const lp_decl fields[] = {{"obs", LP_DTYPE_F32, 1, {LP_DIM_OBS}},
                              {"teacher_actions", LP_DTYPE_I32, 0, {0}}};
    const lp_decl outputs[] = {{"logits", LP_DTYPE_F32, 1, {LP_DIM_NUM_ACTIONS}}};
    const char *dirs[] = {argv[1]};
    lp_session_options opt;
    lp_session_options_init(&opt);
    opt.plugin_paths = dirs, opt.plugin_path_count = 1;
    opt.use_env_path = 0, opt.use_install_dir = 0;
    opt.env_set = 1;
    opt.env.obs_dtype = LP_DTYPE_F32, opt.env.obs_rank = 1, opt.env.obs_shape[0] = D;
    opt.env.action_dtype = LP_DTYPE_I32, opt.env.num_actions = A;
    opt.fields = fields, opt.field_count = 2;
    opt.outputs = outputs, opt.output_count = 1;
    opt.stats_off = 1;
    /* The model is handed over once, at open; its handles are filled in
     * after open (the session calls none of its callbacks there), and every
     * train phase trains it (lp_session_train with NULL). */
    linear m;
    memset(&m, 0, sizeof m);
    m.lr = 1.0f;
    lp_model model;
    memset(&model, 0, sizeof model);
    model.user = &m, model.forward = lin_forward, model.backward = lin_backward;
    model.step = lin_step;
    opt.model = &model;

    lp_session *s = NULL;
    lp_error err;
    if (lp_session_open_string(config, strlen(config), "linear.yaml", &opt, &s, &err) != LP_OK) {
        fprintf(stderr, "test_linear: %s\n", err.message);
        return 1;
    }
    m.obs_h = lp_session_field_handle(s, "obs");
    m.teacher_h = lp_session_field_handle(s, "teacher_actions");
    CHECK(m.obs_h >= 0 && m.teacher_h >= 0, "field handles %d %d", m.obs_h, m.teacher_h);
    float *obs = lp_session_field(s, m.obs_h).data;
    int32_t *tch = lp_session_field(s, m.teacher_h).data;

    double first = NAN, last = NAN, accuracy = NAN;
    const int epochs = 40;
    for (int e = 0; e < epochs && failures == 0; e++) {
        int32_t rc = lp_session_epoch_start(s, &err);
        if (rc == LP_OK)
            rc = lp_session_rollout_start(s, &err);
        for (int t = 0; t < STEPS && rc == LP_OK; t++) {
            for (int r = 0; r < ENVS; r++) {
                float *x = obs + ((int64_t)r * STEPS + t) * D;
                for (int k = 0; k < D; k++)
                    x[k] = 2.0f * uniform() - 1.0f;
                tch[r * STEPS + t] = teacher(x);
            }
            rc = lp_session_rollout_step(s, t, &err);
        }
        lp_train_summary sum = {.struct_size = sizeof sum};
        memset(&sum, 0, sizeof sum);
        sum.struct_size = sizeof sum;
        if (rc == LP_OK)
            rc = lp_session_train(s, NULL, &sum, &err);
        CHECK(rc == LP_OK, "epoch %d: %s", e, err.message);
        CHECK(sum.minibatches == 1, "epoch %d: %d minibatches, expected 1", e, sum.minibatches);
        /* total_loss is the weight (1) times the loss of the one minibatch. */
        CHECK(fabs(sum.total_loss - m.ref_loss) <= 1e-5 * fmax(1.0, m.ref_loss),
              "epoch %d: total_loss %.9g, float64 cross-entropy %.9g", e, sum.total_loss,
              m.ref_loss);
        if (e == 0)
            first = sum.total_loss;
        last = sum.total_loss;
        CHECK(lp_session_stat(s, "bc/accuracy", &accuracy) == LP_OK, "no stat bc/accuracy");
    }
    CHECK(m.backwards == epochs, "%lld backward calls, expected %d", (long long)m.backwards,
          epochs);
    CHECK(m.max_gerr <= 1e-6, "gradient differs from (p - onehot) / M by %g", m.max_gerr);
    CHECK(fabs(first - log((double)A)) <= 1e-6, "first loss %.9g, expected log %d = %.9g", first, A,
          log((double)A));
    CHECK(last < 0.5 * first, "loss %.4f after %d updates, from %.4f: expected under half", last,
          epochs, first);
    CHECK(accuracy >= 0.85, "accuracy %.3f after %d updates; expected >= 0.85", accuracy, epochs);
    printf("linear: loss %.4f -> %.4f, accuracy %.3f, max |grad - float64| %.2g\n", first, last,
           accuracy, m.max_gerr);

    /* A checkpoint with the model and a program counter, resumed with the
     * program's check: accepted as written, refused when the counter is
     * negative, with nothing restored. */
    char path[4096];
    snprintf(path, sizeof path, "%s/linear.ckpt", argv[2]);
    int64_t counter = 7;
    lp_named_tensor extra[2] = {
        {"model/w", {&m.w[0][0], LP_DTYPE_F32, 2, {A, D}, {D, 1}}},
        {"program/counter", {&counter, LP_DTYPE_I64, 0, {0}, {0}}},
    };
    CHECK(lp_session_save(s, path, extra, 2, &err) == LP_OK, "save: %s", err.message);
    const float w00 = m.w[0][0];
    m.w[0][0] = 99.0f;
    int calls = 0;
    lp_load_report *report = NULL;
    int32_t rc = lp_session_load_checked(s, path, NULL, 0, extra, 2, 1, 1, check_counter, &calls,
                                         &report, &err);
    CHECK(rc == LP_OK, "load_checked: %s", err.message);
    CHECK(calls == 2, "the check saw %d entries, expected 2", calls);
    CHECK(m.w[0][0] == w00, "model/w not restored: %g, saved %g", (double)m.w[0][0], (double)w00);
    lp_load_report_free(report);

    counter = -3;
    CHECK(lp_session_save(s, path, extra, 2, &err) == LP_OK, "save: %s", err.message);
    counter = 5;
    m.w[0][0] = 42.0f;
    calls = 0;
    report = NULL;
    rc = lp_session_load_checked(s, path, NULL, 0, extra, 2, 1, 1, check_counter, &calls, &report,
                                 &err);
    CHECK(rc == LP_ECORRUPT, "a refused check gave %d (%s)", rc, err.message);
    CHECK(strstr(err.message, "program/counter = -3") != NULL, "message: %s", err.message);
    CHECK(counter == 5 && m.w[0][0] == 42.0f, "a refused load changed counter %lld, w %g",
          (long long)counter, (double)m.w[0][0]);
    CHECK(report == NULL, "a refused load returned a report");
    lp_load_report_free(report);
    remove(path);

    lp_session_close(s);
    if (failures == 0)
        printf("test_linear: ok\n");
    return failures == 0 ? 0 : 1;
}
