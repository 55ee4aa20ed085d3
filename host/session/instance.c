/* Loss instances: their host service tables, create in config order (params
 * bound from the config), the `fields` hook, attach, destroy, and the
 * message of a failing hook. */
#include "session/session_impl.h"

#include <lossplug/ext/model.h>

#include "loader/host_table.h"
#include "loader/specs.h"
#include "util/clean_text.h"
#include "util/error.h"
#include "util/names.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define LOSS_V1     (offsetof(lp_loss, get_extension) + sizeof(void *))
#define DESTROY_END (offsetof(lp_loss, destroy) + sizeof(void *))

int32_t lp__svc_fail(lp__inst *in, int32_t code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(in->errmsg, sizeof in->errmsg, fmt, ap);
    va_end(ap);
    lp__clean_text(in->errmsg);
    in->has_err = 1;
    if (code == LP_ENOMEM)
        in->svc_oom = 1;
    return code;
}

/* ---- the services ---------------------------------------------------------------- */

static void svc_log(const lp_host *h, int32_t level, const char *msg) {
    lp__inst *in = lp__inst_of(h);
    if (in == NULL)
        return;
    lp__session_log(in->s, level, "%s: %s", in->cfg->name, msg != NULL ? msg : "(null)");
}

static void svc_error(const lp_host *h, const char *msg) {
    lp__inst *in = lp__inst_of(h);
    if (in == NULL)
        return;
    snprintf(in->errmsg, sizeof in->errmsg, "%s", msg != NULL ? msg : "(no message)");
    lp__clean_text(in->errmsg);
    in->has_err = 1;
}

static int32_t svc_stat_handle(const lp_host *h, const char *key) {
    lp__inst *in = lp__inst_of(h);
    if (in == NULL)
        return LP_EINVAL;
    if (in->svc != LP__SVC_CREATE && in->svc != LP__SVC_ATTACH)
        return lp__svc_fail(in, LP_EINVAL,
                            "stat_handle: statistics are registered in create or attach only; "
                            "resolve the handle there and keep it");
    if (!lp__valid_name(key))
        return lp__svc_fail(
            in, LP_EINVAL, "stat_handle: key %s%.64s%s is not a valid name; use [a-z][a-z0-9_]*",
            key != NULL ? "'" : "", key != NULL ? key : "NULL", key != NULL ? "'" : "");
    if (strcmp(key, "loss") == 0)
        return lp__svc_fail(in, LP_EINVAL,
                            "stat_handle: key 'loss' is the host's (it records %s/loss from each "
                            "train result); choose another key",
                            in->cfg->name);
    lp_session *s = in->s;
    for (size_t i = 0; i < s->stat_count; i++)
        if (s->stats[i].owner == in && strcmp(s->stats[i].key, key) == 0)
            return (int32_t)i;
    int32_t handle = -1;
    lp_error err;
    int32_t rc = lp__stat_add(s, in, key, &handle, &err);
    if (rc != LP_OK)
        return lp__svc_fail(in, rc, "stat_handle: %s", err.message);
    return handle;
}

static void svc_stat_record(const lp_host *h, int32_t handle, double value) {
    lp__inst *in = lp__inst_of(h);
    if (in == NULL || handle < 0 || (size_t)handle >= in->s->stat_count ||
        in->s->stats[handle].owner != in)
        return;
    lp__stat_record(in->s, handle, value);
}

static int32_t svc_state_register(const lp_host *h, const char *name, const lp_tensor *t) {
    lp__inst *in = lp__inst_of(h);
    if (in == NULL)
        return LP_EINVAL;
    if (in->svc != LP__SVC_CREATE && in->svc != LP__SVC_ATTACH)
        return lp__svc_fail(in, LP_EINVAL,
                            "state_register: state is registered in create or attach only");
    if (!lp__valid_name(name))
        return lp__svc_fail(in, LP_EINVAL,
                            "state_register: name %s%.64s%s is not a valid name; use "
                            "[a-z][a-z0-9_]*",
                            name != NULL ? "'" : "", name != NULL ? name : "NULL",
                            name != NULL ? "'" : "");
    if (t == NULL || lp_dtype_size(t->dtype) == 0 || t->rank < 0 || t->rank > LP_MAX_RANK)
        return lp__svc_fail(in, LP_EINVAL,
                            "state_register: tensor '%s' is NULL or has an unknown dtype or a rank "
                            "outside 0..%d",
                            name, LP_MAX_RANK);
    int64_t numel = 1;
    for (int32_t d = 0; d < t->rank; d++) {
        if (t->shape[d] < 0 || (t->shape[d] > 0 && numel > INT64_MAX / t->shape[d]))
            return lp__svc_fail(in, LP_EINVAL, "state_register: tensor '%s' has a bad shape", name);
        numel *= t->shape[d];
    }
    if (numel > 0 && t->data == NULL)
        return lp__svc_fail(in, LP_EINVAL, "state_register: tensor '%s' has no data", name);
    lp_session *s = in->s;
    size_t nlen = strlen(in->cfg->name);
    for (size_t i = 0; i < s->state_count; i++)
        if (s->states[i].owner == in && strcmp(s->states[i].name + nlen + 1, name) == 0)
            return lp__svc_fail(in, LP_EINVAL,
                                "state_register: '%s' is already registered by this instance; "
                                "register each tensor once",
                                name);
    if (s->state_count == s->state_cap) {
        size_t cap = s->state_cap ? 2 * s->state_cap : 8;
        lp__state *n = realloc(s->states, cap * sizeof *n);
        if (n == NULL)
            return lp__svc_fail(in, LP_ENOMEM, "state_register: out of memory");
        s->states = n;
        s->state_cap = cap;
    }
    size_t len = nlen + 1 + strlen(name) + 1;
    char *full = malloc(len);
    if (full == NULL)
        return lp__svc_fail(in, LP_ENOMEM, "state_register: out of memory");
    snprintf(full, len, "%s/%s", in->cfg->name, name);
    lp__state *st = &s->states[s->state_count++];
    st->name = full;
    st->owner = in;
    st->view = *t;
    return LP_OK;
}

static int32_t svc_field_handle(const lp_host *h, const char *name) {
    lp__inst *in = lp__inst_of(h);
    if (in == NULL || name == NULL || in->svc < LP__SVC_ATTACH)
        return -1;
    return lp__field_find(in->s, name);
}

static int32_t svc_output_handle(const lp_host *h, const char *name) {
    lp__inst *in = lp__inst_of(h);
    if (in == NULL || name == NULL || in->svc < LP__SVC_ATTACH)
        return -1;
    /* A 1.0 plugin would read a non-discrete policy output as logits. */
    if (in->info->abi_minor < 1 && in->s->env.action_space != LP_ACTION_DISCRETE &&
        strcmp(name, "logits") == 0)
        return -1;
    for (size_t i = 0; i < in->s->output_count; i++)
        if (strcmp(in->s->outputs[i].decl.name, name) == 0)
            return (int32_t)i;
    return -1;
}

static const void *svc_get_extension(const lp_host *h, const char *id) {
    lp__inst *in = lp__inst_of(h);
    if (in == NULL || id == NULL)
        return NULL;
    if (strcmp(id, LP_EXT_MODEL) == 0)
        return lp__model_ext_get(in);
    return NULL;
}

static void fill_host(lp__inst *in) {
    lp_host *h = &in->host;
    lp__host_table_init(h, in);
    h->log = svc_log;
    h->error = svc_error;
    h->stat_handle = svc_stat_handle;
    h->stat_record = svc_stat_record;
    h->state_register = svc_state_register;
    h->field_handle = svc_field_handle;
    h->output_handle = svc_output_handle;
    h->get_extension = svc_get_extension;
}

/* ---- hook results -------------------------------------------------------------- */

int32_t lp__hook_result(lp__inst *in, const char *hook, int32_t rc, lp_error *err) {
    if (rc == LP_OK && in->svc_oom) /* the plugin went on without what it asked for */
        return lp__error_set(err, LP_ENOMEM, "%s: %s: %s; free memory and retry", in->label, hook,
                             in->errmsg);
    if (rc == LP_OK)
        return LP_OK;
    int32_t code = rc < 0 ? rc : LP_EPLUGIN;
    if (in->has_err)
        return lp__error_set(err, code, "%s: %s failed: %s", in->label, hook, in->errmsg);
    return lp__error_set(err, code, "%s: %s failed: it returned %s (%s) without a message",
                         in->label, hook, lp_err_name(rc), lp_strerror(rc));
}

/* ---- fields ------------------------------------------------------------------------ */

/* Copy and check the instance's field list (`source`: its `fields` hook or
 * the descriptor, which the loader checked already), symbols resolved. The
 * checks are the loader's (loader/specs.h). */
static int32_t take_fields(lp__inst *in, const char *source, const lp_field_spec *specs,
                           uint32_t count, lp_error *err) {
    if (count == 0)
        return LP_OK;
    if (specs == NULL)
        return lp__error_set(err, LP_EPLUGIN, "%s: fields: %u fields but no list; fix the plugin",
                             in->label, (unsigned)count);
    if (count > LP__MAX_FIELD_SPECS)
        return lp__error_set(err, LP_EPLUGIN, "%s: fields: %u fields, more than %d; fix the plugin",
                             in->label, (unsigned)count, LP__MAX_FIELD_SPECS);
    lp_field_spec *copy = NULL;
    char why[512];
    int32_t rc = lp__field_specs_copy(specs, count, in->info->abi_minor, &copy, why, sizeof why);
    if (rc != LP_OK)
        return lp__error_set(err, rc, "%s: %s: %s%s (%.400s)", in->label, source, why,
                             rc == LP_EPLUGIN ? "; fix the plugin" : "", in->info->path);
    in->fields = calloc(count, sizeof *in->fields);
    if (in->fields == NULL) {
        free(copy);
        return lp__error_set(err, LP_ENOMEM, "lp_session_open: out of memory");
    }
    for (uint32_t i = 0; i < count; i++) {
        const lp_field_spec *f = &copy[i];
        lp__fdecl *o = &in->fields[i];
        o->name = f->name;
        o->dtype = f->dtype;
        o->access = f->access;
        o->phase = f->phase;
        int r = lp__resolve_shape(&in->s->env, f->rank, f->shape, &o->rank, o->shape);
        if (r != 0) {
            rc = lp__error_set(err, LP_ESPEC, "%s (%s): field '%s': %s", in->label, in->pos_text,
                               f->name,
                               r == -2 ? "it uses NUM_ACTIONS, but the actions are continuous "
                                         "(num_actions 0); use a loss for continuous actions"
                                       : "more than 8 dimensions once OBS and ACTION are spliced "
                                         "in; use a smaller observation shape");
            break;
        }
        in->field_count = i + 1;
    }
    free(copy);
    return rc;
}

/* ---- create, attach, destroy ----------------------------------------------------- */

/* Everything about one instance that needs no plugin code: its plugin, its
 * params bound to the schema, their annealed values. */
static int32_t bind_one(lp_session *s, lp__inst *in, lp_error *err) {
    const lp__loss_cfg *l = in->cfg;
    int32_t rc = lp_registry_find(s->reg, l->plugin, &in->info, err);
    if (rc != LP_OK)
        return rc;
    const lp_loss_desc *desc = in->info->desc;
    if (lp__action_refuses(s, in->info))
        return lp__cfgerr(err, l->pos,
                          "instance '%s': plugin %s (%.300s) was built for ABI %u.%u, which "
                          "predates action spaces: it would read the '%s' action's policy output "
                          "as softmax logits; rebuild it against lossplug/abi.h 1.1 (and handle "
                          "lp_env_info.action_space), or use a discrete action",
                          l->name, l->plugin, in->info->path, (unsigned)in->info->abi_major,
                          (unsigned)in->info->abi_minor,
                          lp__action_space_name(s->env.action_space));
    snprintf(in->label, sizeof in->label, "instance '%s' (plugin %s, %s:%u)", l->name, l->plugin,
             l->pos.file, (unsigned)l->pos.line);
    lp__pos_text(in->pos_text, sizeof in->pos_text, l->pos);
    size_t np = desc->param_count;
    in->params = calloc(np > 0 ? np : 1, sizeof *in->params);
    in->base = calloc(np > 0 ? np : 1, sizeof *in->base);
    size_t na = l->schedule.anneal_count;
    in->anneal_index = calloc(na > 0 ? na : 1, sizeof *in->anneal_index);
    if (in->params == NULL || in->base == NULL || in->anneal_index == NULL)
        return lp__error_set(err, LP_ENOMEM, "lp_session_open: out of memory");
    rc = lp__config_bind_params(s->cfg, l, desc, in->base, in->anneal_index, err);
    if (rc != LP_OK)
        return rc;
    memcpy(in->params, in->base, np * sizeof *in->params);
    for (size_t i = 0; i < na; i++) {
        uint32_t k = in->anneal_index[i];
        lp__anneal_apply(&l->schedule.anneal[i], &in->base[k], &in->params[k], s->epoch,
                         s->env_steps);
    }
    return LP_OK;
}

static int32_t create_one(lp_session *s, lp__inst *in, lp_error *err) {
    const lp__loss_cfg *l = in->cfg;
    const lp_loss_desc *desc = in->info->desc;
    fill_host(in);
    int32_t rc;

    lp_create_args args;
    memset(&args, 0, sizeof args);
    args.struct_size = sizeof args;
    args.param_count = desc->param_count;
    args.host = &in->host;
    args.name = l->name;
    args.params = in->params;
    args.env = &s->env;
    args.config_dir = s->cfg->dir;
    const lp_loss *raw = NULL;
    if (desc->create == NULL) /* described by a scan, not loaded */
        return lp__error_set(err, LP_EPLUGIN,
                             "%s: the plugin file %.400s was described by its scan but not loaded; "
                             "scan it again (it changed?) or open the session without a scan",
                             in->label, in->info->path);
    in->svc = LP__SVC_CREATE;
    lp__hook_begin(in);
    /* Where plugin code runs at open, named in a debug line first: a
     * program that runs the open in a child (lossplug check) can say whose
     * code ended it. */
    lp__session_log(s, LP_LOG_DEBUG, "calling create of %s, from %s", in->label, in->info->path);
    rc = desc->create(&args, &raw);
    if (rc != LP_OK)
        return lp__hook_result(in, "create", rc, err);
    if (raw == NULL)
        return lp__error_set(err, LP_EPLUGIN,
                             "%s: create returned LP_OK but no instance; fix the plugin",
                             in->label);
    if (raw->struct_size < LOSS_V1) {
        /* Too short to be trusted; free it only if its destroy is there.
         * The size is read before: destroy frees what `raw` points into. */
        const uint32_t size = raw->struct_size;
        if (size >= DESTROY_END && raw->destroy != NULL)
            raw->destroy(raw);
        return lp__error_set(err, LP_EABI,
                             "%s: create returned an lp_loss of struct_size %u, below the 1.0 size "
                             "%zu; rebuild %.400s against lossplug/abi.h",
                             in->label, (unsigned)size, (size_t)LOSS_V1, in->info->path);
    }
    memset(&in->loss, 0, sizeof in->loss);
    memcpy(&in->loss, raw, raw->struct_size < sizeof in->loss ? raw->struct_size : sizeof in->loss);
    in->created = 1;
    /* "<instance>/loss" exists only for a loss that can report one: a loss
     * with no train hook (gae) has no column nobody could fill. */
    if (in->loss.train != NULL && (rc = lp__stat_add(s, in, "loss", &in->loss_stat, err)) != LP_OK)
        return rc;
    /* A service it called ran out of memory: the instance may lack what it
     * asked for (a stat, a state tensor), so it is not used. */
    return lp__hook_result(in, "create", LP_OK, err);
}

/* The instance's fields: the descriptor's, or what its `fields` hook says. */
static int32_t fields_one(lp__inst *in, lp_error *err) {
    const lp_loss_desc *desc = in->info->desc;
    int32_t rc;
    const lp_field_spec *specs = desc->fields;
    uint32_t count = desc->field_count;
    const char *source = "descriptor fields";
    if (in->loss.fields != NULL) {
        source = "its fields hook";
        specs = NULL;
        count = 0;
        lp__hook_begin(in);
        lp__session_log(in->s, LP_LOG_DEBUG, "calling fields of %s, from %s", in->label,
                        in->info->path);
        rc = in->loss.fields(&in->loss, &specs, &count);
        if (rc != LP_OK)
            return lp__hook_result(in, "fields", rc, err);
    }
    return take_fields(in, source, specs, count, err);
}

int32_t lp__instances_create(lp_session *s, lp_error *err) {
    size_t n = s->cfg->loss_count;
    s->insts = calloc(n > 0 ? n : 1, sizeof *s->insts);
    if (s->insts == NULL)
        return lp__error_set(err, LP_ENOMEM, "lp_session_open: out of memory");
    s->inst_count = n;
    for (size_t i = 0; i < n; i++) {
        s->insts[i].s = s;
        s->insts[i].index = i;
        s->insts[i].cfg = &s->cfg->losses[i];
        s->insts[i].loss_stat = -1;
    }
    /* The whole composition is checked before any plugin code runs: every
     * plugin found and every param bound first. Then, as docs/abi.md says,
     * create each instance in config order and ask each for its fields. */
    for (size_t i = 0; i < n; i++) {
        int32_t rc = bind_one(s, &s->insts[i], err);
        if (rc != LP_OK)
            return rc;
    }
    for (size_t i = 0; i < n; i++) {
        int32_t rc = create_one(s, &s->insts[i], err);
        if (rc != LP_OK)
            return rc;
    }
    for (size_t i = 0; i < n; i++) {
        int32_t rc = fields_one(&s->insts[i], err);
        if (rc != LP_OK)
            return rc;
    }
    return LP_OK;
}

int32_t lp__instances_attach(lp_session *s, lp_error *err) {
    for (size_t i = 0; i < s->inst_count; i++) {
        lp__inst *in = &s->insts[i];
        in->svc = LP__SVC_ATTACH;
        if (in->loss.attach != NULL) {
            lp__hook_begin(in);
            lp__session_log(s, LP_LOG_DEBUG, "calling attach of %s, from %s", in->label,
                            in->info->path);
            int32_t rc = in->loss.attach(&in->loss, &s->all_batch);
            if (rc != LP_OK)
                return lp__hook_result(in, "attach", rc, err);
        }
        in->svc = LP__SVC_RUN;
    }
    return LP_OK;
}

void lp__instances_destroy(lp_session *s) {
    for (size_t i = s->inst_count; i-- > 0;) {
        lp__inst *in = &s->insts[i];
        if (in->created && in->loss.destroy != NULL) {
            lp__session_log(s, LP_LOG_DEBUG, "calling destroy of %s, from %s", in->label,
                            in->info->path);
            in->loss.destroy(&in->loss);
        }
        free(in->fields);
        free(in->params);
        free(in->base);
        free(in->anneal_index);
    }
    free(s->insts);
    s->insts = NULL;
    s->inst_count = 0;
}
