/* pb.c: the protocol buffers wire-format reader (see pb.h). */
#include "io/pb.h"

#include <string.h>

pipa_pb_reader_t pipa_pb_open(const void *data, size_t size, const char *name, const char *msg)
{
    pipa_pb_reader_t r = {data, 0, size, name, msg};
    return r;
}

static const char *wire_name(int wire)
{
    switch (wire) {
    case PIPA_PB_VARINT: return "varint";
    case PIPA_PB_FIXED64: return "fixed64";
    case PIPA_PB_LEN: return "length-delimited";
    case PIPA_PB_FIXED32: return "fixed32";
    case 3: case 4: return "group";
    default: return "invalid";
    }
}

/* A varint at r->pos: at most 10 bytes, the 10th holding only bit 63. */
static pipa_status read_varint(pipa_pb_reader_t *r, uint64_t *out, const char *what)
{
    size_t at = r->pos;
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (r->pos >= r->end)
            return pipa__fail(PIPA_ERR_FORMAT, "%s: byte %zu: %s in %s is truncated (the %s ends at "
                              "byte %zu)", r->name, at, what, r->msg, r->msg, r->end);
        uint8_t b = r->buf[r->pos++];
        if (i == 9 && b > 1) break;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return PIPA_OK;
        }
    }
    return pipa__fail(PIPA_ERR_FORMAT, "%s: byte %zu: %s in %s is an overlong varint (more than "
                      "64 bits)", r->name, at, what, r->msg);
}

/* n bytes at r->pos, which must lie inside the message. */
static pipa_status take(pipa_pb_reader_t *r, uint64_t n, const pipa_pb_field_t *f)
{
    if (n > (uint64_t)(r->end - r->pos))
        return pipa__fail(PIPA_ERR_FORMAT, "%s: byte %zu: field %u of %s (%s) needs %llu bytes "
                          "but only %zu are left in the %s", r->name, f->at, f->number, r->msg,
                          wire_name(f->wire), (unsigned long long)n, r->end - r->pos, r->msg);
    r->pos += (size_t)n;
    return PIPA_OK;
}

static uint64_t little_endian(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* The payload of field f, whose tag was just read. */
static pipa_status read_payload(pipa_pb_reader_t *r, pipa_pb_field_t *f)
{
    const uint8_t *p = r->buf + r->pos;
    switch (f->wire) {
    case PIPA_PB_VARINT: return read_varint(r, &f->value, "a varint field");
    case PIPA_PB_FIXED64: PIPA_TRY(take(r, 8, f)); f->value = little_endian(p, 8); return PIPA_OK;
    case PIPA_PB_FIXED32: PIPA_TRY(take(r, 4, f)); f->value = little_endian(p, 4); return PIPA_OK;
    case PIPA_PB_LEN:
        PIPA_TRY(read_varint(r, &f->value, "a field's length"));
        f->data = r->buf + r->pos;
        PIPA_TRY(take(r, f->value, f));
        f->len = (size_t)f->value;
        return PIPA_OK;
    default:
        return pipa__fail(PIPA_ERR_FORMAT, "%s: byte %zu: field %u of %s has wire type %d (%s), "
                          "which this reader does not take", r->name, f->at, f->number, r->msg,
                          f->wire, wire_name(f->wire));
    }
}

pipa_status pipa_pb_next(pipa_pb_reader_t *r, pipa_pb_field_t *f, int *more)
{
    memset(f, 0, sizeof *f);
    *more = 0;
    if (r->pos >= r->end) return PIPA_OK;
    f->at = r->pos;
    uint64_t tag = 0;
    PIPA_TRY(read_varint(r, &tag, "a field tag"));
    f->number = (uint32_t)(tag >> 3);
    f->wire = (int)(tag & 7);
    if (tag >> 3 == 0 || tag >> 3 > 0x1fffffff)  // field numbers are 1 .. 2^29 - 1
        return pipa__fail(PIPA_ERR_FORMAT, "%s: byte %zu: field number %llu in %s is out of range "
                          "(1 to 536870911)", r->name, f->at, (unsigned long long)(tag >> 3), r->msg);
    PIPA_TRY(read_payload(r, f));
    *more = 1;
    return PIPA_OK;
}

pipa_pb_reader_t pipa_pb_nested(const pipa_pb_reader_t *r, const pipa_pb_field_t *f,
                                const char *msg)
{
    size_t start = (size_t)(f->data - r->buf);
    pipa_pb_reader_t n = {r->buf, start, start + f->len, r->name, msg};
    return n;
}

pipa_status pipa_pb_want(const pipa_pb_reader_t *r, const pipa_pb_field_t *f, int wire,
                         const char *what)
{
    if (f->wire == wire) return PIPA_OK;
    return pipa__fail(PIPA_ERR_FORMAT, "%s: byte %zu: %s (field %u) has wire type %d (%s), "
                      "expected %d (%s)", r->name, f->at, what, f->number, f->wire,
                      wire_name(f->wire), wire, wire_name(wire));
}

float pipa_pb_float(const pipa_pb_field_t *f)
{
    uint32_t bits = (uint32_t)f->value;
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}
