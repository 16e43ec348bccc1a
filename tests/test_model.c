/* test_model.c: proves the model layer's promises. Weights depend only on (seed, layer, tensor),
 * so layers [2, 4) built alone equal layers 2, 3 of a [0, 4) build bit for bit; the parameter
 * count is the closed form L (2C + 4C^2 + 3CI); a range's forward equals the forward of its
 * pieces applied in sequence (==, not a tolerance); the model input of a microbatch is a pure
 * function of (seed, microbatch); pipa_config_check rejects bad sizes with a message naming them. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "model/backend.h"
#include "check.h"
#include "model/layer.h"
#include "model/model.h"
#include "model/blas.h"

static pipa_model_config_t small_config(void)
{
    return (pipa_model_config_t){.L = 4, .C = 64, .NH = 4, .I = 172, .eps = 1e-5f,
                           .rope_theta = 10000.0f, .seed = 42};
}

/* Floats of each tensor of a layer, in pipa_layer_t order. */
static void tensor_sizes(const pipa_model_config_t *c, size_t n[9])
{
    size_t C = (size_t)c->C, I = (size_t)c->I;
    const size_t s[9] = {C, C * C, C * C, C * C, C * C, C, I * C, I * C, C * I};
    memcpy(n, s, sizeof s);
}

static void tensors_of(const pipa_layer_t *l, const float *t[9])
{
    const float *p[9] = {l->attn_norm, l->wq, l->wk, l->wv, l->wo, l->mlp_norm, l->w_gate,
                         l->w_up, l->w_down};
    memcpy(t, p, sizeof p);
}

static int layers_equal(const pipa_layer_t *a, const pipa_layer_t *b, const pipa_model_config_t *c)
{
    size_t n[9];
    const float *ta[9], *tb[9];
    tensor_sizes(c, n);
    tensors_of(a, ta);
    tensors_of(b, tb);
    for (int i = 0; i < 9; i++)
        if (memcmp(ta[i], tb[i], n[i] * sizeof(float)) != 0) return 0;
    return 1;
}

static void test_param_count(void)
{
    pipa_model_config_t c = small_config();
    size_t C = (size_t)c.C, I = (size_t)c.I;
    size_t closed = 2 * C + 4 * C * C + 3 * C * I;
    CHECK(pipa_layer_param_count(&c) == closed);
    pipa_layers_t ls;
    CHECK(pipa_layers_build(&ls, &c, 0, c.L) == PIPA_OK);
    CHECK(ls.n_params == (size_t)c.L * closed);
    /* The carving is contiguous in table order: the last tensor ends where the range ends. */
    CHECK(ls.layers[c.L - 1].w_down + C * I == ls.params + ls.n_params);
    pipa_layers_free(&ls);
}

static void test_init_determinism(void)
{
    pipa_model_config_t c = small_config();
    pipa_layers_t all, part, again;
    CHECK(pipa_layers_build(&all, &c, 0, 4) == PIPA_OK);
    CHECK(pipa_layers_build(&part, &c, 2, 2) == PIPA_OK);
    CHECK(pipa_layers_build(&again, &c, 0, 4) == PIPA_OK);
    CHECK(layers_equal(&all.layers[2], &part.layers[0], &c));
    CHECK(layers_equal(&all.layers[3], &part.layers[1], &c));
    CHECK(memcmp(all.params, again.params, all.n_params * sizeof(float)) == 0);
    CHECK(!layers_equal(&all.layers[2], &all.layers[3], &c));  // layers differ from each other
    CHECK(memcmp(all.layers[0].wq, all.layers[0].wk, (size_t)c.C * c.C * sizeof(float)) != 0);

    /* Ranges: norm weights in 1 + 0.1 [-1, 1), linear weights in [-1, 1) / sqrt(fan_in). */
    int in_range = 1;
    for (int i = 0; i < c.C; i++) {
        float g = all.layers[1].attn_norm[i];
        in_range &= g >= 0.9f && g < 1.1f;
    }
    for (size_t i = 0; i < (size_t)c.C * c.I; i++)
        in_range &= fabsf(all.layers[1].w_down[i]) <= 1.0f / sqrtf((float)c.I);
    CHECK(in_range);

    pipa_model_config_t other = c;
    other.seed = 43;
    pipa_layers_t ls43;
    CHECK(pipa_layers_build(&ls43, &other, 0, 1) == PIPA_OK);
    CHECK(!layers_equal(&ls43.layers[0], &all.layers[0], &c));  // the seed matters
    pipa_layers_free(&ls43);
    pipa_layers_free(&again);
    pipa_layers_free(&part);
    pipa_layers_free(&all);
}

static void test_forward_pieces(void)
{
    pipa_model_config_t c = small_config();
    const int B = 2, T = 16;
    size_t n = (size_t)B * T * c.C;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *z = malloc(n * sizeof *z);
    CHECK(x && y && z);
    if (!x || !y || !z) return;
    pipa_model_input(x, &c, 3, B, T);
    memcpy(y, x, n * sizeof *x);
    memcpy(z, x, n * sizeof *x);

    pipa_layers_t all;
    pipa_scratch_t s, big;
    CHECK(pipa_layers_build(&all, &c, 0, 4) == PIPA_OK);
    CHECK(pipa_scratch_init(&s, &c, B, T) == PIPA_OK);
    CHECK(pipa_scratch_init(&big, &c, B + 3, 2 * T) == PIPA_OK);  // larger than needed
    pipa_layers_forward(&all, x, B, T, NULL, &s);

    /* The same four layers as three separately built ranges, [0,1) [1,3) [3,4), in sequence. */
    const int firsts[3] = {0, 1, 3}, counts[3] = {1, 2, 1};
    for (int p = 0; p < 3; p++) {
        pipa_layers_t piece;
        CHECK(pipa_layers_build(&piece, &c, firsts[p], counts[p]) == PIPA_OK);
        pipa_layers_forward(&piece, y, B, T, NULL, &big);
        pipa_layers_free(&piece);
    }
    CHECK(memcmp(x, y, n * sizeof *x) == 0);

    /* No state between calls: running the range again on a fresh input gives the same bits. */
    pipa_layers_forward(&all, z, B, T, NULL, &s);
    CHECK(memcmp(x, z, n * sizeof *x) == 0);

    /* And the forward did something: finite, and not the input. */
    int finite = 1;
    for (size_t i = 0; i < n; i++) finite &= isfinite(x[i]);
    CHECK(finite);
    pipa_model_input(z, &c, 3, B, T);
    CHECK(memcmp(x, z, n * sizeof *x) != 0);

    pipa_scratch_free(&big);
    pipa_scratch_free(&s);
    pipa_layers_free(&all);
    free(x), free(y), free(z);
}

static void test_model_input(void)
{
    pipa_model_config_t c = small_config();
    const int B = 2, T = 8;
    size_t n = (size_t)B * T * c.C;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *d = malloc(n * sizeof *d);
    CHECK(a && b && d);
    if (!a || !b || !d) return;
    pipa_model_input(a, &c, 5, B, T);
    pipa_model_input(b, &c, 5, B, T);
    pipa_model_input(d, &c, 6, B, T);
    CHECK(memcmp(a, b, n * sizeof *a) == 0);
    CHECK(memcmp(a, d, n * sizeof *a) != 0);
    double mean = 0.0;
    int in_range = 1;
    for (size_t i = 0; i < n; i++) {
        in_range &= a[i] >= -1.0f && a[i] < 1.0f;
        mean += a[i];
    }
    CHECK(in_range);
    CHECKF(fabs(mean / n) < 0.1, "mean of uniform [-1, 1) input is %g", mean / n);
    /* The input stream is not a weight stream: microbatch 0 is not layer 0's first tensor. */
    CHECK(pipa_rand_uniform(42, 0, PIPA_STREAM_INPUT, 0) != pipa_rand_uniform(42, 0, 0, 0));
    free(a), free(b), free(d);
}

/* One rejected configuration: the status is PIPA_ERR_ARG and the message names the field. */
static void expect_rejected(pipa_model_config_t c, const char *field)
{
    pipa_status s = pipa_config_check(&c);
    CHECKF(s == PIPA_ERR_ARG, "config expected to fail on %s passed", field);
    CHECKF(strstr(pipa_last_error(), field) != NULL, "message '%s' does not name %s",
           pipa_last_error(), field);
}

static void test_config_check(void)
{
    pipa_model_config_t ok = small_config(), c;
    CHECK(pipa_config_check(&ok) == PIPA_OK);
    c = ok, c.C = 66;  // 66 % 4 != 0
    expect_rejected(c, "NH");
    c = ok, c.C = 12, c.NH = 4;  // head size 3 is odd: no rotary pairs
    expect_rejected(c, "head size");
    c = ok, c.L = 0;
    expect_rejected(c, "L");
    c = ok, c.I = -5;
    expect_rejected(c, "I");
    c = ok, c.NH = 0;
    expect_rejected(c, "NH");
    c = ok, c.eps = 0.0f;
    expect_rejected(c, "eps");
    c = ok, c.rope_theta = NAN;
    expect_rejected(c, "rope_theta");

    pipa_layers_t ls;
    CHECK(pipa_layers_build(&ls, &ok, 3, 2) == PIPA_ERR_ARG);  // [3, 5) is past L = 4
    CHECK(pipa_layers_build(&ls, &ok, -1, 1) == PIPA_ERR_ARG);
    CHECK(pipa_layers_build(&ls, &ok, 4, 0) == PIPA_OK);  // an empty range is allowed
    CHECK(ls.n_params == 0);
    pipa_layers_free(&ls);
}

/* The carve allocator every arena uses: pieces at multiples of the alignment, in table order,
 * a 64-byte aligned block, zeroed when asked; a weight-gradient range is the layout of the
 * weights, all zeros. */
static void test_arena(void)
{
    const pipa_piece_t t[4] = {{"a", 1}, {"b", 16}, {"c", 17}, {"d", 0}};
    size_t off[4];
    CHECK(pipa_arena_layout(t, 4, 16, off) == 64);
    CHECK(off[0] == 0 && off[1] == 16 && off[2] == 32 && off[3] == 64);
    CHECK(pipa_arena_layout(t, 4, 1, off) == 34);
    CHECK(off[0] == 0 && off[1] == 1 && off[2] == 17 && off[3] == 34);
    void *buf;
    CHECK(pipa_backend_alloc(&buf, 0, 1, "nothing") == PIPA_OK && buf == NULL);
    CHECK(pipa_backend_alloc(&buf, 34, 1, "test") == PIPA_OK && buf != NULL);
    CHECK((uintptr_t)buf % 64 == 0);
    for (int i = 0; buf && i < 34; i++) CHECK(((float *)buf)[i] == 0.0f);
    pipa_backend_free(buf);
    pipa_model_config_t c = small_config();
    pipa_layers_t w, g;
    CHECK(pipa_layers_build(&w, &c, 1, 2) == PIPA_OK);
    CHECK(pipa_layers_alloc_zero(&g, &c, 1, 2) == PIPA_OK);
    CHECK(g.n_params == w.n_params && g.first == 1 && g.count == 2);
    for (int l = 0; l < 2; l++)
        CHECK(g.layers[l].w_down - g.params == w.layers[l].w_down - w.params &&
              g.layers[l].wq - g.params == w.layers[l].wq - w.params);
    size_t zeros = 0;
    for (size_t i = 0; i < g.n_params; i++) zeros += g.params[i] == 0.0f;
    CHECK(zeros == g.n_params);
    pipa_layers_free(&w);
    pipa_layers_free(&g);
}

int main(void)
{
    pipa_blas_init(0);
    test_param_count();
    test_init_determinism();
    test_forward_pieces();
    test_model_input();
    test_config_check();
    test_arena();
    return check_done("test_model");
}
