/* pb.h: a minimal reader of the protocol buffers wire format, enough for SentencePiece's
 * tokenizer.model (spm.c): fields are (number, wire type) tags followed by a varint, a fixed32,
 * a fixed64 or a length-delimited run of bytes (strings, bytes and nested messages).
 * Every read is bounded by the message's end, which is bounded by the input's size: a truncated
 * field, a length past the end, an overlong varint (more than 10 bytes, or bits past 64) and the
 * deprecated group wire types (3, 4) are refused with a message naming the input and the byte
 * offset. Left out: writing, packed repeated fields (the tokenizer has none), schemas: the caller
 * says which field has which wire type (pipa_pb_want). */
#ifndef PIPA_PB_H
#define PIPA_PB_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

enum { PIPA_PB_VARINT = 0, PIPA_PB_FIXED64 = 1, PIPA_PB_LEN = 2, PIPA_PB_FIXED32 = 5 };

/* A message being read: bytes [pos, end) of buf, whose byte 0 is the input's byte 0 (so
 * offsets in messages are offsets in the file). name: the input, for messages; msg: the
 * message's type ("ModelProto"), for messages. Both strings must outlive the reader. */
typedef struct {
    const uint8_t *buf;
    size_t pos, end;
    const char *name, *msg;
} pipa_pb_reader_t;

/* One field as read. value: a varint's, fixed32's or fixed64's bits; data/len: a
 * length-delimited field's bytes (inside buf). at: the offset of the field's tag. */
typedef struct {
    uint32_t number;
    int wire;
    uint64_t value;
    const uint8_t *data;
    size_t len;
    size_t at;
} pipa_pb_field_t;

/* A reader of the whole input (size bytes), a message of type msg. */
pipa_pb_reader_t pipa_pb_open(const void *data, size_t size, const char *name, const char *msg);

/* Reads the next field into *f: *more = 1, or *more = 0 at the message's end. */
pipa_status pipa_pb_next(pipa_pb_reader_t *r, pipa_pb_field_t *f, int *more);

/* A reader of the nested message in length-delimited field f of r, of type msg. */
pipa_pb_reader_t pipa_pb_nested(const pipa_pb_reader_t *r, const pipa_pb_field_t *f,
                                const char *msg);

/* Refuses field f (called `what`, e.g. "SentencePiece.score") unless it has wire type wire:
 * "m.model: byte 17: SentencePiece.score (field 2) has wire type 0 (varint), expected 5
 * (fixed32)". */
pipa_status pipa_pb_want(const pipa_pb_reader_t *r, const pipa_pb_field_t *f, int wire,
                         const char *what);

/* A fixed32 field's bits as a float (little-endian IEEE 754, as protobuf stores float). */
float pipa_pb_float(const pipa_pb_field_t *f);

#endif
