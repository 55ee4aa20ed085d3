/* Discovery: the search roots, in order, and the `*.so` files of each. */
#include "loader/internal.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Where a root came from, for messages; NULL for the install dir (whose
 * absence is normal: nothing is installed yet). */
static const char *const lp__from_options = "from the plugin paths (--plugin-path)";
static const char *const lp__from_env = "from LOSSPLUG_PATH";

static int32_t lp__root_add(lp__roots *roots, const char *path, const char *from,
                            lp__diags *diags) {
    struct stat st;
    char buf[128];
    const char *problem = NULL;
    if (stat(path, &st) != 0)
        problem = lp__errno_text(errno, buf, sizeof buf);
    else if (!S_ISDIR(st.st_mode))
        problem = "not a directory";
    if (problem != NULL) {
        if (from == NULL)
            return LP_OK;
        return lp__diag_add(diags, LP_DIAG_WARNING, LP_ENOENT, path,
                            "plugin directory %s cannot be searched: %s: create it or fix the "
                            "path",
                            from, problem);
    }
    for (size_t i = 0; i < roots->count; i++) {
        if (roots->items[i].dev == st.st_dev && roots->items[i].ino == st.st_ino)
            return LP_OK; /* the same directory by another spelling */
    }
    if (lp__grow((void **)&roots->items, &roots->cap, roots->count + 1, sizeof roots->items[0]) !=
        LP_OK)
        return LP_ENOMEM;
    char *copy = lp__strdup(path);
    if (copy == NULL)
        return LP_ENOMEM;
    lp__root *r = &roots->items[roots->count++];
    r->path = copy;
    r->dev = st.st_dev;
    r->ino = st.st_ino;
    return LP_OK;
}

/* Add each non-empty ':'-separated entry of `list`. Empty entries are
 * skipped: unlike PATH, an empty entry does not mean the current directory. */
static int32_t lp__roots_add_list(lp__roots *roots, const char *list, lp__diags *diags) {
    int32_t rc = LP_OK;
    char *copy = lp__strdup(list);
    if (copy == NULL)
        return LP_ENOMEM;
    char *p = copy;
    while (rc == LP_OK && p != NULL) {
        char *colon = strchr(p, ':');
        if (colon != NULL)
            *colon = '\0';
        if (*p != '\0')
            rc = lp__root_add(roots, p, lp__from_env, diags);
        p = colon != NULL ? colon + 1 : NULL;
    }
    free(copy);
    return rc;
}

static int lp__is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static const char lp__self_anchor = 0;

int lp__self_dir(char *buf) {
    Dl_info info;
    if (dladdr(&lp__self_anchor, &info) == 0 || info.dli_fname == NULL ||
        realpath(info.dli_fname, buf) == NULL)
        return 0;
    char *slash = strrchr(buf, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';
    return 1;
}

int lp__in_build_tree(const char *dir) {
#if defined(LP_BUILD_DIR)
    char build[PATH_MAX];
    if (realpath(LP_BUILD_DIR, build) == NULL)
        return 0;
    size_t len = strlen(build);
    return len > 0 && strncmp(dir, build, len) == 0 && (dir[len] == '/' || dir[len] == '\0');
#else
    (void)dir;
    return 0;
#endif
}

/* The root liblossplug adds by itself (the last one of docs/loader.md's
 * search order), computed here and nowhere else. From the file the running
 * library code was loaded from (found with dladdr: liblossplug.so, or the
 * program that links liblossplug.a), in this order:
 *   1. <its directory>/LP_PLUGINDIR_FROM_LIBDIR when that directory exists:
 *      an install, wherever `cmake --install --prefix` put it or moved it;
 *   2. LP_BUILD_PLUGIN_DIR when the file lies inside LP_BUILD_DIR, the build
 *      tree it was built in: every program run from a build tree finds that
 *      build's plugins;
 *   3. lp_install_plugin_dir(), the directory configured at build time.
 * Returns `buf` or a constant string. */
static const char *lp__own_plugin_dir(char *buf, size_t size) {
    char self[PATH_MAX];
    if (!lp__self_dir(self))
        return lp_install_plugin_dir();
    int n = snprintf(buf, size, "%s/%s", self, LP_PLUGINDIR_FROM_LIBDIR);
    if (n > 0 && (size_t)n < size && lp__is_dir(buf))
        return buf;
#if defined(LP_BUILD_PLUGIN_DIR)
    if (lp__in_build_tree(self) && lp__is_dir(LP_BUILD_PLUGIN_DIR))
        return LP_BUILD_PLUGIN_DIR;
#endif
    return lp_install_plugin_dir();
}

int32_t lp__roots_build(const lp_registry_options *opt, lp__roots *roots, lp__diags *diags) {
    int32_t rc = LP_OK;
    for (size_t i = 0; rc == LP_OK && i < opt->plugin_path_count; i++)
        rc = lp__root_add(roots, opt->plugin_paths[i], lp__from_options, diags);
    if (rc == LP_OK && opt->use_env_path) {
        /* secure_getenv: a set-user-ID program must not load plugins chosen
         * by whoever runs it. */
        const char *env = secure_getenv("LOSSPLUG_PATH");
        if (env != NULL)
            rc = lp__roots_add_list(roots, env, diags);
    }
    if (rc == LP_OK && opt->use_install_dir) {
        char buf[PATH_MAX];
        rc = lp__root_add(roots, lp__own_plugin_dir(buf, sizeof buf), NULL, diags);
    }
    return rc;
}

void lp__roots_free(lp__roots *roots) {
    for (size_t i = 0; i < roots->count; i++)
        free(roots->items[i].path);
    free(roots->items);
    memset(roots, 0, sizeof *roots);
}

static int lp__has_so_suffix(const char *name) {
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".so") == 0;
}

static int lp__name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int32_t lp__scan_dir(const char *dir, char ***names, size_t *count, lp__diags *diags) {
    int32_t rc = LP_OK;
    char **list = NULL;
    size_t n = 0, cap = 0;
    *names = NULL;
    *count = 0;

    char buf[128];
    DIR *d = opendir(dir);
    if (d == NULL)
        return lp__diag_add(diags, LP_DIAG_WARNING, LP_EIO, dir,
                            "cannot read the plugin directory: %s: check its permissions",
                            lp__errno_text(errno, buf, sizeof buf));
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (e == NULL) {
            if (errno != 0)
                rc = lp__diag_add(diags, LP_DIAG_WARNING, LP_EIO, dir,
                                  "reading the plugin directory failed: %s; some plugins may be "
                                  "missing",
                                  lp__errno_text(errno, buf, sizeof buf));
            break;
        }
        if (!lp__has_so_suffix(e->d_name))
            continue;
        rc = lp__grow((void **)&list, &cap, n + 1, sizeof list[0]);
        if (rc != LP_OK)
            goto done;
        list[n] = lp__strdup(e->d_name);
        if (list[n] == NULL) {
            rc = LP_ENOMEM;
            goto done;
        }
        n++;
    }
    /* strcmp, not strcoll: the order must not depend on the locale. */
    if (n > 1)
        qsort(list, n, sizeof list[0], lp__name_cmp);
done:
    closedir(d);
    if (rc != LP_OK) {
        lp__names_free(list, n);
        return rc;
    }
    *names = list;
    *count = n;
    return LP_OK;
}

void lp__names_free(char **names, size_t count) {
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}
