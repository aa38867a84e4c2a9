/* proc_time.c — a program timed as a whole process, for the benchmarks (see proc_time.h). */
#include "proc_time.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"

extern char **environ;

static double now_s(void)
{
    return (double)pd_clock_mono_ns() * 1e-9;
}

double pd_bench_proc_time(char *const argv[], const char *out_path, const char *err_path, int max_status,
                          double *cpu)
{
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return -1.0;
    int rc = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (rc == 0 && err_path)
        rc = posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    /* The process's own group, and this one its subreaper: a helper process it leaves to end
     * after it (polydaq's reader child, reaped in the background) comes to us, and its CPU time is
     * counted too — it is work the command caused, though not on its wall clock. */
    posix_spawnattr_t attr;
    bool have_attr = rc == 0 && posix_spawnattr_init(&attr) == 0;
    if (rc == 0 && !have_attr)
        rc = -1;
    if (rc == 0)
        rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    if (rc == 0)
        rc = posix_spawnattr_setpgroup(&attr, 0);
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
    double t0 = now_s();
    pid_t pid;
    if (rc == 0)
        rc = posix_spawn(&pid, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (have_attr)
        posix_spawnattr_destroy(&attr);
    if (rc != 0)
        return -1.0;
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0)
        return -1.0;
    double wall = now_s() - t0;
    double sum = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
                 1e-6 * (double)ru.ru_stime.tv_usec;
    struct rusage left;
    int ignored;
    for (;;) { /* the group's processes that outlived it (their group id is its pid) */
        pid_t w = wait4(-pid, &ignored, 0, &left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            break;
        sum += (double)left.ru_utime.tv_sec + 1e-6 * (double)left.ru_utime.tv_usec + (double)left.ru_stime.tv_sec +
               1e-6 * (double)left.ru_stime.tv_usec;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) > max_status)
        return -1.0;
    *cpu = sum;
    return wall;
}

double pd_bench_median(double *x, int n)
{
    for (int i = 1; i < n; i++) /* insertion sort: a handful of repetitions */
        for (int j = i; j > 0 && x[j] < x[j - 1]; j--) {
            double tmp = x[j];
            x[j] = x[j - 1];
            x[j - 1] = tmp;
        }
    return x[n / 2];
}
