/* The closed vocabulary of the synthetic world: every word the generators
 * (synth-iconqa, synth-scienceqa, synth-captions) and the task builder's
 * conversation template can emit, after the tokenizer's normalisation
 * (lowercase words, punctuation marks as tokens, choice letters A-H, the
 * numbers 0-40). Kept sorted (strcmp order); tests/test_datasets.c checks that
 * every token of generated data is listed, so a generator change that adds a
 * word fails there until the word is added here. */
#include <stdio.h>

#include "datasets/synth.h"
#include "sim/io/error.h"
#include "sim/model/tokenizer.h"

static const char *const words[] = {
    "(", ")", ",", ".", "0", "1", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19",
    "2", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "3", "30", "31", "32",
    "33", "34", "35", "36", "37", "38", "39", "4", "40", "5", "6", "7", "8", "9", ":", "?", "A",
    "B", "C", "D", "E", "F", "G", "H", "a", "above", "add", "all", "alphabetical", "an", "and",
    "answer", "apple", "are", "arrow", "assistant", "at", "attract", "away", "bar", "bars",
    "basket", "be", "beetle", "below", "berries", "bird", "blue", "both", "bread", "bridges",
    "cairo", "candle", "castle", "celsius", "centimetre", "centre", "chain", "circle",
    "circles", "cities", "city", "cloud", "cm", "colder", "colour", "come", "cross", "crosses",
    "degrees", "delhi", "desk", "diamond", "diamonds", "does", "dolphin", "drawing", "each",
    "east", "eat", "eats", "egg", "farm", "feather", "fewer", "fewest", "first", "flower",
    "food", "forest", "four", "fox", "frog", "from", "garden", "graph", "grass", "green", "has",
    "hawk", "hill", "honey", "how", "if", "image", "in", "insect", "is", "island", "it",
    "jacket", "kite", "ladder", "lake", "last", "leaves", "left", "lemon", "lima", "living",
    "lizard", "long", "magnet", "magnets", "many", "map", "mark", "mirror", "moon", "more",
    "most", "mountain", "mouse", "museums", "nest", "no", "north", "number", "object", "ocean",
    "of", "on", "one", "options", "or", "orange", "order", "oslo", "other", "owl", "paper",
    "paris", "parks", "part", "pencil", "photo", "pick", "picture", "points", "pole", "purple", "queen",
    "question", "quito", "rabbit", "red", "relative", "repel", "right", "river", "rocket",
    "rome", "ruler", "same", "sand", "schools", "seeds", "shape", "shapes", "shell", "show",
    "shows", "snake", "south", "spider", "square", "squares", "start", "take", "temperature",
    "than", "that", "the", "there", "thermometers", "these", "thing", "this", "three", "tiger",
    "to", "tokyo", "top", "total", "town", "tree", "triangle", "triangles", "two", "umbrella",
    "user", "violin", "wagon", "warmer", "west", "what", "where", "which", "will", "window",
    "word", "would", "yard", "yellow", "yes", "you", "zebra", "zero",
};

const char *const *fs_synth_words(int *n)
{
    *n = (int)(sizeof words / sizeof *words);
    return words;
}

int fs_synth_write_vocab(const char *model_dir, const fs_llava_config *cfg)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.txt", model_dir);
    int n;
    const char *const *w = fs_synth_words(&n);
    if (fs_tokenizer_build_vocab(path, cfg->t_vocab, cfg->pad_token_id, cfg->image_token_index, w, n))
        return -1;
    return 0;
}
