/* `lossplug check CONFIG`: open a session from the config without training
 * (every check of lp_session_open: config, plugins, params, the merged
 * spec), then print the merged spec, the instance order and the buffer. The
 * program's declarations come from the config's `program` section. */
#include "cli/cli.h"
#include "cli/json.h"
#include "cli/text.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct check_log {
    const lp__cli *cli;
    const lp_registry *reg; /* its diagnostics were printed already */
    int progress;           /* the child's end of the progress pipe */
} check_log;

/* A line to the parent (the session's "calling HOOK of ..." debug lines and
 * the registry's "loading in-process"), so that it can name whose code was
 * running if this process dies. One write, under PIPE_BUF: never split. */
static void progress_line(int fd, const char *msg) {
    char line[512];
    int n = snprintf(line, sizeof line, "%s\n", msg);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line) {
        n = (int)sizeof line - 1;
        line[n - 1] = '\n';
    }
    ssize_t w;
    do
        w = write(fd, line, (size_t)n);
    while (w < 0 && errno == EINTR);
}

static int already_printed(const lp_registry *reg, const char *msg) {
    for (size_t i = 0; i < lp_registry_diag_count(reg); i++)
        if (strcmp(lp_registry_diag_at(reg, i)->message, msg) == 0)
            return 1;
    return 0;
}

static void check_log_fn(void *user, int32_t level, const char *msg) {
    const check_log *l = user;
    if (level == LP_LOG_DEBUG && l->progress >= 0)
        progress_line(l->progress, msg);
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

/* The check itself: open the session, print. */
static int check_here(const lp__cli *cli, const lp_registry *reg, int progress) {
    lp_session_options opt;
    lp_session_options_init(&opt);
    if (cli->no_default_paths) {
        opt.use_env_path = 0;
        opt.use_install_dir = 0;
    }
    opt.plugin_paths = cli->plugin_paths;
    opt.plugin_path_count = cli->plugin_path_count;
    opt.allow_insecure = cli->allow_insecure;
    opt.scan_plugins = cli->no_scan ? LP_SCAN_OFF : LP_SCAN_ON;
    /* No program here: the sections the config gives its program are
     * accepted unread. */
    opt.trust_config_sections = 1;
    /* Sizes computed, nothing of them allocated, no stats file. */
    opt.check_only = 1;
    const lp_model stand_in = {.memory_size = stand_in_memory_size,
                               .forward_aux = stand_in_forward_aux,
                               .backward_aux = stand_in_backward_aux};
    opt.model = &stand_in;
    check_log log = {cli, reg, progress};
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

/* ---- the check runs in a child ------------------------------------------------ */

#define DONE_LINE  "=done"
#define OUTPUT_MAX (64u << 20)

static int64_t now_ms(void) { /* int64_t: a 32-bit long overflows after 24.8 days of uptime */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read both pipes to their end, until `deadline` (now_ms): the child's
 * stdout into *out, its last progress line into `last`. 0; -1 when out of
 * memory; 1 when the deadline passed first. */
static int collect(int out_fd, int prog_fd, int64_t deadline, char **out, size_t *out_len,
                   char *last, size_t last_size, int *done) {
    size_t cap = 0;
    char pbuf[1024];
    size_t plen = 0;
    struct pollfd fds[2] = {{out_fd, POLLIN, 0}, {prog_fd, POLLIN, 0}};
    int open_fds = 2, rc = 0;
    while (open_fds > 0) {
        const int64_t left = deadline - now_ms();
        if (left <= 0)
            return 1;
        int n = poll(fds, 2, left > INT_MAX ? INT_MAX : (int)left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            continue; /* the deadline: checked above */
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || fds[i].revents == 0)
                continue;
            char buf[8192];
            ssize_t r = read(fds[i].fd, buf, sizeof buf);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                fds[i].fd = -1;
                open_fds--;
                continue;
            }
            if (i == 0) {
                if (*out_len + (size_t)r > cap && rc == 0) {
                    size_t want = cap == 0 ? 65536 : cap * 2;
                    while (want < *out_len + (size_t)r)
                        want *= 2;
                    char *bigger = want <= OUTPUT_MAX ? realloc(*out, want) : NULL;
                    if (bigger == NULL)
                        rc = -1; /* keep reading, so that the child is not blocked */
                    else
                        *out = bigger, cap = want;
                }
                if (rc == 0) {
                    memcpy(*out + *out_len, buf, (size_t)r);
                    *out_len += (size_t)r;
                }
                continue;
            }
            for (ssize_t k = 0; k < r; k++) { /* whole lines only */
                if (buf[k] != '\n') {
                    if (plen + 1 < sizeof pbuf)
                        pbuf[plen++] = buf[k];
                    continue;
                }
                pbuf[plen] = '\0';
                if (strcmp(pbuf, DONE_LINE) == 0)
                    *done = 1;
                else if (last_size > 0) {
                    size_t n = plen < last_size - 1 ? plen : last_size - 1;
                    memcpy(last, pbuf, n);
                    last[n] = '\0';
                }
                plen = 0;
            }
        }
    }
    return rc;
}

/* A check opens the config's plugins and runs their create, fields, attach
 * and destroy: code the scan never ran. It runs in a child process, so
 * that a plugin that crashes, aborts or exits there ends the child, and
 * this process says so, naming the instance, plugin and file whose code
 * was running; one that does not finish within --check-timeout (default
 * 30 s: an endless loop in a plugin's create) is killed and reported the
 * same way. The child's output is printed only when it finished. */
int lp__cmd_check(const lp__cli *cli, const lp_registry *reg) {
    int out_pipe[2], prog_pipe[2];
    fflush(stdout);
    fflush(stderr);
    if (pipe2(out_pipe, O_CLOEXEC) != 0)
        return check_here(cli, reg, -1);
    if (pipe2(prog_pipe, O_CLOEXEC) != 0) {
        close(out_pipe[0]);
        close(out_pipe[1]);
        return check_here(cli, reg, -1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(out_pipe[0]), close(out_pipe[1]), close(prog_pipe[0]), close(prog_pipe[1]);
        return check_here(cli, reg, -1);
    }
    if (pid == 0) { /* the child: the check, its stdout into the pipe */
        close(out_pipe[0]);
        close(prog_pipe[0]);
        if (dup2(out_pipe[1], STDOUT_FILENO) < 0)
            _exit(LP__EXIT_ERROR);
        close(out_pipe[1]);
        int rc = check_here(cli, reg, prog_pipe[1]);
        progress_line(prog_pipe[1], DONE_LINE);
        close(prog_pipe[1]);
        return rc; /* main closes the registry and flushes stdout as usual */
    }
    close(out_pipe[1]);
    close(prog_pipe[1]);
    char *out = NULL, last[512] = "";
    size_t out_len = 0;
    int done = 0;
    const double limit = cli->check_timeout > 0 ? cli->check_timeout : LP__CHECK_TIMEOUT_DEFAULT;
    const int64_t limit_ms = limit * 1000 < 1 ? 1 : (int64_t)(limit * 1000);
    int crc = collect(out_pipe[0], prog_pipe[0], now_ms() + limit_ms, &out, &out_len, last,
                      sizeof last, &done);
    close(out_pipe[0]);
    close(prog_pipe[0]);
    if (crc == 1) /* no answer in time: stop it (a scan it runs dies with it) */
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int rc = LP__EXIT_ERROR;
    if (crc == 1) {
        if (last[0] != '\0')
            lp__print_error("%s: no answer from the check's process in %g s while running plugin "
                            "code (%s): it was stopped and the config was not checked; fix that "
                            "plugin or leave it out of the config, or allow more time with "
                            "--check-timeout SECONDS",
                            cli->args[0], limit, last);
        else
            lp__print_error("%s: no answer from the check's process in %g s, before any plugin "
                            "code ran: it was stopped and the config was not checked; allow more "
                            "time with --check-timeout SECONDS",
                            cli->args[0], limit);
    } else if (WIFEXITED(status) && done) {
        if (crc != 0)
            lp__print_error("out of memory for the check's output");
        else if (out_len > 0 && fwrite(out, 1, out_len, stdout) != out_len)
            lp__print_error("cannot write the output");
        else
            rc = WEXITSTATUS(status);
    } else {
        char how[160];
        if (WIFSIGNALED(status)) {
            const char *abbrev = sigabbrev_np(WTERMSIG(status));
            snprintf(how, sizeof how, "was killed by signal SIG%s (%s)",
                     abbrev != NULL ? abbrev : "?", strsignal(WTERMSIG(status)));
        } else {
            snprintf(how, sizeof how, "exited with status %d before it finished",
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        }
        if (last[0] != '\0')
            lp__print_error("%s: the check's process %s while running plugin code (%s): the config "
                            "was not checked; fix that plugin or leave it out of the config",
                            cli->args[0], how, last);
        else
            lp__print_error("%s: the check's process %s before any plugin code ran: the config "
                            "was not checked",
                            cli->args[0], how);
    }
    free(out);
    return rc;
}
