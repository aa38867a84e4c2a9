/* fd_backends.c — the two transports on plain file descriptors: termios ttys (ptys and ports
 * libserialport refuses) and raw TCP byte streams. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "transport/transport_internal.h"

/* ---- shared fd I/O -------------------------------------------------------------------------*/

static int fd_wait(struct pd_transport *t, short events, int timeout_ms, struct pd_err *err)
{
    struct pollfd p = {.fd = t->fd, .events = events};
    int64_t deadline = pd_clock_mono_ns() + (int64_t)timeout_ms * 1000000LL;
    for (;;) {
        int64_t left = (deadline - pd_clock_mono_ns() + 999999) / 1000000;
        int r = poll(&p, 1, left > 0 ? (int)left : 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return pd_err_set_os(err, PD_EIO, errno, t->name, "poll failed");
        if (r == 0)
            return PD_ETIMEOUT;
        if (p.revents & (events | POLLHUP | POLLERR))
            return PD_OK; /* the read/write itself reports a hang-up or error precisely */
        if (p.revents & POLLNVAL)
            return pd_err_set(err, PD_EIO, t->name, "port handle is no longer valid");
    }
}

static int fd_read(struct pd_transport *t, void *buf, size_t max, size_t *got, int timeout_ms, struct pd_err *err)
{
    for (;;) {
        int rc = fd_wait(t, POLLIN, timeout_ms, err);
        if (rc == PD_ETIMEOUT)
            return pd_err_set(err, PD_ETIMEOUT, t->name, "nothing received within %d ms", timeout_ms);
        if (rc < 0)
            return rc;
        ssize_t n = read(t->fd, buf, max);
        if (n > 0) {
            *got = (size_t)n;
            return PD_OK;
        }
        if (n == 0)
            return pd_err_set(err, PD_EIO, t->name, "connection closed by the other end");
        if (errno == EINTR || errno == EAGAIN)
            continue;
        /* EIO on a tty: the other end of the pty went away, or the adapter was unplugged. */
        return pd_err_set_os(err, PD_EIO, errno, t->name, "read failed (port gone?)");
    }
}

static int fd_write(struct pd_transport *t, const void *buf, size_t len, int timeout_ms, struct pd_err *err)
{
    const unsigned char *p = buf;
    int64_t deadline = pd_clock_mono_ns() + (int64_t)timeout_ms * 1000000LL;
    while (len > 0) {
        int64_t left = (deadline - pd_clock_mono_ns()) / 1000000;
        int rc = fd_wait(t, POLLOUT, left > 0 ? (int)left : 0, err);
        if (rc == PD_ETIMEOUT)
            return pd_err_set(err, PD_ETIMEOUT, t->name, "could not send within %d ms", timeout_ms);
        if (rc < 0)
            return rc;
        ssize_t n = t->kind == PD_TRANSPORT_TCP_RAW ? send(t->fd, p, len, MSG_NOSIGNAL) : write(t->fd, p, len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return pd_err_set_os(err, PD_EIO, errno, t->name, "write failed");
        }
        p += n;
        len -= (size_t)n;
    }
    return PD_OK;
}

static void fd_close(struct pd_transport *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

/* ---- termios -------------------------------------------------------------------------------*/

static long tty_drop_input(struct pd_transport *t, struct pd_err *err)
{
    int waiting = 0;
    if (ioctl(t->fd, FIONREAD, &waiting) != 0)
        waiting = 0;
    if (tcflush(t->fd, TCIFLUSH) != 0 && errno != ENOTTY)
        return pd_err_set_os(err, PD_EIO, errno, t->name, "cannot flush input");
    return waiting;
}

static const struct pd_transport_ops tty_ops = {
    .read = fd_read, .write = fd_write, .drop_input = tty_drop_input, .close = fd_close,
};

static speed_t baud_constant(long baud)
{
    static const struct {
        long baud;
        speed_t constant;
    } table[] = {
        {50, B50},         {75, B75},         {110, B110},       {134, B134},         {150, B150},
        {200, B200},       {300, B300},       {600, B600},       {1200, B1200},       {1800, B1800},
        {2400, B2400},     {4800, B4800},     {9600, B9600},     {19200, B19200},     {38400, B38400},
        {57600, B57600},   {115200, B115200}, {230400, B230400}, {460800, B460800},   {500000, B500000},
        {576000, B576000}, {921600, B921600}, {1000000, B1000000}, {2000000, B2000000}, {4000000, B4000000},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].baud == baud)
            return table[i].constant;
    return 0;
}

int pd_transport_open_tty(struct pd_transport *t, const struct pd_serial_params *p, struct pd_err *err)
{
    speed_t speed = baud_constant(p->baud);
    if (!speed)
        return pd_err_set(err, PD_EUNSUPPORTED, t->name, "baud rate %ld is not a standard rate", p->baud);
    int fd = open(t->name, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return pd_err_set_os(err, PD_EIO, errno, t->name, "cannot open");
    struct termios tio;
    if (tcgetattr(fd, &tio) != 0) {
        int e = errno;
        close(fd);
        return pd_err_set_os(err, e == ENOTTY ? PD_ECONFIG : PD_EIO, e, t->name, "not a serial port or tty");
    }
    cfmakeraw(&tio);
    cfsetispeed(&tio, speed);
    cfsetospeed(&tio, speed);
    tio.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CMSPAR | CSTOPB | CRTSCTS);
    tio.c_cflag |= CLOCAL | CREAD;
    static const tcflag_t sizes[] = {CS5, CS6, CS7, CS8};
    tio.c_cflag |= sizes[p->data_bits - 5];
    switch (p->parity) {
    case PD_PARITY_EVEN: tio.c_cflag |= PARENB; break;
    case PD_PARITY_ODD: tio.c_cflag |= PARENB | PARODD; break;
    case PD_PARITY_MARK: tio.c_cflag |= PARENB | PARODD | CMSPAR; break;
    case PD_PARITY_SPACE: tio.c_cflag |= PARENB | CMSPAR; break;
    default: break;
    }
    if (p->stop_bits == 2)
        tio.c_cflag |= CSTOPB;
    tio.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
    if (p->flow == PD_FLOW_XONXOFF)
        tio.c_iflag |= IXON | IXOFF;
    else if (p->flow == PD_FLOW_RTSCTS)
        tio.c_cflag |= CRTSCTS;
    else if (p->flow == PD_FLOW_DTRDSR) {
        close(fd);
        return pd_err_set(err, PD_EUNSUPPORTED, t->name, "DTR/DSR flow control needs libserialport");
    }
    tio.c_cc[VMIN] = 0;
    tio.c_cc[VTIME] = 0;
    if (tcsetattr(fd, TCSANOW, &tio) != 0) {
        int e = errno;
        close(fd);
        return pd_err_set_os(err, PD_EIO, e, t->name, "cannot apply line settings");
    }
    /* One user at a time, like libserialport: a second opener gets EBUSY. */
    ioctl(fd, TIOCEXCL);
    t->fd = fd;
    t->ops = &tty_ops;
    return PD_OK;
}

/* ---- raw TCP -------------------------------------------------------------------------------*/

static long tcp_drop_input(struct pd_transport *t, struct pd_err *err)
{
    unsigned char scratch[512];
    long dropped = 0;
    for (;;) {
        ssize_t n = recv(t->fd, scratch, sizeof scratch, MSG_DONTWAIT);
        if (n > 0) {
            t->stats.bytes_in += (uint64_t)n;
            dropped += n;
            continue;
        }
        if (n == 0)
            return pd_err_set(err, PD_EIO, t->name, "connection closed by the other end");
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return dropped;
        return pd_err_set_os(err, PD_EIO, errno, t->name, "connection lost");
    }
}

static const struct pd_transport_ops tcp_ops = {
    .read = fd_read, .write = fd_write, .drop_input = tcp_drop_input, .close = fd_close,
};

int pd_transport_open_tcp(struct pd_transport *t, const char *hostport, int timeout_ms, struct pd_err *err)
{
    char host[PD_TRANSPORT_NAME_MAX], port_text[16];
    long port;
    if (!pd_transport_split_hostport(hostport, host, sizeof host, &port))
        return pd_err_set(err, PD_EINVAL, t->name, "expected tcp-raw://HOST:PORT");
    if (port == 0)
        return pd_err_set(err, PD_ESTATE, t->name, "port 0: the real port must be set before open");
    snprintf(port_text, sizeof port_text, "%ld", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int gai = getaddrinfo(host, port_text, &hints, &res);
    if (gai != 0)
        return pd_err_set(err, PD_EIO, t->name, "cannot resolve %s: %s", host, gai_strerror(gai));
    int rc = PD_EIO, last_errno = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            last_errno = errno;
            close(fd);
            continue;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int r;
        do
            r = poll(&pfd, 1, timeout_ms);
        while (r < 0 && errno == EINTR);
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (r <= 0) {
            last_errno = r == 0 ? ETIMEDOUT : errno;
            close(fd);
            continue;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
            last_errno = soerr ? soerr : errno;
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        t->fd = fd;
        t->ops = &tcp_ops;
        rc = PD_OK;
        break;
    }
    freeaddrinfo(res);
    if (rc < 0)
        return pd_err_set_os(err, last_errno == ETIMEDOUT ? PD_ETIMEOUT : PD_EIO, last_errno, t->name,
                             "cannot connect");
    return PD_OK;
}
