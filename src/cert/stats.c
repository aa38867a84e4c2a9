/* stats.c — series statistics over one property: n, mean, standard deviation (n − 1), CV, range. */
#include <math.h>

#include "cert/cert.h"

int pd_stats_compute(const double *x, size_t n, struct pd_stats *out)
{
    if (!x || n == 0 || !out)
        return PD_EINVAL;
    double sum = 0.0, lo = x[0], hi = x[0];
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return PD_EDATA;
        sum += x[i];
        if (x[i] < lo)
            lo = x[i];
        if (x[i] > hi)
            hi = x[i];
    }
    double mean = sum / (double)n;
    /* Deviations from the mean rather than Σx² − n·x̄², which cancels badly for values like
     * 40.04 ± 0.3. */
    double ss = 0.0;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - mean) * (x[i] - mean);
    double sd = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
    out->n = n;
    out->mean = mean;
    out->sd = sd;
    out->cv = mean != 0.0 ? sd / mean : 0.0;
    out->min = lo;
    out->max = hi;
    return 0;
}
