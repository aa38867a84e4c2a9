/* pipeline.c — benchmark of the acquisition pipeline: a synthetic instrument at full speed through
 * the SPSC ring and polydaq's writer thread into the HDF5 run file (time, uncertainty, quality,
 * sequence + 8 float64 channels per sample), beside, in the same run, (a) fwrite + fsync of the
 * same bytes, (b) a bare C loop of HDF5 appends with the same layout and filter, and the same loop
 * appending whole chunks (how the store writes), (c) h5py appending the same records in batches;
 * uncompressed and shuffle+deflate. Then the lateness of 1 kHz deadlines: the engine's bus thread
 * (synthetic driver, writer running, the chunk size polydaq run gives a 1 kHz instrument) against
 * a bare clock_nanosleep loop given the bus thread's scheduling (timer slack, SCHED_FIFO where
 * permitted).
 *
 * usage: pd-bench-pipeline [--samples N] [--chunk C] [--rounds R] [--wakeups W] [--dir DIR] [--no-h5py]
 *                           [--only fwrite,bare,chunks,pipeline,h5py,lateness] [--filter none|deflate]
 * Every figure includes closing the file and fsync. Each measurement runs in a forked child, so
 * its peak RSS is its own; the tables show the median of R rounds (default 3), methods
 * alternating within each round. */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "acq/acq_internal.h"
#include "core/core.h"
#include "store/store.h"

#define N_CH      8
#define ROW_BYTES (8 + 8 + 4 + 8 + 8 * N_CH) /* time, uncertainty, quality, sequence, channels */
#define BATCH     8192 /* samples per append of the bare HDF5 loop and fwrite */

static size_t n_samples = 4000000;
static size_t chunk_samples = PD_STORE_DEFAULT_CHUNK;
static char dir[4096];

struct result {
    double seconds;
    double rss_mid_mb, rss_end_mb, peak_mb; /* resident set half way, at the end; peak */
    double cpu_s;                           /* user + system time of every thread of the process */
    double p50_us, p99_us, max_us;          /* lateness runs only */
    int fifo;                               /* lateness runs: the waking thread had SCHED_FIFO */
    int ok;
};

/* The process's resident set now, MiB. */
static double rss_mb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double peak_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* The settings polydaq run uses (src/cli/series.c): without them a fresh process spends its time
 * in page faults, as malloc gives chunk buffers back to the kernel and takes them again. */
static void tune_malloc(void)
{
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

static void fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Sample k of the synthetic instrument: smooth signals, as a test produces (compressible as such). */
static void make_sample(uint64_t k, int64_t *t, int64_t *unc, uint32_t *q, double *v)
{
    *t = INT64_C(1795000000000000000) + (int64_t)k * 100000;
    *unc = 20000 + (int64_t)(k % 7) * 1000;
    *q = 0;
    for (int c = 0; c < N_CH; c++)
        v[c] = (double)c * 100.0 + (double)(k % 100000) * 0.001 * (c + 1) + (double)(k % 13) * 1e-4;
}

/* ---- (a) fwrite + fsync ---------------------------------------------------------------------*/
static int run_fwrite(const char *path, struct result *r)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    static unsigned char buf[BATCH * ROW_BYTES];
    int64_t t0 = pd_clock_mono_ns();
    for (size_t k = 0; k < n_samples; k += BATCH) {
        size_t m = n_samples - k < BATCH ? n_samples - k : BATCH;
        if (r->rss_mid_mb == 0 && k >= n_samples / 2)
            r->rss_mid_mb = rss_mb();
        for (size_t i = 0; i < m; i++) {
            int64_t t, unc;
            uint32_t q;
            uint64_t seq = k + i;
            double v[N_CH];
            make_sample(k + i, &t, &unc, &q, v);
            unsigned char *p = buf + i * ROW_BYTES;
            memcpy(p, &t, 8);
            memcpy(p + 8, &unc, 8);
            memcpy(p + 16, &q, 4);
            memcpy(p + 20, &seq, 8);
            memcpy(p + 28, v, sizeof v);
        }
        if (fwrite(buf, ROW_BYTES, m, f) != m) {
            fclose(f);
            return -1;
        }
    }
    fflush(f);
    fsync(fileno(f));
    fclose(f);
    r->seconds = (double)(pd_clock_mono_ns() - t0) / 1e9;
    r->rss_end_mb = rss_mb();
    return 0;
}

/* ---- (b) bare HDF5 loop: the store's layout, written directly ------------------------------*/
/* The store's layout: one 1-D chunked dataset per column, fill values off, shuffle + deflate when
 * filtered; appends of `batch` samples with H5Dset_extent + a hyperslab H5Dwrite per column, as a
 * C programmer writes them. With the plain batch (8192) and a chunk cache that holds one whole
 * chunk when filtered (none when not: unfiltered appends go straight to the file), this is the
 * reference (b). With batch = one chunk (no cache needed: every write is a whole, aligned chunk)
 * it is the library at its best through its ordinary API: the store's own way of writing (whole
 * chunks, src/store/chunks.c) measured without polydaq around it. */
static int run_bare_hdf5(const char *path, int deflate, size_t batch, struct result *r)
{
    const int whole_chunks = batch == chunk_samples;
    static const char *const names[4 + N_CH] = {
        "time", "time_uncertainty", "quality", "sequence", "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"};
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0)
        return -1;
    hid_t g = H5Gcreate2(f, "data", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), dapl = H5Pcreate(H5P_DATASET_ACCESS);
    hsize_t chunk = chunk_samples, zero = 0, unlimited = H5S_UNLIMITED;
    H5Pset_chunk(dcpl, 1, &chunk);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    if (deflate >= 0) {
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, (unsigned)deflate);
    }
    if (deflate >= 0 && !whole_chunks) {
        size_t bytes = chunk_samples * sizeof(double);
        H5Pset_chunk_cache(dapl, 521, bytes > (1 << 20) ? bytes : (1 << 20), 1.0);
    } else {
        H5Pset_chunk_cache(dapl, 0, 0, 1.0);
    }
    hid_t ds[4 + N_CH], fs[4 + N_CH];
    for (int c = 0; c < 4 + N_CH; c++) {
        hid_t type = c < 2 ? H5T_STD_I64LE : c == 2 ? H5T_STD_U32LE : c == 3 ? H5T_STD_U64LE : H5T_IEEE_F64LE;
        fs[c] = H5Screate_simple(1, &zero, &unlimited);
        ds[c] = H5Dcreate2(g, names[c], type, fs[c], H5P_DEFAULT, dcpl, dapl);
    }
    H5Pclose(dcpl);
    H5Pclose(dapl);
    if (H5Fstart_swmr_write(f) < 0)
        return -1;
    int64_t *t = malloc(batch * sizeof *t), *unc = malloc(batch * sizeof *unc);
    uint32_t *q = malloc(batch * sizeof *q);
    uint64_t *seq = malloc(batch * sizeof *seq);
    double *col = malloc(N_CH * batch * sizeof *col); /* column c at col + c * batch */
    if (!t || !unc || !q || !seq || !col)
        return -1; /* the measuring child ends at once */
    int64_t t0 = pd_clock_mono_ns(), next_flush = t0 + 1000000000LL;
    for (size_t k = 0; k < n_samples; k += batch) {
        hsize_t m = n_samples - k < batch ? n_samples - k : batch, start = k, size = k + m;
        if (r->rss_mid_mb == 0 && k >= n_samples / 2)
            r->rss_mid_mb = rss_mb();
        for (size_t i = 0; i < m; i++) {
            double v[N_CH];
            make_sample(k + i, &t[i], &unc[i], &q[i], v);
            seq[i] = k + i;
            for (int c = 0; c < N_CH; c++)
                col[c * batch + i] = v[c];
        }
        hid_t ms = H5Screate_simple(1, &m, NULL);
        for (int c = 0; c < 4 + N_CH; c++) {
            hid_t mt = c < 2    ? H5T_NATIVE_INT64
                       : c == 2 ? H5T_NATIVE_UINT32
                       : c == 3 ? H5T_NATIVE_UINT64
                                : H5T_NATIVE_DOUBLE;
            const void *src = c == 0   ? (void *)t
                              : c == 1 ? (void *)unc
                              : c == 2 ? (void *)q
                              : c == 3 ? (void *)seq
                                       : (void *)(col + (size_t)(c - 4) * batch);
            if (H5Dset_extent(ds[c], &size) < 0 || H5Sset_extent_simple(fs[c], 1, &size, &unlimited) < 0 ||
                H5Sselect_hyperslab(fs[c], H5S_SELECT_SET, &start, NULL, &m, NULL) < 0 ||
                H5Dwrite(ds[c], mt, ms, fs[c], H5P_DEFAULT, src) < 0)
                return -1;
        }
        H5Sclose(ms);
        if (pd_clock_mono_ns() >= next_flush) { /* the same 1 s flush as a run */
            for (int c = 0; c < 4 + N_CH; c++)
                H5Dflush(ds[c]);
            next_flush += 1000000000LL;
        }
    }
    for (int c = 0; c < 4 + N_CH; c++) {
        H5Dclose(ds[c]);
        H5Sclose(fs[c]);
    }
    H5Gclose(g);
    H5Fclose(f);
    fsync_path(path);
    r->seconds = (double)(pd_clock_mono_ns() - t0) / 1e9;
    r->rss_end_mb = rss_mb();
    free(t);
    free(unc);
    free(q);
    free(seq);
    free(col);
    return 0;
}

/* ---- the pipeline: producer thread → ring → polydaq's writer thread → store ------------------*/
struct producer {
    struct bus *b;
    struct result *r; /* the producer notes the resident set half way (as the other methods do) */
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    struct acq_sample s;
    memset(&s, 0, sizeof s);
    s.specimen = 1;
    for (uint64_t k = 0; k < n_samples; k++) {
        int64_t t, unc;
        uint32_t q;
        make_sample(k, &t, &unc, &q, s.values);
        s.t_mono_ns = t; /* time base at 0: UTC = mono */
        s.half_width_ns = unc;
        s.quality = q;
        s.seq = k;
        /* Full speed, lossless: this measures what the writer can take, so wait when it is full. */
        while (!pd_ring_push(&p->b->ring, &s))
            pd_clock_sleep_ns(20000); /* an instrument does not spin either */
        /* This thread is the counter's only writer: a plain store, no locked add per sample
         * (which would wait for every store to the ring before it to reach the cache). */
        atomic_store_explicit(&p->b->n_acquired, k + 1, memory_order_relaxed);
        if (k == n_samples / 2)
            p->r->rss_mid_mb = rss_mb();
    }
    return NULL;
}

static struct pd_acq_instrument_config bench_instrument = {.name = "synthetic"};
static struct pd_acq_config bench_config = {.specimens = 1, .flush_interval_s = 1};
static struct pd_acq_options bench_options = {.progress = PD_ACQ_PROGRESS_NONE};

/* instrument_chunk: the instrument's own chunk size (0 = the layout's, chunk_samples). */
static int make_store(const char *path, int deflate, size_t instrument_chunk, struct pd_store **st)
{
    struct pd_store_instrument in;
    memset(&in, 0, sizeof in);
    strcpy(in.name, "synthetic");
    in.n_channels = N_CH;
    in.chunk_samples = instrument_chunk;
    for (int c = 0; c < N_CH; c++) {
        snprintf(in.channels[c].name, sizeof in.channels[c].name, "c%d", c);
        strcpy(in.channels[c].unit, "V");
    }
    struct pd_store_specimen sp;
    memset(&sp, 0, sizeof sp);
    strcpy(sp.id, "S01");
    struct pd_store_attr a = {.key = "run_id", .type = PD_STORE_STRING, .s = "bench"};
    struct pd_store_layout l = {.n_run_attrs = 1,
                                .run_attrs = &a,
                                .n_instruments = 1,
                                .instruments = &in,
                                .n_specimens = 1,
                                .specimens = &sp,
                                .chunk_samples = chunk_samples,
                                .deflate_level = deflate};
    struct pd_err err;
    if (pd_store_create(path, &l, st, &err) < 0) {
        fprintf(stderr, "pd-bench-pipeline: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* A run with one synthetic instrument set up as `polydaq run` sets its own up (store, the bus's
 * rings, the writer's wake-up), for the pipeline and the lateness measurements; NULL on failure. */
static struct run *bench_run_open(const char *path, int deflate, size_t instrument_chunk)
{
    struct run *run = calloc(1, sizeof *run);
    if (!run)
        return NULL;
    if (make_store(path, deflate, instrument_chunk, &run->store) < 0) {
        free(run);
        return NULL;
    }
    run->cfg = &bench_config;
    run->opt = &bench_options;
    run->n_buses = 1;
    run->path = path;
    run->flush_period_ns = 1000000000LL;
    pthread_mutex_init(&run->store_lock, NULL);
    struct bus *b = &run->buses[0];
    b->cfg = &bench_instrument;
    b->n_channels = N_CH;
    acq_bus_init_sync(b);
    if (pd_ring_init(&b->ring, acq_sample_size(N_CH), ACQ_RING_CAPACITY) < 0 ||
        pd_ring_init(&b->events, sizeof(struct acq_event), ACQ_EVENT_RING_CAPACITY) < 0 ||
        pd_ring_init(&b->losses, sizeof(struct acq_loss), ACQ_LOSS_RING_CAPACITY) < 0 ||
        acq_writer_wake_init(run) < 0)
        return NULL; /* the benchmark process ends at once: nothing to release */
    b->ring_capacity = pd_ring_capacity(&b->ring);
    return run;
}

static void bench_run_free(struct run *run)
{
    struct bus *b = &run->buses[0];
    pd_ring_close(&b->ring);
    pd_ring_close(&b->events);
    pd_ring_close(&b->losses);
    acq_writer_wake_destroy(run);
    free(run);
}

static int run_pipeline(const char *path, int deflate, struct result *r)
{
    struct run *run = bench_run_open(path, deflate, 0);
    if (!run)
        return -1;
    struct bus *b = &run->buses[0];
    struct producer p = {.b = b, .r = r};
    pthread_t prod;
    int64_t t0 = pd_clock_mono_ns();
    pthread_create(&run->writer, NULL, acq_writer_main, run);
    pthread_create(&prod, NULL, produce, &p);
    pthread_join(prod, NULL);
    acq_writer_quit(run); /* as `polydaq run` stops it: the writer's pause ends at once */
    pthread_join(run->writer, NULL);
    struct pd_err err;
    int rc = atomic_load(&run->writer_rc);
    if (rc == 0 && acq_writer_drain(run, &err) < 0)
        rc = -1;
    if (pd_store_close(run->store, 0, NULL, &err) < 0)
        rc = -1;
    fsync_path(path);
    r->seconds = (double)(pd_clock_mono_ns() - t0) / 1e9;
    r->rss_end_mb = rss_mb();
    if (atomic_load(&b->n_written) != n_samples) {
        fprintf(stderr, "pd-bench-pipeline: wrote %llu of %zu samples\n",
                (unsigned long long)atomic_load(&b->n_written), n_samples);
        rc = -1;
    }
    bench_run_free(run);
    return rc;
}

/* ---- (c) h5py, batched ------------------------------------------------------------------------*/
static const char h5py_script[] =
    "import os, sys, time, resource\n"
    "import numpy as np, h5py\n"
    "path, n, chunk, deflate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])\n"
    "batch = 65536\n"
    "kw = dict(chunks=(chunk,), maxshape=(None,))\n"
    "if deflate >= 0: kw.update(shuffle=True, compression='gzip', compression_opts=deflate)\n"
    "t0 = time.monotonic()\n"
    "f = h5py.File(path, 'w', libver='latest')\n"
    "g = f.create_group('data')\n"
    "cols = [('time', 'i8'), ('time_uncertainty', 'i8'), ('quality', 'u4'), ('sequence', 'u8')] + "
    "[('c%d' % c, 'f8') for c in range(8)]\n"
    "ds = [g.create_dataset(name, (0,), dtype=t, **kw) for name, t in cols]\n"
    "f.swmr_mode = True\n"
    "for k in range(0, n, batch):\n"
    "    m = min(batch, n - k)\n"
    "    idx = np.arange(k, k + m, dtype=np.int64)\n"
    "    data = [1795000000000000000 + idx * 100000, 20000 + (idx % 7) * 1000, np.zeros(m, 'u4'), idx.astype('u8')]\n"
    "    data += [c * 100.0 + (idx % 100000) * 0.001 * (c + 1) + (idx % 13) * 1e-4 for c in range(8)]\n"
    "    for d, v in zip(ds, data):\n"
    "        d.resize((k + m,))\n"
    "        d[k:k + m] = v\n"
    "f.close()\n"
    "fd = os.open(path, os.O_RDONLY); os.fsync(fd); os.close(fd)\n"
    "ru = resource.getrusage(resource.RUSAGE_SELF)\n"
    "print(time.monotonic() - t0, ru.ru_maxrss / 1024.0, ru.ru_utime + ru.ru_stime)\n";

static int run_h5py(const char *path, int deflate, struct result *r)
{
    char script[4200], cmd[12000];
    snprintf(script, sizeof script, "%s/h5py_append.py", dir);
    FILE *f = fopen(script, "w");
    if (!f)
        return -1;
    fputs(h5py_script, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s %zu %zu %d", script, path, n_samples, chunk_samples, deflate);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    double secs = 0, peak = 0, cpu = 0;
    int got = fscanf(p, "%lf %lf %lf", &secs, &peak, &cpu);
    int st = pclose(p);
    if (got != 3 || st != 0)
        return -1;
    r->seconds = secs;
    r->peak_mb = peak;
    r->cpu_s = cpu;
    return 0;
}

/* ---- lateness at 1 kHz ---------------------------------------------------------------------*/
#define LATE_MAX 100000
static int64_t late_ns[LATE_MAX];
static size_t late_n, n_wakeups = 5000; /* wake-ups per lateness measurement (--wakeups) */
static const int64_t late_period = 1000000;
static const struct bus *late_bus; /* the bus whose synthetic driver notes its lateness */

static int qsort_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void lateness_figures(struct result *r)
{
    qsort(late_ns, late_n, sizeof late_ns[0], qsort_cmp);
    r->p50_us = (double)late_ns[late_n / 2] / 1e3;
    r->p99_us = (double)late_ns[late_n * 99 / 100] / 1e3;
    r->max_us = (double)late_ns[late_n - 1] / 1e3;
}

static void note_lateness(int64_t now, int64_t due)
{
    if (late_n < n_wakeups)
        late_ns[late_n++] = now > due ? now - due : 0;
}

/* The bus thread's settings (src/acq/bus.c): timer slack 1 ns, SCHED_FIFO priority 10 where
 * permitted; returns whether SCHED_FIFO was granted. */
static int bus_like_scheduling(void)
{
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    struct sched_param sp = {.sched_priority = 10};
    return pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
}

static int run_bare_sleep(struct result *r)
{
    late_n = 0;
    r->fifo = bus_like_scheduling();
    int64_t next = pd_clock_mono_ns();
    for (size_t k = 0; k < n_wakeups; k++) {
        note_lateness(pd_clock_mono_ns(), next);
        /* the bus thread's scheme: absolute deadlines; after a miss the next one still ahead on
         * the same grid (no burst, no poll without a sleep) */
        next += late_period;
        int64_t now = pd_clock_mono_ns();
        if (next < now)
            next += ((now - next) / late_period + 1) * late_period;
        struct timespec ts = {.tv_sec = next / 1000000000LL, .tv_nsec = next % 1000000000LL};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        }
    }
    lateness_figures(r);
    return 0;
}

/* The synthetic driver: a reading per poll, no I/O; it notes when it was called. */
static _Atomic int syn_fifo = -1; /* the bus thread's policy, noted at its first poll */

static int syn_poll(void *state, const struct pd_sink *sink, struct pd_err *err)
{
    (void)state;
    (void)err;
    int64_t now = pd_clock_mono_ns();
    if (atomic_load_explicit(&syn_fifo, memory_order_relaxed) < 0) {
        int policy;
        struct sched_param sp;
        atomic_store(&syn_fifo, pthread_getschedparam(pthread_self(), &policy, &sp) == 0 && policy == SCHED_FIFO);
    }
    note_lateness(now, late_bus->poll_due_ns); /* the deadline the bus thread slept to */
    struct pd_reading rd = {.t_mono_ns = now, .half_width_ns = 1000};
    for (int c = 0; c < N_CH; c++)
        rd.values[c] = (double)c;
    return sink->push(sink->ctx, &rd);
}
static void syn_close(void *state)
{
    (void)state;
}
static const struct pd_channel_info syn_channels[N_CH] = {{"c0", "V"}, {"c1", "V"}, {"c2", "V"}, {"c3", "V"},
                                                          {"c4", "V"}, {"c5", "V"}, {"c6", "V"}, {"c7", "V"}};
static const struct pd_driver syn_driver = {
    .name = "synthetic", .poll = syn_poll, .close = syn_close, .destroy = syn_close};

static int run_engine_lateness(const char *path, struct result *r)
{
    late_n = 0;
    /* the chunk polydaq run gives an instrument polled at 1 kHz */
    struct run *run = bench_run_open(path, 1, acq_chunk_for_rate(1e9 / (double)late_period, chunk_samples));
    if (!run)
        return -1;
    struct bus *b = &run->buses[0];
    b->drv = &syn_driver;
    b->channels = syn_channels;
    b->period_ns = late_period;
    late_bus = b;
    b->give_up_ns = 1000000000LL;
    b->no_data_ns = 3600 * 1000000000LL; /* the synthetic driver always delivers: no "no data" failure */
    atomic_store(&b->active_specimen, 1);
    struct pd_err err;
    pthread_create(&run->writer, NULL, acq_writer_main, run);
    acq_bus_start(b, &err);
    while (late_n < n_wakeups)
        pd_clock_sleep_ns(10000000);
    acq_bus_quit(b);
    pthread_join(b->thread, NULL);
    b->thread_started = false;
    acq_writer_quit(run);
    pthread_join(run->writer, NULL);
    int rc = pd_store_close(run->store, 0, NULL, &err);
    bench_run_free(run);
    late_n = n_wakeups;
    lateness_figures(r);
    r->fifo = atomic_load(&syn_fifo) == 1;
    return rc;
}

/* ---- driver ------------------------------------------------------------------------------------*/
enum method { M_FWRITE, M_BARE, M_BARE_CHUNKS, M_PIPELINE, M_H5PY, M_BARE_SLEEP, M_ENGINE_SLEEP };
static const char *const method_names[] = {"fwrite + fsync",         "bare HDF5 loop",       "bare HDF5, whole chunks",
                                           "polydaq pipeline",       "h5py, batches of 65536", "bare clock_nanosleep",
                                           "polydaq bus thread"};

/* Short names for --only (a comma-separated list of them picks the methods to run). */
static const char *const method_keys[] = {"fwrite", "bare", "chunks", "pipeline", "h5py", "lateness", "lateness"};
static const char *only_methods; /* NULL = all */

static int wanted(enum method m)
{
    if (!only_methods)
        return 1;
    size_t len = strlen(method_keys[m]);
    for (const char *p = only_methods; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, method_keys[m], len) == 0 && (p[len] == ',' || p[len] == '\0'))
            return 1;
    return 0;
}

/* Runs one measurement in a child process; the result comes back through a pipe. */
static int measure(enum method m, int deflate, struct result *out)
{
    int fds[2];
    if (pipe(fds) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        tune_malloc();
        char path[4200];
        snprintf(path, sizeof path, "%s/bench-%d-%d.h5", dir, (int)m, deflate);
        unlink(path);
        struct result r;
        memset(&r, 0, sizeof r);
        int rc = -1;
        switch (m) {
        case M_FWRITE: rc = run_fwrite(path, &r); break;
        case M_BARE: rc = run_bare_hdf5(path, deflate, BATCH, &r); break;
        case M_BARE_CHUNKS: rc = run_bare_hdf5(path, deflate, chunk_samples, &r); break;
        case M_PIPELINE: rc = run_pipeline(path, deflate, &r); break;
        case M_H5PY: rc = run_h5py(path, deflate, &r); break;
        case M_BARE_SLEEP: rc = run_bare_sleep(&r); break;
        case M_ENGINE_SLEEP: rc = run_engine_lateness(path, &r); break;
        }
        unlink(path);
        if (m != M_H5PY) {
            r.peak_mb = peak_mb();
            r.cpu_s = cpu_seconds();
        }
        r.ok = rc == 0;
        if (write(fds[1], &r, sizeof r) != (ssize_t)sizeof r)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    ssize_t got = read(fds[0], out, sizeof *out);
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    return got == (ssize_t)sizeof *out && out->ok ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of n values (sorts them). */
static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static int cmp_seconds(const void *a, const void *b)
{
    double x = ((const struct result *)a)->seconds, y = ((const struct result *)b)->seconds;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int rounds = 3, with_h5py = 1;
    const char *base = NULL;
    int filters = 3; /* bit 0: none, bit 1: shuffle+deflate 1 */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--samples") == 0 && i + 1 < argc)
            n_samples = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--chunk") == 0 && i + 1 < argc)
            chunk_samples = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--wakeups") == 0 && i + 1 < argc)
            n_wakeups = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            base = argv[++i];
        else if (strcmp(argv[i], "--no-h5py") == 0)
            with_h5py = 0;
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only_methods = argv[++i];
        else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc) {
            i++;
            filters = strcmp(argv[i], "none") == 0 ? 1 : strcmp(argv[i], "deflate") == 0 ? 2 : 3;
        }
        else {
            fprintf(stderr, "usage: pd-bench-pipeline [--samples N] [--chunk C] [--rounds R] [--wakeups W] [--dir DIR] "
                            "[--no-h5py] [--only fwrite,bare,chunks,pipeline,h5py,lateness] [--filter none|deflate]\n");
            return 2;
        }
    }
    if (n_samples < BATCH || chunk_samples < 64 || rounds < 1 || rounds > 15 || n_wakeups < 100 ||
        n_wakeups > LATE_MAX) {
        fprintf(stderr, "pd-bench-pipeline: need --samples >= %d, --chunk >= 64, --rounds 1..15, --wakeups 100..%d\n",
                BATCH, LATE_MAX);
        return 2;
    }
    snprintf(dir, sizeof dir, "%s/pd-bench-pipeline-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "pd-bench-pipeline: cannot create a directory under %s: %s\n", base ? base : "/tmp",
                strerror(errno));
        return 3;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    printf("polydaq pipeline benchmark: %zu samples of %d bytes (time, uncertainty, quality, sequence, %d float64),"
           " chunks of %zu samples, median of %d rounds, every figure including close + fsync\n\n",
           n_samples, ROW_BYTES, N_CH, chunk_samples, rounds);
    printf("| filter | method | M samples/s | MB/s | ratio to fwrite | ratio to bare | ratio to whole chunks | CPU [s] | "
           "RSS half way → end [MiB] | peak RSS [MiB] |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    int failed = 0;
    for (int deflate = -1; deflate <= 1; deflate += 2) {
        if (!(filters & (deflate < 0 ? 1 : 2)))
            continue;
        enum method ms[] = {M_FWRITE, M_BARE, M_BARE_CHUNKS, M_PIPELINE, M_H5PY};
        size_t n_m = with_h5py ? 5 : 4;
        struct result res[5][15];
        for (int r = 0; r < rounds; r++)
            for (size_t i = 0; i < n_m; i++) {
                if ((deflate >= 0 && ms[i] == M_FWRITE) || !wanted(ms[i])) { /* the disk's limit does not depend on the filter */
                    res[i][r].seconds = 0;
                    continue;
                }
                if (measure(ms[i], deflate, &res[i][r]) < 0) {
                    fprintf(stderr, "pd-bench-pipeline: %s failed\n", method_names[ms[i]]);
                    failed = 1;
                    res[i][r].seconds = 1e9;
                }
            }
        double fw = 0, bare = 0, whole = 0;
        for (size_t i = 0; i < n_m; i++) {
            if ((deflate >= 0 && ms[i] == M_FWRITE) || !wanted(ms[i]))
                continue;
            qsort(res[i], (size_t)rounds, sizeof res[i][0], cmp_seconds);
            struct result *med = &res[i][rounds / 2];
            double rate = (double)n_samples / med->seconds;
            if (ms[i] == M_FWRITE)
                fw = rate;
            if (ms[i] == M_BARE)
                bare = rate;
            if (ms[i] == M_BARE_CHUNKS)
                whole = rate;
            char fwr[16] = "", bar[16] = "", who[16] = "", rss[32] = "";
            if (fw > 0)
                snprintf(fwr, sizeof fwr, "%.2f", rate / fw);
            if (bare > 0)
                snprintf(bar, sizeof bar, "%.2f", rate / bare);
            if (whole > 0)
                snprintf(who, sizeof who, "%.2f", rate / whole);
            if (ms[i] != M_H5PY)
                snprintf(rss, sizeof rss, "%.1f → %.1f", med->rss_mid_mb, med->rss_end_mb);
            printf("| %s | %s | %.2f | %.0f | %s | %s | %s | %.2f | %s | %.1f |\n",
                   deflate < 0 ? "none" : "shuffle+deflate 1", method_names[ms[i]], rate / 1e6,
                   rate * ROW_BYTES / 1e6, deflate < 0 ? fwr : "", bar, who, med->cpu_s, rss, med->peak_mb);
        }
    }
    printf("\nlateness of 1 kHz deadlines, %zu wake-ups each (the polydaq bus thread with its writer writing), "
           "median of %d rounds, the two alternating:\n\n",
           n_wakeups, rounds);
    printf("| method | scheduling | p50 [µs] | p99 [µs] | max [µs] | p99 of each round [µs] |\n"
           "|---|---|---:|---:|---:|---|\n");
    struct result late[2][15];
    int late_ok[2] = {1, 1};
    for (int r = 0; r < rounds; r++)
        for (enum method m = M_BARE_SLEEP; m <= M_ENGINE_SLEEP; m++) {
            if (!wanted(m) || !late_ok[m - M_BARE_SLEEP])
                continue;
            if (measure(m, 1, &late[m - M_BARE_SLEEP][r]) < 0) {
                fprintf(stderr, "pd-bench-pipeline: %s failed\n", method_names[m]);
                failed = 1;
                late_ok[m - M_BARE_SLEEP] = 0;
            }
        }
    for (enum method m = M_BARE_SLEEP; m <= M_ENGINE_SLEEP; m++) {
        struct result *lr = late[m - M_BARE_SLEEP];
        if (!wanted(m) || !late_ok[m - M_BARE_SLEEP])
            continue;
        char each[160] = "";
        size_t len = 0;
        double p50[15], p99[15], mx[15];
        for (int r = 0; r < rounds; r++) {
            len += (size_t)snprintf(each + len, len < sizeof each ? sizeof each - len : 0, "%s%.0f", r ? ", " : "",
                                    lr[r].p99_us);
            p50[r] = lr[r].p50_us;
            p99[r] = lr[r].p99_us;
            mx[r] = lr[r].max_us;
        }
        printf("| %s | %s, slack 1 ns | %.1f | %.1f | %.1f | %s |\n", method_names[m],
               lr[0].fifo ? "SCHED_FIFO 10" : "normal", median_of(p50, rounds), median_of(p99, rounds),
               median_of(mx, rounds), each);
    }
    char script[4200];
    snprintf(script, sizeof script, "%s/h5py_append.py", dir);
    unlink(script);
    rmdir(dir);
    return failed ? 1 : 0;
}
