/* spm.h: SentencePiece tokenizers (the tokenizer.model of the Llama 2 / TinyLlama family), read
 * directly from the file: its pieces, scores and types, and the trainer's and normalizer's
 * settings that change how text is cut.
 *
 * Encoding follows SentencePiece's BPE model: the text is normalized as the model says (spaces
 * escaped as U+2581, a dummy prefix space, extra spaces removed if asked; malformed UTF-8 bytes
 * become U+FFFD), cut into characters (user-defined pieces whole), and the adjacent pair whose
 * joined piece has the highest score is merged until none is left (ties: the leftmost); a
 * character not in the vocabulary becomes its UTF-8 bytes' <0xXX> pieces with byte fallback,
 * else <unk> (a run of them one <unk>). Decoding joins the pieces, reassembles byte pieces into
 * UTF-8 (U+FFFD for bytes that are not), turns U+2581 back into spaces and drops the dummy
 * prefix's space, as SentencePiece does. UNIGRAM models are cut by the Viterbi best path over
 * the piece scores instead (spm_unigram.c). Tested against python3-sentencepiece (test_spm.c).
 *
 * Refused with a message: WORD and CHAR models (BPE and UNIGRAM are implemented), normalizers
 * with precompiled_charsmap rules or a rule TSV (only "identity"-style normalization is),
 * treat_whitespace_as_suffix, and every malformed file (pb.h; duplicate or empty pieces, no
 * <unk>, a byte piece without byte fallback or byte fallback with a byte piece missing, an id
 * out of range, a score that is not finite). */
#ifndef PIPA_SPM_H
#define PIPA_SPM_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

/* A model file larger than this is refused before it is read (Llama 2's is 0.5 MB). */
#define PIPA_SPM_MAX_BYTES (64u << 20)

typedef struct pipa_spm pipa_spm_t;

/* sentencepiece_model.proto's ModelProto.SentencePiece.Type. */
typedef enum {
    PIPA_SPM_NORMAL = 1,
    PIPA_SPM_UNKNOWN = 2,
    PIPA_SPM_CONTROL = 3,
    PIPA_SPM_USER_DEFINED = 4,
    PIPA_SPM_UNUSED = 5,
    PIPA_SPM_BYTE = 6,
} pipa_spm_type;

typedef struct {
    int32_t n_pieces;                       /* the vocabulary size */
    int32_t unk_id, bos_id, eos_id, pad_id; /* -1: none (unk_id is always a piece) */
    int byte_fallback;
    int add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces;
} pipa_spm_info_t;

/* Reads a tokenizer.model file. Messages name the file (and the byte offset when it is
 * malformed). *out is freed with pipa_spm_free. */
pipa_status pipa_spm_load(const char *path, pipa_spm_t **out);
/* The same from size bytes in memory, named name in messages; the bytes are copied. */
pipa_status pipa_spm_read(const void *data, size_t size, const char *name, pipa_spm_t **out);
void pipa_spm_free(pipa_spm_t *spm);

pipa_spm_info_t pipa_spm_info(const pipa_spm_t *spm);
/* Piece id's bytes (*len of them, not NUL-terminated), score and type; id in [0, n_pieces). */
const char *pipa_spm_piece(const pipa_spm_t *spm, int32_t id, size_t *len);
float pipa_spm_score(const pipa_spm_t *spm, int32_t id);
pipa_spm_type pipa_spm_type_of(const pipa_spm_t *spm, int32_t id);

/* The ids of len bytes of text (any bytes: NUL and malformed UTF-8 included), BOS first when
 * add_bos (refused if the model has none). *ids (*n of them) is malloc'd: the caller frees it. */
pipa_status pipa_spm_encode(const pipa_spm_t *spm, const char *text, size_t len, int add_bos,
                            int32_t **ids, size_t *n);

/* The text of n ids (an id outside the vocabulary is refused, naming its index). *text (*len
 * bytes and a terminating NUL) is malloc'd: the caller frees it. */
pipa_status pipa_spm_decode(const pipa_spm_t *spm, const int32_t *ids, size_t n, char **text,
                            size_t *len);

#endif
