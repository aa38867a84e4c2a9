/* api.c — the configured line-protocol driver: an instrument whose serial protocol is a request
 * string and a response pattern (see protocol.h) is described by its config, not by code.
 * Identifies (model, serial, firmware; a nonzero `simulated` number marks a simulator's data),
 * polls (or, without a poll request, reads the lines the instrument streams), maps captured fields
 * to channels with units and scaling, writes controls, and keeps the last raw line for messages. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/core.h"
#include "driver/driver.h"
#include "serial_line/protocol.h"
#include "transport/transport.h"

#define REQUEST_MAX 128
#define MAX_UNITS 8
#define MAX_CONTROLS 16

struct channel {
    int field;      /* number field of the poll pattern */
    int unit_field; /* word field holding the unit, -1 when the unit is fixed */
    size_t n_units;
    char unit_names[MAX_UNITS][16];
    double unit_factors[MAX_UNITS];
    double scale, offset;
    bool has_min, has_max;
    double min, max;
};

struct control {
    char name[PD_NAME_MAX];
    char request[REQUEST_MAX];
    bool has_response;
    struct sl_pattern response;
};

struct fault_counts {
    unsigned long requests, timeouts, garbled, mismatched, device_errors, wrong_unit, out_of_range, io_errors, reopens,
        streamed;
};

struct line_instrument {
    char name[PD_NAME_MAX];
    char where[PD_NAME_MAX + PD_TRANSPORT_NAME_MAX + 8];
    struct pd_transport_config port;
    char id_request[REQUEST_MAX];
    bool has_identify;
    struct sl_pattern id_pattern;
    int id_simulated; /* number field of the identify response: nonzero = a simulator (-1: none) */
    char poll_request[REQUEST_MAX]; /* empty: the instrument streams */
    struct sl_pattern poll_pattern;
    bool has_error_pattern;
    struct sl_pattern error_pattern;
    long stream_wait_ms;
    int change_field;        /* report only lines whose value of this field changed (-1: every line) */
    bool have_last_change;   /* the first value after open is the baseline, not a new reading */
    double last_change_value;
    size_t n_channels;
    struct channel channels[PD_MAX_CHANNELS];
    struct pd_channel_info channel_info[PD_MAX_CHANNELS];
    size_t n_controls;
    struct control controls[MAX_CONTROLS];
    char *map_text;
    char last_raw[PD_TRANSPORT_LINE_MAX + 1];
    struct pd_transport *t;
    unsigned long opens;
    struct fault_counts faults;
};

/* ---- config --------------------------------------------------------------------------------*/

struct own_cfg {
    const struct pd_cfg_node *identify, *poll, *channels, *controls;
    char error_response[256];
    long stream_wait_ms;
    char report_on_change[SL_FIELD_NAME_MAX];
};

#define F(k) offsetof(struct own_cfg, k)
static const struct pd_cfg_field own_fields[] = {
    {.key = "identify", .type = PD_CFG_T_MAP, .offset = F(identify),
     .help = "{request, response} with fields model/serial/firmware, and {simulated} (nonzero: a simulator)"},
    {.key = "poll", .type = PD_CFG_T_MAP, .offset = F(poll), .required = true,
     .help = "{request (omit for a streaming instrument), response}"},
    {.key = "channels", .type = PD_CFG_T_SEQ, .offset = F(channels), .required = true, .help = "a list of channels"},
    {.key = "controls", .type = PD_CFG_T_SEQ, .offset = F(controls), .help = "a list of {name, request, response}"},
    {.key = "error_response", .type = PD_CFG_T_STRING, .offset = F(error_response), .size = 256,
     .help = "the pattern of the instrument's error line, e.g. \"ERR {code}\""},
    {.key = "stream_wait_ms", .type = PD_CFG_T_INT, .offset = F(stream_wait_ms), .min = 1, .max = 1000, .def = "20",
     .help = "streaming instruments: how long one poll waits for a line, 1..1000 ms"},
    {.key = "report_on_change", .type = PD_CFG_T_STRING, .offset = F(report_on_change), .size = SL_FIELD_NAME_MAX,
     .help = "a number field (a reading counter): only lines where it changed become readings"},
    {.key = NULL},
};
#undef F

struct exchange_cfg {
    char request[REQUEST_MAX];
    char response[256];
};
#define X(k) offsetof(struct exchange_cfg, k)
static const struct pd_cfg_field exchange_fields[] = {
    {.key = "request", .type = PD_CFG_T_STRING, .offset = X(request), .size = REQUEST_MAX,
     .help = "the text sent (terminator added)"},
    {.key = "response", .type = PD_CFG_T_STRING, .offset = X(response), .size = 256, .required = true,
     .help = "the pattern of the reply line"},
    {.key = NULL},
};
#undef X

struct channel_cfg {
    char name[PD_NAME_MAX];
    char field[SL_FIELD_NAME_MAX];
    char unit[PD_UNIT_MAX];
    char unit_field[SL_FIELD_NAME_MAX];
    const struct pd_cfg_node *units;
    double scale, offset, min, max;
};
#define C(k) offsetof(struct channel_cfg, k)
static const struct pd_cfg_field channel_fields[] = {
    {.key = "name", .type = PD_CFG_T_STRING, .offset = C(name), .size = PD_NAME_MAX, .required = true},
    {.key = "field", .type = PD_CFG_T_STRING, .offset = C(field), .size = SL_FIELD_NAME_MAX,
     .help = "the number field of the poll response (default: the channel's name)"},
    {.key = "unit", .type = PD_CFG_T_STRING, .offset = C(unit), .size = PD_UNIT_MAX, .def = ""},
    {.key = "unit_field", .type = PD_CFG_T_STRING, .offset = C(unit_field), .size = SL_FIELD_NAME_MAX,
     .help = "a word field carrying the unit on the line"},
    {.key = "units", .type = PD_CFG_T_MAP, .offset = C(units),
     .help = "unit on the line -> factor to the channel's unit, e.g. {g: 1, kg: 1000}"},
    {.key = "scale", .type = PD_CFG_T_DOUBLE, .offset = C(scale), .def = "1"},
    {.key = "offset", .type = PD_CFG_T_DOUBLE, .offset = C(offset), .def = "0"},
    {.key = "min", .type = PD_CFG_T_DOUBLE, .offset = C(min), .help = "lowest plausible value"},
    {.key = "max", .type = PD_CFG_T_DOUBLE, .offset = C(max), .help = "highest plausible value"},
    {.key = NULL},
};
#undef C

struct control_cfg {
    char name[PD_NAME_MAX];
    char request[REQUEST_MAX];
    char response[256];
};
#define K(k) offsetof(struct control_cfg, k)
static const struct pd_cfg_field control_fields[] = {
    {.key = "name", .type = PD_CFG_T_STRING, .offset = K(name), .size = PD_NAME_MAX, .required = true},
    {.key = "request", .type = PD_CFG_T_STRING, .offset = K(request), .size = REQUEST_MAX, .required = true,
     .help = "the text sent; {value} is replaced by the value"},
    {.key = "response", .type = PD_CFG_T_STRING, .offset = K(response), .size = 256,
     .help = "the pattern of the acknowledgement (omit when the instrument does not answer)"},
    {.key = NULL},
};
#undef K

static const char *const serial_line_config_keys[] = {
    "transport", "baud", "parity", "data_bits", "stop_bits", "flow_control", "response_timeout_ms", "terminator",
    "max_line", "identify", "poll", "channels", "controls", "error_response", "stream_wait_ms", "report_on_change", NULL,
};

static int compile_at(const struct pd_cfg_node *node, const char *text, struct sl_pattern *out, struct pd_err *err)
{
    char why[200];
    if (sl_pattern_compile(text, out, why, sizeof why) != 0)
        return pd_cfg_error(err, node, "pattern '%s': %s", text, why);
    return PD_OK;
}

static int decode_exchange(const struct pd_cfg_node *node, bool request_required, char *request,
                           struct sl_pattern *pattern, struct pd_err *err)
{
    struct exchange_cfg x = {0};
    int rc = pd_cfg_decode(node, exchange_fields, NULL, &x, err);
    if (rc < 0)
        return rc;
    if (request_required && !x.request[0])
        return pd_cfg_error(err, node, "needs a 'request'");
    pd_strlcpy(request, x.request, REQUEST_MAX);
    return compile_at(pd_cfg_map_get(node, "response"), x.response, pattern, err);
}

static int decode_channel(struct line_instrument *s, const struct pd_cfg_node *node, size_t i, struct pd_err *err)
{
    struct channel_cfg c = {0};
    int rc = pd_cfg_decode(node, channel_fields, NULL, &c, err);
    if (rc < 0)
        return rc;
    const struct pd_cfg_node *name_node = pd_cfg_map_get(node, "name");
    if (!c.name[0])
        return pd_cfg_error(err, name_node, "channel name must not be empty");
    for (size_t k = 0; k < i; k++)
        if (strcmp(s->channel_info[k].name, c.name) == 0)
            return pd_cfg_error(err, name_node, "duplicate channel name '%s'", c.name);
    const char *field = c.field[0] ? c.field : c.name;
    const struct pd_cfg_node *field_node = pd_cfg_map_get(node, "field");
    int f = sl_pattern_field(&s->poll_pattern, field);
    if (f < 0)
        return pd_cfg_error(err, field_node ? field_node : name_node, "the poll response has no field '%s'", field);
    if (s->poll_pattern.field_is_word[f])
        return pd_cfg_error(err, field_node ? field_node : name_node, "field '%s' is a word, a channel needs a number",
                            field);
    struct channel ch = {.field = f, .unit_field = -1, .scale = c.scale, .offset = c.offset};
    if (c.scale == 0.0)
        return pd_cfg_error(err, pd_cfg_map_get(node, "scale"), "scale must not be 0");
    if (c.unit_field[0]) {
        const struct pd_cfg_node *uf_node = pd_cfg_map_get(node, "unit_field");
        ch.unit_field = sl_pattern_field(&s->poll_pattern, c.unit_field);
        if (ch.unit_field < 0 || !s->poll_pattern.field_is_word[ch.unit_field])
            return pd_cfg_error(err, uf_node, "the poll response has no word field '%s' (write {%s:word})",
                                c.unit_field, c.unit_field);
        if (!c.units)
            return pd_cfg_error(err, uf_node, "a unit_field needs 'units' (unit on the line -> factor)");
        size_t nu = pd_cfg_map_size(c.units);
        if (nu == 0 || nu > MAX_UNITS)
            return pd_cfg_error(err, c.units, "units: 1..%d entries", MAX_UNITS);
        for (size_t u = 0; u < nu; u++) {
            const struct pd_cfg_node *k = pd_cfg_map_key(c.units, u);
            if ((rc = pd_cfg_get_double(pd_cfg_map_value(c.units, u), &ch.unit_factors[u], err)) < 0)
                return rc;
            if (!(ch.unit_factors[u] != 0.0))
                return pd_cfg_error(err, pd_cfg_map_value(c.units, u), "factor must not be 0");
            if (pd_strlcpy(ch.unit_names[u], pd_cfg_scalar(k), sizeof ch.unit_names[u]) != 0)
                return pd_cfg_error(err, k, "unit name too long");
        }
        ch.n_units = nu;
    } else if (c.units) {
        return pd_cfg_error(err, c.units, "'units' needs a 'unit_field'");
    }
    ch.has_min = pd_cfg_map_get(node, "min") != NULL;
    ch.has_max = pd_cfg_map_get(node, "max") != NULL;
    ch.min = c.min;
    ch.max = c.max;
    if (ch.has_min && ch.has_max && ch.min > ch.max)
        return pd_cfg_error(err, pd_cfg_map_get(node, "max"), "max %g is below min %g", ch.max, ch.min);
    s->channels[i] = ch;
    pd_strlcpy(s->channel_info[i].name, c.name, PD_NAME_MAX);
    pd_strlcpy(s->channel_info[i].unit, c.unit, PD_UNIT_MAX);
    return PD_OK;
}

static int decode_control(struct line_instrument *s, const struct pd_cfg_node *node, size_t i, struct pd_err *err)
{
    struct control_cfg c = {0};
    int rc = pd_cfg_decode(node, control_fields, NULL, &c, err);
    if (rc < 0)
        return rc;
    const struct pd_cfg_node *name_node = pd_cfg_map_get(node, "name");
    if (!c.name[0])
        return pd_cfg_error(err, name_node, "control name must not be empty");
    for (size_t k = 0; k < i; k++)
        if (strcmp(s->controls[k].name, c.name) == 0)
            return pd_cfg_error(err, name_node, "duplicate control name '%s'", c.name);
    struct control *ct = &s->controls[i];
    pd_strlcpy(ct->name, c.name, sizeof ct->name);
    pd_strlcpy(ct->request, c.request, sizeof ct->request);
    char probe[REQUEST_MAX + 32];
    if (sl_format_request(c.request, -1.2345678901e-300, probe, sizeof probe) != 0)
        return pd_cfg_error(err, pd_cfg_map_get(node, "request"), "request too long");
    if (c.response[0]) {
        ct->has_response = true;
        return compile_at(pd_cfg_map_get(node, "response"), c.response, &ct->response, err);
    }
    return PD_OK;
}

static void set_where(struct line_instrument *s)
{
    snprintf(s->where, sizeof s->where, "%s (%s)", s->name, s->port.transport);
}

static int build_map_text(struct line_instrument *s, const struct pd_cfg_node *instrument)
{
    /* The instrument's own section as written is the clearest record of the grammar used; the
     * effective transport (a simulator's address) is added. */
    (void)instrument;
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f)
        return PD_ENOMEM;
    fprintf(f, "driver: serial_line\ntransport: %s\nbaud: %ld\nparity: %s\ndata_bits: %d\nstop_bits: %d\n",
            s->port.transport, s->port.serial.baud, pd_parity_names[s->port.serial.parity], s->port.serial.data_bits,
            s->port.serial.stop_bits);
    char term[32];
    pd_transport_escape(s->port.terminator, strlen(s->port.terminator), term, sizeof term);
    fprintf(f, "terminator: \"%s\"\nresponse_timeout_ms: %ld\npoll_request: \"%s\"\nchannels:\n", term,
            s->port.response_timeout_ms, s->poll_request);
    for (size_t i = 0; i < s->n_channels; i++)
        fprintf(f, "  - {name: %s, field: %s, unit: \"%s\", scale: %.17g, offset: %.17g}\n", s->channel_info[i].name,
                s->poll_pattern.field_names[s->channels[i].field], s->channel_info[i].unit, s->channels[i].scale,
                s->channels[i].offset);
    if (fclose(f) != 0) {
        free(text);
        return PD_ENOMEM;
    }
    free(s->map_text);
    s->map_text = text;
    return PD_OK;
}

static void line_destroy(void *state);

static int line_create(const struct pd_cfg_node *instrument, void **state, struct pd_err *err)
{
    struct own_cfg oc = {0};
    const char *others[64];
    pd_driver_other_keys(pd_transport_config_keys, others, sizeof others / sizeof others[0]);
    int rc = pd_cfg_decode(instrument, own_fields, others, &oc, err);
    if (rc < 0)
        return rc;
    struct line_instrument *s = calloc(1, sizeof *s);
    if (!s)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory for a serial-line instrument");
    if ((rc = pd_driver_instrument_name(instrument, s->name, err)) < 0)
        goto fail;
    if ((rc = pd_transport_config_decode(instrument, "\\r\\n", &s->port, err)) < 0)
        goto fail;
    s->stream_wait_ms = oc.stream_wait_ms;
    s->id_simulated = -1;
    if (oc.identify) {
        if ((rc = decode_exchange(oc.identify, true, s->id_request, &s->id_pattern, err)) < 0)
            goto fail;
        s->has_identify = true;
        static const char *const id_fields[] = {"model", "serial", "firmware"};
        bool any = false;
        for (size_t i = 0; i < 3; i++)
            any = any || sl_pattern_field(&s->id_pattern, id_fields[i]) >= 0;
        if (!any) {
            rc = pd_cfg_error(err, pd_cfg_map_get(oc.identify, "response"),
                              "the identify response captures none of model, serial, firmware");
            goto fail;
        }
        /* A number, like the Modbus identity register of that name: a word would need a second
         * setting saying which word means "simulated", and a typo there would pass real silently. */
        s->id_simulated = sl_pattern_field(&s->id_pattern, "simulated");
        if (s->id_simulated >= 0 && s->id_pattern.field_is_word[s->id_simulated]) {
            rc = pd_cfg_error(err, pd_cfg_map_get(oc.identify, "response"),
                              "field 'simulated' must be a number ({simulated}, nonzero: a simulator), not a word");
            goto fail;
        }
    }
    if ((rc = decode_exchange(oc.poll, false, s->poll_request, &s->poll_pattern, err)) < 0)
        goto fail;
    if (oc.error_response[0]) {
        if ((rc = compile_at(pd_cfg_map_get(instrument, "error_response"), oc.error_response, &s->error_pattern,
                             err)) < 0)
            goto fail;
        s->has_error_pattern = true;
    }
    s->change_field = -1;
    if (oc.report_on_change[0]) {
        s->change_field = sl_pattern_field(&s->poll_pattern, oc.report_on_change);
        if (s->change_field < 0 || s->poll_pattern.field_is_word[s->change_field]) {
            rc = pd_cfg_error(err, pd_cfg_map_get(instrument, "report_on_change"),
                              "the poll response has no number field '%s'", oc.report_on_change);
            goto fail;
        }
    }
    size_t n = pd_cfg_seq_len(oc.channels);
    if (n == 0 || n > PD_MAX_CHANNELS) {
        rc = pd_cfg_error(err, oc.channels, "%zu channels: 1..%d expected", n, PD_MAX_CHANNELS);
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        if ((rc = decode_channel(s, pd_cfg_seq_at(oc.channels, i), i, err)) < 0)
            goto fail;
    s->n_channels = n;
    if (oc.controls) {
        size_t nc = pd_cfg_seq_len(oc.controls);
        if (nc > MAX_CONTROLS) {
            rc = pd_cfg_error(err, oc.controls, "%zu controls, at most %d", nc, MAX_CONTROLS);
            goto fail;
        }
        for (size_t i = 0; i < nc; i++)
            if ((rc = decode_control(s, pd_cfg_seq_at(oc.controls, i), i, err)) < 0)
                goto fail;
        s->n_controls = nc;
    }
    set_where(s);
    if ((rc = build_map_text(s, instrument)) < 0) {
        rc = pd_err_set(err, rc, s->name, "out of memory for the map text");
        goto fail;
    }
    *state = s;
    return PD_OK;
fail:
    line_destroy(s);
    return rc;
}

static int line_set_transport(void *state, const char *transport, struct pd_err *err)
{
    struct line_instrument *s = state;
    if (s->t)
        return pd_err_set(err, PD_ESTATE, s->where, "cannot change the transport while open");
    int rc = pd_transport_config_set_name(&s->port, transport, s->where, err);
    if (rc < 0)
        return rc;
    set_where(s);
    return build_map_text(s, NULL) < 0 ? pd_err_set(err, PD_ENOMEM, s->where, "out of memory") : PD_OK;
}

static void line_close(void *state)
{
    struct line_instrument *s = state;
    if (!s->t)
        return;
    pd_transport_close(s->t);
    s->t = NULL;
}

static size_t line_stats(void *state, struct pd_driver_stat *out, size_t max)
{
    const struct fault_counts *f = &((const struct line_instrument *)state)->faults;
    const struct pd_driver_stat all[] = {
        {"requests", f->requests, false},         {"streamed_lines", f->streamed, false},
        {"timeouts", f->timeouts, true},          {"garbled", f->garbled, true},
        {"not_matching", f->mismatched, true},    {"device_errors", f->device_errors, true},
        {"wrong_unit", f->wrong_unit, true},      {"out_of_range", f->out_of_range, true},
        {"io_errors", f->io_errors, true},        {"reopens", f->reopens, false},
    };
    return pd_driver_stats_copy(all, sizeof all / sizeof all[0], out, max);
}

static void line_destroy(void *state)
{
    struct line_instrument *s = state;
    if (!s)
        return;
    line_close(s);
    free(s->map_text);
    free(s);
}

/* Counts a transport failure and re-words it under the instrument's name. */
static int link_failure(struct line_instrument *s, int rc, const char *what, struct pd_err *err)
{
    if (rc == PD_ETIMEOUT)
        s->faults.timeouts++;
    else if (rc == PD_EPROTO)
        s->faults.garbled++;
    else
        s->faults.io_errors++;
    if (err) {
        struct pd_err inner = *err;
        const char *detail = inner.msg;
        size_t wl = strlen(inner.where);
        if (wl && strncmp(detail, inner.where, wl) == 0 && detail[wl] == ':')
            detail += wl + 2;
        pd_err_set(err, rc, s->where, "%s: %s", what, detail);
        err->os_errno = inner.os_errno;
    }
    if (rc == PD_ETIMEOUT || rc == PD_EPROTO)
        pd_transport_flush_input(s->t, 50, NULL);
    return rc;
}

/* Matches `line` against `pattern`; otherwise an error line is a device error, anything else a
 * protocol error quoting the line. */
static int match_line(struct line_instrument *s, const char *what, const struct sl_pattern *pattern, const char *line,
                      size_t len, struct sl_match *m, struct pd_err *err)
{
    char why[160], quoted[200];
    if (sl_pattern_match(pattern, line, m, why, sizeof why) == 0)
        return PD_OK;
    pd_transport_escape(line, len, quoted, sizeof quoted);
    struct sl_match em;
    char ignore[8];
    if (s->has_error_pattern && sl_pattern_match(&s->error_pattern, line, &em, ignore, sizeof ignore) == 0) {
        s->faults.device_errors++;
        int code = s->error_pattern.n_fields && !s->error_pattern.field_is_word[0] ? (int)em.numbers[0] : 0;
        int rc = pd_err_set(err, PD_EDEVICE, s->where, "%s: instrument error '%s'", what, quoted);
        if (err)
            err->device_code = code;
        return rc;
    }
    s->faults.mismatched++;
    pd_transport_flush_input(s->t, 50, NULL);
    return pd_err_set(err, PD_EPROTO, s->where, "%s: line '%s' does not match the configured response: %s", what,
                      quoted, why);
}

static int line_open(void *state, struct pd_instrument_info *info, struct pd_err *err)
{
    struct line_instrument *s = state;
    if (s->t)
        return pd_err_set(err, PD_ESTATE, s->where, "already open");
    int rc = pd_transport_config_open(&s->port, &s->t, err);
    if (rc < 0) {
        s->faults.io_errors++;
        if (err) {
            struct pd_err inner = *err;
            pd_err_set(err, rc, s->name, "%s", inner.msg);
            err->os_errno = inner.os_errno;
        }
        return rc;
    }
    if (s->opens++ > 0)
        s->faults.reopens++;
    s->have_last_change = false;
    pd_transport_flush_input(s->t, 20, NULL);
    if (!s->has_identify)
        return PD_OK;
    char line[PD_TRANSPORT_LINE_MAX + 1];
    size_t len;
    s->faults.requests++;
    rc = pd_transport_request(s->t, s->id_request, line, sizeof line, &len, (int)s->port.response_timeout_ms, NULL, err);
    struct sl_match m;
    if (rc < 0)
        rc = link_failure(s, rc, "identify", err);
    else
        rc = match_line(s, "identify", &s->id_pattern, line, len, &m, err);
    if (rc < 0) {
        line_close(s);
        return rc;
    }
    if (info && s->id_simulated >= 0 && m.numbers[s->id_simulated] != 0.0 && !info->simulated) {
        /* only ever set: a `simulator:` section's mark stays whatever the answer */
        info->simulated = 1;
        pd_log(PD_LOG_INFO, "%s: identify answer declares a simulator (simulated = %g): its data are marked simulated",
               s->where, m.numbers[s->id_simulated]);
    }
    if (info) {
        static const struct {
            const char *field;
            size_t offset, size;
        } ids[] = {
            {"model", offsetof(struct pd_instrument_info, model), sizeof info->model},
            {"serial", offsetof(struct pd_instrument_info, serial), sizeof info->serial},
            {"firmware", offsetof(struct pd_instrument_info, firmware), sizeof info->firmware},
        };
        for (size_t i = 0; i < 3; i++) {
            int f = sl_pattern_field(&s->id_pattern, ids[i].field);
            if (f < 0)
                continue;
            char *dst = (char *)info + ids[i].offset;
            if (s->id_pattern.field_is_word[f])
                pd_strlcpy(dst, m.words[f], ids[i].size);
            else
                snprintf(dst, ids[i].size, "%.15g", m.numbers[f]);
        }
    }
    return PD_OK;
}

static size_t line_channels(void *state, const struct pd_channel_info **out)
{
    struct line_instrument *s = state;
    *out = s->channel_info;
    return s->n_channels;
}

static int line_poll(void *state, const struct pd_sink *sink, struct pd_err *err)
{
    struct line_instrument *s = state;
    if (!s->t)
        return pd_err_set(err, PD_ESTATE, s->where, "poll before open");
    char line[PD_TRANSPORT_LINE_MAX + 1];
    size_t len;
    int rc;
    struct pd_exchange_time tm;
    const char *what = s->poll_request[0] ? s->poll_request : "stream";
    if (s->poll_request[0]) {
        s->faults.requests++;
        rc = pd_transport_request(s->t, s->poll_request, line, sizeof line, &len, (int)s->port.response_timeout_ms,
                                  &tm, err);
    } else {
        /* A streaming instrument: take a line if one comes soon; none is not an error. The line's
         * own transmission time at the configured baud is its timing uncertainty. */
        int64_t start = pd_clock_mono_ns();
        rc = pd_transport_read_line(s->t, line, sizeof line, &len, (int)s->stream_wait_ms, err);
        if (rc == PD_ETIMEOUT)
            return PD_OK;
        if (rc == 0) {
            s->faults.streamed++;
            int64_t end = pd_clock_mono_ns();
            int64_t tx_ns = (int64_t)((double)(len + 2) * 10.0 / (double)s->port.serial.baud * 1e9);
            tm.received_ns = end;
            tm.half_width_ns = tx_ns / 2;
            tm.mid_ns = end - tm.half_width_ns;
            tm.sent_ns = start;
        }
    }
    if (rc < 0)
        return link_failure(s, rc, what, err);
    pd_strlcpy(s->last_raw, line, sizeof s->last_raw);
    pd_log(PD_LOG_DEBUG, "%s: %s -> %s", s->where, what, line);
    struct sl_match m;
    if ((rc = match_line(s, what, &s->poll_pattern, line, len, &m, err)) < 0)
        return rc;
    if (s->change_field >= 0) {
        double v = m.numbers[s->change_field];
        bool fresh = s->have_last_change && v != s->last_change_value;
        s->have_last_change = true;
        s->last_change_value = v;
        if (!fresh)
            return PD_OK; /* the same reading as before (or the one held before we connected) */
    }
    struct pd_reading reading = {.t_mono_ns = tm.mid_ns, .half_width_ns = tm.half_width_ns, .quality = PD_Q_GOOD};
    int range_channel = -1;
    for (size_t i = 0; i < s->n_channels; i++) {
        const struct channel *c = &s->channels[i];
        double v = m.numbers[c->field];
        if (c->unit_field >= 0) {
            const char *unit = m.words[c->unit_field];
            size_t u = 0;
            while (u < c->n_units && strcmp(c->unit_names[u], unit) != 0)
                u++;
            if (u == c->n_units) {
                s->faults.wrong_unit++;
                char quoted[200];
                pd_transport_escape(line, len, quoted, sizeof quoted);
                return pd_err_set(err, PD_EPROTO, s->where, "%s: channel %s: unit '%s' is not configured (line '%s')",
                                  what, s->channel_info[i].name, unit, quoted);
            }
            v *= c->unit_factors[u];
        }
        v = v * c->scale + c->offset;
        reading.values[i] = v;
        if ((c->has_min && !(v >= c->min)) || (c->has_max && !(v <= c->max))) {
            reading.quality |= PD_Q_RANGE;
            if (range_channel < 0)
                range_channel = (int)i;
        }
    }
    rc = sink && sink->push ? sink->push(sink->ctx, &reading) : PD_OK;
    if (rc < 0)
        return rc;
    if (range_channel >= 0) {
        s->faults.out_of_range++;
        const struct channel *c = &s->channels[range_channel];
        return pd_err_set(err, PD_ERANGE, s->where, "%s: channel %s = %.6g outside the plausible %g..%g (kept, flagged)",
                          what, s->channel_info[range_channel].name, reading.values[range_channel],
                          c->has_min ? c->min : -INFINITY, c->has_max ? c->max : INFINITY);
    }
    return PD_OK;
}

static int line_control(void *state, const char *name, double value, struct pd_err *err)
{
    struct line_instrument *s = state;
    const struct control *c = NULL;
    for (size_t i = 0; name && i < s->n_controls; i++)
        if (strcmp(s->controls[i].name, name) == 0)
            c = &s->controls[i];
    if (!c)
        return pd_err_set(err, PD_EUNSUPPORTED, s->where, "no control named '%s' in the config", name ? name : "(null)");
    if (!s->t)
        return pd_err_set(err, PD_ESTATE, s->where, "control '%s' before open", c->name);
    char request[REQUEST_MAX + 32];
    if (sl_format_request(c->request, value, request, sizeof request) != 0)
        return pd_err_set(err, PD_EINVAL, s->where, "control '%s': request too long", c->name);
    char what[PD_NAME_MAX + 16];
    snprintf(what, sizeof what, "control '%s'", c->name);
    s->faults.requests++;
    int rc;
    if (!c->has_response) {
        char out[sizeof request + PD_TRANSPORT_TERM_MAX];
        snprintf(out, sizeof out, "%s%s", request, s->port.terminator);
        rc = pd_transport_write(s->t, out, strlen(out), (int)s->port.response_timeout_ms, err);
        return rc < 0 ? link_failure(s, rc, what, err) : PD_OK;
    }
    char line[PD_TRANSPORT_LINE_MAX + 1];
    size_t len;
    rc = pd_transport_request(s->t, request, line, sizeof line, &len, (int)s->port.response_timeout_ms, NULL, err);
    if (rc < 0)
        return link_failure(s, rc, what, err);
    struct sl_match m;
    return match_line(s, what, &c->response, line, len, &m, err);
}

static const char *line_map_text(void *state)
{
    const struct line_instrument *s = state;
    return s->map_text;
}

const struct pd_driver pd_driver_serial_line = {
    .name = "serial_line",
    .description = "ASCII line-protocol instrument described by request strings and response patterns",
    .config_keys = serial_line_config_keys,
    .create = line_create,
    .set_transport = line_set_transport,
    .open = line_open,
    .channels = line_channels,
    .poll = line_poll,
    .control = line_control,
    .map_text = line_map_text,
    .stats = line_stats,
    .close = line_close,
    .destroy = line_destroy,
};
