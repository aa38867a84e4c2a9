/* protocol.c — Modbus value encoding, read planning and transport parsing (pure functions). */
#include "modbus/protocol.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"

const char *const pd_mb_table_names[] = {"holding", "input", "coil", "discrete", NULL};
const char *const pd_mb_type_names[] = {"int16", "uint16", "int32", "uint32",
                                        "float32", "float64", "bit", NULL};
const char *const pd_mb_order_names[] = {"ABCD", "CDAB", "BADC", "DCBA", NULL};

bool pd_mb_table_is_bits(enum pd_mb_table table)
{
    return table == PD_MB_COIL || table == PD_MB_DISCRETE;
}

unsigned pd_mb_field_width(const struct pd_mb_field *field)
{
    switch (field->type) {
    case PD_MB_INT32:
    case PD_MB_UINT32:
    case PD_MB_FLOAT32: return 2;
    case PD_MB_FLOAT64: return 4;
    default: return 1;
    }
}

static const int table_prefix[PD_MB_TABLE_COUNT] = {4, 3, 0, 1};

long pd_mb_manual_number(enum pd_mb_table table, unsigned wire_address)
{
    long number = (long)wire_address + 1;
    return number <= 9999 ? table_prefix[table] * 10000L + number
                          : table_prefix[table] * 100000L + number;
}

static void format_manual(enum pd_mb_table table, unsigned wire_address, char *buf, size_t size)
{
    char tmp[32]; /* roomy for any long, so the compiler can prove nothing is cut */
    snprintf(tmp, sizeof tmp, "%0*ld", wire_address + 1 <= 9999 ? 5 : 6, pd_mb_manual_number(table, wire_address));
    pd_strlcpy(buf, tmp, size);
}

void pd_mb_format_address(enum pd_mb_table table, unsigned wire_address, unsigned count, char *buf,
                          size_t size)
{
    static const char *const singular[PD_MB_TABLE_COUNT] = {"holding register", "input register",
                                                            "coil", "discrete input"};
    static const char *const plural[PD_MB_TABLE_COUNT] = {"holding registers", "input registers",
                                                          "coils", "discrete inputs"};
    char first[16], last[16];
    format_manual(table, wire_address, first, sizeof first);
    if (count <= 1) {
        snprintf(buf, size, "%s %u (%s)", singular[table], wire_address, first);
        return;
    }
    unsigned end = wire_address + count - 1;
    format_manual(table, end, last, sizeof last);
    snprintf(buf, size, "%s %u..%u (%s..%s)", plural[table], wire_address, end, first, last);
}

/* ---- Encoding ------------------------------------------------------------------------------*/

static bool low_word_first(enum pd_mb_order order)
{
    return order == PD_MB_CDAB || order == PD_MB_DCBA;
}

static bool bytes_swapped(enum pd_mb_order order)
{
    return order == PD_MB_BADC || order == PD_MB_DCBA;
}

static uint16_t swap16(uint16_t w) { return (uint16_t)((w << 8) | (w >> 8)); }

/* The value's bits, most significant word first, from `width` registers in wire order. */
static uint64_t gather(const uint16_t *regs, unsigned width, enum pd_mb_order order)
{
    uint64_t bits = 0;
    for (unsigned i = 0; i < width; i++) {
        uint16_t w = regs[low_word_first(order) ? width - 1 - i : i];
        if (bytes_swapped(order))
            w = swap16(w);
        bits = (bits << 16) | w;
    }
    return bits;
}

static void scatter(uint64_t bits, unsigned width, enum pd_mb_order order, uint16_t *regs)
{
    for (unsigned i = 0; i < width; i++) {
        /* i-th word counted from the most significant */
        uint16_t w = (uint16_t)(bits >> (16 * (width - 1 - i)));
        if (bytes_swapped(order))
            w = swap16(w);
        regs[low_word_first(order) ? width - 1 - i : i] = w;
    }
}

double pd_mb_decode_raw(const struct pd_mb_field *field, const uint16_t *regs)
{
    if (pd_mb_table_is_bits(field->table))
        return regs[0] ? 1.0 : 0.0;
    uint64_t bits = gather(regs, pd_mb_field_width(field), field->order);
    switch (field->type) {
    case PD_MB_INT16: return (double)(int16_t)(uint16_t)bits;
    case PD_MB_UINT16: return (double)(uint16_t)bits;
    case PD_MB_INT32: return (double)(int32_t)(uint32_t)bits;
    case PD_MB_UINT32: return (double)(uint32_t)bits;
    case PD_MB_FLOAT32: {
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, sizeof f);
        return (double)f;
    }
    case PD_MB_FLOAT64: {
        double d;
        memcpy(&d, &bits, sizeof d);
        return d;
    }
    case PD_MB_BIT: return (double)((bits >> field->bit) & 1u);
    default: return NAN;
    }
}

double pd_mb_decode(const struct pd_mb_field *field, const uint16_t *regs)
{
    return pd_mb_decode_raw(field, regs) * field->scale + field->offset;
}

static int integer_bits(double raw, double lo, double hi, uint64_t *bits)
{
    double r = nearbyint(raw);
    if (!(r >= lo && r <= hi)) /* also rejects NaN */
        return PD_ERANGE;
    *bits = (uint64_t)(int64_t)r;
    return 0;
}

int pd_mb_encode_raw(const struct pd_mb_field *field, double raw, uint16_t *regs)
{
    if (!isfinite(raw))
        return PD_ERANGE;
    if (pd_mb_table_is_bits(field->table)) {
        if (raw != 0.0 && raw != 1.0)
            return PD_ERANGE;
        regs[0] = raw != 0.0;
        return 0;
    }
    uint64_t bits = 0;
    int rc = 0;
    switch (field->type) {
    case PD_MB_INT16: rc = integer_bits(raw, INT16_MIN, INT16_MAX, &bits); break;
    case PD_MB_UINT16: rc = integer_bits(raw, 0, UINT16_MAX, &bits); break;
    case PD_MB_INT32: rc = integer_bits(raw, INT32_MIN, INT32_MAX, &bits); break;
    case PD_MB_UINT32: rc = integer_bits(raw, 0, UINT32_MAX, &bits); break;
    case PD_MB_FLOAT32: {
        if (fabs(raw) > FLT_MAX)
            return PD_ERANGE;
        float f = (float)raw;
        uint32_t b32;
        memcpy(&b32, &f, sizeof b32);
        bits = b32;
        break;
    }
    case PD_MB_FLOAT64: memcpy(&bits, &raw, sizeof bits); break;
    case PD_MB_BIT: {
        if (raw != 0.0 && raw != 1.0)
            return PD_ERANGE;
        uint64_t current = gather(regs, 1, field->order);
        uint64_t mask = (uint64_t)1 << field->bit;
        bits = raw != 0.0 ? current | mask : current & ~mask;
        break;
    }
    default: return PD_ERANGE;
    }
    if (rc)
        return rc;
    scatter(bits, pd_mb_field_width(field), field->order, regs);
    return 0;
}

int pd_mb_encode(const struct pd_mb_field *field, double value, uint16_t *regs)
{
    if (field->type == PD_MB_BIT || pd_mb_table_is_bits(field->table))
        return pd_mb_encode_raw(field, value, regs);
    if (!isfinite(value) || field->scale == 0.0)
        return PD_ERANGE;
    return pd_mb_encode_raw(field, (value - field->offset) / field->scale, regs);
}

/* ---- Read planning -------------------------------------------------------------------------*/

/* Whether field a is read before field b: by table, then address, then position in the config. */
static bool sorts_before(const struct pd_mb_field *fields, uint8_t a, uint8_t b)
{
    if (fields[a].table != fields[b].table)
        return fields[a].table < fields[b].table;
    if (fields[a].address != fields[b].address)
        return fields[a].address < fields[b].address;
    return a < b;
}

int pd_mb_plan_reads(const struct pd_mb_field *fields, size_t n, unsigned max_registers,
                     unsigned max_gap, struct pd_mb_plan *plan)
{
    if (n > PD_MB_MAX_FIELDS || max_registers == 0)
        return PD_EINVAL;
    uint8_t order[PD_MB_MAX_FIELDS];
    for (size_t i = 0; i < n; i++) {
        unsigned limit = pd_mb_table_is_bits(fields[i].table) ? PD_MB_MAX_READ_BITS : max_registers;
        unsigned width = pd_mb_field_width(&fields[i]);
        if (width > limit || (unsigned long)fields[i].address + width > 65536u)
            return PD_EINVAL;
        order[i] = (uint8_t)i;
    }
    for (size_t k = 1; k < n; k++) /* insertion sort: at most 16 indices */
        for (size_t j = k; j > 0 && sorts_before(fields, order[j], order[j - 1]); j--) {
            uint8_t tmp = order[j];
            order[j] = order[j - 1];
            order[j - 1] = tmp;
        }

    /* Greedy over fields sorted by start: extend the current request while the next field starts
     * within the allowed gap and the request stays within the limit. For intervals sorted by start
     * this yields the fewest requests. */
    struct pd_mb_plan out = {0};
    unsigned start = 0, end = 0; /* current request covers [start, end) */
    for (size_t k = 0; k < n; k++) {
        const struct pd_mb_field *f = &fields[order[k]];
        unsigned limit = pd_mb_table_is_bits(f->table) ? PD_MB_MAX_READ_BITS : max_registers;
        unsigned f_start = f->address, f_end = f->address + pd_mb_field_width(f);
        bool extend = false;
        if (out.n_requests > 0) {
            const struct pd_mb_request *cur = &out.requests[out.n_requests - 1];
            unsigned new_end = f_end > end ? f_end : end;
            extend = cur->table == f->table && f_start <= end + max_gap && new_end - start <= limit;
            if (extend)
                end = new_end;
        }
        if (!extend) {
            out.requests[out.n_requests].table = f->table;
            start = f_start;
            end = f_end;
            out.n_requests++;
        }
        struct pd_mb_request *cur = &out.requests[out.n_requests - 1];
        cur->address = (uint16_t)start;
        cur->count = (uint16_t)(end - start);
        out.request_of[order[k]] = (uint8_t)(out.n_requests - 1);
        out.offset_of[order[k]] = (uint16_t)(f_start - start);
    }
    *plan = out;
    return 0;
}

/* ---- Transport -----------------------------------------------------------------------------*/

int pd_mb_parse_transport(const char *text, struct pd_mb_transport *out, char *why, size_t why_size)
{
    struct pd_mb_transport t = {0};
    if (strncmp(text, "tcp://", 6) == 0) {
        const char *hostport = text + 6;
        const char *host = hostport, *colon;
        size_t host_len;
        if (hostport[0] == '[') {
            const char *close = strchr(hostport, ']');
            if (!close) {
                snprintf(why, why_size, "transport '%s' has an unterminated '[' address", text);
                return PD_ECONFIG;
            }
            host = hostport + 1;
            host_len = (size_t)(close - host);
            colon = close[1] == ':' ? close + 1 : NULL;
            if (close[1] != ':' && close[1] != '\0') {
                snprintf(why, why_size, "transport '%s': expected ':port' after ']'", text);
                return PD_ECONFIG;
            }
        } else {
            colon = strrchr(hostport, ':');
            host_len = colon ? (size_t)(colon - hostport) : strlen(hostport);
        }
        if (!colon) {
            snprintf(why, why_size, "transport '%s' lacks a port (expected tcp://host:port)", text);
            return PD_ECONFIG;
        }
        if (host_len == 0 || host_len >= sizeof t.host) {
            snprintf(why, why_size, "transport '%s': %s host", text, host_len ? "too long a" : "empty");
            return PD_ECONFIG;
        }
        long port;
        const char *port_text = colon + 1;
        if (!pd_parse_long(port_text, &port) || port < 0 || port > 65535 || port_text[0] == '+' ||
            port_text[0] == '-' || port_text[0] == ' ') {
            snprintf(why, why_size, "transport '%s': bad port '%s' (expected 0..65535)", text,
                     port_text);
            return PD_ECONFIG;
        }
        memcpy(t.host, host, host_len);
        t.host[host_len] = '\0';
        snprintf(t.port, sizeof t.port, "%ld", port);
        t.kind = PD_MB_TCP;
    } else {
        const char *device = strncmp(text, "rtu:", 4) == 0 ? text + 4 : text;
        if (device[0] != '/') {
            snprintf(why, why_size,
                     "transport '%s' is neither tcp://host:port nor a serial device path "
                     "(/dev/ttyUSB0, rtu:/dev/pts/3)",
                     text);
            return PD_ECONFIG;
        }
        if (pd_strlcpy(t.device, device, sizeof t.device) != 0) {
            snprintf(why, why_size, "transport '%s': device path too long", text);
            return PD_ECONFIG;
        }
        t.kind = PD_MB_RTU;
    }
    *out = t;
    return 0;
}
