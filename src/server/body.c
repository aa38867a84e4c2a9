/*
 * body.c — request bodies checked against a route's schema before any handler sees them: one
 * JSON object, no duplicate keys, no unknown fields, each field of its type and within its
 * bounds, no control characters in single-line strings (tab and newline allowed in text), dates
 * real calendar dates. The message names the offending field.
 */
#include <stdio.h>
#include <string.h>

#include "server/internal.h"

static bool has_control(const char *s, bool multiline)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == 0x7f || (*p < 0x20 && !(multiline && (*p == '\n' || *p == '\t' || *p == '\r'))))
            return true;
    }
    return false;
}

static bool real_date(const char *s)
{
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 2000 || y > 2999 || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap);
}

static bool check_object(json_t *obj, const struct srv_field *fields, const char *prefix, char *msg, size_t size)
{
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        const struct srv_field *f = fields;
        while (f->name && strcmp(f->name, key) != 0)
            f++;
        if (!f->name) {
            snprintf(msg, size, "unknown field '%s%.64s'", prefix, key);
            return false;
        }
    }
    for (const struct srv_field *f = fields; f->name; f++) {
        value = json_object_get(obj, f->name);
        if (!value || json_is_null(value)) {
            if (f->required) {
                snprintf(msg, size, "field '%s%s' is required", prefix, f->name);
                return false;
            }
            continue;
        }
        switch (f->type) {
        case FT_STRING:
        case FT_TEXT:
        case FT_DATE: {
            if (!json_is_string(value)) {
                snprintf(msg, size, "field '%s%s' must be a string", prefix, f->name);
                return false;
            }
            const char *s = json_string_value(value);
            size_t n = json_string_length(value);
            if (n != strlen(s) || has_control(s, f->type == FT_TEXT)) {
                snprintf(msg, size, "field '%s%s' contains control characters", prefix, f->name);
                return false;
            }
            if (f->type == FT_DATE) {
                if (!real_date(s)) {
                    snprintf(msg, size, "field '%s%s' must be a date YYYY-MM-DD", prefix, f->name);
                    return false;
                }
            } else if ((long)n < f->min || (long)n > f->max) {
                snprintf(msg, size, "field '%s%s' must be %ld to %ld bytes long (is %zu)", prefix, f->name, f->min,
                         f->max, n);
                return false;
            }
            break;
        }
        case FT_INTEGER:
            if (!json_is_integer(value) || json_integer_value(value) < f->min || json_integer_value(value) > f->max) {
                snprintf(msg, size, "field '%s%s' must be an integer from %ld to %ld", prefix, f->name, f->min,
                         f->max);
                return false;
            }
            break;
        case FT_BOOLEAN:
            if (!json_is_boolean(value)) {
                snprintf(msg, size, "field '%s%s' must be true or false", prefix, f->name);
                return false;
            }
            break;
        case FT_STRING_ARRAY: {
            if (!json_is_array(value) || (long)json_array_size(value) < f->min ||
                (long)json_array_size(value) > f->max) {
                snprintf(msg, size, "field '%s%s' must be a list of %ld to %ld strings", prefix, f->name, f->min,
                         f->max);
                return false;
            }
            size_t i;
            json_t *item;
            json_array_foreach(value, i, item)
            {
                const char *s = json_is_string(item) ? json_string_value(item) : NULL;
                if (!s || json_string_length(item) != strlen(s) || strlen(s) == 0 || strlen(s) > 64 ||
                    has_control(s, false)) {
                    snprintf(msg, size, "field '%s%s' item %zu must be a string of 1 to 64 bytes", prefix, f->name,
                             i + 1);
                    return false;
                }
            }
            break;
        }
        case FT_NUMBER_MAP: { /* {"width": 10.02, ...}: names [a-z0-9_] of 1..32 bytes, finite numbers */
            if (!json_is_object(value) || (long)json_object_size(value) < f->min ||
                (long)json_object_size(value) > f->max) {
                snprintf(msg, size, "field '%s%s' must be an object of %ld to %ld numbers", prefix, f->name, f->min,
                         f->max);
                return false;
            }
            const char *k;
            json_t *v;
            json_object_foreach(value, k, v)
            {
                size_t kn = strlen(k);
                bool name_ok = kn >= 1 && kn <= 32;
                for (size_t i = 0; name_ok && i < kn; i++)
                    name_ok = (k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_';
                if (!name_ok) {
                    snprintf(msg, size, "field '%s%s' has a name that is not [a-z0-9_], 1 to 32 bytes", prefix,
                             f->name);
                    return false;
                }
                if (!json_is_number(v)) {
                    snprintf(msg, size, "field '%s%s.%s' must be a number (in the field's unit, without a unit)",
                             prefix, f->name, k);
                    return false;
                }
            }
            break;
        }
        case FT_OBJECT: {
            if (!json_is_object(value)) {
                snprintf(msg, size, "field '%s%s' must be an object", prefix, f->name);
                return false;
            }
            char inner[96];
            snprintf(inner, sizeof inner, "%s%s.", prefix, f->name);
            if (!check_object(value, f->fields, inner, msg, size))
                return false;
            break;
        }
        }
    }
    return true;
}

bool body_check(const char *text, size_t len, const struct srv_field *fields, json_t **out, char *msg,
                size_t msg_size)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(msg, msg_size, "malformed JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        return false;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        snprintf(msg, msg_size, "the body must be a JSON object");
        return false;
    }
    if (!check_object(root, fields, "", msg, msg_size)) {
        json_decref(root);
        return false;
    }
    *out = root;
    return true;
}
