/* acq_test.c — the lab configuration: the shipped examples load, and every kind of mistake is
 * refused with a message naming file:line:column; the outcome names; a simulator process dies
 * with the process that started it. (Runs themselves are exercised end to end by
 * tests/integration against the simulator.) */
#define _GNU_SOURCE /* PR_SET_CHILD_SUBREAPER */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "acq/acq.h"
#include "acq/acq_internal.h"

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

/* The base turned into a recording run (method record): line 7 `method:`, 8 rollover, 9 alarms,
 * 10 the alarm band. */
static char *recording(const char *method_lines)
{
    char *t = with("specimen:\n  width: 10\n  thickness: 4\n  gauge_length: 75\n", method_lines);
    char *m = strstr(t, "method: iso527");
    assert_non_null(m);
    memcpy(m, "method: record", strlen("method: record")); /* same length: the lines stay */
    return t;
}

static void test_record_method_config(void **state)
{
    (void)state;
    static const char good[] = "method:\n  rollover: 3600\n  alarms:\n    - {channel: force, low: 0, high: 10}\n";
    char *t = recording(good);
    struct pd_acq_config *cfg = NULL;
    struct pd_err err;
    if (pd_acq_config_load_string("lab.yaml", t, &cfg, &err) != 0)
        fail_msg("%s", err.msg);
    const struct acq_method *m = acq_method_find("record");
    assert_non_null(m);
    assert_true(m->one_entry_per_file);
    struct pd_store_attr a[8];
    size_t n = m->run_attrs(cfg->method_params, a, 8);
    assert_int_equal(n, 4);
    assert_string_equal(a[0].key, "rollover_period");
    assert_true(a[0].d == 3600.0);
    assert_string_equal(a[1].key, "duration");
    assert_true(a[1].d == 0.0); /* default: until stopped */
    assert_string_equal(a[2].key, "time_scale");
    assert_true(a[2].d == 1.0); /* default: real time */
    assert_string_equal(a[3].key, "rollover_retry");
    assert_true(a[3].d == 60.0); /* default: a failed rollover is tried again each minute */
    pd_acq_config_free(cfg);
    free(t);
    /* on_alarm: a list of strings, for the run or per alarm; its timeout bounded */
    t = recording("method:\n  on_alarm: [notify, \"a b\"]\n  alarms:\n    - {channel: force, high: 1, on_alarm: [x]}\n");
    if (pd_acq_config_load_string("lab.yaml", t, &cfg, &err) != 0)
        fail_msg("%s", err.msg);
    pd_acq_config_free(cfg);
    free(t);
    t = recording("method:\n  on_alarm: []\n");
    expect_error(t, "lab.yaml:8:13: ");
    expect_error(t, "at least the program");
    free(t);
    t = recording("method:\n  on_alarm: notify\n");
    expect_error(t, "lab.yaml:8:13: ");
    free(t);
    t = recording("method:\n  on_alarm: [a, {b: 1}]\n");
    expect_error(t, "lab.yaml:8:17: ");
    expect_error(t, "expected a string");
    free(t);
    t = recording("method:\n  on_alarm: [x]\n  on_alarm_timeout: 0\n");
    expect_error(t, "lab.yaml:9:21: ");
    free(t);
    t = recording("method:\n  alarms:\n    - {channel: force, high: 1, on_alarm: [\"\"]}\n");
    expect_error(t, "lab.yaml:9:");
    expect_error(t, "program of on_alarm is empty");
    free(t);
    t = recording("method:\n  rollover_retry: 0\n");
    expect_error(t, "lab.yaml:8:19: ");
    free(t);

    t = recording("method:\n  rollover: 0\n");
    expect_error(t, "lab.yaml:8:13: ");
    free(t);
    t = recording("method:\n  rolover: 60\n");
    expect_error(t, "lab.yaml:8:3: ");
    expect_error(t, "did you mean 'rollover'");
    free(t);
    t = recording("method:\n  rollover: 3600\n  alarms:\n    - {channel: force, low: 10, high: 0}\n");
    expect_error(t, "lab.yaml:10:");
    expect_error(t, "low (10) must be below high (0)");
    free(t);
    t = recording("method:\n  rollover: 3600\n  alarms:\n    - {low: 1, high: 2}\n");
    expect_error(t, "lab.yaml:10:");
    expect_error(t, "channel");
    free(t);
    t = recording("method:\n  rollover: 3600\n  alarms: {channel: force}\n");
    expect_error(t, "lab.yaml:9:");
    free(t);
    /* a recording has no specimens to describe */
    t = with("method: iso527", "method: record");
    expect_error(t, "lab.yaml:8:");
    expect_error(t, "method record has no specimens");
    free(t);
}

/* A driver for the bus thread alone: each poll delivers one reading; controls are counted. */
static _Atomic int fake_controls;
static double fake_last_value;
static int fake_poll(void *state, const struct pd_sink *sink, struct pd_err *err)
{
    (void)state;
    (void)err;
    struct pd_reading r = {.t_mono_ns = pd_clock_mono_ns()};
    return sink->push(sink->ctx, &r);
}
static int fake_control(void *state, const char *name, double value, struct pd_err *err)
{
    (void)state;
    (void)err;
    if (strcmp(name, "setpoint") != 0)
        return PD_EUNSUPPORTED;
    fake_last_value = value;
    atomic_fetch_add(&fake_controls, 1);
    return 0;
}
static void fake_nothing(void *state)
{
    (void)state;
}
static const struct pd_driver fake_driver = {
    .name = "fake", .poll = fake_poll, .control = fake_control, .close = fake_nothing, .destroy = fake_nothing};

/* A bus polled every 60 s sleeps until its next poll on its condition variable: a command posted
 * meanwhile wakes it and is carried out (before the bus thread slept in 5 ms slices to look for
 * commands; a sleep that a command did not wake would leave it to time out after 5 s, PD_ETIMEOUT),
 * and a quit ends the sleep (else the join below would wait for the next poll). */
static void test_bus_sleep_is_woken_by_commands_and_quit(void **state)
{
    (void)state;
    static const struct pd_acq_instrument_config ic = {.name = "slow1", .driver = "fake"};
    struct bus *b = calloc(1, sizeof *b);
    assert_non_null(b);
    acq_bus_init_sync(b);
    b->cfg = &ic;
    b->drv = &fake_driver;
    b->n_channels = 1;
    b->period_ns = 60 * 1000000000LL;
    b->no_data_ns = b->give_up_ns = 3600 * 1000000000LL;
    assert_int_equal(pd_ring_init(&b->ring, acq_sample_size(1), 64), 0);
    assert_int_equal(pd_ring_init(&b->events, sizeof(struct acq_event), ACQ_EVENT_RING_CAPACITY), 0);
    assert_int_equal(pd_ring_init(&b->losses, sizeof(struct acq_loss), ACQ_LOSS_RING_CAPACITY), 0);
    atomic_store(&fake_controls, 0);
    struct pd_err err;
    assert_int_equal(acq_bus_start(b, &err), 0);
    while (atomic_load(&b->n_readings) < 1) /* the first poll is at once; then a minute's sleep */
        pd_clock_sleep_ns(1000000);
    for (int k = 1; k <= 3; k++) {
        assert_int_equal(acq_bus_command(b, "setpoint", 10.0 * k, &err), 0);
        assert_int_equal(atomic_load(&fake_controls), k);
        assert_true(fake_last_value == 10.0 * k);
    }
    /* an optional control the driver does not know is no error, and not sent */
    assert_int_equal(acq_bus_command_optional(b, "tau", 5.0, &err), 0);
    assert_int_equal(atomic_load(&fake_controls), 3);
    assert_int_equal(atomic_load(&b->n_readings), 1); /* the commands did not cost a poll */
    acq_bus_close(b); /* acq_bus_quit wakes it: the join does not wait for the next poll */
    free(b);
}

/* Sample rings hold a minute of their instrument's samples, within bounds. */
static void test_ring_for_rate(void **state)
{
    (void)state;
    assert_int_equal(acq_ring_for_rate(0.1), ACQ_RING_MIN_CAPACITY);
    assert_int_equal(acq_ring_for_rate(10), 1024);     /* 102 s of a 10 Hz sensor */
    assert_int_equal(acq_ring_for_rate(100), 8192);    /* ≥ 6000 */
    assert_int_equal(acq_ring_for_rate(1000), 65536);  /* ≥ 60000 */
    assert_int_equal(acq_ring_for_rate(10000), ACQ_RING_CAPACITY);
    for (double r = 0.1; r <= 10000; r *= 1.7) {
        size_t n = acq_ring_for_rate(r);
        assert_true((n & (n - 1)) == 0);
        assert_true(n == ACQ_RING_CAPACITY || (double)n >= r * ACQ_RING_SECONDS);
    }
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

static void test_no_data_timeout(void **state)
{
    (void)state;
    struct pd_acq_config *cfg = NULL;
    struct pd_err err;
    assert_int_equal(pd_acq_config_load_string("lab.yaml", base, &cfg, &err), 0);
    assert_true(cfg->no_data_timeout_s == 10.0); /* the documented default */
    pd_acq_config_free(cfg);
    char *t = with("  specimens: 3\n", "  specimens: 3\n  no_data_timeout_s: 2.5\n");
    assert_int_equal(pd_acq_config_load_string("lab.yaml", t, &cfg, &err), 0);
    assert_true(cfg->no_data_timeout_s == 2.5);
    pd_acq_config_free(cfg);
    free(t);
    t = with("  specimens: 3\n", "  specimens: 3\n  no_data_timeout_s: 0\n");
    expect_error(t, "lab.yaml:7:22: ");
    free(t);
}

static void test_outcome_names(void **state)
{
    (void)state;
    assert_string_equal(pd_acq_outcome_name(PD_ACQ_COMPLETED), "completed");
    assert_string_equal(pd_acq_outcome_name(PD_ACQ_INTERRUPTED), "interrupted");
    assert_string_equal(pd_acq_outcome_name(PD_ACQ_FAILED), "failed");
    assert_string_equal(pd_acq_outcome_name(PD_ACQ_INCOMPLETE), "incomplete");
}

/* Waits (a bounded while, not a timing check) for `pid`, a child of this process; returns its
 * wait status, or -1 if it is still running at the end (then it is killed). */
static int reap_within(pid_t pid, int seconds)
{
    for (int i = 0; i < seconds * 100; i++) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0)
            return -2;
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000L}, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* A process starts a "simulator" (a shell that announces an address, then sleeps), reports its
 * pid, and is killed with SIGKILL — it gets no chance to stop anything. The simulator must die
 * with it: this test process, as the orphans' subreaper, reaps it and sees SIGKILL, the signal
 * sim.c asks the kernel for. It also ran in its own process group (a terminal's Ctrl-C is for
 * polydaq alone). */
static void test_simulator_dies_with_its_parent(void **state)
{
    (void)state;
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL), 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t mid = fork();
    assert_true(mid >= 0);
    if (mid == 0) {
        close(fds[0]);
        struct pd_acq_instrument_config ic;
        memset(&ic, 0, sizeof ic);
        snprintf(ic.name, sizeof ic.name, "fake");
        snprintf(ic.driver, sizeof ic.driver, "modbus");
        snprintf(ic.sim_program, sizeof ic.sim_program, "/bin/sh");
        ic.sim_argc = 2;
        snprintf(ic.sim_args[0], sizeof ic.sim_args[0], "-c");
        snprintf(ic.sim_args[1], sizeof ic.sim_args[1], "echo listening tcp://$2; exec sleep 60");
        struct pd_sim_process sim;
        struct pd_err err;
        pid_t report[2] = {0, 0};
        if (pd_sim_start(&ic, "tcp://127.0.0.1:0", NULL, 5000, &sim, &err) == 0) {
            report[0] = sim.pid;
            report[1] = getpgid(sim.pid);
        } else {
            fprintf(stderr, "%s\n", err.msg);
        }
        if (write(fds[1], report, sizeof report) != (ssize_t)sizeof report)
            _exit(1);
        raise(SIGKILL);
        _exit(1);
    }
    close(fds[1]);
    pid_t report[2] = {0, 0};
    ssize_t got = read(fds[0], report, sizeof report);
    close(fds[0]);
    int mid_status = reap_within(mid, 30);
    assert_true(mid_status >= 0 && WIFSIGNALED(mid_status) && WTERMSIG(mid_status) == SIGKILL);
    assert_int_equal(got, (ssize_t)sizeof report);
    assert_true(report[0] > 0);
    assert_int_equal(report[1], report[0]); /* its own process group */
    int sim_status = reap_within(report[0], 30);
    if (!(sim_status >= 0 && WIFSIGNALED(sim_status) && WTERMSIG(sim_status) == SIGKILL))
        fail_msg("the simulator outlived its parent (wait status %d)", sim_status);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_loads_with_defaults),
        cmocka_unit_test(test_shipped_demo_config_loads),
        cmocka_unit_test(test_mistakes_are_named),
        cmocka_unit_test(test_record_method_config),
        cmocka_unit_test(test_ring_for_rate),
        cmocka_unit_test(test_bus_sleep_is_woken_by_commands_and_quit),
        cmocka_unit_test(test_duplicate_instrument_names),
        cmocka_unit_test(test_store_options_and_rates),
        cmocka_unit_test(test_no_data_timeout),
        cmocka_unit_test(test_outcome_names),
        cmocka_unit_test(test_simulator_dies_with_its_parent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
