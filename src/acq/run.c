/* run.c — one test series end to end: open the instruments (starting their simulators), create
 * the run file with its whole layout, start the bus and writer threads, run the method, and tear
 * everything down in order so that every acquired sample reaches the closed file. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acq/acq_internal.h"
#include "pd_version.h"

size_t acq_chunk_for_rate(double rate_hz, size_t max_chunk)
{
    size_t chunk = 64;
    while (chunk < max_chunk && (double)chunk < rate_hz * 10)
        chunk *= 2;
    return chunk < max_chunk ? chunk : max_chunk;
}

#define SATTR(k, v) {.key = (k), .type = PD_STORE_STRING, .s = (v)}
#define DATTR(k, v, u) {.key = (k), .type = PD_STORE_DOUBLE, .d = (v), .units = (u)}
#define IATTR(k, v) {.key = (k), .type = PD_STORE_INT, .i = (v)}

/* Creates the run file at `path` with the whole layout (a rolling run: the file numbered
 * run->file_no) into *out. */
static int create_store(struct run *run, const char *path, const char *run_id, struct pd_store **out,
                        struct pd_err *err)
{
    const struct pd_acq_config *cfg = run->cfg;
    char start_time[40];
    pd_time_format_iso8601(run->tb.utc0_ns, start_time, sizeof start_time);
    int simulated = 0;
    for (size_t i = 0; i < run->n_buses; i++)
        simulated |= run->buses[i].info.simulated;
    struct pd_store_attr run_attrs_base[] = {
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
        DATTR("flush_interval_s", cfg->flush_interval_s, "s"),
        IATTR("chunk_samples", cfg->store_chunk_samples),
        IATTR("deflate_level", cfg->store_deflate),
    };
    const struct acq_method *method = acq_method_find(cfg->method);
    run->space_margin = 0;
    enum { N_BASE = sizeof run_attrs_base / sizeof run_attrs_base[0], MAX_EXTRA = 24 };
    struct pd_store_attr run_attrs[N_BASE + MAX_EXTRA];
    memcpy(run_attrs, run_attrs_base, sizeof run_attrs_base);
    size_t n_run_attrs = N_BASE + method->run_attrs(cfg->method_params, run_attrs + N_BASE, MAX_EXTRA - 1);
    char file_start[40]; /* a recording's file: when it began (start_time stays the run's) */
    if (method->one_entry_per_file) {
        pd_time_format_iso8601(pd_timebase_utc(&run->tb, pd_clock_mono_ns()), file_start, sizeof file_start);
        run_attrs[n_run_attrs++] = (struct pd_store_attr)SATTR("file_start_time", file_start);
    }

    struct pd_store_instrument inst[PD_ACQ_MAX_INSTRUMENTS];
    struct pd_store_attr inst_attrs[PD_ACQ_MAX_INSTRUMENTS][12];
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
        double rate = 1e9 / (double)b->period_ns;
        a[k++] = (struct pd_store_attr)DATTR("poll_rate_hz", rate, "Hz");
        inst[i].chunk_samples = acq_chunk_for_rate(rate, (size_t)cfg->store_chunk_samples);
        /* Room to go on: a fresh chunk of every column of every specimen's group may be written
         * at the next flush, plus what one flush interval of samples takes. */
        uint64_t row = (uint64_t)(3 * 8 + 4 + 8 * b->n_channels);
        run->space_margin += 2 * inst[i].chunk_samples * row + (uint64_t)(rate * cfg->flush_interval_s * 2) * row;
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

    run->space_margin += 1u << 20; /* events, metadata, the final attributes */
    size_t n_sp = method->one_entry_per_file ? 1 : (size_t)cfg->specimens;
    struct pd_store_specimen *sp = calloc(n_sp, sizeof *sp);
    if (!sp)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    struct pd_store_attr sample_attrs[MAX_EXTRA + 1];
    size_t n_sample_attrs = method->specimen_attrs(cfg->method_params, sample_attrs, MAX_EXTRA);
    sample_attrs[n_sample_attrs++] = (struct pd_store_attr)SATTR("material", cfg->material);
    for (size_t i = 0; i < n_sp; i++) {
        if (method->one_entry_per_file) /* the file's number in the recording */
            snprintf(sp[i].id, sizeof sp[i].id, "%.48s-F%03u", run_id, (unsigned)run->file_no % 1000000u);
        else
            snprintf(sp[i].id, sizeof sp[i].id, "%.48s-S%02u", run_id, (unsigned)(i + 1) % 1000u);
        sp[i].attrs = sample_attrs;
        sp[i].n_attrs = n_sample_attrs;
    }
    struct pd_store_layout layout = {
        .n_run_attrs = n_run_attrs,
        .run_attrs = run_attrs,
        .n_instruments = run->n_buses,
        .instruments = inst,
        .n_specimens = n_sp,
        .specimens = sp,
        .chunk_samples = (size_t)cfg->store_chunk_samples,
        .deflate_level = cfg->store_deflate,
    };
    int rc = pd_store_create(path, &layout, out, err);
    free(sp);
    return rc;
}

/* The writer checks the clock at every flush; one last look covers the end of the run. */
static void check_clock_final(struct run *run)
{
    int64_t step = pd_timebase_step_ns(&run->tb);
    int64_t mag = step < 0 ? -step : step;
    if (mag > run->clock_step_max_ns)
        run->clock_step_max_ns = mag;
}

static void make_run_id(char *buf, size_t size)
{
    char iso[40];
    pd_time_format_iso8601(pd_clock_utc_ns(), iso, sizeof iso);
    /* 2026-11-25T02:26:58.123456789Z -> 20261125T022658-<pid> : sortable, unique per process */
    snprintf(buf, size, "%.4s%.2s%.2sT%.2s%.2s%.2s-%05d", iso, iso + 5, iso + 8, iso + 11, iso + 14, iso + 17,
             (int)(getpid() % 100000));
}

/* The driver's link counters (bus threads stopped: the instance is no longer in use), logged in
 * one line and returned as `link_<name>` summary attributes with their keys in `keys`. */
static size_t acq_link_stats(struct bus *b, struct pd_store_attr *out, char keys[][48])
{
    struct pd_driver_stat st[PD_DRIVER_STATS_MAX];
    size_t n = b->drv && b->drv->stats && b->state ? b->drv->stats(b->state, st, PD_DRIVER_STATS_MAX) : 0;
    char line[1024];
    size_t off = 0;
    bool faults = false;
    for (size_t k = 0; k < n; k++) {
        snprintf(keys[k], sizeof keys[k], "link_%s", st[k].name);
        out[k] = (struct pd_store_attr){.key = keys[k], .type = PD_STORE_INT, .i = (int64_t)st[k].value};
        faults = faults || (st[k].fault && st[k].value > 0);
        int w = snprintf(line + off, sizeof line - off, "%s%s %llu", k ? ", " : "", st[k].name,
                         (unsigned long long)st[k].value);
        if (w > 0 && (size_t)w < sizeof line - off)
            off += (size_t)w;
    }
    if (n)
        pd_log(faults ? PD_LOG_WARN : PD_LOG_INFO, "%s: link counters: %s", b->cfg->name, line);
    return n;
}

const char *pd_acq_outcome_name(enum pd_acq_outcome outcome)
{
    switch (outcome) {
    case PD_ACQ_COMPLETED: return "completed";
    case PD_ACQ_INTERRUPTED: return "interrupted";
    case PD_ACQ_FAILED: return "failed";
    case PD_ACQ_INCOMPLETE: return "incomplete";
    }
    return "unknown";
}

/* Completed only when every planned specimen was tested; a failure (status rc) outranks a stop on
 * request, which outranks specimens lost to timeouts. The reason is one line: the error, the
 * signal and how far the series got, or which specimens were not tested and why (the series
 * listed those in outcome_reason as it went). */
static void decide_outcome(const struct run *run, int rc, const struct pd_err *err, struct pd_acq_result *result)
{
    bool rolling = acq_method_find(run->cfg->method)->one_entry_per_file;
    size_t planned = rolling ? 1 : (size_t)run->cfg->specimens; /* a recording is one "specimen" */
    result->specimens_planned = planned;
    char listed[sizeof result->outcome_reason];
    pd_strlcpy(listed, result->outcome_reason, sizeof listed);
    if (result->interrupted && run->opt->stop && *run->opt->stop)
        result->stop_signal = (int)*run->opt->stop;
    if (rc < 0) {
        result->outcome = PD_ACQ_FAILED;
        snprintf(result->outcome_reason, sizeof result->outcome_reason, "%s", err->msg);
    } else if (result->specimens_tested >= planned) {
        result->outcome = PD_ACQ_COMPLETED;
        result->interrupted = 0; /* a stop asked for after the last specimen changed nothing */
        if (rolling) /* the method's own reason (a station's stop) or the duration */
            snprintf(result->outcome_reason, sizeof result->outcome_reason, "%.400s, %u file(s)",
                     listed[0] ? listed : "recorded for the configured duration", (unsigned)run->file_no);
        else
            snprintf(result->outcome_reason, sizeof result->outcome_reason, "all %zu specimens tested", planned);
    } else if (result->interrupted) {
        result->outcome = PD_ACQ_INTERRUPTED;
        const char *by = result->stop_signal == SIGINT    ? " by SIGINT"
                         : result->stop_signal == SIGTERM ? " by SIGTERM"
                         : result->stop_signal == SIGHUP  ? " by SIGHUP"
                                                          : "";
        if (rolling)
            snprintf(result->outcome_reason, sizeof result->outcome_reason, "recording %.400s%s in its file %u",
                     listed[0] ? listed : "stopped on request", by, (unsigned)run->file_no);
        else
        snprintf(result->outcome_reason, sizeof result->outcome_reason,
                 "stopped on request%s after %zu of %zu specimens tested%s%.400s%s", by, result->specimens_tested,
                 planned, listed[0] ? " (" : "", listed, listed[0] ? ")" : "");
    } else {
        result->outcome = PD_ACQ_INCOMPLETE;
        snprintf(result->outcome_reason, sizeof result->outcome_reason, "%zu of %zu specimens tested (%.400s)",
                 result->specimens_tested, planned, listed[0] ? listed : "no reason recorded");
    }
}

/* The command that makes the missing secret key at `path`, for the error: keygen writes
 * DIR/station-NAME.key, so a path of that form gives the exact command (the folder quoted for a
 * shell when it needs it); any other file name, the command's form and the name it writes. */
static void keygen_hint(const char *path, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/');
    const char *file = slash ? slash + 1 : path;
    int dir_len = !slash ? 1 : slash == path ? 1 : (int)(slash - path);
    const char *dir = slash ? path : ".";
    size_t n = strlen(file);
    if (strncmp(file, "station-", 8) != 0 || n <= 12 || strcmp(file + n - 4, ".key") != 0) {
        snprintf(buf, size, " (make one with `polydaq keygen --station NAME -o DIR`, which writes "
                            "DIR/station-NAME.key, and give that path here)");
        return;
    }
    bool plain = strspn(file, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
    for (int i = 0; plain && i < dir_len; i++)
        plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/", dir[i]) != NULL;
    const char *q = plain ? "" : "'"; /* a path with a ' in it is left as it is: rare, and still named */
    snprintf(buf, size, " (make it once with `polydaq keygen --station %s%.*s%s -o %s%.*s%s`)", q, (int)(n - 12),
             file + 8, q, q, dir_len, dir, q);
}

/* The station's key, before any instrument is touched: a missing, damaged or group/other-readable
 * key fails the run's start with the config's place named. No station section: said once. */
static int load_station_key(struct run *run, struct pd_err *err)
{
    const struct pd_acq_config *cfg = run->cfg;
    if (!cfg->station_name[0]) {
        pd_log(PD_LOG_WARN,
               "%s has no station section: the run files are not sealed, and no certificate made from them "
               "is accredited",
               pd_cfg_source_name(cfg->doc));
        return PD_OK;
    }
    struct pd_err e;
    if (pd_secret_key_load(cfg->station_key, &run->station_key, &e) < 0) {
        char hint[4400] = "";
        if (e.os_errno == ENOENT)
            keygen_hint(cfg->station_key, hint, sizeof hint);
        return pd_cfg_error(err, cfg->station_key_node, "%s%s", e.msg, hint);
    }
    run->sealing = true;
    return PD_OK;
}

/* Seals a file just closed cleanly (the store fsync'ed it) with the station's key, stating the
 * outcome the file records. A seal that cannot be written leaves the data as they are: the error
 * is logged and the file stays unsealed (never accredited). */
static void seal_closed_file(struct run *run, const char *path, const char *outcome)
{
    if (!run->sealing)
        return;
    struct pd_seal_facts f;
    memset(&f, 0, sizeof f);
    pd_strlcpy(f.run_id, run->run_id, sizeof f.run_id);
    pd_strlcpy(f.outcome, outcome, sizeof f.outcome);
    for (size_t i = 0; i < run->n_buses && i < PD_SEAL_MAX_INSTRUMENTS; i++) {
        const struct bus *b = &run->buses[i];
        f.simulated = f.simulated || b->info.simulated;
        pd_strlcpy(f.instruments[i].name, b->cfg->name, sizeof f.instruments[i].name);
        pd_strlcpy(f.instruments[i].model, b->info.model, sizeof f.instruments[i].model);
        pd_strlcpy(f.instruments[i].serial, b->info.serial, sizeof f.instruments[i].serial);
        pd_strlcpy(f.instruments[i].firmware, b->info.firmware, sizeof f.instruments[i].firmware);
        f.n_instruments = i + 1;
    }
    struct pd_err e;
    if (pd_seal_create(path, &f, NULL, run->cfg->station_name, &run->station_key, NULL, &e) < 0) {
        pd_log(PD_LOG_ERROR, "the run file was not sealed (it will not be accredited): %s", e.msg);
        return;
    }
    pd_seal_path(path, run->result->seal_path, sizeof run->result->seal_path, &e);
    run->result->files_sealed++;
}

/* True when the run file is still at its path (not removed, nor its directory renamed away). */
static bool file_still_at(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int acq_run_rollover(struct run *run, bool *switched, struct pd_err *err)
{
    *switched = false;
    uint32_t to = atomic_load(&run->rollover_to);
    char next[sizeof run->result->path];
    snprintf(next, sizeof next, "%s/run-%s-%03u.h5", run->out_dir, run->run_id, (unsigned)run->file_no + 1);
    const char *next_name = strrchr(next, '/') ? strrchr(next, '/') + 1 : next;
    char cur_name[256];
    pd_strlcpy(cur_name, strrchr(run->path, '/') ? strrchr(run->path, '/') + 1 : run->path, sizeof cur_name);
    /* The current file ends now (every sample of its tags is in it), before the next begins. */
    char end_time[40], reason[600];
    pd_time_format_iso8601(pd_timebase_utc(&run->tb, pd_clock_mono_ns()), end_time, sizeof end_time);
    /* The next file first: while it cannot be created the current one stays open and goes on. */
    struct pd_store *next_store = NULL;
    struct pd_err cerr;
    run->file_no++; /* the new file's number, for its layout */
    int rc = create_store(run, next, run->run_id, &next_store, &cerr);
    run->file_no--;
    if (rc < 0) {
        if (!file_still_at(run->path)) /* nothing to go on in: fail, closing the file cleanly */
            return pd_err_set(err, PD_EIO, run->path,
                              "the run file is gone from its directory (removed or renamed) and the next file "
                              "cannot be created (%s): the recording stops here",
                              cerr.msg);
        run->file_tag = to; /* the samples of the new tag stay in the current file */
        run->rollover_failures++;
        char text[800];
        snprintf(text, sizeof text,
                 "the next file %.100s cannot be created (attempt %u): %.400s; the recording goes on in %.100s and "
                 "the rollover is tried again",
                 next_name, run->rollover_failures, cerr.msg, cur_name);
        pd_log(PD_LOG_WARN, "%s", text);
        acq_run_event(run, 0, "rollover_failed", text);
        atomic_store(&run->rollover_failed, 1);
        return PD_OK;
    }
    snprintf(reason, sizeof reason, "rolled over: the recording goes on in %.200s", next_name);
    int64_t written = 0, lost = 0;
    pthread_mutex_lock(&run->store_lock);
    for (size_t i = 0; i < run->n_buses; i++) {
        struct bus *b = &run->buses[i];
        int64_t w = (int64_t)(atomic_load(&b->n_written) - run->file_written_base[i]);
        int64_t l = (int64_t)(b->lost_recorded - run->file_lost_base[i]);
        written += w;
        lost += l;
        struct pd_store_attr summary[] = {
            DATTR("poll_rate_hz", 1e9 / (double)b->period_ns, "Hz"),
            IATTR("samples_acquired", w + l),
            IATTR("samples_written", w),
            IATTR("samples_lost_recorded", l),
        };
        struct pd_err e;
        if (pd_store_set_instrument_summary(run->store, i, sizeof summary / sizeof summary[0], summary, &e) < 0)
            pd_log(PD_LOG_ERROR, "%s", e.msg);
        run->file_written_base[i] += (uint64_t)w;
        run->file_lost_base[i] += (uint64_t)l;
    }
    struct pd_store_attr status = SATTR("status", "recorded");
    struct pd_err se;
    if (pd_store_set_specimen_attr(run->store, 0, &status, &se) < 0)
        pd_log(PD_LOG_ERROR, "%s", se.msg);
    struct pd_store_attr final_attrs[] = {
        SATTR("end_time", end_time),
        IATTR("specimens_tested", 1),
        IATTR("specimens_planned", 1),
        IATTR("samples_acquired", written + lost),
        IATTR("samples_written", written),
        IATTR("samples_lost", lost),
        IATTR("recording_file", (int64_t)run->file_no),
        SATTR("next_file", next_name),
        SATTR("outcome", "completed"),
        SATTR("outcome_reason", reason),
    };
    rc = pd_store_close(run->store, sizeof final_attrs / sizeof final_attrs[0], final_attrs, err);
    char closed[sizeof run->result->path] = "";
    if (rc == PD_OK)
        pd_strlcpy(closed, run->result->path, sizeof closed);
    /* the new file takes over even when the old one failed to close: the run then fails (rc), and
     * its tear-down closes the new file with the reason */
    run->store = next_store;
    run->file_no++;
    run->file_tag = to;
    pd_strlcpy(run->result->path, next, sizeof run->result->path);
    status.s = "recording";
    if (pd_store_set_specimen_attr(run->store, 0, &status, &se) < 0)
        pd_log(PD_LOG_ERROR, "%s", se.msg);
    pthread_mutex_unlock(&run->store_lock);
    *switched = true;
    /* sealed outside the lock: hashing a day's file must not hold up the method thread's events
     * (the rings take the samples meanwhile) */
    if (closed[0])
        seal_closed_file(run, closed, "completed");
    pd_log(PD_LOG_INFO, "recording: file %u, %s", (unsigned)run->file_no, run->path);
    if (run->rollover_failures) {
        char text[300];
        snprintf(text, sizeof text, "created after %u failed attempt(s); %.100s holds the samples until now",
                 run->rollover_failures, cur_name);
        pd_log(PD_LOG_INFO, "recording: %s %s", next_name, text);
        acq_run_event(run, 0, "rollover_recovered", text);
        run->rollover_failures = 0;
    }
    return rc;
}

/* One run per instrument: an exclusive flock on OUT_DIR/.instrument-NAME.lock for each instrument
 * (released by the kernel however the run ends, also by SIGKILL), holding the run's id so the
 * second run can name the first. fds[i] is -1 where nothing was taken. */
static int lock_instruments(const struct pd_acq_config *cfg, const char *out_dir, const char *run_id, int *fds,
                            struct pd_err *err)
{
    for (size_t i = 0; i < cfg->n_instruments; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/.instrument-%s.lock", out_dir, cfg->instruments[i].name);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            return pd_err_set_os(err, PD_EIO, errno, path, "cannot open the instrument's lock file");
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            int e = errno;
            char holder[80] = "";
            ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
            holder[n > 0 ? n : 0] = '\0';
            holder[strcspn(holder, "\n")] = '\0';
            for (char *p = holder; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                    *p = '?';
            close(fd);
            if (e == EWOULDBLOCK)
                return pd_err_set(err, PD_EBUSY, NULL, "instrument %s is in use by run %s (lock %s)",
                                  cfg->instruments[i].name, holder[0] ? holder : "(starting)", path);
            return pd_err_set_os(err, PD_EIO, e, path, "cannot lock the instrument");
        }
        fds[i] = fd;
        if (ftruncate(fd, 0) < 0 || pwrite(fd, run_id, strlen(run_id), 0) < 0)
            pd_log(PD_LOG_WARN, "%s: cannot write the run's id (the lock holds)", path);
    }
    return PD_OK;
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
    run->file_no = 1;
    run->file_tag = 1;
    run->rolling = acq_method_find(cfg->method)->one_entry_per_file;
    pthread_mutex_init(&run->store_lock, NULL);
    if (acq_writer_wake_init(run) < 0) /* the writer then sleeps its pauses out: stops take longer */
        pd_log(PD_LOG_INFO, "writer: no wake-up condition; a stop waits for the writer's pause");
    run->flush_period_ns = (int64_t)(cfg->flush_interval_s * 1e9);
    if (run->flush_period_ns <= 0)
        run->flush_period_ns = ACQ_FLUSH_PERIOD_NS;
    /* Test hooks (documented in docs/HDF5-SCHEMA.md): read once, here. */
    size_t ring_capacity = 0; /* by each instrument's rate (acq_ring_for_rate) */
    long hook;
    const char *env = getenv(ACQ_ENV_RING_CAPACITY);
    if (env && pd_parse_long(env, &hook) && hook >= 2 && hook <= ACQ_RING_CAPACITY)
        ring_capacity = (size_t)hook;
    env = getenv(ACQ_ENV_WRITER_STALL_MS);
    if (env && pd_parse_long(env, &hook) && hook > 0 && hook <= 600000)
        run->test_stall_ns = hook * 1000000LL;
    int lock_fds[PD_ACQ_MAX_INSTRUMENTS];
    for (size_t i = 0; i < PD_ACQ_MAX_INSTRUMENTS; i++)
        lock_fds[i] = -1;
    make_run_id(result->run_id, sizeof result->run_id);
    int rc = opt->station ? acq_station_check(cfg, err) : PD_OK;
    if (rc == PD_OK)
        rc = load_station_key(run, err);
    if (rc == PD_OK)
        rc = pd_mkdir_p(opt->out_dir, err);
    if (rc == PD_OK)
        rc = lock_instruments(cfg, opt->out_dir, result->run_id, lock_fds, err);
    for (size_t i = 0; i < cfg->n_instruments; i++) {
        struct bus *b = &run->buses[i];
        b->cfg = &cfg->instruments[i];
        acq_bus_init_sync(b);
        run->n_buses = i + 1;
        if (rc == PD_OK)
            rc = acq_bus_open(b, cfg, opt->sim_dir, ring_capacity, err);
    }
    if (rc == PD_OK) {
        pd_strlcpy(run->run_id, result->run_id, sizeof run->run_id);
        pd_strlcpy(run->out_dir, opt->out_dir, sizeof run->out_dir);
        run->result = result;
        if (acq_method_find(cfg->method)->one_entry_per_file)
            snprintf(result->path, sizeof result->path, "%s/run-%s-001.h5", opt->out_dir, result->run_id);
        else
            snprintf(result->path, sizeof result->path, "%s/run-%s.h5", opt->out_dir, result->run_id);
        pd_timebase_init(&run->tb);
        run->path = result->path;
        rc = create_store(run, result->path, result->run_id, &run->store, err);
        if (rc < 0)
            result->path[0] = '\0';
    }
    if (rc == PD_OK) {
        for (size_t i = 0; i < run->n_buses && rc == PD_OK; i++)
            rc = acq_bus_start(&run->buses[i], err);
        if (rc == PD_OK) {
            if (pthread_create(&run->writer, NULL, acq_writer_main, run) != 0)
                rc = pd_err_set(err, PD_ENOMEM, NULL, "cannot start the writer thread");
            else
                run->writer_started = true;
        }
        if (rc == PD_OK)
            rc = acq_station_start(run, err);
        if (rc == PD_OK) {
            acq_run_event(run, SIZE_MAX, "run_start", result->run_id);
            rc = acq_method_find(cfg->method)->run_series(run, result, err);
        }
    }
    /* Tear-down in dependency order: stop polling, drain everything into the file, close it. */
    for (size_t i = 0; i < run->n_buses; i++) {
        if (run->buses[i].thread_started) {
            acq_bus_quit(&run->buses[i]);
            pthread_join(run->buses[i].thread, NULL);
            run->buses[i].thread_started = false;
        }
    }
    if (run->writer_started) {
        acq_writer_quit(run);
        pthread_join(run->writer, NULL);
    }
    if (run->store) {
        struct pd_err close_err;
        if (atomic_load(&run->writer_rc) == PD_OK || run->stopped_for_space) {
            struct pd_err e;
            bool rolled;
            int drc = acq_writer_drain_all(run, &rolled, &e);
            /* Losses the bus threads still held (no sample after them reached the ring). */
            for (size_t i = 0; drc == PD_OK && i < run->n_buses; i++) {
                struct acq_loss held[ACQ_LOSS_BACKLOG + 1];
                size_t n = acq_bus_take_pending_losses(&run->buses[i], held, ACQ_LOSS_BACKLOG + 1);
                for (size_t k = 0; drc == PD_OK && k < n; k++)
                    drc = acq_record_loss(run, i, &held[k], &e);
            }
            if (drc < 0 && rc == PD_OK)
                rc = pd_err_set(err, e.code, NULL, "%s", e.msg);
        }
        uint64_t missed = 0, reconnects = 0;
        for (size_t i = 0; i < run->n_buses; i++) {
            struct bus *b = &run->buses[i];
            uint64_t acquired = atomic_load(&b->n_acquired), written = atomic_load(&b->n_written);
            uint64_t lost = atomic_load(&b->n_lost), bus_missed = atomic_load(&b->n_missed_deadlines);
            result->samples_acquired += acquired;
            result->samples_written += written;
            result->samples_lost += lost;
            result->read_errors += atomic_load(&b->n_errors);
            missed += bus_missed;
            reconnects += atomic_load(&b->n_reconnects);
            if (acq_method_find(cfg->method)->one_entry_per_file) { /* this file's share */
                written -= run->file_written_base[i];
                acquired = written + (b->lost_recorded - run->file_lost_base[i]);
            }
            struct pd_store_attr summary[] = {
                DATTR("poll_rate_hz", 1e9 / (double)b->period_ns, "Hz"),
                IATTR("readings", (int64_t)atomic_load(&b->n_readings)),
                IATTR("samples_acquired", (int64_t)acquired),
                IATTR("samples_written", (int64_t)written),
                IATTR("samples_lost", (int64_t)lost),
                IATTR("samples_lost_recorded", (int64_t)b->lost_recorded),
                IATTR("missed_deadlines", (int64_t)bus_missed),
                IATTR("read_errors", (int64_t)atomic_load(&b->n_errors)),
                IATTR("reconnects", (int64_t)atomic_load(&b->n_reconnects)),
                IATTR("events_lost", (int64_t)atomic_load(&b->n_events_lost)),
                IATTR("ring_capacity", (int64_t)b->ring_capacity),
            };
            size_t n_summary = sizeof summary / sizeof summary[0];
            struct pd_store_attr all[sizeof summary / sizeof summary[0] + PD_DRIVER_STATS_MAX];
            char keys[PD_DRIVER_STATS_MAX][48];
            memcpy(all, summary, sizeof summary);
            n_summary += acq_link_stats(b, all + n_summary, keys);
            struct pd_err e;
            pthread_mutex_lock(&run->store_lock);
            if (pd_store_set_instrument_summary(run->store, i, n_summary, all, &e) < 0)
                pd_log(PD_LOG_ERROR, "%s", e.msg);
            pthread_mutex_unlock(&run->store_lock);
        }
        result->missed_deadlines = missed;
        /* A rolling run's last file counts its own samples, like the files before it. */
        int64_t file_acquired = (int64_t)result->samples_acquired, file_written = (int64_t)result->samples_written,
                file_lost = (int64_t)result->samples_lost;
        if (acq_method_find(cfg->method)->one_entry_per_file) {
            file_written = file_lost = 0;
            for (size_t i = 0; i < run->n_buses; i++) {
                file_written += (int64_t)(atomic_load(&run->buses[i].n_written) - run->file_written_base[i]);
                file_lost += (int64_t)(run->buses[i].lost_recorded - run->file_lost_base[i]);
            }
            file_acquired = file_written + file_lost;
        }
        check_clock_final(run);
        decide_outcome(run, rc, err, result);
        char end_text[sizeof result->outcome_reason + 16];
        snprintf(end_text, sizeof end_text, "%s: %s", pd_acq_outcome_name(result->outcome), result->outcome_reason);
        acq_run_event(run, SIZE_MAX, "run_end", end_text);
        char end_time[40];
        pd_time_format_iso8601(pd_timebase_utc(&run->tb, pd_clock_mono_ns()), end_time, sizeof end_time);
        int simulated = 0; /* an instrument may have turned out simulated on a reconnect */
        for (size_t i = 0; i < run->n_buses; i++)
            simulated |= run->buses[i].info.simulated;
        struct pd_store_attr final_attrs[] = {
            SATTR("end_time", end_time),
            IATTR("simulated", simulated),
            IATTR("specimens_tested", (int64_t)result->specimens_tested),
            IATTR("samples_acquired", file_acquired),
            IATTR("samples_written", file_written),
            IATTR("samples_lost", file_lost),
            IATTR("read_errors", (int64_t)result->read_errors),
            IATTR("missed_deadlines", (int64_t)missed),
            IATTR("reconnects", (int64_t)reconnects),
            IATTR("clock_step_ns", pd_timebase_step_ns(&run->tb)),
            IATTR("clock_step_max_ns", run->clock_step_max_ns),
            IATTR("interrupted", result->interrupted),
            IATTR("specimens_planned", acq_method_find(cfg->method)->one_entry_per_file ? 1 : (int64_t)cfg->specimens),
            IATTR("recording_file", (int64_t)run->file_no),
            SATTR("outcome", pd_acq_outcome_name(result->outcome)),
            SATTR("outcome_reason", result->outcome_reason),
        };
        int crc = pd_store_close(run->store, sizeof final_attrs / sizeof final_attrs[0], final_attrs, &close_err);
        if (crc == PD_OK) /* closed cleanly, whatever the outcome: the seal states it */
            seal_closed_file(run, run->path, pd_acq_outcome_name(result->outcome));
        if (crc < 0 && rc == PD_OK) {
            rc = crc;
            *err = close_err;
        }
        if (atomic_load(&run->writer_rc) < 0 && rc == PD_OK) {
            rc = atomic_load(&run->writer_rc);
            *err = run->writer_err;
        }
    }
    if (rc < 0 && result->outcome != PD_ACQ_FAILED) /* no file, or it failed at the very end */
        decide_outcome(run, rc, err, result);
    /* the station's last word, once the file is closed and sealed */
    acq_station_finish(run, result->outcome == PD_ACQ_INCOMPLETE ? "failed" : pd_acq_outcome_name(result->outcome),
                       result->outcome_reason);
    for (size_t i = 0; i < run->n_buses; i++)
        acq_bus_close(&run->buses[i]);
    for (size_t i = 0; i < PD_ACQ_MAX_INSTRUMENTS; i++)
        if (lock_fds[i] >= 0)
            close(lock_fds[i]); /* the instruments are free for the next run */
    pthread_mutex_destroy(&run->store_lock);
    acq_writer_wake_destroy(run);
    pd_secret_key_wipe(&run->station_key);
    free(run);
    return rc;
}
