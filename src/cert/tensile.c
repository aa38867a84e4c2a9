/* tensile.c — ISO 527-1/-2 evaluation of one specimen: modulus, strength/yield and break from force and extension. */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert_internal.h"
#include "cert/scan.h"

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
    p->chord_window = 0.0;
    p->min_modulus_points = 20;
    p->break_fraction = 0.10;
    p->max_hysteresis = 0.005;
    p->strain_source = PD_STRAIN_EXTENSOMETER;
    p->toe_compensation = false;
    p->yield_smoothing = 0.0;
    p->grip_slip_window = 0.005;
    p->grip_slip_min_drop = 0.02;
    p->displacement_abs_mm = 0.003;
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
    if (!(isfinite(p->displacement_abs_mm) && p->displacement_abs_mm >= 0.0))
        return pd_err_set(err, PD_EINVAL, NULL, "tensile: extensometer absolute error %g mm must be >= 0",
                          p->displacement_abs_mm);
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
 * crossing (ISO 527-1's chord). The caller guarantees strain[0] <= target and that some sample
 * reaches it. *w is the sum of the squared weights of the two samples (f² + (1 − f)²): the factor
 * by which a sample's noise variance enters the interpolated value. */
static double interpolate_at(const double *strain, const double *stress, size_t count, double target, double *w)
{
    *w = 1.0;
    for (size_t i = 0; i < count; i++) {
        if (strain[i] >= target) {
            if (i == 0 || strain[i] == target)
                return stress[i];
            /* strain[i-1] < target <= strain[i], so the span is positive */
            double f = (target - strain[i - 1]) / (strain[i] - strain[i - 1]);
            *w = f * f + (1.0 - f) * (1.0 - f);
            return stress[i - 1] + f * (stress[i] - stress[i - 1]);
        }
    }
    return stress[count - 1];
}

/* The chord's σ at `target`: interpolated, or with a window (a deviation) from the local
 * least-squares line, whose value at the target has the variance factor 1/n + (t − x̄)²/Sxx. */
static double chord_stress_at(const double *strain, const double *stress, size_t count, double target,
                              double window, double *w)
{
    struct line_fit fit;
    if (window > 0.0 && fit_line(strain, stress, count, target - window, target + window, &fit)) {
        double sxx = 0.0;
        for (size_t i = 0; i < count; i++)
            if (strain[i] >= target - window - STRAIN_SLACK && strain[i] <= target + window + STRAIN_SLACK)
                sxx += (strain[i] - fit.x_mean) * (strain[i] - fit.x_mean);
        *w = 1.0 / (double)fit.n + (target - fit.x_mean) * (target - fit.x_mean) / sxx;
        return fit.y_mean + fit.slope * (target - fit.x_mean);
    }
    return interpolate_at(strain, stress, count, target, w);
}

/* Whether the fall that reaches sample i is a grip slip (see pd_tensile_params): it starts at k,
 * the first sample of the strictly falling run ending at i, must reach its lowest point within a
 * tenth of `window` (sudden: a material's own maximum falls off gradually) and be back within
 * `window` strain of k. Returns the index where the stress is back (0: not a slip) and records the
 * slip in r (when not NULL). */
static size_t slip_recovered_at(const double *strain, const double *y, size_t count, size_t i, double window,
                                double min_drop, double hysteresis, struct pd_tensile_result *r)
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
        if (y[j] >= s0 * (1.0 - hysteresis) && strain[j] > strain[k]) {
            if (low > s0 * (1.0 - min_drop) || strain[at_low] - strain[k] > window / 10.0)
                return 0; /* back, but the fall was too shallow or too slow: left to the caller */
            if (!r)
                return j;
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

#define BREAK_SCAN_BLOCK 64

/* Index of the first sample at or below break_fraction·σmax, looked for only after the strain has
 * passed e2: before that a "drop" is noise around zero load, and a specimen that really breaks
 * there has no modulus anyway. Returns count when nothing breaks. */
static size_t find_break_drop(const double *strain, const double *stress, size_t count,
                              const struct pd_tensile_params *p, struct pd_tensile_result *r)
{
    double smax = stress[0];
    bool armed = false;
    const double bf = p->break_fraction;
    size_t walk_until = 1; /* samples before this one are walked one by one */
    for (size_t i = 1; i < count; i++) {
        /* A block whose lowest stress stays above the break level of the highest stress it can
         * have seen by its end holds no break: passed with its highest (and whether it arms). */
        if (i >= walk_until && count - i >= BREAK_SCAN_BLOCK && bf >= 0.0) {
            double lo, hi;
            cert_scan_min_max(stress + i, BREAK_SCAN_BLOCK, &lo, &hi);
            double top = hi > smax ? hi : smax;
            if (lo > bf * top) {
                for (size_t k = i - 1; k < i - 1 + BREAK_SCAN_BLOCK && !armed; k++)
                    armed = strain[k] > p->e2;
                smax = top;
                i += BREAK_SCAN_BLOCK - 1;
                continue;
            }
            walk_until = i + BREAK_SCAN_BLOCK;
        }
        armed = armed || strain[i - 1] > p->e2;
        if (armed && smax > 0.0 && stress[i] <= p->break_fraction * smax) {
            size_t back = slip_recovered_at(strain, stress, count, i, p->grip_slip_window, p->grip_slip_min_drop,
                                            p->max_hysteresis, r);
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

/* ---- noise and the maximum search (ISO 527 σy/σm, ISO 178 σfM) ---------------------------------*/

/* k-th smallest of a[0..n) (Hoare's selection; a is reordered). */
static double select_kth(double *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = a[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                double t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return a[k];
    }
    return a[k];
}

#define NOISE_SAMPLES 16384

/* The k = m/2-th smallest of a[0..m) (a is reordered), found mostly without the selection's
 * unpredictable branches: a sample of every step-th value gives two bounds the k-th lies between
 * with near certainty; one branch-free pass counts the values below the lower bound and copies
 * those between the bounds into buf (room for m), and the selection runs on those few. When the
 * bounds miss (or a value is NaN) the selection runs on all of a: the answer is always the k-th. */
#define MEDIAN_SAMPLE 1024
#define MEDIAN_MARGIN 64 /* sample ranks each side of the middle: ~4 standard deviations of it */
static double median_of(double *a, size_t m, double *buf)
{
    size_t k = m / 2;
    if (m < 8 * MEDIAN_SAMPLE)
        return select_kth(a, m, k);
    double sample[MEDIAN_SAMPLE];
    size_t step = m / MEDIAN_SAMPLE;
    for (size_t i = 0; i < MEDIAN_SAMPLE; i++)
        sample[i] = a[i * step];
    double lo = select_kth(sample, MEDIAN_SAMPLE, MEDIAN_SAMPLE / 2 - MEDIAN_MARGIN);
    double hi = select_kth(sample, MEDIAN_SAMPLE, MEDIAN_SAMPLE / 2 + MEDIAN_MARGIN);
    size_t below = 0, between = 0, nan = 0;
    for (size_t i = 0; i < m; i++) {
        double v = a[i];
        below += v < lo;
        nan += v != v;
        buf[between] = v;
        between += v >= lo && v <= hi;
    }
    if (nan == 0 && below <= k && k < below + between)
        return select_kth(buf, between, k - below);
    return select_kth(a, m, k);
}

int cert_noise_sd(const double *y, size_t n, double *sd)
{
    /* Fourth differences cancel a curve's smooth shape up to its cubic part, so what is left on a
     * sampled test curve is the sensor noise: Var(Δ⁴y) = 70·σ² for white noise. The median
     * absolute value (MAD, ×1.4826 for a normal distribution) ignores the few samples at kinks,
     * steps and speed changes; it is 0 when most samples lie on low-order polynomial pieces. */
    if (n < 9) {
        *sd = 0.0;
        return 0;
    }
    /* A long curve's median is taken over every stride-th difference (at most NOISE_SAMPLES of
     * them, spread over the whole curve): as good an estimate, at a fraction of the cost. */
    size_t stride = (n - 4 + NOISE_SAMPLES - 1) / NOISE_SAMPLES, m = (n - 4 + stride - 1) / stride;
    double *d = malloc(2 * m * sizeof *d); /* the differences, and room for median_of */
    if (!d)
        return PD_ENOMEM;
    for (size_t k = 0, i = 0; k < m; k++, i += stride)
        d[k] = fabs(y[i] - 4.0 * y[i + 1] + 6.0 * y[i + 2] - 4.0 * y[i + 3] + y[i + 4]);
    double med = median_of(d, m, d + m);
    free(d);
    *sd = 1.4826 * med / sqrt(70.0);
    return 0;
}

/* Least-squares parabola through (x[lo..hi], y[lo..hi]) centred on x0; its highest value over the
 * window's strain span and where (the vertex when it lies inside and opens downwards, else the
 * higher end). False when the window is degenerate. */
static bool parabola_peak(const double *x, const double *y, size_t lo, size_t hi, double x0, double *value,
                          double *at)
{
    double xmin = x[lo], xmax = x[lo], scale = 0.0;
    for (size_t i = lo; i <= hi; i++) {
        xmin = x[i] < xmin ? x[i] : xmin;
        xmax = x[i] > xmax ? x[i] : xmax;
    }
    scale = (xmax - xmin) / 2.0;
    if (!(scale > 0.0) || hi - lo < 3)
        return false;
    double s[5] = {0}, t[3] = {0};
    for (size_t i = lo; i <= hi; i++) {
        double u = (x[i] - x0) / scale, p = 1.0;
        for (int k = 0; k < 5; k++) {
            if (k < 3)
                t[k] += p * y[i];
            s[k] += p;
            p *= u;
        }
    }
    /* normal equations [s0 s1 s2; s1 s2 s3; s2 s3 s4]·(a b c) = t, by Cramer's rule */
    double det = s[0] * (s[2] * s[4] - s[3] * s[3]) - s[1] * (s[1] * s[4] - s[3] * s[2]) +
                 s[2] * (s[1] * s[3] - s[2] * s[2]);
    if (!(fabs(det) > 0.0))
        return false;
    double a = (t[0] * (s[2] * s[4] - s[3] * s[3]) - s[1] * (t[1] * s[4] - s[3] * t[2]) +
                s[2] * (t[1] * s[3] - s[2] * t[2])) / det;
    double b = (s[0] * (t[1] * s[4] - s[3] * t[2]) - t[0] * (s[1] * s[4] - s[3] * s[2]) +
                s[2] * (s[1] * t[2] - t[1] * s[2])) / det;
    double c = (s[0] * (s[2] * t[2] - t[1] * s[3]) - s[1] * (s[1] * t[2] - t[1] * s[2]) +
                t[0] * (s[1] * s[3] - s[2] * s[2])) / det;
    double ulo = (xmin - x0) / scale, uhi = (xmax - x0) / scale, u;
    if (c < 0.0 && -b / (2.0 * c) > ulo && -b / (2.0 * c) < uhi)
        u = -b / (2.0 * c);
    else
        u = a + b * ulo + c * ulo * ulo > a + b * uhi + c * uhi * uhi ? ulo : uhi;
    *value = a + b * u + c * u * u;
    *at = x0 + u * scale;
    return isfinite(*value) && isfinite(*at);
}

/* How far the automatic smoothing may reach: ±10 % of the strain at a sample, so that its bias
 * stays small next to the curvature of a maximum (a maximum at 3 % strain is averaged over at
 * most ±0.3 %). */
#define SMOOTH_REACH 0.1
/* Smoothing aims at a noise of the averaged curve of 0.01 % of its highest stress. */
#define SMOOTH_TARGET 1e-4
/* A fall confirms a maximum only beyond this many standard deviations of the averaged noise (the
 * running maximum of the averaged noise itself can sit ~4.5 σ high and a later sample ~4.5 σ low). */
#define BAND_SIGMAS 10.0
/* A single-step fall counts as sudden beyond this many standard deviations of a raw difference
 * and beyond this fraction of the highest stress (a coarsely sampled decline is not sudden). */
#define SUDDEN_SIGMAS 10.0
#define SUDDEN_FRACTION 0.02
/* A maximum is a yield point only when the specimen keeps deforming at least this fraction of
 * the maximum's strain after it without breaking (a plateau or a decline, not the fracture). */
#define YIELD_CONTINUES 0.1
/* Samples per block the searches below pass at once when no sample of it can matter. */
#define MAX_SCAN_BLOCK 64

/* Half-width in samples of the window around sample i: at most h, no further than the data on
 * either side, and (for the automatic width) within ±SMOOTH_REACH·x[i]; with a fixed strain width
 * `span` instead, within ±span/2. */
static size_t half_width_at(const double *x, size_t n, size_t i, size_t h, double span)
{
    size_t k = h;
    if (k > i)
        k = i;
    if (k > n - 1 - i)
        k = n - 1 - i;
    double reach = span > 0.0 ? span / 2.0 : SMOOTH_REACH * fabs(x[i]);
    while (k > 0 && (fabs(x[i + k] - x[i]) > reach || fabs(x[i] - x[i - k]) > reach))
        k--;
    return k;
}

int cert_find_maximum(const double *x, const double *y, size_t n, const struct cert_max_params *p,
                      struct cert_max_result *out, struct pd_tensile_result *slips)
{
    struct cert_max_result r = {0};
    if (n == 0)
        return PD_EINVAL;
    r.noise = p->noise;
    if (!(r.noise >= 0.0)) {
        int rc = cert_noise_sd(y, n, &r.noise);
        if (rc < 0)
            return rc;
    }
#define HW(i) (hw ? hw[i] : (size_t)0)
    double ymax = cert_scan_max(y, n);
    /* The window: a fixed strain width when asked for (yield_smoothing), else as many samples as
     * bring the averaged noise down to SMOOTH_TARGET of the highest stress — none at all on a
     * noise-free curve, whose maximum is then exactly its highest sample. */
    size_t h = 0;
    if (p->smoothing > 0.0) {
        h = n;
    } else if (ymax > 0.0 && r.noise > SMOOTH_TARGET * ymax) {
        double m = (r.noise / (SMOOTH_TARGET * ymax)) * (r.noise / (SMOOTH_TARGET * ymax));
        h = m / 2.0 >= (double)n ? n : (size_t)ceil((m - 1.0) / 2.0);
    }
    /* Without averaging (h = 0: the usual case of a quiet load cell) the search runs on the samples
     * themselves and needs no arrays. */
    double *avg = NULL, *sum = NULL;
    size_t *hw = NULL;
    const double *s = y;
    if (h > 0) {
        avg = malloc(n * sizeof *avg);
        sum = malloc((n + 1) * sizeof *sum);
        hw = malloc(n * sizeof *hw);
        if (!avg || !sum || !hw) {
            free(avg);
            free(sum);
            free(hw);
            return PD_ENOMEM;
        }
        /* moving average over each sample's symmetric window, from prefix sums (the sums are of
         * stresses of one sign and order, and only differences of nearby ones are used) */
        sum[0] = 0.0;
        for (size_t i = 0; i < n; i++)
            sum[i + 1] = sum[i] + y[i];
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            size_t lim = k + 1 < h ? k + 1 : h;
            k = half_width_at(x, n, i, lim, p->smoothing);
            hw[i] = k;
            avg[i] = k == 0 ? y[i] : (sum[i + k + 1] - sum[i - k]) / (double)(2 * k + 1);
        }
        free(sum);
        s = avg;
    }
    double smax = s == y ? ymax : cert_scan_max(s, n);

    /* Running maximum of the averaged curve; it counts as a local maximum once the curve falls
     * below it by the band: the hysteresis fraction of the curve's highest (averaged) stress —
     * not of the running maximum, which is small early on — and never less than BAND_SIGMAS of
     * the averaged noise. A fall that comes back (grip slip) is skipped and reported. */
    size_t ip = 0, band_of = SIZE_MAX; /* band_of: the ip the band was worked out for */
    double band = 0.0;
    /* Without averaging the band is the same for every running maximum, so a block of samples
     * whose lowest value stays within the band below the highest the running maximum can reach
     * in it (its own highest or the one before) cannot hold the confirming fall: it is passed with
     * its lowest and highest values, and the running maximum moves to the first sample of its
     * highest. A block that might hold the fall is walked sample by sample. (The rising part of a
     * noisy curve changed the running maximum every other sample, a branch the processor could
     * not predict.) */
    const double noise_band0 = BAND_SIGMAS * r.noise; /* the band below with no averaging: HW = 0 */
    const double band0 = p->hysteresis * smax > noise_band0 ? p->hysteresis * smax : noise_band0;
    size_t walk_until = 1; /* samples before this one are walked one by one */
    for (size_t i = 1; i < n; i++) {
        if (h == 0 && i >= walk_until && n - i >= MAX_SCAN_BLOCK) {
            double lo, hi;
            cert_scan_min_max(s + i, MAX_SCAN_BLOCK, &lo, &hi);
            double top = hi > s[ip] ? hi : s[ip];
            if (lo >= top - band0) {
                if (hi > s[ip]) {
                    size_t j = i;
                    while (!(s[j] == hi))
                        j++;
                    ip = j;
                }
                i += MAX_SCAN_BLOCK - 1;
                continue;
            }
            walk_until = i + MAX_SCAN_BLOCK;
        }
        if (s[i] > s[ip]) {
            ip = i;
            continue;
        }
        if (band_of != ip) { /* a function of ip alone: once per new running maximum, not per sample */
            double noise_band = BAND_SIGMAS * r.noise / sqrt((double)(2 * HW(ip) + 1));
            band = p->hysteresis * smax > noise_band ? p->hysteresis * smax : noise_band;
            band_of = ip;
        }
        if (x[ip] > p->arm_strain && s[i] < s[ip] - band) {
            double slip_span = p->slip_window > 0.0 ? p->slip_window + (x[i + HW(i) < n ? i + HW(i) : n - 1] -
                                                                          x[i >= HW(i) ? i - HW(i) : 0])
                                                     : 0.0;
            /* the tooth on the raw curve first (the average flattens it), at its steepest step
             * within the window's reach: the average starts to fall hw samples before the tooth */
            size_t back = 0;
            if (HW(i) > 0 && slip_span > 0.0) {
                size_t steep = i, from = i > 2 * HW(i) ? i - 2 * HW(i) : 1;
                size_t to = i + 2 * HW(i) < n ? i + 2 * HW(i) : n - 1;
                for (size_t j = from; j <= to; j++)
                    if (y[j - 1] - y[j] > y[steep - 1] - y[steep])
                        steep = j;
                back = slip_recovered_at(x, y, n, steep, p->slip_window, p->slip_min_drop, p->hysteresis, slips);
            }
            if (back == 0)
                back = slip_recovered_at(x, s, n, i, slip_span, p->slip_min_drop, p->hysteresis, slips);
            if (back != 0) {
                i = back > i ? back : i; /* never back over samples already seen */
                if (s[i] > s[ip])
                    ip = i;
                continue;
            }
            r.confirmed = true;
            r.confirm_index = i;
            r.band = band;
            break;
        }
    }
    if (!r.confirmed) {
        double noise_band = BAND_SIGMAS * r.noise / sqrt((double)(2 * HW(ip) + 1));
        r.band = p->hysteresis * smax > noise_band ? p->hysteresis * smax : noise_band;
    }
    r.index = ip;
    r.half_width = HW(ip);

    /* What kind of fall: a single step far beyond the noise is sudden (a load drop, a crack);
     * and when the curve ends (break, end of data) soon after, the maximum was the fracture's,
     * not a yield point. */
    size_t fit_hi = h < n - 1 - ip ? ip + h : n - 1;
    if (r.confirmed) {
        size_t look = r.confirm_index + 2 * HW(r.confirm_index) + 1;
        look = look < n ? look : n - 1;
        double step_limit = SUDDEN_SIGMAS * sqrt(2.0) * r.noise;
        step_limit = step_limit > SUDDEN_FRACTION * ymax ? step_limit : SUDDEN_FRACTION * ymax;
        step_limit = step_limit > r.band ? step_limit : r.band;
        for (size_t j = ip + 1; j <= look; j++) {
            if (y[j - 1] - y[j] > step_limit) {
                r.sudden = true;
                r.sudden_strain = x[j - 1];
                r.sudden_drop = y[j - 1] > 0.0 ? (y[j - 1] - y[j]) / y[j - 1] : 0.0;
                if (fit_hi > j - 1)
                    fit_hi = j - 1; /* the fit must not reach past the fall */
                break;
            }
        }
        r.fracture = x[n - 1] - x[ip] < YIELD_CONTINUES * fabs(x[ip]);
        r.higher_value = cert_scan_max(s + r.confirm_index, n - r.confirm_index);
        r.higher_later = r.higher_value > s[ip] + r.band;
    }

    /* The value at the maximum: the sample itself without smoothing; with the fixed strain width
     * the moving average (its documented meaning); else the least-squares parabola through the
     * window around it (the averaging without the curvature bias of a moving average). */
    r.value = y[ip];
    r.strain = x[ip];
    if (p->smoothing > 0.0) {
        r.value = s[ip];
    } else if (h > 0) {
        size_t lo = ip >= h ? ip - h : 0;
        /* not limited by the data's end: a maximum at the last sample (a brittle break) is fitted
         * from one side */
        while (lo < ip && fabs(x[ip] - x[lo]) > SMOOTH_REACH * fabs(x[ip]))
            lo++;
        while (fit_hi > ip && fabs(x[fit_hi] - x[ip]) > SMOOTH_REACH * fabs(x[ip]))
            fit_hi--;
        double v, at;
        if (parabola_peak(x, y, lo, fit_hi, x[ip], &v, &at)) {
            r.value = v;
            r.strain = at;
        } else {
            r.value = s[ip];
        }
        r.half_width = ip - lo > fit_hi - ip ? ip - lo : fit_hi - ip;
    }
    size_t raw_lo = ip >= HW(ip) ? ip - HW(ip) : 0, raw_hi = ip + HW(ip);
    r.raw_max = y[ip];
    for (size_t i = raw_lo; i <= raw_hi && i < n; i++)
        r.raw_max = y[i] > r.raw_max ? y[i] : r.raw_max;
    free(avg);
    free(hw);
    *out = r;
    return 0;
#undef HW
}

bool cert_modulus_range(const double *strain, size_t count, double e1, double e2, double beyond, size_t min_points,
                        bool broke, const char *what, const char *e1_name, const char *e2_name, size_t *seg,
                        size_t *in_range, char *reason, size_t reason_size)
{
    if (strain[0] > e1 + STRAIN_SLACK) {
        snprintf(reason, reason_size, "modulus range not reached: data start at %.4g %% %s, beyond %s = %.4g %%",
                 strain[0] * 100.0, what, e1_name, e1 * 100.0);
        return false;
    }
    /* The highest strain is needed only to say how far a curve that falls short got; one that
     * reaches e2 does so within its first few per cent of samples. */
    double reached = strain[0];
    for (size_t i = 1; i < count && !(reached >= e2 - STRAIN_SLACK); i++)
        reached = strain[i] > reached ? strain[i] : reached;
    if (reached < e2 - STRAIN_SLACK) {
        snprintf(reason, reason_size, "modulus range not reached: %s reaches only %.4g %% before %s, needs %s = %.4g %%",
                 what, reached * 100.0 + 0.0 /* never "-0" */, broke ? "break" : "the end of data", e2_name,
                 e2 * 100.0);
        return false;
    }
    /* The rising part only: samples up to the first one beyond the range, which is kept so that
     * interpolation at e2 has its upper neighbour even when the data jump over it. */
    size_t n = 0, inside = 0;
    while (n < count && strain[n] <= e2 + beyond + STRAIN_SLACK)
        n++;
    if (n < count)
        n++;
    for (size_t i = 0; i < n; i++)
        if (strain[i] >= e1 - STRAIN_SLACK && strain[i] <= e2 + STRAIN_SLACK)
            inside++;
    *seg = n;
    *in_range = inside;
    if (inside < min_points) {
        snprintf(reason, reason_size, "modulus range too sparse: %zu samples between %.4g %% and %.4g %% %s, need >= %zu",
                 inside, e1 * 100.0, e2 * 100.0, what, min_points);
        return false;
    }
    return true;
}

/* The modulus (ISO 527-1 10.3) on the rising part [0, count), or the reason there is none in
 * r->modulus_na_reason. Fails only for memory and for a modulus range that does not rise. */
static int modulus_of(const double *strain, const double *stress, size_t count, const struct pd_tensile_params *p,
                      double l0, struct pd_tensile_result *r, struct pd_err *err)
{
    r->has_modulus = false;
    r->modulus_MPa = NAN;
    r->modulus_u_noise_MPa = NAN;
    r->modulus_u_extensometer_MPa = NAN;
    if (p->strain_source != PD_STRAIN_EXTENSOMETER) {
        snprintf(r->modulus_na_reason, sizeof r->modulus_na_reason,
                 "strain from the crosshead (Method A): it includes the machine's compliance (ISO 527-1)");
        return 0;
    }
    /* The chord's window needs the samples just past e2 as well. */
    double window = p->modulus_method == PD_MODULUS_CHORD ? p->chord_window : 0.0;
    size_t seg = 0, in_range = 0;
    if (!cert_modulus_range(strain, count, p->e1, p->e2, window, p->min_modulus_points, r->has_break, "strain", "e1",
                            "e2", &seg, &in_range, r->modulus_na_reason, sizeof r->modulus_na_reason))
        return 0;

    double modulus, u_noise;
    if (p->modulus_method == PD_MODULUS_REGRESSION) {
        struct line_fit fit;
        if (!fit_line(strain, stress, seg, p->e1, p->e2, &fit))
            return pd_err_set(err, PD_EDATA, NULL, "modulus: strain does not vary within %.4g–%.4g %%",
                              p->e1 * 100.0, p->e2 * 100.0);
        modulus = fit.slope;
        /* the slope's standard error from the residuals: the curve's own noise and misfit */
        double ss = 0.0, sxx = 0.0;
        for (size_t i = 0; i < seg; i++) {
            if (strain[i] >= p->e1 - STRAIN_SLACK && strain[i] <= p->e2 + STRAIN_SLACK) {
                double d = stress[i] - fit.y_mean - fit.slope * (strain[i] - fit.x_mean);
                ss += d * d;
                sxx += (strain[i] - fit.x_mean) * (strain[i] - fit.x_mean);
            }
        }
        u_noise = fit.n > 2 ? sqrt(ss / (double)(fit.n - 2) / sxx) : 0.0;
    } else {
        /* the strain's noise where it matters, over the samples the chord reads */
        int rc = cert_noise_sd(strain, seg, &r->strain_noise);
        if (rc < 0)
            return pd_err_set(err, rc, NULL, "tensile: out of memory for %zu samples", seg);
        double w1, w2;
        double s1 = chord_stress_at(strain, stress, seg, p->e1, window, &w1);
        double s2 = chord_stress_at(strain, stress, seg, p->e2, window, &w2);
        modulus = (s2 - s1) / (p->e2 - p->e1);
        /* Each interpolated stress carries the samples' stress noise and, through the slope, their
         * strain noise: u² = (σn² + (E·σε)²)·(w1 + w2) / (e2 − e1)². */
        double var = r->noise_MPa * r->noise_MPa + modulus * modulus * r->strain_noise * r->strain_noise;
        u_noise = sqrt(var * (w1 + w2)) / (p->e2 - p->e1);
    }
    if (!(isfinite(modulus) && modulus > 0.0))
        return pd_err_set(err, PD_EDATA, NULL,
                          "modulus %.6g MPa is not positive: no rising elastic range between %.4g and %.4g %% strain",
                          modulus, p->e1 * 100.0, p->e2 * 100.0);
    r->has_modulus = true;
    r->modulus_MPa = modulus;
    r->modulus_points = in_range;
    r->modulus_u_noise_MPa = u_noise;
    /* The extensometer's absolute error a (rectangular, u = a/√3) on the extension the range spans,
     * (e2 − e1)·L0: relative u(E)/E = a/(√3·(e2 − e1)·L0). */
    r->modulus_u_extensometer_MPa = modulus * p->displacement_abs_mm / sqrt(3.0) / ((p->e2 - p->e1) * l0);
    r->modulus_na_reason[0] = '\0';
    return 0;
}

static int evaluate(double *strain, const double *stress, size_t n, const struct pd_tensile_params *p,
                    const double *nominal, double l0, struct pd_tensile_result *r, struct pd_err *err)
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

    size_t drop = find_break_drop(strain, stress, n, p, r);
    r->has_break = drop < n;
    if (r->has_break && drop == 0)
        return pd_err_set(err, PD_EDATA, NULL, "break at the first sample: nothing to evaluate");
    size_t last = r->has_break ? drop - 1 : n - 1; /* the evaluated end point */
    size_t count = last + 1;

    int rc = cert_noise_sd(stress, count, &r->noise_MPa);
    if (rc < 0)
        return pd_err_set(err, rc, NULL, "tensile: out of memory for %zu samples", count);
    if ((rc = modulus_of(strain, stress, count, p, l0, r, err)) < 0)
        return rc;

    /* First local maximum (ISO 527-1:2012), see cert_find_maximum. A maximum inside the modulus
     * range is not accepted: there it is noise on a small load, and a real one would have made
     * the modulus meaningless. */
    struct cert_max_params mp = {.arm_strain = p->e2, .hysteresis = p->max_hysteresis,
                                 .smoothing = p->yield_smoothing, .slip_window = p->grip_slip_window,
                                 .slip_min_drop = p->grip_slip_min_drop, .noise = r->noise_MPa};
    struct cert_max_result mx;
    if ((rc = cert_find_maximum(strain, stress, count, &mp, &mx, r)) < 0)
        return pd_err_set(err, rc, NULL, "tensile: out of memory for %zu samples", count);
    /* Yield: the first point where the strain increases without a stress increase, i.e. a
     * confirmed maximum after which the specimen keeps deforming; a maximum followed only by the
     * fracture (the data end soon after: brittle) is the strength, not a yield point. */
    bool yield = mx.confirmed && !mx.fracture;
    r->strength_MPa = mx.value;
    r->strain_at_strength = mx.strain;
    r->has_yield = yield;
    r->yield_stress_MPa = yield ? mx.value : NAN;
    r->yield_strain = yield ? mx.strain : NAN;
    r->yield_raw_max_MPa = yield ? mx.raw_max : NAN;
    r->max_half_width = mx.half_width;
    r->max_fracture = mx.confirmed && mx.fracture;
    r->load_drop = mx.sudden;
    r->load_drop_strain = mx.sudden ? mx.sudden_strain : NAN;
    r->load_drop_fraction = mx.sudden ? mx.sudden_drop : NAN;
    r->higher_after_max = mx.higher_later;
    r->highest_after_MPa = mx.higher_later ? mx.higher_value : NAN;

    r->break_index = last;
    r->stress_at_break_MPa = r->has_break ? stress[last] : NAN;
    r->strain_at_break = r->has_break ? strain[last] : NAN;
    r->nominal_strain_at_break = r->has_break && nominal ? nominal[last] : NAN;
    return 0;
}

/* Checks what both entry points need; *p is replaced by the defaults when NULL. `finite`: the
 * caller has seen every sample finite already. */
static int check_specimen(const struct pd_tensile_specimen *sp, const struct pd_tensile_params **p,
                          struct pd_tensile_params *defaults, bool *has_nominal, bool finite, struct pd_err *err)
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
    if (finite)
        return 0;
    if (cert_scan_finite(sp->force_N, sp->n) && cert_scan_finite(ext, sp->n) &&
        (xh == ext || cert_scan_finite(xh, sp->n)))
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
    /* Divisions, as the standard's formulas and the numpy comparison have them, not
     * multiplications by a reciprocal (cert_scan_divide: two at a time). */
    const size_t n = sp->n;
    cert_scan_divide(stress, sp->force_N, n, sp->width_mm * sp->thickness_mm);
    if (has_nominal)
        cert_scan_divide(nominal, sp->crosshead_mm, n, sp->grip_distance_mm);
    if (crosshead) {
        if (strain != nominal)
            memcpy(strain, nominal, n * sizeof *strain);
    } else {
        cert_scan_divide(strain, sp->extension_mm, n, sp->gauge_length_mm);
    }
}

int pd_tensile_evaluate(const struct pd_tensile_specimen *sp, const struct pd_tensile_params *p,
                        struct pd_tensile_result *out, struct pd_err *err)
{
    if (!sp || !out || (sp->n > 0 && !sp->force_N))
        return pd_err_set(err, PD_EINVAL, NULL, "tensile: missing specimen data or result");
    struct pd_tensile_params defaults;
    bool has_nominal = false;
    int rc = check_specimen(sp, &p, &defaults, &has_nominal, false, err);
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
    rc = evaluate(strain, stress, sp->n, p, nominal, sp->gauge_length_mm, &r, err);
    free(strain);
    free(stress);
    free(nominal);
    if (rc == 0)
        *out = r;
    return rc;
}

int cert_tensile_evaluate_in_place(double *force, double *extension, double *crosshead_mm,
                                   const struct pd_tensile_specimen *dims, bool finite,
                                   const struct pd_tensile_params *p, struct pd_tensile_result *out,
                                   struct pd_err *err)
{
    struct pd_tensile_specimen sp = *dims;
    sp.force_N = force;
    sp.extension_mm = extension;
    sp.crosshead_mm = crosshead_mm;
    if (!out || (sp.n > 0 && !force))
        return pd_err_set(err, PD_EINVAL, NULL, "tensile: missing specimen data or result");
    struct pd_tensile_params defaults;
    bool has_nominal = false;
    int rc = check_specimen(&sp, &p, &defaults, &has_nominal, finite, err);
    if (rc < 0)
        return rc;
    bool xh = p->strain_source == PD_STRAIN_CROSSHEAD;
    /* Crosshead strain is the nominal strain itself (never toe-shifted: that needs the modulus). */
    convert(&sp, xh, has_nominal, force, xh ? crosshead_mm : extension, has_nominal ? crosshead_mm : NULL);
    struct pd_tensile_result r = {0};
    rc = evaluate(xh ? crosshead_mm : extension, force, sp.n, p, has_nominal ? crosshead_mm : NULL, sp.gauge_length_mm,
                  &r, err);
    if (rc == 0)
        *out = r;
    return rc;
}
