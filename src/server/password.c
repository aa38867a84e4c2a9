/*
 * password.c — password policy and Argon2id hashes (libsodium crypto_pwhash_str with its
 * interactive limits: 2 passes over 64 MiB, the recommendation for online logins; the parameters
 * are stored in each hash, so raising them later re-hashes nothing). A login that does not exist
 * costs the same verification against a dummy hash, so response times do not tell which exist.
 */
#include <string.h>

#include "server/internal.h"

#define PW_OPSLIMIT crypto_pwhash_OPSLIMIT_INTERACTIVE
#define PW_MEMLIMIT crypto_pwhash_MEMLIMIT_INTERACTIVE

static char dummy_hash[PW_HASH_BYTES];

int pw_init(struct pd_err *err)
{
    if (sodium_init() < 0)
        return pd_err_set(err, PD_EIO, NULL, "libsodium could not be initialised");
    if (dummy_hash[0] == '\0') {
        unsigned char random_pw[32];
        char hex[65];
        randombytes_buf(random_pw, sizeof random_pw);
        sodium_bin2hex(hex, sizeof hex, random_pw, sizeof random_pw);
        char h[PW_HASH_BYTES];
        if (crypto_pwhash_str(h, hex, strlen(hex), PW_OPSLIMIT, PW_MEMLIMIT) != 0)
            return pd_err_set(err, PD_ENOMEM, NULL, "password hashing needs %zu MiB of memory",
                              (size_t)PW_MEMLIMIT >> 20);
        memcpy(dummy_hash, h, sizeof h);
    }
    return 0;
}

int pw_check_policy(const char *password, struct pd_err *err)
{
    size_t n = strlen(password);
    if (n < PD_PASSWORD_MIN)
        return pd_err_set(err, PD_EDATA, "password", "too short: at least %d characters", PD_PASSWORD_MIN);
    if (n > PD_PASSWORD_MAX)
        return pd_err_set(err, PD_EDATA, "password", "too long: at most %d bytes", PD_PASSWORD_MAX);
    return 0;
}

int pw_hash(const char *password, char out[PW_HASH_BYTES], struct pd_err *err)
{
    int rc = pw_check_policy(password, err);
    if (rc < 0)
        return rc;
    if (crypto_pwhash_str(out, password, strlen(password), PW_OPSLIMIT, PW_MEMLIMIT) != 0)
        return pd_err_set(err, PD_ENOMEM, NULL, "password hashing ran out of memory");
    return 0;
}

bool pw_verify(const char *hash, const char *password)
{
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

void pw_verify_dummy(const char *password)
{
    if (crypto_pwhash_str_verify(dummy_hash, password, strlen(password)) == 0)
        pd_log(PD_LOG_WARN, "server: a password matched the random dummy hash"); /* never in practice */
}
