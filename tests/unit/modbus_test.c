/* modbus_test.c — the Modbus driver: golden encoding vectors, the read planner, transport parsing,
 * config errors, and a loopback run against a libmodbus TCP server thread. */
#define _XOPEN_SOURCE 700 /* posix_openpt and friends */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <modbus.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "common/test_time.h"
#include "core/core.h"
#include "driver/driver.h"
#include "modbus/protocol.h"

extern const struct pd_driver pd_driver_modbus;

static struct pd_mb_field field(enum pd_mb_table table, unsigned address, enum pd_mb_type type,
                                enum pd_mb_order order)
{
    struct pd_mb_field f = {.table = table, .address = (uint16_t)address, .type = type,
                            .order = order, .scale = 1.0, .offset = 0.0};
    return f;
}

/* ---- Encoding golden vectors ---------------------------------------------------------------*/

static const uint16_t f230_15[PD_MB_ORDER_COUNT][2] = {
    [PD_MB_ABCD] = {0x4366, 0x2666},
    [PD_MB_CDAB] = {0x2666, 0x4366},
    [PD_MB_BADC] = {0x6643, 0x6626},
    [PD_MB_DCBA] = {0x6626, 0x6643},
};

static void test_float32_orders(void **unused)
{
    for (int o = 0; o < PD_MB_ORDER_COUNT; o++) {
        struct pd_mb_field f = field(PD_MB_INPUT, 0, PD_MB_FLOAT32, (enum pd_mb_order)o);
        uint16_t regs[2] = {0, 0};
        assert_int_equal(pd_mb_encode(&f, 230.15, regs), 0);
        assert_int_equal(regs[0], f230_15[o][0]);
        assert_int_equal(regs[1], f230_15[o][1]);
        assert_true(pd_mb_decode(&f, f230_15[o]) == (double)230.15f);
    }
}

/* The classic symptom of a wrong word order: a plausible float turns into a tiny number. */
static void test_float32_wrong_order(void **unused)
{
    struct pd_mb_field f = field(PD_MB_INPUT, 0, PD_MB_FLOAT32, PD_MB_CDAB);
    double v = pd_mb_decode(&f, f230_15[PD_MB_ABCD]);
    assert_true(v > 7.98e-16 && v < 7.99e-16);
    f.order = PD_MB_DCBA;
    assert_true(fabs(pd_mb_decode(&f, f230_15[PD_MB_ABCD]) - 230.15) > 1.0);
}

static void test_int32_minus_two(void **unused)
{
    static const uint16_t expect[PD_MB_ORDER_COUNT][2] = {
        [PD_MB_ABCD] = {0xFFFF, 0xFFFE},
        [PD_MB_CDAB] = {0xFFFE, 0xFFFF},
        [PD_MB_BADC] = {0xFFFF, 0xFEFF},
        [PD_MB_DCBA] = {0xFEFF, 0xFFFF},
    };
    for (int o = 0; o < PD_MB_ORDER_COUNT; o++) {
        struct pd_mb_field f = field(PD_MB_HOLDING, 0, PD_MB_INT32, (enum pd_mb_order)o);
        uint16_t regs[2];
        assert_int_equal(pd_mb_encode(&f, -2.0, regs), 0);
        assert_memory_equal(regs, expect[o], sizeof regs);
        assert_true(pd_mb_decode(&f, expect[o]) == -2.0);
        /* the same registers as uint32 */
        f.type = PD_MB_UINT32;
        assert_true(pd_mb_decode(&f, expect[o]) == 4294967294.0);
    }
}

static void test_float64_orders(void **unused)
{
    /* 6.02214076e23 = 0x44DFE185CA57C517: eight distinct bytes */
    static const uint16_t expect[PD_MB_ORDER_COUNT][4] = {
        [PD_MB_ABCD] = {0x44DF, 0xE185, 0xCA57, 0xC517},
        [PD_MB_CDAB] = {0xC517, 0xCA57, 0xE185, 0x44DF},
        [PD_MB_BADC] = {0xDF44, 0x85E1, 0x57CA, 0x17C5},
        [PD_MB_DCBA] = {0x17C5, 0x57CA, 0x85E1, 0xDF44},
    };
    for (int o = 0; o < PD_MB_ORDER_COUNT; o++) {
        struct pd_mb_field f = field(PD_MB_HOLDING, 0, PD_MB_FLOAT64, (enum pd_mb_order)o);
        uint16_t regs[4];
        assert_int_equal(pd_mb_field_width(&f), 4);
        assert_int_equal(pd_mb_encode(&f, 6.02214076e23, regs), 0);
        assert_memory_equal(regs, expect[o], sizeof regs);
        assert_true(pd_mb_decode(&f, expect[o]) == 6.02214076e23);
    }
}

static void test_16bit(void **unused)
{
    struct pd_mb_field f = field(PD_MB_INPUT, 0, PD_MB_INT16, PD_MB_ABCD);
    uint16_t r = 0xFFFF;
    assert_true(pd_mb_decode(&f, &r) == -1.0);
    f.type = PD_MB_UINT16;
    assert_true(pd_mb_decode(&f, &r) == 65535.0);
    r = 0x1234;
    f.order = PD_MB_BADC; /* byte-swapped register */
    assert_true(pd_mb_decode(&f, &r) == (double)0x3412);
    f.order = PD_MB_CDAB; /* word order means nothing for one register */
    assert_true(pd_mb_decode(&f, &r) == (double)0x1234);
}

static void test_scale_offset_and_range(void **unused)
{
    struct pd_mb_field f = field(PD_MB_HOLDING, 0, PD_MB_INT16, PD_MB_ABCD);
    f.scale = 0.1;
    f.offset = -5.0;
    uint16_t r = 1234;
    assert_true(fabs(pd_mb_decode(&f, &r) - 118.4) < 1e-12);
    r = 0;
    assert_int_equal(pd_mb_encode(&f, 118.44, &r), 0); /* (118.44 + 5)/0.1 = 1234.4 → 1234 */
    assert_int_equal(r, 1234);
    assert_int_equal(pd_mb_encode(&f, -12.3 - 5.0, &r), 0);
    assert_int_equal((int16_t)r, -123);

    r = 0xABCD;
    assert_int_equal(pd_mb_encode(&f, 4000.0, &r), PD_ERANGE); /* raw 40050 > 32767 */
    assert_int_equal(r, 0xABCD);                               /* untouched */
    assert_int_equal(pd_mb_encode(&f, NAN, &r), PD_ERANGE);
    f.type = PD_MB_UINT16;
    f.offset = 0.0;
    r = 7;
    assert_int_equal(pd_mb_encode(&f, -0.04, &r), 0); /* raw -0.4 rounds to 0: in range */
    assert_int_equal(r, 0);
    assert_int_equal(pd_mb_encode(&f, -0.06, &r), PD_ERANGE); /* raw -0.6 rounds to -1 */
    assert_int_equal(pd_mb_encode(&f, 6553.5, &r), 0);
    assert_int_equal(r, 65535);
    assert_int_equal(pd_mb_encode(&f, 6553.6, &r), PD_ERANGE);

    struct pd_mb_field f32 = field(PD_MB_HOLDING, 0, PD_MB_FLOAT32, PD_MB_ABCD);
    uint16_t regs[2] = {1, 2};
    assert_int_equal(pd_mb_encode(&f32, 1e39, regs), PD_ERANGE);
    assert_int_equal(pd_mb_encode(&f32, INFINITY, regs), PD_ERANGE);
    assert_int_equal(regs[0], 1);
    struct pd_mb_field u32 = field(PD_MB_HOLDING, 0, PD_MB_UINT32, PD_MB_ABCD);
    assert_int_equal(pd_mb_encode(&u32, 4294967295.0, regs), 0);
    assert_int_equal(regs[0], 0xFFFF);
    assert_int_equal(pd_mb_encode(&u32, 4294967296.0, regs), PD_ERANGE);
}

static void test_bits(void **unused)
{
    struct pd_mb_field f = field(PD_MB_INPUT, 1, PD_MB_BIT, PD_MB_ABCD);
    uint16_t r = 0x0005;
    f.bit = 0;
    assert_true(pd_mb_decode(&f, &r) == 1.0);
    f.bit = 1;
    assert_true(pd_mb_decode(&f, &r) == 0.0);
    f.bit = 2;
    assert_true(pd_mb_decode(&f, &r) == 1.0);
    r = 0x8000;
    f.bit = 15;
    assert_true(pd_mb_decode(&f, &r) == 1.0);
    f.order = PD_MB_BADC; /* bit numbers count in the byte-swapped value */
    r = 0x0100;
    f.bit = 0;
    assert_true(pd_mb_decode(&f, &r) == 1.0);

    /* writing one bit keeps the others */
    struct pd_mb_field w = field(PD_MB_HOLDING, 6, PD_MB_BIT, PD_MB_ABCD);
    w.bit = 0;
    r = 0x00F0;
    assert_int_equal(pd_mb_encode(&w, 1.0, &r), 0);
    assert_int_equal(r, 0x00F1);
    w.bit = 4;
    assert_int_equal(pd_mb_encode(&w, 0.0, &r), 0);
    assert_int_equal(r, 0x00E1);
    assert_int_equal(pd_mb_encode(&w, 2.0, &r), PD_ERANGE);

    struct pd_mb_field coil = field(PD_MB_COIL, 3, PD_MB_BIT, PD_MB_ABCD);
    r = 1;
    assert_true(pd_mb_decode(&coil, &r) == 1.0);
    r = 0;
    assert_true(pd_mb_decode(&coil, &r) == 0.0);
    assert_int_equal(pd_mb_encode(&coil, 1.0, &r), 0);
    assert_int_equal(r, 1);
}

static void test_addresses(void **unused)
{
    char buf[96];
    assert_int_equal(pd_mb_manual_number(PD_MB_INPUT, 4), 30005);
    assert_int_equal(pd_mb_manual_number(PD_MB_HOLDING, 0), 40001);
    assert_int_equal(pd_mb_manual_number(PD_MB_DISCRETE, 0), 10001);
    assert_int_equal(pd_mb_manual_number(PD_MB_HOLDING, 9999), 410000);
    pd_mb_format_address(PD_MB_INPUT, 4, 1, buf, sizeof buf);
    assert_string_equal(buf, "input register 4 (30005)");
    pd_mb_format_address(PD_MB_INPUT, 1, 9, buf, sizeof buf);
    assert_string_equal(buf, "input registers 1..9 (30002..30010)");
    pd_mb_format_address(PD_MB_COIL, 0, 1, buf, sizeof buf);
    assert_string_equal(buf, "coil 0 (00001)");
    pd_mb_format_address(PD_MB_HOLDING, 65534, 2, buf, sizeof buf);
    assert_string_equal(buf, "holding registers 65534..65535 (465535..465536)");
}

/* ---- Planner -------------------------------------------------------------------------------*/

static void test_plan_demo_map(void **unused)
{
    struct pd_mb_field f[4] = {
        field(PD_MB_INPUT, 4, PD_MB_FLOAT32, PD_MB_ABCD),
        field(PD_MB_INPUT, 6, PD_MB_FLOAT32, PD_MB_ABCD),
        field(PD_MB_INPUT, 8, PD_MB_FLOAT32, PD_MB_ABCD),
        field(PD_MB_INPUT, 1, PD_MB_BIT, PD_MB_ABCD),
    };
    struct pd_mb_plan plan;
    assert_int_equal(pd_mb_plan_reads(f, 4, 125, PD_MB_READ_THROUGH_GAP, &plan), 0);
    assert_int_equal(plan.n_requests, 1);
    assert_int_equal(plan.requests[0].table, PD_MB_INPUT);
    assert_int_equal(plan.requests[0].address, 1);
    assert_int_equal(plan.requests[0].count, 9);
    assert_int_equal(plan.offset_of[0], 3);
    assert_int_equal(plan.offset_of[1], 5);
    assert_int_equal(plan.offset_of[2], 7);
    assert_int_equal(plan.offset_of[3], 0);
}

static void test_plan_gaps(void **unused)
{
    struct pd_mb_plan plan;
    struct pd_mb_field f[2] = {field(PD_MB_HOLDING, 0, PD_MB_UINT16, PD_MB_ABCD),
                               field(PD_MB_HOLDING, 9, PD_MB_UINT16, PD_MB_ABCD)};
    /* 8 unused registers (1..8) are read through */
    assert_int_equal(pd_mb_plan_reads(f, 2, 125, 8, &plan), 0);
    assert_int_equal(plan.n_requests, 1);
    assert_int_equal(plan.requests[0].count, 10);
    assert_int_equal(plan.offset_of[1], 9);
    /* 9 are not */
    f[1].address = 10;
    assert_int_equal(pd_mb_plan_reads(f, 2, 125, 8, &plan), 0);
    assert_int_equal(plan.n_requests, 2);
    assert_int_equal(plan.requests[1].address, 10);
    assert_int_equal(plan.requests[1].count, 1);
    assert_int_equal(plan.request_of[1], 1);
    assert_int_equal(plan.offset_of[1], 0);
    /* no read-through at all */
    f[1].address = 1;
    assert_int_equal(pd_mb_plan_reads(f, 2, 125, 0, &plan), 0);
    assert_int_equal(plan.n_requests, 1);
    f[1].address = 2;
    assert_int_equal(pd_mb_plan_reads(f, 2, 125, 0, &plan), 0);
    assert_int_equal(plan.n_requests, 2);
}

static void test_plan_limits(void **unused)
{
    struct pd_mb_plan plan;
    struct pd_mb_field f[3] = {field(PD_MB_INPUT, 0, PD_MB_FLOAT32, PD_MB_ABCD),
                               field(PD_MB_INPUT, 2, PD_MB_FLOAT32, PD_MB_ABCD),
                               field(PD_MB_INPUT, 4, PD_MB_FLOAT32, PD_MB_ABCD)};
    assert_int_equal(pd_mb_plan_reads(f, 3, 4, 8, &plan), 0);
    assert_int_equal(plan.n_requests, 2);
    assert_int_equal(plan.requests[0].count, 4);
    assert_int_equal(plan.requests[1].address, 4);
    assert_int_equal(plan.requests[1].count, 2);
    assert_int_equal(pd_mb_plan_reads(f, 3, 6, 8, &plan), 0);
    assert_int_equal(plan.n_requests, 1);
    /* sixteen registers, one per request */
    struct pd_mb_field many[16];
    for (int i = 0; i < 16; i++)
        many[i] = field(PD_MB_HOLDING, (unsigned)(15 - i), PD_MB_UINT16, PD_MB_ABCD);
    assert_int_equal(pd_mb_plan_reads(many, 16, 1, 8, &plan), 0);
    assert_int_equal(plan.n_requests, 16);
    assert_int_equal(plan.requests[0].address, 0); /* address order, whatever the config order */
    assert_int_equal(plan.request_of[0], 15);
    assert_int_equal(pd_mb_plan_reads(many, 16, 125, 8, &plan), 0);
    assert_int_equal(plan.n_requests, 1);
    assert_int_equal(plan.requests[0].count, 16);

    /* a field that cannot fit any request, or runs off the table, is refused */
    struct pd_mb_field f64 = field(PD_MB_INPUT, 0, PD_MB_FLOAT64, PD_MB_ABCD);
    plan.n_requests = 99;
    assert_int_equal(pd_mb_plan_reads(&f64, 1, 3, 8, &plan), PD_EINVAL);
    assert_int_equal(plan.n_requests, 99);
    struct pd_mb_field last = field(PD_MB_INPUT, 65535, PD_MB_FLOAT32, PD_MB_ABCD);
    assert_int_equal(pd_mb_plan_reads(&last, 1, 125, 8, &plan), PD_EINVAL);
    last.type = PD_MB_UINT16;
    assert_int_equal(pd_mb_plan_reads(&last, 1, 125, 8, &plan), 0);
}

static void test_plan_mixed_tables(void **unused)
{
    struct pd_mb_plan plan;
    struct pd_mb_field f[6] = {
        field(PD_MB_DISCRETE, 5, PD_MB_BIT, PD_MB_ABCD), field(PD_MB_HOLDING, 1, PD_MB_UINT16, PD_MB_ABCD),
        field(PD_MB_INPUT, 0, PD_MB_UINT16, PD_MB_ABCD), field(PD_MB_COIL, 0, PD_MB_BIT, PD_MB_ABCD),
        field(PD_MB_HOLDING, 0, PD_MB_FLOAT32, PD_MB_ABCD), field(PD_MB_INPUT, 0, PD_MB_BIT, PD_MB_ABCD),
    };
    /* max_registers 1 does not limit bit tables; overlapping fields share registers */
    f[4].type = PD_MB_UINT16;
    assert_int_equal(pd_mb_plan_reads(f, 6, 2, 8, &plan), 0);
    assert_int_equal(plan.n_requests, 4);
    assert_int_equal(plan.requests[0].table, PD_MB_HOLDING);
    assert_int_equal(plan.requests[0].count, 2);
    assert_int_equal(plan.requests[1].table, PD_MB_INPUT);
    assert_int_equal(plan.requests[1].count, 1);
    assert_int_equal(plan.request_of[2], 1);
    assert_int_equal(plan.request_of[5], 1);
    assert_int_equal(plan.requests[2].table, PD_MB_COIL);
    assert_int_equal(plan.requests[3].table, PD_MB_DISCRETE);
    assert_int_equal(plan.requests[3].address, 5);
    assert_int_equal(plan.request_of[0], 3);

    /* overlapping float and a bit of its first register */
    struct pd_mb_field o[2] = {field(PD_MB_INPUT, 4, PD_MB_FLOAT32, PD_MB_ABCD),
                               field(PD_MB_INPUT, 4, PD_MB_BIT, PD_MB_ABCD)};
    assert_int_equal(pd_mb_plan_reads(o, 2, 125, 8, &plan), 0);
    assert_int_equal(plan.n_requests, 1);
    assert_int_equal(plan.requests[0].count, 2);
    assert_int_equal(plan.offset_of[1], 0);

    /* coils are limited by the protocol's 2000, not by max_registers */
    struct pd_mb_field c[2] = {field(PD_MB_COIL, 0, PD_MB_BIT, PD_MB_ABCD),
                               field(PD_MB_COIL, 8, PD_MB_BIT, PD_MB_ABCD)};
    assert_int_equal(pd_mb_plan_reads(c, 2, 1, 8, &plan), 0);
    assert_int_equal(plan.n_requests, 1);
    assert_int_equal(plan.requests[0].count, 9);
}

/* ---- Transport -----------------------------------------------------------------------------*/

static void test_transport(void **unused)
{
    struct pd_mb_transport t;
    char why[400];
    assert_int_equal(pd_mb_parse_transport("tcp://127.0.0.1:502", &t, why, sizeof why), 0);
    assert_int_equal(t.kind, PD_MB_TCP);
    assert_string_equal(t.host, "127.0.0.1");
    assert_string_equal(t.port, "502");
    assert_int_equal(pd_mb_parse_transport("tcp://[::1]:1502", &t, why, sizeof why), 0);
    assert_string_equal(t.host, "::1");
    assert_string_equal(t.port, "1502");
    assert_int_equal(pd_mb_parse_transport("/dev/ttyUSB0", &t, why, sizeof why), 0);
    assert_int_equal(t.kind, PD_MB_RTU);
    assert_string_equal(t.device, "/dev/ttyUSB0");
    assert_int_equal(pd_mb_parse_transport("rtu:/dev/pts/3", &t, why, sizeof why), 0);
    assert_string_equal(t.device, "/dev/pts/3");

    t.kind = PD_MB_TCP;
    assert_int_equal(pd_mb_parse_transport("tcp://host", &t, why, sizeof why), PD_ECONFIG);
    assert_non_null(strstr(why, "transport 'tcp://host' lacks a port"));
    assert_int_equal(t.kind, PD_MB_TCP); /* untouched */
    assert_int_equal(pd_mb_parse_transport("tcp://host:70000", &t, why, sizeof why), PD_ECONFIG);
    assert_non_null(strstr(why, "bad port '70000'"));
    assert_int_equal(pd_mb_parse_transport("tcp://host:5o2", &t, why, sizeof why), PD_ECONFIG);
    assert_int_equal(pd_mb_parse_transport("tcp://host:-1", &t, why, sizeof why), PD_ECONFIG);
    assert_int_equal(pd_mb_parse_transport("tcp://:502", &t, why, sizeof why), PD_ECONFIG);
    assert_int_equal(pd_mb_parse_transport("tcp://[::1", &t, why, sizeof why), PD_ECONFIG);
    assert_int_equal(pd_mb_parse_transport("COM3", &t, why, sizeof why), PD_ECONFIG);
    assert_non_null(strstr(why, "neither"));
}

/* ---- Loopback server -----------------------------------------------------------------------*/

/* How the loopback server answers (the fault injection of these tests):
 *   SERVE          normally
 *   MUTE           never
 *   LATE           after 1.5 response timeouts
 *   BUSY           exception 06 while busy_left > 0 (counting down), then normally
 *   IGNORE_WRITES  confirms writes without storing them (read-back must catch it)
 *   STALE          first a well-formed answer with the previous transaction id and other values,
 *                  then the real one */
enum server_mode { SERVE, MUTE, LATE, BUSY, IGNORE_WRITES, STALE };

struct server {
    int listen_fd;
    int port;
    modbus_mapping_t *map;
    modbus_mapping_t *scratch; /* where IGNORE_WRITES puts what it does not keep */
    pthread_mutex_t lock;
    atomic_int mode;
    atomic_int busy_left;
    atomic_int stop;
    atomic_int served;
    const char *_Atomic slave_text; /* answer to report-slave-id (FC17); NULL: libmodbus's own */
    pthread_t thread;
};

static struct server sv;
/* the loopback device's response timeout (test_time.h stretches it under valgrind) */
static int timeout_ms = 150;

static void *server_main(void *arg)
{
    struct server *s = arg;
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", s->port);
    modbus_set_indication_timeout(ctx, 0, 50000);
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = s->listen_fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        modbus_set_socket(ctx, fd);
        while (!atomic_load(&s->stop)) {
            uint8_t req[MODBUS_TCP_MAX_ADU_LENGTH];
            int n = modbus_receive(ctx, req);
            if (n < 0 && errno == ETIMEDOUT)
                continue;
            if (n < 0)
                break;
            if (n == 0)
                continue;
            int mode = atomic_load(&s->mode);
            if (mode == MUTE)
                continue;
            if (mode == LATE)
                usleep((useconds_t)timeout_ms * 1500u); /* 1.5 response timeouts */
            /* counted before answering: the client may look as soon as it has the answer */
            atomic_fetch_add(&s->served, 1);
            if (mode == BUSY && atomic_fetch_sub(&s->busy_left, 1) > 0) {
                modbus_reply_exception(ctx, req, MODBUS_EXCEPTION_SLAVE_OR_SERVER_BUSY);
                continue;
            }
            const char *slave_text = atomic_load(&s->slave_text);
            if (req[7] == 17 && slave_text) { /* MBAP, unit, 17, byte count, id, run indicator, text */
                size_t len = strlen(slave_text);
                uint8_t rsp[MODBUS_TCP_MAX_ADU_LENGTH] = {req[0], req[1], 0, 0, (uint8_t)((len + 5) >> 8),
                                                          (uint8_t)(len + 5), req[6], 17, (uint8_t)(len + 2),
                                                          0x42, 0xFF};
                memcpy(rsp + 11, slave_text, len);
                assert_int_equal(send(fd, rsp, 11 + len, MSG_NOSIGNAL), (ssize_t)(11 + len));
                continue;
            }
            if (mode == STALE && (req[7] == 3 || req[7] == 4)) {
                unsigned count = (unsigned)req[10] << 8 | req[11];
                unsigned tid = ((unsigned)req[0] << 8 | req[1]) - 1u;
                uint8_t stale[MODBUS_TCP_MAX_ADU_LENGTH] = {
                    (uint8_t)(tid >> 8), (uint8_t)tid, 0, 0, (uint8_t)((3 + 2 * count) >> 8),
                    (uint8_t)(3 + 2 * count), req[6], req[7], (uint8_t)(2 * count)};
                memset(stale + 9, 0xBE, 2 * count);
                assert_int_equal(send(fd, stale, 9 + 2 * count, MSG_NOSIGNAL), (ssize_t)(9 + 2 * count));
            }
            pthread_mutex_lock(&s->lock);
            bool is_write = req[7] == 5 || req[7] == 6 || req[7] == 15 || req[7] == 16;
            modbus_reply(ctx, req, n, mode == IGNORE_WRITES && is_write ? s->scratch : s->map);
            pthread_mutex_unlock(&s->lock);
        }
        close(fd);
    }
    modbus_free(ctx);
    return NULL;
}

static void put_float(uint16_t *regs, float v, enum pd_mb_order order)
{
    struct pd_mb_field f = field(PD_MB_INPUT, 0, PD_MB_FLOAT32, order);
    assert_int_equal(pd_mb_encode(&f, v, regs), 0);
}

/* The register contents every loopback test starts from. */
static int reset_mapping(void **unused)
{
    pthread_mutex_lock(&sv.lock);
    modbus_mapping_t *m = sv.map;
    memset(m->tab_registers, 0, (size_t)m->nb_registers * sizeof(uint16_t));
    memset(m->tab_input_registers, 0, (size_t)m->nb_input_registers * sizeof(uint16_t));
    memset(m->tab_bits, 0, (size_t)m->nb_bits);
    memset(m->tab_input_bits, 0, (size_t)m->nb_input_bits);
    uint16_t *in = m->tab_input_registers;
    /* the demo load frame's layout (firmware/loadframe/REGISTERS.md) */
    in[1] = 0x0009; /* break + simulated */
    put_float(in + 4, 123.5f, PD_MB_ABCD);
    put_float(in + 6, 0.25f, PD_MB_ABCD);
    put_float(in + 8, 1.5f, PD_MB_ABCD);
    in[16] = 0x0001; /* firmware 0.1 */
    in[17] = 0;
    in[18] = 4711;
    /* the test instrument */
    for (int o = 0; o < PD_MB_ORDER_COUNT; o++)
        memcpy(in + 50 + 2 * o, f230_15[o], sizeof f230_15[o]);
    in[58] = 0xFFFE; /* int32 -2, CDAB */
    in[59] = 0xFFFF;
    in[60] = 1234; /* 1234·0.1 − 5 = 118.4, above max 100 */
    struct pd_mb_field f64 = field(PD_MB_INPUT, 68, PD_MB_FLOAT64, PD_MB_DCBA);
    assert_int_equal(pd_mb_encode(&f64, 6.02214076e23, in + 68), 0);
    in[80] = 0x0102; /* firmware 1.2 */
    in[81] = 0x075B; /* 123456789 */
    in[82] = 0xCD15;
    m->tab_registers[30] = (uint16_t)(int16_t)-42;
    m->tab_bits[3] = 1;
    m->tab_input_bits[5] = 1;
    pthread_mutex_unlock(&sv.lock);
    atomic_store(&sv.mode, SERVE);
    return 0;
}

static int server_start(void **unused)
{
    memset(&sv, 0, sizeof sv);
    pthread_mutex_init(&sv.lock, NULL);
    sv.map = modbus_mapping_new(100, 100, 100, 100);
    sv.scratch = modbus_mapping_new(100, 100, 100, 100);
    assert_non_null(sv.map);
    assert_non_null(sv.scratch);
    sv.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(sv.listen_fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(sv.listen_fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(sv.listen_fd, 4), 0);
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(sv.listen_fd, (struct sockaddr *)&addr, &len), 0);
    sv.port = ntohs(addr.sin_port);
    assert_int_equal(pthread_create(&sv.thread, NULL, server_main, &sv), 0);
    return 0;
}

static int server_stop(void **unused)
{
    atomic_store(&sv.stop, 1);
    pthread_join(sv.thread, NULL);
    close(sv.listen_fd);
    modbus_mapping_free(sv.map);
    modbus_mapping_free(sv.scratch);
    pthread_mutex_destroy(&sv.lock);
    return 0;
}

/* ---- Driver helpers ------------------------------------------------------------------------*/

/* Creates a driver instance from YAML text (the document is freed at once: the driver must keep
 * nothing of it). */
static int create_from(const char *text, void **state, struct pd_err *err)
{
    struct pd_cfg_doc *doc = NULL;
    struct pd_err load_err;
    int rc = pd_cfg_load_string("t.yaml", text, strlen(text), &doc, &load_err);
    if (rc)
        fprintf(stderr, "%s\n", load_err.msg);
    assert_int_equal(rc, 0);
    rc = pd_driver_modbus.create(pd_cfg_root(doc), state, err);
    pd_cfg_free(doc);
    return rc;
}

struct collected {
    int n;
    struct pd_reading last;
};

static int collect(void *ctx, const struct pd_reading *r)
{
    struct collected *c = ctx;
    c->n++;
    c->last = *r;
    return 0;
}

static const char main_yaml[] =
    "name: frame1\n"
    "driver: modbus\n"
    "model: test frame\n"
    "transport: tcp://127.0.0.1:%d\n"
    "unit: 1\n"
    "address_base: 0\n"
    "response_timeout_ms: %d\n"
    "channels:\n"
    "  - {name: abcd, table: input, address: 50, type: float32, order: ABCD, unit: N}\n"
    "  - {name: cdab, table: input, address: 52, type: float32, order: CDAB, unit: N}\n"
    "  - {name: badc, table: input, address: 54, type: float32, order: BADC}\n"
    "  - {name: dcba, table: input, address: 56, type: float32, order: DCBA}\n"
    "  - {name: i32, table: input, address: 58, type: int32, order: CDAB}\n"
    "  - {name: scaled, table: input, address: 60, type: uint16, scale: 0.1, offset: -5, unit: mm,"
    " min: 0, max: 100}\n"
    "  - {name: f64, table: input, address: 68, type: float64, order: DCBA}\n"
    "  - {name: sim, table: input, address: 1, type: bit, bit: 3}\n"
    "  - {name: hold, table: holding, address: 30, type: int16}\n"
    "  - {name: coil3, table: coil, address: 3, type: bit}\n"
    "  - {name: disc5, table: discrete, address: 5, type: bit}\n"
    "controls:\n"
    "  - {name: start, table: holding, address: 0, type: uint16, value: 1}\n"
    "  - {name: speed, table: holding, address: 2, type: float32, order: CDAB}\n"
    "  - {name: setpoint, table: holding, address: 10, type: int16, scale: 0.1}\n"
    "  - {name: flag, table: holding, address: 12, type: bit, bit: 2}\n"
    "  - {name: lamp, table: coil, address: 10, type: bit}\n"
    "  - {name: outside, table: holding, address: 150, type: uint16}\n"
    "identity:\n"
    "  fw_version: {table: input, address: 80, type: uint16}\n"
    "  serial_number: {table: input, address: 81, type: uint32}\n"
    "  simulated: {table: input, address: 1, type: bit, bit: 3}\n";

static void *open_main(struct pd_instrument_info *info)
{
    char text[sizeof main_yaml + 16];
    snprintf(text, sizeof text, main_yaml, sv.port, timeout_ms);
    void *state = NULL;
    struct pd_err err;
    int rc = create_from(text, &state, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    rc = pd_driver_modbus.open(state, info, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    return state;
}

static void close_destroy(void *state)
{
    pd_driver_modbus.close(state);
    pd_driver_modbus.destroy(state);
}

/* ---- Loopback tests ------------------------------------------------------------------------*/

static void test_loopback_poll(void **unused)
{
    struct pd_instrument_info info = {.model = "from config"};
    void *state = open_main(&info);
    assert_string_equal(info.firmware, "1.2");
    assert_string_equal(info.serial, "123456789");
    assert_string_equal(info.model, "from config"); /* not reported: left alone */
    assert_int_equal(info.simulated, 1);

    const struct pd_channel_info *ch;
    assert_int_equal(pd_driver_modbus.channels(state, &ch), 11);
    assert_string_equal(ch[0].name, "abcd");
    assert_string_equal(ch[0].unit, "N");
    assert_string_equal(ch[2].unit, "");
    assert_string_equal(ch[5].name, "scaled");
    assert_string_equal(ch[5].unit, "mm");

    struct collected c = {0};
    struct pd_sink sink = {.push = collect, .ctx = &c};
    struct pd_err err;
    int served0 = atomic_load(&sv.served);
    int64_t before = pd_clock_mono_ns();
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), 0);
    int64_t after = pd_clock_mono_ns();
    /* input 1, input 50..71, holding 30, coil 3, discrete 5 */
    assert_int_equal(atomic_load(&sv.served) - served0, 5);
    assert_int_equal(c.n, 1);
    const struct pd_reading *r = &c.last;
    for (int i = 0; i < 4; i++)
        assert_true(r->values[i] == (double)230.15f);
    assert_true(r->values[4] == -2.0);
    assert_true(fabs(r->values[5] - 118.4) < 1e-9);
    assert_true(r->values[6] == 6.02214076e23);
    assert_true(r->values[7] == 1.0);
    assert_true(r->values[8] == -42.0);
    assert_true(r->values[9] == 1.0);
    assert_true(r->values[10] == 1.0);
    assert_int_equal(r->quality, PD_Q_RANGE); /* "scaled" above its max */
    assert_true(r->half_width_ns > 0);
    assert_true(r->t_mono_ns - r->half_width_ns >= before);
    assert_true(r->t_mono_ns + r->half_width_ns <= after);

    /* back in range → good quality */
    pthread_mutex_lock(&sv.lock);
    sv.map->tab_input_registers[60] = 500; /* 45 */
    pthread_mutex_unlock(&sv.lock);
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), 0);
    assert_int_equal(c.n, 2);
    assert_true(fabs(c.last.values[5] - 45.0) < 1e-9);
    assert_int_equal(c.last.quality, PD_Q_GOOD);

    const char *map = pd_driver_modbus.map_text(state);
    assert_non_null(strstr(map, "{name: \"abcd\", table: input, address: 50, wire: 50, manual: \"30051\","
                                " type: float32, order: ABCD"));
    assert_non_null(strstr(map, "- {table: input, wire: 50, count: 22}"));
    assert_non_null(strstr(map, "fw_version: {table: input, address: 80"));
    close_destroy(state);
}

static void test_loopback_controls(void **unused)
{
    struct pd_instrument_info info = {0};
    void *state = open_main(&info);
    struct pd_err err;
    uint16_t *hold = sv.map->tab_registers;

    assert_int_equal(pd_driver_modbus.control(state, "start", 99.0, &err), 0);
    assert_int_equal(hold[0], 1); /* the fixed value, not the argument */
    assert_int_equal(pd_driver_modbus.control(state, "speed", 50.5, &err), 0);
    uint16_t expect[2];
    put_float(expect, 50.5f, PD_MB_CDAB);
    assert_int_equal(hold[2], expect[0]);
    assert_int_equal(hold[3], expect[1]);
    assert_int_equal(pd_driver_modbus.control(state, "setpoint", -12.3, &err), 0);
    assert_int_equal((int16_t)hold[10], -123);

    pthread_mutex_lock(&sv.lock);
    hold[12] = 0x0001;
    pthread_mutex_unlock(&sv.lock);
    assert_int_equal(pd_driver_modbus.control(state, "flag", 1.0, &err), 0);
    assert_int_equal(hold[12], 0x0005);
    assert_int_equal(pd_driver_modbus.control(state, "flag", 0.0, &err), 0);
    assert_int_equal(hold[12], 0x0001);
    assert_int_equal(pd_driver_modbus.control(state, "lamp", 1.0, &err), 0);
    assert_int_equal(sv.map->tab_bits[10], 1);

    int served0 = atomic_load(&sv.served);
    assert_int_equal(pd_driver_modbus.control(state, "setpoint", 4000.0, &err), PD_ERANGE);
    assert_non_null(strstr(err.msg, "frame1 (unit 1): control 'setpoint'"));
    assert_non_null(strstr(err.msg, "holding register 10 (40011)"));
    assert_int_equal(atomic_load(&sv.served), served0); /* nothing was sent */
    assert_int_equal((int16_t)hold[10], -123);

    assert_int_equal(pd_driver_modbus.control(state, "warp", 1.0, &err), PD_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "warp"));
    close_destroy(state);
}

static void test_loopback_exception(void **unused)
{
    struct pd_instrument_info info = {0};
    void *state = open_main(&info);
    struct pd_err err;
    assert_int_equal(pd_driver_modbus.control(state, "outside", 1.0, &err), PD_EDEVICE);
    assert_int_equal(err.device_code, 2);
    assert_non_null(strstr(err.msg, "frame1 (unit 1): write holding register 150 (40151)"));
    close_destroy(state);

    char text[1024];
    snprintf(text, sizeof text,
             "name: frame1\ntransport: tcp://127.0.0.1:%d\nunit: 1\naddress_base: 1\n"
             "channels:\n"
             "  - {name: ok, table: input, address: 51, type: float32}\n"
             "  - {name: far, table: input, address: 201, type: float32}\n",
             sv.port);
    assert_int_equal(create_from(text, &state, &err), 0);
    assert_int_equal(pd_driver_modbus.open(state, &info, &err), 0);
    struct collected c = {0};
    struct pd_sink sink = {.push = collect, .ctx = &c};
    pd_err_clear(&err);
    /* an exception is an answer: the channel read by the other request is kept, the failed one is
     * NaN and marked (modbus_links_test checks the logging and counting) */
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), 0);
    assert_int_equal(c.n, 1);
    assert_true(c.last.values[0] == (double)230.15f);
    assert_true(isnan(c.last.values[1]));
    assert_int_equal(c.last.quality, PD_Q_UNREAD | PD_Q_UNREAD_CHANNEL(1));
    close_destroy(state);
}

/* slave_id: the device's report-slave-id text (libmodbus's own server says "LMB<version>") must
 * start with the configured text, or open fails naming both; the right prefix opens. */
static void test_loopback_slave_id(void **unused)
{
    static const char fmt[] = "name: frame1\ntransport: tcp://127.0.0.1:%d\nunit: 1\naddress_base: 0\n"
                              "slave_id: \"%s\"\nresponse_timeout_ms: %d\n"
                              "channels:\n  - {name: force, table: input, address: 4, type: float32}\n";
    char text[512];
    void *state = NULL;
    struct pd_err err;
    struct pd_instrument_info info = {0};
    snprintf(text, sizeof text, fmt, sv.port, "polydaq LF-1", timeout_ms);
    assert_int_equal(create_from(text, &state, &err), 0);
    int served = atomic_load(&sv.served);
    pd_err_clear(&err);
    assert_int_equal(pd_driver_modbus.open(state, &info, &err), PD_EDEVICE);
    assert_int_equal(atomic_load(&sv.served), served + 1); /* only the FC17 request went out */
    assert_non_null(strstr(err.msg, "frame1 (unit 1)"));
    assert_non_null(strstr(err.msg, "'LMB"));
    assert_non_null(strstr(err.msg, "not 'polydaq LF-1...'"));
    /* a failed open leaves it closed: polling is refused, not a crash */
    assert_int_equal(pd_driver_modbus.poll(state, NULL, &err), PD_ESTATE);
    close_destroy(state);

    snprintf(text, sizeof text, fmt, sv.port, "LMB", timeout_ms);
    assert_int_equal(create_from(text, &state, &err), 0);
    assert_int_equal(pd_driver_modbus.open(state, &info, &err), 0);
    struct collected c = {0};
    struct pd_sink sink = {.push = collect, .ctx = &c};
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), 0);
    assert_int_equal(c.n, 1);
    assert_float_equal(c.last.values[0], 123.5, 1e-4);
    close_destroy(state);

    /* a device that does not support function 17 while slave_id is set: the exception is the error */
    atomic_store(&sv.mode, MUTE);
    snprintf(text, sizeof text, fmt, sv.port, "LMB", timeout_ms);
    assert_int_equal(create_from(text, &state, &err), 0);
    assert_int_equal(pd_driver_modbus.open(state, &info, &err), PD_ETIMEOUT);
    assert_non_null(strstr(err.msg, "report slave id"));
    close_destroy(state);
}

static void test_loopback_timeout_and_late_reply(void **unused)
{
    struct pd_instrument_info info = {0};
    void *state = open_main(&info);
    struct collected c = {0};
    struct pd_sink sink = {.push = collect, .ctx = &c};
    struct pd_err err;

    atomic_store(&sv.mode, MUTE);
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), PD_ETIMEOUT);
    char expect[128];
    snprintf(expect, sizeof expect, "frame1 (unit 1): read holding register 30 (40031): timeout after %d ms", timeout_ms);
    assert_string_equal(err.msg, expect);
    assert_int_equal(c.n, 0);

    /* A reply that arrives after the timeout must not be taken for the next poll's answer:
     * the registers change in between, so a stale answer would show the old value. */
    atomic_store(&sv.mode, LATE);
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), PD_ETIMEOUT);
    pthread_mutex_lock(&sv.lock);
    sv.map->tab_registers[30] = 77;
    pthread_mutex_unlock(&sv.lock);
    atomic_store(&sv.mode, SERVE);
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), 0);
    assert_int_equal(c.n, 1);
    assert_true(c.last.values[8] == 77.0);
    close_destroy(state);
}

/* An answer carrying the previous request's transaction id (what a late reply looks like) is
 * refused, and the next exchange is clean: the driver renews the connection, so the real answer
 * that was queued behind the stale one can never be read as a later request's. */
static void test_loopback_stale_answer(void **unused)
{
    struct pd_instrument_info info = {0};
    void *state = open_main(&info);
    struct collected c = {0};
    struct pd_sink sink = {.push = collect, .ctx = &c};
    struct pd_err err;

    atomic_store(&sv.mode, STALE);
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), PD_EPROTO);
    assert_non_null(strstr(err.msg, "frame1 (unit 1): read holding register 30 (40031): protocol error: "
                                    "answer to transaction "));
    assert_non_null(strstr(err.msg, "(a late reply?)"));
    assert_int_equal(c.n, 0);
    atomic_store(&sv.mode, SERVE);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), 0);
        assert_true(c.last.values[0] == (double)230.15f);
        assert_true(c.last.values[8] == -42.0);
    }
    assert_int_equal(c.n, 3);
    close_destroy(state);
}

/* Exception 06 repeats only the busy request (busy_retries, default 3) and marks the reading as
 * retried; still busy after that is PD_EBUSY with the device code. */
static void test_loopback_busy(void **unused)
{
    struct pd_instrument_info info = {0};
    void *state = open_main(&info);
    struct collected c = {0};
    struct pd_sink sink = {.push = collect, .ctx = &c};
    struct pd_err err;

    atomic_store(&sv.busy_left, 2);
    atomic_store(&sv.mode, BUSY);
    int served0 = atomic_load(&sv.served);
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), 0);
    assert_int_equal(atomic_load(&sv.served) - served0, 5 + 2);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.last.quality, PD_Q_RETRIED | PD_Q_RANGE);
    assert_true(c.last.values[8] == -42.0);

    atomic_store(&sv.busy_left, 100);
    served0 = atomic_load(&sv.served);
    pd_err_clear(&err);
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), PD_EBUSY);
    assert_int_equal(atomic_load(&sv.served) - served0, 1 + 3);
    assert_int_equal(err.device_code, 6);
    assert_non_null(strstr(err.msg, "frame1 (unit 1): read holding register 30 (40031): exception 6"));
    assert_int_equal(c.n, 1);

    /* controls retry the same way */
    atomic_store(&sv.busy_left, 1);
    assert_int_equal(pd_driver_modbus.control(state, "speed", 12.5, &err), 0);
    atomic_store(&sv.mode, SERVE);
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), 0);
    assert_int_equal(c.last.quality, PD_Q_RANGE); /* no retry this time */
    close_destroy(state);
}

/* Setpoints are read back after writing; a device that confirms but does not take the value is
 * an error naming the control and the registers. Fixed values (commands) are not read back. */
static void test_loopback_verify(void **unused)
{
    struct pd_instrument_info info = {0};
    void *state = open_main(&info);
    struct pd_err err;
    const char *map = pd_driver_modbus.map_text(state);
    assert_non_null(strstr(map, "{name: \"start\", table: holding, address: 0, wire: 0, manual: \"40001\","
                                " type: uint16, value: 1, verify: false}"));
    assert_non_null(strstr(map, "{name: \"speed\", table: holding, address: 2, wire: 2, manual: \"40003\","
                                " type: float32, order: CDAB, scale: 1, offset: 0, verify: true}"));

    atomic_store(&sv.mode, IGNORE_WRITES);
    pd_err_clear(&err);
    assert_int_equal(pd_driver_modbus.control(state, "setpoint", -12.3, &err), PD_EDEVICE);
    assert_string_equal(err.msg, "frame1 (unit 1): control 'setpoint': holding register 10 (40011) "
                                 "reads back 0 after writing -12.3 (the instrument did not take the "
                                 "value)");
    assert_int_equal(err.device_code, 0);
    assert_int_equal(pd_driver_modbus.control(state, "speed", 50.5, &err), PD_EDEVICE);
    assert_non_null(strstr(err.msg, "holding registers 2..3 (40003..40004) reads back 0 after writing 50.5"));
    assert_int_equal(pd_driver_modbus.control(state, "flag", 1.0, &err), PD_EDEVICE);
    assert_int_equal(pd_driver_modbus.control(state, "lamp", 1.0, &err), PD_EDEVICE);
    assert_non_null(strstr(err.msg, "coil 10 (00011)"));
    assert_int_equal(pd_driver_modbus.control(state, "start", 0.0, &err), 0);

    atomic_store(&sv.mode, SERVE);
    assert_int_equal(pd_driver_modbus.control(state, "setpoint", -12.3, &err), 0);
    assert_int_equal((int16_t)sv.map->tab_registers[10], -123);
    assert_int_equal(pd_driver_modbus.control(state, "lamp", 1.0, &err), 0);
    close_destroy(state);

    /* verify: false turns the read-back off; verify: true turns it on for a fixed value */
    char text[1024];
    snprintf(text, sizeof text,
             "name: frame1\ntransport: tcp://127.0.0.1:%d\nunit: 1\naddress_base: 0\n"
             "channels: [{name: x, table: input, address: 0, type: uint16}]\n"
             "controls:\n"
             "  - {name: sp, table: holding, address: 20, type: uint16, verify: false}\n"
             "  - {name: go, table: holding, address: 21, type: uint16, value: 7, verify: true}\n",
             sv.port);
    assert_int_equal(create_from(text, &state, &err), 0);
    assert_int_equal(pd_driver_modbus.open(state, &info, &err), 0);
    atomic_store(&sv.mode, IGNORE_WRITES);
    assert_int_equal(pd_driver_modbus.control(state, "sp", 5.0, &err), 0);
    assert_int_equal(pd_driver_modbus.control(state, "go", 0.0, &err), PD_EDEVICE);
    assert_non_null(strstr(err.msg, "reads back 0 after writing 7"));
    close_destroy(state);
}

static void test_loopback_demo_config(void **unused)
{
    struct pd_cfg_doc *doc = NULL;
    struct pd_err err;
    int rc = pd_cfg_load_file(PD_SOURCE_DIR "/config/demo.yaml", &doc, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    const struct pd_cfg_node *inst =
        pd_cfg_seq_at(pd_cfg_map_get(pd_cfg_root(doc), "instruments"), 0);
    void *state = NULL;
    rc = pd_driver_modbus.create(inst, &state, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    pd_cfg_free(doc);

    const char *map = pd_driver_modbus.map_text(state);
    assert_non_null(strstr(map, "- {table: input, wire: 1, count: 9}"));
    assert_null(strstr(map, "- {table: input, wire: 4")); /* one request only */

    struct pd_instrument_info info = {0};
    assert_int_equal(pd_driver_modbus.open(state, &info, &err), PD_ESTATE); /* port 0 */
    assert_non_null(strstr(err.msg, "port 0"));
    assert_int_equal(pd_driver_modbus.set_transport(state, "tcp://127.0.0.1", &err), PD_EINVAL);
    char transport[64];
    snprintf(transport, sizeof transport, "tcp://127.0.0.1:%d", sv.port);
    assert_int_equal(pd_driver_modbus.set_transport(state, transport, &err), 0);
    assert_non_null(strstr(pd_driver_modbus.map_text(state), transport));
    /* the demo's frame checks who answers: the load-frame bridge's report-slave-id text */
    assert_int_equal(pd_driver_modbus.open(state, &info, &err), PD_EDEVICE);
    assert_non_null(strstr(err.msg, "polydaq LF-1"));
    atomic_store(&sv.slave_text, "polydaq LF-1 fw 0.1");
    rc = pd_driver_modbus.open(state, &info, &err);
    atomic_store(&sv.slave_text, NULL);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_string_equal(info.firmware, "0.1");
    assert_string_equal(info.serial, "4711");
    assert_int_equal(pd_driver_modbus.set_transport(state, transport, &err), PD_ESTATE);

    struct collected c = {0};
    struct pd_sink sink = {.push = collect, .ctx = &c};
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), 0);
    assert_true(c.last.values[0] == 123.5);
    assert_true(c.last.values[1] == 0.25);
    assert_true(c.last.values[2] == 1.5);
    assert_true(c.last.values[3] == 1.0);
    assert_int_equal(pd_driver_modbus.control(state, "speed_test", 50.0, &err), 0);
    assert_int_equal(sv.map->tab_registers[4], 0x4248); /* 50.0f = 0x42480000 */
    assert_int_equal(sv.map->tab_registers[5], 0x0000);
    close_destroy(state);
}

static void test_connection_refused(void **unused)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd); /* bound, never listened: nobody there */
    char text[512];
    snprintf(text, sizeof text,
             "name: frame9\ntransport: tcp://127.0.0.1:%d\nunit: 3\naddress_base: 0\n"
             "channels: [{name: x, table: input, address: 0, type: uint16}]\n",
             ntohs(addr.sin_port));
    void *state = NULL;
    struct pd_err err;
    assert_int_equal(create_from(text, &state, &err), 0);
    struct pd_instrument_info info = {0};
    assert_int_equal(pd_driver_modbus.open(state, &info, &err), PD_EIO);
    assert_int_equal(err.os_errno, ECONNREFUSED);
    assert_non_null(strstr(err.msg, "frame9 (unit 3)"));
    struct pd_sink sink = {.push = collect, .ctx = NULL};
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), PD_ESTATE);
    pd_driver_modbus.destroy(state);
}

/* RTU over a pseudo-terminal: the request goes out framed for the configured unit, nobody answers
 * (timeout), and RS-485 mode, which a pty cannot do, is refused instead of silently ignored. */
static void test_rtu_pty(void **unused)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    char text[512];
    snprintf(text, sizeof text,
             "name: frame2\ntransport: rtu:%s\nunit: 5\naddress_base: 0\nbaud: 19200\n"
             "response_timeout_ms: 100\n"
             "channels: [{name: x, table: input, address: 0, type: uint16}]\n",
             ptsname(master));
    void *state = NULL;
    struct pd_err err;
    assert_int_equal(create_from(text, &state, &err), 0);
    struct pd_instrument_info info = {0};
    int rc = pd_driver_modbus.open(state, &info, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    struct collected c = {0};
    struct pd_sink sink = {.push = collect, .ctx = &c};
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), PD_ETIMEOUT);
    assert_string_equal(err.msg, "frame2 (unit 5): read input register 0 (30001): timeout after 100 ms");
    uint8_t frame[32];
    ssize_t n = read(master, frame, sizeof frame);
    assert_int_equal(n, 8); /* unit, function 04, address 0, count 1, CRC */
    static const uint8_t expect[6] = {0x05, 0x04, 0x00, 0x00, 0x00, 0x01};
    assert_memory_equal(frame, expect, sizeof expect);
    close_destroy(state);

    snprintf(text, sizeof text,
             "name: frame2\ntransport: %s\nunit: 5\naddress_base: 0\nrs485: true\n"
             "channels: [{name: x, table: input, address: 0, type: uint16}]\n",
             ptsname(master));
    assert_int_equal(create_from(text, &state, &err), 0);
    assert_int_equal(pd_driver_modbus.open(state, &info, &err), PD_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "RS-485"));
    pd_driver_modbus.destroy(state);
    close(master);
}

/* ---- RTU fault injection over a pty --------------------------------------------------------*/

/* Modbus RTU CRC-16 (polynomial 0xA001 reflected, initial 0xFFFF), sent low byte first. */
static uint16_t rtu_crc(const uint8_t *p, size_t n)
{
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc & 1u) ? (uint16_t)((crc >> 1) ^ 0xA001u) : (uint16_t)(crc >> 1);
    }
    return crc;
}

/* A slave on the pty's master side answering function 04 with 0x1234 in every register; the
 * first `corrupt_left` answers carry a wrong CRC. */
struct rtu_peer {
    int fd;
    atomic_int corrupt_left;
    atomic_int other_unit_left; /* answers from the next unit id (with a good CRC) */
    atomic_int stop;
    atomic_int answered;
    pthread_t thread;
};

static void *rtu_peer_main(void *arg)
{
    struct rtu_peer *p = arg;
    uint8_t req[8];
    size_t have = 0;
    while (!atomic_load(&p->stop)) {
        struct pollfd pf = {.fd = p->fd, .events = POLLIN};
        if (poll(&pf, 1, 20) <= 0)
            continue;
        ssize_t n = read(p->fd, req + have, sizeof req - have);
        if (n <= 0)
            continue;
        have += (size_t)n;
        if (have < sizeof req)
            continue;
        have = 0;
        unsigned count = (unsigned)req[4] << 8 | req[5];
        uint8_t rsp[3 + 2 * 16 + 2] = {req[0], req[1], (uint8_t)(2 * count)};
        if (atomic_fetch_sub(&p->other_unit_left, 1) > 0)
            rsp[0] = (uint8_t)(req[0] + 1);
        if (req[1] != 4 || count > 16 || rtu_crc(req, 6) != (req[6] | req[7] << 8))
            continue;
        for (unsigned i = 0; i < count; i++) {
            rsp[3 + 2 * i] = 0x12;
            rsp[4 + 2 * i] = 0x34;
        }
        size_t len = 3 + 2 * count;
        uint16_t crc = rtu_crc(rsp, len);
        if (atomic_fetch_sub(&p->corrupt_left, 1) > 0)
            crc ^= 0x0100;
        rsp[len] = (uint8_t)crc;
        rsp[len + 1] = (uint8_t)(crc >> 8);
        /* counted before answering: the master may look as soon as it has the answer */
        atomic_fetch_add(&p->answered, 1);
        assert_int_equal(write(p->fd, rsp, len + 2), (ssize_t)(len + 2));
    }
    return NULL;
}

/* A bad CRC is a protocol error (PD_EPROTO naming the place); the line is drained and the next
 * poll reads the right values. */
static void test_rtu_bad_crc(void **unused)
{
    /* static: a failed assertion leaves the test while the peer thread still runs */
    static struct rtu_peer peer;
    peer = (struct rtu_peer){.fd = posix_openpt(O_RDWR | O_NOCTTY)};
    assert_true(peer.fd >= 0);
    assert_int_equal(grantpt(peer.fd), 0);
    assert_int_equal(unlockpt(peer.fd), 0);
    char text[512];
    snprintf(text, sizeof text,
             "name: bal\ntransport: rtu:%s\nunit: 7\naddress_base: 0\nbaud: 115200\nparity: none\n"
             "response_timeout_ms: %d\n"
             "channels: [{name: x, table: input, address: 3, type: uint16}]\n",
             ptsname(peer.fd), pd_test_ms(100));
    void *state = NULL;
    struct pd_err err;
    assert_int_equal(create_from(text, &state, &err), 0);
    struct pd_instrument_info info = {0};
    assert_int_equal(pd_driver_modbus.open(state, &info, &err), 0);
    atomic_store(&peer.corrupt_left, 1);
    assert_int_equal(pthread_create(&peer.thread, NULL, rtu_peer_main, &peer), 0);

    struct collected c = {0};
    struct pd_sink sink = {.push = collect, .ctx = &c};
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), PD_EPROTO);
    assert_string_equal(err.msg, "bal (unit 7): read input register 3 (30004): protocol error: Invalid CRC");
    assert_int_equal(c.n, 0);
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), 0);
    assert_int_equal(c.n, 1);
    assert_true(c.last.values[0] == 4660.0);
    assert_int_equal(atomic_load(&peer.answered), 2);

    /* an answer from another address on the line: refused and counted like one over TCP */
    atomic_store(&peer.other_unit_left, 1);
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), PD_EPROTO);
    assert_non_null(strstr(err.msg, "bal (unit 7): read input register 3 (30004): protocol error"));
    assert_int_equal(c.n, 1);
    struct pd_driver_stat st[PD_DRIVER_STATS_MAX];
    size_t n_st = pd_driver_modbus.stats(state, st, PD_DRIVER_STATS_MAX);
    uint64_t mismatches = 99;
    for (size_t i = 0; i < n_st; i++)
        if (strcmp(st[i].name, "unit_mismatches") == 0)
            mismatches = st[i].value;
    assert_int_equal(mismatches, 1);
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), 0);
    assert_int_equal(c.n, 2);

    atomic_store(&peer.stop, 1);
    pthread_join(peer.thread, NULL);
    close_destroy(state);
    close(peer.fd);
}

/* ---- Config errors -------------------------------------------------------------------------*/

/* Creates from `text`, expects PD_ECONFIG at t.yaml:<line>: with `fragment` in the message. */
static void expect_config_error(const char *text, int line, const char *fragment)
{
    void *state = (void *)&state;
    struct pd_err err;
    pd_err_clear(&err);
    int rc = create_from(text, &state, &err);
    if (rc != PD_ECONFIG || !strstr(err.msg, fragment))
        fprintf(stderr, "expected '%s' at line %d, got %d: %s\n", fragment, line, rc, err.msg);
    assert_int_equal(rc, PD_ECONFIG);
    assert_int_equal(err.code, PD_ECONFIG);
    assert_true(state == (void *)&state); /* untouched */
    char where[32];
    snprintf(where, sizeof where, "t.yaml:%d:", line);
    assert_true(strncmp(err.msg, where, strlen(where)) == 0);
    const char *col = err.msg + strlen(where);
    assert_true(*col >= '1' && *col <= '9');
    assert_non_null(strstr(err.msg, fragment));
}

#define HEAD "name: f\ntransport: tcp://127.0.0.1:502\nunit: 1\naddress_base: 0\n"
#define CH(x) "channels:\n  - {name: a, table: input, address: 0, type: uint16" x "}\n"

static void test_config_errors(void **unused)
{
    expect_config_error(HEAD CH(", adress: 4"), 6, "unknown key 'adress'");
    expect_config_error(HEAD "channels:\n  - {name: a, table: input, address: 0, type: flaot32}\n", 6,
                        "unknown value 'flaot32'");
    expect_config_error(HEAD "channels:\n  - {name: a, table: input, address: 0, type: flaot32}\n", 6,
                        "float32");
    expect_config_error("name: f\ntransport: tcp://h:1\nunit: 1\n" CH(""), 1,
                        "missing required key 'address_base'");
    expect_config_error("name: f\ntransport: tcp://h:99999\nunit: 1\naddress_base: 0\n" CH(""), 2,
                        "bad port '99999'");
    expect_config_error("name: f\ntransport: tcp://host\nunit: 1\naddress_base: 0\n" CH(""), 2,
                        "transport 'tcp://host' lacks a port");
    /* unit ids: 0..255 over TCP, 1..247 on a serial line (0 is broadcast there) */
    expect_config_error("name: f\ntransport: tcp://h:1\nunit: 256\naddress_base: 0\n" CH(""), 3,
                        "out of range 0..255");
    expect_config_error("name: f\ntransport: tcp://h:1\nunit: -1\naddress_base: 0\n" CH(""), 3,
                        "out of range 0..255");
    expect_config_error("name: f\ntransport: /dev/ttyUSB0\nunit: 0\naddress_base: 0\n" CH(""), 3,
                        "unit 0 is impossible on a serial line: 1..247 (0 is the broadcast address");
    expect_config_error("name: f\ntransport: rtu:/dev/pts/3\nunit: 248\naddress_base: 0\n" CH(""), 3,
                        "unit 248 is impossible on a serial line: 1..247");
    expect_config_error("name: f\ntransport: /dev/ttyUSB0\nunit: 255\naddress_base: 0\n" CH(""), 3,
                        "unit 255 is impossible on a serial line");
    expect_config_error("name: f\ntransport: /dev/ttyUSB0\nunit: 1\naddress_base: 0\n"
                        "transparent_gateway: true\n" CH(""),
                        5, "'transparent_gateway' applies only to TCP transports, not /dev/ttyUSB0");
    expect_config_error("name: f\ntransport: /dev/ttyUSB0\nunit: 1\naddress_base: 0\n"
                        "connect_per_request: true\n" CH(""),
                        5, "'connect_per_request' applies only to TCP transports");
    expect_config_error(HEAD "connect_per_request: yes please\n" CH(""), 5, "connect_per_request");
    expect_config_error("name: f\ntransport: tcp://h:1\nunit: 1\naddress_base: 2\n" CH(""), 4,
                        "out of range 0..1");
    expect_config_error("name: f\ntransport: tcp://h:1\nunit: 1\naddress_base: 0\nbaud: 19200\n" CH(""),
                        5, "'baud' applies only to serial transports");
    expect_config_error(HEAD "channels:\n  - {name: a, table: input, address: 70000, type: uint16}\n", 6,
                        "address 70000 out of range (0..65535 with address_base 0)");
    expect_config_error("name: f\ntransport: /dev/ttyUSB0\nunit: 1\naddress_base: 1\n"
                        "channels:\n  - {name: a, table: input, address: 0, type: uint16}\n",
                        6, "address 0 out of range (1..65536 with address_base 1)");
    expect_config_error(HEAD "channels:\n  - {name: a, table: input, address: 65535, type: float32}\n",
                        6, "runs past the last register");
    expect_config_error(HEAD "channels:\n  - {name: a, table: input, address: 0, type: uint16}\n"
                             "  - {name: a, table: input, address: 1, type: uint16}\n",
                        7, "duplicate channel name 'a'");
    expect_config_error(HEAD "channels:\n  - {name: a, table: coil, address: 0, type: float32}\n", 6,
                        "type 'float32' is impossible in the coil table");
    expect_config_error(HEAD "channels:\n  - {name: a, table: input, address: 0, type: bit}\n", 6,
                        "needs 'bit'");
    expect_config_error(HEAD CH(", bit: 3"), 6, "'bit' applies only to type bit");
    expect_config_error(HEAD "channels:\n  - {name: a, table: input, address: 0, type: bit, bit: 16}\n",
                        6, "out of range 0..15");
    expect_config_error(HEAD CH(", scale: 0"), 6, "scale must not be 0");
    expect_config_error(HEAD CH(", min: 5, max: 1"), 6, "max 1 is below min 5");
    expect_config_error(HEAD "max_registers_per_request: 2\n"
                             "channels:\n  - {name: a, table: input, address: 0, type: float64}\n",
                        7, "float64 needs 4 registers but max_registers_per_request is 2");
    expect_config_error(HEAD "channels: []\n", 5, "at least one channel");
    expect_config_error(HEAD CH("") "controls:\n  - {name: go, table: input, address: 0, type: uint16}\n",
                        8, "cannot write the read-only input table");
    expect_config_error(HEAD CH("")
                        "controls:\n  - {name: go, table: holding, address: 0, type: uint16, value: 70000}\n",
                        8, "value 70000 does not fit type uint16");
    expect_config_error(HEAD CH("") "identity:\n  firmware: {table: input, address: 9, type: uint16}\n", 8,
                        "unknown identity entry 'firmware'");
    expect_config_error(HEAD CH("") "identity:\n  fw_version: {table: input, adress: 9, type: uint16}\n",
                        8, "unknown key 'adress'");
    expect_config_error("transport: tcp://h:1\nunit: 1\naddress_base: 0\n" CH(""), 1,
                        "needs a name");

    char many[4096];
    int off = snprintf(many, sizeof many, HEAD "channels:\n");
    for (int i = 0; i < 17; i++)
        off += snprintf(many + off, sizeof many - (size_t)off,
                        "  - {name: c%d, table: input, address: %d, type: uint16}\n", i, i);
    expect_config_error(many, 6, "17 channels, at most 16");
}

static void test_config_accepts(void **unused)
{
    /* the common keys, serial settings and every optional key */
    static const char text[] =
        "name: bal\ndriver: modbus\nmodel: M\nserial: S\ncalibration: {date: 2026-01-01}\n"
        "simulator: {program: x}\n"
        "transport: rtu:/dev/pts/7\nunit: 247\naddress_base: 1\nbaud: 19200\nparity: none\n"
        "data_bits: 8\nstop_bits: 2\nrs485: true\nresponse_timeout_ms: 1000\nbyte_timeout_ms: 0\n"
        "max_registers_per_request: 10\n"
        "channels:\n"
        "  - {name: w, table: holding, address: 1, type: float32, order: DCBA, scale: 2, offset: 1,"
        " unit: g, min: 0, max: 1000}\n"
        "  - {name: ready, table: discrete, address: 65536, type: bit}\n";
    void *state = NULL;
    struct pd_err err;
    int rc = create_from(text, &state, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    const char *map = pd_driver_modbus.map_text(state);
    assert_non_null(strstr(map, "serial: {baud: 19200, parity: none, data_bits: 8, stop_bits: 2, rs485: true}"));
    assert_non_null(strstr(map, "table: holding, address: 1, wire: 0, manual: \"40001\""));
    assert_non_null(strstr(map, "table: discrete, address: 65536, wire: 65535, manual: \"165536\""));
    struct pd_err e2;
    assert_int_equal(pd_driver_modbus.set_transport(state, "tcp://h:1", &e2), PD_EINVAL);
    pd_driver_modbus.destroy(state);

    /* the driver registers under its config name and lists its keys */
    assert_string_equal(pd_driver_modbus.name, "modbus");
    bool has_base = false;
    for (size_t i = 0; pd_driver_modbus.config_keys[i]; i++)
        has_base |= strcmp(pd_driver_modbus.config_keys[i], "address_base") == 0;
    assert_true(has_base);
}

int main(void)
{
    timeout_ms = pd_test_ms(timeout_ms);
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_float32_orders),
        cmocka_unit_test(test_float32_wrong_order),
        cmocka_unit_test(test_int32_minus_two),
        cmocka_unit_test(test_float64_orders),
        cmocka_unit_test(test_16bit),
        cmocka_unit_test(test_scale_offset_and_range),
        cmocka_unit_test(test_bits),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_plan_demo_map),
        cmocka_unit_test(test_plan_gaps),
        cmocka_unit_test(test_plan_limits),
        cmocka_unit_test(test_plan_mixed_tables),
        cmocka_unit_test(test_transport),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_accepts),
    };
    const struct CMUnitTest loopback[] = {
        cmocka_unit_test_setup(test_loopback_poll, reset_mapping),
        cmocka_unit_test_setup(test_loopback_controls, reset_mapping),
        cmocka_unit_test_setup(test_loopback_exception, reset_mapping),
        cmocka_unit_test_setup(test_loopback_slave_id, reset_mapping),
        cmocka_unit_test_setup(test_loopback_timeout_and_late_reply, reset_mapping),
        cmocka_unit_test_setup(test_loopback_stale_answer, reset_mapping),
        cmocka_unit_test_setup(test_loopback_busy, reset_mapping),
        cmocka_unit_test_setup(test_loopback_verify, reset_mapping),
        cmocka_unit_test_setup(test_loopback_demo_config, reset_mapping),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_rtu_pty),
        cmocka_unit_test(test_rtu_bad_crc),
    };
    int failed = cmocka_run_group_tests_name("modbus protocol and config", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("modbus loopback", loopback, server_start, server_stop);
    return failed;
}
