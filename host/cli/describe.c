/* `lossplug describe ID`: one loss's parameters, fields, model outputs and
 * origin. */
#include "cli/cli.h"
#include "cli/json.h"
#include "cli/text.h"

#include <inttypes.h>
#include <string.h>

/* ---- parameters ---------------------------------------------------------- */

static int lp__param_required(const lp_param_spec *p) {
    return (p->flags & LP_PARAM_REQUIRED) != 0;
}

/* The default as text: "-" when the parameter is required. */
static void lp__default_string(const lp_param_spec *p, char *buf, size_t size) {
    if (lp__param_required(p)) {
        snprintf(buf, size, "-");
        return;
    }
    switch (p->type) {
    case LP_PARAM_FLOAT:
        lp__format_double(p->default_float, buf, size);
        break;
    case LP_PARAM_INT:
        snprintf(buf, size, "%" PRId64, p->default_int);
        break;
    case LP_PARAM_BOOL:
        snprintf(buf, size, "%s", p->default_bool ? "true" : "false");
        break;
    case LP_PARAM_STRING:
        snprintf(buf, size, "\"%s\"", p->default_string ? p->default_string : "");
        break;
    case LP_PARAM_ENUM:
        snprintf(buf, size, "%s", p->default_string ? p->default_string : "-");
        break;
    default:
        snprintf(buf, size, "?");
        break;
    }
}

/* The allowed values as text: an interval ("[lo, hi]", "(lo, inf)", ...),
 * "a|b|c" or "-". */
static void lp__range_string(const lp_param_spec *p, char *buf, size_t size) {
    char lo[64], hi[64];
    snprintf(buf, size, "-");
    if (p->type == LP_PARAM_ENUM && p->choices != NULL) {
        size_t len = 0;
        buf[0] = '\0';
        for (size_t i = 0; p->choices[i] != NULL && len < size; i++)
            len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? "|" : "", p->choices[i]);
        return;
    }
    if (p->type != LP_PARAM_FLOAT && p->type != LP_PARAM_INT)
        return;
    lp__format_double(p->min, lo, sizeof lo);
    lp__format_double(p->max, hi, sizeof hi);
    int has_min = (p->flags & LP_PARAM_HAS_MIN) != 0;
    int has_max = (p->flags & LP_PARAM_HAS_MAX) != 0;
    if (!has_min && !has_max)
        return;
    /* An interval: "[0, 1]", "[0, 1)", "(1, inf)", "(-inf, 0]". */
    snprintf(buf, size, "%c%s, %s%c", has_min && !(p->flags & LP_PARAM_MIN_EXCLUSIVE) ? '[' : '(',
             has_min ? lo : "-inf", has_max ? hi : "inf",
             has_max && !(p->flags & LP_PARAM_MAX_EXCLUSIVE) ? ']' : ')');
}

static void lp__json_param_default(lp__json *j, const lp_param_spec *p) {
    lp__json_key(j, "default");
    if (lp__param_required(p)) {
        lp__json_null(j);
        return;
    }
    switch (p->type) {
    case LP_PARAM_FLOAT:
        lp__json_double(j, p->default_float);
        break;
    case LP_PARAM_INT:
        lp__json_int(j, p->default_int);
        break;
    case LP_PARAM_BOOL:
        lp__json_bool(j, p->default_bool);
        break;
    case LP_PARAM_STRING:
    case LP_PARAM_ENUM:
        lp__json_string(j, p->default_string);
        break;
    default:
        lp__json_null(j);
        break;
    }
}

static void lp__json_params(lp__json *j, const lp_loss_desc *desc) {
    lp__json_key(j, "parameters");
    lp__json_array_begin(j);
    for (uint32_t i = 0; i < desc->param_count; i++) {
        lp_param_spec p;
        lp__param_at(desc, i, &p);
        int numeric = p.type == LP_PARAM_FLOAT || p.type == LP_PARAM_INT;
        lp__json_object_begin(j);
        lp__json_kv_string(j, "name", p.name);
        lp__json_kv_string(j, "type", lp_param_type_name(p.type));
        lp__json_param_default(j, &p);
        lp__json_key(j, "min");
        if (numeric && (p.flags & LP_PARAM_HAS_MIN))
            lp__json_double(j, p.min);
        else
            lp__json_null(j);
        lp__json_key(j, "max");
        if (numeric && (p.flags & LP_PARAM_HAS_MAX))
            lp__json_double(j, p.max);
        else
            lp__json_null(j);
        lp__json_kv_bool(j, "min_exclusive",
                         numeric && (p.flags & LP_PARAM_HAS_MIN) &&
                             (p.flags & LP_PARAM_MIN_EXCLUSIVE));
        lp__json_kv_bool(j, "max_exclusive",
                         numeric && (p.flags & LP_PARAM_HAS_MAX) &&
                             (p.flags & LP_PARAM_MAX_EXCLUSIVE));
        if (numeric && (p.flags & (LP_PARAM_HAS_MIN | LP_PARAM_HAS_MAX))) {
            char range[160];
            lp__range_string(&p, range, sizeof range);
            lp__json_kv_string(j, "range", range);
        } else {
            lp__json_key(j, "range");
            lp__json_null(j);
        }
        lp__json_key(j, "choices");
        if (p.type == LP_PARAM_ENUM && p.choices != NULL) {
            lp__json_array_begin(j);
            for (size_t c = 0; p.choices[c] != NULL; c++)
                lp__json_string(j, p.choices[c]);
            lp__json_array_end(j);
        } else {
            lp__json_null(j);
        }
        lp__json_kv_bool(j, "required", lp__param_required(&p));
        lp__json_kv_string(j, "doc", p.doc);
        lp__json_object_end(j);
    }
    lp__json_array_end(j);
}

static int lp__text_params(const lp_loss_desc *desc) {
    puts("parameters:");
    if (desc->param_count == 0) {
        puts("  (none)");
        return 0;
    }
    lp__table t;
    lp__table_init(&t, 6);
    const char *header[] = {"NAME", "TYPE", "DEFAULT", "RANGE", "REQUIRED", "DOC"};
    int rc = lp__table_add(&t, header);
    for (uint32_t i = 0; i < desc->param_count && rc == 0; i++) {
        lp_param_spec p;
        char def[256], range[512];
        lp__param_at(desc, i, &p);
        lp__default_string(&p, def, sizeof def);
        lp__range_string(&p, range, sizeof range);
        const char *row[] = {
            p.name, lp_param_type_name(p.type), def, range, lp__param_required(&p) ? "yes" : "no",
            p.doc};
        rc = lp__table_add(&t, row);
    }
    if (rc == 0)
        lp__table_print(&t, stdout, "  ");
    lp__table_free(&t);
    return rc;
}

/* ---- fields ---------------------------------------------------------------- */

static void lp__json_fields(lp__json *j, const lp_loss_desc *desc) {
    lp__json_key(j, "fields");
    lp__json_array_begin(j);
    for (uint32_t i = 0; i < desc->field_count; i++) {
        lp_field_spec f;
        lp__field_at(desc, i, &f);
        lp__json_object_begin(j);
        lp__json_kv_string(j, "name", f.name);
        lp__json_key(j, "access");
        lp__json_array_begin(j);
        if (f.access & LP_FIELD_READ)
            lp__json_string(j, "read");
        if (f.access & LP_FIELD_WRITE)
            lp__json_string(j, "write");
        if (f.access & LP_FIELD_UPDATE)
            lp__json_string(j, "update");
        lp__json_array_end(j);
        lp__json_kv_bool(j, "optional", (f.access & LP_FIELD_OPTIONAL) != 0);
        lp__json_key(j, "phases");
        lp__json_array_begin(j);
        if (f.phase & LP_PHASE_ROLLOUT)
            lp__json_string(j, "rollout");
        if (f.phase & LP_PHASE_TRAIN)
            lp__json_string(j, "train");
        lp__json_array_end(j);
        lp__json_kv_string(j, "dtype", lp_dtype_name(f.dtype));
        lp__json_key(j, "shape");
        lp__json_array_begin(j);
        int32_t rank = f.rank < 0 ? 0 : f.rank > LP_MAX_RANK ? LP_MAX_RANK : f.rank;
        for (int32_t d = 0; d < rank; d++) {
            const char *name = lp__dim_name(f.shape[d]);
            if (name != NULL)
                lp__json_string(j, name);
            else
                lp__json_int(j, f.shape[d]);
        }
        lp__json_array_end(j);
        lp__json_kv_string(j, "doc", f.doc);
        lp__json_object_end(j);
    }
    lp__json_array_end(j);
}

static int lp__text_fields(const lp_loss_desc *desc) {
    puts("fields (per step; the buffer prepends [segments, horizon]):");
    if (desc->field_count == 0) {
        puts("  (none)");
        return 0;
    }
    lp__table t;
    lp__table_init(&t, 6);
    const char *header[] = {"NAME", "ACCESS", "PHASE", "DTYPE", "SHAPE", "DOC"};
    int rc = lp__table_add(&t, header);
    for (uint32_t i = 0; i < desc->field_count && rc == 0; i++) {
        lp_field_spec f;
        char access[64], phase[64], shape[256];
        lp__field_at(desc, i, &f);
        lp__access_string(f.access, access, sizeof access);
        lp__phase_string(f.phase, phase, sizeof phase);
        lp__shape_string(&f, shape, sizeof shape);
        const char *row[] = {f.name, access, phase, lp_dtype_name(f.dtype), shape, f.doc};
        rc = lp__table_add(&t, row);
    }
    if (rc == 0)
        lp__table_print(&t, stdout, "  ");
    lp__table_free(&t);
    return rc;
}

/* ---- the command ------------------------------------------------------------ */

static void lp__describe_json(const lp_loss_info *info) {
    const lp_loss_desc *desc = info->desc;
    lp__json j;
    lp__json_init(&j, stdout);
    lp__json_object_begin(&j);
    lp__json_loss_head(&j, info);
    lp__json_params(&j, desc);
    lp__json_fields(&j, desc);
    lp__json_key(&j, "outputs");
    lp__json_array_begin(&j);
    for (size_t i = 0; desc->outputs != NULL && desc->outputs[i] != NULL; i++)
        lp__json_string(&j, desc->outputs[i]);
    lp__json_array_end(&j);
    lp__json_object_end(&j);
    lp__json_finish(&j);
}

static int lp__describe_text(const lp_loss_info *info) {
    const lp_loss_desc *desc = info->desc;
    lp__text_put(stdout, desc->id);
    fputc(' ', stdout);
    lp__text_put(stdout, desc->version);
    fputs("\n  ", stdout);
    lp__text_put(stdout, desc->summary);
    fputs("\n\nfile: ", stdout);
    lp__text_put(stdout, info->path);
    printf("\nabi:  %" PRIu32 ".%" PRIu32 "\n\n", info->abi_major, info->abi_minor);
    if (lp__text_params(desc) != 0)
        return -1;
    fputc('\n', stdout);
    if (lp__text_fields(desc) != 0)
        return -1;
    fputs("\nmodel outputs:", stdout);
    if (desc->outputs == NULL || desc->outputs[0] == NULL)
        fputs(" (none)", stdout);
    for (size_t i = 0; desc->outputs != NULL && desc->outputs[i] != NULL; i++) {
        fputs(i ? ", " : " ", stdout);
        lp__text_put(stdout, desc->outputs[i]);
    }
    fputc('\n', stdout);
    return 0;
}

int lp__cmd_describe(const lp__cli *cli, const lp_registry *reg) {
    const lp_loss_info *info = NULL;
    lp_error err = {0};
    if (lp_registry_find(reg, cli->args[0], &info, &err) != LP_OK) {
        lp__print_error("%s", err.message[0] ? err.message : lp_strerror(err.code));
        return LP__EXIT_ERROR;
    }
    if (cli->json) {
        lp__describe_json(info);
        return LP__EXIT_OK;
    }
    if (lp__describe_text(info) != 0) {
        lp__print_error("out of memory");
        return LP__EXIT_ERROR;
    }
    return LP__EXIT_OK;
}
