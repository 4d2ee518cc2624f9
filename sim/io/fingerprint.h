/* Cheap content fingerprints of model and dataset directories, for result
 * identities (sim/io/results.h): a results cell is reused only when the
 * weights and data it was computed from are the same. */
#ifndef FEDSIM_FINGERPRINT_H
#define FEDSIM_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

#define FS_HASH64_SEED 0xCBF29CE484222325ull

/* FNV-1a over 64-bit words (the tail bytewise), continuing from h: a check
 * for changed or damaged content, not a cryptographic hash. Multiplying by an
 * odd constant is a bijection, so a single changed word always changes the
 * result. (Checkpoints use it too: its values must not change.) */
uint64_t fs_hash64(uint64_t h, const void *data, size_t n);

/* Files up to this size are hashed whole; larger ones are sampled. */
#define FS_FINGERPRINT_WHOLE_BYTES (64u << 20)

/* A fingerprint of a file, or of the regular files directly in a directory
 * (in name order; hidden files and subdirectories left out): each file's
 * name, size and content. A file over FS_FINGERPRINT_WHOLE_BYTES contributes
 * its first MiB (a safetensors header, with every tensor's name, shape and
 * offsets, lies there), 64 evenly spaced 4 KiB blocks and its last 64 KiB,
 * so a 14 GB checkpoint costs about 2 MB of reads; a change confined to
 * bytes outside those samples of a large file goes unnoticed. -1 with a
 * message when path cannot be read. */
int fs_fingerprint_path(const char *path, uint64_t *out);

#endif
