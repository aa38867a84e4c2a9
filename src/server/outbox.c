/*
 * outbox.c — e-mail notices queued in the database: a change that a member hears about (a
 * request accepted, rejected, its items received; a complaint's steps) inserts its messages in
 * the outbox within the change's own transaction, so a notice exists exactly when its change
 * does, whatever happens to the process after the commit. mail.c delivers them.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/internal.h"

bool email_is_valid(const char *a)
{
    size_t n = strlen(a);
    const char *at = strchr(a, '@');
    if (n < 3 || n > 254 || !at || at == a || !at[1] || strchr(at + 1, '@'))
        return false;
    for (const char *p = a; *p; p++) {
        unsigned char c = (unsigned char)*p;
        /* No spaces, controls, quotes, brackets or commas: nothing that could end an SMTP command
         * or a header, or name a second recipient. */
        if (c <= ' ' || c >= 0x7f || strchr("\"(),:;<>[\\]", c))
            return false;
    }
    return at[1] != '.' && a[n - 1] != '.';
}

void utf8_cut(char *dst, const char *src, size_t size)
{
    size_t n = strlen(src);
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80) /* src[n] continues a character: drop it all */
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* RFC 5322 date of now, in English whatever the locale: "Thu, 03 Dec 2026 14:38:07 +0000". */
static void rfc5322_now(char *buf, size_t size)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int outbox_notify_member(struct pd_srvdb *db, int64_t member_id, const char *subject, const char *text,
                         struct pd_err *err)
{
    /* The recipients are chosen by the server from the changed object's member, never by a
     * caller: so this lookup takes no caller's scope. Disabled contacts get nothing. */
    sqlite3_stmt *who, *put;
    int rc = db_prepare(db,
                        "SELECT email FROM users WHERE member_id = ? AND role = 'member' AND disabled = 0 AND "
                        "email IS NOT NULL ORDER BY id",
                        &who, err);
    if (rc < 0)
        return rc;
    if ((rc = db_prepare(db,
                         "INSERT INTO outbox(created_at, message_id, recipient, subject, body, next_attempt_s) "
                         "VALUES (?,?,?,?,?,?)",
                         &put, err)) < 0) {
        sqlite3_finalize(who);
        return rc;
    }
    char date[64];
    rfc5322_now(date, sizeof date);
    sqlite3_bind_int64(who, 1, member_id);
    int step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(who)) == SQLITE_ROW) {
        const char *to = (const char *)sqlite3_column_text(who, 0);
        if (!to || !email_is_valid(to))
            continue;
        unsigned char rnd[16];
        char hex[33], message_id[80];
        randombytes_buf(rnd, sizeof rnd);
        sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
        snprintf(message_id, sizeof message_id, "<%s@polydaq.invalid>", hex);
        sqlite3_reset(put);
        sqlite3_bind_text(put, 1, date, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(put, 2, message_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(put, 3, to, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(put, 4, subject, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(put, 5, text, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(put, 6, db_now_s());
        rc = sqlite3_step(put) == SQLITE_DONE ? 0 : db_fail(db, "queueing a notice", err);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_fail(db, "reading the member's contacts", err);
    sqlite3_finalize(who);
    sqlite3_finalize(put);
    return rc;
}
