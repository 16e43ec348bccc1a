/* fuzz_safetensors: libFuzzer target for the safetensors header parser (pipa_st_parse): any bytes
 * are read as a whole safetensors file; the parser must accept or refuse them without a crash, a
 * sanitizer report or work beyond the input's size. An accepted file's tensors of 1 or 2
 * dimensions are then read whole and must come out as many floats as their shape says (the
 * checks promised that every tensor lies inside the data). Seeds: tests/fuzz/corpus/
 * fuzz_safetensors/ (three dtypes with metadata, an empty and a 0-dimension tensor, an overlap),
 * written by tests/ref/gen_hf_folders.py's write_st. Built and run by tests/fuzz/run.sh. */
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    pipa_st_file_t f;
    if (pipa_st_parse(&f, data, size, "fuzz") == PIPA_OK) {
        for (int i = 0; i < f.n; i++) {
            const pipa_st_tensor_t *t = &f.t[i];
            if (t->end - t->begin > f.data_size) __builtin_trap();  // accepted outside the data
            if (t->ndim < 1 || t->ndim > 2) continue;
            size_t n = (size_t)t->shape[0] * (size_t)(t->ndim == 2 ? t->shape[1] : 1);
            float *dst = malloc((n ? n : 1) * sizeof *dst);
            int64_t start[2] = {0, 0};
            if (dst && pipa_st_read(&f, t, start, t->shape, dst) != PIPA_OK) __builtin_trap();
            free(dst);
        }
        if (pipa_st_find(&f, "__metadata__")) __builtin_trap();  // metadata is not a tensor
    }
    pipa_st_close(&f);
    return 0;
}
