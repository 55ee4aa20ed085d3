/* lp_mlp: options, layout of the flat arrays, the tensor table,
 * initialisation and the work buffers. Forward and backward are in
 * mlp_pass.c, the lp_model adapter in mlp_model.c. */
#include "model/mlp_impl.h"
#include "model/ortho.h"
#include "model/rng.h"

#include "util/error.h"
#include "util/options.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int64_t lp__default_hidden[2] = {64, 64};

void lp_mlp_options_init(lp_mlp_options *opt) {
    if (!lp__opts_reset(opt, sizeof *opt))
        return;
    opt->hidden = lp__default_hidden;
    opt->hidden_count = 2;
    opt->activation = LP_ACTIVATION_TANH;
    opt->shared_trunk = 0;
    opt->seed = 1;
    opt->max_batch = 1024;
    opt->hidden_gain = sqrt(2.0);
    opt->actor_gain = 0.01;
    opt->critic_gain = 1.0;
    opt->action_space = LP_ACTION_DISCRETE;
    opt->log_std_init = 0.0;
}

static int32_t check_options(const lp_mlp_options *o, lp_error *err) {
    if (o->obs_dim <= 0 || o->obs_dim > LP__MLP_MAX_DIM)
        return lp__error_set(err, LP_EINVAL,
                             "lp_mlp_create: obs_dim is %lld: set it to the flattened observation "
                             "size (1 .. %lld)",
                             (long long)o->obs_dim, (long long)LP__MLP_MAX_DIM);
    if (o->num_actions <= 0 || o->num_actions > LP__MLP_MAX_DIM)
        return lp__error_set(err, LP_EINVAL,
                             "lp_mlp_create: num_actions is %lld: set it to the policy output's "
                             "width (lp_env_info.policy_width: 1 .. %lld)",
                             (long long)o->num_actions, (long long)LP__MLP_MAX_DIM);
    if (o->action_space != LP_ACTION_DISCRETE && o->action_space != LP_ACTION_MULTI_DISCRETE &&
        o->action_space != LP_ACTION_BOX)
        return lp__error_set(err, LP_EINVAL,
                             "lp_mlp_create: action_space is %d: use LP_ACTION_DISCRETE (%d), "
                             "LP_ACTION_MULTI_DISCRETE (%d) or LP_ACTION_BOX (%d)",
                             (int)o->action_space, LP_ACTION_DISCRETE, LP_ACTION_MULTI_DISCRETE,
                             LP_ACTION_BOX);
    if (o->action_space == LP_ACTION_BOX && o->num_actions % 2 != 0)
        return lp__error_set(err, LP_EINVAL,
                             "lp_mlp_create: num_actions is %lld with a box action: the Gaussian "
                             "policy outputs means then log-stds, 2 x the action dimensions (an "
                             "even width)",
                             (long long)o->num_actions);
    if (o->action_space == LP_ACTION_BOX && !isfinite(o->log_std_init))
        return lp__error_set(err, LP_EINVAL,
                             "lp_mlp_create: log_std_init is %g: give a finite value (CleanRL: 0)",
                             o->log_std_init);
    if (o->hidden_count > LP_MLP_MAX_HIDDEN)
        return lp__error_set(err, LP_EINVAL,
                             "lp_mlp_create: %zu hidden layers: at most %d (LP_MLP_MAX_HIDDEN)",
                             o->hidden_count, LP_MLP_MAX_HIDDEN);
    if (o->hidden_count > 0 && o->hidden == NULL)
        return lp__error_set(err, LP_EINVAL,
                             "lp_mlp_create: hidden is NULL while hidden_count is %zu: pass the "
                             "sizes or a count of 0",
                             o->hidden_count);
    for (size_t i = 0; i < o->hidden_count; i++) {
        if (o->hidden[i] <= 0 || o->hidden[i] > LP__MLP_MAX_DIM)
            return lp__error_set(err, LP_EINVAL,
                                 "lp_mlp_create: hidden[%zu] is %lld: a layer size is 1 .. %lld", i,
                                 (long long)o->hidden[i], (long long)LP__MLP_MAX_DIM);
    }
    if (o->activation != LP_ACTIVATION_TANH && o->activation != LP_ACTIVATION_RELU)
        return lp__error_set(err, LP_EINVAL,
                             "lp_mlp_create: activation is %d: use LP_ACTIVATION_TANH (%d) or "
                             "LP_ACTIVATION_RELU (%d)",
                             (int)o->activation, LP_ACTIVATION_TANH, LP_ACTIVATION_RELU);
    if (o->shared_trunk != 0 && o->shared_trunk != 1)
        return lp__error_set(err, LP_EINVAL, "lp_mlp_create: shared_trunk is %d: use 0 or 1",
                             (int)o->shared_trunk);
    if (o->max_batch <= 0 || o->max_batch > LP__MLP_MAX_BATCH)
        return lp__error_set(err, LP_EINVAL,
                             "lp_mlp_create: max_batch is %lld: give the most rows a forward will "
                             "take (1 .. %lld)",
                             (long long)o->max_batch, (long long)LP__MLP_MAX_BATCH);
    const double gains[3] = {o->hidden_gain, o->actor_gain, o->critic_gain};
    const char *gain_names[3] = {"hidden_gain", "actor_gain", "critic_gain"};
    for (int i = 0; i < 3; i++) {
        if (!isfinite(gains[i]) || gains[i] < 0.0)
            return lp__error_set(err, LP_EINVAL,
                                 "lp_mlp_create: %s is %g: a gain is finite and >= 0 (CleanRL: "
                                 "sqrt 2 hidden, 0.01 actor, 1.0 critic)",
                                 gain_names[i], gains[i]);
    }
    return LP_OK;
}

/* Offsets of every layer in the flat arrays and the tensor table, in the
 * documented order: per trunk its layers then (separate trunks) its head;
 * with a shared trunk both heads follow it. Each layer: w then b. */
static void lay_out(lp_mlp *m) {
    static const char *const trunk_names[2][2] = {{"trunk", "trunk"}, {"actor", "critic"}};
    size_t off = 0;
    size_t hc = m->hidden_count;
    lp__layer *order[LP__MLP_MAX_LAYERS];
    const char *group[LP__MLP_MAX_LAYERS];
    int index[LP__MLP_MAX_LAYERS]; /* -1: head */
    size_t n = 0;
    for (size_t t = 0; t < m->trunk_count; t++) {
        for (size_t l = 0; l < hc; l++) {
            order[n] = lp__trunk_layer(m, t, l);
            group[n] = trunk_names[m->shared ? 0 : 1][t];
            index[n++] = (int)l;
        }
        if (!m->shared) {
            order[n] = t == 0 ? lp__actor_head(m) : lp__critic_head(m);
            group[n] = t == 0 ? "actor" : "critic";
            index[n++] = -1;
        }
    }
    if (m->shared) {
        order[n] = lp__actor_head(m);
        group[n] = "actor";
        index[n++] = -1;
        order[n] = lp__critic_head(m);
        group[n] = "critic";
        index[n++] = -1;
    }
    m->tensor_count = 0;
    for (size_t i = 0; i < n; i++) {
        lp__layer *L = order[i];
        for (int part = 0; part < 2; part++) {
            size_t k = m->tensor_count++;
            lp_mlp_tensor_info *ti = &m->tensors[k];
            const char *suffix = part == 0 ? "w" : "b";
            if (index[i] < 0)
                snprintf(m->names[k], sizeof m->names[k], "model/%s/head/%s", group[i], suffix);
            else
                snprintf(m->names[k], sizeof m->names[k], "model/%s/%u/%s", group[i],
                         (unsigned)index[i], suffix);
            ti->name = m->names[k];
            ti->offset = off;
            ti->reserved = 0;
            if (part == 0) {
                L->w = off;
                ti->rank = 2;
                ti->shape[0] = L->out;
                ti->shape[1] = L->in;
                off += (size_t)(L->out * L->in);
            } else {
                L->b = off;
                ti->rank = 1;
                ti->shape[0] = L->out;
                ti->shape[1] = 0;
                off += (size_t)L->out;
            }
        }
        if (L == lp__actor_head(m) && m->action_space == LP_ACTION_BOX) {
            /* the Gaussian's log-stds, after the head that computes the means */
            size_t k = m->tensor_count++;
            lp_mlp_tensor_info *ti = &m->tensors[k];
            snprintf(m->names[k], sizeof m->names[k], "model/actor/log_std");
            ti->name = m->names[k];
            ti->offset = off;
            ti->rank = 1;
            ti->reserved = 0;
            ti->shape[0] = L->out;
            ti->shape[1] = 0;
            m->log_std = off;
            off += (size_t)L->out;
        }
    }
    m->param_count = off;
}

/* Orthogonal weights with CleanRL's gains, zero biases, one random stream in
 * the order of the flat array; a Gaussian's log-stds at log_std_init. */
static int32_t init_params(lp_mlp *m, uint64_t seed, const lp_mlp_options *o, lp_error *err) {
    size_t largest = 0;
    for (size_t i = 0; i < m->tensor_count; i++) {
        size_t sz =
            (size_t)(m->tensors[i].rank == 2 ? m->tensors[i].shape[0] * m->tensors[i].shape[1] : 0);
        if (sz > largest)
            largest = sz;
    }
    double *scratch = malloc(largest * sizeof *scratch);
    if (scratch == NULL)
        return lp__error_set(err, LP_ENOMEM,
                             "lp_mlp_create: out of memory for %zu bytes of initialisation scratch",
                             largest * sizeof *scratch);
    int32_t rc = LP_OK;
    lp__rng rng;
    lp__rng_seed(&rng, seed);
    memset(m->params, 0, m->param_count * sizeof *m->params);
    lp__layer *actor = lp__actor_head(m), *critic = lp__critic_head(m);
    for (size_t i = 0; i < m->tensor_count; i++) {
        const lp_mlp_tensor_info *ti = &m->tensors[i];
        if (ti->rank != 2)
            continue;
        double gain = o->hidden_gain;
        if (ti->offset == actor->w)
            gain = o->actor_gain;
        else if (ti->offset == critic->w)
            gain = o->critic_gain;
        int orc =
            lp__orthogonal(m->params + ti->offset, ti->shape[0], ti->shape[1], gain, &rng, scratch);
        if (orc == LP__ORTHO_ENOMEM) {
            rc = lp__error_set(err, LP_ENOMEM,
                               "lp_mlp_create: out of memory for the QR of %s [%lld, %lld]: use "
                               "smaller layers",
                               ti->name, (long long)ti->shape[0], (long long)ti->shape[1]);
            break;
        }
        if (orc != 0) {
            rc = lp__error_set(err, LP_ENUMERIC,
                               "lp_mlp_create: the random draw for %s is rank-deficient: try "
                               "another seed",
                               ti->name);
            break;
        }
    }
    free(scratch);
    if (m->action_space == LP_ACTION_BOX)
        for (int64_t k = 0; k < m->num_actions / 2; k++)
            m->params[m->log_std + (size_t)k] = (float)o->log_std_init;
    return rc;
}

/* One block for every activation buffer and the backward scratch, sized
 * for `rows`; the layers point into it. */
static float *alloc_work(const lp_mlp *m, int64_t rows, size_t *floats) {
    size_t per_row = 0;
    for (size_t t = 0; t < m->trunk_count; t++)
        for (size_t l = 0; l < m->hidden_count; l++)
            per_row += (size_t)m->hidden[l];
    per_row += 2 * (size_t)m->max_hidden;
    *floats = per_row * (size_t)rows;
    if (*floats == 0)
        return NULL;
    return malloc(*floats * sizeof(float));
}

static void point_work(lp_mlp *m, float *work, int64_t rows) {
    float *p = work;
    m->work = work;
    m->max_batch = rows;
    if (work == NULL) { /* no hidden layers: nothing to keep */
        m->dbuf[0] = m->dbuf[1] = NULL;
        return;
    }
    for (size_t t = 0; t < m->trunk_count; t++) {
        for (size_t l = 0; l < m->hidden_count; l++) {
            lp__layer *L = lp__trunk_layer(m, t, l);
            L->act = p;
            p += (size_t)rows * (size_t)L->out;
        }
    }
    m->dbuf[0] = p;
    p += (size_t)rows * (size_t)m->max_hidden;
    m->dbuf[1] = p;
}

int32_t lp_mlp_create(const lp_mlp_options *opt, lp_mlp **out, lp_error *err) {
    lp_mlp_options o;
    lp_mlp *m = NULL;
    int32_t rc = LP_OK;
    if (out == NULL)
        return lp__error_set(err, LP_EINVAL,
                             "lp_mlp_create: out is NULL: pass where to store the "
                             "model");
    *out = NULL;
    /* Older and newer callers alike (util/options.h). */
    lp_mlp_options_init(&o);
    rc = lp__opts_take(&o, sizeof o, opt, LP__SIZE_THROUGH(lp_mlp_options, critic_gain),
                       "lp_mlp_create", "lp_mlp_options_init", err);
    if (rc != LP_OK)
        return rc;
    rc = check_options(&o, err);
    if (rc != LP_OK)
        return rc;

    m = calloc(1, sizeof *m);
    if (m == NULL)
        return lp__error_set(err, LP_ENOMEM,
                             "lp_mlp_create: out of memory for the model (%zu bytes)", sizeof *m);
    m->obs_dim = o.obs_dim;
    m->num_actions = o.num_actions;
    m->action_space = o.action_space;
    m->activation = o.activation;
    m->shared = o.shared_trunk;
    m->hidden_count = o.hidden_count;
    m->trunk_count = o.shared_trunk ? 1 : 2;
    m->fwd_rows = -1;
    lp__mlp_kern_best(&m->kern);
    for (size_t l = 0; l < o.hidden_count; l++) {
        m->hidden[l] = o.hidden[l];
        if (o.hidden[l] > m->max_hidden)
            m->max_hidden = o.hidden[l];
    }
    for (size_t t = 0; t < m->trunk_count; t++) {
        for (size_t l = 0; l < m->hidden_count; l++) {
            lp__layer *L = lp__trunk_layer(m, t, l);
            L->in = l == 0 ? m->obs_dim : m->hidden[l - 1];
            L->out = m->hidden[l];
        }
    }
    int64_t head_in = m->hidden_count > 0 ? m->hidden[m->hidden_count - 1] : m->obs_dim;
    lp__actor_head(m)->in = head_in;
    lp__actor_head(m)->out = m->action_space == LP_ACTION_BOX ? m->num_actions / 2 : m->num_actions;
    lp__critic_head(m)->in = head_in;
    lp__critic_head(m)->out = 1;
    lay_out(m);

    m->params = malloc(m->param_count * sizeof *m->params);
    m->grads = calloc(m->param_count, sizeof *m->grads);
    if (m->params == NULL || m->grads == NULL) {
        rc = lp__error_set(err, LP_ENOMEM,
                           "lp_mlp_create: out of memory for %zu parameters and their gradients "
                           "(%zu bytes): use smaller layers",
                           m->param_count, 2 * m->param_count * sizeof(float));
        goto fail;
    }
    size_t floats = 0;
    float *work = alloc_work(m, o.max_batch, &floats);
    if (work == NULL && floats > 0) {
        rc = lp__error_set(err, LP_ENOMEM,
                           "lp_mlp_create: out of memory for the work buffers of %lld rows (%zu "
                           "bytes): lower max_batch",
                           (long long)o.max_batch, floats * sizeof(float));
        goto fail;
    }
    point_work(m, work, o.max_batch);
    rc = init_params(m, o.seed, &o, err);
    if (rc != LP_OK)
        goto fail;
    *out = m;
    return LP_OK;

fail:
    lp_mlp_destroy(m);
    return rc;
}

void lp_mlp_destroy(lp_mlp *m) {
    if (m == NULL)
        return;
    free(m->work);
    free(m->params);
    free(m->grads);
    free(m);
}

int32_t lp_mlp_reserve(lp_mlp *m, int64_t max_batch, lp_error *err) {
    if (m == NULL)
        return lp__error_set(err, LP_EINVAL, "lp_mlp_reserve: the model is NULL");
    if (max_batch <= 0 || max_batch > LP__MLP_MAX_BATCH)
        return lp__error_set(err, LP_EINVAL,
                             "lp_mlp_reserve: max_batch is %lld: give 1 .. %lld rows",
                             (long long)max_batch, (long long)LP__MLP_MAX_BATCH);
    if (max_batch <= m->max_batch)
        return LP_OK;
    size_t floats = 0;
    float *work = alloc_work(m, max_batch, &floats);
    if (work == NULL && floats > 0)
        return lp__error_set(err, LP_ENOMEM,
                             "lp_mlp_reserve: out of memory for the work buffers of %lld rows (%zu "
                             "bytes): the model keeps its %lld rows",
                             (long long)max_batch, floats * sizeof(float), (long long)m->max_batch);
    free(m->work);
    point_work(m, work, max_batch);
    m->fwd_rows = -1; /* the kept activations are gone */
    return LP_OK;
}

int64_t lp_mlp_obs_dim(const lp_mlp *m) {
    return m != NULL ? m->obs_dim : 0;
}
int64_t lp_mlp_num_actions(const lp_mlp *m) {
    return m != NULL ? m->num_actions : 0;
}
int64_t lp_mlp_max_batch(const lp_mlp *m) {
    return m != NULL ? m->max_batch : 0;
}
size_t lp_mlp_param_count(const lp_mlp *m) {
    return m != NULL ? m->param_count : 0;
}
float *lp_mlp_params(lp_mlp *m) {
    return m != NULL ? m->params : NULL;
}
float *lp_mlp_grads(lp_mlp *m) {
    return m != NULL ? m->grads : NULL;
}
size_t lp_mlp_tensor_count(const lp_mlp *m) {
    return m != NULL ? m->tensor_count : 0;
}
const lp_mlp_tensor_info *lp_mlp_tensor_at(const lp_mlp *m, size_t index) {
    if (m == NULL || index >= m->tensor_count)
        return NULL;
    return &m->tensors[index];
}

size_t lp_mlp_named_params(lp_mlp *m, lp_named_tensor *out, size_t cap) {
    if (m == NULL)
        return 0;
    for (size_t i = 0; i < m->tensor_count && i < cap && out != NULL; i++) {
        const lp_mlp_tensor_info *ti = &m->tensors[i];
        lp_named_tensor *nt = &out[i];
        memset(nt, 0, sizeof *nt);
        nt->name = ti->name;
        nt->view.data = m->params + ti->offset;
        nt->view.dtype = LP_DTYPE_F32;
        nt->view.rank = ti->rank;
        nt->view.shape[0] = ti->shape[0];
        if (ti->rank == 2) {
            nt->view.shape[1] = ti->shape[1];
            nt->view.strides[0] = ti->shape[1];
            nt->view.strides[1] = 1;
        } else {
            nt->view.strides[0] = 1;
        }
    }
    return m->tensor_count;
}

void lp_mlp_zero_grad(lp_mlp *m) {
    if (m == NULL)
        return;
    memset(m->grads, 0, m->param_count * sizeof *m->grads);
}
