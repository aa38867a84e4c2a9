/*
 * scope.c — the one place that decides which member companies' rows a caller may see. A scope
 * is made from the session (http.c) and every query over tenant data is prepared through
 * scope_prepare, which refuses SQL that lacks the scope's condition.
 */
#include <stdint.h>
#include <string.h>

#include "server/internal.h"

void scope_for_user(const struct srv_user *user, struct srv_scope *out)
{
    out->kind = user->role == PD_ROLE_MEMBER ? SCOPE_MEMBER : SCOPE_LAB;
    out->member_id = user->role == PD_ROLE_MEMBER ? user->member_id : 0;
}

/* Binds the scope's parameters of a prepared tenant query; PD_EINVAL when it has no scope. */
static int scope_bind(sqlite3_stmt *st, const struct srv_scope *scope, const char *sql, struct pd_err *err)
{
    /* SCOPE_SQL (a member id range) or SCOPE_RUN_SQL (staff, or the member's own): one of them. */
    int first = sqlite3_bind_parameter_index(st, ":scope_first");
    int last = sqlite3_bind_parameter_index(st, ":scope_last");
    int all = sqlite3_bind_parameter_index(st, ":scope_all");
    int member = sqlite3_bind_parameter_index(st, ":scope_member");
    if (!(first && last) && !(all && member))
        return pd_err_set(err, PD_EINVAL, NULL, "a tenant query without its scope: %.80s", sql);
    /* Staff: every member id; a member contact: its own; anonymous callers: an empty range. */
    int64_t lo = 1, hi = 0;
    if (scope->kind == SCOPE_LAB)
        lo = INT64_MIN, hi = INT64_MAX;
    else if (scope->kind == SCOPE_MEMBER)
        lo = hi = scope->member_id;
    if (first)
        sqlite3_bind_int64(st, first, lo);
    if (last)
        sqlite3_bind_int64(st, last, hi);
    /* :scope_all tells staff (1) from everyone else; :scope_member is the member's id, or -1,
     * which no member has, for staff and anonymous callers. */
    if (all)
        sqlite3_bind_int(st, all, scope->kind == SCOPE_LAB);
    if (member)
        sqlite3_bind_int64(st, member, scope->kind == SCOPE_MEMBER ? scope->member_id : -1);
    return 0;
}

int scope_prepare(struct pd_srvdb *db, const struct srv_scope *scope, const char *sql, sqlite3_stmt **out,
                  struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = db_prepare(db, sql, &st, err);
    if (rc < 0)
        return rc;
    if ((rc = scope_bind(st, scope, sql, err)) < 0) {
        sqlite3_finalize(st);
        return rc;
    }
    *out = st;
    return 0;
}

int scope_prepare_kept(struct pd_srvdb *db, const struct srv_scope *scope, const char *sql, sqlite3_stmt **out,
                       struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = db_prepare_kept(db, sql, &st, err);
    if (rc < 0)
        return rc;
    if ((rc = scope_bind(st, scope, sql, err)) < 0) {
        db_release(st);
        return rc;
    }
    *out = st;
    return 0;
}
