/* The registry's diagnostics: what was refused or looked wrong while
 * loading, each a one-line sentence that starts with the path concerned. */
#include "loader/internal.h"

#include <stdlib.h>
#include <string.h>

int32_t lp__diag_add(lp__diags *d, int32_t severity, int32_t code, const char *path,
                     const char *fmt, ...) {
    char *path_copy = NULL, *text = NULL, *message = NULL;
    int32_t rc = LP_ENOMEM;

    if (lp__grow((void **)&d->items, &d->cap, d->count + 1, sizeof d->items[0]) != LP_OK)
        goto done;
    path_copy = lp__strdup(path);
    if (path_copy == NULL)
        goto done;
    va_list ap;
    va_start(ap, fmt);
    text = lp__vasprintf(fmt, ap);
    va_end(ap);
    if (text == NULL)
        goto done;
    message = lp__asprintf("%s: %s", path, text);
    if (message == NULL)
        goto done;
    lp__clean_text(message);

    lp_diag *item = &d->items[d->count++];
    item->severity = severity;
    item->code = code;
    item->path = path_copy;
    item->message = message;
    path_copy = NULL;
    message = NULL;
    rc = LP_OK;
done:
    free(path_copy);
    free(text);
    free(message);
    return rc;
}

void lp__diags_free(lp__diags *d) {
    for (size_t i = 0; i < d->count; i++) {
        free((char *)d->items[i].path);
        free((char *)d->items[i].message);
    }
    free(d->items);
    memset(d, 0, sizeof *d);
}
