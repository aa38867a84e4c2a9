/*
 * cert.h — from raw run data to certified results: evaluation of a specimen per test method
 * (pure functions over arrays), series statistics, specification files and limit checks, and the
 * certificate document. Nothing here talks to instruments; runs are read through store.h.
 */
#ifndef PD_CERT_H
#define PD_CERT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"
#include "trust/trust.h" /* pd_sha256_file, keys */

/* ---- ISO 527-1/-2 tensile -------------------------------------------------------------------*/
struct pd_tensile_specimen {
    const double *force_N;      /* n samples */
    const double *extension_mm; /* extensometer extension ΔL0, n samples; NULL = no extensometer */
    const double *crosshead_mm; /* grip-distance increase ΔL, n samples; NULL when not recorded */
    size_t n;
    double width_mm, thickness_mm; /* measured b, h: A0 = b·h */
    double gauge_length_mm;        /* L0 */
    double grip_distance_mm;       /* L, for nominal strain; 0 = unknown */
};

enum pd_modulus_method { PD_MODULUS_CHORD = 0, PD_MODULUS_REGRESSION = 1 };
enum pd_strain_source { PD_STRAIN_EXTENSOMETER = 0, PD_STRAIN_CROSSHEAD = 1 };

struct pd_tensile_params {
    double e1, e2;             /* modulus strain range as fractions: 0.0005, 0.0025 */
    enum pd_modulus_method modulus_method;
    /* Chord: σ at e1/e2 by linear interpolation between the two samples that bracket each
     * (ISO 527-1; default 0). > 0: from a least-squares line through the samples within
     * ±chord_window strain of the target instead — a deviation the certificate states. */
    double chord_window;
    size_t min_modulus_points; /* refuse the modulus with fewer samples in [e1, e2] (default 20) */
    double break_fraction;     /* break: first sample with σ ≤ break_fraction·σmax (0.10) */
    double max_hysteresis;     /* a local max counts once σ falls below it by this fraction of the
                                  curve's highest stress (0.005), and by at least 10 noise SDs */
    /* Method A without extensometer: strain = ΔL/L from the crosshead. No modulus then (crosshead
     * strain includes the machine's compliance, ISO 527-1); strength, yield and break only. */
    enum pd_strain_source strain_source;
    /* Toe compensation: shift the strain origin to where the steepest secant (over e2 − e1) of
     * the initial part crosses σ = 0. Off by default; when applied, the result says so. */
    bool toe_compensation;
    /* Maximum/yield search on a moving average over this strain width, reported as its value
     * (a deviation). 0 = the default: the width follows the curve's measured noise (none on a
     * quiet curve) and the value comes from a local parabola. The raw maximum near the smoothed
     * one is kept as well, for the audit trail. */
    double yield_smoothing;
    /* Grip slip: a sudden fall of at least grip_slip_min_drop (fraction of the stress just before
     * it, 0.02) that climbs back to within max_hysteresis of that stress while the strain keeps
     * rising, all within grip_slip_window strain (0.005) of the fall's start, is the specimen
     * sliding in the grips — a saw tooth, neither yield nor break. It is skipped by both searches
     * and reported. grip_slip_window 0 turns the detection off. With yield_smoothing the tooth
     * must still show in the moving average (the window is widened by the smoothing width). */
    double grip_slip_window;
    double grip_slip_min_drop;
    /* Half-width of the extensometer's absolute error (mm, ISO 9513 class 1: 0.003), turned into
     * the modulus' standard uncertainty over the extension (e2 − e1)·L0 (0 = none). */
    double displacement_abs_mm;
};
void pd_tensile_params_default(struct pd_tensile_params *p);

#define PD_TENSILE_MAX_SLIPS 8
struct pd_tensile_result {
    bool has_modulus;            /* false with modulus_na_reason (crosshead strain, range not covered) */
    double modulus_MPa;          /* Et; NaN without modulus */
    size_t modulus_points;       /* samples in [e1, e2] */
    bool toe_compensated;        /* the strain origin was shifted by toe_offset */
    double toe_offset;           /* ε0, fraction; 0 without compensation */
    char modulus_na_reason[160]; /* why there is no modulus ("" with one) */
    double noise_MPa;            /* measured noise SD of the stress (MAD of 4th differences) */
    double strain_noise;         /* the same of the strain over the chord's samples (0 otherwise) */
    double modulus_u_noise_MPa;  /* standard uncertainty of Et from the curve's own noise (chord:
                                    the interpolated stresses' noise; regression: the slope's SE) */
    double modulus_u_extensometer_MPa; /* from displacement_abs_mm over (e2 − e1)·L0 */
    double strength_MPa;         /* σm: first local maximum (ISO 527-1:2012) */
    double strain_at_strength;   /* εm, fraction */
    bool has_yield;              /* a confirmed maximum after which the specimen keeps deforming
                                    (not one followed only by the fracture) */
    double yield_stress_MPa, yield_strain;          /* NaN without yield ("n/a", never 0) */
    double yield_raw_max_MPa;    /* the raw maximum near the (smoothed) yield; NaN without yield */
    size_t max_half_width;       /* samples each side the value at the maximum was fitted over (0: the sample) */
    bool max_fracture;           /* the maximum was followed only by the fracture: no yield */
    bool load_drop;              /* a sudden fall (not a grip slip) ended the maximum */
    double load_drop_strain, load_drop_fraction; /* where, and the single step's fall (fraction) */
    bool higher_after_max;       /* the stress later rose above the first local maximum */
    double highest_after_MPa;    /* the highest (averaged) stress after it; NaN otherwise */
    bool has_break;
    size_t break_index;          /* the evaluated break point: the sample before σ ≤ 10 % σmax;
                                    the last sample when nothing broke */
    double stress_at_break_MPa, strain_at_break;    /* NaN without break */
    double nominal_strain_at_break; /* εtb = ΔL/L at the break point (Method A); NaN without crosshead/break */
    size_t grip_slips;           /* saw teeth skipped as grip slips (all of them; the first
                                    PD_TENSILE_MAX_SLIPS are described below) */
    double grip_slip_strain[PD_TENSILE_MAX_SLIPS]; /* strain where the fall started, fraction */
    double grip_slip_drop[PD_TENSILE_MAX_SLIPS];   /* depth of the fall, fraction of the stress before it */
};
/* Fails with PD_EDATA (and a message saying why) for data that cannot be evaluated: too few
 * points, NaN/inf, non-positive dimensions, no rising elastic range. `out` untouched then. Data
 * starting past e1, a modulus range not reached or too sparse, and crosshead strain give
 * has_modulus false with modulus_na_reason, and every other result. The maximum search
 * (σm, σy) follows the measured noise: see docs/CERTIFICATES.md "Maximum and yield".
 * `p` NULL means pd_tensile_params_default. Break and local-maximum detection are armed only once
 * the strain has passed e2 (before that a drop is noise on a near-zero load). */
int pd_tensile_evaluate(const struct pd_tensile_specimen *sp, const struct pd_tensile_params *p,
                        struct pd_tensile_result *out, struct pd_err *err);

/* ---- ISO 178 flexural (3-point bending) -----------------------------------------------------*/
struct pd_flexural_params {
    double e1, e2;              /* flexural strain range of the modulus, 0.0005 / 0.0025 */
    double conventional_factor; /* sC = factor·h (1.5) */
    double break_fraction;      /* as tensile (0.10) */
    double max_hysteresis;      /* as tensile (0.005; the same noise-following search) */
    size_t min_modulus_points;  /* (5) */
    /* Machine compliance C in mm/N (loading frame, supports, load cell: measured on a rigid dummy).
     * The deflection used is s − C·F, so a deflection taken from the crosshead is corrected for the
     * machine's own give before εf = 6sh/L² (ISO 178). 0 = deflectometer on the specimen. */
    double compliance_mm_per_N;
    /* Deflectometer's absolute error half-width, mm (ISO 9513 class 1: 0.003), over the deflection
     * range of the modulus (εf2 − εf1)·L²/(6h); 0 = none. */
    double displacement_abs_mm;
};
void pd_flexural_params_default(struct pd_flexural_params *p);
struct pd_flexural_result {
    bool has_modulus;                   /* false with modulus_na_reason (range not covered, sparse) */
    double modulus_MPa;                 /* Ef, chord by interpolation at exactly εf1/εf2; NaN without */
    char modulus_na_reason[160];        /* why there is no Ef ("" with one) */
    bool has_maximum;                   /* a maximum (or break) before sC */
    double max_stress_MPa, strain_at_max; /* σfM, εfM: the highest maximum before sC (NaN without) */
    size_t maxima;                      /* maxima before sC the search found (σfM the highest of them) */
    double first_max_MPa, first_max_strain; /* the first of them, when σfM is a later one (else NaN) */
    bool higher_after_max;              /* the stress later rose above σfM without a maximum before sC */
    double highest_after_MPa;           /* that stress (NaN otherwise) */
    bool has_break;
    double stress_at_break_MPa, strain_at_break; /* σfB, εfB (NaN without) */
    bool reached_conventional;
    double conventional_stress_MPa;     /* σfC at sC when no maximum came before it (else NaN) */
    double conventional_strain;         /* εfC = 6·factor·h²/L², the strain at sC */
    double end_strain;                  /* the last strain evaluated: the break point or the last sample */
    bool broke_past_conventional;       /* broke after sC without a maximum before it (σfB not reported) */
    double noise_MPa;                   /* measured noise SD of the flexural stress */
    double modulus_u_noise_MPa;         /* u(Ef) from the interpolated stresses' noise */
    double modulus_u_deflectometer_MPa; /* u(Ef) from displacement_abs_mm */
    size_t max_half_width;              /* samples each side of the maximum's fit (0: the sample) */
    bool load_drop;                     /* a sudden fall confirmed the maximum */
    double load_drop_strain, load_drop_fraction;
};
/* force N, deflection mm (mid-span s), b, h, span L in mm. σf = 3FL/(2bh²), εf = 6(s − C·F)h/L².
 * Fails with PD_EDATA for data that cannot be evaluated (fewer than 3 samples, NaN/inf, dimensions,
 * a modulus range that does not rise); data starting past εf1 or a modulus range not reached or too
 * sparse give has_modulus false with modulus_na_reason, and every other result (PD_EDATA when there
 * is then no other result either: no maximum and sC not reached). σfM is the maximum
 * flexural stress before sC (ISO 178 3.4: the highest of the confirmed local maxima, not the first);
 * sC is reached by a sample at or beyond it (a test stopped at sC has σfC). */
int pd_flexural_evaluate(const double *force_N, const double *deflection_mm, size_t n, double width_mm,
                         double thickness_mm, double span_mm, const struct pd_flexural_params *p,
                         struct pd_flexural_result *out, struct pd_err *err);

/* ---- ISO 179-1 Charpy -----------------------------------------------------------------------*/
enum pd_break_type { PD_BREAK_C = 0, PD_BREAK_H, PD_BREAK_P, PD_BREAK_N };
/* Break type from its letter (C, H, P, N); -1 for anything else. */
int pd_break_type_parse(const char *s);
/* a = (W − loss)/(h·b)·10³ kJ/m² with b the width (unnotched) or the remaining width bN (notched).
 * Refuses W <= loss, non-positive dimensions, and W outside [energy_min, energy_max]·nominal
 * when nominal_J > 0 (the 10–80 % window of the pendulum). */
int pd_charpy_evaluate(double energy_J, double loss_J, double thickness_mm, double width_mm, double nominal_J,
                       double energy_min, double energy_max, double *impact_kJ_m2, struct pd_err *err);

/* ---- ISO 1133-1 MFR / MVR -------------------------------------------------------------------*/
struct pd_uncertainty_budget; /* below */
/* MFR = 600·m̄/t g/10 min over the cut-off masses; *spread = (max − min)/mean. Refuses n < min_cuts
 * and a spread above max_spread (the 15 % rule) with PD_EDATA (outputs still untouched). */
int pd_mfr_evaluate(const double *mass_g, size_t n, double interval_s, size_t min_cuts, double max_spread,
                    double *mfr, double *spread, struct pd_err *err);
/* MVR = A·600·l/t cm³/10 min from a least-squares line through piston position (mm) against time
 * (s) — the slope, not two end points. area_cm2: 0.711. */
int pd_mvr_evaluate(const double *time_s, const double *position_mm, size_t n, double area_cm2, double *mvr,
                    struct pd_err *err);

/* Procedure A with each weighed extrudate paired with its own cut-off interval. Interval i runs
 * from cut i to cut i + 1 (the first cut after preheat only opens the first interval: what came
 * out before it is discarded). */
struct pd_mfr_cuts {
    const double *cut_s;            /* cut-off times, s, strictly increasing; NULL: nominal interval_s */
    const double *cut_half_width_s; /* half-width of each cut time (the sampling gap it fell in); NULL = exact */
    size_t n_cuts;
    double interval_s;              /* every interval's length when cut_s is NULL */
    const double *mass_g;           /* pair k: the mass of one extrudate */
    const size_t *interval;         /* pair k: its interval (cut interval[k] → interval[k] + 1); NULL with cut_s NULL */
    size_t n;                       /* pairs */
};
/* MFR = 600·mean(m_k/t_k) g/10 min; *spread = (max − min)/mean of the rates m_k/t_k (of the masses when
 * every t is the same). Refuses n < min_cuts and a spread above max_spread (the 15 % rule). */
int pd_mfr_evaluate_cuts(const struct pd_mfr_cuts *c, size_t min_cuts, double max_spread, double *mfr, double *spread,
                         struct pd_err *err);
/* Pairs weighings with cut-off intervals, first in first out: a weighing at weigh_s[j] takes the
 * oldest interval that had closed (its ending cut at or before weigh_s[j]) and has no weighing yet;
 * none → interval_of[j] = SIZE_MAX (weighed before its piece was cut, or a piece too many). Times on
 * one clock, cut_s strictly increasing, weigh_s non-decreasing; *n_pairs = weighings paired. */
int pd_mfr_pair(const double *cut_s, size_t n_cuts, const double *weigh_s, size_t n_weighings, size_t *interval_of,
                size_t *n_pairs, struct pd_err *err);
/* MVR over the ISO 1133 measuring window only: the samples whose piston lower edge, at height
 * start_height_mm − travel above the die, lies within [window_bottom_mm, window_top_mm] (20–50 mm).
 * Fewer than min_points such samples ("window not reached") is PD_EDATA with the heights seen. */
struct pd_mvr_window {
    double mvr;           /* cm³/10 min */
    size_t points;        /* samples fitted */
    double t_from, t_to;  /* time span fitted, s */
    double travel_mm;     /* piston travel over the fit, slope·(t_to − t_from) */
    double slope_rel_se;  /* standard error of the slope / slope (the fit's own scatter) */
};
int pd_mvr_evaluate_window(const double *time_s, const double *travel_mm, size_t n, double start_height_mm,
                           double window_top_mm, double window_bottom_mm, double area_cm2, size_t min_points,
                           struct pd_mvr_window *out, struct pd_err *err);
/* Standard uncertainties (GUM, see docs/CERTIFICATES.md §5), in the result's unit. MFR: balance
 * (mass_abs mg, one error common to the cut-offs' similar loads; mass % common), each cut time's
 * half-width (exact sensitivities, neighbouring intervals share a cut), timer %, and barrel
 * temperature: relative sensitivity temp_coeff (%/K) on u_T² = (a_T)²/3 + temp_rms_dev_K². MVR: piston
 * displacement %, timer %, area %, the same temperature term and the fit's relative slope error. */
double pd_mfr_uncertainty(const struct pd_mfr_cuts *c, double mfr, const struct pd_uncertainty_budget *b,
                          double temp_coeff_percent_per_K, double temp_rms_dev_K);
double pd_mvr_uncertainty(double mvr, double slope_rel_se, const struct pd_uncertainty_budget *b,
                          double temp_coeff_percent_per_K, double temp_rms_dev_K);

/* ---- ISO 868 Shore durometer ----------------------------------------------------------------*/
/* Mean of the readings whose dwell lies within dwell_s ± tolerance_s; *used = how many. Fewer than
 * min_readings accepted readings, or a reading outside 0..100, is PD_EDATA. */
int pd_shore_evaluate(const double *reading, const double *dwell_s, size_t n, double dwell_target_s,
                      double tolerance_s, size_t min_readings, double *mean, size_t *used, struct pd_err *err);

/* ---- ISO 1183-1 method A density ------------------------------------------------------------*/
/* ρ = mA·ρIL/(mA − mIL); with a sinker (sinker_in_liquid > 0): ρ = mA·ρIL/(mA + mK,IL − mS+K,IL). */
int pd_density_evaluate(double mass_in_air_g, double mass_in_liquid_g, double liquid_density, double sinker_in_liquid_g,
                        double both_in_liquid_g, double *density, struct pd_err *err);
/* Standard uncertainty of that ρ (g/cm³) with the model's own sensitivity coefficients: each weighing
 * an independent error (balance mass_abs mg and mass % of its reading, rectangular), the liquid
 * density % (relative sensitivity 1). PD_EDATA for inputs pd_density_evaluate refuses. */
int pd_density_uncertainty(double mass_in_air_g, double mass_in_liquid_g, double liquid_density,
                           double sinker_in_liquid_g, double both_in_liquid_g, const struct pd_uncertainty_budget *b,
                           double *u, struct pd_err *err);

/* ---- ISO 75 HDT and ISO 306 Vicat -----------------------------------------------------------*/
/* The temperature at which the deflection (zeroed at the first sample) first reaches `threshold_mm`,
 * by linear interpolation between the bracketing samples. PD_EDATA when it never does. */
int pd_threshold_temperature(const double *temperature_C, const double *deflection_mm, size_t n, double threshold_mm,
                             double *temperature, struct pd_err *err);
/* ISO 75 standard deflection Δs = 0.002·L²/(6h), rounded to `rounding_mm` (0.01 as tabulated; 0 = none). */
double pd_hdt_standard_deflection(double span_mm, double thickness_mm, double rounding_mm);

/* ---- Measurement uncertainty (GUM, simplified budget per method file) ----------------------*/
/* Sources of a budget. Relative ones are given as half-widths of rectangular distributions in % of
 * the reading (instrument classes) or, for dimensions, as half-widths in mm turned relative by the
 * specimen's own dimension; absolute ones (temperature, Shore reading) in the result's unit. */
enum pd_u_source {
    PD_U_FORCE,          /* force class (ISO 7500-1), % */
    PD_U_DISPLACEMENT,   /* extensometer / deflectometer / piston class (ISO 9513), % */
    PD_U_WIDTH,          /* dimension measurement, mm (b) */
    PD_U_THICKNESS,      /* dimension measurement, mm (h) */
    PD_U_LENGTH,         /* gauge length / span, mm */
    PD_U_ENERGY,         /* pendulum energy, % */
    PD_U_MASS,           /* balance, % */
    PD_U_TIME,           /* timer, % */
    PD_U_LIQUID_DENSITY, /* immersion liquid density, % */
    PD_U_TEMPERATURE,    /* temperature, K (absolute) */
    PD_U_READING,        /* scale reading, result unit (absolute) */
    PD_U_DISPLACEMENT_ABS, /* extensometer / deflectometer absolute error, mm (ISO 9513 class: 3 µm for
                            * class 1). Not a sensitivity of pd_uncertainty_standard: the method turns
                            * it into a relative term over the displacement its result spans. */
    PD_U_MASS_ABS,       /* balance absolute error, mg per weighing (its calibration certificate); the
                          * method's own term (density, MFR), like PD_U_DISPLACEMENT_ABS */
    PD_U_AREA,           /* cross-section constant (MFI barrel and piston bores), % */
    PD_U_SOURCE_COUNT
};
struct pd_uncertainty_budget {
    double k;                          /* coverage factor (2) */
    double input[PD_U_SOURCE_COUNT];   /* half-widths as described above; 0 = not a contribution */
    bool repeatability;                /* the mean's u includes s/√n of the series */
};
/* Standard uncertainty of one result from the budget: sens[] are the sensitivity exponents of the
 * result to each source (σ = F/(b·h) → force 1, width 1, thickness 1; absolute sources: 1 = counts).
 * width/thickness/length are the specimen's (0 when the method has none). */
double pd_uncertainty_standard(const struct pd_uncertainty_budget *b, const double sens[PD_U_SOURCE_COUNT],
                               double value, double width_mm, double thickness_mm, double length_mm);

/* ---- Presentation of results (ISO/IEC 17025 7.8, GUM 7.2.6; rounding.c) --------------------*/
/* A result as the certificate writes it: the expanded uncertainty U to two significant digits and
 * the value to the same decimal place, both in fixed-point decimal ("1503", "25"; "0.10"), rounded
 * half away from zero on the shortest decimal that reads back as the double (so 9.95 is 9.95, not
 * 9.9499…). With U = 0 the value keeps PD_REPORTED_DIGITS significant digits and U is "0". */
#define PD_REPORTED_DIGITS 4
struct pd_reported {
    char value[64];
    char U[64];
    int place;  /* the last digit shown has the place 10^place */
    bool has_U; /* U > 0 */
};
/* PD_EINVAL for a non-finite value or a U that is negative or not finite; PD_ERANGE when the text
 * would not fit (a value more than ~60 digits wider than U). `out` untouched then. */
int pd_round_to_uncertainty(double value, double U, struct pd_reported *out);
/* The shortest "%.*e" form (1..17 significant digits) that reads back as exactly x. */
int pd_decimal_shortest(double x, char *buf, size_t size);
/* The same digits without an exponent where that is readable (10^-6 ≤ |x| < 10^16): "10", "0.0025",
 * "1503.7" — a number shown exactly as recorded (dimensions, limits, parameters). */
int pd_decimal_plain(double x, char *buf, size_t size);

/* ---- Decision rules (ILAC-G8:09/2019) -------------------------------------------------------*/
enum pd_decision_rule {
    PD_RULE_SIMPLE = 0,           /* binary, w = 0: acceptance limit = tolerance limit */
    PD_RULE_GUARD_BINARY = 1,     /* binary, AL = TL − w inside the tolerance, w = guard·U */
    PD_RULE_GUARD_NONBINARY = 2,  /* pass / conditional pass / conditional fail / fail */
};
enum pd_verdict { PD_VERDICT_PASS = 0, PD_VERDICT_FAIL = 1, PD_VERDICT_COND_PASS = 2, PD_VERDICT_COND_FAIL = 3 };
/* "simple", "guard-band", "guard-band-nonbinary"; -1 for unknown. */
int pd_decision_rule_parse(const char *s);
const char *pd_decision_rule_id(enum pd_decision_rule rule);
const char *pd_decision_rule_text(enum pd_decision_rule rule); /* the rule as the certificate states it */
const char *pd_verdict_name(enum pd_verdict v); /* "pass", "fail", "conditional pass", "conditional fail" */

struct pd_decision {
    enum pd_verdict verdict;
    enum pd_decision_rule rule;
    double U, k, w;                 /* expanded uncertainty, coverage factor, guard band */
    bool has_min, has_max;
    double tl_min, tl_max;          /* tolerance limits (the spec's) */
    double al_min, al_max;          /* acceptance limits: TL moved inwards by w */
};
/* Decides one result. U must be finite and >= 0 (PD_EINVAL otherwise) unless the rule is simple. */
int pd_decide(enum pd_decision_rule rule, double guard_factor, bool has_min, double min, bool has_max, double max,
              double value, double U, double k, struct pd_decision *out);
/* The combined verdict of several: any fail → fail, else any conditional fail, else any conditional
 * pass, else pass. */
enum pd_verdict pd_verdict_combine(enum pd_verdict a, enum pd_verdict b);

/* ---- Method definitions (config/methods/<id>.yaml) ---------------------------------------------*/
#define PD_METHOD_MAX_CHANNELS 8
#define PD_METHOD_MAX_PARAMS 16
struct pd_method_channel {
    char name[32];
    char unit[16];
};
struct pd_method_param {
    char key[40];
    double value; /* booleans 0/1, choices their index */
};
struct pd_method_def {
    char id[48];            /* "iso527", or a lab variant such as "iso527-regression" */
    char base[48];          /* the built-in evaluation it uses: iso527, iso178, ... */
    char title[160];
    char standard[96];      /* standard with edition, e.g. "ISO 527-2:2012/1A/50" */
    char conditioning[160];
    long specimens;         /* specimens per series the method asks for */
    double speed_mm_min;    /* test speed (0: not a speed-controlled test) */
    size_t n_channels;
    struct pd_method_channel channels[PD_METHOD_MAX_CHANNELS];
    size_t n_params;
    struct pd_method_param params[PD_METHOD_MAX_PARAMS];
    struct pd_uncertainty_budget uncertainty;
    char path[1024];        /* file it came from; "" for the built-in defaults */
    char text[8192];        /* the file's text as given (recorded on the certificate); "" built-in */
};
/* The built-in definition of a base method (what config/methods/<id>.yaml ships with). */
int pd_method_defaults(const char *base, struct pd_method_def *out, struct pd_err *err);
/* Loads and validates a method file; every error names file:line:col. `out` untouched on failure. */
int pd_method_load(const char *path, struct pd_method_def *out, struct pd_err *err);
int pd_method_load_string(const char *name, const char *text, struct pd_method_def *out, struct pd_err *err);
/* A parameter's value (the def always holds every parameter of its base method). */
double pd_method_param(const struct pd_method_def *def, const char *key);
/* The effective method as a complete method file (the config/methods/ format, every header field,
 * channel, parameter and uncertainty input written out, so loading it takes nothing from a build's
 * defaults): what a certificate records as method.definition. malloc'd; NULL when out of memory or
 * for an unknown base method. */
char *pd_method_definition(const struct pd_method_def *def);
/* The evaluation parameters a definition gives ISO 527 / ISO 178 — the mapping certify itself uses
 * (tensile: strain_source is left to the caller, who knows which channels the data has). */
void pd_tensile_params_from_def(const struct pd_method_def *def, struct pd_tensile_params *p);
void pd_flexural_params_from_def(const struct pd_method_def *def, struct pd_flexural_params *p);
/* NULL-terminated list of the built-in method ids. */
extern const char *const pd_cert_method_ids[];

/* ---- Series statistics ----------------------------------------------------------------------*/
struct pd_stats {
    size_t n;
    double mean, sd, cv, min, max; /* sd with n − 1; sd and cv are 0 for n = 1 */
};
int pd_stats_compute(const double *x, size_t n, struct pd_stats *out);

/* ---- Specifications -------------------------------------------------------------------------*/
enum pd_spec_statistic { PD_SPEC_MEAN = 0, PD_SPEC_EACH = 1 };
#define PD_SPEC_MAX_LIMITS 32

struct pd_spec_limit {
    char property[48];   /* "tensile_modulus", "tensile_strength" */
    char unit[16];       /* must match the property's unit */
    enum pd_spec_statistic statistic;
    bool has_min, has_max;
    double min, max;
    char where[160];     /* file:line:col of the entry, for messages */
};

struct pd_spec {
    char name[128];
    char material[128];
    char method[48];     /* a built-in method id: "iso527" */
    char method_file[1024]; /* optional method definition (a lab variant), resolved against the spec's folder */
    enum pd_decision_rule decision_rule; /* `decision_rule:` (default simple) */
    double guard_factor; /* w = guard_factor·U for the guard-band rules (`guard_band:`, default 1) */
    char path[4096];     /* the file it was loaded from (named on the certificate) */
    char text[8192];     /* its text, recorded on the certificate so --recompute can reuse it */
    size_t n_limits;
    struct pd_spec_limit limits[PD_SPEC_MAX_LIMITS];
};
int pd_spec_load(const char *path, struct pd_spec *out, struct pd_err *err);
int pd_spec_load_string(const char *name, const char *text, struct pd_spec *out, struct pd_err *err);

/* ---- Certificates (see docs/CERTIFICATES.md) ------------------------------------------------*/
/* The SHA-256 of raw files, computed on a thread of its own from as early as the caller knows the
 * files: hashing a run takes about as long as reading and evaluating it, and the certificate
 * cannot be numbered, written or drawn without the digests. */
struct pd_cert_hashing;
/* Starts hashing `n` files (the paths must stay valid until finished). No thread: hashes at once. */
int pd_cert_hashing_start(const char *const *paths, size_t n, struct pd_cert_hashing **out, struct pd_err *err);
/* Waits for the digests (hex[i] for paths[i]; hex may be NULL to discard them) and frees `h`. */
int pd_cert_hashing_finish(struct pd_cert_hashing *h, char (*hex)[65], struct pd_err *err);

struct pd_certify_options {
    const char *out_dir;     /* the lab's certificate folder: its registry.sqlite (created when
                              * missing) and the exports CERT-<n>.json/.pdf */
    const char *request_id;  /* optional customer request id */
    const char *customer;    /* optional customer name */
    const char *method_path; /* optional method file; overrides the spec's method_file */
    const char *replaces;    /* a revision: the number of an issued certificate of this registry it
                              * replaces (ISO/IEC 17025 7.8.8); superseded when the revision is issued */
    const char *reason;      /* why the revision (required with `replaces`) */
    bool no_pdf;             /* JSON only (benchmarks) */
    /* Optional: hashing of exactly the run paths given, started early by the caller; certify
     * always finishes it (also when it fails). NULL: certify starts its own. */
    struct pd_cert_hashing *hashing;
    /* The acquisition stations whose seals are trusted (docs/CERTIFICATES.md §6): a run counts for
     * accreditation only when the seal beside it verifies under one of these (the registry's
     * station keys, or `certify --station-key`). None: no certificate is accredited. */
    const struct pd_public_key *trusted_stations;
    size_t n_trusted_stations;
};

struct pd_certify_result {
    char cert_id[96];
    char json_path[4096];
    char pdf_path[4096];      /* "" with no_pdf */
    enum pd_verdict verdict;  /* combined over every limit */
    bool accredited;          /* false: simulated, imported or recovered data, a run without a seal that
                               * verifies, or an instrument without valid calibration */
    size_t n_specimens;       /* evaluated */
    size_t n_failed;          /* limits not passed (fail, conditional pass or conditional fail) */
    char accreditation_reasons[2048]; /* why not accredited, "; "-joined ("" when accredited) */
};
/* Reads the runs, evaluates every tested specimen by the spec's method, checks the limits with the
 * spec's decision rule and records the DRAFT certificate under the registry's next number with its
 * "draft" audit entry (one transaction), then exports it (JSON written atomically, PDF).
 * 0 with result->verdict; negative on bad input. */
int pd_certify_runs(const char *const *run_paths, size_t n_runs, const struct pd_spec *spec,
                    const struct pd_certify_options *opt, struct pd_certify_result *result, struct pd_err *err);
int pd_certify_run(const char *run_path, const struct pd_spec *spec, const struct pd_certify_options *opt,
                   struct pd_certify_result *result, struct pd_err *err);
/* What a seal must state about a run file, as certify reads it from the file: the run id, outcome,
 * simulated flag (run attribute simulated = 1) and each instrument's name, model, serial_number and
 * firmware. */
int pd_cert_seal_facts(const char *run_path, struct pd_seal_facts *out, struct pd_err *err);

/* An Ed25519 key pair: DIR/lab.key (secret, mode 0600, created exclusively) and DIR/lab.pub. */
int pd_cert_keygen(const char *dir, char *secret_path, size_t secret_size, char *public_path, size_t public_size,
                   struct pd_err *err);

/* The lab's X.509 identity for signing certificate PDFs (PAdES): DIR/lab-x509.key (ECDSA P-256,
 * PEM, mode 0600, created exclusively) and DIR/lab.crt, self-signed, subject CN and O `lab_name`,
 * key usage digitalSignature + nonRepudiation, valid three years. A lab with a CA-issued
 * certificate places that certificate (chain after it) and its key there instead. *crt_path: lab.crt. */
int pd_cert_x509_keygen(const char *dir, const char *lab_name, char *crt_path, size_t crt_size, struct pd_err *err);

enum pd_approval_role { PD_ROLE_REVIEWER = 0, PD_ROLE_AUTHORIZER = 1 };
/* One approval of a certificate in the lab folder's registry (src/registry). The approver is the
 * person whose registered key `person_key` is (role reviewer or authorizer, not disabled; no free
 * text). The reviewer signs "polydaq-review-v1\n" ID "\n" CONTENT_SHA256, the authorizer
 * "polydaq-authorize-v1\n" ID "\n" CONTENT_SHA256 "\n" REVIEWER_SIGNATURE with their own keys;
 * the authorizer's step then signs the whole document with the lab's registered issuing key
 * (`lab_key`), issues it (a revision's predecessor becomes superseded in the same transaction)
 * and renders the final PDF. Refused (PD_ESTATE) when the content now — in the registry, and in the
 * exported JSON if it was edited — is not what was drafted and reviewed, when reviewer and
 * authorizer are the same key, or for a step out of order. Repeating a step that was recorded
 * (by the same key) only writes the exports again. *status_out: "reviewed" or "issued". */
struct pd_approval {
    const char *dir;        /* the lab's certificate folder (its registry.sqlite) */
    const char *cert_id;    /* CERT-000042 */
    enum pd_approval_role role;
    const char *person_key; /* the approver's secret key file */
    const char *lab_key;    /* the lab's issuing secret key file (authorizer) */
    /* Instead of person_key: the approver's key already in memory (the lab server unlocks it
     * from the person's password at login; it never exists as a file). */
    const struct pd_secret_key *person_secret;
};
int pd_cert_approve(const struct pd_approval *a, char *status_out, size_t status_size, struct pd_err *err);
/* Withdraws an issued certificate: `person_key` (a registered authorizer's) signs
 * "polydaq-withdraw-v1\n" ID "\n" SHA256(reason); recorded in the registry with the audit entry. */
int pd_cert_withdraw(const char *dir, const char *cert_id, const char *person_key, const char *reason,
                     struct pd_err *err);
/* The same with the authorizer's key in memory (the lab server's session). */
int pd_cert_withdraw_with_key(const char *dir, const char *cert_id, const struct pd_secret_key *person,
                              const char *reason, struct pd_err *err);
/* Writes the registry's certificate `cert_id` (NULL: every one whose JSON or PDF is missing or not
 * the registry's) to DIR/ID.json (atomically) and DIR/ID.pdf — an issued one's PDF signed (PAdES)
 * when `lab_key` (the lab's key file, its X.509 identity beside it) is given. `say` (may be NULL)
 * hears one line per file written. */
int pd_cert_export(const char *dir, const char *cert_id, const char *lab_key, void (*say)(const char *line, void *arg),
                   void *arg, struct pd_err *err);
/* pd_registry_check and the exports: each certificate's JSON file, where present, has the
 * registry's content (FAIL otherwise); a missing or older export is a note (`polydaq registry
 * export`). */
int pd_cert_registry_check(const char *dir, void (*say)(const char *line, void *arg), void *arg, bool *ok,
                           struct pd_err *err);
/* Whether DIR holds certificates from before the registry (counter, audit.log or CERT-*.json)
 * and no registry: certify and `registry init` refuse it until it is migrated. */
bool pd_cert_folder_unmigrated(const char *dir);
/* Turns an old certificate folder (counter, audit.log, CERT-*.json) into a registry: the audit
 * log's chain is checked first (a broken or torn line: PD_EDATA naming audit.log:LINE, nothing
 * created), then every certificate imported with its state and the log's entries in one
 * transaction; audit.log and counter are then renamed *.migrated. */
int pd_cert_registry_migrate(const char *dir, void (*say)(const char *line, void *arg), void *arg,
                             struct pd_err *err);

#define PD_VERIFY_MAX_LINES 400
struct pd_verify_report {
    bool ok;                 /* every check passed */
    size_t n_lines;
    char lines[PD_VERIFY_MAX_LINES][300]; /* "ok: ..." / "FAIL: ..." / "note: ..." per check */
    size_t n_omitted;        /* lines that did not fit (counted, not kept) */
    void (*each_line)(const char *line, void *arg); /* from pd_recompute_inputs; NULL otherwise */
    void *each_line_arg;
};
/* What verify is given besides the certificate. A certificate's signature proves only that someone
 * holding some key signed it: it verifies only against a trust anchor, a lab key the verifier has
 * from a trusted source (the lab's published key file or keyring; the registry). */
struct pd_verify_options {
    const char *const *data_paths; /* raw files whose SHA-256 must match the certificate's runs */
    size_t n_data;
    const char *key_path;          /* --key LAB.pub: a trusted lab key (NULL: none) */
    const char *keyring_path;      /* --keyring FILE: its lab keys are trusted; its reviewer and
                                      authorizer keys are the only ones approvals may carry (NULL: none) */
    const char *revocations_path;  /* --revocations FILE: the lab's signed list of withdrawn and
                                      superseded certificates (NULL: not checked) */
    const char *registry_dir;      /* --registry DIR: the lab folder's registry; its lab keys are trusted
                                      (each for what it signed while active), the certificate's state
                                      there is checked (withdrawn, superseded: FAIL), and the approvals'
                                      keys must be registered with those roles (NULL: none) */
};
/* Checks an issued certificate: that its bytes are exactly the form polydaq writes (PD_EDATA
 * "not a canonical polydaq certificate" otherwise, as for duplicate keys, invalid UTF-8 ...), its
 * Ed25519 signature over the canonical JSON by a trusted lab key (without any anchor: "signature
 * valid, signer not trusted", a failure), both approvals (signed by two different keys, over the
 * content hash the certificate has now, the authorizer's covering the reviewer's), the revocation
 * list when given, the registry's word when given (cert_verify_registry), its audit entries and
 * the lab audit log's chain beside it, and the SHA-256 of each raw file given. Returns 0 with
 * report->ok; negative only for unreadable input. */
int pd_cert_verify(const char *cert_path, const struct pd_verify_options *opt, struct pd_verify_report *report,
                   struct pd_err *err);
/* What a certificate holds that is in neither the raw files nor its recorded spec and method: the
 * order data certify took from its command line (NULL: from the run files, as certify does). */
struct pd_recompute_inputs {
    const char *customer, *request_id;
    const char *replaces, *reason; /* a revision */
    /* Optional: called with every line of the report as it is made, also those beyond
     * PD_VERIFY_MAX_LINES (a changed raw file differs in every field of every specimen). */
    void (*each_line)(const char *line, void *arg);
    void *each_line_arg;
};
/* Regenerates the certificate's content from the raw files with the spec text and the complete
 * method definition it records (never this build's defaults) and compares the canonical JSON of
 * both byte for byte, everything but number, status, dates of drafting/issue, approvals, audit,
 * signature and software version (docs/CERTIFICATES.md §9). Every differing field is listed by
 * its JSON path with both values; report->ok when the content is identical. `in` may be NULL. */
int pd_cert_recompute(const char *cert_path, const char *const *data_paths, size_t n_data,
                      const struct pd_recompute_inputs *in, struct pd_verify_report *report, struct pd_err *err);
/* Renders the certificate's PDF (raw data read from the run files it names, when present). */
int pd_cert_render_pdf(const char *cert_path, const char *pdf_path, struct pd_err *err);

/* Releases the process-wide font caches cairo and fontconfig keep after a PDF was rendered, so a
 * leak checker sees only real leaks. Call once, at exit of a program that rendered PDFs. */
void pd_cert_release_fonts(void);

#endif /* PD_CERT_H */
