/* isolate.c — reads a run file with HDF5 only inside a forked child process held to CPU, memory and
 * wall-clock limits, so that a damaged or hostile file can crash or hang the child but never the
 * command (see docs/ARCHITECTURE.md, "Hostile files"). */
#define _GNU_SOURCE /* memfd_create, mremap, F_ADD_SEALS, strsignal */
#include "store/store_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <valgrind/valgrind.h>

/* An address-space limit cannot work under AddressSanitizer (its shadow memory reserves terabytes
 * of address space) nor under valgrind (which maps its own tools into the process). */
#if defined(__SANITIZE_ADDRESS__)
#define PD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PD_ASAN 1
#endif
#endif
#ifndef PD_ASAN
#define PD_ASAN 0
#endif

/* ---- Limits --------------------------------------------------------------------------------*/

/* Defaults; each overridable by the environment variable named beside it (README, ARCHITECTURE). */
#define DEFAULT_SECONDS 10.0      /* POLYDAQ_READ_SECONDS: wall-clock and CPU base, per request */
#define DEFAULT_MB_PER_SECOND 16.0 /* POLYDAQ_READ_MB_PER_SECOND: one more second per this many MiB */
#define DEFAULT_MEMORY_MB 512.0   /* POLYDAQ_READ_MEMORY_MB: memory base */
#define DEFAULT_MEMORY_FACTOR 8.0 /* POLYDAQ_READ_MEMORY_FACTOR: plus this many times the file size */

static int env_number(const char *name, double fallback, double *out, struct pd_err *err)
{
    const char *s = getenv(name);
    double v;
    if (!s || !s[0]) {
        *out = fallback;
        return 0;
    }
    if (!pd_parse_double(s, &v) || !(v > 0) || v > 1e9)
        return pd_err_set(err, PD_ECONFIG, name, "expected a positive number, not '%s'", s);
    *out = v;
    return 0;
}

int pd_read_limits(const char *path, uint64_t file_size, struct pd_read_limits *out, struct pd_err *err)
{
    (void)path;
    double base, rate, mem_mb, factor;
    int rc = env_number("POLYDAQ_READ_SECONDS", DEFAULT_SECONDS, &base, err);
    if (rc == 0)
        rc = env_number("POLYDAQ_READ_MB_PER_SECOND", DEFAULT_MB_PER_SECOND, &rate, err);
    if (rc == 0)
        rc = env_number("POLYDAQ_READ_MEMORY_MB", DEFAULT_MEMORY_MB, &mem_mb, err);
    if (rc == 0)
        rc = env_number("POLYDAQ_READ_MEMORY_FACTOR", DEFAULT_MEMORY_FACTOR, &factor, err);
    if (rc < 0)
        return rc;
    double mib = (double)file_size / 1048576.0;
    out->seconds = base + mib / rate;
    out->memory = (uint64_t)((mem_mb + factor * mib) * 1048576.0);
    return 0;
}

/* Bytes of address space the process has now (the child starts with all of its parent's). */
static uint64_t address_space_now(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long pages = 0;
    if (f) {
        if (fscanf(f, "%llu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    long page = sysconf(_SC_PAGESIZE);
    return (uint64_t)pages * (uint64_t)(page > 0 ? page : 4096);
}

/* In the child, before it touches the file: no core dump of a crash, a CPU-time limit (SIGXCPU,
 * then SIGKILL a second later), an address-space limit over what it inherited, and death with
 * the parent (a killed command leaves no reader behind). */
static void limit_child(const struct pd_read_limits *lim)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* The caller's signal handlers and mask are not the child's: a crash must end it (not run a
     * handler that carries on in the caller's code), and SIGXCPU must reach it. */
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct rlimit core = {0, 0};
    setrlimit(RLIMIT_CORE, &core);
    rlim_t cpu = (rlim_t)ceil(lim->seconds);
    struct rlimit cpu_lim = {cpu, cpu + 1};
    setrlimit(RLIMIT_CPU, &cpu_lim);
    if (!PD_ASAN && !RUNNING_ON_VALGRIND) {
        rlim_t as = (rlim_t)(address_space_now() + lim->memory);
        struct rlimit as_lim = {as, as};
        setrlimit(RLIMIT_AS, &as_lim);
    }
}

/* The wall-clock deadline of each request: the CPU limit plus 2 s, so that a child busy reading
 * meets its CPU limit first (SIGXCPU, then SIGKILL a second later: the more precise report) and
 * the deadline catches one that waits (sleeps, locks, a stalled disk). */
static double wall_limit(const struct pd_read_limits *lim)
{
    return ceil(lim->seconds) + 2.0;
}

/* ---- Process ends --------------------------------------------------------------------------*/

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What became of a child that did not answer. */
enum child_fate {
    FATE_DIED,      /* it ended by itself: a crash, a limit's signal */
    FATE_TIMED_OUT, /* past the request's deadline: killed */
    FATE_NONSENSE,  /* it answered something malformed: killed */
};

/* Reaps the child (killing it first unless it died) and says what became of it in `err`:
 * "damaged run file: PATH: <what happened> while <doing>". */
static int child_failed(pid_t pid, enum child_fate fate, const char *path, const char *doing,
                        const struct pd_read_limits *lim, struct pd_err *err)
{
    if (fate != FATE_DIED)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (fate == FATE_TIMED_OUT)
        return pd_err_set(err, PD_EDATA, NULL, "damaged run file: %s: exceeded the time limit (%.0f s) while %s",
                          path, wall_limit(lim), doing);
    if (fate == FATE_NONSENSE)
        return pd_err_set(err, PD_EDATA, NULL, "damaged run file: %s: the reader process sent a malformed answer "
                          "while %s", path, doing);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        /* RLIMIT_CPU sends SIGXCPU at the soft limit and SIGKILL at the hard one, a second later. */
        if (sig == SIGXCPU || sig == SIGKILL)
            return pd_err_set(err, PD_EDATA, NULL,
                              "damaged run file: %s: exceeded the CPU time limit (%.0f s) while %s", path,
                              ceil(lim->seconds), doing);
        return pd_err_set(err, PD_EDATA, NULL, "damaged run file: %s: crashed with signal %d (%s) while %s", path,
                          sig, strsignal(sig), doing);
    }
    return pd_err_set(err, PD_EDATA, NULL, "damaged run file: %s: the reader process ended (status %d) while %s",
                      path, WIFEXITED(status) ? WEXITSTATUS(status) : -1, doing);
}

/* A failure the child reported, as the caller sees it: an allocation that failed under the
 * memory limit is named as that. */
static int child_error(const struct pd_err *child, const char *path, const struct pd_read_limits *lim,
                       struct pd_err *err)
{
    struct pd_err e = *child;
    e.msg[sizeof e.msg - 1] = e.where[sizeof e.where - 1] = '\0';
    if (e.code >= 0 || e.code < -64)
        e.code = PD_EDATA;
    if (e.code == PD_ENOMEM || strstr(e.msg, "memory allocation failed") || strstr(e.msg, "out of memory"))
        return pd_err_set(err, PD_EDATA, NULL,
                          "damaged run file: %s: exceeded the memory limit (%.0f MiB) while reading (%s)", path,
                          (double)lim->memory / 1048576.0, e.msg);
    if (err)
        *err = e;
    return e.code;
}

/* ---- The reader's child: requests and answers -----------------------------------------------*/

/* One request of the parent; op 0 = read a column (answered), op 1 = read ahead: decode a column
 * the parent will ask for next into the child's own memory (no answer; a later op 0 of the same
 * column is answered from it). */
struct request {
    uint32_t op;
    uint32_t type;     /* enum pd_col_type */
    uint32_t optional; /* a missing dataset is 0 samples (schema-1 `sequence`) */
    uint32_t pad;
    uint64_t specimen, instrument;
    char name[PD_STORE_NAME_MAX];
};

/* The child's answer: rc 0 with n (samples or snapshot bytes) at offset 0 of the shared memfd,
 * or the error. */
struct answer {
    int32_t rc;
    uint32_t pad;
    uint64_t n;
    struct pd_err err;
};

struct pd_run_child {
    pid_t pid;
    int sock;  /* SOCK_SEQPACKET: one message per request and per answer */
    int memfd; /* what the answers carry: the snapshot, then each column; sealed against shrinking */
    void *view; /* the caller's read-only mapping of it (NULL: none yet, or pread when sealing failed) */
    size_t view_size;
    int no_view;
    char *path;
    struct pd_read_limits lim;
    int dead; /* reaped after a failure: every later request fails the same way */
    struct pd_err death;
};

static size_t type_size(uint32_t type)
{
    return type == PD_COL_UINT32 ? 4 : 8;
}

/* The child's shared window onto the memfd, grown (never shrunk) to the largest answer. */
struct window {
    int memfd;
    void *map;
    size_t size;
};

static void *window_room(void *ctx, size_t bytes)
{
    struct window *w = ctx;
    if (bytes <= w->size)
        return w->map ? w->map : (void *)w; /* never NULL: 0 bytes need no room */
    size_t want = bytes < 65536 ? 65536 : bytes;
    if (ftruncate(w->memfd, (off_t)want) < 0)
        return NULL;
    void *m = w->map ? mremap(w->map, w->size, want, MREMAP_MAYMOVE)
                     : mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_SHARED, w->memfd, 0);
    if (m == MAP_FAILED)
        return NULL;
    pd_store_populate((char *)m + w->size, want - w->size); /* the new pages in one call, not a fault each */
    w->map = m;
    w->size = want;
    return m;
}

/* Columns read ahead, waiting in the child for the parent's request (at most READ_AHEAD_MAX: the
 * oldest is dropped when another comes). Why: certify asks for a specimen's columns and then
 * evaluates it; decoding the next specimen's columns meanwhile puts the child's work (inflate,
 * un-shuffle) beside the parent's instead of before it. */
#define READ_AHEAD_MAX 6
struct ahead {
    bool used;
    struct request q;
    void *data; /* malloc'd, cap bytes, kept for the next column (fresh memory costs page faults) */
    size_t cap, n;
};

static void *ahead_room(void *ctx, size_t bytes)
{
    struct ahead *a = ctx;
    if (bytes <= a->cap && a->data)
        return a->data;
    void *bigger = malloc(bytes ? bytes : 1);
    if (!bigger)
        return NULL;
    pd_store_populate(bigger, bytes);
    free(a->data);
    a->data = bigger;
    a->cap = bytes;
    return bigger;
}

static bool same_column(const struct request *a, const struct request *b)
{
    return a->type == b->type && a->optional == b->optional && a->specimen == b->specimen &&
           a->instrument == b->instrument && strcmp(a->name, b->name) == 0;
}

static void read_ahead(struct pd_run *run, const struct request *q, struct ahead *slots)
{
    struct ahead *slot = &slots[0];
    for (size_t i = 0; i < READ_AHEAD_MAX; i++) {
        if (slots[i].used && same_column(&slots[i].q, q))
            return; /* already here */
        /* A free slot, the one with the most memory first: memory used before has its pages,
         * fresh memory has them to be had (page faults, or populating it). */
        if (!slots[i].used && (slot->used || slots[i].cap > slot->cap))
            slot = &slots[i];
    }
    struct pd_err ignored = {0};
    slot->used = false;
    /* A failure is not kept: the parent's real request reads again and gets the error itself. */
    if (pd_run_column(run, (size_t)q->specimen, (size_t)q->instrument, q->name, (enum pd_col_type)q->type,
                      (int)q->optional, ahead_room, slot, &slot->n, &ignored) == 0) {
        slot->used = true;
        slot->q = *q;
    }
}

/* The column of q if it was read ahead: copied into the window, its slot freed. */
static bool from_ahead(const struct request *q, struct ahead *slots, struct window *w, size_t *n, int *rc,
                       struct pd_err *err, const char *path)
{
    for (size_t i = 0; i < READ_AHEAD_MAX; i++) {
        if (!slots[i].used || !same_column(&slots[i].q, q))
            continue;
        size_t bytes = slots[i].n * type_size(q->type);
        void *dst = window_room(w, bytes);
        if (!dst)
            *rc = pd_err_set(err, PD_ENOMEM, path, "out of memory for %zu samples of %s", slots[i].n, q->name);
        else {
            memcpy(dst, slots[i].data, bytes);
            *n = slots[i].n;
            *rc = 0;
        }
        slots[i].used = false;
        return true;
    }
    return false;
}

static void send_answer(int sock, int rc, uint64_t n, const struct pd_err *err)
{
    struct answer a = {.rc = rc, .n = n};
    if (rc < 0 && err) { /* field by field: the message's bytes past its end were never written */
        a.err.code = err->code;
        a.err.os_errno = err->os_errno;
        a.err.device_code = err->device_code;
        pd_strlcpy(a.err.where, err->where, sizeof a.err.where);
        pd_strlcpy(a.err.msg, err->msg, sizeof a.err.msg);
    }
    (void)send(sock, &a, sizeof a, MSG_NOSIGNAL);
}

/* The child: opens the file with HDF5, sends the snapshot of everything but the samples, then
 * serves column reads until the parent closes its end. Never returns. */
static void serve(const char *path, int sock, int memfd, const struct pd_read_limits *lim)
{
    prctl(PR_SET_NAME, "pd-run-reader"); /* in ps and perf: the reader, not the command */
    limit_child(lim);
    struct pd_err err = {0};
    struct pd_run *run = NULL;
    struct window w = {.memfd = memfd};
    int rc = pd_run_open_direct(path, &run, &err);
    if (rc < 0) {
        send_answer(sock, rc, 0, &err);
        _exit(0);
    }
    size_t size = 0;
    rc = pd_run_snapshot(run, window_room, &w, &size, &err);
    send_answer(sock, rc, size, &err);
    struct request q;
    struct ahead ahead[READ_AHEAD_MAX] = {0};
    struct request hints[READ_AHEAD_MAX];
    size_t n_hints = 0;
    ssize_t got;
    while (rc == 0) {
        /* Hints wait while a request is there: the parent is blocked on a request, never on a hint.
         * Of the hints, the lowest specimen first: it is the one the parent asks for next. */
        if (n_hints > 0) {
            struct pollfd p = {.fd = sock, .events = POLLIN};
            if (poll(&p, 1, 0) == 0) {
                size_t best = 0;
                for (size_t i = 1; i < n_hints; i++)
                    if (hints[i].specimen < hints[best].specimen)
                        best = i;
                struct request h = hints[best];
                hints[best] = hints[--n_hints];
                read_ahead(run, &h, ahead);
                continue;
            }
        }
        if ((got = recv(sock, &q, sizeof q, 0)) != (ssize_t)sizeof q)
            break;
        q.name[sizeof q.name - 1] = '\0';
        size_t n = 0;
        int r = PD_EINVAL;
        if (q.op == 1 && q.type <= PD_COL_UINT64) {
            bool known = false;
            for (size_t i = 0; i < n_hints && !known; i++)
                known = same_column(&hints[i], &q);
            for (size_t i = 0; i < READ_AHEAD_MAX && !known; i++)
                known = ahead[i].used && same_column(&ahead[i].q, &q);
            if (!known) {
                if (n_hints == READ_AHEAD_MAX) /* the oldest hint gives way */
                    memmove(hints, hints + 1, --n_hints * sizeof *hints);
                hints[n_hints++] = q;
            }
            continue;
        }
        if (q.op == 0 && q.type <= PD_COL_UINT64) {
            for (size_t i = 0; i < n_hints; i++) /* asked for before it was read ahead */
                if (same_column(&hints[i], &q)) {
                    hints[i] = hints[--n_hints];
                    break;
                }
            if (!from_ahead(&q, ahead, &w, &n, &r, &err, path))
                r = pd_run_column(run, (size_t)q.specimen, (size_t)q.instrument, q.name, (enum pd_col_type)q.type,
                                  (int)q.optional, window_room, &w, &n, &err);
        } else
            pd_err_set(&err, PD_EINVAL, path, "bad request to the reader process");
        send_answer(sock, r, n, &err);
    }
    for (size_t i = 0; i < READ_AHEAD_MAX; i++)
        free(ahead[i].data);
    /* A clean end (the run closed, no leak for valgrind to report); _exit, never exit: the atexit
     * handlers (HDF5's among them) belong to the parent and would act on its inherited state. */
    pd_run_close(run);
    if (w.map)
        munmap(w.map, w.size);
    _exit(0);
}

/* Waits for the child's answer until the request's deadline; on anything but a whole answer the
 * child is reaped and its fate becomes the error (and that of every later request). */
static int await_answer(struct pd_run_child *c, const char *doing, struct answer *a, struct pd_err *err)
{
    double deadline = now_s() + wall_limit(&c->lim);
    enum child_fate fate = FATE_TIMED_OUT;
    for (;;) {
        double left = deadline - now_s();
        if (left <= 0)
            break;
        struct pollfd p = {.fd = c->sock, .events = POLLIN};
        int ready = poll(&p, 1, (int)ceil(left * 1000));
        if (ready == 0 || (ready < 0 && errno == EINTR))
            continue;
        ssize_t got = ready > 0 ? recv(c->sock, a, sizeof *a, 0) : -1;
        if (got < 0 && errno == EINTR)
            continue;
        if (got == (ssize_t)sizeof *a)
            return 0;
        fate = got > 0 ? FATE_NONSENSE : FATE_DIED;
        break;
    }
    c->dead = 1;
    child_failed(c->pid, fate, c->path, doing, &c->lim, &c->death);
    if (err)
        *err = c->death;
    return PD_EDATA;
}

/* Copies `bytes` from the start of the memfd, checking the child's claim against the file. The
 * memfd cannot shrink (F_SEAL_SHRINK, set before the fork), so what the mapping covered once stays
 * readable: a child gone wrong cannot make the caller fault (SIGBUS) by truncating it. */
static int take(struct pd_run_child *c, void *dst, size_t bytes, struct pd_err *err)
{
    if (bytes == 0)
        return 0;
    if (!c->no_view && bytes > c->view_size) {
        struct stat sb;
        if (fstat(c->memfd, &sb) < 0 || sb.st_size < 0 || (uint64_t)sb.st_size < bytes)
            return pd_err_set(err, PD_EDATA, NULL,
                              "damaged run file: %s: the reader process sent a malformed answer", c->path);
        /* What this answer needs (a child that grew the memfd to a damaged file's claim before
         * failing leaves it that large: the mapping follows the answers, not the memfd). */
        size_t size = bytes;
        void *m = c->view ? mremap(c->view, c->view_size, size, MREMAP_MAYMOVE)
                          : mmap(NULL, size, PROT_READ, MAP_SHARED, c->memfd, 0);
        if (m == MAP_FAILED)
            return pd_err_set_os(err, PD_ENOMEM, errno, c->path, "cannot map the reader's answer");
        c->view = m;
        c->view_size = size;
    }
    if (!c->no_view) {
        memcpy(dst, c->view, bytes);
        return 0;
    }
    size_t done = 0;
    while (done < bytes) {
        ssize_t r = pread(c->memfd, (char *)dst + done, bytes - done, (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return pd_err_set(err, PD_EDATA, NULL,
                              "damaged run file: %s: the reader process sent a malformed answer", c->path);
        done += (size_t)r;
    }
    return 0;
}

/* Children told to end but not yet reaped: a child's exit (HDF5's close, its address space torn
 * down) takes ~1 ms the caller need not wait for. Reaped without waiting at the next open or
 * close, and with this process. One list: the store is used by one thread at a time. */
#define PENDING_MAX 32
static pid_t pending[PENDING_MAX];
static size_t n_pending;

static void reap_pending(void)
{
    for (size_t i = 0; i < n_pending;) {
        if (waitpid(pending[i], NULL, WNOHANG) != 0) /* reaped, or not ours any more */
            pending[i] = pending[--n_pending];
        else
            i++;
    }
}

/* ---- Readers forked ahead ------------------------------------------------------------------*/
/* fork() copies only the calling thread: a lock another thread holds at that moment stays held in
 * the child for ever. glibc's malloc takes care of its own locks around fork, but not every
 * allocator does (AddressSanitizer's, in the sanitizer build, deadlocked the child now and then
 * while certify's hashing thread was starting), nor every library. So a command that will start
 * threads forks its readers first, while it is still single-threaded
 * (pd_store_readers_prepare): each waits, idle, for the one order that names its file and limits,
 * then serves it exactly as a reader forked on demand does. */
#define SPARE_MAX 16

struct spare {
    pid_t pid;
    int sock, memfd, no_view;
    bool ordered;                 /* already told to open `path` (pd_store_readers_start) */
    struct pd_read_limits lim;    /* with these limits */
    char *path;
};
static struct spare spares[SPARE_MAX];
static size_t n_spares;

struct open_order {
    struct pd_read_limits lim;
    char path[4096];
};

/* The idle child: the parent's end of every earlier spare is not its business; it dies with the
 * parent (which may never send an order), or serves the order it gets. Never returns. */
static void wait_for_order(int sock, int memfd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (size_t i = 0; i < n_spares; i++) {
        close(spares[i].sock);
        close(spares[i].memfd);
    }
    struct open_order *o = malloc(sizeof *o);
    ssize_t got = o ? recv(sock, o, sizeof *o, 0) : -1;
    if (got != (ssize_t)sizeof *o)
        _exit(0);
    o->path[sizeof o->path - 1] = '\0';
    char path[sizeof o->path];
    memcpy(path, o->path, sizeof path);
    struct pd_read_limits lim = o->lim;
    free(o);
    serve(path, sock, memfd, &lim);
}

int pd_store_readers_prepare(size_t n, struct pd_err *err)
{
    if (H5open() < 0)
        return pd_err_set(err, PD_EIO, NULL, "cannot initialise HDF5");
    while (n-- > 0 && n_spares < SPARE_MAX) {
        struct spare sp = {.pid = -1, .sock = -1, .memfd = -1};
        int sv[2] = {-1, -1};
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
            return pd_err_set_os(err, PD_EIO, errno, NULL, "cannot start a reader process (socketpair)");
        sp.memfd = memfd_create("polydaq-run-reader", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (sp.memfd < 0) {
            int e = errno;
            close(sv[0]);
            close(sv[1]);
            return pd_err_set_os(err, PD_EIO, e, NULL, "cannot start a reader process (memfd)");
        }
        if (fcntl(sp.memfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
            sp.no_view = 1;
        sp.pid = fork();
        if (sp.pid == 0) {
            close(sv[0]);
            wait_for_order(sv[1], sp.memfd);
        }
        int e = errno;
        close(sv[1]);
        if (sp.pid < 0) {
            close(sv[0]);
            close(sp.memfd);
            return pd_err_set_os(err, PD_EIO, e, NULL, "cannot start a reader process (fork)");
        }
        sp.sock = sv[0];
        spares[n_spares++] = sp;
    }
    return 0;
}

static void send_order(int sock, const char *path, const struct pd_read_limits *lim)
{
    struct open_order *o = calloc(1, sizeof *o);
    if (!o)
        return; /* shows as the child's fate (it ends) at the first answer awaited */
    o->lim = *lim;
    pd_strlcpy(o->path, path, sizeof o->path);
    /* A failed send shows as the child's fate at the first answer awaited. */
    (void)send(sock, o, sizeof *o, MSG_NOSIGNAL);
    free(o);
}

/* Hands the file to a reader forked ahead: one already opening this very file with the same
 * limits (pd_store_readers_start), else an idle one. True when c now has its child. */
static bool use_spare(struct pd_run_child *c, const char *path)
{
    if (n_spares == 0 || strlen(path) >= sizeof ((struct open_order *)0)->path)
        return false;
    size_t k = n_spares;
    for (size_t i = 0; i < n_spares && k == n_spares; i++)
        if (spares[i].ordered && strcmp(spares[i].path, path) == 0 && spares[i].lim.seconds == c->lim.seconds &&
            spares[i].lim.memory == c->lim.memory)
            k = i;
    for (size_t i = n_spares; i-- > 0 && k == n_spares;)
        if (!spares[i].ordered)
            k = i;
    if (k == n_spares)
        return false;
    struct spare sp = spares[k];
    memmove(spares + k, spares + k + 1, (n_spares - k - 1) * sizeof *spares);
    n_spares--;
    if (!sp.ordered)
        send_order(sp.sock, path, &c->lim);
    free(sp.path);
    c->pid = sp.pid;
    c->sock = sp.sock;
    close(c->memfd); /* the one made for an on-demand child, not needed */
    c->memfd = sp.memfd;
    c->no_view = sp.no_view;
    return true;
}

void pd_store_readers_release(void)
{
    reap_pending();
    for (size_t i = 0; i < n_spares;) {
        if (!spares[i].ordered) {
            i++;
            continue;
        }
        close(spares[i].sock); /* the reader sees the end and exits */
        close(spares[i].memfd);
        free(spares[i].path);
        if (n_pending < PENDING_MAX)
            pending[n_pending++] = spares[i].pid;
        spares[i] = spares[--n_spares];
    }
}

int pd_store_readers_start(const char *const *paths, size_t n, struct pd_err *err)
{
    size_t first = n_spares;
    int rc = pd_store_readers_prepare(n, err);
    /* Each new reader starts opening its file now; pd_run_open of the same path takes it over. A
     * file that cannot be looked at here leaves its reader idle (pd_run_open reports why). */
    for (size_t i = 0; rc == 0 && i < n && first + i < n_spares; i++) {
        struct spare *sp = &spares[first + i];
        struct stat sb;
        if (!paths[i] || strlen(paths[i]) >= sizeof ((struct open_order *)0)->path || stat(paths[i], &sb) < 0 ||
            pd_read_limits(paths[i], (uint64_t)sb.st_size, &sp->lim, NULL) < 0 || !(sp->path = strdup(paths[i])))
            continue;
        send_order(sp->sock, paths[i], &sp->lim);
        sp->ordered = true;
    }
    return rc;
}

int pd_run_child_open(const char *path, uint64_t file_size, struct pd_run_child **out, void **snapshot,
                      size_t *snapshot_size, struct pd_err *err)
{
    struct pd_run_child *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path))) {
        free(c);
        return pd_err_set(err, PD_ENOMEM, path, "out of memory");
    }
    c->sock = c->memfd = -1;
    reap_pending();
    int rc = pd_read_limits(path, file_size, &c->lim, err);
    int sv[2] = {-1, -1};
    if (rc == 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot start the reader process (socketpair)");
    if (rc == 0 && (c->memfd = memfd_create("polydaq-run-reader", MFD_CLOEXEC | MFD_ALLOW_SEALING)) < 0)
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot start the reader process (memfd)");
    if (rc == 0 && fcntl(c->memfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
        c->no_view = 1; /* then copied with pread, which cannot fault */
    /* The library initialised once here, not in every child (a second run's child inherits it). */
    if (rc == 0 && H5open() < 0)
        rc = pd_err_set(err, PD_EIO, path, "cannot initialise HDF5");
    bool spared = rc == 0 && use_spare(c, path);
    if (spared) {
        close(sv[0]);
        close(sv[1]);
        sv[0] = c->sock;
        sv[1] = -1;
    }
    if (rc == 0 && !spared && (c->pid = fork()) < 0)
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot start the reader process (fork)");
    if (rc == 0 && !spared && c->pid == 0) {
        close(sv[0]);
        int memfd = c->memfd;
        struct pd_read_limits lim = c->lim;
        free(c->path); /* the parent's bookkeeping: not the child's */
        free(c);
        serve(path, sv[1], memfd, &lim);
    }
    if (sv[1] >= 0)
        close(sv[1]);
    c->sock = sv[0];
    struct answer a;
    if (rc == 0)
        rc = await_answer(c, "opening it", &a, err);
    if (rc == 0 && a.rc < 0)
        rc = child_error(&a.err, path, &c->lim, err);
    void *snap = NULL;
    if (rc == 0 && (a.n > ((uint64_t)1 << 32) || !(snap = malloc(a.n ? (size_t)a.n : 1))))
        rc = pd_err_set(err, PD_EDATA, NULL, "damaged run file: %s: the reader process sent a malformed answer",
                        path);
    if (rc == 0)
        rc = take(c, snap, (size_t)a.n, err);
    if (rc < 0) {
        free(snap);
        pd_run_child_close(c);
        return rc;
    }
    *snapshot = snap;
    *snapshot_size = (size_t)a.n;
    *out = c;
    return 0;
}

int pd_run_child_column(struct pd_run_child *c, size_t specimen, size_t instrument, const char *name,
                        enum pd_col_type type, int optional, void *(*room)(void *ctx, size_t bytes), void *ctx,
                        size_t *n, struct pd_err *err)
{
    if (c->dead) {
        if (err)
            *err = c->death;
        return PD_EDATA;
    }
    struct request q = {.op = 0, .type = (uint32_t)type, .optional = (uint32_t)optional,
                        .specimen = specimen, .instrument = instrument};
    if (pd_strlcpy(q.name, name, sizeof q.name) < 0)
        return pd_err_set(err, PD_EINVAL, c->path, "dataset name '%s' too long", name);
    if (send(c->sock, &q, sizeof q, MSG_NOSIGNAL) != (ssize_t)sizeof q) {
        c->dead = 1;
        child_failed(c->pid, FATE_DIED, c->path, "reading it", &c->lim, &c->death);
        if (err)
            *err = c->death;
        return PD_EDATA;
    }
    struct answer a;
    char doing[96];
    snprintf(doing, sizeof doing, "reading %s", name);
    int rc = await_answer(c, doing, &a, err);
    if (rc < 0)
        return rc;
    if (a.rc < 0)
        return child_error(&a.err, c->path, &c->lim, err);
    size_t elem = type_size((uint32_t)type);
    if (a.n > SIZE_MAX / elem)
        return pd_err_set(err, PD_EDATA, NULL, "damaged run file: %s: the reader process sent a malformed answer",
                          c->path);
    void *dst = room(ctx, (size_t)a.n * elem);
    if (!dst)
        return pd_err_set(err, PD_ENOMEM, c->path, "out of memory for %" PRIu64 " samples of %s", a.n, name);
    rc = take(c, dst, (size_t)a.n * elem, err);
    if (rc == 0)
        *n = (size_t)a.n;
    return rc;
}

void pd_run_child_read_ahead(struct pd_run_child *c, size_t specimen, size_t instrument, const char *name,
                             enum pd_col_type type)
{
    struct request q = {.op = 1, .type = (uint32_t)type, .specimen = specimen, .instrument = instrument};
    if (c->dead || pd_strlcpy(q.name, name, sizeof q.name) < 0)
        return;
    /* Never waits: a full socket buffer (or a dead child) only means no read-ahead; the next real
     * request finds out what became of the child. */
    (void)send(c->sock, &q, sizeof q, MSG_NOSIGNAL | MSG_DONTWAIT);
}

void pd_run_child_close(struct pd_run_child *c)
{
    if (!c)
        return;
    if (c->sock >= 0)
        close(c->sock); /* the idle child sees the end and exits */
    if (c->pid > 0 && !c->dead) {
        reap_pending();
        if (n_pending < PENDING_MAX)
            pending[n_pending++] = c->pid;
        else
            while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
                ;
    }
    if (c->view)
        munmap(c->view, c->view_size);
    if (c->memfd >= 0)
        close(c->memfd);
    free(c->path);
    free(c);
}

/* ---- Any other work on a run file in a child ------------------------------------------------*/

int pd_store_in_child(const char *path, uint64_t file_size, int (*work)(void *ctx, struct pd_err *err), void *ctx,
                      struct pd_err *err)
{
    struct pd_read_limits lim;
    int rc = pd_read_limits(path, file_size, &lim, err);
    if (rc < 0)
        return rc;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return pd_err_set_os(err, PD_EIO, errno, path, "cannot start the reader process (socketpair)");
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return pd_err_set_os(err, PD_EIO, errno, path, "cannot start the reader process (fork)");
    }
    if (pid == 0) {
        close(sv[0]);
        limit_child(&lim);
        struct pd_err e = {0};
        int r = work(ctx, &e);
        send_answer(sv[1], r, 0, &e);
        _exit(0);
    }
    close(sv[1]);
    struct pd_run_child c = {.pid = pid, .sock = sv[0], .memfd = -1, .path = (char *)path, .lim = lim};
    struct answer a;
    rc = await_answer(&c, "reading it", &a, err);
    close(sv[0]);
    if (rc < 0)
        return rc;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return a.rc < 0 ? child_error(&a.err, path, &lim, err) : 0;
}
