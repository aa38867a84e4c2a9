/* acq_dims_test.c — the dimensions CSV and the invalid marks, below the CLI: a good table with
 * units in the header, blank lines, CRLF and a byte-order mark; each kind of bad file refused at
 * file:line:column with *out untouched; the check against the configured series (count, columns,
 * ranges); the config's `dimensions:` choice; pd_acq_mark_invalid's refusals and queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acq/acq.h"

static const char lab_fmt[] =
    "lab:\n"
    "  name: Test Lab\n"
    "  operator: tester\n"
    "run:\n"
    "  method: iso527\n"
    "  specimens: %d\n"
    "specimen:\n"
    "%s"
    "  width: 10\n"
    "  thickness: 4\n"
    "  gauge_length: 75\n"
    "instruments:\n"
    "  - name: frame1\n"
    "    driver: modbus\n"
    "    transport: tcp://127.0.0.1:5020\n"
    "    unit: 1\n"
    "    address_base: 0\n"
    "    channels:\n"
    "      - {name: force, table: input, address: 4, type: float32, order: ABCD, unit: N}\n";

static struct pd_acq_config *lab(int specimens, const char *extra)
{
    char text[2048];
    snprintf(text, sizeof text, lab_fmt, specimens, extra);
    struct pd_acq_config *cfg = NULL;
    struct pd_err err;
    int rc = pd_acq_config_load_string("lab.yaml", text, &cfg, &err);
    if (rc < 0)
        fail_msg("%s", err.msg);
    return cfg;
}

static int parse(const char *text, struct pd_acq_dims_table *t, struct pd_err *err)
{
    return pd_acq_dims_parse_csv("d.csv", text, strlen(text), t, err);
}

static void good_table(void **state)
{
    (void)state;
    static struct pd_acq_dims_table t;
    struct pd_err err;
    const char *text = "\xEF\xBB\xBFspecimen, width [mm],thickness_mm,gauge_length (mm),invalid_reason\r\n"
                       "1,10.02,4.01,,\r\n"
                       "\r\n"
                       "2, 9.98 ,3.99,50,slipped in the grips\r\n"
                       "3,1e1,+4.0,75.5,\n";
    assert_int_equal(parse(text, &t, &err), 0);
    assert_int_equal(t.n_columns, 3);
    assert_string_equal(t.column[0], "width");
    assert_string_equal(t.column[1], "thickness");
    assert_string_equal(t.column[2], "gauge_length");
    assert_int_equal(t.n_rows, 3);
    assert_true(t.rows[0].value[0] == 10.02 && t.rows[0].value[1] == 4.01 && isnan(t.rows[0].value[2]));
    assert_string_equal(t.rows[0].invalid_reason, "");
    assert_int_equal(t.rows[1].line, 4);
    assert_int_equal(t.rows[1].col[0], 4); /* where the value begins, after the blank */
    assert_true(t.rows[1].value[0] == 9.98 && t.rows[1].value[2] == 50);
    assert_string_equal(t.rows[1].invalid_reason, "slipped in the grips");
    assert_true(t.rows[2].value[0] == 10 && t.rows[2].value[1] == 4 && t.rows[2].value[2] == 75.5);

    struct pd_acq_config *cfg = lab(3, "");
    assert_int_equal(pd_acq_dims_check(cfg, &t, &err), 0);
    pd_acq_config_free(cfg);
}

static void bad_tables(void **state)
{
    (void)state;
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"", "d.csv:1:1: empty file"},
        {"\n1,2,3\n", "d.csv:1:1: empty header line"},
        {"specimen,width,thickness\n", "d.csv:2:1: no specimen rows"},
        {"name,width,thickness\n1,2,3\n", "d.csv:1:1: the first column must be 'specimen'"},
        {"specimen,width,width\n", "d.csv:1:16: column 'width' given twice"},
        {"specimen,width (cm),thickness\n", "d.csv:1:10: column 'width' in 'cm'"},
        {"specimen,width [mm,thickness\n", "d.csv:1:10: column name 'width [mm'"},
        {"specimen,a,b,c,d,e\n", "d.csv:1:18: more than 4 dimension columns"},
        {"specimen,width,thickness\n1,10,4\n2,10\n", "d.csv:3:3: 2 fields, the header has 3"},
        {"specimen,width,thickness\n1,10,4\n2,10,4,7\n", "d.csv:3:8: 4 fields, the header has 3"},
        {"specimen,width,thickness\n2,10,4\n", "d.csv:2:1: specimen '2': expected 1"},
        {"specimen,width,thickness\n1.5,10,4\n", "d.csv:2:1: specimen '1.5': expected 1"},
        {"specimen,width,thickness\n1,10.,4\n2,.5e,4\n", "d.csv:3:3: width '.5e' is not a number"},
        {"specimen,width,thickness\n1,inf,4\n", "d.csv:2:3: width 'inf' is not a number"},
        {"specimen,width,thickness\n1,1e999,4\n", "d.csv:2:3: width '1e999' is not a number"},
        {"specimen,width,thickness\n1,10 4,4\n", "d.csv:2:3: width '10 4' is not a number"},
        {"specimen,width,thickness\n1,\"10\",4\n", "d.csv:2:3: quotes are not supported"},
        {"specimen,width,thickness\n1,10,4\x7f\n", NULL}, /* DEL is not a control character here: a bad number */
        {"specimen,width,thickness\n1,10,\t4\x02\n", "d.csv:2:8: control character 0x02"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        static struct pd_acq_dims_table t;
        memset(&t, 0x5a, sizeof t);
        struct pd_err err;
        int rc = parse(cases[i].text, &t, &err);
        assert_int_equal(rc, PD_EDATA);
        if (cases[i].msg && !strstr(err.msg, cases[i].msg))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
        for (size_t b = 0; b < sizeof t; b++) /* untouched on error */
            if (((unsigned char *)&t)[b] != 0x5a)
                fail_msg("case %zu: output written at byte %zu", i, b);
    }
}

static void check_against_config(void **state)
{
    (void)state;
    static struct pd_acq_dims_table t;
    struct pd_err err;
    struct pd_acq_config *cfg = lab(2, "");
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"specimen,width,thickness\n1,10,4\n", "d.csv:2: 1 specimen rows, the run (lab.yaml) plans 2"},
        {"specimen,width\n1,10\n2,10\n", "d.csv:1: no 'thickness' column"},
        {"specimen,width,thickness,notch\n1,10,4,1\n2,10,4,1\n", "column 'notch' is not a dimension of method iso527"},
        {"specimen,width,thickness\n1,10,4\n2,10,0\n", "d.csv:3:6: thickness 0 mm outside the method's range"},
        {"specimen,width,thickness\n1,10,4\n2,1001,4\n", "d.csv:3:3: width 1001 mm outside"},
        {"specimen,width,thickness\n1,,4\n2,10,4\n", "d.csv:2:3: width missing"},
        {"specimen,width,thickness,gauge_length\n1,10,4,0.5\n2,10,4,\n", "d.csv:2:8: gauge_length 0.5 mm outside"},
        /* the config's grip distance is 115 mm: the gauge length must stay shorter */
        {"specimen,width,thickness,gauge_length\n1,10,4,80\n2,10,4,115\n",
         "d.csv:3: specimen 2: gauge length 115 mm must be shorter than the grip distance 115 mm"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(parse(cases[i].text, &t, &err), 0);
        assert_int_not_equal(pd_acq_dims_check(cfg, &t, &err), 0);
        if (!strstr(err.msg, cases[i].msg))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
    }
    assert_int_equal(pd_acq_config_dims_mode(cfg), PD_ACQ_DIMS_CONFIG);
    pd_acq_config_free(cfg);
    cfg = lab(2, "  dimensions: prompt\n");
    assert_int_equal(pd_acq_config_dims_mode(cfg), PD_ACQ_DIMS_PROMPT);
    pd_acq_config_free(cfg);
    /* anything else is a configuration error at its place */
    char text[2048];
    snprintf(text, sizeof text, lab_fmt, 2, "  dimensions: typed\n");
    struct pd_acq_config *bad = NULL;
    assert_int_equal(pd_acq_config_load_string("lab.yaml", text, &bad, &err), PD_ECONFIG);
    assert_non_null(strstr(err.msg, "lab.yaml:8:"));
    assert_null(bad);
}

/* The shipped example with a caliper loads, asks on the terminal and names a caliper it has. */
static void shipped_example(void **state)
{
    (void)state;
    struct pd_acq_config *cfg = NULL;
    struct pd_err err;
    if (pd_acq_config_load_file(PD_SOURCE_DIR "/config/tensile-measured.yaml", &cfg, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(pd_acq_config_dims_mode(cfg), PD_ACQ_DIMS_PROMPT);
    assert_int_equal(pd_acq_config_check_dims(cfg, &err), 0);
    pd_acq_config_free(cfg);
}

static void marks(void **state)
{
    (void)state;
    struct pd_acq_control c;
    struct pd_err err;
    assert_int_equal(pd_acq_control_init(&c, &err), 0);
    assert_int_equal(pd_acq_mark_invalid(&c, 0, "x", "me", &err), PD_EINVAL);
    assert_int_equal(pd_acq_mark_invalid(&c, 1, "", "me", &err), PD_EINVAL);
    assert_int_equal(pd_acq_mark_invalid(&c, 1, NULL, "me", &err), PD_EINVAL);
    assert_int_equal(pd_acq_mark_invalid(&c, 1, "two\nlines", "me", &err), PD_EINVAL);
    char longer[PD_ACQ_REASON_MAX + 2];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(pd_acq_mark_invalid(&c, 1, longer, "me", &err), PD_EINVAL);
    assert_int_equal(c.n_pending, 0);
    longer[PD_ACQ_REASON_MAX] = '\0';
    assert_int_equal(pd_acq_mark_invalid(&c, 2, longer, NULL, &err), 0);
    assert_int_equal(pd_acq_mark_invalid(&c, 3, "broke at the grip", "A. Tech", &err), 0);
    assert_int_equal(c.n_pending, 2);
    assert_int_equal(c.pending[0].specimen, 2);
    assert_string_equal(c.pending[0].who, "(unnamed)");
    assert_string_equal(c.pending[1].reason, "broke at the grip");
    for (size_t i = 2; i < PD_ACQ_MAX_SPECIMENS; i++)
        assert_int_equal(pd_acq_mark_invalid(&c, 1, "r", "w", &err), 0);
    assert_int_equal(pd_acq_mark_invalid(&c, 1, "r", "w", &err), PD_EBUSY);
    pd_acq_control_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_table),
        cmocka_unit_test(bad_tables),
        cmocka_unit_test(check_against_config),
        cmocka_unit_test(shipped_example),
        cmocka_unit_test(marks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
