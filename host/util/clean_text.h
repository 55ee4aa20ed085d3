/* Internal: make text that came from a plugin, a config or a file safe to
 * print on one line of a terminal. No allocation. */
#ifndef LP_UTIL_CLEAN_TEXT_H
#define LP_UTIL_CLEAN_TEXT_H

#include <stddef.h>

/* The number of bytes at `s` that are safe to print as they are: 1 for a
 * printable ASCII byte, 2..4 for a well-formed UTF-8 sequence that is not a
 * C1 control (U+0080..U+009F, such as CSI U+009B), and 0 for a C0 control,
 * DEL, a C1 control or a byte that starts no valid UTF-8 sequence (each of
 * which a caller replaces, one byte at a time). Never reads past the
 * terminating NUL. */
int lp__safe_length(const char *s);

/* Replace in place every byte that lp__safe_length refuses by a space. */
void lp__clean_text(char *s);

#endif
