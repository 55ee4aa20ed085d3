/* lossplug-plot: draws a stats file's curves into a PNG for `lossplug
 * plot`, which runs it, so that cairo, fontconfig and their twenty
 * libraries are loaded only by the command that draws, not by every start
 * of the CLI (`lossplug --version`, `list`, `check`).
 *
 *   lossplug-plot --v1 STATS PNG [Y]...
 *
 * Exit status 0 when the PNG was written; 1 after printing
 * "lossplug: error: MESSAGE" on stderr (nothing written); 2 on bad usage. */
#include "lp_plot.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 4 || strcmp(argv[1], "--v1") != 0) {
        fputs("usage: lossplug-plot --v1 STATS PNG [Y]... (run by `lossplug plot`)\n", stderr);
        return 2;
    }
    lp_plot_options opt = {0};
    opt.stats_path = argv[2];
    opt.out_path = argv[3];
    opt.y = (const char *const *)(argv + 4);
    opt.y_count = (size_t)(argc - 4);
    lp_error err = {0};
    int32_t rc = lp_plot_write(&opt, &err);
    lp_plot_shutdown();
    if (rc != LP_OK) {
        fprintf(stderr, "lossplug: error: %s\n", err.message);
        return 1;
    }
    return 0;
}
