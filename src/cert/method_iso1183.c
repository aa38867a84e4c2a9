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

/* u of one weighing m: the balance's absolute half-width (mg) and its % of the reading, rectangular. */
static double weighing_u(const struct pd_uncertainty_budget *b, double m)
{
    double a_abs = b->input[PD_U_MASS_ABS] * 1e-3, a_rel = b->input[PD_U_MASS] / 100.0 * fabs(m);
    return sqrt(a_abs * a_abs + a_rel * a_rel) / sqrt(3.0);
}

int pd_density_uncertainty(double mass_in_air_g, double mass_in_liquid_g, double liquid_density,
                           double sinker_in_liquid_g, double both_in_liquid_g, const struct pd_uncertainty_budget *b,
                           double *u, struct pd_err *err)
{
    if (!b || !u)
        return pd_err_set(err, PD_EINVAL, NULL, "density uncertainty: missing budget or output");
    double rho;
    int rc = pd_density_evaluate(mass_in_air_g, mass_in_liquid_g, liquid_density, sinker_in_liquid_g,
                                 both_in_liquid_g, &rho, err);
    if (rc < 0)
        return rc;
    /* ρ = mA·ρIL/D with D = mA − mIL, or mA + mK,IL − mS+K,IL with a sinker. Partial derivatives:
     * ∂ρ/∂mA = ρ(1/mA − 1/D) (the relative −mIL/D of the independent check), ∂ρ/∂mIL = ρ/D;
     * with a sinker ∂ρ/∂mK,IL = −ρ/D and ∂ρ/∂mS+K,IL = +ρ/D. The weighings are at very different
     * loads, so their errors are taken as independent (for a pure span error they would cancel:
     * independent is the larger, safe case). */
    bool sinker = sinker_in_liquid_g > 0.0;
    double D = sinker ? mass_in_air_g + sinker_in_liquid_g - both_in_liquid_g : mass_in_air_g - mass_in_liquid_g;
    double c_air = rho * (1.0 / mass_in_air_g - 1.0 / D);
    double ua = c_air * weighing_u(b, mass_in_air_g), u2 = ua * ua;
    if (sinker) {
        double uk = rho / D * weighing_u(b, sinker_in_liquid_g), us = rho / D * weighing_u(b, both_in_liquid_g);
        u2 += uk * uk + us * us;
    } else {
        double ul = rho / D * weighing_u(b, mass_in_liquid_g);
        u2 += ul * ul;
    }
    double ur = rho * b->input[PD_U_LIQUID_DENSITY] / 100.0 / sqrt(3.0);
    *u = sqrt(u2 + ur * ur);
    return 0;
}

/* The whole budget is the method's own (pd_density_uncertainty into u_extra): its sensitivities
 * depend on the specimen's weighings, so none is a constant exponent here. */
static const struct pd_cert_property props[] = {
    {"density", "g/cm³", 1.0, "ρ", {0}},
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
    double u;
    if (pd_density_uncertainty(air, liquid, rho_l, sinker, both, &def->uncertainty, &u, &e) < 0) {
        cert_say(reason, rsize, "%s", e.msg);
        return 0;
    }
    bool ok = true;
    out->has[0] = true;
    out->value[0] = rho;
    out->u_extra[0] = u;
    out->info = json_object();
    cert_jset(out->info, "liquid_density", cert_jreal(rho_l), &ok);
    cert_jset(out->info, "sinker", json_boolean(sinker > 0.0), &ok);
    /* the relative sensitivity of ρ to the mass in air, as the budget used it (−mIL/(mA − mIL)) */
    double D = sinker > 0.0 ? air + sinker - both : air - liquid;
    cert_jset(out->info, "sensitivity_mass_in_air_relative", cert_jreal(1.0 - air / D), &ok);
    cert_jset(out->info, "u_standard", cert_jreal(u), &ok);
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
    /* Analytical balance d = 0.1 mg: ±0.5 mg per weighing (calibration error + uncertainty); water
     * density ±0.01 % (table value, ±0.4 K of the liquid temperature ≈ ±0.01 %). */
    .budget = {.k = 2.0, .input = {[PD_U_MASS_ABS] = 0.5, [PD_U_LIQUID_DENSITY] = 0.01}, .repeatability = true},
    .evaluate = evaluate,
};
