/* transport.c — the backend-independent part of a transport: choosing the backend by name, the
 * read buffer, line framing with bounded length and timeouts, timed request/response exchanges. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/transport_internal.h"

const char *const pd_parity_names[] = {"none", "even", "odd", "mark", "space", NULL};
const char *const pd_flow_names[] = {"none", "xonxoff", "rtscts", "dtrdsr", NULL};

void pd_serial_params_default(struct pd_serial_params *p)
{
    *p = (struct pd_serial_params){.baud = 9600, .parity = PD_PARITY_NONE, .data_bits = 8, .stop_bits = 1,
                                   .flow = PD_FLOW_NONE};
}

static const char *tcp_address(const char *name)
{
    if (strncmp(name, "tcp-raw://", 10) == 0)
        return name + 10;
    if (strncmp(name, "tcp://", 6) == 0)
        return name + 6;
    return NULL;
}

int pd_transport_classify(const char *name, enum pd_transport_kind *kind, struct pd_err *err)
{
    if (!name || !name[0])
        return pd_err_set(err, PD_EINVAL, NULL, "empty port name");
    const char *hp = tcp_address(name);
    if (hp) {
        char host[PD_TRANSPORT_NAME_MAX];
        long port;
        if (!pd_transport_split_hostport(hp, host, sizeof host, &port))
            return pd_err_set(err, PD_EINVAL, name, "expected tcp-raw://HOST:PORT with PORT 0..65535");
        *kind = PD_TRANSPORT_TCP_RAW;
        return PD_OK;
    }
    *kind = pd_transport_serial_known(name) ? PD_TRANSPORT_SERIAL : PD_TRANSPORT_TTY;
    return PD_OK;
}

bool pd_transport_split_hostport(const char *hostport, char *host, size_t host_size, long *port)
{
    const char *colon = strrchr(hostport, ':');
    if (!colon || colon == hostport)
        return false;
    const char *h = hostport;
    size_t hlen = (size_t)(colon - hostport);
    if (h[0] == '[') {
        if (hlen < 3 || h[hlen - 1] != ']')
            return false;
        h++;
        hlen -= 2;
    }
    if (hlen + 1 > host_size)
        return false;
    long p;
    if (!pd_parse_long(colon + 1, &p) || p < 0 || p > 65535 || colon[1] < '0' || colon[1] > '9')
        return false;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = p;
    return true;
}

const char *pd_transport_kind_name(enum pd_transport_kind kind)
{
    switch (kind) {
    case PD_TRANSPORT_SERIAL: return "serial";
    case PD_TRANSPORT_TTY: return "tty";
    case PD_TRANSPORT_TCP_RAW: return "tcp-raw";
    }
    return "?";
}

int pd_transport_open(const char *name, const struct pd_serial_params *params, int open_timeout_ms,
                      struct pd_transport **out, struct pd_err *err)
{
    enum pd_transport_kind kind;
    int rc = pd_transport_classify(name, &kind, err);
    if (rc < 0)
        return rc;
    struct pd_serial_params defaults;
    if (!params) {
        pd_serial_params_default(&defaults);
        params = &defaults;
    }
    if (kind != PD_TRANSPORT_TCP_RAW) {
        if (params->baud < 50 || params->baud > 4000000 || params->data_bits < 5 || params->data_bits > 8 ||
            (params->stop_bits != 1 && params->stop_bits != 2) || params->parity < 0 ||
            params->parity > PD_PARITY_SPACE || params->flow < 0 || params->flow > PD_FLOW_DTRDSR)
            return pd_err_set(err, PD_EINVAL, name, "invalid line settings (baud %ld, %d data bits, %d stop bits)",
                              params->baud, params->data_bits, params->stop_bits);
    }
    struct pd_transport *t = calloc(1, sizeof *t);
    if (!t)
        return pd_err_set(err, PD_ENOMEM, name, "out of memory for port %s", name);
    t->fd = -1;
    t->kind = kind;
    if (pd_strlcpy(t->name, name, sizeof t->name) != 0) {
        free(t);
        return pd_err_set(err, PD_EINVAL, NULL, "port name too long (at most %d bytes)", PD_TRANSPORT_NAME_MAX - 1);
    }
    pd_transport_set_framing(t, "\r\n", 256, NULL);
    switch (kind) {
    case PD_TRANSPORT_SERIAL: rc = pd_transport_open_serial(t, params, err); break;
    case PD_TRANSPORT_TTY: rc = pd_transport_open_tty(t, params, err); break;
    case PD_TRANSPORT_TCP_RAW: rc = pd_transport_open_tcp(t, tcp_address(name), open_timeout_ms, err); break;
    }
    if (rc < 0) {
        free(t);
        return rc;
    }
    *out = t;
    return PD_OK;
}

void pd_transport_close(struct pd_transport *t)
{
    if (!t)
        return;
    if (t->ops)
        t->ops->close(t);
    free(t);
}

const char *pd_transport_name(const struct pd_transport *t) { return t->name; }
enum pd_transport_kind pd_transport_kind_of(const struct pd_transport *t) { return t->kind; }

void pd_transport_stats(const struct pd_transport *t, struct pd_transport_stats *out) { *out = t->stats; }

int pd_transport_write(struct pd_transport *t, const void *buf, size_t len, int timeout_ms, struct pd_err *err)
{
    int rc = t->ops->write(t, buf, len, timeout_ms, err);
    if (rc == 0)
        t->stats.bytes_out += len;
    else if (rc == PD_ETIMEOUT)
        t->stats.timeouts++;
    return rc;
}

int pd_transport_read(struct pd_transport *t, void *buf, size_t max, size_t *got, int timeout_ms, struct pd_err *err)
{
    if (max == 0)
        return pd_err_set(err, PD_EINVAL, t->name, "read of 0 bytes");
    if (t->rlen > 0) {
        size_t n = t->rlen < max ? t->rlen : max;
        memcpy(buf, t->rbuf, n);
        memmove(t->rbuf, t->rbuf + n, t->rlen - n);
        t->rlen -= n;
        *got = n;
        return PD_OK;
    }
    size_t n = 0;
    int rc = t->ops->read(t, buf, max, &n, timeout_ms, err);
    if (rc == 0) {
        t->stats.bytes_in += n;
        *got = n;
    } else if (rc == PD_ETIMEOUT) {
        t->stats.timeouts++;
    }
    return rc;
}

long pd_transport_flush_input(struct pd_transport *t, int quiet_ms, struct pd_err *err)
{
    long dropped = (long)t->rlen;
    t->rlen = 0;
    t->skipping = false;
    long os_dropped = t->ops->drop_input(t, err);
    if (os_dropped < 0)
        return os_dropped;
    dropped += os_dropped;
    int rc;
    /* Bytes already in flight (a late reply) arrive within the quiet time; bounded so a device
     * that never stops talking cannot keep us here. */
    int64_t end = pd_clock_mono_ns() + 4LL * quiet_ms * 1000000LL;
    unsigned char scratch[256];
    while (quiet_ms > 0 && pd_clock_mono_ns() < end) {
        size_t n = 0;
        rc = t->ops->read(t, scratch, sizeof scratch, &n, quiet_ms, err);
        if (rc == PD_ETIMEOUT)
            break;
        if (rc < 0)
            return rc;
        dropped += (long)n;
        t->stats.bytes_in += n;
    }
    t->stats.flushed_bytes += (uint64_t)dropped;
    return dropped;
}

int pd_transport_set_framing(struct pd_transport *t, const char *terminator, size_t max_line, struct pd_err *err)
{
    size_t tl = terminator ? strlen(terminator) : 0;
    if (tl == 0 || tl >= PD_TRANSPORT_TERM_MAX)
        return pd_err_set(err, PD_EINVAL, t->name, "terminator must be 1..%d bytes",
                          PD_TRANSPORT_TERM_MAX - 1);
    if (max_line < 1 || max_line > PD_TRANSPORT_LINE_MAX)
        return pd_err_set(err, PD_EINVAL, t->name, "maximum line length must be 1..%d",
                          PD_TRANSPORT_LINE_MAX);
    memcpy(t->framing.terminator, terminator, tl + 1);
    t->framing.max_line = max_line;
    t->term_len = tl;
    return PD_OK;
}

static void consume(struct pd_transport *t, size_t n)
{
    memmove(t->rbuf, t->rbuf + n, t->rlen - n);
    t->rlen -= n;
}

/* Index of the terminator's last byte in the buffer, or -1. */
static long find_end(const struct pd_transport *t)
{
    unsigned char last = (unsigned char)t->framing.terminator[t->term_len - 1];
    const unsigned char *p = memchr(t->rbuf, last, t->rlen);
    return p ? (long)(p - t->rbuf) : -1;
}

int pd_transport_read_line(struct pd_transport *t, char *line, size_t size, size_t *len, int timeout_ms,
                           struct pd_err *err)
{
    if (size == 0)
        return pd_err_set(err, PD_EINVAL, t->name, "no room for a line");
    int64_t deadline = pd_clock_mono_ns() + (int64_t)timeout_ms * 1000000LL;
    size_t max_line = t->framing.max_line;
    for (;;) {
        long end = find_end(t);
        if (t->skipping) {
            if (end >= 0) {
                consume(t, (size_t)end + 1);
                t->skipping = false;
                continue;
            }
            t->rlen = 0;
        } else if (end >= 0) {
            size_t content = (size_t)end;
            size_t rest = t->term_len - 1; /* bytes of the terminator before its last one */
            if (rest && content >= rest && memcmp(t->rbuf + content - rest, t->framing.terminator, rest) == 0)
                content -= rest;
            int rc = PD_OK;
            if (content > max_line) {
                t->stats.overlong_lines++;
                rc = pd_err_set(err, PD_EPROTO, t->name, "line of %zu bytes exceeds the maximum of %zu", content, max_line);
            } else if (memchr(t->rbuf, 0, content)) {
                t->stats.nul_lines++;
                rc = pd_err_set(err, PD_EPROTO, t->name, "line contains a NUL byte");
            } else if (content + 1 > size) {
                rc = pd_err_set(err, PD_EINVAL, t->name, "line of %zu bytes does not fit the caller's %zu", content, size);
            }
            if (rc == PD_OK) {
                memcpy(line, t->rbuf, content);
                line[content] = '\0';
                if (len)
                    *len = content;
                t->stats.lines++;
            }
            consume(t, (size_t)end + 1);
            return rc;
        } else if (t->rlen >= max_line + t->term_len) {
            /* No terminator where one had to be: drop what we have and the rest up to the next
             * terminator, so memory stays bounded whatever the device sends. */
            t->stats.overlong_lines++;
            t->rlen = 0;
            t->skipping = true;
            return pd_err_set(err, PD_EPROTO, t->name,
                              "no line terminator within %zu bytes (endless line dropped)", max_line);
        }
        int64_t left_ns = deadline - pd_clock_mono_ns();
        if (left_ns <= 0) {
            t->stats.timeouts++;
            return pd_err_set(err, PD_ETIMEOUT, t->name, "no complete line within %d ms%s", timeout_ms,
                              t->rlen ? " (partial line received)" : "");
        }
        size_t room = sizeof t->rbuf - t->rlen;
        size_t n = 0;
        int rc = t->ops->read(t, t->rbuf + t->rlen, room, &n, (int)((left_ns + 999999) / 1000000), err);
        if (rc == PD_ETIMEOUT)
            continue; /* re-checked against the deadline above */
        if (rc < 0)
            return rc;
        t->rlen += n;
        t->stats.bytes_in += n;
    }
}

int pd_transport_request(struct pd_transport *t, const char *request, char *line, size_t size, size_t *len,
                         int timeout_ms, struct pd_exchange_time *timing, struct pd_err *err)
{
    long flushed = pd_transport_flush_input(t, 0, err);
    if (flushed < 0)
        return (int)flushed;
    size_t rl = strlen(request);
    char out[PD_TRANSPORT_LINE_MAX + PD_TRANSPORT_TERM_MAX];
    if (rl + t->term_len > sizeof out)
        return pd_err_set(err, PD_EINVAL, t->name, "request of %zu bytes is too long", rl);
    memcpy(out, request, rl);
    memcpy(out + rl, t->framing.terminator, t->term_len);
    int64_t sent = pd_clock_mono_ns();
    int rc = pd_transport_write(t, out, rl + t->term_len, timeout_ms, err);
    if (rc < 0)
        return rc;
    rc = pd_transport_read_line(t, line, size, len, timeout_ms, err);
    if (rc < 0)
        return rc;
    int64_t received = pd_clock_mono_ns();
    if (timing) {
        timing->sent_ns = sent;
        timing->received_ns = received;
        timing->half_width_ns = (received - sent) / 2;
        timing->mid_ns = sent + timing->half_width_ns;
    }
    return PD_OK;
}

/* ---- escapes -------------------------------------------------------------------------------*/

void pd_transport_escape(const char *in, size_t len, char *out, size_t size)
{
    if (size == 0)
        return;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        char piece[8];
        if (c == '\r')
            strcpy(piece, "\\r");
        else if (c == '\n')
            strcpy(piece, "\\n");
        else if (c == '\t')
            strcpy(piece, "\\t");
        else if (c == '\\')
            strcpy(piece, "\\\\");
        else if (c < 0x20 || c >= 0x7f)
            snprintf(piece, sizeof piece, "\\x%02X", c);
        else {
            piece[0] = (char)c;
            piece[1] = '\0';
        }
        size_t pl = strlen(piece);
        if (o + pl + 4 > size) {
            if (o + 4 <= size) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        memcpy(out + o, piece, pl);
        o += pl;
    }
    out[o < size ? o : size - 1] = '\0';
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int pd_transport_unescape(const char *in, char *out, size_t size, size_t *len)
{
    size_t o = 0;
    for (const char *p = in; *p; p++) {
        char c = *p;
        if (c == '\\') {
            p++;
            switch (*p) {
            case 'r': c = '\r'; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case '\\': c = '\\'; break;
            case 'x': {
                int hi = hex_digit(p[1]), lo = hi >= 0 ? hex_digit(p[2]) : -1;
                if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                    return PD_EINVAL;
                c = (char)(hi * 16 + lo);
                p += 2;
                break;
            }
            default: return PD_EINVAL;
            }
        }
        if (o + 1 >= size)
            return PD_EINVAL;
        out[o++] = c;
    }
    if (size == 0)
        return PD_EINVAL;
    out[o] = '\0';
    if (len)
        *len = o;
    return PD_OK;
}
