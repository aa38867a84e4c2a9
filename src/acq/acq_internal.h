/* acq_internal.h — private to src/acq: simulator processes started for a run. */
#ifndef PD_ACQ_INTERNAL_H
#define PD_ACQ_INTERNAL_H

#include <sys/types.h>

#include "acq/acq.h"

struct pd_sim_process {
    pid_t pid;
    char address[128]; /* "tcp://127.0.0.1:40123" as the simulator reported it */
};

/* Starts the instrument's simulator with `--tcp HOST:PORT` taken from `transport`
 * ("tcp://HOST:PORT", port 0 = let it choose) and waits up to `timeout_ms` for its
 * "listening <address>" line. */
int pd_sim_start(const struct pd_acq_instrument_config *ic, const char *transport, const char *sim_dir,
                 int timeout_ms, struct pd_sim_process *out, struct pd_err *err);
/* SIGTERM, wait up to 2 s, then SIGKILL; reaps the process. */
void pd_sim_stop(struct pd_sim_process *sim);

#endif
