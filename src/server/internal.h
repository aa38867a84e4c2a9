/*
 * internal.h — private to src/server: the pieces the resources share — a database connection and
 * its transactions, the scope that decides what a caller may see, the call (one HTTP request being
 * answered), body schemas, sessions and the one table of routes.
 */
#ifndef PD_SERVER_INTERNAL_H
#define PD_SERVER_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>
#include <sqlite3.h>

#include "config/config.h"
#include "server/server.h"

/* ---- libmicrohttpd, loaded at the first server start (mhd.c) ---------------------------------*/
struct mhd_api {
    bool loaded;
    __typeof__(MHD_start_daemon) *start_daemon;
    __typeof__(MHD_stop_daemon) *stop_daemon;
    __typeof__(MHD_get_daemon_info) *get_daemon_info;
    __typeof__(MHD_get_connection_info) *get_connection_info;
    __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
    __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
    __typeof__(MHD_add_response_header) *add_response_header;
    __typeof__(MHD_queue_response) *queue_response;
    __typeof__(MHD_destroy_response) *destroy_response;
    /* Server-Sent Events (sse.c): a stream answer, parked while it has nothing to send */
    __typeof__(MHD_create_response_from_callback) *create_response_from_callback;
    __typeof__(MHD_suspend_connection) *suspend_connection;
    __typeof__(MHD_resume_connection) *resume_connection;
};
extern struct mhd_api mhd;
int mhd_load(struct pd_err *err);

/* ---- Database (db.c) -------------------------------------------------------------------------*/
struct pd_registry;
#define DB_KEPT_MAX 16
struct pd_srvdb {
    sqlite3 *h;
    /* DATA_DIR/certs/registry.sqlite for the public pages, opened at their first use and kept with
     * this connection (opening it for every lookup was a quarter of the page's CPU); NULL until then. */
    struct pd_registry *registry;
    /* What the public pages looked up in that registry (public.c), while it has not changed. */
    struct public_cache *public_cache;
    /* The last public lookup's client key found not held back, and the throttle generation then. */
    char lookup_free_key[96];
    uint64_t lookup_free_generation;
    /* Statements of the per-request paths (session, scope, lists, the public page), prepared once
     * per connection: preparing them for every request was a sixth of a list's CPU. */
    struct {
        const char *sql;
        sqlite3_stmt *st;
    } kept[DB_KEPT_MAX];
};
struct public_cache;
void public_cache_free(struct public_cache *cache); /* public.c; before the registry is closed */
#define SRV_DB_FILE "server.sqlite"
/* Opens one connection (WAL, synchronous=FULL, foreign keys, busy timeout) and brings the schema
 * to the current version. */
int db_connect(const char *data_dir, struct pd_srvdb **out, struct pd_err *err);
/* Every state change runs inside BEGIN IMMEDIATE … COMMIT; db_rollback is safe after any error. */
int db_begin(struct pd_srvdb *db, struct pd_err *err);
int db_commit(struct pd_srvdb *db, struct pd_err *err);
void db_rollback(struct pd_srvdb *db);
/* Prepares a statement that takes no tenant scope (accounts, sessions, the lab's own tables). */
int db_prepare(struct pd_srvdb *db, const char *sql, sqlite3_stmt **out, struct pd_err *err);
/* The same for SQL that runs on (nearly) every request: the connection's statement for this very
 * string — compared by address, so pass a string literal — prepared at its first use and kept.
 * Give it back with db_release (never sqlite3_finalize) on every path, before the same SQL can be
 * needed again. PD_EINVAL when DB_KEPT_MAX statements are kept already (a programming error). */
int db_prepare_kept(struct pd_srvdb *db, const char *sql, sqlite3_stmt **out, struct pd_err *err);
/* Resets a kept statement (its read ends, its bindings are cleared); NULL is ignored. */
void db_release(sqlite3_stmt *st);
/* Turns the connection's last error into a pd_err: PD_ESTATE for a constraint, PD_EBUSY when
 * locked, PD_EIO otherwise. */
int db_fail(struct pd_srvdb *db, const char *what, struct pd_err *err);
/* Now as "2026-12-03T13:50:23Z" (buf ≥ 40 bytes) and as seconds since the epoch. */
void db_now_iso(char *buf, size_t size);
/* Appends one entry to a history table (request_events, complaint_events): insert_sql takes, in
 * order, the owner's id, the time (now), the user, the action and the detail. */
int db_event_add(struct pd_srvdb *db, const char *insert_sql, int64_t owner_id, int64_t user_id, const char *action,
                 const char *detail, const char *what, struct pd_err *err);
int64_t db_now_s(void);
/* Copies column `col` (TEXT, may be NULL → "") into buf. */
void db_text(sqlite3_stmt *st, int col, char *buf, size_t size);
/* ---- Rows as JSON, shared by the resources (requests.c, items.c, complaints.c) ----
 * Column `col` as a JSON string, or null for SQL NULL; a TEXT column holding JSON, parsed (null
 * when NULL or not JSON). */
json_t *db_json_text(sqlite3_stmt *st, int col);
json_t *db_json_parsed(sqlite3_stmt *st, int col);
/* A resource's SELECT as its JSON object, column i named by cols[i] (ended by {NULL}): an integer,
 * a boolean (0/1), a string or null (db_json_text), or JSON text parsed (db_json_parsed). */
enum db_column_type { DB_INTEGER, DB_BOOLEAN, DB_TEXT, DB_JSON };
struct db_column {
    const char *name;
    enum db_column_type type;
};
json_t *db_row_object(sqlite3_stmt *st, const struct db_column *cols);
/* One row of a resource's SELECT as its JSON object. */
typedef json_t *db_row_json_fn(sqlite3_stmt *st);
/* Steps `st` to its end and finalizes it: every row as row(st), in an array; NULL on error (err
 * set, naming `what`). */
json_t *db_json_rows(struct pd_srvdb *db, sqlite3_stmt *st, db_row_json_fn *row, const char *what,
                     struct pd_err *err);
/* Runs the scoped `sql` (SCOPE_SQL and an :id parameter bound to `id`): 1 with the row's object in
 * *out, 0 when the scope shows no such row, or an error (*out untouched). With history_sql (see
 * db_history; NULL: none) the object gets the row's "history", read once the scope allowed it. */
struct srv_scope;
int db_scoped_get(struct pd_srvdb *db, const struct srv_scope *scope, const char *sql, int64_t id,
                  db_row_json_fn *row, const char *history_sql, const char *what, json_t **out, struct pd_err *err);
/* Every row of the scoped `sql` as an array; NULL on error. */
json_t *db_scoped_list(struct pd_srvdb *db, const struct srv_scope *scope, const char *sql, db_row_json_fn *row,
                       const char *what, struct pd_err *err);
/* The answers of a list endpoint, 200 {key: [rows of the scoped sql]}, and of a get endpoint (the
 * path's {id}): 200 with the object (and history), 404 `not_found` when the scope shows none; or
 * the failure's answer. */
struct srv_call;
int db_reply_list(struct srv_call *call, const char *key, const char *sql, db_row_json_fn *row, const char *what);
int db_reply_get(struct srv_call *call, const char *sql, db_row_json_fn *row, const char *history_sql,
                 const char *what, const char *not_found);
/* A history (request_events, complaint_events) as [{at, by, action, detail}]: history_sql selects
 * those four columns of the entries of owner `owner_id` (its one parameter), oldest first — as
 * DB_HISTORY_SQL writes it for a history table and its owner column. The owner must have been read
 * through the caller's scope already. NULL on error. */
#define DB_HISTORY_SQL(table, owner_column)                                                                      \
    "SELECT e.at, u.login, e.action, e.detail FROM " table " e JOIN users u ON u.id = e.user_id WHERE e."         \
    owner_column " = ? ORDER BY e.id"

json_t *db_history(struct pd_srvdb *db, const char *history_sql, int64_t owner_id, struct pd_err *err);

/* ---- Who may see what (scope.c) ---------------------------------------------------------------
 * The scope is made once per call from the session; every query over tenant data takes it. Its
 * SQL fragment names the row's member column; scope_prepare binds the caller's values, so no
 * handler writes its own tenancy condition. */
enum srv_scope_kind {
    SCOPE_NOTHING = 0, /* anonymous: no tenant data at all */
    SCOPE_MEMBER = 1,  /* a member contact: rows of its member company only */
    SCOPE_LAB = 2,     /* lab staff: every member's rows */
};
struct srv_scope {
    enum srv_scope_kind kind;
    int64_t member_id; /* SCOPE_MEMBER only */
};
/* A range of member ids (staff: all of them; a member: its own id; anonymous: none), not
 * "(:all = 1 OR column = :member)": SQLite cannot serve that OR from an index, so every member's
 * list scanned the whole table (docs/BENCHMARKS.md, "Lab server"). The scoped columns are NOT NULL. */
#define SCOPE_SQL(member_column) "(" member_column " BETWEEN :scope_first AND :scope_last)"
/* :scope_all, where a query uses it besides SCOPE_SQL, is bound to 1 for lab staff, 0 otherwise. */
/* A certificate: a member sees its company's (through the request) once issued — also when later
 * withdrawn or superseded; drafts and reviewed ones are the lab's. (The member's range first, so
 * the member column's index serves it, as SCOPE_SQL.) */
#define SCOPE_CERT_SQL(member_column, status_column)                                                 \
    "(" member_column " BETWEEN :scope_first AND :scope_last AND (:scope_all = 1 OR " status_column   \
    " IN ('issued','withdrawn','superseded')))"
/* A run file belongs to the member company whose items it is linked to (runs.c links a run to the
 * items of one request only); an unlinked run is the lab's alone. */
#define SCOPE_RUN_SQL(run_column)                                                                      \
    "(:scope_all = 1 OR EXISTS (SELECT 1 FROM run_items sri JOIN items si ON si.id = sri.item_id "     \
    "JOIN requests sq ON sq.id = si.request_id WHERE sri.run_id = " run_column                          \
    " AND sq.member_id = :scope_member))"
/* Lab staff: SCOPE_LAB; a member contact: its member company. (Anonymous calls keep SCOPE_NOTHING.) */
struct srv_user;
void scope_for_user(const struct srv_user *user, struct srv_scope *out);
/* Prepares `sql`, which must contain SCOPE_SQL(...) or SCOPE_RUN_SQL(...) (refused with PD_EINVAL
 * otherwise: a tenant query without its scope is a programming error), and binds the scope's
 * parameters. */
int scope_prepare(struct pd_srvdb *db, const struct srv_scope *scope, const char *sql, sqlite3_stmt **out,
                  struct pd_err *err);
/* The same through db_prepare_kept (give it back with db_release). */
int scope_prepare_kept(struct pd_srvdb *db, const struct srv_scope *scope, const char *sql, sqlite3_stmt **out,
                       struct pd_err *err);

/* ---- Passwords (password.c) -------------------------------------------------------------------*/
#define PW_HASH_BYTES crypto_pwhash_STRBYTES
int pw_init(struct pd_err *err); /* libsodium and the dummy hash for unknown logins */
int pw_check_policy(const char *password, struct pd_err *err);
int pw_hash(const char *password, char out[PW_HASH_BYTES], struct pd_err *err);
bool pw_verify(const char *hash, const char *password);
/* The same work as a verification, for a login that does not exist (no timing difference). */
void pw_verify_dummy(const char *password);

/* ---- Accounts shared by resources (users.c, members.c) ----------------------------------------*/
struct srv_user {
    int64_t id;
    char login[PD_LOGIN_MAX + 1];
    char name[PD_NAME_MAX + 1];
    enum pd_role role;
    int64_t member_id;
};
bool login_is_valid(const char *login);
bool name_is_valid(const char *name); /* 1..PD_NAME_MAX bytes, no control characters */
void user_to_json(const struct pd_user_info *u, json_t *obj);
int user_load(struct pd_srvdb *db, int64_t id, struct pd_user_info *out, struct pd_err *err);

/* ---- One HTTP request being answered (http.c) ---------------------------------------------------*/
struct srv_call {
    struct pd_server *srv;
    struct pd_srvdb *db;
    const char *method;
    const char *path;
    int64_t ids[2]; /* the {id} segments of the path, in order */
    json_t *body;   /* the request body, checked against the route's schema (NULL: none) */
    bool authenticated;
    struct srv_user user;
    struct srv_scope scope;
    unsigned char session_id[32]; /* the raw session id from the cookie (authenticated only) */
    char client[64];              /* the client's address */
    /* the answer */
    int status;
    json_t *response;
    char set_cookie[256];
    int retry_after_s;
    unsigned char *bytes; /* a document instead of JSON (the label sheet): malloc'ed, freed by http.c */
    size_t bytes_len;
    const char *bytes_type; /* its Content-Type, a string constant */
    /* a file of the web interface instead of JSON (static.c): bytes, length and content type */
    const unsigned char *raw;
    size_t raw_len;
    const char *content_type;
    /* an upload's bytes as sent, on a route whose body is srv_raw_body (public.c): not checked by
     * http.c, owned by it; upload_type is the Content-Type header (NULL: none) */
    const char *upload;
    size_t upload_len;
    const char *upload_type;
    /* a stream instead (Server-Sent Events, sse.c): queued with the security headers, then the
     * call's; `conn` is the connection the stream is answered on */
    struct MHD_Connection *conn;
    struct MHD_Response *stream;
};
/* Sets the answer (steals `body`); returns 0 so handlers can `return call_reply(...)`. */
int call_reply(struct srv_call *call, int status, json_t *body);
/* An error answer {"error": {"code": CODE, "message": ...}}; returns 0. */
int call_error(struct srv_call *call, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Answers with a document (steals `data`, malloc'ed) of the given Content-Type; returns 0. */
int call_reply_bytes(struct srv_call *call, int status, const char *type, unsigned char *data, size_t len);
/* A failed storage operation: 409 for a conflict/constraint, 503 when busy, 500 otherwise. */
int call_fail(struct srv_call *call, const struct pd_err *err);
/* The server's settings the handlers need. */
int srv_session_idle_s(const struct pd_server *srv);
int srv_session_absolute_s(const struct pd_server *srv);
bool srv_tls(const struct pd_server *srv);
const char *srv_decision_rule(const struct pd_server *srv);
const char *srv_data_dir(const struct pd_server *srv); /* --data DIR; the registry is DIR/certs */
/* The test station (stations.c, series.c, sse.c): the lab config (NULL without --lab), the live
 * links to running series, the data folder and the polydaq program that runs a series. */
struct srv_lab;
struct live_hub;
const struct srv_lab *srv_lab(const struct pd_server *srv);
struct live_hub *srv_hub(const struct pd_server *srv);
const char *srv_polydaq(const struct pd_server *srv);
/* Requests begun and not yet answered; whether pd_server_stop has begun (for the tests). */
int srv_in_flight(const struct pd_server *srv);
bool srv_stopping(const struct pd_server *srv);

/* ---- Sessions and CSRF (session.c) ------------------------------------------------------------*/
#define SESSION_COOKIE "pd_session"
#define CSRF_HEADER "X-CSRF-Token"
/* Starts a session for the user: stores the hash of a new random id, sets the cookie on the
 * answer and writes the CSRF token (64 hex + NUL) for it. */
int session_start(struct srv_call *call, int64_t user_id, char csrf_hex[65], struct pd_err *err);
/* From the cookie's value: fills call->user, scope and session_id when the session exists, is
 * not expired and its user not disabled; otherwise leaves the call anonymous. */
int session_resolve(struct srv_call *call, const char *cookie, struct pd_err *err);
int session_end(struct srv_call *call, struct pd_err *err);
void session_csrf_token(const unsigned char session_id[32], char hex[65]);
/* SHA-256 of a raw session id as 64 hex digits: what the sessions table keeps. */
void session_id_hash(const unsigned char id[32], char hex[65]);
bool session_csrf_ok(const struct srv_call *call, const char *header_value);
/* Clears the cookie in the browser (logout, or a cookie that named no live session). */
void session_clear_cookie(struct srv_call *call);

/* ---- Login throttling (throttle.c) --------------------------------------------------------------*/
/* Seconds until `key` may try again (0: now). */
int64_t throttle_wait_s(struct pd_srvdb *db, const char *key);
/* Counts a failure; from the `free_tries`-th failure on, the key waits 4 s, 8 s, ... (up to 15 min). */
void throttle_fail(struct pd_srvdb *db, const char *key, int free_tries);
void throttle_reset(struct pd_srvdb *db, const char *key);
/* Moves with every throttle_fail and throttle_reset of this process: a key found not held back
 * stays so while it has not moved (no failure anywhere since), which spares the public pages the
 * query (public.c). */
uint64_t throttle_generation(void);

/* ---- Body schemas (body.c) ----------------------------------------------------------------------*/
enum srv_field_type { FT_STRING, FT_TEXT, FT_INTEGER, FT_BOOLEAN, FT_STRING_ARRAY, FT_OBJECT, FT_DATE,
                       FT_NUMBER_MAP /* an object of min..max named numbers */ };
struct srv_field {
    const char *name;
    enum srv_field_type type;
    bool required;
    long min, max; /* string/text: length in bytes; integer: value; array: items (strings ≤ 64) */
    const struct srv_field *fields; /* FT_OBJECT: its fields, ended by {NULL} */
};
/* Parses and checks a JSON body against the fields (unknown fields, types, lengths, control
 * characters, duplicate keys); on error writes a message naming the field and returns false. */
bool body_check(const char *text, size_t len, const struct srv_field *fields, json_t **out, char *msg,
                size_t msg_size);

/* ---- Routes (routes.c) --------------------------------------------------------------------------*/
#define ROLE_BIT(r) (1u << (r))
#define ROLES_STAFF (ROLE_BIT(PD_ROLE_TECHNICIAN) | ROLE_BIT(PD_ROLE_REVIEWER) | ROLE_BIT(PD_ROLE_AUTHORIZER) | \
                     ROLE_BIT(PD_ROLE_ADMIN))
#define ROLES_ALL (ROLES_STAFF | ROLE_BIT(PD_ROLE_MEMBER))
#define ROLES_ANONYMOUS 0u /* the route is open without a session */
struct srv_route {
    const char *method;
    const char *pattern; /* "/api/v1/requests/{id}/accept": {id} is a positive decimal id;
                            {file} one file name (static_name_ok); {cert} a certificate
                            number CERT-NNNNNN (public_cert_id_ok) */
    int (*handler)(struct srv_call *call);
    unsigned roles;                /* ROLE_BIT set allowed; ROLES_ANONYMOUS: anyone */
    const struct srv_field *body;  /* the body's schema; NULL: no body */
};
/* A route's body given to its handler as sent (call->upload): the public check of an uploaded
 * certificate (up to 4 MiB), a run file's upload (runs.c, up to RUN_UPLOAD_LIMIT); the handler
 * checks type and content itself. */
extern const struct srv_field srv_raw_body[];
extern const struct srv_route srv_routes[];
extern const size_t srv_route_count;

/* ---- Shared by the resources after a request's acceptance (items.c, labels.c, complaints.c) ----*/
struct request_brief {
    int64_t id;
    char state[32];
    int64_t member_id;
    char member_name[PD_NAME_MAX + 1];
    char material[201];
};
/* Request `request_id` as the caller's scope sees it: 1 (filled in), 0 (not found) or an error. */
int request_visible(struct srv_call *call, int64_t request_id, struct request_brief *out, struct pd_err *err);
/* The request the path's first id names, as the caller's scope sees it: 1 (filled in), or 0 with the
 * answer already set (404 "no such request" for an unknown or another tenant's id, or the error). */
int request_of_path(struct srv_call *call, struct request_brief *out);
/* Request `request_id` as the caller's scope sees it, when its state is one of `states` (a NULL-
 * terminated list; NULL: any): 1 (filled in), or 0 with the answer set — 404 "no such request",
 * 409 "request N is S; <why>", or the error. */
int request_in_state(struct srv_call *call, int64_t request_id, const char *const *states, const char *why,
                     struct request_brief *out);
/* Appends an entry to the request's history, by the caller, now. */
int request_event(struct srv_call *call, int64_t request_id, const char *action, const char *detail,
                  struct pd_err *err);
/* One step of a request's workflow (request_advance): a state move, its history entry, the notice. */
struct request_step {
    const char *from, *to;       /* the move, made when the request is in `from` (to NULL: none) */
    const char *action, *detail; /* the history entry, recorded whether or not the request moved */
    const char *subject, *text;  /* the member's notice (NULL: none) */
    bool notice_always;          /* the notice also when the request did not move (a receipt's) */
};
/* Takes `step` on request `req` inside the caller's transaction: moves it from step->from to
 * step->to when it is in `from` (the UPDATE checks the state again, so a request another call moved
 * on meanwhile is a PD_ESTATE conflict, never overwritten), appends the history entry by the
 * caller and queues the member's notice. 1 when it moved (req->state follows), 0 when not, or an error. */
int request_advance(struct srv_call *call, struct request_brief *req, const struct request_step *step,
                    struct pd_err *err);
/* request_advance's move alone, for a change no person made now (certs_resync): request
 * `request_id` from `from` to `to` inside the caller's transaction; 1 moved, 0 not in `from`. */
int request_move(struct pd_srvdb *db, int64_t request_id, const char *from, const char *to, struct pd_err *err);
/* Calls `each` with every item row of the request in the caller's scope (columns: id, item id,
 * request id, member id, description, condition, conforming, storage, received at, by); the count. */
int items_of_request(struct srv_call *call, int64_t request_id, void (*each)(sqlite3_stmt *st, void *ctx),
                     void *ctx, struct pd_err *err);

/* ---- E-mail notices (outbox.c, mail.c) -------------------------------------------------------------
 * A notice is queued in the outbox inside the transaction of the change it tells about, so it
 * exists exactly when the change does; the sender thread delivers it later (at least once). */
/* Queues one message per enabled contact (member user with an address) of member `member_id`. */
int outbox_notify_member(struct pd_srvdb *db, int64_t member_id, const char *subject, const char *text,
                         struct pd_err *err);
bool email_is_valid(const char *address);
/* Copies as much of `src` as fits in `size` bytes, cut between UTF-8 characters. */
void utf8_cut(char *dst, const char *src, size_t size);
struct mail_sender;
/* Starts the thread that delivers the outbox through the SMTP relay `url` (smtp://host:port). */
int mail_sender_start(const char *data_dir, const char *url, const char *from, struct mail_sender **out,
                      struct pd_err *err);
void mail_sender_stop(struct mail_sender *ms);

/* ---- Personal signing keys (keys.c) ----------------------------------------------------------------
 * A reviewer's or authorizer's secret key, sealed in server.sqlite under their password, is opened
 * at login and held in locked memory for that session only. */
struct pd_secret_key;
/* A new key pair for user `user_id` (reviewer/authorizer), registered in DATA_DIR/certs and sealed
 * under `password`; the user's earlier key is retired (disabled in the registry). */
int keys_create_for(struct pd_srvdb *db, const char *data_dir, int64_t user_id, const char *password,
                    char key_id[17], struct pd_err *err);
/* At login: opens the user's sealed key with the password and keeps it for the call's session
 * (nothing when the user has no key). */
int keys_unlock(struct srv_call *call, int64_t user_id, const char *password, struct pd_err *err);
/* A copy of the session's unlocked key (wipe it after use); PD_ESTATE when none. */
int keys_session_key(struct srv_call *call, struct pd_secret_key *out, struct pd_err *err);
void keys_forget_session(const unsigned char session_id[32]);
void keys_forget_user(int64_t user_id);
/* Forgets the keys of sessions that ended (expired, deleted, user disabled). */
void keys_sweep(struct pd_srvdb *db, int idle_s, int absolute_s);
/* The same after each request, at most once a second. */
void keys_sweep_after_request(struct pd_srvdb *db, int idle_s, int absolute_s);
size_t keys_unlocked_count(void);
void keys_forget_all(void); /* at the server's stop */
/* ---- The test station's lab (stations.c) ---------------------------------------------------------
 * The lab config given to `serve --lab` (a run configuration, config/station-demo.yaml): its
 * instruments are the stations; a series runs that file with the chosen instrument, method and
 * number of specimens (written per series as DIR/stations/series-<id>.yaml). */
#define LAB_INSTRUMENTS_MAX 32
struct lab_instrument {
    char name[64];
    char driver[32];
    char model[160];
    bool caliper; /* a measuring instrument for dimensions (serial_line), not a station */
    int station;  /* a caliper's station (its index: the station listed before it), -1: every station's */
    char method[32]; /* a station's default method: record when its channels are listed and none is a force */
};
struct srv_lab {
    char path[4096];
    char dir[4096]; /* the file's folder: the station key's path is relative to it */
    struct pd_cfg_doc *doc;
    struct lab_instrument instruments[LAB_INSTRUMENTS_MAX];
    size_t n_instruments;
    char method[32]; /* the file's run.method, the default */
};
int lab_load(const char *path, struct srv_lab **out, struct pd_err *err);
void lab_free(struct srv_lab *lab);
const struct lab_instrument *lab_station(const struct srv_lab *lab, const char *name);
/* Writes the series' config to `out_path` (0600): the lab file with run.method, run.specimens and
 * run.material replaced, only `instrument` and its calipers kept (specimen.caliper naming the
 * station's own, or removed when it has none), the station key made absolute. A recording
 * (method record) keeps the instrument alone, no specimen section, 1 specimen; a method other than
 * the lab file's gets its own defaults (the file's method section is the lab method's). */
int lab_write_series_config(const struct srv_lab *lab, const char *instrument, const char *method, long specimens,
                            const char *material, const char *out_path, struct pd_err *err);

/* ---- Live links to running series (sse.c) -------------------------------------------------------
 * One socket client per running series (the run's control socket, docs/STATION.md): a thread reads
 * its events, keeps what a late viewer needs (hello, state, dimensions asked, every points batch,
 * the control events) and fans each line out to the viewers' Server-Sent Event streams. A viewer
 * that does not read is dropped; nothing waits on a viewer. Commands go to the run on the same
 * socket and wait for the run's ack or error. */
struct live_hub;
int live_hub_create(struct live_hub **out, struct pd_err *err);
/* Ends every viewer's stream (the server stops; the runs go on). */
void live_hub_quiesce(struct live_hub *hub);
/* Closes the links and joins their threads. */
void live_hub_free(struct live_hub *hub);
/* Reserves `instrument` for a series about to start: PD_ESTATE (naming the series that holds it)
 * when another has it. live_assign gives the reservation its series id once it is recorded;
 * live_release drops a reservation whose start failed. */
int live_reserve(struct live_hub *hub, const char *instrument, struct pd_err *err);
void live_assign(struct live_hub *hub, const char *instrument, int64_t series_id);
void live_release(struct live_hub *hub, const char *instrument);
/* Connects to the run's socket (retrying up to `wait_ms` while `pid`, when > 0, lives) and starts
 * the link's thread; `pid` > 0 is the server's child (reaped when it ends). PD_EIO when the socket
 * never answered (the run ended first: its log says why). */
int live_attach(struct live_hub *hub, int64_t series_id, const char *sock_path, pid_t pid, int wait_ms,
                struct pd_err *err);
/* The link's state for listings: "starting", "running", "ended" or NULL (no link); the latest
 * state event and hello (new references, or NULL). */
int live_describe(struct live_hub *hub, int64_t series_id, json_t **state_out, json_t **hello_out);
/* The run's hello (a new reference), waiting up to `wait_ms` for it; NULL without one. */
json_t *live_wait_hello(struct live_hub *hub, int64_t series_id, int wait_ms);
/* The instrument's live series (0: none). */
int64_t live_series_on(struct live_hub *hub, const char *instrument);
/* Sends `cmd` (cmd_id added) and waits up to `wait_ms` for the run's answer (*answer: the ack or
 * error event). PD_ESTATE when the series is not live, PD_ETIMEOUT without an answer. */
int live_command(struct live_hub *hub, int64_t series_id, json_t *cmd, int wait_ms, json_t **answer,
                 struct pd_err *err);
/* A Server-Sent Events answer for the caller (call->stream): everything seen so far, then each
 * event as it comes. PD_ESTATE when the series has no link (ended before this server started). */
int live_open_stream(struct live_hub *hub, struct srv_call *call, int64_t series_id, struct pd_err *err);
/* Gives series `series_id`, which has no link in this server (it ended before the server started),
 * an ended one whose replay is `lines` (protocol events, one JSON object each, in order: hello,
 * points..., state, end), read from its run file. The stream of a late viewer is then that replay
 * and ends; a link made meanwhile by another caller wins and `lines` are dropped. */
int live_load_ended(struct live_hub *hub, int64_t series_id, const char *instrument, char **lines, size_t n,
                    struct pd_err *err);
/* Sets `on_change` (called from a link's thread, no lock held) for the run's hello and end. */
void live_set_observer(struct live_hub *hub, void (*on_change)(void *ctx, int64_t series_id, const json_t *event),
                       void *ctx);

/* ---- Handlers, one file per resource ------------------------------------------------------------*/
int auth_login(struct srv_call *call);   /* auth.c */
int auth_logout(struct srv_call *call);
int auth_me(struct srv_call *call);
int members_list(struct srv_call *call); /* members.c */
int members_get(struct srv_call *call);
int members_create(struct srv_call *call);
int users_list(struct srv_call *call);   /* users.c */
int users_create(struct srv_call *call);
int users_disable(struct srv_call *call);
int users_password(struct srv_call *call);
int requests_list(struct srv_call *call); /* requests.c */
int requests_get(struct srv_call *call);
int requests_create(struct srv_call *call);
int requests_accept(struct srv_call *call);
int requests_reject(struct srv_call *call);
int items_list(struct srv_call *call);    /* items.c */
int items_get(struct srv_call *call);
int items_receive(struct srv_call *call);
int labels_pdf(struct srv_call *call);    /* labels.c */
int complaints_list(struct srv_call *call); /* complaints.c */
int complaints_get(struct srv_call *call);
int complaints_create(struct srv_call *call);
int complaints_acknowledge(struct srv_call *call);
int complaints_investigate(struct srv_call *call);
int complaints_close(struct srv_call *call);
extern const struct srv_field items_receive_body[], complaints_create_body[], complaints_note_body[],
    complaints_investigation_body[],
    complaints_close_body[];
int runs_list(struct srv_call *call); /* runs.c */
int runs_get(struct srv_call *call);
int runs_register(struct srv_call *call);
int runs_upload(struct srv_call *call);
int runs_download(struct srv_call *call);
int runs_of_request(struct srv_call *call);
int runs_link(struct srv_call *call);
/* The upload's body (srv_raw_body) is the run file's bytes, up to RUN_UPLOAD_LIMIT. */
extern const struct srv_field runs_register_body[], runs_link_body[];
#define RUN_UPLOAD_LIMIT ((size_t)256 * 1024 * 1024)
/* At the start, and at the next read after the server failed to record a registry change: the
 * server's copy of each certificate status that can still change is brought to the registry's
 * (the truth), with the request moved to `issued` and the member told as the change would have;
 * the number of certificates changed, or an error. */
int certs_resync(struct pd_srvdb *db, const char *data_dir, struct pd_err *err);
int certs_list(struct srv_call *call); /* certs.c */
int certs_get(struct srv_call *call);
int certs_certify(struct srv_call *call);
int certs_review(struct srv_call *call);
int certs_authorize(struct srv_call *call);
int certs_revise(struct srv_call *call);
int certs_withdraw(struct srv_call *call);
int certs_pdf(struct srv_call *call);
int certs_json(struct srv_call *call);
int specs_list(struct srv_call *call);
extern const struct srv_field certs_certify_body[], certs_reason_body[];
/* public.c: certificate verification for anyone, no login (docs/SERVER.md, "Public verification") */
int public_page(struct srv_call *call);     /* GET /v/{cert}: the HTML page */
int public_status(struct srv_call *call);   /* GET /api/v1/public/certificates/{cert}: JSON */
int public_check(struct srv_call *call);    /* POST …/check: an uploaded JSON or PDF verified */
int public_keyring(struct srv_call *call);  /* GET /keys/keyring.txt, as `registry publish` wrote it */
int public_revocations(struct srv_call *call); /* GET /keys/revocations.json */
/* A {cert} segment: "CERT-" and 6..12 decimal digits. */
bool public_cert_id_ok(const char *s, size_t n);
/* Whether the path is one that takes an upload (its body limit is larger). */
bool public_upload_path(const char *path);
/* The file in a multipart/form-data body (`type` the Content-Type with its boundary): the first
 * part with a filename (a browser sends the form's one file field so), pointing into `body`.
 * false when the body is no such form, or is cut short. */
bool public_multipart_file(const char *type, const char *body, size_t len, const char **data, size_t *data_len);
int stations_list(struct srv_call *call); /* stations.c */
int series_list(struct srv_call *call);   /* series.c */
int series_get(struct srv_call *call);
int series_create(struct srv_call *call);
int series_command(struct srv_call *call);
int series_events(struct srv_call *call);
/* At the server's start: links to the series still running (their sockets), the state of those
 * that ended meanwhile. */
int series_reconnect(struct pd_server *srv, struct pd_srvdb *db, struct pd_err *err);
/* The live links' observer (live_set_observer, ctx: the server): records a run's id, file and end. */
void series_observe(void *ctx, int64_t series_id, const json_t *event);
extern const struct srv_field series_create_body[], series_dims_body[], series_caliper_body[],
    series_invalid_body[], series_note_body[];
int static_file(struct srv_call *call); /* static.c: the web interface */
int static_page(struct srv_call *call);
/* A {file} segment: [a-z0-9._-], 1..64 bytes, not starting with '.' or '-', no "..". */
bool static_name_ok(const char *s, size_t n);
extern const struct srv_field auth_login_body[], members_create_body[], users_create_body[],
    users_password_body[], requests_create_body[], requests_accept_body[], requests_reject_body[];

#endif /* PD_SERVER_INTERNAL_H */
