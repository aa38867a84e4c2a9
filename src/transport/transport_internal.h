/* transport_internal.h — private to src/transport: the backend table and the transport object. */
#ifndef PD_TRANSPORT_INTERNAL_H
#define PD_TRANSPORT_INTERNAL_H

#include "transport/transport.h"

struct sp_port;

/* What a backend does; the framing, statistics and buffering above it are shared. */
struct pd_transport_ops {
    /* Like pd_transport_read, without the line buffer. timeout_ms 0 = only what is there now. */
    int (*read)(struct pd_transport *t, void *buf, size_t max, size_t *got, int timeout_ms, struct pd_err *err);
    int (*write)(struct pd_transport *t, const void *buf, size_t len, int timeout_ms, struct pd_err *err);
    /* Drops what the OS holds for us: the bytes dropped (as far as known), or a negative status
     * when the port is gone. */
    long (*drop_input)(struct pd_transport *t, struct pd_err *err);
    void (*close)(struct pd_transport *t);
};

#define PD_TRANSPORT_RBUF (PD_TRANSPORT_LINE_MAX + PD_TRANSPORT_TERM_MAX + 64)

struct pd_transport {
    const struct pd_transport_ops *ops;
    enum pd_transport_kind kind;
    char name[PD_TRANSPORT_NAME_MAX];
    int fd;               /* tty and tcp backends */
    struct sp_port *port; /* libserialport backend */

    struct pd_line_framing framing;
    size_t term_len;
    bool skipping; /* the rest of an overlong line is being dropped */
    size_t rlen;
    unsigned char rbuf[PD_TRANSPORT_RBUF];
    struct pd_transport_stats stats;
};

/* Backends: fill t->ops and the handle; t->name is set. Errors name the port. */
int pd_transport_open_serial(struct pd_transport *t, const struct pd_serial_params *p, struct pd_err *err);
int pd_transport_open_tty(struct pd_transport *t, const struct pd_serial_params *p, struct pd_err *err);
int pd_transport_open_tcp(struct pd_transport *t, const char *hostport, int timeout_ms, struct pd_err *err);
/* true when libserialport accepts the name (the port exists under its enumeration). */
bool pd_transport_serial_known(const char *name);

#endif
