/* keys.c — who may sign: the registered lab, person and station keys, their roles and when they were disabled. */
#include <stdlib.h>
#include <string.h>

#include "registry/registry_internal.h"

#define KEY_COLUMNS "ref, role, name, public_key, registered, disabled"

static int read_key(sqlite3_stmt *st, struct pd_registry_key *k, struct pd_err *err)
{
    memset(k, 0, sizeof *k);
    k->ref = sqlite3_column_int64(st, 0);
    char role[16], hex[80];
    reg_column_text(st, 1, role, sizeof role);
    reg_column_text(st, 2, k->name, sizeof k->name);
    reg_column_text(st, 3, hex, sizeof hex);
    reg_column_text(st, 4, k->registered, sizeof k->registered);
    reg_column_text(st, 5, k->disabled, sizeof k->disabled);
    int r = pd_key_role_parse(role, strlen(role));
    if (r < 0 || pd_public_key_from_hex(hex, &k->key, err) < 0)
        return pd_err_set(err, PD_EDATA, NULL, "registry: key row %lld is damaged", k->ref);
    k->role = (enum pd_key_role)r;
    return 0;
}

/* A registered name is what the published keyring shows: a keyring label (printable UTF-8, no
 * control or bidi characters, no leading or trailing space), and short enough for the row. */
static bool name_ok(const char *name, const struct pd_public_key *key, enum pd_key_role role)
{
    char line[512];
    struct pd_err ignored;
    return name && strlen(name) < sizeof((struct pd_registry_key *)0)->name &&
           pd_keyring_format_line(key, role, name, line, sizeof line, &ignored) == 0;
}

int pd_registry_key_add(struct pd_registry *reg, enum pd_key_role role, const char *name,
                        const struct pd_public_key *key, struct pd_registry_key *out, struct pd_err *err)
{
    if (!reg || !reg->db || !key || (unsigned)role > PD_KEY_ROLE_STATION)
        return pd_err_set(err, PD_EINVAL, NULL, "registry: missing key or role");
    if (!name_ok(name, key, role))
        return pd_err_set(err, PD_EINVAL, NULL,
                          "registry: a key's name must be 1-127 bytes of printable UTF-8 without leading or trailing "
                          "spaces");
    struct pd_registry_key found;
    struct pd_err ignored;
    if (pd_registry_key_find(reg, key, &found, &ignored) == 0)
        return pd_err_set(err, PD_ESTATE, reg->path, "key %s is already registered (%s, '%s')", key->id,
                          pd_key_role_name(found.role), found.name);
    bool own = !reg->in_transaction;
    int rc = own ? pd_registry_begin(reg, err) : 0;
    sqlite3_stmt *st = NULL;
    if (rc == 0)
        rc = reg_prepare(reg, "INSERT INTO keys (role, name, key_id, public_key, registered) VALUES (?, ?, ?, ?, ?)",
                         &st, err);
    char now[40];
    pd_time_format_iso8601(pd_clock_utc_ns(), now, sizeof now);
    if (rc == 0) {
        reg_bind_text(st, 1, pd_key_role_name(role), false);
        reg_bind_text(st, 2, name, false);
        reg_bind_text(st, 3, key->id, false);
        reg_bind_text(st, 4, key->hex, false);
        reg_bind_text(st, 5, now, false);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = reg_sql_error(reg, PD_EIO, "cannot register the key", err);
    }
    long long ref = rc == 0 ? sqlite3_last_insert_rowid(reg->db) : 0;
    sqlite3_finalize(st);
    if (own)
        rc = rc == 0 ? pd_registry_commit(reg, err) : (pd_registry_rollback(reg), rc);
    if (rc == 0 && out)
        rc = pd_registry_key_get(reg, ref, out, err);
    return rc;
}

static int find_one(struct pd_registry *reg, const char *sql, const char *text, long long num,
                    struct pd_registry_key *out, bool *found, struct pd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = reg_prepare(reg, sql, &st, err);
    if (rc < 0)
        return rc;
    if (text)
        reg_bind_text(st, 1, text, false);
    else
        sqlite3_bind_int64(st, 1, num);
    int s = sqlite3_step(st);
    *found = s == SQLITE_ROW;
    if (s == SQLITE_ROW)
        rc = read_key(st, out, err);
    else if (s != SQLITE_DONE)
        rc = reg_sql_error(reg, PD_EIO, "cannot read the keys", err);
    sqlite3_finalize(st);
    return rc;
}

int pd_registry_key_find(struct pd_registry *reg, const struct pd_public_key *key, struct pd_registry_key *out,
                         struct pd_err *err)
{
    if (!reg || !reg->db || !key || !out)
        return pd_err_set(err, PD_EINVAL, NULL, "registry: missing key");
    bool found = false;
    struct pd_registry_key k;
    int rc = find_one(reg, "SELECT " KEY_COLUMNS " FROM keys WHERE public_key = ?", key->hex, 0, &k, &found, err);
    if (rc < 0)
        return rc;
    if (!found)
        return pd_err_set(err, PD_ESTATE, reg->path, "key %s is not registered in this registry", key->id);
    *out = k;
    return 0;
}

int pd_registry_key_get(struct pd_registry *reg, long long ref, struct pd_registry_key *out, struct pd_err *err)
{
    bool found = false;
    struct pd_registry_key k;
    int rc = find_one(reg, "SELECT " KEY_COLUMNS " FROM keys WHERE ref = ?", NULL, ref, &k, &found, err);
    if (rc < 0)
        return rc;
    if (!found)
        return pd_err_set(err, PD_EDATA, reg->path, "no key row %lld", ref);
    *out = k;
    return 0;
}

int pd_registry_keys(struct pd_registry *reg, int role, struct pd_registry_key **keys, size_t *n, struct pd_err *err)
{
    if (!reg || !reg->db || !keys || !n)
        return pd_err_set(err, PD_EINVAL, NULL, "registry: missing outputs");
    sqlite3_stmt *st = NULL;
    int rc = reg_prepare(reg,
                         role < 0 ? "SELECT " KEY_COLUMNS " FROM keys ORDER BY ref"
                                  : "SELECT " KEY_COLUMNS " FROM keys WHERE role = ? ORDER BY ref",
                         &st, err);
    if (rc < 0)
        return rc;
    if (role >= 0)
        reg_bind_text(st, 1, pd_key_role_name((enum pd_key_role)role), false);
    struct pd_registry_key *arr = NULL;
    size_t count = 0, cap = 0;
    int s;
    while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            size_t nc = cap ? 2 * cap : 8;
            struct pd_registry_key *na = realloc(arr, nc * sizeof *na);
            if (!na) {
                rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
                break;
            }
            arr = na;
            cap = nc;
        }
        rc = read_key(st, &arr[count], err);
        if (rc == 0)
            count++;
    }
    if (rc == 0 && s != SQLITE_DONE)
        rc = reg_sql_error(reg, PD_EIO, "cannot read the keys", err);
    sqlite3_finalize(st);
    if (rc < 0) {
        free(arr);
        return rc;
    }
    *keys = arr;
    *n = count;
    return 0;
}

int pd_registry_key_disable(struct pd_registry *reg, const char *which, struct pd_registry_key *out, struct pd_err *err)
{
    if (!reg || !reg->db || !which || !which[0])
        return pd_err_set(err, PD_EINVAL, NULL, "registry: which key to disable?");
    struct pd_registry_key *all = NULL;
    size_t n = 0;
    int rc = pd_registry_keys(reg, -1, &all, &n, err);
    if (rc < 0)
        return rc;
    size_t hits = 0, at = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(all[i].key.id, which) == 0 || strcmp(all[i].key.hex, which) == 0 ||
            strcmp(all[i].name, which) == 0) {
            hits++;
            at = i;
        }
    }
    struct pd_registry_key k = hits == 1 ? all[at] : (struct pd_registry_key){0};
    free(all);
    if (hits == 0)
        return pd_err_set(err, PD_ESTATE, reg->path, "no registered key is named '%s' or has that key id", which);
    if (hits > 1)
        return pd_err_set(err, PD_ESTATE, reg->path, "'%s' names %zu keys: give the key id", which, hits);
    if (k.disabled[0])
        return pd_err_set(err, PD_ESTATE, reg->path, "key %s ('%s') was disabled already on %s", k.key.id, k.name,
                          k.disabled);
    char now[40];
    pd_time_format_iso8601(pd_clock_utc_ns(), now, sizeof now);
    rc = pd_registry_begin(reg, err);
    sqlite3_stmt *st = NULL;
    if (rc == 0)
        rc = reg_prepare(reg, "UPDATE keys SET disabled = ? WHERE ref = ? AND disabled IS NULL", &st, err);
    if (rc == 0) {
        reg_bind_text(st, 1, now, false);
        sqlite3_bind_int64(st, 2, k.ref);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = reg_sql_error(reg, PD_EIO, "cannot disable the key", err);
    }
    sqlite3_finalize(st);
    rc = rc == 0 ? pd_registry_commit(reg, err) : (pd_registry_rollback(reg), rc);
    if (rc == 0 && out) {
        *out = k;
        pd_strlcpy(out->disabled, now, sizeof out->disabled);
    }
    return rc;
}

int pd_registry_station_keys(const char *dir, struct pd_public_key **keys, size_t *n, struct pd_err *err)
{
    if (!dir || !keys || !n)
        return pd_err_set(err, PD_EINVAL, NULL, "registry: missing folder or outputs");
    *keys = NULL;
    *n = 0;
    if (!pd_registry_exists(dir))
        return 0;
    struct pd_registry reg;
    int rc = pd_registry_open(&reg, dir, 0, err);
    if (rc < 0)
        return rc;
    struct pd_registry_key *all = NULL;
    size_t count = 0;
    rc = pd_registry_keys(&reg, PD_KEY_ROLE_STATION, &all, &count, err);
    pd_registry_close(&reg);
    if (rc < 0)
        return rc;
    struct pd_public_key *out = malloc((count ? count : 1) * sizeof *out);
    if (!out) {
        free(all);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    }
    size_t active = 0;
    for (size_t i = 0; i < count; i++)
        if (!all[i].disabled[0])
            out[active++] = all[i].key;
    free(all);
    *keys = out;
    *n = active;
    return 0;
}

bool pd_registry_key_valid_at(const struct pd_registry_key *k, enum pd_key_role role, const char *time)
{
    if (!k || k->role != role)
        return false;
    if (!k->disabled[0])
        return true;
    /* ISO-8601 UTC texts of one format compare as times. */
    return time && strcmp(time, k->disabled) < 0;
}
