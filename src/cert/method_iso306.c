/* method_iso306.c — ISO 306 Vicat softening temperature: the temperature at 1 mm needle penetration. */
#include "cert/cert_internal.h"


static const struct pd_cert_property props[] = {
    {"vicat", "°C", 1.0, "VST", {[PD_U_TEMPERATURE] = 1}},
};
static const struct cert_param_spec params[] = {
    {"penetration", 1.0, 0.1, 5.0, false, NULL, "penetration depth defining the VST, mm"},
};
static const struct pd_method_channel channels[] = {{"temperature", "°C"}, {"penetration", "mm"}};

static int evaluate(struct pd_run *run, size_t s, const struct pd_method_def *def, struct cert_values *out,
                    bool *evaluated, char *reason, size_t rsize)
{
    return cert_threshold_evaluate(run, s, def, "penetration", pd_method_param(def, "penetration"), out, evaluated,
                                   reason, rsize);
}

static int curve(struct pd_run *run, size_t s, const struct pd_method_def *def, struct cert_curve *c)
{
    return cert_threshold_curve(run, s, def, "penetration", c);
}

const struct cert_method cert_method_iso306 = {
    .id = "iso306",
    .title = "Vicat softening temperature",
    .standard = "ISO 306:2022 method B50",
    .conditioning = "ISO 291: 23 °C / 50 % RH; heating 50 K/h",
    .specimens = 2,
    .channels = channels,
    .n_channels = 2,
    .props = props,
    .n_props = 1,
    .params = params,
    .n_params = 1,
    .budget = {.k = 2.0, .input = {[PD_U_TEMPERATURE] = 0.5}, .repeatability = true},
    .evaluate = evaluate,
    .curve = curve,
};
