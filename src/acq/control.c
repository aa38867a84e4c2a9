/* control.c — the station's control socket: a run driven from the lab server over newline-delimited
 * JSON on a Unix stream socket (docs/STATION.md "Protocol"). Its own thread polls the listening
 * socket, every client (non-blocking, each with bounded buffers) and a wake-up pipe; it parses the
 * commands strictly (jansson), hands them to the run through the run's pd_acq_control, fans every
 * event out to all clients and turns the frame's samples (copied by the writer into a lock-free
 * ring) into decimated stress-strain points (control_parse.c: the parser and the decimator). No
 * acquisition thread ever waits for a client. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, pipe2 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "acq/acq_internal.h"

#define POINTS_BUDGET 2000             /* points per specimen sent to clients, in total */
#define BATCH_PERIOD_NS (50 * 1000000LL) /* points batches: at most 20 per second */
#define VALUES_PERIOD_NS (100 * 1000000LL) /* values events: at most 10 per second */
#define TAP_CAPACITY 65536             /* samples between the writer and this thread (a minute at 1 kHz) */
#define QUEUE_MAX 4096                 /* events from the method thread waiting to be sent */
#define CALIPER_WAIT_NS (1500 * 1000000LL)
#define CALIPERS_PENDING 8
#define PROTOCOL_VERSION 1
#define GREETING_UNDER_WAY (SIZE_MAX / 4) /* struct client's greeting while greet() writes it */

struct tap_sample {
    int64_t t;
    double force, ext;
    uint32_t specimen;
};

struct client {
    int fd;
    unsigned id;
    char *in;
    size_t in_len;
    bool skipping; /* the rest of a line longer than the limit is being discarded */
    char *out;
    size_t out_off, out_len, out_cap;
    size_t greeting; /* bytes of the greeting (the series so far) allowed beyond the limit until sent */
};

/* An event line kept for clients that connect later. */
struct kept {
    char **lines;
    size_t n;
};

struct caliper_wait {
    bool used;
    unsigned client;
    bool has_id;
    long long cmd_id;
    size_t specimen, dim;
    char by[PD_ACQ_BY_MAX];
    uint64_t seq0, errors0;
    int64_t deadline;
};

struct pd_acq_station {
    struct pd_acq_control control;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int listen_fd;
    int wake[2];
    pthread_t thread;
    bool thread_started;
    _Atomic int quit;
    struct run *run;
    const struct acq_method *method;
    struct bus *frame, *caliper; /* a recording's "frame" is its first instrument */
    size_t frame_index;
    int ch_force, ch_ext;
    bool recording; /* method record: no dimensions, one curve of ch_force over time (docs/STATION.md) */
    bool shore;     /* method iso868: ch_force = hardness over ch_ext = dwell, each reading one point */
    int64_t t0;     /* a recording's x = 0 (UTC ns): the run's start */
    char file[8400]; /* the run file's absolute path, as hello and end name it */
    struct pd_ring tap;
    bool tap_ready;
    _Atomic uint64_t tap_lost;
    /* under control.lock: the state as last announced, the queue of events to send */
    size_t specimen;
    char state[16], machine[16], outcome[16];
    bool finished, aborted;
    bool ended; /* station thread: the end event went out, nothing follows it */
    bool link_shown_down;   /* station thread: the frame's link as last announced */
    char machine_before[16]; /* under control.lock: the machine state a lost link replaced */
    char abort_by[PD_ACQ_BY_MAX];
    char started_text[PD_ACQ_BY_MAX + 16];
    char *need_dims_line;
    double plot_b[PD_ACQ_MAX_SPECIMENS + 1], plot_h[PD_ACQ_MAX_SPECIMENS + 1], plot_l0[PD_ACQ_MAX_SPECIMENS + 1];
    char **queue;
    size_t n_queue;
    uint64_t queue_dropped;
    /* the station thread only */
    struct client clients[PD_ACQ_STATION_CLIENTS];
    size_t n_clients;
    unsigned next_client_id;
    struct kept dims_kept[PD_ACQ_MAX_SPECIMENS + 1];
    struct acq_point *points[PD_ACQ_MAX_SPECIMENS + 1]; /* each specimen's points as sent */
    size_t n_points[PD_ACQ_MAX_SPECIMENS + 1];
    struct acq_decimator dec;
    uint32_t dec_specimen;
    size_t batch_from; /* points[dec_specimen][batch_from..] not sent yet */
    int64_t batch_ts, last_batch_ns, last_values_ns;
    uint64_t last_values_seq;
    struct caliper_wait calipers[CALIPERS_PENDING];
    size_t out_max;  /* PD_ACQ_STATION_OUT_MAX, or the test hook's */
    int test_sndbuf; /* the test hook: a small socket buffer per client (0: the system's) */
};

/* ---- events -------------------------------------------------------------------------------------*/
static char *event_line(json_t *ev)
{
    json_object_set_new(ev, "t", json_integer(pd_clock_utc_ns()));
    char *s = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    return s;
}

static void wake(struct pd_acq_station *st)
{
    char b = 1;
    ssize_t n = write(st->wake[1], &b, 1); /* a full pipe already means "wake up" */
    (void)n;
}

/* Queues an event for every client (lock held). The queue is bounded: the method thread never
 * waits for the station thread. */
static void queue_locked(struct pd_acq_station *st, json_t *ev)
{
    char *line = event_line(ev);
    if (!line)
        return;
    if (st->n_queue == QUEUE_MAX) {
        st->queue_dropped++;
        free(line);
        return;
    }
    if (!st->queue) {
        st->queue = calloc(QUEUE_MAX, sizeof *st->queue);
        if (!st->queue) {
            free(line);
            return;
        }
    }
    st->queue[st->n_queue++] = line;
}

static json_t *state_event_locked(const struct pd_acq_station *st)
{
    return json_pack("{s:s, s:I, s:s, s:s, s:o}", "type", "state", "specimen", (json_int_t)st->specimen, "state",
                     st->state, "machine", st->machine, "outcome",
                     st->outcome[0] ? json_string(st->outcome) : json_null());
}

static void set_state_locked(struct pd_acq_station *st, size_t specimen, const char *state, const char *machine,
                             const char *outcome)
{
    if (specimen)
        st->specimen = specimen;
    if (state)
        pd_strlcpy(st->state, state, sizeof st->state);
    if (machine)
        pd_strlcpy(st->machine, machine, sizeof st->machine);
    pd_strlcpy(st->outcome, outcome ? outcome : "", sizeof st->outcome);
    queue_locked(st, state_event_locked(st));
}

bool acq_station_active(const struct run *run)
{
    return run->opt->station && run->opt->station->run == run;
}

void acq_station_state(struct run *run, size_t k, const char *state, const char *machine, const char *outcome)
{
    if (!acq_station_active(run))
        return;
    struct pd_acq_station *st = run->opt->station;
    pthread_mutex_lock(&st->control.lock);
    set_state_locked(st, k + 1, state, machine, outcome);
    pthread_mutex_unlock(&st->control.lock);
    wake(st);
}

void acq_station_event(struct run *run, size_t k, const char *kind, const char *by, const char *text)
{
    if (!acq_station_active(run))
        return;
    struct pd_acq_station *st = run->opt->station;
    json_t *ev = json_pack("{s:s, s:s, s:I, s:s, s:s}", "type", "event", "kind", kind, "specimen", (json_int_t)(k + 1),
                           "by", by, "text", text ? text : "");
    pthread_mutex_lock(&st->control.lock);
    if (ev)
        queue_locked(st, ev);
    pthread_mutex_unlock(&st->control.lock);
    wake(st);
}

/* ---- sending --------------------------------------------------------------------------------------*/
static void drop_client(struct pd_acq_station *st, size_t i, const char *why)
{
    struct client *cl = &st->clients[i];
    if (why)
        pd_log(PD_LOG_WARN, "station: client %u dropped: %s", cl->id, why);
    close(cl->fd);
    free(cl->in);
    free(cl->out);
    st->clients[i] = st->clients[--st->n_clients];
}

/* Writes what the socket takes now; false when the client is gone. */
static bool flush_client(struct client *cl)
{
    while (cl->out_off < cl->out_len) {
        ssize_t n = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0)
            return false;
        cl->out_off += (size_t)n;
    }
    if (cl->out_off == cl->out_len) {
        cl->out_off = cl->out_len = 0;
        if (cl->greeting != GREETING_UNDER_WAY)
            cl->greeting = 0; /* all sent: the limit alone counts from here */
    }
    return true;
}

/* Appends a line to one client's buffer and sends what it can; false when the client must go (it
 * left, or more than PD_ACQ_STATION_OUT_MAX bytes wait: it does not read). */
static bool send_line(struct client *cl, size_t out_max, const char *line, size_t len, const char **why)
{
    size_t waiting = cl->out_len - cl->out_off;
    if (waiting + len + 1 > out_max + cl->greeting) {
        *why = "it does not read: the events waiting for it passed the limit";
        return false;
    }
    if (cl->out_off && cl->out_len + len + 1 > cl->out_cap) { /* move the unsent part to the front */
        memmove(cl->out, cl->out + cl->out_off, waiting);
        cl->out_len = waiting;
        cl->out_off = 0;
    }
    if (cl->out_len + len + 1 > cl->out_cap) {
        size_t cap = cl->out_cap ? cl->out_cap : 16384;
        while (cap < cl->out_len + len + 1)
            cap *= 2;
        char *p = realloc(cl->out, cap);
        if (!p) {
            *why = "out of memory";
            return false;
        }
        cl->out = p;
        cl->out_cap = cap;
    }
    memcpy(cl->out + cl->out_len, line, len);
    cl->out[cl->out_len + len] = '\n';
    cl->out_len += len + 1;
    if (!flush_client(cl)) {
        *why = NULL; /* it went away: nothing to warn about */
        return false;
    }
    return true;
}

static void broadcast(struct pd_acq_station *st, const char *line)
{
    size_t len = strlen(line);
    for (size_t i = 0; i < st->n_clients;) {
        const char *why = NULL;
        if (!send_line(&st->clients[i], st->out_max, line, len, &why))
            drop_client(st, i, why);
        else
            i++;
    }
}

static struct client *client_by_id(struct pd_acq_station *st, unsigned id)
{
    for (size_t i = 0; i < st->n_clients; i++)
        if (st->clients[i].id == id)
            return &st->clients[i];
    return NULL;
}

/* A reply (ack or error) to one client; it is dropped at the next look if the line cannot go. */
static void reply(struct pd_acq_station *st, unsigned client, json_t *ev, bool has_id, long long cmd_id)
{
    json_object_set_new(ev, "cmd_id", has_id ? json_integer(cmd_id) : json_null());
    char *line = event_line(ev);
    struct client *cl = client_by_id(st, client);
    if (line && cl) {
        const char *why = NULL;
        if (!send_line(cl, st->out_max, line, strlen(line), &why))
            drop_client(st, (size_t)(cl - st->clients), why);
    }
    free(line);
}

static void reply_error(struct pd_acq_station *st, unsigned client, bool has_id, long long cmd_id, const char *msg)
{
    reply(st, client, json_pack("{s:s, s:s}", "type", "error", "message", msg), has_id, cmd_id);
}

static void reply_ack(struct pd_acq_station *st, unsigned client, bool has_id, long long cmd_id)
{
    reply(st, client, json_pack("{s:s}", "type", "ack"), has_id, cmd_id);
}

/* ---- points ---------------------------------------------------------------------------------------*/
static json_t *points_event(uint32_t specimen, const struct acq_point *p, size_t n)
{
    json_t *x = json_array(), *y = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(x, json_real(p[i].x));
        json_array_append_new(y, json_real(p[i].y));
    }
    return json_pack("{s:s, s:I, s:o, s:o, s:I}", "type", "points", "specimen", (json_int_t)specimen, "x", x, "y", y,
                     "ts", (json_int_t)(n ? p[n - 1].t : 0));
}

static void send_batch(struct pd_acq_station *st)
{
    uint32_t k = st->dec_specimen;
    if (!k || st->batch_from >= st->n_points[k] || st->ended)
        return;
    json_t *ev = points_event(k, st->points[k] + st->batch_from, st->n_points[k] - st->batch_from);
    st->batch_from = st->n_points[k];
    st->last_batch_ns = pd_clock_mono_ns();
    char *line = ev ? event_line(ev) : NULL;
    if (line)
        broadcast(st, line);
    free(line);
}

static void keep_points(struct pd_acq_station *st, uint32_t k, const struct acq_point *p, size_t n)
{
    if (!st->points[k]) {
        st->points[k] = malloc(POINTS_BUDGET * sizeof *st->points[k]);
        if (!st->points[k])
            return;
    }
    for (size_t i = 0; i < n && st->n_points[k] < POINTS_BUDGET; i++)
        st->points[k][st->n_points[k]++] = p[i];
}

/* The specimen whose samples were being decimated ended (or another began): its last points. */
static void close_decimation(struct pd_acq_station *st)
{
    if (!st->dec_specimen)
        return;
    struct acq_point out[ACQ_DECIM_MAX_OUT];
    size_t n = acq_decim_flush(&st->dec, out);
    keep_points(st, st->dec_specimen, out, n);
    send_batch(st);
    st->dec_specimen = 0;
}

/* Turns the samples the writer copied into points of the plot's quantities. */
static void take_samples(struct pd_acq_station *st)
{
    if (!st->tap_ready || st->ended)
        return;
    struct tap_sample buf[256];
    size_t n;
    while ((n = pd_ring_pop(&st->tap, buf, sizeof buf / sizeof buf[0])) > 0) {
        for (size_t i = 0; i < n; i++) {
            uint32_t k = buf[i].specimen;
            if (k == 0 || k > PD_ACQ_MAX_SPECIMENS)
                continue;
            if (k != st->dec_specimen) {
                close_decimation(st);
                st->dec_specimen = k;
                st->batch_from = st->n_points[k];
                acq_decim_init(&st->dec, POINTS_BUDGET - st->n_points[k]);
            }
            pthread_mutex_lock(&st->control.lock);
            double b = st->plot_b[k], h = st->plot_h[k], l0 = st->plot_l0[k];
            pthread_mutex_unlock(&st->control.lock);
            struct acq_point p = {.t = buf[i].t,
                                  .x = l0 > 0 ? buf[i].ext / l0 * 100.0 : buf[i].ext,
                                  .y = b > 0 && h > 0 ? buf[i].force / (b * h) : buf[i].force};
            if (st->recording) /* the first channel over the time since the start, in s */
                p = (struct acq_point){.t = buf[i].t, .x = (double)(buf[i].t - st->t0) / 1e9, .y = buf[i].force};
            else if (st->shore) /* each reading as the durometer held it: hardness at its dwell */
                p = (struct acq_point){.t = buf[i].t, .x = buf[i].ext, .y = buf[i].force};
            if (!isfinite(p.x) || !isfinite(p.y))
                continue; /* an unread channel (NaN) has no place on the plot */
            struct acq_point out[ACQ_DECIM_MAX_OUT];
            size_t got = acq_decim_add(&st->dec, &p, out);
            keep_points(st, k, out, got);
        }
    }
    if (st->dec_specimen && pd_clock_mono_ns() - st->last_batch_ns >= BATCH_PERIOD_NS)
        send_batch(st);
}

void acq_station_tap(struct run *run, size_t bus_index, uint32_t specimen, const int64_t *t_utc,
                     double *const *columns, size_t n)
{
    struct pd_acq_station *st = run->opt->station;
    if (!st || st->run != run || !st->tap_ready || bus_index != st->frame_index)
        return;
    if (st->recording) /* every file of a recording is one curve; 0 = after the recording's end */
        specimen = specimen ? 1 : 0;
    for (size_t i = 0; i < n; i++) {
        struct tap_sample s = {.t = t_utc[i], .force = columns[st->ch_force][i],
                               .ext = st->recording ? 0 : columns[st->ch_ext][i], .specimen = specimen};
        if (!pd_ring_push(&st->tap, &s)) { /* the display falls behind: it loses points, the file none */
            atomic_fetch_add(&st->tap_lost, n - i);
            break;
        }
    }
}

/* ---- values ---------------------------------------------------------------------------------------*/
/* The frame's link: "disconnected" while it is down (the bus reconnects), what it was after. */
static void watch_link(struct pd_acq_station *st)
{
    if (!st->frame || st->ended)
        return;
    pthread_mutex_lock(&st->frame->lock);
    bool down = st->frame->link_down || st->frame->failed;
    pthread_mutex_unlock(&st->frame->lock);
    if (down == st->link_shown_down)
        return;
    st->link_shown_down = down;
    pthread_mutex_lock(&st->control.lock);
    if (down) {
        pd_strlcpy(st->machine_before, st->machine, sizeof st->machine_before);
        set_state_locked(st, 0, NULL, "disconnected", st->outcome[0] ? st->outcome : NULL);
    } else if (strcmp(st->machine, "disconnected") == 0) {
        set_state_locked(st, 0, NULL, st->machine_before, st->outcome[0] ? st->outcome : NULL);
    }
    pthread_mutex_unlock(&st->control.lock);
}

static void send_values(struct pd_acq_station *st)
{
    int64_t now = pd_clock_mono_ns();
    if (!st->frame || st->ended || now - st->last_values_ns < VALUES_PERIOD_NS)
        return;
    st->last_values_ns = now;
    struct pd_reading r;
    uint64_t seq;
    if (!acq_bus_latest(st->frame, &r, &seq) || seq == st->last_values_seq)
        return;
    st->last_values_seq = seq;
    json_t *vals = json_object();
    for (size_t c = 0; c < st->frame->n_channels; c++)
        json_object_set_new(vals, st->frame->channels[c].name,
                            isfinite(r.values[c]) ? json_real(r.values[c]) : json_null());
    pthread_mutex_lock(&st->control.lock);
    size_t k = st->specimen;
    pthread_mutex_unlock(&st->control.lock);
    json_t *ev = json_pack("{s:s, s:I, s:o, s:I}", "type", "values", "specimen", (json_int_t)k, "values", vals, "ts",
                           (json_int_t)pd_timebase_utc(&st->run->tb, r.t_mono_ns));
    char *line = ev ? event_line(ev) : NULL;
    if (line)
        broadcast(st, line);
    free(line);
}

/* ---- commands -------------------------------------------------------------------------------------*/
/* Dimension d of the current specimen accepted (lock held): a "dims" event and, once every
 * prompted one is given, "ready". */
static void accept_dims_locked(struct pd_acq_station *st, size_t specimen, const struct acq_cmd *c, const char *source)
{
    struct pd_acq_control *ctl = &st->control;
    const struct acq_dim *dims = st->method->dims;
    json_t *values = json_object(), *sources = json_object();
    for (size_t i = 0; i < c->n_values; i++) {
        size_t d = c->dim[i];
        ctl->dim_given[d] = true;
        ctl->dim_value[d] = c->value[i];
        pd_strlcpy(ctl->dim_by[d], c->by, sizeof ctl->dim_by[d]);
        if (strncmp(source, "caliper", 7) == 0)
            pd_strlcpy(ctl->dim_source[d], source, sizeof ctl->dim_source[d]);
        else
            pd_strlcpy(ctl->dim_source[d], "typed", sizeof ctl->dim_source[d]);
        json_object_set_new(values, dims[d].key, json_real(c->value[i]));
        json_object_set_new(sources, dims[d].key, json_string(strncmp(source, "caliper", 7) == 0 ? "caliper" : "typed"));
    }
    json_t *ev = json_pack("{s:s, s:I, s:o, s:o, s:s}", "type", "dims", "specimen", (json_int_t)specimen, "values",
                           values, "source", sources, "by", c->by);
    if (ev)
        queue_locked(st, ev);
    bool complete = true;
    for (size_t d = 0; d < st->method->n_dims; d++)
        complete = complete && (!dims[d].prompted || ctl->dim_given[d]);
    if (complete && strcmp(st->state, "waiting_dims") == 0)
        set_state_locked(st, specimen, "ready", NULL, NULL);
}

/* What the series is doing, for a refused command (lock held). */
static void state_words_locked(const struct pd_acq_station *st, char *buf, size_t size)
{
    if (st->finished)
        snprintf(buf, size, "the series has finished");
    else if (strcmp(st->state, "waiting_dims") == 0)
        snprintf(buf, size, "specimen %zu waits for its dimensions", st->specimen);
    else if (strcmp(st->state, "ready") == 0)
        snprintf(buf, size, "specimen %zu is ready", st->specimen);
    else if (strcmp(st->state, "running") == 0)
        snprintf(buf, size, "specimen %zu is running", st->specimen);
    else
        snprintf(buf, size, "specimen %zu is %s", st->specimen, st->state);
}

/* The command-line's dims against the method's own rule for a whole specimen (gauge length
 * shorter than the grip distance), with the values already given. */
static int dims_consistent_locked(struct pd_acq_station *st, const struct acq_cmd *c, char *why, size_t size)
{
    const struct acq_method *m = st->method;
    if (!m->dims_consistent)
        return 0;
    double v[ACQ_MAX_DIMS];
    m->dim_defaults(st->run->cfg->method_params, v);
    for (size_t d = 0; d < m->n_dims; d++)
        if (st->control.dim_given[d])
            v[d] = st->control.dim_value[d];
    for (size_t i = 0; i < c->n_values; i++)
        v[c->dim[i]] = c->value[i];
    return m->dims_consistent(st->run->cfg->method_params, v, why, size);
}

static void start_caliper(struct pd_acq_station *st, unsigned client, const struct acq_cmd *c)
{
    if (!st->caliper) {
        reply_error(st, client, c->has_id, c->cmd_id, "this run has no caliper (specimen: caliper in the lab config)");
        return;
    }
    size_t slot = CALIPERS_PENDING;
    for (size_t i = 0; i < CALIPERS_PENDING; i++)
        if (!st->calipers[i].used)
            slot = i;
    if (slot == CALIPERS_PENDING) {
        reply_error(st, client, c->has_id, c->cmd_id, "too many caliper readings pending");
        return;
    }
    struct caliper_wait *w = &st->calipers[slot];
    memset(w, 0, sizeof *w);
    w->used = true;
    w->client = client;
    w->has_id = c->has_id;
    w->cmd_id = c->cmd_id;
    w->specimen = c->specimen;
    w->dim = c->dim[0];
    pd_strlcpy(w->by, c->by, sizeof w->by);
    struct pd_reading r;
    acq_bus_latest(st->caliper, &r, &w->seq0);
    w->errors0 = atomic_load(&st->caliper->n_errors);
    w->deadline = pd_clock_mono_ns() + CALIPER_WAIT_NS;
}

/* A pending caliper reading: the first good reading after the command, or the caliper's error. */
static void serve_calipers(struct pd_acq_station *st)
{
    for (size_t i = 0; i < CALIPERS_PENDING; i++) {
        struct caliper_wait *w = &st->calipers[i];
        if (!w->used)
            continue;
        struct bus *b = st->caliper;
        const struct acq_dim *d = &st->method->dims[w->dim];
        struct pd_reading r;
        uint64_t seq;
        char msg[600];
        bool have = acq_bus_latest(b, &r, &seq) && seq > w->seq0;
        uint64_t errors = atomic_load(&b->n_errors);
        if (have) {
            double v = r.values[0];
            if (r.quality & (PD_Q_RANGE | PD_Q_UNREAD_CHANNEL(0)) || !isfinite(v) || v < d->min || v > d->max) {
                snprintf(msg, sizeof msg, "%s reads %g mm: outside the range %g..%g mm for the %s; nothing stored",
                         b->cfg->name, v, d->min, d->max, d->key);
                reply_error(st, w->client, w->has_id, w->cmd_id, msg);
                w->used = false;
                continue;
            }
            struct acq_cmd c = {.kind = ACQ_CMD_DIMS, .n_values = 1, .dim = {w->dim}, .value = {v}};
            pd_strlcpy(c.by, w->by, sizeof c.by);
            char source[160], why[300];
            snprintf(source, sizeof source, "caliper %.31s %.63s s/n %.40s", b->cfg->name, b->info.model,
                     b->info.serial[0] ? b->info.serial : "unknown");
            pthread_mutex_lock(&st->control.lock);
            bool current = st->control.dims_specimen == w->specimen &&
                           (strcmp(st->state, "waiting_dims") == 0 || strcmp(st->state, "ready") == 0) &&
                           !st->control.start_by[0];
            int consistent = current ? dims_consistent_locked(st, &c, why, sizeof why) : 0;
            if (current && consistent == 0)
                accept_dims_locked(st, w->specimen, &c, source);
            pthread_mutex_unlock(&st->control.lock);
            if (!current)
                reply_error(st, w->client, w->has_id, w->cmd_id, "the specimen no longer takes dimensions");
            else if (consistent < 0)
                reply_error(st, w->client, w->has_id, w->cmd_id, why);
            else
                reply_ack(st, w->client, w->has_id, w->cmd_id);
            if (current && consistent == 0) {
                char text[200];
                snprintf(text, sizeof text, "%s %.6g mm from %s", d->key, v, source);
                acq_run_event(st->run, w->specimen - 1, "dims", text);
                acq_station_event(st->run, w->specimen - 1, "dims", w->by, text);
            }
            w->used = false;
        } else if (errors > w->errors0 || pd_clock_mono_ns() > w->deadline) {
            pthread_mutex_lock(&b->lock);
            char last[256];
            pd_strlcpy(last, b->last_error, sizeof last);
            bool down = b->link_down;
            pthread_mutex_unlock(&b->lock);
            if (errors > w->errors0 && last[0])
                snprintf(msg, sizeof msg, "caliper %s: %s; nothing stored", b->cfg->name, last);
            else
                snprintf(msg, sizeof msg, "caliper %s gave no reading in %.1f s%s; nothing stored", b->cfg->name,
                         (double)CALIPER_WAIT_NS / 1e9, down ? " (link down)" : "");
            reply_error(st, w->client, w->has_id, w->cmd_id, msg);
            w->used = false;
        }
    }
}

/* What a recording does not take: it has no specimens' dimensions, no crosshead, nothing to start
 * (it records from the run's start) and no specimen to mark invalid. */
static bool recording_refuses(enum acq_cmd_kind kind, char *why, size_t size)
{
    const char *no = kind == ACQ_CMD_DIMS || kind == ACQ_CMD_CALIPER ? "a recording has no specimens' dimensions"
                     : kind == ACQ_CMD_START   ? "a recording runs from the run's start: nothing to start"
                     : kind == ACQ_CMD_RETURN  ? "a recording has no crosshead to return"
                     : kind == ACQ_CMD_INVALID ? "a recording has no specimen to mark invalid: add a note"
                                               : NULL;
    if (no)
        snprintf(why, size, "%s", no);
    return no != NULL;
}

static void handle_command(struct pd_acq_station *st, unsigned client, const char *line, size_t len)
{
    struct acq_cmd c;
    bool has_id;
    long long cmd_id = 0;
    char why[400];
    if (acq_cmd_parse(line, len, st->method->dims, st->method->n_dims, &c, &has_id, &cmd_id, why, sizeof why) < 0) {
        reply_error(st, client, has_id, cmd_id, why);
        return;
    }
    struct pd_acq_control *ctl = &st->control;
    size_t planned = st->recording ? 1 : (size_t)st->run->cfg->specimens;
    if (st->recording && recording_refuses(c.kind, why, sizeof why)) {
        reply_error(st, client, has_id, cmd_id, why);
        return;
    }
    if (st->shore && c.kind == ACQ_CMD_RETURN) {
        reply_error(st, client, has_id, cmd_id, "a durometer has no crosshead to return");
        return;
    }
    if ((c.kind == ACQ_CMD_DIMS || c.kind == ACQ_CMD_CALIPER || c.kind == ACQ_CMD_INVALID || c.kind == ACQ_CMD_NOTE) &&
        c.specimen > planned) {
        snprintf(why, sizeof why, "specimen %zu is not in the series of %zu", c.specimen, planned);
        reply_error(st, client, has_id, cmd_id, why);
        return;
    }
    char now[120], text[PD_ACQ_NOTE_MAX + 200];
    const char *refused = NULL;
    struct pd_err e;
    pthread_mutex_lock(&ctl->lock);
    state_words_locked(st, now, sizeof now);
    bool between = !st->finished && (strcmp(st->state, "waiting_dims") == 0 || strcmp(st->state, "ready") == 0);
    bool takes_dims = between && !ctl->start_by[0] && !ctl->abort_by[0] && ctl->dims_specimen == st->specimen;
    switch (c.kind) {
    case ACQ_CMD_DIMS:
    case ACQ_CMD_CALIPER:
        if (!takes_dims || c.specimen != st->specimen) {
            snprintf(why, sizeof why, "specimen %zu does not take dimensions now: %s", c.specimen, now);
            refused = why;
        } else if (c.kind == ACQ_CMD_DIMS && dims_consistent_locked(st, &c, why, sizeof why) < 0) {
            refused = why;
        } else if (c.kind == ACQ_CMD_DIMS) {
            accept_dims_locked(st, c.specimen, &c, "typed");
        }
        break;
    case ACQ_CMD_START:
        if (!between || strcmp(st->state, "ready") != 0 || ctl->start_by[0] || ctl->abort_by[0] ||
            ctl->return_by[0])
            refused = ctl->start_by[0] ? "the specimen is already starting" : ctl->return_by[0] ? "the crosshead is returning" : now;
        else
            pd_strlcpy(ctl->start_by, c.by, sizeof ctl->start_by);
        break;
    case ACQ_CMD_STOP:
        if (st->finished || strcmp(st->state, "running") != 0 || ctl->stop_by[0] || ctl->abort_by[0]) {
            snprintf(why, sizeof why, "no specimen is running: %s", now);
            refused = why;
        } else {
            pd_strlcpy(ctl->stop_by, c.by, sizeof ctl->stop_by);
        }
        break;
    case ACQ_CMD_ABORT:
        if (!st->recording && !st->finished && st->specimen == planned &&
            (strcmp(st->state, "done") == 0 || strcmp(st->state, "returning") == 0))
            refused = "the last specimen is done: the series is ending, nothing to abort";
        else if (st->finished || ctl->abort_by[0])
            refused = st->finished ? now : "the series is already being aborted";
        else
            pd_strlcpy(ctl->abort_by, c.by, sizeof ctl->abort_by);
        break;
    case ACQ_CMD_RETURN:
        if (!between || ctl->start_by[0] || ctl->return_by[0]) {
            snprintf(why, sizeof why, "the crosshead returns between specimens only: %s", now);
            refused = why;
        } else {
            pd_strlcpy(ctl->return_by, c.by, sizeof ctl->return_by);
        }
        break;
    case ACQ_CMD_NOTE:
        /* A recording's notes are queued here, under the same lock as the check: its method
         * applies them once more after it marked itself done, so none is acknowledged and lost. */
        if (st->recording && (st->finished || strcmp(st->state, "running") != 0)) {
            refused = "the recording is ending: no more notes";
        } else if (st->recording && ctl->n_notes == PD_ACQ_NOTES_QUEUED) {
            refused = "too many notes wait to be written";
        } else if (st->recording) {
            struct pd_acq_note *m = &ctl->notes[ctl->n_notes++];
            m->specimen = c.specimen;
            pd_strlcpy(m->text, c.text, sizeof m->text);
            pd_strlcpy(m->who, c.by, sizeof m->who);
        }
        break;
    case ACQ_CMD_INVALID: break;
    }
    pthread_cond_broadcast(&ctl->changed);
    pthread_mutex_unlock(&ctl->lock);
    if (!refused && c.kind == ACQ_CMD_INVALID && pd_acq_mark_invalid(ctl, c.specimen, c.text, c.by, &e) < 0)
        refused = e.msg;
    if (!refused && c.kind == ACQ_CMD_NOTE && !st->recording && pd_acq_add_note(ctl, c.specimen, c.text, c.by, &e) < 0)
        refused = e.msg;
    if (refused) {
        reply_error(st, client, has_id, cmd_id, refused);
        return;
    }
    if (c.kind == ACQ_CMD_CALIPER) {
        start_caliper(st, client, &c); /* acknowledged (or refused) once the caliper has answered */
        return;
    }
    reply_ack(st, client, has_id, cmd_id);
    /* Actions the method thread carries out announce themselves when done (start, stop, abort,
     * return); these are complete now. */
    switch (c.kind) {
    case ACQ_CMD_DIMS: {
        size_t used = 0;
        text[0] = '\0';
        for (size_t i = 0; i < c.n_values; i++) {
            int w = snprintf(text + used, sizeof text - used, "%s%s %.6g mm", i ? ", " : "",
                             st->method->dims[c.dim[i]].key, c.value[i]);
            if (w > 0 && (size_t)w < sizeof text - used)
                used += (size_t)w;
        }
        snprintf(text + used, sizeof text - used, " typed (by %.127s)", c.by);
        acq_run_event(st->run, c.specimen - 1, "dims", text);
        acq_station_event(st->run, c.specimen - 1, "dims", c.by, text);
        break;
    }
    case ACQ_CMD_INVALID:
        acq_station_event(st->run, c.specimen - 1, "invalid", c.by, c.text);
        break;
    case ACQ_CMD_NOTE: acq_station_event(st->run, c.specimen - 1, "note", c.by, c.text); break;
    default: break;
    }
}

/* ---- clients --------------------------------------------------------------------------------------*/
/* The greeting is as long as the series so far (up to 2000 points per specimen): it may exceed
 * the limit, which then counts only what is queued beyond it. */
static void greet(struct pd_acq_station *st, struct client *cl)
{
    cl->greeting = GREETING_UNDER_WAY;
    const struct run *run = st->run;
    json_t *channels = json_array();
    for (size_t c = 0; st->frame && c < st->frame->n_channels; c++)
        json_array_append_new(channels, json_pack("{s:s, s:s}", "name", st->frame->channels[c].name, "unit",
                                                  st->frame->channels[c].unit));
    /* the plot's axes: stress-strain; a recording's first channel over time; a durometer's hardness
     * over the dwell of each reading */
    const char *x = "strain", *x_unit = "%", *y = "stress", *y_unit = "MPa";
    if (st->recording && st->frame) {
        x = "time", x_unit = "s";
        y = st->frame->channels[st->ch_force].name, y_unit = st->frame->channels[st->ch_force].unit;
    } else if (st->shore && st->frame) {
        x = st->frame->channels[st->ch_ext].name, x_unit = st->frame->channels[st->ch_ext].unit;
        y = st->frame->channels[st->ch_force].name, y_unit = st->frame->channels[st->ch_force].unit;
    }
    json_t *hello = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:o, s:{s:s, s:s, s:s, s:s}, s:i}", "type", "hello",
                              "run_id", run->run_id, "file", st->file, "method", run->cfg->method,
                              "specimens", (json_int_t)(st->recording ? 1 : run->cfg->specimens), "instrument",
                              st->frame ? st->frame->cfg->name : "", "channels", channels, "plot", "x", x,
                              "x_unit", x_unit, "y", y, "y_unit", y_unit, "protocol", PROTOCOL_VERSION);
    if (hello && st->recording)
        json_object_set_new(hello, "t0", json_integer(st->t0));
    char *lines[4] = {0};
    size_t n = 0;
    lines[n++] = hello ? event_line(hello) : NULL;
    pthread_mutex_lock(&st->control.lock);
    lines[n++] = event_line(state_event_locked(st));
    bool asking = !st->finished && (strcmp(st->state, "waiting_dims") == 0 || strcmp(st->state, "ready") == 0);
    lines[n++] = asking && st->need_dims_line ? strdup(st->need_dims_line) : NULL;
    pthread_mutex_unlock(&st->control.lock);
    const char *why = NULL;
    bool ok = true;
    for (size_t i = 0; i < 2 && ok; i++)
        ok = !lines[i] || send_line(cl, st->out_max, lines[i], strlen(lines[i]), &why);
    /* the series so far: each specimen's dimensions and points */
    for (size_t k = 1; ok && k <= PD_ACQ_MAX_SPECIMENS; k++) {
        for (size_t j = 0; ok && j < st->dims_kept[k].n; j++)
            ok = send_line(cl, st->out_max, st->dims_kept[k].lines[j], strlen(st->dims_kept[k].lines[j]), &why);
        if (ok && st->n_points[k]) {
            size_t upto = k == st->dec_specimen ? st->batch_from : st->n_points[k];
            json_t *ev = upto ? points_event((uint32_t)k, st->points[k], upto) : NULL;
            char *line = ev ? event_line(ev) : NULL;
            if (line)
                ok = send_line(cl, st->out_max, line, strlen(line), &why);
            free(line);
        }
    }
    if (ok && lines[2])
        ok = send_line(cl, st->out_max, lines[2], strlen(lines[2]), &why);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    if (!ok) {
        drop_client(st, (size_t)(cl - st->clients), why);
        return;
    }
    cl->greeting = cl->out_len - cl->out_off; /* 0 when the socket took it all */
}

static void accept_clients(struct pd_acq_station *st)
{
    for (;;) {
        int fd = accept4(st->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (st->n_clients == PD_ACQ_STATION_CLIENTS) {
            static const char full[] = "{\"type\":\"error\",\"message\":\"too many clients\",\"cmd_id\":null}\n";
            ssize_t w = send(fd, full, sizeof full - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
            (void)w;
            close(fd);
            continue;
        }
        struct client *cl = &st->clients[st->n_clients++];
        memset(cl, 0, sizeof *cl);
        cl->fd = fd;
        cl->id = ++st->next_client_id;
        if (st->test_sndbuf)
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &st->test_sndbuf, sizeof st->test_sndbuf);
        cl->in = malloc(PD_ACQ_STATION_LINE_MAX + 1);
        if (!cl->in) {
            drop_client(st, st->n_clients - 1, "out of memory");
            continue;
        }
        greet(st, cl);
    }
}

/* Reads what a client sent and serves each complete line; false when it must go. */
static bool read_client(struct pd_acq_station *st, size_t i)
{
    struct client *cl = &st->clients[i];
    unsigned id = cl->id;
    char buf[8192];
    ssize_t n = recv(cl->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return true;
    if (n <= 0)
        return false;
    for (ssize_t j = 0; j < n; j++) {
        cl = client_by_id(st, id); /* a reply may have dropped it */
        if (!cl)
            return true;
        char ch = buf[j];
        if (ch == '\n') {
            if (cl->skipping) {
                cl->skipping = false;
                continue;
            }
            size_t len = cl->in_len;
            if (len && cl->in[len - 1] == '\r')
                len--;
            cl->in_len = 0;
            if (len)
                handle_command(st, id, cl->in, len);
            continue;
        }
        if (cl->skipping)
            continue;
        if (cl->in_len == PD_ACQ_STATION_LINE_MAX) {
            cl->in_len = 0;
            cl->skipping = true;
            reply_error(st, id, false, 0, "line longer than 64 KiB: ignored");
            continue;
        }
        cl->in[cl->in_len++] = ch;
    }
    return true;
}

/* Events the method thread queued, in order; dims and need_dims are also kept for late clients. */
static void send_queue(struct pd_acq_station *st)
{
    pthread_mutex_lock(&st->control.lock);
    char **q = st->queue;
    size_t n = st->n_queue;
    st->queue = NULL;
    st->n_queue = 0;
    pthread_mutex_unlock(&st->control.lock);
    for (size_t i = 0; i < n; i++) {
        json_t *ev = json_loads(q[i], 0, NULL);
        const char *type = ev ? json_string_value(json_object_get(ev, "type")) : NULL;
        size_t k = ev ? (size_t)json_integer_value(json_object_get(ev, "specimen")) : 0;
        if (type && strcmp(type, "state") == 0 && st->dec_specimen &&
            strcmp(json_string_value(json_object_get(ev, "state")), "running") != 0) {
            take_samples(st); /* the specimen ended: its last points before the state says so */
            close_decimation(st);
        }
        if (type && strcmp(type, "end") == 0) { /* the last points first: nothing follows the end */
            take_samples(st);
            close_decimation(st);
            st->ended = true;
        }
        if (type && strcmp(type, "dims") == 0 && k >= 1 && k <= PD_ACQ_MAX_SPECIMENS) {
            struct kept *kp = &st->dims_kept[k];
            char **lines = realloc(kp->lines, (kp->n + 1) * sizeof *lines);
            if (lines) {
                kp->lines = lines;
                kp->lines[kp->n] = strdup(q[i]);
                if (kp->lines[kp->n])
                    kp->n++;
            }
        }
        json_decref(ev);
        broadcast(st, q[i]);
        free(q[i]);
    }
    free(q);
}

static void *station_main(void *arg)
{
    struct pd_acq_station *st = arg;
    for (;;) {
        struct pollfd p[2 + PD_ACQ_STATION_CLIENTS];
        size_t n = 0;
        p[n++] = (struct pollfd){.fd = st->wake[0], .events = POLLIN};
        p[n++] = (struct pollfd){.fd = st->listen_fd, .events = POLLIN};
        for (size_t i = 0; i < st->n_clients; i++)
            p[n++] = (struct pollfd){.fd = st->clients[i].fd,
                                     .events = POLLIN | (st->clients[i].out_len > st->clients[i].out_off ? POLLOUT : 0)};
        int pr = poll(p, n, 20);
        if (pr < 0 && errno != EINTR) {
            pd_log(PD_LOG_ERROR, "station: poll: %s", strerror(errno));
            pd_clock_sleep_ns(20 * 1000000LL);
        }
        if (pr > 0 && (p[0].revents & POLLIN)) {
            char drain[64];
            while (read(st->wake[0], drain, sizeof drain) > 0) {
            }
        }
        send_queue(st);
        take_samples(st);
        /* clients, by id: serving one may drop another */
        unsigned ids[PD_ACQ_STATION_CLIENTS];
        short rev[PD_ACQ_STATION_CLIENTS];
        size_t nc = st->n_clients;
        for (size_t i = 0; i < nc; i++) {
            ids[i] = st->clients[i].id;
            rev[i] = pr > 0 ? p[2 + i].revents : 0;
        }
        for (size_t i = 0; i < nc; i++) {
            struct client *cl = client_by_id(st, ids[i]);
            if (!cl)
                continue;
            bool ok = true;
            if (rev[i] & POLLOUT)
                ok = flush_client(cl);
            if (ok && (rev[i] & (POLLIN | POLLHUP | POLLERR)))
                ok = read_client(st, (size_t)(cl - st->clients));
            cl = client_by_id(st, ids[i]);
            if (!ok && cl)
                drop_client(st, (size_t)(cl - st->clients), NULL);
        }
        if (pr > 0 && (p[1].revents & POLLIN))
            accept_clients(st);
        serve_calipers(st);
        watch_link(st);
        send_values(st);
        if (atomic_load(&st->quit)) {
            send_queue(st); /* the end event */
            break;
        }
    }
    /* Give readers a moment for the last lines (the end event), never long. */
    int64_t until = pd_clock_mono_ns() + 1000 * 1000000LL;
    while (pd_clock_mono_ns() < until) {
        bool pending = false;
        for (size_t i = 0; i < st->n_clients; i++) {
            flush_client(&st->clients[i]);
            pending = pending || st->clients[i].out_len > st->clients[i].out_off;
        }
        if (!pending)
            break;
        pd_clock_sleep_ns(10 * 1000000LL);
    }
    while (st->n_clients)
        drop_client(st, 0, NULL);
    return NULL;
}

/* ---- the run's side ---------------------------------------------------------------------------------*/
int acq_station_check(const struct pd_acq_config *cfg, struct pd_err *err)
{
    const struct acq_method *m = acq_method_find(cfg->method);
    if (strcmp(m->name, "record") == 0)
        return PD_OK;
    if (!m->dims || m->one_entry_per_file || (strcmp(m->name, "iso527") != 0 && strcmp(m->name, "iso868") != 0))
        return pd_err_set(err, PD_ECONFIG, pd_cfg_source_name(cfg->doc),
                          "method %s cannot be driven from a station yet (iso527, iso868 and record can)", cfg->method);
    return PD_OK;
}

static void absolute_path(const char *path, char *out, size_t size)
{
    char cwd[4096];
    if (path[0] != '/' && getcwd(cwd, sizeof cwd))
        snprintf(out, size, "%s/%s", cwd, path);
    else
        pd_strlcpy(out, path, size);
}

int acq_station_start(struct run *run, struct pd_err *err)
{
    struct pd_acq_station *st = run->opt->station;
    if (!st)
        return PD_OK;
    const struct acq_method *m = acq_method_find(run->cfg->method);
    st->method = m;
    absolute_path(run->result->path, st->file, sizeof st->file);
    st->recording = strcmp(m->name, "record") == 0;
    if (st->recording && run->n_buses && run->buses[0].n_channels) {
        st->frame = &run->buses[0];
        st->frame_index = 0;
        st->ch_force = 0;
        st->t0 = run->tb.utc0_ns; /* the run's start: the file's start_time_ns, as its replay counts */
    }
    st->shore = strcmp(m->name, "iso868") == 0;
    for (size_t i = 0; st->shore && i < run->n_buses && !st->frame; i++)
        if (acq_bus_find_channel(&run->buses[i], "hardness") >= 0 && acq_bus_find_channel(&run->buses[i], "dwell") >= 0) {
            st->frame = &run->buses[i]; /* the durometer, as method_shore.c finds it */
            st->frame_index = i;
            st->ch_force = acq_bus_find_channel(&run->buses[i], "hardness");
            st->ch_ext = acq_bus_find_channel(&run->buses[i], "dwell");
        }
    for (size_t i = 0; !st->shore && i < run->n_buses && !st->frame; i++)
        if (acq_bus_find_channel(&run->buses[i], "force") >= 0 && acq_bus_find_channel(&run->buses[i], "extension") >= 0) {
            st->frame = &run->buses[i];
            st->frame_index = i;
            st->ch_force = acq_bus_find_channel(&run->buses[i], "force");
            st->ch_ext = acq_bus_find_channel(&run->buses[i], "extension");
        }
    const char *cname = m->caliper ? m->caliper(run->cfg->method_params) : "";
    for (size_t i = 0; cname[0] && i < run->n_buses; i++)
        if (strcmp(run->buses[i].cfg->name, cname) == 0)
            st->caliper = &run->buses[i];
    if (st->frame && pd_ring_init(&st->tap, sizeof(struct tap_sample), TAP_CAPACITY) == PD_OK)
        st->tap_ready = true;
    pthread_mutex_lock(&st->control.lock);
    st->specimen = 1;
    pd_strlcpy(st->state, st->recording ? "running" : "waiting_dims", sizeof st->state);
    pd_strlcpy(st->machine, st->recording ? "recording" : "idle", sizeof st->machine);
    pthread_mutex_unlock(&st->control.lock);
    st->run = run;
    if (pthread_create(&st->thread, NULL, station_main, st) != 0) {
        st->run = NULL;
        return pd_err_set(err, PD_ENOMEM, NULL, "cannot start the station's thread");
    }
    st->thread_started = true;
    pd_log(PD_LOG_INFO, "station: serving %s", st->path);
    return PD_OK;
}

void acq_station_finish(struct run *run, const char *outcome, const char *reason)
{
    struct pd_acq_station *st = run->opt->station;
    if (!st || !st->thread_started)
        return;
    if (st->recording) /* the end names the recording's last file */
        absolute_path(run->path, st->file, sizeof st->file);
    pthread_mutex_lock(&st->control.lock);
    const char *said = st->aborted && strcmp(outcome, "interrupted") == 0 ? "aborted" : outcome;
    st->finished = true;
    set_state_locked(st, 0, "finished", st->aborted ? "aborted" : "idle", said);
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s}", "type", "end", "outcome", said, "file", st->file,
                           "reason", reason);
    if (ev)
        queue_locked(st, ev);
    pthread_mutex_unlock(&st->control.lock);
    atomic_store(&st->quit, 1);
    wake(st);
    pthread_join(st->thread, NULL);
    st->thread_started = false;
    if (st->queue_dropped || atomic_load(&st->tap_lost))
        pd_log(PD_LOG_WARN, "station: %llu events and %llu display samples dropped (clients too slow)",
               (unsigned long long)st->queue_dropped, (unsigned long long)atomic_load(&st->tap_lost));
}

void acq_control_apply_notes(struct run *run)
{
    struct pd_acq_control *c = run->opt->control;
    if (!c)
        return;
    struct pd_acq_note notes[PD_ACQ_NOTES_QUEUED];
    pthread_mutex_lock(&c->lock);
    size_t n = c->n_notes;
    memcpy(notes, c->notes, n * sizeof notes[0]);
    c->n_notes = 0;
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < n; i++) {
        char text[PD_ACQ_NOTE_MAX + PD_ACQ_BY_MAX + 16];
        snprintf(text, sizeof text, "%s (by %s)", notes[i].text, notes[i].who);
        acq_run_event(run, notes[i].specimen <= (size_t)run->cfg->specimens ? notes[i].specimen - 1 : SIZE_MAX, "note",
                      text);
    }
}

/* Carries out a return request between specimens (method thread; lock not held). */
static void do_return(struct run *run, struct pd_acq_station *st, size_t k, const char *by)
{
    acq_station_state(run, k, "returning", "moving", NULL);
    struct pd_err e;
    int rc = st->frame ? acq_bus_command_optional(st->frame, "return", 1, &e) : PD_OK;
    char text[500];
    snprintf(text, sizeof text, "crosshead return by %.127s%s%.200s", by, rc < 0 ? ": failed: " : "", rc < 0 ? e.msg : "");
    acq_run_event(run, k, "return", text);
    acq_station_event(run, k, "return", by, rc < 0 ? text : "crosshead returned");
}

int acq_station_obtain_dims(struct run *run, size_t k, struct acq_specimen_dims *out, struct pd_acq_result *result)
{
    struct pd_acq_station *st = run->opt->station;
    struct pd_acq_control *c = &st->control;
    const struct acq_method *m = st->method;
    double def[ACQ_MAX_DIMS];
    m->dim_defaults(run->cfg->method_params, def);
    json_t *fields = json_array();
    for (size_t d = 0; d < m->n_dims; d++)
        json_array_append_new(fields, json_pack("{s:s, s:s, s:f, s:f, s:f, s:b}", "name", m->dims[d].key, "unit", "mm",
                                                "min", m->dims[d].min, "max", m->dims[d].max, "value", def[d],
                                                "required", m->dims[d].prompted));
    json_t *need = json_pack("{s:s, s:I, s:o}", "type", "need_dims", "specimen", (json_int_t)(k + 1), "fields", fields);
    pthread_mutex_lock(&c->lock);
    c->dims_specimen = k + 1;
    memset(c->dim_given, 0, sizeof c->dim_given);
    c->start_by[0] = c->stop_by[0] = c->return_by[0] = '\0';
    set_state_locked(st, k + 1, "waiting_dims", "idle", NULL);
    free(st->need_dims_line);
    st->need_dims_line = need ? event_line(json_deep_copy(need)) : NULL;
    if (need)
        queue_locked(st, need);
    pthread_mutex_unlock(&c->lock);
    wake(st);
    for (;;) {
        acq_control_apply_notes(run);
        if (run->opt->stop && *run->opt->stop) {
            result->interrupted = 1;
            return 1;
        }
        char by[PD_ACQ_BY_MAX];
        pthread_mutex_lock(&c->lock);
        if (c->abort_by[0]) {
            pd_strlcpy(by, c->abort_by, sizeof by);
            st->aborted = true;
            pd_strlcpy(st->abort_by, by, sizeof st->abort_by);
            pthread_mutex_unlock(&c->lock);
            char text[200];
            snprintf(text, sizeof text, "series aborted by %s before specimen %zu started", by, k + 1);
            acq_run_event(run, k, "abort", text);
            acq_station_event(run, k, "abort", by, text);
            result->interrupted = 1;
            size_t used = strlen(result->outcome_reason);
            snprintf(result->outcome_reason + used, sizeof result->outcome_reason - used, "%saborted by %s",
                     used ? ", " : "", by);
            return 1;
        }
        if (c->return_by[0]) {
            pd_strlcpy(by, c->return_by, sizeof by);
            pthread_mutex_unlock(&c->lock);
            do_return(run, st, k, by);
            pthread_mutex_lock(&c->lock);
            c->return_by[0] = '\0';
            bool complete = true;
            for (size_t d = 0; d < m->n_dims; d++)
                complete = complete && (!m->dims[d].prompted || c->dim_given[d]);
            set_state_locked(st, k + 1, complete ? "ready" : "waiting_dims", "idle", NULL);
            pthread_mutex_unlock(&c->lock);
            wake(st);
            continue;
        }
        if (c->start_by[0]) {
            for (size_t d = 0; d < m->n_dims; d++) {
                out->value[d] = c->dim_given[d] ? c->dim_value[d] : def[d];
                if (c->dim_given[d])
                    snprintf(out->source[d], sizeof out->source[d], "%.100s by %.50s", c->dim_source[d], c->dim_by[d]);
                else
                    pd_strlcpy(out->source[d], "config", sizeof out->source[d]);
            }
            snprintf(st->started_text, sizeof st->started_text, "start by %s", c->start_by);
            st->plot_b[k + 1] = out->value[0];
            st->plot_h[k + 1] = m->n_dims > 1 ? out->value[1] : 0;
            st->plot_l0[k + 1] = m->n_dims > 2 ? out->value[2] : 0;
            pthread_mutex_unlock(&c->lock);
            return 0;
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 100 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->changed, &c->lock, &until);
        pthread_mutex_unlock(&c->lock);
    }
}

void acq_station_settle(struct run *run, struct bus *b)
{
    if (!acq_station_active(run))
        return;
    /* The bus thread reads the tag and counts the sample under its lock: past this point every
     * sample of the ended specimen is counted in n_acquired. */
    pthread_mutex_lock(&b->lock);
    pthread_mutex_unlock(&b->lock);
    uint64_t target = atomic_load(&b->n_acquired);
    int64_t until = pd_clock_mono_ns() + 1000 * 1000000LL; /* the writer drains every ~20 ms */
    while (atomic_load(&b->n_written) + atomic_load(&b->n_lost) < target && pd_clock_mono_ns() < until &&
           atomic_load(&run->writer_rc) == PD_OK)
        pd_clock_sleep_ns(2 * 1000000LL);
}

/* The start was accepted by the machine: the state, the event; the text for the file's event. */
const char *acq_station_started(struct run *run, size_t k)
{
    struct pd_acq_station *st = run->opt->station;
    pthread_mutex_lock(&st->control.lock);
    char by[PD_ACQ_BY_MAX];
    pd_strlcpy(by, st->control.start_by, sizeof by);
    st->control.start_by[0] = '\0';
    set_state_locked(st, k + 1, "running", "moving", NULL);
    pthread_mutex_unlock(&st->control.lock);
    acq_station_event(run, k, "start", by, "");
    wake(st);
    return st->started_text;
}

const char *acq_station_request(struct run *run, size_t k, char *by, size_t size)
{
    if (!acq_station_active(run))
        return NULL;
    struct pd_acq_station *st = run->opt->station;
    acq_control_apply_notes(run);
    const char *what = NULL;
    pthread_mutex_lock(&st->control.lock);
    if (st->control.abort_by[0]) {
        what = "abort";
        pd_strlcpy(by, st->control.abort_by, size);
        st->aborted = true;
        pd_strlcpy(st->abort_by, by, sizeof st->abort_by);
    } else if (st->control.stop_by[0]) {
        what = "stop";
        pd_strlcpy(by, st->control.stop_by, size);
        st->control.stop_by[0] = '\0';
    }
    pthread_mutex_unlock(&st->control.lock);
    (void)k;
    return what;
}

const char *acq_station_stopped(struct run *run, size_t k, const char *req, const char *by, const char *text)
{
    acq_run_event(run, k, req, text);
    acq_station_event(run, k, req, by, text);
    if (strcmp(req, "abort") != 0)
        return "tested";
    char mark[PD_ACQ_BY_MAX + 16];
    snprintf(mark, sizeof mark, "aborted by %s", by);
    pd_acq_mark_invalid(run->opt->control, k + 1, mark, by, NULL);
    return "aborted";
}

const char *acq_station_aborted_by(struct run *run)
{
    if (!acq_station_active(run))
        return NULL;
    struct pd_acq_station *st = run->opt->station;
    pthread_mutex_lock(&st->control.lock);
    bool aborted = st->aborted;
    pthread_mutex_unlock(&st->control.lock);
    return aborted ? st->abort_by : NULL; /* set once, before `aborted`, by the method thread */
}

/* ---- open and close --------------------------------------------------------------------------------*/
struct pd_acq_control *pd_acq_station_control(struct pd_acq_station *st)
{
    return &st->control;
}

int pd_acq_station_open(const char *socket_path, struct pd_acq_station **out, struct pd_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof sa.sun_path)
        return pd_err_set(err, PD_EINVAL, socket_path, "the control socket's path is longer than %zu bytes",
                          sizeof sa.sun_path - 1);
    struct pd_acq_station *st = calloc(1, sizeof *st);
    if (!st)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    st->listen_fd = -1;
    st->wake[0] = st->wake[1] = -1;
    int rc = pd_acq_control_init(&st->control, err);
    if (rc < 0) {
        free(st);
        return rc;
    }
    pd_strlcpy(st->path, socket_path, sizeof st->path);
    st->out_max = PD_ACQ_STATION_OUT_MAX;
    long hook;
    const char *env = getenv(ACQ_ENV_STATION_OUT_MAX); /* docs/HDF5-SCHEMA.md "Test hooks" */
    if (env && pd_parse_long(env, &hook) && hook >= 1024 && hook <= (long)PD_ACQ_STATION_OUT_MAX) {
        st->out_max = (size_t)hook;
        st->test_sndbuf = 4096;
    }
    memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
    if (pipe2(st->wake, O_NONBLOCK | O_CLOEXEC) < 0) {
        rc = pd_err_set_os(err, PD_EIO, errno, NULL, "station: cannot make its wake-up pipe");
        goto fail;
    }
    st->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (st->listen_fd < 0) {
        rc = pd_err_set_os(err, PD_EIO, errno, socket_path, "cannot create the control socket");
        goto fail;
    }
    /* A socket file left by a run killed -9 is replaced; one a live run answers on is not. */
    struct stat sb;
    if (lstat(socket_path, &sb) == 0) {
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool alive = probe >= 0 && S_ISSOCK(sb.st_mode) && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (probe >= 0)
            close(probe);
        if (alive || !S_ISSOCK(sb.st_mode)) {
            rc = pd_err_set(err, PD_EBUSY, socket_path, "%s", alive ? "another run serves this control socket"
                                                                    : "exists and is not a socket");
            goto fail;
        }
        unlink(socket_path);
    }
    mode_t old = umask(0177); /* the socket is created 0600 */
    int brc = bind(st->listen_fd, (struct sockaddr *)&sa, sizeof sa);
    int berr = errno;
    umask(old);
    if (brc < 0) {
        rc = pd_err_set_os(err, PD_EIO, berr, socket_path, "cannot bind the control socket");
        goto fail;
    }
    if (listen(st->listen_fd, 16) < 0) {
        rc = pd_err_set_os(err, PD_EIO, errno, socket_path, "cannot listen on the control socket");
        unlink(socket_path);
        goto fail;
    }
    *out = st;
    return PD_OK;
fail:
    if (st->listen_fd >= 0)
        close(st->listen_fd);
    if (st->wake[0] >= 0) {
        close(st->wake[0]);
        close(st->wake[1]);
    }
    pd_acq_control_close(&st->control);
    free(st);
    return rc;
}

void pd_acq_station_close(struct pd_acq_station *st)
{
    if (!st)
        return;
    if (st->thread_started) { /* the run did not finish it (it failed before its end) */
        atomic_store(&st->quit, 1);
        wake(st);
        pthread_join(st->thread, NULL);
    }
    while (st->n_clients)
        drop_client(st, 0, NULL);
    close(st->listen_fd);
    unlink(st->path);
    close(st->wake[0]);
    close(st->wake[1]);
    for (size_t k = 0; k <= PD_ACQ_MAX_SPECIMENS; k++) {
        for (size_t j = 0; j < st->dims_kept[k].n; j++)
            free(st->dims_kept[k].lines[j]);
        free(st->dims_kept[k].lines);
        free(st->points[k]);
    }
    for (size_t i = 0; i < st->n_queue; i++)
        free(st->queue[i]);
    free(st->queue);
    free(st->need_dims_line);
    if (st->tap_ready)
        pd_ring_close(&st->tap);
    pd_acq_control_close(&st->control);
    free(st);
}
