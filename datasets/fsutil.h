/* Small file-system helpers shared by the dataset code (the generators, the
 * importers and the fedsim-mcqa-1 reader). Internal to datasets/. */
#ifndef FEDSIM_DATASETS_FSUTIL_H
#define FEDSIM_DATASETS_FSUTIL_H

/* Whole file as a NUL-terminated string (free() it); NULL + fs_fail naming
 * path and, when hint is not NULL, "; <hint>" after a failed open. */
char *fs_ds_read_text(const char *path, const char *hint);

/* Removes a directory tree (files and subdirectories; links are unlinked,
 * not followed). Errors are ignored: best effort. */
void fs_ds_remove_tree(const char *dir);

/* Before writing <out_dir>.tmp-PID (the generators' and importers' temporary
 * directory, renamed to out_dir when complete): removes the ones a killed run
 * left behind, i.e. this process's own (an earlier attempt with the same pid)
 * and those whose pid no longer exists (kill(pid, 0) fails with ESRCH). A
 * live process's is kept: it may be writing it now. Best effort. */
void fs_ds_remove_stale_tmps(const char *out_dir);

/* 0 dir is absent, 1 it is an empty directory, 2 it is non-empty or not a
 * directory. */
int fs_ds_dir_state(const char *dir);

#endif
