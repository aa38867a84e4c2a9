/*
 * srv_db.h — the server unit tests' temporary data folder and the databases opened in it: a fresh
 * folder per test program (srv_tmp_setup / srv_tmp_teardown as cmocka group fixtures, or called
 * first and last by a program's own fixtures), a database per test in a sub-folder, the two
 * queries the tests check with, sessions made by hand, and the HTTP client that speaks to the
 * in-process server over a real loopback socket. Header only (static inline): it uses the
 * server's internal API, which each server test links and pd_testutil does not.
 */
#ifndef PD_TEST_SRV_DB_H
#define PD_TEST_SRV_DB_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/tmp_dir.h"
#include "server/internal.h"

/* The folder: /tmp/pd-srvtest-XXXXXX once made. The short names (tmp_dir, open_db, count,
 * exec_sql) are the ones the server tests were written with. */
static char tmp_dir[64];

static inline int srv_tmp_setup(void **state)
{
    (void)state;
    return pd_test_tmp_make(tmp_dir, sizeof tmp_dir, "srvtest");
}

/* Removes the folder and everything in it. */
static inline int srv_tmp_teardown(void **state)
{
    (void)state;
    return tmp_dir[0] ? pd_test_tmp_remove(tmp_dir) : 0;
}

/* A server on a free loopback port over the temporary folder (access log: NULL for none), two
 * threads: its port, 0 when it did not start (then *srv is NULL). */
static inline uint16_t srv_tmp_serve(struct pd_server **srv, FILE *access_log)
{
    struct pd_server_options opt = {.listen_addr = "127.0.0.1", .port = 0, .data_dir = tmp_dir, .threads = 2,
                                    .access_log = access_log};
    *srv = NULL;
    if (pd_server_start(&opt, srv, NULL) < 0)
        return 0;
    return pd_server_port(*srv);
}

/* A database (schema current) in the sub-folder `name` of the temporary folder. */
static inline struct pd_srvdb *open_db(const char *name)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/%s", tmp_dir, name);
    struct pd_srvdb *db = NULL;
    struct pd_err err;
    pd_err_clear(&err);
    assert_int_equal(db_connect(dir, &db, &err), 0);
    return db;
}

/* The first column of the first row of `sql` (a count, a flag). */
static inline int64_t count(struct pd_srvdb *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(db_prepare(db, sql, &st, NULL), 0);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* Runs `sql` as it is, for setting up rows or attacking the schema: SQLite's result code. */
static inline int exec_sql(struct pd_srvdb *db, const char *sql)
{
    return sqlite3_exec(db->h, sql, NULL, NULL, NULL);
}
static inline void exec_ok(struct pd_srvdb *db, const char *sql)
{
    assert_int_equal(exec_sql(db, sql), SQLITE_OK);
}

/* A session of user `user_id` written straight into the database (no Argon2id login: the tests
 * stay fast under valgrind); its cookie value (64 hex digits) in `cookie`. */
static inline void srv_add_session(struct pd_srvdb *db, char cookie[65], int64_t user_id)
{
    unsigned char id[32];
    randombytes_buf(id, sizeof id);
    sodium_bin2hex(cookie, 65, id, sizeof id);
    unsigned char digest[32];
    crypto_hash_sha256(digest, id, sizeof id);
    char hash[65], sql[300];
    sodium_bin2hex(hash, sizeof hash, digest, sizeof digest);
    snprintf(sql, sizeof sql,
             "INSERT INTO sessions VALUES ('%s', %lld, strftime('%%s','now'), strftime('%%s','now'), 't')", hash,
             (long long)user_id);
    assert_int_equal(sqlite3_exec(db->h, sql, NULL, NULL, NULL), SQLITE_OK);
}

/* ---- HTTP to the in-process server: one request per connection, raw bytes on a real socket ---- */
#define SRV_HANG_BOUND_MS 20000 /* only against a hang: nothing here is timed */

struct srv_answer {
    int status;
    char headers[4096];
    char body[32768];
};

static inline int srv_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Sends a request on `fd`: with session `cookie` (NULL: none) and its CSRF token when `csrf`, a
 * Content-Type `ctype` and `body_len` bytes of `body` when they are given. */
static inline void srv_send(int fd, const char *method, const char *path, const char *cookie, bool csrf,
                            const char *ctype, const char *body, size_t body_len)
{
    size_t size = 1024 + strlen(path) + (ctype ? strlen(ctype) : 0);
    char *head = malloc(size);
    assert_non_null(head);
    int n = snprintf(head, size, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n", method, path);
    if (cookie) {
        n += snprintf(head + n, size - (size_t)n, "Cookie: pd_session=%s\r\n", cookie);
        if (csrf) {
            unsigned char id[32];
            size_t len;
            assert_int_equal(sodium_hex2bin(id, 32, cookie, 64, NULL, &len, NULL), 0);
            char token[65];
            session_csrf_token(id, token);
            n += snprintf(head + n, size - (size_t)n, "X-CSRF-Token: %s\r\n", token);
        }
    }
    if (ctype)
        n += snprintf(head + n, size - (size_t)n, "Content-Type: %s\r\n", ctype);
    if (body)
        n += snprintf(head + n, size - (size_t)n, "Content-Length: %zu\r\n", body_len);
    n += snprintf(head + n, size - (size_t)n, "\r\n");
    assert_true((size_t)n < size);
    assert_int_equal(send(fd, head, (size_t)n, MSG_NOSIGNAL), n);
    free(head);
    if (body && body_len)
        assert_int_equal(send(fd, body, body_len, MSG_NOSIGNAL), (ssize_t)body_len);
}

/* Whether `fd` has something to read within `ms`. */
static inline bool srv_readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) > 0;
}

/* Reads the whole answer on `fd` (the server closes it) and closes `fd`: status, headers, body. */
static inline void srv_read_answer(int fd, struct srv_answer *ans)
{
    static char buf[65536];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && srv_readable(fd, SRV_HANG_BOUND_MS) && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(fd);
    memset(ans, 0, sizeof *ans);
    assert_int_equal(sscanf(buf, "HTTP/1.1 %d", &ans->status), 1);
    char *end = strstr(buf, "\r\n\r\n");
    assert_non_null(end);
    *end = '\0';
    pd_strlcpy(ans->headers, buf, sizeof ans->headers);
    pd_strlcpy(ans->body, end + 4, sizeof ans->body);
}

/* One request and its answer (srv_send's arguments). */
static inline void srv_call(uint16_t port, const char *method, const char *path, const char *cookie, bool csrf,
                            const char *ctype, const char *body, size_t body_len, struct srv_answer *ans)
{
    int fd = srv_connect(port);
    srv_send(fd, method, path, cookie, csrf, ctype, body, body_len);
    srv_read_answer(fd, ans);
}

#endif /* PD_TEST_SRV_DB_H */
