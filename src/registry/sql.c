/* sql.c — small statement helpers the registry's files share. */
#include <string.h>

#include "registry/registry_internal.h"

int reg_prepare(struct pd_registry *reg, const char *sql, sqlite3_stmt **st, struct pd_err *err)
{
    *st = NULL;
    if (sqlite3_prepare_v2(reg->db, sql, -1, st, NULL) != SQLITE_OK) {
        sqlite3_finalize(*st);
        *st = NULL;
        return reg_sql_error(reg, PD_EDATA, "registry query failed (damaged registry?)", err);
    }
    return 0;
}

void reg_bind_text(sqlite3_stmt *st, int i, const char *s, bool null_empty)
{
    if (!s || (null_empty && !s[0]))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

void reg_column_text(sqlite3_stmt *st, int i, char *buf, size_t size)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    pd_strlcpy(buf, t ? (const char *)t : "", size);
}

int reg_need_transaction(struct pd_registry *reg, const char *what, struct pd_err *err)
{
    if (!reg || !reg->db)
        return pd_err_set(err, PD_EINVAL, NULL, "%s: registry not open", what);
    if (!reg->in_transaction)
        return pd_err_set(err, PD_EINVAL, reg->path, "%s: outside a transaction", what);
    return 0;
}
