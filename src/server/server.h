/*
 * server.h — the lab server's whole contract: the workflow database in the data folder (members,
 * users, sessions, test requests, items, complaints, the mail outbox, personal signing keys, run
 * files and the requests' certificates) with the account operations
 * the CLI needs, and the HTTP server (`polydaq serve`) that puts the JSON API /api/v1/ over it and
 * delivers e-mail notices. How requests are routed, who may see what and how each resource behaves
 * is private to src/server/ (docs/SERVER.md describes it).
 */
#ifndef PD_SERVER_H
#define PD_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/core.h"

/* ---- Roles ---------------------------------------------------------------------------------
 * A member contact belongs to one member company (tenant) and sees only its data; the lab roles
 * see every member's. */
enum pd_role {
    PD_ROLE_MEMBER = 0,
    PD_ROLE_TECHNICIAN = 1,
    PD_ROLE_REVIEWER = 2,
    PD_ROLE_AUTHORIZER = 3,
    PD_ROLE_ADMIN = 4,
};
#define PD_ROLE_COUNT 5
/* "member", "technician", ...; never NULL. */
const char *pd_role_name(enum pd_role role);
/* Exact lower-case name → role; false for anything else. */
bool pd_role_parse(const char *name, enum pd_role *out);

/* ---- The workflow database (DATA_DIR/server.sqlite) ----------------------------------------
 * Created and migrated to the current schema version when opened. The server and CLI commands
 * may use it at the same time: WAL and SQLite's locks keep each transaction whole. */
struct pd_srvdb;
int pd_srvdb_open(const char *data_dir, struct pd_srvdb **out, struct pd_err *err);
void pd_srvdb_close(struct pd_srvdb *db);

#define PD_NAME_MAX 200   /* member names, user display names (bytes of UTF-8) */
#define PD_LOGIN_MAX 64   /* logins: [a-z0-9._-], starting with a letter or digit */
#define PD_PASSWORD_MIN 12
#define PD_PASSWORD_MAX 1024

struct pd_member_info {
    int64_t id;
    char name[PD_NAME_MAX + 1];
    char created_at[40]; /* ISO 8601 UTC */
};
/* A new member company; PD_ESTATE when the name is taken, PD_EDATA when it is not a valid name. */
int pd_member_add(struct pd_srvdb *db, const char *name, int64_t *id_out, struct pd_err *err);
/* Calls `each` for every member, by id. */
int pd_member_list(struct pd_srvdb *db, void (*each)(const struct pd_member_info *m, void *ctx), void *ctx,
                   struct pd_err *err);

struct pd_user_info {
    int64_t id;
    char login[PD_LOGIN_MAX + 1];
    char name[PD_NAME_MAX + 1];
    enum pd_role role;
    int64_t member_id; /* the member company of a `member` user; 0 for lab staff */
    char member_name[PD_NAME_MAX + 1];
    bool disabled;
    char created_at[40];
};
/* A new user; `member` (a member's name) is required for role member and refused for the others.
 * The password is hashed with Argon2id; it must be PD_PASSWORD_MIN..PD_PASSWORD_MAX bytes. */
int pd_user_add(struct pd_srvdb *db, const char *login, const char *name, enum pd_role role, const char *member,
                const char *password, int64_t *id_out, struct pd_err *err);
/* The same, with the e-mail address a member contact gets notices at (PD_EDATA when it is not one:
 * nothing is added). */
int pd_user_add_with_email(struct pd_srvdb *db, const char *login, const char *name, enum pd_role role,
                           const char *member, const char *email, const char *password, int64_t *id_out,
                           struct pd_err *err);
int pd_user_list(struct pd_srvdb *db, void (*each)(const struct pd_user_info *u, void *ctx), void *ctx,
                 struct pd_err *err);
/* Disables the login and ends all of the user's sessions (one transaction). */
int pd_user_disable(struct pd_srvdb *db, const char *login, struct pd_err *err);

/* ---- The data folder ----------------------------------------------------------------------
 * DATA_DIR/server.sqlite (this database), DATA_DIR/certs/ (the certificate registry and its
 * exports, with the lab's issuing key lab.key), DATA_DIR/runs/ (run files), DATA_DIR/specs/
 * (the specifications certify offers). */
#define PD_SERVER_CERTS_DIR "certs"
#define PD_SERVER_RUNS_DIR "runs"
#define PD_SERVER_SPECS_DIR "specs"
/* A new personal signing key for reviewer/authorizer `login`, whose `password` is checked (PD_EDATA
 * when wrong): an Ed25519 pair whose public half is registered in DATA_DIR/certs as this person
 * with this role, the secret sealed under the password in server.sqlite. An earlier key is retired
 * (disabled in the registry; the approvals it made stay valid). PD_ESTATE for another role or
 * without a registry. key_id (17 bytes, may be NULL) gets the new key's id. */
int pd_user_key_create(struct pd_srvdb *db, const char *data_dir, const char *login, const char *password,
                       char key_id[17], struct pd_err *err);

/* ---- The HTTP server ------------------------------------------------------------------------*/
struct pd_server_options {
    const char *listen_addr;  /* numeric IPv4 or IPv6 address, e.g. "127.0.0.1" */
    uint16_t port;            /* 0: the kernel chooses (pd_server_port tells which) */
    const char *data_dir;     /* holds server.sqlite (and, from the registry, registry.sqlite) */
    bool tls_proxy;           /* behind a TLS-terminating reverse proxy: cookies get Secure, and
                                 X-Real-IP from a loopback peer names the client */
    unsigned threads;         /* worker threads (0: 4) */
    int session_idle_s;       /* a session ends after this long unused (0: 1800) */
    int session_absolute_s;   /* and this long after login in any case (0: 43200) */
    const char *decision_rule; /* the decision rule stated to members (NULL: the lab default) */
    FILE *access_log;         /* one JSON line per request (NULL: none) */
    const char *smtp_url;     /* the relay for e-mail notices, smtp://host:port (NULL: notices wait
                                 in the outbox, sent once a server runs with a relay) */
    const char *mail_from;    /* the notices' sender address (required with smtp_url) */
    const char *lab_path;     /* the lab config whose instruments are the test stations
                                 (docs/STATION.md; NULL: no stations) */
    const char *polydaq_path; /* the program a series runs (`polydaq run`; NULL: this program) */
};
struct pd_server;
/* Opens the database, binds and starts the worker threads. */
int pd_server_start(const struct pd_server_options *opt, struct pd_server **out, struct pd_err *err);
uint16_t pd_server_port(const struct pd_server *srv);
/* Stops accepting connections, lets requests in flight finish (up to `grace_ms`), then stops
 * the threads and frees everything. */
void pd_server_stop(struct pd_server *srv, int grace_ms);

#endif /* PD_SERVER_H */
