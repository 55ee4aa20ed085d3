/* example_env.h: what the example environments (cartpole, pendulum,
 * gridpick) share for their lp_env `open` callbacks: errors at a config
 * entry as "FILE:LINE:COLUMN: message" (as the host's config errors) and
 * strict integer and number entries; and a small seedable generator. */
#ifndef EXAMPLE_ENV_H
#define EXAMPLE_ENV_H

#include <lossplug/host.h>

#include <stdint.h>

/* Fill err (LP_ECONFIG) with "FILE:LINE:COLUMN: " and the message, at
 * entry `e` (NULL: at the section's key). Returns LP_ECONFIG. */
int32_t example_entry_error(lp_error *err, const lp_env_setup *s, const lp_config_entry *e,
                            const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* An unquoted integer in [min, max], or an error naming section.key. */
int32_t example_entry_int(lp_error *err, const lp_env_setup *s, const lp_config_entry *e,
                          long long min, long long max, long long *out);

/* An unquoted finite number in [min, max], or an error naming section.key. */
int32_t example_entry_float(lp_error *err, const lp_env_setup *s, const lp_config_entry *e,
                            double min, double max, float *out);

/* splitmix64: the next value of the stream whose state is *x. */
uint64_t example_splitmix64(uint64_t *x);

#endif
