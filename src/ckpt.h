/* ckpt.h: checkpoint shards. Each stage writes its own file: a header (magic, version, the
 * model's shape and this shard's place in the split), then named float arrays (weights,
 * optimizer moments), then a checksum. Writes are atomic: a temporary file is written, synced
 * and renamed over the old one, so a run killed mid-save leaves the previous checkpoint whole.
 * Loading checks everything against what the caller expects and names what differs. */
#ifndef PIPA_CKPT_H
#define PIPA_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define PIPA_CKPT_META 32
#define PIPA_CKPT_NAME 32

/* What must agree between the run that saved and the run that loads. Names are printed in
 * error messages ("layers: checkpoint has 4, this run has 6"). */
typedef struct {
    int n;
    const char *name[PIPA_CKPT_META];
    int64_t value[PIPA_CKPT_META];
} pipa_ckpt_meta_t;

void pipa_ckpt_meta_add(pipa_ckpt_meta_t *m, const char *name, int64_t value);

typedef struct {
    const char *name;     /* at most PIPA_CKPT_NAME - 1 characters */
    float *data;          /* saved from / loaded into */
    size_t count;
} pipa_ckpt_tensor_t;

/* Path of stage `stage`'s shard in dir, into buf. */
void pipa_ckpt_path(char *buf, size_t len, const char *dir, int stage);

/* Writes the shard atomically (creating dir if needed). step is the number of steps taken. */
pipa_status pipa_ckpt_save(const char *dir, int stage, const pipa_ckpt_meta_t *meta,
                           const pipa_ckpt_tensor_t *t, int n, int64_t step);
/* Reads the shard into the tensors after checking the meta values, tensor names and sizes;
 * *step gets the steps taken. */
pipa_status pipa_ckpt_load(const char *dir, int stage, const pipa_ckpt_meta_t *meta,
                           const pipa_ckpt_tensor_t *t, int n, int64_t *step);

#endif
