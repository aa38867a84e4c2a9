/* fwrt.c — freestanding memory helpers and elementary functions (exp, log, pow, sqrt, sin, cos, acos). */
#include "fwrt/core/fwrt.h"

void fw_memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--)
        *d++ = *s++;
}

void fw_memset(void *dst, int byte, size_t n)
{
    unsigned char *d = dst;
    while (n--)
        *d++ = (unsigned char)byte;
}

int fw_strcmp(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return (int)(unsigned char)*a - (int)(unsigned char)*b;
}

/* Unions are the C11 way to reinterpret bits without memcpy (which a freestanding core lacks). */
uint32_t fw_float_bits(float v)
{
    union {
        float f;
        uint32_t u;
    } x = {.f = v};
    return x.u;
}

float fw_float_from_bits(uint32_t bits)
{
    union {
        uint32_t u;
        float f;
    } x = {.u = bits};
    return x.f;
}

uint64_t fw_double_bits(double v)
{
    union {
        double d;
        uint64_t u;
    } x = {.d = v};
    return x.u;
}

double fw_double_from_bits(uint64_t bits)
{
    union {
        uint64_t u;
        double d;
    } x = {.u = bits};
    return x.d;
}

#define EXP_MASK 0x7FF0000000000000ull
#define POS_INF_BITS 0x7FF0000000000000ull
#define QNAN_BITS 0x7FF8000000000000ull

static double pos_inf(void)
{
    return fw_double_from_bits(POS_INF_BITS);
}

static double quiet_nan(void)
{
    return fw_double_from_bits(QNAN_BITS);
}

int fw_isfinite(double v)
{
    return (fw_double_bits(v) & EXP_MASK) != EXP_MASK;
}

int fw_isfinitef(float v)
{
    return (fw_float_bits(v) & 0x7F800000u) != 0x7F800000u;
}

double fw_fabs(double v)
{
    return fw_double_from_bits(fw_double_bits(v) & ~(1ull << 63));
}

/* 2^n for any n a double can scale by, built from exponent bits (two steps beyond the normal range). */
static double scale_by_pow2(double v, int n)
{
    while (n > 1023) {
        v *= fw_double_from_bits((uint64_t)(1023 + 1023) << 52);
        n -= 1023;
    }
    while (n < -1022) {
        v *= fw_double_from_bits((uint64_t)(1023 - 1022) << 52);
        n += 1022;
    }
    return v * fw_double_from_bits((uint64_t)(n + 1023) << 52);
}

/* ln 2 split so that n·LN2_HI is exact for |n| < 2^20: the reduction x − n·ln2 loses no bits. */
#define LN2_HI 6.9314718036912381649e-01
#define LN2_LO 1.9082149292705877000e-10
#define INV_LN2 1.44269504088896338700e+00

static long round_to_long(double v)
{
    return v >= 0.0 ? (long)(v + 0.5) : -(long)(0.5 - v);
}

double fw_exp(double x)
{
    if (x != x)
        return x;
    if (x > 709.782712893384)
        return pos_inf();
    if (x < -745.2)
        return 0.0;
    long n = round_to_long(x * INV_LN2);
    double r = (x - (double)n * LN2_HI) - (double)n * LN2_LO; /* |r| <= ln2/2 */
    /* Taylor series to r^14/14!: the next term is below 1e-18 for |r| <= 0.347. */
    double sum = 1.0;
    for (int k = 14; k >= 1; k--)
        sum = 1.0 + sum * r / (double)k;
    return scale_by_pow2(sum, (int)n);
}

#define SQRT2 1.41421356237309504880

double fw_log(double x)
{
    if (x != x || x < 0.0)
        return quiet_nan();
    if (x == 0.0)
        return -pos_inf();
    if (!fw_isfinite(x))
        return x;
    int e = 0;
    if (x < 2.2250738585072014e-308) { /* subnormal: make it normal first */
        x *= 18014398509481984.0;        /* 2^54 */
        e = -54;
    }
    uint64_t bits = fw_double_bits(x);
    e += (int)((bits >> 52) & 0x7FF) - 1023;
    double m = fw_double_from_bits((bits & 0x000FFFFFFFFFFFFFull) | (1023ull << 52)); /* [1, 2) */
    if (m > SQRT2) {
        m *= 0.5;
        e++;
    }
    /* log m = 2·atanh(s), s = (m−1)/(m+1), |s| <= 0.1716: the odd series converges fast. */
    double s = (m - 1.0) / (m + 1.0);
    double s2 = s * s;
    double sum = 0.0;
    for (int k = 12; k >= 0; k--)
        sum = 1.0 / (double)(2 * k + 1) + s2 * sum;
    double log_m = 2.0 * s * sum;
    return ((double)e * LN2_HI + log_m) + (double)e * LN2_LO;
}

static int is_integer(double v)
{
    if (!fw_isfinite(v))
        return 0;
    if (fw_fabs(v) >= 4503599627370496.0) /* 2^52: every double this large is an integer */
        return 1;
    long n = (long)v;
    return (double)n == v;
}

double fw_pow(double base, double e)
{
    if (e == 0.0 || base == 1.0)
        return 1.0;
    if (base != base || e != e)
        return quiet_nan();
    if (base == 0.0)
        return e > 0.0 ? 0.0 : pos_inf();
    if (base < 0.0) {
        if (!is_integer(e))
            return quiet_nan();
        double mag = fw_exp(e * fw_log(-base));
        int odd = fw_fabs(e) < 4503599627370496.0 && ((long)e % 2 != 0);
        return odd ? -mag : mag;
    }
    return fw_exp(e * fw_log(base));
}

double fw_sqrt(double v)
{
    if (v != v || v < 0.0)
        return quiet_nan();
    if (v == 0.0 || !fw_isfinite(v))
        return v;
    /* Halving the exponent gives a start within a few per cent; Newton doubles the digits. */
    double y = fw_double_from_bits((fw_double_bits(v) >> 1) + 0x1FF8000000000000ull);
    for (int i = 0; i < 10; i++)
        y = 0.5 * (y + v / y);
    return y;
}

/* π/2 in three parts (33 + 33 + 53 bits): k·PIO2_1 and k·PIO2_2 are exact for |k| < 2^20. */
#define PIO2_1 1.5707963267341256e+00
#define PIO2_2 6.077100506303966e-11
#define PIO2_3 2.0222662487959506e-21
#define TWO_OVER_PI 6.36619772367581382433e-01
#define TWO_PI 6.28318530717958647692

/* x = k·π/2 + r with |r| <= π/4; returns k mod 4. */
static int reduce_quadrant(double x, double *r)
{
    if (fw_fabs(x) > 1e6) {
        /* Far out the three-part split is no longer exact; bring x near 0 first (less exactly). */
        double turns = x / TWO_PI;
        double whole = turns >= 0.0 ? (double)(long long)turns : -(double)(long long)(-turns);
        x -= whole * TWO_PI;
    }
    long k = round_to_long(x * TWO_OVER_PI);
    *r = ((x - (double)k * PIO2_1) - (double)k * PIO2_2) - (double)k * PIO2_3;
    return (int)(((k % 4) + 4) % 4);
}

/* Taylor series on |r| <= π/4: the first omitted terms are below 1e-17. */
static double sin_kernel(double r)
{
    double r2 = r * r;
    double sum = 1.0;
    for (int k = 19; k >= 3; k -= 2)
        sum = 1.0 - sum * r2 / ((double)k * (double)(k - 1));
    return r * sum;
}

static double cos_kernel(double r)
{
    double r2 = r * r;
    double sum = 1.0;
    for (int k = 20; k >= 2; k -= 2)
        sum = 1.0 - sum * r2 / ((double)k * (double)(k - 1));
    return sum;
}

double fw_sin(double x)
{
    if (!fw_isfinite(x))
        return quiet_nan();
    double r;
    switch (reduce_quadrant(x, &r)) {
    case 0: return sin_kernel(r);
    case 1: return cos_kernel(r);
    case 2: return -sin_kernel(r);
    default: return -cos_kernel(r);
    }
}

double fw_cos(double x)
{
    if (!fw_isfinite(x))
        return quiet_nan();
    double r;
    switch (reduce_quadrant(x, &r)) {
    case 0: return cos_kernel(r);
    case 1: return -sin_kernel(r);
    case 2: return -cos_kernel(r);
    default: return sin_kernel(r);
    }
}

#define PI_OVER_6 5.2359877559829893e-01
#define PI_OVER_2 1.5707963267948966e+00
#define SQRT3 1.73205080756887729353
#define TAN_PI_OVER_12 2.67949192431122706473e-01

/* atan for t >= 0: fold t > 1 onto 1/t and t > tan(π/12) onto a π/6 shift, then the series. */
static double atan_nonneg(double t)
{
    if (!fw_isfinite(t))
        return PI_OVER_2;
    int inverted = t > 1.0;
    if (inverted)
        t = 1.0 / t;
    int shifted = t > TAN_PI_OVER_12;
    if (shifted)
        t = (t * SQRT3 - 1.0) / (SQRT3 + t);
    double t2 = t * t;
    double sum = 0.0;
    for (int k = 15; k >= 0; k--)
        sum = ((k % 2) ? -1.0 : 1.0) / (double)(2 * k + 1) + t2 * sum;
    double a = t * sum;
    if (shifted)
        a += PI_OVER_6;
    return inverted ? PI_OVER_2 - a : a;
}

double fw_acos(double x)
{
    if (x != x || x < -1.0 || x > 1.0)
        return quiet_nan();
    if (x == -1.0)
        return 2.0 * PI_OVER_2;
    /* acos x = 2·atan(√((1−x)/(1+x))) */
    return 2.0 * atan_nonneg(fw_sqrt((1.0 - x) / (1.0 + x)));
}
