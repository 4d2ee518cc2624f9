/* Content fingerprints (fingerprint.h). */
#define _DEFAULT_SOURCE /* pread, strdup, DIR */
#include "sim/io/fingerprint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/io/error.h"

uint64_t fs_hash64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001B3ull;
    }
    for (; n; p++, n--) h = (h ^ *p) * 0x100000001B3ull;
    return h;
}

/* Hashes bytes [off, off + n) of fd into *h. */
static int hash_range(int fd, uint64_t *h, off_t off, off_t n, const char *path)
{
    static _Thread_local unsigned char buf[1 << 16];
    while (n > 0) {
        size_t want = n < (off_t)sizeof buf ? (size_t)n : sizeof buf;
        ssize_t got = pread(fd, buf, want, off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0)
            return fs_fail("%s: cannot read it to fingerprint it: %s", path,
                           got < 0 ? strerror(errno) : "the file shrank while being read");
        *h = fs_hash64(*h, buf, (size_t)got);
        off += got, n -= got;
    }
    return 0;
}

static int hash_file(const char *path, const char *name, uint64_t *h)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        return fs_fail("%s: cannot open it to fingerprint it: %s", path, strerror(e));
    }
    int64_t size = (int64_t)st.st_size;
    *h = fs_hash64(*h, name, strlen(name) + 1);
    *h = fs_hash64(*h, &size, sizeof size);
    int rc = 0;
    if (size <= (int64_t)FS_FINGERPRINT_WHOLE_BYTES) {
        rc = hash_range(fd, h, 0, size, path);
    } else {
        const off_t head = 1 << 20, block = 4096, tail = 64 << 10;
        rc = hash_range(fd, h, 0, head, path);
        for (int i = 0; i < 64 && !rc; i++)
            rc = hash_range(fd, h, head + (off_t)((size - head - tail - block) / 63 * i), block, path);
        if (!rc) rc = hash_range(fd, h, size - tail, tail, path);
    }
    close(fd);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int fs_fingerprint_path(const char *path, uint64_t *out)
{
    struct stat st;
    uint64_t h = FS_HASH64_SEED;
    if (stat(path, &st) != 0) return fs_fail("%s: cannot fingerprint it: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        const char *base = strrchr(path, '/');
        if (hash_file(path, base ? base + 1 : path, &h)) return -1;
        *out = h;
        return 0;
    }
    DIR *d = opendir(path);
    if (!d) return fs_fail("%s: cannot list it to fingerprint it: %s", path, strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0, rc = -1;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            char **p = realloc(names, (size_t)(cap = cap ? 2 * cap : 32) * sizeof *p);
            if (!p) goto oom;
            names = p;
        }
        if (!(names[n] = strdup(e->d_name))) goto oom;
        n++;
    }
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        char file[8192];
        snprintf(file, sizeof file, "%s/%s", path, names[i]);
        if (stat(file, &st) == 0 && S_ISREG(st.st_mode)) rc = hash_file(file, names[i], &h);
    }
    goto done;
oom:
    fs_fail("out of memory listing %s", path);
done:
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    closedir(d);
    if (!rc) *out = h;
    return rc;
}
