/* registry_internal.h — what the registry's files share: SQL error reporting and statement helpers. */
#ifndef PD_REGISTRY_INTERNAL_H
#define PD_REGISTRY_INTERNAL_H

#include <sqlite3.h>

#include "registry/registry.h"

/* Sets err from the connection's last error ("what: sqlite's message"); a full disk is said as
 * such. `code` is the status for anything not classified. Returns the status. */
int reg_sql_error(struct pd_registry *reg, int code, const char *what, struct pd_err *err);
/* Prepares sql; PD_EIO/PD_EDATA with the message on failure. */
int reg_prepare(struct pd_registry *reg, const char *sql, sqlite3_stmt **st, struct pd_err *err);
/* Binds text (NULL or "" → SQL NULL when null_empty). */
void reg_bind_text(sqlite3_stmt *st, int i, const char *s, bool null_empty);
/* Copies column i (NULL → "") into buf. */
void reg_column_text(sqlite3_stmt *st, int i, char *buf, size_t size);
/* Fails unless inside a transaction (state changes of the certificate life cycle). */
int reg_need_transaction(struct pd_registry *reg, const char *what, struct pd_err *err);

#endif
