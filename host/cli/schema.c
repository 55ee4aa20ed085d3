/* Reading a loss descriptor's schema safely, and naming what it contains. */
#include "cli/cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Copy element `index` of a plugin array whose elements are `stride` bytes
 * (the plugin's struct_size) into `out`, zeroed, of `size` bytes: fields the
 * plugin's layout lacks read as zero. */
static void lp__copy_element(const void *base, uint32_t stride, uint32_t index, void *out,
                             size_t size) {
    memset(out, 0, size);
    if (base == NULL || stride == 0)
        return;
    size_t n = stride < size ? stride : size;
    memcpy(out, (const char *)base + (size_t)index * stride, n);
}

void lp__param_at(const lp_loss_desc *desc, uint32_t index, lp_param_spec *out) {
    uint32_t stride = desc->params != NULL ? desc->params[0].struct_size : 0;
    lp__copy_element(desc->params, stride, index, out, sizeof *out);
}

void lp__field_at(const lp_loss_desc *desc, uint32_t index, lp_field_spec *out) {
    uint32_t stride = desc->fields != NULL ? desc->fields[0].struct_size : 0;
    lp__copy_element(desc->fields, stride, index, out, sizeof *out);
}

/* The words of the bits set in `bits`, '|'-separated in the table's order;
 * "none" when none is set. */
typedef struct lp__flag_word {
    uint32_t bit;
    const char *word;
} lp__flag_word;

static void lp__flag_words(uint32_t bits, const lp__flag_word *words, size_t count, char *buf,
                           size_t size) {
    buf[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        if (!(bits & words[i].bit))
            continue;
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s", len > 0 ? "|" : "", words[i].word);
    }
    if (buf[0] == '\0')
        snprintf(buf, size, "none");
}

void lp__access_string(uint32_t access, char *buf, size_t size) {
    static const lp__flag_word words[] = {{LP_FIELD_READ, "read"},
                                          {LP_FIELD_WRITE, "write"},
                                          {LP_FIELD_UPDATE, "update"},
                                          {LP_FIELD_OPTIONAL, "optional"}};
    lp__flag_words(access, words, sizeof words / sizeof words[0], buf, size);
}

void lp__phase_string(uint32_t phase, char *buf, size_t size) {
    static const lp__flag_word words[] = {{LP_PHASE_ROLLOUT, "rollout"}, {LP_PHASE_TRAIN, "train"}};
    lp__flag_words(phase, words, sizeof words / sizeof words[0], buf, size);
}

const char *lp__dim_name(int64_t dim) {
    switch (dim) {
    case LP_DIM_OBS:
        return "OBS";
    case LP_DIM_ACTION:
        return "ACTION";
    case LP_DIM_NUM_ACTIONS:
        return "NUM_ACTIONS";
    default:
        return NULL;
    }
}

void lp__shape_string(const lp_field_spec *f, char *buf, size_t size) {
    size_t len = 0;
    int32_t rank = f->rank < 0 ? 0 : f->rank > LP_MAX_RANK ? LP_MAX_RANK : f->rank;
    len += (size_t)snprintf(buf, size, "[");
    for (int32_t d = 0; d < rank && len < size; d++) {
        const char *sep = d > 0 ? ", " : "";
        const char *name = lp__dim_name(f->shape[d]);
        if (name != NULL)
            len += (size_t)snprintf(buf + len, size - len, "%s%s", sep, name);
        else
            len += (size_t)snprintf(buf + len, size - len, "%s%" PRId64, sep, f->shape[d]);
    }
    if (len < size)
        snprintf(buf + len, size - len, "]");
}

void lp__format_double(double v, char *buf, size_t size) {
    /* Whole numbers read better without an exponent: 100, not 1e+02. */
    if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v) {
        snprintf(buf, size, "%" PRId64, (int64_t)v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}
