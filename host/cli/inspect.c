/* `lossplug inspect CKPT`: what a checkpoint holds, every CRC verified.
 * docs/cli.md "inspect". Reads the file with liblossplug's checkpoint
 * reader (host/state, linked into the CLI), which verifies the whole file
 * first: a corrupt or truncated file is exit 1 with the entry and offset. */
#include "cli/cli.h"

#include "state/checkpoint.h"
#include "cli/json.h"

#include <inttypes.h>
#include <string.h>

/* "[4, 128]"; "[]" for a scalar. */
static void shape_text(const lp__ckpt_entry *e, char *buf, size_t size) {
    size_t n = 0;
    n += (size_t)snprintf(buf, size, "[");
    for (int32_t d = 0; d < e->rank && n < size; d++)
        n += (size_t)snprintf(buf + n, size - n, "%s%" PRId64, d ? ", " : "", e->shape[d]);
    if (n < size)
        snprintf(buf + n, size - n, "]");
}

/* A host counter (i64 scalar "host/<name>"), or -1 when absent. */
static long long counter(const lp__ckpt *ck, const char *name) {
    const lp__ckpt_entry *e = lp__ckpt_find(ck, name);
    int64_t v;
    if (e == NULL || e->dtype != LP_DTYPE_I64 || e->rank != 0 || e->nbytes != sizeof v)
        return -1;
    memcpy(&v, e->data, sizeof v); /* little-endian in the file, as on this host */
    return (long long)v;
}

/* The owner of an entry: "<owner>/..." (an instance, "host", "model", ...). */
static size_t owner_len(const char *name) {
    const char *slash = strchr(name, '/');
    return slash != NULL ? (size_t)(slash - name) : 0;
}

/* Entries "<owner>/...": a loss instance's state or the program's
 * ("trainer/...", "env/..."): the entry names do not say which (the
 * instances are in LP__CKPT_META_PLUGINS). "host", "model" and "optimizer" are not owners here. */
static int is_instance(const char *name, size_t len) {
    static const char *const not_instances[] = {"host", "model", "optimizer"};
    if (len == 0)
        return 0;
    for (size_t i = 0; i < sizeof not_instances / sizeof not_instances[0]; i++)
        if (strlen(not_instances[i]) == len && strncmp(name, not_instances[i], len) == 0)
            return 0;
    return 1;
}

/* Calls fn for each distinct instance, in file order. */
static void each_instance(const lp__ckpt *ck, void (*fn)(void *, const char *, size_t),
                          void *user) {
    size_t n = lp__ckpt_count(ck);
    for (size_t i = 0; i < n; i++) {
        const char *name = lp__ckpt_entry_at(ck, i)->name;
        size_t len = owner_len(name);
        if (!is_instance(name, len))
            continue;
        int seen = 0;
        for (size_t k = 0; k < i && !seen; k++) {
            const char *other = lp__ckpt_entry_at(ck, k)->name;
            seen = owner_len(other) == len && strncmp(other, name, len) == 0;
        }
        if (!seen)
            fn(user, name, len);
    }
}

static void print_instance(void *user, const char *name, size_t len) {
    int *first = user;
    printf("%s%.*s", *first ? "" : ", ", (int)len, name);
    *first = 0;
}

static void json_instance(void *user, const char *name, size_t len) {
    char buf[LP__CKPT_NAME_MAX + 1];
    snprintf(buf, sizeof buf, "%.*s", (int)len, name);
    lp__json_string(user, buf);
}

/* Calls fn(user, instance, plugin id, version) for each line of the
 * metadata entry LP__CKPT_META_PLUGINS (written by lp_session_save), with
 * every byte outside printable ASCII shown as '?'. Returns how many lines
 * it had, 0 when the checkpoint has no such entry (older files). */
static size_t each_plugin(const lp__ckpt *ck,
                          void (*fn)(void *, const char *, const char *, const char *),
                          void *user) {
    const lp__ckpt_entry *e = lp__ckpt_find(ck, LP__CKPT_META_PLUGINS);
    if (e == NULL || e->dtype != LP_DTYPE_U8 || e->data == NULL)
        return 0;
    const unsigned char *p = e->data, *end = p + e->nbytes;
    size_t lines = 0;
    while (p < end) {
        char line[3 * LP__CKPT_NAME_MAX + 8], *field[3] = {line, NULL, NULL};
        size_t n = 0, f = 1;
        for (; p < end && *p != '\n'; p++) {
            if (n + 1 >= sizeof line)
                continue;
            if (*p == ' ' && f < 3) {
                line[n++] = '\0';
                field[f++] = &line[n];
            } else {
                line[n++] = *p >= 0x20 && *p < 0x7f ? (char)*p : '?';
            }
        }
        line[n] = '\0';
        p += p < end; /* the newline */
        if (f == 3) {
            fn(user, field[0], field[1], field[2]);
            lines++;
        }
    }
    return lines;
}

static void print_plugin(void *user, const char *inst, const char *id, const char *version) {
    int *first = user;
    printf("%s%s (plugin %s %s)", *first ? "" : ", ", inst, id, version);
    *first = 0;
}

static void json_plugin(void *user, const char *inst, const char *id, const char *version) {
    lp__json_object_begin(user);
    lp__json_kv_string(user, "name", inst);
    lp__json_kv_string(user, "plugin", id);
    lp__json_kv_string(user, "version", version);
    lp__json_object_end(user);
}

int lp__cmd_inspect(const lp__cli *cli, const lp_registry *reg) {
    (void)reg;
    const char *path = cli->args[0];
    lp__ckpt *ck = NULL;
    lp_error err = {0};
    if (lp__ckpt_open(path, &ck, &err) != LP_OK) {
        lp__print_error("%s", err.message[0] ? err.message : lp_strerror(err.code));
        return LP__EXIT_ERROR;
    }
    size_t n = lp__ckpt_count(ck);
    uint64_t data_bytes = 0;
    for (size_t i = 0; i < n; i++)
        data_bytes += lp__ckpt_entry_at(ck, i)->nbytes;
    long long epoch = counter(ck, "host/epoch"), steps = counter(ck, "host/env_steps");
    char shape[256];
    if (cli->json) {
        lp__json j;
        lp__json_init(&j, stdout);
        lp__json_object_begin(&j);
        lp__json_kv_string(&j, "checkpoint", path);
        lp__json_kv_int(&j, "format_version", 1);
        lp__json_kv_bool(&j, "crc_ok", 1);
        lp__json_key(&j, "epoch");
        epoch >= 0 ? lp__json_int(&j, epoch) : lp__json_null(&j);
        lp__json_key(&j, "env_steps");
        steps >= 0 ? lp__json_int(&j, steps) : lp__json_null(&j);
        lp__json_key(&j, "owners");
        lp__json_array_begin(&j);
        each_instance(ck, json_instance, &j);
        lp__json_array_end(&j);
        lp__json_key(&j, "instances"); /* the loss instances and their plugins */
        lp__json_array_begin(&j);
        each_plugin(ck, json_plugin, &j);
        lp__json_array_end(&j);
        lp__json_key(&j, "entries");
        lp__json_array_begin(&j);
        for (size_t i = 0; i < n; i++) {
            const lp__ckpt_entry *e = lp__ckpt_entry_at(ck, i);
            lp__json_object_begin(&j);
            lp__json_kv_string(&j, "name", e->name);
            lp__json_kv_string(&j, "dtype", lp_dtype_name(e->dtype));
            lp__json_key(&j, "shape");
            lp__json_array_begin(&j);
            for (int32_t d = 0; d < e->rank; d++)
                lp__json_int(&j, e->shape[d]);
            lp__json_array_end(&j);
            lp__json_kv_int(&j, "bytes", (int64_t)e->nbytes);
            lp__json_kv_int(&j, "offset", (int64_t)e->offset);
            lp__json_kv_bool(&j, "crc_ok", 1);
            lp__json_object_end(&j);
        }
        lp__json_array_end(&j);
        lp__json_object_end(&j);
        lp__json_finish(&j);
    } else {
        printf("checkpoint: %s\n", path);
        printf("format: version 1, %zu entries, %" PRIu64 " bytes of data, every CRC32 ok\n", n,
               data_bytes);
        if (epoch >= 0)
            printf("taken: after epoch %lld, %lld env steps\n", epoch, steps);
        printf("state owners (loss instances or the program): ");
        int first = 1;
        each_instance(ck, print_instance, &first);
        printf("%s\n", first ? "(none)" : "");
        first = 1;
        printf("loss instances: ");
        if (each_plugin(ck, print_plugin, &first) == 0)
            printf("(not recorded: a checkpoint written before lossplug recorded them)");
        printf("\n");
        size_t w = 4;
        for (size_t i = 0; i < n; i++)
            if (strlen(lp__ckpt_entry_at(ck, i)->name) > w)
                w = strlen(lp__ckpt_entry_at(ck, i)->name);
        printf("\n  %-*s  DTYPE  %-14s %12s %10s  CRC\n", (int)w, "NAME", "SHAPE", "BYTES",
               "OFFSET");
        for (size_t i = 0; i < n; i++) {
            const lp__ckpt_entry *e = lp__ckpt_entry_at(ck, i);
            shape_text(e, shape, sizeof shape);
            printf("  %-*s  %-5s  %-14s %12" PRIu64 " %10" PRIu64 "  ok\n", (int)w, e->name,
                   lp_dtype_name(e->dtype), shape, e->nbytes, e->offset);
        }
    }
    lp__ckpt_close(ck);
    return LP__EXIT_OK;
}
