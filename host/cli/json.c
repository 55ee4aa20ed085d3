/* The JSON writer behind --json (see json.h). */
#include "cli/json.h"
#include "cli/cli.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>

void lp__json_init(lp__json *j, FILE *out) {
    j->out = out;
    j->depth = 0;
    j->after_key = 0;
    for (int i = 0; i < LP__JSON_MAX_DEPTH; i++)
        j->has_items[i] = 0;
}

void lp__json_finish(lp__json *j) {
    fputc('\n', j->out);
}

static void lp__json_indent(lp__json *j) {
    fputc('\n', j->out);
    for (int i = 0; i < j->depth; i++)
        fputs("  ", j->out);
}

/* Everything a value needs before it: a comma and a new line, unless it is
 * the value of a key (which already placed it) or the document itself. */
static void lp__json_before_value(lp__json *j) {
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->depth == 0)
        return;
    int d = j->depth < LP__JSON_MAX_DEPTH ? j->depth : LP__JSON_MAX_DEPTH - 1;
    if (j->has_items[d])
        fputc(',', j->out);
    j->has_items[d] = 1;
    lp__json_indent(j);
}

static void lp__json_open(lp__json *j, char c) {
    lp__json_before_value(j);
    fputc(c, j->out);
    j->depth++;
    if (j->depth < LP__JSON_MAX_DEPTH)
        j->has_items[j->depth] = 0;
}

static void lp__json_close(lp__json *j, char c) {
    int had = j->depth < LP__JSON_MAX_DEPTH ? j->has_items[j->depth] : 1;
    j->depth--;
    if (had)
        lp__json_indent(j);
    fputc(c, j->out);
}

void lp__json_object_begin(lp__json *j) {
    lp__json_open(j, '{');
}
void lp__json_object_end(lp__json *j) {
    lp__json_close(j, '}');
}
void lp__json_array_begin(lp__json *j) {
    lp__json_open(j, '[');
}
void lp__json_array_end(lp__json *j) {
    lp__json_close(j, ']');
}

void lp__json_key(lp__json *j, const char *key) {
    lp__json_before_value(j);
    lp__json_write_string(j->out, key);
    fputs(": ", j->out);
    j->after_key = 1;
}

/* Length of the well-formed UTF-8 sequence at `s` (1..4), or 0 when the
 * bytes there are not one (overlong, surrogate, beyond U+10FFFF, cut short). */
static int lp__utf8_length(const unsigned char *s) {
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
        unsigned char hi = c == 0xED ? 0x9F : 0xBF;
        if (s[1] < lo || s[1] > hi)
            return 0;
        return (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
        unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
        if (s[1] < lo || s[1] > hi)
            return 0;
        if ((s[2] & 0xC0) != 0x80)
            return 0;
        return (s[3] & 0xC0) == 0x80 ? 4 : 0;
    }
    return 0;
}

void lp__json_write_string(FILE *out, const char *str) {
    if (str == NULL) {
        fputs("null", out);
        return;
    }
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', out);
    while (*s != '\0') {
        unsigned char c = *s;
        switch (c) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\b':
            fputs("\\b", out);
            break;
        case '\f':
            fputs("\\f", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        default:
            if (c < 0x20 || c == 0x7F) {
                fprintf(out, "\\u%04x", (unsigned)c);
            } else if (c < 0x80) {
                fputc(c, out);
            } else {
                /* The checks stop at the first bad byte, so they never read
                 * past the terminating NUL. */
                int n = lp__utf8_length(s);
                if (n == 0) {
                    fputs("\\ufffd", out);
                } else if (n == 2 && c == 0xC2 && s[1] < 0xA0) {
                    /* C1 controls (U+0080..U+009F) escaped like C0 ones. */
                    fprintf(out, "\\u%04x", (unsigned)s[1]);
                    s++;
                } else {
                    fwrite(s, 1, (size_t)n, out);
                    s += n - 1;
                }
            }
            break;
        }
        s++;
    }
    fputc('"', out);
}

void lp__json_string(lp__json *j, const char *s) {
    lp__json_before_value(j);
    lp__json_write_string(j->out, s);
}

void lp__json_int(lp__json *j, int64_t v) {
    lp__json_before_value(j);
    fprintf(j->out, "%" PRId64, v);
}

void lp__json_double(lp__json *j, double v) {
    lp__json_before_value(j);
    if (!isfinite(v)) {
        fputs("null", j->out);
        return;
    }
    char buf[64];
    lp__format_double(v, buf, sizeof buf);
    fputs(buf, j->out);
}

void lp__json_bool(lp__json *j, int v) {
    lp__json_before_value(j);
    fputs(v ? "true" : "false", j->out);
}

void lp__json_null(lp__json *j) {
    lp__json_before_value(j);
    fputs("null", j->out);
}

void lp__json_kv_string(lp__json *j, const char *key, const char *s) {
    lp__json_key(j, key);
    lp__json_string(j, s);
}

void lp__json_kv_int(lp__json *j, const char *key, int64_t v) {
    lp__json_key(j, key);
    lp__json_int(j, v);
}

void lp__json_kv_bool(lp__json *j, const char *key, int v) {
    lp__json_key(j, key);
    lp__json_bool(j, v);
}
