/*
 * lossplug/config.h: a config file read before any session exists, and a
 * strict reader for the sections a program owns in it (docs/embedding.md
 * "Reading your own config sections"). Part of liblossplug (pkg-config
 * lossplug).
 *
 * A program that keeps its own settings in the session's config (the
 * trainer's `model`, `optimizer`, `trainer`; an environment's `env`) needs
 * some of them before it opens the session: the model's sizes, the number
 * of environments. lp_config_open checks the whole file as lp_session_open
 * does before it loads plugins (structure, lossplug's own sections, which
 * top-level sections the program owns), and lp_config_read reads one of the
 * program's sections against a schema, with the errors a plugin's params
 * get: an unknown key is refused with the nearest valid one, a wrong kind,
 * type, choice or range with FILE:LINE:COLUMN and how to fix it.
 *
 * Design: the schema of a key is a plugin parameter's (lp_param_spec,
 * lossplug/abi.h: float, int, bool, string, enum; REQUIRED; inclusive or
 * exclusive bounds; defaults), wrapped in lp_config_key for the little a
 * program needs beyond a plugin: a list of ints (`hidden: [64, 64]`) and its
 * length limit, and its own "how to fix" text for a refused choice. The
 * config module then has one converter for both: a plugin's `params` and a
 * program's section take the same path and give the same messages, except
 * that an int out of range says "use an integer in [a, b]" in a program
 * section (the wording of lossplug's own sections, buffer.segments) and
 * "use a value in [a, b]" in a loss's params (docs/config.md). The keys are
 * data, not code, so a program's schema is as easy to list in its docs as a
 * plugin's.
 *
 * Ownership: an lp_config owns every string, array and position it hands
 * out; they stay valid until lp_config_close. Nothing keeps a pointer to
 * the caller's options, keys or paths after a call returns, except that an
 * absent string or enum key's value is the key's own default_string.
 * Threads: as every lossplug object, one thread at a time (lp_config_read
 * keeps the lists it reads in the config). Two configs are independent.
 * The rules of lossplug/registry.h hold (status and lp_error, no global
 * state, nothing printed).
 */
#ifndef LOSSPLUG_CONFIG_H
#define LOSSPLUG_CONFIG_H

#include <lossplug/model.h> /* lp_sample_mode; includes lossplug/registry.h */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lp_config lp_config;

typedef struct lp_config_options {
    uint32_t struct_size; /* set by lp_config_options_init */
    /* Top-level sections the program owns ("model", "env"), as
     * lp_session_options.sections: accepted beside lossplug's own (with
     * those the config's program.sections adds; lp_session_open then checks
     * that its options name each). Copied. */
    const char *const *sections;
    size_t section_count;
} lp_config_options;

LP_API void lp_config_options_init(lp_config_options *opt);

/* Read and check the config file at `path` (docs/config.md): everything
 * lp_session_open checks before it loads plugins. LP_ECONFIG with
 * "FILE:LINE:COLUMN: what; how to fix", LP_EIO, LP_EINVAL, LP_ENOMEM. On
 * error *out is NULL and nothing is left allocated. */
LP_API int32_t lp_config_open(const char *path, const lp_config_options *opt, lp_config **out,
                              lp_error *err);

/* Free a config and everything it handed out. NULL is a no-op. */
LP_API void lp_config_close(lp_config *cfg);

/* The config's display name (its path), for messages. */
LP_API const char *lp_config_name(const lp_config *cfg);

/* A place in the file: 1-based line and column; line 0: not in the file. */
typedef struct lp_config_pos {
    int32_t line;
    int32_t column;
} lp_config_pos;

/* One scalar of a program section, for a reader of its own (an
 * environment's `open`, lossplug/train.h): `key` is the dotted path below
 * the section ("num_envs", "physics.gravity", "starts[0]"); `value` the
 * scalar's text. */
typedef struct lp_config_entry {
    const char *key;
    const char *value;
    int32_t line; /* 1-based position of the value, for FILE:LINE:COLUMN */
    int32_t column;
    int32_t quoted; /* 1 when the scalar was quoted or a block scalar */
    int32_t reserved;
} lp_config_entry;

/* ---- the strict section reader ------------------------------------------------- */

/* The schema of one key of a program section. An array of keys is read with
 * the stride keys[0].struct_size (any size from this layout up). */
typedef struct lp_config_key {
    uint32_t struct_size; /* sizeof(lp_config_key) */
    int32_t list;         /* 1: a list of ints (spec.type LP_PARAM_INT), each in the
                             spec's bounds; 0: one value of spec.type */
    /* name, type, flags (LP_PARAM_REQUIRED, HAS_MIN, HAS_MAX, MIN_EXCLUSIVE,
     * MAX_EXCLUSIVE), default, bounds, choices: exactly a plugin param's
     * (abi.h); a string or enum key that is not REQUIRED needs its
     * default_string. spec.struct_size is not read. Bounds are doubles: ints are
     * exact up to 2^53. */
    lp_param_spec spec;
    size_t max_items;            /* list: at most this many (0: any number) */
    const int64_t *default_ints; /* list: the default when absent; copied at read */
    size_t default_count;
    /* "How to fix" for a refused enum value or a list too long, replacing
     * "use one of: a, b" / "use at most N": "use tanh or relu". May be NULL. */
    const char *hint;
} lp_config_key;

/* What lp_config_read found for one key. Layout frozen (an output array,
 * like lp_value): new information comes in new functions. */
typedef struct lp_config_value {
    lp_value value;      /* one value: read, or the default (strings config- or key-owned) */
    const int64_t *ints; /* list: the items, config-owned (the default's copy when absent) */
    size_t count;
    const lp_config_pos *item_pos; /* list: each item's position; NULL when absent */
    int32_t set;                   /* 1 when the key is in the file */
    int32_t reserved;
    lp_config_pos key_pos; /* the key's position; line 0 when absent */
    lp_config_pos pos;     /* the value's */
} lp_config_value;

/* Read the top-level section `section` (one of the options' sections)
 * against `count` keys: values[i] receives key i's value. The section must be
 * a mapping of those keys only; an absent section gives every default (and
 * fails on a REQUIRED key). `section_pos` (may be NULL) receives the
 * section key's position (line 0 when absent). Messages name keys as
 * "section.key" and list items as "section.key[i]". On error `values` is
 * unspecified. Nothing is allocated per call beyond what the config owns
 * (list defaults and lists, freed with it). */
LP_API int32_t lp_config_read(lp_config *cfg, const char *section, const lp_config_key *keys,
                              size_t count, lp_config_value *values, lp_config_pos *section_pos,
                              lp_error *err);

/* Read one value at `path` ("env.normalize_obs": section, then keys of
 * nested mappings) against `key` (key->spec.name may be NULL: the path names
 * it in messages), with the same checks. Absent: the default (and an error
 * when REQUIRED). For a key read out of a section that is not otherwise
 * strict (an environment's section, whose other keys the program hands on). */
LP_API int32_t lp_config_read_value(lp_config *cfg, const char *path, const lp_config_key *key,
                                    lp_config_value *value, lp_error *err);

/* ---- reading without a schema ----------------------------------------------------- */

/* Every scalar of the section `section`, flattened to dotted keys in file
 * order (a scalar section gives one entry with key ""). *entries is
 * config-owned; NULL and 0 when the section is absent. `section_pos` (may be
 * NULL) receives the section key's position. */
LP_API const lp_config_entry *lp_config_entries(const lp_config *cfg, const char *section,
                                                size_t *count, lp_config_pos *section_pos);

enum { LP_CONFIG_ABSENT = 0, LP_CONFIG_SCALAR = 1, LP_CONFIG_LIST = 2, LP_CONFIG_MAP = 3 };

/* One node of the file, found by path. Config-owned strings. */
typedef struct lp_config_node {
    int32_t kind;     /* LP_CONFIG_*; ABSENT when the path leads nowhere */
    int32_t quoted;   /* scalar: 1 when quoted or a block scalar */
    const char *key;  /* the mapping key naming it; NULL for a list item */
    const char *text; /* scalar: its text; NULL otherwise */
    size_t count;     /* list, mapping: number of items, of keys */
    lp_config_pos key_pos;
    lp_config_pos pos; /* the value's */
} lp_config_node;

/* The node at `path`: a top-level key, then mapping keys or list indexes,
 * separated by dots ("buffer.segments", "program.fields", "model.hidden.1").
 * Any section, lossplug's included: the values of lossplug's sections are
 * those lp_config_open checked. Returns the kind (ABSENT: *out zeroed). */
LP_API int32_t lp_config_node_at(const lp_config *cfg, const char *path, lp_config_node *out);

/* The index-th item of the list or mapping at `path` (for a mapping, its
 * key is out->key). ABSENT when out of range. */
LP_API int32_t lp_config_child(const lp_config *cfg, const char *path, size_t index,
                               lp_config_node *out);

/* The buffer the config asks for (its `buffer` section, defaults applied),
 * for sizing a program's environments and model before the session. */
typedef struct lp_config_buffer {
    uint32_t struct_size; /* the caller's sizeof: nothing past it is written */
    int32_t sample;       /* lp_sample_mode */
    int64_t segments;
    int64_t horizon;
    int64_t minibatch_segments;
    int64_t update_epochs;
} lp_config_buffer;

/* Fill `out` up to out->struct_size (at least through update_epochs). */
LP_API int32_t lp_config_buffer_get(const lp_config *cfg, lp_config_buffer *out, lp_error *err);

#ifdef __cplusplus
}
#endif

#endif /* LOSSPLUG_CONFIG_H */
