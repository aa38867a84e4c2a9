/* loadframe_cli.c — `polydaq-sim loadframe`: options of the simulated load frame, then serve. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadframe/core/model.h"
#include "material_file.h"
#include "loadframe/core/loop.h"
#include "loadframe/core/regs.h"
#include "mbslave/hal/host/sim_args.h"
#include "mbslave/hal/host/sim_bus.h"
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

static int run_loadframe(int argc, char **argv)
{
    struct lf_frame_params params;
    lf_frame_params_defaults(&params);
    struct sim_bus_options bus;
    sim_bus_options_defaults(&bus);
    const char *material = "pp-demo";
    /* Overrides apply on top of whichever material is chosen, so they are collected first. */
    double override_values[OVERRIDE_COUNT];
    int overridden[OVERRIDE_COUNT] = {0};

    for (int i = 0; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            fputs(loadframe_usage_head, stdout);
            fputs(sim_bus_usage, stdout);
            fputs(loadframe_usage_tail, stdout);
            return 0;
        }
        if (strncmp(opt, "--", 2) != 0)
            return sim_usage_error("loadframe: unexpected argument '%s'", opt);
        if (i + 1 >= argc)
            return sim_usage_error("loadframe: option %s needs a value", opt);
        const char *val = argv[++i];
        uint64_t u;
        double d;
        int matched = 0;
        for (size_t k = 0; k < OVERRIDE_COUNT; k++) {
            if (strcmp(opt, override_table[k].option) == 0) {
                if (sim_parse_double(val, &override_values[k]) != 0)
                    return sim_usage_error("loadframe: %s needs a number", opt);
                overridden[k] = 1;
                matched = 1;
            }
        }
        if (matched)
            continue;
        int taken = sim_bus_option(&bus, opt, val);
        if (taken == SIM_EXIT_USAGE)
            return taken;
        if (taken)
            continue;
        if (strcmp(opt, "--material") == 0) {
            material = val;
        } else if (strcmp(opt, "--seed") == 0) {
            if (sim_parse_u64(val, UINT64_MAX, &u) != 0)
                return sim_usage_error("loadframe: --seed must be a non-negative integer, not '%s'", val);
            params.seed = u;
        } else if (strcmp(opt, "--time-scale") == 0) {
            if (sim_parse_double(val, &d) != 0 || !(d > 0.0) || d > 10000.0)
                return sim_usage_error("loadframe: --time-scale must be in (0, 10000], not '%s'", val);
            params.time_scale = d;
        } else if (strcmp(opt, "--serial") == 0) {
            if (sim_parse_u64(val, UINT32_MAX, &u) != 0)
                return sim_usage_error("loadframe: --serial must be 0..4294967295, not '%s'", val);
            params.serial_number = (uint32_t)u;
        } else if (strcmp(opt, "--cal-date") == 0) {
            if (sim_parse_date(val, &params.cal_year, &params.cal_month, &params.cal_day) != 0)
                return sim_usage_error("loadframe: --cal-date must be YYYY-MM-DD, not '%s'", val);
        } else if (strcmp(opt, "--force-offset") == 0) {
            if (sim_parse_double(val, &params.force_offset_n) != 0)
                return sim_usage_error("loadframe: --force-offset needs a number, not '%s'", val);
        } else {
            return sim_usage_error("loadframe: unknown option '%s'", opt);
        }
    }
    if (!bus.tcp && !bus.rtu)
        return sim_usage_error("loadframe: %s is required", "--tcp HOST:PORT or --rtu PTY|auto");

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
        if (overridden[k])
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
