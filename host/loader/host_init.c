/* The lp_host table passed to a plugin file's init: one per file per
 * registry (host_data points at the file's record), valid until its deinit.
 * It serves log and error; the [instance] services belong to instance
 * tables and fail here. */
#include "loader/internal.h"
#include "loader/host_table.h"

#include <stdio.h>
#include <string.h>

static lp__plugin *lp__init_plugin(const lp_host *host) {
    return host != NULL ? (lp__plugin *)host->host_data : NULL;
}

static void lp__init_log(const lp_host *host, int32_t level, const char *msg) {
    lp__plugin *p = lp__init_plugin(host);
    if (p == NULL || msg == NULL)
        return;
    if (level < LP_LOG_DEBUG)
        level = LP_LOG_DEBUG;
    if (level > LP_LOG_ERROR)
        level = LP_LOG_ERROR;
    lp__log(p->reg, level, "%s: %s", p->path, msg);
}

/* Keep the message: the diag of a failing init quotes it. */
static void lp__init_error(const lp_host *host, const char *msg) {
    lp__plugin *p = lp__init_plugin(host);
    if (p == NULL)
        return;
    snprintf(p->error, sizeof p->error, "%s", msg != NULL ? msg : "(no message)");
    lp__clean_text(p->error);
    p->has_error = 1;
}

static int32_t lp__init_stat_handle(const lp_host *host, const char *key) {
    (void)host;
    (void)key;
    return LP_EUNSUPPORTED;
}

static void lp__init_stat_record(const lp_host *host, int32_t handle, double value) {
    (void)host;
    (void)handle;
    (void)value;
}

static int32_t lp__init_state_register(const lp_host *host, const char *name,
                                       const lp_tensor *tensor) {
    (void)host;
    (void)name;
    (void)tensor;
    return LP_EUNSUPPORTED;
}

static int32_t lp__init_handle(const lp_host *host, const char *name) {
    (void)host;
    (void)name;
    return -1;
}

static const void *lp__init_get_extension(const lp_host *host, const char *id) {
    (void)host;
    (void)id;
    return NULL;
}

void lp__host_table_init(lp_host *h, void *host_data) {
    memset(h, 0, sizeof *h);
    h->struct_size = sizeof *h;
    h->abi_major = LP_ABI_MAJOR;
    h->abi_minor = LP_ABI_MINOR;
    h->host_data = host_data;
    h->name = "lossplug";
    h->version = lp_version_string();
}

void lp__init_host_fill(lp__plugin *p) {
    lp_host *h = &p->host;
    lp__host_table_init(h, p);
    h->log = lp__init_log;
    h->error = lp__init_error;
    h->stat_handle = lp__init_stat_handle;
    h->stat_record = lp__init_stat_record;
    h->state_register = lp__init_state_register;
    h->field_handle = lp__init_handle;
    h->output_handle = lp__init_handle;
    h->get_extension = lp__init_get_extension;
}
