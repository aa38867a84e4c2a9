/* method_iso179.c — ISO 179-1 Charpy impact strength (non-instrumented): acU / acN from absorbed energy, break types. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert_internal.h"
#include "store/store.h"

int pd_break_type_parse(const char *s)
{
    static const char letters[] = "CHPN";
    if (!s || strlen(s) != 1)
        return -1;
    const char *p = strchr(letters, s[0]);
    return p && *p ? (int)(p - letters) : -1;
}

int pd_charpy_evaluate(double energy_J, double loss_J, double thickness_mm, double width_mm, double nominal_J,
                       double energy_min, double energy_max, double *impact_kJ_m2, struct pd_err *err)
{
    if (!impact_kJ_m2)
        return pd_err_set(err, PD_EINVAL, NULL, "charpy: missing output");
    if (!(isfinite(energy_J) && isfinite(loss_J) && loss_J >= 0.0))
        return pd_err_set(err, PD_EDATA, NULL, "charpy: energy %g J / loss %g J not usable", energy_J, loss_J);
    if (!(thickness_mm > 0.0 && width_mm > 0.0 && isfinite(thickness_mm) && isfinite(width_mm)))
        return pd_err_set(err, PD_EDATA, NULL, "charpy: h = %g mm and b = %g mm must be positive", thickness_mm,
                          width_mm);
    if (!(energy_J > loss_J))
        return pd_err_set(err, PD_EDATA, NULL, "charpy: absorbed energy %g J not above the friction loss %g J",
                          energy_J, loss_J);
    if (nominal_J > 0.0 && (energy_J < energy_min * nominal_J || energy_J > energy_max * nominal_J))
        return pd_err_set(err, PD_EDATA, NULL,
                          "charpy: %g J is %.0f %% of the %g J pendulum, outside %.0f–%.0f %%: use another pendulum",
                          energy_J, 100.0 * energy_J / nominal_J, nominal_J, energy_min * 100, energy_max * 100);
    *impact_kJ_m2 = (energy_J - loss_J) / (thickness_mm * width_mm) * 1e3;
    return 0;
}

static const struct pd_cert_property props[] = {
    {"charpy_impact_strength", "kJ/m²", 1.0, "acU/acN",
     {[PD_U_ENERGY] = 1, [PD_U_WIDTH] = 1, [PD_U_THICKNESS] = 1}},
};
static const struct cert_param_spec params[] = {
    {"energy_min", 0.10, 0.0, 1.0, false, NULL, "lowest usable share of the pendulum's energy"},
    {"energy_max", 0.80, 0.0, 1.0, false, NULL, "highest usable share of the pendulum's energy"},
};
static const struct pd_method_channel channels[] = {{"energy", "J"}};

static int evaluate(struct pd_run *run, size_t s, const struct pd_method_def *def, struct cert_values *out,
                    bool *evaluated, char *reason, size_t rsize)
{
    bool ok = true;
    double h = 0, b = 0, loss = 0, nominal = 0;
    const char *notch = pd_run_specimen_attr(run, s, "notch");
    bool notched = notch && notch[0] && strcmp(notch, "U") != 0 && strcmp(notch, "none") != 0;
    out->dimensions = json_object();
    if (cert_attr_positive(run, s, "thickness", &h, reason, rsize) < 0 ||
        cert_attr_positive(run, s, notched ? "notch_width" : "width", &b, reason, rsize) < 0)
        return 0;
    cert_jset(out->dimensions, "thickness_mm", cert_jreal(h), &ok);
    cert_jset(out->dimensions, notched ? "remaining_width_mm" : "width_mm", cert_jreal(b), &ok);
    cert_jset(out->dimensions, "notch", cert_jstr(notched ? notch : "none"), &ok);
    if (pd_run_specimen_attr_double(run, s, "friction_loss", &loss) < 0)
        loss = 0.0;
    if (pd_run_specimen_attr_double(run, s, "pendulum_energy", &nominal) < 0)
        nominal = 0.0;
    const char *bt = pd_run_specimen_attr(run, s, "break_type");
    int type = pd_break_type_parse(bt);
    if (type < 0) {
        cert_say(reason, rsize, "break type '%s' is not one of C, H, P, N", bt ? bt : "(none)");
        return 0;
    }
    double *w = NULL;
    size_t n = 0;
    int rc = cert_read_channel(run, s, def, "energy", &w, &n, NULL, reason, rsize);
    if (rc < 0)
        return rc == PD_ENOMEM ? rc : 0;
    if (n == 0) {
        free(w);
        cert_say(reason, rsize, "no energy reading");
        return 0;
    }
    double energy = w[n - 1]; /* the reading after the swing */
    free(w);
    out->info = json_object();
    cert_jset(out->info, "break_type", cert_jstr(bt), &ok);
    cert_jset(out->info, "absorbed_energy_J", cert_jreal(energy), &ok);
    cert_jset(out->info, "friction_loss_J", cert_jreal(loss), &ok);
    out->thickness_mm = h;
    out->width_mm = b;
    if (type == PD_BREAK_N || type == PD_BREAK_P) {
        /* C and H are averaged together; P is reported apart and N has no number ("NB"). */
        cert_jset(out->info, "reported", cert_jstr(type == PD_BREAK_N ? "NB (non-break)" : "partial break, not averaged"),
                  &ok);
        *evaluated = true;
        return ok ? 0 : PD_ENOMEM;
    }
    struct pd_err e = {0};
    double a;
    if (pd_charpy_evaluate(energy, loss, h, b, nominal, pd_method_param(def, "energy_min"),
                           pd_method_param(def, "energy_max"), &a, &e) < 0) {
        cert_say(reason, rsize, "%s", e.msg);
        return 0;
    }
    out->has[0] = true;
    out->value[0] = a;
    *evaluated = true;
    return ok ? 0 : PD_ENOMEM;
}

const struct cert_method cert_method_iso179 = {
    .id = "iso179",
    .title = "Charpy impact strength",
    .standard = "ISO 179-1:2010",
    .conditioning = "ISO 291: 23 °C / 50 % RH",
    .specimens = 10,
    .channels = channels,
    .n_channels = 1,
    .props = props,
    .n_props = 1,
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .budget = {.k = 2.0, .input = {[PD_U_ENERGY] = 1.0, [PD_U_WIDTH] = 0.02, [PD_U_THICKNESS] = 0.02},
               .repeatability = true},
    .evaluate = evaluate,
};
