/* jsonio.c — JSON building helpers and safe file writes (the canonical form and SHA-256 live in trust). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cert/cert_internal.h"
#include "trust/trust.h"

void cert_say(char *buf, size_t size, const char *fmt, ...)
{
    /* Messages are cut at the buffer's end on purpose: a truncated reason is still a reason. */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

void cert_jset(json_t *obj, const char *key, json_t *value, bool *ok)
{
    if (!obj || json_object_set_new(obj, key, value) < 0)
        *ok = false;
}

void cert_jappend(json_t *arr, json_t *value, bool *ok)
{
    if (!arr || json_array_append_new(arr, value) < 0)
        *ok = false;
}

json_t *cert_jstr(const char *s)
{
    if (!s)
        return json_null();
    json_t *v = json_string(s);
    return v ? v : json_string("(not valid UTF-8)");
}

json_t *cert_jreal(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

char *cert_canonical(const json_t *doc, const char *const *without)
{
    return pd_json_canonical(doc, without);
}

void cert_sha256_hex(const void *data, size_t len, char hex[65])
{
    pd_sha256_hex(data, len, hex);
}

static int write_all(int fd, const char *text, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

int cert_write_file(const char *path, const char *text, bool exclusive, struct pd_err *err)
{
    char tmp[4200];
    const char *target = path;
    if (!exclusive) {
        int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
        if (n < 0 || (size_t)n >= sizeof tmp)
            return pd_err_set(err, PD_EINVAL, path, "path too long");
        target = tmp;
    }
    int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        if (e == EEXIST && exclusive)
            return pd_err_set(err, PD_ESTATE, path, "already exists; not overwritten");
        return pd_err_set_os(err, PD_EIO, e, target, "cannot create");
    }
    int rc = 0;
    /* fdatasync: the file is new, so its size (which fdatasync writes with the data) is all the
     * metadata needed to read it back; fsync would add only the timestamps. */
    if (write_all(fd, text, strlen(text)) < 0 || fdatasync(fd) < 0)
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot write");
    if (close(fd) < 0 && rc == 0)
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot write");
    if (rc == 0 && !exclusive && rename(tmp, path) < 0)
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot replace");
    if (rc < 0)
        unlink(target);
    return rc;
}

void cert_dirname(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        pd_strlcpy(dir, ".", size);
        return;
    }
    size_t n = (size_t)(slash - path);
    if (n == 0)
        n = 1; /* "/x.json" → "/" */
    if (n >= size)
        n = size - 1;
    memcpy(dir, path, n);
    dir[n] = '\0';
}
