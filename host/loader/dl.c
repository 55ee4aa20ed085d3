/* The dynamic loader. dlerror() keeps one message per thread that the next
 * dl* call overwrites, and some libcs keep it process-wide: so every call and
 * the dlerror() that follows it run under one lock, and the message is copied
 * at once. A second lock serialises plugin init and deinit across the
 * registries of the process: they share one copy of each plugin's code and
 * data, so an init must have finished before another registry's init of the
 * same file returns, whatever the plugin does itself. These two static
 * mutexes are the library's only globals: the dynamic loader's own state
 * (one copy of a file per process) is what forces them. */
#include "loader/internal.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t lp__dl_lock = PTHREAD_MUTEX_INITIALIZER;
/* Recursive: an init may open a registry of its own. */
static pthread_mutex_t lp__init_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

void lp__init_lock_take(void) {
    pthread_mutex_lock(&lp__init_lock);
}

void lp__init_lock_give(void) {
    pthread_mutex_unlock(&lp__init_lock);
}

static void lp__dl_copy_error(char *msg, size_t msg_len, const char *fallback) {
    const char *e = dlerror();
    snprintf(msg, msg_len, "%s", e != NULL ? e : fallback);
    lp__clean_text(msg);
}

void *lp__dl_open(const char *path, char *msg, size_t msg_len) {
    pthread_mutex_lock(&lp__dl_lock);
    (void)dlerror(); /* drop a stale message */
    /* NOW: a missing symbol is reported here, not mid-training. LOCAL: the
     * plugin's symbols do not leak into the next plugin's lookups. Never
     * DEEPBIND (it breaks interposition of malloc and friends). */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        lp__dl_copy_error(msg, msg_len, "dlopen failed without a message");
    pthread_mutex_unlock(&lp__dl_lock);
    return h;
}

void *lp__dl_sym(void *handle, const char *name, char *msg, size_t msg_len) {
    pthread_mutex_lock(&lp__dl_lock);
    (void)dlerror();
    void *sym = dlsym(handle, name);
    const char *e = dlerror();
    if (e != NULL || sym == NULL) {
        snprintf(msg, msg_len, "%s", e != NULL ? e : "the symbol's address is NULL");
        lp__clean_text(msg);
        sym = NULL;
    }
    pthread_mutex_unlock(&lp__dl_lock);
    return sym;
}
