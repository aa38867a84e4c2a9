/*
 * http.c — the HTTP side of the server on libmicrohttpd: the daemon (epoll, a pool of worker
 * threads), bodies collected up to a limit, the one dispatch path every request takes (route →
 * session → role → CSRF → content type → body schema → handler), the security headers of every
 * answer, the access log, the graceful stop and the mail thread's start and stop (mail.c).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/certwork.h"
#include "server/internal.h"

#define BODY_LIMIT (64 * 1024) /* bytes; the largest valid body is far below */
#define UPLOAD_LIMIT (4 * 1024 * 1024) /* a certificate's JSON or PDF to check (public.c) */
#define PATH_SEGMENTS_MAX 8
#define DEFAULT_DECISION_RULE                                                                            \
    "ILAC-G8:09/2019 simple acceptance (shared risk, guard band w = 0): a result conforms when the "  \
    "measured value is within the limit"

struct pd_server {
    struct MHD_Daemon *daemon;
    char data_dir[4096];
    char decision_rule[512];
    bool tls_proxy;
    int session_idle_s, session_absolute_s;
    FILE *access_log;
    pthread_mutex_t log_lock;
    /* database connections, one per worker thread (a connection is used by one thread at a time) */
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    struct pd_srvdb **pool;
    size_t pool_size, pool_free;
    _Atomic int in_flight;
    _Atomic bool stopping;
    uint16_t port;
    struct mail_sender *mail; /* NULL without a relay */
    struct srv_lab *lab;      /* the test stations (NULL without --lab) */
    struct live_hub *hub;     /* links to the running series */
    char polydaq[4096];
};

int srv_session_idle_s(const struct pd_server *srv) { return srv->session_idle_s; }
int srv_session_absolute_s(const struct pd_server *srv) { return srv->session_absolute_s; }
bool srv_tls(const struct pd_server *srv) { return srv->tls_proxy; }
const char *srv_decision_rule(const struct pd_server *srv) { return srv->decision_rule; }
const char *srv_data_dir(const struct pd_server *srv) { return srv->data_dir; }
int srv_in_flight(const struct pd_server *srv) { return atomic_load(&srv->in_flight); }
const struct srv_lab *srv_lab(const struct pd_server *srv) { return srv->lab; }
struct live_hub *srv_hub(const struct pd_server *srv) { return srv->hub; }
const char *srv_polydaq(const struct pd_server *srv) { return srv->polydaq; }
bool srv_stopping(const struct pd_server *srv) { return atomic_load(&srv->stopping); }

/* What one request carries from its first callback to the access log. */
struct request_ctx {
    int64_t start_ns;
    char *body;
    size_t body_len;
    bool too_large;
    size_t limit;   /* the body's limit: BODY_LIMIT, UPLOAD_LIMIT (a certificate to check) or
                       RUN_UPLOAD_LIMIT (a run file) */
    size_t dropped; /* bytes of a too large body read and thrown away */
    int status;
    size_t bytes;
    int64_t user_id;
    char client[64];
    char method[16];
    char path[200]; /* printable ASCII only (others as '?'); MHD keeps the query string apart */
};

/* ---- Answers --------------------------------------------------------------------------------*/
int call_reply(struct srv_call *call, int status, json_t *body)
{
    json_decref(call->response);
    call->status = status;
    call->response = body;
    return 0;
}

int call_reply_bytes(struct srv_call *call, int status, const char *type, unsigned char *data, size_t len)
{
    json_decref(call->response);
    call->response = NULL;
    free(call->bytes);
    call->status = status;
    call->bytes = data;
    call->bytes_len = len;
    call->bytes_type = type;
    return 0;
}

int call_error(struct srv_call *call, int status, const char *code, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    if (!body) { /* a quoted name cut inside a UTF-8 sequence: say it in ASCII */
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    }
    free(call->bytes);
    call->bytes = NULL;
    return call_reply(call, status, body);
}

int call_fail(struct srv_call *call, const struct pd_err *err)
{
    switch (err->code) {
    case PD_ESTATE: return call_error(call, 409, "conflict", "%s", err->msg);
    case PD_EBUSY: call->retry_after_s = 1; return call_error(call, 503, "busy", "the database is busy; try again");
    case PD_EDATA: return call_error(call, 400, "invalid", "%s", err->msg);
    default:
        pd_log(PD_LOG_ERROR, "server: %s", err->msg);
        return call_error(call, 500, "internal", "internal error (logged on the server)");
    }
}

static void add_headers(struct MHD_Response *resp, const struct pd_server *srv, const struct srv_call *call)
{
    mhd.add_response_header(resp, "Content-Type",
                            call && (call->raw || call->stream) ? call->content_type
                            : call && call->bytes ? call->bytes_type
                                                  : "application/json; charset=utf-8");
    /* API answers carry a user's data: never stored by a browser or a proxy. */
    mhd.add_response_header(resp, "Cache-Control", "no-store");
    mhd.add_response_header(resp, "Pragma", "no-cache");
    mhd.add_response_header(resp, "X-Content-Type-Options", "nosniff");
    mhd.add_response_header(resp, "Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'");
    mhd.add_response_header(resp, "X-Frame-Options", "DENY");
    mhd.add_response_header(resp, "Referrer-Policy", "no-referrer");
    mhd.add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
    if (srv->tls_proxy)
        mhd.add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
    if (call && call->set_cookie[0])
        mhd.add_response_header(resp, "Set-Cookie", call->set_cookie);
    if (call && call->retry_after_s > 0) {
        char s[24];
        snprintf(s, sizeof s, "%d", call->retry_after_s);
        mhd.add_response_header(resp, "Retry-After", s);
    }
}

static enum MHD_Result send_answer(struct pd_server *srv, struct MHD_Connection *conn, struct request_ctx *ctx,
                                   struct srv_call *call, const char *allow)
{
    if (call->stream) { /* Server-Sent Events (sse.c): the stream's reader feeds it */
        add_headers(call->stream, srv, call);
        mhd.add_response_header(call->stream, "X-Accel-Buffering", "no"); /* a proxy passes events at once */
        enum MHD_Result r = mhd.queue_response(conn, 200, call->stream);
        mhd.destroy_response(call->stream);
        call->stream = NULL;
        ctx->status = 200;
        ctx->user_id = call->authenticated ? call->user.id : 0;
        return r;
    }
    if (call->raw && call->status == 200) { /* a web interface file, compiled into the program */
        struct MHD_Response *resp =
            mhd.create_response_from_buffer(call->raw_len, (void *)call->raw, MHD_RESPMEM_PERSISTENT);
        if (!resp)
            return MHD_NO;
        add_headers(resp, srv, call);
        enum MHD_Result r = mhd.queue_response(conn, 200, resp);
        mhd.destroy_response(resp);
        ctx->status = 200;
        ctx->bytes = call->raw_len;
        ctx->user_id = call->authenticated ? call->user.id : 0;
        return r;
    }
    call->raw = NULL;
    char *text;
    size_t len;
    if (call->bytes) { /* a document made for this answer (the label sheet): MHD frees it */
        text = (char *)call->bytes;
        len = call->bytes_len;
    } else {
        text = call->response ? json_dumps(call->response, JSON_COMPACT) : NULL;
        if (!text)
            text = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"internal error\"}}");
        if (!text)
            return MHD_NO;
        len = strlen(text);
    }
    struct MHD_Response *resp = mhd.create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        if (!call->bytes) /* a document stays the call's, freed with it */
            free(text);
        return MHD_NO;
    }
    add_headers(resp, srv, call);
    call->bytes = NULL; /* MHD owns it now */
    if (allow)
        mhd.add_response_header(resp, "Allow", allow);
    enum MHD_Result r = mhd.queue_response(conn, (unsigned)call->status, resp);
    mhd.destroy_response(resp);
    ctx->status = call->status;
    ctx->bytes = len;
    ctx->user_id = call->authenticated ? call->user.id : 0;
    return r;
}

/* ---- Routing --------------------------------------------------------------------------------*/
/* A path segment that stands for an id: 1..15 decimal digits, no sign, no leading zero. Anything
 * else (names, "..", "%2e", "1;DROP") does not match, and the path is not found. */
static bool parse_id(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 15 || s[0] == '0')
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool match_pattern(const char *pattern, const char *path, int64_t ids[2])
{
    int n_ids = 0;
    const char *p = pattern, *u = path;
    while (*p && *u) {
        if (*p != '/' || *u != '/')
            return false;
        p++, u++;
        const char *pe = strchr(p, '/'), *ue = strchr(u, '/');
        size_t pn = pe ? (size_t)(pe - p) : strlen(p), un = ue ? (size_t)(ue - u) : strlen(u);
        if (pn == 4 && strncmp(p, "{id}", 4) == 0) {
            if (n_ids == 2 || !parse_id(u, un, &ids[n_ids]))
                return false;
            n_ids++;
        } else if (pn == 6 && strncmp(p, "{cert}", 6) == 0) {
            if (!public_cert_id_ok(u, un))
                return false;
        } else if (pn == 6 && strncmp(p, "{file}", 6) == 0) {
            if (!static_name_ok(u, un))
                return false;
        } else if (pn != un || strncmp(p, u, pn) != 0) {
            return false;
        }
        p += pn, u += un;
    }
    return *p == '\0' && *u == '\0';
}

static bool json_content_type(const char *ct)
{
    if (!ct)
        return false;
    static const char want[] = "application/json";
    if (strncasecmp(ct, want, sizeof want - 1) != 0)
        return false;
    const char *rest = ct + sizeof want - 1;
    while (*rest == ' ')
        rest++;
    if (*rest == '\0')
        return true;
    if (*rest != ';')
        return false;
    rest++;
    while (*rest == ' ')
        rest++;
    return strcasecmp(rest, "charset=utf-8") == 0;
}

static struct pd_srvdb *pool_take(struct pd_server *srv)
{
    pthread_mutex_lock(&srv->pool_lock);
    while (srv->pool_free == 0)
        pthread_cond_wait(&srv->pool_cond, &srv->pool_lock);
    struct pd_srvdb *db = srv->pool[--srv->pool_free];
    pthread_mutex_unlock(&srv->pool_lock);
    return db;
}

static void pool_give(struct pd_server *srv, struct pd_srvdb *db)
{
    pthread_mutex_lock(&srv->pool_lock);
    srv->pool[srv->pool_free++] = db;
    pthread_cond_signal(&srv->pool_cond);
    pthread_mutex_unlock(&srv->pool_lock);
}

static void client_address(struct pd_server *srv, struct MHD_Connection *conn, char *buf, size_t size)
{
    pd_strlcpy(buf, "unknown", size);
    const union MHD_ConnectionInfo *info = mhd.get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!info || !info->client_addr)
        return;
    const struct sockaddr *sa = info->client_addr;
    bool loopback = false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, buf, (socklen_t)size);
        loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, buf, (socklen_t)size);
        loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    /* Behind the lab's reverse proxy (on this machine) the peer is the proxy; it names the client. */
    if (srv->tls_proxy && loopback) {
        const char *real = mhd.lookup_connection_value(conn, MHD_HEADER_KIND, "X-Real-IP");
        unsigned char tmp[sizeof(struct in6_addr)];
        if (real && (inet_pton(AF_INET, real, tmp) == 1 || inet_pton(AF_INET6, real, tmp) == 1))
            pd_strlcpy(buf, real, size);
    }
}

/* Whether the route of this method and path is the run file upload (runs.c: a larger body). */
static bool takes_run_file(const char *url, const char *method)
{
    for (size_t i = 0; i < srv_route_count; i++) {
        int64_t ids[2];
        if (srv_routes[i].handler == runs_upload && strcmp(srv_routes[i].method, method) == 0 &&
            match_pattern(srv_routes[i].pattern, url, ids))
            return true;
    }
    return false;
}

static void dispatch(struct pd_server *srv, struct MHD_Connection *conn, struct request_ctx *ctx, const char *url,
                     const char *method, struct srv_call *call, char *allow, size_t allow_size)
{
    if (ctx->too_large) {
        call_error(call, 413, "too_large", "the body is larger than %zu bytes", ctx->limit);
        return;
    }
    const struct srv_route *route = NULL;
    bool path_known = false;
    for (size_t i = 0; i < srv_route_count; i++) {
        int64_t ids[2] = {0, 0};
        if (!match_pattern(srv_routes[i].pattern, url, ids))
            continue;
        path_known = true;
        if (allow[0])
            strncat(allow, ", ", allow_size - strlen(allow) - 1);
        strncat(allow, srv_routes[i].method, allow_size - strlen(allow) - 1);
        if (strcmp(srv_routes[i].method, method) == 0) {
            route = &srv_routes[i];
            memcpy(call->ids, ids, sizeof ids);
            break;
        }
    }
    if (!route) {
        if (path_known) {
            call_error(call, 405, "method_not_allowed", "this method is not allowed here (see Allow)");
        } else {
            call_error(call, 404, "not_found", "no such resource");
        }
        return;
    }
    struct pd_err err;
    pd_err_clear(&err);
    const char *cookie = mhd.lookup_connection_value(conn, MHD_COOKIE_KIND, SESSION_COOKIE);
    if (session_resolve(call, cookie, &err) < 0) {
        call_fail(call, &err);
        return;
    }
    if (cookie && !call->authenticated)
        session_clear_cookie(call); /* a stale or forged cookie is dropped in the browser too */
    if (route->roles != ROLES_ANONYMOUS) {
        if (!call->authenticated) {
            call_error(call, 401, "unauthenticated", "log in first (no valid session)");
            return;
        }
        if (!(route->roles & ROLE_BIT(call->user.role))) {
            call_error(call, 403, "forbidden", "the role %s may not do this", pd_role_name(call->user.role));
            return;
        }
        /* Every state change of a logged-in user carries the session's CSRF token. (Login has no
         * session yet: SameSite=Strict and the JSON content type, which no form can send across
         * sites, stand in for it.) */
        if (strcmp(method, "GET") != 0 &&
            !session_csrf_ok(call, mhd.lookup_connection_value(conn, MHD_HEADER_KIND, CSRF_HEADER))) {
            call_error(call, 403, "csrf", "missing or wrong " CSRF_HEADER " header");
            return;
        }
    }
    if (route->body == srv_raw_body) { /* an upload, checked by its handler (public.c, runs.c) */
        call->upload = ctx->body;
        call->upload_len = ctx->body_len;
        call->upload_type = mhd.lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    } else if (route->body) {
        if (!json_content_type(mhd.lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type"))) {
            call_error(call, 415, "unsupported_media_type", "the body must be application/json (UTF-8)");
            return;
        }
        char msg[300];
        if (!body_check(ctx->body ? ctx->body : "", ctx->body_len, route->body, &call->body, msg, sizeof msg)) {
            call_error(call, 400, "invalid", "%s", msg);
            return;
        }
    } else if (ctx->body_len > 0) {
        call_error(call, 400, "invalid", "this request takes no body");
        return;
    }
    route->handler(call);
    if (!call->response && !call->raw && !call->bytes && !call->stream)
        call_error(call, 500, "internal", "internal error");
}

/* The path's %XX escapes decoded, except %00: a NUL would cut the path short ("/requests/1%00x"
 * must not be request 1), so it stays as it is and matches no route. */
static size_t unescape_path(void *cls, struct MHD_Connection *conn, char *s)
{
    char *out = s;
    for (const char *in = s; *in;) {
        if (in[0] == '%' && isxdigit((unsigned char)in[1]) && isxdigit((unsigned char)in[2])) {
            char hex[3] = {in[1], in[2], '\0'};
            long v = strtol(hex, NULL, 16);
            if (v != 0) {
                *out++ = (char)v;
                in += 3;
                continue;
            }
        }
        *out++ = *in++;
    }
    *out = '\0';
    return (size_t)(out - s);
}

/* For the log: bytes outside printable ASCII become '?', so a line is always valid JSON text. */
static void printable_copy(char *dst, size_t size, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < size; i++)
        dst[i] = (src[i] > 0x20 && src[i] < 0x7f) ? src[i] : '?';
    dst[i] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct pd_server *srv = cls;
    struct request_ctx *ctx = *con_cls;
    if (!ctx) {
        ctx = calloc(1, sizeof *ctx);
        if (!ctx)
            return MHD_NO;
        ctx->start_ns = pd_clock_mono_ns();
        printable_copy(ctx->method, sizeof ctx->method, method);
        printable_copy(ctx->path, sizeof ctx->path, url);
        atomic_fetch_add(&srv->in_flight, 1);
        *con_cls = ctx;
        ctx->limit = takes_run_file(url, method)     ? RUN_UPLOAD_LIMIT
                     : public_upload_path(url) ? UPLOAD_LIMIT
                                               : BODY_LIMIT;
        const char *cl = mhd.lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && (strlen(cl) > 10 || (size_t)atoll(cl) > ctx->limit))
            ctx->too_large = true; /* answered at once, before the body is read */
        else
            return MHD_YES;
    }
    if (*upload_data_size > 0 && !ctx->too_large) {
        size_t n = *upload_data_size;
        if (ctx->body_len + n > ctx->limit) {
            ctx->too_large = true;
            free(ctx->body);
            ctx->body = NULL;
        } else {
            char *grown = realloc(ctx->body, ctx->body_len + n + 1);
            if (!grown)
                return MHD_NO;
            memcpy(grown + ctx->body_len, upload_data, n);
            ctx->body = grown;
            ctx->body_len += n;
            ctx->body[ctx->body_len] = '\0';
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) { /* over the limit: the rest is read and dropped, then 413 */
        ctx->dropped += *upload_data_size;
        *upload_data_size = 0;
        return ctx->dropped > 16 * (size_t)BODY_LIMIT ? MHD_NO : MHD_YES; /* a flood: the connection is closed */
    }
    struct srv_call call = {.srv = srv, .method = method, .path = url, .status = 500, .conn = conn};
    client_address(srv, conn, call.client, sizeof call.client);
    pd_strlcpy(ctx->client, call.client, sizeof ctx->client);
    call.db = pool_take(srv);
    char allow[64] = "";
    dispatch(srv, conn, ctx, url, method, &call, allow, sizeof allow);
    db_rollback(call.db); /* a handler that failed half-way leaves no transaction open */
    keys_sweep_after_request(call.db, srv->session_idle_s, srv->session_absolute_s); /* ended sessions' keys wiped */
    pool_give(srv, call.db);
    enum MHD_Result r = send_answer(srv, conn, ctx, &call, call.status == 405 ? allow : NULL);
    json_decref(call.body);
    json_decref(call.response);
    free(call.bytes);
    sodium_memzero(call.session_id, sizeof call.session_id);
    return r;
}

/* ---- Access log: one JSON line per request, after its answer went out -----------------------
 * Written with snprintf, not built as a jansson object and dumped: that was a quarter of the
 * server's CPU for a small page (docs/BENCHMARKS.md, "Lab server"). The line is the same JSON. */
/* A string of the log (printable ASCII, printable_copy) as the inside of a JSON string. */
static void log_string(char *dst, size_t size, const char *src)
{
    size_t o = 0;
    for (; *src && o + 3 < size; src++) {
        if (*src == '"' || *src == '\\')
            dst[o++] = '\\';
        dst[o++] = *src;
    }
    dst[o] = '\0';
}

/* A number as jansson writes a real with JSON_REAL_PRECISION(6): %.6g, with ".0" when it would
 * read as an integer. */
static void json_real_text(double v, char *buf, size_t size)
{
    snprintf(buf, size, "%.6g", v);
    if (!strpbrk(buf, ".eE") && strlen(buf) + 3 <= size)
        strcat(buf, ".0");
}

/* A connection accepted once the stop has begun is closed at once, unanswered. This is the stop's
 * only gate for new connections: libmicrohttpd's own (MHD_quiesce_daemon) races the worker threads
 * in epoll mode — both take the listening socket out of a worker's epoll set without a lock, and
 * the loser's ENOENT aborts the process (0.9.75; CI, server_security_test: "Failed to remove listen
 * FD from epoll set"). */
static enum MHD_Result refuse_when_stopping(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)addr;
    (void)addrlen;
    const struct pd_server *srv = cls;
    return atomic_load(&srv->stopping) ? MHD_NO : MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct pd_server *srv = cls;
    struct request_ctx *ctx = *con_cls;
    if (!ctx)
        return;
    *con_cls = NULL;
    if (srv->access_log) {
        char when[40], method[2 * sizeof ctx->method], path[2 * sizeof ctx->path], client[2 * sizeof ctx->client];
        char user[24] = "null", duration[32];
        pd_time_format_iso8601(pd_clock_utc_ns(), when, sizeof when);
        if (ctx->user_id)
            snprintf(user, sizeof user, "%lld", (long long)ctx->user_id);
        json_real_text((double)(pd_clock_mono_ns() - ctx->start_ns) / 1e6, duration, sizeof duration);
        log_string(method, sizeof method, ctx->method);
        log_string(path, sizeof path, ctx->path);
        log_string(client, sizeof client, ctx->client);
        /* Never a header, cookie, token or body: the method, the path (ids only) and the outcome. */
        pthread_mutex_lock(&srv->log_lock);
        fprintf(srv->access_log,
                "{\"time\":\"%s\",\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,\"bytes\":%zu,"
                "\"duration_ms\":%s,\"user\":%s,\"client\":\"%s\",\"outcome\":\"%s\"}\n",
                when, method, path, ctx->status, ctx->bytes, duration, user, client,
                toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "sent" : "aborted");
        fflush(srv->access_log);
        pthread_mutex_unlock(&srv->log_lock);
    }
    free(ctx->body);
    free(ctx);
    atomic_fetch_sub(&srv->in_flight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == '\n')
        line[--n] = '\0';
    pd_log(PD_LOG_WARN, "http: %s", line);
}

/* ---- Start and stop -------------------------------------------------------------------------*/
static void free_server(struct pd_server *srv)
{
    mail_sender_stop(srv->mail); /* after the daemon: no request queues notices any more */
    live_hub_free(srv->hub);     /* the links' threads end; the runs go on */
    lab_free(srv->lab);
    for (size_t i = 0; i < srv->pool_free; i++)
        pd_srvdb_close(srv->pool[i]);
    free(srv->pool);
    pthread_mutex_destroy(&srv->pool_lock);
    pthread_cond_destroy(&srv->pool_cond);
    pthread_mutex_destroy(&srv->log_lock);
    free(srv);
}

int pd_server_start(const struct pd_server_options *opt, struct pd_server **out, struct pd_err *err)
{
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof addr);
    bool v6 = false;
    struct sockaddr_in *in = (struct sockaddr_in *)&addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&addr;
    if (inet_pton(AF_INET, opt->listen_addr, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(opt->port);
    } else if (inet_pton(AF_INET6, opt->listen_addr, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(opt->port);
        v6 = true;
    } else {
        return pd_err_set(err, PD_ECONFIG, "--listen", "'%s' is not a numeric IPv4 or IPv6 address", opt->listen_addr);
    }
    int rc = pw_init(err);
    if (rc < 0 || (rc = mhd_load(err)) < 0)
        return rc;
    struct pd_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    pthread_mutex_init(&srv->pool_lock, NULL);
    pthread_cond_init(&srv->pool_cond, NULL);
    pthread_mutex_init(&srv->log_lock, NULL);
    pd_strlcpy(srv->data_dir, opt->data_dir, sizeof srv->data_dir);
    pd_strlcpy(srv->decision_rule, opt->decision_rule ? opt->decision_rule : DEFAULT_DECISION_RULE,
               sizeof srv->decision_rule);
    srv->tls_proxy = opt->tls_proxy;
    srv->session_idle_s = opt->session_idle_s > 0 ? opt->session_idle_s : 1800;
    srv->session_absolute_s = opt->session_absolute_s > 0 ? opt->session_absolute_s : 43200;
    srv->access_log = opt->access_log;
    if (opt->polydaq_path) {
        pd_strlcpy(srv->polydaq, opt->polydaq_path, sizeof srv->polydaq);
    } else {
        ssize_t n = readlink("/proc/self/exe", srv->polydaq, sizeof srv->polydaq - 1);
        srv->polydaq[n > 0 ? n : 0] = '\0';
    }
    unsigned threads = opt->threads ? opt->threads : 4;
    srv->pool_size = threads;
    srv->pool = calloc(threads, sizeof *srv->pool);
    if (!srv->pool) {
        free_server(srv);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    }
    for (unsigned i = 0; i < threads; i++) {
        if ((rc = db_connect(opt->data_dir, &srv->pool[i], err)) < 0) {
            free_server(srv);
            return rc;
        }
        srv->pool_free++;
    }
    /* The stations: a lab config given wrongly stops the start; the series left running are
     * reconnected before anything listens. */
    if ((opt->lab_path && (rc = lab_load(opt->lab_path, &srv->lab, err)) < 0) ||
        (rc = live_hub_create(&srv->hub, err)) < 0) {
        free_server(srv);
        return rc;
    }
    live_set_observer(srv->hub, series_observe, srv);
    if ((rc = series_reconnect(srv, srv->pool[0], err)) < 0) {
        free_server(srv);
        return rc;
    }
    /* The certificate statuses copied here, brought to the registry's before anything listens. */
    struct pd_err sync_err;
    pd_err_clear(&sync_err);
    if (certs_resync(srv->pool[0], opt->data_dir, &sync_err) < 0)
        pd_log(PD_LOG_ERROR, "re-syncing certificate statuses from the registry: %s", sync_err.msg);
    /* The mail thread first: a relay given wrongly stops the start before anything listens. */
    if (opt->smtp_url && (rc = mail_sender_start(opt->data_dir, opt->smtp_url, opt->mail_from, &srv->mail, err)) < 0) {
        free_server(srv);
        return rc;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME |
                     (v6 ? MHD_USE_IPv6 : 0);
    srv->daemon = mhd.start_daemon(
        flags, opt->port, refuse_when_stopping, srv, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_UNESCAPE_CALLBACK, unescape_path, NULL,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 1000u, MHD_OPTION_END);
    if (!srv->daemon) {
        free_server(srv);
        return pd_err_set(err, PD_EIO, "--listen", "cannot listen on %s port %u (in use, or not an address of this "
                                                   "machine)", opt->listen_addr, (unsigned)opt->port);
    }
    const union MHD_DaemonInfo *info = mhd.get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : opt->port;
    *out = srv;
    return 0;
}

uint16_t pd_server_port(const struct pd_server *srv) { return srv->port; }

void pd_server_stop(struct pd_server *srv, int grace_ms)
{
    if (!srv)
        return;
    atomic_store(&srv->stopping, true); /* new connections are refused from here (refuse_when_stopping) */
    live_hub_quiesce(srv->hub); /* the event streams end, so they are not waited for */
    for (int waited = 0; atomic_load(&srv->in_flight) > 0 && waited < grace_ms; waited += 10)
        pd_clock_sleep_ns(10 * 1000 * 1000);
    mhd.stop_daemon(srv->daemon);
    certwork_release(); /* the certificate's fonts and then cairo's and fontconfig's caches */
    keys_forget_all();
    free_server(srv);
}
