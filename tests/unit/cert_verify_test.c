/* cert_verify_test.c — pd_cert_verify as a library: trust anchors (none, a key file, a keyring with
 * and without a lab key), forged and changed certificates, signed approvals, the revocation list,
 * and certificates refused as input (duplicate keys, not polydaq's exact form). The CLI's view
 * (exit codes, escaped output) is tests/integration/cert_verify_cli_test.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cert/cert.h"
#include "common/cert_issue.h"
#include "trust/trust.h"

static char tmp_dir[] = "/tmp/pd-verify-XXXXXX";
static char lab_sk[300], lab_pk[300], forger_sk[300], rev_sk[300], rev_pk[300], auth_sk[300], auth_pk[300];
static struct pd_verify_report report;

static void key(const char *stem, char *sk, char *pk)
{
    char dir[300], ignored[300];
    snprintf(dir, sizeof dir, "%s/keys", tmp_dir);
    struct pd_err err = {0};
    assert_int_equal(pd_key_generate(dir, stem, sk, 300, pk ? pk : ignored, 300, &err), 0);
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(tmp_dir))
        return -1;
    key("lab", lab_sk, lab_pk);
    key("forger", forger_sk, NULL);
    key("r-viewer", rev_sk, rev_pk);
    key("b-boss", auth_sk, auth_pk);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void issued(const char *name, const char *customer, const char *lab_key, char *path)
{
    char dir[200];
    snprintf(dir, sizeof dir, "%s/%s", tmp_dir, name);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(test_make_draft(dir, customer, path, 300), 0);
    assert_int_equal(test_issue_signed(path, rev_sk, auth_sk, lab_key), 0);
}

/* verify with these options; true when everything verified. The report in `report`. */
static bool verified(const char *cert, const struct pd_verify_options *opt)
{
    struct pd_err err = {0};
    int rc = pd_cert_verify(cert, opt, &report, &err);
    if (rc != 0)
        print_error("verify: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return report.ok;
}

static bool says(const char *text)
{
    for (size_t i = 0; i < report.n_lines; i++)
        if (strstr(report.lines[i], text))
            return true;
    for (size_t i = 0; i < report.n_lines; i++)
        print_error("  %s\n", report.lines[i]);
    return false;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_trust_anchors(void **state)
{
    (void)state;
    char cert[300], forged[300], ring[300], line[3][400], text[1400];
    issued("anchors", "ACME Automotive", lab_sk, cert);
    issued("forged", "Other Customer GmbH", forger_sk, forged);
    struct pd_verify_options opt = {.key_path = lab_pk};
    assert_true(verified(cert, &opt));
    assert_true(says("ok: Ed25519 signature valid, by the trusted lab key"));
    assert_false(verified(forged, &opt));
    assert_true(says("FAIL: signature valid, signer not trusted: key "));
    const struct pd_verify_options none = {0};
    assert_false(verified(cert, &none));
    assert_true(says("FAIL: signature valid, signer not trusted: no trust anchor given (--key, --keyring or --registry)"));
    assert_false(verified(forged, NULL));

    struct pd_public_key k;
    struct pd_err err = {0};
    const char *pubs[3] = {lab_pk, rev_pk, auth_pk};
    const enum pd_key_role roles[3] = {PD_KEY_ROLE_LAB, PD_KEY_ROLE_REVIEWER, PD_KEY_ROLE_AUTHORIZER};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pd_public_key_load(pubs[i], &k, &err), 0);
        assert_int_equal(pd_keyring_format_line(&k, roles[i], "someone", line[i], sizeof line[i], &err), 0);
    }
    snprintf(ring, sizeof ring, "%s/keyring.txt", tmp_dir);
    snprintf(text, sizeof text, "%s%s%s", line[0], line[1], line[2]);
    write_text(ring, text);
    const struct pd_verify_options with_ring = {.keyring_path = ring};
    assert_true(verified(cert, &with_ring));
    assert_true(says("ok: the keyring lists the reviewer's key as"));
    assert_false(verified(forged, &with_ring));
    snprintf(text, sizeof text, "%s%s", line[1], line[2]); /* persons only */
    write_text(ring, text);
    assert_false(verified(cert, &with_ring));
    assert_true(says("signer not trusted: no trust anchor given (the keyring lists no lab key"));
    write_text(ring, "polydaq-ed25519-public 00 lab x\n");
    assert_int_equal(pd_cert_verify(cert, &with_ring, &report, &err), PD_EDATA);
    assert_non_null(strstr(err.where, "keyring.txt:1"));
}

static void test_changed_after_approval(void **state)
{
    (void)state;
    char cert[300];
    issued("changed", "ACME Automotive", lab_sk, cert);
    json_error_t jerr;
    json_t *doc = json_load_file(cert, 0, &jerr);
    assert_non_null(doc);
    json_object_set_new(doc, "customer", json_string("ACME Automotive (Europe)"));
    assert_int_equal(test_lab_sign(doc, lab_sk), 0);
    assert_int_equal(test_write_cert(cert, doc), 0);
    json_decref(doc);
    const struct pd_verify_options opt = {.key_path = lab_pk};
    assert_false(verified(cert, &opt));
    assert_true(says("ok: Ed25519 signature valid")); /* the lab key signed it ... */
    assert_true(says("(changed after approval)"));    /* ... but not what was approved */
}

static void write_list(const char *path, json_t *entries, const char *sk)
{
    json_t *list = json_pack("{s:s,s:s,s:s,s:o}", "format", "polydaq-revocations-1", "lab", "JPTL", "published",
                             "2026-12-03T12:00:00Z", "entries", entries);
    assert_int_equal(test_lab_sign(list, sk), 0);
    assert_int_equal(json_dump_file(list, path, JSON_INDENT(2)), 0);
    json_decref(list);
}

static void test_revocations(void **state)
{
    (void)state;
    char cert[300], list[300];
    issued("revoked", "ACME Automotive", lab_sk, cert);
    snprintf(list, sizeof list, "%s/revocations.json", tmp_dir);
    const struct pd_verify_options opt = {.key_path = lab_pk, .revocations_path = list};
    write_list(list, json_pack("[{s:s,s:s,s:s,s:s,s:s}]", "certificate", "CERT-000041", "state", "superseded", "by",
                               "CERT-000043", "reason", "customer name corrected", "time", "2026-12-02"),
               lab_sk);
    assert_false(verified(cert, &opt));
    assert_true(says("FAIL: CERT-000041 was superseded by CERT-000043 on 2026-12-02: customer name corrected"));
    write_list(list, json_pack("[]"), lab_sk);
    assert_true(verified(cert, &opt));
    assert_true(says("ok: CERT-000041 is neither withdrawn nor superseded"));
    write_list(list, json_pack("[]"), forger_sk);
    assert_false(verified(cert, &opt));
    assert_true(says("is not signed by a trusted lab key"));
    write_text(list, "{\"format\": \"polydaq-revocations-1\"}");
    struct pd_err err = {0};
    assert_int_equal(pd_cert_verify(cert, &opt, &report, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "not a polydaq revocation list"));
}

static void test_refused_documents(void **state)
{
    (void)state;
    char cert[300], bad[300];
    issued("refused", "ACME Automotive", lab_sk, cert);
    snprintf(bad, sizeof bad, "%s/refused/CERT-000042.json", tmp_dir);
    const char *orig = NULL;
    FILE *f = fopen(cert, "r");
    assert_non_null(f);
    static char text[1 << 16], changed[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    orig = strstr(text, "\"customer\": \"ACME Automotive\"");
    assert_non_null(orig);
    const struct pd_verify_options opt = {.key_path = lab_pk};
    struct pd_err err = {0};
    /* a second "customer" before the signed one */
    snprintf(changed, sizeof changed, "%.*s\"customer\": \"Evil Corp\",\n  %s", (int)(orig - text), text, orig);
    write_text(bad, changed);
    assert_int_equal(pd_cert_verify(bad, &opt, &report, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "duplicate object key"));
    /* the same values, another spelling */
    snprintf(changed, sizeof changed, "%.*s\"customer\": \"\\u0041CME Automotive\"%s", (int)(orig - text), text,
             orig + strlen("\"customer\": \"ACME Automotive\""));
    write_text(bad, changed);
    assert_int_equal(pd_cert_verify(bad, &opt, &report, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "not a canonical polydaq certificate"));
    char where[320];
    snprintf(where, sizeof where, "%s:", bad);
    assert_non_null(strstr(err.where, where));
    /* the original still verifies */
    assert_true(verified(cert, &opt));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trust_anchors),
        cmocka_unit_test(test_changed_after_approval),
        cmocka_unit_test(test_revocations),
        cmocka_unit_test(test_refused_documents),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
