/* err.c — status names and the caller-supplied error detail (struct pd_err). */
#include "core/core.h"

#include <stdio.h>
#include <string.h>

const char *pd_status_name(int status)
{
    switch (status) {
    case PD_OK: return "ok";
    case PD_EINVAL: return "invalid argument";
    case PD_ECONFIG: return "config error";
    case PD_EIO: return "I/O error";
    case PD_ETIMEOUT: return "timeout";
    case PD_EPROTO: return "protocol error";
    case PD_EDEVICE: return "device exception";
    case PD_EBUSY: return "device busy";
    case PD_EUNSUPPORTED: return "unsupported";
    case PD_ESTATE: return "invalid state";
    case PD_ENOMEM: return "out of memory";
    case PD_EDATA: return "bad data";
    case PD_ERANGE: return "out of range";
    default: return "unknown error";
    }
}

void pd_err_clear(struct pd_err *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

int pd_err_setv(struct pd_err *err, int code, const char *where, const char *fmt, va_list ap)
{
    if (!err)
        return code;
    err->code = code;
    err->os_errno = 0;
    err->device_code = 0;
    pd_strlcpy(err->where, where ? where : "", sizeof err->where);
    /* "where: message", truncated (never overflowing) when the message is very long. */
    size_t off = 0;
    err->msg[0] = '\0';
    if (where && where[0]) {
        pd_strlcpy(err->msg, where, sizeof err->msg);
        off = strlen(err->msg);
        if (off + 2 < sizeof err->msg) {
            memcpy(err->msg + off, ": ", 3);
            off += 2;
        }
    }
    if (off + 1 < sizeof err->msg)
        vsnprintf(err->msg + off, sizeof err->msg - off, fmt, ap);
    return code;
}

int pd_err_set(struct pd_err *err, int code, const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pd_err_setv(err, code, where, fmt, ap);
    va_end(ap);
    return code;
}

int pd_err_set_os(struct pd_err *err, int code, int os_errno, const char *where, const char *fmt, ...)
{
    if (!err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    pd_err_setv(err, code, where, fmt, ap);
    va_end(ap);
    err->os_errno = os_errno;
    size_t len = strlen(err->msg);
    if (os_errno && len < sizeof err->msg)
        snprintf(err->msg + len, sizeof err->msg - len, ": %s", strerror(os_errno));
    return code;
}
