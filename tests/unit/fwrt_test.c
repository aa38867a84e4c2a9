/* fwrt_test.c — the firmware's freestanding math against the host libm, bit casts, memory helpers and the seeded generator. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fwrt/core/fwrt.h"

/* |got − want| <= rel·|want| + abs_tol, with the worst case reported. */
static void check_close(const char *what, double x, double got, double want, double rel, double abs_tol)
{
    if (!(fabs(got - want) <= rel * fabs(want) + abs_tol))
        fail_msg("%s(%.17g) = %.17g, libm says %.17g", what, x, got, want);
}

static void test_exp_log_pow(void **state)
{
    (void)state;
    for (double x = -700.0; x <= 700.0; x += 0.37)
        check_close("exp", x, fw_exp(x), exp(x), 4e-15, 0);
    for (double x = -1.0; x <= 1.0; x += 0.001)
        check_close("exp", x, fw_exp(x), exp(x), 5e-16, 0);
    assert_true(fw_exp(800.0) == INFINITY);
    assert_true(fw_exp(-800.0) == 0.0);
    assert_true(isnan(fw_exp(NAN)));

    for (double x = 1e-300; x < 1e300; x *= 1.9)
        check_close("log", x, fw_log(x), log(x), 4.5e-16, 1e-16);
    for (double x = 0.5; x <= 2.0; x += 0.0007)
        check_close("log", x, fw_log(x), log(x), 4e-16, 1e-17);
    check_close("log", 4.9e-324, fw_log(4.9e-324), log(4.9e-324), 1e-15, 0); /* subnormal */
    assert_true(fw_log(0.0) == -INFINITY);
    assert_true(isnan(fw_log(-1.0)));
    assert_true(fw_log(1.0) == 0.0);

    /* the load-frame curve uses (1 − x)^k with x in [0, 1) and k >= 1 */
    for (double b = 0.001; b <= 1.0; b += 0.0131)
        for (double k = 1.0; k <= 40.0; k += 1.7)
            check_close("pow", b, fw_pow(b, k), pow(b, k), 1e-13, 1e-300);
    assert_true(fw_pow(0.0, 2.5) == 0.0);
    assert_true(fw_pow(5.0, 0.0) == 1.0);
    assert_true(fw_pow(-2.0, 3.0) == -8.0 || fabs(fw_pow(-2.0, 3.0) + 8.0) < 1e-14);
    assert_true(isnan(fw_pow(-2.0, 0.5)));
}

static void test_sqrt_and_trig(void **state)
{
    (void)state;
    for (double x = 1e-300; x < 1e300; x *= 1.7)
        check_close("sqrt", x, fw_sqrt(x), sqrt(x), 2.3e-16, 0);
    assert_true(fw_sqrt(4.0) == 2.0);
    assert_true(fw_sqrt(0.0) == 0.0);
    assert_true(isnan(fw_sqrt(-1.0)));

    for (double x = -50.0; x <= 50.0; x += 0.0093) {
        check_close("sin", x, fw_sin(x), sin(x), 0, 1e-15);
        check_close("cos", x, fw_cos(x), cos(x), 0, 1e-15);
    }
    check_close("cos", 150.0 * FW_PI / 180.0, fw_cos(150.0 * FW_PI / 180.0), -sqrt(3.0) / 2.0, 0, 1e-15);
    check_close("sin", 12345.678, fw_sin(12345.678), sin(12345.678), 0, 1e-12);
    assert_true(isnan(fw_cos(INFINITY)));

    for (double x = -1.0; x <= 1.0; x += 0.00097)
        check_close("acos", x, fw_acos(x), acos(x), 0, 1e-14);
    assert_true(fw_acos(1.0) == 0.0);
    check_close("acos", -1.0, fw_acos(-1.0), M_PI, 0, 1e-15);
    assert_true(isnan(fw_acos(1.5)));
}

static void test_bits_and_memory(void **state)
{
    (void)state;
    assert_int_equal(fw_float_bits(23.5f), 0x41BC0000u);
    assert_true(fw_float_from_bits(0xC49A522Bu) == -1234.5678f);
    assert_int_equal(fw_double_bits(6.02214076e23), 0x44DFE185CA57C517ull);
    assert_true(fw_double_from_bits(0x3FF0000000000000ull) == 1.0);
    assert_true(fw_isfinite(1e308) && !fw_isfinite(INFINITY) && !fw_isfinite(NAN));
    assert_true(fw_isfinitef(3.4e38f) && !fw_isfinitef((float)INFINITY) && !fw_isfinitef(NAN));
    assert_true(fw_fabs(-0.0) == 0.0 && !signbit(fw_fabs(-0.0)));

    unsigned char a[16], b[16];
    fw_memset(a, 0xA5, sizeof a);
    for (size_t i = 0; i < sizeof a; i++)
        assert_int_equal(a[i], 0xA5);
    for (size_t i = 0; i < sizeof b; i++)
        b[i] = (unsigned char)i;
    fw_memcpy(a + 2, b, 8);
    assert_memory_equal(a + 2, b, 8);
    assert_int_equal(a[1], 0xA5);
    assert_int_equal(a[10], 0xA5);
    assert_true(fw_strcmp("pp-demo", "pp-demo") == 0);
    assert_true(fw_strcmp("abs", "pp") < 0);
    assert_true(fw_strcmp("pp-demo", "pp") > 0);
}

static void test_rng_reproducible_and_normal(void **state)
{
    (void)state;
    struct fw_rng a, b;
    fw_rng_seed(&a, 7);
    fw_rng_seed(&b, 7);
    for (int i = 0; i < 100; i++)
        assert_true(fw_rng_next_u64(&a) == fw_rng_next_u64(&b));
    fw_rng_seed(&b, 8);
    assert_true(fw_rng_next_u64(&a) != fw_rng_next_u64(&b));
    /* a seed of 0 does not stall the generator */
    fw_rng_seed(&a, 0);
    assert_true(fw_rng_next_u64(&a) != fw_rng_next_u64(&a));

    fw_rng_seed(&a, 42);
    double sum = 0, sum2 = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double g = fw_rng_gauss(&a);
        sum += g;
        sum2 += g * g;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    /* 5 standard errors: SE(mean) = 1/√n ≈ 0.0022, SE(var) ≈ √(2/n) ≈ 0.0032 */
    assert_true(fabs(mean) < 0.012);
    assert_true(fabs(var - 1.0) < 0.016);
    for (int i = 0; i < 10000; i++) {
        double u = fw_rng_uniform(&a);
        assert_true(u > 0.0 && u < 1.0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exp_log_pow),
        cmocka_unit_test(test_sqrt_and_trig),
        cmocka_unit_test(test_bits_and_memory),
        cmocka_unit_test(test_rng_reproducible_and_normal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
