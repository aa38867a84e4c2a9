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
    /* decimal only: no hexadecimal, no leading blanks (strtod takes both) */
    assert_false(pd_parse_double("0x10", &d));
    assert_false(pd_parse_double("0x1p4", &d));
    assert_false(pd_parse_double(" 12", &d));
    assert_false(pd_parse_double("-0x2", &d));
    assert_true(pd_parse_double(".5", &d));
    assert_true(pd_parse_double("+1e3", &d));
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

/* Elements of an odd size (not a power of two), so a wrong offset shows up as mixed-up bytes. */
struct ring_elem {
    uint32_t n;
    unsigned char tag[7];
};

/* A bulk pop across the buffer's wrap point, from every starting slot and for every length, gives
 * the elements in order, writes exactly that many into `out` and frees exactly their slots. */
static void test_ring_bulk_pop_wraps(void **state)
{
    (void)state;
    struct pd_ring r;
    assert_int_equal(pd_ring_init(&r, sizeof(struct ring_elem), 8), PD_OK);
    uint32_t next_in = 0, next_out = 0;
    for (size_t start = 0; start < 8; start++) {
        for (size_t len = 1; len <= 8; len++) {
            /* move the ring's tail to slot `start` (mod 8) with an empty ring */
            struct ring_elem e, out[10];
            while ((next_in & 7) != start) {
                memset(&e, 0, sizeof e);
                e.n = next_in++;
                assert_true(pd_ring_push(&r, &e));
                assert_int_equal(pd_ring_pop(&r, out, 1), 1);
                assert_int_equal(out[0].n, next_out++);
            }
            for (size_t k = 0; k < len; k++) {
                e.n = next_in;
                memset(e.tag, (int)(next_in & 0xff), sizeof e.tag);
                next_in++;
                assert_true(pd_ring_push(&r, &e));
            }
            memset(out, 0xAB, sizeof out);
            size_t want = len > 2 ? len - 1 : len; /* leave one behind sometimes */
            assert_int_equal(pd_ring_pop(&r, out, want), want);
            for (size_t k = 0; k < want; k++) {
                assert_int_equal(out[k].n, next_out);
                for (size_t b = 0; b < sizeof out[k].tag; b++)
                    assert_int_equal(out[k].tag[b], next_out & 0xff);
                next_out++;
            }
            const unsigned char *rest = (const unsigned char *)&out[want];
            for (size_t b = 0; b < sizeof out - want * sizeof out[0]; b++)
                assert_int_equal(rest[b], 0xAB); /* nothing written past the popped elements */
            assert_int_equal(pd_ring_count(&r), len - want);
            /* the freed slots take new elements again: the ring holds exactly its capacity */
            size_t pushed = 0;
            memset(&e, 0, sizeof e);
            for (e.n = next_in; pd_ring_push(&r, &e); e.n = ++next_in)
                pushed++;
            assert_int_equal(pushed, 8 - (len - want));
            while (pd_ring_count(&r) > 0) {
                size_t n = pd_ring_pop(&r, out, 3);
                for (size_t k = 0; k < n; k++)
                    assert_int_equal(out[k].n, next_out++);
            }
        }
    }
    assert_int_equal(next_in, next_out);
    assert_int_equal(pd_ring_pop(&r, NULL, 0), 0);
    pd_ring_close(&r);
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

/* The consumer pops up to `max` at a time; a `max` that does not divide the capacity makes the
 * bulk copies start and end everywhere, so many of them cross the wrap point. */
static void ring_two_threads(size_t max)
{
    struct pd_ring r;
    assert_int_equal(pd_ring_init(&r, sizeof(uint64_t), 1024), PD_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, producer, &r), 0);
    uint64_t expect = 0, buf[1024];
    while (expect < RING_ITEMS) {
        size_t n = pd_ring_pop(&r, buf, max);
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

/* In-place reading: peek gives the oldest elements up to the wrap point (never past it, never
 * more than asked or than there are), release frees exactly that many, and the producer can use
 * the freed slots only after the release. */
static void test_ring_peek_release(void **state)
{
    (void)state;
    struct pd_ring r;
    assert_int_equal(pd_ring_init(&r, sizeof(struct ring_elem), 8), PD_OK);
    struct ring_elem e;
    memset(&e, 0, sizeof e);
    uint32_t next_in = 0, next_out = 0;
    const void *span = NULL;
    assert_int_equal(pd_ring_peek(&r, 4, &span), 0); /* empty */
    for (int round = 0; round < 40; round++) {
        size_t len = (size_t)(round % 8) + 1;
        for (size_t k = 0; k < len; k++) {
            e.n = next_in++;
            assert_true(pd_ring_push(&r, &e));
        }
        size_t left = len;
        while (left > 0) {
            size_t at = next_out & 7, want = round % 3 == 0 ? 8 : 2;
            size_t n = pd_ring_peek(&r, want, &span);
            size_t expect = left < want ? left : want;
            if (expect > 8 - at)
                expect = 8 - at; /* stops at the wrap point */
            assert_int_equal(n, expect);
            const struct ring_elem *x = span;
            for (size_t k = 0; k < n; k++)
                assert_int_equal(x[k].n, next_out + k);
            if (pd_ring_count(&r) == 8) { /* full: peeked slots are not free until released */
                e.n = next_in;
                assert_false(pd_ring_push(&r, &e));
            }
            pd_ring_release(&r, n);
            next_out += (uint32_t)n;
            left -= n;
        }
        assert_int_equal(pd_ring_count(&r), 0);
    }
    pd_ring_close(&r);
}

static void test_ring_two_threads_keep_order(void **state)
{
    (void)state;
    ring_two_threads(256);
    ring_two_threads(1000); /* nearly the whole ring per pop, crossing the wrap almost every time */
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
        cmocka_unit_test(test_ring_bulk_pop_wraps),
        cmocka_unit_test(test_ring_peek_release),
        cmocka_unit_test(test_ring_two_threads_keep_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
