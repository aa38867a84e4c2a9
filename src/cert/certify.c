/* certify.c — certifies one run: evaluates its tested specimens, checks the spec's limits and writes the JSON certificate. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cert/cert.h"
#include "cert/cert_internal.h"
#include "pd_version.h"
#include "store/store.h"

#define N_PROPS PD_ISO527_PROPERTY_COUNT

/* Instrument attributes copied onto the certificate when the run file has them (ISO/IEC 17025
 * 6.4.13: identity, firmware and calibration status of equipment that affects results). */
static const char *const instrument_keys[] = {
    "manufacturer",   "model",          "serial",          "serial_number", "firmware",
    "driver",         "calibration",    "calibration_id",  "calibration_certificate",
    "calibration_date", "calibration_due", "simulated",    NULL,
};

struct specimen_eval {
    const char *id;
    const char *status; /* as recorded; NULL when the file has none */
    bool tested;        /* status "tested": must be evaluated */
    bool invalidated;   /* status "invalid...": excluded by the operator (e.g. broke in the grips) */
    bool evaluated;
    char reason[512];   /* why a tested specimen could not be evaluated */
    bool have_dims;
    double width_mm, thickness_mm, gauge_length_mm;
    struct pd_tensile_result res;
    bool has[N_PROPS];
    double value[N_PROPS]; /* in the property's reporting unit */
};

/* Messages are cut at the buffer's end on purpose: a truncated reason is still a reason. */
static void say(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

/* ---- JSON building: every insertion goes through these so one flag tells whether any failed ---*/
static void jset(json_t *obj, const char *key, json_t *value, bool *ok)
{
    if (json_object_set_new(obj, key, value) < 0)
        *ok = false;
}

static void jappend(json_t *arr, json_t *value, bool *ok)
{
    if (json_array_append_new(arr, value) < 0)
        *ok = false;
}

/* Text from the run file may be anything; a certificate must still be valid JSON. */
static json_t *jstr(const char *s)
{
    if (!s)
        return json_null();
    json_t *v = json_string(s);
    return v ? v : json_string("(not valid UTF-8)");
}

static json_t *jreal(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

/* ---- Evaluation -----------------------------------------------------------------------------*/
static int read_channel(struct pd_run *run, size_t specimen, const char *name, const char *unit, size_t *instrument,
                        double **data, size_t *n, struct specimen_eval *ev)
{
    size_t index;
    if (pd_run_find_channel(run, name, instrument, &index) < 0) {
        say(ev->reason, sizeof ev->reason, "the run has no '%s' channel", name);
        return PD_EDATA;
    }
    /* The formulas take N and mm; a channel in other units would be off by a factor, silently. */
    const struct pd_store_channel *ch = pd_run_channel(run, *instrument, index);
    if (!ch || strcmp(ch->unit, unit) != 0) {
        say(ev->reason, sizeof ev->reason, "channel '%s' is in '%s', expected %s", name, ch ? ch->unit : "?", unit);
        return PD_EDATA;
    }
    struct pd_err e = {0};
    int rc = pd_run_read_channel(run, specimen, *instrument, name, data, n, &e);
    if (rc < 0)
        say(ev->reason, sizeof ev->reason, "cannot read '%s': %s", name, e.msg);
    return rc;
}

/* Evaluates one tested specimen. Returns PD_ENOMEM only; every other problem is the specimen's
 * and ends up in ev->reason. */
static int evaluate_specimen(struct pd_run *run, size_t s, struct specimen_eval *ev)
{
    static const char *const dims[] = {"width", "thickness", "gauge_length"};
    double *dim_out[] = {&ev->width_mm, &ev->thickness_mm, &ev->gauge_length_mm};
    for (size_t d = 0; d < 3; d++) {
        if (pd_run_specimen_attr_double(run, s, dims[d], dim_out[d]) < 0) {
            say(ev->reason, sizeof ev->reason, "no %s recorded for the specimen", dims[d]);
            return 0;
        }
    }
    ev->have_dims = true;

    double *force = NULL, *extension = NULL;
    size_t n_force = 0, n_ext = 0, inst_force = 0, inst_ext = 0;
    int rc = read_channel(run, s, "force", "N", &inst_force, &force, &n_force, ev);
    if (rc == 0)
        rc = read_channel(run, s, "extension", "mm", &inst_ext, &extension, &n_ext, ev);
    if (rc == 0 && inst_force != inst_ext) {
        /* Pairing samples of two instruments needs a common time axis; not done here. */
        say(ev->reason, sizeof ev->reason, "force (%s) and extension (%s) come from different instruments",
                 pd_run_instrument_name(run, inst_force), pd_run_instrument_name(run, inst_ext));
        rc = PD_EDATA;
    }
    if (rc == 0 && n_force != n_ext) {
        say(ev->reason, sizeof ev->reason, "%zu force samples but %zu extension samples", n_force, n_ext);
        rc = PD_EDATA;
    }
    if (rc == 0) {
        struct pd_tensile_specimen sp = {
            .force_N = force,
            .extension_mm = extension,
            .n = n_force,
            .width_mm = ev->width_mm,
            .thickness_mm = ev->thickness_mm,
            .gauge_length_mm = ev->gauge_length_mm,
        };
        struct pd_err e = {0};
        rc = pd_tensile_evaluate(&sp, NULL, &ev->res, &e);
        if (rc < 0)
            say(ev->reason, sizeof ev->reason, "%s", e.msg);
    }
    free(force);
    free(extension);
    if (rc == PD_ENOMEM)
        return rc;
    if (rc < 0)
        return 0;

    const struct pd_tensile_result *r = &ev->res;
    const double internal[N_PROPS] = {
        [PD_ISO527_TENSILE_MODULUS] = r->modulus_MPa,
        [PD_ISO527_TENSILE_STRENGTH] = r->strength_MPa,
        [PD_ISO527_STRAIN_AT_STRENGTH] = r->strain_at_strength,
        [PD_ISO527_YIELD_STRESS] = r->has_yield ? r->yield_stress_MPa : NAN,
        [PD_ISO527_YIELD_STRAIN] = r->has_yield ? r->yield_strain : NAN,
        [PD_ISO527_STRESS_AT_BREAK] = r->has_break ? r->stress_at_break_MPa : NAN,
        [PD_ISO527_STRAIN_AT_BREAK] = r->has_break ? r->strain_at_break : NAN,
    };
    size_t count;
    const struct pd_cert_property *props = pd_cert_method_properties("iso527", &count);
    for (size_t p = 0; p < N_PROPS; p++) {
        ev->has[p] = isfinite(internal[p]);
        ev->value[p] = internal[p] * props[p].scale;
    }
    ev->evaluated = true;
    return 0;
}

/* ---- Certificate sections -------------------------------------------------------------------*/
static json_t *specimen_json(const struct specimen_eval *ev, const struct pd_cert_property *props, bool *ok)
{
    json_t *o = json_object();
    if (!o) {
        *ok = false;
        return NULL;
    }
    jset(o, "id", jstr(ev->id), ok);
    jset(o, "status", jstr(ev->status ? ev->status : "(none)"), ok);
    if (ev->have_dims) {
        json_t *d = json_object();
        if (d) {
            jset(d, "width_mm", jreal(ev->width_mm), ok);
            jset(d, "thickness_mm", jreal(ev->thickness_mm), ok);
            jset(d, "gauge_length_mm", jreal(ev->gauge_length_mm), ok);
        }
        jset(o, "dimensions", d, ok);
    }
    if (!ev->tested) {
        char why[600];
        say(why, sizeof why, "%s (status '%s')", ev->invalidated ? "invalidated" : "not tested",
                 ev->status ? ev->status : "");
        jset(o, "excluded_reason", jstr(why), ok);
        return o;
    }
    if (!ev->evaluated) {
        jset(o, "excluded_reason", jstr(ev->reason), ok);
        return o;
    }
    json_t *results = json_object();
    for (size_t p = 0; results && p < N_PROPS; p++) {
        if (!ev->has[p])
            continue; /* n/a (no yield, no break): absent rather than a misleading 0 */
        json_t *v = json_object();
        if (v) {
            jset(v, "value", jreal(ev->value[p]), ok);
            jset(v, "unit", jstr(props[p].unit), ok);
        }
        jset(results, props[p].name, v, ok);
    }
    jset(o, "results", results, ok);
    json_t *info = json_object();
    if (info) {
        jset(info, "modulus_points", json_integer((json_int_t)ev->res.modulus_points), ok);
        jset(info, "yield_detected", json_boolean(ev->res.has_yield), ok);
        jset(info, "break_detected", json_boolean(ev->res.has_break), ok);
        jset(info, "break_index", json_integer((json_int_t)ev->res.break_index), ok);
    }
    jset(o, "evaluation", info, ok);
    return o;
}

static bool within(const struct pd_spec_limit *lim, double v)
{
    return (!lim->has_min || v >= lim->min) && (!lim->has_max || v <= lim->max);
}

/* One limit of the spec against the series. Returns whether it is met. */
static bool check_limit(const struct pd_spec_limit *lim, int prop, const struct specimen_eval *ev, size_t n_spec,
                        json_t *check, json_t *reasons, bool *ok)
{
    jset(check, "property", jstr(lim->property), ok);
    jset(check, "statistic", jstr(lim->statistic == PD_SPEC_MEAN ? "mean" : "each"), ok);
    jset(check, "unit", jstr(lim->unit), ok);
    jset(check, "spec_location", jstr(lim->where), ok);
    if (lim->has_min)
        jset(check, "min", jreal(lim->min), ok);
    if (lim->has_max)
        jset(check, "max", jreal(lim->max), ok);

    char why[512] = "";
    bool pass = true;
    size_t n = 0, missing = 0;
    double *vals = malloc((n_spec ? n_spec : 1) * sizeof *vals);
    if (!vals) {
        *ok = false;
        return false;
    }
    json_t *each = NULL;
    if (lim->statistic == PD_SPEC_EACH && !(each = json_array()))
        *ok = false;
    for (size_t s = 0; s < n_spec; s++) {
        if (!ev[s].evaluated)
            continue;
        if (!ev[s].has[prop]) {
            if (missing++ == 0)
                say(why, sizeof why, "%s: no %s for specimen %s (not applicable to its curve)", lim->property,
                         lim->property, ev[s].id ? ev[s].id : "?");
            continue;
        }
        vals[n++] = ev[s].value[prop];
        if (lim->statistic == PD_SPEC_EACH) {
            bool in = within(lim, ev[s].value[prop]);
            json_t *e = json_object();
            if (e) {
                jset(e, "specimen", jstr(ev[s].id), ok);
                jset(e, "value", jreal(ev[s].value[prop]), ok);
                jset(e, "verdict", jstr(in ? "pass" : "fail"), ok);
            }
            jappend(each, e, ok);
            if (!in && pass && missing == 0)
                say(why, sizeof why, "%s of specimen %s = %.6g %s outside the limits", lim->property,
                         ev[s].id ? ev[s].id : "?", ev[s].value[prop], lim->unit);
            pass = pass && in;
        }
    }
    if (missing > 0)
        pass = false;
    if (n == 0 && missing == 0) {
        pass = false;
        say(why, sizeof why, "%s: no evaluated specimen to check", lim->property);
    }
    if (lim->statistic == PD_SPEC_MEAN && n > 0) {
        struct pd_stats st;
        pd_stats_compute(vals, n, &st);
        jset(check, "value", jreal(st.mean), ok);
        jset(check, "n", json_integer((json_int_t)n), ok);
        if (!within(lim, st.mean) && missing == 0) {
            pass = false;
            say(why, sizeof why, "mean %s = %.6g %s outside the limits", lim->property, st.mean, lim->unit);
        }
    }
    if (each)
        jset(check, "values", each, ok);
    free(vals);
    jset(check, "verdict", jstr(pass ? "pass" : "fail"), ok);
    if (!pass)
        jappend(reasons, jstr(why), ok);
    return pass;
}

static json_t *series_json(const struct specimen_eval *ev, size_t n_spec, const struct pd_cert_property *props,
                           bool *ok)
{
    json_t *series = json_object();
    double *vals = malloc((n_spec ? n_spec : 1) * sizeof *vals);
    if (!series || !vals) {
        json_decref(series);
        free(vals);
        *ok = false;
        return NULL;
    }
    for (size_t p = 0; p < N_PROPS; p++) {
        size_t n = 0;
        for (size_t s = 0; s < n_spec; s++)
            if (ev[s].evaluated && ev[s].has[p])
                vals[n++] = ev[s].value[p];
        struct pd_stats st;
        if (n == 0 || pd_stats_compute(vals, n, &st) < 0)
            continue;
        json_t *o = json_object();
        if (o) {
            jset(o, "n", json_integer((json_int_t)st.n), ok);
            jset(o, "mean", jreal(st.mean), ok);
            jset(o, "sd", jreal(st.sd), ok);
            jset(o, "cv", jreal(st.cv), ok);
            jset(o, "min", jreal(st.min), ok);
            jset(o, "max", jreal(st.max), ok);
            jset(o, "unit", jstr(props[p].unit), ok);
        }
        jset(series, props[p].name, o, ok);
    }
    free(vals);
    return series;
}

static json_t *instruments_json(struct pd_run *run, bool *ok)
{
    json_t *arr = json_array();
    if (!arr) {
        *ok = false;
        return NULL;
    }
    size_t n = pd_run_instrument_count(run);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        if (o) {
            jset(o, "name", jstr(pd_run_instrument_name(run, i)), ok);
            for (size_t k = 0; instrument_keys[k]; k++) {
                const char *v = pd_run_instrument_attr(run, i, instrument_keys[k]);
                if (v)
                    jset(o, instrument_keys[k], jstr(v), ok);
            }
        }
        jappend(arr, o, ok);
    }
    return arr;
}

static json_t *evaluation_params_json(bool *ok)
{
    struct pd_tensile_params p;
    pd_tensile_params_default(&p);
    json_t *o = json_object();
    if (!o) {
        *ok = false;
        return NULL;
    }
    jset(o, "modulus_method", jstr(p.modulus_method == PD_MODULUS_CHORD ? "chord" : "regression"), ok);
    jset(o, "modulus_strain_range", json_pack("[f,f]", p.e1, p.e2), ok);
    jset(o, "chord_window", jreal(p.chord_window), ok);
    jset(o, "min_modulus_points", json_integer((json_int_t)p.min_modulus_points), ok);
    jset(o, "break_fraction", jreal(p.break_fraction), ok);
    jset(o, "max_hysteresis", jreal(p.max_hysteresis), ok);
    jset(o, "strength", jstr("first local maximum (ISO 527-1:2012)"), ok);
    jset(o, "break_point", jstr("last sample before the stress falls to <= 10 % of its maximum"), ok);
    return o;
}

/* ---- Output ---------------------------------------------------------------------------------*/
static bool safe_id(const char *id)
{
    if (!id || !*id || strlen(id) > 64 || id[0] == '.')
        return false;
    for (const char *c = id; *c; c++) {
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
                  *c == '_' || *c == '.';
        if (!ok)
            return false;
    }
    return true;
}

/* Creates the file exclusively: an issued certificate is never silently replaced (an amended one
 * needs its own id, ISO/IEC 17025 7.8.8). A partly written file is removed. */
static int write_certificate(const char *path, const json_t *doc, struct pd_err *err)
{
    char *text = json_dumps(doc, JSON_SORT_KEYS | JSON_INDENT(2));
    if (!text)
        return pd_err_set(err, PD_ENOMEM, NULL, "certificate %s: out of memory while formatting", path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        free(text);
        if (e == EEXIST)
            return pd_err_set(err, PD_ESTATE, path, "certificate already exists; not overwritten");
        return pd_err_set_os(err, PD_EIO, e, path, "cannot create certificate");
    }
    size_t len = strlen(text), off = 0;
    int rc = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot write certificate");
            break;
        }
        off += (size_t)w;
    }
    if (rc == 0 && (write(fd, "\n", 1) != 1 || fsync(fd) < 0))
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot write certificate");
    if (close(fd) < 0 && rc == 0)
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot write certificate");
    if (rc < 0)
        unlink(path);
    free(text);
    return rc;
}

/* ---- The whole run --------------------------------------------------------------------------*/
static int certify(struct pd_run *run, const char *run_path, const struct pd_spec *spec,
                   const struct pd_certify_options *opt, struct pd_certify_result *result, struct pd_err *err)
{
    const char *method = pd_run_attr(run, "method");
    if (!method || strcmp(method, spec->method) != 0)
        return pd_err_set(err, PD_EDATA, run_path, "run method '%s' does not match the spec's method '%s'",
                          method ? method : "(none)", spec->method);
    const char *run_id = pd_run_attr(run, "run_id");
    if (!safe_id(run_id))
        return pd_err_set(err, PD_EDATA, run_path,
                          "run_id '%s' missing or not usable in a file name (letters, digits, . _ -)",
                          run_id ? run_id : "");
    size_t n_props;
    const struct pd_cert_property *props = pd_cert_method_properties(spec->method, &n_props);
    int prop_of_limit[PD_SPEC_MAX_LIMITS];
    for (size_t l = 0; l < spec->n_limits; l++) {
        prop_of_limit[l] = pd_cert_property_index(spec->method, spec->limits[l].property);
        if (prop_of_limit[l] < 0 || strcmp(spec->limits[l].unit, props[prop_of_limit[l]].unit) != 0)
            return pd_err_set(err, PD_EINVAL, spec->limits[l].where, "spec limit on '%s' [%s] is not a %s property",
                              spec->limits[l].property, spec->limits[l].unit, spec->method);
    }

    struct pd_certify_result res = {0};
    int n = snprintf(res.cert_id, sizeof res.cert_id, "CERT-%s", run_id);
    int m = snprintf(res.json_path, sizeof res.json_path, "%s/%s.json", opt->out_dir, res.cert_id);
    if (n < 0 || (size_t)n >= sizeof res.cert_id || m < 0 || (size_t)m >= sizeof res.json_path)
        return pd_err_set(err, PD_EINVAL, NULL, "certificate path too long in %s", opt->out_dir);

    size_t n_spec = pd_run_specimen_count(run);
    struct specimen_eval *ev = calloc(n_spec ? n_spec : 1, sizeof *ev);
    if (!ev)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory for %zu specimens", n_spec);
    int rc = 0;
    size_t n_excluded = 0, n_untested = 0;
    for (size_t s = 0; s < n_spec && rc == 0; s++) {
        ev[s].id = pd_run_specimen_id(run, s);
        ev[s].status = pd_run_specimen_attr(run, s, "status");
        ev[s].tested = ev[s].status && strcmp(ev[s].status, "tested") == 0;
        ev[s].invalidated = ev[s].status && strncmp(ev[s].status, "invalid", 7) == 0;
        if (!ev[s].tested) {
            if (!ev[s].invalidated)
                n_untested++;
            continue;
        }
        rc = evaluate_specimen(run, s, &ev[s]);
        if (rc == 0 && ev[s].evaluated)
            res.n_specimens++;
        else if (rc == 0)
            n_excluded++;
    }
    if (rc < 0) {
        free(ev);
        return pd_err_set(err, rc, NULL, "out of memory while evaluating %s", run_path);
    }

    bool ok = true;
    json_t *doc = json_object();
    json_t *reasons = json_array();
    if (!doc || !reasons)
        ok = false;
    bool pass = ok;
    char issued[40];
    pd_time_format_iso8601(pd_clock_utc_ns(), issued, sizeof issued);

    if (ok) {
        jset(doc, "certificate_id", jstr(res.cert_id), &ok);
        jset(doc, "issued", jstr(issued), &ok);
        jset(doc, "software", json_pack("{s:s,s:s}", "name", "polydaq", "version", PD_VERSION_STRING), &ok);
        jset(doc, "lab", json_pack("{s:o,s:o}", "name", jstr(pd_run_attr(run, "lab_name")), "address",
                                   jstr(pd_run_attr(run, "lab_address"))),
             &ok);
        jset(doc, "operator", jstr(pd_run_attr(run, "operator")), &ok);
        const char *request = opt->request_id ? opt->request_id : pd_run_attr(run, "request_id");
        jset(doc, "request_id", jstr(request), &ok);
        jset(doc, "material", jstr(spec->material), &ok);
        jset(doc, "spec", json_pack("{s:o,s:o,s:o}", "name", jstr(spec->name), "file", jstr(spec->path), "method",
                                    jstr(spec->method)),
             &ok);
        jset(doc, "method", jstr("ISO 527-1/-2"), &ok);

        double simulated = 0.0;
        bool is_simulated = pd_run_attr_double(run, "simulated", &simulated) == 0 && simulated == 1.0;
        json_t *run_o = json_object();
        if (run_o) {
            jset(run_o, "file", jstr(run_path), &ok);
            jset(run_o, "run_id", jstr(run_id), &ok);
            jset(run_o, "start_time", jstr(pd_run_attr(run, "start_time")), &ok);
            jset(run_o, "end_time", jstr(pd_run_attr(run, "end_time")), &ok);
            jset(run_o, "simulated", json_boolean(is_simulated), &ok);
            jset(run_o, "closed_cleanly", json_boolean(pd_run_closed_cleanly(run) == 1), &ok);
            /* Optional extras: absent rather than null when the run did not record them. */
            if (pd_run_attr(run, "material"))
                jset(run_o, "material", jstr(pd_run_attr(run, "material")), &ok);
            if (pd_run_attr(run, "software_version"))
                jset(run_o, "acquisition_software_version", jstr(pd_run_attr(run, "software_version")), &ok);
        }
        jset(doc, "run", run_o, &ok);
        if (is_simulated)
            jset(doc, "notice", jstr("SIMULATED — not a test result"), &ok);
        jset(doc, "instruments", instruments_json(run, &ok), &ok);
        jset(doc, "evaluation", evaluation_params_json(&ok), &ok);

        json_t *specimens = json_array();
        for (size_t s = 0; specimens && s < n_spec; s++) {
            jappend(specimens, specimen_json(&ev[s], props, &ok), &ok);
            if (!ev[s].tested && !ev[s].invalidated) {
                char why[700];
                say(why, sizeof why, "specimen %s was not tested (status '%s'): the series is incomplete",
                         ev[s].id ? ev[s].id : "?", ev[s].status ? ev[s].status : "");
                jappend(reasons, jstr(why), &ok);
            }
            if (ev[s].tested && !ev[s].evaluated) {
                char why[700];
                say(why, sizeof why, "specimen %s could not be evaluated: %s", ev[s].id ? ev[s].id : "?",
                         ev[s].reason);
                jappend(reasons, jstr(why), &ok);
            }
        }
        jset(doc, "specimens", specimens, &ok);
        if (n_excluded > 0 || n_untested > 0)
            pass = false; /* an incomplete series cannot pass */
        if (res.n_specimens == 0) {
            pass = false;
            jappend(reasons, jstr("no specimen of the run was evaluated"), &ok);
        }
        jset(doc, "series", series_json(ev, n_spec, props, &ok), &ok);

        json_t *checks = json_array();
        for (size_t l = 0; checks && l < spec->n_limits; l++) {
            json_t *check = json_object();
            if (!check) {
                ok = false;
                break;
            }
            if (!check_limit(&spec->limits[l], prop_of_limit[l], ev, n_spec, check, reasons, &ok)) {
                pass = false;
                res.n_failed++;
            }
            jappend(checks, check, &ok);
        }
        jset(doc, "checks", checks, &ok);
        jset(doc, "decision_rule",
             jstr("simple acceptance (ILAC-G8:09/2019, guard band w = 0): unrounded results compared with the "
                  "limits, limits inclusive"),
             &ok);
        jset(doc, "statement", jstr("The results relate only to the items tested."), &ok);
        jset(doc, "verdict", jstr(pass ? "pass" : "fail"), &ok);
        json_incref(reasons);
        jset(doc, "verdict_reasons", reasons, &ok);
    }
    free(ev);
    json_decref(reasons);
    if (!ok) {
        json_decref(doc);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory while building certificate %s", res.cert_id);
    }
    rc = write_certificate(res.json_path, doc, err);
    json_decref(doc);
    if (rc < 0)
        return rc;
    res.verdict = pass ? PD_VERDICT_PASS : PD_VERDICT_FAIL;
    *result = res;
    return 0;
}

int pd_certify_run(const char *run_path, const struct pd_spec *spec, const struct pd_certify_options *opt,
                   struct pd_certify_result *result, struct pd_err *err)
{
    if (!run_path || !spec || !opt || !opt->out_dir || !result)
        return pd_err_set(err, PD_EINVAL, NULL, "certify: missing run path, spec, output directory or result");
    size_t n_props;
    if (!pd_cert_method_properties(spec->method, &n_props))
        return pd_err_set(err, PD_EINVAL, NULL, "certify: spec method '%s' is not supported", spec->method);
    if (spec->n_limits > PD_SPEC_MAX_LIMITS)
        return pd_err_set(err, PD_EINVAL, NULL, "certify: spec has %zu limits, at most %d", spec->n_limits,
                          PD_SPEC_MAX_LIMITS);
    struct pd_run *run = NULL;
    int rc = pd_run_open(run_path, &run, err);
    if (rc < 0)
        return rc;
    rc = certify(run, run_path, spec, opt, result, err);
    pd_run_close(run);
    return rc;
}
