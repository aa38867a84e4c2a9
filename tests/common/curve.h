/* curve.h — a force/extension recording that tests build sample by sample (synthetic or simulated
 * specimens for the tensile and flexural evaluations): two growable columns of equal length. */
#ifndef PD_TEST_CURVE_H
#define PD_TEST_CURVE_H

#include <stddef.h>

struct pd_test_curve {
    double *force, *ext; /* N and mm, n samples each */
    size_t n, cap;       /* zero-initialised: empty */
};

/* Appends one sample; 0, or -1 when memory runs out (then the curve is as it was). */
int pd_test_curve_add(struct pd_test_curve *c, double force, double ext);
/* Frees the columns and leaves the curve empty. */
void pd_test_curve_free(struct pd_test_curve *c);

#endif
