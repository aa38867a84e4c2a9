/*
 * validate_internal.h — what the files of the validate module share and nobody else needs: the
 * evaluation environment, the compact definition the case tables are written in, and the builders
 * of each part of the validation set.
 */
#ifndef PD_VALIDATE_INTERNAL_H
#define PD_VALIDATE_INTERNAL_H

#include "cert/cert.h"
#include "validate/validate.h"

/* A case as the tables write it; validate_add copies it into the validation. */
struct validate_case_def {
    const char *id;
    const char *method;
    const char *quantity;
    const char *unit;
    const char *source;
    double expected, tolerance;
    const char *expected_text; /* NULL: numeric */
    pd_validate_eval_fn eval;
    const void *input;
    unsigned output;
};
/* Appends a case (expected_from_truth when `truth`). PD_ERANGE when the table is full. */
int validate_add(struct pd_validation *v, enum pd_validate_group group, const struct validate_case_def *d, bool truth,
                 struct pd_err *err);

/* The builders of the three parts of the set. */
int validate_add_examples(struct pd_validation *v, struct pd_err *err);
int validate_add_synthetic(struct pd_validation *v, struct pd_err *err);
int validate_add_exports(struct pd_validation *v, struct pd_err *err);

/* The ISO 527 / ISO 178 parameters a certificate uses: the built-in method definition's, mapped
 * by cert's own pd_*_params_from_def. */
int validate_tensile_params(struct pd_tensile_params *p, struct pd_err *err);
int validate_flexural_params(struct pd_flexural_params *p, struct pd_err *err);
/* The built-in definition's parameter `key` of method `base`. */
double validate_method_param(const char *base, const char *key);

/* Marks a value as not computed (NaN) and all of an evaluation's values so before it runs. */
void validate_outputs_clear(struct pd_validate_outputs *out);

/* "pass", "FAIL", "skipped". */
const char *validate_outcome_name(enum pd_validate_outcome o);
/* A value for tables: its words when it has them, else %.10g, "-" for NaN. */
void validate_format_value(char *buf, size_t size, double x, const char *text);

#endif /* PD_VALIDATE_INTERNAL_H */
