/* cert_rounding_test.c — pd_round_to_uncertainty (GUM 7.2.6 presentation of a result) against
 * hand-checked vectors and against Python's decimal module (tests/unit/cert_rounding_ref.py) on
 * random values and uncertainties over many magnitudes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cert/cert.h"

static void expect(double value, double U, const char *want_value, const char *want_U)
{
    struct pd_reported r;
    assert_int_equal(pd_round_to_uncertainty(value, U, &r), 0);
    if (strcmp(r.value, want_value) != 0 || strcmp(r.U, want_U) != 0)
        fail_msg("%.17g ± %.17g: got %s ± %s, expected %s ± %s", value, U, r.value, r.U, want_value, want_U);
}

/* Worked by hand: U to two significant digits (half away from zero on the decimal as written),
 * the value to the same place. */
static void test_hand_vectors(void **state)
{
    (void)state;
    expect(1503.74, 25.3, "1504", "25");
    expect(1503.74, 0.0995, "1503.74", "0.10"); /* 0.0995 → 0.100 → two digits: 0.10 */
    expect(12.3456, 9.95, "12", "10");          /* 9.95 (binary 9.9499…) → 10 */
    expect(0.12345, 0.0995, "0.12", "0.10");
    expect(2.345, 0.15, "2.35", "0.15");        /* 2.345 is 2.34499… in binary: the decimal rounds up */
    expect(-2.345, 0.15, "-2.35", "0.15");      /* halves away from zero */
    expect(-0.004, 0.15, "0.00", "0.15");       /* no "-0.00" */
    expect(35.0, 0.0, "35.00", "0");            /* U = 0: four significant digits */
    expect(1503.74, 0.0, "1504", "0");
    expect(0.000123456, 0.0, "0.0001235", "0");
    expect(0.0, 0.0, "0", "0");
    expect(56789.0, 1234.0, "56800", "1200");
    expect(56789.0, 99.5, "56790", "100");      /* 99.5 → 100 (two digits: 1.0e2) */
    expect(0.5, 0.0, "0.5000", "0");
    expect(1e-9, 2.5e-10, "0.00000000100", "0.00000000025");
    expect(7.0, 1.0, "7.0", "1.0");
    expect(0.96, 0.05, "0.960", "0.050");
    struct pd_reported r;
    assert_int_equal(pd_round_to_uncertainty(NAN, 1.0, &r), PD_EINVAL);
    assert_int_equal(pd_round_to_uncertainty(1.0, -1.0, &r), PD_EINVAL);
    assert_int_equal(pd_round_to_uncertainty(1.0, INFINITY, &r), PD_EINVAL);
}

static void test_shortest_decimal(void **state)
{
    (void)state;
    char buf[40];
    assert_int_equal(pd_decimal_shortest(9.95, buf, sizeof buf), 0);
    assert_string_equal(buf, "9.95e+00");
    assert_int_equal(pd_decimal_shortest(0.1 + 0.2, buf, sizeof buf), 0);
    assert_string_equal(buf, "3.0000000000000004e-01");
    assert_int_equal(pd_decimal_shortest(0.0005, buf, sizeof buf), 0);
    assert_string_equal(buf, "5e-04");
    static const struct {
        double x;
        const char *plain;
    } plain[] = {{10.0, "10"}, {0.0005, "0.0005"}, {1503.7, "1503.7"}, {-0.0025, "-0.0025"}, {0.0, "0"},
                 {1e20, "1e+20"}, {1.5e-7, "1.5e-07"}, {115.0, "115"}, {0.1 + 0.2, "0.30000000000000004"}};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        assert_int_equal(pd_decimal_plain(plain[i].x, buf, sizeof buf), 0);
        assert_string_equal(buf, plain[i].plain);
        assert_true(strtod(buf, NULL) == plain[i].x);
    }
}

/* The definition pd_decimal_shortest's shorter search must agree with: p = 1, 2, … 17, the first
 * p-digit form that reads back. */
static void shortest_by_steps(double x, char *buf, size_t size)
{
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, size, "%.*e", p - 1, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

static void test_shortest_decimal_search_finds_the_first_length(void **state)
{
    (void)state;
    uint64_t z = 0x2545f4914f6cdd1dull;
    char mine[40], ref[40];
    for (int i = 0; i < 8000; i++) {
        z ^= z << 13;
        z ^= z >> 7;
        z ^= z << 17;
        double x;
        switch (i % 5) {
        case 0: { /* any finite double */
            uint64_t bits = z;
            if (((bits >> 52) & 0x7ff) == 0x7ff)
                bits ^= 1ull << 62;
            memcpy(&x, &bits, sizeof x);
            break;
        }
        case 1: /* a computed result */
            x = (double)(z >> 11) / 9007199254740992.0 * 3000.0 / 7.0;
            break;
        case 2: { /* a short decimal, 1 to 15 digits, and its neighbours */
            char text[48];
            snprintf(text, sizeof text, "%.*e", (int)(z % 15), (double)(z >> 11) / 9007199254740992.0);
            x = strtod(text, NULL);
            x = (z >> 60) == 0 ? nextafter(x, INFINITY) : (z >> 60) == 1 ? nextafter(x, -INFINITY) : x;
            break;
        }
        case 3: /* powers of two (their lower neighbour is nearer) and their neighbours */
            x = ldexp(1.0, (int)(z % 2000) - 1000);
            x = (z >> 62) == 0 ? nextafter(x, 0.0) : (z >> 62) == 1 ? nextafter(x, INFINITY) : x;
            break;
        default: /* subnormals and the extremes */
            x = ldexp((double)(z >> 40), -1074);
            if (z % 7 == 0)
                x = DBL_MAX;
            break;
        }
        if ((z >> 32) & 1)
            x = -x;
        assert_int_equal(pd_decimal_shortest(x, mine, sizeof mine), 0);
        shortest_by_steps(x, ref, sizeof ref);
        if (strcmp(mine, ref) != 0)
            fail_msg("%a: got %s, the first form that reads back is %s", x, mine, ref);
    }
}

/* A random double with a random number of significant digits, so ties (…5) are common. */
static double random_number(unsigned *seed, int lo_exp, int hi_exp)
{
    int digits = 1 + (int)(rand_r(seed) % 6);
    long m = 0;
    for (int i = 0; i < digits; i++)
        m = m * 10 + (long)(rand_r(seed) % 10);
    int e = lo_exp + (int)(rand_r(seed) % (unsigned)(hi_exp - lo_exp + 1));
    char text[64];
    snprintf(text, sizeof text, "%lde%d", m, e);
    return strtod(text, NULL) * (rand_r(seed) % 4 == 0 ? -1.0 : 1.0);
}

static void test_against_python_decimal(void **state)
{
    (void)state;
    enum { N = 20000 };
    char in[] = "/tmp/pd_rounding_in_XXXXXX";
    int fd = mkstemp(in);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    static double vals[N], us[N];
    unsigned seed = 12345;
    for (int i = 0; i < N; i++) {
        vals[i] = random_number(&seed, -12, 6);
        us[i] = i % 10 == 0 ? 0.0 : fabs(random_number(&seed, -12, 4));
        if (i % 7 == 0) /* genuine measured values: arbitrary binary doubles */
            vals[i] = (double)rand_r(&seed) / RAND_MAX * pow(10.0, (double)(rand_r(&seed) % 10) - 4);
        fprintf(f, "%.17g %.17g\n", vals[i], us[i]);
    }
    fclose(f);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/unit/cert_rounding_ref.py < %s", PD_SOURCE_DIR, in);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[512];
    int n = 0, bad = 0;
    while (fgets(line, sizeof line, p) && n < N) {
        char wv[256], wu[256];
        assert_int_equal(sscanf(line, "%255s %255s", wv, wu), 2);
        struct pd_reported r;
        int rc = pd_round_to_uncertainty(vals[n], us[n], &r);
        if (rc == PD_ERANGE) { /* wider than the text buffer: only for values far above U */
            assert_true(strlen(wv) >= sizeof r.value - 1);
        } else if (rc != 0 || strcmp(r.value, wv) != 0 || strcmp(r.U, wu) != 0) {
            if (bad++ < 10)
                print_error("%.17g ± %.17g: got %s ± %s, decimal says %s ± %s\n", vals[n], us[n],
                            rc == 0 ? r.value : "(error)", rc == 0 ? r.U : "", wv, wu);
        }
        n++;
    }
    int status = pclose(p);
    unlink(in);
    assert_int_equal(status, 0);
    assert_int_equal(n, N);
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_vectors),
        cmocka_unit_test(test_shortest_decimal),
        cmocka_unit_test(test_shortest_decimal_search_finds_the_first_length),
        cmocka_unit_test(test_against_python_decimal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
