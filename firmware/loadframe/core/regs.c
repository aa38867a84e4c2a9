/* regs.c — maps the load frame's state and setup onto Modbus input and holding registers. */
#include "loadframe/core/regs.h"

#include "fwrt/core/fwrt.h"

void lf_regs_put_u32(uint16_t regs[2], uint32_t value)
{
    regs[0] = (uint16_t)(value >> 16);
    regs[1] = (uint16_t)(value & 0xFFFFu);
}

uint32_t lf_regs_get_u32(const uint16_t regs[2])
{
    return ((uint32_t)regs[0] << 16) | regs[1];
}

void lf_regs_put_float(uint16_t regs[2], float value)
{
    uint32_t bits;
    fw_memcpy(&bits, &value, sizeof bits);
    lf_regs_put_u32(regs, bits);
}

float lf_regs_get_float(const uint16_t regs[2])
{
    uint32_t bits = lf_regs_get_u32(regs);
    float value;
    fw_memcpy(&value, &bits, sizeof value);
    return value;
}

static int check_range(uint16_t addr, uint16_t count, unsigned max_count, unsigned table_size)
{
    if (count < 1 || count > max_count)
        return LF_EX_ILLEGAL_VALUE;
    if ((unsigned)addr + count > table_size)
        return LF_EX_ILLEGAL_ADDRESS;
    return 0;
}

static void build_input_image(const struct lf_frame *f, uint16_t img[LF_INPUT_REG_COUNT])
{
    fw_memset(img, 0, LF_INPUT_REG_COUNT * sizeof img[0]);
    img[LF_IR_STATUS] = f->status;
    img[LF_IR_FLAGS] = f->flags;
    lf_regs_put_u32(&img[LF_IR_SAMPLE_COUNTER], f->sample_counter);
    lf_regs_put_float(&img[LF_IR_FORCE], (float)f->force_n);
    lf_regs_put_float(&img[LF_IR_EXTENSION], (float)f->extension_mm);
    lf_regs_put_float(&img[LF_IR_CROSSHEAD], (float)f->crosshead_mm);
    lf_regs_put_u32(&img[LF_IR_TEST_TIME], (uint32_t)(f->test_time_us / 1000u));
    img[LF_IR_SPECIMEN_NO] = f->specimen_no;
    img[LF_IR_FW_VERSION] = LF_FW_VERSION;
    lf_regs_put_u32(&img[LF_IR_SERIAL_NUMBER], f->params.serial_number);
    img[LF_IR_CAL_YEAR] = f->params.cal_year;
    img[LF_IR_CAL_MONTH] = f->params.cal_month;
    img[LF_IR_CAL_DAY] = f->params.cal_day;
}

static void build_holding_image(const struct lf_setup *s, uint16_t img[LF_HOLDING_REG_COUNT])
{
    fw_memset(img, 0, LF_HOLDING_REG_COUNT * sizeof img[0]);
    lf_regs_put_float(&img[LF_HR_SPEED_MODULUS], s->speed_modulus_mm_min);
    lf_regs_put_float(&img[LF_HR_SPEED_TEST], s->speed_test_mm_min);
    lf_regs_put_float(&img[LF_HR_SPEED_SWITCH_STRAIN], s->speed_switch_strain);
    lf_regs_put_float(&img[LF_HR_WIDTH], s->width_mm);
    lf_regs_put_float(&img[LF_HR_THICKNESS], s->thickness_mm);
    lf_regs_put_float(&img[LF_HR_GAUGE_LENGTH], s->gauge_length_mm);
    lf_regs_put_float(&img[LF_HR_GRIP_DISTANCE], s->grip_distance_mm);
}

static void parse_holding_image(const uint16_t img[LF_HOLDING_REG_COUNT], struct lf_setup *s)
{
    s->speed_modulus_mm_min = lf_regs_get_float(&img[LF_HR_SPEED_MODULUS]);
    s->speed_test_mm_min = lf_regs_get_float(&img[LF_HR_SPEED_TEST]);
    s->speed_switch_strain = lf_regs_get_float(&img[LF_HR_SPEED_SWITCH_STRAIN]);
    s->width_mm = lf_regs_get_float(&img[LF_HR_WIDTH]);
    s->thickness_mm = lf_regs_get_float(&img[LF_HR_THICKNESS]);
    s->gauge_length_mm = lf_regs_get_float(&img[LF_HR_GAUGE_LENGTH]);
    s->grip_distance_mm = lf_regs_get_float(&img[LF_HR_GRIP_DISTANCE]);
}

static void build_test_pattern(uint16_t img[LF_TEST_PATTERN_COUNT])
{
    fw_memset(img, 0, LF_TEST_PATTERN_COUNT * sizeof img[0]);
    for (int k = 0; k < 4; k++) {
        enum mb_word_order order = (enum mb_word_order)k;
        uint16_t *b = &img[k * LF_TEST_PATTERN_STRIDE];
        mb_put_u16(&b[LF_TP_INT16], (uint16_t)(int16_t)LF_TP_INT16_VALUE, order);
        mb_put_u16(&b[LF_TP_UINT16], (uint16_t)LF_TP_UINT16_VALUE, order);
        mb_put_u32(&b[LF_TP_INT32], (uint32_t)(int32_t)LF_TP_INT32_VALUE, order);
        mb_put_u32(&b[LF_TP_UINT32], (uint32_t)LF_TP_UINT32_VALUE, order);
        mb_put_float(&b[LF_TP_FLOAT32], LF_TP_FLOAT32_VALUE, order);
        mb_put_double(&b[LF_TP_FLOAT64], LF_TP_FLOAT64_VALUE, order);
    }
}

static int inside(uint16_t addr, uint16_t count, unsigned first, unsigned n)
{
    return addr >= first && (unsigned)addr + count <= first + n;
}

int lf_regs_read_input(const struct lf_frame *f, uint16_t addr, uint16_t count, uint16_t *out)
{
    if (count < 1 || count > LF_MAX_READ_COUNT)
        return LF_EX_ILLEGAL_VALUE;
    if (inside(addr, count, 0, LF_INPUT_REG_COUNT)) {
        uint16_t img[LF_INPUT_REG_COUNT];
        build_input_image(f, img);
        fw_memcpy(out, &img[addr], count * sizeof img[0]);
        return 0;
    }
    if (inside(addr, count, LF_IR_TEST_PATTERN, LF_TEST_PATTERN_COUNT)) {
        uint16_t img[LF_TEST_PATTERN_COUNT];
        build_test_pattern(img);
        fw_memcpy(out, &img[addr - LF_IR_TEST_PATTERN], count * sizeof img[0]);
        return 0;
    }
    if (inside(addr, count, LF_IR_FAULT_PROBE, 1))
        return LF_EX_DEVICE_FAILURE;
    return LF_EX_ILLEGAL_ADDRESS;
}

int lf_regs_read_holding(const struct lf_frame *f, uint16_t addr, uint16_t count, uint16_t *out)
{
    int ex = check_range(addr, count, LF_MAX_READ_COUNT, LF_HOLDING_REG_COUNT);
    if (ex)
        return ex;
    uint16_t img[LF_HOLDING_REG_COUNT];
    build_holding_image(&f->setup, img);
    fw_memcpy(out, &img[addr], count * sizeof img[0]);
    return 0;
}

/* Registers 2..15 hold FLOAT32 pairs starting at even addresses; a write must cover whole pairs. */
static int splits_a_pair(uint16_t first, uint16_t last)
{
    if (first >= LF_HR_SPEED_MODULUS && first % 2 == 1)
        return 1;
    if (last >= LF_HR_SPEED_MODULUS && last % 2 == 0)
        return 1;
    return 0;
}

static int geometry_differs(const struct lf_setup *a, const struct lf_setup *b)
{
    return a->width_mm != b->width_mm || a->thickness_mm != b->thickness_mm ||
           a->gauge_length_mm != b->gauge_length_mm || a->grip_distance_mm != b->grip_distance_mm;
}

int lf_regs_write_holding(struct lf_frame *f, uint16_t addr, uint16_t count, const uint16_t *values)
{
    int ex = check_range(addr, count, LF_MAX_WRITE_COUNT, LF_HOLDING_REG_COUNT);
    if (ex)
        return ex;
    uint16_t first = addr;
    uint16_t last = (uint16_t)(addr + count - 1);
    if (first <= 1 && last >= 1)
        return LF_EX_ILLEGAL_ADDRESS; /* register 1 is not assigned */
    if (splits_a_pair(first, last))
        return LF_EX_ILLEGAL_ADDRESS;

    uint16_t img[LF_HOLDING_REG_COUNT];
    build_holding_image(&f->setup, img);
    fw_memcpy(&img[addr], values, count * sizeof img[0]);
    struct lf_setup next;
    parse_holding_image(img, &next);
    if (lf_setup_validate(&next, NULL) != LF_OK)
        return LF_EX_ILLEGAL_VALUE;

    int has_command = first == LF_HR_COMMAND;
    uint16_t command = has_command ? values[0] : 0;
    if (has_command && (command < LF_CMD_START || command > LF_CMD_TARE))
        return LF_EX_ILLEGAL_VALUE;

    int running = f->status == LF_STATUS_RUNNING;
    if (running && geometry_differs(&next, &f->setup))
        return LF_EX_DEVICE_BUSY;
    if (running && (command == LF_CMD_START || command == LF_CMD_TARE))
        return LF_EX_DEVICE_BUSY;

    f->setup = next;
    switch (command) {
    case LF_CMD_START: lf_frame_start(f); break;
    case LF_CMD_STOP: lf_frame_stop(f); break;
    case LF_CMD_RETURN: lf_frame_return(f); break;
    case LF_CMD_TARE: lf_frame_tare(f); break;
    default: break;
    }
    return 0;
}

size_t lf_regs_identity(const struct lf_frame *f, char *buf, size_t size)
{
    return mb_identity_text(buf, size, "LF-1", LF_FW_VERSION_MAJOR, LF_FW_VERSION_MINOR, f->params.serial_number);
}

static int tables_read_input(void *ctx, uint16_t addr, uint16_t count, uint16_t *out)
{
    return lf_regs_read_input(ctx, addr, count, out);
}

static int tables_read_holding(void *ctx, uint16_t addr, uint16_t count, uint16_t *out)
{
    return lf_regs_read_holding(ctx, addr, count, out);
}

static int tables_write_holding(void *ctx, uint16_t addr, uint16_t count, const uint16_t *values)
{
    return lf_regs_write_holding(ctx, addr, count, values);
}

const struct mb_slave_tables lf_regs_tables = {
    .read_input = tables_read_input,
    .read_holding = tables_read_holding,
    .write_holding = tables_write_holding,
};
