/* regs.c — the chamber controller's Modbus register map (32-bit values in CDAB word order). */
#include "chamber/core/chamber.h"

#define ORDER MB_ORDER_CDAB

static int inside(uint16_t addr, uint16_t count, unsigned first, unsigned n)
{
    return addr >= first && (unsigned)addr + count <= first + n;
}

/* Tenths as INT16, rounded half away from zero and clipped to the type. */
static uint16_t tenths(double v)
{
    double x = v * 10.0;
    x = x >= 0.0 ? x + 0.5 : x - 0.5;
    if (x > 32767.0)
        x = 32767.0;
    if (x < -32768.0)
        x = -32768.0;
    return (uint16_t)(int16_t)x;
}

static void build_input_image(const struct ch_chamber *c, uint16_t img[CH_INPUT_REG_COUNT])
{
    fw_memset(img, 0, CH_INPUT_REG_COUNT * sizeof img[0]);
    img[CH_IR_PV_X10] = tenths(c->pv_c);
    img[CH_IR_SETPOINT_X10] = tenths((double)c->setpoint_c);
    img[CH_IR_OUTPUT_X10] = tenths(c->output_pct);
    img[CH_IR_STATUS] = (uint16_t)ch_status(c);
    mb_put_float(&img[CH_IR_PV], (float)c->pv_c, ORDER);
    mb_put_float(&img[CH_IR_OUTPUT], (float)c->output_pct, ORDER);
    mb_put_u32(&img[CH_IR_CYCLE_COUNTER], c->cycle_counter, ORDER);
    mb_put_float(&img[CH_IR_RH], (float)c->rh_pv, ORDER);
    img[CH_IR_RH_X10] = tenths(c->rh_pv);
    img[CH_IR_RH_SETPOINT_X10] = tenths((double)c->rh_setpoint);
    img[CH_IR_FW_VERSION] = CH_FW_VERSION;
    mb_put_u32(&img[CH_IR_SERIAL_NUMBER], c->params.serial_number, ORDER);
    img[CH_IR_CAL_YEAR] = c->params.cal_year;
    img[CH_IR_CAL_MONTH] = c->params.cal_month;
    img[CH_IR_CAL_DAY] = c->params.cal_day;
}

static void build_holding_image(const struct ch_chamber *c, uint16_t img[CH_HOLDING_REG_COUNT])
{
    fw_memset(img, 0, CH_HOLDING_REG_COUNT * sizeof img[0]);
    img[CH_HR_MODE] = c->running;
    mb_put_float(&img[CH_HR_SETPOINT], c->setpoint_c, ORDER);
    mb_put_float(&img[CH_HR_TAU], c->tau_s, ORDER);
    img[CH_HR_SETPOINT_X10] = tenths((double)c->setpoint_c);
    mb_put_float(&img[CH_HR_RH_SETPOINT], c->rh_setpoint, ORDER);
}

int ch_regs_read_input(const struct ch_chamber *c, uint16_t addr, uint16_t count, uint16_t *out)
{
    if (count < 1 || count > MB_MAX_READ_COUNT)
        return MB_EX_ILLEGAL_VALUE;
    if (!inside(addr, count, 0, CH_INPUT_REG_COUNT))
        return MB_EX_ILLEGAL_ADDRESS;
    uint16_t img[CH_INPUT_REG_COUNT];
    build_input_image(c, img);
    fw_memcpy(out, &img[addr], count * sizeof img[0]);
    return 0;
}

int ch_regs_read_holding(const struct ch_chamber *c, uint16_t addr, uint16_t count, uint16_t *out)
{
    if (count < 1 || count > MB_MAX_READ_COUNT)
        return MB_EX_ILLEGAL_VALUE;
    if (!inside(addr, count, 0, CH_HOLDING_REG_COUNT))
        return MB_EX_ILLEGAL_ADDRESS;
    uint16_t img[CH_HOLDING_REG_COUNT];
    build_holding_image(c, img);
    fw_memcpy(out, &img[addr], count * sizeof img[0]);
    return 0;
}

static int covers(uint16_t first, uint16_t last, unsigned reg)
{
    return first <= reg && reg <= last;
}

static int float_in(float v, float lo, float hi)
{
    return fw_isfinitef(v) && v >= lo && v <= hi;
}

int ch_regs_write_holding(struct ch_chamber *c, uint16_t addr, uint16_t count, const uint16_t *values)
{
    if (count < 1 || count > MB_MAX_WRITE_COUNT)
        return MB_EX_ILLEGAL_VALUE;
    if (!inside(addr, count, 0, CH_HOLDING_REG_COUNT))
        return MB_EX_ILLEGAL_ADDRESS;
    uint16_t first = addr, last = (uint16_t)(addr + count - 1);
    if (covers(first, last, 1) || covers(first, last, 7))
        return MB_EX_ILLEGAL_ADDRESS; /* unassigned */
    /* FLOAT32 pairs at 2, 4 and 8 must be written whole */
    if (first == 3 || first == 5 || first == 9 || last == 2 || last == 4 || last == 8)
        return MB_EX_ILLEGAL_ADDRESS;

    uint16_t img[CH_HOLDING_REG_COUNT];
    build_holding_image(c, img);
    fw_memcpy(&img[addr], values, count * sizeof img[0]);
    uint16_t mode = img[CH_HR_MODE];
    float setpoint = mb_get_float(&img[CH_HR_SETPOINT], ORDER);
    float tau = mb_get_float(&img[CH_HR_TAU], ORDER);
    float rh_setpoint = mb_get_float(&img[CH_HR_RH_SETPOINT], ORDER);
    if (covers(first, last, CH_HR_SETPOINT_X10)) {
        if (covers(first, last, CH_HR_SETPOINT))
            return MB_EX_ILLEGAL_VALUE; /* two setpoints in one write: ambiguous */
        setpoint = (float)((double)(int16_t)img[CH_HR_SETPOINT_X10] / 10.0);
    }
    if (mode > 1 || !float_in(setpoint, CH_SETPOINT_MIN, CH_SETPOINT_MAX) || !float_in(tau, CH_TAU_MIN, CH_TAU_MAX) ||
        !float_in(rh_setpoint, CH_RH_MIN, CH_RH_MAX))
        return MB_EX_ILLEGAL_VALUE;
    c->running = mode;
    c->setpoint_c = setpoint;
    c->tau_s = tau;
    c->rh_setpoint = rh_setpoint;
    return 0;
}

size_t ch_regs_identity(const struct ch_chamber *c, char *buf, size_t size)
{
    return mb_identity_text(buf, size, "TC-1", CH_FW_VERSION >> 8, CH_FW_VERSION & 0xFF, c->params.serial_number);
}

static int tables_read_input(void *ctx, uint16_t addr, uint16_t count, uint16_t *out)
{
    return ch_regs_read_input(ctx, addr, count, out);
}

static int tables_read_holding(void *ctx, uint16_t addr, uint16_t count, uint16_t *out)
{
    return ch_regs_read_holding(ctx, addr, count, out);
}

static int tables_write_holding(void *ctx, uint16_t addr, uint16_t count, const uint16_t *values)
{
    return ch_regs_write_holding(ctx, addr, count, values);
}

const struct mb_slave_tables ch_regs_tables = {
    .read_input = tables_read_input,
    .read_holding = tables_read_holding,
    .write_holding = tables_write_holding,
};
