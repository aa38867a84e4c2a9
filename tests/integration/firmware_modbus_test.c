/* firmware_modbus_test.c — libmodbus as the master against polydaq-sim's own Modbus slave: TCP, RTU over a socat pty pair and over --rtu auto; every function and exception. */
#include <errno.h>
#include <fcntl.h>
#include <modbus.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "common/proc.h"

/* ---- processes ---------------------------------------------------------------------------- */

static pid_t g_sim = -1, g_socat = -1;
static int g_socat_err = -1; /* kept open: socat logs to it until it exits */

static int teardown(void **state)
{
    (void)state;
    pd_test_stop(&g_sim);
    pd_test_stop(&g_socat);
    if (g_socat_err >= 0)
        close(g_socat_err);
    g_socat_err = -1;
    return 0;
}

/* Starts `polydaq-sim ARGS...` and returns its announcement line. */
static void start_sim(const char *const *args, char *line, size_t size)
{
    g_sim = pd_test_start_sim(args, line, size);
    assert_true(g_sim > 0);
}

/* `socat -d -d pty,raw,echo=0 pty,raw,echo=0`: the two pty paths from its log. */
static void start_socat(char *a, char *b, size_t size)
{
    int err[2];
    assert_int_equal(pipe(err), 0);
    g_socat = fork();
    assert_true(g_socat >= 0);
    if (g_socat == 0) {
        dup2(err[1], STDERR_FILENO);
        close(err[0]);
        close(err[1]);
        execlp("socat", "socat", "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0", (char *)NULL);
        _exit(127);
    }
    close(err[1]);
    g_socat_err = err[0];
    char line[512];
    char *paths[2] = {a, b};
    int found = 0;
    while (found < 2 && pd_test_read_line(g_socat_err, line, sizeof line, 5000) >= 0) {
        char *p = strstr(line, "PTY is ");
        if (p) {
            snprintf(paths[found], size, "%s", p + strlen("PTY is "));
            found++;
        }
    }
    assert_int_equal(found, 2);
}

/* ---- the checks, the same over every transport -------------------------------------------- */

/* Sends a raw request (unit + PDU; libmodbus adds the header and CRC) and returns the response
 * PDU's first two bytes (function, first data byte), or -1 without an answer. */
static int raw_exchange(modbus_t *ctx, const uint8_t *req, int len, uint8_t *function, uint8_t *data0)
{
    assert_true(modbus_send_raw_request(ctx, req, len) > 0);
    uint8_t rsp[MODBUS_MAX_ADU_LENGTH];
    int n = modbus_receive_confirmation(ctx, rsp);
    if (n < 0)
        return -1;
    int offset = modbus_get_header_length(ctx);
    *function = rsp[offset];
    *data0 = rsp[offset + 1];
    return 0;
}

static void expect_exception(modbus_t *ctx, const uint8_t *req, int len, uint8_t code)
{
    uint8_t function = 0, data0 = 0;
    assert_int_equal(raw_exchange(ctx, req, len, &function, &data0), 0);
    assert_int_equal(function, req[1] | 0x80);
    assert_int_equal(data0, code);
}

static void check_all_functions(modbus_t *ctx)
{
    /* 04: identity block; 03: the default setup */
    uint16_t r[64];
    assert_int_equal(modbus_read_input_registers(ctx, 16, 6, r), 6);
    assert_int_equal(r[0], 0x0001);      /* fw 0.1 */
    assert_int_equal(r[2], 4242);        /* serial (low word) */
    assert_int_equal(r[3], 2026);
    assert_int_equal(modbus_read_registers(ctx, 8, 2, r), 2);
    assert_int_equal(r[0], 0x4120);      /* width 10.0f = 0x41200000 */
    assert_int_equal(r[1], 0x0000);
    /* 16 then 03: a speed, read back exactly */
    const uint16_t speed[2] = {0x4248, 0x0000}; /* 50.0f */
    assert_int_equal(modbus_write_registers(ctx, 4, 2, speed), 2);
    const uint16_t speed2[2] = {0x4220, 0x0000}; /* 40.0f */
    assert_int_equal(modbus_write_registers(ctx, 4, 2, speed2), 2);
    assert_int_equal(modbus_read_registers(ctx, 4, 2, r), 2);
    assert_int_equal(r[0], 0x4220);
    /* 06: tare is accepted while idle */
    assert_int_equal(modbus_write_register(ctx, 0, 4), 1);
    /* 17: kind byte, run indicator, text */
    uint8_t id[MODBUS_MAX_PDU_LENGTH];
    int n = modbus_report_slave_id(ctx, sizeof id, id);
    assert_int_equal(n, 2 + (int)strlen("polydaq LF-1 fw 0.1 SN 4242"));
    assert_int_equal(id[0], 0x4C);
    assert_int_equal(id[1], 0xFF);
    assert_memory_equal(id + 2, "polydaq LF-1 fw 0.1 SN 4242", (size_t)n - 2);
    /* the diagnostic test pattern: UINT32 0xDEADBEEF in ABCD and CDAB */
    assert_int_equal(modbus_read_input_registers(ctx, 100, 64, r), 64);
    assert_int_equal(r[4], 0xDEAD);
    assert_int_equal(r[5], 0xBEEF);
    assert_int_equal(r[16 + 4], 0xBEEF);
    assert_int_equal(r[16 + 5], 0xDEAD);

    /* 01 illegal function: read coils */
    uint8_t bits[8];
    errno = 0;
    assert_int_equal(modbus_read_bits(ctx, 0, 1, bits), -1);
    assert_int_equal(errno, EMBXILFUN);
    /* 02 illegal address: past the identity block, across a gap, half a FLOAT32 */
    assert_int_equal(modbus_read_input_registers(ctx, 20, 3, r), -1);
    assert_int_equal(errno, EMBXILADD);
    assert_int_equal(modbus_read_input_registers(ctx, 99, 2, r), -1);
    assert_int_equal(errno, EMBXILADD);
    assert_int_equal(modbus_write_register(ctx, 3, 1), -1);
    assert_int_equal(errno, EMBXILADD);
    /* 03 illegal value: a negative speed, an unknown command; and on the wire (libmodbus refuses
     * to send these itself): quantity 0, quantity 126, a byte count that does not match */
    const uint16_t negative[2] = {0xC040, 0x0000}; /* -3.0f */
    assert_int_equal(modbus_write_registers(ctx, 4, 2, negative), -1);
    assert_int_equal(errno, EMBXILVAL);
    assert_int_equal(modbus_write_register(ctx, 0, 99), -1);
    assert_int_equal(errno, EMBXILVAL);
    const uint8_t count0[] = {1, 0x03, 0x00, 0x00, 0x00, 0x00};
    expect_exception(ctx, count0, sizeof count0, 0x03);
    const uint8_t count126[] = {1, 0x04, 0x00, 0x00, 0x00, 0x7E};
    expect_exception(ctx, count126, sizeof count126, 0x03);
    const uint8_t bad_bytes[] = {1, 0x10, 0x00, 0x04, 0x00, 0x02, 0x03, 0x42, 0x20, 0x00};
    expect_exception(ctx, bad_bytes, sizeof bad_bytes, 0x03);
    /* 04 device failure: the fault probe */
    assert_int_equal(modbus_read_input_registers(ctx, 200, 1, r), -1);
    assert_int_equal(errno, EMBXSFAIL);
    /* 06 busy: start, then start again */
    assert_int_equal(modbus_write_register(ctx, 0, 1), 1);
    assert_int_equal(modbus_write_register(ctx, 0, 1), -1);
    assert_int_equal(errno, EMBXSBUSY);
    assert_int_equal(modbus_write_register(ctx, 0, 2), 1); /* stop */
    assert_int_equal(modbus_read_input_registers(ctx, 0, 1, r), 1);
    assert_int_equal(r[0], 3);
    /* nothing of the refused writes stuck */
    assert_int_equal(modbus_read_registers(ctx, 4, 2, r), 2);
    assert_int_equal(r[0], 0x4220);
}

static modbus_t *rtu_client(const char *path)
{
    modbus_t *ctx = modbus_new_rtu(path, 19200, 'E', 8, 1);
    assert_non_null(ctx);
    assert_int_equal(modbus_set_slave(ctx, 1), 0);
    assert_int_equal(modbus_set_response_timeout(ctx, 1, 0), 0);
    assert_int_equal(modbus_connect(ctx), 0);
    return ctx;
}

/* No answer comes for this raw RTU frame (bytes as given, CRC included) within 300 ms. */
static void expect_silence(int fd, const uint8_t *frame, size_t len)
{
    assert_int_equal(write(fd, frame, len), (ssize_t)len);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 300), 0);
}

static void check_rtu_line(modbus_t *ctx)
{
    check_all_functions(ctx);
    int fd = modbus_get_socket(ctx);
    /* garbage, a bad CRC, another slave, a truncated frame: all dropped without an answer */
    const uint8_t garbage[] = {0x55, 0xAA, 0x13};
    expect_silence(fd, garbage, sizeof garbage);
    const uint8_t bad_crc[] = {0x01, 0x03, 0x00, 0x00, 0x00, 0x02, 0xC4, 0x0C};
    expect_silence(fd, bad_crc, sizeof bad_crc);
    const uint8_t other_slave[] = {0x02, 0x06, 0x00, 0x00, 0x00, 0xFF, 0xC9, 0xB9};
    expect_silence(fd, other_slave, sizeof other_slave);
    const uint8_t truncated[] = {0x01, 0x03, 0x00, 0x00, 0x00};
    expect_silence(fd, truncated, sizeof truncated);
    /* ... and the next good request is answered */
    uint16_t r[2];
    assert_int_equal(modbus_read_input_registers(ctx, 16, 1, r), 1);
    assert_int_equal(r[0], 0x0001);

    /* broadcast: the write is carried out and never answered (libmodbus 3.1 still waits for an
     * answer to a broadcast, so for it this ends in a timeout) */
    assert_int_equal(modbus_set_slave(ctx, 0), 0);
    assert_int_equal(modbus_set_response_timeout(ctx, 0, 300000), 0);
    const uint16_t speed[2] = {0x41F0, 0x0000}; /* 30.0f */
    assert_int_equal(modbus_write_registers(ctx, 4, 2, speed), -1);
    assert_int_equal(errno, ETIMEDOUT);
    assert_int_equal(modbus_set_slave(ctx, 1), 0);
    assert_int_equal(modbus_read_registers(ctx, 4, 2, r), 2);
    assert_int_equal(r[0], 0x41F0);
    /* a read addressed to another unit times out */
    assert_int_equal(modbus_set_slave(ctx, 7), 0);
    assert_int_equal(modbus_set_response_timeout(ctx, 0, 300000), 0);
    assert_int_equal(modbus_read_input_registers(ctx, 0, 1, r), -1);
    assert_int_equal(errno, ETIMEDOUT);
    assert_int_equal(modbus_set_slave(ctx, 1), 0);
    assert_int_equal(modbus_flush(ctx) >= 0, 1);
    assert_int_equal(modbus_read_input_registers(ctx, 0, 1, r), 1);
}

static void test_tcp(void **state)
{
    (void)state;
    char line[256];
    const char *args[] = {"loadframe", "--tcp", "127.0.0.1:0", "--serial", "4242", "--time-scale", "5", NULL};
    start_sim(args, line, sizeof line);
    int port = 0;
    assert_int_equal(sscanf(line, "listening tcp://127.0.0.1:%d", &port), 1);
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", port);
    modbus_t *ctx = modbus_new_tcp_pi("127.0.0.1", port_text);
    assert_non_null(ctx);
    assert_int_equal(modbus_set_slave(ctx, 1), 0);
    assert_int_equal(modbus_connect(ctx), 0);
    check_all_functions(ctx);
    /* unit 7 behind a gateway: no answer */
    uint16_t r[1];
    assert_int_equal(modbus_set_slave(ctx, 7), 0);
    assert_int_equal(modbus_set_response_timeout(ctx, 0, 300000), 0);
    assert_int_equal(modbus_read_input_registers(ctx, 0, 1, r), -1);
    assert_int_equal(errno, ETIMEDOUT);
    modbus_close(ctx);
    modbus_free(ctx);

    /* a bad MBAP header (protocol id 1) closes the connection; the next client is served */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const uint8_t bad[] = {0x00, 0x01, 0x00, 0x01, 0x00, 0x06, 0x01, 0x04, 0x00, 0x00, 0x00, 0x01};
    assert_int_equal(send(fd, bad, sizeof bad, MSG_NOSIGNAL), (ssize_t)sizeof bad);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 2000), 1);
    uint8_t byte;
    assert_int_equal(recv(fd, &byte, 1, 0), 0); /* end of stream, no answer */
    close(fd);

    ctx = modbus_new_tcp_pi("127.0.0.1", port_text);
    assert_int_equal(modbus_set_slave(ctx, 255), 0);
    assert_int_equal(modbus_connect(ctx), 0);
    assert_int_equal(modbus_read_input_registers(ctx, 0, 1, r), 1);
    assert_int_equal(r[0], 3); /* still stopped from before: same instrument */
    modbus_close(ctx);
    modbus_free(ctx);
}

static void test_rtu_socat_pair(void **state)
{
    (void)state;
    char a[128], b[128];
    start_socat(a, b, sizeof a);
    char line[256];
    const char *args[] = {"loadframe", "--rtu", a, "--serial", "4242", "--time-scale", "5", NULL};
    start_sim(args, line, sizeof line);
    char want[160];
    snprintf(want, sizeof want, "listening rtu:%s", a);
    assert_string_equal(line, want);
    modbus_t *ctx = rtu_client(b);
    check_rtu_line(ctx);
    modbus_close(ctx);
    modbus_free(ctx);
}

static void test_rtu_auto(void **state)
{
    (void)state;
    char line[256];
    const char *args[] = {"loadframe", "--rtu", "auto", "--baud", "9600", "--parity", "N", "--stop-bits", "2",
                          "--serial", "4242", "--time-scale", "5", NULL};
    start_sim(args, line, sizeof line);
    char path[200];
    assert_int_equal(sscanf(line, "listening rtu:%199s", path), 1);
    assert_non_null(strstr(path, "/dev/pts/"));
    modbus_t *ctx = modbus_new_rtu(path, 9600, 'N', 8, 2);
    assert_non_null(ctx);
    assert_int_equal(modbus_set_slave(ctx, 1), 0);
    assert_int_equal(modbus_set_response_timeout(ctx, 1, 0), 0);
    assert_int_equal(modbus_connect(ctx), 0);
    check_rtu_line(ctx);
    modbus_close(ctx);
    modbus_free(ctx);
    /* the line stays up for the next master */
    ctx = rtu_client(path);
    uint16_t r[1];
    assert_int_equal(modbus_read_input_registers(ctx, 16, 1, r), 1);
    assert_int_equal(r[0], 0x0001);
    modbus_close(ctx);
    modbus_free(ctx);
}

static void test_bad_line_options(void **state)
{
    (void)state;
    const char *cases[][4] = {
        {"loadframe", "--rtu", "auto", "--parity"},          /* needs a value */
        {"loadframe", "--baud", "12345", NULL},              /* not a standard rate */
        {"chamber", "--tcp", "127.0.0.1:0", "--rtu"},        /* needs a value */
        {"pendulum", "--parity", "X", NULL},
        {"chamber", "--stop-bits", "3", NULL},
        {"pendulum", "--unit", "0", NULL},
        {"chamber", "--setpoint", "500", NULL},              /* no line: usage error either way */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            int devnull = open("/dev/null", O_WRONLY);
            dup2(devnull, STDERR_FILENO);
            execl(PD_SIM_PATH, PD_SIM_PATH, cases[i][0], cases[i][1], cases[i][2], cases[i][3], (char *)NULL);
            _exit(127);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 2);
    }
    /* both transports at once */
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDERR_FILENO);
        execl(PD_SIM_PATH, PD_SIM_PATH, "loadframe", "--tcp", "127.0.0.1:0", "--rtu", "auto", (char *)NULL);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 2);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_tcp, teardown),
        cmocka_unit_test_teardown(test_rtu_socat_pair, teardown),
        cmocka_unit_test_teardown(test_rtu_auto, teardown),
        cmocka_unit_test(test_bad_line_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
