/* proc_time.c — a program timed as a whole process, for the benchmarks (see proc_time.h). */
#include "proc_time.h"

#include <fcntl.h>
#include <spawn.h>
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
    double t0 = now_s();
    pid_t pid;
    if (rc == 0)
        rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1.0;
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) > max_status)
        return -1.0;
    double wall = now_s() - t0;
    *cpu = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
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
