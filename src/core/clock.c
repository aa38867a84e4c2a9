/* clock.c — monotonic and UTC clocks, absolute-deadline sleep, ISO 8601 formatting, time base. */
#include "core/core.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

static int64_t ts_ns(const struct timespec *ts) { return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec; }

int64_t pd_clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts_ns(&ts);
}

int64_t pd_clock_utc_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts_ns(&ts);
}

void pd_clock_sleep_until_mono(int64_t deadline_ns)
{
    struct timespec ts = {.tv_sec = deadline_ns / 1000000000LL, .tv_nsec = deadline_ns % 1000000000LL};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

void pd_clock_sleep_ns(int64_t ns)
{
    if (ns > 0)
        pd_clock_sleep_until_mono(pd_clock_mono_ns() + ns);
}

void pd_time_format_iso8601(int64_t utc_ns, char *buf, size_t size)
{
    int64_t sec = utc_ns / 1000000000LL;
    int64_t frac = utc_ns % 1000000000LL;
    if (frac < 0) {
        frac += 1000000000LL;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)frac);
}

void pd_timebase_init(struct pd_timebase *tb)
{
    /* Bracket the realtime reading between two monotonic ones and take the midpoint, so the pair
     * is consistent to within the (tiny) read time. */
    int64_t m1 = pd_clock_mono_ns();
    int64_t u = pd_clock_utc_ns();
    int64_t m2 = pd_clock_mono_ns();
    tb->mono0_ns = m1 + (m2 - m1) / 2;
    tb->utc0_ns = u;
}

int64_t pd_timebase_utc(const struct pd_timebase *tb, int64_t mono_ns)
{
    return tb->utc0_ns + (mono_ns - tb->mono0_ns);
}

int64_t pd_timebase_step_ns(const struct pd_timebase *tb)
{
    int64_t m = pd_clock_mono_ns();
    return pd_clock_utc_ns() - pd_timebase_utc(tb, m);
}
