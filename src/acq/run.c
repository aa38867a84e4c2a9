/* run.c — one test series end to end: open the instruments (starting their simulators), create
 * the run file with its whole layout, start the bus and writer threads, run the method, and tear
 * everything down in order so that every acquired sample reaches the closed file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acq/acq_internal.h"
#include "pd_version.h"

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
    };
    const struct acq_method *method = acq_method_find(cfg->method);
    enum { N_BASE = sizeof run_attrs_base / sizeof run_attrs_base[0], MAX_EXTRA = 24 };
    struct pd_store_attr run_attrs[N_BASE + MAX_EXTRA];
    memcpy(run_attrs, run_attrs_base, sizeof run_attrs_base);
    size_t n_run_attrs = N_BASE + method->run_attrs(cfg->method_params, run_attrs + N_BASE, MAX_EXTRA);

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
    struct pd_store_attr sample_attrs[MAX_EXTRA + 1];
    size_t n_sample_attrs = method->specimen_attrs(cfg->method_params, sample_attrs, MAX_EXTRA);
    sample_attrs[n_sample_attrs++] = (struct pd_store_attr)SATTR("material", cfg->material);
    for (size_t i = 0; i < n_sp; i++) {
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
        .chunk_samples = 0,
        .deflate_level = -1,
    };
    int rc = pd_store_create(path, &layout, &run->store, err);
    free(sp);
    return rc;
}

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
            rc = acq_bus_open(b, cfg, opt->sim_dir, err);
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
        for (size_t i = 0; i < run->n_buses && rc == PD_OK; i++)
            rc = acq_bus_start(&run->buses[i], err);
        if (rc == PD_OK) {
            if (pthread_create(&run->writer, NULL, acq_writer_main, run) != 0)
                rc = pd_err_set(err, PD_ENOMEM, NULL, "cannot start the writer thread");
            else
                run->writer_started = true;
        }
        if (rc == PD_OK) {
            acq_run_event(run, SIZE_MAX, "run_start", result->run_id);
            rc = acq_method_find(cfg->method)->run_series(run, result, err);
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
        if (atomic_load(&run->writer_rc) == PD_OK) {
            struct pd_err e;
            if (acq_writer_drain(run, &e) < 0 && rc == PD_OK)
                rc = pd_err_set(err, e.code, NULL, "%s", e.msg);
        }
        for (size_t i = 0; i < run->n_buses; i++) {
            result->samples_written += atomic_load(&run->buses[i].n_written);
            result->samples_lost += atomic_load(&run->buses[i].n_lost);
            result->read_errors += atomic_load(&run->buses[i].n_errors);
        }
        uint64_t missed = 0, reconnects = 0;
        for (size_t i = 0; i < run->n_buses; i++) {
            missed += atomic_load(&run->buses[i].n_missed_deadlines);
            reconnects += atomic_load(&run->buses[i].n_reconnects);
        }
        acq_run_event(run, SIZE_MAX, "run_end", rc < 0 ? err->msg : (result->interrupted ? "interrupted" : "completed"));
        char end_time[40];
        pd_time_format_iso8601(pd_timebase_utc(&run->tb, pd_clock_mono_ns()), end_time, sizeof end_time);
        struct pd_store_attr final_attrs[] = {
            SATTR("end_time", end_time),
            IATTR("specimens_tested", (int64_t)result->specimens_tested),
            IATTR("samples_written", (int64_t)result->samples_written),
            IATTR("samples_lost", (int64_t)result->samples_lost),
            IATTR("read_errors", (int64_t)result->read_errors),
            IATTR("missed_deadlines", (int64_t)missed),
            IATTR("reconnects", (int64_t)reconnects),
            IATTR("clock_step_ns", pd_timebase_step_ns(&run->tb)),
            IATTR("interrupted", result->interrupted),
            SATTR("outcome", rc < 0 ? err->msg : "completed"),
        };
        int crc = pd_store_close(run->store, sizeof final_attrs / sizeof final_attrs[0], final_attrs, &close_err);
        if (crc < 0 && rc == PD_OK) {
            rc = crc;
            *err = close_err;
        }
        if (atomic_load(&run->writer_rc) < 0 && rc == PD_OK) {
            rc = atomic_load(&run->writer_rc);
            *err = run->writer_err;
        }
    }
    for (size_t i = 0; i < run->n_buses; i++)
        acq_bus_close(&run->buses[i]);
    pthread_mutex_destroy(&run->store_lock);
    free(run);
    return rc;
}
