/* methods.c — the table of test methods, method definition files (config/methods/<id>.yaml) and the run-reading helpers the method files share. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert_internal.h"
#include "cert/scan.h"
#include "config/config.h"
#include "store/store.h"

static const struct cert_method *const methods[] = {
    &cert_method_iso527, &cert_method_iso178, &cert_method_iso179, &cert_method_iso1133,
    &cert_method_iso868, &cert_method_iso1183, &cert_method_iso75, &cert_method_iso306, NULL,
};
const char *const pd_cert_method_ids[] = {"iso527", "iso178", "iso179", "iso1133", "iso868", "iso1183", "iso75",
                                          "iso306", NULL};

const struct cert_method *cert_method_find(const char *id)
{
    for (size_t i = 0; id && methods[i]; i++)
        if (strcmp(methods[i]->id, id) == 0)
            return methods[i];
    return NULL;
}

const struct pd_cert_property *pd_cert_method_properties(const char *method, size_t *count)
{
    const struct cert_method *m = cert_method_find(method);
    *count = m ? m->n_props : 0;
    return m ? m->props : NULL;
}

int pd_cert_property_index(const char *method, const char *property)
{
    size_t count;
    const struct pd_cert_property *props = pd_cert_method_properties(method, &count);
    for (size_t i = 0; props && property && i < count; i++)
        if (strcmp(props[i].name, property) == 0)
            return (int)i;
    return -1;
}

void cert_curve_free(struct cert_curve *c)
{
    free(c->x);
    free(c->y);
    c->x = c->y = NULL;
    c->n = 0;
}

/* ---- run helpers ----------------------------------------------------------------------------*/
bool cert_unit_equal(const char *a, const char *b)
{
    /* Certificates spell degrees Celsius "°C"; acquisition configs (config/mfr.yaml) and run files
     * written from them say "degC" (ASCII). Both name the same unit. */
    static const char *const celsius[] = {"°C", "degC", NULL};
    if (strcmp(a, b) == 0)
        return true;
    bool ca = false, cb = false;
    for (size_t i = 0; celsius[i]; i++) {
        ca = ca || strcmp(a, celsius[i]) == 0;
        cb = cb || strcmp(b, celsius[i]) == 0;
    }
    return ca && cb;
}

int cert_drop_unread_rows(struct pd_run *run, size_t s, const char *channel, double *const *cols, size_t n_cols,
                          size_t *n, size_t *dropped, bool *finite)
{
    *dropped = 0;
    if (finite)
        *finite = false;
    /* The quality bits are read only when some value is missing (or infinite: its marks are then
     * read for nothing); cert_scan_finite, as this scan runs over every sample of every specimen. */
    bool any_nan = false;
    for (size_t c = 0; c < n_cols && !any_nan; c++)
        any_nan = cols[c] && !cert_scan_finite(cols[c], *n);
    size_t inst, index, nq = 0;
    if (!any_nan && finite)
        *finite = true;
    if (!any_nan || pd_run_find_channel(run, channel, &inst, &index) < 0)
        return 0;
    uint32_t *q = NULL;
    struct pd_err e = {0};
    int rc = pd_run_read_quality(run, s, inst, &q, &nq, &e);
    if (rc == PD_ENOMEM)
        return rc;
    if (rc < 0 || nq != *n) {
        free(q);
        return 0; /* no usable marks: every NaN stays and is refused as damaged */
    }
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++) {
        bool unread = false;
        for (size_t c = 0; c < n_cols && (q[i] & PD_Q_UNREAD); c++)
            unread = unread || (cols[c] && isnan(cols[c][i]));
        if (unread)
            continue;
        if (kept != i)
            for (size_t c = 0; c < n_cols; c++)
                if (cols[c])
                    cols[c][kept] = cols[c][i];
        kept++;
    }
    free(q);
    *dropped = *n - kept;
    *n = kept;
    return 0;
}

void cert_note_unread_rows(json_t *info, json_t *warnings, size_t dropped, bool *ok)
{
    if (dropped == 0)
        return;
    char w[160];
    cert_say(w, sizeof w, "%zu samples with a channel the instrument did not deliver (NaN, quality bit 'unread') "
             "left out of the evaluation", dropped);
    cert_jappend(warnings, cert_jstr(w), ok);
    cert_jset(info, "unread_samples", json_integer((json_int_t)dropped), ok);
}

const char *cert_channel_unit(const struct pd_method_def *def, const char *name)
{
    for (size_t i = 0; i < def->n_channels; i++)
        if (strcmp(def->channels[i].name, name) == 0)
            return def->channels[i].unit;
    return "";
}

/* The channel's instrument, after checking that the def's unit is the channel's. */
static int find_checked(struct pd_run *run, const struct pd_method_def *def, const char *name, size_t *instrument,
                        char *reason, size_t reason_size)
{
    size_t inst, index;
    if (pd_run_find_channel(run, name, &inst, &index) < 0) {
        cert_say(reason, reason_size, "the run has no '%s' channel", name);
        return PD_EDATA;
    }
    /* The formulas take the def's units; a channel in other units would be off by a factor, silently. */
    const struct pd_store_channel *ch = pd_run_channel(run, inst, index);
    const char *want = cert_channel_unit(def, name);
    if (!ch || (want[0] && !cert_unit_equal(ch->unit, want))) {
        cert_say(reason, reason_size, "channel '%s' is in '%s', expected %s", name, ch ? ch->unit : "?", want);
        return PD_EDATA;
    }
    *instrument = inst;
    return 0;
}

int cert_read_channel(struct pd_run *run, size_t s, const struct pd_method_def *def, const char *name,
                      double **data, size_t *n, size_t *instrument, char *reason, size_t reason_size)
{
    size_t inst;
    int rc = find_checked(run, def, name, &inst, reason, reason_size);
    if (rc < 0)
        return rc;
    struct pd_err e = {0};
    rc = pd_run_read_channel(run, s, inst, name, data, n, &e);
    if (rc < 0) {
        cert_say(reason, reason_size, "cannot read '%s': %s", name, e.msg);
        return rc == PD_ENOMEM ? rc : PD_EDATA;
    }
    if (instrument)
        *instrument = inst;
    return 0;
}

int cert_read_channel_into(struct pd_run *run, size_t s, const struct pd_method_def *def, const char *name,
                           struct cert_values *v, size_t slot, double **data, size_t *n, size_t *instrument,
                           char *reason, size_t reason_size)
{
    size_t inst;
    int rc = find_checked(run, def, name, &inst, reason, reason_size);
    if (rc < 0)
        return rc;
    struct pd_err e = {0};
    rc = pd_run_read_channel_into(run, s, inst, name, &v->scratch->a[slot], &v->scratch->cap[slot], n,
                                  &e);
    if (rc < 0) {
        cert_say(reason, reason_size, "cannot read '%s': %s", name, e.msg);
        return rc == PD_ENOMEM ? rc : PD_EDATA;
    }
    *data = v->scratch->a[slot];
    if (instrument)
        *instrument = inst;
    return 0;
}

void cert_scratch_free(struct cert_scratch *s)
{
    for (size_t i = 0; i < CERT_SCRATCH_ARRAYS; i++) {
        free(s->a[i]);
        s->a[i] = NULL;
        s->cap[i] = 0;
    }
}

int cert_attr_positive(struct pd_run *run, size_t s, const char *key, double *out, char *reason, size_t reason_size)
{
    double v;
    if (pd_run_specimen_attr_double(run, s, key, &v) < 0) {
        cert_say(reason, reason_size, "no %s recorded for the specimen", key);
        return PD_EDATA;
    }
    if (!(isfinite(v) && v > 0.0)) {
        cert_say(reason, reason_size, "specimen %s %g must be positive", key, v);
        return PD_EDATA;
    }
    *out = v;
    return 0;
}

/* ---- method definitions ---------------------------------------------------------------------*/
static void fill_defaults(const struct cert_method *m, struct pd_method_def *d)
{
    memset(d, 0, sizeof *d);
    pd_strlcpy(d->id, m->id, sizeof d->id);
    pd_strlcpy(d->base, m->id, sizeof d->base);
    pd_strlcpy(d->title, m->title, sizeof d->title);
    pd_strlcpy(d->standard, m->standard, sizeof d->standard);
    pd_strlcpy(d->conditioning, m->conditioning, sizeof d->conditioning);
    d->specimens = m->specimens;
    d->speed_mm_min = m->speed_mm_min;
    d->n_channels = m->n_channels;
    for (size_t i = 0; i < m->n_channels; i++)
        d->channels[i] = m->channels[i];
    d->n_params = m->n_params;
    for (size_t i = 0; i < m->n_params; i++) {
        pd_strlcpy(d->params[i].key, m->params[i].key, sizeof d->params[i].key);
        d->params[i].value = m->params[i].def;
    }
    d->uncertainty = m->budget;
}

static void list_ids(char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; methods[i] && off < size; i++) {
        int w = snprintf(buf + off, size - off, "%s%s", i ? ", " : "", methods[i]->id);
        if (w < 0)
            break;
        off += (size_t)w;
    }
}

int pd_method_defaults(const char *base, struct pd_method_def *out, struct pd_err *err)
{
    const struct cert_method *m = cert_method_find(base);
    if (!m || !out) {
        char known[256];
        list_ids(known, sizeof known);
        return pd_err_set(err, PD_EINVAL, NULL, "unknown method '%s' (known: %s)", base ? base : "", known);
    }
    static struct pd_method_def d; /* large; the caller's copy is the result */
    fill_defaults(m, &d);
    *out = d;
    return 0;
}

double pd_method_param(const struct pd_method_def *def, const char *key)
{
    for (size_t i = 0; def && i < def->n_params; i++)
        if (strcmp(def->params[i].key, key) == 0)
            return def->params[i].value;
    return NAN;
}

struct header {
    char id[48], base[48], title[160], standard[96], conditioning[160];
    long specimens;
    double speed;
};
#define HSTR(k, f, req, h)                                                                                      \
    {.key = k, .type = PD_CFG_T_STRING, .offset = offsetof(struct header, f), .size = sizeof(((struct header *)0)->f), \
     .required = req, .help = h}
static const struct pd_cfg_field header_fields[] = {
    HSTR("id", id, true, "the method id a spec names, e.g. iso527 or a lab variant iso527-regression"),
    HSTR("base", base, false, "the built-in evaluation it uses (default: id)"),
    HSTR("title", title, false, "a title for certificates"),
    HSTR("standard", standard, false, "the standard with edition, e.g. ISO 527-2:2012/1A/50"),
    HSTR("conditioning", conditioning, false, "conditioning and test atmosphere"),
    {.key = "specimens", .type = PD_CFG_T_INT, .offset = offsetof(struct header, specimens), .min = 1, .max = 1000,
     .help = "specimens per series, 1..1000"},
    {.key = "speed", .type = PD_CFG_T_DOUBLE, .offset = offsetof(struct header, speed), .min = 0, .max = 10000,
     .help = "test speed in mm/min, 0..10000"},
    {.key = NULL},
};

struct file_sections {
    const struct pd_cfg_node *method, *channels, *parameters, *uncertainty;
};
static const struct pd_cfg_field file_fields[] = {
    {.key = "method", .type = PD_CFG_T_MAP, .offset = offsetof(struct file_sections, method), .required = true,
     .help = "id, base, title, standard, specimens, speed, conditioning"},
    {.key = "channels", .type = PD_CFG_T_SEQ, .offset = offsetof(struct file_sections, channels),
     .help = "a list of {name, unit} the evaluation reads"},
    {.key = "parameters", .type = PD_CFG_T_MAP, .offset = offsetof(struct file_sections, parameters),
     .help = "evaluation parameters of the base method"},
    {.key = "uncertainty", .type = PD_CFG_T_MAP, .offset = offsetof(struct file_sections, uncertainty),
     .help = "the uncertainty budget inputs"},
    {.key = NULL},
};

static const struct pd_cfg_field channel_fields[] = {
    {.key = "name", .type = PD_CFG_T_STRING, .offset = offsetof(struct pd_method_channel, name),
     .size = sizeof(((struct pd_method_channel *)0)->name), .required = true, .help = "a channel name"},
    {.key = "unit", .type = PD_CFG_T_STRING, .offset = offsetof(struct pd_method_channel, unit),
     .size = sizeof(((struct pd_method_channel *)0)->unit), .required = true, .help = "the unit the run must use"},
    {.key = NULL},
};

#define UFIELD(k, src, hi, h)                                                                                  \
    {.key = k, .type = PD_CFG_T_DOUBLE, .offset = offsetof(struct pd_uncertainty_budget, input) + (src) * sizeof(double), \
     .min = 0, .max = hi, .help = h}
static const struct pd_cfg_field budget_fields[] = {
    {.key = "k", .type = PD_CFG_T_DOUBLE, .offset = offsetof(struct pd_uncertainty_budget, k), .min = 1, .max = 3,
     .help = "coverage factor 1..3 (2 for ~95 %)"},
    UFIELD("force_class", PD_U_FORCE, 10, "force measuring class in % (ISO 7500-1 class 1 = 1)"),
    UFIELD("displacement_class", PD_U_DISPLACEMENT, 10, "extensometer/deflectometer class in % (ISO 9513)"),
    UFIELD("dimension", PD_U_WIDTH, 1, "half-width of width/thickness measurement in mm"),
    UFIELD("length", PD_U_LENGTH, 5, "half-width of gauge length / span in mm"),
    UFIELD("displacement_abs", PD_U_DISPLACEMENT_ABS, 1,
           "absolute error of the extensometer/deflectometer in mm (ISO 9513 class 1: 0.003)"),
    UFIELD("energy", PD_U_ENERGY, 10, "pendulum energy half-width in %"),
    UFIELD("mass", PD_U_MASS, 10, "balance half-width in % of the reading"),
    UFIELD("mass_abs", PD_U_MASS_ABS, 1000,
           "balance half-width in mg per weighing (its calibration certificate: error + uncertainty at the load)"),
    UFIELD("area", PD_U_AREA, 10, "cross-section constant half-width in % (MFI barrel and piston bore tolerances)"),
    UFIELD("time", PD_U_TIME, 10, "timer half-width in %"),
    UFIELD("liquid_density", PD_U_LIQUID_DENSITY, 10, "immersion liquid density half-width in %"),
    UFIELD("temperature", PD_U_TEMPERATURE, 10, "temperature half-width in K"),
    UFIELD("reading", PD_U_READING, 10, "scale reading half-width in result units"),
    {.key = "repeatability", .type = PD_CFG_T_BOOL, .offset = offsetof(struct pd_uncertainty_budget, repeatability),
     .help = "true: the mean's uncertainty includes s/sqrt(n)"},
    {.key = NULL},
};

char *pd_method_definition(const struct pd_method_def *def)
{
    const struct cert_method *m = def ? cert_method_find(def->base) : NULL;
    return m ? cert_method_definition(def, m) : NULL;
}

const struct pd_cfg_field *cert_budget_fields(void)
{
    return budget_fields;
}

static int decode_param(const struct cert_method *m, const struct pd_cfg_node *key, const struct pd_cfg_node *value,
                        struct pd_method_def *d, struct pd_err *err)
{
    const char *name = pd_cfg_scalar(key);
    const struct cert_param_spec *ps = NULL;
    size_t idx = 0;
    for (size_t i = 0; name && i < m->n_params; i++)
        if (strcmp(m->params[i].key, name) == 0) {
            ps = &m->params[i];
            idx = i;
        }
    if (!ps) {
        char known[512];
        size_t off = 0;
        known[0] = '\0';
        for (size_t i = 0; i < m->n_params && off < sizeof known; i++) {
            int w = snprintf(known + off, sizeof known - off, "%s%s", i ? ", " : "", m->params[i].key);
            if (w < 0)
                break;
            off += (size_t)w;
        }
        return pd_cfg_error(err, key, "unknown parameter '%s' for method %s (known: %s)", name ? name : "?", m->id,
                            known);
    }
    double v;
    if (ps->boolean) {
        bool b;
        int rc = pd_cfg_get_bool(value, &b, err);
        if (rc < 0)
            return rc;
        v = b ? 1.0 : 0.0;
    } else if (ps->choices) {
        const char *text = pd_cfg_scalar(value);
        size_t i = 0;
        while (ps->choices[i] && (!text || strcmp(ps->choices[i], text) != 0))
            i++;
        if (!ps->choices[i]) {
            char known[256];
            size_t off = 0;
            known[0] = '\0';
            for (size_t j = 0; ps->choices[j] && off < sizeof known; j++) {
                int w = snprintf(known + off, sizeof known - off, "%s%s", j ? ", " : "", ps->choices[j]);
                if (w < 0)
                    break;
                off += (size_t)w;
            }
            return pd_cfg_error(err, value, "expected one of %s", known);
        }
        v = (double)i;
    } else {
        int rc = pd_cfg_get_double(value, &v, err);
        if (rc < 0)
            return rc;
        if (ps->min < ps->max && !(v >= ps->min && v <= ps->max))
            return pd_cfg_error(err, value, "%s = %g is outside %g..%g (%s)", ps->key, v, ps->min, ps->max, ps->help);
    }
    d->params[idx].value = v;
    return 0;
}

static int decode_method(const struct pd_cfg_doc *doc, struct pd_method_def *d, struct pd_err *err)
{
    const struct pd_cfg_node *root = pd_cfg_root(doc);
    if (!root || pd_cfg_kind(root) != PD_CFG_MAP)
        return pd_err_set(err, PD_ECONFIG, pd_cfg_source_name(doc), "expected a map with 'method', 'channels', "
                                                                     "'parameters', 'uncertainty'");
    struct file_sections fs = {0};
    int rc = pd_cfg_decode(root, file_fields, NULL, &fs, err);
    if (rc < 0)
        return rc;
    struct header h = {0};
    rc = pd_cfg_decode(fs.method, header_fields, NULL, &h, err);
    if (rc < 0)
        return rc;
    const char *base = h.base[0] ? h.base : h.id;
    const struct cert_method *m = cert_method_find(base);
    if (!m) {
        char known[256];
        list_ids(known, sizeof known);
        const struct pd_cfg_node *at = pd_cfg_map_get(fs.method, h.base[0] ? "base" : "id");
        return pd_cfg_error(err, at, "unknown base method '%s' (known: %s)", base, known);
    }
    fill_defaults(m, d);
    pd_strlcpy(d->id, h.id, sizeof d->id);
    if (h.title[0])
        pd_strlcpy(d->title, h.title, sizeof d->title);
    if (h.standard[0])
        pd_strlcpy(d->standard, h.standard, sizeof d->standard);
    if (h.conditioning[0])
        pd_strlcpy(d->conditioning, h.conditioning, sizeof d->conditioning);
    if (pd_cfg_map_get(fs.method, "specimens"))
        d->specimens = h.specimens;
    if (pd_cfg_map_get(fs.method, "speed"))
        d->speed_mm_min = h.speed;

    if (fs.channels) {
        size_t n = pd_cfg_seq_len(fs.channels);
        if (n > PD_METHOD_MAX_CHANNELS)
            return pd_cfg_error(err, fs.channels, "%zu channels, at most %d", n, PD_METHOD_MAX_CHANNELS);
        for (size_t i = 0; i < n; i++) {
            const struct pd_cfg_node *c = pd_cfg_seq_at(fs.channels, i);
            if (pd_cfg_kind(c) != PD_CFG_MAP)
                return pd_cfg_error(err, c, "expected a map {name, unit}");
            struct pd_method_channel ch = {0};
            if ((rc = pd_cfg_decode(c, channel_fields, NULL, &ch, err)) < 0)
                return rc;
            /* A renamed or re-united channel would make the evaluation read something else. */
            size_t k = 0;
            while (k < m->n_channels && strcmp(m->channels[k].name, ch.name) != 0)
                k++;
            if (k == m->n_channels)
                return pd_cfg_error(err, c, "method %s does not read a channel '%s'", m->id, ch.name);
            if (!cert_unit_equal(m->channels[k].unit, ch.unit))
                return pd_cfg_error(err, pd_cfg_map_get(c, "unit"), "channel %s must be in %s for method %s", ch.name,
                                    m->channels[k].unit, m->id);
            d->channels[i] = ch;
            /* one spelling on the certificate, whichever the file used */
            snprintf(d->channels[i].unit, sizeof d->channels[i].unit, "%s", m->channels[k].unit);
        }
        d->n_channels = n;
    }
    if (fs.parameters) {
        for (size_t i = 0; i < pd_cfg_map_size(fs.parameters); i++)
            if ((rc = decode_param(m, pd_cfg_map_key(fs.parameters, i), pd_cfg_map_value(fs.parameters, i), d, err)) < 0)
                return rc;
    }
    if (fs.uncertainty) {
        struct pd_uncertainty_budget b = d->uncertainty;
        if ((rc = pd_cfg_decode(fs.uncertainty, budget_fields, NULL, &b, err)) < 0)
            return rc;
        /* One "dimension" input serves width and thickness. */
        if (pd_cfg_map_get(fs.uncertainty, "dimension"))
            b.input[PD_U_THICKNESS] = b.input[PD_U_WIDTH];
        d->uncertainty = b;
    }
    return 0;
}

static int load_doc(struct pd_cfg_doc *doc, const char *path, struct pd_method_def *out, struct pd_err *err)
{
    static struct pd_method_def d;
    int rc = decode_method(doc, &d, err);
    if (rc == 0) {
        const char *text = pd_cfg_source_text(doc);
        if (pd_strlcpy(d.text, text ? text : "", sizeof d.text) < 0)
            rc = pd_err_set(err, PD_ECONFIG, path, "method file longer than %zu bytes", sizeof d.text - 1);
        else if (pd_strlcpy(d.path, path, sizeof d.path) < 0)
            rc = pd_err_set(err, PD_EINVAL, NULL, "method path too long: %s", path);
    }
    pd_cfg_free(doc);
    if (rc == 0)
        *out = d;
    return rc;
}

int pd_method_load(const char *path, struct pd_method_def *out, struct pd_err *err)
{
    if (!path || !out)
        return pd_err_set(err, PD_EINVAL, NULL, "method: missing path or output");
    struct pd_cfg_doc *doc = NULL;
    int rc = pd_cfg_load_file(path, &doc, err);
    return rc < 0 ? rc : load_doc(doc, path, out, err);
}

int pd_method_load_string(const char *name, const char *text, struct pd_method_def *out, struct pd_err *err)
{
    if (!name || !text || !out)
        return pd_err_set(err, PD_EINVAL, NULL, "method: missing name, text or output");
    struct pd_cfg_doc *doc = NULL;
    int rc = pd_cfg_load_string(name, text, strlen(text), &doc, err);
    return rc < 0 ? rc : load_doc(doc, name, out, err);
}
