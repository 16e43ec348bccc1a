/* spm_decode.c: ids -> text with a SentencePiece model (see spm.h), as
 * sentencepiece_processor.cc's Decode does it: control pieces (<s>, </s>) print nothing, <unk>
 * prints the model's unk_surface (" \u2047 " by default), a run of byte pieces is reassembled
 * and read as UTF-8 (each byte that does not begin a well-formed character becomes U+FFFD), and
 * the other pieces print with U+2581 turned back into spaces, and the leading U+2581 of the first
 * piece that is not a control piece is dropped (the dummy prefix; all leading ones with
 * remove_extra_whitespaces, until some text is out). Checked against SentencePiece 0.1.97. */
#include "io/spm_internal.h"

#include <stdlib.h>
#include <string.h>

#define SPACE "\xe2\x96\x81"
#define REPLACEMENT "\xef\xbf\xbd"

/* Bytes b[0..n) as UTF-8 into out; returns the bytes written (at most 3 * n). */
static size_t put_bytes(const unsigned char *b, size_t n, char *out)
{
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        size_t k = pipa__spm_utf8_len(b + i, n - i);
        memcpy(out + m, k ? (const char *)b + i : REPLACEMENT, k ? k : 3);
        m += k ? k : 3;
        i += k ? k : 1;
    }
    return m;
}

/* A normal, user-defined or unused piece; strip: how many leading U+2581 to drop (at most). */
static size_t put_piece(const char *s, size_t n, size_t strip, char *out)
{
    size_t m = 0, i = 0;
    for (; strip > 0 && n - i >= 3 && memcmp(s + i, SPACE, 3) == 0; strip--) i += 3;
    while (i < n) {
        if (n - i >= 3 && memcmp(s + i, SPACE, 3) == 0) {
            out[m++] = ' ';
            i += 3;
        } else {
            out[m++] = s[i++];
        }
    }
    return m;
}

/* Checks the ids and returns the most bytes their text can take. */
static pipa_status measure(const pipa_spm_t *spm, const int32_t *ids, size_t n, size_t *cap)
{
    *cap = 1;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= spm->info.n_pieces)
            return pipa__fail(PIPA_ERR_ARG, "tokenizer: id %lld (index %zu of %zu) is outside "
                              "the vocabulary (0 to %d)", (long long)ids[i], i, n,
                              (int)spm->info.n_pieces - 1);
        size_t k = spm->len[ids[i]];
        if (k < spm->unk_surface_len) k = spm->unk_surface_len;
        *cap += k < 3 ? 3 : k;
    }
    return PIPA_OK;
}

pipa_status pipa_spm_decode(const pipa_spm_t *spm, const int32_t *ids, size_t n, char **text,
                            size_t *len)
{
    *text = NULL;
    *len = 0;
    size_t cap, m = 0;
    PIPA_TRY(measure(spm, ids, n, &cap));
    char *out = malloc(cap);
    unsigned char *run = malloc(n + 1);  // the bytes of a run of byte pieces
    if (!out || !run) {
        free(out), free(run);
        return pipa__fail(PIPA_ERR_NOMEM, "tokenizer: no memory to decode %zu ids", n);
    }
    // The dummy prefix's space goes from the first piece that is not a control piece (<s>); with
    // remove_extra_whitespaces, every leading space goes, until something has been printed.
    const pipa_spm_info_t *in = &spm->info;
    size_t strip = in->remove_extra_whitespaces ? SIZE_MAX : in->add_dummy_prefix ? 1 : 0;
    for (size_t i = 0; i < n;) {
        int32_t id = ids[i];
        size_t k = 0;
        for (; i < n && spm->type[ids[i]] == PIPA_SPM_BYTE; i++)  // checked "<0xXX>" on reading
            run[k++] = (unsigned char)pipa__spm_byte_of(spm->text + spm->off[ids[i]], spm->len[ids[i]]);
        if (k) {
            m += put_bytes(run, k, out + m);
        } else if (spm->type[id] == PIPA_SPM_UNKNOWN) {
            memcpy(out + m, spm->unk_surface, spm->unk_surface_len);
            m += spm->unk_surface_len;
        } else if (spm->type[id] != PIPA_SPM_CONTROL) {
            m += put_piece(spm->text + spm->off[id], spm->len[id], strip, out + m);
        }
        if (!k) i++;
        if (k || spm->type[id] != PIPA_SPM_CONTROL) strip = in->remove_extra_whitespaces && m == 0 ? strip : 0;
    }
    free(run);
    out[m] = '\0';
    *text = out;
    *len = m;
    return PIPA_OK;
}
