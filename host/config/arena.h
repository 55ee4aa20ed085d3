/* Internal: a region allocator. Everything a config owns lives in one arena
 * and is freed at once, so error paths cannot leak pieces of it. */
#ifndef LP_CONFIG_ARENA_H
#define LP_CONFIG_ARENA_H

#include <stddef.h>

typedef struct lp__arena lp__arena;

/* A new, empty arena, or NULL when out of memory. */
lp__arena *lp__arena_new(void);

/* Free the arena and every allocation made from it. NULL is a no-op. */
void lp__arena_free(lp__arena *a);

/* `size` zeroed bytes aligned for any type, valid until lp__arena_free; NULL
 * when out of memory. size 0 returns a valid unique pointer. */
void *lp__arena_alloc(lp__arena *a, size_t size);

/* `n` elements of `size` bytes, zeroed; NULL on overflow or out of memory. */
void *lp__arena_array(lp__arena *a, size_t n, size_t size);

/* A NUL-terminated copy of the `len` bytes at `s` (which may contain no
 * NUL), or NULL when out of memory. */
char *lp__arena_strndup(lp__arena *a, const char *s, size_t len);

/* lp__arena_strndup(a, s, strlen(s)). */
char *lp__arena_strdup(lp__arena *a, const char *s);

#endif
