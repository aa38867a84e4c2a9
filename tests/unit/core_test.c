/* core_test.c — status/error detail, string parsing, clocks and time base, the SPSC ring. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static void test_err_set_formats_place_and_message(void **state)
{
    (void)state;
    struct pd_err err;
    pd_err_clear(&err);
    int rc = pd_err_set(&err, PD_ECONFIG, "demo.yaml:3:7", "unknown key '%s'", "tranport");
    assert_int_equal(rc, PD_ECONFIG);
    assert_int_equal(err.code, PD_ECONFIG);
    assert_string_equal(err.where, "demo.yaml:3:7");
    assert_string_equal(err.msg, "demo.yaml:3:7: unknown key 'tranport'");

    rc = pd_err_set_os(&err, PD_EIO, ENOENT, "runs/x.h5", "cannot open");
    assert_int_equal(rc, PD_EIO);
    assert_int_equal(err.os_errno, ENOENT);
    assert_string_equal(err.msg, "runs/x.h5: cannot open: No such file or directory");

    assert_int_equal(pd_err_set(NULL, PD_EIO, NULL, "dropped"), PD_EIO);
    pd_err_set(&err, PD_ETIMEOUT, NULL, "no where");
    assert_string_equal(err.msg, "no where");
}

static void test_err_long_message_is_truncated_not_overflowed(void **state)
{
    (void)state;
    struct pd_err err;
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    pd_err_set(&err, PD_EINVAL, big, "%s", big);
    assert_int_equal(strlen(err.where), sizeof err.where - 1);
    assert_int_equal(strlen(err.msg), sizeof err.msg - 1);
}

static void test_status_names(void **state)
{
    (void)state;
    assert_string_equal(pd_status_name(PD_ETIMEOUT), "timeout");
    assert_string_equal(pd_status_name(PD_EDEVICE), "device exception");
    assert_string_equal(pd_status_name(12345), "unknown error");
}

static void test_parse_numbers_strictly(void **state)
{
    (void)state;
    double d;
    long l;
    assert_true(pd_parse_double("1500.5", &d));
    assert_true(d == 1500.5);
    assert_true(pd_parse_double("-2e-3", &d));
    assert_true(d == -2e-3);
    assert_false(pd_parse_double("", &d));
    assert_false(pd_parse_double("12abc", &d));
    assert_false(pd_parse_double("inf", &d));
    assert_false(pd_parse_double("nan", &d));
    assert_false(pd_parse_double("1e999", &d));
    assert_true(pd_parse_long("502", &l));
    assert_int_equal(l, 502);
    assert_true(pd_parse_long("010", &l));
    assert_int_equal(l, 10); /* never octal */
    assert_true(pd_parse_long("0x1F", &l));
    assert_int_equal(l, 31);
    assert_false(pd_parse_long("5.0", &l));
    assert_false(pd_parse_long("99999999999999999999999", &l));
}

static void test_strlcpy_reports_truncation(void **state)
{
    (void)state;
    char buf[4];
    assert_int_equal(pd_strlcpy(buf, "abc", sizeof buf), PD_OK);
    assert_string_equal(buf, "abc");
    assert_int_equal(pd_strlcpy(buf, "abcd", sizeof buf), PD_ERANGE);
    assert_string_equal(buf, "abc");
}

static void test_iso8601(void **state)
{
    (void)state;
    char buf[40];
    pd_time_format_iso8601(0, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000000000Z");
    pd_time_format_iso8601(1795573618123456789LL, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-25T02:26:58.123456789Z");
    pd_time_format_iso8601(-1, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.999999999Z");
}

static void test_clocks_and_timebase(void **state)
{
    (void)state;
    int64_t a = pd_clock_mono_ns();
    pd_clock_sleep_ns(2000000);
    int64_t b = pd_clock_mono_ns();
    assert_true(b - a >= 2000000);
    struct pd_timebase tb;
    pd_timebase_init(&tb);
    int64_t m = pd_clock_mono_ns();
    int64_t predicted = pd_timebase_utc(&tb, m);
    int64_t actual = pd_clock_utc_ns();
    /* no clock step in the test: prediction and realtime agree to well under 10 ms */
    assert_true(llabs(actual - predicted) < 10000000);
    assert_true(llabs(pd_timebase_step_ns(&tb)) < 10000000);
    assert_int_equal(pd_timebase_utc(&tb, tb.mono0_ns + 5), tb.utc0_ns + 5);
}

static void test_ring_fifo_and_full(void **state)
{
    (void)state;
    struct pd_ring r;
    assert_int_equal(pd_ring_init(&r, sizeof(int), 5), PD_OK);
    assert_int_equal(pd_ring_capacity(&r), 8);
    for (int i = 0; i < 8; i++)
        assert_true(pd_ring_push(&r, &i));
    int x = 99;
    assert_false(pd_ring_push(&r, &x)); /* full: refused, nothing overwritten */
    assert_int_equal(pd_ring_count(&r), 8);
    int out[8];
    assert_int_equal(pd_ring_pop(&r, out, 3), 3);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[2], 2);
    for (int i = 8; i < 11; i++)
        assert_true(pd_ring_push(&r, &i));
    assert_int_equal(pd_ring_pop(&r, out, 8), 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal(out[i], i + 3);
    assert_int_equal(pd_ring_pop(&r, out, 8), 0);
    pd_ring_close(&r);
    assert_int_equal(pd_ring_init(&r, 0, 4), PD_EINVAL);
}

#define RING_ITEMS 200000
static void *producer(void *arg)
{
    struct pd_ring *r = arg;
    for (uint64_t i = 0; i < RING_ITEMS;) {
        if (pd_ring_push(r, &i))
            i++;
        else
            sched_yield(); /* full: let the consumer run (matters on one core and under valgrind) */
    }
    return NULL;
}

static void test_ring_two_threads_keep_order(void **state)
{
    (void)state;
    struct pd_ring r;
    assert_int_equal(pd_ring_init(&r, sizeof(uint64_t), 1024), PD_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, producer, &r), 0);
    uint64_t expect = 0, buf[256];
    while (expect < RING_ITEMS) {
        size_t n = pd_ring_pop(&r, buf, 256);
        if (n == 0)
            sched_yield();
        for (size_t i = 0; i < n; i++) {
            if (buf[i] != expect)
                fail_msg("item %llu arrived where %llu was expected", (unsigned long long)buf[i],
                         (unsigned long long)expect);
            expect++;
        }
    }
    pthread_join(t, NULL);
    assert_int_equal(pd_ring_count(&r), 0);
    pd_ring_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_set_formats_place_and_message),
        cmocka_unit_test(test_err_long_message_is_truncated_not_overflowed),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_parse_numbers_strictly),
        cmocka_unit_test(test_strlcpy_reports_truncation),
        cmocka_unit_test(test_iso8601),
        cmocka_unit_test(test_clocks_and_timebase),
        cmocka_unit_test(test_ring_fifo_and_full),
        cmocka_unit_test(test_ring_two_threads_keep_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
