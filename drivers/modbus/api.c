/* api.c — the config-driven Modbus driver: instrument section → register map → Modbus I/O (RTU through
 * libmodbus, TCP through tcp.c) → readings with per-channel quality. */
#include <errno.h>
#include <math.h>
#include <modbus.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/core.h"
#include "driver/driver.h"
#include "modbus/protocol.h"
#include "modbus/tcp.h"

_Static_assert(PD_MB_MAX_FIELDS == PD_MAX_CHANNELS, "protocol.h and driver.h disagree on channels");
_Static_assert(PD_MAX_CHANNELS <= 16, "PD_Q_UNREAD_CHANNEL has bits for 16 channels");

/* ---- State ---------------------------------------------------------------------------------*/

enum identity_key { ID_FW_VERSION, ID_SERIAL_NUMBER, ID_MODEL, ID_SIMULATED, ID_COUNT };
static const char *const identity_names[] = {"fw_version", "serial_number", "model", "simulated",
                                             NULL};

/* A channel, control or identity entry: a named place on the device. */
struct point {
    char name[PD_NAME_MAX];
    struct pd_mb_field field;
    long config_address; /* as written, in the map's own base */
    bool has_min, has_max, has_value;
    double min, max;
    double value; /* controls: the fixed value written, when has_value */
    bool verify;  /* controls: read the written registers back and compare */
};

/* Faults seen over the instance's life (all opens), logged in one line at every close. The driver
 * interface has no statistics call, so this is where they become visible. */
struct fault_counts {
    unsigned long requests;       /* requests sent, retries included */
    unsigned long timeouts;       /* no (complete) answer in time */
    unsigned long crc_errors;     /* RTU frames with a bad CRC */
    unsigned long protocol;       /* other malformed or mismatched answers (wrong id, length...) */
    unsigned long exceptions[12]; /* by exception code 1..11 ([0]: codes outside that range) */
    unsigned long busy_retries;   /* requests repeated after exception 06 */
    unsigned long busy_failed;    /* still busy after every retry: PD_EBUSY */
    unsigned long io_errors;      /* link errors (reset, refused, ...) */
    unsigned long resyncs;        /* TCP connections renewed after a timeout or garbled answer */
    unsigned long reopens;        /* opens after the first (the caller's reconnects) */
    unsigned long verify_failed;  /* controls whose read-back differed */
    unsigned long unit_mismatches; /* RTU answers from another address (TCP: struct pd_mb_tcp) */
    unsigned long unread_blocks;  /* read requests failed or not asked in a partly read poll */
};

struct modbus_instrument {
    char name[PD_NAME_MAX];
    char where[PD_NAME_MAX + 32]; /* "frame1 (unit 1)", the prefix of every I/O message */
    char transport_text[256];
    struct pd_mb_transport transport;
    long unit;
    long address_base;
    long response_timeout_ms;
    long byte_timeout_ms;
    long max_registers;
    long busy_retries;
    long busy_delay_ms;
    long baud;
    int parity;
    long data_bits;
    long stop_bits;
    bool rs485;
    char slave_id[128]; /* expected start of the report-slave-id text, "" = not checked */
    bool transparent_gateway; /* TCP: accept answers whatever their unit id */
    bool connect_per_request; /* TCP: a connection per request, for devices that close after each */

    size_t n_channels;
    struct point channels[PD_MAX_CHANNELS];
    struct pd_channel_info channel_info[PD_MAX_CHANNELS];
    size_t n_controls;
    struct point *controls;
    size_t n_identity;
    struct point identity[ID_COUNT];
    int identity_key[ID_COUNT];

    struct pd_mb_plan plan;
    size_t request_base[PD_MAX_CHANNELS]; /* where each request's registers start in `regs` */
    uint16_t *regs;
    uint8_t *bits; /* scratch for bit-table reads */

    char *map_text;
    modbus_t *ctx; /* non-NULL while open */
    struct pd_mb_tcp tcp; /* TCP: the exchanges, on ctx's socket (and their counters) */
    bool retried;  /* a request of the current exchange was repeated (busy) */
    bool block_failing[PD_MAX_CHANNELS]; /* request i failed in the last poll it was asked in */
    unsigned long opens;
    struct fault_counts faults;
};

/* ---- Config schema -------------------------------------------------------------------------*/

static const char *const parity_names[] = {"none", "even", "odd", NULL};
static const char parity_chars[] = {'N', 'E', 'O'};

struct instrument_cfg {
    char transport[256];
    long unit;
    long address_base;
    long response_timeout_ms;
    long byte_timeout_ms;
    long max_registers;
    long busy_retries;
    long busy_delay_ms;
    long baud;
    int parity;
    long data_bits;
    long stop_bits;
    bool rs485;
    char slave_id[128];
    bool transparent_gateway;
    bool connect_per_request;
    const struct pd_cfg_node *channels, *controls, *identity;
};

#define IF(key, type, member) key, type, offsetof(struct instrument_cfg, member)
static const struct pd_cfg_field instrument_fields[] = {
    {IF("transport", PD_CFG_T_STRING, transport), 256, true, 0, 0, NULL, NULL,
     "tcp://host:port or a serial device such as /dev/ttyUSB0 or rtu:/dev/pts/3"},
    {IF("unit", PD_CFG_T_INT, unit), 0, true, 0, 255, NULL, NULL,
     "the Modbus unit (slave) id: 0..255 over TCP, 1..247 on a serial line"},
    {IF("address_base", PD_CFG_T_INT, address_base), 0, true, 0, 1, NULL, NULL,
     "0 when the map's addresses are wire addresses, 1 when address 1 is wire address 0"},
    {IF("response_timeout_ms", PD_CFG_T_INT, response_timeout_ms), 0, false, 1, 60000, NULL, "500",
     "milliseconds 1..60000"},
    {IF("byte_timeout_ms", PD_CFG_T_INT, byte_timeout_ms), 0, false, 0, 60000, NULL, "50",
     "milliseconds 0..60000, 0 disables the gap check"},
    {IF("max_registers_per_request", PD_CFG_T_INT, max_registers), 0, false, 1, 125, NULL, "125",
     "registers per read request 1..125"},
    {IF("busy_retries", PD_CFG_T_INT, busy_retries), 0, false, 0, 100, NULL, "3",
     "how often a request answered with exception 06 (busy) is repeated, 0..100"},
    {IF("busy_delay_ms", PD_CFG_T_INT, busy_delay_ms), 0, false, 0, 10000, NULL, "20",
     "milliseconds to wait before repeating a busy request, 0..10000"},
    {IF("baud", PD_CFG_T_INT, baud), 0, false, 50, 4000000, NULL, "9600", "serial baud rate"},
    {IF("parity", PD_CFG_T_ENUM, parity), 0, false, 0, 0, parity_names, "even", NULL},
    {IF("data_bits", PD_CFG_T_INT, data_bits), 0, false, 5, 8, NULL, "8", "5..8"},
    {IF("stop_bits", PD_CFG_T_INT, stop_bits), 0, false, 1, 2, NULL, "1", "1 or 2"},
    {IF("rs485", PD_CFG_T_BOOL, rs485), 0, false, 0, 0, NULL, "false",
     "true to switch the serial port into RS-485 mode"},
    {IF("slave_id", PD_CFG_T_STRING, slave_id), 128, false, 0, 0, NULL, "",
     "the start of the device's report-slave-id (function 17) text, checked at open"},
    {IF("transparent_gateway", PD_CFG_T_BOOL, transparent_gateway), 0, false, 0, 0, NULL, "false",
     "true when a TCP gateway answers with another unit id than asked (the id is not checked)"},
    {IF("connect_per_request", PD_CFG_T_BOOL, connect_per_request), 0, false, 0, 0, NULL, "false",
     "true for TCP devices that close the connection after each answer: connect for every request"},
    {IF("channels", PD_CFG_T_SEQ, channels), 0, true, 0, 0, NULL, NULL, "a list of channels"},
    {IF("controls", PD_CFG_T_SEQ, controls), 0, false, 0, 0, NULL, NULL, "a list of controls"},
    {IF("identity", PD_CFG_T_MAP, identity), 0, false, 0, 0, NULL, NULL,
     "a map of fw_version/serial_number/model/simulated to registers"},
    {NULL, 0, 0, 0, false, 0, 0, NULL, NULL, NULL},
};
#undef IF

static const char *const serial_only_keys[] = {"baud", "parity", "data_bits", "stop_bits", "rs485",
                                               NULL};
static const char *const tcp_only_keys[] = {"transparent_gateway", "connect_per_request", NULL};

static const char *const modbus_config_keys[] = {
    "transport", "unit", "address_base", "response_timeout_ms", "byte_timeout_ms",
    "max_registers_per_request", "busy_retries", "busy_delay_ms", "baud", "parity", "data_bits", "stop_bits", "rs485",
    "channels", "controls", "identity", "slave_id", "transparent_gateway", "connect_per_request", NULL,
};

struct point_cfg {
    char name[PD_NAME_MAX];
    int table;
    long address;
    int type;
    int order;
    long bit;
    double scale, offset;
    char unit[PD_UNIT_MAX];
    double min, max, value;
    bool verify;
};

#define PF(key, type, member) key, type, offsetof(struct point_cfg, member)
#define POINT_PLACE_FIELDS                                                                        \
    {PF("table", PD_CFG_T_ENUM, table), 0, true, 0, 0, pd_mb_table_names, NULL, NULL},            \
    {PF("address", PD_CFG_T_INT, address), 0, true, 0, 0, NULL, NULL, "a register address"},      \
    {PF("type", PD_CFG_T_ENUM, type), 0, true, 0, 0, pd_mb_type_names, NULL, NULL},               \
    {PF("order", PD_CFG_T_ENUM, order), 0, false, 0, 0, pd_mb_order_names, "ABCD", NULL},         \
    {PF("bit", PD_CFG_T_INT, bit), 0, false, 0, 15, NULL, NULL, "bit 0..15 of the register"}
#define POINT_SCALE_FIELDS                                                                        \
    {PF("scale", PD_CFG_T_DOUBLE, scale), 0, false, 0, 0, NULL, "1", NULL},                       \
    {PF("offset", PD_CFG_T_DOUBLE, offset), 0, false, 0, 0, NULL, "0", NULL}
#define POINT_NAME_FIELD                                                                          \
    {PF("name", PD_CFG_T_STRING, name), PD_NAME_MAX, true, 0, 0, NULL, NULL, NULL}
#define POINT_END {NULL, 0, 0, 0, false, 0, 0, NULL, NULL, NULL}

static const struct pd_cfg_field channel_fields[] = {
    POINT_NAME_FIELD,
    POINT_PLACE_FIELDS,
    POINT_SCALE_FIELDS,
    {PF("unit", PD_CFG_T_STRING, unit), PD_UNIT_MAX, false, 0, 0, NULL, "", NULL},
    {PF("min", PD_CFG_T_DOUBLE, min), 0, false, 0, 0, NULL, NULL, NULL},
    {PF("max", PD_CFG_T_DOUBLE, max), 0, false, 0, 0, NULL, NULL, NULL},
    POINT_END,
};

static const struct pd_cfg_field control_fields[] = {
    POINT_NAME_FIELD,
    POINT_PLACE_FIELDS,
    POINT_SCALE_FIELDS,
    {PF("value", PD_CFG_T_DOUBLE, value), 0, false, 0, 0, NULL, NULL,
     "the fixed value the control writes"},
    {PF("verify", PD_CFG_T_BOOL, verify), 0, false, 0, 0, NULL, NULL,
     "true to read the value back after writing (default: true for setpoints, false for fixed "
     "values such as self-clearing commands)"},
    POINT_END,
};

static const struct pd_cfg_field identity_fields[] = {
    POINT_PLACE_FIELDS,
    POINT_END,
};
#undef PF

enum point_kind { POINT_CHANNEL, POINT_CONTROL, POINT_IDENTITY };

/* Checks what the schema cannot (address range against the base, type against the table, bit
 * key, request size) and fills *out. */
static int build_point(const struct modbus_instrument *s, const struct pd_cfg_node *node,
                       const struct point_cfg *c, enum point_kind kind, struct point *out,
                       struct pd_err *err)
{
    struct pd_mb_field f = {
        .table = (enum pd_mb_table)c->table,
        .type = (enum pd_mb_type)c->type,
        .order = (enum pd_mb_order)c->order,
        .bit = c->bit >= 0 ? (unsigned)c->bit : 0,
        .scale = c->scale,
        .offset = c->offset,
    };
    const struct pd_cfg_node *address_node = pd_cfg_map_get(node, "address");
    const struct pd_cfg_node *type_node = pd_cfg_map_get(node, "type");
    const struct pd_cfg_node *bit_node = pd_cfg_map_get(node, "bit");
    long lowest = s->address_base, highest = 65535 + s->address_base;
    if (c->address < lowest || c->address > highest)
        return pd_cfg_error(err, address_node, "address %ld out of range (%ld..%ld with address_base %ld)",
                            c->address, lowest, highest, s->address_base);
    f.address = (uint16_t)(c->address - s->address_base);

    if (pd_mb_table_is_bits(f.table)) {
        if (f.type != PD_MB_BIT)
            return pd_cfg_error(err, type_node,
                                "type '%s' is impossible in the %s table (it holds single bits: "
                                "use type bit)",
                                pd_mb_type_names[f.type], pd_mb_table_names[f.table]);
        if (bit_node)
            return pd_cfg_error(err, bit_node, "'bit' selects a bit of a register; a %s is one bit",
                                pd_mb_table_names[f.table]);
    } else if (f.type == PD_MB_BIT && !bit_node) {
        return pd_cfg_error(err, node, "type bit of a %s register needs 'bit' (0..15)",
                            pd_mb_table_names[f.table]);
    } else if (f.type != PD_MB_BIT && bit_node) {
        return pd_cfg_error(err, bit_node, "'bit' applies only to type bit (this is %s)",
                            pd_mb_type_names[f.type]);
    }

    unsigned width = pd_mb_field_width(&f);
    if ((unsigned long)f.address + width > 65536u)
        return pd_cfg_error(err, address_node, "%s at address %ld runs past the last register",
                            pd_mb_type_names[f.type], c->address);
    if (!pd_mb_table_is_bits(f.table) && width > (unsigned long)s->max_registers)
        return pd_cfg_error(err, type_node,
                            "%s needs %u registers but max_registers_per_request is %ld",
                            pd_mb_type_names[f.type], width, s->max_registers);
    if (kind != POINT_IDENTITY && f.scale == 0.0)
        return pd_cfg_error(err, pd_cfg_map_get(node, "scale"), "scale must not be 0");

    struct point p = {.field = f, .config_address = c->address};
    pd_strlcpy(p.name, c->name, sizeof p.name);
    if (kind == POINT_CHANNEL) {
        p.has_min = pd_cfg_map_get(node, "min") != NULL;
        p.has_max = pd_cfg_map_get(node, "max") != NULL;
        p.min = c->min;
        p.max = c->max;
        if (p.has_min && p.has_max && p.min > p.max)
            return pd_cfg_error(err, pd_cfg_map_get(node, "max"), "max %g is below min %g", p.max,
                                p.min);
    }
    if (kind == POINT_CONTROL) {
        if (f.table == PD_MB_INPUT || f.table == PD_MB_DISCRETE)
            return pd_cfg_error(err, pd_cfg_map_get(node, "table"),
                                "control '%s' cannot write the read-only %s table (use holding or "
                                "coil)",
                                c->name, pd_mb_table_names[f.table]);
        const struct pd_cfg_node *value_node = pd_cfg_map_get(node, "value");
        if (value_node) {
            uint16_t probe[4] = {0};
            p.has_value = true;
            p.value = c->value;
            if (pd_mb_encode(&f, c->value, probe) != 0)
                return pd_cfg_error(err, value_node, "value %g does not fit type %s%s", c->value,
                                    pd_mb_type_names[f.type],
                                    f.type == PD_MB_BIT ? " (0 or 1)" : " after scale and offset");
        }
        /* A fixed value is usually a command register that clears itself once carried out, so
         * reading it back would fail for the right reason; setpoints must read back as written. */
        p.verify = pd_cfg_map_get(node, "verify") ? c->verify : !value_node;
    }
    *out = p;
    return 0;
}

static int check_name(const struct pd_cfg_node *node, const char *name, const struct point *seen,
                      size_t n_seen, const char *what, struct pd_err *err)
{
    const struct pd_cfg_node *name_node = pd_cfg_map_get(node, "name");
    if (name[0] == '\0')
        return pd_cfg_error(err, name_node, "%s name must not be empty", what);
    for (size_t i = 0; i < n_seen; i++)
        if (strcmp(seen[i].name, name) == 0)
            return pd_cfg_error(err, name_node, "duplicate %s name '%s'", what, name);
    return 0;
}

static int decode_points(struct modbus_instrument *s, const struct instrument_cfg *ic,
                         struct pd_err *err)
{
    int rc;
    size_t n = pd_cfg_seq_len(ic->channels);
    if (n == 0)
        return pd_cfg_error(err, ic->channels, "at least one channel is needed");
    if (n > PD_MAX_CHANNELS)
        return pd_cfg_error(err, ic->channels, "%zu channels, at most %d allowed", n,
                            PD_MAX_CHANNELS);
    for (size_t i = 0; i < n; i++) {
        const struct pd_cfg_node *node = pd_cfg_seq_at(ic->channels, i);
        struct point_cfg c = {.bit = -1};
        if ((rc = pd_cfg_decode(node, channel_fields, NULL, &c, err)) != 0)
            return rc;
        if ((rc = check_name(node, c.name, s->channels, i, "channel", err)) != 0)
            return rc;
        if ((rc = build_point(s, node, &c, POINT_CHANNEL, &s->channels[i], err)) != 0)
            return rc;
        pd_strlcpy(s->channel_info[i].name, c.name, sizeof s->channel_info[i].name);
        pd_strlcpy(s->channel_info[i].unit, c.unit, sizeof s->channel_info[i].unit);
    }
    s->n_channels = n;

    size_t n_controls = ic->controls ? pd_cfg_seq_len(ic->controls) : 0;
    if (n_controls) {
        s->controls = calloc(n_controls, sizeof *s->controls);
        if (!s->controls)
            return pd_err_set(err, PD_ENOMEM, s->name, "out of memory for %zu controls", n_controls);
    }
    for (size_t i = 0; i < n_controls; i++) {
        const struct pd_cfg_node *node = pd_cfg_seq_at(ic->controls, i);
        struct point_cfg c = {.bit = -1};
        if ((rc = pd_cfg_decode(node, control_fields, NULL, &c, err)) != 0)
            return rc;
        if ((rc = check_name(node, c.name, s->controls, i, "control", err)) != 0)
            return rc;
        if ((rc = build_point(s, node, &c, POINT_CONTROL, &s->controls[i], err)) != 0)
            return rc;
        s->n_controls = i + 1;
    }

    size_t n_identity = ic->identity ? pd_cfg_map_size(ic->identity) : 0;
    for (size_t i = 0; i < n_identity; i++) {
        const struct pd_cfg_node *key = pd_cfg_map_key(ic->identity, i);
        const struct pd_cfg_node *node = pd_cfg_map_value(ic->identity, i);
        const char *key_text = pd_cfg_scalar(key);
        int which = -1;
        for (int k = 0; k < ID_COUNT; k++)
            if (key_text && strcmp(key_text, identity_names[k]) == 0)
                which = k;
        if (which < 0)
            return pd_cfg_error(err, key, "unknown identity entry '%s' (expected one of: "
                                "fw_version, serial_number, model, simulated)",
                                key_text ? key_text : "");
        struct point_cfg c = {.bit = -1};
        if ((rc = pd_cfg_decode(node, identity_fields, NULL, &c, err)) != 0)
            return rc;
        c.scale = 1.0;
        pd_strlcpy(c.name, identity_names[which], sizeof c.name);
        if ((rc = build_point(s, node, &c, POINT_IDENTITY, &s->identity[i], err)) != 0)
            return rc;
        s->identity_key[i] = which;
        s->n_identity = i + 1;
    }
    return 0;
}

/* ---- Map text ------------------------------------------------------------------------------*/

static void put_quoted(FILE *f, const char *text)
{
    fputc('"', f);
    for (const char *p = text; *p; p++) {
        if (*p == '"' || *p == '\\')
            fputc('\\', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

static void put_place(FILE *f, const struct point *p)
{
    char manual[16];
    long number = pd_mb_manual_number(p->field.table, p->field.address);
    snprintf(manual, sizeof manual, "%0*ld", p->field.address + 1u <= 9999u ? 5 : 6, number);
    fprintf(f, "table: %s, address: %ld, wire: %u, manual: \"%s\", type: %s",
            pd_mb_table_names[p->field.table], p->config_address, p->field.address, manual,
            pd_mb_type_names[p->field.type]);
    if (!pd_mb_table_is_bits(p->field.table) && pd_mb_field_width(&p->field) > 1)
        fprintf(f, ", order: %s", pd_mb_order_names[p->field.order]);
    if (p->field.type == PD_MB_BIT && !pd_mb_table_is_bits(p->field.table))
        fprintf(f, ", bit: %u", p->field.bit);
}

static int build_map_text(struct modbus_instrument *s, struct pd_err *err)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return pd_err_set_os(err, PD_ENOMEM, errno, s->name, "cannot build the register map text");
    fprintf(f, "driver: modbus\ntransport: ");
    put_quoted(f, s->transport_text);
    fprintf(f, "\nunit: %ld\naddress_base: %ld\nresponse_timeout_ms: %ld\n"
               "max_registers_per_request: %ld\nbusy_retries: %ld\nbusy_delay_ms: %ld\n",
            s->unit, s->address_base, s->response_timeout_ms, s->max_registers, s->busy_retries,
            s->busy_delay_ms);
    if (s->transport.kind == PD_MB_TCP)
        fprintf(f, "transparent_gateway: %s\nconnect_per_request: %s\n",
                s->transparent_gateway ? "true" : "false", s->connect_per_request ? "true" : "false");
    if (s->transport.kind == PD_MB_RTU)
        fprintf(f, "serial: {baud: %ld, parity: %s, data_bits: %ld, stop_bits: %ld, rs485: %s}\n",
                s->baud, parity_names[s->parity], s->data_bits, s->stop_bits,
                s->rs485 ? "true" : "false");
    fprintf(f, "channels:\n");
    for (size_t i = 0; i < s->n_channels; i++) {
        const struct point *p = &s->channels[i];
        fprintf(f, "  - {name: ");
        put_quoted(f, p->name);
        fprintf(f, ", ");
        put_place(f, p);
        fprintf(f, ", scale: %.17g, offset: %.17g, unit: ", p->field.scale, p->field.offset);
        put_quoted(f, s->channel_info[i].unit);
        if (p->has_min)
            fprintf(f, ", min: %.17g", p->min);
        if (p->has_max)
            fprintf(f, ", max: %.17g", p->max);
        fprintf(f, "}\n");
    }
    if (s->n_controls)
        fprintf(f, "controls:\n");
    for (size_t i = 0; i < s->n_controls; i++) {
        const struct point *p = &s->controls[i];
        fprintf(f, "  - {name: ");
        put_quoted(f, p->name);
        fprintf(f, ", ");
        put_place(f, p);
        if (p->has_value)
            fprintf(f, ", value: %.17g", p->value);
        else
            fprintf(f, ", scale: %.17g, offset: %.17g", p->field.scale, p->field.offset);
        fprintf(f, ", verify: %s}\n", p->verify ? "true" : "false");
    }
    if (s->n_identity)
        fprintf(f, "identity:\n");
    for (size_t i = 0; i < s->n_identity; i++) {
        fprintf(f, "  %s: {", s->identity[i].name);
        put_place(f, &s->identity[i]);
        fprintf(f, "}\n");
    }
    fprintf(f, "reads:\n");
    for (size_t i = 0; i < s->plan.n_requests; i++) {
        const struct pd_mb_request *r = &s->plan.requests[i];
        fprintf(f, "  - {table: %s, wire: %u, count: %u}\n", pd_mb_table_names[r->table],
                r->address, r->count);
    }
    if (fclose(f) != 0) {
        free(text);
        return pd_err_set(err, PD_ENOMEM, s->name, "cannot build the register map text");
    }
    free(s->map_text);
    s->map_text = text;
    return 0;
}

/* ---- create / destroy ----------------------------------------------------------------------*/

/* Closes the link, whichever kind it is (nothing happens when it is not connected). */
static void link_close(struct modbus_instrument *s)
{
    if (s->transport.kind == PD_MB_TCP)
        pd_mb_tcp_close(&s->tcp);
    else if (s->ctx)
        modbus_close(s->ctx);
}

static void modbus_destroy(void *state)
{
    struct modbus_instrument *s = state;
    if (!s)
        return;
    if (s->ctx) {
        link_close(s);
        modbus_free(s->ctx);
    }
    free(s->controls);
    free(s->regs);
    free(s->bits);
    free(s->map_text);
    free(s);
}

static int plan_buffers(struct modbus_instrument *s, struct pd_err *err)
{
    struct pd_mb_field fields[PD_MAX_CHANNELS];
    for (size_t i = 0; i < s->n_channels; i++)
        fields[i] = s->channels[i].field;
    if (pd_mb_plan_reads(fields, s->n_channels, (unsigned)s->max_registers, PD_MB_READ_THROUGH_GAP,
                         &s->plan) != 0)
        return pd_err_set(err, PD_EINVAL, s->name, "cannot plan the reads (a channel exceeds a request)");
    size_t total = 0, widest_bits = 0;
    for (size_t i = 0; i < s->plan.n_requests; i++) {
        s->request_base[i] = total;
        total += s->plan.requests[i].count;
        if (pd_mb_table_is_bits(s->plan.requests[i].table) &&
            s->plan.requests[i].count > widest_bits)
            widest_bits = s->plan.requests[i].count;
    }
    s->regs = calloc(total, sizeof *s->regs);
    s->bits = calloc(widest_bits ? widest_bits : 1, 1);
    if (!s->regs || !s->bits)
        return pd_err_set(err, PD_ENOMEM, s->name, "out of memory for read buffers");
    return 0;
}

static void set_where(struct modbus_instrument *s)
{
    snprintf(s->where, sizeof s->where, "%s (unit %ld)", s->name, s->unit);
}

static int modbus_create(const struct pd_cfg_node *instrument, void **state, struct pd_err *err)
{
    if (!instrument || !state)
        return pd_err_set(err, PD_EINVAL, NULL, "modbus create: NULL argument");
    struct instrument_cfg ic = {0};
    int rc = pd_cfg_decode(instrument, instrument_fields, pd_instrument_common_keys, &ic, err);
    if (rc)
        return rc;

    struct modbus_instrument *s = calloc(1, sizeof *s);
    if (!s)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory for a modbus instrument");
    if ((rc = pd_driver_instrument_name(instrument, s->name, err)) < 0)
        goto fail;
    s->unit = ic.unit;
    s->address_base = ic.address_base;
    s->response_timeout_ms = ic.response_timeout_ms;
    s->byte_timeout_ms = ic.byte_timeout_ms;
    s->max_registers = ic.max_registers;
    s->busy_retries = ic.busy_retries;
    s->busy_delay_ms = ic.busy_delay_ms;
    s->baud = ic.baud;
    s->parity = ic.parity;
    s->data_bits = ic.data_bits;
    s->stop_bits = ic.stop_bits;
    s->rs485 = ic.rs485;
    memcpy(s->slave_id, ic.slave_id, sizeof s->slave_id);
    s->transparent_gateway = ic.transparent_gateway;
    s->connect_per_request = ic.connect_per_request;
    s->tcp = (struct pd_mb_tcp){.unit = ic.unit, .any_unit = ic.transparent_gateway,
                                .per_request = ic.connect_per_request,
                                .response_timeout_ms = ic.response_timeout_ms,
                                .byte_timeout_ms = ic.byte_timeout_ms};
    set_where(s);

    char why[400];
    if (pd_mb_parse_transport(ic.transport, &s->transport, why, sizeof why) != 0) {
        rc = pd_cfg_error(err, pd_cfg_map_get(instrument, "transport"), "%s", why);
        goto fail;
    }
    pd_strlcpy(s->transport_text, ic.transport, sizeof s->transport_text);
    bool tcp = s->transport.kind == PD_MB_TCP;
    const char *const *foreign = tcp ? serial_only_keys : tcp_only_keys;
    for (size_t i = 0; foreign[i]; i++) {
        const struct pd_cfg_node *k = pd_cfg_map_get(instrument, foreign[i]);
        if (k) {
            rc = pd_cfg_error(err, k, "'%s' applies only to %s transports, not %s", foreign[i],
                              tcp ? "serial" : "TCP", ic.transport);
            goto fail;
        }
    }
    /* On a serial line 0 is the broadcast address (nobody answers a read) and 248..255 are
     * reserved; over TCP the unit id only routes through gateways, and many TCP devices answer
     * only to 255 (or 0). */
    if (!tcp && (s->unit < 1 || s->unit > 247)) {
        rc = pd_cfg_error(err, pd_cfg_map_get(instrument, "unit"),
                          "unit %ld is impossible on a serial line: 1..247 (0 is the broadcast "
                          "address, which no device answers)",
                          s->unit);
        goto fail;
    }

    if ((rc = decode_points(s, &ic, err)) != 0)
        goto fail;
    if ((rc = plan_buffers(s, err)) != 0)
        goto fail;
    if ((rc = build_map_text(s, err)) != 0)
        goto fail;
    *state = s;
    return 0;
fail:
    modbus_destroy(s);
    return rc;
}

static int modbus_set_transport(void *state, const char *transport, struct pd_err *err)
{
    struct modbus_instrument *s = state;
    if (!transport)
        return pd_err_set(err, PD_EINVAL, s->name, "set_transport: NULL transport");
    if (s->ctx)
        return pd_err_set(err, PD_ESTATE, s->name, "cannot change the transport while open");
    struct pd_mb_transport t;
    char why[400];
    if (pd_mb_parse_transport(transport, &t, why, sizeof why) != 0)
        return pd_err_set(err, PD_EINVAL, s->name, "%s", why);
    if (t.kind != s->transport.kind)
        return pd_err_set(err, PD_EINVAL, s->name,
                          "transport '%s' is of another kind than the configured '%s'", transport,
                          s->transport_text);
    char old_text[sizeof s->transport_text];
    struct pd_mb_transport old = s->transport;
    memcpy(old_text, s->transport_text, sizeof old_text);
    if (pd_strlcpy(s->transport_text, transport, sizeof s->transport_text) != 0) {
        memcpy(s->transport_text, old_text, sizeof old_text);
        return pd_err_set(err, PD_EINVAL, s->name, "transport '%s' is too long", transport);
    }
    s->transport = t;
    int rc = build_map_text(s, err);
    if (rc) {
        s->transport = old;
        memcpy(s->transport_text, old_text, sizeof old_text);
    }
    return rc;
}

/* ---- I/O -----------------------------------------------------------------------------------*/

/* RTU has no transaction id: after a timeout or a garbled answer a reply may still be on its way,
 * so discard input until the line has been quiet for one response timeout (bounded), and a late
 * reply is never taken as the answer to the next request. */
static void drain_late_replies(struct modbus_instrument *s)
{
    int fd = modbus_get_socket(s->ctx);
    int64_t quiet_ns = s->response_timeout_ms * 1000000LL;
    int64_t deadline = pd_clock_mono_ns() + 4 * quiet_ns;
    modbus_flush(s->ctx);
    if (fd < 0)
        return;
    for (;;) {
        int64_t left = deadline - pd_clock_mono_ns();
        if (left <= 0)
            break;
        int64_t wait_ns = left < quiet_ns ? left : quiet_ns;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ready = poll(&p, 1, (int)((wait_ns + 999999) / 1000000));
        if (ready <= 0 || (p.revents & (POLLERR | POLLNVAL)))
            break;
        if (modbus_flush(s->ctx) < 0)
            break;
    }
}

/* TCP: an answer with another transaction id than the request's is refused (EMBBADDATA), but the
 * rest of the stream would still hold the answer that belongs to it, so one late reply would make
 * every following exchange read the answer before its own. A fresh connection ends that for
 * certain and costs one handshake; waiting for the line to fall quiet would stall the bus for
 * several response timeouts. With connect_per_request the next request connects anyway. Returns 0
 * or the connect errno. */
static int renew_connection(struct modbus_instrument *s)
{
    s->faults.resyncs++;
    pd_mb_tcp_close(&s->tcp);
    return s->tcp.per_request ? 0 : pd_mb_tcp_connect(&s->tcp);
}

/* What was wrong with an answer: the TCP exchange's own words when it has them. */
static const char *answer_fault(const struct modbus_instrument *s, int e)
{
    return s->transport.kind == PD_MB_TCP && s->tcp.detail[0] ? s->tcp.detail : modbus_strerror(e);
}

/* Turns a failed libmodbus call (errno `e`) into a status and a message naming the instrument,
 * unit, table and addresses; counts it; and leaves the link ready for the next request (a new TCP
 * connection, or a drained serial line) after timeouts and protocol errors. */
static int io_failure(struct modbus_instrument *s, int e, const char *action, enum pd_mb_table table,
                      unsigned address, unsigned count, const char *control, struct pd_err *err)
{
    char place[96], what[200];
    pd_mb_format_address(table, address, count, place, sizeof place);
    if (control)
        snprintf(what, sizeof what, "%s %s for control '%s'", action, place, control);
    else
        snprintf(what, sizeof what, "%s %s", action, place);

    int rc;
    if (e == ETIMEDOUT) {
        s->faults.timeouts++;
        rc = pd_err_set(err, PD_ETIMEOUT, s->where, "%s: timeout after %ld ms", what,
                        s->response_timeout_ms);
    } else if (e >= EMBXILFUN && e <= EMBXGTAR) {
        int code = e - MODBUS_ENOBASE;
        s->faults.exceptions[code > 0 && code < 12 ? code : 0]++;
        s->faults.busy_failed += e == EMBXSBUSY; /* busy after every retry (retry_when_busy gave up) */
        rc = pd_err_set(err, e == EMBXSBUSY ? PD_EBUSY : PD_EDEVICE, s->where,
                        "%s: exception %d (%s)%s", what, code, modbus_strerror(e),
                        e == EMBXSBUSY ? " after every retry" : "");
        if (err)
            err->device_code = code;
    } else if (e == EMBBADCRC || e == EMBBADDATA || e == EMBBADEXC || e == EMBUNKEXC ||
               e == EMBMDATA || e == EMBBADSLAVE) {
        if (e == EMBBADCRC)
            s->faults.crc_errors++;
        else
            s->faults.protocol++;
        if (e == EMBBADSLAVE && s->transport.kind == PD_MB_RTU) /* libmodbus checks it on RTU */
            s->faults.unit_mismatches++;
        rc = pd_err_set(err, PD_EPROTO, s->where, "%s: protocol error: %s", what,
                        answer_fault(s, e));
    } else {
        s->faults.io_errors++;
        /* the usual sign of a device that closes the connection after each answer */
        bool closed = s->transport.kind == PD_MB_TCP && !s->connect_per_request &&
                      (e == ECONNRESET || e == EPIPE);
        rc = pd_err_set_os(err, PD_EIO, e, s->where, "%s%s", what,
                           closed ? " (the device closed the connection; if it does so after "
                                    "every answer, set connect_per_request: true)"
                                  : "");
    }
    if (rc == PD_ETIMEOUT || rc == PD_EPROTO) {
        if (s->transport.kind == PD_MB_TCP) {
            int ce = renew_connection(s);
            if (ce) {
                s->faults.io_errors++;
                char first[sizeof err->msg];
                pd_strlcpy(first, err ? err->msg : what, sizeof first);
                rc = pd_err_set_os(err, PD_EIO, ce, NULL, "%s; reconnecting to %s failed", first,
                                   s->transport_text);
            }
        } else {
            drain_late_replies(s);
        }
    }
    return rc;
}

/* Exception 06 (busy) is an answer meaning "not now": wait a little and repeat this request only,
 * up to busy_retries times. Returns true when the caller should repeat; errno is kept. */
static bool retry_when_busy(struct modbus_instrument *s, int attempt)
{
    int e = errno;
    if (e != EMBXSBUSY || attempt >= s->busy_retries)
        return false;
    s->faults.busy_retries++;
    s->retried = true;
    if (s->busy_delay_ms > 0)
        pd_clock_sleep_ns(s->busy_delay_ms * 1000000LL);
    errno = e;
    return true;
}

static int read_table(struct modbus_instrument *s, enum pd_mb_table table, unsigned address,
                      unsigned count, uint16_t *out)
{
    for (int attempt = 0;; attempt++) {
        int n;
        s->faults.requests++;
        if (s->transport.kind == PD_MB_TCP) {
            n = pd_mb_tcp_read(&s->tcp, table, address, count, out);
            goto answered;
        }
        switch (table) {
        case PD_MB_HOLDING: n = modbus_read_registers(s->ctx, (int)address, (int)count, out); break;
        case PD_MB_INPUT:
            n = modbus_read_input_registers(s->ctx, (int)address, (int)count, out);
            break;
        case PD_MB_COIL:
        case PD_MB_DISCRETE:
            n = table == PD_MB_COIL
                    ? modbus_read_bits(s->ctx, (int)address, (int)count, s->bits)
                    : modbus_read_input_bits(s->ctx, (int)address, (int)count, s->bits);
            for (int i = 0; i < n; i++)
                out[i] = s->bits[i] ? 1 : 0;
            break;
        default: errno = EINVAL; return -1;
        }
    answered:
        if (n >= 0 && n != (int)count) {
            errno = EMBBADDATA;
            return -1;
        }
        if (n >= 0)
            return 0;
        if (!retry_when_busy(s, attempt))
            return -1;
    }
}

static int write_field(struct modbus_instrument *s, const struct pd_mb_field *f, const uint16_t *regs)
{
    unsigned width = pd_mb_field_width(f);
    for (int attempt = 0;; attempt++) {
        int n;
        s->faults.requests++;
        if (s->transport.kind == PD_MB_TCP)
            n = pd_mb_tcp_write(&s->tcp, f, regs);
        else if (f->table == PD_MB_COIL)
            n = modbus_write_bit(s->ctx, f->address, regs[0]);
        else if (width == 1)
            n = modbus_write_register(s->ctx, f->address, regs[0]);
        else
            n = modbus_write_registers(s->ctx, f->address, (int)width, regs);
        if (n >= 0)
            return 0;
        if (!retry_when_busy(s, attempt))
            return -1;
    }
}

/* One line with every fault counted since create; a warning when there were any. */
/* Exception codes 1..11 by name; [0] holds codes outside that range. */
static const char *const exception_stat_names[12] = {
    "exception_other", "exception_01", "exception_02", "exception_03", "exception_04", "exception_05",
    "exception_06",    "exception_07", "exception_08", "exception_09", "exception_10", "exception_11",
};

static size_t modbus_stats(void *state, struct pd_driver_stat *out, size_t max)
{
    const struct modbus_instrument *s = state;
    const struct fault_counts *c = &s->faults;
    struct pd_driver_stat all[PD_DRIVER_STATS_MAX] = {
        {"requests", c->requests, false},
        {"timeouts", c->timeouts, true},
        {"crc_errors", c->crc_errors, true},
        {"protocol_errors", c->protocol, true},
        {"busy_retries", c->busy_retries, true},
        {"busy_failed", c->busy_failed, true},
        {"io_errors", c->io_errors, true},
        {"resyncs", c->resyncs, true},
        {"reopens", c->reopens, false},
        {"readback_mismatches", c->verify_failed, true},
        {"unit_mismatches", c->unit_mismatches + s->tcp.unit_mismatches, true},
        {"unread_blocks", c->unread_blocks, true},
        {"request_connects", s->tcp.request_connects, false},
    };
    size_t n = 13;
    for (int code = 0; code < 12; code++) /* only the exceptions seen: most runs have none */
        if (c->exceptions[code])
            all[n++] = (struct pd_driver_stat){exception_stat_names[code], c->exceptions[code], true};
    return pd_driver_stats_copy(all, n, out, max);
}

static void modbus_close_instrument(void *state)
{
    struct modbus_instrument *s = state;
    if (!s->ctx)
        return;
    link_close(s);
    modbus_free(s->ctx);
    s->ctx = NULL;
}

static void format_number(double v, char *buf, size_t size)
{
    if (v == floor(v) && fabs(v) < 1e18)
        snprintf(buf, size, "%.0f", v);
    else
        snprintf(buf, size, "%.17g", v);
}

static int read_identity(struct modbus_instrument *s, struct pd_instrument_info *info,
                         struct pd_err *err)
{
    for (size_t i = 0; i < s->n_identity; i++) {
        const struct pd_mb_field *f = &s->identity[i].field;
        uint16_t regs[4];
        unsigned width = pd_mb_field_width(f);
        if (read_table(s, f->table, f->address, width, regs) != 0)
            return io_failure(s, errno, "read identity", f->table, f->address, width, NULL, err);
        double v = pd_mb_decode_raw(f, regs);
        switch (s->identity_key[i]) {
        case ID_FW_VERSION:
            if (v >= 0 && v <= 65535 && v == floor(v))
                snprintf(info->firmware, sizeof info->firmware, "%u.%u", (unsigned)v >> 8,
                         (unsigned)v & 0xffu);
            else
                format_number(v, info->firmware, sizeof info->firmware);
            break;
        case ID_SERIAL_NUMBER: format_number(v, info->serial, sizeof info->serial); break;
        case ID_MODEL: format_number(v, info->model, sizeof info->model); break;
        case ID_SIMULATED: /* only ever set: a `simulator:` section's mark is not cleared by a 0 */
            if (v != 0.0)
                info->simulated = 1;
            break;
        default: break;
        }
    }
    return 0;
}

/* With `slave_id` configured, the device must say who it is (function 17) and be the kind the map
 * was written for: a map applied to another device would read plausible-looking wrong numbers. */
static int check_slave_id(struct modbus_instrument *s, struct pd_err *err)
{
    if (!s->slave_id[0])
        return 0;
    uint8_t buf[MODBUS_MAX_PDU_LENGTH];
    s->faults.requests++;
    int n = s->transport.kind == PD_MB_TCP ? pd_mb_tcp_report_slave_id(&s->tcp, sizeof buf, buf)
                                           : modbus_report_slave_id(s->ctx, sizeof buf, buf);
    if (n < 0) {
        int e = errno;
        int rc = PD_EIO;
        if (e == ETIMEDOUT) {
            s->faults.timeouts++;
            rc = PD_ETIMEOUT;
        } else if (e >= EMBXILFUN && e <= EMBXGTAR) {
            int code = e - MODBUS_ENOBASE;
            s->faults.exceptions[code > 0 && code < 12 ? code : 0]++;
            rc = pd_err_set(err, PD_EDEVICE, s->where, "report slave id: exception %d (%s), but slave_id is configured",
                            code, modbus_strerror(e));
            if (err)
                err->device_code = code;
            return rc;
        } else if (e == EMBBADCRC || e == EMBBADDATA || e == EMBMDATA || e == EMBBADSLAVE ||
                   e == EMBUNKEXC) {
            s->faults.protocol++;
            rc = PD_EPROTO;
        } else {
            s->faults.io_errors++;
        }
        return pd_err_set_os(err, rc, e, s->where, "report slave id: %s",
                             answer_fault(s, e));
    }
    /* id byte, run indicator, then the device's text; its printable bytes are compared (as
     * `polydaq scan` does when it matches a library section) */
    char text[sizeof buf + 1];
    size_t len = 0;
    for (int i = 2; i < n && i < (int)sizeof buf; i++)
        if (buf[i] >= 0x20 && buf[i] < 0x7f)
            text[len++] = (char)buf[i];
    text[len] = '\0';
    size_t want = strlen(s->slave_id);
    if (len < want || memcmp(text, s->slave_id, want) != 0)
        return pd_err_set(err, PD_EDEVICE, s->where,
                          "%s answers report slave id with '%s', not '%s...' (slave_id): another device?",
                          s->transport_text, text, s->slave_id);
    return 0;
}

static int modbus_open(void *state, struct pd_instrument_info *info, struct pd_err *err)
{
    struct modbus_instrument *s = state;
    if (s->ctx)
        return pd_err_set(err, PD_ESTATE, s->where, "already open");
    const struct pd_mb_transport *t = &s->transport;
    if (t->kind == PD_MB_TCP && strcmp(t->port, "0") == 0)
        return pd_err_set(err, PD_ESTATE, s->where,
                          "transport %s has port 0: the real port must be set before open",
                          s->transport_text);
    modbus_t *ctx = t->kind == PD_MB_TCP
                        ? modbus_new_tcp_pi(t->host, t->port)
                        : modbus_new_rtu(t->device, (int)s->baud, parity_chars[s->parity],
                                         (int)s->data_bits, (int)s->stop_bits);
    if (!ctx)
        return pd_err_set_os(err, errno == ENOMEM ? PD_ENOMEM : PD_EIO, errno, s->where,
                             "cannot set up %s", s->transport_text);
    /* over TCP the driver frames requests itself (the unit id goes into each one) */
    if ((t->kind == PD_MB_RTU && modbus_set_slave(ctx, (int)s->unit) != 0) ||
        modbus_set_response_timeout(ctx, (uint32_t)(s->response_timeout_ms / 1000),
                                    (uint32_t)(s->response_timeout_ms % 1000) * 1000u) != 0 ||
        modbus_set_byte_timeout(ctx, (uint32_t)(s->byte_timeout_ms / 1000),
                                (uint32_t)(s->byte_timeout_ms % 1000) * 1000u) != 0) {
        int e = errno;
        modbus_free(ctx);
        return pd_err_set_os(err, PD_EINVAL, e, s->where, "cannot apply unit id or timeouts");
    }
    if (modbus_connect(ctx) != 0) {
        int e = errno;
        modbus_free(ctx);
        return pd_err_set_os(err, e == ETIMEDOUT ? PD_ETIMEOUT : PD_EIO, e, s->where,
                             "cannot connect to %s", s->transport_text);
    }
    if (s->rs485 && modbus_rtu_set_serial_mode(ctx, MODBUS_RTU_RS485) != 0) {
        int e = errno;
        modbus_close(ctx);
        modbus_free(ctx);
        return pd_err_set_os(err, PD_EUNSUPPORTED, e, s->where, "RS-485 mode not supported on %s",
                             t->device);
    }
    s->ctx = ctx;
    if (t->kind == PD_MB_TCP) {
        s->tcp.ctx = ctx;
        s->tcp.connected = true;
    }
    if (s->opens++ > 0)
        s->faults.reopens++;
    struct pd_instrument_info got = {0};
    if (info)
        got = *info;
    int rc = check_slave_id(s, err);
    if (rc == 0)
        rc = read_identity(s, &got, err);
    if (rc) {
        modbus_close_instrument(s);
        return rc;
    }
    if (info)
        *info = got;
    return 0;
}

static size_t modbus_channels(void *state, const struct pd_channel_info **out)
{
    struct modbus_instrument *s = state;
    *out = s->channel_info;
    return s->n_channels;
}

/* Whether the rest of a poll is still worth asking after a request failed with errno e: yes
 * after an exception about the request itself (illegal address, function or value: the device
 * answered and will answer the next request); no after a timeout, a garbled answer or a link
 * error (the link is being renewed, and a dead device would cost a timeout per request), nor
 * after busy or a gateway's "no path"/"no answer", which concern the device, not the request. */
static bool poll_goes_on(int e)
{
    return e >= EMBXILFUN && e <= EMBXGTAR && e != EMBXSBUSY && e != EMBXGPATH && e != EMBXGTAR;
}

/* Reads every planned request and pushes one reading. A failed request no longer costs the whole
 * reading: its channels are NaN and marked PD_Q_UNREAD_CHANNEL, the others keep their values.
 * Nothing is pushed when no request succeeded; the status is then the first failure's, as before.
 * With a partial reading pushed, a timeout, garbled answer or link error is still returned (the
 * caller logs and counts it and reconnects when they repeat), but an exception is not: the device
 * answered, so it is no link fault, and a register block that keeps failing must not make the
 * caller count every poll as one. Such a block is logged here when it starts failing and counted
 * in the driver's stats (unread_blocks, exception_NN); each sample carries its unread bits. */
static int modbus_poll(void *state, const struct pd_sink *sink, struct pd_err *err)
{
    struct modbus_instrument *s = state;
    if (!s->ctx)
        return pd_err_set(err, PD_ESTATE, s->where, "poll before open");
    s->retried = false;
    bool failed[PD_MAX_CHANNELS] = {false};
    size_t n_read = 0;
    int first_rc = 0;
    bool go_on = true, link_fault = false;
    int64_t sent = pd_clock_mono_ns();
    for (size_t i = 0; i < s->plan.n_requests; i++) {
        const struct pd_mb_request *r = &s->plan.requests[i];
        if (go_on && read_table(s, r->table, r->address, r->count, s->regs + s->request_base[i]) == 0) {
            n_read++;
            continue;
        }
        failed[i] = true;
        if (!go_on)
            continue;
        int e = errno;
        struct pd_err this_err;
        int rc = io_failure(s, e, "read", r->table, r->address, r->count, NULL, &this_err);
        if (!first_rc) {
            first_rc = rc;
            if (err)
                *err = this_err; /* the first failure is the one reported */
        }
        go_on = poll_goes_on(e);
        link_fault |= !go_on;
        if (go_on && !s->block_failing[i]) /* once per run of failures, not every poll */
            pd_log(PD_LOG_WARN, "%s; its channels are stored as NaN marked unread until it answers",
                   this_err.msg);
        s->block_failing[i] = true;
    }
    int64_t received = pd_clock_mono_ns();
    if (n_read == 0)
        return first_rc;
    s->faults.unread_blocks += s->plan.n_requests - n_read;
    for (size_t i = 0; i < s->plan.n_requests; i++)
        if (!failed[i])
            s->block_failing[i] = false;

    struct pd_reading reading = {
        .t_mono_ns = sent + (received - sent) / 2,
        .half_width_ns = (received - sent) / 2,
        .quality = s->retried ? PD_Q_RETRIED : PD_Q_GOOD,
    };
    for (size_t i = 0; i < s->n_channels; i++) {
        const struct point *p = &s->channels[i];
        if (failed[s->plan.request_of[i]]) {
            reading.values[i] = NAN;
            reading.quality |= PD_Q_UNREAD | PD_Q_UNREAD_CHANNEL(i);
            continue;
        }
        const uint16_t *regs =
            s->regs + s->request_base[s->plan.request_of[i]] + s->plan.offset_of[i];
        double v = pd_mb_decode(&p->field, regs);
        reading.values[i] = v;
        if ((p->has_min && !(v >= p->min)) || (p->has_max && !(v <= p->max)))
            reading.quality |= PD_Q_RANGE;
    }
    int rc = sink && sink->push ? sink->push(sink->ctx, &reading) : 0;
    return link_fault ? first_rc : rc;
}

static int modbus_control(void *state, const char *name, double value, struct pd_err *err)
{
    struct modbus_instrument *s = state;
    const struct point *p = NULL;
    for (size_t i = 0; name && i < s->n_controls; i++)
        if (strcmp(s->controls[i].name, name) == 0)
            p = &s->controls[i];
    if (!p)
        return pd_err_set(err, PD_EUNSUPPORTED, s->where, "no control named '%s' in the map",
                          name ? name : "(null)");
    if (!s->ctx)
        return pd_err_set(err, PD_ESTATE, s->where, "control '%s' before open", p->name);

    const struct pd_mb_field *f = &p->field;
    unsigned width = pd_mb_field_width(f);
    double v = p->has_value ? p->value : value;
    uint16_t regs[4] = {0};
    int rc;
    if (f->type == PD_MB_BIT && f->table == PD_MB_HOLDING) {
        /* One bit of a register: read, change the bit, write back. */
        if (read_table(s, f->table, f->address, 1, regs) != 0)
            return io_failure(s, errno, "read", f->table, f->address, 1, p->name, err);
    }
    if ((rc = pd_mb_encode(f, v, regs)) != 0) {
        char place[96];
        pd_mb_format_address(f->table, f->address, width, place, sizeof place);
        return pd_err_set(err, rc, s->where, "control '%s': value %g out of range for %s at %s",
                          p->name, v, pd_mb_type_names[f->type], place);
    }
    if (write_field(s, f, regs) != 0)
        return io_failure(s, errno, "write", f->table, f->address, width, p->name, err);
    if (!p->verify)
        return 0;

    uint16_t back[4] = {0};
    if (read_table(s, f->table, f->address, width, back) != 0)
        return io_failure(s, errno, "read back", f->table, f->address, width, p->name, err);
    bool same;
    if (f->type == PD_MB_BIT && !pd_mb_table_is_bits(f->table))
        same = ((back[0] ^ regs[0]) >> f->bit & 1u) == 0; /* the other bits are the device's */
    else
        same = memcmp(back, regs, width * sizeof back[0]) == 0;
    if (!same) {
        s->faults.verify_failed++;
        char place[96];
        pd_mb_format_address(f->table, f->address, width, place, sizeof place);
        rc = pd_err_set(err, PD_EDEVICE, s->where,
                        "control '%s': %s reads back %.9g after writing %.9g (the instrument did "
                        "not take the value)",
                        p->name, place, pd_mb_decode(f, back), pd_mb_decode(f, regs));
        if (err)
            err->device_code = 0;
        return rc;
    }
    return 0;
}

static const char *modbus_map_text(void *state)
{
    const struct modbus_instrument *s = state;
    return s->map_text;
}

const struct pd_driver pd_driver_modbus = {
    .name = "modbus",
    .description = "Modbus TCP/RTU instrument described by a register map in its config",
    .config_keys = modbus_config_keys,
    .create = modbus_create,
    .set_transport = modbus_set_transport,
    .open = modbus_open,
    .channels = modbus_channels,
    .poll = modbus_poll,
    .control = modbus_control,
    .map_text = modbus_map_text,
    .stats = modbus_stats,
    .close = modbus_close_instrument,
    .destroy = modbus_destroy,
};
