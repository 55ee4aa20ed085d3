/*
 * lossplug communicator: the few collective operations data-parallel
 * training needs (docs/distributed.md), as a table of callbacks so that the
 * training loop depends on no transport.
 *
 *  - lp_comm_local_init (liblossplug): one process, no dependency. Every
 *    operation is a no-op on the caller's buffer (a mean divides by 1).
 *  - lp_comm_mpi_open (liblossplug-mpi, <lossplug/comm_mpi.h>): Open MPI's
 *    MPI_COMM_WORLD. A program links it only when it wants more than one
 *    process; liblossplug itself never links MPI.
 *  - a program's own (NCCL, a thread pool, a test double): fill the struct.
 *
 * Rules for every callback:
 *  - Collective: every rank calls the same operations in the same order with
 *    the same counts, sizes and roots; a rank that skips one leaves the
 *    others waiting. The caller's buffers are caller-owned and only used
 *    during the call.
 *  - Returns LP_OK, or fills `err` (never NULL when called by lossplug) and
 *    returns a negative status. After a failed collective the communicator
 *    is not usable any more: end the job (lp_comm_mpi_abort).
 *  - Not thread-safe: one thread per communicator calls it (the thread that
 *    runs lp_train_run). Results are identical on every rank: a reduction
 *    gives every rank the same bits.
 */
#ifndef LOSSPLUG_COMM_H
#define LOSSPLUG_COMM_H

#include <lossplug/registry.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lp_comm_op {
    LP_COMM_SUM = 0,
    LP_COMM_MEAN = 1, /* the sum times 1/size (exact when size is a power of two) */
    LP_COMM_MAX = 2,
    LP_COMM_MIN = 3,
} lp_comm_op;

typedef struct lp_comm {
    uint32_t struct_size; /* sizeof(lp_comm), set by whoever fills it */
    int32_t rank;         /* this process: 0 .. size-1 */
    int32_t size;         /* processes in the job, >= 1 */
    int32_t reserved;
    const char *name; /* "local", "mpi": for messages; static storage */
    void *user;       /* the backend's state, passed to every callback */
    /* Reduce `count` floats elementwise across ranks with `op`
     * (lp_comm_op), in place: on return every rank holds the result. */
    int32_t (*allreduce_f32)(void *user, float *buf, size_t count, int32_t op, lp_error *err);
    /* The same for doubles (stats, votes). */
    int32_t (*allreduce_f64)(void *user, double *buf, size_t count, int32_t op, lp_error *err);
    /* Copy `bytes` from rank `root`'s buf into every other rank's buf. */
    int32_t (*broadcast)(void *user, void *buf, size_t bytes, int32_t root, lp_error *err);
    /* Rank `root` receives every rank's `bytes` of `send` into `recv`
     * (size * bytes, rank order; only read at root, may be NULL elsewhere). */
    int32_t (*gather)(void *user, const void *send, void *recv, size_t bytes, int32_t root,
                      lp_error *err);
    /* Return when every rank has called it. */
    int32_t (*barrier)(void *user, lp_error *err);
} lp_comm;

/* Fill `c` with the single-process communicator: rank 0 of 1, no state
 * (user NULL), every operation returns LP_OK at once (a gather copies send
 * to recv). Nothing is allocated; nothing to free. [any-thread] */
LP_API void lp_comm_local_init(lp_comm *c);

/* Whether `c` is usable: struct_size, 0 <= rank < size, every callback set.
 * LP_EINVAL with what is wrong otherwise. [any-thread] */
LP_API int32_t lp_comm_check(const lp_comm *c, lp_error *err);

#ifdef __cplusplus
}
#endif

#endif /* LOSSPLUG_COMM_H */
