/* Small file-system helpers shared by the dataset code (datasets/fsutil.h). */
#include "datasets/fsutil.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "sim/io/error.h"

char *fs_ds_read_text(const char *path, const char *hint)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fs_fail("%s: cannot open (%s)%s%s", path, strerror(errno), hint ? "; " : "",
                hint ? hint : "");
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = cap ? 2 * cap : 131072;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                fs_fail("%s: out of memory", path);
                return NULL;
            }
            buf = nb;
        }
        size_t k = fread(buf + n, 1, 65536, f);
        n += k;
        if (k < 65536) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        fs_fail("%s: read error", path);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

void fs_ds_remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat s;
        if (lstat(path, &s)) continue;
        if (S_ISDIR(s.st_mode)) fs_ds_remove_tree(path);
        else unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

void fs_ds_remove_stale_tmps(const char *out_dir)
{
    char prefix[4096], path[8192];
    int n = snprintf(prefix, sizeof prefix, "%s.tmp-", out_dir);
    if (n < 0 || (size_t)n >= sizeof prefix) return;
    /* split "<parent>/<base>.tmp-" so that the listing matches how the names are made */
    char *slash = strrchr(prefix, '/');
    const char *parent = slash ? (slash == prefix ? "/" : prefix) : ".";
    const char *base = slash ? slash + 1 : prefix;
    if (slash) *slash = 0;
    size_t blen = strlen(base);
    DIR *d = opendir(parent);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, base, blen)) continue;
        const char *digits = e->d_name + blen;
        char *end;
        errno = 0;
        long pid = strtol(digits, &end, 10);
        if (!isdigit((unsigned char)*digits) || *end || errno || pid <= 0 || pid != (pid_t)pid)
            continue;
        if (pid != (long)getpid() && !(kill((pid_t)pid, 0) && errno == ESRCH)) continue;
        snprintf(path, sizeof path, "%s/%s", parent, e->d_name);
        struct stat s;
        if (!lstat(path, &s) && S_ISDIR(s.st_mode)) fs_ds_remove_tree(path);
    }
    closedir(d);
}

int fs_ds_dir_state(const char *dir)
{
    struct stat s;
    if (stat(dir, &s)) return 0;
    if (!S_ISDIR(s.st_mode)) return 2;
    DIR *d = opendir(dir);
    if (!d) return 2;
    struct dirent *e;
    int state = 1;
    while ((e = readdir(d)) && state == 1)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) state = 2;
    closedir(d);
    return state;
}
