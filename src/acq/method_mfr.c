/* method_mfr.c — the ISO 1133 melt-flow series (procedure A with the piston travel of procedure B
 * on file): per charge, set temperature and cut-off interval, start, wait out the preheat until
 * the barrel is back within tolerance, then record cut-offs (melt flow indexer) and the weighing
 * of each cut-off (balance in weighings mode), each weighing paired with the oldest cut-off
 * interval not yet weighed, until enough intervals inside the measuring window (the piston's lower
 * edge 50..20 mm above the die, when `piston_start_height` says where it started) are weighed. The
 * first cut after preheat only opens the first interval; a weighing with no closed interval left is
 * recorded as unpaired; a charge whose piston falls below the window ends there. The evaluation
 * (src/cert/method_iso1133.c) pairs them again from the raw channels, the same way. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "acq/acq_internal.h"

struct mfr_params {
    char procedure[4];
    double temperature_c, load_kg, cut_interval_s, tolerance_c, preheat_s, start_height_mm;
    long cuts;
};

#define F(k) offsetof(struct mfr_params, k)
static const struct pd_cfg_field method_fields[] = {
    {.key = "temperature", .type = PD_CFG_T_DOUBLE, .offset = F(temperature_c), .min = 100, .max = 450, .def = "230",
     .help = "test temperature in degC (PP: 230)"},
    {.key = "load", .type = PD_CFG_T_DOUBLE, .offset = F(load_kg), .min = 0.1, .max = 50, .def = "2.16",
     .help = "nominal load in kg (PP: 2.16)"},
    {.key = "cut_interval", .type = PD_CFG_T_DOUBLE, .offset = F(cut_interval_s), .min = 1, .max = 600, .def = "10",
     .help = "seconds between cut-offs"},
    {.key = "cuts", .type = PD_CFG_T_INT, .offset = F(cuts), .min = 1, .max = 50, .def = "5",
     .help = "cut-offs to weigh per charge (at least 3)"},
    {.key = "temperature_tolerance", .type = PD_CFG_T_DOUBLE, .offset = F(tolerance_c), .min = 0.01, .max = 10,
     .def = "0.5", .help = "barrel temperature tolerance in degC before and while measuring"},
    {.key = "preheat", .type = PD_CFG_T_DOUBLE, .offset = F(preheat_s), .min = 0, .max = 3600, .def = "300",
     .help = "seconds after charging before cut-offs count (ISO 1133: 300)"},
    {.key = "piston_start_height", .type = PD_CFG_T_DOUBLE, .offset = F(start_height_mm), .min = 0, .max = 300,
     .def = "0", .help = "mm above the die of the piston's lower edge where its travel reads 0, so the "
                         "evaluation can find the 50–20 mm measuring window (0 = not known)"},
    {.key = NULL},
};
#undef F

static int mfr_configure(const struct pd_acq_config *cfg, void *params, struct pd_err *err)
{
    struct mfr_params *p = params;
    if (cfg->specimen_section)
        return pd_cfg_error(err, cfg->specimen_section,
                            "method iso1133 has no specimen dimensions: remove 'specimen:' (a charge is a specimen)");
    static const char empty[] = "{}";
    struct pd_cfg_doc *doc = NULL;
    if (!cfg->method_section && pd_cfg_load_string("(defaults)", empty, sizeof empty - 1, &doc, err) < 0)
        return PD_ENOMEM;
    int rc = pd_cfg_decode(cfg->method_section ? cfg->method_section : pd_cfg_root(doc), method_fields, NULL, p, err);
    pd_cfg_free(doc);
    if (rc < 0)
        return rc;
    pd_strlcpy(p->procedure, "A", sizeof p->procedure);
    if (p->cuts < 3)
        pd_log(PD_LOG_WARN, "%ld cut-offs per charge: ISO 1133 keeps at least 3", p->cuts);
    return PD_OK;
}

static size_t mfr_specimen_attrs(const void *params, struct pd_store_attr *out, size_t max)
{
    const struct mfr_params *p = params;
    const struct pd_store_attr attrs[] = {
        {.key = "cut_interval", .type = PD_STORE_DOUBLE, .d = p->cut_interval_s, .units = "s"},
        {.key = "temperature", .type = PD_STORE_DOUBLE, .d = p->temperature_c, .units = "degC"},
        {.key = "load", .type = PD_STORE_DOUBLE, .d = p->load_kg, .units = "kg"},
        {.key = "procedure", .type = PD_STORE_STRING, .s = p->procedure},
        {.key = "piston_start_height", .type = PD_STORE_DOUBLE, .d = p->start_height_mm, .units = "mm"},
    };
    size_t n = sizeof attrs / sizeof attrs[0];
    return acq_copy_attrs(attrs, p->start_height_mm > 0.0 ? n : n - 1, out, max); /* unknown: not recorded */
}

static size_t mfr_run_attrs(const void *params, struct pd_store_attr *out, size_t max)
{
    const struct mfr_params *p = params;
    const struct pd_store_attr attrs[] = {
        {.key = "temperature_tolerance", .type = PD_STORE_DOUBLE, .d = p->tolerance_c, .units = "degC"},
        {.key = "preheat", .type = PD_STORE_DOUBLE, .d = p->preheat_s, .units = "s"},
        {.key = "cuts_per_charge", .type = PD_STORE_INT, .i = p->cuts},
    };
    return acq_copy_attrs(attrs, sizeof attrs / sizeof attrs[0], out, max);
}

/* ISO 1133-1: cut-offs count while the piston's lower edge is 50..20 mm above the die. */
#define WINDOW_TOP_MM 50.0
#define WINDOW_BOTTOM_MM 20.0
#define MAX_TRACKED_CUTS 256 /* cut heights remembered per charge; later intervals count as outside */

struct mfr_channels {
    int temperature, cutoffs, test_time, mass, piston;
};

/* One charge. Returns the outcome that becomes the specimen's status. */
static const char *charge(struct run *run, struct bus *mfi, struct bus *bal, const struct mfr_channels *ch, size_t k,
                          const struct mfr_params *p, int *rc, struct pd_err *err)
{
    struct bus *const both[] = {mfi, bal};
    int64_t deadline = pd_clock_mono_ns() + (int64_t)(run->cfg->specimen_timeout_s * 1e9);
    int64_t charged = pd_clock_mono_ns();
    struct pd_reading r;
    uint64_t mseq = 0, bseq = 0, seq;
    acq_bus_latest(mfi, &r, &mseq);
    atomic_store(&mfi->active_specimen, (uint32_t)(k + 1));
    acq_run_event(run, k, "specimen_start", "charge loaded, piston released");
    acq_set_status(run, k, "preheating");
    char text[200];
    /* preheat: the barrel must be back within tolerance after the charge cooled it */
    for (;;) {
        pd_clock_sleep_ns(10 * 1000000LL);
        const char *why = acq_series_trouble(run, both, 2, deadline, rc, err);
        if (why)
            return why;
        if (!acq_bus_latest(mfi, &r, &seq) || seq == mseq)
            continue;
        mseq = seq;
        double dt = r.values[ch->temperature] - p->temperature_c;
        if (pd_clock_mono_ns() - charged >= (int64_t)(p->preheat_s * 1e9) && fabs(dt) <= p->tolerance_c)
            break;
    }
    snprintf(text, sizeof text, "barrel at %.2f degC (set %.2f ± %.2f)", r.values[ch->temperature], p->temperature_c,
             p->tolerance_c);
    acq_run_event(run, k, "preheat_done", text);
    acq_set_status(run, k, "running");
    double last_cuts = r.values[ch->cutoffs];
    acq_bus_latest(bal, &r, &bseq);
    atomic_store(&bal->active_specimen, (uint32_t)(k + 1));
    /* cut-offs seen since preheat (the first opens interval 1), weighings, weighings paired with a
     * closed interval (first in, first out: pieces are weighed in the order they were cut), and of
     * those the ones inside the measuring window (all of them when the piston's height is unknown) */
    long cut_events = 0, weighed = 0, paired = 0, usable = 0;
    bool window = p->start_height_mm > 0.0 && ch->piston >= 0;
    double cut_height[MAX_TRACKED_CUTS];
    bool out_of_tolerance = false;
    int64_t next_show = 0;
    while (usable < p->cuts) {
        pd_clock_sleep_ns(5 * 1000000LL);
        const char *why = acq_series_trouble(run, both, 2, deadline, rc, err);
        if (why)
            return why;
        if (acq_bus_latest(mfi, &r, &seq) && seq != mseq) {
            mseq = seq;
            double cuts = r.values[ch->cutoffs];
            double height = window ? p->start_height_mm - r.values[ch->piston] : NAN;
            if (cuts > last_cuts) {
                for (long c = cut_events; c < cut_events + (long)(cuts - last_cuts) && c < MAX_TRACKED_CUTS; c++)
                    cut_height[c] = height;
                cut_events += (long)(cuts - last_cuts);
                snprintf(text, sizeof text, "cut-off %.0f at test time %.2f s%s", cuts,
                         ch->test_time >= 0 ? r.values[ch->test_time] : NAN,
                         cut_events == 1 ? " (opens the first interval)" : "");
                acq_run_event(run, k, "cut_off", text);
                last_cuts = cuts;
            }
            bool out = fabs(r.values[ch->temperature] - p->temperature_c) > p->tolerance_c;
            if (out && !out_of_tolerance) {
                snprintf(text, sizeof text, "barrel at %.2f degC, outside %.2f ± %.2f", r.values[ch->temperature],
                         p->temperature_c, p->tolerance_c);
                acq_run_event(run, k, "temperature_out_of_tolerance", text);
            }
            out_of_tolerance = out;
            if (window && height < WINDOW_BOTTOM_MM) {
                snprintf(text, sizeof text, "piston %.2f mm above the die, below the measuring window, after %ld of "
                                            "%ld cut-offs weighed within it", height, usable, p->cuts);
                acq_run_event(run, k, "piston_below_window", text);
                return "tested"; /* what was weighed stays; the evaluation decides whether it is enough */
            }
        }
        if (acq_bus_latest(bal, &r, &seq) && seq != bseq) {
            /* weighings mode: every reading of the balance is one piece */
            long pieces = (long)(seq - bseq), closed = cut_events > 0 ? cut_events - 1 : 0;
            long take = closed - paired < pieces ? closed - paired : pieces;
            weighed += pieces;
            bseq = seq;
            if (take > 0) {
                bool inside = true;
                for (long i = paired; i < paired + take; i++) {
                    inside = !window || (i + 1 < MAX_TRACKED_CUTS && cut_height[i] <= WINDOW_TOP_MM &&
                                         cut_height[i + 1] >= WINDOW_BOTTOM_MM);
                    usable += inside;
                }
                paired += take;
                snprintf(text, sizeof text, "piece %ld: %.5f g, cut-off interval %ld%s", weighed, r.values[ch->mass],
                         paired, inside ? "" : " (outside the measuring window)");
            } else {
                snprintf(text, sizeof text, "piece %ld: %.5f g, no cut-off interval closed for it: not paired",
                         weighed, r.values[ch->mass]);
            }
            acq_run_event(run, k, "weighing", text);
        }
        if (pd_clock_mono_ns() >= next_show) {
            acq_show_progress(run, mfi, k + 1, false);
            next_show = pd_clock_mono_ns() + 200 * 1000000LL;
        }
    }
    return "tested";
}

static int mfr_series(struct run *run, struct pd_acq_result *result, struct pd_err *err)
{
    const struct pd_acq_config *cfg = run->cfg;
    const struct mfr_params *p = cfg->method_params;
    struct bus *mfi = NULL, *bal = NULL;
    for (size_t i = 0; i < run->n_buses; i++) {
        struct bus *b = &run->buses[i];
        if (!mfi && acq_bus_find_channel(b, "temperature") >= 0 && acq_bus_find_channel(b, "cutoffs") >= 0)
            mfi = b;
        else if (!bal && acq_bus_find_channel(b, "mass") >= 0)
            bal = b;
    }
    if (!mfi || !bal)
        return pd_err_set(err, PD_ECONFIG, pd_cfg_source_name(cfg->doc),
                          "method iso1133 needs a melt flow indexer (channels 'temperature', 'cutoffs') and a balance "
                          "(channel 'mass', in mode weighings)");
    struct mfr_channels ch = {.temperature = acq_bus_find_channel(mfi, "temperature"),
                              .cutoffs = acq_bus_find_channel(mfi, "cutoffs"),
                              .test_time = acq_bus_find_channel(mfi, "test_time"),
                              .mass = acq_bus_find_channel(bal, "mass"),
                              .piston = acq_bus_find_channel(mfi, "piston")};
    int rc;
    if ((rc = acq_bus_command_optional(mfi, "temperature", p->temperature_c, err)) < 0 ||
        (rc = acq_bus_command_optional(mfi, "cut_interval", p->cut_interval_s, err)) < 0)
        return rc;
    acq_bus_report_unmapped(run, mfi);

    for (size_t k = 0; k < (size_t)cfg->specimens; k++) {
        if (acq_series_stopping(run, result))
            break;
        if ((rc = acq_bus_command(mfi, "start", 1, err)) < 0)
            return rc;
        rc = PD_OK;
        const char *outcome = charge(run, mfi, bal, &ch, k, p, &rc, err);
        struct pd_err ignore;
        acq_bus_command_optional(mfi, "stop", 1, &ignore);
        acq_bus_report_unmapped(run, mfi);
        pd_clock_sleep_ns(30 * 1000000LL); /* the last readings reach the ring before the specimen closes */
        atomic_store(&mfi->active_specimen, 0);
        atomic_store(&bal->active_specimen, 0);
        acq_run_event(run, k, "specimen_end", outcome);
        acq_specimen_close(run, mfi, k, outcome);
        if (rc < 0)
            return rc;
        if (!acq_series_continue(result, k, outcome))
            break;
    }
    return PD_OK;
}

const struct acq_method acq_method_iso1133 = {
    .name = "iso1133",
    .description = "ISO 1133-1 melt mass-flow rate (cut-offs weighed) with piston travel",
    .params_size = sizeof(struct mfr_params),
    .configure = mfr_configure,
    .specimen_attrs = mfr_specimen_attrs,
    .run_attrs = mfr_run_attrs,
    .run_series = mfr_series,
};
