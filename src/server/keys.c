/*
 * keys.c — reviewers' and authorizers' personal signing keys. Each such person has an Ed25519 key
 * pair whose public half is registered in the certificate registry (DATA_DIR/certs) as that person
 * with that role, and whose secret half exists only (a) in server.sqlite sealed with
 * XChaCha20-Poly1305 under a key derived from the person's password (Argon2id, its own salt), and
 * (b) while the person is logged in, in the server's memory for that one session (sodium_malloc:
 * locked, guard pages, no access between uses, wiped when freed). It is unlocked by the password
 * at login and forgotten at logout, expiry, disable, password reset and server stop. Nobody else —
 * no admin either — can unlock it: a reset password means a new key (the old one is disabled in
 * the registry, where it still verifies the approvals made before).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry.h"
#include "server/internal.h"

#define KDF_OPS      crypto_pwhash_OPSLIMIT_INTERACTIVE
#define KDF_MEM      crypto_pwhash_MEMLIMIT_INTERACTIVE
#define SEED_BYTES   crypto_sign_SEEDBYTES
#define SEALED_BYTES (SEED_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES)

/* ---- Sealing under the password ----------------------------------------------------------------*/
/* The sealed seed is bound to its user and public key (associated data): a row copied onto
 * another user, or a public key swapped, does not open. */
static void seal_ad(int64_t user_id, const char *public_hex, char *ad, size_t size)
{
    snprintf(ad, size, "polydaq signing key v1\n%lld\n%s", (long long)user_id, public_hex);
}

static int derive(const char *password, const unsigned char *salt, unsigned long long ops, size_t mem,
                  unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES], struct pd_err *err)
{
    if (crypto_pwhash(key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, password, strlen(password), salt, ops, mem,
                      crypto_pwhash_ALG_ARGON2ID13) != 0)
        return pd_err_set(err, PD_ENOMEM, NULL, "deriving the key-sealing key ran out of memory");
    return 0;
}

/* ---- Creating a person's key ------------------------------------------------------------------*/
struct key_owner {
    int64_t id;
    char login[PD_LOGIN_MAX + 1];
    char name[PD_NAME_MAX + 1];
    char role[32];
    char password_hash[PW_HASH_BYTES];
};

static int owner_load(struct pd_srvdb *db, const char *login, int64_t id, struct key_owner *o, struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = db_prepare(db,
                        login ? "SELECT id, login, name, role, password_hash FROM users WHERE login = ?"
                              : "SELECT id, login, name, role, password_hash FROM users WHERE id = ?",
                        &st, err);
    if (rc < 0)
        return rc;
    if (login)
        sqlite3_bind_text(st, 1, login, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return login ? pd_err_set(err, PD_EDATA, "login", "no user '%.64s'", login)
                     : pd_err_set(err, PD_EDATA, NULL, "no user %lld", (long long)id);
    }
    o->id = sqlite3_column_int64(st, 0);
    db_text(st, 1, o->login, sizeof o->login);
    db_text(st, 2, o->name, sizeof o->name);
    db_text(st, 3, o->role, sizeof o->role);
    db_text(st, 4, o->password_hash, sizeof o->password_hash);
    sqlite3_finalize(st);
    if (strcmp(o->role, "reviewer") != 0 && strcmp(o->role, "authorizer") != 0)
        return pd_err_set(err, PD_ESTATE, "role",
                          "'%s' is a %s: only reviewers and authorizers sign, and have a personal key", o->login,
                          o->role);
    return 0;
}

/* The current key's public hex of a user ("" when none). */
static int current_public(struct pd_srvdb *db, int64_t user_id, char hex[65], struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = db_prepare(db, "SELECT public_hex FROM signing_keys WHERE user_id = ? AND retired_at IS NULL", &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, user_id);
    hex[0] = '\0';
    if (sqlite3_step(st) == SQLITE_ROW)
        db_text(st, 0, hex, 65);
    sqlite3_finalize(st);
    return 0;
}

static int store_sealed(struct pd_srvdb *db, const struct key_owner *o, const struct pd_public_key *pub,
                        const unsigned char salt[crypto_pwhash_SALTBYTES],
                        const unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES],
                        const unsigned char sealed[SEALED_BYTES], struct pd_err *err)
{
    char now[40];
    db_now_iso(now, sizeof now);
    int rc = db_begin(db, err);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st;
    if ((rc = db_prepare(
             db, "UPDATE signing_keys SET retired_at = ?, sealed = NULL WHERE user_id = ? AND retired_at IS NULL", &st,
             err)) < 0) {
        db_rollback(db);
        return rc;
    }
    sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, o->id);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, "retiring the old key", err);
    sqlite3_finalize(st);
    if (rc == 0 &&
        (rc = db_prepare(db,
                         "INSERT INTO signing_keys(user_id, role, public_hex, key_id, kdf_salt, kdf_opslimit, "
                         "kdf_memlimit, nonce, sealed, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                         &st, err)) == 0) {
        sqlite3_bind_int64(st, 1, o->id);
        sqlite3_bind_text(st, 2, o->role, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, pub->hex, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, pub->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 5, salt, crypto_pwhash_SALTBYTES, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 6, (sqlite3_int64)KDF_OPS);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)KDF_MEM);
        sqlite3_bind_blob(st, 8, nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 9, sealed, SEALED_BYTES, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 10, now, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, "storing the sealed key", err);
        sqlite3_finalize(st);
    }
    if (rc == 0)
        rc = db_commit(db, err);
    if (rc < 0)
        db_rollback(db);
    return rc;
}

int keys_create_for(struct pd_srvdb *db, const char *data_dir, int64_t user_id, const char *password, char key_id[17],
                    struct pd_err *err)
{
    struct key_owner o;
    int rc = owner_load(db, NULL, user_id, &o, err);
    if (rc < 0)
        return rc;
    char certs[4200];
    snprintf(certs, sizeof certs, "%s/%s", data_dir, PD_SERVER_CERTS_DIR);
    if (!pd_registry_exists(certs))
        return pd_err_set(err, PD_ESTATE, certs,
                          "no certificate registry here for the signing key (polydaq registry init %s --lab-key "
                          "LAB.pub), then polydaq user key %s --data %s",
                          certs, o.login, data_dir);
    /* The key pair, from a random seed; the secret half lives in locked memory while it exists. */
    struct pd_secret_key *sk = sodium_malloc(sizeof *sk);
    unsigned char *kek = sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    if (!sk || !kek) {
        sodium_free(sk);
        sodium_free(kek);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of locked memory for a key");
    }
    unsigned char pk[PD_KEY_PUBLIC_BYTES];
    crypto_sign_keypair(pk, sk->bytes);
    char pk_hex[65];
    sodium_bin2hex(pk_hex, sizeof pk_hex, pk, sizeof pk);
    struct pd_public_key pub;
    rc = pd_public_key_from_hex(pk_hex, &pub, err);
    unsigned char salt[crypto_pwhash_SALTBYTES], nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    unsigned char sealed[SEALED_BYTES];
    randombytes_buf(salt, sizeof salt);
    randombytes_buf(nonce, sizeof nonce);
    if (rc == 0)
        rc = derive(password, salt, KDF_OPS, KDF_MEM, kek, err);
    if (rc == 0) {
        char ad[200];
        seal_ad(o.id, pub.hex, ad, sizeof ad);
        unsigned long long n = 0;
        crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, &n, sk->bytes, SEED_BYTES, (const unsigned char *)ad,
                                                   strlen(ad), NULL, nonce, kek);
    }
    sodium_free(sk);
    sodium_free(kek);
    if (rc < 0)
        return rc;
    /* Registered first: a key in the registry whose sealed secret failed to be stored signs
     * nothing; a stored key the registry does not know would sign what no one can verify. */
    struct pd_registry reg;
    if ((rc = pd_registry_open(&reg, certs, 0, err)) < 0)
        return rc;
    char old_hex[65];
    rc = current_public(db, o.id, old_hex, err);
    char person[PD_NAME_MAX + PD_LOGIN_MAX + 8];
    snprintf(person, sizeof person, "%s (%s)", o.name, o.login);
    struct pd_registry_key added;
    if (rc == 0)
        rc = pd_registry_key_add(&reg, strcmp(o.role, "reviewer") == 0 ? PD_KEY_ROLE_REVIEWER : PD_KEY_ROLE_AUTHORIZER,
                                 person, &pub, &added, err);
    if (rc == 0)
        rc = store_sealed(db, &o, &pub, salt, nonce, sealed, err);
    /* The old key is disabled only once the new one is stored: a failure in between leaves the
     * person with the key they had. */
    if (rc == 0 && old_hex[0]) {
        struct pd_registry_key gone;
        struct pd_err e = {0};
        if (pd_registry_key_disable(&reg, old_hex, &gone, &e) < 0 && e.code != PD_ESTATE)
            pd_log(PD_LOG_WARN, "server: the old key of %s stays enabled in the registry: %s", o.login, e.msg);
    }
    pd_registry_close(&reg);
    if (rc == 0 && key_id)
        memcpy(key_id, pub.id, 17);
    return rc;
}

int pd_user_key_create(struct pd_srvdb *db, const char *data_dir, const char *login, const char *password,
                       char key_id[17], struct pd_err *err)
{
    struct key_owner o;
    int rc = owner_load(db, login, 0, &o, err);
    if (rc < 0)
        return rc;
    if (!pw_verify(o.password_hash, password))
        return pd_err_set(err, PD_EDATA, "password", "wrong password for '%s' (the key is sealed under it)", login);
    return keys_create_for(db, data_dir, o.id, password, key_id, err);
}

/* ---- Unlocked keys of live sessions -----------------------------------------------------------*/
struct unlocked {
    char session_hash[65]; /* SHA-256 of the session id, as the sessions table has it */
    int64_t user_id;
    struct pd_secret_key *key; /* sodium_malloc'ed; PROT_NONE between uses */
};
static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static struct unlocked *store;
static size_t store_n;

static void forget_at(size_t i)
{
    sodium_free(store[i].key); /* wipes it */
    store[i] = store[--store_n];
}

int keys_unlock(struct srv_call *call, int64_t user_id, const char *password, struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = db_prepare(call->db,
                        "SELECT public_hex, kdf_salt, kdf_opslimit, kdf_memlimit, nonce, sealed FROM signing_keys "
                        "WHERE user_id = ? AND retired_at IS NULL",
                        &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, user_id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return 0; /* no key: a person who does not sign, or one whose key is yet to be made */
    }
    char pub_hex[65];
    db_text(st, 0, pub_hex, sizeof pub_hex);
    unsigned char salt[crypto_pwhash_SALTBYTES], nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    unsigned char sealed[SEALED_BYTES];
    bool sizes = sqlite3_column_bytes(st, 1) == (int)sizeof salt && sqlite3_column_bytes(st, 4) == (int)sizeof nonce &&
                 sqlite3_column_bytes(st, 5) == (int)sizeof sealed;
    unsigned long long ops = (unsigned long long)sqlite3_column_int64(st, 2);
    size_t mem = (size_t)sqlite3_column_int64(st, 3);
    if (sizes) {
        memcpy(salt, sqlite3_column_blob(st, 1), sizeof salt);
        memcpy(nonce, sqlite3_column_blob(st, 4), sizeof nonce);
        memcpy(sealed, sqlite3_column_blob(st, 5), sizeof sealed);
    }
    sqlite3_finalize(st);
    if (!sizes || ops < crypto_pwhash_OPSLIMIT_MIN || ops > crypto_pwhash_OPSLIMIT_MAX ||
        mem < crypto_pwhash_MEMLIMIT_MIN || mem > (size_t)1 << 30)
        return pd_err_set(err, PD_EDATA, SRV_DB_FILE, "the sealed signing key of user %lld is damaged",
                          (long long)user_id);
    struct pd_secret_key *sk = sodium_malloc(sizeof *sk);
    unsigned char *kek = sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    unsigned char *seed = sodium_malloc(SEED_BYTES);
    if (!sk || !kek || !seed) {
        sodium_free(sk);
        sodium_free(kek);
        sodium_free(seed);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of locked memory for a key");
    }
    rc = derive(password, salt, ops, mem, kek, err);
    char ad[200];
    seal_ad(user_id, pub_hex, ad, sizeof ad);
    unsigned long long n = 0;
    if (rc == 0 && crypto_aead_xchacha20poly1305_ietf_decrypt(seed, &n, NULL, sealed, sizeof sealed,
                                                              (const unsigned char *)ad, strlen(ad), nonce, kek) != 0)
        rc = pd_err_set(err, PD_EDATA, SRV_DB_FILE, "the signing key of user %lld does not open with this password",
                        (long long)user_id);
    unsigned char pk[PD_KEY_PUBLIC_BYTES];
    if (rc == 0) {
        crypto_sign_seed_keypair(pk, sk->bytes, seed);
        char hex[65];
        sodium_bin2hex(hex, sizeof hex, pk, sizeof pk);
        if (strcmp(hex, pub_hex) != 0)
            rc = pd_err_set(err, PD_EDATA, SRV_DB_FILE, "the signing key of user %lld is not its public key's",
                            (long long)user_id);
        else
            rc = pd_public_key_from_hex(hex, &sk->pub, err);
    }
    sodium_free(kek);
    sodium_free(seed);
    if (rc < 0) {
        sodium_free(sk);
        return rc;
    }
    sodium_mprotect_noaccess(sk);
    pthread_mutex_lock(&store_lock);
    struct unlocked *grown = realloc(store, (store_n + 1) * sizeof *store);
    if (!grown) {
        pthread_mutex_unlock(&store_lock);
        sodium_free(sk);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    }
    store = grown;
    struct unlocked *u = &store[store_n++];
    session_id_hash(call->session_id, u->session_hash);
    u->user_id = user_id;
    u->key = sk;
    pthread_mutex_unlock(&store_lock);
    return 0;
}

int keys_session_key(struct srv_call *call, struct pd_secret_key *out, struct pd_err *err)
{
    char hash[65];
    session_id_hash(call->session_id, hash);
    int rc = PD_ESTATE;
    pthread_mutex_lock(&store_lock);
    for (size_t i = 0; i < store_n; i++) {
        if (store[i].user_id == call->user.id && sodium_memcmp(store[i].session_hash, hash, 64) == 0) {
            sodium_mprotect_readonly(store[i].key);
            *out = *store[i].key;
            sodium_mprotect_noaccess(store[i].key);
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&store_lock);
    if (rc < 0)
        return pd_err_set(err, PD_ESTATE, NULL,
                          "no signing key is unlocked in this session: log out and in again (a key made after "
                          "your login opens at the next one)");
    return 0;
}

void keys_forget_session(const unsigned char session_id[32])
{
    char hash[65];
    session_id_hash(session_id, hash);
    pthread_mutex_lock(&store_lock);
    for (size_t i = 0; i < store_n; i++)
        if (sodium_memcmp(store[i].session_hash, hash, 64) == 0)
            forget_at(i--);
    pthread_mutex_unlock(&store_lock);
}

void keys_forget_user(int64_t user_id)
{
    pthread_mutex_lock(&store_lock);
    for (size_t i = 0; i < store_n; i++)
        if (store[i].user_id == user_id)
            forget_at(i--);
    pthread_mutex_unlock(&store_lock);
}

void keys_sweep(struct pd_srvdb *db, int idle_s, int absolute_s)
{
    int64_t now_s = db_now_s();
    pthread_mutex_lock(&store_lock);
    if (store_n == 0) {
        pthread_mutex_unlock(&store_lock);
        return;
    }
    sqlite3_stmt *st;
    if (db_prepare(db,
                   "SELECT s.created_s, s.last_seen_s FROM sessions s JOIN users u ON u.id = s.user_id "
                   "WHERE s.id_hash = ? AND u.disabled = 0",
                   &st, NULL) == 0) {
        for (size_t i = 0; i < store_n; i++) {
            sqlite3_reset(st);
            sqlite3_bind_text(st, 1, store[i].session_hash, 64, SQLITE_TRANSIENT);
            int step = sqlite3_step(st);
            if (step == SQLITE_DONE || (step == SQLITE_ROW && (now_s - sqlite3_column_int64(st, 1) > idle_s ||
                                                               now_s - sqlite3_column_int64(st, 0) > absolute_s)))
                forget_at(i--); /* the session ended (logout elsewhere, CLI disable, expiry) */
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&store_lock);
}

void keys_sweep_after_request(struct pd_srvdb *db, int idle_s, int absolute_s)
{
    /* At most once a second: under load the requests do not queue on the store's lock. */
    static _Atomic int64_t last_sweep_s;
    int64_t now_s = db_now_s();
    if (atomic_exchange(&last_sweep_s, now_s) != now_s)
        keys_sweep(db, idle_s, absolute_s);
}

size_t keys_unlocked_count(void)
{
    pthread_mutex_lock(&store_lock);
    size_t n = store_n;
    pthread_mutex_unlock(&store_lock);
    return n;
}

void keys_forget_all(void)
{
    pthread_mutex_lock(&store_lock);
    while (store_n > 0)
        forget_at(store_n - 1);
    free(store);
    store = NULL;
    pthread_mutex_unlock(&store_lock);
}
