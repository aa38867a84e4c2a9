/*
 * validation.c — the case runner: builds the validation set, runs each case's evaluation (once per
 * evaluation shared by consecutive cases), compares computed with expected within the tolerance,
 * counts the outcomes and prints the summary table.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pd_version.h"
#include "validate/validate_internal.h"

#ifndef PD_VALIDATE_DEFAULT_DATA
#define PD_VALIDATE_DEFAULT_DATA "../shared/data/tensile"
#endif

int validate_add(struct pd_validation *v, enum pd_validate_group group, const struct validate_case_def *d, bool truth,
                 struct pd_err *err)
{
    if (v->n_cases >= PD_VALIDATE_MAX_CASES)
        return pd_err_set(err, PD_ERANGE, NULL, "validation set: more than %d cases", PD_VALIDATE_MAX_CASES);
    struct pd_validate_case *c = &v->cases[v->n_cases];
    memset(c, 0, sizeof *c);
    if (pd_strlcpy(c->id, d->id, sizeof c->id) < 0 || pd_strlcpy(c->method, d->method, sizeof c->method) < 0 ||
        pd_strlcpy(c->quantity, d->quantity, sizeof c->quantity) < 0 ||
        pd_strlcpy(c->unit, d->unit, sizeof c->unit) < 0 || pd_strlcpy(c->source, d->source, sizeof c->source) < 0 ||
        pd_strlcpy(c->expected_text, d->expected_text ? d->expected_text : "", sizeof c->expected_text) < 0)
        return pd_err_set(err, PD_ERANGE, NULL, "validation case '%s': a text field is too long", d->id);
    c->group = group;
    c->expected = truth ? NAN : d->expected; /* known once the evaluation has run */
    c->tolerance = truth ? NAN : d->tolerance;
    c->expected_from_truth = truth;
    c->eval = d->eval;
    c->input = d->input;
    c->output = d->output;
    c->computed = NAN;
    c->outcome = PD_VALIDATE_SKIP; /* until run */
    if (d->output >= PD_VALIDATE_MAX_VALUES || !d->eval)
        return pd_err_set(err, PD_EINVAL, NULL, "validation case '%s': no evaluation or output %u out of range", d->id,
                          d->output);
    v->n_cases++;
    return 0;
}

double validate_method_param(const char *base, const char *key)
{
    struct pd_method_def def;
    struct pd_err e;
    if (pd_method_defaults(base, &def, &e) < 0)
        return NAN;
    return pd_method_param(&def, key);
}

int validate_tensile_params(struct pd_tensile_params *p, struct pd_err *err)
{
    struct pd_method_def def;
    int rc = pd_method_defaults("iso527", &def, err);
    if (rc < 0)
        return rc;
    pd_tensile_params_from_def(&def, p);
    /* strain_source "auto" picks the extensometer when there is one, as every case here has. */
    p->strain_source = pd_method_param(&def, "strain_source") == 2.0 ? PD_STRAIN_CROSSHEAD : PD_STRAIN_EXTENSOMETER;
    return 0;
}

int validate_flexural_params(struct pd_flexural_params *p, struct pd_err *err)
{
    struct pd_method_def def;
    int rc = pd_method_defaults("iso178", &def, err);
    if (rc == 0)
        pd_flexural_params_from_def(&def, p);
    return rc;
}

void validate_outputs_clear(struct pd_validate_outputs *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < PD_VALIDATE_MAX_VALUES; i++)
        out->v[i].computed = out->v[i].truth = out->v[i].tolerance = NAN;
}

int pd_validation_init(struct pd_validation *v, const char *data_dir, struct pd_err *err)
{
    if (!v)
        return pd_err_set(err, PD_EINVAL, NULL, "validation: no result object");
    struct pd_validation *tmp = malloc(sizeof *tmp);
    if (!tmp)
        return pd_err_set(err, PD_ENOMEM, NULL, "validation: out of memory");
    memset(tmp, 0, sizeof *tmp);
    pd_strlcpy(tmp->version, PD_VERSION_STRING, sizeof tmp->version);
    const char *dir = data_dir ? data_dir : PD_VALIDATE_DEFAULT_DATA;
    int rc = 0;
    if (pd_strlcpy(tmp->data_dir, dir, sizeof tmp->data_dir) < 0)
        rc = pd_err_set(err, PD_ERANGE, NULL, "validation: data folder path too long");
    struct stat st;
    tmp->data_found = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
    if (rc == 0)
        rc = pd_validate_method_set_sha256(tmp->method_set_sha256, err);
    if (rc == 0)
        rc = validate_add_examples(tmp, err);
    if (rc == 0)
        rc = validate_add_synthetic(tmp, err);
    if (rc == 0)
        rc = validate_add_exports(tmp, err);
    if (rc == 0)
        memcpy(v, tmp, sizeof *v);
    free(tmp);
    return rc;
}

static bool same_evaluation(const struct pd_validate_case *a, const struct pd_validate_case *b)
{
    return a && a->eval == b->eval && a->input == b->input;
}

/* Judges one case from its evaluation's outputs (or the evaluation's failure). */
static void judge(struct pd_validate_case *c, int rc, const struct pd_validate_outputs *out, const struct pd_err *e)
{
    c->computed = NAN;
    c->computed_text[0] = '\0';
    c->note[0] = '\0';
    const struct pd_validate_value *val = &out->v[c->output];
    /* The truth is known before the evaluation runs: shown even when the evaluation refused. */
    if (c->expected_from_truth) {
        c->expected = val->truth;
        c->tolerance = val->tolerance;
    }
    if (rc < 0) {
        c->outcome = PD_VALIDATE_FAIL;
        snprintf(c->note, sizeof c->note, "evaluation refused the data: %.220s",
                 e->msg[0] ? e->msg : pd_status_name(rc));
        return;
    }
    if (out->skipped) {
        c->outcome = PD_VALIDATE_SKIP;
        snprintf(c->note, sizeof c->note, "skipped: %s", out->note);
        return;
    }
    c->computed = val->computed;
    snprintf(c->computed_text, sizeof c->computed_text, "%s", val->text);
    snprintf(c->note, sizeof c->note, "%s", out->note);
    bool ok = isfinite(c->computed) && isfinite(c->expected) && isfinite(c->tolerance) &&
              fabs(c->computed - c->expected) <= c->tolerance;
    /* A categorical result must also read as expected (its code and its words agree). */
    if (c->expected_text[0] && strcmp(c->expected_text, c->computed_text) != 0)
        ok = false;
    if (!isfinite(c->computed) && !c->note[0])
        snprintf(c->note, sizeof c->note, "the evaluation gave no value for this quantity");
    c->outcome = ok ? PD_VALIDATE_PASS : PD_VALIDATE_FAIL;
}

int pd_validation_run(struct pd_validation *v, struct pd_err *err)
{
    struct pd_validate_env env = {.data_dir = v->data_dir, .data_found = v->data_found};
    struct pd_validate_outputs out;
    struct pd_err e;
    int rc = 0;
    v->n_pass = v->n_fail = v->n_skip = 0;
    for (size_t i = 0; i < v->n_cases; i++) {
        struct pd_validate_case *c = &v->cases[i];
        if (!same_evaluation(i ? &v->cases[i - 1] : NULL, c)) {
            validate_outputs_clear(&out);
            pd_err_clear(&e);
            rc = c->eval(c->input, &env, &out, &e);
            if (rc == PD_ENOMEM)
                return pd_err_set(err, rc, NULL, "validation case %s: %s", c->id, e.msg);
        }
        judge(c, rc, &out, &e);
        if (c->outcome == PD_VALIDATE_PASS)
            v->n_pass++;
        else if (c->outcome == PD_VALIDATE_FAIL)
            v->n_fail++;
        else
            v->n_skip++;
    }
    return 0;
}

int pd_validation_exit_status(const struct pd_validation *v)
{
    return v->n_fail == 0 && v->n_pass + v->n_skip == v->n_cases ? 0 : 1;
}

const char *validate_outcome_name(enum pd_validate_outcome o)
{
    return o == PD_VALIDATE_PASS ? "pass" : o == PD_VALIDATE_FAIL ? "FAIL" : "skipped";
}

void validate_format_value(char *buf, size_t size, double x, const char *text)
{
    if (text && text[0])
        snprintf(buf, size, "%s", text);
    else if (isfinite(x))
        snprintf(buf, size, "%.10g", x);
    else
        snprintf(buf, size, "-");
}

void pd_validation_print(const struct pd_validation *v, FILE *f)
{
    fprintf(f, "polydaq %s software validation; method set SHA-256 %s\n", v->version, v->method_set_sha256);
    fprintf(f, "%-46s %-13s %16s %16s %12s  %s\n", "case", "method", "computed", "expected", "tolerance", "result");
    for (size_t i = 0; i < v->n_cases; i++) {
        const struct pd_validate_case *c = &v->cases[i];
        char comp[40], exp[40], tol[24];
        validate_format_value(comp, sizeof comp, c->computed, c->computed_text);
        validate_format_value(exp, sizeof exp, c->expected, c->expected_text);
        validate_format_value(tol, sizeof tol, c->tolerance, NULL);
        /* a failure with its reason; a skipped case's note already says "skipped: ..." */
        const char *result = c->outcome == PD_VALIDATE_SKIP && c->note[0] ? c->note : validate_outcome_name(c->outcome);
        bool reason = c->outcome == PD_VALIDATE_FAIL && c->note[0];
        fprintf(f, "%-46s %-13s %16s %16s %12s  %s%s%s\n", c->id, c->method, comp, exp, tol, result, reason ? ": " : "",
                reason ? c->note : "");
    }
    fprintf(f, "%zu cases: %zu passed, %zu failed, %zu skipped (real exports: %s %s)\n", v->n_cases, v->n_pass,
            v->n_fail, v->n_skip, v->data_dir, v->data_found ? "found" : "not found");
}
