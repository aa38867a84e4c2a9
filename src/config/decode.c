/* decode.c — fills a caller's struct from a map node by a pd_cfg_field table: key checks with
 * "did you mean" hints, required keys, defaults, typed values, bounds and choices. */
#include "config/cfg_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Recognised by address only: its contents never match a key. */
const char *const pd_cfg_any_key[] = {NULL};

#define HINT_MAX_LEN 64

/* Case-insensitive edit distance; SIZE_MAX-ish for strings too long to be worth comparing. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > HINT_MAX_LEN || lb > HINT_MAX_LEN)
        return (size_t)-1;
    size_t row[HINT_MAX_LEN + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Short words tolerate one slip; longer ones two, or a third of their length. */
static size_t hint_limit(const char *typed)
{
    size_t len = strlen(typed);
    if (len <= 3)
        return 1;
    return len / 3 > 2 ? len / 3 : 2;
}

struct hint {
    const char *typed;
    const char *best;
    size_t best_distance;
};

static void hint_consider(struct hint *h, const char *candidate)
{
    size_t d = edit_distance(h->typed, candidate);
    if (d <= hint_limit(h->typed) && (!h->best || d < h->best_distance)) {
        h->best = candidate;
        h->best_distance = d;
    }
}

struct list {
    char buf[320];
    size_t len;
    bool truncated;
};

static void list_add(struct list *l, const char *item)
{
    if (l->truncated)
        return;
    const char *sep = l->len ? ", " : "";
    size_t need = strlen(sep) + strlen(item);
    /* keep room for ", ..." */
    if (l->len + need + 6 > sizeof l->buf) {
        memcpy(l->buf + l->len, ", ...", 6);
        l->len += 5;
        l->truncated = true;
        return;
    }
    l->len += (size_t)snprintf(l->buf + l->len, sizeof l->buf - l->len, "%s%s", sep, item);
}

static bool is_extra_key(const char *const *extra_keys, const char *key)
{
    if (!extra_keys)
        return false;
    if (extra_keys == pd_cfg_any_key)
        return true;
    for (size_t i = 0; extra_keys[i]; i++)
        if (strcmp(extra_keys[i], key) == 0)
            return true;
    return false;
}

static const struct pd_cfg_field *find_field(const struct pd_cfg_field *fields, const char *key)
{
    for (size_t i = 0; fields[i].key; i++)
        if (strcmp(fields[i].key, key) == 0)
            return &fields[i];
    return NULL;
}

static int unknown_key(const struct pd_cfg_node *key_node, const struct pd_cfg_field *fields,
                       const char *const *extra_keys, struct pd_err *err)
{
    const char *typed = pd_cfg_scalar(key_node);
    struct hint h = {.typed = typed};
    struct list l = {.len = 0};
    l.buf[0] = '\0';
    for (size_t i = 0; fields[i].key; i++) {
        hint_consider(&h, fields[i].key);
        list_add(&l, fields[i].key);
    }
    for (size_t i = 0; extra_keys && extra_keys[i]; i++) {
        hint_consider(&h, extra_keys[i]);
        list_add(&l, extra_keys[i]);
    }
    if (l.len == 0)
        return pd_cfg_error(err, key_node, "unknown key '%s' (no keys are expected here)", typed);
    if (h.best)
        return pd_cfg_error(err, key_node, "unknown key '%s' (did you mean '%s'?; expected one of: %s)",
                            typed, h.best, l.buf);
    return pd_cfg_error(err, key_node, "unknown key '%s' (expected one of: %s)", typed, l.buf);
}

static void format_bound(double v, char *buf, size_t size)
{
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, size, "%.0f", v);
    else
        snprintf(buf, size, "%g", v);
}

static int check_bounds(const struct pd_cfg_field *f, const struct pd_cfg_node *node, double v,
                        struct pd_err *err)
{
    if (!(f->min < f->max) || (v >= f->min && v <= f->max))
        return 0;
    char lo[32], hi[32];
    format_bound(f->min, lo, sizeof lo);
    format_bound(f->max, hi, sizeof hi);
    if (f->help)
        return pd_cfg_error(err, node, "value %s out of range %s..%s (%s)", node->text, lo, hi,
                            f->help);
    return pd_cfg_error(err, node, "value %s out of range %s..%s", node->text, lo, hi);
}

static int wrong_kind(const struct pd_cfg_node *node, const char *what, const char *help,
                      struct pd_err *err)
{
    char found[64];
    pd_cfg_describe(node, found, sizeof found);
    if (help)
        return pd_cfg_error(err, node, "expected %s, found %s (%s)", what, found, help);
    return pd_cfg_error(err, node, "expected %s, found %s", what, found);
}

static int decode_enum(const struct pd_cfg_field *f, const struct pd_cfg_node *node, int *out,
                       struct pd_err *err)
{
    const char *s = pd_cfg_scalar(node);
    if (!s)
        return wrong_kind(node, "one of a fixed set of names", f->help, err);
    struct hint h = {.typed = s};
    struct list l = {.len = 0};
    l.buf[0] = '\0';
    for (int i = 0; f->choices && f->choices[i]; i++) {
        if (strcmp(f->choices[i], s) == 0) {
            *out = i;
            return 0;
        }
        hint_consider(&h, f->choices[i]);
        list_add(&l, f->choices[i]);
    }
    if (h.best)
        return pd_cfg_error(err, node, "unknown value '%s' (did you mean '%s'?; expected one of: %s)",
                            s, h.best, l.buf);
    return pd_cfg_error(err, node, "unknown value '%s' (expected one of: %s)", s, l.buf);
}

/* Converts one present (or defaulted) value and writes it to its place in `out` only on success. */
static int decode_value(const struct pd_cfg_field *f, const struct pd_cfg_node *node, void *out,
                        struct pd_err *err)
{
    unsigned char *dst = (unsigned char *)out + f->offset;
    int rc;
    switch (f->type) {
    case PD_CFG_T_STRING: {
        const char *s = pd_cfg_scalar(node);
        if (!s)
            return wrong_kind(node, "text", f->help, err);
        size_t len = strlen(s);
        if (len >= f->size)
            return pd_cfg_error(err, node, "text is too long (%zu bytes, at most %zu allowed)", len,
                                f->size ? f->size - 1 : 0);
        memcpy(dst, s, len + 1);
        return 0;
    }
    case PD_CFG_T_INT: {
        long v;
        if ((rc = pd_cfg_conv_long(node, f->help, &v, err)) != 0)
            return rc;
        if ((rc = check_bounds(f, node, (double)v, err)) != 0)
            return rc;
        memcpy(dst, &v, sizeof v);
        return 0;
    }
    case PD_CFG_T_DOUBLE: {
        double v;
        if ((rc = pd_cfg_conv_double(node, f->help, &v, err)) != 0)
            return rc;
        if ((rc = check_bounds(f, node, v, err)) != 0)
            return rc;
        memcpy(dst, &v, sizeof v);
        return 0;
    }
    case PD_CFG_T_BOOL: {
        bool v;
        if ((rc = pd_cfg_conv_bool(node, f->help, &v, err)) != 0)
            return rc;
        memcpy(dst, &v, sizeof v);
        return 0;
    }
    case PD_CFG_T_ENUM: {
        int v;
        if ((rc = decode_enum(f, node, &v, err)) != 0)
            return rc;
        memcpy(dst, &v, sizeof v);
        return 0;
    }
    case PD_CFG_T_MAP:
        if (node->kind != PD_CFG_MAP)
            return wrong_kind(node, "a map", f->help, err);
        break;
    case PD_CFG_T_SEQ:
        if (node->kind != PD_CFG_SEQ)
            return wrong_kind(node, "a sequence", f->help, err);
        break;
    case PD_CFG_T_NODE:
        break;
    default:
        return pd_err_set(err, PD_EINVAL, NULL, "field '%s': unknown field type %d", f->key,
                          (int)f->type);
    }
    memcpy(dst, &node, sizeof node);
    return 0;
}

/* The default goes through the same conversion as YAML text would, standing at the map's place. */
static int apply_default(const struct pd_cfg_node *map, const struct pd_cfg_field *f, void *out,
                         struct pd_err *err)
{
    if (f->type == PD_CFG_T_NODE || f->type == PD_CFG_T_MAP || f->type == PD_CFG_T_SEQ)
        return 0; /* there is no node to point at; the caller's initial value stands */
    struct pd_cfg_node def = {
        .kind = PD_CFG_SCALAR,
        .line = map->line,
        .column = map->column,
        .doc = map->doc,
        .parent = map,
        .key = f->key,
        .index = 0,
        .text = f->def,
    };
    struct pd_err inner;
    pd_err_clear(&inner);
    if (decode_value(f, &def, out, &inner) == 0)
        return 0;
    /* A bad default is a bug in the schema table, not in the user's file. */
    const char *detail = inner.msg;
    size_t wlen = strlen(inner.where);
    if (wlen && strncmp(detail, inner.where, wlen) == 0 && detail[wlen] == ':')
        detail += wlen + 2;
    return pd_err_set(err, PD_EINVAL, inner.where, "schema default '%s' for key '%s' is invalid (%s)",
                      f->def, f->key, detail);
}

int pd_cfg_decode(const struct pd_cfg_node *map, const struct pd_cfg_field *fields,
                  const char *const *extra_keys, void *out, struct pd_err *err)
{
    if (!fields || !out)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_cfg_decode: NULL argument");
    if (!map || map->kind != PD_CFG_MAP)
        return wrong_kind(map, "a map", NULL, err);

    /* Unknown keys first: a misspelt key is the likely reason a required one seems missing. */
    for (size_t i = 0; i < map->count; i++) {
        const struct pd_cfg_node *key = map->items[2 * i];
        if (!find_field(fields, key->text) && !is_extra_key(extra_keys, key->text))
            return unknown_key(key, fields, extra_keys, err);
    }

    for (size_t i = 0; fields[i].key; i++) {
        const struct pd_cfg_field *f = &fields[i];
        const struct pd_cfg_node *value = pd_cfg_map_get(map, f->key);
        int rc;
        if (value)
            rc = decode_value(f, value, out, err);
        else if (f->required && f->help)
            rc = pd_cfg_error(err, map, "missing required key '%s' (%s)", f->key, f->help);
        else if (f->required)
            rc = pd_cfg_error(err, map, "missing required key '%s'", f->key);
        else if (f->def)
            rc = apply_default(map, f, out, err);
        else
            rc = 0;
        if (rc)
            return rc;
    }
    return 0;
}
