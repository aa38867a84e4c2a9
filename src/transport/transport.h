/*
 * transport.h — byte streams to instruments that speak over serial lines, and the line framing on
 * top of them. Three backends sit behind one small table of operations:
 *   - libserialport for real ports (/dev/ttyUSB0, /dev/ttyS0, COM3), with port enumeration and USB
 *     metadata;
 *   - termios for pseudo-terminals and any other tty libserialport refuses by name (Debian 12's
 *     libserialport 0.1.1 looks ports up under /sys/class/tty, so /dev/pts/N fails with ENOENT);
 *   - raw TCP, "tcp-raw://HOST:PORT", for RS-232-to-Ethernet device servers.
 * On top: bounded reads with timeouts, framed line reads (terminator, per-line timeout, maximum
 * length: an endless line is an error, never a growing buffer) and timed request/response
 * exchanges (midpoint timestamp and half-width, as the Modbus driver records them).
 *
 * A transport is used from one thread at a time.
 */
#ifndef PD_TRANSPORT_H
#define PD_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/core.h"

#define PD_TRANSPORT_NAME_MAX 256
#define PD_TRANSPORT_TERM_MAX 8
/* Longest line the framing accepts; configs may ask for less. */
#define PD_TRANSPORT_LINE_MAX 4096

enum pd_transport_kind {
    PD_TRANSPORT_SERIAL,  /* libserialport */
    PD_TRANSPORT_TTY,     /* termios (ptys and ttys libserialport refuses) */
    PD_TRANSPORT_TCP_RAW, /* a byte stream over TCP */
};

enum pd_parity { PD_PARITY_NONE, PD_PARITY_EVEN, PD_PARITY_ODD, PD_PARITY_MARK, PD_PARITY_SPACE };
enum pd_flow { PD_FLOW_NONE, PD_FLOW_XONXOFF, PD_FLOW_RTSCTS, PD_FLOW_DTRDSR };

/* NULL-terminated names as written in configs, indexed by the enums above. */
extern const char *const pd_parity_names[];
extern const char *const pd_flow_names[];

/* Line settings; ignored by raw TCP (the device server owns them). */
struct pd_serial_params {
    long baud;      /* 50..4000000 */
    int parity;     /* enum pd_parity */
    int data_bits;  /* 5..8 */
    int stop_bits;  /* 1 or 2 */
    int flow;       /* enum pd_flow */
};
/* 9600 8N1, no flow control. */
void pd_serial_params_default(struct pd_serial_params *p);

struct pd_transport; /* opaque */

/* Which backend a name goes to (without opening it): "tcp-raw://H:P" (and "tcp://H:P", the same
 * byte stream) → TCP; a path libserialport knows → SERIAL; another tty path → TTY. Returns
 * PD_EINVAL with a message for a malformed tcp address. */
int pd_transport_classify(const char *name, enum pd_transport_kind *kind, struct pd_err *err);

/* Splits "HOST:PORT" / "[V6]:PORT" (PORT 0..65535); false when malformed. */
bool pd_transport_split_hostport(const char *hostport, char *host, size_t host_size, long *port);

/* Opens `name` (see classify) with `params` (NULL: defaults). `open_timeout_ms` bounds the TCP
 * connect. Errors name the port. On failure *out is untouched. */
int pd_transport_open(const char *name, const struct pd_serial_params *params, int open_timeout_ms,
                      struct pd_transport **out, struct pd_err *err);
/* Closes and frees; NULL is fine. */
void pd_transport_close(struct pd_transport *t);

const char *pd_transport_name(const struct pd_transport *t);
enum pd_transport_kind pd_transport_kind_of(const struct pd_transport *t);
const char *pd_transport_kind_name(enum pd_transport_kind kind); /* "serial", "tty", "tcp-raw" */

/* Writes all `len` bytes within `timeout_ms`. PD_ETIMEOUT when the line would not take them,
 * PD_EIO when the port is gone (closed peer, unplugged adapter). */
int pd_transport_write(struct pd_transport *t, const void *buf, size_t len, int timeout_ms,
                       struct pd_err *err);
/* Reads what is available, up to `max` bytes, waiting at most `timeout_ms` for the first byte.
 * Returns 0 with *got >= 1; PD_ETIMEOUT when nothing came; PD_EIO at end of stream or a vanished
 * port. Bytes the line reader has buffered are returned first. */
int pd_transport_read(struct pd_transport *t, void *buf, size_t max, size_t *got, int timeout_ms,
                      struct pd_err *err);
/* Discards everything pending (the driver's buffer, the OS buffer and what is already on the way
 * for up to `quiet_ms` of silence, 0 = only what is there now). Returns the bytes discarded or
 * a negative status when the port is gone. */
long pd_transport_flush_input(struct pd_transport *t, int quiet_ms, struct pd_err *err);

/* ---- lines ---------------------------------------------------------------------------------*/
/* Framing for pd_transport_read_line: the terminator ("\r\n" for most instruments; matching is on
 * its last byte, and the rest of it is stripped when present, so a lone "\n" also ends a line)
 * and the longest line accepted (at most PD_TRANSPORT_LINE_MAX). */
struct pd_line_framing {
    char terminator[PD_TRANSPORT_TERM_MAX];
    size_t max_line;
};
/* Sets the framing (default "\r\n", 256). PD_EINVAL for an empty/overlong terminator or max. */
int pd_transport_set_framing(struct pd_transport *t, const char *terminator, size_t max_line,
                             struct pd_err *err);

/* Reads one line (terminator stripped, NUL-terminated, at most size-1 bytes) within `timeout_ms`
 * for the whole line. A line reaching max_line bytes without a terminator fails with PD_EPROTO
 * and the rest of it (up to the next terminator) is skipped by the next call; NUL bytes in a line
 * are kept out of the result and make it PD_EPROTO. PD_ETIMEOUT for a partial line in time (the
 * partial bytes stay buffered: a late terminator completes it), PD_EIO for a vanished port. */
int pd_transport_read_line(struct pd_transport *t, char *line, size_t size, size_t *len, int timeout_ms,
                           struct pd_err *err);

/* The timing of one request/response exchange on CLOCK_MONOTONIC. */
struct pd_exchange_time {
    int64_t sent_ns;     /* just before the request was written */
    int64_t received_ns; /* when the response's terminator arrived */
    int64_t mid_ns;      /* (sent + received) / 2: the reading's timestamp */
    int64_t half_width_ns;
};

/* Flushes stale input, writes `request` followed by the terminator, reads one response line.
 * `timing` (may be NULL) is filled on success. */
int pd_transport_request(struct pd_transport *t, const char *request, char *line, size_t size, size_t *len,
                         int timeout_ms, struct pd_exchange_time *timing, struct pd_err *err);

/* Counters over the transport's life. */
struct pd_transport_stats {
    uint64_t bytes_in, bytes_out;
    uint64_t lines, overlong_lines, nul_lines, timeouts, flushed_bytes;
};
void pd_transport_stats(const struct pd_transport *t, struct pd_transport_stats *out);

/* ---- enumeration ---------------------------------------------------------------------------*/
struct pd_port_info {
    char name[PD_TRANSPORT_NAME_MAX]; /* "/dev/ttyUSB0" */
    char description[128];
    char kind[16]; /* "native", "usb", "bluetooth" */
    int usb_vid, usb_pid; /* -1 when unknown */
    char usb_manufacturer[128];
    char usb_product[128];
    char usb_serial[128];
};
/* The serial ports of this machine (libserialport's list; ptys are never listed). *out is
 * malloc'd (free it), *n may be 0. */
int pd_transport_list_ports(struct pd_port_info **out, size_t *n, struct pd_err *err);

/* "\r\n" → "\\r\\n", non-printable bytes as \xHH; for messages quoting what came off the wire.
 * Always terminates; truncates with "..." when out is too small. */
void pd_transport_escape(const char *in, size_t len, char *out, size_t size);
/* The reverse for config text: \r \n \t \\ \xHH; PD_EINVAL for a bad escape or overflow. */
int pd_transport_unescape(const char *in, char *out, size_t size, size_t *len);

/* ---- the port part of an instrument's config section ---------------------------------------*/
/* Keys: transport (required), baud, parity, data_bits, stop_bits, flow_control, response_timeout_ms,
 * terminator (escapes \r \n \xHH), max_line. Line settings with a tcp-raw transport are an error
 * (the device server owns them). */
struct pd_transport_config {
    char transport[PD_TRANSPORT_NAME_MAX];
    struct pd_serial_params serial;
    long response_timeout_ms;
    char terminator[PD_TRANSPORT_TERM_MAX];
    long max_line;
};
extern const char *const pd_transport_config_keys[]; /* NULL-terminated */
/* Decodes those keys of `instrument` (other keys are left to the caller); errors name
 * file:line:column. `default_terminator` applies when the key is absent. */
int pd_transport_config_decode(const struct pd_cfg_node *instrument, const char *default_terminator,
                               struct pd_transport_config *out, struct pd_err *err);
/* Points a decoded config at another transport (e.g. the address a simulator reported): checks the
 * name like the config key; `where` names the instrument in messages. `c` untouched on error. */
int pd_transport_config_set_name(struct pd_transport_config *c, const char *transport, const char *where,
                                 struct pd_err *err);
/* Opens the configured port and applies the framing. */
int pd_transport_config_open(const struct pd_transport_config *c, struct pd_transport **out, struct pd_err *err);

#endif /* PD_TRANSPORT_H */
