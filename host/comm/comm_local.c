/* The single-process communicator (lossplug/comm.h): rank 0 of 1. Every
 * collective leaves the caller's buffer as it is; a gather copies. */
#include <lossplug/comm.h>

#include "util/error.h"

#include <string.h>

static int32_t local_allreduce_f32(void *user, float *buf, size_t count, int32_t op,
                                   lp_error *err) {
    (void)user, (void)buf, (void)count, (void)op, (void)err;
    return LP_OK;
}

static int32_t local_allreduce_f64(void *user, double *buf, size_t count, int32_t op,
                                   lp_error *err) {
    (void)user, (void)buf, (void)count, (void)op, (void)err;
    return LP_OK;
}

static int32_t local_broadcast(void *user, void *buf, size_t bytes, int32_t root, lp_error *err) {
    (void)user, (void)buf, (void)bytes, (void)root, (void)err;
    return LP_OK;
}

static int32_t local_gather(void *user, const void *send, void *recv, size_t bytes, int32_t root,
                            lp_error *err) {
    (void)user, (void)root, (void)err;
    if (bytes > 0 && recv != send)
        memmove(recv, send, bytes);
    return LP_OK;
}

static int32_t local_barrier(void *user, lp_error *err) {
    (void)user, (void)err;
    return LP_OK;
}

void lp_comm_local_init(lp_comm *c) {
    if (c == NULL)
        return;
    memset(c, 0, sizeof *c);
    c->struct_size = sizeof *c;
    c->rank = 0;
    c->size = 1;
    c->name = "local";
    c->allreduce_f32 = local_allreduce_f32;
    c->allreduce_f64 = local_allreduce_f64;
    c->broadcast = local_broadcast;
    c->gather = local_gather;
    c->barrier = local_barrier;
}

int32_t lp_comm_check(const lp_comm *c, lp_error *err) {
    if (c == NULL || c->struct_size != sizeof *c)
        return lp__error_set(err, LP_EINVAL,
                             "communicator: struct_size is %u, expected %zu: fill it with "
                             "lp_comm_local_init, lp_comm_mpi_open or all of its members",
                             c == NULL ? 0u : (unsigned)c->struct_size, sizeof *c);
    if (c->size < 1 || c->rank < 0 || c->rank >= c->size)
        return lp__error_set(err, LP_EINVAL,
                             "communicator '%s': rank %d of size %d; the rank must be in 0 .. "
                             "size-1",
                             c->name != NULL ? c->name : "?", (int)c->rank, (int)c->size);
    if (c->allreduce_f32 == NULL || c->allreduce_f64 == NULL || c->broadcast == NULL ||
        c->gather == NULL || c->barrier == NULL)
        return lp__error_set(err, LP_EINVAL,
                             "communicator '%s': a callback is NULL; set allreduce_f32, "
                             "allreduce_f64, broadcast, gather and barrier",
                             c->name != NULL ? c->name : "?");
    return LP_OK;
}
