/*
 * items.c — item receipt (ISO/IEC 17025 7.4): lab staff record the items that arrive for an
 * accepted test request, each under a lab-wide item id (IT-<year>-<number>, numbered per year and
 * never reused), with its condition on arrival (a deviation from what was expected is flagged
 * "not conforming", and the member is asked by the notice), when, by whom and where it is stored.
 * The first receipt moves the request to `items received`. Members read their own items; every
 * read goes through the caller's scope over the item's request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

const struct srv_field items_receive_body[] = {
    {"count", FT_INTEGER, false, 1, 100, NULL}, /* identical items received together (default 1) */
    {"description", FT_STRING, true, 1, 200, NULL},
    {"condition", FT_TEXT, true, 1, 2000, NULL},
    {"conforming", FT_BOOLEAN, true, 0, 0, NULL},
    {"storage", FT_STRING, true, 1, 100, NULL},
    {NULL, 0, false, 0, 0, NULL},
};

#define ITEM_SELECT                                                                                              \
    "SELECT i.id, i.code, i.request_id, r.member_id, i.description, i.condition, i.conforming, i.storage, "      \
    "i.received_at, u.login FROM items i JOIN requests r ON r.id = i.request_id JOIN users u ON u.id = "         \
    "i.received_by "

/* ITEM_SELECT's columns in order (all NOT NULL). */
static const struct db_column item_columns[] = {
    {"id", DB_INTEGER},       {"item_id", DB_TEXT},   {"request_id", DB_INTEGER},  {"member_id", DB_INTEGER},
    {"description", DB_TEXT}, {"condition", DB_TEXT}, {"conforming", DB_BOOLEAN}, {"storage", DB_TEXT},
    {"received_at", DB_TEXT}, {"received_by", DB_TEXT}, {NULL, DB_TEXT},
};

static json_t *item_json(sqlite3_stmt *st) { return db_row_object(st, item_columns); }

int request_visible(struct srv_call *call, int64_t request_id, struct request_brief *out, struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = scope_prepare(call->db, &call->scope,
                           "SELECT r.state, r.member_id, m.name, r.material FROM requests r JOIN members m ON "
                           "m.id = r.member_id WHERE r.id = :id AND " SCOPE_SQL("r.member_id"),
                           &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":id"), request_id);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        out->id = request_id;
        db_text(st, 0, out->state, sizeof out->state);
        out->member_id = sqlite3_column_int64(st, 1);
        db_text(st, 2, out->member_name, sizeof out->member_name);
        db_text(st, 3, out->material, sizeof out->material);
        rc = 1;
    } else {
        rc = step == SQLITE_DONE ? 0 : db_fail(call->db, "reading the request", err);
    }
    sqlite3_finalize(st);
    return rc;
}

int request_of_path(struct srv_call *call, struct request_brief *out)
{
    struct pd_err err;
    pd_err_clear(&err);
    int rc = request_visible(call, call->ids[0], out, &err);
    if (rc < 0)
        call_fail(call, &err);
    else if (rc == 0)
        call_error(call, 404, "not_found", "no such request");
    return rc > 0;
}

int request_in_state(struct srv_call *call, int64_t request_id, const char *const *states, const char *why,
                     struct request_brief *out)
{
    struct pd_err err;
    pd_err_clear(&err);
    int rc = request_visible(call, request_id, out, &err);
    if (rc <= 0) {
        if (rc < 0)
            call_fail(call, &err);
        else
            call_error(call, 404, "not_found", "no such request");
        return 0;
    }
    if (!states)
        return 1;
    for (size_t i = 0; states[i]; i++)
        if (strcmp(out->state, states[i]) == 0)
            return 1;
    call_error(call, 409, "conflict", "request %lld is %s; %s", (long long)request_id, out->state, why);
    return 0;
}

/* Calls `each` for every item of request `request_id` in the caller's scope, by id; the count. */
int items_of_request(struct srv_call *call, int64_t request_id, void (*each)(sqlite3_stmt *st, void *ctx),
                     void *ctx, struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = scope_prepare(call->db, &call->scope,
                           ITEM_SELECT "WHERE i.request_id = :id AND " SCOPE_SQL("r.member_id") " ORDER BY i.id",
                           &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":id"), request_id);
    int n = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        each(st, ctx);
        n++;
    }
    rc = step == SQLITE_DONE ? n : db_fail(call->db, "reading the items", err);
    sqlite3_finalize(st);
    return rc;
}

static void append_item(sqlite3_stmt *st, void *ctx) { json_array_append_new(ctx, item_json(st)); }

int items_list(struct srv_call *call)
{
    struct pd_err err;
    pd_err_clear(&err);
    struct request_brief req;
    if (!request_of_path(call, &req))
        return 0;
    json_t *list = json_array();
    if (items_of_request(call, call->ids[0], append_item, list, &err) < 0) {
        json_decref(list);
        return call_fail(call, &err);
    }
    return call_reply(call, 200, json_pack("{s:o}", "items", list));
}

int items_get(struct srv_call *call)
{
    return db_reply_get(call, ITEM_SELECT "WHERE i.id = :id AND " SCOPE_SQL("r.member_id"), item_json, NULL,
                        "reading an item", "no such item");
}

/* The next item number of `year`, counted in the database so it is never given twice. */
static int next_item_number(struct srv_call *call, int year, int64_t *out, struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = db_prepare(call->db,
                        "INSERT INTO item_numbers(year, last) VALUES (?, 1) "
                        "ON CONFLICT(year) DO UPDATE SET last = last + 1 RETURNING last",
                        &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, year);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        rc = db_fail(call->db, "numbering the item", err);
    }
    sqlite3_finalize(st);
    return rc;
}

static int receive(struct srv_call *call, json_t *codes, struct request_brief *req, struct pd_err *err)
{
    json_t *b = call->body;
    json_t *count_v = json_object_get(b, "count");
    int64_t count = count_v ? json_integer_value(count_v) : 1;
    const char *description = json_string_value(json_object_get(b, "description"));
    const char *condition = json_string_value(json_object_get(b, "condition"));
    bool conforming = json_is_true(json_object_get(b, "conforming"));
    const char *storage = json_string_value(json_object_get(b, "storage"));
    char now[40];
    db_now_iso(now, sizeof now);
    int year = atoi(now);
    for (int64_t k = 0; k < count; k++) {
        int64_t number = 0;
        int rc = next_item_number(call, year, &number, err);
        if (rc < 0)
            return rc;
        char code[40];
        snprintf(code, sizeof code, "IT-%04d-%06lld", year, (long long)number);
        sqlite3_stmt *st;
        if ((rc = db_prepare(call->db,
                             "INSERT INTO items(code, request_id, description, condition, conforming, storage, "
                             "received_at, received_by) VALUES (?,?,?,?,?,?,?,?)",
                             &st, err)) < 0)
            return rc;
        sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, req->id);
        sqlite3_bind_text(st, 3, description, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, condition, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 5, conforming);
        sqlite3_bind_text(st, 6, storage, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 7, now, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 8, call->user.id);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(call->db, "storing the item", err);
        sqlite3_finalize(st);
        if (rc < 0)
            return rc;
        json_array_append_new(codes, json_string(code));
    }
    /* The history and the member's notice name every item received. */
    size_t n = json_array_size(codes);
    char list[2000] = ""; /* 100 ids of ≤ 18 bytes with their commas */
    size_t used = 0;
    for (size_t i = 0; i < n && used < sizeof list - 40; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                 json_string_value(json_array_get(codes, i)));
    char detail[2100];
    snprintf(detail, sizeof detail, "%zu item(s) %s: %s", n, conforming ? "conforming" : "NOT conforming", list);
    char subject[200], text[9000];
    char material[64];
    utf8_cut(material, req->material, sizeof material);
    snprintf(subject, sizeof subject, "Request %lld: %s (%s)", (long long)req->id,
             conforming ? "items received" : "items received not as expected - please reply", material);
    snprintf(text, sizeof text,
             "The laboratory received %zu item(s) for your test request %lld (%s).\n\n"
             "Item ids: %s\nDescription: %s\nCondition on arrival: %s\nStored: %s\n\n%s",
             n, (long long)req->id, req->material, list, description, condition, storage,
             conforming ? "Testing follows as agreed.\n"
                        : "The items are NOT in the condition expected. Please tell the laboratory whether to "
                          "test them as they are, or how to proceed, before testing starts.\n");
    /* The first receipt moves an accepted request on; every receipt is in its history and told. */
    struct request_step step = {.from = "accepted",
                                .to = "items received",
                                .action = "items received",
                                .detail = detail,
                                .subject = subject,
                                .text = text,
                                .notice_always = true};
    int rc = request_advance(call, req, &step, err);
    return rc < 0 ? rc : 0;
}

int items_receive(struct srv_call *call)
{
    struct pd_err err;
    pd_err_clear(&err);
    int rc = db_begin(call->db, &err);
    if (rc < 0)
        return call_fail(call, &err);
    static const char *const receiving[] = {"accepted", "items received", NULL};
    struct request_brief req;
    if (!request_in_state(call, call->ids[0], receiving, "items are received for an accepted request", &req))
        return 0;
    json_t *codes = json_array();
    rc = receive(call, codes, &req, &err);
    if (rc == 0)
        rc = db_commit(call->db, &err);
    if (rc < 0) {
        json_decref(codes);
        return call_fail(call, &err);
    }
    json_decref(codes);
    rc = items_list(call); /* the answer: every item of the request, the new ones last */
    if (call->status == 200)
        call->status = 201;
    return rc;
}
