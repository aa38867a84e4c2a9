/* loadframe_test.c — load-frame firmware core (physics, register map, timing) and polydaq-sim end to end. */
#include <errno.h>
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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "common/proc.h"
#include "loadframe/core/loop.h"
#include "loadframe/core/model.h"
#include "loadframe/core/regs.h"

#define assert_close(actual, expected, rel)                                                      \
    do {                                                                                         \
        double a_ = (actual), e_ = (expected);                                                   \
        if (!(fabs(a_ - e_) <= (rel) * fabs(e_)))                                                \
            fail_msg("%s = %.17g, expected %.17g within %g relative", #actual, a_, e_,           \
                     (double)(rel));                                                             \
    } while (0)

/* ---- helpers ----------------------------------------------------------------------------- */

static void init_frame(struct lf_frame *f, const char *material, int noiseless, uint64_t seed)
{
    struct lf_frame_params p;
    lf_frame_params_defaults(&p);
    const struct lf_material *m = lf_material_find(material);
    assert_non_null(m);
    p.material = *m;
    if (noiseless) {
        p.material.force_noise_n = 0.0;
        p.material.extension_noise_mm = 0.0;
        p.material.scatter_rel = 0.0;
    }
    p.seed = seed;
    const char *why = NULL;
    assert_int_equal(lf_frame_init(f, &p, &why), LF_OK);
}

static double area_of(const struct lf_frame *f)
{
    return (double)f->setup.width_mm * (double)f->setup.thickness_mm;
}

/* Strain per cycle at the test speed: the resolution of "where" a cycle-stepped event happens. */
static double test_speed_strain_step(const struct lf_frame *f)
{
    return (double)f->setup.speed_test_mm_min * LF_CYCLE_US / 60e6 / (double)f->setup.grip_distance_mm;
}

/* Measured (extension, force) pairs, as an operator's software would see them. */
struct trace {
    double *strain; /* extension / L0 */
    double *stress; /* force / (b·h) */
    size_t n;
    size_t cap;
};

static void trace_push(struct trace *t, double strain, double stress)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 4096;
        t->strain = realloc(t->strain, t->cap * sizeof *t->strain);
        t->stress = realloc(t->stress, t->cap * sizeof *t->stress);
        assert_non_null(t->strain);
        assert_non_null(t->stress);
    }
    t->strain[t->n] = strain;
    t->stress[t->n] = stress;
    t->n++;
}

static void trace_free(struct trace *t)
{
    free(t->strain);
    free(t->stress);
    memset(t, 0, sizeof *t);
}

/* Runs a started frame cycle by cycle until it leaves `running` (or max_cycles). */
static void run_specimen(struct lf_frame *f, struct trace *t, size_t max_cycles)
{
    for (size_t i = 0; i < max_cycles && f->status == LF_STATUS_RUNNING; i++) {
        lf_frame_cycle(f);
        trace_push(t, f->extension_mm / (double)f->setup.gauge_length_mm, f->force_n / area_of(f));
    }
}

/* Linear interpolation of stress at `strain` from a trace whose strain rises monotonically. */
static double stress_at(const struct trace *t, double strain)
{
    for (size_t i = 1; i < t->n; i++) {
        if (t->strain[i] >= strain) {
            double w = (strain - t->strain[i - 1]) / (t->strain[i] - t->strain[i - 1]);
            return t->stress[i - 1] + w * (t->stress[i] - t->stress[i - 1]);
        }
    }
    fail_msg("trace never reaches strain %g", strain);
    return NAN;
}

/* ---- model ------------------------------------------------------------------------------- */

static void test_chord_modulus_equals_E(void **state)
{
    (void)state;
    for (unsigned i = 0; lf_material_at(i); i++) {
        struct lf_frame f;
        init_frame(&f, lf_material_at(i)->name, 1, 1);
        assert_int_equal(lf_frame_start(&f), LF_OK);
        struct trace t = {0};
        run_specimen(&f, &t, 30000);
        double e1 = 0.0005, e2 = 0.0025;
        double chord = (stress_at(&t, e2) - stress_at(&t, e1)) / (e2 - e1);
        assert_close(chord, lf_material_at(i)->modulus_mpa, 1e-9);
        trace_free(&t);
    }
}

static void test_curve_shape(void **state)
{
    (void)state;
    for (unsigned i = 0; lf_material_at(i); i++) {
        const struct lf_material *m = lf_material_at(i);
        struct lf_curve c;
        assert_int_equal(lf_curve_init(&c, m, 1.0, 1.0, 1.0, NULL), LF_OK);
        assert_true(c.rise_power >= 1.0);
        assert_true(c.prop_strain >= 0.003);
        /* the peak: exactly σy at εy, lower on both sides */
        assert_close(lf_curve_stress(&c, m->yield_strain), m->yield_stress_mpa, 1e-12);
        assert_true(lf_curve_stress(&c, m->yield_strain - 1e-3) < m->yield_stress_mpa);
        assert_true(lf_curve_stress(&c, m->yield_strain + 1e-3) < m->yield_stress_mpa);
        /* slope E on both sides of the proportional limit (no kink) */
        double h = 1e-7;
        double left = (lf_curve_stress(&c, c.prop_strain) - lf_curve_stress(&c, c.prop_strain - h)) / h;
        double right = (lf_curve_stress(&c, c.prop_strain + h) - lf_curve_stress(&c, c.prop_strain)) / h;
        assert_close(left, m->modulus_mpa, 1e-6);
        assert_close(right, m->modulus_mpa, 1e-3);
        /* concave between εp and εy: second differences never positive */
        double step = (m->yield_strain - c.prop_strain) / 200.0;
        for (int k = 1; k < 200; k++) {
            double x = c.prop_strain + k * step;
            double d2 = lf_curve_stress(&c, x + step) - 2.0 * lf_curve_stress(&c, x) +
                        lf_curve_stress(&c, x - step);
            assert_true(d2 <= 1e-12);
        }
        /* necking ends at σd; the plateau rises but stays below σy */
        assert_close(lf_curve_stress(&c, m->neck_end_strain), m->draw_stress_mpa, 1e-12);
        double at_break = lf_curve_stress(&c, m->break_strain);
        if (m->break_strain > m->neck_end_strain) {
            assert_true(at_break > m->draw_stress_mpa);
            assert_true(at_break < m->yield_stress_mpa);
        }
    }
}

static void test_material_validation(void **state)
{
    (void)state;
    struct lf_material m = *lf_material_find("pp-demo");
    const char *why = NULL;
    assert_int_equal(lf_material_validate(&m, &why), LF_OK);

    m.yield_strain = 0.01; /* E·εy = 15 MPa < σy: the rise would need k < 1 */
    assert_int_equal(lf_material_validate(&m, &why), LF_EINVAL);
    assert_non_null(strstr(why, "yield strain"));

    m = *lf_material_find("pp-demo");
    m.draw_stress_mpa = 40.0;
    assert_int_equal(lf_material_validate(&m, &why), LF_EINVAL);
    m = *lf_material_find("pp-demo");
    m.neck_end_strain = 0.05;
    assert_int_equal(lf_material_validate(&m, &why), LF_EINVAL);
    m = *lf_material_find("pp-demo");
    m.force_noise_n = -1.0;
    assert_int_equal(lf_material_validate(&m, &why), LF_EINVAL);
    m = *lf_material_find("pp-demo");
    m.modulus_mpa = NAN;
    assert_int_equal(lf_material_validate(&m, &why), LF_EINVAL);
    assert_null(lf_material_find("steel"));
}

static void test_peak_at_yield_and_break_at_break_strain(void **state)
{
    (void)state;
    const char *ductile[] = {"pp-demo", "abs-demo", "pa6-demo"};
    for (size_t i = 0; i < sizeof ductile / sizeof ductile[0]; i++) {
        const struct lf_material *m = lf_material_find(ductile[i]);
        struct lf_frame f;
        init_frame(&f, ductile[i], 1, 1);
        assert_int_equal(lf_frame_start(&f), LF_OK);
        struct trace t = {0};
        run_specimen(&f, &t, 2000000);
        assert_int_equal(f.status, LF_STATUS_BROKEN);
        assert_true(f.flags & LF_FLAG_BREAK);

        double dstrain = test_speed_strain_step(&f);
        size_t peak = 0;
        for (size_t k = 1; k < t.n; k++)
            if (t.stress[k] > t.stress[peak])
                peak = k;
        assert_close(t.stress[peak], m->yield_stress_mpa, 1e-6);
        /* the top is so flat that double rounding hides which cycle is the highest; 0.1 % strain
         * away from εy the curve is measurably lower on both sides */
        if (fabs(t.strain[peak] - m->yield_strain) > 1e-3)
            fail_msg("%s: peak at strain %.9f, yield strain %.9f", m->name, t.strain[peak], m->yield_strain);

        /* the last sample carries no force; the one before is still on the plateau */
        size_t last = t.n - 1;
        assert_true(fabs(t.stress[last]) < 1e-12);
        assert_true(t.stress[last - 1] > 0.9 * m->draw_stress_mpa);
        assert_true(t.strain[last - 1] < m->break_strain);
        assert_true(t.strain[last] >= m->break_strain);
        assert_true(t.strain[last] < m->break_strain + dstrain * 1.000001);

        /* after the break the crosshead stands still */
        double crosshead = f.crosshead_mm;
        for (int k = 0; k < 1000; k++)
            lf_frame_cycle(&f);
        assert_true(f.crosshead_mm == crosshead);
        assert_int_equal(f.status, LF_STATUS_BROKEN);
        trace_free(&t);
    }
}

static void test_brittle_breaks_before_yield(void **state)
{
    (void)state;
    const struct lf_material *m = lf_material_find("brittle-demo");
    assert_true(m->break_strain < m->yield_strain);
    struct lf_frame f;
    init_frame(&f, "brittle-demo", 1, 1);
    assert_int_equal(lf_frame_start(&f), LF_OK);
    struct trace t = {0};
    run_specimen(&f, &t, 2000000);
    assert_int_equal(f.status, LF_STATUS_BROKEN);
    assert_true(f.flags & LF_FLAG_BREAK);
    double max_stress = 0.0;
    for (size_t k = 0; k < t.n; k++)
        max_stress = fmax(max_stress, t.stress[k]);
    assert_true(max_stress < m->yield_stress_mpa);
    /* it broke at its maximum, still rising: the sample before the break is the highest */
    assert_close(t.stress[t.n - 2], max_stress, 1e-12);
    assert_true(t.strain[t.n - 1] >= m->break_strain && t.strain[t.n - 1] < m->yield_strain);
    trace_free(&t);
}

/* The cycle whose crosshead increment first shows the test speed must follow the first cycle at
 * or above the switch strain. */
static void check_switch_at(double switch_strain)
{
    struct lf_frame f;
    init_frame(&f, "pp-demo", 1, 1);
    f.setup.speed_switch_strain = (float)switch_strain;
    assert_int_equal(lf_frame_start(&f), LF_OK);
    double slow = (double)f.setup.speed_modulus_mm_min * LF_CYCLE_US / 60e6;
    double fast = (double)f.setup.speed_test_mm_min * LF_CYCLE_US / 60e6;
    double before_prev = 0.0, prev = 0.0;
    for (int k = 0; k < 200000; k++) {
        double x0 = f.crosshead_mm;
        lf_frame_cycle(&f);
        double inc = f.crosshead_mm - x0;
        if (fabs(inc - fast) < 1e-9 * fast) {
            assert_true(prev >= switch_strain);
            assert_true(before_prev < switch_strain);
            assert_close(lf_frame_speed(&f), f.setup.speed_test_mm_min, 0);
            return;
        }
        assert_close(inc, slow, 1e-6);
        before_prev = prev;
        prev = f.extension_mm / (double)f.setup.gauge_length_mm;
    }
    fail_msg("the speed never switched (switch strain %g)", switch_strain);
}

static void test_speed_switch_at_configured_strain(void **state)
{
    (void)state;
    check_switch_at(0.003);
    check_switch_at(0.0123);
}

static void test_seeds_reproduce_and_scatter_varies(void **state)
{
    (void)state;
    struct lf_frame a, b, c;
    init_frame(&a, "pp-demo", 0, 42);
    init_frame(&b, "pp-demo", 0, 42);
    init_frame(&c, "pp-demo", 0, 43);
    assert_int_equal(lf_frame_start(&a), LF_OK);
    assert_int_equal(lf_frame_start(&b), LF_OK);
    assert_int_equal(lf_frame_start(&c), LF_OK);
    assert_true(a.curve.modulus == b.curve.modulus);
    assert_true(a.curve.yield_stress == b.curve.yield_stress);
    assert_true(a.curve.break_strain == b.curve.break_strain);
    assert_true(a.curve.modulus != c.curve.modulus);
    int noise_differs = 0;
    for (int k = 0; k < 500; k++) {
        lf_frame_cycle(&a);
        lf_frame_cycle(&b);
        lf_frame_cycle(&c);
        assert_true(a.force_n == b.force_n && a.extension_mm == b.extension_mm);
        noise_differs |= a.force_n != c.force_n;
    }
    assert_true(noise_differs);

    /* the next specimen of the same frame is a different one, within ±3 SD of nominal */
    double e1 = a.curve.modulus, s1 = a.curve.yield_stress;
    assert_int_equal(lf_frame_stop(&a), LF_OK);
    assert_int_equal(lf_frame_start(&a), LF_OK);
    assert_int_equal(a.specimen_no, 2);
    assert_true(a.curve.modulus != e1);
    assert_true(a.curve.yield_stress != s1);
    const struct lf_material *m = lf_material_find("pp-demo");
    for (int k = 0; k < 50; k++) {
        assert_int_equal(lf_frame_stop(&a), LF_OK);
        assert_int_equal(lf_frame_start(&a), LF_OK);
        assert_true(fabs(a.curve.modulus / m->modulus_mpa - 1.0) <= 3.0 * m->scatter_rel + 1e-12);
        assert_true(fabs(a.curve.yield_stress / m->yield_stress_mpa - 1.0) <= 3.0 * m->scatter_rel + 1e-12);
    }

    /* specimen n depends on the seed alone, not on how long the frame ran in between */
    struct lf_frame d;
    init_frame(&d, "pp-demo", 0, 42);
    for (int k = 0; k < 777; k++)
        lf_frame_cycle(&d);
    assert_int_equal(lf_frame_start(&d), LF_OK);
    assert_true(d.curve.modulus == e1);
}

static void test_step_follows_scaled_clock(void **state)
{
    (void)state;
    struct lf_frame f;
    init_frame(&f, "pp-demo", 1, 1);
    f.params.time_scale = 20.0;
    lf_step(&f, 5000000); /* origin */
    assert_int_equal(f.sample_counter, 0);
    lf_step(&f, 5000000 + 250000); /* 0.25 s × 20 = 5 s of instrument time */
    assert_int_equal(f.sample_counter, 5000);
    lf_step(&f, 5000000 + 100000); /* a clock going backwards changes nothing */
    assert_int_equal(f.sample_counter, 5000);

    assert_int_equal(lf_frame_start(&f), LF_OK);
    lf_step(&f, 5000000 + 350000); /* another 2 s of test */
    assert_int_equal(f.sample_counter, 7000);
    assert_int_equal(f.test_time_us, 2000000);
    /* 2 s at 1 mm/min */
    assert_close(f.crosshead_mm, 2.0 / 60.0, 1e-9);
}

/* ---- register map ------------------------------------------------------------------------ */

static void test_float_packing_abcd(void **state)
{
    (void)state;
    uint16_t r[2];
    lf_regs_put_float(r, 230.15f);
    assert_int_equal(r[0], 0x4366);
    assert_int_equal(r[1], 0x2666);
    assert_true(lf_regs_get_float(r) == 230.15f);
    lf_regs_put_u32(r, 0x12345678u);
    assert_int_equal(r[0], 0x1234);
    assert_int_equal(r[1], 0x5678);
    assert_int_equal(lf_regs_get_u32(r), 0x12345678u);
}

static void test_input_registers(void **state)
{
    (void)state;
    struct lf_frame f;
    struct lf_frame_params p;
    lf_frame_params_defaults(&p);
    p.serial_number = 0x00ABCDEFu;
    p.cal_year = 2026;
    p.cal_month = 6;
    p.cal_day = 1;
    assert_int_equal(lf_frame_init(&f, &p, NULL), LF_OK);
    for (int k = 0; k < 70000; k++)
        lf_frame_cycle(&f);

    uint16_t r[LF_INPUT_REG_COUNT];
    assert_int_equal(lf_regs_read_input(&f, 0, LF_INPUT_REG_COUNT, r), 0);
    assert_int_equal(r[LF_IR_STATUS], LF_STATUS_IDLE);
    assert_int_equal(r[LF_IR_FLAGS], LF_FLAG_EXTENSOMETER | LF_FLAG_SIMULATED);
    assert_int_equal(lf_regs_get_u32(&r[LF_IR_SAMPLE_COUNTER]), 70000);
    assert_true(lf_regs_get_float(&r[LF_IR_FORCE]) == (float)f.force_n);
    assert_int_equal(r[LF_IR_FW_VERSION], 0x0001);
    assert_int_equal(lf_regs_get_u32(&r[LF_IR_SERIAL_NUMBER]), 0x00ABCDEFu);
    assert_int_equal(r[LF_IR_CAL_YEAR], 2026);
    assert_int_equal(r[LF_IR_CAL_MONTH], 6);
    assert_int_equal(r[LF_IR_CAL_DAY], 1);
    assert_int_equal(r[13], 0);

    uint16_t out[4] = {0xAAAA, 0xAAAA, 0xAAAA, 0xAAAA};
    assert_int_equal(lf_regs_read_input(&f, 20, 2, out), 0);
    assert_int_equal(out[0], 6);
    assert_int_equal(out[1], 1);
    out[0] = out[1] = 0xAAAA;
    assert_int_equal(lf_regs_read_input(&f, 20, 3, out), LF_EX_ILLEGAL_ADDRESS);
    assert_int_equal(lf_regs_read_input(&f, 22, 1, out), LF_EX_ILLEGAL_ADDRESS);
    assert_int_equal(lf_regs_read_input(&f, 0, 0, out), LF_EX_ILLEGAL_VALUE);
    assert_int_equal(lf_regs_read_input(&f, 0, 126, out), LF_EX_ILLEGAL_VALUE);
    assert_int_equal(out[0], 0xAAAA); /* untouched on exceptions */
    assert_int_equal(lf_regs_read_holding(&f, 15, 2, out), LF_EX_ILLEGAL_ADDRESS);
}

static void put_float_value(uint16_t *r, float v)
{
    lf_regs_put_float(r, v);
}

static void test_holding_registers(void **state)
{
    (void)state;
    struct lf_frame f;
    init_frame(&f, "pp-demo", 1, 1);
    uint16_t h[LF_HOLDING_REG_COUNT];
    assert_int_equal(lf_regs_read_holding(&f, 0, LF_HOLDING_REG_COUNT, h), 0);
    assert_int_equal(h[LF_HR_COMMAND], 0);
    assert_true(lf_regs_get_float(&h[LF_HR_SPEED_MODULUS]) == 1.0f);
    assert_true(lf_regs_get_float(&h[LF_HR_SPEED_TEST]) == 50.0f);
    assert_true(lf_regs_get_float(&h[LF_HR_SPEED_SWITCH_STRAIN]) == 0.003f);
    assert_true(lf_regs_get_float(&h[LF_HR_WIDTH]) == 10.0f);
    assert_true(lf_regs_get_float(&h[LF_HR_THICKNESS]) == 4.0f);
    assert_true(lf_regs_get_float(&h[LF_HR_GAUGE_LENGTH]) == 75.0f);
    assert_true(lf_regs_get_float(&h[LF_HR_GRIP_DISTANCE]) == 115.0f);

    /* a whole block of setup values, read back exactly */
    uint16_t block[8];
    put_float_value(&block[0], 10.1f);   /* width */
    put_float_value(&block[2], 4.05f);   /* thickness */
    put_float_value(&block[4], 50.0f);   /* gauge length */
    put_float_value(&block[6], 115.5f);  /* grip distance */
    assert_int_equal(lf_regs_write_holding(&f, LF_HR_WIDTH, 8, block), 0);
    uint16_t back[8];
    assert_int_equal(lf_regs_read_holding(&f, LF_HR_WIDTH, 8, back), 0);
    assert_memory_equal(back, block, sizeof block);
    assert_true(f.setup.gauge_length_mm == 50.0f);

    /* bad addresses: past the table, the unassigned register 1, half a FLOAT32 */
    uint16_t one = 1;
    assert_int_equal(lf_regs_write_holding(&f, 16, 1, &one), LF_EX_ILLEGAL_ADDRESS);
    assert_int_equal(lf_regs_write_holding(&f, 1, 1, &one), LF_EX_ILLEGAL_ADDRESS);
    assert_int_equal(lf_regs_write_holding(&f, 3, 1, &one), LF_EX_ILLEGAL_ADDRESS);
    assert_int_equal(lf_regs_write_holding(&f, 2, 1, &one), LF_EX_ILLEGAL_ADDRESS);
    assert_int_equal(lf_regs_write_holding(&f, 14, 4, block), LF_EX_ILLEGAL_ADDRESS);
    assert_int_equal(lf_regs_write_holding(&f, 0, 0, block), LF_EX_ILLEGAL_VALUE);

    /* bad values: negative speed, zero width, L0 > L, NaN, unknown commands; nothing applied */
    uint16_t v[2];
    put_float_value(v, -1.0f);
    assert_int_equal(lf_regs_write_holding(&f, LF_HR_SPEED_TEST, 2, v), LF_EX_ILLEGAL_VALUE);
    put_float_value(v, 0.0f);
    assert_int_equal(lf_regs_write_holding(&f, LF_HR_WIDTH, 2, v), LF_EX_ILLEGAL_VALUE);
    put_float_value(v, 200.0f);
    assert_int_equal(lf_regs_write_holding(&f, LF_HR_GAUGE_LENGTH, 2, v), LF_EX_ILLEGAL_VALUE);
    put_float_value(v, NAN);
    assert_int_equal(lf_regs_write_holding(&f, LF_HR_SPEED_MODULUS, 2, v), LF_EX_ILLEGAL_VALUE);
    uint16_t bad_cmds[] = {0, 5, 99};
    for (size_t k = 0; k < 3; k++)
        assert_int_equal(lf_regs_write_holding(&f, LF_HR_COMMAND, 1, &bad_cmds[k]), LF_EX_ILLEGAL_VALUE);
    assert_true(f.setup.speed_test_mm_min == 50.0f);
    assert_true(f.setup.width_mm == 10.1f);
    assert_int_equal(f.status, LF_STATUS_IDLE);
}

static uint16_t read_status(const struct lf_frame *f)
{
    uint16_t s;
    assert_int_equal(lf_regs_read_input(f, LF_IR_STATUS, 1, &s), 0);
    return s;
}

static int write_command(struct lf_frame *f, uint16_t command)
{
    return lf_regs_write_holding(f, LF_HR_COMMAND, 1, &command);
}

static void test_command_state_transitions(void **state)
{
    (void)state;
    struct lf_frame f;
    struct lf_frame_params p;
    lf_frame_params_defaults(&p);
    p.material.force_noise_n = 0.0;
    p.material.extension_noise_mm = 0.0;
    p.force_offset_n = 5.0;
    assert_int_equal(lf_frame_init(&f, &p, NULL), LF_OK);
    lf_frame_cycle(&f);

    /* tare removes the load-cell offset */
    assert_close(f.force_n, 5.0, 1e-12);
    assert_int_equal(write_command(&f, LF_CMD_TARE), 0);
    lf_frame_cycle(&f);
    assert_true(f.force_n == 0.0);

    assert_int_equal(write_command(&f, LF_CMD_START), 0);
    assert_int_equal(read_status(&f), LF_STATUS_RUNNING);
    assert_int_equal(f.specimen_no, 1);
    for (int k = 0; k < 3000; k++)
        lf_frame_cycle(&f);
    assert_true(f.force_n > 0.0);
    /* busy while running: a second start, tare, a geometry change; speeds may change */
    assert_int_equal(write_command(&f, LF_CMD_START), LF_EX_DEVICE_BUSY);
    assert_int_equal(write_command(&f, LF_CMD_TARE), LF_EX_DEVICE_BUSY);
    uint16_t v[2];
    put_float_value(v, 12.0f);
    assert_int_equal(lf_regs_write_holding(&f, LF_HR_WIDTH, 2, v), LF_EX_DEVICE_BUSY);
    put_float_value(v, 2.0f);
    assert_int_equal(lf_regs_write_holding(&f, LF_HR_SPEED_MODULUS, 2, v), 0);
    assert_close(lf_frame_speed(&f), 2.0, 0);
    assert_int_equal(f.specimen_no, 1);

    assert_int_equal(write_command(&f, LF_CMD_STOP), 0);
    assert_int_equal(read_status(&f), LF_STATUS_STOPPED);
    double held = f.crosshead_mm;
    for (int k = 0; k < 100; k++)
        lf_frame_cycle(&f);
    assert_true(f.crosshead_mm == held);
    assert_true(f.force_n > 0.0); /* the stopped specimen still carries its load */

    assert_int_equal(write_command(&f, LF_CMD_RETURN), 0);
    assert_int_equal(read_status(&f), LF_STATUS_RETURNING);
    lf_frame_cycle(&f);
    assert_true(f.crosshead_mm < held);
    for (int k = 0; k < 100000 && f.status == LF_STATUS_RETURNING; k++)
        lf_frame_cycle(&f);
    assert_int_equal(read_status(&f), LF_STATUS_IDLE);
    assert_true(f.crosshead_mm == 0.0);

    /* a new specimen clears the break flag of the last one */
    assert_int_equal(write_command(&f, LF_CMD_START), 0);
    for (int k = 0; k < 2000000 && f.status == LF_STATUS_RUNNING; k++)
        lf_frame_cycle(&f);
    assert_int_equal(read_status(&f), LF_STATUS_BROKEN);
    assert_true(f.flags & LF_FLAG_BREAK);
    assert_int_equal(write_command(&f, LF_CMD_START), 0);
    assert_false(f.flags & LF_FLAG_BREAK);
    assert_int_equal(f.specimen_no, 3);
    assert_int_equal(f.test_time_us, 0);

    /* setup then command in one write: the command runs with the new setup */
    assert_int_equal(write_command(&f, LF_CMD_STOP), 0);
    uint16_t block[8] = {LF_CMD_START, 0};
    put_float_value(&block[2], 7.0f);
    put_float_value(&block[4], 70.0f);
    put_float_value(&block[6], 0.01f);
    assert_int_equal(lf_regs_write_holding(&f, 0, 8, block), LF_EX_ILLEGAL_ADDRESS); /* covers reg 1 */
    assert_int_equal(lf_regs_write_holding(&f, 2, 6, &block[2]), 0);
    assert_int_equal(write_command(&f, LF_CMD_START), 0);
    assert_close(lf_frame_speed(&f), 7.0, 0);
}

/* ---- polydaq-sim end to end ------------------------------------------------------------- */

static pid_t g_sim_pid = -1;

static int kill_sim(void **state)
{
    (void)state;
    if (g_sim_pid > 0) {
        kill(g_sim_pid, SIGKILL);
        waitpid(g_sim_pid, NULL, 0);
        g_sim_pid = -1;
    }
    return 0;
}

static int recv_exact(int fd, uint8_t *buf, size_t len, int timeout_ms)
{
    size_t got = 0;
    int64_t deadline = pd_test_now_ms() + timeout_ms;
    while (got < len) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int left = (int)(deadline - pd_test_now_ms());
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            return -1;
        ssize_t r = recv(fd, buf + got, len - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* A hand-built Modbus TCP client: sends one PDU, returns the response PDU's length, or -1 when no
 * answer came in time. */
static int mb_transact(int fd, uint8_t unit, const uint8_t *pdu, size_t pdu_len, uint8_t *rsp,
                       size_t rsp_size, int timeout_ms)
{
    static uint16_t tid = 0;
    tid++;
    uint8_t frame[260];
    frame[0] = (uint8_t)(tid >> 8);
    frame[1] = (uint8_t)tid;
    frame[2] = frame[3] = 0;
    frame[4] = (uint8_t)((pdu_len + 1) >> 8);
    frame[5] = (uint8_t)(pdu_len + 1);
    frame[6] = unit;
    memcpy(frame + 7, pdu, pdu_len);
    assert_int_equal(send(fd, frame, 7 + pdu_len, MSG_NOSIGNAL), (ssize_t)(7 + pdu_len));
    uint8_t mbap[7];
    if (recv_exact(fd, mbap, 7, timeout_ms) != 0)
        return -1;
    assert_int_equal((mbap[0] << 8) | mbap[1], tid);
    assert_int_equal((mbap[2] << 8) | mbap[3], 0);
    assert_int_equal(mbap[6], unit);
    size_t len = (size_t)((mbap[4] << 8) | mbap[5]) - 1;
    assert_true(len >= 2 && len <= rsp_size);
    assert_int_equal(recv_exact(fd, rsp, len, timeout_ms), 0);
    return (int)len;
}

/* Function 03/04: returns 0 and fills out, or the exception code. */
static int mb_read(int fd, uint8_t function, uint16_t addr, uint16_t count, uint16_t *out)
{
    uint8_t pdu[5] = {function, (uint8_t)(addr >> 8), (uint8_t)addr, (uint8_t)(count >> 8), (uint8_t)count};
    uint8_t rsp[256];
    int n = mb_transact(fd, 1, pdu, sizeof pdu, rsp, sizeof rsp, 2000);
    assert_true(n >= 2);
    if (rsp[0] == (function | 0x80))
        return rsp[1];
    assert_int_equal(rsp[0], function);
    assert_int_equal(rsp[1], 2 * count);
    assert_int_equal(n, 2 + 2 * count);
    for (uint16_t i = 0; i < count; i++)
        out[i] = (uint16_t)((rsp[2 + 2 * i] << 8) | rsp[3 + 2 * i]);
    return 0;
}

/* Function 16: returns 0 or the exception code. */
static int mb_write(int fd, uint16_t addr, uint16_t count, const uint16_t *values)
{
    uint8_t pdu[6 + 2 * LF_MAX_WRITE_COUNT] = {0x10, (uint8_t)(addr >> 8), (uint8_t)addr,
                                               (uint8_t)(count >> 8), (uint8_t)count, (uint8_t)(2 * count)};
    for (uint16_t i = 0; i < count; i++) {
        pdu[6 + 2 * i] = (uint8_t)(values[i] >> 8);
        pdu[7 + 2 * i] = (uint8_t)values[i];
    }
    uint8_t rsp[256];
    int n = mb_transact(fd, 1, pdu, 6 + 2 * (size_t)count, rsp, sizeof rsp, 2000);
    assert_true(n >= 2);
    if (rsp[0] == 0x90)
        return rsp[1];
    assert_int_equal(n, 5);
    assert_memory_equal(rsp, pdu, 5);
    return 0;
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void test_sim_end_to_end(void **state)
{
    (void)state;
    int out[2];
    assert_int_equal(pipe(out), 0);
    g_sim_pid = fork();
    assert_true(g_sim_pid >= 0);
    if (g_sim_pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        execl(PD_SIM_PATH, PD_SIM_PATH, "loadframe", "--tcp", "127.0.0.1:0", "--material", "pp-demo",
              "--seed", "3", "--time-scale", "50", "--serial", "4242", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char line[128];
    int n = pd_test_read_line(out[0], line, sizeof line, 10000);
    close(out[0]);
    assert_true(n > 0);
    int port = 0;
    assert_int_equal(sscanf(line, "listening tcp://127.0.0.1:%d", &port), 1);
    assert_true(port > 0 && port < 65536);

    int fd = tcp_connect(port);
    uint16_t r[LF_INPUT_REG_COUNT];
    assert_int_equal(mb_read(fd, 0x04, 0, LF_INPUT_REG_COUNT, r), 0);
    assert_int_equal(r[LF_IR_STATUS], LF_STATUS_IDLE);
    assert_true(r[LF_IR_FLAGS] & LF_FLAG_SIMULATED);
    assert_int_equal(r[LF_IR_FW_VERSION], 0x0001);
    assert_int_equal(lf_regs_get_u32(&r[LF_IR_SERIAL_NUMBER]), 4242);
    assert_int_equal(mb_read(fd, 0x04, 20, 5, r), LF_EX_ILLEGAL_ADDRESS);
    assert_int_equal(mb_read(fd, 0x01, 0, 1, r), LF_EX_ILLEGAL_FUNCTION);

    /* a request for another unit gets no answer; the next one for us does */
    uint8_t pdu[5] = {0x04, 0, 0, 0, 1};
    uint8_t rsp[16];
    assert_int_equal(mb_transact(fd, 7, pdu, sizeof pdu, rsp, sizeof rsp, 300), -1);
    assert_int_equal(mb_read(fd, 0x04, 0, 1, r), 0);

    /* the demo method's speeds, read back exactly */
    uint16_t speeds[6];
    lf_regs_put_float(&speeds[0], 1.0f);
    lf_regs_put_float(&speeds[2], 50.0f);
    lf_regs_put_float(&speeds[4], 0.003f);
    assert_int_equal(mb_write(fd, LF_HR_SPEED_MODULUS, 6, speeds), 0);
    uint16_t back[6];
    assert_int_equal(mb_read(fd, 0x03, LF_HR_SPEED_MODULUS, 6, back), 0);
    assert_memory_equal(back, speeds, sizeof speeds);
    uint16_t negative[2];
    lf_regs_put_float(negative, -3.0f);
    assert_int_equal(mb_write(fd, LF_HR_SPEED_TEST, 2, negative), LF_EX_ILLEGAL_VALUE);

    /* start with function 06, then poll like the acquisition does until the break */
    uint8_t start[5] = {0x06, 0, 0, 0, LF_CMD_START};
    assert_int_equal(mb_transact(fd, 1, start, sizeof start, rsp, sizeof rsp, 2000), 5);
    assert_memory_equal(rsp, start, 5);
    double max_force = 0.0, last_extension = 0.0;
    uint32_t last_counter = 0;
    int64_t t0 = pd_test_now_ms();
    for (;;) {
        assert_true(pd_test_now_ms() - t0 < 30000);
        assert_int_equal(mb_read(fd, 0x04, 0, 13, r), 0);
        uint32_t counter = lf_regs_get_u32(&r[LF_IR_SAMPLE_COUNTER]);
        assert_true(counter >= last_counter);
        last_counter = counter;
        double force = lf_regs_get_float(&r[LF_IR_FORCE]);
        double extension = lf_regs_get_float(&r[LF_IR_EXTENSION]);
        assert_true(extension >= last_extension - 0.01);
        last_extension = extension;
        if (r[LF_IR_FLAGS] & LF_FLAG_BREAK) {
            assert_int_equal(r[LF_IR_STATUS], LF_STATUS_BROKEN);
            assert_true(fabs(force) < 1.0);
            break;
        }
        assert_int_equal(r[LF_IR_STATUS], LF_STATUS_RUNNING);
        max_force = fmax(max_force, force);
        usleep(5000);
    }
    /* pp-demo, 10 × 4 mm: σy·b·h = 1280 N; εb·L0 = 18.75 mm; εb·L = 28.75 mm (±3 SD of 0.5 %) */
    assert_true(max_force > 1200.0 && max_force < 1360.0);
    double extension = lf_regs_get_float(&r[LF_IR_EXTENSION]);
    double crosshead = lf_regs_get_float(&r[LF_IR_CROSSHEAD]);
    assert_true(extension > 18.0 && extension < 19.6);
    assert_true(crosshead > 27.4 && crosshead < 30.1);
    assert_close(crosshead / 115.0, extension / 75.0, 1e-3);
    assert_true(lf_regs_get_u32(&r[LF_IR_TEST_TIME]) > 50000); /* ≈ 55 s of instrument time */
    assert_int_equal(r[LF_IR_SPECIMEN_NO], 1);
    close(fd);

    /* the frame keeps serving after a client leaves */
    fd = tcp_connect(port);
    assert_int_equal(mb_read(fd, 0x04, 0, 1, r), 0);
    assert_int_equal(r[0], LF_STATUS_BROKEN);
    close(fd);

    assert_int_equal(kill(g_sim_pid, SIGTERM), 0);
    int status = 0;
    int64_t t1 = pd_test_now_ms();
    pid_t w;
    while ((w = waitpid(g_sim_pid, &status, WNOHANG)) == 0 && pd_test_now_ms() - t1 < 5000)
        usleep(10000);
    assert_int_equal(w, g_sim_pid);
    g_sim_pid = -1;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_sim_rejects_bad_arguments(void **state)
{
    (void)state;
    const char *cases[][4] = {
        {"loadframe", "--tcp", "127.0.0.1", NULL},
        {"loadframe", "--tcp", "127.0.0.1:0", "--bogus"},
        {"loadframe", "--material", "steel", NULL},
        {"teapot", NULL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int err[2];
        assert_int_equal(pipe(err), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            dup2(err[1], STDERR_FILENO);
            close(err[0]);
            close(err[1]);
            execl(PD_SIM_PATH, PD_SIM_PATH, cases[i][0], cases[i][1], cases[i][2], cases[i][3], (char *)NULL);
            _exit(127);
        }
        close(err[1]);
        char line[512];
        int n = pd_test_read_line(err[0], line, sizeof line, 5000);
        close(err[0]);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 2);
        assert_true(n > 0);
        assert_non_null(strstr(line, "polydaq-sim"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chord_modulus_equals_E),
        cmocka_unit_test(test_curve_shape),
        cmocka_unit_test(test_material_validation),
        cmocka_unit_test(test_peak_at_yield_and_break_at_break_strain),
        cmocka_unit_test(test_brittle_breaks_before_yield),
        cmocka_unit_test(test_speed_switch_at_configured_strain),
        cmocka_unit_test(test_seeds_reproduce_and_scatter_varies),
        cmocka_unit_test(test_step_follows_scaled_clock),
        cmocka_unit_test(test_float_packing_abcd),
        cmocka_unit_test(test_input_registers),
        cmocka_unit_test(test_holding_registers),
        cmocka_unit_test(test_command_state_transitions),
        cmocka_unit_test_teardown(test_sim_end_to_end, kill_sim),
        cmocka_unit_test(test_sim_rejects_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
