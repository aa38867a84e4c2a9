/* server_public_test.c — public certificate verification in-process (pd_server_start on loopback,
 * real sockets), so public.c runs under valgrind and the sanitizers: the page and JSON of issued,
 * superseded and withdrawn certificates with every value escaped, drafts and unknown numbers the
 * same 404, the {cert} route's form, the upload checks (types, forms, drafts, PDFs), the published
 * keys, the multipart reader on every cut of a form and on malformed ones, and the limits on
 * unknown numbers and uploads. The registry's rows are written directly (no signing here: what a
 * real certificate verifies to is server_verify_test.sh's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "registry/registry.h"
#include "server/internal.h"

#include "common/srv_db.h"

static struct pd_server *srv;
static uint16_t port;

static void call(const char *method, const char *path, const char *ctype, const char *body, size_t body_len,
                 struct srv_answer *ans)
{
    srv_call(port, method, path, NULL, false, ctype, body, body_len, ans);
}

static void get(const char *path, struct srv_answer *ans)
{
    call("GET", path, NULL, NULL, 0, ans);
}

static void post(const char *path, const char *ctype, const char *body, struct srv_answer *ans)
{
    call("POST", path, ctype, body, strlen(body), ans);
}

/* A registry row: id, status, document (lab name as given), superseded_by, retired, reason. */
static void add_cert(struct pd_registry *reg, long long number, const char *status, const char *lab,
                     const char *superseded_by, const char *reason)
{
    struct pd_registry_cert c;
    memset(&c, 0, sizeof c);
    c.number = number;
    snprintf(c.id, sizeof c.id, "CERT-%06lld", number);
    pd_strlcpy(c.status, status, sizeof c.status);
    json_t *doc = json_pack("{s:s,s:{s:s},s:{s:s,s:s}}", "certificate_id", c.id, "lab", "name", lab, "signature",
                            "key_id", "0123456789abcdef", "public_key",
                            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    c.document = json_dumps(doc, JSON_SORT_KEYS);
    json_decref(doc);
    memset(c.content_sha256, 'c', 64);
    snprintf(c.document_sha256, sizeof c.document_sha256, "%064lld", number);
    pd_strlcpy(c.drafted, "2026-12-01T10:00:00Z", sizeof c.drafted);
    if (strcmp(status, "draft") != 0)
        pd_strlcpy(c.issued, "2026-12-02T11:22:33.123456789Z", sizeof c.issued);
    if (superseded_by)
        pd_strlcpy(c.superseded_by, superseded_by, sizeof c.superseded_by);
    if (reason) {
        pd_strlcpy(c.withdrawn, "2026-12-03T08:00:00Z", sizeof c.withdrawn);
        pd_strlcpy(c.reason, reason, sizeof c.reason);
    }
    struct pd_err err;
    assert_int_equal(pd_registry_cert_insert(reg, &c, &err), 0);
    free(c.document);
}

static int setup(void **state)
{
    (void)state;
    if (srv_tmp_setup(state) < 0)
        return -1;
    char certs[300];
    snprintf(certs, sizeof certs, "%s/certs", tmp_dir);
    if (mkdir(certs, 0755) != 0)
        return -1;
    struct pd_registry reg;
    struct pd_err err;
    if (pd_registry_open(&reg, certs, PD_REGISTRY_CREATE, &err) < 0 || pd_registry_begin(&reg, &err) < 0)
        return -1;
    add_cert(&reg, 1, "issued", "Lab <b>&amp; \"Co\"</b>", NULL, NULL);
    add_cert(&reg, 2, "draft", "Lab", NULL, NULL);
    add_cert(&reg, 4, "issued", "Lab", NULL, NULL);
    add_cert(&reg, 3, "superseded", "Lab", "CERT-000004", "a typo <script>alert(1)</script>");
    add_cert(&reg, 5, "withdrawn", "Lab", NULL, "specimens mixed up");
    add_cert(&reg, 6, "reviewed", "Lab", NULL, NULL);
    add_cert(&reg, 7, "issued", "Lab", NULL, NULL); /* withdrawn by test_registry_kept_open */
    if (pd_registry_commit(&reg, &err) < 0)
        return -1;
    pd_registry_close(&reg);
    struct pd_server_options opt = {.listen_addr = "127.0.0.1", .port = 0, .data_dir = tmp_dir, .threads = 2};
    if (pd_server_start(&opt, &srv, NULL) < 0)
        return -1;
    port = pd_server_port(srv);
    return port ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    if (srv)
        pd_server_stop(srv, 5000);
    return srv_tmp_teardown(state);
}

static void test_pages(void **state)
{
    (void)state;
    struct srv_answer a;
    get("/v/CERT-000001", &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.headers, "Content-Type: text/html; charset=utf-8"));
    assert_non_null(strstr(a.headers, "Content-Security-Policy: default-src 'self'; frame-ancestors 'none'"));
    assert_non_null(strstr(a.body, "data-status=\"issued\">Issued and valid"));
    assert_non_null(strstr(a.body, "Lab &lt;b&gt;&amp;amp; &quot;Co&quot;&lt;/b&gt;")); /* as text */
    assert_null(strstr(a.body, "<b>"));
    assert_non_null(strstr(a.body, "2026-12-02 11:22:33 UTC"));
    assert_non_null(strstr(a.body, "0123456789abcdef"));
    assert_non_null(strstr(a.body, "0000000000000000000000000000000000000000000000000000000000000001"));
    assert_non_null(strstr(a.body, "action=\"/v/CERT-000001/check\""));
    get("/v/CERT-000003", &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body, "Superseded by CERT-000004 on 2026-12-03 08:00:00 UTC"));
    assert_non_null(strstr(a.body, "href=\"/v/CERT-000004\""));
    assert_non_null(strstr(a.body, "a typo &lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_null(strstr(a.body, "<script>alert"));
    get("/v/CERT-000005", &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body, "data-status=\"withdrawn\">Withdrawn on 2026-12-03 08:00:00 UTC"));
    assert_non_null(strstr(a.body, "specimens mixed up"));

    get("/api/v1/public/certificates/CERT-000003", &a);
    assert_int_equal(a.status, 200);
    json_t *o = json_loads(a.body, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "superseded");
    assert_string_equal(json_string_value(json_object_get(o, "superseded_by")), "CERT-000004");
    assert_string_equal(json_string_value(json_object_get(o, "issued")), "2026-12-02T11:22:33.123456789Z");
    json_decref(o);
    get("/api/v1/public/certificates/CERT-000001", &a);
    o = json_loads(a.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "lab")), "Lab <b>&amp; \"Co\"</b>");
    assert_null(json_object_get(o, "reason")); /* issued: nothing retired */
    json_decref(o);
}

/* Each worker keeps its registry connection open (opened at the first lookup, for speed): a
 * change another process commits afterwards is still what the next page says. */
static void test_registry_kept_open(void **state)
{
    (void)state;
    struct srv_answer a;
    for (int i = 0; i < 6; i++) { /* every worker's connection has looked the number up */
        get("/v/CERT-000007", &a);
        assert_int_equal(a.status, 200);
        assert_non_null(strstr(a.body, "data-status=\"issued\""));
    }
    char certs[300];
    snprintf(certs, sizeof certs, "%s/certs", tmp_dir);
    struct pd_registry reg;
    struct pd_err err;
    assert_int_equal(pd_registry_open(&reg, certs, 0, &err), 0);
    assert_int_equal(pd_registry_begin(&reg, &err), 0);
    assert_int_equal(pd_registry_cert_retire(&reg, "CERT-000007", NULL, "withdrawn while the server runs",
                                             "2026-12-03T09:00:00Z", &err),
                     0);
    assert_int_equal(pd_registry_commit(&reg, &err), 0);
    pd_registry_close(&reg);
    for (int i = 0; i < 6; i++) {
        get("/v/CERT-000007", &a);
        assert_int_equal(a.status, 200);
        assert_non_null(strstr(a.body, "data-status=\"withdrawn\">Withdrawn on 2026-12-03 09:00:00 UTC"));
        assert_non_null(strstr(a.body, "withdrawn while the server runs"));
    }
}

/* A draft, one under review and a number never used: the same answer, byte for byte. */
static void test_hidden_alike(void **state)
{
    (void)state;
    static struct srv_answer none, draft, reviewed;
    get("/v/CERT-000999", &none);
    get("/v/CERT-000002", &draft);
    get("/v/CERT-000006", &reviewed);
    assert_int_equal(none.status, 404);
    assert_int_equal(draft.status, 404);
    assert_string_equal(none.body, draft.body);
    assert_string_equal(none.body, reviewed.body);
    assert_null(strstr(draft.body, "CERT-000002"));
    get("/api/v1/public/certificates/CERT-000999", &none);
    get("/api/v1/public/certificates/CERT-000002", &draft);
    assert_int_equal(draft.status, 404);
    assert_string_equal(none.body, draft.body);
    /* the {cert} segment: CERT- and 6..12 digits, nothing else */
    static const char *const bad[] = {"/v/CERT-12345", "/v/CERT-0000000000001", "/v/cert-000001", "/v/CERT-00000x",
                                      "/v/CERT-000001%00", "/v/..%2fCERT-000001", "/v/CERT-000001/", "/v/"};
    struct srv_answer a;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        get(bad[i], &a);
        assert_int_equal(a.status, 404);
    }
    call("DELETE", "/v/CERT-000001", NULL, NULL, 0, &a);
    assert_int_equal(a.status, 405);
    assert_true(public_cert_id_ok("CERT-000001", 11));
    assert_true(public_cert_id_ok("CERT-123456789012", 17));
    assert_false(public_cert_id_ok("CERT-1234567890123", 18));
    assert_false(public_cert_id_ok("CERT-00001", 10));
}

static void test_uploads(void **state)
{
    (void)state;
    struct srv_answer a;
    const char *url = "/api/v1/public/certificates/CERT-000001/check";
    post(url, "text/plain", "{}", &a);
    assert_int_equal(a.status, 415);
    post(url, "application/json", "plain words", &a);
    assert_int_equal(a.status, 415);
    call("POST", url, "application/json", "", 0, &a);
    assert_int_equal(a.status, 400);
    /* a draft's JSON is not ours, exactly as a number never used */
    post(url, "application/json", "{\"certificate_id\": \"CERT-000002\"}", &a);
    assert_int_equal(a.status, 200);
    json_t *o = json_loads(a.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "verdict")), "not_ours");
    assert_string_equal(json_string_value(json_object_get(o, "reason")),
                        "this laboratory has issued no certificate CERT-000002");
    assert_null(json_object_get(o, "registry"));
    json_decref(o);
    /* an issued number, but not bytes polydaq wrote: altered, the private copy's path not named */
    post(url, "application/json", "{\"certificate_id\": \"CERT-000001\"}", &a);
    o = json_loads(a.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "verdict")), "altered");
    assert_null(strstr(a.body, "polydaq-check"));
    assert_null(strstr(a.body, tmp_dir));
    json_decref(o);
    post(url, "application/json", "{\"certificate_id\": 1", &a); /* not JSON */
    o = json_loads(a.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "verdict")), "not_ours");
    json_decref(o);
    /* a PDF: named by its /Title; without the lab's export it cannot be the one issued */
    post(url, "application/pdf", "%PDF-1.4\n1 0 obj << /Title (CERT-000001) >> endobj\n", &a);
    o = json_loads(a.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "verdict")), "altered");
    json_decref(o);
    post(url, "application/pdf", "%PDF-1.4\n1 0 obj << /Title (CERT-0001) >> endobj\n", &a);
    o = json_loads(a.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "verdict")), "not_ours");
    json_decref(o);
    /* the page's form: multipart, answered as a page */
    const char *form = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.json\"\r\n"
                       "Content-Type: application/json\r\n\r\n{\"certificate_id\": \"CERT-000777\"}\r\n--XyZ--\r\n";
    post("/v/CERT-000001/check", "multipart/form-data; boundary=XyZ", form, &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.headers, "text/html"));
    assert_non_null(strstr(a.body, "data-verdict=\"not_ours\""));
    post("/v/CERT-000001/check", "multipart/form-data; boundary=Other", form, &a);
    assert_int_equal(a.status, 400);
    assert_non_null(strstr(a.headers, "text/html")); /* a person sent the form: a page says why */
    assert_non_null(strstr(a.body, "The form holds no file"));
    post("/v/CERT-000001/check", "multipart/form-data; boundary=XyZ",
         "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.txt\"\r\n\r\nhello\r\n--XyZ--\r\n", &a);
    assert_int_equal(a.status, 415);
    assert_non_null(strstr(a.body, "neither a certificate"));
    /* the page's number must be public */
    post("/v/CERT-000002/check", "multipart/form-data; boundary=XyZ", form, &a);
    assert_int_equal(a.status, 404);
}

static void test_published_keys(void **state)
{
    (void)state;
    struct srv_answer a;
    get("/keys/keyring.txt", &a);
    assert_int_equal(a.status, 404);
    char dir[300], path[400];
    snprintf(dir, sizeof dir, "%s/public", tmp_dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/keyring.txt", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("# a keyring\npolydaq-ed25519-public 00 lab x\n", f);
    fclose(f);
    get("/keys/keyring.txt", &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.headers, "Content-Type: text/plain; charset=utf-8"));
    assert_string_equal(a.body, "# a keyring\npolydaq-ed25519-public 00 lab x\n");
    get("/keys/revocations.json", &a);
    assert_int_equal(a.status, 404);
    get("/keys/other.txt", &a);
    assert_int_equal(a.status, 404);
}

/* The form reader on every cut of a form and on malformed ones: never beyond the bytes given. */
static void test_multipart_reader(void **state)
{
    (void)state;
    const char *type = "multipart/form-data; boundary=\"b0\"";
    const char *form = "--b0\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
                       "--b0\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.pdf\"\r\n\r\n%PDF-1\r\n"
                       "--b0--\r\n";
    const char *data;
    size_t n, len = strlen(form);
    assert_true(public_multipart_file(type, form, len, &data, &n));
    assert_int_equal(n, 6);
    assert_memory_equal(data, "%PDF-1", 6);
    for (size_t cut = 0; cut < len; cut++) {
        char *copy = malloc(cut ? cut : 1); /* exactly the bytes given: valgrind/ASan see any overread */
        memcpy(copy, form, cut);
        bool ok = public_multipart_file(type, copy, cut, &data, &n);
        if (ok)
            assert_true(data >= copy && data + n <= copy + cut);
        free(copy);
    }
    static const char *const bad_types[] = {"multipart/form-data", "multipart/form-data; boundary=",
                                            "multipart/form-data; boundary=\"\"",
                                            "multipart/form-data; boundary="
                                            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++)
        assert_false(public_multipart_file(bad_types[i], form, len, &data, &n));
    assert_false(public_multipart_file(type, "--b0--\r\n", 8, &data, &n)); /* no part */
    assert_false(public_multipart_file(type, "--b0\r\nno end of headers", 24, &data, &n));
    assert_false(public_multipart_file(type, "--b1\r\n\r\nx\r\n--b1--", 17, &data, &n));
}

/* Last: the client's address is held back afterwards. */
static void test_limits(void **state)
{
    (void)state;
    struct srv_answer a;
    int uploads = 0;
    do {
        post("/api/v1/public/certificates/CERT-000001/check", "application/json", "{}", &a);
        uploads++;
    } while (a.status == 200 && uploads < 40);
    assert_int_equal(a.status, 429);
    assert_non_null(strstr(a.headers, "Retry-After: "));
    int lookups = 0;
    char path[64];
    do {
        snprintf(path, sizeof path, "/v/CERT-%06d", 500000 + lookups);
        get(path, &a);
        lookups++;
    } while (a.status == 404 && lookups < 60);
    assert_int_equal(a.status, 429);
    assert_in_range(lookups, 20, 31); /* 30 misses free, the ones of the tests before included */
    assert_non_null(strstr(a.body, "Too many requests"));
    get("/api/v1/public/certificates/CERT-000001", &a); /* held back for every lookup now */
    assert_int_equal(a.status, 429);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pages),          cmocka_unit_test(test_registry_kept_open),
        cmocka_unit_test(test_hidden_alike),
        cmocka_unit_test(test_uploads),        cmocka_unit_test(test_published_keys),
        cmocka_unit_test(test_multipart_reader), cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
