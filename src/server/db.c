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

    /* 2 → 3: test series started from the station page (docs/STATION.md): one `polydaq run` per
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
    sqlite3_close(db->h);
    free(db);
}
