/* cert_definition_test.c — the complete method definition a certificate records (method.definition):
 * written from the effective method and read back it gives exactly that method — every built-in
 * one, and a lab variant with awkward texts and parameters that need all 17 digits — and a
 * certificate's method object yields the method recompute evaluates with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert_internal.h"

/* Everything of the effective method but the file it came from and its text. */
static void assert_same_method(const struct pd_method_def *a, const struct pd_method_def *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->base, b->base);
    assert_string_equal(a->title, b->title);
    assert_string_equal(a->standard, b->standard);
    assert_string_equal(a->conditioning, b->conditioning);
    assert_int_equal(a->specimens, b->specimens);
    assert_true(a->speed_mm_min == b->speed_mm_min);
    assert_int_equal(a->n_channels, b->n_channels);
    for (size_t i = 0; i < a->n_channels; i++) {
        assert_string_equal(a->channels[i].name, b->channels[i].name);
        assert_string_equal(a->channels[i].unit, b->channels[i].unit);
    }
    assert_int_equal(a->n_params, b->n_params);
    for (size_t i = 0; i < a->n_params; i++) {
        assert_string_equal(a->params[i].key, b->params[i].key);
        if (a->params[i].value != b->params[i].value)
            fail_msg("%s: %.17g vs %.17g", a->params[i].key, a->params[i].value, b->params[i].value);
    }
    assert_true(a->uncertainty.k == b->uncertainty.k);
    assert_int_equal(a->uncertainty.repeatability, b->uncertainty.repeatability);
    for (int s = 0; s < PD_U_SOURCE_COUNT; s++)
        assert_true(a->uncertainty.input[s] == b->uncertainty.input[s]);
}

static void round_trip(const struct pd_method_def *def)
{
    static struct pd_method_def back;
    char *text = cert_method_definition(def, cert_method_find(def->base));
    assert_non_null(text);
    struct pd_err err = {0};
    if (pd_method_load_string("definition", text, &back, &err) < 0)
        fail_msg("%s\n%s", err.msg, text);
    assert_same_method(def, &back);
    char *again = cert_method_definition(&back, cert_method_find(back.base));
    assert_non_null(again);
    assert_string_equal(text, again); /* a fixed point: the same text once more */
    free(text);
    free(again);
}

static void test_builtin_methods_round_trip(void **state)
{
    (void)state;
    static struct pd_method_def def;
    struct pd_err err = {0};
    for (size_t i = 0; pd_cert_method_ids[i]; i++) {
        assert_int_equal(pd_method_defaults(pd_cert_method_ids[i], &def, &err), 0);
        round_trip(&def);
    }
}

static void test_lab_variant_round_trip(void **state)
{
    (void)state;
    static struct pd_method_def def;
    struct pd_err err = {0};
    const char *text = "method:\n"
                       "  id: iso527-lab\n"
                       "  base: iso527\n"
                       "  title: 'Zugversuch \"Lab\": 50 # mm\\min — ε, σ'\n"
                       "  standard: ISO 527-2:2012/1A/50\n"
                       "  conditioning: \"96 h at 23 \\u00b0C: 50 % RH\"\n"
                       "  specimens: 10\n"
                       "  speed: 0.1\n"
                       "channels:\n"
                       "  - {name: force, unit: N}\n"
                       "  - {name: crosshead, unit: mm}\n"
                       "parameters:\n"
                       "  e2: 0.0030000000000000001\n"
                       "  chord_window: 0.000033333333333333335\n"
                       "  modulus: regression\n"
                       "  strain_source: crosshead\n"
                       "  toe_compensation: true\n"
                       "uncertainty:\n"
                       "  k: 2.1\n"
                       "  force_class: 0.5\n"
                       "  dimension: 0.02\n"
                       "  repeatability: false\n";
    if (pd_method_load_string("lab.yaml", text, &def, &err) < 0)
        fail_msg("%s", err.msg);
    assert_true(pd_method_param(&def, "chord_window") == 1.0 / 30000.0);
    round_trip(&def);
}

static void test_method_from_certificate(void **state)
{
    (void)state;
    static struct pd_method_def def, got;
    struct pd_err err = {0};
    assert_int_equal(pd_method_defaults("iso178", &def, &err), 0);
    def.params[0].value = 0.0007; /* another modulus range start than this build's default */
    char *definition = cert_method_definition(&def, cert_method_find("iso178"));
    assert_non_null(definition);
    json_t *mo = json_pack("{s:s,s:s,s:s,s:s}", "definition", definition, "file", "/lab/methods/flex.yaml", "text",
                           "method: {id: iso178}\n", "base", "iso178");
    free(definition);
    char note[300] = "x";
    assert_int_equal(cert_method_from_doc(mo, &got, note, sizeof note, &err), 0);
    assert_string_equal(note, "");
    assert_same_method(&def, &got);
    assert_string_equal(got.path, "/lab/methods/flex.yaml"); /* provenance as recorded */
    assert_string_equal(got.text, "method: {id: iso178}\n");
    json_decref(mo);

    /* a certificate from before method.definition: the built-in method with the parameters it
     * records, and a note naming what it does not record */
    json_t *params = json_object();
    for (size_t i = 1; i < def.n_params; i++)
        json_object_set_new(params, def.params[i].key, json_real(def.params[i].value + 1.0));
    mo = json_pack("{s:s,s:s,s:o}", "base", "iso178", "file", "(built-in defaults)", "parameters", params);
    assert_int_equal(cert_method_from_doc(mo, &got, note, sizeof note, &err), 0);
    for (size_t i = 1; i < def.n_params; i++)
        assert_true(got.params[i].value == def.params[i].value + 1.0);
    assert_non_null(strstr(note, def.params[0].key));
    json_decref(mo);

    /* a definition that does not load is an error naming it */
    mo = json_pack("{s:s}", "definition", "method: {id: iso178}\nparameters: {e1: nonsense}\n");
    assert_int_equal(cert_method_from_doc(mo, &got, note, sizeof note, &err), PD_ECONFIG);
    assert_non_null(strstr(err.msg, "method.definition"));
    json_decref(mo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_methods_round_trip),
        cmocka_unit_test(test_lab_variant_round_trip),
        cmocka_unit_test(test_method_from_certificate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
