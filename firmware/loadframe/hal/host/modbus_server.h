/*
 * modbus_server.h — the host hal's Modbus TCP server: listens, serves one client at a time with
 * libmodbus, steps the load-frame core on the real monotonic clock and answers from its registers.
 */
#ifndef SIM_MODBUS_SERVER_H
#define SIM_MODBUS_SERVER_H

#include <stddef.h>

#include "loadframe/core/model.h"

struct sim_server;

/* Binds and listens on host:port (port 0 = ephemeral). Returns 0, or -1 with a one-line reason
 * in `why`. `frame` is borrowed and must outlive the server. */
int sim_server_create(struct sim_server **out, const char *host, const char *port, int unit_id,
                      struct lf_frame *frame, char *why, size_t why_size);
/* "tcp://HOST:PORT" with the numeric address and the actual (possibly ephemeral) port. */
int sim_server_address(const struct sim_server *server, char *buf, size_t size);
/* Serves until SIGINT/SIGTERM (handlers installed here). 0 on a signal, -1 with `why` on a
 * fatal error. */
int sim_server_run(struct sim_server *server, char *why, size_t why_size);
void sim_server_destroy(struct sim_server *server);

#endif /* SIM_MODBUS_SERVER_H */
