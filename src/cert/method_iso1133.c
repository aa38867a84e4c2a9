/* method_iso1133.c — ISO 1133-1 melt mass-flow rate (procedure A: each weighed cut-off paired with its
 * own cut-off interval) and melt volume-flow rate (procedure B: piston travel fitted over the measuring
 * window), with their uncertainty budgets. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert_internal.h"
#include "store/store.h"

#define THETA_REF_S    600.0 /* MFR/MVR are per 10 min */
#define MVR_MIN_POINTS 3     /* a line and a scatter about it */

/* ---- procedure A ------------------------------------------------------------------------------*/
static double interval_of_pair(const struct pd_mfr_cuts *c, size_t k)
{
    if (!c->cut_s)
        return c->interval_s;
    size_t i = c->interval[k];
    return c->cut_s[i + 1] - c->cut_s[i];
}

int pd_mfr_evaluate_cuts(const struct pd_mfr_cuts *c, size_t min_cuts, double max_spread, double *mfr, double *spread,
                         struct pd_err *err)
{
    if (!c || !mfr || !spread || (c->n > 0 && !c->mass_g) || (c->cut_s && c->n > 0 && !c->interval))
        return pd_err_set(err, PD_EINVAL, NULL, "mfr: missing data or output");
    if (!c->cut_s && !(c->interval_s > 0.0 && isfinite(c->interval_s)))
        return pd_err_set(err, PD_EDATA, NULL, "mfr: cut-off interval %g s must be positive", c->interval_s);
    if (c->n < min_cuts || c->n == 0)
        return pd_err_set(err, PD_EDATA, NULL, "mfr: %zu cut-offs, at least %zu needed", c->n, min_cuts);
    double sum = 0, lo = INFINITY, hi = -INFINITY;
    for (size_t k = 0; k < c->n; k++) {
        if (!(isfinite(c->mass_g[k]) && c->mass_g[k] > 0.0))
            return pd_err_set(err, PD_EDATA, NULL, "mfr: cut-off %zu mass %g g is not a positive number", k,
                              c->mass_g[k]);
        if (c->cut_s && c->interval[k] + 1 >= c->n_cuts)
            return pd_err_set(err, PD_EINVAL, NULL, "mfr: cut-off %zu names interval %zu of %zu cuts", k,
                              c->interval[k], c->n_cuts);
        double t = interval_of_pair(c, k);
        if (!(isfinite(t) && t > 0.0))
            return pd_err_set(err, PD_EDATA, NULL, "mfr: cut-off %zu interval %g s is not positive", k, t);
        double rate = c->mass_g[k] / t;
        sum += rate;
        lo = rate < lo ? rate : lo;
        hi = rate > hi ? rate : hi;
    }
    double mean = sum / (double)c->n, sp = (hi - lo) / mean;
    if (sp > max_spread)
        return pd_err_set(err, PD_EDATA, NULL,
                          "mfr: cut-off %s spread %.1f %% of their mean, above %.0f %%: repeat with fresh material",
                          c->cut_s ? "rates (mass per own interval)" : "masses", sp * 100, max_spread * 100);
    *mfr = THETA_REF_S * mean;
    *spread = sp;
    return 0;
}

int pd_mfr_evaluate(const double *mass_g, size_t n, double interval_s, size_t min_cuts, double max_spread, double *mfr,
                    double *spread, struct pd_err *err)
{
    struct pd_mfr_cuts c = {.interval_s = interval_s, .mass_g = mass_g, .n = n};
    return pd_mfr_evaluate_cuts(&c, min_cuts, max_spread, mfr, spread, err);
}

int pd_mfr_pair(const double *cut_s, size_t n_cuts, const double *weigh_s, size_t n_weighings, size_t *interval_of,
                size_t *n_pairs, struct pd_err *err)
{
    if (!n_pairs || (n_cuts > 0 && !cut_s) || (n_weighings > 0 && (!weigh_s || !interval_of)))
        return pd_err_set(err, PD_EINVAL, NULL, "mfr pairing: missing data or output");
    for (size_t i = 0; i < n_cuts; i++)
        if (!isfinite(cut_s[i]) || (i > 0 && !(cut_s[i] > cut_s[i - 1])))
            return pd_err_set(err, PD_EDATA, NULL, "mfr pairing: cut-off time %zu (%g s) is not after the one before",
                              i, cut_s[i]);
    for (size_t j = 0; j < n_weighings; j++)
        if (!isfinite(weigh_s[j]) || (j > 0 && weigh_s[j] < weigh_s[j - 1]))
            return pd_err_set(err, PD_EDATA, NULL, "mfr pairing: weighing time %zu (%g s) is before the one before", j,
                              weigh_s[j]);
    size_t intervals = n_cuts > 0 ? n_cuts - 1 : 0, next = 0, closed_cuts = 0, pairs = 0;
    for (size_t j = 0; j < n_weighings; j++) {
        while (closed_cuts < n_cuts && cut_s[closed_cuts] <= weigh_s[j])
            closed_cuts++;
        size_t closed = closed_cuts > 0 ? closed_cuts - 1 : 0; /* intervals whose closing cut came before */
        if (next < closed && next < intervals) {
            interval_of[j] = next++;
            pairs++;
        } else {
            interval_of[j] = SIZE_MAX;
        }
    }
    *n_pairs = pairs;
    return 0;
}

/* ---- procedure B --------------------------------------------------------------------------------*/
/* Least-squares slope of y on x over the samples with keep[i] (all when keep is NULL), and its
 * standard error. Returns how many samples it used. */
static size_t fit_line(const double *x, const double *y, const bool *keep, size_t n, double *slope, double *se)
{
    size_t m = 0;
    double xm = 0, ym = 0;
    for (size_t i = 0; i < n; i++)
        if (!keep || keep[i]) {
            xm += x[i];
            ym += y[i];
            m++;
        }
    if (m < 2)
        return m;
    xm /= (double)m;
    ym /= (double)m;
    double sxx = 0, sxy = 0;
    for (size_t i = 0; i < n; i++)
        if (!keep || keep[i]) {
            sxx += (x[i] - xm) * (x[i] - xm);
            sxy += (x[i] - xm) * (y[i] - ym);
        }
    *slope = sxx > 0.0 ? sxy / sxx : NAN;
    double ss = 0;
    for (size_t i = 0; i < n && m > 2 && sxx > 0.0; i++)
        if (!keep || keep[i]) {
            double r = y[i] - ym - *slope * (x[i] - xm);
            ss += r * r;
        }
    *se = m > 2 && sxx > 0.0 ? sqrt(ss / (double)(m - 2) / sxx) : 0.0;
    return m;
}

int pd_mvr_evaluate(const double *time_s, const double *position_mm, size_t n, double area_cm2, double *mvr,
                    struct pd_err *err)
{
    if (!mvr || (n > 0 && (!time_s || !position_mm)))
        return pd_err_set(err, PD_EINVAL, NULL, "mvr: missing data or output");
    if (n < 2 || !(area_cm2 > 0.0))
        return pd_err_set(err, PD_EDATA, NULL, "mvr: %zu piston samples (need >= 2), area %g cm²", n, area_cm2);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(time_s[i]) || !isfinite(position_mm[i]))
            return pd_err_set(err, PD_EDATA, NULL, "mvr: sample %zu is not a finite number", i);
    double slope = NAN, se;
    fit_line(time_s, position_mm, NULL, n, &slope, &se);
    if (!isfinite(slope))
        return pd_err_set(err, PD_EDATA, NULL, "mvr: time does not advance");
    double speed_cm_s = fabs(slope) / 10.0; /* the piston moves down: travel is the magnitude */
    *mvr = area_cm2 * THETA_REF_S * speed_cm_s;
    return 0;
}

int pd_mvr_evaluate_window(const double *time_s, const double *travel_mm, size_t n, double start_height_mm,
                           double window_top_mm, double window_bottom_mm, double area_cm2, size_t min_points,
                           struct pd_mvr_window *out, struct pd_err *err)
{
    if (!out || (n > 0 && (!time_s || !travel_mm)))
        return pd_err_set(err, PD_EINVAL, NULL, "mvr: missing data or output");
    if (!(isfinite(start_height_mm) && window_top_mm > window_bottom_mm && window_bottom_mm >= 0.0 && area_cm2 > 0.0))
        return pd_err_set(err, PD_EDATA, NULL,
                          "mvr: start height %g mm, window %g–%g mm above the die and area %g cm² must make sense",
                          start_height_mm, window_top_mm, window_bottom_mm, area_cm2);
    min_points = min_points < MVR_MIN_POINTS ? MVR_MIN_POINTS : min_points;
    bool *keep = calloc(n ? n : 1, sizeof *keep);
    if (!keep)
        return pd_err_set(err, PD_ENOMEM, NULL, "mvr: out of memory for %zu samples", n);
    double hi = -INFINITY, lo = INFINITY, t_from = INFINITY, t_to = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(time_s[i]) || !isfinite(travel_mm[i])) {
            free(keep);
            return pd_err_set(err, PD_EDATA, NULL, "mvr: sample %zu is not a finite number", i);
        }
        double h = start_height_mm - travel_mm[i];
        hi = h > hi ? h : hi;
        lo = h < lo ? h : lo;
        keep[i] = h <= window_top_mm && h >= window_bottom_mm;
        if (keep[i]) {
            t_from = time_s[i] < t_from ? time_s[i] : t_from;
            t_to = time_s[i] > t_to ? time_s[i] : t_to;
        }
    }
    double slope = NAN, se = 0.0;
    size_t m = fit_line(time_s, travel_mm, keep, n, &slope, &se);
    free(keep);
    if (m < min_points)
        return n == 0 ? pd_err_set(err, PD_EDATA, NULL, "mvr: no piston samples")
                      : pd_err_set(err, PD_EDATA, NULL,
                                   "mvr: measuring window not reached: %zu piston samples between %g and %g mm above "
                                   "the die (need %zu); the lower edge went from %.2f to %.2f mm",
                                   m, window_top_mm, window_bottom_mm, min_points, hi, lo);
    if (!(isfinite(slope) && slope != 0.0))
        return pd_err_set(err, PD_EDATA, NULL, "mvr: the piston does not move within the window (or time stands)");
    struct pd_mvr_window w = {.points = m, .t_from = t_from, .t_to = t_to};
    w.mvr = area_cm2 * THETA_REF_S * fabs(slope) / 10.0;
    w.travel_mm = fabs(slope) * (t_to - t_from);
    w.slope_rel_se = se / fabs(slope);
    *out = w;
    return 0;
}

/* ---- uncertainty -------------------------------------------------------------------------------*/
static double temperature_rel_u(const struct pd_uncertainty_budget *b, double coeff_percent_per_K, double rms_dev_K)
{
    double a = b->input[PD_U_TEMPERATURE], d = isfinite(rms_dev_K) ? rms_dev_K : 0.0;
    return coeff_percent_per_K / 100.0 * sqrt(a * a / 3.0 + d * d);
}

double pd_mfr_uncertainty(const struct pd_mfr_cuts *c, double mfr, const struct pd_uncertainty_budget *b,
                          double temp_coeff_percent_per_K, double temp_rms_dev_K)
{
    if (!c || !b || !isfinite(mfr) || c->n == 0 || !c->mass_g || (c->cut_s && !c->interval))
        return NAN;
    const double r3 = sqrt(3.0), scale = THETA_REF_S / (double)c->n;
    /* MFR = (600/n)·Σ m_k/t_k. The balance's absolute error is one error common to all cut-offs (they
     * are weighed at nearly the same load): ∂MFR/∂δm = (600/n)·Σ 1/t_k. */
    double inv_t = 0;
    for (size_t k = 0; k < c->n; k++)
        inv_t += 1.0 / interval_of_pair(c, k);
    double u_abs = scale * inv_t * b->input[PD_U_MASS_ABS] * 1e-3 / r3;
    /* Relative balance error and timer rate: relative sensitivity 1 (and −1). */
    double u_rel =
        mfr * sqrt(b->input[PD_U_MASS] * b->input[PD_U_MASS] + b->input[PD_U_TIME] * b->input[PD_U_TIME]) / 100.0 / r3;
    /* Each cut time c_j: ∂MFR/∂c_j = (600/n)·(m_k/t_k² of the interval it opens − that of the interval it
     * closes), so a cut shared by two intervals mostly cancels. */
    double u_cut2 = 0;
    if (c->cut_s && c->cut_half_width_s) {
        for (size_t j = 0; j < c->n_cuts; j++) {
            double g = 0;
            for (size_t k = 0; k < c->n; k++) {
                double t = interval_of_pair(c, k), d = c->mass_g[k] / (t * t);
                if (c->interval[k] == j)
                    g += d;
                else if (c->interval[k] + 1 == j)
                    g -= d;
            }
            double u = scale * g * c->cut_half_width_s[j] / r3;
            u_cut2 += u * u;
        }
    }
    double u_temp = mfr * temperature_rel_u(b, temp_coeff_percent_per_K, temp_rms_dev_K);
    return sqrt(u_abs * u_abs + u_rel * u_rel + u_cut2 + u_temp * u_temp);
}

double pd_mvr_uncertainty(double mvr, double slope_rel_se, const struct pd_uncertainty_budget *b,
                          double temp_coeff_percent_per_K, double temp_rms_dev_K)
{
    if (!b || !isfinite(mvr))
        return NAN;
    /* MVR = A·600·v: relative sensitivity 1 to the area, the piston displacement and the timer. */
    double d = b->input[PD_U_DISPLACEMENT], t = b->input[PD_U_TIME], a = b->input[PD_U_AREA];
    double rel2 = (d * d + t * t + a * a) / 1e4 / 3.0;
    double rt = temperature_rel_u(b, temp_coeff_percent_per_K, temp_rms_dev_K);
    double rf = isfinite(slope_rel_se) ? slope_rel_se : 0.0;
    return fabs(mvr) * sqrt(rel2 + rt * rt + rf * rf);
}

/* ---- the method -------------------------------------------------------------------------------*/
enum { P_MFR, P_MVR, P_COUNT };
/* Both budgets are the method's own (u_extra): the cut-off intervals, the barrel temperature record and
 * the piston fit of the specimen decide them. */
static const struct pd_cert_property props[P_COUNT] = {
    [P_MFR] = {"mfr", "g/10 min", 1.0, "MFR", {0}},
    [P_MVR] = {"mvr", "cm³/10 min", 1.0, "MVR", {0}},
};
static const struct cert_param_spec params[] = {
    {"area_cm2", 0.711, 0.1, 10, false, NULL, "mean of piston and barrel cross-sections A"},
    {"max_spread", 0.15, 0.0, 1.0, false, NULL, "largest (max − min)/mean of the cut-off rates"},
    {"min_cuts", 3, 1, 100, false, NULL, "weighed cut-offs required"},
    {"discard_first", 0, 0, 0, true, NULL,
     "drop the first weighed cut-off as well (the first cut after preheat only opens the first interval)"},
    {"nominal_interval", 0, 0, 0, true, NULL,
     "runs without cut-off times: every mass over the specimen's nominal cut_interval (a deviation)"},
    {"window_top", 50, 0, 200, false, NULL, "measuring window: highest piston lower edge above the die, mm"},
    {"window_bottom", 20, 0, 200, false, NULL, "measuring window: lowest piston lower edge above the die, mm"},
    {"temperature_coefficient", 2.0, 0.0, 20.0, false, NULL,
     "relative change of MFR/MVR per K of barrel temperature, %/K (PP ~2: Arrhenius, Ea ~40 kJ/mol at 230 °C)"},
};
static const struct pd_method_channel channels[] = {{"mass", "g"}, {"piston", "mm"}, {"temperature", "°C"}};

/* One instrument's channel with its time axis in s from t0 (the specimen's first sample of it when t0
 * is INT64_MIN). Returns 0, PD_EDATA with reason, or PD_ENOMEM. */
struct series {
    double *v, *t;
    size_t n;
    size_t inst;
    int64_t t0;
};
static void series_free(struct series *s)
{
    free(s->v);
    free(s->t);
    s->v = s->t = NULL;
}
static int read_series(struct pd_run *run, size_t s, const struct pd_method_def *def, const char *name, int64_t t0,
                       struct series *out, char *reason, size_t rsize)
{
    struct series r = {0};
    int rc = cert_read_channel(run, s, def, name, &r.v, &r.n, &r.inst, reason, rsize);
    if (rc < 0)
        return rc;
    int64_t *t = NULL;
    size_t nt = 0;
    struct pd_err e = {0};
    rc = pd_run_read_time(run, s, r.inst, &t, &nt, &e);
    if (rc == 0 && nt != r.n)
        rc = pd_err_set(&e, PD_EDATA, NULL, "'%s' has %zu samples and %zu times", name, r.n, nt);
    if (rc == 0 && !(r.t = malloc((r.n ? r.n : 1) * sizeof *r.t)))
        rc = PD_ENOMEM;
    if (rc == 0) {
        r.t0 = t0 == INT64_MIN ? (r.n ? t[0] : 0) : t0;
        for (size_t i = 0; i < r.n; i++)
            r.t[i] = (double)(t[i] - r.t0) * 1e-9;
    }
    free(t);
    if (rc < 0) {
        if (rc != PD_ENOMEM)
            cert_say(reason, rsize, "cannot read the time of '%s': %s", name, e.msg);
        series_free(&r);
        return rc == PD_ENOMEM ? rc : PD_EDATA;
    }
    *out = r;
    return 0;
}

/* The value of a series at time x, linear between samples (clamped at the ends). */
static double series_at(const struct series *s, double x)
{
    if (s->n == 0)
        return NAN;
    if (x <= s->t[0])
        return s->v[0];
    for (size_t i = 1; i < s->n; i++)
        if (s->t[i] >= x)
            return s->t[i] > s->t[i - 1]
                       ? s->v[i - 1] + (s->v[i] - s->v[i - 1]) * (x - s->t[i - 1]) / (s->t[i] - s->t[i - 1])
                       : s->v[i];
    return s->v[s->n - 1];
}

/* The time of the specimen's "preheat_done" event in s from t0 (−∞ when there is none). */
static double preheat_end(struct pd_run *run, size_t s, int64_t t0)
{
    for (size_t i = 0; i < pd_run_event_count(run, s); i++) {
        int64_t t;
        const char *kind, *text;
        if (pd_run_event(run, s, i, &t, &kind, &text) == 0 && kind && strcmp(kind, "preheat_done") == 0)
            return (double)(t - t0) * 1e-9;
    }
    return -INFINITY;
}

/* Barrel temperature over [from, to]: RMS and largest deviation from the set point. */
static void temperature_deviation(const struct series *temp, double setpoint, double from, double to, double *rms,
                                  double *max_dev, size_t *count)
{
    double ss = 0, mx = 0;
    size_t m = 0;
    for (size_t i = 0; i < temp->n; i++) {
        if (temp->t[i] < from || temp->t[i] > to || !isfinite(temp->v[i]))
            continue;
        double d = temp->v[i] - setpoint;
        ss += d * d;
        mx = fabs(d) > mx ? fabs(d) : mx;
        m++;
    }
    *rms = m ? sqrt(ss / (double)m) : NAN;
    *max_dev = m ? mx : NAN;
    *count = m;
}

struct mfr_ctx {
    struct pd_run *run;
    size_t s;
    const struct pd_method_def *def;
    struct cert_values *out;
    struct series piston, temp; /* n = 0 when not recorded */
    double start_height;        /* NaN: unknown */
    double setpoint;            /* NaN: unknown */
    double t_preheat;
    int64_t t0;
    bool ok; /* JSON insertions */
};

static void note(struct mfr_ctx *c, const char *key, json_t *v)
{
    cert_jset(c->out->info, key, v, &c->ok);
}

static void warn(struct mfr_ctx *c, const char *text)
{
    json_t *w = json_object_get(c->out->info, "warnings");
    if (!w) {
        w = json_array();
        note(c, "warnings", w);
    }
    if (w)
        cert_jappend(w, cert_jstr(text), &c->ok);
}

/* {k1: v1, k2: v2[, k3: v3]} for the evaluation details. */
static json_t *entry(const char *k1, double v1, const char *k2, double v2, const char *k3, double v3, bool *ok)
{
    json_t *o = json_object();
    if (!o) {
        *ok = false;
        return NULL;
    }
    cert_jset(o, k1, cert_jreal(v1), ok);
    cert_jset(o, k2, cert_jreal(v2), ok);
    if (k3)
        cert_jset(o, k3, cert_jreal(v3), ok);
    return o;
}

/* Barrel temperature deviation over [from, to] for the budget (0 and a note when there is no record). */
static double temperature_term(struct mfr_ctx *c, double from, double to, const char *prefix)
{
    char key[64];
    double rms = NAN, mx = NAN;
    size_t m = 0;
    if (c->temp.n && isfinite(c->setpoint))
        temperature_deviation(&c->temp, c->setpoint, from, to, &rms, &mx, &m);
    snprintf(key, sizeof key, "%s_temperature_rms_deviation_K", prefix);
    note(c, key, m ? cert_jreal(rms) : json_null());
    snprintf(key, sizeof key, "%s_temperature_max_deviation_K", prefix);
    note(c, key, m ? cert_jreal(mx) : json_null());
    if (!m) {
        char w[160];
        cert_say(w, sizeof w,
                 "%s: no barrel temperature record over the measuring time: the budget uses the "
                 "method's temperature half-width only",
                 prefix);
        warn(c, w);
        return 0.0;
    }
    double tol = c->def->uncertainty.input[PD_U_TEMPERATURE];
    if (tol > 0.0 && mx > tol) {
        char w[160];
        cert_say(w, sizeof w, "%s: barrel temperature deviated up to %.2f K from the set point (half-width %.2f K)",
                 prefix, mx, tol);
        warn(c, w);
    }
    return rms;
}

/* The scatter of the cut-offs' own rates: s(600·m_k/t_k)/√n, the type A term of their mean. */
static double cut_off_scatter(const struct pd_mfr_cuts *mc)
{
    if (mc->n < 2)
        return 0.0;
    double mean = 0, ss = 0;
    for (size_t k = 0; k < mc->n; k++)
        mean += THETA_REF_S * mc->mass_g[k] / interval_of_pair(mc, k);
    mean /= (double)mc->n;
    for (size_t k = 0; k < mc->n; k++) {
        double d = THETA_REF_S * mc->mass_g[k] / interval_of_pair(mc, k) - mean;
        ss += d * d;
    }
    return sqrt(ss / (double)(mc->n - 1) / (double)mc->n);
}

/* Procedure A. Returns 0 (MFR set, or *why says why not), or PD_ENOMEM. */
static int evaluate_mfr(struct mfr_ctx *c, char *why, size_t wsize)
{
    const struct pd_method_def *def = c->def;
    struct series mass = {0}, cuts = {0};
    double *cut_s = NULL, *cut_hw = NULL, *pm = NULL, *stable = NULL;
    size_t *of = NULL, *pi = NULL;
    int rc = read_series(c->run, c->s, def, "mass", c->t0, &mass, why, wsize);
    size_t inst, idx;
    bool have_cuts = pd_run_find_channel(c->run, "cutoffs", &inst, &idx) == 0;
    if (rc < 0)
        goto done;
    double nominal = NAN;
    if (pd_run_specimen_attr_double(c->run, c->s, "cut_interval", &nominal) < 0)
        nominal = NAN;
    size_t min_cuts = (size_t)pd_method_param(def, "min_cuts");
    bool discard = pd_method_param(def, "discard_first") == 1.0;
    double coeff = pd_method_param(def, "temperature_coefficient");
    struct pd_err e = {0};
    double v, spread, u, u_a;
    if (!have_cuts) {
        if (pd_method_param(def, "nominal_interval") != 1.0) {
            cert_say(why, wsize,
                     "mfr: the run records no cut-off times (no 'cutoffs' channel), so the masses cannot be "
                     "paired with their intervals (a method variant with nominal_interval: true uses "
                     "the nominal cut_interval)");
            goto done;
        }
        if (!(nominal > 0.0)) {
            cert_say(why, wsize, "mfr: no cut_interval recorded for the specimen");
            goto done;
        }
        size_t skip = discard && mass.n > 0 ? 1 : 0;
        struct pd_mfr_cuts mc = {.interval_s = nominal, .mass_g = mass.v + skip, .n = mass.n - skip};
        if (pd_mfr_evaluate_cuts(&mc, min_cuts, pd_method_param(def, "max_spread"), &v, &spread, &e) < 0) {
            cert_say(why, wsize, "%s", e.msg);
            goto done;
        }
        double rms = temperature_term(c, -INFINITY, INFINITY, "mfr");
        u = pd_mfr_uncertainty(&mc, v, &def->uncertainty, coeff, rms);
        u_a = cut_off_scatter(&mc);
        note(c, "cut_interval_s", cert_jreal(nominal));
        note(c, "interval_source", cert_jstr("nominal (the run records no cut-off times)"));
        note(c, "cut_offs", json_integer((json_int_t)mc.n));
        goto result;
    }
    /* Cut-off times: where the instrument's cut-off count steps up after preheat, at the middle of the
     * sampling gap the step fell in (half-width: half the gap). The first such cut opens the first
     * interval. */
    if ((rc = read_series(c->run, c->s, def, "cutoffs", c->t0, &cuts, why, wsize)) < 0)
        goto done;
    cut_s = malloc((cuts.n ? cuts.n : 1) * sizeof *cut_s);
    cut_hw = malloc((cuts.n ? cuts.n : 1) * sizeof *cut_hw);
    of = malloc((mass.n ? mass.n : 1) * sizeof *of);
    pm = malloc((mass.n ? mass.n : 1) * sizeof *pm);
    pi = malloc((mass.n ? mass.n : 1) * sizeof *pi);
    if (!cut_s || !cut_hw || !of || !pm || !pi) {
        rc = PD_ENOMEM;
        goto done;
    }
    size_t n_cuts = 0;
    for (size_t i = 1; i < cuts.n; i++) {
        double step = cuts.v[i] - cuts.v[i - 1];
        if (!(step > 0.0) || cuts.t[i] <= c->t_preheat)
            continue;
        if (step > 1.0) {
            cert_say(why, wsize,
                     "mfr: the cut-off count jumped from %g to %g between the readings at %.2f and %.2f s: "
                     "those cut times are unknown",
                     cuts.v[i - 1], cuts.v[i], cuts.t[i - 1], cuts.t[i]);
            goto done;
        }
        cut_s[n_cuts] = 0.5 * (cuts.t[i] + cuts.t[i - 1]);
        cut_hw[n_cuts++] = 0.5 * (cuts.t[i] - cuts.t[i - 1]);
    }
    if (n_cuts < 2) {
        cert_say(why, wsize, "mfr: %zu cut-off%s recorded after preheat: no complete cut-off interval", n_cuts,
                 n_cuts == 1 ? "" : "s");
        goto done;
    }
    /* weighings before preheat ended belong to no interval either (FIFO pairing leaves them out) */
    size_t n_pairs = 0;
    if (pd_mfr_pair(cut_s, n_cuts, mass.t, mass.n, of, &n_pairs, &e) < 0) {
        cert_say(why, wsize, "%s", e.msg);
        goto done;
    }
    /* Only intervals wholly within the measuring window count (when the piston says where it was). */
    bool window_known = c->piston.n > 0 && isfinite(c->start_height);
    double top = pd_method_param(def, "window_top"), bottom = pd_method_param(def, "window_bottom");
    if (window_known && !(top > bottom)) {
        cert_say(why, wsize, "mfr: the method's window_top %g mm is not above its window_bottom %g mm", top, bottom);
        goto done;
    }
    /* A balance reading marked dynamic (not stable) took its piece's interval but is no mass to use. */
    size_t n_stable = 0, stable_inst = SIZE_MAX;
    if (pd_run_find_channel(c->run, "stable", &stable_inst, &idx) == 0 && stable_inst == mass.inst &&
        (rc = cert_read_channel(c->run, c->s, def, "stable", &stable, &n_stable, NULL, why, wsize)) < 0)
        goto done;
    if (stable && n_stable != mass.n) {
        free(stable);
        stable = NULL;
    }
    size_t n = 0, outside = 0, unpaired = 0, dynamic = 0;
    json_t *unp = json_array(), *outw = json_array(), *dyn = json_array();
    for (size_t j = 0; j < mass.n; j++) {
        if (of[j] == SIZE_MAX) {
            unpaired++;
            cert_jappend(unp, entry("mass_g", mass.v[j], "time_s", mass.t[j], NULL, 0, &c->ok), &c->ok);
            continue;
        }
        if (stable && stable[j] == 0.0) {
            dynamic++;
            cert_jappend(dyn, entry("mass_g", mass.v[j], "time_s", mass.t[j], NULL, 0, &c->ok), &c->ok);
            continue;
        }
        if (window_known) {
            double h_start = c->start_height - series_at(&c->piston, cut_s[of[j]]);
            double h_end = c->start_height - series_at(&c->piston, cut_s[of[j] + 1]);
            if (!(h_start <= top && h_end >= bottom)) {
                outside++;
                cert_jappend(outw, entry("mass_g", mass.v[j], "from_mm", h_start, "to_mm", h_end, &c->ok), &c->ok);
                continue;
            }
        }
        pm[n] = mass.v[j];
        pi[n++] = of[j];
    }
    note(c, "cut_offs_recorded", json_integer((json_int_t)n_cuts));
    note(c, "weighings", json_integer((json_int_t)mass.n));
    note(c, "unpaired_weighings", unp);
    note(c, "intervals_without_weighing", json_integer((json_int_t)(n_cuts - 1 - n_pairs)));
    note(c, "outside_window", outw);
    note(c, "dynamic_weighings", dyn);
    if (dynamic) {
        char w[160];
        cert_say(w, sizeof w, "mfr: %zu weighing%s not stable (dynamic reading): %s interval not used", dynamic,
                 dynamic == 1 ? " was" : "s were", dynamic == 1 ? "its" : "their");
        warn(c, w);
    }
    note(c, "window_checked", json_boolean(window_known));
    if (unpaired) {
        char w[200];
        cert_say(w, sizeof w,
                 "mfr: %zu of %zu weighings had no cut-off interval of their own (weighed before their "
                 "piece was cut, or pieces too many) and are not used",
                 unpaired, mass.n);
        warn(c, w);
    }
    if (!window_known && c->piston.n == 0)
        warn(c, "mfr: no piston record: the cut-offs cannot be checked against the measuring window");
    else if (!window_known)
        warn(c, "mfr: no piston_start_height recorded: the cut-offs cannot be checked against the measuring window");
    size_t skip = discard && n > 0 ? 1 : 0;
    struct pd_mfr_cuts mc = {.cut_s = cut_s,
                             .cut_half_width_s = cut_hw,
                             .n_cuts = n_cuts,
                             .mass_g = pm + skip,
                             .interval = pi + skip,
                             .n = n - skip};
    if (pd_mfr_evaluate_cuts(&mc, min_cuts, pd_method_param(def, "max_spread"), &v, &spread, &e) < 0) {
        cert_say(why, wsize,
                 "%s (%zu weighings, %zu cut-offs recorded after preheat, %zu paired, %zu outside the "
                 "measuring window)",
                 e.msg, mass.n, n_cuts, n_pairs, outside);
        goto done;
    }
    double from = cut_s[mc.interval[0]], to = cut_s[mc.interval[mc.n - 1] + 1];
    double rms = temperature_term(c, from, to, "mfr");
    u = pd_mfr_uncertainty(&mc, v, &def->uncertainty, coeff, rms);
    u_a = cut_off_scatter(&mc);
    json_t *iv = json_array(), *ms = json_array();
    for (size_t k = 0; k < mc.n; k++) {
        cert_jappend(iv, cert_jreal(cut_s[mc.interval[k] + 1] - cut_s[mc.interval[k]]), &c->ok);
        cert_jappend(ms, cert_jreal(mc.mass_g[k]), &c->ok);
    }
    note(c, "interval_source", cert_jstr("measured (cut-off count steps)"));
    note(c, "cut_offs", json_integer((json_int_t)mc.n));
    note(c, "cut_intervals_s", iv);
    note(c, "cut_masses_g", ms);
    if (isfinite(nominal))
        note(c, "cut_interval_s", cert_jreal(nominal));
result:
    c->out->has[P_MFR] = true;
    c->out->value[P_MFR] = v;
    c->out->u_extra[P_MFR] = sqrt(u * u + u_a * u_a);
    note(c, "cut_off_spread_percent", cert_jreal(spread * 100));
    note(c, "mfr_u_budget", cert_jreal(u));
    note(c, "mfr_u_cut_off_scatter", cert_jreal(u_a));
    note(c, "mfr_u_standard", cert_jreal(c->out->u_extra[P_MFR]));
    rc = 0;
done:
    series_free(&mass);
    series_free(&cuts);
    free(stable);
    free(cut_s);
    free(cut_hw);
    free(of);
    free(pm);
    free(pi);
    return rc == PD_ENOMEM ? rc : 0;
}

/* Procedure B. Returns 0 (MVR set, or *why says why not), or PD_ENOMEM. */
static int evaluate_mvr(struct mfr_ctx *c, char *why, size_t wsize)
{
    if (!isfinite(c->start_height)) {
        cert_say(why, wsize,
                 "mvr: no piston_start_height recorded for the specimen: the ISO 1133 measuring window "
                 "(%g–%g mm above the die) cannot be placed on the piston travel",
                 pd_method_param(c->def, "window_top"), pd_method_param(c->def, "window_bottom"));
        return 0;
    }
    struct pd_mvr_window w;
    struct pd_err e = {0};
    int rc = pd_mvr_evaluate_window(c->piston.t, c->piston.v, c->piston.n, c->start_height,
                                    pd_method_param(c->def, "window_top"), pd_method_param(c->def, "window_bottom"),
                                    pd_method_param(c->def, "area_cm2"), MVR_MIN_POINTS, &w, &e);
    if (rc == PD_ENOMEM)
        return rc;
    if (rc < 0) {
        cert_say(why, wsize, "%s", e.msg);
        return 0;
    }
    double rms = temperature_term(c, w.t_from, w.t_to, "mvr");
    double u = pd_mvr_uncertainty(w.mvr, w.slope_rel_se, &c->def->uncertainty,
                                  pd_method_param(c->def, "temperature_coefficient"), rms);
    c->out->has[P_MVR] = true;
    c->out->value[P_MVR] = w.mvr;
    c->out->u_extra[P_MVR] = u;
    note(c, "mvr_points", json_integer((json_int_t)w.points));
    note(c, "mvr_travel_mm", cert_jreal(w.travel_mm));
    note(c, "mvr_time_s", cert_jreal(w.t_to - w.t_from));
    note(c, "mvr_slope_relative_se", cert_jreal(w.slope_rel_se));
    note(c, "mvr_u_standard", cert_jreal(u));
    return 0;
}

static int evaluate(struct pd_run *run, size_t s, const struct pd_method_def *def, struct cert_values *out,
                    bool *evaluated, char *reason, size_t rsize)
{
    size_t inst, idx;
    bool have_mass = pd_run_find_channel(run, "mass", &inst, &idx) == 0;
    bool have_piston = pd_run_find_channel(run, "piston", &inst, &idx) == 0;
    bool have_temp = pd_run_find_channel(run, "temperature", &inst, &idx) == 0;
    if (!have_mass && !have_piston) {
        cert_say(reason, rsize, "the run has neither a 'mass' (procedure A) nor a 'piston' (procedure B) channel");
        return 0;
    }
    out->info = json_object();
    if (!out->info)
        return PD_ENOMEM;
    struct mfr_ctx c = {.run = run, .s = s, .def = def, .out = out, .start_height = NAN, .setpoint = NAN, .ok = true};
    int rc = 0;
    /* one time origin for every instrument of the specimen: the piston's (or the mass's) first sample */
    char why_a[400] = "", why_b[400] = "", why_t[300] = "";
    if (have_piston &&
        (rc = read_series(run, s, def, "piston", INT64_MIN, &c.piston, why_b, sizeof why_b)) == PD_ENOMEM)
        goto out;
    c.t0 = c.piston.n ? c.piston.t0 : INT64_MIN;
    if (c.t0 == INT64_MIN && have_mass) {
        struct series m = {0};
        if ((rc = read_series(run, s, def, "mass", INT64_MIN, &m, why_a, sizeof why_a)) == PD_ENOMEM)
            goto out;
        c.t0 = m.n ? m.t0 : 0;
        series_free(&m);
        why_a[0] = '\0'; /* read again, with its reason, by evaluate_mfr */
    }
    if (have_temp && (rc = read_series(run, s, def, "temperature", c.t0, &c.temp, why_t, sizeof why_t)) == PD_ENOMEM)
        goto out;
    if (why_t[0])
        warn(&c, why_t);
    if (pd_run_specimen_attr_double(run, s, "piston_start_height", &c.start_height) < 0 || !(c.start_height > 0.0))
        c.start_height = NAN;
    if (pd_run_specimen_attr_double(run, s, "temperature", &c.setpoint) < 0 || !isfinite(c.setpoint))
        c.setpoint = NAN;
    c.t_preheat = preheat_end(run, s, c.t0);
    if (have_mass && (rc = evaluate_mfr(&c, why_a, sizeof why_a)) < 0)
        goto out;
    if (have_piston && !why_b[0] && (rc = evaluate_mvr(&c, why_b, sizeof why_b)) < 0)
        goto out;
    if (why_a[0])
        note(&c, "mfr_not_evaluated", cert_jstr(why_a));
    if (why_b[0])
        note(&c, "mvr_not_evaluated", cert_jstr(why_b));
    if (out->has[P_MFR] && out->has[P_MVR])
        note(&c, "melt_density_g_cm3", cert_jreal(out->value[P_MFR] / out->value[P_MVR])); /* MFR = MVR·ρm */
    if (!out->has[P_MFR] && !out->has[P_MVR])
        cert_say(reason, rsize, "%s%s%s", why_a, why_a[0] && why_b[0] ? "; " : "", why_b);
    else
        *evaluated = true;
    rc = c.ok ? 0 : PD_ENOMEM;
out:
    series_free(&c.piston);
    series_free(&c.temp);
    return rc == PD_ENOMEM ? rc : 0;
}

static size_t deviations(const struct pd_method_def *def, char (*out)[CERT_DEVIATION_LEN], size_t max)
{
    size_t n = 0;
    if (n < max && pd_method_param(def, "nominal_interval") == 1.0)
        cert_say(out[n++], CERT_DEVIATION_LEN,
                 "MFR from the nominal cut-off interval where the run records no "
                 "cut-off times");
    if (n < max && (pd_method_param(def, "window_top") != 50.0 || pd_method_param(def, "window_bottom") != 20.0))
        cert_say(out[n++], CERT_DEVIATION_LEN, "measuring window %g–%g mm above the die instead of 50–20 mm",
                 pd_method_param(def, "window_top"), pd_method_param(def, "window_bottom"));
    return n;
}

const struct cert_method cert_method_iso1133 = {
    .id = "iso1133",
    .title = "Melt mass-flow rate and melt volume-flow rate",
    .standard = "ISO 1133-1:2011",
    .conditioning = "conditions per material (e.g. PP 230 °C / 2.16 kg)",
    .specimens = 1,
    .channels = channels,
    .n_channels = sizeof channels / sizeof channels[0],
    .props = props,
    .n_props = P_COUNT,
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    /* Balance weighing to 1 mg: ±1 mg per cut-off (resolution and calibration); timer ±0.2 %; piston
     * transducer ±0.5 %; area ±0.15 % (bores 9.550 ± 0.007 and 9.474 ± 0.007 mm); barrel temperature
     * ±0.5 K (ISO 1133 tolerance at the die region). See docs/CERTIFICATES.md §5. */
    .budget = {.k = 2.0,
               .input = {[PD_U_MASS_ABS] = 1.0,
                         [PD_U_TIME] = 0.2,
                         [PD_U_DISPLACEMENT] = 0.5,
                         [PD_U_AREA] = 0.15,
                         [PD_U_TEMPERATURE] = 0.5},
               .repeatability = true},
    .evaluate = evaluate,
    .deviations = deviations,
};
