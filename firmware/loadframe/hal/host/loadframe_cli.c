/* loadframe_cli.c — `polydaq-sim loadframe`: options of the simulated load frame, then serve. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadframe/core/model.h"
#include "material_file.h"
#include "loadframe/core/loop.h"
#include "loadframe/core/regs.h"
#include "mbslave/hal/host/sim_cli.h"
#include "sim/sim.h"

static const char loadframe_usage_head[] =
    "usage: polydaq-sim loadframe (--tcp HOST:PORT | --rtu PTY|auto) [OPTIONS]\n"
    "Simulated load frame serving the register map of firmware/loadframe/REGISTERS.md over Modbus\n"
    "TCP or RTU (the firmware's own Modbus slave).\n"
    "\n";

static const char loadframe_usage_tail[] =
    "  --material NAME|FILE  built-in material or a file of `key = value` lines (default pp-demo)\n"
    "  --seed N              seed of specimen scatter and sensor noise (default 1)\n"
    "  --time-scale X        instrument seconds per real second, (0, 10000] (default 1)\n"
    "  --serial N            serial number (default 1)\n"
    "  --cal-date YYYY-MM-DD calibration date of the force channel (default 2026-06-01)\n"
    "  --force-offset N      load-cell zero offset before tare, N (default 0)\n"
    "material overrides:\n"
    "  --modulus MPA  --yield-stress MPA  --yield-strain FRAC  --draw-stress MPA\n"
    "  --neck-strain FRAC  --break-strain FRAC  --noise-force N  --noise-extension MM  --scatter FRAC\n"
    "\n"
    "material files: modulus, yield_stress, yield_strain, draw_stress, neck_end_strain, break_strain\n"
    "(required); force_noise, extension_noise, scatter (optional).\n";

struct material_override {
    const char *option;
    size_t offset; /* of a double in struct lf_material */
};

static const struct material_override override_table[] = {
    {"--modulus", offsetof(struct lf_material, modulus_mpa)},
    {"--yield-stress", offsetof(struct lf_material, yield_stress_mpa)},
    {"--yield-strain", offsetof(struct lf_material, yield_strain)},
    {"--draw-stress", offsetof(struct lf_material, draw_stress_mpa)},
    {"--neck-strain", offsetof(struct lf_material, neck_end_strain)},
    {"--break-strain", offsetof(struct lf_material, break_strain)},
    {"--noise-force", offsetof(struct lf_material, force_noise_n)},
    {"--noise-extension", offsetof(struct lf_material, extension_noise_mm)},
    {"--scatter", offsetof(struct lf_material, scatter_rel)},
};

#define OVERRIDE_COUNT (sizeof override_table / sizeof override_table[0])

static void step_frame(void *ctx, uint64_t now_us)
{
    lf_step(ctx, now_us);
}

/* What the load frame takes beyond the shared options. */
struct loadframe_options {
    struct lf_frame_params *params;
    const char *material;
};

static int loadframe_option(void *ctx, const char *opt, const char *val)
{
    struct loadframe_options *o = ctx;
    double d;
    if (strcmp(opt, "--material") == 0) {
        o->material = val;
    } else if (strcmp(opt, "--time-scale") == 0) {
        if (sim_parse_double(val, &d) != 0 || !(d > 0.0) || d > 10000.0)
            return sim_usage_error("loadframe: --time-scale must be in (0, 10000], not '%s'", val);
        o->params->time_scale = d;
    } else if (strcmp(opt, "--force-offset") == 0) {
        if (sim_parse_double(val, &o->params->force_offset_n) != 0)
            return sim_usage_error("loadframe: --force-offset needs a number, not '%s'", val);
    } else {
        return 0;
    }
    return 1;
}

static int run_loadframe(int argc, char **argv)
{
    struct lf_frame_params params;
    lf_frame_params_defaults(&params);
    struct sim_bus_options bus;
    sim_bus_options_defaults(&bus);
    struct loadframe_options own = {.params = &params, .material = "pp-demo"};
    /* Overrides apply on top of whichever material is chosen, so they are collected first; NaN
     * (which no option value can be) marks the ones not given. */
    double override_values[OVERRIDE_COUNT];
    struct sim_cli_double overrides[OVERRIDE_COUNT];
    for (size_t k = 0; k < OVERRIDE_COUNT; k++) {
        override_values[k] = NAN;
        overrides[k] = (struct sim_cli_double){override_table[k].option, &override_values[k]};
    }
    const struct sim_cli cli = {
        .who = "loadframe", .usage_head = loadframe_usage_head, .usage_tail = loadframe_usage_tail, .bus = &bus,
        .doubles = overrides, .n_doubles = OVERRIDE_COUNT, .seed = &params.seed, .serial = &params.serial_number,
        .cal_year = &params.cal_year, .cal_month = &params.cal_month, .cal_day = &params.cal_day,
        .own_option = loadframe_option, .own_ctx = &own,
    };
    int status = sim_cli_parse(&cli, argc, argv);
    if (status != SIM_CLI_SERVE)
        return status;
    const char *material = own.material;

    char why[512];
    const struct lf_material *builtin = lf_material_find(material);
    if (builtin) {
        params.material = *builtin;
    } else if (strchr(material, '/') || strchr(material, '.')) {
        if (sim_material_load(material, &params.material, why, sizeof why) != 0)
            return sim_usage_error("loadframe: --material %s", why);
    } else {
        return sim_usage_error("loadframe: unknown material '%s' (built in: pp-demo, abs-demo, "
                           "pa6-demo, brittle-demo; or give a file path)", material);
    }
    for (size_t k = 0; k < OVERRIDE_COUNT; k++)
        if (!isnan(override_values[k]))
            memcpy((char *)&params.material + override_table[k].offset, &override_values[k], sizeof(double));

    const char *reason = NULL;
    struct lf_frame frame;
    if (lf_frame_init(&frame, &params, &reason) != LF_OK)
        return sim_usage_error("loadframe: %s", reason);

    char identity[64];
    lf_regs_identity(&frame, identity, sizeof identity);
    struct sim_device device = {.step = step_frame, .ctx = &frame};
    mb_slave_init(&device.slave, &lf_regs_tables, &frame, (uint8_t)bus.unit, LF_SLAVE_ID, identity);
    return sim_bus_serve(&bus, &device, "loadframe");
}

const struct sim_instrument sim_loadframe = {
    .name = "loadframe",
    .summary = "tensile load frame (Modbus TCP or RTU)",
    .main = run_loadframe,
};
