/* model.c — the chamber air and its relative humidity, each a first-order lag towards its set point
 * (or ambient on standby), cycle by cycle. */
#include "chamber/core/chamber.h"

/* Catch-up longer than this many cycles is done in closed form (the lag has one). */
#define CLOSED_FORM_CYCLES 1000u
#define NOISE_STREAM_SALT 0x63686D6272ull
#define RH_NOISE_STREAM_SALT 0x726868756D6964ull

void ch_params_defaults(struct ch_params *p)
{
    fw_memset(p, 0, sizeof *p);
    p->seed = 1;
    p->time_scale = 1.0;
    p->tau_s = 120.0;
    p->ambient_c = 23.0;
    p->setpoint_c = 23.0;
    p->noise_c = 0.02;
    p->rh_ambient = 50.0;
    p->rh_setpoint = 50.0;
    p->rh_tau_s = 300.0;
    p->rh_noise = 0.2;
    p->running = 1;
    p->serial_number = 1;
    p->cal_year = 2026;
    p->cal_month = 6;
    p->cal_day = 1;
}

static int fail(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return CH_EINVAL;
}

static int within(double v, double lo, double hi)
{
    return fw_isfinite(v) && v >= lo && v <= hi;
}

int ch_init(struct ch_chamber *c, const struct ch_params *p, const char **why)
{
    if (!within(p->time_scale, 0.0, 10000.0) || p->time_scale == 0.0)
        return fail(why, "time scale must be in (0, 10000]");
    if (!within(p->tau_s, CH_TAU_MIN, CH_TAU_MAX))
        return fail(why, "time constant must be in [1, 36000] s");
    if (!within(p->ambient_c, -40.0, 60.0))
        return fail(why, "ambient temperature must be in [-40, 60] °C");
    if (!within(p->setpoint_c, CH_SETPOINT_MIN, CH_SETPOINT_MAX))
        return fail(why, "setpoint must be in [-70, 180] °C");
    if (!within(p->noise_c, 0.0, 5.0))
        return fail(why, "sensor noise must be in [0, 5] °C");
    if (!within(p->rh_ambient, CH_RH_MIN, CH_RH_MAX))
        return fail(why, "ambient humidity must be in [0, 100] % RH");
    if (!within(p->rh_setpoint, CH_RH_MIN, CH_RH_MAX))
        return fail(why, "humidity set point must be in [0, 100] % RH");
    if (!within(p->rh_tau_s, CH_TAU_MIN, CH_TAU_MAX))
        return fail(why, "humidity time constant must be in [1, 36000] s");
    if (!within(p->rh_noise, 0.0, 10.0))
        return fail(why, "humidity sensor noise must be in [0, 10] % RH");
    if (p->cal_year < 1970 || p->cal_month < 1 || p->cal_month > 12 || p->cal_day < 1 || p->cal_day > 31)
        return fail(why, "calibration date is not a valid date");
    fw_memset(c, 0, sizeof *c);
    c->params = *p;
    c->setpoint_c = (float)p->setpoint_c;
    c->tau_s = (float)p->tau_s;
    c->running = p->running ? 1 : 0;
    c->air_c = p->ambient_c;
    fw_rng_seed(&c->noise_rng, p->seed ^ NOISE_STREAM_SALT);
    c->pv_c = c->air_c;
    c->rh_setpoint = (float)p->rh_setpoint;
    c->rh = p->rh_ambient;
    fw_rng_seed(&c->rh_noise_rng, p->seed ^ RH_NOISE_STREAM_SALT);
    c->rh_pv = c->rh;
    return CH_OK;
}

static double target_of(const struct ch_chamber *c)
{
    return c->running ? (double)c->setpoint_c : c->params.ambient_c;
}

static double rh_target_of(const struct ch_chamber *c)
{
    return c->running ? (double)c->rh_setpoint : c->params.rh_ambient;
}

static void refresh_readings(struct ch_chamber *c)
{
    c->pv_c = c->air_c + c->params.noise_c * fw_rng_gauss(&c->noise_rng);
    double rh = c->rh + c->params.rh_noise * fw_rng_gauss(&c->rh_noise_rng);
    c->rh_pv = rh < 0.0 ? 0.0 : rh > 100.0 ? 100.0 : rh; /* a humidity sensor reads within its scale */
    if (!c->running) {
        c->output_pct = 0.0;
        return;
    }
    double out = 100.0 * ((double)c->setpoint_c - c->air_c) / CH_PROPORTIONAL_BAND;
    c->output_pct = out > 100.0 ? 100.0 : out < -100.0 ? -100.0 : out;
}

/* Moves the air `cycles` cycles towards the target: the exact solution of the lag, e^(−t/τ). */
static void settle(struct ch_chamber *c, uint64_t cycles)
{
    double t = (double)cycles * (double)CH_CYCLE_US * 1e-6;
    double target = target_of(c);
    c->air_c = target + (c->air_c - target) * fw_exp(-t / (double)c->tau_s);
    double rh_target = rh_target_of(c);
    c->rh = rh_target + (c->rh - rh_target) * fw_exp(-t / c->params.rh_tau_s);
}

void ch_cycle(struct ch_chamber *c)
{
    settle(c, 1);
    c->cycle_counter++;
    refresh_readings(c);
}

void ch_step(struct ch_chamber *c, uint64_t now_us)
{
    if (!c->clock_started) {
        c->clock_started = 1;
        c->clock_origin_us = now_us;
        c->cycles_done = 0;
        return;
    }
    if (now_us < c->clock_origin_us)
        return;
    double instrument_us = (double)(now_us - c->clock_origin_us) * c->params.time_scale;
    uint64_t target = (uint64_t)(instrument_us / (double)CH_CYCLE_US);
    if (target <= c->cycles_done)
        return;
    uint64_t due = target - c->cycles_done;
    if (due > CLOSED_FORM_CYCLES) {
        settle(c, due - 1);
        c->cycle_counter += (uint32_t)(due - 1);
        due = 1;
    }
    while (due-- > 0)
        ch_cycle(c);
    c->cycles_done = target;
}

enum ch_status ch_status(const struct ch_chamber *c)
{
    if (!c->running)
        return CH_STATUS_STANDBY;
    double error = (double)c->setpoint_c - c->air_c;
    if (fw_fabs(error) <= CH_STABLE_BAND)
        return CH_STATUS_STABLE;
    return error > 0.0 ? CH_STATUS_HEATING : CH_STATUS_COOLING;
}
