/* import_number_test.c — import's own decimal parser against the C library's strtod (the
 * independent reference): the same double, bit for bit, for a million numbers written the ways
 * exports write them (fixed, %g, 17 digits, exponents, long mantissas, tiny and huge), with a
 * decimal comma and with thousands separators; and refusal of everything that is not a number. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/noise.h"
#include "import/import.h"

static int parse(const char *s, char dec, char thou, double *v)
{
    return pd_import_number(s, s + strlen(s), dec, thou, v);
}

/* Asserts the parser gives strtod's double for text written with '.' (and the same text with the
 * separators a locale would use). */
static void check_same(const char *text)
{
    double want = strtod(text, NULL), got = -1.0;
    if (parse(text, '.', 0, &got) != 0 || memcmp(&want, &got, sizeof want) != 0)
        fail_msg("'%s': strtod %.17g, parser %.17g", text, want, got);
    char comma[128];
    snprintf(comma, sizeof comma, "%s", text);
    char *dot = strchr(comma, '.');
    if (dot) {
        *dot = ',';
        got = -1.0;
        if (parse(comma, ',', 0, &got) != 0 || memcmp(&want, &got, sizeof want) != 0)
            fail_msg("'%s' (decimal comma): strtod %.17g, parser %.17g", comma, want, got);
    }
}

static void test_random_numbers_match_strtod(void **state)
{
    (void)state;
    struct pd_test_rng rng = {.state = 20261203};
    char text[128];
    for (int i = 0; i < 1000000; i++) {
        double mag = pow(10.0, 12.0 * pd_test_uniform01(&rng) - 6.0);
        double x = (pd_test_uniform01(&rng) < 0.3 ? -1.0 : 1.0) * mag * pd_test_gaussian(&rng);
        switch (i % 6) {
        case 0: snprintf(text, sizeof text, "%.5f", x); break;     /* Bluehill-like */
        case 1: snprintf(text, sizeof text, "%g", x); break;       /* testXpert-like */
        case 2: snprintf(text, sizeof text, "%.17g", x); break;    /* round-trip text */
        case 3: snprintf(text, sizeof text, "%.9e", x); break;     /* exponent form */
        case 4: snprintf(text, sizeof text, "%.*f", (int)(i % 12), x); break;
        default: snprintf(text, sizeof text, "%.25f", x); break; /* beyond the exact fast path */
        }
        check_same(text);
    }
}

static void test_edge_numbers(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "0", "-0", "+0", "0.0", "00012", "1.", ".5", "-.5", "+3.25", "1e0", "1E+5", "1e-5", "2.5e22", "2.5e23",
        "9007199254740992", "9007199254740993", "18446744073709551615", "123456789012345678901234567890",
        "0.000000000000000000000000000001", "4.9406564584124654e-324", "2.2250738585072014e-308",
        "1.7976931348623157e308", "0.1", "0.2", "0.3", "1190.56", "0.000333918", "462.86465", "1e-400",
        "3.141592653589793238462643383279", "100000000000000000000000", "0.00000000000000000000001",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        check_same(texts[i]);
}

static void test_thousands_separators(void **state)
{
    (void)state;
    struct {
        const char *text, *plain;
        char dec, thou;
    } ok[] = {
        {"1,004.8", "1004.8", '.', ','},        {"242,370.29658", "242370.29658", '.', ','},
        {"10,166.89062", "10166.89062", '.', ','}, {"1,234,567", "1234567", '.', ','},
        {"-9,286.44727", "-9286.44727", '.', ','}, {"1.004,8", "1004.8", ',', '.'},
        {"999.5", "999.5", '.', ','},           {"1 000,25", "1000.25", ',', ' '},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        double got, want = strtod(ok[i].plain, NULL);
        if (parse(ok[i].text, ok[i].dec, ok[i].thou, &got) != 0 || got != want)
            fail_msg("'%s' should read as %s", ok[i].text, ok[i].plain);
    }
    /* misplaced separators are not numbers */
    static const char *const bad[] = {"1,00.5", "1,0000", ",100", "1,,000", "1000,", "12,34,567"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v;
        if (parse(bad[i], '.', ',', &v) == 0)
            fail_msg("'%s' accepted as %.17g", bad[i], v);
    }
}

static void test_refuses_non_numbers(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "-", "+", ".", "e5", "1e", "1e+", "1.2.3", "nan", "NaN", "inf", "-inf", "Infinity", "0x10", "1,5",
        " 1", "1 ", "1.5x", "--1", "1e999", "-1e400000", "12a", "\"1\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v = 42.0;
        if (parse(bad[i], '.', 0, &v) == 0)
            fail_msg("'%s' accepted as %.17g", bad[i], v);
        assert_true(v == 42.0); /* output untouched on error */
    }
    double v;
    assert_int_not_equal(parse("1.5", ',', 0, &v), 0); /* a point where a comma is the decimal */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_numbers_match_strtod),
        cmocka_unit_test(test_edge_numbers),
        cmocka_unit_test(test_thousands_separators),
        cmocka_unit_test(test_refuses_non_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
