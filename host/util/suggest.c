#include "util/suggest.h"

#include <stdint.h>
#include <string.h>

static size_t min3(size_t a, size_t b, size_t c) {
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

size_t lp__edit_distance(const char *a, size_t alen, const char *b) {
    size_t blen = strlen(b);
    if (alen > LP__SUGGEST_MAX_LEN || blen > LP__SUGGEST_MAX_LEN)
        return SIZE_MAX;
    /* Three rows of the dynamic programme: i-2, i-1 and i. */
    size_t rows[3][LP__SUGGEST_MAX_LEN + 1];
    size_t *pp = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= blen; j++)
        prev[j] = j;
    for (size_t i = 1; i <= alen; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= blen; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t d = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < d)
                d = pp[j - 2] + 1;
            cur[j] = d;
        }
        size_t *t = pp;
        pp = prev;
        prev = cur;
        cur = t;
    }
    return prev[blen];
}

void lp__suggest_init(lp__suggester *s, const char *word, size_t len) {
    s->word = word;
    s->len = len;
    s->best = NULL;
    s->best_dist = SIZE_MAX;
}

static size_t threshold(size_t len) {
    return len <= 3 ? 1 : len <= 6 ? 2 : 3;
}

void lp__suggest_add(lp__suggester *s, const char *candidate) {
    if (candidate == NULL)
        return;
    size_t d = lp__edit_distance(s->word, s->len, candidate);
    if (d <= threshold(s->len) && d < s->best_dist) {
        s->best = candidate;
        s->best_dist = d;
    }
}

const char *lp__suggest_result(const lp__suggester *s) {
    return s->best;
}

const char *lp__suggest(const char *word, size_t len, const char *const *cands, size_t n) {
    lp__suggester s;
    lp__suggest_init(&s, word, len);
    for (size_t i = 0; i < n; i++)
        lp__suggest_add(&s, cands[i]);
    return lp__suggest_result(&s);
}
