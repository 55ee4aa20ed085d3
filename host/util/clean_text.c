/* Printable text: C0, DEL, C1 and malformed UTF-8 become spaces (see
 * clean_text.h). */
#include "util/clean_text.h"

int lp__safe_length(const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    unsigned c = s[0];
    if (c < 0x20 || c == 0x7f)
        return 0;
    if (c < 0x80)
        return 1;
    int n;
    unsigned cp, min;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    /* Stops at the first byte that is not a continuation, NUL included. */
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    if (cp >= 0x80 && cp <= 0x9f)
        return 0; /* C1 controls */
    return n;
}

void lp__clean_text(char *s) {
    while (*s != '\0') {
        int n = lp__safe_length(s);
        if (n == 0) {
            *s++ = ' ';
            continue;
        }
        s += n;
    }
}
