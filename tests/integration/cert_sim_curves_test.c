/* cert_sim_curves_test.c — the ISO 527 evaluation against curves of the load-frame simulator's own
 * material model (firmware/loadframe/core), with its sensor noise, sampled as a test at 1 mm/min to
 * 0.3 % strain and 50 mm/min after would be: every built-in material's modulus comes back within
 * 0.5 % and its tensile strength within 0.1 % of the configured values. */
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
#include "common/noise.h"
#include "loadframe/core/model.h"

#define WIDTH 10.0
#define THICKNESS 4.0
#define GAUGE 75.0
#define RATE_HZ 200.0

static struct pd_test_rng rng = {.state = 20261125};

struct samples {
    double *force, *ext;
    size_t n, cap;
};

static void add(struct samples *s, double force, double ext)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 4096;
        s->force = realloc(s->force, s->cap * sizeof *s->force);
        s->ext = realloc(s->ext, s->cap * sizeof *s->ext);
        assert_non_null(s->force);
        assert_non_null(s->ext);
    }
    s->force[s->n] = force;
    s->ext[s->n] = ext;
    s->n++;
}

/* The specimen's strain per sample: crosshead speed over the grip distance (115 mm), the
 * extensometer seeing the same strain; 1 mm/min for the modulus, 50 mm/min from 0.3 % on. */
static double sample_curve(const struct lf_curve *c, const struct lf_material *m, struct samples *s)
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
            struct samples s = {0};
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
            free(s.force);
            free(s.ext);
        }
        checked++;
    }
    assert_true(checked >= 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_builtin_materials)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
