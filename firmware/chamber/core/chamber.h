/*
 * chamber.h — the temperature chamber controller's firmware core: a first-order lag of the
 * chamber air towards the setpoint (time constant τ; towards ambient on standby), the same for its
 * relative humidity (own set point and time constant), the controller
 * output a proportional band derives from it, and the Modbus register map (../REGISTERS.md) whose
 * 32-bit values use word order CDAB, as many controllers do. Portable C11: no OS, no heap, no stdio.
 */
#ifndef CHAMBER_H
#define CHAMBER_H

#include <stddef.h>
#include <stdint.h>

#include "fwrt/core/fwrt.h"
#include "mbslave/core/mbslave.h"

enum ch_result {
    CH_OK = 0,
    CH_EINVAL = -1,
};

/* One control cycle of instrument time. */
#define CH_CYCLE_US 100000u
/* Setpoint limits (°C) and time-constant limits (s). */
#define CH_SETPOINT_MIN (-70.0f)
#define CH_SETPOINT_MAX 180.0f
#define CH_TAU_MIN 1.0f
#define CH_TAU_MAX 36000.0f
/* Output is 100 % per CH_PROPORTIONAL_BAND °C of error, clipped to ±100 % (negative: cooling). */
#define CH_PROPORTIONAL_BAND 10.0
/* Relative humidity set point limits (% RH). */
#define CH_RH_MIN 0.0f
#define CH_RH_MAX 100.0f
/* |setpoint − PV| within this band (°C) while running reads as status "stable". */
#define CH_STABLE_BAND 0.3

enum ch_status {
    CH_STATUS_STANDBY = 0,
    CH_STATUS_HEATING = 1,
    CH_STATUS_COOLING = 2,
    CH_STATUS_STABLE = 3,
};

struct ch_params {
    uint64_t seed;       /* sensor noise */
    double time_scale;   /* instrument seconds per hal second, (0, 10000] */
    double tau_s;        /* power-up time constant, [1, 36000] s */
    double ambient_c;    /* where the air drifts on standby and starts, [-40, 60] °C */
    double setpoint_c;   /* power-up setpoint, within the setpoint limits */
    double noise_c;      /* SD of the PV sensor, [0, 5] °C */
    double rh_ambient;   /* where the humidity starts and drifts on standby, [0, 100] % RH */
    double rh_setpoint;  /* power-up humidity set point, [0, 100] % RH */
    double rh_tau_s;     /* time constant of the humidity, [1, 36000] s */
    double rh_noise;     /* SD of the humidity sensor, [0, 10] % RH */
    int running;         /* power-up mode: 1 controlling, 0 standby */
    uint32_t serial_number;
    uint16_t cal_year, cal_month, cal_day;
};

struct ch_chamber {
    struct ch_params params;
    float setpoint_c; /* holding registers keep binary32, so a write reads back exactly */
    float tau_s;
    uint16_t running;
    double air_c;     /* true air temperature */
    double pv_c;      /* measured: air + noise */
    double output_pct;
    float rh_setpoint;
    double rh;        /* true relative humidity, % */
    double rh_pv;     /* measured: rh + noise, clipped to 0..100 */
    uint32_t cycle_counter;
    struct fw_rng noise_rng;
    struct fw_rng rh_noise_rng; /* its own stream: the temperature's noise does not depend on it */
    int clock_started;
    uint64_t clock_origin_us;
    uint64_t cycles_done;
};

/* Seed 1, time scale 1, τ 120 s, ambient 23 °C, setpoint 23 °C, noise 0.02 °C; humidity ambient and
 * set point 50 % RH, τ 300 s, noise 0.2 % RH; running, serial 1, calibrated 2026-06-01. */
void ch_params_defaults(struct ch_params *params);
/* 0, or CH_EINVAL with *why (if not NULL) set to a static one-line reason; chamber untouched then. */
int ch_init(struct ch_chamber *chamber, const struct ch_params *params, const char **why);
/* Advances one control cycle (CH_CYCLE_US of instrument time). */
void ch_cycle(struct ch_chamber *chamber);
/* Runs every cycle due up to now_us of the hal's monotonic clock (scaled); the first call sets the
 * origin. Long idle spells are caught up in closed form. */
void ch_step(struct ch_chamber *chamber, uint64_t now_us);
enum ch_status ch_status(const struct ch_chamber *chamber);

/* ---- register map ---------------------------------------------------------------------------*/
#define CH_FW_VERSION 0x0001 /* 0.1 */
#define CH_SLAVE_ID 0x43     /* 'C', function 17's device kind byte */

enum ch_input_reg {
    CH_IR_PV_X10 = 0,
    CH_IR_SETPOINT_X10 = 1,
    CH_IR_OUTPUT_X10 = 2,
    CH_IR_STATUS = 3,
    CH_IR_PV = 4,
    CH_IR_OUTPUT = 6,
    CH_IR_CYCLE_COUNTER = 8,
    CH_IR_RH = 10,
    CH_IR_RH_X10 = 12,
    CH_IR_RH_SETPOINT_X10 = 13,
    CH_IR_FW_VERSION = 16,
    CH_IR_SERIAL_NUMBER = 17,
    CH_IR_CAL_YEAR = 19,
    CH_IR_CAL_MONTH = 20,
    CH_IR_CAL_DAY = 21,
};
#define CH_INPUT_REG_COUNT 22

enum ch_holding_reg {
    CH_HR_MODE = 0,
    CH_HR_SETPOINT = 2,
    CH_HR_TAU = 4,
    CH_HR_SETPOINT_X10 = 6,
    CH_HR_RH_SETPOINT = 8,
};
#define CH_HOLDING_REG_COUNT 10

/* Functions 04 / 03 / 06+16 as the mbslave callbacks expect (0 or an exception code). */
int ch_regs_read_input(const struct ch_chamber *chamber, uint16_t addr, uint16_t count, uint16_t *out);
int ch_regs_read_holding(const struct ch_chamber *chamber, uint16_t addr, uint16_t count, uint16_t *out);
int ch_regs_write_holding(struct ch_chamber *chamber, uint16_t addr, uint16_t count, const uint16_t *values);
/* "polydaq TC-1 fw 0.1 SN 1"; at most size bytes with the NUL; returns the length. */
size_t ch_regs_identity(const struct ch_chamber *chamber, char *buf, size_t size);
/* The register tables for the Modbus slave; ctx is the struct ch_chamber. */
extern const struct mb_slave_tables ch_regs_tables;

#endif /* CHAMBER_H */
