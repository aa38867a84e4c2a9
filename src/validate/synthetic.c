/*
 * synthetic.c — validation cases on synthetic tensile curves with known truth: every built-in
 * material of the load-frame simulator (its curve model, firmware/loadframe/core/model.h), sampled
 * as a real ISO 527 test would be (1 mm/min through the modulus range, 50 mm/min from 0.3 % strain
 * on, grip distance 115 mm, L0 75 mm, 10 × 4 mm) at 10 Hz, 100 Hz and 1 kHz, clean and with
 * Gaussian force and extension noise from a seeded generator of its own, so the report is the same
 * on every run.
 *
 * Truth and tolerances:
 * - Et, by the method's rule (chord interpolated at ε1/ε2, or local fits, or regression) and by
 *   regression: the model's E (the modulus range lies on the model's exactly linear part). Clean:
 *   1e-6·E (rounding). Noisy: four standard deviations of the modulus the noise alone causes,
 *   propagated through that rule for the samples the sampling rate puts in the range (for the
 *   interpolated chord, with the interpolation weights at ε1 and ε2), plus the same 1e-6·E.
 * - σm (and σy for materials that yield): the largest noise-free stress the model has at the
 *   sampled strains before the neck ends (the yield peak; for a brittle material the last sample
 *   before its break). Clean: 1e-9 relative (exact but for the division by A0). Noisy:
 *   (0.2 % + 3·r) of that value, r = force noise SD / peak force.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadframe/core/model.h"
#include "validate/validate_internal.h"

#define WIDTH         10.0
#define THICKNESS     4.0
#define AREA          (WIDTH * THICKNESS)
#define GAUGE         75.0
#define GRIP          115.0
#define SLOW_MM_MIN   1.0
#define FAST_MM_MIN   50.0
#define SWITCH_STRAIN 0.003
/* Extensometer noise at the highest level: 1 µm (five times the simulator's extensometer, within
 * an ISO 9513 class 1 device's permitted error); scaled with the force noise level. */
#define EXT_NOISE_AT_TOP_MM 0.001
#define SEED                0x17025u

static const double rates_hz[] = {10.0, 100.0, 1000.0};
static const double noise_levels[] = {0.0, 0.001, 0.005}; /* force noise SD / peak force */
#define N_RATES       (sizeof rates_hz / sizeof rates_hz[0])
#define N_LEVELS      (sizeof noise_levels / sizeof noise_levels[0])
#define MAX_MATERIALS 16

struct synth_input {
    unsigned material;  /* lf_material_at index */
    size_t rate, level; /* indices into rates_hz, noise_levels */
};
static struct synth_input inputs[MAX_MATERIALS * N_RATES * N_LEVELS];

enum { O_MODULUS, O_STRENGTH, O_YIELD, O_MODULUS_REGRESSION };

/* ---- the generator: splitmix64 and the polar Box–Muller method ------------------------------*/
struct synth_rng {
    uint64_t state;
    bool has_spare;
    double spare;
};

static uint64_t rng_next(struct synth_rng *g)
{
    uint64_t z = (g->state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static double rng_uniform(struct synth_rng *g) /* in (-1, 1) */
{
    return ((double)(rng_next(g) >> 11) + 0.5) / 9007199254740992.0 * 2.0 - 1.0;
}

static double rng_gauss(struct synth_rng *g)
{
    if (g->has_spare) {
        g->has_spare = false;
        return g->spare;
    }
    double u, v, s;
    do {
        u = rng_uniform(g);
        v = rng_uniform(g);
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double k = sqrt(-2.0 * log(s) / s);
    g->spare = v * k;
    g->has_spare = true;
    return u * k;
}

/* ---- sampling -------------------------------------------------------------------------------*/
struct synth_curve {
    double *force, *ext;
    size_t n;
    double truth_peak; /* the noise-free first maximum at the sampled strains, MPa */
};

/* Strain after t seconds of the two-speed test. */
static double strain_at(double t)
{
    double slow = SLOW_MM_MIN / 60.0 / GRIP, fast = FAST_MM_MIN / 60.0 / GRIP;
    double t_switch = SWITCH_STRAIN / slow;
    return t <= t_switch ? slow * t : SWITCH_STRAIN + fast * (t - t_switch);
}

static int sample(const struct lf_curve *c, double rate_hz, double force_sd, double ext_sd, uint64_t seed,
                  struct synth_curve *out)
{
    struct synth_rng g = {.state = seed};
    double slow = SLOW_MM_MIN / 60.0 / GRIP, fast = FAST_MM_MIN / 60.0 / GRIP;
    double t_break = SWITCH_STRAIN / slow + (c->break_strain - SWITCH_STRAIN) / fast;
    size_t n_intact = (size_t)ceil(t_break * rate_hz) + 1, n = n_intact + 2;
    double *f = malloc(n * sizeof *f), *x = malloc(n * sizeof *x);
    if (!f || !x) {
        free(f);
        free(x);
        return PD_ENOMEM;
    }
    size_t i = 0;
    double peak = 0.0, e = 0.0;
    for (; i < n_intact; i++) {
        e = strain_at((double)i / rate_hz);
        if (e >= c->break_strain)
            break;
        double s = lf_curve_stress(c, e);
        if (e <= c->neck_end_strain && s > peak)
            peak = s;
        f[i] = s * AREA + force_sd * rng_gauss(&g);
        x[i] = e * GAUGE + ext_sd * rng_gauss(&g);
    }
    /* Broken: the load cell reads only its noise while the crosshead keeps moving. */
    for (int k = 0; k < 2; k++, i++) {
        e = strain_at((double)i / rate_hz);
        f[i] = force_sd * rng_gauss(&g);
        x[i] = e * GAUGE + ext_sd * rng_gauss(&g);
    }
    out->force = f;
    out->ext = x;
    out->n = i;
    out->truth_peak = peak;
    return 0;
}

/* SD of the stress read at strain `target` from the grid of samples `step` apart: interpolated
 * between the two bracketing samples (weights 1 − t and t), or from a local line over ±window. */
static double end_sd(double target, double step, double window, double s)
{
    if (window > 0.0)
        return s / sqrt(floor(2.0 * window / step) + 1.0);
    double t = target / step - floor(target / step);
    return s * sqrt((1.0 - t) * (1.0 - t) + t * t);
}

/* SD of the modulus caused by a per-sample stress noise `s` (MPa) in the modulus range. */
static double modulus_sd(const struct pd_tensile_params *p, enum pd_modulus_method method, double s, double rate_hz)
{
    double step = SLOW_MM_MIN / 60.0 / GRIP / rate_hz; /* strain per sample in the modulus range */
    double span = p->e2 - p->e1;
    if (method == PD_MODULUS_REGRESSION) {
        double n = floor(span / step) + 1.0;
        return s / sqrt(n * span * span / 12.0); /* σ/√Sxx of a least-squares slope */
    }
    return hypot(end_sd(p->e1, step, p->chord_window, s), end_sd(p->e2, step, p->chord_window, s)) / span;
}

static int eval_synthetic(const void *input, const struct pd_validate_env *env, struct pd_validate_outputs *out,
                          struct pd_err *err)
{
    (void)env;
    const struct synth_input *in = input;
    const struct lf_material *m = lf_material_at(in->material);
    struct lf_curve c;
    const char *why = NULL;
    if (!m || lf_curve_init(&c, m, 1.0, 1.0, 1.0, &why) != 0)
        return pd_err_set(err, PD_EINVAL, NULL, "load-frame material %u: %s", in->material, why ? why : "unknown");
    struct pd_tensile_params p;
    int rc = validate_tensile_params(&p, err);
    if (rc < 0)
        return rc;
    double rate = rates_hz[in->rate], r = noise_levels[in->level];
    bool brittle = c.break_strain < c.yield_strain;
    double peak_force = (brittle ? lf_curve_stress(&c, c.break_strain) : c.yield_stress) * AREA;
    double force_sd = r * peak_force, ext_sd = r / noise_levels[N_LEVELS - 1] * EXT_NOISE_AT_TOP_MM;
    uint64_t seed = SEED ^ ((uint64_t)in->material << 32) ^ ((uint64_t)in->rate << 16) ^ (uint64_t)in->level;
    struct synth_curve s;
    if ((rc = sample(&c, rate, force_sd, ext_sd, seed, &s)) < 0)
        return pd_err_set(err, rc, NULL, "out of memory for the curve");
    /* The truth first: the cases show it even when the evaluation refuses the curve. */
    double stress_noise = hypot(force_sd / AREA, c.modulus * ext_sd / GAUGE);
    double strength_tol = r > 0.0 ? (0.002 + 3.0 * r) * s.truth_peak : 1e-9 * s.truth_peak;
    out->v[O_MODULUS].truth = out->v[O_MODULUS_REGRESSION].truth = c.modulus;
    out->v[O_MODULUS].tolerance = 1e-6 * c.modulus + 4.0 * modulus_sd(&p, p.modulus_method, stress_noise, rate);
    out->v[O_MODULUS_REGRESSION].tolerance =
        1e-6 * c.modulus + 4.0 * modulus_sd(&p, PD_MODULUS_REGRESSION, stress_noise, rate);
    out->v[O_STRENGTH].truth = out->v[O_YIELD].truth = s.truth_peak;
    out->v[O_STRENGTH].tolerance = out->v[O_YIELD].tolerance = strength_tol;

    struct pd_tensile_specimen sp = {.force_N = s.force,
                                     .extension_mm = s.ext,
                                     .n = s.n,
                                     .width_mm = WIDTH,
                                     .thickness_mm = THICKNESS,
                                     .gauge_length_mm = GAUGE,
                                     .grip_distance_mm = GRIP};
    struct pd_tensile_result res, reg;
    struct pd_tensile_params p_reg = p;
    p_reg.modulus_method = PD_MODULUS_REGRESSION;
    rc = pd_tensile_evaluate(&sp, &p, &res, err);
    if (rc == 0)
        rc = pd_tensile_evaluate(&sp, &p_reg, &reg, err);
    free(s.force);
    free(s.ext);
    if (rc < 0)
        return rc;
    out->v[O_MODULUS].computed = res.has_modulus ? res.modulus_MPa : NAN;
    out->v[O_MODULUS_REGRESSION].computed = reg.has_modulus ? reg.modulus_MPa : NAN;
    out->v[O_STRENGTH].computed = res.strength_MPa;
    out->v[O_YIELD].computed = res.yield_stress_MPa;
    if (!res.has_modulus)
        snprintf(out->note, sizeof out->note, "modulus n/a: %.180s", res.modulus_na_reason);
    else if (c.prop_strain < p.e2 + p.chord_window)
        snprintf(out->note, sizeof out->note, "the modulus range reaches past the model's linear part (%.4g %%)",
                 100.0 * c.prop_strain);
    else if (rate < 22.0)
        snprintf(out->note, sizeof out->note,
                 "sampling note: %.0f Hz is below the ISO 527-2 recording rate for the modulus "
                 "(22 Hz at 1 mm/min, L0 75 mm)",
                 rate);
    return 0;
}

int validate_add_synthetic(struct pd_validation *v, struct pd_err *err)
{
    size_t k = 0;
    if (lf_material_at(MAX_MATERIALS))
        return pd_err_set(err, PD_ERANGE, NULL, "the load-frame model has more than %d materials", MAX_MATERIALS);
    for (unsigned mi = 0; lf_material_at(mi); mi++) {
        const struct lf_material *m = lf_material_at(mi);
        struct lf_curve c;
        if (lf_curve_init(&c, m, 1.0, 1.0, 1.0, NULL) != 0)
            return pd_err_set(err, PD_EINVAL, NULL, "load-frame material '%s' is not valid", m->name);
        bool yields = c.break_strain >= c.yield_strain;
        for (size_t ri = 0; ri < N_RATES; ri++) {
            for (size_t li = 0; li < N_LEVELS; li++, k++) {
                inputs[k] = (struct synth_input){.material = mi, .rate = ri, .level = li};
                char id[4][64], what[4][112], src[160];
                const char *sym[4] = {"Et", "sigma_m", "sigma_y", "Et-regression"};
                const char *name[4] = {"tensile modulus Et (method's rule)", "tensile strength σm", "yield stress σy",
                                       "tensile modulus Et, regression"};
                snprintf(src, sizeof src, "load-frame model '%s': its noise-free stress at the sampled first peak",
                         m->name);
                for (int q = 0; q < 4; q++) {
                    snprintf(id[q], sizeof id[q], "S.%s.%gHz.noise-%g.%s", m->name, rates_hz[ri],
                             100.0 * noise_levels[li], sym[q]);
                    snprintf(what[q], sizeof what[q], "%s, %g Hz, force noise SD %g %% of peak", name[q], rates_hz[ri],
                             100.0 * noise_levels[li]);
                }
                struct validate_case_def defs[4] = {
                    {id[0], "iso527", what[0], "MPa", "", 0, 0, NULL, eval_synthetic, &inputs[k], O_MODULUS},
                    {id[3], "iso527", what[3], "MPa", "", 0, 0, NULL, eval_synthetic, &inputs[k], O_MODULUS_REGRESSION},
                    {id[1], "iso527", what[1], "MPa", src, 0, 0, NULL, eval_synthetic, &inputs[k], O_STRENGTH},
                    {id[2], "iso527", what[2], "MPa", src, 0, 0, NULL, eval_synthetic, &inputs[k], O_YIELD},
                };
                char esrc[160];
                snprintf(esrc, sizeof esrc, "load-frame model '%s': E = %g MPa", m->name, c.modulus);
                defs[0].source = defs[1].source = esrc;
                for (int q = 0; q < (yields ? 4 : 3); q++) {
                    int rc = validate_add(v, PD_VALIDATE_SYNTHETIC, &defs[q], true, err);
                    if (rc < 0)
                        return rc;
                }
            }
        }
    }
    return 0;
}
