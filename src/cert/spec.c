/* spec.c — loads a material specification file (YAML) into limits on reportable properties, refusing anything ambiguous. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cert/cert.h"
#include "cert/cert_internal.h"
#include "config/config.h"

/* ---- Schema ---------------------------------------------------------------------------------*/
struct spec_file {
    const struct pd_cfg_node *spec;
    const struct pd_cfg_node *properties;
};
static const struct pd_cfg_field file_fields[] = {
    {.key = "spec", .type = PD_CFG_T_MAP, .offset = offsetof(struct spec_file, spec), .required = true,
     .help = "the spec header: name, material, method"},
    {.key = "properties", .type = PD_CFG_T_SEQ, .offset = offsetof(struct spec_file, properties), .required = true,
     .help = "a list of limits {property, statistic, min/max or nominal/tolerance, unit}"},
    {.key = NULL},
};

static const char *const decision_rules[] = {"simple", "guard-band", "guard-band-nonbinary", NULL};
static const struct pd_cfg_field header_fields[] = {
    {.key = "name", .type = PD_CFG_T_STRING, .offset = offsetof(struct pd_spec, name),
     .size = sizeof(((struct pd_spec *)0)->name), .required = true, .help = "the specification's title"},
    {.key = "material", .type = PD_CFG_T_STRING, .offset = offsetof(struct pd_spec, material),
     .size = sizeof(((struct pd_spec *)0)->material), .required = true, .help = "the material (grade) specified"},
    {.key = "method", .type = PD_CFG_T_STRING, .offset = offsetof(struct pd_spec, method),
     .size = sizeof(((struct pd_spec *)0)->method), .required = true, .help = "the test method id, e.g. iso527"},
    {.key = "method_file", .type = PD_CFG_T_STRING, .offset = offsetof(struct pd_spec, method_file),
     .size = sizeof(((struct pd_spec *)0)->method_file), .def = "",
     .help = "a method definition file (lab variant), relative to this file"},
    {.key = "decision_rule", .type = PD_CFG_T_ENUM, .offset = offsetof(struct pd_spec, decision_rule),
     .choices = decision_rules, .def = "simple",
     .help = "simple, guard-band or guard-band-nonbinary (ILAC-G8)"},
    {.key = "guard_band", .type = PD_CFG_T_DOUBLE, .offset = offsetof(struct pd_spec, guard_factor), .min = 0,
     .max = 3, .def = "1", .help = "guard band w as a multiple of U, 0..3"},
    {.key = NULL},
};

struct limit_entry {
    char property[48];
    char statistic[16];
    char unit[16];
    double min, max, nominal, tolerance;
};
static const struct pd_cfg_field limit_fields[] = {
    {.key = "property", .type = PD_CFG_T_STRING, .offset = offsetof(struct limit_entry, property),
     .size = sizeof(((struct limit_entry *)0)->property), .required = true, .help = "a property name"},
    {.key = "statistic", .type = PD_CFG_T_STRING, .offset = offsetof(struct limit_entry, statistic),
     .size = sizeof(((struct limit_entry *)0)->statistic), .def = "mean", .help = "mean or each"},
    {.key = "unit", .type = PD_CFG_T_STRING, .offset = offsetof(struct limit_entry, unit),
     .size = sizeof(((struct limit_entry *)0)->unit), .required = true, .help = "the property's unit"},
    {.key = "min", .type = PD_CFG_T_DOUBLE, .offset = offsetof(struct limit_entry, min), .help = "a number"},
    {.key = "max", .type = PD_CFG_T_DOUBLE, .offset = offsetof(struct limit_entry, max), .help = "a number"},
    {.key = "nominal", .type = PD_CFG_T_DOUBLE, .offset = offsetof(struct limit_entry, nominal), .help = "a number"},
    {.key = "tolerance", .type = PD_CFG_T_DOUBLE, .offset = offsetof(struct limit_entry, tolerance),
     .help = "a non-negative number"},
    {.key = NULL},
};

static void list_names(char *buf, size_t size, const char *const *names, const struct pd_cert_property *props,
                       size_t count)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; names ? names[i] != NULL : i < count; i++) {
        const char *name = names ? names[i] : props[i].name;
        int w = snprintf(buf + off, size - off, "%s%s", i ? ", " : "", name);
        if (w < 0 || (size_t)w >= size - off)
            break;
        off += (size_t)w;
    }
}

static int decode_limit(const struct pd_cfg_node *entry, const char *method, struct pd_spec_limit *lim,
                        struct pd_err *err)
{
    if (pd_cfg_kind(entry) != PD_CFG_MAP)
        return pd_cfg_error(err, entry, "expected a map {property, statistic, min/max or nominal/tolerance, unit}");
    struct limit_entry e = {0};
    int rc = pd_cfg_decode(entry, limit_fields, NULL, &e, err);
    if (rc < 0)
        return rc;

    size_t count;
    const struct pd_cert_property *props = pd_cert_method_properties(method, &count);
    int idx = pd_cert_property_index(method, e.property);
    if (idx < 0) {
        char known[512];
        list_names(known, sizeof known, NULL, props, count);
        return pd_cfg_error(err, pd_cfg_map_get(entry, "property"), "unknown property '%s' for method %s (known: %s)",
                            e.property, method, known);
    }
    if (strcmp(e.unit, props[idx].unit) != 0)
        return pd_cfg_error(err, pd_cfg_map_get(entry, "unit"), "unit '%s' for %s, expected %s", e.unit, e.property,
                            props[idx].unit);
    if (strcmp(e.statistic, "mean") == 0)
        lim->statistic = PD_SPEC_MEAN;
    else if (strcmp(e.statistic, "each") == 0)
        lim->statistic = PD_SPEC_EACH;
    else
        return pd_cfg_error(err, pd_cfg_map_get(entry, "statistic"), "unknown statistic '%s' (known: mean, each)",
                            e.statistic);

    const struct pd_cfg_node *min_node = pd_cfg_map_get(entry, "min"), *max_node = pd_cfg_map_get(entry, "max");
    const struct pd_cfg_node *nom_node = pd_cfg_map_get(entry, "nominal"), *tol_node = pd_cfg_map_get(entry, "tolerance");
    if (nom_node || tol_node) {
        if (min_node || max_node)
            return pd_cfg_error(err, nom_node ? nom_node : tol_node,
                                "give either min/max or nominal/tolerance for %s, not both", e.property);
        if (!nom_node || !tol_node)
            return pd_cfg_error(err, nom_node ? nom_node : tol_node, "%s needs both nominal and tolerance",
                                e.property);
        if (!(e.tolerance >= 0.0))
            return pd_cfg_error(err, tol_node, "tolerance %g for %s must not be negative", e.tolerance, e.property);
        lim->has_min = lim->has_max = true;
        lim->min = e.nominal - e.tolerance;
        lim->max = e.nominal + e.tolerance;
    } else {
        if (!min_node && !max_node)
            return pd_cfg_error(err, entry, "limit on %s has no min and no max", e.property);
        lim->has_min = min_node != NULL;
        lim->has_max = max_node != NULL;
        lim->min = lim->has_min ? e.min : 0.0;
        lim->max = lim->has_max ? e.max : 0.0;
        if (lim->has_min && lim->has_max && e.min > e.max)
            return pd_cfg_error(err, min_node, "min %g is above max %g for %s", e.min, e.max, e.property);
    }
    /* Both strings were bounded by the decoder to buffers no larger than these. */
    pd_strlcpy(lim->property, e.property, sizeof lim->property);
    pd_strlcpy(lim->unit, e.unit, sizeof lim->unit);
    pd_cfg_where(entry, lim->where, sizeof lim->where);
    return 0;
}

static int decode_spec(const struct pd_cfg_doc *doc, const char *path, struct pd_spec *spec, struct pd_err *err)
{
    const struct pd_cfg_node *root = pd_cfg_root(doc);
    if (!root || pd_cfg_kind(root) != PD_CFG_MAP)
        return pd_err_set(err, PD_ECONFIG, path, "expected a map with 'spec' and 'properties'");
    struct spec_file file = {0};
    int rc = pd_cfg_decode(root, file_fields, NULL, &file, err);
    if (rc < 0)
        return rc;
    rc = pd_cfg_decode(file.spec, header_fields, NULL, spec, err);
    if (rc < 0)
        return rc;
    size_t n_props;
    if (!pd_cert_method_properties(spec->method, &n_props)) {
        char known[256];
        list_names(known, sizeof known, pd_cert_method_ids, NULL, 0);
        return pd_cfg_error(err, pd_cfg_map_get(file.spec, "method"), "unknown method '%s' (known: %s)", spec->method,
                            known);
    }

    size_t n = pd_cfg_seq_len(file.properties);
    if (n == 0)
        return pd_cfg_error(err, file.properties, "no limits: a spec must check at least one property");
    if (n > PD_SPEC_MAX_LIMITS)
        return pd_cfg_error(err, file.properties, "%zu limits, at most %d are supported", n, PD_SPEC_MAX_LIMITS);
    for (size_t i = 0; i < n; i++) {
        const struct pd_cfg_node *entry = pd_cfg_seq_at(file.properties, i);
        struct pd_spec_limit *lim = &spec->limits[i];
        rc = decode_limit(entry, spec->method, lim, err);
        if (rc < 0)
            return rc;
        /* Two limits of one kind would leave the reader guessing which one the verdict used. */
        for (size_t j = 0; j < i; j++)
            if (strcmp(spec->limits[j].property, lim->property) == 0 && spec->limits[j].statistic == lim->statistic)
                return pd_cfg_error(err, entry, "second %s limit on %s (the first is at %s)",
                                    lim->statistic == PD_SPEC_MEAN ? "mean" : "each", lim->property,
                                    spec->limits[j].where);
    }
    spec->n_limits = n;
    return 0;
}

static int finish(struct pd_cfg_doc *doc, const char *path, struct pd_spec *out, struct pd_err *err)
{
    /* Decoded into a scratch copy so `out` stays untouched when the file is refused. */
    static struct pd_spec spec;
    memset(&spec, 0, sizeof spec);
    int rc = decode_spec(doc, path, &spec, err);
    const char *text = pd_cfg_source_text(doc);
    if (rc == 0 && pd_strlcpy(spec.text, text ? text : "", sizeof spec.text) < 0)
        rc = pd_err_set(err, PD_ECONFIG, path, "spec longer than %zu bytes", sizeof spec.text - 1);
    pd_cfg_free(doc);
    if (rc < 0)
        return rc;
    if (pd_strlcpy(spec.path, path, sizeof spec.path) < 0)
        return pd_err_set(err, PD_EINVAL, NULL, "spec: path too long: %s", path);
    *out = spec;
    return 0;
}

int pd_spec_load(const char *path, struct pd_spec *out, struct pd_err *err)
{
    if (!path || !out)
        return pd_err_set(err, PD_EINVAL, NULL, "spec: missing path or output");
    struct pd_cfg_doc *doc = NULL;
    int rc = pd_cfg_load_file(path, &doc, err);
    return rc < 0 ? rc : finish(doc, path, out, err);
}

int pd_spec_load_string(const char *name, const char *text, struct pd_spec *out, struct pd_err *err)
{
    if (!name || !text || !out)
        return pd_err_set(err, PD_EINVAL, NULL, "spec: missing name, text or output");
    struct pd_cfg_doc *doc = NULL;
    int rc = pd_cfg_load_string(name, text, strlen(text), &doc, err);
    return rc < 0 ? rc : finish(doc, name, out, err);
}
