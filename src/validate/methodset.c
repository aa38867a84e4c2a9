/*
 * methodset.c — the canonical text of the built-in method set and its SHA-256: every method of
 * pd_cert_method_ids with its effective definition (pd_method_defaults: identification, speed,
 * channels, every parameter, the uncertainty budget — the method file a certificate records as
 * method.definition, pd_method_definition), so a validation report names exactly which
 * evaluation defaults it validated and an assessor sees when they changed.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validate/validate_internal.h"

struct text {
    char *buf;
    size_t size, len; /* len counts what would have been written */
};

static void put(struct text *t, const char *s)
{
    size_t n = strlen(s);
    if (t->len < t->size)
        memcpy(t->buf + t->len, s, t->len + n < t->size ? n : t->size - t->len);
    t->len += n;
    if (t->len < t->size)
        t->buf[t->len] = '\0';
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
        /* each method as the complete method file a certificate records (method.definition) */
        char *text = rc == 0 ? pd_method_definition(def) : NULL;
        if (rc == 0 && !text)
            rc = pd_err_set(err, PD_ENOMEM, NULL, "method set: out of memory");
        if (rc == 0) {
            put(&t, "\nmethod ");
            put(&t, def->id);
            put(&t, "\n");
            put(&t, text);
        }
        free(text);
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
