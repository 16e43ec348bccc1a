/* dtype.h: element types, shared by messages (comm/msg.h) and tensors (model/tensors.h): one enum
 * for what travels and what is stored, so a tensor can be sent as it is described. */
#ifndef PIPA_DTYPE_H
#define PIPA_DTYPE_H

#include <stddef.h>

typedef enum {
    PIPA_F32 = 0, PIPA_F16, PIPA_BF16, PIPA_I32, PIPA_I64, PIPA_U8, PIPA_F64
} pipa_dtype;
size_t pipa_dtype_size(pipa_dtype t);       /* bytes of one element; 0 for an unknown value */
const char *pipa_dtype_name(pipa_dtype t);  /* "f32", ...; "?" for an unknown value */

#endif
