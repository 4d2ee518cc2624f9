/* The communicator (sim/fed/comm.h): MPI when built with it, else one process. */
#include "sim/fed/comm.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/ops.h"
#include "sim/io/error.h"

#ifdef FEDSIM_HAVE_MPI
#include <mpi.h>
#endif

static int comm_rank, comm_size = 1;

int fs_comm_rank(void) { return comm_rank; }
int fs_comm_size(void) { return comm_size; }

/* Processes the MPI launcher started (OpenMPI's mpirun, or a PMI launcher
 * such as MPICH's or Slurm's); 0 when none did. */
static int launched_copies(void)
{
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0) return atoi(v);
    }
    return 0;
}

int fs_comm_auto_threads(void)
{
    const char *vars[] = {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"};
    int local = 1;
    for (size_t i = 0; i < sizeof vars / sizeof *vars && local == 1; i++)
        if (getenv(vars[i]) && atoi(getenv(vars[i])) > 1) local = atoi(getenv(vars[i]));
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return local == 1 ? 0 : cores / local > 1 ? (int)(cores / local) : 1;
}

bool fs_comm_next_run(int n, int group, int *start, int *len)
{
    *start = *start < 0 ? comm_rank * group : *start + comm_size * group;
    if (*start >= n) return false;
    *len = n - *start < group ? n - *start : group;
    return true;
}

#ifdef FEDSIM_HAVE_MPI

int fs_comm_init(int *argc, char ***argv)
{
    if (!launched_copies()) return 0;
    int provided, local_rank;
    MPI_Comm node;
    /* Only the main thread calls MPI; OpenMP threads work between calls. */
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS ||
        MPI_Comm_rank(MPI_COMM_WORLD, &comm_rank) != MPI_SUCCESS ||
        MPI_Comm_size(MPI_COMM_WORLD, &comm_size) != MPI_SUCCESS ||
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) !=
            MPI_SUCCESS ||
        MPI_Comm_rank(node, &local_rank) != MPI_SUCCESS || MPI_Comm_free(&node) != MPI_SUCCESS)
        return fs_fail("cannot join the MPI job (MPI_Init failed)");
    fs_backend_set_device(local_rank);
    return 0;
}

void fs_comm_finalize(void)
{
    int up = 0, down = 0;
    if (MPI_Initialized(&up) == MPI_SUCCESS && up && MPI_Finalized(&down) == MPI_SUCCESS && !down)
        MPI_Finalize();
}

int fs_comm_share_rows(void *rows, size_t row_bytes, int n, int group)
{
    if (comm_size == 1 || n == 0 || row_bytes == 0) return 0;
    if (row_bytes > INT_MAX) return fs_fail("cannot exchange rows of %zu bytes with MPI", row_bytes);
    int *count = calloc((size_t)comm_size, sizeof *count);
    int *first = calloc((size_t)comm_size, sizeof *first);
    int *next = calloc((size_t)comm_size, sizeof *next);
    char *by_rank = malloc((size_t)n * row_bytes), *row = rows;
    int rc = -1, ok;
    MPI_Datatype type;
    if (!count || !first || !next || !by_rank) {
        fs_fail("out of memory exchanging %d rows of %zu bytes", n, row_bytes);
        goto done;
    }
    /* Allgatherv wants each rank's rows contiguous: pack this rank's, gather
     * every rank's block in rank order, then put each row back in its place. */
    for (int i = 0; i < n; i++) count[i / group % comm_size]++;
    for (int r = 1; r < comm_size; r++) first[r] = first[r - 1] + count[r - 1];
    memcpy(next, first, (size_t)comm_size * sizeof *next);
    for (int i = 0; i < n; i++)
        if (i / group % comm_size == comm_rank)
            memcpy(by_rank + (size_t)next[comm_rank]++ * row_bytes, row + (size_t)i * row_bytes,
                   row_bytes);
    if (MPI_Type_contiguous((int)row_bytes, MPI_BYTE, &type) != MPI_SUCCESS) {
        fs_fail("MPI_Type_contiguous failed for rows of %zu bytes", row_bytes);
        goto done;
    }
    ok = MPI_Type_commit(&type) == MPI_SUCCESS &&
             MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, by_rank, count, first, type,
                            MPI_COMM_WORLD) == MPI_SUCCESS;
    MPI_Type_free(&type);
    if (!ok) {
        fs_fail("MPI_Allgatherv of %d rows of %zu bytes failed", n, row_bytes);
        goto done;
    }
    memcpy(next, first, (size_t)comm_size * sizeof *next);
    for (int i = 0; i < n; i++)
        memcpy(row + (size_t)i * row_bytes, by_rank + (size_t)next[i / group % comm_size]++ * row_bytes,
               row_bytes);
    rc = 0;
done:
    free(count), free(first), free(next), free(by_rank);
    return rc;
}

int fs_comm_broadcast(void *buf, size_t bytes)
{
    if (comm_size == 1 || bytes == 0) return 0;
    if (bytes > INT_MAX) return fs_fail("cannot broadcast %zu bytes with MPI", bytes);
    if (MPI_Bcast(buf, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
        return fs_fail("MPI_Bcast of %zu bytes failed", bytes);
    return 0;
}

_Noreturn void fs_comm_abort(int code)
{
    fflush(stdout), fflush(stderr);
    if (comm_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

#else /* one process */

int fs_comm_init(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    if (launched_copies() > 1)
        return fs_fail("an MPI launcher started %d copies of fedsim, but this fedsim was built "
                       "without MPI, so each would run the whole experiment and write the same "
                       "files; install libopenmpi-dev and rebuild, or run without mpirun",
                       launched_copies());
    return 0;
}

void fs_comm_finalize(void) {}

int fs_comm_share_rows(void *rows, size_t row_bytes, int n, int group)
{
    (void)rows, (void)row_bytes, (void)n, (void)group;
    return 0;
}

int fs_comm_broadcast(void *buf, size_t bytes)
{
    (void)buf, (void)bytes;
    return 0;
}

_Noreturn void fs_comm_abort(int code) { exit(code); }

#endif
