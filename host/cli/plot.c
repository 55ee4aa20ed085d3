/* `lossplug plot STATS -o PNG [--y NAME]...`: the training curves of a stats
 * file, drawn with cairo (host/plot). docs/cli.md "plot". */
#include "cli/cli.h"

#include "cli/json.h"
#include "plot/lp_plot.h"

int lp__cmd_plot(const lp__cli *cli, const lp_registry *reg) {
    (void)reg;
    if (cli->output == NULL) {
        lp__print_error("plot needs the PNG to write: lossplug plot %s -o curve.png", cli->args[0]);
        lp__print_usage_hint();
        return LP__EXIT_USAGE;
    }
    lp_plot_options opt = {0};
    opt.stats_path = cli->args[0];
    opt.out_path = cli->output;
    opt.y = cli->ys;
    opt.y_count = cli->y_count;
    lp_error err = {0};
    int32_t rc = lp_plot_write(&opt, &err);
    lp_plot_shutdown(); /* the CLI draws once */
    if (rc != LP_OK) {
        lp__print_error("%s", err.message);
        return LP__EXIT_ERROR;
    }
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
