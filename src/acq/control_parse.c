/* control_parse.c — the pure parts of the station's control socket (control.c), unit-tested on
 * their own: each command line parsed strictly against the method's dimensions (jansson, duplicate
 * keys refused, every field checked, messages naming the field), and the decimation of a
 * specimen's samples into at most a budget of display points. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "acq/acq_internal.h"

/* ---- the decimator ----------------------------------------------------------------------------*/
void acq_decim_init(struct acq_decimator *d, size_t budget)
{
    memset(d, 0, sizeof *d);
    d->budget = budget > ACQ_DECIM_MAX_OUT ? budget : ACQ_DECIM_MAX_OUT;
    d->bucket_size = 1;
}

/* The open bucket's points in time order, each sample once. */
static size_t bucket_points(const struct acq_decimator *d, struct acq_point *out)
{
    const struct acq_point *a = &d->first_min, *b = &d->first_max;
    if (a->t > b->t) {
        const struct acq_point *x = a;
        a = b;
        b = x;
    }
    size_t n = 0;
    out[n++] = *a;
    if (b->t != a->t)
        out[n++] = *b;
    if (d->last.t != out[n - 1].t)
        out[n++] = d->last;
    return n;
}

size_t acq_decim_add(struct acq_decimator *d, const struct acq_point *p, struct acq_point *out)
{
    if (d->in_bucket == 0) {
        d->first_min = d->first_max = d->last = *p;
    } else {
        if (p->y < d->first_min.y)
            d->first_min = *p;
        if (p->y > d->first_max.y)
            d->first_max = *p;
        d->last = *p;
    }
    d->in_bucket++;
    if (d->in_bucket < d->bucket_size)
        return 0;
    /* Room for this bucket, keeping ACQ_DECIM_MAX_OUT for the flush that ends the specimen: if
     * none is left the bucket stays open (it grows until the flush). */
    size_t usable = d->budget - ACQ_DECIM_MAX_OUT;
    if (d->emitted + ACQ_DECIM_MAX_OUT > usable)
        return 0;
    size_t n = bucket_points(d, out);
    d->emitted += n;
    d->in_bucket = 0;
    /* Half of what is left at each level, with buckets eight times as large: the samples a level
     * covers grow fourfold from one to the next (2000 points last about 5.7 million samples, an
     * hour and a half at 1 kHz; after that the last bucket grows until the flush). */
    while (d->level < 20 && d->emitted >= usable - (usable >> (d->level + 1))) {
        d->level++;
        d->bucket_size *= 8;
    }
    return n;
}

size_t acq_decim_flush(struct acq_decimator *d, struct acq_point *out)
{
    if (d->in_bucket == 0)
        return 0;
    size_t n = bucket_points(d, out);
    d->emitted += n;
    d->in_bucket = 0;
    return n;
}

/* ---- parsing commands ---------------------------------------------------------------------------*/
static int why_set(char *why, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int why_set(char *why, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
    return -1;
}

/* A text field: a string of 1..max bytes without control characters. */
static int text_field(json_t *root, const char *key, size_t max, char *out, size_t out_size, char *why, size_t size)
{
    json_t *v = json_object_get(root, key);
    if (!v)
        return why_set(why, size, "'%s' is missing", key);
    if (!json_is_string(v))
        return why_set(why, size, "'%s' must be a string", key);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || n > max)
        return why_set(why, size, "'%s' must be 1..%zu bytes (got %zu)", key, max, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return why_set(why, size, "'%s' contains a control character at byte %zu", key, i + 1);
    if (n >= out_size)
        return why_set(why, size, "'%s' too long", key);
    memcpy(out, s, n + 1);
    return 0;
}

static int specimen_field(json_t *root, size_t *out, char *why, size_t size)
{
    json_t *v = json_object_get(root, "specimen");
    if (!v)
        return why_set(why, size, "'specimen' is missing");
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > PD_ACQ_MAX_SPECIMENS)
        return why_set(why, size, "'specimen' must be an integer 1..%d", PD_ACQ_MAX_SPECIMENS);
    *out = (size_t)json_integer_value(v);
    return 0;
}

static const struct {
    const char *name;
    enum acq_cmd_kind kind;
    const char *fields; /* allowed besides cmd, by, cmd_id */
} commands[] = {
    {"dims", ACQ_CMD_DIMS, " specimen values "},
    {"caliper", ACQ_CMD_CALIPER, " specimen field "},
    {"start", ACQ_CMD_START, " "},
    {"stop", ACQ_CMD_STOP, " "},
    {"abort", ACQ_CMD_ABORT, " "},
    {"return", ACQ_CMD_RETURN, " "},
    {"invalid", ACQ_CMD_INVALID, " specimen reason "},
    {"note", ACQ_CMD_NOTE, " specimen text "},
};

static int find_dim(const struct acq_dim *dims, size_t n_dims, const char *name, size_t *out)
{
    for (size_t d = 0; d < n_dims; d++)
        if (strcmp(dims[d].key, name) == 0) {
            *out = d;
            return 0;
        }
    return -1;
}

static void dim_names(const struct acq_dim *dims, size_t n_dims, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t d = 0; d < n_dims; d++)
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", d ? ", " : "", dims[d].key);
}

int acq_cmd_parse(const char *line, size_t len, const struct acq_dim *dims, size_t n_dims, struct acq_cmd *out,
                  bool *has_id, long long *cmd_id, char *why, size_t size)
{
    *has_id = false;
    json_error_t jerr;
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return why_set(why, size, "not JSON: %s at column %d", jerr.text, jerr.column);
    int rc = -1;
    struct acq_cmd c;
    memset(&c, 0, sizeof c);
    if (!json_is_object(root)) {
        why_set(why, size, "a command must be a JSON object");
        goto done;
    }
    json_t *id = json_object_get(root, "cmd_id");
    if (id && !json_is_integer(id)) {
        why_set(why, size, "'cmd_id' must be an integer");
        goto done;
    }
    if (id) {
        *has_id = true;
        *cmd_id = (long long)json_integer_value(id);
        c.has_id = true;
        c.cmd_id = *cmd_id;
    }
    json_t *name = json_object_get(root, "cmd");
    if (!json_is_string(name)) {
        why_set(why, size, name ? "'cmd' must be a string" : "'cmd' is missing");
        goto done;
    }
    size_t which = sizeof commands / sizeof commands[0];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(json_string_value(name), commands[i].name) == 0)
            which = i;
    if (which == sizeof commands / sizeof commands[0]) {
        char shown[48];
        snprintf(shown, sizeof shown, "%.40s", json_string_value(name));
        for (char *p = shown; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
        why_set(why, size, "unknown cmd '%s' (dims, caliper, start, stop, abort, return, invalid, note)", shown);
        goto done;
    }
    c.kind = commands[which].kind;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        char pattern[40];
        snprintf(pattern, sizeof pattern, " %.36s ", key);
        if (strcmp(key, "cmd") != 0 && strcmp(key, "by") != 0 && strcmp(key, "cmd_id") != 0 &&
            !strstr(commands[which].fields, pattern)) {
            char shown[48];
            snprintf(shown, sizeof shown, "%.40s", key);
            for (char *p = shown; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                    *p = '?';
            why_set(why, size, "unknown field '%s' in cmd %s", shown, commands[which].name);
            goto done;
        }
    }
    if (text_field(root, "by", PD_ACQ_BY_MAX - 1, c.by, sizeof c.by, why, size) < 0)
        goto done;
    switch (c.kind) {
    case ACQ_CMD_DIMS: {
        if (specimen_field(root, &c.specimen, why, size) < 0)
            goto done;
        json_t *values = json_object_get(root, "values");
        if (!json_is_object(values) || json_object_size(values) == 0) {
            why_set(why, size, "'values' must be an object of dimensions in mm, like {\"width\": 10.02}");
            goto done;
        }
        json_object_foreach(values, key, v) {
            size_t d;
            char known[128];
            dim_names(dims, n_dims, known, sizeof known);
            if (find_dim(dims, n_dims, key, &d) < 0) {
                char shown[48];
                snprintf(shown, sizeof shown, "%.40s", key);
                for (char *p = shown; *p; p++)
                    if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = '?';
                why_set(why, size, "'%s' is not a dimension of this method (%s)", shown, known);
                goto done;
            }
            if (json_is_string(v)) {
                char shown[48];
                snprintf(shown, sizeof shown, "%.40s", json_string_value(v));
                for (char *p = shown; *p; p++)
                    if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = '?';
                why_set(why, size, "%s '%s' is text: give a number in mm, without a unit", key, shown);
                goto done;
            }
            if (!json_is_number(v)) {
                why_set(why, size, "%s must be a number in mm", key);
                goto done;
            }
            double x = json_number_value(v);
            if (!isfinite(x) || x < dims[d].min || x > dims[d].max) {
                why_set(why, size, "%s %g mm is outside the method's range %g..%g mm", key, x, dims[d].min,
                        dims[d].max);
                goto done;
            }
            c.dim[c.n_values] = d;
            c.value[c.n_values++] = x;
        }
        break;
    }
    case ACQ_CMD_CALIPER: {
        if (specimen_field(root, &c.specimen, why, size) < 0)
            goto done;
        char field[32];
        if (text_field(root, "field", sizeof field - 1, field, sizeof field, why, size) < 0)
            goto done;
        if (find_dim(dims, n_dims, field, &c.dim[0]) < 0) {
            char known[128];
            dim_names(dims, n_dims, known, sizeof known);
            why_set(why, size, "'%s' is not a dimension of this method (%s)", field, known);
            goto done;
        }
        c.n_values = 1;
        break;
    }
    case ACQ_CMD_INVALID:
        if (specimen_field(root, &c.specimen, why, size) < 0 ||
            text_field(root, "reason", PD_ACQ_REASON_MAX, c.text, sizeof c.text, why, size) < 0)
            goto done;
        break;
    case ACQ_CMD_NOTE:
        if (specimen_field(root, &c.specimen, why, size) < 0 ||
            text_field(root, "text", PD_ACQ_NOTE_MAX, c.text, sizeof c.text, why, size) < 0)
            goto done;
        break;
    default: break;
    }
    *out = c;
    rc = 0;
done:
    json_decref(root);
    return rc;
}
