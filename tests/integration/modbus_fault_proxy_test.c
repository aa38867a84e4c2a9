/* modbus_fault_proxy_test.c — `polydaq run` through a fault-injecting Modbus TCP proxy between the
 * driver and polydaq-sim: garbage bytes, a truncated frame, an exception response and a stalled
 * peer during a three-specimen run, each counted; the stall ends in a reconnect; the run file keeps
 * every specimen with strictly increasing timestamps. Plus connection refused at start (exit 3 with
 * a message naming the instrument and the address). The proxy is the one mock here: it injects
 * faults on replies to reads (function 04) only, timed from the start command it sees pass. */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
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

enum fault { F_NONE, F_GARBAGE, F_TRUNCATE, F_EXCEPTION, F_STALL };

struct proxy {
    struct pd_test_mb_relay relay; /* the simulator, the listening socket, proxy_main's thread */
    atomic_int starts;      /* start commands seen */
    atomic_int injected[5]; /* per fault kind */
    int64_t start_mono[4];  /* when start command k (1..3) passed */
};

static struct proxy px;

/* The fault for a read reply at this moment: relative to the start command of specimen 1 the
 * garbage, truncation and exception (one each), during specimen 2 a stall of 0.4 s. */
static enum fault fault_now(void)
{
    static atomic_int done[5];
    int k = atomic_load(&px.starts);
    if (k == 0)
        return F_NONE;
    double since = (double)(pd_clock_mono_ns() - px.start_mono[k]) / 1e9;
    enum fault f = F_NONE;
    if (k == 1 && since > 0.2 && since < 0.3)
        f = F_GARBAGE;
    else if (k == 1 && since > 0.4 && since < 0.5)
        f = F_TRUNCATE;
    else if (k == 1 && since > 0.6 && since < 0.7)
        f = F_EXCEPTION;
    else if (k == 2 && since > 0.2 && since < 0.6)
        return F_STALL; /* every reply in the window */
    if (f != F_NONE && atomic_exchange(&done[f], 1) == 0)
        return f;
    return F_NONE;
}

static void *proxy_main(void *arg)
{
    (void)arg;
    int client = -1, up = -1;
    while (!atomic_load(&px.relay.stop)) {
        struct pollfd p[2] = {{.fd = px.relay.listen_fd, .events = POLLIN}, {.fd = client, .events = POLLIN}};
        if (poll(p, client >= 0 ? 2 : 1, 20) <= 0)
            continue;
        if (p[0].revents & POLLIN) { /* the driver reconnects: the old link is gone */
            if (client >= 0)
                close(client);
            if (up >= 0)
                close(up);
            client = accept(px.relay.listen_fd, NULL, NULL);
            up = pd_test_tcp_connect_loopback(px.relay.upstream_port);
            continue;
        }
        uint8_t req[PD_TEST_MB_ADU_MAX], rsp[PD_TEST_MB_ADU_MAX];
        size_t n, m;
        if (pd_test_mb_read_adu(client, req, &n, 200) != 0) {
            close(client);
            client = -1;
            continue;
        }
        bool is_start = (req[7] == 6 && req[8] == 0 && req[9] == 0 && req[10] == 0 && req[11] == 1);
        if (is_start) {
            int k = atomic_load(&px.starts) + 1;
            if (k < 4)
                px.start_mono[k] = pd_clock_mono_ns();
            atomic_store(&px.starts, k);
        }
        enum fault f = req[7] == 4 ? fault_now() : F_NONE;
        if (f == F_STALL) { /* accepted, never answered */
            atomic_fetch_add(&px.injected[F_STALL], 1);
            continue;
        }
        if (up < 0 || write(up, req, n) != (ssize_t)n || pd_test_mb_read_adu(up, rsp, &m, 1000) != 0) {
            close(client);
            client = -1;
            continue;
        }
        if (f != F_NONE)
            atomic_fetch_add(&px.injected[f], 1);
        if (f == F_GARBAGE) {
            for (size_t i = 0; i < m; i++)
                rsp[i] = (uint8_t)(0x5A ^ (i * 37));
        } else if (f == F_TRUNCATE) {
            m = 7 + 2;
        } else if (f == F_EXCEPTION) {
            rsp[5] = 3;
            rsp[7] |= 0x80;
            rsp[8] = 4; /* slave device failure */
            m = 9;
        }
        if (send(client, rsp, m, MSG_NOSIGNAL) != (ssize_t)m) {
            close(client);
            client = -1;
        }
    }
    if (client >= 0)
        close(client);
    if (up >= 0)
        close(up);
    return NULL;
}

static char work[64];

/* The integration lab pointed at `port`, without a simulator section, with a short response
 * timeout so the stall turns into a reconnect quickly. */
static void write_config(const char *path, int port, int specimens)
{
    char transport[64], count[32];
    snprintf(transport, sizeof transport, "    transport: tcp://127.0.0.1:%d\n", port);
    snprintf(count, sizeof count, "  specimens: %d\n", specimens);
    const struct pd_test_line_edit edits[] = {
        {"tcp://127.0.0.1:0", transport},
        {"response_timeout_ms:", "    response_timeout_ms: 100\n"},
        {"specimens: 5", count},
    };
    assert_int_equal(pd_test_write_lab(path, edits, sizeof edits / sizeof edits[0]), 0);
}

static void test_faults_during_run(void **unused)
{
    (void)unused;
    /* the simulator on a port of its choosing */
    const char *sim_args[] = {"loadframe", "--tcp", "127.0.0.1:0", "--material", "pp-demo",
                              "--seed", "7", "--time-scale", "50", NULL};
    memset(&px, 0, sizeof px);
    assert_int_equal(pd_test_mb_relay_start(&px.relay, sim_args, 4, proxy_main, NULL), 0);

    struct pd_test_lab_run run;
    pd_test_lab_run_paths(&run, work, "lab");
    write_config(run.config, px.relay.port, 3);
    int rc = pd_test_lab_run(&run);
    pd_test_mb_relay_stop(&px.relay);

    const char *log = pd_test_slurp(run.err);
    assert_non_null(log);
    if (rc != 0)
        fprintf(stderr, "%s\n", log);
    assert_int_equal(rc, 0);
    for (int f = F_GARBAGE; f <= F_STALL; f++)
        assert_true(atomic_load(&px.injected[f]) >= 1);
    assert_non_null(strstr(log, "3/3 specimens tested"));
    assert_non_null(strstr(log, "exception 4"));
    assert_non_null(strstr(log, "reconnected"));
    assert_non_null(strstr(log, "frame1: link counters: requests"));

    char run_file[256];
    const char *printed = pd_test_slurp(run.out);
    assert_non_null(printed);
    pd_strlcpy(run_file, printed, sizeof run_file);
    run_file[strcspn(run_file, "\n")] = '\0';
    char check[2048];
    snprintf(check, sizeof check,
             "/usr/bin/python3 - '%s' <<'EOF'\n"
             "import sys, h5py, numpy as np\n"
             "f = h5py.File(sys.argv[1], 'r')\n"
             "kinds = [r['kind'].decode() for k in ['/'] + [n for n in f if n.startswith('specimen_')]\n"
             "         if 'events' in f[k] for r in f[k]['events'][...]]\n"
             "assert 'fault' in kinds and 'reconnect' in kinds and 'error' in kinds, kinds\n"
             "assert int(f.attrs['read_errors']) >= 6, int(f.attrs['read_errors'])\n"
             "assert int(f.attrs['samples_lost']) == 0\n"
             "link = f['acquisition/frame1'].attrs\n"
             "assert int(link['link_exception_04']) >= 1 and int(link['link_timeouts']) >= 1, dict(link)\n"
             "assert int(link['link_requests']) > 300 and int(link['link_resyncs']) >= 1, dict(link)\n"
             "for n in ('specimen_01', 'specimen_02', 'specimen_03'):\n"
             "    t = f[n]['frame1']['time'][...]\n"
             "    # how many samples a specimen gets depends on the faults' timing and the machine's load;\n"
             "    # that it has a curve up to its break does not\n"
             "    assert len(t) > 100 and np.all(np.diff(t) > 0), (n, len(t))\n"
             "    assert 'break' in [r['kind'].decode() for r in f[n]['events'][...]], n\n"
             "EOF\n",
             run_file);
    assert_int_equal(system(check), 0);
}

static void test_refused_at_start(void **unused)
{
    (void)unused;
    int port;
    int bound = pd_test_tcp_bind_loopback(&port);
    assert_true(bound >= 0);
    close(bound); /* bound, never listened: nobody there */
    struct pd_test_lab_run run;
    pd_test_lab_run_paths(&run, work, "refused");
    write_config(run.config, port, 1);
    assert_int_equal(pd_test_lab_run(&run), 3);
    const char *log = pd_test_slurp(run.err);
    assert_non_null(log);
    char where[64];
    snprintf(where, sizeof where, "tcp://127.0.0.1:%d", port);
    assert_non_null(strstr(log, "frame1 (unit 1)"));
    assert_non_null(strstr(log, where));
    assert_non_null(strstr(log, "Connection refused"));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(work, sizeof work, "/tmp/pd-fault-proxy-XXXXXX");
    if (!mkdtemp(work))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_at_start),
        cmocka_unit_test(test_faults_during_run),
    };
    int failed = cmocka_run_group_tests_name("modbus faults end to end", tests, NULL, NULL);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf '%s'", work);
    if (system(rm) != 0)
        failed++;
    return failed;
}
