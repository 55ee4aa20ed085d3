/* Internal: the schema-walk helpers of config.c, shared with the files that
 * walk other sections (program.c). Every helper reports "FILE:LINE:COLUMN:
 * what; how to fix" through lp__cfgerr and allocates from the config's
 * arena. */
#ifndef LP_CONFIG_WALK_H
#define LP_CONFIG_WALK_H

#include "config/config.h"

typedef struct lp__walk {
    lp__arena *a;
    const char *file; /* arena copy */
    lp__config *cfg;
    const lp__config_options *opt;
    lp_error *err;
} lp__walk;

lp__pos lp__walk_at(const lp__walk *w, const lp__ynode *n);
lp__kvpos lp__walk_kv(const lp__walk *w, const lp__ynode *key, const lp__ynode *value);
int32_t lp__walk_oom(const lp__walk *w);
/* The key node of `key` in `map`, or NULL. */
const lp__ynode *lp__walk_key_node(const lp__ynode *map, const char *key);
/* `n` must be of `kind` (LP__Y_MAP, LP__Y_SEQ, LP__Y_SCALAR) and untagged. */
int32_t lp__walk_kind(const lp__walk *w, const lp__ynode *n, int32_t kind, const char *where);
/* Every key of `map` must be one of `keys`; the message suggests one. */
int32_t lp__walk_keys(const lp__walk *w, const lp__ynode *map, const char *where,
                      const char *const *keys, size_t n);
int32_t lp__walk_missing(const lp__walk *w, const lp__ynode *map, const char *key,
                         const char *where, const char *example);
int32_t lp__walk_int(const lp__walk *w, const lp__ynode *n, const char *where, int64_t min,
                     int64_t max, int64_t *out);
/* A name [a-z][a-z0-9_]*, at most 63 bytes; *out is arena-owned. */
int32_t lp__walk_name(const lp__walk *w, const lp__ynode *n, const char *where, const char **out);
/* A non-empty scalar without NUL; *out is arena-owned. */
int32_t lp__walk_string(const lp__walk *w, const lp__ynode *n, const char *where, const char *what,
                        const char **out);

/* config.c: whether `name` is one of lossplug's own top-level sections. */
int lp__config_is_section(const char *name);

/* program.c: the `program` section into w->cfg->program. */
int32_t lp__walk_program(lp__walk *w, const lp__ynode *key, const lp__ynode *v);

/* action.c: the action space of program.action `v` (whose dtype, shape and
 * num_actions are already in env): action_space, action_dims, action_nvec,
 * action_low, action_high, policy_width (arrays arena-owned). */
int32_t lp__walk_action_space(lp__walk *w, const lp__ynode *v, lp_env_info *env);

#endif
