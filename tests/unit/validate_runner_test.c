/* validate_runner_test.c — the validate module: the case runner (pass, fail on a wrong expected
 * value, refused evaluations, skipped cases, exit status), the built-in worked examples and clean
 * synthetic curves against their truth, reproducibility of the noisy curves, and the method-set
 * text and its SHA-256 (checked with libsodium's SHA-256, not the module's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert.h"
#include "loadframe/core/model.h"
#include "validate/validate.h"

static struct pd_validation *fresh(const char *data_dir)
{
    struct pd_validation *v = malloc(sizeof *v);
    assert_non_null(v);
    struct pd_err err = {0};
    if (pd_validation_init(v, data_dir, &err) != 0)
        fail_msg("init: %s", err.msg);
    return v;
}

static struct pd_validate_case *find(struct pd_validation *v, const char *id)
{
    for (size_t i = 0; i < v->n_cases; i++)
        if (strcmp(v->cases[i].id, id) == 0)
            return &v->cases[i];
    fail_msg("no case %s", id);
    abort(); /* fail_msg does not return */
}

/* Keeps only the worked examples (the part that passes whatever the noise handling does). */
static void only_examples(struct pd_validation *v)
{
    size_t k = 0;
    for (size_t i = 0; i < v->n_cases; i++)
        if (v->cases[i].group == PD_VALIDATE_WORKED_EXAMPLE)
            v->cases[k++] = v->cases[i];
    v->n_cases = k;
}

static void run(struct pd_validation *v)
{
    struct pd_err err = {0};
    if (pd_validation_run(v, &err) != 0)
        fail_msg("run: %s", err.msg);
}

static void test_worked_examples_pass(void **state)
{
    (void)state;
    struct pd_validation *v = fresh(NULL);
    only_examples(v);
    assert_true(v->n_cases >= 35);
    run(v);
    for (size_t i = 0; i < v->n_cases; i++)
        if (v->cases[i].outcome != PD_VALIDATE_PASS)
            fail_msg("%s: computed %.17g, expected %.17g ± %g: %s", v->cases[i].id, v->cases[i].computed,
                     v->cases[i].expected, v->cases[i].tolerance, v->cases[i].note);
    assert_int_equal(v->n_pass, v->n_cases);
    assert_int_equal(pd_validation_exit_status(v), 0);
    /* every built-in method is exercised, and the decision rules */
    for (size_t m = 0; pd_cert_method_ids[m]; m++) {
        bool seen = false;
        for (size_t i = 0; i < v->n_cases; i++)
            seen = seen || strcmp(v->cases[i].method, pd_cert_method_ids[m]) == 0;
        if (!seen)
            fail_msg("no worked example for %s", pd_cert_method_ids[m]);
    }
    bool rules = false;
    for (size_t i = 0; i < v->n_cases; i++)
        rules = rules || strcmp(v->cases[i].method, "decision-rule") == 0;
    assert_true(rules);
    free(v);
}

/* A deliberately wrong expected value fails that case, and with it the run (exit 1). */
static void test_wrong_expected_fails(void **state)
{
    (void)state;
    struct pd_validation *v = fresh(NULL);
    only_examples(v);
    struct pd_validate_case *c = find(v, "T1.Et-chord");
    c->expected = 2001.0; /* the curve's modulus is 2000 MPa; tolerance 0.5 */
    struct pd_validate_case *q = find(v, "Q1.guard-binary");
    snprintf(q->expected_text, sizeof q->expected_text, "pass"); /* the words disagree, the code still 1 */
    run(v);
    assert_int_equal(c->outcome, PD_VALIDATE_FAIL);
    assert_true(fabs(c->computed - 2000.0) <= 0.5);
    assert_int_equal(q->outcome, PD_VALIDATE_FAIL);
    assert_int_equal(v->n_fail, 2);
    assert_int_equal(v->n_pass, v->n_cases - 2);
    assert_int_equal(pd_validation_exit_status(v), 1);
    /* the case that shares T1's evaluation but was left alone still passes */
    assert_int_equal(find(v, "T1.sigma_y")->outcome, PD_VALIDATE_PASS);
    free(v);
}

static int eval_refuses(const void *input, const struct pd_validate_env *env, struct pd_validate_outputs *out,
                        struct pd_err *err)
{
    (void)input;
    (void)env;
    (void)out;
    return pd_err_set(err, PD_EDATA, "curve.csv:3:1", "curve.csv:3:1: not a number");
}

static int eval_skips(const void *input, const struct pd_validate_env *env, struct pd_validate_outputs *out,
                      struct pd_err *err)
{
    (void)input;
    (void)err;
    out->skipped = !env->data_found;
    snprintf(out->note, sizeof out->note, "data not found");
    out->v[0].computed = 1.0;
    return 0;
}

static void test_refused_and_skipped(void **state)
{
    (void)state;
    struct pd_validation *v = fresh("/nonexistent/polydaq-validate-data");
    assert_false(v->data_found);
    only_examples(v);
    size_t n = v->n_cases;
    struct pd_validate_case *c = &v->cases[n];
    memset(c, 0, sizeof *c);
    snprintf(c->id, sizeof c->id, "refused");
    c->eval = eval_refuses;
    c->expected = 1.0;
    c->tolerance = 1.0;
    struct pd_validate_case *s = &v->cases[n + 1];
    *s = *c;
    snprintf(s->id, sizeof s->id, "skipped");
    s->eval = eval_skips;
    v->n_cases = n + 2;
    run(v);
    assert_int_equal(c->outcome, PD_VALIDATE_FAIL);
    assert_true(isnan(c->computed));
    assert_non_null(strstr(c->note, "curve.csv:3:1: not a number"));
    assert_int_equal(s->outcome, PD_VALIDATE_SKIP);
    assert_non_null(strstr(s->note, "skipped: data not found"));
    assert_int_equal(v->n_skip, 1);
    assert_int_equal(v->n_fail, 1);
    assert_int_equal(pd_validation_exit_status(v), 1);
    /* without the refused case, skipped cases alone do not fail the run */
    v->cases[n] = v->cases[n + 1];
    v->n_cases = n + 1;
    run(v);
    assert_int_equal(v->n_skip, 1);
    assert_int_equal(v->n_fail, 0);
    assert_int_equal(pd_validation_exit_status(v), 0);
    free(v);
}

/* Clean synthetic curves come back exactly; their truth is the material table's own E. */
static void test_clean_synthetic_curves(void **state)
{
    (void)state;
    struct pd_validation *v = fresh(NULL);
    run(v);
    unsigned materials = 0;
    for (unsigned mi = 0; lf_material_at(mi); mi++, materials++) {
        const struct lf_material *m = lf_material_at(mi);
        const char *rates[] = {"10", "100", "1000"};
        for (size_t r = 0; r < 3; r++) {
            char id[64];
            snprintf(id, sizeof id, "S.%s.%sHz.noise-0.Et", m->name, rates[r]);
            struct pd_validate_case *c = find(v, id);
            assert_true(c->expected == m->modulus_mpa);
            assert_true(c->tolerance <= 1e-6 * m->modulus_mpa * 1.0000001);
            if (c->outcome != PD_VALIDATE_PASS)
                fail_msg("%s: %.17g vs %.17g: %s", id, c->computed, c->expected, c->note);
            snprintf(id, sizeof id, "S.%s.%sHz.noise-0.sigma_m", m->name, rates[r]);
            c = find(v, id);
            if (c->outcome != PD_VALIDATE_PASS)
                fail_msg("%s: %.17g vs %.17g: %s", id, c->computed, c->expected, c->note);
            /* the sampled peak of a material that yields lies within a sample's reach of σy */
            if (m->break_strain >= m->yield_strain)
                assert_true(fabs(c->expected - m->yield_stress_mpa) <= 0.001 * m->yield_stress_mpa);
            /* the noisy cases are judged against the same noise-free value, with 0.2 % + 3r */
            snprintf(id, sizeof id, "S.%s.%sHz.noise-0.5.sigma_m", m->name, rates[r]);
            struct pd_validate_case *noisy = find(v, id);
            assert_true(noisy->expected == c->expected);
            assert_true(fabs(noisy->tolerance - (0.002 + 3 * 0.005) * c->expected) <= 1e-12 * c->expected);
        }
    }
    assert_true(materials >= 4);
    free(v);
}

/* The seeded generator makes every run the same. */
static void test_reproducible(void **state)
{
    (void)state;
    struct pd_validation *a = fresh(NULL), *b = fresh(NULL);
    run(a);
    run(b);
    assert_int_equal(a->n_cases, b->n_cases);
    size_t noisy = 0;
    for (size_t i = 0; i < a->n_cases; i++) {
        const struct pd_validate_case *x = &a->cases[i], *y = &b->cases[i];
        assert_string_equal(x->id, y->id);
        assert_true(x->outcome == y->outcome);
        assert_true((isnan(x->computed) && isnan(y->computed)) || x->computed == y->computed);
        if (strstr(x->id, "noise-0.5.Et")) {
            noisy++;
            assert_true(x->computed != x->expected); /* the noise is really there */
        }
    }
    assert_true(noisy >= 12);
    free(a);
    free(b);
}

static void test_method_set(void **state)
{
    (void)state;
    struct pd_err err = {0};
    size_t len = 0;
    assert_int_equal(pd_validate_method_set_text(NULL, 0, &len, &err), 0);
    assert_true(len > 1000);
    char *text = malloc(len + 1);
    assert_non_null(text);
    assert_int_equal(pd_validate_method_set_text(text, len + 1, &len, &err), 0);
    assert_int_equal(strlen(text), len);
    for (size_t i = 0; pd_cert_method_ids[i]; i++) {
        char line[64];
        snprintf(line, sizeof line, "\nmethod %s\n", pd_cert_method_ids[i]);
        if (!strstr(text, line))
            fail_msg("method set text lacks %s", pd_cert_method_ids[i]);
    }
    /* effective parameters and budget, exact numbers, each in its own method's block */
    const char *iso527 = strstr(text, "\nmethod iso527\n"), *iso1133 = strstr(text, "\nmethod iso1133\n");
    assert_non_null(iso527);
    assert_non_null(iso1133);
    const char *after527 = strstr(iso527 + 1, "\nmethod "), *after1133 = strstr(iso1133 + 1, "\nmethod ");
    const char *e1 = strstr(iso527, "\n  e1: 0.0005\n"), *cw = strstr(iso527, "\n  chord_window: ");
    const char *k = strstr(iso527, "\nuncertainty:\n  k: 2\n"), *area = strstr(iso1133, "\n  area_cm2: 0.711\n");
    assert_true(e1 && (!after527 || e1 < after527));
    assert_true(cw && (!after527 || cw < after527));
    assert_true(k && (!after527 || k < after527));
    assert_true(area && (!after1133 || area < after1133));
    char small[16] = "untouched";
    size_t len2 = 7;
    assert_int_equal(pd_validate_method_set_text(small, sizeof small, &len2, &err), PD_ERANGE);
    assert_string_equal(small, "untouched");
    assert_int_equal(len2, 7);

    unsigned char md[crypto_hash_sha256_BYTES];
    assert_int_equal(sodium_init() >= 0, 1);
    crypto_hash_sha256(md, (const unsigned char *)text, strlen(text));
    char want[65];
    for (size_t i = 0; i < sizeof md; i++)
        snprintf(want + 2 * i, 3, "%02x", md[i]);
    char hex[65];
    assert_int_equal(pd_validate_method_set_sha256(hex, &err), 0);
    assert_string_equal(hex, want);
    struct pd_validation *v = fresh(NULL);
    assert_string_equal(v->method_set_sha256, want);
    free(v);
    free(text);
}

/* A data folder path that does not fit is refused, and the caller's object is left as it was. */
static void test_init_refuses_long_path(void **state)
{
    (void)state;
    struct pd_validation *v = malloc(sizeof *v);
    assert_non_null(v);
    memset(v, 0xA5, sizeof *v);
    char *path = malloc(5000);
    assert_non_null(path);
    memset(path, 'd', 4999);
    path[4999] = '\0';
    struct pd_err err = {0};
    assert_int_equal(pd_validation_init(v, path, &err), PD_ERANGE);
    assert_non_null(strstr(err.msg, "too long"));
    const unsigned char *bytes = (const unsigned char *)v;
    for (size_t i = 0; i < sizeof *v; i++)
        if (bytes[i] != 0xA5)
            fail_msg("byte %zu of the validation was written", i);
    free(path);
    free(v);
}

/* The parameters validate evaluates with are the definition's, through cert's own mapping: a lab
 * variant's values arrive, the built-in ones are ISO 527's and ISO 178's. */
static void test_params_from_def(void **state)
{
    (void)state;
    struct pd_method_def *def = malloc(sizeof *def);
    assert_non_null(def);
    struct pd_err err = {0};
    if (pd_method_load_string("lab.yaml",
                              "method: {id: iso527-lab, base: iso527}\n"
                              "parameters: {modulus: regression, e1: 0.001, e2: 0.003, break_fraction: 0.2, "
                              "toe_compensation: yes, chord_window: 0.0001}\n",
                              def, &err) != 0)
        fail_msg("%s", err.msg);
    struct pd_tensile_params p;
    pd_tensile_params_from_def(def, &p);
    assert_int_equal(p.modulus_method, PD_MODULUS_REGRESSION);
    assert_true(p.e1 == 0.001 && p.e2 == 0.003 && p.break_fraction == 0.2 && p.chord_window == 0.0001);
    assert_true(p.toe_compensation);
    assert_int_equal(pd_method_defaults("iso527", def, &err), 0);
    pd_tensile_params_from_def(def, &p);
    assert_int_equal(p.modulus_method, PD_MODULUS_CHORD);
    assert_true(p.e1 == 0.0005 && p.e2 == 0.0025 && p.break_fraction == 0.10);
    assert_int_equal(pd_method_load_string("f.yaml",
                                           "method: {id: iso178-c, base: iso178}\nparameters: {compliance: 0.002}\n",
                                           def, &err),
                     0);
    struct pd_flexural_params f;
    pd_flexural_params_from_def(def, &f);
    assert_true(f.compliance_mm_per_N == 0.002 && f.e1 == 0.0005 && f.e2 == 0.0025 && f.conventional_factor == 1.5);
    free(def);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worked_examples_pass),   cmocka_unit_test(test_wrong_expected_fails),
        cmocka_unit_test(test_refused_and_skipped),    cmocka_unit_test(test_clean_synthetic_curves),
        cmocka_unit_test(test_reproducible),           cmocka_unit_test(test_method_set),
        cmocka_unit_test(test_init_refuses_long_path), cmocka_unit_test(test_params_from_def),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
