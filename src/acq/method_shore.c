/* method_shore.c — the ISO 868 Shore hardness series: per specimen, the configured number of
 * indentations, each recorded once as the reading the durometer holds at the dwell time. Driven from
 * a station (docs/STATION.md "A Shore series"), each specimen waits for its thickness and a start,
 * and a stop or an abort ends it between or during its indentations. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "acq/acq_internal.h"

struct shore_params {
    int dims_mode; /* index into dims_choices */
    char caliper[32]; /* the instrument that measures the thickness (terminal's Enter, station's button); "": typed */
    char scale[4];
    double thickness_mm;
    double dwell_s, dwell_tolerance_s;
    long readings;
};

#define F(k) offsetof(struct shore_params, k)
static const char *const scale_names[] = {"A", "D", NULL};
static const char *const dims_choices[] = {"config", "prompt", NULL};
/* Measured on each specimen (dimensions.c): the stack's thickness, in the configuration's range. */
static const struct acq_dim shore_dims[] = {
    {.key = "thickness", .label = "thickness (stack)", .min = 0.1, .max = 100, .required = true, .prompted = true},
};
static const struct pd_cfg_field specimen_fields[] = {
    {.key = "scale", .type = PD_CFG_T_STRING, .offset = F(scale), .size = sizeof(((struct shore_params *)0)->scale),
     .def = "A", .help = "durometer type A or D"},
    {.key = "thickness", .type = PD_CFG_T_DOUBLE, .offset = F(thickness_mm), .min = 0.1, .max = 100, .def = "6",
     .help = "specimen (stack) thickness in mm, at least 4"},
    {.key = "dimensions", .type = PD_CFG_T_ENUM, .offset = F(dims_mode), .choices = dims_choices, .def = "config",
     .help = "where each specimen's thickness comes from: config (this value) or prompt (typed on the terminal)"},
    {.key = "caliper", .type = PD_CFG_T_STRING, .offset = F(caliper), .size = sizeof(((struct shore_params *)0)->caliper),
     .def = "", .help = "with dimensions: prompt, the instrument (e.g. caliper1) whose reading Enter takes"},
    {.key = NULL},
};
static const struct pd_cfg_field method_fields[] = {
    {.key = "dwell", .type = PD_CFG_T_DOUBLE, .offset = F(dwell_s), .min = 0.5, .max = 60, .def = "15",
     .help = "seconds from firm contact to the reading (ISO 868: 15)"},
    {.key = "dwell_tolerance", .type = PD_CFG_T_DOUBLE, .offset = F(dwell_tolerance_s), .min = 0, .max = 10, .def = "1",
     .help = "accepted deviation of the reading's dwell, s"},
    {.key = "readings", .type = PD_CFG_T_INT, .offset = F(readings), .min = 1, .max = 100, .def = "5",
     .help = "indentations per specimen (ISO 868: 5)"},
    {.key = NULL},
};
#undef F

static int shore_configure(const struct pd_acq_config *cfg, void *params, struct pd_err *err)
{
    struct shore_params *p = params;
    static const char empty[] = "{}";
    struct pd_cfg_doc *doc = NULL;
    const struct pd_cfg_node *spec = cfg->specimen_section, *meth = cfg->method_section;
    if (!spec || !meth) { /* defaults for an absent section */
        int rc = pd_cfg_load_string("(defaults)", empty, sizeof empty - 1, &doc, err);
        if (rc < 0)
            return rc;
    }
    int rc = pd_cfg_decode(spec ? spec : pd_cfg_root(doc), specimen_fields, NULL, p, err);
    if (rc == 0)
        rc = pd_cfg_decode(meth ? meth : pd_cfg_root(doc), method_fields, NULL, p, err);
    pd_cfg_free(doc);
    if (rc < 0)
        return rc;
    bool known = false;
    for (size_t i = 0; scale_names[i]; i++)
        known = known || strcmp(p->scale, scale_names[i]) == 0;
    if (!known)
        return pd_cfg_error(err, pd_cfg_map_get(spec, "scale"), "scale '%s': A or D expected", p->scale);
    if (p->caliper[0] && p->dims_mode != 1)
        return pd_cfg_error(err, pd_cfg_map_get(spec, "caliper"),
                            "a caliper is read on the terminal: it needs 'dimensions: prompt'");
    if (p->thickness_mm < 4)
        pd_log(PD_LOG_WARN, "specimen thickness %.3g mm is below the 4 mm ISO 868 asks for", p->thickness_mm);
    return PD_OK;
}

static size_t shore_specimen_attrs(const void *params, struct pd_store_attr *out, size_t max)
{
    const struct shore_params *p = params;
    const struct pd_store_attr attrs[] = {
        {.key = "scale", .type = PD_STORE_STRING, .s = p->scale},
        {.key = "thickness", .type = PD_STORE_DOUBLE, .d = p->thickness_mm, .units = "mm"},
    };
    return acq_copy_attrs(attrs, sizeof attrs / sizeof attrs[0], out, max);
}

static size_t shore_run_attrs(const void *params, struct pd_store_attr *out, size_t max)
{
    const struct shore_params *p = params;
    const struct pd_store_attr attrs[] = {
        {.key = "dwell", .type = PD_STORE_DOUBLE, .d = p->dwell_s, .units = "s"},
        {.key = "dwell_tolerance", .type = PD_STORE_DOUBLE, .d = p->dwell_tolerance_s, .units = "s"},
        {.key = "readings_per_specimen", .type = PD_STORE_INT, .i = p->readings},
    };
    return acq_copy_attrs(attrs, sizeof attrs / sizeof attrs[0], out, max);
}


/* A station's stop or abort while the presser foot is down (or between indentations): the foot is
 * lifted; a stop ends the specimen with the readings it has ("tested", evaluated as they are), an
 * abort ends the series and marks the specimen invalid. NULL: nothing was asked. */
static const char *station_request(struct run *run, struct bus *dur, size_t k, long readings_taken)
{
    char by[PD_ACQ_BY_MAX], text[PD_ACQ_BY_MAX + 120];
    const char *req = acq_station_request(run, k, by, sizeof by);
    if (!req)
        return NULL;
    struct pd_err ignore;
    acq_bus_command_optional(dur, "release", 1, &ignore);
    bool abort = strcmp(req, "abort") == 0;
    if (abort)
        snprintf(text, sizeof text, "aborted by %s after %ld reading(s): presser foot lifted, the series ends", by,
                 readings_taken);
    else
        snprintf(text, sizeof text, "stopped by %s after %ld reading(s): evaluated with them", by, readings_taken);
    return acq_station_stopped(run, k, req, by, text);
}

/* One indentation: start, wait for the held reading, release. Returns NULL or why it failed (or
 * "tested"/"aborted" when the station stopped or aborted the specimen). */
static const char *indent(struct run *run, struct bus *dur, size_t k, long r, const struct shore_params *p,
                          int hardness_ch, int dwell_ch, int64_t deadline, int *rc, struct pd_err *err)
{
    struct pd_reading latest;
    uint64_t seq0 = 0, seq;
    acq_bus_latest(dur, &latest, &seq0);
    if ((*rc = acq_bus_command(dur, "start", 1, err)) < 0)
        return "instrument failure";
    int64_t next_show = 0;
    for (;;) {
        pd_clock_sleep_ns(5 * 1000000LL);
        if (acq_bus_latest(dur, &latest, &seq) && seq > seq0)
            break;
        const char *why = acq_series_trouble(run, &dur, 1, deadline, rc, err);
        if (why)
            return why;
        if ((why = station_request(run, dur, k, r - 1)) != NULL)
            return why;
        if (pd_clock_mono_ns() >= next_show) {
            acq_show_progress(run, dur, k + 1, false);
            next_show = pd_clock_mono_ns() + 200 * 1000000LL;
        }
    }
    double h = latest.values[hardness_ch], d = latest.values[dwell_ch];
    char text[160];
    snprintf(text, sizeof text, "reading %ld: %.1f Shore %s at a dwell of %.2f s", r, h, p->scale, d);
    acq_run_event(run, k, "reading", text);
    if (fabs(d - p->dwell_s) > p->dwell_tolerance_s) {
        snprintf(text, sizeof text, "reading %ld: dwell %.2f s is not %.3g ± %.3g s", r, d, p->dwell_s,
                 p->dwell_tolerance_s);
        acq_run_event(run, k, "reading_rejected", text);
        pd_log(PD_LOG_WARN, "specimen %zu %s", k + 1, text);
    }
    struct pd_err ignore;
    if (acq_bus_command_optional(dur, "release", 1, &ignore) < 0)
        pd_log(PD_LOG_WARN, "%s", ignore.msg);
    acq_bus_report_unmapped(run, dur);
    return NULL;
}

static int shore_series(struct run *run, struct pd_acq_result *result, struct pd_err *err)
{
    const struct pd_acq_config *cfg = run->cfg;
    const struct shore_params *p = cfg->method_params;
    struct bus *dur = NULL;
    for (size_t i = 0; i < run->n_buses && !dur; i++)
        if (acq_bus_find_channel(&run->buses[i], "hardness") >= 0 && acq_bus_find_channel(&run->buses[i], "dwell") >= 0)
            dur = &run->buses[i];
    if (!dur)
        return pd_err_set(err, PD_ECONFIG, pd_cfg_source_name(cfg->doc),
                          "method iso868 needs an instrument with channels 'hardness' and 'dwell'");
    int hardness_ch = acq_bus_find_channel(dur, "hardness"), dwell_ch = acq_bus_find_channel(dur, "dwell");
    int rc = acq_bus_command_optional(dur, "dwell", p->dwell_s, err);
    if (rc < 0)
        return rc;

    for (size_t k = 0; k < (size_t)cfg->specimens; k++) {
        if (acq_series_stopping(run, result))
            break;
        struct acq_specimen_dims dims;
        if (acq_dims_obtain(run, k, &dims, result))
            break; /* end of input on the terminal, or a stop request while asking */
        if (dims.value[0] < 4)
            pd_log(PD_LOG_WARN, "specimen %zu: thickness %.3g mm is below the 4 mm ISO 868 asks for", k + 1,
                   dims.value[0]);
        if (dims.value[0] < 4 && acq_station_active(run)) {
            char warn[120];
            snprintf(warn, sizeof warn, "thickness %.3g mm is below the 4 mm ISO 868 asks for", dims.value[0]);
            acq_run_event(run, k, "warning", warn);
            acq_station_event(run, k, "warning", "polydaq", warn);
        }
        atomic_store(&dur->active_specimen, (uint32_t)(k + 1));
        acq_run_event(run, k, "specimen_start", acq_station_active(run) ? acq_station_started(run, k) : "durometer ready");
        acq_set_status(run, k, "running");
        int64_t deadline = pd_clock_mono_ns() + (int64_t)(cfg->specimen_timeout_s * 1e9);
        const char *outcome = "tested";
        rc = PD_OK;
        for (long r = 1; r <= p->readings; r++) {
            const char *why = indent(run, dur, k, r, p, hardness_ch, dwell_ch, deadline, &rc, err);
            if (!why && r < p->readings)
                why = station_request(run, dur, k, r); /* between two indentations */
            if (why) {
                outcome = why;
                break;
            }
        }
        /* the last reading is on file before the specimen closes */
        pd_clock_sleep_ns(30 * 1000000LL);
        atomic_store(&dur->active_specimen, 0);
        acq_run_event(run, k, "specimen_end", outcome);
        acq_specimen_close(run, dur, k, outcome);
        acq_station_settle(run, dur); /* the display's last points before "done" */
        bool tested = strcmp(outcome, "tested") == 0, aborted = strcmp(outcome, "aborted") == 0;
        acq_station_state(run, k, "done", aborted ? "aborted" : "stopped",
                          tested ? "completed" : aborted ? "aborted" : "failed");
        if (rc < 0)
            return rc;
        const char *aborted_by = aborted ? acq_station_aborted_by(run) : NULL;
        if (aborted_by) { /* the outcome's reason names who aborted */
            size_t used = strlen(result->outcome_reason);
            snprintf(result->outcome_reason + used, sizeof result->outcome_reason - used,
                     "%sspecimen %zu: aborted by %s", used ? ", " : "", k + 1, aborted_by);
        }
        if (strcmp(outcome, "tested") != 0) {
            struct pd_err ignore;
            acq_bus_command_optional(dur, "release", 1, &ignore); /* the presser foot off a failed specimen */
        }
        if (!acq_series_continue(result, k, outcome))
            break;
        if (acq_dims_after_specimen(run, k, result))
            break;
    }
    acq_dims_after_specimen(run, SIZE_MAX, result); /* marks still waiting, for any specimen */
    return PD_OK;
}

static void shore_dim_defaults(const void *params, double *out)
{
    out[0] = ((const struct shore_params *)params)->thickness_mm;
}

static const char *shore_caliper(const void *params)
{
    return ((const struct shore_params *)params)->caliper;
}

static enum pd_acq_dims_mode shore_dims_mode(const void *params)
{
    return ((const struct shore_params *)params)->dims_mode == 1 ? PD_ACQ_DIMS_PROMPT : PD_ACQ_DIMS_CONFIG;
}

const struct acq_method acq_method_iso868 = {
    .name = "iso868",
    .description = "ISO 868 Shore A/D durometer hardness",
    .params_size = sizeof(struct shore_params),
    .configure = shore_configure,
    .specimen_attrs = shore_specimen_attrs,
    .run_attrs = shore_run_attrs,
    .run_series = shore_series,
    .dims = shore_dims,
    .n_dims = sizeof shore_dims / sizeof shore_dims[0],
    .dim_defaults = shore_dim_defaults,
    .dims_mode = shore_dims_mode,
    .caliper = shore_caliper,
};
