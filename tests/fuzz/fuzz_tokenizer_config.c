/* libFuzzer target: the input is a Hugging Face tokenizer_config.json next to
 * a real (fixture) tokenizer.model, for fs_tokenizer_load; a loaded tokenizer
 * then encodes the input itself as text, which exercises the splitting on
 * whatever added tokens it declared. Must never crash or leak, and every id
 * must be one the tokenizer can name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/io/error.h"
#include "sim/model/tokenizer.h"
#include "tests/fuzz/fuzz_common.h"

enum { MAX_IDS = 4096 };

static void copy_fixture_model(void)
{
    static char dst[600];
    if (dst[0]) return;
    fz_path(dst, sizeof dst, "tokenizer.model");
    FILE *f = fopen(FEDSIM_SOURCE_DIR "/tests/fixtures/sp_tokenizer/tokenizer.model", "rb");
    static char buf[1 << 16];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (!f || fclose(f) || n == 0 || n == sizeof buf) {
        fprintf(stderr, "fuzz: cannot read the fixture tokenizer.model\n");
        abort();
    }
    fz_write(dst, buf, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[600];
    static int32_t ids[MAX_IDS];
    copy_fixture_model();
    if (!path[0]) fz_path(path, sizeof path, "tokenizer_config.json");
    fz_write(path, data, size);
    fs_clear_error();
    fs_tokenizer *t = fs_tokenizer_load(fz_dir());
    if (!t) {
        fz_require_message();
        return 0;
    }
    char *text = malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = 0;
    int n = fs_tokenizer_encode(t, text, ids, MAX_IDS);
    if (n < 0) fz_require_message();
    for (int i = 0; i < n; i++) {
        if (!fs_tokenizer_token(t, ids[i]) || ids[i] >= fs_tokenizer_vocab_size(t)) {
            fprintf(stderr, "fuzz: id %d has no token\n", ids[i]);
            abort();
        }
    }
    free(text);
    fs_tokenizer_free(t);
    return 0;
}
