/*
 * users.c — the users resource: logins of member contacts and lab staff, their roles, disabling
 * and the admin's password reset; the same operations for `polydaq user` on the data folder.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "server/internal.h"

static const char *const role_names[PD_ROLE_COUNT] = {"member", "technician", "reviewer", "authorizer", "admin"};

const char *pd_role_name(enum pd_role role)
{
    return (unsigned)role < PD_ROLE_COUNT ? role_names[role] : "unknown";
}

bool pd_role_parse(const char *name, enum pd_role *out)
{
    for (int i = 0; i < PD_ROLE_COUNT; i++) {
        if (strcmp(name, role_names[i]) == 0) {
            *out = (enum pd_role)i;
            return true;
        }
    }
    return false;
}

bool login_is_valid(const char *login)
{
    size_t n = strlen(login);
    if (n == 0 || n > PD_LOGIN_MAX || !(islower((unsigned char)login[0]) || isdigit((unsigned char)login[0])))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)login[i];
        if (!(islower(c) || isdigit(c) || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool name_is_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > PD_NAME_MAX || name[0] == ' ' || name[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return false;
    return true;
}

#define USER_COLUMNS                                                                                         \
    "u.id, u.login, u.name, u.role, COALESCE(u.member_id, 0), COALESCE(m.name, ''), u.disabled, u.created_at " \
    "FROM users u LEFT JOIN members m ON m.id = u.member_id"

static void read_user(sqlite3_stmt *st, struct pd_user_info *u)
{
    memset(u, 0, sizeof *u);
    u->id = sqlite3_column_int64(st, 0);
    db_text(st, 1, u->login, sizeof u->login);
    db_text(st, 2, u->name, sizeof u->name);
    char role[32];
    db_text(st, 3, role, sizeof role);
    if (!pd_role_parse(role, &u->role))
        u->role = PD_ROLE_MEMBER; /* the CHECK constraint makes this unreachable */
    u->member_id = sqlite3_column_int64(st, 4);
    db_text(st, 5, u->member_name, sizeof u->member_name);
    u->disabled = sqlite3_column_int(st, 6) != 0;
    db_text(st, 7, u->created_at, sizeof u->created_at);
}

void user_to_json(const struct pd_user_info *u, json_t *obj)
{
    json_object_set_new(obj, "id", json_integer(u->id));
    json_object_set_new(obj, "login", json_string(u->login));
    json_object_set_new(obj, "name", json_string(u->name));
    json_object_set_new(obj, "role", json_string(pd_role_name(u->role)));
    json_object_set_new(obj, "member_id", u->member_id ? json_integer(u->member_id) : json_null());
    json_object_set_new(obj, "member_name", u->member_id ? json_string(u->member_name) : json_null());
    json_object_set_new(obj, "disabled", json_boolean(u->disabled));
    json_object_set_new(obj, "created_at", json_string(u->created_at));
}

int user_load(struct pd_srvdb *db, int64_t id, struct pd_user_info *out, struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = db_prepare(db, "SELECT " USER_COLUMNS " WHERE u.id = ?", &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        read_user(st, out);
    else
        rc = step == SQLITE_DONE ? pd_err_set(err, PD_ERANGE, NULL, "no user %lld", (long long)id)
                                 : db_fail(db, "reading a user", err);
    sqlite3_finalize(st);
    return rc;
}

/* Inserts the user; the caller holds the transaction. member_id 0 for staff. */
static int insert_user(struct pd_srvdb *db, const char *login, const char *name, enum pd_role role, int64_t member_id,
                       const char *password, int64_t *id_out, struct pd_err *err)
{
    if (!login_is_valid(login))
        return pd_err_set(err, PD_EDATA, "login",
                          "'%.64s' is not a valid login (1 to %d of a-z 0-9 . _ -, starting with a letter or digit)",
                          login, PD_LOGIN_MAX);
    if (!name_is_valid(name))
        return pd_err_set(err, PD_EDATA, "name", "a name must be 1 to %d bytes without control characters",
                          PD_NAME_MAX);
    if ((role == PD_ROLE_MEMBER) != (member_id != 0))
        return pd_err_set(err, PD_EDATA, "member",
                          role == PD_ROLE_MEMBER ? "a member contact needs its member company"
                                                 : "lab staff belong to no member company");
    char hash[PW_HASH_BYTES];
    int rc = pw_hash(password, hash, err);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st;
    if ((rc = db_prepare(db,
                         "INSERT INTO users(login, name, role, member_id, password_hash, created_at) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         &st, err)) < 0)
        return rc;
    char now[40];
    db_now_iso(now, sizeof now);
    sqlite3_bind_text(st, 1, login, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, pd_role_name(role), -1, SQLITE_STATIC);
    if (member_id)
        sqlite3_bind_int64(st, 4, member_id);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_text(st, 5, hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, now, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    sodium_memzero(hash, sizeof hash);
    if (step != SQLITE_DONE) {
        if ((sqlite3_extended_errcode(db->h) & 0xff) == SQLITE_CONSTRAINT)
            return pd_err_set(err, PD_ESTATE, "login", "the login '%s' is taken", login);
        return db_fail(db, "adding a user", err);
    }
    *id_out = sqlite3_last_insert_rowid(db->h);
    return 0;
}

/* Ends every session of a user (disable, password reset); the caller holds the transaction. */
static int end_sessions(struct pd_srvdb *db, int64_t user_id, struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = db_prepare(db, "DELETE FROM sessions WHERE user_id = ?", &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, user_id);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, "ending sessions", err);
    sqlite3_finalize(st);
    return rc;
}

static int member_id_by_name(struct pd_srvdb *db, const char *name, int64_t *out, struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = db_prepare(db, "SELECT id FROM members WHERE name = ?", &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else
        rc = pd_err_set(err, PD_EDATA, "--member", "no member company named '%.200s' (see 'polydaq member list')",
                        name);
    sqlite3_finalize(st);
    return rc;
}

/* Stores the address notices go to (outbox.c); the caller holds the transaction. */
static int set_email(struct pd_srvdb *db, int64_t id, const char *email, struct pd_err *err)
{
    if (!email_is_valid(email))
        return pd_err_set(err, PD_EDATA, "email", "'%.254s' is not an e-mail address", email);
    sqlite3_stmt *st;
    int rc = db_prepare(db, "UPDATE users SET email = ? WHERE id = ?", &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, email, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, id);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, "storing the e-mail address", err);
    sqlite3_finalize(st);
    return rc;
}

int pd_user_add(struct pd_srvdb *db, const char *login, const char *name, enum pd_role role, const char *member,
                const char *password, int64_t *id_out, struct pd_err *err)
{
    return pd_user_add_with_email(db, login, name, role, member, NULL, password, id_out, err);
}

int pd_user_add_with_email(struct pd_srvdb *db, const char *login, const char *name, enum pd_role role,
                           const char *member, const char *email, const char *password, int64_t *id_out,
                           struct pd_err *err)
{
    int rc = db_begin(db, err);
    if (rc < 0)
        return rc;
    int64_t member_id = 0, id = 0;
    if (member && (rc = member_id_by_name(db, member, &member_id, err)) < 0) {
        db_rollback(db);
        return rc;
    }
    if ((rc = insert_user(db, login, name, role, member_id, password, &id, err)) < 0 ||
        (email && (rc = set_email(db, id, email, err)) < 0)) {
        db_rollback(db);
        return rc;
    }
    if ((rc = db_commit(db, err)) < 0)
        return rc;
    *id_out = id;
    return 0;
}

int pd_user_list(struct pd_srvdb *db, void (*each)(const struct pd_user_info *u, void *ctx), void *ctx,
                 struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = db_prepare(db, "SELECT " USER_COLUMNS " ORDER BY u.id", &st, err);
    if (rc < 0)
        return rc;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct pd_user_info u;
        read_user(st, &u);
        each(&u, ctx);
    }
    if (step != SQLITE_DONE)
        rc = db_fail(db, "listing users", err);
    sqlite3_finalize(st);
    return rc;
}

/* Disables user `id` and ends its sessions; the caller holds the transaction. */
static int disable_user(struct pd_srvdb *db, int64_t id, struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = db_prepare(db, "UPDATE users SET disabled = 1 WHERE id = ?", &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, "disabling a user", err);
    sqlite3_finalize(st);
    return rc < 0 ? rc : end_sessions(db, id, err);
}

int pd_user_disable(struct pd_srvdb *db, const char *login, struct pd_err *err)
{
    int rc = db_begin(db, err);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st;
    if ((rc = db_prepare(db, "SELECT id FROM users WHERE login = ?", &st, err)) < 0) {
        db_rollback(db);
        return rc;
    }
    sqlite3_bind_text(st, 1, login, -1, SQLITE_TRANSIENT);
    int64_t id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (id == 0) {
        db_rollback(db);
        return pd_err_set(err, PD_EDATA, "login", "no user '%.64s'", login);
    }
    if ((rc = disable_user(db, id, err)) < 0) {
        db_rollback(db);
        return rc;
    }
    return db_commit(db, err);
}

/* ---- HTTP: admin only (routes.c) ------------------------------------------------------------*/
const struct srv_field users_create_body[] = {
    {"login", FT_STRING, true, 1, PD_LOGIN_MAX, NULL},
    {"name", FT_STRING, true, 1, PD_NAME_MAX, NULL},
    {"role", FT_STRING, true, 1, 16, NULL},
    {"member_id", FT_INTEGER, false, 1, 999999999999999L, NULL},
    {"password", FT_STRING, true, PD_PASSWORD_MIN, PD_PASSWORD_MAX, NULL},
    {"email", FT_STRING, false, 0, 254, NULL}, /* where a member contact gets notices (outbox.c) */
    {NULL, 0, false, 0, 0, NULL},
};
const struct srv_field users_password_body[] = {
    {"password", FT_STRING, true, PD_PASSWORD_MIN, PD_PASSWORD_MAX, NULL},
    {NULL, 0, false, 0, 0, NULL},
};

struct list_ctx {
    json_t *array;
};
static void add_user_json(const struct pd_user_info *u, void *ctx)
{
    json_t *obj = json_object();
    user_to_json(u, obj);
    json_array_append_new(((struct list_ctx *)ctx)->array, obj);
}

int users_list(struct srv_call *call)
{
    struct list_ctx lc = {json_array()};
    struct pd_err err;
    if (pd_user_list(call->db, add_user_json, &lc, &err) < 0) {
        json_decref(lc.array);
        return call_fail(call, &err);
    }
    return call_reply(call, 200, json_pack("{s:o}", "users", lc.array));
}

/* A reviewer or authorizer gets a new signing key sealed under the password the admin just set,
 * when the lab has a registry (otherwise later: `polydaq user key`). No key is ever recovered. */
static void signing_key_for(struct srv_call *call, int64_t user_id, const char *password)
{
    struct pd_err err;
    pd_err_clear(&err);
    char key_id[17];
    if (keys_create_for(call->db, srv_data_dir(call->srv), user_id, password, key_id, &err) < 0)
        pd_log(PD_LOG_WARN, "server: user %lld has no signing key: %s", (long long)user_id, err.msg);
}

int users_create(struct srv_call *call)
{
    json_t *b = call->body;
    enum pd_role role;
    if (!pd_role_parse(json_string_value(json_object_get(b, "role")), &role))
        return call_error(call, 400, "invalid", "field 'role' must be one of member, technician, reviewer, "
                                                "authorizer, admin");
    json_t *m = json_object_get(b, "member_id");
    int64_t member_id = json_is_integer(m) ? json_integer_value(m) : 0;
    const char *email = json_string_value(json_object_get(b, "email"));
    if (email && email[0] && !email_is_valid(email))
        return call_error(call, 400, "invalid", "field 'email': not an e-mail address");
    struct pd_err err;
    pd_err_clear(&err);
    int rc = db_begin(call->db, &err);
    if (rc < 0)
        return call_fail(call, &err);
    if (member_id) {
        sqlite3_stmt *st;
        if ((rc = db_prepare(call->db, "SELECT 1 FROM members WHERE id = ?", &st, &err)) < 0)
            return call_fail(call, &err);
        sqlite3_bind_int64(st, 1, member_id);
        bool found = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        if (!found)
            return call_error(call, 400, "invalid", "field 'member_id': no member %lld", (long long)member_id);
    }
    int64_t id;
    rc = insert_user(call->db, json_string_value(json_object_get(b, "login")),
                     json_string_value(json_object_get(b, "name")), role, member_id,
                     json_string_value(json_object_get(b, "password")), &id, &err);
    if (rc == 0 && email && email[0])
        rc = set_email(call->db, id, email, &err);
    if (rc == 0)
        rc = db_commit(call->db, &err);
    if (rc < 0)
        return call_fail(call, &err);
    if (role == PD_ROLE_REVIEWER || role == PD_ROLE_AUTHORIZER)
        signing_key_for(call, id, json_string_value(json_object_get(b, "password")));
    struct pd_user_info u;
    if (user_load(call->db, id, &u, &err) < 0)
        return call_fail(call, &err);
    json_t *obj = json_object();
    user_to_json(&u, obj);
    return call_reply(call, 201, obj);
}

/* An admin's change to user {id}: `password` NULL disables, otherwise resets the password. */
static int change_user(struct srv_call *call, const char *password)
{
    struct pd_err err;
    pd_err_clear(&err);
    struct pd_user_info u;
    int rc = user_load(call->db, call->ids[0], &u, &err);
    if (rc == PD_ERANGE)
        return call_error(call, 404, "not_found", "no such user");
    if (rc < 0)
        return call_fail(call, &err);
    if (!password && u.id == call->user.id)
        return call_error(call, 409, "conflict", "an admin cannot disable their own login");
    char hash[PW_HASH_BYTES];
    if (password && (rc = pw_hash(password, hash, &err)) < 0)
        return call_fail(call, &err);
    if ((rc = db_begin(call->db, &err)) < 0)
        return call_fail(call, &err);
    if (password) {
        sqlite3_stmt *st;
        if ((rc = db_prepare(call->db, "UPDATE users SET password_hash = ? WHERE id = ?", &st, &err)) < 0)
            return call_fail(call, &err);
        sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, u.id);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(call->db, "setting a password", &err);
        sqlite3_finalize(st);
        sodium_memzero(hash, sizeof hash);
        /* A reset password ends the sessions opened with the old one. */
        if (rc == 0)
            rc = end_sessions(call->db, u.id, &err);
    } else {
        rc = disable_user(call->db, u.id, &err);
    }
    if (rc == 0)
        rc = db_commit(call->db, &err);
    if (rc < 0)
        return call_fail(call, &err);
    /* The unlocked key goes with the sessions; a reset password cannot open the old sealed key,
     * so the person gets a new one (the old stays in the registry for past approvals). */
    keys_forget_user(u.id);
    if (password && (u.role == PD_ROLE_REVIEWER || u.role == PD_ROLE_AUTHORIZER))
        signing_key_for(call, u.id, password);
    if ((rc = user_load(call->db, u.id, &u, &err)) < 0)
        return call_fail(call, &err);
    json_t *obj = json_object();
    user_to_json(&u, obj);
    return call_reply(call, 200, obj);
}

int users_disable(struct srv_call *call) { return change_user(call, NULL); }
int users_password(struct srv_call *call)
{
    return change_user(call, json_string_value(json_object_get(call->body, "password")));
}
