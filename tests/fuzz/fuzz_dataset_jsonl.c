/* libFuzzer target: the fedsim-mcqa-1 reader (fs_mcqa_read). The first byte
 * picks what the rest of the input is:
 *   even: examples.jsonl, next to a fixed valid dataset.json (1 train, 1 test,
 *         no category list), so every line reaches the example parser;
 *   odd:  dataset.json, next to a fixed valid examples.jsonl.
 * Must never crash or leak. */
#include <stdint.h>
#include <stdlib.h>

#include "datasets/mcqa_format.h"
#include "sim/io/error.h"
#include "tests/fuzz/fuzz_common.h"

static const char meta[] =
    "{\"format\":\"fedsim-mcqa-1\",\"name\":\"fuzz\",\"image_size\":32,\"categories\":[],"
    "\"seed\":0,\"counts\":{\"train\":1,\"test\":1}}\n";
static const char examples[] =
    "{\"id\":\"0\",\"split\":\"train\",\"question\":\"Q?\",\"context\":\"\",\"choices\":[\"a\",\"b\"],"
    "\"answer\":1,\"category\":\"c\",\"image\":\"images/000000.png\"}\n"
    "{\"id\":\"1\",\"split\":\"test\",\"question\":\"Q?\",\"context\":\"x\",\"choices\":[\"a\",\"b\",\"c\"],"
    "\"answer\":0,\"category\":\"c\",\"skill\":\"s\",\"subject\":\"t\"}\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    static char mpath[600], epath[600];
    if (!mpath[0]) {
        fz_path(mpath, sizeof mpath, "dataset.json");
        fz_path(epath, sizeof epath, "examples.jsonl");
    }
    if (data[0] & 1) {
        fz_write(mpath, data + 1, size - 1);
        fz_write(epath, examples, sizeof examples - 1);
    } else {
        fz_write(mpath, meta, sizeof meta - 1);
        fz_write(epath, data + 1, size - 1);
    }
    fs_mcqa_dataset d;
    fs_clear_error();
    if (fs_mcqa_read(fz_dir(), &d) == 0) {
        for (int i = 0; i < d.n; i++) {
            const fs_mcqa_example *e = &d.ex[i];
            if (e->n_choices < 1 || e->n_choices > FS_MAX_CHOICES || e->answer < 0 ||
                e->answer >= e->n_choices)
                abort(); /* the reader promises validated examples */
            fs_mcqa_key(e, "category");
            fs_mcqa_key(e, "skill");
        }
        fs_mcqa_free(&d);
    } else {
        fz_require_message();
    }
    return 0;
}
