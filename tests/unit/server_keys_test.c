/* server_keys_test.c — personal signing keys below HTTP (keys.c): a key made for a reviewer is
 * registered in the data folder's registry as that person and role and stored sealed; a wrong
 * password opens nothing; the right one opens it for that session only, and it signs as the
 * registered key; a sealed row moved onto another user does not open (bound to user and key);
 * logout and a session that ended (the sweep) forget it; a new key retires and disables the old.
 * Argon2id at its interactive limits runs a few times (well under a second natively). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/srv_db.h"
#include "registry/registry.h"
#include "server/internal.h"

static const char rita_pw[] = "rita-correct-horse-42";

/* A call of user `user_id` in a new session (a row in sessions, as a login makes it). */
static void new_session(struct srv_call *call, struct pd_srvdb *db, int64_t user_id, bool stored)
{
    memset(call, 0, sizeof *call);
    call->db = db;
    call->user.id = user_id;
    call->authenticated = true;
    randombytes_buf(call->session_id, sizeof call->session_id);
    if (stored) {
        char hash[65], sql[300];
        session_id_hash(call->session_id, hash);
        snprintf(sql, sizeof sql,
                 "INSERT INTO sessions(id_hash, user_id, created_s, last_seen_s, client) VALUES ('%s', %lld, %lld, "
                 "%lld, 'test')",
                 hash, (long long)user_id, (long long)db_now_s(), (long long)db_now_s());
        assert_int_equal(sqlite3_exec(db->h, sql, NULL, NULL, NULL), SQLITE_OK);
    }
}

static void test_keys(void **state)
{
    (void)state;
    struct pd_err err;
    pd_err_clear(&err);
    char certs[300];
    snprintf(certs, sizeof certs, "%s/%s", tmp_dir, PD_SERVER_CERTS_DIR);
    struct pd_srvdb *db;
    assert_int_equal(pd_srvdb_open(tmp_dir, &db, &err), 0);
    int64_t rita, arno;
    assert_int_equal(pd_user_add(db, "rita", "Rita Review", PD_ROLE_REVIEWER, NULL, rita_pw, &rita, &err), 0);
    /* Without a registry there is nowhere to register the key: nothing is made. */
    char key_id[17];
    assert_int_equal(keys_create_for(db, tmp_dir, rita, rita_pw, key_id, &err), PD_ESTATE);
    assert_non_null(strstr(err.msg, "registry init"));
    assert_int_equal(count(db, "SELECT count(*) FROM signing_keys"), 0);

    struct pd_registry reg;
    assert_int_equal(mkdir(certs, 0700), 0);
    assert_int_equal(pd_registry_open(&reg, certs, PD_REGISTRY_CREATE, &err), 0);
    pd_registry_close(&reg);
    assert_int_equal(keys_create_for(db, tmp_dir, rita, rita_pw, key_id, &err), 0);
    assert_int_equal(count(db, "SELECT count(*) FROM signing_keys WHERE retired_at IS NULL AND length(sealed) = 48 "
                               "AND length(kdf_salt) = 16 AND length(nonce) = 24"),
                     1);
    /* Registered as Rita, a reviewer. */
    assert_int_equal(pd_registry_open(&reg, certs, 0, &err), 0);
    struct pd_registry_key *keys = NULL;
    size_t n = 0;
    assert_int_equal(pd_registry_keys(&reg, PD_KEY_ROLE_REVIEWER, &keys, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(keys[0].key.id, key_id);
    assert_string_equal(keys[0].name, "Rita Review (rita)");
    struct pd_public_key registered = keys[0].key;
    free(keys);
    pd_registry_close(&reg);

    /* A wrong password opens nothing; the right one opens it for this session only. */
    struct srv_call call, other;
    new_session(&call, db, rita, true);
    assert_int_equal(keys_unlock(&call, rita, "not-ritas-password-at-all", &err), PD_EDATA);
    assert_int_equal(keys_unlocked_count(), 0);
    assert_int_equal(keys_unlock(&call, rita, rita_pw, &err), 0);
    assert_int_equal(keys_unlocked_count(), 1);
    struct pd_secret_key sk;
    assert_int_equal(keys_session_key(&call, &sk, &err), 0);
    assert_string_equal(sk.pub.id, key_id);
    static const char msg[] = "polydaq-review-v1\nCERT-000001\nabc";
    unsigned char sig[PD_KEY_SIGNATURE_BYTES];
    pd_key_sign(&sk, msg, sizeof msg - 1, sig);
    sodium_memzero(&sk, sizeof sk);
    assert_true(pd_key_verify(&registered, msg, sizeof msg - 1, sig));
    new_session(&other, db, rita, true);
    assert_int_equal(keys_session_key(&other, &sk, &err), PD_ESTATE);
    /* Logout forgets it. */
    keys_forget_session(call.session_id);
    assert_int_equal(keys_unlocked_count(), 0);
    assert_int_equal(keys_session_key(&call, &sk, &err), PD_ESTATE);

    /* A session that ended elsewhere (its row deleted: CLI disable, expiry) is swept. */
    assert_int_equal(keys_unlock(&other, rita, rita_pw, &err), 0);
    assert_int_equal(keys_unlocked_count(), 1);
    keys_sweep(db, 1800, 43200);
    assert_int_equal(keys_unlocked_count(), 1);
    assert_int_equal(sqlite3_exec(db->h, "DELETE FROM sessions", NULL, NULL, NULL), SQLITE_OK);
    keys_sweep(db, 1800, 43200);
    assert_int_equal(keys_unlocked_count(), 0);

    /* The sealed key moved onto another user does not open, even with the right password. */
    assert_int_equal(
        pd_user_add(db, "arno", "Arno Auth", PD_ROLE_AUTHORIZER, NULL, "arno-correct-horse-42", &arno, &err), 0);
    char sql[200];
    snprintf(sql, sizeof sql, "UPDATE signing_keys SET user_id = %lld", (long long)arno);
    assert_int_equal(sqlite3_exec(db->h, sql, NULL, NULL, NULL), SQLITE_OK);
    new_session(&call, db, arno, true);
    assert_int_equal(keys_unlock(&call, arno, rita_pw, &err), PD_EDATA);
    assert_int_equal(keys_unlocked_count(), 0);
    snprintf(sql, sizeof sql, "UPDATE signing_keys SET user_id = %lld", (long long)rita);
    assert_int_equal(sqlite3_exec(db->h, sql, NULL, NULL, NULL), SQLITE_OK);

    /* A new key (a password reset) retires the old one here and disables it in the registry. */
    char key2[17];
    assert_int_equal(keys_create_for(db, tmp_dir, rita, "ritas-new-password-7", key2, &err), 0);
    assert_string_not_equal(key2, key_id);
    assert_int_equal(count(db, "SELECT count(*) FROM signing_keys WHERE retired_at IS NOT NULL AND sealed IS NULL"), 1);
    assert_int_equal(pd_registry_open(&reg, certs, 0, &err), 0);
    struct pd_registry_key old;
    assert_int_equal(pd_registry_key_find(&reg, &registered, &old, &err), 0);
    assert_true(old.disabled[0] != '\0');
    pd_registry_close(&reg);
    /* A technician has no key to make. */
    int64_t tessa;
    assert_int_equal(
        pd_user_add(db, "tessa", "Tessa Tech", PD_ROLE_TECHNICIAN, NULL, "tessa-correct-horse", &tessa, &err), 0);
    assert_int_equal(keys_create_for(db, tmp_dir, tessa, "tessa-correct-horse", key2, &err), PD_ESTATE);
    keys_forget_all();
    pd_srvdb_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests(tests, srv_tmp_setup, srv_tmp_teardown);
}
