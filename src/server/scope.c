/*
 * scope.c — the one place that decides which member companies' rows a caller may see. A scope
 * is made from the session (http.c) and every query over tenant data is prepared through
 * scope_prepare, which refuses SQL that lacks the scope's condition.
 */
#include <string.h>

#include "server/internal.h"

void scope_for_user(const struct srv_user *user, struct srv_scope *out)
{
    out->kind = user->role == PD_ROLE_MEMBER ? SCOPE_MEMBER : SCOPE_LAB;
    out->member_id = user->role == PD_ROLE_MEMBER ? user->member_id : 0;
}

int scope_prepare(struct pd_srvdb *db, const struct srv_scope *scope, const char *sql, sqlite3_stmt **out,
                  struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = db_prepare(db, sql, &st, err);
    if (rc < 0)
        return rc;
    int all = sqlite3_bind_parameter_index(st, ":scope_all");
    int member = sqlite3_bind_parameter_index(st, ":scope_member");
    if (all == 0 || member == 0) {
        sqlite3_finalize(st);
        return pd_err_set(err, PD_EINVAL, NULL, "a tenant query without its scope: %.80s", sql);
    }
    /* Anonymous callers match no member (ids start at 1); staff match every row. */
    sqlite3_bind_int(st, all, scope->kind == SCOPE_LAB);
    sqlite3_bind_int64(st, member, scope->kind == SCOPE_MEMBER ? scope->member_id : -1);
    *out = st;
    return 0;
}
