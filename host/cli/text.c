/* Aligned text tables for the human-readable output (see text.h). */
#include "cli/text.h"

#include "util/clean_text.h"

#include <stdlib.h>
#include <string.h>

void lp__table_init(lp__table *t, int columns) {
    t->columns = columns > LP__TABLE_MAX_COLUMNS ? LP__TABLE_MAX_COLUMNS : columns;
    t->rows = 0;
    t->capacity = 0;
    t->cells = NULL;
}

/* A copy of `s` with control characters (C0, DEL, C1) and malformed UTF-8
 * turned into spaces. */
static char *lp__clean_copy(const char *s) {
    if (s == NULL)
        s = "-";
    size_t n = strlen(s);
    char *copy = malloc(n + 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, s, n + 1);
    lp__clean_text(copy);
    return copy;
}

int lp__table_add(lp__table *t, const char *const *cells) {
    if (t->rows == t->capacity) {
        size_t cap = t->capacity ? t->capacity * 2 : 8;
        char **grown = realloc(t->cells, cap * (size_t)t->columns * sizeof *grown);
        if (grown == NULL)
            return -1;
        t->cells = grown;
        t->capacity = cap;
    }
    char **row = t->cells + t->rows * (size_t)t->columns;
    for (int c = 0; c < t->columns; c++) {
        row[c] = lp__clean_copy(cells[c]);
        if (row[c] == NULL) {
            while (c-- > 0)
                free(row[c]);
            return -1;
        }
    }
    t->rows++;
    return 0;
}

/* Display width: code points, counting UTF-8 continuation bytes as none. */
static size_t lp__width(const char *s) {
    size_t w = 0;
    for (; *s != '\0'; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

void lp__table_print(const lp__table *t, FILE *out, const char *indent) {
    size_t widths[LP__TABLE_MAX_COLUMNS] = {0};
    for (size_t r = 0; r < t->rows; r++)
        for (int c = 0; c < t->columns; c++) {
            size_t w = lp__width(t->cells[r * (size_t)t->columns + (size_t)c]);
            if (w > widths[c])
                widths[c] = w;
        }
    for (size_t r = 0; r < t->rows; r++) {
        fputs(indent, out);
        for (int c = 0; c < t->columns; c++) {
            const char *cell = t->cells[r * (size_t)t->columns + (size_t)c];
            fputs(cell, out);
            if (c + 1 < t->columns) {
                for (size_t pad = lp__width(cell); pad < widths[c] + 2; pad++)
                    fputc(' ', out);
            }
        }
        fputc('\n', out);
    }
}

void lp__table_free(lp__table *t) {
    for (size_t i = 0; i < t->rows * (size_t)t->columns; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->rows = t->capacity = 0;
}

void lp__text_put(FILE *out, const char *s) {
    if (s == NULL) {
        fputs("-", out);
        return;
    }
    while (*s != '\0') {
        int n = lp__safe_length(s);
        if (n == 0) {
            fputc(' ', out);
            s++;
        } else {
            fwrite(s, 1, (size_t)n, out);
            s += n;
        }
    }
}
