/* pty_device.h — a scripted instrument on a pseudo-terminal for driver tests: a thread reads
 * request lines from the master side and answers each with whatever the test's answer function
 * says, while the driver under test opens the slave side by its path like a serial port. */
#ifndef PD_TEST_PTY_DEVICE_H
#define PD_TEST_PTY_DEVICE_H

#include <pthread.h>

/* The reply (without its "\r\n") to one request line, or NULL for silence. Runs with the
 * device's lock held, so a test changes what it answers under the same lock. */
typedef const char *(*pd_test_answer_fn)(void *ctx, const char *request);

struct pd_test_pty_device {
    int master;
    char path[64]; /* the slave side: what the driver opens */
    pthread_t thread;
    pthread_mutex_t lock;
    pd_test_answer_fn answer;
    void *ctx;
};

/* Opens the pty and starts answering; 0, or -1 with nothing started. */
int pd_test_pty_device_start(struct pd_test_pty_device *d, pd_test_answer_fn answer, void *ctx);
/* Changes one of the answers the test keeps (`*answer = text`) under the device's lock. */
void pd_test_pty_device_set(struct pd_test_pty_device *d, const char **answer, const char *text);
/* Closes the master (the driver then sees the port vanish) and stops the thread. */
void pd_test_pty_device_stop(struct pd_test_pty_device *d);

#endif
