/* mb_relay.c — the frame of a Modbus test relay in front of polydaq-sim (see mb_relay.h). */
#include "common/mb_relay.h"

#include <sys/socket.h>
#include <unistd.h>

#include "common/mb_tcp.h"
#include "common/proc.h"

int pd_test_mb_relay_start(struct pd_test_mb_relay *relay, const char *const *sim_args, int backlog,
                           void *(*serve)(void *), void *arg)
{
    atomic_store(&relay->stop, 0);
    relay->sim = pd_test_start_sim_tcp(sim_args, &relay->upstream_port);
    if (relay->sim < 0)
        return -1;
    relay->listen_fd = pd_test_tcp_bind_loopback(&relay->port);
    if (relay->listen_fd >= 0 && listen(relay->listen_fd, backlog) == 0 &&
        pthread_create(&relay->thread, NULL, serve, arg) == 0)
        return 0;
    if (relay->listen_fd >= 0)
        close(relay->listen_fd);
    pd_test_stop(&relay->sim);
    return -1;
}

void pd_test_mb_relay_stop(struct pd_test_mb_relay *relay)
{
    atomic_store(&relay->stop, 1);
    pthread_join(relay->thread, NULL);
    close(relay->listen_fd);
    pd_test_stop(&relay->sim);
}
