/* The processes of one run: the ranks of an MPI job when fedsim was built
 * with MPI and started by an MPI launcher (mpirun, srun), otherwise a single
 * process. The federated code reaches MPI only through this module.
 *
 * Work division: a list of n items (a round's participants, every client) is
 * cut into runs of `group` (>= 1) consecutive items; run j belongs to rank
 * j % size. The caller picks `group` without looking at the number of ranks,
 * so every batch, and every row exchanged below, is the same whatever the
 * layout, and so are the results (bit for bit).
 *
 * Exchanges copy whole rows through host memory with MPI, so nothing is
 * summed in a rank-dependent order. This is also where NCCL would go: a
 * device-memory variant of fs_comm_share_rows (ncclAllGather of the adapter
 * rows between the ranks' GPUs, no host round trip). It is not implemented;
 * GPU ranks exchange through the host like CPU ranks. */
#ifndef FEDSIM_COMM_H
#define FEDSIM_COMM_H

#include <stdbool.h>
#include <stddef.h>

/* Joins the MPI job when an MPI launcher started this process (it sets
 * OMPI_COMM_WORLD_SIZE or PMI_SIZE: OpenMPI's mpirun, MPICH's or Slurm's
 * PMI) and points the CUDA backend at GPU (rank within the node), so each
 * rank of a node drives its own GPU; a plain start is one process and never
 * initialises MPI. -1 with fs_last_error() when a launcher started several
 * copies of a build without MPI (each would run the whole experiment and
 * write the same files). */
int fs_comm_init(int *argc, char ***argv);
/* Leaves the MPI job (no-op for a single process). */
void fs_comm_finalize(void);
int fs_comm_rank(void);
int fs_comm_size(void);
/* CPU threads for runtime.threads auto: this node's cores shared among the
 * job's ranks on it (OMPI_COMM_WORLD_LOCAL_SIZE / MPI_LOCALNRANKS), at least
 * 1, since ranks whose threads oversubscribe the cores spin-wait each other
 * to a crawl; 0 (the OpenMP default, every core) for a single process. */
int fs_comm_auto_threads(void);

/* This rank's runs of a list of n items: start with *start = -1; each call
 * moves to the next run (items *start .. *start + *len - 1) and returns
 * false after the last. */
bool fs_comm_next_run(int n, int group, int *start, int *len);
/* rows holds n rows of row_bytes bytes; row i, valid on the rank owning item
 * i (runs of `group`), is copied to every rank. 0, or -1 + fs_last_error(). */
int fs_comm_share_rows(void *rows, size_t row_bytes, int n, int group);
/* bytes of buf from rank 0 to every rank. */
int fs_comm_broadcast(void *buf, size_t bytes);
/* Ends every rank of the job with status code (the caller has printed why),
 * so that none waits forever for a failed one; exit(code) for one process. */
_Noreturn void fs_comm_abort(int code);

#endif
