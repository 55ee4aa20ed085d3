/* The report of a restore: what was restored, missing, unexpected and
 * mismatched, with copies of every name so that it outlives both sides. */
#include "state/ckpt_report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void lp__ckpt_report_free(lp__ckpt_report *r) {
    if (r == NULL)
        return;
    free(r->restored);
    free(r->missing);
    free(r->unexpected);
    free(r->mismatched);
    free(r->storage_);
    free(r);
}

lp__ckpt_report *lp__ckpt_report_new(size_t restored, size_t missing, size_t unexpected,
                                     size_t mismatched, size_t name_bytes) {
    lp__ckpt_report *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->restored = calloc(restored ? restored : 1, sizeof *r->restored);
    r->missing = calloc(missing ? missing : 1, sizeof *r->missing);
    r->unexpected = calloc(unexpected ? unexpected : 1, sizeof *r->unexpected);
    r->mismatched = calloc(mismatched ? mismatched : 1, sizeof *r->mismatched);
    r->storage_ = malloc(name_bytes ? name_bytes : 1);
    if (!r->restored || !r->missing || !r->unexpected || !r->mismatched || !r->storage_) {
        lp__ckpt_report_free(r);
        return NULL;
    }
    return r;
}

const char *lp__ckpt_report_name(lp__ckpt_report *r, size_t *used, const char *name) {
    char *p = r->storage_ + *used;
    size_t n = strlen(name) + 1;
    memcpy(p, name, n);
    *used += n;
    return p;
}

/* A bounded string builder: appends until full, then remembers that it cut. */
typedef struct sbuf {
    char *p;
    size_t cap, len;
    int cut;
} sbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
add(sbuf *s, const char *fmt, ...) {
    va_list ap;
    int n;
    if (s->cut)
        return;
    va_start(ap, fmt);
    n = vsnprintf(s->p + s->len, s->cap - s->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= s->cap - s->len) {
        s->cut = 1;
        s->len = s->cap - 1;
    } else {
        s->len += (size_t)n;
    }
}

static void add_names(sbuf *s, const char *what, const char **names, size_t n) {
    if (n == 0)
        return;
    add(s, "; %zu %s: ", n, what);
    for (size_t i = 0; i < n; i++)
        add(s, i ? ", %s" : "%s", names[i]);
}

void lp__ckpt_report_describe(const lp__ckpt_report *r, const char *source, char *buf,
                              size_t size) {
    sbuf s = {buf, size, 0, 0};
    if (size == 0)
        return;
    buf[0] = '\0';
    add(&s, "checkpoint '%s' does not match the state to restore (strict: nothing was restored)",
        source);
    add_names(&s, "missing (wanted, not in the file)", r->missing, r->missing_count);
    add_names(&s, "unexpected (in the file, not wanted)", r->unexpected, r->unexpected_count);
    if (r->mismatched_count > 0)
        add(&s, "; %zu mismatched: ", r->mismatched_count);
    for (size_t i = 0; i < r->mismatched_count; i++) {
        const lp__ckpt_mismatch *m = &r->mismatched[i];
        char a[160], b[160];
        add(&s, "%s%s (file %s, wanted %s)", i ? ", " : "", m->name,
            lp__ckpt_format_type(a, sizeof a, m->file_dtype, m->file_rank, m->file_shape),
            lp__ckpt_format_type(b, sizeof b, m->target_dtype, m->target_rank, m->target_shape));
    }
    if (s.cut && size > 4)
        memcpy(buf + size - 4, "...", 4);
}
