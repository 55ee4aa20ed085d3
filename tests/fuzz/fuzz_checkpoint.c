/* libFuzzer target: the checkpoint reader (header, entries, names, CRCs,
 * footer) on arbitrary bytes, then a strict and a lenient restore of what
 * it accepted into a small set of targets. Any input must be accepted or
 * refused with a one-line message, never a crash, a leak or undefined
 * behaviour. */
#include "state/checkpoint.h"

#include <lossplug/plugin.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lp__ckpt *ck = NULL;
    lp_error err;
    int32_t rc = lp__ckpt_parse(data, size, "fuzz.ckpt", &ck, &err);
    if (rc != LP_OK) {
        if (ck != NULL || strchr(err.message, '\n') != NULL)
            abort();
        return 0;
    }
    /* Walk every entry and copy it into a buffer of its own shape. */
    for (size_t i = 0; i < lp__ckpt_count(ck); i++) {
        const lp__ckpt_entry *e = lp__ckpt_entry_at(ck, i);
        if (e == NULL || lp__ckpt_find(ck, e->name) == NULL || e->nbytes > size)
            abort(); /* the data of an accepted entry lies in the file */
        void *buf = malloc(e->nbytes > 0 ? (size_t)e->nbytes : 1);
        if (buf == NULL)
            abort();
        lp_tensor t = lp_tensor_make(buf, e->dtype, e->rank, e->shape);
        if (lp__ckpt_entry_copy(e, &t, &err) != LP_OK)
            abort(); /* same dtype and shape: must succeed */
        free(buf);
    }
    /* Restore into targets of fixed shapes, both modes. */
    float w[6] = {0};
    int64_t epoch = 0;
    const int64_t wshape[2] = {2, 3};
    lp__ckpt_item targets[] = {
        {"model/w", lp_tensor_make(w, LP_DTYPE_F32, 2, wshape)},
        {"host/epoch", lp_tensor_make(&epoch, LP_DTYPE_I64, 0, NULL)},
    };
    for (int mode = LP__CKPT_STRICT; mode <= LP__CKPT_LENIENT; mode++) {
        lp__ckpt_report *report = NULL;
        rc = lp__ckpt_restore(ck, targets, 2, (lp__ckpt_mode)mode, &report, &err);
        if ((rc == LP_OK || rc == LP_ESTATE) != (report != NULL))
            abort();
        if (rc != LP_OK && strchr(err.message, '\n') != NULL)
            abort();
        lp__ckpt_report_free(report);
    }
    lp__ckpt_close(ck);
    return 0;
}
