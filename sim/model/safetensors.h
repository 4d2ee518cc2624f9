/* Reading and writing safetensors checkpoints (the Hugging Face format):
 *
 *   [8 bytes: N, little-endian u64][N bytes: JSON header][data section]
 *
 * The header maps each tensor name to {"dtype", "shape", "data_offsets"}
 * (offsets relative to the data section) and may hold "__metadata__", an
 * object of strings. fedsim reads F32, F16 and BF16 tensors.
 *
 * Every function that fails records a message naming the file (and tensor)
 * with fs_fail and returns -1 or NULL; see sim/io/error.h. */
#ifndef FEDSIM_SAFETENSORS_H
#define FEDSIM_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/ops.h"

typedef struct {
    char *name;
    fs_dtype dtype;
    int ndim;
    int64_t shape[FS_MAX_DIMS];
    const void *data;   /* points into the mmapped file; may be unaligned */
    size_t nbytes;
    const char *file;   /* path of the file that holds it */
} fs_st_tensor;

typedef struct fs_st_archive fs_st_archive;

/* path: a .safetensors file, or a directory holding model.safetensors or
 * model.safetensors.index.json (sharded: "weight_map" name -> shard file), or
 * the index file itself. Files are mmapped read-only. NULL + fs_last_error(). */
fs_st_archive *fs_st_open(const char *path);
void fs_st_close(fs_st_archive *a);
int fs_st_count(const fs_st_archive *a);
/* Number of .safetensors files (shards) the archive maps. */
int fs_st_file_count(const fs_st_archive *a);
/* Tensors in file order (shard by shard, each by data offset). */
const fs_st_tensor *fs_st_at(const fs_st_archive *a, int i);
/* NULL if absent (binary search over the names). */
const fs_st_tensor *fs_st_find(const fs_st_archive *a, const char *name);
/* Checks the tensor exists with exactly this shape and copies it to out as
 * f32 (converting F16/BF16). Errors name file and tensor. 0 or -1. */
int fs_st_read_f32(const fs_st_archive *a, const char *name, int ndim, const int64_t *shape,
                   float *out);

typedef struct {
    const char *name;
    fs_dtype dtype;
    int ndim;
    int64_t shape[FS_MAX_DIMS];
    const void *data;
} fs_st_entry;

/* Writes one safetensors file atomically (path.tmp, fsync, rename). The
 * layout matches Hugging Face's writer: "__metadata__" first, then tensors
 * sorted by dtype (F32, BF16, F16) and name, data offsets contiguous, header
 * padded with spaces to a multiple of 8 bytes. metadata_kv: NULL-terminated
 * key, value, key, value, ... list, or NULL for {"format":"pt"}. 0 or -1. */
int fs_st_write(const char *path, const fs_st_entry *entries, int n,
                const char *const *metadata_kv);

/* The layout fs_st_write would give these entries, without writing anything
 * (entries need no data): *header gets the padded header (malloc'd, *header_len
 * bytes, to be written after its 8-byte little-endian length) and
 * file_offsets[i] the byte offset of entries[i]'s data in the file. For
 * writers that fill the data themselves (the test suite's sparse multi-GB
 * checkpoints). 0 or -1. */
int fs_st_layout(const char *path, const fs_st_entry *entries, int n,
                 const char *const *metadata_kv, char **header, size_t *header_len,
                 uint64_t *file_offsets);

#endif
