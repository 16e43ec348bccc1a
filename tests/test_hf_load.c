/* test_hf_load: loading Hugging Face model folders (io/hf_model.h) against the values PyTorch
 * wrote. Run by tests/test_hf.sh with the folder tests/ref/gen_hf_folders.py made (argv[1]):
 * - the F32, BF16 and 2-shard F16 folders load into tables of several layouts (whole; two
 *   pipeline stages; two tensor-parallel slices; both) and every element equals Python's f32
 *   value of the stored element; a stage opens only the shards that hold its tensors (a stage of
 *   layer 0 loads with the second shard garbage);
 * - the grouped-query, tied config reads into pipa's config, and one without the fields that
 *   have defaults gets them (NKV = NH, rope_theta 10000, untied);
 * - F16 (every bit pattern) and BF16 to f32, and f32 to BF16 rounding, equal PyTorch's;
 * - each broken folder of bad/cases.txt is refused with a message naming its file and the
 *   tensor or field;
 * - export: the whole F32 table as F32 and BF16, and the pp 2 x tp 2 tables as F32, written
 *   under argv[1]/export_* for the script to read back with Python; the F32 one reloads here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "io/hf_model.h"

enum { MAX_TENSORS = 64, MAX_TABS = 4 };

typedef struct {
    char name[PIPA_TENSOR_NAME];
    int ndim;
    int64_t shape[2];
    float *v;
} expected_t;

static expected_t want[MAX_TENSORS];
static int n_want;
static const char *root;

/* ---- the expected values (expected/<folder>.txt: name ndim shape... values as hex floats) -- */

static void read_expected(const char *folder)
{
    for (int i = 0; i < n_want; i++) free(want[i].v);
    n_want = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/expected/%s.txt", root, folder);
    FILE *f = fopen(path, "r");
    CHECKF(f, "cannot open %s", path);
    if (!f) return;
    while (n_want < MAX_TENSORS) {
        expected_t *e = &want[n_want];
        long long d[2] = {1, 1};
        if (fscanf(f, "%63s %d", e->name, &e->ndim) != 2) break;
        for (int k = 0; k < e->ndim; k++) CHECK(fscanf(f, "%lld", &d[k]) == 1);
        e->shape[0] = d[0];
        e->shape[1] = e->ndim == 2 ? d[1] : 0;
        size_t n = (size_t)(d[0] * d[1]);
        e->v = malloc(n * sizeof *e->v);
        char tok[64];
        for (size_t i = 0; i < n; i++) {
            CHECK(fscanf(f, "%63s", tok) == 1);
            e->v[i] = strtof(tok, NULL);
        }
        n_want++;
    }
    fclose(f);
    CHECKF(n_want == 21, "%s: %d tensors", path, n_want);
}

static const expected_t *find_want(const char *name)
{
    for (int i = 0; i < n_want; i++)
        if (strcmp(want[i].name, name) == 0) return &want[i];
    return NULL;
}

/* Every element of every tensor of tab (a slice) against the expected full tensor's. */
static void compare_table(const pipa_tensors_t *tab, const float *base, const char *what)
{
    for (int k = 0; k < tab->n; k++) {
        const pipa_tensor_t *t = &tab->t[k];
        const expected_t *e = find_want(t->name);
        CHECKF(e, "%s: %s not expected", what, t->name);
        if (!e) continue;
        CHECKF(e->ndim == t->ndim && e->shape[0] == t->full[0] &&
               (t->ndim == 1 || e->shape[1] == t->full[1]), "%s: %s full shape", what, t->name);
        int64_t rows = t->ndim == 2 ? t->shape[0] : 1, cols = t->ndim == 2 ? t->shape[1] : t->shape[0];
        int64_t r0 = t->ndim == 2 ? t->start[0] : 0, c0 = t->ndim == 2 ? t->start[1] : t->start[0];
        int64_t full_cols = t->ndim == 2 ? t->full[1] : t->full[0];
        int bad = 0;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) {
                float got = base[t->offset + (size_t)(r * cols + c)];
                float exp = e->v[(r0 + r) * full_cols + c0 + c];
                if (memcmp(&got, &exp, 4) != 0 && bad++ < 3)
                    fprintf(stderr, "%s: %s[%lld, %lld] = %.9g, want %.9g\n", what, t->name,
                            (long long)(r0 + r), (long long)(c0 + c), got, exp);
            }
        CHECKF(bad == 0, "%s: %s: %d values differ", what, t->name, bad);
    }
}

/* ---- layouts ------------------------------------------------------------------------------ */

typedef struct {
    const char *name;
    int pp, tp;
} layout_t;

static const layout_t layouts[] = {{"whole", 1, 1}, {"pp2", 2, 1}, {"tp2", 1, 2}, {"pp2xtp2", 2, 2}};

/* The tables of layout lo (stage-major, tensor rank fastest), allocated, not loaded. */
static int build_tables(const pipa_hf_config_t *hc, const layout_t *lo, pipa_tensors_t *tabs,
                        float **bases)
{
    int n = 0, L = hc->cfg.L;
    for (int s = 0; s < lo->pp; s++)
        for (int r = 0; r < lo->tp; r++, n++) {
            pipa_layer_range_t range = {s * L / lo->pp, (s + 1) * L / lo->pp - s * L / lo->pp};
            pipa_status st = pipa_tensors_build_tp(&tabs[n], &hc->cfg, hc->vocab, &range, 1, s == 0,
                                                   s == lo->pp - 1, r, lo->tp);
            CHECKF(st == PIPA_OK, "%s: build: %s", lo->name, pipa_last_error());
            if (st != PIPA_OK) return n;
            CHECK(pipa_tensors_alloc(&tabs[n], &bases[n], 0, "test") == PIPA_OK);
        }
    return n;
}

static void free_tables(pipa_tensors_t *tabs, float **bases, int n)
{
    for (int i = 0; i < n; i++) {
        pipa_tensors_free(&tabs[i]);
        free(bases[i]);
    }
}

/* Loads folder into every table of every layout, each table with its own open (as each rank
 * would), and compares them all with expected/<expect>.txt. */
static void test_folder(const char *folder, const char *expect, int files)
{
    char dir[4096], what[256];
    snprintf(dir, sizeof dir, "%s/%s", root, folder);
    read_expected(expect);
    for (size_t l = 0; l < sizeof layouts / sizeof layouts[0]; l++) {
        pipa_hf_model_t m;
        pipa_status s = pipa_hf_model_open(&m, dir);
        CHECKF(s == PIPA_OK, "%s: %s", dir, pipa_last_error());
        pipa_tensors_t tabs[MAX_TABS];
        float *bases[MAX_TABS];
        int n = s == PIPA_OK ? build_tables(&m.config, &layouts[l], tabs, bases) : 0;
        pipa_hf_model_close(&m);
        for (int i = 0; i < n; i++) {
            snprintf(what, sizeof what, "%s %s table %d", folder, layouts[l].name, i);
            CHECK(pipa_hf_model_open(&m, dir) == PIPA_OK);
            s = pipa_hf_model_load(&m, &tabs[i], bases[i]);
            CHECKF(s == PIPA_OK, "%s: %s", what, pipa_last_error());
            /* A stage of one layer of a sharded folder opens one shard; a whole table all. */
            int want_files = layouts[l].pp == 1 ? files : 1;
            CHECKF(m.n_opened == want_files, "%s: opened %d files, want %d", what, m.n_opened,
                   want_files);
            pipa_hf_model_close(&m);
            compare_table(&tabs[i], bases[i], what);
        }
        free_tables(tabs, bases, n);
    }
    printf("%s: loaded and compared in %zu layouts\n", folder,
           sizeof layouts / sizeof layouts[0]);
}

/* half/: the second shard is garbage: stage 0 (embedding, layer 0) loads, stage 1 is refused
 * naming that shard. */
static void test_only_own_shards(void)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/half", root);
    read_expected("sharded");
    pipa_hf_model_t m;
    CHECK(pipa_hf_model_open(&m, dir) == PIPA_OK);
    pipa_tensors_t tabs[MAX_TABS];
    float *bases[MAX_TABS];
    int n = build_tables(&m.config, &layouts[1], tabs, bases);
    CHECK(n == 2);
    CHECKF(pipa_hf_model_load(&m, &tabs[0], bases[0]) == PIPA_OK, "%s", pipa_last_error());
    compare_table(&tabs[0], bases[0], "half stage 0");
    pipa_status s = pipa_hf_model_load(&m, &tabs[1], bases[1]);
    CHECKF(s != PIPA_OK && strstr(pipa_last_error(), "model-00002-of-00002.safetensors"),
           "half stage 1: %s", pipa_last_error());
    pipa_hf_model_close(&m);
    free_tables(tabs, bases, n);
}

static void test_gqa_config(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/gqa/config.json", root);
    pipa_hf_config_t c;
    pipa_status s = pipa_hf_config_read(&c, path);
    CHECKF(s == PIPA_OK, "%s", pipa_last_error());
    CHECK(c.cfg.L == 2 && c.cfg.C == 8 && c.cfg.NH == 2 && c.cfg.NKV == 1 && c.cfg.I == 12);
    CHECK(c.cfg.tie_embeddings == 1 && c.vocab == 16 && c.max_positions == 4096);
    CHECK(c.cfg.eps == 1e-6f && c.cfg.rope_theta == 500000.0f);
    snprintf(path, sizeof path, "%s/defaults/config.json", root);
    CHECKF(pipa_hf_config_read(&c, path) == PIPA_OK, "%s", pipa_last_error());
    CHECK(c.cfg.NKV == 2 && c.cfg.tie_embeddings == 0 && c.cfg.rope_theta == 10000.0f);
    snprintf(path, sizeof path, "%s/f32/config.json", root);
    CHECK(pipa_hf_config_read(&c, path) == PIPA_OK);
    CHECK(c.cfg.NKV == 2 && c.cfg.tie_embeddings == 0 && c.cfg.eps == 1e-5f &&
          c.cfg.rope_theta == 10000.0f && c.max_positions == 64);
}

/* ---- conversions -------------------------------------------------------------------------- */

static int same_f32(float a, float b) { return (isnan(a) && isnan(b)) || memcmp(&a, &b, 4) == 0; }

static void test_special(void)
{
    char path[4096], tok[64];
    snprintf(path, sizeof path, "%s/special.safetensors", root);
    pipa_st_file_t f;
    CHECKF(pipa_st_open(&f, path) == PIPA_OK, "%s", pipa_last_error());
    snprintf(path, sizeof path, "%s/special.txt", root);
    FILE *txt = fopen(path, "r");
    CHECK(txt != NULL);
    for (int k = 0; k < 2 && txt; k++) {
        CHECK(fscanf(txt, "%63s", tok) == 1);
        const pipa_st_tensor_t *t = pipa_st_find(&f, tok);
        CHECKF(t && t->ndim == 1, "special: %s", tok);
        if (!t) continue;
        float got[64];
        int64_t start = 0;
        CHECK(pipa_st_read(&f, t, &start, t->shape, got) == PIPA_OK);
        for (int64_t i = 0; i < t->shape[0]; i++) {
            CHECK(fscanf(txt, "%63s", tok) == 1);
            float exp = strtof(tok, NULL);
            CHECKF(same_f32(got[i], exp), "special %s[%lld] = %a, want %a", t->name,
                   (long long)i, got[i], exp);
        }
    }
    if (txt) fclose(txt);
    pipa_st_close(&f);
    /* every F16 bit pattern */
    snprintf(path, sizeof path, "%s/f16_all.txt", root);
    FILE *all = fopen(path, "r");
    CHECK(all != NULL);
    int n = 0, bad = 0;
    unsigned bits;
    while (all && fscanf(all, "%u %63s", &bits, tok) == 2) {
        float got = pipa_st_f16_to_f32((uint16_t)bits), exp = strtof(tok, NULL);
        n++;
        if (!same_f32(got, exp) && bad++ < 3)
            fprintf(stderr, "f16 0x%04x: %a, want %a\n", bits, got, exp);
    }
    if (all) fclose(all);
    CHECKF(n == 65536 && bad == 0, "f16: %d patterns, %d wrong", n, bad);
    /* f32 -> bf16 rounding */
    snprintf(path, sizeof path, "%s/bf16_round.txt", root);
    FILE *rnd = fopen(path, "r");
    CHECK(rnd != NULL);
    n = bad = 0;
    while (rnd && fscanf(rnd, "%63s %u", tok, &bits) == 2) {
        float x = strtof(tok, NULL);
        uint16_t got = pipa_st_f32_to_bf16(x);
        int ok = isnan(x) ? (got & 0x7F80) == 0x7F80 && (got & 0x7F) != 0 : got == bits;
        n++;
        if (!ok && bad++ < 3) fprintf(stderr, "bf16 of %a: 0x%04x, want 0x%04x\n", x, got, bits);
    }
    if (rnd) fclose(rnd);
    CHECKF(n > 2000 && bad == 0, "bf16 rounding: %d values, %d wrong", n, bad);
}

/* ---- bad folders -------------------------------------------------------------------------- */

/* Opens and loads the folder into a whole table: the first failure's status. */
static pipa_status try_load(const char *dir)
{
    pipa_hf_model_t m;
    pipa_status s = pipa_hf_model_open(&m, dir);
    pipa_tensors_t tab;
    float *base = NULL;
    const pipa_layer_range_t all = {0, m.config.cfg.L};
    int built = 0;
    if (s == PIPA_OK) s = pipa_tensors_build(&tab, &m.config.cfg, m.config.vocab, &all, 1, 1, 1);
    if (s == PIPA_OK) built = 1, s = pipa_tensors_alloc(&tab, &base, 0, "test");
    if (s == PIPA_OK) s = pipa_hf_model_load(&m, &tab, base);
    if (built) pipa_tensors_free(&tab);
    free(base);
    pipa_hf_model_close(&m);
    return s;
}

static void test_bad(void)
{
    char path[4096], line[1024];
    snprintf(path, sizeof path, "%s/bad/cases.txt", root);
    FILE *f = fopen(path, "r");
    CHECKF(f, "cannot open %s", path);
    int n = 0;
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *save = NULL, *name = strtok_r(line, "\t", &save), dir[4096], where[256];
        snprintf(dir, sizeof dir, "%s/bad/%s", root, name);
        snprintf(where, sizeof where, "bad/%s/", name);
        pipa_status s = try_load(dir);
        const char *msg = pipa_last_error();
        CHECKF(s != PIPA_OK, "bad/%s: accepted", name);
        CHECKF(s == PIPA_OK || strstr(msg, where), "bad/%s: message does not name the file: %s",
               name, msg);
        /* The words after the folder's path, which holds the case's name. */
        const char *rest = strstr(msg, where) ? strstr(msg, where) + strlen(where) : msg;
        for (char *w = strtok_r(NULL, "\t", &save); w; w = strtok_r(NULL, "\t", &save)) {
            CHECKF(s == PIPA_OK || strstr(rest, w), "bad/%s: message lacks \"%s\": %s", name, w, msg);
        }
        if (getenv("PIPA_TEST_VERBOSE")) printf("bad/%s: %s\n", name, msg);
        n++;
    }
    if (f) fclose(f);
    CHECKF(n >= 30, "%d bad cases", n);
    printf("bad: %d broken folders refused with their file and tensor or field named\n", n);
}

/* ---- export ------------------------------------------------------------------------------- */

static void export_layout(const char *out, const layout_t *lo, pipa_dtype dtype)
{
    char dir[4096], exp_dir[4096];
    snprintf(dir, sizeof dir, "%s/f32", root);
    snprintf(exp_dir, sizeof exp_dir, "%s/%s", root, out);
    pipa_hf_model_t m;
    CHECK(pipa_hf_model_open(&m, dir) == PIPA_OK);
    pipa_tensors_t tabs[MAX_TABS];
    float *bases[MAX_TABS];
    int n = build_tables(&m.config, lo, tabs, bases);
    for (int i = 0; i < n; i++) CHECK(pipa_hf_model_load(&m, &tabs[i], bases[i]) == PIPA_OK);
    pipa_status s = pipa_hf_model_export(exp_dir, &m.config, tabs, bases, n, dtype);
    CHECKF(s == PIPA_OK, "export %s: %s", out, pipa_last_error());
    /* Without a stage the export is incomplete and refused (nothing half written). */
    if (lo->pp == 2) {
        char part[4200];
        snprintf(part, sizeof part, "%s-part", exp_dir);
        s = pipa_hf_model_export(part, &m.config, tabs, bases, n - lo->tp, dtype);
        CHECKF(s == PIPA_ERR_ARG && strstr(pipa_last_error(), "tensors"), "partial export: %s",
               pipa_last_error());
    }
    pipa_hf_model_close(&m);
    free_tables(tabs, bases, n);
}

static void test_export(void)
{
    export_layout("export_f32", &layouts[0], PIPA_F32);
    export_layout("export_bf16", &layouts[0], PIPA_BF16);
    export_layout("export_split", &layouts[3], PIPA_F32);
    test_folder("export_f32", "f32", 1);  // and back through the loader
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_hf_load DIR (made by tests/ref/gen_hf_folders.py gen DIR)\n");
        return 2;
    }
    root = argv[1];
    test_folder("f32", "f32", 1);
    test_folder("bf16", "bf16", 1);
    test_folder("sharded", "sharded", 2);
    test_only_own_shards();
    test_gqa_config();
    test_special();
    test_bad();
    test_export();
    for (int i = 0; i < n_want; i++) free(want[i].v);
    return check_done("test_hf_load");
}
