/* cert_uncertainty_test.c — the uncertainty budgets of density (ISO 1183), MFR/MVR (ISO 1133) and a
 * stress-type result (ISO 179) against a Monte Carlo propagation (GUM Supplement 1) of the same input
 * distributions through the method's own evaluation function; the ISO 1133 pairing of weighings with
 * cut-off intervals, the measuring window (against numpy's polyfit) and an MFR run file with more
 * weighings than cut-off intervals. */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cert/cert.h"
#include "cert/cert_internal.h"
#include "common/noise.h"
#include "store/store.h"

#define assert_near(actual, expected, tol) assert_near_at((actual), (expected), (tol), #actual, __FILE__, __LINE__)
static void assert_near_at(double actual, double expected, double tol, const char *expr, const char *file, int line)
{
    if (!(fabs(actual - expected) <= tol)) {
        print_error("%s:%d: %s = %.17g, want %.17g within %g\n", file, line, expr, actual, expected, tol);
        fail();
    }
}

#define DRAWS 100000 /* GUM S1: at least 10^5 trials for a standard deviation to ~1 % */

/* Running mean and standard deviation (Welford). */
struct acc {
    double n, mean, m2;
};
static void acc_add(struct acc *a, double x)
{
    a->n += 1.0;
    double d = x - a->mean;
    a->mean += d / a->n;
    a->m2 += d * (x - a->mean);
}
static double acc_sd(const struct acc *a)
{
    return sqrt(a->m2 / (a->n - 1.0));
}

/* A draw from the rectangular distribution of half-width a about 0. */
static double rect(struct pd_test_rng *r, double a)
{
    return a * (2.0 * pd_test_uniform01(r) - 1.0);
}

/* The budget's u must be within 10 % of the Monte Carlo standard deviation. */
#define assert_budget_matches_mc(u, sd, what) assert_budget_at((u), (sd), (what), __FILE__, __LINE__)
static void assert_budget_at(double u, double sd, const char *what, const char *file, int line)
{
    print_message("%-28s budget u = %.6g, Monte Carlo sd = %.6g (%+.1f %%)\n", what, u, sd, 100.0 * (u - sd) / sd);
    if (!(isfinite(u) && sd > 0.0 && fabs(u - sd) <= 0.10 * sd)) {
        print_error("%s:%d: %s: budget u = %.6g, Monte Carlo sd = %.6g (%.1f %% apart)\n", file, line, what, u, sd,
                    100.0 * (u - sd) / sd);
        fail();
    }
}

/* ---- ISO 1183 density -----------------------------------------------------------------------------*/
struct density_case {
    const char *name;
    double air, liquid, rho_l, sinker, both;
};
/* D1 and D2 of test-methods.md §12, a PVC-like and a PTFE-like specimen (the heavier, the larger the
 * weighings' sensitivities: ρ/ρIL = 1 + mIL/(mA − mIL)). */
static const struct density_case density_cases[] = {
    {"D1", 2.5000, 0.2930, 0.99754, 0, NAN},
    {"D2 sinker", 2.0000, NAN, 0.99754, 3.1000, 2.9050},
    {"PVC 1.40", 3.0000, 0.8625, 0.99754, 0, NAN},
    {"PTFE 2.17", 2.0000, 1.0806, 0.99754, 0, NAN},
};

/* Monte Carlo: every weighing with its own rectangular error (absolute mg and % of the reading), the
 * liquid density with its own; through pd_density_evaluate. */
static double density_mc(const struct density_case *c, const struct pd_uncertainty_budget *b, uint64_t seed)
{
    struct pd_test_rng r = {seed};
    struct acc a = {0};
    double abs_g = b->input[PD_U_MASS_ABS] * 1e-3, rel = b->input[PD_U_MASS] / 100.0;
    struct pd_err err = {0};
    for (int i = 0; i < DRAWS; i++) {
        double air = c->air + rect(&r, abs_g) + c->air * rect(&r, rel);
        double liquid = NAN, sinker = 0, both = NAN;
        if (c->sinker > 0) {
            sinker = c->sinker + rect(&r, abs_g) + c->sinker * rect(&r, rel);
            both = c->both + rect(&r, abs_g) + c->both * rect(&r, rel);
        } else {
            liquid = c->liquid + rect(&r, abs_g) + c->liquid * rect(&r, rel);
        }
        double rho_l = c->rho_l * (1.0 + rect(&r, b->input[PD_U_LIQUID_DENSITY] / 100.0)), rho;
        assert_int_equal(pd_density_evaluate(air, liquid, rho_l, sinker, both, &rho, &err), 0);
        acc_add(&a, rho);
    }
    return acc_sd(&a);
}

static void test_density_budget_vs_monte_carlo(void **state)
{
    (void)state;
    struct pd_uncertainty_budget builtin = {0};
    static struct pd_method_def def;
    struct pd_err err = {0};
    assert_int_equal(pd_method_defaults("iso1183", &def, &err), 0);
    builtin = def.uncertainty;
    assert_near(builtin.input[PD_U_MASS_ABS], 0.5, 0);
    /* the built-in budget, one with the older "% of the reading" balance input, a coarse balance */
    struct pd_uncertainty_budget relative = {.k = 2, .input = {[PD_U_MASS] = 0.01, [PD_U_LIQUID_DENSITY] = 0.01}};
    struct pd_uncertainty_budget coarse = {.k = 2, .input = {[PD_U_MASS_ABS] = 2.0, [PD_U_LIQUID_DENSITY] = 0.005}};
    const struct pd_uncertainty_budget *budgets[] = {&builtin, &relative, &coarse};
    uint64_t seed = 11;
    for (size_t i = 0; i < sizeof density_cases / sizeof density_cases[0]; i++) {
        const struct density_case *c = &density_cases[i];
        for (size_t k = 0; k < 3; k++) {
            double u;
            assert_int_equal(
                pd_density_uncertainty(c->air, c->liquid, c->rho_l, c->sinker, c->both, budgets[k], &u, &err), 0);
            char what[64];
            snprintf(what, sizeof what, "density %s, budget %zu", c->name, k);
            assert_budget_matches_mc(u, density_mc(c, budgets[k], seed++), what);
        }
    }
    /* The former budget (every weighing with sensitivity 1: u_rel² = mass² + liquid², % / √3) is far from
     * the propagation for a heavy specimen: the defect this budget replaces. */
    const struct density_case *ptfe = &density_cases[3];
    double rho;
    assert_int_equal(pd_density_evaluate(ptfe->air, ptfe->liquid, ptfe->rho_l, 0, NAN, &rho, &err), 0);
    double old_u = rho * sqrt(2.0) * 0.01 / 100.0 / sqrt(3.0);
    double sd = density_mc(ptfe, &relative, 99);
    assert_true(fabs(old_u - sd) > 0.2 * sd);

    /* bad input is refused, output untouched */
    double u = -1;
    assert_int_equal(pd_density_uncertainty(2.0, 2.5, 0.99754, 0, NAN, &builtin, &u, &err), PD_EDATA);
    assert_near(u, -1, 0);
    assert_int_equal(pd_density_uncertainty(2.0, 0.3, 0.99754, 0, NAN, NULL, &u, &err), PD_EINVAL);
}

/* ---- ISO 1133 MFR ---------------------------------------------------------------------------------*/
struct mfr_case {
    const char *name;
    double mass[6];
    size_t n;
    double interval, half_width; /* s */
    const size_t *pairs;         /* interval of each mass; NULL: 0, 1, 2, ... */
    double coeff, rms_dev;       /* %/K, K */
};
static const size_t gap_pairs[] = {0, 1, 3, 4}; /* interval 2 was not weighed */
static const struct mfr_case mfr_cases[] = {
    /* M1 of test-methods.md §12 at 10 Hz sampling of the cut-off count */
    {"M1", {0.1352, 0.1361, 0.1347, 0.1358, 0.1355}, 5, 10.0, 0.05, NULL, 2.0, 0.1},
    {"low MFR 0.3, 120 s", {0.0601, 0.0596, 0.0604}, 3, 120.0, 0.5, NULL, 2.0, 0.3},
    {"high MFR 30, 5 s", {0.2512, 0.2490, 0.2505, 0.2497}, 4, 5.0, 0.05, gap_pairs, 3.5, 0.0},
    {"M1 nominal interval", {0.1352, 0.1361, 0.1347, 0.1358, 0.1355}, 5, 10.0, -1, NULL, 2.0, 0.0},
};

static void test_mfr_budget_vs_monte_carlo(void **state)
{
    (void)state;
    static struct pd_method_def def;
    struct pd_err err = {0};
    assert_int_equal(pd_method_defaults("iso1133", &def, &err), 0);
    const struct pd_uncertainty_budget *b = &def.uncertainty;
    assert_near(pd_method_param(&def, "temperature_coefficient"), 2.0, 0);
    uint64_t seed = 1133;
    for (size_t ci = 0; ci < sizeof mfr_cases / sizeof mfr_cases[0]; ci++) {
        const struct mfr_case *c = &mfr_cases[ci];
        bool nominal = c->half_width < 0;
        size_t pairs[6], n_cuts = 0;
        double cut[8], hw[8];
        for (size_t k = 0; k < c->n; k++)
            pairs[k] = c->pairs ? c->pairs[k] : k;
        n_cuts = pairs[c->n - 1] + 2;
        for (size_t j = 0; j < n_cuts; j++) {
            cut[j] = 3.0 + c->interval * (double)j;
            hw[j] = c->half_width;
        }
        struct pd_mfr_cuts mc = {.cut_s = nominal ? NULL : cut,
                                 .cut_half_width_s = hw,
                                 .n_cuts = n_cuts,
                                 .interval_s = c->interval,
                                 .mass_g = c->mass,
                                 .interval = nominal ? NULL : pairs,
                                 .n = c->n};
        double mfr, spread;
        assert_int_equal(pd_mfr_evaluate_cuts(&mc, 3, 0.15, &mfr, &spread, &err), 0);
        double u = pd_mfr_uncertainty(&mc, mfr, b, c->coeff, c->rms_dev);

        /* Monte Carlo: one balance error common to the cut-offs, one timer rate error, each cut time
         * within its sampling gap, the barrel temperature off its set point by the thermometer's
         * rectangular error plus the recorded deviation (normal, its RMS); the MFR at the set point is
         * the measured one corrected by exp(−c·ΔT). */
        struct pd_test_rng r = {seed++};
        struct acc a = {0};
        double m[6], ct[8];
        for (int i = 0; i < DRAWS; i++) {
            double dm = rect(&r, b->input[PD_U_MASS_ABS] * 1e-3);
            double rate = 1.0 + rect(&r, b->input[PD_U_TIME] / 100.0);
            for (size_t k = 0; k < c->n; k++)
                m[k] = c->mass[k] + dm;
            for (size_t j = 0; j < n_cuts; j++)
                ct[j] = (cut[j] + (nominal ? 0.0 : rect(&r, hw[j]))) * rate;
            struct pd_mfr_cuts d = mc;
            d.mass_g = m;
            d.cut_s = nominal ? NULL : ct;
            d.interval_s = c->interval * rate;
            double v, sp;
            assert_int_equal(pd_mfr_evaluate_cuts(&d, 3, 0.15, &v, &sp, &err), 0);
            double dT = rect(&r, b->input[PD_U_TEMPERATURE]) + c->rms_dev * pd_test_gaussian(&r);
            acc_add(&a, v * exp(-c->coeff / 100.0 * dT));
        }
        char what[64];
        snprintf(what, sizeof what, "MFR %s", c->name);
        assert_budget_matches_mc(u, acc_sd(&a), what);
    }
}

/* M1 and the spread rule through the paired evaluation: equal intervals give the plain formula. */
static void test_mfr_paired_m1(void **state)
{
    (void)state;
    const double m1[] = {0.1352, 0.1361, 0.1347, 0.1358, 0.1355};
    const double cut[] = {5, 15, 25, 35, 45, 55};
    const size_t iv[] = {0, 1, 2, 3, 4};
    struct pd_mfr_cuts c = {.cut_s = cut, .n_cuts = 6, .mass_g = m1, .interval = iv, .n = 5};
    double mfr, spread;
    struct pd_err err = {0};
    assert_int_equal(pd_mfr_evaluate_cuts(&c, 3, 0.15, &mfr, &spread, &err), 0);
    assert_near(mfr, 8.1276, 1e-9); /* §12 M1: 8.13 */
    assert_near(spread, (0.1361 - 0.1347) / 0.13546, 1e-12);
    /* a longer second interval: its mass is per its own time, so the rate is what counts */
    const double cut2[] = {5, 15, 27, 37, 47, 57};
    const double m2[] = {0.1352, 0.1361 * 1.2, 0.1347, 0.1358, 0.1355};
    c.cut_s = cut2;
    c.mass_g = m2;
    assert_int_equal(pd_mfr_evaluate_cuts(&c, 3, 0.15, &mfr, &spread, &err), 0);
    assert_near(mfr, 8.1276, 1e-9);
    /* the 15 % rule on the rates; too few pairs */
    const double m3[] = {0.1352, 0.1361, 0.1647, 0.1358, 0.1355};
    c.cut_s = cut;
    c.mass_g = m3;
    mfr = -1;
    assert_int_equal(pd_mfr_evaluate_cuts(&c, 3, 0.15, &mfr, &spread, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "spread"));
    assert_near(mfr, -1, 0);
    c.mass_g = m1;
    c.n = 2;
    assert_int_equal(pd_mfr_evaluate_cuts(&c, 3, 0.15, &mfr, &spread, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "2 cut-offs, at least 3"));
}

/* ---- pairing weighings with cut-off intervals ----------------------------------------------------*/
static void test_mfr_pairing(void **state)
{
    (void)state;
    struct pd_err err = {0};
    size_t of[8], n;
    /* 4 cut-offs (3 intervals: 10–20, 20–30, 30–40) and 5 weighings: one before any interval had
     * closed, three in step, one too many. */
    const double cuts[] = {10, 20, 30, 40};
    const double w5[] = {5, 22, 32, 42, 44};
    assert_int_equal(pd_mfr_pair(cuts, 4, w5, 5, of, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_true(of[0] == SIZE_MAX);
    assert_int_equal(of[1], 0);
    assert_int_equal(of[2], 1);
    assert_int_equal(of[3], 2);
    assert_true(of[4] == SIZE_MAX);
    /* all pieces weighed after the test, in order: the first three take the intervals */
    const double late[] = {50, 51, 52, 53, 54};
    assert_int_equal(pd_mfr_pair(cuts, 4, late, 5, of, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(of[0], 0);
    assert_int_equal(of[2], 2);
    assert_true(of[3] == SIZE_MAX && of[4] == SIZE_MAX);
    /* a weighing exactly at its closing cut counts; one interval left unweighed at the end */
    const double w2[] = {20, 30};
    assert_int_equal(pd_mfr_pair(cuts, 4, w2, 2, of, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(of[0], 0);
    assert_int_equal(of[1], 1);
    /* one cut-off is no interval; no cut-offs at all */
    assert_int_equal(pd_mfr_pair(cuts, 1, w5, 5, of, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(pd_mfr_pair(NULL, 0, w5, 5, of, &n, &err), 0);
    assert_int_equal(n, 0);
    /* times out of order are refused with the place */
    const double bad_cuts[] = {10, 20, 20, 40};
    assert_int_equal(pd_mfr_pair(bad_cuts, 4, w5, 5, of, &n, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "cut-off time 2"));
    const double bad_w[] = {22, 21};
    assert_int_equal(pd_mfr_pair(cuts, 4, bad_w, 2, of, &n, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "weighing time 1"));
}

/* ---- ISO 1133 MVR over the measuring window -------------------------------------------------------*/
/* M2 of §12: l = 25 mm in 97 s inside the window, 0.5 s samples from a start 52 mm above the die. */
static void test_mvr_window_m2(void **state)
{
    (void)state;
    double t[300], x[300];
    size_t n = 0;
    for (double s = 0; s <= 140.0 + 1e-9; s += 0.5, n++) {
        t[n] = s;
        x[n] = 25.0 / 97.0 * s;
    }
    struct pd_mvr_window w;
    struct pd_err err = {0};
    assert_int_equal(pd_mvr_evaluate_window(t, x, n, 52.0, 50.0, 20.0, 0.711, 3, &w, &err), 0);
    assert_near(w.mvr, 0.711 * 600 * 2.5 / 97.0, 1e-9); /* 10.9948 → 11.0 */
    assert_near(w.mvr, 10.9948, 1e-4);
    /* the samples with the lower edge at 50..20 mm: travel 2..32 mm, t = 7.76..124.16 s */
    assert_near(w.t_from, 8.0, 1e-12);
    assert_near(w.t_to, 124.0, 1e-12);
    assert_near(w.slope_rel_se, 0.0, 1e-9);
    /* ρm = m/(A·l): 1.313 g extruded over the 25 mm → MFR = MVR·ρm (§12: 0.7387, 8.12) */
    double mfr = 600 * 1.313 / 97.0;
    assert_near(mfr / w.mvr, 0.7387, 5e-5);
    assert_near(w.mvr * 1.313 / (0.711 * 2.5), 8.12, 0.005);

    /* window not reached: the piston started too high and moved 30 mm */
    assert_int_equal(pd_mvr_evaluate_window(t, x, n, 90.0, 50.0, 20.0, 0.711, 3, &w, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "window not reached"));
    assert_non_null(strstr(err.msg, "from 90.00 to 53.92")); /* the heights it saw: 90 − 36.08 */
    assert_int_equal(pd_mvr_evaluate_window(t, x, 0, 52.0, 50.0, 20.0, 0.711, 3, &w, &err), PD_EDATA);
    assert_int_equal(pd_mvr_evaluate_window(t, x, n, 52.0, 20.0, 50.0, 0.711, 3, &w, &err), PD_EDATA);
    x[5] = NAN;
    assert_int_equal(pd_mvr_evaluate_window(t, x, n, 52.0, 50.0, 20.0, 0.711, 3, &w, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "sample 5"));
}

/* A realistic record: the piston starts slowly while the melt settles, above the window, then runs at
 * the melt's rate, rests on its end stop 18 mm above the die (below the window) while the record goes
 * on; transducer noise 5 µm. */
static size_t piston_record(double *t, double *x, size_t max, double speed, uint64_t seed)
{
    struct pd_test_rng r = {seed};
    size_t n = 0;
    for (double s = 0; n < max; s += 0.2, n++) {
        double travel = speed * s - speed * 6.0 * (1.0 - exp(-s / 6.0)); /* slow start */
        travel = travel < 34.0 ? travel : 34.0;
        t[n] = s;
        x[n] = travel + 0.005 * pd_test_gaussian(&r);
    }
    return n;
}

static void test_mvr_window_vs_numpy(void **state)
{
    (void)state;
    if (access("/usr/bin/python3", X_OK) != 0) {
        print_message("SKIP: /usr/bin/python3 not found\n");
        skip();
    }
    enum { N = 900 }; /* 180 s: the last 20 s on the end stop */
    static double t[N], x[N];
    size_t n = piston_record(t, x, N, 0.25, 7);
    char path[] = "/tmp/pd_mvr_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%.17g %.17g\n", t[i], x[i]);
    fclose(f);
    char cmd[600];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import numpy as np,sys\n"
             "d=np.loadtxt(sys.argv[1]); h=52.0-d[:,1]; w=(h<=50)&(h>=20)\n"
             "print(repr(np.polyfit(d[w,0],d[w,1],1)[0]), int(w.sum()))' %s",
             path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    double slope = NAN;
    int points = -1;
    int got = fscanf(p, "%lf %d", &slope, &points);
    int status = pclose(p);
    unlink(path);
    if (got != 2 || status != 0) {
        print_message("SKIP: numpy not available to /usr/bin/python3\n");
        skip();
    }
    struct pd_mvr_window w;
    struct pd_err err = {0};
    assert_int_equal(pd_mvr_evaluate_window(t, x, n, 52.0, 50.0, 20.0, 0.711, 3, &w, &err), 0);
    assert_int_equal(w.points, (size_t)points);
    assert_near(w.mvr, 0.711 * 600 * fabs(slope) / 10.0, 1e-9 * w.mvr);
    /* the whole record would not do: the slow start and the end stop bend it */
    double whole;
    assert_int_equal(pd_mvr_evaluate(t, x, n, 0.711, &whole, &err), 0);
    assert_true(fabs(whole - w.mvr) > 0.01 * w.mvr);
    assert_true(w.slope_rel_se > 0 && w.slope_rel_se < 1e-3);
}

static void test_mvr_budget_vs_monte_carlo(void **state)
{
    (void)state;
    static struct pd_method_def def;
    struct pd_err err = {0};
    assert_int_equal(pd_method_defaults("iso1133", &def, &err), 0);
    const struct pd_uncertainty_budget *b = &def.uncertainty;
    const struct {
        double speed, noise, coeff, rms_dev;
    } cases[] = {{25.0 / 97.0, 0.005, 2.0, 0.1}, {0.05, 0.01, 2.0, 0.3}, {0.8, 0.002, 3.5, 0.0}};
    enum { N = 1600 };
    static double t[N], x[N], tt[N], xx[N];
    for (size_t ci = 0; ci < 3; ci++) {
        /* enough samples to cover the window once at this speed, 1 s apart, start 51 mm; transducer
         * noise rectangular (its quantisation) with the case's standard deviation */
        size_t n = 0;
        struct pd_test_rng r = {500 + ci};
        double q = cases[ci].noise * sqrt(3.0);
        for (double s = 0; n < N && cases[ci].speed * s < 33.0; s += 1.0, n++) {
            t[n] = s;
            x[n] = cases[ci].speed * s + rect(&r, q);
        }
        struct pd_mvr_window w;
        assert_int_equal(pd_mvr_evaluate_window(t, x, n, 51.0, 50.0, 20.0, 0.711, 3, &w, &err), 0);
        double u = pd_mvr_uncertainty(w.mvr, w.slope_rel_se, b, cases[ci].coeff, cases[ci].rms_dev);
        /* Monte Carlo: transducer scale, timer rate and area errors, fresh transducer noise, the barrel
         * temperature as for MFR; through pd_mvr_evaluate_window. */
        struct acc a = {0};
        for (int i = 0; i < DRAWS; i++) {
            double ed = rect(&r, b->input[PD_U_DISPLACEMENT] / 100.0), et = rect(&r, b->input[PD_U_TIME] / 100.0);
            double area = 0.711 * (1.0 + rect(&r, b->input[PD_U_AREA] / 100.0));
            for (size_t k = 0; k < n; k++) {
                tt[k] = t[k] * (1.0 + et);
                xx[k] = (cases[ci].speed * t[k] + rect(&r, q)) * (1.0 + ed);
            }
            struct pd_mvr_window d;
            assert_int_equal(pd_mvr_evaluate_window(tt, xx, n, 51.0, 50.0, 20.0, area, 3, &d, &err), 0);
            double dT = rect(&r, b->input[PD_U_TEMPERATURE]) + cases[ci].rms_dev * pd_test_gaussian(&r);
            acc_add(&a, d.mvr * exp(-cases[ci].coeff / 100.0 * dT));
        }
        char what[64];
        snprintf(what, sizeof what, "MVR case %zu", ci);
        assert_budget_matches_mc(u, acc_sd(&a), what);
    }
}

/* ---- a stress-type result: ISO 179 a = (W − loss)/(h·b), the general budget -----------------------*/
static void test_charpy_budget_vs_monte_carlo(void **state)
{
    (void)state;
    static struct pd_method_def def;
    struct pd_err err = {0};
    assert_int_equal(pd_method_defaults("iso179", &def, &err), 0);
    const struct pd_uncertainty_budget *b = &def.uncertainty;
    size_t count;
    const struct pd_cert_property *props = pd_cert_method_properties("iso179", &count);
    assert_int_equal(count, 1);
    /* C1 of §12 (notched, h 4, bN 8) and the unnotched example (h 4, b 10) */
    const struct {
        double W, loss, h, b;
    } cases[] = {{0.412, 0.004, 4.0, 8.0}, {2.36, 0.01, 4.0, 10.0}, {0.389, 0.004, 3.9, 7.9}};
    uint64_t seed = 179;
    for (size_t ci = 0; ci < 3; ci++) {
        double a;
        assert_int_equal(
            pd_charpy_evaluate(cases[ci].W, cases[ci].loss, cases[ci].h, cases[ci].b, 0, 0.1, 0.8, &a, &err), 0);
        double u = pd_uncertainty_standard(b, props[0].sens, a, cases[ci].b, cases[ci].h, 0);
        struct pd_test_rng r = {seed++};
        struct acc acc = {0};
        for (int i = 0; i < DRAWS; i++) {
            double W = cases[ci].W * (1.0 + rect(&r, b->input[PD_U_ENERGY] / 100.0));
            double h = cases[ci].h + rect(&r, b->input[PD_U_THICKNESS]),
                   w = cases[ci].b + rect(&r, b->input[PD_U_WIDTH]);
            double v;
            assert_int_equal(pd_charpy_evaluate(W, cases[ci].loss, h, w, 0, 0.1, 0.8, &v, &err), 0);
            acc_add(&acc, v);
        }
        char what[64];
        snprintf(what, sizeof what, "Charpy case %zu", ci);
        assert_budget_matches_mc(u, acc_sd(&acc), what);
    }
}

/* ---- an MFR run file: 5 weighings, 4 cut-offs after preheat ----------------------------------------*/
#define T0 1795852800000000000LL
/* dynamic >= 0: the balance also records its `stable` flag, 0 for that weighing */
static void write_mfr_run(const char *path, bool with_cutoffs, double start_height, int dynamic)
{
    const struct pd_store_attr run_attrs[] = {
        {.key = "run_id", .type = PD_STORE_STRING, .s = "R-MFR"},
        {.key = "method", .type = PD_STORE_STRING, .s = "iso1133"},
        {.key = "simulated", .type = PD_STORE_INT, .i = 0},
    };
    struct pd_store_instrument inst[2] = {{.name = "mfi1"}, {.name = "balance1"}};
    const char *names[] = {"temperature", "piston", "cutoffs", "test_time"};
    const char *units[] = {"degC", "mm", "", "s"};
    inst[0].n_channels = with_cutoffs ? 4 : 2;
    for (size_t c = 0, k = 0; c < 4; c++) {
        if (!with_cutoffs && c >= 2)
            continue;
        strcpy(inst[0].channels[k].name, names[c]);
        strcpy(inst[0].channels[k++].unit, units[c]);
    }
    inst[1].n_channels = dynamic >= 0 ? 2 : 1;
    strcpy(inst[1].channels[0].name, "mass");
    strcpy(inst[1].channels[0].unit, "g");
    strcpy(inst[1].channels[1].name, "stable");
    struct pd_store_attr fields[3] = {
        {.key = "cut_interval", .type = PD_STORE_DOUBLE, .d = 10, .units = "s"},
        {.key = "temperature", .type = PD_STORE_DOUBLE, .d = 230, .units = "degC"},
        {.key = "piston_start_height", .type = PD_STORE_DOUBLE, .d = start_height, .units = "mm"},
    };
    struct pd_store_specimen sp = {.id = "charge-1", .n_attrs = start_height > 0 ? 3 : 2, .attrs = fields};
    struct pd_store_layout layout = {.n_run_attrs = 3,
                                     .run_attrs = run_attrs,
                                     .n_instruments = 2,
                                     .instruments = inst,
                                     .n_specimens = 1,
                                     .specimens = &sp,
                                     .deflate_level = -1};
    struct pd_store *st = NULL;
    struct pd_err err = {0};
    assert_int_equal(pd_store_create(path, &layout, &st, &err), 0);
    /* the indexer at 10 Hz from 0.05 s to 45.95 s: count steps between 9.95 and 10.05 s etc., so the
     * cuts are at 10, 20, 30, 40 s ± 0.05 s; barrel 0.3 K above its set point; piston at M2's rate */
    for (int i = 0; i < 460; i++) {
        double s = 0.05 + 0.1 * i;
        double row[4] = {230.3, 25.0 / 97.0 * s, floor(s / 10.0), s};
        int64_t t = T0 + (int64_t)llround(s * 1e9), unc = 0;
        uint32_t q = 0;
        assert_int_equal(pd_store_append(st, 0, 0, 1, &t, &unc, &q, row, &err), 0);
    }
    /* preheat ends at 3 s (the cut at 10 s opens the first interval); weighings at 5 (before any
     * interval closed), 22, 32, 42 and 44 s (one too many) */
    assert_int_equal(pd_store_add_event(st, 0, T0 + 3000000000LL, "preheat_done", "barrel at 230.30", &err), 0);
    const double wt[] = {5, 22, 32, 42, 44}, wm[] = {0.2000, 0.1352, 0.1361, 0.1347, 0.0500};
    for (int j = 0; j < 5; j++) {
        int64_t t = T0 + (int64_t)llround(wt[j] * 1e9), unc = 0;
        uint32_t q = 0;
        double row[2] = {wm[j], j == dynamic ? 0.0 : 1.0};
        assert_int_equal(pd_store_append(st, 0, 1, 1, &t, &unc, &q, row, &err), 0);
    }
    struct pd_store_attr status = {.key = "status", .type = PD_STORE_STRING, .s = "tested"};
    assert_int_equal(pd_store_set_specimen_attr(st, 0, &status, &err), 0);
    assert_int_equal(pd_store_close(st, 0, NULL, &err), 0);
}

static void evaluate_mfr_file(const char *path, const struct pd_method_def *def, struct cert_values *v, bool *evaluated,
                              char *reason, size_t rsize)
{
    struct pd_run *run = NULL;
    struct pd_err err = {0};
    assert_int_equal(pd_run_open(path, &run, &err), 0);
    memset(v, 0, sizeof *v);
    *evaluated = false;
    reason[0] = '\0';
    assert_int_equal(cert_method_iso1133.evaluate(run, 0, def, v, evaluated, reason, rsize), 0);
    pd_run_close(run);
}

static void test_mfr_run_five_weighings_four_cuts(void **state)
{
    (void)state;
    char path[] = "/tmp/pd_mfr_run_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    write_mfr_run(path, true, 52.0, -1);
    static struct pd_method_def def;
    struct pd_err err = {0};
    assert_int_equal(pd_method_defaults("iso1133", &def, &err), 0);
    struct cert_values v;
    bool evaluated;
    char reason[600];
    evaluate_mfr_file(path, &def, &v, &evaluated, reason, sizeof reason);
    assert_true(evaluated);
    /* the three paired masses over their own 10 s intervals; 0.2000 and 0.0500 reported, not used */
    assert_true(v.has[0]);
    assert_near(v.value[0], 600.0 * (0.1352 + 0.1361 + 0.1347) / 3.0 / 10.0, 1e-9);
    assert_int_equal(json_integer_value(json_object_get(v.info, "cut_offs")), 3);
    assert_int_equal(json_integer_value(json_object_get(v.info, "cut_offs_recorded")), 4);
    assert_int_equal(json_integer_value(json_object_get(v.info, "weighings")), 5);
    json_t *unp = json_object_get(v.info, "unpaired_weighings");
    assert_int_equal(json_array_size(unp), 2);
    assert_near(json_real_value(json_object_get(json_array_get(unp, 0), "mass_g")), 0.2, 1e-12);
    assert_near(json_real_value(json_object_get(json_array_get(unp, 1), "mass_g")), 0.05, 1e-12);
    json_t *warnings = json_object_get(v.info, "warnings");
    assert_non_null(warnings);
    bool said = false;
    for (size_t i = 0; i < json_array_size(warnings); i++)
        said = said || strstr(json_string_value(json_array_get(warnings, i)), "2 of 5 weighings") != NULL;
    assert_true(said);
    json_t *iv = json_object_get(v.info, "cut_intervals_s");
    for (size_t i = 0; i < 3; i++)
        assert_near(json_real_value(json_array_get(iv, i)), 10.0, 1e-6);
    /* the barrel's recorded 0.3 K off its set point enters the budget; the adapter's u is the budget's */
    assert_near(json_real_value(json_object_get(v.info, "mfr_temperature_rms_deviation_K")), 0.3, 1e-9);
    const double cut[] = {10, 20, 30, 40}, hw[] = {0.05, 0.05, 0.05, 0.05}, ms[] = {0.1352, 0.1361, 0.1347};
    const size_t ivs[] = {0, 1, 2};
    struct pd_mfr_cuts c = {.cut_s = cut, .cut_half_width_s = hw, .n_cuts = 4, .mass_g = ms, .interval = ivs, .n = 3};
    /* the specimen's u: that budget and the scatter of the three rates, s/√3 */
    double r[3], rm = 0, ss = 0;
    for (int k = 0; k < 3; k++)
        rm += (r[k] = 60.0 * ms[k]) / 3.0;
    for (int k = 0; k < 3; k++)
        ss += (r[k] - rm) * (r[k] - rm);
    double ub = pd_mfr_uncertainty(&c, v.value[0], &def.uncertainty, 2.0, 0.3), ua = sqrt(ss / 2.0 / 3.0);
    assert_near(v.u_extra[0], sqrt(ub * ub + ua * ua), 1e-6 * v.u_extra[0]);
    /* MVR over the window only: the piston entered it at 2 mm of travel */
    assert_true(v.has[1]);
    assert_near(v.value[1], 0.711 * 600 * 2.5 / 97.0, 1e-6);
    cert_curve_free(&v.curve);
    json_decref(v.info);

    /* without piston_start_height: no MVR (the reason is given), the MFR stays, unchecked window said */
    unlink(path);
    write_mfr_run(path, true, 0, -1);
    evaluate_mfr_file(path, &def, &v, &evaluated, reason, sizeof reason);
    assert_true(evaluated && v.has[0] && !v.has[1]);
    assert_non_null(strstr(json_string_value(json_object_get(v.info, "mvr_not_evaluated")), "piston_start_height"));
    json_decref(v.info);

    /* no cut-off times at all: the masses cannot be paired; the reason says so (and names the way out) */
    unlink(path);
    write_mfr_run(path, false, 0, -1);
    evaluate_mfr_file(path, &def, &v, &evaluated, reason, sizeof reason);
    assert_false(v.has[0]);
    assert_non_null(strstr(json_string_value(json_object_get(v.info, "mfr_not_evaluated")), "no cut-off times"));
    json_decref(v.info);
    /* min_cuts 4 with 3 pairs: refused, with the counts */
    unlink(path);
    write_mfr_run(path, true, 0, -1);
    def.params[2].value = 4;
    assert_string_equal(def.params[2].key, "min_cuts");
    evaluate_mfr_file(path, &def, &v, &evaluated, reason, sizeof reason);
    assert_false(evaluated);
    assert_non_null(strstr(reason, "3 cut-offs, at least 4"));
    assert_non_null(strstr(reason, "5 weighings, 4 cut-offs recorded after preheat, 3 paired"));
    json_decref(v.info);
    /* the balance marked the weighing at 32 s dynamic: it keeps its place (the next piece is not moved
     * into its interval) but its mass is not used */
    unlink(path);
    write_mfr_run(path, true, 0, 2);
    def.params[2].value = 2;
    evaluate_mfr_file(path, &def, &v, &evaluated, reason, sizeof reason);
    assert_true(evaluated);
    assert_near(v.value[0], 600.0 * (0.1352 + 0.1347) / 2.0 / 10.0, 1e-9);
    assert_int_equal(json_array_size(json_object_get(v.info, "dynamic_weighings")), 1);
    json_decref(v.info);
    unlink(path);
}

/* The density adapter reads the weighings from the specimen's fields and gives the budget's u. */
static void test_density_run(void **state)
{
    (void)state;
    char path[] = "/tmp/pd_density_run_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    const struct pd_store_attr run_attrs[] = {
        {.key = "run_id", .type = PD_STORE_STRING, .s = "R-D"},
        {.key = "method", .type = PD_STORE_STRING, .s = "iso1183"},
    };
    struct pd_store_instrument inst = {.name = "bath", .n_channels = 1};
    strcpy(inst.channels[0].name, "liquid_temperature");
    strcpy(inst.channels[0].unit, "degC");
    const struct pd_store_attr d1[] = {
        {.key = "mass_in_air", .type = PD_STORE_DOUBLE, .d = 2.5, .units = "g"},
        {.key = "mass_in_liquid", .type = PD_STORE_DOUBLE, .d = 0.293, .units = "g"},
        {.key = "liquid_density", .type = PD_STORE_DOUBLE, .d = 0.99754, .units = "g/cm3"},
    };
    const struct pd_store_attr d2[] = {
        {.key = "mass_in_air", .type = PD_STORE_DOUBLE, .d = 2.0, .units = "g"},
        {.key = "sinker_in_liquid", .type = PD_STORE_DOUBLE, .d = 3.1, .units = "g"},
        {.key = "both_in_liquid", .type = PD_STORE_DOUBLE, .d = 2.905, .units = "g"},
    };
    struct pd_store_specimen sp[2] = {{.id = "D1", .n_attrs = 3, .attrs = d1}, {.id = "D2", .n_attrs = 3, .attrs = d2}};
    struct pd_store_layout layout = {.n_run_attrs = 2,
                                     .run_attrs = run_attrs,
                                     .n_instruments = 1,
                                     .instruments = &inst,
                                     .n_specimens = 2,
                                     .specimens = sp,
                                     .deflate_level = -1};
    struct pd_store *st = NULL;
    struct pd_err err = {0};
    assert_int_equal(pd_store_create(path, &layout, &st, &err), 0);
    assert_int_equal(pd_store_close(st, 0, NULL, &err), 0);
    static struct pd_method_def def;
    assert_int_equal(pd_method_defaults("iso1183", &def, &err), 0);
    struct pd_run *run = NULL;
    assert_int_equal(pd_run_open(path, &run, &err), 0);
    const double want_rho[] = {1.12997, 0.90892};
    const double air[] = {2.5, 2.0}, liquid[] = {0.293, NAN}, sinker[] = {0, 3.1}, both[] = {NAN, 2.905};
    for (size_t s = 0; s < 2; s++) {
        struct cert_values v;
        memset(&v, 0, sizeof v);
        bool evaluated = false;
        char reason[300] = "";
        assert_int_equal(cert_method_iso1183.evaluate(run, s, &def, &v, &evaluated, reason, sizeof reason), 0);
        assert_true(evaluated);
        assert_near(v.value[0], want_rho[s], 5e-6); /* §12 D1 1.130, D2 0.909 */
        double u;
        assert_int_equal(
            pd_density_uncertainty(air[s], liquid[s], 0.99754, sinker[s], both[s], &def.uncertainty, &u, &err), 0);
        assert_near(v.u_extra[0], u, 1e-15);
        /* nothing of it through the constant-exponent path: that would count it twice */
        size_t count;
        const struct pd_cert_property *props = pd_cert_method_properties("iso1183", &count);
        assert_near(pd_uncertainty_standard(&def.uncertainty, props[0].sens, v.value[0], 0, 0, 0), 0.0, 0);
        json_decref(v.info);
    }
    pd_run_close(run);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_density_budget_vs_monte_carlo),
        cmocka_unit_test(test_mfr_budget_vs_monte_carlo),
        cmocka_unit_test(test_mfr_paired_m1),
        cmocka_unit_test(test_mfr_pairing),
        cmocka_unit_test(test_mvr_window_m2),
        cmocka_unit_test(test_mvr_window_vs_numpy),
        cmocka_unit_test(test_mvr_budget_vs_monte_carlo),
        cmocka_unit_test(test_charpy_budget_vs_monte_carlo),
        cmocka_unit_test(test_mfr_run_five_weighings_four_cuts),
        cmocka_unit_test(test_density_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
