/* sim_bus.c — serves a simulated instrument's Modbus slave over TCP or RTU on a pty (poll-based, no libmodbus). */
#define _XOPEN_SOURCE 700 /* posix_openpt, grantpt, unlockpt, ptsname */
#include "mbslave/hal/host/sim_bus.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "mbslave/hal/host/sim_args.h"

/* While nobody asks, the instrument still runs (a break happens on time); this bounds how stale
 * its state gets between requests. */
#define IDLE_STEP_MS 100

const char sim_bus_usage[] =
    "  --tcp HOST:PORT       serve Modbus TCP; PORT 0 picks a free port\n"
    "  --rtu PTY|auto        serve Modbus RTU on a pty: a path (one end of a socat pair) or auto (a new\n"
    "                        pty; its path is announced)\n"
    "  --baud N              RTU baud rate (default 19200; sets the 3.5-character frame gap)\n"
    "  --parity N|E|O        RTU parity (default E)\n"
    "  --stop-bits 1|2       RTU stop bits (default 1)\n"
    "  --unit ID             Modbus unit id, 1..247 (default 1; over TCP 0 and 255 are also answered,\n"
    "                        over RTU 0 is the broadcast address: writes are carried out, never answered)\n"
    "The address actually served is printed as one line: `listening tcp://HOST:PORT` or\n"
    "`listening rtu:/dev/pts/N`.\n";

uint64_t sim_monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void sim_bus_options_defaults(struct sim_bus_options *o)
{
    memset(o, 0, sizeof *o);
    o->baud = 19200;
    o->parity = 'E';
    o->stop_bits = 1;
    o->unit = 1;
}

struct baud_rate {
    uint32_t baud;
    speed_t speed;
};

static const struct baud_rate baud_rates[] = {
    {1200, B1200},     {2400, B2400},     {4800, B4800},     {9600, B9600},   {19200, B19200},
    {38400, B38400},   {57600, B57600},   {115200, B115200}, {230400, B230400},
};

static const struct baud_rate *find_baud(uint32_t baud)
{
    for (size_t i = 0; i < sizeof baud_rates / sizeof baud_rates[0]; i++)
        if (baud_rates[i].baud == baud)
            return &baud_rates[i];
    return NULL;
}

int sim_bus_option(struct sim_bus_options *o, const char *opt, const char *val)
{
    uint64_t u;
    if (strcmp(opt, "--tcp") == 0) {
        o->tcp = val;
    } else if (strcmp(opt, "--rtu") == 0) {
        if (val[0] == '\0')
            return sim_usage_error("--rtu needs a pty path or auto%s", "");
        o->rtu = val;
    } else if (strcmp(opt, "--baud") == 0) {
        if (sim_parse_u64(val, UINT32_MAX, &u) != 0 || !find_baud((uint32_t)u))
            return sim_usage_error("--baud must be one of 1200 2400 4800 9600 19200 38400 57600 115200 "
                                   "230400, not '%s'",
                                   val);
        o->baud = (uint32_t)u;
    } else if (strcmp(opt, "--parity") == 0) {
        if (strcmp(val, "N") != 0 && strcmp(val, "E") != 0 && strcmp(val, "O") != 0)
            return sim_usage_error("--parity must be N, E or O, not '%s'", val);
        o->parity = val[0];
    } else if (strcmp(opt, "--stop-bits") == 0) {
        if (strcmp(val, "1") != 0 && strcmp(val, "2") != 0)
            return sim_usage_error("--stop-bits must be 1 or 2, not '%s'", val);
        o->stop_bits = (unsigned)(val[0] - '0');
    } else if (strcmp(opt, "--unit") == 0) {
        if (sim_parse_u64(val, 247, &u) != 0 || u < 1)
            return sim_usage_error("--unit must be 1..247, not '%s'", val);
        o->unit = (unsigned)u;
    } else {
        return 0;
    }
    return 1;
}

/* ---- signals -------------------------------------------------------------------------------*/

/* Signals reach poll() through this pipe, so a signal between checks cannot be lost. */
static int g_wake_pipe[2] = {-1, -1};

static void on_stop_signal(int sig)
{
    (void)sig;
    int saved = errno;
    char byte = 1;
    if (g_wake_pipe[1] >= 0 && write(g_wake_pipe[1], &byte, 1) < 0) {
        /* pipe full: a wake-up is already pending */
    }
    errno = saved;
}

static int install_handlers(const char *who)
{
    if (pipe(g_wake_pipe) != 0) {
        fprintf(stderr, "polydaq-sim: %s: pipe: %s\n", who, strerror(errno));
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(g_wake_pipe[i], F_SETFD, FD_CLOEXEC);
        fcntl(g_wake_pipe[i], F_SETFL, O_NONBLOCK);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN; /* a client vanishing mid-reply must not kill the instrument */
    sigaction(SIGPIPE, &sa, NULL);
    return 0;
}

static void remove_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    for (int i = 0; i < 2; i++) {
        if (g_wake_pipe[i] >= 0)
            close(g_wake_pipe[i]);
        g_wake_pipe[i] = -1;
    }
}

static void announce(const char *address)
{
    printf("listening %s\n", address);
    fflush(stdout);
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- TCP -----------------------------------------------------------------------------------*/

/* Splits "HOST:PORT" or "[V6]:PORT" into host and port (copied into the buffers). */
static int split_host_port(const char *spec, char *host, size_t host_size, char *port, size_t port_size)
{
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || colon[1] == '\0')
        return -1;
    size_t host_len = (size_t)(colon - spec);
    const char *h = spec;
    if (spec[0] == '[') {
        if (host_len < 3 || spec[host_len - 1] != ']')
            return -1;
        h = spec + 1;
        host_len -= 2;
    }
    if (host_len >= host_size || strlen(colon + 1) >= port_size)
        return -1;
    memcpy(host, h, host_len);
    host[host_len] = '\0';
    strcpy(port, colon + 1);
    uint64_t port_no;
    return sim_parse_u64(port, 65535, &port_no);
}

static int open_listener(const char *host, const char *port, struct sockaddr_storage *bound,
                         socklen_t *bound_len, const char *who)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        fprintf(stderr, "polydaq-sim: %s: cannot resolve %s:%s: %s\n", who, host, port, gai_strerror(gai));
        return -1;
    }
    int fd = -1, last_errno = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4) == 0)
            break;
        last_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "polydaq-sim: %s: cannot listen on %s:%s: %s\n", who, host, port, strerror(last_errno));
        return -1;
    }
    *bound_len = sizeof *bound;
    if (getsockname(fd, (struct sockaddr *)bound, bound_len) != 0) {
        fprintf(stderr, "polydaq-sim: %s: getsockname: %s\n", who, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int format_tcp_address(const struct sockaddr_storage *bound, socklen_t len, char *buf, size_t size)
{
    char host[NI_MAXHOST], port[NI_MAXSERV];
    if (getnameinfo((const struct sockaddr *)bound, len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return -1;
    int n = bound->ss_family == AF_INET6 ? snprintf(buf, size, "tcp://[%s]:%s", host, port)
                                         : snprintf(buf, size, "tcp://%s:%s", host, port);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

struct tcp_client {
    int fd;
    uint8_t buf[2 * MB_MAX_TCP_ADU];
    size_t have;
};

static void drop_client(struct tcp_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->have = 0;
}

/* Reads what the client sent and answers every complete request in it; drops the client on end
 * of stream, an error, or an invalid MBAP header (the stream cannot be resynchronised). */
static void serve_tcp_client(struct tcp_client *c, struct sim_device *dev)
{
    ssize_t n = recv(c->fd, c->buf + c->have, sizeof c->buf - c->have, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        drop_client(c);
        return;
    }
    c->have += (size_t)n;
    for (;;) {
        int adu_len = mb_tcp_adu_length(c->buf, c->have);
        if (adu_len < 0) {
            drop_client(c);
            return;
        }
        if (adu_len == 0 || c->have < (size_t)adu_len)
            return;
        dev->step(dev->ctx, sim_monotonic_us());
        uint8_t rsp[MB_MAX_TCP_ADU];
        int rsp_len = mb_tcp_process(&dev->slave, c->buf, (size_t)adu_len, rsp);
        if (rsp_len < 0 || (rsp_len > 0 && write_all(c->fd, rsp, (size_t)rsp_len) != 0)) {
            drop_client(c);
            return;
        }
        memmove(c->buf, c->buf + adu_len, c->have - (size_t)adu_len);
        c->have -= (size_t)adu_len;
    }
}

static int serve_tcp(const struct sim_bus_options *o, struct sim_device *dev, const char *who)
{
    char host[256], port[16];
    if (split_host_port(o->tcp, host, sizeof host, port, sizeof port) != 0)
        return sim_usage_error("--tcp must be HOST:PORT with PORT 0..65535, not '%s'", o->tcp);
    struct sockaddr_storage bound;
    socklen_t bound_len;
    int listen_fd = open_listener(host, port, &bound, &bound_len, who);
    if (listen_fd < 0)
        return 1;
    char address[320];
    if (format_tcp_address(&bound, bound_len, address, sizeof address) != 0) {
        fprintf(stderr, "polydaq-sim: %s: cannot name the listening address\n", who);
        close(listen_fd);
        return 1;
    }
    if (install_handlers(who) != 0) {
        close(listen_fd);
        return 1;
    }
    announce(address);
    dev->step(dev->ctx, sim_monotonic_us());
    struct tcp_client client = {.fd = -1};
    int status = 0;
    for (;;) {
        struct pollfd fds[2] = {
            {.fd = g_wake_pipe[0], .events = POLLIN},
            {.fd = client.fd >= 0 ? client.fd : listen_fd, .events = POLLIN},
        };
        int n = poll(fds, 2, IDLE_STEP_MS);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "polydaq-sim: %s: poll: %s\n", who, strerror(errno));
            status = 1;
            break;
        }
        dev->step(dev->ctx, sim_monotonic_us());
        if (n <= 0)
            continue;
        if (fds[0].revents)
            break;
        if (!fds[1].revents)
            continue;
        if (client.fd >= 0) {
            serve_tcp_client(&client, dev);
            continue;
        }
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0)
            continue; /* the peer gave up before we got to it; keep listening */
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        client.fd = fd;
        client.have = 0;
    }
    drop_client(&client);
    close(listen_fd);
    remove_handlers();
    return status;
}

/* ---- RTU -----------------------------------------------------------------------------------*/

static int set_line(int fd, const struct sim_bus_options *o, const char *path, const char *who)
{
    struct termios t;
    if (tcgetattr(fd, &t) != 0) {
        fprintf(stderr, "polydaq-sim: %s: %s is not a terminal: %s\n", who, path, strerror(errno));
        return -1;
    }
    cfmakeraw(&t);
    t.c_cflag |= CLOCAL | CREAD;
    t.c_cflag &= (tcflag_t)~(CSIZE | PARENB | PARODD | CSTOPB);
    t.c_cflag |= CS8;
    if (o->parity != 'N')
        t.c_cflag |= PARENB | (o->parity == 'O' ? PARODD : 0);
    if (o->stop_bits == 2)
        t.c_cflag |= CSTOPB;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    const struct baud_rate *b = find_baud(o->baud);
    if (!b || cfsetispeed(&t, b->speed) != 0 || cfsetospeed(&t, b->speed) != 0 ||
        tcsetattr(fd, TCSANOW, &t) != 0) {
        fprintf(stderr, "polydaq-sim: %s: cannot set %u baud %c%u on %s: %s\n", who, o->baud, o->parity,
                o->stop_bits, path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Opens the line: the named pty end, or a new pty whose other end is announced. For a new pty
 * we keep its far end open ourselves as well, so the line does not hang up between clients. */
static int open_rtu(const struct sim_bus_options *o, int *keep_fd, char *path, size_t path_size, const char *who)
{
    *keep_fd = -1;
    if (strcmp(o->rtu, "auto") != 0) {
        int fd = open(o->rtu, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "polydaq-sim: %s: cannot open %s: %s\n", who, o->rtu, strerror(errno));
            return -1;
        }
        if (set_line(fd, o, o->rtu, who) != 0) {
            close(fd);
            return -1;
        }
        snprintf(path, path_size, "%s", o->rtu);
        return fd;
    }
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
        fprintf(stderr, "polydaq-sim: %s: cannot create a pty: %s\n", who, strerror(errno));
        if (master >= 0)
            close(master);
        return -1;
    }
    fcntl(master, F_SETFD, FD_CLOEXEC);
    const char *name = ptsname(master);
    int far = name ? open(name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
    if (far < 0 || set_line(far, o, name, who) != 0) {
        fprintf(stderr, "polydaq-sim: %s: cannot open the new pty %s: %s\n", who, name ? name : "?",
                strerror(errno));
        if (far >= 0)
            close(far);
        close(master);
        return -1;
    }
    snprintf(path, path_size, "%s", name);
    *keep_fd = far;
    return master;
}

static void answer_rtu_frame(int fd, struct mb_rtu_rx *rx, struct sim_device *dev, uint64_t now)
{
    uint8_t frame[MB_MAX_RTU_ADU];
    size_t len = mb_rtu_rx_take(rx, now, frame);
    if (len == 0)
        return;
    dev->step(dev->ctx, now);
    uint8_t rsp[MB_MAX_RTU_ADU];
    size_t rsp_len = mb_rtu_process(&dev->slave, frame, len, rsp);
    if (rsp_len > 0 && write_all(fd, rsp, rsp_len) != 0) {
        /* the master went away mid-answer; it will ask again */
    }
}

static int serve_rtu(const struct sim_bus_options *o, struct sim_device *dev, const char *who)
{
    int keep_fd;
    char path[256];
    int fd = open_rtu(o, &keep_fd, path, sizeof path, who);
    if (fd < 0)
        return 1;
    if (install_handlers(who) != 0) {
        close(fd);
        if (keep_fd >= 0)
            close(keep_fd);
        return 1;
    }
    char address[300];
    snprintf(address, sizeof address, "rtu:%s", path);
    announce(address);

    struct mb_rtu_rx rx;
    mb_rtu_rx_init(&rx, mb_rtu_silence_us(o->baud, mb_rtu_bits_per_char(8, o->parity, o->stop_bits)));
    dev->step(dev->ctx, sim_monotonic_us());
    int status = 0;
    for (;;) {
        uint32_t wait_us = mb_rtu_rx_wait_us(&rx, sim_monotonic_us());
        int timeout_ms = wait_us == UINT32_MAX ? IDLE_STEP_MS : (int)((wait_us + 999) / 1000);
        if (timeout_ms > IDLE_STEP_MS)
            timeout_ms = IDLE_STEP_MS;
        struct pollfd fds[2] = {
            {.fd = g_wake_pipe[0], .events = POLLIN},
            {.fd = fd, .events = POLLIN},
        };
        int n = poll(fds, 2, timeout_ms);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "polydaq-sim: %s: poll: %s\n", who, strerror(errno));
            status = 1;
            break;
        }
        uint64_t now = sim_monotonic_us();
        /* A frame the silence has ended is answered before new bytes can start the next one. */
        answer_rtu_frame(fd, &rx, dev, now);
        if (n > 0 && fds[0].revents)
            break;
        if (n > 0 && (fds[1].revents & POLLIN)) {
            uint8_t buf[MB_MAX_RTU_ADU];
            ssize_t got = read(fd, buf, sizeof buf);
            if (got > 0) {
                mb_rtu_rx_push(&rx, buf, (size_t)got, now);
            } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
                fprintf(stderr, "polydaq-sim: %s: the line %s closed\n", who, path);
                status = 1;
                break;
            }
        } else if (n > 0 && (fds[1].revents & (POLLHUP | POLLERR | POLLNVAL))) {
            fprintf(stderr, "polydaq-sim: %s: the line %s hung up\n", who, path);
            status = 1;
            break;
        }
        if (n == 0)
            dev->step(dev->ctx, now);
    }
    close(fd);
    if (keep_fd >= 0)
        close(keep_fd);
    remove_handlers();
    return status;
}

int sim_bus_serve(const struct sim_bus_options *o, struct sim_device *dev, const char *who)
{
    if (!o->tcp && !o->rtu)
        return sim_usage_error("%s: --tcp HOST:PORT or --rtu PTY|auto is required", who);
    if (o->tcp && o->rtu)
        return sim_usage_error("%s: give either --tcp or --rtu, not both", who);
    dev->slave.unit_id = (uint8_t)o->unit;
    return o->tcp ? serve_tcp(o, dev, who) : serve_rtu(o, dev, who);
}
