/* firmware_instruments_test.c — polydaq's Modbus driver against the simulated instruments: every type and word order of the test pattern, the chamber's lag, the pendulum's impacts, and config/instruments/<name>.yaml. */
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "common/proc.h"
#include "config/config.h"
#include "core/core.h"
#include "driver/driver.h"

static pid_t g_sim = -1;

static int teardown(void **state)
{
    (void)state;
    pd_test_stop(&g_sim);
    return 0;
}

/* Starts polydaq-sim with `link_opt link_arg` (--tcp 127.0.0.1:0 or --rtu auto); writes the address it
 * announces ("tcp://127.0.0.1:PORT", "rtu:/dev/pts/N") into transport. */
static void start_sim_on(const char *const *args, const char *link_opt, const char *link_arg, char *transport,
                         size_t size)
{
    const char *argv[32];
    int n = 0;
    for (; args[n] && n < 28; n++)
        argv[n] = args[n];
    argv[n++] = link_opt;
    argv[n++] = link_arg;
    argv[n] = NULL;
    char line[256];
    g_sim = pd_test_start_sim(argv, line, sizeof line);
    assert_true(g_sim > 0);
    assert_true(strncmp(line, "listening ", 10) == 0);
    snprintf(transport, size, "%s", line + strlen("listening "));
}

static void start_sim(const char *const *args, char *transport, size_t size)
{
    start_sim_on(args, "--tcp", "127.0.0.1:0", transport, size);
    assert_true(strncmp(transport, "tcp://", 6) == 0);
}

/* ---- driver plumbing ---------------------------------------------------------------------- */

struct instrument {
    struct pd_cfg_doc *doc;
    const struct pd_driver *driver;
    void *state;
    struct pd_instrument_info info;
};

static void open_instrument(struct instrument *in, struct pd_cfg_doc *doc, const char *transport)
{
    struct pd_err err = {0};
    in->doc = doc;
    in->driver = pd_driver_find("modbus");
    assert_non_null(in->driver);
    if (in->driver->create(pd_cfg_root(doc), &in->state, &err) != 0)
        fail_msg("create: %s", err.msg);
    if (in->driver->set_transport(in->state, transport, &err) != 0)
        fail_msg("set_transport: %s", err.msg);
    memset(&in->info, 0, sizeof in->info);
    if (in->driver->open(in->state, &in->info, &err) != 0)
        fail_msg("open: %s", err.msg);
}

static void open_from_string(struct instrument *in, const char *yaml, const char *transport)
{
    struct pd_err err = {0};
    struct pd_cfg_doc *doc = NULL;
    if (pd_cfg_load_string("test.yaml", yaml, strlen(yaml), &doc, &err) != 0)
        fail_msg("config: %s", err.msg);
    open_instrument(in, doc, transport);
}

static void open_from_file(struct instrument *in, const char *path, const char *transport)
{
    struct pd_err err = {0};
    struct pd_cfg_doc *doc = NULL;
    if (pd_cfg_load_file(path, &doc, &err) != 0)
        fail_msg("config: %s", err.msg);
    open_instrument(in, doc, transport);
}

static void close_instrument(struct instrument *in)
{
    in->driver->close(in->state);
    in->driver->destroy(in->state);
    pd_cfg_free(in->doc);
}

static int keep_reading(void *ctx, const struct pd_reading *reading)
{
    *(struct pd_reading *)ctx = *reading;
    return 0;
}

static struct pd_reading poll_once(struct instrument *in)
{
    struct pd_reading r;
    memset(&r, 0, sizeof r);
    r.quality = 0xFFFFFFFFu;
    struct pd_sink sink = {.push = keep_reading, .ctx = &r};
    struct pd_err err = {0};
    if (in->driver->poll(in->state, &sink, &err) != 0)
        fail_msg("poll: %s", err.msg);
    assert_true(r.quality != 0xFFFFFFFFu);
    return r;
}

static int control(struct instrument *in, const char *name, double value, struct pd_err *err)
{
    return in->driver->control(in->state, name, value, err);
}

static size_t channel_index(struct instrument *in, const char *name)
{
    const struct pd_channel_info *ch;
    size_t n = in->driver->channels(in->state, &ch);
    for (size_t i = 0; i < n; i++)
        if (strcmp(ch[i].name, name) == 0)
            return i;
    fail_msg("no channel %s", name);
    return 0;
}

/* ---- the test pattern: every type in every word order ------------------------------------- */

/* One instrument section with the six types of two order blocks (12 channels: the driver allows 16). */
static void pattern_yaml_on(char *buf, size_t size, const char *link, const char *order_a, unsigned base_a,
                            const char *order_b, unsigned base_b)
{
    static const struct {
        const char *type;
        unsigned offset;
    } types[] = {{"int16", 0}, {"uint16", 1}, {"int32", 2}, {"uint32", 4}, {"float32", 6}, {"float64", 8}};
    int n = snprintf(buf, size,
                     "name: pattern\ndriver: modbus\n%sunit: 1\naddress_base: 0\n"
                     "identity:\n  fw_version: {table: input, address: 16, type: uint16}\n"
                     "  serial_number: {table: input, address: 17, type: uint32, order: ABCD}\n"
                     "channels:\n",
                     link);
    for (int blk = 0; blk < 2; blk++) {
        const char *order = blk ? order_b : order_a;
        unsigned base = blk ? base_b : base_a;
        for (size_t t = 0; t < 6; t++)
            n += snprintf(buf + n, size - (size_t)n,
                          "  - {name: %s_%s, table: input, address: %u, type: %s, order: %s}\n", types[t].type,
                          order, base + types[t].offset, types[t].type, order);
    }
    assert_true((size_t)n < size);
}

static void pattern_yaml(char *buf, size_t size, const char *order_a, unsigned base_a, const char *order_b,
                         unsigned base_b)
{
    pattern_yaml_on(buf, size, "transport: tcp://127.0.0.1:0\n", order_a, base_a, order_b, base_b);
}

static void check_pattern(struct instrument *in)
{
    static const double expected[6] = {-12345.0, 51966.0, -123456789.0, 3735928559.0, (double)-1234.5678f,
                                       6.02214076e23};
    struct pd_reading r = poll_once(in);
    assert_int_equal(r.quality, PD_Q_GOOD);
    for (int i = 0; i < 12; i++)
        if (r.values[i] != expected[i % 6])
            fail_msg("channel %d reads %.17g, REGISTERS.md says %.17g", i, r.values[i], expected[i % 6]);
}

static void test_driver_reads_every_type_and_order(void **state)
{
    (void)state;
    char transport[256];
    const char *args[] = {"loadframe", "--serial", "777", NULL};
    start_sim(args, transport, sizeof transport);
    char yaml[4096];
    struct instrument in;
    pattern_yaml(yaml, sizeof yaml, "ABCD", 100, "CDAB", 116);
    open_from_string(&in, yaml, transport);
    assert_string_equal(in.info.firmware, "0.1");
    assert_string_equal(in.info.serial, "777");
    check_pattern(&in);
    close_instrument(&in);
    pattern_yaml(yaml, sizeof yaml, "BADC", 132, "DCBA", 148);
    open_from_string(&in, yaml, transport);
    check_pattern(&in);
    close_instrument(&in);

    /* a device failure reaches the driver as PD_EDEVICE with the exception code */
    const char *probe = "name: probe\ndriver: modbus\ntransport: tcp://127.0.0.1:0\nunit: 1\naddress_base: 0\n"
                        "channels:\n  - {name: fault, table: input, address: 200, type: uint16}\n";
    open_from_string(&in, probe, transport);
    struct pd_sink sink = {.push = keep_reading, .ctx = NULL};
    struct pd_err err = {0};
    assert_int_equal(in.driver->poll(in.state, &sink, &err), PD_EDEVICE);
    assert_int_equal(err.device_code, 4);
    close_instrument(&in);
}

/* The same test pattern over Modbus RTU on a pty (the simulator makes it: --rtu auto, 19200 8E1). */
static void test_driver_reads_every_type_and_order_over_rtu(void **state)
{
    (void)state;
    char transport[256];
    const char *args[] = {"loadframe", "--serial", "778", NULL};
    start_sim_on(args, "--rtu", "auto", transport, sizeof transport);
    assert_true(strncmp(transport, "rtu:/dev/pts/", 13) == 0);
    char yaml[4096];
    struct instrument in;
    const char *link = "transport: rtu:/dev/null\nbaud: 19200\nparity: even\nresponse_timeout_ms: 1000\n";
    pattern_yaml_on(yaml, sizeof yaml, link, "ABCD", 100, "CDAB", 116);
    open_from_string(&in, yaml, transport);
    assert_string_equal(in.info.serial, "778");
    check_pattern(&in);
    close_instrument(&in);
    pattern_yaml_on(yaml, sizeof yaml, link, "BADC", 132, "DCBA", 148);
    open_from_string(&in, yaml, transport);
    check_pattern(&in);
    close_instrument(&in);
}

/* ---- config/instruments/<name>.yaml against their simulators ----------------------------------- */

static void test_loadframe_yaml(void **state)
{
    (void)state;
    char transport[256];
    const char *args[] = {"loadframe", "--time-scale", "20", NULL};
    start_sim(args, transport, sizeof transport);
    struct instrument in;
    open_from_file(&in, PD_SOURCE_DIR "/config/instruments/loadframe.yaml", transport);
    assert_string_equal(in.info.firmware, "0.1");
    assert_int_equal(in.info.simulated, 1);
    struct pd_err err = {0};
    assert_int_equal(control(&in, "speed_test", 50.0, &err), 0);
    assert_int_equal(control(&in, "start", 0, &err), 0);
    usleep(200000);
    struct pd_reading r = poll_once(&in);
    assert_true(r.values[channel_index(&in, "crosshead")] > 0.0);
    assert_int_equal(control(&in, "stop", 0, &err), 0);
    close_instrument(&in);
}

static void test_chamber_pv_approaches_setpoint(void **state)
{
    (void)state;
    char transport[256];
    /* τ = 60 s at 200× real time: one τ every 0.3 s */
    const char *args[] = {"chamber", "--tau", "60", "--ambient", "23", "--setpoint", "23", "--time-scale", "200",
                          "--serial", "31", "--rh-tau", "60", NULL};
    start_sim(args, transport, sizeof transport);
    struct instrument in;
    open_from_file(&in, PD_SOURCE_DIR "/config/instruments/chamber.yaml", transport);
    assert_string_equal(in.info.serial, "31");
    size_t pv = channel_index(&in, "temperature"), pv10 = channel_index(&in, "temperature_x10"),
           sp10 = channel_index(&in, "setpoint_x10"), out = channel_index(&in, "output"),
           status = channel_index(&in, "status");
    size_t rh = channel_index(&in, "humidity");
    struct pd_reading r = poll_once(&in);
    assert_true(fabs(r.values[pv] - 23.0) < 0.2);
    assert_true(fabs(r.values[rh] - 50.0) < 1.5); /* ambient 50 % RH, sensor noise 0.2 % */

    struct pd_err err = {0};
    assert_int_equal(control(&in, "humidity_setpoint", 65.0, &err), 0);
    assert_int_equal(control(&in, "humidity_setpoint", 100.5, &err), PD_EDEVICE); /* out of 0..100 */
    assert_int_equal(control(&in, "setpoint", 80.0, &err), 0);
    r = poll_once(&in);
    assert_true(fabs(r.values[sp10] - 80.0) < 1e-9);
    double last_gap = 57.0;
    int rising = 0;
    int64_t t0 = pd_test_now_ms();
    for (;;) {
        assert_true(pd_test_now_ms() - t0 < 10000);
        usleep(50000);
        r = poll_once(&in);
        double gap = 80.0 - r.values[pv];
        /* the INT16 with one implied decimal is the same reading, rounded */
        assert_true(fabs(r.values[pv10] - r.values[pv]) <= 0.05 + 1e-4);
        assert_true(gap <= last_gap + 0.2); /* never moves away (beyond sensor noise) */
        if (gap < last_gap)
            rising++;
        if (gap > 0.5) {
            assert_true(r.values[out] > 0.0);
            assert_int_equal((int)r.values[status], 1); /* heating */
        }
        last_gap = gap;
        if (gap < 0.2)
            break;
    }
    assert_true(rising >= 3);
    r = poll_once(&in);
    assert_int_equal((int)r.values[status], 3); /* stable */
    assert_true(fabs(r.values[out]) < 3.0);
    /* the humidity, with the same time constant, has come as close to its set point */
    assert_true(fabs(r.values[rh] - 65.0) < 1.5);

    /* a setpoint outside the controller's range is refused (exception 03) and changes nothing */
    assert_int_equal(control(&in, "setpoint", 500.0, &err), PD_EDEVICE);
    assert_int_equal(err.device_code, 3);
    r = poll_once(&in);
    assert_true(fabs(r.values[sp10] - 80.0) < 1e-9);
    /* standby: the air drifts back towards ambient, output 0 */
    assert_int_equal(control(&in, "standby", 0, &err), 0);
    usleep(400000);
    r = poll_once(&in);
    assert_int_equal((int)r.values[status], 0);
    assert_true(r.values[out] == 0.0);
    assert_true(r.values[pv] < 75.0);
    assert_true(r.values[rh] < 62.0); /* back towards the ambient 50 % */
    close_instrument(&in);
}

static void test_pendulum_release_yields_energy(void **state)
{
    (void)state;
    char transport[256];
    const char *args[] = {"pendulum", "--energy", "1", "--energy-mean", "0.41", "--energy-sd", "0.02",
                          "--time-scale", "2", "--seed", "5", NULL};
    start_sim(args, transport, sizeof transport);
    struct instrument in;
    open_from_file(&in, PD_SOURCE_DIR "/config/instruments/pendulum.yaml", transport);
    assert_int_equal(in.info.simulated, 1);
    size_t energy = channel_index(&in, "energy"), status = channel_index(&in, "status"),
           impacts = channel_index(&in, "impacts"), result = channel_index(&in, "result"),
           rise = channel_index(&in, "rise_angle"), valid = channel_index(&in, "out_of_range");
    struct pd_reading r = poll_once(&in);
    assert_int_equal((int)r.values[status], 0);
    assert_int_equal((int)r.values[impacts], 0);

    struct pd_err err = {0};
    double energies[3];
    for (int k = 0; k < 3; k++) {
        assert_int_equal(control(&in, "release", 0, &err), 0);
        r = poll_once(&in);
        assert_int_equal((int)r.values[status], 1); /* swinging */
        /* busy while swinging (0.5 s: longer than the driver's busy retries): neither a second
         * release nor a reset */
        assert_int_equal(control(&in, "release", 0, &err), PD_EBUSY);
        assert_int_equal(control(&in, "reset", 0, &err), PD_EBUSY);
        int64_t t0 = pd_test_now_ms();
        do {
            assert_true(pd_test_now_ms() - t0 < 5000);
            usleep(10000);
            r = poll_once(&in);
        } while ((int)r.values[status] == 1);
        assert_int_equal((int)r.values[status], 2);
        assert_int_equal((int)r.values[result], 1);
        assert_int_equal((int)r.values[impacts], k + 1);
        assert_int_equal((int)r.values[valid], 0); /* 0.41 J of 1 J: within 10–80 % */
        energies[k] = r.values[energy];
        /* 0.41 ± 3 SD, plus the encoder noise's share (0.01° ≈ 0.0002 J here) */
        assert_true(energies[k] > 0.41 - 0.061 && energies[k] < 0.41 + 0.061);
        /* W = 1 J / (1 − cos 150°) ≈ 0.536 J; rising to β means E − e − friction left */
        double beta = r.values[rise] * M_PI / 180.0;
        double w = 1.0 / (1.0 - cos(150.0 * M_PI / 180.0));
        assert_true(fabs(w * (cos(beta) - cos(150.0 * M_PI / 180.0)) - 0.004 - energies[k]) < 1e-5);
        /* done: another release needs a reset first */
        assert_int_equal(control(&in, "release", 0, &err), PD_EBUSY);
        assert_int_equal(control(&in, "reset", 0, &err), 0);
    }
    assert_true(energies[0] != energies[1] && energies[1] != energies[2]); /* seeded scatter */
    close_instrument(&in);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_driver_reads_every_type_and_order, teardown),
        cmocka_unit_test_teardown(test_driver_reads_every_type_and_order_over_rtu, teardown),
        cmocka_unit_test_teardown(test_loadframe_yaml, teardown),
        cmocka_unit_test_teardown(test_chamber_pv_approaches_setpoint, teardown),
        cmocka_unit_test_teardown(test_pendulum_release_yields_energy, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
