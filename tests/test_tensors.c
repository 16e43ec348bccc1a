/* test_tensors: the tensor table's promises. A one-process model lists exactly the Hugging Face
 * Llama names (written out here independently) with their shapes; the stage tables of P=2, P=3
 * (uneven) and P=4 with two interleaved chunks are partitions of it (each name once, same shape);
 * a stage's initialised tensors equal the one-process model's same-named ones bit for bit;
 * offsets are aligned, disjoint and add up; layers and ends built alone are views of their table.
 * A runtime's gradients are all zero after its STEP. Its checkpoint shard lists the global names (read back with a reader written here) and
 * loads in any order; a shard with a renamed, duplicated, missing or reshaped tensor is refused
 * with a message naming the file and the tensor. Grouped-query and tied tables: their shapes,
 * the missing lm_head, the head-only stage's copy of the embedding. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "check.h"
#include "base/hash.h"
#include "runtime/runtime.h"
#include "model/tensors.h"

static const pipa_model_config_t CFG = {.L = 2, .C = 8, .NH = 2, .I = 12, .eps = 1e-5f,
                                        .rope_theta = 10000.0f, .seed = 7};
enum { VOCAB = 23 };

/* ---- names -------------------------------------------------------------------------------- */

static void test_hf_names(void)
{
    /* The Llama names and shapes, C = 8, I = 12, V = 23, L = 2, in memory order. */
    static const struct { const char *name; int64_t d0, d1; } want[] = {
        {"model.embed_tokens.weight", 23, 8},
        {"model.layers.0.input_layernorm.weight", 8, 0},
        {"model.layers.0.self_attn.q_proj.weight", 8, 8},
        {"model.layers.0.self_attn.k_proj.weight", 8, 8},
        {"model.layers.0.self_attn.v_proj.weight", 8, 8},
        {"model.layers.0.self_attn.o_proj.weight", 8, 8},
        {"model.layers.0.post_attention_layernorm.weight", 8, 0},
        {"model.layers.0.mlp.gate_proj.weight", 12, 8},
        {"model.layers.0.mlp.up_proj.weight", 12, 8},
        {"model.layers.0.mlp.down_proj.weight", 8, 12},
        {"model.layers.1.input_layernorm.weight", 8, 0},
        {"model.layers.1.self_attn.q_proj.weight", 8, 8},
        {"model.layers.1.self_attn.k_proj.weight", 8, 8},
        {"model.layers.1.self_attn.v_proj.weight", 8, 8},
        {"model.layers.1.self_attn.o_proj.weight", 8, 8},
        {"model.layers.1.post_attention_layernorm.weight", 8, 0},
        {"model.layers.1.mlp.gate_proj.weight", 12, 8},
        {"model.layers.1.mlp.up_proj.weight", 12, 8},
        {"model.layers.1.mlp.down_proj.weight", 8, 12},
        {"model.norm.weight", 8, 0},
        {"lm_head.weight", 23, 8},
    };
    const int n = (int)(sizeof want / sizeof want[0]);
    pipa_tensors_t tab;
    const pipa_layer_range_t all = {0, 2};
    CHECK(pipa_tensors_build(&tab, &CFG, VOCAB, &all, 1, 1, 1) == PIPA_OK);
    CHECKF(tab.n == n, "%d tensors, want %d", tab.n, n);
    for (int i = 0; i < n && i < tab.n; i++) {
        const pipa_tensor_t *t = &tab.t[i];
        CHECKF(strcmp(t->name, want[i].name) == 0, "tensor %d is %s, want %s", i, t->name,
               want[i].name);
        int ndim = want[i].d1 ? 2 : 1;
        CHECKF(t->ndim == ndim && t->shape[0] == want[i].d0 && (ndim == 1 || t->shape[1] == want[i].d1)
               && t->count == (size_t)(want[i].d0 * (want[i].d1 ? want[i].d1 : 1)) &&
               t->dtype == PIPA_F32, "%s shape", t->name);
        CHECK(pipa_tensors_find(&tab, want[i].name) == t);
    }
    CHECK(pipa_tensors_find(&tab, "model.layers.2.mlp.up_proj.weight") == NULL);
    pipa_tensors_free(&tab);
}

/* Grouped-query attention and tied embeddings (issue 11), C = 8, NH = 2 heads of 4, NKV = 1:
 * k_proj and v_proj are (4, 8); tied, a one-stage table has no lm_head.weight and the head's
 * view is the embedding; a head-only stage holds model.embed_tokens.weight, the first stage's
 * bits; the parameter counts follow (written out here). */
static void test_gqa_tied(void)
{
    pipa_model_config_t cfg = CFG;
    cfg.NKV = 1, cfg.tie_embeddings = 1;
    const pipa_layer_range_t all = {0, 2}, none = {0, 0};
    pipa_tensors_t one, first, last;
    CHECK(pipa_tensors_build(&one, &cfg, VOCAB, &all, 1, 1, 1) == PIPA_OK);
    const pipa_tensor_t *k = pipa_tensors_find(&one, "model.layers.1.self_attn.k_proj.weight");
    const pipa_tensor_t *v = pipa_tensors_find(&one, "model.layers.0.self_attn.v_proj.weight");
    CHECK(k && k->shape[0] == 4 && k->shape[1] == 8 && v && v->count == 32);
    CHECKF(one.n == 20 && !pipa_tensors_find(&one, "lm_head.weight"), "tied: %d tensors", one.n);
    /* 2 norms 16 + q, o 128 + k, v 64 + gate, up, down 288 = 496 per layer; ends 23*8 + 8 */
    CHECK(pipa_layer_param_count(&cfg) == 496 && pipa_ends_param_count(&cfg, VOCAB, 1, 1) == 192);
    CHECK(pipa_ends_param_count(&cfg, VOCAB, 0, 1) == 192);  // a head-only stage's copy counts
    float *w1 = NULL, *wf = NULL, *wl = NULL;
    CHECK(pipa_tensors_alloc(&one, &w1, 1, "one") == PIPA_OK);
    pipa_ends_t e;
    pipa_tensors_view_ends(&one, w1, &e);
    CHECK(e.has_embedding && e.has_head && e.lm_head == e.wte && e.wte != NULL);
    CHECK(pipa_tensors_build(&first, &cfg, VOCAB, &none, 1, 1, 0) == PIPA_OK);
    CHECK(pipa_tensors_build(&last, &cfg, VOCAB, &none, 1, 0, 1) == PIPA_OK);
    CHECK(pipa_tensors_alloc(&first, &wf, 1, "first") == PIPA_OK);
    CHECK(pipa_tensors_alloc(&last, &wl, 1, "last") == PIPA_OK);
    const pipa_tensor_t *ef = pipa_tensors_find(&first, "model.embed_tokens.weight");
    const pipa_tensor_t *el = pipa_tensors_find(&last, "model.embed_tokens.weight");
    CHECK(ef && el && last.n == 2 && !pipa_tensors_find(&last, "lm_head.weight"));
    if (ef && el) CHECK(memcmp(wf + ef->offset, wl + el->offset, ef->count * sizeof(float)) == 0);
    pipa_tensors_view_ends(&last, wl, &e);
    CHECK(!e.has_embedding && e.wte == NULL && e.has_head && el && e.lm_head == wl + el->offset);
    free(w1), free(wf), free(wl);
    pipa_tensors_free(&one), pipa_tensors_free(&first), pipa_tensors_free(&last);
}

/* ---- layout ------------------------------------------------------------------------------- */

/* Offsets: every tensor inside total, disjoint from the others, every group (embedding, each
 * range, head) starting on 16 elements and packed inside; total = the groups rounded up to 16. */
static void check_layout(const pipa_tensors_t *tab, const char *what)
{
    size_t sum = 0, group = 0;
    for (int i = 0; i < tab->n; i++) {
        const pipa_tensor_t *t = &tab->t[i];
        CHECKF(t->offset + t->count <= tab->total, "%s: %s past the end", what, t->name);
        for (int j = 0; j < i; j++)
            CHECKF(t->offset >= tab->t[j].offset + tab->t[j].count ||
                   tab->t[j].offset >= t->offset + t->count, "%s: %s overlaps %s", what, t->name,
                   tab->t[j].name);
        int starts = i == 0 || strstr(t->name, "input_layernorm") || !strcmp(t->name, "model.norm.weight");
        /* a new group unless this layer follows the previous one in the same range */
        if (starts && i > 0 && strstr(t->name, "input_layernorm") &&
            tab->t[i - 1].offset + tab->t[i - 1].count == t->offset)
            starts = 0;
        if (starts) {
            CHECKF(t->offset % 16 == 0, "%s: %s at %zu, not on 16 elements", what, t->name, t->offset);
            sum += (group + 15) / 16 * 16;
            group = 0;
        } else {
            CHECKF(t->offset == tab->t[i - 1].offset + tab->t[i - 1].count, "%s: %s not packed",
                   what, t->name);
        }
        group += t->count;
    }
    sum += (group + 15) / 16 * 16;
    CHECKF(sum == tab->total, "%s: total %zu, groups add up to %zu", what, tab->total, sum);
}

/* ---- partitions --------------------------------------------------------------------------- */

/* The stage tables of P ranks with V chunks each over counts[P*V] (virtual stage vs = chunk*P +
 * rank, as the runtime places them): together exactly the one-process table, same shapes, same
 * initial bits. */
static void check_partition(const pipa_model_config_t *cfg, int P, int V, const int *counts)
{
    char what[64];
    snprintf(what, sizeof what, "P=%d V=%d L=%d", P, V, cfg->L);
    pipa_tensors_t one;
    const pipa_layer_range_t all = {0, cfg->L};
    CHECK(pipa_tensors_build(&one, cfg, VOCAB, &all, 1, 1, 1) == PIPA_OK);
    float *ref;
    CHECK(pipa_tensors_alloc(&one, &ref, 1, "reference") == PIPA_OK);
    check_layout(&one, "one process");
    int *seen = calloc((size_t)one.n, sizeof *seen);
    for (int r = 0; r < P; r++) {
        pipa_layer_range_t ranges[8];
        for (int c = 0; c < V; c++) {
            int vs = c * P + r, first = 0;
            for (int k = 0; k < vs; k++) first += counts[k];
            ranges[c] = (pipa_layer_range_t){first, counts[vs]};
        }
        pipa_tensors_t st;
        CHECK(pipa_tensors_build(&st, cfg, VOCAB, ranges, V, r == 0, r == (P * V - 1) % P) == PIPA_OK);
        check_layout(&st, what);
        float *mine;
        CHECK(pipa_tensors_alloc(&st, &mine, 1, "stage") == PIPA_OK);
        for (int i = 0; i < st.n; i++) {
            const pipa_tensor_t *t = &st.t[i], *o = pipa_tensors_find(&one, t->name);
            CHECKF(o != NULL, "%s: rank %d has %s, the model has not", what, r, t->name);
            if (!o) continue;
            seen[o - one.t]++;
            CHECKF(t->ndim == o->ndim && t->shape[0] == o->shape[0] && t->shape[1] == o->shape[1]
                   && t->count == o->count, "%s: %s shape differs", what, t->name);
            CHECKF(memcmp(mine + t->offset, ref + o->offset, t->count * sizeof(float)) == 0,
                   "%s: rank %d's %s differs from the one-process model's", what, r, t->name);
        }
        free(mine);
        pipa_tensors_free(&st);
    }
    for (int i = 0; i < one.n; i++)
        CHECKF(seen[i] == 1, "%s: %s held %d times", what, one.t[i].name, seen[i]);
    free(seen);
    free(ref);
    pipa_tensors_free(&one);
}

static void test_partitions(void)
{
    pipa_model_config_t c4 = CFG, c7 = CFG, c8 = CFG;
    c4.L = 4, c7.L = 7, c8.L = 8;
    check_partition(&c4, 2, 1, (const int[]){2, 2});
    check_partition(&c7, 3, 1, (const int[]){3, 2, 2});
    check_partition(&c8, 4, 2, (const int[]){1, 1, 1, 1, 1, 1, 1, 1});
    check_partition(&c7, 2, 2, (const int[]){2, 2, 2, 1});
    check_partition(&CFG, 1, 1, (const int[]){2});
    /* a stage of a table refuses overlapping ranges, by name of the ranges */
    pipa_tensors_t bad;
    const pipa_layer_range_t overlap[2] = {{0, 2}, {1, 1}};
    CHECK(pipa_tensors_build(&bad, &c4, VOCAB, overlap, 2, 0, 0) == PIPA_ERR_ARG);
    CHECKF(strstr(pipa_last_error(), "overlap") != NULL, "%s", pipa_last_error());
}

/* Layers and ends built alone are views of their own table: each field at its tensor's offset. */
static void test_views(void)
{
    pipa_model_config_t c = CFG;
    c.L = 4;
    pipa_layers_t ls;
    pipa_ends_t e;
    pipa_tensors_t tab;
    const pipa_layer_range_t r = {1, 2};
    CHECK(pipa_layers_build(&ls, &c, 1, 2) == PIPA_OK);
    CHECK(pipa_tensors_build(&tab, &c, 0, &r, 1, 0, 0) == PIPA_OK);
    const float *base = ls.alloc;
    CHECK(ls.layers[1].wk - base ==
          (ptrdiff_t)pipa_tensors_find(&tab, "model.layers.2.self_attn.k_proj.weight")->offset);
    CHECK(ls.layers[0].w_down - base ==
          (ptrdiff_t)pipa_tensors_find(&tab, "model.layers.1.mlp.down_proj.weight")->offset);
    CHECK(ls.params == base && ls.n_params == 2 * pipa_layer_param_count(&c));
    pipa_tensors_free(&tab);
    pipa_layers_free(&ls);
    CHECK(pipa_ends_build(&e, &c, VOCAB, 1, 1) == PIPA_OK);
    CHECK(pipa_tensors_build(&tab, &c, VOCAB, NULL, 0, 1, 1) == PIPA_OK);
    base = e.alloc;
    CHECK(e.lm_head - base == (ptrdiff_t)pipa_tensors_find(&tab, "lm_head.weight")->offset);
    CHECK(e.final_norm - base == (ptrdiff_t)pipa_tensors_find(&tab, "model.norm.weight")->offset);
    CHECK(e.wte == base && e.n_params == (size_t)2 * VOCAB * c.C + c.C);
    pipa_tensors_free(&tab);
    pipa_ends_free(&e);
}

/* ---- checkpoints -------------------------------------------------------------------------- */

enum { B = 1, T = 4 };

static void batch(void *ctx, int mb, int32_t *tokens, int32_t *targets)
{
    test_batch_fill(*(const int64_t *)ctx, mb, B * T, tokens, targets);
}

/* A one-rank runtime of CFG (gpipe, one microbatch, AdamW) after one step. */
static pipa_status make_runtime(pipa_comm_t *comm, pipa_plan_t *plan, pipa_runtime_t *tr)
{
    pipa_sched sched;
    pipa_plan_report_t rep;
    pipa_layout_t lay;
    PIPA_TRY(pipa_sched_parse("gpipe", &sched));
    PIPA_TRY(pipa_plan_generate(plan, sched, 1, 1, 1));
    PIPA_TRY(pipa_plan_check(plan, &rep));
    PIPA_TRY(pipa_layout_init(&lay, 1, 0, 1, 1, 1));
    pipa_train_config_t cfg = {.model = CFG, .vocab = VOCAB, .B = B, .T = T,
                               .opt = pipa_opt_defaults()};
    PIPA_TRY(pipa_runtime_init(tr, comm, &lay, &cfg, plan, (const int[]){CFG.L}));
    int64_t step = 0;
    pipa_step_stats_t st;
    PIPA_TRY(pipa_runtime_step(tr, batch, &step, &st));
    /* STEP consumed the gradients: the one gradient allocation is zero again, padding included */
    size_t nonzero = 0;
    for (size_t i = 0; i < tr->tensors.total; i++) nonzero += tr->grads[i] != 0.0f;
    CHECKF(nonzero == 0 && tr->tensors.total > 0, "%zu gradients left after STEP", nonzero);
    return PIPA_OK;
}

/* A shard in memory and where its tensors are (a reader of format 3 written from ckpt.c's
 * header comment, not from its code). */
typedef struct {
    unsigned char *b;
    long len, count_at;  /* count_at: the u32 tensor count */
    int n;
    struct { char name[256]; long at, dims_at, end; uint32_t dtype, ndim; } e[128];
} shard_t;

static uint32_t u32_at(const shard_t *s, long at)
{
    uint32_t v;
    memcpy(&v, s->b + at, 4);
    return v;
}

static int shard_read(shard_t *s, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    s->len = ftell(f);
    fseek(f, 0, SEEK_SET);
    s->b = malloc((size_t)s->len);
    int ok = s->b && fread(s->b, 1, (size_t)s->len, f) == (size_t)s->len;
    fclose(f);
    long at = 16;
    for (uint32_t i = 0, nm = u32_at(s, 12); ok && i < nm; i++) {
        at += 32;
        at += u32_at(s, at) == 0 ? 4 + 8 : 8 + u32_at(s, at + 4);
    }
    s->count_at = at + 8;
    s->n = (int)u32_at(s, s->count_at);
    at = s->count_at + 4;
    for (int i = 0; ok && i < s->n && i < 128; i++) {
        uint32_t len = u32_at(s, at);
        s->e[i].at = at;
        snprintf(s->e[i].name, sizeof s->e[i].name, "%.*s", (int)len, (const char *)s->b + at + 4);
        at += 4 + len;
        s->e[i].dtype = u32_at(s, at);
        s->e[i].ndim = u32_at(s, at + 4);
        s->e[i].dims_at = at + 8;
        int64_t count = 1, d;
        for (uint32_t k = 0; k < s->e[i].ndim; k++) {
            memcpy(&d, s->b + at + 8 + 8 * k, 8);
            count *= d;
        }
        at += 8 + 8 * (long)s->e[i].ndim + 4 * count;
        s->e[i].end = at;
    }
    return ok && s->n <= 128 && at + 8 == s->len;
}

/* Writes s (its checksum made right again) as the shard of set directory root/name. */
static void shard_write(shard_t *s, const char *root, const char *name, char *dir, size_t len)
{
    uint64_t h = pipa_hash_fnv1a(PIPA_HASH_INIT, s->b, (size_t)s->len - 8);
    memcpy(s->b + s->len - 8, &h, 8);
    snprintf(dir, len, "%s/%s", root, name);
    CHECK(mkdir(dir, 0755) == 0);
    char path[4200];
    pipa_ckpt_path(path, sizeof path, dir, 0);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(s->b, 1, (size_t)s->len, f) == (size_t)s->len);
    if (f) fclose(f);
}

static int find_entry(const shard_t *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->e[i].name, name)) return i;
    return -1;
}

/* The good shard lists every tensor of the table by its global name, each followed by its
 * AdamW moments, with the table's shapes. */
static void check_names(const shard_t *s, const pipa_tensors_t *tab)
{
    CHECKF(s->n == 3 * tab->n, "%d tensors in the shard, table has %d", s->n, tab->n);
    static const char *const suffix[3] = {"", ".exp_avg", ".exp_avg_sq"};
    for (int i = 0; i < s->n && i < 3 * tab->n; i++) {
        const pipa_tensor_t *t = &tab->t[i / 3];
        char want[128];
        snprintf(want, sizeof want, "%s%s", t->name, suffix[i % 3]);
        int64_t dims[2] = {0, 0};
        memcpy(dims, s->b + s->e[i].dims_at, 8 * (s->e[i].ndim < 2 ? s->e[i].ndim : 2));
        CHECKF(!strcmp(s->e[i].name, want) && s->e[i].dtype == 0 &&
               s->e[i].ndim == (uint32_t)t->ndim && dims[0] == t->shape[0] &&
               (t->ndim == 1 || dims[1] == t->shape[1]), "shard tensor %d is %s, want %s", i,
               s->e[i].name, want);
    }
}

/* Loading dir fails with PIPA_ERR_FORMAT and a message naming the file and both texts. */
static void refused(pipa_runtime_t *tr, const char *dir, const char *a, const char *b)
{
    pipa_status st = pipa_runtime_load(tr, dir, NULL, 1);
    const char *e = pipa_last_error();
    CHECKF(st == PIPA_ERR_FORMAT && strstr(e, dir) && strstr(e, a) && strstr(e, b),
           "%s: status %d: %s", dir, st, e);
}

/* Entries i < j swapped: the same tensors in another order. */
static shard_t swapped(const shard_t *s, int i, int j)
{
    shard_t o = *s;
    o.b = malloc((size_t)s->len);
    long at = 0;
    const long cut[5] = {s->e[i].at, s->e[i].end, s->e[j].at, s->e[j].end, s->len};
    memcpy(o.b, s->b, (size_t)cut[0]);
    at = cut[0];
    memcpy(o.b + at, s->b + cut[2], (size_t)(cut[3] - cut[2]));
    at += cut[3] - cut[2];
    memcpy(o.b + at, s->b + cut[1], (size_t)(cut[2] - cut[1]));
    at += cut[2] - cut[1];
    memcpy(o.b + at, s->b + cut[0], (size_t)(cut[1] - cut[0]));
    at += cut[1] - cut[0];
    memcpy(o.b + at, s->b + cut[3], (size_t)(cut[4] - cut[3]));
    return o;
}

static void ckpt_variants(pipa_runtime_t *tr, shard_t *good, const char *root)
{
    char dir[4200];
    size_t bytes = tr->tensors.total * sizeof(float);
    float *p = malloc(bytes), *m = malloc(2 * bytes);
    memcpy(p, tr->params, bytes);
    memcpy(m, tr->opt.state, 2 * bytes);
    /* any order: the embedding and the first layer's norm swapped load into the right places */
    shard_t o = swapped(good, find_entry(good, "model.embed_tokens.weight"),
                        find_entry(good, "model.layers.0.input_layernorm.weight"));
    shard_write(&o, root, "reordered", dir, sizeof dir);
    memset(tr->params, 0, bytes);
    memset(tr->opt.state, 0, 2 * bytes);
    CHECKF(pipa_runtime_load(tr, dir, NULL, 1) == PIPA_OK, "%s", pipa_last_error());
    CHECK(memcmp(p, tr->params, bytes) == 0 && memcmp(m, tr->opt.state, 2 * bytes) == 0);
    free(o.b), free(p), free(m);

    int q = find_entry(good, "model.layers.1.self_attn.q_proj.weight");
    long last = good->e[q].at + 4 + (long)strlen(good->e[q].name) - 1;
    good->b[last] = 'X';  // ...weighX: a name this run does not have
    shard_write(good, root, "renamed", dir, sizeof dir);
    refused(tr, dir, "model.layers.1.self_attn.q_proj.weighX", "unknown");
    good->b[last] = 't';

    int k = find_entry(good, "model.layers.0.self_attn.k_proj.weight");
    long letter = good->e[k].at + 4 + (long)strlen("model.layers.0.self_attn.");
    good->b[letter] = 'q';  // two q_proj, no k_proj
    shard_write(good, root, "duplicated", dir, sizeof dir);
    refused(tr, dir, "'model.layers.0.self_attn.q_proj.weight'", "twice");
    good->b[letter] = 'k';

    int d = find_entry(good, "model.layers.0.mlp.down_proj.weight");
    int64_t dims[2], swap[2];
    memcpy(dims, good->b + good->e[d].dims_at, 16);
    swap[0] = dims[1], swap[1] = dims[0];  // (12, 8): the same count, another shape
    memcpy(good->b + good->e[d].dims_at, swap, 16);
    shard_write(good, root, "reshaped", dir, sizeof dir);
    refused(tr, dir, "'model.layers.0.mlp.down_proj.weight' has shape (12, 8)", "expected (8, 12)");
    memcpy(good->b + good->e[d].dims_at, dims, 16);

    /* the last tensor cut out and the count lowered */
    int z = good->n - 1;
    CHECK(!strcmp(good->e[z].name, "lm_head.weight.exp_avg_sq"));
    shard_t cut = *good;
    cut.len = good->e[z].at + 8;
    cut.b = malloc((size_t)cut.len);
    memcpy(cut.b, good->b, (size_t)good->e[z].at);
    uint32_t n = (uint32_t)good->n - 1;
    memcpy(cut.b + cut.count_at, &n, 4);
    shard_write(&cut, root, "missing", dir, sizeof dir);
    refused(tr, dir, "'lm_head.weight.exp_avg_sq'", "missing");
    free(cut.b);

    uint32_t two = 2;
    memcpy(good->b + 8, &two, 4);
    shard_write(good, root, "version2", dir, sizeof dir);
    refused(tr, dir, "format version 2", "reads 3");
}

static int test_checkpoint(void)
{
    pipa_comm_t *comm;
    pipa_plan_t plan;
    pipa_runtime_t tr;
    if (pipa_comm_init(&comm) != PIPA_OK || make_runtime(comm, &plan, &tr) != PIPA_OK) {
        fprintf(stderr, "test_tensors: %s\n", pipa_last_error());
        return 1;
    }
    char root[] = "/tmp/pipa-tensors-XXXXXX", dir[4200], path[4200], cmd[4300];
    CHECK(mkdtemp(root) != NULL);
    snprintf(dir, sizeof dir, "%s/good", root);
    CHECK(mkdir(dir, 0755) == 0);
    CHECKF(pipa_runtime_save(&tr, dir, NULL) == PIPA_OK, "%s", pipa_last_error());
    pipa_ckpt_path(path, sizeof path, dir, 0);
    shard_t good = {0};
    CHECKF(shard_read(&good, path), "cannot parse %s", path);
    check_names(&good, &tr.tensors);
    if (check_failures == 0) ckpt_variants(&tr, &good, root);
    free(good.b);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
    pipa_runtime_free(&tr);
    pipa_plan_free(&plan);
    pipa_comm_free(comm);
    return 0;
}

int main(void)
{
    test_hf_names();
    test_gqa_tied();
    test_partitions();
    test_views();
    CHECK(test_checkpoint() == 0);
    return check_done("test_tensors");
}
