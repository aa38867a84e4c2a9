/* sim.h — the simulated instruments of `polydaq-sim`: each instrument's host build exports one
 * entry, and firmware/sim/main.c lists them in its table. */
#ifndef SIM_SIM_H
#define SIM_SIM_H

struct sim_instrument {
    const char *name;    /* the subcommand: `polydaq-sim NAME ...` */
    const char *summary; /* one line for `polydaq-sim --help` */
    /* argv[0] is the first option after NAME; returns the exit status (0 ok, 1 failure, 2 usage). */
    int (*main)(int argc, char **argv);
};

extern const struct sim_instrument sim_loadframe;
extern const struct sim_instrument sim_balance;
extern const struct sim_instrument sim_durometer;
extern const struct sim_instrument sim_mfi;
extern const struct sim_instrument sim_chamber;
extern const struct sim_instrument sim_pendulum;
extern const struct sim_instrument sim_caliper;

#endif
