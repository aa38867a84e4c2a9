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
    __typeof__(MHD_quiesce_daemon) *quiesce_daemon;
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
struct pd_srvdb {
    sqlite3 *h;
};
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
#define SCOPE_SQL(member_column) "(:scope_all = 1 OR " member_column " = :scope_member)"
/* Lab staff: SCOPE_LAB; a member contact: its member company. (Anonymous calls keep SCOPE_NOTHING.) */
struct srv_user;
void scope_for_user(const struct srv_user *user, struct srv_scope *out);
/* Prepares `sql`, which must contain SCOPE_SQL(...) (refused with PD_EINVAL otherwise: a tenant
 * query without its scope is a programming error), and binds the scope's parameters. */
int scope_prepare(struct pd_srvdb *db, const struct srv_scope *scope, const char *sql, sqlite3_stmt **out,
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
/* The test station (stations.c, series.c, sse.c): the lab config (NULL without --lab), the live
 * links to running series, the data folder and the polydaq program that runs a series. */
struct srv_lab;
struct live_hub;
const struct srv_lab *srv_lab(const struct pd_server *srv);
struct live_hub *srv_hub(const struct pd_server *srv);
const char *srv_data_dir(const struct pd_server *srv);
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
bool session_csrf_ok(const struct srv_call *call, const char *header_value);
/* Clears the cookie in the browser (logout, or a cookie that named no live session). */
void session_clear_cookie(struct srv_call *call);

/* ---- Login throttling (throttle.c) --------------------------------------------------------------*/
/* Seconds until `key` may try again (0: now). */
int64_t throttle_wait_s(struct pd_srvdb *db, const char *key);
/* Counts a failure; from the `free_tries`-th failure on, the key waits 4 s, 8 s, ... (up to 15 min). */
void throttle_fail(struct pd_srvdb *db, const char *key, int free_tries);
void throttle_reset(struct pd_srvdb *db, const char *key);

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
                            {file} one file name (static_name_ok) */
    int (*handler)(struct srv_call *call);
    unsigned roles;                /* ROLE_BIT set allowed; ROLES_ANONYMOUS: anyone */
    const struct srv_field *body;  /* the body's schema; NULL: no body */
};
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
/* Appends an entry to the request's history, by the caller, now. */
int request_event(struct srv_call *call, int64_t request_id, const char *action, const char *detail,
                  struct pd_err *err);
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
 * run.material replaced, only `instrument` and the calipers kept, the station key made absolute. */
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
void labels_release(void); /* at the server's stop: cairo's and fontconfig's caches freed */
int complaints_list(struct srv_call *call); /* complaints.c */
int complaints_get(struct srv_call *call);
int complaints_create(struct srv_call *call);
int complaints_acknowledge(struct srv_call *call);
int complaints_investigate(struct srv_call *call);
int complaints_close(struct srv_call *call);
extern const struct srv_field items_receive_body[], complaints_create_body[], complaints_note_body[],
    complaints_investigation_body[],
    complaints_close_body[];
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
