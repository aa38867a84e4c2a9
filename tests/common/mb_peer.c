/* mb_peer.c — the scripted Modbus TCP test device (see mb_peer.h). */
#include "common/mb_peer.h"

#include "common/mb_tcp.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned be16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }

static bool read_fails(struct pd_test_mb_peer *peer, unsigned function, unsigned first, unsigned count)
{
    int ff = atomic_load(&peer->fail_function);
    unsigned lo = (unsigned)atomic_load(&peer->fail_first), hi = (unsigned)atomic_load(&peer->fail_last);
    return ff != 0 && (unsigned)ff == function && first <= hi && first + count - 1 >= lo;
}

/* The answer PDU for a request PDU (function code first); its length, or 0 for no answer. */
static size_t answer_pdu(struct pd_test_mb_peer *peer, const uint8_t *req, size_t len, uint8_t *rsp)
{
    unsigned function = req[0];
    rsp[0] = (uint8_t)function;
    if ((function == 3 || function == 4) && len == 5) {
        unsigned first = be16(req + 1), count = be16(req + 3);
        if (count == 0 || count > 125 || first + count > PD_TEST_MB_PEER_REGISTERS) {
            rsp[0] |= 0x80;
            rsp[1] = count == 0 || count > 125 ? 3 : 2; /* illegal data value / address */
            return 2;
        }
        if (read_fails(peer, function, first, count)) {
            int code = atomic_load(&peer->fail_exception);
            if (code == 0)
                return 0;
            rsp[0] |= 0x80;
            rsp[1] = (uint8_t)code;
            return 2;
        }
        const uint16_t *table = function == 3 ? peer->holding : peer->input;
        rsp[1] = (uint8_t)(2 * count);
        pthread_mutex_lock(&peer->lock);
        for (unsigned i = 0; i < count; i++) {
            rsp[2 + 2 * i] = (uint8_t)(table[first + i] >> 8);
            rsp[3 + 2 * i] = (uint8_t)table[first + i];
        }
        pthread_mutex_unlock(&peer->lock);
        return 2 + 2 * count;
    }
    if (function == 6 && len == 5 && be16(req + 1) < PD_TEST_MB_PEER_REGISTERS) {
        pthread_mutex_lock(&peer->lock);
        peer->holding[be16(req + 1)] = (uint16_t)be16(req + 3);
        pthread_mutex_unlock(&peer->lock);
        memcpy(rsp, req, 5);
        return 5;
    }
    rsp[0] |= 0x80;
    rsp[1] = 1; /* illegal function */
    return 2;
}

/* Serves one request from fd; false when the connection is to be closed. */
static bool serve_one(struct pd_test_mb_peer *peer, int fd)
{
    uint8_t req[PD_TEST_MB_ADU_MAX], rsp[PD_TEST_MB_ADU_MAX];
    size_t adu_len;
    if (pd_test_mb_read_adu(fd, req, &adu_len, 1000) != 0)
        return false;
    size_t length = adu_len - 6; /* the header's length field: unit id + PDU */
    atomic_store(&peer->last_unit, req[6]);
    atomic_fetch_add(&peer->requests, 1);
    size_t n = answer_pdu(peer, req + 7, length - 1, rsp + 7);
    if (n == 0)
        return true; /* silence: the client times out */
    int unit = atomic_load(&peer->reply_unit);
    memcpy(rsp, req, 4); /* transaction and protocol id */
    rsp[4] = (uint8_t)((n + 1) >> 8);
    rsp[5] = (uint8_t)(n + 1);
    rsp[6] = unit < 0 ? req[6] : (uint8_t)unit;
    switch (atomic_exchange(&peer->mangle_next, PD_MB_MANGLE_NONE)) {
    case PD_MB_MANGLE_PROTOCOL: rsp[3] = 1; break;
    case PD_MB_MANGLE_FUNCTION: rsp[7] = (uint8_t)(rsp[7] == 3 ? 4 : 3); break;
    case PD_MB_MANGLE_SHORT:
        if (n > 2 && !(rsp[7] & 0x80)) {
            n--;
            rsp[8]--;
            rsp[4] = (uint8_t)((n + 1) >> 8);
            rsp[5] = (uint8_t)(n + 1);
        }
        break;
    case PD_MB_MANGLE_TRANSACTION:
        rsp[1]--;
        if (rsp[1] == 0xFF)
            rsp[0]--;
        break;
    default: break;
    }
    if (send(fd, rsp, 7 + n, MSG_NOSIGNAL) != (ssize_t)(7 + n))
        return false;
    return !atomic_load(&peer->close_after_answer);
}

static void *peer_main(void *arg)
{
    struct pd_test_mb_peer *peer = arg;
    int client = -1;
    while (!atomic_load(&peer->stop)) {
        struct pollfd p[2] = {{.fd = peer->listen_fd, .events = POLLIN}, {.fd = client, .events = POLLIN}};
        if (poll(p, client >= 0 ? 2 : 1, 20) <= 0)
            continue;
        if (p[0].revents & POLLIN) { /* a new connection replaces the old one, as on small devices */
            int fd = accept(peer->listen_fd, NULL, NULL);
            if (fd < 0)
                continue;
            if (client >= 0)
                close(client);
            client = fd;
            atomic_fetch_add(&peer->connections, 1);
            continue;
        }
        if (client >= 0 && !serve_one(peer, client)) {
            close(client);
            client = -1;
        }
    }
    if (client >= 0)
        close(client);
    return NULL;
}

int pd_test_mb_peer_start(struct pd_test_mb_peer *peer)
{
    memset(peer, 0, sizeof *peer);
    atomic_store(&peer->reply_unit, -1);
    pthread_mutex_init(&peer->lock, NULL);
    peer->listen_fd = pd_test_tcp_bind_loopback(&peer->port);
    if (peer->listen_fd < 0)
        return -1;
    if (listen(peer->listen_fd, 8) != 0) {
        int e = errno;
        close(peer->listen_fd);
        errno = e;
        return -1;
    }
    int rc = pthread_create(&peer->thread, NULL, peer_main, peer);
    if (rc != 0) {
        close(peer->listen_fd);
        errno = rc;
        return -1;
    }
    return 0;
}

void pd_test_mb_peer_stop(struct pd_test_mb_peer *peer)
{
    atomic_store(&peer->stop, 1);
    pthread_join(peer->thread, NULL);
    close(peer->listen_fd);
    pthread_mutex_destroy(&peer->lock);
}

void pd_test_mb_peer_put_float(struct pd_test_mb_peer *peer, unsigned address, float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    pthread_mutex_lock(&peer->lock);
    peer->input[address] = (uint16_t)(bits >> 16);
    peer->input[address + 1] = (uint16_t)bits;
    pthread_mutex_unlock(&peer->lock);
}
