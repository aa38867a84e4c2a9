/*
 * sim_args.h — command-line value parsing shared by the simulated instruments of `polydaq-sim`:
 * strict numbers (no trailing text, no overflow), dates, and the usage-error message format.
 */
#ifndef SIM_ARGS_H
#define SIM_ARGS_H

#include <stdint.h>

#define SIM_EXIT_USAGE 2

/* Prints "polydaq-sim: " + fmt (one %s for arg) + " (see --help)" on stderr; returns SIM_EXIT_USAGE. */
int sim_usage_error(const char *fmt, const char *arg);
/* A finite double, the whole string. 0 or -1. */
int sim_parse_double(const char *s, double *out);
/* A decimal integer 0..max, the whole string (no sign, no spaces). 0 or -1. */
int sim_parse_u64(const char *s, uint64_t max, uint64_t *out);
/* YYYY-MM-DD with a plausible year (1970..9999), month and day. 0 or -1. */
int sim_parse_date(const char *s, uint16_t *year, uint16_t *month, uint16_t *day);

#endif /* SIM_ARGS_H */
