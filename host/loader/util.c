/* Small string and array helpers. Every allocation failure is returned to
 * the caller, never handled by exiting. */
#include "loader/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *lp__strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy != NULL)
        memcpy(copy, s, n);
    return copy;
}

char *lp__vasprintf(const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s == NULL)
        return NULL;
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *lp__asprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = lp__vasprintf(fmt, ap);
    va_end(ap);
    return s;
}

char *lp__path_join(const char *dir, const char *name) {
    size_t n = strlen(dir);
    int slash = n > 0 && dir[n - 1] == '/';
    return lp__asprintf("%s%s%s", dir, slash ? "" : "/", name);
}

int32_t lp__grow(void **items, size_t *cap, size_t need, size_t size) {
    if (need <= *cap)
        return LP_OK;
    size_t new_cap = *cap < 8 ? 8 : *cap;
    while (new_cap < need) {
        if (new_cap > SIZE_MAX / 2)
            return LP_ENOMEM;
        new_cap *= 2;
    }
    if (new_cap > SIZE_MAX / size)
        return LP_ENOMEM;
    void *p = realloc(*items, new_cap * size);
    if (p == NULL)
        return LP_ENOMEM;
    *items = p;
    *cap = new_cap;
    return LP_OK;
}
