/* loop.c — catches the frame's measurement cycles up with the hal clock (scaled instrument time). */
#include "loadframe/core/loop.h"

static int frame_is_moving(const struct lf_frame *f)
{
    return f->status == LF_STATUS_RUNNING || f->status == LF_STATUS_RETURNING;
}

void lf_step(struct lf_frame *f, uint64_t now_us)
{
    if (!f->clock_started) {
        f->clock_started = 1;
        f->clock_origin_us = now_us;
        f->cycles_done = 0;
        return;
    }
    if (now_us < f->clock_origin_us)
        return;
    double instrument_us = (double)(now_us - f->clock_origin_us) * f->params.time_scale;
    uint64_t target = (uint64_t)(instrument_us / (double)LF_CYCLE_US);
    if (target <= f->cycles_done)
        return;
    uint64_t due = target - f->cycles_done;
    while (due > 0) {
        /* A frame at rest only counts samples; after a long idle spell, skip to the last cycle
         * instead of simulating millions of identical ones. */
        if (!frame_is_moving(f) && due > 1) {
            f->sample_counter += (uint32_t)(due - 1);
            due = 1;
        }
        lf_frame_cycle(f);
        due--;
    }
    f->cycles_done = target;
}
