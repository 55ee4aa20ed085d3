/* Internal: "did you mean" by edit distance. No allocation. */
#ifndef LP_UTIL_SUGGEST_H
#define LP_UTIL_SUGGEST_H

#include <stddef.h>

/* Words longer than this are never compared (distance SIZE_MAX). */
#define LP__SUGGEST_MAX_LEN 64

/* Optimal string alignment distance between `a` (alen bytes) and the
 * NUL-terminated `b`: insertions, deletions, substitutions and swaps of two
 * adjacent bytes each cost 1. SIZE_MAX when either is too long. */
size_t lp__edit_distance(const char *a, size_t alen, const char *b);

/* Finds the candidate nearest to a word, among those close enough for a
 * typo: distance at most 1 for words of up to 3 bytes, 2 up to 6, else 3.
 * Ties keep the first candidate offered. */
typedef struct lp__suggester {
    const char *word;
    size_t len;
    const char *best; /* borrowed from the candidates */
    size_t best_dist;
} lp__suggester;

void lp__suggest_init(lp__suggester *s, const char *word, size_t len);
void lp__suggest_add(lp__suggester *s, const char *candidate);
/* The nearest candidate close enough, or NULL. */
const char *lp__suggest_result(const lp__suggester *s);

/* Convenience over an array of candidates. */
const char *lp__suggest(const char *word, size_t len, const char *const *cands, size_t n);

#endif
