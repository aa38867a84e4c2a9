/* mbslave.c — Modbus slave: request PDUs to responses, RTU and TCP framing around them. */
#include "mbslave/core/mbslave.h"

#include "fwrt/core/fwrt.h"

void mb_slave_init(struct mb_slave *s, const struct mb_slave_tables *tables, void *ctx, uint8_t unit_id,
                   uint8_t slave_id, const char *id_text)
{
    s->tables = tables;
    s->ctx = ctx;
    s->unit_id = unit_id;
    s->slave_id = slave_id;
    s->id_text = id_text;
    size_t n = 0;
    /* function code, byte count, slave id and run indicator leave MB_MAX_PDU − 4 bytes of text */
    while (id_text && id_text[n] && n < MB_MAX_PDU - 4)
        n++;
    s->id_len = n;
}

/* Decimal digits of v into buf (no NUL); returns how many (at most 10). */
static size_t put_decimal(char *buf, uint32_t v)
{
    char rev[10];
    size_t n = 0;
    do {
        rev[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = rev[n - 1 - i];
    return n;
}

static size_t put_text(char *buf, size_t at, size_t cap, const char *text)
{
    while (*text && at < cap)
        buf[at++] = *text++;
    return at;
}

size_t mb_identity_text(char *buf, size_t size, const char *model, unsigned major, unsigned minor, uint32_t serial)
{
    char text[96];
    char digits[10];
    size_t cap = sizeof text, n = 0;
    n = put_text(text, n, cap, "polydaq ");
    n = put_text(text, n, cap, model);
    n = put_text(text, n, cap, " fw ");
    size_t d = put_decimal(digits, major);
    for (size_t i = 0; i < d && n < cap; i++)
        text[n++] = digits[i];
    n = put_text(text, n, cap, ".");
    d = put_decimal(digits, minor);
    for (size_t i = 0; i < d && n < cap; i++)
        text[n++] = digits[i];
    n = put_text(text, n, cap, " SN ");
    d = put_decimal(digits, serial);
    for (size_t i = 0; i < d && n < cap; i++)
        text[n++] = digits[i];
    if (size == 0)
        return 0;
    if (n >= size)
        n = size - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = text[i];
    buf[n] = '\0';
    return n;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static size_t exception(uint8_t function, int code, uint8_t *rsp)
{
    rsp[0] = (uint8_t)(function | 0x80);
    switch (code) {
    case MB_EX_ILLEGAL_FUNCTION:
    case MB_EX_ILLEGAL_ADDRESS:
    case MB_EX_ILLEGAL_VALUE:
    case MB_EX_DEVICE_FAILURE:
    case MB_EX_DEVICE_BUSY: rsp[1] = (uint8_t)code; break;
    default: rsp[1] = MB_EX_DEVICE_FAILURE; break; /* a callback's own failure code */
    }
    return 2;
}

static size_t read_registers(const struct mb_slave *s, const uint8_t *req, size_t len, uint8_t *rsp)
{
    uint8_t fc = req[0];
    if (len != 5)
        return exception(fc, MB_EX_ILLEGAL_VALUE, rsp);
    uint16_t addr = be16(req + 1), count = be16(req + 3);
    if (count < 1 || count > MB_MAX_READ_COUNT)
        return exception(fc, MB_EX_ILLEGAL_VALUE, rsp);
    if ((uint32_t)addr + count > 65536u)
        return exception(fc, MB_EX_ILLEGAL_ADDRESS, rsp);
    int (*read)(void *, uint16_t, uint16_t, uint16_t *) =
        fc == MB_FC_READ_INPUT ? s->tables->read_input : s->tables->read_holding;
    if (!read)
        return exception(fc, MB_EX_ILLEGAL_FUNCTION, rsp);
    uint16_t regs[MB_MAX_READ_COUNT];
    int ex = read(s->ctx, addr, count, regs);
    if (ex)
        return exception(fc, ex, rsp);
    rsp[0] = fc;
    rsp[1] = (uint8_t)(2 * count);
    for (uint16_t i = 0; i < count; i++)
        put_be16(rsp + 2 + 2 * i, regs[i]);
    return 2 + 2 * (size_t)count;
}

static size_t write_single(const struct mb_slave *s, const uint8_t *req, size_t len, uint8_t *rsp)
{
    uint8_t fc = req[0];
    if (len != 5)
        return exception(fc, MB_EX_ILLEGAL_VALUE, rsp);
    if (!s->tables->write_holding)
        return exception(fc, MB_EX_ILLEGAL_FUNCTION, rsp);
    uint16_t value = be16(req + 3);
    int ex = s->tables->write_holding(s->ctx, be16(req + 1), 1, &value);
    if (ex)
        return exception(fc, ex, rsp);
    for (size_t i = 0; i < 5; i++) /* the normal response echoes the request */
        rsp[i] = req[i];
    return 5;
}

static size_t write_multiple(const struct mb_slave *s, const uint8_t *req, size_t len, uint8_t *rsp)
{
    uint8_t fc = req[0];
    if (len < 6)
        return exception(fc, MB_EX_ILLEGAL_VALUE, rsp);
    uint16_t addr = be16(req + 1), count = be16(req + 3);
    size_t bytes = req[5];
    if (count < 1 || count > MB_MAX_WRITE_COUNT || bytes != 2u * count || len != 6 + bytes)
        return exception(fc, MB_EX_ILLEGAL_VALUE, rsp);
    if ((uint32_t)addr + count > 65536u)
        return exception(fc, MB_EX_ILLEGAL_ADDRESS, rsp);
    if (!s->tables->write_holding)
        return exception(fc, MB_EX_ILLEGAL_FUNCTION, rsp);
    uint16_t values[MB_MAX_WRITE_COUNT];
    for (uint16_t i = 0; i < count; i++)
        values[i] = be16(req + 6 + 2 * i);
    int ex = s->tables->write_holding(s->ctx, addr, count, values);
    if (ex)
        return exception(fc, ex, rsp);
    for (size_t i = 0; i < 5; i++) /* function, address, quantity */
        rsp[i] = req[i];
    return 5;
}

static size_t report_slave_id(const struct mb_slave *s, size_t len, uint8_t *rsp)
{
    if (len != 1)
        return exception(MB_FC_REPORT_SLAVE_ID, MB_EX_ILLEGAL_VALUE, rsp);
    rsp[0] = MB_FC_REPORT_SLAVE_ID;
    rsp[1] = (uint8_t)(2 + s->id_len);
    rsp[2] = s->slave_id;
    rsp[3] = MB_RUN_INDICATOR_ON;
    for (size_t i = 0; i < s->id_len; i++)
        rsp[4 + i] = (uint8_t)s->id_text[i];
    return 4 + s->id_len;
}

size_t mb_pdu_process(const struct mb_slave *s, const uint8_t *req, size_t len, uint8_t *rsp)
{
    if (len == 0)
        return 0;
    switch (req[0]) {
    case MB_FC_READ_HOLDING:
    case MB_FC_READ_INPUT: return read_registers(s, req, len, rsp);
    case MB_FC_WRITE_SINGLE: return write_single(s, req, len, rsp);
    case MB_FC_WRITE_MULTIPLE: return write_multiple(s, req, len, rsp);
    case MB_FC_REPORT_SLAVE_ID: return report_slave_id(s, len, rsp);
    default: return exception(req[0] & 0x7F, MB_EX_ILLEGAL_FUNCTION, rsp);
    }
}

/* ---- RTU ---------------------------------------------------------------------------------- */

uint16_t mb_crc16(const uint8_t *data, size_t len)
{
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int b = 0; b < 8; b++)
            crc = (crc & 1u) ? (uint16_t)((crc >> 1) ^ 0xA001u) : (uint16_t)(crc >> 1);
    }
    return crc;
}

unsigned mb_rtu_bits_per_char(unsigned data_bits, char parity, unsigned stop_bits)
{
    return 1u + data_bits + ((parity == 'E' || parity == 'O') ? 1u : 0u) + stop_bits;
}

uint32_t mb_rtu_silence_us(uint32_t baud, unsigned bits_per_char)
{
    if (baud == 0)
        return 0;
    if (baud > 19200)
        return 1750;
    /* 3.5 characters, rounded up to the next µs */
    uint64_t num = 35ull * bits_per_char * 1000000ull;
    uint64_t den = 10ull * baud;
    return (uint32_t)((num + den - 1) / den);
}

void mb_rtu_rx_init(struct mb_rtu_rx *rx, uint32_t silence_us)
{
    rx->len = 0;
    rx->overflow = 0;
    rx->active = 0;
    rx->last_byte_us = 0;
    rx->silence_us = silence_us;
}

void mb_rtu_rx_push(struct mb_rtu_rx *rx, const uint8_t *data, size_t n, uint64_t now_us)
{
    if (n == 0)
        return;
    if (rx->active && now_us - rx->last_byte_us >= rx->silence_us) {
        /* the caller did not take the frame that ended before these bytes: it is lost */
        rx->len = 0;
        rx->overflow = 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (rx->len < MB_MAX_RTU_ADU)
            rx->buf[rx->len++] = data[i];
        else
            rx->overflow = 1;
    }
    rx->active = 1;
    rx->last_byte_us = now_us;
}

uint32_t mb_rtu_rx_wait_us(const struct mb_rtu_rx *rx, uint64_t now_us)
{
    if (!rx->active)
        return UINT32_MAX;
    uint64_t quiet = now_us >= rx->last_byte_us ? now_us - rx->last_byte_us : 0;
    return quiet >= rx->silence_us ? 0 : (uint32_t)(rx->silence_us - quiet);
}

size_t mb_rtu_rx_take(struct mb_rtu_rx *rx, uint64_t now_us, uint8_t *frame)
{
    if (mb_rtu_rx_wait_us(rx, now_us) != 0)
        return 0;
    size_t n = rx->overflow ? 0 : rx->len;
    for (size_t i = 0; i < n; i++)
        frame[i] = rx->buf[i];
    rx->len = 0;
    rx->overflow = 0;
    rx->active = 0;
    return n;
}

static int is_write(uint8_t function)
{
    return function == MB_FC_WRITE_SINGLE || function == MB_FC_WRITE_MULTIPLE;
}

size_t mb_rtu_process(const struct mb_slave *s, const uint8_t *frame, size_t len, uint8_t *rsp)
{
    if (len < 4 || len > MB_MAX_RTU_ADU)
        return 0;
    uint16_t crc = mb_crc16(frame, len - 2);
    if (frame[len - 2] != (uint8_t)crc || frame[len - 1] != (uint8_t)(crc >> 8))
        return 0;
    uint8_t address = frame[0];
    if (address == MB_BROADCAST) {
        if (is_write(frame[1])) {
            uint8_t scratch[MB_MAX_PDU];
            (void)mb_pdu_process(s, frame + 1, len - 3, scratch);
        }
        return 0;
    }
    if (address != s->unit_id)
        return 0;
    size_t n = mb_pdu_process(s, frame + 1, len - 3, rsp + 1);
    if (n == 0)
        return 0;
    rsp[0] = address;
    uint16_t out_crc = mb_crc16(rsp, n + 1);
    rsp[n + 1] = (uint8_t)out_crc;
    rsp[n + 2] = (uint8_t)(out_crc >> 8);
    return n + 3;
}

/* ---- TCP ---------------------------------------------------------------------------------- */

int mb_tcp_adu_length(const uint8_t *buf, size_t have)
{
    if (have < MB_MBAP_LEN)
        return 0;
    uint16_t protocol = be16(buf + 2);
    uint16_t length = be16(buf + 4); /* unit id + PDU */
    if (protocol != 0 || length < 2 || length > 1 + MB_MAX_PDU)
        return -1;
    return MB_MBAP_LEN - 1 + length;
}

int mb_tcp_process(const struct mb_slave *s, const uint8_t *adu, size_t len, uint8_t *rsp)
{
    int expected = mb_tcp_adu_length(adu, len);
    if (expected <= 0 || (size_t)expected != len)
        return -1;
    uint8_t unit = adu[6];
    if (unit != s->unit_id && unit != 0 && unit != 0xFF)
        return 0; /* a device behind a gateway that is not us */
    size_t n = mb_pdu_process(s, adu + MB_MBAP_LEN, len - MB_MBAP_LEN, rsp + MB_MBAP_LEN);
    if (n == 0)
        return 0;
    rsp[0] = adu[0]; /* transaction id */
    rsp[1] = adu[1];
    rsp[2] = 0;      /* protocol id */
    rsp[3] = 0;
    put_be16(rsp + 4, (uint16_t)(n + 1));
    rsp[6] = unit;
    return (int)(MB_MBAP_LEN + n);
}

/* ---- Register encoding -------------------------------------------------------------------- */

static int low_word_first(enum mb_word_order order)
{
    return order == MB_ORDER_CDAB || order == MB_ORDER_DCBA;
}

static int bytes_swapped(enum mb_word_order order)
{
    return order == MB_ORDER_BADC || order == MB_ORDER_DCBA;
}

void mb_regs_from_bytes(uint16_t *regs, const uint8_t *b, unsigned n_regs, enum mb_word_order order)
{
    for (unsigned i = 0; i < n_regs; i++) {
        unsigned w = low_word_first(order) ? n_regs - 1 - i : i;
        uint8_t hi = b[2 * w], lo = b[2 * w + 1];
        regs[i] = bytes_swapped(order) ? (uint16_t)((lo << 8) | hi) : (uint16_t)((hi << 8) | lo);
    }
}

void mb_bytes_from_regs(uint8_t *b, const uint16_t *regs, unsigned n_regs, enum mb_word_order order)
{
    for (unsigned i = 0; i < n_regs; i++) {
        unsigned w = low_word_first(order) ? n_regs - 1 - i : i;
        uint16_t r = regs[i];
        uint8_t first = (uint8_t)(r >> 8), second = (uint8_t)r;
        b[2 * w] = bytes_swapped(order) ? second : first;
        b[2 * w + 1] = bytes_swapped(order) ? first : second;
    }
}

static void be_bytes(uint8_t *b, uint64_t value, unsigned n_bytes)
{
    for (unsigned i = 0; i < n_bytes; i++)
        b[i] = (uint8_t)(value >> (8 * (n_bytes - 1 - i)));
}

void mb_put_u16(uint16_t regs[1], uint16_t value, enum mb_word_order order)
{
    uint8_t b[2];
    be_bytes(b, value, 2);
    mb_regs_from_bytes(regs, b, 1, order);
}

void mb_put_u32(uint16_t regs[2], uint32_t value, enum mb_word_order order)
{
    uint8_t b[4];
    be_bytes(b, value, 4);
    mb_regs_from_bytes(regs, b, 2, order);
}

uint32_t mb_get_u32(const uint16_t regs[2], enum mb_word_order order)
{
    uint8_t b[4];
    mb_bytes_from_regs(b, regs, 2, order);
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

void mb_put_u64(uint16_t regs[4], uint64_t value, enum mb_word_order order)
{
    uint8_t b[8];
    be_bytes(b, value, 8);
    mb_regs_from_bytes(regs, b, 4, order);
}

void mb_put_float(uint16_t regs[2], float value, enum mb_word_order order)
{
    mb_put_u32(regs, fw_float_bits(value), order);
}

float mb_get_float(const uint16_t regs[2], enum mb_word_order order)
{
    return fw_float_from_bits(mb_get_u32(regs, order));
}

void mb_put_double(uint16_t regs[4], double value, enum mb_word_order order)
{
    mb_put_u64(regs, fw_double_bits(value), order);
}
