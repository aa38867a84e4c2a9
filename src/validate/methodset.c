/*
 * methodset.c — the canonical text of the built-in method set and its SHA-256: every method of
 * pd_cert_method_ids with its effective definition (pd_method_defaults: identification, speed,
 * channels, every parameter, the uncertainty budget), so a validation report names exactly which
 * evaluation defaults it validated and an assessor sees when they changed.
 */
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validate/validate_internal.h"

/* Names of the budget's sources in the text; a source added to cert.h without a name here still
 * enters the text (as "source<N>"), so the hash cannot miss it. */
static const char *const source_names[PD_U_SOURCE_COUNT] = {
    [PD_U_FORCE] = "force",
    [PD_U_DISPLACEMENT] = "displacement",
    [PD_U_WIDTH] = "width",
    [PD_U_THICKNESS] = "thickness",
    [PD_U_LENGTH] = "length",
    [PD_U_ENERGY] = "energy",
    [PD_U_MASS] = "mass",
    [PD_U_TIME] = "time",
    [PD_U_LIQUID_DENSITY] = "liquid_density",
    [PD_U_TEMPERATURE] = "temperature",
    [PD_U_READING] = "reading",
    [PD_U_DISPLACEMENT_ABS] = "displacement_abs",
};

struct text {
    char *buf;
    size_t size, len; /* len counts what would have been written */
};

__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *dst = t->len < t->size ? t->buf + t->len : NULL;
    int w = vsnprintf(dst, dst ? t->size - t->len : 0, fmt, ap);
    va_end(ap);
    if (w > 0)
        t->len += (size_t)w;
}

/* The shortest of %.15g / %.17g that reads back as the same double: exact, and 0.0005 stays 0.0005. */
static const char *num(char buf[32], double x)
{
    snprintf(buf, 32, "%.15g", x);
    if (strtod(buf, NULL) != x)
        snprintf(buf, 32, "%.17g", x);
    return buf;
}

static void method_text(struct text *t, const struct pd_method_def *d)
{
    char b[32];
    put(t, "method %s\n", d->id);
    put(t, "%s.base %s\n", d->id, d->base);
    put(t, "%s.title %s\n", d->id, d->title);
    put(t, "%s.standard %s\n", d->id, d->standard);
    put(t, "%s.conditioning %s\n", d->id, d->conditioning);
    put(t, "%s.specimens %ld\n", d->id, d->specimens);
    put(t, "%s.speed_mm_min %s\n", d->id, num(b, d->speed_mm_min));
    for (size_t i = 0; i < d->n_channels; i++)
        put(t, "%s.channel %s %s\n", d->id, d->channels[i].name, d->channels[i].unit);
    for (size_t i = 0; i < d->n_params; i++)
        put(t, "%s.param %s %s\n", d->id, d->params[i].key, num(b, d->params[i].value));
    put(t, "%s.uncertainty.k %s\n", d->id, num(b, d->uncertainty.k));
    for (int s = 0; s < PD_U_SOURCE_COUNT; s++) {
        if (source_names[s])
            put(t, "%s.uncertainty.%s %s\n", d->id, source_names[s], num(b, d->uncertainty.input[s]));
        else
            put(t, "%s.uncertainty.source%d %s\n", d->id, s, num(b, d->uncertainty.input[s]));
    }
    put(t, "%s.uncertainty.repeatability %d\n", d->id, d->uncertainty.repeatability ? 1 : 0);
}

/* Writes (buf) or only measures (buf NULL) the text. */
static int method_set_text(char *buf, size_t size, size_t *length, struct pd_err *err)
{
    struct pd_method_def *def = malloc(sizeof *def);
    if (!def)
        return pd_err_set(err, PD_ENOMEM, NULL, "method set: out of memory");
    struct text t = {.buf = buf, .size = buf ? size : 0};
    put(&t, "polydaq built-in method set\n");
    int rc = 0;
    for (size_t i = 0; pd_cert_method_ids[i] && rc == 0; i++) {
        rc = pd_method_defaults(pd_cert_method_ids[i], def, err);
        if (rc == 0)
            method_text(&t, def);
    }
    free(def);
    if (rc == 0)
        *length = t.len;
    return rc;
}

int pd_validate_method_set_text(char *buf, size_t size, size_t *length, struct pd_err *err)
{
    size_t len;
    int rc = method_set_text(NULL, 0, &len, err);
    if (rc < 0)
        return rc;
    if (buf && len >= size) /* measured first, so a short buffer is left as it was */
        return pd_err_set(err, PD_ERANGE, NULL, "method set text needs %zu bytes, %zu given", len + 1, size);
    if (buf && (rc = method_set_text(buf, size, &len, err)) < 0)
        return rc;
    if (length)
        *length = len;
    return 0;
}

int pd_validate_method_set_sha256(char hex[65], struct pd_err *err)
{
    size_t len;
    int rc = pd_validate_method_set_text(NULL, 0, &len, err);
    if (rc < 0)
        return rc;
    char *text = malloc(len + 1);
    if (!text)
        return pd_err_set(err, PD_ENOMEM, NULL, "method set: out of memory");
    if ((rc = pd_validate_method_set_text(text, len + 1, &len, err)) < 0) {
        free(text);
        return rc;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int ok = EVP_Digest(text, len, md, &md_len, EVP_sha256(), NULL);
    free(text);
    if (!ok || md_len != 32)
        return pd_err_set(err, PD_EIO, NULL, "method set: SHA-256 failed");
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}
