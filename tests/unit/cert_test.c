/* cert_test.c — the cert module: ISO 527 evaluation against the worked examples, statistics, spec
 * files and their errors, and certification of run files written with the store. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cert/cert.h"
#include "common/curve.h"
#include "common/noise.h"
#include "cert/cert_internal.h"
#include "common/cert_issue.h"
#include "pd_version.h"
#include "registry/registry.h"
#include "trust/trust.h"
#include <sqlite3.h>
#include "store/store.h"

/* cmocka 1.1 has no floating-point assertion; this one prints both values. */
#define assert_near(actual, expected, tol) assert_near_at((actual), (expected), (tol), #actual, __FILE__, __LINE__)
static void assert_near_at(double actual, double expected, double tol, const char *expr, const char *file, int line)
{
    if (!(fabs(actual - expected) <= tol)) {
        print_error("%s:%d: %s = %.17g, want %.17g within %g\n", file, line, expr, actual, expected, tol);
        fail();
    }
}

/* ---- curves --------------------------------------------------------------------------------*/
/* A specimen built from a stress–strain curve: force = σ·b·h with b = 10, h = 4; extension = ε·L0
 * with L0 = 75 (the T1 geometry of test-methods.md §12). */
static void curve_add(struct pd_test_curve *c, double strain, double stress)
{
    assert_int_equal(pd_test_curve_add(c, stress * 40.0, strain * 75.0), 0);
}

/* Samples first..last (inclusive) at strain i·step on the straight line σ = 2000 MPa·ε: the
 * elastic part most curves below start with. */
static void add_line(struct pd_test_curve *c, int first, int last, double step)
{
    for (int i = first; i <= last; i++)
        curve_add(c, i * step, 2000.0 * i * step);
}

static struct pd_tensile_specimen specimen_of(const struct pd_test_curve *c)
{
    return (struct pd_tensile_specimen){.force_N = c->force, .extension_mm = c->ext, .n = c->n,
                                        .width_mm = 10.0, .thickness_mm = 4.0, .gauge_length_mm = 75.0};
}

/* T1: linear to 1 %, parabola up to the yield maximum 40 MPa at 6 %, softening to 32 MPa at 10 %,
 * drawing at 32 MPa to 60 %, then 2 and 0 MPa (break). `scale` multiplies every stress. */
static double t1_stress(double e)
{
    if (e <= 0.01)
        return 2000.0 * e;
    if (e <= 0.06) {
        double u = (0.06 - e) / 0.05;
        return 20.0 + 20.0 * (1.0 - u * u);
    }
    if (e <= 0.10)
        return 40.0 - 8.0 * (e - 0.06) / 0.04;
    return 32.0;
}

static void make_t1(struct pd_test_curve *c, double scale)
{
    for (int i = 0; i <= 60000; i++)
        curve_add(c, i * 1e-5, scale * t1_stress(i * 1e-5));
    curve_add(c, 60001 * 1e-5, scale * 2.0);
    curve_add(c, 60002 * 1e-5, 0.0);
}

/* The same shape sampled the way a run file would hold it: dense through the modulus range,
 * coarse afterwards (keeps the store tests small). */
static void make_t1_sparse(struct pd_test_curve *c, double scale)
{
    for (int i = 0; i < 200; i++)
        curve_add(c, i * 5e-5, scale * t1_stress(i * 5e-5));
    for (int i = 10; i <= 600; i++)
        curve_add(c, i * 1e-3, scale * t1_stress(i * 1e-3));
    curve_add(c, 0.601, scale * 2.0);
    curve_add(c, 0.602, 0.0);
}

static double toe_stress(double e)
{
    return e < 0.001 ? 2000.0 * e * e / (2.0 * 0.001) : 1.0 + 2000.0 * (e - 0.001);
}

static double t2_stress(double e)
{
    return 2000.0 * e * (1.0 - e / 0.08);
}

static struct pd_tensile_params params_with(enum pd_modulus_method method, double window)
{
    struct pd_tensile_params p;
    pd_tensile_params_default(&p);
    p.modulus_method = method;
    p.chord_window = window;
    return p;
}

static struct pd_tensile_result must_evaluate(const struct pd_test_curve *c, const struct pd_tensile_params *p)
{
    struct pd_tensile_specimen sp = specimen_of(c);
    struct pd_tensile_result r;
    struct pd_err err = {0};
    int rc = pd_tensile_evaluate(&sp, p, &r, &err);
    if (rc != 0)
        print_error("evaluation failed: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return r;
}

/* Evaluation must fail with PD_EDATA, a message containing `part`, and leave the result alone. */
static void expect_refused(const struct pd_test_curve *c, const char *part)
{
    struct pd_tensile_specimen sp = specimen_of(c);
    struct pd_tensile_result r, before;
    memset(&r, 0x5a, sizeof r);
    before = r;
    struct pd_err err = {0};
    int rc = pd_tensile_evaluate(&sp, NULL, &r, &err);
    if (rc != PD_EDATA || !strstr(err.msg, part))
        print_error("want PD_EDATA with '%s', got %d: %s\n", part, rc, err.msg);
    assert_int_equal(rc, PD_EDATA);
    assert_int_equal(err.code, PD_EDATA);
    assert_non_null(strstr(err.msg, part));
    assert_memory_equal(&r, &before, sizeof r);
}

/* ---- ISO 527 worked examples ---------------------------------------------------------------*/
static void test_t1_modulus_all_methods(void **state)
{
    (void)state;
    struct pd_test_curve c = {0};
    make_t1(&c, 1.0);
    struct pd_tensile_params interp = params_with(PD_MODULUS_CHORD, 0.0);
    struct pd_tensile_params def;
    pd_tensile_params_default(&def);
    struct pd_tensile_params regr = params_with(PD_MODULUS_REGRESSION, 0.0);

    struct pd_tensile_result r = must_evaluate(&c, &interp);
    assert_near(r.modulus_MPa, 2000.0, 1e-6);
    assert_true(r.modulus_points >= 200 && r.modulus_points <= 201);
    r = must_evaluate(&c, &def);
    assert_near(r.modulus_MPa, 2000.0, 1e-6);
    r = must_evaluate(&c, &regr);
    assert_near(r.modulus_MPa, 2000.0, 1e-6);
    pd_test_curve_free(&c);
}

static void test_t1_yield_strength_break(void **state)
{
    (void)state;
    struct pd_test_curve c = {0};
    make_t1(&c, 1.0);
    struct pd_tensile_result r = must_evaluate(&c, NULL);
    assert_near(r.strength_MPa, 40.0, 1e-9);
    assert_near(r.strain_at_strength, 0.06, 1e-12);
    assert_true(r.has_yield);
    assert_near(r.yield_stress_MPa, 40.0, 1e-9);
    assert_near(r.yield_strain, 0.06, 1e-12);
    assert_near(r.yield_stress_MPa * 40.0, 1600.0, 1e-6); /* F at yield */
    assert_true(r.has_break);
    assert_int_equal(r.break_index, 60000);
    assert_near(r.stress_at_break_MPa, 32.0, 1e-12);
    assert_near(r.strain_at_break, 0.60, 1e-12);
    pd_test_curve_free(&c);
}

/* T1 with saw teeth: the stress falls suddenly to `depth`·σ at `at` (over 3 samples) and climbs
 * back onto the curve 0.3 % strain later while the extension keeps rising — a grip slip. */
static void make_t1_slipping(struct pd_test_curve *c, const double *at, const double *depth, size_t teeth)
{
    for (int i = 0; i <= 60000; i++) {
        double e = i * 1e-5, f = 1.0;
        for (size_t k = 0; k < teeth; k++) {
            if (e > at[k] && e <= at[k] + 3e-5)
                f = 1.0 - (1.0 - depth[k]) * (e - at[k]) / 3e-5;
            else if (e > at[k] + 3e-5 && e < at[k] + 0.003)
                f = depth[k] + (1.0 - depth[k]) * (e - at[k] - 3e-5) / (0.003 - 3e-5);
        }
        curve_add(c, e, f * t1_stress(e));
    }
    curve_add(c, 60001 * 1e-5, 2.0);
    curve_add(c, 60002 * 1e-5, 0.0);
}

/* One tooth before the yield (falls 20 %), one in the drawing range deep enough (to 5 % of 32 MPa)
 * to pass for a break. */
static const double slip_at[2] = {0.03, 0.20}, slip_depth[2] = {0.80, 0.05};

static void test_grip_slip_is_neither_yield_nor_break(void **state)
{
    (void)state;
    struct pd_test_curve c = {0};
    make_t1_slipping(&c, slip_at, slip_depth, 2);
    struct pd_tensile_result r = must_evaluate(&c, NULL);
    assert_true(r.has_yield);
    assert_near(r.yield_stress_MPa, 40.0, 1e-9); /* the true yield of T1, not the tooth at 3 % */
    assert_near(r.yield_strain, 0.06, 1e-12);
    assert_near(r.strength_MPa, 40.0, 1e-9);
    assert_true(r.has_break);
    assert_int_equal(r.break_index, 60000); /* the true break at 60 %, not the tooth at 20 % */
    assert_near(r.strain_at_break, 0.60, 1e-12);
    assert_int_equal(r.grip_slips, 2);
    assert_near(r.grip_slip_strain[0], 0.20, 1e-12); /* the break search meets the deep one first */
    assert_near(r.grip_slip_drop[0], 0.95, 1e-9);
    assert_near(r.grip_slip_strain[1], 0.03, 1e-12);
    /* 20 % of the stress where the fall ends, on a curve still rising: relative to where it began */
    assert_near(r.grip_slip_drop[1], 1.0 - 0.8 * t1_stress(0.03003) / t1_stress(0.03), 1e-6);
    assert_near(r.modulus_MPa, 2000.0, 1e-6); /* untouched: the teeth lie beyond e2 */

    /* Without the detection the same curve yields at the first tooth and "breaks" at the second:
     * what the detection is for. */
    struct pd_tensile_params p;
    pd_tensile_params_default(&p);
    p.grip_slip_window = 0.0;
    r = must_evaluate(&c, &p);
    assert_near(r.yield_strain, 0.03, 1e-12);
    assert_true(r.strain_at_break < 0.201);
    assert_int_equal(r.grip_slips, 0);

    /* A clean T1 reports none. */
    pd_test_curve_free(&c);
    make_t1(&c, 1.0);
    r = must_evaluate(&c, NULL);
    assert_int_equal(r.grip_slips, 0);
    pd_test_curve_free(&c);
}

static void test_t1_toe_raw_values(void **state)
{
    (void)state;
    struct pd_test_curve c = {0};
    for (int i = 0; i <= 1000; i++)
        curve_add(&c, i * 1e-5, toe_stress(i * 1e-5));
    struct pd_tensile_params interp = params_with(PD_MODULUS_CHORD, 0.0);
    struct pd_tensile_params regr = params_with(PD_MODULUS_REGRESSION, 0.0);
    struct pd_tensile_result r = must_evaluate(&c, &interp);
    assert_near(r.modulus_MPa, 1875.0, 1e-6);
    r = must_evaluate(&c, &regr);
    assert_near(r.modulus_MPa, 1944.3, 0.05);
    assert_int_equal(r.modulus_points, 201);
    /* Rises to the end: no maximum, no break. */
    assert_false(r.has_yield);
    assert_false(r.has_break);
    assert_true(isnan(r.stress_at_break_MPa));
    pd_test_curve_free(&c);
}

static void test_t2_brittle(void **state)
{
    (void)state;
    struct pd_test_curve c = {0};
    for (int i = 0; i <= 2500; i++)
        curve_add(&c, i * 1e-5, t2_stress(i * 1e-5));
    curve_add(&c, 2501 * 1e-5, 0.0);
    struct pd_tensile_params variants[3] = {params_with(PD_MODULUS_CHORD, 0.0),
                                            params_with(PD_MODULUS_CHORD, 0.00005),
                                            params_with(PD_MODULUS_REGRESSION, 0.0)};
    for (size_t v = 0; v < 3; v++) {
        struct pd_tensile_result r = must_evaluate(&c, &variants[v]);
        assert_near(r.modulus_MPa, 1925.0, 1e-6);
        assert_near(r.strength_MPa, 34.375, 1e-9);
        assert_near(r.strain_at_strength, 0.025, 1e-12);
        assert_false(r.has_yield);
        assert_true(isnan(r.yield_stress_MPa));
        assert_true(r.has_break);
        assert_near(r.stress_at_break_MPa, 34.375, 1e-9);
        assert_near(r.strain_at_break, 0.025, 1e-12);
        assert_near(r.stress_at_break_MPa * 40.0, 1375.0, 1e-6);
    }
    pd_test_curve_free(&c);
}

/* ---- strength: first local maximum, hysteresis, plateau -----------------------------------*/
static void test_first_local_maximum_not_global(void **state)
{
    (void)state;
    /* Linear to 30 MPa at 1.5 %, a 2 % drop (a real local maximum), then up to 40 MPa, then break. */
    struct pd_test_curve c = {0};
    add_line(&c, 0, 1500, 1e-5);
    for (int i = 1; i <= 100; i++)
        curve_add(&c, 0.015 + i * 1e-5, 30.0 - 0.6 * i / 100.0);
    for (int i = 1; i <= 1000; i++)
        curve_add(&c, 0.016 + i * 1e-5, 29.4 + 10.6 * i / 1000.0);
    curve_add(&c, 0.02601, 1.0);
    struct pd_tensile_result r = must_evaluate(&c, NULL);
    assert_near(r.strength_MPa, 30.0, 1e-9);
    assert_near(r.strain_at_strength, 0.015, 1e-12);
    assert_true(r.has_yield);
    assert_true(r.has_break);
    assert_near(r.stress_at_break_MPa, 40.0, 1e-9);
    pd_test_curve_free(&c);
}

static void test_dip_inside_hysteresis_is_not_a_maximum(void **state)
{
    (void)state;
    /* A 0.3 % dip at 30 MPa (inside the 0.5 % band), then on to 40 MPa and break. */
    struct pd_test_curve c = {0};
    add_line(&c, 0, 1500, 1e-5);
    curve_add(&c, 0.01501, 30.0 * 0.997);
    for (int i = 1; i <= 500; i++)
        curve_add(&c, 0.01501 + i * 1e-5, 29.91 + 10.09 * i / 500.0);
    curve_add(&c, 0.02002, 0.5);
    struct pd_tensile_result r = must_evaluate(&c, NULL);
    assert_near(r.strength_MPa, 40.0, 1e-9);
    assert_false(r.has_yield);
    assert_true(r.has_break);
    assert_near(r.strain_at_break, 0.02001, 1e-12);
    pd_test_curve_free(&c);
}

static void test_constant_force_plateau(void **state)
{
    (void)state;
    struct pd_test_curve c = {0};
    add_line(&c, 0, 2000, 1e-5);
    for (int i = 1; i <= 8000; i++)
        curve_add(&c, 0.02 + i * 1e-5, 40.0);
    struct pd_tensile_result r = must_evaluate(&c, NULL);
    assert_near(r.strength_MPa, 40.0, 1e-9);
    assert_near(r.strain_at_strength, 0.02, 1e-12);
    assert_false(r.has_yield);
    assert_false(r.has_break);
    assert_int_equal(r.break_index, c.n - 1);
    assert_true(isnan(r.strain_at_break));
    pd_test_curve_free(&c);
}

static void test_break_right_after_modulus_range(void **state)
{
    (void)state;
    struct pd_test_curve c = {0};
    add_line(&c, 0, 300, 1e-5);
    curve_add(&c, 0.00301, 0.0);
    curve_add(&c, 0.00302, 0.0);
    struct pd_tensile_result r = must_evaluate(&c, NULL);
    assert_true(r.has_break);
    assert_int_equal(r.break_index, 300);
    assert_near(r.strength_MPa, 6.0, 1e-9);
    assert_near(r.stress_at_break_MPa, 6.0, 1e-9);
    assert_false(r.has_yield);
    pd_test_curve_free(&c);
}

static void test_break_at_first_point_is_refused(void **state)
{
    (void)state;
    /* The first sample carries the whole load and the next ones nothing: no elastic range. */
    struct pd_test_curve c = {0};
    curve_add(&c, 0.0, 30.0);
    for (int i = 1; i <= 400; i++)
        curve_add(&c, i * 1e-5, 0.0);
    expect_refused(&c, "not positive");
    pd_test_curve_free(&c);
}

/* ---- noise (tests/common/noise.h) -----------------------------------------------------------*/
static struct pd_test_rng rng;

static void test_noisy_linear_modulus(void **state)
{
    (void)state;
    rng.state = 20261125;
    struct pd_test_curve c = {0};
    /* 0.8 N force noise (0.02 MPa) and 0.05 µm extension noise on a 2000 MPa line. */
    for (int i = 0; i <= 5000; i++) {
        double e = i * 2e-6;
        curve_add(&c, e, 2000.0 * e);
        c.force[c.n - 1] += 0.8 * pd_test_gaussian(&rng);
        c.ext[c.n - 1] += 5e-5 * pd_test_gaussian(&rng);
    }
    curve_add(&c, 0.010002, 0.0);
    struct pd_tensile_params regr = params_with(PD_MODULUS_REGRESSION, 0.0);
    struct pd_tensile_params window = params_with(PD_MODULUS_CHORD, 0.00005);
    struct pd_tensile_result chord = must_evaluate(&c, NULL);
    struct pd_tensile_result reg = must_evaluate(&c, &regr);
    struct pd_tensile_result fitted = must_evaluate(&c, &window);
    /* The ISO chord interpolates two single samples' worth of noise: its error is what its own
     * noise term says (0.02 MPa·√(w1 + w2)/0.002 ≈ 14 MPa here), not the 0.5 % the averaging
     * variants reach. The noise term comes from the curve's measured noise: 0.02 MPa. */
    assert_near(chord.noise_MPa, 0.02, 0.002);
    assert_true(chord.modulus_u_noise_MPa > 8.0 && chord.modulus_u_noise_MPa < 16.0);
    assert_true(fabs(chord.modulus_MPa - 2000.0) < 3.0 * chord.modulus_u_noise_MPa);
    assert_true(fabs(reg.modulus_MPa - 2000.0) < 0.005 * 2000.0);
    assert_true(fabs(reg.modulus_MPa - 2000.0) < 3.0 * reg.modulus_u_noise_MPa);
    assert_true(fabs(fitted.modulus_MPa - 2000.0) < 0.005 * 2000.0);
    assert_true(chord.has_break);
    pd_test_curve_free(&c);
}

/* ---- refusals ------------------------------------------------------------------------------*/
static void test_nan_names_sample(void **state)
{
    (void)state;
    struct pd_test_curve c = {0};
    make_t1(&c, 1.0);
    c.force[1234] = NAN;
    expect_refused(&c, "sample 1234 ");
    c.force[1234] = 1.0;
    c.ext[77] = INFINITY;
    expect_refused(&c, "sample 77 ");
    c.ext[77] = 0.0;
    /* the finiteness check sums four lanes, then the samples after the last multiple of four */
    c.n -= c.n % 4 == 3 ? 0 : c.n % 4 + 1; /* an n with a remainder of 3 */
    assert_int_equal(c.n % 4, 3);
    c.force[c.n - 1] = -NAN;
    expect_refused(&c, "not a finite number");
    pd_test_curve_free(&c);
}

/* A modulus that cannot be had leaves every other result: modulus n/a with the reason. */
static void expect_modulus_na(const struct pd_test_curve *c, const char *part, struct pd_tensile_result *r)
{
    *r = must_evaluate(c, NULL);
    if (!strstr(r->modulus_na_reason, part))
        print_error("want a reason with '%s', got '%s'\n", part, r->modulus_na_reason);
    assert_false(r->has_modulus);
    assert_true(isnan(r->modulus_MPa));
    assert_non_null(strstr(r->modulus_na_reason, part));
}

static void test_sparse_modulus_range(void **state)
{
    (void)state;
    struct pd_test_curve c = {0};
    add_line(&c, 0, 100, 2e-4); /* 2e-4 steps: 0.06 … 0.24 %, 10 samples in range, on to 2 % */
    struct pd_tensile_result r;
    expect_modulus_na(&c, "10 samples between 0.05 % and 0.25 % strain, need >= 20", &r);
    assert_near(r.strength_MPa, 40.0, 1e-9); /* rising to the end: its last sample */
    assert_near(r.strain_at_strength, 0.02, 1e-12);
    assert_false(r.has_yield);
    pd_test_curve_free(&c);
}

static void test_chord_across_a_gap_at_e2(void **state)
{
    (void)state;
    /* Dense to 0.21 %, then the next sample at 0.4 %: no sample within the window around e2, so
     * σ(e2) comes from interpolating across the gap (exact on a straight line). */
    struct pd_test_curve c = {0};
    add_line(&c, 0, 42, 5e-5);
    curve_add(&c, 0.004, 8.0);
    curve_add(&c, 0.006, 12.0);
    struct pd_tensile_result r = must_evaluate(&c, NULL);
    assert_near(r.modulus_MPa, 2000.0, 1e-6);
    assert_int_equal(r.modulus_points, 33);
    pd_test_curve_free(&c);
}

static void test_modulus_range_not_reached(void **state)
{
    (void)state;
    struct pd_test_curve late = {0}, short_curve = {0};
    add_line(&late, 100, 1000, 1e-5); /* starts at 0.1 % strain, to 1 %, then breaks */
    curve_add(&late, 0.01001, 0.5);
    struct pd_tensile_result r;
    expect_modulus_na(&late, "data start at 0.1 % strain, beyond e1 = 0.05 %", &r);
    assert_near(r.strength_MPa, 20.0, 1e-9); /* strength and break stay */
    assert_true(r.has_break);
    assert_near(r.stress_at_break_MPa, 20.0, 1e-9);
    assert_near(r.strain_at_break, 0.01, 1e-12);
    assert_false(r.has_yield);
    add_line(&short_curve, 0, 200, 1e-5); /* ends at 0.2 % */
    expect_modulus_na(&short_curve, "strain reaches only 0.2 % before the end of data", &r);
    assert_near(r.strength_MPa, 4.0, 1e-9);
    pd_test_curve_free(&late);
    pd_test_curve_free(&short_curve);
}

static void test_bad_dimensions_and_size(void **state)
{
    (void)state;
    struct pd_test_curve c = {0};
    make_t1(&c, 1.0);
    struct pd_tensile_specimen sp = specimen_of(&c);
    struct pd_tensile_result r;
    struct pd_err err = {0};
    sp.thickness_mm = 0.0;
    assert_int_equal(pd_tensile_evaluate(&sp, NULL, &r, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "thickness 0 mm"));
    sp = specimen_of(&c);
    sp.n = 2;
    assert_int_equal(pd_tensile_evaluate(&sp, NULL, &r, &err), PD_EDATA);
    struct pd_tensile_params p;
    pd_tensile_params_default(&p);
    p.e2 = p.e1;
    sp = specimen_of(&c);
    assert_int_equal(pd_tensile_evaluate(&sp, &p, &r, &err), PD_EINVAL);
    pd_test_curve_free(&c);
}

/* ---- statistics ----------------------------------------------------------------------------*/
static void test_stats_t_stats(void **state)
{
    (void)state;
    const double y[] = {40.0, 39.6, 40.5, 39.8, 40.3};
    struct pd_stats st;
    assert_int_equal(pd_stats_compute(y, 5, &st), 0);
    assert_int_equal(st.n, 5);
    assert_near(st.mean, 40.04, 1e-12);
    assert_near(st.sd, 0.365, 1e-3);
    assert_near(st.sd, sqrt(0.532 / 4.0), 1e-12);
    assert_near(st.cv, st.sd / 40.04, 1e-15);
    assert_near(st.min, 39.6, 0.0);
    assert_near(st.max, 40.5, 0.0);

    const double one = 7.5;
    assert_int_equal(pd_stats_compute(&one, 1, &st), 0);
    assert_near(st.sd, 0.0, 0.0);
    assert_near(st.cv, 0.0, 0.0);
    const double zero_mean[] = {-1.0, 1.0};
    assert_int_equal(pd_stats_compute(zero_mean, 2, &st), 0);
    assert_near(st.cv, 0.0, 0.0);
    assert_near(st.sd, sqrt(2.0), 1e-15);
    assert_int_equal(pd_stats_compute(y, 0, &st), PD_EINVAL);
}

/* ---- spec files ----------------------------------------------------------------------------*/
static char tmp_dir[64];

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int make_tmp(void **state)
{
    (void)state;
    strcpy(tmp_dir, "/tmp/pd_cert_test.XXXXXX");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

/* PD_TEST_KEEP=1 keeps the run files and certificates for a look afterwards. */
static int remove_tmp(void **state)
{
    (void)state;
    if (getenv("PD_TEST_KEEP")) {
        fprintf(stderr, "kept %s\n", tmp_dir);
        return 0;
    }
    nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char spec_head[] = "spec:\n"
                                "  name: test spec\n"
                                "  material: PP-H\n"
                                "  method: iso527\n"
                                "properties:\n";

/* Loads spec_head + `props` from a temporary file named spec.yaml. */
static int load_spec_text(const char *props, struct pd_spec *out, struct pd_err *err, char *path, size_t size)
{
    snprintf(path, size, "%s/spec.yaml", tmp_dir);
    char text[2048];
    snprintf(text, sizeof text, "%s%s", spec_head, props);
    write_text(path, text);
    return pd_spec_load(path, out, err);
}

static void expect_spec_error(const char *props, const char *where, const char *part)
{
    static struct pd_spec spec, before;
    memset(&spec, 0x33, sizeof spec);
    before = spec;
    struct pd_err err = {0};
    char path[256], place[300];
    int rc = load_spec_text(props, &spec, &err, path, sizeof path);
    snprintf(place, sizeof place, "%s:%s", path, where);
    if (rc != PD_ECONFIG || !strstr(err.msg, part) || strncmp(err.msg, place, strlen(place)) != 0)
        print_error("want PD_ECONFIG '%s...%s', got %d: %s\n", place, part, rc, err.msg);
    assert_int_equal(rc, PD_ECONFIG);
    assert_non_null(strstr(err.msg, part));
    assert_int_equal(strncmp(err.msg, place, strlen(place)), 0);
    assert_memory_equal(&spec, &before, sizeof spec);
}

static void test_spec_demo_file(void **state)
{
    (void)state;
    static struct pd_spec spec;
    struct pd_err err = {0};
    const char *path = PD_SOURCE_DIR "/config/specs/pp-demo.yaml";
    int rc = pd_spec_load(path, &spec, &err);
    if (rc != 0)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_string_equal(spec.method, "iso527");
    assert_string_equal(spec.material, "PP-H demo grade");
    assert_string_equal(spec.path, path);
    assert_int_equal(spec.n_limits, 3);
    assert_string_equal(spec.limits[0].property, "tensile_modulus");
    assert_int_equal(spec.limits[0].statistic, PD_SPEC_MEAN);
    assert_true(spec.limits[0].has_min && spec.limits[0].has_max);
    assert_near(spec.limits[0].min, 1400.0, 0.0);
    assert_near(spec.limits[0].max, 1600.0, 0.0);
    assert_string_equal(spec.limits[1].property, "tensile_strength");
    assert_true(spec.limits[1].has_min && !spec.limits[1].has_max);
    assert_near(spec.limits[1].min, 30.0, 0.0);
    assert_int_equal(spec.limits[2].statistic, PD_SPEC_EACH);
    assert_near(spec.limits[2].min, 28.0, 0.0);
    assert_non_null(strstr(spec.limits[2].where, "pp-demo.yaml:"));
}

static void test_spec_nominal_tolerance(void **state)
{
    (void)state;
    static struct pd_spec spec;
    struct pd_err err = {0};
    char path[256];
    int rc = load_spec_text("  - {property: strain_at_break, nominal: 50, tolerance: 10, unit: '%'}\n"
                            "  - {property: yield_stress, max: 45.5, unit: MPa, statistic: each}\n",
                            &spec, &err, path, sizeof path);
    if (rc != 0)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(spec.n_limits, 2);
    assert_int_equal(spec.limits[0].statistic, PD_SPEC_MEAN);
    assert_near(spec.limits[0].min, 40.0, 0.0);
    assert_near(spec.limits[0].max, 60.0, 0.0);
    assert_string_equal(spec.limits[0].unit, "%");
    assert_true(!spec.limits[1].has_min && spec.limits[1].has_max);
    assert_near(spec.limits[1].max, 45.5, 0.0);
}

static void test_spec_errors(void **state)
{
    (void)state;
    expect_spec_error("  - {property: tensile_modulos, min: 1, unit: MPa}\n", "6:",
                      "unknown property 'tensile_modulos' for method iso527 (known: tensile_modulus, tensile_strength");
    expect_spec_error("  - {property: tensile_modulus, min: 1.4, unit: GPa}\n", "6:",
                      "unit 'GPa' for tensile_modulus, expected MPa");
    expect_spec_error("  - {property: tensile_modulus, min: 1400, unit: MPa}\n"
                      "  - {property: tensile_strength, unit: MPa}\n",
                      "7:5", "no min and no max");
    expect_spec_error("  - {property: tensile_strength, min: 40, max: 30, unit: MPa}\n", "6:",
                      "min 40 is above max 30");
    expect_spec_error("  - {property: tensile_strength, min: 30, unit: MPa, statistic: median}\n", "6:",
                      "unknown statistic 'median'");
    expect_spec_error("  - {property: tensile_strength, min: 30, unit: MPa, maximum: 40}\n", "6:", "maximum");
    expect_spec_error("  - {property: tensile_strength, min: 30, nominal: 35, tolerance: 1, unit: MPa}\n", "6:",
                      "not both");
    expect_spec_error("  - {property: tensile_strength, nominal: 35, unit: MPa}\n", "6:",
                      "needs both nominal and tolerance");
    expect_spec_error("  - {property: tensile_strength, min: 30, unit: MPa}\n"
                      "  - {property: tensile_strength, min: 31, unit: MPa}\n",
                      "7:5", "second mean limit on tensile_strength");
    expect_spec_error("", "5:", "properties");

    static struct pd_spec spec;
    struct pd_err err = {0};
    char path[256];
    snprintf(path, sizeof path, "%s/method.yaml", tmp_dir);
    write_text(path, "spec: {name: x, material: y, method: iso999}\n"
                     "properties:\n"
                     "  - {property: tensile_strength, min: 30, unit: MPa}\n");
    assert_int_equal(pd_spec_load(path, &spec, &err), PD_ECONFIG);
    assert_non_null(strstr(err.msg, "method.yaml:1:"));
    assert_non_null(strstr(err.msg, "unknown method 'iso999' (known: iso527, iso178, iso179"));
    write_text(path, "spec: {name: x, material: y, method: iso527, decision_rule: guarded}\n"
                     "properties:\n"
                     "  - {property: tensile_strength, min: 30, unit: MPa}\n");
    assert_int_equal(pd_spec_load(path, &spec, &err), PD_ECONFIG);
    assert_non_null(strstr(err.msg, "method.yaml:1:"));
    assert_non_null(strstr(err.msg, "guarded"));
}

/* ---- certification of run files ------------------------------------------------------------*/
struct run_specimen {
    const char *id;
    double scale;       /* T1 stresses × scale: modulus 2000·scale, strength 40·scale */
    const char *status; /* written after the data, as the acquisition does */
    bool corrupt;       /* a NaN in the force */
    bool sparse;        /* too few samples in the modulus range */
    bool slipping;      /* T1 (scale 1) with the two grip-slip teeth of slip_at/slip_depth */
    bool unread;        /* a force and an extension the instrument did not deliver: NaN marked unread */
};
/* A specimen's own measured width in mm for the next write_run (0: 10 mm like the others). */
static double own_width[8];

static struct pd_store_attr instrument_attrs[] = {
    {.key = "model", .type = PD_STORE_STRING, .s = "LF-1"},
    {.key = "serial", .type = PD_STORE_STRING, .s = "SN-0042"},
    {.key = "calibration_due", .type = PD_STORE_STRING, .s = "2027-06-01"}, /* tests may change it */
};

static const char *force_unit = "N"; /* what write_run declares for the force channel */
static bool write_drops;             /* tests may set it: write_run's plain T1 curves (make_t1_sparse)
                                        then drop 10 % for good at 3 % strain */

static void write_run(const char *path, const char *method, int simulated, const struct run_specimen *sp, size_t n)
{
    const struct pd_store_attr run_attrs[] = {
        {.key = "run_id", .type = PD_STORE_STRING, .s = "R20261125-001"},
        {.key = "method", .type = PD_STORE_STRING, .s = method},
        {.key = "operator", .type = PD_STORE_STRING, .s = "A. Tester"},
        {.key = "lab_name", .type = PD_STORE_STRING, .s = "Joint Plastics Test Laboratory"},
        {.key = "lab_address", .type = PD_STORE_STRING, .s = "Technology Park 4"},
        {.key = "start_time", .type = PD_STORE_STRING, .s = "2026-11-25T08:00:00.000000000Z"},
        {.key = "simulated", .type = PD_STORE_INT, .i = simulated},
    };
    struct pd_store_instrument inst = {.name = "frame1", .n_channels = 2, .n_attrs = 3, .attrs = instrument_attrs};
    strcpy(inst.channels[0].name, "force");
    strcpy(inst.channels[0].unit, force_unit);
    strcpy(inst.channels[1].name, "extension");
    strcpy(inst.channels[1].unit, "mm");
    struct pd_store_attr dims[3] = {
        {.key = "width", .type = PD_STORE_DOUBLE, .d = 10.0, .units = "mm"},
        {.key = "thickness", .type = PD_STORE_DOUBLE, .d = 4.0, .units = "mm"},
        {.key = "gauge_length", .type = PD_STORE_DOUBLE, .d = 75.0, .units = "mm"},
    };
    struct pd_store_specimen specimens[8];
    struct pd_store_attr own_dims[8][3];
    assert_true(n <= 8);
    for (size_t s = 0; s < n; s++) {
        memset(&specimens[s], 0, sizeof specimens[s]);
        strcpy(specimens[s].id, sp[s].id);
        specimens[s].n_attrs = 3;
        memcpy(own_dims[s], dims, sizeof dims);
        if (own_width[s] > 0.0)
            own_dims[s][0].d = own_width[s];
        specimens[s].attrs = own_dims[s];
    }
    struct pd_store_layout layout = {.n_run_attrs = sizeof run_attrs / sizeof run_attrs[0], .run_attrs = run_attrs,
                                     .n_instruments = 1, .instruments = &inst, .n_specimens = n,
                                     .specimens = specimens, .deflate_level = -1};
    struct pd_store *st = NULL;
    struct pd_err err = {0};
    int rc = pd_store_create(path, &layout, &st, &err);
    if (rc != 0)
        print_error("pd_store_create: %s\n", err.msg);
    assert_int_equal(rc, 0);
    for (size_t s = 0; s < n; s++) {
        struct pd_test_curve c = {0};
        if (sp[s].sparse) {
            for (int i = 0; i <= 100; i++)
                curve_add(&c, i * 2e-4, sp[s].scale * t1_stress(i * 2e-4));
        } else if (sp[s].slipping) {
            make_t1_slipping(&c, slip_at, slip_depth, 2);
        } else {
            make_t1_sparse(&c, sp[s].scale);
            for (size_t i = 0; write_drops && i + 2 < c.n; i++)
                if (c.ext[i] > 0.03 * 75.0)
                    c.force[i] *= 0.9;
        }
        if (sp[s].corrupt)
            c.force[25] = NAN;
        int64_t *t = malloc(c.n * sizeof *t), *unc = malloc(c.n * sizeof *unc);
        uint32_t *q = calloc(c.n, sizeof *q);
        double *values = malloc(2 * c.n * sizeof *values);
        assert_true(t && unc && q && values);
        if (sp[s].unread) { /* as the acquisition stores a failed request of a partly read poll */
            c.force[25] = NAN;
            q[25] = PD_Q_UNREAD | PD_Q_UNREAD_CHANNEL(0);
            c.ext[300] = NAN;
            q[300] = PD_Q_UNREAD | PD_Q_UNREAD_CHANNEL(1);
        }
        for (size_t i = 0; i < c.n; i++) {
            t[i] = 1795852800000000000LL + (int64_t)(s * 1000000 + i) * 5000000;
            unc[i] = 100000;
            values[2 * i] = c.force[i];
            values[2 * i + 1] = c.ext[i];
        }
        rc = pd_store_append(st, s, 0, c.n, t, unc, q, values, &err);
        if (rc != 0)
            print_error("pd_store_append: %s\n", err.msg);
        assert_int_equal(rc, 0);
        if (sp[s].status) {
            struct pd_store_attr status = {.key = "status", .type = PD_STORE_STRING, .s = sp[s].status};
            assert_int_equal(pd_store_set_specimen_attr(st, s, &status, &err), 0);
        }
        free(t);
        free(unc);
        free(q);
        free(values);
        pd_test_curve_free(&c);
    }
    const struct pd_store_attr final_attrs[] = {
        {.key = "end_time", .type = PD_STORE_STRING, .s = "2026-11-25T09:00:00.000000000Z"},
    };
    rc = pd_store_close(st, 1, final_attrs, &err);
    if (rc != 0)
        print_error("pd_store_close: %s\n", err.msg);
    assert_int_equal(rc, 0);
}

static const struct run_specimen good_series[] = {
    {"S01", 0.75, "tested", false, false, false, false}, /* 1500 MPa, 30.0 MPa */
    {"S02", 0.76, "tested", false, false, false, false}, /* 1520 MPa, 30.4 MPa */
    {"S03", 0.77, "tested", false, false, false, false}, /* 1540 MPa, 30.8 MPa */
    {"S04", 0.78, "tested", false, false, false, false}, /* 1560 MPa, 31.2 MPa */
};

static void load_demo_spec(struct pd_spec *spec)
{
    struct pd_err err = {0};
    int rc = pd_spec_load(PD_SOURCE_DIR "/config/specs/pp-demo.yaml", spec, &err);
    if (rc != 0)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
}

/* The test station's key (made once): certify_to_json seals each run with it and trusts it, as a
 * lab's acquisition and registry would (docs/CERTIFICATES.md §6). */
static struct pd_secret_key test_station;

static void seal_run(const char *run)
{
    struct pd_err err = {0};
    if (!test_station.pub.id[0]) {
        char dir[300], sk[400];
        snprintf(dir, sizeof dir, "%s/station-keys", tmp_dir);
        assert_int_equal(pd_key_generate(dir, "station-test", sk, sizeof sk, NULL, 0, &err), 0);
        assert_int_equal(pd_secret_key_load(sk, &test_station, &err), 0);
    }
    char seal[4200];
    assert_int_equal(pd_seal_path(run, seal, sizeof seal, &err), 0);
    unlink(seal); /* a run file written again at the same path */
    struct pd_seal_facts f;
    assert_int_equal(pd_cert_seal_facts(run, &f, &err), 0);
    assert_int_equal(pd_seal_create(run, &f, NULL, "test station", &test_station, NULL, &err), 0);
}

static json_t *certify_to_json(const char *run, const struct pd_spec *spec, const char *out_dir,
                               struct pd_certify_result *res)
{
    seal_run(run);
    struct pd_certify_options opt = {.out_dir = out_dir, .request_id = "REQ-7", .trusted_stations = &test_station.pub,
                                     .n_trusted_stations = 1};
    struct pd_err err = {0};
    int rc = pd_certify_run(run, spec, &opt, res, &err);
    if (rc != 0)
        print_error("pd_certify_run: %s\n", err.msg);
    assert_int_equal(rc, 0);
    json_error_t jerr;
    json_t *doc = json_load_file(res->json_path, 0, &jerr);
    if (!doc)
        print_error("%s: %s at %d:%d\n", res->json_path, jerr.text, jerr.line, jerr.column);
    assert_non_null(doc);
    return doc;
}

static double jnum(const json_t *doc, const char *fmt_path)
{
    /* fmt_path is "a.b.c"; arrays are not walked here. */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", fmt_path);
    const json_t *v = doc;
    for (char *tok = strtok(buf, "."); tok; tok = strtok(NULL, "."))
        v = json_object_get(v, tok);
    assert_non_null(v);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static const char *jstring(const json_t *doc, const char *key)
{
    const json_t *v = json_object_get(doc, key);
    assert_non_null(v);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

/* A run file and an empty certificate folder, named after the case, in the temporary folder. */
struct cert_case {
    char run[256], out[256];
};

static void case_paths(struct cert_case *k, const char *name)
{
    snprintf(k->run, sizeof k->run, "%s/%s.h5", tmp_dir, name);
    snprintf(k->out, sizeof k->out, "%s/out-%s", tmp_dir, name);
    assert_int_equal(mkdir(k->out, 0755), 0);
}

/* The common set-up: an ISO 527 run of `series` certified against the demo spec. */
static json_t *certify_demo(struct cert_case *k, const char *name, int simulated, const struct run_specimen *series,
                            size_t n, struct pd_spec *spec, struct pd_certify_result *res)
{
    case_paths(k, name);
    write_run(k->run, "iso527", simulated, series, n);
    load_demo_spec(spec);
    return certify_to_json(k->run, spec, k->out, res);
}

/* GUM 7.2.6 as a property of a printed result "v ± U": U has two significant digits and is U
 * rounded, v is the value rounded to U's last place (both within half a unit of that place). */
static void assert_reported(const char *text, double value, double U)
{
    char v[64], u[64];
    assert_int_equal(sscanf(text, "%63s ± %63s", v, u), 2);
    const char *dot = strchr(u, '.');
    int decimals = dot ? (int)strlen(dot + 1) : 0;
    const char *vdot = strchr(v, '.');
    assert_int_equal(vdot ? (int)strlen(vdot + 1) : 0, decimals); /* the same decimal place */
    int significant = 0;
    bool leading = true;
    for (const char *c = u; *c; c++) {
        if (*c < '0' || *c > '9')
            continue;
        leading = leading && *c == '0';
        significant += !leading;
    }
    assert_true(significant == 2 || (decimals == 0 && significant <= 2));
    double unit = pow(10.0, -decimals);
    assert_true(fabs(strtod(v, NULL) - value) <= 0.5 * unit * (1 + 1e-9));
    assert_true(fabs(strtod(u, NULL) - U) <= 0.5 * unit * (1 + 1e-9));
}

/* What the certificate states for a reader: the standard names and symbols, each result as printed,
 * why a property is n/a, the test conditions, and the complete method definition it was made with. */
static void test_certificate_presentation(void **state)
{
    (void)state;
    struct cert_case k;
    static struct pd_spec spec;
    struct pd_certify_result res;
    json_t *doc = certify_demo(&k, "present", 0, good_series, 4, &spec, &res);
    const json_t *props = json_object_get(doc, "properties");
    assert_int_equal(json_array_size(props), 8);
    static const char *const want[][3] = {{"tensile_modulus", "tensile modulus", "Et"},
                                          {"tensile_strength", "tensile strength", "σm"},
                                          {"yield_stress", "yield stress", "σy"},
                                          {"strain_at_break", "strain at break", "εb"}};
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        bool found = false;
        for (size_t i = 0; i < json_array_size(props); i++) {
            const json_t *o = json_array_get(props, i);
            if (strcmp(jstring(o, "id"), want[w][0]) == 0) {
                assert_string_equal(jstring(o, "name"), want[w][1]);
                assert_string_equal(jstring(o, "symbol"), want[w][2]);
                found = true;
            }
        }
        assert_true(found);
    }
    const json_t *specimens = json_object_get(doc, "specimens");
    assert_int_equal(json_array_size(specimens), 4);
    for (size_t i = 0; i < json_array_size(specimens); i++) {
        const json_t *sp = json_array_get(specimens, i);
        const char *key;
        const json_t *r;
        size_t n = 0;
        json_object_foreach(json_object_get(sp, "results"), key, r)
        {
            assert_reported(jstring(r, "reported"), json_real_value(json_object_get(r, "value")),
                            json_real_value(json_object_get(r, "U")));
            n++;
        }
        assert_true(n >= 5);
        /* the run has no crosshead channel: no nominal strain, and the certificate says why */
        assert_null(json_object_get(json_object_get(sp, "results"), "nominal_strain_at_break"));
        const char *why = jstring(json_object_get(sp, "not_applicable"), "nominal_strain_at_break");
        assert_non_null(strstr(why, "crosshead"));
    }
    const json_t *series = json_object_get(json_object_get(doc, "series"), "tensile_modulus");
    assert_reported(jstring(series, "reported_mean"), json_real_value(json_object_get(series, "mean")),
                    json_real_value(json_object_get(series, "U")));
    const json_t *tc = json_object_get(doc, "test_conditions");
    assert_string_equal(jstring(tc, "standard"), "ISO 527-1:2019, ISO 527-2:2012");
    assert_int_equal(json_array_size(json_object_get(tc, "recorded")), 1);
    /* the method as made: complete, and it reads back as the built-in one it was */
    static struct pd_method_def def, builtin;
    struct pd_err err = {0};
    const json_t *mo = json_object_get(doc, "method");
    assert_int_equal(pd_method_load_string("definition", jstring(mo, "definition"), &def, &err), 0);
    assert_int_equal(pd_method_defaults("iso527", &builtin, &err), 0);
    assert_int_equal(def.n_params, builtin.n_params);
    for (size_t i = 0; i < def.n_params; i++)
        assert_true(def.params[i].value == builtin.params[i].value);
    assert_string_equal(jstring(mo, "file"), "(built-in defaults)");
    json_decref(doc);
}

static void test_certify_passing_series(void **state)
{
    (void)state;
    struct cert_case k;
    static struct pd_spec spec;
    struct pd_certify_result res;
    json_t *doc = certify_demo(&k, "pass", 0, good_series, 4, &spec, &res);
    const char *run = k.run, *out = k.out;

    assert_int_equal(res.verdict, PD_VERDICT_PASS);
    assert_int_equal(res.n_specimens, 4);
    assert_int_equal(res.n_failed, 0);
    assert_string_equal(res.cert_id, "CERT-000001");
    char want[300];
    snprintf(want, sizeof want, "%s/CERT-000001.json", out);
    assert_string_equal(res.json_path, want);
    assert_true(res.accredited); /* calibrated until 2027-06-01, tested 2026-11-25, not simulated */

    assert_string_equal(jstring(doc, "certificate_id"), "CERT-000001");
    assert_string_equal(jstring(doc, "status"), "draft");
    assert_string_equal(jstring(doc, "verdict"), "pass");
    assert_string_equal(jstring(doc, "operator"), "A. Tester");
    assert_string_equal(jstring(doc, "request_id"), "REQ-7");
    assert_string_equal(jstring(doc, "material"), "PP-H demo grade");
    const json_t *mo = json_object_get(doc, "method");
    assert_string_equal(jstring(mo, "id"), "iso527");
    assert_string_equal(jstring(mo, "standard"), "ISO 527-1:2019, ISO 527-2:2012");
    assert_string_equal(jstring(json_object_get(doc, "decision_rule"), "id"), "simple");
    assert_null(json_object_get(doc, "notice"));
    const char *issued = jstring(doc, "drafted");
    assert_int_equal(strlen(issued), 30);
    assert_int_equal(issued[29], 'Z');
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "software"), "version")),
                        PD_VERSION_STRING);
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "lab"), "name")),
                        "Joint Plastics Test Laboratory");
    const json_t *run_o = json_array_get(json_object_get(doc, "runs"), 0);
    assert_string_equal(json_string_value(json_object_get(run_o, "run_id")), "R20261125-001");
    assert_string_equal(json_string_value(json_object_get(run_o, "file")), run);
    assert_true(json_is_false(json_object_get(run_o, "simulated")));
    char hex[65];
    assert_int_equal(pd_sha256_file(run, hex, NULL), 0);
    assert_string_equal(json_string_value(json_object_get(run_o, "sha256")), hex);
    assert_true(json_is_true(json_object_get(json_object_get(doc, "accreditation"), "accredited")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "spec"), "file")), spec.path);
    const json_t *inst = json_array_get(json_object_get(doc, "instruments"), 0);
    assert_string_equal(json_string_value(json_object_get(inst, "name")), "frame1");
    assert_string_equal(json_string_value(json_object_get(inst, "serial")), "SN-0042");
    assert_string_equal(json_string_value(json_object_get(inst, "calibration_due")), "2027-06-01");

    const json_t *specimens = json_object_get(doc, "specimens");
    assert_int_equal(json_array_size(specimens), 4);
    for (size_t s = 0; s < 4; s++) {
        const json_t *sp = json_array_get(specimens, s);
        assert_string_equal(json_string_value(json_object_get(sp, "id")), good_series[s].id);
        assert_null(json_object_get(sp, "excluded_reason"));
        assert_near(jnum(sp, "results.tensile_modulus.value"), 2000.0 * good_series[s].scale, 1e-6);
        assert_near(jnum(sp, "results.tensile_strength.value"), 40.0 * good_series[s].scale, 1e-9);
        assert_near(jnum(sp, "results.yield_strain.value"), 6.0, 1e-9);
        assert_near(jnum(sp, "results.strain_at_break.value"), 60.0, 1e-9);
        assert_near(jnum(sp, "results.stress_at_break.value"), 32.0 * good_series[s].scale, 1e-9);
        /* U(Et) = k·√((E·u_rel)² + u_noise² + u_abs²): the budget's class and dimension terms, and the
         * extensometer's ±3 µm over (0.25 − 0.05) % of 75 mm; no noise on this curve */
        double E = 2000.0 * good_series[s].scale;
        double rel2 = (1e-4 + 1e-4 + (0.01 / 10.0) * (0.01 / 10.0) + (0.01 / 4.0) * (0.01 / 4.0) +
                       (0.5 / 75.0) * (0.5 / 75.0)) / 3.0;
        double u_abs = E * 0.003 / sqrt(3.0) / 0.15;
        assert_near(jnum(sp, "evaluation.modulus_u_extensometer_MPa"), u_abs, 1e-9 * E);
        assert_near(jnum(sp, "evaluation.modulus_u_noise_MPa"), 0.0, 1e-9 * E);
        assert_near(jnum(sp, "results.tensile_modulus.U"), 2.0 * sqrt(E * E * rel2 + u_abs * u_abs), 1e-9 * E);
    }
    assert_int_equal(json_array_size(json_object_get(json_object_get(doc, "method"), "deviations")), 0);
    assert_near(jnum(doc, "series.tensile_modulus.mean"), 1530.0, 1e-6);
    assert_near(jnum(doc, "series.tensile_modulus.n"), 4, 0);
    assert_near(jnum(doc, "series.tensile_modulus.sd"), sqrt((900.0 + 100.0 + 100.0 + 900.0) / 3.0), 1e-6);
    assert_near(jnum(doc, "series.tensile_strength.mean"), 30.6, 1e-9);
    assert_near(jnum(doc, "series.tensile_strength.min"), 30.0, 1e-9);

    const json_t *checks = json_object_get(doc, "checks");
    assert_int_equal(json_array_size(checks), 3);
    const json_t *c0 = json_array_get(checks, 0);
    assert_string_equal(json_string_value(json_object_get(c0, "property")), "tensile_modulus");
    assert_near(jnum(c0, "value"), 1530.0, 1e-6);
    assert_string_equal(json_string_value(json_object_get(c0, "verdict")), "pass");
    const json_t *c2 = json_array_get(checks, 2);
    assert_string_equal(json_string_value(json_object_get(c2, "statistic")), "each");
    assert_int_equal(json_array_size(json_object_get(c2, "values")), 4);
    json_decref(doc);

    /* Certifying again takes the next number; the first certificate stays as it was. */
    struct pd_certify_options opt = {.out_dir = out, .no_pdf = true};
    struct pd_err err = {0};
    assert_int_equal(pd_certify_run(run, &spec, &opt, &res, &err), 0);
    assert_string_equal(res.cert_id, "CERT-000002");
    assert_int_equal(access(want, R_OK), 0);
}

static void test_certify_failing_limits(void **state)
{
    (void)state;
    struct cert_case k;
    char spec_path[256];
    case_paths(&k, "fail");
    snprintf(spec_path, sizeof spec_path, "%s/strict.yaml", tmp_dir);
    write_run(k.run, "iso527", 1, good_series, 4);
    write_text(spec_path, "spec: {name: strict, material: PP-H, method: iso527}\n"
                          "properties:\n"
                          "  - {property: tensile_modulus, min: 1400, max: 1600, unit: MPa}\n"
                          "  - {property: tensile_strength, statistic: each, min: 30.5, unit: MPa}\n"
                          "  - {property: yield_strain, max: 5.5, unit: '%'}\n");
    static struct pd_spec spec;
    struct pd_err err = {0};
    assert_int_equal(pd_spec_load(spec_path, &spec, &err), 0);
    struct pd_certify_result res;
    json_t *doc = certify_to_json(k.run, &spec, k.out, &res);
    assert_int_equal(res.verdict, PD_VERDICT_FAIL);
    assert_int_equal(res.n_failed, 2);
    assert_string_equal(jstring(doc, "verdict"), "fail");
    assert_string_equal(jstring(doc, "notice"), "SIMULATED — not a test result");
    assert_true(json_is_true(json_object_get(json_array_get(json_object_get(doc, "runs"), 0), "simulated")));
    assert_false(res.accredited); /* simulated data are never accredited */
    const json_t *checks = json_object_get(doc, "checks");
    assert_string_equal(json_string_value(json_object_get(json_array_get(checks, 0), "verdict")), "pass");
    const json_t *each = json_array_get(checks, 1);
    assert_string_equal(json_string_value(json_object_get(each, "verdict")), "fail");
    const json_t *vals = json_object_get(each, "values");
    const char *want[] = {"fail", "fail", "pass", "pass"};
    for (size_t s = 0; s < 4; s++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(vals, s), "verdict")), want[s]);
    const json_t *ys = json_array_get(checks, 2);
    assert_near(jnum(ys, "value"), 6.0, 1e-9);
    assert_string_equal(json_string_value(json_object_get(ys, "verdict")), "fail");
    json_decref(doc);
}

static void test_certify_invalid_specimens(void **state)
{
    (void)state;
    const struct run_specimen series[] = {
        {"S01", 0.75, "tested", false, false, false, false},
        {"S02", 0.76, "tested", true, false, false, false},  /* NaN: cannot be evaluated */
        {"S03", 0.77, "invalid: broke in the grips", false, false, false, false}, /* width 10.12 mm */
        {"S04", 0.78, "tested", false, true, false, false},  /* too sparse for the modulus */
        {"S05", 0.78, "tested", false, false, false, false},
        {"S06", 0.78, NULL, false, false, false, false},      /* never marked tested: the series is incomplete */
    };
    struct cert_case k;
    static struct pd_spec spec;
    struct pd_certify_result res;
    own_width[2] = 10.12;
    json_t *doc = certify_demo(&k, "invalid", 0, series, 6, &spec, &res);
    own_width[2] = 0.0;
    /* Every limit is met by S01 and S05, but the series is incomplete. */
    assert_int_equal(res.verdict, PD_VERDICT_FAIL);
    /* S04 is evaluated too, all but its modulus (modulus n/a): the modulus limit has no value for
     * it, and its curve, which ends at 2 % strain while still rising, fails the strength limits. */
    assert_int_equal(res.n_specimens, 3);
    assert_int_equal(res.n_failed, 3);
    assert_string_equal(jstring(doc, "verdict"), "fail");
    const json_t *sp = json_object_get(doc, "specimens");
    assert_int_equal(json_array_size(sp), 6);
    assert_null(json_object_get(json_array_get(sp, 0), "excluded_reason"));
    assert_non_null(strstr(jstring(json_array_get(sp, 1), "excluded_reason"), "sample 25 "));
    assert_non_null(strstr(jstring(json_array_get(sp, 2), "excluded_reason"), "invalidated"));
    assert_non_null(strstr(jstring(json_array_get(sp, 2), "excluded_reason"), "broke in the grips"));
    /* The invalidated specimen's row shows its own dimensions as measured, like the evaluated ones,
     * and no results. */
    const json_t *dims3 = json_object_get(json_array_get(sp, 2), "dimensions");
    assert_near(jnum(dims3, "width_mm"), 10.12, 0);
    assert_near(jnum(dims3, "thickness_mm"), 4.0, 0);
    assert_near(jnum(dims3, "gauge_length_mm"), 75.0, 0);
    assert_null(json_object_get(json_array_get(sp, 2), "results"));
    assert_near(jnum(json_object_get(json_array_get(sp, 0), "dimensions"), "width_mm"), 10.0, 0);
    /* The PDF's row of S03 (pdftotext, where poppler is installed): the width, then "excluded". */
    if (access("/usr/bin/pdftotext", X_OK) == 0) {
        char cmd[9000], txt[4200];
        snprintf(txt, sizeof txt, "%s.txt", res.pdf_path);
        snprintf(cmd, sizeof cmd, "/usr/bin/pdftotext -q -layout '%s' '%s'", res.pdf_path, txt);
        assert_int_equal(system(cmd), 0);
        FILE *f = fopen(txt, "r");
        assert_non_null(f);
        char line[1024];
        bool row = false, note = false;
        while (fgets(line, sizeof line, f)) {
            char w[16], t[16], l0[16], ex[16];
            if (sscanf(line, " S03 %15s %15s %15s %15s", w, t, l0, ex) == 4)
                row = row || (strcmp(w, "10.12") == 0 && strcmp(t, "4") == 0 && strcmp(l0, "75") == 0 &&
                              strcmp(ex, "excluded") == 0);
            note = note || (strstr(line, "S03") && strstr(line, "broke in the grips"));
        }
        fclose(f);
        assert_true(row);
        assert_true(note);
    }
    assert_null(json_object_get(json_array_get(sp, 3), "excluded_reason"));
    assert_non_null(strstr(jstring(json_object_get(json_array_get(sp, 3), "evaluation"), "modulus_na_reason"),
                           "10 samples"));
    /* the certificate's n/a reason is the evaluation's own */
    assert_non_null(strstr(jstring(json_object_get(json_array_get(sp, 3), "not_applicable"), "tensile_modulus"),
                           "modulus range too sparse: 10 samples"));
    assert_near(jnum(doc, "series.tensile_modulus.n"), 2, 0);
    assert_near(jnum(doc, "series.tensile_modulus.mean"), 1530.0, 1e-6);
    const json_t *reasons = json_object_get(doc, "verdict_reasons");
    assert_int_equal(json_array_size(reasons), 5);
    assert_non_null(strstr(json_string_value(json_array_get(reasons, 0)), "S02"));
    assert_non_null(strstr(json_string_value(json_array_get(reasons, 1)), "S06 was not tested"));
    assert_non_null(strstr(json_string_value(json_array_get(reasons, 2)), "tensile_modulus: no value for specimen S04"));
    assert_non_null(strstr(json_string_value(json_array_get(reasons, 4)), "tensile_strength of specimen S04"));
    assert_non_null(strstr(jstring(json_array_get(sp, 5), "excluded_reason"), "not tested"));
    json_decref(doc);
}

/* Samples the instrument did not deliver (NaN, marked unread in their quality) are left out of the
 * evaluation and said in the specimen's warnings; the rows that were read give T1's exact results
 * (the two missing samples lie on straight parts of the curve). A NaN without the mark (S02 of
 * test_certify_invalid_specimens) is damaged data and still refused. */
static void test_certify_skips_unread_samples(void **state)
{
    (void)state;
    const struct run_specimen series[] = {
        {"S01", 1.0, "tested", false, false, false, true},
    };
    struct cert_case k;
    static struct pd_spec spec;
    struct pd_certify_result res;
    json_t *doc = certify_demo(&k, "unread", 0, series, 1, &spec, &res);
    assert_int_equal(res.n_specimens, 1);
    const json_t *sp = json_array_get(json_object_get(doc, "specimens"), 0);
    assert_null(json_object_get(sp, "excluded_reason"));
    const json_t *ev = json_object_get(sp, "evaluation");
    assert_near(jnum(ev, "unread_samples"), 2, 0);
    assert_non_null(strstr(json_string_value(json_array_get(json_object_get(ev, "warnings"), 0)),
                           "2 samples with a channel the instrument did not deliver"));
    assert_near(jnum(sp, "results.tensile_modulus.value"), 2000.0, 2000.0 * 1e-9);
    assert_near(jnum(sp, "results.tensile_strength.value"), 40.0, 40.0 * 1e-12);
    assert_near(jnum(sp, "results.strain_at_strength.value"), 6.0, 1e-9);
    json_decref(doc);
}

static void test_certify_wrong_method(void **state)
{
    (void)state;
    struct cert_case k;
    case_paths(&k, "flex");
    write_run(k.run, "iso178", 0, good_series, 2);
    static struct pd_spec spec;
    load_demo_spec(&spec);
    struct pd_certify_options opt = {.out_dir = k.out};
    struct pd_certify_result res;
    memset(&res, 0x44, sizeof res);
    struct pd_certify_result before = res;
    struct pd_err err = {0};
    assert_int_equal(pd_certify_run(k.run, &spec, &opt, &res, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "run method 'iso178'"));
    assert_memory_equal(&res, &before, sizeof res);
    char cert[300];
    snprintf(cert, sizeof cert, "%s/CERT-000001.json", k.out);
    assert_int_equal(access(cert, F_OK), -1);

    char missing[300];
    snprintf(missing, sizeof missing, "%s/no-such-run.h5", tmp_dir);
    assert_true(pd_certify_run(missing, &spec, &opt, &res, &err) < 0);
}

static void test_certify_refuses_other_units(void **state)
{
    (void)state;
    struct cert_case k;
    static struct pd_spec spec;
    struct pd_certify_result res;
    force_unit = "kN";
    json_t *doc = certify_demo(&k, "kn", 0, good_series, 2, &spec, &res);
    force_unit = "N";
    assert_int_equal(res.verdict, PD_VERDICT_FAIL);
    assert_int_equal(res.n_specimens, 0);
    assert_int_equal(res.n_failed, 3); /* nothing to check is not a pass */
    const json_t *sp = json_object_get(doc, "specimens");
    assert_string_equal(jstring(json_array_get(sp, 0), "excluded_reason"), "channel 'force' is in 'kN', expected N");
    assert_int_equal(json_object_size(json_object_get(doc, "series")), 0);
    json_decref(doc);
}


/* ISO 527 grip slip through the whole chain (store → certify → JSON): the slipping specimen's
 * evaluation lists each tooth (strain, depth) and a warning for the reviewer, its results are
 * those of the curve without the teeth, and a clean specimen carries neither. */
static void test_certify_reports_grip_slip(void **state)
{
    (void)state;
    const struct run_specimen series[] = {
        {"S01", 0.75, "tested", false, false, false, false},
        {"S02", 1.0, "tested", false, false, true, false},
    };
    struct cert_case k;
    static struct pd_spec spec;
    struct pd_certify_result res;
    json_t *doc = certify_demo(&k, "slip", 0, series, 2, &spec, &res);
    assert_int_equal(res.n_specimens, 2);
    const json_t *sp = json_object_get(doc, "specimens");
    const json_t *clean = json_object_get(json_array_get(sp, 0), "evaluation");
    assert_non_null(clean);
    assert_null(json_object_get(clean, "grip_slips"));
    assert_null(json_object_get(clean, "warnings"));

    const json_t *slipped = json_array_get(sp, 1);
    const json_t *ev = json_object_get(slipped, "evaluation");
    const json_t *slips = json_object_get(ev, "grip_slips");
    assert_int_equal(json_array_size(slips), 2);
    /* in the order found: the break search meets the deep tooth at 20 % first */
    assert_near(jnum(json_array_get(slips, 0), "strain_percent"), 20.0, 1e-9);
    assert_near(jnum(json_array_get(slips, 0), "drop_percent"), 95.0, 1e-6);
    assert_near(jnum(json_array_get(slips, 1), "strain_percent"), 3.0, 1e-9);
    const json_t *warnings = json_object_get(ev, "warnings");
    assert_int_equal(json_array_size(warnings), 2);
    const char *w0 = json_string_value(json_array_get(warnings, 0));
    assert_non_null(w0);
    assert_non_null(strstr(w0, "grip slip at ε = 20.000 %"));
    assert_non_null(strstr(w0, "not taken as yield or break"));
    assert_non_null(strstr(json_string_value(json_array_get(warnings, 1)), "grip slip at ε = 3.000 %"));
    assert_near(jnum(slipped, "results.yield_strain.value"), 6.0, 1e-9); /* T1's yield, not the tooth at 3 % */
    assert_near(jnum(slipped, "results.tensile_strength.value"), 40.0, 1e-9);
    assert_near(jnum(slipped, "results.strain_at_break.value"), 60.0, 1e-9); /* not the tooth at 20 % */
    json_decref(doc);
}

/* A load drop that does not come back is not a grip slip: σm is the stress before it (the first
 * local maximum), and the evaluation says both that and that the curve later climbs higher. */
static void test_certify_reports_load_drop(void **state)
{
    (void)state;
    const struct run_specimen series[] = {
        {"S01", 1.0, "tested", false, false, false, false},
    };
    struct cert_case k;
    static struct pd_spec spec;
    struct pd_certify_result res;
    write_drops = true;
    json_t *doc = certify_demo(&k, "drop", 0, series, 1, &spec, &res);
    write_drops = false;
    assert_int_equal(res.n_specimens, 1);
    const json_t *sp = json_array_get(json_object_get(doc, "specimens"), 0);
    const json_t *ev = json_object_get(sp, "evaluation");
    assert_null(json_object_get(ev, "grip_slips"));
    const json_t *warnings = json_object_get(ev, "warnings");
    assert_int_equal(json_array_size(warnings), 2);
    /* the run holds T1 at 1e-3 strain steps there: from σ(3.0 %) to 0.9·σ(3.1 %) in one step */
    char want[96];
    snprintf(want, sizeof want, "sudden load drop of %.1f %% in one sample at ε = 3.000 %%",
             100.0 * (t1_stress(0.03) - 0.9 * t1_stress(0.031)) / t1_stress(0.03));
    assert_non_null(strstr(json_string_value(json_array_get(warnings, 0)), want));
    assert_non_null(strstr(json_string_value(json_array_get(warnings, 0)), "not a grip slip"));
    assert_non_null(strstr(json_string_value(json_array_get(warnings, 1)), "later rises to 36 MPa"));
    assert_near(jnum(sp, "results.tensile_strength.value"), t1_stress(0.03), 1e-12);
    assert_near(jnum(sp, "results.strain_at_strength.value"), 3.0, 1e-9);
    json_decref(doc);
}

/* The store's read into a kept array (certify's fast path): same samples as pd_run_read_channel,
 * the array grown only when a channel does not fit, left alone by refusals. */
/* Hashing started early (as `polydaq certify` does before loading the spec) gives the digests
 * pd_sha256_file gives, reports a file that cannot be read, and is finished by certify also when
 * certify refuses its input (no thread or memory left behind: ASan/valgrind). */
static void test_hashing_started_early(void **state)
{
    (void)state;
    char a[128], b[128];
    snprintf(a, sizeof a, "%s/hash-a.bin", tmp_dir);
    snprintf(b, sizeof b, "%s/hash-b.bin", tmp_dir);
    FILE *f = fopen(a, "w");
    assert_non_null(f);
    for (int i = 0; i < 300000; i++)
        fputc(i * 7 & 0xff, f);
    fclose(f);
    f = fopen(b, "w");
    assert_non_null(f);
    fputs("abc", f);
    fclose(f);
    const char *paths[] = {a, b};
    struct pd_cert_hashing *h = NULL;
    struct pd_err err;
    assert_int_equal(pd_cert_hashing_start(paths, 2, &h, &err), 0);
    char hex[2][65], want[65];
    assert_int_equal(pd_cert_hashing_finish(h, hex, &err), 0);
    assert_int_equal(pd_sha256_file(a, want, NULL), 0);
    assert_string_equal(hex[0], want);
    assert_string_equal(hex[1], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    char missing[128];
    snprintf(missing, sizeof missing, "%s/no-such-run.h5", tmp_dir);
    const char *gone[] = {missing};
    assert_int_equal(pd_cert_hashing_start(gone, 1, &h, &err), 0);
    assert_true(pd_cert_hashing_finish(h, hex, &err) < 0);
    assert_non_null(strstr(err.msg, "no-such-run.h5"));

    /* certify refuses (a revision without its reason) and still finishes the hashing handed to it */
    static struct pd_spec spec;
    memset(&spec, 0, sizeof spec);
    assert_int_equal(pd_cert_hashing_start(paths, 1, &h, &err), 0);
    struct pd_certify_options opt = {.out_dir = tmp_dir, .replaces = "CERT-000001", .hashing = h};
    struct pd_certify_result res;
    assert_int_equal(pd_certify_runs(paths, 1, &spec, &opt, &res, &err), PD_EINVAL);
}

static void test_read_channel_into_reuses_array(void **state)
{
    (void)state;
    const struct run_specimen series[] = {
        {"S01", 0.75, "tested", false, true, false, false}, /* sparse: 101 samples */
        {"S02", 0.76, "tested", false, false, false, false}, /* 793 samples */
    };
    struct cert_case k;
    case_paths(&k, "into");
    write_run(k.run, "iso527", 0, series, 2);
    struct pd_run *run = NULL;
    struct pd_err err = {0};
    assert_int_equal(pd_run_open(k.run, &run, &err), 0);
    double *buf = NULL, *want = NULL;
    size_t cap = 0, n = 0, nw = 0;
    assert_int_equal(pd_run_read_channel_into(run, 1, 0, "force", &buf, &cap, &n, &err), 0);
    assert_int_equal(pd_run_read_channel(run, 1, 0, "force", &want, &nw, &err), 0);
    assert_int_equal(n, 793);
    assert_int_equal(n, nw);
    assert_true(cap >= n);
    assert_memory_equal(buf, want, n * sizeof *buf);
    free(want);

    double *same = buf;
    size_t cap_before = cap;
    assert_int_equal(pd_run_read_channel_into(run, 0, 0, "extension", &buf, &cap, &n, &err), 0);
    assert_ptr_equal(buf, same); /* fits: the same memory */
    assert_int_equal(cap, cap_before);
    assert_int_equal(n, 101);
    assert_int_equal(pd_run_read_channel(run, 0, 0, "extension", &want, &nw, &err), 0);
    assert_memory_equal(buf, want, n * sizeof *buf);
    free(want);

    assert_int_equal(pd_run_read_channel_into(run, 0, 0, "torque", &buf, &cap, &n, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "no channel 'torque'"));
    assert_int_equal(pd_run_read_channel_into(run, 9, 0, "force", &buf, &cap, &n, &err), PD_EINVAL);
    assert_ptr_equal(buf, same);
    assert_int_equal(cap, cap_before);
    assert_int_equal(n, 101);
    free(buf);
    pd_run_close(run);
}

/* ---- decision rules and uncertainty ---------------------------------------------------------*/
static void test_decision_q1(void **state)
{
    (void)state;
    /* Q1: σy >= 38.0 MPa, result 38.4, U = 0.8 (k = 2). */
    struct pd_decision d;
    assert_int_equal(pd_decide(PD_RULE_SIMPLE, 1.0, true, 38.0, false, 0, 38.4, 0.8, 2.0, &d), 0);
    assert_int_equal(d.verdict, PD_VERDICT_PASS);
    assert_near(d.w, 0.0, 0);
    assert_int_equal(pd_decide(PD_RULE_GUARD_BINARY, 1.0, true, 38.0, false, 0, 38.4, 0.8, 2.0, &d), 0);
    assert_int_equal(d.verdict, PD_VERDICT_FAIL);
    assert_near(d.al_min, 38.8, 1e-12);
    assert_near(d.tl_min, 38.0, 0);
    assert_near(d.U, 0.8, 0);
    assert_int_equal(pd_decide(PD_RULE_GUARD_NONBINARY, 1.0, true, 38.0, false, 0, 38.4, 0.8, 2.0, &d), 0);
    assert_int_equal(d.verdict, PD_VERDICT_COND_PASS);
    assert_string_equal(pd_verdict_name(d.verdict), "conditional pass");
    /* below the limit but within w: conditional fail; beyond TL − w: fail */
    assert_int_equal(pd_decide(PD_RULE_GUARD_NONBINARY, 1.0, true, 38.0, false, 0, 37.5, 0.8, 2.0, &d), 0);
    assert_int_equal(d.verdict, PD_VERDICT_COND_FAIL);
    assert_int_equal(pd_decide(PD_RULE_GUARD_NONBINARY, 1.0, true, 38.0, false, 0, 37.1, 0.8, 2.0, &d), 0);
    assert_int_equal(d.verdict, PD_VERDICT_FAIL);
    /* Q1 MFR: 7.0–9.0, result 8.13, U = 0.35: AL 7.35–8.65, pass under both rules */
    assert_int_equal(pd_decide(PD_RULE_GUARD_BINARY, 1.0, true, 7.0, true, 9.0, 8.13, 0.35, 2.0, &d), 0);
    assert_int_equal(d.verdict, PD_VERDICT_PASS);
    assert_near(d.al_min, 7.35, 1e-12);
    assert_near(d.al_max, 8.65, 1e-12);
    assert_int_equal(pd_decide(PD_RULE_SIMPLE, 1.0, true, 7.0, true, 9.0, 8.13, 0.35, 2.0, &d), 0);
    assert_int_equal(d.verdict, PD_VERDICT_PASS);
    /* refused: no limit, a negative U under a guard band */
    assert_int_equal(pd_decide(PD_RULE_SIMPLE, 1.0, false, 0, false, 0, 1.0, 0.1, 2.0, &d), PD_EINVAL);
    assert_int_equal(pd_decide(PD_RULE_GUARD_BINARY, 1.0, true, 0, false, 0, 1.0, -0.1, 2.0, &d), PD_EINVAL);
    assert_int_equal(pd_verdict_combine(PD_VERDICT_COND_PASS, PD_VERDICT_PASS), PD_VERDICT_COND_PASS);
    assert_int_equal(pd_verdict_combine(PD_VERDICT_COND_PASS, PD_VERDICT_COND_FAIL), PD_VERDICT_COND_FAIL);
    assert_int_equal(pd_verdict_combine(PD_VERDICT_FAIL, PD_VERDICT_COND_FAIL), PD_VERDICT_FAIL);
}

static void test_uncertainty_budget(void **state)
{
    (void)state;
    struct pd_uncertainty_budget b = {.k = 2.0, .input = {[PD_U_FORCE] = 1.0, [PD_U_WIDTH] = 0.01,
                                                          [PD_U_THICKNESS] = 0.01, [PD_U_TEMPERATURE] = 0.5}};
    const double stress[PD_U_SOURCE_COUNT] = {[PD_U_FORCE] = 1, [PD_U_WIDTH] = 1, [PD_U_THICKNESS] = 1};
    double rel = sqrt(pow(0.01 / sqrt(3), 2) + pow(0.01 / sqrt(3) / 10, 2) + pow(0.01 / sqrt(3) / 4, 2));
    assert_near(pd_uncertainty_standard(&b, stress, 40.0, 10.0, 4.0, 75.0), 40.0 * rel, 1e-12);
    const double temp[PD_U_SOURCE_COUNT] = {[PD_U_TEMPERATURE] = 1};
    assert_near(pd_uncertainty_standard(&b, temp, 95.66, 0, 0, 0), 0.5 / sqrt(3), 1e-12);
}

/* ---- method files --------------------------------------------------------------------------*/
static void test_method_files(void **state)
{
    (void)state;
    static struct pd_method_def def, builtin;
    struct pd_err err = {0};
    for (size_t i = 0; pd_cert_method_ids[i]; i++) {
        char path[512];
        snprintf(path, sizeof path, PD_SOURCE_DIR "/config/methods/%s.yaml", pd_cert_method_ids[i]);
        int rc = pd_method_load(path, &def, &err);
        if (rc != 0)
            print_error("%s\n", err.msg);
        assert_int_equal(rc, 0);
        assert_string_equal(def.base, pd_cert_method_ids[i]);
        assert_int_equal(pd_method_defaults(pd_cert_method_ids[i], &builtin, &err), 0);
        /* the shipped files state the built-in defaults */
        assert_int_equal(def.n_params, builtin.n_params);
        for (size_t k = 0; k < def.n_params; k++)
            assert_near(def.params[k].value, builtin.params[k].value, 0);
        for (int u = 0; u < PD_U_SOURCE_COUNT; u++)
            assert_near(def.uncertainty.input[u], builtin.uncertainty.input[u], 0);
        assert_non_null(strstr(def.text, "method:"));
    }
    assert_near(pd_method_param(&def, "penetration"), 1.0, 0);

    static const struct {
        const char *text, *where, *part;
    } bad[] = {
        {"method: {id: iso527-x, base: iso527}\nparameters: {modulus: secant}\n", "2:23", "expected one of chord, regression"},
        {"method: {id: iso527-x, base: iso527}\nparameters: {e9: 1}\n", "2:14", "unknown parameter 'e9' for method iso527"},
        {"method: {id: iso527-x, base: iso527}\nparameters: {break_fraction: 2}\n", "2:30", "outside"},
        {"method: {id: x, base: iso999}\n", "1:23", "unknown base method 'iso999'"},
        {"method: {id: iso527}\nchannels:\n  - {name: force, unit: kN}\n", "3:25", "force must be in N"},
        {"method: {id: iso527}\nuncertainty: {k: 7}\n", "2:18", "coverage factor"},
        {"method: {id: iso527}\nparameters: {toe_compensation: maybe}\n", "2:32", "expected a boolean"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        static struct pd_method_def before;
        memset(&def, 0x5a, sizeof def);
        before = def;
        char name[32], want[64];
        snprintf(name, sizeof name, "m%zu.yaml", i);
        snprintf(want, sizeof want, "%s:%s:", name, bad[i].where);
        int rc = pd_method_load_string(name, bad[i].text, &def, &err);
        if (rc != PD_ECONFIG || strncmp(err.msg, want, strlen(want)) != 0 || !strstr(err.msg, bad[i].part))
            print_error("case %zu: want '%s ... %s', got %d: %s\n", i, want, bad[i].part, rc, err.msg);
        assert_int_equal(rc, PD_ECONFIG);
        assert_int_equal(strncmp(err.msg, want, strlen(want)), 0);
        assert_non_null(strstr(err.msg, bad[i].part));
        assert_memory_equal(&def, &before, sizeof def);
    }
    assert_int_equal(pd_method_load_string("v.yaml", "method: {id: iso527-regr, base: iso527}\n"
                                                     "parameters: {modulus: regression, toe_compensation: yes}\n",
                                           &def, &err), 0);
    assert_string_equal(def.id, "iso527-regr");
    assert_near(pd_method_param(&def, "modulus"), 1.0, 0);
    assert_near(pd_method_param(&def, "toe_compensation"), 1.0, 0);
}

/* ---- ISO 527 extras ------------------------------------------------------------------------*/
static void test_t1_toe_compensation(void **state)
{
    (void)state;
    struct pd_test_curve c = {0};
    for (int i = 0; i <= 1000; i++)
        curve_add(&c, i * 1e-5, toe_stress(i * 1e-5));
    struct pd_tensile_params p = params_with(PD_MODULUS_CHORD, 0.0);
    p.toe_compensation = true;
    struct pd_tensile_result r = must_evaluate(&c, &p);
    assert_true(r.toe_compensated);
    assert_near(r.toe_offset, 0.0005, 1e-9);
    assert_near(r.modulus_MPa, 2000.0, 1e-6);
    /* a curve without toe is left alone */
    pd_test_curve_free(&c);
    make_t1(&c, 1.0);
    r = must_evaluate(&c, &p);
    assert_false(r.toe_compensated);
    assert_near(r.modulus_MPa, 2000.0, 1e-6);
    pd_test_curve_free(&c);
}

static void test_crosshead_method_a(void **state)
{
    (void)state;
    struct pd_test_curve c = {0};
    make_t1(&c, 1.0);
    double *xhead = malloc(c.n * sizeof *xhead);
    assert_non_null(xhead);
    for (size_t i = 0; i < c.n; i++)
        xhead[i] = c.ext[i] / 75.0 * 115.0; /* homogeneous: nominal strain = extensometer strain */
    struct pd_tensile_specimen sp = specimen_of(&c);
    sp.extension_mm = NULL;
    sp.crosshead_mm = xhead;
    sp.grip_distance_mm = 115.0;
    struct pd_tensile_params p;
    pd_tensile_params_default(&p);
    p.strain_source = PD_STRAIN_CROSSHEAD;
    struct pd_tensile_result r;
    struct pd_err err = {0};
    assert_int_equal(pd_tensile_evaluate(&sp, &p, &r, &err), 0);
    assert_false(r.has_modulus); /* never from the crosshead */
    assert_true(isnan(r.modulus_MPa));
    assert_non_null(strstr(r.modulus_na_reason, "strain from the crosshead"));
    assert_near(r.strength_MPa, 40.0, 1e-9);
    assert_near(r.nominal_strain_at_break, 0.60, 1e-12);
    /* no extensometer and the default source: a clear error */
    pd_tensile_params_default(&p);
    assert_int_equal(pd_tensile_evaluate(&sp, &p, &r, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "no extensometer"));
    free(xhead);
    pd_test_curve_free(&c);
}

static void test_smoothed_yield(void **state)
{
    (void)state;
    struct pd_test_curve c = {0};
    rng.state = 7;
    for (int i = 0; i <= 60000; i++)
        curve_add(&c, i * 1e-5, t1_stress(i * 1e-5) + 0.05 * pd_test_gaussian(&rng));
    struct pd_tensile_params p;
    pd_tensile_params_default(&p);
    p.yield_smoothing = 0.002;
    p.max_hysteresis = 0.01;
    struct pd_tensile_result r = must_evaluate(&c, &p);
    assert_true(r.has_yield);
    assert_near(r.yield_stress_MPa, 40.0, 0.05);
    assert_near(r.yield_strain, 0.06, 0.004);
    assert_true(r.yield_raw_max_MPa >= r.yield_stress_MPa);
    pd_test_curve_free(&c);
}

/* ---- other methods: the worked examples ----------------------------------------------------*/
static void test_flexural_f1(void **state)
{
    (void)state;
    size_t n = 7001;
    double *f = malloc(n * sizeof *f), *s = malloc(n * sizeof *s);
    assert_true(f && s);
    for (size_t i = 0; i < n; i++) {
        s[i] = (double)i * 0.001;
        f[i] = 120.0 * tanh(24.4140625 * s[i] / 120.0);
    }
    struct pd_flexural_result r;
    struct pd_err err = {0};
    assert_int_equal(pd_flexural_evaluate(f, s, n, 10.0, 4.0, 64.0, NULL, &r, &err), 0);
    assert_near(r.modulus_MPa, 2492.0, 1.0);
    assert_false(r.has_maximum);
    assert_true(r.reached_conventional);
    assert_near(r.conventional_stress_MPa, 60.47, 0.01);
    assert_int_equal(pd_flexural_evaluate(f, s, 2, 10.0, 4.0, 64.0, NULL, &r, &err), PD_EDATA);
    assert_int_equal(pd_flexural_evaluate(f, s, n, 10.0, 0.0, 64.0, NULL, &r, &err), PD_EDATA);
    free(f);
    free(s);
}

/* ISO 178 with machine compliance: the crosshead also measures the frame's give C·F. Worked value:
 * C = 0.002 mm/N, F = 50 N at a crosshead reading of 1.100 mm → s = 1.000 mm, εf = 6·1.0·4/64² =
 * 0.5859375 %. The F1 curve measured that way must evaluate as F1 itself. */
static void test_flexural_compliance(void **state)
{
    (void)state;
    size_t n = 7001;
    double *f = malloc(n * sizeof *f), *s = malloc(n * sizeof *s), *xh = malloc(n * sizeof *xh);
    assert_true(f && s && xh);
    for (size_t i = 0; i < n; i++) {
        s[i] = (double)i * 0.001;
        f[i] = 120.0 * tanh(24.4140625 * s[i] / 120.0);
        xh[i] = s[i] + 0.004 * f[i]; /* a soft frame: 10 % of the initial deflection */
    }
    struct pd_flexural_params p;
    pd_flexural_params_default(&p);
    struct pd_flexural_result want, got, raw;
    struct pd_err err = {0};
    assert_int_equal(pd_flexural_evaluate(f, s, n, 10.0, 4.0, 64.0, &p, &want, &err), 0);
    assert_int_equal(pd_flexural_evaluate(f, xh, n, 10.0, 4.0, 64.0, &p, &raw, &err), 0);
    assert_true(raw.modulus_MPa < 0.95 * want.modulus_MPa); /* uncorrected: the frame looks like the specimen */
    p.compliance_mm_per_N = 0.004;
    assert_int_equal(pd_flexural_evaluate(f, xh, n, 10.0, 4.0, 64.0, &p, &got, &err), 0);
    assert_near(got.modulus_MPa, want.modulus_MPa, 1e-6 * want.modulus_MPa);
    assert_near(got.conventional_stress_MPa, want.conventional_stress_MPa, 1e-6);

    /* The worked point alone: one linear specimen through (F = 50 N, crosshead 1.1 mm). */
    double F[3] = {0.0, 25.0, 50.0}, X[3] = {0.0, 0.55, 1.1};
    struct pd_flexural_params q;
    pd_flexural_params_default(&q);
    q.compliance_mm_per_N = 0.002;
    q.min_modulus_points = 2;
    q.e1 = 0.0;
    q.e2 = 0.005;
    assert_int_equal(pd_flexural_evaluate(F, X, 3, 10.0, 4.0, 64.0, &q, &got, &err), 0);
    /* σf(50 N) = 3·50·64/(2·10·16) = 30 MPa over εf = 0.5859375 %: Ef = 5120 MPa */
    assert_near(got.modulus_MPa, 30.0 / 0.005859375, 1e-6);
    q.compliance_mm_per_N = -1.0;
    assert_int_equal(pd_flexural_evaluate(F, X, 3, 10.0, 4.0, 64.0, &q, &got, &err), PD_EINVAL);
    free(f);
    free(s);
    free(xh);
}

/* ---- ISO 178 on the preferred bar (80 × 10 × 4, L = 64): σf = 0.6·F, εf = s/170.667 ------------*/
#define FLEX_MM_PER_STRAIN (64.0 * 64.0 / (6.0 * 4.0)) /* s = εf·L²/(6h) */
struct flex_curve {
    double *f, *s;
    size_t n;
};

/* Samples εf = first, first + step, … up to `last` (inclusive, computed as first + i·step) of the
 * stress–strain curve `sigma`, as force and deflection, plus Gaussian force noise of SD `noise_N`. */
static struct flex_curve flex_sample(double (*sigma)(double), double first, double last, double step, double noise_N,
                                     struct pd_test_rng *draw)
{
    struct flex_curve c = {0};
    size_t n = (size_t)floor((last - first) / step + 1e-9) + 1;
    c.f = malloc(n * sizeof *c.f);
    c.s = malloc(n * sizeof *c.s);
    assert_true(c.f && c.s);
    for (size_t i = 0; i < n; i++) {
        double e = first + (double)i * step;
        c.f[i] = sigma(e) / 0.6 + (noise_N > 0.0 ? noise_N * pd_test_gaussian(draw) : 0.0);
        c.s[i] = e * FLEX_MM_PER_STRAIN;
    }
    c.n = n;
    return c;
}

static void flex_free(struct flex_curve *c)
{
    free(c->f);
    free(c->s);
}

static struct pd_flexural_result flex_evaluate(const struct flex_curve *c)
{
    struct pd_flexural_result r;
    struct pd_err err = {0};
    int rc = pd_flexural_evaluate(c->f, c->s, c->n, 10.0, 4.0, 64.0, NULL, &r, &err);
    if (rc != 0)
        print_error("flexural evaluation failed: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return r;
}

/* F1 (test-methods.md §12) as a stress–strain curve: F = 120·tanh(24.4140625·s/120) N. */
static double f1_stress(double e)
{
    return 0.6 * 120.0 * tanh(24.4140625 * e * FLEX_MM_PER_STRAIN / 120.0);
}

/* Data that start past εf1 (a preload, a late start of the recording) or a sparse modulus range:
 * "modulus n/a" with the reason, and the strength results all the same (F1: σfC 60.47 MPa). */
static void test_flexural_modulus_na_keeps_strength(void **state)
{
    (void)state;
    /* from s = 0.1 mm (εf = 0.0586 %), every 1 µm of deflection to sC = 6 mm */
    struct flex_curve c = flex_sample(f1_stress, 0.1 / FLEX_MM_PER_STRAIN, 6.0 / FLEX_MM_PER_STRAIN,
                                      0.001 / FLEX_MM_PER_STRAIN, 0.0, NULL);
    struct pd_flexural_result r = flex_evaluate(&c);
    assert_false(r.has_modulus);
    assert_true(isnan(r.modulus_MPa));
    assert_true(isnan(r.modulus_u_noise_MPa));
    assert_non_null(strstr(r.modulus_na_reason, "data start at 0.05859 % flexural strain, beyond εf1 = 0.05 %"));
    assert_true(r.reached_conventional);
    assert_near(r.conventional_stress_MPa, 0.6 * 120.0 * tanh(24.4140625 * 6.0 / 120.0), 1e-9);
    assert_near(r.conventional_stress_MPa, 60.47, 0.005);
    flex_free(&c);

    /* every 0.1 mm: 4 samples between 0.0853 and 0.4267 mm, 5 needed */
    c = flex_sample(f1_stress, 0.0, 6.0 / FLEX_MM_PER_STRAIN, 0.1 / FLEX_MM_PER_STRAIN, 0.0, NULL);
    r = flex_evaluate(&c);
    assert_false(r.has_modulus);
    assert_non_null(strstr(r.modulus_na_reason, "too sparse: 4 samples"));
    assert_near(r.conventional_stress_MPa, 60.47, 0.005);
    flex_free(&c);

    /* A bar that breaks at 0.2 % flexural strain never reaches εf2, where break and maximum detection
     * are armed (as for ISO 527): nothing at all to evaluate, refused, the result untouched. The same
     * for a deflectometer wired the wrong way round. */
    c = flex_sample(f1_stress, 0.0, 0.002, 1e-5, 0.0, NULL);
    c.f[c.n - 1] = 0.0;
    for (int flipped = 0; flipped < 2; flipped++) {
        for (size_t i = 0; flipped && i < c.n; i++)
            c.s[i] = -c.s[i];
        struct pd_flexural_result before;
        memset(&r, 0x5a, sizeof r);
        before = r;
        struct pd_err err = {0};
        assert_int_equal(pd_flexural_evaluate(c.f, c.s, c.n, 10.0, 4.0, 64.0, NULL, &r, &err), PD_EDATA);
        assert_non_null(strstr(err.msg, flipped ? "nothing to evaluate: modulus range not reached: flexural strain "
                                                  "reaches only 0 %"
                                                : "nothing to evaluate: modulus range not reached: flexural strain "
                                                  "reaches only 0.2 %"));
        assert_non_null(strstr(err.msg, "short of the conventional deflection (εf = 3.516 %)"));
        assert_memory_equal(&r, &before, sizeof r);
    }
    flex_free(&c);

    /* and with the range covered the modulus is there, with no reason */
    c = flex_sample(f1_stress, 0.0, 6.0 / FLEX_MM_PER_STRAIN, 0.001 / FLEX_MM_PER_STRAIN, 0.0, NULL);
    r = flex_evaluate(&c);
    assert_true(r.has_modulus);
    assert_string_equal(r.modulus_na_reason, "");
    assert_near(r.modulus_MPa, 2492.0, 1.0);
    flex_free(&c);
}

/* ISO 178 3.4: σfM is the *maximum* flexural stress the bar sustains, not the first local maximum
 * ISO 527-1:2012 asks for. A bar that slips on a support at 1.5 % (40 MPa, a sudden 10 % fall) and
 * then carries up to 48 MPa at 2.8 % before softening has σfM = 48 MPa, εfM = 2.8 %. */
static double slip_then_max(double e)
{
    if (e <= 0.015 + 1e-12) /* the sample at 1500·1e-5 is on the rise */
        return 40.0 / 0.015 * e;
    if (e <= 0.0151 + 1e-12)
        return 36.0;
    if (e <= 0.028) /* rising to the maximum, a parabola with its top at 2.8 % */
        return 48.0 - 12.0 * ((0.028 - e) / 0.0129) * ((0.028 - e) / 0.0129);
    return 48.0 - 4.0e4 * (e - 0.028) * (e - 0.028);
}

static void test_flexural_strength_is_the_highest_maximum(void **state)
{
    (void)state;
    struct pd_test_rng draw = {.state = 1780};
    for (int noisy = 0; noisy < 2; noisy++) {
        double noise_N = noisy ? 0.001 * 48.0 / 0.6 : 0.0; /* 0.1 % of the peak force */
        struct flex_curve c = flex_sample(slip_then_max, 0.0, 0.045, 1e-5, noise_N, &draw);
        struct pd_flexural_result r = flex_evaluate(&c);
        double tol = noisy ? (0.002 + 3.0 * 0.001) * 48.0 : 1e-9;
        assert_true(r.has_maximum);
        assert_near(r.max_stress_MPa, 48.0, tol);
        assert_near(r.strain_at_max, 0.028, noisy ? 0.002 : 1e-12);
        assert_near(r.first_max_MPa, 40.0, tol);
        assert_near(r.first_max_strain, 0.015, noisy ? 0.001 : 1e-12);
        assert_int_equal(r.maxima, 2);
        assert_true(r.load_drop); /* the slip is said */
        assert_near(r.load_drop_strain, 0.015, noisy ? 0.0002 : 1e-12);
        assert_false(r.reached_conventional);
        assert_true(isnan(r.conventional_stress_MPa));
        flex_free(&c);
    }
    /* the same bar breaking at 2.6 %, still on the rise: σfM = σfB at the break point, the second
     * of two maxima */
    struct flex_curve c = flex_sample(slip_then_max, 0.0, 0.026, 1e-5, 0.0, NULL);
    c.f[c.n - 1] = 0.0;
    struct pd_flexural_result r = flex_evaluate(&c);
    double e_break = 0.026 - 1e-5; /* the last sample before the fall */
    assert_true(r.has_maximum && r.has_break);
    assert_int_equal(r.maxima, 2);
    assert_near(r.strain_at_break, e_break, 1e-9);
    assert_near(r.stress_at_break_MPa, slip_then_max(e_break), 1e-6);
    assert_near(r.max_stress_MPa, slip_then_max(e_break), 1e-6);
    assert_near(r.first_max_MPa, 40.0, 1e-9);
    flex_free(&c);
}

/* sC is reached by a sample *at* it: a test the machine stops at s = sC = 6.000 mm has σfC (the
 * F1 value), which a search for a sample beyond sC missed. */
static void test_flexural_test_stopped_at_conventional_deflection(void **state)
{
    (void)state;
    size_t n = 6001;
    double *f = malloc(n * sizeof *f), *s = malloc(n * sizeof *s);
    assert_true(f && s);
    for (size_t i = 0; i < n; i++) {
        s[i] = (double)i / 1000.0; /* the last is exactly 6.0 mm */
        f[i] = 120.0 * tanh(24.4140625 * s[i] / 120.0);
    }
    struct flex_curve c = {.f = f, .s = s, .n = n};
    struct pd_flexural_result r = flex_evaluate(&c);
    assert_false(r.has_maximum);
    assert_true(r.reached_conventional);
    assert_near(r.conventional_stress_MPa, 0.6 * 120.0 * tanh(24.4140625 * 6.0 / 120.0), 1e-9);
    /* one sample short of sC: not reached, and nothing is extrapolated */
    c.n = n - 1;
    r = flex_evaluate(&c);
    assert_false(r.reached_conventional);
    assert_true(isnan(r.conventional_stress_MPa));
    assert_false(r.has_maximum);
    flex_free(&c);
}

/* A maximum at εf = 3.4 %, before sC (3.516 %), on a top so flat that the stress falls by the
 * confirming 0.5 % only at 3.8 %, past sC: the bar gave a maximum before sC (ISO 178 Figure 1
 * curve b), so σfM = 60 MPa at 3.4 % is reported, not σfC. */
static double late_confirmed_max(double e)
{
    return e <= 0.034 ? 60.0 - 60.0 * ((0.034 - e) / 0.034) * ((0.034 - e) / 0.034)
                      : 60.0 - 18750.0 * (e - 0.034) * (e - 0.034);
}

static void test_flexural_maximum_confirmed_after_conventional_deflection(void **state)
{
    (void)state;
    struct flex_curve c = flex_sample(late_confirmed_max, 0.0, 0.045, 1e-5, 0.0, NULL);
    struct pd_flexural_result r = flex_evaluate(&c);
    assert_true(r.has_maximum);
    assert_near(r.max_stress_MPa, 60.0, 1e-9);
    assert_near(r.strain_at_max, 0.034, 1e-12);
    assert_false(r.reached_conventional);
    assert_true(isnan(r.first_max_MPa)); /* only one maximum */
    flex_free(&c);
    /* the same top at 3.6 %, past sC: σfC at exactly εf = 3.515625 % */
    struct flex_curve d = flex_sample(late_confirmed_max, 0.002, 0.045, 1e-5, 0.0, NULL);
    for (size_t i = 0; i < d.n; i++)
        d.s[i] += 0.002 * FLEX_MM_PER_STRAIN; /* strain shifted by +0.2 %: top at 3.6 % */
    r = flex_evaluate(&d);
    assert_false(r.has_maximum);
    assert_true(r.reached_conventional);
    /* the chord between the samples around sC: within f''·Δε²/8 = 1.3e-6 MPa of the curve */
    assert_near(r.conventional_stress_MPa, late_confirmed_max(0.03515625 - 0.002), 2e-6);
    flex_free(&d);
}

/* F1 on to 7 mm, where the bar breaks: past sC without a maximum before it, so σfC (ISO 178 Figure 1
 * curve c) and no σfB — the evaluation stops at sC — with the break said. */
static void test_flexural_break_past_conventional_deflection(void **state)
{
    (void)state;
    size_t n = 7001;
    double *f = malloc(n * sizeof *f), *s = malloc(n * sizeof *s);
    assert_true(f && s);
    for (size_t i = 0; i < n; i++) {
        s[i] = (double)i / 1000.0;
        f[i] = i + 1 < n ? 120.0 * tanh(24.4140625 * s[i] / 120.0) : 0.0;
    }
    struct flex_curve c = {.f = f, .s = s, .n = n};
    struct pd_flexural_result r = flex_evaluate(&c);
    assert_false(r.has_maximum);
    assert_false(r.has_break);
    assert_true(r.broke_past_conventional);
    assert_near(r.end_strain, 6.999 / FLEX_MM_PER_STRAIN, 1e-12);
    assert_near(r.conventional_strain, 0.03515625, 1e-15);
    assert_true(r.reached_conventional);
    assert_near(r.conventional_stress_MPa, 0.6 * 120.0 * tanh(24.4140625 * 6.0 / 120.0), 1e-9);
    flex_free(&c);
}

/* A brittle bar (T2's shape, Ef 2000 MPa) breaking at εf = 2.5 % before sC: σfM = σfB = 34.375 MPa
 * and εfM = εfB = 2.5 %, the break point being the last sample before the fall (ISO 178 3.3, 3.9). */
static void test_flexural_brittle_break(void **state)
{
    (void)state;
    struct flex_curve c = flex_sample(t2_stress, 0.0, 0.025, 1e-5, 0.0, NULL);
    c.f = realloc(c.f, (c.n + 1) * sizeof *c.f);
    c.s = realloc(c.s, (c.n + 1) * sizeof *c.s);
    assert_true(c.f && c.s);
    c.f[c.n] = 0.05 * c.f[c.n - 1];
    c.s[c.n] = c.s[c.n - 1] + 0.001;
    c.n++;
    struct pd_flexural_result r = flex_evaluate(&c);
    assert_true(r.has_maximum && r.has_break);
    assert_near(r.max_stress_MPa, 34.375, 1e-9);
    assert_near(r.strain_at_max, 0.025, 1e-12);
    assert_near(r.stress_at_break_MPa, 34.375, 1e-9);
    assert_near(r.strain_at_break, 0.025, 1e-12);
    assert_near(r.modulus_MPa, 1925.0, 1e-6);
    assert_false(r.reached_conventional);
    flex_free(&c);
}

/* "degC" (acquisition configs) and "°C" (certificates) are one unit; the certificate says °C. */
static void test_celsius_spellings(void **state)
{
    (void)state;
    static struct pd_method_def def;
    struct pd_err err = {0};
    const char *text = "method: {id: hdt-ascii, base: iso75}\n"
                       "channels:\n  - {name: temperature, unit: degC}\n  - {name: deflection, unit: mm}\n";
    assert_int_equal(pd_method_load_string("hdt.yaml", text, &def, &err), 0);
    assert_string_equal(def.channels[0].unit, "°C");
    const char *bad = "method: {id: hdt-k, base: iso75}\n"
                      "channels:\n  - {name: temperature, unit: K}\n  - {name: deflection, unit: mm}\n";
    assert_int_equal(pd_method_load_string("hdt.yaml", bad, &def, &err), PD_ECONFIG);
    assert_non_null(strstr(err.msg, "must be in °C"));
}

static const double c1_energy[10] = {0.412, 0.398, 0.431, 0.405, 0.420, 0.389, 0.417, 0.426, 0.401, 0.410};

static void test_charpy_c1(void **state)
{
    (void)state;
    double a[10];
    struct pd_err err = {0};
    for (int i = 0; i < 10; i++)
        assert_int_equal(pd_charpy_evaluate(c1_energy[i], 0.004, 4.0, 8.0, 1.0, 0.1, 0.8, &a[i], &err), 0);
    assert_near(a[0], 12.750, 1e-9);
    assert_near(a[5], 12.03125, 1e-9);
    struct pd_stats st;
    assert_int_equal(pd_stats_compute(a, 10, &st), 0);
    assert_near(st.mean, 12.715625, 1e-9);
    assert_near(st.sd, 0.41, 0.005);
    double u;
    assert_int_equal(pd_charpy_evaluate(2.36, 0.01, 4.0, 10.0, 0, 0, 0, &u, &err), 0);
    assert_near(u, 58.75, 1e-9);
    assert_int_equal(pd_charpy_evaluate(0.95, 0.004, 4.0, 8.0, 1.0, 0.1, 0.8, &u, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "another pendulum"));
    assert_int_equal(pd_break_type_parse("H"), PD_BREAK_H);
    assert_int_equal(pd_break_type_parse("X"), -1);
}

static void test_mfr_m1_m2(void **state)
{
    (void)state;
    const double cuts[] = {0.1352, 0.1361, 0.1347, 0.1358, 0.1355};
    double mfr, spread;
    struct pd_err err = {0};
    assert_int_equal(pd_mfr_evaluate(cuts, 5, 10.0, 3, 0.15, &mfr, &spread, &err), 0);
    assert_near(mfr, 8.1276, 1e-9);
    assert_near(spread, (0.1361 - 0.1347) / 0.13546, 1e-12);
    const double bad[] = {0.1352, 0.1661, 0.1347};
    assert_int_equal(pd_mfr_evaluate(bad, 3, 10.0, 3, 0.15, &mfr, &spread, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "spread"));
    assert_int_equal(pd_mfr_evaluate(cuts, 2, 10.0, 3, 0.15, &mfr, &spread, &err), PD_EDATA);
    /* M2: 25.00 mm in 97.0 s, sampled every second with the piston going down */
    double t[98], pos[98], mvr;
    for (int i = 0; i < 98; i++) {
        t[i] = i;
        pos[i] = 50.0 - 25.0 * i / 97.0;
    }
    assert_int_equal(pd_mvr_evaluate(t, pos, 98, 0.711, &mvr, &err), 0);
    assert_near(mvr, 10.9948, 1e-4);
    assert_near(mvr * 1.313 / (0.711 * 2.5), 8.12, 0.005); /* MFR = MVR·ρm */
}

static void test_density_d1_d2(void **state)
{
    (void)state;
    double rho;
    struct pd_err err = {0};
    assert_int_equal(pd_density_evaluate(2.5, 0.2930, 0.99754, 0, NAN, &rho, &err), 0);
    assert_near(rho, 1.12997, 1e-5);
    assert_int_equal(pd_density_evaluate(2.0, NAN, 0.99754, 3.1, 2.905, &rho, &err), 0);
    assert_near(rho, 0.90892, 1e-5);
    assert_int_equal(pd_density_evaluate(2.0, 2.5, 0.99754, 0, NAN, &rho, &err), PD_EDATA);
}

static void test_hdt_h1_vicat(void **state)
{
    (void)state;
    assert_near(pd_hdt_standard_deflection(64.0, 4.0, 0.01), 0.34, 1e-12);
    assert_near(pd_hdt_standard_deflection(64.0, 4.0, 0.0), 0.0020 * 64 * 64 / 24, 1e-12);
    /* H1, deflection zeroed after loading (first sample 0) */
    const double t[] = {90.0, 95.0, 95.5, 96.0}, d[] = {0.0, 0.300, 0.330, 0.362};
    double hdt;
    struct pd_err err = {0};
    assert_int_equal(pd_threshold_temperature(t, d, 4, 0.34, &hdt, &err), 0);
    assert_near(hdt, 95.5 + 0.5 * 0.01 / 0.032, 1e-9);
    assert_int_equal(pd_threshold_temperature(t, d, 4, 1.0, &hdt, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "never reaches"));
    const double vt[] = {140.0, 145.0, 150.0}, vp[] = {0.1, 0.6, 1.3};
    assert_int_equal(pd_threshold_temperature(vt, vp, 3, 1.0, &hdt, &err), 0);
    assert_near(hdt, 145.0 + 5.0 * (1.0 - 0.5) / 0.7, 1e-9);
}

static void test_shore(void **state)
{
    (void)state;
    const double h[] = {62, 63, 61, 62, 64, 70}, dw[] = {15, 15.5, 14.2, 15, 16, 3};
    double mean;
    size_t used;
    struct pd_err err = {0};
    assert_int_equal(pd_shore_evaluate(h, dw, 6, 15, 1, 5, &mean, &used, &err), 0);
    assert_int_equal(used, 5); /* the 3 s reading is refused */
    assert_near(mean, 62.4, 1e-12);
    assert_int_equal(pd_shore_evaluate(h, dw, 6, 15, 1, 6, &mean, &used, &err), PD_EDATA);
    const double badh[] = {120};
    assert_int_equal(pd_shore_evaluate(badh, dw, 1, 15, 1, 1, &mean, &used, &err), PD_EDATA);
}

/* A Charpy series (C1) as a run file: one energy reading per specimen, dimensions as fields. */
static void write_charpy_run(const char *path)
{
    const struct pd_store_attr run_attrs[] = {
        {.key = "run_id", .type = PD_STORE_STRING, .s = "R-C1"},
        {.key = "method", .type = PD_STORE_STRING, .s = "iso179"},
        {.key = "lab_name", .type = PD_STORE_STRING, .s = "Lab"},
        {.key = "start_time", .type = PD_STORE_STRING, .s = "2026-11-25T08:00:00Z"},
        {.key = "simulated", .type = PD_STORE_INT, .i = 0},
    };
    struct pd_store_instrument inst = {.name = "pendulum", .n_channels = 1, .n_attrs = 3, .attrs = instrument_attrs};
    strcpy(inst.channels[0].name, "energy");
    strcpy(inst.channels[0].unit, "J");
    const struct pd_store_attr fields[] = {
        {.key = "thickness", .type = PD_STORE_DOUBLE, .d = 4.0, .units = "mm"},
        {.key = "notch_width", .type = PD_STORE_DOUBLE, .d = 8.0, .units = "mm"},
        {.key = "notch", .type = PD_STORE_STRING, .s = "A"},
        {.key = "friction_loss", .type = PD_STORE_DOUBLE, .d = 0.004, .units = "J"},
        {.key = "pendulum_energy", .type = PD_STORE_DOUBLE, .d = 1.0, .units = "J"},
        {.key = "break_type", .type = PD_STORE_STRING, .s = "C"},
    };
    struct pd_store_specimen sp[10];
    for (int i = 0; i < 10; i++) {
        memset(&sp[i], 0, sizeof sp[i]);
        snprintf(sp[i].id, sizeof sp[i].id, "C%02d", i + 1);
        sp[i].attrs = fields;
        sp[i].n_attrs = 6;
    }
    struct pd_store_layout layout = {.n_run_attrs = 5, .run_attrs = run_attrs, .n_instruments = 1, .instruments = &inst,
                                     .n_specimens = 10, .specimens = sp, .deflate_level = -1};
    struct pd_store *st = NULL;
    struct pd_err err = {0};
    assert_int_equal(pd_store_create(path, &layout, &st, &err), 0);
    for (int i = 0; i < 10; i++) {
        int64_t t = 1795852800000000000LL + i, unc = 0;
        uint32_t q = 0;
        assert_int_equal(pd_store_append(st, (size_t)i, 0, 1, &t, &unc, &q, &c1_energy[i], &err), 0);
        struct pd_store_attr status = {.key = "status", .type = PD_STORE_STRING, .s = "tested"};
        assert_int_equal(pd_store_set_specimen_attr(st, (size_t)i, &status, &err), 0);
    }
    assert_int_equal(pd_store_close(st, 0, NULL, &err), 0);
}

static void test_certify_charpy_run(void **state)
{
    (void)state;
    struct cert_case k;
    char spec_path[256];
    case_paths(&k, "charpy");
    snprintf(spec_path, sizeof spec_path, "%s/charpy.yaml", tmp_dir);
    write_charpy_run(k.run);
    write_text(spec_path, "spec: {name: impact, material: PP, method: iso179, decision_rule: guard-band-nonbinary}\n"
                          "properties:\n"
                          "  - {property: charpy_impact_strength, min: 12.5, unit: kJ/m²}\n");
    static struct pd_spec spec;
    struct pd_err err = {0};
    assert_int_equal(pd_spec_load(spec_path, &spec, &err), 0);
    assert_int_equal(spec.decision_rule, PD_RULE_GUARD_NONBINARY);
    struct pd_certify_result res;
    json_t *doc = certify_to_json(k.run, &spec, k.out, &res);
    assert_int_equal(res.n_specimens, 10);
    assert_near(jnum(doc, "series.charpy_impact_strength.mean"), 12.715625, 1e-9);
    /* mean 12.72 is above 12.5 but within U of it: never a silent pass */
    const json_t *check = json_array_get(json_object_get(doc, "checks"), 0);
    double U = jnum(check, "U");
    assert_true(U > 0.2157 && U < 1.0);
    assert_near(jnum(check, "al_min"), 12.5 + U, 1e-12);
    assert_string_equal(jstring(check, "verdict"), "conditional pass");
    assert_string_equal(jstring(check, "rule"), "guard-band-nonbinary");
    assert_int_equal(res.verdict, PD_VERDICT_COND_PASS);
    assert_true(res.accredited);
    json_decref(doc);
}

static void test_calibration_overdue(void **state)
{
    (void)state;
    struct cert_case k;
    static struct pd_spec spec;
    struct pd_certify_result res;
    instrument_attrs[2].s = "2026-11-24"; /* the day before the run */
    json_t *doc = certify_demo(&k, "overdue", 0, good_series, 4, &spec, &res);
    instrument_attrs[2].s = "2027-06-01";
    assert_int_equal(res.verdict, PD_VERDICT_PASS); /* reported, not blocked */
    assert_false(res.accredited);
    const json_t *acc = json_object_get(doc, "accreditation");
    assert_true(json_is_false(json_object_get(acc, "accredited")));
    assert_non_null(strstr(json_string_value(json_array_get(json_object_get(acc, "reasons"), 0)), "past its calibration due date"));
    assert_non_null(strstr(jstring(json_array_get(json_object_get(doc, "instruments"), 0), "calibration_status"), "OVERDUE"));
    json_decref(doc);
}

/* The seal gate: the same calibrated, non-simulated series is accredited only with a seal that
 * verifies under a trusted station key; each failure is named on the certificate. */
static const char *gate_reasons(const json_t *doc)
{
    static char all[2048];
    all[0] = '\0';
    const json_t *reasons = json_object_get(json_object_get(doc, "accreditation"), "reasons");
    for (size_t i = 0; i < json_array_size(reasons); i++) {
        strncat(all, json_string_value(json_array_get(reasons, i)), sizeof all - strlen(all) - 3);
        strcat(all, "; ");
    }
    return all;
}

static json_t *certify_gate(const char *run, const char *out, const struct pd_public_key *trusted, size_t n,
                            struct pd_certify_result *res)
{
    static struct pd_spec spec;
    load_demo_spec(&spec);
    mkdir(out, 0755);
    struct pd_certify_options opt = {.out_dir = out, .no_pdf = true, .trusted_stations = trusted,
                                     .n_trusted_stations = n};
    struct pd_err err = {0};
    int rc = pd_certify_run(run, &spec, &opt, res, &err);
    if (rc != 0)
        print_error("pd_certify_run: %s\n", err.msg);
    assert_int_equal(rc, 0);
    json_t *doc = json_load_file(res->json_path, 0, NULL);
    assert_non_null(doc);
    return doc;
}

static void test_seal_gate(void **state)
{
    (void)state;
    struct cert_case k;
    static struct pd_spec spec;
    struct pd_certify_result res;
    json_decref(certify_demo(&k, "gate", 0, good_series, 4, &spec, &res)); /* sealed, trusted */
    assert_true(res.accredited);
    char out[300], seal[4200];
    snprintf(seal, sizeof seal, "%s.seal", k.run);
    /* the seal is recorded on the certificate */
    snprintf(out, sizeof out, "%s-trusted", k.out);
    json_t *doc = certify_gate(k.run, out, &test_station.pub, 1, &res);
    assert_true(res.accredited);
    const json_t *so = json_object_get(json_array_get(json_object_get(doc, "runs"), 0), "seal");
    assert_string_equal(jstring(so, "station"), "test station");
    assert_string_equal(jstring(so, "key_id"), test_station.pub.id);
    assert_string_equal(jstring(so, "public_key"), test_station.pub.hex);
    assert_int_equal(strlen(jstring(so, "signature")), 128);
    assert_true(json_is_true(json_object_get(so, "key_trusted")));
    json_decref(doc);
    /* no trusted station key */
    snprintf(out, sizeof out, "%s-untrusted", k.out);
    doc = certify_gate(k.run, out, NULL, 0, &res);
    assert_false(res.accredited);
    assert_non_null(strstr(gate_reasons(doc), "sealed by an untrusted station key"));
    assert_non_null(strstr(res.accreditation_reasons, "sealed by an untrusted station key"));
    json_decref(doc);
    /* the file changed after sealing (a byte appended: HDF5 still reads it) */
    FILE *f = fopen(k.run, "ab");
    assert_non_null(f);
    fputc(0, f);
    fclose(f);
    snprintf(out, sizeof out, "%s-changed", k.out);
    doc = certify_gate(k.run, out, &test_station.pub, 1, &res);
    assert_false(res.accredited);
    assert_non_null(strstr(gate_reasons(doc), "run file changed after sealing: sha256"));
    json_decref(doc);
    /* no seal */
    assert_int_equal(unlink(seal), 0);
    snprintf(out, sizeof out, "%s-unsealed", k.out);
    doc = certify_gate(k.run, out, &test_station.pub, 1, &res);
    assert_false(res.accredited);
    assert_non_null(strstr(gate_reasons(doc), "run file not sealed"));
    assert_true(json_is_null(json_object_get(json_array_get(json_object_get(doc, "runs"), 0), "seal")));
    json_decref(doc);
}

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    assert_true(a && b);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0)
        assert_int_equal(fwrite(buf, 1, n, b), n);
    fclose(a);
    fclose(b);
}

static void flip_byte(const char *path, long offset_from_end)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, -offset_from_end, SEEK_END), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, -offset_from_end, SEEK_END), 0);
    fputc(c ^ 0x01, f);
    fclose(f);
}

static bool verify_ok(const char *cert, const char *key, const char *data)
{
    static struct pd_verify_report r;
    struct pd_err err = {0};
    const char *d[1] = {data};
    const struct pd_verify_options opt = {.data_paths = d, .n_data = data ? 1 : 0, .key_path = key};
    int rc = pd_cert_verify(cert, &opt, &r, &err);
    if (rc != 0)
        print_error("verify: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return r.ok;
}

static void test_sign_verify_tamper(void **state)
{
    (void)state;
    char keys[256], other[256], sk[512], pk[512], sk2[512], pk2[512];
    snprintf(keys, sizeof keys, "%s/keys", tmp_dir);
    snprintf(other, sizeof other, "%s/other-keys", tmp_dir);
    struct cert_case k;
    static struct pd_spec spec;
    struct pd_certify_result res;
    json_decref(certify_demo(&k, "signed", 0, good_series, 4, &spec, &res));
    const char *run = k.run, *out = k.out;
    struct pd_err err = {0};
    assert_int_equal(pd_cert_keygen(keys, sk, sizeof sk, pk, sizeof pk, &err), 0);
    struct stat stt;
    assert_int_equal(stat(sk, &stt), 0);
    assert_int_equal(stt.st_mode & 0777, 0600);
    assert_int_equal(pd_cert_keygen(keys, sk2, sizeof sk2, pk2, sizeof pk2, &err), PD_ESTATE); /* never overwritten */
    assert_int_equal(pd_cert_keygen(other, sk2, sizeof sk2, pk2, sizeof pk2, &err), 0);

    /* the people: a reviewer's and an authorizer's key, registered with the lab key */
    char rk[512], rp[512], ak[512], ap[512];
    assert_int_equal(pd_key_generate(keys, "r-viewer", rk, sizeof rk, rp, sizeof rp, &err), 0);
    assert_int_equal(pd_key_generate(keys, "b-boss", ak, sizeof ak, ap, sizeof ap, &err), 0);
    struct pd_public_key lab_pub, r_pub, a_pub;
    assert_int_equal(pd_public_key_load(pk, &lab_pub, &err), 0);
    assert_int_equal(pd_public_key_load(rp, &r_pub, &err), 0);
    assert_int_equal(pd_public_key_load(ap, &a_pub, &err), 0);
    struct pd_registry reg;
    assert_int_equal(pd_registry_open(&reg, out, 0, &err), 0); /* certify made it */
    assert_int_equal(pd_registry_key_add(&reg, PD_KEY_ROLE_LAB, "lab", &lab_pub, NULL, &err), 0);
    assert_int_equal(pd_registry_key_add(&reg, PD_KEY_ROLE_REVIEWER, "R. Viewer", &r_pub, NULL, &err), 0);
    assert_int_equal(pd_registry_key_add(&reg, PD_KEY_ROLE_AUTHORIZER, "B. Boss", &a_pub, NULL, &err), 0);
    pd_registry_close(&reg);

    /* a draft does not verify; order of approval is enforced; four eyes are two keys */
    assert_false(verify_ok(res.json_path, pk, NULL));
    char status[32];
    struct pd_approval review = {.dir = out, .cert_id = res.cert_id, .role = PD_ROLE_REVIEWER, .person_key = rk};
    struct pd_approval authorize = {.dir = out, .cert_id = res.cert_id, .role = PD_ROLE_AUTHORIZER, .person_key = ak,
                                    .lab_key = sk};
    assert_int_equal(pd_cert_approve(&authorize, status, sizeof status, &err), PD_ESTATE);
    assert_int_equal(pd_cert_approve(&review, status, sizeof status, &err), 0);
    assert_string_equal(status, "reviewed");
    struct pd_approval self = review;
    self.role = PD_ROLE_AUTHORIZER;
    self.lab_key = sk;
    assert_int_equal(pd_cert_approve(&self, status, sizeof status, &err), PD_ESTATE); /* a reviewer's key */
    assert_int_equal(pd_cert_approve(&authorize, status, sizeof status, &err), 0);
    assert_string_equal(status, "issued");
    struct pd_approval again = authorize;
    again.role = PD_ROLE_REVIEWER; /* the authorizer's key is no reviewer's */
    assert_int_equal(pd_cert_approve(&again, status, sizeof status, &err), PD_ESTATE);

    assert_true(verify_ok(res.json_path, pk, run));
    assert_false(verify_ok(res.json_path, NULL, NULL)); /* no trust anchor: never verified */
    assert_false(verify_ok(res.json_path, pk2, NULL)); /* another key */

    /* a changed byte in the certificate (a digit of a result) */
    char tampered[300];
    snprintf(tampered, sizeof tampered, "%s/CERT-000001.json.bak", out);
    copy_file(res.json_path, tampered);
    json_error_t jerr;
    json_t *cert = json_load_file(res.json_path, 0, &jerr);
    assert_non_null(cert);
    char *text = json_dumps(cert, JSON_SORT_KEYS | JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    char *at = strstr(text, "\"mean\": 1530");
    assert_non_null(at);
    at[9] = '6'; /* 1530 → 1630 */
    write_text(res.json_path, text);
    free(text);
    json_decref(cert);
    assert_false(verify_ok(res.json_path, pk, NULL));
    copy_file(tampered, res.json_path);
    assert_true(verify_ok(res.json_path, pk, NULL));

    /* a changed byte in a raw file */
    char raw_copy[300];
    snprintf(raw_copy, sizeof raw_copy, "%s/signed-copy.h5", out);
    copy_file(run, raw_copy);
    assert_true(verify_ok(res.json_path, pk, raw_copy));
    flip_byte(raw_copy, 100);
    assert_false(verify_ok(res.json_path, pk, raw_copy));

    /* recomputation from the raw data reproduces every result (the request id certify was given
     * is not in the raw data: given again, as to certify) */
    static struct pd_verify_report r;
    const struct pd_recompute_inputs inputs = {.request_id = "REQ-7"};
    const char *data[1] = {run};
    assert_int_equal(pd_cert_recompute(res.json_path, data, 1, &inputs, &r, &err), 0);
    if (!r.ok)
        for (size_t i = 0; i < r.n_lines; i++)
            print_error("%s\n", r.lines[i]);
    assert_true(r.ok);
    /* ... and a different run with the same name is caught */
    char other_run[300];
    snprintf(other_run, sizeof other_run, "%s/other.h5", out);
    const struct run_specimen changed[] = {
        {"S01", 0.80, "tested", false, false, false, false}, {"S02", 0.76, "tested", false, false, false, false},
        {"S03", 0.77, "tested", false, false, false, false}, {"S04", 0.78, "tested", false, false, false, false}};
    write_run(other_run, "iso527", 0, changed, 4);
    data[0] = other_run;
    assert_int_equal(pd_cert_recompute(res.json_path, data, 1, &inputs, &r, &err), 0);
    assert_false(r.ok);
    bool named = false;
    for (size_t i = 0; i < r.n_lines; i++)
        named = named || strstr(r.lines[i], "specimens[0].results.tensile_modulus.value") != NULL;
    assert_true(named);

    /* the registry's audit chain: change one character of an entry (sqlite3 would do the same) */
    bool ok = true;
    assert_int_equal(pd_cert_registry_check(out, NULL, NULL, &ok, &err), 0);
    assert_true(ok);
    assert_int_equal(pd_registry_open(&reg, out, 0, &err), 0);
    assert_int_equal(sqlite3_exec(reg.db, "UPDATE audit SET entry = replace(entry, 'A. Tester', 'X. Tester') WHERE seq = 1",
                                  NULL, NULL, NULL), SQLITE_OK);
    pd_registry_close(&reg);
    assert_int_equal(pd_cert_registry_check(out, NULL, NULL, &ok, &err), 0);
    assert_false(ok);

    FILE *f;
    /* the PDF was rendered */
    char pdf[300], head[5] = "";
    snprintf(pdf, sizeof pdf, "%s/CERT-000001.pdf", out);
    f = fopen(pdf, "rb");
    assert_non_null(f);
    assert_int_equal(fread(head, 1, 4, f), 4);
    fclose(f);
    assert_string_equal(head, "%PDF");
}

/* The PDF is laid out once, each page recorded, and put together only when the number of pages is
 * known: "page n of N" on every page is the page tree's count, whatever N is. */
static void test_pdf_page_count_in_one_layout(void **state)
{
    (void)state;
    struct cert_case k;
    static struct pd_spec spec;
    struct pd_certify_result res;
    json_t *doc = certify_demo(&k, "pages", 1, good_series, 4, &spec, &res);
    static struct cert_curve_set none;
    struct pd_err err = {0};
    char pdf[300];
    snprintf(pdf, sizeof pdf, "%s/once.pdf", k.out);
    assert_int_equal(cert_render_pdf_doc(doc, &none, pdf, &err), 0);
    FILE *f = fopen(pdf, "rb");
    assert_non_null(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    int pages = 0; /* the page tree is not compressed; the PDF holds NUL bytes */
    for (size_t i = 0; i + 7 < n && pages == 0; i++)
        if (memcmp(buf + i, "/Count ", 7) == 0)
            pages = atoi(buf + i + 7);
    assert_true(pages >= 2);
    if (access("/usr/bin/pdftotext", X_OK) == 0) { /* the footers themselves, where poppler is installed */
        char cmd[700], txt[320];
        snprintf(txt, sizeof txt, "%s/once.txt", k.out);
        snprintf(cmd, sizeof cmd, "/usr/bin/pdftotext -q '%s' '%s'", pdf, txt);
        assert_int_equal(system(cmd), 0);
        f = fopen(txt, "r");
        assert_non_null(f);
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        for (int page = 1; page <= pages; page++) {
            char footer[64];
            snprintf(footer, sizeof footer, "page %d of %d", page, pages);
            assert_non_null(strstr(buf, footer));
        }
    }
    json_decref(doc);
}

/* pd_sha256_file (libcrypto, read in 128 KiB blocks) against libsodium's SHA-256 of the same bytes in
 * memory, at every length where a block or a read boundary could be mishandled; a missing file is
 * an I/O error naming it. */
static void test_sha256_file_every_boundary(void **state)
{
    (void)state;
    static const size_t lengths[] = {0, 1, 55, 56, 63, 64, 65, 1000, 131071, 131072, 131073, 3 * 131072 + 17};
    char dir[] = "/tmp/pd-sha-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/f", dir);
    size_t max = 3 * 131072 + 17;
    unsigned char *data = malloc(max);
    assert_non_null(data);
    uint64_t z = 0x1234567887654321ull;
    for (size_t i = 0; i < max; i++) {
        z ^= z << 13;
        z ^= z >> 7;
        z ^= z << 17;
        data[i] = (unsigned char)z;
    }
    for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, lengths[k], f), lengths[k]);
        assert_int_equal(fclose(f), 0);
        char got[65], want[65];
        assert_int_equal(pd_sha256_file(path, got, NULL), 0);
        cert_sha256_hex(data, lengths[k], want);
        if (strcmp(got, want) != 0)
            fail_msg("%zu bytes: %s, libsodium %s", lengths[k], got, want);
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fclose(f), 0);
    char empty[65];
    assert_int_equal(pd_sha256_file(path, empty, NULL), 0);
    assert_string_equal(empty, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"); /* FIPS 180-2 */
    unlink(path);
    struct pd_err err = {0};
    char none[65] = "untouched";
    assert_int_equal(pd_sha256_file(path, none, &err), PD_EIO);
    assert_non_null(strstr(err.msg, path));
    assert_string_equal(none, "untouched");
    rmdir(dir);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tensile[] = {
        cmocka_unit_test(test_t1_modulus_all_methods),
        cmocka_unit_test(test_t1_yield_strength_break),
        cmocka_unit_test(test_t1_toe_raw_values),
        cmocka_unit_test(test_grip_slip_is_neither_yield_nor_break),
        cmocka_unit_test(test_t2_brittle),
        cmocka_unit_test(test_first_local_maximum_not_global),
        cmocka_unit_test(test_dip_inside_hysteresis_is_not_a_maximum),
        cmocka_unit_test(test_constant_force_plateau),
        cmocka_unit_test(test_break_right_after_modulus_range),
        cmocka_unit_test(test_break_at_first_point_is_refused),
        cmocka_unit_test(test_noisy_linear_modulus),
        cmocka_unit_test(test_nan_names_sample),
        cmocka_unit_test(test_sparse_modulus_range),
        cmocka_unit_test(test_chord_across_a_gap_at_e2),
        cmocka_unit_test(test_modulus_range_not_reached),
        cmocka_unit_test(test_bad_dimensions_and_size),
        cmocka_unit_test(test_stats_t_stats),
        cmocka_unit_test(test_decision_q1),
        cmocka_unit_test(test_uncertainty_budget),
        cmocka_unit_test(test_method_files),
        cmocka_unit_test(test_t1_toe_compensation),
        cmocka_unit_test(test_crosshead_method_a),
        cmocka_unit_test(test_smoothed_yield),
        cmocka_unit_test(test_flexural_f1),
        cmocka_unit_test(test_flexural_compliance),
        cmocka_unit_test(test_flexural_modulus_na_keeps_strength),
        cmocka_unit_test(test_flexural_strength_is_the_highest_maximum),
        cmocka_unit_test(test_flexural_test_stopped_at_conventional_deflection),
        cmocka_unit_test(test_flexural_maximum_confirmed_after_conventional_deflection),
        cmocka_unit_test(test_flexural_brittle_break),
        cmocka_unit_test(test_flexural_break_past_conventional_deflection),
        cmocka_unit_test(test_celsius_spellings),
        cmocka_unit_test(test_charpy_c1),
        cmocka_unit_test(test_mfr_m1_m2),
        cmocka_unit_test(test_density_d1_d2),
        cmocka_unit_test(test_hdt_h1_vicat),
        cmocka_unit_test(test_shore),
    };
    const struct CMUnitTest files[] = {
        cmocka_unit_test(test_spec_demo_file),
        cmocka_unit_test(test_spec_nominal_tolerance),
        cmocka_unit_test(test_spec_errors),
        cmocka_unit_test(test_certify_passing_series),
        cmocka_unit_test(test_certificate_presentation),
        cmocka_unit_test(test_certify_failing_limits),
        cmocka_unit_test(test_certify_invalid_specimens),
        cmocka_unit_test(test_certify_skips_unread_samples),
        cmocka_unit_test(test_certify_wrong_method),
        cmocka_unit_test(test_certify_refuses_other_units),
        cmocka_unit_test(test_certify_reports_grip_slip),
        cmocka_unit_test(test_certify_reports_load_drop),
        cmocka_unit_test(test_read_channel_into_reuses_array),
        cmocka_unit_test(test_hashing_started_early),
        cmocka_unit_test(test_sha256_file_every_boundary),
        cmocka_unit_test(test_certify_charpy_run),
        cmocka_unit_test(test_calibration_overdue),
        cmocka_unit_test(test_seal_gate),
        cmocka_unit_test(test_sign_verify_tamper),
        cmocka_unit_test(test_pdf_page_count_in_one_layout),
    };
    int failed = cmocka_run_group_tests_name("tensile", tensile, NULL, NULL);
    failed += cmocka_run_group_tests_name("files", files, make_tmp, remove_tmp);
    pd_cert_release_fonts();
    return failed ? 1 : 0;
}
