/* jsonio.c — JSON building helpers and safe file writes (the canonical form and SHA-256 live in trust). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cert/cert_internal.h"
#include "trust/trust.h"

void cert_say(char *buf, size_t size, const char *fmt, ...)
{
    /* Messages are cut at the buffer's end on purpose: a truncated reason is still a reason. */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

void cert_jset(json_t *obj, const char *key, json_t *value, bool *ok)
{
    if (!obj || json_object_set_new(obj, key, value) < 0)
        *ok = false;
}

void cert_jappend(json_t *arr, json_t *value, bool *ok)
{
    if (!arr || json_array_append_new(arr, value) < 0)
        *ok = false;
}

json_t *cert_jstr(const char *s)
{
    if (!s)
        return json_null();
    json_t *v = json_string(s);
    return v ? v : json_string("(not valid UTF-8)");
}

json_t *cert_jreal(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

char *cert_canonical(const json_t *doc, const char *const *without)
{
    return pd_json_canonical(doc, without);
}

void cert_sha256_hex(const void *data, size_t len, char hex[65])
{
    pd_sha256_hex(data, len, hex);
}

static int write_all(int fd, const char *text, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

int cert_write_file(const char *path, const char *text, bool exclusive, struct pd_err *err)
{
    char tmp[4200];
    const char *target = path;
    if (!exclusive) {
        int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
        if (n < 0 || (size_t)n >= sizeof tmp)
            return pd_err_set(err, PD_EINVAL, path, "path too long");
        target = tmp;
    }
    int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        if (e == EEXIST && exclusive)
            return pd_err_set(err, PD_ESTATE, path, "already exists; not overwritten");
        return pd_err_set_os(err, PD_EIO, e, target, "cannot create");
    }
    int rc = 0;
    /* fdatasync: the file is new, so its size (which fdatasync writes with the data) is all the
     * metadata needed to read it back; fsync would add only the timestamps. */
    if (write_all(fd, text, strlen(text)) < 0 || fdatasync(fd) < 0)
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot write");
    if (close(fd) < 0 && rc == 0)
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot write");
    if (rc == 0 && !exclusive && rename(tmp, path) < 0)
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot replace");
    if (rc < 0)
        unlink(target);
    return rc;
}

void cert_dirname(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        pd_strlcpy(dir, ".", size);
        return;
    }
    size_t n = (size_t)(slash - path);
    if (n == 0)
        n = 1; /* "/x.json" → "/" */
    if (n >= size)
        n = size - 1;
    memcpy(dir, path, n);
    dir[n] = '\0';
}

/* ---- strict reading of documents ------------------------------------------------------------*/
#define DOCUMENT_MAX_BYTES (256u << 20) /* far above any certificate (a few hundred kB) */

/* The 1-based line and column of byte `at` of text. */
static void position(const char *text, size_t at, size_t *line, size_t *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < at; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

int cert_load_json(const char *path, const char *what, json_t **out, char **text_out, size_t *len_out,
                   struct pd_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return pd_err_set_os(err, PD_EIO, errno, path, "cannot read the %s", what);
    size_t cap = 65536, len = 0;
    char *text = malloc(cap + 1);
    int rc = 0;
    while (text) {
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (len < cap)
            break;
        if (cap >= DOCUMENT_MAX_BYTES) {
            rc = pd_err_set(err, PD_EDATA, path, "not a %s: larger than %u bytes", what, DOCUMENT_MAX_BYTES);
            break;
        }
        char *bigger = realloc(text, 2 * cap + 1);
        if (!bigger) {
            free(text);
            text = NULL;
            break;
        }
        text = bigger;
        cap *= 2;
    }
    bool read_error = ferror(f);
    fclose(f);
    if (!text)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory reading %s", path);
    if (rc == 0 && read_error)
        rc = pd_err_set(err, PD_EIO, path, "cannot read the %s", what);
    if (rc < 0) {
        free(text);
        return rc;
    }
    text[len] = '\0';
    /* Duplicate keys are refused: jansson would keep the last value, other readers the first, so
     * the same bytes could mean two documents. A NUL, invalid UTF-8, a byte-order mark and text
     * after the document are refused by the parser itself (no flag allows them). */
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        char where[4300];
        snprintf(where, sizeof where, "%s:%d:%d", path, jerr.line, jerr.column);
        free(text);
        return pd_err_set(err, PD_EDATA, where, "not a %s: %s", what, jerr.text);
    }
    *out = doc;
    if (text_out) {
        *text_out = text;
        *len_out = len;
    } else {
        free(text);
    }
    return 0;
}

char *cert_document_text(const json_t *doc)
{
    return json_dumps(doc, JSON_SORT_KEYS | JSON_INDENT(2) | JSON_REAL_PRECISION(17));
}

int cert_load_certificate(const char *path, bool exact_form, json_t **out, struct pd_err *err)
{
    json_t *doc = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = cert_load_json(path, "certificate", &doc, exact_form ? &text : NULL, &len, err);
    if (rc < 0)
        return rc;
    if (!json_is_object(doc) || !json_is_string(json_object_get(doc, "certificate_id")) ||
        !json_is_string(json_object_get(doc, "status"))) {
        json_decref(doc);
        free(text);
        return pd_err_set(err, PD_EDATA, path, "not a polydaq certificate (no certificate_id/status)");
    }
    if (exact_form) {
        /* The bytes must be the ones certify and approve write from the parsed document (keys
         * sorted, two-space indent, reals with 17 significant digits, one optional final newline):
         * every other spelling of the same values — 1.0e0 for 1.0, an escaped letter, reordered
         * keys, extra spaces — is a document someone other than polydaq wrote. */
        char *form = cert_document_text(doc);
        if (!form) {
            json_decref(doc);
            free(text);
            return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
        }
        size_t flen = strlen(form), at = 0;
        while (at < flen && at < len && form[at] == text[at])
            at++;
        bool same = at == flen && (len == flen || (len == flen + 1 && text[flen] == '\n'));
        if (!same) {
            size_t line, col;
            position(text, at, &line, &col);
            char where[4300];
            snprintf(where, sizeof where, "%s:%zu:%zu", path, line, col);
            rc = pd_err_set(err, PD_EDATA, where,
                            "not a canonical polydaq certificate: the bytes differ here from the form polydaq "
                            "writes (keys sorted, 2-space indent, numbers as written by polydaq)");
        }
        free(form);
        free(text);
        if (rc < 0) {
            json_decref(doc);
            return rc;
        }
    }
    *out = doc;
    return 0;
}
