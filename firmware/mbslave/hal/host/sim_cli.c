/* sim_cli.c — the shared option loop of the Modbus instruments of polydaq-sim. */
#include "mbslave/hal/host/sim_cli.h"

#include <stdio.h>
#include <string.h>

#include "mbslave/hal/host/sim_args.h"

/* sim_usage_error takes one %s; the instrument's name goes in first. */
static int usage(const struct sim_cli *cli, const char *what, const char *arg)
{
    char fmt[160];
    snprintf(fmt, sizeof fmt, "%s: %s", cli->who, what);
    return sim_usage_error(fmt, arg);
}

static int take_double(const struct sim_cli *cli, const char *opt, const char *val)
{
    for (size_t k = 0; k < cli->n_doubles; k++)
        if (strcmp(opt, cli->doubles[k].option) == 0) {
            if (sim_parse_double(val, cli->doubles[k].target) != 0)
                return usage(cli, "%s needs a number", opt);
            return 1;
        }
    return 0;
}

static int take_identity(const struct sim_cli *cli, const char *opt, const char *val)
{
    uint64_t u;
    if (cli->seed && strcmp(opt, "--seed") == 0) {
        if (sim_parse_u64(val, UINT64_MAX, &u) != 0)
            return usage(cli, "--seed must be a non-negative integer, not '%s'", val);
        *cli->seed = u;
        return 1;
    }
    if (cli->serial && strcmp(opt, "--serial") == 0) {
        if (sim_parse_u64(val, UINT32_MAX, &u) != 0)
            return usage(cli, "--serial must be 0..4294967295, not '%s'", val);
        *cli->serial = (uint32_t)u;
        return 1;
    }
    if (cli->cal_year && strcmp(opt, "--cal-date") == 0) {
        if (sim_parse_date(val, cli->cal_year, cli->cal_month, cli->cal_day) != 0)
            return usage(cli, "--cal-date must be YYYY-MM-DD, not '%s'", val);
        return 1;
    }
    return 0;
}

int sim_cli_parse(const struct sim_cli *cli, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            fputs(cli->usage_head, stdout);
            fputs(sim_bus_usage, stdout);
            fputs(cli->usage_tail, stdout);
            return 0;
        }
        if (cli->flag && strcmp(opt, cli->flag) == 0) {
            *cli->flag_target = cli->flag_value;
            continue;
        }
        if (strncmp(opt, "--", 2) != 0)
            return usage(cli, "unexpected argument '%s'", opt);
        if (i + 1 >= argc)
            return usage(cli, "option %s needs a value", opt);
        const char *val = argv[++i];
        int taken = sim_bus_option(cli->bus, opt, val);
        if (taken == 0)
            taken = take_double(cli, opt, val);
        if (taken == 0)
            taken = take_identity(cli, opt, val);
        if (taken == 0 && cli->own_option)
            taken = cli->own_option(cli->own_ctx, opt, val);
        if (taken == SIM_EXIT_USAGE)
            return SIM_EXIT_USAGE;
        if (taken == 0)
            return usage(cli, "unknown option '%s'", opt);
    }
    if (!cli->bus->tcp && !cli->bus->rtu)
        return usage(cli, "%s is required", "--tcp HOST:PORT or --rtu PTY|auto");
    return SIM_CLI_SERVE;
}
