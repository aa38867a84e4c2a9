/* audit.c — the audit log as rows of a hash chain: each entry's hash covers it and the hash of the one before. */
#include <stdlib.h>
#include <string.h>

#include "registry/registry_internal.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

int pd_registry_audit_entry_hash(const json_t *entry, char hex[65])
{
    static const char *const no_hash[] = {"hash", NULL};
    char *text = pd_json_canonical(entry, no_hash);
    if (!text)
        return PD_ENOMEM;
    pd_sha256_hex(text, strlen(text), hex);
    free(text);
    return 0;
}

/* The last entry's sequence number and hash (0 and zeros for an empty log). */
static int chain_end(struct pd_registry *reg, long long *seq, char prev[65], struct pd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = reg_prepare(reg, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &st, err);
    if (rc < 0)
        return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st, 0);
        reg_column_text(st, 1, prev, 65);
    } else if (s == SQLITE_DONE) {
        *seq = 0;
        memcpy(prev, ZERO_HASH, 65);
    } else {
        rc = reg_sql_error(reg, PD_EIO, "cannot read the audit log", err);
    }
    sqlite3_finalize(st);
    return rc;
}

static int insert_entry(struct pd_registry *reg, const json_t *e, struct pd_err *err)
{
    char *text = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    if (!text)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory for the audit entry");
    sqlite3_stmt *st = NULL;
    int rc = reg_prepare(
        reg, "INSERT INTO audit (seq, certificate_id, event, prev, hash, entry) VALUES (?, ?, ?, ?, ?, ?)", &st, err);
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)json_integer_value(json_object_get(e, "seq")));
        reg_bind_text(st, 2, json_string_value(json_object_get(e, "certificate")), false);
        reg_bind_text(st, 3, json_string_value(json_object_get(e, "event")), false);
        reg_bind_text(st, 4, json_string_value(json_object_get(e, "prev")), false);
        reg_bind_text(st, 5, json_string_value(json_object_get(e, "hash")), false);
        reg_bind_text(st, 6, text, false);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = reg_sql_error(reg, PD_EIO, "cannot append to the audit log", err);
    }
    sqlite3_finalize(st);
    free(text);
    return rc;
}

int pd_registry_audit_append(struct pd_registry *reg, const char *event, const char *cert_id, const char *actor,
                             const char *role, const char *content_sha256, json_t **entry_out, struct pd_err *err)
{
    int rc = reg_need_transaction(reg, "audit entry", err);
    if (rc == 0 && (!event || !cert_id || !role || !content_sha256))
        rc = pd_err_set(err, PD_EINVAL, NULL, "registry: incomplete audit entry");
    long long seq = 0;
    char prev[65], now[40], hex[65];
    if (rc == 0)
        rc = chain_end(reg, &seq, prev, err);
    if (rc < 0)
        return rc;
    pd_time_format_iso8601(pd_clock_utc_ns(), now, sizeof now);
    json_t *e = json_pack("{s:I,s:s,s:s,s:s,s:o,s:s,s:s,s:s}", "seq", (json_int_t)(seq + 1), "time", now, "event",
                          event, "certificate", cert_id, "actor", actor ? json_string(actor) : json_null(), "role",
                          role, "content_sha256", content_sha256, "prev", prev);
    if (!e || pd_registry_audit_entry_hash(e, hex) < 0 || json_object_set_new(e, "hash", json_string(hex)) < 0) {
        json_decref(e);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory for the audit entry");
    }
    rc = insert_entry(reg, e, err);
    if (rc < 0 || !entry_out)
        json_decref(e);
    else
        *entry_out = e;
    return rc;
}

int pd_registry_audit_import(struct pd_registry *reg, const json_t *entry, struct pd_err *err)
{
    int rc = reg_need_transaction(reg, "audit import", err);
    long long seq = 0;
    char prev[65], hex[65];
    if (rc == 0)
        rc = chain_end(reg, &seq, prev, err);
    if (rc < 0)
        return rc;
    const char *h = json_string_value(json_object_get(entry, "hash"));
    const char *p = json_string_value(json_object_get(entry, "prev"));
    json_int_t s = json_integer_value(json_object_get(entry, "seq"));
    if (!json_is_string(json_object_get(entry, "certificate")) || !json_is_string(json_object_get(entry, "event")))
        return pd_err_set(err, PD_EDATA, NULL, "audit entry %lld names no certificate or event", (long long)s);
    if (pd_registry_audit_entry_hash(entry, hex) < 0)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    if (!h || strcmp(h, hex) != 0)
        return pd_err_set(err, PD_EDATA, NULL, "audit entry %lld: its hash does not match its content", (long long)s);
    if (!p || strcmp(p, prev) != 0 || s != seq + 1)
        return pd_err_set(err, PD_EDATA, NULL, "audit entry %lld does not follow entry %lld of the chain", (long long)s,
                          seq);
    return insert_entry(reg, entry, err);
}

int pd_registry_audit_entries(struct pd_registry *reg, const char *cert_id, json_t **out, struct pd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = reg_prepare(reg,
                         cert_id ? "SELECT entry FROM audit WHERE certificate_id = ? ORDER BY seq"
                                 : "SELECT entry FROM audit ORDER BY seq",
                         &st, err);
    if (rc < 0)
        return rc;
    if (cert_id)
        reg_bind_text(st, 1, cert_id, false);
    json_t *arr = json_array();
    int s;
    while (arr && (s = sqlite3_step(st)) == SQLITE_ROW) {
        json_error_t je;
        json_t *e = json_loads((const char *)sqlite3_column_text(st, 0), 0, &je);
        if (!e) {
            rc = pd_err_set(err, PD_EDATA, reg->path, "an audit row is not JSON: %s", je.text);
            break;
        }
        json_array_append_new(arr, e);
    }
    if (!arr)
        rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    else if (rc == 0 && s != SQLITE_DONE)
        rc = reg_sql_error(reg, PD_EIO, "cannot read the audit log", err);
    sqlite3_finalize(st);
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return 0;
}
