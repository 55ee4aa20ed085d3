/*
 * Internal interface of the `lossplug` command-line tool: the parsed
 * options, the command table entry, and the helpers the commands share.
 * Nothing here is installed.
 */
#ifndef LP_CLI_H
#define LP_CLI_H

#include <lossplug/host.h>

#include <stddef.h>
#include <stdio.h>

/* Exit codes, as docs/cli.md states them. */
enum {
    LP__EXIT_OK = 0,    /* success */
    LP__EXIT_ERROR = 1, /* a user-facing error: bad plugin, unknown id, ... */
    LP__EXIT_USAGE = 2, /* bad usage: unknown option or command, missing argument */
};

/* More --plugin-path options than this is a usage error. */
#define LP__MAX_PLUGIN_PATHS 64

/* `check`'s time limit for its child process, in seconds: the default and
 * the largest --check-timeout. */
#define LP__CHECK_TIMEOUT_DEFAULT 30.0
#define LP__CHECK_TIMEOUT_MAX     86400.0

/* Global options and the command's own arguments, as parsed from argv. */
typedef struct lp__cli {
    const char *const *plugin_paths; /* --plugin-path, in order given */
    size_t plugin_path_count;
    int allow_insecure;    /* --allow-insecure-plugins */
    int no_default_paths;  /* --no-default-paths: skip LOSSPLUG_PATH and the install dir */
    int no_scan;           /* --no-scan: load plugins in-process without scanning them first */
    int json;              /* --json */
    double check_timeout;  /* --check-timeout SECONDS (check); 0: the default */
    int verbose;           /* --verbose: also print the registry's info log */
    int help;              /* --help */
    int version;           /* --version */
    const char *output;    /* -o, --output FILE (plot) */
    const char *const *ys; /* --y NAME (plot), in order given */
    size_t y_count;
    const char *command;     /* first operand, or NULL */
    const char *const *args; /* operands after the command */
    int arg_count;
    const char **storage_;    /* owns the operand array; see lp__cli_free */
    const char **ys_storage_; /* owns `ys` */
} lp__cli;

/* A command runs with the registry already open and its diagnostics
 * already printed; it returns an exit code. */
typedef int (*lp__command_fn)(const lp__cli *cli, const lp_registry *reg);

/* One entry of the dispatch table (main.c). Adding a command is one entry
 * plus the file that implements it. */
typedef struct lp__command {
    const char *name;
    const char *operands; /* for usage lines, e.g. "ID" */
    const char *summary;  /* one line for --help */
    int min_args;
    int max_args;
    lp__command_fn run;
    int no_registry; /* runs with `reg` NULL: reads files, loads no plugin */
} lp__command;

/* options.c: parse argv into `cli`, whose arrays point into `argv` or into
 * storage freed by lp__cli_free. Returns 0, or LP__EXIT_USAGE after printing
 * the reason and the hint to stderr. */
int lp__cli_parse(lp__cli *cli, int argc, char **argv);
void lp__cli_free(lp__cli *cli);

/* Diagnostics on stderr: "lossplug: error: <message>". */
void lp__print_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void lp__print_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The one-line pointer to --help that follows a usage error. */
void lp__print_usage_hint(void);

/* The commands (one file each). */
int lp__cmd_list(const lp__cli *cli, const lp_registry *reg);
int lp__cmd_describe(const lp__cli *cli, const lp_registry *reg);
int lp__cmd_check(const lp__cli *cli, const lp_registry *reg);
int lp__cmd_plot(const lp__cli *cli, const lp_registry *reg);    /* reg unused */
int lp__cmd_inspect(const lp__cli *cli, const lp_registry *reg); /* reg unused */

/* schema.c: read plugin arrays element by element with the stride and size
 * the plugin declared (specs[0].struct_size), into zeroed storage of this
 * build's size, so that fields an older plugin lacks read as absent. */
void lp__param_at(const lp_loss_desc *desc, uint32_t index, lp_param_spec *out);
void lp__field_at(const lp_loss_desc *desc, uint32_t index, lp_field_spec *out);
/* "read", "write", "read|write", with "|optional" when optional. */
void lp__access_string(uint32_t access, char *buf, size_t size);
/* "rollout", "train", "rollout|train", or "none". */
void lp__phase_string(uint32_t phase, char *buf, size_t size);
/* A field's per-step shape: "[OBS, 4]"; "[]" for a scalar. */
void lp__shape_string(const lp_field_spec *f, char *buf, size_t size);
/* Symbolic dimension name ("OBS", "ACTION", "NUM_ACTIONS") or NULL. */
const char *lp__dim_name(int64_t dim);
/* Shortest "%g" form of `v` that reads back exactly. */
void lp__format_double(double v, char *buf, size_t size);

/* A loss's identity in --json output (list.c), the same in `list` and
 * `describe`: "id", "version", "summary", "file", "abi": {"major", "minor"},
 * written as keys of the object that is open in `j`. */
struct lp__json;
void lp__json_loss_head(struct lp__json *j, const lp_loss_info *info);

#endif /* LP_CLI_H */
