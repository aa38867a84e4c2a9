/* registry_test.c — the certificate registry against real files on disk: schema, keys, numbers under concurrent
 * writers, the audit chain and its tampering, states, seals, publishing; looked at independently with the sqlite3 CLI.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "registry/registry.h"
#include "trust/trust.h"

static char tmp_dir[64];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    strcpy(tmp_dir, "/tmp/pd_registry_test.XXXXXX");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void folder(const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", tmp_dir, name);
    struct pd_err err = {0};
    assert_int_equal(pd_mkdir_p(out, &err), 0);
}

/* The sqlite3 CLI's answer to one statement (first line, newline stripped); "" when it fails. */
static void sql(const char *dir, const char *statement, char *out, size_t size)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "sqlite3 '%s/registry.sqlite' \"%s\" 2>&1", dir, statement);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    out[0] = '\0';
    if (!fgets(out, (int)size, p))
        out[0] = '\0';
    pclose(p);
    out[strcspn(out, "\n")] = '\0';
}

static bool have_sqlite3_cli(void)
{
    return system("command -v sqlite3 >/dev/null 2>&1") == 0;
}

static void new_key(const char *dir, const char *stem, struct pd_public_key *pub, char *secret, size_t size)
{
    char pk[600];
    struct pd_err err = {0};
    assert_int_equal(pd_key_generate(dir, stem, secret, size, pk, sizeof pk, &err), 0);
    assert_int_equal(pd_public_key_load(pk, pub, &err), 0);
}

static void test_open_create_and_schema(void **state)
{
    (void)state;
    char dir[200];
    folder("schema", dir, sizeof dir);
    struct pd_registry reg;
    struct pd_err err = {0};
    assert_int_equal(pd_registry_open(&reg, dir, 0, &err), PD_ESTATE);
    assert_non_null(strstr(err.msg, "registry init"));
    assert_false(pd_registry_exists(dir));
    assert_int_equal(pd_registry_open(&reg, dir, PD_REGISTRY_CREATE, &err), 0);
    pd_registry_close(&reg);
    assert_true(pd_registry_exists(dir));
    assert_int_equal(pd_registry_open(&reg, dir, 0, &err), 0); /* again: nothing to migrate */
    pd_registry_close(&reg);
    if (have_sqlite3_cli()) {
        char out[300];
        sql(dir, "PRAGMA user_version", out, sizeof out);
        assert_string_equal(out, "2");
        sql(dir, "PRAGMA journal_mode", out, sizeof out);
        assert_string_equal(out, "wal");
        sql(dir, "PRAGMA integrity_check", out, sizeof out);
        assert_string_equal(out, "ok");
        sql(dir, "SELECT value FROM sequences WHERE name = 'certificate'", out, sizeof out);
        assert_string_equal(out, "0");
        /* a schema from the future is refused, not guessed at */
        sql(dir, "PRAGMA user_version = 7", out, sizeof out);
        assert_int_equal(pd_registry_open(&reg, dir, 0, &err), PD_EDATA);
        assert_non_null(strstr(err.msg, "newer"));
    }
    /* a file that is no database */
    char junk[200], path[300];
    folder("junk", junk, sizeof junk);
    snprintf(path, sizeof path, "%s/registry.sqlite", junk);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("this is not a database, just text long enough to have a header of sorts.......................\n", f);
    fclose(f);
    assert_int_equal(pd_registry_open(&reg, junk, 0, &err), PD_EDATA);
    /* a folder that does not exist */
    snprintf(path, sizeof path, "%s/no/such/folder", tmp_dir);
    assert_true(pd_registry_open(&reg, path, PD_REGISTRY_CREATE, &err) < 0);
}

static void test_keys(void **state)
{
    (void)state;
    char dir[200], sk[600];
    folder("keys", dir, sizeof dir);
    struct pd_public_key a, b;
    new_key(dir, "a", &a, sk, sizeof sk);
    new_key(dir, "b", &b, sk, sizeof sk);
    struct pd_registry reg;
    struct pd_err err = {0};
    assert_int_equal(pd_registry_open(&reg, dir, PD_REGISTRY_CREATE, &err), 0);
    struct pd_registry_key k;
    assert_int_equal(pd_registry_key_find(&reg, &a, &k, &err), PD_ESTATE);
    assert_non_null(strstr(err.msg, "not registered"));
    assert_int_equal(pd_registry_key_add(&reg, PD_KEY_ROLE_REVIEWER, "R. Viewer", &a, &k, &err), 0);
    assert_string_equal(k.name, "R. Viewer");
    assert_int_equal(k.role, PD_KEY_ROLE_REVIEWER);
    /* one key, one registration: not again under another role */
    assert_int_equal(pd_registry_key_add(&reg, PD_KEY_ROLE_AUTHORIZER, "R. Viewer", &a, NULL, &err), PD_ESTATE);
    assert_int_equal(pd_registry_key_add(&reg, PD_KEY_ROLE_AUTHORIZER, "", &b, NULL, &err), PD_EINVAL);
    assert_int_equal(pd_registry_key_add(&reg, PD_KEY_ROLE_AUTHORIZER, "B.\x1b[2JBoss", &b, NULL, &err), PD_EINVAL);
    assert_int_equal(pd_registry_key_add(&reg, PD_KEY_ROLE_AUTHORIZER, "B. Boss", &b, NULL, &err), 0);
    assert_int_equal(pd_registry_key_find(&reg, &b, &k, &err), 0);
    assert_int_equal(k.role, PD_KEY_ROLE_AUTHORIZER);
    assert_string_equal(k.disabled, "");
    assert_true(pd_registry_key_valid_at(&k, PD_KEY_ROLE_AUTHORIZER, NULL));
    assert_false(pd_registry_key_valid_at(&k, PD_KEY_ROLE_REVIEWER, NULL));
    /* disabled: refused from then on, valid for what it signed before */
    assert_int_equal(pd_registry_key_disable(&reg, "nobody", NULL, &err), PD_ESTATE);
    assert_int_equal(pd_registry_key_disable(&reg, b.id, &k, &err), 0);
    assert_int_equal(pd_registry_key_disable(&reg, "B. Boss", NULL, &err), PD_ESTATE); /* already */
    assert_int_equal(pd_registry_key_find(&reg, &b, &k, &err), 0);
    assert_true(k.disabled[0] != '\0');
    assert_false(pd_registry_key_valid_at(&k, PD_KEY_ROLE_AUTHORIZER, NULL));
    assert_true(pd_registry_key_valid_at(&k, PD_KEY_ROLE_AUTHORIZER, "2000-01-01T00:00:00.000000000Z"));
    assert_false(pd_registry_key_valid_at(&k, PD_KEY_ROLE_AUTHORIZER, "2999-01-01T00:00:00.000000000Z"));
    struct pd_registry_key *all = NULL;
    size_t n = 0;
    assert_int_equal(pd_registry_keys(&reg, PD_KEY_ROLE_REVIEWER, &all, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(all[0].key.hex, a.hex);
    free(all);
    /* the stations certify trusts: the active station keys, none without a registry */
    struct pd_public_key s1, s2, *stations = NULL;
    new_key(dir, "station-1", &s1, sk, sizeof sk);
    new_key(dir, "station-2", &s2, sk, sizeof sk);
    assert_int_equal(pd_registry_key_add(&reg, PD_KEY_ROLE_STATION, "frame1", &s1, NULL, &err), 0);
    assert_int_equal(pd_registry_key_add(&reg, PD_KEY_ROLE_STATION, "frame2", &s2, NULL, &err), 0);
    assert_int_equal(pd_registry_key_disable(&reg, "frame2", NULL, &err), 0);
    pd_registry_close(&reg);
    assert_int_equal(pd_registry_station_keys(dir, &stations, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(stations[0].hex, s1.hex);
    free(stations);
    char none[200];
    folder("keys-none", none, sizeof none);
    assert_int_equal(pd_registry_station_keys(none, &stations, &n, &err), 0);
    assert_int_equal(n, 0);
    free(stations);
    assert_false(pd_registry_exists(none));
    if (have_sqlite3_cli()) {
        char out[300];
        sql(dir, "SELECT role || '|' || name || '|' || (disabled IS NOT NULL) FROM keys ORDER BY ref DESC", out,
            sizeof out);
        assert_string_equal(out, "station|frame2|1");
        /* the CHECK constraint holds for any writer, not only polydaq */
        sql(dir, "INSERT INTO keys (role, name, key_id, public_key, registered) VALUES ('admin', 'x', 'x', 'x', 'x')",
            out, sizeof out);
        assert_non_null(strstr(out, "CHECK constraint failed"));
    }
}

static void insert_cert_doc(struct pd_registry *reg, unsigned long number, const char *status, const char *doc)
{
    struct pd_registry_cert c;
    memset(&c, 0, sizeof c);
    c.number = (long long)number;
    snprintf(c.id, sizeof c.id, "CERT-%06lu", number);
    pd_strlcpy(c.status, status, sizeof c.status);
    c.document = (char *)doc;
    memset(c.content_sha256, 'a', 64);
    pd_sha256_hex(doc, strlen(doc), c.document_sha256);
    pd_strlcpy(c.drafted, "2026-01-01T00:00:00.000000000Z", sizeof c.drafted);
    struct pd_err err = {0};
    assert_int_equal(pd_registry_cert_insert(reg, &c, &err), 0);
}

static void insert_cert(struct pd_registry *reg, unsigned long number, const char *status)
{
    insert_cert_doc(reg, number, status, "{\"certificate_id\":\"x\"}"); /* canonical: check finds it unchanged */
}

/* Four processes take ten numbers each, each in its own transaction: forty distinct numbers. */
static void test_numbers_concurrent(void **state)
{
    (void)state;
    char dir[200];
    folder("numbers", dir, sizeof dir);
    struct pd_registry reg;
    struct pd_err err = {0};
    assert_int_equal(pd_registry_open(&reg, dir, PD_REGISTRY_CREATE, &err), 0);
    /* a rolled-back transaction takes no number */
    unsigned long n = 0;
    assert_int_equal(pd_registry_begin(&reg, &err), 0);
    assert_int_equal(pd_registry_next_number(&reg, &n, &err), 0);
    assert_int_equal(n, 1);
    pd_registry_rollback(&reg);
    pd_registry_close(&reg);
    pid_t kids[4];
    for (int k = 0; k < 4; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            struct pd_registry r;
            struct pd_err e = {0};
            if (pd_registry_open(&r, dir, 0, &e) < 0)
                _exit(1);
            for (int i = 0; i < 10; i++) {
                unsigned long num = 0;
                if (pd_registry_begin(&r, &e) < 0 || pd_registry_next_number(&r, &num, &e) < 0)
                    _exit(2);
                insert_cert(&r, num, "draft");
                if (pd_registry_commit(&r, &e) < 0)
                    _exit(3);
            }
            pd_registry_close(&r);
            _exit(0);
        }
    }
    for (int k = 0; k < 4; k++) {
        int st = 0;
        assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    assert_int_equal(pd_registry_open(&reg, dir, 0, &err), 0);
    char(*ids)[32] = NULL;
    size_t count = 0;
    assert_int_equal(pd_registry_cert_ids(&reg, &ids, &count, &err), 0);
    assert_int_equal(count, 40);
    for (size_t i = 0; i < count; i++) {
        char want[32];
        snprintf(want, sizeof want, "CERT-%06zu", i + 1);
        assert_string_equal(ids[i], want);
    }
    free(ids);
    pd_registry_close(&reg);
    if (have_sqlite3_cli()) {
        char out[300];
        sql(dir, "SELECT count(DISTINCT number) || ' ' || max(number) FROM certificates", out, sizeof out);
        assert_string_equal(out, "40 40");
    }
}

/* Each command opens the registry afresh (a process of its own), which resets what SQLite's shared
 * WAL index knew of earlier checkpoints: the log must still stay short, however many drafts are
 * committed (it grew without bound: 7 MB after 150 certificates, all read by every command). */
static void test_log_stays_short(void **state)
{
    (void)state;
    char dir[200], wal[260];
    folder("log", dir, sizeof dir);
    snprintf(wal, sizeof wal, "%s/registry.sqlite-wal", dir);
    static char doc[30000]; /* about a certify draft's size: ~8 pages per commit */
    memset(doc, 'x', sizeof doc - 20);
    memcpy(doc, "{\"note\": \"", 10);
    strcpy(doc + sizeof doc - 20, "\"}");
    off_t largest = 0;
    for (unsigned long i = 1; i <= 60; i++) {
        struct pd_registry reg;
        struct pd_err err = {0};
        assert_int_equal(pd_registry_open(&reg, dir, PD_REGISTRY_CREATE, &err), 0);
        unsigned long n = 0;
        assert_int_equal(pd_registry_begin(&reg, &err), 0);
        assert_int_equal(pd_registry_next_number(&reg, &n, &err), 0);
        assert_int_equal(n, i);
        insert_cert_doc(&reg, n, "draft", doc);
        assert_int_equal(pd_registry_commit(&reg, &err), 0);
        pd_registry_close(&reg);
        struct stat st;
        assert_int_equal(stat(wal, &st), 0);
        if (st.st_size > largest)
            largest = st.st_size;
    }
    /* 60 drafts of ~8 pages would be ~2 MB of log; at most the 64-page bound plus one draft. */
    assert_true(largest <= (off_t)(32 + (64 + 16) * (24 + 4096)));
    struct pd_registry reg;
    struct pd_err err = {0};
    assert_int_equal(pd_registry_open(&reg, dir, 0, &err), 0);
    char(*ids)[32] = NULL;
    size_t count = 0;
    assert_int_equal(pd_registry_cert_ids(&reg, &ids, &count, &err), 0);
    assert_int_equal(count, 60);
    free(ids);
    pd_registry_close(&reg);
}

static void say_count(const char *line, void *arg)
{
    if (strncmp(line, "FAIL", 4) == 0)
        (*(int *)arg)++;
}

static void test_audit_chain_and_tampering(void **state)
{
    (void)state;
    char dir[200];
    folder("audit", dir, sizeof dir);
    struct pd_registry reg;
    struct pd_err err = {0};
    assert_int_equal(pd_registry_open(&reg, dir, PD_REGISTRY_CREATE, &err), 0);
    json_t *e = NULL;
    assert_int_equal(pd_registry_audit_append(&reg, "draft", "CERT-000001", "A. Tester", "operator", "00", &e, &err),
                     PD_EINVAL); /* outside a transaction */
    assert_int_equal(pd_registry_begin(&reg, &err), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pd_registry_audit_append(&reg, i ? "review" : "draft", "CERT-000001", "A. Tester", "operator",
                                                  "c0ffee", &e, &err),
                         0);
        char h[65];
        assert_int_equal(pd_registry_audit_entry_hash(e, h), 0);
        assert_string_equal(h, json_string_value(json_object_get(e, "hash")));
        assert_int_equal(json_integer_value(json_object_get(e, "seq")), i + 1);
        json_decref(e);
    }
    assert_int_equal(pd_registry_commit(&reg, &err), 0);
    bool ok = false;
    int fails = 0;
    assert_int_equal(pd_registry_check(&reg, say_count, &fails, &ok, &err), 0);
    assert_true(ok);
    assert_int_equal(fails, 0);
    json_t *all = NULL;
    assert_int_equal(pd_registry_audit_entries(&reg, "CERT-000001", &all, &err), 0);
    assert_int_equal(json_array_size(all), 3);
    /* an imported entry must continue the chain: the first entry again does not */
    assert_int_equal(pd_registry_begin(&reg, &err), 0);
    assert_int_equal(pd_registry_audit_import(&reg, json_array_get(all, 0), &err), PD_EDATA);
    pd_registry_rollback(&reg);
    json_decref(all);
    pd_registry_close(&reg);
    if (!have_sqlite3_cli())
        return;
    char out[300];
    /* one changed character of an entry, as anyone who can write the file could make it */
    sql(dir, "UPDATE audit SET entry = replace(entry, 'A. Tester', 'B. Tester') WHERE seq = 2", out, sizeof out);
    assert_int_equal(pd_registry_open(&reg, dir, 0, &err), 0);
    fails = 0;
    assert_int_equal(pd_registry_check(&reg, say_count, &fails, &ok, &err), 0);
    assert_false(ok);
    assert_int_equal(fails, 1);
    pd_registry_close(&reg);
    sql(dir, "UPDATE audit SET entry = replace(entry, 'B. Tester', 'A. Tester') WHERE seq = 2", out, sizeof out);
    /* a removed entry */
    sql(dir, "DELETE FROM audit WHERE seq = 2", out, sizeof out);
    assert_int_equal(pd_registry_open(&reg, dir, 0, &err), 0);
    assert_int_equal(pd_registry_check(&reg, NULL, NULL, &ok, &err), 0);
    assert_false(ok);
    pd_registry_close(&reg);
}

static void test_states(void **state)
{
    (void)state;
    char dir[200];
    folder("states", dir, sizeof dir);
    struct pd_registry reg;
    struct pd_err err = {0};
    assert_int_equal(pd_registry_open(&reg, dir, PD_REGISTRY_CREATE, &err), 0);
    assert_int_equal(pd_registry_begin(&reg, &err), 0);
    insert_cert(&reg, 1, "draft");
    insert_cert(&reg, 2, "issued");
    assert_int_equal(pd_registry_commit(&reg, &err), 0);
    struct pd_registry_cert c;
    assert_int_equal(pd_registry_cert_get(&reg, "CERT-000009", &c, &err), PD_ESTATE);
    assert_non_null(strstr(err.msg, "CERT-000009"));
    assert_int_equal(pd_registry_cert_get(&reg, "CERT-000001", &c, &err), 0);
    assert_string_equal(c.status, "draft");
    assert_int_equal(pd_registry_begin(&reg, &err), 0);
    /* an update from the wrong state changes nothing */
    pd_strlcpy(c.status, "issued", sizeof c.status);
    assert_int_equal(pd_registry_cert_update(&reg, "reviewed", &c, &err), PD_ESTATE);
    /* only an issued certificate is withdrawn or superseded */
    assert_int_equal(pd_registry_cert_retire(&reg, "CERT-000001", NULL, "why", "2026-01-02T00:00:00.000000000Z", &err),
                     PD_ESTATE);
    assert_int_equal(pd_registry_cert_retire(&reg, "CERT-000002", NULL, "why", "2026-01-02T00:00:00.000000000Z", &err),
                     0);
    assert_int_equal(
        pd_registry_cert_retire(&reg, "CERT-000002", NULL, "twice", "2026-01-02T00:00:00.000000000Z", &err), PD_ESTATE);
    assert_int_equal(pd_registry_commit(&reg, &err), 0);
    pd_registry_cert_free(&c);
    assert_int_equal(pd_registry_cert_get(&reg, "CERT-000002", &c, &err), 0);
    assert_string_equal(c.status, "withdrawn");
    assert_string_equal(c.reason, "why");
    pd_registry_cert_free(&c);
    /* a changed issued document is found by check */
    bool ok = true;
    assert_int_equal(pd_registry_check(&reg, NULL, NULL, &ok, &err), 0);
    assert_true(ok);
    pd_registry_close(&reg);
    if (have_sqlite3_cli()) {
        char out[300];
        sql(dir, "UPDATE certificates SET document = '{\\\"certificate_id\\\": \\\"y\\\"}' WHERE number = 2", out,
            sizeof out);
        assert_int_equal(pd_registry_open(&reg, dir, 0, &err), 0);
        assert_int_equal(pd_registry_check(&reg, NULL, NULL, &ok, &err), 0);
        assert_false(ok);
        pd_registry_close(&reg);
    }
}

static void test_seals(void **state)
{
    (void)state;
    char dir[200];
    folder("seals", dir, sizeof dir);
    struct pd_registry reg;
    struct pd_err err = {0};
    assert_int_equal(pd_registry_open(&reg, dir, PD_REGISTRY_CREATE, &err), 0);
    assert_int_equal(pd_registry_record_seal(&reg, "RUN-1", "ab", "k1", "{\"seal\":1}", &err), 0);
    assert_int_equal(pd_registry_record_seal(&reg, "RUN-1", "ab", "k1", "{\"seal\":1}", &err), 0); /* same: no change */
    assert_int_equal(pd_registry_record_seal(&reg, "RUN-1", "ab", "k1", "{\"seal\":2}", &err), PD_ESTATE);
    pd_registry_close(&reg);
    if (have_sqlite3_cli()) {
        char out[300];
        sql(dir, "SELECT count(*) FROM seals", out, sizeof out);
        assert_string_equal(out, "1");
    }
}

static void test_publish(void **state)
{
    (void)state;
    char dir[200], out[300], lab_sk[600], person_sk[600];
    folder("publish", dir, sizeof dir);
    snprintf(out, sizeof out, "%s/published", dir);
    struct pd_public_key lab, person;
    new_key(dir, "lab", &lab, lab_sk, sizeof lab_sk);
    new_key(dir, "p", &person, person_sk, sizeof person_sk);
    struct pd_registry reg;
    struct pd_err err = {0};
    assert_int_equal(pd_registry_open(&reg, dir, PD_REGISTRY_CREATE, &err), 0);
    /* an unregistered key does not sign for the lab */
    assert_int_equal(pd_registry_publish(&reg, out, lab_sk, &err), PD_ESTATE);
    assert_int_equal(pd_registry_key_add(&reg, PD_KEY_ROLE_LAB, "Joint Plastics Test Laboratory", &lab, NULL, &err), 0);
    assert_int_equal(pd_registry_key_add(&reg, PD_KEY_ROLE_REVIEWER, "R. Viewer", &person, NULL, &err), 0);
    assert_int_equal(pd_registry_publish(&reg, out, person_sk, &err), PD_ESTATE); /* a person's key is no lab key */
    assert_int_equal(pd_registry_begin(&reg, &err), 0);
    insert_cert(&reg, 1, "issued");
    assert_int_equal(
        pd_registry_cert_retire(&reg, "CERT-000001", NULL, "wrong specimens", "2026-01-02T00:00:00.000000000Z", &err),
        0);
    assert_int_equal(pd_registry_commit(&reg, &err), 0);
    assert_int_equal(pd_registry_publish(&reg, out, lab_sk, &err), 0);
    pd_registry_close(&reg);
    char path[400], line[400], want[400];
    snprintf(path, sizeof path, "%s/keyring.txt", out);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int lab_lines = 0, person_lines = 0;
    while (fgets(line, sizeof line, f)) {
        snprintf(want, sizeof want, "polydaq-ed25519-public %s lab Joint Plastics Test Laboratory\n", lab.hex);
        lab_lines += strcmp(line, want) == 0;
        snprintf(want, sizeof want, "polydaq-ed25519-public %s reviewer R. Viewer\n", person.hex);
        person_lines += strcmp(line, want) == 0;
    }
    fclose(f);
    assert_int_equal(lab_lines, 1);
    assert_int_equal(person_lines, 1);
    /* the revocation list: its signature verifies under the lab key over the canonical form */
    snprintf(path, sizeof path, "%s/revocations.json", out);
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "format")), "polydaq-revocations-1");
    json_t *e0 = json_array_get(json_object_get(doc, "entries"), 0);
    assert_string_equal(json_string_value(json_object_get(e0, "certificate")), "CERT-000001");
    assert_string_equal(json_string_value(json_object_get(e0, "state")), "withdrawn");
    assert_true(json_is_null(json_object_get(e0, "by")));
    static const char *const no_sig[] = {"signature", NULL};
    char *canon = pd_json_canonical(doc, no_sig);
    unsigned char sig[PD_KEY_SIGNATURE_BYTES];
    assert_int_equal(pd_signature_from_hex(
                         json_string_value(json_object_get(json_object_get(doc, "signature"), "value")), sig, &err),
                     0);
    assert_true(pd_key_verify(&lab, canon, strlen(canon), sig));
    canon[10] ^= 1;
    assert_false(pd_key_verify(&lab, canon, strlen(canon), sig));
    free(canon);
    json_decref(doc);
}

static void test_atomic_write(void **state)
{
    (void)state;
    char dir[200], path[300];
    folder("atomic", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/file.json", dir);
    struct pd_err err = {0};
    assert_int_equal(pd_write_file_atomic(path, "one", 3, &err), 0);
    assert_int_equal(pd_write_file_atomic(path, "second", 6, &err), 0);
    char buf[16] = "";
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fread(buf, 1, sizeof buf - 1, f), 6);
    fclose(f);
    assert_string_equal(buf, "second");
    snprintf(path, sizeof path, "%s/no-such-folder/file.json", dir);
    assert_int_equal(pd_write_file_atomic(path, "x", 1, &err), PD_EIO);
}

/* The lab's verification base URL: kept across connections, its form checked (nothing stored on
 * refusal), removed with ""; a registry of schema 1 gets the settings table when opened. */
static void test_verify_url(void **state)
{
    (void)state;
    char dir[200], url[PD_VERIFY_URL_MAX + 1];
    folder("verify-url", dir, sizeof dir);
    struct pd_registry reg;
    struct pd_err err = {0};
    assert_int_equal(pd_registry_open(&reg, dir, PD_REGISTRY_CREATE, &err), 0);
    assert_int_equal(pd_registry_verify_url(&reg, url, sizeof url, &err), 0);
    assert_string_equal(url, "");
    assert_int_equal(pd_registry_set_verify_url(&reg, "https://lab.example.org/certs/", &err), 0);
    pd_registry_close(&reg);
    assert_int_equal(pd_registry_open(&reg, dir, 0, &err), 0);
    assert_int_equal(pd_registry_verify_url(&reg, url, sizeof url, &err), 0);
    assert_string_equal(url, "https://lab.example.org/certs"); /* the trailing '/' dropped */
    static const char *const refused[] = {
        "lab.example.org",               /* no scheme */
        "ftp://lab.example.org",         /* another scheme */
        "https://",                      /* no host */
        "https://lab example.org",       /* a space */
        "https://lab.example.org/v?x=1", /* a query */
        "https://lab.example.org/#a",    /* a fragment */
        "https://lab.example.org/%2e%2e",
        "https://lab.example.org/\n",
        "javascript:alert(1)",
        "https://a.example.org/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal(pd_registry_set_verify_url(&reg, refused[i], &err), PD_EINVAL);
        assert_int_equal(pd_registry_verify_url_check(refused[i], &err), PD_EINVAL);
        assert_int_equal(pd_registry_verify_url(&reg, url, sizeof url, &err), 0);
        assert_string_equal(url, "https://lab.example.org/certs");
    }
    assert_int_equal(pd_registry_verify_url_check("http://127.0.0.1:8080", &err), 0);
    assert_int_equal(pd_registry_set_verify_url(&reg, "", &err), 0);
    assert_int_equal(pd_registry_verify_url(&reg, url, sizeof url, &err), 0);
    assert_string_equal(url, "");
    pd_registry_close(&reg);
    if (have_sqlite3_cli()) { /* back to schema 1, as a registry from before: migrated when opened */
        char out[300];
        sql(dir, "DROP TABLE settings; PRAGMA user_version = 1", out, sizeof out);
        assert_int_equal(pd_registry_open(&reg, dir, 0, &err), 0);
        assert_int_equal(pd_registry_set_verify_url(&reg, "https://lab.example.org", &err), 0);
        pd_registry_close(&reg);
        sql(dir, "PRAGMA user_version", out, sizeof out);
        assert_string_equal(out, "2");
        sql(dir, "SELECT value FROM settings WHERE name = 'verify_url'", out, sizeof out);
        assert_string_equal(out, "https://lab.example.org");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_create_and_schema),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_numbers_concurrent),
        cmocka_unit_test(test_log_stays_short),
        cmocka_unit_test(test_audit_chain_and_tampering),
        cmocka_unit_test(test_states),
        cmocka_unit_test(test_seals),
        cmocka_unit_test(test_publish),
        cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_verify_url),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
