/* acq_test.c — the lab configuration: the shipped examples load, and every kind of mistake is
 * refused with a message naming file:line:column. (Runs themselves are exercised end to end by
 * tests/integration against the simulator.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acq/acq.h"

static const char base[] =
    "lab:\n"                                              /* 1 */
    "  name: Test Lab\n"                                  /* 2 */
    "  operator: tester\n"                                /* 3 */
    "run:\n"                                              /* 4 */
    "  method: iso527\n"                                  /* 5 */
    "  specimens: 3\n"                                    /* 6 */
    "specimen:\n"                                         /* 7 */
    "  width: 10\n"                                       /* 8 */
    "  thickness: 4\n"                                    /* 9 */
    "  gauge_length: 75\n"                                /* 10 */
    "instruments:\n"                                      /* 11 */
    "  - name: frame1\n"                                  /* 12 */
    "    driver: modbus\n"                                /* 13 */
    "    transport: tcp://127.0.0.1:5020\n"               /* 14 */
    "    unit: 1\n"                                       /* 15 */
    "    address_base: 0\n"                               /* 16 */
    "    calibration: {date: 2026-01-10, due: 2027-01-10}\n" /* 17 */
    "    channels:\n"                                     /* 18 */
    "      - {name: force, table: input, address: 4, type: float32, unit: N}\n"; /* 19 */

static char *with(const char *find, const char *replace)
{
    const char *at = strstr(base, find);
    assert_non_null(at);
    size_t n = strlen(base) - strlen(find) + strlen(replace) + 1;
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%.*s%s%s", (int)(at - base), base, replace, at + strlen(find));
    return out;
}

static void expect_error(const char *text, const char *needle)
{
    struct pd_acq_config *cfg = (struct pd_acq_config *)0x1;
    struct pd_err err;
    pd_err_clear(&err);
    int rc = pd_acq_config_load_string("lab.yaml", text, &cfg, &err);
    if (rc != PD_ECONFIG || !strstr(err.msg, needle))
        fail_msg("expected PD_ECONFIG with '%s', got %d: %s", needle, rc, err.msg);
    assert_ptr_equal(cfg, (struct pd_acq_config *)0x1); /* output untouched on error */
}

static void test_base_loads_with_defaults(void **state)
{
    (void)state;
    struct pd_acq_config *cfg;
    struct pd_err err;
    int rc = pd_acq_config_load_string("lab.yaml", base, &cfg, &err);
    if (rc < 0)
        fail_msg("%s", err.msg);
    assert_string_equal(cfg->lab_name, "Test Lab");
    assert_int_equal(cfg->specimens, 3);
    assert_true(cfg->poll_rate_hz == 100);
    assert_non_null(cfg->specimen_section);
    assert_null(cfg->method_section);
    assert_non_null(cfg->method_params);
    assert_int_equal(cfg->n_instruments, 1);
    assert_string_equal(cfg->instruments[0].name, "frame1");
    assert_string_equal(cfg->instruments[0].calibration_due, "2027-01-10");
    assert_string_equal(cfg->instruments[0].sim_program, "");
    pd_acq_config_free(cfg);
}

static void test_shipped_demo_config_loads(void **state)
{
    (void)state;
    struct pd_acq_config *cfg;
    struct pd_err err;
    int rc = pd_acq_config_load_file(PD_SOURCE_DIR "/config/demo.yaml", &cfg, &err);
    if (rc < 0)
        fail_msg("%s", err.msg);
    assert_string_equal(cfg->instruments[0].sim_program, "polydaq-sim");
    assert_true(cfg->instruments[0].sim_argc >= 2);
    assert_string_equal(cfg->instruments[0].sim_args[0], "loadframe");
    pd_acq_config_free(cfg);
}

static void test_mistakes_are_named(void **state)
{
    (void)state;
    char *t;
    t = with("  operator: tester\n", "  operater: tester\n");
    expect_error(t, "lab.yaml:3:3: ");
    expect_error(t, "did you mean 'operator'");
    free(t);
    t = with("method: iso527", "method: iso9999");
    expect_error(t, "lab.yaml:5:11: ");
    expect_error(t, "unknown method 'iso9999'");
    free(t);
    t = with("specimens: 3", "specimens: 0");
    expect_error(t, "lab.yaml:6:14: ");
    free(t);
    t = with("gauge_length: 75", "gauge_length: 120");
    expect_error(t, "lab.yaml:10:17: ");
    expect_error(t, "shorter than the grip distance");
    free(t);
    t = with("driver: modbus", "driver: modbis");
    expect_error(t, "lab.yaml:13:13: ");
    expect_error(t, "unknown driver 'modbis' (expected one of: modbus");
    free(t);
    t = with("due: 2027-01-10", "due: 10.1.2027");
    expect_error(t, "lab.yaml:17:");
    expect_error(t, "YYYY-MM-DD");
    free(t);
    t = with("width: 10", "width: wide");
    expect_error(t, "lab.yaml:8:10: ");
    free(t);
    /* driver-specific mistakes are found at load time too */
    t = with("tcp://127.0.0.1:5020", "tcp://127.0.0.1:99999");
    expect_error(t, "lab.yaml:14:16: ");
    free(t);
    t = with("    address_base: 0\n", "");
    expect_error(t, "address_base");
    free(t);
    t = with("lab:\n", "lab:\n  bogus: 1\n");
    expect_error(t, "lab.yaml:2:3: ");
    free(t);
    t = with("specimen:\n  width: 10\n  thickness: 4\n  gauge_length: 75\n", "");
    expect_error(t, "needs a 'specimen:' section");
    free(t);
    t = with("  gauge_length: 75\n", "  gauge_length: 75\n  grip_distanse: 115\n");
    expect_error(t, "lab.yaml:11:3: ");
    expect_error(t, "did you mean 'grip_distance'");
    free(t);
}

static void test_duplicate_instrument_names(void **state)
{
    (void)state;
    size_t n = strlen(base) * 2 + 1;
    char *t = malloc(n);
    assert_non_null(t);
    const char *inst = strstr(base, "  - name: frame1");
    snprintf(t, n, "%s%s", base, inst);
    expect_error(t, "lab.yaml:20:11: ");
    expect_error(t, "duplicate instrument name 'frame1'");
    free(t);
}

/* run.store and per-instrument poll rates: defaults, explicit values, and mistakes named. */
static void test_store_options_and_rates(void **state)
{
    (void)state;
    struct pd_acq_config *cfg = NULL;
    struct pd_err err;
    assert_int_equal(pd_acq_config_load_string("lab.yaml", base, &cfg, &err), 0);
    assert_int_equal(cfg->store_chunk_samples, 65536);
    assert_int_equal(cfg->store_deflate, 1);
    assert_true(cfg->flush_interval_s == 1.0);
    assert_true(cfg->instruments[0].poll_rate_hz == 0.0); /* the run's */
    pd_acq_config_free(cfg);

    char *t1 = with("  specimens: 3\n", "  specimens: 3\n  store: {chunk_samples: 1024, deflate: none, flush_interval_s: 0.5}\n");
    char *t2 = with("    unit: 1\n", "    unit: 1\n    poll_rate_hz: 2000\n");
    assert_int_equal(pd_acq_config_load_string("lab.yaml", t1, &cfg, &err), 0);
    assert_int_equal(cfg->store_chunk_samples, 1024);
    assert_int_equal(cfg->store_deflate, -1);
    assert_true(cfg->flush_interval_s == 0.5);
    pd_acq_config_free(cfg);
    assert_int_equal(pd_acq_config_load_string("lab.yaml", t2, &cfg, &err), 0);
    assert_true(cfg->instruments[0].poll_rate_hz == 2000.0);
    pd_acq_config_free(cfg);
    free(t1);
    free(t2);

    char *bad = with("  specimens: 3\n", "  specimens: 3\n  store: {deflate: 11}\n");
    expect_error(bad, "lab.yaml:7:20: ");
    free(bad);
    bad = with("  specimens: 3\n", "  specimens: 3\n  store: {chunk_samples: 10}\n");
    expect_error(bad, "lab.yaml:7:26: ");
    free(bad);
    bad = with("  specimens: 3\n", "  specimens: 3\n  store: {chunks: 10}\n");
    expect_error(bad, "chunk_samples");
    free(bad);
    bad = with("    unit: 1\n", "    unit: 1\n    poll_rate_hz: 20000\n");
    expect_error(bad, "lab.yaml:16:19: ");
    free(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_loads_with_defaults),
        cmocka_unit_test(test_shipped_demo_config_loads),
        cmocka_unit_test(test_mistakes_are_named),
        cmocka_unit_test(test_duplicate_instrument_names),
        cmocka_unit_test(test_store_options_and_rates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
