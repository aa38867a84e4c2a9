/* server_storage_test.c — the lab server's storage and checks below HTTP: the versioned schema,
 * the scope that decides which member's rows a query sees (and refuses a tenant query without
 * it), member and user accounts (nothing stored on bad input), login throttling and the body
 * schema checker. One Argon2id hash only: the rest stays fast under valgrind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/srv_db.h"
#include "server/internal.h"

static void test_schema_versioned(void **state)
{
    (void)state;
    struct pd_srvdb *db = open_db("schema");
    assert_int_equal(count(db, "PRAGMA user_version"), 4);
    assert_int_equal(count(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"), 18);
    int64_t id;
    assert_int_equal(pd_member_add(db, "Acme", &id, NULL), 0);
    pd_srvdb_close(db);
    db = open_db("schema"); /* reopening migrates nothing and keeps the data */
    assert_int_equal(count(db, "SELECT count(*) FROM members"), 1);
    exec_ok(db, "PRAGMA user_version = 7");
    pd_srvdb_close(db);
    char dir[256];
    snprintf(dir, sizeof dir, "%s/schema", tmp_dir);
    struct pd_err err;
    pd_err_clear(&err);
    db = NULL;
    assert_int_equal(db_connect(dir, &db, &err), PD_ESTATE);
    assert_null(db);
    assert_non_null(strstr(err.msg, "schema version 7 is newer"));
}

/* Rows of members 1 and 2 in the requests table, and what each scope sees of them. */
static void test_scope(void **state)
{
    (void)state;
    struct pd_srvdb *db = open_db("scope");
    int64_t a, b;
    assert_int_equal(pd_member_add(db, "A", &a, NULL), 0);
    assert_int_equal(pd_member_add(db, "B", &b, NULL), 0);
    exec_ok(db, "INSERT INTO users(id, login, name, role, member_id, password_hash, created_at) "
                 "VALUES (1, 'u', 'U', 'member', 1, 'x', 'now')");
    for (int i = 0; i < 3; i++) /* 2 rows of A, 1 of B */
        exec_ok(db, i < 2 ? "INSERT INTO requests(member_id, submitted_by, material, specification, methods, "
                             "specimens, conditioning, due_date, customer_reference, notes, decision_rule, state, "
                             "submitted_at) VALUES (1, 1, 'm', '', '[]', 1, '', '2099-01-01', '', '', 'r', "
                             "'submitted', 'now')"
                           : "INSERT INTO requests(member_id, submitted_by, material, specification, methods, "
                             "specimens, conditioning, due_date, customer_reference, notes, decision_rule, state, "
                             "submitted_at) VALUES (2, 1, 'm', '', '[]', 1, '', '2099-01-01', '', '', 'r', "
                             "'submitted', 'now')");
    const struct {
        struct srv_scope scope;
        int rows;
    } cases[] = {{{SCOPE_LAB, 0}, 3}, {{SCOPE_MEMBER, 1}, 2}, {{SCOPE_MEMBER, 2}, 1},
                 {{SCOPE_MEMBER, 3}, 0}, {{SCOPE_NOTHING, 0}, 0}, {{SCOPE_NOTHING, -1}, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sqlite3_stmt *st;
        assert_int_equal(scope_prepare(db, &cases[i].scope,
                                       "SELECT count(*) FROM requests r WHERE " SCOPE_SQL("r.member_id"), &st, NULL),
                         0);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), cases[i].rows);
        sqlite3_finalize(st);
    }
    /* :scope_all, besides the scope's condition, tells staff (1) from everyone else (0). */
    for (int kind = SCOPE_NOTHING; kind <= SCOPE_LAB; kind++) {
        const struct srv_scope sc = {(enum srv_scope_kind)kind, 1};
        sqlite3_stmt *st;
        assert_int_equal(scope_prepare(db, &sc, "SELECT :scope_all, count(*) FROM requests r WHERE "
                                               SCOPE_SQL("r.member_id"), &st, NULL),
                         0);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), kind == SCOPE_LAB);
        sqlite3_finalize(st);
    }
    /* A tenant query without the scope's condition is refused, not run. */
    sqlite3_stmt *st = NULL;
    struct pd_err err;
    pd_err_clear(&err);
    const struct srv_scope member = {SCOPE_MEMBER, 1};
    assert_int_equal(scope_prepare(db, &member, "SELECT count(*) FROM requests", &st, &err), PD_EINVAL);
    assert_null(st);
    assert_non_null(strstr(err.msg, "without its scope"));
    assert_int_equal(scope_prepare(db, &member, "SELECT count(*) FROM requests WHERE member_id = :scope_first", &st,
                                   &err),
                     PD_EINVAL);
    /* The scope's condition is one an index serves: a member's list searches requests_member, not
     * the whole table (it did with "(:all = 1 OR member_id = :member)"; docs/BENCHMARKS.md). */
    assert_int_equal(scope_prepare(db, &member,
                                   "EXPLAIN QUERY PLAN SELECT r.id, r.material FROM requests r JOIN members m "
                                   "ON m.id = r.member_id WHERE " SCOPE_SQL("r.member_id") " ORDER BY r.id DESC",
                                   &st, &err),
                     0);
    char plan[1024] = "";
    while (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *detail = sqlite3_column_text(st, 3);
        strncat(plan, detail ? (const char *)detail : "", sizeof plan - strlen(plan) - 2);
        strcat(plan, ";");
    }
    sqlite3_finalize(st);
    assert_non_null(strstr(plan, "SEARCH r USING INDEX requests_member"));
    assert_null(strstr(plan, "SCAN r"));
    /* SCOPE_CERT_SQL: staff see every certificate, a member its company's issued ones, anonymous
     * callers none; the member's range is served by the requests' index. */
    exec_sql(db, "INSERT INTO certificates(number, request_id, specification, status, drafted_by, drafted_at) "
                 "VALUES (1, 1, 's', 'draft', 1, 'now'), (2, 2, 's', 'issued', 1, 'now'), (3, 3, 's', 'withdrawn', 1, "
                 "'now')");
    const struct {
        struct srv_scope scope;
        int rows;
    } certs[] = {{{SCOPE_LAB, 0}, 3}, {{SCOPE_MEMBER, 1}, 1}, {{SCOPE_MEMBER, 2}, 1}, {{SCOPE_NOTHING, 0}, 0}};
    for (size_t i = 0; i < sizeof certs / sizeof certs[0]; i++) {
        assert_int_equal(scope_prepare(db, &certs[i].scope,
                                       "SELECT count(*) FROM certificates c JOIN requests q ON q.id = c.request_id "
                                       "WHERE " SCOPE_CERT_SQL("q.member_id", "c.status"),
                                       &st, NULL),
                         0);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), certs[i].rows);
        sqlite3_finalize(st);
    }
    assert_int_equal(scope_prepare(db, &member,
                                   "EXPLAIN QUERY PLAN SELECT c.number, q.material FROM certificates c JOIN requests q "
                                   "ON q.id = c.request_id WHERE " SCOPE_CERT_SQL("q.member_id", "c.status"),
                                   &st, &err),
                     0);
    plan[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *detail = sqlite3_column_text(st, 3);
        strncat(plan, detail ? (const char *)detail : "", sizeof plan - strlen(plan) - 2);
        strcat(plan, ";");
    }
    sqlite3_finalize(st);
    assert_non_null(strstr(plan, "SEARCH q USING INDEX requests_member"));
    /* scope_for_user: staff see all, a member contact its company. */
    struct srv_user tech = {.id = 5, .role = PD_ROLE_TECHNICIAN, .member_id = 0};
    struct srv_user contact = {.id = 6, .role = PD_ROLE_MEMBER, .member_id = 2};
    struct srv_scope s;
    scope_for_user(&tech, &s);
    assert_int_equal(s.kind, SCOPE_LAB);
    scope_for_user(&contact, &s);
    assert_int_equal(s.kind, SCOPE_MEMBER);
    assert_int_equal(s.member_id, 2);
    pd_srvdb_close(db);
}

static json_t *row_json(sqlite3_stmt *st)
{
    return json_pack("{s:I,s:o,s:o}", "id", (json_int_t)sqlite3_column_int64(st, 0), "text", db_json_text(st, 1),
                     "parsed", db_json_parsed(st, 1));
}

/* The readers the resources share (db.c): NULL columns, scoped get and list, a history, errors. */
static void test_json_readers(void **state)
{
    (void)state;
    struct pd_srvdb *db = open_db("readers");
    assert_int_equal(exec_sql(db,
                                  "CREATE TABLE t (id INTEGER PRIMARY KEY, member_id INTEGER, v TEXT);"
                                  "INSERT INTO t VALUES (1, 1, NULL), (2, 1, '[1,2]'), (3, 2, 'not json');"
                                  "CREATE TABLE t_events (t_id INTEGER, at TEXT, who TEXT, action TEXT, detail TEXT);"
                                  "INSERT INTO t_events VALUES (2, 'now', 'ann', 'made', ''), (3, 'x', 'y', 'z', 'w'),"
                                  " (2, 'later', 'bob', 'changed', NULL);"),
                     SQLITE_OK);
    const char *get = "SELECT id, v FROM t WHERE id = :id AND " SCOPE_SQL("member_id");
    const struct srv_scope lab = {SCOPE_LAB, 0}, one = {SCOPE_MEMBER, 1}, two = {SCOPE_MEMBER, 2};
    struct pd_err err;
    pd_err_clear(&err);
    json_t *o = NULL;
    assert_int_equal(db_scoped_get(db, &one, get, 1, row_json, NULL, "reading", &o, &err), 1);
    assert_true(json_is_null(json_object_get(o, "text")) && json_is_null(json_object_get(o, "parsed")));
    json_decref(o);
    o = NULL;
    assert_int_equal(db_scoped_get(db, &one, get, 2, row_json, NULL, "reading", &o, &err), 1);
    assert_string_equal(json_string_value(json_object_get(o, "text")), "[1,2]");
    assert_int_equal(json_array_size(json_object_get(o, "parsed")), 2);
    json_decref(o);
    o = NULL;
    assert_int_equal(db_scoped_get(db, &one, get, 3, row_json, NULL, "reading", &o, &err), 0); /* another member's */
    assert_null(o);
    assert_int_equal(db_scoped_get(db, &two, get, 3, row_json, NULL, "reading", &o, &err), 1);
    assert_true(json_is_null(json_object_get(o, "parsed"))); /* not JSON: null, not an error */
    json_decref(o);
    /* Unscoped SQL is refused by both. */
    o = NULL;
    assert_int_equal(db_scoped_get(db, &lab, "SELECT id, v FROM t WHERE id = :id", 1, row_json, NULL, "reading", &o, &err),
                     PD_EINVAL);
    assert_null(o);
    assert_null(db_scoped_list(db, &lab, "SELECT id, v FROM t", row_json, "listing", &err));
    const char *list = "SELECT id, v FROM t WHERE " SCOPE_SQL("member_id") " ORDER BY id";
    json_t *rows = db_scoped_list(db, &lab, list, row_json, "listing", &err);
    assert_int_equal(json_array_size(rows), 3);
    json_decref(rows);
    rows = db_scoped_list(db, &two, list, row_json, "listing", &err);
    assert_int_equal(json_array_size(rows), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 0), "id")), 3);
    json_decref(rows);
    /* A history: oldest first, the owner's entries only, NULL detail as null. */
    json_t *h = db_history(db, "SELECT at, who, action, detail FROM t_events WHERE t_id = ? ORDER BY rowid", 2, &err);
    assert_int_equal(json_array_size(h), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(h, 0), "by")), "ann");
    assert_string_equal(json_string_value(json_object_get(json_array_get(h, 1), "action")), "changed");
    assert_true(json_is_null(json_object_get(json_array_get(h, 1), "detail")));
    json_decref(h);
    /* A get with its history attached; a history that cannot be read fails the get, *out untouched. */
    o = NULL;
    assert_int_equal(db_scoped_get(db, &one, get, 2, row_json,
                                   "SELECT at, who, action, detail FROM t_events WHERE t_id = ? ORDER BY rowid",
                                   "reading", &o, &err),
                     1);
    assert_int_equal(json_array_size(json_object_get(o, "history")), 2);
    json_decref(o);
    o = NULL;
    assert_true(db_scoped_get(db, &one, get, 2, row_json, "SELECT at FROM no_such_table WHERE t_id = ?", "reading",
                              &o, &err) < 0);
    assert_null(o);
    /* A failing query is an error naming what was done, not a short list. */
    pd_err_clear(&err);
    assert_null(db_history(db, "SELECT at, who, action, detail FROM no_such_table WHERE t_id = ?", 2, &err));
    assert_true(err.code < 0);
    sqlite3_stmt *st;
    assert_int_equal(db_prepare(db, "SELECT id, v FROM t WHERE abs(-9223372036854775807 - id) >= 0", &st, &err), 0);
    pd_err_clear(&err);
    assert_null(db_json_rows(db, st, row_json, "stepping", &err)); /* integer overflow at the first row */
    assert_non_null(strstr(err.msg, "stepping"));
    pd_srvdb_close(db);
}

static void count_user(const struct pd_user_info *u, void *ctx)
{
    struct pd_user_info *last = ctx;
    *last = *u;
}

/* Kept statements: one per SQL string and connection, reused after db_release, reading what
 * another connection committed since (no read left open), a scope bound afresh at each take, and
 * a full table refused. */
static void test_kept_statements(void **state)
{
    (void)state;
    struct pd_srvdb *db = open_db("kept"), *other = open_db("kept");
    static const char members_sql[] = "SELECT count(*) FROM members";
    sqlite3_stmt *a, *b;
    assert_int_equal(db_prepare_kept(db, members_sql, &a, NULL), 0);
    assert_int_equal(sqlite3_step(a), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(a, 0), 0);
    db_release(a);
    exec_sql(other, "INSERT INTO members(name, created_at) VALUES ('A', 'now')");
    assert_int_equal(db_prepare_kept(db, members_sql, &b, NULL), 0);
    assert_ptr_equal(a, b);
    assert_int_equal(sqlite3_step(b), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(b, 0), 1);
    /* taken again without being given back: reset first, so it does not go on from a stale read */
    exec_sql(other, "INSERT INTO members(name, created_at) VALUES ('B', 'now')");
    assert_int_equal(db_prepare_kept(db, members_sql, &b, NULL), 0);
    assert_int_equal(sqlite3_step(b), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(b, 0), 2);
    db_release(b);
    /* the scope is bound at each take */
    static const char scoped_sql[] = "SELECT count(*) FROM members m WHERE " SCOPE_SQL("m.id");
    const struct srv_scope lab = {SCOPE_LAB, 0}, member_b = {SCOPE_MEMBER, 2}, nobody = {SCOPE_NOTHING, 0};
    const struct {
        const struct srv_scope *scope;
        int rows;
    } takes[] = {{&lab, 2}, {&member_b, 1}, {&nobody, 0}, {&lab, 2}};
    for (size_t i = 0; i < sizeof takes / sizeof takes[0]; i++) {
        assert_int_equal(scope_prepare_kept(db, takes[i].scope, scoped_sql, &a, NULL), 0);
        assert_int_equal(sqlite3_step(a), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(a, 0), takes[i].rows);
        db_release(a);
    }
    struct pd_err err;
    pd_err_clear(&err);
    assert_int_equal(scope_prepare_kept(db, &lab, members_sql, &a, &err), PD_EINVAL); /* no scope: refused */
    /* DB_KEPT_MAX different strings at most (two are kept already) */
    static char texts[DB_KEPT_MAX][64];
    for (int i = 0; i < DB_KEPT_MAX; i++) {
        snprintf(texts[i], sizeof texts[i], "SELECT %d", i);
        int rc = db_prepare_kept(db, texts[i], &a, &err);
        if (i < DB_KEPT_MAX - 2) {
            assert_int_equal(rc, 0);
            db_release(a);
        } else {
            assert_int_equal(rc, PD_EINVAL);
        }
    }
    pd_srvdb_close(other);
    pd_srvdb_close(db); /* finalizes the kept statements (valgrind: no leak) */
}

static void test_accounts(void **state)
{
    (void)state;
    struct pd_srvdb *db = open_db("accounts");
    assert_int_equal(pw_init(NULL), 0);
    int64_t id = -1;
    struct pd_err err;
    /* Bad member names: nothing stored, the field named. */
    const char *bad_names[] = {"", " Acme", "Acme ", "Ac\nme", "Ac\x7fme", NULL};
    for (int i = 0; bad_names[i]; i++) {
        pd_err_clear(&err);
        assert_int_equal(pd_member_add(db, bad_names[i], &id, &err), PD_EDATA);
        assert_string_equal(err.where, "name");
    }
    char long_name[PD_NAME_MAX + 2];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_int_equal(pd_member_add(db, long_name, &id, NULL), PD_EDATA);
    long_name[PD_NAME_MAX] = '\0';
    assert_int_equal(pd_member_add(db, long_name, &id, NULL), 0);
    assert_int_equal(pd_member_add(db, "Acme", &id, NULL), 0);
    assert_int_equal(pd_member_add(db, "Acme", &id, &err), PD_ESTATE);
    assert_int_equal(count(db, "SELECT count(*) FROM members"), 2);
    /* Users: every refusal comes before the (costly) hash and stores nothing. */
    assert_int_equal(pd_user_add(db, "Bob", "Bob", PD_ROLE_REVIEWER, NULL, "long-enough-pw", &id, &err), PD_EDATA);
    assert_int_equal(pd_user_add(db, "bob smith", "Bob", PD_ROLE_REVIEWER, NULL, "long-enough-pw", &id, &err),
                     PD_EDATA);
    assert_int_equal(pd_user_add(db, "-bob", "Bob", PD_ROLE_REVIEWER, NULL, "long-enough-pw", &id, &err), PD_EDATA);
    assert_int_equal(pd_user_add(db, "bob", "Bob", PD_ROLE_MEMBER, NULL, "long-enough-pw", &id, &err), PD_EDATA);
    assert_int_equal(pd_user_add(db, "bob", "Bob", PD_ROLE_REVIEWER, "Acme", "long-enough-pw", &id, &err), PD_EDATA);
    assert_int_equal(pd_user_add(db, "bob", "Bob", PD_ROLE_MEMBER, "Nobody", "long-enough-pw", &id, &err), PD_EDATA);
    assert_int_equal(pd_user_add(db, "bob", "Bob", PD_ROLE_REVIEWER, NULL, "elevenchars", &id, &err), PD_EDATA);
    assert_int_equal(count(db, "SELECT count(*) FROM users"), 0);
    id = 0;
    assert_int_equal(pd_user_add(db, "bob", "Bob B", PD_ROLE_MEMBER, "Acme", "twelve-chars", &id, &err), 0);
    assert_true(id > 0);
    assert_int_equal(pd_user_add(db, "bob", "Bob", PD_ROLE_REVIEWER, NULL, "long-enough-pw", &id, &err), PD_ESTATE);
    struct pd_user_info u;
    assert_int_equal(pd_user_list(db, count_user, &u, &err), 0);
    assert_string_equal(u.login, "bob");
    assert_int_equal(u.role, PD_ROLE_MEMBER);
    assert_string_equal(u.member_name, "Acme");
    assert_false(u.disabled);
    /* The stored hash is Argon2id and verifies the password, and only it. */
    sqlite3_stmt *st;
    assert_int_equal(db_prepare(db, "SELECT password_hash FROM users WHERE login = 'bob'", &st, NULL), 0);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char hash[PW_HASH_BYTES];
    db_text(st, 0, hash, sizeof hash);
    sqlite3_finalize(st);
    assert_memory_equal(hash, "$argon2id$", 10);
    assert_true(pw_verify(hash, "twelve-chars"));
    assert_false(pw_verify(hash, "twelve-chars "));
    /* Disabling ends the sessions. */
    exec_ok(db, "INSERT INTO sessions VALUES ('h1', 1, 0, 0, 'x'), ('h2', 1, 0, 0, 'y')");
    assert_int_equal(pd_user_disable(db, "bob", &err), 0);
    assert_int_equal(count(db, "SELECT count(*) FROM sessions"), 0);
    assert_int_equal(count(db, "SELECT disabled FROM users WHERE login = 'bob'"), 1);
    assert_int_equal(pd_user_disable(db, "nobody", &err), PD_EDATA);
    pd_srvdb_close(db);
}

static void test_roles(void **state)
{
    (void)state;
    for (int r = 0; r < PD_ROLE_COUNT; r++) {
        enum pd_role back;
        assert_true(pd_role_parse(pd_role_name((enum pd_role)r), &back));
        assert_int_equal(back, r);
    }
    enum pd_role x;
    assert_false(pd_role_parse("Admin", &x));
    assert_false(pd_role_parse("admin ", &x));
    assert_false(pd_role_parse("", &x));
    assert_string_equal(pd_role_name((enum pd_role)99), "unknown");
}

static void test_throttle(void **state)
{
    (void)state;
    struct pd_srvdb *db = open_db("throttle");
    for (int i = 1; i <= 4; i++) {
        throttle_fail(db, "login:x", 5);
        assert_int_equal(throttle_wait_s(db, "login:x"), 0);
    }
    throttle_fail(db, "login:x", 5);
    int64_t w1 = throttle_wait_s(db, "login:x");
    assert_true(w1 >= 3 && w1 <= 4);
    throttle_fail(db, "login:x", 5);
    int64_t w2 = throttle_wait_s(db, "login:x");
    assert_true(w2 >= 7 && w2 <= 8); /* doubled */
    assert_int_equal(throttle_wait_s(db, "login:y"), 0); /* keys are independent */
    for (int i = 0; i < 30; i++)
        throttle_fail(db, "login:x", 5);
    assert_true(throttle_wait_s(db, "login:x") <= 900); /* capped */
    throttle_reset(db, "login:x");
    assert_int_equal(throttle_wait_s(db, "login:x"), 0);
    /* An old failure is forgotten: the count restarts. */
    for (int i = 0; i < 4; i++)
        throttle_fail(db, "login:z", 5);
    exec_ok(db, "UPDATE login_throttle SET last_failure_s = last_failure_s - 1000 WHERE key = 'login:z'");
    throttle_fail(db, "login:z", 5);
    assert_int_equal(throttle_wait_s(db, "login:z"), 0);
    pd_srvdb_close(db);
}

static const struct srv_field inner[] = {
    {"ok", FT_BOOLEAN, true, 0, 0, NULL},
    {NULL, 0, false, 0, 0, NULL},
};
static const struct srv_field fields[] = {
    {"name", FT_STRING, true, 1, 5, NULL},   {"text", FT_TEXT, false, 0, 20, NULL},
    {"n", FT_INTEGER, false, 1, 10, NULL},   {"list", FT_STRING_ARRAY, false, 1, 2, NULL},
    {"when", FT_DATE, false, 0, 0, NULL},    {"sub", FT_OBJECT, false, 0, 0, inner},
    {NULL, 0, false, 0, 0, NULL},
};

static void expect_body(const char *text, bool ok, const char *msg_part)
{
    json_t *out = NULL;
    char msg[300] = "";
    bool got = body_check(text, strlen(text), fields, &out, msg, sizeof msg);
    if (got != ok)
        fail_msg("%s: %s (%s)", text, got ? "accepted" : "refused", msg);
    if (ok)
        assert_non_null(out);
    else {
        assert_null(out);
        if (msg_part && !strstr(msg, msg_part))
            fail_msg("%s: message '%s' lacks '%s'", text, msg, msg_part);
    }
    json_decref(out);
}

static void test_body(void **state)
{
    (void)state;
    expect_body("{\"name\":\"abc\"}", true, NULL);
    expect_body("{\"name\":\"abc\",\"n\":10,\"list\":[\"a\",\"b\"],\"when\":\"2028-02-29\",\"sub\":{\"ok\":true},"
                "\"text\":\"l1\\nl2\\tx\"}",
                true, NULL);
    expect_body("{\"name\":\"abc\",\"when\":null}", true, NULL); /* null = absent */
    expect_body("{\"name\":", false, "line 1");
    expect_body("[]", false, "JSON object");
    expect_body("{}", false, "'name' is required");
    expect_body("{\"name\":\"abc\",\"name\":\"abd\"}", false, "duplicate");
    expect_body("{\"name\":\"abc\",\"x\":1}", false, "unknown field 'x'");
    expect_body("{\"name\":\"abcdef\"}", false, "1 to 5 bytes");
    expect_body("{\"name\":\"\"}", false, "1 to 5 bytes");
    expect_body("{\"name\":1}", false, "must be a string");
    expect_body("{\"name\":\"a\\u0000b\"}", false, NULL);
    expect_body("{\"name\":\"a\\nb\"}", false, "control characters");
    expect_body("{\"name\":\"a\\u007fb\"}", false, "control characters");
    expect_body("{\"name\":\"a\",\"text\":\"\\u001b[2J\"}", false, "control characters");
    expect_body("{\"name\":\"a\",\"n\":0}", false, "integer from 1 to 10");
    expect_body("{\"name\":\"a\",\"n\":11}", false, "integer from 1 to 10");
    expect_body("{\"name\":\"a\",\"n\":1.5}", false, "integer");
    expect_body("{\"name\":\"a\",\"n\":true}", false, "integer");
    expect_body("{\"name\":\"a\",\"list\":[]}", false, "list of 1 to 2");
    expect_body("{\"name\":\"a\",\"list\":[\"a\",\"b\",\"c\"]}", false, "list of 1 to 2");
    expect_body("{\"name\":\"a\",\"list\":[\"\"]}", false, "item 1");
    expect_body("{\"name\":\"a\",\"list\":[\"a\",2]}", false, "item 2");
    expect_body("{\"name\":\"a\",\"when\":\"2027-02-29\"}", false, "date");
    expect_body("{\"name\":\"a\",\"when\":\"2100-02-29\"}", false, "date");
    expect_body("{\"name\":\"a\",\"when\":\"2027-13-01\"}", false, "date");
    expect_body("{\"name\":\"a\",\"when\":\"2027-1-01\"}", false, "date");
    expect_body("{\"name\":\"a\",\"when\":\"2027-01-01x\"}", false, "date");
    expect_body("{\"name\":\"a\",\"when\":\"+027-01-01\"}", false, "date");
    expect_body("{\"name\":\"a\",\"sub\":{}}", false, "'sub.ok' is required");
    expect_body("{\"name\":\"a\",\"sub\":{\"ok\":true,\"x\":1}}", false, "unknown field 'sub.x'");
    expect_body("{\"name\":\"a\",\"sub\":[]}", false, "must be an object");
    expect_body("{\"name\":\"\xff\"}", false, NULL); /* invalid UTF-8 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_versioned), cmocka_unit_test(test_scope), cmocka_unit_test(test_kept_statements),
        cmocka_unit_test(test_accounts),
        cmocka_unit_test(test_roles), cmocka_unit_test(test_throttle), cmocka_unit_test(test_body),
        cmocka_unit_test(test_json_readers),
    };
    return cmocka_run_group_tests(tests, srv_tmp_setup, srv_tmp_teardown);
}
