/* modbus_links_run_test.c — `polydaq run` end to end through a Modbus TCP gateway that behaves like
 * the serial servers and PLCs found in the field: it closes the connection after every answer
 * (the instrument has connect_per_request), now and then forwards an answer under another unit id
 * with other data in it (a misrouted answer), and during specimen 2 answers the crosshead's
 * request with exception 02 while the force and extension requests go through. polydaq-sim's load
 * frame is the device behind it. The run must test every specimen with no link fault but the
 * injected ones, store nothing from the misrouted answers, and keep force and extension where
 * only the crosshead was lost (NaN with its quality bit). */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/lab_config.h"
#include "common/mb_relay.h"
#include "common/mb_tcp.h"
#include "common/proc.h"
#include "core/core.h"

#define MISROUTE_EVERY 40    /* every 40th force/extension answer comes back under another unit */
#define POISON 98765.0f      /* the misrouted answers' float values: must never reach the file */

struct gateway {
    struct pd_test_mb_relay relay; /* the simulator, the listening socket, gateway_main's thread */
    atomic_int starts;       /* start commands (write holding 0 = 1) seen */
    atomic_int connections;  /* accepted from the driver */
    atomic_int block_reads;  /* force/extension reads forwarded */
    atomic_int misrouted;    /* of those, answered under another unit id */
    atomic_int exceptions;   /* crosshead reads answered with exception 02 */
};

static struct gateway gw;
static char work[64];

/* The answer to one request, into rsp; its length, or 0 when the device did not answer. */
static size_t answer(int *up, const uint8_t *req, size_t n, uint8_t *rsp)
{
    unsigned function = req[7], address = (unsigned)req[8] << 8 | req[9];
    if (function == 4 && address == 8 && atomic_load(&gw.starts) == 2) {
        memcpy(rsp, req, 7);
        rsp[5] = 3;
        rsp[7] = 0x84;
        rsp[8] = 2; /* illegal data address */
        atomic_fetch_add(&gw.exceptions, 1);
        return 9;
    }
    size_t m = 0;
    if (*up < 0)
        *up = pd_test_tcp_connect_loopback(gw.relay.upstream_port);
    if (*up < 0 || write(*up, req, n) != (ssize_t)n || pd_test_mb_read_adu(*up, rsp, &m, 2000) != 0) {
        if (*up >= 0)
            close(*up);
        *up = -1;
        return 0;
    }
    if (function == 4 && address == 4 && rsp[7] == 4 &&
        atomic_fetch_add(&gw.block_reads, 1) % MISROUTE_EVERY == MISROUTE_EVERY - 1) {
        rsp[6] = (uint8_t)(req[6] + 8); /* another device's answer ... */
        uint32_t bits;
        float poison = POISON;
        memcpy(&bits, &poison, sizeof bits);
        for (size_t i = 9; i + 4 <= m; i += 4) { /* ... with other values in it */
            rsp[i] = (uint8_t)(bits >> 24);
            rsp[i + 1] = (uint8_t)(bits >> 16);
            rsp[i + 2] = (uint8_t)(bits >> 8);
            rsp[i + 3] = (uint8_t)bits;
        }
        atomic_fetch_add(&gw.misrouted, 1);
    }
    return m;
}

/* One request per connection: accept, answer, close. */
static void *gateway_main(void *arg)
{
    (void)arg;
    int up = -1;
    while (!atomic_load(&gw.relay.stop)) {
        struct pollfd p = {.fd = gw.relay.listen_fd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0)
            continue;
        int client = accept(gw.relay.listen_fd, NULL, NULL);
        if (client < 0)
            continue;
        atomic_fetch_add(&gw.connections, 1);
        uint8_t req[PD_TEST_MB_ADU_MAX], rsp[PD_TEST_MB_ADU_MAX];
        size_t n;
        if (pd_test_mb_read_adu(client, req, &n, 2000) == 0) {
            if (req[7] == 6 && req[8] == 0 && req[9] == 0 && req[10] == 0 && req[11] == 1)
                atomic_fetch_add(&gw.starts, 1);
            size_t m = answer(&up, req, n, rsp);
            if (m > 0 && send(client, rsp, m, MSG_NOSIGNAL) != (ssize_t)m)
                m = 0;
        }
        close(client);
    }
    if (up >= 0)
        close(up);
    return NULL;
}

/* The integration lab pointed at the gateway, without its simulator section, with a poll rate a
 * connection per request can keep, and the requests split so that the crosshead has its own. */
static void write_config(const char *path, int port)
{
    char transport[160];
    snprintf(transport, sizeof transport, "    transport: tcp://127.0.0.1:%d\n    connect_per_request: true\n"
                                          "    max_registers_per_request: 4\n", port);
    const struct pd_test_line_edit edits[] = {
        {"tcp://127.0.0.1:0", transport},
        {"poll_rate_hz: 500", "  poll_rate_hz: 200\n"},
        {"specimens: 5", "  specimens: 3\n"},
    };
    assert_int_equal(pd_test_write_lab(path, edits, sizeof edits / sizeof edits[0]), 0);
}

static void test_run_through_gateway(void **unused)
{
    (void)unused;
    const char *sim_args[] = {"loadframe", "--tcp", "127.0.0.1:0", "--material", "pp-demo",
                              "--seed", "7", "--time-scale", "50", NULL};
    memset(&gw, 0, sizeof gw);
    assert_int_equal(pd_test_mb_relay_start(&gw.relay, sim_args, 16, gateway_main, NULL), 0);

    struct pd_test_lab_run run;
    pd_test_lab_run_paths(&run, work, "lab");
    write_config(run.config, gw.relay.port);
    int rc = pd_test_lab_run(&run);
    pd_test_mb_relay_stop(&gw.relay);

    const char *log = pd_test_slurp(run.err);
    assert_non_null(log);
    if (rc != 0)
        fprintf(stderr, "%s\n", log);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(log, "3/3 specimens tested"));
    int misrouted = atomic_load(&gw.misrouted), exceptions = atomic_load(&gw.exceptions);
    assert_true(misrouted >= 1);
    assert_true(exceptions >= 1);
    assert_true(atomic_load(&gw.connections) > 300);

    char run_file[256];
    const char *printed = pd_test_slurp(run.out);
    assert_non_null(printed);
    pd_strlcpy(run_file, printed, sizeof run_file);
    run_file[strcspn(run_file, "\n")] = '\0';
    char check[4096];
    snprintf(check, sizeof check,
             "/usr/bin/python3 - '%s' %d %d %d <<'EOF'\n"
             "import sys, h5py, numpy as np\n"
             "f = h5py.File(sys.argv[1], 'r')\n"
             "misrouted, exceptions, connections = map(int, sys.argv[2:5])\n"
             "link = {k: int(v) for k, v in f['acquisition/frame1'].attrs.items() if k.startswith('link_')}\n"
             "# every misrouted answer discarded and counted as what it was\n"
             "assert link['link_unit_mismatches'] == misrouted, (link, misrouted)\n"
             "assert link['link_protocol_errors'] == misrouted, link\n"
             "assert link['link_exception_02'] == exceptions, link\n"
             "# a misrouted force/extension answer ends its poll: that block and the crosshead's are unread\n"
             "assert link['link_unread_blocks'] == exceptions + 2 * misrouted, link\n"
             "# the connection closed after each answer is how this device works, not a fault\n"
             "assert link['link_timeouts'] == 0 and link['link_io_errors'] == 0, link\n"
             "assert link['link_reopens'] == 0 and link['link_resyncs'] == misrouted, link\n"
             "# each request had its own connection (open's connection carried the first)\n"
             "assert link['link_request_connects'] == connections - 1, (link, connections)\n"
             "assert link['link_requests'] == connections, (link, connections)\n"
             "kinds = [r['kind'].decode() for k in ['/'] + [n for n in f if n.startswith('specimen_')]\n"
             "         if 'events' in f[k] for r in f[k]['events'][...]]\n"
             "assert 'reconnect' not in kinds and 'fault' not in kinds, kinds\n"
             "UNREAD = 8\n"
             "names = ['force', 'extension', 'crosshead', 'break']  # the config's channel order\n"
             "only_cross = all_force = 0\n"
             "for n in ('specimen_01', 'specimen_02', 'specimen_03'):\n"
             "    d = f[n]['frame1']\n"
             "    q = d['quality'][...].astype(np.uint64)\n"
             "    assert len(q) > 100 and np.all(np.diff(d['time'][...]) > 0), n\n"
             "    lost = {}\n"
             "    for i, c in enumerate(names):\n"
             "        v = d[c][...]\n"
             "        lost[c] = (q & np.uint64(1 << (16 + i))) != 0\n"
             "        # NaN exactly where the channel's unread bit is set, and never a misrouted value\n"
             "        assert np.array_equal(np.isnan(v), lost[c]), (n, c)\n"
             "        assert not np.any(v == np.float32(98765.0)), (n, c)\n"
             "    any_lost = np.logical_or.reduce([lost[c] for c in names])\n"
             "    assert np.array_equal((q & np.uint64(UNREAD)) != 0, any_lost), n\n"
             "    assert not lost['break'].any(), n  # its request comes first and is never disturbed\n"
             "    assert np.array_equal(lost['force'], lost['extension']), n  # one request\n"
             "    assert not np.any(lost['force'] & ~lost['crosshead']), n  # a poll stops at a misrouted answer\n"
             "    c_only = lost['crosshead'] & ~lost['force']\n"
             "    if n != 'specimen_02':\n"
             "        assert not c_only.any(), n\n"
             "    only_cross += int(c_only.sum())\n"
             "    all_force += int(lost['force'].sum())\n"
             "assert 1 <= only_cross <= exceptions, (only_cross, exceptions)\n"
             "assert all_force <= misrouted, (all_force, misrouted)\n"
             "EOF\n",
             run_file, misrouted, exceptions, atomic_load(&gw.connections));
    assert_int_equal(system(check), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(work, sizeof work, "/tmp/pd-links-run-XXXXXX");
    if (!mkdtemp(work))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_through_gateway),
    };
    int failed = cmocka_run_group_tests_name("modbus links end to end", tests, NULL, NULL);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf '%s'", work);
    if (system(rm) != 0)
        failed++;
    return failed;
}
