/*
 * report.c — the validation report's files: the JSON document (every case with what it computes,
 * computed, expected, tolerance and outcome; version, method-set SHA-256, counts), the method-set
 * text beside it, and the writing of all three (with the PDF) under temporary names renamed into
 * place only when complete.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "validate/validate_internal.h"

static const char *group_name(enum pd_validate_group g)
{
    return g == PD_VALIDATE_WORKED_EXAMPLE ? "worked example"
           : g == PD_VALIDATE_SYNTHETIC    ? "synthetic"
                                           : "real export";
}

static json_t *real_or_null(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

static json_t *case_json(const struct pd_validate_case *c)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:b, s:s, s:s}", "id", c->id, "group",
                          group_name(c->group), "method", c->method, "quantity", c->quantity, "unit", c->unit,
                          "computed", real_or_null(c->computed), "expected", real_or_null(c->expected), "tolerance",
                          real_or_null(c->tolerance), "outcome",
                          c->outcome == PD_VALIDATE_PASS   ? "pass"
                          : c->outcome == PD_VALIDATE_FAIL ? "fail"
                                                           : "skipped",
                          "pass", c->outcome == PD_VALIDATE_PASS, "source", c->source, "note", c->note);
    if (o && c->expected_text[0]) {
        json_object_set_new(o, "expected_text", json_string(c->expected_text));
        json_object_set_new(o, "computed_text", json_string(c->computed_text));
    }
    return o;
}

static int write_file_atomic(const char *path, const char *data, size_t len, struct pd_err *err)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return pd_err_set(err, PD_ERANGE, path, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return pd_err_set_os(err, PD_EIO, errno, path, "cannot create %s", tmp);
    bool ok = fwrite(data, 1, len, f) == len;
    ok = fflush(f) == 0 && ok;
    ok = fsync(fileno(f)) == 0 && ok;
    int e = errno;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        e = ok ? errno : e;
        unlink(tmp);
        return pd_err_set_os(err, PD_EIO, e, path, "cannot write %s", path);
    }
    return 0;
}

int pd_validation_write_json(const struct pd_validation *v, const char *path, struct pd_err *err)
{
    json_t *cases = json_array();
    bool ok = cases != NULL;
    for (size_t i = 0; ok && i < v->n_cases; i++) {
        json_t *c = case_json(&v->cases[i]);
        ok = c && json_array_append_new(cases, c) == 0;
    }
    json_t *methods = json_array();
    for (size_t i = 0; ok && methods && pd_cert_method_ids[i]; i++)
        ok = json_array_append_new(methods, json_string(pd_cert_method_ids[i])) == 0;
    json_t *doc =
        ok && methods
            ? json_pack("{s:s, s:{s:s, s:s}, s:{s:s, s:s, s:o}, s:{s:s, s:b}, s:{s:I, s:I, s:I, s:I, s:s}, s:o}",
                        "document", "polydaq software validation report (ISO/IEC 17025 7.11.2)", "software", "name",
                        "polydaq", "version", v->version, "method_set", "sha256", v->method_set_sha256, "text_file",
                        "method-set.txt", "methods", methods, "real_exports", "data_dir", v->data_dir, "data_found",
                        v->data_found, "summary", "cases", (json_int_t)v->n_cases, "passed", (json_int_t)v->n_pass,
                        "failed", (json_int_t)v->n_fail, "skipped", (json_int_t)v->n_skip, "result",
                        pd_validation_exit_status(v) == 0 ? "pass" : "fail", "cases", cases)
            : NULL;
    if (!doc) {
        if (!ok || !methods) {
            json_decref(cases);
            json_decref(methods);
        }
        return pd_err_set(err, PD_ENOMEM, NULL, "validation report: cannot build the JSON document");
    }
    /* 17 significant digits: every number reads back to the double that was judged. */
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    json_decref(doc);
    if (!text)
        return pd_err_set(err, PD_ENOMEM, NULL, "validation report: cannot format the JSON document");
    int rc = write_file_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}

static int join(char *out, size_t size, const char *dir, const char *name, struct pd_err *err)
{
    if (snprintf(out, size, "%s/%s", dir, name) >= (int)size)
        return pd_err_set(err, PD_ERANGE, dir, "%s: path too long", dir);
    return 0;
}

int pd_validation_write(const struct pd_validation *v, const char *dir, struct pd_err *err)
{
    int rc = pd_mkdir_p(dir, err);
    if (rc < 0)
        return rc;
    char path[4200];
    size_t len;
    if ((rc = pd_validate_method_set_text(NULL, 0, &len, err)) < 0)
        return rc;
    char *text = malloc(len + 1);
    if (!text)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    rc = pd_validate_method_set_text(text, len + 1, &len, err);
    if (rc == 0)
        rc = join(path, sizeof path, dir, "method-set.txt", err);
    if (rc == 0)
        rc = write_file_atomic(path, text, len, err);
    free(text);
    if (rc == 0)
        rc = join(path, sizeof path, dir, "validation.pdf", err);
    if (rc == 0)
        rc = pd_validation_write_pdf(v, path, err);
    if (rc == 0)
        rc = join(path, sizeof path, dir, "validation.json", err);
    if (rc == 0)
        rc = pd_validation_write_json(v, path, err);
    return rc;
}
