/*
 * mbslave.h — the firmware's own Modbus slave (server): PDU handling for functions 03, 04, 06, 16
 * and 17 with exception responses, RTU framing (CRC-16/MODBUS, the 3.5-character silence that ends
 * a frame, address filter, broadcast writes) and Modbus TCP framing (MBAP header). Portable C11:
 * no OS, no heap, no stdio; the instrument supplies its register tables as callbacks and the hal
 * moves bytes and reads the clock.
 */
#ifndef MBSLAVE_H
#define MBSLAVE_H

#include <stddef.h>
#include <stdint.h>

/* Exception codes (the second byte of an exception response). */
enum mb_exception {
    MB_EX_ILLEGAL_FUNCTION = 0x01,
    MB_EX_ILLEGAL_ADDRESS = 0x02,
    MB_EX_ILLEGAL_VALUE = 0x03,
    MB_EX_DEVICE_FAILURE = 0x04,
    MB_EX_DEVICE_BUSY = 0x06,
};

enum mb_function {
    MB_FC_READ_HOLDING = 0x03,
    MB_FC_READ_INPUT = 0x04,
    MB_FC_WRITE_SINGLE = 0x06,
    MB_FC_WRITE_MULTIPLE = 0x10,
    MB_FC_REPORT_SLAVE_ID = 0x11,
};

#define MB_MAX_PDU 253          /* function code + data */
#define MB_MAX_RTU_ADU 256      /* address + PDU + CRC */
#define MB_MAX_TCP_ADU 260      /* MBAP (7) + PDU */
#define MB_MBAP_LEN 7
#define MB_MAX_READ_COUNT 125   /* registers per read request */
#define MB_MAX_WRITE_COUNT 123  /* registers per write-multiple request */
#define MB_BROADCAST 0
#define MB_RUN_INDICATOR_ON 0xFF

/* An instrument's register tables. Each callback returns 0, or an enum mb_exception code to send
 * (any other non-zero value is sent as MB_EX_DEVICE_FAILURE). The counts given are already within
 * 1..125 (reads) / 1..123 (writes); addresses and values are the callback's to check. A write is
 * all or nothing. `write_holding` may be NULL for an instrument without holding registers. */
struct mb_slave_tables {
    int (*read_input)(void *ctx, uint16_t addr, uint16_t count, uint16_t *out);
    int (*read_holding)(void *ctx, uint16_t addr, uint16_t count, uint16_t *out);
    int (*write_holding)(void *ctx, uint16_t addr, uint16_t count, const uint16_t *values);
};

struct mb_slave {
    const struct mb_slave_tables *tables;
    void *ctx;                /* passed to the callbacks */
    uint8_t unit_id;          /* 1..247 */
    uint8_t slave_id;         /* function 17's first data byte (the device kind) */
    const char *id_text;      /* function 17's ASCII identification, e.g. "polydaq LF-1 fw 0.1 SN 1" */
    size_t id_len;            /* bytes of id_text sent (capped to what fits a PDU) */
};

/* Sets every member; id_text is borrowed and must outlive the slave. */
void mb_slave_init(struct mb_slave *slave, const struct mb_slave_tables *tables, void *ctx, uint8_t unit_id,
                   uint8_t slave_id, const char *id_text);

/* Function 17's identification text "polydaq MODEL fw MAJOR.MINOR SN SERIAL" into buf (at most
 * size bytes with the NUL, truncated if need be); returns its length. */
size_t mb_identity_text(char *buf, size_t size, const char *model, unsigned major, unsigned minor, uint32_t serial);

/* Handles one request PDU (function code first) and writes the response PDU into rsp (at least
 * MB_MAX_PDU bytes). Returns the response length (> 0): the normal response or an exception
 * response (function | 0x80, code). A PDU whose length does not match its function's format is
 * answered with MB_EX_ILLEGAL_VALUE. `req_len` 0 returns 0 (nothing to answer). */
size_t mb_pdu_process(const struct mb_slave *slave, const uint8_t *req, size_t req_len, uint8_t *rsp);

/* ---- RTU ---------------------------------------------------------------------------------- */

/* CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF). On the wire the low byte goes first. */
uint16_t mb_crc16(const uint8_t *data, size_t len);

/* The silent interval that ends a frame, in µs, for a character of `bits_per_char` bits (start +
 * data + parity + stop, e.g. 11 for 8E1) at `baud`: 3.5 characters, but fixed at 1750 µs above
 * 19200 baud as the Modbus serial line specification asks. 0 for baud 0. */
uint32_t mb_rtu_silence_us(uint32_t baud, unsigned bits_per_char);
/* Bits per character: 1 start + data_bits + (1 when parity is 'E' or 'O') + stop_bits. */
unsigned mb_rtu_bits_per_char(unsigned data_bits, char parity, unsigned stop_bits);

/* Frame assembly from a byte stream: bytes arrive with the hal's µs clock; a frame is complete
 * once the line has been silent for `silence_us` after its last byte. Frames longer than
 * MB_MAX_RTU_ADU are marked oversized and dropped when they end. */
struct mb_rtu_rx {
    uint8_t buf[MB_MAX_RTU_ADU];
    size_t len;
    int overflow;
    int active;            /* bytes seen since the last frame end */
    uint64_t last_byte_us;
    uint32_t silence_us;
};

void mb_rtu_rx_init(struct mb_rtu_rx *rx, uint32_t silence_us);
/* Adds bytes received at `now_us`. When the line was already silent long enough before them, the
 * frame assembled so far is complete: call mb_rtu_rx_take first (it reports it at `now_us`). */
void mb_rtu_rx_push(struct mb_rtu_rx *rx, const uint8_t *data, size_t n, uint64_t now_us);
/* µs until the pending frame is complete at `now_us` (0: complete now), or UINT32_MAX when no
 * frame is pending. The hal sleeps this long at most. */
uint32_t mb_rtu_rx_wait_us(const struct mb_rtu_rx *rx, uint64_t now_us);
/* When a frame has ended by `now_us`, copies it to frame (MB_MAX_RTU_ADU bytes) and returns its
 * length; oversized frames are discarded and report 0, as does "nothing complete yet". */
size_t mb_rtu_rx_take(struct mb_rtu_rx *rx, uint64_t now_us, uint8_t *frame);

/* Handles one complete RTU frame (address, PDU, CRC). Returns the response ADU length written to
 * rsp (MB_MAX_RTU_ADU bytes), or 0 when nothing is to be sent: a frame shorter than 4 bytes, a
 * CRC mismatch, another slave's address, or a broadcast (address 0: writes are carried out, reads
 * and function 17 are ignored, and no broadcast is ever answered). */
size_t mb_rtu_process(const struct mb_slave *slave, const uint8_t *frame, size_t len, uint8_t *rsp);

/* ---- TCP ---------------------------------------------------------------------------------- */

/* Length of the ADU that starts at `buf` given `have` bytes of it: 0 while the 7-byte MBAP header
 * is incomplete, −1 when the header is invalid (protocol id not 0, or a length field outside
 * 2..254: the connection should be closed, as the stream cannot be resynchronised), otherwise
 * 7 + length − 1, the total ADU length. */
int mb_tcp_adu_length(const uint8_t *buf, size_t have);

/* Handles one complete ADU (length from mb_tcp_adu_length). Returns the response ADU length
 * written to rsp (MB_MAX_TCP_ADU bytes), 0 when the unit id is not this slave's (1..247 other
 * than unit_id; 0 and 255 address the device itself over TCP), or −1 for an invalid ADU. The
 * transaction id and unit id are echoed. */
int mb_tcp_process(const struct mb_slave *slave, const uint8_t *adu, size_t len, uint8_t *rsp);

/* ---- Register encoding -------------------------------------------------------------------- */

/* Word and byte order of multi-register values, named by the bytes of a 32-bit value ABCD (A most
 * significant) as they appear on the wire: ABCD big-endian high word first (the Modbus convention),
 * CDAB low word first, BADC bytes swapped in each register, DCBA fully little-endian. For other
 * widths the two choices carry over: CDAB/DCBA put the lowest word first, BADC/DCBA swap the two
 * bytes of every register (so a 16-bit value is swapped in BADC and DCBA). */
enum mb_word_order { MB_ORDER_ABCD, MB_ORDER_CDAB, MB_ORDER_BADC, MB_ORDER_DCBA };

/* `n_regs` registers (1, 2 or 4) from a value's 2·n_regs bytes, most significant first, and back. */
void mb_regs_from_bytes(uint16_t *regs, const uint8_t *be_bytes, unsigned n_regs, enum mb_word_order order);
void mb_bytes_from_regs(uint8_t *be_bytes, const uint16_t *regs, unsigned n_regs, enum mb_word_order order);
void mb_put_u16(uint16_t regs[1], uint16_t value, enum mb_word_order order);
void mb_put_u32(uint16_t regs[2], uint32_t value, enum mb_word_order order);
uint32_t mb_get_u32(const uint16_t regs[2], enum mb_word_order order);
void mb_put_u64(uint16_t regs[4], uint64_t value, enum mb_word_order order);
void mb_put_float(uint16_t regs[2], float value, enum mb_word_order order);
float mb_get_float(const uint16_t regs[2], enum mb_word_order order);
void mb_put_double(uint16_t regs[4], double value, enum mb_word_order order);

#endif /* MBSLAVE_H */
