/*
 * trust.h — who may sign, and whom a reader of a signed document trusts. Ed25519 keys (libsodium)
 * for the three kinds of signer polydaq knows: the lab's issuing key (signs issued certificates),
 * a person's key (each reviewer and authorizer signs what they approve) and a station's key (an
 * acquisition station seals each run file it closes). Key files, detached signatures over bytes,
 * key ids; the canonical JSON form that is signed, and SHA-256 of texts and files. Nothing here
 * knows certificates or run files; cert, registry and acq build on it.
 */
#ifndef PD_TRUST_H
#define PD_TRUST_H

#include <stdbool.h>
#include <jansson.h>
#include <stddef.h>

#include "core/core.h"

#define PD_KEY_PUBLIC_BYTES 32
#define PD_KEY_SECRET_BYTES 64 /* libsodium's form: seed followed by the public key */
#define PD_KEY_SIGNATURE_BYTES 64

/* A public key with the two names it is shown by. */
struct pd_public_key {
    unsigned char bytes[PD_KEY_PUBLIC_BYTES];
    char hex[2 * PD_KEY_PUBLIC_BYTES + 1]; /* lowercase hex of bytes */
    char id[17];                           /* key id: first 16 hex digits of SHA-256(bytes) */
};

/* A secret key in memory; pd_secret_key_wipe when done (it is also wiped on every error path). */
struct pd_secret_key {
    unsigned char bytes[PD_KEY_SECRET_BYTES];
    struct pd_public_key pub;
};

/* libsodium's one-time set-up; every function below calls it, so callers need not. */
int pd_trust_init(struct pd_err *err);

/* Creates DIR/STEM.key (secret, mode 0600 from the first byte, O_EXCL: an existing key is never
 * overwritten — PD_ESTATE) and DIR/STEM.pub. The folder is made if missing. The paths written go
 * to the outputs (each may be NULL). */
int pd_key_generate(const char *dir, const char *stem, char *secret_path, size_t secret_size, char *public_path,
                    size_t public_size, struct pd_err *err);

/* Reads a secret key file. Refused, like ssh does, when the file is readable or writable by group
 * or others (PD_ESTATE, the message says which mode and what to do) or not a polydaq secret key
 * (PD_EDATA). *out untouched on error. */
int pd_secret_key_load(const char *path, struct pd_secret_key *out, struct pd_err *err);
void pd_secret_key_wipe(struct pd_secret_key *key);

/* Reads a public key file (PD_EDATA if it is not one; trailing text on the line is refused). */
int pd_public_key_load(const char *path, struct pd_public_key *out, struct pd_err *err);
/* From the 64 lowercase hex digits of a key (as certificates and keyrings carry it). */
int pd_public_key_from_hex(const char *hex, struct pd_public_key *out, struct pd_err *err);

/* Detached Ed25519 signature of len bytes. */
void pd_key_sign(const struct pd_secret_key *key, const void *msg, size_t len,
                 unsigned char sig[PD_KEY_SIGNATURE_BYTES]);
/* true when sig is key's signature of exactly these bytes. */
bool pd_key_verify(const struct pd_public_key *key, const void *msg, size_t len,
                   const unsigned char sig[PD_KEY_SIGNATURE_BYTES]);

/* Signature as 128 lowercase hex digits and back (strict: exactly 128 hex digits). */
void pd_signature_to_hex(const unsigned char sig[PD_KEY_SIGNATURE_BYTES], char hex[2 * PD_KEY_SIGNATURE_BYTES + 1]);
int pd_signature_from_hex(const char *hex, unsigned char sig[PD_KEY_SIGNATURE_BYTES], struct pd_err *err);

/* ---- canonical JSON and digests ------------------------------------------------------------*/
/* The canonical form: compact, keys sorted bytewise, non-ASCII as \uXXXX, reals with 17
 * significant digits, without the top-level keys listed (NULL-terminated; NULL = none). Any JSON
 * value. malloc'd; NULL on memory failure. */
char *pd_json_canonical(const json_t *doc, const char *const *without);
/* SHA-256 of len bytes as 64 lowercase hex digits. */
void pd_sha256_hex(const void *data, size_t len, char hex[65]);
/* SHA-256 of a whole file (streamed; libcrypto, which uses the CPU's SHA extensions). */
int pd_sha256_file(const char *path, char hex[65], struct pd_err *err);

#endif
