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

/* ---- ISO 527-1/-2 tensile -------------------------------------------------------------------*/
struct pd_tensile_specimen {
    const double *force_N;      /* n samples */
    const double *extension_mm; /* extensometer extension ΔL0, n samples */
    size_t n;
    double width_mm, thickness_mm; /* measured b, h: A0 = b·h */
    double gauge_length_mm;        /* L0 */
};

enum pd_modulus_method { PD_MODULUS_CHORD = 0, PD_MODULUS_REGRESSION = 1 };

struct pd_tensile_params {
    double e1, e2;             /* modulus strain range as fractions: 0.0005, 0.0025 */
    enum pd_modulus_method modulus_method;
    /* Chord: σ at e1/e2 from a least-squares line through the samples within ±chord_window strain
     * of the target (noise-robust, still evaluated at exactly e1/e2); 0 = plain linear
     * interpolation between the two samples that bracket the target. */
    double chord_window;
    size_t min_modulus_points; /* refuse the modulus with fewer samples in [e1, e2] (default 20) */
    double break_fraction;     /* break: first sample with σ ≤ break_fraction·σmax (0.10) */
    double max_hysteresis;     /* a local max counts once σ falls this fraction below it (0.005) */
};
void pd_tensile_params_default(struct pd_tensile_params *p);

struct pd_tensile_result {
    double modulus_MPa;          /* Et */
    size_t modulus_points;       /* samples in [e1, e2] */
    double strength_MPa;         /* σm: first local maximum (ISO 527-1:2012) */
    double strain_at_strength;   /* εm, fraction */
    bool has_yield;              /* a maximum followed by a drop before break */
    double yield_stress_MPa, yield_strain;          /* NaN without yield ("n/a", never 0) */
    bool has_break;
    size_t break_index;          /* the evaluated break point: the sample before σ ≤ 10 % σmax;
                                    the last sample when nothing broke */
    double stress_at_break_MPa, strain_at_break;    /* NaN without break */
};
/* Fails with PD_EDATA (and a message saying why) for data that cannot be evaluated: too few
 * points, NaN/inf, modulus range not reached, non-positive dimensions. `out` untouched then.
 * `p` NULL means pd_tensile_params_default. Break and local-maximum detection are armed only once
 * the strain has passed e2 (before that a drop is noise on a near-zero load). */
int pd_tensile_evaluate(const struct pd_tensile_specimen *sp, const struct pd_tensile_params *p,
                        struct pd_tensile_result *out, struct pd_err *err);

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
    char method[48];     /* "iso527" */
    char path[4096];     /* the file it was loaded from (named on the certificate) */
    size_t n_limits;
    struct pd_spec_limit limits[PD_SPEC_MAX_LIMITS];
};
int pd_spec_load(const char *path, struct pd_spec *out, struct pd_err *err);

/* ---- Certification of a run -----------------------------------------------------------------*/
struct pd_certify_options {
    const char *out_dir;    /* where CERT-<id>.json goes */
    const char *request_id; /* optional customer request id */
};

enum pd_verdict { PD_VERDICT_PASS = 0, PD_VERDICT_FAIL = 1 };

struct pd_certify_result {
    char cert_id[96];
    char json_path[4096];
    enum pd_verdict verdict;
    size_t n_specimens;  /* evaluated */
    size_t n_failed;     /* limits not met */
};
/* Reads the run, evaluates every tested specimen by the run's method, checks the spec, writes the
 * certificate. Returns 0 with result->verdict telling pass/fail; negative on bad input. */
int pd_certify_run(const char *run_path, const struct pd_spec *spec, const struct pd_certify_options *opt,
                   struct pd_certify_result *result, struct pd_err *err);

#endif /* PD_CERT_H */
