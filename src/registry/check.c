/* check.c — the registry checked as a whole (SQLite integrity, foreign keys, the audit chain, issued documents' hashes)
 * and the seals it records. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry_internal.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

struct sayer {
    void (*say)(const char *line, void *arg);
    void *arg;
    bool *ok;
};

static void say(struct sayer *s, bool fail, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(struct sayer *s, bool fail, const char *fmt, ...)
{
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (fail)
        *s->ok = false;
    if (s->say)
        s->say(text, s->arg);
}

static int check_sqlite(struct pd_registry *reg, struct sayer *s, struct pd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = reg_prepare(reg, "PRAGMA integrity_check", &st, err);
    if (rc < 0)
        return rc;
    bool fine = true;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if (t && strcmp(t, "ok") != 0) {
            fine = false;
            say(s, true, "FAIL: SQLite integrity_check: %s", t);
        }
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE)
        return reg_sql_error(reg, PD_EDATA, "integrity_check failed", err);
    if (fine)
        say(s, false, "ok: SQLite integrity_check");
    if ((rc = reg_prepare(reg, "PRAGMA foreign_key_check", &st, err)) < 0)
        return rc;
    size_t bad = 0;
    while (sqlite3_step(st) == SQLITE_ROW)
        bad++;
    sqlite3_finalize(st);
    if (bad)
        say(s, true, "FAIL: %zu row(s) refer to keys or certificates that do not exist", bad);
    else
        say(s, false, "ok: every reference to a key or certificate resolves");
    return 0;
}

static int check_chain(struct pd_registry *reg, struct sayer *s, struct pd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = reg_prepare(reg, "SELECT seq, hash, prev, entry, certificate_id FROM audit ORDER BY seq", &st, err);
    if (rc < 0)
        return rc;
    char prev[65] = ZERO_HASH;
    long long expect = 1, n = 0, bad_at = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        long long seq = sqlite3_column_int64(st, 0);
        char hash[80], p[80], cid[64], h[65] = "";
        reg_column_text(st, 1, hash, sizeof hash);
        reg_column_text(st, 2, p, sizeof p);
        reg_column_text(st, 4, cid, sizeof cid);
        const char *text = (const char *)sqlite3_column_text(st, 3);
        json_t *e = text ? json_loads(text, 0, NULL) : NULL;
        bool good = e && pd_registry_audit_entry_hash(e, h) == 0 && strcmp(h, hash) == 0 &&
                    json_integer_value(json_object_get(e, "seq")) == seq && seq == expect && strcmp(p, prev) == 0 &&
                    json_string_value(json_object_get(e, "prev")) &&
                    strcmp(json_string_value(json_object_get(e, "prev")), p) == 0 &&
                    json_string_value(json_object_get(e, "hash")) &&
                    strcmp(json_string_value(json_object_get(e, "hash")), hash) == 0 &&
                    json_string_value(json_object_get(e, "certificate")) &&
                    strcmp(json_string_value(json_object_get(e, "certificate")), cid) == 0;
        json_decref(e);
        if (!good && !bad_at)
            bad_at = seq;
        pd_strlcpy(prev, hash, sizeof prev);
        expect = seq + 1;
        n++;
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE)
        return reg_sql_error(reg, PD_EDATA, "cannot read the audit log", err);
    if (bad_at)
        say(s, true, "FAIL: audit chain broken at entry %lld (an entry was changed, removed or inserted)", bad_at);
    else
        say(s, false, "ok: audit chain intact (%lld entries)", n);
    return 0;
}

static int check_documents(struct pd_registry *reg, struct sayer *s, struct pd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = reg_prepare(reg,
                         "SELECT certificate_id, status, document, document_sha256, content_sha256 FROM certificates"
                         " WHERE status IN ('issued', 'withdrawn', 'superseded') ORDER BY number",
                         &st, err);
    if (rc < 0)
        return rc;
    size_t n = 0, bad = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        char id[64], status[16], want[80], content[80], h[65] = "";
        reg_column_text(st, 0, id, sizeof id);
        reg_column_text(st, 1, status, sizeof status);
        reg_column_text(st, 3, want, sizeof want);
        reg_column_text(st, 4, content, sizeof content);
        const char *text = (const char *)sqlite3_column_text(st, 2);
        json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
        char *canon = doc ? pd_json_canonical(doc, NULL) : NULL;
        if (canon)
            pd_sha256_hex(canon, strlen(canon), h);
        free(canon);
        json_decref(doc);
        n++;
        if (strcmp(h, want) != 0 || strlen(content) != 64) {
            bad++;
            say(s, true, "FAIL: %s (%s): its document no longer hashes to the SHA-256 recorded at issue", id, status);
        }
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE)
        return reg_sql_error(reg, PD_EDATA, "cannot read the certificates", err);
    if (!bad)
        say(s, false, "ok: %zu issued document(s) hash to what was recorded at issue", n);
    return 0;
}

int pd_registry_check(struct pd_registry *reg, void (*sayf)(const char *line, void *arg), void *arg, bool *ok,
                      struct pd_err *err)
{
    if (!reg || !reg->db || !ok)
        return pd_err_set(err, PD_EINVAL, NULL, "registry check: not open");
    *ok = true;
    struct sayer s = {sayf, arg, ok};
    int rc = check_sqlite(reg, &s, err);
    if (rc == 0)
        rc = check_chain(reg, &s, err);
    if (rc == 0)
        rc = check_documents(reg, &s, err);
    return rc;
}

int pd_registry_record_seal(struct pd_registry *reg, const char *run_id, const char *sha256, const char *station_key_id,
                            const char *seal_text, struct pd_err *err)
{
    if (!reg || !reg->db || !run_id || !sha256 || !seal_text)
        return pd_err_set(err, PD_EINVAL, NULL, "registry: incomplete seal");
    sqlite3_stmt *st = NULL;
    int rc = reg_prepare(reg, "SELECT seal FROM seals WHERE run_id = ? AND sha256 = ?", &st, err);
    if (rc < 0)
        return rc;
    reg_bind_text(st, 1, run_id, false);
    reg_bind_text(st, 2, sha256, false);
    int r = sqlite3_step(st);
    bool same = r == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), seal_text) == 0;
    bool other = r == SQLITE_ROW && !same;
    sqlite3_finalize(st);
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        return reg_sql_error(reg, PD_EIO, "cannot read the seals", err);
    if (same)
        return 0;
    if (other)
        return pd_err_set(err, PD_ESTATE, reg->path, "run %s (SHA-256 %.16s…) has another seal recorded", run_id,
                          sha256);
    bool own = !reg->in_transaction;
    if (own && (rc = pd_registry_begin(reg, err)) < 0)
        return rc;
    rc = reg_prepare(reg, "INSERT INTO seals (run_id, sha256, station_key_id, seal) VALUES (?, ?, ?, ?)", &st, err);
    if (rc == 0) {
        reg_bind_text(st, 1, run_id, false);
        reg_bind_text(st, 2, sha256, false);
        reg_bind_text(st, 3, station_key_id, true);
        reg_bind_text(st, 4, seal_text, false);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = reg_sql_error(reg, PD_EIO, "cannot record the seal", err);
    }
    sqlite3_finalize(st);
    if (own)
        rc = rc == 0 ? pd_registry_commit(reg, err) : (pd_registry_rollback(reg), rc);
    return rc;
}
