/* method_iso527.c — ISO 527-1/-2 tensile as a certification method: properties, parameters, reading a specimen from a run. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert_internal.h"
#include "store/store.h"

enum {
    P_MODULUS, P_STRENGTH, P_STRAIN_AT_STRENGTH, P_YIELD_STRESS, P_YIELD_STRAIN, P_STRESS_AT_BREAK, P_STRAIN_AT_BREAK,
    P_NOMINAL_STRAIN_AT_BREAK, P_COUNT
};
#define STRESS_SENS {[PD_U_FORCE] = 1, [PD_U_WIDTH] = 1, [PD_U_THICKNESS] = 1}
#define STRAIN_SENS {[PD_U_DISPLACEMENT] = 1, [PD_U_LENGTH] = 1}
static const struct pd_cert_property props[P_COUNT] = {
    [P_MODULUS] = {"tensile_modulus", "MPa", 1.0, "Et",
                   {[PD_U_FORCE] = 1, [PD_U_WIDTH] = 1, [PD_U_THICKNESS] = 1, [PD_U_DISPLACEMENT] = 1, [PD_U_LENGTH] = 1}},
    [P_STRENGTH] = {"tensile_strength", "MPa", 1.0, "σm", STRESS_SENS},
    [P_STRAIN_AT_STRENGTH] = {"strain_at_strength", "%", 100.0, "εm", STRAIN_SENS},
    [P_YIELD_STRESS] = {"yield_stress", "MPa", 1.0, "σy", STRESS_SENS},
    [P_YIELD_STRAIN] = {"yield_strain", "%", 100.0, "εy", STRAIN_SENS},
    [P_STRESS_AT_BREAK] = {"stress_at_break", "MPa", 1.0, "σb", STRESS_SENS},
    [P_STRAIN_AT_BREAK] = {"strain_at_break", "%", 100.0, "εb", STRAIN_SENS},
    [P_NOMINAL_STRAIN_AT_BREAK] = {"nominal_strain_at_break", "%", 100.0, "εtb", STRAIN_SENS},
};

static const char *const modulus_choices[] = {"chord", "regression", NULL};
static const char *const strain_choices[] = {"auto", "extensometer", "crosshead", NULL};
static const struct cert_param_spec params[] = {
    {"e1", 0.0005, 0.0, 0.05, false, NULL, "modulus range start, strain fraction"},
    {"e2", 0.0025, 0.0, 0.05, false, NULL, "modulus range end, strain fraction"},
    {"modulus", 0, 0, 0, false, modulus_choices, "chord or regression"},
    {"chord_window", 0.0, 0.0, 0.001, false, NULL, "± strain window of local fits at e1/e2 (0 = interpolate, ISO 527-1)"},
    {"min_modulus_points", 20, 2, 100000, false, NULL, "samples required in the modulus range"},
    {"break_fraction", 0.10, 0.001, 0.99, false, NULL, "break: σ <= fraction of the maximum"},
    {"max_hysteresis", 0.005, 0.0, 0.5, false, NULL, "drop that confirms a local maximum, fraction"},
    {"strain_source", 0, 0, 0, false, strain_choices, "auto (extensometer if recorded, else crosshead), extensometer, crosshead"},
    {"toe_compensation", 0, 0, 0, true, NULL, "shift the strain origin at a concave-up toe (flagged)"},
    {"yield_smoothing", 0.0, 0.0, 0.1, false, NULL, "moving-average width in strain for the yield search (0 = off)"},
    {"grip_slip_window", 0.005, 0.0, 0.1, false, NULL, "grip slip: fall and recovery within this strain (0 = no detection)"},
    {"grip_slip_min_drop", 0.02, 0.001, 0.9, false, NULL, "grip slip: least fall, fraction of the stress before it"},
};

static const struct pd_method_channel channels[] = {
    {"force", "N"},
    {"extension", "mm"},
    {"crosshead", "mm"},
};

static void params_of(const struct pd_method_def *def, struct pd_tensile_params *p)
{
    pd_tensile_params_default(p);
    p->e1 = pd_method_param(def, "e1");
    p->e2 = pd_method_param(def, "e2");
    p->modulus_method = pd_method_param(def, "modulus") == 1.0 ? PD_MODULUS_REGRESSION : PD_MODULUS_CHORD;
    p->chord_window = pd_method_param(def, "chord_window");
    p->min_modulus_points = (size_t)pd_method_param(def, "min_modulus_points");
    p->break_fraction = pd_method_param(def, "break_fraction");
    p->max_hysteresis = pd_method_param(def, "max_hysteresis");
    p->toe_compensation = pd_method_param(def, "toe_compensation") == 1.0;
    p->yield_smoothing = pd_method_param(def, "yield_smoothing");
    p->grip_slip_window = pd_method_param(def, "grip_slip_window");
    p->grip_slip_min_drop = pd_method_param(def, "grip_slip_min_drop");
    p->displacement_abs_mm = def->uncertainty.input[PD_U_DISPLACEMENT_ABS];
}

struct raw {
    double *force, *ext, *xhead;
    size_t n;
    double b, h, l0, grip;
    bool borrowed; /* the arrays are the caller's scratch, not ours to free */
};

static void raw_free(struct raw *r)
{
    if (r->borrowed)
        return;
    free(r->force);
    free(r->ext);
    free(r->xhead);
}

/* One channel, into the caller's scratch array `slot` when there is one (v may be NULL). */
static int read_ch(struct pd_run *run, size_t s, const struct pd_method_def *def, const char *name,
                   struct cert_values *v, size_t slot, double **data, size_t *n, size_t *instrument, char *reason,
                   size_t rsize)
{
    if (v && v->scratch && v->run_path)
        return cert_read_channel_into(run, s, def, name, v, slot, data, n, instrument, reason, rsize);
    return cert_read_channel(run, s, def, name, data, n, instrument, reason, rsize);
}

/* Reads what the evaluation needs; the strain source decides whether the extensometer must exist. */
static int read_raw(struct pd_run *run, size_t s, const struct pd_method_def *def, struct cert_values *v,
                    struct raw *r, int *source, char *reason, size_t rsize)
{
    memset(r, 0, sizeof *r);
    r->borrowed = v && v->scratch && v->run_path;
    int rc = cert_attr_positive(run, s, "width", &r->b, reason, rsize);
    if (rc == 0)
        rc = cert_attr_positive(run, s, "thickness", &r->h, reason, rsize);
    if (rc < 0)
        return rc;
    if (pd_run_specimen_attr_double(run, s, "grip_distance", &r->grip) < 0 || !(r->grip > 0.0))
        r->grip = 0.0;
    size_t i_force = 0, i_ext = 0, i_x = 0, n_ext = 0, n_x = 0, tmp;
    if ((rc = read_ch(run, s, def, "force", v, 0, &r->force, &r->n, &i_force, reason, rsize)) < 0)
        return rc;
    int choice = (int)pd_method_param(def, "strain_source");
    bool have_ext = pd_run_find_channel(run, "extension", &tmp, &tmp) == 0;
    bool have_x = pd_run_find_channel(run, "crosshead", &tmp, &tmp) == 0;
    *source = choice == 2 || (choice == 0 && !have_ext) ? PD_STRAIN_CROSSHEAD : PD_STRAIN_EXTENSOMETER;
    if (*source == PD_STRAIN_EXTENSOMETER) {
        if ((rc = cert_attr_positive(run, s, "gauge_length", &r->l0, reason, rsize)) < 0)
            return rc;
        if ((rc = read_ch(run, s, def, "extension", v, 1, &r->ext, &n_ext, &i_ext, reason, rsize)) < 0)
            return rc;
        if (i_ext != i_force) {
            /* Pairing samples of two instruments needs a common time axis; not done here. */
            cert_say(reason, rsize, "force (%s) and extension (%s) come from different instruments",
                     pd_run_instrument_name(run, i_force), pd_run_instrument_name(run, i_ext));
            return PD_EDATA;
        }
        if (n_ext != r->n) {
            cert_say(reason, rsize, "%zu force samples but %zu extension samples", r->n, n_ext);
            return PD_EDATA;
        }
    }
    if (have_x && r->grip > 0.0) {
        if ((rc = read_ch(run, s, def, "crosshead", v, 2, &r->xhead, &n_x, &i_x, reason, rsize)) < 0)
            return rc;
        if (i_x != i_force || n_x != r->n) {
            if (!r->borrowed)
                free(r->xhead);
            r->xhead = NULL; /* not pairable: no nominal strain */
        }
    }
    if (*source == PD_STRAIN_CROSSHEAD && !r->xhead) {
        cert_say(reason, rsize, "no extensometer, and no crosshead channel with a grip distance for nominal strain");
        return PD_EDATA;
    }
    return 0;
}

/* Turns the arrays into the plot curve (stress over strain in %, the strain as measured) in place
 * and hands them over — or, when they are the caller's scratch, hands over their thinned copy: the
 * evaluation has read them anyway, and fresh arrays of this size cost page faults. `evaluated`:
 * they already hold stress and strain (fraction, shifted by toe_offset). */
static int curve_from_raw(struct raw *r, int source, bool evaluated, double toe_offset, struct cert_curve *c)
{
    double area = r->b * r->h;
    double *x = source == PD_STRAIN_EXTENSOMETER ? r->ext : r->xhead;
    double len = source == PD_STRAIN_EXTENSOMETER ? r->l0 : r->grip;
    for (size_t i = 0; i < r->n; i++) {
        if (evaluated) {
            x[i] = 100.0 * (x[i] + toe_offset);
        } else {
            r->force[i] /= area;
            x[i] = 100.0 * x[i] / len;
        }
    }
    c->x_label = source == PD_STRAIN_EXTENSOMETER ? "strain ε [%]" : "nominal strain εt [%]";
    c->y_label = "stress σ [MPa]";
    if (r->borrowed)
        return cert_curve_thin_from(x, r->force, r->n, c);
    c->x = x;
    c->y = r->force;
    c->n = r->n;
    if (x == r->ext)
        r->ext = NULL;
    else
        r->xhead = NULL;
    r->force = NULL;
    return 0;
}

static int evaluate(struct pd_run *run, size_t s, const struct pd_method_def *def, struct cert_values *out,
                    bool *evaluated, char *reason, size_t rsize)
{
    struct raw r;
    int source = 0;
    int rc = read_raw(run, s, def, out, &r, &source, reason, rsize);
    bool ok = true;
    out->dimensions = json_object();
    if (r.b > 0.0)
        cert_jset(out->dimensions, "width_mm", cert_jreal(r.b), &ok);
    if (r.h > 0.0)
        cert_jset(out->dimensions, "thickness_mm", cert_jreal(r.h), &ok);
    if (r.l0 > 0.0)
        cert_jset(out->dimensions, "gauge_length_mm", cert_jreal(r.l0), &ok);
    if (r.grip > 0.0)
        cert_jset(out->dimensions, "grip_distance_mm", cert_jreal(r.grip), &ok);
    if (rc < 0) {
        raw_free(&r);
        return rc == PD_ENOMEM ? rc : 0;
    }
    size_t unread = 0;
    bool finite = false;
    if (cert_drop_unread_rows(run, s, "force", (double *const[]){r.force, r.ext, r.xhead}, 3, &r.n, &unread,
                              &finite) < 0) {
        raw_free(&r);
        return PD_ENOMEM;
    }
    struct pd_tensile_params p;
    params_of(def, &p);
    p.strain_source = (enum pd_strain_source)source;
    struct pd_tensile_specimen sp = {.force_N = r.force, .extension_mm = r.ext, .crosshead_mm = r.xhead, .n = r.n,
                                     .width_mm = r.b, .thickness_mm = r.h, .gauge_length_mm = r.l0,
                                     .grip_distance_mm = r.grip};
    struct pd_tensile_result res;
    struct pd_err e = {0};
    rc = cert_tensile_evaluate_in_place(r.force, r.ext, r.xhead, &sp, finite, &p, &res, &e);
    if (rc == 0 && out->want_curve && curve_from_raw(&r, source, true, res.toe_offset, &out->curve) < 0)
        memset(&out->curve, 0, sizeof out->curve); /* no memory for the plot: left out of it */
    raw_free(&r);
    if (rc == PD_ENOMEM)
        return rc;
    if (rc < 0) {
        cert_say(reason, rsize, "%s", e.msg);
        return 0;
    }
    const double internal[P_COUNT] = {
        [P_MODULUS] = res.has_modulus ? res.modulus_MPa : NAN,
        [P_STRENGTH] = res.strength_MPa,
        [P_STRAIN_AT_STRENGTH] = source == PD_STRAIN_EXTENSOMETER ? res.strain_at_strength : NAN,
        [P_YIELD_STRESS] = res.has_yield ? res.yield_stress_MPa : NAN,
        [P_YIELD_STRAIN] = res.has_yield && source == PD_STRAIN_EXTENSOMETER ? res.yield_strain : NAN,
        [P_STRESS_AT_BREAK] = res.has_break ? res.stress_at_break_MPa : NAN,
        [P_STRAIN_AT_BREAK] = res.has_break && source == PD_STRAIN_EXTENSOMETER ? res.strain_at_break : NAN,
        [P_NOMINAL_STRAIN_AT_BREAK] = res.nominal_strain_at_break,
    };
    for (size_t i = 0; i < P_COUNT; i++) {
        out->has[i] = isfinite(internal[i]);
        out->value[i] = internal[i] * props[i].scale;
    }
    out->width_mm = sp.width_mm;
    out->thickness_mm = sp.thickness_mm;
    out->length_mm = source == PD_STRAIN_EXTENSOMETER ? sp.gauge_length_mm : sp.grip_distance_mm;
    /* the curve's own noise and the extensometer's absolute error (cert_values.u_extra) */
    if (res.has_modulus)
        out->u_extra[P_MODULUS] = hypot(res.modulus_u_noise_MPa, res.modulus_u_extensometer_MPa);
    out->info = json_object();
    cert_jset(out->info, "strain_source", cert_jstr(source == PD_STRAIN_EXTENSOMETER ? "extensometer" : "crosshead (Method A, nominal strain; no modulus)"), &ok);
    if (res.has_modulus) {
        cert_jset(out->info, "modulus_points", json_integer((json_int_t)res.modulus_points), &ok);
        cert_jset(out->info, "modulus_u_noise_MPa", cert_jreal(res.modulus_u_noise_MPa), &ok);
        cert_jset(out->info, "modulus_u_extensometer_MPa", cert_jreal(res.modulus_u_extensometer_MPa), &ok);
    } else {
        cert_jset(out->info, "modulus_na_reason", cert_jstr(res.modulus_na_reason), &ok);
    }
    cert_jset(out->info, "stress_noise_MPa", cert_jreal(res.noise_MPa), &ok);
    cert_jset(out->info, "maximum_fit_half_width", json_integer((json_int_t)res.max_half_width), &ok);
    cert_jset(out->info, "yield_detected", json_boolean(res.has_yield), &ok);
    cert_jset(out->info, "break_detected", json_boolean(res.has_break), &ok);
    cert_jset(out->info, "break_index", json_integer((json_int_t)res.break_index), &ok);
    if (res.toe_compensated) {
        cert_jset(out->info, "toe_compensated", json_true(), &ok);
        cert_jset(out->info, "toe_offset_percent", cert_jreal(res.toe_offset * 100.0), &ok);
    }
    if (res.has_yield && p.yield_smoothing > 0.0)
        cert_jset(out->info, "yield_raw_max_MPa", cert_jreal(res.yield_raw_max_MPa), &ok);
    /* Every heuristic that shaped a result is said in the specimen's warnings, which the
     * certificate prints: a reviewer must see it (a slip may call for a retest, ISO 527-1). */
    json_t *warnings = json_array();
    char w[CERT_DEVIATION_LEN];
    cert_note_unread_rows(out->info, warnings, unread, &ok);
    if (!res.has_modulus) {
        cert_say(w, sizeof w, "modulus n/a: %s", res.modulus_na_reason);
        cert_jappend(warnings, cert_jstr(w), &ok);
    }
    if (res.grip_slips > 0) {
        json_t *slips = json_array();
        for (size_t i = 0; i < res.grip_slips && i < PD_TENSILE_MAX_SLIPS; i++) {
            cert_jappend(slips, json_pack("{s:o,s:o}", "strain_percent", cert_jreal(res.grip_slip_strain[i] * 100.0),
                                          "drop_percent", cert_jreal(res.grip_slip_drop[i] * 100.0)), &ok);
            cert_say(w, sizeof w, "grip slip at ε = %.3f %% (stress fell %.1f %% and recovered): not taken as yield or break",
                     res.grip_slip_strain[i] * 100.0, res.grip_slip_drop[i] * 100.0);
            cert_jappend(warnings, cert_jstr(w), &ok);
        }
        if (res.grip_slips > PD_TENSILE_MAX_SLIPS) {
            cert_say(w, sizeof w, "%zu more grip slips not listed", res.grip_slips - PD_TENSILE_MAX_SLIPS);
            cert_jappend(warnings, cert_jstr(w), &ok);
        }
        cert_jset(out->info, "grip_slips", slips, &ok);
    }
    if (res.load_drop) {
        cert_say(w, sizeof w, "sudden load drop of %.1f %% in one sample at ε = %.3f %% without recovery (not a grip "
                 "slip): it ends the first local maximum", res.load_drop_fraction * 100.0, res.load_drop_strain * 100.0);
        cert_jappend(warnings, cert_jstr(w), &ok);
    }
    if (res.max_fracture) {
        cert_say(w, sizeof w, "the maximum at ε = %.3f %% is followed only by the fracture: tensile strength, no yield "
                 "point", res.strain_at_strength * 100.0);
        cert_jappend(warnings, cert_jstr(w), &ok);
    }
    if (res.higher_after_max) {
        cert_say(w, sizeof w, "the stress later rises to %.4g MPa, above the first local maximum %.4g MPa reported as "
                 "σm (ISO 527-1:2012)", res.highest_after_MPa, res.strength_MPa);
        cert_jappend(warnings, cert_jstr(w), &ok);
    }
    if (json_array_size(warnings) > 0)
        cert_jset(out->info, "warnings", warnings, &ok);
    else
        json_decref(warnings);
    *evaluated = true;
    return ok ? 0 : PD_ENOMEM;
}

/* Departures from ISO 527-1's procedure the def's parameters make, one sentence each
 * (docs/CERTIFICATES.md §4). The regression modulus is one of ISO 527-1's own two ways: none. */
static size_t deviations(const struct pd_method_def *def, char (*out)[CERT_DEVIATION_LEN], size_t max)
{
    size_t n = 0;
    double e1 = pd_method_param(def, "e1"), e2 = pd_method_param(def, "e2");
    double window = pd_method_param(def, "chord_window"), smooth = pd_method_param(def, "yield_smoothing");
    double bf = pd_method_param(def, "break_fraction"), hy = pd_method_param(def, "max_hysteresis");
    bool chord = pd_method_param(def, "modulus") != 1.0;
    if ((e1 != 0.0005 || e2 != 0.0025) && n < max)
        cert_say(out[n++], CERT_DEVIATION_LEN, "modulus over %.4g–%.4g %% strain instead of ISO 527-1's 0.05–0.25 %%",
                 e1 * 100.0, e2 * 100.0);
    if (chord && window > 0.0 && n < max)
        cert_say(out[n++], CERT_DEVIATION_LEN, "chord stresses from least-squares lines over ±%.4g %% strain around "
                 "e1 and e2, not interpolated at exactly those strains (ISO 527-1)", window * 100.0);
    if (pd_method_param(def, "toe_compensation") == 1.0 && n < max)
        cert_say(out[n++], CERT_DEVIATION_LEN, "toe compensation: the strain origin is moved to where the steepest "
                 "secant over e2 − e1 crosses zero stress");
    if (smooth > 0.0 && n < max)
        cert_say(out[n++], CERT_DEVIATION_LEN, "yield and strength searched on a moving average over %.4g %% strain "
                 "and reported as its value, instead of the noise-following search", smooth * 100.0);
    if (bf != 0.10 && n < max)
        cert_say(out[n++], CERT_DEVIATION_LEN, "break taken where the stress falls to %.4g %% of the maximum "
                 "instead of 10 %% (ISO 527-1:2012)", bf * 100.0);
    if (hy != 0.005 && n < max)
        cert_say(out[n++], CERT_DEVIATION_LEN, "a local maximum is confirmed by a fall of %.4g %% of the highest "
                 "stress (laboratory default 0.5 %%, never less than 10 noise SDs)", hy * 100.0);
    return n;
}

static int curve(struct pd_run *run, size_t s, const struct pd_method_def *def, struct cert_curve *c)
{
    struct raw r;
    int source = 0;
    char reason[256];
    int rc = read_raw(run, s, def, NULL, &r, &source, reason, sizeof reason);
    if (rc == 0)
        curve_from_raw(&r, source, false, 0.0, c);
    raw_free(&r);
    return rc;
}

const struct cert_method cert_method_iso527 = {
    .id = "iso527",
    .title = "Tensile properties",
    .standard = "ISO 527-1:2019, ISO 527-2:2012",
    .conditioning = "ISO 291: 23 °C / 50 % RH",
    .specimens = 5,
    .speed_mm_min = 50.0,
    .channels = channels,
    .n_channels = sizeof channels / sizeof channels[0],
    .props = props,
    .n_props = P_COUNT,
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .budget = {.k = 2.0,
               .input = {[PD_U_FORCE] = 1.0, [PD_U_DISPLACEMENT] = 1.0, [PD_U_WIDTH] = 0.01, [PD_U_THICKNESS] = 0.01,
                         [PD_U_LENGTH] = 0.5, [PD_U_DISPLACEMENT_ABS] = 0.003},
               .repeatability = true},
    .evaluate = evaluate,
    .curve = curve,
    .deviations = deviations,
};

void pd_tensile_params_from_def(const struct pd_method_def *def, struct pd_tensile_params *p)
{
    params_of(def, p);
}
