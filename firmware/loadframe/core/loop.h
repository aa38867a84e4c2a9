/*
 * loop.h — the firmware main loop's time keeping: turns the hal's clock into whole measurement
 * cycles of instrument time (hal time × the time scale) and runs them.
 */
#ifndef LF_LOOP_H
#define LF_LOOP_H

#include <stdint.h>

#include "loadframe/core/model.h"

/* Runs every cycle due up to `now_us` (a monotonic hal clock in µs). The first call only sets the
 * time origin. A clock reading that goes backwards is ignored. */
void lf_step(struct lf_frame *frame, uint64_t now_us);

#endif /* LF_LOOP_H */
