/* Internal: messages about a place in a file (configs), "FILE:LINE:COLUMN:
 * what; how to fix", and the text helpers they use. In the utility layer,
 * not the config module: liblossplug-train words its own config errors
 * with them without carrying the config module. */
#ifndef LP_UTIL_MESSAGE_H
#define LP_UTIL_MESSAGE_H

#include <lossplug/host.h>

#include <stddef.h>
#include <stdint.h>

/* A place in a file: 1-based line and column (in characters). line 0 means
 * "not in the file". `file` is borrowed. */
typedef struct lp__pos {
    const char *file;
    uint32_t line;
    uint32_t col;
} lp__pos;

/* Where a `key: value` pair is. Both zero when the key is absent. */
typedef struct lp__kvpos {
    lp__pos key;
    lp__pos value;
} lp__kvpos;

/* Set `err` to LP_ECONFIG and "FILE:LINE:COLUMN: " followed by the message;
 * returns LP_ECONFIG. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int32_t
lp__cfgerr(lp_error *err, lp__pos pos, const char *fmt, ...);

/* snprintf for the dotted paths in messages ("losses.a.params.x"): names
 * are short, and a path that does not fit is cut, on purpose. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void lp__strf(char *dst, size_t cap, const char *fmt, ...);

/* Size of a buffer that holds any lp__quote result. */
#define LP__QUOTE_MAX 72

/* Write `len` bytes of user text into `out` (LP__QUOTE_MAX bytes) fit for a
 * one-line message: control bytes, quotes and backslashes escaped, long
 * text cut with "...". Returns `out`. */
const char *lp__quote(char out[LP__QUOTE_MAX], const char *s, size_t len);

/* A bounded string builder: appends are cut (ending in "...") once full. */
typedef struct lp__sbuf {
    char buf[640];
    size_t len;
    int full;
} lp__sbuf;

void lp__sbuf_init(lp__sbuf *sb);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void lp__sbuf_addf(lp__sbuf *sb, const char *fmt, ...);

#endif
