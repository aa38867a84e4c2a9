/* series.c — running a test series from the CLI: signals, progress mode, the closing summary. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "acq/acq.h"
#include "cli/cli.h"

static volatile sig_atomic_t stop_requested;

/* First signal: finish cleanly (flush, close, summary). Second: the default action, at once; the
 * file keeps everything already flushed. */
static void on_signal(int sig)
{
    if (stop_requested) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
    stop_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int cli_run_series(struct pd_acq_config *cfg, const char *out_dir, int quiet, struct pd_acq_result *res)
{
    char exe_dir[4096];
    cli_exe_dir(exe_dir, sizeof exe_dir);
    struct pd_acq_options opt = {
        .out_dir = out_dir,
        .sim_dir = exe_dir,
        .progress = quiet ? PD_ACQ_PROGRESS_NONE : (isatty(STDERR_FILENO) ? PD_ACQ_PROGRESS_LIVE : PD_ACQ_PROGRESS_LINES),
        .stop = &stop_requested,
    };
    install_signals();
    struct pd_err err;
    pd_err_clear(&err);
    int rc = pd_acq_run(cfg, &opt, res, &err);
    if (res->path[0])
        fprintf(stderr, "polydaq: run %s: %zu/%ld specimens tested, %llu samples written, %llu lost, %llu read errors%s\n",
                res->run_id, res->specimens_tested, cfg->specimens, (unsigned long long)res->samples_written,
                (unsigned long long)res->samples_lost, (unsigned long long)res->read_errors,
                res->interrupted ? " (interrupted)" : "");
    if (rc < 0)
        return cli_fail(&err);
    return PD_EXIT_OK;
}

