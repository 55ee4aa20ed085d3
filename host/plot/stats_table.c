/* Reading a stats file (CSV or JSON Lines) into an lp_stats_table. */
#include "plot/lp_plot.h"

#include "util/error.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The whole file, NUL-terminated; NULL with errno set on failure. */
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (n + 1 >= cap) {
            char *b = realloc(buf, cap * 2);
            if (b == NULL) {
                free(buf);
                buf = NULL;
                errno = ENOMEM;
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) {
                free(buf);
                buf = NULL;
                errno = EIO;
            }
            break;
        }
    }
    fclose(f);
    if (buf != NULL) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

void lp_stats_table_free(lp_stats_table *t) {
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->cols; i++)
        free(t->names[i]);
    free(t->names);
    free(t->values);
    memset(t, 0, sizeof *t);
}

long lp_stats_table_column(const lp_stats_table *t, const char *name) {
    for (size_t i = 0; i < t->cols; i++)
        if (strcmp(t->names[i], name) == 0)
            return (long)i;
    return -1;
}

static int add_column(lp_stats_table *t, const char *name, size_t len) {
    char **names = realloc(t->names, (t->cols + 1) * sizeof *names);
    if (names == NULL)
        return -1;
    t->names = names;
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, name, len);
    copy[len] = '\0';
    t->names[t->cols++] = copy;
    return 0;
}

static int add_row(lp_stats_table *t) {
    double *v = realloc(t->values, (t->rows + 1) * (t->cols ? t->cols : 1) * sizeof *v);
    if (v == NULL)
        return -1;
    t->values = v;
    for (size_t c = 0; c < t->cols; c++)
        v[t->rows * t->cols + c] = NAN;
    t->rows++;
    return 0;
}

/* A number cell: empty or non-finite is "no value" (NAN). */
static int parse_number(const char *s, size_t len, double *out) {
    char buf[64];
    if (len == 0) {
        *out = NAN;
        return 0;
    }
    if (len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end = NULL;
    errno = 0;
    double v = strtod(buf, &end);
    if (end == buf || *end != '\0')
        return -1;
    *out = isfinite(v) ? v : NAN;
    return 0;
}

static int32_t read_csv(const char *path, char *text, lp_stats_table *t, lp_error *err) {
    size_t line_no = 0;
    char *line = text;
    while (*line != '\0') {
        char *nl = strchr(line, '\n');
        char *end = nl != NULL ? nl : line + strlen(line);
        char *next = nl != NULL ? nl + 1 : end;
        line_no++;
        if (end > line && end[-1] == '\r')
            end--;
        if (end == line) { /* blank line */
            line = next;
            continue;
        }
        if (t->cols == 0) { /* the header */
            for (char *p = line; p <= end;) {
                char *comma = memchr(p, ',', (size_t)(end - p));
                char *stop = comma != NULL ? comma : end;
                if (stop == p)
                    return lp__error_set(err, LP_ECORRUPT,
                                         "%s:%zu: the header has an empty column name", path,
                                         line_no);
                if (add_column(t, p, (size_t)(stop - p)) != 0)
                    return lp__error_set(err, LP_ENOMEM, "%s: out of memory", path);
                p = stop + 1;
            }
        } else {
            if (add_row(t) != 0)
                return lp__error_set(err, LP_ENOMEM, "%s: out of memory", path);
            size_t c = 0;
            for (char *p = line; p <= end; c++) {
                char *comma = memchr(p, ',', (size_t)(end - p));
                char *stop = comma != NULL ? comma : end;
                if (c >= t->cols)
                    break;
                double v;
                if (parse_number(p, (size_t)(stop - p), &v) != 0)
                    return lp__error_set(
                        err, LP_ECORRUPT,
                        "%s:%zu: column '%s': '%.*s' is not a number; is this a stats "
                        "file written by lossplug?",
                        path, line_no, t->names[c], (int)(stop - p < 40 ? stop - p : 40), p);
                t->values[(t->rows - 1) * t->cols + c] = v;
                p = stop + 1;
            }
            size_t cells = 1;
            for (const char *p = line; p < end; p++)
                cells += *p == ',';
            if (cells != t->cols)
                return lp__error_set(
                    err, LP_ECORRUPT,
                    "%s:%zu: %zu cells, but the header has %zu columns; the file is cut "
                    "or mixes two runs with different stats",
                    path, line_no, cells, t->cols);
        }
        line = next;
    }
    return LP_OK;
}

static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

/* One JSON line: a flat object of numbers (or null). Pass 0 adds unknown
 * keys as columns; pass 1 stores the values in the last row. */
static int32_t json_line(const char *path, size_t line_no, const char *p, lp_stats_table *t,
                         int pass, lp_error *err) {
    p = skip_ws(p);
    if (*p != '{')
        return lp__error_set(err, LP_ECORRUPT,
                             "%s:%zu: a line of a .jsonl stats file is a JSON object {...}", path,
                             line_no);
    p = skip_ws(p + 1);
    if (*p == '}')
        return LP_OK;
    for (;;) {
        if (*p != '"')
            return lp__error_set(err, LP_ECORRUPT, "%s:%zu: expected a \"key\"", path, line_no);
        const char *key = ++p;
        while (*p != '"' && *p != '\0' && *p != '\n')
            p += (*p == '\\' && p[1] != '\0') ? 2 : 1;
        if (*p != '"')
            return lp__error_set(err, LP_ECORRUPT, "%s:%zu: a key is not closed", path, line_no);
        size_t klen = (size_t)(p - key);
        p = skip_ws(p + 1);
        if (*p != ':')
            return lp__error_set(err, LP_ECORRUPT, "%s:%zu: expected ':' after \"%.*s\"", path,
                                 line_no, (int)(klen < 60 ? klen : 60), key);
        p = skip_ws(p + 1);
        const char *val = p;
        while (*p != ',' && *p != '}' && *p != '\0' && *p != '\n')
            p++;
        const char *vend = p;
        while (vend > val && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        double v = NAN;
        size_t vlen = (size_t)(vend - val);
        if (!(vlen == 4 && memcmp(val, "null", 4) == 0) && parse_number(val, vlen, &v) != 0)
            return lp__error_set(err, LP_ECORRUPT, "%s:%zu: \"%.*s\": '%.*s' is not a number", path,
                                 line_no, (int)(klen < 60 ? klen : 60), key,
                                 (int)(vlen < 40 ? vlen : 40), val);
        long c = -1;
        for (size_t i = 0; i < t->cols; i++)
            if (strlen(t->names[i]) == klen && memcmp(t->names[i], key, klen) == 0)
                c = (long)i;
        if (pass == 0 && c < 0 && add_column(t, key, klen) != 0)
            return lp__error_set(err, LP_ENOMEM, "%s: out of memory", path);
        if (pass == 1 && c >= 0)
            t->values[(t->rows - 1) * t->cols + (size_t)c] = v;
        if (*p == '}')
            return LP_OK;
        if (*p != ',')
            return lp__error_set(err, LP_ECORRUPT, "%s:%zu: the object is not closed with '}'",
                                 path, line_no);
        p = skip_ws(p + 1);
    }
}

static int32_t read_jsonl(const char *path, char *text, lp_stats_table *t, lp_error *err) {
    for (int pass = 0; pass < 2; pass++) {
        size_t line_no = 0;
        for (char *line = text; *line != '\0';) {
            char *nl = strchr(line, '\n');
            line_no++;
            if (*skip_ws(line) != '\n' && *skip_ws(line) != '\0') {
                if (pass == 1 && add_row(t) != 0)
                    return lp__error_set(err, LP_ENOMEM, "%s: out of memory", path);
                int32_t rc = json_line(path, line_no, line, t, pass, err);
                if (rc != LP_OK)
                    return rc;
            }
            line = nl != NULL ? nl + 1 : line + strlen(line);
        }
    }
    return LP_OK;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int32_t lp_stats_table_read(const char *path, lp_stats_table *out, lp_error *err) {
    memset(out, 0, sizeof *out);
    if (path == NULL)
        return lp__error_set(err, LP_EINVAL, "lp_stats_table_read: no path");
    size_t len = 0;
    char *text = slurp(path, &len);
    if (text == NULL)
        return lp__error_set(err, LP_EIO, "%s: cannot read the stats file: %s", path,
                             strerror(errno));
    int json = ends_with(path, ".jsonl") || ends_with(path, ".json") ||
               (!ends_with(path, ".csv") && *skip_ws(text) == '{');
    int32_t rc = json ? read_jsonl(path, text, out, err) : read_csv(path, text, out, err);
    free(text);
    if (rc == LP_OK && out->rows == 0)
        rc = lp__error_set(err, LP_ECORRUPT,
                           "%s: no stats line yet (%s); train at least one epoch with --stats %s",
                           path, out->cols == 0 ? "the file is empty" : "only a header", path);
    if (rc != LP_OK)
        lp_stats_table_free(out);
    return rc;
}
