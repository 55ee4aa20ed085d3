/* cartpole-expert-data: writes an expert dataset of the scripted teacher for
 * the expert_ce loss. Usage in usage() below; format in docs/cartpole.md. */
#include "cartpole.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *to) {
    fprintf(to, "usage: cartpole-expert-data --out FILE [--envs M] [--steps N] [--seed S]\n"
                "                           [--observe full|position]\n"
                "  Runs the scripted CartPole teacher for N steps (default 2500) over M\n"
                "  environments (default 8) seeded with S (default 1) and writes the\n"
                "  M*N (observation, expert action, episode start) records to FILE.\n"
                "  --observe position records [x, theta] only (the velocities hidden).\n");
}

/* A whole decimal number in [min, max], or -1 with a message. */
static int parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *v) {
    char *end = NULL;
    errno = 0;
    unsigned long long x = s && *s && *s != '-' ? strtoull(s, &end, 10) : 0;
    if (!s || !*s || *s == '-' || errno || !end || *end || x < min || x > max) {
        fprintf(stderr,
                "cartpole-expert-data: %s wants a whole number in [%" PRIu64 ", %" PRIu64
                "], got '%s'\n",
                opt, min, max, s ? s : "");
        return -1;
    }
    *v = x;
    return 0;
}

int main(int argc, char **argv) {
    const char *out = NULL;
    uint64_t envs = 8, steps = 2500, seed = 1;
    int position_only = 0;
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--out") && v) {
            out = v;
        } else if (!strcmp(a, "--envs") && v) {
            bad = parse_u64(a, v, 1, INT32_MAX, &envs);
        } else if (!strcmp(a, "--steps") && v) {
            bad = parse_u64(a, v, 1, INT64_MAX, &steps);
        } else if (!strcmp(a, "--seed") && v) {
            bad = parse_u64(a, v, 0, UINT64_MAX, &seed);
        } else if (!strcmp(a, "--observe") && v) {
            position_only = !strcmp(v, "position");
            if (!position_only && strcmp(v, "full") != 0) {
                fprintf(stderr,
                        "cartpole-expert-data: --observe wants full or position, got "
                        "'%s'\n",
                        v);
                return 2;
            }
        } else {
            int known = !strcmp(a, "--out") || !strcmp(a, "--envs") || !strcmp(a, "--steps") ||
                        !strcmp(a, "--seed") || !strcmp(a, "--observe");
            fprintf(stderr, "cartpole-expert-data: %s '%s'\n",
                    known ? "missing value for" : "unknown argument", a);
            usage(stderr);
            return 2;
        }
        if (bad)
            return 2;
    }
    if (!out) {
        fprintf(stderr, "cartpole-expert-data: --out FILE is required\n");
        usage(stderr);
        return 2;
    }
    cp_expert_summary sum;
    errno = 0;
    int rc = cp_expert_write_obs(out, (int32_t)envs, (int64_t)steps, seed, position_only, &sum);
    if (rc != CP_OK) {
        fprintf(stderr, "cartpole-expert-data: cannot write %s: %s%s%s\n", out, cp_strerror(rc),
                rc == CP_EIO && errno ? ": " : "", rc == CP_EIO && errno ? strerror(errno) : "");
        return 1;
    }
    printf("wrote %s: %" PRIu64 " records (%" PRIu64 " envs x %" PRIu64 " steps), "
           "%" PRId64 " episodes ended, mean return %.1f\n",
           out, sum.records, envs, steps, sum.episodes, sum.mean_return);
    return 0;
}
