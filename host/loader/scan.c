/* Plugins scanned out of process (docs/loader.md "Scanning"): before a file
 * is loaded in-process, the helper lossplug-scan loads it in a child and
 * reports over a pipe; a crash, abort, exit or hang of the child becomes a
 * diagnostic and the file is not loaded here. Verdicts are cached by path,
 * device, inode, size and modification time. */
#include "loader/internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define LP__SCAN_TIMEOUT_MS 3000
#define LP__SCAN_OUTPUT_MAX (1u << 20) /* more is garbage: the scan fails */
#define LP__CACHE_NAME      "scan-v1.cache"
#define LP__CACHE_HEADER    "lossplug-scan-cache 1\n"

/* ---- where the helper is -------------------------------------------------- */

/* LOSSPLUG_SCANNER (secure_getenv), else <dir of the file holding this
 * code>/LP_SCANNER_FROM_LIBDIR (found with dladdr, as the plugin directory
 * is: liblossplug.so in <libdir>, or the `lossplug` CLI in <bindir>), else the
 * configured install path. NULL when none is executable. */
static char *lp__scanner_path(void) {
    const char *env = secure_getenv("LOSSPLUG_SCANNER");
    if (env != NULL && env[0] != '\0')
        return access(env, X_OK) == 0 ? lp__strdup(env) : NULL;
    static const char anchor = 0;
    Dl_info info;
    char lib[PATH_MAX];
    if (dladdr(&anchor, &info) != 0 && info.dli_fname != NULL &&
        realpath(info.dli_fname, lib) != NULL) {
        char *slash = strrchr(lib, '/');
        if (slash != NULL) {
            *slash = '\0';
            char *p = lp__asprintf("%s/%s", lib, LP_SCANNER_FROM_LIBDIR);
            if (p == NULL || access(p, X_OK) == 0)
                return p;
            free(p);
        }
    }
    return access(LP_INSTALL_SCANNER, X_OK) == 0 ? lp__strdup(LP_INSTALL_SCANNER) : NULL;
}

/* ---- the cache ---------------------------------------------------------------- */

/* $XDG_CACHE_HOME/lossplug, else $HOME/.cache/lossplug; NULL when neither is
 * set (then nothing is cached). */
static char *lp__cache_dir(void) {
    const char *xdg = secure_getenv("XDG_CACHE_HOME");
    if (xdg != NULL && xdg[0] == '/')
        return lp__asprintf("%s/lossplug", xdg);
    const char *home = secure_getenv("HOME");
    if (home != NULL && home[0] == '/')
        return lp__asprintf("%s/.cache/lossplug", home);
    return NULL;
}

static int32_t lp__cache_add(lp__scan_cache *c, const lp__scan_key *key, int ok, const char *why,
                             const char *path) {
    if (lp__grow((void **)&c->items, &c->cap, c->count + 1, sizeof c->items[0]) != LP_OK)
        return LP_ENOMEM;
    lp__scan_entry *e = &c->items[c->count];
    memset(e, 0, sizeof *e);
    e->key = *key;
    e->ok = ok;
    e->path = lp__strdup(path);
    e->why = lp__strdup(why != NULL ? why : "");
    if (e->path == NULL || e->why == NULL) {
        free(e->path);
        free(e->why);
        return LP_ENOMEM;
    }
    c->count++;
    return LP_OK;
}

void lp__scan_cache_free(lp__scan_cache *c) {
    for (size_t i = 0; i < c->count; i++) {
        free(c->items[i].path);
        free(c->items[i].why);
    }
    free(c->items);
    free(c->file);
    memset(c, 0, sizeof *c);
}

/* Lines: "dev ino size mtime_s mtime_ns ok|bad <path>\t<why>". A line that
 * does not parse is skipped (the cache is only an optimisation). */
int32_t lp__scan_cache_load(lp__scan_cache *c) {
    char *dir = lp__cache_dir();
    if (dir == NULL)
        return LP_OK;
    c->file = lp__asprintf("%s/%s", dir, LP__CACHE_NAME);
    free(dir);
    if (c->file == NULL)
        return LP_ENOMEM;
    FILE *f = fopen(c->file, "re");
    if (f == NULL)
        return LP_OK;
    char line[PATH_MAX + LP_ERROR_MAX + 128];
    int32_t rc = LP_OK;
    if (fgets(line, sizeof line, f) == NULL || strcmp(line, LP__CACHE_HEADER) != 0) {
        fclose(f);
        return LP_OK;
    }
    while (rc == LP_OK && fgets(line, sizeof line, f) != NULL) {
        unsigned long long dev, ino, mt;
        long long size;
        long ns;
        char verdict[8];
        int used = 0;
        char *nl = strchr(line, '\n');
        if (nl == NULL)
            continue;
        *nl = '\0';
        if (sscanf(line, "%llu %llu %lld %llu %ld %7s %n", &dev, &ino, &size, &mt, &ns, verdict,
                   &used) != 6 ||
            used == 0)
            continue;
        char *path = line + used, *tab = strchr(path, '\t');
        if (tab == NULL)
            continue;
        *tab = '\0';
        lp__scan_key key = {(dev_t)dev, (ino_t)ino, (off_t)size, (time_t)mt, ns};
        rc = lp__cache_add(c, &key, strcmp(verdict, "ok") == 0, tab + 1, path);
    }
    fclose(f);
    return rc;
}

/* Written whole to a temporary and renamed over the cache: a reader never
 * sees half a file, and two writers each leave a whole one. Best effort. */
void lp__scan_cache_save(const lp__scan_cache *c) {
    if (!c->dirty || c->file == NULL)
        return;
    char *dir = lp__cache_dir();
    if (dir == NULL)
        return;
    char *slash = strrchr(dir, '/');
    if (slash != NULL) { /* create <cache>/ then <cache>/lossplug/ */
        *slash = '\0';
        mkdir(dir, 0700);
        *slash = '/';
    }
    mkdir(dir, 0700);
    free(dir);
    char *tmp = lp__asprintf("%s.tmp.%ld", c->file, (long)getpid());
    if (tmp == NULL)
        return;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        if (fd >= 0)
            close(fd);
        free(tmp);
        return;
    }
    int bad = fputs(LP__CACHE_HEADER, f) < 0;
    for (size_t i = 0; i < c->count && !bad; i++) {
        const lp__scan_entry *e = &c->items[i];
        if (strchr(e->path, '\n') != NULL || strchr(e->path, '\t') != NULL)
            continue;
        bad = fprintf(f, "%llu %llu %lld %llu %ld %s %s\t%s\n", (unsigned long long)e->key.dev,
                      (unsigned long long)e->key.ino, (long long)e->key.size,
                      (unsigned long long)e->key.mtime, e->key.mtime_ns, e->ok ? "ok" : "bad",
                      e->path, e->why) < 0;
    }
    if (fclose(f) != 0 || bad || rename(tmp, c->file) != 0)
        unlink(tmp);
    free(tmp);
}

static lp__scan_entry *lp__cache_find(lp__scan_cache *c, const char *path) {
    for (size_t i = 0; i < c->count; i++)
        if (strcmp(c->items[i].path, path) == 0)
            return &c->items[i];
    return NULL;
}

static int lp__key_equal(const lp__scan_key *a, const lp__scan_key *b) {
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime == b->mtime &&
           a->mtime_ns == b->mtime_ns;
}

/* ---- running the helper ------------------------------------------------------- */

static long lp__now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run the helper on `path`: LP_OK with *ok = 1 when it loaded the file and
 * answered in full, else *ok = 0 and what happened in `why`; LP_ENOMEM. */
static int32_t lp__scan_run(const char *scanner, const char *path, int timeout_ms, int *ok,
                            char *why, size_t why_len) {
    char buf[128];
    int fds[2];
    *ok = 0;
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(why, why_len, "the scan could not start: pipe: %s",
                 lp__errno_text(errno, buf, sizeof buf));
        return LP_OK;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    char *argv[] = {(char *)scanner, (char *)"--v1", (char *)path, NULL};
    pid_t pid;
    int e = posix_spawn(&pid, scanner, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (e != 0) {
        close(fds[0]);
        snprintf(why, why_len, "the scan could not start %s: %s", scanner,
                 lp__errno_text(e, buf, sizeof buf));
        return LP_OK;
    }
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    int timed_out = 0, oom = out == NULL;
    long deadline = lp__now_ms() + timeout_ms;
    for (;;) {
        long left = deadline - lp__now_ms();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd p = {fds[0], POLLIN, 0};
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            continue; /* timeout: checked at the top */
        if (!oom && len + 1024 > cap) {
            char *bigger = cap < LP__SCAN_OUTPUT_MAX ? realloc(out, cap * 2) : NULL;
            if (bigger == NULL) {
                oom = cap < LP__SCAN_OUTPUT_MAX;
                break;
            }
            out = bigger;
            cap *= 2;
        }
        char sink[1024];
        ssize_t r = oom ? read(fds[0], sink, sizeof sink) : read(fds[0], out + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (!oom)
            len += (size_t)r;
    }
    close(fds[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (out != NULL)
        out[len] = '\0';
    int32_t rc = LP_OK;
    if (oom) {
        rc = LP_ENOMEM;
    } else if (timed_out) {
        snprintf(why, why_len,
                 "no answer from the out-of-process scan in %d.%d s (an endless loop or a "
                 "deadlock in its constructor or init?): not loaded",
                 timeout_ms / 1000, timeout_ms % 1000 / 100);
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *abbrev = sigabbrev_np(sig);
        snprintf(why, why_len,
                 "the out-of-process scan was killed by signal SIG%s (%s) while loading it (its "
                 "constructor or init crashed): not loaded",
                 abbrev != NULL ? abbrev : "?", strsignal(sig));
    } else if (strncmp(out, "lossplug-scan 1\n", 16) != 0 || strstr(out, "\nend\n") == NULL) {
        snprintf(why, why_len,
                 "the out-of-process scan exited with status %d before it finished (does its "
                 "constructor or init call exit?): not loaded",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    } else {
        *ok = 1;
    }
    free(out);
    return rc;
}

int32_t lp__scan_gate(lp_registry *reg, const char *path, const struct stat *st, int *load) {
    *load = 1;
    if (!reg->opt.scan)
        return LP_OK;
    lp__scan_key key = {st->st_dev, st->st_ino, st->st_size, st->st_mtim.tv_sec,
                        st->st_mtim.tv_nsec};
    lp__scan_entry *hit = lp__cache_find(&reg->scan_cache, path);
    if (hit != NULL && lp__key_equal(&hit->key, &key)) {
        if (hit->ok)
            return LP_OK;
        *load = 0;
        return lp__diag_add(&reg->diags, LP_DIAG_ERROR, LP_EPLUGIN, path,
                            "%s (remembered from an earlier scan of this same file; it is "
                            "scanned again when the file changes)",
                            hit->why);
    }
    if (!reg->scanner_looked) {
        reg->scanner_looked = 1;
        reg->scanner = lp__scanner_path();
        if (reg->scanner == NULL)
            return lp__diag_add(&reg->diags, LP_DIAG_WARNING, LP_ENOENT, "lossplug-scan",
                                "the plugin scanner is not installed beside liblossplug (nor "
                                "named by LOSSPLUG_SCANNER): plugins are loaded in-process "
                                "without a scan; reinstall lossplug");
    }
    if (reg->scanner == NULL)
        return LP_OK;
    int ok = 0;
    char why[LP_ERROR_MAX];
    int timeout = reg->opt.scan_timeout_ms > 0 ? reg->opt.scan_timeout_ms : LP__SCAN_TIMEOUT_MS;
    int32_t rc = lp__scan_run(reg->scanner, path, timeout, &ok, why, sizeof why);
    if (rc != LP_OK)
        return rc;
    if (hit != NULL) { /* the file changed: replace the entry */
        char *w = lp__strdup(ok ? "" : why);
        if (w == NULL)
            return LP_ENOMEM;
        free(hit->why);
        hit->why = w;
        hit->key = key;
        hit->ok = ok;
    } else if ((rc = lp__cache_add(&reg->scan_cache, &key, ok, ok ? "" : why, path)) != LP_OK) {
        return rc;
    }
    reg->scan_cache.dirty = 1;
    if (ok)
        return LP_OK;
    *load = 0;
    return lp__diag_add(&reg->diags, LP_DIAG_ERROR, LP_EPLUGIN, path, "%s", why);
}
