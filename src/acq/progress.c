/* progress.c — what the technician sees on stderr during a run: a live line on a terminal (rate
 * achieved per instrument, latest values with units, errors, elapsed time, current specimen), one
 * line per specimen otherwise. */
#include <stdio.h>

#include "acq/acq_internal.h"

/* Rates over the interval since the previous display, so a stall or a slowdown shows at once. */
static void update_rates(struct run *run, int64_t now)
{
    double dt = (double)(now - run->progress_prev_t) / 1e9;
    for (size_t i = 0; i < run->n_buses; i++) {
        uint64_t n = atomic_load(&run->buses[i].n_readings);
        if (run->progress_prev_t == 0)
            run->progress_rate[i] = (double)n / ((double)(now - run->tb.mono0_ns) / 1e9);
        else if (dt > 0)
            run->progress_rate[i] = (double)(n - run->progress_prev[i]) / dt;
        run->progress_prev[i] = n;
    }
    run->progress_prev_t = now;
}

void acq_show_progress(const struct run *crun, const struct bus *primary, size_t specimen, bool final_line)
{
    (void)primary;
    struct run *run = (struct run *)crun; /* the display keeps its rate state in the run */
    enum pd_acq_progress mode = run->opt->progress;
    if (mode == PD_ACQ_PROGRESS_NONE || (mode == PD_ACQ_PROGRESS_LINES && !final_line))
        return;
    int64_t now = pd_clock_mono_ns();
    double elapsed = (double)(now - run->tb.mono0_ns) / 1e9;
    if (final_line) {
        for (size_t i = 0; i < run->n_buses; i++)
            run->progress_rate[i] = elapsed > 0 ? (double)atomic_load(&run->buses[i].n_readings) / elapsed : 0;
    } else if (now - run->progress_prev_t >= 500 * 1000000LL) {
        update_rates(run, now);
    }
    fprintf(stderr, "%sspecimen %zu/%ld  %02d:%02d:%04.1f", mode == PD_ACQ_PROGRESS_LIVE ? "\r" : "", specimen,
            run->cfg->specimens, (int)(elapsed / 3600), (int)(elapsed / 60) % 60,
            elapsed - 60.0 * (double)(long)(elapsed / 60));
    for (size_t i = 0; i < run->n_buses; i++) {
        struct bus *b = &run->buses[i];
        struct pd_reading latest;
        uint64_t seq;
        bool have = acq_bus_latest(b, &latest, &seq);
        pthread_mutex_lock(&b->lock);
        bool down = b->link_down, failed = b->failed;
        pthread_mutex_unlock(&b->lock);
        fprintf(stderr, "  | %s %.0f/%.4g Hz", b->cfg->name, run->progress_rate[i], 1e9 / (double)b->period_ns);
        if (failed || down)
            fprintf(stderr, " %s", failed ? "FAILED" : "LINK DOWN");
        /* at most the first three channels fit on a line */
        for (size_t c = 0; have && c < b->n_channels && c < 3; c++)
            fprintf(stderr, " %s %.4g%s%s", b->channels[c].name, latest.values[c], b->channels[c].unit[0] ? " " : "",
                    b->channels[c].unit);
        unsigned long long errors = atomic_load(&b->n_errors), lost = atomic_load(&b->n_lost),
                           missed = atomic_load(&b->n_missed_deadlines);
        if (errors || lost || missed)
            fprintf(stderr, " [errors %llu lost %llu late %llu]", errors, lost, missed);
    }
    fputs(final_line ? "\n" : "\033[K", stderr);
    fflush(stderr);
}
