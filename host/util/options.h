/* Internal: the one rule for caller structs (libgit2's options version
 * check, written once). Every public struct a caller fills starts with
 * `uint32_t struct_size`. A reader accepts any struct_size from the struct's
 * oldest (1.0) layout up: an older caller gets the defaults for what it does
 * not know, a newer caller's larger struct is read up to what this library
 * knows and the rest is ignored. */
#ifndef LP_UTIL_OPTIONS_H
#define LP_UTIL_OPTIONS_H

#include <lossplug/host.h>

#include <stddef.h>
#include <stdint.h>

/* Size of `type` through `member`: the oldest layout a caller may pass
 * (name that layout's last member). */
#define LP__SIZE_THROUGH(type, member) (offsetof(type, member) + sizeof(((const type *)0)->member))

/* The start of every *_options_init: 0 when `opt` is NULL (nothing to
 * fill), else the struct zeroed, its struct_size set to `size` (this
 * library's layout, `sizeof *opt`) and 1. The init then sets the defaults
 * that are not zero. */
int lp__opts_reset(void *opt, size_t size);

/* Copy the caller's struct `src` into `dst` (dst_size bytes, already filled
 * by the matching *_init with this library's defaults). `src` may be NULL
 * (the defaults stay), older than dst (its prefix is copied) or newer (what
 * dst knows is copied). dst's struct_size is left at dst_size. LP_EINVAL
 * with `err` naming `fn`, `what` and `init` when src's struct_size is below
 * `oldest_size`. */
int32_t lp__opts_copy(void *dst, size_t dst_size, const void *src, size_t oldest_size,
                      const char *fn, const char *what, const char *init, lp_error *err);

/* The same for options a function requires: NULL `src` is LP_EINVAL with
 * `err` naming `fn` and `init` ("options are NULL: fill them with ..."). */
int32_t lp__opts_take(void *dst, size_t dst_size, const void *src, size_t oldest_size,
                      const char *fn, const char *init, lp_error *err);

#endif
