/*
 * requests.c — the test requests resource (ISO/IEC 17025 7.1): a member contact submits a
 * request for its company and follows its state; lab staff list every request and review it:
 * accept with the contract review points recorded, or reject with a reason. Every read and
 * change goes through the caller's scope, so another member's request is "not found" (404).
 * States so far: submitted → accepted | rejected (items, testing, reviewing, issued follow).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

const struct srv_field requests_create_body[] = {
    {"material", FT_STRING, true, 1, 200, NULL},
    {"specification", FT_STRING, false, 0, 200, NULL},
    {"methods", FT_STRING_ARRAY, false, 0, 20, NULL},
    {"specimens", FT_INTEGER, true, 1, 1000, NULL},
    {"conditioning", FT_STRING, false, 0, 200, NULL},
    {"due_date", FT_DATE, true, 0, 0, NULL},
    {"customer_reference", FT_STRING, false, 0, 100, NULL},
    {"notes", FT_TEXT, false, 0, 4000, NULL},
    {"decision_rule_agreed", FT_BOOLEAN, true, 0, 0, NULL},
    {NULL, 0, false, 0, 0, NULL},
};

/* The contract review points of ISO/IEC 17025 7.1.1; the first four must hold to accept. */
static const struct srv_field contract_review_fields[] = {
    {"requirements_defined", FT_BOOLEAN, true, 0, 0, NULL},
    {"methods_appropriate", FT_BOOLEAN, true, 0, 0, NULL},
    {"capability_and_resources", FT_BOOLEAN, true, 0, 0, NULL},
    {"due_date_feasible", FT_BOOLEAN, true, 0, 0, NULL},
    {"subcontracting", FT_BOOLEAN, true, 0, 0, NULL}, /* true: part subcontracted, member informed */
    {NULL, 0, false, 0, 0, NULL},
};
const struct srv_field requests_accept_body[] = {
    {"contract_review", FT_OBJECT, true, 0, 0, contract_review_fields},
    {"comments", FT_TEXT, false, 0, 4000, NULL},
    {NULL, 0, false, 0, 0, NULL},
};
const struct srv_field requests_reject_body[] = {
    {"reason", FT_TEXT, true, 1, 4000, NULL},
    {NULL, 0, false, 0, 0, NULL},
};

#define REQUEST_SELECT                                                                                          \
    "SELECT r.id, r.member_id, m.name, u.login, r.material, r.specification, r.methods, r.specimens, "           \
    "r.conditioning, r.due_date, r.customer_reference, r.notes, r.decision_rule, 1, r.state, r.submitted_at, "  \
    "d.login, r.decided_at, r.reject_reason, r.contract_review "                                                 \
    "FROM requests r JOIN members m ON m.id = r.member_id JOIN users u ON u.id = r.submitted_by "                \
    "LEFT JOIN users d ON d.id = r.decided_by "

/* REQUEST_SELECT's columns in order; the rule was agreed to submit (requests_create checks it). */
static const struct db_column request_columns[] = {
    {"id", DB_INTEGER},          {"member_id", DB_INTEGER},    {"member_name", DB_TEXT},
    {"submitted_by", DB_TEXT},   {"material", DB_TEXT},        {"specification", DB_TEXT},
    {"methods", DB_JSON},        {"specimens", DB_INTEGER},    {"conditioning", DB_TEXT},
    {"due_date", DB_TEXT},       {"customer_reference", DB_TEXT}, {"notes", DB_TEXT},
    {"decision_rule", DB_TEXT},  {"decision_rule_agreed", DB_BOOLEAN}, {"state", DB_TEXT},
    {"submitted_at", DB_TEXT},   {"decided_by", DB_TEXT},      {"decided_at", DB_TEXT},
    {"reject_reason", DB_TEXT},  {"contract_review", DB_JSON}, {NULL, DB_TEXT},
};

static json_t *request_json(sqlite3_stmt *st) { return db_row_object(st, request_columns); }

#define REQUEST_BY_ID REQUEST_SELECT "WHERE r.id = :id AND " SCOPE_SQL("r.member_id")
#define REQUEST_HISTORY DB_HISTORY_SQL("request_events", "request_id")

/* The request {id} as the caller may see it, with its history; NULL with *rc 0 when the scope
 * does not show it, NULL with *rc < 0 (err set) on error. */
static json_t *load_request(struct srv_call *call, int64_t id, struct pd_err *err, int *rc)
{
    json_t *o = NULL;
    *rc = db_scoped_get(call->db, &call->scope, REQUEST_BY_ID, id, request_json, REQUEST_HISTORY,
                        "reading a request", &o, err);
    return o;
}

int request_event(struct srv_call *call, int64_t request_id, const char *action, const char *detail,
                  struct pd_err *err)
{
    return db_event_add(call->db,
                        "INSERT INTO request_events(request_id, at, user_id, action, detail) VALUES (?,?,?,?,?)",
                        request_id, call->user.id, action, detail, "recording the request's history", err);
}

int request_move(struct pd_srvdb *db, int64_t request_id, const char *from, const char *to, struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = db_prepare(db, "UPDATE requests SET state = ? WHERE id = ? AND state = ?", &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, to, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, request_id);
    sqlite3_bind_text(st, 3, from, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, "moving the request on", err);
    sqlite3_finalize(st);
    return rc < 0 ? rc : sqlite3_changes(db->h) == 1;
}

int request_advance(struct srv_call *call, struct request_brief *req, const struct request_step *step,
                    struct pd_err *err)
{
    int moved = 0, rc;
    if (step->to && strcmp(req->state, step->from) == 0) {
        if ((rc = request_move(call->db, req->id, step->from, step->to, err)) < 0)
            return rc;
        /* The caller read `from` outside this transaction, and another call moved the request since. */
        if (rc == 0)
            return pd_err_set(err, PD_ESTATE, NULL, "request %lld is no longer %s: another change came first",
                              (long long)req->id, step->from);
        pd_strlcpy(req->state, step->to, sizeof req->state);
        moved = 1;
    }
    if ((rc = request_event(call, req->id, step->action, step->detail, err)) < 0)
        return rc;
    if (step->subject && (moved || step->notice_always) &&
        (rc = outbox_notify_member(call->db, req->member_id, step->subject, step->text, err)) < 0)
        return rc;
    return moved;
}

int requests_list(struct srv_call *call)
{
    sqlite3_stmt *st;
    struct pd_err err;
    pd_err_clear(&err);
    if (scope_prepare_kept(call->db, &call->scope,
                           REQUEST_SELECT "WHERE " SCOPE_SQL("r.member_id") " ORDER BY r.id DESC", &st, &err) < 0)
        return call_fail(call, &err);
    json_t *arr = json_array();
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(arr, request_json(st));
    if (step != SQLITE_DONE) {
        db_fail(call->db, "listing requests", &err);
        db_release(st);
        json_decref(arr);
        return call_fail(call, &err);
    }
    db_release(st);
    return call_reply(call, 200, json_pack("{s:o}", "requests", arr));
}

int requests_get(struct srv_call *call)
{
    return db_reply_get(call, REQUEST_BY_ID, request_json, REQUEST_HISTORY, "reading a request", "no such request");
}

static const char *opt_string(json_t *body, const char *name)
{
    const char *s = json_string_value(json_object_get(body, name));
    return s ? s : "";
}

int requests_create(struct srv_call *call)
{
    json_t *b = call->body;
    if (!json_is_true(json_object_get(b, "decision_rule_agreed")))
        return call_error(call, 400, "invalid",
                          "field 'decision_rule_agreed': the stated decision rule must be agreed to submit a request");
    json_t *methods = json_object_get(b, "methods");
    size_t n_methods = json_is_array(methods) ? json_array_size(methods) : 0;
    if (opt_string(b, "specification")[0] == '\0' && n_methods == 0)
        return call_error(call, 400, "invalid", "give a 'specification' or the 'methods' to test by");
    char today[40];
    db_now_iso(today, sizeof today);
    today[10] = '\0';
    const char *due = opt_string(b, "due_date");
    if (strcmp(due, today) < 0)
        return call_error(call, 400, "invalid", "field 'due_date': %s is in the past", due);
    char *methods_text = n_methods ? json_dumps(methods, JSON_COMPACT) : strdup("[]");
    struct pd_err err;
    pd_err_clear(&err);
    sqlite3_stmt *st;
    int rc = db_begin(call->db, &err);
    if (rc == 0)
        rc = db_prepare(call->db,
                        "INSERT INTO requests(member_id, submitted_by, material, specification, methods, specimens, "
                        "conditioning, due_date, customer_reference, notes, decision_rule, state, submitted_at) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,'submitted',?)",
                        &st, &err);
    if (rc < 0 || !methods_text) {
        free(methods_text);
        return rc < 0 ? call_fail(call, &err) : call_error(call, 500, "internal", "out of memory");
    }
    char now[40];
    db_now_iso(now, sizeof now);
    /* The member company is the caller's own, never one named in the body. */
    sqlite3_bind_int64(st, 1, call->user.member_id);
    sqlite3_bind_int64(st, 2, call->user.id);
    sqlite3_bind_text(st, 3, opt_string(b, "material"), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, opt_string(b, "specification"), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, methods_text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 6, json_integer_value(json_object_get(b, "specimens")));
    sqlite3_bind_text(st, 7, opt_string(b, "conditioning"), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, due, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 9, opt_string(b, "customer_reference"), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 10, opt_string(b, "notes"), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 11, srv_decision_rule(call->srv), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 12, now, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(call->db, "storing the request", &err);
    sqlite3_finalize(st);
    free(methods_text);
    int64_t id = sqlite3_last_insert_rowid(call->db->h);
    if (rc == 0)
        rc = request_event(call, id, "submitted", "", &err);
    if (rc == 0)
        rc = db_commit(call->db, &err);
    if (rc < 0)
        return call_fail(call, &err);
    json_t *o = load_request(call, id, &err, &rc);
    if (!o)
        return call_error(call, 500, "internal", "the new request could not be read back");
    return call_reply(call, 201, o);
}

/* The member's contacts hear of the decision (queued in the decision's transaction). */
static int notify_decision(struct srv_call *call, const char *state, const char *reject_reason, struct pd_err *err)
{
    struct request_brief req;
    int rc = request_visible(call, call->ids[0], &req, err);
    if (rc <= 0)
        return rc < 0 ? rc : pd_err_set(err, PD_EIO, NULL, "request %lld vanished", (long long)call->ids[0]);
    char subject[200], text[5000];
    char material[64]; /* the material in the subject, cut between characters */
    utf8_cut(material, req.material, sizeof material);
    snprintf(subject, sizeof subject, "Request %lld: %s (%s)", (long long)req.id, state, material);
    snprintf(text, sizeof text, "Your test request %lld (%s) was %s by the laboratory.\n%s%s\n", (long long)req.id,
             req.material, state, reject_reason ? "\nReason: " : "", reject_reason ? reject_reason : "");
    return outbox_notify_member(call->db, req.member_id, subject, text, err);
}

/* Moves request {id} from submitted to `state` in one transaction, with its history entry. */
static int decide(struct srv_call *call, const char *state, const char *reject_reason, const char *review_text,
                  const char *detail)
{
    struct pd_err err;
    pd_err_clear(&err);
    int rc = db_begin(call->db, &err);
    if (rc < 0)
        return call_fail(call, &err);
    sqlite3_stmt *st;
    if ((rc = scope_prepare(call->db, &call->scope,
                            "SELECT r.state FROM requests r WHERE r.id = :id AND " SCOPE_SQL("r.member_id"), &st,
                            &err)) < 0)
        return call_fail(call, &err);
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":id"), call->ids[0]);
    char current[32] = "";
    bool found = sqlite3_step(st) == SQLITE_ROW;
    if (found)
        db_text(st, 0, current, sizeof current);
    sqlite3_finalize(st);
    if (!found)
        return call_error(call, 404, "not_found", "no such request");
    if (strcmp(current, "submitted") != 0)
        return call_error(call, 409, "conflict", "request %lld is %s already; only a submitted request is reviewed",
                          (long long)call->ids[0], current);
    char now[40];
    db_now_iso(now, sizeof now);
    if ((rc = db_prepare(call->db,
                         "UPDATE requests SET state = ?, decided_by = ?, decided_at = ?, reject_reason = ?, "
                         "contract_review = ? WHERE id = ? AND state = 'submitted'",
                         &st, &err)) < 0)
        return call_fail(call, &err);
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, call->user.id);
    sqlite3_bind_text(st, 3, now, -1, SQLITE_TRANSIENT);
    reject_reason ? sqlite3_bind_text(st, 4, reject_reason, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, 4);
    review_text ? sqlite3_bind_text(st, 5, review_text, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, 5);
    sqlite3_bind_int64(st, 6, call->ids[0]);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(call->db, "recording the decision", &err);
    sqlite3_finalize(st);
    if (rc == 0)
        rc = request_event(call, call->ids[0], state, detail, &err);
    if (rc == 0)
        rc = notify_decision(call, state, reject_reason, &err);
    if (rc == 0)
        rc = db_commit(call->db, &err);
    if (rc < 0)
        return call_fail(call, &err);
    json_t *o = load_request(call, call->ids[0], &err, &rc);
    if (!o)
        return call_error(call, 500, "internal", "the request could not be read back");
    return call_reply(call, 200, o);
}

int requests_accept(struct srv_call *call)
{
    json_t *review = json_object_get(call->body, "contract_review");
    static const char *const must_hold[] = {"requirements_defined", "methods_appropriate",
                                            "capability_and_resources", "due_date_feasible"};
    for (size_t i = 0; i < sizeof must_hold / sizeof must_hold[0]; i++) {
        if (!json_is_true(json_object_get(review, must_hold[i])))
            return call_error(call, 400, "invalid",
                              "contract_review.%s is false: a request that fails its review is rejected with a "
                              "reason, not accepted",
                              must_hold[i]);
    }
    json_t *record = json_deep_copy(review);
    const char *comments = json_string_value(json_object_get(call->body, "comments"));
    json_object_set_new(record, "comments", json_string(comments ? comments : ""));
    char *text = json_dumps(record, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(record);
    if (!text)
        return call_error(call, 500, "internal", "out of memory");
    int rc = decide(call, "accepted", NULL, text, comments ? comments : "");
    free(text);
    return rc;
}

int requests_reject(struct srv_call *call)
{
    const char *reason = json_string_value(json_object_get(call->body, "reason"));
    return decide(call, "rejected", reason, NULL, reason);
}
