/* writer.c — the writer thread: drains every bus's sample and event rings into the run file in
 * batches, records ring overruns as events, and flushes on a fixed period. It alone appends
 * samples; the method thread adds events and status under the same store lock. */
#include <stdio.h>
#include <string.h>

#include "acq/acq_internal.h"

int acq_run_event(struct run *run, size_t specimen, const char *kind, const char *text)
{
    struct pd_err e;
    int64_t t = pd_timebase_utc(&run->tb, pd_clock_mono_ns());
    pthread_mutex_lock(&run->store_lock);
    int rc = pd_store_add_event(run->store, specimen, t, kind, text, &e);
    pthread_mutex_unlock(&run->store_lock);
    if (rc < 0)
        pd_log(PD_LOG_ERROR, "%s", e.msg);
    return rc;
}

void acq_set_status(struct run *run, size_t specimen, const char *status)
{
    struct pd_err e;
    struct pd_store_attr a = {.key = "status", .type = PD_STORE_STRING, .s = status};
    pthread_mutex_lock(&run->store_lock);
    int rc = pd_store_set_specimen_attr(run->store, specimen, &a, &e);
    pthread_mutex_unlock(&run->store_lock);
    if (rc < 0)
        pd_log(PD_LOG_ERROR, "%s", e.msg);
}

/* Appends a drained batch, split where the specimen changes. */
static int write_batch(struct run *run, size_t bus_index, const struct acq_sample *s, size_t n, struct pd_err *err)
{
    struct bus *b = &run->buses[bus_index];
    size_t start = 0;
    while (start < n) {
        size_t end = start;
        while (end < n && s[end].specimen == s[start].specimen)
            end++;
        size_t m = end - start;
        for (size_t i = 0; i < m; i++) {
            const struct acq_sample *x = &s[start + i];
            run->t[i] = pd_timebase_utc(&run->tb, x->t_mono_ns);
            run->unc[i] = x->half_width_ns;
            run->q[i] = x->quality;
            memcpy(&run->v[i * b->n_channels], x->values, b->n_channels * sizeof(double));
        }
        pthread_mutex_lock(&run->store_lock);
        int rc = pd_store_append(run->store, s[start].specimen - 1, bus_index, m, run->t, run->unc, run->q,
                                 run->v, err);
        pthread_mutex_unlock(&run->store_lock);
        if (rc < 0)
            return rc;
        atomic_fetch_add(&b->n_written, m);
        start = end;
    }
    return PD_OK;
}

static void drain_events(struct run *run, struct bus *b)
{
    struct acq_event ev;
    while (pd_ring_pop(&b->events, &ev, 1) == 1) {
        size_t specimen = ev.specimen ? ev.specimen - 1 : SIZE_MAX;
        struct pd_err e;
        pthread_mutex_lock(&run->store_lock);
        int rc = pd_store_add_event(run->store, specimen, pd_timebase_utc(&run->tb, ev.t_mono_ns), ev.kind, ev.text,
                                    &e);
        pthread_mutex_unlock(&run->store_lock);
        if (rc < 0)
            pd_log(PD_LOG_ERROR, "%s", e.msg);
    }
}

int acq_writer_drain(struct run *run, struct pd_err *err)
{
    for (size_t i = 0; i < run->n_buses; i++) {
        struct bus *b = &run->buses[i];
        size_t n;
        while ((n = pd_ring_pop(&b->ring, run->batch, ACQ_WRITER_BATCH)) > 0) {
            int rc = write_batch(run, i, run->batch, n, err);
            if (rc < 0)
                return rc;
        }
        drain_events(run, b);
        uint64_t lost = atomic_load(&b->n_lost);
        if (lost > b->lost_reported) {
            char text[160];
            snprintf(text, sizeof text, "%s: %llu samples lost (ring full: the writer fell behind)", b->cfg->name,
                     (unsigned long long)(lost - b->lost_reported));
            acq_run_event(run, SIZE_MAX, "overrun", text);
            b->lost_reported = lost;
        }
    }
    return PD_OK;
}

void *acq_writer_main(void *arg)
{
    struct run *run = arg;
    int64_t next_flush = pd_clock_mono_ns() + ACQ_FLUSH_PERIOD_NS;
    for (;;) {
        bool quitting = atomic_load(&run->writer_quit);
        int rc = acq_writer_drain(run, &run->writer_err);
        if (rc == PD_OK && pd_clock_mono_ns() >= next_flush) {
            pthread_mutex_lock(&run->store_lock);
            rc = pd_store_flush(run->store, &run->writer_err);
            pthread_mutex_unlock(&run->store_lock);
            next_flush += ACQ_FLUSH_PERIOD_NS;
        }
        if (rc < 0) {
            pd_log(PD_LOG_ERROR, "%s", run->writer_err.msg);
            atomic_store(&run->writer_rc, rc); /* published after writer_err is complete */
            return NULL;
        }
        if (quitting)
            return NULL;
        pd_clock_sleep_ns(ACQ_WRITER_PERIOD_NS);
    }
}
