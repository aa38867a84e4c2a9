/* material_file.c — parses `key = value` material files for the load-frame simulator. */
#include "material_file.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct material_key {
    const char *key;
    size_t offset;
    int required;
};

static const struct material_key material_keys[] = {
    {"modulus", offsetof(struct lf_material, modulus_mpa), 1},
    {"yield_stress", offsetof(struct lf_material, yield_stress_mpa), 1},
    {"yield_strain", offsetof(struct lf_material, yield_strain), 1},
    {"draw_stress", offsetof(struct lf_material, draw_stress_mpa), 1},
    {"neck_end_strain", offsetof(struct lf_material, neck_end_strain), 1},
    {"break_strain", offsetof(struct lf_material, break_strain), 1},
    {"force_noise", offsetof(struct lf_material, force_noise_n), 0},
    {"extension_noise", offsetof(struct lf_material, extension_noise_mm), 0},
    {"scatter", offsetof(struct lf_material, scatter_rel), 0},
};

#define KEY_COUNT (sizeof material_keys / sizeof material_keys[0])

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static int parse_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int sim_material_load(const char *path, struct lf_material *out, char *why, size_t why_size)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(why, why_size, "%s: cannot open material file: %s", path, strerror(errno));
        return -1;
    }
    struct lf_material m = *lf_material_find("pp-demo");
    m.name = path;
    int seen[KEY_COUNT] = {0};
    char line[512];
    int line_no = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, fp)) {
        line_no++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *text = trim(line);
        if (*text == '\0')
            continue;
        char *eq = strchr(text, '=');
        if (!eq) {
            snprintf(why, why_size, "%s:%d: expected `key = value`", path, line_no);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(text);
        char *value = trim(eq + 1);
        size_t k = 0;
        while (k < KEY_COUNT && strcmp(material_keys[k].key, key) != 0)
            k++;
        double number;
        if (k == KEY_COUNT) {
            snprintf(why, why_size, "%s:%d: unknown key '%s'", path, line_no, key);
            rc = -1;
        } else if (seen[k]) {
            snprintf(why, why_size, "%s:%d: key '%s' given twice", path, line_no, key);
            rc = -1;
        } else if (parse_number(value, &number) != 0) {
            snprintf(why, why_size, "%s:%d: '%s' is not a number", path, line_no, value);
            rc = -1;
        } else {
            seen[k] = 1;
            memcpy((char *)&m + material_keys[k].offset, &number, sizeof number);
        }
    }
    if (rc == 0 && ferror(fp)) {
        snprintf(why, why_size, "%s: read error", path);
        rc = -1;
    }
    fclose(fp);
    for (size_t k = 0; rc == 0 && k < KEY_COUNT; k++) {
        if (material_keys[k].required && !seen[k]) {
            snprintf(why, why_size, "%s: missing key '%s'", path, material_keys[k].key);
            rc = -1;
        }
    }
    const char *reason = NULL;
    if (rc == 0 && lf_material_validate(&m, &reason) != LF_OK) {
        snprintf(why, why_size, "%s: %s", path, reason);
        rc = -1;
    }
    if (rc == 0)
        *out = m;
    return rc;
}
