/* noise.c — reproducible measurement noise for synthetic test curves (see noise.h). */
#include "common/noise.h"

#include <math.h>

double pd_test_uniform01(struct pd_test_rng *r)
{
    r->state = r->state * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((double)(r->state >> 11) + 0.5) / 9007199254740992.0;
}

double pd_test_gaussian(struct pd_test_rng *r)
{
    return sqrt(-2.0 * log(pd_test_uniform01(r))) * cos(2.0 * M_PI * pd_test_uniform01(r));
}
