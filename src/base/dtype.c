/* dtype.c: element sizes and names. */
#include "base/dtype.h"

size_t pipa_dtype_size(pipa_dtype t)
{
    switch (t) {
    case PIPA_F32: case PIPA_I32: return 4;
    case PIPA_F16: case PIPA_BF16: return 2;
    case PIPA_I64: case PIPA_F64: return 8;
    case PIPA_U8: return 1;
    }
    return 0;
}

const char *pipa_dtype_name(pipa_dtype t)
{
    static const char *names[] = {"f32", "f16", "bf16", "i32", "i64", "u8", "f64"};
    return (unsigned)t < sizeof names / sizeof *names ? names[t] : "?";
}
