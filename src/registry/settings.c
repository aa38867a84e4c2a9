/* settings.c — the lab's settings kept in its registry: the public verification base URL that
 * certificates' QR codes lead to. */
#include <stdio.h>
#include <string.h>

#include "registry/registry_internal.h"

#define VERIFY_URL_KEY "verify_url"

int pd_registry_verify_url(struct pd_registry *reg, char *buf, size_t size, struct pd_err *err)
{
    if (!reg || !reg->db || !buf || size == 0)
        return pd_err_set(err, PD_EINVAL, NULL, "registry: not open");
    sqlite3_stmt *st = NULL;
    int rc = reg_prepare(reg, "SELECT value FROM settings WHERE name = ?", &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, VERIFY_URL_KEY, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    buf[0] = '\0';
    if (s == SQLITE_ROW)
        reg_column_text(st, 0, buf, size);
    sqlite3_finalize(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        return reg_sql_error(reg, PD_EIO, "cannot read the registry's settings", err);
    return 0;
}

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == ':' || c == '[' || c == ']';
}

static bool path_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '~' || c == '/' || c == '-';
}

/* The URL's form (see registry.h); why it is refused in err. */
static int check_url(const char *url, char *clean, size_t size, struct pd_err *err)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    if (n > PD_VERIFY_URL_MAX)
        return pd_err_set(err, PD_EINVAL, NULL, "verification URL longer than %d bytes (the QR code must hold it)",
                          PD_VERIFY_URL_MAX);
    const char *host;
    if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else
        return pd_err_set(err, PD_EINVAL, NULL, "verification URL '%.120s' must start with https:// (or http://)",
                          url);
    size_t i = (size_t)(host - url), host_start = i;
    for (; i < n && url[i] != '/'; i++)
        if (!host_char(url[i]))
            return pd_err_set(err, PD_EINVAL, NULL,
                              "verification URL: character %zu ('%c') cannot be in a host name (letters, digits, "
                              "'.', '-', ':port')",
                              i + 1, url[i] >= 0x20 && url[i] < 0x7f ? url[i] : '?');
    if (i == host_start)
        return pd_err_set(err, PD_EINVAL, NULL, "verification URL '%.120s' names no host", url);
    for (; i < n; i++)
        if (!path_char(url[i]))
            return pd_err_set(err, PD_EINVAL, NULL,
                              "verification URL: character %zu ('%c') cannot be in its path (no query, fragment, "
                              "space or escape)",
                              i + 1, url[i] >= 0x20 && url[i] < 0x7f ? url[i] : '?');
    if (n + 1 > size)
        return pd_err_set(err, PD_EINVAL, NULL, "verification URL too long");
    memcpy(clean, url, n);
    clean[n] = '\0';
    return 0;
}

int pd_registry_verify_url_check(const char *url, struct pd_err *err)
{
    char clean[PD_VERIFY_URL_MAX + 1];
    return url ? check_url(url, clean, sizeof clean, err) : pd_err_set(err, PD_EINVAL, NULL, "no verification URL");
}

int pd_registry_set_verify_url(struct pd_registry *reg, const char *url, struct pd_err *err)
{
    if (!reg || !reg->db || !url)
        return pd_err_set(err, PD_EINVAL, NULL, "registry: not open");
    char clean[PD_VERIFY_URL_MAX + 1] = "";
    int rc = url[0] ? check_url(url, clean, sizeof clean, err) : 0;
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = NULL;
    if ((rc = pd_registry_begin(reg, err)) < 0)
        return rc;
    rc = reg_prepare(reg,
                     clean[0] ? "INSERT INTO settings (name, value) VALUES (?1, ?2)"
                                " ON CONFLICT (name) DO UPDATE SET value = excluded.value"
                              : "DELETE FROM settings WHERE name = ?1",
                     &st, err);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, VERIFY_URL_KEY, -1, SQLITE_STATIC);
        if (clean[0])
            sqlite3_bind_text(st, 2, clean, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = reg_sql_error(reg, PD_EIO, "cannot record the verification URL", err);
        sqlite3_finalize(st);
    }
    if (rc == 0)
        return pd_registry_commit(reg, err);
    pd_registry_rollback(reg);
    return rc;
}
