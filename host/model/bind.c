/* The bind step of the model adapters (model/bind.h). */
#include "model/bind.h"

#include "util/error.h"

#include <string.h>

static int64_t per_step(int32_t rank, const int64_t *shape) {
    int64_t n = 1;
    for (int32_t d = 0; d < rank; d++)
        n *= shape[d];
    return n;
}

int32_t lp__bind_field(const lp_session *s, const char *name, int32_t dtype, int64_t per,
                       int required, const char *hint, const char *fn, int32_t *handle,
                       lp_error *err) {
    int32_t h = lp_session_field_handle(s, name);
    if (h < 0) {
        *handle = -1;
        if (!required)
            return LP_OK;
        return lp__error_set(err, LP_EINVAL, "%s: the session (%s) has no field \"%s\": %s", fn,
                             lp_session_config_name(s), name, hint);
    }
    const lp_field_info *f = lp_session_field_at(s, (size_t)h);
    int64_t n = per_step(f->rank, f->shape);
    if (f->dtype != dtype || n != per)
        return lp__error_set(err, LP_EINVAL,
                             "%s: field \"%s\" of the session (%s) is %s with %lld values per "
                             "step: the model reads %s with %lld; declare it so, or give the "
                             "model that size",
                             fn, name, lp_session_config_name(s), lp_dtype_name(f->dtype),
                             (long long)n, lp_dtype_name(dtype), (long long)per);
    *handle = h;
    return LP_OK;
}

int32_t lp__bind_outputs(const lp_session *s, int64_t width, const char *fn, int32_t *logits,
                         int32_t *values, lp_error *err) {
    int32_t found[2] = {-1, -1};
    static const char *const names[2] = {"logits", "values"};
    const int64_t want[2] = {width, 1};
    for (size_t i = 0; i < lp_session_output_count(s); i++) {
        const lp_decl *o = lp_session_output_at(s, i);
        for (int k = 0; k < 2; k++) {
            if (strcmp(o->name, names[k]) != 0)
                continue;
            int64_t n = per_step(o->rank, o->shape);
            if (o->dtype != LP_DTYPE_F32 || n != want[k])
                return lp__error_set(err, LP_EINVAL,
                                     "%s: output \"%s\" of the session (%s) is %s with %lld "
                                     "values per sample: the model writes f32 with %lld; "
                                     "declare it so",
                                     fn, names[k], lp_session_config_name(s),
                                     lp_dtype_name(o->dtype), (long long)n, (long long)want[k]);
            found[k] = (int32_t)i;
        }
    }
    if (found[0] < 0)
        return lp__error_set(err, LP_EINVAL,
                             "%s: the session (%s) has no output \"logits\": declare it "
                             "(program.outputs or lp_session_options.outputs, f32 [%lld]); the "
                             "adapter writes \"logits\" and, when declared, \"values\"",
                             fn, lp_session_config_name(s), (long long)width);
    *logits = found[0];
    *values = found[1];
    return LP_OK;
}
