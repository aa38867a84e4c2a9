/* server_static_test.c — the web interface's files as the server hands them out (static.c): the
 * names a {file} segment may take, each compiled-in file served byte for byte as in
 * src/server/web/ with its content type and the security headers, every page address answered
 * with the HTML shell, and no listing, traversal, hidden or unknown file — over real sockets to
 * an in-process server, so valgrind and the sanitizers see the path. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/srv_db.h"
#include "server/internal.h"

static struct pd_server *srv;
static uint16_t port;

struct answer {
    int status;
    char headers[4096];
    char *body;
    size_t body_len;
};

/* GET (or `method`) `path` exactly as written, Connection: close; the whole answer read. */
static void fetch(const char *method, const char *path, struct answer *ans)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char req[1024];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                     method, path);
    assert_int_equal(write(fd, req, (size_t)n), n);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    ssize_t r;
    while ((r = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)r;
        if (cap - len < 1024) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    close(fd);
    buf[len] = '\0';
    memset(ans, 0, sizeof *ans);
    assert_int_equal(sscanf(buf, "HTTP/1.1 %d", &ans->status), 1);
    char *end = strstr(buf, "\r\n\r\n");
    assert_non_null(end);
    *end = '\0';
    pd_strlcpy(ans->headers, buf, sizeof ans->headers);
    ans->body_len = len - (size_t)(end + 4 - buf);
    ans->body = malloc(ans->body_len + 1);
    assert_non_null(ans->body);
    memcpy(ans->body, end + 4, ans->body_len + 1);
    free(buf);
}

static bool has_header(const struct answer *ans, const char *line)
{
    return strstr(ans->headers, line) != NULL;
}

static char *read_source(const char *name, size_t *len)
{
    char path[600];
    snprintf(path, sizeof path, "%s/src/server/web/%s", PD_SOURCE_DIR, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)n + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return data;
}

static void test_file_names(void **state)
{
    (void)state;
    const char *good[] = {"app.js", "style.css", "a", "favicon.svg", "x-1_2.min.js", "0.png"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(static_name_ok(good[i], strlen(good[i])));
    const char *bad[] = {"",    ".",     "..",   ".hidden", "-rf", "a..b", "..js", "App.js",
                         "a/b", "a%2fb", "a\\b", "a b",     "a;b", "a:b",  "~a",   "a\nb"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (static_name_ok(bad[i], strlen(bad[i])))
            fail_msg("'%s' was accepted as a file name", bad[i]);
    }
    assert_false(static_name_ok("a\0b", 3)); /* a NUL inside the segment */
    char longest[66];
    memset(longest, 'a', 65);
    longest[65] = '\0';
    assert_false(static_name_ok(longest, 65));
    assert_true(static_name_ok(longest, 64));
}

static void test_files_served_as_written(void **state)
{
    (void)state;
    static const struct {
        const char *name, *type;
    } files[] = {
        {"index.html", "Content-Type: text/html; charset=utf-8"},
        {"app.js", "Content-Type: text/javascript; charset=utf-8"},
        {"api.js", "Content-Type: text/javascript; charset=utf-8"},
        {"dom.js", "Content-Type: text/javascript; charset=utf-8"},
        {"style.css", "Content-Type: text/css; charset=utf-8"},
        {"favicon.svg", "Content-Type: image/svg+xml"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[100];
        snprintf(path, sizeof path, "/web/%s", files[i].name);
        struct answer ans;
        fetch("GET", path, &ans);
        size_t len;
        char *want = read_source(files[i].name, &len);
        assert_int_equal(ans.status, 200);
        assert_int_equal(ans.body_len, len);
        assert_memory_equal(ans.body, want, len);
        if (!has_header(&ans, files[i].type))
            fail_msg("%s: headers\n%s", path, ans.headers);
        assert_true(has_header(&ans, "Content-Security-Policy: default-src 'self'; frame-ancestors 'none'"));
        assert_true(has_header(&ans, "X-Content-Type-Options: nosniff"));
        free(want);
        free(ans.body);
    }
}

static void test_pages_get_the_shell(void **state)
{
    (void)state;
    size_t len;
    char *shell = read_source("index.html", &len);
    const char *pages[] = {"/",      "/login",   "/login?expired=1", "/requests",      "/requests/new", "/requests/42",
                           "/admin", "/items/7", "/complaints",      "/complaints/new", "/complaints/3"};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        struct answer ans;
        fetch("GET", pages[i], &ans);
        if (ans.status != 200 || ans.body_len != len || memcmp(ans.body, shell, len) != 0)
            fail_msg("%s: %d, %zu bytes", pages[i], ans.status, ans.body_len);
        assert_true(has_header(&ans, "Content-Type: text/html; charset=utf-8"));
        free(ans.body);
    }
    free(shell);
}

static void test_nothing_else(void **state)
{
    (void)state;
    const char *paths[] = {"/web/",
                           "/web",
                           "/web/nope.js",
                           "/web/../server.sqlite",
                           "/web/%2e%2e/server.sqlite",
                           "/web/..%2fserver.sqlite",
                           "/web/%2e%2e%2fserver.sqlite",
                           "/web/.hidden",
                           "/web/APP.JS",
                           "/web/app.js%00.png",
                           "/web/app.js/",
                           "/web//app.js",
                           "/web/app.js/x",
                           "/web/..",
                           "/web/server.sqlite",
                           "/web/index",
                           "/requests/01",
                           "/requests/x",
                           "/login/",
                           "/../etc/passwd",
                           "/etc/passwd",
                           "/web/%2fetc%2fpasswd"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct answer ans;
        fetch("GET", paths[i], &ans);
        if (ans.status != 404 || !has_header(&ans, "Content-Type: application/json"))
            fail_msg("%s: %d\n%s", paths[i], ans.status, ans.headers);
        free(ans.body);
    }
    struct answer ans;
    fetch("POST", "/web/app.js", &ans); /* files are read only */
    assert_int_equal(ans.status, 405);
    assert_true(has_header(&ans, "Allow: GET"));
    free(ans.body);
}

static int setup(void **state)
{
    if (srv_tmp_setup(state) < 0)
        return -1;
    port = srv_tmp_serve(&srv, NULL);
    return port ? 0 : -1;
}

static int teardown(void **state)
{
    if (srv)
        pd_server_stop(srv, 5000);
    return srv_tmp_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_names),
        cmocka_unit_test(test_files_served_as_written),
        cmocka_unit_test(test_pages_get_the_shell),
        cmocka_unit_test(test_nothing_else),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
