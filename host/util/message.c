#include "util/message.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int32_t lp__cfgerr(lp_error *err, lp__pos pos, const char *fmt, ...) {
    if (err == NULL)
        return LP_ECONFIG;
    err->code = LP_ECONFIG;
    int n = snprintf(err->message, sizeof err->message,
                     "%s:%u:%u: ", pos.file != NULL ? pos.file : "<config>", (unsigned)pos.line,
                     (unsigned)pos.col);
    if (n < 0 || (size_t)n >= sizeof err->message)
        return LP_ECONFIG;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message + n, sizeof err->message - (size_t)n, fmt, ap);
    va_end(ap);
    return LP_ECONFIG;
}

void lp__strf(char *dst, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

const char *lp__quote(char out[LP__QUOTE_MAX], const char *s, size_t len) {
    const size_t budget = LP__QUOTE_MAX - 5; /* room for "..." and NUL */
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[5];
        size_t n;
        if (c == '\\' || c == '\'') {
            esc[0] = '\\';
            esc[1] = (char)c;
            n = 2;
        } else if (c < 0x20 || c == 0x7f) {
            static const char hex[] = "0123456789abcdef";
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hex[c >> 4];
            esc[3] = hex[c & 15];
            n = 4;
        } else {
            esc[0] = (char)c;
            n = 1;
        }
        if (o + n > budget) {
            /* Do not leave half a UTF-8 sequence before the "...". */
            while (o > 0 && ((unsigned char)out[o - 1] & 0xc0) == 0x80)
                o--;
            if (o > 0 && (unsigned char)out[o - 1] >= 0xc0)
                o--;
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(out + o, esc, n);
        o += n;
    }
    out[o] = '\0';
    return out;
}

void lp__sbuf_init(lp__sbuf *sb) {
    sb->buf[0] = '\0';
    sb->len = 0;
    sb->full = 0;
}

void lp__sbuf_addf(lp__sbuf *sb, const char *fmt, ...) {
    if (sb->full)
        return;
    const size_t cap = sizeof sb->buf - 4; /* keep room for "..." */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(sb->buf + sb->len, cap - sb->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap - sb->len) {
        /* Cut at the last complete append and mark the list as incomplete. */
        sb->buf[sb->len] = '\0';
        memcpy(sb->buf + sb->len, "...", 4);
        sb->len += 3;
        sb->full = 1;
        return;
    }
    sb->len += (size_t)n;
}
