/* Internal: the one rule for names (plugin ids, loss names, param and field
 * names, stat keys): [a-z][a-z0-9_]*, at most LP__NAME_MAX bytes. */
#ifndef LP_UTIL_NAMES_H
#define LP_UTIL_NAMES_H

#include <stddef.h>

#define LP__NAME_MAX 63 /* longest id or name, in bytes */

/* True when the `len` bytes at `s` are a valid name. */
int lp__valid_name_n(const char *s, size_t len);

/* True when the string `s` (may be NULL: false) is a valid name. */
int lp__valid_name(const char *s);

#endif
