/* method_tensile.c — the ISO 527 tensile series: per specimen, write the setpoints, start, record
 * until the break (or timeout), stop and return the crosshead. */
#include <stdio.h>
#include <string.h>

#include "acq/acq_internal.h"

struct tensile_params {
    int dims_mode; /* index into dims_choices */
    char caliper[32]; /* the instrument that measures them on the terminal's Enter ("": typed) */
    char type[16];
    double width_mm, thickness_mm, gauge_length_mm, grip_distance_mm;
    double speed_modulus, speed_test, speed_switch_strain;
};

#define F(k) offsetof(struct tensile_params, k)

static const char *const dims_choices[] = {"config", "prompt", NULL};

/* Measured on each specimen (dimensions.c): the ranges are the configuration's. The gauge length
 * may change per specimen from a CSV; the terminal asks only for the cross-section. */
static const struct acq_dim tensile_dims[] = {
    {.key = "width", .label = "width b", .min = 0.01, .max = 1000, .required = true, .prompted = true},
    {.key = "thickness", .label = "thickness h", .min = 0.01, .max = 1000, .required = true, .prompted = true},
    {.key = "gauge_length", .label = "gauge length L0", .min = 1, .max = 1000},
};

static const struct pd_cfg_field specimen_fields[] = {
    {.key = "type", .type = PD_CFG_T_STRING, .offset = F(type), .size = sizeof(((struct tensile_params *)0)->type),
     .def = "1A", .help = "specimen type, e.g. 1A"},
    {.key = "dimensions", .type = PD_CFG_T_ENUM, .offset = F(dims_mode), .choices = dims_choices, .def = "config",
     .help = "where each specimen's width and thickness come from: config (these values) or prompt (typed on the "
             "terminal before each specimen, these as defaults)"},
    {.key = "caliper", .type = PD_CFG_T_STRING, .offset = F(caliper), .size = sizeof(((struct tensile_params *)0)->caliper),
     .def = "", .help = "with dimensions: prompt, the instrument (e.g. caliper1) whose reading Enter takes"},
    {.key = "width", .type = PD_CFG_T_DOUBLE, .offset = F(width_mm), .min = 0.01, .max = 1000, .required = true,
     .help = "measured width b in mm"},
    {.key = "thickness", .type = PD_CFG_T_DOUBLE, .offset = F(thickness_mm), .min = 0.01, .max = 1000,
     .required = true, .help = "measured thickness h in mm"},
    {.key = "gauge_length", .type = PD_CFG_T_DOUBLE, .offset = F(gauge_length_mm), .min = 1, .max = 1000,
     .required = true, .help = "extensometer gauge length L0 in mm"},
    {.key = "grip_distance", .type = PD_CFG_T_DOUBLE, .offset = F(grip_distance_mm), .min = 1, .max = 2000,
     .def = "115", .help = "initial grip distance L in mm"},
    {.key = NULL},
};

static const struct pd_cfg_field method_fields[] = {
    {.key = "speed_modulus", .type = PD_CFG_T_DOUBLE, .offset = F(speed_modulus), .min = 0.001, .max = 1000,
     .def = "1", .help = "crosshead speed for the modulus, mm/min"},
    {.key = "speed_test", .type = PD_CFG_T_DOUBLE, .offset = F(speed_test), .min = 0.001, .max = 1000, .def = "50",
     .help = "crosshead speed after the switch, mm/min"},
    {.key = "speed_switch_strain", .type = PD_CFG_T_DOUBLE, .offset = F(speed_switch_strain), .min = 0.0025,
     .max = 1, .def = "0.003", .help = "strain at which the speed switches (a fraction, at least 0.0025)"},
    {.key = NULL},
};

static int tensile_configure(const struct pd_acq_config *cfg, void *params, struct pd_err *err)
{
    struct tensile_params *p = params;
    if (!cfg->specimen_section)
        return pd_cfg_error(err, pd_cfg_root(cfg->doc),
                            "method iso527 needs a 'specimen:' section (width, thickness, gauge_length)");
    int rc = pd_cfg_decode(cfg->specimen_section, specimen_fields, NULL, p, err);
    if (rc < 0)
        return rc;
    if (p->caliper[0] && p->dims_mode != 1)
        return pd_cfg_error(err, pd_cfg_map_get(cfg->specimen_section, "caliper"),
                            "a caliper is read on the terminal: it needs 'dimensions: prompt'");
    if (p->gauge_length_mm >= p->grip_distance_mm)
        return pd_cfg_error(err, pd_cfg_map_get(cfg->specimen_section, "gauge_length"),
                            "gauge length %.6g mm must be shorter than the grip distance %.6g mm", p->gauge_length_mm,
                            p->grip_distance_mm);
    if (cfg->method_section)
        return pd_cfg_decode(cfg->method_section, method_fields, NULL, p, err);
    p->speed_modulus = 1;
    p->speed_test = 50;
    p->speed_switch_strain = 0.003;
    return PD_OK;
}

static size_t tensile_specimen_attrs(const void *params, struct pd_store_attr *out, size_t max)
{
    const struct tensile_params *p = params;
    const struct pd_store_attr attrs[] = {
        {.key = "type", .type = PD_STORE_STRING, .s = p->type},
        {.key = "width", .type = PD_STORE_DOUBLE, .d = p->width_mm, .units = "mm"},
        {.key = "thickness", .type = PD_STORE_DOUBLE, .d = p->thickness_mm, .units = "mm"},
        {.key = "gauge_length", .type = PD_STORE_DOUBLE, .d = p->gauge_length_mm, .units = "mm"},
        {.key = "grip_distance", .type = PD_STORE_DOUBLE, .d = p->grip_distance_mm, .units = "mm"},
    };
    return acq_copy_attrs(attrs, sizeof attrs / sizeof attrs[0], out, max);
}

static size_t tensile_run_attrs(const void *params, struct pd_store_attr *out, size_t max)
{
    const struct tensile_params *p = params;
    const struct pd_store_attr attrs[] = {
        {.key = "speed_modulus", .type = PD_STORE_DOUBLE, .d = p->speed_modulus, .units = "mm/min"},
        {.key = "speed_test", .type = PD_STORE_DOUBLE, .d = p->speed_test, .units = "mm/min"},
        {.key = "speed_switch_strain", .type = PD_STORE_DOUBLE, .d = p->speed_switch_strain, .units = "1"},
    };
    return acq_copy_attrs(attrs, sizeof attrs / sizeof attrs[0], out, max);
}

static void tensile_dim_defaults(const void *params, double *out)
{
    const struct tensile_params *p = params;
    out[0] = p->width_mm;
    out[1] = p->thickness_mm;
    out[2] = p->gauge_length_mm;
}

static enum pd_acq_dims_mode tensile_dims_mode(const void *params)
{
    return ((const struct tensile_params *)params)->dims_mode == 1 ? PD_ACQ_DIMS_PROMPT : PD_ACQ_DIMS_CONFIG;
}

static int tensile_dims_consistent(const void *params, const double *values, char *why, size_t size)
{
    const struct tensile_params *p = params;
    if (values[2] < p->grip_distance_mm)
        return 0;
    snprintf(why, size, "gauge length %g mm must be shorter than the grip distance %g mm", values[2],
             p->grip_distance_mm);
    return -1;
}

static const char *tensile_caliper(const void *params)
{
    return ((const struct tensile_params *)params)->caliper;
}

static void set_active(struct run *run, uint32_t specimen)
{
    for (size_t i = 0; i < run->n_buses; i++)
        atomic_store(&run->buses[i].active_specimen, specimen);
}

/* Waits for the break flag (or, without one, the ISO 527 10 % drop), then one reading more so the
 * drop itself is on file. Returns the outcome that becomes the specimen's status. */
static const char *wait_for_break(struct run *run, struct bus *frame, size_t k, int force_ch, int break_ch,
                                  int *rc, struct pd_err *err)
{
    const struct pd_acq_config *cfg = run->cfg;
    struct pd_reading r;
    uint64_t seq0 = 0, seq, break_seq = 0;
    acq_bus_latest(frame, &r, &seq0);
    int64_t deadline = pd_clock_mono_ns() + (int64_t)(cfg->specimen_timeout_s * 1e9);
    int64_t next_show = 0;
    double fmax = 0;
    for (;;) {
        pd_clock_sleep_ns(5 * 1000000LL);
        if (acq_bus_latest(frame, &r, &seq) && seq > seq0) {
            double f = r.values[force_ch];
            if (f > fmax)
                fmax = f;
            bool broke = break_ch >= 0 ? r.values[break_ch] >= 0.5 : (fmax > 0 && f <= 0.1 * fmax);
            if (broke && !break_seq)
                break_seq = seq;
            if (break_seq && seq > break_seq)
                return "tested";
        }
        const char *why = acq_series_trouble(run, &frame, 1, deadline, rc, err);
        if (why)
            return why;
        char by[PD_ACQ_BY_MAX], text[PD_ACQ_BY_MAX + 80];
        const char *req = acq_station_request(run, k, by, sizeof by);
        if (req) { /* from the station: the machine stops now */
            struct pd_err ignore;
            acq_bus_command_optional(frame, "stop", 1, &ignore);
            bool abort = strcmp(req, "abort") == 0;
            snprintf(text, sizeof text, abort ? "aborted by %s: machine stopped, the series ends"
                                              : "stopped by %s: finished as a break, evaluated", by);
            return acq_station_stopped(run, k, req, by, text);
        }
        if (pd_clock_mono_ns() >= next_show) {
            acq_show_progress(run, frame, k + 1, false);
            next_show = pd_clock_mono_ns() + 200 * 1000000LL;
        }
    }
}

static int tensile_series(struct run *run, struct pd_acq_result *result, struct pd_err *err)
{
    const struct pd_acq_config *cfg = run->cfg;
    const struct tensile_params *p = cfg->method_params;
    struct bus *frame = NULL;
    for (size_t i = 0; i < run->n_buses && !frame; i++)
        if (acq_bus_find_channel(&run->buses[i], "force") >= 0 && acq_bus_find_channel(&run->buses[i], "extension") >= 0)
            frame = &run->buses[i];
    if (!frame)
        return pd_err_set(err, PD_ECONFIG, pd_cfg_source_name(cfg->doc),
                          "method iso527 needs an instrument with channels 'force' and 'extension'");
    int force_ch = acq_bus_find_channel(frame, "force");
    int break_ch = acq_bus_find_channel(frame, "break");
    int rc = PD_OK;

    for (size_t k = 0; k < (size_t)cfg->specimens; k++) {
        if (acq_series_stopping(run, result))
            break;
        struct acq_specimen_dims dims;
        if (acq_dims_obtain(run, k, &dims, result))
            break; /* end of input on the terminal, or a stop request while asking */
        struct {
            const char *name;
            double value;
        } setpoints[] = {
            {"width", dims.value[0]},
            {"thickness", dims.value[1]},
            {"gauge_length", dims.value[2]},
            {"grip_distance", p->grip_distance_mm},
            {"speed_modulus", p->speed_modulus},
            {"speed_test", p->speed_test},
            {"speed_switch_strain", p->speed_switch_strain},
        };
        /* Setpoints are optional: an instrument whose map lacks one is left as it is (said once). */
        for (size_t i = 0; i < sizeof setpoints / sizeof setpoints[0]; i++)
            if ((rc = acq_bus_command_optional(frame, setpoints[i].name, setpoints[i].value, err)) < 0)
                return rc;
        acq_bus_report_unmapped(run, frame);
        if ((rc = acq_bus_command(frame, "start", 1, err)) < 0)
            return rc;
        /* Record from the first reading after the instrument accepted the start, so nothing of
         * the previous specimen's state is taken into this one. */
        set_active(run, (uint32_t)(k + 1));
        acq_run_event(run, k, "specimen_start",
                      acq_station_active(run) ? acq_station_started(run, k) : "start command accepted");
        acq_set_status(run, k, "running");

        const char *outcome = wait_for_break(run, frame, k, force_ch, break_ch, &rc, err);

        set_active(run, 0);
        acq_run_event(run, k, strcmp(outcome, "tested") == 0 ? "break" : "specimen_end", outcome);
        acq_specimen_close(run, frame, k, outcome);
        acq_station_settle(run, frame); /* the display's last points before "done" */
        bool tested = strcmp(outcome, "tested") == 0, aborted = strcmp(outcome, "aborted") == 0;
        acq_station_state(run, k, "done", aborted ? "aborted" : "stopped",
                          tested ? "completed" : aborted ? "aborted" : "failed");
        if (rc < 0)
            return rc;
        struct pd_err ignore;
        if (!tested)
            acq_bus_command_optional(frame, "stop", 1, &ignore);
        if (!aborted) { /* an aborted machine stays where it stopped */
            acq_station_state(run, k, "returning", "moving", NULL);
            acq_bus_command_optional(frame, "return", 1, &ignore);
        }
        acq_bus_report_unmapped(run, frame);
        const char *aborted_by = aborted ? acq_station_aborted_by(run) : NULL;
        if (aborted_by) { /* the outcome's reason names who aborted */
            size_t used = strlen(result->outcome_reason);
            snprintf(result->outcome_reason + used, sizeof result->outcome_reason - used,
                     "%sspecimen %zu: aborted by %s", used ? ", " : "", k + 1, aborted_by);
        }
        if (!acq_series_continue(result, k, outcome))
            break;
        if (acq_dims_after_specimen(run, k, result))
            break;
    }
    acq_dims_after_specimen(run, SIZE_MAX, result); /* marks still waiting, for any specimen */
    return PD_OK;
}

const struct acq_method acq_method_iso527 = {
    .name = "iso527",
    .description = "ISO 527-1/-2 tensile properties",
    .params_size = sizeof(struct tensile_params),
    .configure = tensile_configure,
    .specimen_attrs = tensile_specimen_attrs,
    .run_attrs = tensile_run_attrs,
    .run_series = tensile_series,
    .dims = tensile_dims,
    .n_dims = sizeof tensile_dims / sizeof tensile_dims[0],
    .dim_defaults = tensile_dim_defaults,
    .dims_mode = tensile_dims_mode,
    .caliper = tensile_caliper,
    .dims_consistent = tensile_dims_consistent,
};
