/*
 * A small streaming JSON writer for the CLI's --json output: pretty-printed,
 * two-space indent, strings escaped so that any input bytes give valid JSON
 * (invalid UTF-8 becomes U+FFFD).
 */
#ifndef LP_CLI_JSON_H
#define LP_CLI_JSON_H

#include <stdint.h>
#include <stdio.h>

#define LP__JSON_MAX_DEPTH 32

typedef struct lp__json {
    FILE *out;
    int depth;
    int after_key;                               /* the next value follows "key": */
    unsigned char has_items[LP__JSON_MAX_DEPTH]; /* a comma is due at this depth */
} lp__json;

void lp__json_init(lp__json *j, FILE *out);
/* Ends the document with a newline. */
void lp__json_finish(lp__json *j);

void lp__json_object_begin(lp__json *j);
void lp__json_object_end(lp__json *j);
void lp__json_array_begin(lp__json *j);
void lp__json_array_end(lp__json *j);

/* Inside an object: the key of the value that follows. */
void lp__json_key(lp__json *j, const char *key);

void lp__json_string(lp__json *j, const char *s); /* NULL writes null */
void lp__json_int(lp__json *j, int64_t v);
void lp__json_double(lp__json *j, double v); /* inf and nan write null */
void lp__json_bool(lp__json *j, int v);
void lp__json_null(lp__json *j);

/* key + value in one call. */
void lp__json_kv_string(lp__json *j, const char *key, const char *s);
void lp__json_kv_int(lp__json *j, const char *key, int64_t v);
void lp__json_kv_bool(lp__json *j, const char *key, int v);

/* Writes `s` as a quoted JSON string (exposed for the tests). */
void lp__json_write_string(FILE *out, const char *s);

#endif /* LP_CLI_JSON_H */
