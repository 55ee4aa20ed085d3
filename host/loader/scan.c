/* Plugins scanned out of process (docs/loader.md "Scanning"): before a file
 * is loaded in-process, the helper lossplug-scan loads it in a child and
 * reports over a pipe; a crash, abort, exit or hang of the child becomes a
 * diagnostic and the file is not loaded here. Verdicts are cached by path,
 * device, inode, size and modification time. */
#include "loader/internal.h"
#include "util/io.h"

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
#define LP__SCAN_OUTPUT_MAX (1u << 20)  /* more is garbage: the scan fails */
#define LP__CACHE_FILE_MAX  (64u << 20) /* a larger cache is ignored */
/* Version 2 of the cache holds the scans' reports; a cache of version 1
 * (scan-v1.cache) is never read, and removed when version 2 is written.
 * The header names the library version that wrote it: another version's
 * cache is rebuilt. */
#define LP__CACHE_NAME     "scan-v2.cache"
#define LP__CACHE_OLD_NAME "scan-v1.cache"
#define LP__CACHE_HEADER   "lossplug-scan-cache 2 " LP_VERSION_STRING "\n"

/* ---- where the helper is -------------------------------------------------- */

/* LOSSPLUG_SCANNER (secure_getenv), else <dir of the file holding this
 * code>/LP_SCANNER_FROM_LIBDIR (found with dladdr, as the plugin directory
 * is: liblossplug.so in <libdir>, or the `lossplug` CLI in <bindir>), else
 * the build tree's helper when that file lies inside the build tree it was
 * built in (a test or example linking liblossplug.a), else the configured
 * install path. NULL when none is executable. */
static char *lp__scanner_found(const char *path, int *oom) {
    char *p = lp__strdup(path);
    *oom = p == NULL;
    return p;
}

static char *lp__scanner_path(int *oom) {
    *oom = 0;
    const char *env = secure_getenv("LOSSPLUG_SCANNER");
    if (env != NULL && env[0] != '\0')
        return access(env, X_OK) == 0 ? lp__scanner_found(env, oom) : NULL;
    char lib[PATH_MAX];
    if (lp__self_dir(lib)) {
        char *p = lp__asprintf("%s/%s", lib, LP_SCANNER_FROM_LIBDIR);
        *oom = p == NULL;
        if (p == NULL || access(p, X_OK) == 0)
            return p;
        free(p);
#if defined(LP_BUILD_SCANNER)
        if (lp__in_build_tree(lib) && access(LP_BUILD_SCANNER, X_OK) == 0)
            return lp__scanner_found(LP_BUILD_SCANNER, oom);
#endif
    }
    return access(LP_INSTALL_SCANNER, X_OK) == 0 ? lp__scanner_found(LP_INSTALL_SCANNER, oom)
                                                 : NULL;
}

/* ---- the cache ---------------------------------------------------------------- */

/* $XDG_CACHE_HOME/lossplug, else $HOME/.cache/lossplug; NULL when neither is
 * set (then nothing is cached). */
static int lp__abs_env(const char *name) {
    const char *v = secure_getenv(name);
    return v != NULL && v[0] == '/';
}

/* Whether lp__cache_dir has a directory to name. */
static int lp__cache_configured(void) {
    return lp__abs_env("XDG_CACHE_HOME") || lp__abs_env("HOME");
}

static char *lp__cache_dir(void) {
    const char *xdg = secure_getenv("XDG_CACHE_HOME");
    if (xdg != NULL && xdg[0] == '/')
        return lp__asprintf("%s/lossplug", xdg);
    const char *home = secure_getenv("HOME");
    if (home != NULL && home[0] == '/')
        return lp__asprintf("%s/.cache/lossplug", home);
    return NULL;
}

static void lp__entry_clear(lp__scan_entry *e) {
    free(e->path);
    free(e->why);
    free(e->report);
    lp__report_free(&e->parsed);
    memset(e, 0, sizeof *e);
}

/* Append an entry; it takes `report` (malloc'd, `len` bytes) and `parsed`
 * (both only when ok) whatever happens. */
static int32_t lp__cache_add(lp__scan_cache *c, const lp__scan_key *key, int ok, const char *why,
                             const char *path, char *report, size_t len, lp__report *parsed,
                             lp__scan_entry **out) {
    lp__scan_entry e;
    memset(&e, 0, sizeof e);
    e.key = *key;
    e.ok = ok;
    e.report = report;
    e.report_len = len;
    if (parsed != NULL) {
        e.parsed = *parsed;
        memset(parsed, 0, sizeof *parsed);
    }
    e.path = lp__strdup(path);
    e.why = lp__strdup(why != NULL ? why : "");
    if (e.path == NULL || e.why == NULL ||
        lp__grow((void **)&c->items, &c->cap, c->count + 1, sizeof c->items[0]) != LP_OK) {
        lp__entry_clear(&e);
        return LP_ENOMEM;
    }
    c->items[c->count] = e;
    if (out != NULL)
        *out = &c->items[c->count];
    c->count++;
    return LP_OK;
}

void lp__scan_cache_free(lp__scan_cache *c) {
    for (size_t i = 0; i < c->count; i++)
        lp__entry_clear(&c->items[i]);
    free(c->items);
    free(c->file);
    memset(c, 0, sizeof *c);
}

/* Read the whole cache file (at most LP__CACHE_FILE_MAX bytes) into *data;
 * *data NULL when it is absent, not a regular file, too large or
 * unreadable. LP_OK or LP_ENOMEM. */
static int32_t lp__cache_read(const char *file, char **data, size_t *len) {
    *data = NULL;
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat st;
    if (fd < 0)
        return LP_OK;
    int32_t rc = LP_OK;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (uint64_t)st.st_size <= LP__CACHE_FILE_MAX) {
        size_t got = 0;
        char *d = malloc((size_t)st.st_size + 1);
        if (d == NULL)
            rc = LP_ENOMEM;
        else if (lp__read_all(fd, d, (size_t)st.st_size, &got) != 0 || got != (size_t)st.st_size)
            free(d);
        else {
            d[got] = '\0';
            *len = got;
            *data = d;
        }
    }
    close(fd);
    return rc;
}

/* One entry: a line "file DEV INO SIZE MTIME_S MTIME_NS ok|bad REPORT_BYTES
 * PATH WHY" (tab-separated, PATH and WHY escaped as in the report), then
 * REPORT_BYTES bytes of the report (ok only). 1 parsed (at *p, advanced),
 * 0 garbled, -1 out of memory. */
static int lp__cache_entry(lp__scan_cache *c, const char **p, const char *end) {
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (nl == NULL || nl - *p > PATH_MAX * 4 + LP_ERROR_MAX * 4 + 256)
        return 0;
    char line[PATH_MAX * 4 + LP_ERROR_MAX * 4 + 257];
    memcpy(line, *p, (size_t)(nl - *p));
    line[nl - *p] = '\0';
    unsigned long long dev, ino, mt, len;
    long long size;
    long ns;
    char verdict[4];
    int used = 0;
    if (sscanf(line, "file\t%llu\t%llu\t%lld\t%llu\t%ld\t%3[a-z]\t%llu\t%n", &dev, &ino, &size, &mt,
               &ns, verdict, &len, &used) != 7 ||
        used == 0)
        return 0;
    int ok = strcmp(verdict, "ok") == 0;
    if ((!ok && strcmp(verdict, "bad") != 0) || (!ok && len != 0) ||
        len > (unsigned long long)(end - nl - 1) || len > LP__SCAN_OUTPUT_MAX)
        return 0;
    char *tab = strchr(line + used, '\t');
    if (tab == NULL || strchr(tab + 1, '\t') != NULL)
        return 0;
    *tab = '\0';
    char *path = NULL, *why = NULL, *report = NULL;
    lp__report parsed;
    memset(&parsed, 0, sizeof parsed);
    int e1 = lp__unescape(line + used, &path), e2 = lp__unescape(tab + 1, &why);
    int rc = e1 == -2 || e2 == -2 ? -1 : e1 != 0 || e2 != 0 || path == NULL || why == NULL ? 0 : 1;
    if (rc == 1 && ok) {
        char whyp[LP_ERROR_MAX];
        report = malloc((size_t)len + 1);
        if (report == NULL) {
            rc = -1;
        } else {
            memcpy(report, nl + 1, (size_t)len);
            report[len] = '\0';
            int32_t prc = lp__report_parse(report, (size_t)len, &parsed, whyp, sizeof whyp);
            rc = prc == LP_ENOMEM ? -1 : prc != LP_OK ? 0 : 1;
        }
    }
    if (rc == 1) {
        lp__scan_key key = {(dev_t)dev, (ino_t)ino, (off_t)size, (time_t)mt, ns};
        if (lp__cache_add(c, &key, ok, why, path, report, (size_t)len, &parsed, NULL) != LP_OK)
            rc = -1;
        report = NULL;
        *p = nl + 1 + len;
    }
    lp__report_free(&parsed);
    free(report);
    free(path);
    free(why);
    return rc;
}

/* A missing, foreign (another version) or garbled file is an empty cache:
 * the cache is only an optimisation, and a garbled one is rebuilt, never
 * half-used. */
int32_t lp__scan_cache_load(lp__scan_cache *c) {
    char *dir = lp__cache_dir();
    if (dir == NULL) /* neither variable set, or out of memory */
        return lp__cache_configured() ? LP_ENOMEM : LP_OK;
    c->file = lp__asprintf("%s/%s", dir, LP__CACHE_NAME);
    free(dir);
    if (c->file == NULL)
        return LP_ENOMEM;
    size_t len = 0;
    char *data = NULL;
    if (lp__cache_read(c->file, &data, &len) != LP_OK)
        return LP_ENOMEM;
    if (data == NULL)
        return LP_OK;
    const char *p = data, *end = data + len;
    size_t hl = strlen(LP__CACHE_HEADER);
    int rc = len >= hl && memcmp(data, LP__CACHE_HEADER, hl) == 0 ? 1 : 0;
    p += hl;
    while (rc == 1 && p < end)
        rc = lp__cache_entry(c, &p, end);
    free(data);
    if (rc == -1)
        return LP_ENOMEM;
    if (rc == 0) { /* garbled: start afresh, and write a whole cache back */
        for (size_t i = 0; i < c->count; i++)
            lp__entry_clear(&c->items[i]);
        c->count = 0;
        c->dirty = 1;
    }
    return LP_OK;
}

/* Written whole to a temporary and renamed over the cache: a reader never
 * sees half a file, and two writers each leave a whole one. Best effort:
 * only running out of memory is reported. */
int32_t lp__scan_cache_save(const lp__scan_cache *c) {
    if (!c->dirty || c->file == NULL)
        return LP_OK;
    /* c->file is <cache>/lossplug/<name> (lp__scan_cache_load): create
     * <cache>/ then <cache>/lossplug/. */
    char *dir = lp__strdup(c->file);
    if (dir == NULL)
        return LP_ENOMEM;
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    slash = strrchr(dir, '/');
    if (slash != NULL) {
        *slash = '\0';
        mkdir(dir, 0700);
        *slash = '/';
    }
    mkdir(dir, 0700);
    /* A name of its own for each writer, also for two registries of one
     * process saving at once (each would truncate the other's file). */
    char *tmp = lp__asprintf("%s.tmp.XXXXXX", c->file);
    int fd = tmp != NULL ? mkostemp(tmp, O_CLOEXEC) : -1;
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        int32_t rc = tmp == NULL ? LP_ENOMEM : LP_OK;
        free(tmp);
        free(dir);
        return rc;
    }
    int bad = fputs(LP__CACHE_HEADER, f) < 0;
    for (size_t i = 0; i < c->count && !bad; i++) {
        const lp__scan_entry *e = &c->items[i];
        size_t len = e->ok ? e->report_len : 0;
        fprintf(f, "file\t%llu\t%llu\t%lld\t%llu\t%ld\t%s\t%zu\t", (unsigned long long)e->key.dev,
                (unsigned long long)e->key.ino, (long long)e->key.size,
                (unsigned long long)e->key.mtime, e->key.mtime_ns, e->ok ? "ok" : "bad", len);
        lp__escape_put(f, e->path);
        fputc('\t', f);
        lp__escape_put(f, e->why);
        bad = fputc('\n', f) == EOF || (len > 0 && fwrite(e->report, 1, len, f) != len);
    }
    int32_t rc = LP_OK;
    if (fclose(f) != 0 || bad || rename(tmp, c->file) != 0) {
        unlink(tmp);
    } else {
        /* The previous format's cache is never read again: remove it, only
         * that one file of our own cache directory. */
        char *old = lp__asprintf("%s/%s", dir, LP__CACHE_OLD_NAME);
        if (old != NULL)
            unlink(old);
        else
            rc = LP_ENOMEM;
        free(old);
    }
    free(tmp);
    free(dir);
    return rc;
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
                            char **report, size_t *report_len, char *why, size_t why_len) {
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
    char parent[24]; /* ours: the scan ends if we ended before it could ask to die with us */
    snprintf(parent, sizeof parent, "%ld", (long)getpid());
    char *argv[] = {(char *)scanner, (char *)"--v2", (char *)path, parent, NULL};
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
                 "deadlock in its constructor or init?): not loaded, and remembered until the "
                 "file changes; if the machine was only busy, touch the file or raise "
                 "lp_registry_options.scan_timeout_ms",
                 timeout_ms / 1000, timeout_ms % 1000 / 100);
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *abbrev = sigabbrev_np(sig);
        snprintf(why, why_len,
                 "the out-of-process scan was killed by signal SIG%s (%s) while loading it (its "
                 "constructor or init crashed): not loaded",
                 abbrev != NULL ? abbrev : "?", strsignal(sig));
    } else if (strncmp(out, LP__REPORT_HEADER "\n", sizeof LP__REPORT_HEADER) != 0 ||
               strstr(out, "\nend\t") == NULL || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(why, why_len,
                 "the out-of-process scan exited with status %d before it finished (does its "
                 "constructor or init call exit?): not loaded",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    } else {
        *ok = 1;
        *report = out;
        *report_len = len;
        out = NULL;
    }
    free(out);
    return rc;
}

int lp__scan_runs(const lp_registry *reg) {
    return reg->opt.describe_only || reg->opt.scan > 0 ||
           (reg->opt.scan == LP_SCAN_AUTO && reg->only_ids != NULL);
}

int lp__scan_consulted(const lp_registry *reg) {
    return lp__scan_runs(reg) || reg->only_ids != NULL;
}

int32_t lp__scan_lookup(lp_registry *reg, const char *path, const struct stat *st,
                        lp__scan_entry **out, int *fresh) {
    *out = NULL;
    *fresh = 0;
    const int scanning = lp__scan_runs(reg);
    lp__scan_key key = {st->st_dev, st->st_ino, st->st_size, st->st_mtim.tv_sec,
                        st->st_mtim.tv_nsec};
    lp__scan_entry *hit = lp__cache_find(&reg->scan_cache, path);
    if (hit != NULL && lp__key_equal(&hit->key, &key)) {
        /* Without a scan, only what a scan learned about a file that loads
         * is used (its losses); its refusal is the scanning programs'. */
        if (hit->ok || scanning)
            *out = hit;
        return LP_OK;
    }
    if (!scanning)
        return LP_OK;
    if (!reg->scanner_looked) {
        int oom = 0;
        reg->scanner = lp__scanner_path(&oom);
        if (oom)
            return LP_ENOMEM;
        reg->scanner_looked = 1;
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
    char *report = NULL;
    size_t len = 0;
    lp__report parsed;
    memset(&parsed, 0, sizeof parsed);
    int timeout = reg->opt.scan_timeout_ms > 0 ? reg->opt.scan_timeout_ms : LP__SCAN_TIMEOUT_MS;
    int32_t rc = lp__scan_run(reg->scanner, path, timeout, &ok, &report, &len, why, sizeof why);
    if (rc != LP_OK)
        return rc;
    if (ok) {
        char what[LP_ERROR_MAX - 256];
        rc = lp__report_parse(report, len, &parsed, what, sizeof what);
        if (rc == LP_ENOMEM) {
            free(report);
            return rc;
        }
        if (rc != LP_OK) {
            ok = 0;
            free(report);
            report = NULL;
            len = 0;
            snprintf(why, sizeof why,
                     "the out-of-process scan's report is garbled (%s): not loaded; the plugin "
                     "may write to the scanner's output, or lossplug-scan is not the one of this "
                     "liblossplug (reinstall lossplug)",
                     what);
        }
    }
    lp__scan_entry *e = NULL;
    if (hit != NULL) { /* the file changed: replace its entry in place */
        lp__scan_cache one;
        memset(&one, 0, sizeof one);
        rc = lp__cache_add(&one, &key, ok, ok ? "" : why, path, report, len, &parsed, &e);
        if (rc == LP_OK) {
            lp__entry_clear(hit);
            *hit = one.items[0];
            e = hit;
        }
        free(one.items);
    } else {
        rc = lp__cache_add(&reg->scan_cache, &key, ok, ok ? "" : why, path, report, len, &parsed,
                           &e);
    }
    if (rc != LP_OK)
        return rc;
    reg->scan_cache.dirty = 1;
    *out = e;
    *fresh = 1;
    return LP_OK;
}
