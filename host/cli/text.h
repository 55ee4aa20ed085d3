/*
 * Text output for people: aligned tables. Cells are copied; control
 * characters in them (a plugin's strings are not trusted) print as spaces.
 */
#ifndef LP_CLI_TEXT_H
#define LP_CLI_TEXT_H

#include <stddef.h>
#include <stdio.h>

#define LP__TABLE_MAX_COLUMNS 8

typedef struct lp__table {
    int columns;
    size_t rows;
    size_t capacity;
    char **cells; /* rows * columns, row-major, owned */
} lp__table;

void lp__table_init(lp__table *t, int columns);
/* Appends a row of `columns` cells (NULL prints as "-"). Returns 0, or -1
 * when out of memory. */
int lp__table_add(lp__table *t, const char *const *cells);
/* Prints every row, columns two spaces apart, each line after `indent`;
 * the last column is not padded. */
void lp__table_print(const lp__table *t, FILE *out, const char *indent);
void lp__table_free(lp__table *t);

/* Prints `s` with control characters replaced by spaces; NULL prints "-". */
void lp__text_put(FILE *out, const char *s);

#endif /* LP_CLI_TEXT_H */
