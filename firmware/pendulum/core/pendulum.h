/*
 * pendulum.h — the instrumented Charpy pendulum's firmware core (ISO 179-1 impact tests): a hammer
 * of nominal energy E latched at the release angle α; a swing breaks the specimen, which absorbs
 * an energy drawn from the material's distribution; the rise angle β after the impact gives the
 * absorbed energy W·(cos β − cos α) − friction loss, with W = E / (1 − cos α). Register map in
 * ../REGISTERS.md. Portable C11: no OS, no heap, no stdio.
 */
#ifndef PENDULUM_H
#define PENDULUM_H

#include <stddef.h>
#include <stdint.h>

#include "fwrt/core/fwrt.h"
#include "mbslave/core/mbslave.h"

enum pn_result {
    PN_OK = 0,
    PN_EINVAL = -1,
};

/* Instrument time from release to the rise angle being read (one swing and back to the brake). */
#define PN_SWING_US 1000000u

enum pn_status {
    PN_STATUS_READY = 0,    /* latched at the release angle */
    PN_STATUS_SWINGING = 1,
    PN_STATUS_DONE = 2,     /* result shown, hammer on the brake: reset to latch again */
};

enum pn_flag {
    PN_FLAG_RESULT = 1u << 0,      /* a result since the last reset */
    PN_FLAG_OUT_OF_RANGE = 1u << 1, /* absorbed energy outside 10–80 % of nominal (ISO 179-1 validity) */
    PN_FLAG_NOT_BROKEN = 1u << 2,  /* the specimen stopped the hammer */
    PN_FLAG_SIMULATED = 1u << 3,
};

enum pn_command {
    PN_CMD_RELEASE = 1,
    PN_CMD_RESET = 2,
    PN_CMD_FREE_SWING = 3, /* no specimen: measures the friction loss */
};

struct pn_params {
    uint64_t seed;
    double time_scale;        /* (0, 10000] */
    double nominal_energy_j;  /* one of 0.5, 1, 2, 4, 5, 7.5, 15, 25, 50 */
    double release_angle_deg; /* [90, 170], 150 by default as on most Charpy pendulums */
    double friction_loss_j;   /* true loss per swing, [0, 5 % of nominal] */
    double energy_mean_j;     /* absorbed by a specimen: mean ... */
    double energy_sd_j;       /* ... and SD (draws clipped at ±3 SD and at 0) */
    double angle_noise_deg;   /* SD of the rise-angle encoder reading, [0, 1] */
    uint32_t serial_number;
    uint16_t cal_year, cal_month, cal_day;
};

struct pn_pendulum {
    struct pn_params params;
    double hammer_w;          /* W = E / (1 − cos α), J */
    uint16_t status;
    uint16_t flags;
    uint32_t impact_counter;
    int free_swing;           /* the current swing has no specimen */
    float absorbed_j;         /* last result, friction corrected */
    float rise_angle_deg;
    float friction_loss_j;    /* the value used for the correction (calibrated by a free swing) */
    uint64_t swing_end_us;    /* instrument time */
    uint64_t now_us;          /* instrument time as of the last step */
    struct fw_rng specimen_rng;
    struct fw_rng noise_rng;
    int clock_started;
    uint64_t clock_origin_us;
};

/* Seed 1, time scale 1, 1 J hammer, α 150°, friction 0.004 J, specimens 0.41 ± 0.02 J, encoder
 * noise 0.01°, serial 1, calibrated 2026-06-01. */
void pn_params_defaults(struct pn_params *params);
/* 0, or PN_EINVAL with *why (if not NULL) set; pendulum untouched then. */
int pn_init(struct pn_pendulum *pendulum, const struct pn_params *params, const char **why);
/* Advances instrument time to the hal clock (scaled); the first call sets the origin. Finishes a
 * swing whose time is up. */
void pn_step(struct pn_pendulum *pendulum, uint64_t now_us);
/* Commands: 0, or MB_EX_DEVICE_BUSY (release/free swing unless ready; reset while swinging). */
int pn_release(struct pn_pendulum *pendulum, int free_swing);
int pn_reset(struct pn_pendulum *pendulum);
/* The energy a swing with absorbed energy e (J) reads, without encoder noise (for checks). */
double pn_reading_for(const struct pn_pendulum *pendulum, double absorbed_j, double *rise_angle_deg);

/* ---- register map ---------------------------------------------------------------------------*/
#define PN_FW_VERSION 0x0001
#define PN_SLAVE_ID 0x50 /* 'P' */

enum pn_input_reg {
    PN_IR_STATUS = 0,
    PN_IR_FLAGS = 1,
    PN_IR_IMPACT_COUNTER = 2,
    PN_IR_ABSORBED_ENERGY = 4,
    PN_IR_RELEASE_ANGLE = 6,
    PN_IR_RISE_ANGLE = 8,
    PN_IR_FRICTION_LOSS = 10,
    PN_IR_NOMINAL_ENERGY = 12,
    PN_IR_FW_VERSION = 16,
    PN_IR_SERIAL_NUMBER = 17,
    PN_IR_CAL_YEAR = 19,
    PN_IR_CAL_MONTH = 20,
    PN_IR_CAL_DAY = 21,
};
#define PN_INPUT_REG_COUNT 22

enum pn_holding_reg {
    PN_HR_COMMAND = 0,
};
#define PN_HOLDING_REG_COUNT 1

int pn_regs_read_input(const struct pn_pendulum *pendulum, uint16_t addr, uint16_t count, uint16_t *out);
int pn_regs_read_holding(const struct pn_pendulum *pendulum, uint16_t addr, uint16_t count, uint16_t *out);
int pn_regs_write_holding(struct pn_pendulum *pendulum, uint16_t addr, uint16_t count, const uint16_t *values);
/* "polydaq CP-1 fw 0.1 SN 1" */
size_t pn_regs_identity(const struct pn_pendulum *pendulum, char *buf, size_t size);
extern const struct mb_slave_tables pn_regs_tables; /* ctx: struct pn_pendulum */

#endif /* PENDULUM_H */
