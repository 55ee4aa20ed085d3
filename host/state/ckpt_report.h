/* Building and describing restore reports (ckpt_report.c); used by
 * ckpt_restore.c only. The report type itself is in checkpoint.h. */
#ifndef LP_STATE_CKPT_REPORT_H
#define LP_STATE_CKPT_REPORT_H

#include "state/ckpt_internal.h"

/* A report with room for the given counts and `name_bytes` of names
 * (each name's length + 1); counts are zero. NULL when out of memory. */
lp__ckpt_report *lp__ckpt_report_new(size_t restored, size_t missing, size_t unexpected,
                                     size_t mismatched, size_t name_bytes);

/* Copy `name` into the report's storage at *used (advanced); returns the
 * copy. The caller sized the storage. */
const char *lp__ckpt_report_name(lp__ckpt_report *r, size_t *used, const char *name);

/* One message listing every problem of `r` (for LP_ESTATE), cut with "..."
 * when it does not fit `size`. */
void lp__ckpt_report_describe(const lp__ckpt_report *r, const char *source, char *buf, size_t size);

#endif
