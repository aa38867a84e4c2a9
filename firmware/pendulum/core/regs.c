/* regs.c — the pendulum's Modbus register map: results and identity as input registers, one command register. */
#include "pendulum/core/pendulum.h"

#define ORDER MB_ORDER_ABCD

static void build_input_image(const struct pn_pendulum *pn, uint16_t img[PN_INPUT_REG_COUNT])
{
    fw_memset(img, 0, PN_INPUT_REG_COUNT * sizeof img[0]);
    img[PN_IR_STATUS] = pn->status;
    img[PN_IR_FLAGS] = pn->flags;
    mb_put_u32(&img[PN_IR_IMPACT_COUNTER], pn->impact_counter, ORDER);
    mb_put_float(&img[PN_IR_ABSORBED_ENERGY], pn->absorbed_j, ORDER);
    mb_put_float(&img[PN_IR_RELEASE_ANGLE], (float)pn->params.release_angle_deg, ORDER);
    mb_put_float(&img[PN_IR_RISE_ANGLE], pn->rise_angle_deg, ORDER);
    mb_put_float(&img[PN_IR_FRICTION_LOSS], pn->friction_loss_j, ORDER);
    mb_put_float(&img[PN_IR_NOMINAL_ENERGY], (float)pn->params.nominal_energy_j, ORDER);
    img[PN_IR_FW_VERSION] = PN_FW_VERSION;
    mb_put_u32(&img[PN_IR_SERIAL_NUMBER], pn->params.serial_number, ORDER);
    img[PN_IR_CAL_YEAR] = pn->params.cal_year;
    img[PN_IR_CAL_MONTH] = pn->params.cal_month;
    img[PN_IR_CAL_DAY] = pn->params.cal_day;
}

static int inside(uint16_t addr, uint16_t count, unsigned first, unsigned n)
{
    return addr >= first && (unsigned)addr + count <= first + n;
}

int pn_regs_read_input(const struct pn_pendulum *pn, uint16_t addr, uint16_t count, uint16_t *out)
{
    if (count < 1 || count > MB_MAX_READ_COUNT)
        return MB_EX_ILLEGAL_VALUE;
    if (!inside(addr, count, 0, PN_INPUT_REG_COUNT))
        return MB_EX_ILLEGAL_ADDRESS;
    uint16_t img[PN_INPUT_REG_COUNT];
    build_input_image(pn, img);
    fw_memcpy(out, &img[addr], count * sizeof img[0]);
    return 0;
}

int pn_regs_read_holding(const struct pn_pendulum *pn, uint16_t addr, uint16_t count, uint16_t *out)
{
    (void)pn;
    if (count < 1 || count > MB_MAX_READ_COUNT)
        return MB_EX_ILLEGAL_VALUE;
    if (!inside(addr, count, 0, PN_HOLDING_REG_COUNT))
        return MB_EX_ILLEGAL_ADDRESS;
    out[0] = 0; /* the command register reads back 0 */
    return 0;
}

int pn_regs_write_holding(struct pn_pendulum *pn, uint16_t addr, uint16_t count, const uint16_t *values)
{
    if (count < 1 || count > MB_MAX_WRITE_COUNT)
        return MB_EX_ILLEGAL_VALUE;
    if (!inside(addr, count, 0, PN_HOLDING_REG_COUNT))
        return MB_EX_ILLEGAL_ADDRESS;
    switch (values[0]) {
    case PN_CMD_RELEASE: return pn_release(pn, 0);
    case PN_CMD_FREE_SWING: return pn_release(pn, 1);
    case PN_CMD_RESET: return pn_reset(pn);
    default: return MB_EX_ILLEGAL_VALUE;
    }
}

size_t pn_regs_identity(const struct pn_pendulum *pn, char *buf, size_t size)
{
    return mb_identity_text(buf, size, "CP-1", PN_FW_VERSION >> 8, PN_FW_VERSION & 0xFF, pn->params.serial_number);
}

static int tables_read_input(void *ctx, uint16_t addr, uint16_t count, uint16_t *out)
{
    return pn_regs_read_input(ctx, addr, count, out);
}

static int tables_read_holding(void *ctx, uint16_t addr, uint16_t count, uint16_t *out)
{
    return pn_regs_read_holding(ctx, addr, count, out);
}

static int tables_write_holding(void *ctx, uint16_t addr, uint16_t count, const uint16_t *values)
{
    return pn_regs_write_holding(ctx, addr, count, values);
}

const struct mb_slave_tables pn_regs_tables = {
    .read_input = tables_read_input,
    .read_holding = tables_read_holding,
    .write_holding = tables_write_holding,
};
