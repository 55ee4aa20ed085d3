/*
 * liblossplug internals shared by the files of host/loader. Nothing here is API:
 * every name is lp__* (or a struct the public header declares opaque).
 */
#ifndef LOSSPLUG_HOST_INTERNAL_H
#define LOSSPLUG_HOST_INTERNAL_H

#include <lossplug/host.h>

#include "util/errno_text.h" /* lp__errno_text, shared with host/config and host/state */
#include "util/error.h"      /* lp__error_set */
#include "util/file_kind.h"  /* lp__file_kind */
#include "util/names.h"      /* lp__valid_name */
#include "util/clean_text.h" /* lp__clean_text */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Size of the 1.0 layout of a struct: the end of its last 1.0 member. A
 * plugin's struct_size must be at least this (abi-rules.md, rule 3). */
#define LP__V1_SIZE(type, member) (offsetof(type, member) + sizeof(((const type *)0)->member))

#define LP__ID_MAX     LP__NAME_MAX /* longest id or name, in bytes */
#define LP__MAX_LOSSES 1024         /* per file: beyond this, loss_count() is garbage */
#define LP__MAX_SPECS  4096         /* params or fields per loss */
#define LP__MAX_LIST   256          /* enum choices, required outputs */
/* Largest struct_size (array stride) accepted for a spec: every layout so
 * far is under 256 bytes; a stride beyond this is garbage, and reading an
 * array through it would run far past the plugin's data. */
#define LP__MAX_STRIDE 4096

/* ---- util.c: strings and growable arrays --------------------------------- */

/* malloc'd copies; NULL on out of memory. */
char *lp__strdup(const char *s);
char *lp__vasprintf(const char *fmt, va_list ap) LP__PRINTF(1, 0);
char *lp__asprintf(const char *fmt, ...) LP__PRINTF(1, 2);

/* `dir` + "/" + `name` (no doubled slash). NULL on out of memory. */
char *lp__path_join(const char *dir, const char *name);

/* Make room for `need` elements of `size` bytes in *items (capacity *cap).
 * LP_OK or LP_ENOMEM (then *items is unchanged). */
int32_t lp__grow(void **items, size_t *cap, size_t need, size_t size);

/* ---- dl.c: the dynamic loader, behind a lock ---------------------------- */

/* dlopen(path, RTLD_NOW | RTLD_LOCAL). On failure returns NULL and copies
 * dlerror()'s message into msg. */
void *lp__dl_open(const char *path, char *msg, size_t msg_len);

/* dlsym(handle, name). On failure returns NULL and copies dlerror(). */
void *lp__dl_sym(void *handle, const char *name, char *msg, size_t msg_len);

/* The process-wide (recursive) lock every plugin init and deinit runs
 * under, so that one file's init has returned before another registry's
 * init of it starts. */
void lp__init_lock_take(void);
void lp__init_lock_give(void);

/* ---- elf.c: is this a shared object for this machine, whole? ---------- */

/* Check the ELF header of the open file `fd` of `size` bytes (class, byte
 * order, machine, type) and that every segment lies inside the file, so that
 * dlopen neither misreports a foreign file nor dies of SIGBUS on a truncated
 * one. LP_OK, or LP_EPLUGIN with a one-line reason in `why` ("built for
 * AArch64, this host is x86-64"). */
int32_t lp__elf_check(int fd, uint64_t size, char *why, size_t why_len);

/* "x86-64", "AArch64", ... for an ELF e_machine; NULL when unknown. */
const char *lp__elf_machine_name(unsigned machine);

/* ---- diag.c: the diagnostics list --------------------------------------- */

typedef struct lp__diags {
    lp_diag *items; /* path and message owned */
    size_t count;
    size_t cap;
} lp__diags;

/* Append a diagnostic whose message is `path` + ": " + the formatted text.
 * LP_OK or LP_ENOMEM. */
int32_t lp__diag_add(lp__diags *d, int32_t severity, int32_t code, const char *path,
                     const char *fmt, ...) LP__PRINTF(5, 6);
void lp__diags_free(lp__diags *d);

/* ---- security.c: who may have written a plugin -------------------------- */

/* Check that `st` (of the file or directory `path`) is writable by nobody
 * but its owner and that the owner is root or `euid`. LP_OK, or
 * LP_ESECURITY with a one-line reason and fix in `why` ("the file ... is
 * writable by group (mode 0664): run 'chmod go-w ...'"). `what` is "file" or
 * "directory". */
int32_t lp__check_secure(const char *what, const char *path, const struct stat *st, uid_t euid,
                         char *why, size_t why_len);

/* ---- validate.c: what a plugin hands us --------------------------------- */

/* Validate the entry at `raw` and copy it into `out` (host layout, zeroed
 * beyond what the plugin has). LP_OK; LP_EABI or LP_EPLUGIN with a reason in
 * `why`. Sets *newer_minor when the plugin speaks a newer minor. */
int32_t lp__entry_copy(const lp_entry *raw, lp_entry *out, int *newer_minor, char *why,
                       size_t why_len);

/* A descriptor copied into host-sized, zeroed storage. `desc.params` and
 * `desc.fields` point at `params` and `fields`; each element's struct_size
 * is set to this host's size so that the arrays can be read with the usual
 * stride rule. */
typedef struct lp__desc_copy {
    lp_loss_desc desc;
    lp_param_spec *params; /* owned */
    lp_field_spec *fields; /* owned */
    /* A descriptor read from a scan report (report.c) owns its texts and
     * lists too: each is one allocation listed here. */
    void **owned;
    size_t owned_count, owned_cap;
} lp__desc_copy;

/* Validate `raw` (from a plugin of ABI minor `minor`) and copy it into
 * `out`. LP_OK; LP_ENOMEM; or LP_EABI / LP_EPLUGIN with a reason in `why`
 * (then `out` holds nothing). A 1.0 plugin's exclusive-bound bits are
 * cleared; its LP_FIELD_UPDATE is refused. */
int32_t lp__desc_copy_make(const lp_loss_desc *raw, uint32_t minor, lp__desc_copy *out, char *why,
                           size_t why_len);
void lp__desc_copy_free(lp__desc_copy *c);

/* Validate a descriptor already in this host's layout (read from a scan
 * report): the checks of lp__desc_copy_make except that create may be NULL.
 * LP_OK, or LP_EABI / LP_EPLUGIN with a reason in `why`. */
int32_t lp__desc_copy_check(const lp__desc_copy *c, uint32_t minor, char *why, size_t why_len);

/* ---- report.c: protocol 2 of lossplug-scan ------------------------------------------ */

#define LP__REPORT_HEADER   "lossplug-scan 2"
#define LP__REPORT_TEXT_MAX 4096 /* longest doc, summary or version read back */

typedef struct lp__report_diag {
    int32_t severity, code;
    char *message; /* owned; without the path */
} lp__report_diag;

/* What lossplug-scan learned about one file. */
typedef struct lp__report {
    int has_entry; /* the file has a usable lossplug_entry */
    uint32_t abi_major, abi_minor;
    lp__report_diag *diags;
    size_t diag_count;
    lp__desc_copy *losses; /* validated, create NULL */
    size_t loss_count;
} lp__report;

/* Text escaped for one tab-separated field: \\, \t, \n, \r and \xHH for the
 * other control bytes; NULL as \N. */
void lp__escape_put(FILE *out, const char *s);
/* The reverse: 0 with a malloc'd *out (NULL for \N), -1 for a bad escape
 * or an escaped NUL, -2 when out of memory. */
int lp__unescape(const char *s, char **out);

struct lp_registry;
/* lossplug-scan: write the report on the one file `path` that `reg` (from
 * lp__registry_open_file) holds, all but its last record, "end\tN" (N the
 * count returned), which the scanner writes once every init was undone. */
size_t lp__report_write(FILE *out, const struct lp_registry *reg, const char *path);

/* Read a report strictly. LP_OK; LP_ENOMEM; LP_EPLUGIN when it is garbled,
 * with "line N: what" in `why` (then `rep` holds nothing). */
int32_t lp__report_parse(const char *text, size_t len, lp__report *rep, char *why, size_t why_len);
void lp__report_free(lp__report *rep);

/* A deep copy of a descriptor read from a report (texts and lists owned by
 * `dst`). LP_OK or LP_ENOMEM (then `dst` holds nothing). */
int32_t lp__desc_copy_dup(const lp__desc_copy *src, lp__desc_copy *dst);

/* ---- discover.c: search roots and directory scans ----------------------- */

typedef struct lp__root {
    char *path;
    dev_t dev;
    ino_t ino;
} lp__root;

typedef struct lp__roots {
    lp__root *items;
    size_t count;
    size_t cap;
} lp__roots;

/* Build the search roots in order (options' paths, LOSSPLUG_PATH, the
 * install dir), dropping missing ones (with a warning for the first two
 * kinds) and the same directory seen twice. LP_OK or LP_ENOMEM. */
int32_t lp__roots_build(const lp_registry_options *opt, lp__roots *roots, lp__diags *diags);
void lp__roots_free(lp__roots *roots);

/* The directory of the file this library's code is in (resolved), into
 * buf[PATH_MAX]; 0 when it cannot be found. */
int lp__self_dir(char *buf);

/* Whether `dir` (resolved) lies inside LP_BUILD_DIR, the build tree this
 * library was built in; 0 where that is not compiled in. */
int lp__in_build_tree(const char *dir);

/* The names of the `*.so` entries of `dir`, sorted with strcmp. On a
 * directory that cannot be read, a warning diag and an empty list. LP_OK or
 * LP_ENOMEM. */
int32_t lp__scan_dir(const char *dir, char ***names, size_t *count, lp__diags *diags);
void lp__names_free(char **names, size_t count);

/* ---- scan.c: plugins scanned out of process -------------------------------- */

/* What identifies one version of a file. */
typedef struct lp__scan_key {
    dev_t dev;
    ino_t ino;
    off_t size;
    time_t mtime;
    long mtime_ns;
} lp__scan_key;

typedef struct lp__scan_entry {
    lp__scan_key key;
    int ok;       /* the scan loaded it; 0: `why` says what happened */
    char *path;   /* owned */
    char *why;    /* owned, "" when ok */
    char *report; /* owned: the report as the scanner wrote it (ok only) */
    size_t report_len;
    lp__report parsed; /* the report read back (ok only) */
} lp__scan_entry;

/* What earlier scans learned, read from and written to one file in the
 * user's cache directory ($XDG_CACHE_HOME/lossplug/scan-v2.cache). */
typedef struct lp__scan_cache {
    lp__scan_entry *items;
    size_t count, cap;
    char *file; /* NULL: nowhere to cache */
    int dirty;
} lp__scan_cache;

/* Read the cache (a missing, foreign or garbled file is an empty cache).
 * LP_OK or LP_ENOMEM. */
int32_t lp__scan_cache_load(lp__scan_cache *c);
/* Write it back when it changed; best effort, atomic (rename). LP_OK (also
 * when it could not be written) or LP_ENOMEM. */
int32_t lp__scan_cache_save(const lp__scan_cache *c);
void lp__scan_cache_free(lp__scan_cache *c);

/* Whether this registry runs lossplug-scan on a file the cache does not
 * know: describe_only, scan LP_SCAN_ON, or scan LP_SCAN_AUTO with only_ids
 * (during lp_registry_open). */
int lp__scan_runs(const struct lp_registry *reg);
/* Whether it reads the scan cache at all: when it scans, or for only_ids. */
int lp__scan_consulted(const struct lp_registry *reg);

/* What a scan knows about `path` (this version of it, by `st`): the cached
 * entry when its key matches, else, when the registry scans
 * (lp__scan_runs), a run of lossplug-scan, cached (*fresh = 1). Without
 * a scan only a cached entry of a file that loaded is used. *out is NULL
 * when nothing is known (no scan and no cache entry, or no scanner: then a
 * warning diag). The pointer is valid until the cache changes. LP_OK or
 * LP_ENOMEM. */
int32_t lp__scan_lookup(struct lp_registry *reg, const char *path, const struct stat *st,
                        lp__scan_entry **out, int *fresh);

/* ---- the registry ------------------------------------------------------- */

/* One distinct file (by st_dev/st_ino) the registry has met, loaded or not.
 * Allocated on its own: `host.host_data` points back at it. */
typedef struct lp__plugin {
    lp_host host; /* the table passed to init; valid until deinit */
    struct lp_registry *reg;
    char *path; /* the first path it was reached by */
    dev_t dev;
    ino_t ino;
    void *handle; /* never dlclosed; NULL when the file was refused earlier */
    lp_entry entry;
    int initialised; /* init succeeded and deinit is still due */
    int scan_failed; /* not loaded: its scan crashed, exited, hung or was garbled */
    int has_error;
    char error[LP_ERROR_MAX]; /* last message from host->error */
} lp__plugin;

/* One accepted descriptor. */
typedef struct lp__loss {
    lp_loss_info info; /* info.desc = &copy.desc */
    lp__desc_copy copy;
    lp__plugin *plugin;
    int conflict; /* another file provides the same id: not listed */
} lp__loss;

struct lp_registry {
    lp_registry_options opt; /* plugin_paths is not kept */
    uid_t euid;
    lp__roots roots;
    lp__diags diags;
    lp__plugin **plugins;
    size_t plugin_count, plugin_cap;
    lp__loss **losses; /* every accepted descriptor, in discovery order */
    size_t loss_count, loss_cap;
    lp__loss **listed; /* those without a conflict */
    size_t listed_count;
    lp__scan_cache scan_cache;   /* when lp__scan_consulted */
    const char *const *only_ids; /* the caller's, during lp_registry_open only */
    size_t only_id_count;
    char *scanner; /* the helper's path; NULL when not found */
    int scanner_looked;
};

/* Send a line to the options' log callback, if any. */
void lp__log(const lp_registry *reg, int32_t level, const char *fmt, ...) LP__PRINTF(3, 4);

/* host_init.c: fill the init table of `p`. */
void lp__init_host_fill(lp__plugin *p);

/* load.c: consider the file `path` (found in `root`): dedup, path security,
 * dlopen, entry, init, descriptors. Problems become diags. LP_OK or
 * LP_ENOMEM. */
int32_t lp__load_file(lp_registry *reg, const lp__root *root, const char *path);

/* registry.c: a registry holding the one file `path`, loaded in-process
 * with no path security and no scan (lossplug-scan's view of the file).
 * LP_OK or LP_ENOMEM. */
int32_t lp__registry_open_file(const char *path, lp_registry **out);

/* Undo init of every plugin still initialised, in reverse order. */
void lp__plugins_deinit(lp_registry *reg);

#endif /* LOSSPLUG_HOST_INTERNAL_H */
