/* alarm_hook.c — the `on_alarm` command of a monitoring run: started without a shell (argv from the
 * config) when a channel leaves or re-enters its alarm band, with POLYDAQ_* environment variables
 * saying what happened, and watched without ever blocking the recording: the method thread starts
 * it (posix_spawn, a vfork-style clone) and looks at it on each of its turns (waitpid
 * WNOHANG); its exit status, a failure to start and a kill after the timeout are run events. */
#define _GNU_SOURCE /* posix_spawn_file_actions_addclosefrom_np */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acq/acq_internal.h"

extern char **environ;

int acq_hook_parse(const struct pd_cfg_node *seq, struct acq_hook_cmd *out, struct pd_err *err)
{
    size_t n = pd_cfg_seq_len(seq);
    if (n == 0)
        return pd_cfg_error(err, seq, "on_alarm needs at least the program: [PROGRAM, ARG...]");
    if (n > ACQ_HOOK_MAX_ARGS)
        return pd_cfg_error(err, seq, "on_alarm has %zu arguments: at most %d", n, ACQ_HOOK_MAX_ARGS);
    struct acq_hook_cmd cmd = {.argc = n};
    for (size_t i = 0; i < n; i++) {
        const struct pd_cfg_node *a = pd_cfg_seq_at(seq, i);
        const char *text = pd_cfg_scalar(a);
        if (!text)
            return pd_cfg_error(err, a, "expected a string (one argument), found a %s",
                                pd_cfg_kind(a) == PD_CFG_MAP ? "map" : "list");
        if (i == 0 && !text[0])
            return pd_cfg_error(err, a, "the program of on_alarm is empty");
        if (pd_strlcpy(cmd.argv[i], text, sizeof cmd.argv[i]) < 0)
            return pd_cfg_error(err, a, "argument longer than %zu characters", sizeof cmd.argv[i] - 1);
    }
    *out = cmd;
    return PD_OK;
}

/* The hook's environment: the run's own (without inherited POLYDAQ_ALARM_* values, which would
 * be stale) followed by `vars`. NULL when out of memory; free() the array only. */
static char **hook_environment(char *const *vars, size_t n_vars)
{
    size_t n_env = 0;
    while (environ && environ[n_env])
        n_env++;
    char **env = calloc(n_env + n_vars + 1, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++)
        if (strncmp(environ[i], "POLYDAQ_ALARM_", 14) != 0 && strncmp(environ[i], "POLYDAQ_RUN_ID=", 15) != 0)
            env[k++] = environ[i];
    for (size_t i = 0; i < n_vars; i++)
        env[k++] = vars[i];
    return env;
}

void acq_hook_start(struct run *run, struct acq_hooks *hooks, const struct acq_hook_cmd *cmd,
                    const struct acq_hook_alarm *alarm)
{
    struct acq_hook_proc *slot = NULL;
    for (size_t i = 0; i < ACQ_HOOKS_RUNNING_MAX && !slot; i++)
        if (hooks->running[i].pid <= 0)
            slot = &hooks->running[i];
    char what[200];
    snprintf(what, sizeof what, "on_alarm '%.60s' for %.64s %s", cmd->argv[0], alarm->channel,
             alarm->outside ? "alarm" : "all-clear");
    char text[400];
    if (!slot) { /* hooks that hang are killed after the timeout: this frees up with time */
        snprintf(text, sizeof text, "%s not started: %d earlier ones still running", what, ACQ_HOOKS_RUNNING_MAX);
        pd_log(PD_LOG_WARN, "%s", text);
        acq_run_event(run, 0, "alarm_hook_failed", text);
        return;
    }
    char time_iso[40];
    int64_t t_utc = pd_timebase_utc(&run->tb, alarm->t_mono_ns);
    pd_time_format_iso8601(t_utc, time_iso, sizeof time_iso);
    char v_run[96], v_chan[96], v_inst[96], v_value[64], v_low[64], v_high[64], v_band[96], v_state[48], v_time[64],
        v_time_ns[64];
    snprintf(v_run, sizeof v_run, "POLYDAQ_RUN_ID=%s", run->run_id);
    snprintf(v_chan, sizeof v_chan, "POLYDAQ_ALARM_CHANNEL=%s", alarm->channel);
    snprintf(v_inst, sizeof v_inst, "POLYDAQ_ALARM_INSTRUMENT=%s", alarm->instrument);
    snprintf(v_value, sizeof v_value, "POLYDAQ_ALARM_VALUE=%.9g", alarm->value);
    snprintf(v_low, sizeof v_low, "POLYDAQ_ALARM_LOW=%.9g", alarm->low);
    snprintf(v_high, sizeof v_high, "POLYDAQ_ALARM_HIGH=%.9g", alarm->high);
    snprintf(v_band, sizeof v_band, "POLYDAQ_ALARM_BAND=%.9g..%.9g", alarm->low, alarm->high);
    snprintf(v_state, sizeof v_state, "POLYDAQ_ALARM_STATE=%s", alarm->outside ? "alarm" : "cleared");
    snprintf(v_time, sizeof v_time, "POLYDAQ_ALARM_TIME=%s", time_iso);
    snprintf(v_time_ns, sizeof v_time_ns, "POLYDAQ_ALARM_TIME_NS=%lld", (long long)t_utc);
    char *vars[] = {v_run, v_chan, v_inst, v_value, v_low, v_high, v_band, v_state, v_time, v_time_ns};
    char *argv[ACQ_HOOK_MAX_ARGS + 1];
    for (size_t i = 0; i < cmd->argc; i++)
        argv[i] = (char *)cmd->argv[i];
    argv[cmd->argc] = NULL;

    char **env = hook_environment(vars, sizeof vars / sizeof vars[0]);
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int e = env ? 0 : ENOMEM;
    bool fa_ok = false, attr_ok = false;
    if (!e && (e = posix_spawn_file_actions_init(&fa)) == 0)
        fa_ok = true;
    if (!e && (e = posix_spawnattr_init(&attr)) == 0)
        attr_ok = true;
    /* stdin from /dev/null; stdout and stderr shared with polydaq; no other descriptor (the run
     * file and its lock must not live on in a hook that outlives the run) */
    if (!e)
        e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!e)
        e = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    /* its own process group (a terminal's Ctrl-C is polydaq's to handle), default signal handling
     * and no signal blocked, whatever the method thread had */
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGHUP);
    sigaddset(&defaults, SIGPIPE);
    if (!e)
        e = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (!e)
        e = posix_spawnattr_setpgroup(&attr, 0);
    if (!e)
        e = posix_spawnattr_setsigmask(&attr, &none);
    if (!e)
        e = posix_spawnattr_setsigdefault(&attr, &defaults);
    pid_t pid = -1;
    if (!e)
        e = posix_spawnp(&pid, argv[0], &fa, &attr, argv, env);
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (attr_ok)
        posix_spawnattr_destroy(&attr);
    free(env);
    if (e) {
        snprintf(text, sizeof text, "%s cannot be started: %s", what, strerror(e));
        pd_log(PD_LOG_WARN, "%s", text);
        acq_run_event(run, 0, "alarm_hook_failed", text);
        return;
    }
    slot->pid = pid;
    slot->started_ns = pd_clock_mono_ns();
    slot->deadline_ns = slot->started_ns + hooks->timeout_ns;
    pd_strlcpy(slot->what, what, sizeof slot->what);
}

/* Records how a finished hook ended (status from waitpid). */
static void hook_ended(struct run *run, struct acq_hook_proc *p, int status, bool killed, int64_t now)
{
    char text[400];
    double s = (double)(now - p->started_ns) / 1e9;
    bool ok = !killed && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (killed)
        snprintf(text, sizeof text, "%s did not end within %.3g s: killed", p->what, (double)(p->deadline_ns - p->started_ns) / 1e9);
    else if (WIFEXITED(status))
        snprintf(text, sizeof text, "%s exited with status %d after %.3f s", p->what, WEXITSTATUS(status), s);
    else
        snprintf(text, sizeof text, "%s ended by signal %d after %.3f s", p->what, WTERMSIG(status), s);
    pd_log(ok ? PD_LOG_INFO : PD_LOG_WARN, "%s", text);
    acq_run_event(run, 0, ok ? "alarm_hook" : "alarm_hook_failed", text);
    p->pid = 0;
}

void acq_hooks_reap(struct run *run, struct acq_hooks *hooks)
{
    for (size_t i = 0; i < ACQ_HOOKS_RUNNING_MAX; i++) {
        struct acq_hook_proc *p = &hooks->running[i];
        if (p->pid <= 0)
            continue;
        int status = 0;
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        int64_t now = pd_clock_mono_ns();
        if (r == p->pid) {
            hook_ended(run, p, status, false, now);
        } else if (r < 0 && errno != EINTR) { /* reaped elsewhere: nothing more to learn */
            p->pid = 0;
        } else if (now >= p->deadline_ns) {
            kill(p->pid, SIGKILL);
            if (waitpid(p->pid, &status, 0) == p->pid)
                hook_ended(run, p, status, true, now);
            else
                p->pid = 0;
        }
    }
}

void acq_hooks_finish(struct run *run, struct acq_hooks *hooks, int64_t grace_ns)
{
    int64_t until = pd_clock_mono_ns() + grace_ns;
    for (size_t i = 0; i < ACQ_HOOKS_RUNNING_MAX; i++)
        if (hooks->running[i].pid > 0 && hooks->running[i].deadline_ns > until)
            hooks->running[i].deadline_ns = until; /* the run is ending: wait no longer than the grace */
    for (;;) {
        acq_hooks_reap(run, hooks);
        bool any = false;
        for (size_t i = 0; i < ACQ_HOOKS_RUNNING_MAX; i++)
            any = any || hooks->running[i].pid > 0;
        if (!any)
            return;
        pd_clock_sleep_ns(5 * 1000000LL);
    }
}
