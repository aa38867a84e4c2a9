/*
 * complaints.c — complaints (ISO/IEC 17025 7.9): a member contact files a complaint against one
 * of its company's requests, optionally naming the certificate (CERT-NNNNNN) it is about; lab
 * staff acknowledge it, record the investigation (one or more findings) and a reviewer, authorizer
 * or admin closes it with the outcome. The member follows the state. Every step is an entry of
 * complaint_events — who, when, what — which the database keeps append-only (triggers refuse
 * UPDATE and DELETE), and each step queues a notice to the member's contacts in its transaction.
 * States: received → acknowledged → investigating → closed. All reads and changes take the scope
 * of the complaint's request. A certificate named must be one the lab has issued: it is looked up
 * in the registry (DATA/certs/registry.sqlite, through the registry module), read only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry.h"
#include "server/internal.h"

const struct srv_field complaints_create_body[] = {
    {"request_id", FT_INTEGER, true, 1, 999999999999999L, NULL},
    {"certificate_number", FT_STRING, false, 0, 20, NULL},
    {"subject", FT_STRING, true, 1, 200, NULL},
    {"description", FT_TEXT, true, 1, 4000, NULL},
    {NULL, 0, false, 0, 0, NULL},
};
const struct srv_field complaints_note_body[] = {
    {"note", FT_TEXT, false, 0, 4000, NULL},
    {NULL, 0, false, 0, 0, NULL},
};
const struct srv_field complaints_investigation_body[] = {
    {"findings", FT_TEXT, true, 1, 4000, NULL},
    {NULL, 0, false, 0, 0, NULL},
};
const struct srv_field complaints_close_body[] = {
    {"outcome", FT_TEXT, true, 1, 4000, NULL},
    {NULL, 0, false, 0, 0, NULL},
};

#define COMPLAINT_SELECT                                                                                         \
    "SELECT c.id, c.request_id, r.member_id, c.certificate_number, c.subject, c.description, c.state, u.login, " \
    "c.filed_at, c.outcome FROM complaints c JOIN requests r ON r.id = c.request_id JOIN users u ON u.id = "     \
    "c.filed_by "

/* CERT-NNNNNN: the registry's certificate numbers (six or more digits). */
static bool certificate_number_valid(const char *s)
{
    if (strncmp(s, "CERT-", 5) != 0)
        return false;
    size_t n = strlen(s + 5);
    if (n < 6 || n > 12)
        return false;
    for (const char *p = s + 5; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

/* Whether `number` is a certificate the lab has issued (issued, superseded or withdrawn: one a
 * member can hold) in the registry of the server's data folder: 1 yes, 0 no (no registry, no such
 * number, or a draft not yet issued — all the same answer), or an error reading the registry.
 * Which request a certificate reports is not recorded in the registry yet, so only its existence is
 * checked (docs/SERVER.md, "Still to come"). */
static int certificate_issued(struct srv_call *call, const char *number, struct pd_err *err)
{
    char dir[4200];
    if (snprintf(dir, sizeof dir, "%s/certs", srv_data_dir(call->srv)) >= (int)sizeof dir)
        return pd_err_set(err, PD_EINVAL, NULL, "data folder path too long");
    if (!pd_registry_exists(dir))
        return 0;
    struct pd_registry reg;
    int rc = pd_registry_open(&reg, dir, 0, err);
    if (rc < 0)
        return rc;
    struct pd_registry_cert cert;
    rc = pd_registry_cert_get(&reg, number, &cert, err);
    if (rc == 0) {
        rc = strcmp(cert.status, "draft") != 0 && strcmp(cert.status, "reviewed") != 0;
        pd_registry_cert_free(&cert);
    } else if (rc == PD_ESTATE) {
        pd_err_clear(err);
        rc = 0;
    }
    pd_registry_close(&reg);
    return rc;
}

/* COMPLAINT_SELECT's columns in order. */
static const struct db_column complaint_columns[] = {
    {"id", DB_INTEGER},   {"request_id", DB_INTEGER}, {"member_id", DB_INTEGER}, {"certificate_number", DB_TEXT},
    {"subject", DB_TEXT}, {"description", DB_TEXT},   {"state", DB_TEXT},        {"filed_by", DB_TEXT},
    {"filed_at", DB_TEXT}, {"outcome", DB_TEXT},      {NULL, DB_TEXT},
};

static json_t *complaint_json(sqlite3_stmt *st) { return db_row_object(st, complaint_columns); }

#define COMPLAINT_BY_ID COMPLAINT_SELECT "WHERE c.id = :id AND " SCOPE_SQL("r.member_id")
#define COMPLAINT_HISTORY DB_HISTORY_SQL("complaint_events", "complaint_id")

/* The complaint with its history, as the caller's scope sees it; NULL when not found (err clear)
 * or on error (err set). */
static json_t *load_complaint(struct srv_call *call, int64_t id, struct pd_err *err)
{
    json_t *o = NULL;
    db_scoped_get(call->db, &call->scope, COMPLAINT_BY_ID, id, complaint_json, COMPLAINT_HISTORY,
                  "reading a complaint", &o, err);
    return o;
}

int complaints_list(struct srv_call *call)
{
    return db_reply_list(call, "complaints", COMPLAINT_SELECT "WHERE " SCOPE_SQL("r.member_id") " ORDER BY c.id",
                         complaint_json, "listing the complaints");
}

int complaints_get(struct srv_call *call)
{
    return db_reply_get(call, COMPLAINT_BY_ID, complaint_json, COMPLAINT_HISTORY, "reading a complaint",
                        "no such complaint");
}

static int complaint_event(struct srv_call *call, int64_t id, const char *action, const char *detail,
                           struct pd_err *err)
{
    return db_event_add(call->db,
                        "INSERT INTO complaint_events(complaint_id, at, user_id, action, detail) VALUES (?,?,?,?,?)",
                        id, call->user.id, action, detail, "recording the complaint's history", err);
}

static int notify(struct srv_call *call, int64_t member_id, int64_t id, const char *subject_tail, const char *what,
                  const char *detail, struct pd_err *err)
{
    char subject[200], text[5000];
    snprintf(subject, sizeof subject, "Complaint %lld: %s", (long long)id, subject_tail);
    snprintf(text, sizeof text, "Your complaint %lld %s.\n%s%s\n", (long long)id, what, detail[0] ? "\n" : "",
             detail);
    return outbox_notify_member(call->db, member_id, subject, text, err);
}

int complaints_create(struct srv_call *call)
{
    json_t *b = call->body;
    int64_t request_id = json_integer_value(json_object_get(b, "request_id"));
    const char *cert = json_string_value(json_object_get(b, "certificate_number"));
    if (cert && cert[0] == '\0')
        cert = NULL;
    if (cert && !certificate_number_valid(cert))
        return call_error(call, 400, "invalid", "field 'certificate_number': not a certificate number (CERT-NNNNNN)");
    const char *subject = json_string_value(json_object_get(b, "subject"));
    const char *description = json_string_value(json_object_get(b, "description"));
    struct pd_err err;
    pd_err_clear(&err);
    int rc = db_begin(call->db, &err);
    if (rc < 0)
        return call_fail(call, &err);
    struct request_brief req;
    if ((rc = request_visible(call, request_id, &req, &err)) < 0)
        return call_fail(call, &err);
    if (rc == 0) /* another member's request reads exactly like one that does not exist */
        return call_error(call, 404, "not_found", "field 'request_id': no such request");
    /* The registry is another database, read only here (a short read inside this transaction). */
    if (cert && (rc = certificate_issued(call, cert, &err)) <= 0) {
        db_rollback(call->db);
        if (rc < 0 && err.code == PD_EBUSY)
            return call_fail(call, &err);
        if (rc < 0) { /* the registry's path and fault are for the log, not for the member */
            pd_log(PD_LOG_ERROR, "server: reading the certificate registry: %s", err.msg);
            return call_error(call, 500, "internal", "internal error (logged on the server)");
        }
        return call_error(call, 422, "invalid", "field 'certificate_number': %s is not a certificate issued by the "
                                                "laboratory to your company",
                          cert);
    }
    sqlite3_stmt *st;
    char now[40];
    db_now_iso(now, sizeof now);
    if ((rc = db_prepare(call->db,
                         "INSERT INTO complaints(request_id, certificate_number, subject, description, state, "
                         "filed_by, filed_at) VALUES (?,?,?,?,'received',?,?)",
                         &st, &err)) < 0)
        return call_fail(call, &err);
    sqlite3_bind_int64(st, 1, request_id);
    cert ? sqlite3_bind_text(st, 2, cert, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, 2);
    sqlite3_bind_text(st, 3, subject, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, description, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, call->user.id);
    sqlite3_bind_text(st, 6, now, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(call->db, "storing the complaint", &err);
    sqlite3_finalize(st);
    int64_t id = sqlite3_last_insert_rowid(call->db->h);
    if (rc == 0)
        rc = complaint_event(call, id, "received", subject, &err);
    if (rc == 0)
        rc = notify(call, req.member_id, id, "received", "was received by the laboratory", subject, &err);
    if (rc == 0)
        rc = db_commit(call->db, &err);
    if (rc < 0)
        return call_fail(call, &err);
    json_t *o = load_complaint(call, id, &err);
    if (!o)
        return call_error(call, 500, "internal", "the new complaint could not be read back");
    return call_reply(call, 201, o);
}

/* One step of complaint {id}: allowed from the states in `from` (a NULL-ended list), to `to`. */
static int step(struct srv_call *call, const char *const *from, const char *to, const char *action,
                const char *outcome, const char *detail, const char *what)
{
    struct pd_err err;
    pd_err_clear(&err);
    int rc = db_begin(call->db, &err);
    if (rc < 0)
        return call_fail(call, &err);
    sqlite3_stmt *st;
    if ((rc = scope_prepare(call->db, &call->scope,
                            "SELECT c.state, r.member_id FROM complaints c JOIN requests r ON r.id = c.request_id "
                            "WHERE c.id = :id AND " SCOPE_SQL("r.member_id"),
                            &st, &err)) < 0)
        return call_fail(call, &err);
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":id"), call->ids[0]);
    char current[32] = "";
    int64_t member_id = 0;
    bool found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        db_text(st, 0, current, sizeof current);
        member_id = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (!found)
        return call_error(call, 404, "not_found", "no such complaint");
    bool allowed = false;
    for (const char *const *s = from; *s; s++)
        allowed = allowed || strcmp(current, *s) == 0;
    if (!allowed)
        return call_error(call, 409, "conflict", "complaint %lld is %s; %s is not its next step",
                          (long long)call->ids[0], current, action);
    if ((rc = db_prepare(call->db, "UPDATE complaints SET state = ?, outcome = coalesce(?, outcome) WHERE id = ?",
                         &st, &err)) < 0)
        return call_fail(call, &err);
    sqlite3_bind_text(st, 1, to, -1, SQLITE_STATIC);
    outcome ? sqlite3_bind_text(st, 2, outcome, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, 2);
    sqlite3_bind_int64(st, 3, call->ids[0]);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(call->db, "recording the step", &err);
    sqlite3_finalize(st);
    if (rc == 0)
        rc = complaint_event(call, call->ids[0], action, detail, &err);
    if (rc == 0)
        rc = notify(call, member_id, call->ids[0], to, what, detail, &err);
    if (rc == 0)
        rc = db_commit(call->db, &err);
    if (rc < 0)
        return call_fail(call, &err);
    json_t *o = load_complaint(call, call->ids[0], &err);
    if (!o)
        return call_error(call, 500, "internal", "the complaint could not be read back");
    return call_reply(call, 200, o);
}

int complaints_acknowledge(struct srv_call *call)
{
    static const char *const from[] = {"received", NULL};
    const char *note = json_string_value(json_object_get(call->body, "note"));
    return step(call, from, "acknowledged", "acknowledged", NULL, note ? note : "",
                "was acknowledged; the laboratory is looking into it");
}

int complaints_investigate(struct srv_call *call)
{
    static const char *const from[] = {"acknowledged", "investigating", NULL};
    const char *findings = json_string_value(json_object_get(call->body, "findings"));
    return step(call, from, "investigating", "investigation", NULL, findings,
                "is being investigated; the laboratory recorded these findings");
}

int complaints_close(struct srv_call *call)
{
    static const char *const from[] = {"acknowledged", "investigating", NULL};
    const char *outcome = json_string_value(json_object_get(call->body, "outcome"));
    return step(call, from, "closed", "closed", outcome, outcome, "was closed with this outcome");
}
