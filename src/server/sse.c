/*
 * sse.c — the server's live links to running series and their Server-Sent Event streams. Each
 * running series has one client on its run's control socket (docs/STATION.md: newline-delimited
 * JSON events, commands back): a thread reads the events, keeps what a viewer arriving late needs
 * (the latest hello, state, dimensions asked and values; every points batch and control event) and
 * copies each event into every viewer's buffer. A viewer's stream is an MHD answer read by a
 * callback that parks the connection (suspend) while the buffer is empty and is woken (resume) by
 * the next event; a viewer whose buffer passes 1 MiB is dropped, so neither the other viewers nor
 * the run ever wait for a slow one. MHD functions are never called with the hub's lock held
 * (MHD takes its own locks around our callbacks).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/internal.h"

#define LINE_MAX_BYTES (64 * 1024)         /* the protocol's limit for one line */
#define VIEWER_BUFFER_MAX (1024 * 1024)    /* a viewer further behind than this is dropped */
#define REPLAY_MAX_BYTES (8 * 1024 * 1024) /* points and events kept for late viewers, per series */
#define HEARTBEAT_NS (15LL * 1000000000LL) /* a comment line: proxies keep the stream, dead viewers show */
#define PENDING_MAX 16                     /* commands waiting for their answer, per series */

enum link_phase { LINK_RESERVED, LINK_LIVE, LINK_ENDED };

struct viewer {
    struct live_link *link;
    struct MHD_Connection *conn;
    char *buf;
    size_t len, off, cap;
    size_t limit;   /* bytes it may have waiting: the replay it started with, plus 1 MiB */
    bool suspended; /* parked by the reader; whoever clears it resumes the connection */
    bool dropped;   /* fell behind: the stream ends with an error */
    int refs;       /* MHD's answer, and a resumer between unlocking and resuming */
    struct viewer *next;
};

struct pending {
    int64_t cmd_id; /* 0: free */
    json_t *answer;
};

struct live_link {
    struct live_hub *hub;
    int64_t series_id;
    char instrument[64];
    enum link_phase phase;
    int fd;
    pid_t pid;
    pthread_t thread;
    bool has_thread;
    pthread_mutex_t write_lock; /* one command line at a time; guards fd against its close */
    /* what a late viewer is sent first: SSE frames ("data: {...}\n\n"), latest of each kind */
    char *hello, *state, *need_dims, *values;
    json_t *hello_json, *state_json;
    char **replay; /* points, dims, control events and the end, in order */
    size_t n_replay, cap_replay, replay_bytes;
    struct pending pending[PENDING_MAX];
    struct viewer *viewers;
    struct live_link *next;
};

struct live_hub {
    pthread_mutex_t lock;
    pthread_cond_t answered; /* a command's answer arrived, or a link ended */
    struct live_link *links;
    int64_t next_cmd_id;
    bool quiescing, closing;
    void (*on_change)(void *ctx, int64_t series_id, const json_t *event);
    void *on_change_ctx;
};

int live_hub_create(struct live_hub **out, struct pd_err *err)
{
    struct live_hub *hub = calloc(1, sizeof *hub);
    if (!hub)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    pthread_mutex_init(&hub->lock, NULL);
    pthread_cond_init(&hub->answered, NULL);
    *out = hub;
    return 0;
}

void live_set_observer(struct live_hub *hub, void (*on_change)(void *ctx, int64_t series_id, const json_t *event),
                       void *ctx)
{
    pthread_mutex_lock(&hub->lock);
    hub->on_change = on_change;
    hub->on_change_ctx = ctx;
    pthread_mutex_unlock(&hub->lock);
}

/* ---- Viewers ---------------------------------------------------------------------------------*/
static void viewer_unref(struct viewer *v) /* hub lock held */
{
    if (--v->refs > 0)
        return;
    free(v->buf);
    free(v);
}

static bool viewer_append(struct viewer *v, const char *frame, size_t n) /* hub lock held */
{
    if (v->dropped)
        return false;
    if (v->len - v->off + n > v->limit) {
        v->dropped = true;
        pd_log(PD_LOG_WARN, "series %lld: a viewer fell %zu bytes behind and was dropped",
               (long long)v->link->series_id, v->len - v->off);
        return true;
    }
    if (v->off > 0 && v->len + n > v->cap) { /* what was sent makes room first */
        memmove(v->buf, v->buf + v->off, v->len - v->off);
        v->len -= v->off;
        v->off = 0;
    }
    if (v->len + n > v->cap) {
        size_t cap = v->cap ? v->cap : 4096;
        while (cap < v->len + n)
            cap *= 2;
        char *grown = realloc(v->buf, cap);
        if (!grown) {
            v->dropped = true;
            return true;
        }
        v->buf = grown;
        v->cap = cap;
    }
    memcpy(v->buf + v->len, frame, n);
    v->len += n;
    return true;
}

/* Resumes the parked viewers in `wake` (collected with the lock held, each with a reference). */
static void wake_viewers(struct live_hub *hub, struct viewer **wake, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mhd.resume_connection(wake[i]->conn);
    pthread_mutex_lock(&hub->lock);
    for (size_t i = 0; i < n; i++)
        viewer_unref(wake[i]);
    pthread_mutex_unlock(&hub->lock);
    free(wake);
}

/* The viewers of `link` to resume after a change: taken with the hub lock held. */
static struct viewer **collect_parked(struct live_link *link, size_t *n_out)
{
    size_t n = 0;
    for (struct viewer *v = link->viewers; v; v = v->next)
        n += v->suspended;
    struct viewer **wake = n ? malloc(n * sizeof *wake) : NULL;
    size_t k = 0;
    for (struct viewer *v = link->viewers; v && wake; v = v->next) {
        if (v->suspended) {
            v->suspended = false;
            v->refs++;
            wake[k++] = v;
        }
    }
    *n_out = k;
    return wake;
}

static void fan_out(struct live_link *link, const char *frame, size_t n)
{
    struct live_hub *hub = link->hub;
    pthread_mutex_lock(&hub->lock);
    for (struct viewer *v = link->viewers; v; v = v->next)
        viewer_append(v, frame, n);
    size_t k;
    struct viewer **wake = collect_parked(link, &k);
    pthread_mutex_unlock(&hub->lock);
    wake_viewers(hub, wake, k);
}

static ssize_t viewer_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    struct viewer *v = cls;
    struct live_hub *hub = v->link->hub;
    pthread_mutex_lock(&hub->lock);
    if (v->dropped || hub->closing) {
        pthread_mutex_unlock(&hub->lock);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (v->off < v->len) {
        size_t n = v->len - v->off < max ? v->len - v->off : max;
        memcpy(out, v->buf + v->off, n);
        v->off += n;
        if (v->off == v->len)
            v->off = v->len = 0;
        pthread_mutex_unlock(&hub->lock);
        return (ssize_t)n;
    }
    if (hub->quiescing || v->link->phase == LINK_ENDED) {
        pthread_mutex_unlock(&hub->lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    /* Nothing to send: park the connection until the next event. A resume that comes between
     * the unlock and the suspend cancels it (MHD counts the resume first), so no event is missed. */
    v->suspended = true;
    pthread_mutex_unlock(&hub->lock);
    mhd.suspend_connection(v->conn);
    return 0;
}

static void viewer_free(void *cls)
{
    struct viewer *v = cls;
    struct live_hub *hub = v->link->hub;
    pthread_mutex_lock(&hub->lock);
    for (struct viewer **p = &v->link->viewers; *p; p = &(*p)->next) {
        if (*p == v) {
            *p = v->next;
            break;
        }
    }
    v->suspended = false;
    viewer_unref(v);
    pthread_mutex_unlock(&hub->lock);
}

static struct live_link *find_link(struct live_hub *hub, int64_t series_id) /* hub lock held */
{
    for (struct live_link *l = hub->links; l; l = l->next)
        if (l->series_id == series_id && series_id != 0)
            return l;
    return NULL;
}

int live_open_stream(struct live_hub *hub, struct srv_call *call, int64_t series_id, struct pd_err *err)
{
    struct viewer *v = calloc(1, sizeof *v);
    if (!v)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    v->conn = call->conn;
    v->refs = 1;
    v->limit = REPLAY_MAX_BYTES + 64 * 1024; /* the replay is all queued at once */
    pthread_mutex_lock(&hub->lock);
    struct live_link *link = find_link(hub, series_id);
    if (!link || hub->quiescing) {
        pthread_mutex_unlock(&hub->lock);
        free(v);
        return pd_err_set(err, PD_ESTATE, NULL,
                          hub->quiescing ? "the server is stopping"
                                         : "the series has no live link (it ended before this server started)");
    }
    v->link = link;
    /* What a late viewer needs first, then whatever comes. */
    const char *first[] = {link->hello, link->state, link->need_dims};
    for (size_t i = 0; i < 3; i++)
        if (first[i])
            viewer_append(v, first[i], strlen(first[i]));
    for (size_t i = 0; i < link->n_replay; i++)
        viewer_append(v, link->replay[i], strlen(link->replay[i]));
    if (link->values)
        viewer_append(v, link->values, strlen(link->values));
    if (!link->hello) /* the stream starts at once, before the run's first event */
        viewer_append(v, ":\n\n", 3);
    v->limit = v->len + VIEWER_BUFFER_MAX; /* from now on: how far behind it may fall */
    struct MHD_Response *resp = mhd.create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, viewer_read, v,
                                                                  viewer_free);
    if (!resp) {
        pthread_mutex_unlock(&hub->lock);
        free(v->buf);
        free(v);
        return pd_err_set(err, PD_ENOMEM, NULL, "cannot make the event stream");
    }
    v->next = link->viewers;
    link->viewers = v;
    pthread_mutex_unlock(&hub->lock);
    call->stream = resp;
    call->status = 200;
    call->content_type = "text/event-stream; charset=utf-8";
    return 0;
}

/* ---- The link's thread: the run's events --------------------------------------------------------*/
static char *make_frame(const char *line, size_t n)
{
    char *f = malloc(n + 9);
    if (!f)
        return NULL;
    memcpy(f, "data: ", 6);
    memcpy(f + 6, line, n);
    memcpy(f + 6 + n, "\n\n", 3);
    return f;
}

static void keep_latest(char **slot, char *frame)
{
    free(*slot);
    *slot = frame;
}

/* One event line from the run: kept for late viewers as its kind needs, then fanned out; an
 * answer goes to the command waiting for it. True for the run's last event ("end"). */
static bool handle_line(struct live_link *link, char *line, size_t n)
{
    struct live_hub *hub = link->hub;
    json_error_t jerr;
    json_t *ev = json_loadb(line, n, 0, &jerr);
    const char *type = json_string_value(json_object_get(ev, "type"));
    if (!ev || !type) {
        pd_log(PD_LOG_WARN, "series %lld: the run sent a line that is not an event (%s)", (long long)link->series_id,
               ev ? "no type" : jerr.text);
        json_decref(ev);
        return false;
    }
    if (strcmp(type, "ack") == 0 || strcmp(type, "error") == 0) { /* answers go to the waiting caller */
        json_int_t id = json_integer_value(json_object_get(ev, "cmd_id"));
        pthread_mutex_lock(&hub->lock);
        bool taken = false;
        for (size_t i = 0; id > 0 && i < PENDING_MAX; i++) {
            if (link->pending[i].cmd_id == id && !link->pending[i].answer) {
                link->pending[i].answer = json_incref(ev);
                taken = true;
            }
        }
        pthread_cond_broadcast(&hub->answered);
        pthread_mutex_unlock(&hub->lock);
        if (!taken)
            pd_log(PD_LOG_WARN, "series %lld: the run answered %s to no waiting command: %.*s",
                   (long long)link->series_id, type, (int)(n < 200 ? n : 200), line);
        json_decref(ev);
        return false;
    }
    char *frame = make_frame(line, n);
    bool is_end = strcmp(type, "end") == 0;
    if (!frame) {
        json_decref(ev);
        return is_end;
    }
    size_t frame_len = n + 8;
    bool notify = false;
    pthread_mutex_lock(&hub->lock);
    if (strcmp(type, "hello") == 0) {
        keep_latest(&link->hello, strdup(frame));
        json_decref(link->hello_json);
        link->hello_json = json_incref(ev);
        pthread_cond_broadcast(&hub->answered); /* live_wait_hello */
        notify = true;
    } else if (strcmp(type, "state") == 0) {
        keep_latest(&link->state, strdup(frame));
        json_decref(link->state_json);
        link->state_json = json_incref(ev);
    } else if (strcmp(type, "need_dims") == 0) {
        keep_latest(&link->need_dims, strdup(frame));
    } else if (strcmp(type, "values") == 0) {
        keep_latest(&link->values, strdup(frame));
    } else if (link->replay_bytes + frame_len <= REPLAY_MAX_BYTES) { /* points, dims, event, end */
        if (link->n_replay == link->cap_replay) {
            size_t cap = link->cap_replay ? 2 * link->cap_replay : 64;
            char **grown = realloc(link->replay, cap * sizeof *grown);
            if (grown) {
                link->replay = grown;
                link->cap_replay = cap;
            }
        }
        if (link->n_replay < link->cap_replay) {
            char *copy = strdup(frame);
            if (copy) {
                link->replay[link->n_replay++] = copy;
                link->replay_bytes += frame_len;
            }
        }
    }
    if (is_end)
        notify = true;
    void (*observer)(void *, int64_t, const json_t *) = hub->on_change;
    void *ctx = hub->on_change_ctx;
    pthread_mutex_unlock(&hub->lock);
    fan_out(link, frame, frame_len);
    free(frame);
    if (notify && observer)
        observer(ctx, link->series_id, ev);
    json_decref(ev);
    return is_end;
}

static void link_ended(struct live_link *link, bool saw_end)
{
    struct live_hub *hub = link->hub;
    pthread_mutex_lock(&link->write_lock);
    if (link->fd >= 0)
        close(link->fd);
    link->fd = -1;
    pthread_mutex_unlock(&link->write_lock);
    if (!saw_end && !hub->closing) {
        /* The socket closed without the run's last word (killed, crashed): the viewers and the
         * server's record say so; the run file's own state is what `polydaq recover` reads. */
        char line[160];
        snprintf(line, sizeof line,
                 "{\"type\":\"end\",\"outcome\":\"interrupted\",\"t\":%lld,\"lost_link\":true}",
                 (long long)pd_clock_utc_ns());
        handle_line(link, line, strlen(line));
    }
    pthread_mutex_lock(&hub->lock);
    link->phase = LINK_ENDED;
    pthread_cond_broadcast(&hub->answered);
    size_t k;
    struct viewer **wake = collect_parked(link, &k); /* their streams end once drained */
    pthread_mutex_unlock(&hub->lock);
    wake_viewers(hub, wake, k);
}

static void *link_thread(void *arg)
{
    struct live_link *link = arg;
    struct live_hub *hub = link->hub;
    char *buf = malloc(LINE_MAX_BYTES + 1);
    size_t len = 0;
    bool skipping = false, saw_end = false;
    int64_t last_beat = pd_clock_mono_ns();
    while (buf && !hub->closing) {
        struct pollfd pfd = {.fd = link->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, 500);
        if (pd_clock_mono_ns() - last_beat > HEARTBEAT_NS) {
            fan_out(link, ":\n\n", 3);
            last_beat = pd_clock_mono_ns();
        }
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        ssize_t got = read(link->fd, buf + len, LINE_MAX_BYTES + 1 - len);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
        size_t start = 0;
        for (size_t i = 0; i < len; i++) {
            if (buf[i] != '\n')
                continue;
            if (!skipping && i > start && handle_line(link, buf + start, i - start))
                saw_end = true;
            skipping = false;
            start = i + 1;
        }
        memmove(buf, buf + start, len - start);
        len -= start;
        if (len > LINE_MAX_BYTES) { /* a line over the protocol's limit: dropped up to its end */
            pd_log(PD_LOG_WARN, "series %lld: the run sent a line over %d bytes; skipped",
                   (long long)link->series_id, LINE_MAX_BYTES);
            len = 0;
            skipping = true;
        }
    }
    free(buf);
    link_ended(link, saw_end);
    /* The server's own child: reaped once it exits (it seals the file after closing the socket). */
    while (link->pid > 0 && !hub->closing) {
        int status;
        pid_t r = waitpid(link->pid, &status, WNOHANG);
        if (r == link->pid || (r < 0 && errno != EINTR))
            break;
        pd_clock_sleep_ns(50 * 1000 * 1000);
    }
    return NULL;
}

/* ---- Reservations, attaching, commands -------------------------------------------------------*/
int live_reserve(struct live_hub *hub, const char *instrument, struct pd_err *err)
{
    pthread_mutex_lock(&hub->lock);
    for (struct live_link *l = hub->links; l; l = l->next) {
        if (l->phase != LINK_ENDED && strcmp(l->instrument, instrument) == 0) {
            int64_t holder = l->series_id;
            pthread_mutex_unlock(&hub->lock);
            return holder ? pd_err_set(err, PD_ESTATE, NULL, "instrument %s is in use by series %lld", instrument,
                                       (long long)holder)
                          : pd_err_set(err, PD_ESTATE, NULL, "instrument %s is being started by someone else",
                                       instrument);
        }
    }
    struct live_link *link = calloc(1, sizeof *link);
    if (!link) {
        pthread_mutex_unlock(&hub->lock);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    }
    link->hub = hub;
    link->fd = -1;
    link->phase = LINK_RESERVED;
    pd_strlcpy(link->instrument, instrument, sizeof link->instrument);
    pthread_mutex_init(&link->write_lock, NULL);
    link->next = hub->links;
    hub->links = link;
    pthread_mutex_unlock(&hub->lock);
    return 0;
}

static struct live_link *reserved(struct live_hub *hub, const char *instrument) /* hub lock held */
{
    for (struct live_link *l = hub->links; l; l = l->next)
        if (l->phase == LINK_RESERVED && strcmp(l->instrument, instrument) == 0)
            return l;
    return NULL;
}

void live_assign(struct live_hub *hub, const char *instrument, int64_t series_id)
{
    pthread_mutex_lock(&hub->lock);
    struct live_link *l = reserved(hub, instrument);
    if (l)
        l->series_id = series_id;
    pthread_mutex_unlock(&hub->lock);
}

void live_release(struct live_hub *hub, const char *instrument)
{
    pthread_mutex_lock(&hub->lock);
    struct live_link *l = reserved(hub, instrument);
    if (l)
        l->phase = LINK_ENDED; /* kept (never freed while the hub lives): no pointer dangles */
    pthread_mutex_unlock(&hub->lock);
}

int live_attach(struct live_hub *hub, int64_t series_id, const char *sock_path, pid_t pid, int wait_ms,
                struct pd_err *err)
{
    pthread_mutex_lock(&hub->lock);
    struct live_link *link = find_link(hub, series_id);
    pthread_mutex_unlock(&hub->lock);
    if (!link || link->phase != LINK_RESERVED)
        return pd_err_set(err, PD_EINVAL, NULL, "series %lld is not reserved", (long long)series_id);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(sock_path) >= sizeof sa.sun_path)
        return pd_err_set(err, PD_ECONFIG, sock_path, "the socket path is too long for a Unix socket");
    memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
    int64_t deadline = pd_clock_mono_ns() + (int64_t)wait_ms * 1000000;
    int fd = -1;
    for (;;) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return pd_err_set_os(err, PD_EIO, errno, sock_path, "cannot make a socket");
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            break;
        int e = errno;
        close(fd);
        fd = -1;
        if (pid > 0) {
            int status;
            if (waitpid(pid, &status, WNOHANG) == pid)
                return pd_err_set(err, PD_EIO, sock_path, "the run ended before it answered (exit status %d)",
                                  WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        }
        if (pd_clock_mono_ns() >= deadline)
            return pd_err_set_os(err, PD_EIO, e, sock_path, "the run's control socket did not answer");
        pd_clock_sleep_ns(50 * 1000 * 1000);
    }
    /* A command write never hangs a request: a run that does not read for 2 s fails it. */
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    pthread_mutex_lock(&hub->lock);
    link->fd = fd;
    link->pid = pid;
    link->phase = LINK_LIVE;
    pthread_mutex_unlock(&hub->lock);
    if (pthread_create(&link->thread, NULL, link_thread, link) != 0) {
        pthread_mutex_lock(&hub->lock);
        link->phase = LINK_ENDED;
        pthread_mutex_unlock(&hub->lock);
        close(fd);
        link->fd = -1;
        return pd_err_set(err, PD_ENOMEM, NULL, "cannot start the series' link thread");
    }
    link->has_thread = true;
    return 0;
}

int live_describe(struct live_hub *hub, int64_t series_id, json_t **state_out, json_t **hello_out)
{
    pthread_mutex_lock(&hub->lock);
    struct live_link *l = find_link(hub, series_id);
    *state_out = l && l->state_json ? json_incref(l->state_json) : NULL;
    *hello_out = l && l->hello_json ? json_incref(l->hello_json) : NULL;
    int phase = l ? (int)l->phase : -1;
    pthread_mutex_unlock(&hub->lock);
    return phase;
}

json_t *live_wait_hello(struct live_hub *hub, int64_t series_id, int wait_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    int64_t ns = until.tv_nsec + (int64_t)wait_ms * 1000000;
    until.tv_sec += ns / 1000000000;
    until.tv_nsec = ns % 1000000000;
    pthread_mutex_lock(&hub->lock);
    struct live_link *l = find_link(hub, series_id);
    while (l && !l->hello_json && l->phase == LINK_LIVE && !hub->closing) {
        if (pthread_cond_timedwait(&hub->answered, &hub->lock, &until) == ETIMEDOUT)
            break;
    }
    json_t *hello = l && l->hello_json ? json_incref(l->hello_json) : NULL;
    pthread_mutex_unlock(&hub->lock);
    return hello;
}

int64_t live_series_on(struct live_hub *hub, const char *instrument)
{
    int64_t id = 0;
    pthread_mutex_lock(&hub->lock);
    for (struct live_link *l = hub->links; l && !id; l = l->next)
        if (l->phase != LINK_ENDED && strcmp(l->instrument, instrument) == 0)
            id = l->series_id;
    pthread_mutex_unlock(&hub->lock);
    return id;
}

int live_command(struct live_hub *hub, int64_t series_id, json_t *cmd, int wait_ms, json_t **answer,
                 struct pd_err *err)
{
    pthread_mutex_lock(&hub->lock);
    struct live_link *link = find_link(hub, series_id);
    if (!link || link->phase != LINK_LIVE) {
        pthread_mutex_unlock(&hub->lock);
        return pd_err_set(err, PD_ESTATE, NULL, "series %lld is not running", (long long)series_id);
    }
    struct pending *slot = NULL;
    for (size_t i = 0; i < PENDING_MAX && !slot; i++)
        if (link->pending[i].cmd_id == 0)
            slot = &link->pending[i];
    if (!slot) {
        pthread_mutex_unlock(&hub->lock);
        return pd_err_set(err, PD_EBUSY, NULL, "too many commands waiting for series %lld", (long long)series_id);
    }
    int64_t id = ++hub->next_cmd_id;
    slot->cmd_id = id;
    slot->answer = NULL;
    pthread_mutex_unlock(&hub->lock);

    json_object_set_new(cmd, "cmd_id", json_integer(id));
    char *text = json_dumps(cmd, JSON_COMPACT);
    int rc = 0;
    if (!text) {
        rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    } else {
        size_t len = strlen(text);
        text[len] = '\n'; /* json_dumps leaves room for its NUL: the line's end takes its place */
        pthread_mutex_lock(&link->write_lock);
        size_t done = 0;
        while (rc == 0 && done < len + 1) {
            ssize_t n = link->fd < 0 ? -1 : send(link->fd, text + done, len + 1 - done, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                rc = pd_err_set(err, link->fd < 0 ? PD_ESTATE : PD_EIO, NULL, "the run of series %lld %s",
                                (long long)series_id, link->fd < 0 ? "has ended" : "does not take commands");
            else
                done += (size_t)n;
        }
        pthread_mutex_unlock(&link->write_lock);
        free(text);
    }
    pthread_mutex_lock(&hub->lock);
    if (rc == 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        int64_t ns = until.tv_nsec + (int64_t)wait_ms * 1000000;
        until.tv_sec += ns / 1000000000;
        until.tv_nsec = ns % 1000000000;
        while (!slot->answer && link->phase == LINK_LIVE && !hub->closing) {
            if (pthread_cond_timedwait(&hub->answered, &hub->lock, &until) == ETIMEDOUT)
                break;
        }
        if (slot->answer)
            *answer = slot->answer;
        else
            rc = link->phase != LINK_LIVE
                     ? pd_err_set(err, PD_ESTATE, NULL, "the run of series %lld ended", (long long)series_id)
                     : pd_err_set(err, PD_ETIMEOUT, NULL, "the run of series %lld did not answer in %d ms",
                                  (long long)series_id, wait_ms);
    }
    slot->cmd_id = 0;
    slot->answer = NULL;
    pthread_mutex_unlock(&hub->lock);
    return rc;
}

/* ---- A series that ended before this server started --------------------------------------------*/
static void link_free(struct live_link *l)
{
    free(l->hello);
    free(l->state);
    free(l->need_dims);
    free(l->values);
    json_decref(l->hello_json);
    json_decref(l->state_json);
    for (size_t i = 0; i < l->n_replay; i++)
        free(l->replay[i]);
    free(l->replay);
    pthread_mutex_destroy(&l->write_lock);
    free(l);
}

int live_load_ended(struct live_hub *hub, int64_t series_id, const char *instrument, char **lines, size_t n,
                    struct pd_err *err)
{
    struct live_link *link = calloc(1, sizeof *link);
    char **replay = n ? calloc(n, sizeof *replay) : NULL;
    if (!link || (n && !replay)) {
        free(link);
        free(replay);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    }
    link->hub = hub;
    link->series_id = series_id;
    link->fd = -1;
    link->phase = LINK_ENDED;
    pd_strlcpy(link->instrument, instrument, sizeof link->instrument);
    pthread_mutex_init(&link->write_lock, NULL);
    link->replay = replay;
    link->cap_replay = n;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t len = strlen(lines[i]);
        char *frame = make_frame(lines[i], len);
        json_t *ev = json_loadb(lines[i], len, 0, NULL);
        const char *type = json_string_value(json_object_get(ev, "type"));
        if (!frame || !ev || !type) {
            free(frame);
            json_decref(ev);
            rc = pd_err_set(err, frame ? PD_EINVAL : PD_ENOMEM, NULL, "a replayed event is not an event");
            break;
        }
        /* As a live link keeps them: the latest hello and state first, the rest in order. */
        if (strcmp(type, "hello") == 0) {
            keep_latest(&link->hello, frame);
            json_decref(link->hello_json);
            link->hello_json = json_incref(ev);
        } else if (strcmp(type, "state") == 0) {
            keep_latest(&link->state, frame);
            json_decref(link->state_json);
            link->state_json = json_incref(ev);
        } else if (link->replay_bytes + len + 8 <= REPLAY_MAX_BYTES || strcmp(type, "end") == 0) {
            link->replay[link->n_replay++] = frame; /* (the end always: the page needs the outcome) */
            link->replay_bytes += len + 8;
        } else { /* as a live link's replay, at most 8 MiB kept */
            free(frame);
        }
        json_decref(ev);
    }
    if (rc < 0) {
        link_free(link);
        return rc;
    }
    pthread_mutex_lock(&hub->lock);
    if (find_link(hub, series_id)) { /* another viewer's load came first: its copy serves */
        pthread_mutex_unlock(&hub->lock);
        link_free(link);
        return 0;
    }
    link->next = hub->links;
    hub->links = link;
    pthread_mutex_unlock(&hub->lock);
    return 0;
}

/* ---- Stop -----------------------------------------------------------------------------------*/
void live_hub_quiesce(struct live_hub *hub)
{
    if (!hub)
        return;
    pthread_mutex_lock(&hub->lock);
    hub->quiescing = true;
    /* Every parked viewer of every series, in one list: each reader then ends its stream. */
    size_t total = 0;
    for (struct live_link *l = hub->links; l; l = l->next)
        for (struct viewer *v = l->viewers; v; v = v->next)
            total += v->suspended;
    struct viewer **all = total ? malloc(total * sizeof *all) : NULL;
    size_t k = 0;
    for (struct live_link *l = hub->links; l && all; l = l->next) {
        for (struct viewer *v = l->viewers; v; v = v->next) {
            if (v->suspended) {
                v->suspended = false;
                v->refs++;
                all[k++] = v;
            }
        }
    }
    pthread_mutex_unlock(&hub->lock);
    wake_viewers(hub, all, k);
}

void live_hub_free(struct live_hub *hub)
{
    if (!hub)
        return;
    pthread_mutex_lock(&hub->lock);
    hub->closing = true;
    pthread_cond_broadcast(&hub->answered);
    pthread_mutex_unlock(&hub->lock);
    for (struct live_link *l = hub->links; l; l = l->next) {
        if (l->has_thread)
            pthread_join(l->thread, NULL);
    }
    while (hub->links) {
        struct live_link *l = hub->links;
        hub->links = l->next;
        if (l->fd >= 0)
            close(l->fd);
        link_free(l);
    }
    pthread_cond_destroy(&hub->answered);
    pthread_mutex_destroy(&hub->lock);
    free(hub);
}
