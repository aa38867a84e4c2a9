/* server_http_test.c — the lab server in-process (pd_server_start on loopback) spoken to over
 * real sockets, so the HTTP layer, sessions and handlers also run under valgrind and the
 * sanitizers: the dispatch order (route, session, role, CSRF, type, schema), a request's
 * submit → accept cycle through the scope, the security headers, the access log, and a stop
 * that lets the request in flight finish. Sessions are written into the database directly (one
 * Argon2id login only), so the test stays fast under valgrind. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/srv_db.h"
#include "registry/registry.h"
#include "server/internal.h"

static struct pd_server *srv;
static uint16_t port;
static FILE *access_log;
static char log_path[300];

/* Session cookies made by hand for: 1 member A, 2 member B, 3 reviewer, 4 technician. */
static char cookie[5][65];

/* who: 0 anonymous, 1..4 the hand-made sessions; csrf: send the right token. */
static void call(const char *method, const char *path, int who, bool csrf, const char *ctype, const char *body,
                 struct srv_answer *ans)
{
    srv_call(port, method, path, who ? cookie[who] : NULL, csrf, ctype, body, body ? strlen(body) : 0, ans);
}

/* The lab's registry DATA/certs with CERT-000001 issued and CERT-000002 a draft: what a complaint
 * may name. */
static int add_registry(void)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/certs", tmp_dir);
    struct pd_registry reg;
    if (mkdir(dir, 0700) < 0 || pd_registry_open(&reg, dir, PD_REGISTRY_CREATE, NULL) < 0)
        return -1;
    int rc = pd_registry_begin(&reg, NULL);
    for (int n = 1; n <= 2 && rc == 0; n++) {
        struct pd_registry_cert c = {.number = n, .document = "{}"};
        snprintf(c.id, sizeof c.id, "CERT-%06d", n);
        snprintf(c.status, sizeof c.status, "%s", n == 1 ? "issued" : "draft");
        memset(c.content_sha256, '0', 64);
        memset(c.document_sha256, '0', 64);
        snprintf(c.drafted, sizeof c.drafted, "2026-12-01T10:00:00Z");
        if (n == 1)
            snprintf(c.issued, sizeof c.issued, "2026-12-01T11:00:00Z");
        rc = pd_registry_cert_insert(&reg, &c, NULL);
    }
    rc = rc == 0 ? pd_registry_commit(&reg, NULL) : (pd_registry_rollback(&reg), rc);
    pd_registry_close(&reg);
    return rc;
}

static int setup(void **state)
{
    if (srv_tmp_setup(state) < 0)
        return -1;
    struct pd_srvdb *db;
    if (pd_srvdb_open(tmp_dir, &db, NULL) < 0)
        return -1;
    int64_t a, b, id;
    if (pd_member_add(db, "A", &a, NULL) < 0 || pd_member_add(db, "B", &b, NULL) < 0)
        return -1;
    if (pd_user_add(db, "amy", "Amy", PD_ROLE_MEMBER, "A", "amy-password-1", &id, NULL) < 0)
        return -1;
    /* The others share amy's hash: only amy logs in with a password here. */
    const char *sql = "INSERT INTO users(id, login, name, role, member_id, password_hash, created_at) "
                      "SELECT 2, 'ben', 'Ben', 'member', 2, password_hash, 'now' FROM users WHERE id = 1;"
                      "INSERT INTO users(id, login, name, role, member_id, password_hash, created_at) "
                      "SELECT 3, 'rae', 'Rae', 'reviewer', NULL, password_hash, 'now' FROM users WHERE id = 1;"
                      "INSERT INTO users(id, login, name, role, member_id, password_hash, created_at) "
                      "SELECT 4, 'tim', 'Tim', 'technician', NULL, password_hash, 'now' FROM users WHERE id = 1;";
    if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    for (int i = 1; i <= 4; i++)
        srv_add_session(db, cookie[i], i);
    pd_srvdb_close(db);
    if (add_registry() < 0)
        return -1;
    snprintf(log_path, sizeof log_path, "%s/access.log", tmp_dir);
    access_log = fopen(log_path, "w");
    port = srv_tmp_serve(&srv, access_log);
    return port ? 0 : -1;
}

static int teardown(void **state)
{
    if (srv)
        pd_server_stop(srv, 5000);
    if (access_log)
        fclose(access_log);
    return srv_tmp_teardown(state);
}

#define JSON "application/json"
#define NEW_REQUEST                                                                                            \
    "{\"material\":\"PP\",\"methods\":[\"ISO 527-2\"],\"specimens\":5,\"due_date\":\"2099-01-01\","             \
    "\"decision_rule_agreed\":true}"
#define REVIEW                                                                                                 \
    "{\"contract_review\":{\"requirements_defined\":true,\"methods_appropriate\":true,"                       \
    "\"capability_and_resources\":true,\"due_date_feasible\":true,\"subcontracting\":false}}"

static void exec_sql_on(struct pd_srvdb *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s", msg ? msg : "SQL error");
}

static void test_login_and_headers(void **state)
{
    (void)state;
    struct srv_answer ans;
    call("POST", "/api/v1/session", 0, false, JSON, "{\"login\":\"amy\",\"password\":\"amy-password-1\"}", &ans);
    assert_int_equal(ans.status, 201);
    assert_non_null(strstr(ans.headers, "Set-Cookie: pd_session="));
    assert_non_null(strstr(ans.headers, "HttpOnly; SameSite=Strict"));
    assert_null(strstr(ans.headers, "Secure")); /* no TLS proxy configured */
    assert_non_null(strstr(ans.headers, "Content-Security-Policy: default-src 'self'; frame-ancestors 'none'"));
    assert_non_null(strstr(ans.headers, "X-Content-Type-Options: nosniff"));
    assert_non_null(strstr(ans.headers, "Cache-Control: no-store"));
    assert_non_null(strstr(ans.body, "\"csrf_token\":\""));
    call("POST", "/api/v1/session", 0, false, JSON, "{\"login\":\"amy\",\"password\":\"amy-password-2\"}", &ans);
    assert_int_equal(ans.status, 401);
    assert_null(strstr(ans.headers, "Set-Cookie"));
}

static void test_dispatch_order(void **state)
{
    (void)state;
    /* For test_access_log: quotes and backslashes in a path are escaped in the log's JSON (the
     * line is formatted by hand since the server benchmark, no longer by jansson). */
    struct srv_answer quoted;
    call("GET", "/api/v1/%22q%5Cx", 0, false, NULL, NULL, &quoted);
    assert_int_equal(quoted.status, 404);
    struct srv_answer ans;
    call("GET", "/api/v1/nothing", 1, false, NULL, NULL, &ans);
    assert_int_equal(ans.status, 404);
    call("PUT", "/api/v1/me", 1, true, NULL, NULL, &ans);
    assert_int_equal(ans.status, 405);
    assert_non_null(strstr(ans.headers, "Allow: GET"));
    call("GET", "/api/v1/me", 0, false, NULL, NULL, &ans);
    assert_int_equal(ans.status, 401);
    call("GET", "/api/v1/users", 3, false, NULL, NULL, &ans); /* reviewer: not admin */
    assert_int_equal(ans.status, 403);
    call("POST", "/api/v1/requests", 1, false, JSON, NEW_REQUEST, &ans);
    assert_int_equal(ans.status, 403);
    assert_non_null(strstr(ans.body, "\"csrf\""));
    call("POST", "/api/v1/requests", 1, true, "text/plain", NEW_REQUEST, &ans);
    assert_int_equal(ans.status, 415);
    call("POST", "/api/v1/requests", 1, true, JSON, "{\"material\":\"PP\"", &ans);
    assert_int_equal(ans.status, 400);
    call("DELETE", "/api/v1/session", 1, true, JSON, "{}", &ans);
    assert_int_equal(ans.status, 400); /* logout takes no body: the session stays */
    /* A too large body by its Content-Length is answered before it is sent (so nothing is left
     * unread in the server's socket when it closes). */
    static const char head[] = "POST /api/v1/requests HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                               "Content-Type: application/json\r\nContent-Length: 70000\r\n\r\n";
    int fd = srv_connect(port);
    assert_int_equal(send(fd, head, sizeof head - 1, MSG_NOSIGNAL), (ssize_t)(sizeof head - 1));
    srv_read_answer(fd, &ans);
    assert_int_equal(ans.status, 413);
    call("GET", "/api/v1/me", 1, false, NULL, NULL, &ans);
    assert_int_equal(ans.status, 200);
}

static int request_id(const char *body)
{
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    int id = (int)json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    return id;
}

static void test_request_cycle_and_scope(void **state)
{
    (void)state;
    struct srv_answer ans;
    call("POST", "/api/v1/requests", 1, true, JSON, NEW_REQUEST, &ans);
    assert_int_equal(ans.status, 201);
    int id = request_id(ans.body);
    assert_true(id > 0);
    assert_non_null(strstr(ans.body, "\"member_id\":1,"));
    assert_non_null(strstr(ans.body, "\"state\":\"submitted\""));
    char path[100];
    snprintf(path, sizeof path, "/api/v1/requests/%d", id);
    /* A specification instead of methods (a leak once: regression under valgrind/ASan). */
    struct srv_answer spec;
    call("POST", "/api/v1/requests", 2, true, JSON,
         "{\"material\":\"PA6\",\"specification\":\"drawing 4711\",\"specimens\":3,"
         "\"due_date\":\"2099-01-01\",\"decision_rule_agreed\":true}",
         &spec);
    assert_int_equal(spec.status, 201);
    assert_non_null(strstr(spec.body, "\"methods\":[]"));
    call("GET", path, 2, false, NULL, NULL, &ans); /* member B */
    assert_int_equal(ans.status, 404);
    call("GET", path, 4, false, NULL, NULL, &ans); /* technician */
    assert_int_equal(ans.status, 200);
    call("GET", "/api/v1/requests", 2, false, NULL, NULL, &ans);
    assert_int_equal(ans.status, 200);
    assert_null(strstr(ans.body, "\"member_id\":1,")); /* B's own request only */
    assert_non_null(strstr(ans.body, "drawing 4711"));
    snprintf(path, sizeof path, "/api/v1/requests/%d/accept", id);
    call("POST", path, 4, true, JSON, REVIEW, &ans); /* technicians do not review */
    assert_int_equal(ans.status, 403);
    call("POST", path, 3, true, JSON, REVIEW, &ans);
    assert_int_equal(ans.status, 200);
    assert_non_null(strstr(ans.body, "\"state\":\"accepted\""));
    assert_non_null(strstr(ans.body, "\"decided_by\":\"rae\""));
    assert_non_null(strstr(ans.body, "\"action\":\"accepted\""));
    call("POST", path, 3, true, JSON, REVIEW, &ans);
    assert_int_equal(ans.status, 409);
    snprintf(path, sizeof path, "/api/v1/requests/%d/reject", id);
    call("POST", path, 3, true, JSON, "{\"reason\":\"late\"}", &ans);
    assert_int_equal(ans.status, 409);
    call("POST", "/api/v1/requests/424242/reject", 3, true, JSON, "{\"reason\":\"x\"}", &ans);
    assert_int_equal(ans.status, 404);
}

/* Items, the label sheet (a PDF answer, not JSON) and a complaint's steps in-process, so the
 * document path of http.c, cairo's drawing and the notices queued with each change run under
 * valgrind and the sanitizers too. */
static void test_items_labels_complaints(void **state)
{
    (void)state;
    struct srv_answer ans;
    call("POST", "/api/v1/requests", 1, true, JSON, NEW_REQUEST, &ans);
    int id = request_id(ans.body);
    char path[100], body[300];
    snprintf(path, sizeof path, "/api/v1/requests/%d/items", id);
    const char *item = "{\"count\":2,\"description\":\"bars\",\"condition\":\"ok\",\"conforming\":true,"
                       "\"storage\":\"shelf\"}";
    call("POST", path, 4, true, JSON, item, &ans);
    assert_int_equal(ans.status, 409); /* not accepted yet */
    snprintf(body, sizeof body, "/api/v1/requests/%d/accept", id);
    call("POST", body, 3, true, JSON, REVIEW, &ans);
    assert_int_equal(ans.status, 200);
    call("POST", path, 4, true, JSON, item, &ans);
    assert_int_equal(ans.status, 201);
    assert_non_null(strstr(ans.body, "\"item_id\":\"IT-"));
    call("GET", path, 2, false, NULL, NULL, &ans); /* member B */
    assert_int_equal(ans.status, 404);
    snprintf(path, sizeof path, "/api/v1/requests/%d/labels.pdf", id);
    call("GET", path, 1, false, NULL, NULL, &ans);
    assert_int_equal(ans.status, 200);
    assert_non_null(strstr(ans.headers, "Content-Type: application/pdf"));
    assert_non_null(strstr(ans.headers, "X-Content-Type-Options: nosniff"));
    assert_memory_equal(ans.body, "%PDF-", 5);
    call("GET", path, 2, false, NULL, NULL, &ans);
    assert_int_equal(ans.status, 404);
    assert_non_null(strstr(ans.headers, "application/json"));

    snprintf(body, sizeof body, "{\"request_id\":%d,\"certificate_number\":\"CERT-000001\",\"subject\":\"s\","
                                "\"description\":\"d\"}", id);
    call("POST", "/api/v1/complaints", 2, true, JSON, body, &ans); /* member B, A's request */
    assert_int_equal(ans.status, 404);
    /* A number the registry does not hold as issued: unknown, or a draft — one answer. */
    for (int n = 2; n <= 3; n++) {
        char other[300];
        snprintf(other, sizeof other, "{\"request_id\":%d,\"certificate_number\":\"CERT-%06d\",\"subject\":\"s\","
                                      "\"description\":\"d\"}", id, n);
        call("POST", "/api/v1/complaints", 1, true, JSON, other, &ans);
        assert_int_equal(ans.status, 422);
        assert_non_null(strstr(ans.body, "field 'certificate_number'"));
    }
    call("POST", "/api/v1/complaints", 1, true, JSON, body, &ans);
    assert_int_equal(ans.status, 201);
    int cid = request_id(ans.body);
    snprintf(path, sizeof path, "/api/v1/complaints/%d/close", cid);
    call("POST", path, 3, true, JSON, "{\"outcome\":\"o\"}", &ans);
    assert_int_equal(ans.status, 409); /* acknowledged first */
    snprintf(path, sizeof path, "/api/v1/complaints/%d/acknowledge", cid);
    call("POST", path, 4, true, JSON, "{}", &ans);
    assert_int_equal(ans.status, 200);
    snprintf(path, sizeof path, "/api/v1/complaints/%d/close", cid);
    call("POST", path, 4, true, JSON, "{\"outcome\":\"o\"}", &ans); /* technicians do not close */
    assert_int_equal(ans.status, 403);
    call("POST", path, 3, true, JSON, "{\"outcome\":\"o\"}", &ans);
    assert_int_equal(ans.status, 200);
    assert_non_null(strstr(ans.body, "\"state\":\"closed\""));
    assert_non_null(strstr(ans.body, "\"by\":\"rae\""));
}

/* The mail thread against a relay that is not there: it tries, records the failure and the next
 * try, loses nothing, and stops promptly. */
static void test_mail_sender_retries(void **state)
{
    (void)state;
    struct pd_srvdb *db;
    assert_int_equal(db_connect(tmp_dir, &db, NULL), 0);
    assert_int_equal(sqlite3_exec(db->h,
                                  "INSERT INTO outbox(created_at, message_id, recipient, subject, body, "
                                  "next_attempt_s) VALUES ('Thu, 03 Dec 2026 14:00:00 +0000', '<t@polydaq.invalid>', "
                                  "'amy@a.example', 'S\xc3\xbc', 'text', 0)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    struct mail_sender *ms;
    struct pd_err err;
    pd_err_clear(&err);
    assert_int_equal(mail_sender_start(tmp_dir, "ftp://127.0.0.1:1", "lab@a.example", &ms, &err), PD_ECONFIG);
    assert_int_equal(mail_sender_start(tmp_dir, "smtp://127.0.0.1:1", "lab", &ms, &err), PD_ECONFIG);
    assert_int_equal(mail_sender_start(tmp_dir, "smtp://127.0.0.1:1", "lab@a.example", &ms, &err), 0);
    int attempts = 0;
    for (int i = 0; i < 600 && attempts == 0; i++) { /* port 1 refuses at once; valgrind is slow to get there */
        pd_clock_sleep_ns(50 * 1000 * 1000);
        sqlite3_stmt *st;
        assert_int_equal(db_prepare(db, "SELECT attempts FROM outbox WHERE message_id = '<t@polydaq.invalid>'", &st,
                                    NULL),
                         0);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        attempts = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    mail_sender_stop(ms);
    assert_true(attempts >= 1);
    sqlite3_stmt *st;
    assert_int_equal(db_prepare(db, "SELECT sent_at IS NULL, last_error IS NOT NULL, next_attempt_s > 0 FROM outbox",
                                &st, NULL),
                     0);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    assert_int_equal(sqlite3_column_int(st, 1), 1);
    assert_int_equal(sqlite3_column_int(st, 2), 1);
    sqlite3_finalize(st);
    pd_srvdb_close(db);
}

/* A request whose body arrives after the stop began is still answered, then the server ends. */
struct slow_client {
    int fd;
    struct srv_answer ans;
};
static void *finish_slow(void *arg)
{
    struct slow_client *c = arg;
    srv_read_answer(c->fd, &c->ans);
    return NULL;
}

static void *stop_server(void *arg)
{
    pd_server_stop(arg, 60000);
    return NULL;
}

/* The certificate lists are JSON text made by SQLite (certs.c): each element must equal the
 * certificate's own answer (made with jansson), for a member (its company's issued ones) and for
 * staff (all), with NULLs, quotes, backslashes, a tab and non-ASCII text in the values. */
static void check_list_against_items(int who, const char *path, int want)
{
    struct srv_answer ans;
    call("GET", path, who, false, NULL, NULL, &ans);
    assert_int_equal(ans.status, 200);
    assert_non_null(strstr(ans.headers, "Content-Type: application/json; charset=utf-8"));
    json_error_t e;
    json_t *list = json_loads(ans.body, JSON_REJECT_DUPLICATES, &e);
    assert_non_null(list);
    json_t *items = json_object_get(list, "certificates");
    assert_int_equal(json_object_size(list), 1);
    assert_int_equal(json_array_size(items), (size_t)want);
    int64_t previous = INT64_MAX;
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *item = json_array_get(items, i);
        int64_t number = json_integer_value(json_object_get(item, "number"));
        assert_true(number < previous); /* newest first */
        previous = number;
        char one[64];
        snprintf(one, sizeof one, "/api/v1/certificates/%lld", (long long)number);
        struct srv_answer single;
        call("GET", one, who, false, NULL, NULL, &single);
        assert_int_equal(single.status, 200);
        json_t *expected = json_loads(single.body, 0, &e);
        assert_non_null(expected);
        assert_true(json_equal(item, expected));
        json_decref(expected);
    }
    json_decref(list);
}

static void test_certificate_list(void **state)
{
    (void)state;
    struct pd_srvdb *db;
    assert_int_equal(db_connect(tmp_dir, &db, NULL), 0);
    exec_sql_on(db, "INSERT INTO requests(id, member_id, submitted_by, material, specification, methods, specimens, "
                    "conditioning, due_date, customer_reference, notes, decision_rule, state, submitted_at) VALUES "
                    "(9001, 1, 1, 'm', '', '[]', 1, '', '2099-01-01', '', '', 'r', 'issued', 'now'), "
                    "(9002, 2, 2, 'm', '', '[]', 1, '', '2099-01-01', '', '', 'r', 'issued', 'now')");
    exec_sql_on(db, "INSERT INTO certificates(number, request_id, specification, status, replaces, drafted_by, "
                    "drafted_at, reviewed_by, authorized_by, issued_at, reason) VALUES "
                    "(900001, 9001, 'pp.yaml', 'withdrawn', NULL, 4, 'd1', 3, 3, 'i1', "
                    "'a \"quoted\" \\ back' || char(9) || 'slash, Prüfung ✓'), "
                    "(900002, 9001, 'pp.yaml', 'superseded', NULL, 4, 'd2', 3, 3, 'i2', 'typo'), "
                    "(900003, 9001, 'pp.yaml', 'issued', 900002, 4, 'd3', 3, 3, 'i3', NULL), "
                    "(900004, 9001, 'pp.yaml', 'draft', NULL, 4, 'd4', NULL, NULL, NULL, NULL), "
                    "(900005, 9002, 'pp.yaml', 'issued', NULL, 4, 'd5', 3, 3, 'i5', NULL)");
    pd_srvdb_close(db);
    check_list_against_items(1, "/api/v1/certificates", 3);                 /* amy: A's, issued or later */
    check_list_against_items(1, "/api/v1/requests/9001/certificates", 3);
    check_list_against_items(2, "/api/v1/certificates", 1);                 /* ben: B's */
    check_list_against_items(3, "/api/v1/certificates", 5);                 /* rae: every one, drafts too */
    check_list_against_items(4, "/api/v1/requests/9001/certificates", 4);
    struct srv_answer ans;
    call("GET", "/api/v1/requests/9001/certificates", 2, false, NULL, NULL, &ans);
    assert_int_equal(ans.status, 404); /* another company's request */
}

static void test_stop_finishes_in_flight(void **state)
{
    (void)state;
    char head[512];
    unsigned char id[32];
    size_t len;
    assert_int_equal(sodium_hex2bin(id, 32, cookie[1], 64, NULL, &len, NULL), 0);
    char token[65];
    session_csrf_token(id, token);
    const char *body = NEW_REQUEST;
    int n = snprintf(head, sizeof head,
                     "POST /api/v1/requests HTTP/1.1\r\nHost: t\r\nConnection: close\r\nCookie: pd_session=%s\r\n"
                     "X-CSRF-Token: %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     cookie[1], token, strlen(body));
    struct slow_client c = {.fd = srv_connect(port)};
    assert_int_equal(write(c.fd, head, (size_t)n), n);
    assert_int_equal(write(c.fd, body, 10), 10);
    /* Wait until the server has the request's head (it is in flight), so the stop sees it. */
    for (int i = 0; i < 2000 && srv_in_flight(srv) < 1; i++)
        pd_clock_sleep_ns(5 * 1000 * 1000);
    assert_int_equal(srv_in_flight(srv), 1);
    pthread_t reader, stopper;
    assert_int_equal(pthread_create(&reader, NULL, finish_slow, &c), 0);
    struct pd_server *s = srv;
    srv = NULL;
    assert_int_equal(pthread_create(&stopper, NULL, stop_server, s), 0);
    for (int i = 0; i < 2000 && !srv_stopping(s); i++)
        pd_clock_sleep_ns(5 * 1000 * 1000);
    assert_true(srv_stopping(s)); /* the stop waits for the request */
    /* A connection made now is closed unanswered (refuse_when_stopping), not left waiting. */
    int late = srv_connect(port);
    srv_send(late, "GET", "/api/v1/me", NULL, false, NULL, NULL, 0);
    char byte;
    assert_true(srv_readable(late, 5000));
    assert_true(read(late, &byte, 1) <= 0);
    close(late);
    /* The request in flight gets its body now, and its answer. */
    assert_int_equal(write(c.fd, body + 10, strlen(body) - 10), (ssize_t)(strlen(body) - 10));
    pthread_join(stopper, NULL);
    pthread_join(reader, NULL);
    assert_int_equal(c.ans.status, 201);
}

/* Stops under traffic: clients keep connecting and asking while the server is stopped, round after
 * round. libmicrohttpd's own quiesce (the stop's gate until CI caught it) raced the epoll workers
 * and aborted the process ("Failed to remove listen FD from epoll set"); the race is rare: by hand,
 * PD_TEST_STOP_ROUNDS=3000 aborted that build 5 times in 5 (0 in 10 at 200 rounds), so the
 * default rounds here are a smoke test of the stop under load, and PD_TEST_STOP_ROUNDS the hunt. */
struct hammer {
    uint16_t port;
    atomic_bool done;
    atomic_int answered;
};
/* A client thread: its own socket calls, not srv_connect/srv_read_answer, whose cmocka asserts
 * belong on the test's thread, and a refused or closed connection is expected here. */
static void *hammer_server(void *arg)
{
    struct hammer *h = arg;
    static const char get[] = "GET /api/v1/me HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    while (!atomic_load(&h->done)) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            break;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(h->port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        char buf[4096];
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
            send(fd, get, sizeof get - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof get - 1) && srv_readable(fd, 5000) &&
            read(fd, buf, sizeof buf) > 0)
            atomic_fetch_add(&h->answered, 1);
        close(fd);
    }
    return NULL;
}

static void test_stop_under_traffic(void **state)
{
    (void)state;
    enum { CLIENTS = 4 };
    const char *env = getenv("PD_TEST_STOP_ROUNDS"); /* more rounds by hand, to hunt a rare race */
    int rounds = env ? atoi(env) : 12, answered = 0;
    for (int round = 0; round < rounds; round++) {
        struct pd_server_options opt = {.listen_addr = "127.0.0.1", .port = 0, .data_dir = tmp_dir, .threads = 4};
        struct pd_server *s = NULL;
        assert_int_equal(pd_server_start(&opt, &s, NULL), 0);
        struct hammer h = {.port = pd_server_port(s)};
        pthread_t client[CLIENTS];
        for (int i = 0; i < CLIENTS; i++)
            assert_int_equal(pthread_create(&client[i], NULL, hammer_server, &h), 0);
        /* Stop once the workers are busy: answers have started coming (bound: 10 s, for valgrind). */
        for (int i = 0; i < 10000 && atomic_load(&h.answered) < 8; i++)
            pd_clock_sleep_ns(1000 * 1000);
        pd_server_stop(s, 2000);
        atomic_store(&h.done, true);
        for (int i = 0; i < CLIENTS; i++)
            pthread_join(client[i], NULL);
        answered += atomic_load(&h.answered) >= 8;
    }
    assert_int_equal(answered, rounds); /* every round was stopped with traffic in flight */
}

static void test_access_log(void **state)
{
    (void)state;
    bool saw_quoted = false;
    fflush(access_log);
    FILE *f = fopen(log_path, "r");
    assert_non_null(f);
    char line[2048];
    int lines = 0;
    bool saw_user = false;
    while (fgets(line, sizeof line, f)) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        assert_non_null(j);
        assert_non_null(json_object_get(j, "status"));
        assert_non_null(json_object_get(j, "duration_ms"));
        if (json_integer_value(json_object_get(j, "user")) == 3)
            saw_user = true;
        const char *path = json_string_value(json_object_get(j, "path"));
        if (path && strcmp(path, "/api/v1/\"q\\x") == 0) {
            saw_quoted = true;
            assert_int_equal(json_integer_value(json_object_get(j, "status")), 404);
            assert_true(json_is_null(json_object_get(j, "user")));
            assert_true(json_is_real(json_object_get(j, "duration_ms")));
        }
        json_decref(j);
        for (int i = 1; i <= 4; i++)
            assert_null(strstr(line, cookie[i]));
        assert_null(strstr(line, "amy-password"));
        lines++;
    }
    fclose(f);
    assert_true(lines >= 20);
    assert_true(saw_user);
    assert_true(saw_quoted);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_and_headers), cmocka_unit_test(test_dispatch_order),
        cmocka_unit_test(test_request_cycle_and_scope), cmocka_unit_test(test_items_labels_complaints),
        cmocka_unit_test(test_certificate_list), cmocka_unit_test(test_stop_finishes_in_flight),
        cmocka_unit_test(test_access_log), cmocka_unit_test(test_stop_under_traffic),
        cmocka_unit_test(test_mail_sender_retries),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
