/*
 * model.h — the simulated tensile test inside the load frame: material curves (elastic line,
 * yield, necking, drawing plateau, break), the crosshead kinematics and the frame's state machine
 * (idle, running, broken, stopped, returning, fault). Portable C11: no OS, no heap, no stdio.
 */
#ifndef LF_MODEL_H
#define LF_MODEL_H

#include <stdint.h>

#include "fwrt/core/fwrt.h"

/* Results of core calls: 0 or one of these negative codes (the values match polydaq's pd_status
 * so the host side can pass them on unchanged). */
enum lf_result {
    LF_OK = 0,
    LF_EINVAL = -1, /* parameter out of range or inconsistent */
    LF_ESTATE = -9, /* not allowed in the frame's current state */
};

/* One measurement cycle of the instrument, in instrument (simulated) time. */
#define LF_CYCLE_US 1000u

/* Tensile behaviour of one material and the frame's sensor noise for it. Strains are fractions
 * (0.09 = 9 %), stresses MPa. A material with break_strain < yield_strain is brittle: it breaks
 * on the rising part of the curve. */
struct lf_material {
    const char *name;
    double modulus_mpa;        /* E */
    double yield_stress_mpa;   /* σy, the curve's maximum */
    double yield_strain;       /* εy, where σy is reached with zero slope */
    double draw_stress_mpa;    /* σd, stress after the neck has formed */
    double neck_end_strain;    /* εn, where the drop from σy to σd ends */
    double break_strain;       /* εb */
    double force_noise_n;      /* SD of the load-cell reading */
    double extension_noise_mm; /* SD of the extensometer reading */
    double scatter_rel;        /* specimen-to-specimen relative SD of E, σy, σd and εb */
};

/* Built-in materials ("pp-demo", "abs-demo", "pa6-demo", "brittle-demo"). Returns NULL for an
 * unknown name. */
const struct lf_material *lf_material_find(const char *name);
/* The i-th built-in material, NULL past the end (for listings). */
const struct lf_material *lf_material_at(unsigned index);
/* 0, or LF_EINVAL with *why (if why is not NULL) set to a static one-line reason. */
int lf_material_validate(const struct lf_material *material, const char **why);

/* The stress–strain curve of one specimen, precomputed from a material and its scatter. */
struct lf_curve {
    double modulus;
    double yield_stress;
    double yield_strain;
    double draw_stress;
    double neck_end_strain;
    double break_strain;
    double prop_strain;  /* εp: end of the exactly linear part */
    double prop_stress;  /* σp = E·εp */
    double rise_power;   /* k of σp + (σy−σp)(1−(1−x)^k); k = E(εy−εp)/(σy−σp) keeps slope E at εp */
    double plateau_rise; /* stress gained over the drawing plateau, εn → εb */
};

/* Builds the curve of `material` with E scaled by modulus_factor, σy and σd by strength_factor
 * and εb by break_factor (all 1 for the nominal material). 0 or LF_EINVAL with *why set; `curve`
 * untouched on failure. */
int lf_curve_init(struct lf_curve *curve, const struct lf_material *material, double modulus_factor,
                  double strength_factor, double break_factor, const char **why);
/* Engineering stress (MPa) of the intact specimen at `strain`; the break itself is the frame's
 * business. Compression (strain < 0) stays on the elastic line. */
double lf_curve_stress(const struct lf_curve *curve, double strain);

/* Input register 0 values. */
enum lf_frame_status {
    LF_STATUS_IDLE = 0,
    LF_STATUS_RUNNING = 1,
    LF_STATUS_BROKEN = 2,
    LF_STATUS_STOPPED = 3,
    LF_STATUS_RETURNING = 4,
    LF_STATUS_FAULT = 5,
};

/* Input register 1 bits. */
enum lf_frame_flag {
    LF_FLAG_BREAK = 1u << 0,
    LF_FLAG_OVERLOAD = 1u << 1,
    LF_FLAG_EXTENSOMETER = 1u << 2,
    LF_FLAG_SIMULATED = 1u << 3,
};

/* Test setup as held in the holding registers (kept as binary32 so a write reads back exactly). */
struct lf_setup {
    float speed_modulus_mm_min;
    float speed_test_mm_min;
    float speed_switch_strain;
    float width_mm;
    float thickness_mm;
    float gauge_length_mm;
    float grip_distance_mm;
};

/* The register map's power-up defaults (1 / 50 mm/min, switch at 0.3 %, 10 × 4 mm, L0 75, L 115). */
void lf_setup_defaults(struct lf_setup *setup);
/* 0, or LF_EINVAL with *why set when a value is out of range or L0 > L. */
int lf_setup_validate(const struct lf_setup *setup, const char **why);

/* Fixed at power-up. */
struct lf_frame_params {
    struct lf_material material;
    uint64_t seed;          /* drives specimen scatter and sensor noise */
    double time_scale;      /* instrument seconds per hal second (> 0) */
    uint32_t serial_number;
    uint16_t cal_year, cal_month, cal_day;
    int simulated;          /* sets LF_FLAG_SIMULATED */
    double force_offset_n;  /* load-cell zero offset before the first tare */
    double capacity_n;      /* load-cell capacity; beyond it the frame stops with a fault */
    double return_speed_mm_min;
};

/* pp-demo, seed 1, time scale 1, serial 1, calibrated 2026-06-01, simulated, no offset,
 * 10 kN capacity, return at 600 mm/min. */
void lf_frame_params_defaults(struct lf_frame_params *params);
/* 0, or LF_EINVAL with *why set. */
int lf_frame_params_validate(const struct lf_frame_params *params, const char **why);

struct lf_frame {
    struct lf_frame_params params;
    struct lf_setup setup;
    struct lf_curve curve;        /* the current specimen's */
    struct fw_rng specimen_rng;   /* scatter only, so specimen n is the same whatever the polling */
    struct fw_rng noise_rng;
    uint16_t status;              /* enum lf_frame_status */
    uint16_t flags;               /* enum lf_frame_flag bits */
    uint16_t specimen_no;
    uint32_t sample_counter;
    uint64_t test_time_us;        /* instrument time since start */
    int speed_switched;
    double crosshead_mm;          /* ΔL, true */
    double strain;                /* true engineering strain, homogeneous over the specimen */
    double specimen_force_n;      /* true force carried by the specimen */
    double tare_n;
    double force_n;               /* measured: specimen force + offset − tare + noise */
    double extension_mm;          /* measured ΔL0 */
    /* lf_step's clock */
    int clock_started;
    uint64_t clock_origin_us;
    uint64_t cycles_done;
};

/* 0, or LF_EINVAL with *why set (frame untouched). The frame starts idle with specimen_no 0. */
int lf_frame_init(struct lf_frame *frame, const struct lf_frame_params *params, const char **why);
/* Commands; each returns 0 or LF_ESTATE. start: a new specimen (not while running); stop: halt the
 * crosshead (status stopped; no-op unless running); return: move the crosshead back to 0 and go
 * idle (stops first when running); tare: zero the force reading (not while running). */
int lf_frame_start(struct lf_frame *frame);
int lf_frame_stop(struct lf_frame *frame);
int lf_frame_return(struct lf_frame *frame);
int lf_frame_tare(struct lf_frame *frame);
/* Advances one measurement cycle (LF_CYCLE_US of instrument time) and refreshes the readings. */
void lf_frame_cycle(struct lf_frame *frame);
/* The crosshead speed the frame is commanding now (mm/min, 0 when not moving; negative when returning). */
double lf_frame_speed(const struct lf_frame *frame);

#endif /* LF_MODEL_H */
