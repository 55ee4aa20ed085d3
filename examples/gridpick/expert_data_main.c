/* gridpick-expert-data: writes an expert dataset of the scripted gridpick
 * teacher (multi-discrete, format version 2; --flat: the 10 flat actions,
 * version 1) for the expert_ce loss (docs/losses/expert_ce.md). */
#include "gridpick_lp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *to) {
    fprintf(to,
            "usage: gridpick-expert-data --out FILE [--envs M] [--steps N] [--seed S] [--flat]\n"
            "  Runs the scripted gridpick teacher for N steps (default 2000) over M\n"
            "  environments (default 8) seeded with S (default 1) and writes the\n"
            "  M*N (observation, expert action, episode start) records to FILE:\n"
            "  the multi-discrete {5, 2} action (dataset version 2), or with --flat\n"
            "  the flattened 10 actions a = 2 * move + pick (version 1).\n");
}

static int whole(const char *opt, const char *s, long long min, long long max, long long *v) {
    char *end = NULL;
    errno = 0;
    long long x = s != NULL ? strtoll(s, &end, 10) : 0;
    if (s == NULL || *s == '\0' || errno != 0 || *end != '\0' || x < min || x > max) {
        fprintf(stderr, "gridpick-expert-data: %s wants a whole number in [%lld, %lld], got '%s'\n",
                opt, min, max, s != NULL ? s : "");
        return -1;
    }
    *v = x;
    return 0;
}

int main(int argc, char **argv) {
    const char *out = NULL;
    long long envs = 8, steps = 2000, seed = 1;
    int flat = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--flat")) {
            flat = 1;
            continue;
        } else if (!strcmp(a, "--out") && v != NULL) {
            out = v;
        } else if (!strcmp(a, "--envs") && v != NULL) {
            bad = whole(a, v, 1, 1 << 20, &envs);
        } else if (!strcmp(a, "--steps") && v != NULL) {
            bad = whole(a, v, 1, 1LL << 30, &steps);
        } else if (!strcmp(a, "--seed") && v != NULL) {
            bad = whole(a, v, 0, INT64_MAX, &seed);
        } else {
            fprintf(stderr, "gridpick-expert-data: unknown argument or missing value '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (bad)
            return 2;
        i++;
    }
    if (out == NULL) {
        fprintf(stderr, "gridpick-expert-data: --out FILE is required\n");
        usage(stderr);
        return 2;
    }
    double mean = 0.0;
    errno = 0;
    if (gp_expert_write(out, (int32_t)envs, steps, (uint64_t)seed, flat, &mean) != 0) {
        fprintf(stderr, "gridpick-expert-data: cannot write '%s': %s\n", out,
                errno != 0 ? strerror(errno) : "out of memory");
        return 1;
    }
    printf("wrote %s: %lld records (%lld envs x %lld steps), %s, teacher mean return %.2f\n", out,
           envs * steps, envs, steps,
           flat ? "10 flat actions (version 1)" : "multi-discrete {5, 2} (version 2)", mean);
    return 0;
}
