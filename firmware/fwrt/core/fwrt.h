/*
 * fwrt.h — the small freestanding runtime the firmware cores use instead of libc/libm: memory
 * helpers and the elementary functions the physics models need. A Cortex-M4 build has no libm
 * (and the FPU is single precision only), so these are plain C on doubles, accurate to a few ulp
 * over the ranges documented per function; and the seeded random source of the simulations. No OS,
 * no heap, no stdio, no global state.
 */
#ifndef FWRT_H
#define FWRT_H

#include <stddef.h>
#include <stdint.h>

void fw_memcpy(void *dst, const void *src, size_t n);
void fw_memset(void *dst, int byte, size_t n);
/* <0, 0, >0 like strcmp; both strings NUL-terminated. */
int fw_strcmp(const char *a, const char *b);

#define FW_PI 3.14159265358979323846

/* 1 when v is neither NaN nor an infinity. */
int fw_isfinite(double v);
int fw_isfinitef(float v);
double fw_fabs(double v);
/* Correctly rounded is not promised; relative error below 1e-15 for finite results. */
double fw_sqrt(double v); /* NaN for v < 0 */
double fw_exp(double v);  /* 0 below −745, +inf above 709.78 */
double fw_log(double v);  /* natural log; −inf at 0, NaN below 0 */
/* base^e for base > 0 (and base 0 with e > 0 → 0, e == 0 → 1); NaN for base < 0. */
double fw_pow(double base, double e);
/* Radians; absolute error below 1e-15 for |x| < 1e6 (reduced by 2π beyond that, less exactly). */
double fw_sin(double x);
double fw_cos(double x);
/* Radians in [0, π]; NaN outside [−1, 1]. Absolute error below 1e-14. */
double fw_acos(double x);

/* IEEE 754 bit patterns (the wire form of FLOAT32/FLOAT64 registers). */
uint32_t fw_float_bits(float v);
float fw_float_from_bits(uint32_t bits);
uint64_t fw_double_bits(double v);
double fw_double_from_bits(uint64_t bits);

/* Seeded pseudo-random numbers (xorshift64*), so simulated specimens and sensor noise are
 * reproducible from one seed. Any seed is accepted (0 included); equal seeds give equal sequences. */
struct fw_rng {
    uint64_t state;     /* never 0: xorshift would stay at 0 forever */
    double spare_gauss; /* Box–Muller yields pairs; the second one waits here */
    int has_spare;
};

void fw_rng_seed(struct fw_rng *rng, uint64_t seed);
uint64_t fw_rng_next_u64(struct fw_rng *rng);
/* Uniform in the open interval (0, 1): never exactly 0, so the log in Box–Muller stays finite. */
double fw_rng_uniform(struct fw_rng *rng);
/* Standard normal (mean 0, SD 1). */
double fw_rng_gauss(struct fw_rng *rng);

#endif /* FWRT_H */
