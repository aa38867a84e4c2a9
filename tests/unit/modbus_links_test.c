/* modbus_links_test.c — the Modbus driver against devices and gateways nobody on the project wrote,
 * played by a scripted loopback peer (tests/common/mb_peer.c): answers from another unit id,
 * unit ids 255 and 0 over TCP, one failing request among good ones, and a device that closes the
 * connection after every answer. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/mb_peer.h"
#include "common/test_time.h"
#include "config/config.h"
#include "core/core.h"
#include "driver/driver.h"

extern const struct pd_driver pd_driver_modbus;

static struct pd_test_mb_peer peer;
static int timeout_ms = 300;

/* The device: three requests — holding 10, input 0..3, input 40..41 (too far from 0..3 to be
 * read with it). The values are exact in binary so each decoded value has one right answer. */
static const float force_n = 12.5f, ext_mm = -3.25f;
static const double temp_c = 1234 * 0.1; /* raw 1234, scale 0.1: above the channel's max 100 */
enum { CH_FORCE, CH_EXT, CH_TEMP, CH_COUNT, CH_HOLD, N_CH };

static int peer_up(void **unused)
{
    (void)unused;
    timeout_ms = pd_test_ms(300);
    assert_int_equal(pd_test_mb_peer_start(&peer), 0);
    pd_test_mb_peer_put_float(&peer, 0, force_n);
    pd_test_mb_peer_put_float(&peer, 2, ext_mm);
    peer.input[40] = 1234;
    peer.input[41] = 7;
    peer.holding[10] = 0xFFFE; /* int16 −2 */
    return 0;
}

static int peer_down(void **unused)
{
    (void)unused;
    pd_test_mb_peer_stop(&peer);
    return 0;
}

/* Each test starts from a well-behaved device. */
static int script_off(void **unused)
{
    (void)unused;
    atomic_store(&peer.reply_unit, -1);
    atomic_store(&peer.fail_function, 0);
    atomic_store(&peer.fail_exception, 0);
    atomic_store(&peer.close_after_answer, 0);
    atomic_store(&peer.mangle_next, PD_MB_MANGLE_NONE);
    return 0;
}

static void *open_device(long unit, const char *extra_keys)
{
    char text[2048];
    snprintf(text, sizeof text,
             "name: dev\ndriver: modbus\ntransport: tcp://127.0.0.1:%d\nunit: %ld\naddress_base: 0\n"
             "response_timeout_ms: %d\n%s"
             "channels:\n"
             "  - {name: force, table: input, address: 0, type: float32, unit: N}\n"
             "  - {name: ext, table: input, address: 2, type: float32, unit: mm}\n"
             "  - {name: temp, table: input, address: 40, type: uint16, scale: 0.1, min: 0, max: 100}\n"
             "  - {name: count, table: input, address: 41, type: uint16}\n"
             "  - {name: hold, table: holding, address: 10, type: int16}\n",
             peer.port, unit, timeout_ms, extra_keys);
    struct pd_cfg_doc *doc = NULL;
    struct pd_err err;
    int rc = pd_cfg_load_string("t.yaml", text, strlen(text), &doc, &err);
    assert_int_equal(rc, 0);
    void *state = NULL;
    rc = pd_driver_modbus.create(pd_cfg_root(doc), &state, &err);
    pd_cfg_free(doc);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    struct pd_instrument_info info = {0};
    rc = pd_driver_modbus.open(state, &info, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    return state;
}

static void close_device(void *state)
{
    pd_driver_modbus.close(state);
    pd_driver_modbus.destroy(state);
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

/* A driver counter by name; the test fails when the driver does not report it. */
static uint64_t stat_of(void *state, const char *name)
{
    struct pd_driver_stat st[PD_DRIVER_STATS_MAX];
    size_t n = pd_driver_modbus.stats(state, st, PD_DRIVER_STATS_MAX);
    for (size_t i = 0; i < n; i++)
        if (strcmp(st[i].name, name) == 0)
            return st[i].value;
    fail_msg("no driver counter '%s'", name);
    return 0;
}

/* Everything the driver counts as a fault, summed. */
static uint64_t faults_of(void *state)
{
    struct pd_driver_stat st[PD_DRIVER_STATS_MAX];
    size_t n = pd_driver_modbus.stats(state, st, PD_DRIVER_STATS_MAX);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        if (st[i].fault)
            sum += st[i].value;
    return sum;
}

/* The values the device holds, decoded independently of the driver (see the constants above). */
static void assert_all_values(const struct pd_reading *r)
{
    assert_true(r->values[CH_FORCE] == (double)force_n);
    assert_true(r->values[CH_EXT] == (double)ext_mm);
    assert_float_equal(r->values[CH_TEMP], temp_c, 1e-9);
    assert_true(r->values[CH_COUNT] == 7.0);
    assert_true(r->values[CH_HOLD] == -2.0);
}

/* ---- Unit ids ------------------------------------------------------------------------------*/

/* An answer from another unit (a misrouted gateway or converter) is discarded and counted, never
 * stored; with transparent_gateway the same answer is accepted. */
static void test_wrong_unit_discarded(void **unused)
{
    (void)unused;
    void *state = open_device(1, "");
    struct collected c = {0};
    struct pd_sink sink = {.push = collect, .ctx = &c};
    struct pd_err err;

    atomic_store(&peer.reply_unit, 7);
    int requests0 = atomic_load(&peer.requests);
    pd_err_clear(&err);
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), PD_EPROTO);
    assert_non_null(strstr(err.msg, "dev (unit 1): read holding register 10 (40011): protocol error: "
                                    "answer from unit 7, not unit 1"));
    assert_int_equal(c.n, 0); /* nothing from the wrong device reaches the store */
    assert_int_equal(atomic_load(&peer.requests) - requests0, 1); /* the link is suspect: no more asked */
    assert_int_equal(stat_of(state, "unit_mismatches"), 1);
    assert_int_equal(stat_of(state, "protocol_errors"), 1);
    assert_int_equal(stat_of(state, "resyncs"), 1);

    /* the right device again: data flow on the renewed connection */
    atomic_store(&peer.reply_unit, -1);
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), 0);
    assert_int_equal(c.n, 1);
    assert_all_values(&c.last);
    assert_int_equal(c.last.quality, PD_Q_RANGE);
    assert_int_equal(stat_of(state, "unit_mismatches"), 1);
    close_device(state);

    /* a gateway that answers with its own id, configured as such */
    state = open_device(1, "transparent_gateway: true\n");
    assert_non_null(strstr(pd_driver_modbus.map_text(state), "transparent_gateway: true"));
    atomic_store(&peer.reply_unit, 7);
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), 0);
    assert_int_equal(c.n, 2);
    assert_all_values(&c.last);
    assert_int_equal(atomic_load(&peer.last_unit), 1); /* it still asks for unit 1 */
    assert_int_equal(stat_of(state, "unit_mismatches"), 0);
    assert_int_equal(faults_of(state), 0);
    close_device(state);
}

/* Over TCP 255 and 0 are ordinary unit ids (many TCP devices answer only to 255), and so is 248
 * (which libmodbus's own unit setter refuses): they go out in the request and the answer must
 * carry them back. */
static void test_unit_255_and_0(void **unused)
{
    (void)unused;
    static const long units[] = {255, 0, 248};
    for (size_t k = 0; k < sizeof units / sizeof units[0]; k++) {
        void *state = open_device(units[k], "");
        struct collected c = {0};
        struct pd_sink sink = {.push = collect, .ctx = &c};
        struct pd_err err;
        assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), 0);
        assert_int_equal(atomic_load(&peer.last_unit), units[k]);
        assert_int_equal(c.n, 1);
        assert_all_values(&c.last);
        assert_int_equal(faults_of(state), 0);

        /* a device answering as unit 1 to a request for this unit is another device */
        atomic_store(&peer.reply_unit, 1);
        assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), PD_EPROTO);
        assert_int_equal(c.n, 1);
        assert_int_equal(stat_of(state, "unit_mismatches"), 1);
        atomic_store(&peer.reply_unit, -1);
        close_device(state);
    }
}

/* Every field of the answer's header and PDU is checked: a spoiled answer is a protocol error
 * naming what was wrong, nothing of it is stored, and the next poll (on a renewed connection)
 * reads the device's values. */
static void test_malformed_answers(void **unused)
{
    (void)unused;
    static const struct {
        int mangle;
        const char *says;
    } cases[] = {
        /* holding 10, one register: length = unit + function + byte count + 2 data bytes = 5 */
        {PD_MB_MANGLE_PROTOCOL, "malformed MBAP header (protocol id 1, length 5)"},
        {PD_MB_MANGLE_FUNCTION, "function 4 answered to a function 3 request"},
        {PD_MB_MANGLE_SHORT, "answer of 1 data bytes (byte count 1) to a request for 2"},
        {PD_MB_MANGLE_TRANSACTION, "(a late reply?)"},
    };
    void *state = open_device(1, "");
    struct collected c = {0};
    struct pd_sink sink = {.push = collect, .ctx = &c};
    struct pd_err err;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        atomic_store(&peer.mangle_next, cases[k].mangle);
        pd_err_clear(&err);
        assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), PD_EPROTO);
        if (!strstr(err.msg, cases[k].says))
            fprintf(stderr, "case %zu: %s\n", k, err.msg);
        assert_non_null(strstr(err.msg, "dev (unit 1): read holding register 10 (40011): protocol error: "));
        assert_non_null(strstr(err.msg, cases[k].says));
        assert_int_equal(c.n, (int)k);
        assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), 0);
        assert_int_equal(c.n, (int)k + 1);
        assert_all_values(&c.last);
    }
    assert_int_equal(stat_of(state, "protocol_errors"), 4);
    assert_int_equal(stat_of(state, "resyncs"), 4);
    assert_int_equal(stat_of(state, "unit_mismatches"), 0);
    close_device(state);
}

/* ---- One failing request among good ones ---------------------------------------------------*/

/* An exception for one request: its channels are NaN with their quality bits (and no range flag
 * from a value never read) and the other requests' channels keep their values. An exception is an
 * answer, so the poll succeeds (the caller must not count a link fault per poll); the block is
 * logged once when it starts failing and counted in the stats. */
static void test_one_block_exception(void **unused)
{
    (void)unused;
    void *state = open_device(1, "");
    struct collected c = {0};
    struct pd_sink sink = {.push = collect, .ctx = &c};
    struct pd_err err;

    atomic_store(&peer.fail_function, 4);
    atomic_store(&peer.fail_first, 41);
    atomic_store(&peer.fail_last, 41);
    atomic_store(&peer.fail_exception, 2); /* illegal data address */
    int requests0 = atomic_load(&peer.requests);
    /* the log goes to stderr: catch it in a file for two polls */
    FILE *log = tmpfile();
    assert_non_null(log);
    fflush(stderr);
    int saved_stderr = dup(STDERR_FILENO);
    assert_true(saved_stderr >= 0);
    assert_true(dup2(fileno(log), STDERR_FILENO) >= 0);
    int rc1 = pd_driver_modbus.poll(state, &sink, &err);
    int rc2 = pd_driver_modbus.poll(state, &sink, &err);
    fflush(stderr);
    assert_true(dup2(saved_stderr, STDERR_FILENO) >= 0);
    close(saved_stderr);
    assert_int_equal(rc1, 0);
    assert_int_equal(rc2, 0);
    char logged[2048] = "";
    rewind(log);
    size_t got = fread(logged, 1, sizeof logged - 1, log);
    logged[got] = '\0';
    fclose(log);
    const char *warning = "dev (unit 1): read input registers 40..41 (30041..30042): exception 2";
    const char *first = strstr(logged, warning);
    assert_non_null(first);
    assert_null(strstr(first + 1, warning)); /* once, not per poll */
    assert_int_equal(atomic_load(&peer.requests) - requests0, 6); /* every request was asked */
    assert_int_equal(c.n, 2);
    const struct pd_reading *r = &c.last;
    assert_true(r->values[CH_FORCE] == (double)force_n);
    assert_true(r->values[CH_EXT] == (double)ext_mm);
    assert_true(r->values[CH_HOLD] == -2.0);
    assert_true(isnan(r->values[CH_TEMP]));
    assert_true(isnan(r->values[CH_COUNT]));
    assert_int_equal(r->quality, PD_Q_UNREAD | PD_Q_UNREAD_CHANNEL(CH_TEMP) | PD_Q_UNREAD_CHANNEL(CH_COUNT));
    assert_int_equal(stat_of(state, "exception_02"), 2);
    assert_int_equal(stat_of(state, "unread_blocks"), 2);
    assert_int_equal(stat_of(state, "resyncs"), 0); /* an exception is an answer: the link is fine */

    /* the device recovers: a whole reading, temp now read (and above its max) */
    atomic_store(&peer.fail_function, 0);
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), 0);
    assert_int_equal(c.n, 3);
    assert_all_values(&c.last);
    assert_int_equal(c.last.quality, PD_Q_RANGE);
    close_device(state);
}

/* A request that gets no answer ends the poll there (a dead device must not cost a timeout per
 * request): what was read before is kept, the rest is NaN and marked. */
static void test_silent_block(void **unused)
{
    (void)unused;
    void *state = open_device(1, "");
    struct collected c = {0};
    struct pd_sink sink = {.push = collect, .ctx = &c};
    struct pd_err err;

    atomic_store(&peer.fail_function, 4);
    atomic_store(&peer.fail_first, 0);
    atomic_store(&peer.fail_last, 0);
    atomic_store(&peer.fail_exception, 0); /* silence */
    int requests0 = atomic_load(&peer.requests);
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), PD_ETIMEOUT);
    assert_non_null(strstr(err.msg, "read input registers 0..3 (30001..30004): timeout"));
    assert_int_equal(atomic_load(&peer.requests) - requests0, 2); /* holding 10, input 0..3 */
    assert_int_equal(c.n, 1);
    assert_true(c.last.values[CH_HOLD] == -2.0);
    uint32_t unread = PD_Q_UNREAD;
    for (int ch = CH_FORCE; ch <= CH_COUNT; ch++) {
        assert_true(isnan(c.last.values[ch]));
        unread |= PD_Q_UNREAD_CHANNEL(ch);
    }
    assert_int_equal(c.last.quality, unread);
    assert_int_equal(stat_of(state, "timeouts"), 1);
    assert_int_equal(stat_of(state, "unread_blocks"), 2);

    atomic_store(&peer.fail_function, 0);
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), 0);
    assert_all_values(&c.last);
    close_device(state);
}

/* ---- A device that closes after every answer -----------------------------------------------*/

static void test_close_after_answer(void **unused)
{
    (void)unused;
    struct collected c = {0};
    struct pd_sink sink = {.push = collect, .ctx = &c};
    struct pd_err err;
    atomic_store(&peer.close_after_answer, 1);

    /* without the option the second request of a poll finds the connection gone: a link fault */
    void *state = open_device(1, "");
    assert_int_equal(pd_driver_modbus.poll(state, &sink, &err), PD_EIO);
    assert_non_null(strstr(err.msg, "dev (unit 1): read input registers 0..3 (30001..30004) (the device "
                                    "closed the connection; if it does so after every answer, set "
                                    "connect_per_request: true)"));
    assert_true(stat_of(state, "io_errors") >= 1);
    close_device(state);

    /* with connect_per_request every request has its own connection, and nothing is a fault */
    int connections0 = atomic_load(&peer.connections);
    state = open_device(1, "connect_per_request: true\n");
    assert_non_null(strstr(pd_driver_modbus.map_text(state), "connect_per_request: true"));
    int requests0 = atomic_load(&peer.requests);
    c.n = 0;
    for (int i = 0; i < 5; i++) {
        pthread_mutex_lock(&peer.lock);
        peer.input[41] = (uint16_t)(100 + i); /* each poll sees the device's current value */
        pthread_mutex_unlock(&peer.lock);
        pd_err_clear(&err);
        int rc = pd_driver_modbus.poll(state, &sink, &err);
        if (rc)
            fprintf(stderr, "%s\n", err.msg);
        assert_int_equal(rc, 0);
        assert_int_equal(c.n, i + 1);
        assert_true(c.last.values[CH_COUNT] == 100.0 + i);
        assert_true(c.last.values[CH_FORCE] == (double)force_n);
        assert_true(c.last.values[CH_HOLD] == -2.0);
        assert_int_equal(c.last.quality, PD_Q_RANGE);
    }
    assert_int_equal(atomic_load(&peer.requests) - requests0, 15);
    /* open's connection carried the first request; each of the other 14 had its own */
    assert_int_equal(atomic_load(&peer.connections) - connections0, 15);
    assert_int_equal(stat_of(state, "request_connects"), 14);
    assert_int_equal(stat_of(state, "requests"), 15);
    assert_int_equal(faults_of(state), 0);
    assert_int_equal(stat_of(state, "reopens"), 0);
    close_device(state);
    pthread_mutex_lock(&peer.lock);
    peer.input[41] = 7;
    pthread_mutex_unlock(&peer.lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_wrong_unit_discarded, script_off),
        cmocka_unit_test_setup(test_unit_255_and_0, script_off),
        cmocka_unit_test_setup(test_malformed_answers, script_off),
        cmocka_unit_test_setup(test_one_block_exception, script_off),
        cmocka_unit_test_setup(test_silent_block, script_off),
        cmocka_unit_test_setup(test_close_after_answer, script_off),
    };
    return cmocka_run_group_tests(tests, peer_up, peer_down);
}
