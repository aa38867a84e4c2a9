/* main.c — `polydaq-sim`: picks the simulated instrument named by the first argument. */
#include <stdio.h>
#include <string.h>

#include "sim/sim.h"

static const struct sim_instrument *const instruments[] = {
    &sim_loadframe,
    &sim_balance,
    &sim_durometer,
    &sim_mfi,
    &sim_chamber,
    &sim_pendulum,
    &sim_caliper,
};

#define N_INSTRUMENTS (sizeof instruments / sizeof instruments[0])

static void print_usage(FILE *f)
{
    fputs("usage: polydaq-sim INSTRUMENT [OPTIONS]\n"
          "Simulated polydaq instruments (the host build of their firmware).\n\ninstruments:\n", f);
    for (size_t i = 0; i < N_INSTRUMENTS; i++)
        fprintf(f, "  %-11s %s (see `polydaq-sim %s --help`)\n", instruments[i]->name, instruments[i]->summary,
                instruments[i]->name);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("polydaq-sim: no instrument given (see --help)\n", stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < N_INSTRUMENTS; i++)
        if (strcmp(argv[1], instruments[i]->name) == 0)
            return instruments[i]->main(argc - 2, argv + 2);
    fprintf(stderr, "polydaq-sim: unknown instrument '%s' (see --help)\n", argv[1]);
    return 2;
}
