/* The main of the example training programs (cartpole-train,
 * pendulum-train, grid-train): train a policy on an example environment with
 * the losses a config composes, on lossplug's training loop (lp_train_run),
 * through the public API only. docs/training.md and
 * examples/cartpole/README.md.
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
#include "example_train.h"
#include "plot/lp_plot.h"

#include <lossplug/comm.h>
#include <lossplug/host.h>
#ifdef EXAMPLE_MPI
#include <lossplug/comm_mpi.h>
#endif

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PLUGIN_PATHS 16

/* The program being run (set once by example_train_main). */
static const example_train *ex;

static const char usage_text[] =
    "  --seed N            seed of the run (trainer, buffer shuffle, simulator)\n"
    "  --max-steps N       stop after N environment steps (default trainer.total_steps)\n"
    "  --until-return R    stop when the mean return of the last 100 episodes reaches R\n"
    "                      (default trainer.target_return)\n"
    "  --stats FILE        write every epoch's stats to FILE (.csv or .jsonl)\n"
    "  --checkpoint FILE   write checkpoints to FILE (every trainer.checkpoint_every\n"
    "                      epochs, at the end, and on Ctrl-C)\n"
    "  --resume FILE       continue from the checkpoint FILE\n"
    "  --plot FILE.png     at the end, draw the return curve of the run into FILE.png\n"
    "                      (from --stats FILE, or from a temporary stats file)\n"
    "  --plugin-path DIR   search DIR for loss plugins first (repeatable)\n"
    "  --quiet             no progress on stderr\n"
    "  --check-fields      debug: fail a hook that changes a field its loss only reads\n"
    "  -v, --verbose       also print the info and debug messages of the host and the\n"
    "                      plugins (which plugin files were loaded, ...), and\n"
    "                      name every entry a resume restored, missed or did not use\n"
    "  -h, --help          this text\n"
    "\n"
    "Plugins are searched in the --plugin-path directories, the config's plugin_path,\n"
    "LOSSPLUG_PATH, then the plugin directory of the install or the build tree this\n"
    "program runs from (docs/loader.md). Ctrl-C stops at the end of the epoch in progress.\n";

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "%s: ", ex->prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "; see %s --help\n", ex->prog);
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

/* What log_fn needs: the communicator (for the rank prefix) and -v. */
typedef struct log_ctx {
    const lp_comm *comm;
    int verbose;
} log_ctx;

static void log_fn(void *user, int32_t level, const char *msg) {
    const log_ctx *lc = user;
    char rb[48];
    if (level < LP_LOG_WARN && !lc->verbose)
        return;
    fprintf(stderr, "%s: %s%s: %s\n", ex->prog, rank_prefix(lc->comm, rb, sizeof rb),
            level >= LP_LOG_ERROR  ? "error"
            : level >= LP_LOG_WARN ? "warning"
            : level >= LP_LOG_INFO ? "info"
                                   : "debug",
            msg);
}

/* A failed rank ends the whole job, after saying why: the others may be
 * waiting for it in a collective. */
static int fail(const lp_comm *c, const char *msg) {
    char rb[48];
    fprintf(stderr, "%s: %serror: %s\n", ex->prog, rank_prefix(c, rb, sizeof rb), msg);
    fflush(stderr);
#ifdef EXAMPLE_MPI
    if (c->size > 1)
        lp_comm_mpi_abort(c, 1);
#endif
    return 1;
}

int example_train_main(int argc, char **argv, const example_train *program) {
    ex = program;
    const char *config = NULL, *stats = NULL, *checkpoint = NULL, *resume = NULL, *plot = NULL;
    const char *plugin_paths[MAX_PLUGIN_PATHS];
    size_t npaths = 0;
    long long seed = 0, max_steps = 0;
    int seed_set = 0, target_set = 0, quiet = 0, verbose = 0, check_fields = 0;
    double target = NAN;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = strcmp(a, "--seed") == 0 || strcmp(a, "--max-steps") == 0 ||
                    strcmp(a, "--until-return") == 0 || strcmp(a, "--stats") == 0 ||
                    strcmp(a, "--checkpoint") == 0 || strcmp(a, "--resume") == 0 ||
                    strcmp(a, "--plugin-path") == 0 || strcmp(a, "--plot") == 0;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            printf("usage: %s CONFIG [options]\n\nTrain a policy on %s with the losses CONFIG "
                   "composes.\n\n",
                   ex->prog, ex->env_name);
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(a, "--quiet") == 0) {
            quiet = 1;
            continue;
        }
        if (strcmp(a, "--check-fields") == 0) {
            check_fields = 1;
            continue;
        }
        if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            verbose = 1;
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
        } else if (strcmp(a, "--plot") == 0) {
            plot = v;
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
        return usage_error("no CONFIG given (e.g. %s)", ex->example_config);
    /* --plot without --stats: the stats go to a temporary file, removed at
     * the end. */
    char tmp_stats[4096] = "";
    if (plot != NULL && stats == NULL) {
        const char *dir = getenv("TMPDIR");
        snprintf(tmp_stats, sizeof tmp_stats, "%s/%s-%ld.csv",
                 dir != NULL && dir[0] != '\0' ? dir : "/tmp", ex->prog, (long)getpid());
        unlink(tmp_stats);
        stats = tmp_stats;
    }

    lp_comm comm;
    lp_comm_local_init(&comm);
    lp_error err;
    memset(&err, 0, sizeof err);
#ifdef EXAMPLE_MPI
    int mpi = lp_comm_mpi_launched();
    if (mpi && lp_comm_mpi_open(&comm, &err) != LP_OK) {
        fprintf(stderr, "%s: error: %s\n", ex->prog, err.message);
        return 1;
    }
#else
    const char *ompi = getenv("OMPI_COMM_WORLD_SIZE");
    if (ompi != NULL && strcmp(ompi, "1") != 0) {
        fprintf(stderr,
                "%s: error: started by mpirun with %s ranks, but this build "
                "has no MPI support (liblossplug-mpi); install libopenmpi-dev and "
                "rebuild (cmake -DLP_MPI=ON)\n",
                ex->prog, ompi);
        return 1;
    }
#endif

    lp_env env;
    ex->init(ex->user, &env, seed_set);

    lp_train_printer printer;
    lp_train_printer_init(&printer, stderr, 0);
    printer.verbose = verbose;
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
    opt.check_fields = check_fields;
    opt.progress = quiet || comm.rank != 0 ? NULL : lp_train_print_progress;
    opt.progress_user = &printer;
    opt.log = log_fn;
    log_ctx lc = {&comm, verbose};
    opt.log_user = &lc;
    opt.comm = &comm;

    lp_train_outcome out;
    int32_t rc = lp_train_run(config, &opt, &env, &out, &err);
    ex->free(ex->user);
#ifdef EXAMPLE_MPI
    if (rc == LP_OK || comm.size == 1)
        lp_comm_mpi_close(&comm); /* alone, a failure needs no abort */
#endif
    if (rc != LP_OK || comm.rank != 0) {
        if (tmp_stats[0] != '\0')
            unlink(tmp_stats);
        if (rc != LP_OK)
            return fail(&comm, err.message[0] != '\0' ? err.message : lp_strerror(rc));
        return out.stop_reason == LP_TRAIN_STOP_INTERRUPTED ? 130 : 0;
    }
    printf("result: solved=%s env_steps=%lld epochs=%lld episodes=%lld seconds=%.3f "
           "steps_per_second=%.0f mean_return=%.2f\n",
           out.solved ? "yes" : "no", (long long)out.env_steps, (long long)out.epochs,
           (long long)out.episodes, out.seconds, out.steps_per_second, out.mean_return);
    int status = out.stop_reason == LP_TRAIN_STOP_INTERRUPTED ? 130 : 0;
    if (plot != NULL) {
        lp_plot_options po = {0};
        po.stats_path = stats;
        po.out_path = plot;
        char title[512];
        const char *base = strrchr(config, '/');
        snprintf(title, sizeof title, "%s %s: episode return vs env steps", ex->prog,
                 base != NULL ? base + 1 : config);
        po.title = title;
        memset(&err, 0, sizeof err);
        int32_t prc = lp_plot_write(&po, &err);
        lp_plot_shutdown(); /* the last picture of this process */
        if (prc != LP_OK) {
            fprintf(stderr, "%s: error: --plot: %s\n", ex->prog, err.message);
            status = 1;
        } else {
            printf("plot: %s\n", plot);
        }
        if (tmp_stats[0] != '\0')
            unlink(tmp_stats);
    }
    return status;
}
