/* Mid-run checkpoints of one method (sim/fed/checkpoint.h). */
#include "sim/fed/checkpoint.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/io/atomic_file.h"
#include "sim/io/error.h"
#include "sim/io/fingerprint.h" /* fs_hash64: a check against torn or damaged files */

enum { VERSION = 2, NBANKS = 4, CHUNK_FLOATS = 1 << 20, NAME_MAX_BYTES = 255 };
static const char MAGIC[8] = {'F', 'E', 'D', 'S', 'I', 'M', 'C', 'K'};
static const char *const BANK_NAMES[NBANKS] = {"global adapter", "client adapters",
                                               "method's extra bank",
                                               "method's server bank"};

typedef struct {
    char magic[8];
    uint32_t version, header_bytes;
    uint64_t config_hash;
    int32_t round, clients, spare[2];
    double seconds, bytes_up, bytes_down;
    uint64_t bank_floats[NBANKS];
} header;
_Static_assert(sizeof(header) == 96, "the header is written as is: no padding");

int fs_checkpoint_init(fs_checkpoint *ck, const fs_config *cfg, const char *cell,
                       const fs_method_cfg *method)
{
    const char *name = method->method->name;
    char safe[NAME_MAX_BYTES + 1];
    snprintf(safe, sizeof safe, "%s", cell);
    for (char *c = safe; *c; c++)
        if (*c == '/') *c = '_';
    /* The file name "<cell>--<method>.ckpt.tmp" must fit a directory entry:
     * a long cell keeps its start and a hash of the whole. */
    int room = NAME_MAX_BYTES - (int)strlen("--.ckpt.tmp") - (int)strlen(name);
    if ((int)strlen(safe) > room)
        snprintf(safe + room - 17, 18, "-%016llx",
                 (unsigned long long)fs_hash64(FS_HASH64_SEED, cell, strlen(cell)));
    int n = snprintf(ck->path, sizeof ck->path, "%s/%s.ckpt/%s--%s.ckpt", cfg->output_dir,
                     cfg->name, safe, name);
    if (n < 0 || (size_t)n >= sizeof ck->path)
        return fs_fail("output.dir %s: too long a path for the checkpoints of %s", cfg->output_dir,
                       cfg->name);
    fs_config *one = malloc(sizeof *one);
    if (!one) return fs_fail("out of memory");
    *one = *cfg;
    one->methods[0] = *method, one->n_methods = 1, one->checkpoint_every = 0;
    char *yaml = fs_config_to_yaml(one);
    free(one);
    if (!yaml) return fs_fail_context("hashing the config of %s for its checkpoints", ck->path);
    ck->config_hash = fs_hash64(FS_HASH64_SEED, yaml, strlen(yaml));
    free(yaml);
    return 0;
}

bool fs_checkpoint_exists(const fs_checkpoint *ck) { return access(ck->path, F_OK) == 0; }

static void banks_of(const fs_fed_run *r, const fs_adapter_bank *banks[NBANKS])
{
    banks[0] = &r->global, banks[1] = &r->local, banks[2] = &r->extra, banks[3] = &r->server;
}

static size_t bank_floats(const fs_adapter_bank *b) { return b->data ? fs_bank_numel(b) : 0; }

/* Host staging for one chunk of the largest bank. */
static float *staging_for(const fs_adapter_bank *const banks[NBANKS], const char *path)
{
    size_t most = 1;
    for (int b = 0; b < NBANKS; b++)
        if (bank_floats(banks[b]) > most) most = bank_floats(banks[b]);
    if (most > CHUNK_FLOATS) most = CHUNK_FLOATS;
    return fs_alloc_or_fail(NULL, most * sizeof(float), NULL, "staging checkpoint %s", path);
}

typedef struct {
    header h;
    const fs_adapter_bank *banks[NBANKS];
    float *staging;
    uint64_t sum;
} writer;

static bool put(FILE *f, writer *w, const void *p, size_t n)
{
    w->sum = fs_hash64(w->sum, p, n);
    return fwrite(p, 1, n, f) == n;
}

static bool write_checkpoint(FILE *f, void *ctx)
{
    writer *w = ctx;
    w->sum = FS_HASH64_SEED;
    if (!put(f, w, &w->h, sizeof w->h)) return false;
    for (int b = 0; b < NBANKS; b++)
        for (size_t off = 0; off < w->h.bank_floats[b]; off += CHUNK_FLOATS) {
            size_t n = w->h.bank_floats[b] - off < CHUNK_FLOATS ? w->h.bank_floats[b] - off
                                                                 : CHUNK_FLOATS;
            w->banks[b]->ops->to_host(w->staging, w->banks[b]->data + off, n * sizeof(float));
            if (!put(f, w, w->staging, n * sizeof(float))) return false;
        }
    uint64_t sum = w->sum;
    return fwrite(&sum, sizeof sum, 1, f) == 1;
}

int fs_checkpoint_save(const fs_checkpoint *ck, const fs_fed_run *r,
                       const fs_checkpoint_progress *p)
{
    writer w = {.h = {.version = VERSION, .header_bytes = sizeof(header),
                      .config_hash = ck->config_hash, .round = p->round, .clients = r->clients,
                      .seconds = p->seconds, .bytes_up = p->bytes_up,
                      .bytes_down = p->bytes_down}};
    memcpy(w.h.magic, MAGIC, sizeof MAGIC);
    banks_of(r, w.banks);
    for (int b = 0; b < NBANKS; b++) w.h.bank_floats[b] = bank_floats(w.banks[b]);
    char dir[sizeof ck->path];
    snprintf(dir, sizeof dir, "%s", ck->path);
    *strrchr(dir, '/') = 0;
    if (mkdir(dir, 0755) && errno != EEXIST)
        return fs_fail("%s: cannot create the checkpoint directory: %s", dir, strerror(errno));
    if (!(w.staging = staging_for(w.banks, ck->path))) return -1;
    int rc = fs_write_file_atomic(ck->path, FS_ATOMIC_SYNC_DIR, write_checkpoint, &w);
    free(w.staging);
    return rc;
}

/* "checkpoint <path> <what>; <remedy>" */
static int unusable(const fs_checkpoint *ck, const char *remedy, const char *fmt, ...)
    FS_PRINTF(3, 4);
static int unusable(const fs_checkpoint *ck, const char *remedy, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return fs_fail("checkpoint %s %s; %s", ck->path, what,
                   remedy ? remedy : "delete it to start the method over from round 0");
}

/* Header checks, most telling first: a config change also changes sizes. */
static int check_header(const fs_checkpoint *ck, const header *h, const fs_fed_run *r,
                        const fs_adapter_bank *const banks[NBANKS], long long file_bytes)
{
    if (memcmp(h->magic, MAGIC, sizeof MAGIC))
        return unusable(ck, NULL, "is not a fedsim checkpoint");
    if (h->version != VERSION || h->header_bytes != sizeof *h)
        return unusable(ck, NULL, "has format version %u; this fedsim reads version %d",
                        h->version, VERSION);
    if (h->config_hash != ck->config_hash)
        return unusable(ck, "restore that config to resume, or delete the file to start the "
                            "method over from round 0",
                        "was written under a different config for this method (the config "
                        "changed since)");
    if (h->clients != r->clients)
        return unusable(ck, NULL, "holds %d clients; this run has %d", h->clients, r->clients);
    unsigned long long want = sizeof *h + sizeof(uint64_t);
    for (int b = 0; b < NBANKS; b++) {
        if (h->bank_floats[b] != bank_floats(banks[b]))
            return unusable(ck, NULL, "holds %llu floats for the %s; this run has %zu",
                            (unsigned long long)h->bank_floats[b], BANK_NAMES[b],
                            bank_floats(banks[b]));
        want += h->bank_floats[b] * sizeof(float);
    }
    if (h->round < 1 || h->round >= r->cfg->rounds)
        return unusable(ck, NULL, "is damaged (it says round %d of %d)", h->round, r->cfg->rounds);
    if ((unsigned long long)file_bytes != want)
        return unusable(ck, NULL, "is %s (%lld bytes; its header says %llu)",
                        (unsigned long long)file_bytes < want ? "truncated" : "damaged",
                        file_bytes, want);
    return 0;
}

static int read_banks(const fs_checkpoint *ck, FILE *f, const header *h,
                      const fs_adapter_bank *const banks[NBANKS], float *staging)
{
    uint64_t sum = fs_hash64(FS_HASH64_SEED, h, sizeof *h), stored;
    for (int b = 0; b < NBANKS; b++)
        for (size_t off = 0; off < h->bank_floats[b]; off += CHUNK_FLOATS) {
            size_t n = h->bank_floats[b] - off < CHUNK_FLOATS ? h->bank_floats[b] - off
                                                               : CHUNK_FLOATS;
            if (fread(staging, sizeof(float), n, f) != n)
                return unusable(ck, NULL, "cannot be read: %s",
                                ferror(f) ? strerror(errno) : "it ended early");
            sum = fs_hash64(sum, staging, n * sizeof(float));
            banks[b]->ops->to_device(banks[b]->data + off, staging, n * sizeof(float));
        }
    if (fread(&stored, sizeof stored, 1, f) != 1)
        return unusable(ck, NULL, "cannot be read: it ended early");
    if (stored != sum) return unusable(ck, NULL, "is damaged (checksum mismatch)");
    return 0;
}

int fs_checkpoint_load(const fs_checkpoint *ck, fs_fed_run *r, fs_checkpoint_progress *p)
{
    FILE *f = fopen(ck->path, "rb");
    if (!f)
        return errno == ENOENT ? 0 : unusable(ck, NULL, "cannot be opened: %s", strerror(errno));
    const fs_adapter_bank *banks[NBANKS];
    banks_of(r, banks);
    header h;
    struct stat st;
    float *staging = NULL;
    int rc = -1;
    if (fstat(fileno(f), &st))
        unusable(ck, NULL, "cannot be read: %s", strerror(errno));
    else if (fread(&h, sizeof h, 1, f) != 1)
        unusable(ck, NULL, "is truncated (%lld bytes, less than its header)",
                 (long long)st.st_size);
    else if (!check_header(ck, &h, r, banks, (long long)st.st_size) &&
             (staging = staging_for(banks, ck->path)) && !read_banks(ck, f, &h, banks, staging))
        rc = 1;
    free(staging);
    fclose(f);
    if (rc == 1)
        *p = (fs_checkpoint_progress){.round = h.round, .seconds = h.seconds,
                                      .bytes_up = h.bytes_up, .bytes_down = h.bytes_down};
    return rc;
}

int fs_checkpoint_remove(const fs_checkpoint *ck)
{
    char tmp[sizeof ck->path + 8], dir[sizeof ck->path];
    snprintf(tmp, sizeof tmp, "%s.tmp", ck->path);
    if ((unlink(ck->path) && errno != ENOENT) || (unlink(tmp) && errno != ENOENT))
        return fs_fail("%s: cannot delete the checkpoint of a finished method: %s", ck->path,
                       strerror(errno));
    snprintf(dir, sizeof dir, "%s", ck->path);
    *strrchr(dir, '/') = 0;
    rmdir(dir); /* fails while other methods' checkpoints remain: fine */
    return 0;
}
