/* api.c — the MT-SICS balance driver: identity (I4, I2, I3; I2 also tells a simulator), weighing
 * by S or SI into a mass channel in grams with a stability flag, zero/tare controls, and every
 * MT-SICS answer kind mapped to a status class with a message naming instrument, port and line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/core.h"
#include "driver/driver.h"
#include "mtsics/protocol.h"
#include "transport/transport.h"

enum { CH_MASS, CH_STABLE, CH_COUNT };

/* Faults over the instance's life, logged at every close (the driver interface has no statistics
 * call). */
struct fault_counts {
    unsigned long requests, timeouts, garbled, dynamic, busy, overload, underload, syntax, transmission, logic,
        wrong_unit, out_of_range, io_errors, reopens;
};

struct balance {
    char name[PD_NAME_MAX];
    char where[PD_NAME_MAX + PD_TRANSPORT_NAME_MAX + 8]; /* "balance1 (/dev/pts/3)" */
    struct pd_transport_config port;
    char command[4]; /* S or SI */
    /* Weighings mode: one reading per piece put on the pan (its first stable weight at or above
     * piece_min_g after the pan was seen below it), nothing else; for cut-offs and specimens. */
    bool weighings;
    double piece_min_g;
    bool pan_clear;
    bool has_min, has_max;
    double min_g, max_g;
    struct pd_channel_info channels[CH_COUNT];
    char map_text[1024];
    struct pd_transport *t; /* non-NULL while open */
    unsigned long opens;
    struct fault_counts faults;
};

static const char *const command_names[] = {"SI", "S", NULL};

static const char *const mode_names[] = {"readings", "weighings", NULL};

struct own_cfg {
    int command;
    int mode;
    double piece_min;
    double min, max;
};

#define F(k) offsetof(struct own_cfg, k)
static const struct pd_cfg_field own_fields[] = {
    {.key = "command", .type = PD_CFG_T_ENUM, .offset = F(command), .choices = command_names, .def = "SI",
     .help = "SI (immediate: stable or dynamic) or S (waits for a stable weight)"},
    {.key = "mode", .type = PD_CFG_T_ENUM, .offset = F(mode), .choices = mode_names, .def = "readings",
     .help = "readings (every poll) or weighings (one stable reading per piece put on the pan)"},
    {.key = "piece_min", .type = PD_CFG_T_DOUBLE, .offset = F(piece_min), .min = 1e-9, .max = 1e6, .def = "0.001",
     .help = "weighings: the smallest mass in g that counts as a piece on the pan"},
    {.key = "min", .type = PD_CFG_T_DOUBLE, .offset = F(min), .help = "lowest plausible net mass in g"},
    {.key = "max", .type = PD_CFG_T_DOUBLE, .offset = F(max), .help = "highest plausible net mass in g"},
    {.key = NULL},
};
#undef F

static const char *const mtsics_config_keys[] = {
    "transport", "baud", "parity", "data_bits", "stop_bits", "flow_control", "response_timeout_ms", "terminator",
    "max_line", "command", "mode", "piece_min", "min", "max", NULL,
};

/* The common instrument keys plus the port keys: what own_fields' decode must let through. */
static void set_where(struct balance *s)
{
    snprintf(s->where, sizeof s->where, "%s (%s)", s->name, s->port.transport);
}

static void build_map_text(struct balance *s)
{
    snprintf(s->map_text, sizeof s->map_text,
             "driver: mtsics\ntransport: %s\nbaud: %ld\nparity: %s\ndata_bits: %d\nstop_bits: %d\n"
             "flow_control: %s\ncommand: %s\nmode: %s\npiece_min: %.17g\nresponse_timeout_ms: %ld\n"
             "channels:\n  - {name: mass, unit: g, source: weight of the %s reply, converted from g/kg/mg}\n"
             "  - {name: stable, unit: \"\", source: 1 for status S, 0 for D}\n",
             s->port.transport, s->port.serial.baud, pd_parity_names[s->port.serial.parity], s->port.serial.data_bits,
             s->port.serial.stop_bits, pd_flow_names[s->port.serial.flow], s->command, s->weighings ? "weighings" : "readings", s->piece_min_g,
             s->port.response_timeout_ms,
             s->command);
}

static void mtsics_destroy(void *state);

static int mtsics_create(const struct pd_cfg_node *instrument, void **state, struct pd_err *err)
{
    struct own_cfg oc = {0};
    const char *others[64];
    pd_driver_other_keys(pd_transport_config_keys, others, sizeof others / sizeof others[0]);
    int rc = pd_cfg_decode(instrument, own_fields, others, &oc, err);
    if (rc < 0)
        return rc;
    struct balance *s = calloc(1, sizeof *s);
    if (!s)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory for a balance");
    if ((rc = pd_driver_instrument_name(instrument, s->name, err)) < 0)
        goto fail;
    if ((rc = pd_transport_config_decode(instrument, "\\r\\n", &s->port, err)) < 0)
        goto fail;
    pd_strlcpy(s->command, command_names[oc.command], sizeof s->command);
    s->weighings = oc.mode == 1;
    s->piece_min_g = oc.piece_min;
    s->has_min = pd_cfg_map_get(instrument, "min") != NULL;
    s->has_max = pd_cfg_map_get(instrument, "max") != NULL;
    s->min_g = oc.min;
    s->max_g = oc.max;
    if (s->has_min && s->has_max && s->min_g > s->max_g) {
        rc = pd_cfg_error(err, pd_cfg_map_get(instrument, "max"), "max %g g is below min %g g", s->max_g, s->min_g);
        goto fail;
    }
    pd_strlcpy(s->channels[CH_MASS].name, "mass", PD_NAME_MAX);
    pd_strlcpy(s->channels[CH_MASS].unit, "g", PD_UNIT_MAX);
    pd_strlcpy(s->channels[CH_STABLE].name, "stable", PD_NAME_MAX);
    set_where(s);
    build_map_text(s);
    *state = s;
    return PD_OK;
fail:
    mtsics_destroy(s);
    return rc;
}

static int mtsics_set_transport(void *state, const char *transport, struct pd_err *err)
{
    struct balance *s = state;
    if (s->t)
        return pd_err_set(err, PD_ESTATE, s->where, "cannot change the transport while open");
    int rc = pd_transport_config_set_name(&s->port, transport, s->where, err);
    if (rc < 0)
        return rc;
    set_where(s);
    build_map_text(s);
    return PD_OK;
}

static size_t mtsics_stats(void *state, struct pd_driver_stat *out, size_t max)
{
    const struct fault_counts *f = &((const struct balance *)state)->faults;
    const struct pd_driver_stat all[] = {
        {"requests", f->requests, false},     {"timeouts", f->timeouts, true},
        {"garbled", f->garbled, true},        {"dynamic", f->dynamic, true},
        {"busy", f->busy, true},              {"overload", f->overload, true},
        {"underload", f->underload, true},    {"es_syntax", f->syntax, true},
        {"et_transmission", f->transmission, true}, {"el_logic", f->logic, true},
        {"wrong_unit", f->wrong_unit, true},  {"out_of_range", f->out_of_range, true},
        {"io_errors", f->io_errors, true},    {"reopens", f->reopens, false},
    };
    return pd_driver_stats_copy(all, sizeof all / sizeof all[0], out, max);
}

static void mtsics_close(void *state)
{
    struct balance *s = state;
    if (!s->t)
        return;
    pd_transport_close(s->t);
    s->t = NULL;
}

static void mtsics_destroy(void *state)
{
    struct balance *s = state;
    if (!s)
        return;
    mtsics_close(s);
    free(s);
}

/* One exchange: request, the reply line parsed and checked to answer this command. Timeouts and
 * garbage leave the line quiet before returning, so a late reply is never taken for the next. */
static int exchange(struct balance *s, const char *request, struct mtsics_reply *reply, struct pd_exchange_time *tm,
                    struct pd_err *err)
{
    char line[PD_TRANSPORT_LINE_MAX + 1];
    size_t len;
    s->faults.requests++;
    int rc = pd_transport_request(s->t, request, line, sizeof line, &len, (int)s->port.response_timeout_ms, tm, err);
    if (rc < 0) {
        struct pd_err inner = err ? *err : (struct pd_err){0};
        if (rc == PD_ETIMEOUT)
            s->faults.timeouts++;
        else if (rc == PD_EPROTO)
            s->faults.garbled++;
        else
            s->faults.io_errors++;
        /* the transport's message starts with the port, which s->where already names */
        const char *detail = inner.msg;
        size_t wl = strlen(inner.where);
        if (wl && strncmp(detail, inner.where, wl) == 0 && detail[wl] == ':')
            detail += wl + 2;
        rc = pd_err_set(err, rc, s->where, "%s: %s", request, detail);
        if (err)
            err->os_errno = inner.os_errno;
        if (rc == PD_ETIMEOUT || rc == PD_EPROTO)
            pd_transport_flush_input(s->t, 50, NULL);
        return rc;
    }
    pd_log(PD_LOG_DEBUG, "%s: %s -> %s", s->where, request, line);
    char why[120], quoted[160];
    pd_transport_escape(line, len, quoted, sizeof quoted);
    if (mtsics_parse(line, reply, why, sizeof why) != 0) {
        s->faults.garbled++;
        pd_transport_flush_input(s->t, 50, NULL);
        return pd_err_set(err, PD_EPROTO, s->where, "%s: unreadable reply '%s': %s", request, quoted, why);
    }
    if (reply->cmd[0] && strcmp(reply->cmd, mtsics_reply_cmd(request)) != 0) {
        s->faults.garbled++;
        pd_transport_flush_input(s->t, 50, NULL);
        return pd_err_set(err, PD_EPROTO, s->where, "%s: reply '%s' answers another command", request,
                          quoted);
    }
    int code = PD_OK;
    switch (reply->kind) {
    case MTSICS_BUSY: s->faults.busy++; code = PD_EBUSY; break;
    case MTSICS_LOGIC: s->faults.logic++; code = PD_EDEVICE; break;
    case MTSICS_OVERLOAD: s->faults.overload++; code = PD_EDEVICE; break;
    case MTSICS_UNDERLOAD: s->faults.underload++; code = PD_EDEVICE; break;
    case MTSICS_ERR_SYNTAX: s->faults.syntax++; code = PD_EDEVICE; break;
    case MTSICS_ERR_TRANSMISSION: s->faults.transmission++; code = PD_EPROTO; break;
    case MTSICS_ERR_LOGIC: s->faults.logic++; code = PD_EDEVICE; break;
    case MTSICS_MORE: s->faults.garbled++; code = PD_EPROTO; break; /* no command we send answers in parts */
    default: break;
    }
    if (code < 0) {
        rc = pd_err_set(err, code, s->where, "%s: %s ('%s')", request, mtsics_kind_name(reply->kind),
                        quoted);
        if (err)
            err->device_code = (int)reply->kind;
        if (code == PD_EPROTO)
            pd_transport_flush_input(s->t, 50, NULL);
        return rc;
    }
    return PD_OK;
}

/* Identity text: I4 must answer; I2/I3 are optional (older models answer ES). I2's type also says
 * whether this is a simulator (mtsics_i2_simulated): that only ever sets info->simulated, so a
 * `simulator:` section's mark stays and a balance that does not answer I2 is taken as real. */
static int read_identity(struct balance *s, struct pd_instrument_info *info, struct pd_err *err)
{
    struct mtsics_reply r;
    int rc = exchange(s, "I4", &r, NULL, err);
    if (rc < 0)
        return rc;
    if (!r.has_text || r.kind != MTSICS_DONE)
        return pd_err_set(err, PD_EPROTO, s->where, "I4: no serial number in the reply");
    pd_strlcpy(info->serial, r.text, sizeof info->serial);
    struct pd_err ignore;
    if (exchange(s, "I2", &r, NULL, &ignore) == 0 && r.has_text) {
        if (mtsics_i2_simulated(r.text) && !info->simulated) {
            info->simulated = 1;
            pd_log(PD_LOG_INFO, "%s: I2 '%s' declares a simulator: its data are marked simulated", s->where, r.text);
        }
        /* "type capacity unit": the type may contain blanks, so take it from the right. */
        char *text = r.text;
        char *last = strrchr(text, ' ');
        if (last) {
            *last = '\0';
            char *cap = strrchr(text, ' ');
            if (cap)
                *cap = '\0';
        }
        if (text[0])
            pd_strlcpy(info->model, text, sizeof info->model);
    }
    if (exchange(s, "I3", &r, NULL, &ignore) == 0 && r.has_text)
        pd_strlcpy(info->firmware, r.text, sizeof info->firmware);
    return PD_OK;
}

static int mtsics_open(void *state, struct pd_instrument_info *info, struct pd_err *err)
{
    struct balance *s = state;
    if (s->t)
        return pd_err_set(err, PD_ESTATE, s->where, "already open");
    int rc = pd_transport_config_open(&s->port, &s->t, err);
    if (rc < 0) {
        s->faults.io_errors++;
        struct pd_err inner = err ? *err : (struct pd_err){0};
        pd_err_set(err, rc, s->name, "%s", inner.msg);
        if (err)
            err->os_errno = inner.os_errno;
        return rc;
    }
    if (s->opens++ > 0)
        s->faults.reopens++;
    s->pan_clear = false; /* a piece already on the pan when we connect is not a new weighing */
    /* Whatever a previous session left half-sent is not ours. */
    pd_transport_flush_input(s->t, 20, NULL);
    struct pd_instrument_info got = {0};
    if (info)
        got = *info;
    if ((rc = read_identity(s, &got, err)) < 0) {
        mtsics_close(s);
        return rc;
    }
    if (info)
        *info = got;
    return PD_OK;
}

static size_t mtsics_channels(void *state, const struct pd_channel_info **out)
{
    struct balance *s = state;
    *out = s->channels;
    return CH_COUNT;
}

static int mtsics_poll(void *state, const struct pd_sink *sink, struct pd_err *err)
{
    struct balance *s = state;
    if (!s->t)
        return pd_err_set(err, PD_ESTATE, s->where, "poll before open");
    struct mtsics_reply r;
    struct pd_exchange_time tm;
    int rc = exchange(s, s->command, &r, &tm, err);
    if (rc < 0)
        return rc;
    if (!r.has_weight || (r.kind != MTSICS_STABLE && r.kind != MTSICS_DYNAMIC)) {
        s->faults.garbled++;
        return pd_err_set(err, PD_EPROTO, s->where, "%s: reply without a weight", s->command);
    }
    double g;
    if (!mtsics_weight_grams(&r, &g)) {
        s->faults.wrong_unit++;
        return pd_err_set(err, PD_EPROTO, s->where, "%s: unit '%s' is not g, kg or mg", s->command,
                          r.unit);
    }
    struct pd_reading reading = {.t_mono_ns = tm.mid_ns, .half_width_ns = tm.half_width_ns, .quality = PD_Q_GOOD};
    reading.values[CH_MASS] = g;
    reading.values[CH_STABLE] = r.kind == MTSICS_STABLE ? 1.0 : 0.0;
    if (r.kind == MTSICS_DYNAMIC)
        s->faults.dynamic++;
    if (s->weighings) {
        if (r.kind != MTSICS_STABLE)
            return PD_OK;
        if (g < s->piece_min_g) {
            s->pan_clear = true;
            return PD_OK;
        }
        if (!s->pan_clear)
            return PD_OK; /* the same piece as before */
        s->pan_clear = false;
    }
    bool out_of_range = (s->has_min && !(g >= s->min_g)) || (s->has_max && !(g <= s->max_g));
    if (out_of_range)
        reading.quality |= PD_Q_RANGE;
    rc = sink && sink->push ? sink->push(sink->ctx, &reading) : PD_OK;
    if (rc < 0)
        return rc;
    if (out_of_range) {
        /* Kept (flagged) and reported: the caller counts and logs it. */
        s->faults.out_of_range++;
        return pd_err_set(err, PD_ERANGE, s->where, "mass %.6g g outside the plausible %g..%g g", g,
                          s->has_min ? s->min_g : -INFINITY, s->has_max ? s->max_g : INFINITY);
    }
    return PD_OK;
}

static int mtsics_control(void *state, const char *name, double value, struct pd_err *err)
{
    struct balance *s = state;
    static const struct {
        const char *name, *request;
    } controls[] = {{"zero", "Z"}, {"zero_immediate", "ZI"}, {"tare", "T"}, {"clear_tare", "TAC"}};
    const char *request = NULL;
    for (size_t i = 0; name && i < sizeof controls / sizeof controls[0]; i++)
        if (strcmp(controls[i].name, name) == 0)
            request = controls[i].request;
    if (!request)
        return pd_err_set(err, PD_EUNSUPPORTED, s->where, "no control named '%s' (zero, zero_immediate, tare, clear_tare)", name ? name : "(null)");
    if (!s->t)
        return pd_err_set(err, PD_ESTATE, s->where, "control '%s' before open", name);
    struct mtsics_reply r;
    return exchange(s, request, &r, NULL, err);
}

static const char *mtsics_map_text(void *state)
{
    const struct balance *s = state;
    return s->map_text;
}

const struct pd_driver pd_driver_mtsics = {
    .name = "mtsics",
    .description = "balance speaking MT-SICS (S, SI, Z, T, I4) over a serial port or raw TCP",
    .config_keys = mtsics_config_keys,
    .create = mtsics_create,
    .set_transport = mtsics_set_transport,
    .open = mtsics_open,
    .channels = mtsics_channels,
    .poll = mtsics_poll,
    .control = mtsics_control,
    .map_text = mtsics_map_text,
    .stats = mtsics_stats,
    .close = mtsics_close,
    .destroy = mtsics_destroy,
};
