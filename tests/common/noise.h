/* noise.h — reproducible measurement noise for tests that build synthetic curves: a seeded
 * generator (a 64-bit LCG, high bits used) and normal deviates from it (Box–Muller). */
#ifndef PD_TEST_NOISE_H
#define PD_TEST_NOISE_H

#include <stdint.h>

struct pd_test_rng {
    uint64_t state; /* the seed; any value */
};

/* Uniform in (0, 1), never 0 or 1. */
double pd_test_uniform01(struct pd_test_rng *r);
/* Standard normal. */
double pd_test_gaussian(struct pd_test_rng *r);

#endif
