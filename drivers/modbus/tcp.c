/* tcp.c — Modbus TCP requests framed by the driver, answers checked field by field (tcp.h). */
#include "modbus/tcp.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/core.h"

int pd_mb_tcp_connect(struct pd_mb_tcp *t)
{
    if (modbus_connect(t->ctx) != 0)
        return errno ? errno : EIO;
    t->connected = true;
    return 0;
}

void pd_mb_tcp_close(struct pd_mb_tcp *t)
{
    if (t->connected)
        modbus_close(t->ctx);
    t->connected = false;
}

static int64_t ms_to_ns(long ms) { return (int64_t)ms * 1000000LL; }

/* The longest silence allowed inside an answer once its first byte came. */
static int64_t gap_ns(const struct pd_mb_tcp *t)
{
    return ms_to_ns(t->byte_timeout_ms > 0 ? t->byte_timeout_ms : t->response_timeout_ms);
}

/* poll() for `events` until `deadline`: 1 ready, 0 timed out, -1 error (errno). */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - pd_clock_mono_ns();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)((left + 999999) / 1000000));
        if (r < 0 && errno == EINTR)
            continue;
        return r;
    }
}

/* The socket libmodbus made is non-blocking: send in pieces as it accepts them. */
static int send_all(int fd, const uint8_t *buf, size_t n, int64_t deadline)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = send(fd, buf + done, n - done, MSG_NOSIGNAL);
        if (k > 0) {
            done += (size_t)k;
            continue;
        }
        if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        int r = wait_fd(fd, POLLOUT, deadline);
        if (r == 0)
            errno = ETIMEDOUT;
        if (r <= 0)
            return -1;
    }
    return 0;
}

/* Exactly n bytes: the first within first_ns, each further piece within gap of the one before. A
 * peer that closes before all came is ECONNRESET (a link fault, not a garbled answer). */
static int recv_exact(int fd, uint8_t *buf, size_t n, int64_t first_ns, int64_t gap)
{
    size_t have = 0;
    int64_t deadline = pd_clock_mono_ns() + first_ns;
    while (have < n) {
        int r = wait_fd(fd, POLLIN, deadline);
        if (r == 0)
            errno = ETIMEDOUT;
        if (r <= 0)
            return -1;
        ssize_t k = recv(fd, buf + have, n - have, 0);
        if (k == 0) {
            errno = ECONNRESET;
            return -1;
        }
        if (k < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                continue;
            return -1;
        }
        have += (size_t)k;
        deadline = pd_clock_mono_ns() + gap;
    }
    return 0;
}

/* A malformed or foreign answer: errno e, the particulars in t->detail. */
static int garbled(struct pd_mb_tcp *t, int e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int garbled(struct pd_mb_tcp *t, int e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->detail, sizeof t->detail, fmt, ap);
    va_end(ap);
    errno = e;
    return -1;
}

/* One request PDU out, its answer PDU (function code first) into `answer`, *answer_len bytes. */
static int tcp_transact(struct pd_mb_tcp *t, const uint8_t *pdu, size_t pdu_len,
                        uint8_t *answer, size_t *answer_len)
{
    int fd = modbus_get_socket(t->ctx);
    if (fd < 0) {
        errno = ENOTCONN;
        return -1;
    }
    uint8_t adu[MODBUS_TCP_MAX_ADU_LENGTH];
    uint16_t tid = ++t->transaction;
    size_t length = pdu_len + 1; /* unit id + PDU */
    adu[0] = (uint8_t)(tid >> 8);
    adu[1] = (uint8_t)tid;
    adu[2] = adu[3] = 0; /* protocol id: Modbus */
    adu[4] = (uint8_t)(length >> 8);
    adu[5] = (uint8_t)length;
    adu[6] = (uint8_t)t->unit;
    memcpy(adu + 7, pdu, pdu_len);
    int64_t timeout = ms_to_ns(t->response_timeout_ms);
    if (send_all(fd, adu, 7 + pdu_len, pd_clock_mono_ns() + timeout) != 0)
        return -1;

    uint8_t head[7];
    if (recv_exact(fd, head, sizeof head, timeout, gap_ns(t)) != 0)
        return -1;
    unsigned got_tid = (unsigned)head[0] << 8 | head[1];
    unsigned protocol = (unsigned)head[2] << 8 | head[3];
    unsigned got_length = (unsigned)head[4] << 8 | head[5];
    if (protocol != 0 || got_length < 2 || got_length > 1 + MODBUS_MAX_PDU_LENGTH)
        return garbled(t, EMBBADDATA, "malformed MBAP header (protocol id %u, length %u)", protocol,
                       got_length);
    if (recv_exact(fd, answer, got_length - 1, gap_ns(t), gap_ns(t)) != 0)
        return -1;
    if (got_tid != tid)
        return garbled(t, EMBBADDATA, "answer to transaction %u, not %u (a late reply?)", got_tid,
                       tid);
    if (head[6] != (uint8_t)t->unit && !t->any_unit) {
        t->unit_mismatches++;
        return garbled(t, EMBBADSLAVE,
                       "answer from unit %u, not unit %ld: discarded (another device's answer; "
                       "transparent_gateway accepts any unit id)",
                       head[6], t->unit);
    }
    if (answer[0] == (pdu[0] | 0x80)) {
        if (got_length - 1 != 2)
            return garbled(t, EMBBADDATA, "exception answer of %u bytes", got_length - 1);
        unsigned code = answer[1];
        errno = code >= 1 && code <= 11 ? (int)(MODBUS_ENOBASE + code) : EMBUNKEXC;
        return -1;
    }
    if (answer[0] != pdu[0])
        return garbled(t, EMBBADDATA, "function %u answered to a function %u request", answer[0],
                       pdu[0]);
    *answer_len = got_length - 1;
    return 0;
}

/* With connect_per_request, a connection for this request alone: connected now, closed as soon
 * as the answer is in (the device would close it anyway). Those connects are how such a device
 * works, so they are counted apart from faults and reopens. */
static int tcp_exchange(struct pd_mb_tcp *t, const uint8_t *pdu, size_t pdu_len,
                        uint8_t *answer, size_t *answer_len)
{
    t->detail[0] = '\0';
    if (!t->connected) {
        if (!t->per_request) {
            errno = ENOTCONN; /* a renewal failed: the caller's reopen is due */
            return -1;
        }
        int e = pd_mb_tcp_connect(t);
        if (e) {
            errno = e;
            return -1;
        }
        t->request_connects++;
    }
    int rc = tcp_transact(t, pdu, pdu_len, answer, answer_len);
    if (t->per_request) {
        int e = errno;
        pd_mb_tcp_close(t);
        errno = e;
    }
    return rc;
}

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

int pd_mb_tcp_read(struct pd_mb_tcp *t, enum pd_mb_table table, unsigned address,
                    unsigned count, uint16_t *out)
{
    static const uint8_t function[PD_MB_TABLE_COUNT] = {3, 4, 1, 2};
    uint8_t pdu[5] = {function[table]};
    put16(pdu + 1, address);
    put16(pdu + 3, count);
    uint8_t answer[MODBUS_MAX_PDU_LENGTH];
    size_t n = 0;
    if (tcp_exchange(t, pdu, sizeof pdu, answer, &n) != 0)
        return -1;
    bool bits = pd_mb_table_is_bits(table);
    size_t want = bits ? (count + 7) / 8 : 2u * count;
    if (n != 2 + want || answer[1] != want)
        return garbled(t, EMBBADDATA, "answer of %zu data bytes (byte count %u) to a request for %zu",
                       n >= 2 ? n - 2 : 0, n >= 2 ? answer[1] : 0, want);
    for (unsigned i = 0; i < count; i++)
        out[i] = bits ? (uint16_t)(answer[2 + i / 8] >> (i % 8) & 1u)
                      : (uint16_t)((unsigned)answer[2 + 2 * i] << 8 | answer[3 + 2 * i]);
    return (int)count;
}

int pd_mb_tcp_write(struct pd_mb_tcp *t, const struct pd_mb_field *f, const uint16_t *regs)
{
    unsigned width = pd_mb_field_width(f);
    uint8_t pdu[6 + 2 * 4];
    size_t len = 5;
    if (f->table == PD_MB_COIL) {
        pdu[0] = 5;
        put16(pdu + 3, regs[0] ? 0xFF00u : 0x0000u);
    } else if (width == 1) {
        pdu[0] = 6;
        put16(pdu + 3, regs[0]);
    } else {
        pdu[0] = 16;
        put16(pdu + 3, width);
        pdu[5] = (uint8_t)(2 * width);
        for (unsigned i = 0; i < width; i++)
            put16(pdu + 6 + 2 * i, regs[i]);
        len = 6 + 2 * width;
    }
    put16(pdu + 1, f->address);
    uint8_t answer[MODBUS_MAX_PDU_LENGTH];
    size_t n = 0;
    if (tcp_exchange(t, pdu, len, answer, &n) != 0)
        return -1;
    /* functions 5 and 6 echo the request; 16 echoes address and count */
    if (n != 5 || memcmp(answer, pdu, 5) != 0)
        return garbled(t, EMBBADDATA, "write confirmation does not echo the request");
    return (int)width;
}

/* Function 17: the data after the byte count into dest (as modbus_report_slave_id). */
int pd_mb_tcp_report_slave_id(struct pd_mb_tcp *t, size_t max, uint8_t *dest)
{
    uint8_t pdu[1] = {17};
    uint8_t answer[MODBUS_MAX_PDU_LENGTH];
    size_t n = 0;
    if (tcp_exchange(t, pdu, sizeof pdu, answer, &n) != 0)
        return -1;
    if (n < 2 || n != 2u + answer[1])
        return garbled(t, EMBBADDATA, "report slave id answer of %zu bytes", n);
    size_t k = answer[1] < max ? answer[1] : max;
    memcpy(dest, answer + 2, k);
    return (int)answer[1];
}

