/*
 * throttle.c — login rate limiting with exponential backoff, per key ("login:NAME" for an
 * account, whether or not it exists, and "client:ADDRESS"). Kept in the database so a restart
 * does not reset it. A key's failures are forgotten 15 minutes after its last one.
 */
#include "server/internal.h"

#include <stdatomic.h>

#define FORGET_AFTER_S 900
#define MAX_WAIT_S 900

/* Starts at 1 so that a connection's zeroed memo never matches. */
static _Atomic uint64_t generation = 1;

uint64_t throttle_generation(void)
{
    return atomic_load(&generation);
}

int64_t throttle_wait_s(struct pd_srvdb *db, const char *key)
{
    sqlite3_stmt *st;
    if (db_prepare_kept(db, "SELECT blocked_until_s FROM login_throttle WHERE key = ?", &st, NULL) < 0)
        return 0;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    int64_t wait = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        int64_t until = sqlite3_column_int64(st, 0);
        int64_t now = db_now_s();
        if (until > now)
            wait = until - now;
    }
    db_release(st);
    return wait;
}

void throttle_fail(struct pd_srvdb *db, const char *key, int free_tries)
{
    atomic_fetch_add(&generation, 1);
    /* One statement: the counter restarts when the last failure is old. From the last free try
     * on, each failure makes the key wait, doubling: 4 s, 8 s, 16 s, ... up to MAX_WAIT_S. */
    static const char sql[] =
        "INSERT INTO login_throttle(key, failures, last_failure_s, blocked_until_s) VALUES (?1, 1, ?2, 0) "
        "ON CONFLICT(key) DO UPDATE SET "
        "  failures = CASE WHEN ?2 - last_failure_s > ?3 THEN 1 ELSE failures + 1 END,"
        "  last_failure_s = ?2";
    sqlite3_stmt *st;
    if (db_prepare(db, sql, &st, NULL) < 0)
        return;
    int64_t now = db_now_s();
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int(st, 3, FORGET_AFTER_S);
    sqlite3_step(st);
    sqlite3_finalize(st);
    if (db_prepare(db, "SELECT failures FROM login_throttle WHERE key = ?", &st, NULL) < 0)
        return;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    int failures = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (failures < free_tries)
        return;
    int shift = failures - free_tries;
    int64_t wait = shift >= 8 ? MAX_WAIT_S : (int64_t)4 << shift;
    if (wait > MAX_WAIT_S)
        wait = MAX_WAIT_S;
    if (db_prepare(db, "UPDATE login_throttle SET blocked_until_s = ? WHERE key = ?", &st, NULL) < 0)
        return;
    sqlite3_bind_int64(st, 1, now + wait);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
    sqlite3_step(st);
    sqlite3_finalize(st);
}

void throttle_reset(struct pd_srvdb *db, const char *key)
{
    atomic_fetch_add(&generation, 1);
    sqlite3_stmt *st;
    if (db_prepare(db, "DELETE FROM login_throttle WHERE key = ?", &st, NULL) < 0)
        return;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_step(st);
    sqlite3_finalize(st);
}
