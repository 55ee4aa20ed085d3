/* `lossplug plot STATS -o PNG [--y NAME]...`: the training curves of a stats
 * file, drawn with cairo (host/plot) by the helper lossplug-plot, which this
 * command runs: the CLI itself does not link cairo, so its other commands
 * start without loading it. docs/cli.md "plot". */
#include "cli/cli.h"

#include "cli/json.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* <directory of this executable>/<rel> for each place the helper may be
 * (the install's libdir, then the build tree's lib/), the first that is
 * executable, in `out`; 0 when none is. */
static int find_plotter(char *out, size_t len) {
    static const char *const rel[] = {LP_PLOTTER_FROM_BINDIR, "../lib/lossplug/lossplug-plot"};
    char self[PATH_MAX];
    if (realpath("/proc/self/exe", self) == NULL)
        return 0;
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        int n = snprintf(out, len, "%s/%s", self, rel[i]);
        if (n > 0 && (size_t)n < len && access(out, X_OK) == 0)
            return 1;
    }
    return 0;
}

int lp__cmd_plot(const lp__cli *cli, const lp_registry *reg) {
    (void)reg;
    if (cli->output == NULL) {
        lp__print_error("plot needs the PNG to write: lossplug plot %s -o curve.png", cli->args[0]);
        lp__print_usage_hint();
        return LP__EXIT_USAGE;
    }
    char plotter[PATH_MAX];
    if (!find_plotter(plotter, sizeof plotter)) {
        lp__print_error("cannot draw: the helper lossplug-plot is not installed beside this "
                        "lossplug (in ../%s/lossplug/ from its directory); reinstall lossplug",
                        LP_INSTALL_LIBDIR_NAME);
        return LP__EXIT_ERROR;
    }
    char **argv = calloc(cli->y_count + 5, sizeof *argv);
    if (argv == NULL) {
        lp__print_error("out of memory");
        return LP__EXIT_ERROR;
    }
    argv[0] = plotter;
    argv[1] = (char *)"--v1";
    argv[2] = (char *)cli->args[0];
    argv[3] = (char *)cli->output;
    for (size_t i = 0; i < cli->y_count; i++)
        argv[4 + i] = (char *)cli->ys[i];
    fflush(stdout);
    fflush(stderr);
    pid_t pid;
    int e = posix_spawn(&pid, plotter, NULL, NULL, argv, environ);
    free(argv);
    if (e != 0) {
        lp__print_error("cannot draw: cannot run %s: %s", plotter, strerror(e));
        return LP__EXIT_ERROR;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status)) {
        lp__print_error("cannot draw: %s was killed by signal %d (%s); %s was not written", plotter,
                        WTERMSIG(status), strsignal(WTERMSIG(status)), cli->output);
        return LP__EXIT_ERROR;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return LP__EXIT_ERROR; /* the helper printed why */
    if (cli->json) {
        lp__json j;
        lp__json_init(&j, stdout);
        lp__json_object_begin(&j);
        lp__json_kv_string(&j, "png", cli->output);
        lp__json_object_end(&j);
        lp__json_finish(&j);
    } else
        printf("plot: %s\n", cli->output);
    return LP__EXIT_OK;
}
