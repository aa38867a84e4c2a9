/*
 * tcp.h — the Modbus driver's TCP exchanges: requests framed by the driver and answers checked
 * field by field (transaction id, protocol id, length, unit id, function, byte count or echo), on
 * a socket that libmodbus resolves and connects. libmodbus 3.1.6 does not check, nor show, the
 * unit id of a TCP answer, so behind a gateway or a multi-drop converter another device's answer
 * would pass as this one's; here it is refused and counted.
 *
 * Every call returns the libmodbus way: -1 with errno ETIMEDOUT, EMBBADDATA or EMBBADSLAVE (with
 * the particulars in `detail`), MODBUS_ENOBASE + code for an exception (EMBUNKEXC outside 1..11),
 * ENOTCONN when not connected, or the socket's errno (ECONNRESET when the peer closed before the
 * whole answer came) — so the driver treats both transports alike.
 */
#ifndef PD_MODBUS_TCP_H
#define PD_MODBUS_TCP_H

#include <modbus.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "modbus/protocol.h"

struct pd_mb_tcp {
    /* set by the driver */
    modbus_t *ctx;            /* a TCP context: connects and owns the socket */
    long unit;                /* 0..255, put in every request */
    bool any_unit;            /* transparent_gateway: an answer's unit id is not checked */
    bool per_request;         /* connect_per_request: connect for each request, close after it */
    long response_timeout_ms; /* for the first byte of an answer (and for sending) */
    long byte_timeout_ms;     /* for each further piece of it; 0: response_timeout_ms */
    /* kept by the calls */
    bool connected;
    uint16_t transaction;           /* the last MBAP transaction id sent */
    unsigned long unit_mismatches;  /* answers from another unit id, discarded */
    unsigned long request_connects; /* connections made for one request (per_request) */
    char detail[128];               /* what was wrong with the last answer; "" when nothing */
};

/* 0, or the connect errno. */
int pd_mb_tcp_connect(struct pd_mb_tcp *t);
/* Closes the socket when connected. */
void pd_mb_tcp_close(struct pd_mb_tcp *t);

/* Reads count registers (0/1 per address in the bit tables) into out; returns count or -1. */
int pd_mb_tcp_read(struct pd_mb_tcp *t, enum pd_mb_table table, unsigned address, unsigned count,
                   uint16_t *out);
/* Writes a field's registers (function 5 for a coil, 6 for one register, 16 for more); returns
 * the number of registers or -1. */
int pd_mb_tcp_write(struct pd_mb_tcp *t, const struct pd_mb_field *f, const uint16_t *regs);
/* Function 17: the data after the byte count (id, run indicator, text) into dest, at most max
 * bytes; returns the byte count or -1 (as modbus_report_slave_id). */
int pd_mb_tcp_report_slave_id(struct pd_mb_tcp *t, size_t max, uint8_t *dest);

#endif /* PD_MODBUS_TCP_H */
