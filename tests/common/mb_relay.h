/* mb_relay.h — the frame of a test relay between the Modbus driver and polydaq-sim (a fault
 * proxy, a gateway): the simulator on an ephemeral loopback port, a listening socket for the
 * driver, and the relay's own serving thread, started and stopped together. What the relay does
 * with the traffic is the test's; it frames it with mb_tcp.h. */
#ifndef PD_TEST_MB_RELAY_H
#define PD_TEST_MB_RELAY_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

struct pd_test_mb_relay {
    int listen_fd, port; /* where the driver connects, on 127.0.0.1 */
    int upstream_port;   /* where the simulator serves, on 127.0.0.1 */
    atomic_int stop;     /* set by pd_test_mb_relay_stop: the serving thread returns on seeing it */
    pid_t sim;
    pthread_t thread;
};

/* Starts polydaq-sim with sim_args (a device with `--tcp 127.0.0.1:0`), listens with this
 * backlog, then runs serve(arg) on a thread. 0, or -1 with nothing left running. */
int pd_test_mb_relay_start(struct pd_test_mb_relay *relay, const char *const *sim_args, int backlog,
                           void *(*serve)(void *), void *arg);

/* Stops and joins the serving thread, closes the listening socket, stops the simulator. */
void pd_test_mb_relay_stop(struct pd_test_mb_relay *relay);

#endif
