/* modbus_server.c — Modbus TCP front end of the simulated load frame (libmodbus, one client at a time). */
#include "modbus_server.h"

#include <errno.h>
#include <fcntl.h>
#include <modbus.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loadframe/core/loop.h"
#include "loadframe/core/regs.h"

/* While nobody asks, the frame still runs (a break happens on time); this bounds how stale it gets. */
#define IDLE_STEP_MS 100

struct sim_server {
    int listen_fd;
    int client_fd;
    int unit_id;
    modbus_t *ctx;            /* framing only: we accept the socket and hand it over */
    modbus_mapping_t *map;    /* reply buffer, refreshed from the core before each read reply */
    struct lf_frame *frame;
    struct sockaddr_storage bound;
    socklen_t bound_len;
};

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

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int open_listener(const char *host, const char *port, struct sockaddr_storage *bound,
                         socklen_t *bound_len, char *why, size_t why_size)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        snprintf(why, why_size, "tcp %s:%s: %s", host, port, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    int last_errno = 0;
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
        snprintf(why, why_size, "tcp %s:%s: cannot listen: %s", host, port, strerror(last_errno));
        return -1;
    }
    *bound_len = sizeof *bound;
    if (getsockname(fd, (struct sockaddr *)bound, bound_len) != 0) {
        snprintf(why, why_size, "tcp %s:%s: getsockname: %s", host, port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int sim_server_create(struct sim_server **out, const char *host, const char *port, int unit_id,
                      struct lf_frame *frame, char *why, size_t why_size)
{
    struct sim_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    s->listen_fd = -1;
    s->client_fd = -1;
    s->unit_id = unit_id;
    s->frame = frame;
    s->listen_fd = open_listener(host, port, &s->bound, &s->bound_len, why, why_size);
    if (s->listen_fd < 0) {
        free(s);
        return -1;
    }
    /* The address is never connected to: the context only frames requests on sockets we accept. */
    s->ctx = modbus_new_tcp("127.0.0.1", MODBUS_TCP_DEFAULT_PORT);
    s->map = modbus_mapping_new(0, 0, LF_HOLDING_REG_COUNT, LF_INPUT_REG_COUNT);
    if (!s->ctx || !s->map) {
        snprintf(why, why_size, "libmodbus: cannot create the server context: %s", modbus_strerror(errno));
        sim_server_destroy(s);
        return -1;
    }
    *out = s;
    return 0;
}

int sim_server_address(const struct sim_server *s, char *buf, size_t size)
{
    char host[NI_MAXHOST], port[NI_MAXSERV];
    if (getnameinfo((const struct sockaddr *)&s->bound, s->bound_len, host, sizeof host, port,
                    sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return -1;
    int n = s->bound.ss_family == AF_INET6 ? snprintf(buf, size, "tcp://[%s]:%s", host, port)
                                           : snprintf(buf, size, "tcp://%s:%s", host, port);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

static void drop_client(struct sim_server *s)
{
    if (s->client_fd >= 0) {
        close(s->client_fd);
        s->client_fd = -1;
        modbus_set_socket(s->ctx, -1);
    }
}

static void accept_client(struct sim_server *s)
{
    int fd = accept(s->listen_fd, NULL, NULL);
    if (fd < 0)
        return; /* the peer gave up before we got to it; keep listening */
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s->client_fd = fd;
    modbus_set_socket(s->ctx, fd);
}

static uint16_t be16_at(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

/* Answers one request already read into `req` (length `len`). Returns -1 when the reply could not
 * be sent (the client is gone). */
static int answer(struct sim_server *s, const uint8_t *req, int len)
{
    int hdr = modbus_get_header_length(s->ctx);
    if (len < hdr + 1)
        return 0;
    int unit = req[hdr - 1];
    if (unit != s->unit_id && unit != 0 && unit != 0xFF)
        return 0; /* another device behind a gateway: not ours to answer */
    const uint8_t *pdu = req + hdr;
    int pdu_len = len - hdr; /* TCP frames carry no checksum after the PDU */
    int function = pdu[0];
    int ex = 0;
    uint16_t values[LF_MAX_WRITE_COUNT];

    switch (function) {
    case MODBUS_FC_READ_INPUT_REGISTERS:
    case MODBUS_FC_READ_HOLDING_REGISTERS: {
        if (pdu_len < 5) {
            ex = LF_EX_ILLEGAL_VALUE;
            break;
        }
        uint16_t addr = be16_at(pdu + 1), count = be16_at(pdu + 3);
        if (function == MODBUS_FC_READ_INPUT_REGISTERS)
            ex = lf_regs_read_input(s->frame, addr, count, s->map->tab_input_registers + addr);
        else
            ex = lf_regs_read_holding(s->frame, addr, count, s->map->tab_registers + addr);
        break;
    }
    case MODBUS_FC_WRITE_SINGLE_REGISTER:
        if (pdu_len < 5) {
            ex = LF_EX_ILLEGAL_VALUE;
            break;
        }
        values[0] = be16_at(pdu + 3);
        ex = lf_regs_write_holding(s->frame, be16_at(pdu + 1), 1, values);
        break;
    case MODBUS_FC_WRITE_MULTIPLE_REGISTERS: {
        if (pdu_len < 6) {
            ex = LF_EX_ILLEGAL_VALUE;
            break;
        }
        uint16_t addr = be16_at(pdu + 1), count = be16_at(pdu + 3);
        int bytes = pdu[5];
        if (count < 1 || count > LF_MAX_WRITE_COUNT || bytes != 2 * count || pdu_len < 6 + bytes) {
            ex = LF_EX_ILLEGAL_VALUE;
            break;
        }
        for (int i = 0; i < count; i++)
            values[i] = be16_at(pdu + 6 + 2 * i);
        ex = lf_regs_write_holding(s->frame, addr, count, values);
        break;
    }
    default:
        ex = LF_EX_ILLEGAL_FUNCTION;
        break;
    }
    /* On success the mapping is a full-size image at address 0, so libmodbus's own range checks
     * pass and it echoes writes / copies the registers we just refreshed. */
    int rc = ex ? modbus_reply_exception(s->ctx, req, (unsigned)ex) : modbus_reply(s->ctx, req, len, s->map);
    return rc < 0 ? -1 : 0;
}

static void serve_client(struct sim_server *s)
{
    uint8_t req[MODBUS_TCP_MAX_ADU_LENGTH];
    int len = modbus_receive(s->ctx, req);
    if (len < 0) {
        drop_client(s); /* closed, reset or a truncated frame: wait for the next client */
        return;
    }
    if (len == 0)
        return;
    lf_step(s->frame, monotonic_us());
    if (answer(s, req, len) < 0)
        drop_client(s);
}

static int install_handlers(char *why, size_t why_size)
{
    if (pipe(g_wake_pipe) != 0) {
        snprintf(why, why_size, "pipe: %s", strerror(errno));
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
    sa.sa_handler = SIG_IGN; /* a client vanishing mid-reply must not kill the frame */
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

int sim_server_run(struct sim_server *s, char *why, size_t why_size)
{
    if (install_handlers(why, why_size) != 0)
        return -1;
    lf_step(s->frame, monotonic_us());
    int rc = 0;
    for (;;) {
        struct pollfd fds[2] = {
            {.fd = g_wake_pipe[0], .events = POLLIN},
            {.fd = s->client_fd >= 0 ? s->client_fd : s->listen_fd, .events = POLLIN},
        };
        int n = poll(fds, 2, IDLE_STEP_MS);
        if (n < 0 && errno != EINTR) {
            snprintf(why, why_size, "poll: %s", strerror(errno));
            rc = -1;
            break;
        }
        lf_step(s->frame, monotonic_us());
        if (n <= 0)
            continue;
        if (fds[0].revents)
            break;
        if (!fds[1].revents)
            continue;
        if (s->client_fd < 0)
            accept_client(s);
        else
            serve_client(s);
    }
    drop_client(s);
    remove_handlers();
    return rc;
}

void sim_server_destroy(struct sim_server *s)
{
    if (!s)
        return;
    drop_client(s);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->map)
        modbus_mapping_free(s->map);
    if (s->ctx)
        modbus_free(s->ctx);
    free(s);
}
