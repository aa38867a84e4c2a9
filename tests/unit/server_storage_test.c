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

#include "server/internal.h"

static char tmp_dir[] = "/tmp/pd-server-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct pd_srvdb *open_db(const char *name)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/%s", tmp_dir, name);
    struct pd_srvdb *db = NULL;
    struct pd_err err;
    pd_err_clear(&err);
    assert_int_equal(db_connect(dir, &db, &err), 0);
    return db;
}

static int64_t count(struct pd_srvdb *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(db_prepare(db, sql, &st, NULL), 0);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void exec_sql(struct pd_srvdb *db, const char *sql)
{
    assert_int_equal(sqlite3_exec(db->h, sql, NULL, NULL, NULL), SQLITE_OK);
}

static void test_schema_versioned(void **state)
{
    (void)state;
    struct pd_srvdb *db = open_db("schema");
    assert_int_equal(count(db, "PRAGMA user_version"), 3);
    assert_int_equal(count(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"), 14);
    int64_t id;
    assert_int_equal(pd_member_add(db, "Acme", &id, NULL), 0);
    pd_srvdb_close(db);
    db = open_db("schema"); /* reopening migrates nothing and keeps the data */
    assert_int_equal(count(db, "SELECT count(*) FROM members"), 1);
    exec_sql(db, "PRAGMA user_version = 7");
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
    exec_sql(db, "INSERT INTO users(id, login, name, role, member_id, password_hash, created_at) "
                 "VALUES (1, 'u', 'U', 'member', 1, 'x', 'now')");
    for (int i = 0; i < 3; i++) /* 2 rows of A, 1 of B */
        exec_sql(db, i < 2 ? "INSERT INTO requests(member_id, submitted_by, material, specification, methods, "
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
    /* A tenant query without the scope's condition is refused, not run. */
    sqlite3_stmt *st = NULL;
    struct pd_err err;
    pd_err_clear(&err);
    const struct srv_scope member = {SCOPE_MEMBER, 1};
    assert_int_equal(scope_prepare(db, &member, "SELECT count(*) FROM requests", &st, &err), PD_EINVAL);
    assert_null(st);
    assert_non_null(strstr(err.msg, "without its scope"));
    assert_int_equal(scope_prepare(db, &member, "SELECT count(*) FROM requests WHERE member_id = :scope_member", &st,
                                   &err),
                     PD_EINVAL);
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

static void count_user(const struct pd_user_info *u, void *ctx)
{
    struct pd_user_info *last = ctx;
    *last = *u;
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
    exec_sql(db, "INSERT INTO sessions VALUES ('h1', 1, 0, 0, 'x'), ('h2', 1, 0, 0, 'y')");
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
    exec_sql(db, "UPDATE login_throttle SET last_failure_s = last_failure_s - 1000 WHERE key = 'login:z'");
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
        cmocka_unit_test(test_schema_versioned), cmocka_unit_test(test_scope), cmocka_unit_test(test_accounts),
        cmocka_unit_test(test_roles), cmocka_unit_test(test_throttle), cmocka_unit_test(test_body),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
