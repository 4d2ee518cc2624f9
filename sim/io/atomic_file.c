/* Atomic whole-file replacement (sim/io/atomic_file.h). */
#include "sim/io/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/io/error.h"

int fs_write_file_atomic(const char *path, unsigned flags, fs_atomic_writer write, void *ctx)
{
    size_t plen = strlen(path) + 32;
    char *tmp = malloc(plen);
    if (!tmp) return fs_fail("%s: out of memory", path);
    if (flags & FS_ATOMIC_PID_TMP) snprintf(tmp, plen, "%s.tmp%ld", path, (long)getpid());
    else snprintf(tmp, plen, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int rc = fs_fail("%s: cannot create (%s)", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    bool ok = write(f, ctx) && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int err = errno;
    if (fclose(f) && ok) ok = false, err = errno;
    if (ok && rename(tmp, path)) ok = false, err = errno;
    if (!ok) {
        unlink(tmp);
        free(tmp);
        return fs_fail("%s: cannot write (%s); is the disk full or the directory read-only?", path,
                       strerror(err));
    }
    if (flags & FS_ATOMIC_SYNC_DIR) {
        char *slash = strrchr(tmp, '/'); /* make the rename durable (best effort) */
        if (slash) *slash = 0;
        int dfd = open(slash ? (*tmp ? tmp : "/") : ".", O_RDONLY);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    free(tmp);
    return 0;
}
