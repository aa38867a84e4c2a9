/* export.c — the files of a registry's certificates (DIR/ID.json, DIR/ID.pdf): written from the registry, checked
 * against it. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cert/cert_internal.h"
#include "registry/registry.h"

int cert_export_one(const struct pd_registry_cert *c, const char *dir, bool json, bool pdf, const char *lab_key,
                    struct pd_err *err)
{
    char path[4200], tmp[4300];
    int rc = 0;
    if (json) {
        snprintf(path, sizeof path, "%s/%s.json", dir, c->id);
        rc = pd_write_file_atomic(path, c->document, strlen(c->document), err);
    }
    if (rc == 0 && pdf) {
        json_t *doc = json_loads(c->document, 0, NULL);
        if (!doc)
            return pd_err_set(err, PD_EDATA, c->id, "the registry's document is not JSON");
        snprintf(path, sizeof path, "%s/%s.pdf", dir, c->id);
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
        pd_fault_point("pdf write");
        rc = cert_render_pdf_doc(doc, NULL, tmp, err);
        /* The PAdES signature of the issued PDF, right after its final render (pdf_sign.c). */
        if (rc == 0 && lab_key && strcmp(c->status, "draft") != 0 && strcmp(c->status, "reviewed") != 0)
            rc = cert_pdf_sign_issued(tmp, lab_key, doc, err);
        json_decref(doc);
        pd_fault_point("pdf rename");
        if (rc == 0 && rename(tmp, path) < 0)
            rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot put the PDF in place");
        if (rc < 0)
            unlink(tmp);
    }
    return rc;
}

/* Whether DIR/ID.json holds exactly the registry's text; *missing when there is no file. */
static int export_state(const struct pd_registry_cert *c, const char *dir, bool *same, bool *missing,
                        bool *same_content)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.json", dir, c->id);
    *same = *missing = *same_content = false;
    FILE *f = fopen(path, "rb");
    if (!f) {
        *missing = errno == ENOENT;
        return 0;
    }
    size_t want = strlen(c->document), got = 0;
    char *buf = malloc(want + 2);
    if (!buf) {
        fclose(f);
        return PD_ENOMEM;
    }
    got = fread(buf, 1, want + 1, f);
    fclose(f);
    *same = got == want && memcmp(buf, c->document, want) == 0;
    buf[got < want + 1 ? got : want + 1] = '\0';
    json_t *doc = json_loadb(buf, got, 0, NULL);
    free(buf);
    char content[65];
    *same_content = doc && cert_content_hash(doc, content) == 0 && strcmp(content, c->content_sha256) == 0;
    json_decref(doc);
    return 0;
}

static void tell(void (*say)(const char *, void *), void *arg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void tell(void (*say)(const char *, void *), void *arg, const char *fmt, ...)
{
    if (!say)
        return;
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    say(text, arg);
}

static bool pdf_present(const char *dir, const char *id)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.pdf", dir, id);
    return access(path, F_OK) == 0;
}

/* Temporary files an interrupted export left (NAME.tmp.PID of a process that is gone). */
static void remove_stale_temporaries(const char *dir, void (*say)(const char *, void *), void *arg)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *t = strstr(de->d_name, ".tmp.");
        long pid = 0;
        if (strncmp(de->d_name, "CERT-", 5) != 0 || !t || !pd_parse_long(t + 5, &pid) || pid <= 0 ||
            (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
            continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (unlink(path) == 0)
            tell(say, arg, "removed %s (left by an interrupted write)", path);
    }
    closedir(d);
}

int pd_cert_export(const char *dir, const char *cert_id, const char *lab_key, void (*say)(const char *line, void *arg),
                   void *arg, struct pd_err *err)
{
    if (!dir)
        return pd_err_set(err, PD_EINVAL, NULL, "export: missing folder");
    struct pd_registry reg;
    int rc = pd_registry_open(&reg, dir, 0, err);
    if (rc < 0)
        return rc;
    char(*ids)[32] = NULL;
    size_t n = 0;
    if (cert_id) {
        ids = malloc(sizeof *ids);
        if (!ids)
            rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
        else if (pd_strlcpy(ids[0], cert_id, sizeof ids[0]) < 0)
            rc = pd_err_set(err, PD_ESTATE, cert_id, "no such certificate in this registry");
        n = 1;
    } else {
        rc = pd_registry_cert_ids(&reg, &ids, &n, err);
        remove_stale_temporaries(dir, say, arg);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct pd_registry_cert c;
        rc = pd_registry_cert_get(&reg, ids[i], &c, err);
        if (rc < 0)
            break;
        bool same, missing, same_content;
        rc = export_state(&c, dir, &same, &missing, &same_content);
        bool json = cert_id || !same, pdf = cert_id || !same || !pdf_present(dir, c.id);
        if (rc == 0 && (json || pdf))
            rc = cert_export_one(&c, dir, json, pdf, lab_key, err);
        if (rc == 0 && (json || pdf))
            tell(say, arg, "%s/%s.json%s (%s)", dir, c.id, pdf ? " and .pdf" : "", c.status);
        pd_registry_cert_free(&c);
    }
    if (rc == PD_ENOMEM)
        pd_err_set(err, rc, NULL, "out of memory");
    free(ids);
    pd_registry_close(&reg);
    return rc;
}

int pd_cert_registry_check(const char *dir, void (*say)(const char *line, void *arg), void *arg, bool *ok,
                           struct pd_err *err)
{
    if (!dir || !ok)
        return pd_err_set(err, PD_EINVAL, NULL, "registry check: missing folder");
    struct pd_registry reg;
    int rc = pd_registry_open(&reg, dir, 0, err);
    if (rc < 0)
        return rc;
    rc = pd_registry_check(&reg, say, arg, ok, err);
    char(*ids)[32] = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = pd_registry_cert_ids(&reg, &ids, &n, err);
    size_t exported = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct pd_registry_cert c;
        if ((rc = pd_registry_cert_get(&reg, ids[i], &c, err)) < 0)
            break;
        bool same, missing, same_content;
        rc = export_state(&c, dir, &same, &missing, &same_content);
        if (rc == 0) {
            if (same && pdf_present(dir, c.id))
                exported++;
            else if (missing || same_content || !pdf_present(dir, c.id))
                tell(say, arg, "note: %s (%s): %s not the registry's latest: `polydaq registry export %s`", c.id,
                     c.status,
                     missing ? "JSON missing,"
                     : same  ? "PDF missing,"
                             : "JSON",
                     c.id);
            else {
                *ok = false;
                tell(say, arg, "FAIL: %s/%s.json: its content differs from the registry's %s (edited?)", dir, c.id,
                     c.id);
            }
        }
        pd_registry_cert_free(&c);
    }
    if (rc == PD_ENOMEM)
        pd_err_set(err, rc, NULL, "out of memory");
    if (rc == 0)
        tell(say, arg, "ok: %zu of %zu certificate(s) exported as the registry has them", exported, n);
    free(ids);
    pd_registry_close(&reg);
    return rc;
}
