/* progress.c — what the technician sees on stderr during a run: a live line on a terminal, one
 * line per specimen otherwise. */
#include <stdio.h>

#include "acq/acq_internal.h"

void acq_show_progress(const struct run *run, const struct bus *primary, size_t specimen, bool final_line)
{
    enum pd_acq_progress mode = run->opt->progress;
    if (mode == PD_ACQ_PROGRESS_NONE || (mode == PD_ACQ_PROGRESS_LINES && !final_line))
        return;
    struct pd_reading r;
    uint64_t seq;
    acq_bus_latest((struct bus *)primary, &r, &seq);
    double elapsed = (double)(pd_clock_mono_ns() - run->tb.mono0_ns) / 1e9;
    fprintf(stderr, "%sspecimen %zu/%ld  %.1f s", mode == PD_ACQ_PROGRESS_LIVE ? "\r" : "", specimen,
            run->cfg->specimens, elapsed);
    for (size_t i = 0; i < run->n_buses; i++) {
        const struct bus *b = &run->buses[i];
        double rate = elapsed > 0 ? (double)atomic_load(&b->n_readings) / elapsed : 0;
        struct pd_reading latest;
        acq_bus_latest((struct bus *)b, &latest, &seq);
        fprintf(stderr, "  | %s %.0f Hz", b->cfg->name, rate);
        /* at most the first three channels fit on a line */
        for (size_t c = 0; c < b->n_channels && c < 3; c++)
            fprintf(stderr, " %s %.4g%s%s", b->channels[c].name, latest.values[c], b->channels[c].unit[0] ? " " : "",
                    b->channels[c].unit);
        unsigned long long errors = atomic_load(&b->n_errors), lost = atomic_load(&b->n_lost);
        if (errors || lost)
            fprintf(stderr, " errors %llu lost %llu", errors, lost);
    }
    fputs(final_line ? "\n" : "\033[K", stderr);
    fflush(stderr);
}
