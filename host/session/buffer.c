/* The experience buffer: one 64-byte-aligned allocation holding every field
 * as [segments, horizon, ...], each field's start 64-byte aligned; the
 * whole-buffer, rollout-step and minibatch views over it; the gather scratch
 * for shuffled minibatches; the model's outputs and their gradients. All of
 * it is allocated here, at open: the rollout and minibatch paths only move
 * pointers and copy rows. */
#include "session/session_impl.h"

#include "util/memory.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ALIGN LP__SESSION_ALIGN

/* a * b into *out; 0 on overflow. */
static int mul_ok(size_t a, size_t b, size_t *out) {
    if (b != 0 && a > SIZE_MAX / b)
        return 0;
    *out = a * b;
    return 1;
}

static int add_aligned(size_t *offset, size_t bytes) {
    size_t o = *offset;
    if (o > SIZE_MAX - (ALIGN - 1))
        return 0;
    o = (o + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (bytes > SIZE_MAX - o)
        return 0;
    *offset = o + bytes;
    return 1;
}

/* Elements of a per-step shape. */
static int elems_of(int32_t rank, const int64_t *shape, size_t *out) {
    size_t n = 1;
    for (int32_t d = 0; d < rank; d++)
        if (shape[d] <= 0 || !mul_ok(n, (size_t)shape[d], &n))
            return 0;
    *out = n;
    return 1;
}

void lp__batch_frame(lp_batch *b, const lp_session *s, const lp_tensor *fields,
                     const lp_tensor *outs, const lp_tensor *grads, int64_t rows, int64_t horizon) {
    memset(b, 0, sizeof *b);
    b->struct_size = sizeof *b;
    b->field_count = (uint32_t)s->field_count;
    b->fields = fields;
    if (outs != NULL) {
        b->output_count = (uint32_t)s->output_count;
        b->outputs = outs;
        b->grads = grads;
    }
    b->rows = rows;
    b->horizon = horizon;
}

void lp__set_view(lp_tensor *t, void *data, int32_t dtype, int64_t rows, int64_t horizon,
                  int32_t rank, const int64_t *shape) {
    memset(t, 0, sizeof *t);
    t->data = data;
    t->dtype = dtype;
    t->rank = rank + 2;
    t->shape[0] = rows;
    t->shape[1] = horizon;
    for (int32_t d = 0; d < rank; d++)
        t->shape[d + 2] = shape[d];
    int64_t stride = 1;
    for (int32_t d = t->rank - 1; d >= 0; d--) {
        t->strides[d] = stride;
        stride *= t->shape[d];
    }
}

static int32_t too_big(lp_error *err, const char *what) {
    return lp__error_set(err, LP_ERANGE,
                         "the buffer is too large (%s overflows the address space); use fewer "
                         "segments, a shorter horizon or smaller fields",
                         what);
}

/* The buffer, the minibatch scratch and the model outputs: aligned heap
 * memory, or, for a session opened only to check (check_only), anonymous
 * mappings that reserve address space and take no memory until touched,
 * which a check never does. */
static void *big_alloc(const lp_session *s, size_t bytes) {
    if (!s->opt.check_only)
        return aligned_alloc(ALIGN, bytes);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void big_free(const lp_session *s, void *p, size_t bytes) {
    if (p == NULL)
        return;
    if (s->opt.check_only)
        munmap(p, bytes);
    else
        free(p);
}

/* a + b, saturating. */
static uint64_t sat_add(uint64_t a, uint64_t b) {
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Everything the buffer's open would allocate, against buffer.max_bytes (or
 * the default, half of the physical memory), before anything is allocated:
 * a config that asks for too much is refused at once, at the key that made
 * it big, instead of by malloc or the OOM killer much later. */
static int32_t check_limit(const lp_session *s, size_t seg, size_t hor, size_t mb_rows, int trans,
                           lp_error *err) {
    const lp__buffer_cfg *b = &s->cfg->buffer;
    uint64_t need = sat_add(s->buf_bytes, s->scratch_bytes);
    need = sat_add(need, 2 * (uint64_t)s->out_bytes);
    uint64_t index_words = sat_add((uint64_t)s->perm_count, seg);
    if (trans)
        index_words = sat_add(index_words, 2 * (uint64_t)mb_rows);
    need = sat_add(need, index_words > UINT64_MAX / 8 ? UINT64_MAX : index_words * 8);
    uint64_t limit = b->max_bytes > 0 ? (uint64_t)b->max_bytes : lp__memory_limit_default();
    if (need <= limit)
        return LP_OK;
    uint64_t per_step = 0;
    for (size_t i = 0; i < s->field_count; i++)
        per_step = sat_add(per_step, s->fields[i].step_bytes);
    /* The key to blame: the larger of segments and horizon. */
    const lp__kvpos *key = b->segments >= b->horizon ? &b->segments_pos : &b->horizon_pos;
    const char *name = b->segments >= b->horizon ? "segments" : "horizon";
    char at[256], needs[64], lim[64];
    lp__pos_text(at, sizeof at, key->key);
    lp__bytes_text(need, needs, sizeof needs);
    lp__bytes_text(limit, lim, sizeof lim);
    return lp__error_set(
        err, LP_ECONFIG,
        "%s: the buffer would need %s (%zu segments x %zu steps x %llu bytes per "
        "step, with the minibatch scratch and the model outputs), more than %s %s; "
        "reduce buffer.%s (or the fields' sizes), or raise buffer.max_bytes if this "
        "machine really has the memory",
        at, needs, seg, hor, (unsigned long long)per_step,
        b->max_bytes > 0 ? "buffer.max_bytes," : "the default limit (half of the physical memory),",
        lim, name);
}

int32_t lp__buffer_open(lp_session *s, lp_error *err) {
    const size_t seg = (size_t)s->env.segments, hor = (size_t)s->env.horizon;
    const size_t mb = (size_t)s->plan.minibatch_segments;
    const int trans = s->plan.sample == LP_SAMPLE_TRANSITIONS;
    /* A minibatch's shape: [mb, hor] rows, or [mb * hor, 1] samples. The
     * same bytes either way, so the scratch and outputs do not change. */
    const size_t mb_rows = trans ? mb * hor : mb, mb_hor = trans ? 1 : hor;
    s->perm_count = (int64_t)(trans ? seg * hor : seg);
    size_t total = 0, scratch = 0;
    for (size_t i = 0; i < s->field_count; i++) {
        lp__mfield *f = &s->fields[i];
        size_t elems, bytes;
        if (!elems_of(f->info.rank, f->info.shape, &elems) ||
            !mul_ok(elems, lp_dtype_size(f->info.dtype), &f->step_bytes) ||
            !mul_ok(f->step_bytes, hor, &f->row_bytes) || !mul_ok(f->row_bytes, seg, &bytes) ||
            elems > (size_t)INT64_MAX)
            return too_big(err, f->name);
        f->step_elems = (int64_t)elems;
        f->info.bytes = bytes;
        if (!add_aligned(&total, 0))
            return too_big(err, "the total");
        f->info.offset = total;
        if (!add_aligned(&total, bytes))
            return too_big(err, "the total");
        size_t mb_bytes;
        if (!mul_ok(f->row_bytes, mb, &mb_bytes) || !add_aligned(&scratch, 0))
            return too_big(err, f->name);
        f->scratch_offset = scratch;
        if (!add_aligned(&scratch, mb_bytes))
            return too_big(err, "the scratch");
    }
    size_t out_bytes = 0;
    for (size_t i = 0; i < s->output_count; i++) {
        lp__output *o = &s->outputs[i];
        size_t elems, bytes;
        if (!elems_of(o->decl.rank, o->decl.shape, &elems) || elems > (size_t)INT64_MAX ||
            !mul_ok(elems, lp_dtype_size(o->decl.dtype), &bytes) || !mul_ok(bytes, hor, &bytes) ||
            !mul_ok(bytes, mb, &bytes) || !add_aligned(&out_bytes, bytes))
            return too_big(err, o->decl.name);
        o->sample_elems = (int64_t)elems;
        o->bytes = bytes;
    }
    if (total > SIZE_MAX - ALIGN || scratch > SIZE_MAX - ALIGN || out_bytes > SIZE_MAX / 2 - ALIGN)
        return too_big(err, "the total");
    s->buf_bytes = lp__align_up(total > 0 ? total : 1);
    s->out_bytes = lp__align_up(out_bytes > 0 ? out_bytes : 1);
    s->scratch_bytes = s->plan.shuffle ? lp__align_up(scratch > 0 ? scratch : 1) : 0;
    int32_t rc = check_limit(s, seg, hor, mb_rows, trans, err);
    if (rc != LP_OK)
        return rc;
    s->buf = big_alloc(s, s->buf_bytes);
    size_t nf = s->field_count > 0 ? s->field_count : 1;
    size_t no = s->output_count > 0 ? s->output_count : 1;
    s->all_views = calloc(nf, sizeof *s->all_views);
    s->step_views = calloc(nf, sizeof *s->step_views);
    s->mb_views = calloc(nf, sizeof *s->mb_views);
    s->identity = calloc(seg, sizeof *s->identity);
    s->perm = calloc((size_t)s->perm_count, sizeof *s->perm);
    if (trans) {
        s->mb_rows = calloc(mb_rows, sizeof *s->mb_rows);
        s->mb_steps = calloc(mb_rows, sizeof *s->mb_steps);
    }
    s->out_mem = big_alloc(s, 2 * s->out_bytes);
    s->out_views = calloc(no, sizeof *s->out_views);
    s->grad_views = calloc(no, sizeof *s->grad_views);
    if (s->plan.shuffle)
        s->scratch = big_alloc(s, s->scratch_bytes);
    if (s->buf == NULL || s->all_views == NULL || s->step_views == NULL || s->mb_views == NULL ||
        s->identity == NULL || s->perm == NULL || s->out_mem == NULL || s->out_views == NULL ||
        s->grad_views == NULL || (s->plan.shuffle && s->scratch == NULL) ||
        (trans && (s->mb_rows == NULL || s->mb_steps == NULL)))
        return lp__error_set(err, LP_ENOMEM,
                             "out of memory allocating the buffer (%zu bytes) and its views; use "
                             "fewer segments, a shorter horizon or smaller fields",
                             s->buf_bytes);
    if (!s->opt.check_only) {
        /* A check's mappings are zero already and stay untouched. */
        memset(s->buf, 0, s->buf_bytes);
        memset(s->out_mem, 0, 2 * s->out_bytes);
        if (s->scratch != NULL)
            memset(s->scratch, 0, s->scratch_bytes);
        for (size_t r = 0; r < seg; r++)
            s->identity[r] = (int64_t)r;
        for (int64_t r = 0; r < s->perm_count; r++)
            s->perm[r] = r;
    }

    for (size_t i = 0; i < s->field_count; i++) {
        const lp__mfield *f = &s->fields[i];
        unsigned char *base = s->buf + f->info.offset;
        lp__set_view(&s->all_views[i], base, f->info.dtype, (int64_t)seg, (int64_t)hor,
                     f->info.rank, f->info.shape);
        lp__set_view(&s->mb_views[i], base, f->info.dtype, (int64_t)mb_rows, (int64_t)mb_hor,
                     f->info.rank, f->info.shape);
        /* A step: [segments, ...] at step t, rows horizon steps apart. */
        lp_tensor *st = &s->step_views[i];
        memset(st, 0, sizeof *st);
        st->data = base;
        st->dtype = f->info.dtype;
        st->rank = f->info.rank + 1;
        st->shape[0] = (int64_t)seg;
        st->strides[0] = (int64_t)hor * f->step_elems;
        for (int32_t d = 0; d < f->info.rank; d++) {
            st->shape[d + 1] = f->info.shape[d];
            st->strides[d + 1] = s->all_views[i].strides[d + 2];
        }
    }
    size_t off = 0;
    for (size_t i = 0; i < s->output_count; i++) {
        const lp__output *o = &s->outputs[i];
        add_aligned(&off, 0);
        lp__set_view(&s->out_views[i], s->out_mem + off, o->decl.dtype, (int64_t)mb_rows,
                     (int64_t)mb_hor, o->decl.rank, o->decl.shape);
        lp__set_view(&s->grad_views[i], s->out_mem + s->out_bytes + off, o->decl.dtype,
                     (int64_t)mb_rows, (int64_t)mb_hor, o->decl.rank, o->decl.shape);
        off += o->bytes;
    }

    lp_batch *b = &s->all_batch;
    lp__batch_frame(b, s, s->all_views, NULL, NULL, (int64_t)seg, (int64_t)hor);
    b->row_index = s->identity;
    s->step_batch = *b;
    s->step_batch.fields = s->step_views;
    b = &s->mb_batch;
    lp__batch_frame(b, s, s->mb_views, s->out_views, s->grad_views, (int64_t)mb_rows,
                    (int64_t)mb_hor);
    b->row_index = trans ? s->mb_rows : s->identity;
    b->step_index = trans ? s->mb_steps : NULL;
    return LP_OK;
}

void lp__buffer_free(lp_session *s) {
    big_free(s, s->buf, s->buf_bytes);
    big_free(s, s->out_mem, 2 * s->out_bytes);
    big_free(s, s->scratch, s->scratch_bytes);
    free(s->all_views);
    free(s->step_views);
    free(s->mb_views);
    free(s->identity);
    free(s->perm);
    free(s->mb_rows);
    free(s->mb_steps);
    free(s->out_views);
    free(s->grad_views);
}

void lp__buffer_step(lp_session *s, int64_t t) {
    for (size_t i = 0; i < s->field_count; i++)
        s->step_views[i].data =
            s->buf + s->fields[i].info.offset + (size_t)t * s->fields[i].step_bytes;
}

/* dst[j] = src[idx[j]] (gather) or dst[idx[j]] = src[j] (scatter) for `n`
 * elements of `size` bytes; memcpy of a constant size compiles to a move, so
 * the common sizes get their own loop. */
#define MOVE_LOOP(size, dst_at, src_at)                                                            \
    for (size_t j = 0; j < n; j++)                                                                 \
    memcpy(dst + (size_t)(dst_at) * (size), src + (size_t)(src_at) * (size), (size))

static void gather_samples(unsigned char *dst, const unsigned char *src, const int64_t *idx,
                           size_t n, size_t size) {
    if (size == 4)
        MOVE_LOOP(4, j, idx[j]);
    else if (size == 1)
        MOVE_LOOP(1, j, idx[j]);
    else if (size == 8)
        MOVE_LOOP(8, j, idx[j]);
    else
        MOVE_LOOP(size, j, idx[j]);
}

static void scatter_samples(unsigned char *dst, const unsigned char *src, const int64_t *idx,
                            size_t n, size_t size) {
    if (size == 4)
        MOVE_LOOP(4, idx[j], j);
    else if (size == 1)
        MOVE_LOOP(1, idx[j], j);
    else if (size == 8)
        MOVE_LOOP(8, idx[j], j);
    else
        MOVE_LOOP(size, idx[j], j);
}

/* Transitions: sample j of minibatch k is perm[k * n + j] = row * horizon +
 * step, at byte (row * horizon + step) * step_bytes of its field. */
static void minibatch_samples(lp_session *s, int64_t k) {
    const size_t n = (size_t)s->plan.minibatch_samples;
    const int64_t hor = s->env.horizon;
    const int64_t *idx = s->perm + (size_t)k * n;
    for (size_t j = 0; j < n; j++) {
        s->mb_rows[j] = idx[j] / hor;
        s->mb_steps[j] = idx[j] % hor;
    }
    for (size_t i = 0; i < s->field_count; i++) {
        const lp__mfield *f = &s->fields[i];
        unsigned char *dst = s->scratch + f->scratch_offset;
        gather_samples(dst, s->buf + f->info.offset, idx, n, f->step_bytes);
        s->mb_views[i].data = dst;
    }
    memset(s->out_mem + s->out_bytes, 0, s->out_bytes);
}

void lp__buffer_minibatch(lp_session *s, int64_t k) {
    if (s->plan.sample == LP_SAMPLE_TRANSITIONS) {
        minibatch_samples(s, k);
        return;
    }
    const size_t mb = (size_t)s->plan.minibatch_segments;
    const size_t row0 = (size_t)k * mb;
    if (!s->plan.shuffle) {
        for (size_t i = 0; i < s->field_count; i++)
            s->mb_views[i].data = s->buf + s->fields[i].info.offset + row0 * s->fields[i].row_bytes;
        s->mb_batch.row_index = s->identity + row0;
    } else {
        const int64_t *rows = s->perm + row0;
        for (size_t i = 0; i < s->field_count; i++) {
            const lp__mfield *f = &s->fields[i];
            unsigned char *dst = s->scratch + f->scratch_offset;
            const unsigned char *src = s->buf + f->info.offset;
            for (size_t r = 0; r < mb; r++)
                memcpy(dst + r * f->row_bytes, src + (size_t)rows[r] * f->row_bytes, f->row_bytes);
            s->mb_views[i].data = dst;
        }
        s->mb_batch.row_index = rows;
    }
    memset(s->out_mem + s->out_bytes, 0, s->out_bytes);
}

void lp__buffer_scatter(lp_session *s, int64_t k) {
    if (!s->plan.shuffle)
        return;
    if (s->plan.sample == LP_SAMPLE_TRANSITIONS) {
        const size_t n = (size_t)s->plan.minibatch_samples;
        const int64_t *idx = s->perm + (size_t)k * n;
        for (size_t i = 0; i < s->field_count; i++) {
            const lp__mfield *f = &s->fields[i];
            if (f->train_written)
                scatter_samples(s->buf + f->info.offset, s->scratch + f->scratch_offset, idx, n,
                                f->step_bytes);
        }
        return;
    }
    const size_t mb = (size_t)s->plan.minibatch_segments;
    const int64_t *rows = s->perm + (size_t)k * mb;
    for (size_t i = 0; i < s->field_count; i++) {
        const lp__mfield *f = &s->fields[i];
        if (!f->train_written)
            continue;
        const unsigned char *src = s->scratch + f->scratch_offset;
        unsigned char *dst = s->buf + f->info.offset;
        for (size_t r = 0; r < mb; r++)
            memcpy(dst + (size_t)rows[r] * f->row_bytes, src + r * f->row_bytes, f->row_bytes);
    }
}
