/* run.c — one test series: instruments on their bus threads, the writer thread, and the method
 * sequence on the caller's thread.
 *
 * Threads: each instrument has a bus thread that alone touches its driver (a libmodbus context is
 * not thread-safe); it polls on absolute CLOCK_MONOTONIC deadlines and pushes readings into its
 * own SPSC ring, never waiting on the disk. The writer thread drains the rings into the store.
 * The caller's thread runs the method and talks to a bus thread only through its mailbox
 * (commands) and its published latest reading. */
#include "acq/acq.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acq/acq_internal.h"
#include "driver/driver.h"
#include "pd_version.h"
#include "store/store.h"

#define RING_CAPACITY 65536
#define WRITER_BATCH 1024
#define WRITER_PERIOD_NS (20 * 1000000LL)
#define FLUSH_PERIOD_NS (1000 * 1000000LL)
#define COMMAND_TIMEOUT_NS (5000 * 1000000LL)
#define FAIL_AFTER_NS (3000 * 1000000LL) /* consecutive read failures before the instrument is failed */

struct acq_sample {
    int64_t t_mono_ns;
    int64_t half_width_ns;
    uint32_t quality;
    uint32_t specimen; /* 1-based */
    double values[PD_MAX_CHANNELS];
};

struct bus {
    const struct pd_acq_instrument_config *cfg;
    const struct pd_driver *drv;
    void *state;
    bool opened;
    struct pd_instrument_info info;
    const struct pd_channel_info *channels;
    size_t n_channels;
    struct pd_sim_process sim;
    int64_t period_ns;

    pthread_t thread;
    bool thread_started;
    struct pd_ring ring;
    _Atomic int quit;
    _Atomic uint32_t active_specimen; /* readings are recorded only while non-zero */

    /* mailbox: one command at a time from the method thread */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool cmd_pending, cmd_done;
    char cmd_name[32];
    double cmd_value;
    int cmd_rc;
    struct pd_err cmd_err;

    /* latest reading, published under `lock` */
    struct pd_reading latest;
    uint64_t latest_seq;
    bool failed;
    struct pd_err fail_err;

    _Atomic uint64_t n_readings, n_errors, n_lost, n_missed_deadlines;
    _Atomic uint64_t n_written;
    uint64_t lost_reported; /* writer thread only */
};

struct run {
    const struct pd_acq_config *cfg;
    const struct pd_acq_options *opt;
    struct bus buses[PD_ACQ_MAX_INSTRUMENTS];
    size_t n_buses;
    struct pd_timebase tb;
    struct pd_store *store;
    pthread_mutex_t store_lock; /* the writer thread and the method thread both write events */
    pthread_t writer;
    bool writer_started;
    _Atomic int writer_quit;
    int writer_rc;
    struct pd_err writer_err;
    /* writer-owned scratch (used by whoever drains: the writer thread, then the closer after it) */
    struct acq_sample batch[WRITER_BATCH];
    int64_t t[WRITER_BATCH], unc[WRITER_BATCH];
    uint32_t q[WRITER_BATCH];
    double v[WRITER_BATCH * PD_MAX_CHANNELS];
};

/* ---- bus thread ----------------------------------------------------------------------------*/

static int sink_push(void *ctx, const struct pd_reading *r)
{
    struct bus *b = ctx;
    atomic_fetch_add(&b->n_readings, 1);
    pthread_mutex_lock(&b->lock);
    b->latest = *r;
    b->latest_seq++;
    pthread_mutex_unlock(&b->lock);
    uint32_t sp = atomic_load(&b->active_specimen);
    if (sp == 0)
        return PD_OK;
    struct acq_sample s = {.t_mono_ns = r->t_mono_ns, .half_width_ns = r->half_width_ns,
                           .quality = r->quality | (b->info.simulated ? PD_Q_SIMULATED : 0), .specimen = sp};
    memcpy(s.values, r->values, sizeof s.values);
    if (!pd_ring_push(&b->ring, &s))
        atomic_fetch_add(&b->n_lost, 1); /* counted and recorded by the writer, never hidden */
    return PD_OK;
}

static void bus_serve_command(struct bus *b)
{
    pthread_mutex_lock(&b->lock);
    if (!b->cmd_pending) {
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

    pthread_mutex_lock(&b->lock);
    b->cmd_rc = rc;
    b->cmd_err = e;
    b->cmd_pending = false;
    b->cmd_done = true;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

static void *bus_main(void *arg)
{
    struct bus *b = arg;
    struct pd_sink sink = {.push = sink_push, .ctx = b};
    int64_t next = pd_clock_mono_ns();
    int64_t failing_since = 0;
    int last_logged_code = 0;
    while (!atomic_load(&b->quit)) {
        bus_serve_command(b);
        struct pd_err e;
        pd_err_clear(&e);
        int rc = b->drv->poll(b->state, &sink, &e);
        if (rc < 0) {
            atomic_fetch_add(&b->n_errors, 1);
            int64_t now = pd_clock_mono_ns();
            if (!failing_since)
                failing_since = now;
            if (rc != last_logged_code) { /* log each kind of fault once, count all */
                pd_log(PD_LOG_WARN, "%s", e.msg);
                last_logged_code = rc;
            }
            if (now - failing_since > FAIL_AFTER_NS) {
                pthread_mutex_lock(&b->lock);
                b->failed = true;
                b->fail_err = e;
                pthread_mutex_unlock(&b->lock);
            }
        } else {
            failing_since = 0;
            last_logged_code = 0;
        }
        next += b->period_ns;
        int64_t now = pd_clock_mono_ns();
        if (next < now) {
            /* Deadline missed: count every period skipped, then realign instead of bursting. */
            atomic_fetch_add(&b->n_missed_deadlines, (uint64_t)((now - next) / b->period_ns) + 1);
            next = now;
            continue;
        }
        /* Sleep in slices so commands are served promptly even at low poll rates. */
        while (!atomic_load(&b->quit)) {
            int64_t slice_end = pd_clock_mono_ns() + 5 * 1000000LL;
            if (slice_end >= next) {
                pd_clock_sleep_until_mono(next);
                break;
            }
            pd_clock_sleep_until_mono(slice_end);
            bus_serve_command(b);
        }
    }
    return NULL;
}

/* Sends a named control to the bus thread and waits for it to be carried out. */
static int bus_command(struct bus *b, const char *name, double value, struct pd_err *err)
{
    pthread_mutex_lock(&b->lock);
    pd_strlcpy(b->cmd_name, name, sizeof b->cmd_name);
    b->cmd_value = value;
    b->cmd_pending = true;
    b->cmd_done = false;
    int64_t deadline = pd_clock_mono_ns() + COMMAND_TIMEOUT_NS;
    while (!b->cmd_done) {
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

static bool bus_latest(struct bus *b, struct pd_reading *out, uint64_t *seq)
{
    pthread_mutex_lock(&b->lock);
    bool have = b->latest_seq > 0;
    *out = b->latest;
    *seq = b->latest_seq;
    pthread_mutex_unlock(&b->lock);
    return have;
}

static bool bus_failed(struct bus *b, struct pd_err *err)
{
    pthread_mutex_lock(&b->lock);
    bool f = b->failed;
    if (f && err)
        *err = b->fail_err;
    pthread_mutex_unlock(&b->lock);
    return f;
}

/* ---- writer thread -------------------------------------------------------------------------*/

static int write_event(struct run *run, size_t specimen, int64_t t_utc, const char *kind, const char *text)
{
    struct pd_err e;
    pthread_mutex_lock(&run->store_lock);
    int rc = pd_store_add_event(run->store, specimen, t_utc, kind, text, &e);
    pthread_mutex_unlock(&run->store_lock);
    if (rc < 0)
        pd_log(PD_LOG_ERROR, "%s", e.msg);
    return rc;
}

/* Appends a drained batch, split where the specimen changes. */
static int write_batch(struct run *run, size_t bus_index, const struct acq_sample *s, size_t n, struct pd_err *err)
{
    struct bus *b = &run->buses[bus_index];
    int64_t *t = run->t, *unc = run->unc;
    uint32_t *q = run->q;
    double *v = run->v;
    size_t start = 0;
    while (start < n) {
        size_t end = start;
        while (end < n && s[end].specimen == s[start].specimen)
            end++;
        size_t m = end - start;
        for (size_t i = 0; i < m; i++) {
            const struct acq_sample *x = &s[start + i];
            t[i] = pd_timebase_utc(&run->tb, x->t_mono_ns);
            unc[i] = x->half_width_ns;
            q[i] = x->quality;
            memcpy(&v[i * b->n_channels], x->values, b->n_channels * sizeof(double));
        }
        pthread_mutex_lock(&run->store_lock);
        int rc = pd_store_append(run->store, s[start].specimen - 1, bus_index, m, t, unc, q, v, err);
        pthread_mutex_unlock(&run->store_lock);
        if (rc < 0)
            return rc;
        atomic_fetch_add(&b->n_written, m);
        start = end;
    }
    return PD_OK;
}

static int writer_drain(struct run *run, struct pd_err *err)
{
    struct acq_sample *batch = run->batch;
    for (size_t i = 0; i < run->n_buses; i++) {
        struct bus *b = &run->buses[i];
        size_t n;
        while ((n = pd_ring_pop(&b->ring, batch, WRITER_BATCH)) > 0) {
            int rc = write_batch(run, i, batch, n, err);
            if (rc < 0)
                return rc;
        }
        uint64_t lost = atomic_load(&b->n_lost);
        if (lost > b->lost_reported) {
            char text[160];
            snprintf(text, sizeof text, "%s: %llu samples lost (ring full: the writer fell behind)", b->cfg->name,
                     (unsigned long long)(lost - b->lost_reported));
            write_event(run, SIZE_MAX, pd_timebase_utc(&run->tb, pd_clock_mono_ns()), "overrun", text);
            b->lost_reported = lost;
        }
    }
    return PD_OK;
}

static void *writer_main(void *arg)
{
    struct run *run = arg;
    int64_t next_flush = pd_clock_mono_ns() + FLUSH_PERIOD_NS;
    for (;;) {
        bool quitting = atomic_load(&run->writer_quit);
        int rc = writer_drain(run, &run->writer_err);
        if (rc == PD_OK && pd_clock_mono_ns() >= next_flush) {
            pthread_mutex_lock(&run->store_lock);
            rc = pd_store_flush(run->store, &run->writer_err);
            pthread_mutex_unlock(&run->store_lock);
            next_flush += FLUSH_PERIOD_NS;
        }
        if (rc < 0) {
            run->writer_rc = rc;
            pd_log(PD_LOG_ERROR, "%s", run->writer_err.msg);
            return NULL;
        }
        if (quitting)
            return NULL;
        pd_clock_sleep_ns(WRITER_PERIOD_NS);
    }
}

/* ---- set-up and tear-down ------------------------------------------------------------------*/

static int bus_open(struct run *run, struct bus *b, struct pd_err *err)
{
    const struct pd_acq_instrument_config *ic = b->cfg;
    b->drv = pd_driver_find(ic->driver);
    int rc = b->drv->create(ic->node, &b->state, err);
    if (rc < 0)
        return rc;
    if (ic->sim_program[0]) {
        const char *transport = pd_cfg_scalar(pd_cfg_map_get(ic->node, "transport"));
        rc = pd_sim_start(ic, transport ? transport : "", run->opt->sim_dir, 5000, &b->sim, err);
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
    b->period_ns = (int64_t)(1e9 / run->cfg->poll_rate_hz);
    if ((rc = pd_ring_init(&b->ring, sizeof(struct acq_sample), RING_CAPACITY)) < 0)
        return pd_err_set(err, rc, ic->name, "cannot allocate the sample ring");
    return PD_OK;
}

static void bus_close(struct bus *b)
{
    if (b->thread_started) {
        atomic_store(&b->quit, 1);
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
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->cond);
}

#define SATTR(k, v) {.key = (k), .type = PD_STORE_STRING, .s = (v)}
#define DATTR(k, v, u) {.key = (k), .type = PD_STORE_DOUBLE, .d = (v), .units = (u)}
#define IATTR(k, v) {.key = (k), .type = PD_STORE_INT, .i = (v)}

static int create_store(struct run *run, const char *path, const char *run_id, struct pd_err *err)
{
    const struct pd_acq_config *cfg = run->cfg;
    char start_time[40];
    pd_time_format_iso8601(run->tb.utc0_ns, start_time, sizeof start_time);
    int simulated = 0;
    for (size_t i = 0; i < run->n_buses; i++)
        simulated |= run->buses[i].info.simulated;
    struct pd_store_attr run_attrs[] = {
        SATTR("run_id", run_id),
        SATTR("method", cfg->method),
        SATTR("operator", cfg->operator_name),
        SATTR("lab_name", cfg->lab_name),
        SATTR("lab_address", cfg->lab_address),
        SATTR("material", cfg->material),
        SATTR("software", "polydaq " PD_VERSION_STRING),
        SATTR("software_version", PD_VERSION_STRING),
        SATTR("start_time", start_time),
        IATTR("start_time_ns", run->tb.utc0_ns),
        IATTR("start_monotonic_ns", run->tb.mono0_ns),
        SATTR("config_file", pd_cfg_source_name(cfg->doc)),
        SATTR("config_text", pd_cfg_source_text(cfg->doc)),
        IATTR("simulated", simulated),
        DATTR("poll_rate_hz", cfg->poll_rate_hz, "Hz"),
        DATTR("speed_modulus", cfg->speed_modulus, "mm/min"),
        DATTR("speed_test", cfg->speed_test, "mm/min"),
        DATTR("speed_switch_strain", cfg->speed_switch_strain, "1"),
    };

    struct pd_store_instrument inst[PD_ACQ_MAX_INSTRUMENTS];
    struct pd_store_attr inst_attrs[PD_ACQ_MAX_INSTRUMENTS][10];
    memset(inst, 0, sizeof inst);
    for (size_t i = 0; i < run->n_buses; i++) {
        struct bus *b = &run->buses[i];
        pd_strlcpy(inst[i].name, b->cfg->name, sizeof inst[i].name);
        inst[i].n_channels = b->n_channels;
        for (size_t c = 0; c < b->n_channels; c++) {
            pd_strlcpy(inst[i].channels[c].name, b->channels[c].name, sizeof inst[i].channels[c].name);
            pd_strlcpy(inst[i].channels[c].unit, b->channels[c].unit, sizeof inst[i].channels[c].unit);
        }
        struct pd_store_attr *a = inst_attrs[i];
        size_t k = 0;
        a[k++] = (struct pd_store_attr)SATTR("driver", b->cfg->driver);
        a[k++] = (struct pd_store_attr)SATTR("model", b->info.model);
        a[k++] = (struct pd_store_attr)SATTR("serial_number", b->info.serial);
        a[k++] = (struct pd_store_attr)SATTR("firmware", b->info.firmware);
        a[k++] = (struct pd_store_attr)SATTR("calibration_date", b->info.calibration_date);
        a[k++] = (struct pd_store_attr)SATTR("calibration_due", b->info.calibration_due);
        a[k++] = (struct pd_store_attr)SATTR("calibration_certificate", b->info.calibration_id);
        a[k++] = (struct pd_store_attr)IATTR("simulated", b->info.simulated);
        const char *map = b->drv->map_text ? b->drv->map_text(b->state) : NULL;
        a[k++] = (struct pd_store_attr)SATTR("map", map ? map : "");
        inst[i].attrs = a;
        inst[i].n_attrs = k;
        /* NXdata default plot: force against extension when the instrument has both. */
        for (size_t c = 0; c < b->n_channels; c++) {
            if (strcmp(b->channels[c].name, "force") == 0)
                inst[i].signal = "force";
            if (strcmp(b->channels[c].name, "extension") == 0)
                inst[i].axes = "extension";
        }
    }

    size_t n_sp = (size_t)cfg->specimens;
    struct pd_store_specimen *sp = calloc(n_sp, sizeof *sp);
    if (!sp)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    struct pd_store_attr sample_attrs[] = {
        SATTR("type", cfg->specimen_type),
        DATTR("width", cfg->width_mm, "mm"),
        DATTR("thickness", cfg->thickness_mm, "mm"),
        DATTR("gauge_length", cfg->gauge_length_mm, "mm"),
        DATTR("grip_distance", cfg->grip_distance_mm, "mm"),
        SATTR("material", cfg->material),
    };
    for (size_t i = 0; i < n_sp; i++) {
        snprintf(sp[i].id, sizeof sp[i].id, "%.48s-S%02u", run_id, (unsigned)(i + 1) % 1000u);
        sp[i].attrs = sample_attrs;
        sp[i].n_attrs = sizeof sample_attrs / sizeof sample_attrs[0];
    }
    struct pd_store_layout layout = {
        .n_run_attrs = sizeof run_attrs / sizeof run_attrs[0],
        .run_attrs = run_attrs,
        .n_instruments = run->n_buses,
        .instruments = inst,
        .n_specimens = n_sp,
        .specimens = sp,
        .chunk_samples = 0,
        .deflate_level = -1,
    };
    int rc = pd_store_create(path, &layout, &run->store, err);
    free(sp);
    return rc;
}

/* ---- the method: ISO 527 tensile series ----------------------------------------------------*/

static int find_channel(const struct bus *b, const char *name)
{
    for (size_t c = 0; c < b->n_channels; c++)
        if (strcmp(b->channels[c].name, name) == 0)
            return (int)c;
    return -1;
}

/* Writes an optional setpoint: instruments whose map lacks it are left alone. */
static int set_optional(struct bus *b, const char *name, double value, struct pd_err *err)
{
    int rc = bus_command(b, name, value, err);
    return rc == PD_EUNSUPPORTED ? PD_OK : rc;
}

static void show_progress(const struct run *run, struct bus *frame, size_t specimen, int force_ch, int ext_ch,
                          int64_t t0, bool final_line)
{
    enum pd_acq_progress mode = run->opt->progress;
    if (mode == PD_ACQ_PROGRESS_NONE)
        return;
    struct pd_reading r;
    uint64_t seq;
    bus_latest(frame, &r, &seq);
    double elapsed = (double)(pd_clock_mono_ns() - t0) / 1e9;
    double rate = elapsed > 0 ? (double)atomic_load(&frame->n_readings) / elapsed : 0;
    if (mode == PD_ACQ_PROGRESS_LIVE || final_line) {
        fprintf(stderr, "%sspecimen %zu/%ld  %s %.0f Hz  force %9.2f %s  extension %8.4f %s  errors %llu  lost %llu  %.1f s%s",
                mode == PD_ACQ_PROGRESS_LIVE ? "\r" : "", specimen, run->cfg->specimens, frame->cfg->name, rate,
                force_ch >= 0 ? r.values[force_ch] : 0.0, force_ch >= 0 ? frame->channels[force_ch].unit : "",
                ext_ch >= 0 ? r.values[ext_ch] : 0.0, ext_ch >= 0 ? frame->channels[ext_ch].unit : "",
                (unsigned long long)atomic_load(&frame->n_errors), (unsigned long long)atomic_load(&frame->n_lost),
                elapsed, final_line ? "\n" : "");
        fflush(stderr);
    }
}

static void set_status(struct run *run, size_t specimen, const char *status)
{
    struct pd_err e;
    struct pd_store_attr a = SATTR("status", status);
    pthread_mutex_lock(&run->store_lock);
    int rc = pd_store_set_specimen_attr(run->store, specimen, &a, &e);
    pthread_mutex_unlock(&run->store_lock);
    if (rc < 0)
        pd_log(PD_LOG_ERROR, "%s", e.msg);
}

static int64_t now_utc(const struct run *run) { return pd_timebase_utc(&run->tb, pd_clock_mono_ns()); }

static int run_tensile_series(struct run *run, struct pd_acq_result *result, struct pd_err *err)
{
    const struct pd_acq_config *cfg = run->cfg;
    struct bus *frame = NULL;
    for (size_t i = 0; i < run->n_buses && !frame; i++)
        if (find_channel(&run->buses[i], "force") >= 0 && find_channel(&run->buses[i], "extension") >= 0)
            frame = &run->buses[i];
    if (!frame)
        return pd_err_set(err, PD_ECONFIG, pd_cfg_source_name(cfg->doc),
                          "method iso527 needs an instrument with channels 'force' and 'extension'");
    int force_ch = find_channel(frame, "force");
    int ext_ch = find_channel(frame, "extension");
    int break_ch = find_channel(frame, "break");
    int64_t t0 = pd_clock_mono_ns();
    int rc = PD_OK;

    for (size_t k = 0; k < (size_t)cfg->specimens; k++) {
        if (run->opt->stop && *run->opt->stop) {
            result->interrupted = 1;
            break;
        }
        if (run->writer_rc < 0)
            return pd_err_set(err, run->writer_rc, NULL, "%s", run->writer_err.msg);
        struct { const char *name; double value; } setpoints[] = {
            {"width", cfg->width_mm}, {"thickness", cfg->thickness_mm}, {"gauge_length", cfg->gauge_length_mm},
            {"grip_distance", cfg->grip_distance_mm}, {"speed_modulus", cfg->speed_modulus},
            {"speed_test", cfg->speed_test}, {"speed_switch_strain", cfg->speed_switch_strain},
        };
        for (size_t i = 0; i < sizeof setpoints / sizeof setpoints[0]; i++)
            if ((rc = set_optional(frame, setpoints[i].name, setpoints[i].value, err)) < 0)
                return rc;
        if ((rc = bus_command(frame, "start", 1, err)) < 0)
            return rc;
        /* Record from the first reading after the instrument accepted the start, so nothing of
         * the previous specimen's state is taken into this one. */
        for (size_t i = 0; i < run->n_buses; i++)
            atomic_store(&run->buses[i].active_specimen, (uint32_t)(k + 1));
        write_event(run, k, now_utc(run), "specimen_start", "start command accepted");
        set_status(run, k, "running");

        struct pd_reading r;
        uint64_t seq0 = 0, seq;
        bus_latest(frame, &r, &seq0);
        int64_t deadline = pd_clock_mono_ns() + (int64_t)(cfg->specimen_timeout_s * 1e9);
        int64_t next_show = 0;
        const char *outcome = NULL;
        uint64_t break_seq = 0;
        double fmax = 0;
        while (!outcome) {
            pd_clock_sleep_ns(5 * 1000000LL);
            if (bus_latest(frame, &r, &seq) && seq > seq0) {
                double f = r.values[force_ch];
                if (f > fmax)
                    fmax = f;
                bool broke = break_ch >= 0 ? r.values[break_ch] >= 0.5
                                           : (fmax > 0 && f <= 0.1 * fmax); /* no break flag: ISO 527 10 % rule */
                if (broke && !break_seq)
                    break_seq = seq;
                /* keep one more reading after the break so the drop itself is on file */
                if (break_seq && seq > break_seq)
                    outcome = "tested";
            }
            if (!outcome && pd_clock_mono_ns() > deadline)
                outcome = "timeout";
            if (!outcome && run->opt->stop && *run->opt->stop)
                outcome = "aborted";
            struct pd_err fe;
            if (!outcome && bus_failed(frame, &fe)) {
                outcome = "instrument failure";
                *err = fe;
                rc = fe.code ? fe.code : PD_EIO;
            }
            if (!outcome && run->writer_rc < 0) {
                outcome = "write error";
                rc = pd_err_set(err, run->writer_rc, NULL, "%s", run->writer_err.msg);
            }
            if (pd_clock_mono_ns() >= next_show) {
                show_progress(run, frame, k + 1, force_ch, ext_ch, t0, false);
                next_show = pd_clock_mono_ns() + 200 * 1000000LL;
            }
        }
        for (size_t i = 0; i < run->n_buses; i++)
            atomic_store(&run->buses[i].active_specimen, 0);
        write_event(run, k, now_utc(run), strcmp(outcome, "tested") == 0 ? "break" : "specimen_end", outcome);
        set_status(run, k, outcome);
        if (run->opt->progress == PD_ACQ_PROGRESS_LIVE)
            fputc('\n', stderr);
        else
            show_progress(run, frame, k + 1, force_ch, ext_ch, t0, true);
        if (rc < 0)
            return rc;
        struct pd_err ignore;
        if (strcmp(outcome, "tested") != 0)
            bus_command(frame, "stop", 1, &ignore);
        bus_command(frame, "return", 1, &ignore);
        if (strcmp(outcome, "tested") == 0)
            result->specimens_tested++;
        else if (strcmp(outcome, "aborted") == 0) {
            result->interrupted = 1;
            break;
        } else if (strcmp(outcome, "timeout") == 0) {
            pd_log(PD_LOG_WARN, "specimen %zu: no break within %.0f s; continuing with the next", k + 1,
                   cfg->specimen_timeout_s);
        }
    }
    return PD_OK;
}

/* ---- entry point ---------------------------------------------------------------------------*/

static void make_run_id(char *buf, size_t size)
{
    char iso[40];
    pd_time_format_iso8601(pd_clock_utc_ns(), iso, sizeof iso);
    /* 2026-11-25T02:26:58.123456789Z -> 20261125T022658-<pid> : sortable, unique per process */
    snprintf(buf, size, "%.4s%.2s%.2sT%.2s%.2s%.2s-%05d", iso, iso + 5, iso + 8, iso + 11, iso + 14, iso + 17,
             (int)(getpid() % 100000));
}

int pd_acq_run(const struct pd_acq_config *cfg, const struct pd_acq_options *opt, struct pd_acq_result *result,
               struct pd_err *err)
{
    struct run *run = calloc(1, sizeof *run);
    if (!run)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    memset(result, 0, sizeof *result);
    run->cfg = cfg;
    run->opt = opt;
    pthread_mutex_init(&run->store_lock, NULL);
    int rc = pd_mkdir_p(opt->out_dir, err);
    for (size_t i = 0; i < cfg->n_instruments; i++) {
        struct bus *b = &run->buses[i];
        b->cfg = &cfg->instruments[i];
        pthread_mutex_init(&b->lock, NULL);
        pthread_cond_init(&b->cond, NULL);
        run->n_buses = i + 1;
        if (rc == PD_OK)
            rc = bus_open(run, b, err);
    }
    if (rc == PD_OK) {
        make_run_id(result->run_id, sizeof result->run_id);
        snprintf(result->path, sizeof result->path, "%s/run-%s.h5", opt->out_dir, result->run_id);
        pd_timebase_init(&run->tb);
        rc = create_store(run, result->path, result->run_id, err);
        if (rc < 0)
            result->path[0] = '\0';
    }
    if (rc == PD_OK) {
        for (size_t i = 0; i < run->n_buses && rc == PD_OK; i++) {
            if (pthread_create(&run->buses[i].thread, NULL, bus_main, &run->buses[i]) != 0)
                rc = pd_err_set(err, PD_ENOMEM, NULL, "cannot start a bus thread");
            else
                run->buses[i].thread_started = true;
        }
        if (rc == PD_OK) {
            if (pthread_create(&run->writer, NULL, writer_main, run) != 0)
                rc = pd_err_set(err, PD_ENOMEM, NULL, "cannot start the writer thread");
            else
                run->writer_started = true;
        }
        if (rc == PD_OK) {
            write_event(run, SIZE_MAX, now_utc(run), "run_start", result->run_id);
            rc = run_tensile_series(run, result, err);
        }
    }
    /* Tear-down in dependency order: stop polling, drain everything into the file, close it. */
    for (size_t i = 0; i < run->n_buses; i++) {
        if (run->buses[i].thread_started) {
            atomic_store(&run->buses[i].quit, 1);
            pthread_join(run->buses[i].thread, NULL);
            run->buses[i].thread_started = false;
        }
    }
    if (run->writer_started) {
        atomic_store(&run->writer_quit, 1);
        pthread_join(run->writer, NULL);
    }
    if (run->store) {
        struct pd_err close_err;
        if (run->writer_rc == PD_OK) {
            struct pd_err e;
            if (writer_drain(run, &e) < 0 && rc == PD_OK)
                rc = pd_err_set(err, e.code, NULL, "%s", e.msg);
        }
        for (size_t i = 0; i < run->n_buses; i++) {
            result->samples_written += atomic_load(&run->buses[i].n_written);
            result->samples_lost += atomic_load(&run->buses[i].n_lost);
            result->read_errors += atomic_load(&run->buses[i].n_errors);
        }
        uint64_t missed = 0;
        for (size_t i = 0; i < run->n_buses; i++)
            missed += atomic_load(&run->buses[i].n_missed_deadlines);
        write_event(run, SIZE_MAX, now_utc(run), "run_end",
                    rc < 0 ? err->msg : (result->interrupted ? "interrupted" : "completed"));
        char end_time[40];
        pd_time_format_iso8601(now_utc(run), end_time, sizeof end_time);
        struct pd_store_attr final_attrs[] = {
            SATTR("end_time", end_time),
            IATTR("specimens_tested", (int64_t)result->specimens_tested),
            IATTR("samples_written", (int64_t)result->samples_written),
            IATTR("samples_lost", (int64_t)result->samples_lost),
            IATTR("read_errors", (int64_t)result->read_errors),
            IATTR("missed_deadlines", (int64_t)missed),
            IATTR("clock_step_ns", pd_timebase_step_ns(&run->tb)),
            IATTR("interrupted", result->interrupted),
            SATTR("outcome", rc < 0 ? err->msg : "completed"),
        };
        int crc = pd_store_close(run->store, sizeof final_attrs / sizeof final_attrs[0], final_attrs, &close_err);
        if (crc < 0 && rc == PD_OK) {
            rc = crc;
            *err = close_err;
        }
        if (run->writer_rc < 0 && rc == PD_OK) {
            rc = run->writer_rc;
            *err = run->writer_err;
        }
    }
    for (size_t i = 0; i < run->n_buses; i++)
        bus_close(&run->buses[i]);
    pthread_mutex_destroy(&run->store_lock);
    free(run);
    return rc;
}
