/*
 * registry.h — the lab's certificate registry: the one place that knows which certificate numbers
 * exist, each certificate's state and document, who approved it with which registered key, the
 * audit log (a hash chain) and the raw-file seals. SQLite, one file DIR/registry.sqlite (WAL,
 * synchronous=FULL, foreign keys on); every state change is one transaction (BEGIN IMMEDIATE, so
 * two processes never take the same number). The schema is created and migrated by `PRAGMA
 * user_version`.
 *
 * Portability: the SQL is plain (INTEGER/TEXT columns, CHECK, REFERENCES, UNIQUE; no AUTOINCREMENT,
 * no INSERT OR REPLACE, no SQLite date functions); a PostgreSQL backend would replace only
 * registry.c's connection handling: the pragmas (WAL, synchronous, foreign_keys, busy timeout) by
 * the server's defaults, BEGIN IMMEDIATE by BEGIN + `SELECT ... FOR UPDATE` on the sequences row,
 * and user_version by a one-row schema_version table. Callers see only this header.
 *
 * The registry knows nothing of what a certificate says: it stores the document text as given and
 * its two hashes (content, whole canonical document) as computed by its caller (cert).
 */
#ifndef PD_REGISTRY_H
#define PD_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"
#include "trust/trust.h"

#define PD_REGISTRY_FILE           "registry.sqlite"
#define PD_REGISTRY_SCHEMA_VERSION 2

struct sqlite3;

/* Caller-allocated; pd_registry_open fills it, pd_registry_close releases it. */
struct pd_registry {
    struct sqlite3 *db;
    char dir[4096];
    char path[4200];
    bool in_transaction;
};

enum pd_registry_open_flags {
    PD_REGISTRY_CREATE = 1, /* create DIR/registry.sqlite (and its schema) when missing */
};

/* Opens DIR/registry.sqlite (created with PD_REGISTRY_CREATE; otherwise a missing registry is
 * PD_ESTATE naming the folder and `polydaq registry init`). A file that is not a registry, or one
 * of a newer schema, is PD_EDATA. `reg` untouched on error. */
int pd_registry_open(struct pd_registry *reg, const char *dir, unsigned flags, struct pd_err *err);
void pd_registry_close(struct pd_registry *reg);
/* Copies the write-ahead log into the registry file and empties it. Closing does not (each
 * command would pay two more fsyncs); a caller that moves the file itself (migrate) must. */
int pd_registry_checkpoint(struct pd_registry *reg, struct pd_err *err);
/* Whether DIR holds a registry file. */
bool pd_registry_exists(const char *dir);

/* One state change: begin (BEGIN IMMEDIATE: waits up to a minute for another writer), the calls
 * below, then commit — or rollback on any error. Commit is a durable write point (pd_fault_point
 * before and after). Rollback is harmless without a transaction. */
int pd_registry_begin(struct pd_registry *reg, struct pd_err *err);
int pd_registry_commit(struct pd_registry *reg, struct pd_err *err);
void pd_registry_rollback(struct pd_registry *reg);

/* ---- keys: the lab's issuing keys, persons (reviewer, authorizer), stations ------------------*/
/* Roles are trust's enum pd_key_role (lab, reviewer, authorizer, station; pd_key_role_name). */

struct pd_registry_key {
    long long ref; /* row id (approvals refer to it) */
    enum pd_key_role role;
    char name[128];
    struct pd_public_key key;
    char registered[40]; /* ISO-8601 UTC */
    char disabled[40];   /* "" while active */
};
/* Registers a key (own transaction). A key already registered (any role) is PD_ESTATE; an empty
 * or over-long name, or one with control characters, PD_EINVAL. */
int pd_registry_key_add(struct pd_registry *reg, enum pd_key_role role, const char *name,
                        const struct pd_public_key *key, struct pd_registry_key *out, struct pd_err *err);
/* The registration of a public key; PD_ESTATE "not registered" when there is none. */
int pd_registry_key_find(struct pd_registry *reg, const struct pd_public_key *key, struct pd_registry_key *out,
                         struct pd_err *err);
/* By row id (approvals): PD_EDATA when missing. */
int pd_registry_key_get(struct pd_registry *reg, long long ref, struct pd_registry_key *out, struct pd_err *err);
/* Disables the key whose key id, full hex or exact name is `which` (own transaction); PD_ESTATE
 * when none or several match or it is disabled already. The row stays: old approvals still name it. */
int pd_registry_key_disable(struct pd_registry *reg, const char *which, struct pd_registry_key *out,
                            struct pd_err *err);
/* Every key (role < 0) or those of one role, in registration order; *keys malloc'd (free()). */
int pd_registry_keys(struct pd_registry *reg, int role, struct pd_registry_key **keys, size_t *n, struct pd_err *err);
/* The active station keys of DIR's registry — the stations whose seals certify trusts — as a
 * malloc'd array (free()); none (*n = 0, *keys NULL) when DIR has no registry. */
int pd_registry_station_keys(const char *dir, struct pd_public_key **keys, size_t *n, struct pd_err *err);
/* Whether key was registered with `role` and active at `time` (ISO-8601; NULL: now). */
bool pd_registry_key_valid_at(const struct pd_registry_key *k, enum pd_key_role role, const char *time);

/* ---- certificates --------------------------------------------------------------------------*/
struct pd_registry_cert {
    long long number;
    char id[32];              /* CERT-000042 */
    char status[16];          /* draft | reviewed | issued | withdrawn | superseded */
    char *document;           /* the JSON text (malloc'd; pd_registry_cert_free) */
    char content_sha256[65];  /* what reviewer and authorizer sign */
    char document_sha256[65]; /* SHA-256 of the whole document's canonical form */
    char replaces[32];        /* "" when not a revision */
    char superseded_by[32];
    char drafted[40], issued[40];
    char withdrawn[40], reason[512]; /* withdrawal, or why it was superseded */
};
void pd_registry_cert_free(struct pd_registry_cert *c);
/* Takes the next certificate number (inside a transaction): the registry's sequence, never a
 * number used before, also after migration from a counter file. */
int pd_registry_next_number(struct pd_registry *reg, unsigned long *number, struct pd_err *err);
/* Raises the sequence to at least `last` (migration: the old counter's last number). */
int pd_registry_sequence_raise(struct pd_registry *reg, unsigned long last, struct pd_err *err);
/* Inserts a new certificate row (inside a transaction); c->document is copied. */
int pd_registry_cert_insert(struct pd_registry *reg, const struct pd_registry_cert *c, struct pd_err *err);
/* Reads one certificate; PD_ESTATE "no certificate CERT-… in this registry" when missing. */
int pd_registry_cert_get(struct pd_registry *reg, const char *id, struct pd_registry_cert *out, struct pd_err *err);
/* Replaces status, document and hashes (and issued when non-empty) of an existing certificate whose
 * status is `from` (inside a transaction); PD_ESTATE when its status is not `from`. */
int pd_registry_cert_update(struct pd_registry *reg, const char *from, const struct pd_registry_cert *c,
                            struct pd_err *err);
/* Marks an issued certificate superseded by `by`, or withdrawn (by NULL) with reason and time
 * (inside a transaction); PD_ESTATE unless it is issued. */
int pd_registry_cert_retire(struct pd_registry *reg, const char *id, const char *by, const char *reason,
                            const char *time, struct pd_err *err);
/* Every certificate id in number order; *ids malloc'd (free()). */
int pd_registry_cert_ids(struct pd_registry *reg, char (**ids)[32], size_t *n, struct pd_err *err);

/* ---- approvals and withdrawals ---------------------------------------------------------------*/
struct pd_registry_approval {
    char cert_id[32];
    char role[16]; /* reviewer | authorizer | withdraw */
    long long key_ref;
    char content_sha256[65]; /* reviewer/authorizer: the content signed; withdraw: SHA-256 of the reason */
    char time[40];
    char signature[129];
};
/* Inserts one (inside a transaction): at most one reviewer, one authorizer and one withdrawal per
 * certificate (PD_ESTATE otherwise). */
int pd_registry_approval_add(struct pd_registry *reg, const struct pd_registry_approval *a, struct pd_err *err);
/* The approval of a role; PD_ESTATE when there is none. */
int pd_registry_approval_get(struct pd_registry *reg, const char *cert_id, const char *role,
                             struct pd_registry_approval *out, struct pd_err *err);

/* ---- the audit log: a hash chain of entries ------------------------------------------------*/
/* Appends the next entry (inside a transaction): {"seq","time","event","certificate","actor",
 * "role","content_sha256","prev","hash"}, hash = SHA-256 of the entry's canonical form without
 * "hash", prev = the hash of the entry before (64 zeros for the first). *entry_out (may be NULL)
 * gets the entry, owned by the caller. */
int pd_registry_audit_append(struct pd_registry *reg, const char *event, const char *cert_id, const char *actor,
                             const char *role, const char *content_sha256, json_t **entry_out, struct pd_err *err);
/* Appends an entry exactly as given (migration of an old audit.log): its hash and its prev must
 * continue the chain (PD_EDATA otherwise). */
int pd_registry_audit_import(struct pd_registry *reg, const json_t *entry, struct pd_err *err);
/* The hash of an entry as the chain computes it. */
int pd_registry_audit_entry_hash(const json_t *entry, char hex[65]);
/* The entries of one certificate (NULL: all), as a JSON array (caller's). */
int pd_registry_audit_entries(struct pd_registry *reg, const char *cert_id, json_t **out, struct pd_err *err);

/* ---- seals of raw files --------------------------------------------------------------------*/
/* Records a run file's seal (its own transaction unless one is open): run id, the file's SHA-256,
 * the station key id and the seal's text. The same seal again is no change; another text for the
 * same run id and SHA-256 is PD_ESTATE. */
int pd_registry_record_seal(struct pd_registry *reg, const char *run_id, const char *sha256, const char *station_key_id,
                            const char *seal_text, struct pd_err *err);

/* ---- what the lab publishes for its customers ---------------------------------------------*/
/* Writes OUT/keyring.txt (one line per active key: `polydaq-ed25519-public HEX ROLE NAME`,
 * disabled keys as comments) and OUT/revocations.json (format "polydaq-revocations-1": every
 * withdrawn or superseded certificate, signed with the lab's registered, active secret key
 * `lab_key_path` over the canonical form without "signature"), each atomically. */
int pd_registry_publish(struct pd_registry *reg, const char *out_dir, const char *lab_key_path, struct pd_err *err);

/* ---- the lab's settings ----------------------------------------------------------------------*/
#define PD_VERIFY_URL_MAX 100 /* bytes: the QR code holds it with "/v/CERT-…#" and 64 hex digits */
/* The lab's public verification base URL (e.g. "https://lab.example.org"): certify records
 * BASE/v/CERT-… in each new certificate and its QR code leads there (the lab server's page,
 * docs/SERVER.md). buf gets "" when none is set. */
int pd_registry_verify_url(struct pd_registry *reg, char *buf, size_t size, struct pd_err *err);
/* Sets it (own transaction), "" removes it. A URL is http:// or https://, a host (letters,
 * digits, '.', '-', a :port), an optional path of [A-Za-z0-9._~/-], no query or fragment, at most
 * PD_VERIFY_URL_MAX bytes; a trailing '/' is dropped. Anything else: PD_EINVAL saying why. */
int pd_registry_set_verify_url(struct pd_registry *reg, const char *url, struct pd_err *err);
/* Whether `url` is a verification URL pd_registry_set_verify_url takes (PD_EINVAL saying why). */
int pd_registry_verify_url_check(const char *url, struct pd_err *err);

/* ---- checking ------------------------------------------------------------------------------*/
/* SQLite's integrity_check, the foreign keys, the audit chain (each entry's hash, each prev) and,
 * for each issued (or later withdrawn/superseded) certificate, that its document still hashes to
 * its recorded document_sha256 and content_sha256 is set. Each finding goes to `say` as "ok: …" or
 * "FAIL: …"; *ok false on any FAIL. Negative only when the registry cannot be read. */
int pd_registry_check(struct pd_registry *reg, void (*say)(const char *line, void *arg), void *arg, bool *ok,
                      struct pd_err *err);

/* ---- fault injection (a test hook, compiled in always) ---------------------------------------
 * Every durable write point of the registry and of certify/approve calls pd_fault_point: each
 * SQLite commit (before and after), each file's write, fsync and rename. With the environment
 * variable PD_FAULT_KILL_AT=N the process raises SIGKILL at the Nth point it reaches, so a test
 * can interrupt an operation at every point in turn. Without it, nothing happens. */
void pd_fault_point(const char *what);

/* Writes text to DIR-relative `path` atomically: a temporary file beside it (written, fsync'ed),
 * renamed over the target, the folder fsync'ed; fault points at each step. Nothing but a stray
 * temporary file (*.tmp.PID, removed on error) can be left by an interruption. */
int pd_write_file_atomic(const char *path, const void *data, size_t len, struct pd_err *err);

#endif /* PD_REGISTRY_H */
