#include "config/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum {
    LP__ARENA_BLOCK = 16 * 1024, /* usual block payload */
    LP__ARENA_BIG = 4 * 1024,    /* larger requests get a block of their own */
};

typedef struct lp__arena_block {
    struct lp__arena_block *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
} lp__arena_block;

struct lp__arena {
    lp__arena_block *head; /* the block being filled */
    lp__arena_block *big;  /* dedicated blocks */
};

lp__arena *lp__arena_new(void) {
    return calloc(1, sizeof(lp__arena));
}

static void free_list(lp__arena_block *b) {
    while (b != NULL) {
        lp__arena_block *next = b->next;
        free(b);
        b = next;
    }
}

void lp__arena_free(lp__arena *a) {
    if (a == NULL)
        return;
    free_list(a->head);
    free_list(a->big);
    free(a);
}

static lp__arena_block *new_block(size_t cap) {
    if (cap > SIZE_MAX - sizeof(lp__arena_block))
        return NULL;
    lp__arena_block *b = malloc(sizeof(lp__arena_block) + cap);
    if (b == NULL)
        return NULL;
    b->next = NULL;
    b->used = 0;
    b->cap = cap;
    return b;
}

void *lp__arena_alloc(lp__arena *a, size_t size) {
    const size_t align = alignof(max_align_t);
    if (size == 0)
        size = 1;
    if (size > SIZE_MAX - align)
        return NULL;
    size = (size + align - 1) / align * align;
    if (size > LP__ARENA_BIG) {
        lp__arena_block *b = new_block(size);
        if (b == NULL)
            return NULL;
        b->next = a->big;
        a->big = b;
        memset(b->data, 0, size);
        return b->data;
    }
    if (a->head == NULL || a->head->cap - a->head->used < size) {
        lp__arena_block *b = new_block(LP__ARENA_BLOCK);
        if (b == NULL)
            return NULL;
        b->next = a->head;
        a->head = b;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += size;
    memset(p, 0, size);
    return p;
}

void *lp__arena_array(lp__arena *a, size_t n, size_t size) {
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    return lp__arena_alloc(a, n * size);
}

char *lp__arena_strndup(lp__arena *a, const char *s, size_t len) {
    if (len == SIZE_MAX)
        return NULL;
    char *p = lp__arena_alloc(a, len + 1);
    if (p == NULL)
        return NULL;
    if (len != 0)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *lp__arena_strdup(lp__arena *a, const char *s) {
    return lp__arena_strndup(a, s, strlen(s));
}
