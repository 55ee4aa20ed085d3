/*
 * lossplug/registry.h: the library (version, status names, lp_error, the
 * log sink) and the plugin registry: discovery and loading of loss plugins.
 * Part of liblossplug (pkg-config lossplug); every other header of the
 * embedding API includes it. Which header and library serve whom:
 * docs/embedding.md "Which header, which library".
 *
 * Rules for every function here:
 *  - Functions that can fail return an lp_status (LP_OK or negative) and, when
 *    `err` is not NULL, fill it with a message that says what failed, where
 *    and how to fix it. `err` is caller-owned.
 *  - No global mutable state: objects from two lp_registry_open calls are
 *    independent. An object is not thread-safe: use it from one thread at a
 *    time (the thread that drives it). Distinct objects may be used from
 *    distinct threads.
 *  - Nothing is printed: logs go to the callback given in the options.
 */
#ifndef LOSSPLUG_REGISTRY_H
#define LOSSPLUG_REGISTRY_H

#include <lossplug/abi.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the functions the lossplug libraries export; everything else in
 * them is built with hidden visibility. */
#ifndef LP_API
#if defined(__GNUC__)
#define LP_API __attribute__((visibility("default")))
#else
#define LP_API
#endif
#endif

/* ---- library ------------------------------------------------------------- */

/* "MAJOR.MINOR.PATCH" of liblossplug. Static storage. [any-thread] */
LP_API const char *lp_version_string(void);

/* Message and name ("LP_EINVAL") of a status; "unknown status" for others.
 * Static storage. [any-thread] */
LP_API const char *lp_strerror(int32_t status);
LP_API const char *lp_err_name(int32_t status);

#define LP_ERROR_MAX 1024

/* A status and its message. Caller-owned; no cleanup needed. */
typedef struct lp_error {
    int32_t code;
    char message[LP_ERROR_MAX];
} lp_error;

/* Log sink: `msg` is valid during the call only. Called on the thread that
 * called into the library. */
typedef void (*lp_log_fn)(void *user, int32_t level, const char *msg);

/* ---- plugin registry (discovery and loading) ------------------------------- */

typedef struct lp_registry lp_registry;

/* Values of lp_registry_options.scan (and lp_session_options.scan_plugins). */
#define LP_SCAN_OFF  (-1) /* never run lossplug-scan */
#define LP_SCAN_AUTO 0    /* the default: scan when describe_only or only_ids is set */
#define LP_SCAN_ON   1    /* scan every new or changed file */

typedef struct lp_registry_options {
    uint32_t struct_size;            /* set by lp_registry_options_init */
    const char *const *plugin_paths; /* searched first, in order; copied */
    size_t plugin_path_count;
    int use_env_path;    /* also search LOSSPLUG_PATH (':'-separated, read
                            with secure_getenv); default 1 */
    int use_install_dir; /* also search the installed plugin directory;
                            default 1 */
    int allow_insecure;  /* load plugins from files or directories that are
                            writable by group/others or owned by another
                            user; default 0 */
    lp_log_fn log;       /* may be NULL */
    void *log_user;
    /* Added in lossplug 0.2 (read only when struct_size covers them): */
    int scan;            /* Whether the helper program lossplug-scan loads each new or
                            changed file in a child process before this one loads it, so
                            that a plugin whose constructor or init crashes, aborts, exits
                            or hangs becomes a diagnostic naming the file and what happened
                            instead of ending or hanging this process; results are cached
                            (docs/loader.md). LP_SCAN_AUTO (0, the default): scan when
                            describe_only or only_ids is set (then the scan tells which
                            files to load), not otherwise. LP_SCAN_ON (1): always.
                            LP_SCAN_OFF (-1): never run the helper (only_ids then uses the
                            cached reports of files that passed an earlier scan and loads
                            every other file). A scan costs a fork+exec per new or changed
                            file; without the helper installed, files load unscanned with
                            a warning. */
    int scan_timeout_ms; /* per file; default (0): 3000 */
    /* Added in lossplug 0.2 with protocol 2 of lossplug-scan (read only when
     * struct_size covers them): */
    int describe_only; /* 1: describe every plugin from lossplug-scan's report (cached
                          like the scan; implies `scan`) and load none in this process:
                          every loss's desc->create is NULL, so such a registry lists
                          and describes but cannot create. A plugin's code then runs
                          only in the scan's child. Without an installed scanner: as 0,
                          with a warning. Default 0. */
    /* Non-NULL: load in-process only the files that provide one of these
     * `only_id_count` loss ids; a file that provides none is described
     * from its scan's report instead (its losses listed with create NULL),
     * so that lp_registry_find, its "did you mean" and the check for an id
     * provided twice still see every id. A file's ids come from the scan
     * cache, else from a scan (scan LP_SCAN_AUTO or LP_SCAN_ON). A file
     * whose scan crashed, exited or hung is not loaded (an error diag says
     * what happened; when an id asked for is then found nowhere, another
     * error diag names it and the files that may provide it). A file whose
     * ids are not known (LP_SCAN_OFF and nothing cached, or no scanner
     * installed) is loaded. Not kept past lp_registry_open. Default NULL:
     * load every file. */
    const char *const *only_ids;
    size_t only_id_count;
} lp_registry_options;

/* Fill `opt` with the defaults. */
LP_API void lp_registry_options_init(lp_registry_options *opt);

/* Search every root for `*.so` files (not recursively), load each with
 * RTLD_NOW | RTLD_LOCAL, validate it and collect its losses. A bad plugin
 * does not fail the call: it is refused with a diagnostic naming the file
 * and the reason (see lp_registry_diag_*) while the others load. Fails only
 * on bad arguments or out of memory. `*out` must be closed with
 * lp_registry_close. [main-thread] */
LP_API int32_t lp_registry_open(const lp_registry_options *opt, lp_registry **out, lp_error *err);

/* Deinit every plugin this registry initialised and free the registry. Code
 * stays mapped (plugins are never unloaded). NULL is a no-op. */
LP_API void lp_registry_close(lp_registry *reg);

/* A loss found by the registry. Registry-owned, valid until
 * lp_registry_close. */
typedef struct lp_loss_info {
    const lp_loss_desc *desc; /* copied into this host's layout; absent trailing
                                 fields are zero. create is NULL when the file
                                 was described, not loaded (describe_only,
                                 only_ids) */
    const char *path;         /* the plugin file it came from */
    uint32_t abi_major;       /* the ABI version the plugin was built for */
    uint32_t abi_minor;
} lp_loss_info;

/* Losses in discovery order (search roots in order, files sorted by name). */
LP_API size_t lp_registry_loss_count(const lp_registry *reg);
LP_API const lp_loss_info *lp_registry_loss_at(const lp_registry *reg, size_t index);

/* Find a loss by id. LP_ENOENT names the known ids (and the nearest one);
 * an id that two files provide is refused naming both. */
LP_API int32_t lp_registry_find(const lp_registry *reg, const char *id, const lp_loss_info **out,
                                lp_error *err);

typedef enum lp_diag_severity {
    LP_DIAG_WARNING = 1,
    LP_DIAG_ERROR = 2,
} lp_diag_severity;

/* A problem met while loading. Registry-owned, valid until close. */
typedef struct lp_diag {
    int32_t severity;    /* lp_diag_severity */
    int32_t code;        /* lp_status */
    const char *path;    /* file or directory concerned */
    const char *message; /* full sentence, starts with the path */
} lp_diag;

LP_API size_t lp_registry_diag_count(const lp_registry *reg);
LP_API const lp_diag *lp_registry_diag_at(const lp_registry *reg, size_t index);

/* The search roots actually used, in order. */
LP_API size_t lp_registry_root_count(const lp_registry *reg);
LP_API const char *lp_registry_root_at(const lp_registry *reg, size_t index);

/* The installed plugin directory configured at build time. The registry
 * searches `lossplug/plugins` next to the running liblossplug instead when
 * that exists (a relocated install); see docs/loader.md. */
LP_API const char *lp_install_plugin_dir(void);

#ifdef __cplusplus
}
#endif

#endif /* LOSSPLUG_REGISTRY_H */
