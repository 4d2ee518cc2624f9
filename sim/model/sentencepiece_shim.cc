// C shim over libsentencepiece, which has only a C++ API. This is the only
// C++ file outside the CUDA backend: everything else in fedsim is C11, and this
// file stays the thinnest possible wrapper. No exception leaves it: each entry
// point catches everything and reports through fs_fail like the C code.
#include "sim/model/sentencepiece_shim.h"

#include <sentencepiece_processor.h>

#include <exception>
#include <new>
#include <string>
#include <vector>

struct fs_spm {
    sentencepiece::SentencePieceProcessor sp;
    std::string path; // for messages
};

extern "C" fs_spm *fs_spm_load(const char *path)
{
    fs_spm *m = nullptr;
    try {
        m = new fs_spm;
        m->path = path;
        sentencepiece::util::Status st = m->sp.Load(path);
        if (st.ok()) return m;
        fs_fail("%s: cannot load the SentencePiece model (%s); a LLaMA model directory needs "
                "the tokenizer.model it was trained with", path, st.ToString().c_str());
    } catch (const std::exception &e) {
        fs_fail("%s: cannot load the SentencePiece model (%s)", path, e.what());
    }
    delete m;
    return nullptr;
}

extern "C" void fs_spm_free(fs_spm *m) { delete m; }

extern "C" int fs_spm_size(const fs_spm *m) { return m->sp.GetPieceSize(); }

extern "C" int fs_spm_encode(const fs_spm *m, const char *text, size_t n, int32_t *ids, int max)
{
    try {
        std::vector<int> out;
        sentencepiece::util::Status st = m->sp.Encode(std::string_view(text, n), &out);
        if (!st.ok())
            return fs_fail("%s: SentencePiece cannot encode \"%.*s\" (%s)", m->path.c_str(),
                           (int)(n < 60 ? n : 60), text, st.ToString().c_str());
        for (size_t i = 0; i < out.size() && i < (size_t)max; i++) ids[i] = out[i];
        return (int)out.size();
    } catch (const std::exception &e) {
        return fs_fail("%s: SentencePiece encoding failed (%s)", m->path.c_str(), e.what());
    }
}

extern "C" int32_t fs_spm_piece_id(const fs_spm *m, const char *piece)
{
    // PieceToId answers unk_id for an unknown piece: tell that apart from "<unk>" itself.
    int id = m->sp.PieceToId(piece);
    return id == m->sp.unk_id() && m->sp.IdToPiece(id) != piece ? -1 : id;
}

extern "C" const char *fs_spm_piece(const fs_spm *m, int32_t id)
{
    return id >= 0 && id < m->sp.GetPieceSize() ? m->sp.IdToPiece(id).c_str() : nullptr;
}

extern "C" int fs_spm_is_special(const fs_spm *m, int32_t id)
{
    return m->sp.IsUnknown(id) || m->sp.IsControl(id);
}
