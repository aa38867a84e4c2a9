/* sim_args.c — strict parsing of polydaq-sim option values and the usage-error message. */
#include "mbslave/hal/host/sim_args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sim_usage_error(const char *fmt, const char *arg)
{
    fputs("polydaq-sim: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (see --help)\n", stderr);
    return SIM_EXIT_USAGE;
}

int sim_parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int sim_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return -1; /* strtoull would accept "-1" and " 1" */
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || errno == ERANGE || v > max)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int sim_parse_date(const char *s, uint16_t *year, uint16_t *month, uint16_t *day)
{
    unsigned y, m, d;
    char tail;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || sscanf(s, "%4u-%2u-%2u%c", &y, &m, &d, &tail) != 3)
        return -1;
    if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    *year = (uint16_t)y;
    *month = (uint16_t)m;
    *day = (uint16_t)d;
    return 0;
}
