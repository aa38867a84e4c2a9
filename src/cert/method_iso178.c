/* method_iso178.c — ISO 178 flexural properties (3-point bending): evaluation of one specimen and its certification
 * adapter. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cert/cert_internal.h"
#include "store/store.h"

void pd_flexural_params_default(struct pd_flexural_params *p)
{
    if (!p)
        return;
    p->e1 = 0.0005;
    p->e2 = 0.0025;
    p->conventional_factor = 1.5;
    p->break_fraction = 0.10;
    p->max_hysteresis = 0.005;
    p->min_modulus_points = 5;
    p->compliance_mm_per_N = 0.0;
    p->displacement_abs_mm = 0.003;
}

#define STRAIN_SLACK 1e-12 /* a strain this close to a range end is at it (decimal inputs) */
#define MAX_SEARCHES 32    /* local maxima looked at for σfM; a real curve has one or two */

/* σ at exactly `target` strain, interpolated between the samples of the first upward crossing;
 * *w (may be NULL) = f² + (1 − f)², the factor by which a sample's noise variance enters it. */
static bool at_strain(const double *e, const double *s, size_t n, double target, double *out, double *w)
{
    for (size_t i = 0; i < n; i++) {
        if (e[i] >= target - (i == 0 ? STRAIN_SLACK : 0.0)) {
            double f = 1.0;
            if (i == 0) {
                if (e[i] > target + STRAIN_SLACK)
                    return false;
                *out = s[i];
            } else {
                f = (target - e[i - 1]) / (e[i] - e[i - 1]);
                *out = s[i - 1] + f * (s[i] - s[i - 1]);
            }
            if (w)
                *w = f * f + (1.0 - f) * (1.0 - f);
            return true;
        }
    }
    return false;
}

/* Ef (ISO 178 9.3, chord at exactly εf1/εf2) on the curve up to the break [0, count), or the
 * reason there is none in r->modulus_na_reason. Fails only for memory and a range that does not
 * rise. */
static int modulus_of(const double *e, const double *s, size_t count, bool broke, double noise,
                      const struct pd_flexural_params *p, double L, double h, struct pd_flexural_result *r,
                      struct pd_err *err)
{
    size_t seg = 0, in_range = 0;
    double s1, s2, w1, w2;
    if (!cert_modulus_range(e, count, p->e1, p->e2, 0.0, p->min_modulus_points, broke, "flexural strain", "εf1", "εf2",
                            &seg, &in_range, r->modulus_na_reason, sizeof r->modulus_na_reason))
        return 0;
    if (!at_strain(e, s, seg, p->e1, &s1, &w1) || !at_strain(e, s, seg, p->e2, &s2, &w2)) {
        snprintf(r->modulus_na_reason, sizeof r->modulus_na_reason,
                 "modulus range too sparse: %zu samples between %.4g %% and %.4g %% flexural strain, need >= %zu",
                 in_range, p->e1 * 100.0, p->e2 * 100.0, p->min_modulus_points);
        return 0;
    }
    double E = (s2 - s1) / (p->e2 - p->e1);
    if (!(isfinite(E) && E > 0.0))
        return pd_err_set(err, PD_EDATA, NULL,
                          "flexural modulus %g MPa is not positive: no rising elastic range between %.4g and %.4g %%",
                          E, p->e1 * 100.0, p->e2 * 100.0);
    double strain_noise = 0.0; /* the strain's noise over the samples the chord reads */
    int rc = cert_noise_sd(e, seg, &strain_noise);
    if (rc < 0)
        return pd_err_set(err, rc, NULL, "flexural: out of memory");
    r->has_modulus = true;
    r->modulus_MPa = E;
    r->modulus_na_reason[0] = '\0';
    /* u(Ef): the interpolated stresses' noise (stress and, through the slope, strain), and the
     * deflectometer's absolute error over the deflection range (εf2 − εf1)·L²/(6h). */
    double var = noise * noise + E * E * strain_noise * strain_noise;
    r->modulus_u_noise_MPa = sqrt(var * (w1 + w2)) / (p->e2 - p->e1);
    r->modulus_u_deflectometer_MPa = E * p->displacement_abs_mm / sqrt(3.0) / ((p->e2 - p->e1) * L * L / (6.0 * h));
    return 0;
}

/* σfM: the maximum flexural stress sustained before sC (ISO 178 3.4), not the first local maximum
 * ISO 527-1:2012 asks for: the noise-following search finds the first maximum; while the stress
 * later climbs above it by the search's band, the search starts again where the curve has risen
 * back above it, and the highest maximum before sC is σfM. A maximum counts when a fall confirms it,
 * or, unconfirmed, when the record ends in the break (brittle). */
static int flexural_maximum(const double *e, const double *s, size_t count, bool broke, double e_conv,
                            const struct pd_flexural_params *p, double noise, struct pd_flexural_result *r)
{
    struct cert_max_params mp = {.arm_strain = p->e2, .hysteresis = p->max_hysteresis, .noise = noise};
    struct cert_max_result mx, best = {0}, first = {0};
    bool found = false;
    size_t start = 0, best_at = 0, first_at = 0;
    r->noise_MPa = noise;
    for (int k = 0; k < MAX_SEARCHES && count - start >= 3; k++) {
        int rc = cert_find_maximum(e + start, s + start, count - start, &mp, &mx, NULL);
        if (rc < 0)
            return rc;
        size_t at = start + mx.index;
        bool before_c = e[at] <= e_conv + STRAIN_SLACK;
        if (before_c && (mx.confirmed || broke)) {
            if (!found) {
                first = mx;
                first_at = at;
            }
            r->maxima++;
            if (!found || mx.value > best.value) {
                best = mx;
                best_at = at;
            }
            found = true;
        } else if (found && mx.value > best.value) {
            r->higher_after_max = true; /* above σfM, but at or past sC, or not a maximum */
            r->highest_after_MPa = mx.value;
        }
        if (!(mx.confirmed && mx.higher_later && before_c))
            break;
        /* on again where the raw curve stands a band above this maximum, past the samples its
         * value was fitted from (an averaged curve falls before a sudden drop that ends it) */
        size_t next = start + mx.confirm_index;
        if (next < at + mx.half_width + 1)
            next = at + mx.half_width + 1;
        while (next < count && s[next] <= mx.value + mx.band)
            next++;
        if (next >= count)
            break;
        start = next;
    }
    if (!found)
        return 0;
    r->has_maximum = true;
    r->max_stress_MPa = best.value;
    r->strain_at_max = best.strain;
    r->max_half_width = best.half_width;
    if (best_at != first_at) {
        r->first_max_MPa = first.value;
        r->first_max_strain = first.strain;
    }
    const struct cert_max_result *drop = first.sudden ? &first : &best; /* a slip on the supports first */
    r->load_drop = drop->sudden;
    r->load_drop_strain = drop->sudden ? drop->sudden_strain : NAN;
    r->load_drop_fraction = drop->sudden ? drop->sudden_drop : NAN;
    return 0;
}

int pd_flexural_evaluate(const double *force_N, const double *deflection_mm, size_t n, double width_mm,
                         double thickness_mm, double span_mm, const struct pd_flexural_params *p,
                         struct pd_flexural_result *out, struct pd_err *err)
{
    struct pd_flexural_params defaults;
    if (!p) {
        pd_flexural_params_default(&defaults);
        p = &defaults;
    }
    if (!out || (n > 0 && (!force_N || !deflection_mm)))
        return pd_err_set(err, PD_EINVAL, NULL, "flexural: missing data or result");
    if (!(width_mm > 0.0 && thickness_mm > 0.0 && span_mm > 0.0 && isfinite(width_mm) && isfinite(thickness_mm) &&
          isfinite(span_mm)))
        return pd_err_set(err, PD_EDATA, NULL, "flexural: b, h and span must be positive (%g, %g, %g mm)", width_mm,
                          thickness_mm, span_mm);
    if (n < 3)
        return pd_err_set(err, PD_EDATA, NULL, "only %zu samples: at least 3 are needed", n);
    if (!(isfinite(p->compliance_mm_per_N) && p->compliance_mm_per_N >= 0.0))
        return pd_err_set(err, PD_EINVAL, NULL, "flexural: machine compliance %g mm/N must be >= 0",
                          p->compliance_mm_per_N);
    if (!(isfinite(p->displacement_abs_mm) && p->displacement_abs_mm >= 0.0))
        return pd_err_set(err, PD_EINVAL, NULL, "flexural: deflectometer absolute error %g mm must be >= 0",
                          p->displacement_abs_mm);
    if (!(p->e1 >= 0.0 && p->e1 < p->e2 && isfinite(p->e2)))
        return pd_err_set(err, PD_EINVAL, NULL, "flexural: modulus strain range e1=%g, e2=%g is not 0 <= e1 < e2",
                          p->e1, p->e2);
    if (!(isfinite(p->conventional_factor) && p->conventional_factor > 0.0))
        return pd_err_set(err, PD_EINVAL, NULL, "flexural: conventional deflection factor %g must be > 0",
                          p->conventional_factor);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(force_N[i]) || !isfinite(deflection_mm[i]))
            return pd_err_set(err, PD_EDATA, NULL, "sample %zu is not a finite number", i);
    double *e = malloc(n * sizeof *e), *s = malloc(n * sizeof *s);
    if (!e || !s) {
        free(e);
        free(s);
        return pd_err_set(err, PD_ENOMEM, NULL, "flexural: out of memory");
    }
    const double L = span_mm, h = thickness_mm, b = width_mm;
    for (size_t i = 0; i < n; i++) {
        s[i] = 3.0 * force_N[i] * L / (2.0 * b * h * h);
        e[i] = 6.0 * (deflection_mm[i] - p->compliance_mm_per_N * force_N[i]) * h / (L * L);
    }
    struct pd_flexural_result r = {.modulus_MPa = NAN,
                                   .max_stress_MPa = NAN,
                                   .strain_at_max = NAN,
                                   .first_max_MPa = NAN,
                                   .first_max_strain = NAN,
                                   .highest_after_MPa = NAN,
                                   .stress_at_break_MPa = NAN,
                                   .strain_at_break = NAN,
                                   .conventional_stress_MPa = NAN,
                                   .load_drop_strain = NAN,
                                   .load_drop_fraction = NAN,
                                   .modulus_u_noise_MPa = NAN,
                                   .modulus_u_deflectometer_MPa = NAN};
    /* Break: the first sample at or below break_fraction of the running maximum once past εf2; the
     * evaluated break point is the sample before it, and the curve ends there. */
    size_t brk = n;
    double smax = s[0];
    for (size_t i = 1; i < n; i++) {
        if (e[i - 1] > p->e2 && smax > 0.0 && s[i] <= p->break_fraction * smax) {
            brk = i;
            break;
        }
        smax = s[i] > smax ? s[i] : smax;
    }
    bool broke = brk < n;
    size_t count = brk; /* samples up to and with the break point */
    /* sC = factor·h ↔ εfC = 6·factor·h²/L² (3.5 % for h = 4, L = 64). */
    const double e_conv = 6.0 * p->conventional_factor * h * h / (L * L);
    double noise = 0.0;
    int rc = cert_noise_sd(s, count, &noise);
    if (rc < 0)
        rc = pd_err_set(err, rc, NULL, "flexural: out of memory");
    if (rc == 0)
        rc = modulus_of(e, s, count, broke, noise, p, L, h, &r, err);
    if (rc == 0 && (rc = flexural_maximum(e, s, count, broke, e_conv, p, noise, &r)) < 0)
        rc = pd_err_set(err, rc, NULL, "flexural: out of memory");
    if (rc == 0 && !r.has_maximum) {
        /* No maximum or break before sC: σfC, the stress at exactly sC, when a sample (before the
         * break) reached it — a test stopped at sC has its last sample there. */
        r.reached_conventional = at_strain(e, s, count, e_conv, &r.conventional_stress_MPa, NULL);
        if (!r.reached_conventional)
            r.conventional_stress_MPa = NAN;
    }
    r.conventional_strain = e_conv;
    r.end_strain = e[count - 1];
    if (rc == 0 && !r.has_modulus && !r.has_maximum && !r.reached_conventional)
        rc = pd_err_set(err, PD_EDATA, NULL,
                        "nothing to evaluate: %s; no maximum before the data end at εf = %.4g %%, short of the "
                        "conventional deflection (εf = %.4g %%)",
                        r.modulus_na_reason, r.end_strain * 100.0, e_conv * 100.0);
    r.broke_past_conventional = broke && !r.has_maximum;
    if (rc == 0 && broke && r.has_maximum) {
        r.has_break = true;
        r.stress_at_break_MPa = s[brk - 1];
        r.strain_at_break = e[brk - 1];
    }
    free(e);
    free(s);
    if (rc == 0)
        *out = r;
    return rc;
}

enum { P_MODULUS, P_STRENGTH, P_STRAIN_AT_STRENGTH, P_STRESS_AT_BREAK, P_STRAIN_AT_BREAK, P_CONVENTIONAL, P_COUNT };
#define STRESS_SENS                                                                                                    \
    {                                                                                                                  \
        [PD_U_FORCE] = 1, [PD_U_LENGTH] = 1, [PD_U_WIDTH] = 1, [PD_U_THICKNESS] = 2                                    \
    }
#define STRAIN_SENS                                                                                                    \
    {                                                                                                                  \
        [PD_U_DISPLACEMENT] = 1, [PD_U_THICKNESS] = 1, [PD_U_LENGTH] = 2                                               \
    }
static const struct pd_cert_property props[P_COUNT] = {
    [P_MODULUS] =
        {"flexural_modulus",
         "MPa",
         1.0,
         "Ef",
         {[PD_U_FORCE] = 1, [PD_U_DISPLACEMENT] = 1, [PD_U_LENGTH] = 3, [PD_U_WIDTH] = 1, [PD_U_THICKNESS] = 3}},
    [P_STRENGTH] = {"flexural_strength", "MPa", 1.0, "σfM", STRESS_SENS},
    [P_STRAIN_AT_STRENGTH] = {"flexural_strain_at_strength", "%", 100.0, "εfM", STRAIN_SENS},
    [P_STRESS_AT_BREAK] = {"flexural_stress_at_break", "MPa", 1.0, "σfB", STRESS_SENS},
    [P_STRAIN_AT_BREAK] = {"flexural_strain_at_break", "%", 100.0, "εfB", STRAIN_SENS},
    [P_CONVENTIONAL] = {"flexural_stress_at_conventional_deflection", "MPa", 1.0, "σfC", STRESS_SENS},
};
static const struct cert_param_spec params[] = {
    {"e1", 0.0005, 0.0, 0.05, false, NULL, "modulus range start, flexural strain fraction"},
    {"e2", 0.0025, 0.0, 0.05, false, NULL, "modulus range end, flexural strain fraction"},
    {"conventional_factor", 1.5, 0.1, 10, false, NULL, "conventional deflection sC = factor·h"},
    {"break_fraction", 0.10, 0.001, 0.99, false, NULL, "break: σ <= fraction of the maximum"},
    {"max_hysteresis", 0.005, 0.0, 0.5, false, NULL, "drop that confirms a maximum, fraction"},
    {"min_modulus_points", 5, 2, 100000, false, NULL, "samples required in the modulus range"},
    {"compliance", 0.0, 0.0, 1.0, false, NULL, "machine compliance, mm/N, subtracted as C·F from the deflection"},
};
static const struct pd_method_channel channels[] = {{"force", "N"}, {"deflection", "mm"}};

static int read_raw(struct pd_run *run, size_t s, const struct pd_method_def *def, double **f, double **d, size_t *n,
                    double dims[3], char *reason, size_t rsize)
{
    static const char *const keys[] = {"width", "thickness", "span"};
    for (int i = 0; i < 3; i++)
        if (cert_attr_positive(run, s, keys[i], &dims[i], reason, rsize) < 0)
            return PD_EDATA;
    size_t nd = 0;
    int rc = cert_read_channel(run, s, def, "force", f, n, NULL, reason, rsize);
    if (rc == 0)
        rc = cert_read_channel(run, s, def, "deflection", d, &nd, NULL, reason, rsize);
    if (rc == 0 && nd != *n) {
        cert_say(reason, rsize, "%zu force samples but %zu deflection samples", *n, nd);
        rc = PD_EDATA;
    }
    return rc;
}

static int evaluate(struct pd_run *run, size_t s, const struct pd_method_def *def, struct cert_values *out,
                    bool *evaluated, char *reason, size_t rsize)
{
    double *f = NULL, *d = NULL, dims[3] = {0};
    size_t n = 0;
    int rc = read_raw(run, s, def, &f, &d, &n, dims, reason, rsize);
    bool ok = true;
    out->dimensions = json_object();
    if (dims[0] > 0)
        cert_jset(out->dimensions, "width_mm", cert_jreal(dims[0]), &ok);
    if (dims[1] > 0)
        cert_jset(out->dimensions, "thickness_mm", cert_jreal(dims[1]), &ok);
    if (dims[2] > 0)
        cert_jset(out->dimensions, "span_mm", cert_jreal(dims[2]), &ok);
    size_t unread = 0;
    if (rc == 0)
        rc = cert_drop_unread_rows(run, s, "force", (double *const[]){f, d}, 2, &n, &unread, NULL);
    struct pd_flexural_params p;
    pd_flexural_params_from_def(def, &p);
    struct pd_flexural_result r;
    struct pd_err e = {0};
    if (rc == 0) {
        rc = pd_flexural_evaluate(f, d, n, dims[0], dims[1], dims[2], &p, &r, &e);
        if (rc < 0 && rc != PD_ENOMEM)
            cert_say(reason, rsize, "%s", e.msg);
    }
    free(f);
    free(d);
    if (rc < 0)
        return rc == PD_ENOMEM ? rc : 0;
    const double internal[P_COUNT] = {r.modulus_MPa,         r.max_stress_MPa,  r.strain_at_max,
                                      r.stress_at_break_MPa, r.strain_at_break, r.conventional_stress_MPa};
    for (size_t i = 0; i < P_COUNT; i++) {
        out->has[i] = isfinite(internal[i]);
        out->value[i] = internal[i] * props[i].scale;
    }
    out->width_mm = dims[0];
    out->thickness_mm = dims[1];
    out->length_mm = dims[2];
    /* the curve's own noise and the deflectometer's absolute error (cert_values.u_extra) */
    if (r.has_modulus)
        out->u_extra[P_MODULUS] = hypot(r.modulus_u_noise_MPa, r.modulus_u_deflectometer_MPa);
    out->info = json_object();
    if (r.has_modulus) {
        cert_jset(out->info, "modulus_u_noise_MPa", cert_jreal(r.modulus_u_noise_MPa), &ok);
        cert_jset(out->info, "modulus_u_deflectometer_MPa", cert_jreal(r.modulus_u_deflectometer_MPa), &ok);
    } else {
        cert_jset(out->info, "modulus_na_reason", cert_jstr(r.modulus_na_reason), &ok);
    }
    cert_jset(out->info, "maximum_before_conventional_deflection", json_boolean(r.has_maximum), &ok);
    cert_jset(out->info, "conventional_deflection_reached", json_boolean(r.reached_conventional), &ok);
    cert_jset(out->info, "break_detected", json_boolean(r.has_break), &ok);
    cert_jset(out->info, "stress_noise_MPa", cert_jreal(r.noise_MPa), &ok);
    cert_jset(out->info, "maximum_fit_half_width", json_integer((json_int_t)r.max_half_width), &ok);
    /* Why a property is n/a (the certificate's not_applicable): the specimen's own numbers only for
     * the rare cases, so that the usual reason reads alike for every specimen and is listed once. */
    json_t *na = json_object();
    char why[200];
    if (!r.has_maximum) {
        if (r.reached_conventional) /* the same words for every such specimen: one line on the PDF */
            cert_say(why, sizeof why,
                     "no maximum before the conventional deflection sC = %.4g·h: σfC is reported instead",
                     p.conventional_factor);
        else
            cert_say(why, sizeof why,
                     "no maximum before the data end at εf = %.3f %%, short of the conventional "
                     "deflection (εf = %.3f %%)",
                     r.end_strain * 100.0, r.conventional_strain * 100.0);
        cert_jset(na, "flexural_strength", cert_jstr(why), &ok);
        cert_jset(na, "flexural_strain_at_strength", cert_jstr(why), &ok);
    }
    if (!r.has_break) {
        if (r.broke_past_conventional)
            cert_say(why, sizeof why,
                     "the break at εf = %.3f %% came past the conventional deflection (εf = %.3f "
                     "%%) without a maximum before it: evaluated up to sC (σfC)",
                     r.end_strain * 100.0, r.conventional_strain * 100.0);
        else
            cert_say(why, sizeof why, "no break detected before the end of the test");
        cert_jset(na, "flexural_stress_at_break", cert_jstr(why), &ok);
        cert_jset(na, "flexural_strain_at_break", cert_jstr(why), &ok);
    }
    if (!r.reached_conventional) {
        if (r.has_maximum)
            cert_say(why, sizeof why, "a maximum came before the conventional deflection: σfM is reported");
        else
            cert_say(why, sizeof why,
                     "the conventional deflection (εf = %.3f %%) was not reached: the data end "
                     "at εf = %.3f %%",
                     r.conventional_strain * 100.0, r.end_strain * 100.0);
        cert_jset(na, "flexural_stress_at_conventional_deflection", cert_jstr(why), &ok);
    }
    if (json_object_size(na) > 0)
        cert_jset(out->info, "na_reasons", na, &ok);
    else
        json_decref(na);
    /* Every heuristic that shaped a result is said in the specimen's warnings (printed). */
    json_t *warnings = json_array();
    char w[CERT_DEVIATION_LEN];
    cert_note_unread_rows(out->info, warnings, unread, &ok);
    if (!r.has_modulus) {
        cert_say(w, sizeof w, "modulus n/a: %s", r.modulus_na_reason);
        cert_jappend(warnings, cert_jstr(w), &ok);
    }
    if (r.load_drop) {
        cert_say(w, sizeof w,
                 "sudden load drop of %.1f %% in one sample at εf = %.3f %% confirmed a maximum "
                 "(a crack, or the specimen slipping on the supports)",
                 r.load_drop_fraction * 100.0, r.load_drop_strain * 100.0);
        cert_jappend(warnings, cert_jstr(w), &ok);
    }
    if (isfinite(r.first_max_MPa)) {
        cert_say(w, sizeof w,
                 "σfM is the highest of %zu maxima before the conventional deflection (ISO 178: the "
                 "maximum flexural stress); the first, at εf = %.3f %%, was %.4g MPa",
                 r.maxima, r.first_max_strain * 100.0, r.first_max_MPa);
        cert_jappend(warnings, cert_jstr(w), &ok);
    }
    if (r.has_break && r.strain_at_break > r.conventional_strain) {
        cert_say(w, sizeof w,
                 "the break at εf = %.3f %% came past the conventional deflection (εf = %.3f %%): σfB and εfB by "
                 "the small-deflection formulas beyond sC",
                 r.strain_at_break * 100.0, r.conventional_strain * 100.0);
        cert_jappend(warnings, cert_jstr(w), &ok);
    }
    if (r.higher_after_max) {
        cert_say(w, sizeof w,
                 "the stress later rises to %.4g MPa, above σfM %.4g MPa, without a maximum before the "
                 "conventional deflection",
                 r.highest_after_MPa, r.max_stress_MPa);
        cert_jappend(warnings, cert_jstr(w), &ok);
    }
    if (json_array_size(warnings) > 0)
        cert_jset(out->info, "warnings", warnings, &ok);
    else
        json_decref(warnings);
    *evaluated = true;
    return ok ? 0 : PD_ENOMEM;
}

/* Departures from ISO 178's procedure the def's parameters make, one sentence each. */
static size_t deviations(const struct pd_method_def *def, char (*out)[CERT_DEVIATION_LEN], size_t max)
{
    size_t n = 0;
    double e1 = pd_method_param(def, "e1"), e2 = pd_method_param(def, "e2");
    double conv = pd_method_param(def, "conventional_factor"), bf = pd_method_param(def, "break_fraction");
    double hy = pd_method_param(def, "max_hysteresis");
    if ((e1 != 0.0005 || e2 != 0.0025) && n < max)
        cert_say(out[n++], CERT_DEVIATION_LEN,
                 "flexural modulus over %.4g–%.4g %% flexural strain instead of ISO 178's "
                 "0.05–0.25 %%",
                 e1 * 100.0, e2 * 100.0);
    if (conv != 1.5 && n < max)
        cert_say(out[n++], CERT_DEVIATION_LEN, "conventional deflection sC = %.4g·h instead of ISO 178's 1.5·h", conv);
    if (bf != 0.10 && n < max)
        cert_say(out[n++], CERT_DEVIATION_LEN,
                 "break taken where the stress falls to %.4g %% of the maximum "
                 "(laboratory default 10 %%)",
                 bf * 100.0);
    if (hy != 0.005 && n < max)
        cert_say(out[n++], CERT_DEVIATION_LEN,
                 "a maximum is confirmed by a fall of %.4g %% of the highest stress "
                 "(laboratory default 0.5 %%, never less than 10 noise SDs)",
                 hy * 100.0);
    return n;
}

static int curve(struct pd_run *run, size_t s, const struct pd_method_def *def, struct cert_curve *c)
{
    double *f = NULL, *d = NULL, dims[3] = {0};
    size_t n = 0;
    char reason[256];
    int rc = read_raw(run, s, def, &f, &d, &n, dims, reason, sizeof reason);
    if (rc < 0) {
        free(f);
        free(d);
        return rc;
    }
    double C = pd_method_param(def, "compliance"); /* the plot shows the strain that was evaluated */
    for (size_t i = 0; i < n; i++) {
        d[i] = 100.0 * 6.0 * (d[i] - C * f[i]) * dims[1] / (dims[2] * dims[2]);
        f[i] = 3.0 * f[i] * dims[2] / (2.0 * dims[0] * dims[1] * dims[1]);
    }
    c->x = d;
    c->y = f;
    c->n = n;
    c->x_label = "flexural strain εf [%]";
    c->y_label = "flexural stress σf [MPa]";
    return 0;
}

const struct cert_method cert_method_iso178 = {
    .id = "iso178",
    .title = "Flexural properties (3-point bending)",
    .standard = "ISO 178:2019",
    .conditioning = "ISO 291: 23 °C / 50 % RH",
    .specimens = 5,
    .speed_mm_min = 2.0,
    .channels = channels,
    .n_channels = 2,
    .props = props,
    .n_props = P_COUNT,
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .budget = {.k = 2.0,
               .input = {[PD_U_FORCE] = 1.0,
                         [PD_U_DISPLACEMENT] = 1.0,
                         [PD_U_WIDTH] = 0.01,
                         [PD_U_THICKNESS] = 0.01,
                         [PD_U_LENGTH] = 0.1,
                         [PD_U_DISPLACEMENT_ABS] = 0.003},
               .repeatability = true},
    .evaluate = evaluate,
    .curve = curve,
    .deviations = deviations,
};

void pd_flexural_params_from_def(const struct pd_method_def *def, struct pd_flexural_params *p)
{
    pd_flexural_params_default(p);
    p->e1 = pd_method_param(def, "e1");
    p->e2 = pd_method_param(def, "e2");
    p->conventional_factor = pd_method_param(def, "conventional_factor");
    p->break_fraction = pd_method_param(def, "break_fraction");
    p->max_hysteresis = pd_method_param(def, "max_hysteresis");
    p->min_modulus_points = (size_t)pd_method_param(def, "min_modulus_points");
    p->compliance_mm_per_N = pd_method_param(def, "compliance");
    p->displacement_abs_mm = def->uncertainty.input[PD_U_DISPLACEMENT_ABS];
}
