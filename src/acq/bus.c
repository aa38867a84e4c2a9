/* bus.c — one instrument on its own thread: polling on absolute deadlines, the command mailbox,
 * and recovery from link faults by reopening with capped exponential backoff.
 *
 * The bus thread alone touches its driver (a libmodbus context is not thread-safe). It never
 * waits on the disk: readings go into its SPSC sample ring and faults into its event ring, both
 * drained by the writer thread. While the link is down nothing is recorded: the gap stays a gap
 * in the data, with "fault" and "reconnect" events around it. */
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "acq/acq_internal.h"

/* SCHED_FIFO priority of the bus threads: above every normal thread (the writer, the compressor,
 * other programs), low among real-time ones, so the kernel's own stay ahead. */
#define BUS_RT_PRIORITY 10

/* Deadlines are met by the kernel's timer, so the bus thread asks for no timer slack (the default
 * 50 µs is lateness added to every wake-up) and, where permitted (root or CAP_SYS_NICE, as in CI),
 * for SCHED_FIFO so that a wake-up is not queued behind the writer or a compiler. Such a thread is
 * safe only because it never runs without a pause: it sleeps on absolute deadlines or blocks in
 * the driver's I/O (see bus_main: even after a missed deadline it sleeps until the next one). */
static void bus_realtime(void)
{
    static atomic_flag logged = ATOMIC_FLAG_INIT;
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    struct sched_param sp = {.sched_priority = BUS_RT_PRIORITY};
    int rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
    if (rc != 0 && !atomic_flag_test_and_set(&logged))
        pd_log(PD_LOG_INFO, "bus threads run with normal scheduling (SCHED_FIFO not permitted: %s)", strerror(rc));
}

static void bus_event(struct bus *b, const char *kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void bus_event(struct bus *b, const char *kind, const char *fmt, ...)
{
    struct acq_event ev = {.t_mono_ns = pd_clock_mono_ns(), .specimen = atomic_load(&b->active_specimen)};
    pd_strlcpy(ev.kind, kind, sizeof ev.kind);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev.text, sizeof ev.text, fmt, ap);
    va_end(ap);
    if (!pd_ring_push(&b->events, &ev))
        atomic_fetch_add(&b->n_events_lost, 1);
}

/* Hands finished loss records to the writer in order; what the loss ring cannot take waits in a
 * small backlog, and past that is merged into the backlog's last record (the count stays exact). */
static void hand_over_losses(struct bus *b)
{
    size_t done = 0;
    while (done < b->n_backlog && pd_ring_push(&b->losses, &b->backlog[done]))
        done++;
    memmove(b->backlog, b->backlog + done, (b->n_backlog - done) * sizeof b->backlog[0]);
    b->n_backlog -= done;
    if (b->pending.count == 0)
        return;
    if (b->n_backlog == 0 && pd_ring_push(&b->losses, &b->pending)) {
        /* handed over */
    } else if (b->n_backlog < ACQ_LOSS_BACKLOG) {
        b->backlog[b->n_backlog++] = b->pending;
    } else {
        struct acq_loss *last = &b->backlog[ACQ_LOSS_BACKLOG - 1];
        last->last_seq = b->pending.last_seq;
        last->count += b->pending.count;
        last->t_last_mono_ns = b->pending.t_last_mono_ns;
    }
    memset(&b->pending, 0, sizeof b->pending);
}

static void record_loss(struct bus *b, const struct acq_sample *s)
{
    atomic_fetch_add(&b->n_lost, 1); /* counted and recorded in the file, never hidden */
    if (b->pending.count && b->pending.specimen != s->specimen)
        hand_over_losses(b);
    if (b->pending.count == 0) {
        b->pending.specimen = s->specimen;
        b->pending.first_seq = s->seq;
        b->pending.t_first_mono_ns = s->t_mono_ns;
    }
    b->pending.last_seq = s->seq;
    b->pending.t_last_mono_ns = s->t_mono_ns;
    b->pending.count++;
}

size_t acq_bus_take_pending_losses(struct bus *b, struct acq_loss *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n_backlog && n < max; i++)
        out[n++] = b->backlog[i];
    b->n_backlog = 0;
    if (b->pending.count && n < max)
        out[n++] = b->pending;
    memset(&b->pending, 0, sizeof b->pending);
    return n;
}

static int sink_push(void *ctx, const struct pd_reading *r)
{
    struct bus *b = ctx;
    atomic_fetch_add(&b->n_readings, 1);
    atomic_store(&b->last_sample_ns, r->t_mono_ns);
    for (size_t c = 0; c < b->n_channels && c < PD_MAX_CHANNELS; c++)
        if (!(r->quality & PD_Q_UNREAD_CHANNEL(c)))
            b->channel_read_ns[c] = r->t_mono_ns;
    /* The specimen tag is read and the sample queued under the lock acq_bus_set_specimen takes:
     * once that returns, every sample tagged with the old specimen is in the ring (a recording
     * run's file boundary, method_record.c, relies on it). */
    pthread_mutex_lock(&b->lock);
    b->latest = *r;
    b->latest_seq++;
    uint32_t sp = atomic_load(&b->active_specimen);
    if (sp != 0) {
        struct acq_sample s = {.t_mono_ns = r->t_mono_ns, .half_width_ns = r->half_width_ns, .seq = b->next_seq++,
                               .quality = r->quality | (b->info.simulated ? PD_Q_SIMULATED : 0), .specimen = sp};
        memcpy(s.values, r->values, sizeof s.values);
        atomic_fetch_add(&b->n_acquired, 1);
        if (pd_ring_push(&b->ring, &s)) {
            if (b->pending.count || b->n_backlog)
                hand_over_losses(b);
        } else {
            record_loss(b, &s);
        }
    }
    pthread_mutex_unlock(&b->lock);
    return PD_OK;
}

void acq_bus_set_specimen(struct bus *b, uint32_t specimen)
{
    pthread_mutex_lock(&b->lock);
    atomic_store(&b->active_specimen, specimen);
    pthread_mutex_unlock(&b->lock);
}

static void serve_command(struct bus *b)
{
    pthread_mutex_lock(&b->lock);
    /* While the link is down a command waits in the mailbox; acq_bus_command gives up only when
     * the instrument is declared failed. */
    if (!b->cmd_pending || b->link_down) {
        pthread_mutex_unlock(&b->lock);
        return;
    }
    char name[32];
    memcpy(name, b->cmd_name, sizeof name);
    double value = b->cmd_value;
    pthread_mutex_unlock(&b->lock);

    struct pd_err e;
    pd_err_clear(&e);
    int rc = b->drv->control(b->state, name, value, &e);
    /* A garbled or lost reply is retried like a poll would be: the driver has flushed the line.
     * Setpoints are idempotent; a repeated one-shot command the instrument already took shows up
     * as its own answer (e.g. busy), which the method sees. Each failure is counted and logged. */
    for (int attempt = 0; attempt < ACQ_COMMAND_RETRIES && (rc == PD_EPROTO || rc == PD_ETIMEOUT); attempt++) {
        atomic_fetch_add(&b->n_errors, 1);
        pd_log(PD_LOG_WARN, "%s; retrying command '%s'", e.msg, name);
        bus_event(b, "error", "%s (command '%s', retried)", e.msg, name);
        pd_err_clear(&e);
        rc = b->drv->control(b->state, name, value, &e);
    }
    /* A control the driver has no mapping for was never sent: not a failed exchange. */
    if (rc < 0 && rc != PD_EUNSUPPORTED)
        atomic_fetch_add(&b->n_errors, 1);

    pthread_mutex_lock(&b->lock);
    b->cmd_rc = rc;
    b->cmd_err = e;
    b->cmd_pending = false;
    b->cmd_done = true;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}
static void set_failed(struct bus *b, const struct pd_err *why)
{
    pthread_mutex_lock(&b->lock);
    b->failed = true;
    b->fail_err = *why;
    pthread_mutex_unlock(&b->lock);
}

static void set_link_down(struct bus *b, bool down)
{
    pthread_mutex_lock(&b->lock);
    b->link_down = down;
    pthread_mutex_unlock(&b->lock);
}

/* Sleeps until `deadline` (CLOCK_MONOTONIC, on the bus's condition variable), serving a command
 * as soon as one is posted, so commands never wait for a slow poll rate; a quit ends the sleep.
 * One wake-up per poll: waking every few ms to look for commands cost 200 wake-ups a second per
 * instrument, most of a monitoring run's CPU (docs/BENCHMARKS.md "Monitoring"). */
static void sleep_serving(struct bus *b, int64_t deadline)
{
    const struct timespec until = {.tv_sec = (time_t)(deadline / 1000000000LL),
                                   .tv_nsec = (long)(deadline % 1000000000LL)};
    for (;;) {
        pthread_mutex_lock(&b->lock);
        /* a command waits in the mailbox while the link is down (serve_command) */
        while (!(b->cmd_pending && !b->link_down) && !atomic_load(&b->quit) &&
               pthread_cond_timedwait(&b->cond, &b->lock, &until) == 0)
            ; /* woken for something else (a command's completion is broadcast on the same condition) */
        bool command = b->cmd_pending && !b->link_down && !atomic_load(&b->quit);
        pthread_mutex_unlock(&b->lock);
        if (!command)
            return;
        serve_command(b);
    }
}

void acq_bus_init_sync(struct bus *b)
{
    /* Bus threads may run SCHED_FIFO: a normal thread holding their lock (the method thread
     * posting a command) inherits their priority instead of being preempted while holding it. */
    pthread_mutexattr_t lock_attr;
    pthread_mutexattr_init(&lock_attr);
    pthread_mutexattr_setprotocol(&lock_attr, PTHREAD_PRIO_INHERIT);
    pthread_mutex_init(&b->lock, &lock_attr);
    pthread_mutexattr_destroy(&lock_attr);
    /* on CLOCK_MONOTONIC: the bus thread sleeps on it until its next deadline (sleep_serving) */
    pthread_condattr_t cond_attr;
    pthread_condattr_init(&cond_attr);
    pthread_condattr_setclock(&cond_attr, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cond, &cond_attr);
    pthread_condattr_destroy(&cond_attr);
}

void acq_bus_quit(struct bus *b)
{
    pthread_mutex_lock(&b->lock);
    atomic_store(&b->quit, 1);
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

/* Close and reopen until it works, the run ends, or the instrument has been gone too long. */
static void reconnect(struct bus *b, const struct pd_err *cause)
{
    int64_t down_since = pd_clock_mono_ns();
    int64_t backoff = ACQ_BACKOFF_MIN_NS;
    set_link_down(b, true);
    bus_event(b, "fault", "%s", cause->msg);
    pd_log(PD_LOG_WARN, "%s; reconnecting", cause->msg);
    for (;;) {
        b->drv->close(b->state);
        b->opened = false;
        sleep_serving(b, pd_clock_mono_ns() + backoff);
        if (atomic_load(&b->quit))
            return;
        struct pd_instrument_info info = b->info;
        struct pd_err e;
        pd_err_clear(&e);
        if (b->drv->open(b->state, &info, &e) == 0) {
            b->opened = true;
            if (strcmp(info.serial, b->info.serial) != 0 || strcmp(info.firmware, b->info.firmware) != 0)
                bus_event(b, "instrument_changed", "after reconnect: serial '%s' firmware '%s' (was '%s' '%s')",
                          info.serial, info.firmware, b->info.serial, b->info.firmware);
            if (info.simulated && !b->info.simulated) {
                /* From here on its samples carry the simulated bit; the run's flag is set at close. */
                b->info.simulated = 1;
                bus_event(b, "instrument_changed", "after reconnect: the instrument reports itself simulated");
            }
            double down_s = (double)(pd_clock_mono_ns() - down_since) / 1e9;
            bus_event(b, "reconnect", "%s: link restored after %.3f s", b->cfg->name, down_s);
            pd_log(PD_LOG_WARN, "%s: reconnected after %.3f s", b->cfg->name, down_s);
            atomic_fetch_add(&b->n_reconnects, 1);
            set_link_down(b, false);
            return;
        }
        atomic_fetch_add(&b->n_errors, 1);
        if (pd_clock_mono_ns() - down_since > b->give_up_ns) {
            set_failed(b, &e);
            bus_event(b, "failed", "%s (gave up after %.0f s)", e.msg, (double)b->give_up_ns / 1e9);
            return;
        }
        backoff = backoff * 2 > ACQ_BACKOFF_MAX_NS ? ACQ_BACKOFF_MAX_NS : backoff * 2;
    }
}

static void *bus_main(void *arg)
{
    struct bus *b = arg;
    struct pd_sink sink = {.push = sink_push, .ctx = b};
    bus_realtime();
    int64_t next = pd_clock_mono_ns();
    b->poll_due_ns = next;
    atomic_store(&b->last_sample_ns, next);
    for (size_t c = 0; c < PD_MAX_CHANNELS; c++)
        b->channel_read_ns[c] = next;
    int consecutive = 0;
    int last_logged_code = 0, last_logged_device = 0; /* the device's own answer kind (overload, underload...) */
    struct pd_err last_fault; /* the latest failed poll: what the instrument could not deliver */
    pd_err_clear(&last_fault);
    while (!atomic_load(&b->quit)) {
        if (acq_bus_failed(b, NULL)) {
            sleep_serving(b, pd_clock_mono_ns() + 50 * 1000000LL);
            continue;
        }
        serve_command(b);
        struct pd_err e;
        pd_err_clear(&e);
        int rc = b->drv->poll(b->state, &sink, &e);
        if (rc < 0) {
            pthread_mutex_lock(&b->lock); /* for the station's caliper readings (control.c) */
            pd_strlcpy(b->last_error, e.msg, sizeof b->last_error);
            pthread_mutex_unlock(&b->lock);
            atomic_fetch_add(&b->n_errors, 1);
            consecutive++;
            last_fault = e;
            /* An instrument that answers every poll, but never with data (an exception for a
             * mistyped address, a connection closed after every request), fails here; one whose
             * link is down fails in reconnect after reconnect_timeout_s. Checked after a failed
             * poll only, so the first poll after a long outage gets its chance. */
            int64_t silent_ns = pd_clock_mono_ns() - atomic_load(&b->last_sample_ns);
            if (silent_ns > b->no_data_ns) {
                struct pd_err why;
                pd_err_set(&why, rc, b->cfg->name, "no sample for %.1f s (run.no_data_timeout_s): %s",
                           (double)silent_ns / 1e9, last_fault.msg[0] ? last_fault.msg : "no error reported");
                why.device_code = last_fault.device_code;
                bus_event(b, "failed", "%s", why.msg); /* the run's error says it on stderr */
                set_failed(b, &why);
                continue;
            }
            /* Link faults reopen at once; timeouts and garbled frames after a few in a row (the
             * driver has flushed the line); device exceptions and busy are answers, not link faults. */
            bool link = rc == PD_EIO || ((rc == PD_ETIMEOUT || rc == PD_EPROTO) &&
                                         consecutive >= ACQ_ERRORS_BEFORE_RECONNECT);
            /* log each kind of fault once in a row (a change of the device's answer, e.g. overload
             * to underload, is another kind); count every one */
            if (!link && (rc != last_logged_code || e.device_code != last_logged_device)) {
                pd_log(PD_LOG_WARN, "%s", e.msg);
                bus_event(b, "error", "%s", e.msg);
                last_logged_code = rc;
                last_logged_device = e.device_code;
            }
            if (link) {
                reconnect(b, &e);
                consecutive = 0;
                last_logged_code = last_logged_device = 0;
                next = b->poll_due_ns = pd_clock_mono_ns();
                continue;
            }
        } else {
            if (last_logged_code != 0) /* the end of a logged fault is a status change too */
                bus_event(b, "cleared", "%s: answers normally again", b->cfg->name);
            /* A poll that succeeded without a reading (a balance waiting for a stable weight) is
             * an instrument at work too: it keeps the no-data watchdog quiet. */
            int64_t now_ns = pd_clock_mono_ns();
            atomic_store(&b->last_sample_ns, now_ns);
            consecutive = 0;
            last_logged_code = last_logged_device = 0;
            /* A channel whose register block keeps failing (a mistyped address: the device answers
             * every poll with an exception) while the others are read is as dead as a silent
             * instrument: the run must not end "completed" with that channel all NaN. */
            /* Measured up to the latest reading, not to now: an instrument that reports only on a
             * change (a durometer before and between its indentations) delivers no reading for a
             * while, and none of its channels is silent for that (the poll answered). */
            pthread_mutex_lock(&b->lock);
            bool any_reading = b->latest_seq > 0;
            int64_t last_reading_ns = b->latest.t_mono_ns;
            pthread_mutex_unlock(&b->lock);
            for (size_t c = 0; any_reading && c < b->n_channels && c < PD_MAX_CHANNELS; c++) {
                int64_t silent_ns = last_reading_ns - b->channel_read_ns[c];
                if (silent_ns <= b->no_data_ns)
                    continue;
                struct pd_err why;
                pd_err_set(&why, e.code < 0 ? e.code : PD_EIO, b->cfg->name,
                           "no sample for %.1f s from channel %s (run.no_data_timeout_s): %s",
                           (double)silent_ns / 1e9, b->channels[c].name,
                           e.msg[0] ? e.msg : "its request keeps failing");
                why.device_code = e.device_code;
                bus_event(b, "failed", "%s", why.msg);
                set_failed(b, &why);
                break;
            }
        }
        next += b->period_ns;
        int64_t now = pd_clock_mono_ns();
        if (next < now) {
            /* Deadlines missed: count every one, and go on with the first one still ahead, on the
             * same grid, instead of bursting or polling again at once (no path without a sleep). */
            uint64_t missed = (uint64_t)((now - next) / b->period_ns) + 1;
            atomic_fetch_add(&b->n_missed_deadlines, missed);
            next += (int64_t)missed * b->period_ns;
        }
        b->poll_due_ns = next;
        sleep_serving(b, next);
    }
    return NULL;
}

int acq_bus_command(struct bus *b, const char *name, double value, struct pd_err *err)
{
    pthread_mutex_lock(&b->lock);
    pd_strlcpy(b->cmd_name, name, sizeof b->cmd_name);
    b->cmd_value = value;
    b->cmd_pending = true;
    b->cmd_done = false;
    pthread_cond_broadcast(&b->cond); /* the bus thread, asleep until its next poll */
    int64_t deadline = pd_clock_mono_ns() + ACQ_COMMAND_TIMEOUT_NS;
    while (!b->cmd_done) {
        if (b->failed) {
            b->cmd_pending = false;
            if (err)
                *err = b->fail_err;
            int code = b->fail_err.code ? b->fail_err.code : PD_EIO;
            pthread_mutex_unlock(&b->lock);
            return code;
        }
        /* time spent waiting for a lost link to come back does not count against the command */
        if (b->link_down)
            deadline = pd_clock_mono_ns() + ACQ_COMMAND_TIMEOUT_NS;
        if (pd_clock_mono_ns() > deadline) {
            b->cmd_pending = false;
            pthread_mutex_unlock(&b->lock);
            return pd_err_set(err, PD_ETIMEOUT, b->cfg->name, "command '%s' was not carried out in time", name);
        }
        pthread_mutex_unlock(&b->lock);
        pd_clock_sleep_ns(1000000);
        pthread_mutex_lock(&b->lock);
    }
    int rc = b->cmd_rc;
    if (rc < 0 && err)
        *err = b->cmd_err;
    pthread_mutex_unlock(&b->lock);
    return rc;
}

int acq_bus_command_optional(struct bus *b, const char *name, double value, struct pd_err *err)
{
    struct pd_err e;
    pd_err_clear(&e);
    int rc = acq_bus_command(b, name, value, &e);
    if (rc == PD_EUNSUPPORTED) {
        bool known = false;
        for (size_t i = 0; i < b->n_unmapped && !known; i++)
            known = strcmp(b->unmapped[i], name) == 0;
        if (!known && b->n_unmapped < sizeof b->unmapped / sizeof b->unmapped[0])
            pd_strlcpy(b->unmapped[b->n_unmapped++], name, sizeof b->unmapped[0]);
        return PD_OK;
    }
    if (rc < 0 && err)
        *err = e;
    return rc;
}

void acq_bus_report_unmapped(struct run *run, struct bus *b)
{
    if (b->n_unmapped_reported == b->n_unmapped)
        return;
    char list[8 * 34] = "";
    size_t off = 0;
    for (size_t i = b->n_unmapped_reported; i < b->n_unmapped; i++) /* 8 names < 32 bytes fit */
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "", b->unmapped[i]);
    b->n_unmapped_reported = b->n_unmapped;
    pd_log(PD_LOG_WARN, "%s: optional controls not in its map, left as the instrument has them: %s", b->cfg->name,
           list);
    char text[400];
    snprintf(text, sizeof text, "%s: %s", b->cfg->name, list);
    acq_run_event(run, SIZE_MAX, "unmapped_controls", text);
}

bool acq_bus_latest(struct bus *b, struct pd_reading *out, uint64_t *seq)
{
    pthread_mutex_lock(&b->lock);
    bool have = b->latest_seq > 0;
    *out = b->latest;
    *seq = b->latest_seq;
    pthread_mutex_unlock(&b->lock);
    return have;
}

bool acq_bus_failed(struct bus *b, struct pd_err *err)
{
    pthread_mutex_lock(&b->lock);
    bool f = b->failed;
    if (f && err)
        *err = b->fail_err;
    pthread_mutex_unlock(&b->lock);
    return f;
}

int acq_bus_find_channel(const struct bus *b, const char *name)
{
    for (size_t c = 0; c < b->n_channels; c++)
        if (strcmp(b->channels[c].name, name) == 0)
            return (int)c;
    return -1;
}

size_t acq_ring_for_rate(double rate_hz)
{
    size_t slots = ACQ_RING_MIN_CAPACITY;
    while (slots < ACQ_RING_CAPACITY && (double)slots < rate_hz * ACQ_RING_SECONDS)
        slots *= 2;
    return slots;
}

int acq_bus_open(struct bus *b, const struct pd_acq_config *cfg, const char *sim_dir, size_t ring_capacity,
                 struct pd_err *err)
{
    const struct pd_acq_instrument_config *ic = b->cfg;
    b->drv = pd_driver_find(ic->driver);
    int rc = b->drv->create(ic->node, &b->state, err);
    if (rc < 0)
        return rc;
    if (ic->sim_program[0]) {
        const char *transport = pd_cfg_scalar(pd_cfg_map_get(ic->node, "transport"));
        rc = pd_sim_start(ic, transport ? transport : "", sim_dir, 5000, &b->sim, err);
        if (rc < 0)
            return rc;
        if (!b->drv->set_transport)
            return pd_err_set(err, PD_EUNSUPPORTED, ic->name, "driver %s cannot be pointed at a simulator",
                              ic->driver);
        if ((rc = b->drv->set_transport(b->state, b->sim.address, err)) < 0)
            return rc;
    }
    memset(&b->info, 0, sizeof b->info);
    pd_strlcpy(b->info.model, ic->model, sizeof b->info.model);
    pd_strlcpy(b->info.serial, ic->serial, sizeof b->info.serial);
    pd_strlcpy(b->info.calibration_date, ic->calibration_date, sizeof b->info.calibration_date);
    pd_strlcpy(b->info.calibration_due, ic->calibration_due, sizeof b->info.calibration_due);
    pd_strlcpy(b->info.calibration_id, ic->calibration_id, sizeof b->info.calibration_id);
    b->info.simulated = ic->sim_program[0] != 0;
    if ((rc = b->drv->open(b->state, &b->info, err)) < 0)
        return rc;
    b->opened = true;
    b->n_channels = b->drv->channels(b->state, &b->channels);
    b->period_ns = (int64_t)(1e9 / (ic->poll_rate_hz > 0 ? ic->poll_rate_hz : cfg->poll_rate_hz));
    b->give_up_ns = (int64_t)(cfg->reconnect_timeout_s * 1e9);
    /* at least two poll periods, so a slow instrument is not failed between two polls */
    b->no_data_ns = (int64_t)(cfg->no_data_timeout_s * 1e9);
    if (b->no_data_ns < 2 * b->period_ns)
        b->no_data_ns = 2 * b->period_ns;
    if (ring_capacity == 0)
        ring_capacity = acq_ring_for_rate(1e9 / (double)b->period_ns);
    if ((rc = pd_ring_init(&b->ring, acq_sample_size(b->n_channels), ring_capacity)) < 0 ||
        (rc = pd_ring_init(&b->events, sizeof(struct acq_event), ACQ_EVENT_RING_CAPACITY)) < 0 ||
        (rc = pd_ring_init(&b->losses, sizeof(struct acq_loss), ACQ_LOSS_RING_CAPACITY)) < 0)
        return pd_err_set(err, rc, ic->name, "cannot allocate the sample rings");
    b->ring_capacity = pd_ring_capacity(&b->ring);
    return PD_OK;
}

int acq_bus_start(struct bus *b, struct pd_err *err)
{
    if (pthread_create(&b->thread, NULL, bus_main, b) != 0)
        return pd_err_set(err, PD_ENOMEM, b->cfg->name, "cannot start the bus thread");
    b->thread_started = true;
    return PD_OK;
}

void acq_bus_close(struct bus *b)
{
    if (b->thread_started) {
        acq_bus_quit(b);
        pthread_join(b->thread, NULL);
        b->thread_started = false;
    }
    if (b->drv && b->state) {
        if (b->opened)
            b->drv->close(b->state);
        b->drv->destroy(b->state);
        b->state = NULL;
    }
    pd_sim_stop(&b->sim);
    pd_ring_close(&b->ring);
    pd_ring_close(&b->events);
    pd_ring_close(&b->losses);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->cond);
}
