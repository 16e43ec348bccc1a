/* fuzz_spm: libFuzzer target for the SentencePiece tokenizer (src/io/pb.c, src/io/spm*.c). Any
 * bytes are read as a tokenizer.model; the reader must refuse them or accept them without a
 * crash, a sanitizer report or work beyond the input's size. An accepted model then encodes a
 * few fixed texts and the input itself (as text: any bytes), and decodes the ids it made, which
 * must all be inside its vocabulary. The seeds in tests/fuzz/corpus/fuzz_spm/ are the three tiny
 * models of tests/ref/spm/ (gen_spm_ref.py). Build and run (from the repository root): */
// clang -std=c11 -D_GNU_SOURCE -DPIPA_BLAS_OPENBLAS -Isrc -g -O1 -fsanitize=fuzzer,address,undefined
//     tests/fuzz/fuzz_spm.c src/*/*.c -lopenblas -lm -pthread -o /tmp/fuzz_spm
// /tmp/fuzz_spm -runs=20000 tests/fuzz/corpus/fuzz_spm
#include <stdlib.h>
#include <string.h>

#include "io/spm.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void round_trip(const pipa_spm_t *spm, const char *text, size_t len)
{
    int32_t *ids = NULL;
    size_t n = 0;
    char *back = NULL;
    size_t back_len = 0;
    int bos = pipa_spm_info(spm).bos_id >= 0;
    if (pipa_spm_encode(spm, text, len, bos, &ids, &n) != PIPA_OK) return;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= pipa_spm_info(spm).n_pieces) __builtin_trap();  // out of range
    if (pipa_spm_decode(spm, ids, n, &back, &back_len) != PIPA_OK) __builtin_trap();  // own ids
    free(ids);
    free(back);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static const char *texts[] = {"", " ", "Hello  world\n", "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80",
                                  "\xff\xfe<0x41>\xe2\x96\x81"};
    pipa_spm_t *spm = NULL;
    if (pipa_spm_read(data, size, "fuzz", &spm) != PIPA_OK) return 0;
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) round_trip(spm, texts[i], strlen(texts[i]));
    round_trip(spm, (const char *)data, size < 512 ? size : 512);
    pipa_spm_free(spm);
    return 0;
}
