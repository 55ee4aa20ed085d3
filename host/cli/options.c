/* Command-line parsing: global options may come before or after the
 * command; "--" ends the options. */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void lp__vprint(const char *kind, const char *fmt, va_list ap) {
    fprintf(stderr, "lossplug: %s: ", kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void lp__print_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lp__vprint("error", fmt, ap);
    va_end(ap);
}

void lp__print_warning(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lp__vprint("warning", fmt, ap);
    va_end(ap);
}

void lp__print_usage_hint(void) {
    fputs("Try 'lossplug --help' for more information.\n", stderr);
}

static int lp__usage_error(const char *fmt, const char *what) {
    lp__print_error(fmt, what);
    lp__print_usage_hint();
    return LP__EXIT_USAGE;
}

/* The value of an option that takes one: "--opt=VALUE" or "--opt VALUE".
 * Returns NULL (after printing why) when it is missing. */
static const char *lp__option_value(const char *name, int argc, char **argv, int *i) {
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (arg[n] == '=')
        return arg + n + 1;
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

/* True when `arg` is `name` or "name=...". */
static int lp__is_option(const char *arg, const char *name) {
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

/* Options that take no value refuse "--flag=...". */
static int lp__is_flag(const char *arg, const char *name) {
    return strcmp(arg, name) == 0;
}

int lp__cli_parse(lp__cli *cli, int argc, char **argv) {
    memset(cli, 0, sizeof *cli);
    /* Never more entries than arguments. */
    const char **paths = calloc((size_t)argc + 1, sizeof *paths);
    const char **operands = calloc((size_t)argc + 1, sizeof *operands);
    const char **ys = calloc((size_t)argc + 1, sizeof *ys);
    cli->ys = ys;
    cli->ys_storage_ = ys;
    cli->plugin_paths = paths;
    cli->args = operands;
    cli->storage_ = operands;
    if (paths == NULL || operands == NULL || ys == NULL) {
        lp__print_error("out of memory");
        return LP__EXIT_ERROR;
    }
    int operand_count = 0;
    int options_done = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            operands[operand_count++] = arg;
        } else if (strcmp(arg, "--") == 0) {
            options_done = 1;
        } else if (lp__is_option(arg, "--plugin-path")) {
            const char *dir = lp__option_value("--plugin-path", argc, argv, &i);
            if (dir == NULL)
                return lp__usage_error("option '%s' needs a directory", "--plugin-path");
            if (dir[0] == '\0')
                return lp__usage_error("option '%s' needs a non-empty directory", "--plugin-path");
            if (cli->plugin_path_count == LP__MAX_PLUGIN_PATHS)
                return lp__usage_error("too many '%s' options", "--plugin-path");
            paths[cli->plugin_path_count++] = dir;
        } else if (lp__is_option(arg, "--output") || lp__is_flag(arg, "-o")) {
            const char *file = lp__option_value(arg[1] == 'o' ? "-o" : "--output", argc, argv, &i);
            if (file == NULL || file[0] == '\0')
                return lp__usage_error("option '%s' needs a file name", arg);
            cli->output = file;
        } else if (lp__is_option(arg, "--y")) {
            const char *name = lp__option_value("--y", argc, argv, &i);
            if (name == NULL || name[0] == '\0')
                return lp__usage_error("option '%s' needs a column name", "--y");
            ys[cli->y_count++] = name;
        } else if (lp__is_option(arg, "--check-timeout")) {
            const char *v = lp__option_value("--check-timeout", argc, argv, &i);
            if (v == NULL || v[0] == '\0')
                return lp__usage_error("option '%s' needs a number of seconds", "--check-timeout");
            char *end = NULL;
            double t = strtod(v, &end);
            if (*end != '\0' || !(t > 0) || t > LP__CHECK_TIMEOUT_MAX)
                return lp__usage_error("--check-timeout wants a number of seconds > 0 and at most "
                                       "86400, not '%s'",
                                       v);
            cli->check_timeout = t;
        } else if (lp__is_flag(arg, "--allow-insecure-plugins")) {
            cli->allow_insecure = 1;
        } else if (lp__is_flag(arg, "--no-default-paths")) {
            cli->no_default_paths = 1;
        } else if (lp__is_flag(arg, "--no-scan")) {
            cli->no_scan = 1;
        } else if (lp__is_flag(arg, "--json")) {
            cli->json = 1;
        } else if (lp__is_flag(arg, "--verbose") || lp__is_flag(arg, "-v")) {
            cli->verbose = 1;
        } else if (lp__is_flag(arg, "--help") || lp__is_flag(arg, "-h")) {
            cli->help = 1;
        } else if (lp__is_flag(arg, "--version") || lp__is_flag(arg, "-V")) {
            cli->version = 1;
        } else {
            return lp__usage_error("unknown option '%s'", arg);
        }
    }
    if (operand_count > 0) {
        cli->command = operands[0];
        cli->args = operands + 1;
        cli->arg_count = operand_count - 1;
    }
    return 0;
}

void lp__cli_free(lp__cli *cli) {
    free((void *)cli->plugin_paths);
    free((void *)cli->storage_);
    free((void *)cli->ys_storage_);
    cli->ys_storage_ = NULL;
    cli->ys = NULL;
    cli->plugin_paths = NULL;
    cli->args = NULL;
    cli->storage_ = NULL;
}
