/* pendulum_cli.c — `polydaq-sim pendulum`: options of the simulated Charpy pendulum, then serve. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mbslave/hal/host/sim_cli.h"
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

static int run_pendulum(int argc, char **argv)
{
    struct pn_params params;
    pn_params_defaults(&params);
    struct sim_bus_options bus;
    sim_bus_options_defaults(&bus);
    const struct sim_cli_double doubles[] = {
        {"--energy", &params.nominal_energy_j},  {"--release-angle", &params.release_angle_deg},
        {"--friction", &params.friction_loss_j}, {"--energy-mean", &params.energy_mean_j},
        {"--energy-sd", &params.energy_sd_j},    {"--angle-noise", &params.angle_noise_deg},
        {"--time-scale", &params.time_scale},
    };
    const struct sim_cli cli = {
        .who = "pendulum", .usage_head = pendulum_usage_head, .usage_tail = pendulum_usage_tail, .bus = &bus,
        .doubles = doubles, .n_doubles = sizeof doubles / sizeof doubles[0], .seed = &params.seed,
        .serial = &params.serial_number, .cal_year = &params.cal_year,
        .cal_month = &params.cal_month, .cal_day = &params.cal_day,
    };
    int status = sim_cli_parse(&cli, argc, argv);
    if (status != SIM_CLI_SERVE)
        return status;
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
