/*
 * db.c — the server's workflow database DATA_DIR/server.sqlite: connections with the settings
 * every writer needs, the versioned schema (one migration per version, applied in one
 * transaction), transactions and error mapping. The certificate registry is another file
 * (registry.sqlite, src/registry); certificates are referred to here by number only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry/registry.h"
#include "server/internal.h"

/* Migration N brings the schema from version N to N + 1 (PRAGMA user_version). Never edit one
 * that has shipped: add the next. */
static const char *const migrations[] = {
    /* 0 → 1: accounts, sessions, login throttling, test requests and their history */
    "CREATE TABLE members ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created_at TEXT NOT NULL);"
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  login TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('member','technician','reviewer','authorizer','admin')),"
    "  member_id INTEGER REFERENCES members(id),"
    "  password_hash TEXT NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0,1)),"
    "  created_at TEXT NOT NULL,"
    "  CHECK ((role = 'member') = (member_id IS NOT NULL)));"
    "CREATE TABLE sessions ("
    "  id_hash TEXT PRIMARY KEY,"       /* SHA-256 of the cookie's random id, hex */
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  created_s INTEGER NOT NULL,"
    "  last_seen_s INTEGER NOT NULL,"
    "  client TEXT NOT NULL);"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE TABLE login_throttle ("
    "  key TEXT PRIMARY KEY,"           /* 'login:<login>' or 'client:<address>' */
    "  failures INTEGER NOT NULL,"
    "  last_failure_s INTEGER NOT NULL,"
    "  blocked_until_s INTEGER NOT NULL);"
    "CREATE TABLE requests ("
    "  id INTEGER PRIMARY KEY,"
    "  member_id INTEGER NOT NULL REFERENCES members(id),"
    "  submitted_by INTEGER NOT NULL REFERENCES users(id),"
    "  material TEXT NOT NULL,"
    "  specification TEXT NOT NULL,"
    "  methods TEXT NOT NULL,"          /* JSON array of method names */
    "  specimens INTEGER NOT NULL CHECK (specimens > 0),"
    "  conditioning TEXT NOT NULL,"
    "  due_date TEXT NOT NULL,"
    "  customer_reference TEXT NOT NULL,"
    "  notes TEXT NOT NULL,"
    "  decision_rule TEXT NOT NULL,"    /* the rule as stated to and agreed by the member */
    "  state TEXT NOT NULL CHECK (state IN ('submitted','accepted','rejected')),"
    "  submitted_at TEXT NOT NULL,"
    "  decided_by INTEGER REFERENCES users(id),"
    "  decided_at TEXT,"
    "  reject_reason TEXT,"
    "  contract_review TEXT);"          /* JSON object: the review points recorded at acceptance */
    "CREATE INDEX requests_member ON requests(member_id, id);"
    "CREATE TABLE request_events ("
    "  id INTEGER PRIMARY KEY,"
    "  request_id INTEGER NOT NULL REFERENCES requests(id),"
    "  at TEXT NOT NULL,"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  action TEXT NOT NULL,"
    "  detail TEXT NOT NULL);"
    "CREATE INDEX request_events_request ON request_events(request_id, id);",

    /* 1 → 2: item receipt (ISO/IEC 17025 7.4), complaints (7.9) with their append-only history,
     * contacts' e-mail addresses and the mail outbox. The requests table is rebuilt (SQLite cannot
     * change a CHECK) to admit the states after acceptance; foreign keys are off while migrating. */
    "CREATE TABLE requests_v2 ("
    "  id INTEGER PRIMARY KEY,"
    "  member_id INTEGER NOT NULL REFERENCES members(id),"
    "  submitted_by INTEGER NOT NULL REFERENCES users(id),"
    "  material TEXT NOT NULL,"
    "  specification TEXT NOT NULL,"
    "  methods TEXT NOT NULL,"
    "  specimens INTEGER NOT NULL CHECK (specimens > 0),"
    "  conditioning TEXT NOT NULL,"
    "  due_date TEXT NOT NULL,"
    "  customer_reference TEXT NOT NULL,"
    "  notes TEXT NOT NULL,"
    "  decision_rule TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('submitted','accepted','rejected','items received','testing',"
    "                                       'reviewing','issued')),"
    "  submitted_at TEXT NOT NULL,"
    "  decided_by INTEGER REFERENCES users(id),"
    "  decided_at TEXT,"
    "  reject_reason TEXT,"
    "  contract_review TEXT);"
    "INSERT INTO requests_v2 SELECT * FROM requests;"
    "DROP TABLE requests;"
    "ALTER TABLE requests_v2 RENAME TO requests;"
    "CREATE INDEX requests_member ON requests(member_id, id);"
    "ALTER TABLE users ADD COLUMN email TEXT;"  /* a member contact's address for notices (NULL: none) */
    "CREATE TABLE item_numbers ("            /* the last item number given per year: never reused */
    "  year INTEGER PRIMARY KEY,"
    "  last INTEGER NOT NULL);"
    "CREATE TABLE items ("
    "  id INTEGER PRIMARY KEY,"
    "  code TEXT NOT NULL UNIQUE,"           /* IT-2026-000123, lab-wide */
    "  request_id INTEGER NOT NULL REFERENCES requests(id),"
    "  description TEXT NOT NULL,"
    "  condition TEXT NOT NULL,"             /* condition on arrival */
    "  conforming INTEGER NOT NULL CHECK (conforming IN (0,1)),"
    "  storage TEXT NOT NULL,"
    "  received_at TEXT NOT NULL,"
    "  received_by INTEGER NOT NULL REFERENCES users(id));"
    "CREATE INDEX items_request ON items(request_id, id);"
    "CREATE TABLE complaints ("
    "  id INTEGER PRIMARY KEY,"
    "  request_id INTEGER NOT NULL REFERENCES requests(id),"
    "  certificate_number TEXT,"             /* CERT-NNNNNN as the member quoted it (NULL: none) */
    "  subject TEXT NOT NULL,"
    "  description TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('received','acknowledged','investigating','closed')),"
    "  filed_by INTEGER NOT NULL REFERENCES users(id),"
    "  filed_at TEXT NOT NULL,"
    "  outcome TEXT);"
    "CREATE INDEX complaints_request ON complaints(request_id, id);"
    "CREATE TABLE complaint_events ("
    "  id INTEGER PRIMARY KEY,"
    "  complaint_id INTEGER NOT NULL REFERENCES complaints(id),"
    "  at TEXT NOT NULL,"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  action TEXT NOT NULL,"
    "  detail TEXT NOT NULL);"
    "CREATE INDEX complaint_events_complaint ON complaint_events(complaint_id, id);"
    "CREATE TRIGGER complaint_events_no_update BEFORE UPDATE ON complaint_events "
    "  BEGIN SELECT RAISE(ABORT, 'the complaint history is append-only'); END;"
    "CREATE TRIGGER complaint_events_no_delete BEFORE DELETE ON complaint_events "
    "  BEGIN SELECT RAISE(ABORT, 'the complaint history is append-only'); END;"
    "CREATE TABLE outbox ("                  /* one row per message and recipient */
    "  id INTEGER PRIMARY KEY,"
    "  created_at TEXT NOT NULL,"            /* RFC 5322 date of the change, the message's Date */
    "  message_id TEXT NOT NULL UNIQUE,"
    "  recipient TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_s INTEGER NOT NULL,"
    "  last_error TEXT,"
    "  sent_at TEXT);"
    "CREATE INDEX outbox_due ON outbox(next_attempt_s) WHERE sent_at IS NULL;",

    /* 2 → 3: reviewers' and authorizers' personal signing keys (sealed under a key derived from
     * the person's password: keys.c), run files linked to items (runs.c) and the certificates of
     * the registry drafted for a request (certs.c), mirrored here for scope and lists. */
    "CREATE TABLE signing_keys ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  role TEXT NOT NULL CHECK (role IN ('reviewer','authorizer')),"
    "  public_hex TEXT NOT NULL UNIQUE,"
    "  key_id TEXT NOT NULL,"
    "  kdf_salt BLOB NOT NULL,"              /* crypto_pwhash (Argon2id) salt, this key's own */
    "  kdf_opslimit INTEGER NOT NULL,"
    "  kdf_memlimit INTEGER NOT NULL,"
    "  nonce BLOB NOT NULL,"
    "  sealed BLOB,"                         /* XChaCha20-Poly1305 of the 32-byte seed; NULL once retired */
    "  created_at TEXT NOT NULL,"
    "  retired_at TEXT);"                    /* a password reset retires it (the registry keeps the public half) */
    "CREATE UNIQUE INDEX signing_keys_current ON signing_keys(user_id) WHERE retired_at IS NULL;"
    "CREATE TABLE runs ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"           /* the file's name in DATA_DIR/runs */
    "  sha256 TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  run_id TEXT NOT NULL,"                /* the run file's own run_id attribute */
    "  specimens INTEGER NOT NULL,"
    "  how TEXT NOT NULL CHECK (how IN ('uploaded','linked')),"
    "  added_by INTEGER NOT NULL REFERENCES users(id),"
    "  added_at TEXT NOT NULL);"
    "CREATE TABLE run_items ("
    "  run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  item_id INTEGER NOT NULL REFERENCES items(id),"
    "  linked_by INTEGER NOT NULL REFERENCES users(id),"
    "  linked_at TEXT NOT NULL,"
    "  PRIMARY KEY (run_id, item_id));"
    "CREATE INDEX run_items_item ON run_items(item_id);"
    "CREATE TABLE certificates ("
    "  number INTEGER PRIMARY KEY,"          /* the registry's number: CERT-000042 is 42 */
    "  request_id INTEGER NOT NULL REFERENCES requests(id),"
    "  specification TEXT NOT NULL,"         /* the spec file's name in DATA_DIR/specs */
    "  status TEXT NOT NULL CHECK (status IN ('draft','reviewed','issued','withdrawn','superseded')),"
    "  replaces INTEGER REFERENCES certificates(number),"
    "  drafted_by INTEGER NOT NULL REFERENCES users(id),"
    "  drafted_at TEXT NOT NULL,"
    "  reviewed_by INTEGER REFERENCES users(id),"
    "  authorized_by INTEGER REFERENCES users(id),"
    "  issued_at TEXT,"
    "  reason TEXT);"                        /* a revision's or a withdrawal's */
    "CREATE INDEX certificates_request ON certificates(request_id, number);",
    /* 3 → 4: test series started from the station page (docs/STATION.md): one `polydaq run` per
     * series, the items it tests, and its append-only history of control actions (who, what). */
    "CREATE TABLE series ("
    "  id INTEGER PRIMARY KEY,"
    "  request_id INTEGER NOT NULL REFERENCES requests(id),"
    "  instrument TEXT NOT NULL,"
    "  method TEXT NOT NULL,"
    "  specimens INTEGER NOT NULL CHECK (specimens BETWEEN 1 AND 1000),"
    "  started_by INTEGER NOT NULL REFERENCES users(id),"
    "  started_at TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('starting','running','finished','failed')),"
    "  outcome TEXT,"                        /* the run's: completed, aborted, failed, interrupted */
    "  run_id TEXT,"                         /* from the run's hello */
    "  file TEXT,"                           /* the run file, absolute */
    "  socket TEXT NOT NULL,"                /* DIR/stations/series-<id>.sock while it runs */
    "  log TEXT NOT NULL);"                  /* the run's stdout and stderr */
    "CREATE INDEX series_request ON series(request_id, id);"
    "CREATE TABLE series_items ("
    "  series_id INTEGER NOT NULL REFERENCES series(id),"
    "  item_id INTEGER NOT NULL REFERENCES items(id),"
    "  PRIMARY KEY (series_id, item_id));"
    "CREATE TABLE series_events ("
    "  id INTEGER PRIMARY KEY,"
    "  series_id INTEGER NOT NULL REFERENCES series(id),"
    "  at TEXT NOT NULL,"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  action TEXT NOT NULL,"
    "  detail TEXT NOT NULL);"
    "CREATE INDEX series_events_series ON series_events(series_id, id);"
    "CREATE TRIGGER series_events_no_update BEFORE UPDATE ON series_events "
    "  BEGIN SELECT RAISE(ABORT, 'the series history is append-only'); END;"
    "CREATE TRIGGER series_events_no_delete BEFORE DELETE ON series_events "
    "  BEGIN SELECT RAISE(ABORT, 'the series history is append-only'); END;",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

int db_fail(struct pd_srvdb *db, const char *what, struct pd_err *err)
{
    int rc = sqlite3_extended_errcode(db->h);
    int code = PD_EIO;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        code = PD_ESTATE;
    else if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        code = PD_EBUSY;
    return pd_err_set(err, code, SRV_DB_FILE, "%s: %s", what, sqlite3_errmsg(db->h));
}

int db_prepare(struct pd_srvdb *db, const char *sql, sqlite3_stmt **out, struct pd_err *err)
{
    if (sqlite3_prepare_v2(db->h, sql, -1, out, NULL) != SQLITE_OK)
        return db_fail(db, "preparing a query", err);
    return 0;
}

int db_prepare_kept(struct pd_srvdb *db, const char *sql, sqlite3_stmt **out, struct pd_err *err)
{
    size_t i = 0;
    for (; i < DB_KEPT_MAX && db->kept[i].sql; i++) {
        if (db->kept[i].sql == sql) {
            sqlite3_reset(db->kept[i].st); /* also after a caller that did not give it back */
            sqlite3_clear_bindings(db->kept[i].st);
            *out = db->kept[i].st;
            return 0;
        }
    }
    if (i == DB_KEPT_MAX)
        return pd_err_set(err, PD_EINVAL, NULL, "more than %d kept statements: %.60s", DB_KEPT_MAX, sql);
    if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &db->kept[i].st, NULL) != SQLITE_OK)
        return db_fail(db, "preparing a query", err);
    db->kept[i].sql = sql;
    *out = db->kept[i].st;
    return 0;
}

void db_release(sqlite3_stmt *st)
{
    if (!st)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static int exec(struct pd_srvdb *db, const char *sql, struct pd_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = sqlite3_errcode(db->h);
        int code = (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? PD_EBUSY : PD_EIO;
        pd_err_set(err, code, SRV_DB_FILE, "%s", msg ? msg : "SQL error");
        sqlite3_free(msg);
        return code;
    }
    return 0;
}

int db_begin(struct pd_srvdb *db, struct pd_err *err) { return exec(db, "BEGIN IMMEDIATE", err); }
int db_commit(struct pd_srvdb *db, struct pd_err *err)
{
    int rc = exec(db, "COMMIT", err);
    if (rc < 0)
        db_rollback(db);
    return rc;
}
void db_rollback(struct pd_srvdb *db)
{
    if (!sqlite3_get_autocommit(db->h))
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

int db_event_add(struct pd_srvdb *db, const char *insert_sql, int64_t owner_id, int64_t user_id, const char *action,
                 const char *detail, const char *what, struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = db_prepare(db, insert_sql, &st, err);
    if (rc < 0)
        return rc;
    char now[40];
    db_now_iso(now, sizeof now);
    sqlite3_bind_int64(st, 1, owner_id);
    sqlite3_bind_text(st, 2, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, user_id);
    sqlite3_bind_text(st, 4, action, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, detail, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, what, err);
    sqlite3_finalize(st);
    return rc;
}

void db_now_iso(char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t db_now_s(void) { return (int64_t)time(NULL); }

void db_text(sqlite3_stmt *st, int col, char *buf, size_t size)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    pd_strlcpy(buf, t ? (const char *)t : "", size);
}

json_t *db_json_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? json_string((const char *)t) : json_null();
}

json_t *db_json_parsed(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    json_t *v = t ? json_loads((const char *)t, 0, NULL) : NULL;
    return v ? v : json_null();
}

json_t *db_row_object(sqlite3_stmt *st, const struct db_column *cols)
{
    json_t *o = json_object();
    for (int i = 0; cols[i].name; i++) {
        json_t *v;
        switch (cols[i].type) {
        case DB_INTEGER: v = json_integer(sqlite3_column_int64(st, i)); break;
        case DB_BOOLEAN: v = json_boolean(sqlite3_column_int(st, i)); break;
        case DB_JSON: v = db_json_parsed(st, i); break;
        default: v = db_json_text(st, i); break;
        }
        json_object_set_new(o, cols[i].name, v);
    }
    return o;
}

json_t *db_json_rows(struct pd_srvdb *db, sqlite3_stmt *st, db_row_json_fn *row, const char *what,
                     struct pd_err *err)
{
    json_t *list = json_array();
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(list, row(st));
    if (step != SQLITE_DONE) {
        db_fail(db, what, err); /* before finalizing: the statement's error is the message */
        json_decref(list);
        list = NULL;
    }
    sqlite3_finalize(st);
    return list;
}

int db_scoped_get(struct pd_srvdb *db, const struct srv_scope *scope, const char *sql, int64_t id,
                  db_row_json_fn *row, const char *history_sql, const char *what, json_t **out, struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = scope_prepare(db, scope, sql, &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":id"), id);
    json_t *o = NULL;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        o = row(st);
    else
        rc = step == SQLITE_DONE ? 0 : db_fail(db, what, err);
    sqlite3_finalize(st);
    if (!o)
        return rc;
    if (history_sql) { /* the row was found in scope just above; its history belongs to it */
        json_t *history = db_history(db, history_sql, id, err);
        if (!history) {
            json_decref(o);
            return err->code;
        }
        json_object_set_new(o, "history", history);
    }
    *out = o;
    return 1;
}

json_t *db_scoped_list(struct pd_srvdb *db, const struct srv_scope *scope, const char *sql, db_row_json_fn *row,
                       const char *what, struct pd_err *err)
{
    sqlite3_stmt *st;
    if (scope_prepare(db, scope, sql, &st, err) < 0)
        return NULL;
    return db_json_rows(db, st, row, what, err);
}

int db_reply_list(struct srv_call *call, const char *key, const char *sql, db_row_json_fn *row, const char *what)
{
    struct pd_err err;
    pd_err_clear(&err);
    json_t *list = db_scoped_list(call->db, &call->scope, sql, row, what, &err);
    if (!list)
        return call_fail(call, &err);
    return call_reply(call, 200, json_pack("{s:o}", key, list));
}

int db_reply_get(struct srv_call *call, const char *sql, db_row_json_fn *row, const char *history_sql,
                 const char *what, const char *not_found)
{
    struct pd_err err;
    pd_err_clear(&err);
    json_t *o = NULL;
    int rc = db_scoped_get(call->db, &call->scope, sql, call->ids[0], row, history_sql, what, &o, &err);
    if (rc < 0)
        return call_fail(call, &err);
    if (rc == 0)
        return call_error(call, 404, "not_found", "%s", not_found);
    return call_reply(call, 200, o);
}

static json_t *history_entry(sqlite3_stmt *st)
{
    static const struct db_column cols[] = {
        {"at", DB_TEXT}, {"by", DB_TEXT}, {"action", DB_TEXT}, {"detail", DB_TEXT}, {NULL, DB_TEXT}};
    return db_row_object(st, cols);
}

json_t *db_history(struct pd_srvdb *db, const char *history_sql, int64_t owner_id, struct pd_err *err)
{
    sqlite3_stmt *st;
    if (db_prepare(db, history_sql, &st, err) < 0)
        return NULL;
    sqlite3_bind_int64(st, 1, owner_id);
    return db_json_rows(db, st, history_entry, "reading a history", err);
}

static int schema_version(struct pd_srvdb *db, int *version, struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = db_prepare(db, "PRAGMA user_version", &st, err);
    if (rc < 0)
        return rc;
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return db_fail(db, "reading the schema version", err);
    }
    *version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return 0;
}

static int migrate(struct pd_srvdb *db, const char *path, struct pd_err *err)
{
    int rc = db_begin(db, err);
    if (rc < 0)
        return rc;
    int version = 0;
    if ((rc = schema_version(db, &version, err)) < 0) {
        db_rollback(db);
        return rc;
    }
    if (version > SCHEMA_VERSION) {
        db_rollback(db);
        return pd_err_set(err, PD_ESTATE, path,
                          "schema version %d is newer than this polydaq knows (%d): use a newer polydaq", version,
                          SCHEMA_VERSION);
    }
    for (int v = version; v < SCHEMA_VERSION; v++) {
        if ((rc = exec(db, migrations[v], err)) < 0) {
            db_rollback(db);
            return rc;
        }
    }
    if (version < SCHEMA_VERSION) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", SCHEMA_VERSION);
        if ((rc = exec(db, sql, err)) < 0) {
            db_rollback(db);
            return rc;
        }
    }
    return db_commit(db, err);
}

int db_connect(const char *data_dir, struct pd_srvdb **out, struct pd_err *err)
{
    int rc = pd_mkdir_p(data_dir, err);
    if (rc < 0)
        return rc;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", data_dir, SRV_DB_FILE) >= (int)sizeof path)
        return pd_err_set(err, PD_EINVAL, NULL, "data folder path too long");
    struct pd_srvdb *db = calloc(1, sizeof *db);
    if (!db)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    if (sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        rc = pd_err_set(err, PD_EIO, path, "cannot open: %s", db->h ? sqlite3_errmsg(db->h) : "out of memory");
        sqlite3_close(db->h);
        free(db);
        return rc;
    }
    sqlite3_extended_result_codes(db->h, 1);
    sqlite3_busy_timeout(db->h, 5000);
    /* WAL: readers never wait for the writer; FULL: a committed change survives a power cut. */
    /* Foreign keys are switched on after the migrations: a migration that rebuilds a table (the
     * only way SQLite changes a constraint) drops the old table, which they would forbid. */
    rc = exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", err);
    if (rc == 0)
        rc = migrate(db, path, err);
    if (rc == 0)
        rc = exec(db, "PRAGMA foreign_keys=ON;", err);
    if (rc < 0) {
        sqlite3_close(db->h);
        free(db);
        return rc;
    }
    *out = db;
    return 0;
}

int pd_srvdb_open(const char *data_dir, struct pd_srvdb **out, struct pd_err *err)
{
    int rc = pw_init(err);
    if (rc < 0)
        return rc;
    return db_connect(data_dir, out, err);
}

void pd_srvdb_close(struct pd_srvdb *db)
{
    if (!db)
        return;
    public_cache_free(db->public_cache); /* its statement is on the registry's connection */
    if (db->registry) {
        pd_registry_close(db->registry);
        free(db->registry);
    }
    for (size_t i = 0; i < DB_KEPT_MAX && db->kept[i].sql; i++)
        sqlite3_finalize(db->kept[i].st);
    sqlite3_close(db->h);
    free(db);
}
