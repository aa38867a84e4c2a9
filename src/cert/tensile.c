/* tensile.c — ISO 527-1/-2 evaluation of one specimen: modulus, strength/yield and break from force and extension. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert_internal.h"

/* Strains come from extension / L0, so a sample meant to sit exactly on a range limit may land one
 * rounding step outside it; this slack (far below any extensometer's resolution) keeps it inside. */
#define STRAIN_SLACK 1e-12

void pd_tensile_params_default(struct pd_tensile_params *p)
{
    if (!p)
        return;
    p->e1 = 0.0005;
    p->e2 = 0.0025;
    p->modulus_method = PD_MODULUS_CHORD;
    p->chord_window = 0.00005;
    p->min_modulus_points = 20;
    p->break_fraction = 0.10;
    p->max_hysteresis = 0.005;
    p->strain_source = PD_STRAIN_EXTENSOMETER;
    p->toe_compensation = false;
    p->yield_smoothing = 0.0;
    p->grip_slip_window = 0.005;
    p->grip_slip_min_drop = 0.02;
}

static int check_params(const struct pd_tensile_params *p, struct pd_err *err)
{
    if (!(isfinite(p->e1) && isfinite(p->e2) && p->e1 >= 0.0 && p->e1 < p->e2))
        return pd_err_set(err, PD_EINVAL, NULL, "tensile: modulus strain range e1=%g, e2=%g is not 0 <= e1 < e2",
                          p->e1, p->e2);
    if (p->modulus_method != PD_MODULUS_CHORD && p->modulus_method != PD_MODULUS_REGRESSION)
        return pd_err_set(err, PD_EINVAL, NULL, "tensile: unknown modulus method %d", (int)p->modulus_method);
    if (!(isfinite(p->chord_window) && p->chord_window >= 0.0))
        return pd_err_set(err, PD_EINVAL, NULL, "tensile: chord window %g must be >= 0", p->chord_window);
    if (p->min_modulus_points < 2)
        return pd_err_set(err, PD_EINVAL, NULL, "tensile: min_modulus_points %zu must be >= 2",
                          p->min_modulus_points);
    if (!(p->break_fraction > 0.0 && p->break_fraction < 1.0))
        return pd_err_set(err, PD_EINVAL, NULL, "tensile: break fraction %g must lie in (0, 1)", p->break_fraction);
    if (!(p->max_hysteresis >= 0.0 && p->max_hysteresis < 1.0))
        return pd_err_set(err, PD_EINVAL, NULL, "tensile: maximum hysteresis %g must lie in [0, 1)",
                          p->max_hysteresis);
    if (p->strain_source != PD_STRAIN_EXTENSOMETER && p->strain_source != PD_STRAIN_CROSSHEAD)
        return pd_err_set(err, PD_EINVAL, NULL, "tensile: unknown strain source %d", (int)p->strain_source);
    if (!(isfinite(p->yield_smoothing) && p->yield_smoothing >= 0.0 && p->yield_smoothing < 0.5))
        return pd_err_set(err, PD_EINVAL, NULL, "tensile: yield smoothing %g must lie in [0, 0.5)", p->yield_smoothing);
    if (!(isfinite(p->grip_slip_window) && p->grip_slip_window >= 0.0 && p->grip_slip_window < 0.5))
        return pd_err_set(err, PD_EINVAL, NULL, "tensile: grip slip window %g must lie in [0, 0.5)",
                          p->grip_slip_window);
    if (!(p->grip_slip_min_drop > 0.0 && p->grip_slip_min_drop < 1.0))
        return pd_err_set(err, PD_EINVAL, NULL, "tensile: grip slip minimum drop %g must lie in (0, 1)",
                          p->grip_slip_min_drop);
    return 0;
}

/* Least-squares line y = a + b·x through the samples idx[lo..hi) selected by `keep`; two-pass sums
 * so that large offsets (strains near 0.0025 with steps of 1e-5) do not cancel. */
struct line_fit {
    size_t n;
    double x_mean, y_mean, slope;
};

static bool fit_line(const double *x, const double *y, size_t count, double lo, double hi,
                     struct line_fit *fit)
{
    size_t n = 0;
    double sx = 0.0, sy = 0.0;
    for (size_t i = 0; i < count; i++) {
        if (x[i] >= lo - STRAIN_SLACK && x[i] <= hi + STRAIN_SLACK) {
            sx += x[i];
            sy += y[i];
            n++;
        }
    }
    fit->n = n;
    if (n < 2)
        return false;
    double xm = sx / (double)n, ym = sy / (double)n;
    double sxx = 0.0, sxy = 0.0;
    for (size_t i = 0; i < count; i++) {
        if (x[i] >= lo - STRAIN_SLACK && x[i] <= hi + STRAIN_SLACK) {
            sxx += (x[i] - xm) * (x[i] - xm);
            sxy += (x[i] - xm) * (y[i] - ym);
        }
    }
    if (!(sxx > 0.0))
        return false;
    fit->x_mean = xm;
    fit->y_mean = ym;
    fit->slope = sxy / sxx;
    return true;
}

/* σ at exactly `target` by linear interpolation between the two samples around the first upward
 * crossing. The caller guarantees strain[0] <= target and that some sample reaches it. */
static double interpolate_at(const double *strain, const double *stress, size_t count, double target)
{
    for (size_t i = 0; i < count; i++) {
        if (strain[i] >= target) {
            if (i == 0 || strain[i] == target)
                return stress[i];
            /* strain[i-1] < target <= strain[i], so the span is positive */
            double f = (target - strain[i - 1]) / (strain[i] - strain[i - 1]);
            return stress[i - 1] + f * (stress[i] - stress[i - 1]);
        }
    }
    return stress[count - 1];
}

static double chord_stress_at(const double *strain, const double *stress, size_t count, double target,
                              double window)
{
    struct line_fit fit;
    if (window > 0.0 && fit_line(strain, stress, count, target - window, target + window, &fit))
        return fit.y_mean + fit.slope * (target - fit.x_mean);
    return interpolate_at(strain, stress, count, target);
}

/* Whether the fall that reaches sample i is a grip slip (see pd_tensile_params): it starts at k,
 * the first sample of the strictly falling run ending at i, must reach its lowest point within a
 * tenth of `window` (sudden: a material's own maximum falls off gradually) and be back within
 * `window` strain of k. Returns the index where the stress is back (0: not a slip) and records the
 * slip in r. */
static size_t slip_recovered_at(const double *strain, const double *y, size_t count, size_t i, double window,
                                const struct pd_tensile_params *p, struct pd_tensile_result *r)
{
    if (!(window > 0.0) || i == 0)
        return 0;
    size_t k = i;
    while (k > 0 && y[k - 1] > y[k])
        k--;
    double s0 = y[k], low = y[i];
    size_t at_low = i;
    if (!(s0 > 0.0))
        return 0;
    for (size_t j = i + 1; j < count && strain[j] <= strain[k] + window; j++) {
        if (y[j] < low) {
            low = y[j];
            at_low = j;
        }
        if (y[j] >= s0 * (1.0 - p->max_hysteresis) && strain[j] > strain[k]) {
            if (low > s0 * (1.0 - p->grip_slip_min_drop) || strain[at_low] - strain[k] > window / 10.0)
                return 0; /* back, but the fall was too shallow or too slow: left to the caller */
            for (size_t m = 0; m < r->grip_slips && m < PD_TENSILE_MAX_SLIPS; m++)
                if (r->grip_slip_strain[m] == strain[k])
                    return j; /* seen by the other search already */
            if (r->grip_slips < PD_TENSILE_MAX_SLIPS) {
                r->grip_slip_strain[r->grip_slips] = strain[k];
                r->grip_slip_drop[r->grip_slips] = (s0 - low) / s0;
            }
            r->grip_slips++;
            return j;
        }
    }
    return 0;
}

/* Index of the first sample at or below break_fraction·σmax, looked for only after the strain has
 * passed e2: before that a "drop" is noise around zero load, and a specimen that really breaks
 * there has no modulus anyway. Returns count when nothing breaks. */
static size_t find_break_drop(const double *strain, const double *stress, size_t count,
                              const struct pd_tensile_params *p, struct pd_tensile_result *r)
{
    double smax = stress[0];
    bool armed = false;
    for (size_t i = 1; i < count; i++) {
        armed = armed || strain[i - 1] > p->e2;
        if (armed && smax > 0.0 && stress[i] <= p->break_fraction * smax) {
            size_t back = slip_recovered_at(strain, stress, count, i, p->grip_slip_window, p, r);
            if (back == 0)
                return i;
            i = back; /* the specimen slid in the grips and took the load again: no break */
        }
        if (stress[i] > smax)
            smax = stress[i];
    }
    return count;
}

/* Toe compensation (ISO 527-1 practice): the steepest secant over e2 − e1 within the initial part
 * of the curve is taken as the linear tangent; where it crosses σ = 0 becomes the strain origin.
 * Returns that origin ε0 (0 when the curve has no concave-up toe to correct). */
static double toe_origin(const double *strain, const double *stress, size_t count, const struct pd_tensile_params *p)
{
    double span = p->e2 - p->e1, limit = 4.0 * p->e2, best = 0.0, origin = 0.0;
    size_t j = 0;
    for (size_t i = 0; i < count && strain[i] + span <= limit; i++) {
        double target = strain[i] + span;
        if (j < i)
            j = i;
        while (j < count && strain[j] < target)
            j++;
        if (j >= count)
            break;
        double s2 = stress[j];
        if (j > 0 && strain[j] > target && strain[j] > strain[j - 1])
            s2 = stress[j - 1] + (target - strain[j - 1]) / (strain[j] - strain[j - 1]) * (stress[j] - stress[j - 1]);
        double slope = (s2 - stress[i]) / span;
        if (slope > best * (1.0 + 1e-9)) {
            best = slope;
            origin = strain[i] - stress[i] / slope;
        }
    }
    return origin > 0.0 ? origin : 0.0;
}

/* First local maximum of y (a running maximum that counts once y falls more than the hysteresis
 * band below it, armed beyond e2). Returns its index; *dropped tells whether the drop came. */
static size_t first_local_max(const double *strain, const double *y, size_t count, const struct pd_tensile_params *p,
                              bool *dropped, struct pd_tensile_result *r)
{
    size_t imax = 0;
    *dropped = false;
    for (size_t i = 1; i < count; i++) {
        if (y[i] > y[imax]) {
            imax = i;
        } else if (strain[imax] > p->e2 && y[i] < y[imax] * (1.0 - p->max_hysteresis)) {
            size_t back = slip_recovered_at(strain, y, count, i, p->grip_slip_window + p->yield_smoothing, p, r);
            if (back == 0) {
                *dropped = true;
                break;
            }
            i = back; /* a saw tooth from the grips, not a maximum of the material */
            if (y[i] > y[imax])
                imax = i;
        }
    }
    return imax;
}

/* Moving average of stress over ±width/2 strain (contiguous samples around each one). */
static void smooth(const double *strain, const double *stress, size_t count, double width, double *out)
{
    size_t lo = 0, hi = 0;
    double sum = stress[0];
    for (size_t i = 0; i < count; i++) {
        while (hi + 1 < count && strain[hi + 1] <= strain[i] + width / 2.0) {
            hi++;
            sum += stress[hi];
        }
        while (lo < i && strain[lo] < strain[i] - width / 2.0) {
            sum -= stress[lo];
            lo++;
        }
        if (hi < i) { /* strain fell back: the window is the sample itself */
            while (hi < i) {
                hi++;
                sum += stress[hi];
            }
        }
        out[i] = sum / (double)(hi - lo + 1);
    }
}

static int evaluate(double *strain, const double *stress, size_t n, const struct pd_tensile_params *p,
                    const double *nominal, struct pd_tensile_result *r, struct pd_err *err)
{
    bool with_modulus = p->strain_source == PD_STRAIN_EXTENSOMETER;
    if (with_modulus && p->toe_compensation) {
        double origin = toe_origin(strain, stress, n, p);
        if (origin > 0.0) {
            for (size_t i = 0; i < n; i++)
                strain[i] -= origin;
            r->toe_compensated = true;
            r->toe_offset = origin;
        }
    }
    if (with_modulus && strain[0] > p->e1 + STRAIN_SLACK)
        return pd_err_set(err, PD_EDATA, NULL,
                          "modulus range not reached: data start at %.4g %% strain, beyond e1 = %.4g %%",
                          strain[0] * 100.0, p->e1 * 100.0);

    size_t drop = find_break_drop(strain, stress, n, p, r);
    r->has_break = drop < n;
    if (r->has_break && drop == 0)
        return pd_err_set(err, PD_EDATA, NULL, "break at the first sample: nothing to evaluate");
    size_t last = r->has_break ? drop - 1 : n - 1; /* the evaluated end point */
    size_t count = last + 1;

    double reached = strain[0];
    for (size_t i = 1; i < count; i++)
        if (strain[i] > reached)
            reached = strain[i];
    if (with_modulus && reached < p->e2 - STRAIN_SLACK)
        return pd_err_set(err, PD_EDATA, NULL,
                          "modulus range not reached: strain reaches only %.4g %% before %s, needs e2 = %.4g %%",
                          reached * 100.0, r->has_break ? "break" : "the end of data", p->e2 * 100.0);

    r->has_modulus = false;
    r->modulus_MPa = NAN;
    if (with_modulus) {
        /* The modulus uses the rising part only: samples up to the first one beyond the range (plus
         * the chord window, whose line needs the samples just past e2). That first sample is kept
         * so that interpolation at e2 has its upper neighbour even when the data jump over it. */
        double window = p->modulus_method == PD_MODULUS_CHORD ? p->chord_window : 0.0;
        size_t seg = 0;
        while (seg < count && strain[seg] <= p->e2 + window + STRAIN_SLACK)
            seg++;
        if (seg < count)
            seg++;
        size_t in_range = 0;
        for (size_t i = 0; i < seg; i++)
            if (strain[i] >= p->e1 - STRAIN_SLACK && strain[i] <= p->e2 + STRAIN_SLACK)
                in_range++;
        if (in_range < p->min_modulus_points)
            return pd_err_set(err, PD_EDATA, NULL,
                              "modulus range too sparse: %zu samples between %.4g %% and %.4g %% strain, need >= %zu",
                              in_range, p->e1 * 100.0, p->e2 * 100.0, p->min_modulus_points);

        double modulus;
        if (p->modulus_method == PD_MODULUS_REGRESSION) {
            struct line_fit fit;
            if (!fit_line(strain, stress, seg, p->e1, p->e2, &fit))
                return pd_err_set(err, PD_EDATA, NULL, "modulus: strain does not vary within %.4g–%.4g %%",
                                  p->e1 * 100.0, p->e2 * 100.0);
            modulus = fit.slope;
        } else {
            double s1 = chord_stress_at(strain, stress, seg, p->e1, window);
            double s2 = chord_stress_at(strain, stress, seg, p->e2, window);
            modulus = (s2 - s1) / (p->e2 - p->e1);
        }
        if (!(isfinite(modulus) && modulus > 0.0))
            return pd_err_set(err, PD_EDATA, NULL,
                              "modulus %.6g MPa is not positive: no rising elastic range between %.4g and %.4g %% strain",
                              modulus, p->e1 * 100.0, p->e2 * 100.0);
        r->has_modulus = true;
        r->modulus_MPa = modulus;
        r->modulus_points = in_range;
    }

    /* First local maximum (ISO 527-1:2012). A maximum inside the modulus range is not accepted:
     * there it is noise on a small load, and a real one would have made the modulus meaningless.
     * With smoothing, the search runs on the moving average and the raw maximum nearby is kept. */
    bool dropped;
    size_t imax;
    double peak;
    if (p->yield_smoothing > 0.0) {
        double *sm = malloc(count * sizeof *sm);
        if (!sm)
            return pd_err_set(err, PD_ENOMEM, NULL, "tensile: out of memory for %zu samples", count);
        smooth(strain, stress, count, p->yield_smoothing, sm);
        imax = first_local_max(strain, sm, count, p, &dropped, r);
        peak = sm[imax];
        free(sm);
        double raw = stress[imax];
        for (size_t i = imax; i > 0 && strain[i - 1] >= strain[imax] - p->yield_smoothing / 2.0; i--)
            raw = stress[i - 1] > raw ? stress[i - 1] : raw;
        for (size_t i = imax + 1; i < count && strain[i] <= strain[imax] + p->yield_smoothing / 2.0; i++)
            raw = stress[i] > raw ? stress[i] : raw;
        r->yield_raw_max_MPa = dropped ? raw : NAN;
    } else {
        imax = first_local_max(strain, stress, count, p, &dropped, r);
        peak = stress[imax];
        r->yield_raw_max_MPa = dropped ? peak : NAN;
    }
    r->strength_MPa = peak;
    r->strain_at_strength = strain[imax];
    r->has_yield = dropped;
    r->yield_stress_MPa = dropped ? peak : NAN;
    r->yield_strain = dropped ? strain[imax] : NAN;

    r->break_index = last;
    r->stress_at_break_MPa = r->has_break ? stress[last] : NAN;
    r->strain_at_break = r->has_break ? strain[last] : NAN;
    r->nominal_strain_at_break = r->has_break && nominal ? nominal[last] : NAN;
    return 0;
}

/* Checks what both entry points need; *p is replaced by the defaults when NULL. */
static int check_specimen(const struct pd_tensile_specimen *sp, const struct pd_tensile_params **p,
                          struct pd_tensile_params *defaults, bool *has_nominal, struct pd_err *err)
{
    if (!*p) {
        pd_tensile_params_default(defaults);
        *p = defaults;
    }
    int rc = check_params(*p, err);
    if (rc < 0)
        return rc;
    bool crosshead = (*p)->strain_source == PD_STRAIN_CROSSHEAD;
    if (!(isfinite(sp->width_mm) && sp->width_mm > 0.0 && isfinite(sp->thickness_mm) && sp->thickness_mm > 0.0 &&
          (crosshead || (isfinite(sp->gauge_length_mm) && sp->gauge_length_mm > 0.0))))
        return pd_err_set(err, PD_EDATA, NULL,
                          "specimen dimensions must be positive: width %g mm, thickness %g mm, gauge length %g mm",
                          sp->width_mm, sp->thickness_mm, sp->gauge_length_mm);
    if (!crosshead && sp->n > 0 && !sp->extension_mm)
        return pd_err_set(err, PD_EDATA, NULL, "no extensometer data (use strain from the crosshead, Method A)");
    *has_nominal = sp->crosshead_mm && isfinite(sp->grip_distance_mm) && sp->grip_distance_mm > 0.0;
    if (crosshead && !*has_nominal)
        return pd_err_set(err, PD_EDATA, NULL, "crosshead strain needs crosshead data and a positive grip distance L");
    if (sp->n < 3)
        return pd_err_set(err, PD_EDATA, NULL, "only %zu samples: at least 3 are needed", sp->n);
    const double *ext = crosshead ? sp->crosshead_mm : sp->extension_mm;
    /* First a branch-free pass (x·0 is NaN exactly when x is not finite, and a NaN stays in the
     * sum), then, only when it finds one, the search for the first sample to name. */
    const double *xh = *has_nominal ? sp->crosshead_mm : ext;
    /* Four sums, so the additions do not wait for each other (one sum is a chain of 4-cycle adds). */
    double sum[4] = {0.0, 0.0, 0.0, 0.0};
    size_t i4 = sp->n & ~(size_t)3;
    for (size_t i = 0; i < i4; i += 4)
        for (size_t k = 0; k < 4; k++)
            sum[k] += sp->force_N[i + k] * 0.0 + ext[i + k] * 0.0 + xh[i + k] * 0.0;
    for (size_t i = i4; i < sp->n; i++)
        sum[0] += sp->force_N[i] * 0.0 + ext[i] * 0.0 + xh[i] * 0.0;
    if (sum[0] + sum[1] + sum[2] + sum[3] == 0.0)
        return 0;
    for (size_t i = 0; i < sp->n; i++) {
        if (!isfinite(sp->force_N[i]) || !isfinite(ext[i]) || (*has_nominal && !isfinite(sp->crosshead_mm[i])))
            return pd_err_set(err, PD_EDATA, NULL, "sample %zu is not a finite number (force %g N, %s %g mm)", i,
                              sp->force_N[i], crosshead ? "crosshead" : "extension", ext[i]);
    }
    return 0;
}

/* stress = F/A, nominal = ΔL/L, strain from the extensometer or the crosshead; the outputs may be
 * the inputs themselves (in place). */
static void convert(const struct pd_tensile_specimen *sp, bool crosshead, bool has_nominal, double *stress,
                    double *strain, double *nominal)
{
    /* One array per loop with the divisor hoisted: the loops have no branches and no stores that
     * could alias the next load, so they pipeline (still divisions, as the standard's formulas and
     * the numpy comparison have them, not multiplications by a reciprocal). */
    const size_t n = sp->n;
    const double area = sp->width_mm * sp->thickness_mm;
    const double *force = sp->force_N;
    for (size_t i = 0; i < n; i++)
        stress[i] = force[i] / area;
    if (has_nominal) {
        const double *xh = sp->crosshead_mm, grip = sp->grip_distance_mm;
        for (size_t i = 0; i < n; i++)
            nominal[i] = xh[i] / grip;
    }
    if (crosshead) {
        if (strain != nominal)
            memcpy(strain, nominal, n * sizeof *strain);
    } else {
        const double *ext = sp->extension_mm, l0 = sp->gauge_length_mm;
        for (size_t i = 0; i < n; i++)
            strain[i] = ext[i] / l0;
    }
}

int pd_tensile_evaluate(const struct pd_tensile_specimen *sp, const struct pd_tensile_params *p,
                        struct pd_tensile_result *out, struct pd_err *err)
{
    if (!sp || !out || (sp->n > 0 && !sp->force_N))
        return pd_err_set(err, PD_EINVAL, NULL, "tensile: missing specimen data or result");
    struct pd_tensile_params defaults;
    bool has_nominal = false;
    int rc = check_specimen(sp, &p, &defaults, &has_nominal, err);
    if (rc < 0)
        return rc;
    bool crosshead = p->strain_source == PD_STRAIN_CROSSHEAD;
    double *strain = malloc(sp->n * sizeof *strain);
    double *stress = malloc(sp->n * sizeof *stress);
    double *nominal = has_nominal ? malloc(sp->n * sizeof *nominal) : NULL;
    if (!strain || !stress || (has_nominal && !nominal)) {
        free(strain);
        free(stress);
        free(nominal);
        return pd_err_set(err, PD_ENOMEM, NULL, "tensile: out of memory for %zu samples", sp->n);
    }
    convert(sp, crosshead, has_nominal, stress, strain, nominal);
    struct pd_tensile_result r = {0};
    rc = evaluate(strain, stress, sp->n, p, nominal, &r, err);
    free(strain);
    free(stress);
    free(nominal);
    if (rc == 0)
        *out = r;
    return rc;
}

int cert_tensile_evaluate_in_place(double *force, double *extension, double *crosshead_mm,
                                   const struct pd_tensile_specimen *dims, const struct pd_tensile_params *p,
                                   struct pd_tensile_result *out, struct pd_err *err)
{
    struct pd_tensile_specimen sp = *dims;
    sp.force_N = force;
    sp.extension_mm = extension;
    sp.crosshead_mm = crosshead_mm;
    if (!out || (sp.n > 0 && !force))
        return pd_err_set(err, PD_EINVAL, NULL, "tensile: missing specimen data or result");
    struct pd_tensile_params defaults;
    bool has_nominal = false;
    int rc = check_specimen(&sp, &p, &defaults, &has_nominal, err);
    if (rc < 0)
        return rc;
    bool xh = p->strain_source == PD_STRAIN_CROSSHEAD;
    /* Crosshead strain is the nominal strain itself (never toe-shifted: that needs the modulus). */
    convert(&sp, xh, has_nominal, force, xh ? crosshead_mm : extension, has_nominal ? crosshead_mm : NULL);
    struct pd_tensile_result r = {0};
    rc = evaluate(xh ? crosshead_mm : extension, force, sp.n, p, has_nominal ? crosshead_mm : NULL, &r, err);
    if (rc == 0)
        *out = r;
    return rc;
}
