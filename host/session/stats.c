/* Statistics: "<instance>/<key>" for what instances record, "<instance>/loss"
 * and "total_loss" for what the host records; the mean over a train phase's
 * minibatches. Program stats (lp_session_stat_register) are the mean of what
 * the program recorded during the epoch: since the previous train phase
 * ended, up to the end of this one. The stats file gets one line per train phase: CSV (with a
 * header when the file is empty) or JSON Lines. */
#include "session/session_impl.h"

#include "util/errno_text.h"
#include "util/io.h"

#include "util/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int32_t lp__stat_add(lp_session *s, const lp__inst *owner, const char *key, int32_t *handle,
                     lp_error *err) {
    if (s->stat_count >= INT32_MAX)
        return lp__error_set(err, LP_ERANGE, "too many statistics");
    if (s->stat_count == s->stat_cap) {
        size_t cap = s->stat_cap ? 2 * s->stat_cap : 16;
        lp__stat *n = realloc(s->stats, cap * sizeof *n);
        if (n == NULL)
            return lp__error_set(err, LP_ENOMEM, "out of memory registering statistic '%s'", key);
        s->stats = n;
        s->stat_cap = cap;
    }
    size_t len = (owner != NULL ? strlen(owner->cfg->name) + 1 : 0) + strlen(key) + 1;
    char *name = malloc(len);
    if (name == NULL)
        return lp__error_set(err, LP_ENOMEM, "out of memory registering statistic '%s'", key);
    if (owner != NULL)
        snprintf(name, len, "%s/%s", owner->cfg->name, key);
    else
        snprintf(name, len, "%s", key);
    lp__stat *st = &s->stats[s->stat_count];
    memset(st, 0, sizeof *st);
    st->name = name;
    st->owner = owner;
    st->key = owner != NULL ? name + strlen(owner->cfg->name) + 1 : name;
    st->value = NAN;
    *handle = (int32_t)s->stat_count++;
    return LP_OK;
}

void lp__stats_reset(lp_session *s) {
    for (size_t i = 0; i < s->stat_count; i++) {
        if (s->stats[i].program)
            continue;
        s->stats[i].sum = 0.0;
        s->stats[i].count = 0;
    }
}

void lp__stats_reset_program(lp_session *s) {
    for (size_t i = 0; i < s->stat_count; i++) {
        if (!s->stats[i].program)
            continue;
        s->stats[i].sum = 0.0;
        s->stats[i].count = 0;
    }
}

#define PROGRAM_STAT_MAX 127 /* characters of a program stat's name */

static int valid_program_name(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > PROGRAM_STAT_MAX || name[0] < 'a' || name[0] > 'z')
        return 0;
    for (size_t i = 1; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '/'))
            return 0;
    }
    return 1;
}

int32_t lp_session_stat_register(lp_session *s, const char *name, int32_t *handle, lp_error *err) {
    if (s == NULL || name == NULL || handle == NULL)
        return lp__error_set(err, LP_EINVAL,
                             "lp_session_stat_register: the session, the name or the handle "
                             "pointer is NULL");
    *handle = -1;
    if (!valid_program_name(name))
        return lp__error_set(err, LP_EINVAL,
                             "lp_session_stat_register: bad statistic name '%.200s'; use "
                             "[a-z][a-z0-9_/]*, at most %d characters (e.g. \"episode_return\")",
                             name, PROGRAM_STAT_MAX);
    if (s->train_begun)
        return lp__error_set(err, LP_ESTATE,
                             "lp_session_stat_register: statistic '%s' registered after the first "
                             "train phase; the stats file's columns are fixed by then: register "
                             "every program statistic right after lp_session_open",
                             name);
    if (strcmp(name, "epoch") == 0 || strcmp(name, "env_steps") == 0)
        return lp__error_set(err, LP_EINVAL,
                             "lp_session_stat_register: '%s' is a column the stats file always "
                             "has; choose another name",
                             name);
    for (size_t i = 0; i < s->stat_count; i++)
        if (strcmp(s->stats[i].name, name) == 0)
            return lp__error_set(err, LP_EINVAL,
                                 "lp_session_stat_register: statistic '%s' already exists (%s); "
                                 "choose another name, e.g. 'program/%s'",
                                 name,
                                 s->stats[i].program         ? "registered by the program"
                                 : s->stats[i].owner != NULL ? "an instance's"
                                                             : "the host's",
                                 name);
    int32_t rc = lp__stat_add(s, NULL, name, handle, err);
    if (rc != LP_OK)
        return rc;
    s->stats[*handle].program = 1;
    return LP_OK;
}

int32_t lp_session_stat_record(lp_session *s, int32_t handle, double value) {
    if (s == NULL || handle < 0 || (size_t)handle >= s->stat_count || !s->stats[handle].program)
        return LP_EINVAL;
    if (!isfinite(value))
        return LP_ERANGE;
    lp__stat_record(s, handle, value);
    return LP_OK;
}

int32_t lp__stats_reduce(lp_session *s, lp_error *err) {
    if (s->opt.stats_reduce == NULL || s->stat_count == 0)
        return LP_OK;
    if (s->reduce_buf == NULL) { /* the stats are fixed from the first train phase on */
        s->reduce_buf = malloc(2 * s->stat_count * sizeof *s->reduce_buf);
        if (s->reduce_buf == NULL)
            return lp__error_set(err, LP_ENOMEM, "out of memory for the stats reduction");
    }
    double *sums = s->reduce_buf, *counts = s->reduce_buf + s->stat_count;
    for (size_t i = 0; i < s->stat_count; i++) {
        sums[i] = s->stats[i].sum;
        counts[i] = (double)s->stats[i].count;
    }
    lp_error e;
    e.code = LP_OK;
    e.message[0] = '\0';
    int32_t rc = s->opt.stats_reduce(s->opt.stats_reduce_user, sums, counts, s->stat_count, &e);
    if (rc != LP_OK) {
        int32_t code = rc < 0 ? rc : LP_EINVAL;
        if (e.message[0] == '\0')
            return lp__error_set(err, code, "the program's stats_reduce failed with status %d (%s)",
                                 (int)rc, lp_strerror(rc));
        return lp__error_set(err, code, "%s", e.message);
    }
    for (size_t i = 0; i < s->stat_count; i++) {
        s->stats[i].sum = sums[i];
        s->stats[i].count = counts[i] > 0 ? (int64_t)counts[i] : 0;
    }
    return LP_OK;
}

void lp__stats_finish(lp_session *s) {
    for (size_t i = 0; i < s->stat_count; i++)
        s->stats[i].value =
            s->stats[i].count > 0 ? s->stats[i].sum / (double)s->stats[i].count : NAN;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && memcmp(s + n - m, suffix, m) == 0;
}

int32_t lp__stats_open(lp_session *s, lp_error *err) {
    const char *path = s->cfg->stats_path;
    int32_t format = s->cfg->stats_format;
    char where[300] = "";
    if (s->opt.stats_off)
        return LP_OK;
    if (s->opt.stats_path != NULL) {
        path = s->opt.stats_path;
        if (ends_with(path, ".csv"))
            format = LP__STATS_CSV;
        else if (ends_with(path, ".jsonl"))
            format = LP__STATS_JSONL;
        else
            return lp__error_set(err, LP_EINVAL,
                                 "stats path '%.256s' (lp_session_options.stats_path) has no known "
                                 "format; end it in .csv or .jsonl",
                                 path);
        snprintf(where, sizeof where, " (lp_session_options.stats_path)");
    } else if (path != NULL) {
        char p[256];
        lp__pos_text(p, sizeof p, s->cfg->stats_path_pos.value);
        snprintf(where, sizeof where, " (stats.path at %s)", p);
    }
    if (path == NULL)
        return LP_OK;
    s->stats_path = strdup(path);
    if (s->stats_path == NULL)
        return lp__error_set(err, LP_ENOMEM, "out of memory");
    s->stats_format = format;
    s->stats_file = fopen(path, "a");
    if (s->stats_file == NULL) {
        int e = errno;
        char eb[128];
        return lp__error_set(err, LP_EIO,
                             "%.400s: cannot open the stats file for appending%s: %s; check that "
                             "its directory exists and is writable",
                             path, where, lp__errno_text(e, eb, sizeof eb));
    }
    return LP_OK;
}

/* Append to the line being built; the buffer is sized so that it always
 * fits (stats_line_size). */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
put(lp_session *s, const char *fmt, ...) {
    size_t n = strlen(s->stats_line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->stats_line + n, s->stats_line_cap - n, fmt, ap);
    va_end(ap);
}

/* The shortest %g form that reads back as `v`. */
static void put_double(lp_session *s, double v) {
    char buf[40];
    if (v == floor(v) && fabs(v) < 1e15) { /* integers as such: 40, not 4e+01 */
        put(s, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    put(s, "%s", buf);
}

/* An upper bound of a CSV header plus one line, or of one JSON line: the
 * stats are fixed from the first train phase on, so this is computed once. */
static size_t stats_line_size(const lp_session *s) {
    size_t n = 128; /* epoch, env_steps, punctuation, newlines, NUL */
    for (size_t i = 0; i < s->stat_count; i++)
        n += 2 * (strlen(s->stats[i].name) + 8) + 48; /* name twice, a value of <= 24 chars */
    return n;
}

/* Write `len` bytes at the end of the file in one go; on a failed or short
 * write, cut the file back to where it was, so that it never holds a partial
 * line. */
static int32_t append_whole(lp_session *s, size_t len, int64_t epoch, lp_error *err) {
    int fd = fileno(s->stats_file);
    off_t start = lseek(fd, 0, SEEK_END);
    size_t done = 0;
    int e = start >= 0 ? lp__write_all(fd, s->stats_line, len, &done) : errno;
    if (done == len && start >= 0)
        return LP_OK;
    if (start >= 0 && done > 0 && ftruncate(fd, start) != 0)
        done = len; /* could not cut: say so below */
    char eb[128];
    return lp__error_set(err, LP_EIO, "%.400s: cannot append the stats of epoch %lld: %s%s",
                         s->stats_path, (long long)epoch, lp__errno_text(e, eb, sizeof eb),
                         done == len ? " (and a partial line may remain)"
                                     : "; nothing was written");
}

int32_t lp__stats_write(lp_session *s, int64_t epoch, lp_error *err) {
    if (s->stats_file == NULL)
        return LP_OK;
    if (s->stats_line == NULL) {
        s->stats_line_cap = stats_line_size(s);
        s->stats_line = malloc(s->stats_line_cap);
        if (s->stats_line == NULL)
            return lp__error_set(err, LP_ENOMEM, "%.400s: out of memory for the stats line",
                                 s->stats_path);
    }
    s->stats_line[0] = '\0';
    if (s->stats_format == LP__STATS_CSV) {
        int fd = fileno(s->stats_file);
        if (lseek(fd, 0, SEEK_END) == 0) {
            put(s, "epoch,env_steps");
            for (size_t i = 0; i < s->stat_count; i++)
                put(s, ",%s", s->stats[i].name);
            put(s, "\n");
        }
        put(s, "%lld,%lld", (long long)epoch, (long long)s->env_steps);
        for (size_t i = 0; i < s->stat_count; i++) {
            put(s, ",");
            if (isfinite(s->stats[i].value)) /* no value this epoch: an empty cell */
                put_double(s, s->stats[i].value);
        }
        put(s, "\n");
    } else {
        put(s, "{\"epoch\":%lld,\"env_steps\":%lld", (long long)epoch, (long long)s->env_steps);
        for (size_t i = 0; i < s->stat_count; i++) {
            /* Names are [a-z0-9_/]: nothing to escape. No value this
             * epoch: no key. */
            if (!isfinite(s->stats[i].value))
                continue;
            put(s, ",\"%s\":", s->stats[i].name);
            put_double(s, s->stats[i].value);
        }
        put(s, "}\n");
    }
    return append_whole(s, strlen(s->stats_line), epoch, err);
}

void lp__stats_free(lp_session *s) {
    if (s->stats_file != NULL)
        fclose(s->stats_file);
    free(s->stats_line);
    free(s->reduce_buf);
    free(s->stats_path);
    for (size_t i = 0; i < s->stat_count; i++)
        free(s->stats[i].name);
    free(s->stats);
}

size_t lp_session_stat_count(const lp_session *s) {
    return s != NULL ? s->stat_count : 0;
}

const char *lp_session_stat_name(const lp_session *s, size_t index) {
    return s != NULL && index < s->stat_count ? s->stats[index].name : NULL;
}

double lp_session_stat_value(const lp_session *s, size_t index) {
    return s != NULL && index < s->stat_count ? s->stats[index].value : NAN;
}

int32_t lp_session_stat(const lp_session *s, const char *name, double *value) {
    if (s == NULL || name == NULL)
        return LP_EINVAL;
    for (size_t i = 0; i < s->stat_count; i++)
        if (strcmp(s->stats[i].name, name) == 0) {
            if (value != NULL)
                *value = s->stats[i].value;
            return LP_OK;
        }
    return LP_ENOENT;
}
