/* The Open MPI backend of lp_comm (lossplug/comm_mpi.h), built into
 * liblossplug-mpi. A duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN, so
 * a failed call becomes an lp_error with MPI's text instead of MPI's
 * default abort. */
#include <lossplug/comm_mpi.h>

#include "util/error.h"

#include <mpi.h>

#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

typedef struct mpi_state {
    MPI_Comm comm;
    int initialised_here; /* lp_comm_mpi_open called MPI_Init_thread */
    int size;
} mpi_state;

static int32_t mpi_failed(lp_error *err, const char *what, int rc) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error %d", rc);
    return lp__error_set(err, LP_EIO, "MPI: %s failed: %s", what, text);
}

/* MPI counts are int: split larger buffers. */
#define CHUNK ((size_t)1 << 30)

static MPI_Op mpi_op(int32_t op) {
    switch (op) {
    case LP_COMM_MAX:
        return MPI_MAX;
    case LP_COMM_MIN:
        return MPI_MIN;
    default:
        return MPI_SUM;
    }
}

static int32_t bad_op(int32_t op, lp_error *err) {
    return lp__error_set(err, LP_EINVAL,
                         "MPI: reduction op %d is not one of LP_COMM_SUM, LP_COMM_MEAN, "
                         "LP_COMM_MAX, LP_COMM_MIN",
                         (int)op);
}

/* MPI_Allreduce in place over `count` elements of `size` bytes, in chunks
 * that fit MPI's int counts. */
static int32_t allreduce(mpi_state *st, void *buf, size_t count, size_t size, MPI_Datatype type,
                         int32_t op, lp_error *err) {
    if (op < LP_COMM_SUM || op > LP_COMM_MIN)
        return bad_op(op, err);
    for (size_t done = 0; done < count; done += CHUNK) {
        size_t n = count - done < CHUNK ? count - done : CHUNK;
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + done * size, (int)n, type, mpi_op(op),
                               st->comm);
        if (rc != MPI_SUCCESS)
            return mpi_failed(err, "MPI_Allreduce", rc);
    }
    return LP_OK;
}

static int32_t mpi_allreduce_f32(void *user, float *buf, size_t count, int32_t op, lp_error *err) {
    mpi_state *st = user;
    int32_t rc = allreduce(st, buf, count, sizeof *buf, MPI_FLOAT, op, err);
    if (rc == LP_OK && op == LP_COMM_MEAN && st->size > 1) {
        const float inv = 1.0f / (float)st->size;
        for (size_t i = 0; i < count; i++)
            buf[i] *= inv;
    }
    return rc;
}

static int32_t mpi_allreduce_f64(void *user, double *buf, size_t count, int32_t op, lp_error *err) {
    mpi_state *st = user;
    int32_t rc = allreduce(st, buf, count, sizeof *buf, MPI_DOUBLE, op, err);
    if (rc == LP_OK && op == LP_COMM_MEAN && st->size > 1)
        for (size_t i = 0; i < count; i++)
            buf[i] /= (double)st->size;
    return rc;
}

static int32_t mpi_broadcast(void *user, void *buf, size_t bytes, int32_t root, lp_error *err) {
    mpi_state *st = user;
    unsigned char *p = buf;
    for (size_t done = 0; done < bytes; done += CHUNK) {
        size_t n = bytes - done < CHUNK ? bytes - done : CHUNK;
        int rc = MPI_Bcast(p + done, (int)n, MPI_BYTE, root, st->comm);
        if (rc != MPI_SUCCESS)
            return mpi_failed(err, "MPI_Bcast", rc);
    }
    return LP_OK;
}

static int32_t mpi_gather(void *user, const void *send, void *recv, size_t bytes, int32_t root,
                          lp_error *err) {
    mpi_state *st = user;
    if (bytes > (size_t)INT_MAX)
        return lp__error_set(err, LP_ERANGE,
                             "MPI: a gather of %zu bytes per rank is larger than MPI's int count",
                             bytes);
    int rc = MPI_Gather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, root, st->comm);
    if (rc != MPI_SUCCESS)
        return mpi_failed(err, "MPI_Gather", rc);
    return LP_OK;
}

static int32_t mpi_barrier(void *user, lp_error *err) {
    mpi_state *st = user;
    int rc = MPI_Barrier(st->comm);
    if (rc != MPI_SUCCESS)
        return mpi_failed(err, "MPI_Barrier", rc);
    return LP_OK;
}

int lp_comm_mpi_launched(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v != NULL && v[0] != '\0')
            return 1;
    }
    return 0;
}

int32_t lp_comm_mpi_open(lp_comm *c, lp_error *err) {
    if (c == NULL)
        return lp__error_set(err, LP_EINVAL, "lp_comm_mpi_open: the communicator is NULL");
    memset(c, 0, sizeof *c);
    mpi_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return lp__error_set(err, LP_ENOMEM, "lp_comm_mpi_open: out of memory");
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        int provided = 0;
        int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) {
            free(st);
            return lp__error_set(err, LP_EIO,
                                 "lp_comm_mpi_open: MPI_Init_thread failed (%d); run the program "
                                 "under mpirun, or check the Open MPI installation",
                                 rc);
        }
        st->initialised_here = 1;
    }
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, &st->comm);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_set_errhandler(st->comm, MPI_ERRORS_RETURN);
    int rank = 0;
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_rank(st->comm, &rank);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_size(st->comm, &st->size);
    if (rc != MPI_SUCCESS) {
        int32_t code = mpi_failed(err, "lp_comm_mpi_open: MPI_COMM_WORLD set-up", rc);
        if (st->initialised_here)
            MPI_Finalize();
        free(st);
        return code;
    }
    c->struct_size = sizeof *c;
    c->rank = rank;
    c->size = st->size;
    c->name = "mpi";
    c->user = st;
    c->allreduce_f32 = mpi_allreduce_f32;
    c->allreduce_f64 = mpi_allreduce_f64;
    c->broadcast = mpi_broadcast;
    c->gather = mpi_gather;
    c->barrier = mpi_barrier;
    return LP_OK;
}

void lp_comm_mpi_close(lp_comm *c) {
    if (c == NULL || c->user == NULL || c->allreduce_f32 != mpi_allreduce_f32)
        return;
    mpi_state *st = c->user;
    MPI_Comm_free(&st->comm);
    if (st->initialised_here)
        MPI_Finalize();
    free(st);
    c->user = NULL;
}

void lp_comm_mpi_abort(const lp_comm *c, int code) {
    (void)c;
    int inited = 0;
    MPI_Initialized(&inited);
    if (inited)
        MPI_Abort(MPI_COMM_WORLD, code != 0 ? code : 1);
    _Exit(code != 0 ? code : 1);
}
