/* acq_station_test.c — the lab config's `station:` section (name and key, the key's path relative
 * to the config file, errors at file:line:column) and its key checked when a run starts, before
 * any instrument is touched: a missing, damaged or group-readable key fails the start and creates
 * nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "acq/acq.h"
#include "common/tmp_dir.h"
#include "trust/trust.h"

static char tmp_dir[64];

/* An instrument at a port nobody listens on: a run that got as far as opening it would fail with a
 * connection error, not with the key's. */
static const char lab[] =
    "lab: {name: Test Lab, operator: tester}\n"                                  /* 1 */
    "run: {method: iso527, specimens: 1}\n"                                     /* 2 */
    "specimen: {width: 10, thickness: 4, gauge_length: 75}\n"                   /* 3 */
    "instruments:\n"                                                            /* 4 */
    "  - name: frame1\n"                                                        /* 5 */
    "    driver: modbus\n"                                                      /* 6 */
    "    transport: tcp://127.0.0.1:1\n"                                        /* 7 */
    "    unit: 1\n"                                                             /* 8 */
    "    address_base: 0\n"                                                     /* 9 */
    "    channels: [{name: force, table: input, address: 4, type: float32, unit: N}]\n"; /* 10 */

static int setup(void **state)
{
    (void)state;
    return pd_test_tmp_make(tmp_dir, sizeof tmp_dir, "acq-station");
}

static int teardown(void **state)
{
    (void)state;
    return pd_test_tmp_remove(tmp_dir);
}

/* lab + the station text, written to DIR/NAME; returns the path (static). */
static const char *write_lab(const char *name, const char *station)
{
    static char path[400];
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(lab, f);
    fputs(station, f);
    fclose(f);
    return path;
}

static void expect_config_error(const char *station, const char *needle)
{
    struct pd_acq_config *cfg = (struct pd_acq_config *)0x1;
    struct pd_err err = {0};
    int rc = pd_acq_config_load_file(write_lab("bad.yaml", station), &cfg, &err);
    if (rc != PD_ECONFIG || !strstr(err.msg, needle))
        fail_msg("expected PD_ECONFIG with '%s', got %d: %s", needle, rc, err.msg);
    assert_ptr_equal(cfg, (struct pd_acq_config *)0x1);
}

static void test_station_section(void **state)
{
    (void)state;
    struct pd_acq_config *cfg;
    struct pd_err err = {0};
    /* no section: no station */
    assert_int_equal(pd_acq_config_load_file(write_lab("none.yaml", ""), &cfg, &err), 0);
    assert_string_equal(cfg->station_name, "");
    pd_acq_config_free(cfg);
    /* a relative key is relative to the config file's folder, an absolute one stays */
    assert_int_equal(pd_acq_config_load_file(write_lab("rel.yaml", "station: {name: bench 2, key: keys/s.key}\n"), &cfg,
                                             &err),
                     0);
    char want[400];
    snprintf(want, sizeof want, "%s/keys/s.key", tmp_dir);
    assert_string_equal(cfg->station_name, "bench 2");
    assert_string_equal(cfg->station_key, want);
    pd_acq_config_free(cfg);
    assert_int_equal(pd_acq_config_load_file(write_lab("abs.yaml", "station: {name: b, key: /etc/polydaq/s.key}\n"),
                                             &cfg, &err),
                     0);
    assert_string_equal(cfg->station_key, "/etc/polydaq/s.key");
    pd_acq_config_free(cfg);
    /* mistakes, each at its place */
    expect_config_error("station: {name: bench}\n", "bad.yaml:11:10: ");
    expect_config_error("station: {name: bench}\n", "'key'");
    expect_config_error("station: {key: s.key}\n", "bad.yaml:11:10: ");
    expect_config_error("station: {name: bench, key: s.key, kee: t}\n", "bad.yaml:11:");
    expect_config_error("station: {name: bench, key: s.key, kee: t}\n", "'kee'");
    expect_config_error("station: bench\n", "bad.yaml:11:10: ");
    expect_config_error("station: {name: \"\", key: s.key}\n", "bad.yaml:11:");
    expect_config_error("station: {name: bench, key: \"\"}\n", "bad.yaml:11:29: ");
}

/* pd_acq_run with the station's key at `key` (relative to tmp_dir): the error it starts with. */
static int start_with_key(const char *key, const char *out_name, struct pd_err *err)
{
    char station[300];
    snprintf(station, sizeof station, "station: {name: bench, key: %s}\n", key);
    struct pd_acq_config *cfg;
    assert_int_equal(pd_acq_config_load_file(write_lab("run.yaml", station), &cfg, err), 0);
    char out[400];
    snprintf(out, sizeof out, "%s/%s", tmp_dir, out_name);
    struct pd_acq_options opt = {.out_dir = out, .progress = PD_ACQ_PROGRESS_NONE};
    static struct pd_acq_result res;
    int rc = pd_acq_run(cfg, &opt, &res, err);
    pd_acq_config_free(cfg);
    assert_int_equal(access(out, F_OK), -1); /* nothing created */
    assert_string_equal(res.path, "");
    return rc;
}

static void test_key_checked_first(void **state)
{
    (void)state;
    char dir[300], sk[400], pk[400];
    snprintf(dir, sizeof dir, "%s/keys", tmp_dir);
    struct pd_err err = {0};
    assert_int_equal(pd_key_generate(dir, "station-bench", sk, sizeof sk, pk, sizeof pk, &err), 0);

    assert_int_equal(start_with_key("keys/missing.key", "out1", &err), PD_ECONFIG);
    if (!strstr(err.msg, "run.yaml:11:29: station.key: "))
        fail_msg("%s", err.msg);
    assert_non_null(strstr(err.msg, "missing.key"));
    assert_non_null(strstr(err.msg, "`polydaq keygen --station NAME -o DIR`, which writes DIR/station-NAME.key"));
    /* A key named as keygen names it (DIR/station-NAME.key): the error gives the exact command. */
    assert_int_equal(start_with_key("keys/station-absent.key", "out1", &err), PD_ECONFIG);
    char want[600];
    snprintf(want, sizeof want, "(make it once with `polydaq keygen --station absent -o %s/keys`)", tmp_dir);
    if (!strstr(err.msg, want))
        fail_msg("%s", err.msg);

    assert_int_equal(chmod(sk, 0640), 0);
    assert_int_equal(start_with_key("keys/station-bench.key", "out2", &err), PD_ECONFIG);
    assert_non_null(strstr(err.msg, "run.yaml:11:29: "));
    assert_non_null(strstr(err.msg, "permissions 0640 are too open"));
    assert_int_equal(chmod(sk, 0600), 0);

    assert_int_equal(chmod(pk, 0600), 0); /* a public key where the secret one belongs */
    assert_int_equal(start_with_key("keys/station-bench.pub", "out3", &err), PD_ECONFIG);
    assert_non_null(strstr(err.msg, "not a polydaq secret key"));

    /* the right key: the run gets as far as the instrument, which nobody answers for */
    char out[400];
    snprintf(out, sizeof out, "%s/out4", tmp_dir);
    struct pd_acq_config *cfg;
    assert_int_equal(
        pd_acq_config_load_file(write_lab("ok.yaml", "station: {name: bench, key: keys/station-bench.key}\n"), &cfg, &err),
        0);
    struct pd_acq_options opt = {.out_dir = out, .progress = PD_ACQ_PROGRESS_NONE};
    static struct pd_acq_result res;
    int rc = pd_acq_run(cfg, &opt, &res, &err);
    pd_acq_config_free(cfg);
    assert_true(rc < 0);
    assert_null(strstr(err.msg, "station.key"));
    assert_non_null(strstr(err.msg, "frame1"));
    assert_string_equal(res.seal_path, ""); /* no file, no seal */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_station_section),
        cmocka_unit_test(test_key_checked_first),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
