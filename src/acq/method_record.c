/* method_record.c — a plain recording run (`method: record`), for monitoring environmental
 * conditions (ISO/IEC 17025 6.3.3; ISO 291 23 °C / 50 % RH): every configured instrument is
 * recorded at its own rate with no test sequence, for hours or months. The run rolls over to a new
 * file every `rollover` seconds (one entry per file, see docs/HDF5-SCHEMA.md "Recording runs"),
 * without a sample lost or doubled at the boundary: every bus is re-tagged with the next file's
 * number (acq_bus_set_specimen) and the writer switches files once every sample of the old tag is
 * in the old one (acq_writer_drain_all). Alarm limits per channel record an event and say a line
 * on stderr when a value leaves its band and when it returns, and start the `on_alarm` command
 * (alarm_hook.c) if one is configured. It ends on a stop request (interrupted) or after the
 * optional `duration` (completed). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "acq/acq_internal.h"

#define RECORD_MAX_ALARMS 32
/* At the end of a recording, on_alarm commands still running get this long before they are killed. */
#define ACQ_HOOK_END_GRACE_NS (2000 * 1000000LL)
#define RECORD_TURN_MIN_NS (10 * 1000000LL)
#define RECORD_TURN_MAX_NS (100 * 1000000LL)

struct record_alarm {
    char channel[64]; /* "temperature" or "instrument.channel" */
    double low, high;
    const struct pd_cfg_node *node; /* for errors found once the instruments are open */
    const struct pd_cfg_node *on_alarm_node;
    bool has_hook; /* its own on_alarm, in place of the run's */
    struct acq_hook_cmd hook;
};

struct record_params {
    double rollover_s, duration_s, time_scale, retry_s;
    const struct pd_cfg_node *alarms_node;
    const struct pd_cfg_node *on_alarm_node;
    double hook_timeout_s;
    bool has_hook;
    struct acq_hook_cmd hook;
    size_t n_alarms;
    struct record_alarm alarms[RECORD_MAX_ALARMS];
};

#define F(k) offsetof(struct record_params, k)
static const struct pd_cfg_field method_fields[] = {
    {.key = "rollover", .type = PD_CFG_T_DOUBLE, .offset = F(rollover_s), .min = 1, .max = 366 * 86400.0,
     .def = "86400", .help = "seconds of recording per file (86400 = daily files)"},
    {.key = "duration", .type = PD_CFG_T_DOUBLE, .offset = F(duration_s), .min = 0, .max = 3660 * 86400.0,
     .def = "0", .help = "seconds to record, then the run completes (0 = until stopped with Ctrl-C)"},
    {.key = "time_scale", .type = PD_CFG_T_DOUBLE, .offset = F(time_scale), .min = 1, .max = 1e7, .def = "1",
     .help = "recording seconds per real second, to match simulators run with --time-scale (1 for real "
             "instruments)"},
    {.key = "rollover_retry", .type = PD_CFG_T_DOUBLE, .offset = F(retry_s), .min = 0.001, .max = 86400, .def = "60",
     .help = "seconds (recording time) after a failed rollover before the next file is tried again"},
    {.key = "alarms", .type = PD_CFG_T_SEQ, .offset = F(alarms_node),
     .help = "alarm limits: a list of {channel, low, high[, on_alarm]}"},
    {.key = "on_alarm", .type = PD_CFG_T_SEQ, .offset = F(on_alarm_node),
     .help = "a command [PROGRAM, ARG...] run (no shell) when a channel leaves or re-enters its band"},
    {.key = "on_alarm_timeout", .type = PD_CFG_T_DOUBLE, .offset = F(hook_timeout_s), .min = 0.1, .max = 3600,
     .def = "10", .help = "seconds an on_alarm command may run before it is killed"},
    {.key = NULL},
};
#undef F

#define A(k) offsetof(struct record_alarm, k)
static const struct pd_cfg_field alarm_fields[] = {
    {.key = "channel", .type = PD_CFG_T_STRING, .offset = A(channel), .size = sizeof(((struct record_alarm *)0)->channel),
     .required = true, .help = "a channel name, or instrument.channel"},
    {.key = "low", .type = PD_CFG_T_DOUBLE, .offset = A(low), .def = "-1e300", .help = "lowest value in the band"},
    {.key = "high", .type = PD_CFG_T_DOUBLE, .offset = A(high), .def = "1e300", .help = "highest value in the band"},
    {.key = "on_alarm", .type = PD_CFG_T_SEQ, .offset = A(on_alarm_node),
     .help = "this alarm's own command [PROGRAM, ARG...], in place of the run's on_alarm"},
    {.key = NULL},
};
#undef A

static int record_configure(const struct pd_acq_config *cfg, void *params, struct pd_err *err)
{
    struct record_params *p = params;
    if (cfg->specimen_section)
        return pd_cfg_error(err, cfg->specimen_section, "method record has no specimens: remove 'specimen:'");
    static const char empty[] = "{}";
    struct pd_cfg_doc *doc = NULL;
    if (!cfg->method_section && pd_cfg_load_string("(defaults)", empty, sizeof empty - 1, &doc, err) < 0)
        return PD_ENOMEM;
    int rc = pd_cfg_decode(cfg->method_section ? cfg->method_section : pd_cfg_root(doc), method_fields, NULL, p, err);
    pd_cfg_free(doc);
    if (rc < 0)
        return rc;
    if (p->on_alarm_node) {
        if ((rc = acq_hook_parse(p->on_alarm_node, &p->hook, err)) < 0)
            return rc;
        p->has_hook = true;
    }
    size_t n = p->alarms_node ? pd_cfg_seq_len(p->alarms_node) : 0;
    if (n > RECORD_MAX_ALARMS)
        return pd_cfg_error(err, p->alarms_node, "%zu alarms: at most %d", n, RECORD_MAX_ALARMS);
    for (size_t i = 0; i < n; i++) {
        const struct pd_cfg_node *node = pd_cfg_seq_at(p->alarms_node, i);
        struct record_alarm *a = &p->alarms[i];
        if ((rc = pd_cfg_decode(node, alarm_fields, NULL, a, err)) < 0)
            return rc;
        if (!(a->low < a->high))
            return pd_cfg_error(err, node, "alarm band of '%s': low (%g) must be below high (%g)", a->channel,
                                a->low, a->high);
        a->node = node;
        if (a->on_alarm_node) {
            if ((rc = acq_hook_parse(a->on_alarm_node, &a->hook, err)) < 0)
                return rc;
            a->has_hook = true;
        }
    }
    p->n_alarms = n;
    return PD_OK;
}

static size_t record_specimen_attrs(const void *params, struct pd_store_attr *out, size_t max)
{
    (void)params;
    (void)out;
    (void)max;
    return 0;
}

static size_t record_run_attrs(const void *params, struct pd_store_attr *out, size_t max)
{
    const struct record_params *p = params;
    const struct pd_store_attr attrs[] = {
        {.key = "rollover_period", .type = PD_STORE_DOUBLE, .d = p->rollover_s, .units = "s"},
        {.key = "duration", .type = PD_STORE_DOUBLE, .d = p->duration_s, .units = "s"},
        {.key = "time_scale", .type = PD_STORE_DOUBLE, .d = p->time_scale},
        {.key = "rollover_retry", .type = PD_STORE_DOUBLE, .d = p->retry_s, .units = "s"},
    };
    return acq_copy_attrs(attrs, sizeof attrs / sizeof attrs[0], out, max);
}

/* An alarm as found on the open instruments. */
struct alarm_state {
    const struct record_alarm *def;
    size_t bus;
    int channel;
    bool outside;
    char name[2 * PD_NAME_MAX + 2]; /* instrument.channel */
};

/* Finds each alarm's channel: "instrument.channel", or a channel name only one instrument has. */
static int resolve_alarms(struct run *run, const struct record_params *p, struct alarm_state *st, struct pd_err *err)
{
    for (size_t k = 0; k < p->n_alarms; k++) {
        const struct record_alarm *a = &p->alarms[k];
        const char *dot = strchr(a->channel, '.');
        st[k] = (struct alarm_state){.def = a, .channel = -1};
        for (size_t i = 0; i < run->n_buses; i++) {
            struct bus *b = &run->buses[i];
            const char *name = a->channel;
            if (dot) {
                size_t len = (size_t)(dot - a->channel);
                if (strlen(b->cfg->name) != len || strncmp(b->cfg->name, a->channel, len) != 0)
                    continue;
                name = dot + 1;
            }
            int c = acq_bus_find_channel(b, name);
            if (c < 0)
                continue;
            if (st[k].channel >= 0)
                return pd_cfg_error(err, a->node, "alarm channel '%s' is on more than one instrument: write "
                                                  "instrument.channel", a->channel);
            st[k].bus = i;
            st[k].channel = c;
            snprintf(st[k].name, sizeof st[k].name, "%s.%s", b->cfg->name, b->channels[c].name);
        }
        if (st[k].channel < 0)
            return pd_cfg_error(err, a->node, "alarm channel '%s' is not a channel of any instrument", a->channel);
    }
    return PD_OK;
}

/* Checks a new reading against the alarms of its instrument: an event and a stderr line when a
 * value leaves its band or returns into it (NaN, an unread channel, counts as no value), and the
 * alarm's (or else the run's) on_alarm command started. */
static void check_alarms(struct run *run, const struct record_params *p, struct acq_hooks *hooks,
                         struct alarm_state *st, size_t n, size_t bus, const struct pd_reading *r)
{
    for (size_t k = 0; k < n; k++) {
        if (st[k].bus != bus || (r->quality & PD_Q_UNREAD_CHANNEL(st[k].channel)))
            continue;
        double v = r->values[st[k].channel];
        if (isnan(v))
            continue;
        bool outside = v < st[k].def->low || v > st[k].def->high;
        if (outside == st[k].outside)
            continue;
        st[k].outside = outside;
        char text[200];
        snprintf(text, sizeof text, "%s = %.9g, %s band %g..%g", st[k].def->channel, v, outside ? "outside its" : "back in its",
                 st[k].def->low, st[k].def->high);
        pd_log(PD_LOG_WARN, "alarm: %s", text);
        acq_run_event(run, 0, outside ? "alarm" : "alarm_cleared", text);
        const struct acq_hook_cmd *cmd = st[k].def->has_hook ? &st[k].def->hook : p->has_hook ? &p->hook : NULL;
        if (cmd) {
            const struct acq_hook_alarm what = {
                .channel = st[k].name, .instrument = run->buses[bus].cfg->name, .value = v,
                .low = st[k].def->low, .high = st[k].def->high, .outside = outside, .t_mono_ns = r->t_mono_ns,
            };
            acq_hook_start(run, hooks, cmd, &what);
        }
    }
}

static void tag_all(struct run *run, uint32_t tag)
{
    for (size_t i = 0; i < run->n_buses; i++)
        acq_bus_set_specimen(&run->buses[i], tag);
}

/* A station's stop or abort (control.c; notes are applied on the way): the reason the recording
 * ends, or NULL. Stop ends it as its duration would (completed, "recording stopped by NAME"); abort
 * ends it interrupted ("aborted by NAME"): the record is cut short. Either way every file is closed
 * and sealed as always. */
static const char *station_request(struct run *run, struct pd_acq_result *result)
{
    char by[PD_ACQ_BY_MAX], text[PD_ACQ_BY_MAX + 40];
    const char *req = acq_station_request(run, 0, by, sizeof by);
    if (!req)
        return NULL;
    bool abort = strcmp(req, "abort") == 0;
    snprintf(text, sizeof text, "%s by %s", abort ? "aborted" : "recording stopped", by);
    /* done first: from here the station refuses notes, and the ones it took are applied below */
    acq_station_state(run, 0, "done", abort ? "aborted" : "stopped", abort ? "aborted" : "completed");
    acq_run_event(run, 0, req, text);
    acq_station_event(run, 0, req, by, text);
    pd_strlcpy(result->outcome_reason, text, sizeof result->outcome_reason);
    return abort ? "aborted from the station" : "stopped from the station";
}

static int record_series(struct run *run, struct pd_acq_result *result, struct pd_err *err)
{
    const struct record_params *p = run->cfg->method_params;
    struct alarm_state alarms[RECORD_MAX_ALARMS];
    struct acq_hooks hooks = {.timeout_ns = (int64_t)(p->hook_timeout_s * 1e9)};
    int rc = resolve_alarms(run, p, alarms, err);
    if (rc < 0)
        return rc;
    struct bus *buses[PD_ACQ_MAX_INSTRUMENTS];
    uint64_t seen[PD_ACQ_MAX_INSTRUMENTS] = {0};
    for (size_t i = 0; i < run->n_buses; i++)
        buses[i] = &run->buses[i];
    /* Each rollover asked for gets a new tag; which file a tag ends up in is the writer's business
     * (the next one, or the current one again when the next cannot be created). */
    uint32_t tag = 1;
    double boundary_s = p->rollover_s, retry_at_s = -1;
    tag_all(run, tag);
    /* alarms judge recorded readings only: the ones after the tag (published under the same lock) */
    for (size_t i = 0; i < run->n_buses; i++) {
        struct pd_reading r;
        acq_bus_latest(&run->buses[i], &r, &seen[i]);
    }
    /* The method looks at the instruments about once per reading of the fastest (10 ms .. 100 ms):
     * each reading of a sensor at up to 100 Hz is judged against its alarms, and a monitoring run
     * of 10 Hz sensors wakes 10 times a second, not 100 (docs/BENCHMARKS.md "Monitoring"). A turn
     * that wakes late (an overloaded machine) judges only the newest reading: the ones between are
     * recorded but not judged. */
    int64_t turn_ns = RECORD_TURN_MAX_NS;
    for (size_t i = 0; i < run->n_buses; i++)
        if (run->buses[i].period_ns < turn_ns)
            turn_ns = run->buses[i].period_ns;
    if (turn_ns < RECORD_TURN_MIN_NS)
        turn_ns = RECORD_TURN_MIN_NS;
    int64_t t0 = pd_clock_mono_ns();
    char text[200];
    snprintf(text, sizeof text, "recording %zu instrument(s), a new file every %g s, %s", run->n_buses, p->rollover_s,
             p->duration_s > 0 ? "for the configured duration" : "until stopped");
    acq_run_event(run, 0, "recording_start", text);
    acq_set_status(run, 0, "recording");
    const char *why = NULL;
    for (;;) {
        pd_clock_sleep_ns(turn_ns);
        why = acq_series_trouble(run, buses, run->n_buses, INT64_MAX, &rc, err);
        if (why)
            break;
        double elapsed_s = (double)(pd_clock_mono_ns() - t0) / 1e9 * p->time_scale;
        if (p->duration_s > 0 && elapsed_s >= p->duration_s)
            break;
        if ((why = station_request(run, result)) != NULL)
            break;
        for (size_t i = 0; i < run->n_buses; i++) {
            struct pd_reading r;
            uint64_t seq;
            if (acq_bus_latest(&run->buses[i], &r, &seq) && seq != seen[i]) {
                seen[i] = seq;
                check_alarms(run, p, &hooks, alarms, p->n_alarms, i, &r);
            }
        }
        acq_hooks_reap(run, &hooks);
        if (atomic_exchange(&run->rollover_failed, 0))
            retry_at_s = elapsed_s + p->retry_s;
        bool due = elapsed_s >= boundary_s, retry = retry_at_s >= 0 && elapsed_s >= retry_at_s;
        if (due || retry) {
            /* re-tag first: once every bus carries the new tag, the writer may close the old file */
            if (due) /* files keep to the schedule (daily...), whatever a failed rollover delayed */
                boundary_s += p->rollover_s;
            retry_at_s = -1;
            tag++;
            tag_all(run, tag);
            atomic_store(&run->rollover_to, tag);
        }
    }
    tag_all(run, 0);
    if (acq_station_active(run))
        acq_control_apply_notes(run); /* the notes taken up to the end */
    acq_hooks_finish(run, &hooks, ACQ_HOOK_END_GRACE_NS);
    acq_run_event(run, 0, "recording_end", why ? why : "duration reached");
    acq_set_status(run, 0, why ? why : "recorded");
    if (rc < 0)
        return rc;
    if (why && (strcmp(why, "aborted") == 0 || strcmp(why, "aborted from the station") == 0))
        result->interrupted = 1;
    else
        result->specimens_tested = 1;
    return PD_OK;
}

const struct acq_method acq_method_record = {
    .name = "record",
    .description = "plain recording of every instrument (environmental monitoring), rolling over to a new file",
    .one_entry_per_file = true,
    .params_size = sizeof(struct record_params),
    .configure = record_configure,
    .specimen_attrs = record_specimen_attrs,
    .run_attrs = record_run_attrs,
    .run_series = record_series,
};
