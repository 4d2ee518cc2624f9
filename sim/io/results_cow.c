/* Results store: the copy-on-write machinery behind every mutating call.
 *
 * Copy-on-write durability. HDF5 1.10 updates a file in place (superblock,
 * B-trees, heaps, chunk data) and a process killed in the middle of that can
 * leave a file HDF5 refuses to open, or one that silently lost earlier data.
 * So `path` itself is never opened for writing. Each mutating call:
 *   1. reads `path` into memory and opens that image with HDF5's core driver
 *      (or, when a group must be dropped and at each finish, builds a fresh
 *      file in memory with H5Ocopy, so no dead space remains),
 *   2. applies the change and writes the image to `path.tmp` (every HDF5
 *      return code and every write checked; any failure abandons the tmp
 *      file; HDF5 itself never writes to disk, see memory_fapl),
 *   3. fsync()s `path.tmp`, rename()s it over `path`, fsync()s the directory.
 * rename() is atomic, so at any instant `path` is either the old complete file
 * or the new complete file: a kill -9 anywhere loses at most the call in
 * flight, and a completed call is on disk when it returns. A stale `path.tmp`
 * left by a killed run is simply overwritten. Files are small (KB to MB), so
 * copying per call is cheap next to a training round (about 1 ms per call
 * for a 200 KB file). The handle holds no HDF5 file open between calls.
 *
 * One process writes a file at a time: fs_results_open takes a flock() on
 * `path.lock` for the handle's life (fsr_take_writer_lock), so two sweeps on
 * one output cannot interleave methods (which left a method marked complete
 * with another run's rows). Readers need no lock.
 *
 * Tests: tests/test_results.c kills writers at random moments, before every
 * commit step (fsr_test_crash_countdown) and before every write HDF5 makes
 * (a pwrite interposer) and checks `path` each time, and makes those writes
 * fail with ENOSPC (a full disk); the same
 * tests fail against an in-place variant of this file. */
#define _DEFAULT_SOURCE /* flock */
#include "results_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef FEDSIM_VERSION
#define FEDSIM_VERSION "unknown"
#endif
#ifndef FEDSIM_GIT_SHA
#define FEDSIM_GIT_SHA "unknown"
#endif

int fsr_test_crash_countdown = 0;

static void crash_point(void)
{
    if (fsr_test_crash_countdown > 0 && --fsr_test_crash_countdown == 0) raise(SIGKILL);
}

/* ---- files: the working copy in memory, written, synced, committed ---- */

/* The working copy is an HDF5 file in memory (the core driver without a
 * backing store), so HDF5 itself never writes to disk. A write HDF5 makes
 * that fails (a full disk: ENOSPC from its pwrite) leaves its file id half
 * closed in HDF5 1.10: H5Fclose fails, the id stays registered over freed
 * memory, and H5_term_library dereferences it at exit (SIGSEGV in
 * H5F__close_cb, 3 runs in 7 on a full tmpfs). Here only our own checked
 * writes touch the disk, and their failure is one message. */
static hid_t memory_fapl(const void *image, size_t len)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return fapl;
    if (H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 ||
        H5Pset_fapl_core(fapl, 1 << 16, 0) < 0 ||
        (image && H5Pset_file_image(fapl, (void *)image, len) < 0)) {
        H5Pclose(fapl);
        return H5I_INVALID_HID;
    }
    return fapl;
}

/* The whole of `path` in *buf (malloc'd) and its permission bits. */
static int read_whole(const char *path, void **buf, size_t *len, mode_t *mode)
{
    *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fsr_fail(path, "cannot read it: %s", strerror(errno));
        goto done;
    }
    *mode = st.st_mode & 0777;
    *len = (size_t)st.st_size;
    if (!(*buf = malloc(*len ? *len : 1))) {
        fsr_fail(path, "out of memory reading it (%zu bytes)", *len);
        goto done;
    }
    for (size_t off = 0; off < *len;) {
        ssize_t k = read(fd, (char *)*buf + off, *len - off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            fsr_fail(path, "cannot read it: %s", k < 0 ? strerror(errno) : "it shrank while read");
            goto done;
        }
        off += (size_t)k;
    }
    rc = 0;
done:
    if (fd >= 0) close(fd);
    if (rc < 0) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

/* The permission bits of an existing file, for its replacement. */
static mode_t file_mode(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_mode & 0777 : 0644;
}

/* Writes the working copy's bytes to `tmp` (16 KiB per pwrite). */
static int write_tmp(fs_results *r, const void *buf, size_t len, mode_t mode)
{
    int fd = open(r->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode | S_IWUSR | S_IRUSR);
    if (fd < 0)
        return fsr_fail(r->path, "cannot create the working copy '%s': %s", r->tmp,
                        strerror(errno));
    int err = 0;
    for (size_t off = 0; off < len && !err;) {
        size_t n = len - off < (1 << 14) ? len - off : (1 << 14);
        ssize_t w = pwrite(fd, (const char *)buf + off, n, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) err = w < 0 ? errno : EIO;
        off += w > 0 ? (size_t)w : 0;
    }
    if (close(fd) != 0 && !err) err = errno;
    if (!err) return 0;
    bool full = err == ENOSPC || err == EDQUOT;
    return fsr_fail(r->path, "cannot write the working copy '%s': %s%s", r->tmp, strerror(err),
                    full ? "; free space on that disk or write to another output.dir (the file "
                           "keeps everything written before)"
                         : "");
}

static int sync_path(const char *p, bool dir, const char *file)
{
    int fd = open(p, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) return fsr_fail(file, "cannot open '%s' to sync it: %s", p, strerror(errno));
    int rc = fsync(fd), e = errno;
    close(fd);
    if (rc != 0 && dir && (e == EINVAL || e == ENOTSUP)) rc = 0; /* no directory fsync here */
    if (rc != 0) return fsr_fail(file, "cannot sync '%s' to disk: %s", p, strerror(e));
    return 0;
}

/* Step 3: makes the closed `tmp` the new `path`, durably. */
int fsr_commit(fs_results *r)
{
    crash_point(); /* closed, not synced */
    if (sync_path(r->tmp, false, r->path) < 0) goto fail;
    crash_point(); /* synced, not renamed */
    if (rename(r->tmp, r->path) != 0) {
        fsr_fail(r->path, "cannot replace it with '%s': %s", r->tmp, strerror(errno));
        goto fail;
    }
    crash_point(); /* renamed, directory not synced */
    return sync_path(r->dir, true, r->path);
fail:
    unlink(r->tmp);
    return -1;
}

/* The pid a lock file holds, or 0. */
static long lock_holder(int fd)
{
    char buf[32] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    return n > 0 ? strtol(buf, NULL, 10) : 0;
}

int fsr_take_writer_lock(fs_results *r)
{
    size_t n = strlen(r->path) + 6;
    char *lock = malloc(n);
    if (!lock) return fsr_fail(r->path, "out of memory");
    snprintf(lock, n, "%s.lock", r->path);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644), rc = -1;
    if (fd < 0) {
        fsr_fail(r->path, "cannot create its lock file '%s': %s", lock, strerror(errno));
        goto done;
    }
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR) continue;
        if (errno == EWOULDBLOCK) {
            long pid = lock_holder(fd);
            char who[48] = "another process";
            if (pid > 0) snprintf(who, sizeof who, "process %ld", pid);
            fsr_fail(r->path, "is being written by %s (it holds '%s'); one process writes a "
                     "results file at a time: wait for it to finish, or write to another "
                     "output.dir or name", who, lock);
            goto done;
        }
        /* no flock on this file system (some NFS setups): one writer assumed */
        if (errno == ENOLCK || errno == EINVAL || errno == ENOTSUP || errno == EOPNOTSUPP) break;
        fsr_fail(r->path, "cannot lock '%s': %s", lock, strerror(errno));
        goto done;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        fsr_fail(r->path, "cannot write its lock file '%s': %s", lock, strerror(errno));
        goto done;
    }
    r->lock_fd = fd;
    fd = -1;
    rc = 0;
done:
    if (fd >= 0) close(fd);
    free(lock);
    return rc;
}

int fsr_remove_tmp(fs_results *r)
{
    if (unlink(r->tmp) != 0 && errno != ENOENT)
        return fsr_fail(r->path, "cannot remove the stale '%s': %s", r->tmp, strerror(errno));
    return 0;
}

/* Creation-order tracking so cells and methods list in the order written. */
hid_t fsr_crt_order_plist(hid_t cls)
{
    hid_t p = H5Pcreate(cls);
    if (p >= 0 && H5Pset_link_creation_order(p, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0)
        fsr_close(&p);
    return p;
}

int fsr_save_file(fs_results *r, hid_t *f, int rc, mode_t mode)
{
    if (*f < 0) return rc;
    void *image = NULL;
    ssize_t len = -1;
    if (rc == 0 && (H5Fflush(*f, H5F_SCOPE_GLOBAL) < 0 || (len = H5Fget_file_image(*f, NULL, 0)) < 0))
        rc = fsr_fail_h5(r->path, "cannot build the new file in memory");
    if (rc == 0 && !(image = malloc(len ? (size_t)len : 1)))
        rc = fsr_fail(r->path, "out of memory (%zd bytes for the new file)", len);
    if (rc == 0 && H5Fget_file_image(*f, image, (size_t)len) != len)
        rc = fsr_fail_h5(r->path, "cannot build the new file in memory");
    if (H5Fclose(*f) < 0 && rc == 0) rc = fsr_fail_h5(r->path, "cannot close the new file");
    *f = H5I_INVALID_HID;
    if (rc == 0) rc = write_tmp(r, image, (size_t)len, mode);
    free(image);
    return rc;
}

/* Copy-on-write edit of the current file (steps 1-3 above). */
int fsr_edit(fs_results *r, fsr_edit_fn fn, void *ctx)
{
    fsr_quiet();
    if (fsr_remove_tmp(r) < 0) return -1;
    void *image = NULL;
    size_t len = 0;
    mode_t mode = 0;
    if (read_whole(r->path, &image, &len, &mode) < 0) return -1;
    crash_point(); /* working copy made */
    hid_t fapl = memory_fapl(image, len), f = H5I_INVALID_HID;
    int rc = -1;
    if (fapl < 0)
        fsr_fail_h5(r->path, "cannot create a file access property list");
    else if ((f = H5Fopen(r->tmp, H5F_ACC_RDWR, fapl)) < 0)
        fsr_fail_h5(r->path, "cannot open its copy in memory: the file is damaged");
    else
        rc = fn(r, f, ctx);
    free(image);
    if (rc == 0) crash_point(); /* change applied, file open */
    rc = fsr_save_file(r, &f, rc, mode);
    fsr_close(&fapl);
    if (rc < 0) {
        unlink(r->tmp);
        return -1;
    }
    return fsr_commit(r);
}

static int write_root_attrs(hid_t f, const char *file)
{
    char now[64];
    fsr_iso_now(now, sizeof now);
    if (fsr_write_str_attr(f, "fedsim_version", FEDSIM_VERSION, file) < 0 ||
        fsr_write_str_attr(f, "git_sha", FEDSIM_GIT_SHA, file) < 0 ||
        fsr_write_str_attr(f, "created", now, file) < 0)
        return -1;
    return 0;
}

typedef struct {
    hid_t dst;
    const char *file;
    int rc;
} attr_copy;

static herr_t copy_attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    (void)info;
    attr_copy *c = data;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT), b = H5I_INVALID_HID;
    hid_t ft = H5I_INVALID_HID, mt = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    void *buf = NULL;
    hssize_t np = -1;
    size_t sz = 0;
    if (a < 0 || (ft = H5Aget_type(a)) < 0 || (sp = H5Aget_space(a)) < 0 ||
        (mt = H5Tget_native_type(ft, H5T_DIR_ASCEND)) < 0 ||
        (np = H5Sget_simple_extent_npoints(sp)) < 0 || (sz = H5Tget_size(mt)) == 0) {
        c->rc = fsr_fail_h5(c->file, "cannot read attribute '%s'", name);
    } else if (!(buf = calloc((size_t)np + 1, sz))) {
        c->rc = fsr_fail(c->file, "out of memory copying attribute '%s'", name);
    } else if (H5Aread(a, mt, buf) < 0) {
        c->rc = fsr_fail_h5(c->file, "cannot read attribute '%s'", name);
        free(buf);
        buf = NULL;
    } else {
        if ((b = H5Acreate2(c->dst, name, ft, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
            H5Awrite(b, mt, buf) < 0)
            c->rc = fsr_fail_h5(c->file, "cannot copy attribute '%s'", name);
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, buf);
    }
    free(buf);
    if (fsr_close(&b) < 0 && c->rc == 0)
        c->rc = fsr_fail_h5(c->file, "cannot copy attribute '%s'", name);
    fsr_close(&mt);
    fsr_close(&ft);
    fsr_close(&sp);
    fsr_close(&a);
    return c->rc < 0 ? -1 : 0;
}

/* Copies every attribute of object src onto dst. */
static int copy_attrs(hid_t src, hid_t dst, const char *file)
{
    attr_copy c = {dst, file, 0};
    herr_t it = H5Aiterate2(src, H5_INDEX_NAME, H5_ITER_INC, NULL, copy_attr_cb, &c);
    if (it < 0 && c.rc == 0) return fsr_fail_h5(file, "cannot copy attributes");
    return c.rc;
}

hid_t fsr_create_tmp(fs_results *r, hid_t src)
{
    hid_t fcpl = fsr_crt_order_plist(H5P_FILE_CREATE), fapl = memory_fapl(NULL, 0);
    hid_t f = H5I_INVALID_HID;
    int rc = -1;
    if (fcpl < 0 || fapl < 0) {
        fsr_fail_h5(r->path, "cannot create property lists");
    } else if ((f = H5Fcreate(r->tmp, H5F_ACC_TRUNC, fcpl, fapl)) < 0) {
        fsr_fail_h5(r->path, "cannot create the new file in memory");
    } else if (src < 0) {
        rc = write_root_attrs(f, r->path);
    } else {
        rc = copy_attrs(src, f, r->path);
    }
    fsr_close(&fcpl);
    fsr_close(&fapl);
    if (rc < 0) {
        if (f >= 0) H5Fclose(f);
        return H5I_INVALID_HID;
    }
    return f;
}

/* Rewrites the file keeping the method groups keep accepts (a cell left
 * empty goes; keep NULL keeps everything), then applies fn (if any) to the
 * new file, and commits. The new file has no dead space. */
int fsr_rewrite(fs_results *r, fsr_keep_fn keep, void *keep_ctx, fsr_edit_fn fn, void *ctx)
{
    fsr_quiet();
    if (fsr_remove_tmp(r) < 0) return -1;
    hid_t src = fsr_open_ro(r->path), dst = H5I_INVALID_HID;
    hid_t sg = H5I_INVALID_HID, dg = H5I_INVALID_HID, mg = H5I_INVALID_HID;
    hid_t gcpl = H5I_INVALID_HID;
    char **cells = NULL, **methods = NULL;
    int ncells = 0, nmethods = 0, rc = -1;
    if (src < 0 || (dst = fsr_create_tmp(r, src)) < 0) goto done;
    if ((gcpl = fsr_crt_order_plist(H5P_GROUP_CREATE)) < 0) {
        fsr_fail_h5(r->path, "cannot create a property list");
        goto done;
    }
    if (fsr_list_groups(src, r->path, &cells, &ncells) < 0) goto done;
    for (int i = 0; i < ncells; i++) {
        if (!keep) {
            if (H5Ocopy(src, cells[i], dst, cells[i], H5P_DEFAULT, H5P_DEFAULT) < 0) {
                fsr_fail_h5(r->path, "cannot copy cell '%s'", cells[i]);
                goto done;
            }
            continue;
        }
        /* Method by method; the cell group's own attributes go with its first kept method. */
        if ((sg = H5Gopen2(src, cells[i], H5P_DEFAULT)) < 0) {
            fsr_fail_h5(r->path, "cannot open cell '%s'", cells[i]);
            goto done;
        }
        if (fsr_list_groups(sg, r->path, &methods, &nmethods) < 0) goto done;
        for (int j = 0; j < nmethods; j++) {
            if ((mg = H5Gopen2(sg, methods[j], H5P_DEFAULT)) < 0) {
                fsr_fail_h5(r->path, "cannot open /%s/%s", cells[i], methods[j]);
                goto done;
            }
            bool kept = keep(mg, cells[i], methods[j], keep_ctx);
            fsr_close(&mg);
            if (!kept) continue;
            if (dg < 0 && ((dg = H5Gcreate2(dst, cells[i], H5P_DEFAULT, gcpl, H5P_DEFAULT)) < 0 ||
                           copy_attrs(sg, dg, r->path) < 0)) {
                fsr_fail_h5(r->path, "cannot create cell '%s'", cells[i]);
                goto done;
            }
            if (H5Ocopy(sg, methods[j], dg, methods[j], H5P_DEFAULT, H5P_DEFAULT) < 0) {
                fsr_fail_h5(r->path, "cannot copy /%s/%s", cells[i], methods[j]);
                goto done;
            }
        }
        fsr_free_names(methods, nmethods);
        methods = NULL;
        nmethods = 0;
        if (fsr_close(&sg) < 0 || fsr_close(&dg) < 0) {
            fsr_fail_h5(r->path, "cannot copy cell '%s'", cells[i]);
            goto done;
        }
    }
    rc = fn ? fn(r, dst, ctx) : 0;
    if (rc == 0) crash_point(); /* new file built, still open */
done:
    fsr_free_names(cells, ncells);
    fsr_free_names(methods, nmethods);
    fsr_close(&mg);
    fsr_close(&sg);
    fsr_close(&dg);
    fsr_close(&gcpl);
    fsr_close(&src);
    rc = fsr_save_file(r, &dst, rc, file_mode(r->path));
    if (rc < 0) {
        unlink(r->tmp);
        return -1;
    }
    return fsr_commit(r);
}
