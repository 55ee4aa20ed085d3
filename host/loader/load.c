/* Loading one plugin file: dedup by identity, path security, dlopen, the
 * entry, init, and each descriptor. A problem refuses the file (or, for a
 * bad descriptor, that one loss) with a diagnostic; only running out of
 * memory fails the caller. */
#include "loader/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LP__DLOPEN_FIX                                                                             \
    "check that it is a shared object built for this machine and that every symbol it uses is "    \
    "defined (link plugins with -Wl,-z,defs)"

static lp__plugin *lp__plugin_by_id(const lp_registry *reg, dev_t dev, ino_t ino) {
    for (size_t i = 0; i < reg->plugin_count; i++) {
        if (reg->plugins[i]->dev == dev && reg->plugins[i]->ino == ino)
            return reg->plugins[i];
    }
    return NULL;
}

/* Record a distinct file so that a second path to it is skipped, loaded or
 * not. */
static int32_t lp__plugin_add(lp_registry *reg, const char *path, const struct stat *st,
                              lp__plugin **out) {
    lp__plugin *p = NULL;
    if (lp__grow((void **)&reg->plugins, &reg->plugin_cap, reg->plugin_count + 1,
                 sizeof reg->plugins[0]) != LP_OK)
        goto oom;
    p = calloc(1, sizeof *p);
    if (p == NULL)
        goto oom;
    p->path = lp__strdup(path);
    if (p->path == NULL)
        goto oom;
    p->reg = reg;
    p->dev = st->st_dev;
    p->ino = st->st_ino;
    reg->plugins[reg->plugin_count++] = p;
    *out = p;
    return LP_OK;
oom:
    free(p);
    return LP_ENOMEM;
}

/* Path security for the file (already fstat'ed) and the directories that
 * hold it: the root it was found in and, when it is a symlink to another
 * directory, that one too. LP_OK when the file may be loaded, LP_ESECURITY
 * when a diag was added, LP_ENOMEM. */
static int32_t lp__secure(lp_registry *reg, const lp__root *root, const char *path,
                          const struct stat *st) {
    char why[LP_ERROR_MAX], buf[128];
    char *real = NULL;
    struct stat dst;
    int32_t rc;

    rc = lp__check_secure("file", path, st, reg->euid, why, sizeof why);
    if (rc != LP_OK)
        goto refused;
    if (stat(root->path, &dst) != 0) {
        snprintf(why, sizeof why, "its directory %s cannot be checked: %s", root->path,
                 lp__errno_text(errno, buf, sizeof buf));
        rc = LP_EIO;
        goto refused;
    }
    rc = lp__check_secure("directory", root->path, &dst, reg->euid, why, sizeof why);
    if (rc != LP_OK)
        goto refused;

    real = realpath(path, NULL);
    if (real == NULL) {
        if (errno == ENOMEM)
            return LP_ENOMEM;
        snprintf(why, sizeof why, "its real path cannot be resolved: %s",
                 lp__errno_text(errno, buf, sizeof buf));
        rc = LP_EIO;
        goto refused;
    }
    char *slash = strrchr(real, '/');
    if (slash == real)
        slash[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    if (stat(real, &dst) != 0) {
        snprintf(why, sizeof why, "its directory %s cannot be checked: %s", real,
                 lp__errno_text(errno, buf, sizeof buf));
        rc = LP_EIO;
        goto refused;
    }
    if (dst.st_dev != root->dev || dst.st_ino != root->ino) {
        rc = lp__check_secure("directory", real, &dst, reg->euid, why, sizeof why);
        if (rc != LP_OK)
            goto refused;
    }
    free(real);
    return LP_OK;
refused:
    free(real);
    if (lp__diag_add(&reg->diags, LP_DIAG_ERROR, rc, path, "refused: %s", why) != LP_OK)
        return LP_ENOMEM;
    return LP_ESECURITY;
}

/* Undo init of one plugin, once. */
static void lp__plugin_deinit(lp__plugin *p) {
    if (!p->initialised)
        return;
    p->initialised = 0;
    if (p->entry.deinit != NULL) {
        lp__init_lock_take();
        p->entry.deinit();
        lp__init_lock_give();
    }
}

void lp__plugins_deinit(lp_registry *reg) {
    for (size_t i = reg->plugin_count; i-- > 0;)
        lp__plugin_deinit(reg->plugins[i]);
}

/* Call init; a failure becomes a diag quoting what the plugin reported. */
static int32_t lp__plugin_init(lp_registry *reg, lp__plugin *p, int *ok) {
    *ok = 0;
    lp__init_host_fill(p);
    if (p->entry.init != NULL) {
        p->has_error = 0;
        p->error[0] = '\0';
        lp__init_lock_take();
        int32_t rc = p->entry.init(&p->host);
        lp__init_lock_give();
        if (rc != LP_OK) {
            const char *name = lp_err_name(rc);
            return lp__diag_add(&reg->diags, LP_DIAG_ERROR, LP_EPLUGIN, p->path,
                                "init failed with %s (%d): %s", name, (int)rc,
                                p->has_error ? p->error
                                             : "the plugin gave no reason (it should call "
                                               "host->error before failing)");
        }
    }
    p->initialised = 1;
    *ok = 1;
    return LP_OK;
}

/* Validate and keep descriptor `index`. LP_OK whether it was accepted or
 * refused (with a diag), LP_ENOMEM. */
static int32_t lp__loss_add(lp_registry *reg, lp__plugin *p, uint32_t index, uint32_t count,
                            int *accepted) {
    char why[LP_ERROR_MAX];
    lp__loss *l = NULL;
    int32_t rc;

    *accepted = 0;
    const lp_loss_desc *raw = p->entry.loss_get(index);
    if (raw == NULL)
        return lp__diag_add(&reg->diags, LP_DIAG_ERROR, LP_EPLUGIN, p->path,
                            "loss_get(%u) returned NULL although loss_count() is %u: fix the "
                            "plugin's loss_get or loss_count",
                            (unsigned)index, (unsigned)count);
    if (lp__grow((void **)&reg->losses, &reg->loss_cap, reg->loss_count + 1,
                 sizeof reg->losses[0]) != LP_OK)
        return LP_ENOMEM;
    l = calloc(1, sizeof *l);
    if (l == NULL)
        return LP_ENOMEM;
    rc = lp__desc_copy_make(raw, p->entry.abi_minor, &l->copy, why, sizeof why);
    if (rc == LP_ENOMEM)
        goto fail;
    if (rc != LP_OK) {
        /* Name the loss when its id can be read and is sane. */
        const char *id = NULL;
        if (raw->struct_size >= LP__V1_SIZE(lp_loss_desc, id) && lp__valid_name(raw->id))
            id = raw->id;
        rc = lp__diag_add(&reg->diags, LP_DIAG_ERROR, rc, p->path, "loss #%u%s%s%s refused: %s",
                          (unsigned)index, id ? " '" : "", id ? id : "", id ? "'" : "", why);
        goto fail;
    }
    l->plugin = p;
    l->info.desc = &l->copy.desc;
    l->info.path = p->path;
    l->info.abi_major = p->entry.abi_major;
    l->info.abi_minor = p->entry.abi_minor;
    reg->losses[reg->loss_count++] = l;
    *accepted = 1;
    return LP_OK;
fail:
    free(l);
    return rc;
}

/* Does the report name a loss the registry was asked to load (only_ids)?
 * Always yes without only_ids. */
static int lp__provides_wanted(const lp_registry *reg, const lp__report *rep) {
    if (reg->only_ids == NULL)
        return 1;
    for (size_t i = 0; i < rep->loss_count; i++)
        for (size_t k = 0; k < reg->only_id_count; k++)
            if (strcmp(rep->losses[i].desc.id, reg->only_ids[k]) == 0)
                return 1;
    return 0;
}

/* The file as its scan described it, without loading it: the scan's
 * diagnostics and a descriptor-only loss (create NULL) for each descriptor
 * it reported. The descriptors are copied: the cache keeps its own. */
static int32_t lp__describe_file(lp_registry *reg, lp__plugin *p, const lp__report *rep) {
    int32_t rc = LP_OK;
    for (size_t i = 0; rc == LP_OK && i < rep->diag_count; i++)
        rc = lp__diag_add(&reg->diags, rep->diags[i].severity, rep->diags[i].code, p->path, "%s",
                          rep->diags[i].message);
    for (size_t i = 0; rc == LP_OK && i < rep->loss_count; i++) {
        if (lp__grow((void **)&reg->losses, &reg->loss_cap, reg->loss_count + 1,
                     sizeof reg->losses[0]) != LP_OK)
            return LP_ENOMEM;
        lp__loss *l = calloc(1, sizeof *l);
        if (l == NULL)
            return LP_ENOMEM;
        rc = lp__desc_copy_dup(&rep->losses[i], &l->copy);
        if (rc != LP_OK) {
            free(l);
            return rc;
        }
        l->plugin = p;
        l->info.desc = &l->copy.desc;
        l->info.path = p->path;
        l->info.abi_major = rep->abi_major;
        l->info.abi_minor = rep->abi_minor;
        reg->losses[reg->loss_count++] = l;
    }
    lp__log(reg, LP_LOG_DEBUG, "%s: %zu losses described by its scan, not loaded", p->path,
            rep->loss_count);
    return rc;
}

int32_t lp__load_file(lp_registry *reg, const lp__root *root, const char *path) {
    char why[LP_ERROR_MAX], buf[128];
    lp__plugin *p = NULL;
    struct stat st;
    int32_t rc = LP_OK;
    int newer = 0, ok = 0;

    /* NONBLOCK: a FIFO named *.so must not hang discovery. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = lp__diag_add(&reg->diags, LP_DIAG_ERROR, LP_EIO, path,
                          "cannot be opened: %s: check that the file exists and is readable",
                          lp__errno_text(errno, buf, sizeof buf));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = lp__diag_add(&reg->diags, LP_DIAG_WARNING, LP_EINVAL, path,
                          "%s, not a regular file: skipped (plugins are regular *.so files)",
                          lp__file_kind(st.st_mode));
        goto done;
    }
    lp__plugin *seen = lp__plugin_by_id(reg, st.st_dev, st.st_ino);
    if (seen != NULL) {
        lp__log(reg, LP_LOG_DEBUG, "%s: same file as %s: skipped", path, seen->path);
        goto done;
    }
    rc = lp__plugin_add(reg, path, &st, &p);
    if (rc != LP_OK)
        goto done;

    if (!reg->opt.allow_insecure) {
        rc = lp__secure(reg, root, path, &st);
        if (rc != LP_OK) {
            rc = rc == LP_ENOMEM ? LP_ENOMEM : LP_OK;
            goto done;
        }
    }

    /* Before dlopen: a foreign or truncated file is refused here with a
     * clear reason instead of a misleading dlerror() or a SIGBUS. */
    rc = lp__elf_check(fd, (uint64_t)st.st_size, why, sizeof why);
    if (rc != LP_OK) {
        rc = lp__diag_add(&reg->diags, LP_DIAG_ERROR, LP_EPLUGIN, path,
                          "cannot be loaded: %s: " LP__DLOPEN_FIX, why);
        goto done;
    }

    /* Out of process first, when asked: a plugin that kills or hangs the
     * scan is not loaded here; one that passed may not need to be. */
    if (lp__scan_consulted(reg)) {
        lp__scan_entry *se = NULL;
        int fresh = 0;
        rc = lp__scan_lookup(reg, path, &st, &se, &fresh);
        if (rc != LP_OK)
            goto done;
        if (se != NULL && !se->ok) {
            p->scan_failed = 1;
            rc = lp__diag_add(&reg->diags, LP_DIAG_ERROR, LP_EPLUGIN, path,
                              fresh ? "%s"
                                    : "%s (remembered from an earlier scan of this same file; "
                                      "it is scanned again when the file changes)",
                              se->why);
            goto done;
        }
        if (se != NULL && (reg->opt.describe_only || !lp__provides_wanted(reg, &se->parsed))) {
            rc = lp__describe_file(reg, p, &se->parsed);
            goto done;
        }
    }

    lp__log(reg, LP_LOG_DEBUG, "%s: loading in-process", path);

    /* The fd has served its purpose (fstat, ELF checks); the directory
     * checks above are what keeps the file from being swapped before dlopen
     * reads it. */
    p->handle = lp__dl_open(path, why, sizeof why);
    if (p->handle == NULL) {
        /* dlerror() usually starts with the path, which ours already does. */
        const char *reason = why;
        size_t n = strlen(path);
        if (strncmp(reason, path, n) == 0 && strncmp(reason + n, ": ", 2) == 0)
            reason += n + 2;
        rc = lp__diag_add(&reg->diags, LP_DIAG_ERROR, LP_EPLUGIN, path,
                          "cannot be loaded: %s: " LP__DLOPEN_FIX, reason);
        goto done;
    }
    /* dlsym's message ("<path>: undefined symbol: lossplug_entry") adds
     * nothing to ours. */
    const lp_entry *raw = lp__dl_sym(p->handle, LP_ENTRY_SYMBOL, why, sizeof why);
    if (raw == NULL) {
        rc = lp__diag_add(&reg->diags, LP_DIAG_ERROR, LP_EPLUGIN, path,
                          "no '" LP_ENTRY_SYMBOL "' symbol: not a lossplug plugin (a plugin "
                          "defines and exports it with LP_PLUGIN_ENTRY)");
        goto done;
    }
    rc = lp__entry_copy(raw, &p->entry, &newer, why, sizeof why);
    if (rc != LP_OK) {
        rc = lp__diag_add(&reg->diags, LP_DIAG_ERROR, rc, path, "%s", why);
        goto done;
    }
    if (newer) {
        rc = lp__diag_add(&reg->diags, LP_DIAG_WARNING, LP_EABI, path,
                          "built for plugin ABI %u.%u, newer than this host's ABI %d.%d: loaded, "
                          "but only what ABI %d.%d defines is used; upgrade lossplug to use the "
                          "rest",
                          (unsigned)p->entry.abi_major, (unsigned)p->entry.abi_minor, LP_ABI_MAJOR,
                          LP_ABI_MINOR, LP_ABI_MAJOR, LP_ABI_MINOR);
        if (rc != LP_OK)
            goto done;
    }

    rc = lp__plugin_init(reg, p, &ok);
    if (rc != LP_OK || !ok)
        goto done;

    uint32_t count = p->entry.loss_count();
    if (count > LP__MAX_LOSSES) {
        rc = lp__diag_add(&reg->diags, LP_DIAG_ERROR, LP_EPLUGIN, path,
                          "loss_count() returned %u, more than %d: fix the plugin's loss_count",
                          (unsigned)count, LP__MAX_LOSSES);
        goto done;
    }
    uint32_t accepted = 0;
    for (uint32_t i = 0; i < count; i++) {
        int one = 0;
        rc = lp__loss_add(reg, p, i, count, &one);
        if (rc != LP_OK)
            goto done;
        accepted += (uint32_t)one;
    }
    if (count == 0)
        rc = lp__diag_add(&reg->diags, LP_DIAG_WARNING, LP_EPLUGIN, path,
                          "provides no losses (loss_count() is 0)");
    lp__log(reg, LP_LOG_DEBUG, "%s: %u of %u losses loaded", path, (unsigned)accepted,
            (unsigned)count);
done:
    /* A file none of whose losses was kept is not needed: undo its init now
     * (its code stays mapped; nothing is ever dlclosed). */
    if (p != NULL && p->initialised) {
        int used = 0;
        for (size_t i = 0; i < reg->loss_count && !used; i++)
            used = reg->losses[i]->plugin == p;
        if (!used)
            lp__plugin_deinit(p);
    }
    if (fd >= 0)
        close(fd);
    return rc;
}
