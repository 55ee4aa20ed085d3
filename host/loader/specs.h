/* Internal: the loader's checks of a plugin's field specs, for the session,
 * which gets a loss instance's field list from its `fields` hook at open
 * (the descriptor's list was checked when the plugin was loaded). One
 * validator for both, so both refuse the same specs with the same words. */
#ifndef LP_LOADER_SPECS_H
#define LP_LOADER_SPECS_H

#include <lossplug/abi.h>

#include <stddef.h>
#include <stdint.h>

/* Copy `count` specs (array stride raw[0].struct_size, at least the 1.0
 * size, the same for every element) into a malloc'd array of host-sized
 * specs at *out (the caller frees it; strings still point into the plugin)
 * and check each as the loader checks a descriptor's fields: name, unique,
 * one-line doc, dtype, access and phase flags (LP_FIELD_UPDATE only from an
 * ABI 1.`minor` >= 1 plugin, and alone), rank and dimensions. On failure
 * *out is NULL, `why` says what and how to fix, and the status is LP_EABI
 * (layout), LP_EPLUGIN (a spec) or LP_ENOMEM. */
int32_t lp__field_specs_copy(const lp_field_spec *raw, uint32_t count, uint32_t minor,
                             lp_field_spec **out, char *why, size_t why_len);

#endif
