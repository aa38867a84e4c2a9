/*
 * auth.c — the session resource: login (POST /api/v1/session), logout (DELETE) and who am I
 * (GET /api/v1/me). A failed login says the same for an unknown login, a wrong password and a
 * disabled user, and costs the same time; repeated failures per login and per client address
 * are slowed down (throttle.c).
 */
#include <stdio.h>
#include <string.h>

#include "server/internal.h"
#include "trust/trust.h"

#define FREE_TRIES_LOGIN 5   /* failures per login before the backoff starts */
#define FREE_TRIES_CLIENT 20 /* per client address (several people behind one NAT) */

const struct srv_field auth_login_body[] = {
    {"login", FT_STRING, true, 1, PD_LOGIN_MAX, NULL},
    {"password", FT_STRING, true, 1, PD_PASSWORD_MAX, NULL},
    {NULL, 0, false, 0, 0, NULL},
};

static json_t *me_json(struct srv_call *call, const char *csrf)
{
    struct pd_user_info u;
    struct pd_err err;
    if (user_load(call->db, call->user.id, &u, &err) < 0)
        return NULL;
    json_t *obj = json_object();
    user_to_json(&u, obj);
    json_object_set_new(obj, "csrf_token", json_string(csrf));
    json_object_set_new(obj, "decision_rule", json_string(srv_decision_rule(call->srv)));
    json_object_set_new(obj, "session_idle_s", json_integer(srv_session_idle_s(call->srv)));
    struct pd_secret_key key;
    bool unlocked = keys_session_key(call, &key, &err) == 0;
    sodium_memzero(&key, sizeof key);
    json_object_set_new(obj, "signing_key_unlocked", json_boolean(unlocked));
    return json_pack("{s:o}", "user", obj);
}

int auth_login(struct srv_call *call)
{
    const char *login = json_string_value(json_object_get(call->body, "login"));
    const char *password = json_string_value(json_object_get(call->body, "password"));
    char login_key[16 + PD_LOGIN_MAX], client_key[80];
    snprintf(login_key, sizeof login_key, "login:%s", login);
    snprintf(client_key, sizeof client_key, "client:%s", call->client);
    int64_t wait = throttle_wait_s(call->db, login_key);
    int64_t wait_client = throttle_wait_s(call->db, client_key);
    if (wait_client > wait)
        wait = wait_client;
    if (wait > 0) {
        call->retry_after_s = (int)wait;
        return call_error(call, 429, "too_many_attempts", "too many failed logins; try again in %lld s",
                          (long long)wait);
    }
    sqlite3_stmt *st;
    struct pd_err err;
    pd_err_clear(&err);
    if (db_prepare(call->db, "SELECT id, password_hash, disabled FROM users WHERE login = ?", &st, &err) < 0)
        return call_fail(call, &err);
    sqlite3_bind_text(st, 1, login, -1, SQLITE_TRANSIENT);
    int64_t id = 0;
    bool disabled = true;
    char hash[PW_HASH_BYTES] = "";
    if (sqlite3_step(st) == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        db_text(st, 1, hash, sizeof hash);
        disabled = sqlite3_column_int(st, 2) != 0;
    }
    sqlite3_finalize(st);
    bool ok;
    if (id)
        ok = pw_verify(hash, password) && !disabled;
    else {
        pw_verify_dummy(password);
        ok = false;
    }
    if (db_begin(call->db, &err) < 0)
        return call_fail(call, &err);
    if (!ok) {
        throttle_fail(call->db, login_key, FREE_TRIES_LOGIN);
        throttle_fail(call->db, client_key, FREE_TRIES_CLIENT);
        if (db_commit(call->db, &err) < 0)
            return call_fail(call, &err);
        return call_error(call, 401, "login_failed", "wrong login or password");
    }
    throttle_reset(call->db, login_key);
    char csrf[65];
    if (session_start(call, id, csrf, &err) < 0 || db_commit(call->db, &err) < 0) {
        call->set_cookie[0] = '\0';
        return call_fail(call, &err);
    }
    call->authenticated = true;
    call->user.id = id;
    /* A reviewer's or authorizer's signing key opens with the password just verified, for this
     * session only (keys.c); a login without one still works, it just cannot sign. */
    if (keys_unlock(call, id, password, &err) < 0)
        pd_log(PD_LOG_WARN, "server: login %s: %s", login, err.msg);
    json_t *me = me_json(call, csrf);
    if (!me)
        return call_error(call, 500, "internal", "the user could not be read back");
    return call_reply(call, 201, me);
}

int auth_logout(struct srv_call *call)
{
    struct pd_err err;
    pd_err_clear(&err);
    keys_forget_session(call->session_id);
    if (session_end(call, &err) < 0)
        return call_fail(call, &err);
    return call_reply(call, 200, json_pack("{s:b}", "logged_out", 1));
}

int auth_me(struct srv_call *call)
{
    char csrf[65];
    session_csrf_token(call->session_id, csrf);
    json_t *me = me_json(call, csrf);
    if (!me)
        return call_error(call, 500, "internal", "the user could not be read back");
    return call_reply(call, 200, me);
}
