/*
 * loss_kernels: ns per sample of the ppo and value train hooks (forward and
 * gradient, one train call each per minibatch) on one thread, next to the
 * memory-traffic floor: one loop that reads every byte those calls read and
 * writes every byte they write, once.
 *
 *   loss_kernels [reps [M A]]
 *
 * With M and A, only that case runs (for a profiler); M a multiple of the
 * horizon.
 * The plugins are the built .so files (paths compiled in), driven through
 * the mock host of tests/support, as the unit tests drive them. Not a test:
 * it prints a table and exits 0 unless a call fails. docs/performance.md
 * records the numbers.
 */
#define _GNU_SOURCE /* clock_gettime, syscall under -std=c11 */
#include <lpt.h>

#if defined(__linux__)
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef LP_BENCH_PPO
#error "LP_BENCH_PPO must name the built ppo .so"
#endif
#ifndef LP_BENCH_VALUE
#error "LP_BENCH_VALUE must name the built value .so"
#endif

#define HORIZON 64

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The bytes the two train calls touch, in one pass: logits and the
 * per-sample ppo fields read, the logits' gradient read and written, ratios
 * written; returns, old values and values read, their gradient read and
 * written. */
typedef struct floor_args {
    const float *z, *adv, *old, *ret, *vold, *v;
    const int32_t *act;
    float *g, *rat, *gv;
    int64_t M, A;
} floor_args;

#define FLOOR_BODY                                                                                 \
    for (int64_t i = 0; i < F->M; i++) {                                                           \
        const float *LP_BENCH_RESTRICT zi = F->z + i * F->A;                                       \
        float *LP_BENCH_RESTRICT gi = F->g + i * F->A;                                             \
        for (int64_t j = 0; j < F->A; j++)                                                         \
            gi[j] += zi[j];                                                                        \
    }                                                                                              \
    for (int64_t i = 0; i < F->M; i++) {                                                           \
        F->rat[i] = F->adv[i] + F->old[i] + (float)F->act[i];                                      \
        F->gv[i] += F->ret[i] + F->vold[i] + F->v[i];                                              \
    }

#define LP_BENCH_RESTRICT restrict
static void floor_base(const floor_args *F) {
    FLOOR_BODY
}
#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("avx2"))) static void floor_avx2(const floor_args *F) {
    FLOOR_BODY
}
#endif

typedef struct setup {
    int64_t M, A, R;
    float *z, *g, *adv, *old, *rat, *ret, *vold, *v, *gv;
    int32_t *act;
    lpt_inst *ppo, *val;
} setup;

static void *xcalloc(int64_t n, size_t size) {
    void *p = calloc((size_t)n, size);
    if (p == NULL) {
        fprintf(stderr, "loss_kernels: out of memory\n");
        exit(1);
    }
    return p;
}

static void setup_make(setup *s, const lp_loss_desc *ppo, const lp_loss_desc *val, int64_t M,
                       int64_t A) {
    memset(s, 0, sizeof *s);
    s->M = M, s->A = A, s->R = M / HORIZON;
    const int64_t R = s->R, T = HORIZON;
    s->z = xcalloc(M * A, sizeof(float));
    s->g = xcalloc(M * A, sizeof(float));
    s->adv = xcalloc(M, sizeof(float));
    s->old = xcalloc(M, sizeof(float));
    s->rat = xcalloc(M, sizeof(float));
    s->ret = xcalloc(M, sizeof(float));
    s->vold = xcalloc(M, sizeof(float));
    s->v = xcalloc(M, sizeof(float));
    s->gv = xcalloc(M, sizeof(float));
    s->act = xcalloc(M, sizeof(int32_t));
    lpt_rng rng = lpt_rng_seed(1);
    for (int64_t k = 0; k < M * A; k++)
        s->z[k] = (float)lpt_rng_normal(&rng);
    for (int64_t i = 0; i < M; i++) {
        s->act[i] = (int32_t)lpt_rng_int(&rng, 0, A - 1);
        /* old log-probs near the current ones: ratios around 1, some clipped */
        double m = -INFINITY, sum = 0.0;
        for (int64_t j = 0; j < A; j++)
            m = fmax(m, s->z[i * A + j]);
        for (int64_t j = 0; j < A; j++)
            sum += exp(s->z[i * A + j] - m);
        s->old[i] = (float)(s->z[i * A + s->act[i]] - m - log(sum) + 0.15 * lpt_rng_normal(&rng));
        s->adv[i] = (float)lpt_rng_normal(&rng);
        s->ret[i] = (float)lpt_rng_normal(&rng);
        s->vold[i] = (float)(s->ret[i] + 0.5 * lpt_rng_normal(&rng));
        s->v[i] = (float)(s->vold[i] + 0.2 * lpt_rng_normal(&rng));
    }
    s->ppo = lpt_inst_new(ppo, "ppo");
    s->val = lpt_inst_new(val, "value");
    if (s->ppo == NULL || s->val == NULL) {
        fprintf(stderr, "loss_kernels: out of memory\n");
        exit(1);
    }
    lpt_add_field(s->ppo, "advantages", LPT_VIEW(s->adv, LP_DTYPE_F32, R, T));
    lpt_add_field(s->ppo, "actions", LPT_VIEW(s->act, LP_DTYPE_I32, R, T));
    lpt_add_field(s->ppo, "logprobs", LPT_VIEW(s->old, LP_DTYPE_F32, R, T));
    lpt_add_field(s->ppo, "ratios", LPT_VIEW(s->rat, LP_DTYPE_F32, R, T));
    lpt_add_output(s->ppo, "logits", LPT_VIEW(s->z, LP_DTYPE_F32, R, T, A),
                   LPT_VIEW(s->g, LP_DTYPE_F32, R, T, A));
    lpt_add_field(s->val, "returns", LPT_VIEW(s->ret, LP_DTYPE_F32, R, T));
    lpt_add_field(s->val, "values", LPT_VIEW(s->vold, LP_DTYPE_F32, R, T));
    lpt_add_output(s->val, "values", LPT_VIEW(s->v, LP_DTYPE_F32, R, T),
                   LPT_VIEW(s->gv, LP_DTYPE_F32, R, T));
    /* update epoch 1: explained variance is not accumulated (it is once per
     * train phase, in update epoch 0 only) */
    lpt_ctx(s->val)->update_epoch = 1;
    if (lpt_create(s->ppo) != LP_OK || lpt_attach(s->ppo) != LP_OK || lpt_create(s->val) != LP_OK ||
        lpt_attach(s->val) != LP_OK) {
        fprintf(stderr, "loss_kernels: create/attach failed: %s %s\n", lpt_last_error(s->ppo),
                lpt_last_error(s->val));
        exit(1);
    }
    /* Time the hooks, not the mock host's per-hook contract checks (the
     * fixture was checked at attach). */
    lpt_hook_checks(s->ppo, 0);
    lpt_hook_checks(s->val, 0);
}

static void setup_free(setup *s) {
    lpt_inst_free(s->ppo);
    lpt_inst_free(s->val);
    free(s->z), free(s->g), free(s->adv), free(s->old), free(s->rat);
    free(s->ret), free(s->vold), free(s->v), free(s->gv), free(s->act);
}

/* User-space instructions retired, from the hardware counter through
 * perf_event_open; -1 where there is none (a VM without a virtual PMU,
 * perf_event_paranoid, another OS): the column then says n/a. */
static int insn_fd = -1;
static void insn_open(void) {
#if defined(__linux__)
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = PERF_TYPE_HARDWARE;
    a.config = PERF_COUNT_HW_INSTRUCTIONS;
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    insn_fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
    if (insn_fd >= 0)
        ioctl(insn_fd, PERF_EVENT_IOC_ENABLE, 0);
#endif
}
static double insn_read(void) {
#if defined(__linux__)
    long long v = 0;
    if (insn_fd >= 0 && read(insn_fd, &v, sizeof v) == (ssize_t)sizeof v)
        return (double)v;
#endif
    return -1.0;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of `reps` timed runs of `which` (0 ppo, 1 value, 2 floor), in ns;
 * the median of the instructions in *insn (-1 without a counter). */
static double timed(setup *s, int which, int reps, void (*floor_fn)(const floor_args *),
                    double *insn) {
    double *t = xcalloc(reps, sizeof(double)), *n = xcalloc(reps, sizeof(double));
    floor_args F = {s->z,   s->adv, s->old, s->ret, s->vold, s->v,
                    s->act, s->g,   s->rat, s->gv,  s->M,    s->A};
    for (int r = -2; r < reps; r++) { /* two warm-up runs */
        const double i0 = insn_read();
        const double t0 = now_ns();
        int32_t rc = LP_OK;
        if (which == 0)
            rc = lpt_train(s->ppo, 1.0f, NULL);
        else if (which == 1)
            rc = lpt_train(s->val, 1.0f, NULL);
        else
            floor_fn(&F);
        const double t1 = now_ns();
        const double i1 = insn_read();
        if (rc != LP_OK) {
            fprintf(stderr, "loss_kernels: train failed: %s %s\n", lpt_last_error(s->ppo),
                    lpt_last_error(s->val));
            exit(1);
        }
        if (r >= 0) {
            t[r] = t1 - t0;
            n[r] = i0 >= 0.0 && i1 >= 0.0 ? i1 - i0 : -1.0;
        }
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    qsort(n, (size_t)reps, sizeof *n, cmp_double);
    const double med = t[reps / 2];
    *insn = n[reps / 2];
    free(t);
    free(n);
    return med;
}

int main(int argc, char **argv) {
    const int reps = argc > 1 ? atoi(argv[1]) : 30;
    int64_t cases[2][2] = {{16384, 16}, {262144, 8}};
    int ncases = 2;
    if (argc == 4) {
        cases[0][0] = atoll(argv[2]), cases[0][1] = atoll(argv[3]);
        ncases = 1;
    }
    if (reps < 1 || (argc != 2 && argc != 4 && argc != 1) || cases[0][0] < HORIZON ||
        cases[0][0] % HORIZON != 0 || cases[0][1] < 1 || cases[0][1] > 4096) {
        fprintf(stderr,
                "usage: loss_kernels [reps >= 1 [M A]] (M a positive multiple of %d, "
                "A in [1, 4096])\n",
                HORIZON);
        return 2;
    }
    char err[512];
    lpt_plugin *pp = lpt_plugin_open(LP_BENCH_PPO, err, sizeof err);
    if (pp == NULL) {
        fprintf(stderr, "loss_kernels: %s\n", err);
        return 1;
    }
    lpt_plugin *pv = lpt_plugin_open(LP_BENCH_VALUE, err, sizeof err);
    if (pv == NULL) {
        fprintf(stderr, "loss_kernels: %s\n", err);
        return 1;
    }
    void (*floor_fn)(const floor_args *) = floor_base;
    const char *isa = "baseline";
#if defined(__GNUC__) && defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        floor_fn = floor_avx2, isa = "avx2";
#endif
    insn_open();
    printf("loss_kernels: median of %d runs, one thread, horizon %d, floor loop %s, "
           "instruction counter %s\n",
           reps, HORIZON, isa, insn_fd >= 0 ? "yes" : "not available (n/a)");
    printf("%8s %4s %10s %10s %10s %10s %8s %10s %12s\n", "M", "A", "ppo ns/s", "value ns/s",
           "total ns/s", "floor ns/s", "ratio", "MB touched", "insn/sample");
    for (int c = 0; c < ncases; c++) {
        setup s;
        setup_make(&s, lpt_plugin_find(pp, "ppo"), lpt_plugin_find(pv, "value"), cases[c][0],
                   cases[c][1]);
        const double M = (double)s.M;
        double ip, iv, iff;
        const double tp = timed(&s, 0, reps, floor_fn, &ip) / M;
        const double tv = timed(&s, 1, reps, floor_fn, &iv) / M;
        const double tf = timed(&s, 2, reps, floor_fn, &iff) / M;
        char insn[32] = "n/a";
        if (ip >= 0.0 && iv >= 0.0)
            snprintf(insn, sizeof insn, "%.0f", (ip + iv) / M);
        /* read z, g, adv, act, old, ret, vold, v, gv; write g, rat, gv */
        const double bytes = M * (4.0 * (double)s.A * 3.0 + 4.0 * 9.0);
        printf("%8lld %4lld %10.2f %10.2f %10.2f %10.2f %8.2f %10.1f %12s\n", (long long)s.M,
               (long long)s.A, tp, tv, tp + tv, tf, (tp + tv) / tf, bytes / 1e6, insn);
        setup_free(&s);
    }
    lpt_plugin_close(pp);
    lpt_plugin_close(pv);
    return 0;
}
