/* transport_test.c — the byte-stream transports on real ptys and loopback TCP: backend choice,
 * line framing (terminators, partial lines, endless lines, NUL bytes), timeouts, flushing,
 * request timing, a vanished peer, escapes, the config section. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>

#include "transport/transport.h"

/* A pty: the test plays the device on the master, the transport opens the slave by its path. */
struct pty {
    int master;
    char path[64];
};

static void pty_open(struct pty *p)
{
    p->master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(p->master >= 0);
    assert_int_equal(grantpt(p->master), 0);
    assert_int_equal(unlockpt(p->master), 0);
    snprintf(p->path, sizeof p->path, "%s", ptsname(p->master));
}

static void dev_write(int fd, const char *s, size_t n)
{
    assert_int_equal(write(fd, s, n), (ssize_t)n);
}

static struct pd_transport *open_ok(const char *name)
{
    struct pd_transport *t = NULL;
    struct pd_err err;
    int rc = pd_transport_open(name, NULL, 1000, &t, &err);
    if (rc != 0)
        fail_msg("open %s: %s", name, err.msg);
    return t;
}

static void test_classify(void **state)
{
    (void)state;
    enum pd_transport_kind k;
    struct pd_err err;
    assert_int_equal(pd_transport_classify("tcp-raw://127.0.0.1:4001", &k, &err), 0);
    assert_int_equal(k, PD_TRANSPORT_TCP_RAW);
    assert_int_equal(pd_transport_classify("tcp-raw://[::1]:4001", &k, &err), 0);
    assert_int_equal(pd_transport_classify("tcp-raw://host", &k, &err), PD_EINVAL);
    assert_non_null(strstr(err.msg, "tcp-raw://HOST:PORT"));
    assert_int_equal(pd_transport_classify("tcp-raw://h:70000", &k, &err), PD_EINVAL);
    assert_int_equal(pd_transport_classify("", &k, &err), PD_EINVAL);
    struct pty p;
    pty_open(&p);
    /* libserialport 0.1.1 refuses ptys by name: they go to termios */
    assert_int_equal(pd_transport_classify(p.path, &k, &err), 0);
    assert_int_equal(k, PD_TRANSPORT_TTY);
    close(p.master);
}

static void test_open_errors(void **state)
{
    (void)state;
    struct pd_transport *t = NULL;
    struct pd_err err;
    assert_int_equal(pd_transport_open("/dev/pts/999999", NULL, 100, &t, &err), PD_EIO);
    assert_null(t);
    assert_non_null(strstr(err.msg, "/dev/pts/999999"));
    /* a file that is not a tty */
    assert_int_equal(pd_transport_open("/dev/null", NULL, 100, &t, &err), PD_ECONFIG);
    assert_non_null(strstr(err.msg, "not a serial port"));
    assert_int_equal(pd_transport_open("tcp-raw://127.0.0.1:0", NULL, 100, &t, &err), PD_ESTATE);
    struct pd_serial_params sp;
    pd_serial_params_default(&sp);
    sp.baud = 12345;
    struct pty p;
    pty_open(&p);
    assert_int_equal(pd_transport_open(p.path, &sp, 100, &t, &err), PD_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "12345"));
    sp.baud = 9600;
    sp.data_bits = 9;
    assert_int_equal(pd_transport_open(p.path, &sp, 100, &t, &err), PD_EINVAL);
    close(p.master);
}

static void test_pty_lines(void **state)
{
    (void)state;
    struct pty p;
    pty_open(&p);
    struct pd_transport *t = open_ok(p.path);
    assert_int_equal(pd_transport_kind_of(t), PD_TRANSPORT_TTY);
    char line[300];
    size_t len;
    struct pd_err err;
    /* two lines in one chunk, then a line in pieces */
    dev_write(p.master, "S S 1.0 g\r\nZ A\r\nT S", 19);
    assert_int_equal(pd_transport_read_line(t, line, sizeof line, &len, 500, &err), 0);
    assert_string_equal(line, "S S 1.0 g");
    assert_int_equal(len, 9);
    assert_int_equal(pd_transport_read_line(t, line, sizeof line, &len, 500, &err), 0);
    assert_string_equal(line, "Z A");
    /* partial line: timeout, bytes kept */
    assert_int_equal(pd_transport_read_line(t, line, sizeof line, &len, 50, &err), PD_ETIMEOUT);
    assert_non_null(strstr(err.msg, "partial"));
    dev_write(p.master, " 2.5 g\r\n", 8);
    assert_int_equal(pd_transport_read_line(t, line, sizeof line, &len, 500, &err), 0);
    assert_string_equal(line, "T S 2.5 g");
    /* a lone LF also ends a CR LF line */
    dev_write(p.master, "ES\n", 3);
    assert_int_equal(pd_transport_read_line(t, line, sizeof line, &len, 500, &err), 0);
    assert_string_equal(line, "ES");
    /* NUL inside a line */
    dev_write(p.master, "A\0B\r\nok\r\n", 9);
    assert_int_equal(pd_transport_read_line(t, line, sizeof line, &len, 500, &err), PD_EPROTO);
    assert_non_null(strstr(err.msg, "NUL"));
    assert_int_equal(pd_transport_read_line(t, line, sizeof line, &len, 500, &err), 0);
    assert_string_equal(line, "ok");
    struct pd_transport_stats st;
    pd_transport_stats(t, &st);
    assert_int_equal(st.lines, 5);
    assert_int_equal(st.nul_lines, 1);
    assert_int_equal(st.timeouts, 1);
    pd_transport_close(t);
    close(p.master);
}

static void test_endless_line(void **state)
{
    (void)state;
    struct pty p;
    pty_open(&p);
    struct pd_transport *t = open_ok(p.path);
    struct pd_err err;
    assert_int_equal(pd_transport_set_framing(t, "\r\n", 32, &err), 0);
    assert_int_equal(pd_transport_set_framing(t, "", 32, &err), PD_EINVAL);
    assert_int_equal(pd_transport_set_framing(t, "\r\n", 0, &err), PD_EINVAL);
    char junk[2000];
    memset(junk, 'x', sizeof junk);
    dev_write(p.master, junk, sizeof junk);
    char line[64];
    size_t len;
    assert_int_equal(pd_transport_read_line(t, line, sizeof line, &len, 500, &err), PD_EPROTO);
    assert_non_null(strstr(err.msg, "no line terminator within 32 bytes"));
    assert_non_null(strstr(err.msg, p.path));
    dev_write(p.master, "xxxx\r\nnext\r\n", 12);
    /* the rest of the endless line is skipped, the next line is intact */
    assert_int_equal(pd_transport_read_line(t, line, sizeof line, &len, 500, &err), 0);
    assert_string_equal(line, "next");
    /* a complete line longer than the maximum is also refused */
    memset(junk, 'y', 40);
    dev_write(p.master, junk, 33);
    dev_write(p.master, "\r\n", 2);
    assert_int_equal(pd_transport_read_line(t, line, sizeof line, &len, 500, &err), PD_EPROTO);
    /* a line that does not fit the caller's buffer */
    dev_write(p.master, "0123456789\r\n", 12);
    assert_int_equal(pd_transport_read_line(t, line, 5, &len, 500, &err), PD_EINVAL);
    pd_transport_close(t);
    close(p.master);
}

static void test_flush_and_read(void **state)
{
    (void)state;
    struct pty p;
    pty_open(&p);
    struct pd_transport *t = open_ok(p.path);
    struct pd_err err;
    dev_write(p.master, "stale\r\nold", 10);
    char buf[32];
    size_t got;
    assert_int_equal(pd_transport_read(t, buf, 3, &got, 500, &err), 0);
    assert_int_equal(got, 3);
    assert_memory_equal(buf, "sta", 3);
    usleep(20000);
    long flushed = pd_transport_flush_input(t, 20, &err);
    assert_int_equal(flushed, 7);
    assert_int_equal(pd_transport_read(t, buf, sizeof buf, &got, 30, &err), PD_ETIMEOUT);
    pd_transport_close(t);
    close(p.master);
}

/* The device side of a request test: answers the first request after a delay. */
struct responder {
    int fd;
    int delay_ms;
    int cr_ends; /* the request ends at CR (else at LF) */
    char request[64];
    const char *reply;
};

static void *respond(void *arg)
{
    struct responder *r = arg;
    size_t n = 0;
    while (n < sizeof r->request - 1) {
        ssize_t k = read(r->fd, r->request + n, 1);
        if (k <= 0)
            break;
        char c = r->request[n++];
        if (c == '\n' || (c == '\r' && r->cr_ends))
            break;
    }
    r->request[n] = '\0';
    usleep((useconds_t)r->delay_ms * 1000);
    if (write(r->fd, r->reply, strlen(r->reply)) < 0)
        return NULL;
    return NULL;
}

static void test_request_timing_pty(void **state)
{
    (void)state;
    struct pty p;
    pty_open(&p);
    struct pd_transport *t = open_ok(p.path);
    dev_write(p.master, "left over\r\n", 11); /* must be flushed, not taken as the answer */
    usleep(20000);
    struct responder r = {.fd = p.master, .delay_ms = 40, .reply = "I4 A \"123\"\r\n"};
    pthread_t th;
    pthread_create(&th, NULL, respond, &r);
    char line[64];
    size_t len;
    struct pd_exchange_time tm;
    struct pd_err err;
    assert_int_equal(pd_transport_request(t, "I4", line, sizeof line, &len, 1000, &tm, &err), 0);
    pthread_join(th, NULL);
    assert_string_equal(r.request, "I4\r\n");
    assert_string_equal(line, "I4 A \"123\"");
    assert_true(tm.received_ns - tm.sent_ns >= 40 * 1000000LL);
    assert_int_equal(tm.mid_ns, tm.sent_ns + tm.half_width_ns);
    assert_true(tm.half_width_ns * 2 <= tm.received_ns - tm.sent_ns);
    /* no answer */
    assert_int_equal(pd_transport_request(t, "S", line, sizeof line, &len, 50, &tm, &err), PD_ETIMEOUT);
    assert_non_null(strstr(err.msg, p.path));
    pd_transport_close(t);
    close(p.master);
}

static void test_pty_vanishes(void **state)
{
    (void)state;
    struct pty p;
    pty_open(&p);
    struct pd_transport *t = open_ok(p.path);
    close(p.master); /* the "USB adapter" is gone */
    char line[64];
    size_t len;
    struct pd_err err;
    int rc = pd_transport_read_line(t, line, sizeof line, &len, 200, &err);
    assert_int_equal(rc, PD_EIO);
    assert_non_null(strstr(err.msg, p.path));
    pd_transport_close(t);
}

static int listen_tcp(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_tcp_raw(void **state)
{
    (void)state;
    int port;
    int lfd = listen_tcp(&port);
    char name[64];
    snprintf(name, sizeof name, "tcp-raw://127.0.0.1:%d", port);
    struct pd_transport *t = open_ok(name);
    assert_int_equal(pd_transport_kind_of(t), PD_TRANSPORT_TCP_RAW);
    assert_string_equal(pd_transport_kind_name(PD_TRANSPORT_TCP_RAW), "tcp-raw");
    int dev = accept(lfd, NULL, NULL);
    assert_true(dev >= 0);
    struct responder r = {.fd = dev, .delay_ms = 5, .cr_ends = 1, .reply = "Z A\r"};
    pthread_t th;
    pthread_create(&th, NULL, respond, &r);
    struct pd_err err;
    assert_int_equal(pd_transport_set_framing(t, "\r", 64, &err), 0);
    char line[64];
    size_t len;
    assert_int_equal(pd_transport_request(t, "Z", line, sizeof line, &len, 1000, NULL, &err), 0);
    pthread_join(th, NULL);
    assert_string_equal(r.request, "Z\r");
    assert_string_equal(line, "Z A");
    /* peer closes: end of stream is a link error naming the address */
    close(dev);
    assert_int_equal(pd_transport_read_line(t, line, sizeof line, &len, 500, &err), PD_EIO);
    assert_non_null(strstr(err.msg, name));
    pd_transport_close(t);
    /* nobody listening */
    close(lfd);
    assert_int_equal(pd_transport_open(name, NULL, 500, &t, &err), PD_EIO);
    assert_non_null(strstr(err.msg, "cannot connect"));
}

static void test_escapes(void **state)
{
    (void)state;
    char out[64];
    pd_transport_escape("S S\r\n\x01\\", 7, out, sizeof out);
    assert_string_equal(out, "S S\\r\\n\\x01\\\\");
    pd_transport_escape("abcdefghijklmnop", 16, out, 10);
    assert_string_equal(out, "abcdef...");
    size_t len;
    assert_int_equal(pd_transport_unescape("\\r\\n", out, sizeof out, &len), 0);
    assert_int_equal(len, 2);
    assert_string_equal(out, "\r\n");
    assert_int_equal(pd_transport_unescape("\\x03", out, sizeof out, &len), 0);
    assert_int_equal(out[0], 3);
    assert_int_equal(pd_transport_unescape("\\q", out, sizeof out, &len), PD_EINVAL);
    assert_int_equal(pd_transport_unescape("\\x0", out, sizeof out, &len), PD_EINVAL);
    assert_int_equal(pd_transport_unescape("\\x00", out, sizeof out, &len), PD_EINVAL);
    assert_int_equal(pd_transport_unescape("abcdef", out, 4, &len), PD_EINVAL);
}

static void test_config_section(void **state)
{
    (void)state;
    static const char ok[] = "name: b\ntransport: /dev/pts/5\nbaud: 19200\nparity: even\nterminator: \"\\\\r\"\n";
    struct pd_cfg_doc *doc;
    struct pd_err err;
    assert_int_equal(pd_cfg_load_string("t.yaml", ok, strlen(ok), &doc, &err), 0);
    struct pd_transport_config c;
    assert_int_equal(pd_transport_config_decode(pd_cfg_root(doc), "\\r\\n", &c, &err), 0);
    assert_int_equal(c.serial.baud, 19200);
    assert_int_equal(c.serial.parity, PD_PARITY_EVEN);
    assert_string_equal(c.terminator, "\r");
    assert_int_equal(c.max_line, 256);
    pd_cfg_free(doc);

    static const char tcp_baud[] = "transport: tcp-raw://h:4001\nbaud: 9600\n";
    assert_int_equal(pd_cfg_load_string("t.yaml", tcp_baud, strlen(tcp_baud), &doc, &err), 0);
    assert_int_equal(pd_transport_config_decode(pd_cfg_root(doc), "\\r\\n", &c, &err), PD_ECONFIG);
    assert_non_null(strstr(err.msg, "t.yaml:2:7"));
    assert_non_null(strstr(err.msg, "device server"));
    pd_cfg_free(doc);

    static const char bad_parity[] = "transport: /dev/ttyS0\nparity: evn\n";
    assert_int_equal(pd_cfg_load_string("t.yaml", bad_parity, strlen(bad_parity), &doc, &err), 0);
    assert_int_equal(pd_transport_config_decode(pd_cfg_root(doc), "\\r\\n", &c, &err), PD_ECONFIG);
    assert_non_null(strstr(err.msg, "t.yaml:2:9"));
    pd_cfg_free(doc);

    static const char bad_addr[] = "transport: tcp-raw://nohost\n";
    assert_int_equal(pd_cfg_load_string("t.yaml", bad_addr, strlen(bad_addr), &doc, &err), 0);
    assert_int_equal(pd_transport_config_decode(pd_cfg_root(doc), "\\r\\n", &c, &err), PD_ECONFIG);
    assert_non_null(strstr(err.msg, "t.yaml:1:12"));
    pd_cfg_free(doc);
}

static void test_list_ports(void **state)
{
    (void)state;
    struct pd_port_info *ports = NULL;
    size_t n = 99;
    struct pd_err err;
    assert_int_equal(pd_transport_list_ports(&ports, &n, &err), 0);
    assert_non_null(ports);
    for (size_t i = 0; i < n; i++) {
        assert_true(ports[i].name[0] != '\0');
        assert_null(strstr(ports[i].name, "/dev/pts/")); /* ptys are never listed */
    }
    free(ports);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),       cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_pty_lines),      cmocka_unit_test(test_endless_line),
        cmocka_unit_test(test_flush_and_read), cmocka_unit_test(test_request_timing_pty),
        cmocka_unit_test(test_pty_vanishes),   cmocka_unit_test(test_tcp_raw),
        cmocka_unit_test(test_escapes),        cmocka_unit_test(test_config_section),
        cmocka_unit_test(test_list_ports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
