/*
 * regs.h — the load frame's Modbus register map (see ../REGISTERS.md): input registers built from
 * the frame's state, holding registers for the test setup and commands. Transport-free: the hal
 * parses frames and calls these; they return 0 or a Modbus exception code for the hal to send.
 */
#ifndef LF_REGS_H
#define LF_REGS_H

#include <stddef.h>
#include <stdint.h>

#include "loadframe/core/model.h"
#include "mbslave/core/mbslave.h"

/* Modbus exception codes returned by the lf_regs_* calls. */
enum lf_modbus_exception {
    LF_EX_ILLEGAL_FUNCTION = 0x01,
    LF_EX_ILLEGAL_ADDRESS = 0x02,
    LF_EX_ILLEGAL_VALUE = 0x03,
    LF_EX_DEVICE_FAILURE = 0x04,
    LF_EX_DEVICE_BUSY = 0x06,
};

#define LF_FW_VERSION_MAJOR 0
#define LF_FW_VERSION_MINOR 1
#define LF_FW_VERSION ((LF_FW_VERSION_MAJOR << 8) | LF_FW_VERSION_MINOR)

#define LF_INPUT_REG_COUNT 22
#define LF_HOLDING_REG_COUNT 16
/* Modbus limits on the quantity of one request (functions 03/04 and 16). */
#define LF_MAX_READ_COUNT 125
#define LF_MAX_WRITE_COUNT 123

/* Input register addresses (wire addresses, 0-based). */
enum lf_input_reg {
    LF_IR_STATUS = 0,
    LF_IR_FLAGS = 1,
    LF_IR_SAMPLE_COUNTER = 2,
    LF_IR_FORCE = 4,
    LF_IR_EXTENSION = 6,
    LF_IR_CROSSHEAD = 8,
    LF_IR_TEST_TIME = 10,
    LF_IR_SPECIMEN_NO = 12,
    LF_IR_FW_VERSION = 16,
    LF_IR_SERIAL_NUMBER = 17,
    LF_IR_CAL_YEAR = 19,
    LF_IR_CAL_MONTH = 20,
    LF_IR_CAL_DAY = 21,
};

/* Diagnostic test pattern (input registers 100..163): one fixed value of every data type in every
 * word order, so a master's decoding can be checked against a real device. Block k (k = enum
 * mb_word_order: ABCD, CDAB, BADC, DCBA) starts at 100 + 16·k; inside it the offsets below; the
 * rest of each block (12..15) reads 0. */
#define LF_IR_TEST_PATTERN 100
#define LF_TEST_PATTERN_STRIDE 16
#define LF_TEST_PATTERN_COUNT 64
enum lf_test_pattern_offset {
    LF_TP_INT16 = 0,
    LF_TP_UINT16 = 1,
    LF_TP_INT32 = 2,
    LF_TP_UINT32 = 4,
    LF_TP_FLOAT32 = 6,
    LF_TP_FLOAT64 = 8,
};
#define LF_TP_INT16_VALUE (-12345)
#define LF_TP_UINT16_VALUE 51966u         /* 0xCAFE */
#define LF_TP_INT32_VALUE (-123456789L)   /* 0xF8A432EB */
#define LF_TP_UINT32_VALUE 3735928559uL   /* 0xDEADBEEF */
#define LF_TP_FLOAT32_VALUE (-1234.5678f) /* 0xC49A522B = −1234.5677490234375 */
#define LF_TP_FLOAT64_VALUE 6.02214076e23 /* 0x44DFE185CA57C517 */
/* Reading this input register (alone or in a range) answers exception 04, server device failure:
 * a stand-in for a failed sensor, so masters can test their handling of it. */
#define LF_IR_FAULT_PROBE 200

/* Holding register addresses. */
enum lf_holding_reg {
    LF_HR_COMMAND = 0,
    LF_HR_SPEED_MODULUS = 2,
    LF_HR_SPEED_TEST = 4,
    LF_HR_SPEED_SWITCH_STRAIN = 6,
    LF_HR_WIDTH = 8,
    LF_HR_THICKNESS = 10,
    LF_HR_GAUGE_LENGTH = 12,
    LF_HR_GRIP_DISTANCE = 14,
};

/* Values of the command register. */
enum lf_command {
    LF_CMD_START = 1,
    LF_CMD_STOP = 2,
    LF_CMD_RETURN = 3,
    LF_CMD_TARE = 4,
};

/* 32-bit values as two registers, high word first (ABCD). */
void lf_regs_put_u32(uint16_t regs[2], uint32_t value);
uint32_t lf_regs_get_u32(const uint16_t regs[2]);
void lf_regs_put_float(uint16_t regs[2], float value);
float lf_regs_get_float(const uint16_t regs[2]);

/* Function 04. Fills out[0..count-1]; 0, LF_EX_ILLEGAL_VALUE for a count outside 1..125,
 * LF_EX_ILLEGAL_ADDRESS unless the range lies wholly inside one block (0..21, the test pattern
 * 100..163, or the fault probe 200), LF_EX_DEVICE_FAILURE for the fault probe. `out` untouched on
 * an exception. Unassigned registers inside a block (13–15) read 0. */
int lf_regs_read_input(const struct lf_frame *frame, uint16_t addr, uint16_t count, uint16_t *out);
/* Function 03; as above over the holding table (the command register and register 1 read 0). */
int lf_regs_read_holding(const struct lf_frame *frame, uint16_t addr, uint16_t count, uint16_t *out);
/* Functions 06 and 16: all or nothing. Returns 0, or LF_EX_ILLEGAL_ADDRESS (outside the table,
 * register 1, or only one half of a 32-bit value), LF_EX_ILLEGAL_VALUE (count outside 1..123, an
 * unknown command or a setup value out of range) or LF_EX_DEVICE_BUSY (start, tare or a geometry
 * change while a test is running). The setup is applied first, then the command. */
int lf_regs_write_holding(struct lf_frame *frame, uint16_t addr, uint16_t count, const uint16_t *values);

/* Function 17's device kind byte and identification text, "polydaq LF-1 fw 0.1 SN 1" (serial
 * from the frame's params). Writes at most size bytes including the NUL; returns the length. */
#define LF_SLAVE_ID 0x4C /* 'L' */
size_t lf_regs_identity(const struct lf_frame *frame, char *buf, size_t size);

/* The register tables for the Modbus slave; its ctx is the struct lf_frame. */
extern const struct mb_slave_tables lf_regs_tables;

#endif /* LF_REGS_H */
