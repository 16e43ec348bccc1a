/* fuzz_ckpt: libFuzzer target for the checkpoint shard reader (pipa_ckpt_read): any bytes are
 * read as a shard of a small fixed layout (4 settings, two of them texts, and two tensors, one of
 * shape (4, 4)); the reader must refuse or accept them without a crash, a sanitizer report or
 * work beyond the expected shard's size. The seeds in tests/fuzz/corpus/fuzz_ckpt/ are shards of that layout,
 * written by this file built with -DFUZZ_CKPT_SEEDS (no -fsanitize=fuzzer) and run with the
 * corpus directory as its argument. Build and run (from the repository root): */
// clang -std=c11 -D_GNU_SOURCE -DPIPA_BLAS_OPENBLAS -Isrc -g -O1 -fsanitize=fuzzer,address,undefined
//     tests/fuzz/fuzz_ckpt.c src/*/*.c -lopenblas -lm -pthread -o /tmp/fuzz_ckpt
// /tmp/fuzz_ckpt -runs=20000 tests/fuzz/corpus/fuzz_ckpt
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/ckpt.h"

enum { NW = 16, NM = 4, MAX_STEP = 100 };

static float w[NW], m[NM];

static pipa_ckpt_meta_t layout(const char *corpus)
{
    pipa_ckpt_meta_t meta = {0};
    pipa_ckpt_meta_add(&meta, "layers", 2);
    pipa_ckpt_meta_add(&meta, "hidden", 8);
    pipa_ckpt_meta_text(&meta, "corpus", corpus);
    pipa_ckpt_meta_text(&meta, "corpus hash", "fnv1a64:0123456789abcdef");
    return meta;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size == 0) return 0;  // fmemopen wants at least one byte; "empty" is a truncation anyway
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f) return 0;
    pipa_ckpt_meta_t meta = layout("corpus.txt");
    pipa_ckpt_tensor_t t[2] = {{"w", w, NW, 2, {4, 4}}, {"m", m, NM, 0, {0}}};
    int64_t step = -1;
    pipa_status s = pipa_ckpt_read(f, "fuzz", &meta, t, 2, MAX_STEP, &step);
    if (s == PIPA_OK && (step < 0 || step > MAX_STEP)) __builtin_trap();  // accepted out of range
    fclose(f);
    return 0;
}

#ifdef FUZZ_CKPT_SEEDS
/* Writes the seed shards into argv[1]: two valid ones (steps 3 and 100) and one of another
 * corpus (refused at its text setting). */
static int seed(const char *dir, const char *name, const char *corpus, int64_t step)
{
    char set[4096], from[4200], to[4200];
    snprintf(set, sizeof set, "%s/tmp-%s", dir, name);
    pipa_ckpt_meta_t meta = layout(corpus);
    pipa_ckpt_tensor_t t[2] = {{"w", w, NW, 2, {4, 4}}, {"m", m, NM, 0, {0}}};
    for (int i = 0; i < NW; i++) w[i] = 0.5f * (float)i - 3.0f + (float)step;
    for (int i = 0; i < NM; i++) m[i] = 1e-3f * (float)(i + 1);
    if (mkdir(set, 0755) != 0 || pipa_ckpt_save(set, 0, &meta, t, 2, step) != PIPA_OK) return 1;
    pipa_ckpt_path(from, sizeof from, set, 0);
    snprintf(to, sizeof to, "%s/%s", dir, name);
    return rename(from, to) != 0 || rmdir(set) != 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) return 2;
    return seed(argv[1], "step3", "corpus.txt", 3) || seed(argv[1], "step100", "corpus.txt", 100) ||
           seed(argv[1], "other-corpus", "another/corpus.txt", 7);
}
#endif
