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
#include <stdint.h>

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

/* ---- the lab's published keyring (keyring.c) ---------------------------------------------*/
/* Text, one key per line: "polydaq-ed25519-public <64 hex> <role> <label...>"; '#' comments and
 * blank lines allowed, anything else an error naming file:line. Only `lab` keys are trust anchors
 * for an issued certificate's (and a revocation list's) signature; the others say which keys are
 * a lab's reviewers, authorizers and acquisition stations. */
enum pd_key_role { PD_KEY_ROLE_LAB = 0, PD_KEY_ROLE_REVIEWER = 1, PD_KEY_ROLE_AUTHORIZER = 2, PD_KEY_ROLE_STATION = 3 };
#define PD_KEYRING_LABEL_MAX 160
struct pd_keyring_entry {
    struct pd_public_key key;
    enum pd_key_role role;
    char label[PD_KEYRING_LABEL_MAX]; /* printable UTF-8: a name, "Joint Plastics Test Laboratory" */
};
struct pd_keyring {
    struct pd_keyring_entry *entries; /* in file order */
    size_t n;
};
/* "lab", "reviewer", "authorizer", "station"; pd_key_role_parse returns -1 for anything else. */
const char *pd_key_role_name(enum pd_key_role role);
int pd_key_role_parse(const char *s, size_t len);
/* Reads a keyring (PD_EDATA naming file:line for any line that is not a key, comment or blank,
 * a label with control characters or invalid UTF-8, a key listed twice for one role). *out
 * untouched on error; pd_keyring_close frees it. */
int pd_keyring_load(const char *path, struct pd_keyring *out, struct pd_err *err);
void pd_keyring_close(struct pd_keyring *kr);
/* The entry listing exactly this key with this role, or NULL. */
const struct pd_keyring_entry *pd_keyring_find(const struct pd_keyring *kr, const struct pd_public_key *key,
                                               enum pd_key_role role);
size_t pd_keyring_count(const struct pd_keyring *kr, enum pd_key_role role);
/* One keyring line with its newline, as pd_keyring_load reads it (PD_EINVAL for a bad label). */
int pd_keyring_format_line(const struct pd_public_key *key, enum pd_key_role role, const char *label, char *buf,
                           size_t size, struct pd_err *err);

/* ---- canonical JSON and digests ------------------------------------------------------------*/
/* The canonical form: compact, keys sorted bytewise, non-ASCII as \uXXXX, reals with 17
 * significant digits, without the top-level keys listed (NULL-terminated; NULL = none). Any JSON
 * value. malloc'd; NULL on memory failure. */
char *pd_json_canonical(const json_t *doc, const char *const *without);
/* SHA-256 of len bytes as 64 lowercase hex digits. */
void pd_sha256_hex(const void *data, size_t len, char hex[65]);
/* SHA-256 of a whole file (streamed; libcrypto, which uses the CPU's SHA extensions). */
int pd_sha256_file(const char *path, char hex[65], struct pd_err *err);

/* ---- seals: a station's signature over a closed run file (seal.c) --------------------------*/
/* RUN.h5.seal beside RUN.h5 (docs/CERTIFICATES.md §6): the file's size and SHA-256 with the run id,
 * outcome, simulated flag and instrument identities, signed by the acquisition station's key over
 * pd_json_canonical(seal, {"signature"}). Written once when the acquisition closes the file; never
 * overwritten. */
#define PD_SEAL_FORMAT "polydaq-seal-1"
#define PD_SEAL_SUFFIX ".seal"
#define PD_SEAL_MAX_INSTRUMENTS 16

struct pd_seal_instrument {
    char name[64];
    char model[128];
    char serial[128];
    char firmware[128];
};

/* What a seal states about the run in the file: the sealing station fills it from what it wrote,
 * a verifier from what it read back from the file. */
struct pd_seal_facts {
    char run_id[128];
    char outcome[32]; /* "completed", "interrupted", "failed", "incomplete"; "" = not compared */
    bool simulated;
    size_t n_instruments;
    struct pd_seal_instrument instruments[PD_SEAL_MAX_INSTRUMENTS];
};

struct pd_seal {
    struct pd_seal_facts facts;
    char file[256];   /* the run file's name (no folder) when it was sealed */
    uint64_t size;    /* bytes */
    char sha256[65];
    char closed[40];  /* ISO-8601 UTC: when the station sealed it */
    char station_name[128];
    struct pd_public_key station; /* the key that signed it (key_id and public_key in the file) */
    char signature[2 * PD_KEY_SIGNATURE_BYTES + 1];
};

/* Why a seal did not verify (pd_seal_load, pd_seal_check); err->msg has the precise reason. */
enum pd_seal_verdict {
    PD_SEAL_VERIFIED = 0,
    PD_SEAL_ABSENT,        /* no seal file: "run file not sealed" */
    PD_SEAL_UNREADABLE,    /* not a seal: bad JSON, duplicate keys, a field missing, mistyped, unknown */
    PD_SEAL_BAD_SIGNATURE, /* the signature is not its station key's over the seal's content */
    PD_SEAL_UNTRUSTED,     /* signed by a station key the caller does not trust */
    PD_SEAL_FILE_CHANGED,  /* the file's size or SHA-256 now differ from the sealed ones */
    PD_SEAL_MISMATCH,      /* run id, outcome, simulated flag or instruments differ from the file's */
};

/* RUN_PATH + ".seal" into out; PD_ERANGE when it does not fit. */
int pd_seal_path(const char *run_path, char *out, size_t size, struct pd_err *err);
/* Seals a closed run file: hashes it, signs the seal with the station's key and writes
 * RUN_PATH.seal atomically (a temporary file, fsync, link to the name, so an existing seal is
 * never replaced: PD_ESTATE; the folder is fsync'ed). `closed` is the ISO-8601 time to record
 * (NULL: now). The seal written goes to *out (may be NULL). Nothing is left behind on error. */
int pd_seal_create(const char *run_path, const struct pd_seal_facts *facts, const char *closed,
                   const char *station_name, const struct pd_secret_key *key, struct pd_seal *out,
                   struct pd_err *err);
/* Reads a seal strictly (duplicate keys, missing, mistyped or unknown fields, a format other than
 * PD_SEAL_FORMAT are refused) and checks its signature under the station key it names. 0 and *out
 * filled when it is a seal its key signed; else negative, *verdict ABSENT (no such file),
 * UNREADABLE or BAD_SIGNATURE, err->msg the reason, *out untouched. */
int pd_seal_load(const char *seal_path, struct pd_seal *out, enum pd_seal_verdict *verdict, struct pd_err *err);
/* The same from a seal's text in memory (`name` for messages); what pd_seal_load does after reading. */
int pd_seal_parse(const char *text, size_t len, const char *name, struct pd_seal *out, enum pd_seal_verdict *verdict,
                  struct pd_err *err);
/* Checks a loaded seal against the run file as it is now: its station key among the `trusted`
 * (n_trusted of them), the file's size, its SHA-256 (`sha256_now`, when the caller already has it;
 * NULL: hashed here) and the facts the caller read from the file (instruments compared by name,
 * outcome only when both state one). 0 when all hold; else PD_EDATA, *verdict and err->msg say
 * which failed first, in that order (PD_EIO when the file cannot be read). */
int pd_seal_check(const struct pd_seal *seal, const char *run_path, const char *sha256_now,
                  const struct pd_seal_facts *facts_now, const struct pd_public_key *trusted, size_t n_trusted,
                  enum pd_seal_verdict *verdict, struct pd_err *err);

#endif
