/* station.c — does a station's viewers cost the acquisition its timing? A 1 kHz instrument (the
 * synthetic driver, no I/O) read by polydaq's own bus thread with its writer writing an HDF5 file,
 * as pd-bench-pipeline's lateness measurement does, in three set-ups taken in turn: no control
 * socket; the control socket served (its thread decimating every sample into points) with no client;
 * the same with N clients (default 20, in a child process) reading every event. For each: the
 * lateness of the bus thread's wake-ups (p50/p99/max), the run process's CPU, and for the clients
 * the latency from a points batch's newest sample ("ts") to its arrival (p50/p99/max).
 * usage: pd-bench-station [--wakeups N] [--clients N] [--rounds N] [--dir DIR] */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acq/acq_internal.h"

#define LATE_MAX 200000
static int64_t late_ns[LATE_MAX];
static _Atomic size_t late_n;
static size_t n_wakeups = 5000;
static const struct bus *late_bus;

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

struct figures {
    double p50, p99, max; /* µs (lateness) or ms (latency) */
    size_t n;
};

static struct figures percentiles(int64_t *v, size_t n, double unit)
{
    struct figures f = {0};
    if (!n)
        return f;
    qsort(v, n, sizeof v[0], cmp64);
    f.p50 = (double)v[n / 2] / unit;
    f.p99 = (double)v[n * 99 / 100] / unit;
    f.max = (double)v[n - 1] / unit;
    f.n = n;
    return f;
}

/* ---- the synthetic 1 kHz instrument: force and extension, no I/O ---------------------------------*/
static int syn_poll(void *state, const struct pd_sink *sink, struct pd_err *err)
{
    (void)state;
    (void)err;
    int64_t now = pd_clock_mono_ns();
    size_t i = atomic_load(&late_n);
    if (i < n_wakeups) {
        late_ns[i] = now > late_bus->poll_due_ns ? now - late_bus->poll_due_ns : 0;
        atomic_store(&late_n, i + 1);
    }
    static double x;
    x += 0.001;
    struct pd_reading rd = {.t_mono_ns = now, .half_width_ns = 1000};
    rd.values[0] = 400.0 * (1.0 - 1.0 / (1.0 + x)); /* force, N */
    rd.values[1] = x;                              /* extension, mm */
    return sink->push(sink->ctx, &rd);
}
static void syn_close(void *state)
{
    (void)state;
}
static const struct pd_channel_info syn_channels[2] = {{"force", "N"}, {"extension", "mm"}};
static const struct pd_driver syn_driver = {.name = "synthetic", .poll = syn_poll, .close = syn_close,
                                            .destroy = syn_close};

/* ---- viewers (a child process) ----------------------------------------------------------------------*/
/* Connects n clients, reads every event until the run closes them, and writes the points latencies
 * (ns, int64) to `out_fd`. */
static void viewers(const char *sock, int n, int out_fd)
{
    int fds[64];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    pd_strlcpy(sa.sun_path, sock, sizeof sa.sun_path);
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(fds[i], (struct sockaddr *)&sa, sizeof sa) < 0) {
            perror("pd-bench-station: connect");
            _exit(1);
        }
    }
    char *buf = malloc(1 << 20);
    size_t *fill = calloc((size_t)n, sizeof *fill);
    static int64_t lat[LATE_MAX];
    size_t n_lat = 0;
    int open = n;
    char ready = 1;
    if (write(out_fd, &ready, 1) != 1) /* connected */
        _exit(1);
    while (open > 0) {
        struct pollfd p[64];
        for (int i = 0; i < n; i++)
            p[i] = (struct pollfd){.fd = fds[i], .events = fds[i] >= 0 ? POLLIN : 0};
        if (poll(p, (nfds_t)n, 1000) <= 0)
            continue;
        for (int i = 0; i < n; i++) {
            if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP)))
                continue;
            char *b = buf + (size_t)i * ((1 << 20) / 64);
            size_t cap = (1 << 20) / 64;
            ssize_t r = read(fds[i], b + fill[i], cap - fill[i] - 1);
            if (r <= 0) {
                close(fds[i]);
                fds[i] = -1;
                open--;
                continue;
            }
            int64_t now = pd_clock_utc_ns();
            fill[i] += (size_t)r;
            b[fill[i]] = '\0';
            char *line = b, *nl;
            while ((nl = strchr(line, '\n'))) {
                *nl = '\0';
                const char *ts = strstr(line, "\"ts\":");
                if (strstr(line, "\"type\":\"points\"") && ts && n_lat < LATE_MAX)
                    lat[n_lat++] = now - strtoll(ts + 5, NULL, 10);
                line = nl + 1;
            }
            fill[i] -= (size_t)(line - b);
            memmove(b, line, fill[i]);
            if (fill[i] + 1 >= cap) /* a line longer than the slot: skip it */
                fill[i] = 0;
        }
    }
    size_t off = 0, bytes = n_lat * sizeof lat[0];
    while (off < bytes) {
        ssize_t w = write(out_fd, (char *)lat + off, bytes - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    _exit(0);
}

/* ---- one measurement ------------------------------------------------------------------------------*/
enum setup { NO_SOCKET, SOCKET_NO_CLIENT, SOCKET_CLIENTS };
static const char *const setup_names[] = {"no control socket", "socket, no client", "socket, N clients"};
static char dir[4096] = "/tmp";
static int n_clients = 20;

struct result {
    struct figures late, latency;
    double cpu_pct;
};

static double process_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static int measure(enum setup setup, struct result *res)
{
    memset(res, 0, sizeof *res);
    char path[4200], sock[4200];
    snprintf(path, sizeof path, "%s/pd-bench-station-%d.h5", dir, (int)getpid());
    snprintf(sock, sizeof sock, "%s/pd-bench-station-%d.sock", dir, (int)getpid());
    struct pd_err err;
    struct pd_acq_station *station = NULL;
    if (setup != NO_SOCKET && pd_acq_station_open(sock, &station, &err) < 0) {
        fprintf(stderr, "pd-bench-station: %s\n", err.msg);
        return -1;
    }
    static struct pd_acq_config cfg;
    cfg.specimens = 1;
    cfg.flush_interval_s = 1;
    pd_strlcpy(cfg.method, "iso527", sizeof cfg.method);
    const struct acq_method *m = acq_method_find("iso527");
    cfg.method_params = calloc(1, m->params_size);
    static struct pd_acq_instrument_config ic = {.name = "frame"};
    struct pd_acq_options opt = {.progress = PD_ACQ_PROGRESS_NONE, .station = station,
                                 .control = station ? pd_acq_station_control(station) : NULL};
    struct pd_acq_result result;
    memset(&result, 0, sizeof result);
    pd_strlcpy(result.path, path, sizeof result.path);
    struct run *run = calloc(1, sizeof *run);
    run->cfg = &cfg;
    run->opt = &opt;
    run->result = &result;
    run->n_buses = 1;
    run->path = path;
    run->flush_period_ns = 1000000000LL;
    pd_strlcpy(run->run_id, "bench", sizeof run->run_id);
    pd_timebase_init(&run->tb);
    pthread_mutex_init(&run->store_lock, NULL);
    struct bus *b = &run->buses[0];
    b->cfg = &ic;
    b->drv = &syn_driver;
    b->channels = syn_channels;
    b->n_channels = 2;
    b->period_ns = 1000000;
    b->give_up_ns = 1000000000LL;
    b->no_data_ns = 3600 * 1000000000LL;
    acq_bus_init_sync(b);
    if (pd_ring_init(&b->ring, acq_sample_size(2), acq_ring_for_rate(1000)) < 0 ||
        pd_ring_init(&b->events, sizeof(struct acq_event), ACQ_EVENT_RING_CAPACITY) < 0 ||
        pd_ring_init(&b->losses, sizeof(struct acq_loss), ACQ_LOSS_RING_CAPACITY) < 0 || acq_writer_wake_init(run) < 0)
        return -1;
    b->ring_capacity = pd_ring_capacity(&b->ring);
    struct pd_store_instrument in;
    memset(&in, 0, sizeof in);
    strcpy(in.name, "frame");
    in.n_channels = 2;
    in.chunk_samples = acq_chunk_for_rate(1000, PD_STORE_DEFAULT_CHUNK);
    strcpy(in.channels[0].name, "force");
    strcpy(in.channels[0].unit, "N");
    strcpy(in.channels[1].name, "extension");
    strcpy(in.channels[1].unit, "mm");
    struct pd_store_specimen sp;
    memset(&sp, 0, sizeof sp);
    strcpy(sp.id, "S01");
    struct pd_store_attr a = {.key = "run_id", .type = PD_STORE_STRING, .s = "bench"};
    struct pd_store_layout l = {.n_run_attrs = 1, .run_attrs = &a, .n_instruments = 1, .instruments = &in,
                                .n_specimens = 1, .specimens = &sp, .chunk_samples = PD_STORE_DEFAULT_CHUNK,
                                .deflate_level = -1};
    if (pd_store_create(path, &l, &run->store, &err) < 0) {
        fprintf(stderr, "pd-bench-station: %s\n", err.msg);
        return -1;
    }
    if (station && acq_station_start(run, &err) < 0) {
        fprintf(stderr, "pd-bench-station: %s\n", err.msg);
        return -1;
    }
    /* the viewers connect before the measurement starts */
    pid_t child = -1;
    int pipefd[2] = {-1, -1};
    if (setup == SOCKET_CLIENTS) {
        if (pipe(pipefd) < 0)
            return -1;
        child = fork();
        if (child == 0) {
            close(pipefd[0]);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            viewers(sock, n_clients, pipefd[1]);
        }
        close(pipefd[1]);
        char ready;
        if (read(pipefd[0], &ready, 1) != 1)
            return -1;
    }
    if (station)
        acq_station_state(run, 0, "running", "moving", NULL);
    late_bus = b;
    atomic_store(&late_n, 0);
    atomic_store(&b->active_specimen, 1);
    double cpu0 = process_cpu_s();
    int64_t t0 = pd_clock_mono_ns();
    pthread_create(&run->writer, NULL, acq_writer_main, run);
    acq_bus_start(b, &err);
    while (atomic_load(&late_n) < n_wakeups)
        pd_clock_sleep_ns(10000000);
    acq_bus_quit(b);
    pthread_join(b->thread, NULL);
    b->thread_started = false;
    acq_writer_quit(run);
    pthread_join(run->writer, NULL);
    res->cpu_pct = 100.0 * (process_cpu_s() - cpu0) / ((double)(pd_clock_mono_ns() - t0) / 1e9);
    int rc = pd_store_close(run->store, 0, NULL, &err);
    if (station) { /* the end event; the clients are closed */
        acq_station_finish(run, "completed", "benchmark");
        pd_acq_station_close(station);
    }
    if (child > 0) {
        static int64_t lat[LATE_MAX];
        size_t got = 0;
        ssize_t r;
        while (got < sizeof lat && (r = read(pipefd[0], (char *)lat + got, sizeof lat - got)) > 0)
            got += (size_t)r;
        close(pipefd[0]);
        waitpid(child, NULL, 0);
        res->latency = percentiles(lat, got / sizeof lat[0], 1e6);
    }
    res->late = percentiles(late_ns, n_wakeups, 1e3);
    pd_ring_close(&b->ring);
    pd_ring_close(&b->events);
    pd_ring_close(&b->losses);
    pthread_mutex_destroy(&b->lock);
    acq_writer_wake_destroy(run);
    free(cfg.method_params);
    free(run);
    unlink(path);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"wakeups", required_argument, NULL, 'w'},
                                             {"clients", required_argument, NULL, 'c'},
                                             {"rounds", required_argument, NULL, 'r'},
                                             {"dir", required_argument, NULL, 'd'},
                                             {NULL, 0, NULL, 0}};
    int rounds = 3, c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'w': n_wakeups = (size_t)strtoul(optarg, NULL, 10); break;
        case 'c': n_clients = atoi(optarg); break;
        case 'r': rounds = atoi(optarg); break;
        case 'd': pd_strlcpy(dir, optarg, sizeof dir); break;
        default:
            fprintf(stderr, "usage: pd-bench-station [--wakeups N] [--clients N] [--rounds N] [--dir DIR]\n");
            return 2;
        }
    }
    if (n_wakeups < 100 || n_wakeups > LATE_MAX || n_clients < 1 || n_clients > 60 || rounds < 1) {
        fprintf(stderr, "pd-bench-station: --wakeups 100..%d, --clients 1..60, --rounds >= 1\n", LATE_MAX);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    pd_log_set_level(PD_LOG_WARN);
    printf("1 kHz bus thread (synthetic driver) with its writer, %zu wake-ups per measurement, %d clients\n",
           n_wakeups, n_clients);
    printf("%-20s %5s  %28s  %8s  %30s\n", "set-up", "round", "lateness p50/p99/max [us]", "CPU [%]",
           "points latency p50/p99/max [ms]");
    for (int r = 1; r <= rounds; r++) {
        for (int s = NO_SOCKET; s <= SOCKET_CLIENTS; s++) {
            struct result res;
            if (measure((enum setup)s, &res) < 0)
                return 1;
            char lat[64] = "-";
            if (s == SOCKET_CLIENTS)
                snprintf(lat, sizeof lat, "%.2f / %.2f / %.2f (%zu)", res.latency.p50, res.latency.p99,
                         res.latency.max, res.latency.n);
            printf("%-20s %5d  %9.1f / %6.1f / %7.1f  %8.1f  %30s\n", setup_names[s], r, res.late.p50, res.late.p99,
                   res.late.max, res.cpu_pct, lat);
            fflush(stdout);
        }
    }
    return 0;
}
