/* method_iso75.c — ISO 75 heat deflection temperature, and the threshold-crossing evaluation it shares with ISO 306 Vicat. */
#include <math.h>
#include <stdlib.h>

#include "cert/cert_internal.h"
#include "store/store.h"

int pd_threshold_temperature(const double *temperature_C, const double *deflection_mm, size_t n, double threshold_mm,
                             double *temperature, struct pd_err *err)
{
    if (!temperature || (n > 0 && (!temperature_C || !deflection_mm)))
        return pd_err_set(err, PD_EINVAL, NULL, "threshold: missing data or output");
    if (n < 2 || !(threshold_mm > 0.0))
        return pd_err_set(err, PD_EDATA, NULL, "threshold: %zu samples (need >= 2), threshold %g mm", n, threshold_mm);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(temperature_C[i]) || !isfinite(deflection_mm[i]))
            return pd_err_set(err, PD_EDATA, NULL, "threshold: sample %zu is not a finite number", i);
    double zero = deflection_mm[0];
    for (size_t i = 1; i < n; i++) {
        double d0 = deflection_mm[i - 1] - zero, d1 = deflection_mm[i] - zero;
        if (d1 >= threshold_mm) {
            double f = d1 > d0 ? (threshold_mm - d0) / (d1 - d0) : 1.0;
            *temperature = temperature_C[i - 1] + f * (temperature_C[i] - temperature_C[i - 1]);
            return 0;
        }
    }
    return pd_err_set(err, PD_EDATA, NULL, "the deflection never reaches %g mm (largest %g mm)", threshold_mm,
                      deflection_mm[n - 1] - zero);
}

double pd_hdt_standard_deflection(double span_mm, double thickness_mm, double rounding_mm)
{
    double ds = 0.002 * span_mm * span_mm / (6.0 * thickness_mm);
    return rounding_mm > 0.0 ? round(ds / rounding_mm) * rounding_mm : ds;
}

/* Shared adapter: temperature and the named displacement channel, threshold from the caller. */
int cert_threshold_evaluate(struct pd_run *run, size_t s, const struct pd_method_def *def, const char *channel,
                            double threshold, struct cert_values *out, bool *evaluated, char *reason, size_t rsize)
{
    double *t = NULL, *d = NULL, v;
    size_t n = 0, nd = 0;
    int rc = cert_read_channel(run, s, def, "temperature", &t, &n, NULL, reason, rsize);
    if (rc == 0)
        rc = cert_read_channel(run, s, def, channel, &d, &nd, NULL, reason, rsize);
    if (rc == 0 && n != nd) {
        cert_say(reason, rsize, "%zu temperature samples but %zu %s samples", n, nd, channel);
        rc = PD_EDATA;
    }
    struct pd_err e = {0};
    if (rc == 0 && (rc = pd_threshold_temperature(t, d, n, threshold, &v, &e)) < 0)
        cert_say(reason, rsize, "%s", e.msg);
    free(t);
    free(d);
    if (rc < 0)
        return rc == PD_ENOMEM ? rc : 0;
    bool ok = true;
    out->has[0] = true;
    out->value[0] = v;
    out->info = json_object();
    cert_jset(out->info, "threshold_mm", cert_jreal(threshold), &ok);
    *evaluated = true;
    return ok ? 0 : PD_ENOMEM;
}

int cert_threshold_curve(struct pd_run *run, size_t s, const struct pd_method_def *def, const char *channel,
                         struct cert_curve *c)
{
    char reason[256];
    size_t n = 0, nd = 0;
    int rc = cert_read_channel(run, s, def, "temperature", &c->x, &n, NULL, reason, sizeof reason);
    if (rc == 0)
        rc = cert_read_channel(run, s, def, channel, &c->y, &nd, NULL, reason, sizeof reason);
    if (rc < 0 || n != nd) {
        cert_curve_free(c);
        return rc < 0 ? rc : PD_EDATA;
    }
    c->n = n;
    c->x_label = "temperature [°C]";
    c->y_label = "deflection / penetration [mm]";
    return 0;
}

static const struct pd_cert_property props[] = {
    {"hdt", "°C", 1.0, "Tf", {[PD_U_TEMPERATURE] = 1}},
};
static const struct cert_param_spec params[] = {
    {"flexural_strain_increase", 0.002, 0.0001, 0.01, false, NULL, "strain increase defining the standard deflection"},
    {"deflection_rounding", 0.01, 0.0, 0.1, false, NULL, "round Δs to this step in mm as tabulated (0 = none)"},
};
static const struct pd_method_channel channels[] = {{"temperature", "°C"}, {"deflection", "mm"}};

static int evaluate(struct pd_run *run, size_t s, const struct pd_method_def *def, struct cert_values *out,
                    bool *evaluated, char *reason, size_t rsize)
{
    double span, h;
    if (cert_attr_positive(run, s, "span", &span, reason, rsize) < 0 ||
        cert_attr_positive(run, s, "thickness", &h, reason, rsize) < 0)
        return 0;
    double ds = pd_method_param(def, "flexural_strain_increase") / 0.002 *
                pd_hdt_standard_deflection(span, h, 0.0);
    double step = pd_method_param(def, "deflection_rounding");
    if (step > 0.0)
        ds = round(ds / step) * step;
    return cert_threshold_evaluate(run, s, def, "deflection", ds, out, evaluated, reason, rsize);
}

static int curve(struct pd_run *run, size_t s, const struct pd_method_def *def, struct cert_curve *c)
{
    return cert_threshold_curve(run, s, def, "deflection", c);
}

const struct cert_method cert_method_iso75 = {
    .id = "iso75",
    .title = "Temperature of deflection under load (HDT)",
    .standard = "ISO 75-2:2013 method A (1.80 MPa)",
    .conditioning = "ISO 291: 23 °C / 50 % RH; heating 120 K/h",
    .specimens = 2,
    .channels = channels,
    .n_channels = 2,
    .props = props,
    .n_props = 1,
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .budget = {.k = 2.0, .input = {[PD_U_TEMPERATURE] = 0.5}, .repeatability = true},
    .evaluate = evaluate,
    .curve = curve,
};
