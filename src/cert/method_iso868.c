/* method_iso868.c — ISO 868 Shore A/D durometer hardness: mean of the readings taken at the standard dwell time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert_internal.h"
#include "store/store.h"

int pd_shore_evaluate(const double *reading, const double *dwell_s, size_t n, double dwell_target_s,
                      double tolerance_s, size_t min_readings, double *mean, size_t *used, struct pd_err *err)
{
    if (!mean || !used || (n > 0 && (!reading || !dwell_s)))
        return pd_err_set(err, PD_EINVAL, NULL, "shore: missing data or output");
    double sum = 0.0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(isfinite(reading[i]) && reading[i] >= 0.0 && reading[i] <= 100.0))
            return pd_err_set(err, PD_EDATA, NULL, "shore: reading %zu = %g is outside 0..100", i, reading[i]);
        if (isfinite(dwell_s[i]) && fabs(dwell_s[i] - dwell_target_s) <= tolerance_s) {
            sum += reading[i];
            k++;
        }
    }
    if (k < min_readings || k == 0)
        return pd_err_set(err, PD_EDATA, NULL, "shore: %zu readings at %g ± %g s dwell, at least %zu needed", k,
                          dwell_target_s, tolerance_s, min_readings);
    *mean = sum / (double)k;
    *used = k;
    return 0;
}

enum { P_A, P_D, P_COUNT };
static const struct pd_cert_property props[P_COUNT] = {
    [P_A] = {"shore_a", "Shore A", 1.0, "HA", {[PD_U_READING] = 1}},
    [P_D] = {"shore_d", "Shore D", 1.0, "HD", {[PD_U_READING] = 1}},
};
static const struct cert_param_spec params[] = {
    {"dwell", 15.0, 0.0, 60.0, false, NULL, "reading time after firm contact, s"},
    {"dwell_tolerance", 1.0, 0.0, 10.0, false, NULL, "allowed deviation of the dwell, s"},
    {"min_readings", 5, 1, 100, false, NULL, "accepted readings required per specimen"},
};
static const struct pd_method_channel channels[] = {{"hardness", "1"}, {"dwell", "s"}};

static int evaluate(struct pd_run *run, size_t s, const struct pd_method_def *def, struct cert_values *out,
                    bool *evaluated, char *reason, size_t rsize)
{
    const char *scale = pd_run_specimen_attr(run, s, "scale");
    if (!scale || (strcmp(scale, "A") != 0 && strcmp(scale, "D") != 0)) {
        cert_say(reason, rsize, "durometer scale '%s' is not A or D", scale ? scale : "(none)");
        return 0;
    }
    double *h = NULL, *d = NULL;
    size_t n = 0, nd = 0;
    int rc = cert_read_channel(run, s, def, "hardness", &h, &n, NULL, reason, rsize);
    if (rc == 0)
        rc = cert_read_channel(run, s, def, "dwell", &d, &nd, NULL, reason, rsize);
    if (rc == 0 && n != nd) {
        cert_say(reason, rsize, "%zu readings but %zu dwell times", n, nd);
        rc = PD_EDATA;
    }
    double mean;
    size_t used = 0;
    struct pd_err e = {0};
    if (rc == 0 && (rc = pd_shore_evaluate(h, d, n, pd_method_param(def, "dwell"), pd_method_param(def, "dwell_tolerance"),
                                           (size_t)pd_method_param(def, "min_readings"), &mean, &used, &e)) < 0)
        cert_say(reason, rsize, "%s", e.msg);
    free(h);
    free(d);
    if (rc < 0)
        return rc == PD_ENOMEM ? rc : 0;
    int p = scale[0] == 'A' ? P_A : P_D;
    out->has[p] = true;
    out->value[p] = mean;
    bool ok = true;
    out->info = json_object();
    cert_jset(out->info, "readings_used", json_integer((json_int_t)used), &ok);
    cert_jset(out->info, "readings_rejected_for_dwell", json_integer((json_int_t)(n - used)), &ok);
    *evaluated = true;
    return ok ? 0 : PD_ENOMEM;
}

const struct cert_method cert_method_iso868 = {
    .id = "iso868",
    .title = "Shore durometer hardness",
    .standard = "ISO 868:2003",
    .conditioning = "ISO 291: 23 °C / 50 % RH",
    .specimens = 1,
    .channels = channels,
    .n_channels = 2,
    .props = props,
    .n_props = P_COUNT,
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .budget = {.k = 2.0, .input = {[PD_U_READING] = 1.0}, .repeatability = true},
    .evaluate = evaluate,
};
