/* server_items_test.c — the lab server's second schema below HTTP: a version 1 database with
 * data migrated to version 2 (the requests table rebuilt, nothing lost, foreign keys back on), the
 * complaint history refusing UPDATE and DELETE, the outbox's choice of recipients and its address
 * check (no header or command injection), UTF-8 cutting for subjects, and a request's state move
 * (request_advance). No Argon2 hashing: fast under valgrind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/srv_db.h"
#include "server/internal.h"

/* The tables of schema version 1 that migration 2 changes or refers to, as version 1 made them. */
static const char v1_schema[] =
    "CREATE TABLE members (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);"
    "CREATE TABLE users (id INTEGER PRIMARY KEY, login TEXT NOT NULL UNIQUE, name TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('member','technician','reviewer','authorizer','admin')),"
    "  member_id INTEGER REFERENCES members(id), password_hash TEXT NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0,1)), created_at TEXT NOT NULL,"
    "  CHECK ((role = 'member') = (member_id IS NOT NULL)));"
    "CREATE TABLE requests (id INTEGER PRIMARY KEY, member_id INTEGER NOT NULL REFERENCES members(id),"
    "  submitted_by INTEGER NOT NULL REFERENCES users(id), material TEXT NOT NULL, specification TEXT NOT NULL,"
    "  methods TEXT NOT NULL, specimens INTEGER NOT NULL CHECK (specimens > 0), conditioning TEXT NOT NULL,"
    "  due_date TEXT NOT NULL, customer_reference TEXT NOT NULL, notes TEXT NOT NULL, decision_rule TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('submitted','accepted','rejected')), submitted_at TEXT NOT NULL,"
    "  decided_by INTEGER REFERENCES users(id), decided_at TEXT, reject_reason TEXT, contract_review TEXT);"
    "CREATE INDEX requests_member ON requests(member_id, id);"
    "CREATE TABLE request_events (id INTEGER PRIMARY KEY, request_id INTEGER NOT NULL REFERENCES requests(id),"
    "  at TEXT NOT NULL, user_id INTEGER NOT NULL REFERENCES users(id), action TEXT NOT NULL,"
    "  detail TEXT NOT NULL);"
    "INSERT INTO members VALUES (1, 'Acme', '2026-01-01T00:00:00Z');"
    "INSERT INTO users VALUES (1, 'alice', 'Alice', 'member', 1, 'x', 0, '2026-01-01T00:00:00Z');"
    "INSERT INTO users VALUES (2, 'rita', 'Rita', 'reviewer', NULL, 'x', 0, '2026-01-01T00:00:00Z');"
    "INSERT INTO requests VALUES (7, 1, 1, 'PP H350', '', '[\"ISO 527-2\"]', 5, '', '2099-01-01', 'PO 1', '',"
    "  'rule', 'accepted', '2026-01-02T00:00:00Z', 2, '2026-01-03T00:00:00Z', NULL, '{\"comments\":\"ok\"}');"
    "INSERT INTO request_events VALUES (1, 7, '2026-01-02T00:00:00Z', 1, 'submitted', '');"
    "INSERT INTO request_events VALUES (2, 7, '2026-01-03T00:00:00Z', 2, 'accepted', 'ok');"
    "PRAGMA user_version = 1;";

static void test_migration_from_v1(void **state)
{
    (void)state;
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s/v1", tmp_dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/%s", dir, SRV_DB_FILE);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, v1_schema, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);

    struct pd_srvdb *db = open_db("v1");
    assert_int_equal(count(db, "PRAGMA user_version"), 4);
    /* Every value of the request kept; its history still points at it. */
    assert_int_equal(count(db, "SELECT count(*) FROM requests WHERE id = 7 AND member_id = 1 AND submitted_by = 1 "
                               "AND material = 'PP H350' AND methods = '[\"ISO 527-2\"]' AND specimens = 5 AND "
                               "customer_reference = 'PO 1' AND state = 'accepted' AND decided_by = 2 AND "
                               "contract_review = '{\"comments\":\"ok\"}'"),
                     1);
    assert_int_equal(count(db, "SELECT count(*) FROM request_events e JOIN requests r ON r.id = e.request_id"), 2);
    assert_int_equal(count(db, "SELECT count(*) FROM pragma_index_list('requests') WHERE name = 'requests_member'"), 1);
    /* The states after acceptance are admitted now; others still are not. */
    assert_int_equal(exec_sql(db, "UPDATE requests SET state = 'items received' WHERE id = 7"), SQLITE_OK);
    assert_int_not_equal(exec_sql(db, "UPDATE requests SET state = 'lost' WHERE id = 7"), SQLITE_OK);
    /* Foreign keys are on again after the migration, and nothing dangles. */
    assert_int_equal(count(db, "PRAGMA foreign_keys"), 1);
    assert_int_equal(count(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    assert_int_not_equal(exec_sql(db, "INSERT INTO items(code, request_id, description, condition, conforming, "
                                      "storage, received_at, received_by) VALUES ('IT-2026-000001', 99, 'x', 'x', "
                                      "1, 'x', 'now', 1)"),
                         SQLITE_OK);
    pd_srvdb_close(db);
    db = open_db("v1"); /* opened again: nothing migrates twice */
    assert_int_equal(count(db, "SELECT count(*) FROM requests"), 1);
    pd_srvdb_close(db);
}

static void test_complaint_history_append_only(void **state)
{
    (void)state;
    struct pd_srvdb *db = open_db("history");
    assert_int_equal(exec_sql(db, "INSERT INTO members VALUES (1, 'Acme', 'now');"
                                  "INSERT INTO users(id, login, name, role, member_id, password_hash, created_at) "
                                  "VALUES (1, 'alice', 'Alice', 'member', 1, 'x', 'now');"
                                  "INSERT INTO requests VALUES (1, 1, 1, 'PP', '', '[]', 1, '', '2099-01-01', '', '',"
                                  " 'r', 'accepted', 'now', NULL, NULL, NULL, NULL);"
                                  "INSERT INTO complaints(id, request_id, subject, description, state, filed_by, "
                                  "filed_at) VALUES (1, 1, 's', 'd', 'received', 1, 'now');"
                                  "INSERT INTO complaint_events(complaint_id, at, user_id, action, detail) "
                                  "VALUES (1, 'now', 1, 'received', 's');"),
                     SQLITE_OK);
    assert_int_not_equal(exec_sql(db, "UPDATE complaint_events SET detail = 'other'"), SQLITE_OK);
    assert_non_null(strstr(sqlite3_errmsg(db->h), "append-only"));
    assert_int_not_equal(exec_sql(db, "DELETE FROM complaint_events"), SQLITE_OK);
    assert_int_equal(count(db, "SELECT count(*) FROM complaint_events WHERE detail = 's'"), 1);
    assert_int_not_equal(exec_sql(db, "UPDATE complaints SET state = 'forgotten'"), SQLITE_OK);
    pd_srvdb_close(db);
}

static void test_outbox_recipients(void **state)
{
    (void)state;
    struct pd_srvdb *db = open_db("outbox");
    assert_int_equal(
        exec_sql(db, "INSERT INTO members VALUES (1, 'Acme', 'now'), (2, 'Beta', 'now');"
                     "INSERT INTO users(login, name, role, member_id, password_hash, created_at, disabled, email) "
                     "VALUES ('carla', 'C', 'member', 1, 'x', 'now', 0, 'carla@acme.example'),"
                     "       ('dora', 'D', 'member', 1, 'x', 'now', 1, 'dora@acme.example'),"   /* disabled */
                     "       ('nomail', 'N', 'member', 1, 'x', 'now', 0, NULL),"
                     "       ('odd', 'O', 'member', 1, 'x', 'now', 0, 'odd@acme.example>, <x@evil.example'),"
                     "       ('bea', 'B', 'member', 2, 'x', 'now', 0, 'bea@beta.example'),"     /* another member */
                     "       ('tessa', 'T', 'technician', NULL, 'x', 'now', 0, 'tessa@lab.example');"),
        SQLITE_OK);
    struct pd_err err;
    pd_err_clear(&err);
    assert_int_equal(db_begin(db, &err), 0);
    assert_int_equal(outbox_notify_member(db, 1, "Request 1: accepted", "text", &err), 0);
    assert_int_equal(db_commit(db, &err), 0);
    assert_int_equal(count(db, "SELECT count(*) FROM outbox"), 1);
    assert_int_equal(count(db, "SELECT count(*) FROM outbox WHERE recipient = 'carla@acme.example' AND "
                               "subject = 'Request 1: accepted' AND attempts = 0 AND sent_at IS NULL AND "
                               "message_id GLOB '<[0-9a-f]*@polydaq.invalid>' AND length(message_id) = 50 AND "
                               "created_at GLOB '[A-Z][a-z][a-z], [0-9][0-9] [A-Z][a-z][a-z] 20[0-9][0-9] "
                               "[0-9][0-9]:[0-9][0-9]:[0-9][0-9] +0000'"),
                     1);
    /* Queued in the caller's transaction: rolled back with it. */
    assert_int_equal(db_begin(db, &err), 0);
    assert_int_equal(outbox_notify_member(db, 2, "Request 2: rejected", "text", &err), 0);
    db_rollback(db);
    assert_int_equal(count(db, "SELECT count(*) FROM outbox"), 1);
    pd_srvdb_close(db);
}

static void test_email_is_valid(void **state)
{
    (void)state;
    static const char *const good[] = {"carla@acme.example", "a.b+tag@sub.example.org", "x@localhost"};
    static const char *const bad[] = {"",
                                      "@acme.example",
                                      "carla@",
                                      "carla",
                                      "carla@acme@example",
                                      "carla @acme.example",
                                      "carla@acme.example\r\nBcc: x@evil.example",
                                      "<carla@acme.example>",
                                      "carla@acme.example>, <x@evil.example",
                                      "carla@.example",
                                      "carla@acme.",
                                      "ca,rla@acme.example",
                                      "c\"arla@acme.example",
                                      "carl\xc3\xa4@acme.example"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(email_is_valid(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(email_is_valid(bad[i]));
    char long_local[300];
    memset(long_local, 'a', 251);
    strcpy(long_local + 251, "@b.c");
    assert_false(email_is_valid(long_local)); /* 255 bytes: 254 at most */
    long_local[250] = '@';
    long_local[251] = '\0';
    strcat(long_local, "b.c");
    assert_true(email_is_valid(long_local)); /* 254 */
}

static void test_utf8_cut(void **state)
{
    (void)state;
    char buf[8];
    utf8_cut(buf, "W\xc3\xbcrfel", 3); /* "Wü…": ü is 2 bytes and does not fit whole */
    assert_string_equal(buf, "W");
    utf8_cut(buf, "W\xc3\xbcrfel", 4);
    assert_string_equal(buf, "W\xc3\xbc");
    utf8_cut(buf, "ab\xe2\x82\xac", 5); /* € (3 bytes) cut after its second byte: dropped */
    assert_string_equal(buf, "ab");
    utf8_cut(buf, "short", sizeof buf);
    assert_string_equal(buf, "short");
    utf8_cut(buf, "\xf0\x9f\x98\x80", 4); /* a 4-byte character into 3 bytes: nothing */
    assert_string_equal(buf, "");
}

/* request_advance: the move from the expected state with its history and notice; a request another
 * call moved on meanwhile is a conflict that leaves it as that call left it; a step on a request not
 * in `from` records its history and tells the member only when asked to always. */
static void test_request_advance(void **state)
{
    (void)state;
    struct pd_srvdb *db = open_db("advance");
    exec_ok(db, "INSERT INTO members(id, name, created_at) VALUES (1, 'Acme', 'now');"
                "INSERT INTO users(id, login, name, role, member_id, password_hash, created_at, email) VALUES "
                "(1, 'alice', 'Alice', 'member', 1, 'x', 'now', 'alice@acme.example'),"
                "(2, 'tim', 'Tim', 'technician', NULL, 'x', 'now', NULL);"
                "INSERT INTO requests(id, member_id, submitted_by, material, specification, methods, specimens, "
                "conditioning, due_date, customer_reference, notes, decision_rule, state, submitted_at) VALUES "
                "(7, 1, 1, 'PP', '', '[]', 5, '', '2099-01-01', '', '', 'rule', 'accepted', 'now');");
    struct srv_call call = {.db = db};
    call.user.id = 2;
    struct pd_err err;
    pd_err_clear(&err);
    struct request_brief req = {.id = 7, .member_id = 1};
    pd_strlcpy(req.state, "accepted", sizeof req.state);
    struct request_step step = {.from = "accepted",
                                .to = "items received",
                                .action = "items received",
                                .detail = "2 items",
                                .subject = "Request 7",
                                .text = "text"};
    assert_int_equal(db_begin(db, &err), 0);
    assert_int_equal(request_advance(&call, &req, &step, &err), 1);
    assert_int_equal(db_commit(db, &err), 0);
    assert_string_equal(req.state, "items received");
    assert_int_equal(count(db, "SELECT count(*) FROM requests WHERE id = 7 AND state = 'items received'"), 1);
    assert_int_equal(count(db, "SELECT count(*) FROM request_events WHERE request_id = 7 AND user_id = 2 AND "
                               "action = 'items received' AND detail = '2 items'"),
                     1);
    assert_int_equal(count(db, "SELECT count(*) FROM outbox WHERE subject = 'Request 7'"), 1);

    /* The same step again from a brief read before that move: a conflict, nothing written. */
    pd_strlcpy(req.state, "accepted", sizeof req.state);
    assert_int_equal(db_begin(db, &err), 0);
    assert_int_equal(request_advance(&call, &req, &step, &err), PD_ESTATE);
    db_rollback(db);
    assert_non_null(strstr(err.msg, "request 7 is no longer accepted"));
    assert_string_equal(req.state, "accepted"); /* the brief untouched on error */
    assert_int_equal(count(db, "SELECT state = 'items received' FROM requests WHERE id = 7"), 1);
    assert_int_equal(count(db, "SELECT count(*) FROM request_events WHERE request_id = 7"), 1);

    /* Not in `from`: no move; the history always, the notice only when always. */
    pd_strlcpy(req.state, "items received", sizeof req.state);
    struct request_step link = {.from = "accepted",
                                .to = "testing",
                                .action = "run linked",
                                .detail = "run 1",
                                .subject = "Request 7: testing",
                                .text = "text"};
    assert_int_equal(db_begin(db, &err), 0);
    assert_int_equal(request_advance(&call, &req, &link, &err), 0);
    link.notice_always = true;
    link.subject = "Request 7: again";
    assert_int_equal(request_advance(&call, &req, &link, &err), 0);
    assert_int_equal(db_commit(db, &err), 0);
    assert_int_equal(count(db, "SELECT state = 'items received' FROM requests WHERE id = 7"), 1);
    assert_int_equal(count(db, "SELECT count(*) FROM request_events WHERE action = 'run linked'"), 2);
    assert_int_equal(count(db, "SELECT count(*) FROM outbox WHERE subject = 'Request 7: testing'"), 0);
    assert_int_equal(count(db, "SELECT count(*) FROM outbox WHERE subject = 'Request 7: again'"), 1);
    pd_srvdb_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migration_from_v1), cmocka_unit_test(test_complaint_history_append_only),
        cmocka_unit_test(test_outbox_recipients), cmocka_unit_test(test_email_is_valid),
        cmocka_unit_test(test_utf8_cut),          cmocka_unit_test(test_request_advance),
    };
    return cmocka_run_group_tests(tests, srv_tmp_setup, srv_tmp_teardown);
}
