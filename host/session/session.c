/* Opening and closing a session, its options, and the read-only accessors. */
#include "session/session_impl.h"

#include "util/clean_text.h"
#include "util/error.h"
#include "util/log.h"
#include "util/options.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* The 1.0 layouts end at log_user. */
#define OPTIONS_V1          LP__SIZE_THROUGH(lp_session_options, log_user)
#define REGISTRY_OPTIONS_V1 LP__SIZE_THROUGH(lp_registry_options, log_user)

void lp_session_options_init(lp_session_options *opt) {
    if (!lp__opts_reset(opt, sizeof *opt))
        return;
    opt->use_env_path = 1;
    opt->use_install_dir = 1;
    opt->replicas = 1;
}

void lp__session_log(const lp_session *s, int32_t level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lp__log_emitv(s->opt.log, s->opt.log_user, level, fmt, ap);
    va_end(ap);
}

void lp__pos_text(char *buf, size_t size, lp__pos pos) {
    snprintf(buf, size, "%s:%u:%u", pos.file != NULL ? pos.file : "<config>", (unsigned)pos.line,
             (unsigned)pos.col);
}

static int32_t copy_options(const lp_session_options *in, lp_session_options *out, lp_error *err) {
    lp_session_options_init(out);
    int32_t rc = lp__opts_copy(out, sizeof *out, in, OPTIONS_V1, "lp_session_open", "options",
                               "lp_session_options_init", err);
    if (rc != LP_OK || in == NULL)
        return rc;
    struct {
        const void *p;
        size_t n;
        const char *what;
    } arrays[] = {
        {out->plugin_paths, out->registry != NULL ? 0 : out->plugin_path_count, "plugin_paths"},
        {out->fields, out->field_count, "fields"},
        {out->outputs, out->output_count, "outputs"},
        {out->sections, out->section_count, "sections"}};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
        if (arrays[i].n > 0 && arrays[i].p == NULL)
            return lp__error_set(err, LP_EINVAL,
                                 "lp_session_open: options.%s is NULL while its count is %zu: pass "
                                 "the array or a count of 0",
                                 arrays[i].what, arrays[i].n);
    if (out->replicas < 1 || out->replicas > (INT64_C(1) << 20))
        return lp__error_set(err, LP_EINVAL,
                             "lp_session_open: options.replicas is %lld; give the number of "
                             "processes training together, 1 .. 2^20 (1: this one alone)",
                             (long long)out->replicas);
    for (size_t i = 0; out->registry == NULL && i < out->plugin_path_count; i++)
        if (out->plugin_paths[i] == NULL || out->plugin_paths[i][0] == '\0')
            return lp__error_set(
                err, LP_EINVAL,
                "lp_session_open: options.plugin_paths[%zu] is %s: give a directory", i,
                out->plugin_paths[i] == NULL ? "NULL" : "empty");
    return LP_OK;
}

/* The registry: the options' directories (options.registry's when given),
 * then the config's plugin_path. */
static int32_t open_registry(lp_session *s, lp_error *err) {
    lp_registry_options ro;
    lp_registry_options_init(&ro);
    if (s->opt.registry != NULL) {
        int32_t rc =
            lp__opts_copy(&ro, sizeof ro, s->opt.registry, REGISTRY_OPTIONS_V1, "lp_session_open",
                          "options.registry", "lp_registry_options_init", err);
        if (rc != LP_OK)
            return rc;
        if (ro.plugin_path_count > 0 && ro.plugin_paths == NULL)
            return lp__error_set(err, LP_EINVAL,
                                 "lp_session_open: options.registry->plugin_paths is NULL while "
                                 "its count is %zu: pass the array or a count of 0",
                                 ro.plugin_path_count);
    } else {
        ro.plugin_paths = s->opt.plugin_paths;
        ro.plugin_path_count = s->opt.plugin_path_count;
        ro.use_env_path = s->opt.use_env_path;
        ro.use_install_dir = s->opt.use_install_dir;
        ro.allow_insecure = s->opt.allow_insecure;
        ro.scan = s->opt.scan_plugins;
    }
    const size_t own = ro.plugin_path_count, n = own + s->cfg->plugin_path_count;
    const char **paths = calloc(n > 0 ? n : 1, sizeof *paths);
    if (paths == NULL)
        return lp__error_set(err, LP_ENOMEM, "lp_session_open: out of memory");
    for (size_t i = 0; i < own; i++)
        paths[i] = ro.plugin_paths[i];
    for (size_t i = 0; i < s->cfg->plugin_path_count; i++)
        paths[own + i] = s->cfg->plugin_paths[i];
    ro.plugin_paths = paths;
    ro.plugin_path_count = n;
    ro.log = s->opt.log;
    ro.log_user = s->opt.log_user;
    /* Load only the files that provide the plugins the config names (when
     * a scan, now or cached, knows what each file provides); the others
     * are only described, so that their ids still count for "unknown
     * plugin ... did you mean" and duplicate ids. */
    const char **ids = calloc(s->cfg->loss_count > 0 ? s->cfg->loss_count : 1, sizeof *ids);
    if (ids == NULL) {
        free(paths);
        return lp__error_set(err, LP_ENOMEM, "lp_session_open: out of memory");
    }
    for (size_t i = 0; i < s->cfg->loss_count; i++)
        ids[i] = s->cfg->losses[i].plugin;
    ro.only_ids = ids;
    ro.only_id_count = s->cfg->loss_count;
    int32_t rc = lp_registry_open(&ro, &s->reg, err);
    free(ids);
    free(paths);
    if (rc != LP_OK)
        return rc;
    for (size_t i = 0; i < lp_registry_diag_count(s->reg); i++) {
        const lp_diag *d = lp_registry_diag_at(s->reg, i);
        lp__session_log(s, d->severity == LP_DIAG_ERROR ? LP_LOG_ERROR : LP_LOG_WARN, "%s",
                        d->message);
    }
    return LP_OK;
}

/* Every plugin the config names must be known; a refused file is often why
 * one is not, so a refusal is quoted: the registry's own note on an id
 * asked for that only a file it could not scan may provide (code
 * LP_ENOENT), else the first. */
static int32_t check_plugins(lp_session *s, lp_error *err) {
    size_t n = lp_registry_loss_count(s->reg);
    const char **ids = calloc(n > 0 ? n : 1, sizeof *ids);
    if (ids == NULL)
        return lp__error_set(err, LP_ENOMEM, "lp_session_open: out of memory");
    for (size_t i = 0; i < n; i++)
        ids[i] = lp_registry_loss_at(s->reg, i)->desc->id;
    int32_t rc = lp__config_check_plugins(s->cfg, ids, n, err);
    free(ids);
    if (rc == LP_OK || err == NULL)
        return rc;
    const lp_diag *quoted = NULL;
    for (size_t i = 0; i < lp_registry_diag_count(s->reg); i++) {
        const lp_diag *d = lp_registry_diag_at(s->reg, i);
        if (d->severity != LP_DIAG_ERROR)
            continue;
        if (quoted == NULL || (d->code == LP_ENOENT && quoted->code != LP_ENOENT))
            quoted = d;
    }
    if (quoted != NULL) {
        size_t len = strlen(err->message);
        snprintf(err->message + len, sizeof err->message - len, " (note: a plugin was refused: %s)",
                 quoted->message);
    }
    return rc;
}

/* A section the config gives to the program (program.sections) must be one
 * the program reads, or it would be silently ignored; tools that open a
 * config without its program (lossplug check) trust the list instead. */
static int32_t check_owned_sections(lp_session *s, lp_error *err) {
    const lp__program_cfg *p = &s->cfg->program;
    if (s->opt.trust_config_sections)
        return LP_OK;
    for (size_t i = 0; i < p->section_count; i++) {
        int read = 0;
        for (size_t j = 0; j < s->opt.section_count && !read; j++)
            read = strcmp(p->sections[i], s->opt.sections[j]) == 0;
        if (read)
            continue;
        char at[256], reads[256] = "";
        size_t used = 0;
        for (size_t j = 0; j < s->opt.section_count && used < sizeof reads; j++) {
            int n = snprintf(reads + used, sizeof reads - used, "%s%s", j ? ", " : "",
                             s->opt.sections[j]);
            used += n > 0 ? (size_t)n : 0;
        }
        lp__pos_text(at, sizeof at, p->section_pos[i]);
        return lp__error_set(err, LP_ECONFIG,
                             "%s: program.sections lists '%s', which this program does not read "
                             "(it reads: %s); remove it, or use the program that reads it",
                             at, p->sections[i], s->opt.section_count ? reads : "no sections");
    }
    return LP_OK;
}

static int32_t session_open(const char *path, const char *yaml, size_t len, const char *name,
                            const lp_session_options *opt, lp_session **out, lp_error *err) {
    if (err != NULL) {
        err->code = LP_OK;
        err->message[0] = '\0';
    }
    if (out == NULL)
        return lp__error_set(err, LP_EINVAL,
                             "lp_session_open: `out` is NULL: pass where to store "
                             "the session");
    *out = NULL;
    lp_session *s = calloc(1, sizeof *s);
    if (s == NULL)
        return lp__error_set(err, LP_ENOMEM, "lp_session_open: out of memory");
    int32_t rc = copy_options(opt, &s->opt, err);
    if (rc != LP_OK)
        goto fail;
    for (size_t i = 0; i < s->opt.section_count; i++)
        if (s->opt.sections[i] == NULL) {
            rc = lp__error_set(err, LP_EINVAL, "lp_session_open: options.sections[%zu] is NULL", i);
            goto fail;
        }
    lp__config_options co;
    lp__config_options_init(&co);
    co.passthrough = s->opt.sections;
    co.passthrough_count = s->opt.section_count;
    if (path != NULL)
        rc = lp__config_parse_file(path, &co, &s->cfg, err);
    else
        rc = lp__config_parse_string(yaml, len, name, &co, &s->cfg, err);
    if (rc != LP_OK)
        goto fail;
    rc = check_owned_sections(s, err);
    if (rc != LP_OK)
        goto fail;
    /* The caller's arrays are not kept past this call (program.c copies
     * what it needs). */
    s->opt.sections = NULL;
    s->opt.section_count = 0;

    const lp__buffer_cfg *b = &s->cfg->buffer;
    s->plan.minibatch_segments = b->minibatch_segments;
    s->plan.minibatches = b->segments / b->minibatch_segments;
    s->plan.update_epochs = b->update_epochs;
    s->plan.seed = s->opt.seed_set ? s->opt.seed : b->seed;
    s->plan.shuffle = b->shuffle;
    s->plan.sample = b->sample;
    s->plan.minibatch_samples = b->minibatch_segments * b->horizon;
    s->plan.nonfinite = b->nonfinite;
    s->total_stat = -1;
    s->skip_stat = -1;
    if (s->plan.nonfinite == LP_NONFINITE_SKIP && s->opt.replicas > 1) {
        /* A rank that skipped its optimizer step would leave the others
         * waiting in that step's all-reduce. */
        char at[512];
        lp__pos_text(at, sizeof at, b->nonfinite_pos.value);
        rc = lp__error_set(err, LP_ECONFIG,
                           "%s: buffer.nonfinite: skip cannot be used by a data-parallel run "
                           "(%lld processes): one process would skip a step the others wait in; "
                           "use buffer.nonfinite: stop (the default)",
                           at, (long long)s->opt.replicas);
    }

    if (rc == LP_OK)
        rc = lp__model_ext_open(s, s->opt.model, err);
    s->opt.model = NULL;
    if (rc == LP_OK)
        rc = lp__program_resolve(s, err);
    s->opt.fields = NULL;
    s->opt.field_count = 0;
    s->opt.outputs = NULL;
    s->opt.output_count = 0;
    if (rc == LP_OK)
        rc = open_registry(s, err);
    s->opt.plugin_paths = NULL;
    s->opt.plugin_path_count = 0;
    s->opt.registry = NULL; /* borrowed during open only */
    if (rc == LP_OK)
        rc = check_plugins(s, err);
    if (rc == LP_OK)
        rc = lp__instances_create(s, err);
    if (rc == LP_OK)
        rc = lp__spec_merge(s, err);
    if (rc == LP_OK)
        rc = lp__buffer_open(s, err);
    if (rc == LP_OK)
        rc = lp__instances_attach(s, err);
    if (rc == LP_OK)
        rc = lp__fcheck_open(s, err);
    if (rc == LP_OK)
        rc = lp__stat_add(s, NULL, "total_loss", &s->total_stat, err);
    if (rc == LP_OK && s->plan.nonfinite == LP_NONFINITE_SKIP)
        rc = lp__stat_add(s, NULL, "nonfinite_skips", &s->skip_stat, err);
    if (rc == LP_OK && !s->opt.check_only) /* a check has no side effects */
        rc = lp__stats_open(s, err);
    s->opt.stats_path = NULL;
    if (rc != LP_OK)
        goto fail;
    *out = s;
    return LP_OK;
fail:
    lp_session_close(s);
    return rc;
}

int32_t lp_session_open(const char *path, const lp_session_options *opt, lp_session **out,
                        lp_error *err) {
    if (path == NULL) {
        if (out != NULL)
            *out = NULL;
        return lp__error_set(err, LP_EINVAL, "lp_session_open: path is NULL: pass a config file");
    }
    return session_open(path, NULL, 0, NULL, opt, out, err);
}

int32_t lp_session_open_string(const char *yaml, size_t len, const char *name,
                               const lp_session_options *opt, lp_session **out, lp_error *err) {
    if (yaml == NULL && len != 0) {
        if (out != NULL)
            *out = NULL;
        return lp__error_set(err, LP_EINVAL, "lp_session_open_string: yaml is NULL");
    }
    return session_open(NULL, yaml != NULL ? yaml : "", len, name, opt, out, err);
}

void lp_session_close(lp_session *s) {
    if (s == NULL)
        return;
    lp__fcheck_free(s);
    lp__instances_destroy(s);
    lp_registry_close(s->reg);
    lp__buffer_free(s);
    lp__model_ext_free(s);
    lp__spec_free(s);
    lp__stats_free(s);
    lp__states_free(s);
    for (size_t i = 0; i < s->prog_field_count; i++)
        free((void *)s->prog_fields[i].name);
    free(s->prog_fields);
    free(s->action_store);
    free((void *)s->prog_field_pos);
    for (size_t i = 0; i < s->output_count; i++)
        free((void *)s->outputs[i].decl.name);
    free(s->outputs);
    lp__config_free(s->cfg);
    free(s);
}

/* ---- accessors ---------------------------------------------------------------- */

size_t lp_session_field_count(const lp_session *s) {
    return s != NULL ? s->field_count : 0;
}

const lp_field_info *lp_session_field_at(const lp_session *s, size_t index) {
    return s != NULL && index < s->field_count ? &s->fields[index].info : NULL;
}

int32_t lp_session_field_handle(const lp_session *s, const char *name) {
    return s != NULL && name != NULL ? lp__field_find(s, name) : -1;
}

lp_tensor lp_session_field(const lp_session *s, int32_t handle) {
    lp_tensor t;
    memset(&t, 0, sizeof t);
    if (s != NULL && handle >= 0 && (size_t)handle < s->field_count)
        t = s->all_views[handle];
    return t;
}

void *lp_session_step_ptr(const lp_session *s, int32_t handle, int64_t row, int64_t t) {
    if (s == NULL || handle < 0 || (size_t)handle >= s->field_count)
        return NULL;
    const lp__mfield *f = &s->fields[handle];
    return s->buf + f->info.offset + (size_t)row * f->row_bytes + (size_t)t * f->step_bytes;
}

const lp_env_info *lp_session_env(const lp_session *s) {
    return s != NULL ? &s->env : NULL;
}

size_t lp_session_buffer_bytes(const lp_session *s) {
    return s != NULL ? s->buf_bytes : 0;
}

const lp_train_plan *lp_session_train_plan(const lp_session *s) {
    return s != NULL ? &s->plan : NULL;
}

const char *lp_session_config_name(const lp_session *s) {
    return s != NULL ? s->cfg->file : NULL;
}

size_t lp_session_instance_count(const lp_session *s) {
    return s != NULL ? s->inst_count : 0;
}

const char *lp_session_instance_name(const lp_session *s, size_t index) {
    return s != NULL && index < s->inst_count ? s->insts[index].cfg->name : NULL;
}

const char *lp_session_instance_plugin(const lp_session *s, size_t index) {
    return s != NULL && index < s->inst_count ? s->insts[index].cfg->plugin : NULL;
}

double lp_session_instance_weight(const lp_session *s, size_t index) {
    return s != NULL && index < s->inst_count ? s->insts[index].cfg->weight : 0.0;
}

size_t lp_session_output_count(const lp_session *s) {
    return s != NULL ? s->output_count : 0;
}

const lp_decl *lp_session_output_at(const lp_session *s, size_t index) {
    return s != NULL && index < s->output_count ? &s->outputs[index].decl : NULL;
}

int64_t lp_session_epoch(const lp_session *s) {
    return s != NULL ? s->epoch : 0;
}

int64_t lp_session_env_steps(const lp_session *s) {
    return s != NULL ? s->env_steps : 0;
}

/* A dotted path through mappings (and list indices) of a passthrough
 * section. */
const char *lp_session_section_scalar(const lp_session *s, const char *dotted_path, int *line,
                                      int *column) {
    if (s == NULL || dotted_path == NULL)
        return NULL;
    char part[128];
    const char *p = dotted_path;
    const lp__ynode *n = NULL;
    for (int first = 1;; first = 0) {
        const char *dot = strchr(p, '.');
        size_t len = dot != NULL ? (size_t)(dot - p) : strlen(p);
        if (len == 0 || len >= sizeof part)
            return NULL;
        memcpy(part, p, len);
        part[len] = '\0';
        if (first) {
            const lp__section *sec = lp__config_section(s->cfg, part);
            if (sec == NULL)
                return NULL;
            n = sec->node;
        } else if (n->kind == LP__Y_MAP) {
            n = lp__ymap_get(n, part);
        } else if (n->kind == LP__Y_SEQ) {
            char *end = NULL;
            unsigned long i = strtoul(part, &end, 10);
            n = *end == '\0' && part[0] >= '0' && part[0] <= '9' && i < n->count ? n->items[i]
                                                                                 : NULL;
        } else {
            return NULL;
        }
        if (n == NULL)
            return NULL;
        if (dot == NULL)
            break;
        p = dot + 1;
    }
    if (n->kind != LP__Y_SCALAR)
        return NULL;
    if (line != NULL)
        *line = (int)n->line;
    if (column != NULL)
        *column = (int)n->col;
    return n->text;
}
