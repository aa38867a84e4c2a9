/* runlock.c — the lock a run's writer holds on its own file from creation to close, so that
 * `polydaq recover` (and anything else that would move or replace a run file) can tell a file a
 * live run still writes from one whose writer is gone.
 *
 * Why an open-file-description (OFD) record lock on the run file itself, not flock or a sidecar:
 *  - HDF5 1.10 takes flock() locks of its own on the file (exclusive for read-write opens, shared
 *    for readers) and drops the writer's as soon as SWMR writing starts; a flock of ours would
 *    fight its reopen at close and SWMR readers such as h5py. On Linux, flock and fcntl record
 *    locks are independent, so an OFD record lock coexists with whatever HDF5 does.
 *  - An OFD lock belongs to our own descriptor, not to the process: HDF5 closing its descriptor
 *    (a classic POSIX lock would be dropped then) does not release it; the kernel releases it
 *    when that descriptor is closed, also when the process dies (kill -9, power cut: nothing stale
 *    to clean up).
 *  - It follows the file (the inode), not a name: a renamed run file keeps its lock.
 * The kernel does not tell OFD lock owners' pids (F_OFD_GETLK reports -1), so the writer locks the
 * single byte LOCK_BASE + pid, far beyond any real file size (record locks may lie past the end);
 * a checker asks for a read lock on the whole pid window, and the conflicting lock's start names
 * the writer's pid. (On NFS, where Linux emulates flock with whole-file record locks, the two
 * kinds would conflict: run files belong on a local disk, docs/ARCHITECTURE.md.) */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* F_OFD_SETLK, F_OFD_GETLK */
#endif
#include "store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* The pid window: far beyond any run file, wide enough for every pid (pid_max ≤ 2^22). */
#define LOCK_BASE ((off_t)1 << 46)
#define LOCK_WINDOW ((off_t)1 << 32)

int pd_store_writer_lock(const char *path, int hdf5_fd, int *lock_fd, dev_t *dev, ino_t *ino, struct pd_err *err)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return pd_err_set_os(err, PD_EIO, errno, path, "cannot open the run file to lock it");
    struct stat mine, hdf5s;
    /* The name must still lead to the file HDF5 created a moment ago: lock that one, nothing else. */
    if (fstat(fd, &mine) < 0 || (hdf5_fd >= 0 && (fstat(hdf5_fd, &hdf5s) < 0 || hdf5s.st_dev != mine.st_dev ||
                                                   hdf5s.st_ino != mine.st_ino))) {
        close(fd);
        return pd_err_set(err, PD_ESTATE, path, "the run file was replaced right after it was created");
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = LOCK_BASE + (off_t)getpid(), .l_len = 1};
    if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
        int e = errno;
        close(fd);
        return pd_err_set_os(err, PD_EIO, e, path, "cannot lock the run file for this run");
    }
    *lock_fd = fd;
    *dev = mine.st_dev;
    *ino = mine.st_ino;
    return 0;
}

int pd_store_claim(const char *path, int *claim, struct pd_err *err)
{
    if (!path || !claim)
        return pd_err_set(err, PD_EINVAL, path, "pd_store_claim: missing path or output");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pd_err_set_os(err, PD_EIO, errno, path, "cannot open the run file");
    /* A read lock: claims (recover's own, nested ones included) share, a live writer's excludes. */
    struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = LOCK_BASE, .l_len = LOCK_WINDOW};
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0) {
        *claim = fd;
        return 0;
    }
    int e = errno;
    if (e != EAGAIN && e != EACCES) {
        close(fd);
        return pd_err_set_os(err, PD_EIO, e, path, "cannot check whether a run still writes the file");
    }
    struct flock who = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = LOCK_BASE, .l_len = LOCK_WINDOW};
    long pid = fcntl(fd, F_OFD_GETLK, &who) == 0 && who.l_type == F_WRLCK ? (long)(who.l_start - LOCK_BASE) : 0;
    close(fd);
    if (pid > 0)
        return pd_err_set(err, PD_EBUSY, path,
                          "a live run (process %ld) is still writing this file; wait until it ends or stop it "
                          "(Ctrl-C), then try again",
                          pid);
    return pd_err_set(err, PD_EBUSY, path,
                      "a live run is still writing this file; wait until it ends or stop it, then try again");
}

void pd_store_unclaim(int claim)
{
    if (claim >= 0)
        close(claim);
}
