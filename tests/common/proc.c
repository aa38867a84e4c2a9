/* proc.c — child processes for the integration tests (see proc.h). */
#include "common/proc.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

int64_t pd_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pd_test_read_line(int fd, char *buf, size_t size, int timeout_ms)
{
    size_t n = 0;
    int64_t deadline = pd_test_now_ms() + timeout_ms;
    while (n + 1 < size) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int left = (int)(deadline - pd_test_now_ms());
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            return -1;
        char c;
        if (read(fd, &c, 1) != 1)
            return -1;
        if (c == '\n') {
            buf[n] = '\0';
            return (int)n;
        }
        buf[n++] = c;
    }
    return -1;
}

pid_t pd_test_start_sim(const char *const *args, char *line, size_t size)
{
    int out[2];
    if (pipe(out) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(out[0]);
        close(out[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        char *argv[32];
        int n = 0;
        argv[n++] = (char *)PD_SIM_PATH;
        for (; args[n - 1] && n < 31; n++)
            argv[n] = (char *)args[n - 1];
        argv[n] = NULL;
        execv(PD_SIM_PATH, argv);
        _exit(127);
    }
    close(out[1]);
    int n = pd_test_read_line(out[0], line, size, 10000);
    close(out[0]);
    if (n <= 0) {
        pd_test_stop(&pid);
        return -1;
    }
    return pid;
}

pid_t pd_test_start_sim_tcp(const char *const *args, int *port)
{
    char line[256];
    pid_t pid = pd_test_start_sim(args, line, sizeof line);
    if (pid < 0)
        return -1;
    if (sscanf(line, "listening tcp://127.0.0.1:%d", port) != 1 || *port <= 0) {
        pd_test_stop(&pid);
        return -1;
    }
    return pid;
}

void pd_test_stop(pid_t *pid)
{
    if (*pid <= 0)
        return;
    kill(*pid, SIGTERM);
    int64_t t0 = pd_test_now_ms();
    while (waitpid(*pid, NULL, WNOHANG) == 0) {
        if (pd_test_now_ms() - t0 > 3000) {
            kill(*pid, SIGKILL);
            waitpid(*pid, NULL, 0);
            break;
        }
        usleep(5000);
    }
    *pid = -1;
}

pid_t pd_test_spawn(char *const argv[], const char *out_path, const char *err_path)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (out_path && !freopen(out_path, "w", stdout))
            _exit(127);
        if (err_path && !freopen(err_path, "w", stderr))
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

int pd_test_wait_exit(pid_t pid)
{
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

char *pd_test_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}
