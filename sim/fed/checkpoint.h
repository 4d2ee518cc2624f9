/* Mid-run checkpoints of one method (output.checkpoint_every: N): after every
 * N-th round, the state the run needs to continue bit-identically goes to
 * <output.dir>/<name>.ckpt/<cell>--<method>.ckpt, replaced atomically
 * (temporary, fsync, rename; sim/io/atomic_file.h).
 *
 * What persists from one round to the next is only the adapter banks: the
 * global adapter, every client's adapter, and the method's extra bank (Fisher
 * or private adapters). The optimizer state does not persist (clients are
 * stateless: fs_train_lockstep starts every round from zero moments), and
 * every random stream is derived from (seed, round, client, epoch), never
 * carried, so there is no RNG state to save. Results rows of the rounds up to
 * the checkpoint are already durable in the results file; a resumed method
 * cuts the rows of later rounds (fs_results_resume) and goes on from there.
 *
 * The file (host byte order):
 *   header   "FEDSIMCK", u32 version, u32 header bytes, u64 config hash,
 *            i32 round, clients, 2 spare; f64 seconds, bytes up, bytes down;
 *            u64 floats of each bank (global, clients, the method's client and
 *            server state; 0 = none); format version 2
 *   data     the banks' floats in that order
 *   u64      checksum of everything before it
 * Loading checks all of it and fails with a message naming the file and what
 * is wrong (not a checkpoint, another version, written for another config,
 * other sizes, truncated, damaged), and that deleting it starts the method
 * over. */
#ifndef FEDSIM_CHECKPOINT_H
#define FEDSIM_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/fed/strategy.h"

typedef struct {
    char path[4608];
    uint64_t config_hash; /* of the config this method runs under */
} fs_checkpoint;

typedef struct {
    int round;                   /* last round done */
    double seconds;              /* the method's wall time up to then */
    double bytes_up, bytes_down; /* communication so far, all clients */
} fs_checkpoint_progress;

/* Names the checkpoint of (cell, method) under cfg's output.dir and name, and
 * hashes what determines the method's run: cfg with only this method listed
 * and output.checkpoint_every left out (changing N keeps the checkpoint). */
int fs_checkpoint_init(fs_checkpoint *ck, const fs_config *cfg, const char *cell,
                       const fs_method_cfg *method);
bool fs_checkpoint_exists(const fs_checkpoint *ck);
/* Writes r's banks and p (creating the .ckpt directory). */
int fs_checkpoint_save(const fs_checkpoint *ck, const fs_fed_run *r,
                       const fs_checkpoint_progress *p);
/* 1: loaded into r's banks (allocated, shaped for r) and *p; 0: there is no
 * checkpoint; -1: there is one that cannot be used (fs_last_error says why). */
int fs_checkpoint_load(const fs_checkpoint *ck, fs_fed_run *r, fs_checkpoint_progress *p);
/* Deletes the checkpoint (and a temporary a kill left behind), then the
 * .ckpt directory when that leaves it empty. Absent is fine. */
int fs_checkpoint_remove(const fs_checkpoint *ck);

#endif
