/* store_isolate_test.c — the store's reading child (isolate.c): a crash, a CPU spin, a wait and an
 * allocation past the limits each end as "damaged run file: PATH: ..." (never taking the caller
 * with them), errors come back as they were, the limits' environment variables are checked, and a
 * reader whose child dies between reads fails those reads and still closes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <valgrind/valgrind.h>

#include "store/store.h"
#include "store/store_internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static const char *const FILE_NAME = "/tmp/no-such-dir/run.h5"; /* only named in messages */

static int crash(void *ctx, struct pd_err *err)
{
    (void)ctx;
    (void)err;
    raise(SIGSEGV);
    return 0;
}

static int spin(void *ctx, struct pd_err *err)
{
    (void)err;
    volatile uint64_t *n = ctx;
    for (;;)
        (*n)++;
    return 0;
}

static int wait_forever(void *ctx, struct pd_err *err)
{
    (void)ctx;
    (void)err;
    for (;;)
        pause();
    return 0;
}

static int allocate_too_much(void *ctx, struct pd_err *err)
{
    (void)ctx;
    size_t size = (size_t)1 << 30; /* 1 GiB against a 64 MiB limit */
    char *p = malloc(size);
    if (!p)
        return pd_err_set(err, PD_ENOMEM, FILE_NAME, "out of memory");
    memset(p, 1, size);
    free(p);
    return 0;
}

static int fail_plainly(void *ctx, struct pd_err *err)
{
    (void)ctx;
    return pd_err_set(err, PD_EDATA, FILE_NAME, "not a polydaq run file (missing /specimen_01)");
}

static int succeed(void *ctx, struct pd_err *err)
{
    (void)ctx;
    (void)err;
    return 0;
}

static void expect_damaged(int rc, const struct pd_err *err, const char *what)
{
    assert_int_equal(rc, PD_EDATA);
    char want[256];
    snprintf(want, sizeof want, "damaged run file: %s: %s", FILE_NAME, what);
    if (!strstr(err->msg, want))
        print_error("message: %s\nwanted: %s\n", err->msg, want);
    assert_non_null(strstr(err->msg, want));
}

static void test_crash_is_reported(void **state)
{
    (void)state;
    struct pd_err err = {0};
    int rc = pd_store_in_child(FILE_NAME, 0, crash, NULL, &err);
    expect_damaged(rc, &err, "crashed with signal 11");
}

static void test_cpu_limit(void **state)
{
    (void)state;
    setenv("POLYDAQ_READ_SECONDS", "1", 1);
    uint64_t n = 0;
    struct pd_err err = {0};
    int rc = pd_store_in_child(FILE_NAME, 0, spin, &n, &err);
    unsetenv("POLYDAQ_READ_SECONDS");
    expect_damaged(rc, &err, "exceeded the CPU time limit (1 s)");
    assert_int_equal(n, 0); /* the child's counting stayed in the child */
}

static void test_wall_limit(void **state)
{
    (void)state;
    setenv("POLYDAQ_READ_SECONDS", "1", 1);
    struct pd_err err = {0};
    int rc = pd_store_in_child(FILE_NAME, 0, wait_forever, NULL, &err);
    unsetenv("POLYDAQ_READ_SECONDS");
    expect_damaged(rc, &err, "exceeded the time limit (3 s)");
}

static void test_memory_limit(void **state)
{
    (void)state;
    if (UNDER_ASAN || RUNNING_ON_VALGRIND)
        skip(); /* no address-space limit there (isolate.c) */
    setenv("POLYDAQ_READ_MEMORY_MB", "64", 1);
    struct pd_err err = {0};
    int rc = pd_store_in_child(FILE_NAME, 0, allocate_too_much, NULL, &err);
    unsetenv("POLYDAQ_READ_MEMORY_MB");
    expect_damaged(rc, &err, "exceeded the memory limit (64 MiB)");
}

static void test_errors_come_back(void **state)
{
    (void)state;
    struct pd_err err = {0};
    assert_int_equal(pd_store_in_child(FILE_NAME, 0, fail_plainly, NULL, &err), PD_EDATA);
    assert_string_equal(err.msg, "/tmp/no-such-dir/run.h5: not a polydaq run file (missing /specimen_01)");
    struct pd_err untouched = {.code = 123};
    assert_int_equal(pd_store_in_child(FILE_NAME, 0, succeed, NULL, &untouched), 0);
    assert_int_equal(untouched.code, 123);
}

static void test_limits_from_environment(void **state)
{
    (void)state;
    struct pd_read_limits lim;
    struct pd_err err = {0};
    assert_int_equal(pd_read_limits(FILE_NAME, 32u << 20, &lim, &err), 0);
    assert_true(lim.seconds == 10.0 + 2.0); /* 10 s, one more per 16 MiB */
    assert_true(lim.memory == (512u + 8u * 32u) << 20);
    setenv("POLYDAQ_READ_SECONDS", "100", 1);
    setenv("POLYDAQ_READ_MB_PER_SECOND", "1", 1);
    setenv("POLYDAQ_READ_MEMORY_MB", "1000", 1);
    setenv("POLYDAQ_READ_MEMORY_FACTOR", "2", 1);
    assert_int_equal(pd_read_limits(FILE_NAME, 32u << 20, &lim, &err), 0);
    assert_true(lim.seconds == 132.0);
    assert_true(lim.memory == (uint64_t)1064 << 20);
    static const char *const bad[] = {"abc", "-1", "0", "1e99", "5s", " "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("POLYDAQ_READ_MEMORY_FACTOR", bad[i], 1);
        assert_int_equal(pd_read_limits(FILE_NAME, 1, &lim, &err), PD_ECONFIG);
        assert_non_null(strstr(err.msg, "POLYDAQ_READ_MEMORY_FACTOR"));
    }
    unsetenv("POLYDAQ_READ_SECONDS");
    unsetenv("POLYDAQ_READ_MB_PER_SECOND");
    unsetenv("POLYDAQ_READ_MEMORY_MB");
    unsetenv("POLYDAQ_READ_MEMORY_FACTOR");
}

/* The one child process of this test's process (the reader's), from /proc; 0 when none or unknown. */
static pid_t only_child(void)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    FILE *f = fopen(path, "r");
    int pid = 0, other = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%d %d", &pid, &other) != 1)
        pid = 0;
    fclose(f);
    return (pid_t)pid;
}

static void test_child_dies_between_reads(void **state)
{
    (void)state;
    char dir[] = "/tmp/pd_isolate_test_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/run.h5", dir);
    struct pd_store_instrument in = {.name = "frame", .n_channels = 1, .channels = {{"force", "N"}}};
    struct pd_store_specimen sp = {.id = "S01"};
    struct pd_store_layout layout = {.n_instruments = 1, .instruments = &in, .n_specimens = 1, .specimens = &sp,
                                     .chunk_samples = 64, .deflate_level = -1};
    struct pd_err err = {0};
    struct pd_store *st;
    assert_int_equal(pd_store_create(path, &layout, &st, &err), 0);
    int64_t t[3] = {1, 2, 3};
    double v[3] = {1.5, 2.5, 3.5};
    assert_int_equal(pd_store_append(st, 0, 0, 3, t, NULL, NULL, v, &err), 0);
    assert_int_equal(pd_store_close(st, 0, NULL, &err), 0);

    struct pd_run *run;
    assert_int_equal(pd_run_open(path, &run, &err), 0);
    double *data = NULL;
    size_t n = 0;
    assert_int_equal(pd_run_read_channel(run, 0, 0, "force", &data, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_true(data[2] == 3.5);
    free(data);
    data = NULL;
    pid_t child = only_child();
    if (child <= 0) {
        pd_run_close(run);
        unlink(path);
        rmdir(dir);
        skip(); /* a kernel without /proc/PID/task/TID/children */
    }
    assert_int_equal(kill(child, SIGSEGV), 0);
    int64_t *tt = NULL;
    assert_int_equal(pd_run_read_time(run, 0, 0, &tt, &n, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "damaged run file: "));
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "crashed with signal 11"));
    assert_null(tt);
    /* every later read fails the same way; the snapshot's answers stay */
    struct pd_err again = {0};
    size_t cap = 0;
    assert_int_equal(pd_run_read_channel_into(run, 0, 0, "force", &data, &cap, &n, &again), PD_EDATA);
    assert_string_equal(again.msg, err.msg);
    assert_string_equal(pd_run_specimen_id(run, 0), "S01");
    pd_run_close(run);
    free(data);
    assert_int_equal(only_child(), 0); /* reaped */
    unlink(path);
    rmdir(dir);
}

/* Read-ahead (the child decodes the next specimen's channel while the caller works on this one):
 * every column read after a hint is the one written, whichever order the caller asks in; hints for
 * a missing channel or specimen change nothing; the child stays answering. */
static void test_read_ahead_answers_the_right_columns(void **state)
{
    (void)state;
    char dir[] = "/tmp/pd_isolate_test_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/run.h5", dir);
    struct pd_store_instrument in = {.name = "frame", .n_channels = 2, .channels = {{"force", "N"}, {"extension", "mm"}}};
    struct pd_store_specimen sp[3] = {{.id = "S01"}, {.id = "S02"}, {.id = "S03"}};
    struct pd_store_layout layout = {.n_instruments = 1, .instruments = &in, .n_specimens = 3, .specimens = sp,
                                     .chunk_samples = 256, .deflate_level = 1};
    struct pd_err err = {0};
    struct pd_store *st;
    assert_int_equal(pd_store_create(path, &layout, &st, &err), 0);
    enum { N = 1000 };
    static int64_t t[N];
    static double v[2 * N];
    for (size_t s = 0; s < 3; s++) {
        for (size_t i = 0; i < N; i++) {
            t[i] = (int64_t)i;
            v[2 * i] = 1000.0 * (double)s + (double)i;         /* force */
            v[2 * i + 1] = -1000.0 * (double)s - (double)i;    /* extension */
        }
        assert_int_equal(pd_store_append(st, s, 0, N, t, NULL, NULL, v, &err), 0);
    }
    assert_int_equal(pd_store_close(st, 0, NULL, &err), 0);

    struct pd_run *run;
    assert_int_equal(pd_run_open(path, &run, &err), 0);
    double *f = NULL, *e = NULL;
    size_t fcap = 0, ecap = 0, n = 0;
    /* specimen order 0, 2, 1 (a hint left unused), extension before force for specimen 2 */
    const size_t order[3] = {0, 2, 1};
    for (size_t k = 0; k < 3; k++) {
        size_t s = order[k];
        pd_run_read_ahead(run, s, 0, "no-such-channel", PD_COL_DOUBLE);
        pd_run_read_ahead(run, 7, 0, "force", PD_COL_DOUBLE);
        if (s == 2)
            assert_int_equal(pd_run_read_channel_into(run, s, 0, "extension", &e, &ecap, &n, &err), 0);
        assert_int_equal(pd_run_read_channel_into(run, s, 0, "force", &f, &fcap, &n, &err), 0);
        assert_int_equal(n, N);
        if (s != 2)
            assert_int_equal(pd_run_read_channel_into(run, s, 0, "extension", &e, &ecap, &n, &err), 0);
        assert_int_equal(n, N);
        for (size_t i = 0; i < N; i++) {
            assert_true(f[i] == 1000.0 * (double)s + (double)i);
            assert_true(e[i] == -1000.0 * (double)s - (double)i);
        }
    }
    /* a real request for the missing channel still gets its error */
    assert_int_equal(pd_run_read_channel_into(run, 1, 0, "no-such-channel", &f, &fcap, &n, &err), PD_EDATA);
    assert_string_equal(pd_run_specimen_id(run, 2), "S03");
    pd_run_close(run);
    free(f);
    free(e);
    unlink(path);
    rmdir(dir);
}

static void write_run(const char *path, double base, size_t n)
{
    struct pd_store_instrument in = {.name = "frame", .n_channels = 1, .channels = {{"force", "N"}}};
    struct pd_store_specimen sp[1] = {{.id = "S01"}};
    struct pd_store_layout layout = {.n_instruments = 1, .instruments = &in, .n_specimens = 1, .specimens = sp,
                                     .chunk_samples = 256, .deflate_level = 1};
    struct pd_err err = {0};
    struct pd_store *st;
    assert_int_equal(pd_store_create(path, &layout, &st, &err), 0);
    int64_t *t = malloc(n * sizeof *t);
    double *v = malloc(n * sizeof *v);
    assert_non_null(t);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) {
        t[i] = (int64_t)i;
        v[i] = base + (double)i;
    }
    assert_int_equal(pd_store_append(st, 0, 0, n, t, NULL, NULL, v, &err), 0);
    int rc = pd_store_close(st, 0, NULL, &err);
    if (rc != 0)
        print_error("closing %s: %s\n", path, err.msg);
    assert_int_equal(rc, 0);
    free(t);
    free(v);
}

static void expect_force(const char *path, double base, size_t n)
{
    struct pd_err err = {0};
    struct pd_run *run;
    assert_int_equal(pd_run_open(path, &run, &err), 0);
    double *f = NULL;
    size_t cap = 0, got = 0;
    assert_int_equal(pd_run_read_channel_into(run, 0, 0, "force", &f, &cap, &got, &err), 0);
    assert_int_equal(got, n);
    for (size_t i = 0; i < n; i++)
        assert_true(f[i] == base + (double)i);
    pd_run_close(run);
    free(f);
}

/* Eight specimens read in order the way certify does (each read hints the next two), the sixth
 * one's columns three times as long as the others (the read-ahead buffers grow), then again in
 * reverse (hints for specimens already read, slots given way): every column arrives whole and its
 * own. */
static void test_read_ahead_regions(void **state)
{
    (void)state;
    char dir[] = "/tmp/pd_isolate_test_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/run.h5", dir);
    enum { S = 8, N = 3000 };
    struct pd_store_instrument in = {.name = "frame", .n_channels = 2, .channels = {{"force", "N"}, {"extension", "mm"}}};
    struct pd_store_specimen sp[S];
    memset(sp, 0, sizeof sp);
    for (size_t k = 0; k < S; k++)
        snprintf(sp[k].id, sizeof sp[k].id, "S%02zu", k + 1);
    struct pd_store_layout layout = {.n_instruments = 1, .instruments = &in, .n_specimens = S, .specimens = sp,
                                     .chunk_samples = 512, .deflate_level = 1};
    struct pd_err err = {0};
    struct pd_store *st;
    assert_int_equal(pd_store_create(path, &layout, &st, &err), 0);
    static int64_t t[3 * N];
    static double v[2 * 3 * N];
    for (size_t k = 0; k < S; k++) {
        size_t len = k == 5 ? 3 * N : N;
        for (size_t i = 0; i < len; i++) {
            t[i] = (int64_t)i;
            v[2 * i] = 1e6 * (double)k + (double)i;
            v[2 * i + 1] = -1e6 * (double)k - (double)i;
        }
        assert_int_equal(pd_store_append(st, k, 0, len, t, NULL, NULL, v, &err), 0);
    }
    assert_int_equal(pd_store_close(st, 0, NULL, &err), 0);
    struct pd_run *run;
    assert_int_equal(pd_run_open(path, &run, &err), 0);
    double *f = NULL, *e = NULL;
    size_t fcap = 0, ecap = 0, n = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t j = 0; j < S; j++) {
            size_t k = pass == 0 ? j : S - 1 - j, len = k == 5 ? 3 * N : N;
            assert_int_equal(pd_run_read_channel_into(run, k, 0, "force", &f, &fcap, &n, &err), 0);
            assert_int_equal(n, len);
            assert_int_equal(pd_run_read_channel_into(run, k, 0, "extension", &e, &ecap, &n, &err), 0);
            assert_int_equal(n, len);
            for (size_t i = 0; i < len; i++) {
                assert_true(f[i] == 1e6 * (double)k + (double)i);
                assert_true(e[i] == -1e6 * (double)k - (double)i);
            }
        }
    }
    pd_run_close(run);
    free(f);
    free(e);
    unlink(path);
    rmdir(dir);
}

/* This process's children (living or not yet reaped), from /proc. */
static int child_count(void)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)getpid(), (int)getpid());
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[got] = '\0';
    int n = 0;
    for (char *tok = strtok(buf, " \n"); tok; tok = strtok(NULL, " \n"))
        n++;
    return n;
}

/* Readers started ahead (pd_store_readers_start, certify's way: each begins opening its file while
 * the caller loads the spec): each open of a started path gets that file's data, in any order; a
 * path never started, one that could not be looked at when started, and a file replaced by a larger
 * one after its start (other limits) are each opened as usual — never with another file's reader. */
static void test_readers_started_ahead(void **state)
{
    (void)state;
    char dir[] = "/tmp/pd_isolate_test_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char a[128], b[128], c[128], late[128];
    snprintf(a, sizeof a, "%s/a.h5", dir);
    snprintf(b, sizeof b, "%s/b.h5", dir);
    snprintf(c, sizeof c, "%s/c.h5", dir);
    snprintf(late, sizeof late, "%s/late.h5", dir);
    write_run(a, 1000.0, 500);
    write_run(b, 2000.0, 700);
    write_run(c, 3000.0, 300);
    const char *const paths[] = {a, b, late};
    struct pd_err err = {0};
    assert_int_equal(pd_store_readers_start(paths, 3, &err), 0);
    /* did not exist when its reader was started (written elsewhere, renamed into place) */
    char late_tmp[160];
    snprintf(late_tmp, sizeof late_tmp, "%s/late.tmp", dir);
    write_run(late_tmp, 4000.0, 900);
    assert_int_equal(rename(late_tmp, late), 0);
    expect_force(c, 3000.0, 300);
    expect_force(b, 2000.0, 700);
    expect_force(late, 4000.0, 900);
    expect_force(a, 1000.0, 500);
    /* started, then replaced (rename, as a finished run file arrives) by a file 40 times larger
     * before it is opened: its reader may have opened either one, and is not used */
    char bigger[160];
    snprintf(bigger, sizeof bigger, "%s/bigger.h5", dir);
    write_run(bigger, 5000.0, 20000);
    assert_int_equal(pd_store_readers_start(paths, 1, &err), 0);
    assert_int_equal(rename(bigger, a), 0);
    expect_force(a, 5000.0, 20000);
    /* started and never opened (a command that stopped early): released, the readers end */
    assert_int_equal(pd_store_readers_start(paths, 3, &err), 0);
    assert_true(child_count() >= 3);
    pd_store_readers_release();
    for (int k = 0; k < 500 && child_count() > 0; k++) {
        usleep(10000);
        pd_store_readers_release(); /* also reaps the ones that have ended */
    }
    assert_int_equal(child_count(), 0);
    unlink(a);
    unlink(b);
    unlink(c);
    unlink(late);
    rmdir(dir);
}

/* Regression (mutation test): a crashed writer's file (SWMR mark set) with one damaged object
 * header. HDF5's SWMR reader retries a failed metadata checksum 100 times by default, doubling a
 * sleep each time — the reader waited forever (here: until the time limit). With the store's 28
 * attempts the damage is reported as what it is. */
static void test_damaged_crashed_file_reports_the_damage(void **state)
{
    (void)state;
    char dir[] = "/tmp/pd_isolate_test_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/crashed.h5", dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* the writer, dying without closing */
        struct pd_store_instrument in = {.name = "frame", .n_channels = 1, .channels = {{"force", "N"}}};
        struct pd_store_specimen sp = {.id = "S01"};
        struct pd_store_layout layout = {.n_instruments = 1, .instruments = &in, .n_specimens = 1,
                                         .specimens = &sp, .chunk_samples = 64, .deflate_level = -1};
        struct pd_err err = {0};
        struct pd_store *st;
        int64_t t[3] = {1, 2, 3};
        double v[3] = {1.5, 2.5, 3.5};
        if (pd_store_create(path, &layout, &st, &err) < 0 || pd_store_append(st, 0, 0, 3, t, NULL, NULL, v, &err) < 0 ||
            pd_store_flush(st, &err) < 0)
            _exit(3);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct pd_err err = {0};
    struct pd_run *run;
    assert_int_equal(pd_run_open(path, &run, &err), 0); /* undamaged: it reads */
    assert_int_equal(pd_run_closed_cleanly(run), 0);
    pd_run_close(run);

    /* one byte of the first object header (the root group's) changed: its checksum fails */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    unsigned char head[4096];
    size_t got = fread(head, 1, sizeof head, f);
    size_t at = 0;
    while (at + 4 <= got && memcmp(head + at, "OHDR", 4) != 0)
        at++;
    assert_true(at + 8 < got);
    assert_int_equal(fseek(f, (long)(at + 6), SEEK_SET), 0);
    assert_int_equal(fputc(head[at + 6] ^ 0x55, f), head[at + 6] ^ 0x55);
    assert_int_equal(fclose(f), 0);

    setenv("POLYDAQ_READ_SECONDS", "5", 1); /* the wall limit (a few s) ends endless retries */
    int rc = pd_run_open(path, &run, &err);
    unsetenv("POLYDAQ_READ_SECONDS");
    assert_int_equal(rc, PD_EDATA);
    if (!strstr(err.msg, "checksum"))
        print_error("message: %s\n", err.msg);
    assert_null(strstr(err.msg, "time limit"));
    assert_non_null(strstr(err.msg, "checksum"));
    assert_non_null(strstr(err.msg, path));
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_is_reported),     cmocka_unit_test(test_cpu_limit),
        cmocka_unit_test(test_wall_limit),            cmocka_unit_test(test_memory_limit),
        cmocka_unit_test(test_errors_come_back),      cmocka_unit_test(test_limits_from_environment),
        cmocka_unit_test(test_child_dies_between_reads),
        cmocka_unit_test(test_read_ahead_answers_the_right_columns),
        cmocka_unit_test(test_readers_started_ahead),
        cmocka_unit_test(test_read_ahead_regions),
        cmocka_unit_test(test_damaged_crashed_file_reports_the_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
