/* chamber_test.c — temperature chamber firmware core: the first-order lags (air, relative humidity),
 * setpoint limits, CDAB and ×10 registers. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "chamber/core/chamber.h"

#define assert_near(actual, expected, tol)                                                       \
    do {                                                                                         \
        double a_ = (actual), e_ = (expected);                                                   \
        if (!(fabs(a_ - e_) <= (tol)))                                                           \
            fail_msg("%s = %.17g, expected %.17g within %g", #actual, a_, e_, (double)(tol));    \
    } while (0)

/* ---- helpers ----------------------------------------------------------------------------- */

static void init_chamber(struct ch_chamber *c, double ambient, double setpoint, double tau, double noise)
{
    struct ch_params p;
    ch_params_defaults(&p);
    p.ambient_c = ambient;
    p.setpoint_c = setpoint;
    p.tau_s = tau;
    p.noise_c = noise;
    const char *why = NULL;
    assert_int_equal(ch_init(c, &p, &why), CH_OK);
}

/* The lag's exact solution: T(t) = target + (T0 − target)·e^(−t/τ). */
static double lag(double t0, double target, double tau, double t)
{
    return target + (t0 - target) * exp(-t / tau);
}

static uint16_t input_reg(const struct ch_chamber *c, uint16_t addr)
{
    uint16_t v = 0xDEAD;
    assert_int_equal(ch_regs_read_input(c, addr, 1, &v), 0);
    return v;
}

static uint16_t holding_reg(const struct ch_chamber *c, uint16_t addr)
{
    uint16_t v = 0xDEAD;
    assert_int_equal(ch_regs_read_holding(c, addr, 1, &v), 0);
    return v;
}

/* A binary32 in CDAB order as the register map says: low word first, big-endian inside each. */
static void cdab(uint32_t bits, uint16_t regs[2])
{
    regs[0] = (uint16_t)(bits & 0xFFFFu);
    regs[1] = (uint16_t)(bits >> 16);
}

static uint32_t bits_of(float v)
{
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

/* Function 16 as a request PDU through the firmware's own slave; returns the response length. */
static size_t write_multiple_pdu(struct ch_chamber *c, uint16_t addr, uint16_t count, const uint16_t *values,
                                 uint8_t rsp[MB_MAX_PDU])
{
    uint8_t req[MB_MAX_PDU];
    size_t n = 0;
    req[n++] = MB_FC_WRITE_MULTIPLE;
    req[n++] = (uint8_t)(addr >> 8);
    req[n++] = (uint8_t)addr;
    req[n++] = (uint8_t)(count >> 8);
    req[n++] = (uint8_t)count;
    req[n++] = (uint8_t)(2 * count);
    for (uint16_t i = 0; i < count; i++) {
        req[n++] = (uint8_t)(values[i] >> 8);
        req[n++] = (uint8_t)values[i];
    }
    struct mb_slave slave;
    mb_slave_init(&slave, &ch_regs_tables, c, 1, CH_SLAVE_ID, "test");
    return mb_pdu_process(&slave, req, n, rsp);
}

/* ---- the lag ----------------------------------------------------------------------------- */

static void test_pv_follows_first_order_lag(void **state)
{
    (void)state;
    const double t0 = 23.0, sp = 80.0, tau = 12.0, noise = 0.05;
    struct ch_chamber c;
    init_chamber(&c, t0, sp, tau, noise);
    double sum = 0.0, sum_sq = 0.0;
    const int cycles = 1200; /* 120 s = 10 τ */
    for (int k = 1; k <= cycles; k++) {
        ch_cycle(&c);
        double t = k * (CH_CYCLE_US * 1e-6);
        double expected = lag(t0, sp, tau, t);
        /* the air itself is the exact solution, step after step */
        assert_near(c.air_c, expected, 1e-9 * sp);
        /* the sensor adds Gaussian noise of SD `noise`: 6 SD is never reached by chance here */
        double residual = c.pv_c - expected;
        assert_near(c.pv_c, expected, 6.0 * noise);
        sum += residual;
        sum_sq += residual * residual;
        /* the float register is the same reading */
        uint16_t regs[2];
        assert_int_equal(ch_regs_read_input(&c, CH_IR_PV, 2, regs), 0);
        assert_float_equal(mb_get_float(regs, MB_ORDER_CDAB), (float)c.pv_c, 0.0);
        if (k == 120) /* t = τ: 1 − 1/e of the step done */
            assert_near((c.air_c - t0) / (sp - t0), 1.0 - exp(-1.0), 1e-9);
    }
    assert_int_equal(c.cycle_counter, cycles);
    /* noise without bias and of the configured size: mean within 5 standard errors, SD within 15 % */
    double mean = sum / cycles, sd = sqrt(sum_sq / cycles - mean * mean);
    assert_near(mean, 0.0, 5.0 * noise / sqrt(cycles));
    assert_near(sd, noise, 0.15 * noise);
    assert_int_equal(ch_status(&c), CH_STATUS_STABLE);
    assert_int_equal(input_reg(&c, CH_IR_STATUS), CH_STATUS_STABLE);
}

static void test_lag_on_the_hal_clock_and_closed_form_catch_up(void **state)
{
    (void)state;
    const double t0 = 30.0, sp = -20.0, tau = 3000.0;
    struct ch_params p;
    ch_params_defaults(&p);
    p.ambient_c = t0;
    p.setpoint_c = sp;
    p.tau_s = tau;
    p.noise_c = 0.0;
    p.time_scale = 20.0;
    struct ch_chamber c;
    assert_int_equal(ch_init(&c, &p, NULL), CH_OK);

    const uint64_t origin = 5000000; /* any hal clock value: the first step is the origin */
    ch_step(&c, origin);
    assert_int_equal(c.cycle_counter, 0);
    assert_near(c.air_c, t0, 0.0);
    /* 0.5 s of hal time at ×20 = 10 s of instrument time = 100 cycles, stepped one by one */
    ch_step(&c, origin + 500000);
    assert_int_equal(c.cycle_counter, 100);
    assert_near(c.pv_c, lag(t0, sp, tau, 10.0), 1e-9);
    assert_int_equal(ch_status(&c), CH_STATUS_COOLING);
    /* a clock that seems to go back changes nothing */
    ch_step(&c, origin - 1);
    assert_int_equal(c.cycle_counter, 100);
    /* a long idle spell: 60 s of hal time = 1200 s = 12000 cycles, caught up in closed form */
    ch_step(&c, origin + 60500000);
    assert_int_equal(c.cycle_counter, 12100);
    assert_near(c.pv_c, lag(t0, sp, tau, 1210.0), 1e-9);
    uint16_t regs[2];
    assert_int_equal(ch_regs_read_input(&c, CH_IR_CYCLE_COUNTER, 2, regs), 0);
    assert_int_equal(regs[0], 12100); /* CDAB: low word first */
    assert_int_equal(regs[1], 0);
}

static void test_standby_drifts_to_ambient(void **state)
{
    (void)state;
    const double ambient = 21.0, sp = 120.0, tau = 5.0;
    struct ch_chamber c;
    init_chamber(&c, ambient, sp, tau, 0.0);
    for (int k = 0; k < 50; k++) /* 5 s = τ towards the setpoint */
        ch_cycle(&c);
    double hot = c.air_c;
    assert_near(hot, lag(ambient, sp, tau, 5.0), 1e-9);
    assert_int_equal(input_reg(&c, CH_IR_STATUS), CH_STATUS_HEATING);
    assert_int_equal((int16_t)input_reg(&c, CH_IR_OUTPUT_X10), 1000); /* 62 °C short: clipped 100 % */

    uint16_t standby = 0;
    assert_int_equal(ch_regs_write_holding(&c, CH_HR_MODE, 1, &standby), 0);
    for (int k = 0; k < 100; k++) /* 10 s back towards ambient */
        ch_cycle(&c);
    assert_near(c.air_c, lag(hot, ambient, tau, 10.0), 1e-9);
    assert_int_equal(input_reg(&c, CH_IR_STATUS), CH_STATUS_STANDBY);
    assert_int_equal(input_reg(&c, CH_IR_OUTPUT_X10), 0);
    /* the setpoint is kept while on standby */
    assert_int_equal((int16_t)input_reg(&c, CH_IR_SETPOINT_X10), 1200);
}

static void test_output_is_proportional(void **state)
{
    (void)state;
    struct ch_chamber c;
    init_chamber(&c, 20.0, 23.0, 36000.0, 0.0); /* τ 10 h: the air barely moves in one cycle */
    ch_cycle(&c);
    double expected = 100.0 * (23.0 - c.air_c) / CH_PROPORTIONAL_BAND; /* about 30 % */
    assert_near(c.output_pct, expected, 1e-12);
    assert_int_equal((int16_t)input_reg(&c, CH_IR_OUTPUT_X10), (int16_t)lround(expected * 10.0));
    uint16_t regs[2];
    assert_int_equal(ch_regs_read_input(&c, CH_IR_OUTPUT, 2, regs), 0);
    assert_float_equal(mb_get_float(regs, MB_ORDER_CDAB), (float)expected, 0.0);
}

/* ---- setpoint limits ---------------------------------------------------------------------- */

static void test_setpoint_limits_exception_03(void **state)
{
    (void)state;
    struct ch_chamber c;
    init_chamber(&c, 23.0, 50.0, 120.0, 0.0);
    struct ch_chamber before;
    memcpy(&before, &c, sizeof c); /* bytes, padding included, for the comparisons below */
    uint16_t regs[4];

    const float out_of_range[] = {180.5f, -70.5f, 1000.0f, NAN, INFINITY};
    for (size_t i = 0; i < sizeof out_of_range / sizeof out_of_range[0]; i++) {
        cdab(bits_of(out_of_range[i]), regs);
        assert_int_equal(ch_regs_write_holding(&c, CH_HR_SETPOINT, 2, regs), MB_EX_ILLEGAL_VALUE);
        assert_memory_equal(&c, &before, sizeof c); /* nothing taken */
    }
    /* the ×10 form: 180.1 °C and −70.1 °C are out, the limits themselves are in */
    regs[0] = 1801;
    assert_int_equal(ch_regs_write_holding(&c, CH_HR_SETPOINT_X10, 1, regs), MB_EX_ILLEGAL_VALUE);
    regs[0] = (uint16_t)(int16_t)-701;
    assert_int_equal(ch_regs_write_holding(&c, CH_HR_SETPOINT_X10, 1, regs), MB_EX_ILLEGAL_VALUE);
    assert_memory_equal(&c, &before, sizeof c);
    regs[0] = 1800;
    assert_int_equal(ch_regs_write_holding(&c, CH_HR_SETPOINT_X10, 1, regs), 0);
    assert_float_equal(c.setpoint_c, 180.0f, 0.0);
    cdab(bits_of(-70.0f), regs);
    assert_int_equal(ch_regs_write_holding(&c, CH_HR_SETPOINT, 2, regs), 0);
    assert_float_equal(c.setpoint_c, -70.0f, 0.0);
    memcpy(&before, &c, sizeof c);

    /* all or nothing: a valid setpoint with an invalid τ in one write leaves both */
    cdab(bits_of(60.0f), &regs[0]);
    cdab(bits_of(0.5f), &regs[2]);
    assert_int_equal(ch_regs_write_holding(&c, CH_HR_SETPOINT, 4, regs), MB_EX_ILLEGAL_VALUE);
    assert_memory_equal(&c, &before, sizeof c);
    cdab(bits_of(36001.0f), &regs[2]);
    assert_int_equal(ch_regs_write_holding(&c, CH_HR_SETPOINT, 4, regs), MB_EX_ILLEGAL_VALUE);
    /* a mode other than 0/1 */
    regs[0] = 2;
    assert_int_equal(ch_regs_write_holding(&c, CH_HR_MODE, 1, regs), MB_EX_ILLEGAL_VALUE);
    /* both setpoint forms in one write are ambiguous even when they agree */
    cdab(bits_of(60.0f), &regs[0]);
    cdab(bits_of(120.0f), &regs[2]);
    uint16_t five[5] = {regs[0], regs[1], regs[2], regs[3], 600};
    assert_int_equal(ch_regs_write_holding(&c, CH_HR_SETPOINT, 5, five), MB_EX_ILLEGAL_VALUE);
    assert_memory_equal(&c, &before, sizeof c);

    /* addresses: the unassigned register 1, half a FLOAT32, past the end → 02 */
    assert_int_equal(ch_regs_write_holding(&c, 1, 1, regs), MB_EX_ILLEGAL_ADDRESS);
    assert_int_equal(ch_regs_write_holding(&c, 0, 2, regs), MB_EX_ILLEGAL_ADDRESS);
    assert_int_equal(ch_regs_write_holding(&c, CH_HR_SETPOINT, 1, regs), MB_EX_ILLEGAL_ADDRESS);
    assert_int_equal(ch_regs_write_holding(&c, CH_HR_SETPOINT + 1, 1, regs), MB_EX_ILLEGAL_ADDRESS);
    assert_int_equal(ch_regs_write_holding(&c, CH_HR_TAU + 1, 2, regs), MB_EX_ILLEGAL_ADDRESS);
    assert_int_equal(ch_regs_write_holding(&c, CH_HOLDING_REG_COUNT, 1, regs), MB_EX_ILLEGAL_ADDRESS);
    assert_memory_equal(&c, &before, sizeof c);

    /* on the wire: function 16 with 180.5 °C answers exception 03 (0x90 0x03) */
    uint8_t rsp[MB_MAX_PDU];
    cdab(bits_of(180.5f), regs);
    assert_int_equal(write_multiple_pdu(&c, CH_HR_SETPOINT, 2, regs, rsp), 2);
    assert_int_equal(rsp[0], 0x90);
    assert_int_equal(rsp[1], MB_EX_ILLEGAL_VALUE);
    assert_memory_equal(&c, &before, sizeof c);
    /* and 179.5 °C is taken: the normal response echoes address and count */
    cdab(bits_of(179.5f), regs);
    assert_int_equal(write_multiple_pdu(&c, CH_HR_SETPOINT, 2, regs, rsp), 5);
    static const uint8_t ok[] = {0x10, 0x00, CH_HR_SETPOINT, 0x00, 0x02};
    assert_memory_equal(rsp, ok, sizeof ok);
    assert_float_equal(c.setpoint_c, 179.5f, 0.0);
}

static void test_init_rejects_bad_params(void **state)
{
    (void)state;
    struct ch_chamber c, before;
    memset(&c, 0x5A, sizeof c);
    memcpy(&before, &c, sizeof c);
    struct ch_params p;
    ch_params_defaults(&p);
    p.setpoint_c = 180.5;
    const char *why = NULL;
    assert_int_equal(ch_init(&c, &p, &why), CH_EINVAL);
    assert_non_null(why);
    assert_non_null(strstr(why, "setpoint"));
    assert_memory_equal(&c, &before, sizeof c);
    ch_params_defaults(&p);
    p.tau_s = 0.5;
    assert_int_equal(ch_init(&c, &p, NULL), CH_EINVAL);
    ch_params_defaults(&p);
    p.time_scale = 0.0;
    assert_int_equal(ch_init(&c, &p, NULL), CH_EINVAL);
    ch_params_defaults(&p);
    p.noise_c = NAN;
    assert_int_equal(ch_init(&c, &p, NULL), CH_EINVAL);
    assert_memory_equal(&c, &before, sizeof c);
}

/* ---- encodings ---------------------------------------------------------------------------- */

static void test_float32_cdab_encoding(void **state)
{
    (void)state;
    /* the register map's example: 23.5 °C = 0x41BC0000 reads {0x0000, 0x41BC} */
    struct ch_chamber c;
    init_chamber(&c, 23.5, 23.5, 120.0, 0.0);
    uint16_t regs[2];
    assert_int_equal(ch_regs_read_input(&c, CH_IR_PV, 2, regs), 0);
    assert_int_equal(regs[0], 0x0000);
    assert_int_equal(regs[1], 0x41BC);
    assert_int_equal(ch_regs_read_holding(&c, CH_HR_SETPOINT, 2, regs), 0);
    assert_int_equal(regs[0], 0x0000);
    assert_int_equal(regs[1], 0x41BC);

    /* a value whose low word is not zero: 100.1f = 0x42C83333 */
    uint16_t w[2] = {0x3333, 0x42C8};
    assert_int_equal(ch_regs_write_holding(&c, CH_HR_SETPOINT, 2, w), 0);
    assert_float_equal(c.setpoint_c, 100.1f, 0.0);
    assert_int_equal(holding_reg(&c, CH_HR_SETPOINT), 0x3333);
    assert_int_equal(holding_reg(&c, CH_HR_SETPOINT + 1), 0x42C8);
    /* the ×10 forms follow: 1001 */
    assert_int_equal(holding_reg(&c, CH_HR_SETPOINT_X10), 1001);
    assert_int_equal(input_reg(&c, CH_IR_SETPOINT_X10), 1001);

    /* τ in the same order: 3600.5 = 0x45610800 is in range, −12.25 = 0xC1440000 is not */
    uint16_t tau[2] = {0x0800, 0x4561};
    assert_int_equal(ch_regs_write_holding(&c, CH_HR_TAU, 2, tau), 0);
    assert_float_equal(c.tau_s, 3600.5f, 0.0);
    uint16_t neg[2] = {0x0000, 0xC144};
    assert_int_equal(ch_regs_write_holding(&c, CH_HR_TAU, 2, neg), MB_EX_ILLEGAL_VALUE);
    /* −12.25 as a setpoint is fine */
    assert_int_equal(ch_regs_write_holding(&c, CH_HR_SETPOINT, 2, neg), 0);
    assert_int_equal((int16_t)holding_reg(&c, CH_HR_SETPOINT_X10), -123); /* half away from zero */

    /* 32-bit integers in the same order: serial number 0x00012345 → {0x2345, 0x0001} */
    struct ch_params p;
    ch_params_defaults(&p);
    p.serial_number = 0x00012345;
    assert_int_equal(ch_init(&c, &p, NULL), CH_OK);
    assert_int_equal(ch_regs_read_input(&c, CH_IR_SERIAL_NUMBER, 2, regs), 0);
    assert_int_equal(regs[0], 0x2345);
    assert_int_equal(regs[1], 0x0001);
    char id[64];
    assert_int_equal(ch_regs_identity(&c, id, sizeof id), strlen("polydaq TC-1 fw 0.1 SN 74565"));
    assert_string_equal(id, "polydaq TC-1 fw 0.1 SN 74565");
}

static void test_pv_x10_int16(void **state)
{
    (void)state;
    static const struct {
        double pv;
        int16_t x10;
    } cases[] = {
        {23.46, 235}, {23.44, 234}, {0.0, 0}, {0.04, 0}, {-0.04, 0}, {-0.06, -1},
        {-5.04, -50}, {-5.06, -51}, {-39.96, -400}, {59.99, 600}, {12.349, 123},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ch_chamber c;
        init_chamber(&c, cases[i].pv, 23.0, 120.0, 0.0); /* the air starts at ambient: PV = ambient */
        assert_near(c.pv_c, cases[i].pv, 0.0);
        uint16_t raw = input_reg(&c, CH_IR_PV_X10);
        if ((int16_t)raw != cases[i].x10)
            fail_msg("PV %.3f reads %d, expected %d", cases[i].pv, (int16_t)raw, cases[i].x10);
    }
    /* the ×10 register is the PV with its noise, like the float one */
    struct ch_chamber c;
    init_chamber(&c, 23.0, 40.0, 20.0, 0.3);
    for (int k = 0; k < 200; k++) {
        ch_cycle(&c);
        assert_int_equal((int16_t)input_reg(&c, CH_IR_PV_X10), (int16_t)lround(c.pv_c * 10.0));
    }
}

static void test_read_bounds(void **state)
{
    (void)state;
    struct ch_chamber c;
    init_chamber(&c, 23.0, 23.0, 120.0, 0.0);
    uint16_t regs[MB_MAX_READ_COUNT + 1];
    assert_int_equal(ch_regs_read_input(&c, 0, CH_INPUT_REG_COUNT, regs), 0);
    assert_int_equal(regs[14], 0); /* unassigned 14..15 read 0 */
    assert_int_equal(regs[15], 0);
    assert_int_equal(regs[CH_IR_RH_X10], 500);
    assert_int_equal(regs[CH_IR_RH_SETPOINT_X10], 500);
    assert_int_equal(regs[CH_IR_FW_VERSION], CH_FW_VERSION);
    assert_int_equal(regs[CH_IR_CAL_YEAR], 2026);
    assert_int_equal(regs[CH_IR_CAL_MONTH], 6);
    assert_int_equal(regs[CH_IR_CAL_DAY], 1);
    assert_int_equal(ch_regs_read_input(&c, 1, CH_INPUT_REG_COUNT, regs), MB_EX_ILLEGAL_ADDRESS);
    assert_int_equal(ch_regs_read_input(&c, CH_INPUT_REG_COUNT, 1, regs), MB_EX_ILLEGAL_ADDRESS);
    assert_int_equal(ch_regs_read_input(&c, 0, 0, regs), MB_EX_ILLEGAL_VALUE);
    assert_int_equal(ch_regs_read_holding(&c, 0, CH_HOLDING_REG_COUNT + 1, regs), MB_EX_ILLEGAL_ADDRESS);
    assert_int_equal(ch_regs_read_holding(&c, 0, MB_MAX_READ_COUNT + 1, regs), MB_EX_ILLEGAL_VALUE);
    assert_int_equal(ch_regs_read_holding(&c, 0, CH_HOLDING_REG_COUNT, regs), 0);
    assert_int_equal(regs[1], 0); /* unassigned */
    assert_int_equal(regs[7], 0);
    assert_int_equal(regs[CH_HR_MODE], 1);
}

/* ---- relative humidity -------------------------------------------------------------------- */

static void init_humid(struct ch_chamber *c, double ambient, double setpoint, double tau, double noise)
{
    struct ch_params p;
    ch_params_defaults(&p);
    p.rh_ambient = ambient;
    p.rh_setpoint = setpoint;
    p.rh_tau_s = tau;
    p.rh_noise = noise;
    assert_int_equal(ch_init(c, &p, NULL), CH_OK);
}

static double rh_float(const struct ch_chamber *c)
{
    uint16_t regs[2];
    assert_int_equal(ch_regs_read_input(c, CH_IR_RH, 2, regs), 0);
    return mb_get_float(regs, MB_ORDER_CDAB);
}

static void test_humidity_follows_its_own_lag(void **state)
{
    (void)state;
    const double h0 = 30.0, sp = 50.0, tau = 20.0, noise = 0.2;
    struct ch_chamber c;
    init_humid(&c, h0, sp, tau, noise);
    /* the same seed gives the same temperature readings with or without humidity noise: own stream */
    struct ch_chamber quiet;
    init_humid(&quiet, h0, sp, tau, 0.0);
    double sum = 0.0, sum_sq = 0.0;
    const int cycles = 2000; /* 200 s = 10 τ */
    for (int k = 1; k <= cycles; k++) {
        ch_cycle(&c);
        ch_cycle(&quiet);
        double expected = lag(h0, sp, tau, k * (CH_CYCLE_US * 1e-6));
        assert_near(c.rh, expected, 1e-9 * sp);
        assert_near(quiet.rh_pv, expected, 1e-9 * sp);
        assert_near(c.rh_pv, expected, 6.0 * noise);
        assert_near(c.pv_c, quiet.pv_c, 0.0);
        assert_float_equal(rh_float(&c), (float)c.rh_pv, 0.0);
        assert_int_equal((int16_t)input_reg(&c, CH_IR_RH_X10), (int16_t)lround(c.rh_pv * 10.0));
        double r = c.rh_pv - expected;
        sum += r;
        sum_sq += r * r;
        if (k == 200) /* t = τ */
            assert_near((c.rh - h0) / (sp - h0), 1.0 - exp(-1.0), 1e-9);
    }
    double mean = sum / cycles, sd = sqrt(sum_sq / cycles - mean * mean);
    assert_near(mean, 0.0, 5.0 * noise / sqrt(cycles));
    assert_near(sd, noise, 0.15 * noise);
    /* the closed-form catch-up moves the humidity too: 1 h of instrument time at once */
    struct ch_chamber fast, slow;
    init_humid(&fast, 80.0, 40.0, 600.0, 0.0);
    init_humid(&slow, 80.0, 40.0, 600.0, 0.0);
    ch_step(&fast, 0);
    ch_step(&fast, 3600000000ull);
    for (int k = 0; k < 36000; k++)
        ch_cycle(&slow);
    assert_near(fast.rh, lag(80.0, 40.0, 600.0, 3600.0), 1e-9);
    assert_near(slow.rh, fast.rh, 1e-9);
}

static void test_humidity_setpoint_register_and_standby(void **state)
{
    (void)state;
    struct ch_chamber c;
    init_humid(&c, 45.0, 50.0, 10.0, 0.0);
    struct ch_chamber before;
    memcpy(&before, &c, sizeof c);
    uint16_t regs[2];
    assert_int_equal(ch_regs_read_holding(&c, CH_HR_RH_SETPOINT, 2, regs), 0);
    assert_float_equal(mb_get_float(regs, MB_ORDER_CDAB), 50.0f, 0.0);
    /* out of 0..100, NaN: exception 03, nothing taken; half the pair, the unassigned 7: 02 */
    const float bad[] = {100.5f, -0.1f, NAN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cdab(bits_of(bad[i]), regs);
        assert_int_equal(ch_regs_write_holding(&c, CH_HR_RH_SETPOINT, 2, regs), MB_EX_ILLEGAL_VALUE);
    }
    assert_int_equal(ch_regs_write_holding(&c, CH_HR_RH_SETPOINT, 1, regs), MB_EX_ILLEGAL_ADDRESS);
    assert_int_equal(ch_regs_write_holding(&c, CH_HR_RH_SETPOINT + 1, 1, regs), MB_EX_ILLEGAL_ADDRESS);
    assert_int_equal(ch_regs_write_holding(&c, 7, 1, regs), MB_EX_ILLEGAL_ADDRESS);
    assert_memory_equal(&c, &before, sizeof c);
    cdab(bits_of(85.0f), regs);
    assert_int_equal(ch_regs_write_holding(&c, CH_HR_RH_SETPOINT, 2, regs), 0);
    assert_int_equal(input_reg(&c, CH_IR_RH_SETPOINT_X10), 850);
    for (int k = 0; k < 100; k++) /* 10 s = τ */
        ch_cycle(&c);
    assert_near(c.rh, lag(45.0, 85.0, 10.0, 10.0), 1e-9);
    /* on standby it drifts back to the ambient humidity */
    double humid = c.rh;
    uint16_t standby = 0;
    assert_int_equal(ch_regs_write_holding(&c, CH_HR_MODE, 1, &standby), 0);
    for (int k = 0; k < 50; k++)
        ch_cycle(&c);
    assert_near(c.rh, lag(humid, 45.0, 10.0, 5.0), 1e-9);
    /* a sensor reads within its scale: noise near 100 % is clipped */
    init_humid(&c, 100.0, 100.0, 10.0, 5.0);
    for (int k = 0; k < 200; k++) {
        ch_cycle(&c);
        assert_true(c.rh_pv <= 100.0);
        assert_true(rh_float(&c) <= 100.0f);
    }
    /* bad parameters are refused with the reason */
    struct ch_params p;
    ch_params_defaults(&p);
    p.rh_setpoint = 101.0;
    const char *why = NULL;
    assert_int_equal(ch_init(&c, &p, &why), CH_EINVAL);
    assert_non_null(strstr(why, "humidity set point"));
    ch_params_defaults(&p);
    p.rh_tau_s = 0.0;
    assert_int_equal(ch_init(&c, &p, &why), CH_EINVAL);
    ch_params_defaults(&p);
    p.rh_noise = -1.0;
    assert_int_equal(ch_init(&c, &p, &why), CH_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pv_follows_first_order_lag),
        cmocka_unit_test(test_lag_on_the_hal_clock_and_closed_form_catch_up),
        cmocka_unit_test(test_standby_drifts_to_ambient),
        cmocka_unit_test(test_output_is_proportional),
        cmocka_unit_test(test_setpoint_limits_exception_03),
        cmocka_unit_test(test_init_rejects_bad_params),
        cmocka_unit_test(test_float32_cdab_encoding),
        cmocka_unit_test(test_pv_x10_int16),
        cmocka_unit_test(test_read_bounds),
        cmocka_unit_test(test_humidity_follows_its_own_lag),
        cmocka_unit_test(test_humidity_setpoint_register_and_standby),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
