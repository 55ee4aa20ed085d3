/* `lossplug list`: every loss the registry found, in discovery order. */
#include "cli/cli.h"
#include "cli/json.h"
#include "cli/text.h"

void lp__json_loss_head(lp__json *j, const lp_loss_info *info) {
    lp__json_kv_string(j, "id", info->desc->id);
    lp__json_kv_string(j, "version", info->desc->version);
    lp__json_kv_string(j, "summary", info->desc->summary);
    lp__json_kv_string(j, "file", info->path);
    lp__json_key(j, "abi");
    lp__json_object_begin(j);
    lp__json_kv_int(j, "major", info->abi_major);
    lp__json_kv_int(j, "minor", info->abi_minor);
    lp__json_object_end(j);
}

static void lp__list_json(const lp_registry *reg) {
    lp__json j;
    lp__json_init(&j, stdout);
    lp__json_object_begin(&j);
    lp__json_kv_string(&j, "lossplug_version", lp_version_string());

    lp__json_key(&j, "roots");
    lp__json_array_begin(&j);
    for (size_t i = 0; i < lp_registry_root_count(reg); i++)
        lp__json_string(&j, lp_registry_root_at(reg, i));
    lp__json_array_end(&j);

    lp__json_key(&j, "losses");
    lp__json_array_begin(&j);
    for (size_t i = 0; i < lp_registry_loss_count(reg); i++) {
        const lp_loss_info *info = lp_registry_loss_at(reg, i);
        lp__json_object_begin(&j);
        lp__json_loss_head(&j, info);
        lp__json_object_end(&j);
    }
    lp__json_array_end(&j);

    lp__json_key(&j, "diagnostics");
    lp__json_array_begin(&j);
    for (size_t i = 0; i < lp_registry_diag_count(reg); i++) {
        const lp_diag *d = lp_registry_diag_at(reg, i);
        lp__json_object_begin(&j);
        lp__json_kv_string(&j, "severity", d->severity == LP_DIAG_ERROR ? "error" : "warning");
        lp__json_kv_string(&j, "code", lp_err_name(d->code));
        lp__json_kv_string(&j, "path", d->path);
        lp__json_kv_string(&j, "message", d->message);
        lp__json_object_end(&j);
    }
    lp__json_array_end(&j);

    lp__json_object_end(&j);
    lp__json_finish(&j);
}

static int lp__list_text(const lp_registry *reg) {
    size_t count = lp_registry_loss_count(reg);
    if (count == 0) {
        if (lp_registry_root_count(reg) == 0) {
            fputs("no losses found: no plugin directory to search (the default is ", stdout);
            lp__text_put(stdout, lp_install_plugin_dir());
            fputs("); use --plugin-path DIR or LOSSPLUG_PATH\n", stdout);
            return LP__EXIT_OK;
        }
        fputs("no losses found in:", stdout);
        for (size_t i = 0; i < lp_registry_root_count(reg); i++) {
            fputs(i ? ", " : " ", stdout);
            lp__text_put(stdout, lp_registry_root_at(reg, i));
        }
        fputc('\n', stdout);
        return LP__EXIT_OK;
    }
    lp__table t;
    lp__table_init(&t, 4);
    const char *header[] = {"ID", "VERSION", "FILE", "SUMMARY"};
    int rc = lp__table_add(&t, header);
    for (size_t i = 0; i < count && rc == 0; i++) {
        const lp_loss_info *info = lp_registry_loss_at(reg, i);
        const char *row[] = {info->desc->id, info->desc->version, info->path, info->desc->summary};
        rc = lp__table_add(&t, row);
    }
    if (rc == 0)
        lp__table_print(&t, stdout, "");
    lp__table_free(&t);
    if (rc != 0) {
        lp__print_error("out of memory");
        return LP__EXIT_ERROR;
    }
    return LP__EXIT_OK;
}

int lp__cmd_list(const lp__cli *cli, const lp_registry *reg) {
    if (cli->json) {
        lp__list_json(reg);
        return LP__EXIT_OK;
    }
    return lp__list_text(reg);
}
