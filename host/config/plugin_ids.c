/* Checking that every loss names a plugin that was found. */
#include "config/config.h"

#include "util/suggest.h"

#include "util/error.h"

#include <string.h>

int32_t lp__config_check_plugins(const lp__config *cfg, const char *const *known, size_t count,
                                 lp_error *err) {
    if (cfg == NULL || (known == NULL && count != 0))
        return lp__error_set(err, LP_EINVAL, "lp__config_check_plugins: invalid arguments");
    for (size_t i = 0; i < cfg->loss_count; i++) {
        const lp__loss_cfg *l = &cfg->losses[i];
        int found = 0;
        for (size_t j = 0; j < count && !found; j++)
            found = known[j] != NULL && strcmp(known[j], l->plugin) == 0;
        if (found)
            continue;
        if (count == 0)
            return lp__cfgerr(err, l->plugin_pos.value,
                              "unknown plugin '%s': no plugins were found; check plugin_path and "
                              "LOSSPLUG_PATH",
                              l->plugin);
        lp__sbuf list;
        lp__sbuf_init(&list);
        lp__suggester sg;
        lp__suggest_init(&sg, l->plugin, strlen(l->plugin));
        for (size_t j = 0; j < count; j++) {
            lp__suggest_add(&sg, known[j]);
            lp__sbuf_addf(&list, "%s%s", j == 0 ? "" : ", ", known[j] != NULL ? known[j] : "?");
        }
        const char *best = lp__suggest_result(&sg);
        if (best != NULL)
            return lp__cfgerr(err, l->plugin_pos.value,
                              "unknown plugin '%s'; did you mean '%s'? (known plugins: %s)",
                              l->plugin, best, list.buf);
        return lp__cfgerr(err, l->plugin_pos.value, "unknown plugin '%s'; known plugins: %s",
                          l->plugin, list.buf);
    }
    return LP_OK;
}
