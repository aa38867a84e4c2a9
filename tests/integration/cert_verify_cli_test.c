/* cert_verify_cli_test.c — `polydaq verify` attacked through the real CLI: forged certificates
 * re-signed with fresh keys (no anchor, the real lab key, a keyring), approvals changed or made
 * with one key, revocation lists (withdrawn, superseded, tampered, foreign), documents that are
 * not polydaq's exact form (duplicate keys, 1.0e0, trailing bytes, BOM, invalid UTF-8), terminal
 * escapes in what it prints; `keygen --person/--station` and a secret key readable by others. */
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
#include <sys/wait.h>
#include <unistd.h>

#include "cert/cert.h"
#include "common/cert_issue.h"
#include "common/proc.h"
#include "trust/trust.h"

static char tmp_dir[] = "/tmp/pd-verify-cli-XXXXXX";
static char lab_sk[300], lab_pk[300], forger_sk[300], forger_pk[300];
static char rev_sk[300], rev_pk[300], auth_sk[300], auth_pk[300], rev2_sk[300], rev2_pk[300];
static char output[1 << 17]; /* stdout + stderr of the last command */

static void key(const char *stem, char *sk, char *pk)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/keys", tmp_dir);
    struct pd_err err = {0};
    assert_int_equal(pd_key_generate(dir, stem, sk, 300, pk, 300, &err), 0);
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(tmp_dir))
        return -1;
    key("lab", lab_sk, lab_pk);
    key("forger", forger_sk, forger_pk);
    key("r-viewer", rev_sk, rev_pk);
    key("b-boss", auth_sk, auth_pk);
    key("o-ther", rev2_sk, rev2_pk);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Runs polydaq with the arguments (NULL-terminated); its exit status, its output in `output`. */
static int polydaq(const char *first, ...)
{
    char *argv[32] = {(char *)PD_CLI_PATH};
    size_t n = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && n < 31; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    char out[320], err[320];
    snprintf(out, sizeof out, "%s/out.txt", tmp_dir);
    snprintf(err, sizeof err, "%s/err.txt", tmp_dir);
    pid_t pid = pd_test_spawn(argv, out, err);
    assert_true(pid > 0);
    int status = pd_test_wait_exit(pid);
    const char *o = pd_test_slurp(out);
    snprintf(output, sizeof output, "%s", o ? o : "");
    const char *e = pd_test_slurp(err);
    size_t used = strlen(output);
    snprintf(output + used, sizeof output - used, "%s", e ? e : "");
    return status;
}

static void expect_output(const char *text)
{
    if (!strstr(output, text)) {
        print_error("expected \"%s\" in:\n%s\n", text, output);
        fail();
    }
}

static json_t *load(const char *path)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    assert_non_null(doc);
    return doc;
}

/* A draft in a folder of its own (its own audit log), as certify leaves it: content, a draft
 * audit entry. Its path in path[300]. */
static void make_draft(const char *name, const char *customer, char *path)
{
    char dir[200];
    snprintf(dir, sizeof dir, "%s/%s", tmp_dir, name);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(test_make_draft(dir, customer, path, 300), 0);
}

/* A certificate issued the way the registry issues it, by the lab's reviewer and authorizer. */
static void make_issued(const char *name, const char *customer, char *path)
{
    make_draft(name, customer, path);
    assert_int_equal(test_issue_signed(path, rev_sk, auth_sk, lab_sk), 0);
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

static void test_issued_certificate_verifies_only_against_a_trust_anchor(void **state)
{
    (void)state;
    char cert[300];
    make_issued("good", "ACME Automotive", cert);
    assert_int_equal(polydaq("verify", cert, "--key", lab_pk, NULL), 0);
    expect_output("ok: Ed25519 signature valid, by the trusted lab key");
    expect_output("ok: reviewer R. Viewer (key ");
    expect_output("note: CERT-000041 of Joint Plastics Test Laboratory for customer ACME Automotive, issued ");
    expect_output(": VERIFIED");
    /* the key the certificate names is never trusted by itself */
    assert_int_equal(polydaq("verify", cert, NULL), 1);
    expect_output("FAIL: signature valid, signer not trusted: no trust anchor given (--key, --keyring or --registry)");
    assert_null(strstr(output, ": VERIFIED"));
    assert_int_equal(polydaq("verify", cert, "--key", forger_pk, NULL), 1);
    expect_output("is not a trusted lab key");
}

/* Anyone can make keys: a certificate for another customer, issued and signed by a fresh "lab"
 * with fresh "persons", is consistent in itself and fails only on trust. */
static void test_forged_certificate_with_fresh_keys(void **state)
{
    (void)state;
    char forged[300];
    make_draft("forged", "Other Customer GmbH", forged);
    assert_int_equal(test_issue_signed(forged, rev2_sk, forger_sk, forger_sk), 0);
    assert_int_equal(polydaq("verify", forged, NULL), 1);
    expect_output("FAIL: signature valid, signer not trusted: no trust anchor given");
    expect_output("VERIFICATION FAILED");
    assert_int_equal(polydaq("verify", forged, "--key", lab_pk, NULL), 1);
    expect_output("FAIL: signature valid, signer not trusted: key ");
    /* the forger names the real lab key in the signature: it does not verify under it */
    json_t *doc = load(forged);
    struct pd_public_key real;
    struct pd_err err = {0};
    assert_int_equal(pd_public_key_load(lab_pk, &real, &err), 0);
    json_object_set_new(json_object_get(doc, "signature"), "public_key", json_string(real.hex));
    json_object_set_new(json_object_get(doc, "signature"), "key_id", json_string(real.id));
    assert_int_equal(test_write_cert(forged, doc), 0);
    json_decref(doc);
    assert_int_equal(polydaq("verify", forged, "--key", lab_pk, NULL), 1);
    expect_output("FAIL: signature does not verify with any trusted lab key");
}

static void test_approvals(void **state)
{
    (void)state;
    char cert[300];
    /* content changed after the approvals, re-signed by someone holding the lab key alone */
    make_issued("changed", "ACME Automotive", cert);
    json_t *doc = load(cert);
    json_object_set_new(doc, "customer", json_string("ACME Automotive (Europe)"));
    assert_int_equal(test_lab_sign(doc, lab_sk), 0);
    assert_int_equal(test_write_cert(cert, doc), 0);
    json_decref(doc);
    assert_int_equal(polydaq("verify", cert, "--key", lab_pk, NULL), 1);
    expect_output("FAIL: the reviewer approved content ");
    expect_output("(changed after approval)");

    /* one person with one key in both roles */
    make_draft("same-key", "ACME Automotive", cert);
    assert_int_equal(test_issue_signed(cert, rev_sk, rev_sk, lab_sk), 0);
    assert_int_equal(polydaq("verify", cert, "--key", lab_pk, NULL), 1);
    expect_output("FAIL: reviewer and authorizer signed with the same key");

    /* the review swapped for another reviewer's: the authorizer's signature covers the first one */
    make_issued("swapped", "ACME Automotive", cert);
    doc = load(cert);
    json_t *approvals = json_object_get(doc, "approvals");
    const char *content = json_string_value(json_object_get(json_array_get(approvals, 0), "content_sha256"));
    json_t *other = test_signed_approval("reviewer", "O. Ther", rev2_sk, "CERT-000041", content, NULL);
    assert_non_null(other);
    json_array_set_new(approvals, 0, other);
    assert_int_equal(test_lab_sign(doc, lab_sk), 0);
    assert_int_equal(test_write_cert(cert, doc), 0);
    json_decref(doc);
    assert_int_equal(polydaq("verify", cert, "--key", lab_pk, NULL), 1);
    expect_output("FAIL: the authorizer's signature (key ");
    expect_output("does not verify over this content and the reviewer's signature");

    /* approvals by name only, as approve made them before persons had keys (and the registry) */
    make_draft("unsigned", "ACME Automotive", cert);
    doc = load(cert);
    char old_content[65];
    assert_int_equal(cert_content_hash(doc, old_content), 0);
    json_object_set_new(doc, "approvals",
                        json_pack("[{s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s}]", "role", "reviewer", "name", "R. Viewer",
                                  "time", "2026-12-03T09:30:00Z", "content_sha256", old_content, "role", "authorizer",
                                  "name", "B. Boss", "time", "2026-12-03T09:40:00Z", "content_sha256", old_content));
    json_object_set_new(doc, "status", json_string("issued"));
    json_object_set_new(doc, "issued", json_string("2026-12-03T09:40:00Z"));
    assert_int_equal(test_lab_sign(doc, lab_sk), 0);
    assert_int_equal(test_write_cert(cert, doc), 0);
    json_decref(doc);
    assert_int_equal(polydaq("verify", cert, "--key", lab_pk, NULL), 1);
    expect_output("FAIL: the reviewer's approval is not signed: a certificate from before polydaq signed approvals");

    /* a second reviewer entry */
    make_issued("extra", "ACME Automotive", cert);
    doc = load(cert);
    approvals = json_object_get(doc, "approvals");
    json_array_append(approvals, json_array_get(approvals, 0));
    assert_int_equal(test_lab_sign(doc, lab_sk), 0);
    assert_int_equal(test_write_cert(cert, doc), 0);
    json_decref(doc);
    assert_int_equal(polydaq("verify", cert, "--key", lab_pk, NULL), 1);
    expect_output("exactly one reviewer and one authorizer");
}

static void write_keyring(const char *path, const char *lines)
{
    write_file(path, lines, strlen(lines));
}

static void keyring_line(const char *pub_path, const char *role, const char *label, char *buf, size_t size)
{
    struct pd_public_key k;
    struct pd_err err = {0};
    assert_int_equal(pd_public_key_load(pub_path, &k, &err), 0);
    enum pd_key_role r = (enum pd_key_role)pd_key_role_parse(role, strlen(role));
    assert_int_equal(pd_keyring_format_line(&k, r, label, buf, size, &err), 0);
}

static void test_keyring(void **state)
{
    (void)state;
    char cert[300], ring[300], lab[300], rev[300], auth[300], text[2000];
    make_issued("keyring", "ACME Automotive", cert);
    snprintf(ring, sizeof ring, "%s/keyring.txt", tmp_dir);
    keyring_line(lab_pk, "lab", "Joint Plastics Test Laboratory", lab, sizeof lab);
    keyring_line(rev_pk, "reviewer", "R. Viewer", rev, sizeof rev);
    keyring_line(auth_pk, "authorizer", "B. Boss", auth, sizeof auth);

    snprintf(text, sizeof text, "# published 2026-12-03\n%s%s%s", lab, rev, auth);
    write_keyring(ring, text);
    assert_int_equal(polydaq("verify", cert, "--keyring", ring, NULL), 0);
    expect_output("(lab key \"Joint Plastics Test Laboratory\" of the keyring)");
    expect_output("ok: the keyring lists the reviewer's key as \"R. Viewer\" and the authorizer's as \"B. Boss\"");

    /* persons only: nothing to trust the certificate's signature with */
    snprintf(text, sizeof text, "%s%s", rev, auth);
    write_keyring(ring, text);
    assert_int_equal(polydaq("verify", cert, "--keyring", ring, NULL), 1);
    expect_output("FAIL: signature valid, signer not trusted: no trust anchor given (the keyring lists no lab key");

    /* the two persons' roles swapped in the keyring */
    keyring_line(rev_pk, "authorizer", "R. Viewer", rev, sizeof rev);
    keyring_line(auth_pk, "reviewer", "B. Boss", auth, sizeof auth);
    snprintf(text, sizeof text, "%s%s%s", lab, rev, auth);
    write_keyring(ring, text);
    assert_int_equal(polydaq("verify", cert, "--keyring", ring, NULL), 1);
    expect_output("is not a reviewer's key in the keyring");
    expect_output("is not an authorizer's key in the keyring");

    /* a damaged line: named */
    snprintf(text, sizeof text, "%s\n%s", lab, "polydaq-ed25519-public 12 lab Short\n");
    write_keyring(ring, text);
    assert_int_equal(polydaq("verify", cert, "--keyring", ring, NULL), 2);
    expect_output("keyring.txt:3: ");
}

/* A revocation list as `registry publish` writes it, signed with sk (NULL: unsigned). */
static void write_revocations(const char *path, json_t *entries, const char *sk)
{
    json_t *list = json_pack("{s:s,s:s,s:s,s:o}", "format", "polydaq-revocations-1", "lab",
                             "Joint Plastics Test Laboratory", "published", "2026-12-03T12:00:00Z", "entries", entries);
    assert_non_null(list);
    if (sk)
        assert_int_equal(test_lab_sign(list, sk), 0);
    char *text = json_dumps(list, JSON_INDENT(2) | JSON_SORT_KEYS);
    write_file(path, text, strlen(text));
    free(text);
    json_decref(list);
}

static void test_revocation_list(void **state)
{
    (void)state;
    char cert[300], rl[300];
    make_issued("revoked", "ACME Automotive", cert);
    snprintf(rl, sizeof rl, "%s/revocations.json", tmp_dir);

    write_revocations(rl, json_pack("[{s:s,s:s,s:n,s:s,s:s}]", "certificate", "CERT-000041", "state", "withdrawn",
                                    "by", "reason", "wrong customer", "time", "2026-12-02T09:00:00Z"),
                      lab_sk);
    assert_int_equal(polydaq("verify", cert, "--key", lab_pk, "--revocations", rl, NULL), 1);
    expect_output("FAIL: CERT-000041 was withdrawn on 2026-12-02T09:00:00Z: wrong customer");

    write_revocations(rl, json_pack("[{s:s,s:s,s:s,s:s,s:s}]", "certificate", "CERT-000041", "state", "superseded",
                                    "by", "CERT-000043", "reason", "customer name corrected", "time",
                                    "2026-12-02T10:00:00Z"),
                      lab_sk);
    assert_int_equal(polydaq("verify", cert, "--key", lab_pk, "--revocations", rl, NULL), 1);
    expect_output("FAIL: CERT-000041 was superseded by CERT-000043 on 2026-12-02T10:00:00Z: customer name corrected");

    /* tampered after signing: the entry that withdraws this certificate removed */
    json_t *list = load(rl);
    json_array_clear(json_object_get(list, "entries"));
    char *text = json_dumps(list, JSON_INDENT(2) | JSON_SORT_KEYS);
    write_file(rl, text, strlen(text));
    free(text);
    json_decref(list);
    assert_int_equal(polydaq("verify", cert, "--key", lab_pk, "--revocations", rl, NULL), 1);
    expect_output("is not signed by a trusted lab key");

    /* another certificate listed, signed by the lab: this one is current */
    write_revocations(rl, json_pack("[{s:s,s:s,s:n,s:s,s:s}]", "certificate", "CERT-000040", "state", "withdrawn",
                                    "by", "reason", "test", "time", "2026-12-02T09:00:00Z"),
                      lab_sk);
    assert_int_equal(polydaq("verify", cert, "--key", lab_pk, "--revocations", rl, NULL), 0);
    expect_output("ok: CERT-000041 is neither withdrawn nor superseded in the revocation list of Joint Plastics Test "
                  "Laboratory published 2026-12-03T12:00:00Z");
    /* ... but signed by another key, the list proves nothing */
    write_revocations(rl, json_pack("[]"), forger_sk);
    assert_int_equal(polydaq("verify", cert, "--key", lab_pk, "--revocations", rl, NULL), 1);
    expect_output("is not signed by a trusted lab key");

    /* not a revocation list: a bad state, a duplicate key */
    write_revocations(rl, json_pack("[{s:s,s:s,s:n,s:s,s:s}]", "certificate", "CERT-000041", "state", "revoked",
                                    "by", "reason", "x", "time", "2026-12-02T09:00:00Z"),
                      lab_sk);
    assert_int_equal(polydaq("verify", cert, "--key", lab_pk, "--revocations", rl, NULL), 2);
    expect_output("entries[0]: certificate, state (withdrawn or superseded)");
    static const char dup[] = "{\"format\": \"polydaq-revocations-1\", \"format\": \"x\"}";
    write_file(rl, dup, sizeof dup - 1);
    assert_int_equal(polydaq("verify", cert, "--key", lab_pk, "--revocations", rl, NULL), 2);
    expect_output("duplicate object key");
}

/* The certificate's bytes with `from` replaced by `to` (the first occurrence) into path. */
static void edited(const char *cert, const char *from, const char *to, const char *path, const char *prefix,
                   const char *suffix)
{
    const char *orig = pd_test_slurp(cert);
    assert_non_null(orig);
    static char text[1 << 16];
    const char *at = from ? strstr(orig, from) : NULL;
    assert_true(!from || at);
    size_t n = 0;
    n += (size_t)snprintf(text + n, sizeof text - n, "%s", prefix ? prefix : "");
    if (at) {
        n += (size_t)snprintf(text + n, sizeof text - n, "%.*s%s%s", (int)(at - orig), orig, to, at + strlen(from));
    } else {
        n += (size_t)snprintf(text + n, sizeof text - n, "%s", orig);
    }
    n += (size_t)snprintf(text + n, sizeof text - n, "%s", suffix ? suffix : "");
    write_file(path, text, n);
}

static void test_documents_not_in_polydaqs_form_are_refused(void **state)
{
    (void)state;
    char cert[300], bad[300];
    make_issued("strict", "ACME Automotive", cert);
    snprintf(bad, sizeof bad, "%s/strict/CERT-000042.json", tmp_dir);
    struct {
        const char *from, *to, *prefix, *suffix, *says;
    } cases[] = {
        {"  \"customer\": \"ACME Automotive\",", "  \"customer\": \"Evil Corp\",\n  \"customer\": \"ACME Automotive\",",
         NULL, NULL, "duplicate object key"},
        {"\"id\": \"S01\",", "\"id\": \"S99\",\n      \"id\": \"S01\",", NULL, NULL, "duplicate object key"},
        {"\"specimens_tested\": 1,", "\"specimens_tested\": 1.0e0,", NULL, NULL,
         "not a canonical polydaq certificate"},
        {"\"value\": 1503.5", "\"value\": 1.5035e3", NULL, NULL, "not a canonical polydaq certificate"},
        {"ACME", "\\u0041CME", NULL, NULL, "not a canonical polydaq certificate"},
        {NULL, NULL, NULL, "\n{}", "not a certificate: end of file expected"},
        {NULL, NULL, NULL, "\n\n", "not a canonical polydaq certificate"},
        {NULL, NULL, "\xEF\xBB\xBF", NULL, "not a certificate"},
        {"ACME", "AC\xC3\x28ME", NULL, NULL, "not a certificate"},
        {"ACME", "AC\\u0000ME", NULL, NULL, "not a certificate"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        edited(cert, cases[i].from, cases[i].to, bad, cases[i].prefix, cases[i].suffix);
        int status = polydaq("verify", bad, "--key", lab_pk, NULL);
        if (status != 2)
            print_error("case %zu: exit %d\n%s\n", i, status, output);
        assert_int_equal(status, 2);
        expect_output(cases[i].says);
        expect_output("CERT-000042.json:"); /* named with line and column */
    }
    /* one final newline is how an editor saves the file: still the same document */
    edited(cert, NULL, NULL, bad, NULL, "\n");
    assert_int_equal(polydaq("verify", bad, "--key", lab_pk, NULL), 0);
}

static bool has_raw_control(const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if ((*c < 0x20 && *c != '\n') || *c == 0x7F || (c[0] == 0xE2 && c[1] == 0x80 && c[2] == 0xAE))
            return true;
    return false;
}

static void test_printed_text_is_escaped(void **state)
{
    (void)state;
    char cert[300];
    make_draft("escape", "\x1b[2J\x1b[HACME\rVERIFIED \xE2\x80\xAE" "DELIAF", cert);
    assert_int_equal(test_issue_signed_as(cert, "R. \x1b]0;owned\x07Viewer", rev_sk, "B.\bBoss", auth_sk, lab_sk), 0);
    assert_int_equal(polydaq("verify", cert, "--key", lab_pk, NULL), 0);
    assert_false(has_raw_control(output));
    expect_output("for customer \\x1B[2J\\x1B[HACME\\x0DVERIFIED \\u{202E}DELIAF, issued");
    expect_output("reviewer R. \\x1B]0;owned\\x07Viewer (key ");
    expect_output("authorizer B.\\x08Boss (key ");
    /* the same in a FAIL line: the revocation reason */
    char rl[300];
    snprintf(rl, sizeof rl, "%s/escape/revocations.json", tmp_dir);
    write_revocations(rl, json_pack("[{s:s,s:s,s:n,s:s,s:s}]", "certificate", "CERT-000041", "state", "withdrawn",
                                    "by", "reason", "ok\r\x1b[32mVERIFIED\x1b[0m", "time", "2026-12-02"),
                      lab_sk);
    assert_int_equal(polydaq("verify", cert, "--key", lab_pk, "--revocations", rl, NULL), 1);
    assert_false(has_raw_control(output));
    expect_output("withdrawn on 2026-12-02: ok\\x0D\\x1B[32mVERIFIED\\x1B[0m");
}

static void test_keygen_person_station_and_open_keys(void **state)
{
    (void)state;
    char dir[300], path[400];
    snprintf(dir, sizeof dir, "%s/people", tmp_dir);
    assert_int_equal(polydaq("keygen", "-o", dir, "--person", "R. Viewer", NULL), 0);
    snprintf(path, sizeof path, "%s/r-viewer.key", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/r-viewer.pub", dir);
    assert_int_equal(access(path, R_OK), 0);
    assert_int_equal(polydaq("keygen", "-o", dir, "--person", "r viewer", NULL), 2); /* the same slug */
    expect_output("not overwritten");
    assert_int_equal(polydaq("keygen", "-o", dir, "--station", "Frame #1 (hall B)", NULL), 0);
    snprintf(path, sizeof path, "%s/station-frame-1-hall-b.key", dir);
    assert_int_equal(access(path, R_OK), 0);
    assert_int_equal(polydaq("keygen", "-o", dir, "--person", "...", NULL), 2);
    assert_int_equal(polydaq("keygen", "-o", dir, "--person", "Lab", NULL), 2);
    assert_int_equal(polydaq("keygen", "-o", dir, "--person", "A", "--station", "B", NULL), 2);

    /* the lab's key readable by others: signing refuses it, the draft stays as it was */
    char cert[300], open_key[320];
    make_draft("open-key", "ACME Automotive", cert);
    snprintf(open_key, sizeof open_key, "%s/lab-copy.key", dir);
    const char *k = pd_test_slurp(lab_sk);
    assert_non_null(k);
    write_file(open_key, k, strlen(k));
    assert_int_equal(chmod(open_key, 0644), 0);
    /* the draft's folder made a registry (migrated), the lab key and the two persons registered */
    char folder[300];
    snprintf(folder, sizeof folder, "%s/open-key", tmp_dir);
    assert_int_equal(polydaq("registry", "migrate", folder, NULL), 0);
    assert_int_equal(polydaq("registry", "init", folder, "--lab-key", lab_pk, NULL), 0);
    assert_int_equal(polydaq("registry", "person", "add", "-o", folder, "--key", rev_pk, "--name", "R. Viewer", "--role",
                             "reviewer", NULL),
                     0);
    assert_int_equal(polydaq("registry", "person", "add", "-o", folder, "--key", auth_pk, "--name", "B. Boss", "--role",
                             "authorizer", NULL),
                     0);
    assert_int_equal(polydaq("approve", cert, "--key", rev_sk, "--role", "reviewer", NULL), 0);
    assert_int_equal(polydaq("approve", cert, "--key", auth_sk, "--role", "authorizer", "--lab-key", open_key, NULL), 2);
    expect_output("permissions 0644 are too open");
    json_t *doc = load(cert);
    assert_string_equal(json_string_value(json_object_get(doc, "status")), "reviewed");
    json_decref(doc);
}

/* The Python verifier in tests/integration (its own canonical form, the `cryptography` package's
 * Ed25519): what polydaq signs is checkable without polydaq, as docs/CERTIFICATES.md tells a
 * customer. */
static int independent(const char *cert, const char *pub)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/integration/independent_verify.py' '%s' '%s' >'%s/py.txt' 2>&1",
             PD_SOURCE_DIR, cert, pub, tmp_dir);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void test_independent_verifier_agrees(void **state)
{
    (void)state;
    if (system("/usr/bin/python3 -c 'import cryptography.hazmat.primitives.asymmetric.ed25519' 2>/dev/null") != 0)
        skip();
    char cert[300];
    make_issued("python", "ACME Automotive", cert);
    assert_int_equal(independent(cert, lab_pk), 0);
    /* non-ASCII, a character beyond the BMP, controls, quotes and backslashes in the signed text */
    make_draft("python-text", "Müller \"Søn\" \\ 東京 \xF0\x9F\x98\x80 \x1b[2J\r\t\x7f", cert);
    assert_int_equal(test_issue_signed_as(cert, "R. Viewer", rev_sk, "B. Boß", auth_sk, lab_sk), 0);
    assert_int_equal(polydaq("verify", cert, "--key", lab_pk, NULL), 0);
    assert_int_equal(independent(cert, lab_pk), 0);
    assert_int_equal(independent(cert, forger_pk), 1); /* another key */
    /* OpenSSL's Ed25519 on those bytes, the lab key as DER (RFC 8410 prefix + the 32 bytes) */
    if (system("openssl version >/dev/null 2>&1") == 0) {
        char cmd[2400];
        snprintf(cmd, sizeof cmd,
                 "cd '%s' && /usr/bin/python3 '%s/tests/integration/independent_verify.py' --signed-bytes '%s' "
                 ">signed.bin && /usr/bin/python3 -c 'import json,sys; sys.stdout.buffer.write(bytes.fromhex("
                 "json.load(open(sys.argv[1]))[\"signature\"][\"value\"]))' '%s' >sig.bin && "
                 "/usr/bin/python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(\"302a300506032b6570032100\" "
                 "+ open(sys.argv[1]).read().split()[1]))' '%s' | openssl pkey -pubin -inform DER -out lab.pem && "
                 "openssl pkeyutl -verify -pubin -inkey lab.pem -rawin -in signed.bin -sigfile sig.bin >/dev/null",
                 tmp_dir, PD_SOURCE_DIR, cert, cert, lab_pk);
        assert_int_equal(system(cmd), 0);
        snprintf(cmd, sizeof cmd,
                 "cd '%s' && printf x >>signed.bin && ! openssl pkeyutl -verify -pubin -inkey lab.pem -rawin "
                 "-in signed.bin -sigfile sig.bin >/dev/null 2>&1",
                 tmp_dir);
        assert_int_equal(system(cmd), 0); /* one byte more: refused */
    }
    json_t *doc = load(cert);
    json_object_set_new(doc, "customer", json_string("Other Customer GmbH"));
    assert_int_equal(test_lab_sign(doc, lab_sk), 0); /* lab-signed, but not what was approved */
    assert_int_equal(test_write_cert(cert, doc), 0);
    json_decref(doc);
    assert_int_equal(independent(cert, lab_pk), 1);
    assert_int_equal(polydaq("verify", cert, "--key", lab_pk, NULL), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issued_certificate_verifies_only_against_a_trust_anchor),
        cmocka_unit_test(test_forged_certificate_with_fresh_keys),
        cmocka_unit_test(test_approvals),
        cmocka_unit_test(test_keyring),
        cmocka_unit_test(test_revocation_list),
        cmocka_unit_test(test_documents_not_in_polydaqs_form_are_refused),
        cmocka_unit_test(test_printed_text_is_escaped),
        cmocka_unit_test(test_keygen_person_station_and_open_keys),
        cmocka_unit_test(test_independent_verifier_agrees),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
