/* fault.c — durable writes of the registry's exports, and the fault-injection hook that interrupts them (a test hook).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry/registry.h"

void pd_fault_point(const char *what)
{
    static long reached;
    const char *at = getenv("PD_FAULT_KILL_AT");
    if (!at || !at[0])
        return;
    long n = 0;
    if (!pd_parse_long(at, &n) || n <= 0)
        return;
    if (++reached == n) {
        if (getenv("PD_FAULT_TRACE"))
            fprintf(stderr, "polydaq: fault injection: SIGKILL at point %ld (%s)\n", n, what);
        raise(SIGKILL);
    }
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int pd_write_file_atomic(const char *path, const void *data, size_t len, struct pd_err *err)
{
    char tmp[4300], dir[4200];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp ||
        pd_strlcpy(dir, path, sizeof dir) < 0)
        return pd_err_set(err, PD_EINVAL, path, "path too long");
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        strcpy(dir, ".");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return pd_err_set_os(err, PD_EIO, errno, tmp, "cannot create");
    pd_fault_point("file write");
    int rc = 0;
    if (write_all(fd, data, len) < 0)
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot write");
    pd_fault_point("file fsync");
    if (rc == 0 && fsync(fd) < 0)
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot write (fsync)");
    if (close(fd) < 0 && rc == 0)
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot write");
    pd_fault_point("file rename");
    if (rc == 0 && rename(tmp, path) < 0)
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot put in place");
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    /* The rename is durable only once the folder is. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) < 0 && errno != EINVAL)
            rc = pd_err_set_os(err, PD_EIO, errno, dir, "cannot sync the folder");
        close(dfd);
    }
    return rc;
}
