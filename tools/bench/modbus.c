/* modbus.c — benchmark of Modbus polling: a bare libmodbus loop against polydaq's driver and the
 * acquisition path (driver poll + SPSC ring), over loopback TCP to polydaq-sim and over RTU on a
 * socat pty pair, with the RTU wire-time limit of the same read beside the measured rate.
 *
 * usage: pd-bench-modbus [--seconds S] [--rounds N] [--no-rtu]
 * Each method runs S seconds (default 2) per round, rounds alternate the methods (default 3) and
 * the table shows the median round; latency percentiles are over every request of that round. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <modbus.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "core/core.h"
#include "driver/driver.h"

#define FIRST_REGISTER 1 /* input registers 1..9: flags, counter, force, extension, crosshead */
#define N_REGISTERS 9
#define MAX_SAMPLES 4000000
#define RTU_BAUD 115200
#define RTU_UNIT 1

struct result {
    double per_s;
    double p50_us, p99_us;
    unsigned long errors;
};

struct method {
    const char *name;
    /* Runs for `seconds`, storing each exchange's latency (ns) in lat[], returns their count. */
    size_t (*run)(void *ctx, double seconds, int64_t *lat, size_t max_lat, unsigned long *errors);
    void *ctx;
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static struct result summarize(int64_t *lat, size_t n, double seconds, unsigned long errors)
{
    struct result r = {.errors = errors};
    if (n == 0)
        return r;
    qsort(lat, n, sizeof *lat, cmp_i64);
    r.per_s = (double)n / seconds;
    r.p50_us = (double)lat[n / 2] / 1e3;
    r.p99_us = (double)lat[(size_t)((double)(n - 1) * 0.99)] / 1e3;
    return r;
}

/* ---- (a) bare libmodbus ---------------------------------------------------------------------*/

/* Each method connects for its own runs only: the simulator serves one client at a time, and
 * two masters on one serial line would take each other's answers. */
static size_t run_bare(void *ctx, double seconds, int64_t *lat, size_t max_lat, unsigned long *errors)
{
    modbus_t *mb = ctx;
    uint16_t regs[N_REGISTERS];
    size_t n = 0;
    if (modbus_connect(mb) != 0) {
        fprintf(stderr, "pd-bench-modbus: bare libmodbus connect: %s\n", modbus_strerror(errno));
        (*errors)++;
        return 0;
    }
    int64_t end = pd_clock_mono_ns() + (int64_t)(seconds * 1e9);
    while (n < max_lat) {
        int64_t t0 = pd_clock_mono_ns();
        if (t0 >= end)
            break;
        if (modbus_read_input_registers(mb, FIRST_REGISTER, N_REGISTERS, regs) != N_REGISTERS) {
            (*errors)++;
            continue;
        }
        lat[n++] = pd_clock_mono_ns() - t0;
    }
    modbus_close(mb);
    return n;
}

/* ---- (b) the driver, and (c) driver + ring ---------------------------------------------------*/

struct driver_bench {
    const struct pd_driver *drv;
    void *state;
    struct pd_ring ring; /* (c) only */
    atomic_int stop;
    atomic_ulong consumed;
    unsigned long pushed;
};

static int count_sink(void *ctx, const struct pd_reading *r)
{
    struct driver_bench *d = ctx;
    d->pushed += r->quality == PD_Q_GOOD || r->quality == PD_Q_RANGE;
    return 0;
}

/* What a bus thread puts in its ring: the reading plus its specimen (as acq's sample). */
struct bench_sample {
    int64_t t_mono_ns, half_width_ns;
    uint32_t quality, specimen;
    double values[PD_MAX_CHANNELS];
};

static int ring_sink(void *ctx, const struct pd_reading *r)
{
    struct driver_bench *d = ctx;
    struct bench_sample s = {.t_mono_ns = r->t_mono_ns, .half_width_ns = r->half_width_ns,
                             .quality = r->quality, .specimen = 1};
    memcpy(s.values, r->values, sizeof s.values);
    if (pd_ring_push(&d->ring, &s))
        d->pushed++;
    return 0;
}

/* The writer's side of the ring: drains it every millisecond. */
static void *ring_consumer(void *arg)
{
    struct driver_bench *d = arg;
    struct bench_sample batch[256];
    while (!atomic_load(&d->stop)) {
        size_t n = pd_ring_pop(&d->ring, batch, 256);
        atomic_fetch_add(&d->consumed, n);
        if (n == 0)
            pd_clock_sleep_ns(1000000);
    }
    return NULL;
}

static size_t run_poll(struct driver_bench *d, const struct pd_sink *sink, double seconds, int64_t *lat,
                       size_t max_lat, unsigned long *errors)
{
    size_t n = 0;
    struct pd_instrument_info info = {0};
    struct pd_err e;
    if (d->drv->open(d->state, &info, &e) != 0) {
        fprintf(stderr, "pd-bench-modbus: %s\n", e.msg);
        (*errors)++;
        return 0;
    }
    int64_t end = pd_clock_mono_ns() + (int64_t)(seconds * 1e9);
    while (n < max_lat) {
        int64_t t0 = pd_clock_mono_ns();
        if (t0 >= end)
            break;
        if (d->drv->poll(d->state, sink, &e) != 0) {
            (*errors)++;
            continue;
        }
        lat[n++] = pd_clock_mono_ns() - t0;
    }
    d->drv->close(d->state);
    return n;
}

static size_t run_driver(void *ctx, double seconds, int64_t *lat, size_t max_lat, unsigned long *errors)
{
    struct driver_bench *d = ctx;
    struct pd_sink sink = {.push = count_sink, .ctx = d};
    return run_poll(d, &sink, seconds, lat, max_lat, errors);
}

static size_t run_acq(void *ctx, double seconds, int64_t *lat, size_t max_lat, unsigned long *errors)
{
    struct driver_bench *d = ctx;
    struct pd_sink sink = {.push = ring_sink, .ctx = d};
    atomic_store(&d->stop, 0);
    pthread_t consumer;
    if (pthread_create(&consumer, NULL, ring_consumer, d) != 0) {
        (*errors)++;
        return 0;
    }
    size_t n = run_poll(d, &sink, seconds, lat, max_lat, errors);
    atomic_store(&d->stop, 1);
    pthread_join(consumer, NULL);
    return n;
}

static const char driver_yaml[] =
    "name: frame1\n"
    "driver: modbus\n"
    "transport: %s\n"
    "unit: %d\n"
    "address_base: 0\n"
    "response_timeout_ms: 1000\n"
    "%s"
    "channels:\n"
    "  - {name: force,     table: input, address: 4, type: float32, order: ABCD, unit: N}\n"
    "  - {name: extension, table: input, address: 6, type: float32, order: ABCD, unit: mm}\n"
    "  - {name: crosshead, table: input, address: 8, type: float32, order: ABCD, unit: mm}\n"
    "  - {name: break,     table: input, address: 1, type: bit, bit: 0}\n";

static int driver_open(struct driver_bench *d, const char *transport, const char *serial_keys)
{
    char text[2048];
    snprintf(text, sizeof text, driver_yaml, transport, RTU_UNIT, serial_keys);
    struct pd_cfg_doc *doc = NULL;
    struct pd_err err;
    d->drv = pd_driver_find("modbus");
    if (!d->drv || pd_cfg_load_string("bench.yaml", text, strlen(text), &doc, &err) != 0 ||
        d->drv->create(pd_cfg_root(doc), &d->state, &err) != 0) {
        fprintf(stderr, "pd-bench-modbus: driver setup: %s\n", d->drv ? err.msg : "no modbus driver");
        pd_cfg_free(doc);
        return -1;
    }
    pd_cfg_free(doc);
    return pd_ring_init(&d->ring, sizeof(struct bench_sample), 65536) == 0 ? 0 : -1;
}

static void driver_close(struct driver_bench *d)
{
    if (d->state)
        d->drv->destroy(d->state);
    pd_ring_close(&d->ring);
}

/* ---- child processes: the simulator and socat -------------------------------------------------*/

/* Starts argv[0] with stdout on a pipe; returns its pid (and the pipe's read end in *out_fd). */
static pid_t spawn(char *const argv[], int *out_fd)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        close(p[0]);
        close(p[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    *out_fd = p[0];
    return pid;
}

static void stop_child(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* Reads the simulator's "listening tcp://HOST:PORT" line (5 s at most). */
static int read_listening(int fd, char *addr, size_t size)
{
    char line[256];
    size_t len = 0;
    int64_t deadline = pd_clock_mono_ns() + 5000000000LL;
    while (len + 1 < sizeof line) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int64_t left = (deadline - pd_clock_mono_ns()) / 1000000;
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
            return -1;
        if (read(fd, line + len, 1) != 1)
            return -1;
        if (line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    const char *prefix = "listening ";
    if (strncmp(line, prefix, strlen(prefix)) != 0)
        return -1;
    return pd_strlcpy(addr, line + strlen(prefix), size);
}

/* ---- a minimal RTU slave for the pty: answers function 04 from a fixed register image --------*/

static uint16_t rtu_crc(const uint8_t *p, size_t n)
{
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc & 1u) ? (uint16_t)((crc >> 1) ^ 0xA001u) : (uint16_t)(crc >> 1);
    }
    return crc;
}

struct rtu_slave {
    modbus_t *ctx; /* libmodbus only opens and sets up the serial port here */
    int fd;
    atomic_int stop;
    pthread_t thread;
};

static void *rtu_slave_main(void *arg)
{
    struct rtu_slave *s = arg;
    uint16_t image[32] = {0};
    image[1] = 0x0008;                 /* simulated */
    image[4] = 0x42F7, image[5] = 0x0000; /* force 123.5 N */
    uint8_t req[8];
    size_t have = 0;
    while (!atomic_load(&s->stop)) {
        struct pollfd pf = {.fd = s->fd, .events = POLLIN};
        if (poll(&pf, 1, 20) <= 0)
            continue;
        ssize_t n = read(s->fd, req + have, sizeof req - have);
        if (n <= 0)
            continue;
        have += (size_t)n;
        if (have < sizeof req)
            continue;
        have = 0;
        unsigned addr = (unsigned)req[2] << 8 | req[3], count = (unsigned)req[4] << 8 | req[5];
        if (req[0] != RTU_UNIT || req[1] != 4 || addr + count > 32 ||
            rtu_crc(req, 6) != (req[6] | req[7] << 8)) {
            tcflush(s->fd, TCIFLUSH);
            continue;
        }
        uint8_t rsp[3 + 64 + 2] = {req[0], 4, (uint8_t)(2 * count)};
        for (unsigned i = 0; i < count; i++) {
            rsp[3 + 2 * i] = (uint8_t)(image[addr + i] >> 8);
            rsp[4 + 2 * i] = (uint8_t)image[addr + i];
        }
        size_t len = 3 + 2 * count;
        uint16_t crc = rtu_crc(rsp, len);
        rsp[len] = (uint8_t)crc;
        rsp[len + 1] = (uint8_t)(crc >> 8);
        if (write(s->fd, rsp, len + 2) != (ssize_t)(len + 2))
            break;
    }
    return NULL;
}

/* ---- main ----------------------------------------------------------------------------------*/

static void run_rounds(const struct method *m, size_t n_methods, int rounds, double seconds,
                       struct result *out)
{
    int64_t *lat = malloc(MAX_SAMPLES * sizeof *lat);
    struct result *all = calloc((size_t)rounds * n_methods, sizeof *all);
    if (!lat || !all) {
        fprintf(stderr, "pd-bench-modbus: out of memory\n");
        exit(3);
    }
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < n_methods; i++) {
            unsigned long errors = 0;
            size_t n = m[i].run(m[i].ctx, seconds, lat, MAX_SAMPLES, &errors);
            all[(size_t)r * n_methods + i] = summarize(lat, n, seconds, errors);
        }
    /* median round by rate, per method */
    for (size_t i = 0; i < n_methods; i++) {
        for (int a = 0; a < rounds; a++) {
            int below = 0, equal_before = 0;
            for (int b = 0; b < rounds; b++) {
                double x = all[(size_t)b * n_methods + i].per_s, y = all[(size_t)a * n_methods + i].per_s;
                below += x < y;
                equal_before += x == y && b < a;
            }
            if (below + equal_before == rounds / 2) {
                out[i] = all[(size_t)a * n_methods + i];
                break;
            }
        }
    }
    free(all);
    free(lat);
}

static void print_rows(const char *link, const struct method *m, const struct result *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("| %-10s | %-28s | %10.0f | %8.1f | %8.1f | %6.3f | %lu |\n", link, m[i].name, r[i].per_s,
               r[i].p50_us, r[i].p99_us, r[0].per_s > 0 ? r[i].per_s / r[0].per_s : 0.0, r[i].errors);
}

static int bench_tcp(double seconds, int rounds)
{
    int out_fd = -1;
    char *argv[] = {(char *)PD_SIM_PATH, "loadframe", "--tcp", "127.0.0.1:0", NULL};
    pid_t sim = spawn(argv, &out_fd);
    char addr[128];
    if (sim < 0 || read_listening(out_fd, addr, sizeof addr) != 0) {
        fprintf(stderr, "pd-bench-modbus: %s did not announce its address\n", PD_SIM_PATH);
        stop_child(sim);
        return 3;
    }
    const char *hostport = addr + strlen("tcp://");
    char host[64];
    const char *colon = strrchr(hostport, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - hostport), hostport);

    modbus_t *bare = modbus_new_tcp(host, atoi(colon + 1));
    struct driver_bench d = {0};
    int rc = 3;
    if (!bare || modbus_set_slave(bare, 1) != 0) {
        fprintf(stderr, "pd-bench-modbus: bare libmodbus setup for %s: %s\n", addr, modbus_strerror(errno));
    } else if (driver_open(&d, addr, "") == 0) {
        modbus_set_response_timeout(bare, 1, 0);
        struct method m[] = {
            {"bare libmodbus loop", run_bare, bare},
            {"driver poll -> counting sink", run_driver, &d},
            {"driver poll -> pd_ring", run_acq, &d},
        };
        struct result r[3];
        run_rounds(m, 3, rounds, seconds, r);
        print_rows("TCP lo", m, r, 3);
        rc = 0;
    }
    driver_close(&d);
    if (bare)
        modbus_free(bare);
    stop_child(sim);
    close(out_fd);
    return rc;
}

static int wait_for_file(const char *path)
{
    for (int i = 0; i < 500; i++) {
        struct stat st;
        if (stat(path, &st) == 0)
            return 0;
        pd_clock_sleep_ns(10000000);
    }
    return -1;
}

static int bench_rtu(double seconds, int rounds)
{
    char dir[] = "/tmp/pd-bench-modbus-XXXXXX";
    if (!mkdtemp(dir))
        return 3;
    char a[64], b[64], pa[96], pb[96];
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    snprintf(pa, sizeof pa, "pty,raw,echo=0,link=%s", a);
    snprintf(pb, sizeof pb, "pty,raw,echo=0,link=%s", b);
    int out_fd = -1;
    char *argv[] = {"socat", pa, pb, NULL};
    pid_t socat = spawn(argv, &out_fd);
    int rc = 3;
    struct rtu_slave slave = {.fd = -1};
    modbus_t *bare = NULL;
    struct driver_bench d = {0};
    if (socat < 0 || wait_for_file(a) != 0 || wait_for_file(b) != 0) {
        fprintf(stderr, "pd-bench-modbus: socat did not create its ptys (is socat installed?)\n");
        goto done;
    }
    slave.ctx = modbus_new_rtu(b, RTU_BAUD, 'N', 8, 1);
    if (!slave.ctx || modbus_connect(slave.ctx) != 0) {
        fprintf(stderr, "pd-bench-modbus: cannot open %s\n", b);
        goto done;
    }
    slave.fd = modbus_get_socket(slave.ctx);
    if (pthread_create(&slave.thread, NULL, rtu_slave_main, &slave) != 0)
        goto done;
    bare = modbus_new_rtu(a, RTU_BAUD, 'N', 8, 1);
    char transport[96];
    snprintf(transport, sizeof transport, "rtu:%s", a);
    if (!bare || modbus_set_slave(bare, RTU_UNIT) != 0) {
        fprintf(stderr, "pd-bench-modbus: cannot set up %s\n", a);
    } else if (driver_open(&d, transport, "baud: 115200\nparity: none\n") == 0) {
        modbus_set_response_timeout(bare, 1, 0);
        struct method m[] = {
            {"bare libmodbus loop", run_bare, bare},
            {"driver poll -> counting sink", run_driver, &d},
            {"driver poll -> pd_ring", run_acq, &d},
        };
        struct result r[3];
        run_rounds(m, 3, rounds, seconds, r);
        print_rows("RTU pty", m, r, 3);
        rc = 0;
    }
done:
    driver_close(&d);
    if (bare)
        modbus_free(bare);
    if (slave.fd >= 0) {
        atomic_store(&slave.stop, 1);
        pthread_join(slave.thread, NULL);
    }
    if (slave.ctx) {
        modbus_close(slave.ctx);
        modbus_free(slave.ctx);
    }
    stop_child(socat);
    if (out_fd >= 0)
        close(out_fd);
    rmdir(dir);
    return rc;
}

/* The RTU wire time of one exchange: request 8 characters, response 5 + 2n, each frame followed
 * by a 3.5-character silence. */
static void print_wire_limit(void)
{
    int chars = 8 + 5 + 2 * N_REGISTERS;
    printf("\nRTU wire-time limit at %d baud for one read of %d input registers "
           "(request 8 + response %d characters, two 3.5-character gaps):\n",
           RTU_BAUD, N_REGISTERS, 5 + 2 * N_REGISTERS);
    static const struct {
        const char *frame;
        int bits;
    } formats[] = {{"8N1", 10}, {"8E1/8N2", 11}};
    for (int i = 0; i < 2; i++) {
        double bit_s = 1.0 / RTU_BAUD;
        double t = (chars + 2 * 3.5) * formats[i].bits * bit_s;
        /* Above 19200 baud the Modbus serial line guide fixes t3.5 at 1.75 ms instead. */
        double t_fixed = chars * formats[i].bits * bit_s + 2 * 1.75e-3;
        printf("  %-8s %2d bits/char: %.3f ms -> %.0f exchanges/s (with the fixed 1.75 ms t3.5: "
               "%.3f ms -> %.0f/s)\n",
               formats[i].frame, formats[i].bits, t * 1e3, 1.0 / t, t_fixed * 1e3, 1.0 / t_fixed);
    }
    printf("  (a pty carries bytes without baud-rate timing, so the RTU rows above are not bounded by it)\n");
}

int main(int argc, char **argv)
{
    double seconds = 2.0;
    int rounds = 3;
    bool rtu = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc && pd_parse_double(argv[i + 1], &seconds) &&
            seconds > 0 && seconds <= 60) {
            i++;
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            long v;
            if (!pd_parse_long(argv[++i], &v) || v < 1 || v > 15) {
                fprintf(stderr, "pd-bench-modbus: --rounds must be 1..15\n");
                return 2;
            }
            rounds = (int)v;
        } else if (strcmp(argv[i], "--no-rtu") == 0) {
            rtu = false;
        } else {
            fprintf(stderr, "usage: pd-bench-modbus [--seconds S (0..60]] [--rounds 1..15] [--no-rtu]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    printf("Modbus polling: read of input registers %d..%d (%d registers), %.1f s per method and "
           "round, median of %d rounds\n\n",
           FIRST_REGISTER, FIRST_REGISTER + N_REGISTERS - 1, N_REGISTERS, seconds, rounds);
    printf("| link       | method                       | requests/s | p50 [us] | p99 [us] | ratio  | errors |\n");
    printf("|------------|------------------------------|-----------:|---------:|---------:|-------:|-------:|\n");
    int rc = bench_tcp(seconds, rounds);
    if (rtu && rc == 0)
        rc = bench_rtu(seconds, rounds);
    print_wire_limit();
    return rc;
}
