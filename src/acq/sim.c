/* sim.c — starting and stopping the simulator processes that stand in for instruments, which never
 * outlive the run that started them. */
#define _GNU_SOURCE /* pipe2 */
#include "acq/acq_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A bare program name is looked up in sim_dir first (the directory of the polydaq binary, so a
 * build tree works without installing), then on PATH by execvp. */
static void resolve_program(const char *program, const char *sim_dir, char *out, size_t size)
{
    if (!strchr(program, '/') && sim_dir && sim_dir[0]) {
        char candidate[4096];
        snprintf(candidate, sizeof candidate, "%s/%s", sim_dir, program);
        if (access(candidate, X_OK) == 0) {
            pd_strlcpy(out, candidate, size);
            return;
        }
    }
    pd_strlcpy(out, program, size);
}

int pd_sim_start(const struct pd_acq_instrument_config *ic, const char *transport, const char *sim_dir,
                 int timeout_ms, struct pd_sim_process *out, struct pd_err *err)
{
    /* Modbus TCP (tcp://) and raw byte streams (tcp-raw://) start the simulator on a socket. Any
     * other transport is a serial port: the simulator makes a new pty instead (the configured
     * device stays untouched; the pty it announces replaces it), speaking Modbus RTU on it for
     * the modbus driver and its line protocol otherwise. */
    const char *mode = "--tcp", *where = NULL;
    if (strncmp(transport, "tcp://", 6) == 0)
        where = transport + 6;
    else if (strncmp(transport, "tcp-raw://", 10) == 0)
        where = transport + 10;
    else if (transport[0]) {
        bool rtu = strncmp(transport, "rtu:", 4) == 0 || strcmp(ic->driver, "modbus") == 0;
        mode = rtu ? "--rtu" : "--pty";
        where = "auto";
    }
    if (!where || !*where)
        return pd_err_set(err, PD_ECONFIG, ic->name,
                          "a simulator needs a tcp://HOST:PORT, tcp-raw://HOST:PORT or serial port transport, not '%s'",
                          transport);
    char program[4096];
    resolve_program(ic->sim_program, sim_dir, program, sizeof program);

    char *argv[PD_ACQ_MAX_SIM_ARGS + 4];
    size_t argc = 0;
    argv[argc++] = program;
    for (size_t i = 0; i < ic->sim_argc; i++)
        argv[argc++] = (char *)ic->sim_args[i];
    argv[argc++] = (char *)mode;
    argv[argc++] = (char *)where;
    argv[argc] = NULL;

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return pd_err_set_os(err, PD_EIO, errno, ic->name, "cannot create a pipe for the simulator");
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return pd_err_set_os(err, PD_EIO, e, ic->name, "cannot start simulator %s", program);
    }
    if (pid == 0) {
        /* The simulator dies with polydaq, however polydaq ends (a second Ctrl-C, SIGKILL, a
         * crash): the kernel sends it SIGKILL when the thread that forked it exits (the run's
         * calling thread, which outlives the run). If polydaq died between fork and prctl, no
         * signal will come: the parent is then no longer `parent`, so give up at once. Its own
         * process group keeps a terminal's Ctrl-C for polydaq alone, which then stops the run
         * cleanly while the instrument still answers, and stops the simulator itself. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(126);
        setpgid(0, 0);
        dup2(fds[1], STDOUT_FILENO);
        execvp(program, argv);
        fprintf(stderr, "polydaq: cannot run simulator %s: %s\n", program, strerror(errno));
        _exit(127);
    }
    close(fds[1]);

    /* Read the announcement line; everything else the simulator prints goes to the pipe we then
     * leave open-but-unread would block it, so the simulator prints only that one line on stdout. */
    char line[256];
    size_t len = 0;
    int64_t deadline = pd_clock_mono_ns() + (int64_t)timeout_ms * 1000000;
    int rc = PD_OK;
    for (;;) {
        int64_t left_ms = (deadline - pd_clock_mono_ns()) / 1000000;
        if (left_ms <= 0) {
            rc = pd_err_set(err, PD_ETIMEOUT, ic->name, "simulator %s did not report its address within %d ms",
                            program, timeout_ms);
            break;
        }
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        int pr = poll(&pfd, 1, (int)left_ms);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        ssize_t got = read(fds[0], line + len, 1);
        if (got <= 0) {
            rc = pd_err_set(err, PD_EIO, ic->name, "simulator %s exited before reporting its address", program);
            break;
        }
        if (line[len] == '\n') {
            line[len] = '\0';
            break;
        }
        if (++len >= sizeof line - 1) {
            rc = pd_err_set(err, PD_EPROTO, ic->name, "simulator %s printed an overlong line", program);
            break;
        }
    }
    close(fds[0]);
    struct pd_sim_process sim = {.pid = pid};
    if (rc == PD_OK) {
        const char *prefix = "listening ";
        if (strncmp(line, prefix, strlen(prefix)) != 0 ||
            pd_strlcpy(sim.address, line + strlen(prefix), sizeof sim.address) < 0) {
            rc = pd_err_set(err, PD_EPROTO, ic->name, "simulator %s: unexpected first line '%s'", program, line);
        }
    }
    if (rc < 0) {
        pd_sim_stop(&sim);
        return rc;
    }
    *out = sim;
    return PD_OK;
}

void pd_sim_stop(struct pd_sim_process *sim)
{
    if (sim->pid <= 0)
        return;
    kill(sim->pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        int status;
        pid_t r = waitpid(sim->pid, &status, WNOHANG);
        if (r == sim->pid || (r < 0 && errno == ECHILD)) {
            sim->pid = 0;
            return;
        }
        pd_clock_sleep_ns(10 * 1000000LL);
    }
    kill(sim->pid, SIGKILL);
    waitpid(sim->pid, NULL, 0);
    sim->pid = 0;
}
