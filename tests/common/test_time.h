/* test_time.h — response timeouts for tests that race a peer thread or process, stretched by
 * PD_TEST_TIME_SCALE (an integer factor, default 1). Under valgrind a peer thread may need far longer
 * than its 100–150 ms to answer, which is the machine's speed, not the code's; `tools/dev test`
 * sets the factor for its valgrind pass. Timing itself is never asserted. */
#ifndef PD_TEST_TIME_H
#define PD_TEST_TIME_H

#include <stdlib.h>

static inline int pd_test_ms(int ms)
{
    const char *s = getenv("PD_TEST_TIME_SCALE");
    long k = s ? strtol(s, NULL, 10) : 1;
    if (k < 1 || k > 100)
        k = 1;
    return (int)(ms * k);
}

#endif
