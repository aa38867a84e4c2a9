/* acq_control_test.c — the station's control socket below the socket (src/acq/control_parse.c): each
 * command parsed strictly (every kind accepted with its fields; not JSON, duplicate keys, unknown
 * cmd or field, a missing or bad "by", specimen, values out of range or given with a unit, texts
 * too long or with control characters refused with a message naming the field, the cmd_id still
 * echoed); the display's decimation (never more than the budget however long a specimen runs, the
 * newest sample always last, each bucket's extremes kept, points in time order, short specimens
 * whole); notes queued through pd_acq_control. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acq/acq_internal.h"

static const struct acq_method *tensile(void)
{
    const struct acq_method *m = acq_method_find("iso527");
    assert_non_null(m);
    assert_non_null(m->dims);
    return m;
}

static int parse(const char *line, struct acq_cmd *c, bool *has_id, long long *id, char *why, size_t size)
{
    const struct acq_method *m = tensile();
    return acq_cmd_parse(line, strlen(line), m->dims, m->n_dims, c, has_id, id, why, size);
}

static void test_commands_accepted(void **state)
{
    (void)state;
    struct acq_cmd c;
    bool has_id;
    long long id;
    char why[400];
    assert_int_equal(parse("{\"cmd\":\"dims\",\"specimen\":2,\"values\":{\"width\":10.02,\"thickness\":4},"
                           "\"by\":\"Anna Tech\",\"cmd_id\":17}",
                           &c, &has_id, &id, why, sizeof why),
                     0);
    assert_int_equal(c.kind, ACQ_CMD_DIMS);
    assert_true(has_id && c.has_id);
    assert_int_equal(id, 17);
    assert_int_equal(c.specimen, 2);
    assert_string_equal(c.by, "Anna Tech");
    assert_int_equal(c.n_values, 2);
    const struct acq_method *m = tensile();
    assert_string_equal(m->dims[c.dim[0]].key, "width");
    assert_true(c.value[0] == 10.02);
    assert_string_equal(m->dims[c.dim[1]].key, "thickness");
    assert_true(c.value[1] == 4.0);

    assert_int_equal(parse("{\"cmd\":\"caliper\",\"specimen\":1,\"field\":\"thickness\",\"by\":\"a\"}", &c, &has_id, &id,
                           why, sizeof why),
                     0);
    assert_int_equal(c.kind, ACQ_CMD_CALIPER);
    assert_false(has_id);
    assert_string_equal(m->dims[c.dim[0]].key, "thickness");

    static const struct {
        const char *name;
        enum acq_cmd_kind kind;
    } plain[] = {{"start", ACQ_CMD_START}, {"stop", ACQ_CMD_STOP}, {"abort", ACQ_CMD_ABORT}, {"return", ACQ_CMD_RETURN}};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        char line[100];
        snprintf(line, sizeof line, "{\"cmd\":\"%s\",\"by\":\"b\",\"cmd_id\":-3}", plain[i].name);
        assert_int_equal(parse(line, &c, &has_id, &id, why, sizeof why), 0);
        assert_int_equal(c.kind, plain[i].kind);
        assert_int_equal(id, -3);
    }
    assert_int_equal(parse("{\"cmd\":\"invalid\",\"specimen\":3,\"reason\":\"broke outside the gauge length\",\"by\":\"c\"}",
                           &c, &has_id, &id, why, sizeof why),
                     0);
    assert_int_equal(c.kind, ACQ_CMD_INVALID);
    assert_string_equal(c.text, "broke outside the gauge length");
    assert_int_equal(parse("{\"by\":\"d\",\"text\":\"gr\\u00fcn\",\"specimen\":100,\"cmd\":\"note\"}", &c, &has_id, &id,
                           why, sizeof why),
                     0);
    assert_int_equal(c.kind, ACQ_CMD_NOTE);
    assert_int_equal(c.specimen, 100);
    assert_string_equal(c.text, "gr\xc3\xbcn");
}

static void test_commands_refused(void **state)
{
    (void)state;
    char by128[200], text501[600], reason101[200], big[200];
    memset(by128, 'x', 128);
    by128[128] = '\0';
    memset(text501, 'y', 501);
    text501[501] = '\0';
    memset(reason101, 'z', 101);
    reason101[101] = '\0';
    char l_by[300], l_text[700], l_reason[300];
    snprintf(l_by, sizeof l_by, "{\"cmd\":\"start\",\"by\":\"%s\",\"cmd_id\":5}", by128);
    snprintf(l_text, sizeof l_text, "{\"cmd\":\"note\",\"specimen\":1,\"text\":\"%s\",\"by\":\"a\",\"cmd_id\":5}", text501);
    snprintf(l_reason, sizeof l_reason, "{\"cmd\":\"invalid\",\"specimen\":1,\"reason\":\"%s\",\"by\":\"a\",\"cmd_id\":5}",
             reason101);
    snprintf(big, sizeof big, "{\"cmd\":\"start\",\"by\":\"a\",\"cmd_id\":5,\"cmd\":\"stop\"}");
    const struct {
        const char *line, *want;
        bool id; /* the cmd_id (5) is recovered for the error */
    } cases[] = {
        {"not json", "not JSON", false},
        {"", "not JSON", false},
        {"[1,2]", "must be a JSON object", false},
        {"{\"cmd\":\"launch\",\"by\":\"a\",\"cmd_id\":5}", "unknown cmd 'launch'", true},
        {"{\"cmd\":7,\"by\":\"a\",\"cmd_id\":5}", "'cmd' must be a string", true},
        {"{\"by\":\"a\",\"cmd_id\":5}", "'cmd' is missing", true},
        {"{\"cmd\":\"start\",\"by\":\"a\",\"cmd_id\":\"5\"}", "'cmd_id' must be an integer", false},
        {"{\"cmd\":\"start\",\"by\":\"a\",\"cmd_id\":5,\"specimen\":1}", "unknown field 'specimen' in cmd start", true},
        {"{\"cmd\":\"start\",\"cmd_id\":5}", "'by' is missing", true},
        {"{\"cmd\":\"start\",\"by\":\"\",\"cmd_id\":5}", "'by' must be 1..127 bytes", true},
        {"{\"cmd\":\"start\",\"by\":3,\"cmd_id\":5}", "'by' must be a string", true},
        {"{\"cmd\":\"start\",\"by\":\"a\\nb\",\"cmd_id\":5}", "'by' contains a control character at byte 2", true},
        {"{\"cmd\":\"dims\",\"values\":{\"width\":10},\"by\":\"a\",\"cmd_id\":5}", "'specimen' is missing", true},
        {"{\"cmd\":\"dims\",\"specimen\":0,\"values\":{\"width\":10},\"by\":\"a\",\"cmd_id\":5}", "integer 1..100", true},
        {"{\"cmd\":\"dims\",\"specimen\":101,\"values\":{\"width\":10},\"by\":\"a\",\"cmd_id\":5}", "integer 1..100", true},
        {"{\"cmd\":\"dims\",\"specimen\":\"2\",\"values\":{\"width\":10},\"by\":\"a\",\"cmd_id\":5}", "integer 1..100", true},
        {"{\"cmd\":\"dims\",\"specimen\":1.5,\"values\":{\"width\":10},\"by\":\"a\",\"cmd_id\":5}", "integer 1..100", true},
        {"{\"cmd\":\"dims\",\"specimen\":1,\"values\":{},\"by\":\"a\",\"cmd_id\":5}", "'values' must be an object", true},
        {"{\"cmd\":\"dims\",\"specimen\":1,\"values\":[10],\"by\":\"a\",\"cmd_id\":5}", "'values' must be an object", true},
        {"{\"cmd\":\"dims\",\"specimen\":1,\"values\":{\"width\":\"10.0 cm\"},\"by\":\"a\",\"cmd_id\":5}",
         "width '10.0 cm' is text: give a number in mm, without a unit", true},
        {"{\"cmd\":\"dims\",\"specimen\":1,\"values\":{\"width\":2000},\"by\":\"a\",\"cmd_id\":5}",
         "width 2000 mm is outside the method's range 0.01..1000 mm", true},
        {"{\"cmd\":\"dims\",\"specimen\":1,\"values\":{\"thickness\":-4},\"by\":\"a\",\"cmd_id\":5}",
         "thickness -4 mm is outside the method's range", true},
        {"{\"cmd\":\"dims\",\"specimen\":1,\"values\":{\"width\":1e999},\"by\":\"a\",\"cmd_id\":5}", "not JSON", false},
        {"{\"cmd\":\"dims\",\"specimen\":1,\"values\":{\"width\":null},\"by\":\"a\",\"cmd_id\":5}",
         "width must be a number in mm", true},
        {"{\"cmd\":\"dims\",\"specimen\":1,\"values\":{\"colour\":3},\"by\":\"a\",\"cmd_id\":5}",
         "'colour' is not a dimension of this method (width, thickness, gauge_length)", true},
        {"{\"cmd\":\"dims\",\"specimen\":1,\"values\":{\"width\":10,\"width\":11},\"by\":\"a\",\"cmd_id\":5}", "duplicate",
         false},
        {"{\"cmd\":\"caliper\",\"specimen\":1,\"field\":\"depth\",\"by\":\"a\",\"cmd_id\":5}", "'depth' is not a dimension",
         true},
        {"{\"cmd\":\"caliper\",\"specimen\":1,\"by\":\"a\",\"cmd_id\":5}", "'field' is missing", true},
        {"{\"cmd\":\"invalid\",\"specimen\":1,\"by\":\"a\",\"cmd_id\":5}", "'reason' is missing", true},
        {"{\"cmd\":\"invalid\",\"specimen\":1,\"reason\":\"a\\tb\",\"by\":\"a\",\"cmd_id\":5}", "control character", true},
        {"{\"cmd\":\"note\",\"specimen\":1,\"text\":\"\",\"by\":\"a\",\"cmd_id\":5}", "'text' must be 1..500 bytes", true},
        {l_by, "'by' must be 1..127 bytes (got 128)", true},
        {l_text, "'text' must be 1..500 bytes (got 501)", true},
        {l_reason, "'reason' must be 1..100 bytes (got 101)", true},
        {big, "duplicate", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct acq_cmd c;
        memset(&c, 0x5a, sizeof c);
        struct acq_cmd untouched = c;
        bool has_id = true;
        long long id = 0;
        char why[400] = "";
        int rc = parse(cases[i].line, &c, &has_id, &id, why, sizeof why);
        if (rc != -1 || !strstr(why, cases[i].want) || has_id != cases[i].id || (cases[i].id && id != 5))
            fail_msg("case %zu (%.60s): rc %d, id %d %lld, message '%s', expected '%s'", i, cases[i].line, rc, has_id,
                     id, why, cases[i].want);
        assert_memory_equal(&c, &untouched, sizeof c); /* outputs untouched on error */
    }
}

/* ---- decimation ----------------------------------------------------------------------------------*/
static size_t feed(struct acq_decimator *d, const struct acq_point *in, size_t n, struct acq_point *out, size_t max)
{
    size_t got = 0;
    for (size_t i = 0; i < n; i++) {
        struct acq_point o[ACQ_DECIM_MAX_OUT];
        size_t k = acq_decim_add(d, &in[i], o);
        assert_true(k <= ACQ_DECIM_MAX_OUT);
        assert_true(got + k <= max);
        memcpy(out + got, o, k * sizeof o[0]);
        got += k;
    }
    struct acq_point o[ACQ_DECIM_MAX_OUT];
    size_t k = acq_decim_flush(d, o);
    assert_true(got + k <= max);
    memcpy(out + got, o, k * sizeof o[0]);
    return got + k;
}

/* A tensile-like curve with noise and a sharp drop, sample i at t = i ms. */
static void curve(struct acq_point *p, size_t n, unsigned seed)
{
    srand(seed);
    for (size_t i = 0; i < n; i++) {
        double x = (double)i / (double)n * 10.0;
        double y = x < 8 ? 30 * (1 - exp(-x)) : 1;
        p[i] = (struct acq_point){.t = (int64_t)i * 1000000, .x = x, .y = y + ((double)rand() / RAND_MAX - 0.5)};
    }
}

static void check_envelope(const struct acq_point *in, size_t n, const struct acq_point *out, size_t got, size_t budget)
{
    assert_true(got <= budget);
    assert_true(got > 0);
    /* every point is a sample, in time order, each once */
    for (size_t i = 0; i < got; i++) {
        assert_true(out[i].t % 1000000 == 0);
        size_t j = (size_t)(out[i].t / 1000000);
        assert_true(j < n);
        assert_true(out[i].x == in[j].x && out[i].y == in[j].y);
        if (i)
            assert_true(out[i].t > out[i - 1].t);
    }
    /* the newest sample is the last point; the curve's extremes are kept */
    assert_true(out[got - 1].t == in[n - 1].t);
    double ymax = -INFINITY, ymin = INFINITY, pmax = -INFINITY, pmin = INFINITY;
    for (size_t i = 0; i < n; i++) {
        ymax = fmax(ymax, in[i].y);
        ymin = fmin(ymin, in[i].y);
    }
    for (size_t i = 0; i < got; i++) {
        pmax = fmax(pmax, out[i].y);
        pmin = fmin(pmin, out[i].y);
    }
    assert_true(pmax == ymax);
    assert_true(pmin == ymin);
}

static void test_decimation_long(void **state)
{
    (void)state;
    /* 20 minutes at 1 kHz */
    size_t n = 1200000;
    struct acq_point *in = malloc(n * sizeof *in), *out = malloc(4000 * sizeof *out);
    assert_non_null(in);
    assert_non_null(out);
    curve(in, n, 1);
    struct acq_decimator d;
    acq_decim_init(&d, 2000);
    size_t got = feed(&d, in, n, out, 4000);
    check_envelope(in, n, out, got, 2000);
    assert_true(got > 1500); /* the budget is used, not wasted on the first second */
    /* the points cover the whole curve (the buckets grow eightfold per level: the last quarter
     * still has a bucket of its own besides the newest sample) */
    size_t late = 0;
    for (size_t i = 0; i < got; i++)
        late += out[i].t >= in[n * 3 / 4].t;
    assert_true(late >= 2);
    free(in);
    free(out);
}

static void test_decimation_short_and_small(void **state)
{
    (void)state;
    struct acq_point in[300], out[400];
    curve(in, 300, 2);
    struct acq_decimator d;
    acq_decim_init(&d, 2000);
    size_t got = feed(&d, in, 300, out, 400);
    assert_int_equal(got, 300); /* a short specimen is shown whole */
    check_envelope(in, 300, out, got, 2000);
    /* a small budget (what is left of a specimen's after a restart of its decimation) holds too */
    for (size_t budget = 3; budget < 40; budget += 7) {
        acq_decim_init(&d, budget);
        got = feed(&d, in, 300, out, 400);
        check_envelope(in, 300, out, got, budget);
    }
    /* nothing in, nothing out */
    acq_decim_init(&d, 10);
    assert_int_equal(acq_decim_flush(&d, out), 0);
}

static void test_notes(void **state)
{
    (void)state;
    struct pd_acq_control c;
    struct pd_err err;
    assert_int_equal(pd_acq_control_init(&c, &err), 0);
    assert_int_equal(pd_acq_add_note(&c, 0, "x", "me", &err), PD_EINVAL);
    assert_int_equal(pd_acq_add_note(&c, 1, "", "me", &err), PD_EINVAL);
    assert_int_equal(pd_acq_add_note(&c, 1, "a\x1b[2Jb", "me", &err), PD_EINVAL);
    assert_non_null(strstr(err.msg, "control character at byte 2"));
    char longer[PD_ACQ_NOTE_MAX + 2];
    memset(longer, 'n', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(pd_acq_add_note(&c, 1, longer, "me", &err), PD_EINVAL);
    for (int i = 0; i < PD_ACQ_NOTES_QUEUED; i++)
        assert_int_equal(pd_acq_add_note(&c, 2, "grips cleaned", i ? "Anna" : NULL, &err), 0);
    assert_int_equal(pd_acq_add_note(&c, 2, "one too many", "Anna", &err), PD_EBUSY);
    assert_int_equal(c.n_notes, PD_ACQ_NOTES_QUEUED);
    assert_string_equal(c.notes[0].who, "(unnamed)");
    assert_string_equal(c.notes[1].who, "Anna");
    assert_int_equal(c.notes[1].specimen, 2);
    pd_acq_control_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commands_accepted),
        cmocka_unit_test(test_commands_refused),
        cmocka_unit_test(test_decimation_long),
        cmocka_unit_test(test_decimation_short_and_small),
        cmocka_unit_test(test_notes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
