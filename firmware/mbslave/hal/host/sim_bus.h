/*
 * sim_bus.h — the host hal's Modbus line for every simulated instrument: a TCP server (one client
 * at a time, the next accepted after a disconnect) or RTU over a pseudo-terminal, both framed by
 * the firmware's own slave (mbslave). It announces its address with one stdout line,
 * `listening tcp://HOST:PORT` or `listening rtu:/dev/pts/N`, and serves until SIGINT/SIGTERM.
 */
#ifndef SIM_BUS_H
#define SIM_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "mbslave/core/mbslave.h"

struct sim_bus_options {
    const char *tcp;    /* "HOST:PORT" (PORT 0: ephemeral), or NULL */
    const char *rtu;    /* a pty path (one end of a socat pair), "auto" (a new pty), or NULL */
    uint32_t baud;      /* RTU: 19200 */
    char parity;        /* RTU: 'N', 'E' (default) or 'O' */
    unsigned stop_bits; /* RTU: 1 (default) or 2 */
    unsigned unit;      /* 1..247, default 1 */
};

/* The options' lines for an instrument's --help. */
extern const char sim_bus_usage[];

void sim_bus_options_defaults(struct sim_bus_options *options);
/* Takes `opt val` when opt is one of --tcp, --rtu, --baud, --parity, --stop-bits, --unit: returns
 * 1 (taken), 0 (not a bus option) or SIM_EXIT_USAGE after printing the usage error. */
int sim_bus_option(struct sim_bus_options *options, const char *opt, const char *val);

/* The simulated device on the line: its slave (register tables, unit, identity) and the clock hook
 * that runs its firmware loop up to the hal's monotonic time before each request and while idle. */
struct sim_device {
    struct mb_slave slave;
    void (*step)(void *ctx, uint64_t now_us);
    void *ctx;
};

/* Opens the line given by `options` (exactly one of tcp/rtu; else a usage error), announces it
 * and serves `device` until SIGINT or SIGTERM. `who` names the instrument in messages. Returns
 * the exit status: 0 after a signal, 1 when the line cannot be opened or fails, 2 bad usage. */
int sim_bus_serve(const struct sim_bus_options *options, struct sim_device *device, const char *who);

/* The host's monotonic clock in µs. */
uint64_t sim_monotonic_us(void);

#endif /* SIM_BUS_H */
