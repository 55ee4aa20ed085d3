/* Internal: the scalar literals a config understands, parsed strictly and
 * independently of the C locale. */
#ifndef LP_CONFIG_SCALAR_H
#define LP_CONFIG_SCALAR_H

#include <stddef.h>
#include <stdint.h>

typedef enum lp__lit {
    LP__LIT_OK = 0,
    LP__LIT_SYNTAX = 1, /* not a literal of that type */
    LP__LIT_RANGE = 2,  /* a literal of that type, but not representable */
} lp__lit;

/* Decimal integer: [-+]?[0-9]+ fitting in int64_t. */
lp__lit lp__parse_int(const char *s, size_t len, int64_t *out);

/* Decimal number: [-+]?(digits[.digits?]|.digits)([eE][-+]?digits)?, finite
 * as a double (an integer literal is a number too). */
lp__lit lp__parse_float(const char *s, size_t len, double *out);

/* "true" or "false" exactly. */
lp__lit lp__parse_bool(const char *s, size_t len, int32_t *out);

#endif
