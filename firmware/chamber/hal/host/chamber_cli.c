/* chamber_cli.c — `polydaq-sim chamber`: options of the simulated temperature chamber, then serve. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "chamber/core/chamber.h"
#include "mbslave/hal/host/sim_cli.h"
#include "sim/sim.h"

static const char chamber_usage_head[] =
    "usage: polydaq-sim chamber (--tcp HOST:PORT | --rtu PTY|auto) [OPTIONS]\n"
    "Simulated temperature chamber controller serving firmware/chamber/REGISTERS.md over Modbus TCP or\n"
    "RTU: the air and its relative humidity follow their set points as first-order lags (32-bit values\n"
    "in CDAB word order).\n"
    "\n";

static const char chamber_usage_tail[] =
    "  --tau S               time constant of the air, [1, 36000] s (default 120)\n"
    "  --ambient C           ambient temperature, where the air starts and drifts on standby (default 23)\n"
    "  --setpoint C          power-up setpoint, [-70, 180] °C (default 23)\n"
    "  --standby             power up in standby instead of controlling\n"
    "  --noise C             SD of the temperature sensor, [0, 5] °C (default 0.02)\n"
    "  --rh-setpoint P       power-up humidity set point, [0, 100] % RH (default 50)\n"
    "  --rh-ambient P        ambient humidity, where it starts and drifts on standby (default 50)\n"
    "  --rh-tau S            time constant of the humidity, [1, 36000] s (default 300)\n"
    "  --rh-noise P          SD of the humidity sensor, [0, 10] % RH (default 0.2)\n"
    "  --seed N              seed of the sensor noise (default 1)\n"
    "  --time-scale X        instrument seconds per real second, (0, 10000] (default 1)\n"
    "  --serial N            serial number (default 1)\n"
    "  --cal-date YYYY-MM-DD calibration date of the sensor (default 2026-06-01)\n";

static void step_chamber(void *ctx, uint64_t now_us)
{
    ch_step(ctx, now_us);
}

static int run_chamber(int argc, char **argv)
{
    struct ch_params params;
    ch_params_defaults(&params);
    struct sim_bus_options bus;
    sim_bus_options_defaults(&bus);
    const struct sim_cli_double doubles[] = {
        {"--tau", &params.tau_s},       {"--ambient", &params.ambient_c},     {"--setpoint", &params.setpoint_c},
        {"--noise", &params.noise_c},   {"--time-scale", &params.time_scale},
        {"--rh-setpoint", &params.rh_setpoint}, {"--rh-ambient", &params.rh_ambient},
        {"--rh-tau", &params.rh_tau_s}, {"--rh-noise", &params.rh_noise},
    };
    const struct sim_cli cli = {
        .who = "chamber", .usage_head = chamber_usage_head, .usage_tail = chamber_usage_tail, .bus = &bus,
        .doubles = doubles, .n_doubles = sizeof doubles / sizeof doubles[0], .seed = &params.seed,
        .serial = &params.serial_number, .cal_year = &params.cal_year,
        .cal_month = &params.cal_month, .cal_day = &params.cal_day, .flag = "--standby", .flag_target = &params.running,
        .flag_value = 0,
    };
    int status = sim_cli_parse(&cli, argc, argv);
    if (status != SIM_CLI_SERVE)
        return status;
    static struct ch_chamber chamber;
    const char *reason = NULL;
    if (ch_init(&chamber, &params, &reason) != CH_OK)
        return sim_usage_error("chamber: %s", reason);
    char identity[64];
    ch_regs_identity(&chamber, identity, sizeof identity);
    struct sim_device device = {.step = step_chamber, .ctx = &chamber};
    mb_slave_init(&device.slave, &ch_regs_tables, &chamber, (uint8_t)bus.unit, CH_SLAVE_ID, identity);
    return sim_bus_serve(&bus, &device, "chamber");
}

const struct sim_instrument sim_chamber = {
    .name = "chamber",
    .summary = "temperature chamber controller (Modbus TCP or RTU)",
    .main = run_chamber,
};
