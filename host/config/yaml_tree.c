#include "config/yaml_tree.h"

#include "util/error.h"

#include <yaml.h>

#include <stdlib.h>
#include <string.h>

typedef struct frame {
    lp__ynode *node;
    size_t first_kid;   /* index of its first item in builder.kids */
    const char *anchor; /* arena copy, or NULL */
} frame;

typedef struct anchor_slot {
    const char *name; /* NULL: free slot */
    const lp__ynode *node;
} anchor_slot;

typedef struct keyref {
    const lp__ynode *key;
    size_t index;
} keyref;

typedef struct builder {
    lp__arena *arena;
    const char *file;
    const char *input;
    size_t len;
    lp__ylimits lim;
    lp_error *err;
    frame *frames; /* open collections, innermost last */
    size_t nframes, capframes;
    const lp__ynode **kids; /* items of all open collections, in order */
    size_t nkids, capkids;
    anchor_slot *anchors; /* open addressing, capacity a power of two */
    size_t nanchors, capanchors;
    keyref *scratch;
    size_t capscratch;
    uint64_t total; /* nodes so far, aliases expanded */
    int documents;
    const lp__ynode *root;
} builder;

static lp__pos mark_pos(const builder *b, yaml_mark_t m) {
    lp__pos p = {b->file, (uint32_t)m.line + 1, (uint32_t)m.column + 1};
    return p;
}

/* Line and column of a byte offset, counting columns in characters like
 * libyaml does. */
static lp__pos offset_pos(const builder *b, size_t offset) {
    uint32_t line = 1, col = 1;
    if (offset > b->len)
        offset = b->len;
    for (size_t i = 0; i < offset; i++) {
        unsigned char c = (unsigned char)b->input[i];
        if (c == '\n' || (c == '\r' && (i + 1 >= b->len || b->input[i + 1] != '\n'))) {
            line++;
            col = 1;
        } else if ((c & 0xc0) != 0x80 && c != '\r') {
            col++;
        }
    }
    lp__pos p = {b->file, line, col};
    return p;
}

static int32_t oom(builder *b) {
    return lp__error_set(b->err, LP_ENOMEM, "%s: out of memory while reading the config", b->file);
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return 1;
    size_t n = *cap != 0 ? *cap : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2 / elem)
            return 0;
        n *= 2;
    }
    void *p = realloc(*arr, n * elem);
    if (p == NULL)
        return 0;
    *arr = p;
    *cap = n;
    return 1;
}

/* ---- anchors ------------------------------------------------------------- */

static size_t hash_name(const char *s) {
    size_t h = (size_t)14695981039346656037ull;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= (size_t)1099511628211ull;
    }
    return h;
}

static anchor_slot *anchor_find(anchor_slot *slots, size_t cap, const char *name) {
    size_t i = hash_name(name) & (cap - 1);
    while (slots[i].name != NULL && strcmp(slots[i].name, name) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static const lp__ynode *anchor_get(const builder *b, const char *name) {
    if (b->capanchors == 0)
        return NULL;
    return anchor_find(b->anchors, b->capanchors, name)->node;
}

/* Define (or redefine: the later one wins, as in YAML) an anchor. */
static int32_t anchor_set(builder *b, const char *name, const lp__ynode *node) {
    if ((b->nanchors + 1) * 2 > b->capanchors) {
        size_t cap = b->capanchors != 0 ? b->capanchors * 2 : 16;
        anchor_slot *slots = calloc(cap, sizeof *slots);
        if (slots == NULL)
            return oom(b);
        for (size_t i = 0; i < b->capanchors; i++)
            if (b->anchors[i].name != NULL)
                *anchor_find(slots, cap, b->anchors[i].name) = b->anchors[i];
        free(b->anchors);
        b->anchors = slots;
        b->capanchors = cap;
    }
    anchor_slot *s = anchor_find(b->anchors, b->capanchors, name);
    if (s->name == NULL) {
        s->name = name;
        b->nanchors++;
    }
    s->node = node;
    return LP_OK;
}

/* ---- building -------------------------------------------------------------- */

static int32_t too_many_nodes(builder *b, yaml_mark_t m) {
    return lp__cfgerr(b->err, mark_pos(b, m),
                      "the document has more than %llu nodes once aliases are expanded; "
                      "use fewer aliases or nodes (or raise the node limit)",
                      (unsigned long long)b->lim.max_nodes);
}

static int32_t too_deep(builder *b, yaml_mark_t m) {
    return lp__cfgerr(b->err, mark_pos(b, m),
                      "nesting deeper than %u levels; flatten the structure (or raise the depth "
                      "limit)",
                      (unsigned)b->lim.max_depth);
}

/* Count `n` more nodes against the limit. */
static int32_t count_nodes(builder *b, uint64_t n, yaml_mark_t m) {
    if (n > b->lim.max_nodes || b->total > b->lim.max_nodes - n)
        return too_many_nodes(b, m);
    b->total += n;
    return LP_OK;
}

/* Append a finished node to the innermost open collection, or make it the
 * root. */
static int32_t add_child(builder *b, const lp__ynode *node) {
    if (b->nframes == 0) {
        b->root = node;
        return LP_OK;
    }
    if (!grow((void **)&b->kids, &b->capkids, b->nkids + 1, sizeof *b->kids))
        return oom(b);
    b->kids[b->nkids++] = node;
    return LP_OK;
}

static lp__ynode *new_node(builder *b, int32_t kind, yaml_mark_t m, const yaml_char_t *tag) {
    lp__ynode *n = lp__arena_alloc(b->arena, sizeof *n);
    if (n == NULL)
        return NULL;
    n->kind = kind;
    n->line = (uint32_t)m.line + 1;
    n->col = (uint32_t)m.column + 1;
    n->weight = 1;
    if (tag != NULL) {
        n->tag = lp__arena_strdup(b->arena, (const char *)tag);
        if (n->tag == NULL)
            return NULL;
    }
    return n;
}

static int32_t define_anchor(builder *b, const yaml_char_t *anchor, const lp__ynode *node) {
    if (anchor == NULL)
        return LP_OK;
    const char *name = lp__arena_strdup(b->arena, (const char *)anchor);
    if (name == NULL)
        return oom(b);
    return anchor_set(b, name, node);
}

static int32_t on_scalar(builder *b, const yaml_event_t *ev) {
    int32_t rc = count_nodes(b, 1, ev->start_mark);
    if (rc != LP_OK)
        return rc;
    lp__ynode *n = new_node(b, LP__Y_SCALAR, ev->start_mark, ev->data.scalar.tag);
    if (n == NULL)
        return oom(b);
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    n->len = ev->data.scalar.length;
    n->text = lp__arena_strndup(b->arena, (const char *)ev->data.scalar.value, n->len);
    if (n->text == NULL)
        return oom(b);
    rc = define_anchor(b, ev->data.scalar.anchor, n);
    return rc != LP_OK ? rc : add_child(b, n);
}

static int32_t on_alias(builder *b, const yaml_event_t *ev) {
    const char *name = (const char *)ev->data.alias.anchor;
    const lp__ynode *n = anchor_get(b, name);
    if (n == NULL) {
        char q[LP__QUOTE_MAX];
        lp__quote(q, name, strlen(name));
        return lp__cfgerr(b->err, mark_pos(b, ev->start_mark),
                          "alias '*%s' refers to no anchor defined before it; define '&%s' on "
                          "an earlier node",
                          q, q);
    }
    /* The alias stands for its whole subtree: count it, and its height. */
    int32_t rc = count_nodes(b, n->weight, ev->start_mark);
    if (rc != LP_OK)
        return rc;
    if ((uint64_t)b->nframes + n->height > b->lim.max_depth)
        return too_deep(b, ev->start_mark);
    return add_child(b, n);
}

static int32_t on_start(builder *b, const yaml_event_t *ev, int32_t kind) {
    if (b->nframes + 1 > b->lim.max_depth)
        return too_deep(b, ev->start_mark);
    int32_t rc = count_nodes(b, 1, ev->start_mark);
    if (rc != LP_OK)
        return rc;
    const yaml_char_t *tag, *anchor;
    if (kind == LP__Y_MAP) {
        tag = ev->data.mapping_start.tag;
        anchor = ev->data.mapping_start.anchor;
    } else {
        tag = ev->data.sequence_start.tag;
        anchor = ev->data.sequence_start.anchor;
    }
    lp__ynode *n = new_node(b, kind, ev->start_mark, tag);
    if (n == NULL)
        return oom(b);
    if (!grow((void **)&b->frames, &b->capframes, b->nframes + 1, sizeof *b->frames))
        return oom(b);
    frame *f = &b->frames[b->nframes++];
    f->node = n;
    f->first_kid = b->nkids;
    f->anchor = NULL;
    if (anchor != NULL) {
        f->anchor = lp__arena_strdup(b->arena, (const char *)anchor);
        if (f->anchor == NULL)
            return oom(b);
    }
    return LP_OK;
}

static int key_cmp(const lp__ynode *a, const lp__ynode *b) {
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n != 0 ? memcmp(a->text, b->text, n) : 0;
    if (c != 0)
        return c;
    return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

static int keyref_cmp(const void *pa, const void *pb) {
    const keyref *a = pa, *b = pb;
    int c = key_cmp(a->key, b->key);
    if (c != 0)
        return c;
    return a->index < b->index ? -1 : a->index > b->index ? 1 : 0;
}

/* Keys of a mapping must be scalars and unique. Sorting finds duplicates in
 * n log n; the one reported is the earliest repeated key in the file. */
static int32_t check_keys(builder *b, const lp__ynode *const *kv, size_t pairs) {
    for (size_t i = 0; i < pairs; i++) {
        const lp__ynode *k = kv[2 * i];
        if (k->kind != LP__Y_SCALAR) {
            lp__pos p = {b->file, k->line, k->col};
            return lp__cfgerr(b->err, p,
                              "a mapping key must be a scalar, found %s; use a plain name as "
                              "the key",
                              lp__ykind_name(k));
        }
    }
    if (pairs < 2)
        return LP_OK;
    if (!grow((void **)&b->scratch, &b->capscratch, pairs, sizeof *b->scratch))
        return oom(b);
    for (size_t i = 0; i < pairs; i++) {
        b->scratch[i].key = kv[2 * i];
        b->scratch[i].index = i;
    }
    qsort(b->scratch, pairs, sizeof *b->scratch, keyref_cmp);
    size_t dup = SIZE_MAX, first = 0, group = 0;
    for (size_t i = 1; i < pairs; i++) {
        if (key_cmp(b->scratch[i].key, b->scratch[group].key) != 0) {
            group = i;
            continue;
        }
        if (i == group + 1 && b->scratch[i].index < dup) {
            dup = b->scratch[i].index;
            first = b->scratch[group].index;
        }
    }
    if (dup == SIZE_MAX)
        return LP_OK;
    const lp__ynode *k = kv[2 * dup], *k0 = kv[2 * first];
    lp__pos p = {b->file, k->line, k->col};
    char q[LP__QUOTE_MAX];
    return lp__cfgerr(b->err, p,
                      "duplicate key '%s' (first at line %u, column %u); remove one of them",
                      lp__quote(q, k->text, k->len), (unsigned)k0->line, (unsigned)k0->col);
}

static int32_t on_end(builder *b) {
    frame f = b->frames[--b->nframes];
    lp__ynode *n = f.node;
    size_t k = b->nkids - f.first_kid;
    /* b->kids is still NULL when no node has had a child yet (`{}`): no
     * arithmetic on it then (NULL + 0 is undefined). */
    const lp__ynode *const *kids = k > 0 ? b->kids + f.first_kid : NULL;
    if (n->kind == LP__Y_MAP) {
        int32_t rc = check_keys(b, kids, k / 2);
        if (rc != LP_OK)
            return rc;
        n->count = k / 2;
    } else {
        n->count = k;
    }
    const lp__ynode **items = lp__arena_array(b->arena, k, sizeof *items);
    if (items == NULL)
        return oom(b);
    uint32_t height = 0;
    for (size_t i = 0; i < k; i++) {
        items[i] = kids[i];
        n->weight += kids[i]->weight;
        if (kids[i]->height > height)
            height = kids[i]->height;
    }
    n->height = height + 1;
    n->items = items;
    b->nkids = f.first_kid;
    if (f.anchor != NULL) {
        int32_t rc = anchor_set(b, f.anchor, n);
        if (rc != LP_OK)
            return rc;
    }
    return add_child(b, n);
}

static int32_t on_event(builder *b, const yaml_event_t *ev) {
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (b->documents++ > 0)
            return lp__cfgerr(b->err, mark_pos(b, ev->start_mark),
                              "a second YAML document starts here; a config is one document: "
                              "remove this '---' and what follows");
        return LP_OK;
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_ALIAS_EVENT:
        return on_alias(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(b, ev, LP__Y_SEQ);
    case YAML_MAPPING_START_EVENT:
        return on_start(b, ev, LP__Y_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_end(b);
    default:
        return LP_OK;
    }
}

static int32_t parse_error(builder *b, const yaml_parser_t *p) {
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return oom(b);
    case YAML_READER_ERROR: {
        lp__pos pos = offset_pos(b, p->problem_offset);
        const char *problem = p->problem != NULL ? p->problem : "unreadable input";
        if (p->problem_value != -1)
            return lp__cfgerr(b->err, pos,
                              "not valid UTF-8 text: %s (0x%x); save the file as UTF-8 without "
                              "control characters",
                              problem, (unsigned)p->problem_value);
        return lp__cfgerr(b->err, pos,
                          "not valid UTF-8 text: %s; save the file as UTF-8 without control "
                          "characters",
                          problem);
    }
    default: {
        const char *problem = p->problem != NULL ? p->problem : "invalid YAML";
        if (p->context != NULL)
            return lp__cfgerr(b->err, mark_pos(b, p->problem_mark),
                              "YAML syntax error: %s (%s at line %u, column %u); check the "
                              "indentation, quotes and brackets here",
                              problem, p->context, (unsigned)p->context_mark.line + 1,
                              (unsigned)p->context_mark.column + 1);
        return lp__cfgerr(b->err, mark_pos(b, p->problem_mark),
                          "YAML syntax error: %s; check the indentation, quotes and brackets "
                          "here",
                          problem);
    }
    }
}

int32_t lp__ytree_parse(lp__arena *arena, const char *file, const char *input, size_t len,
                        const lp__ylimits *limits, const lp__ynode **root, lp_error *err) {
    if (root == NULL)
        return lp__error_set(err, LP_EINVAL, "lp__ytree_parse: root is NULL");
    *root = NULL;
    if (arena == NULL || (input == NULL && len != 0) || limits == NULL)
        return lp__error_set(err, LP_EINVAL, "lp__ytree_parse: invalid arguments");
    builder b;
    memset(&b, 0, sizeof b);
    b.arena = arena;
    b.file = file != NULL ? file : "<string>";
    b.input = input != NULL ? input : "";
    b.len = len;
    b.lim = *limits;
    b.err = err;

    lp__pos start = {b.file, 1, 1};
    if (len > b.lim.max_bytes)
        return lp__cfgerr(err, start,
                          "the input is larger than the limit of %zu bytes; shorten it (or raise "
                          "the size limit)",
                          b.lim.max_bytes);
    const char *nul = len != 0 ? memchr(b.input, '\0', len) : NULL;
    if (nul != NULL)
        return lp__cfgerr(err, offset_pos(&b, (size_t)(nul - b.input)),
                          "NUL byte in the input; a config must be UTF-8 text");

    /* A UTF-8 byte order mark is allowed, and not a column. (libyaml only
     * skips it when it sniffs the encoding, which it must not do here.) */
    if (b.len >= 3 && memcmp(b.input, "\xef\xbb\xbf", 3) == 0) {
        b.input += 3;
        b.len -= 3;
    }

    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return oom(&b);
    yaml_parser_set_input_string(&p, (const unsigned char *)b.input, b.len);
    /* No BOM sniffing: UTF-16 input is refused as invalid UTF-8. */
    yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);

    int32_t rc = LP_OK;
    for (int done = 0; !done && rc == LP_OK;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = parse_error(&b, &p);
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(&b, &ev);
        yaml_event_delete(&ev);
    }
    if (rc == LP_OK && b.root == NULL)
        rc = lp__cfgerr(err, start,
                        "the input is empty; a config is a YAML mapping (see docs/config.md)");
    if (rc == LP_OK)
        *root = b.root;
    yaml_parser_delete(&p);
    free(b.frames);
    free(b.kids);
    free(b.anchors);
    free(b.scratch);
    return rc;
}

const lp__ynode *lp__ymap_get(const lp__ynode *map, const char *key) {
    if (map == NULL || map->kind != LP__Y_MAP)
        return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < map->count; i++) {
        const lp__ynode *k = map->items[2 * i];
        if (k->len == n && memcmp(k->text, key, n) == 0)
            return map->items[2 * i + 1];
    }
    return NULL;
}

const char *lp__ykind_name(const lp__ynode *node) {
    switch (node->kind) {
    case LP__Y_MAP:
        return "a mapping";
    case LP__Y_SEQ:
        return "a list";
    default:
        return node->plain && node->len == 0 ? "an empty value" : "a scalar";
    }
}

lp__pos lp__ypos(const char *file, const lp__ynode *node) {
    lp__pos p = {file, node->line, node->col};
    return p;
}
