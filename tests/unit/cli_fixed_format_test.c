/* cli_fixed_format_test.c — pd_fixed_format and polydaq's __snprintf_chk wrapper (src/cli/fixed_format.c)
 * write exactly what glibc's "%.*f" writes: random doubles of every magnitude and precision, every
 * kind of tie, signs, zeros, subnormals, truncation, and glibc's own output where the fast path steps
 * aside (not finite, ≥ 2^53, another rounding mode, other formats). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fenv.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

/* glibc's formatting, through vsnprintf: never the wrapped __snprintf_chk, even when this file is
 * built with _FORTIFY_SOURCE. */
static int reference(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

/* What cairo calls (its snprintf, built with _FORTIFY_SOURCE); the test links with
 * --wrap=__snprintf_chk as polydaq does, so this reaches __wrap___snprintf_chk. */
int __snprintf_chk(char *s, size_t maxlen, int flag, size_t slen, const char *format, ...);

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t next_u64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Compares pd_fixed_format with glibc for d at precision prec; returns 1 when the fast path took it. */
static int same_as_glibc(double d, int prec)
{
    char mine[96], ref[96];
    memset(mine, 'x', sizeof mine);
    int n = pd_fixed_format(mine, sizeof mine, prec, d);
    int r = reference(ref, sizeof ref, "%.*f", prec, d);
    if (n < 0) {
        assert_int_equal(mine[0], 'x'); /* untouched */
        return 0;
    }
    if (n != r || strcmp(mine, ref) != 0)
        fail_msg("%.17g at %d decimals: got \"%s\" (%d), glibc \"%s\" (%d)", d, prec, mine, n, ref, r);
    return 1;
}

static void test_random_doubles_every_magnitude_and_precision(void **state)
{
    (void)state;
    int fast = 0, total = 0;
    for (int i = 0; i < 200000; i++) {
        /* a random mantissa and sign, an exponent from subnormal to just below 2^54 */
        uint64_t bits = next_u64();
        uint64_t biased = next_u64() % (1023 + 54);
        bits = (bits & 0x800fffffffffffffull) | (biased << 52);
        double d;
        memcpy(&d, &bits, sizeof d);
        int prec = (int)(next_u64() % 19);
        fast += same_as_glibc(d, prec);
        total++;
    }
    /* plot-like coordinates: what a PDF page holds */
    for (int i = 0; i < 100000; i++) {
        double d = ((double)(next_u64() >> 11) / 9007199254740992.0 - 0.25) * 1000.0;
        fast += same_as_glibc(d, 6);
        fast += same_as_glibc(d * 1e-5, 18);
        total += 2;
    }
    assert_true(fast > total * 9 / 10); /* the fast path really ran: only |d| ≥ 2^53 is glibc's */
}

static void test_ties_round_to_even_like_glibc(void **state)
{
    (void)state;
    /* Exactly halfway at `prec` decimals: m / 2^(prec+1) with m odd, and a few by hand. */
    for (int prec = 0; prec <= 18; prec++)
        for (int i = 0; i < 600; i++) {
            uint64_t m = (next_u64() >> (11 + (i % 40))) | 1;
            double d = ldexp((double)m, -(prec + 1));
            assert_true(same_as_glibc(d, prec) || fabs(d) >= 9007199254740992.0);
            assert_true(same_as_glibc(-d, prec) || fabs(d) >= 9007199254740992.0);
        }
    const double by_hand[] = {0.5, 1.5, 2.5, 3.5, 0.125, 0.375, 0.0625, 1e6 + 0.5, 4503599627370495.5};
    for (size_t i = 0; i < sizeof by_hand / sizeof by_hand[0]; i++)
        for (int prec = 0; prec <= 4; prec++)
            assert_true(same_as_glibc(by_hand[i], prec));
    char b[32];
    pd_fixed_format(b, sizeof b, 0, 2.5);
    assert_string_equal(b, "2");
    pd_fixed_format(b, sizeof b, 2, 0.125);
    assert_string_equal(b, "0.12");
    pd_fixed_format(b, sizeof b, 2, 0.375);
    assert_string_equal(b, "0.38");
}

static void test_signs_zeros_subnormals_and_edges(void **state)
{
    (void)state;
    const double edge[] = {0.0,    -0.0,     1e-9,   -1e-9,   4.9e-324, -4.9e-324, 2.2250738585072014e-308,
                           0.0999999999999999, 0.1,  -0.1,    1.0,      -1.0,      999999.9999995,
                           9007199254740991.0, 123456.7890125, 0.000000499999, 0.0000005, 0.0000005000001};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
        for (int prec = 0; prec <= 18; prec++)
            assert_true(same_as_glibc(edge[i], prec));
    char b[32];
    pd_fixed_format(b, sizeof b, 6, -1e-9);
    assert_string_equal(b, "-0.000000"); /* glibc keeps the sign */
    pd_fixed_format(b, sizeof b, 6, -0.0);
    assert_string_equal(b, "-0.000000");
}

static void test_left_to_glibc_where_it_must_be(void **state)
{
    (void)state;
    char b[64] = "untouched";
    assert_int_equal(pd_fixed_format(b, sizeof b, 6, NAN), -1);
    assert_int_equal(pd_fixed_format(b, sizeof b, 6, INFINITY), -1);
    assert_int_equal(pd_fixed_format(b, sizeof b, 6, 9007199254740992.0), -1); /* 2^53 */
    assert_int_equal(pd_fixed_format(b, sizeof b, 19, 1.0), -1);
    assert_int_equal(pd_fixed_format(b, sizeof b, -1, 1.0), -1);
    assert_int_equal(fesetround(FE_UPWARD), 0);
    assert_int_equal(pd_fixed_format(b, sizeof b, 6, 0.1), -1);
    char w[64], ref[64];
    assert_int_equal(__snprintf_chk(w, sizeof w, 1, sizeof w, "%f", 0.1000001), reference(ref, sizeof ref, "%f", 0.1000001));
    assert_string_equal(w, ref); /* glibc's, rounded up */
    assert_int_equal(fesetround(FE_TONEAREST), 0);
    assert_string_equal(b, "untouched");
}

static void test_truncation_like_snprintf(void **state)
{
    (void)state;
    for (size_t size = 0; size < 12; size++) {
        char mine[16], ref[16];
        memset(mine, 'x', sizeof mine);
        memset(ref, 'x', sizeof ref);
        int n = pd_fixed_format(mine, size, 6, -3.14159265);
        int r = reference(ref, size, "%.*f", 6, -3.14159265);
        assert_int_equal(n, r);
        assert_memory_equal(mine, ref, sizeof mine);
    }
}

static void test_the_wrapper_formats_cairos_numbers_and_passes_the_rest_on(void **state)
{
    (void)state;
    char w[128], ref[128];
    for (int i = 0; i < 2000; i++) {
        double d = ((double)(next_u64() >> 11) / 9007199254740992.0 - 0.5) * 2000.0;
        int n = __snprintf_chk(w, sizeof w, 1, sizeof w, "%f", d);
        assert_int_equal(n, reference(ref, sizeof ref, "%f", d));
        assert_string_equal(w, ref);
        n = __snprintf_chk(w, sizeof w, 1, sizeof w, "%.18f", d * 1e-4);
        assert_int_equal(n, reference(ref, sizeof ref, "%.18f", d * 1e-4));
        assert_string_equal(w, ref);
        int prec = i % 19;
        n = __snprintf_chk(w, sizeof w, 1, sizeof w, "%.*f", prec, d);
        assert_int_equal(n, reference(ref, sizeof ref, "%.*f", prec, d));
        assert_string_equal(w, ref);
    }
    /* not a number format of cairo's: glibc's vsnprintf */
    int n = __snprintf_chk(w, sizeof w, 1, sizeof w, "%d-%s-%.3e", 42, "x", 1.5);
    assert_int_equal(n, 14);
    assert_string_equal(w, "42-x-1.500e+00");
    n = __snprintf_chk(w, sizeof w, 1, sizeof w, "%f", INFINITY);
    assert_string_equal(w, "inf");
    n = __snprintf_chk(w, sizeof w, 1, sizeof w, "%f", 1e300);
    assert_int_equal(n, reference(ref, sizeof ref, "%f", 1e300));
    assert_string_equal(w, ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_doubles_every_magnitude_and_precision),
        cmocka_unit_test(test_ties_round_to_even_like_glibc),
        cmocka_unit_test(test_signs_zeros_subnormals_and_edges),
        cmocka_unit_test(test_left_to_glibc_where_it_must_be),
        cmocka_unit_test(test_truncation_like_snprintf),
        cmocka_unit_test(test_the_wrapper_formats_cairos_numbers_and_passes_the_rest_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
