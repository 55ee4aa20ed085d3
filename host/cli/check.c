/* `lossplug check CONFIG`: open a session from the config without training
 * (every check of lp_session_open: config, plugins, params, the merged
 * spec), then print the merged spec, the instance order and the buffer. The
 * program's declarations come from the config's `program` section. */
#include "cli/cli.h"
#include "cli/json.h"
#include "cli/text.h"

#include <inttypes.h>
#include <string.h>

typedef struct check_log {
    const lp__cli *cli;
    const lp_registry *reg; /* its diagnostics were printed already */
} check_log;

static int already_printed(const lp_registry *reg, const char *msg) {
    for (size_t i = 0; i < lp_registry_diag_count(reg); i++)
        if (strcmp(lp_registry_diag_at(reg, i)->message, msg) == 0)
            return 1;
    return 0;
}

static void check_log_fn(void *user, int32_t level, const char *msg) {
    const check_log *l = user;
    if (level >= LP_LOG_WARN) {
        if (!already_printed(l->reg, msg)) {
            if (level >= LP_LOG_ERROR)
                lp__print_error("%s", msg);
            else
                lp__print_warning("%s", msg);
        }
    } else if (l->cli->verbose) {
        fprintf(stderr, "lossplug: info: %s\n", msg);
    }
}

static void type_string(int32_t dtype, int32_t rank, const int64_t *shape, char *buf, size_t size) {
    size_t len = (size_t)snprintf(buf, size, "[");
    for (int32_t d = 0; d < rank && len < size; d++)
        len += (size_t)snprintf(buf + len, size - len, "%s%" PRId64, d ? ", " : "", shape[d]);
    if (len < size)
        snprintf(buf + len, size - len, "]");
    (void)dtype;
}

/* The names of a ", "-separated list, as JSON strings. */
static void json_name_list(lp__json *j, const char *r) {
    while (*r != '\0') {
        size_t n = strcspn(r, ",");
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)n, r);
        lp__json_string(j, name);
        r += n;
        while (*r == ',' || *r == ' ')
            r++;
    }
}

/* The action space, one line: "box, 1 dimension, low [-2], high [2]". */
static void action_text(const lp_env_info *e, char *buf, size_t size) {
    size_t len = 0;
    const int32_t dims = e->action_dims;
    if (e->action_space == LP_ACTION_MULTI_DISCRETE && e->action_nvec != NULL) {
        len = (size_t)snprintf(buf, size, "multi-discrete, nvec [");
        for (int32_t i = 0; i < dims && len < size; i++)
            len += (size_t)snprintf(buf + len, size - len, "%s%" PRId64, i ? ", " : "",
                                    e->action_nvec[i]);
        if (len < size)
            snprintf(buf + len, size - len, "]");
    } else if (e->action_space == LP_ACTION_BOX && e->action_low != NULL) {
        len = (size_t)snprintf(buf, size, "box (diagonal Gaussian), %d dimension%s, low [",
                               (int)dims, dims == 1 ? "" : "s");
        for (int32_t i = 0; i < dims && len < size; i++)
            len += (size_t)snprintf(buf + len, size - len, "%s%g", i ? ", " : "",
                                    (double)e->action_low[i]);
        if (len < size)
            len += (size_t)snprintf(buf + len, size - len, "], high [");
        for (int32_t i = 0; i < dims && len < size; i++)
            len += (size_t)snprintf(buf + len, size - len, "%s%g", i ? ", " : "",
                                    (double)e->action_high[i]);
        if (len < size)
            snprintf(buf + len, size - len, "]");
    } else {
        snprintf(buf, size, "discrete, %" PRId64 " actions", e->num_actions);
    }
}

static void check_json(const lp_session *s) {
    lp__json j;
    lp__json_init(&j, stdout);
    lp__json_object_begin(&j);
    lp__json_kv_string(&j, "config", lp_session_config_name(s));
    lp__json_kv_bool(&j, "valid", 1);
    const lp_env_info *env = lp_session_env(s);
    const lp_train_plan *plan = lp_session_train_plan(s);
    lp__json_key(&j, "buffer");
    lp__json_object_begin(&j);
    lp__json_kv_int(&j, "segments", env->segments);
    lp__json_kv_int(&j, "horizon", env->horizon);
    lp__json_kv_int(&j, "minibatch_segments", plan->minibatch_segments);
    lp__json_kv_int(&j, "minibatches", plan->minibatches);
    lp__json_kv_int(&j, "update_epochs", plan->update_epochs);
    lp__json_kv_int(&j, "seed", plan->seed);
    lp__json_kv_bool(&j, "shuffle", plan->shuffle);
    lp__json_kv_string(&j, "sample",
                       plan->sample == LP_SAMPLE_TRANSITIONS ? "transitions" : "rows");
    lp__json_kv_int(&j, "minibatch_samples", plan->minibatch_samples);
    lp__json_kv_int(&j, "bytes", (int64_t)lp_session_buffer_bytes(s));
    lp__json_object_end(&j);
    lp__json_key(&j, "action");
    lp__json_object_begin(&j);
    lp__json_kv_string(&j, "space",
                       env->action_space == LP_ACTION_BOX              ? "box"
                       : env->action_space == LP_ACTION_MULTI_DISCRETE ? "multi_discrete"
                                                                       : "discrete");
    lp__json_kv_int(&j, "dims", env->action_dims);
    lp__json_kv_int(&j, "num_actions", env->num_actions);
    lp__json_kv_int(&j, "policy_width", env->policy_width);
    if (env->action_space == LP_ACTION_MULTI_DISCRETE && env->action_nvec != NULL) {
        lp__json_key(&j, "nvec");
        lp__json_array_begin(&j);
        for (int32_t i = 0; i < env->action_dims; i++)
            lp__json_int(&j, env->action_nvec[i]);
        lp__json_array_end(&j);
    }
    if (env->action_space == LP_ACTION_BOX && env->action_low != NULL) {
        lp__json_key(&j, "low");
        lp__json_array_begin(&j);
        for (int32_t i = 0; i < env->action_dims; i++)
            lp__json_double(&j, env->action_low[i]);
        lp__json_array_end(&j);
        lp__json_key(&j, "high");
        lp__json_array_begin(&j);
        for (int32_t i = 0; i < env->action_dims; i++)
            lp__json_double(&j, env->action_high[i]);
        lp__json_array_end(&j);
    }
    lp__json_object_end(&j);
    lp__json_key(&j, "fields");
    lp__json_array_begin(&j);
    for (size_t i = 0; i < lp_session_field_count(s); i++) {
        const lp_field_info *f = lp_session_field_at(s, i);
        lp__json_object_begin(&j);
        lp__json_kv_string(&j, "name", f->name);
        lp__json_kv_string(&j, "dtype", lp_dtype_name(f->dtype));
        lp__json_key(&j, "shape");
        lp__json_array_begin(&j);
        for (int32_t d = 0; d < f->rank; d++)
            lp__json_int(&j, f->shape[d]);
        lp__json_array_end(&j);
        lp__json_kv_string(&j, "writer", f->writer);
        lp__json_kv_string(&j, "write_phase",
                           (f->write_phase & LP_PHASE_TRAIN) ? "train" : "rollout");
        lp__json_key(&j, "readers");
        lp__json_array_begin(&j);
        json_name_list(&j, f->readers);
        lp__json_array_end(&j);
        lp__json_key(&j, "updaters");
        lp__json_array_begin(&j);
        json_name_list(&j, f->updaters);
        lp__json_array_end(&j);
        lp__json_kv_string(&j, "chain", f->chain);
        lp__json_kv_int(&j, "offset", (int64_t)f->offset);
        lp__json_kv_int(&j, "bytes", (int64_t)f->bytes);
        lp__json_object_end(&j);
    }
    lp__json_array_end(&j);
    lp__json_key(&j, "outputs");
    lp__json_array_begin(&j);
    for (size_t i = 0; i < lp_session_output_count(s); i++) {
        const lp_decl *o = lp_session_output_at(s, i);
        lp__json_object_begin(&j);
        lp__json_kv_string(&j, "name", o->name);
        lp__json_kv_string(&j, "dtype", lp_dtype_name(o->dtype));
        lp__json_key(&j, "shape");
        lp__json_array_begin(&j);
        for (int32_t d = 0; d < o->rank; d++)
            lp__json_int(&j, o->shape[d]);
        lp__json_array_end(&j);
        lp__json_object_end(&j);
    }
    lp__json_array_end(&j);
    lp__json_key(&j, "instances");
    lp__json_array_begin(&j);
    for (size_t i = 0; i < lp_session_instance_count(s); i++) {
        lp__json_object_begin(&j);
        lp__json_kv_string(&j, "name", lp_session_instance_name(s, i));
        lp__json_kv_string(&j, "plugin", lp_session_instance_plugin(s, i));
        lp__json_key(&j, "weight");
        lp__json_double(&j, lp_session_instance_weight(s, i));
        lp__json_object_end(&j);
    }
    lp__json_array_end(&j);
    lp__json_object_end(&j);
    lp__json_finish(&j);
}

static int check_text(const lp_session *s) {
    const lp_env_info *env = lp_session_env(s);
    const lp_train_plan *plan = lp_session_train_plan(s);
    printf("config: ");
    lp__text_put(stdout, lp_session_config_name(s));
    char act[1024];
    action_text(env, act, sizeof act);
    printf(": valid\n\naction: %s; policy output \"logits\": %" PRId64 " values per step%s\n", act,
           env->policy_width, env->action_space == LP_ACTION_BOX ? " (means, then log-stds)" : "");
    printf("\nfields (per step; the buffer prepends [segments=%" PRId64 ", horizon=%" PRId64
           "]):\n",
           env->segments, env->horizon);
    lp__table t;
    lp__table_init(&t, 6);
    const char *head[] = {"FIELD", "DTYPE", "SHAPE", "WRITER", "READERS", "BYTES"};
    int rc = lp__table_add(&t, head);
    uint64_t total = 0;
    for (size_t i = 0; i < lp_session_field_count(s) && rc == 0; i++) {
        const lp_field_info *f = lp_session_field_at(s, i);
        char shape[160], writer[96], bytes[32];
        type_string(f->dtype, f->rank, f->shape, shape, sizeof shape);
        snprintf(writer, sizeof writer, "%s (%s)", f->writer,
                 (f->write_phase & LP_PHASE_TRAIN) ? "train" : "rollout");
        snprintf(bytes, sizeof bytes, "%" PRIu64, f->bytes);
        total += f->bytes;
        const char *row[] = {f->name, lp_dtype_name(f->dtype),          shape,
                             writer,  f->readers[0] ? f->readers : "-", bytes};
        rc = lp__table_add(&t, row);
    }
    if (rc == 0)
        lp__table_print(&t, stdout, "  ");
    lp__table_free(&t);

    /* Each field's chain: who acts on it, in order. */
    printf("\nfield chains (writer -> updaters -> readers, in the order they act):\n");
    for (size_t i = 0; i < lp_session_field_count(s); i++) {
        const lp_field_info *f = lp_session_field_at(s, i);
        printf("  %s: %s\n", f->name, f->chain);
    }

    printf("\nmodel outputs (per sample; [minibatch rows, horizon] prepended):\n");
    lp__table_init(&t, 3);
    const char *ohead[] = {"OUTPUT", "DTYPE", "SHAPE"};
    if (rc == 0)
        rc = lp__table_add(&t, ohead);
    for (size_t i = 0; i < lp_session_output_count(s) && rc == 0; i++) {
        const lp_decl *o = lp_session_output_at(s, i);
        char shape[160];
        type_string(o->dtype, o->rank, o->shape, shape, sizeof shape);
        const char *row[] = {o->name, lp_dtype_name(o->dtype), shape};
        rc = lp__table_add(&t, row);
    }
    if (rc == 0)
        lp__table_print(&t, stdout, "  ");
    lp__table_free(&t);

    printf("\ninstances (in order):\n");
    lp__table_init(&t, 3);
    const char *ihead[] = {"NAME", "PLUGIN", "WEIGHT"};
    if (rc == 0)
        rc = lp__table_add(&t, ihead);
    for (size_t i = 0; i < lp_session_instance_count(s) && rc == 0; i++) {
        char w[64];
        lp__format_double(lp_session_instance_weight(s, i), w, sizeof w);
        const char *row[] = {lp_session_instance_name(s, i), lp_session_instance_plugin(s, i), w};
        rc = lp__table_add(&t, row);
    }
    if (rc == 0)
        lp__table_print(&t, stdout, "  ");
    lp__table_free(&t);
    if (rc != 0) {
        lp__print_error("out of memory");
        return LP__EXIT_ERROR;
    }
    printf("\nbuffer: %zu fields, %" PRIu64 " bytes of data, %zu bytes in one 64-byte-aligned "
           "allocation\n",
           lp_session_field_count(s), total, lp_session_buffer_bytes(s));
    if (plan->sample == LP_SAMPLE_TRANSITIONS)
        printf("train: %" PRId64 " update epochs x %" PRId64 " minibatches of %" PRId64
               " transitions (sample: transitions, each update epoch permutes all %" PRId64
               " steps), seed %" PRId64 "\n",
               plan->update_epochs, plan->minibatches, plan->minibatch_samples,
               plan->minibatches * plan->minibatch_samples, plan->seed);
    else
        printf("train: %" PRId64 " update epochs x %" PRId64 " minibatches of %" PRId64
               " segments (sample: rows), %s, seed %" PRId64 "\n",
               plan->update_epochs, plan->minibatches, plan->minibatch_segments,
               plan->shuffle ? "shuffled" : "in order", plan->seed);
    return LP__EXIT_OK;
}

/* check opens the config without the program's model. A loss that runs the
 * model on batches of its own (the host extension lossplug.model/1, e.g.
 * expert_ce) needs a model with auxiliary passes at open: this stand-in
 * says it has them (a feed-forward model, no memory) and refuses to run,
 * which check never asks it to. Whether the real program's model has them
 * is checked when that program opens the config. */
static int64_t stand_in_memory_size(void *user) {
    (void)user;
    return 0;
}
static int32_t stand_in_forward_aux(void *user, const lp_batch *batch, const uint8_t *starts,
                                    float *memory, const lp_tensor *outputs, lp_error *err) {
    (void)user, (void)batch, (void)starts, (void)memory, (void)outputs;
    err->code = LP_EUNSUPPORTED;
    snprintf(err->message, sizeof err->message, "lossplug check runs no model");
    return LP_EUNSUPPORTED;
}
static int32_t stand_in_backward_aux(void *user, const lp_batch *batch, const lp_tensor *grads,
                                     lp_error *err) {
    (void)user, (void)batch, (void)grads;
    err->code = LP_EUNSUPPORTED;
    snprintf(err->message, sizeof err->message, "lossplug check runs no model");
    return LP_EUNSUPPORTED;
}

int lp__cmd_check(const lp__cli *cli, const lp_registry *reg) {
    lp_session_options opt;
    lp_session_options_init(&opt);
    if (cli->no_default_paths) {
        opt.use_env_path = 0;
        opt.use_install_dir = 0;
    }
    opt.plugin_paths = cli->plugin_paths;
    opt.plugin_path_count = cli->plugin_path_count;
    opt.allow_insecure = cli->allow_insecure;
    opt.scan_plugins = !cli->no_scan;
    /* No program here: the sections the config gives its program are
     * accepted unread. */
    opt.trust_config_sections = 1;
    /* Sizes computed, nothing of them allocated, no stats file. */
    opt.check_only = 1;
    const lp_model stand_in = {.memory_size = stand_in_memory_size,
                               .forward_aux = stand_in_forward_aux,
                               .backward_aux = stand_in_backward_aux};
    opt.model = &stand_in;
    check_log log = {cli, reg};
    opt.log = check_log_fn;
    opt.log_user = &log;
    lp_session *s = NULL;
    lp_error err = {0};
    if (lp_session_open(cli->args[0], &opt, &s, &err) != LP_OK) {
        lp__print_error("%s", err.message[0] ? err.message : lp_strerror(err.code));
        return LP__EXIT_ERROR;
    }
    int rc = LP__EXIT_OK;
    if (cli->json)
        check_json(s);
    else
        rc = check_text(s);
    lp_session_close(s);
    return rc;
}
