/* serial_line_test.c — configured line grammars: pattern compile errors, matching (blanks,
 * numbers, words, skips), then the driver against a scripted instrument on a real pty: identity,
 * readings with units from the line, report-on-change, device errors, garbage, range, controls, and
 * the identify answer's `simulated` field marking a simulator's data. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/pty_device.h"
#include "common/test_time.h"
#include "driver/driver.h"
#include "serial_line/protocol.h"

#define assert_near(a, b, eps) assert_true(fabs((double)(a) - (double)(b)) <= (eps))

static void test_patterns(void **state)
{
    (void)state;
    struct sl_pattern p;
    struct sl_match m;
    char why[160];
    assert_int_equal(sl_pattern_compile("H{scale:word} {hardness} T {dwell} C {*}", &p, why, sizeof why), 0);
    assert_int_equal(p.n_fields, 3);
    assert_int_equal(sl_pattern_match(&p, "HA  67.3 T 15.00 C 1  \r", &m, why, sizeof why), 0);
    assert_string_equal(m.words[sl_pattern_field(&p, "scale")], "A");
    assert_near(m.numbers[sl_pattern_field(&p, "hardness")], 67.3, 1e-12);
    assert_near(m.numbers[sl_pattern_field(&p, "dwell")], 15.0, 1e-12);
    assert_int_equal(sl_pattern_match(&p, "HA 67.3 T 15.00", &m, why, sizeof why), -1);
    assert_non_null(strstr(why, "column 16"));
    assert_int_equal(sl_pattern_match(&p, "HA abc T 1 C 1", &m, why, sizeof why), -1);
    assert_non_null(strstr(why, "hardness"));
    assert_int_equal(sl_pattern_match(&p, "HA 1 T 1 C 1 extra", &m, why, sizeof why), -1);
    assert_int_equal(sl_pattern_compile("{v}{{x}}", &p, why, sizeof why), 0);
    assert_int_equal(sl_pattern_match(&p, "-1.5e3{x}", &m, why, sizeof why), 0);
    assert_near(m.numbers[0], -1500, 1e-9);
    assert_int_equal(sl_pattern_match(&p, "nan{x}", &m, why, sizeof why), -1);
    assert_int_equal(sl_pattern_match(&p, "1e999{x}", &m, why, sizeof why), -1);

    static const char *const bad[] = {"", "{", "{a}{b}", "{a} {a}", "{a:float}", "x}", "{bad name}", "{}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (sl_pattern_compile(bad[i], &p, why, sizeof why) == 0)
            fail_msg("pattern '%s' accepted", bad[i]);
    char out[32];
    assert_int_equal(sl_format_request("SP {value}", 230.5, out, sizeof out), 0);
    assert_string_equal(out, "SP 230.5");
    assert_int_equal(sl_format_request("GO", 0, out, sizeof out), 0);
    assert_int_equal(sl_format_request("0123456789012345678901234567890123", 0, out, sizeof out), -1);
}

/* ---- a scripted instrument on a pty ----------------------------------------------------------*/

struct device {
    struct pd_test_pty_device pty;
    const char *reading;  /* reply to "R?" (NULL: silence) */
    const char *identity; /* reply to "ID?" (NULL: silence) */
    char last_control[64];
};

static const char *device_answer(void *ctx, const char *req)
{
    struct device *d = ctx;
    if (strcmp(req, "ID?") == 0)
        return d->identity;
    if (strcmp(req, "R?") == 0)
        return d->reading;
    if (strncmp(req, "SP ", 3) == 0 || strcmp(req, "GO") == 0) {
        snprintf(d->last_control, sizeof d->last_control, "%s", req);
        return "OK";
    }
    return "ERR 7";
}

static void device_start(struct device *d)
{
    memset(d, 0, sizeof *d);
    d->reading = "W  12.50 g N 1";
    d->identity = "SCALE PX-1 SN 777 FW 3.2";
    assert_int_equal(pd_test_pty_device_start(&d->pty, device_answer, d), 0);
}

static void device_stop(struct device *d)
{
    pd_test_pty_device_stop(&d->pty);
}

static const char instrument_fmt[] =
    "name: scale1\n"
    "driver: serial_line\n"
    "transport: %s\n"
    "response_timeout_ms: %d\n"
    "identify: {request: \"ID?\", response: \"%s\"}\n"
    "poll: {request: \"R?\", response: \"W {w} {u:word} N {n}\"}\n"
    "error_response: \"ERR {code}\"\n"
    "channels:\n"
    "  - {name: mass, field: w, unit: g, unit_field: u, units: {g: 1, kg: 1000}, min: 0, max: 100}\n"
    "  - {name: n, unit: \"\"}\n"
    "controls:\n"
    "  - {name: temperature, request: \"SP {value}\", response: OK}\n"
    "  - {name: start, request: GO, response: OK}\n"
    "  - {name: bogus, request: XX, response: OK}\n"
    "%s";

#define DEFAULT_ID_RESPONSE "SCALE {model:word} SN {serial} FW {firmware:word}"

static void *create_id(const char *path, const char *id_response, const char *extra, int expect_rc,
                       const char *expect_where)
{
    char text[2048];
    snprintf(text, sizeof text, instrument_fmt, path, pd_test_ms(150), id_response, extra ? extra : "");
    struct pd_cfg_doc *doc;
    struct pd_err err;
    assert_int_equal(pd_cfg_load_string("s.yaml", text, strlen(text), &doc, &err), 0);
    void *st = NULL;
    const struct pd_driver *d = pd_driver_find("serial_line");
    assert_non_null(d);
    int rc = d->create(pd_cfg_root(doc), &st, &err);
    pd_cfg_free(doc);
    if (rc != expect_rc)
        fail_msg("create: %d %s", rc, err.msg);
    if (expect_where && !strstr(err.msg, expect_where))
        fail_msg("'%s' lacks %s", err.msg, expect_where);
    return st;
}

static void *create(const char *path, const char *extra, int expect_rc, const char *expect_where)
{
    return create_id(path, DEFAULT_ID_RESPONSE, extra, expect_rc, expect_where);
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

static void test_driver(void **state)
{
    (void)state;
    struct device dev;
    device_start(&dev);
    const struct pd_driver *d = pd_driver_find("serial_line");
    void *st = create(dev.pty.path, NULL, 0, NULL);
    struct pd_instrument_info info = {0};
    struct pd_err err;
    assert_int_equal(d->open(st, &info, &err), 0);
    assert_string_equal(info.model, "PX-1");
    assert_string_equal(info.serial, "777");
    assert_string_equal(info.firmware, "3.2");
    assert_int_equal(info.simulated, 0); /* no `simulated` field: nothing says simulator */
    struct collected c = {0};
    struct pd_sink sink = {.push = collect, .ctx = &c};
    assert_int_equal(d->poll(st, &sink, &err), 0);
    assert_int_equal(c.n, 1);
    assert_near(c.last.values[0], 12.5, 1e-12);
    assert_true(c.last.half_width_ns > 0);
    pd_test_pty_device_set(&dev.pty, &dev.reading, "W 0.0125 kg N 2");
    assert_int_equal(d->poll(st, &sink, &err), 0);
    assert_near(c.last.values[0], 12.5, 1e-9);

    static const struct {
        const char *line;
        int rc;
        const char *text;
    } cases[] = {
        {"W 1 lb N 3", PD_EPROTO, "unit 'lb'"},
        {"ERR 42", PD_EDEVICE, "instrument error 'ERR 42'"},
        {"W x g N 1", PD_EPROTO, "does not match"},
        {"\x01\x02garbage", PD_EPROTO, "\\x01"},
        {NULL, PD_ETIMEOUT, "no complete line within"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pd_test_pty_device_set(&dev.pty, &dev.reading, cases[i].line);
        c.n = 0;
        int rc = d->poll(st, &sink, &err);
        if (rc != cases[i].rc || !strstr(err.msg, cases[i].text) || !strstr(err.msg, "scale1") ||
            !strstr(err.msg, dev.pty.path))
            fail_msg("'%s': %d '%s'", cases[i].line ? cases[i].line : "(silence)", rc, err.msg);
        assert_int_equal(c.n, 0);
        if (cases[i].rc == PD_EDEVICE)
            assert_int_equal(err.device_code, 42);
    }
    pd_test_pty_device_set(&dev.pty, &dev.reading, "W 150 g N 3"); /* above max: kept and flagged, then reported */
    c.n = 0;
    assert_int_equal(d->poll(st, &sink, &err), PD_ERANGE);
    assert_int_equal(c.n, 1);
    assert_true(c.last.quality & PD_Q_RANGE);

    assert_int_equal(d->control(st, "temperature", 230.5, &err), 0);
    assert_string_equal(dev.last_control, "SP 230.5");
    assert_int_equal(d->control(st, "start", 1, &err), 0);
    assert_int_equal(d->control(st, "bogus", 1, &err), PD_EDEVICE);
    assert_int_equal(d->control(st, "missing", 1, &err), PD_EUNSUPPORTED);
    assert_non_null(strstr(d->map_text(st), "R?"));
    d->close(st);
    d->destroy(st);

    /* report_on_change: the held reading at open is the baseline; only changes are readings */
    st = create(dev.pty.path, "report_on_change: n\n", 0, NULL);
    assert_int_equal(d->open(st, &info, &err), 0);
    pd_test_pty_device_set(&dev.pty, &dev.reading, "W 5 g N 4");
    c.n = 0;
    assert_int_equal(d->poll(st, &sink, &err), 0);
    assert_int_equal(d->poll(st, &sink, &err), 0);
    assert_int_equal(c.n, 0);
    pd_test_pty_device_set(&dev.pty, &dev.reading, "W 6 g N 5");
    assert_int_equal(d->poll(st, &sink, &err), 0);
    assert_int_equal(d->poll(st, &sink, &err), 0);
    assert_int_equal(c.n, 1);
    assert_near(c.last.values[0], 6, 0);
    d->destroy(st);
    device_stop(&dev);
}

/* A number field `simulated` in the identify response: nonzero sets info->simulated, zero leaves
 * it as the caller set it (0, or 1 from a `simulator:` section); as a word it is a config error. */
static void test_driver_simulated(void **state)
{
    (void)state;
    struct device dev;
    device_start(&dev);
    const struct pd_driver *d = pd_driver_find("serial_line");
    void *st = create_id(dev.pty.path, "SCALE {model:word} SN {serial} FW {firmware:word} SIM {simulated}", NULL, 0, NULL);
    struct pd_err err;
    static const struct {
        const char *identity;
        int preset, simulated;
    } cases[] = {
        {"SCALE PX-1 SN 777 FW 3.2 SIM 1", 0, 1}, /* what polydaq-sim's durometer and MFI answer */
        {"SCALE PX-1 SN 777 FW 3.2 SIM 2", 0, 1}, /* any nonzero number */
        {"SCALE PX-1 SN 777 FW 3.2 SIM -1", 0, 1},
        {"SCALE PX-1 SN 777 FW 3.2 SIM 0", 0, 0}, /* an instrument saying it is real */
        {"SCALE PX-1 SN 777 FW 3.2 SIM 0.0", 0, 0},
        {"SCALE PX-1 SN 777 FW 3.2 SIM 0", 1, 1}, /* a simulator: section's mark stays */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pd_test_pty_device_set(&dev.pty, &dev.identity, cases[i].identity);
        struct pd_instrument_info info = {.simulated = cases[i].preset};
        if (d->open(st, &info, &err) != 0)
            fail_msg("'%s': open failed: %s", cases[i].identity, err.msg);
        if (info.simulated != cases[i].simulated)
            fail_msg("'%s' (preset %d): simulated %d", cases[i].identity, cases[i].preset, info.simulated);
        assert_string_equal(info.serial, "777");
        assert_string_equal(info.firmware, "3.2");
        d->close(st);
    }
    /* the configured grammar is the contract: an answer without the field (or with a word in it)
     * does not match, so the instrument does not open at all rather than open as real */
    static const char *const unmatched[] = {"SCALE PX-1 SN 777 FW 3.2", "SCALE PX-1 SN 777 FW 3.2 SIM yes"};
    for (size_t i = 0; i < 2; i++) {
        pd_test_pty_device_set(&dev.pty, &dev.identity, unmatched[i]);
        struct pd_instrument_info info = {0};
        assert_int_equal(d->open(st, &info, &err), PD_EPROTO);
        assert_non_null(strstr(err.msg, "identify"));
        assert_int_equal(info.simulated, 0);
    }
    d->destroy(st);
    device_stop(&dev);

    /* `simulated` must be a number: a word would need a second setting naming the value */
    assert_null(create_id("/dev/ttyS9", "SCALE {model:word} SIM {simulated:word}", NULL, PD_ECONFIG, "s.yaml:5:"));
    assert_null(create_id("/dev/ttyS9", "SCALE {model:word} SIM {simulated:word}", NULL, PD_ECONFIG,
                          "'simulated' must be a number"));
}

static void test_config_errors(void **state)
{
    (void)state;
    assert_null(create("/dev/ttyS9", "report_on_change: u\n", PD_ECONFIG, "s.yaml:15:19"));
    assert_null(create("/dev/ttyS9", "stream_wait_ms: 0\n", PD_ECONFIG, "s.yaml:15:17"));
    assert_null(create("/dev/ttyS9", "poll_pattern: x\n", PD_ECONFIG, "s.yaml:15:1"));
    /* a channel naming a field the response lacks */
    static const char bad_field[] =
        "name: x\ndriver: serial_line\ntransport: /dev/ttyS9\npoll: {request: \"R?\", response: \"V {v}\"}\n"
        "channels:\n  - {name: w}\n";
    struct pd_cfg_doc *doc;
    struct pd_err err;
    assert_int_equal(pd_cfg_load_string("f.yaml", bad_field, strlen(bad_field), &doc, &err), 0);
    void *st = NULL;
    assert_int_equal(pd_driver_find("serial_line")->create(pd_cfg_root(doc), &st, &err), PD_ECONFIG);
    if (!strstr(err.msg, "f.yaml:6:12"))
        fail_msg("%s", err.msg);
    assert_non_null(strstr(err.msg, "no field 'w'"));
    pd_cfg_free(doc);
    static const char bad_pattern[] =
        "name: x\ndriver: serial_line\ntransport: /dev/ttyS9\npoll: {request: \"R?\", response: \"V {v\"}\n"
        "channels:\n  - {name: v}\n";
    assert_int_equal(pd_cfg_load_string("p.yaml", bad_pattern, strlen(bad_pattern), &doc, &err), 0);
    assert_int_equal(pd_driver_find("serial_line")->create(pd_cfg_root(doc), &st, &err), PD_ECONFIG);
    assert_non_null(strstr(err.msg, "p.yaml:4:"));
    assert_non_null(strstr(err.msg, "without '}'"));
    pd_cfg_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patterns),
        cmocka_unit_test(test_driver),
        cmocka_unit_test(test_driver_simulated),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
