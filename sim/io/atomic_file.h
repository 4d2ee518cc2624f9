/* Atomic replacement of a whole file: the content goes to a temporary sibling
 * that is flushed, fsync()ed and rename()d over the destination, so readers
 * see either the old complete file or the new complete one, never a torn
 * write. On any failure the temporary is removed and the destination is left
 * as it was. */
#ifndef FEDSIM_ATOMIC_FILE_H
#define FEDSIM_ATOMIC_FILE_H

#include <stdbool.h>
#include <stdio.h>

enum {
    /* Temporary named "<path>.tmp<pid>" (concurrent writers of one path do
     * not share a temporary); default "<path>.tmp". */
    FS_ATOMIC_PID_TMP = 1u << 0,
    /* After the rename, fsync() the containing directory so that the rename
     * itself is durable (best effort: its failure is ignored). */
    FS_ATOMIC_SYNC_DIR = 1u << 1,
};

/* Writes the content; returns true on success (errno describing the failure
 * otherwise, as left by the failing stdio call). */
typedef bool (*fs_atomic_writer)(FILE *f, void *ctx);

/* Replaces path with what write(f, ctx) produces. 0, or -1 + fs_fail:
 * "<tmp>: cannot create (...)" when the temporary cannot be opened,
 * "<path>: cannot write (...); is the disk full or the directory read-only?"
 * when writing, flushing, syncing, closing or renaming fails. */
int fs_write_file_atomic(const char *path, unsigned flags, fs_atomic_writer write, void *ctx);

#endif
