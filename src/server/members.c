/*
 * members.c — the members resource: the member companies (tenants) of the joint laboratory. Lab
 * staff see every member; a member contact sees its own company only (through the scope). Only
 * an admin adds members; `polydaq member` does the same on the data folder.
 */
#include <string.h>

#include "server/internal.h"

/* Inserts a member; the caller holds the transaction. */
static int insert_member(struct pd_srvdb *db, const char *name, int64_t *id_out, struct pd_err *err)
{
    if (!name_is_valid(name))
        return pd_err_set(err, PD_EDATA, "name",
                          "a member's name must be 1 to %d bytes without control characters or outer spaces",
                          PD_NAME_MAX);
    sqlite3_stmt *st;
    int rc = db_prepare(db, "INSERT INTO members(name, created_at) VALUES (?, ?)", &st, err);
    if (rc < 0)
        return rc;
    char now[40];
    db_now_iso(now, sizeof now);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, now, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) {
        if ((sqlite3_extended_errcode(db->h) & 0xff) == SQLITE_CONSTRAINT)
            return pd_err_set(err, PD_ESTATE, "name", "a member named '%.200s' exists already", name);
        return db_fail(db, "adding a member", err);
    }
    *id_out = sqlite3_last_insert_rowid(db->h);
    return 0;
}

int pd_member_add(struct pd_srvdb *db, const char *name, int64_t *id_out, struct pd_err *err)
{
    int rc = db_begin(db, err);
    if (rc < 0)
        return rc;
    int64_t id;
    if ((rc = insert_member(db, name, &id, err)) < 0) {
        db_rollback(db);
        return rc;
    }
    if ((rc = db_commit(db, err)) < 0)
        return rc;
    *id_out = id;
    return 0;
}

/* Every member the scope lets the caller see, by id; `only_id` > 0 narrows to one. */
static int each_member(struct pd_srvdb *db, const struct srv_scope *scope, int64_t only_id,
                       void (*each)(const struct pd_member_info *m, void *ctx), void *ctx, struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = scope_prepare(db, scope,
                           "SELECT id, name, created_at FROM members WHERE " SCOPE_SQL("id")
                           " AND (:only = 0 OR id = :only) ORDER BY id",
                           &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":only"), only_id);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct pd_member_info m = {0};
        m.id = sqlite3_column_int64(st, 0);
        db_text(st, 1, m.name, sizeof m.name);
        db_text(st, 2, m.created_at, sizeof m.created_at);
        each(&m, ctx);
    }
    if (step != SQLITE_DONE)
        rc = db_fail(db, "listing members", err);
    sqlite3_finalize(st);
    return rc;
}

int pd_member_list(struct pd_srvdb *db, void (*each)(const struct pd_member_info *m, void *ctx), void *ctx,
                   struct pd_err *err)
{
    const struct srv_scope lab = {SCOPE_LAB, 0}; /* the CLI works on the data folder as the lab */
    return each_member(db, &lab, 0, each, ctx, err);
}

/* ---- HTTP -----------------------------------------------------------------------------------*/
const struct srv_field members_create_body[] = {
    {"name", FT_STRING, true, 1, PD_NAME_MAX, NULL},
    {NULL, 0, false, 0, 0, NULL},
};

static json_t *member_json(const struct pd_member_info *m)
{
    return json_pack("{s:I,s:s,s:s}", "id", (json_int_t)m->id, "name", m->name, "created_at", m->created_at);
}

static void append_member(const struct pd_member_info *m, void *ctx) { json_array_append_new(ctx, member_json(m)); }

int members_list(struct srv_call *call)
{
    json_t *arr = json_array();
    struct pd_err err;
    if (each_member(call->db, &call->scope, 0, append_member, arr, &err) < 0) {
        json_decref(arr);
        return call_fail(call, &err);
    }
    return call_reply(call, 200, json_pack("{s:o}", "members", arr));
}

int members_get(struct srv_call *call)
{
    json_t *arr = json_array();
    struct pd_err err;
    if (each_member(call->db, &call->scope, call->ids[0], append_member, arr, &err) < 0) {
        json_decref(arr);
        return call_fail(call, &err);
    }
    if (json_array_size(arr) == 0) {
        json_decref(arr);
        return call_error(call, 404, "not_found", "no such member");
    }
    json_t *m = json_incref(json_array_get(arr, 0));
    json_decref(arr);
    return call_reply(call, 200, m);
}

int members_create(struct srv_call *call)
{
    struct pd_err err;
    pd_err_clear(&err);
    const char *name = json_string_value(json_object_get(call->body, "name"));
    int64_t id;
    int rc = db_begin(call->db, &err);
    if (rc == 0)
        rc = insert_member(call->db, name, &id, &err);
    if (rc == 0)
        rc = db_commit(call->db, &err);
    if (rc < 0)
        return call_fail(call, &err);
    json_t *arr = json_array();
    if (each_member(call->db, &call->scope, id, append_member, arr, &err) < 0 || json_array_size(arr) != 1) {
        json_decref(arr);
        return call_error(call, 500, "internal", "the new member could not be read back");
    }
    json_t *m = json_incref(json_array_get(arr, 0));
    json_decref(arr);
    return call_reply(call, 201, m);
}
