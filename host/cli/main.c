/*
 * lossplug: list and describe the loss plugins the host library can load.
 *
 * main() parses the options, opens one registry with them, prints every
 * diagnostic the registry collected, and hands over to the command found in
 * the dispatch table below. docs/cli.md documents the behaviour.
 */
#include "cli/cli.h"

#include <string.h>

/* The dispatch table: adding a command is one entry here plus its file. */
static const lp__command lp__commands[] = {
    {"list", "", "list every loss found: id, version, file, summary", 0, 0, lp__cmd_list, 0},
    {"describe", "ID", "describe one loss: parameters, fields, model outputs, file", 1, 1,
     lp__cmd_describe, 0},
    {"check", "CONFIG", "check a config without training; print the merged spec", 1, 1,
     lp__cmd_check, 0},
    {"plot", "STATS -o PNG", "draw a stats file's curves (--y NAME, repeatable) into a PNG", 1, 1,
     lp__cmd_plot, 1},
    {"inspect", "CKPT", "list a checkpoint's entries and check every CRC", 1, 1, lp__cmd_inspect,
     1},
};

#define LP__COMMAND_COUNT (sizeof lp__commands / sizeof lp__commands[0])

static const lp__command *lp__find_command(const char *name) {
    for (size_t i = 0; i < LP__COMMAND_COUNT; i++)
        if (strcmp(lp__commands[i].name, name) == 0)
            return &lp__commands[i];
    return NULL;
}

static void lp__print_help(FILE *out) {
    fputs("Usage: lossplug [OPTIONS] COMMAND [ARGS]\n"
          "\n"
          "List and describe the loss plugins lossplug can load, check configs, plot\n"
          "stats files and inspect checkpoints.\n"
          "\n"
          "Commands:\n",
          out);
    for (size_t i = 0; i < LP__COMMAND_COUNT; i++) {
        char usage[64];
        const lp__command *c = &lp__commands[i];
        snprintf(usage, sizeof usage, "%s%s%s", c->name, c->operands[0] ? " " : "", c->operands);
        fprintf(out, "  %-24s %s\n", usage, c->summary);
    }
    fprintf(out,
            "\n"
            "Options:\n"
            "  --plugin-path DIR        search DIR for plugins first (repeatable, in order)\n"
            "  --allow-insecure-plugins also load plugins from files or directories that are\n"
            "                           writable by group or others, or owned by another user\n"
            "  --no-default-paths       search the --plugin-path directories only (not\n"
            "                           LOSSPLUG_PATH, not the install directory)\n"
            "  --no-scan                load plugins in-process without first scanning each\n"
            "                           new or changed file in a child process (lossplug-scan)\n"
            "  --check-timeout SECONDS  check: stop the check's process (and fail) when it\n"
            "                           has not finished after SECONDS (default 30)\n"
            "  --json                   machine-readable output (JSON) on stdout\n"
            "  -o, --output FILE        plot: the PNG to write\n"
            "  --y NAME                 plot: a column to draw against env_steps (repeatable;\n"
            "                           default episode_return)\n"
            "  -v, --verbose            also print the registry's and plugins' info messages\n"
            "  -h, --help               show this help and exit\n"
            "  -V, --version            show the version and exit\n"
            "\n"
            "Plugins (*.so) are searched in the --plugin-path directories, then in\n"
            "LOSSPLUG_PATH (':'-separated), then in %s.\n"
            "Diagnostics go to stderr as 'lossplug: error: ...' or 'lossplug: warning: ...'.\n"
            "\n"
            "Exit status: 0 success; 1 an error (a plugin was refused, unknown loss id);\n"
            "2 bad usage.\n",
            lp_install_plugin_dir());
}

static void lp__print_version(FILE *out) {
    fprintf(out, "lossplug %s (plugin ABI %d.%d)\n", lp_version_string(), LP_ABI_MAJOR,
            LP_ABI_MINOR);
}

/* The registry's and the plugins' log lines: warnings and errors always,
 * the rest with --verbose. */
static void lp__log(void *user, int32_t level, const char *msg) {
    const lp__cli *cli = user;
    const char *kind = level >= LP_LOG_ERROR  ? "error"
                       : level >= LP_LOG_WARN ? "warning"
                       : level >= LP_LOG_INFO ? "info"
                                              : "debug";
    if (level < LP_LOG_WARN && !cli->verbose)
        return;
    fprintf(stderr, "lossplug: %s: %s\n", kind, msg);
}

/* Prints every diagnostic; returns the number of errors among them. */
static size_t lp__print_diagnostics(const lp_registry *reg) {
    size_t errors = 0;
    for (size_t i = 0; i < lp_registry_diag_count(reg); i++) {
        const lp_diag *d = lp_registry_diag_at(reg, i);
        if (d->severity == LP_DIAG_ERROR) {
            errors++;
            lp__print_error("%s", d->message);
        } else {
            lp__print_warning("%s", d->message);
        }
    }
    return errors;
}

static int lp__run(const lp__cli *cli) {
    if (cli->help) {
        lp__print_help(stdout);
        return LP__EXIT_OK;
    }
    if (cli->version) {
        lp__print_version(stdout);
        return LP__EXIT_OK;
    }
    if (cli->command == NULL) {
        lp__print_error("no command given");
        lp__print_usage_hint();
        return LP__EXIT_USAGE;
    }
    const lp__command *cmd = lp__find_command(cli->command);
    if (cmd == NULL) {
        lp__print_error("unknown command '%s'", cli->command);
        lp__print_usage_hint();
        return LP__EXIT_USAGE;
    }
    if (cli->arg_count < cmd->min_args) {
        lp__print_error("'%s' needs %s", cmd->name, cmd->operands);
        lp__print_usage_hint();
        return LP__EXIT_USAGE;
    }
    if (cli->arg_count > cmd->max_args) {
        lp__print_error("too many arguments for '%s' (unexpected '%s')", cmd->name,
                        cli->args[cmd->max_args]);
        lp__print_usage_hint();
        return LP__EXIT_USAGE;
    }

    if (cmd->no_registry)
        return cmd->run(cli, NULL);

    /* A relocated install searches its own plugin directory after the
     * --plugin-path ones. */
    const char *paths[LP__MAX_PLUGIN_PATHS + 1];
    size_t path_count = 0;
    for (size_t i = 0; i < cli->plugin_path_count; i++)
        paths[path_count++] = cli->plugin_paths[i];

    lp_registry_options opt;
    lp_registry_options_init(&opt);
    if (cli->no_default_paths) {
        opt.use_env_path = 0;
        opt.use_install_dir = 0;
    }
    opt.plugin_paths = paths;
    opt.plugin_path_count = path_count;
    opt.allow_insecure = cli->allow_insecure;
    /* A plugin that crashes or hangs becomes a diagnostic, not our end;
     * and no plugin code runs in this process at all: list, describe and
     * check's diagnostics work from the scans' reports (check runs the
     * plugins it needs in a child, check.c). */
    opt.scan = !cli->no_scan;
    opt.describe_only = !cli->no_scan;
    opt.log = lp__log;
    opt.log_user = (void *)cli;

    lp_registry *reg = NULL;
    lp_error err = {0};
    if (lp_registry_open(&opt, &reg, &err) != LP_OK) {
        lp__print_error("%s", err.message[0] ? err.message : lp_strerror(err.code));
        return LP__EXIT_ERROR;
    }
    size_t errors = lp__print_diagnostics(reg);
    int rc = cmd->run(cli, reg);
    lp_registry_close(reg);
    if (rc == LP__EXIT_OK && errors > 0)
        rc = LP__EXIT_ERROR;
    return rc;
}

int main(int argc, char **argv) {
    lp__cli cli;
    int rc = lp__cli_parse(&cli, argc, argv);
    if (rc == 0)
        rc = lp__run(&cli);
    lp__cli_free(&cli);
    if (fflush(stdout) != 0 && rc == LP__EXIT_OK) {
        lp__print_error("cannot write the output");
        rc = LP__EXIT_ERROR;
    }
    return rc;
}
