/* Protocol 2 of lossplug-scan (docs/loader.md "Scanning"): the report the
 * helper writes about one plugin file, and its strict reader. The report
 * carries everything `lossplug list` and `describe` print and what a
 * registry needs to know a file's losses without loading it: the entry's
 * ABI version, the scan's diagnostics, and every accepted descriptor with
 * its full parameter and field specs and model outputs.
 *
 * The child that writes it runs the plugin's code, so the reader trusts
 * nothing: every line is one record of a known kind with an exact number of
 * tab-separated fields, every text is escaped and bounded, every number is
 * parsed whole and every count is bounded and checked, and the descriptors
 * read back go through the same validation as a plugin's own. */
#include "loader/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LP__REPORT_FIELDS_MAX (12 + LP_MAX_RANK) /* the longest record, `field` */

/* ---- writing (lossplug-scan) ------------------------------------------------------ */

void lp__escape_put(FILE *out, const char *s) {
    if (s == NULL) {
        fputs("\\N", out);
        return;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '\\')
            fputs("\\\\", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\r')
            fputs("\\r", out);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\x%02x", (unsigned)*p);
        else
            fputc(*p, out);
    }
}

static uint64_t bits_of(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static void put_desc(FILE *out, const lp_loss_desc *d) {
    size_t outputs = 0;
    if (d->outputs != NULL)
        while (d->outputs[outputs] != NULL)
            outputs++;
    fputs("loss\t", out);
    lp__escape_put(out, d->id);
    fputc('\t', out);
    lp__escape_put(out, d->version);
    fputc('\t', out);
    lp__escape_put(out, d->summary);
    fprintf(out, "\t%" PRIu32 "\t%" PRIu32 "\t", d->param_count, d->field_count);
    if (d->outputs == NULL)
        fputs("\\N\n", out);
    else
        fprintf(out, "%zu\n", outputs);
    for (uint32_t i = 0; i < d->param_count; i++) {
        const lp_param_spec *p = &d->params[i]; /* a host-sized copy */
        /* Choices are read only for an enum, the one type whose list the
         * loader validates. */
        const char *const *choices = p->type == LP_PARAM_ENUM ? p->choices : NULL;
        size_t nc = 0;
        if (choices != NULL)
            while (choices[nc] != NULL)
                nc++;
        fputs("param\t", out);
        lp__escape_put(out, p->name);
        fputc('\t', out);
        lp__escape_put(out, p->doc);
        fprintf(out, "\t%" PRId32 "\t%" PRIu32 "\t%" PRId32 "\t%" PRId64 "\t%016" PRIx64 "\t",
                p->type, p->flags, p->default_bool, p->default_int, bits_of(p->default_float));
        lp__escape_put(out, p->default_string);
        fprintf(out, "\t%016" PRIx64 "\t%016" PRIx64 "\t", bits_of(p->min), bits_of(p->max));
        if (choices == NULL)
            fputs("\\N\n", out);
        else
            fprintf(out, "%zu\n", nc);
        for (size_t c = 0; c < nc; c++) {
            fputs("choice\t", out);
            lp__escape_put(out, choices[c]);
            fputc('\n', out);
        }
    }
    for (uint32_t i = 0; i < d->field_count; i++) {
        const lp_field_spec *f = &d->fields[i];
        fputs("field\t", out);
        lp__escape_put(out, f->name);
        fputc('\t', out);
        lp__escape_put(out, f->doc);
        fprintf(out, "\t%" PRIu32 "\t%" PRIu32 "\t%" PRId32 "\t%" PRId32 "\t%" PRId32, f->access,
                f->phase, f->dtype, f->rank, f->reserved);
        for (int d2 = 0; d2 < LP_MAX_RANK; d2++)
            fprintf(out, "\t%" PRId64, f->shape[d2]);
        fputc('\n', out);
    }
    for (size_t i = 0; i < outputs; i++) {
        fputs("output\t", out);
        lp__escape_put(out, d->outputs[i]);
        fputc('\n', out);
    }
}

size_t lp__report_write(FILE *out, const lp_registry *reg, const char *path) {
    size_t plen = strlen(path);
    fputs(LP__REPORT_HEADER "\n", out);
    if (reg->plugin_count > 0 && reg->plugins[0]->handle != NULL &&
        reg->plugins[0]->entry.struct_size != 0)
        fprintf(out, "entry\t%" PRIu32 "\t%" PRIu32 "\n", reg->plugins[0]->entry.abi_major,
                reg->plugins[0]->entry.abi_minor);
    for (size_t i = 0; i < reg->diags.count; i++) {
        const lp_diag *d = &reg->diags.items[i];
        /* The path is the reader's to add. */
        const char *msg = d->message;
        if (strncmp(msg, path, plen) == 0 && strncmp(msg + plen, ": ", 2) == 0)
            msg += plen + 2;
        fprintf(out, "diag\t%" PRId32 "\t%" PRId32 "\t", d->severity, d->code);
        lp__escape_put(out, msg);
        fputc('\n', out);
    }
    /* Every accepted descriptor, those that clash included: clashes are the
     * reader's registry's to find, across files. */
    for (size_t i = 0; i < reg->loss_count; i++)
        put_desc(out, &reg->losses[i]->copy.desc);
    return reg->loss_count;
}

/* ---- reading (liblossplug) --------------------------------------------------------- */

typedef struct rd {
    const char *p, *end;
    unsigned line;
    char *why;
    size_t why_len;
    char *f[LP__REPORT_FIELDS_MAX]; /* the current record's fields, NUL-terminated in `buf` */
    size_t nf;
    char *buf;
    size_t buf_cap;
} rd;

static int32_t bad(rd *r, const char *fmt, ...) LP__PRINTF(2, 3);
static int32_t bad(rd *r, const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(r->why, r->why_len, "line %u: %s", r->line, what);
    return LP_EPLUGIN;
}

/* Split the next line into fields. LP_OK; LP_EPLUGIN at the end of the text
 * (nf 0), on a line without its newline, a control byte or too many fields;
 * LP_ENOMEM. */
static int32_t next_line(rd *r) {
    r->nf = 0;
    r->line++;
    if (r->p >= r->end)
        return bad(r, "the report ends without its 'end' record");
    const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
    if (nl == NULL)
        return bad(r, "the last line has no newline");
    size_t len = (size_t)(nl - r->p);
    if (memchr(r->p, '\0', len) != NULL)
        return bad(r, "a NUL byte");
    if (len + 1 > r->buf_cap) {
        char *b = realloc(r->buf, len + 1);
        if (b == NULL)
            return LP_ENOMEM;
        r->buf = b;
        r->buf_cap = len + 1;
    }
    memcpy(r->buf, r->p, len);
    r->buf[len] = '\0';
    r->p = nl + 1;
    char *s = r->buf;
    r->f[r->nf++] = s;
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\t') {
            if (r->nf == LP__REPORT_FIELDS_MAX)
                return bad(r, "more than %d fields", LP__REPORT_FIELDS_MAX);
            *s = '\0';
            r->f[r->nf++] = s + 1;
        } else if (c < 0x20 || c == 0x7f) {
            return bad(r, "a raw control byte 0x%02x", (unsigned)c);
        }
    }
    return LP_OK;
}

static int is_kind(const rd *r, const char *kind, size_t fields) {
    return strcmp(r->f[0], kind) == 0 && r->nf == fields;
}

/* The byte of two lowercase hex digits at `s`; 0x100 when they are not. */
static unsigned hex2(const char *s) {
    static const char digits[] = "0123456789abcdef";
    const char *a = s[0] != '\0' ? strchr(digits, s[0]) : NULL;
    const char *b = a != NULL && s[1] != '\0' ? strchr(digits, s[1]) : NULL;
    return b == NULL ? 0x100 : (unsigned)((a - digits) * 16 + (b - digits));
}

int lp__unescape(const char *s, char **out) {
    *out = NULL;
    if (strcmp(s, "\\N") == 0)
        return 0;
    size_t n = strlen(s);
    char *t = malloc(n + 1);
    if (t == NULL)
        return -2;
    size_t k = 0;
    for (size_t j = 0; j < n; j++) {
        if (s[j] != '\\') {
            t[k++] = s[j];
            continue;
        }
        char e = s[++j];
        unsigned v;
        if (e == '\\')
            t[k++] = '\\';
        else if (e == 't')
            t[k++] = '\t';
        else if (e == 'n')
            t[k++] = '\n';
        else if (e == 'r')
            t[k++] = '\r';
        else if (e == 'x' && (v = hex2(s + j + 1)) != 0 && v < 0x100) {
            t[k++] = (char)v; /* \x00 (a NUL) and non-hex are refused */
            j += 2;
        } else {
            free(t);
            return -1;
        }
    }
    t[k] = '\0';
    *out = t;
    return 0;
}

/* Unescape field `i` into a malloc'd string (*out NULL for \N) owned by
 * `c`, or by the caller through *plain when `plain` is given. LP_OK,
 * LP_EPLUGIN (bad escape, NUL, too long), LP_ENOMEM. */
static int32_t take_text(rd *r, size_t i, size_t max, lp__desc_copy *c, const char **out,
                         char **plain) {
    char *t = NULL;
    *out = NULL;
    int e = lp__unescape(r->f[i], &t);
    if (e == -2)
        return LP_ENOMEM;
    if (e != 0)
        return bad(r, "field %zu: a bad escape", i);
    if (t == NULL)
        return LP_OK;
    size_t k = strlen(t);
    if (k > max) {
        free(t);
        return bad(r, "field %zu: %zu bytes, more than %zu", i, k, max);
    }
    if (plain != NULL) {
        *plain = t;
        *out = t;
        return LP_OK;
    }
    if (lp__grow((void **)&c->owned, &c->owned_cap, c->owned_count + 1, sizeof c->owned[0]) !=
        LP_OK) {
        free(t);
        return LP_ENOMEM;
    }
    c->owned[c->owned_count++] = t;
    *out = t;
    return LP_OK;
}

static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    if (*s == '\0' || (s[0] == '0' && s[1] != '\0') ||
        (s[0] == '-' && (s[1] == '0' || s[1] == '\0')))
        return 0;
    for (const char *p = s[0] == '-' ? s + 1 : s; *p != '\0'; p++)
        if (*p < '0' || *p > '9')
            return 0;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

/* A number in [lo, hi], or a message naming field `i`. */
static int32_t num(rd *r, size_t i, int64_t lo, int64_t hi, int64_t *out) {
    if (!parse_i64(r->f[i], lo, hi, out))
        return bad(r, "field %zu: '%.40s' is not an integer in [%" PRId64 ", %" PRId64 "]", i,
                   r->f[i], lo, hi);
    return LP_OK;
}

static int32_t bits(rd *r, size_t i, double *out) {
    const char *s = r->f[i];
    if (strlen(s) != 16 || strspn(s, "0123456789abcdef") != 16)
        return bad(r, "field %zu: '%.40s' is not 16 hex digits", i, s);
    uint64_t b = strtoull(s, NULL, 16);
    memcpy(out, &b, sizeof *out);
    return LP_OK;
}

/* A count field: *out = -1 for \N (no list), else 0..max. */
static int32_t count(rd *r, size_t i, int64_t max, int64_t *out) {
    if (strcmp(r->f[i], "\\N") == 0) {
        *out = -1;
        return LP_OK;
    }
    return num(r, i, 0, max, out);
}

/* A NULL-terminated list of `n` texts, each on its own `kind` record. */
static int32_t take_list(rd *r, const char *kind, int64_t n, lp__desc_copy *c,
                         const char *const **out) {
    *out = NULL;
    if (n < 0)
        return LP_OK;
    const char **list = calloc((size_t)n + 1, sizeof *list);
    if (list == NULL)
        return LP_ENOMEM;
    if (lp__grow((void **)&c->owned, &c->owned_cap, c->owned_count + 1, sizeof c->owned[0]) !=
        LP_OK) {
        free(list);
        return LP_ENOMEM;
    }
    c->owned[c->owned_count++] = (void *)list;
    for (int64_t k = 0; k < n; k++) {
        int32_t rc = next_line(r);
        if (rc != LP_OK)
            return rc;
        if (!is_kind(r, kind, 2))
            return bad(r, "expected a '%s' record (%" PRId64 " of %" PRId64 ")", kind, k + 1, n);
        rc = take_text(r, 1, LP__REPORT_TEXT_MAX, c, &list[k], NULL);
        if (rc != LP_OK)
            return rc;
        if (list[k] == NULL)
            return bad(r, "a NULL %s", kind);
    }
    *out = list;
    return LP_OK;
}

static int32_t read_param(rd *r, lp__desc_copy *c, lp_param_spec *p) {
    int32_t rc = next_line(r);
    if (rc != LP_OK)
        return rc;
    if (!is_kind(r, "param", 12))
        return bad(r, "expected a 'param' record of 12 fields");
    int64_t type, flags, db, di, nc;
    p->struct_size = sizeof *p;
    if ((rc = take_text(r, 1, LP__ID_MAX, c, &p->name, NULL)) != LP_OK ||
        (rc = take_text(r, 2, LP__REPORT_TEXT_MAX, c, &p->doc, NULL)) != LP_OK ||
        (rc = num(r, 3, INT32_MIN, INT32_MAX, &type)) != LP_OK ||
        (rc = num(r, 4, 0, UINT32_MAX, &flags)) != LP_OK ||
        (rc = num(r, 5, INT32_MIN, INT32_MAX, &db)) != LP_OK ||
        (rc = num(r, 6, INT64_MIN, INT64_MAX, &di)) != LP_OK ||
        (rc = bits(r, 7, &p->default_float)) != LP_OK ||
        (rc = take_text(r, 8, LP__REPORT_TEXT_MAX, c, &p->default_string, NULL)) != LP_OK ||
        (rc = bits(r, 9, &p->min)) != LP_OK || (rc = bits(r, 10, &p->max)) != LP_OK ||
        (rc = count(r, 11, LP__MAX_LIST, &nc)) != LP_OK)
        return rc;
    p->type = (int32_t)type;
    p->flags = (uint32_t)flags;
    p->default_bool = (int32_t)db;
    p->default_int = di;
    return take_list(r, "choice", nc, c, &p->choices);
}

static int32_t read_field(rd *r, lp__desc_copy *c, lp_field_spec *f) {
    int32_t rc = next_line(r);
    if (rc != LP_OK)
        return rc;
    if (!is_kind(r, "field", 8 + LP_MAX_RANK))
        return bad(r, "expected a 'field' record of %d fields", 8 + LP_MAX_RANK);
    int64_t access, phase, dtype, rank, reserved;
    f->struct_size = sizeof *f;
    if ((rc = take_text(r, 1, LP__ID_MAX, c, &f->name, NULL)) != LP_OK ||
        (rc = take_text(r, 2, LP__REPORT_TEXT_MAX, c, &f->doc, NULL)) != LP_OK ||
        (rc = num(r, 3, 0, UINT32_MAX, &access)) != LP_OK ||
        (rc = num(r, 4, 0, UINT32_MAX, &phase)) != LP_OK ||
        (rc = num(r, 5, INT32_MIN, INT32_MAX, &dtype)) != LP_OK ||
        (rc = num(r, 6, INT32_MIN, INT32_MAX, &rank)) != LP_OK ||
        (rc = num(r, 7, INT32_MIN, INT32_MAX, &reserved)) != LP_OK)
        return rc;
    for (int d = 0; d < LP_MAX_RANK; d++)
        if ((rc = num(r, 8 + (size_t)d, INT64_MIN, INT64_MAX, &f->shape[d])) != LP_OK)
            return rc;
    f->access = (uint32_t)access;
    f->phase = (uint32_t)phase;
    f->dtype = (int32_t)dtype;
    f->rank = (int32_t)rank;
    f->reserved = (int32_t)reserved;
    return LP_OK;
}

/* One `loss` record (already read) and the records that follow it. */
static int32_t read_loss(rd *r, uint32_t minor, lp__desc_copy *c) {
    int64_t np, nf, no;
    int32_t rc;
    memset(c, 0, sizeof *c);
    c->desc.struct_size = sizeof c->desc;
    if ((rc = take_text(r, 1, LP__ID_MAX, c, &c->desc.id, NULL)) != LP_OK ||
        (rc = take_text(r, 2, LP__REPORT_TEXT_MAX, c, &c->desc.version, NULL)) != LP_OK ||
        (rc = take_text(r, 3, LP__REPORT_TEXT_MAX, c, &c->desc.summary, NULL)) != LP_OK ||
        (rc = num(r, 4, 0, LP__MAX_SPECS, &np)) != LP_OK ||
        (rc = num(r, 5, 0, LP__MAX_SPECS, &nf)) != LP_OK ||
        (rc = count(r, 6, LP__MAX_LIST, &no)) != LP_OK)
        return rc;
    c->desc.param_count = (uint32_t)np;
    c->desc.field_count = (uint32_t)nf;
    if (np > 0 && (c->params = calloc((size_t)np, sizeof *c->params)) == NULL)
        return LP_ENOMEM;
    if (nf > 0 && (c->fields = calloc((size_t)nf, sizeof *c->fields)) == NULL)
        return LP_ENOMEM;
    c->desc.params = c->params;
    c->desc.fields = c->fields;
    for (int64_t i = 0; i < np; i++)
        if ((rc = read_param(r, c, &c->params[i])) != LP_OK)
            return rc;
    for (int64_t i = 0; i < nf; i++)
        if ((rc = read_field(r, c, &c->fields[i])) != LP_OK)
            return rc;
    if ((rc = take_list(r, "output", no, c, &c->desc.outputs)) != LP_OK)
        return rc;
    char why[LP_ERROR_MAX];
    if (lp__desc_copy_check(c, minor, why, sizeof why) != LP_OK)
        return bad(r, "loss '%s': %s", c->desc.id != NULL ? c->desc.id : "?", why);
    return LP_OK;
}

void lp__report_free(lp__report *rep) {
    for (size_t i = 0; i < rep->diag_count; i++)
        free(rep->diags[i].message);
    free(rep->diags);
    for (size_t i = 0; i < rep->loss_count; i++)
        lp__desc_copy_free(&rep->losses[i]);
    free(rep->losses);
    memset(rep, 0, sizeof *rep);
}

int32_t lp__report_parse(const char *text, size_t len, lp__report *rep, char *why, size_t why_len) {
    rd r = {text, text + len, 0, why, why_len, {0}, 0, NULL, 0};
    int32_t rc;
    memset(rep, 0, sizeof *rep);
    why[0] = '\0';
    if ((rc = next_line(&r)) != LP_OK)
        goto fail;
    if (r.nf != 1 || strcmp(r.f[0], LP__REPORT_HEADER) != 0) {
        rc = bad(&r, "not a '" LP__REPORT_HEADER "' report");
        goto fail;
    }
    size_t cap_d = 0, cap_l = 0;
    for (;;) {
        if ((rc = next_line(&r)) != LP_OK)
            goto fail;
        if (is_kind(&r, "entry", 3)) {
            int64_t major, minor;
            if (rep->has_entry || rep->loss_count > 0) {
                rc = bad(&r, "a second or late 'entry' record");
                goto fail;
            }
            if ((rc = num(&r, 1, 0, UINT32_MAX, &major)) != LP_OK ||
                (rc = num(&r, 2, 0, UINT32_MAX, &minor)) != LP_OK)
                goto fail;
            rep->has_entry = 1;
            rep->abi_major = (uint32_t)major;
            rep->abi_minor = (uint32_t)minor;
        } else if (is_kind(&r, "diag", 4)) {
            int64_t sev, code;
            char *msg = NULL;
            const char *m;
            if ((rc = num(&r, 1, LP_DIAG_WARNING, LP_DIAG_ERROR, &sev)) != LP_OK ||
                (rc = num(&r, 2, -1000, 0, &code)) != LP_OK)
                goto fail;
            if (rep->diag_count >= LP__MAX_LOSSES + 16) { /* one per loss, and a few */
                rc = bad(&r, "more than %d diagnostics", LP__MAX_LOSSES + 16);
                goto fail;
            }
            if ((rc = take_text(&r, 3, LP_ERROR_MAX, NULL, &m, &msg)) != LP_OK)
                goto fail;
            if (msg == NULL) {
                rc = bad(&r, "a NULL message");
                goto fail;
            }
            if (lp__grow((void **)&rep->diags, &cap_d, rep->diag_count + 1, sizeof rep->diags[0]) !=
                LP_OK) {
                free(msg);
                rc = LP_ENOMEM;
                goto fail;
            }
            rep->diags[rep->diag_count].severity = (int32_t)sev;
            rep->diags[rep->diag_count].code = (int32_t)code;
            rep->diags[rep->diag_count++].message = msg;
        } else if (is_kind(&r, "loss", 7)) {
            if (!rep->has_entry) {
                rc = bad(&r, "a 'loss' record before the 'entry' record");
                goto fail;
            }
            if (rep->loss_count >= LP__MAX_LOSSES) {
                rc = bad(&r, "more than %d losses", LP__MAX_LOSSES);
                goto fail;
            }
            if (lp__grow((void **)&rep->losses, &cap_l, rep->loss_count + 1,
                         sizeof rep->losses[0]) != LP_OK) {
                rc = LP_ENOMEM;
                goto fail;
            }
            lp__desc_copy *c = &rep->losses[rep->loss_count++];
            if ((rc = read_loss(&r, rep->abi_minor, c)) != LP_OK)
                goto fail;
        } else if (is_kind(&r, "end", 2)) {
            int64_t n;
            if ((rc = num(&r, 1, 0, LP__MAX_LOSSES, &n)) != LP_OK)
                goto fail;
            if ((size_t)n != rep->loss_count) {
                rc = bad(&r, "'end' counts %" PRId64 " losses, the report has %zu", n,
                         rep->loss_count);
                goto fail;
            }
            if (r.p != r.end) {
                r.line++;
                rc = bad(&r, "text after the 'end' record");
                goto fail;
            }
            break;
        } else {
            rc = bad(&r, "unknown record '%.20s' or a wrong number of fields (%zu)", r.f[0], r.nf);
            goto fail;
        }
    }
    free(r.buf);
    return LP_OK;
fail:
    free(r.buf);
    lp__report_free(rep);
    return rc == LP_ENOMEM ? LP_ENOMEM : LP_EPLUGIN;
}

/* ---- copies ------------------------------------------------------------------------ */

/* A copy of `s` owned by `c` (NULL stays NULL). 0, or -1 out of memory. */
static int own_text(lp__desc_copy *c, const char **s) {
    if (*s == NULL)
        return 0;
    char *t = lp__strdup(*s);
    if (t == NULL || lp__grow((void **)&c->owned, &c->owned_cap, c->owned_count + 1,
                              sizeof c->owned[0]) != LP_OK) {
        free(t);
        return -1;
    }
    c->owned[c->owned_count++] = t;
    *s = t;
    return 0;
}

/* A NULL-terminated list owned by `c`, texts included. */
static int own_list(lp__desc_copy *c, const char *const **list) {
    if (*list == NULL)
        return 0;
    size_t n = 0;
    while ((*list)[n] != NULL)
        n++;
    const char **copy = calloc(n + 1, sizeof *copy);
    if (copy == NULL || lp__grow((void **)&c->owned, &c->owned_cap, c->owned_count + 1,
                                 sizeof c->owned[0]) != LP_OK) {
        free(copy);
        return -1;
    }
    c->owned[c->owned_count++] = (void *)copy;
    for (size_t i = 0; i < n; i++) {
        copy[i] = (*list)[i];
        if (own_text(c, &copy[i]) != 0)
            return -1;
    }
    *list = copy;
    return 0;
}

int32_t lp__desc_copy_dup(const lp__desc_copy *src, lp__desc_copy *dst) {
    uint32_t np = src->desc.param_count, nf = src->desc.field_count;
    memset(dst, 0, sizeof *dst);
    dst->desc = src->desc;
    if (np > 0 && (dst->params = calloc(np, sizeof *dst->params)) == NULL)
        goto oom;
    if (nf > 0 && (dst->fields = calloc(nf, sizeof *dst->fields)) == NULL)
        goto oom;
    if (np > 0)
        memcpy(dst->params, src->desc.params, np * sizeof *dst->params);
    if (nf > 0)
        memcpy(dst->fields, src->desc.fields, nf * sizeof *dst->fields);
    dst->desc.params = dst->params;
    dst->desc.fields = dst->fields;
    if (own_text(dst, &dst->desc.id) != 0 || own_text(dst, &dst->desc.version) != 0 ||
        own_text(dst, &dst->desc.summary) != 0 || own_list(dst, &dst->desc.outputs) != 0)
        goto oom;
    for (uint32_t i = 0; i < np; i++) {
        lp_param_spec *p = &dst->params[i];
        if (own_text(dst, &p->name) != 0 || own_text(dst, &p->doc) != 0 ||
            own_text(dst, &p->default_string) != 0 || own_list(dst, &p->choices) != 0)
            goto oom;
    }
    for (uint32_t i = 0; i < nf; i++)
        if (own_text(dst, &dst->fields[i].name) != 0 || own_text(dst, &dst->fields[i].doc) != 0)
            goto oom;
    return LP_OK;
oom:
    lp__desc_copy_free(dst);
    return LP_ENOMEM;
}
