/* writer.c — the writer thread: drains every bus's sample and event rings into the run file in
 * batches, records ring overruns as events, and flushes on a fixed period. It alone appends
 * samples; the method thread adds events and status under the same store lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "acq/acq_internal.h"

int acq_run_event(struct run *run, size_t specimen, const char *kind, const char *text)
{
    struct pd_err e;
    int64_t t = pd_timebase_utc(&run->tb, pd_clock_mono_ns());
    pthread_mutex_lock(&run->store_lock);
    /* a rolling run whose next file could not be created has none (the writer reports why) */
    int rc = run->store ? pd_store_add_event(run->store, specimen, t, kind, text, &e) : PD_OK;
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
    int rc = run->store ? pd_store_set_specimen_attr(run->store, specimen, &a, &e) : PD_OK;
    pthread_mutex_unlock(&run->store_lock);
    if (rc < 0)
        pd_log(PD_LOG_ERROR, "%s", e.msg);
}

/* Samples read out of a ring at a time (in place, then freed): a batch of slots is handed back
 * to the producer while the writer is still copying the next. */
#define DRAIN_SLICE 512
/* A drain that moved at least this many samples is followed by the next without a pause. */
#define WRITER_BUSY_DRAIN 8192

/* Copies samples [0, n) of a ring span (all of one specimen) into a reserved store slot. */
static void fill_slot(const struct run *run, const struct bus *b, const unsigned char *raw, size_t stride, size_t n,
                      const struct pd_store_slot *s)
{
    for (size_t k = 0; k < n; k++) {
        const struct acq_sample *x = (const struct acq_sample *)(const void *)(raw + k * stride);
        s->t_utc_ns[k] = pd_timebase_utc(&run->tb, x->t_mono_ns);
        s->t_unc_ns[k] = x->half_width_ns;
        s->quality[k] = x->quality;
        s->seq[k] = x->seq;
        for (size_t c = 0; c < b->n_channels; c++)
            s->columns[c][k] = x->values[c];
    }
}

/* Moves one bus's samples into the store, straight from the ring's slots into the chunk the
 * store is assembling (pd_store_append_reserve): at most one ring's capacity per call, so a
 * producer faster than the disk cannot keep the writer from flushing and from the other rings.
 * On a failure the samples not written stay in the ring (acquired = written + lost + queued). */
static int drain_samples(struct run *run, size_t bus_index, struct pd_err *err)
{
    struct bus *b = &run->buses[bus_index];
    const size_t stride = acq_sample_size(b->n_channels), limit = pd_ring_capacity(&b->ring);
    size_t taken = 0;
    int rc = PD_OK;
    const bool rolling = run->rolling;
    bool next_file = false;
    while (rc == PD_OK && taken < limit && !next_file) {
        const void *span;
        size_t n = pd_ring_peek(&b->ring, DRAIN_SLICE, &span), done = 0;
        if (n == 0)
            break;
        const unsigned char *raw = span;
        pthread_mutex_lock(&run->store_lock);
        while (rc == PD_OK && done < n) {
            uint32_t specimen = ((const struct acq_sample *)(const void *)(raw + done * stride))->specimen;
            if (rolling && specimen > run->file_tag) {
                next_file = true; /* the rest belongs to the next file: it waits for the rollover */
                break;
            }
            size_t same = 1; /* samples from `done` on of this specimen */
            while (done + same < n &&
                   ((const struct acq_sample *)(const void *)(raw + (done + same) * stride))->specimen == specimen)
                same++;
            struct pd_store_slot slot;
            size_t room = 0;
            rc = pd_store_append_reserve(run->store, rolling ? 0 : (size_t)(specimen - 1), bus_index, same, &slot,
                                         &room, err);
            if (rc == PD_OK) {
                fill_slot(run, b, raw + done * stride, stride, room, &slot);
                /* the station's live view gets a copy (never waits), before the commit may hand
                 * the chunk's buffer to the file */
                acq_station_tap(run, bus_index, specimen, slot.t_utc_ns, slot.columns, room);
                rc = pd_store_append_commit(run->store, room, err);
            }
            if (rc == PD_OK)
                done += room;
        }
        pthread_mutex_unlock(&run->store_lock);
        pd_ring_release(&b->ring, done);
        atomic_fetch_add(&b->n_written, done);
        taken += done;
        run->unsynced_bytes += done * stride; /* about what the file grew by */
    }
    run->last_drained += taken;
    return rc;
}

/* The entry of the current file a bus's specimen tag (1-based, 0 = run level) belongs to: in a
 * rolling run an event or loss tagged for an earlier or later file is kept in the current one. */
static size_t entry_of_tag(const struct run *run, uint32_t tag)
{
    if (tag == 0)
        return SIZE_MAX;
    if (run->rolling)
        return 0;
    return (size_t)tag - 1;
}

static void drain_events(struct run *run, struct bus *b)
{
    struct acq_event ev;
    while (pd_ring_pop(&b->events, &ev, 1) == 1) {
        size_t specimen = entry_of_tag(run, ev.specimen);
        struct pd_err e;
        pthread_mutex_lock(&run->store_lock);
        int rc = pd_store_add_event(run->store, specimen, pd_timebase_utc(&run->tb, ev.t_mono_ns), ev.kind, ev.text,
                                    &e);
        pthread_mutex_unlock(&run->store_lock);
        if (rc < 0)
            pd_log(PD_LOG_ERROR, "%s", e.msg);
    }
}

int acq_record_loss(struct run *run, size_t bus_index, const struct acq_loss *loss, struct pd_err *err)
{
    struct bus *b = &run->buses[bus_index];
    struct pd_store_overrun o = {
        .instrument = bus_index,
        .specimen = entry_of_tag(run, loss->specimen),
        .first_seq = loss->first_seq,
        .last_seq = loss->last_seq,
        .count = loss->count,
        .t_first_utc_ns = pd_timebase_utc(&run->tb, loss->t_first_mono_ns),
        .t_last_utc_ns = pd_timebase_utc(&run->tb, loss->t_last_mono_ns),
    };
    char text[200];
    snprintf(text, sizeof text, "%s: %llu samples lost, sequence %llu..%llu (ring of %zu full: the writer fell behind)",
             b->cfg->name, (unsigned long long)loss->count, (unsigned long long)loss->first_seq,
             (unsigned long long)loss->last_seq, b->ring_capacity);
    pthread_mutex_lock(&run->store_lock);
    int rc = pd_store_add_overrun(run->store, &o, err);
    struct pd_err e;
    if (rc == 0 && pd_store_add_event(run->store, o.specimen, o.t_first_utc_ns, "overrun", text, &e) < 0)
        pd_log(PD_LOG_ERROR, "%s", e.msg);
    pthread_mutex_unlock(&run->store_lock);
    if (rc == 0) {
        b->lost_recorded += loss->count;
        pd_log(PD_LOG_WARN, "%s", text);
    }
    return rc;
}

/* Operator marks (SIGUSR1, a line on the terminal) become "mark" events of the current specimen. */
static void record_marks(struct run *run)
{
    if (!run->opt->marks)
        return;
    sig_atomic_t now = *run->opt->marks;
    while (run->marks_seen != now) {
        run->marks_seen++;
        uint32_t sp = run->n_buses ? atomic_load(&run->buses[0].active_specimen) : 0;
        char text[64];
        snprintf(text, sizeof text, "operator mark %ld", (long)run->marks_seen);
        acq_run_event(run, sp ? sp - 1 : SIZE_MAX, "mark", text);
    }
}

/* The run's time axis ignores steps of the system clock; each step seen is still recorded. */
static void check_clock_step(struct run *run)
{
    int64_t step = pd_timebase_step_ns(&run->tb);
    int64_t change = step - run->clock_step_reported_ns;
    if (change >= ACQ_CLOCK_STEP_EVENT_NS || change <= -ACQ_CLOCK_STEP_EVENT_NS) {
        char text[160];
        snprintf(text, sizeof text,
                 "system clock now %+.3f ms from the run's time base (changed by %+.3f ms); sample times are unaffected",
                 (double)step / 1e6, (double)change / 1e6);
        acq_run_event(run, SIZE_MAX, "clock_step", text);
        run->clock_step_reported_ns = step;
    }
    int64_t mag = step < 0 ? -step : step;
    if (mag > run->clock_step_max_ns)
        run->clock_step_max_ns = mag;
}

/* Stops the run while there is still room to close the file cleanly: HDF5 cannot leave a readable
 * file behind a failed write (its superblock may already point past the end of what got written). */
static int check_space(struct run *run, struct pd_err *err)
{
    struct stat sb;
    if (stat(run->path, &sb) < 0)
        return PD_OK; /* nothing to judge by; a real write error will still be reported */
    uint64_t size = (uint64_t)sb.st_size;
    char dir[4096];
    pd_strlcpy(dir, run->path, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        pd_strlcpy(dir, ".", sizeof dir);
    struct statvfs vfs;
    if (statvfs(dir, &vfs) == 0) {
        uint64_t avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
        if (avail < run->space_margin) {
            run->stopped_for_space = true;
            return pd_err_set(err, PD_EIO, run->path,
                              "disk full: only %llu bytes left on the disk, %llu needed to go on; the run stops "
                              "here and the file keeps everything acquired so far",
                              (unsigned long long)avail, (unsigned long long)run->space_margin);
        }
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (uint64_t)rl.rlim_cur < size + run->space_margin) {
        run->stopped_for_space = true;
        return pd_err_set(err, PD_EIO, run->path,
                          "file size limit: the file is %llu bytes of at most %llu (ulimit -f), %llu more needed to "
                          "go on; the run stops here and the file keeps everything acquired so far",
                          (unsigned long long)size, (unsigned long long)rl.rlim_cur,
                          (unsigned long long)run->space_margin);
    }
    return PD_OK;
}

int acq_writer_drain(struct run *run, struct pd_err *err)
{
    run->last_drained = 0;
    for (size_t i = 0; i < run->n_buses; i++) {
        struct bus *b = &run->buses[i];
        int rc = drain_samples(run, i, err);
        if (rc < 0)
            return rc;
        drain_events(run, b);
        struct acq_loss loss;
        while (rc == PD_OK && pd_ring_pop(&b->losses, &loss, 1) == 1)
            rc = acq_record_loss(run, i, &loss, err);
        if (rc < 0)
            return rc;
    }
    record_marks(run);
    return PD_OK;
}

/* True when no bus holds a sample of the current file's entry any more (rolling runs): its
 * ring is empty or starts with a later tag. acq_bus_set_specimen made sure no sample of the old
 * tags can still arrive once rollover_to was set. */
static bool file_complete(struct run *run)
{
    for (size_t i = 0; i < run->n_buses; i++) {
        struct bus *b = &run->buses[i];
        const void *span;
        if (b->ring.buf && pd_ring_peek(&b->ring, 1, &span) == 1 &&
            ((const struct acq_sample *)span)->specimen <= run->file_tag)
            return false;
    }
    return true;
}

int acq_writer_drain_all(struct run *run, bool *rolled, struct pd_err *err)
{
    *rolled = false;
    int rc = acq_writer_drain(run, err);
    while (rc == PD_OK && atomic_load(&run->rollover_to) > run->file_tag && file_complete(run)) {
        bool switched = false;
        rc = acq_run_rollover(run, &switched, err);
        *rolled = *rolled || switched;
        if (rc == PD_OK)
            rc = acq_writer_drain(run, err);
    }
    return rc;
}

/* The durable half of each flush, on a thread of its own. An fsync waits until a whole interval's
 * data has reached the disk; done by the writer itself, it stopped appending for that long, and at
 * full speed the rings filled meanwhile. The writer hands the flushed file to the kernel
 * (pd_store_flush_nosync: a crash of the process loses nothing flushed) and asks this thread to
 * fdatasync it; requests that arrive while one runs are served by one more fdatasync right after
 * it, which covers them all. A failure stops the run at the writer's next flush.
 * The writer also asks for one every ACQ_SYNC_BYTES appended between flushes: at full speed the
 * disk then writes while the run goes on (in this machine's measurements most of a sync's time is
 * the device's cache flush, whatever the amount) instead of a whole interval's data at the next
 * flush, or, at the end of a run shorter than the interval, all of it while the close waits. It
 * adds no guarantee by itself (what a reader can use is what was flushed); it spreads the work. */
struct syncer {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int fd;                      /* the run file, opened once more: fdatasync covers every descriptor */
    uint64_t requested, done;    /* syncs asked for / made */
    bool quit;
    int failed_errno;            /* the first failed fdatasync's errno; 0 = none */
    pthread_t thread;
    bool started;
};

static void *syncer_main(void *arg)
{
    struct syncer *sy = arg;
    pthread_mutex_lock(&sy->lock);
    for (;;) {
        while (!sy->quit && sy->requested == sy->done)
            pthread_cond_wait(&sy->cond, &sy->lock);
        if (sy->quit) /* the close that follows fsyncs the finished file itself */
            break;
        uint64_t upto = sy->requested;
        pthread_mutex_unlock(&sy->lock);
        int rc = fdatasync(sy->fd), e = errno;
        pthread_mutex_lock(&sy->lock);
        if (rc < 0 && e != EINVAL && sy->failed_errno == 0)
            sy->failed_errno = e;
        sy->done = upto;
    }
    pthread_mutex_unlock(&sy->lock);
    return NULL;
}

/* Starts the sync thread; false (then the writer fsyncs in its own flushes) when it cannot. */
static bool syncer_start(struct syncer *sy, const char *path)
{
    memset(sy, 0, sizeof *sy);
    sy->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (sy->fd < 0)
        return false;
    pthread_mutex_init(&sy->lock, NULL);
    pthread_cond_init(&sy->cond, NULL);
    if (pthread_create(&sy->thread, NULL, syncer_main, sy) != 0) {
        pthread_mutex_destroy(&sy->lock);
        pthread_cond_destroy(&sy->cond);
        close(sy->fd);
        return false;
    }
    sy->started = true;
    return true;
}

/* Asks for an fdatasync of everything written so far; reports a failure of an earlier one. */
static int syncer_request(struct syncer *sy, const char *path, struct pd_err *err)
{
    pthread_mutex_lock(&sy->lock);
    int e = sy->failed_errno;
    sy->requested++;
    pthread_cond_signal(&sy->cond);
    pthread_mutex_unlock(&sy->lock);
    return e ? pd_err_set_os(err, PD_EIO, e, path, "fsync failed") : PD_OK;
}

/* Ends the thread (a sync under way is finished first); returns a failure not yet reported. */
static int syncer_stop(struct syncer *sy, const char *path, struct pd_err *err)
{
    if (!sy->started)
        return PD_OK;
    pthread_mutex_lock(&sy->lock);
    sy->quit = true;
    pthread_cond_signal(&sy->cond);
    pthread_mutex_unlock(&sy->lock);
    pthread_join(sy->thread, NULL);
    sy->started = false;
    pthread_mutex_destroy(&sy->lock);
    pthread_cond_destroy(&sy->cond);
    close(sy->fd);
    return sy->failed_errno ? pd_err_set_os(err, PD_EIO, sy->failed_errno, path, "fsync failed") : PD_OK;
}

/* The shortest pause between drains: a writer that keeps up never spins. */
#define WRITER_MIN_SLEEP_NS (250 * 1000LL)

/* The fullest ring as a fraction of its capacity. */
static double fullest_ring(const struct run *run)
{
    double most = 0;
    for (size_t i = 0; i < run->n_buses; i++) {
        const struct bus *b = &run->buses[i];
        if (!b->ring.buf)
            continue;
        double f = (double)pd_ring_count(&b->ring) / (double)pd_ring_capacity(&b->ring);
        if (f > most)
            most = f;
    }
    return most;
}

/* The writer's pause when the rings fill slowly: the time the fastest instrument takes for
 * ACQ_WRITER_IDLE_SAMPLES samples, at least ACQ_WRITER_PERIOD_NS and at most the flush period.
 * A 1 kHz instrument keeps the 20 ms period; a monitoring run of 10 Hz sensors drains about once
 * a second instead of 50 times (each drain visits every ring: with 50 instruments that was most
 * of the writer's CPU, docs/BENCHMARKS.md "Monitoring"). Flushes stay on time (writer_main). */
static int64_t idle_period(const struct run *run)
{
    int64_t fastest = INT64_MAX;
    for (size_t i = 0; i < run->n_buses; i++)
        if (run->buses[i].period_ns > 0 && run->buses[i].period_ns < fastest)
            fastest = run->buses[i].period_ns;
    int64_t ns = fastest == INT64_MAX ? ACQ_WRITER_PERIOD_NS : fastest * ACQ_WRITER_IDLE_SAMPLES;
    if (ns > run->flush_period_ns)
        ns = run->flush_period_ns;
    return ns < ACQ_WRITER_PERIOD_NS ? ACQ_WRITER_PERIOD_NS : ns;
}

/* How long to sleep before the next drain: the idle period, unless at the rate the rings
 * filled during the last sleep the fullest would pass a quarter of its capacity sooner. Slow
 * instruments keep the writer to one wake-up per period; at full speed it drains before a ring
 * is anywhere near full (a full ring would be an overrun in a run, a waiting producer here). */
static int64_t next_sleep(double fill_at_wake, int64_t slept_ns, int64_t idle_ns)
{
    if (fill_at_wake <= 0 || slept_ns <= 0)
        return idle_ns;
    double ns = 0.25 * (double)slept_ns / fill_at_wake;
    if (ns >= (double)idle_ns)
        return idle_ns;
    return ns < (double)WRITER_MIN_SLEEP_NS ? WRITER_MIN_SLEEP_NS : (int64_t)ns;
}

int acq_writer_wake_init(struct run *run)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return PD_ENOMEM;
    int rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&run->writer_wake, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0)
        return PD_EIO;
    if (pthread_mutex_init(&run->writer_wake_lock, NULL) != 0) {
        pthread_cond_destroy(&run->writer_wake);
        return PD_ENOMEM;
    }
    run->writer_wake_ready = true;
    return PD_OK;
}

void acq_writer_wake_destroy(struct run *run)
{
    if (!run->writer_wake_ready)
        return;
    pthread_cond_destroy(&run->writer_wake);
    pthread_mutex_destroy(&run->writer_wake_lock);
    run->writer_wake_ready = false;
}

void acq_writer_quit(struct run *run)
{
    if (!run->writer_wake_ready) {
        atomic_store(&run->writer_quit, 1);
        return;
    }
    pthread_mutex_lock(&run->writer_wake_lock);
    atomic_store(&run->writer_quit, 1);
    pthread_cond_signal(&run->writer_wake);
    pthread_mutex_unlock(&run->writer_wake_lock);
}

/* The pause between drains: until `ns` from now, or until acq_writer_quit. */
static void writer_pause(struct run *run, int64_t ns)
{
    if (!run->writer_wake_ready) {
        pd_clock_sleep_ns(ns);
        return;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    int64_t t = (int64_t)until.tv_nsec + ns;
    until.tv_sec += (time_t)(t / 1000000000);
    until.tv_nsec = (long)(t % 1000000000);
    pthread_mutex_lock(&run->writer_wake_lock);
    while (!atomic_load(&run->writer_quit) &&
           pthread_cond_timedwait(&run->writer_wake, &run->writer_wake_lock, &until) == 0)
        ; /* woken without quit: spurious, wait on */
    pthread_mutex_unlock(&run->writer_wake_lock);
}

void *acq_writer_main(void *arg)
{
    struct run *run = arg;
    int64_t next_flush = pd_clock_mono_ns() + run->flush_period_ns;
    bool stalled = run->test_stall_ns <= 0;
    const int64_t idle_ns = idle_period(run);
    int64_t pause_ns = idle_ns; /* the next pause, kept while drains follow at once */
    int64_t slept_ns = 0;                     /* how long the last pause lasted; 0 = none since */
    struct syncer sy;
    bool async_sync = syncer_start(&sy, run->path);
    for (;;) {
        bool quitting = atomic_load(&run->writer_quit);
        if (slept_ns > 0)
            pause_ns = next_sleep(fullest_ring(run), slept_ns, idle_ns);
        bool rolled = false;
        int rc = acq_writer_drain_all(run, &rolled, &run->writer_err);
        if (rolled && async_sync) { /* the sync thread follows the new file (the old one was closed with an fsync) */
            struct pd_err ignored;
            syncer_stop(&sy, run->path, &ignored);
            async_sync = syncer_start(&sy, run->path);
        }
        if (rc == PD_OK && async_sync && run->unsynced_bytes >= ACQ_SYNC_BYTES) {
            rc = syncer_request(&sy, run->path, &run->writer_err);
            run->unsynced_bytes = 0;
        }
        if (rc == PD_OK && pd_clock_mono_ns() >= next_flush) {
            check_clock_step(run);
            rc = check_space(run, &run->writer_err);
        }
        if (rc == PD_OK && pd_clock_mono_ns() >= next_flush) {
            pthread_mutex_lock(&run->store_lock);
            rc = async_sync ? pd_store_flush_nosync(run->store, &run->writer_err)
                            : pd_store_flush(run->store, &run->writer_err);
            pthread_mutex_unlock(&run->store_lock);
            if (rc == PD_OK && async_sync) {
                rc = syncer_request(&sy, run->path, &run->writer_err);
                run->unsynced_bytes = 0;
            }
            next_flush += run->flush_period_ns;
            if (next_flush < pd_clock_mono_ns())
                next_flush = pd_clock_mono_ns() + run->flush_period_ns;
        }
        if (rc == PD_OK && quitting)
            rc = syncer_stop(&sy, run->path, &run->writer_err);
        if (rc < 0) {
            struct pd_err ignored;
            syncer_stop(&sy, run->path, &ignored); /* the failure above is the one to report */
            pd_log(PD_LOG_ERROR, "%s", run->writer_err.msg);
            atomic_store(&run->writer_rc, rc); /* published after writer_err is complete */
            return NULL;
        }
        if (quitting)
            return NULL;
        if (!stalled) {
            /* Test hook: once samples flow, stop draining for a while so the rings overflow. */
            for (size_t i = 0; i < run->n_buses && !stalled; i++)
                if (atomic_load(&run->buses[i].n_written) > 0) {
                    pd_log(PD_LOG_WARN, "test hook %s: the writer stalls for %.3f s", ACQ_ENV_WRITER_STALL_MS,
                           (double)run->test_stall_ns / 1e9);
                    pd_clock_sleep_ns(run->test_stall_ns);
                    stalled = true;
                }
        }
        /* Batches into HDF5 every period (shorter while the rings fill fast); while a drain moves
         * many samples, the next follows without a pause. */
        slept_ns = 0;
        if (run->last_drained < WRITER_BUSY_DRAIN) {
            int64_t t0 = pd_clock_mono_ns(), to_flush = next_flush - t0;
            /* wake for the flush on time, whatever the pause */
            writer_pause(run, to_flush < pause_ns ? (to_flush > WRITER_MIN_SLEEP_NS ? to_flush : WRITER_MIN_SLEEP_NS)
                                                  : pause_ns);
            slept_ns = pd_clock_mono_ns() - t0;
        }
    }
}
