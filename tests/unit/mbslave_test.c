/* mbslave_test.c — the firmware Modbus slave against golden byte vectors: CRC, every function, every exception, RTU silence framing, MBAP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mbslave/core/mbslave.h"

/* ---- a device with two 100-register tables --------------------------------------------------
 * Input 50 stands for a failed sensor (exception 04), input 60 fails with a code of its own
 * (sent as 04), holding 99 is busy (06), and the value 0xFFFF is out of range (03). */
#define TABLE_SIZE 100

struct fake_device {
    uint16_t input[TABLE_SIZE];
    uint16_t holding[TABLE_SIZE];
    int writes; /* successful write calls */
};

static int covers(uint16_t addr, uint16_t count, unsigned reg)
{
    return addr <= reg && reg < (unsigned)addr + count;
}

static int fake_read_input(void *ctx, uint16_t addr, uint16_t count, uint16_t *out)
{
    struct fake_device *d = ctx;
    if ((unsigned)addr + count > TABLE_SIZE)
        return MB_EX_ILLEGAL_ADDRESS;
    if (covers(addr, count, 50))
        return MB_EX_DEVICE_FAILURE;
    if (covers(addr, count, 60))
        return -7;
    memcpy(out, &d->input[addr], count * sizeof *out);
    return 0;
}

static int fake_read_holding(void *ctx, uint16_t addr, uint16_t count, uint16_t *out)
{
    struct fake_device *d = ctx;
    if ((unsigned)addr + count > TABLE_SIZE)
        return MB_EX_ILLEGAL_ADDRESS;
    memcpy(out, &d->holding[addr], count * sizeof *out);
    return 0;
}

static int fake_write_holding(void *ctx, uint16_t addr, uint16_t count, const uint16_t *values)
{
    struct fake_device *d = ctx;
    if ((unsigned)addr + count > TABLE_SIZE)
        return MB_EX_ILLEGAL_ADDRESS;
    if (covers(addr, count, 99))
        return MB_EX_DEVICE_BUSY;
    for (uint16_t i = 0; i < count; i++)
        if (values[i] == 0xFFFF)
            return MB_EX_ILLEGAL_VALUE;
    memcpy(&d->holding[addr], values, count * sizeof *values);
    d->writes++;
    return 0;
}

static const struct mb_slave_tables fake_tables = {
    .read_input = fake_read_input,
    .read_holding = fake_read_holding,
    .write_holding = fake_write_holding,
};

static struct fake_device g_dev;
static struct mb_slave g_slave;

static int setup(void **state)
{
    (void)state;
    memset(&g_dev, 0, sizeof g_dev);
    for (int i = 0; i < TABLE_SIZE; i++) {
        g_dev.input[i] = (uint16_t)(0x1000 + i);
        g_dev.holding[i] = (uint16_t)(0x2000 + i);
    }
    mb_slave_init(&g_slave, &fake_tables, &g_dev, 1, 0x4C, "polydaq LF-1 fw 0.1 SN 1");
    return 0;
}

/* Runs one PDU and compares the answer with the expected bytes. */
static void expect_pdu(const uint8_t *req, size_t req_len, const uint8_t *want, size_t want_len)
{
    uint8_t rsp[MB_MAX_PDU];
    memset(rsp, 0xEE, sizeof rsp);
    size_t n = mb_pdu_process(&g_slave, req, req_len, rsp);
    assert_int_equal(n, want_len);
    assert_memory_equal(rsp, want, want_len);
}

#define EXPECT_PDU(req, want) expect_pdu(req, sizeof req, want, sizeof want)

/* ---- CRC and timing ----------------------------------------------------------------------- */

static void test_crc_of_known_frames(void **state)
{
    (void)state;
    const uint8_t read10[] = {0x01, 0x03, 0x00, 0x00, 0x00, 0x0A}; /* → C5 CD on the wire */
    assert_int_equal(mb_crc16(read10, sizeof read10), 0xCDC5);
    const uint8_t read_input[] = {0x01, 0x04, 0x00, 0x00, 0x00, 0x01}; /* → 31 CA */
    assert_int_equal(mb_crc16(read_input, sizeof read_input), 0xCA31);
    const uint8_t check[] = "123456789"; /* the catalogue check value of CRC-16/MODBUS */
    assert_int_equal(mb_crc16(check, 9), 0x4B37);
    assert_int_equal(mb_crc16(check, 0), 0xFFFF);
}

static void test_silent_interval_from_baud(void **state)
{
    (void)state;
    assert_int_equal(mb_rtu_bits_per_char(8, 'E', 1), 11);
    assert_int_equal(mb_rtu_bits_per_char(8, 'O', 1), 11);
    assert_int_equal(mb_rtu_bits_per_char(8, 'N', 1), 10);
    assert_int_equal(mb_rtu_bits_per_char(8, 'N', 2), 11);
    /* 3.5 × 11 bits / 19200 Bd = 2005.2 µs, rounded up; 3.5 × 10 / 9600 = 3645.8 µs */
    assert_int_equal(mb_rtu_silence_us(19200, 11), 2006);
    assert_int_equal(mb_rtu_silence_us(9600, 10), 3646);
    assert_int_equal(mb_rtu_silence_us(1200, 11), 32084);
    /* above 19200 Bd the specification fixes 1.75 ms */
    assert_int_equal(mb_rtu_silence_us(38400, 11), 1750);
    assert_int_equal(mb_rtu_silence_us(115200, 10), 1750);
    assert_int_equal(mb_rtu_silence_us(0, 11), 0);
}

/* ---- function codes ----------------------------------------------------------------------- */

static void test_read_holding_and_input(void **state)
{
    (void)state;
    const uint8_t read_holding[] = {0x03, 0x00, 0x05, 0x00, 0x02};
    const uint8_t holding_rsp[] = {0x03, 0x04, 0x20, 0x05, 0x20, 0x06};
    EXPECT_PDU(read_holding, holding_rsp);
    const uint8_t read_input[] = {0x04, 0x00, 0x00, 0x00, 0x01};
    const uint8_t input_rsp[] = {0x04, 0x02, 0x10, 0x00};
    EXPECT_PDU(read_input, input_rsp);
    /* the largest read the protocol allows is answered in full (from a table that has it) */
    g_dev.input[0] = 0xBEEF;
    uint8_t rsp[MB_MAX_PDU];
    const uint8_t read_many[] = {0x03, 0x00, 0x00, 0x00, 0x64};
    assert_int_equal(mb_pdu_process(&g_slave, read_many, sizeof read_many, rsp), 2 + 200);
    assert_int_equal(rsp[1], 200);
    assert_int_equal(rsp[2 + 2 * 99], 0x20);
    assert_int_equal(rsp[3 + 2 * 99], 0x63);
}

static void test_write_single_echoes(void **state)
{
    (void)state;
    const uint8_t write[] = {0x06, 0x00, 0x07, 0x12, 0x34};
    EXPECT_PDU(write, write);
    assert_int_equal(g_dev.holding[7], 0x1234);
    assert_int_equal(g_dev.writes, 1);
}

static void test_write_multiple(void **state)
{
    (void)state;
    const uint8_t write[] = {0x10, 0x00, 0x02, 0x00, 0x02, 0x04, 0x00, 0x01, 0x00, 0x02};
    const uint8_t rsp[] = {0x10, 0x00, 0x02, 0x00, 0x02};
    EXPECT_PDU(write, rsp);
    assert_int_equal(g_dev.holding[2], 1);
    assert_int_equal(g_dev.holding[3], 2);
}

static void test_report_slave_id(void **state)
{
    (void)state;
    const uint8_t req[] = {0x11};
    const char *text = "polydaq LF-1 fw 0.1 SN 1";
    uint8_t want[4 + 24];
    want[0] = 0x11;
    want[1] = (uint8_t)(2 + strlen(text));
    want[2] = 0x4C;
    want[3] = 0xFF; /* run indicator: on */
    memcpy(want + 4, text, strlen(text));
    EXPECT_PDU(req, want);
    char buf[64];
    assert_int_equal(mb_identity_text(buf, sizeof buf, "TC-1", 0, 1, 4242), strlen("polydaq TC-1 fw 0.1 SN 4242"));
    assert_string_equal(buf, "polydaq TC-1 fw 0.1 SN 4242");
    assert_int_equal(mb_identity_text(buf, 8, "TC-1", 0, 1, 4242), 7);
    assert_string_equal(buf, "polydaq");
}

/* ---- exceptions --------------------------------------------------------------------------- */

static void test_exception_illegal_function(void **state)
{
    (void)state;
    const uint8_t read_coils[] = {0x01, 0x00, 0x00, 0x00, 0x01};
    const uint8_t ex01[] = {0x81, 0x01};
    EXPECT_PDU(read_coils, ex01);
    const uint8_t diagnostics[] = {0x08, 0x00, 0x00, 0x12, 0x34};
    const uint8_t ex08[] = {0x88, 0x01};
    EXPECT_PDU(diagnostics, ex08);
    /* a slave without holding writes answers 06 and 16 with exception 01 */
    const struct mb_slave_tables read_only = {.read_input = fake_read_input, .read_holding = fake_read_holding};
    struct mb_slave ro;
    mb_slave_init(&ro, &read_only, &g_dev, 1, 0, "");
    const uint8_t write[] = {0x06, 0x00, 0x07, 0x12, 0x34};
    uint8_t rsp[MB_MAX_PDU];
    assert_int_equal(mb_pdu_process(&ro, write, sizeof write, rsp), 2);
    assert_int_equal(rsp[0], 0x86);
    assert_int_equal(rsp[1], 0x01);
    assert_int_equal(g_dev.writes, 0);
}

static void test_exception_illegal_address(void **state)
{
    (void)state;
    const uint8_t past_end[] = {0x03, 0x00, 0x63, 0x00, 0x02}; /* 99..100 */
    const uint8_t ex_hr[] = {0x83, 0x02};
    EXPECT_PDU(past_end, ex_hr);
    const uint8_t wraps[] = {0x04, 0xFF, 0xFF, 0x00, 0x02}; /* 65535 + 2 runs past the address space */
    const uint8_t ex_ir[] = {0x84, 0x02};
    EXPECT_PDU(wraps, ex_ir);
    const uint8_t write_past[] = {0x06, 0x00, 0x64, 0x00, 0x01};
    const uint8_t ex_w[] = {0x86, 0x02};
    EXPECT_PDU(write_past, ex_w);
}

static void test_exception_illegal_value(void **state)
{
    (void)state;
    const uint8_t ex83[] = {0x83, 0x03}, ex84[] = {0x84, 0x03}, ex90[] = {0x90, 0x03}, ex86[] = {0x86, 0x03};
    const uint8_t count0[] = {0x03, 0x00, 0x00, 0x00, 0x00};
    EXPECT_PDU(count0, ex83);
    const uint8_t count126[] = {0x04, 0x00, 0x00, 0x00, 0x7E};
    EXPECT_PDU(count126, ex84);
    const uint8_t short_read[] = {0x03, 0x00, 0x00, 0x00};
    EXPECT_PDU(short_read, ex83);
    const uint8_t long_read[] = {0x03, 0x00, 0x00, 0x00, 0x01, 0x00};
    EXPECT_PDU(long_read, ex83);
    /* byte count 3 for 2 registers; byte count right but data short; quantity 0; 124 registers */
    const uint8_t bad_bytes[] = {0x10, 0x00, 0x02, 0x00, 0x02, 0x03, 0x00, 0x01, 0x00};
    EXPECT_PDU(bad_bytes, ex90);
    const uint8_t short_data[] = {0x10, 0x00, 0x02, 0x00, 0x02, 0x04, 0x00, 0x01, 0x00};
    EXPECT_PDU(short_data, ex90);
    const uint8_t write0[] = {0x10, 0x00, 0x02, 0x00, 0x00, 0x00};
    EXPECT_PDU(write0, ex90);
    uint8_t write124[6 + 248] = {0x10, 0x00, 0x00, 0x00, 124, 248};
    EXPECT_PDU(write124, ex90);
    const uint8_t short_single[] = {0x06, 0x00, 0x01, 0x00};
    EXPECT_PDU(short_single, ex86);
    /* the device's own range check */
    const uint8_t out_of_range[] = {0x06, 0x00, 0x01, 0xFF, 0xFF};
    EXPECT_PDU(out_of_range, ex86);
    const uint8_t id_with_data[] = {0x11, 0x00};
    const uint8_t ex91[] = {0x91, 0x03};
    EXPECT_PDU(id_with_data, ex91);
    assert_int_equal(g_dev.writes, 0);
    assert_int_equal(g_dev.holding[2], 0x2002); /* nothing written by any of them */
}

static void test_exception_device_failure_and_busy(void **state)
{
    (void)state;
    const uint8_t failed_sensor[] = {0x04, 0x00, 0x30, 0x00, 0x04}; /* 48..51 covers 50 */
    const uint8_t ex04[] = {0x84, 0x04};
    EXPECT_PDU(failed_sensor, ex04);
    const uint8_t own_code[] = {0x04, 0x00, 0x3C, 0x00, 0x01}; /* 60: the callback returns -7 */
    EXPECT_PDU(own_code, ex04);
    const uint8_t busy[] = {0x10, 0x00, 0x62, 0x00, 0x02, 0x04, 0x00, 0x01, 0x00, 0x02};
    const uint8_t ex06[] = {0x90, 0x06};
    EXPECT_PDU(busy, ex06);
    assert_int_equal(g_dev.holding[98], 0x2062);
    uint8_t rsp[MB_MAX_PDU];
    assert_int_equal(mb_pdu_process(&g_slave, busy, 0, rsp), 0);
}

/* ---- RTU framing -------------------------------------------------------------------------- */

static void test_rtu_golden_frames(void **state)
{
    (void)state;
    g_dev.holding[0] = 0x0011;
    g_dev.holding[1] = 0x0022;
    const uint8_t req[] = {0x01, 0x03, 0x00, 0x00, 0x00, 0x02, 0xC4, 0x0B};
    const uint8_t want[] = {0x01, 0x03, 0x04, 0x00, 0x11, 0x00, 0x22, 0x2A, 0x2F};
    uint8_t rsp[MB_MAX_RTU_ADU];
    assert_int_equal(mb_rtu_process(&g_slave, req, sizeof req, rsp), sizeof want);
    assert_memory_equal(rsp, want, sizeof want);

    const uint8_t write[] = {0x01, 0x06, 0x00, 0x00, 0x00, 0x01, 0x48, 0x0A};
    assert_int_equal(mb_rtu_process(&g_slave, write, sizeof write, rsp), sizeof write);
    assert_memory_equal(rsp, write, sizeof write);

    const uint8_t multi[] = {0x01, 0x10, 0x00, 0x02, 0x00, 0x02, 0x04, 0x00, 0x01, 0x00, 0x02, 0xA2, 0x77};
    const uint8_t multi_rsp[] = {0x01, 0x10, 0x00, 0x02, 0x00, 0x02, 0xE0, 0x08};
    assert_int_equal(mb_rtu_process(&g_slave, multi, sizeof multi, rsp), sizeof multi_rsp);
    assert_memory_equal(rsp, multi_rsp, sizeof multi_rsp);

    const uint8_t bad_fc[] = {0x01, 0x01, 0x00, 0x00, 0x00, 0x01, 0xFD, 0xCA};
    const uint8_t ex[] = {0x01, 0x81, 0x01, 0x81, 0x90};
    assert_int_equal(mb_rtu_process(&g_slave, bad_fc, sizeof bad_fc, rsp), sizeof ex);
    assert_memory_equal(rsp, ex, sizeof ex);

    const uint8_t report[] = {0x01, 0x11, 0xC0, 0x2C};
    size_t n = mb_rtu_process(&g_slave, report, sizeof report, rsp);
    assert_int_equal(n, 3 + 4 + 24);
    assert_int_equal(rsp[1], 0x11);
    assert_int_equal(rsp[3], 0x4C);
    assert_int_equal(rsp[4], 0xFF);
    assert_int_equal(mb_crc16(rsp, n), 0); /* a frame with its CRC appended checks to 0 */
}

static void test_rtu_drops_silently(void **state)
{
    (void)state;
    uint8_t rsp[MB_MAX_RTU_ADU];
    const uint8_t bad_crc[] = {0x01, 0x03, 0x00, 0x00, 0x00, 0x02, 0xC4, 0x0C};
    assert_int_equal(mb_rtu_process(&g_slave, bad_crc, sizeof bad_crc, rsp), 0);
    const uint8_t other_slave[] = {0x02, 0x06, 0x00, 0x00, 0x00, 0xFF, 0xC9, 0xB9};
    assert_int_equal(mb_rtu_process(&g_slave, other_slave, sizeof other_slave, rsp), 0);
    const uint8_t too_short[] = {0x01, 0x03, 0x00};
    assert_int_equal(mb_rtu_process(&g_slave, too_short, sizeof too_short, rsp), 0);
    uint8_t too_long[MB_MAX_RTU_ADU + 1] = {0x01, 0x03};
    assert_int_equal(mb_rtu_process(&g_slave, too_long, sizeof too_long, rsp), 0);
    assert_int_equal(g_dev.writes, 0);
    assert_int_equal(g_dev.holding[0], 0x2000);
}

static void test_rtu_broadcast(void **state)
{
    (void)state;
    uint8_t rsp[MB_MAX_RTU_ADU];
    /* a broadcast write is carried out and never answered */
    const uint8_t write[] = {0x00, 0x06, 0x00, 0x05, 0x00, 0x07, 0xD9, 0xD8};
    assert_int_equal(mb_rtu_process(&g_slave, write, sizeof write, rsp), 0);
    assert_int_equal(g_dev.holding[5], 7);
    assert_int_equal(g_dev.writes, 1);
    /* a broadcast read is ignored */
    uint8_t read[8] = {0x00, 0x03, 0x00, 0x00, 0x00, 0x01};
    uint16_t crc = mb_crc16(read, 6);
    read[6] = (uint8_t)crc;
    read[7] = (uint8_t)(crc >> 8);
    assert_int_equal(mb_rtu_process(&g_slave, read, sizeof read, rsp), 0);
}

static void test_rtu_frames_end_at_silence(void **state)
{
    (void)state;
    struct mb_rtu_rx rx;
    mb_rtu_rx_init(&rx, 2006);
    uint8_t frame[MB_MAX_RTU_ADU];
    const uint8_t req[] = {0x01, 0x03, 0x00, 0x00, 0x00, 0x02, 0xC4, 0x0B};
    assert_int_equal(mb_rtu_rx_wait_us(&rx, 0), UINT32_MAX);
    /* a frame in two pieces 1 ms apart (less than 3.5 characters) is one frame */
    mb_rtu_rx_push(&rx, req, 3, 10000);
    assert_int_equal(mb_rtu_rx_take(&rx, 11000, frame), 0);
    mb_rtu_rx_push(&rx, req + 3, 5, 11000);
    assert_int_equal(mb_rtu_rx_wait_us(&rx, 12000), 1006);
    assert_int_equal(mb_rtu_rx_take(&rx, 13005, frame), 0);
    assert_int_equal(mb_rtu_rx_take(&rx, 13006, frame), sizeof req);
    assert_memory_equal(frame, req, sizeof req);
    assert_int_equal(mb_rtu_rx_take(&rx, 20000, frame), 0); /* taken once */

    /* the same bytes with a 3.5-character gap inside are two (broken) frames */
    mb_rtu_rx_push(&rx, req, 3, 30000);
    assert_int_equal(mb_rtu_rx_take(&rx, 32006, frame), 3);
    mb_rtu_rx_push(&rx, req + 3, 5, 32006);
    assert_int_equal(mb_rtu_rx_take(&rx, 34012, frame), 5);

    /* an oversized frame is dropped whole */
    uint8_t junk[300];
    memset(junk, 0x55, sizeof junk);
    mb_rtu_rx_push(&rx, junk, sizeof junk, 40000);
    assert_int_equal(mb_rtu_rx_take(&rx, 50000, frame), 0);
    assert_int_equal(mb_rtu_rx_wait_us(&rx, 50000), UINT32_MAX);
    mb_rtu_rx_push(&rx, req, sizeof req, 60000);
    assert_int_equal(mb_rtu_rx_take(&rx, 70000, frame), sizeof req);
}

/* ---- TCP framing -------------------------------------------------------------------------- */

static void test_mbap_length_and_validation(void **state)
{
    (void)state;
    const uint8_t adu[] = {0x12, 0x34, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x05, 0x00, 0x02};
    assert_int_equal(mb_tcp_adu_length(adu, 6), 0);
    assert_int_equal(mb_tcp_adu_length(adu, 7), 12);
    const uint8_t bad_protocol[] = {0x00, 0x01, 0x00, 0x01, 0x00, 0x06, 0x01};
    assert_int_equal(mb_tcp_adu_length(bad_protocol, 7), -1);
    const uint8_t length1[] = {0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x01};
    assert_int_equal(mb_tcp_adu_length(length1, 7), -1);
    const uint8_t length255[] = {0x00, 0x01, 0x00, 0x00, 0x00, 0xFF, 0x01};
    assert_int_equal(mb_tcp_adu_length(length255, 7), -1);
    const uint8_t length254[] = {0x00, 0x01, 0x00, 0x00, 0x00, 0xFE, 0x01};
    assert_int_equal(mb_tcp_adu_length(length254, 7), 260);
}

static void test_mbap_transactions(void **state)
{
    (void)state;
    const uint8_t adu[] = {0x12, 0x34, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x05, 0x00, 0x02};
    const uint8_t want[] = {0x12, 0x34, 0x00, 0x00, 0x00, 0x07, 0x01, 0x03, 0x04, 0x20, 0x05, 0x20, 0x06};
    uint8_t rsp[MB_MAX_TCP_ADU];
    assert_int_equal(mb_tcp_process(&g_slave, adu, sizeof adu, rsp), sizeof want);
    assert_memory_equal(rsp, want, sizeof want);

    /* unit 0 and 255 address the device itself; unit 7 is someone else behind a gateway */
    uint8_t other[sizeof adu];
    memcpy(other, adu, sizeof adu);
    other[6] = 0xFF;
    assert_int_equal(mb_tcp_process(&g_slave, other, sizeof other, rsp), sizeof want);
    assert_int_equal(rsp[6], 0xFF);
    other[6] = 0x00;
    assert_int_equal(mb_tcp_process(&g_slave, other, sizeof other, rsp), sizeof want);
    other[6] = 0x07;
    assert_int_equal(mb_tcp_process(&g_slave, other, sizeof other, rsp), 0);

    /* an exception keeps the transaction id */
    const uint8_t bad[] = {0xAB, 0xCD, 0x00, 0x00, 0x00, 0x06, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00};
    const uint8_t ex[] = {0xAB, 0xCD, 0x00, 0x00, 0x00, 0x03, 0x01, 0x84, 0x03};
    assert_int_equal(mb_tcp_process(&g_slave, bad, sizeof bad, rsp), sizeof ex);
    assert_memory_equal(rsp, ex, sizeof ex);

    /* the length field must match the ADU handed over */
    assert_int_equal(mb_tcp_process(&g_slave, adu, sizeof adu - 1, rsp), -1);
}

/* ---- register encoding -------------------------------------------------------------------- */

static void test_word_orders(void **state)
{
    (void)state;
    uint16_t r[4];
    const uint16_t u32[4][2] = {{0x1122, 0x3344}, {0x3344, 0x1122}, {0x2211, 0x4433}, {0x4433, 0x2211}};
    const uint16_t u64[4][4] = {{0x1122, 0x3344, 0x5566, 0x7788},
                                {0x7788, 0x5566, 0x3344, 0x1122},
                                {0x2211, 0x4433, 0x6655, 0x8877},
                                {0x8877, 0x6655, 0x4433, 0x2211}};
    const uint16_t u16[4] = {0xCAFE, 0xCAFE, 0xFECA, 0xFECA};
    for (int k = 0; k < 4; k++) {
        enum mb_word_order order = (enum mb_word_order)k;
        mb_put_u32(r, 0x11223344u, order);
        assert_memory_equal(r, u32[k], sizeof u32[k]);
        assert_int_equal(mb_get_u32(r, order), 0x11223344u);
        mb_put_u64(r, 0x1122334455667788ull, order);
        assert_memory_equal(r, u64[k], sizeof u64[k]);
        mb_put_u16(r, 0xCAFE, order);
        assert_int_equal(r[0], u16[k]);
        mb_put_float(r, -1234.5678f, order);
        assert_true(mb_get_float(r, order) == -1234.5678f);
    }
    mb_put_float(r, 23.5f, MB_ORDER_CDAB); /* 0x41BC0000 low word first */
    assert_int_equal(r[0], 0x0000);
    assert_int_equal(r[1], 0x41BC);
    mb_put_double(r, 6.02214076e23, MB_ORDER_ABCD);
    const uint16_t avogadro[4] = {0x44DF, 0xE185, 0xCA57, 0xC517};
    assert_memory_equal(r, avogadro, sizeof avogadro);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_crc_of_known_frames, setup),
        cmocka_unit_test_setup(test_silent_interval_from_baud, setup),
        cmocka_unit_test_setup(test_read_holding_and_input, setup),
        cmocka_unit_test_setup(test_write_single_echoes, setup),
        cmocka_unit_test_setup(test_write_multiple, setup),
        cmocka_unit_test_setup(test_report_slave_id, setup),
        cmocka_unit_test_setup(test_exception_illegal_function, setup),
        cmocka_unit_test_setup(test_exception_illegal_address, setup),
        cmocka_unit_test_setup(test_exception_illegal_value, setup),
        cmocka_unit_test_setup(test_exception_device_failure_and_busy, setup),
        cmocka_unit_test_setup(test_rtu_golden_frames, setup),
        cmocka_unit_test_setup(test_rtu_drops_silently, setup),
        cmocka_unit_test_setup(test_rtu_broadcast, setup),
        cmocka_unit_test_setup(test_rtu_frames_end_at_silence, setup),
        cmocka_unit_test_setup(test_mbap_length_and_validation, setup),
        cmocka_unit_test_setup(test_mbap_transactions, setup),
        cmocka_unit_test_setup(test_word_orders, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
