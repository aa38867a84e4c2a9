/* serialport.c — the libserialport backend (real serial ports) and the enumeration of ports. */
#include <errno.h>
#include <libserialport.h>
#include <stdlib.h>
#include <string.h>

#include "transport/transport_internal.h"

static int sp_failure(struct pd_transport *t, enum sp_return r, const char *what, struct pd_err *err)
{
    char *msg = sp_last_error_message();
    int e = r == SP_ERR_FAIL ? sp_last_error_code() : 0;
    int rc = pd_err_set(err, r == SP_ERR_MEM ? PD_ENOMEM : PD_EIO, t->name, "%s: %s", what,
                        r == SP_ERR_FAIL && msg ? msg : r == SP_ERR_ARG ? "invalid argument" : "not supported");
    if (err)
        err->os_errno = e;
    sp_free_error_message(msg);
    return rc;
}

static int serial_read(struct pd_transport *t, void *buf, size_t max, size_t *got, int timeout_ms, struct pd_err *err)
{
    /* sp_blocking_read_next with timeout 0 would wait forever. */
    int n = timeout_ms > 0 ? sp_blocking_read_next(t->port, buf, max, (unsigned)timeout_ms)
                           : sp_nonblocking_read(t->port, buf, max);
    if (n < 0)
        return sp_failure(t, (enum sp_return)n, "read failed (port gone?)", err);
    if (n == 0)
        return pd_err_set(err, PD_ETIMEOUT, t->name, "nothing received within %d ms", timeout_ms);
    *got = (size_t)n;
    return PD_OK;
}

static int serial_write(struct pd_transport *t, const void *buf, size_t len, int timeout_ms, struct pd_err *err)
{
    int n = sp_blocking_write(t->port, buf, len, (unsigned)(timeout_ms > 0 ? timeout_ms : 1));
    if (n < 0)
        return sp_failure(t, (enum sp_return)n, "write failed", err);
    if ((size_t)n < len)
        return pd_err_set(err, PD_ETIMEOUT, t->name, "could not send within %d ms", timeout_ms);
    return PD_OK;
}

static long serial_drop_input(struct pd_transport *t, struct pd_err *err)
{
    int waiting = sp_input_waiting(t->port);
    enum sp_return r = sp_flush(t->port, SP_BUF_INPUT);
    return r == SP_OK ? (waiting > 0 ? waiting : 0) : sp_failure(t, r, "cannot flush input", err);
}

static void serial_close(struct pd_transport *t)
{
    if (!t->port)
        return;
    sp_close(t->port);
    sp_free_port(t->port);
    t->port = NULL;
}

static const struct pd_transport_ops serial_ops = {
    .read = serial_read, .write = serial_write, .drop_input = serial_drop_input, .close = serial_close,
};

bool pd_transport_serial_known(const char *name)
{
    struct sp_port *p = NULL;
    if (sp_get_port_by_name(name, &p) != SP_OK)
        return false;
    sp_free_port(p);
    return true;
}

int pd_transport_open_serial(struct pd_transport *t, const struct pd_serial_params *p, struct pd_err *err)
{
    struct sp_port *port = NULL;
    enum sp_return r = sp_get_port_by_name(t->name, &port);
    if (r != SP_OK)
        return sp_failure(t, r, "no such serial port", err);
    t->port = port;
    if ((r = sp_open(port, SP_MODE_READ_WRITE)) != SP_OK) {
        int rc = sp_failure(t, r, "cannot open", err);
        sp_free_port(port);
        t->port = NULL;
        return rc;
    }
    static const enum sp_parity parities[] = {SP_PARITY_NONE, SP_PARITY_EVEN, SP_PARITY_ODD, SP_PARITY_MARK,
                                              SP_PARITY_SPACE};
    static const enum sp_flowcontrol flows[] = {SP_FLOWCONTROL_NONE, SP_FLOWCONTROL_XONXOFF, SP_FLOWCONTROL_RTSCTS,
                                                SP_FLOWCONTROL_DTRDSR};
    const char *what = "cannot set the baud rate";
    if ((r = sp_set_baudrate(port, (int)p->baud)) == SP_OK && (what = "cannot set the data bits") &&
        (r = sp_set_bits(port, p->data_bits)) == SP_OK && (what = "cannot set the parity") &&
        (r = sp_set_parity(port, parities[p->parity])) == SP_OK && (what = "cannot set the stop bits") &&
        (r = sp_set_stopbits(port, p->stop_bits)) == SP_OK && (what = "cannot set flow control") &&
        (r = sp_set_flowcontrol(port, flows[p->flow])) == SP_OK) {
        t->ops = &serial_ops;
        return PD_OK;
    }
    int rc = sp_failure(t, r, what, err);
    serial_close(t);
    return rc;
}

static void copy_or_empty(char *dst, size_t size, const char *src)
{
    pd_strlcpy(dst, src ? src : "", size);
}

int pd_transport_list_ports(struct pd_port_info **out, size_t *n, struct pd_err *err)
{
    struct sp_port **list = NULL;
    enum sp_return r = sp_list_ports(&list);
    if (r != SP_OK) {
        char *msg = sp_last_error_message();
        int rc = pd_err_set(err, PD_EIO, NULL, "cannot list serial ports: %s", msg ? msg : "unknown error");
        sp_free_error_message(msg);
        return rc;
    }
    size_t count = 0;
    while (list[count])
        count++;
    struct pd_port_info *ports = calloc(count ? count : 1, sizeof *ports);
    if (!ports) {
        sp_free_port_list(list);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory listing serial ports");
    }
    for (size_t i = 0; i < count; i++) {
        struct pd_port_info *pi = &ports[i];
        copy_or_empty(pi->name, sizeof pi->name, sp_get_port_name(list[i]));
        copy_or_empty(pi->description, sizeof pi->description, sp_get_port_description(list[i]));
        pi->usb_vid = pi->usb_pid = -1;
        switch (sp_get_port_transport(list[i])) {
        case SP_TRANSPORT_USB: {
            pd_strlcpy(pi->kind, "usb", sizeof pi->kind);
            int vid, pid;
            if (sp_get_port_usb_vid_pid(list[i], &vid, &pid) == SP_OK) {
                pi->usb_vid = vid;
                pi->usb_pid = pid;
            }
            copy_or_empty(pi->usb_manufacturer, sizeof pi->usb_manufacturer, sp_get_port_usb_manufacturer(list[i]));
            copy_or_empty(pi->usb_product, sizeof pi->usb_product, sp_get_port_usb_product(list[i]));
            copy_or_empty(pi->usb_serial, sizeof pi->usb_serial, sp_get_port_usb_serial(list[i]));
            break;
        }
        case SP_TRANSPORT_BLUETOOTH: pd_strlcpy(pi->kind, "bluetooth", sizeof pi->kind); break;
        default: pd_strlcpy(pi->kind, "native", sizeof pi->kind); break;
        }
    }
    sp_free_port_list(list);
    *out = ports;
    *n = count;
    return PD_OK;
}
