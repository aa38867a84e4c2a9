/* TEMPORARY timeline probes (not to be committed). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
static inline void pd_probe(const char *what)
{
    static int on = -1;
    if (on < 0) on = getenv("PD_PROBE") != NULL;
    if (!on) return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    fprintf(stderr, "PROBE %ld.%06ld %d %s\n", (long)ts.tv_sec, ts.tv_nsec / 1000, (int)getpid(), what);
}
#include <sys/resource.h>
static inline void pd_probe_cpu(const char *what)
{
    if (!getenv("PD_PROBE")) return;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr, "CPU %d %s user %.2f sys %.2f ms\n", (int)getpid(), what, ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3,
            ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3);
}
