/*
 * sim_cli.h — the option loop every Modbus instrument of `polydaq-sim` shares: --help, the line
 * options (sim_bus), numeric model options from a table, the identity options every instrument
 * has (--seed, --serial, --cal-date), one optional flag, and a hook for what is the instrument's own.
 */
#ifndef SIM_CLI_H
#define SIM_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "mbslave/hal/host/sim_args.h"
#include "mbslave/hal/host/sim_bus.h"

struct sim_cli_double {
    const char *option; /* "--tau" */
    double *target;     /* any finite number; the model's init checks the range */
};

struct sim_cli {
    const char *who;        /* "chamber": names the instrument in messages */
    const char *usage_head; /* --help: head, then sim_bus_usage, then tail */
    const char *usage_tail;
    struct sim_bus_options *bus;
    const struct sim_cli_double *doubles;
    size_t n_doubles;
    uint64_t *seed;    /* --seed; NULL: not an option of this instrument */
    uint32_t *serial;  /* --serial */
    uint16_t *cal_year, *cal_month, *cal_day; /* --cal-date */
    const char *flag;  /* an option without a value (e.g. "--standby") setting *flag_target */
    int *flag_target;
    int flag_value;
    /* Options none of the above take: returns 1 (taken), 0 (unknown) or SIM_EXIT_USAGE after
     * printing the reason. NULL: every other option is unknown. */
    int (*own_option)(void *ctx, const char *opt, const char *val);
    void *own_ctx;
};

#define SIM_CLI_SERVE (-1)

/* Parses argv (after the instrument's name). Returns SIM_CLI_SERVE when the simulator should
 * serve, else the exit status: 0 after --help, SIM_EXIT_USAGE after a usage error on stderr
 * (also when neither --tcp nor --rtu is given). */
int sim_cli_parse(const struct sim_cli *cli, int argc, char **argv);

#endif /* SIM_CLI_H */
