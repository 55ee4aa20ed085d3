/* Entry names: 1..255 bytes of well-formed UTF-8 without control characters,
 * so that every name can be printed in a message or a listing as it is. */
#include "state/ckpt_internal.h"

/* Length of the UTF-8 sequence starting at p[0] (at most `avail` bytes), or 0
 * when it is malformed: a stray continuation byte, a truncated sequence, an
 * overlong form, a UTF-16 surrogate or a code point above U+10FFFF. */
static size_t utf8_seq(const unsigned char *p, size_t avail) {
    unsigned char c = p[0];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1Fu;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0Fu;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07u;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n > avail)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0u) != 0x80u)
            return 0;
        cp = cp << 6 | (p[i] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFFu || (cp >= 0xD800u && cp <= 0xDFFFu))
        return 0;
    return n;
}

int lp__ckpt_name_check(const char *name, size_t len, const char **why) {
    const unsigned char *p = (const unsigned char *)name;
    if (name == NULL) {
        *why = "the name is NULL";
        return -1;
    }
    if (len == 0) {
        *why = "the name is empty";
        return -1;
    }
    if (len > LP__CKPT_NAME_MAX) {
        *why = "the name is longer than 255 bytes";
        return -1;
    }
    for (size_t i = 0; i < len;) {
        if (p[i] < 0x20 || p[i] == 0x7F) {
            *why = "the name contains a control character";
            return -1;
        }
        size_t n = utf8_seq(p + i, len - i);
        if (n == 0) {
            *why = "the name is not valid UTF-8";
            return -1;
        }
        i += n;
    }
    return 0;
}
