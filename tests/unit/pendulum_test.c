/* pendulum_test.c — Charpy pendulum firmware core: seeded energy draws, the release/reset state machine, friction and rise angle. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pendulum/core/pendulum.h"

#define assert_near(actual, expected, tol)                                                       \
    do {                                                                                         \
        double a_ = (actual), e_ = (expected);                                                   \
        if (!(fabs(a_ - e_) <= (tol)))                                                           \
            fail_msg("%s = %.17g, expected %.17g within %g", #actual, a_, e_, (double)(tol));    \
    } while (0)

#define DEG (FW_PI / 180.0)
#define HAL_ORIGIN_US 1000000u

/* ---- helpers ----------------------------------------------------------------------------- */

/* Defaults with the given seed; noise-free encoder unless `noise` is set. */
static void params(struct pn_params *p, uint64_t seed, double noise_deg)
{
    pn_params_defaults(p);
    p->seed = seed;
    p->angle_noise_deg = noise_deg;
}

/* Initialises and starts the clock at HAL_ORIGIN_US (time scale 1 unless the params say). */
static void init_pendulum(struct pn_pendulum *pn, const struct pn_params *p)
{
    const char *why = NULL;
    assert_int_equal(pn_init(pn, p, &why), PN_OK);
    pn_step(pn, HAL_ORIGIN_US);
}

static uint16_t input_reg(const struct pn_pendulum *pn, uint16_t addr)
{
    uint16_t v = 0xDEAD;
    assert_int_equal(pn_regs_read_input(pn, addr, 1, &v), 0);
    return v;
}

static float input_float(const struct pn_pendulum *pn, uint16_t addr)
{
    uint16_t regs[2];
    assert_int_equal(pn_regs_read_input(pn, addr, 2, regs), 0);
    uint32_t bits = (uint32_t)regs[0] << 16 | regs[1]; /* ABCD: high word first */
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static uint32_t input_u32(const struct pn_pendulum *pn, uint16_t addr)
{
    uint16_t regs[2];
    assert_int_equal(pn_regs_read_input(pn, addr, 2, regs), 0);
    return (uint32_t)regs[0] << 16 | regs[1];
}

static int command(struct pn_pendulum *pn, uint16_t cmd)
{
    return pn_regs_write_holding(pn, PN_HR_COMMAND, 1, &cmd);
}

/* Releases (or free-swings) and lets the swing finish on the hal clock; returns the reading. */
static double swing(struct pn_pendulum *pn, uint16_t cmd)
{
    assert_int_equal(command(pn, cmd), 0);
    assert_int_equal(input_reg(pn, PN_IR_STATUS), PN_STATUS_SWINGING);
    uint64_t hal_now = HAL_ORIGIN_US + (uint64_t)((double)pn->swing_end_us / pn->params.time_scale) + 1;
    pn_step(pn, hal_now);
    assert_int_equal(input_reg(pn, PN_IR_STATUS), PN_STATUS_DONE);
    assert_true(input_reg(pn, PN_IR_FLAGS) & PN_FLAG_RESULT);
    double reading = input_float(pn, PN_IR_ABSORBED_ENERGY);
    assert_int_equal(command(pn, PN_CMD_RESET), 0);
    return reading;
}

/* Hammer constant W = E / (1 − cos α), from the parameters with libm. */
static double hammer_w(const struct pn_params *p)
{
    return p->nominal_energy_j / (1.0 - cos(p->release_angle_deg * DEG));
}

/* ---- energy draws ------------------------------------------------------------------------ */

static void test_energy_draws_reproducible_by_seed(void **state)
{
    (void)state;
    enum { IMPACTS = 12 };
    struct pn_params p;
    params(&p, 42, 0.01);
    struct pn_pendulum a, b, c;
    init_pendulum(&a, &p);
    init_pendulum(&b, &p);
    params(&p, 43, 0.01);
    init_pendulum(&c, &p);
    double ra[IMPACTS], rb[IMPACTS], rc[IMPACTS];
    int differ = 0;
    for (int i = 0; i < IMPACTS; i++) {
        ra[i] = swing(&a, PN_CMD_RELEASE);
        rb[i] = swing(&b, PN_CMD_RELEASE);
        rc[i] = swing(&c, PN_CMD_RELEASE);
        differ += ra[i] != rc[i];
    }
    /* the same seed: the same series, bit for bit (noise included) */
    assert_memory_equal(ra, rb, sizeof ra);
    /* another seed: another series */
    assert_true(differ >= IMPACTS - 1);
    assert_int_equal(input_u32(&a, PN_IR_IMPACT_COUNTER), IMPACTS);

    /* impact n depends only on the seed and the impacts before it: free swings in between (no
     * specimen, no draw) leave the specimen results as they were when the encoder has no noise
     * and the free swing measures the friction the correction already uses */
    params(&p, 42, 0.0);
    init_pendulum(&a, &p);
    init_pendulum(&b, &p);
    for (int i = 0; i < IMPACTS; i++) {
        if (i % 3 == 1)
            swing(&b, PN_CMD_FREE_SWING);
        ra[i] = swing(&a, PN_CMD_RELEASE);
        rb[i] = swing(&b, PN_CMD_RELEASE);
        assert_near(rb[i], ra[i], 1e-6);
    }
    assert_int_equal(input_u32(&b, PN_IR_IMPACT_COUNTER), IMPACTS); /* free swings are not impacts */
}

static void test_energy_distribution(void **state)
{
    (void)state;
    enum { IMPACTS = 400 };
    struct pn_params p;
    params(&p, 7, 0.0);
    struct pn_pendulum pn;
    init_pendulum(&pn, &p);
    double sum = 0.0, sum_sq = 0.0, lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < IMPACTS; i++) {
        double e = swing(&pn, PN_CMD_RELEASE); /* without noise the reading is the draw */
        sum += e;
        sum_sq += e * e;
        lo = e < lo ? e : lo;
        hi = e > hi ? e : hi;
    }
    double mean = sum / IMPACTS, sd = sqrt(sum_sq / IMPACTS - mean * mean);
    assert_near(mean, p.energy_mean_j, 5.0 * p.energy_sd_j / sqrt(IMPACTS));
    assert_near(sd, p.energy_sd_j, 0.15 * p.energy_sd_j);
    /* clipped at ±3 SD (float registers: a few 1e-8 J) */
    assert_true(lo >= p.energy_mean_j - 3.0 * p.energy_sd_j - 1e-6);
    assert_true(hi <= p.energy_mean_j + 3.0 * p.energy_sd_j + 1e-6);

    /* and at 0: a wide distribution near zero never reads a negative energy */
    params(&p, 7, 0.0);
    p.energy_mean_j = 0.02;
    p.energy_sd_j = 0.05;
    init_pendulum(&pn, &p);
    int zeros = 0, low = 0;
    for (int i = 0; i < 100; i++) {
        double e = swing(&pn, PN_CMD_RELEASE);
        assert_true(e > -1e-6);
        zeros += fabs(e) <= 1e-6;
        /* below 10 % of the 1 J hammer is outside ISO 179-1's range (the flag outlives the reset) */
        int out = (input_reg(&pn, PN_IR_FLAGS) & PN_FLAG_OUT_OF_RANGE) != 0;
        if (out != (e < 0.1))
            fail_msg("impact %d reads %.6f J but the out-of-range flag is %d", i + 1, e, out);
        low += out;
    }
    assert_true(low > 80);
    assert_true(zeros > 10); /* about a third of N(0.02, 0.05) lies below 0 */
}

/* ---- state machine ------------------------------------------------------------------------ */

static void test_release_reset_state_machine(void **state)
{
    (void)state;
    struct pn_params p;
    params(&p, 1, 0.01);
    p.time_scale = 10.0; /* a swing: 1 s of instrument time = 0.1 s of hal time */
    struct pn_pendulum pn;
    init_pendulum(&pn, &p);
    assert_int_equal(input_reg(&pn, PN_IR_STATUS), PN_STATUS_READY);
    assert_int_equal(input_reg(&pn, PN_IR_FLAGS), PN_FLAG_SIMULATED);
    /* reset when ready is harmless */
    assert_int_equal(command(&pn, PN_CMD_RESET), 0);
    assert_int_equal(input_reg(&pn, PN_IR_STATUS), PN_STATUS_READY);

    pn_step(&pn, HAL_ORIGIN_US + 20000); /* 0.2 s of instrument time in, then release */
    assert_int_equal(command(&pn, PN_CMD_RELEASE), 0);
    assert_int_equal(input_reg(&pn, PN_IR_STATUS), PN_STATUS_SWINGING);
    /* while swinging every command but an unknown one is busy (06) and changes nothing */
    struct pn_pendulum before;
    memcpy(&before, &pn, sizeof pn);
    assert_int_equal(command(&pn, PN_CMD_RELEASE), MB_EX_DEVICE_BUSY);
    assert_int_equal(command(&pn, PN_CMD_FREE_SWING), MB_EX_DEVICE_BUSY);
    assert_int_equal(command(&pn, PN_CMD_RESET), MB_EX_DEVICE_BUSY);
    assert_int_equal(command(&pn, 4), MB_EX_ILLEGAL_VALUE);
    assert_int_equal(command(&pn, 0), MB_EX_ILLEGAL_VALUE);
    assert_memory_equal(&pn, &before, sizeof pn);
    /* on the wire: function 06 "reset" while swinging answers 0x86 0x06 */
    struct mb_slave slave;
    mb_slave_init(&slave, &pn_regs_tables, &pn, 1, PN_SLAVE_ID, "test");
    const uint8_t reset_req[] = {MB_FC_WRITE_SINGLE, 0x00, PN_HR_COMMAND, 0x00, PN_CMD_RESET};
    uint8_t rsp[MB_MAX_PDU];
    assert_int_equal(mb_pdu_process(&slave, reset_req, sizeof reset_req, rsp), 2);
    assert_int_equal(rsp[0], 0x86);
    assert_int_equal(rsp[1], MB_EX_DEVICE_BUSY);

    /* the swing ends 1 s of instrument time after the release: not a µs earlier */
    pn_step(&pn, HAL_ORIGIN_US + 20000 + 99999);
    assert_int_equal(input_reg(&pn, PN_IR_STATUS), PN_STATUS_SWINGING);
    assert_int_equal(input_reg(&pn, PN_IR_FLAGS) & PN_FLAG_RESULT, 0);
    pn_step(&pn, HAL_ORIGIN_US + 20000 + 100000);
    assert_int_equal(input_reg(&pn, PN_IR_STATUS), PN_STATUS_DONE);
    uint16_t flags = input_reg(&pn, PN_IR_FLAGS);
    assert_int_equal(flags, PN_FLAG_RESULT | PN_FLAG_SIMULATED); /* 0.41 J of 1 J: valid, broken */
    assert_int_equal(input_u32(&pn, PN_IR_IMPACT_COUNTER), 1);
    float result = input_float(&pn, PN_IR_ABSORBED_ENERGY);
    assert_near(result, p.energy_mean_j, 4 * p.energy_sd_j);

    /* done: the hammer is on the brake, so no release until a reset latches it */
    assert_int_equal(command(&pn, PN_CMD_RELEASE), MB_EX_DEVICE_BUSY);
    assert_int_equal(command(&pn, PN_CMD_FREE_SWING), MB_EX_DEVICE_BUSY);
    /* time passing does not change a result */
    pn_step(&pn, HAL_ORIGIN_US + 5000000);
    assert_float_equal(input_float(&pn, PN_IR_ABSORBED_ENERGY), result, 0.0f);
    assert_int_equal(command(&pn, PN_CMD_RESET), 0);
    assert_int_equal(input_reg(&pn, PN_IR_STATUS), PN_STATUS_READY);
    assert_int_equal(input_reg(&pn, PN_IR_FLAGS), PN_FLAG_SIMULATED); /* result flag cleared */
    /* the last result stays readable until the next swing */
    assert_float_equal(input_float(&pn, PN_IR_ABSORBED_ENERGY), result, 0.0f);
    /* ready again */
    assert_int_equal(command(&pn, PN_CMD_RELEASE), 0);
    assert_int_equal(input_reg(&pn, PN_IR_STATUS), PN_STATUS_SWINGING);

    /* the command register reads back 0; addresses past it and multi-register writes are 02 */
    uint16_t v = 0xFFFF, two[2] = {PN_CMD_RESET, 0};
    assert_int_equal(pn_regs_read_holding(&pn, PN_HR_COMMAND, 1, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(pn_regs_read_holding(&pn, 1, 1, &v), MB_EX_ILLEGAL_ADDRESS);
    assert_int_equal(pn_regs_write_holding(&pn, 1, 1, two), MB_EX_ILLEGAL_ADDRESS);
    assert_int_equal(pn_regs_write_holding(&pn, 0, 2, two), MB_EX_ILLEGAL_ADDRESS);
}

/* ---- friction and the energy/angle relation --------------------------------------------- */

static void test_free_swing_measures_friction(void **state)
{
    (void)state;
    struct pn_params p;
    params(&p, 3, 0.0);
    p.friction_loss_j = 0.03; /* within 5 % of the 1 J hammer */
    double w = hammer_w(&p);
    /* the reference: an instrument whose correction matches the true loss from the start */
    struct pn_pendulum ref, pn;
    init_pendulum(&ref, &p);
    double draw1 = swing(&ref, PN_CMD_RELEASE), draw2 = swing(&ref, PN_CMD_RELEASE);

    /* the same instrument with its correction off (no friction assumed) reads high by the loss */
    init_pendulum(&pn, &p);
    pn.friction_loss_j = 0.0f;
    assert_near(input_float(&pn, PN_IR_FRICTION_LOSS), 0.0, 0.0);
    double biased = swing(&pn, PN_CMD_RELEASE);
    assert_near(biased, draw1 + p.friction_loss_j, 1e-6);

    /* a free swing: no specimen, so the rise falls short of α by the friction alone */
    double reading = swing(&pn, PN_CMD_FREE_SWING);
    double beta = input_float(&pn, PN_IR_RISE_ANGLE);
    assert_true(beta < p.release_angle_deg);
    assert_near(w * (1.0 - cos(beta * DEG)), p.nominal_energy_j - p.friction_loss_j, 1e-5);
    assert_near(input_float(&pn, PN_IR_FRICTION_LOSS), p.friction_loss_j, 1e-6);
    /* corrected by what it just measured, the free swing itself reads no absorbed energy */
    assert_near(reading, 0.0, 1e-6);
    assert_int_equal(input_u32(&pn, PN_IR_IMPACT_COUNTER), 1); /* not an impact */
    assert_int_equal(input_reg(&pn, PN_IR_FLAGS) & PN_FLAG_OUT_OF_RANGE, 0);

    /* from now on the bias is gone: impact 2 reads the reference's impact 2 */
    assert_near(swing(&pn, PN_CMD_RELEASE), draw2, 1e-6);

    /* the encoder's noise shows in the measured loss, no more: dE = W·sin β·dβ */
    params(&p, 3, 0.05);
    p.friction_loss_j = 0.03;
    init_pendulum(&pn, &p);
    swing(&pn, PN_CMD_FREE_SWING);
    beta = input_float(&pn, PN_IR_RISE_ANGLE);
    double tol = w * sin(beta * DEG) * 6.0 * 0.05 * DEG;
    assert_near(input_float(&pn, PN_IR_FRICTION_LOSS), p.friction_loss_j, tol);
    assert_true(input_float(&pn, PN_IR_FRICTION_LOSS) >= 0.0f);
}

static void test_energy_and_rise_angle_agree(void **state)
{
    (void)state;
    static const struct {
        double nominal, alpha;
    } hammers[] = {{1.0, 150.0}, {0.5, 160.0}, {5.0, 150.0}, {15.0, 120.0}, {50.0, 170.0}, {2.0, 90.0}};
    for (size_t h = 0; h < sizeof hammers / sizeof hammers[0]; h++) {
        struct pn_params p;
        params(&p, 11, 0.0);
        p.nominal_energy_j = hammers[h].nominal;
        p.release_angle_deg = hammers[h].alpha;
        p.friction_loss_j = 0.01 * hammers[h].nominal;
        p.energy_mean_j = 0.4 * hammers[h].nominal;
        p.energy_sd_j = 0.05 * hammers[h].nominal;
        struct pn_pendulum pn;
        init_pendulum(&pn, &p);
        double w = hammer_w(&p), cos_a = cos(p.release_angle_deg * DEG);
        assert_near(pn.hammer_w, w, 1e-12 * w);

        /* the model's relation for any absorbed energy: the hammer rises to β with
         * W·(1 − cos β) = E − a − f (f the true loss), and the reading W·(cos β − cos α) − f_cal
         * gives a back up to the calibrated loss f_cal, which is kept as a binary32 register */
        double f_cal = (double)pn.friction_loss_j;
        assert_near(f_cal, p.friction_loss_j, 1e-7 * p.friction_loss_j);
        for (double frac = 0.0; frac < 0.95; frac += 0.05) {
            double a = frac * p.nominal_energy_j, beta = -1.0;
            double reading = pn_reading_for(&pn, a, &beta);
            assert_true(beta >= 0.0 && beta < p.release_angle_deg);
            assert_near(w * (1.0 - cos(beta * DEG)), p.nominal_energy_j - a - p.friction_loss_j,
                        1e-12 * p.nominal_energy_j);
            assert_near(reading, w * (cos(beta * DEG) - cos_a) - f_cal, 1e-12 * p.nominal_energy_j);
            assert_near(reading, a + p.friction_loss_j - f_cal, 1e-12 * p.nominal_energy_j);
        }
        /* less absorbed, higher rise: β falls as a grows */
        double b1, b2;
        pn_reading_for(&pn, 0.2 * p.nominal_energy_j, &b1);
        pn_reading_for(&pn, 0.6 * p.nominal_energy_j, &b2);
        assert_true(b1 > b2);

        /* registers after real swings agree with the same relation (float precision) */
        for (int i = 0; i < 5; i++) {
            double e = swing(&pn, PN_CMD_RELEASE);
            double beta = input_float(&pn, PN_IR_RISE_ANGLE);
            double f = input_float(&pn, PN_IR_FRICTION_LOSS);
            assert_near(e, w * (cos(beta * DEG) - cos_a) - f, 1e-5 * p.nominal_energy_j);
            assert_float_equal(input_float(&pn, PN_IR_RELEASE_ANGLE), (float)p.release_angle_deg, 0.0f);
            assert_float_equal(input_float(&pn, PN_IR_NOMINAL_ENERGY), (float)p.nominal_energy_j, 0.0f);
        }
    }
}

static void test_not_broken_and_validity_flags(void **state)
{
    (void)state;
    struct pn_params p;
    params(&p, 5, 0.01);
    p.energy_mean_j = 1.0; /* the specimen takes everything: the hammer stays in it */
    p.energy_sd_j = 0.0;
    struct pn_pendulum pn;
    init_pendulum(&pn, &p);
    assert_int_equal(command(&pn, PN_CMD_RELEASE), 0);
    pn_step(&pn, HAL_ORIGIN_US + 2000000);
    assert_int_equal(input_reg(&pn, PN_IR_STATUS), PN_STATUS_DONE);
    /* E − f = 0.996 J is read, above 80 % of 1 J */
    assert_int_equal(input_reg(&pn, PN_IR_FLAGS),
                     PN_FLAG_RESULT | PN_FLAG_NOT_BROKEN | PN_FLAG_OUT_OF_RANGE | PN_FLAG_SIMULATED);
    assert_float_equal(input_float(&pn, PN_IR_RISE_ANGLE), 0.0f, 0.0f);
    assert_near(input_float(&pn, PN_IR_ABSORBED_ENERGY), p.nominal_energy_j - p.friction_loss_j, 1e-6);
    assert_int_equal(input_u32(&pn, PN_IR_IMPACT_COUNTER), 1);
    /* the next swing clears the flags of this one */
    assert_int_equal(command(&pn, PN_CMD_RESET), 0);
    assert_int_equal(command(&pn, PN_CMD_FREE_SWING), 0);
    pn_step(&pn, HAL_ORIGIN_US + 4000000);
    assert_int_equal(input_reg(&pn, PN_IR_FLAGS), PN_FLAG_RESULT | PN_FLAG_SIMULATED);

    /* a typical specimen: neither flag */
    params(&p, 5, 0.01);
    init_pendulum(&pn, &p);
    assert_int_equal(command(&pn, PN_CMD_RELEASE), 0);
    pn_step(&pn, HAL_ORIGIN_US + 2000000);
    assert_int_equal(input_reg(&pn, PN_IR_FLAGS), PN_FLAG_RESULT | PN_FLAG_SIMULATED);
}

static void test_init_and_registers(void **state)
{
    (void)state;
    struct pn_pendulum pn, before;
    memset(&pn, 0x5A, sizeof pn);
    memcpy(&before, &pn, sizeof pn);
    struct pn_params p;
    const char *why = NULL;
    pn_params_defaults(&p);
    p.nominal_energy_j = 3.0;
    assert_int_equal(pn_init(&pn, &p, &why), PN_EINVAL);
    assert_non_null(why);
    assert_non_null(strstr(why, "nominal energy"));
    pn_params_defaults(&p);
    p.release_angle_deg = 171.0;
    assert_int_equal(pn_init(&pn, &p, NULL), PN_EINVAL);
    pn_params_defaults(&p);
    p.friction_loss_j = 0.06; /* > 5 % of 1 J */
    assert_int_equal(pn_init(&pn, &p, NULL), PN_EINVAL);
    pn_params_defaults(&p);
    p.energy_mean_j = NAN;
    assert_int_equal(pn_init(&pn, &p, NULL), PN_EINVAL);
    assert_memory_equal(&pn, &before, sizeof pn);

    /* ABCD: high word first. 150° = 0x43160000, 1 J = 0x3F800000 */
    pn_params_defaults(&p);
    p.serial_number = 0x00012345;
    init_pendulum(&pn, &p);
    uint16_t regs[PN_INPUT_REG_COUNT];
    assert_int_equal(pn_regs_read_input(&pn, 0, PN_INPUT_REG_COUNT, regs), 0);
    assert_int_equal(regs[PN_IR_RELEASE_ANGLE], 0x4316);
    assert_int_equal(regs[PN_IR_RELEASE_ANGLE + 1], 0x0000);
    assert_int_equal(regs[PN_IR_NOMINAL_ENERGY], 0x3F80);
    assert_int_equal(regs[PN_IR_NOMINAL_ENERGY + 1], 0x0000);
    assert_int_equal(regs[PN_IR_SERIAL_NUMBER], 0x0001);
    assert_int_equal(regs[PN_IR_SERIAL_NUMBER + 1], 0x2345);
    assert_int_equal(regs[14], 0); /* unassigned */
    assert_int_equal(regs[15], 0);
    assert_int_equal(regs[PN_IR_FW_VERSION], PN_FW_VERSION);
    assert_int_equal(regs[PN_IR_CAL_YEAR], 2026);
    assert_int_equal(pn_regs_read_input(&pn, 1, PN_INPUT_REG_COUNT, regs), MB_EX_ILLEGAL_ADDRESS);
    assert_int_equal(pn_regs_read_input(&pn, 0, 0, regs), MB_EX_ILLEGAL_VALUE);
    char id[64];
    assert_int_equal(pn_regs_identity(&pn, id, sizeof id), strlen("polydaq CP-1 fw 0.1 SN 74565"));
    assert_string_equal(id, "polydaq CP-1 fw 0.1 SN 74565");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_energy_draws_reproducible_by_seed),
        cmocka_unit_test(test_energy_distribution),
        cmocka_unit_test(test_release_reset_state_machine),
        cmocka_unit_test(test_free_swing_measures_friction),
        cmocka_unit_test(test_energy_and_rise_angle_agree),
        cmocka_unit_test(test_not_broken_and_validity_flags),
        cmocka_unit_test(test_init_and_registers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
