/*
 * rng.h — the load frame's pseudo-random source: a seeded xorshift64* generator with uniform and
 * Gaussian draws, so simulated specimens and sensor noise are reproducible from one seed.
 */
#ifndef LF_RNG_H
#define LF_RNG_H

#include <stdint.h>

struct lf_rng {
    uint64_t state;     /* never 0: xorshift would stay at 0 forever */
    double spare_gauss; /* Box–Muller yields pairs; the second one waits here */
    int has_spare;
};

/* Any seed is accepted (0 included); equal seeds give equal sequences. */
void lf_rng_seed(struct lf_rng *rng, uint64_t seed);
uint64_t lf_rng_next_u64(struct lf_rng *rng);
/* Uniform in the open interval (0, 1): never exactly 0, so log() in Box–Muller stays finite. */
double lf_rng_uniform(struct lf_rng *rng);
/* Standard normal (mean 0, SD 1). */
double lf_rng_gauss(struct lf_rng *rng);

#endif /* LF_RNG_H */
