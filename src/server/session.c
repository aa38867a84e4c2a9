/*
 * session.c — login sessions and their CSRF tokens. The cookie carries a random 256-bit id; the
 * database keeps only its SHA-256, so a copy of the database opens no session. A session ends
 * when unused for the idle time, at the absolute time after login, at logout, or when its user
 * is disabled. The CSRF token is an HMAC of the raw id (synchronizer token without storage):
 * only a page that was given it by /api/v1/session or /api/v1/me can send it back.
 */
#include <stdio.h>
#include <string.h>

#include "server/internal.h"

void session_id_hash(const unsigned char id[32], char hex[65])
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, id, 32);
    sodium_bin2hex(hex, 65, digest, sizeof digest);
}

void session_csrf_token(const unsigned char session_id[32], char hex[65])
{
    static const char label[] = "polydaq csrf token v1";
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, session_id, 32);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)label, sizeof label - 1);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(hex, 65, mac, sizeof mac);
}

bool session_csrf_ok(const struct srv_call *call, const char *header_value)
{
    if (!call->authenticated || !header_value || strlen(header_value) != 64)
        return false;
    char want[65];
    session_csrf_token(call->session_id, want);
    return sodium_memcmp(want, header_value, 64) == 0;
}

static void set_cookie(struct srv_call *call, const char *value, int max_age)
{
    snprintf(call->set_cookie, sizeof call->set_cookie, "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s",
             SESSION_COOKIE, value, max_age, srv_tls(call->srv) ? "; Secure" : "");
}

void session_clear_cookie(struct srv_call *call) { set_cookie(call, "", 0); }

int session_start(struct srv_call *call, int64_t user_id, char csrf_hex[65], struct pd_err *err)
{
    unsigned char id[32];
    randombytes_buf(id, sizeof id);
    char hash[65], id_hex[65];
    session_id_hash(id, hash);
    sodium_bin2hex(id_hex, sizeof id_hex, id, sizeof id);
    sqlite3_stmt *st;
    int rc = db_prepare(call->db,
                        "INSERT INTO sessions(id_hash, user_id, created_s, last_seen_s, client) VALUES (?, ?, ?, ?, ?)",
                        &st, err);
    if (rc < 0)
        return rc;
    int64_t now = db_now_s();
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, user_id);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_text(st, 5, call->client, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(call->db, "starting a session", err);
    sqlite3_finalize(st);
    if (rc < 0)
        return rc;
    set_cookie(call, id_hex, srv_session_absolute_s(call->srv));
    session_csrf_token(id, csrf_hex);
    memcpy(call->session_id, id, sizeof id);
    sodium_memzero(id, sizeof id);
    return 0;
}

static void delete_session(struct pd_srvdb *db, const char *hash)
{
    sqlite3_stmt *st;
    if (db_prepare(db, "DELETE FROM sessions WHERE id_hash = ?", &st, NULL) < 0)
        return;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
    sqlite3_step(st);
    sqlite3_finalize(st);
}

int session_resolve(struct srv_call *call, const char *cookie, struct pd_err *err)
{
    unsigned char id[32];
    size_t n = 0;
    if (!cookie || strlen(cookie) != 64 ||
        sodium_hex2bin(id, sizeof id, cookie, 64, NULL, &n, NULL) != 0 || n != sizeof id)
        return 0; /* not a session id of ours: anonymous */
    char hash[65];
    session_id_hash(id, hash);
    sqlite3_stmt *st;
    int rc = db_prepare_kept(call->db,
                             "SELECT s.created_s, s.last_seen_s, u.id, u.login, u.name, u.role, u.member_id, "
                             "u.disabled FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?",
                             &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    if (step != SQLITE_ROW) {
        rc = step == SQLITE_DONE ? 0 : db_fail(call->db, "reading a session", err);
        db_release(st);
        return rc;
    }
    int64_t now = db_now_s(), created = sqlite3_column_int64(st, 0), last_seen = sqlite3_column_int64(st, 1);
    int idle = srv_session_idle_s(call->srv);
    bool expired = now - last_seen > idle || now - created > srv_session_absolute_s(call->srv) ||
                   sqlite3_column_int(st, 7) != 0;
    struct srv_user user = {0};
    user.id = sqlite3_column_int64(st, 2);
    db_text(st, 3, user.login, sizeof user.login);
    db_text(st, 4, user.name, sizeof user.name);
    char role[32];
    db_text(st, 5, role, sizeof role);
    bool role_ok = pd_role_parse(role, &user.role);
    user.member_id = sqlite3_column_int64(st, 6);
    db_release(st);
    if (expired || !role_ok) {
        delete_session(call->db, hash);
        return 0;
    }
    /* last_seen is written at most every idle/30 s (a minute for the default half hour), so a
     * busy page does not turn every read into a disk write. */
    int64_t step_s = idle / 30 < 60 ? idle / 30 : 60;
    if (now - last_seen >= step_s) {
        if (db_prepare(call->db, "UPDATE sessions SET last_seen_s = ? WHERE id_hash = ?", &st, NULL) == 0) {
            sqlite3_bind_int64(st, 1, now);
            sqlite3_bind_text(st, 2, hash, -1, SQLITE_TRANSIENT);
            sqlite3_step(st);
            sqlite3_finalize(st);
        }
    }
    call->authenticated = true;
    call->user = user;
    memcpy(call->session_id, id, sizeof id);
    scope_for_user(&user, &call->scope);
    return 0;
}

int session_end(struct srv_call *call, struct pd_err *err)
{
    char hash[65];
    session_id_hash(call->session_id, hash);
    sqlite3_stmt *st;
    int rc = db_prepare(call->db, "DELETE FROM sessions WHERE id_hash = ?", &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(call->db, "ending a session", err);
    sqlite3_finalize(st);
    session_clear_cookie(call);
    return rc;
}
