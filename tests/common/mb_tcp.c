/* mb_tcp.c — loopback TCP and Modbus TCP framing for test devices and proxies (see mb_tcp.h). */
#include "common/mb_tcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

int pd_test_read_exact(int fd, uint8_t *buf, size_t n, int timeout_ms)
{
    size_t have = 0;
    while (have < n) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) <= 0)
            return -1;
        ssize_t k = read(fd, buf + have, n - have);
        if (k <= 0)
            return -1;
        have += (size_t)k;
    }
    return 0;
}

int pd_test_mb_read_adu(int fd, uint8_t *buf, size_t *len, int timeout_ms)
{
    if (pd_test_read_exact(fd, buf, 7, timeout_ms) != 0)
        return -1;
    size_t length = (size_t)buf[4] << 8 | buf[5]; /* unit id + PDU */
    if (length < 2 || length > 254 || pd_test_read_exact(fd, buf + 7, length - 1, timeout_ms) != 0)
        return -1;
    *len = 6 + length;
    return 0;
}

/* Closes fd keeping the errno of what failed before. */
static int fail_closing(int fd)
{
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

int pd_test_tcp_bind_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return fail_closing(fd);
    *port = ntohs(a.sin_port);
    return fd;
}

int pd_test_tcp_connect_loopback(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        return fail_closing(fd);
    return fd;
}
