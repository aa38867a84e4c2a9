/* mb_tcp.h — loopback TCP and Modbus TCP framing for the test devices and proxies that stand
 * between the driver and a device (mb_peer, the fault proxy, the gateway): they frame the
 * protocol themselves instead of trusting the library under test. Plain status returns, no
 * assertions, so a server thread can use them too. */
#ifndef PD_TEST_MB_TCP_H
#define PD_TEST_MB_TCP_H

#include <stddef.h>
#include <stdint.h>

/* The largest Modbus TCP ADU: 7-byte MBAP header and a PDU of up to 253 bytes. */
#define PD_TEST_MB_ADU_MAX (7 + 253)

/* Exactly n bytes from fd, each part within timeout_ms of the last; 0, or -1 on silence, error or
 * end of stream. */
int pd_test_read_exact(int fd, uint8_t *buf, size_t n, int timeout_ms);

/* One whole ADU into buf (PD_TEST_MB_ADU_MAX bytes), its length into *len; 0, or -1 on silence,
 * error, end of stream or a length field outside 2..254 (no function code, or too long). */
int pd_test_mb_read_adu(int fd, uint8_t *buf, size_t *len, int timeout_ms);

/* A TCP socket bound to an ephemeral port on 127.0.0.1 (not yet listening), its port into *port;
 * the fd, or -1 with errno. Bound but never listened on, it is a port where nobody answers. */
int pd_test_tcp_bind_loopback(int *port);

/* A TCP connection to 127.0.0.1:port; the fd, or -1 with errno. */
int pd_test_tcp_connect_loopback(int port);

#endif
