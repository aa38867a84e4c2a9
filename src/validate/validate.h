/*
 * validate.h — the software validation evidence (ISO/IEC 17025 7.11.2, 7.2.2): every evaluation
 * method run over a built-in validation set (the reference's worked examples, synthetic curves of
 * the load-frame model with known truth, real instrument exports), each case's computed value
 * compared with an independently known expected value within a stated tolerance, and the report
 * (JSON + PDF) naming the software version and the SHA-256 of the built-in method definitions.
 */
#ifndef PD_VALIDATE_H
#define PD_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/core.h"

enum pd_validate_group {
    PD_VALIDATE_WORKED_EXAMPLE = 0, /* test-methods.md §12, expected values as the reference states them */
    PD_VALIDATE_SYNTHETIC = 1,      /* load-frame model curves, expected = the model's truth */
    PD_VALIDATE_REAL_EXPORT = 2,    /* vendor exports, expected = an independent source (the file's header) */
};
enum pd_validate_outcome { PD_VALIDATE_PASS = 0, PD_VALIDATE_FAIL = 1, PD_VALIDATE_SKIP = 2 };

/* What one evaluation computes, for every case that shares it (one evaluation of a curve yields
 * modulus, strength, ...). An evaluation that knows its own truth (a synthetic curve) also gives
 * each value's expected value and tolerance. */
#define PD_VALIDATE_MAX_VALUES 12
struct pd_validate_value {
    double computed;  /* NaN: the evaluation gave no such result */
    double truth;     /* for cases with expected_from_truth */
    double tolerance; /* for cases with expected_from_truth */
    char text[32];    /* categorical results (a verdict, "n/a"): the computed value in words */
};
struct pd_validate_outputs {
    struct pd_validate_value v[PD_VALIDATE_MAX_VALUES];
    char note[200]; /* what the reader should know about this evaluation (may be empty) */
    bool skipped;   /* the input is not available (data folder absent): note says why */
};
/* Runs one evaluation of `input` (a case's private description). 0, or negative with `err` saying
 * why the evaluation refused the input: the cases that depend on it fail with that message. */
struct pd_validate_env {
    const char *data_dir; /* the real-export folder */
    bool data_found;      /* it exists */
};
typedef int (*pd_validate_eval_fn)(const void *input, const struct pd_validate_env *env,
                                   struct pd_validate_outputs *out, struct pd_err *err);

/* One validation case: a definition (what is computed, from what, expected within what) and,
 * after pd_validation_run, its result. */
struct pd_validate_case {
    char id[64]; /* "T1.Et-chord", "S.pp-demo.100Hz.noise-0.5.sigma_m" */
    enum pd_validate_group group;
    char method[16];    /* the built-in method it exercises: "iso527" */
    char quantity[112]; /* what is computed, in words */
    char unit[16];
    char source[240];           /* where the expected value comes from (independent of the code) */
    double expected, tolerance; /* pass when |computed − expected| <= tolerance */
    bool expected_from_truth;   /* expected/tolerance come from the evaluation's truth */
    char expected_text[32];     /* categorical cases: the expected value in words ("" = numeric) */
    pd_validate_eval_fn eval;
    const void *input;
    unsigned output; /* which of the evaluation's values */
    /* result */
    double computed; /* NaN when the evaluation failed or gave nothing */
    char computed_text[32];
    enum pd_validate_outcome outcome;
    char note[256]; /* refusal message, skip reason, definition differences */
};

#define PD_VALIDATE_MAX_CASES 256
/* The whole validation: caller-allocated (it is large: allocate it statically or on the heap). */
struct pd_validation {
    char version[32];           /* polydaq's version (pd_version.h) */
    char method_set_sha256[65]; /* of pd_validate_method_set_text */
    char data_dir[4096];        /* the real-export folder looked at */
    bool data_found;
    size_t n_cases, n_pass, n_fail, n_skip;
    struct pd_validate_case cases[PD_VALIDATE_MAX_CASES];
};

/* Fills `v` with the built-in validation set (not yet run). `data_dir`: the folder of the real
 * exports (NULL: the build's default, ../shared/data/tensile beside the source tree); an absent
 * folder is not an error — its cases are skipped when run. `v` untouched on error. The set's
 * inputs are module-level tables filled here: not for several threads at once. */
int pd_validation_init(struct pd_validation *v, const char *data_dir, struct pd_err *err);
/* Runs every case and counts the outcomes. A refused evaluation is a failed case (its message in
 * the note), not an error of the run; PD_ENOMEM only when memory ran out. */
int pd_validation_run(struct pd_validation *v, struct pd_err *err);
/* 0 when every case that ran passed (skipped ones do not fail the run), 1 otherwise. */
int pd_validation_exit_status(const struct pd_validation *v);
/* The summary table: one line per case, then the counts. */
void pd_validation_print(const struct pd_validation *v, FILE *f);

/* Writes DIR/validation.json, DIR/validation.pdf and DIR/method-set.txt (the text whose SHA-256
 * the report names), each under a temporary name first and renamed when complete, so nothing
 * half-written is left. Creates DIR. */
int pd_validation_write(const struct pd_validation *v, const char *dir, struct pd_err *err);
int pd_validation_write_json(const struct pd_validation *v, const char *path, struct pd_err *err);
int pd_validation_write_pdf(const struct pd_validation *v, const char *path, struct pd_err *err);

/* The canonical text of every built-in method definition (pd_method_defaults of each id in
 * pd_cert_method_ids) with its effective parameters and uncertainty budget, one "key value" line
 * each, numbers exact (the shorter of 15 or 17 significant digits that reads back), so any change
 * of a default changes the text. 0 with *length = its length (without NUL); PD_ERANGE when `size`
 * is too small, buf and *length untouched then (buf NULL only measures it). */
int pd_validate_method_set_text(char *buf, size_t size, size_t *length, struct pd_err *err);
/* SHA-256 of that text as 64 lowercase hex digits. */
int pd_validate_method_set_sha256(char hex[65], struct pd_err *err);

#endif /* PD_VALIDATE_H */
