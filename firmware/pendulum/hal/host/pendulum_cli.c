/* pendulum_cli.c — `polydaq-sim pendulum`: options of the simulated Charpy pendulum, then serve. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mbslave/hal/host/sim_args.h"
#include "mbslave/hal/host/sim_bus.h"
#include "pendulum/core/pendulum.h"
#include "sim/sim.h"

static const char pendulum_usage_head[] =
    "usage: polydaq-sim pendulum (--tcp HOST:PORT | --rtu PTY|auto) [OPTIONS]\n"
    "Simulated instrumented Charpy pendulum (ISO 179-1) serving firmware/pendulum/REGISTERS.md over\n"
    "Modbus TCP or RTU. Write 1 (release), 2 (reset) or 3 (free swing) to holding register 0.\n"
    "\n";

static const char pendulum_usage_tail[] =
    "  --energy J            nominal hammer energy: 0.5 1 2 4 5 7.5 15 25 50 (default 1)\n"
    "  --release-angle DEG   release angle, [90, 170] (default 150)\n"
    "  --friction J          true friction loss per swing, [0, 5 % of nominal] (default 0.004)\n"
    "  --energy-mean J       energy a specimen absorbs: mean (default 0.41) ...\n"
    "  --energy-sd J         ... and SD (default 0.02)\n"
    "  --angle-noise DEG     SD of the rise-angle encoder, [0, 1] (default 0.01)\n"
    "  --seed N              seed of specimen scatter and encoder noise (default 1)\n"
    "  --time-scale X        instrument seconds per real second, (0, 10000] (default 1; a swing takes 1 s)\n"
    "  --serial N            serial number (default 1)\n"
    "  --cal-date YYYY-MM-DD calibration date (default 2026-06-01)\n";

static void step_pendulum(void *ctx, uint64_t now_us)
{
    pn_step(ctx, now_us);
}

struct double_option {
    const char *option;
    double *target;
};

static int run_pendulum(int argc, char **argv)
{
    struct pn_params params;
    pn_params_defaults(&params);
    struct sim_bus_options bus;
    sim_bus_options_defaults(&bus);
    const struct double_option doubles[] = {
        {"--energy", &params.nominal_energy_j},  {"--release-angle", &params.release_angle_deg},
        {"--friction", &params.friction_loss_j}, {"--energy-mean", &params.energy_mean_j},
        {"--energy-sd", &params.energy_sd_j},    {"--angle-noise", &params.angle_noise_deg},
        {"--time-scale", &params.time_scale},
    };
    for (int i = 0; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            fputs(pendulum_usage_head, stdout);
            fputs(sim_bus_usage, stdout);
            fputs(pendulum_usage_tail, stdout);
            return 0;
        }
        if (strncmp(opt, "--", 2) != 0)
            return sim_usage_error("pendulum: unexpected argument '%s'", opt);
        if (i + 1 >= argc)
            return sim_usage_error("pendulum: option %s needs a value", opt);
        const char *val = argv[++i];
        int taken = sim_bus_option(&bus, opt, val);
        if (taken == SIM_EXIT_USAGE)
            return taken;
        if (taken)
            continue;
        int matched = 0;
        for (size_t k = 0; k < sizeof doubles / sizeof doubles[0]; k++) {
            if (strcmp(opt, doubles[k].option) == 0) {
                if (sim_parse_double(val, doubles[k].target) != 0)
                    return sim_usage_error("pendulum: %s needs a number", opt);
                matched = 1;
            }
        }
        if (matched)
            continue;
        uint64_t u;
        if (strcmp(opt, "--seed") == 0) {
            if (sim_parse_u64(val, UINT64_MAX, &u) != 0)
                return sim_usage_error("pendulum: --seed must be a non-negative integer, not '%s'", val);
            params.seed = u;
        } else if (strcmp(opt, "--serial") == 0) {
            if (sim_parse_u64(val, UINT32_MAX, &u) != 0)
                return sim_usage_error("pendulum: --serial must be 0..4294967295, not '%s'", val);
            params.serial_number = (uint32_t)u;
        } else if (strcmp(opt, "--cal-date") == 0) {
            if (sim_parse_date(val, &params.cal_year, &params.cal_month, &params.cal_day) != 0)
                return sim_usage_error("pendulum: --cal-date must be YYYY-MM-DD, not '%s'", val);
        } else {
            return sim_usage_error("pendulum: unknown option '%s'", opt);
        }
    }
    if (!bus.tcp && !bus.rtu)
        return sim_usage_error("pendulum: %s is required", "--tcp HOST:PORT or --rtu PTY|auto");
    static struct pn_pendulum pendulum;
    const char *reason = NULL;
    if (pn_init(&pendulum, &params, &reason) != PN_OK)
        return sim_usage_error("pendulum: %s", reason);
    char identity[64];
    pn_regs_identity(&pendulum, identity, sizeof identity);
    struct sim_device device = {.step = step_pendulum, .ctx = &pendulum};
    mb_slave_init(&device.slave, &pn_regs_tables, &pendulum, (uint8_t)bus.unit, PN_SLAVE_ID, identity);
    return sim_bus_serve(&bus, &device, "pendulum");
}

const struct sim_instrument sim_pendulum = {
    .name = "pendulum",
    .summary = "instrumented Charpy pendulum (Modbus TCP or RTU)",
    .main = run_pendulum,
};
