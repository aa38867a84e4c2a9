/*
 * mail.c — the thread that delivers the outbox (outbox.c) to the lab's SMTP relay with libcurl:
 * every second it takes the messages that are due, sends each (MAIL FROM, RCPT TO, the message),
 * and marks it sent; a relay that is down or refuses makes the message wait 1 s, 2 s, 4 s … up to
 * 5 min before the next try, so nothing is lost. Delivery is at least once: a message sent but
 * not yet marked when the process dies is sent again after the restart (with the same
 * Message-ID, so a recipient's mail system can tell). It runs apart from the request threads
 * with its own database connection, so a slow relay never holds up a request. libcurl is loaded
 * when the sender starts (dlopen, as libmicrohttpd is) so other commands do not map it.
 */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/internal.h"

#define BATCH 20
#define BACKOFF_MAX_S 300

static struct {
    bool loaded;
    __typeof__(curl_global_init) *global_init;
    __typeof__(curl_easy_init) *easy_init;
    __typeof__(curl_easy_setopt) *easy_setopt;
    __typeof__(curl_easy_perform) *easy_perform;
    __typeof__(curl_easy_cleanup) *easy_cleanup;
    __typeof__(curl_easy_strerror) *easy_strerror;
    __typeof__(curl_slist_append) *slist_append;
    __typeof__(curl_slist_free_all) *slist_free_all;
} curl;
static char load_error[300];
static pthread_once_t once = PTHREAD_ONCE_INIT;

#define LOAD(field, symbol)                                                                                  \
    do {                                                                                                     \
        *(void **)&curl.field = dlsym(h, symbol);                                                            \
        if (!curl.field) {                                                                                   \
            snprintf(load_error, sizeof load_error, "libcurl lacks %s (too old?)", symbol);                  \
            return;                                                                                          \
        }                                                                                                    \
    } while (0)

static void load(void)
{
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(load_error, sizeof load_error, "cannot load libcurl (Debian package libcurl4): %s", dlerror());
        return;
    }
    LOAD(global_init, "curl_global_init");
    LOAD(easy_init, "curl_easy_init");
    LOAD(easy_setopt, "curl_easy_setopt");
    LOAD(easy_perform, "curl_easy_perform");
    LOAD(easy_cleanup, "curl_easy_cleanup");
    LOAD(easy_strerror, "curl_easy_strerror");
    LOAD(slist_append, "curl_slist_append");
    LOAD(slist_free_all, "curl_slist_free_all");
    if (curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(load_error, sizeof load_error, "libcurl could not be initialised");
        return;
    }
    curl.loaded = true;
}

struct mail_sender {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    _Atomic bool stop;
    _Atomic int64_t stop_ns; /* when the stop was asked (monotonic) */
    struct pd_srvdb *db;
    char url[512];
    char from[256];
};

struct message {
    int64_t id;
    int attempts;
    char *text; /* the whole message, headers and body, CRLF lines */
    size_t len, sent;
    char recipient[256];
};

static size_t read_message(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct message *m = userdata;
    size_t n = size * nitems, left = m->len - m->sent;
    if (n > left)
        n = left;
    memcpy(buf, m->text + m->sent, n);
    m->sent += n;
    return n;
}

/* A message being handed over when the server stops gets STOP_GRACE_NS to finish: cut off after
 * the relay took it but before its "250 OK" came back, it would be sent again after the restart. */
#define STOP_GRACE_NS (5 * 1000000000LL)
static int abort_when_stopping(void *clientp, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    const struct mail_sender *ms = clientp;
    return atomic_load(&ms->stop) && pd_clock_mono_ns() - atomic_load(&ms->stop_ns) > STOP_GRACE_NS ? 1 : 0;
}

/* Appends `s` to the growing message, LF → CRLF. */
static void put(char **buf, size_t *len, size_t *cap, const char *s)
{
    for (; *s; s++) {
        if (*len + 3 > *cap) {
            size_t ncap = *cap ? *cap * 2 : 4096;
            char *p = realloc(*buf, ncap);
            if (!p) {
                free(*buf);
                *buf = NULL;
                *cap = *len = 0;
                return;
            }
            *buf = p;
            *cap = ncap;
        }
        if (!*buf)
            return;
        if (*s == '\n')
            (*buf)[(*len)++] = '\r';
        (*buf)[(*len)++] = *s;
    }
}

/* The body, LF → CRLF, with lines longer than SMTP's 998 bytes broken (between characters) at
 * 900: a condition or finding typed as one long paragraph still travels. */
static void put_body(char **buf, size_t *len, size_t *cap, const char *body)
{
    char piece[904];
    size_t run = 0, n = 0;
    for (const char *p = body; *p; p++) {
        if (*p == '\n') {
            run = 0;
        } else if (run >= 900 && ((unsigned char)*p & 0xC0) != 0x80) {
            piece[n++] = '\n';
            run = 0;
        }
        piece[n++] = *p;
        run += *p != '\n';
        if (n >= sizeof piece - 2) {
            piece[n] = '\0';
            put(buf, len, cap, piece);
            n = 0;
        }
    }
    piece[n] = '\0';
    put(buf, len, cap, piece);
}

/* The Subject header's value: as is when ASCII, else RFC 2047 encoded words (UTF-8, base64) of
 * at most 45 bytes of text each (75 characters encoded), cut between characters, folded. */
static void subject_header(char **buf, size_t *len, size_t *cap, const char *subject)
{
    char clean[256]; /* a line break would end the header: controls become spaces */
    utf8_cut(clean, subject, sizeof clean);
    bool ascii = true;
    for (char *p = clean; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
        if ((unsigned char)*p >= 0x80)
            ascii = false;
    }
    subject = clean;
    put(buf, len, cap, "Subject: ");
    if (ascii) {
        put(buf, len, cap, subject);
    } else {
        size_t n = strlen(subject), at = 0;
        while (at < n) {
            size_t take = n - at > 45 ? 45 : n - at;
            while (take < n - at && take > 0 && ((unsigned char)subject[at + take] & 0xC0) == 0x80)
                take--;
            char b64[sodium_base64_ENCODED_LEN(45, sodium_base64_VARIANT_ORIGINAL)];
            sodium_bin2base64(b64, sizeof b64, (const unsigned char *)subject + at, take,
                              sodium_base64_VARIANT_ORIGINAL);
            if (at)
                put(buf, len, cap, "\n ");
            put(buf, len, cap, "=?UTF-8?B?");
            put(buf, len, cap, b64);
            put(buf, len, cap, "?=");
            at += take;
        }
    }
    put(buf, len, cap, "\n");
}

static char *compose(const struct mail_sender *ms, sqlite3_stmt *st, size_t *len_out)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    const char *date = (const char *)sqlite3_column_text(st, 1), *mid = (const char *)sqlite3_column_text(st, 2),
               *to = (const char *)sqlite3_column_text(st, 3), *subject = (const char *)sqlite3_column_text(st, 4),
               *body = (const char *)sqlite3_column_text(st, 5);
    put(&buf, &len, &cap, "Date: ");
    put(&buf, &len, &cap, date ? date : "");
    put(&buf, &len, &cap, "\nFrom: ");
    put(&buf, &len, &cap, ms->from);
    put(&buf, &len, &cap, "\nTo: ");
    put(&buf, &len, &cap, to ? to : "");
    put(&buf, &len, &cap, "\nMessage-ID: ");
    put(&buf, &len, &cap, mid ? mid : "");
    put(&buf, &len, &cap, "\n");
    subject_header(&buf, &len, &cap, subject ? subject : "");
    put(&buf, &len, &cap, "MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n"
                          "Content-Transfer-Encoding: 8bit\nAuto-Submitted: auto-generated\n\n");
    put_body(&buf, &len, &cap, body ? body : "");
    put(&buf, &len, &cap, "\n-- \nThe laboratory's server (polydaq). This notice was sent automatically.\n");
    *len_out = len;
    return buf;
}

/* 0: the relay took it; otherwise a negative status with the reason in `err`, and *unreachable
 * set when the relay itself could not be reached (rather than refusing this one message). */
static int send_one(struct mail_sender *ms, struct message *m, bool *unreachable, struct pd_err *err)
{
    CURL *h = curl.easy_init();
    if (!h)
        return pd_err_set(err, PD_ENOMEM, NULL, "libcurl: out of memory");
    char from[300], rcpt_text[300];
    snprintf(from, sizeof from, "<%s>", ms->from);
    snprintf(rcpt_text, sizeof rcpt_text, "<%s>", m->recipient);
    struct curl_slist *rcpt = curl.slist_append(NULL, rcpt_text);
    curl.easy_setopt(h, CURLOPT_URL, ms->url);
    curl.easy_setopt(h, CURLOPT_MAIL_FROM, from);
    curl.easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    curl.easy_setopt(h, CURLOPT_READFUNCTION, read_message);
    curl.easy_setopt(h, CURLOPT_READDATA, m);
    curl.easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl.easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl.easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, abort_when_stopping);
    curl.easy_setopt(h, CURLOPT_XFERINFODATA, ms);
    m->sent = 0;
    CURLcode rc = curl.easy_perform(h);
    curl.slist_free_all(rcpt);
    curl.easy_cleanup(h);
    if (rc != CURLE_OK) {
        *unreachable = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                       rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR;
        return pd_err_set(err, PD_EIO, ms->url, "%s", curl.easy_strerror(rc));
    }
    return 0;
}

static void mark(struct mail_sender *ms, const struct message *m, const struct pd_err *failure)
{
    sqlite3_stmt *st;
    struct pd_err err;
    pd_err_clear(&err);
    const char *sql = failure ? "UPDATE outbox SET attempts = ?, next_attempt_s = ?, last_error = ? WHERE id = ?"
                              : "UPDATE outbox SET attempts = ?, sent_at = ?, last_error = NULL WHERE id = ?";
    if (db_prepare(ms->db, sql, &st, &err) < 0) {
        pd_log(PD_LOG_ERROR, "mail: %s", err.msg);
        return;
    }
    sqlite3_bind_int(st, 1, m->attempts + 1);
    if (failure) {
        int64_t wait = 1;
        for (int i = 0; i < m->attempts && wait < BACKOFF_MAX_S; i++)
            wait *= 2;
        if (wait > BACKOFF_MAX_S)
            wait = BACKOFF_MAX_S;
        sqlite3_bind_int64(st, 2, db_now_s() + wait);
        sqlite3_bind_text(st, 3, failure->msg, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, m->id);
    } else {
        char now[40];
        db_now_iso(now, sizeof now);
        sqlite3_bind_text(st, 2, now, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, m->id);
    }
    if (sqlite3_step(st) != SQLITE_DONE) {
        db_fail(ms->db, "marking a notice", &err);
        pd_log(PD_LOG_ERROR, "mail: %s", err.msg);
    }
    sqlite3_finalize(st);
}

/* Sends what is due; the number of messages tried. */
static int deliver_due(struct mail_sender *ms)
{
    struct message batch[BATCH];
    int n = 0;
    sqlite3_stmt *st;
    struct pd_err err;
    pd_err_clear(&err);
    if (db_prepare(ms->db,
                   "SELECT id, created_at, message_id, recipient, subject, body, attempts FROM outbox "
                   "WHERE sent_at IS NULL AND next_attempt_s <= ? ORDER BY next_attempt_s, id LIMIT 20", /* BATCH */
                   &st, &err) < 0) {
        pd_log(PD_LOG_ERROR, "mail: %s", err.msg);
        return 0;
    }
    sqlite3_bind_int64(st, 1, db_now_s());
    while (n < BATCH && sqlite3_step(st) == SQLITE_ROW) {
        struct message *m = &batch[n];
        m->id = sqlite3_column_int64(st, 0);
        m->attempts = sqlite3_column_int(st, 6);
        db_text(st, 3, m->recipient, sizeof m->recipient);
        m->text = compose(ms, st, &m->len);
        if (m->text)
            n++;
    }
    sqlite3_finalize(st); /* no read transaction stays open while the relay is talked to */
    /* A relay that cannot be reached ends the round: the rest of the batch stays due and is tried
     * in the next one, so a relay that swallows connections costs one timeout per round, not 20. */
    bool unreachable = false;
    for (int i = 0; i < n; i++) {
        if (!atomic_load(&ms->stop) && !unreachable) {
            pd_err_clear(&err);
            int rc = send_one(ms, &batch[i], &unreachable, &err);
            if (rc < 0)
                pd_log(PD_LOG_WARN, "mail: notice %lld to %s not delivered (try %d): %s", (long long)batch[i].id,
                       batch[i].recipient, batch[i].attempts + 1, err.msg);
            mark(ms, &batch[i], rc < 0 ? &err : NULL);
        }
        free(batch[i].text);
    }
    return unreachable ? 0 : n;
}

static void *sender_main(void *arg)
{
    struct mail_sender *ms = arg;
    while (!atomic_load(&ms->stop)) {
        int tried = deliver_due(ms);
        if (tried == BATCH)
            continue; /* more may be due */
        pthread_mutex_lock(&ms->lock);
        if (!atomic_load(&ms->stop)) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            pthread_cond_timedwait(&ms->wake, &ms->lock, &until);
        }
        pthread_mutex_unlock(&ms->lock);
    }
    return NULL;
}

int mail_sender_start(const char *data_dir, const char *url, const char *from, struct mail_sender **out,
                      struct pd_err *err)
{
    if (strncmp(url, "smtp://", 7) != 0 && strncmp(url, "smtps://", 8) != 0)
        return pd_err_set(err, PD_ECONFIG, "--smtp", "'%s' is not an smtp:// or smtps:// URL", url);
    if (strlen(url) >= 512)
        return pd_err_set(err, PD_ECONFIG, "--smtp", "the URL is too long");
    if (!from || !email_is_valid(from))
        return pd_err_set(err, PD_ECONFIG, "--mail-from", "'%s' is not an e-mail address", from ? from : "");
    pthread_once(&once, load);
    if (!curl.loaded)
        return pd_err_set(err, PD_EUNSUPPORTED, "--smtp", "%s", load_error);
    struct mail_sender *ms = calloc(1, sizeof *ms);
    if (!ms)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    pd_strlcpy(ms->url, url, sizeof ms->url);
    pd_strlcpy(ms->from, from, sizeof ms->from);
    int rc = db_connect(data_dir, &ms->db, err);
    if (rc < 0) {
        free(ms);
        return rc;
    }
    pthread_mutex_init(&ms->lock, NULL);
    pthread_cond_init(&ms->wake, NULL);
    if (pthread_create(&ms->thread, NULL, sender_main, ms) != 0) {
        pd_srvdb_close(ms->db);
        pthread_mutex_destroy(&ms->lock);
        pthread_cond_destroy(&ms->wake);
        free(ms);
        return pd_err_set(err, PD_EIO, NULL, "cannot start the mail thread");
    }
    *out = ms;
    return 0;
}

void mail_sender_stop(struct mail_sender *ms)
{
    if (!ms)
        return;
    pthread_mutex_lock(&ms->lock);
    atomic_store(&ms->stop_ns, pd_clock_mono_ns());
    atomic_store(&ms->stop, true);
    pthread_cond_signal(&ms->wake);
    pthread_mutex_unlock(&ms->lock);
    pthread_join(ms->thread, NULL);
    pd_srvdb_close(ms->db);
    pthread_mutex_destroy(&ms->lock);
    pthread_cond_destroy(&ms->wake);
    free(ms);
}
