/*
 * Header-only helpers for loss plugin authors. Include this (it includes
 * abi.h) and link nothing of lossplug.
 *
 * A minimal plugin:
 *
 *     static const lp_param_spec params[] = {
 *         LP_PARAM_FLOAT_SPEC("coef", "loss coefficient", 1.0, 0.0, 1e6),
 *     };
 *     static const lp_loss_desc my_loss = {
 *         .struct_size = sizeof(lp_loss_desc), .id = "my_loss", ...
 *         LP_DESC_PARAMS(params), .create = my_create,
 *     };
 *     LP_PLUGIN_ENTRY(&my_loss)
 *
 * Everything here is static inline or a macro, so a plugin built against a
 * newer SDK still speaks the ABI version it was compiled with.
 */
#ifndef LOSSPLUG_PLUGIN_H
#define LOSSPLUG_PLUGIN_H

#include "abi.h"
#include "dist.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the one symbol a plugin exports; build with -fvisibility=hidden. */
#define LP_EXPORT __attribute__((visibility("default")))

#define LP_COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the entry ---------------------------------------------------------- */

/* Defines `lossplug_entry` for a file that provides the listed descriptors
 * (pointers to static lp_loss_desc), with init/deinit that count references
 * (two hosts in one process may load the file). Use once per plugin. */
#define LP_PLUGIN_ENTRY(...) LP_PLUGIN_ENTRY_WITH_INIT(NULL, NULL, __VA_ARGS__)

/* The reference count behind LP_PLUGIN_ENTRY_WITH_INIT: a mutex, so that an
 * init that is still running makes every other init wait for it. */
typedef struct lp__sdk_once {
    pthread_mutex_t lock;
    uint32_t refs;
} lp__sdk_once;

#define LP__SDK_ONCE_INIT                                                                          \
    { PTHREAD_MUTEX_INITIALIZER, 0 }

/* One init: the first runs `first_init` (may be NULL) and counts only when it
 * succeeds; a concurrent one waits until it has finished. */
static inline int32_t lp__sdk_once_init(lp__sdk_once *o, int32_t (*first_init)(const lp_host *),
                                        const lp_host *host) {
    int32_t status = LP_OK;
    pthread_mutex_lock(&o->lock);
    if (o->refs == 0 && first_init != NULL)
        status = first_init(host);
    if (status == LP_OK)
        o->refs++;
    pthread_mutex_unlock(&o->lock);
    return status;
}

/* One deinit: the last runs `last_deinit` (may be NULL), once; a deinit
 * without a matching init does nothing. */
static inline void lp__sdk_once_deinit(lp__sdk_once *o, void (*last_deinit)(void)) {
    pthread_mutex_lock(&o->lock);
    if (o->refs > 0 && --o->refs == 0 && last_deinit != NULL)
        last_deinit();
    pthread_mutex_unlock(&o->lock);
}

/* As LP_PLUGIN_ENTRY, with callbacks run on the first init (int32_t
 * fn(const lp_host *), return LP_OK or report through host->error) and the
 * last deinit (void fn(void)). Either may be NULL.
 *
 * A real once-init: `first_init` has returned before any init returns (an
 * init on another thread waits for it), a failed first init counts nothing
 * (the next init tries again), and `last_deinit` runs once, when the count
 * of successful inits drops to 0. Callbacks run under the plugin's own
 * mutex: they must not call this plugin's init or deinit.
 *
 * Hygiene: the macro declares only file-scope names starting with `lp__`
 * (reserved for lossplug) and evaluates `first_init` and `last_deinit` at
 * file scope, outside any function, so no name of the macro can capture a
 * callback's name. */
#define LP_PLUGIN_ENTRY_WITH_INIT(first_init, last_deinit, ...)                                    \
    static const lp_loss_desc *const lp__descs[] = {__VA_ARGS__};                                  \
    static int32_t (*const lp__first_init)(const lp_host *) = (first_init);                        \
    static void (*const lp__last_deinit)(void) = (last_deinit);                                    \
    static lp__sdk_once lp__once = LP__SDK_ONCE_INIT;                                              \
    static int32_t lp__init(const lp_host *lp__host) {                                             \
        return lp__sdk_once_init(&lp__once, lp__first_init, lp__host);                             \
    }                                                                                              \
    static void lp__deinit(void) {                                                                 \
        lp__sdk_once_deinit(&lp__once, lp__last_deinit);                                           \
    }                                                                                              \
    static uint32_t lp__count(void) {                                                              \
        return (uint32_t)LP_COUNT_OF(lp__descs);                                                   \
    }                                                                                              \
    static const lp_loss_desc *lp__get(uint32_t lp__index) {                                       \
        return lp__index < LP_COUNT_OF(lp__descs) ? lp__descs[lp__index] : NULL;                   \
    }                                                                                              \
    LP_EXPORT const lp_entry lossplug_entry = {                                                    \
        .struct_size = sizeof(lp_entry),                                                           \
        .abi_major = LP_ABI_MAJOR,                                                                 \
        .abi_minor = LP_ABI_MINOR,                                                                 \
        .init = lp__init,                                                                          \
        .deinit = lp__deinit,                                                                      \
        .loss_count = lp__count,                                                                   \
        .loss_get = lp__get,                                                                       \
    };

/* ---- schema helpers ------------------------------------------------------ */

#define LP_DESC_PARAMS(arr) .params = (arr), .param_count = (uint32_t)LP_COUNT_OF(arr)
#define LP_DESC_FIELDS(arr) .fields = (arr), .field_count = (uint32_t)LP_COUNT_OF(arr)

#define LP_PARAM_FLOAT_SPEC(name_, doc_, def, lo, hi)                                              \
    {                                                                                              \
        .struct_size = sizeof(lp_param_spec), .flags = LP_PARAM_HAS_MIN | LP_PARAM_HAS_MAX,        \
        .name = (name_), .doc = (doc_), .type = LP_PARAM_FLOAT, .default_float = (def),            \
        .min = (lo), .max = (hi)                                                                   \
    }
#define LP_PARAM_INT_SPEC(name_, doc_, def, lo, hi)                                                \
    {                                                                                              \
        .struct_size = sizeof(lp_param_spec), .flags = LP_PARAM_HAS_MIN | LP_PARAM_HAS_MAX,        \
        .name = (name_), .doc = (doc_), .type = LP_PARAM_INT, .default_int = (def), .min = (lo),   \
        .max = (hi)                                                                                \
    }
/* Added in 1.1: a float parameter with its bound flags spelled out, for
 * exclusive or one-sided bounds: `flags_` of LP_PARAM_HAS_MIN,
 * LP_PARAM_HAS_MAX, LP_PARAM_MIN_EXCLUSIVE, LP_PARAM_MAX_EXCLUSIVE (e.g.
 * LP_PARAM_HAS_MIN | LP_PARAM_MIN_EXCLUSIVE with lo 0: "(0, inf)"). */
#define LP_PARAM_FLOAT_RANGE_SPEC(name_, doc_, def, lo, hi, flags_)                                \
    {                                                                                              \
        .struct_size = sizeof(lp_param_spec), .flags = (flags_), .name = (name_), .doc = (doc_),   \
        .type = LP_PARAM_FLOAT, .default_float = (def), .min = (lo), .max = (hi)                   \
    }
#define LP_PARAM_BOOL_SPEC(name_, doc_, def)                                                       \
    {                                                                                              \
        .struct_size = sizeof(lp_param_spec), .name = (name_), .doc = (doc_),                      \
        .type = LP_PARAM_BOOL, .default_bool = (def)                                               \
    }
#define LP_PARAM_STRING_SPEC(name_, doc_, def)                                                     \
    {                                                                                              \
        .struct_size = sizeof(lp_param_spec), .name = (name_), .doc = (doc_),                      \
        .type = LP_PARAM_STRING, .default_string = (def)                                           \
    }
/* `choices_` is a NULL-terminated array of strings. */
#define LP_PARAM_ENUM_SPEC(name_, doc_, def, choices_)                                             \
    {                                                                                              \
        .struct_size = sizeof(lp_param_spec), .name = (name_), .doc = (doc_),                      \
        .type = LP_PARAM_ENUM, .default_string = (def), .choices = (choices_)                      \
    }

/* A per-step field of fixed shape; pass the dims after the dtype. */
#define LP_FIELD_SPEC(name_, doc_, access_, phase_, dtype_, ...)                                   \
    {                                                                                              \
        .struct_size = sizeof(lp_field_spec), .access = (access_), .phase = (phase_),              \
        .dtype = (dtype_), .name = (name_), .doc = (doc_),                                         \
        .rank = (int32_t)(sizeof((int64_t[]){0, __VA_ARGS__}) / sizeof(int64_t) - 1), .shape = {   \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }
/* A scalar per step. */
#define LP_FIELD_SCALAR(name_, doc_, access_, phase_, dtype_)                                      \
    {                                                                                              \
        .struct_size = sizeof(lp_field_spec), .access = (access_), .phase = (phase_),              \
        .dtype = (dtype_), .name = (name_), .doc = (doc_), .rank = 0                               \
    }

/* ---- parameters ------------------------------------------------------------ */

/* Index of parameter `name` in the descriptor's schema (and so in
 * args->params), or -1. For create-time use; keep the index for later. */
static inline int32_t lp_param_index(const lp_loss_desc *desc, const char *name) {
    if (desc == NULL || desc->params == NULL || name == NULL)
        return -1;
    const char *base = (const char *)desc->params;
    size_t stride = desc->params[0].struct_size;
    for (uint32_t i = 0; i < desc->param_count; i++) {
        const lp_param_spec *p = (const lp_param_spec *)(const void *)(base + i * stride);
        if (p->name != NULL && strcmp(p->name, name) == 0)
            return (int32_t)i;
    }
    return -1;
}

/* Current values by index (from lp_param_index or the schema order), read
 * during create. `args` is valid during create only: to read annealed values
 * later, keep `args->params` (valid until destroy) and use lp_value_*. */
static inline double lp_value_f(const lp_value *v) {
    return v->type == LP_PARAM_INT ? (double)v->i : v->f;
}
static inline int64_t lp_value_i(const lp_value *v) {
    return v->i;
}
static inline int lp_value_b(const lp_value *v) {
    return v->b != 0;
}
static inline const char *lp_value_s(const lp_value *v) {
    return v->s;
}

static inline double lp_param_f(const lp_create_args *a, int32_t i) {
    return lp_value_f(&a->params[i]);
}
static inline int64_t lp_param_i(const lp_create_args *a, int32_t i) {
    return lp_value_i(&a->params[i]);
}
static inline int lp_param_b(const lp_create_args *a, int32_t i) {
    return lp_value_b(&a->params[i]);
}
static inline const char *lp_param_s(const lp_create_args *a, int32_t i) {
    return lp_value_s(&a->params[i]);
}

/* ---- tensors -------------------------------------------------------------- */

static inline int64_t lp_tensor_numel(const lp_tensor *t) {
    int64_t n = 1;
    for (int32_t d = 0; d < t->rank; d++)
        n *= t->shape[d];
    return n;
}

/* True when the elements are dense in row-major order. */
static inline int lp_tensor_is_contiguous(const lp_tensor *t) {
    int64_t expect = 1;
    for (int32_t d = t->rank - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->strides[d] != expect)
            return 0;
        expect *= t->shape[d];
    }
    return 1;
}

/* Typed data pointers: NULL when the dtype differs. */
static inline float *lp_tensor_f32(const lp_tensor *t) {
    return t->dtype == LP_DTYPE_F32 ? (float *)t->data : NULL;
}
static inline double *lp_tensor_f64(const lp_tensor *t) {
    return t->dtype == LP_DTYPE_F64 ? (double *)t->data : NULL;
}
static inline int32_t *lp_tensor_i32(const lp_tensor *t) {
    return t->dtype == LP_DTYPE_I32 ? (int32_t *)t->data : NULL;
}
static inline int64_t *lp_tensor_i64(const lp_tensor *t) {
    return t->dtype == LP_DTYPE_I64 ? (int64_t *)t->data : NULL;
}
static inline uint8_t *lp_tensor_u8(const lp_tensor *t) {
    return t->dtype == LP_DTYPE_U8 ? (uint8_t *)t->data : NULL;
}

/* Fill a contiguous row-major view over `data`. */
static inline lp_tensor lp_tensor_make(void *data, int32_t dtype, int32_t rank,
                                       const int64_t *shape) {
    lp_tensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.dtype = dtype;
    t.rank = rank;
    int64_t stride = 1;
    for (int32_t d = rank - 1; d >= 0; d--) {
        t.shape[d] = shape[d];
        t.strides[d] = stride;
        stride *= shape[d];
    }
    return t;
}

/* ---- reporting -------------------------------------------------------------- */

/* printf-style host->error. Returns `status` so that a hook can write
 * `return lp_errorf(host, LP_EINVAL, "...", ...);`. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline int32_t
lp_errorf(const lp_host *host, int32_t status, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (host != NULL && host->error != NULL)
        host->error(host, msg);
    return status;
}

/* printf-style host->log. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline void
lp_logf(const lp_host *host, int32_t level, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (host != NULL && host->log != NULL)
        host->log(host, level, msg);
}

/* Stat helpers: resolve once (create/attach), record per minibatch. */
static inline int32_t lp_stat_handle(const lp_host *host, const char *key) {
    return host->stat_handle != NULL ? host->stat_handle(host, key) : LP_EUNSUPPORTED;
}
static inline void lp_stat(const lp_host *host, int32_t handle, double value) {
    if (handle >= 0 && host->stat_record != NULL)
        host->stat_record(host, handle, value);
}

/* ---- C++ plugins ------------------------------------------------------------- */

#ifdef __cplusplus
}
/* Wrap the body of every entry point of a C++ plugin: nothing may escape the
 * boundary. LP_CXX_GUARD(host, { ...body... return LP_OK; }) */
#define LP_CXX_GUARD(host, body)                                                                   \
    try {                                                                                          \
        body                                                                                       \
    } catch (const std::exception &e) {                                                            \
        return lp_errorf((host), LP_EPLUGIN, "uncaught C++ exception: %s", e.what());              \
    } catch (...) {                                                                                \
        return lp_errorf((host), LP_EPLUGIN, "uncaught C++ exception");                            \
    }
#endif

#endif /* LOSSPLUG_PLUGIN_H */
