/* cert_tensile_noise_test.c — ISO 527 / ISO 178 evaluation on noisy and awkward curves: the chord
 * modulus against its ISO 527-1 formula computed here, the flexural maximum σfM under force noise
 * (incl. the 0.05 N), brittle fracture (no yield), a load drop that is not a grip slip, a
 * noisy saw tooth that is one, the parameters' deviations, and the modulus uncertainty against a
 * Monte Carlo propagation (GUM Supplement 1) of the same inputs through pd_tensile_evaluate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert.h"
#include "cert/cert_internal.h"
#include "common/curve.h"
#include "common/noise.h"

#define WIDTH     10.0
#define THICKNESS 4.0
#define GAUGE     75.0
#define AREA      (WIDTH * THICKNESS)

static void add(struct pd_test_curve *c, double force, double ext)
{
    assert_int_equal(pd_test_curve_add(c, force, ext), 0);
}

static struct pd_tensile_result evaluate(const struct pd_test_curve *c, const struct pd_tensile_params *p)
{
    struct pd_tensile_specimen sp = {.force_N = c->force,
                                     .extension_mm = c->ext,
                                     .n = c->n,
                                     .width_mm = WIDTH,
                                     .thickness_mm = THICKNESS,
                                     .gauge_length_mm = GAUGE};
    struct pd_tensile_result r;
    struct pd_err err = {0};
    int rc = pd_tensile_evaluate(&sp, p, &r, &err);
    if (rc != 0)
        fail_msg("evaluation failed: %s", err.msg);
    return r;
}

/* ---- the chord is ISO 527-1's formula -------------------------------------------------------*/
/* σ at strain t by linear interpolation between the first sample at or beyond t and the one
 * before it (test-methods.md §1: "σ1, σ2 by interpolation at exactly those strains"). */
static double iso_interp(const double *e, const double *s, size_t n, double t)
{
    size_t i = 0;
    while (i < n && e[i] < t)
        i++;
    assert_true(i > 0 && i < n);
    return s[i - 1] + (s[i] - s[i - 1]) * (t - e[i - 1]) / (e[i] - e[i - 1]);
}

static void test_chord_is_the_iso_interpolation(void **state)
{
    (void)state;
    struct pd_tensile_params p;
    pd_tensile_params_default(&p);
    assert_true(p.chord_window == 0.0); /* ISO by default */
    struct pd_test_rng rng = {.state = 178527};
    /* curved elastic ranges, sampled at irregular strains that never hit 0.05 % or 0.25 % */
    for (int shape = 0; shape < 3; shape++) {
        struct pd_test_curve c = {0};
        double e = 0.0;
        while (e < 0.02) {
            double s = shape == 0   ? 2000.0 * e - 2.0e4 * e * e
                       : shape == 1 ? 3000.0 * e * (1.0 - e / 0.05)
                                    : 1500.0 * tanh(e / 0.004) * 0.004 + 800.0 * e;
            add(&c, s * AREA, e * GAUGE);
            e += 1.3e-5 * (0.5 + pd_test_uniform01(&rng));
        }
        add(&c, 0.0, e * GAUGE);
        double *strain = malloc(c.n * sizeof *strain), *stress = malloc(c.n * sizeof *stress);
        assert_true(strain && stress);
        for (size_t i = 0; i < c.n; i++) {
            strain[i] = c.ext[i] / GAUGE;
            stress[i] = c.force[i] / AREA;
        }
        double want = (iso_interp(strain, stress, c.n, 0.0025) - iso_interp(strain, stress, c.n, 0.0005)) / 0.002;
        struct pd_tensile_result r = evaluate(&c, NULL);
        assert_true(r.has_modulus);
        if (fabs(r.modulus_MPa - want) > 1e-9 * want)
            fail_msg("shape %d: Et %.15g, ISO chord %.15g", shape, r.modulus_MPa, want);
        /* the old default (local fits over ±0.005 %) is a different number on a curved range */
        struct pd_tensile_params windowed = p;
        windowed.chord_window = 0.00005;
        struct pd_tensile_result w = evaluate(&c, &windowed);
        printf("shape %d: ISO chord %.3f MPa, windowed %.3f MPa (%+.3f %%)\n", shape, want, w.modulus_MPa,
               100.0 * (w.modulus_MPa - want) / want);
        free(strain);
        free(stress);
        pd_test_curve_free(&c);
    }
}

/* ---- ISO 178 σfM under noise -----------------------------------------------------------------*/
/* Flexural model: linear (2500 MPa) to 1 %, a power rise to the maximum 60 MPa at 2.5 % with the
 * slope kept at the joint, a smooth fall of 20 MPa over 1 %, ending past sC (3.5 % for h = 4). */
static double flex_stress(double e)
{
    if (e <= 0.01)
        return 2500.0 * e;
    if (e <= 0.025) {
        double x = (e - 0.01) / 0.015, k = 2500.0 * 0.015 / 35.0;
        return 25.0 + 35.0 * (1.0 - pow(1.0 - x, k));
    }
    double t = (e - 0.025) / 0.01;
    t = t > 1.0 ? 1.0 : t;
    return 60.0 - 20.0 * t * t * (3.0 - 2.0 * t);
}

#define SPAN 64.0
/* the sampled test: 2 mm/min at rate_hz; force (N) and deflection (mm) per sample */
static void flex_sample(double rate_hz, struct pd_test_curve *c, double **truth)
{
    double ds = 2.0 / 60.0 / rate_hz, to_strain = 6.0 * THICKNESS / (SPAN * SPAN);
    for (double s = 0.0; s * to_strain < 0.037; s += ds)
        add(c, flex_stress(s * to_strain) * 2.0 * WIDTH * THICKNESS * THICKNESS / (3.0 * SPAN), s);
    *truth = malloc(c->n * sizeof **truth);
    assert_non_null(*truth);
    for (size_t i = 0; i < c->n; i++)
        (*truth)[i] = flex_stress(c->ext[i] * to_strain);
}

/* The first sample beyond εf2 after which the noise-free curve falls 0.5 % of its highest stress
 * below it before rising above it (brute force); the highest one when there is none. */
static size_t first_max(const double *s, const double *strain_of_x, double x_scale, size_t n)
{
    double top = 0.0;
    for (size_t i = 0; i < n; i++)
        top = s[i] > top ? s[i] : top;
    for (size_t i = 0; i < n; i++) {
        if (strain_of_x[i] * x_scale <= 0.0025)
            continue;
        for (size_t j = i + 1; j < n && s[j] <= s[i]; j++)
            if (s[j] < s[i] - 0.005 * top)
                return i;
    }
    size_t best = 0;
    for (size_t i = 0; i < n; i++)
        best = s[i] > s[best] ? i : best;
    return best;
}

static void test_flexural_maximum_under_noise(void **state)
{
    (void)state;
    static const double rates[] = {10.0, 100.0, 1000.0};
    static const double levels[] = {0.0, 0.0005, 0.001, 0.0025, 0.005};
    struct pd_test_rng rng = {.state = 178};
    const double to_strain = 6.0 * THICKNESS / (SPAN * SPAN);
    for (size_t ri = 0; ri < 3; ri++) {
        struct pd_test_curve c = {0};
        double *truth;
        flex_sample(rates[ri], &c, &truth);
        size_t at = first_max(truth, c.ext, to_strain, c.n);
        double want = 3.0 * c.force[at] * SPAN / (2.0 * WIDTH * THICKNESS * THICKNESS);
        double peak_n = c.force[at];
        assert_true(fabs(want - 60.0) < 0.01); /* the model's maximum, as sampled */
        for (size_t li = 0; li < 5; li++) {
            for (int draw = 0; draw < (levels[li] > 0.0 ? 4 : 1); draw++) {
                double *f = malloc(c.n * sizeof *f);
                assert_non_null(f);
                for (size_t i = 0; i < c.n; i++)
                    f[i] = c.force[i] + levels[li] * peak_n * pd_test_gaussian(&rng);
                struct pd_flexural_result r;
                struct pd_err err = {0};
                assert_int_equal(pd_flexural_evaluate(f, c.ext, c.n, WIDTH, THICKNESS, SPAN, NULL, &r, &err), 0);
                assert_true(r.has_maximum);
                assert_false(r.reached_conventional);
                double tol = levels[li] > 0.0 ? (0.002 + 3.0 * levels[li]) * want : 1e-12 * want;
                if (fabs(r.max_stress_MPa - want) > tol)
                    fail_msg("%g Hz r %g %%: sigma_fM %.6g at %.3f %%, want %.6g ± %.2g", rates[ri], 100 * levels[li],
                             r.max_stress_MPa, 100 * r.strain_at_max, want, tol);
                free(f);
            }
        }
        /* the case: 0.05 N gave σfM 6.3 MPa at 0.25 % */
        for (int draw = 0; draw < 5; draw++) {
            double *f = malloc(c.n * sizeof *f);
            assert_non_null(f);
            for (size_t i = 0; i < c.n; i++)
                f[i] = c.force[i] + 0.05 * pd_test_gaussian(&rng);
            struct pd_flexural_result r;
            struct pd_err err = {0};
            assert_int_equal(pd_flexural_evaluate(f, c.ext, c.n, WIDTH, THICKNESS, SPAN, NULL, &r, &err), 0);
            assert_true(fabs(r.max_stress_MPa - want) <= (0.002 + 3.0 * 0.05 / peak_n) * want);
            assert_true(r.strain_at_max > 0.02);
            free(f);
        }
        free(truth);
        pd_test_curve_free(&c);
    }
}

/* ---- brittle: the fracture is not a yield point ---------------------------------------------*/
static void test_brittle_fracture_is_not_yield(void **state)
{
    (void)state;
    struct pd_test_rng rng = {.state = 3};
    for (int noisy = 0; noisy < 2; noisy++) {
        /* T2-like rise to 1.5 %, then a composite's fracture: the stress falls in steps of 5 % of
         * the maximum over 0.02 % strain to 55 % of it, where the record ends (never below 10 %) */
        struct pd_test_curve c = {0};
        double e = 0.0, top = 0.0;
        for (; e <= 0.015; e += 2e-6) {
            double s = 2000.0 * e * (1.0 - e / 0.08);
            top = s;
            add(&c, s * AREA + (noisy ? 0.5 * pd_test_gaussian(&rng) : 0.0), e * GAUGE);
        }
        for (int k = 1; k <= 9; k++)
            add(&c, top * (1.0 - 0.05 * k) * AREA, (e + k * 2e-5) * GAUGE);
        struct pd_tensile_result r = evaluate(&c, NULL);
        assert_false(r.has_yield);
        assert_true(isnan(r.yield_stress_MPa));
        assert_true(r.max_fracture);
        assert_true(r.load_drop);
        assert_false(r.has_break); /* never below 10 %: no break by the rule, and said so */
        assert_true(fabs(r.strength_MPa - top) <= (noisy ? 0.005 : 1e-12) * top);
        pd_test_curve_free(&c);
    }
}

/* ---- a load drop is not a grip slip; a noisy saw tooth is one --------------------------------*/
static double t1(double e)
{
    if (e <= 0.01)
        return 2000.0 * e;
    if (e <= 0.06) {
        double u = (0.06 - e) / 0.05;
        return 20.0 + 20.0 * (1.0 - u * u);
    }
    return e <= 0.10 ? 40.0 - 8.0 * (e - 0.06) / 0.04 : 32.0;
}

static void test_load_drop_and_grip_slip(void **state)
{
    (void)state;
    struct pd_test_rng rng = {.state = 11};
    for (int noisy = 0; noisy < 2; noisy++) {
        double sd = noisy ? 0.001 * 40.0 * AREA : 0.0; /* 0.1 % of the peak force */
        /* a permanent 10 % drop at 3 % strain: the load does not come back to the curve, though it
         * later passes the stress before the drop (0.9·40 > t1(3 %) = 32.8 MPa) */
        struct pd_test_curve drop = {0}, tooth = {0};
        double before = 0.0, at = 0.0; /* the last sample before the drop */
        for (int i = 0; i <= 30000; i++) {
            double e = i * 1e-5;
            double f = e > 0.03 ? 0.9 : 1.0;
            if (f == 1.0) {
                before = t1(e);
                at = e;
            }
            add(&drop, f * t1(e) * AREA + sd * pd_test_gaussian(&rng), e * GAUGE);
            /* a saw tooth: 20 % fall over 3 samples at 3 %, back on the curve 0.3 % later */
            double g = 1.0;
            if (e > 0.03 && e <= 0.03003)
                g = 1.0 - 0.2 * (e - 0.03) / 3e-5;
            else if (e > 0.03003 && e < 0.033)
                g = 0.8 + 0.2 * (e - 0.03003) / (0.033 - 0.03003);
            add(&tooth, g * t1(e) * AREA + sd * pd_test_gaussian(&rng), e * GAUGE);
        }
        add(&drop, 0.0, 0.30001 * GAUGE);
        add(&tooth, 0.0, 0.30001 * GAUGE);
        struct pd_tensile_result r = evaluate(&drop, NULL);
        assert_int_equal(r.grip_slips, 0);
        assert_true(r.load_drop);
        assert_true(fabs(r.load_drop_strain - at) < 1e-12);
        assert_true(fabs(r.strength_MPa - before) <= (noisy ? 0.005 : 1e-12) * before);
        assert_true(r.higher_after_max); /* the curve climbs past it later: reported */
        r = evaluate(&tooth, NULL);
        assert_int_equal(r.grip_slips, 1);
        assert_true(fabs(r.grip_slip_strain[0] - 0.03) < 2e-4);
        assert_false(r.load_drop);
        assert_true(r.has_yield);
        assert_true(fabs(r.yield_stress_MPa - 40.0) <= (noisy ? 0.005 : 1e-12) * 40.0);
        pd_test_curve_free(&drop);
        pd_test_curve_free(&tooth);
    }
}

/* ---- deviations --------------------------------------------------------------------------*/
static void test_deviations_stated(void **state)
{
    (void)state;
    static struct pd_method_def def;
    static char lines[CERT_MAX_DEVIATIONS][CERT_DEVIATION_LEN];
    struct pd_err err = {0};
    assert_int_equal(pd_method_defaults("iso527", &def, &err), 0);
    assert_non_null(cert_method_iso527.deviations);
    assert_int_equal(cert_method_iso527.deviations(&def, lines, CERT_MAX_DEVIATIONS), 0); /* the defaults are ISO */
    assert_int_equal(pd_method_load_string("v.yaml",
                                           "method: {id: iso527-lab, base: iso527}\n"
                                           "parameters: {chord_window: 0.00005, yield_smoothing: 0.002,\n"
                                           "  toe_compensation: true, e1: 0.001, break_fraction: 0.2}\n",
                                           &def, &err),
                     0);
    size_t n = cert_method_iso527.deviations(&def, lines, CERT_MAX_DEVIATIONS);
    assert_int_equal(n, 5);
    const char *want[] = {"0.1–0.25 %", "±0.005 % strain", "toe compensation", "moving average over 0.2 %", "20 %"};
    for (size_t i = 0; i < 5; i++)
        if (!strstr(lines[i], want[i]))
            fail_msg("deviation %zu: '%s' lacks '%s'", i, lines[i], want[i]);
    /* a regression modulus is one of ISO 527-1's own two ways: not a deviation */
    assert_int_equal(pd_method_load_string("r.yaml",
                                           "method: {id: iso527-r, base: iso527}\n"
                                           "parameters: {modulus: regression}\n",
                                           &def, &err),
                     0);
    assert_int_equal(cert_method_iso527.deviations(&def, lines, CERT_MAX_DEVIATIONS), 0);

    assert_int_equal(pd_method_defaults("iso178", &def, &err), 0);
    assert_int_equal(cert_method_iso178.deviations(&def, lines, CERT_MAX_DEVIATIONS), 0);
    assert_int_equal(pd_method_load_string("f.yaml",
                                           "method: {id: iso178-x, base: iso178}\n"
                                           "parameters: {conventional_factor: 1.0}\n",
                                           &def, &err),
                     0);
    assert_int_equal(cert_method_iso178.deviations(&def, lines, CERT_MAX_DEVIATIONS), 1);
    assert_non_null(strstr(lines[0], "1·h"));
    /* the built-in budgets carry the ISO 9513 class 1 absolute error */
    assert_true(cert_method_iso527.budget.input[PD_U_DISPLACEMENT_ABS] == 0.003);
    assert_true(cert_method_iso178.budget.input[PD_U_DISPLACEMENT_ABS] == 0.003);
}

/* ---- modulus uncertainty against Monte Carlo ------------------------------------------------*/
/* The budget the certificate combines for Et (certify.c): the relative class and dimension terms
 * (rectangular half-widths a, u = a/√3, sensitivity 1 each), in quadrature with the method's own
 * u_extra = √(u_noise² + u_extensometer²). The same inputs drawn at random (GUM-S1): the force
 * and extension gains, b, h and L0 as entered, the extensometer's absolute error as an error of
 * ±a over the modulus span, and a fresh noise record each time, through pd_tensile_evaluate. */
#define MC_DRAWS 2000
static void test_modulus_uncertainty_monte_carlo(void **state)
{
    (void)state;
    const double force_class = 0.01, disp_class = 0.01, dim = 0.01, len = 0.5, abs_mm = 0.003;
    const double force_sd = 2.0, ext_sd = 0.0002; /* N, mm */
    struct pd_test_rng rng = {.state = 9513};
    for (int method = 0; method < 2; method++) {
        /* a slightly curved elastic range at 100 Hz, 1 mm/min over 115 mm, to 0.6 % and a break */
        struct pd_test_curve truth = {0};
        const double step = 1.0 / 60.0 / 115.0 / 100.0;
        for (double e = 0.0; e < 0.006; e += step)
            add(&truth, (2000.0 * e - 1.0e4 * e * e) * AREA, e * GAUGE);
        add(&truth, 0.0, 0.006 * GAUGE);
        struct pd_tensile_params p;
        pd_tensile_params_default(&p);
        p.modulus_method = method ? PD_MODULUS_REGRESSION : PD_MODULUS_CHORD;
        p.displacement_abs_mm = abs_mm;
        struct pd_test_curve c = {0};
        for (size_t i = 0; i < truth.n; i++)
            add(&c, 0.0, 0.0);
        double sum = 0.0, sum2 = 0.0, budget = 0.0;
        for (int k = 0; k < MC_DRAWS; k++) {
            double gf = 1.0 + force_class * (2.0 * pd_test_uniform01(&rng) - 1.0);
            double gd = 1.0 + disp_class * (2.0 * pd_test_uniform01(&rng) - 1.0);
            double span_err = abs_mm * (2.0 * pd_test_uniform01(&rng) - 1.0);
            double b = WIDTH + dim * (2.0 * pd_test_uniform01(&rng) - 1.0);
            double h = THICKNESS + dim * (2.0 * pd_test_uniform01(&rng) - 1.0);
            double l0 = GAUGE + len * (2.0 * pd_test_uniform01(&rng) - 1.0);
            for (size_t i = 0; i < truth.n; i++) {
                c.force[i] = gf * truth.force[i] + (i + 1 < truth.n ? force_sd * pd_test_gaussian(&rng) : 0.0);
                c.ext[i] = gd * truth.ext[i] * (1.0 + span_err / (0.002 * GAUGE)) + ext_sd * pd_test_gaussian(&rng);
            }
            struct pd_tensile_specimen sp = {.force_N = c.force,
                                             .extension_mm = c.ext,
                                             .n = c.n,
                                             .width_mm = b,
                                             .thickness_mm = h,
                                             .gauge_length_mm = l0};
            struct pd_tensile_result r;
            struct pd_err err = {0};
            if (pd_tensile_evaluate(&sp, &p, &r, &err) != 0)
                fail_msg("draw %d: %s", k, err.msg);
            sum += r.modulus_MPa;
            sum2 += r.modulus_MPa * r.modulus_MPa;
            /* the budget as certify.c combines it, from this specimen's evaluation */
            double rel2 = (force_class * force_class + disp_class * disp_class + (dim / b) * (dim / b) +
                           (dim / h) * (dim / h) + (len / l0) * (len / l0)) /
                          3.0;
            double u2 = rel2 * r.modulus_MPa * r.modulus_MPa + r.modulus_u_noise_MPa * r.modulus_u_noise_MPa +
                        r.modulus_u_extensometer_MPa * r.modulus_u_extensometer_MPa;
            budget += sqrt(u2);
        }
        double mean = sum / MC_DRAWS, sd = sqrt((sum2 - MC_DRAWS * mean * mean) / (MC_DRAWS - 1));
        budget /= MC_DRAWS;
        printf("%s: Et %.2f MPa, Monte Carlo SD %.3f MPa, budget u %.3f MPa (%+.1f %%)\n",
               method ? "regression" : "chord", mean, sd, budget, 100.0 * (budget - sd) / sd);
        assert_true(fabs(budget - sd) <= 0.10 * sd);
        pd_test_curve_free(&c);
        pd_test_curve_free(&truth);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chord_is_the_iso_interpolation),
        cmocka_unit_test(test_flexural_maximum_under_noise),
        cmocka_unit_test(test_brittle_fracture_is_not_yield),
        cmocka_unit_test(test_load_drop_and_grip_slip),
        cmocka_unit_test(test_deviations_stated),
        cmocka_unit_test(test_modulus_uncertainty_monte_carlo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
