/* ckpt.h: checkpoints. Two parts:
 *
 * Shards (ckpt.c): each stage writes its own file: a header (magic, version, the settings the
 * run must agree on: model shape, split, batch, corpus...), then tensors by name with their
 * dtype and shape (weights under their global names, tensors.h; AdamW moments as NAME.exp_avg
 * and NAME.exp_avg_sq, PyTorch's names), in any order, then a checksum. Loading checks everything against what the caller expects
 * and names the file and the field that differ; it trusts nothing the file says (step range,
 * sizes, no bytes after the end).
 *
 * Sets (ckpt_set.c): the shards of one step are saved as a whole or not at all. On disk:
 *
 *   DIR/latest                       "step-000006-1a2b3c4d\n": the last complete set
 *   DIR/step-000006-1a2b3c4d/        stage-000.ckpt ... stage-<P-1>.ckpt, all of step 6
 *   DIR/step-000007-5e6f7a8b.tmp/    a save under way, or one killed: never read
 *
 * A save: rank 0 creates a fresh temporary directory (pipa_ckpt_begin, which first removes
 * temporaries left by killed runs); every rank writes and syncs its shard into it; once every
 * rank has reported success, rank 0 renames the directory to its final name and commits by
 * replacing `latest` with one rename (pipa_ckpt_commit); only then are the older sets removed.
 * A kill at any moment leaves `latest` naming a complete set. A resume reads the set `latest`
 * names; without `latest` (a first save killed before its commit), the newest complete set. */
#ifndef PIPA_CKPT_H
#define PIPA_CKPT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/status.h"

#define PIPA_CKPT_META 48
#define PIPA_CKPT_NAME 32         /* longest setting name, terminator included */
#define PIPA_CKPT_TENSOR_NAME 256 /* longest tensor name, terminator included */
#define PIPA_CKPT_DIMS 4
#define PIPA_CKPT_TEXT 4096      /* longest text setting, terminator included */

/* What must agree between the run that saved and the run that loads: numbers, or texts (text[i]
 * non-NULL). Names are printed in error messages ("layers: checkpoint has 4, this run has 6"). */
typedef struct {
    int n;
    const char *name[PIPA_CKPT_META];
    int64_t value[PIPA_CKPT_META];
    const char *text[PIPA_CKPT_META];
} pipa_ckpt_meta_t;

void pipa_ckpt_meta_add(pipa_ckpt_meta_t *m, const char *name, int64_t value);
/* text must stay valid while m is used; at most PIPA_CKPT_TEXT - 1 characters are recorded. */
void pipa_ckpt_meta_text(pipa_ckpt_meta_t *m, const char *name, const char *text);

/* A float32 tensor. ndim 0 means one dimension of count elements; otherwise count must be the
 * product of the shape. */
typedef struct {
    const char *name;     /* 1 to PIPA_CKPT_TENSOR_NAME - 1 characters */
    float *data;          /* saved from / loaded into */
    size_t count;
    int ndim;
    int64_t shape[PIPA_CKPT_DIMS];
} pipa_ckpt_tensor_t;

/* ---- shards ---- */

/* Path of stage `stage`'s shard in the set directory dir, into buf. */
void pipa_ckpt_path(char *buf, size_t len, const char *dir, int stage);

/* Writes the shard into the existing directory dir and syncs it. The file must not exist yet
 * (created exclusively, never through a symbolic link). step is the number of steps taken. */
pipa_status pipa_ckpt_save(const char *dir, int stage, const pipa_ckpt_meta_t *meta,
                           const pipa_ckpt_tensor_t *t, int n, int64_t step);
/* Reads the shard at path into the tensors after checking the meta values, the step (within
 * [0, max_step]), the tensors (each expected name exactly once, in any order, with its dtype and
 * shape; none other), the checksum and that nothing follows it. The n names must be distinct. */
pipa_status pipa_ckpt_load(const char *path, const pipa_ckpt_meta_t *meta,
                           const pipa_ckpt_tensor_t *t, int n, int64_t max_step, int64_t *step);
/* The same from an open stream; path names it in messages (for tests and the fuzzer). */
pipa_status pipa_ckpt_read(FILE *f, const char *path, const pipa_ckpt_meta_t *meta,
                           const pipa_ckpt_tensor_t *t, int n, int64_t max_step, int64_t *step);

/* ---- sets (rank 0 calls begin and commit; every rank writes its shard in between) ---- */

/* Directory of the set of step `step` saved under id, into buf; tmp: its temporary name. */
void pipa_ckpt_set_path(char *buf, size_t len, const char *dir, int64_t step, uint32_t id,
                        int tmp);
/* Creates dir if missing, removes temporaries of killed saves and creates a fresh temporary set
 * directory for step (exclusively); *id names it for pipa_ckpt_set_path. */
pipa_status pipa_ckpt_begin(const char *dir, int64_t step, uint32_t *id);
/* After every shard is written: makes the set the last complete one, then removes older sets. */
pipa_status pipa_ckpt_commit(const char *dir, int64_t step, uint32_t id);
/* Removes the temporary set (a save that failed on some rank). */
void pipa_ckpt_discard(const char *dir, int64_t step, uint32_t id);
/* The last complete set in dir: its step and id. */
pipa_status pipa_ckpt_find(const char *dir, int64_t *step, uint32_t *id);

/* Test seam: hook (NULL: none) is called after each change a save makes on disk (begin,
 * commit), naming it, so a test can end the process at exactly that point. */
void pipa_ckpt_set_test_hook(void (*hook)(const char *what));

#endif
