/* mtsics_test.c — the MT-SICS balance driver: the reference's B1 parser vectors and other lines,
 * then the driver against a scripted balance on a real pty: identity (and a simulator declared by
 * I2), stable and dynamic weights, units, every error answer, garbage, silence, the plausibility
 * range, controls, config errors. */
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
#include "mtsics/protocol.h"

/* cmocka 1.1.5 has no assert_double_equal */
#define assert_double_equal(a, b, eps) assert_true(fabs((double)(a) - (double)(b)) <= (eps))

/* ---- parser --------------------------------------------------------------------------------*/

static void parse_ok(const char *line, struct mtsics_reply *r)
{
    char why[128];
    if (mtsics_parse(line, r, why, sizeof why) != 0)
        fail_msg("'%s' refused: %s", line, why);
}

static void test_b1_vectors(void **state)
{
    (void)state;
    struct mtsics_reply r;
    parse_ok("S S      12.3456 g", &r);
    assert_int_equal(r.kind, MTSICS_STABLE);
    assert_string_equal(r.cmd, "S");
    assert_true(r.has_weight);
    assert_double_equal(r.weight, 12.3456, 1e-12);
    assert_string_equal(r.unit, "g");
    parse_ok("S D      12.3471 g", &r);
    assert_int_equal(r.kind, MTSICS_DYNAMIC);
    assert_double_equal(r.weight, 12.3471, 1e-12);
    parse_ok("S I", &r);
    assert_int_equal(r.kind, MTSICS_BUSY);
    assert_false(r.has_weight);
    parse_ok("S +", &r);
    assert_int_equal(r.kind, MTSICS_OVERLOAD);
    parse_ok("S -", &r);
    assert_int_equal(r.kind, MTSICS_UNDERLOAD);
    parse_ok("ES", &r);
    assert_int_equal(r.kind, MTSICS_ERR_SYNTAX);
    assert_string_equal(r.cmd, "");
    parse_ok("ET", &r);
    assert_int_equal(r.kind, MTSICS_ERR_TRANSMISSION);
    parse_ok("EL", &r);
    assert_int_equal(r.kind, MTSICS_ERR_LOGIC);
    parse_ok("Z A", &r);
    assert_int_equal(r.kind, MTSICS_DONE);
    assert_string_equal(r.cmd, "Z");
    parse_ok("T S      50.0012 g", &r);
    assert_string_equal(r.cmd, "T");
    assert_double_equal(r.weight, 50.0012, 1e-12);
    parse_ok("I4 A \"B021002593\"", &r);
    assert_true(r.has_text);
    assert_string_equal(r.text, "B021002593");
    parse_ok("I2 A \"WMS404C-L/01 410.0090 g\"", &r);
    assert_string_equal(r.text, "WMS404C-L/01 410.0090 g");
    parse_ok("S S    -0.0012 kg  ", &r); /* trailing blanks */
    assert_double_equal(r.weight, -0.0012, 1e-12);
    assert_string_equal(r.unit, "kg");
    parse_ok("Z L", &r);
    assert_int_equal(r.kind, MTSICS_LOGIC);
}

/* The word SIMULATED in I2's text, and only as a whole word, declares a simulator. */
static void test_i2_simulated(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool simulated;
    } cases[] = {
        {"PD-XS205 SIMULATED 220.0000 g", true}, /* what polydaq-sim answers */
        {"SIMULATED 220.0000 g", true},
        {"XS SIMULATED", true},
        {"XS205 DualRange SIMULATED", true},
        {"XS 205 DU 220.0000 g", false}, /* real balances' types */
        {"WMS404C-L/01 410.0090 g", false},
        {"XPE205 DeltaRange 220.00000 g", false},
        {"", false},
        {"SIMULATEDX 1 g", false}, /* part of another word is not the mark */
        {"XSIMULATED 1 g", false},
        {"PD-SIMULATED-1 1 g", false},
        {"simulated 1 g", false}, /* the simulator sends it upper-case; nothing else counts */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (mtsics_i2_simulated(cases[i].text) != cases[i].simulated)
            fail_msg("'%s': expected %s", cases[i].text, cases[i].simulated ? "simulated" : "real");
}

static void test_parser_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",  "S",           "S X 1 g",    "S S Error 12", "S S 12.3",      "S S 1.2.3 g",   "S S 12 g extra",
        "S SS 1 g", "\"x\"", "I4 A \"unterminated", "S S nan g", "S S inf g", "s s 1 g", "S S 1e5 g",
        "S S 12\x01 g", "ABCDEFGHIJ A", "S S 1 verylongunit",
    };
    struct mtsics_reply r;
    memset(&r, 0x5a, sizeof r);
    struct mtsics_reply before = r;
    char why[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (mtsics_parse(bad[i], &r, why, sizeof why) == 0)
            fail_msg("'%s' accepted", bad[i]);
        assert_true(why[0] != '\0');
    }
    assert_memory_equal(&r, &before, sizeof r); /* output untouched on failure */
    double f;
    assert_true(mtsics_unit_to_grams("mg", &f));
    assert_double_equal(f, 0.001, 0);
    assert_true(mtsics_unit_to_grams("kg", &f));
    assert_double_equal(f, 1000, 0);
    assert_false(mtsics_unit_to_grams("lb", &f));
    assert_string_equal(mtsics_reply_cmd("SI"), "S");
    assert_string_equal(mtsics_reply_cmd("@"), "I4");
}

/* The weight in grams from the decimal text: equal to the double nearest the exact decimal value
 * in grams. The truth is built another way: the decimal point moved by hand in the digit string,
 * then one strtod; over every unit, sign and number of decimals, on random digits. */
static double grams_by_hand(const char *digits, size_t decimals, int negative, int exponent)
{
    /* the value is digits × 10^(exponent − decimals): zeros padded on the side the point moves to
     * (at least one integer digit), then the point placed */
    char padded[64], text[96];
    int shift = exponent - (int)decimals;
    size_t n = strlen(digits), o = 0;
    size_t frac = shift < 0 ? (size_t)-shift : 0;
    for (size_t k = n; k < frac + 1; k++)
        padded[o++] = '0';
    memcpy(padded + o, digits, n);
    o += n;
    for (int k = 0; k < shift; k++)
        padded[o++] = '0';
    padded[o] = '\0';
    size_t int_len = o - frac;
    snprintf(text, sizeof text, "%s%.*s.%s", negative ? "-" : "", (int)int_len, padded, padded + int_len);
    return strtod(text, NULL);
}

static void test_unit_conversion_exact(void **state)
{
    (void)state;
    struct mtsics_reply r;
    double g;
    parse_ok("S S    12345.6 mg", &r);
    assert_true(mtsics_weight_grams(&r, &g));
    assert_true(g == 12.3456);
    assert_true(12345.6 * 0.001 != 12.3456); /* the vector shows the noise a multiplication adds */
    parse_ok("S S  0.0123456 kg", &r);
    assert_true(mtsics_weight_grams(&r, &g));
    assert_true(g == 12.3456);
    parse_ok("S S    -0.0012 kg", &r);
    assert_true(mtsics_weight_grams(&r, &g));
    assert_true(g == -1.2);
    parse_ok("S D      0.1 mg", &r);
    assert_true(mtsics_weight_grams(&r, &g));
    assert_true(g == 0.0001);
    parse_ok("S S 12.3 lb", &r);
    assert_false(mtsics_weight_grams(&r, &g));
    parse_ok("S +", &r);
    assert_false(mtsics_weight_grams(&r, &g));

    static const char *const unit_names[] = {"g", "kg", "mg"};
    static const int exponents[] = {0, 3, -3};
    srand(20261203);
    int noisy = 0; /* how often the multiplication would have differed: the sweep must exercise it */
    for (int i = 0; i < 3000; i++) {
        char digits[16];
        size_t n = 1 + (size_t)(rand() % 9);
        for (size_t k = 0; k < n; k++)
            digits[k] = (char)('0' + rand() % 10);
        digits[n] = '\0';
        size_t decimals = (size_t)(rand() % (int)(n + 1));
        int negative = rand() % 4 == 0, u = rand() % 3;
        char number[24], line[64];
        size_t o = 0;
        if (negative)
            number[o++] = '-';
        if (decimals == n)
            number[o++] = '0';
        memcpy(number + o, digits, n - decimals);
        o += n - decimals;
        if (decimals) {
            number[o++] = '.';
            memcpy(number + o, digits + n - decimals, decimals);
            o += decimals;
        }
        number[o] = '\0';
        snprintf(line, sizeof line, "S S %s %s", number, unit_names[u]);
        parse_ok(line, &r);
        assert_true(mtsics_weight_grams(&r, &g));
        double want = grams_by_hand(digits, decimals, negative, exponents[u]);
        if (g != want)
            fail_msg("'%s': %.17g g, the decimal is %.17g g", line, g, want);
        double per_unit;
        assert_true(mtsics_unit_to_grams(unit_names[u], &per_unit));
        noisy += r.weight * per_unit != want;
    }
    assert_true(noisy > 100);
}

/* ---- a scripted balance on a pty ------------------------------------------------------------*/

struct script {
    struct pd_test_pty_device pty;
    const char *answer_s; /* reply to S/SI (NULL: silence) */
    const char *answer_z, *answer_t;
    const char *answer_i2; /* reply to I2 (NULL: silence) */
    int no_identity;
    int requests;
};

static const char *script_answer(void *ctx, const char *req)
{
    struct script *s = ctx;
    s->requests++;
    if (strcmp(req, "I4") == 0)
        return s->no_identity ? NULL : "I4 A \"B0815\"";
    if (strcmp(req, "I2") == 0)
        return s->answer_i2;
    if (strcmp(req, "S") == 0 || strcmp(req, "SI") == 0)
        return s->answer_s;
    if (strcmp(req, "Z") == 0)
        return s->answer_z;
    if (strcmp(req, "T") == 0)
        return s->answer_t;
    return "ES"; /* I3 and everything else */
}

static void script_start(struct script *s)
{
    memset(s, 0, sizeof *s);
    s->answer_s = "S S      12.3456 g";
    s->answer_z = "Z A";
    s->answer_t = "T S      50.0012 g";
    s->answer_i2 = "I2 A \"XS 205 DU 220.0000 g\"";
    assert_int_equal(pd_test_pty_device_start(&s->pty, script_answer, s), 0);
}

static void script_stop(struct script *s)
{
    pd_test_pty_device_stop(&s->pty);
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

static const struct pd_driver *driver(void)
{
    const struct pd_driver *d = pd_driver_find("mtsics");
    assert_non_null(d);
    return d;
}

static void *create_for(const char *path, const char *extra)
{
    char text[1024];
    snprintf(text, sizeof text, "name: balance1\ndriver: mtsics\ntransport: %s\nresponse_timeout_ms: %d\n%s", path,
             pd_test_ms(150), extra ? extra : "");
    struct pd_cfg_doc *doc;
    struct pd_err err;
    assert_int_equal(pd_cfg_load_string("b.yaml", text, strlen(text), &doc, &err), 0);
    void *st = NULL;
    int rc = driver()->create(pd_cfg_root(doc), &st, &err);
    pd_cfg_free(doc);
    if (rc != 0)
        fail_msg("create: %s", err.msg);
    return st;
}

static void test_driver_readings(void **state)
{
    (void)state;
    struct script s;
    script_start(&s);
    const struct pd_driver *d = driver();
    void *st = create_for(s.pty.path, "min: 0\nmax: 200\n");
    struct pd_instrument_info info = {0};
    struct pd_err err;
    assert_int_equal(d->open(st, &info, &err), 0);
    assert_string_equal(info.serial, "B0815");
    assert_string_equal(info.model, "XS 205 DU"); /* type taken from the right of "type cap unit" */
    assert_string_equal(info.firmware, "");       /* I3 answered ES: unknown, not an error */
    assert_int_equal(info.simulated, 0);           /* a real balance's type */
    const struct pd_channel_info *ch;
    assert_int_equal(d->channels(st, &ch), 2);
    assert_string_equal(ch[0].name, "mass");
    assert_string_equal(ch[0].unit, "g");
    assert_string_equal(ch[1].name, "stable");

    struct collected c = {0};
    struct pd_sink sink = {.push = collect, .ctx = &c};
    assert_int_equal(d->poll(st, &sink, &err), 0);
    assert_int_equal(c.n, 1);
    assert_double_equal(c.last.values[0], 12.3456, 1e-12);
    assert_double_equal(c.last.values[1], 1.0, 0);
    assert_true(c.last.half_width_ns > 0);
    assert_int_equal(c.last.quality, PD_Q_GOOD);

    pd_test_pty_device_set(&s.pty, &s.answer_s, "S D      12.3471 g"); /* dynamic: recorded, flagged not stable */
    assert_int_equal(d->poll(st, &sink, &err), 0);
    assert_double_equal(c.last.values[1], 0.0, 0);

    pd_test_pty_device_set(&s.pty, &s.answer_s, "S S    0.0123456 kg");
    assert_int_equal(d->poll(st, &sink, &err), 0);
    assert_double_equal(c.last.values[0], 12.3456, 1e-9);
    pd_test_pty_device_set(&s.pty, &s.answer_s, "S S    12345.6 mg");
    assert_int_equal(d->poll(st, &sink, &err), 0);
    assert_true(c.last.values[0] == 12.3456); /* exactly the decimal, no binary noise */

    /* out of the plausible range: kept, flagged, reported */
    pd_test_pty_device_set(&s.pty, &s.answer_s, "S S    250.0000 g");
    c.n = 0;
    assert_int_equal(d->poll(st, &sink, &err), PD_ERANGE);
    assert_int_equal(c.n, 1);
    assert_true(c.last.quality & PD_Q_RANGE);
    assert_non_null(strstr(err.msg, "balance1"));
    assert_non_null(strstr(err.msg, s.pty.path));

    /* each answer kind that is not a weight: nothing pushed, the right class, a message naming
     * instrument, port and the line */
    static const struct {
        const char *line;
        int rc;
        const char *text;
    } faults[] = {
        {"S I", PD_EBUSY, "(I)"},       {"S +", PD_EDEVICE, "overload"}, {"S -", PD_EDEVICE, "underload"},
        {"ES", PD_EDEVICE, "ES"},        {"ET", PD_EPROTO, "ET"},         {"EL", PD_EDEVICE, "EL"},
        {"S S 12.3 lb", PD_EPROTO, "lb"}, {"S S Error 12", PD_EPROTO, "not a number"},
        {"Z A", PD_EPROTO, "another command"}, {"\x7f\x7e garbage", PD_EPROTO, "\\x7F"},
        {"S S 1 g\x01", PD_EPROTO, "unreadable"}, {NULL, PD_ETIMEOUT, "no complete line within"},
    };
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        pd_test_pty_device_set(&s.pty, &s.answer_s, faults[i].line);
        c.n = 0;
        int rc = d->poll(st, &sink, &err);
        if (rc != faults[i].rc)
            fail_msg("'%s': rc %d (%s), expected %d", faults[i].line ? faults[i].line : "(silence)", rc, err.msg,
                     faults[i].rc);
        assert_int_equal(c.n, 0);
        if (!strstr(err.msg, faults[i].text) || !strstr(err.msg, "balance1") || !strstr(err.msg, s.pty.path))
            fail_msg("message '%s' lacks '%s'", err.msg, faults[i].text);
    }
    /* overload and underload are different answers of the device (so each gets its own event) */
    pd_test_pty_device_set(&s.pty, &s.answer_s, "S +");
    assert_int_equal(d->poll(st, &sink, &err), PD_EDEVICE);
    int overload_code = err.device_code;
    pd_test_pty_device_set(&s.pty, &s.answer_s, "S -");
    assert_int_equal(d->poll(st, &sink, &err), PD_EDEVICE);
    assert_int_equal(overload_code, MTSICS_OVERLOAD);
    assert_int_equal(err.device_code, MTSICS_UNDERLOAD);
    /* and it recovers */
    pd_test_pty_device_set(&s.pty, &s.answer_s, "S S      1.0000 g");
    assert_int_equal(d->poll(st, &sink, &err), 0);
    assert_double_equal(c.last.values[0], 1.0, 0);

    /* controls */
    assert_int_equal(d->control(st, "zero", 0, &err), 0);
    assert_int_equal(d->control(st, "tare", 0, &err), 0);
    pd_test_pty_device_set(&s.pty, &s.answer_z, "Z I");
    assert_int_equal(d->control(st, "zero", 0, &err), PD_EBUSY);
    assert_int_equal(d->control(st, "start", 0, &err), PD_EUNSUPPORTED);
    assert_non_null(d->map_text(st));
    assert_non_null(strstr(d->map_text(st), "command: SI"));
    d->close(st);
    assert_int_equal(d->poll(st, &sink, &err), PD_ESTATE);
    d->destroy(st);
    script_stop(&s);
}

static void test_driver_identity_and_transport(void **state)
{
    (void)state;
    struct script s;
    script_start(&s);
    s.no_identity = 1;
    const struct pd_driver *d = driver();
    void *st = create_for("/dev/pts/999999", NULL);
    struct pd_err err;
    struct pd_instrument_info info = {0};
    assert_int_equal(d->open(st, &info, &err), PD_EIO);
    assert_non_null(strstr(err.msg, "balance1"));
    assert_int_equal(d->set_transport(st, s.pty.path, &err), 0);
    assert_int_equal(d->open(st, &info, &err), PD_ETIMEOUT); /* no I4 answer: not this instrument */
    assert_non_null(strstr(err.msg, "I4"));
    assert_int_equal(d->set_transport(st, "tcp-raw://x", &err), PD_EINVAL);
    d->destroy(st);
    script_stop(&s);
}

/* I2 at open decides info->simulated: a simulator's type sets it, a real type, an error or silence
 * leave it as the caller set it (0, or 1 from a `simulator:` section), and the balance opens. */
static void test_driver_simulated(void **state)
{
    (void)state;
    struct script s;
    script_start(&s);
    const struct pd_driver *d = driver();
    void *st = create_for(s.pty.path, NULL);
    struct pd_err err;
    struct collected c = {0};
    struct pd_sink sink = {.push = collect, .ctx = &c};
    static const struct {
        const char *i2;    /* NULL: no answer */
        int preset;        /* info->simulated before open */
        int simulated;     /* after */
        const char *model;
    } cases[] = {
        {"I2 A \"PD-XS205 SIMULATED 220.0000 g\"", 0, 1, "PD-XS205 SIMULATED"},
        {"I2 A \"XS 205 DU 220.0000 g\"", 0, 0, "XS 205 DU"},
        {"I2 A \"XS 205 DU 220.0000 g\"", 1, 1, "XS 205 DU"}, /* a simulator: section's mark stays */
        {"ES", 0, 0, "from config"},                           /* older balances: no I2 */
        {"I2 L", 0, 0, "from config"},
        {"I2 A \"SIMULATED", 0, 0, "from config"},              /* garbled: not trusted either way */
        {NULL, 0, 0, "from config"},                            /* silence */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pd_test_pty_device_set(&s.pty, &s.answer_i2, cases[i].i2);
        struct pd_instrument_info info = {.simulated = cases[i].preset};
        snprintf(info.model, sizeof info.model, "from config");
        if (d->open(st, &info, &err) != 0)
            fail_msg("I2 '%s': open failed: %s", cases[i].i2 ? cases[i].i2 : "(silence)", err.msg);
        if (info.simulated != cases[i].simulated)
            fail_msg("I2 '%s' (preset %d): simulated %d", cases[i].i2 ? cases[i].i2 : "(silence)", cases[i].preset,
                     info.simulated);
        assert_string_equal(info.serial, "B0815");
        assert_string_equal(info.model, cases[i].model);
        /* the line is in step after a bad or missing I2: the next weighing is read normally */
        c.n = 0;
        assert_int_equal(d->poll(st, &sink, &err), 0);
        assert_int_equal(c.n, 1);
        assert_double_equal(c.last.values[0], 12.3456, 1e-12);
        d->close(st);
    }
    d->destroy(st);
    script_stop(&s);
}

static void test_config_errors(void **state)
{
    (void)state;
    static const struct {
        const char *extra;
        const char *where;
    } cases[] = {
        {"command: SIR\n", "b.yaml:5:10"},
        {"min: 5\nmax: 1\n", "b.yaml:6:6"},
        {"comand: S\n", "b.yaml:5:1"},
        {"baud: fast\n", "b.yaml:5:7"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "name: balance1\ndriver: mtsics\ntransport: /dev/ttyUSB9\nresponse_timeout_ms: 150\n%s",
                 cases[i].extra);
        struct pd_cfg_doc *doc;
        struct pd_err err;
        assert_int_equal(pd_cfg_load_string("b.yaml", text, strlen(text), &doc, &err), 0);
        void *st = NULL;
        assert_int_equal(driver()->create(pd_cfg_root(doc), &st, &err), PD_ECONFIG);
        assert_null(st);
        if (!strstr(err.msg, cases[i].where))
            fail_msg("'%s': message '%s' lacks %s", cases[i].extra, err.msg, cases[i].where);
        pd_cfg_free(doc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b1_vectors),
        cmocka_unit_test(test_i2_simulated),
        cmocka_unit_test(test_parser_rejects),
        cmocka_unit_test(test_unit_conversion_exact),
        cmocka_unit_test(test_driver_readings),
        cmocka_unit_test(test_driver_identity_and_transport),
        cmocka_unit_test(test_driver_simulated),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
