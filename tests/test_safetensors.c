/* safetensors reader/writer: round trips, byte layout against the spec,
 * sharded checkpoints, and one clear error for every malformed input. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/io/error.h"
#include "sim/model/safetensors.h"
#include "tests/helpers/testutil.h"

static char *path_in(const char *dir, const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot create %s", path);
    cr_assert_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc(*n + 1);
    cr_assert_eq(fread(p, 1, *n, f), *n);
    fclose(f);
    return p;
}

/* A safetensors file by hand: 8-byte LE header length, header (unpadded), data. */
static void write_raw(const char *path, const char *header, size_t hlen, const void *data,
                      size_t ndata)
{
    unsigned char *buf = malloc(8 + hlen + ndata + 1);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(buf + 8, header, hlen);
    if (ndata) memcpy(buf + 8 + hlen, data, ndata);
    write_bytes(path, buf, 8 + hlen + ndata);
    free(buf);
}

static void write_hdr(const char *path, const char *header, size_t ndata)
{
    unsigned char *zeros = calloc(ndata + 1, 1);
    write_raw(path, header, strlen(header), zeros, ndata);
    free(zeros);
}

static void assert_msg(const char *what, const char *a, const char *b)
{
    const char *msg = fs_last_error();
    cr_assert(strstr(msg, a), "%s: message lacks '%s':\n  %s", what, a, msg);
    if (b) cr_assert(strstr(msg, b), "%s: message lacks '%s':\n  %s", what, b, msg);
}

/* Opening must fail with a message naming the file and containing phrase. */
static void expect_open_error(const char *path, const char *phrase, const char *what)
{
    fs_clear_error();
    fs_st_archive *a = fs_st_open(path);
    cr_assert_null(a, "%s: opened a malformed file", what);
    cr_log_info("%s -> %s", what, fs_last_error()); /* shown with --verbose */
    assert_msg(what, path, phrase);
}

Test(safetensors, round_trip_all_dtypes_and_scalar)
{
    const char *dir = tu_tmpdir();
    float w[6] = {1.5f, -2.25f, 3.0f, 0.0f, 1e-3f, -7.0f};
    float bf_src[4] = {1.0f, -0.5f, 3.140625f, 256.0f};
    uint16_t bf[4], f16[5] = {0x3c00, 0xc000, 0x3800, 0x0001, 0x7bff};
    const float f16_want[5] = {1.0f, -2.0f, 0.5f, 5.9604645e-8f, 65504.0f};
    for (int i = 0; i < 4; i++) bf[i] = fs_f32_to_bf16(bf_src[i]);
    float s = 42.5f;
    fs_st_entry e[] = {
        {"model.w", FS_F32, 2, {2, 3}, w},
        {"model.bf", FS_BF16, 1, {4}, bf},
        {"model.h", FS_F16, 1, {5}, f16},
        {"scalar", FS_F32, 0, {0}, &s},
        {"empty", FS_F32, 2, {0, 7}, NULL},
    };
    const char *p = path_in(dir, "rt.safetensors");
    cr_assert_eq(fs_st_write(p, e, 5, NULL), 0, "%s", fs_last_error());
    cr_assert_neq(access(path_in(dir, "rt.safetensors.tmp"), F_OK), 0, "tmp file left behind");

    fs_st_archive *a = fs_st_open(p);
    cr_assert(a, "%s", fs_last_error());
    cr_assert_eq(fs_st_count(a), 5);
    const fs_st_tensor *t = fs_st_find(a, "model.w");
    cr_assert(t && t->dtype == FS_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3);
    cr_assert_eq(t->nbytes, sizeof w);
    cr_assert_eq(memcmp(t->data, w, sizeof w), 0);
    cr_assert_str_eq(t->file, p);
    t = fs_st_find(a, "model.bf");
    cr_assert(t && t->dtype == FS_BF16 && t->nbytes == 8 && !memcmp(t->data, bf, 8));
    t = fs_st_find(a, "scalar");
    cr_assert(t && t->ndim == 0 && t->nbytes == 4);
    t = fs_st_find(a, "empty");
    cr_assert(t && t->ndim == 2 && t->shape[1] == 7 && t->nbytes == 0);
    cr_assert_null(fs_st_find(a, "nope"));
    cr_assert_null(fs_st_at(a, 5));
    cr_assert_null(fs_st_at(a, -1));

    float out[6];
    cr_assert_eq(fs_st_read_f32(a, "model.w", 2, (int64_t[]){2, 3}, out), 0);
    tu_assert_close(out, w, 6, 0, 0, "f32");
    cr_assert_eq(fs_st_read_f32(a, "model.bf", 1, (int64_t[]){4}, out), 0);
    tu_assert_close(out, bf_src, 4, 0, 0, "bf16");
    cr_assert_eq(fs_st_read_f32(a, "model.h", 1, (int64_t[]){5}, out), 0);
    tu_assert_close(out, f16_want, 5, 0, 0, "f16");
    cr_assert_eq(fs_st_read_f32(a, "scalar", 0, NULL, out), 0);
    cr_assert_eq(out[0], 42.5f);
    cr_assert_eq(fs_st_read_f32(a, "empty", 2, (int64_t[]){0, 7}, out), 0);
    fs_st_close(a);
}

Test(safetensors, written_bytes_follow_the_spec)
{
    const char *dir = tu_tmpdir();
    uint16_t h[2] = {0x3c00, 0x4000};
    float f = 1.0f, g[3] = {1, 2, 3};
    uint16_t b[1] = {0x3f80};
    /* Deliberately unsorted: the writer orders F32, BF16, F16, then by name. */
    fs_st_entry e[] = {
        {"b", FS_F16, 1, {2}, h}, {"z", FS_BF16, 1, {1}, b}, {"a", FS_F32, 1, {1}, &f},
        {"c", FS_F32, 2, {1, 3}, g},
    };
    const char *p = path_in(dir, "spec.safetensors");
    cr_assert_eq(fs_st_write(p, e, 4, NULL), 0, "%s", fs_last_error());
    size_t n;
    unsigned char *bytes = read_all(p, &n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | bytes[i];
    cr_assert_eq(hlen % 8, 0, "header length %llu not 8-aligned", (unsigned long long)hlen);
    const char *want = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"c\":{\"dtype\":\"F32\",\"shape\":[1,3],\"data_offsets\":[4,16]},"
                       "\"z\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[16,18]},"
                       "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[18,22]}}";
    size_t wl = strlen(want);
    cr_assert_geq(hlen, wl);
    cr_assert_eq(memcmp(bytes + 8, want, wl), 0, "header is\n%.*s", (int)hlen, bytes + 8);
    for (size_t i = wl; i < hlen; i++) cr_assert_eq(bytes[8 + i], ' ', "padding must be spaces");
    cr_assert_eq(n, 8 + hlen + 22, "data section must be contiguous");
    cr_assert_eq(memcmp(bytes + 8 + hlen, &f, 4), 0);
    cr_assert_eq(memcmp(bytes + 8 + hlen + 18, h, 4), 0);
    free(bytes);

    /* Custom metadata: written sorted by key, still readable. */
    const char *kv[] = {"format", "pt", "author", "fedsim \"test\"", NULL};
    cr_assert_eq(fs_st_write(p, e, 4, kv), 0, "%s", fs_last_error());
    bytes = read_all(p, &n);
    cr_assert(strstr((char *)bytes + 8,
                     "{\"__metadata__\":{\"author\":\"fedsim \\\"test\\\"\",\"format\":\"pt\"}"));
    free(bytes);
    fs_st_archive *a = fs_st_open(p);
    cr_assert(a, "%s", fs_last_error());
    cr_assert_eq(fs_st_count(a), 4);
    cr_assert_str_eq(fs_st_at(a, 0)->name, "a"); /* file order */
    cr_assert_str_eq(fs_st_at(a, 3)->name, "b");
    fs_st_close(a);
}

Test(safetensors, hand_written_minimal_files_parse)
{
    const char *dir = tu_tmpdir();
    /* Straight from the spec: unpadded header, odd length, so the data is unaligned. */
    float v[2] = {3.5f, -1.0f};
    const char *hdr = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    const char *p = path_in(dir, "min.safetensors");
    write_raw(p, hdr, strlen(hdr), v, 8);
    fs_st_archive *a = fs_st_open(p);
    cr_assert(a, "%s", fs_last_error());
    float out[3];
    cr_assert_eq(fs_st_read_f32(a, "x", 1, (int64_t[]){2}, out), 0, "%s", fs_last_error());
    tu_assert_close(out, v, 2, 0, 0, "x");
    fs_st_close(a);

    /* BF16 at an odd address, whitespace in the header, metadata, empty name. */
    uint16_t bf[3] = {0x3f80, 0xc000, 0x4040};
    const char *hdr2 = " {\n \"__metadata__\" : {\"format\": \"np\"},\n"
                       "  \"w\": {\"shape\": [3], \"dtype\": \"BF16\", \"data_offsets\": [0, 6]},"
                       "  \"\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [6, 10]}\n}\t\r\n";
    unsigned char data[10];
    memcpy(data, bf, 6);
    memcpy(data + 6, &v[0], 4);
    const char *p2 = path_in(dir, "ws.safetensors");
    write_raw(p2, hdr2, strlen(hdr2), data, 10);
    a = fs_st_open(p2);
    cr_assert(a, "%s", fs_last_error());
    cr_assert((uintptr_t)fs_st_find(a, "w")->data % 2 == 1, "meant to test unaligned BF16");
    cr_assert_eq(fs_st_read_f32(a, "w", 1, (int64_t[]){3}, out), 0);
    cr_assert(out[0] == 1.0f && out[1] == -2.0f && out[2] == 3.0f);
    float s;
    cr_assert_eq(fs_st_read_f32(a, "", 0, NULL, &s), 0);
    cr_assert_eq(s, 3.5f);
    fs_st_close(a);

    /* A gap between tensors and a zero-byte tensor inside another's range share no
     * bytes, so neither is an overlap. */
    const char *hdr4 = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[2,2]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}";
    const char *p4 = path_in(dir, "gap.safetensors");
    write_hdr(p4, hdr4, 12);
    a = fs_st_open(p4);
    cr_assert(a, "%s", fs_last_error());
    cr_assert_eq(fs_st_count(a), 3);
    fs_st_close(a);

    /* No tensors at all is a valid (empty) file. */
    const char *p3 = path_in(dir, "empty.safetensors");
    write_hdr(p3, "{}", 0);
    a = fs_st_open(p3);
    cr_assert(a, "%s", fs_last_error());
    cr_assert_eq(fs_st_count(a), 0);
    fs_st_close(a);
}

Test(safetensors, read_f32_checks_shape_and_names)
{
    const char *dir = tu_tmpdir();
    float w[6] = {0};
    fs_st_entry e[] = {{"language_model.lm_head.weight", FS_F32, 2, {2, 3}, w}};
    const char *p = path_in(dir, "model.safetensors");
    cr_assert_eq(fs_st_write(p, e, 1, NULL), 0);
    fs_st_archive *a = fs_st_open(dir); /* the directory form */
    cr_assert(a, "%s", fs_last_error());
    float out[6];
    cr_assert_eq(fs_st_read_f32(a, "language_model.lm_head.weight", 2, (int64_t[]){3, 2}, out), -1);
    assert_msg("shape", p, "tensor 'language_model.lm_head.weight' has shape [2, 3], expected [3, 2]");
    cr_assert_eq(fs_st_read_f32(a, "language_model.lm_head.weight", 1, (int64_t[]){6}, out), -1);
    assert_msg("ndim", "expected [6]", "config.json");
    cr_assert_eq(fs_st_read_f32(a, "missing.weight", 1, (int64_t[]){6}, out), -1);
    assert_msg("missing", dir, "tensor 'missing.weight' not found");
    fs_st_close(a);
}

Test(safetensors, sharded_directory)
{
    const char *dir = tu_tmpdir();
    float a1[2] = {1, 2}, b1[3] = {3, 4, 5}, c1[1] = {6};
    fs_st_entry s1[] = {{"a", FS_F32, 1, {2}, a1}, {"b", FS_F32, 1, {3}, b1}};
    fs_st_entry s2[] = {{"c", FS_F32, 1, {1}, c1}};
    cr_assert_eq(fs_st_write(path_in(dir, "model-00001-of-00002.safetensors"), s1, 2, NULL), 0);
    cr_assert_eq(fs_st_write(path_in(dir, "model-00002-of-00002.safetensors"), s2, 1, NULL), 0);
    const char *index =
        "{\"metadata\": {\"total_size\": 24},\n \"weight_map\": {\n"
        "  \"a\": \"model-00001-of-00002.safetensors\",\n"
        "  \"c\": \"model-00002-of-00002.safetensors\",\n"
        "  \"b\": \"model-00001-of-00002.safetensors\"}}\n";
    const char *ip = path_in(dir, "model.safetensors.index.json");
    write_bytes(ip, index, strlen(index));
    for (int form = 0; form < 2; form++) {
        fs_st_archive *a = fs_st_open(form ? ip : dir);
        cr_assert(a, "%s", fs_last_error());
        cr_assert_eq(fs_st_count(a), 3);
        float out[3];
        cr_assert_eq(fs_st_read_f32(a, "b", 1, (int64_t[]){3}, out), 0);
        tu_assert_close(out, b1, 3, 0, 0, "b");
        const fs_st_tensor *t = fs_st_find(a, "c");
        cr_assert(t && strstr(t->file, "model-00002-of-00002.safetensors"));
        cr_assert_eq(*(const float *)t->data, 6.0f);
        cr_assert(strstr(fs_st_find(a, "a")->file, "model-00001-of-00002"));
        fs_st_close(a);
    }
}

typedef struct {
    const char *header; /* NULL: use raw */
    size_t ndata;
    const char *phrase;
} bad_case;

Test(safetensors, malformed_headers_give_clear_errors)
{
    const char *dir = tu_tmpdir();
#define T(name, dt, shape, off) "{\"" name "\":{\"dtype\":" dt ",\"shape\":" shape ",\"data_offsets\":" off "}}"
    const bad_case cases[] = {
        {"{abc", 0, "not valid JSON"},
        {"", 0, "not valid JSON"},
        {"[1, 2]", 0, "not a JSON object"},
        {"\"str\"", 0, "not a JSON object"},
        {"{} x", 0, "trailing bytes"},
        {"{\"a\":5}", 0, "tensor 'a' has a header entry that is a number"},
        {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a' has no \"dtype\""},
        {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "tensor 'a' has no \"shape\""},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "tensor 'a' has no \"data_offsets\""},
        {T("a", "4", "[1]", "[0,4]"), 4, "\"dtype\" of type a number"},
        {T("a", "\"F32\"", "\"1\"", "[0,4]"), 4, "\"shape\" of type a string"},
        {T("a", "\"F32\"", "[\"1\"]", "[0,4]"), 4, "shape[0] that is a string"},
        {T("a", "\"F32\"", "[1.5]", "[0,4]"), 4, "shape[0] that is a number"},
        {T("a", "\"F32\"", "[-2]", "[0,4]"), 4, "negative dimension shape[0] = -2"},
        {T("a", "\"F32\"", "[1e400]", "[0,4]"), 4, "shape[0]"},
        {T("a", "\"F32\"", "[4294967296,4294967296,4294967296]", "[0,4]"), 4, "overflows"},
        {T("a", "\"F32\"", "[9007199254740992,9007199254740992]", "[0,4]"), 4, "overflows"},
        {T("a", "\"F32\"", "[1,1,1,1,1]", "[0,4]"), 4, "5 dimensions; fedsim supports at most 4"},
        {T("a", "\"F32\"", "[1]", "[0]"), 4, "not a [begin, end] pair"},
        {T("a", "\"F32\"", "[1]", "[0,4,8]"), 4, "not a [begin, end] pair"},
        {T("a", "\"F32\"", "[1]", "{}"), 4, "not a [begin, end] pair"},
        {T("a", "\"F32\"", "[1]", "[0,\"4\"]"), 4, "not non-negative integers"},
        {T("a", "\"F32\"", "[1]", "[-4,0]"), 4, "not non-negative integers"},
        {T("a", "\"F32\"", "[1]", "[8,4]"), 8, "begin > end"},
        {T("a", "\"F32\"", "[1]", "[0,400]"), 4, "data section holds only 4 bytes"},
        {T("a", "\"F32\"", "[1]", "[0,18446744073709551615]"), 4, "not non-negative integers"},
        {T("a", "\"F32\"", "[1]", "[0,8]"), 8, "need 4 bytes"},
        {T("a", "\"BF16\"", "[3]", "[0,4]"), 4, "need 6 bytes"},
        {T("pos_ids", "\"I64\"", "[1]", "[0,8]"), 8, "tensor 'pos_ids' has unsupported dtype I64; fedsim reads F32, F16 and BF16"},
        {T("a", "\"I32\"", "[1]", "[0,4]"), 4, "unsupported dtype I32"},
        {T("a", "\"U8\"", "[1]", "[0,1]"), 1, "unsupported dtype U8"},
        {T("a", "\"F64\"", "[1]", "[0,8]"), 8, "unsupported dtype F64"},
        {T("a", "\"BOOL\"", "[1]", "[0,1]"), 1, "unsupported dtype BOOL"},
        {T("a", "\"f32\"", "[1]", "[0,4]"), 4, "unknown dtype 'f32'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
         "tensor 'a' appears twice"},
#define T2(n1, s1, o1, n2, s2, o2) "{\"" n1 "\":{\"dtype\":\"F32\",\"shape\":" s1 ",\"data_offsets\":" o1 "}," \
                                  "\"" n2 "\":{\"dtype\":\"F32\",\"shape\":" s2 ",\"data_offsets\":" o2 "}}"
        {T2("a", "[2]", "[0,8]", "b", "[2]", "[4,12]"), 12,
         "tensor 'b' has data_offsets [4, 12] that overlap those of tensor 'a' [0, 8]"},
        {T2("b", "[2]", "[4,12]", "a", "[2]", "[0,8]"), 12, "tensor 'b' has data_offsets [4, 12] that overlap"},
        {T2("outer", "[4]", "[0,16]", "inner", "[1]", "[4,8]"), 16, "tensor 'inner' has data_offsets [4, 8] that overlap those of tensor 'outer' [0, 16]"},
        {T2("x", "[1]", "[0,4]", "y", "[1]", "[0,4]"), 4, "tensor 'y' has data_offsets [0, 4] that overlap those of tensor 'x'"},
#undef T2
        {T("bad\xff\xfename", "\"F32\"", "[1]", "[0,4]"), 4, "is not valid UTF-8"},
        {T("bad\xc0\x80", "\"F32\"", "[1]", "[0,4]"), 4, "is not valid UTF-8"},
        {T("nul\\u0000name", "\"F32\"", "[1]", "[0,4]"), 4, "NUL character"},
        {T("raw\x01", "\"F32\"", "[1]", "[0,4]"), 4, "raw control byte 0x01"},
        {"{\x02}", 0, "control byte 0x02"},
        {"{\"__metadata__\":5}", 0, "\"__metadata__\" is a number; expected an object of strings"},
        {"{\"__metadata__\":{\"format\":1}}", 0, "metadata must be an object of UTF-8 strings"},
        {"{\"__metadata__\":{\"k\":\"\xff\"}}", 0, "not valid UTF-8"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, "not valid JSON"},
    };
#undef T
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char name[64], what[96];
        snprintf(name, sizeof name, "case%02zu.safetensors", i);
        snprintf(what, sizeof what, "case %zu (%.40s)", i, cases[i].header);
        const char *p = path_in(dir, name);
        write_hdr(p, cases[i].header, cases[i].ndata);
        expect_open_error(p, cases[i].phrase, what);
    }
    /* Deep nesting must not overflow the parser's stack. */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = 0;
    const char *p = path_in(dir, "deep.safetensors");
    write_hdr(p, deep, 0);
    expect_open_error(p, "not valid JSON", "deep nesting");
    free(deep);
}

Test(safetensors, malformed_lengths_and_paths)
{
    const char *dir = tu_tmpdir();
    const char *p = path_in(dir, "short.safetensors");
    write_bytes(p, "\x05\0\0", 3);
    expect_open_error(p, "shorter than the 8-byte", "3-byte file");
    write_bytes(p, "", 0);
    expect_open_error(p, "shorter than the 8-byte", "empty file");
    unsigned char big[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'};
    write_bytes(p, big, 10);
    expect_open_error(p, "absurd", "length 2^64-1");
    unsigned char over[12] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' '};
    write_bytes(p, over, 12);
    expect_open_error(p, "larger than the file", "length past EOF");
    unsigned char huge[10] = {0, 0, 0, 0, 0, 1, 0, 0, '{', '}'}; /* 2^40 */
    write_bytes(p, huge, 10);
    expect_open_error(p, "absurd", "length 2^40");
    expect_open_error(path_in(dir, "nope.safetensors"), "cannot open", "missing file");
    expect_open_error(dir, "neither model.safetensors nor model.safetensors.index.json",
                      "empty directory");
}

Test(safetensors, truncations_and_bit_flips_never_crash)
{
    const char *dir = tu_tmpdir();
    float w[12];
    uint16_t h[5] = {1, 2, 3, 4, 5};
    for (int i = 0; i < 12; i++) w[i] = (float)i;
    fs_st_entry e[] = {{"w", FS_F32, 2, {3, 4}, w}, {"h", FS_F16, 1, {5}, h}};
    const char *p = path_in(dir, "good.safetensors");
    cr_assert_eq(fs_st_write(p, e, 2, NULL), 0);
    size_t n;
    unsigned char *good = read_all(p, &n);
    const char *q = path_in(dir, "mut.safetensors");
    for (size_t len = 0; len < n; len++) { /* every truncation is an error */
        write_bytes(q, good, len);
        fs_st_archive *a = fs_st_open(q);
        cr_assert_null(a, "truncated to %zu of %zu bytes but opened", len, n);
        cr_assert(strstr(fs_last_error(), q), "%s", fs_last_error());
    }
    tu_rng r = tu_rng_new(7);
    unsigned char *mut = malloc(n);
    int opened = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(mut, good, n);
        int flips = 1 + it % 4;
        for (int k = 0; k < flips; k++) {
            size_t at = (size_t)tu_uniform(&r, 0, (float)n) % n;
            mut[at] = (unsigned char)tu_uniform(&r, 0, 256);
        }
        write_bytes(q, mut, n);
        fs_st_archive *a = fs_st_open(q);
        if (!a) continue;
        opened++;
        for (int i = 0; i < fs_st_count(a); i++) { /* every tensor stays inside the file */
            const fs_st_tensor *t = fs_st_at(a, i);
            cr_assert_eq(fs_st_find(a, t->name), t);
            float *out = malloc(t->nbytes * 2 + 4);
            int64_t shape[FS_MAX_DIMS];
            memcpy(shape, t->shape, sizeof shape);
            cr_assert_eq(fs_st_read_f32(a, t->name, t->ndim, shape, out), 0);
            free(out);
        }
        fs_st_close(a);
    }
    cr_assert_gt(opened, 0, "no mutation kept the file valid; the test is too harsh");
    free(mut);
    free(good);
}

Test(safetensors, sharded_errors)
{
    const char *dir = tu_tmpdir();
    float v[2] = {1, 2};
    fs_st_entry s1[] = {{"a", FS_F32, 1, {2}, v}};
    fs_st_entry s2[] = {{"b", FS_F32, 1, {2}, v}, {"a", FS_F32, 1, {1}, v}};
    cr_assert_eq(fs_st_write(path_in(dir, "s1.safetensors"), s1, 1, NULL), 0);
    cr_assert_eq(fs_st_write(path_in(dir, "s2.safetensors"), s2, 2, NULL), 0);
    const char *ip = path_in(dir, "model.safetensors.index.json");
    const struct { const char *json, *phrase; } cases[] = {
        {"{\"weight_map\":{\"a\":\"s1.safetensors\",\"x\":\"s3.safetensors\"}}",
         "maps tensor 'x' to shard 's3.safetensors', which is missing"},
        {"{\"weight_map\":{\"zz\":\"s1.safetensors\"}}",
         "tensor 'zz' is in shard 's1.safetensors', but that shard has no such tensor"},
        {"{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s1.safetensors\"}}",
         "tensor 'b' is in shard 's1.safetensors', but that shard has no such tensor"},
        {"{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\"}}",
         "duplicate name across shards"},
        {"{\"metadata\":{}}", "\"weight_map\" is missing"},
        {"{\"weight_map\":{}}", "\"weight_map\" is empty"},
        {"{\"weight_map\":[]}", "\"weight_map\" is an array"},
        {"{\"weight_map\":{\"a\":\"../s1.safetensors\"}}", "not a plain file name"},
        {"{\"weight_map\":{\"a\":7}}", "weight_map entry for tensor 'a' is a number"},
        {"{\"weight_map\":", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char what[32];
        snprintf(what, sizeof what, "index case %zu", i);
        write_bytes(ip, cases[i].json, strlen(cases[i].json));
        expect_open_error(dir, cases[i].phrase, what);
        assert_msg(what, ip, NULL);
    }
    /* A broken shard: the message names the shard. */
    write_bytes(path_in(dir, "s1.safetensors"), "\x02\0\0\0\0\0\0\0{x", 10);
    const char *idx = "{\"weight_map\":{\"a\":\"s1.safetensors\"}}";
    write_bytes(ip, idx, strlen(idx));
    expect_open_error(dir, "not valid JSON", "broken shard");
    assert_msg("broken shard", path_in(dir, "s1.safetensors"), NULL);
}

Test(safetensors, write_rejects_bad_entries)
{
    const char *dir = tu_tmpdir();
    float v[4] = {0};
    const char *p = path_in(dir, "w.safetensors");
    fs_st_entry dup[] = {{"x", FS_F32, 1, {1}, v}, {"x", FS_F16, 1, {1}, v}};
    cr_assert_eq(fs_st_write(p, dup, 2, NULL), -1);
    assert_msg("dup", p, "tensor 'x' is given twice");
    fs_st_entry reserved[] = {{"__metadata__", FS_F32, 1, {1}, v}};
    cr_assert_eq(fs_st_write(p, reserved, 1, NULL), -1);
    assert_msg("reserved", p, "reserved name");
    fs_st_entry dims[] = {{"x", FS_F32, 5, {1, 1, 1, 1}, v}};
    cr_assert_eq(fs_st_write(p, dims, 1, NULL), -1);
    assert_msg("dims", p, "5 dimensions");
    fs_st_entry neg[] = {{"x", FS_F32, 2, {2, -1}, v}};
    cr_assert_eq(fs_st_write(p, neg, 1, NULL), -1);
    assert_msg("neg", p, "negative dimension shape[1] = -1");
    fs_st_entry nodata[] = {{"x", FS_F32, 1, {4}, NULL}};
    cr_assert_eq(fs_st_write(p, nodata, 1, NULL), -1);
    assert_msg("nodata", p, "has no data");
    fs_st_entry ok[] = {{"x", FS_F32, 1, {4}, v}};
    const char *odd[] = {"format", NULL};
    cr_assert_eq(fs_st_write(p, ok, 1, odd), -1);
    assert_msg("meta", p, "has no value");
    const char *bad = path_in(dir, "no/such/dir/w.safetensors");
    cr_assert_eq(fs_st_write(bad, ok, 1, NULL), -1);
    assert_msg("dir", "no/such/dir/w.safetensors.tmp", "cannot create");
    cr_assert_neq(access(p, F_OK), 0, "failed writes must leave no file");
    cr_assert_eq(fs_st_write(p, ok, 0, NULL), 0, "an empty file is legal: %s", fs_last_error());
}
