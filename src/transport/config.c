/* config.c — the port keys of an instrument section (transport, line settings, framing) decoded and
 * checked in one place for every serial-line driver. */
#include <stdio.h>
#include <string.h>

#include "transport/transport.h"

const char *const pd_transport_config_keys[] = {
    "transport", "baud",  "parity",     "data_bits", "stop_bits", "flow_control", "response_timeout_ms",
    "terminator", "max_line", NULL,
};

static const char *const serial_only_keys[] = {"baud", "parity", "data_bits", "stop_bits", "flow_control", NULL};

struct raw_cfg {
    char transport[PD_TRANSPORT_NAME_MAX];
    long baud, data_bits, stop_bits, response_timeout_ms, max_line;
    int parity, flow;
    char terminator[64];
};

#define F(k) offsetof(struct raw_cfg, k)
static const struct pd_cfg_field fields[] = {
    {.key = "transport", .type = PD_CFG_T_STRING, .offset = F(transport), .size = PD_TRANSPORT_NAME_MAX,
     .required = true, .help = "a serial port (/dev/ttyUSB0, /dev/pts/3) or tcp-raw://HOST:PORT"},
    {.key = "baud", .type = PD_CFG_T_INT, .offset = F(baud), .min = 50, .max = 4000000, .def = "9600",
     .help = "serial baud rate"},
    {.key = "parity", .type = PD_CFG_T_ENUM, .offset = F(parity), .choices = pd_parity_names, .def = "none"},
    {.key = "data_bits", .type = PD_CFG_T_INT, .offset = F(data_bits), .min = 5, .max = 8, .def = "8", .help = "5..8"},
    {.key = "stop_bits", .type = PD_CFG_T_INT, .offset = F(stop_bits), .min = 1, .max = 2, .def = "1",
     .help = "1 or 2"},
    {.key = "flow_control", .type = PD_CFG_T_ENUM, .offset = F(flow), .choices = pd_flow_names, .def = "none"},
    {.key = "response_timeout_ms", .type = PD_CFG_T_INT, .offset = F(response_timeout_ms), .min = 1, .max = 60000,
     .def = "1000", .help = "milliseconds 1..60000 for a whole response line"},
    {.key = "terminator", .type = PD_CFG_T_STRING, .offset = F(terminator), .size = 64,
     .help = "the line terminator with escapes, e.g. \"\\r\\n\""},
    {.key = "max_line", .type = PD_CFG_T_INT, .offset = F(max_line), .min = 8, .max = PD_TRANSPORT_LINE_MAX,
     .def = "256", .help = "longest line accepted, 8..4096 bytes"},
    {.key = NULL},
};
#undef F

int pd_transport_config_decode(const struct pd_cfg_node *instrument, const char *default_terminator,
                               struct pd_transport_config *out, struct pd_err *err)
{
    struct raw_cfg r = {0};
    int rc = pd_cfg_decode(instrument, fields, pd_cfg_any_key, &r, err);
    if (rc < 0)
        return rc;
    const struct pd_cfg_node *tnode = pd_cfg_map_get(instrument, "transport");
    enum pd_transport_kind kind;
    struct pd_err why;
    if (pd_transport_classify(r.transport, &kind, &why) < 0)
        return pd_cfg_error(err, tnode, "%s", why.msg);
    if (kind == PD_TRANSPORT_TCP_RAW)
        for (size_t i = 0; serial_only_keys[i]; i++) {
            const struct pd_cfg_node *k = pd_cfg_map_get(instrument, serial_only_keys[i]);
            if (k)
                return pd_cfg_error(err, k, "'%s' applies only to serial ports, not %s (the device server sets it)",
                                    serial_only_keys[i], r.transport);
        }
    struct pd_transport_config c = {0};
    const struct pd_cfg_node *term_node = pd_cfg_map_get(instrument, "terminator");
    const char *term_text = term_node ? r.terminator : default_terminator;
    size_t tl;
    if (pd_transport_unescape(term_text, c.terminator, sizeof c.terminator, &tl) != 0 || tl == 0)
        return pd_cfg_error(err, term_node ? term_node : instrument,
                            "terminator '%s' must be 1..%d bytes, escapes \\r \\n \\t \\\\ \\xHH", term_text,
                            PD_TRANSPORT_TERM_MAX - 1);
    pd_strlcpy(c.transport, r.transport, sizeof c.transport);
    c.serial = (struct pd_serial_params){.baud = r.baud, .parity = r.parity, .data_bits = (int)r.data_bits,
                                         .stop_bits = (int)r.stop_bits, .flow = r.flow};
    c.response_timeout_ms = r.response_timeout_ms;
    c.max_line = r.max_line;
    *out = c;
    return PD_OK;
}

int pd_transport_config_set_name(struct pd_transport_config *c, const char *transport, const char *where,
                                 struct pd_err *err)
{
    if (!transport)
        return pd_err_set(err, PD_EINVAL, where, "set_transport: NULL transport");
    enum pd_transport_kind kind;
    int rc = pd_transport_classify(transport, &kind, err);
    if (rc < 0)
        return rc;
    if (strlen(transport) >= sizeof c->transport)
        return pd_err_set(err, PD_EINVAL, where, "transport '%s' is too long", transport);
    memcpy(c->transport, transport, strlen(transport) + 1);
    return PD_OK;
}

int pd_transport_config_open(const struct pd_transport_config *c, struct pd_transport **out, struct pd_err *err)
{
    struct pd_transport *t;
    int timeout = c->response_timeout_ms > 5000 ? (int)c->response_timeout_ms : 5000;
    int rc = pd_transport_open(c->transport, &c->serial, timeout, &t, err);
    if (rc < 0)
        return rc;
    if ((rc = pd_transport_set_framing(t, c->terminator, (size_t)c->max_line, err)) < 0) {
        pd_transport_close(t);
        return rc;
    }
    *out = t;
    return PD_OK;
}
