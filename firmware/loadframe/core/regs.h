/*
 * regs.h — the load frame's Modbus register map (see ../REGISTERS.md): input registers built from
 * the frame's state, holding registers for the test setup and commands. Transport-free: the hal
 * parses frames and calls these; they return 0 or a Modbus exception code for the hal to send.
 */
#ifndef LF_REGS_H
#define LF_REGS_H

#include <stdint.h>

#include "loadframe/core/model.h"

/* Modbus exception codes returned by the lf_regs_* calls. */
enum lf_modbus_exception {
    LF_EX_ILLEGAL_FUNCTION = 0x01,
    LF_EX_ILLEGAL_ADDRESS = 0x02,
    LF_EX_ILLEGAL_VALUE = 0x03,
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

/* Function 04. Fills out[0..count-1]; 0, LF_EX_ILLEGAL_VALUE for a count outside 1..125 or
 * LF_EX_ILLEGAL_ADDRESS past the table. `out` untouched on an exception. Unassigned registers
 * inside the table (13–15) read 0. */
int lf_regs_read_input(const struct lf_frame *frame, uint16_t addr, uint16_t count, uint16_t *out);
/* Function 03; as above over the holding table (the command register and register 1 read 0). */
int lf_regs_read_holding(const struct lf_frame *frame, uint16_t addr, uint16_t count, uint16_t *out);
/* Functions 06 and 16: all or nothing. Returns 0, or LF_EX_ILLEGAL_ADDRESS (outside the table,
 * register 1, or only one half of a 32-bit value), LF_EX_ILLEGAL_VALUE (count outside 1..123, an
 * unknown command or a setup value out of range) or LF_EX_DEVICE_BUSY (start, tare or a geometry
 * change while a test is running). The setup is applied first, then the command. */
int lf_regs_write_holding(struct lf_frame *frame, uint16_t addr, uint16_t count, const uint16_t *values);

#endif /* LF_REGS_H */
