/* Validation of what a plugin hands over (the entry, its descriptors and
 * their parameter and field specs), and copying it into storage of this
 * host's size, zeroed beyond what the plugin wrote: an older plugin's shorter
 * struct reads as "field absent", a newer plugin's extra fields are not read.
 * Validation always works on the copies, so no field beyond a plugin's
 * struct_size is ever touched. */
#include "loader/internal.h"
#include "loader/specs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LP__ENTRY_V1 LP__V1_SIZE(lp_entry, loss_get)
#define LP__DESC_V1  LP__V1_SIZE(lp_loss_desc, create)
#define LP__PARAM_V1 LP__V1_SIZE(lp_param_spec, choices)
#define LP__FIELD_V1 LP__V1_SIZE(lp_field_spec, shape)

/* The entry's version fields sit at the same offsets in every major. */
#define LP__ENTRY_VERSION_END LP__V1_SIZE(lp_entry, abi_minor)

#define LP__REBUILD "rebuild the plugin against the lossplug SDK"

static size_t lp__min_size(size_t a, size_t b) {
    return a < b ? a : b;
}

static int lp__one_line_text(const char *s) {
    return strchr(s, '\n') == NULL;
}

int32_t lp__entry_copy(const lp_entry *raw, lp_entry *out, int *newer_minor, char *why,
                       size_t why_len) {
    memset(out, 0, sizeof *out);
    *newer_minor = 0;
    if (raw->struct_size < LP__ENTRY_VERSION_END) {
        snprintf(why, why_len,
                 "lp_entry.struct_size is %u, smaller than the ABI %d.0 size %zu: " LP__REBUILD,
                 (unsigned)raw->struct_size, LP_ABI_MAJOR, (size_t)LP__ENTRY_V1);
        return LP_EABI;
    }
    if (!lp_abi_compatible(raw->abi_major)) {
        snprintf(why, why_len,
                 "built for plugin ABI %u.%u, but this host speaks ABI %d.%d and the major "
                 "versions must match: rebuild the plugin against the lossplug %d.x SDK",
                 (unsigned)raw->abi_major, (unsigned)raw->abi_minor, LP_ABI_MAJOR, LP_ABI_MINOR,
                 LP_ABI_MAJOR);
        return LP_EABI;
    }
    if (raw->struct_size < LP__ENTRY_V1) {
        snprintf(why, why_len,
                 "lp_entry.struct_size is %u, smaller than the ABI %d.0 size %zu: " LP__REBUILD,
                 (unsigned)raw->struct_size, LP_ABI_MAJOR, (size_t)LP__ENTRY_V1);
        return LP_EABI;
    }
    memcpy(out, raw, lp__min_size(raw->struct_size, sizeof *out));
    out->struct_size = sizeof *out;
    if (out->loss_count == NULL || out->loss_get == NULL) {
        snprintf(why, why_len, "lp_entry.%s is NULL: set it (LP_PLUGIN_ENTRY does)",
                 out->loss_count == NULL ? "loss_count" : "loss_get");
        return LP_EPLUGIN;
    }
    *newer_minor = out->abi_minor > LP_ABI_MINOR;
    return LP_OK;
}

/* ---- arrays of specs ------------------------------------------------------ */

/* Check the struct_size of every element of a plugin's spec array (stride =
 * the first element's struct_size) and copy the array into `count` zeroed
 * host-sized elements at *out. `kind` names the struct in messages. */
static int32_t lp__array_copy(const void *raw, uint32_t count, size_t host_size, size_t v1_size,
                              size_t align, const char *kind, void **out, char *why,
                              size_t why_len) {
    const unsigned char *base = raw;
    uint32_t stride;
    memcpy(&stride, base, sizeof stride);
    *out = NULL;
    if (stride < v1_size) {
        snprintf(why, why_len,
                 "%s[0].struct_size is %u, smaller than the ABI %d.0 size %zu: " LP__REBUILD, kind,
                 (unsigned)stride, LP_ABI_MAJOR, v1_size);
        return LP_EABI;
    }
    if (stride > LP__MAX_STRIDE) {
        snprintf(why, why_len,
                 "%s[0].struct_size is %u, larger than any layout (at most %d): set it with "
                 "sizeof(%s)",
                 kind, (unsigned)stride, LP__MAX_STRIDE, kind);
        return LP_EABI;
    }
    if (stride % align != 0) {
        snprintf(why, why_len,
                 "%s[0].struct_size is %u, not a multiple of %zu: set it with sizeof(%s)", kind,
                 (unsigned)stride, align, kind);
        return LP_EABI;
    }
    for (uint32_t i = 1; i < count; i++) {
        uint32_t size;
        memcpy(&size, base + (size_t)i * stride, sizeof size);
        if (size != stride) {
            snprintf(why, why_len,
                     "%s[%u].struct_size is %u but %s[0].struct_size is %u: every element of one "
                     "array must have the same size",
                     kind, (unsigned)i, (unsigned)size, kind, (unsigned)stride);
            return LP_EABI;
        }
    }
    unsigned char *copy = calloc(count, host_size);
    if (copy == NULL)
        return LP_ENOMEM;
    size_t n = lp__min_size(stride, host_size);
    for (uint32_t i = 0; i < count; i++) {
        memcpy(copy + (size_t)i * host_size, base + (size_t)i * stride, n);
        uint32_t hs = (uint32_t)host_size;
        memcpy(copy + (size_t)i * host_size, &hs, sizeof hs);
    }
    *out = copy;
    return LP_OK;
}

/* ---- parameters ------------------------------------------------------------ */

/* Check min/max/default of a numeric parameter. */
static int lp__param_range_ok(const lp_param_spec *p, double def, int check_def, char *why,
                              size_t why_len) {
    int has_min = (p->flags & LP_PARAM_HAS_MIN) != 0;
    int has_max = (p->flags & LP_PARAM_HAS_MAX) != 0;
    if ((has_min && isnan(p->min)) || (has_max && isnan(p->max))) {
        snprintf(why, why_len, "min or max is NaN");
        return 0;
    }
    int min_ex = (p->flags & LP_PARAM_MIN_EXCLUSIVE) != 0;
    int max_ex = (p->flags & LP_PARAM_MAX_EXCLUSIVE) != 0;
    if ((min_ex && !has_min) || (max_ex && !has_max)) {
        snprintf(why, why_len, "LP_PARAM_%s_EXCLUSIVE without LP_PARAM_HAS_%s: set both or neither",
                 min_ex && !has_min ? "MIN" : "MAX", min_ex && !has_min ? "MIN" : "MAX");
        return 0;
    }
    if (has_min && has_max && p->min > p->max) {
        snprintf(why, why_len, "min %g is above max %g", p->min, p->max);
        return 0;
    }
    if (has_min && has_max && p->min == p->max && (min_ex || max_ex)) {
        snprintf(why, why_len, "min and max are both %g and one is exclusive: no value is allowed",
                 p->min);
        return 0;
    }
    if (!check_def)
        return 1;
    if (!isfinite(def)) {
        snprintf(why, why_len, "default %g is not a finite number", def);
        return 0;
    }
    if ((has_min && (min_ex ? def <= p->min : def < p->min)) ||
        (has_max && (max_ex ? def >= p->max : def > p->max))) {
        char lo[32] = "-inf", hi[32] = "inf";
        if (has_min)
            snprintf(lo, sizeof lo, "%g", p->min);
        if (has_max)
            snprintf(hi, sizeof hi, "%g", p->max);
        snprintf(why, why_len, "default %g is outside its range %c%s, %s%c", def,
                 has_min && !min_ex ? '[' : '(', lo, hi, has_max && !max_ex ? ']' : ')');
        return 0;
    }
    return 1;
}

/* Check an enum's choices and its default. */
static int lp__param_enum_ok(const lp_param_spec *p, int check_def, char *why, size_t why_len) {
    if (p->choices == NULL || p->choices[0] == NULL) {
        snprintf(why, why_len, "enum has no choices: set .choices to a NULL-terminated list");
        return 0;
    }
    size_t n = 0;
    for (; p->choices[n] != NULL; n++) {
        if (n >= LP__MAX_LIST) {
            snprintf(why, why_len, "enum has more than %d choices (is .choices NULL-terminated?)",
                     LP__MAX_LIST);
            return 0;
        }
        if (p->choices[n][0] == '\0' || !lp__one_line_text(p->choices[n])) {
            snprintf(why, why_len, "choice #%zu is empty or spans lines", n);
            return 0;
        }
        for (size_t k = 0; k < n; k++) {
            if (strcmp(p->choices[k], p->choices[n]) == 0) {
                snprintf(why, why_len, "choice '%s' is listed twice", p->choices[n]);
                return 0;
            }
        }
    }
    if (!check_def && p->default_string == NULL)
        return 1;
    if (p->default_string == NULL) {
        snprintf(why, why_len, "enum default is NULL: set it to one of the choices");
        return 0;
    }
    for (size_t k = 0; k < n; k++) {
        if (strcmp(p->choices[k], p->default_string) == 0)
            return 1;
    }
    snprintf(why, why_len, "enum default '%s' is not one of its choices", p->default_string);
    return 0;
}

/* One parameter, already copied. On failure `why` holds the reason alone. */
static int lp__param_ok(const lp_param_spec *p, char *why, size_t why_len) {
    int check_def = (p->flags & LP_PARAM_REQUIRED) == 0;
    if (p->doc == NULL || !lp__one_line_text(p->doc)) {
        snprintf(why, why_len, "doc is %s: give it a one-line doc",
                 p->doc == NULL ? "NULL" : "not one line");
        return 0;
    }
    switch (p->type) {
    case LP_PARAM_FLOAT:
        return lp__param_range_ok(p, p->default_float, check_def, why, why_len);
    case LP_PARAM_INT:
        return lp__param_range_ok(p, (double)p->default_int, check_def, why, why_len);
    case LP_PARAM_BOOL:
        if (check_def && p->default_bool != 0 && p->default_bool != 1) {
            snprintf(why, why_len, "bool default is %d, not 0 or 1", (int)p->default_bool);
            return 0;
        }
        return 1;
    case LP_PARAM_STRING:
        if (check_def && p->default_string == NULL) {
            snprintf(why, why_len,
                     "string default is NULL: set one, or flag the parameter LP_PARAM_REQUIRED");
            return 0;
        }
        return 1;
    case LP_PARAM_ENUM:
        return lp__param_enum_ok(p, check_def, why, why_len);
    default:
        snprintf(why, why_len, "unknown type %d (expected LP_PARAM_FLOAT .. LP_PARAM_ENUM)",
                 (int)p->type);
        return 0;
    }
}

static int32_t lp__params_check(const lp_param_spec *params, uint32_t count, char *why,
                                size_t why_len) {
    char reason[512];
    for (uint32_t i = 0; i < count; i++) {
        const lp_param_spec *p = &params[i];
        if (!lp__valid_name(p->name)) {
            snprintf(
                why, why_len,
                "parameter #%u: name %s%.80s%s is invalid: names match [a-z][a-z0-9_]* and have "
                "at most %d characters",
                (unsigned)i, p->name ? "'" : "", p->name ? p->name : "NULL", p->name ? "'" : "",
                LP__ID_MAX);
            return LP_EPLUGIN;
        }
        for (uint32_t k = 0; k < i; k++) {
            if (strcmp(params[k].name, p->name) == 0) {
                snprintf(why, why_len, "parameter '%s' is declared twice (#%u and #%u)", p->name,
                         (unsigned)k, (unsigned)i);
                return LP_EPLUGIN;
            }
        }
        if (!lp__param_ok(p, reason, sizeof reason)) {
            const char *type = lp_param_type_name(p->type);
            int known = strcmp(type, "?") != 0;
            snprintf(why, why_len, "parameter '%s'%s%s%s: %s", p->name, known ? " (" : "",
                     known ? type : "", known ? ")" : "", reason);
            return LP_EPLUGIN;
        }
    }
    return LP_OK;
}

/* ---- fields ------------------------------------------------------------------ */

static int32_t lp__fields_check(const lp_field_spec *fields, uint32_t count, uint32_t minor,
                                char *why, size_t why_len) {
    for (uint32_t i = 0; i < count; i++) {
        const lp_field_spec *f = &fields[i];
        if (!lp__valid_name(f->name)) {
            snprintf(
                why, why_len,
                "field #%u: name %s%.80s%s is invalid: names match [a-z][a-z0-9_]* and have at "
                "most %d characters",
                (unsigned)i, f->name ? "'" : "", f->name ? f->name : "NULL", f->name ? "'" : "",
                LP__ID_MAX);
            return LP_EPLUGIN;
        }
        for (uint32_t k = 0; k < i; k++) {
            if (strcmp(fields[k].name, f->name) == 0) {
                snprintf(why, why_len, "field '%s' is declared twice (#%u and #%u)", f->name,
                         (unsigned)k, (unsigned)i);
                return LP_EPLUGIN;
            }
        }
        if (f->doc == NULL || !lp__one_line_text(f->doc)) {
            snprintf(why, why_len, "field '%s': doc is %s: give it a one-line doc", f->name,
                     f->doc == NULL ? "NULL" : "not one line");
            return LP_EPLUGIN;
        }
        if (lp_dtype_size(f->dtype) == 0) {
            snprintf(why, why_len, "field '%s': unknown dtype %d (expected LP_DTYPE_F32 .. U8)",
                     f->name, (int)f->dtype);
            return LP_EPLUGIN;
        }
        if ((f->access & ~(uint32_t)(LP_FIELD_READ | LP_FIELD_WRITE | LP_FIELD_OPTIONAL |
                                     LP_FIELD_UPDATE)) != 0) {
            snprintf(why, why_len, "field '%s': access 0x%x has unknown flags", f->name,
                     (unsigned)f->access);
            return LP_EPLUGIN;
        }
        if ((f->access & LP_FIELD_UPDATE) && minor < 1) {
            snprintf(why, why_len,
                     "field '%s': LP_FIELD_UPDATE was added in ABI 1.1, but the plugin says it "
                     "was built against ABI 1.%u: rebuild it against lossplug/abi.h 1.1",
                     f->name, (unsigned)minor);
            return LP_EPLUGIN;
        }
        if ((f->access & LP_FIELD_UPDATE) && f->access != LP_FIELD_UPDATE) {
            snprintf(why, why_len,
                     "field '%s': LP_FIELD_UPDATE is combined with READ, WRITE or OPTIONAL; an "
                     "update already reads and writes: declare LP_FIELD_UPDATE alone",
                     f->name);
            return LP_EPLUGIN;
        }
        if ((f->access & (LP_FIELD_READ | LP_FIELD_WRITE | LP_FIELD_UPDATE)) == 0) {
            snprintf(why, why_len,
                     "field '%s': access has none of LP_FIELD_READ, LP_FIELD_WRITE, "
                     "LP_FIELD_UPDATE",
                     f->name);
            return LP_EPLUGIN;
        }
        if ((f->phase & (LP_PHASE_ROLLOUT | LP_PHASE_TRAIN)) == 0) {
            snprintf(why, why_len,
                     "field '%s': phase has neither LP_PHASE_ROLLOUT nor LP_PHASE_TRAIN", f->name);
            return LP_EPLUGIN;
        }
        if ((f->phase & ~(uint32_t)(LP_PHASE_ROLLOUT | LP_PHASE_TRAIN)) != 0) {
            snprintf(why, why_len,
                     "field '%s': phase 0x%x has flags other than LP_PHASE_ROLLOUT and "
                     "LP_PHASE_TRAIN",
                     f->name, (unsigned)f->phase);
            return LP_EPLUGIN;
        }
        if (f->rank < 0 || f->rank > LP_MAX_RANK) {
            snprintf(why, why_len, "field '%s': rank %d is outside 0..%d", f->name, (int)f->rank,
                     LP_MAX_RANK);
            return LP_EPLUGIN;
        }
        for (int32_t d = 0; d < f->rank; d++) {
            int64_t dim = f->shape[d];
            if (dim > 0 || dim == LP_DIM_OBS || dim == LP_DIM_ACTION || dim == LP_DIM_NUM_ACTIONS ||
                dim == LP_DIM_POLICY)
                continue;
            if (dim == 0)
                snprintf(why, why_len, "field '%s': dimension %d is 0 (sizes must be > 0)", f->name,
                         (int)d);
            else
                snprintf(why, why_len,
                         "field '%s': dimension %d is %lld, not a size > 0 nor LP_DIM_OBS, "
                         "LP_DIM_ACTION, LP_DIM_NUM_ACTIONS or LP_DIM_POLICY",
                         f->name, (int)d, (long long)dim);
            return LP_EPLUGIN;
        }
    }
    return LP_OK;
}

int32_t lp__field_specs_copy(const lp_field_spec *raw, uint32_t count, uint32_t minor,
                             lp_field_spec **out, char *why, size_t why_len) {
    void *copy = NULL;
    *out = NULL;
    int32_t rc = lp__array_copy(raw, count, sizeof(lp_field_spec), LP__FIELD_V1,
                                _Alignof(lp_field_spec), "lp_field_spec", &copy, why, why_len);
    if (rc == LP_ENOMEM)
        snprintf(why, why_len, "out of memory copying %u field specs", (unsigned)count);
    if (rc == LP_OK)
        rc = lp__fields_check(copy, count, minor, why, why_len);
    if (rc != LP_OK) {
        free(copy);
        return rc;
    }
    *out = copy;
    return LP_OK;
}

/* ---- descriptors --------------------------------------------------------------- */

static int32_t lp__desc_check(const lp_loss_desc *d, int need_create, char *why, size_t why_len) {
    const char *missing = d->id == NULL        ? "id"
                          : d->version == NULL ? "version"
                          : d->summary == NULL ? "summary"
                                               : NULL;
    if (missing != NULL) {
        snprintf(why, why_len, "descriptor field '%s' is NULL: set it in the lp_loss_desc",
                 missing);
        return LP_EPLUGIN;
    }
    if ((d->params == NULL && d->param_count > 0) || (d->fields == NULL && d->field_count > 0)) {
        int p = d->params == NULL && d->param_count > 0;
        snprintf(why, why_len,
                 "descriptor field '%s' is NULL while %s is %u: set it (LP_DESC_%s does)",
                 p ? "params" : "fields", p ? "param_count" : "field_count",
                 (unsigned)(p ? d->param_count : d->field_count), p ? "PARAMS" : "FIELDS");
        return LP_EPLUGIN;
    }
    if (!lp__valid_name(d->id)) {
        snprintf(why, why_len,
                 "id '%.80s%s' is invalid: ids match [a-z][a-z0-9_]* and have at most %d "
                 "characters",
                 d->id, strlen(d->id) > 80 ? "..." : "", LP__ID_MAX);
        return LP_EPLUGIN;
    }
    if (d->version[0] == '\0' || !lp__one_line_text(d->version) || !lp__one_line_text(d->summary)) {
        snprintf(why, why_len, "%s is empty or spans lines: give it one line",
                 d->version[0] == '\0' || !lp__one_line_text(d->version) ? "version" : "summary");
        return LP_EPLUGIN;
    }
    if (d->create == NULL && need_create) {
        snprintf(why, why_len, "create is NULL: every loss needs a create function");
        return LP_EPLUGIN;
    }
    if (d->param_count > LP__MAX_SPECS || d->field_count > LP__MAX_SPECS) {
        snprintf(why, why_len, "%s_count is above %d",
                 d->param_count > LP__MAX_SPECS ? "param" : "field", LP__MAX_SPECS);
        return LP_EPLUGIN;
    }
    if (d->outputs != NULL) {
        for (size_t i = 0; d->outputs[i] != NULL; i++) {
            if (i >= LP__MAX_LIST) {
                snprintf(why, why_len, "more than %d outputs (is .outputs NULL-terminated?)",
                         LP__MAX_LIST);
                return LP_EPLUGIN;
            }
            if (!lp__valid_name(d->outputs[i])) {
                snprintf(why, why_len, "output #%zu '%.80s' is not a valid name ([a-z][a-z0-9_]*)",
                         i, d->outputs[i]);
                return LP_EPLUGIN;
            }
        }
    }
    return LP_OK;
}

int32_t lp__desc_copy_make(const lp_loss_desc *raw, uint32_t minor, lp__desc_copy *out, char *why,
                           size_t why_len) {
    int32_t rc;
    memset(out, 0, sizeof *out);
    if (raw->struct_size < LP__DESC_V1) {
        snprintf(why, why_len,
                 "lp_loss_desc.struct_size is %u, smaller than the ABI %d.0 size %zu: " LP__REBUILD,
                 (unsigned)raw->struct_size, LP_ABI_MAJOR, (size_t)LP__DESC_V1);
        return LP_EABI;
    }
    memcpy(&out->desc, raw, lp__min_size(raw->struct_size, sizeof out->desc));
    out->desc.struct_size = sizeof out->desc;
    rc = lp__desc_check(&out->desc, 1, why, why_len);
    if (rc != LP_OK)
        goto fail;

    if (out->desc.param_count > 0) {
        void *copy;
        rc = lp__array_copy(out->desc.params, out->desc.param_count, sizeof(lp_param_spec),
                            LP__PARAM_V1, _Alignof(lp_param_spec), "lp_param_spec", &copy, why,
                            why_len);
        if (rc != LP_OK)
            goto fail;
        out->params = copy;
        /* The exclusive-bound bits were added in 1.1. A 1.0 plugin that sets
         * them set bits 1.0 gave no meaning (its host checked inclusively and
         * loaded it): they are ignored, so that it loads and behaves as
         * before. */
        if (minor < 1)
            for (uint32_t i = 0; i < out->desc.param_count; i++)
                out->params[i].flags &=
                    ~(uint32_t)(LP_PARAM_MIN_EXCLUSIVE | LP_PARAM_MAX_EXCLUSIVE);
        rc = lp__params_check(out->params, out->desc.param_count, why, why_len);
        if (rc != LP_OK)
            goto fail;
    }
    if (out->desc.field_count > 0) {
        rc = lp__field_specs_copy(out->desc.fields, out->desc.field_count, minor, &out->fields, why,
                                  why_len);
        if (rc != LP_OK)
            goto fail;
    }
    out->desc.params = out->params;
    out->desc.fields = out->fields;
    return LP_OK;
fail:
    lp__desc_copy_free(out);
    return rc;
}

int32_t lp__desc_copy_check(const lp__desc_copy *c, uint32_t minor, char *why, size_t why_len) {
    int32_t rc = lp__desc_check(&c->desc, 0, why, why_len);
    if (rc == LP_OK && minor < 1)
        for (uint32_t i = 0; i < c->desc.param_count; i++)
            if (c->desc.params[i].flags & (LP_PARAM_MIN_EXCLUSIVE | LP_PARAM_MAX_EXCLUSIVE)) {
                snprintf(why, why_len,
                         "parameter '%s': exclusive bounds (ABI 1.1) from an ABI 1.%u plugin",
                         c->desc.params[i].name != NULL ? c->desc.params[i].name : "?",
                         (unsigned)minor);
                return LP_EPLUGIN;
            }
    if (rc == LP_OK)
        rc = lp__params_check(c->desc.params, c->desc.param_count, why, why_len);
    if (rc == LP_OK)
        rc = lp__fields_check(c->desc.fields, c->desc.field_count, minor, why, why_len);
    return rc;
}

void lp__desc_copy_free(lp__desc_copy *c) {
    for (size_t i = 0; i < c->owned_count; i++)
        free(c->owned[i]);
    free(c->owned);
    free(c->params);
    free(c->fields);
    memset(c, 0, sizeof *c);
}
