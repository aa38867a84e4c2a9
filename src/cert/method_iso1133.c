/* method_iso1133.c — ISO 1133-1 melt mass-flow rate (procedure A, cut-offs) and melt volume-flow rate (procedure B, piston travel). */
#include <math.h>
#include <stdlib.h>

#include "cert/cert_internal.h"
#include "store/store.h"

#define THETA_REF_S 600.0 /* MFR/MVR are per 10 min */

int pd_mfr_evaluate(const double *mass_g, size_t n, double interval_s, size_t min_cuts, double max_spread,
                    double *mfr, double *spread, struct pd_err *err)
{
    if (!mfr || !spread || (n > 0 && !mass_g))
        return pd_err_set(err, PD_EINVAL, NULL, "mfr: missing data or output");
    if (!(interval_s > 0.0 && isfinite(interval_s)))
        return pd_err_set(err, PD_EDATA, NULL, "mfr: cut-off interval %g s must be positive", interval_s);
    if (n < min_cuts || n == 0)
        return pd_err_set(err, PD_EDATA, NULL, "mfr: %zu cut-offs, at least %zu needed", n, min_cuts);
    double sum = 0, lo = mass_g[0], hi = mass_g[0];
    for (size_t i = 0; i < n; i++) {
        if (!(isfinite(mass_g[i]) && mass_g[i] > 0.0))
            return pd_err_set(err, PD_EDATA, NULL, "mfr: cut-off %zu mass %g g is not a positive number", i, mass_g[i]);
        sum += mass_g[i];
        lo = mass_g[i] < lo ? mass_g[i] : lo;
        hi = mass_g[i] > hi ? mass_g[i] : hi;
    }
    double mean = sum / (double)n, sp = (hi - lo) / mean;
    if (sp > max_spread)
        return pd_err_set(err, PD_EDATA, NULL,
                          "mfr: cut-off masses spread %.1f %% of their mean, above %.0f %%: repeat with fresh material",
                          sp * 100, max_spread * 100);
    *mfr = THETA_REF_S * mean / interval_s;
    *spread = sp;
    return 0;
}

int pd_mvr_evaluate(const double *time_s, const double *position_mm, size_t n, double area_cm2, double *mvr,
                    struct pd_err *err)
{
    if (!mvr || (n > 0 && (!time_s || !position_mm)))
        return pd_err_set(err, PD_EINVAL, NULL, "mvr: missing data or output");
    if (n < 2 || !(area_cm2 > 0.0))
        return pd_err_set(err, PD_EDATA, NULL, "mvr: %zu piston samples (need >= 2), area %g cm²", n, area_cm2);
    double tm = 0, pm = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(time_s[i]) || !isfinite(position_mm[i]))
            return pd_err_set(err, PD_EDATA, NULL, "mvr: sample %zu is not a finite number", i);
        tm += time_s[i];
        pm += position_mm[i];
    }
    tm /= (double)n;
    pm /= (double)n;
    double stt = 0, stp = 0;
    for (size_t i = 0; i < n; i++) {
        stt += (time_s[i] - tm) * (time_s[i] - tm);
        stp += (time_s[i] - tm) * (position_mm[i] - pm);
    }
    if (!(stt > 0.0))
        return pd_err_set(err, PD_EDATA, NULL, "mvr: time does not advance");
    double speed_cm_s = fabs(stp / stt) / 10.0; /* the piston moves down: travel is the magnitude */
    *mvr = area_cm2 * THETA_REF_S * speed_cm_s;
    return 0;
}

enum { P_MFR, P_MVR, P_COUNT };
static const struct pd_cert_property props[P_COUNT] = {
    [P_MFR] = {"mfr", "g/10 min", 1.0, "MFR", {[PD_U_MASS] = 1, [PD_U_TIME] = 1}},
    [P_MVR] = {"mvr", "cm³/10 min", 1.0, "MVR", {[PD_U_DISPLACEMENT] = 1, [PD_U_TIME] = 1}},
};
static const struct cert_param_spec params[] = {
    {"area_cm2", 0.711, 0.1, 10, false, NULL, "mean of piston and barrel cross-sections A"},
    {"max_spread", 0.15, 0.0, 1.0, false, NULL, "largest (max − min)/mean of the cut-off masses"},
    {"min_cuts", 3, 1, 100, false, NULL, "cut-offs required"},
    {"discard_first", 0, 0, 0, true, NULL, "drop the first cut-off after preheat"},
};
static const struct pd_method_channel channels[] = {{"mass", "g"}, {"piston", "mm"}};

static int evaluate(struct pd_run *run, size_t s, const struct pd_method_def *def, struct cert_values *out,
                    bool *evaluated, char *reason, size_t rsize)
{
    bool ok = true;
    size_t inst;
    out->info = json_object();
    bool have_mass = pd_run_find_channel(run, "mass", &inst, &inst) == 0;
    bool have_piston = pd_run_find_channel(run, "piston", &inst, &inst) == 0;
    if (!have_mass && !have_piston) {
        cert_say(reason, rsize, "the run has neither a 'mass' (procedure A) nor a 'piston' (procedure B) channel");
        return 0;
    }
    if (have_mass) {
        double interval, *m = NULL, v, spread;
        size_t n = 0;
        if (cert_attr_positive(run, s, "cut_interval", &interval, reason, rsize) < 0)
            return 0;
        int rc = cert_read_channel(run, s, def, "mass", &m, &n, NULL, reason, rsize);
        if (rc < 0)
            return rc == PD_ENOMEM ? rc : 0;
        size_t skip = pd_method_param(def, "discard_first") == 1.0 && n > 0 ? 1 : 0;
        struct pd_err e = {0};
        rc = pd_mfr_evaluate(m + skip, n - skip, interval, (size_t)pd_method_param(def, "min_cuts"),
                             pd_method_param(def, "max_spread"), &v, &spread, &e);
        free(m);
        if (rc < 0) {
            cert_say(reason, rsize, "%s", e.msg);
            return 0;
        }
        out->has[P_MFR] = true;
        out->value[P_MFR] = v;
        cert_jset(out->info, "cut_offs", json_integer((json_int_t)(n - skip)), &ok);
        cert_jset(out->info, "cut_off_spread_percent", cert_jreal(spread * 100), &ok);
        cert_jset(out->info, "cut_interval_s", cert_jreal(interval), &ok);
    }
    if (have_piston) {
        double *pos = NULL;
        int64_t *t = NULL;
        size_t n = 0, nt = 0;
        int rc = cert_read_channel(run, s, def, "piston", &pos, &n, &inst, reason, rsize);
        if (rc < 0)
            return rc == PD_ENOMEM ? rc : 0;
        struct pd_err e = {0};
        rc = pd_run_read_time(run, s, inst, &t, &nt, &e);
        double *ts = rc == 0 && nt == n ? malloc((n ? n : 1) * sizeof *ts) : NULL;
        double v = NAN;
        if (ts) {
            for (size_t i = 0; i < n; i++)
                ts[i] = (double)(t[i] - t[0]) * 1e-9;
            rc = pd_mvr_evaluate(ts, pos, n, pd_method_param(def, "area_cm2"), &v, &e);
        } else if (rc == 0) {
            rc = pd_err_set(&e, PD_EDATA, NULL, "piston and time lengths differ");
        }
        free(ts);
        free(t);
        free(pos);
        if (rc < 0) {
            cert_say(reason, rsize, "%s", e.msg);
            return 0;
        }
        out->has[P_MVR] = true;
        out->value[P_MVR] = v;
    }
    *evaluated = true;
    return ok ? 0 : PD_ENOMEM;
}

const struct cert_method cert_method_iso1133 = {
    .id = "iso1133",
    .title = "Melt mass-flow rate and melt volume-flow rate",
    .standard = "ISO 1133-1:2011",
    .conditioning = "conditions per material (e.g. PP 230 °C / 2.16 kg)",
    .specimens = 1,
    .channels = channels,
    .n_channels = 2,
    .props = props,
    .n_props = P_COUNT,
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .budget = {.k = 2.0, .input = {[PD_U_MASS] = 0.5, [PD_U_TIME] = 0.2, [PD_U_DISPLACEMENT] = 0.5},
               .repeatability = true},
    .evaluate = evaluate,
};
