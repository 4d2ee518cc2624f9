/* safetensors reader (mmap, paranoid validation: the header is untrusted
 * input) and atomic writer laid out like Hugging Face's. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/io/atomic_file.h"
#include "sim/io/error.h"

#define ST_MAX_HEADER 100000000ull      /* the reference Rust implementation's limit */
#define ST_MAX_INDEX (100u << 20)
#define ST_MAX_EXACT 9007199254740992.0 /* 2^53: larger integers are not exact in a double */

typedef struct {
    char *path;
    void *map;
    size_t size;
} st_file;

struct fs_st_archive {
    char *path;
    st_file *files;
    int nfiles, files_cap;
    fs_st_tensor *tensors;
    int n, cap;
    const fs_st_tensor **by_name; /* sorted by name (fs_st_find), rebuilt per file */
};

/* ---------------------------------------------------------------- helpers */

static bool utf8_valid(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str), i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                   : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (!len || n - i < len) return false;
        uint32_t cp = len == 1 ? c : c & (0x7fu >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return false; /* overlong, surrogate or beyond U+10FFFF */
        i += len;
    }
    return true;
}

/* A printable, bounded rendering of a (possibly hostile) name for messages. */
static const char *shown(const char *s, char *buf, size_t cap)
{
    bool ok = utf8_valid(s);
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (; *p && o + 8 < cap; p++) {
        if (*p < 0x20 || *p == 0x7f || (!ok && *p >= 0x80))
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", *p);
        else
            buf[o++] = (char)*p;
    }
    if (*p) { memcpy(buf + o, "...", 3); o += 3; }
    buf[o] = 0;
    return buf;
}

/* "path: tensor 'name' <rest>" */
static int tfail(const char *path, const char *name, const char *fmt, ...) FS_PRINTF(3, 4);
static int tfail(const char *path, const char *name, const char *fmt, ...)
{
    char rest[1200], nb[240];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rest, sizeof rest, fmt, ap);
    va_end(ap);
    return fs_fail("%s: tensor '%s' %s", path, shown(name, nb, sizeof nb), rest);
}

static int read_u53(const cJSON *v, uint64_t *out)
{
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (!isfinite(d) || d < 0 || d > ST_MAX_EXACT || d != floor(d)) return -1;
    *out = (uint64_t)d;
    return 0;
}

static const char *json_type(const cJSON *v)
{
    return !v ? "missing" : cJSON_IsString(v) ? "a string" : cJSON_IsNumber(v) ? "a number"
         : cJSON_IsBool(v) ? "a boolean" : cJSON_IsNull(v) ? "null"
         : cJSON_IsArray(v) ? "an array" : cJSON_IsObject(v) ? "an object" : "invalid";
}

static int by_name(const void *x, const void *y)
{
    return strcmp((*(const fs_st_tensor *const *)x)->name, (*(const fs_st_tensor *const *)y)->name);
}

static const fs_st_tensor *lookup(const fs_st_archive *a, const char *name)
{
    const fs_st_tensor key = {.name = (char *)name}, *kp = &key, *const *hit = NULL;
    if (a->by_name) hit = bsearch(&kp, a->by_name, (size_t)a->n, sizeof *hit, by_name);
    return hit ? *hit : NULL;
}

/* Re-sorts the name index over all tensors once a file's are added and refuses
 * a name given twice: in this file's header, or in another shard. */
static int index_names(fs_st_archive *a, const char *path)
{
    const fs_st_tensor **idx = realloc(a->by_name, (size_t)a->n * sizeof *idx);
    if (!idx) return fs_fail("%s: out of memory indexing tensors", path);
    a->by_name = idx;
    for (int i = 0; i < a->n; i++) idx[i] = &a->tensors[i];
    qsort(idx, (size_t)a->n, sizeof *idx, by_name);
    for (int i = 1; i < a->n; i++) {
        const fs_st_tensor *p = idx[i - 1], *q = idx[i];
        if (strcmp(p->name, q->name)) continue;
        if (p->file == q->file)
            return tfail(path, q->name, "appears twice in the header (duplicate name); the "
                         "file is corrupt");
        return tfail(path, q->name, "is also in %s (duplicate name across shards); the "
                     "checkpoint is inconsistent", p->file == path ? q->file : p->file);
    }
    return 0;
}

/* Rejects what cJSON would silently accept or mangle: stray control bytes, and
 * \u0000 escapes (a C string would end there). */
static int prescan(const char *path, const char *h, size_t n)
{
    bool in_str = false;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        if (!in_str && c == '"') {
            in_str = true;
            start = i + 1;
        } else if (!in_str && c < 0x20 && !strchr(" \t\n\r", c)) {
            return fs_fail("%s: header is not valid JSON: control byte 0x%02x at header byte "
                           "%zu; the file is corrupt or not a safetensors file", path, c, i);
        } else if (in_str && c == '"') {
            in_str = false;
        } else if (in_str && c < 0x20) {
            return fs_fail("%s: header is not valid JSON: raw control byte 0x%02x inside a "
                           "string at header byte %zu; the file is corrupt", path, c, i);
        } else if (in_str && c == '\\' && i + 1 < n) {
            if (h[i + 1] == 'u' && i + 5 < n && !memcmp(h + i + 2, "0000", 4)) {
                char raw[120], nb[240];
                size_t len = i - start < sizeof raw - 1 ? i - start : sizeof raw - 1;
                memcpy(raw, h + start, len);
                raw[len] = 0;
                return fs_fail("%s: a name in the header contains a NUL character (\\u0000) at "
                               "header byte %zu (string starts '%s'); fedsim does not accept NUL "
                               "in tensor names or metadata", path, i, shown(raw, nb, sizeof nb));
            }
            i++; /* skip the escaped character (it may be '"') */
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ reader */

static int parse_dtype(const char *path, const char *name, const cJSON *v, fs_dtype *out)
{
    static const char *const unsupported[] = {
        "F64", "I64", "U64", "I32", "U32", "I16", "U16", "I8", "U8", "BOOL", "F8_E5M2",
        "F8_E4M3", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64"};
    char db[80];
    if (!cJSON_IsString(v))
        return tfail(path, name, "has \"dtype\" of type %s; expected a string such as \"F32\"",
                     json_type(v));
    for (int d = FS_F32; d <= FS_F16; d++)
        if (!strcmp(v->valuestring, fs_dtype_name((fs_dtype)d))) {
            *out = (fs_dtype)d;
            return 0;
        }
    for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++)
        if (!strcmp(v->valuestring, unsupported[i]))
            return tfail(path, name, "has unsupported dtype %s; fedsim reads F32, F16 and BF16 "
                         "tensors only (convert the checkpoint to one of those)", unsupported[i]);
    return tfail(path, name, "has unknown dtype '%s'; fedsim reads F32, F16 and BF16 tensors",
                 shown(v->valuestring, db, sizeof db));
}

static int parse_entry(const char *path, const cJSON *e, const unsigned char *data,
                       size_t data_size, fs_st_tensor *t)
{
    const char *name = e->string;
    char nb[240];
    if (!utf8_valid(name))
        return fs_fail("%s: tensor name '%s' is not valid UTF-8; the file is corrupt", path,
                       shown(name, nb, sizeof nb));
    if (!cJSON_IsObject(e))
        return tfail(path, name, "has a header entry that is %s; expected an object with "
                     "\"dtype\", \"shape\" and \"data_offsets\"", json_type(e));
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    const char *missing = !dt ? "dtype" : !sh ? "shape" : !off ? "data_offsets" : NULL;
    if (missing) return tfail(path, name, "has no \"%s\" in its header entry", missing);
    if (parse_dtype(path, name, dt, &t->dtype)) return -1;
    if (!cJSON_IsArray(sh))
        return tfail(path, name, "has \"shape\" of type %s; expected an array of integers",
                     json_type(sh));
    t->ndim = cJSON_GetArraySize(sh);
    if (t->ndim > FS_MAX_DIMS)
        return tfail(path, name, "has %d dimensions; fedsim supports at most %d", t->ndim,
                     FS_MAX_DIMS);
    uint64_t numel = 1, v;
    bool overflow = false;
    int k = 0;
    for (const cJSON *d = sh->child; d; d = d->next, k++) {
        if (read_u53(d, &v) && cJSON_IsNumber(d) && d->valuedouble < 0)
            return tfail(path, name, "has negative dimension shape[%d] = %.0f", k, d->valuedouble);
        if (read_u53(d, &v))
            return tfail(path, name, "has shape[%d] that is %s, not a non-negative integer "
                         "below 2^53", k, json_type(d));
        t->shape[k] = (int64_t)v;
        if (v && numel > (UINT64_MAX >> 3) / v) overflow = true; /* keeps numel * 8 exact */
        else numel *= v;
    }
    size_t esz = fs_dtype_size(t->dtype);
    if (overflow || numel > SIZE_MAX / esz)
        return tfail(path, name, "has a shape whose element count overflows; the header is "
                     "corrupt");
    uint64_t nbytes = numel * esz, b, en;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return tfail(path, name, "has \"data_offsets\" that is not a [begin, end] pair (%s%s)",
                     json_type(off), cJSON_IsArray(off) ? " of another length" : "");
    if (read_u53(off->child, &b) || read_u53(off->child->next, &en))
        return tfail(path, name, "has \"data_offsets\" that are not non-negative integers");
    if (b > en)
        return tfail(path, name, "has data_offsets [%llu, %llu] with begin > end; the header "
                     "is corrupt", (unsigned long long)b, (unsigned long long)en);
    if (en > data_size)
        return tfail(path, name, "has data_offsets [%llu, %llu] but the data section holds "
                     "only %zu bytes; the file is truncated or corrupt",
                     (unsigned long long)b, (unsigned long long)en, data_size);
    if (en - b != nbytes)
        return tfail(path, name, "has data_offsets [%llu, %llu] (%llu bytes) but its shape and "
                     "dtype %s need %llu bytes; the header is corrupt", (unsigned long long)b,
                     (unsigned long long)en, (unsigned long long)(en - b),
                     fs_dtype_name(t->dtype), (unsigned long long)nbytes);
    t->data = data + b;
    t->nbytes = (size_t)nbytes;
    return 0;
}

static int check_metadata(const char *path, const cJSON *e)
{
    char nb[240];
    if (!cJSON_IsObject(e))
        return fs_fail("%s: \"__metadata__\" is %s; expected an object of strings", path,
                       json_type(e));
    for (const cJSON *m = e->child; m; m = m->next)
        if (!cJSON_IsString(m) || !utf8_valid(m->valuestring) || !utf8_valid(m->string))
            return fs_fail("%s: \"__metadata__\" entry '%s' is %s; metadata must be an object "
                           "of UTF-8 strings", path, shown(m->string, nb, sizeof nb),
                           cJSON_IsString(m) ? "not valid UTF-8" : json_type(m));
    return 0;
}

/* Tensors of one file share a data section, so data pointers order them by offset. */
static int by_offset(const void *x, const void *y)
{
    const fs_st_tensor *p = x, *q = y;
    uintptr_t bp = (uintptr_t)p->data, bq = (uintptr_t)q->data;
    return bp < bq ? -1 : bp > bq ? 1 : strcmp(p->name, q->name);
}

/* Two tensors sharing bytes would alias: writing one (or reading it as another
 * dtype) changes the other, and safetensors' own reader refuses such files.
 * Gaps between tensors are accepted: they make no tensor ambiguous, and
 * fedsim only ever reads the ranges the header names. t is sorted by offset:
 * while no earlier ranges overlap, the previous non-empty one ends last, so
 * comparing with it suffices. Zero-byte tensors hold no bytes and overlap
 * nothing. */
static int check_overlaps(const char *path, const fs_st_tensor *t, int n,
                          const unsigned char *data)
{
    unsigned long long prev_begin = 0, prev_end = 0;
    const char *prev = NULL;
    for (int i = 0; i < n; i++) {
        if (!t[i].nbytes) continue;
        unsigned long long begin = (unsigned long long)((const unsigned char *)t[i].data - data);
        unsigned long long end = begin + t[i].nbytes;
        if (prev && begin < prev_end) {
            char nb[240];
            return tfail(path, t[i].name, "has data_offsets [%llu, %llu] that overlap those of "
                         "tensor '%s' [%llu, %llu]; each tensor needs its own bytes, so the "
                         "header is corrupt (re-export the checkpoint)", begin, end,
                         shown(prev, nb, sizeof nb), prev_begin, prev_end);
        }
        prev = t[i].name, prev_begin = begin, prev_end = end;
    }
    return 0;
}

static int parse_header(fs_st_archive *a, const char *path, const unsigned char *map, size_t size)
{
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | map[i];
    if (hlen > ST_MAX_HEADER)
        return fs_fail("%s: header length %llu is absurd (limit %llu bytes); not a safetensors "
                       "file or corrupt", path, (unsigned long long)hlen, ST_MAX_HEADER);
    if (hlen > size - 8)
        return fs_fail("%s: header length %llu is larger than the file (%zu bytes); the file "
                       "is truncated or not a safetensors file", path, (unsigned long long)hlen,
                       size);
    const char *h = (const char *)map + 8, *end = NULL;
    if (prescan(path, h, (size_t)hlen)) return -1;
    cJSON *root = cJSON_ParseWithLengthOpts(h, (size_t)hlen, &end, 0);
    if (!root)
        return fs_fail("%s: header is not valid JSON (error near header byte %td); the file is "
                       "corrupt or not a safetensors file", path, end ? end - h : (ptrdiff_t)0);
    while (end < h + hlen && *end && strchr(" \t\n\r", *end)) end++;
    int first = a->n, rc = 0;
    if (end < h + hlen)
        rc = fs_fail("%s: header is not valid JSON: trailing bytes after the object at header "
                     "byte %td; the file is corrupt", path, end - h);
    else if (!cJSON_IsObject(root))
        rc = fs_fail("%s: header is %s, not a JSON object; not a safetensors file", path,
                     json_type(root));
    for (const cJSON *e = rc ? NULL : root->child; e && !rc; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            rc = check_metadata(path, e);
            continue;
        }
        if (a->n == a->cap) {
            int cap = a->cap ? a->cap * 2 : 64;
            fs_st_tensor *t = realloc(a->tensors, (size_t)cap * sizeof *t);
            if (!t) { rc = fs_fail("%s: out of memory reading the header", path); break; }
            a->tensors = t;
            a->cap = cap;
        }
        fs_st_tensor *t = memset(&a->tensors[a->n], 0, sizeof *t);
        if ((rc = parse_entry(path, e, map + 8 + hlen, size - 8 - (size_t)hlen, t))) break;
        if (!(t->name = strdup(e->string))) { rc = fs_fail("%s: out of memory", path); break; }
        t->file = path;
        a->n++;
    }
    cJSON_Delete(root);
    if (rc) return -1;
    if (a->n > first)
        qsort(a->tensors + first, (size_t)(a->n - first), sizeof *a->tensors, by_offset);
    if (a->n > first && index_names(a, path)) return -1;
    /* a->tensors is still NULL after a header without tensors */
    return a->n > first ? check_overlaps(path, a->tensors + first, a->n - first, map + 8 + hlen) : 0;
}

/* mmaps one .safetensors file and adds its tensors. 0 or -1. */
static int open_file(fs_st_archive *a, const char *path)
{
    if (a->nfiles == a->files_cap) {
        int cap = a->files_cap ? a->files_cap * 2 : 4;
        st_file *f = realloc(a->files, (size_t)cap * sizeof *f);
        if (!f) return fs_fail("%s: out of memory", path);
        a->files = f;
        a->files_cap = cap;
    }
    st_file *f = memset(&a->files[a->nfiles], 0, sizeof *f);
    if (!(f->path = strdup(path))) return fs_fail("%s: out of memory", path);
    a->nfiles++; /* owned from here on: fs_st_close releases it */
    int fd = open(path, O_RDONLY);
    if (fd < 0) return fs_fail("%s: cannot open (%s)", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode))
        rc = fs_fail("%s: not a regular file; expected a .safetensors file", path);
    else if (st.st_size < 8)
        rc = fs_fail("%s: file is %lld bytes, shorter than the 8-byte safetensors header "
                     "length; the file is truncated or not a safetensors file", path,
                     (long long)st.st_size);
    else if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX)
        rc = fs_fail("%s: file too large to map", path);
    else if ((f->map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) ==
             MAP_FAILED)
        rc = fs_fail("%s: cannot mmap (%s)", path, strerror(errno));
    close(fd);
    if (rc) {
        f->map = NULL;
        return rc;
    }
    f->size = (size_t)st.st_size;
    return parse_header(a, f->path, f->map, f->size);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* One weight_map entry: opens its shard on first use and checks it holds the tensor. */
static int index_entry(fs_st_archive *a, const char *dir, const char *ipath, const cJSON *e)
{
    char nb[240], sb[240];
    const char *s = cJSON_IsString(e) ? e->valuestring : NULL;
    if (!s || !*s || strchr(s, '/') || !strcmp(s, ".") || !strcmp(s, "..") || !utf8_valid(s))
        return fs_fail("%s: weight_map entry for tensor '%s' is %s; expected the file name of a "
                       "shard in the same directory", ipath, shown(e->string, nb, sizeof nb),
                       s ? "not a plain file name" : json_type(e));
    int k = 0;
    while (k < a->nfiles && strcmp(strrchr(a->files[k].path, '/') + 1, s)) k++;
    if (k == a->nfiles) {
        char *sp = join(dir, s);
        struct stat st;
        int rc = !sp ? fs_fail("%s: out of memory", ipath) : 0;
        if (!rc && stat(sp, &st))
            rc = fs_fail("%s: weight_map maps tensor '%s' to shard '%s', which is missing (%s: "
                         "%s); is the download complete?", ipath, shown(e->string, nb, sizeof nb),
                         shown(s, sb, sizeof sb), sp, strerror(errno));
        else if (!rc && open_file(a, sp))
            rc = fs_fail_context("%s", ipath);
        free(sp);
        if (rc) return rc;
    }
    const fs_st_tensor *t = lookup(a, e->string);
    if (!t || t->file != a->files[k].path)
        return fs_fail("%s: weight_map says tensor '%s' is in shard '%s', but %s; the index and "
                       "the shards are out of sync (re-download or regenerate the index)", ipath,
                       shown(e->string, nb, sizeof nb), shown(s, sb, sizeof sb),
                       !t ? "that shard has no such tensor" : "it is in another shard");
    return 0;
}

static int open_index(fs_st_archive *a, const char *dir, const char *ipath)
{
    FILE *fp = fopen(ipath, "rb");
    if (!fp) return fs_fail("%s: cannot open (%s)", ipath, strerror(errno));
    char *buf = malloc(ST_MAX_INDEX + 1);
    size_t len = buf ? fread(buf, 1, ST_MAX_INDEX + 1, fp) : 0;
    fclose(fp);
    if (!buf || len > ST_MAX_INDEX) {
        free(buf);
        return fs_fail("%s: %s", ipath, buf ? "larger than 100 MiB; not a safetensors index"
                                            : "out of memory");
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    ptrdiff_t at = end ? end - buf : 0;
    free(buf);
    if (!root)
        return fs_fail("%s: not valid JSON (error near byte %td); the index is corrupt", ipath,
                       at);
    int rc = 0;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm) || !wm->child)
        rc = fs_fail("%s: \"weight_map\" is %s; expected a non-empty object mapping tensor "
                     "names to shard files", ipath,
                     !wm ? "missing" : cJSON_IsObject(wm) ? "empty" : json_type(wm));
    for (const cJSON *e = rc ? NULL : wm->child; e && !rc; e = e->next)
        rc = index_entry(a, dir, ipath, e);
    cJSON_Delete(root);
    return rc;
}

fs_st_archive *fs_st_open(const char *path)
{
    if (!path || !*path) { fs_fail("fs_st_open: empty path"); return NULL; }
    fs_st_archive *a = calloc(1, sizeof *a);
    if (!a || !(a->path = strdup(path))) {
        free(a);
        fs_fail("%s: out of memory", path);
        return NULL;
    }
    struct stat st;
    size_t n = strlen(path);
    int rc;
    if (stat(path, &st)) {
        rc = fs_fail("%s: cannot open (%s)", path, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) { /* like transformers: a single file wins over an index */
        char *single = join(path, "model.safetensors");
        char *index = join(path, "model.safetensors.index.json");
        if (!single || !index) rc = fs_fail("%s: out of memory", path);
        else if (!stat(single, &st)) rc = open_file(a, single);
        else if (!stat(index, &st)) rc = open_index(a, path, index);
        else
            rc = fs_fail("%s: directory holds neither model.safetensors nor "
                         "model.safetensors.index.json; is this a Hugging Face checkpoint "
                         "directory?", path);
        free(single);
        free(index);
    } else if (n >= 11 && !strcmp(path + n - 11, ".index.json")) {
        char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash) *slash = 0;
        rc = !dir ? fs_fail("%s: out of memory", path)
                  : open_index(a, !slash ? "." : *dir ? dir : "/", path);
        free(dir);
    } else {
        rc = open_file(a, path);
    }
    if (rc) { fs_st_close(a); return NULL; }
    return a;
}

void fs_st_close(fs_st_archive *a)
{
    if (!a) return;
    for (int i = 0; i < a->n; i++) free(a->tensors[i].name);
    for (int i = 0; i < a->nfiles; i++) {
        if (a->files[i].map) munmap(a->files[i].map, a->files[i].size);
        free(a->files[i].path);
    }
    free(a->files);
    free(a->tensors);
    free(a->by_name);
    free(a->path);
    free(a);
}

int fs_st_count(const fs_st_archive *a) { return a ? a->n : 0; }
int fs_st_file_count(const fs_st_archive *a) { return a ? a->nfiles : 0; }

const fs_st_tensor *fs_st_at(const fs_st_archive *a, int i)
{
    return a && i >= 0 && i < a->n ? &a->tensors[i] : NULL;
}

const fs_st_tensor *fs_st_find(const fs_st_archive *a, const char *name)
{
    return a && name ? lookup(a, name) : NULL;
}

static const char *fmt_shape(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
    return buf;
}

int fs_st_read_f32(const fs_st_archive *a, const char *name, int ndim, const int64_t *shape,
                   float *out)
{
    if (!a || !name || (!shape && ndim > 0) || !out)
        return fs_fail("fs_st_read_f32: NULL argument");
    const fs_st_tensor *t = fs_st_find(a, name);
    if (!t)
        return tfail(a->path, name, "not found (the checkpoint has %d tensors); is config.json "
                     "from the same checkpoint?", a->n);
    bool same = ndim == t->ndim;
    for (int i = 0; same && i < ndim; i++) same = shape[i] == t->shape[i];
    if (!same) {
        char got[160], want[160];
        if (ndim < 0 || ndim > FS_MAX_DIMS) snprintf(want, sizeof want, "%d dimensions", ndim);
        return tfail(t->file, name, "has shape %s, expected %s; is config.json from the same "
                     "checkpoint?", fmt_shape(got, sizeof got, t->ndim, t->shape),
                     ndim < 0 || ndim > FS_MAX_DIMS ? want : fmt_shape(want, sizeof want, ndim,
                                                                       shape));
    }
    size_t n = t->nbytes / fs_dtype_size(t->dtype);
    if (t->dtype == FS_F32 || ((uintptr_t)t->data & 1) == 0) { /* F32 is copied bytewise */
        fs_convert_to_f32(out, t->data, t->dtype, n);
        return 0;
    }
    uint16_t tmp[2048]; /* unaligned 16-bit data: convert through an aligned buffer */
    for (size_t i = 0; i < n; i += 2048) {
        size_t m = n - i < 2048 ? n - i : 2048;
        memcpy(tmp, (const char *)t->data + 2 * i, 2 * m);
        fs_convert_to_f32(out + i, tmp, t->dtype, m);
    }
    return 0;
}

/* ------------------------------------------------------------------ writer */

/* A padded header: text, its length (a multiple of 8). */
typedef struct {
    char *p;
    size_t len;
} st_header;

/* HF's writer: larger dtypes first (keeps every tensor aligned), then by name. */
static int entry_by_layout(const void *x, const void *y)
{
    const fs_st_entry *p = *(const fs_st_entry *const *)x, *q = *(const fs_st_entry *const *)y;
    int rp = p->dtype == FS_F32 ? 0 : p->dtype == FS_BF16 ? 1 : 2;
    int rq = q->dtype == FS_F32 ? 0 : q->dtype == FS_BF16 ? 1 : 2;
    return rp != rq ? rp - rq : strcmp(p->name, q->name);
}
static int entry_by_name(const void *x, const void *y)
{
    return strcmp((*(const fs_st_entry *const *)x)->name, (*(const fs_st_entry *const *)y)->name);
}
static int meta_by_key(const void *x, const void *y)
{
    return strcmp(**(const char *const *const *)x, **(const char *const *const *)y);
}

static int entry_bytes(const char *path, const fs_st_entry *e, int i, bool need_data, size_t *out)
{
    if (!e->name) return fs_fail("%s: entry %d has no name", path, i);
    if (!utf8_valid(e->name)) return tfail(path, e->name, "has a name that is not valid UTF-8");
    if (!strcmp(e->name, "__metadata__"))
        return tfail(path, e->name, "uses the reserved name \"__metadata__\"");
    if ((unsigned)e->dtype > FS_F16) return tfail(path, e->name, "has invalid dtype %d", e->dtype);
    if (e->ndim < 0 || e->ndim > FS_MAX_DIMS)
        return tfail(path, e->name, "has %d dimensions; fedsim supports 0 to %d", e->ndim,
                     FS_MAX_DIMS);
    size_t numel = 1;
    for (int d = 0; d < e->ndim; d++) {
        if (e->shape[d] < 0)
            return tfail(path, e->name, "has negative dimension shape[%d] = %lld", d,
                         (long long)e->shape[d]);
        if ((double)e->shape[d] > ST_MAX_EXACT)
            return tfail(path, e->name, "has shape[%d] = %lld, above 2^53 (readers parse the "
                         "header's numbers as doubles)", d, (long long)e->shape[d]);
        if (e->shape[d] && numel > SIZE_MAX / 8 / (uint64_t)e->shape[d])
            return tfail(path, e->name, "has a shape whose element count overflows");
        numel *= (size_t)e->shape[d];
    }
    *out = numel * fs_dtype_size(e->dtype);
    return need_data && *out && !e->data ? tfail(path, e->name, "has no data") : 0;
}

static cJSON *add_u53_array(cJSON *obj, const char *key, const int64_t *v, int n)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, key);
    for (int i = 0; arr && i < n; i++)
        if (!cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)v[i]))) return NULL;
    return arr;
}

/* The header: metadata sorted by key, tensors in layout order with contiguous
 * offsets (cJSON escapes strings as serde_json does), padded with spaces to a
 * multiple of 8 bytes. -1 when out of memory. */
static int build_header(st_header *h, const char *const *const *meta, int nmeta,
                        const fs_st_entry **ord, const fs_st_entry *entries,
                        const size_t *nbytes, int n)
{
    cJSON *root = cJSON_CreateObject(), *m = cJSON_AddObjectToObject(root, "__metadata__");
    bool ok = m;
    for (int i = 0; ok && i < nmeta; i++)
        ok = cJSON_AddStringToObject(m, meta[i][0], meta[i][1]);
    int64_t off = 0;
    for (int i = 0; ok && i < n; i++) {
        cJSON *t = cJSON_AddObjectToObject(root, ord[i]->name);
        int64_t range[2] = {off, off + (int64_t)nbytes[ord[i] - entries]};
        ok = t && cJSON_AddStringToObject(t, "dtype", fs_dtype_name(ord[i]->dtype)) &&
             add_u53_array(t, "shape", ord[i]->shape, ord[i]->ndim) &&
             add_u53_array(t, "data_offsets", range, 2);
        off = range[1];
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    size_t len = text ? strlen(text) : 0, padded = (len + 7) / 8 * 8;
    char *p = text ? realloc(text, padded + 1) : NULL;
    if (!p) { free(text); return -1; }
    memset(p + len, ' ', padded - len);
    p[padded] = 0;
    *h = (st_header){p, padded};
    return 0;
}

/* What fs_st_write puts in the file: the header length (u64 little-endian),
 * the header, then the tensors' bytes in layout order. */
typedef struct {
    const st_header *h;
    const fs_st_entry *const *ord;
    const fs_st_entry *entries;
    const size_t *nbytes;
    int n;
} st_body;

static bool write_body(FILE *f, void *ctx)
{
    const st_body *b = ctx;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)b->h->len >> (8 * i));
    bool ok = fwrite(len8, 1, 8, f) == 8 && fwrite(b->h->p, 1, b->h->len, f) == b->h->len;
    for (int i = 0; ok && i < b->n; i++) {
        size_t nb = b->nbytes[b->ord[i] - b->entries];
        ok = !nb || fwrite(b->ord[i]->data, 1, nb, f) == nb;
    }
    return ok;
}

/* What a file holds, worked out before anything is written: entries in
 * layout order, their sizes, and the padded header. */
typedef struct {
    const fs_st_entry **ord;
    size_t *nbytes;
    st_header h;
} st_plan;

static void plan_free(st_plan *p)
{
    free(p->ord);
    free(p->nbytes);
    free(p->h.p);
}

static int plan_file(const char *path, const fs_st_entry *entries, int n,
                     const char *const *metadata_kv, bool need_data, st_plan *p)
{
    static const char *const default_meta[] = {"format", "pt", NULL};
    *p = (st_plan){0};
    if (!path || !*path) return fs_fail("fs_st_write: empty path");
    if (n < 0 || (n > 0 && !entries)) return fs_fail("%s: fs_st_write given %d entries", path, n);
    const char *const *kv = metadata_kv ? metadata_kv : default_meta;
    int nmeta = 0;
    for (; kv[2 * nmeta]; nmeta++)
        if (!kv[2 * nmeta + 1])
            return fs_fail("%s: metadata key '%s' has no value (metadata_kv is key, value, ..., "
                           "NULL)", path, kv[2 * nmeta]);
    p->ord = malloc((size_t)(n + 1) * sizeof *p->ord);
    const char *const **meta = malloc((size_t)(nmeta + 1) * sizeof *meta);
    p->nbytes = malloc((size_t)(n + 1) * sizeof *p->nbytes);
    const fs_st_entry **ord = p->ord;
    int rc = !ord || !meta || !p->nbytes ? fs_fail("%s: out of memory", path) : 0;
    for (int i = 0; i < n && !rc; i++) {
        ord[i] = &entries[i];
        rc = entry_bytes(path, &entries[i], i, need_data, &p->nbytes[i]);
    }
    if (!rc) qsort(ord, (size_t)n, sizeof *ord, entry_by_name);
    for (int i = 1; i < n && !rc; i++)
        if (!strcmp(ord[i]->name, ord[i - 1]->name))
            rc = tfail(path, ord[i]->name, "is given twice (duplicate name)");
    for (int i = 0; i < nmeta && !rc; i++) {
        meta[i] = kv + 2 * i;
        if (!utf8_valid(kv[2 * i]) || !utf8_valid(kv[2 * i + 1]))
            rc = fs_fail("%s: metadata entry '%s' is not valid UTF-8", path, kv[2 * i]);
    }
    if (!rc) qsort(meta, (size_t)nmeta, sizeof *meta, meta_by_key);
    for (int i = 1; i < nmeta && !rc; i++)
        if (!strcmp(*meta[i], *meta[i - 1]))
            rc = fs_fail("%s: metadata key '%s' is given twice", path, *meta[i]);
    if (!rc) {
        qsort(ord, (size_t)n, sizeof *ord, entry_by_layout);
        if (build_header(&p->h, meta, nmeta, ord, entries, p->nbytes, n))
            rc = fs_fail("%s: out of memory building the header", path);
    }
    free(meta);
    if (rc) plan_free(p);
    return rc;
}

int fs_st_write(const char *path, const fs_st_entry *entries, int n,
                const char *const *metadata_kv)
{
    st_plan p;
    if (plan_file(path, entries, n, metadata_kv, true, &p)) return -1;
    st_body body = {&p.h, p.ord, entries, p.nbytes, n};
    int rc = fs_write_file_atomic(path, FS_ATOMIC_SYNC_DIR, write_body, &body);
    plan_free(&p);
    return rc;
}

int fs_st_layout(const char *path, const fs_st_entry *entries, int n,
                 const char *const *metadata_kv, char **header, size_t *header_len,
                 uint64_t *file_offsets)
{
    st_plan p;
    if (plan_file(path, entries, n, metadata_kv, false, &p)) return -1;
    uint64_t off = 8 + p.h.len;
    for (int i = 0; i < n; i++) {
        file_offsets[p.ord[i] - entries] = off;
        off += p.nbytes[p.ord[i] - entries];
    }
    *header = p.h.p;
    *header_len = p.h.len;
    p.h.p = NULL;
    plan_free(&p);
    return 0;
}
