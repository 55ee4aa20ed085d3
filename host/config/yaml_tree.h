/* Internal: one YAML document read with libyaml into a small, immutable node
 * tree with positions, within limits (size, depth, expanded node count).
 *
 * Aliases are not copied: an alias is the anchored node itself, shared, so
 * its positions are those of the anchor's text. Each use still counts its
 * whole subtree against the node limit and its height against the depth
 * limit, so a consumer that walks the tree does bounded work.
 *
 * Refused: NUL bytes, input that is not UTF-8 (libyaml's reader error),
 * syntax errors, an empty stream, more than one document, nesting deeper
 * than the limit, too many nodes, aliases to no anchor, mapping keys that
 * are not scalars, duplicate keys in a mapping. */
#ifndef LP_CONFIG_YAML_TREE_H
#define LP_CONFIG_YAML_TREE_H

#include "config/arena.h"
#include "util/message.h"

#include <lossplug/host.h>

#include <stddef.h>
#include <stdint.h>

typedef enum lp__ykind {
    LP__Y_SCALAR = 1,
    LP__Y_SEQ = 2,
    LP__Y_MAP = 3,
} lp__ykind;

typedef struct lp__ynode {
    int32_t kind;  /* lp__ykind */
    int32_t plain; /* scalar: 1 when written without quotes or | > */
    uint32_t line; /* 1-based, of the node's first character */
    uint32_t col;
    const char *tag;  /* explicit tag, resolved ("tag:yaml.org,2002:str"); NULL if none */
    const char *text; /* scalar: NUL-terminated; may hold NULs from escapes, see len */
    size_t len;       /* scalar: bytes in text */
    size_t count;     /* seq: items; map: key/value pairs */
    /* seq: items[0 .. count); map: items[2i] is a key (a scalar), items[2i+1]
     * its value; keys are unique. */
    const struct lp__ynode *const *items;
    uint64_t weight; /* nodes in the subtree, aliases expanded */
    uint32_t height; /* 0 for a scalar, 1 + max over items for collections */
} lp__ynode;

typedef struct lp__ylimits {
    size_t max_bytes;
    uint32_t max_depth;
    uint64_t max_nodes;
} lp__ylimits;

/* Parse `len` bytes into a tree allocated from `arena`; `file` names the
 * input in messages (borrowed during the call; positions are returned
 * without it). On success *root is the document's root node. On error
 * (LP_ECONFIG, "FILE:LINE:COLUMN: ...") the arena may hold garbage, to be
 * freed with it; nothing else is allocated. */
int32_t lp__ytree_parse(lp__arena *arena, const char *file, const char *input, size_t len,
                        const lp__ylimits *limits, const lp__ynode **root, lp_error *err);

/* Value of `key` in the map `map`, or NULL (also when `map` is not a map). */
const lp__ynode *lp__ymap_get(const lp__ynode *map, const char *key);

/* Human name of a node's kind for messages: "a mapping", "a list", "a
 * scalar", or "an empty value" for an empty plain scalar. */
const char *lp__ykind_name(const lp__ynode *node);

/* The node's position in `file`. */
lp__pos lp__ypos(const char *file, const lp__ynode *node);

#endif
