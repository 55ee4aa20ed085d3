/*
 * Internal: the lossplug configuration file (docs/config.md).
 *
 * lp__config_parse_file / lp__config_parse_string read one YAML document into
 * an lp__config, checking everything that can be checked without plugins:
 * structure, keys, types, ranges, names, schedules. What needs a plugin's
 * schema is checked later, per loss, by lp__config_check_plugins and
 * lp__config_bind_params.
 *
 * Ownership: an lp__config owns every string, array and node reachable from
 * it (one arena); all of it stays valid until lp__config_free. Nothing here
 * keeps a pointer to the caller's input or options after a call returns.
 *
 * Errors: LP_ECONFIG with "FILE:LINE:COLUMN: what; how to fix" (one line,
 * 1-based, the offending key or value), LP_EIO when the file cannot be read,
 * LP_EINVAL for bad arguments, LP_ENOMEM. On error nothing is allocated and
 * *out is left NULL.
 *
 * No globals; no output. A config may be read from several threads at once
 * once parsed (nothing in it is mutated by the functions below).
 */
#ifndef LP_CONFIG_CONFIG_H
#define LP_CONFIG_CONFIG_H

#include "config/yaml_tree.h"

#include <lossplug/host.h>

#include <stddef.h>
#include <stdint.h>

/* ---- options ------------------------------------------------------------ */

#define LP__CONFIG_MAX_BYTES_DEFAULT ((size_t)1 << 20) /* 1 MiB */
#define LP__CONFIG_MAX_DEPTH_DEFAULT 64u
#define LP__CONFIG_MAX_NODES_DEFAULT 100000u

typedef struct lp__config_options {
    /* Top-level sections owned by the embedding program ("env", "model",
     * ...): kept untouched as node trees, see lp__config_section. Names must
     * be [a-z][a-z0-9_]* and must not be a lossplug section. Copied. */
    const char *const *passthrough;
    size_t passthrough_count;
    /* Directory that relative paths in the file are resolved against. NULL:
     * the directory part of the path (or display name), "." when it has
     * none. Copied. */
    const char *base_dir;
    size_t max_bytes;   /* input size limit; 0: LP__CONFIG_MAX_BYTES_DEFAULT */
    uint32_t max_depth; /* nesting limit; 0: LP__CONFIG_MAX_DEPTH_DEFAULT */
    uint64_t max_nodes; /* node limit, aliases expanded; 0: ..._MAX_NODES_DEFAULT */
} lp__config_options;

/* Fill `opt` with the defaults (no passthrough sections). */
void lp__config_options_init(lp__config_options *opt);

/* ---- what a config holds ------------------------------------------------ */

/* lp__pos (util/message.h): a place in the file; in a config, `file` is the
 * config's display name (config-owned) and line 0 means "not in the file". */

/* lp__kvpos (util/message.h): where a `key: value` pair is. */

typedef struct lp__buffer_cfg {
    int64_t segments;           /* required, 1 .. 2^20 */
    int64_t horizon;            /* required, 1 .. 2^20 */
    int64_t minibatch_segments; /* default: segments; must divide segments */
    int64_t update_epochs;      /* default 1, 1 .. 10000 */
    int64_t seed;               /* default 0, 0 .. 2^63-1 */
    int32_t shuffle;            /* default 1: shuffle segments per update epoch */
    int32_t sample;             /* lp_sample_mode (host.h); default LP_SAMPLE_ROWS */
    int32_t nonfinite;          /* lp_nonfinite_mode (host.h); default LP_NONFINITE_STOP */
    int64_t max_bytes;          /* most memory the buffer may take; 0 (absent): half of the
                                   physical memory (lp__memory_limit_default) */
    lp__pos pos;                /* the `buffer` key */
    lp__kvpos segments_pos, horizon_pos, minibatch_segments_pos, update_epochs_pos, seed_pos,
        shuffle_pos, sample_pos, nonfinite_pos, max_bytes_pos;
} lp__buffer_cfg;

typedef enum lp__stats_format {
    LP__STATS_NONE = 0, /* no `stats` section */
    LP__STATS_CSV = 1,
    LP__STATS_JSONL = 2,
} lp__stats_format;

/* One entry of a loss's `params` map, unconverted: the plugin's schema
 * decides its type (lp__config_bind_params). */
typedef struct lp__raw_param {
    const char *key;
    const char *text; /* the scalar's text, NUL-free */
    int quoted;       /* 1 unless the scalar was plain (quoted or block) */
    lp__kvpos pos;
} lp__raw_param;

/* One enable rule: it matches when every condition holds. Absent bounds are
 * 0 (from) and INT64_MAX (to); every_epochs 0 means no cycle. A cycle is on
 * for the first on_epochs of every every_epochs epochs, counted from
 * from_epoch. */
typedef struct lp__enable_rule {
    int64_t from_epoch, to_epoch; /* [from, to) */
    int64_t from_step, to_step;   /* [from, to), environment steps */
    int64_t every_epochs, on_epochs;
    lp__pos pos; /* the rule's list item */
} lp__enable_rule;

/* The rules of one phase. Absent (present == 0): always on. Present: on when
 * any rule matches, so an empty list means never. */
typedef struct lp__rule_list {
    int present;
    size_t count;
    const lp__enable_rule *rules;
    lp__pos pos; /* the phase key */
} lp__rule_list;

typedef enum lp__anneal_shape {
    LP__ANNEAL_LINEAR = 1,
    LP__ANNEAL_COSINE = 2,
} lp__anneal_shape;

typedef enum lp__anneal_clock {
    LP__ANNEAL_BY_EPOCH = 1,
    LP__ANNEAL_BY_STEP = 2,
} lp__anneal_clock;

/* Anneal one numeric param from its configured value to `to` over
 * [start, end] of the clock; clamped outside. */
typedef struct lp__anneal_rule {
    const char *param;
    double to;
    int to_is_int; /* `to` was an integer literal (to_int holds it exactly) */
    int64_t to_int;
    int32_t clock;      /* lp__anneal_clock */
    int32_t shape;      /* lp__anneal_shape */
    int64_t start, end; /* start < end */
    lp__pos pos;        /* the param key under `anneal` */
    lp__kvpos to_pos, range_pos, shape_pos;
} lp__anneal_rule;

typedef struct lp__schedule {
    lp__rule_list rollout;
    lp__rule_list train;
    size_t anneal_count;
    const lp__anneal_rule *anneal; /* config order */
    lp__pos pos;                   /* the `schedule` key; line 0 when absent */
} lp__schedule;

typedef struct lp__loss_cfg {
    const char *name;   /* unique; the plugin id when not given */
    int name_defaulted; /* 1 when `name` was absent */
    const char *plugin; /* plugin id */
    double weight;      /* default 1.0, finite */
    size_t param_count;
    const lp__raw_param *params; /* config order */
    lp__schedule schedule;
    lp__pos pos; /* the list item */
    lp__kvpos name_pos, plugin_pos, weight_pos, params_pos;
} lp__loss_cfg;

/* A top-level section owned by the embedding program. */
typedef struct lp__section {
    const char *name;
    const lp__ynode *node; /* its value, any kind, untouched */
    lp__kvpos pos;
} lp__section;

/* One entry of program.fields or program.outputs: a name and a type
 * ("f32[OBS]"), symbolic dims kept as LP_DIM_*. */
typedef struct lp__program_decl {
    lp_decl decl; /* decl.name is config-owned */
    lp__kvpos pos;
} lp__program_decl;

/* The `program` section: what the embedding program provides, so that a
 * config can be checked without the program (lossplug check). Every part is
 * optional here; the session decides what it needs. */
typedef struct lp__program_cfg {
    lp__pos pos;     /* the `program` key; line 0 when the section is absent */
    int has_env;     /* observation and action were given */
    lp_env_info env; /* obs/action dtype and shape, num_actions; the rest 0 */
    lp__kvpos observation_pos, action_pos;
    int has_fields;
    size_t field_count;
    const lp__program_decl *fields; /* file order */
    lp__kvpos fields_pos;
    int has_outputs;
    size_t output_count;
    const lp__program_decl *outputs; /* file order */
    lp__kvpos outputs_pos;
    /* program.sections: top-level sections the program owns, accepted like
     * the caller's passthrough sections (file order, arena-owned). */
    size_t section_count;
    const char *const *sections;
    const lp__pos *section_pos;
} lp__program_cfg;

typedef struct lp__config {
    const char *file; /* display name: the path, or the name given with a string */
    const char *dir;  /* base directory of relative paths */
    size_t plugin_path_count;
    const char *const *plugin_paths; /* resolved: dir + "/" + entry unless absolute */
    const lp__pos *plugin_path_pos;
    lp__buffer_cfg buffer;
    int32_t stats_format;   /* lp__stats_format */
    const char *stats_path; /* resolved like plugin paths; NULL when no `stats` */
    lp__kvpos stats_path_pos;
    size_t loss_count;
    const lp__loss_cfg *losses; /* config order */
    lp__program_cfg program;
    size_t section_count;
    const lp__section *sections; /* passthrough sections present, file order */
    const lp__ynode *root;
    struct lp__arena *arena; /* owns everything above */
} lp__config;

/* ---- parsing -------------------------------------------------------------- */

/* Read and check the file at `path` (also its display name). `opt` may be
 * NULL (defaults). On success *out is the config, freed by the caller with
 * lp__config_free. */
int32_t lp__config_parse_file(const char *path, const lp__config_options *opt, lp__config **out,
                              lp_error *err);

/* The same from `len` bytes of `text`; `name` (may be NULL: "<string>") is
 * used in messages and to find the base directory. */
int32_t lp__config_parse_string(const char *text, size_t len, const char *name,
                                const lp__config_options *opt, lp__config **out, lp_error *err);

/* Parse a field or output type, "f32" or "f32[4, OBS]" (dims > 0 or OBS,
 * ACTION, NUM_ACTIONS), into `decl` (dtype, rank, shape). Returns 0, or -1
 * when `text` is not such a type. */
int lp__config_parse_type(const char *text, lp_decl *decl);

/* Free a config and everything it owns. NULL is a no-op. */
void lp__config_free(lp__config *cfg);

/* A passthrough section by name, or NULL when the file has none. */
const lp__section *lp__config_section(const lp__config *cfg, const char *name);

/* The loss named `name`, or NULL. */
const lp__loss_cfg *lp__config_loss(const lp__config *cfg, const char *name);

/* ---- checks against plugins ----------------------------------------------- */

/* Check that every loss's plugin id is one of `known` (count ids). The error
 * is at the first unknown id, lists the known ids and suggests the nearest.
 */
int32_t lp__config_check_plugins(const lp__config *cfg, const char *const *known, size_t count,
                                 lp_error *err);

/* Bind `loss`'s params to the plugin schema `desc` (specs read with stride
 * desc->params[0].struct_size). Fills values[0 .. desc->param_count) in
 * schema order, defaults applied; strings point into `cfg` or into the
 * plugin's static data. When `anneal_index` is not NULL it receives, for
 * each of loss->schedule.anneal_count rules, the schema index of its param.
 * Also checks the anneal rules (known numeric param, target of the right
 * type and in range). On error `values` is unspecified. */
int32_t lp__config_bind_params(const lp__config *cfg, const lp__loss_cfg *loss,
                               const lp_loss_desc *desc, lp_value *values, uint32_t *anneal_index,
                               lp_error *err);

/* ---- schedules: pure functions, no allocation ------------------------------ */

/* Whether `rule` matches at (epoch, env_steps). */
int lp__rule_matches(const lp__enable_rule *rule, int64_t epoch, int64_t env_steps);

/* Whether a loss with schedule `s` is on in `phase` (LP_PHASE_ROLLOUT or
 * LP_PHASE_TRAIN) at (epoch, env_steps). Any other phase: 0. */
int lp__schedule_enabled(const lp__schedule *s, uint32_t phase, int64_t epoch, int64_t env_steps);

/* The annealed value of a param whose configured value is `base`. Before
 * the range: base; after it: rule->to; inside, linear or cosine. */
double lp__anneal_value(const lp__anneal_rule *rule, double base, int64_t epoch, int64_t env_steps);

/* Set `*cur` to the annealed value of `*base` (same type): floats take the
 * value, ints the nearest integer; other types are copied unchanged. */
void lp__anneal_apply(const lp__anneal_rule *rule, const lp_value *base, lp_value *cur,
                      int64_t epoch, int64_t env_steps);

#endif
