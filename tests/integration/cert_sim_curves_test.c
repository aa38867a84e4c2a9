/* cert_sim_curves_test.c — the ISO 527 evaluation against curves of the load-frame simulator's own
 * material model (firmware/loadframe/core), sampled as a test at 1 mm/min to 0.3 % strain and
 * 50 mm/min after would be: with the simulator's sensor noise every built-in material's modulus
 * comes back within 0.5 % and its tensile strength within 0.1 % of the configured values; with
 * force noise up to 0.5 % of the peak force at 10 Hz, 100 Hz and 1 kHz, σm and σy stay within
 * 0.2 % + 3·r of the noise-free curve's first maximum, which the noise-free evaluation gives
 * exactly (that maximum found here independently, on the model's sampled values); and the two
 * noise levels of the issue that made σy 88 % too low (0.5 N at 100 Hz, 2 N at 200 Hz). */
#include <math.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cert/cert.h"
#include "common/curve.h"
#include "common/noise.h"
#include "loadframe/core/model.h"

#define WIDTH 10.0
#define THICKNESS 4.0
#define GAUGE 75.0
#define RATE_HZ 200.0

static struct pd_test_rng rng = {.state = 20261125};

static void add(struct pd_test_curve *s, double force, double ext)
{
    assert_int_equal(pd_test_curve_add(s, force, ext), 0);
}

/* The specimen's strain per sample: crosshead speed over the grip distance (115 mm), the
 * extensometer seeing the same strain; 1 mm/min for the modulus, 50 mm/min from 0.3 % on. */
static double sample_curve(const struct lf_curve *c, const struct lf_material *m, struct pd_test_curve *s)
{
    const double slow = 1.0 / 60.0 / 115.0 / RATE_HZ, fast = 50.0 / 60.0 / 115.0 / RATE_HZ;
    double last = 0.0;
    for (double e = 0.0; e < c->break_strain; e += e < 0.003 ? slow : fast) {
        add(s, lf_curve_stress(c, e) * WIDTH * THICKNESS + m->force_noise_n * pd_test_gaussian(&rng),
            e * GAUGE + m->extension_noise_mm * pd_test_gaussian(&rng));
        last = e;
    }
    double eb = s->ext[s->n - 1] + fast * GAUGE;
    add(s, 0.02 * lf_curve_stress(c, c->break_strain) * WIDTH * THICKNESS, eb); /* broken */
    add(s, m->force_noise_n * pd_test_gaussian(&rng), eb + fast * GAUGE);
    return last; /* the last strain sampled before the break */
}

static void test_builtin_materials(void **state)
{
    (void)state;
    unsigned checked = 0;
    for (unsigned i = 0; lf_material_at(i); i++) {
        const struct lf_material *m = lf_material_at(i);
        struct lf_curve c;
        const char *why = NULL;
        assert_int_equal(lf_curve_init(&c, m, 1.0, 1.0, 1.0, &why), 0);
        /* The chord range lies on the model's exactly linear part, so E is the expected modulus. */
        assert_true(c.prop_strain > 0.0026);
        bool brittle = c.break_strain < c.yield_strain;
        for (int rep = 0; rep < 3; rep++) { /* three noise draws each */
            struct pd_test_curve s = {0};
            double last = sample_curve(&c, m, &s);
            /* σy for a material that yields; a brittle one's maximum is where it broke, of which
             * the record holds the last sample before the break (the model's stress there) */
            double strength = brittle ? lf_curve_stress(&c, last) : c.yield_stress;
            struct pd_tensile_specimen sp = {.force_N = s.force, .extension_mm = s.ext, .n = s.n,
                                             .width_mm = WIDTH, .thickness_mm = THICKNESS, .gauge_length_mm = GAUGE};
            struct pd_tensile_result r;
            struct pd_err err = {0};
            int rc = pd_tensile_evaluate(&sp, NULL, &r, &err);
            if (rc != 0)
                fail_msg("%s: %s", m->name, err.msg);
            double de = (r.modulus_MPa - c.modulus) / c.modulus, ds = (r.strength_MPa - strength) / strength;
            printf("%-13s E %.2f (model %.2f, %+.3f %%)  sigma_m %.4f (model %.4f, %+.4f %%)  %zu points\n", m->name,
                   r.modulus_MPa, c.modulus, 100 * de, r.strength_MPa, strength, 100 * ds, s.n);
            if (fabs(de) >= 0.005 || fabs(ds) >= 0.001)
                fail_msg("%s: modulus off by %.3f %% or strength off by %.4f %%", m->name, 100 * de, 100 * ds);
            assert_true(r.has_break);
            pd_test_curve_free(&s);
        }
        checked++;
    }
    assert_true(checked >= 4);
}

/* ---- noise matrix ----------------------------------------------------------------------------*/
/* The noise-free sampled test: strain per sample at `rate_hz` (1 mm/min over 115 mm to 0.3 %,
 * 50 mm/min after), the model's force and the extensometer's extension, then the break (2 % of
 * the last stress, then zero). truth[] gets the noise-free stress of each sample. */
static void sample_clean(const struct lf_curve *c, double rate_hz, struct pd_test_curve *s, double **truth)
{
    const double slow = 1.0 / 60.0 / 115.0 / rate_hz, fast = 50.0 / 60.0 / 115.0 / rate_hz;
    for (double e = 0.0; e < c->break_strain; e += e < 0.003 ? slow : fast)
        add(s, lf_curve_stress(c, e) * WIDTH * THICKNESS, e * GAUGE);
    double eb = s->ext[s->n - 1] + fast * GAUGE;
    add(s, 0.02 * s->force[s->n - 1], eb);
    add(s, 0.0, eb + fast * GAUGE);
    *truth = malloc(s->n * sizeof **truth);
    assert_non_null(*truth);
    for (size_t i = 0; i < s->n; i++)
        (*truth)[i] = s->force[i] / (WIDTH * THICKNESS);
}

/* The first local maximum of the noise-free samples beyond e2 = 0.25 % strain: the highest sample
 * before the curve first falls 0.5 % of its highest stress below it (the model's fw_pow wiggles
 * by far less than that); without such a fall (a brittle curve) the highest sample before the
 * break. *yields: such a fall came before the break. Brute force on purpose: for each sample, is
 * some later sample lower by the band while none between is higher? */
static size_t first_max_of(const double *stress, const double *ext, size_t n, bool *yields)
{
    size_t brk = n;
    for (size_t i = 1; i < n; i++)
        if (stress[i] < 0.05 * stress[i - 1]) {
            brk = i;
            break;
        }
    double top = 0.0;
    size_t best = 0;
    for (size_t i = 0; i < brk; i++)
        if (stress[i] > top) {
            top = stress[i];
            best = i;
        }
    *yields = false;
    for (size_t i = 0; i < brk; i++) {
        if (ext[i] / GAUGE <= 0.0025)
            continue;
        for (size_t j = i + 1; j < brk && stress[j] <= stress[i]; j++)
            if (stress[j] < stress[i] - 0.005 * top) {
                *yields = true;
                return i;
            }
    }
    return best;
}

static void test_noise_matrix(void **state)
{
    (void)state;
    static const double rates[] = {10.0, 100.0, 1000.0};
    static const double levels[] = {0.0005, 0.001, 0.0025, 0.005}; /* SD / peak force */
    struct pd_test_rng noise = {.state = 20261203};
    unsigned evaluated = 0;
    for (unsigned mi = 0; lf_material_at(mi); mi++) {
        const struct lf_material *m = lf_material_at(mi);
        struct lf_curve c;
        assert_int_equal(lf_curve_init(&c, m, 1.0, 1.0, 1.0, NULL), 0);
        for (size_t ri = 0; ri < sizeof rates / sizeof rates[0]; ri++) {
            struct pd_test_curve clean = {0};
            double *truth;
            sample_clean(&c, rates[ri], &clean, &truth);
            bool yields;
            size_t at = first_max_of(truth, clean.ext, clean.n, &yields);
            double want = truth[at];
            assert_true(yields == (c.break_strain > c.yield_strain));
            /* noise-free: exactly the sampled maximum */
            struct pd_tensile_specimen sp = {.force_N = clean.force, .extension_mm = clean.ext, .n = clean.n,
                                             .width_mm = WIDTH, .thickness_mm = THICKNESS, .gauge_length_mm = GAUGE};
            struct pd_tensile_result r;
            struct pd_err err = {0};
            if (pd_tensile_evaluate(&sp, NULL, &r, &err) != 0)
                fail_msg("%s %g Hz noise-free: %s", m->name, rates[ri], err.msg);
            if (fabs(r.strength_MPa - want) > 1e-12 * want || r.has_yield != yields ||
                (yields && fabs(r.yield_stress_MPa - want) > 1e-12 * want))
                fail_msg("%s %g Hz noise-free: sigma_m %.17g, yield %d %.17g; the sampled curve's first maximum %.17g",
                         m->name, rates[ri], r.strength_MPa, r.has_yield, r.yield_stress_MPa, want);
            assert_int_equal(r.max_half_width, 0);
            evaluated++;
            double peak_force = want * WIDTH * THICKNESS;
            for (size_t li = 0; li < sizeof levels / sizeof levels[0]; li++) {
                double worst = 0.0;
                for (int draw = 0; draw < 3; draw++) {
                    struct pd_test_curve noisy = {0};
                    for (size_t i = 0; i < clean.n; i++)
                        add(&noisy, clean.force[i] + levels[li] * peak_force * pd_test_gaussian(&noise),
                            clean.ext[i] + m->extension_noise_mm * pd_test_gaussian(&noise));
                    sp.force_N = noisy.force;
                    sp.extension_mm = noisy.ext;
                    if (pd_tensile_evaluate(&sp, NULL, &r, &err) != 0)
                        fail_msg("%s %g Hz r %g: %s", m->name, rates[ri], levels[li], err.msg);
                    double tol = (0.002 + 3.0 * levels[li]) * want;
                    double dm = r.strength_MPa - want, dy = r.yield_stress_MPa - want;
                    if (fabs(dm) > tol || r.has_yield != yields || (yields && fabs(dy) > tol))
                        fail_msg("%s %g Hz r %.2f %% draw %d: sigma_m %.5g (at %.3f %%), yield %d %.5g; want %.5g ± %.3g",
                                 m->name, rates[ri], 100 * levels[li], draw, r.strength_MPa,
                                 100 * r.strain_at_strength, r.has_yield, r.yield_stress_MPa, want, tol);
                    worst = fabs(dm) > worst ? fabs(dm) : worst;
                    evaluated++;
                    pd_test_curve_free(&noisy);
                }
                printf("%-13s %6.0f Hz  r %.2f %%  worst |d sigma_m| %.4f %% (allowed %.2f %%)\n", m->name,
                       rates[ri], 100 * levels[li], 100 * worst / want, 100 * (0.002 + 3.0 * levels[li]));
            }
            sp.force_N = clean.force;
            sp.extension_mm = clean.ext;
            free(truth);
            pd_test_curve_free(&clean);
        }
    }
    assert_true(evaluated >= 4 * 3 * 13);
}

/* The issue's two cases on pp-demo: 0.5 N (0.04 % of the peak force) at 100 Hz and 2 N at 200 Hz
 * gave σy ≈ 3.8 MPa at 0.25 % strain instead of ≈ 32 MPa near 9 %. */
static void test_issue_noise_cases(void **state)
{
    (void)state;
    static const struct {
        double sd_n, rate;
    } cases[] = {{0.5, 100.0}, {2.0, 200.0}};
    struct pd_test_rng noise = {.state = 527};
    const struct lf_material *m = lf_material_find("pp-demo");
    assert_non_null(m);
    struct lf_curve c;
    assert_int_equal(lf_curve_init(&c, m, 1.0, 1.0, 1.0, NULL), 0);
    for (size_t k = 0; k < 2; k++) {
        struct pd_test_curve clean = {0};
        double *truth;
        sample_clean(&c, cases[k].rate, &clean, &truth);
        bool yields;
        double want = truth[first_max_of(truth, clean.ext, clean.n, &yields)];
        double r_rel = cases[k].sd_n / (want * WIDTH * THICKNESS);
        for (int draw = 0; draw < 5; draw++) {
            double *f = malloc(clean.n * sizeof *f);
            assert_non_null(f);
            for (size_t i = 0; i < clean.n; i++)
                f[i] = clean.force[i] + cases[k].sd_n * pd_test_gaussian(&noise);
            struct pd_tensile_specimen sp = {.force_N = f, .extension_mm = clean.ext, .n = clean.n, .width_mm = WIDTH,
                                             .thickness_mm = THICKNESS, .gauge_length_mm = GAUGE};
            struct pd_tensile_result r;
            struct pd_err err = {0};
            assert_int_equal(pd_tensile_evaluate(&sp, NULL, &r, &err), 0);
            printf("%.1f N at %.0f Hz: sigma_y %.4f MPa at %.3f %% (sampled curve %.4f)\n", cases[k].sd_n,
                   cases[k].rate, r.yield_stress_MPa, 100 * r.yield_strain, want);
            assert_true(r.has_yield);
            assert_true(fabs(r.yield_stress_MPa - want) <= (0.002 + 3.0 * r_rel) * want);
            assert_true(fabs(r.strength_MPa - want) <= (0.002 + 3.0 * r_rel) * want);
            /* on the flat top (the model's stress is within 0.1 % of σy from 6.0 % to 9.3 % strain),
             * not at e2 where the old search stopped */
            assert_true(r.yield_strain > 0.05);
            assert_true(lf_curve_stress(&c, r.yield_strain) > 0.999 * c.yield_stress);
            free(f);
        }
        free(truth);
        pd_test_curve_free(&clean);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_builtin_materials), cmocka_unit_test(test_noise_matrix),
                                       cmocka_unit_test(test_issue_noise_cases)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
