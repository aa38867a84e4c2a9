/* certs.c — certificate rows (numbers, states, documents, revisions, withdrawals) and their signed approvals. */
#include <stdlib.h>
#include <string.h>

#include "registry/registry_internal.h"

void pd_registry_cert_free(struct pd_registry_cert *c)
{
    if (c) {
        free(c->document);
        c->document = NULL;
    }
}

int pd_registry_next_number(struct pd_registry *reg, unsigned long *number, struct pd_err *err)
{
    int rc = reg_need_transaction(reg, "next number", err);
    sqlite3_stmt *st = NULL;
    if (rc == 0)
        rc = reg_prepare(reg, "UPDATE sequences SET value = value + 1 WHERE name = 'certificate'", &st, err);
    if (rc == 0 && (sqlite3_step(st) != SQLITE_DONE || sqlite3_changes(reg->db) != 1))
        rc = reg_sql_error(reg, PD_EIO, "cannot take the next certificate number", err);
    sqlite3_finalize(st);
    st = NULL;
    if (rc == 0)
        rc = reg_prepare(reg, "SELECT value FROM sequences WHERE name = 'certificate'", &st, err);
    if (rc == 0 && sqlite3_step(st) != SQLITE_ROW)
        rc = reg_sql_error(reg, PD_EIO, "cannot read the certificate number", err);
    long long v = rc == 0 ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc == 0 && (v <= 0 || v > 999999999))
        rc = pd_err_set(err, PD_EDATA, reg->path, "the certificate sequence holds %lld", v);
    if (rc == 0)
        *number = (unsigned long)v;
    return rc;
}

int pd_registry_sequence_raise(struct pd_registry *reg, unsigned long last, struct pd_err *err)
{
    int rc = reg_need_transaction(reg, "raise sequence", err);
    sqlite3_stmt *st = NULL;
    if (rc == 0)
        rc = reg_prepare(reg, "UPDATE sequences SET value = ? WHERE name = 'certificate' AND value < ?", &st, err);
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)last);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)last);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = reg_sql_error(reg, PD_EIO, "cannot set the certificate sequence", err);
    }
    sqlite3_finalize(st);
    return rc;
}

int pd_registry_cert_insert(struct pd_registry *reg, const struct pd_registry_cert *c, struct pd_err *err)
{
    int rc = reg_need_transaction(reg, "insert certificate", err);
    if (rc == 0 && (!c || !c->document || !c->id[0] || !c->status[0]))
        rc = pd_err_set(err, PD_EINVAL, NULL, "registry: incomplete certificate row");
    sqlite3_stmt *st = NULL;
    if (rc == 0)
        rc = reg_prepare(reg,
                         "INSERT INTO certificates (number, certificate_id, status, document, content_sha256,"
                         " document_sha256, replaces, superseded_by, drafted, issued, retired, reason)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         &st, err);
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, c->number);
        reg_bind_text(st, 2, c->id, false);
        reg_bind_text(st, 3, c->status, false);
        reg_bind_text(st, 4, c->document, false);
        reg_bind_text(st, 5, c->content_sha256, false);
        reg_bind_text(st, 6, c->document_sha256, false);
        reg_bind_text(st, 7, c->replaces, true);
        reg_bind_text(st, 8, c->superseded_by, true);
        reg_bind_text(st, 9, c->drafted, false);
        reg_bind_text(st, 10, c->issued, true);
        reg_bind_text(st, 11, c->withdrawn, true);
        reg_bind_text(st, 12, c->reason, true);
        int s = sqlite3_step(st);
        if (s == SQLITE_CONSTRAINT)
            rc = reg_sql_error(reg, PD_ESTATE, "certificate number or id already in the registry", err);
        else if (s != SQLITE_DONE)
            rc = reg_sql_error(reg, PD_EIO, "cannot record the certificate", err);
    }
    sqlite3_finalize(st);
    return rc;
}

int pd_registry_cert_get(struct pd_registry *reg, const char *id, struct pd_registry_cert *out, struct pd_err *err)
{
    if (!reg || !reg->db || !id || !out)
        return pd_err_set(err, PD_EINVAL, NULL, "registry: missing certificate id");
    sqlite3_stmt *st = NULL;
    int rc = reg_prepare(reg,
                         "SELECT number, certificate_id, status, document, content_sha256, document_sha256, replaces,"
                         " superseded_by, drafted, issued, retired, reason FROM certificates WHERE certificate_id = ?",
                         &st, err);
    if (rc < 0)
        return rc;
    reg_bind_text(st, 1, id, false);
    int s = sqlite3_step(st);
    struct pd_registry_cert c;
    memset(&c, 0, sizeof c);
    if (s == SQLITE_ROW) {
        c.number = sqlite3_column_int64(st, 0);
        reg_column_text(st, 1, c.id, sizeof c.id);
        reg_column_text(st, 2, c.status, sizeof c.status);
        const unsigned char *doc = sqlite3_column_text(st, 3);
        c.document = strdup(doc ? (const char *)doc : "");
        reg_column_text(st, 4, c.content_sha256, sizeof c.content_sha256);
        reg_column_text(st, 5, c.document_sha256, sizeof c.document_sha256);
        reg_column_text(st, 6, c.replaces, sizeof c.replaces);
        reg_column_text(st, 7, c.superseded_by, sizeof c.superseded_by);
        reg_column_text(st, 8, c.drafted, sizeof c.drafted);
        reg_column_text(st, 9, c.issued, sizeof c.issued);
        reg_column_text(st, 10, c.withdrawn, sizeof c.withdrawn);
        reg_column_text(st, 11, c.reason, sizeof c.reason);
        if (!c.document)
            rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    } else if (s == SQLITE_DONE) {
        rc = pd_err_set(err, PD_ESTATE, reg->path, "no certificate %s in this registry", id);
    } else {
        rc = reg_sql_error(reg, PD_EIO, "cannot read the certificate", err);
    }
    sqlite3_finalize(st);
    if (rc < 0) {
        free(c.document);
        return rc;
    }
    *out = c;
    return 0;
}

int pd_registry_cert_update(struct pd_registry *reg, const char *from, const struct pd_registry_cert *c,
                            struct pd_err *err)
{
    int rc = reg_need_transaction(reg, "update certificate", err);
    if (rc == 0 && (!c || !c->document || !from))
        rc = pd_err_set(err, PD_EINVAL, NULL, "registry: incomplete certificate update");
    sqlite3_stmt *st = NULL;
    if (rc == 0)
        rc = reg_prepare(reg,
                         "UPDATE certificates SET status = ?, document = ?, content_sha256 = ?, document_sha256 = ?,"
                         " issued = COALESCE(?, issued) WHERE certificate_id = ? AND status = ?",
                         &st, err);
    if (rc == 0) {
        reg_bind_text(st, 1, c->status, false);
        reg_bind_text(st, 2, c->document, false);
        reg_bind_text(st, 3, c->content_sha256, false);
        reg_bind_text(st, 4, c->document_sha256, false);
        reg_bind_text(st, 5, c->issued, true);
        reg_bind_text(st, 6, c->id, false);
        reg_bind_text(st, 7, from, false);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = reg_sql_error(reg, PD_EIO, "cannot update the certificate", err);
        else if (sqlite3_changes(reg->db) != 1)
            rc = pd_err_set(err, PD_ESTATE, reg->path, "%s is not '%s' in the registry", c->id, from);
    }
    sqlite3_finalize(st);
    return rc;
}

int pd_registry_cert_retire(struct pd_registry *reg, const char *id, const char *by, const char *reason,
                            const char *time, struct pd_err *err)
{
    int rc = reg_need_transaction(reg, "retire certificate", err);
    sqlite3_stmt *st = NULL;
    if (rc == 0)
        rc = reg_prepare(reg,
                         "UPDATE certificates SET status = ?, superseded_by = ?, retired = ?, reason = ?"
                         " WHERE certificate_id = ? AND status = 'issued'",
                         &st, err);
    if (rc == 0) {
        reg_bind_text(st, 1, by ? "superseded" : "withdrawn", false);
        reg_bind_text(st, 2, by, true);
        reg_bind_text(st, 3, time, false);
        reg_bind_text(st, 4, reason, true);
        reg_bind_text(st, 5, id, false);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = reg_sql_error(reg, PD_EIO, "cannot change the certificate's state", err);
        else if (sqlite3_changes(reg->db) != 1)
            rc = pd_err_set(err, PD_ESTATE, reg->path, "%s is not an issued certificate of this registry", id);
    }
    sqlite3_finalize(st);
    return rc;
}

int pd_registry_cert_ids(struct pd_registry *reg, char (**ids)[32], size_t *n, struct pd_err *err)
{
    if (!reg || !reg->db || !ids || !n)
        return pd_err_set(err, PD_EINVAL, NULL, "registry: missing outputs");
    sqlite3_stmt *st = NULL;
    int rc = reg_prepare(reg, "SELECT certificate_id FROM certificates ORDER BY number", &st, err);
    if (rc < 0)
        return rc;
    char(*arr)[32] = NULL;
    size_t count = 0, cap = 0;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            size_t nc = cap ? 2 * cap : 16;
            char(*na)[32] = realloc(arr, nc * sizeof *na);
            if (!na) {
                rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
                break;
            }
            arr = na;
            cap = nc;
        }
        reg_column_text(st, 0, arr[count++], 32);
    }
    if (rc == 0 && s != SQLITE_DONE)
        rc = reg_sql_error(reg, PD_EIO, "cannot list the certificates", err);
    sqlite3_finalize(st);
    if (rc < 0) {
        free(arr);
        return rc;
    }
    *ids = arr;
    *n = count;
    return 0;
}

int pd_registry_approval_add(struct pd_registry *reg, const struct pd_registry_approval *a, struct pd_err *err)
{
    int rc = reg_need_transaction(reg, "record approval", err);
    sqlite3_stmt *st = NULL;
    if (rc == 0)
        rc = reg_prepare(reg,
                         "INSERT INTO approvals (certificate_id, role, key_ref, content_sha256, time, signature)"
                         " VALUES (?, ?, ?, ?, ?, ?)",
                         &st, err);
    if (rc == 0) {
        reg_bind_text(st, 1, a->cert_id, false);
        reg_bind_text(st, 2, a->role, false);
        sqlite3_bind_int64(st, 3, a->key_ref);
        reg_bind_text(st, 4, a->content_sha256, false);
        reg_bind_text(st, 5, a->time, false);
        reg_bind_text(st, 6, a->signature, false);
        int s = sqlite3_step(st);
        if (s == SQLITE_CONSTRAINT)
            rc = reg_sql_error(reg, PD_ESTATE, "approval refused by the registry", err);
        else if (s != SQLITE_DONE)
            rc = reg_sql_error(reg, PD_EIO, "cannot record the approval", err);
    }
    sqlite3_finalize(st);
    return rc;
}

int pd_registry_approval_get(struct pd_registry *reg, const char *cert_id, const char *role,
                             struct pd_registry_approval *out, struct pd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = reg_prepare(reg,
                         "SELECT key_ref, content_sha256, time, signature FROM approvals"
                         " WHERE certificate_id = ? AND role = ?",
                         &st, err);
    if (rc < 0)
        return rc;
    reg_bind_text(st, 1, cert_id, false);
    reg_bind_text(st, 2, role, false);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        struct pd_registry_approval a;
        memset(&a, 0, sizeof a);
        pd_strlcpy(a.cert_id, cert_id, sizeof a.cert_id);
        pd_strlcpy(a.role, role, sizeof a.role);
        a.key_ref = sqlite3_column_int64(st, 0);
        reg_column_text(st, 1, a.content_sha256, sizeof a.content_sha256);
        reg_column_text(st, 2, a.time, sizeof a.time);
        reg_column_text(st, 3, a.signature, sizeof a.signature);
        *out = a;
    } else if (s == SQLITE_DONE) {
        rc = pd_err_set(err, PD_ESTATE, reg->path, "%s has no %s approval in the registry", cert_id, role);
    } else {
        rc = reg_sql_error(reg, PD_EIO, "cannot read the approvals", err);
    }
    sqlite3_finalize(st);
    return rc;
}
