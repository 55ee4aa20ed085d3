/* comm_allreduce: what data-parallel training costs per minibatch
 * (docs/distributed.md, numbers in docs/performance.md "Data-parallel").
 *
 *   mpirun --oversubscribe -np 2 build/bin/comm_allreduce [reps]
 *       per minibatch: the gradient all-reduce (mean) for the CartPole
 *       model (9155 floats) and a 1M-parameter model, and the two-double
 *       vote that goes with it; median over `reps` rounds of many calls.
 *   build/bin/comm_allreduce [reps]            (no mpirun)
 *       the single-process default: Adam's step called directly against
 *       the same step behind the local communicator's all-reduce and vote
 *       (what a program pays that always goes through lp_comm), A/B
 *       alternated, as a ratio.
 *
 * Run from a build without sanitizers; the machine is shared, so read the
 * medians and the ratios, not single numbers. */
#include <lossplug/comm.h>
#include <lossplug/comm_mpi.h>
#include <lossplug/host.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void check(int32_t rc, const lp_error *err) {
    if (rc != LP_OK) {
        fprintf(stderr, "comm_allreduce: %s\n", err->message);
        exit(1);
    }
}

/* Microseconds per call of one gradient all-reduce of `count` floats, and
 * of the vote, for `iters` calls per round. */
static void allreduce(const lp_comm *c, size_t count, int iters, int reps) {
    float *g = malloc(count * sizeof *g);
    double *tg = malloc((size_t)reps * sizeof *tg), *tv = malloc((size_t)reps * sizeof *tv);
    lp_error err;
    for (size_t i = 0; i < count; i++)
        g[i] = 1e-3f * (float)(i % 97);
    for (int r = 0; r < reps; r++) {
        check(c->barrier(c->user, &err), &err);
        double t0 = now();
        for (int i = 0; i < iters; i++)
            check(c->allreduce_f32(c->user, g, count, LP_COMM_MEAN, &err), &err);
        double t1 = now();
        for (int i = 0; i < iters; i++) {
            double vote[2] = {0.0, (double)i};
            check(c->allreduce_f64(c->user, vote, 2, LP_COMM_MAX, &err), &err);
        }
        double t2 = now();
        tg[r] = 1e6 * (t1 - t0) / iters;
        tv[r] = 1e6 * (t2 - t1) / iters;
    }
    if (c->rank == 0)
        printf("%d ranks  %8zu floats (%6.2f MB): all-reduce %9.1f us   vote %6.1f us   "
               "(median of %d rounds of %d)\n",
               (int)c->size, count, (double)count * 4.0 / 1e6, median(tg, reps), median(tv, reps),
               reps, iters);
    free(g);
    free(tg);
    free(tv);
}

/* The single-process default against Adam called directly. */
static void local_overhead(size_t count, int iters, int reps) {
    lp_comm c;
    lp_comm_local_init(&c);
    lp_adam_options ao;
    lp_adam_options_init(&ao);
    lp_adam *adam = NULL;
    lp_error err;
    check(lp_adam_create(&ao, count, &adam, &err), &err);
    float *p = calloc(count, sizeof *p), *g = malloc(count * sizeof *g);
    double *ta = malloc((size_t)reps * sizeof *ta), *tb = malloc((size_t)reps * sizeof *tb);
    double *ratio = malloc((size_t)reps * sizeof *ratio);
    for (int r = 0; r < reps; r++) {
        for (int ab = 0; ab < 2; ab++) {
            int via_comm = (r + ab) % 2; /* alternate which goes first */
            double t0 = now();
            for (int i = 0; i < iters; i++) {
                for (size_t k = 0; k < count; k += 64)
                    g[k] = 1e-3f;
                if (via_comm) {
                    double vote[2] = {0.0, 0.0};
                    check(c.allreduce_f32(c.user, g, count, LP_COMM_MEAN, &err), &err);
                    check(c.allreduce_f64(c.user, vote, 2, LP_COMM_MAX, &err), &err);
                }
                check(lp_adam_step(adam, p, g, count, &err), &err);
            }
            double us = 1e6 * (now() - t0) / iters;
            if (via_comm)
                tb[r] = us;
            else
                ta[r] = us;
        }
        ratio[r] = tb[r] / ta[r];
    }
    printf("single process, %zu parameters: Adam step %.2f us, through the local lp_comm %.2f us, "
           "ratio %.4f (median of %d A/B pairs of %d steps)\n",
           count, median(ta, reps), median(tb, reps), median(ratio, reps), reps, iters);
    lp_adam_destroy(adam);
    free(p);
    free(g);
    free(ta);
    free(tb);
    free(ratio);
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 15;
    if (reps < 1)
        reps = 1;
    if (!lp_comm_mpi_launched()) {
        local_overhead(9155, 2000, reps);
        local_overhead(1 << 20, 20, reps);
        return 0;
    }
    lp_comm c;
    lp_error err;
    check(lp_comm_mpi_open(&c, &err), &err);
    allreduce(&c, 9155, 400, reps);
    allreduce(&c, (size_t)1 << 20, 10, reps);
    lp_comm_mpi_close(&c);
    return 0;
}
