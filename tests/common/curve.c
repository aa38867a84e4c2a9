/* curve.c — a growable force/extension recording for tests (see curve.h). */
#include "common/curve.h"

#include <stdlib.h>
#include <string.h>

int pd_test_curve_add(struct pd_test_curve *c, double force, double ext)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 1024;
        double *f = realloc(c->force, cap * sizeof *f);
        if (!f)
            return -1;
        c->force = f; /* grown; still valid if the next one fails */
        double *x = realloc(c->ext, cap * sizeof *x);
        if (!x)
            return -1;
        c->ext = x;
        c->cap = cap;
    }
    c->force[c->n] = force;
    c->ext[c->n] = ext;
    c->n++;
    return 0;
}

void pd_test_curve_free(struct pd_test_curve *c)
{
    free(c->force);
    free(c->ext);
    memset(c, 0, sizeof *c);
}
