/* model.c — tensile specimen physics and the load frame's motion/state machine, one cycle at a time. */
#include "loadframe/core/model.h"

#include "fwrt/core/fwrt.h"

/* Below this the elastic line is kept exactly linear regardless of the material, so the ISO 527
 * chord modulus window (0.05 %–0.25 %) always measures E itself. */
#define MIN_PROP_STRAIN 0.003
/* Fraction of σy at which the elastic line ends when that lies beyond MIN_PROP_STRAIN. */
#define PROP_STRESS_FRACTION 0.4
/* Scatter draws are clipped at ±3 SD so one unlucky draw cannot produce an impossible specimen. */
#define SCATTER_CLIP_SD 3.0

static const struct lf_material builtin_materials[] = {
    /* name           E      σy    εy    σd    εn    εb     F-noise ext-noise scatter */
    {"pp-demo",      1500.0, 32.0, 0.09, 26.0, 0.15, 0.25, 0.05, 0.0002, 0.005},
    {"abs-demo",     2300.0, 45.0, 0.03, 38.0, 0.05, 0.12, 0.05, 0.0002, 0.005},
    /* dry-as-moulded polyamide 6: stiff, strong, long drawing plateau */
    {"pa6-demo",     3000.0, 80.0, 0.04, 60.0, 0.08, 0.30, 0.05, 0.0002, 0.005},
    /* polystyrene-like: breaks on the rising branch, long before its nominal yield point */
    {"brittle-demo", 3200.0, 60.0, 0.025, 50.0, 0.04, 0.018, 0.05, 0.0002, 0.005},
};

#define BUILTIN_COUNT (sizeof builtin_materials / sizeof builtin_materials[0])

const struct lf_material *lf_material_at(unsigned index)
{
    return index < BUILTIN_COUNT ? &builtin_materials[index] : NULL;
}

const struct lf_material *lf_material_find(const char *name)
{
    if (!name)
        return NULL;
    for (unsigned i = 0; i < BUILTIN_COUNT; i++)
        if (fw_strcmp(builtin_materials[i].name, name) == 0)
            return &builtin_materials[i];
    return NULL;
}

static int fail(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return LF_EINVAL;
}

static int positive_finite(double v)
{
    return fw_isfinite(v) && v > 0.0;
}

int lf_curve_init(struct lf_curve *curve, const struct lf_material *m, double modulus_factor,
                  double strength_factor, double break_factor, const char **why)
{
    if (!curve || !m)
        return fail(why, "no material");
    if (!positive_finite(modulus_factor) || !positive_finite(strength_factor) ||
        !positive_finite(break_factor))
        return fail(why, "scatter factors must be positive");
    struct lf_curve c;
    c.modulus = m->modulus_mpa * modulus_factor;
    c.yield_stress = m->yield_stress_mpa * strength_factor;
    c.yield_strain = m->yield_strain;
    c.draw_stress = m->draw_stress_mpa * strength_factor;
    c.neck_end_strain = m->neck_end_strain;
    c.break_strain = m->break_strain * break_factor;

    if (!positive_finite(c.modulus))
        return fail(why, "modulus must be a positive number (MPa)");
    if (!positive_finite(c.yield_stress))
        return fail(why, "yield stress must be a positive number (MPa)");
    if (!positive_finite(c.yield_strain) || c.yield_strain >= 1.0)
        return fail(why, "yield strain must be a fraction between 0 and 1");
    if (!positive_finite(c.draw_stress) || c.draw_stress > c.yield_stress)
        return fail(why, "drawing stress must be positive and not above the yield stress");
    if (!fw_isfinite(c.neck_end_strain) || c.neck_end_strain <= c.yield_strain)
        return fail(why, "necking end strain must be above the yield strain");
    if (!positive_finite(c.break_strain) || c.break_strain > 20.0)
        return fail(why, "break strain must be a positive fraction (at most 20)");

    double prop_from_stress = PROP_STRESS_FRACTION * c.yield_stress / c.modulus;
    c.prop_strain = prop_from_stress > MIN_PROP_STRAIN ? prop_from_stress : MIN_PROP_STRAIN;
    c.prop_stress = c.modulus * c.prop_strain;
    if (c.prop_strain >= c.yield_strain || c.prop_stress >= c.yield_stress)
        return fail(why, "yield point lies on the elastic line (need E·0.003 < σy and εy > linear limit)");
    c.rise_power = c.modulus * (c.yield_strain - c.prop_strain) / (c.yield_stress - c.prop_stress);
    /* k < 1 would mean εy < σy/E: the curve would have to bend upwards to reach the yield point. */
    if (!(c.rise_power >= 1.0))
        return fail(why, "yield strain too small for this modulus and yield stress (need E·εy >= σy)");

    double half_drop = 0.5 * (c.yield_stress - c.draw_stress);
    double five_percent = 0.05 * c.draw_stress;
    c.plateau_rise = five_percent < half_drop ? five_percent : half_drop;

    if (!positive_finite(m->force_noise_n) && m->force_noise_n != 0.0)
        return fail(why, "force noise must be zero or positive (N)");
    if (!positive_finite(m->extension_noise_mm) && m->extension_noise_mm != 0.0)
        return fail(why, "extension noise must be zero or positive (mm)");
    if (!fw_isfinite(m->scatter_rel) || m->scatter_rel < 0.0 || m->scatter_rel > 0.2)
        return fail(why, "scatter must be a fraction between 0 and 0.2");

    *curve = c;
    return LF_OK;
}

int lf_material_validate(const struct lf_material *material, const char **why)
{
    struct lf_curve scratch;
    return lf_curve_init(&scratch, material, 1.0, 1.0, 1.0, why);
}

double lf_curve_stress(const struct lf_curve *c, double strain)
{
    if (strain <= c->prop_strain)
        return c->modulus * strain;
    if (strain < c->yield_strain) {
        double x = (strain - c->prop_strain) / (c->yield_strain - c->prop_strain);
        return c->prop_stress + (c->yield_stress - c->prop_stress) * (1.0 - fw_pow(1.0 - x, c->rise_power));
    }
    if (strain < c->neck_end_strain) {
        /* smoothstep: zero slope at both ends keeps the peak at εy and blends into the plateau */
        double t = (strain - c->yield_strain) / (c->neck_end_strain - c->yield_strain);
        return c->yield_stress - (c->yield_stress - c->draw_stress) * t * t * (3.0 - 2.0 * t);
    }
    if (c->break_strain <= c->neck_end_strain)
        return c->draw_stress;
    double u = (strain - c->neck_end_strain) / (c->break_strain - c->neck_end_strain);
    return c->draw_stress + c->plateau_rise * u * u;
}

void lf_setup_defaults(struct lf_setup *s)
{
    s->speed_modulus_mm_min = 1.0f;
    s->speed_test_mm_min = 50.0f;
    s->speed_switch_strain = 0.003f;
    s->width_mm = 10.0f;
    s->thickness_mm = 4.0f;
    s->gauge_length_mm = 75.0f;
    s->grip_distance_mm = 115.0f;
}

static int in_range(float v, float lo_exclusive, float hi_inclusive)
{
    return fw_isfinitef(v) && v > lo_exclusive && v <= hi_inclusive;
}

int lf_setup_validate(const struct lf_setup *s, const char **why)
{
    if (!in_range(s->speed_modulus_mm_min, 0.0f, 1000.0f))
        return fail(why, "speed_modulus must be in (0, 1000] mm/min");
    if (!in_range(s->speed_test_mm_min, 0.0f, 1000.0f))
        return fail(why, "speed_test must be in (0, 1000] mm/min");
    if (!fw_isfinitef(s->speed_switch_strain) || s->speed_switch_strain < 0.0f ||
        s->speed_switch_strain >= 1.0f)
        return fail(why, "speed_switch_strain must be in [0, 1)");
    if (!in_range(s->width_mm, 0.0f, 100.0f))
        return fail(why, "width must be in (0, 100] mm");
    if (!in_range(s->thickness_mm, 0.0f, 100.0f))
        return fail(why, "thickness must be in (0, 100] mm");
    if (!in_range(s->gauge_length_mm, 0.0f, 1000.0f))
        return fail(why, "gauge_length must be in (0, 1000] mm");
    if (!in_range(s->grip_distance_mm, 0.0f, 2000.0f))
        return fail(why, "grip_distance must be in (0, 2000] mm");
    if (s->gauge_length_mm > s->grip_distance_mm)
        return fail(why, "gauge_length must not exceed grip_distance");
    return LF_OK;
}

void lf_frame_params_defaults(struct lf_frame_params *p)
{
    fw_memset(p, 0, sizeof *p);
    p->material = *lf_material_find("pp-demo");
    p->seed = 1;
    p->time_scale = 1.0;
    p->serial_number = 1;
    p->cal_year = 2026;
    p->cal_month = 6;
    p->cal_day = 1;
    p->simulated = 1;
    p->force_offset_n = 0.0;
    p->capacity_n = 10000.0;
    p->return_speed_mm_min = 600.0;
}

int lf_frame_params_validate(const struct lf_frame_params *p, const char **why)
{
    int rc = lf_material_validate(&p->material, why);
    if (rc)
        return rc;
    if (!positive_finite(p->time_scale) || p->time_scale > 10000.0)
        return fail(why, "time scale must be in (0, 10000]");
    if (p->cal_year < 1970 || p->cal_month < 1 || p->cal_month > 12 || p->cal_day < 1 || p->cal_day > 31)
        return fail(why, "calibration date is not a valid date");
    if (!fw_isfinite(p->force_offset_n) || fw_fabs(p->force_offset_n) > p->capacity_n)
        return fail(why, "force offset must be a number within the load-cell capacity");
    if (!positive_finite(p->capacity_n))
        return fail(why, "load-cell capacity must be positive (N)");
    if (!positive_finite(p->return_speed_mm_min))
        return fail(why, "return speed must be positive (mm/min)");
    return LF_OK;
}

/* The noise stream is derived from the seed but separate from the specimen stream. */
#define NOISE_STREAM_SALT 0x6E6F697365ull

static void refresh_readings(struct lf_frame *f)
{
    /* Both draws happen every cycle, noise or not, so the noise sequence never shifts. */
    double force_noise = fw_rng_gauss(&f->noise_rng) * f->params.material.force_noise_n;
    double ext_noise = fw_rng_gauss(&f->noise_rng) * f->params.material.extension_noise_mm;
    f->force_n = f->specimen_force_n + f->params.force_offset_n - f->tare_n + force_noise;
    f->extension_mm = f->strain * (double)f->setup.gauge_length_mm + ext_noise;
}

int lf_frame_init(struct lf_frame *f, const struct lf_frame_params *p, const char **why)
{
    int rc = lf_frame_params_validate(p, why);
    if (rc)
        return rc;
    struct lf_curve nominal;
    rc = lf_curve_init(&nominal, &p->material, 1.0, 1.0, 1.0, why);
    if (rc)
        return rc;
    fw_memset(f, 0, sizeof *f);
    f->params = *p;
    lf_setup_defaults(&f->setup);
    f->curve = nominal;
    fw_rng_seed(&f->specimen_rng, p->seed);
    fw_rng_seed(&f->noise_rng, p->seed ^ NOISE_STREAM_SALT);
    f->status = LF_STATUS_IDLE;
    f->flags = LF_FLAG_EXTENSOMETER | (p->simulated ? LF_FLAG_SIMULATED : 0);
    refresh_readings(f);
    return LF_OK;
}

static double scatter_factor(struct lf_frame *f)
{
    double g = fw_rng_gauss(&f->specimen_rng);
    if (g > SCATTER_CLIP_SD)
        g = SCATTER_CLIP_SD;
    if (g < -SCATTER_CLIP_SD)
        g = -SCATTER_CLIP_SD;
    return 1.0 + f->params.material.scatter_rel * g;
}

int lf_frame_start(struct lf_frame *f)
{
    if (f->status == LF_STATUS_RUNNING)
        return LF_ESTATE;
    /* Always three draws per specimen, so specimen n's properties depend only on the seed. */
    double fe = scatter_factor(f);
    double fs = scatter_factor(f);
    double fb = scatter_factor(f);
    if (lf_curve_init(&f->curve, &f->params.material, fe, fs, fb, NULL) != LF_OK)
        lf_curve_init(&f->curve, &f->params.material, 1.0, 1.0, 1.0, NULL);
    f->specimen_no++;
    f->status = LF_STATUS_RUNNING;
    f->flags &= (uint16_t)~(LF_FLAG_BREAK | LF_FLAG_OVERLOAD);
    f->test_time_us = 0;
    f->crosshead_mm = 0.0;
    f->strain = 0.0;
    f->specimen_force_n = 0.0;
    f->speed_switched = f->setup.speed_switch_strain <= 0.0f;
    return LF_OK;
}

int lf_frame_stop(struct lf_frame *f)
{
    if (f->status == LF_STATUS_RUNNING || f->status == LF_STATUS_RETURNING)
        f->status = LF_STATUS_STOPPED;
    return LF_OK;
}

int lf_frame_return(struct lf_frame *f)
{
    /* The specimen is taken out (or is in two pieces) before the crosshead travels back. */
    f->status = LF_STATUS_RETURNING;
    f->specimen_force_n = 0.0;
    f->strain = 0.0;
    return LF_OK;
}

int lf_frame_tare(struct lf_frame *f)
{
    if (f->status == LF_STATUS_RUNNING)
        return LF_ESTATE;
    f->tare_n = f->specimen_force_n + f->params.force_offset_n;
    return LF_OK;
}

double lf_frame_speed(const struct lf_frame *f)
{
    if (f->status == LF_STATUS_RUNNING)
        return f->speed_switched ? (double)f->setup.speed_test_mm_min
                                 : (double)f->setup.speed_modulus_mm_min;
    if (f->status == LF_STATUS_RETURNING)
        return -f->params.return_speed_mm_min;
    return 0.0;
}

static void run_cycle(struct lf_frame *f, double cycle_min)
{
    f->crosshead_mm += lf_frame_speed(f) * cycle_min;
    f->strain = f->crosshead_mm / (double)f->setup.grip_distance_mm;
    f->test_time_us += LF_CYCLE_US;
    if (!f->speed_switched && f->strain >= (double)f->setup.speed_switch_strain)
        f->speed_switched = 1;
    if (f->strain >= f->curve.break_strain) {
        f->status = LF_STATUS_BROKEN;
        f->flags |= LF_FLAG_BREAK;
        f->specimen_force_n = 0.0;
        return;
    }
    double area = (double)f->setup.width_mm * (double)f->setup.thickness_mm;
    f->specimen_force_n = lf_curve_stress(&f->curve, f->strain) * area;
    if (fw_fabs(f->specimen_force_n + f->params.force_offset_n) > f->params.capacity_n) {
        f->status = LF_STATUS_FAULT;
        f->flags |= LF_FLAG_OVERLOAD;
    }
}

void lf_frame_cycle(struct lf_frame *f)
{
    const double cycle_min = (double)LF_CYCLE_US / 60e6;
    if (f->status == LF_STATUS_RUNNING) {
        run_cycle(f, cycle_min);
    } else if (f->status == LF_STATUS_RETURNING) {
        f->crosshead_mm += lf_frame_speed(f) * cycle_min;
        if (f->crosshead_mm <= 0.0) {
            f->crosshead_mm = 0.0;
            f->status = LF_STATUS_IDLE;
        }
    }
    f->sample_counter++;
    refresh_readings(f);
}
