/* pty_device.c — a scripted instrument on a pseudo-terminal (see pty_device.h). */
#define _GNU_SOURCE /* posix_openpt, grantpt, unlockpt, ptsname */
#include "common/pty_device.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *serve(void *arg)
{
    struct pd_test_pty_device *d = arg;
    char req[64];
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t k = read(d->master, &c, 1);
        if (k < 0 && errno == EIO) { /* no slave open just now (between a close and the next open) */
            usleep(2000);
            continue;
        }
        if (k <= 0)
            return NULL;
        if (c == '\r')
            continue;
        if (c != '\n') {
            if (n < sizeof req - 1)
                req[n++] = c;
            continue;
        }
        req[n] = '\0';
        n = 0;
        char buf[192];
        pthread_mutex_lock(&d->lock);
        const char *reply = d->answer(d->ctx, req);
        if (reply) {
            snprintf(buf, sizeof buf, "%s\r\n", reply);
            if (write(d->master, buf, strlen(buf)) < 0) {
                /* the test closed the port: nothing to answer to */
            }
        }
        pthread_mutex_unlock(&d->lock);
    }
}

int pd_test_pty_device_start(struct pd_test_pty_device *d, pd_test_answer_fn answer, void *ctx)
{
    memset(d, 0, sizeof *d);
    d->answer = answer;
    d->ctx = ctx;
    d->master = posix_openpt(O_RDWR | O_NOCTTY);
    if (d->master < 0)
        return -1;
    if (grantpt(d->master) != 0 || unlockpt(d->master) != 0 || !ptsname(d->master)) {
        close(d->master);
        return -1;
    }
    snprintf(d->path, sizeof d->path, "%s", ptsname(d->master));
    pthread_mutex_init(&d->lock, NULL);
    if (pthread_create(&d->thread, NULL, serve, d) != 0) {
        pthread_mutex_destroy(&d->lock);
        close(d->master);
        return -1;
    }
    return 0;
}

void pd_test_pty_device_set(struct pd_test_pty_device *d, const char **answer, const char *text)
{
    pthread_mutex_lock(&d->lock);
    *answer = text;
    pthread_mutex_unlock(&d->lock);
}

void pd_test_pty_device_stop(struct pd_test_pty_device *d)
{
    close(d->master);
    pthread_join(d->thread, NULL);
    pthread_mutex_destroy(&d->lock);
}
