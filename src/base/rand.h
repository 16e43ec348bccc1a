/* rand.h: pipa's one source of random numbers, counter-based: a value is a pure function of
 * (seed, a, b, i), so any rank computes the value at any index without a shared generator state,
 * and weights, inputs and batches are the same at every layout. Left out: a stateful generator. */
#ifndef PIPA_RAND_H
#define PIPA_RAND_H

#include <stdint.h>

/* The value at index i of stream (seed, a, b), uniform in [-1, 1). Streams in use: layer weights
 * a = global layer index, b = tensor id 0..8 (the order of pipa_layer_t); model input
 * a = microbatch, b = PIPA_STREAM_INPUT; the embedding b = PIPA_STREAM_EMBED (train.h); corpus
 * batches a = step, b = PIPA_STREAM_CORPUS + microbatch. New users take b values of their own, at
 * or above PIPA_STREAM_INPUT and apart from the corpus's. */
float pipa_rand_uniform(uint64_t seed, uint64_t a, uint64_t b, uint64_t i);
enum { PIPA_STREAM_INPUT = 256, PIPA_STREAM_CORPUS = 1 << 20 };

#endif
