/*
 * The Open MPI backend of lp_comm (<lossplug/comm.h>), in its own library:
 * liblossplug-mpi (pkg-config lossplug-mpi, CMake lossplug::lossplug_mpi).
 * A program that wants more than one process links it next to
 * liblossplug; liblossplug never depends on MPI. docs/distributed.md.
 *
 * Thread rules: MPI is initialised with MPI_THREAD_FUNNELED; call every
 * function here and every collective of the communicator from the thread
 * that called lp_comm_mpi_open.
 */
#ifndef LOSSPLUG_COMM_MPI_H
#define LOSSPLUG_COMM_MPI_H

#include <lossplug/comm.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when this process was started by an MPI launcher (mpirun, mpiexec,
 * srun with PMIx): the launcher's environment variables OMPI_COMM_WORLD_SIZE,
 * PMIX_RANK or PMI_SIZE are set. Reads the environment only; MPI is not
 * touched. [any-thread] */
LP_API int lp_comm_mpi_launched(void);

/* Fill `c` with MPI_COMM_WORLD's rank and size. Initialises MPI
 * (MPI_Init_thread, FUNNELED) unless the program already did; the
 * communicator is a duplicate of MPI_COMM_WORLD, so the program's own
 * messages never mix with lossplug's. Errors return as MPI's
 * (MPI_ERRORS_RETURN) with their text. Allocates c->user: free with
 * lp_comm_mpi_close. On error `c` holds no state. */
LP_API int32_t lp_comm_mpi_open(lp_comm *c, lp_error *err);

/* Free the duplicate communicator and, when lp_comm_mpi_open initialised
 * MPI, finalise it (a collective: every rank calls it). NULL or a closed
 * communicator is a no-op. */
LP_API void lp_comm_mpi_close(lp_comm *c);

/* End the whole job at once: MPI_Abort(MPI_COMM_WORLD, code). For a rank
 * that failed while the others may wait in a collective: print the message
 * first (the rank's own stderr reaches mpirun's). Does not return. */
LP_API void lp_comm_mpi_abort(const lp_comm *c, int code)
#if defined(__GNUC__)
    __attribute__((noreturn))
#endif
    ;

#ifdef __cplusplus
}
#endif

#endif /* LOSSPLUG_COMM_MPI_H */
