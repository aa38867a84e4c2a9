/* rng.c — xorshift64* generator with Box–Muller normal draws for the simulated instruments. */
#include "fwrt/core/fwrt.h"

/* Seeds are scrambled with a splitmix64 round so that nearby seeds (1, 2, 3...) start far apart. */
static uint64_t scramble_seed(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

void fw_rng_seed(struct fw_rng *rng, uint64_t seed)
{
    uint64_t s = scramble_seed(seed);
    rng->state = s ? s : 0x2545F4914F6CDD1Dull;
    rng->spare_gauss = 0.0;
    rng->has_spare = 0;
}

uint64_t fw_rng_next_u64(struct fw_rng *rng)
{
    uint64_t x = rng->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng->state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

double fw_rng_uniform(struct fw_rng *rng)
{
    /* 53 random bits centred in their bucket: (k + 0.5) / 2^53 lies strictly inside (0, 1). */
    uint64_t k = fw_rng_next_u64(rng) >> 11;
    return ((double)k + 0.5) * (1.0 / 9007199254740992.0);
}

double fw_rng_gauss(struct fw_rng *rng)
{
    if (rng->has_spare) {
        rng->has_spare = 0;
        return rng->spare_gauss;
    }
    double u1 = fw_rng_uniform(rng);
    double u2 = fw_rng_uniform(rng);
    double radius = fw_sqrt(-2.0 * fw_log(u1));
    double angle = 6.283185307179586476925 * u2;
    rng->spare_gauss = radius * fw_sin(angle);
    rng->has_spare = 1;
    return radius * fw_cos(angle);
}
