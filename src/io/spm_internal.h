/* spm_internal.h: the tokenizer's insides, shared by spm_model.c (reading the file, looking
 * pieces up), spm_encode.c and spm_decode.c. Not for use outside src/io/spm*.c. */
#ifndef PIPA_SPM_INTERNAL_H
#define PIPA_SPM_INTERNAL_H

#include "io/spm.h"

/* The two lookup tables, as SentencePiece keeps them: pieces that BPE may build (normal,
 * user-defined, unused) and the reserved ones (unknown, control, byte). A text may be in both. */
enum { PIPA__SPM_MERGEABLE = 0, PIPA__SPM_RESERVED = 1 };

/* TrainerSpec.model_type values pipa implements. */
enum { PIPA__SPM_UNIGRAM = 1, PIPA__SPM_BPE = 2 };

struct pipa_spm {
    pipa_spm_info_t info;
    char *text;               /* all pieces' bytes back to back, no terminators */
    uint32_t *off, *len;      /* (n_pieces) where each piece's bytes are in text */
    float *score;             /* (n_pieces) */
    uint8_t *type;            /* (n_pieces) pipa_spm_type */
    int32_t *table[2];        /* (mask + 1) open addressing, -1 empty: piece ids by text */
    uint32_t mask;
    int32_t byte_id[256];     /* the <0xXX> pieces when byte_fallback, else -1 */
    uint32_t max_user_len;    /* the longest user-defined piece, 0 if none */
    uint32_t max_len;         /* the longest mergeable piece (normal, user-defined, unused) */
    int model_type;           /* PIPA__SPM_UNIGRAM or PIPA__SPM_BPE */
    float min_score, max_score; /* over NORMAL pieces, as unigram_model.cc takes them */
    char *unk_surface;        /* what <unk> decodes to (trainer_spec.unk_surface) */
    size_t unk_surface_len;
};

/* The id of the piece with these bytes in table `which`, or -1. */
int32_t pipa__spm_find(const pipa_spm_t *spm, int which, const char *s, size_t n);

/* The same with h, the text's FNV-1a 64 hash (base/hash.h), already taken. */
int32_t pipa__spm_find_hash(const pipa_spm_t *spm, int which, const char *s, size_t n, uint64_t h);

/* The unigram model's segmentation of the normalized text s (m bytes): Viterbi over the piece
 * scores as unigram_model.cc's EncodeOptimized. Writes the pieces in order as start offsets and
 * ids (unk_id for an unknown character) into start and id (room for m entries each); *n pieces. */
pipa_status pipa__spm_viterbi(const pipa_spm_t *spm, const char *s, size_t m, int32_t *start,
                              int32_t *id, size_t *n);

/* SentencePiece's id of a piece text: reserved pieces first, then mergeable ones, else -1. */
int32_t pipa__spm_id(const pipa_spm_t *spm, const char *s, size_t n);

/* "<0x41>" -> 0x41, as SentencePiece writes byte pieces (upper-case hex); -1 if not one. */
int pipa__spm_byte_of(const char *s, size_t n);

/* The length of the UTF-8 character at s (n > 0 bytes left) if it is well-formed (no overlong
 * form, no surrogate, at most U+10FFFF), else 0: SentencePiece's IsValidDecodeUTF8. */
size_t pipa__spm_utf8_len(const unsigned char *s, size_t n);

#endif
