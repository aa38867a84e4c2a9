/* method_iso1183.c — ISO 1183-1 method A density by immersion, with or without a sinker. */
#include <math.h>

#include "cert/cert_internal.h"
#include "store/store.h"

int pd_density_evaluate(double mass_in_air_g, double mass_in_liquid_g, double liquid_density, double sinker_in_liquid_g,
                        double both_in_liquid_g, double *density, struct pd_err *err)
{
    if (!density)
        return pd_err_set(err, PD_EINVAL, NULL, "density: missing output");
    if (!(isfinite(mass_in_air_g) && mass_in_air_g > 0.0 && isfinite(liquid_density) && liquid_density > 0.0))
        return pd_err_set(err, PD_EDATA, NULL, "density: mass in air %g g and liquid density %g g/cm³ must be positive",
                          mass_in_air_g, liquid_density);
    double denom;
    if (sinker_in_liquid_g > 0.0) {
        if (!isfinite(both_in_liquid_g))
            return pd_err_set(err, PD_EDATA, NULL, "density: sinker used but no mass of specimen + sinker immersed");
        denom = mass_in_air_g + sinker_in_liquid_g - both_in_liquid_g;
    } else {
        if (!isfinite(mass_in_liquid_g))
            return pd_err_set(err, PD_EDATA, NULL, "density: no immersed mass");
        denom = mass_in_air_g - mass_in_liquid_g;
    }
    if (!(denom > 0.0))
        return pd_err_set(err, PD_EDATA, NULL, "density: buoyancy %g g is not positive", denom);
    *density = mass_in_air_g * liquid_density / denom;
    return 0;
}

static const struct pd_cert_property props[] = {
    {"density", "g/cm³", 1.0, "ρ", {[PD_U_MASS] = 1, [PD_U_LIQUID_DENSITY] = 1}},
};
static const struct cert_param_spec params[] = {
    {"liquid_density", 0.99754, 0.5, 3.0, false, NULL, "immersion liquid density at test temperature when the run has none"},
};
static const struct pd_method_channel channels[] = {{"liquid_temperature", "°C"}};

static int evaluate(struct pd_run *run, size_t s, const struct pd_method_def *def, struct cert_values *out,
                    bool *evaluated, char *reason, size_t rsize)
{
    double air, liquid = NAN, rho_l, sinker = 0.0, both = NAN, rho;
    if (cert_attr_positive(run, s, "mass_in_air", &air, reason, rsize) < 0)
        return 0;
    if (pd_run_specimen_attr_double(run, s, "liquid_density", &rho_l) < 0)
        rho_l = pd_method_param(def, "liquid_density");
    if (pd_run_specimen_attr_double(run, s, "sinker_in_liquid", &sinker) < 0)
        sinker = 0.0;
    if (sinker > 0.0) {
        if (pd_run_specimen_attr_double(run, s, "both_in_liquid", &both) < 0)
            both = NAN;
    } else if (pd_run_specimen_attr_double(run, s, "mass_in_liquid", &liquid) < 0) {
        liquid = NAN;
    }
    struct pd_err e = {0};
    if (pd_density_evaluate(air, liquid, rho_l, sinker, both, &rho, &e) < 0) {
        cert_say(reason, rsize, "%s", e.msg);
        return 0;
    }
    bool ok = true;
    out->has[0] = true;
    out->value[0] = rho;
    out->info = json_object();
    cert_jset(out->info, "liquid_density", cert_jreal(rho_l), &ok);
    cert_jset(out->info, "sinker", json_boolean(sinker > 0.0), &ok);
    *evaluated = true;
    return ok ? 0 : PD_ENOMEM;
}

const struct cert_method cert_method_iso1183 = {
    .id = "iso1183",
    .title = "Density (immersion method)",
    .standard = "ISO 1183-1:2019 method A",
    .conditioning = "23 ± 2 °C",
    .specimens = 3,
    .channels = channels,
    .n_channels = 1,
    .props = props,
    .n_props = 1,
    .params = params,
    .n_params = 1,
    .budget = {.k = 2.0, .input = {[PD_U_MASS] = 0.01, [PD_U_LIQUID_DENSITY] = 0.01}, .repeatability = true},
    .evaluate = evaluate,
};
