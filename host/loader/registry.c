/* The registry: the public face of discovery and loading (lossplug/host.h).
 * Every registry owns all it found; two registries share nothing but the
 * mapped code of the files both loaded (and each inits those separately). */
#include "loader/internal.h"
#include "util/log.h"
#include "util/options.h"
#include "util/suggest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LP__OPTIONS_V1 LP__SIZE_THROUGH(lp_registry_options, log_user)

void lp_registry_options_init(lp_registry_options *opt) {
    if (!lp__opts_reset(opt, sizeof *opt))
        return;
    opt->use_env_path = 1;
    opt->use_install_dir = 1;
}

void lp__log(const lp_registry *reg, int32_t level, const char *fmt, ...) {
    if (reg == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    lp__log_emitv(reg->opt.log, reg->opt.log_user, level, fmt, ap);
    va_end(ap);
}

/* Copy the caller's options (any size from 1.0 on) into ours. */
static int32_t lp__options_copy(const lp_registry_options *in, lp_registry_options *out,
                                lp_error *err) {
    lp_registry_options_init(out);
    int32_t rc = lp__opts_copy(out, sizeof *out, in, LP__OPTIONS_V1, "lp_registry_open", "options",
                               "lp_registry_options_init", err);
    if (rc != LP_OK || in == NULL)
        return rc;
    if (out->plugin_path_count > 0 && out->plugin_paths == NULL)
        return lp__error_set(err, LP_EINVAL,
                             "lp_registry_open: options.plugin_paths is NULL while "
                             "plugin_path_count is %zu: pass the array or a count of 0",
                             out->plugin_path_count);
    if (out->only_id_count > 0 && out->only_ids == NULL)
        return lp__error_set(err, LP_EINVAL,
                             "lp_registry_open: options.only_ids is NULL while only_id_count is "
                             "%zu: pass the array or a count of 0",
                             out->only_id_count);
    if (out->scan != LP_SCAN_AUTO && out->scan != LP_SCAN_ON && out->scan != LP_SCAN_OFF)
        return lp__error_set(err, LP_EINVAL,
                             "lp_registry_open: options.scan (a session's scan_plugins) is %d: use "
                             "LP_SCAN_AUTO (0), "
                             "LP_SCAN_ON (1) or LP_SCAN_OFF (-1)",
                             (int)out->scan);
    for (size_t i = 0; out->only_ids != NULL && i < out->only_id_count; i++)
        if (out->only_ids[i] == NULL)
            return lp__error_set(err, LP_EINVAL, "lp_registry_open: options.only_ids[%zu] is NULL",
                                 i);
    for (size_t i = 0; i < out->plugin_path_count; i++) {
        if (out->plugin_paths[i] == NULL || out->plugin_paths[i][0] == '\0')
            return lp__error_set(err, LP_EINVAL,
                                 "lp_registry_open: plugin path #%zu is %s: give a directory", i,
                                 out->plugin_paths[i] == NULL ? "NULL" : "empty");
    }
    return LP_OK;
}

/* Scan every root and load each `*.so` in name order. */
static int32_t lp__load_roots(lp_registry *reg) {
    int32_t rc = LP_OK;
    for (size_t r = 0; rc == LP_OK && r < reg->roots.count; r++) {
        const lp__root *root = &reg->roots.items[r];
        char **names = NULL;
        size_t count = 0;
        rc = lp__scan_dir(root->path, &names, &count, &reg->diags);
        for (size_t i = 0; rc == LP_OK && i < count; i++) {
            char *path = lp__path_join(root->path, names[i]);
            if (path == NULL) {
                rc = LP_ENOMEM;
                break;
            }
            rc = lp__load_file(reg, root, path);
            free(path);
        }
        lp__names_free(names, count);
    }
    return rc;
}

/* Two files (or one file twice) providing the same id: refuse the id, name
 * both, and list only the losses without a conflict. */
static int32_t lp__resolve_conflicts(lp_registry *reg) {
    for (size_t i = 0; i < reg->loss_count; i++) {
        lp__loss *l = reg->losses[i];
        for (size_t j = 0; j < i; j++) {
            lp__loss *first = reg->losses[j];
            if (strcmp(first->copy.desc.id, l->copy.desc.id) != 0)
                continue;
            first->conflict = l->conflict = 1;
            int32_t rc;
            if (first->plugin == l->plugin)
                rc = lp__diag_add(&reg->diags, LP_DIAG_ERROR, LP_EPLUGIN, l->info.path,
                                  "provides loss id '%s' twice; it is not loaded: rename one of "
                                  "the two losses",
                                  l->copy.desc.id);
            else
                rc = lp__diag_add(&reg->diags, LP_DIAG_ERROR, LP_EPLUGIN, l->info.path,
                                  "loss id '%s' is also provided by %s; neither is loaded: remove "
                                  "one of the two files from the search path or rename one loss",
                                  l->copy.desc.id, first->info.path);
            if (rc != LP_OK)
                return rc;
            break;
        }
    }
    if (reg->loss_count == 0)
        return LP_OK;
    reg->listed = calloc(reg->loss_count, sizeof reg->listed[0]);
    if (reg->listed == NULL)
        return LP_ENOMEM;
    for (size_t i = 0; i < reg->loss_count; i++) {
        if (!reg->losses[i]->conflict)
            reg->listed[reg->listed_count++] = reg->losses[i];
    }
    return LP_OK;
}

/* The plugin files not loaded because their scan failed, as ", "-separated
 * text ("a.so, b.so and 3 more") appended to `buf`; how many there are. */
static size_t lp__scan_failed_list(const lp_registry *reg, char *buf, size_t cap) {
    size_t n = 0, shown = 0;
    for (size_t i = 0; i < reg->plugin_count; i++) {
        if (!reg->plugins[i]->scan_failed)
            continue;
        if (shown < 8) {
            size_t len = strlen(buf);
            snprintf(buf + len, cap - len, "%s%s", n ? ", " : "", reg->plugins[i]->path);
            shown++;
        }
        n++;
    }
    if (n > shown) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, " and %zu more", n - shown);
    }
    return n;
}

/* only_ids: an id asked for that no file provides, while some file was not
 * loaded because its scan failed, may well be in that file (a scan that
 * failed tells nothing of what the file provides): say so, as an error
 * naming the id and those files. Its code is LP_ENOENT. */
static int32_t lp__check_asked_ids(lp_registry *reg) {
    const lp__plugin *first = NULL;
    for (size_t i = 0; i < reg->plugin_count && first == NULL; i++)
        if (reg->plugins[i]->scan_failed)
            first = reg->plugins[i];
    if (first == NULL)
        return LP_OK;
    char files[LP_ERROR_MAX] = "";
    size_t n = 0; /* the list, made when an id first needs it */
    for (size_t k = 0; k < reg->only_id_count; k++) {
        const char *id = reg->only_ids[k];
        int seen = 0;
        for (size_t j = 0; j < k && !seen; j++)
            seen = strcmp(reg->only_ids[j], id) == 0;
        for (size_t i = 0; i < reg->loss_count && !seen; i++)
            seen = strcmp(reg->losses[i]->copy.desc.id, id) == 0;
        if (seen)
            continue;
        if (n == 0)
            n = lp__scan_failed_list(reg, files, sizeof files);
        int32_t rc = lp__diag_add(
            &reg->diags, LP_DIAG_ERROR, LP_ENOENT, first->path,
            "loss id '%.80s' is asked for, but no plugin file that was loaded or scanned provides "
            "it; %s not loaded because %s out-of-process scan failed (see %s diagnostic), and "
            "may provide it: %s: fix the plugin or remove it from the search path",
            id, n == 1 ? "this file was" : "these files were", n == 1 ? "its" : "their",
            n == 1 ? "its" : "their", files);
        if (rc != LP_OK)
            return rc;
    }
    return LP_OK;
}

int32_t lp_registry_open(const lp_registry_options *opt, lp_registry **out, lp_error *err) {
    lp_registry *reg = NULL;
    int32_t rc;

    lp__error_clear(err);
    if (out == NULL)
        return lp__error_set(err, LP_EINVAL,
                             "lp_registry_open: `out` is NULL: pass where to "
                             "store the registry");
    *out = NULL;
    reg = calloc(1, sizeof *reg);
    rc = reg == NULL ? LP_ENOMEM : LP_OK;
    if (rc != LP_OK)
        goto loading;
    rc = lp__options_copy(opt, &reg->opt, err);
    if (rc != LP_OK)
        goto fail;
    reg->euid = geteuid();
    /* The caller's id list is read during this call only. */
    reg->only_ids = reg->opt.only_ids;
    reg->only_id_count = reg->opt.only_id_count;
    reg->opt.only_ids = NULL;
    reg->opt.only_id_count = 0;
    if (lp__scan_consulted(reg) && (rc = lp__scan_cache_load(&reg->scan_cache)) != LP_OK)
        goto loading;
    rc = lp__roots_build(&reg->opt, &reg->roots, &reg->diags);
    /* The caller's path array is not kept past this call. */
    reg->opt.plugin_paths = NULL;
    reg->opt.plugin_path_count = 0;
    if (rc == LP_OK)
        rc = lp__load_roots(reg);
    if (rc == LP_OK)
        rc = lp__resolve_conflicts(reg);
    if (rc == LP_OK && reg->only_ids != NULL)
        rc = lp__check_asked_ids(reg);
    if (rc == LP_OK)
        rc = lp__scan_cache_save(&reg->scan_cache);
    if (rc != LP_OK)
        goto loading;
    reg->only_ids = NULL;
    reg->only_id_count = 0;
    *out = reg;
    return LP_OK;
loading:
    /* Problems with one plugin are diagnostics, not failures: what fails
     * the whole load is running out of memory, or (never expected) some
     * other status, which is passed on as it is. */
    if (rc == LP_ENOMEM)
        lp__error_set(err, LP_ENOMEM,
                      "lp_registry_open: out of memory while loading plugins: free memory or "
                      "load fewer plugins");
    else
        lp__error_set(err, rc, "lp_registry_open: loading plugins failed: %s (%s)", lp_strerror(rc),
                      lp_err_name(rc));
fail:
    lp_registry_close(reg);
    return rc;
}

void lp_registry_close(lp_registry *reg) {
    if (reg == NULL)
        return;
    /* Deinit, but never dlclose: descriptors, instances and any pointer a
     * plugin handed out may still point into its code or data, and glibc
     * cannot always unload safely anyway (docs/loader.md). */
    lp__plugins_deinit(reg);
    for (size_t i = 0; i < reg->loss_count; i++) {
        lp__desc_copy_free(&reg->losses[i]->copy);
        free(reg->losses[i]);
    }
    free(reg->losses);
    free(reg->listed);
    for (size_t i = 0; i < reg->plugin_count; i++) {
        free(reg->plugins[i]->path);
        free(reg->plugins[i]);
    }
    free(reg->plugins);
    lp__roots_free(&reg->roots);
    lp__diags_free(&reg->diags);
    lp__scan_cache_free(&reg->scan_cache);
    free(reg->scanner);
    free(reg);
}

size_t lp_registry_loss_count(const lp_registry *reg) {
    return reg != NULL ? reg->listed_count : 0;
}

const lp_loss_info *lp_registry_loss_at(const lp_registry *reg, size_t index) {
    if (reg == NULL || index >= reg->listed_count)
        return NULL;
    return &reg->listed[index]->info;
}

size_t lp_registry_diag_count(const lp_registry *reg) {
    return reg != NULL ? reg->diags.count : 0;
}

const lp_diag *lp_registry_diag_at(const lp_registry *reg, size_t index) {
    if (reg == NULL || index >= reg->diags.count)
        return NULL;
    return &reg->diags.items[index];
}

size_t lp_registry_root_count(const lp_registry *reg) {
    return reg != NULL ? reg->roots.count : 0;
}

const char *lp_registry_root_at(const lp_registry *reg, size_t index) {
    if (reg == NULL || index >= reg->roots.count)
        return NULL;
    return reg->roots.items[index].path;
}

/* ---- find ---------------------------------------------------------------- */

/* Append to a bounded message; a full buffer ends in "...". */
static void lp__append(char *buf, size_t cap, const char *fmt, ...) LP__PRINTF(3, 4);
static void lp__append(char *buf, size_t cap, const char *fmt, ...) {
    size_t len = strlen(buf);
    if (len + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= cap - len && cap > 4)
        memcpy(buf + cap - 4, "...", 4);
}

/* The id refused because several files provide it: name them all. */
static int32_t lp__find_conflict(const lp_registry *reg, const char *id, lp_error *err) {
    if (err == NULL)
        return LP_EPLUGIN;
    lp__error_set(err, LP_EPLUGIN, "loss id '%s' is provided by ", id);
    size_t n = 0, total = 0;
    for (size_t i = 0; i < reg->loss_count; i++)
        total += strcmp(reg->losses[i]->copy.desc.id, id) == 0;
    for (size_t i = 0; i < reg->loss_count; i++) {
        if (strcmp(reg->losses[i]->copy.desc.id, id) != 0)
            continue;
        n++;
        lp__append(err->message, sizeof err->message, "%s%s",
                   n == 1 ? "" : (n == total ? " and " : ", "), reg->losses[i]->info.path);
    }
    lp__append(err->message, sizeof err->message,
               "; neither is loaded: remove one of the files from the search path or rename one "
               "loss");
    lp__clean_text(err->message);
    return LP_EPLUGIN;
}

/* An unknown id: list the known ones and suggest the nearest. */
static int32_t lp__find_unknown(const lp_registry *reg, const char *id, lp_error *err) {
    if (err == NULL)
        return LP_ENOENT;
    lp__error_set(err, LP_ENOENT, "no loss with id '%.80s'", id);
    char files[LP_ERROR_MAX / 2] = "";
    size_t failed = lp__scan_failed_list(reg, files, sizeof files);
    if (failed > 0)
        lp__append(err->message, sizeof err->message,
                   " (%s whose out-of-process scan failed %s not loaded and may provide it: %s)",
                   failed == 1 ? "a plugin file" : "plugin files", failed == 1 ? "is" : "are",
                   files);
    if (reg->listed_count == 0 && reg->loss_count > 0) {
        lp__append(err->message, sizeof err->message,
                   ": every loss found is refused because another file provides the same id; "
                   "see the registry's diagnostics (lossplug list) and remove the duplicates");
        lp__clean_text(err->message);
        return LP_ENOENT;
    }
    if (reg->listed_count == 0) {
        lp__append(err->message, sizeof err->message,
                   ": no plugin provides any loss (%zu search roots); add a plugin directory "
                   "with --plugin-path or LOSSPLUG_PATH",
                   reg->roots.count);
        lp__clean_text(err->message);
        return LP_ENOENT;
    }
    lp__suggester sg;
    lp__suggest_init(&sg, id, strlen(id));
    for (size_t i = 0; i < reg->listed_count; i++)
        lp__suggest_add(&sg, reg->listed[i]->copy.desc.id);
    const char *best = lp__suggest_result(&sg); /* only plausible typos */
    if (best != NULL)
        lp__append(err->message, sizeof err->message, "; did you mean '%s'? Known ids: ", best);
    else
        lp__append(err->message, sizeof err->message, ". Known ids: ");
    for (size_t i = 0; i < reg->listed_count; i++)
        lp__append(err->message, sizeof err->message, "%s%s", i == 0 ? "" : ", ",
                   reg->listed[i]->copy.desc.id);
    lp__clean_text(err->message);
    return LP_ENOENT;
}

int32_t lp_registry_find(const lp_registry *reg, const char *id, const lp_loss_info **out,
                         lp_error *err) {
    lp__error_clear(err);
    if (out != NULL)
        *out = NULL;
    if (reg == NULL || id == NULL || out == NULL)
        return lp__error_set(err, LP_EINVAL, "lp_registry_find: %s is NULL",
                             reg == NULL  ? "the registry"
                             : id == NULL ? "the id"
                                          : "`out`");
    for (size_t i = 0; i < reg->loss_count; i++) {
        const lp__loss *l = reg->losses[i];
        if (strcmp(l->copy.desc.id, id) != 0)
            continue;
        if (l->conflict)
            return lp__find_conflict(reg, id, err);
        *out = &l->info;
        return LP_OK;
    }
    return lp__find_unknown(reg, id, err);
}

/* ---- one file (lossplug-scan) ---------------------------------------------- */

int32_t lp__registry_open_file(const char *path, lp_registry **out) {
    *out = NULL;
    lp_registry *reg = calloc(1, sizeof *reg);
    if (reg == NULL)
        return LP_ENOMEM;
    lp_registry_options_init(&reg->opt);
    reg->opt.allow_insecure = 1; /* the parent checked the paths */
    reg->euid = geteuid();
    lp__root root = {NULL, 0, 0};
    /* No conflict resolution: every accepted descriptor is reported, and
     * the reader's registry finds the clashes across all its files. */
    int32_t rc = lp__load_file(reg, &root, path);
    if (rc != LP_OK) {
        lp_registry_close(reg);
        return rc;
    }
    *out = reg;
    return LP_OK;
}
