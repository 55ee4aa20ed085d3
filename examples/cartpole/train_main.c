/* cartpole-train: train a policy on CartPole-v1 with the losses a config
 * composes, on lossplug's training loop (lp_train_run), through the public
 * API only. docs/training.md and examples/cartpole/README.md.
 *
 * Exit status: 0 the run ended (solved or the step budget), 130 interrupted
 * by SIGINT (a checkpoint was written when --checkpoint was given), 1 a
 * runtime error, 2 bad usage.
 *
 * Under mpirun (docs/distributed.md) every rank trains on its own
 * environments and the gradients are averaged: `mpirun -np N cartpole-train
 * CONFIG` is the whole interface. The program opens the MPI communicator
 * only when an MPI launcher started it (lp_comm_mpi_launched), so a plain
 * run neither starts MPI nor pays for it; rank 0 prints and writes files. */
#include "cartpole_lp.h"

#include <lossplug/comm.h>
#include <lossplug/host.h>
#ifdef CARTPOLE_MPI
#include <lossplug/comm_mpi.h>
#endif

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_PLUGIN_PATHS 16

static const char usage_text[] =
    "usage: cartpole-train CONFIG [options]\n"
    "\n"
    "Train a policy on CartPole-v1 with the losses CONFIG composes.\n"
    "\n"
    "  --seed N            seed of the run (trainer, buffer shuffle, simulator)\n"
    "  --max-steps N       stop after N environment steps (default trainer.total_steps)\n"
    "  --until-return R    stop when the mean return of the last 100 episodes reaches R\n"
    "                      (default trainer.target_return)\n"
    "  --stats FILE        write every epoch's stats to FILE (.csv or .jsonl)\n"
    "  --checkpoint FILE   write checkpoints to FILE (every trainer.checkpoint_every\n"
    "                      epochs, at the end, and on Ctrl-C)\n"
    "  --resume FILE       continue from the checkpoint FILE\n"
    "  --plugin-path DIR   search DIR for loss plugins first (repeatable)\n"
    "  --quiet             no progress on stderr\n"
    "  -h, --help          this text\n"
    "\n"
    "Plugins are searched in the --plugin-path directories, the config's plugin_path,\n"
    "the plugin directory of the build this program comes from, LOSSPLUG_PATH and the\n"
    "installed plugin directory. Ctrl-C stops at the end of the epoch in progress.\n";

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "cartpole-train: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "; see cartpole-train --help\n");
    return 2;
}

static int parse_i64(const char *s, long long min, long long *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || v < min)
        return -1;
    *out = v;
    return 0;
}

/* "" alone, "rank R: " in a run of several (user: the communicator). */
static const char *rank_prefix(const lp_comm *c, char *buf, size_t size) {
    buf[0] = '\0';
    if (c->size > 1)
        snprintf(buf, size, "rank %d of %d: ", (int)c->rank, (int)c->size);
    return buf;
}

static void log_fn(void *user, int32_t level, const char *msg) {
    char rb[48];
    if (level >= LP_LOG_WARN)
        fprintf(stderr, "cartpole-train: %s%s: %s\n", rank_prefix(user, rb, sizeof rb),
                level >= LP_LOG_ERROR ? "error" : "warning", msg);
}

/* A failed rank ends the whole job, after saying why: the others may be
 * waiting for it in a collective. */
static int fail(const lp_comm *c, const char *msg) {
    char rb[48];
    fprintf(stderr, "cartpole-train: %serror: %s\n", rank_prefix(c, rb, sizeof rb), msg);
    fflush(stderr);
#ifdef CARTPOLE_MPI
    if (c->size > 1)
        lp_comm_mpi_abort(c, 1);
#endif
    return 1;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int main(int argc, char **argv) {
    const char *config = NULL, *stats = NULL, *checkpoint = NULL, *resume = NULL;
    const char *plugin_paths[MAX_PLUGIN_PATHS + 1];
    size_t npaths = 0;
    long long seed = 0, max_steps = 0;
    int seed_set = 0, target_set = 0, quiet = 0;
    double target = NAN;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = strcmp(a, "--seed") == 0 || strcmp(a, "--max-steps") == 0 ||
                    strcmp(a, "--until-return") == 0 || strcmp(a, "--stats") == 0 ||
                    strcmp(a, "--checkpoint") == 0 || strcmp(a, "--resume") == 0 ||
                    strcmp(a, "--plugin-path") == 0;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(a, "--quiet") == 0) {
            quiet = 1;
            continue;
        }
        if (takes && (v == NULL || v[0] == '\0'))
            return usage_error("option '%s' needs a value", a);
        if (strcmp(a, "--seed") == 0) {
            if (parse_i64(v, 0, &seed) != 0)
                return usage_error("--seed wants a whole number >= 0, not '%s'", v);
            seed_set = 1;
        } else if (strcmp(a, "--max-steps") == 0) {
            if (parse_i64(v, 1, &max_steps) != 0)
                return usage_error("--max-steps wants a whole number >= 1, not '%s'", v);
        } else if (strcmp(a, "--until-return") == 0) {
            char *end = NULL;
            target = strtod(v, &end);
            if (*end != '\0' || !isfinite(target))
                return usage_error("--until-return wants a number, not '%s'", v);
            target_set = 1;
        } else if (strcmp(a, "--stats") == 0) {
            stats = v;
        } else if (strcmp(a, "--checkpoint") == 0) {
            checkpoint = v;
        } else if (strcmp(a, "--resume") == 0) {
            resume = v;
        } else if (strcmp(a, "--plugin-path") == 0) {
            if (npaths == MAX_PLUGIN_PATHS)
                return usage_error("too many --plugin-path options (at most 16, '%s')", v);
            plugin_paths[npaths++] = v;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option '%s'", a);
        } else if (config == NULL) {
            config = a;
            continue;
        } else {
            return usage_error("one CONFIG only; '%s' is a second one", a);
        }
        i++; /* the option's value */
    }
    if (config == NULL)
        return usage_error("%s", "no CONFIG given (e.g. examples/cartpole/ppo.yaml)");
#ifdef CARTPOLE_BUILD_PLUGIN_DIR
    /* The plugins of the build this program was built in, when it is still
     * there: `make demo` and a build tree work without any path setup. */
    if (is_dir(CARTPOLE_BUILD_PLUGIN_DIR))
        plugin_paths[npaths++] = CARTPOLE_BUILD_PLUGIN_DIR;
#endif
    (void)is_dir;

    lp_comm comm;
    lp_comm_local_init(&comm);
    lp_error err;
    memset(&err, 0, sizeof err);
#ifdef CARTPOLE_MPI
    int mpi = lp_comm_mpi_launched();
    if (mpi && lp_comm_mpi_open(&comm, &err) != LP_OK) {
        fprintf(stderr, "cartpole-train: error: %s\n", err.message);
        return 1;
    }
#else
    const char *ompi = getenv("OMPI_COMM_WORLD_SIZE");
    if (ompi != NULL && strcmp(ompi, "1") != 0) {
        fprintf(stderr,
                "cartpole-train: error: started by mpirun with %s ranks, but this build "
                "has no MPI support (liblossplug-mpi); install libopenmpi-dev and "
                "rebuild (cmake -DLP_MPI=ON)\n",
                ompi);
        return 1;
    }
#endif

    cartpole_lp cp;
    lp_env env;
    cartpole_lp_init(&cp, &env);
    cp.seed_forced = seed_set;

    lp_train_printer printer;
    lp_train_printer_init(&printer, stderr, 0);
    lp_train_options opt;
    lp_train_options_init(&opt);
    opt.plugin_paths = plugin_paths;
    opt.plugin_path_count = npaths;
    opt.stats_path = stats;
    opt.seed_set = seed_set;
    opt.seed = seed;
    opt.max_steps = max_steps;
    opt.target_set = target_set;
    opt.target_return = target;
    opt.checkpoint_path = checkpoint;
    opt.resume_path = resume;
    opt.handle_sigint = 1;
    opt.progress = quiet || comm.rank != 0 ? NULL : lp_train_print_progress;
    opt.progress_user = &printer;
    opt.log = log_fn;
    opt.log_user = &comm;
    opt.comm = &comm;

    lp_train_outcome out;
    int32_t rc = lp_train_run(config, &opt, &env, &out, &err);
    cartpole_lp_free(&cp);
#ifdef CARTPOLE_MPI
    if (rc == LP_OK || comm.size == 1)
        lp_comm_mpi_close(&comm); /* alone, a failure needs no abort */
#endif
    if (rc != LP_OK)
        return fail(&comm, err.message[0] != '\0' ? err.message : lp_strerror(rc));
    if (comm.rank != 0)
        return out.stop_reason == LP_TRAIN_STOP_INTERRUPTED ? 130 : 0;
    printf("result: solved=%s env_steps=%lld epochs=%lld episodes=%lld seconds=%.3f "
           "steps_per_second=%.0f mean_return=%.2f\n",
           out.solved ? "yes" : "no", (long long)out.env_steps, (long long)out.epochs,
           (long long)out.episodes, out.seconds, out.steps_per_second, out.mean_return);
    return out.stop_reason == LP_TRAIN_STOP_INTERRUPTED ? 130 : 0;
}
