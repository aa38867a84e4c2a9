/* chamber_cli.c — `polydaq-sim chamber`: options of the simulated temperature chamber, then serve. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "chamber/core/chamber.h"
#include "mbslave/hal/host/sim_args.h"
#include "mbslave/hal/host/sim_bus.h"
#include "sim/sim.h"

static const char chamber_usage_head[] =
    "usage: polydaq-sim chamber (--tcp HOST:PORT | --rtu PTY|auto) [OPTIONS]\n"
    "Simulated temperature chamber controller serving firmware/chamber/REGISTERS.md over Modbus TCP or\n"
    "RTU: the air follows the setpoint as a first-order lag (32-bit values in CDAB word order).\n"
    "\n";

static const char chamber_usage_tail[] =
    "  --tau S               time constant of the air, [1, 36000] s (default 120)\n"
    "  --ambient C           ambient temperature, where the air starts and drifts on standby (default 23)\n"
    "  --setpoint C          power-up setpoint, [-70, 180] °C (default 23)\n"
    "  --standby             power up in standby instead of controlling\n"
    "  --noise C             SD of the temperature sensor, [0, 5] °C (default 0.02)\n"
    "  --seed N              seed of the sensor noise (default 1)\n"
    "  --time-scale X        instrument seconds per real second, (0, 10000] (default 1)\n"
    "  --serial N            serial number (default 1)\n"
    "  --cal-date YYYY-MM-DD calibration date of the sensor (default 2026-06-01)\n";

static void step_chamber(void *ctx, uint64_t now_us)
{
    ch_step(ctx, now_us);
}

struct double_option {
    const char *option;
    double *target;
};

static int run_chamber(int argc, char **argv)
{
    struct ch_params params;
    ch_params_defaults(&params);
    struct sim_bus_options bus;
    sim_bus_options_defaults(&bus);
    const struct double_option doubles[] = {
        {"--tau", &params.tau_s},       {"--ambient", &params.ambient_c},     {"--setpoint", &params.setpoint_c},
        {"--noise", &params.noise_c},   {"--time-scale", &params.time_scale},
    };
    for (int i = 0; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            fputs(chamber_usage_head, stdout);
            fputs(sim_bus_usage, stdout);
            fputs(chamber_usage_tail, stdout);
            return 0;
        }
        if (strcmp(opt, "--standby") == 0) {
            params.running = 0;
            continue;
        }
        if (strncmp(opt, "--", 2) != 0)
            return sim_usage_error("chamber: unexpected argument '%s'", opt);
        if (i + 1 >= argc)
            return sim_usage_error("chamber: option %s needs a value", opt);
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
                    return sim_usage_error("chamber: %s needs a number", opt);
                matched = 1;
            }
        }
        if (matched)
            continue;
        uint64_t u;
        if (strcmp(opt, "--seed") == 0) {
            if (sim_parse_u64(val, UINT64_MAX, &u) != 0)
                return sim_usage_error("chamber: --seed must be a non-negative integer, not '%s'", val);
            params.seed = u;
        } else if (strcmp(opt, "--serial") == 0) {
            if (sim_parse_u64(val, UINT32_MAX, &u) != 0)
                return sim_usage_error("chamber: --serial must be 0..4294967295, not '%s'", val);
            params.serial_number = (uint32_t)u;
        } else if (strcmp(opt, "--cal-date") == 0) {
            if (sim_parse_date(val, &params.cal_year, &params.cal_month, &params.cal_day) != 0)
                return sim_usage_error("chamber: --cal-date must be YYYY-MM-DD, not '%s'", val);
        } else {
            return sim_usage_error("chamber: unknown option '%s'", opt);
        }
    }
    if (!bus.tcp && !bus.rtu)
        return sim_usage_error("chamber: %s is required", "--tcp HOST:PORT or --rtu PTY|auto");
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
