/* line_server.c — serving a simulated instrument's line protocol on a pty or raw TCP, with fault
 * injection (shared by the balance, durometer and melt flow indexer simulators). */
#define _GNU_SOURCE /* posix_openpt, ptsname, cfmakeraw */
#include "line_server.h"

#include "mbslave/hal/host/sim_args.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define REQUEST_MAX 256
#define REPLY_MAX 1024

static volatile sig_atomic_t quit_requested;

static void on_signal(int sig)
{
    (void)sig;
    quit_requested = 1;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double line_server_clock(double time_scale)
{
    static double start;
    if (start == 0)
        start = mono_s();
    return (mono_s() - start) * time_scale;
}

static int parse_count(const char *s, unsigned long *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || (*end && *end != ':'))
        return -1;
    *out = v;
    return (int)(end - s);
}

int line_faults_parse(struct line_faults *f, const char *spec, char *why, size_t why_size)
{
    char buf[256];
    if (strlen(spec) >= sizeof buf) {
        snprintf(why, why_size, "fault spec too long");
        return -1;
    }
    strcpy(buf, spec);
    struct line_faults n = *f;
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (strcmp(item, "off") == 0) {
            memset(&n, 0, sizeof n);
            continue;
        }
        char *eq = strchr(item, '=');
        if (!eq) {
            snprintf(why, why_size, "fault '%s' needs =N", item);
            return -1;
        }
        *eq = '\0';
        const char *val = eq + 1;
        unsigned long v, ms = 0;
        int used = parse_count(val, &v);
        if (used < 0) {
            snprintf(why, why_size, "fault %s: '%s' is not a count", item, val);
            return -1;
        }
        if (val[used] == ':') {
            if (strcmp(item, "stall-after") != 0 || parse_count(val + used + 1, &ms) < 0 ||
                strchr(val + used + 1, ':')) {
                snprintf(why, why_size, "fault %s: bad value '%s'", item, val);
                return -1;
            }
        }
        if (strcmp(item, "drop-every") == 0)
            n.drop_every = v;
        else if (strcmp(item, "corrupt-every") == 0)
            n.corrupt_every = v;
        else if (strcmp(item, "stall-after") == 0) {
            n.stall_after = v;
            n.stall_ms = ms;
        } else if (strcmp(item, "disconnect-after") == 0)
            n.disconnect_after = v;
        else if (strcmp(item, "endless-after") == 0)
            n.endless_after = v;
        else {
            snprintf(why, why_size,
                     "unknown fault '%s' (drop-every, corrupt-every, stall-after, disconnect-after, endless-after, off)",
                     item);
            return -1;
        }
    }
    *f = n;
    return 0;
}

int line_usage_error(const char *instrument, const char *fmt, const char *arg)
{
    fprintf(stderr, "polydaq-sim: %s: ", instrument);
    fprintf(stderr, fmt, arg);
    fputs(" (see --help)\n", stderr);
    return 2;
}

/* 1 when `opt` is one of the table's numbers (stored if valid and in range), 0 when not, 2 after
 * a usage error. */
static int take_number(const struct line_cli *cli, const char *opt, const char *val)
{
    for (size_t k = 0; k < cli->n_numbers; k++) {
        const struct line_number *n = &cli->numbers[k];
        if (strcmp(opt, n->option) != 0)
            continue;
        double v;
        if (sim_parse_double(val, &v) != 0)
            return line_usage_error(cli->server->instrument, "%s needs a number", opt);
        if ((n->lo_open ? !(v > n->lo) : !(v >= n->lo)) || !(v <= n->hi))
            return line_usage_error(cli->server->instrument, "unknown option or value out of range: %s", opt);
        *n->target = v;
        return 1;
    }
    return 0;
}

int line_cli_parse(const struct line_cli *cli, int argc, char **argv)
{
    const char *who = cli->server->instrument;
    for (int i = 0; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            fputs(cli->usage, stdout);
            return 0;
        }
        if (i + 1 >= argc)
            return line_usage_error(who, "option %s needs a value", opt);
        const char *val = argv[++i];
        int r = line_server_option(cli->server, opt, val);
        if (r < 0)
            return 2;
        if (r == 0 && cli->text_option)
            r = cli->text_option(cli->ctx, opt, val);
        if (r == 0)
            r = take_number(cli, opt, val);
        if (r == 2)
            return 2;
        if (r == 0)
            return line_usage_error(who, "unknown option or value out of range: %s", opt);
    }
    return LINE_CLI_SERVE;
}

int line_server_option(struct line_server_options *o, const char *opt, const char *val)
{
    if (strcmp(opt, "--pty") == 0) {
        o->pty = val;
        return 1;
    }
    if (strcmp(opt, "--tcp") == 0) {
        o->tcp = val;
        return 1;
    }
    if (strcmp(opt, "--fault") == 0) {
        char why[200];
        if (line_faults_parse(&o->faults, val, why, sizeof why) != 0) {
            fprintf(stderr, "polydaq-sim: %s: --fault: %s (see --help)\n", o->instrument, why);
            return -1;
        }
        return 1;
    }
    return 0;
}

/* ---- one connection ------------------------------------------------------------------------*/

struct conn {
    int fd;
    int is_tcp;
    unsigned long replies;  /* over the server's life, so faults count across reconnects */
    double stall_until;     /* mono seconds; <0 stalled for ever */
    int stalled;
};

static void send_bytes(struct conn *c, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = c->is_tcp ? send(c->fd, buf, len, MSG_NOSIGNAL) : write(c->fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nobody listening, or the buffer is full: a real device sends into the void */
        buf += n;
        len -= (size_t)n;
    }
}

enum after_reply { KEEP_GOING, DISCONNECT };

/* Applies the faults to the reply about to be sent (the reply count already includes it). */
static enum after_reply send_reply(struct conn *c, const struct line_faults *f, char *reply, size_t len,
                                   const char *instrument)
{
    unsigned long k = ++c->replies;
    if (f->drop_every && k % f->drop_every == 0 && len > 0) {
        size_t drop = len < 4 ? len : 4;
        fprintf(stderr, "%s: fault: reply %lu loses its last %zu bytes\n", instrument, k, drop);
        len -= drop;
    } else if (f->corrupt_every && k % f->corrupt_every == 0 && len > 2) {
        fprintf(stderr, "%s: fault: reply %lu corrupted\n", instrument, k);
        static const char garbage[] = {'\xfe', '?', '#', '\x01', '~'};
        for (size_t i = len / 3, j = 0; i < len - 2 && j < sizeof garbage; i++, j++)
            reply[i] = garbage[j];
    }
    if (f->endless_after && k == f->endless_after) {
        /* the device babbles instead of answering: one endless line, no terminator */
        fprintf(stderr, "%s: fault: endless line instead of reply %lu\n", instrument, k);
        char junk[1024];
        memset(junk, '9', sizeof junk);
        for (int i = 0; i < 8; i++)
            send_bytes(c, junk, sizeof junk);
    } else {
        send_bytes(c, reply, len);
    }
    if (f->stall_after && k == f->stall_after) {
        fprintf(stderr, "%s: fault: stalling after reply %lu\n", instrument, k);
        c->stalled = 1;
        c->stall_until = f->stall_ms ? mono_s() + (double)f->stall_ms / 1000.0 : -1;
    }
    if (f->disconnect_after && k == f->disconnect_after) {
        fprintf(stderr, "%s: fault: disconnecting after reply %lu\n", instrument, k);
        return DISCONNECT;
    }
    return KEEP_GOING;
}

/* Serves one connection until it ends (0), a disconnect fault (1) or a quit signal (2). */
static int serve(struct conn *c, struct line_server_options *o, line_handler_fn handler, void *ctx)
{
    char req[REQUEST_MAX];
    size_t rlen = 0;
    int overlong = 0;
    char reply[REPLY_MAX];
    while (!quit_requested) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int r = poll(&p, 1, 100);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        char buf[256];
        ssize_t n = read(c->fd, buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            if (!c->is_tcp && n < 0 && errno == EIO) {
                /* pty: the other side is closed for now; wait for it to come back */
                struct timespec ts = {0, 50 * 1000000L};
                nanosleep(&ts, NULL);
                continue;
            }
            return 0;
        }
        for (ssize_t i = 0; i < n; i++) {
            char ch = buf[i];
            if (o->cr_ends_request && (ch == '\r' || ch == '\n')) /* CR alone ends it; LF is ignored */
                ch = ch == '\r' ? '\n' : '\r';
            if (ch == '\r')
                continue;
            if (ch != '\n') {
                if (rlen + 1 < sizeof req)
                    req[rlen++] = ch;
                else
                    overlong = 1;
                continue;
            }
            req[rlen] = '\0';
            rlen = 0;
            if (c->stalled) {
                if (c->stall_until >= 0 && mono_s() >= c->stall_until)
                    c->stalled = 0;
                else
                    continue; /* read and ignored, as a hung device does */
            }
            size_t len;
            if (strncmp(req, "#FAULT ", 7) == 0) {
                char why[200];
                if (line_faults_parse(&o->faults, req + 7, why, sizeof why) == 0)
                    len = (size_t)snprintf(reply, sizeof reply, "#OK\r\n");
                else
                    len = (size_t)snprintf(reply, sizeof reply, "#ERR %s\r\n", why);
                send_bytes(c, reply, len);
                continue;
            }
            len = handler(ctx, overlong ? "" : req, reply, sizeof reply);
            overlong = 0;
            if (len > sizeof reply)
                len = sizeof reply;
            if (len > 0 && send_reply(c, &o->faults, reply, len, o->instrument) == DISCONNECT)
                return 1;
        }
    }
    return 2;
}

/* ---- pty -----------------------------------------------------------------------------------*/

static int make_raw(int fd)
{
    struct termios tio;
    if (tcgetattr(fd, &tio) != 0)
        return -1;
    cfmakeraw(&tio);
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    return tcsetattr(fd, TCSANOW, &tio);
}

static int run_pty(struct line_server_options *o, line_handler_fn handler, void *ctx)
{
    int fd, keep_slave = -1;
    if (strcmp(o->pty, "auto") == 0) {
        fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0 || grantpt(fd) != 0 || unlockpt(fd) != 0) {
            fprintf(stderr, "polydaq-sim: %s: cannot create a pty: %s\n", o->instrument, strerror(errno));
            return 1;
        }
        const char *slave = ptsname(fd);
        /* Holding the slave open ourselves keeps its settings (raw: no echo of our replies back
         * to us) and keeps the master readable while no client has it open. */
        keep_slave = slave ? open(slave, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
        if (keep_slave < 0 || make_raw(keep_slave) != 0) {
            fprintf(stderr, "polydaq-sim: %s: cannot set up %s: %s\n", o->instrument, slave ? slave : "pty",
                    strerror(errno));
            return 1;
        }
        printf("listening %s\n", slave);
    } else {
        fd = open(o->pty, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0 || make_raw(fd) != 0) {
            fprintf(stderr, "polydaq-sim: %s: cannot open %s: %s\n", o->instrument, o->pty, strerror(errno));
            return 1;
        }
        printf("serving %s\n", o->pty);
    }
    fflush(stdout);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct conn c = {.fd = fd, .is_tcp = 0};
    int how = serve(&c, o, handler, ctx);
    close(fd);
    if (keep_slave >= 0)
        close(keep_slave);
    /* A disconnect fault on a pty is a vanished port: the process ends with it. */
    return how == 1 ? 0 : 0;
}

/* ---- TCP -----------------------------------------------------------------------------------*/

static int run_tcp(struct line_server_options *o, line_handler_fn handler, void *ctx)
{
    char spec[256];
    if (strlen(o->tcp) >= sizeof spec) {
        fprintf(stderr, "polydaq-sim: %s: --tcp value too long\n", o->instrument);
        return 2;
    }
    strcpy(spec, o->tcp);
    char *colon = strrchr(spec, ':');
    if (!colon || colon == spec) {
        fprintf(stderr, "polydaq-sim: %s: --tcp needs HOST:PORT, not '%s'\n", o->instrument, o->tcp);
        return 2;
    }
    *colon = '\0';
    char *host = spec, *port = colon + 1;
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        host[strlen(host) - 1] = '\0';
        host++;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        fprintf(stderr, "polydaq-sim: %s: --tcp %s: %s\n", o->instrument, o->tcp, gai_strerror(gai));
        return 2;
    }
    int lfd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    int one = 1;
    if (lfd >= 0)
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (lfd < 0 || bind(lfd, res->ai_addr, res->ai_addrlen) != 0 || listen(lfd, 4) != 0) {
        fprintf(stderr, "polydaq-sim: %s: cannot listen on %s: %s\n", o->instrument, o->tcp, strerror(errno));
        freeaddrinfo(res);
        if (lfd >= 0)
            close(lfd);
        return 1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(lfd, (struct sockaddr *)&ss, &sl);
    char hbuf[NI_MAXHOST], pbuf[NI_MAXSERV];
    getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof hbuf, pbuf, sizeof pbuf, NI_NUMERICHOST | NI_NUMERICSERV);
    if (strchr(hbuf, ':'))
        printf("listening tcp-raw://[%s]:%s\n", hbuf, pbuf);
    else
        printf("listening tcp-raw://%s:%s\n", hbuf, pbuf);
    fflush(stdout);

    struct conn c = {.fd = -1, .is_tcp = 1};
    while (!quit_requested) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        int r = poll(&p, 1, 100);
        if (r <= 0)
            continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        c.fd = fd;
        c.stalled = 0;
        serve(&c, o, handler, ctx);
        close(fd);
    }
    close(lfd);
    return 0;
}

int line_server_run(const struct line_server_options *opts, line_handler_fn handler, void *ctx)
{
    struct line_server_options o = *opts;
    if (!!o.pty == !!o.tcp) {
        fprintf(stderr, "polydaq-sim: %s: exactly one of --pty PATH|auto and --tcp HOST:PORT is needed (see --help)\n",
                o.instrument);
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    line_server_clock(1.0); /* start the clock */
    return o.pty ? run_pty(&o, handler, ctx) : run_tcp(&o, handler, ctx);
}
