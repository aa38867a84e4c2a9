/* method_iso178.c — ISO 178 flexural properties (3-point bending): evaluation of one specimen and its certification adapter. */
#include <math.h>
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
}

/* σ at exactly `target` strain, interpolated between the samples of the first upward crossing. */
static bool at_strain(const double *e, const double *s, size_t n, double target, double *out)
{
    for (size_t i = 0; i < n; i++) {
        if (e[i] >= target) {
            if (i == 0) {
                if (e[i] != target)
                    return false;
                *out = s[i];
            } else {
                *out = s[i - 1] + (target - e[i - 1]) / (e[i] - e[i - 1]) * (s[i] - s[i - 1]);
            }
            return true;
        }
    }
    return false;
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
    struct pd_flexural_result r = {.max_stress_MPa = NAN, .strain_at_max = NAN, .stress_at_break_MPa = NAN,
                                   .strain_at_break = NAN, .conventional_stress_MPa = NAN};
    int rc = 0;
    size_t in_range = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i] >= p->e1 && e[i] <= p->e2)
            in_range++;
    double s1, s2;
    if (e[0] > p->e1 || in_range < p->min_modulus_points || !at_strain(e, s, n, p->e1, &s1) ||
        !at_strain(e, s, n, p->e2, &s2)) {
        rc = pd_err_set(err, PD_EDATA, NULL, "flexural modulus range %.4g–%.4g %% not covered by >= %zu samples",
                        p->e1 * 100, p->e2 * 100, p->min_modulus_points);
    } else {
        r.modulus_MPa = (s2 - s1) / (p->e2 - p->e1);
        double e_conv = 6.0 * p->conventional_factor * h * h / (L * L); /* εf at sC = factor·h */
        size_t imax = 0;
        double smax = s[0];
        for (size_t i = 1; i < n; i++) {
            if (e[i] > e_conv && e[i - 1] <= e_conv && !r.has_maximum) {
                r.reached_conventional = true;
                at_strain(e, s, n, e_conv, &r.conventional_stress_MPa);
                break;
            }
            if (!r.has_maximum && s[i] > s[imax])
                imax = i; /* the first maximum only */
            if (s[i] > smax)
                smax = s[i];
            if (e[i - 1] > p->e2 && smax > 0.0 && s[i] <= p->break_fraction * smax) {
                r.has_break = true;
                r.stress_at_break_MPa = s[i - 1];
                r.strain_at_break = e[i - 1];
                r.has_maximum = true;
                break;
            }
            if (e[imax] > p->e2 && s[i] < s[imax] * (1.0 - p->max_hysteresis))
                r.has_maximum = true;
        }
        if (r.has_maximum) {
            r.max_stress_MPa = s[imax];
            r.strain_at_max = e[imax];
        }
        if (!isfinite(r.modulus_MPa) || r.modulus_MPa <= 0.0)
            rc = pd_err_set(err, PD_EDATA, NULL, "flexural modulus %g MPa is not positive", r.modulus_MPa);
    }
    free(e);
    free(s);
    if (rc == 0)
        *out = r;
    return rc;
}

enum { P_MODULUS, P_STRENGTH, P_STRAIN_AT_STRENGTH, P_STRESS_AT_BREAK, P_STRAIN_AT_BREAK, P_CONVENTIONAL, P_COUNT };
#define STRESS_SENS {[PD_U_FORCE] = 1, [PD_U_LENGTH] = 1, [PD_U_WIDTH] = 1, [PD_U_THICKNESS] = 2}
#define STRAIN_SENS {[PD_U_DISPLACEMENT] = 1, [PD_U_THICKNESS] = 1, [PD_U_LENGTH] = 2}
static const struct pd_cert_property props[P_COUNT] = {
    [P_MODULUS] = {"flexural_modulus", "MPa", 1.0, "Ef",
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
    struct pd_flexural_params p = {
        .e1 = pd_method_param(def, "e1"), .e2 = pd_method_param(def, "e2"),
        .conventional_factor = pd_method_param(def, "conventional_factor"),
        .break_fraction = pd_method_param(def, "break_fraction"), .max_hysteresis = pd_method_param(def, "max_hysteresis"),
        .min_modulus_points = (size_t)pd_method_param(def, "min_modulus_points"),
        .compliance_mm_per_N = pd_method_param(def, "compliance")};
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
    const double internal[P_COUNT] = {r.modulus_MPa, r.max_stress_MPa, r.strain_at_max, r.stress_at_break_MPa,
                                      r.strain_at_break, r.conventional_stress_MPa};
    for (size_t i = 0; i < P_COUNT; i++) {
        out->has[i] = isfinite(internal[i]);
        out->value[i] = internal[i] * props[i].scale;
    }
    out->width_mm = dims[0];
    out->thickness_mm = dims[1];
    out->length_mm = dims[2];
    out->info = json_object();
    cert_jset(out->info, "maximum_before_conventional_deflection", json_boolean(r.has_maximum), &ok);
    cert_jset(out->info, "break_detected", json_boolean(r.has_break), &ok);
    *evaluated = true;
    return ok ? 0 : PD_ENOMEM;
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
               .input = {[PD_U_FORCE] = 1.0, [PD_U_DISPLACEMENT] = 1.0, [PD_U_WIDTH] = 0.01, [PD_U_THICKNESS] = 0.01,
                         [PD_U_LENGTH] = 0.1},
               .repeatability = true},
    .evaluate = evaluate,
    .curve = curve,
};
