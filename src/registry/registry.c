/* registry.c — opening the registry file: pragmas, the schema and its migrations by user_version, transactions. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/registry_internal.h"

/* Schema steps: step i takes user_version i to i + 1. Plain SQL a PostgreSQL server also accepts
 * (INTEGER PRIMARY KEY becomes its own row id in SQLite; a PostgreSQL schema would say BIGINT
 * GENERATED ALWAYS AS IDENTITY for keys.ref). */
static const char *const schema_steps[] = {
    /* 0 → 1 */
    "CREATE TABLE keys ("
    " ref INTEGER PRIMARY KEY,"
    " role TEXT NOT NULL CHECK (role IN ('lab', 'reviewer', 'authorizer', 'station')),"
    " name TEXT NOT NULL,"
    " key_id TEXT NOT NULL,"
    " public_key TEXT NOT NULL UNIQUE,"
    " registered TEXT NOT NULL,"
    " disabled TEXT);"
    "CREATE TABLE sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT INTO sequences (name, value) VALUES ('certificate', 0);"
    "CREATE TABLE certificates ("
    " number INTEGER PRIMARY KEY,"
    " certificate_id TEXT NOT NULL UNIQUE,"
    " status TEXT NOT NULL CHECK (status IN ('draft', 'reviewed', 'issued', 'withdrawn', 'superseded')),"
    " document TEXT NOT NULL,"
    " content_sha256 TEXT NOT NULL,"
    " document_sha256 TEXT NOT NULL,"
    " replaces TEXT REFERENCES certificates (certificate_id),"
    " superseded_by TEXT REFERENCES certificates (certificate_id),"
    " drafted TEXT NOT NULL,"
    " issued TEXT,"
    " retired TEXT,"
    " reason TEXT);"
    "CREATE TABLE approvals ("
    " certificate_id TEXT NOT NULL REFERENCES certificates (certificate_id),"
    " role TEXT NOT NULL CHECK (role IN ('reviewer', 'authorizer', 'withdraw')),"
    " key_ref INTEGER NOT NULL REFERENCES keys (ref),"
    " content_sha256 TEXT NOT NULL,"
    " time TEXT NOT NULL,"
    " signature TEXT NOT NULL,"
    " PRIMARY KEY (certificate_id, role));"
    "CREATE TABLE audit ("
    " seq INTEGER PRIMARY KEY,"
    " certificate_id TEXT NOT NULL,"
    " event TEXT NOT NULL,"
    " prev TEXT NOT NULL,"
    " hash TEXT NOT NULL UNIQUE,"
    " entry TEXT NOT NULL);"
    "CREATE TABLE seals ("
    " run_id TEXT NOT NULL,"
    " sha256 TEXT NOT NULL,"
    " station_key_id TEXT,"
    " seal TEXT NOT NULL,"
    " PRIMARY KEY (run_id, sha256));",
    /* 1 → 2: the lab's settings (the public verification base URL certificates' QR codes lead to) */
    "CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);",
};
#define N_STEPS (sizeof schema_steps / sizeof schema_steps[0])
_Static_assert(N_STEPS == PD_REGISTRY_SCHEMA_VERSION, "one schema step per version");

int reg_sql_error(struct pd_registry *reg, int code, const char *what, struct pd_err *err)
{
    int ext = reg->db ? sqlite3_extended_errcode(reg->db) : SQLITE_ERROR;
    const char *msg = reg->db ? sqlite3_errmsg(reg->db) : "no database";
    int st = code;
    if ((ext & 0xff) == SQLITE_FULL || (reg->db && sqlite3_system_errno(reg->db) == ENOSPC))
        return pd_err_set(err, PD_EIO, reg->path, "%s: the disk is full (nothing was recorded)", what);
    if ((ext & 0xff) == SQLITE_CORRUPT || (ext & 0xff) == SQLITE_NOTADB)
        st = PD_EDATA;
    if ((ext & 0xff) == SQLITE_IOERR || (ext & 0xff) == SQLITE_CANTOPEN || (ext & 0xff) == SQLITE_READONLY)
        st = PD_EIO;
    return pd_err_set(err, st, reg->path, "%s: %s", what, msg);
}

bool pd_registry_exists(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, PD_REGISTRY_FILE);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int exec(struct pd_registry *reg, const char *sql, const char *what, struct pd_err *err)
{
    if (sqlite3_exec(reg->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return reg_sql_error(reg, PD_EIO, what, err);
    return 0;
}

static int user_version(struct pd_registry *reg, int *v, struct pd_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(reg->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return reg_sql_error(reg, PD_EDATA, "not a registry", err);
    }
    *v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return 0;
}

/* Brings the schema to PD_REGISTRY_SCHEMA_VERSION, each step with its version in one transaction,
 * so two processes creating the same registry make it once. */
static int migrate(struct pd_registry *reg, struct pd_err *err)
{
    int v = 0;
    int rc = user_version(reg, &v, err);
    if (rc < 0)
        return rc;
    if (v > PD_REGISTRY_SCHEMA_VERSION)
        return pd_err_set(err, PD_EDATA, reg->path, "registry schema %d is newer than this polydaq's (%d)", v,
                          PD_REGISTRY_SCHEMA_VERSION);
    if (v == PD_REGISTRY_SCHEMA_VERSION)
        return 0;
    if ((rc = pd_registry_begin(reg, err)) < 0)
        return rc;
    if ((rc = user_version(reg, &v, err)) < 0) {
        pd_registry_rollback(reg);
        return rc;
    }
    for (; rc == 0 && v < PD_REGISTRY_SCHEMA_VERSION; v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        rc = exec(reg, schema_steps[v], "cannot create the registry's tables", err);
        if (rc == 0)
            rc = exec(reg, pragma, "cannot record the schema version", err);
    }
    if (rc == 0)
        return pd_registry_commit(reg, err);
    pd_registry_rollback(reg);
    return rc;
}

/* The WAL hook (called after each commit, on the committing thread): a log of LOG_PAGES_MAX pages
 * or more is copied into the database and truncated to nothing.
 *
 * Why not SQLite's automatic checkpoint: each command is a process of its own, and the first
 * connection of a process rebuilds the WAL's shared index from the log, which resets what the
 * index knew of earlier checkpoints. A passive checkpoint then never lets the log restart: it grew
 * for ever (7 MB after 150 certificates), every command read and check-summed all of it when it
 * opened the registry (twice per certify, ~2 ms each, before any work), and each commit past 1000
 * pages copied every page again. Truncating resets the log for good; a certify's draft is ~13
 * pages, so this runs every few certificates, on certify's writer thread beside the PDF. It waits
 * at most 100 ms for readers (then it is left to a later commit): never holds up the command. */
#define LOG_PAGES_MAX 64
#define BUSY_TIMEOUT_MS 60000 /* how long a command waits for another one's transaction */
static int truncate_long_log(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)arg;
    if (pages < LOG_PAGES_MAX)
        return SQLITE_OK;
    sqlite3_busy_timeout(db, 100);
    (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    return SQLITE_OK; /* the commit stands whatever became of the checkpoint */
}

int pd_registry_open(struct pd_registry *out, const char *dir, unsigned flags, struct pd_err *err)
{
    if (!out || !dir || !dir[0])
        return pd_err_set(err, PD_EINVAL, NULL, "registry: missing folder");
    static struct pd_registry zero;
    struct pd_registry reg = zero;
    if (pd_strlcpy(reg.dir, dir, sizeof reg.dir) < 0 ||
        (size_t)snprintf(reg.path, sizeof reg.path, "%s/%s", dir, PD_REGISTRY_FILE) >= sizeof reg.path)
        return pd_err_set(err, PD_EINVAL, dir, "folder name too long");
    bool exists = pd_registry_exists(dir);
    if (!exists && !(flags & PD_REGISTRY_CREATE))
        return pd_err_set(
            err, PD_ESTATE, dir,
            "no certificate registry here (%s): create it with `polydaq registry init %s --lab-key LAB.pub`",
            PD_REGISTRY_FILE, dir);
    if (!exists) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return pd_err_set_os(err, PD_EIO, errno ? errno : ENOTDIR, dir, "no such folder for the registry");
    }
    int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | (exists ? 0 : SQLITE_OPEN_CREATE);
    if (sqlite3_open_v2(reg.path, &reg.db, oflags, NULL) != SQLITE_OK) {
        int rc = reg_sql_error(&reg, PD_EIO, "cannot open the registry", err);
        sqlite3_close(reg.db);
        return rc;
    }
    sqlite3_extended_result_codes(reg.db, 1);
    sqlite3_busy_timeout(reg.db, BUSY_TIMEOUT_MS);
    /* The -wal and -shm files stay (empty) after the last connection closes: opening the registry
     * then needs no new disk space, so it can still be read and checked on a full disk. */
    int persist = 1;
    sqlite3_file_control(reg.db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    /* No checkpoint when a connection closes: every certify and approve is a process of its own,
     * and each close copied the WAL's pages into the database with two more fsyncs — after the
     * commit, on the command's critical path. A commit is durable in the WAL (synchronous=FULL);
     * the copy is made after a commit that leaves the WAL long (truncate_long_log). */
    sqlite3_db_config(reg.db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
    /* WAL: readers never block the writer; FULL: a commit is on disk when it returns; foreign
     * keys: an approval cannot name a key or certificate that does not exist. */
    int rc = exec(&reg, "PRAGMA journal_mode = WAL", "cannot set the journal mode", err);
    if (rc == 0)
        rc = exec(&reg, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", "cannot set the pragmas", err);
    if (rc == 0)
        sqlite3_wal_hook(reg.db, truncate_long_log, NULL);
    if (rc == 0)
        rc = migrate(&reg, err);
    if (rc == 0) {
        /* Every table must be there: a file that happens to have the version number is not enough. */
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(reg.db, "SELECT value FROM sequences WHERE name = 'certificate'", -1, &st, NULL) !=
                SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW)
            rc = reg_sql_error(&reg, PD_EDATA, "not a polydaq registry", err);
        sqlite3_finalize(st);
    }
    if (rc < 0) {
        if (rc == PD_EIO && err && strstr(err->msg, "file is not a database"))
            err->code = rc = PD_EDATA;
        sqlite3_close(reg.db);
        return rc;
    }
    *out = reg;
    return 0;
}

void pd_registry_close(struct pd_registry *reg)
{
    if (!reg || !reg->db)
        return;
    pd_registry_rollback(reg);
    sqlite3_close(reg->db);
    reg->db = NULL;
}

int pd_registry_checkpoint(struct pd_registry *reg, struct pd_err *err)
{
    int logged = 0, copied = 0;
    if (sqlite3_wal_checkpoint_v2(reg->db, "main", SQLITE_CHECKPOINT_TRUNCATE, &logged, &copied) != SQLITE_OK)
        return reg_sql_error(reg, PD_EIO, "cannot copy the registry's log into its file", err);
    if (logged > 0 && copied < logged)
        return pd_err_set(err, PD_EIO, reg->path, "the registry's log could not be copied whole (%d of %d pages)",
                          copied, logged);
    return 0;
}

int pd_registry_begin(struct pd_registry *reg, struct pd_err *err)
{
    if (reg->in_transaction)
        return pd_err_set(err, PD_ESTATE, reg->path, "a registry transaction is already open");
    int rc = exec(reg, "BEGIN IMMEDIATE", "cannot start a registry transaction", err);
    if (rc == 0)
        reg->in_transaction = true;
    return rc;
}

int pd_registry_commit(struct pd_registry *reg, struct pd_err *err)
{
    if (!reg->in_transaction)
        return pd_err_set(err, PD_ESTATE, reg->path, "no registry transaction to commit");
    pd_fault_point("registry commit (before)");
    int rc = exec(reg, "COMMIT", "cannot commit to the registry", err);
    if (rc < 0) {
        pd_registry_rollback(reg);
        return rc;
    }
    reg->in_transaction = false;
    pd_fault_point("registry commit (after)");
    return 0;
}

void pd_registry_rollback(struct pd_registry *reg)
{
    if (reg && reg->db && reg->in_transaction) {
        sqlite3_exec(reg->db, "ROLLBACK", NULL, NULL, NULL);
        reg->in_transaction = false;
    }
}
