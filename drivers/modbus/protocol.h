/*
 * protocol.h — the Modbus driver's private wire contract: where a value lives (table, wire address,
 * type, word order), how it is decoded from and encoded into 16-bit registers, how the channels of
 * an instrument are grouped into read requests, and how a transport string is understood. Pure
 * functions only (no I/O), so all of it is testable with byte vectors.
 *
 * Word and byte order. Letters name the bytes of the value, A the most significant. For 32-bit
 * types the order spells the bytes as they appear on the wire, register after register:
 *   ABCD  registers {AB, CD}   big-endian, high word first (the Modbus convention)
 *   CDAB  registers {CD, AB}   low word first ("word swap")
 *   BADC  registers {BA, DC}   high word first, bytes swapped inside each register
 *   DCBA  registers {DC, BA}   fully little-endian
 * The order is read as two independent choices, which extend naturally to other widths:
 *   word order  — ABCD/BADC high word first, CDAB/DCBA low word first;
 *   byte order  — ABCD/CDAB big-endian inside a register, BADC/DCBA swapped.
 * So a 64-bit value ABCDEFGH is {AB,CD,EF,GH} in ABCD, {GH,EF,CD,AB} in CDAB, {BA,DC,FE,HG} in
 * BADC and {HG,FE,DC,BA} in DCBA; a 16-bit value AB is {AB} in ABCD/CDAB and {BA} in BADC/DCBA.
 *
 * Bits. Type `bit` in a register table (holding/input) is bit `bit` (0 = least significant) of the
 * register's value after byte order is applied. In the bit tables (coil/discrete) every value is
 * type `bit`, one per address; read buffers then hold 0 or 1 per address.
 */
#ifndef PD_MODBUS_PROTOCOL_H
#define PD_MODBUS_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PD_MB_MAX_FIELDS 16          /* channels per instrument (= PD_MAX_CHANNELS) */
#define PD_MB_MAX_READ_BITS 2000     /* the protocol's limit for coils/discrete inputs per request */
#define PD_MB_MAX_READ_REGISTERS 125 /* the protocol's limit for registers per request */
#define PD_MB_READ_THROUGH_GAP 8     /* unused registers a request may span to save a request */

enum pd_mb_table { PD_MB_HOLDING, PD_MB_INPUT, PD_MB_COIL, PD_MB_DISCRETE, PD_MB_TABLE_COUNT };
enum pd_mb_type {
    PD_MB_INT16, PD_MB_UINT16, PD_MB_INT32, PD_MB_UINT32, PD_MB_FLOAT32, PD_MB_FLOAT64, PD_MB_BIT,
    PD_MB_TYPE_COUNT
};
enum pd_mb_order { PD_MB_ABCD, PD_MB_CDAB, PD_MB_BADC, PD_MB_DCBA, PD_MB_ORDER_COUNT };

/* Names as written in configs, NULL-terminated, indexed by the enums above. */
extern const char *const pd_mb_table_names[];
extern const char *const pd_mb_type_names[];
extern const char *const pd_mb_order_names[];

/* One value's place on the device and its encoding. value = raw·scale + offset. */
struct pd_mb_field {
    enum pd_mb_table table;
    uint16_t address; /* wire (PDU) address, 0-based */
    enum pd_mb_type type;
    enum pd_mb_order order;
    unsigned bit;     /* PD_MB_BIT in a register table: 0..15 */
    double scale;
    double offset;
};

bool pd_mb_table_is_bits(enum pd_mb_table table);
/* Registers (or bit addresses) the field occupies: 1, 2 or 4. */
unsigned pd_mb_field_width(const struct pd_mb_field *field);
/* Manual-style number of a wire address: holding 0 → 40001, input 4 → 30005, coil 0 → 1 ("00001"
 * when printed with pd_mb_format_address), discrete 0 → 10001; 6-digit (400001..465536) above
 * wire address 9998. */
long pd_mb_manual_number(enum pd_mb_table table, unsigned wire_address);
/* "input register 4 (30005)" or, for count > 1, "input registers 4..5 (30005..30006)". */
void pd_mb_format_address(enum pd_mb_table table, unsigned wire_address, unsigned count, char *buf,
                          size_t size);

/* Raw (unscaled) value of a field from its registers (regs[0] is the field's first address). */
double pd_mb_decode_raw(const struct pd_mb_field *field, const uint16_t *regs);
/* Scaled value: raw·scale + offset. */
double pd_mb_decode(const struct pd_mb_field *field, const uint16_t *regs);
/* Registers for a raw value. Integers are rounded to nearest; returns PD_ERANGE (regs untouched)
 * when the value is not finite or does not fit the type (a bit must be 0 or 1). For PD_MB_BIT in
 * a register table regs[0] is read and only the field's bit changed (read-modify-write). */
int pd_mb_encode_raw(const struct pd_mb_field *field, double raw, uint16_t *regs);
/* Registers for a scaled value: raw = (value − offset)/scale, then as pd_mb_encode_raw. Bits
 * ignore scale and offset. */
int pd_mb_encode(const struct pd_mb_field *field, double value, uint16_t *regs);

/* ---- Read planning --------------------------------------------------------------------------
 * Groups fields into as few requests as possible: one table per request, at most `max_registers`
 * registers (PD_MB_MAX_READ_BITS for bit tables), spanning gaps of at most `max_gap` unused
 * addresses. Requests come in table order (holding, input, coil, discrete) and address order. */
struct pd_mb_request {
    enum pd_mb_table table;
    uint16_t address;
    uint16_t count;
};

struct pd_mb_plan {
    size_t n_requests;
    struct pd_mb_request requests[PD_MB_MAX_FIELDS];
    uint8_t request_of[PD_MB_MAX_FIELDS]; /* field i is read by requests[request_of[i]] ... */
    uint16_t offset_of[PD_MB_MAX_FIELDS]; /* ... starting at that request's offset_of[i]-th register */
};

/* PD_EINVAL when n > PD_MB_MAX_FIELDS, max_registers is 0 or a field does not fit one request or
 * runs past address 65535; *plan untouched then. */
int pd_mb_plan_reads(const struct pd_mb_field *fields, size_t n, unsigned max_registers,
                     unsigned max_gap, struct pd_mb_plan *plan);

/* ---- Transport -----------------------------------------------------------------------------*/
enum pd_mb_transport_kind { PD_MB_TCP, PD_MB_RTU };

struct pd_mb_transport {
    enum pd_mb_transport_kind kind;
    char host[128];   /* TCP: name or address, IPv6 without brackets */
    char port[8];     /* TCP: decimal 0..65535 (0: not yet known, see set_transport) */
    char device[128]; /* RTU: device path */
};

/* "tcp://host:port", "tcp://[v6addr]:port", "rtu:/dev/path" or "/dev/path". Returns PD_ECONFIG
 * with the reason in `why` (e.g. "transport 'tcp://host' lacks a port"); *out untouched then. */
int pd_mb_parse_transport(const char *text, struct pd_mb_transport *out, char *why, size_t why_size);

#endif /* PD_MODBUS_PROTOCOL_H */
