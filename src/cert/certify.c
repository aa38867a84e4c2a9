/* certify.c — builds a certificate from run files: evaluation per method, uncertainty, series statistics, decisions per limit, calibration gate, the recorded method (and reading it back for a recompute); writes the numbered draft. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cert/cert_internal.h"
#include "registry/registry.h"
#include "config/config.h"
#include "pd_version.h"
#include "store/store.h"

#define NOTICE_SIMULATED "SIMULATED — not a test result"

/* Instrument attributes copied onto the certificate when the run file has them (ISO/IEC 17025
 * 6.4.13: identity, firmware and calibration status of equipment that affects results). */
static const char *const instrument_keys[] = {
    "manufacturer", "model", "serial", "serial_number", "firmware", "driver", "calibration", "calibration_id",
    "calibration_certificate", "calibration_date", "calibration_due", "simulated", NULL,
};

struct specimen_eval {
    const char *id;
    size_t run;          /* index into the runs */
    const char *status;  /* as recorded; NULL when the file has none */
    bool tested;         /* status "tested": must be evaluated */
    bool invalidated;    /* status "invalid...": excluded by the operator (e.g. broke in the grips) */
    bool evaluated;
    char reason[512];    /* why a tested specimen could not be evaluated */
    struct cert_values v;
    double U[CERT_MAX_PROPS]; /* expanded uncertainty per property */
};

struct ctx {
    const struct cert_build *b;
    const struct cert_method *m;
    struct pd_run **runs;
    struct specimen_eval *ev;
    size_t n_ev;
    bool ok; /* JSON building succeeded */
};

#define J(obj, key, val) cert_jset((obj), (key), (val), &c->ok)
#define JA(arr, val) cert_jappend((arr), (val), &c->ok)

/* ---- evaluation ---------------------------------------------------------------------------*/
/* The plot curve of an evaluated specimen goes to the PDF thinned: from the evaluation's own data
 * when the method kept it, else read once more through the method's curve(). A curve that cannot
 * be had is left out of the plot, as when the PDF reads the runs itself. */
static void take_curve(struct ctx *c, size_t r, size_t s, struct specimen_eval *e)
{
    struct cert_curve_set *cs = c->b->curves;
    struct cert_curve *dst = &cs->c[cs->n];
    if (e->v.curve.n > 1) {
        *dst = e->v.curve;
        memset(&e->v.curve, 0, sizeof e->v.curve);
    } else {
        memset(dst, 0, sizeof *dst);
        if (c->m->curve(c->runs[r], s, c->b->method, dst) < 0 || dst->n < 2) {
            cert_curve_free(dst);
            return;
        }
    }
    cert_curve_thin(dst);
    /* The legend shows the id as the JSON does: a run file's id that is not UTF-8 (a damaged file)
     * as the JSON's marker — cairo refuses such a string, and the PDF failed after the draft was
     * recorded — and a long one cut at a character boundary, never inside one. */
    json_t *id = cert_jstr(e->id ? e->id : "?");
    const char *text = id ? json_string_value(id) : "?";
    size_t len = strlen(text), room = sizeof cs->names[0] - 1;
    if (len > room) {
        len = room;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
            len--; /* text[len] continues a character: cut before that character */
    }
    memcpy(cs->names[cs->n], text, len);
    cs->names[cs->n][len] = '\0';
    json_decref(id);
    cs->n++;
}

/* An invalidated specimen's row shows its dimensions as measured, like the others' (a reader checks
 * them: a specimen out of tolerance is one reason to exclude it). They are what the method's own
 * evaluation records, read by that evaluation; its results are dropped: the specimen is excluded. */
static int invalidated_dimensions(struct ctx *c, size_t r, size_t s, struct specimen_eval *e,
                                  struct cert_scratch *scratch)
{
    struct cert_values v = {.scratch = scratch, .run_path = c->b->run_paths[r]};
    bool evaluated = false;
    char why[512];
    int rc = c->m->evaluate(c->runs[r], s, c->b->method, &v, &evaluated, why, sizeof why);
    e->v.dimensions = v.dimensions;
    json_decref(v.info);
    cert_curve_free(&v.curve);
    return rc;
}

static int evaluate_all(struct ctx *c, size_t *n_evaluated, struct pd_err *err)
{
    size_t total = 0;
    for (size_t r = 0; r < c->b->n_runs; r++)
        total += pd_run_specimen_count(c->runs[r]);
    c->ev = calloc(total ? total : 1, sizeof *c->ev);
    if (!c->ev)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory for %zu specimens", total);
    const struct pd_uncertainty_budget *bud = &c->b->method->uncertainty;
    /* One set of channel arrays for the whole series (see struct cert_scratch). */
    struct cert_scratch scratch = {0};
    int rc = 0;
    for (size_t r = 0; r < c->b->n_runs && rc == 0; r++) {
        for (size_t s = 0; s < pd_run_specimen_count(c->runs[r]); s++) {
            struct specimen_eval *e = &c->ev[c->n_ev++];
            e->run = r;
            e->id = pd_run_specimen_id(c->runs[r], s);
            e->status = pd_run_specimen_attr(c->runs[r], s, "status");
            e->tested = e->status && strcmp(e->status, "tested") == 0;
            e->invalidated = e->status && strncmp(e->status, "invalid", 7) == 0;
            if (e->invalidated && (rc = invalidated_dimensions(c, r, s, e, &scratch)) < 0) {
                rc = pd_err_set(err, rc, NULL, "out of memory while reading %s", c->b->run_paths[r]);
                break;
            }
            if (!e->tested)
                continue;
            struct cert_curve_set *cs = c->b->curves;
            e->v.want_curve = cs && c->m->curve && cs->n < CERT_MAX_CURVES;
            e->v.scratch = &scratch;
            e->v.run_path = c->b->run_paths[r];
            rc = c->m->evaluate(c->runs[r], s, c->b->method, &e->v, &e->evaluated, e->reason, sizeof e->reason);
            e->v.scratch = NULL;
            if (rc < 0) {
                rc = pd_err_set(err, rc, NULL, "out of memory while evaluating %s", c->b->run_paths[r]);
                break;
            }
            if (e->evaluated && e->v.want_curve)
                take_curve(c, r, s, e);
            cert_curve_free(&e->v.curve);
            if (!e->evaluated)
                continue;
            (*n_evaluated)++;
            for (size_t p = 0; p < c->m->n_props; p++) {
                if (!e->v.has[p]) {
                    e->U[p] = NAN;
                    continue;
                }
                double u = pd_uncertainty_standard(bud, c->m->props[p].sens, e->v.value[p], e->v.width_mm,
                                                   e->v.thickness_mm, e->v.length_mm);
                double x = isfinite(e->v.u_extra[p]) ? e->v.u_extra[p] : 0.0;
                e->U[p] = bud->k * sqrt(u * u + x * x);
            }
        }
    }
    cert_scratch_free(&scratch);
    return rc;
}

/* Mean of property p over the evaluated specimens, with its expanded uncertainty: the instrument
 * budget at the mean's specimen (the mean of the specimens' u) and, when the budget says so, the
 * repeatability s/√n. Returns n. */
static size_t series_of(const struct ctx *c, size_t p, struct pd_stats *st, double *U)
{
    double *vals = malloc((c->n_ev ? c->n_ev : 1) * sizeof *vals);
    if (!vals)
        return 0;
    size_t n = 0;
    double u_instr = 0.0;
    const struct pd_uncertainty_budget *bud = &c->b->method->uncertainty;
    for (size_t s = 0; s < c->n_ev; s++) {
        if (c->ev[s].evaluated && c->ev[s].v.has[p]) {
            vals[n++] = c->ev[s].v.value[p];
            u_instr += c->ev[s].U[p] / bud->k;
        }
    }
    if (n > 0 && pd_stats_compute(vals, n, st) == 0) {
        u_instr /= (double)n;
        double u_rep = bud->repeatability ? st->sd / sqrt((double)n) : 0.0;
        *U = bud->k * sqrt(u_instr * u_instr + u_rep * u_rep);
    } else {
        n = 0;
    }
    free(vals);
    return n;
}

/* ---- JSON sections ------------------------------------------------------------------------*/
/* The names the standards give the properties (ISO 527-1 §3, ISO 178 §3, ISO 179-1, ISO 1133-1,
 * ISO 868, ISO 1183-1, ISO 75-1, ISO 306), for the certificate's tables beside each symbol. */
static const char *const property_names[][2] = {
    {"tensile_modulus", "tensile modulus"},
    {"tensile_strength", "tensile strength"},
    {"strain_at_strength", "tensile strain at tensile strength"},
    {"yield_stress", "yield stress"},
    {"yield_strain", "yield strain"},
    {"stress_at_break", "stress at break"},
    {"strain_at_break", "strain at break"},
    {"nominal_strain_at_break", "nominal strain at break"},
    {"flexural_modulus", "flexural modulus"},
    {"flexural_strength", "flexural strength"},
    {"flexural_strain_at_strength", "flexural strain at flexural strength"},
    {"flexural_stress_at_break", "flexural stress at break"},
    {"flexural_strain_at_break", "flexural strain at break"},
    {"flexural_stress_at_conventional_deflection", "flexural stress at conventional deflection"},
    {"charpy_impact_strength", "Charpy impact strength"},
    {"mfr", "melt mass-flow rate"},
    {"mvr", "melt volume-flow rate"},
    {"shore_a", "Shore A hardness"},
    {"shore_d", "Shore D hardness"},
    {"density", "density"},
    {"hdt", "temperature of deflection under load"},
    {"vicat", "Vicat softening temperature"},
};

static json_t *properties_json(struct ctx *c)
{
    json_t *arr = json_array();
    for (size_t p = 0; p < c->m->n_props; p++) {
        const struct pd_cert_property *pr = &c->m->props[p];
        const char *name = NULL;
        for (size_t k = 0; k < sizeof property_names / sizeof property_names[0] && !name; k++)
            if (strcmp(property_names[k][0], pr->name) == 0)
                name = property_names[k][1];
        char fallback[64];
        if (!name) { /* a property without a listed name: its id, words apart */
            pd_strlcpy(fallback, pr->name, sizeof fallback);
            for (char *u = fallback; *u; u++)
                *u = *u == '_' ? ' ' : *u;
            name = fallback;
        }
        JA(arr, json_pack("{s:o,s:o,s:o,s:o}", "id", cert_jstr(pr->name), "name", cert_jstr(name), "symbol",
                          cert_jstr(pr->symbol), "unit", cert_jstr(pr->unit)));
    }
    return arr;
}

/* "1504 ± 25": the value at the place of its U rounded to two significant digits (rounding.c). */
static json_t *reported_json(double value, double U)
{
    struct pd_reported r;
    if (pd_round_to_uncertainty(value, isfinite(U) ? U : 0.0, &r) < 0)
        return json_null();
    char buf[160];
    snprintf(buf, sizeof buf, "%s ± %s", r.value, r.U);
    return json_string(buf);
}

/* Why an evaluated specimen has no value for property p, from what its evaluation recorded. */
static void not_applicable_reason(const struct specimen_eval *e, const char *prop, char *buf, size_t size)
{
    const json_t *info = e->v.info;
    const char *source = json_string_value(json_object_get(info, "strain_source"));
    bool crosshead = source && strncmp(source, "crosshead", 9) == 0;
    bool no_yield = json_is_false(json_object_get(info, "yield_detected"));
    bool no_break = json_is_false(json_object_get(info, "break_detected"));
    /* the method's own words first: its evaluation's na_reasons, its modulus_na_reason */
    const char *own = json_string_value(json_object_get(json_object_get(info, "na_reasons"), prop));
    const char *modulus_na = json_string_value(json_object_get(info, "modulus_na_reason"));
    if (own)
        cert_say(buf, size, "%s", own);
    else if (strstr(prop, "modulus") && modulus_na)
        cert_say(buf, size, "%s", modulus_na);
    else if (strcmp(prop, "tensile_modulus") == 0 && crosshead)
        cert_say(buf, size, "no modulus from crosshead strain (ISO 527-1 Method A: it includes the machine's compliance)");
    else if ((strcmp(prop, "yield_stress") == 0 || strcmp(prop, "yield_strain") == 0) && no_yield)
        cert_say(buf, size, "no yield point: no maximum followed by a drop before break");
    else if (strstr(prop, "break") && no_break)
        cert_say(buf, size, "no break detected before the end of the test");
    else if (strstr(prop, "strain") && crosshead && strcmp(prop, "nominal_strain_at_break") != 0)
        cert_say(buf, size, "no extensometer strain recorded (crosshead only)");
    else if (strcmp(prop, "nominal_strain_at_break") == 0)
        cert_say(buf, size, "no crosshead displacement or grip distance recorded, or no break");
    else if (strcmp(prop, "flexural_stress_at_conventional_deflection") == 0)
        cert_say(buf, size, "a maximum came before the conventional deflection (or it was not reached)");
    else if ((strcmp(prop, "flexural_strength") == 0 || strcmp(prop, "flexural_strain_at_strength") == 0) &&
             json_is_false(json_object_get(info, "maximum_before_conventional_deflection")))
        cert_say(buf, size, "no maximum before the conventional deflection (σfC is reported instead)");
    else if (strcmp(prop, "mfr") == 0 || strcmp(prop, "mvr") == 0)
        cert_say(buf, size, "not measured: the run has no %s channel for this specimen",
                 strcmp(prop, "mfr") == 0 ? "cut-off mass" : "piston position");
    else if (strcmp(prop, "shore_a") == 0 || strcmp(prop, "shore_d") == 0)
        cert_say(buf, size, "the specimen was measured on the other Shore scale");
    else
        cert_say(buf, size, "not determined: the method found no such point on this specimen's data");
}

static json_t *specimen_json(struct ctx *c, const struct specimen_eval *e)
{
    json_t *o = json_object();
    J(o, "id", cert_jstr(e->id));
    J(o, "run_id", cert_jstr(pd_run_attr(c->runs[e->run], "run_id")));
    J(o, "status", cert_jstr(e->status ? e->status : "(none)"));
    if (e->v.dimensions && json_object_size(e->v.dimensions) > 0)
        J(o, "dimensions", json_incref(e->v.dimensions));
    if (!e->tested) {
        char why[600];
        cert_say(why, sizeof why, "%s (status '%s')", e->invalidated ? "invalidated" : "not tested",
                 e->status ? e->status : "");
        J(o, "excluded_reason", cert_jstr(why));
        return o;
    }
    if (!e->evaluated) {
        J(o, "excluded_reason", cert_jstr(e->reason));
        return o;
    }
    json_t *results = json_object(), *na = json_object();
    for (size_t p = 0; p < c->m->n_props; p++) {
        if (!e->v.has[p]) { /* n/a (no yield, no break): absent rather than a misleading 0, with why */
            char why[200];
            not_applicable_reason(e, c->m->props[p].name, why, sizeof why);
            J(na, c->m->props[p].name, cert_jstr(why));
            continue;
        }
        json_t *v = json_object();
        J(v, "value", cert_jreal(e->v.value[p]));
        J(v, "unit", cert_jstr(c->m->props[p].unit));
        J(v, "U", cert_jreal(e->U[p]));
        J(v, "k", cert_jreal(c->b->method->uncertainty.k));
        J(v, "reported", reported_json(e->v.value[p], e->U[p]));
        J(results, c->m->props[p].name, v);
    }
    J(o, "results", results);
    if (json_object_size(na) > 0)
        J(o, "not_applicable", na);
    else
        json_decref(na);
    if (e->v.info)
        J(o, "evaluation", json_incref(e->v.info));
    return o;
}

static json_t *series_json(struct ctx *c)
{
    json_t *series = json_object();
    for (size_t p = 0; p < c->m->n_props; p++) {
        struct pd_stats st;
        double U = NAN;
        if (series_of(c, p, &st, &U) == 0)
            continue;
        json_t *o = json_object();
        J(o, "n", json_integer((json_int_t)st.n));
        J(o, "mean", cert_jreal(st.mean));
        J(o, "sd", cert_jreal(st.sd));
        J(o, "cv", cert_jreal(st.cv));
        J(o, "min", cert_jreal(st.min));
        J(o, "max", cert_jreal(st.max));
        J(o, "unit", cert_jstr(c->m->props[p].unit));
        J(o, "U", cert_jreal(U));
        J(o, "k", cert_jreal(c->b->method->uncertainty.k));
        J(o, "reported_mean", reported_json(st.mean, U));
        J(series, c->m->props[p].name, o);
    }
    return series;
}

static void decision_json(struct ctx *c, json_t *o, const struct pd_decision *d)
{
    J(o, "U", cert_jreal(d->U));
    J(o, "k", cert_jreal(d->k));
    J(o, "rule", cert_jstr(pd_decision_rule_id(d->rule)));
    J(o, "w", cert_jreal(d->w));
    if (d->has_min) {
        J(o, "tl_min", cert_jreal(d->tl_min));
        J(o, "al_min", cert_jreal(d->al_min));
    }
    if (d->has_max) {
        J(o, "tl_max", cert_jreal(d->tl_max));
        J(o, "al_max", cert_jreal(d->al_max));
    }
    J(o, "verdict", cert_jstr(pd_verdict_name(d->verdict)));
}

/* One limit against the series. Returns its verdict; a missing value is a fail with a reason. */
static enum pd_verdict check_limit(struct ctx *c, const struct pd_spec_limit *lim, size_t prop, json_t *check,
                                   json_t *reasons)
{
    const struct pd_spec *spec = c->b->spec;
    J(check, "property", cert_jstr(lim->property));
    J(check, "statistic", cert_jstr(lim->statistic == PD_SPEC_MEAN ? "mean" : "each"));
    J(check, "unit", cert_jstr(lim->unit));
    J(check, "spec_location", cert_jstr(lim->where));
    if (lim->has_min)
        J(check, "min", cert_jreal(lim->min));
    if (lim->has_max)
        J(check, "max", cert_jreal(lim->max));

    char why[512] = "";
    enum pd_verdict verdict = PD_VERDICT_PASS;
    size_t n = 0, missing = 0;
    json_t *each = lim->statistic == PD_SPEC_EACH ? json_array() : NULL;
    for (size_t s = 0; s < c->n_ev; s++) {
        const struct specimen_eval *e = &c->ev[s];
        if (!e->evaluated)
            continue;
        if (!e->v.has[prop]) {
            if (missing++ == 0)
                cert_say(why, sizeof why, "%s: no value for specimen %s (not applicable to its curve)", lim->property,
                         e->id ? e->id : "?");
            continue;
        }
        n++;
        if (lim->statistic != PD_SPEC_EACH)
            continue;
        struct pd_decision d;
        pd_decide(spec->decision_rule, spec->guard_factor, lim->has_min, lim->min, lim->has_max, lim->max,
                  e->v.value[prop], isfinite(e->U[prop]) ? e->U[prop] : 0.0, c->b->method->uncertainty.k, &d);
        json_t *o = json_object();
        J(o, "specimen", cert_jstr(e->id));
        J(o, "value", cert_jreal(e->v.value[prop]));
        decision_json(c, o, &d);
        JA(each, o);
        if (d.verdict != PD_VERDICT_PASS && verdict == PD_VERDICT_PASS && missing == 0)
            cert_say(why, sizeof why, "%s of specimen %s = %.6g %s: %s (%s)", lim->property, e->id ? e->id : "?",
                     e->v.value[prop], lim->unit, pd_verdict_name(d.verdict), pd_decision_rule_id(d.rule));
        verdict = pd_verdict_combine(verdict, d.verdict);
    }
    if (missing > 0)
        verdict = PD_VERDICT_FAIL;
    if (n == 0 && missing == 0) {
        verdict = PD_VERDICT_FAIL;
        cert_say(why, sizeof why, "%s: no evaluated specimen to check", lim->property);
    }
    if (lim->statistic == PD_SPEC_MEAN && n > 0) {
        struct pd_stats st;
        double U = 0.0;
        series_of(c, prop, &st, &U);
        struct pd_decision d;
        pd_decide(spec->decision_rule, spec->guard_factor, lim->has_min, lim->min, lim->has_max, lim->max, st.mean,
                  isfinite(U) ? U : 0.0, c->b->method->uncertainty.k, &d);
        J(check, "value", cert_jreal(st.mean));
        J(check, "n", json_integer((json_int_t)n));
        json_t *tmp = json_object();
        decision_json(c, tmp, &d);
        json_object_update(check, tmp);
        json_decref(tmp);
        if (d.verdict != PD_VERDICT_PASS && missing == 0)
            cert_say(why, sizeof why, "mean %s = %.6g %s (U = %.2g): %s (%s)", lim->property, st.mean, lim->unit, U,
                     pd_verdict_name(d.verdict), pd_decision_rule_id(d.rule));
        if (missing == 0)
            verdict = pd_verdict_combine(verdict, d.verdict);
    } else {
        J(check, "rule", cert_jstr(pd_decision_rule_id(spec->decision_rule)));
    }
    if (each)
        J(check, "values", each);
    J(check, "verdict", cert_jstr(pd_verdict_name(verdict)));
    if (verdict != PD_VERDICT_PASS)
        JA(reasons, cert_jstr(why));
    return verdict;
}

/* Calibration gate (ISO/IEC 17025 6.4): every instrument needs a due date on or after the day the
 * run started; simulated instruments never count as calibrated. */
static json_t *instruments_json(struct ctx *c, json_t *gate_reasons)
{
    json_t *arr = json_array();
    for (size_t r = 0; r < c->b->n_runs; r++) {
        struct pd_run *run = c->runs[r];
        const char *start = pd_run_attr(run, "start_time");
        char day[11] = "";
        if (start && strlen(start) >= 10)
            memcpy(day, start, 10);
        for (size_t i = 0; i < pd_run_instrument_count(run); i++) {
            json_t *o = json_object();
            const char *name = pd_run_instrument_name(run, i);
            J(o, "name", cert_jstr(name));
            J(o, "run_id", cert_jstr(pd_run_attr(run, "run_id")));
            for (size_t k = 0; instrument_keys[k]; k++) {
                const char *v = pd_run_instrument_attr(run, i, instrument_keys[k]);
                if (v)
                    J(o, instrument_keys[k], cert_jstr(v));
            }
            const char *due = pd_run_instrument_attr(run, i, "calibration_due");
            const char *sim = pd_run_instrument_attr(run, i, "simulated");
            char status[160], why[300] = "";
            if (sim && strcmp(sim, "1") == 0) {
                cert_say(status, sizeof status, "simulated instrument: no calibration");
                cert_say(why, sizeof why, "instrument %s is simulated", name ? name : "?");
            } else if ((!due || !due[0]) && pd_run_instrument_attr(run, i, "imported") &&
                       strcmp(pd_run_instrument_attr(run, i, "imported"), "1") == 0) {
                /* polydaq import: the lab must vouch for the source machine (the import map's calibration) */
                const char *sw = pd_run_instrument_attr(run, i, "import_software");
                cert_say(status, sizeof status, "imported data: the source instrument's calibration was not recorded");
                cert_say(why, sizeof why, "instrument %s (data imported from %s) has no calibration record",
                         name ? name : "?", sw && sw[0] ? sw : "another machine");
            } else if (!due || !due[0]) {
                cert_say(status, sizeof status, "no calibration due date recorded");
                cert_say(why, sizeof why, "instrument %s has no calibration due date", name ? name : "?");
            } else if (!day[0]) {
                cert_say(status, sizeof status, "calibration due %s; run start date unknown", due);
                cert_say(why, sizeof why, "run %s has no start time to check %s's calibration against",
                         pd_run_attr(run, "run_id") ? pd_run_attr(run, "run_id") : "?", name ? name : "?");
            } else if (strcmp(due, day) < 0) {
                cert_say(status, sizeof status, "OVERDUE: calibration was due %s, tested %s", due, day);
                cert_say(why, sizeof why, "instrument %s was past its calibration due date (%s) on %s",
                         name ? name : "?", due, day);
            } else {
                cert_say(status, sizeof status, "calibrated, valid until %s", due);
            }
            J(o, "calibration_status", cert_jstr(status));
            if (why[0])
                JA(gate_reasons, cert_jstr(why));
            JA(arr, o);
        }
    }
    return arr;
}

/* ---- the effective method, complete --------------------------------------------------------*/
/* Text grows by appending; a failed allocation leaves `ok` false and the text NULL. */
struct text {
    char *s;
    size_t len, cap;
    bool ok;
};

static void add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct text *t, const char *fmt, ...)
{
    if (!t->ok)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || t->len + (size_t)n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        while (n >= 0 && t->len + (size_t)n + 1 > cap)
            cap *= 2;
        char *grown = n < 0 ? NULL : realloc(t->s, cap);
        if (!grown) {
            free(t->s);
            *t = (struct text){0};
            return;
        }
        t->s = grown;
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* A YAML double-quoted scalar: every byte as it is but the quote, backslash and control
 * characters, which are escaped, so any title or conditioning reads back unchanged. */
static void add_quoted(struct text *t, const char *s)
{
    add(t, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            add(t, "\\%c", *c);
        else if (*c < 0x20 || *c == 0x7f)
            add(t, "\\x%02x", *c);
        else
            add(t, "%c", *c);
    }
    add(t, "\"");
}

/* The shortest decimal that reads back as exactly x ("50", "0.0005"). */
static void add_number(struct text *t, double x)
{
    char buf[40];
    if (pd_decimal_plain(x, buf, sizeof buf) < 0)
        snprintf(buf, sizeof buf, "%.17g", x);
    add(t, "%s", buf);
}

/* `certify --recompute` evaluates with exactly this text (docs/CERTIFICATES.md §9): a later build
 * with other defaults must still evaluate a certificate as it was made. */
char *cert_method_definition(const struct pd_method_def *d, const struct cert_method *m)
{
    struct text t = {.ok = true};
    add(&t, "# The effective method, complete: nothing is taken from a build's defaults.\n");
    add(&t, "method:\n  id: ");
    add_quoted(&t, d->id);
    add(&t, "\n  base: ");
    add_quoted(&t, d->base);
    add(&t, "\n  title: ");
    add_quoted(&t, d->title);
    add(&t, "\n  standard: ");
    add_quoted(&t, d->standard);
    add(&t, "\n  conditioning: ");
    add_quoted(&t, d->conditioning);
    add(&t, "\n  specimens: %ld\n  speed: ", d->specimens);
    add_number(&t, d->speed_mm_min);
    add(&t, "\nchannels:\n");
    for (size_t i = 0; i < d->n_channels; i++) {
        add(&t, "  - {name: ");
        add_quoted(&t, d->channels[i].name);
        add(&t, ", unit: ");
        add_quoted(&t, d->channels[i].unit);
        add(&t, "}\n");
    }
    add(&t, "parameters:\n");
    for (size_t i = 0; i < d->n_params; i++) {
        const struct cert_param_spec *ps = NULL;
        for (size_t k = 0; k < m->n_params; k++)
            if (strcmp(m->params[k].key, d->params[i].key) == 0)
                ps = &m->params[k];
        double v = d->params[i].value;
        add(&t, "  %s: ", d->params[i].key);
        if (ps && ps->boolean) {
            add(&t, "%s\n", v != 0.0 ? "true" : "false");
        } else if (ps && ps->choices) {
            size_t n = 0;
            while (ps->choices[n])
                n++;
            size_t idx = v >= 0.0 && v < (double)n ? (size_t)v : 0;
            add(&t, "%s\n", ps->choices[idx]);
        } else {
            add_number(&t, v);
            add(&t, "\n");
        }
    }
    /* Every input of the method-file table; "dimension" serves width and thickness there, as in
     * every method's budget (were they ever apart, the recompute would show it in
     * method.uncertainty). */
    add(&t, "uncertainty:\n  k: ");
    add_number(&t, d->uncertainty.k);
    add(&t, "\n");
    for (const struct pd_cfg_field *f = cert_budget_fields(); f->key; f++) {
        size_t first = offsetof(struct pd_uncertainty_budget, input);
        if (f->type != PD_CFG_T_DOUBLE || f->offset < first)
            continue; /* k, repeatability */
        size_t source = (f->offset - first) / sizeof(double);
        add(&t, "  %s: ", f->key);
        add_number(&t, d->uncertainty.input[source]);
        add(&t, "\n");
    }
    add(&t, "  repeatability: %s\n", d->uncertainty.repeatability ? "true" : "false");
    return t.ok ? t.s : NULL;
}

int cert_method_from_doc(const json_t *method, struct pd_method_def *def, char *note, size_t note_size,
                         struct pd_err *err)
{
    const char *definition = json_string_value(json_object_get(method, "definition"));
    const char *text = json_string_value(json_object_get(method, "text"));
    const char *file = json_string_value(json_object_get(method, "file"));
    const char *base = json_string_value(json_object_get(method, "base"));
    static struct pd_method_def d;
    int rc;
    if (note && note_size)
        note[0] = '\0';
    if (definition) {
        rc = pd_method_load_string("the certificate's method.definition", definition, &d, err);
        if (rc < 0)
            return rc;
        /* The file the lab named and its text, as recorded: provenance, not evaluation input. */
        pd_strlcpy(d.path, file && strcmp(file, "(built-in defaults)") != 0 ? file : "", sizeof d.path);
        if (pd_strlcpy(d.text, text ? text : "", sizeof d.text) < 0)
            return pd_err_set(err, PD_EDATA, NULL, "the certificate's method.text is longer than %zu bytes",
                              sizeof d.text - 1);
        *def = d;
        return 0;
    }
    /* A certificate from before method.definition: its file text or the built-in defaults, with
     * every parameter it lists taken from method.parameters as recorded. */
    rc = text ? pd_method_load_string(file ? file : "method", text, &d, err) : pd_method_defaults(base, &d, err);
    if (rc < 0)
        return rc;
    const json_t *params = json_object_get(method, "parameters");
    for (size_t i = 0; i < d.n_params; i++) {
        const json_t *v = json_object_get(params, d.params[i].key);
        if (json_is_number(v))
            d.params[i].value = json_number_value(v);
        else if (note && note_size)
            cert_say(note, note_size, "the certificate records no method.parameters.%s: this build's %g used",
                     d.params[i].key, d.params[i].value);
    }
    if (note && note_size && !note[0])
        cert_say(note, note_size, "the certificate has no method.definition; method.parameters used as recorded");
    *def = d;
    return 0;
}

static json_t *method_json(struct ctx *c)
{
    const struct pd_method_def *d = c->b->method;
    json_t *o = json_object();
    J(o, "id", cert_jstr(d->id));
    J(o, "base", cert_jstr(d->base));
    J(o, "title", cert_jstr(d->title));
    J(o, "standard", cert_jstr(d->standard));
    J(o, "conditioning", cert_jstr(d->conditioning));
    J(o, "specimens", json_integer(d->specimens));
    J(o, "speed_mm_min", cert_jreal(d->speed_mm_min));
    /* Every departure from the standard's procedure, stated on the certificate (ISO/IEC 17025 7.8). */
    json_t *dev = json_array();
    if (c->m->deviations) {
        char lines[CERT_MAX_DEVIATIONS][CERT_DEVIATION_LEN]; /* 3.8 KiB */
        size_t n = c->m->deviations(d, lines, CERT_MAX_DEVIATIONS);
        for (size_t i = 0; i < n && i < CERT_MAX_DEVIATIONS; i++)
            JA(dev, cert_jstr(lines[i]));
    }
    J(o, "deviations", dev);
    json_t *params = json_object();
    for (size_t i = 0; i < d->n_params; i++)
        J(params, d->params[i].key, cert_jreal(d->params[i].value));
    J(o, "parameters", params);
    json_t *ch = json_array();
    for (size_t i = 0; i < d->n_channels; i++)
        JA(ch, json_pack("{s:s,s:s}", "name", d->channels[i].name, "unit", d->channels[i].unit));
    J(o, "channels", ch);
    static const char *const names[PD_U_SOURCE_COUNT] = {
        "force_class_percent", "displacement_class_percent", "width_mm", "thickness_mm", "length_mm",
        "energy_percent", "mass_percent", "time_percent", "liquid_density_percent", "temperature_K", "reading",
        "displacement_abs_mm", "mass_abs_mg", "area_percent"};
    json_t *u = json_object();
    J(u, "k", cert_jreal(d->uncertainty.k));
    J(u, "repeatability", json_boolean(d->uncertainty.repeatability));
    json_t *in = json_object();
    for (int s = 0; s < PD_U_SOURCE_COUNT; s++)
        if (d->uncertainty.input[s] != 0.0)
            J(in, names[s], cert_jreal(d->uncertainty.input[s]));
    J(u, "inputs_half_width_rectangular", in);
    J(u, "model", cert_jstr("GUM: u_rel² = Σ (c_i·a_i/√3)² over the method's sources, and the method's own terms "
                            "where a sensitivity depends on the specimen's data (docs/CERTIFICATES.md §5); mean adds "
                            "(s/√n)² when repeatability is on; U = k·u"));
    J(o, "uncertainty", u);
    J(o, "file", cert_jstr(d->path[0] ? d->path : "(built-in defaults)"));
    if (d->text[0])
        J(o, "text", cert_jstr(d->text));
    char *definition = cert_method_definition(d, c->m);
    if (!definition)
        c->ok = false;
    J(o, "definition", cert_jstr(definition));
    free(definition);
    return o;
}

/* The test conditions (ISO/IEC 17025 7.8.2.1, 7.8.3.1 a): the method's, and what the runs
 * recorded of speed and atmosphere, each with its unit, per run. */
static json_t *conditions_json(struct ctx *c)
{
    static const char *const recorded_keys[] = {"speed", "speed_modulus", "speed_test", "temperature",
                                                 "ambient_temperature", "test_temperature", "humidity",
                                                 "relative_humidity", NULL};
    const struct pd_method_def *d = c->b->method;
    json_t *o = json_object();
    J(o, "method", cert_jstr(d->title));
    J(o, "standard", cert_jstr(d->standard));
    J(o, "conditioning", cert_jstr(d->conditioning));
    J(o, "speed_mm_min", cert_jreal(d->speed_mm_min));
    json_t *runs = json_array();
    for (size_t r = 0; r < c->b->n_runs; r++) {
        json_t *rec = json_object();
        J(rec, "run_id", cert_jstr(pd_run_attr(c->runs[r], "run_id")));
        for (size_t k = 0; recorded_keys[k]; k++) {
            const char *v = pd_run_attr(c->runs[r], recorded_keys[k]);
            if (!v)
                continue;
            char unit_key[64];
            snprintf(unit_key, sizeof unit_key, "%s_units", recorded_keys[k]);
            const char *u = pd_run_attr(c->runs[r], unit_key);
            J(rec, recorded_keys[k], json_pack("{s:o,s:o}", "value", cert_jstr(v), "unit", cert_jstr(u ? u : "")));
        }
        JA(runs, rec);
    }
    J(o, "recorded", runs);
    return o;
}

/* The raw files are hashed on a second thread while the first reads and evaluates them. */
struct pd_cert_hashing {
    const char *const *paths;
    size_t n;
    char (*hex)[65];
    pthread_t thread;
    bool threaded;
    int rc;
    struct pd_err err;
};

static void *hash_files(void *arg)
{
    struct pd_cert_hashing *h = arg;
    prctl(PR_SET_NAME, "pd-hash");
    /* Lower priority for this thread only (Linux: nice is per thread): the reader's decoding and
     * the evaluation are on the critical path at first, the hash only before the document. */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    for (size_t r = 0; r < h->n && h->rc == 0; r++)
        h->rc = pd_sha256_file(h->paths[r], h->hex[r], &h->err);
    return NULL;
}

int pd_cert_hashing_start(const char *const *paths, size_t n, struct pd_cert_hashing **out, struct pd_err *err)
{
    if (!paths || !out)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_cert_hashing_start: missing paths or output");
    struct pd_cert_hashing *h = calloc(1, sizeof *h);
    char (*hex)[65] = calloc(n ? n : 1, sizeof *hex);
    if (!h || !hex) {
        free(h);
        free(hex);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    }
    *h = (struct pd_cert_hashing){.paths = paths, .n = n, .hex = hex};
    pd_err_clear(&h->err);
    /* The runs' reader processes are forked now, before this process has a second thread (see
     * pd_store_readers_prepare); one that cannot be is forked on demand when its run is opened. */
    struct pd_err ignored;
    (void)pd_store_readers_start(paths, n, &ignored);
    h->threaded = pthread_create(&h->thread, NULL, hash_files, h) == 0;
    if (!h->threaded)
        hash_files(h); /* no thread: hash here */
    *out = h;
    return PD_OK;
}

int pd_cert_hashing_finish(struct pd_cert_hashing *h, char (*hex)[65], struct pd_err *err)
{
    if (!h)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_cert_hashing_finish: no hashing");
    if (h->threaded)
        pthread_join(h->thread, NULL);
    pd_store_readers_release(); /* the runs are open by now, or will not be */
    int rc = h->rc;
    if (rc < 0 && err)
        *err = h->err;
    if (rc == 0 && hex)
        memcpy(hex, h->hex, h->n * sizeof *hex);
    free(h->hex);
    free(h);
    return rc;
}

/* ---- the seal gate (docs/CERTIFICATES.md §6) ------------------------------------------------*/
/* What a seal must state about the run, as read from its file. */
static void seal_facts_of(struct pd_run *run, struct pd_seal_facts *f)
{
    memset(f, 0, sizeof *f);
    const char *v = pd_run_attr(run, "run_id");
    pd_strlcpy(f->run_id, v ? v : "", sizeof f->run_id);
    v = pd_run_attr(run, "outcome");
    pd_strlcpy(f->outcome, v ? v : "", sizeof f->outcome);
    double sim = 0.0;
    f->simulated = pd_run_attr_double(run, "simulated", &sim) == 0 && sim == 1.0;
    /* an acquisition has at most PD_ACQ_MAX_INSTRUMENTS (8): a seal can state 16 */
    for (size_t i = 0; i < pd_run_instrument_count(run) && i < PD_SEAL_MAX_INSTRUMENTS; i++) {
        struct pd_seal_instrument *in = &f->instruments[i];
        v = pd_run_instrument_name(run, i);
        pd_strlcpy(in->name, v ? v : "", sizeof in->name);
        v = pd_run_instrument_attr(run, i, "model");
        pd_strlcpy(in->model, v ? v : "", sizeof in->model);
        v = pd_run_instrument_attr(run, i, "serial_number");
        pd_strlcpy(in->serial, v ? v : "", sizeof in->serial);
        v = pd_run_instrument_attr(run, i, "firmware");
        pd_strlcpy(in->firmware, v ? v : "", sizeof in->firmware);
        f->n_instruments = i + 1;
    }
}

int pd_cert_seal_facts(const char *run_path, struct pd_seal_facts *out, struct pd_err *err)
{
    if (!run_path || !out)
        return pd_err_set(err, PD_EINVAL, NULL, "seal facts: missing run path or output");
    struct pd_run *run = NULL;
    int rc = pd_run_open(run_path, &run, err);
    if (rc < 0)
        return rc;
    seal_facts_of(run, out);
    pd_run_close(run);
    return 0;
}

/* A run's seal as certify found it: loaded (signature valid under the key it names) or why not. */
struct run_seal {
    bool loaded;
    bool key_trusted;
    struct pd_seal seal;
    struct pd_seal_facts facts; /* what the file states */
    char reason[600];           /* set when the seal does not count */
};

/* The text of an error without the place it names (the certificate lists the run files). */
static const char *err_text(const struct pd_err *e)
{
    size_t n = strlen(e->where);
    if (n && strncmp(e->msg, e->where, n) == 0 && e->msg[n] == ':' && e->msg[n + 1] == ' ')
        return e->msg + n + 2;
    return e->msg;
}

/* Reads the seal beside run file r and records it in the run's certificate entry `o`; the checks
 * that need the file's SHA-256 come in seal_check, once the hashing thread has it. */
static void seal_load(struct ctx *c, size_t r, json_t *o, struct run_seal *rs)
{
    const char *path = c->b->run_paths[r];
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    seal_facts_of(c->runs[r], &rs->facts);
    char seal_path[4200];
    struct pd_err e = {0};
    enum pd_seal_verdict v = PD_SEAL_UNREADABLE;
    if (pd_seal_path(path, seal_path, sizeof seal_path, &e) < 0 || pd_seal_load(seal_path, &rs->seal, &v, &e) < 0) {
        if (v == PD_SEAL_ABSENT)
            cert_say(rs->reason, sizeof rs->reason, "run file not sealed: %s has no seal (%s" PD_SEAL_SUFFIX ")", name,
                     name);
        else if (strncmp(err_text(&e), "seal does not verify", 20) == 0)
            cert_say(rs->reason, sizeof rs->reason, "%s (%s)", err_text(&e), name);
        else
            cert_say(rs->reason, sizeof rs->reason, "seal does not verify: %s", e.msg);
        J(o, "seal", json_null());
        return;
    }
    rs->loaded = true;
    for (size_t k = 0; k < c->b->n_trusted_stations && !rs->key_trusted; k++)
        rs->key_trusted = memcmp(c->b->trusted_stations[k].bytes, rs->seal.station.bytes, PD_KEY_PUBLIC_BYTES) == 0;
    json_t *so = json_object();
    J(so, "station", cert_jstr(rs->seal.station_name));
    J(so, "key_id", cert_jstr(rs->seal.station.id));
    J(so, "public_key", cert_jstr(rs->seal.station.hex));
    J(so, "closed", cert_jstr(rs->seal.closed));
    J(so, "signature", cert_jstr(rs->seal.signature));
    J(so, "key_trusted", json_boolean(rs->key_trusted));
    J(o, "seal", so);
}

/* The rest of the seal's checks: its key trusted, the file's size and SHA-256 (sha256: from the
 * hashing thread, or NULL to hash here) and the facts the file states. */
static void seal_check(struct ctx *c, size_t r, const char *sha256, struct run_seal *rs)
{
    if (!rs->loaded)
        return;
    const char *path = c->b->run_paths[r];
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    struct pd_err e = {0};
    if (pd_seal_check(&rs->seal, path, sha256, &rs->facts, c->b->trusted_stations, c->b->n_trusted_stations, NULL,
                      &e) < 0)
        cert_say(rs->reason, sizeof rs->reason, "%s (%s)", err_text(&e), name);
}

/* A run's part of the gate before the hashes are in: its seal read and recorded in its entry `o`,
 * and never accredited, whatever the seal: data polydaq did not acquire, and data rebuilt from a
 * crashed file (neither is ever sealed; a seal beside one is stale). */
static void seal_gate_run(struct ctx *c, size_t r, json_t *o, struct run_seal *rs, json_t *gate)
{
    struct pd_run *run = c->runs[r];
    seal_load(c, r, o, rs);
    const char *rid = pd_run_attr(run, "run_id") ? pd_run_attr(run, "run_id") : "?";
    char why[300];
    if (pd_run_attr(run, "imported") && strcmp(pd_run_attr(run, "imported"), "1") == 0) {
        cert_say(why, sizeof why, "imported data: run %s was made by polydaq import from another machine's export",
                 rid);
        JA(gate, cert_jstr(why));
    }
    if (pd_run_attr(run, "recovered") && strcmp(pd_run_attr(run, "recovered"), "1") == 0) {
        cert_say(why, sizeof why, "recovered file: run %s was rebuilt by polydaq recover from a crashed file", rid);
        JA(gate, cert_jstr(why));
    }
}

static void set_accreditation(struct ctx *c, json_t *acc, bool accredited)
{
    J(acc, "accredited", json_boolean(accredited));
    J(acc, "statement", cert_jstr(accredited ? "Results covered by the laboratory's accreditation."
                                             : "NOT ACCREDITED: these results are reported outside the scope of "
                                               "accreditation for the reasons listed."));
}

size_t cert_trusted_stations_of(const json_t *doc, struct pd_public_key *keys, size_t max)
{
    size_t n = 0;
    const json_t *runs = json_object_get(doc, "runs");
    for (size_t r = 0; r < json_array_size(runs) && n < max; r++) {
        const json_t *seal = json_object_get(json_array_get(runs, r), "seal");
        if (!json_is_true(json_object_get(seal, "key_trusted")))
            continue;
        if (pd_public_key_from_hex(json_string_value(json_object_get(seal, "public_key")), &keys[n], NULL) == 0)
            n++;
    }
    return n;
}

int cert_build_document(const struct cert_build *b, json_t **doc_out, enum pd_verdict *verdict_out,
                        bool *accredited_out, size_t *n_specimens, size_t *n_failed, struct pd_err *err)
{
    const struct pd_spec *spec = b->spec;
    struct ctx ctx = {.b = b, .ok = true}, *c = &ctx;
    c->m = cert_method_find(b->method->base);
    if (!c->m || strcmp(b->method->base, spec->method) != 0)
        return pd_err_set(err, PD_EINVAL, NULL, "method '%s' (base '%s') does not evaluate the spec's method '%s'",
                          b->method->id, b->method->base, spec->method);
    if (b->n_runs == 0)
        return pd_err_set(err, PD_EINVAL, NULL, "certify: no run file given");
    size_t prop_of_limit[PD_SPEC_MAX_LIMITS];
    for (size_t l = 0; l < spec->n_limits; l++) {
        int idx = pd_cert_property_index(spec->method, spec->limits[l].property);
        if (idx < 0 || strcmp(spec->limits[l].unit, c->m->props[idx].unit) != 0)
            return pd_err_set(err, PD_EINVAL, spec->limits[l].where, "spec limit on '%s' [%s] is not a %s property",
                              spec->limits[l].property, spec->limits[l].unit, spec->method);
        prop_of_limit[l] = (size_t)idx;
    }
    c->runs = calloc(b->n_runs, sizeof *c->runs);
    char (*hex)[65] = calloc(b->n_runs, sizeof *hex);
    struct run_seal *seals = calloc(b->n_runs, sizeof *seals);
    struct pd_cert_hashing *hashing = b->hash_files ? b->hashing : NULL;
    if (hashing && b->hashing_taken)
        *b->hashing_taken = true;
    int rc = 0;
    if (!c->runs || !hex || !seals)
        rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    else if (b->hash_files && !hashing)
        rc = pd_cert_hashing_start(b->run_paths, b->n_runs, &hashing, err);
    if (rc < 0) {
        if (hashing)
            pd_cert_hashing_finish(hashing, NULL, NULL);
        free(c->runs);
        free(hex);
        free(seals);
        return rc;
    }
    for (size_t r = 0; r < b->n_runs && rc == 0; r++) {
        rc = pd_run_open(b->run_paths[r], &c->runs[r], err);
        if (rc < 0)
            break;
        const char *method = pd_run_attr(c->runs[r], "method");
        if (!method || strcmp(method, spec->method) != 0)
            rc = pd_err_set(err, PD_EDATA, b->run_paths[r], "run method '%s' does not match the spec's method '%s'",
                            method ? method : "(none)", spec->method);
    }
    size_t evaluated = 0, failed = 0;
    if (rc == 0)
        rc = evaluate_all(c, &evaluated, err);
    json_t *doc = NULL;
    enum pd_verdict verdict = PD_VERDICT_PASS;
    bool accredited = true;
    if (rc == 0) {
        doc = json_object();
        json_t *reasons = json_array(), *gate = json_array();
        struct pd_run *first = c->runs[0];
        J(doc, "title", cert_jstr("Test report with statement of conformity"));
        J(doc, "software", json_pack("{s:s,s:s}", "name", "polydaq", "version", PD_VERSION_STRING));
        J(doc, "lab", json_pack("{s:o,s:o}", "name", cert_jstr(pd_run_attr(first, "lab_name")), "address",
                                cert_jstr(pd_run_attr(first, "lab_address"))));
        J(doc, "operator", cert_jstr(pd_run_attr(first, "operator")));
        J(doc, "customer", cert_jstr(b->customer ? b->customer : pd_run_attr(first, "customer")));
        J(doc, "request_id", cert_jstr(b->request_id ? b->request_id : pd_run_attr(first, "request_id")));
        J(doc, "material", cert_jstr(spec->material));
        json_t *so = json_object();
        J(so, "name", cert_jstr(spec->name));
        J(so, "file", cert_jstr(spec->path));
        J(so, "method", cert_jstr(spec->method));
        J(so, "text", cert_jstr(spec->text));
        J(doc, "spec", so);
        J(doc, "method", method_json(c));
        J(doc, "properties", properties_json(c));
        J(doc, "test_conditions", conditions_json(c));

        bool simulated = false;
        json_t *runs = json_array();
        char first_day[40] = "", last_day[40] = "";
        for (size_t r = 0; r < b->n_runs; r++) {
            struct pd_run *run = c->runs[r];
            double sim = 0.0;
            bool is_sim = pd_run_attr_double(run, "simulated", &sim) == 0 && sim == 1.0;
            simulated = simulated || is_sim;
            json_t *o = json_object();
            J(o, "file", cert_jstr(b->run_paths[r]));
            J(o, "run_id", cert_jstr(pd_run_attr(run, "run_id")));
            J(o, "start_time", cert_jstr(pd_run_attr(run, "start_time")));
            J(o, "end_time", cert_jstr(pd_run_attr(run, "end_time")));
            J(o, "simulated", json_boolean(is_sim));
            J(o, "closed_cleanly", json_boolean(pd_run_closed_cleanly(run) == 1));
            if (pd_run_attr(run, "material"))
                J(o, "material", cert_jstr(pd_run_attr(run, "material")));
            if (pd_run_attr(run, "software_version"))
                J(o, "acquisition_software_version", cert_jstr(pd_run_attr(run, "software_version")));
            if (b->hash_files)
                J(o, "sha256", json_null()); /* below, once the hashing thread is done */
            if (b->gate_before_seals)
                seals[r].loaded = true; /* nothing to check, nothing to say */
            else
                seal_gate_run(c, r, o, &seals[r], gate);
            const char *st = pd_run_attr(run, "start_time");
            if (st && (!first_day[0] || strcmp(st, first_day) < 0))
                pd_strlcpy(first_day, st, sizeof first_day);
            const char *et = pd_run_attr(run, "end_time");
            if (et && strcmp(et, last_day) > 0)
                pd_strlcpy(last_day, et, sizeof last_day);
            JA(runs, o);
        }
        J(doc, "runs", runs);
        J(doc, "test_dates", json_pack("{s:o,s:o}", "from", cert_jstr(first_day[0] ? first_day : NULL), "to",
                                       cert_jstr(last_day[0] ? last_day : NULL)));
        J(doc, "instruments", instruments_json(c, gate));
        if (simulated) {
            J(doc, "notice", cert_jstr(NOTICE_SIMULATED));
            JA(gate, cert_jstr("the data come from simulated instruments (run attribute simulated = 1)"));
        }
        /* the seals that could not be read count now; those read are checked once the hashes are in */
        for (size_t r = 0; r < b->n_runs; r++)
            if (!seals[r].loaded)
                JA(gate, cert_jstr(seals[r].reason));
        accredited = json_array_size(gate) == 0;
        json_t *acc = json_object();
        set_accreditation(c, acc, accredited);
        J(acc, "reasons", gate);
        J(doc, "accreditation", acc);

        json_t *specimens = json_array();
        size_t n_excluded = 0, n_untested = 0;
        for (size_t s = 0; s < c->n_ev; s++) {
            const struct specimen_eval *e = &c->ev[s];
            JA(specimens, specimen_json(c, e));
            char why[700];
            if (!e->tested && !e->invalidated) {
                n_untested++;
                cert_say(why, sizeof why, "specimen %s was not tested (status '%s'): the series is incomplete",
                         e->id ? e->id : "?", e->status ? e->status : "");
                JA(reasons, cert_jstr(why));
            }
            if (e->tested && !e->evaluated) {
                n_excluded++;
                cert_say(why, sizeof why, "specimen %s could not be evaluated: %s", e->id ? e->id : "?", e->reason);
                JA(reasons, cert_jstr(why));
            }
        }
        J(doc, "specimens", specimens);
        if (n_excluded > 0 || n_untested > 0)
            verdict = PD_VERDICT_FAIL; /* an incomplete series cannot pass */
        if (evaluated == 0) {
            verdict = PD_VERDICT_FAIL;
            JA(reasons, cert_jstr("no specimen of the run was evaluated"));
        }
        J(doc, "series", series_json(c));
        json_t *checks = json_array();
        for (size_t l = 0; l < spec->n_limits; l++) {
            json_t *check = json_object();
            enum pd_verdict v = check_limit(c, &spec->limits[l], prop_of_limit[l], check, reasons);
            if (v != PD_VERDICT_PASS)
                failed++;
            verdict = pd_verdict_combine(verdict, v);
            JA(checks, check);
        }
        J(doc, "checks", checks);
        J(doc, "decision_rule", json_pack("{s:s,s:s,s:o}", "id", pd_decision_rule_id(spec->decision_rule), "text",
                                          pd_decision_rule_text(spec->decision_rule), "guard_band_factor",
                                          cert_jreal(spec->decision_rule == PD_RULE_SIMPLE ? 0.0 : spec->guard_factor)));
        J(doc, "statement", cert_jstr("The results relate only to the items tested. This report shall not be "
                                      "reproduced except in full without the written approval of the laboratory."));
        J(doc, "verdict", cert_jstr(pd_verdict_name(verdict)));
        J(doc, "verdict_reasons", reasons);
        if (!c->ok && rc == 0)
            rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory while building the certificate");
    }
    /* The hashes usually come last (a raw file takes longer to hash than to evaluate): what needs
     * the document but not them runs in the meantime, and so does the clean-up of the evaluation
     * (closing the run files is ~0.2 ms that would otherwise follow the hash). */
    for (size_t s = 0; c->ev && s < c->n_ev; s++) {
        json_decref(c->ev[s].v.dimensions);
        json_decref(c->ev[s].v.info);
    }
    free(c->ev);
    c->ev = NULL;
    for (size_t r = 0; r < b->n_runs; r++)
        if (c->runs[r])
            pd_run_close(c->runs[r]);
    free(c->runs);
    c->runs = NULL;
    if (hashing) {
        struct pd_err herr;
        int hrc = pd_cert_hashing_finish(hashing, hex, &herr);
        if (rc == 0 && hrc < 0) {
            rc = hrc;
            if (err)
                *err = herr;
        }
    }
    if (rc == 0 && b->hash_files) {
        json_t *runs = json_object_get(doc, "runs");
        for (size_t r = 0; r < b->n_runs; r++)
            J(json_array_get(runs, r), "sha256", cert_jstr(hex[r]));
    }
    if (rc == 0) { /* the seals read: checked against the file's hash the hashing thread made */
        json_t *acc = json_object_get(doc, "accreditation");
        json_t *gate = json_object_get(acc, "reasons");
        for (size_t r = 0; r < b->n_runs && !b->gate_before_seals; r++) {
            if (!seals[r].loaded)
                continue;
            seal_check(c, r, b->hash_files ? hex[r] : NULL, &seals[r]);
            if (seals[r].reason[0])
                JA(gate, cert_jstr(seals[r].reason));
        }
        accredited = json_array_size(gate) == 0;
        set_accreditation(c, acc, accredited);
        if (!c->ok)
            rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory while building the certificate");
    }
    free(hex);
    free(seals);
    if (rc < 0) {
        json_decref(doc);
        return rc;
    }
    *doc_out = doc;
    *verdict_out = verdict;
    *accredited_out = accredited;
    *n_specimens = evaluated;
    *n_failed = failed;
    return 0;
}

/* ---- numbering and the draft (numbers come from the lab folder's registry) ----------------*/
int cert_content_hash(const json_t *doc, char hex[65])
{
    static const char *const volatile_keys[] = {"status", "approvals", "audit", "signature", "issued", NULL};
    char *text = cert_canonical(doc, volatile_keys);
    if (!text)
        return PD_ENOMEM;
    cert_sha256_hex(text, strlen(text), hex);
    free(text);
    return 0;
}

static int resolve_method(const struct pd_spec *spec, const struct pd_certify_options *opt, struct pd_method_def *def,
                          struct pd_err *err)
{
    if (opt->method_path)
        return pd_method_load(opt->method_path, def, err);
    if (spec->method_file[0]) {
        char path[6000], dir[4096];
        if (spec->method_file[0] == '/') {
            snprintf(path, sizeof path, "%s", spec->method_file);
        } else {
            cert_dirname(spec->path, dir, sizeof dir);
            snprintf(path, sizeof path, "%s/%s", dir, spec->method_file);
        }
        return pd_method_load(path, def, err);
    }
    return pd_method_defaults(spec->method, def, err);
}

/* The disk side of a draft, on a second thread while the first renders the PDF: the document
 * formatted, its row recorded and the transaction (number, row, audit entry) committed, then the
 * JSON export written atomically. The registry commits first: a number is used once it is there. */
struct write_job {
    const json_t *doc; /* final; only read by both threads */
    const char *const *run_paths;
    size_t n_runs;
    struct pd_registry *reg;
    struct pd_registry_cert *row;
    const char *json_path, *cert_id;
    struct cert_doc_hash *doc_hash; /* set first, for the PDF's QR code on the other thread; may be NULL */
    int rc;
    struct pd_err err;
};

/* The seal beside each run file (RUN.h5.seal, docs/CERTIFICATES.md), recorded in the registry in
 * the draft's transaction: the registry keeps the first seal of each run file it certified, so a
 * seal replaced later is refused. Whether a seal verifies is the accreditation gate's question. */
static int record_seals(struct pd_registry *reg, const char *const *paths, size_t n, struct pd_err *err)
{
    for (size_t i = 0; i < n; i++) {
        char path[4200];
        if ((size_t)snprintf(path, sizeof path, "%s.seal", paths[i]) >= sizeof path)
            continue;
        json_error_t je;
        json_t *seal = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
        const char *run_id = json_string_value(json_object_get(seal, "run_id"));
        const char *sha = json_string_value(json_object_get(seal, "sha256"));
        const char *station = json_string_value(json_object_get(json_object_get(seal, "station"), "key_id"));
        char *text = run_id && sha ? pd_json_canonical(seal, NULL) : NULL;
        int rc = text ? pd_registry_record_seal(reg, run_id, sha, station, text, err) : 0;
        free(text);
        json_decref(seal);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void *write_draft(void *arg)
{
    prctl(PR_SET_NAME, "pd-write-draft");
    struct write_job *j = arg;
    if (j->doc_hash) /* first, and whatever follows fails: the PDF waits for it */
        cert_doc_hash_set(j->doc_hash, j->doc);
    char *text = cert_document_text(j->doc);
    char *canon = cert_canonical(j->doc, NULL);
    if (!text || !canon)
        j->rc = pd_err_set(&j->err, PD_ENOMEM, NULL, "out of memory while formatting %s", j->cert_id);
    if (j->rc == 0)
        j->rc = record_seals(j->reg, j->run_paths, j->n_runs, &j->err);
    if (j->rc == 0) {
        cert_sha256_hex(canon, strlen(canon), j->row->document_sha256);
        j->row->document = text;
        j->rc = pd_registry_cert_insert(j->reg, j->row, &j->err);
        j->row->document = NULL;
    }
    free(canon);
    if (j->rc == 0)
        j->rc = pd_registry_commit(j->reg, &j->err);
    else
        pd_registry_rollback(j->reg);
    if (j->rc == 0) {
        struct pd_err e = {0};
        if (pd_write_file_atomic(j->json_path, text, strlen(text), &e) < 0)
            j->rc = pd_err_set(&j->err, e.code, NULL,
                               "%s is recorded in the registry, but its JSON could not be written: %s "
                               "(`polydaq registry export %s` once fixed)", j->cert_id, e.msg, j->cert_id);
    }
    free(text);
    return NULL;
}

static int certify_runs(const char *const *run_paths, size_t n_runs, const struct pd_spec *spec,
                        const struct pd_certify_options *opt, bool *hashing_taken, struct pd_certify_result *result,
                        struct pd_err *err);

int pd_certify_runs(const char *const *run_paths, size_t n_runs, const struct pd_spec *spec,
                    const struct pd_certify_options *opt, struct pd_certify_result *result, struct pd_err *err)
{
    bool taken = false;
    int rc = certify_runs(run_paths, n_runs, spec, opt, &taken, result, err);
    if (opt && opt->hashing && !taken) /* refused before the evaluation took it over */
        pd_cert_hashing_finish(opt->hashing, NULL, NULL);
    return rc;
}

/* --revises must name an issued certificate of the folder's registry (checked before the work). */
static int check_revised(const struct pd_certify_options *opt, struct pd_err *err)
{
    struct pd_registry reg;
    struct pd_registry_cert old;
    struct pd_err e = {0};
    int rc = pd_registry_open(&reg, opt->out_dir, 0, &e);
    if (rc == 0) {
        rc = pd_registry_cert_get(&reg, opt->replaces, &old, &e);
        pd_registry_close(&reg);
    }
    if (rc == PD_ESTATE)
        return pd_err_set(err, PD_ECONFIG, opt->replaces,
                          "--revises must name an issued certificate of the registry in %s (CERT-NNNNNN): there is none",
                          opt->out_dir);
    if (rc < 0) {
        if (err)
            *err = e;
        return rc;
    }
    if (strcmp(old.status, "issued") != 0)
        rc = pd_err_set(err, PD_ECONFIG, opt->replaces, "--revises %s: it is '%s'; only an issued certificate is revised",
                        opt->replaces, old.status);
    pd_registry_cert_free(&old);
    return rc;
}

/* The PDF's temporary file in dir, made before the evaluation: a new file's inode can cost a disk
 * read or two (0.5-0.9 ms on the benchmark machine) that this thread waits for more cheaply while
 * the run files' readers work than after the evaluation, when all else waits for the PDF. Named
 * CERT-*.tmp.PID, as export's cleanup of interrupted writes expects, unique per thread. Renamed
 * to the certificate's name once written, removed on failure; path "" when it cannot be made
 * (then made under the certificate's name later, as before). */
static void make_pdf_temporary(const char *dir, char *path, size_t size)
{
    int n = snprintf(path, size, "%s/CERT-draft-%ld.pdf.tmp.%ld", dir, (long)syscall(SYS_gettid), (long)getpid());
    int fd = n >= 0 && (size_t)n < size ? open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666) : -1;
    if (fd < 0)
        path[0] = '\0';
    else
        close(fd);
}

static int certify_runs(const char *const *run_paths, size_t n_runs, const struct pd_spec *spec,
                        const struct pd_certify_options *opt, bool *hashing_taken, struct pd_certify_result *result,
                        struct pd_err *err)
{
    if (!run_paths || n_runs == 0 || !spec || !opt || !opt->out_dir || !result)
        return pd_err_set(err, PD_EINVAL, NULL, "certify: missing run paths, spec, output directory or result");
    if (spec->n_limits > PD_SPEC_MAX_LIMITS)
        return pd_err_set(err, PD_EINVAL, NULL, "certify: spec has %zu limits, at most %d", spec->n_limits,
                          PD_SPEC_MAX_LIMITS);
    if (opt->replaces && (!opt->reason || !opt->reason[0]))
        return pd_err_set(err, PD_EINVAL, NULL, "certify: a revision of %s needs the reason for it", opt->replaces);
    static struct pd_method_def def;
    int rc = resolve_method(spec, opt, &def, err);
    if (rc < 0)
        return rc;
    /* The registry first: a revision must name an issued certificate of it, before the work. A
     * folder of certificates from before the registry is migrated first, never numbered anew. */
    if (pd_cert_folder_unmigrated(opt->out_dir))
        return pd_err_set(err, PD_ESTATE, opt->out_dir,
                          "holds certificates from before the registry (counter, audit.log, CERT-*.json): "
                          "`polydaq registry migrate %s` first", opt->out_dir);
    if (opt->replaces && (rc = check_revised(opt, err)) < 0)
        return rc;
    char pdf_tmp[4200] = "";
    if (!opt->no_pdf)
        make_pdf_temporary(opt->out_dir, pdf_tmp, sizeof pdf_tmp);
    static struct cert_curve_set curves;
    memset(&curves, 0, sizeof curves);
    struct cert_build b = {.run_paths = run_paths, .n_runs = n_runs, .spec = spec, .method = &def,
                           .request_id = opt->request_id, .customer = opt->customer, .hash_files = true,
                           .hashing = opt->hashing, .hashing_taken = hashing_taken,
                           .curves = opt->no_pdf ? NULL : &curves,
                           .trusted_stations = opt->trusted_stations, .n_trusted_stations = opt->n_trusted_stations};
    curves.plotable = cert_method_find(def.base) && cert_method_find(def.base)->curve;
    json_t *doc = NULL;
    struct pd_certify_result res = {0};
    rc = cert_build_document(&b, &doc, &res.verdict, &res.accredited, &res.n_specimens, &res.n_failed, err);
    /* The registry is made (when missing) only for a certificate to record: bad input leaves no
     * file behind. */
    struct pd_registry reg;
    if (rc == 0)
        rc = pd_registry_open(&reg, opt->out_dir, PD_REGISTRY_CREATE, err);
    if (rc < 0) {
        if (pdf_tmp[0])
            unlink(pdf_tmp);
        cert_curve_set_free(&curves);
        json_decref(doc);
        return rc;
    }
    const json_t *gate = json_object_get(json_object_get(doc, "accreditation"), "reasons");
    for (size_t i = 0; i < json_array_size(gate); i++) { /* for the command's output */
        size_t used = strlen(res.accreditation_reasons);
        snprintf(res.accreditation_reasons + used, sizeof res.accreditation_reasons - used, "%s%s", i ? "; " : "",
                 json_string_value(json_array_get(gate, i)));
    }
    bool ok = true;
    char now[40];
    struct pd_registry_cert row;
    memset(&row, 0, sizeof row);
    pd_time_format_iso8601(pd_clock_utc_ns(), now, sizeof now);
    cert_jset(doc, "status", cert_jstr("draft"), &ok);
    cert_jset(doc, "drafted", cert_jstr(now), &ok);
    if (opt->replaces)
        cert_jset(doc, "revision", json_pack("{s:s,s:s}", "replaces", opt->replaces, "reason", opt->reason), &ok);

    /* One transaction: the number, the draft's audit entry and (on the writer thread) its row. */
    unsigned long number = 0;
    rc = pd_registry_begin(&reg, err);
    if (rc == 0)
        rc = pd_registry_next_number(&reg, &number, err);
    if (rc == 0) {
        snprintf(res.cert_id, sizeof res.cert_id, "CERT-%06lu", number);
        int n1 = snprintf(res.json_path, sizeof res.json_path, "%s/%s.json", opt->out_dir, res.cert_id);
        int n2 = snprintf(res.pdf_path, sizeof res.pdf_path, "%s/%s.pdf", opt->out_dir, res.cert_id);
        int n3 = pdf_tmp[0] ? 0 : snprintf(pdf_tmp, sizeof pdf_tmp, "%s.tmp.%ld", res.pdf_path, (long)getpid());
        if (n1 < 0 || (size_t)n1 >= sizeof res.json_path || n2 < 0 || (size_t)n2 >= sizeof res.pdf_path || n3 < 0 ||
            (size_t)n3 >= sizeof pdf_tmp)
            rc = pd_err_set(err, PD_EINVAL, NULL, "certificate path too long in %s", opt->out_dir);
    }
    /* A new number's files cannot exist yet (they are written only after its commit): one that
     * does is not this registry's, and is never overwritten. */
    if (rc == 0 && (access(res.json_path, F_OK) == 0 || access(res.pdf_path, F_OK) == 0))
        rc = pd_err_set(err, PD_ESTATE, res.json_path,
                        "exists, but %s is not in the registry: not overwritten (a folder from before the registry? "
                        "`polydaq registry migrate`)", res.cert_id);
    if (rc == 0) /* the lab's verification page for this number (signed with the content) */
        rc = cert_set_verification_url(&reg, doc, res.cert_id, err);
    if (rc == 0) {
        cert_jset(doc, "certificate_id", cert_jstr(res.cert_id), &ok);
        if (!ok || cert_content_hash(doc, row.content_sha256) < 0)
            rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory while building %s", res.cert_id);
    }
    json_t *entry = NULL;
    if (rc == 0)
        rc = pd_registry_audit_append(&reg, "draft", res.cert_id, json_string_value(json_object_get(doc, "operator")),
                                      "operator", row.content_sha256, &entry, err);
    if (rc == 0) {
        json_t *audit = json_array();
        cert_jappend(audit, json_incref(entry), &ok);
        cert_jset(doc, "audit", audit, &ok);
        if (!ok)
            rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory while building %s", res.cert_id);
    }
    if (rc < 0)
        pd_registry_rollback(&reg);
    row.number = (long long)number;
    pd_strlcpy(row.id, res.cert_id, sizeof row.id);
    pd_strlcpy(row.status, "draft", sizeof row.status);
    pd_strlcpy(row.drafted, now, sizeof row.drafted);
    if (opt->replaces)
        pd_strlcpy(row.replaces, opt->replaces, sizeof row.replaces);
    /* The document is final now. Its row, the commit and the JSON export go to disk on a second
     * thread (write_draft) while this one renders the PDF to a temporary name beside the
     * certificate (here, where the evaluation's freed memory is already mapped). The PDF takes its
     * name only once the certificate is recorded, so a failed write never leaves a PDF, nor
     * replaces another's. */
    struct write_job wj = {.doc = doc, .run_paths = run_paths, .n_runs = n_runs, .reg = &reg, .row = &row, .json_path = res.json_path, .cert_id = res.cert_id};
    pthread_t writer;
    bool writing = false;
    struct cert_doc_hash doc_hash; /* the QR code's hash, from the writer thread (~0.35 ms off this one) */
    cert_doc_hash_init(&doc_hash);
    if (rc == 0 && !opt->no_pdf) {
        wj.doc_hash = &doc_hash;
        writing = pthread_create(&writer, NULL, write_draft, &wj) == 0;
        if (!writing)
            wj.doc_hash = NULL;
    }
    if (rc == 0 && !writing) {
        write_draft(&wj); /* no PDF, or no thread: the disk first, then the PDF */
        rc = wj.rc;
        if (rc < 0 && err)
            *err = wj.err;
    }
    int pdf_rc = 0;
    struct pd_err pdf_err = {0};
    if (rc == 0 && !opt->no_pdf)
        pdf_rc = cert_render_pdf_hashed(doc, &curves, pdf_tmp, writing ? &doc_hash : NULL, &pdf_err);
    if (writing) {
        pthread_join(writer, NULL);
        rc = wj.rc;
        if (rc < 0 && err)
            *err = wj.err;
    }
    cert_doc_hash_destroy(&doc_hash);
    json_decref(entry);
    pd_registry_close(&reg);
    bool rendered = rc == 0 && !opt->no_pdf; /* attempted: a temporary file may exist */
    if (rendered && pdf_rc < 0) {
        rc = pdf_rc;
        if (err)
            pd_err_set(err, pdf_rc, NULL, "%s is recorded in the registry, but its PDF failed: %s "
                       "(`polydaq registry export %s` once fixed)", res.cert_id, pdf_err.msg, res.cert_id);
    }
    if (rendered && rc == 0) {
        pd_fault_point("pdf rename");
        if (rename(pdf_tmp, res.pdf_path) < 0)
            rc = pd_err_set_os(err, PD_EIO, errno, res.pdf_path, "cannot put the PDF in place");
    }
    if ((rc < 0 || opt->no_pdf) && pdf_tmp[0])
        unlink(pdf_tmp);
    cert_curve_set_free(&curves);
    if (opt->no_pdf)
        res.pdf_path[0] = '\0';
    json_decref(doc);
    if (rc < 0)
        return rc;
    *result = res;
    return 0;
}

int pd_certify_run(const char *run_path, const struct pd_spec *spec, const struct pd_certify_options *opt,
                   struct pd_certify_result *result, struct pd_err *err)
{
    const char *paths[1] = {run_path};
    if (!run_path)
        return pd_err_set(err, PD_EINVAL, NULL, "certify: missing run path");
    return pd_certify_runs(paths, 1, spec, opt, result, err);
}
