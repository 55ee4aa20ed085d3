/* Internal: the one converter from a config scalar to a typed value, shared
 * by a loss's params (params.c, against its plugin's lp_param_spec) and a
 * program's sections (public.c, lossplug/config.h, against lp_config_key,
 * which wraps the same spec). Messages are "FILE:LINE:COLUMN: what; how to
 * fix" through lp__cfgerr. */
#ifndef LP_CONFIG_READ_H
#define LP_CONFIG_READ_H

#include "util/message.h"

#include <lossplug/host.h>

#include <stddef.h>
#include <stdint.h>

/* The one wording difference between the two: an int out of range says
 * "use a value in [a, b]" in a loss's params (docs/config.md) and "use an
 * integer in [a, b]" in a section (as lossplug's own, buffer.segments). */
typedef enum lp__read_style {
    LP__READ_PARAM = 0,
    LP__READ_SECTION = 1,
} lp__read_style;

/* Convert the scalar `text` (`len` bytes, `quoted` unless it was plain) at
 * `pos` into `v` by `s` (type, bounds, choices), naming it `where`.
 * `hint` (may be NULL) replaces the generic "how to fix" of a refused enum
 * value. Strings and enums point `v->s` at `text`, which must be
 * NUL-terminated and outlive `v`. */
int32_t lp__read_scalar(const lp_param_spec *s, const char *text, size_t len, int quoted,
                        lp__pos pos, const char *where, lp__read_style style, const char *hint,
                        lp_value *v, lp_error *err);

/* Whether `v` is within the bounds of `s` (its HAS_/EXCLUSIVE flags). */
int lp__spec_in_range(const lp_param_spec *s, double v);

/* "WHERE = TEXT is out of range; use a value in [a, b]" (or ">= a", ...). */
int32_t lp__spec_out_of_range(const lp_param_spec *s, lp__pos pos, const char *where,
                              const char *text, lp__read_style style, lp_error *err);

/* A bound as a person wrote it: ints as integers, floats in the shortest
 * form that reads back to the same double. */
void lp__spec_fmt_bound(char *buf, size_t n, int32_t type, double v);

/* "a float", "an int", "a bool", "a string", "an enum". */
const char *lp__spec_type_name(int32_t type);

/* The default of `s` into `v`. */
void lp__spec_default(const lp_param_spec *s, lp_value *v);

#endif
