/* Entry names: 1..255 bytes of well-formed UTF-8 without control characters,
 * so that every name can be printed in a message or a listing as it is; and
 * the check of a list of named views that a save writes or a restore fills
 * (lp__ckpt_items_check). */
#include "state/ckpt_internal.h"

#include "util/error.h"

#include <stdlib.h>

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

static int item_by_name(const void *a, const void *b) {
    return strcmp((*(const lp__ckpt_item *const *)a)->name,
                  (*(const lp__ckpt_item *const *)b)->name);
}

int32_t lp__ckpt_items_check(const char *what, const char *file, const char *noun,
                             const lp__ckpt_item *items, size_t count, const lp__ckpt_item **sorted,
                             lp_error *err) {
    for (size_t i = 0; i < count; i++) {
        const char *why;
        char vwhy[96];
        uint64_t nelem, nbytes;
        size_t len = items[i].name ? strnlen(items[i].name, LP__CKPT_NAME_MAX + 1) : 0;
        if (lp__ckpt_name_check(items[i].name, len, &why) != 0)
            return lp__error_set(err, LP_EINVAL, "%s '%s': %s %zu: %s", what, file, noun, i, why);
        if (lp__ckpt_view_check(&items[i].view, &nelem, &nbytes, vwhy, sizeof vwhy) != 0)
            return lp__error_set(err, LP_EINVAL, "%s '%s': %s %zu ('%s'): %s", what, file, noun, i,
                                 items[i].name, vwhy);
        sorted[i] = &items[i];
    }
    qsort(sorted, count, sizeof *sorted, item_by_name);
    for (size_t i = 1; i < count; i++) {
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
            size_t a = (size_t)(sorted[i - 1] - items), b = (size_t)(sorted[i] - items);
            return lp__error_set(err, LP_EINVAL, "%s '%s': %ss %zu and %zu are both named '%s'",
                                 what, file, noun, a < b ? a : b, a < b ? b : a, sorted[i]->name);
        }
    }
    return LP_OK;
}
