/* series.c — running a test series from the CLI: signals, operator marks, progress mode, the
 * closing summary. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "acq/acq.h"
#include "cli/cli.h"

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t marks_requested;

/* First signal: finish cleanly (flush, close, summary), remembering which signal it was for the
 * run's outcome and the exit status. Second: the default action, at once; the file keeps
 * everything already flushed (readable as a SWMR reader, or after `polydaq recover`), and the
 * kernel kills the simulators (sim.c). */
static void on_signal(int sig)
{
    if (stop_requested) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
    stop_requested = sig;
}

/* SIGUSR1: an operator mark ("mark" event in the current specimen). */
static void on_mark(int sig)
{
    (void)sig;
    marks_requested++;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_mark;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* On a terminal, each Enter is an operator mark. The thread is left blocked in read at exit. */
static void *mark_reader(void *arg)
{
    (void)arg;
    char buf[256];
    ssize_t n;
    while ((n = read(STDIN_FILENO, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] == '\n')
                marks_requested++;
    return NULL;
}

int cli_run_series(struct pd_acq_config *cfg, const char *out_dir, int quiet, struct pd_acq_result *res)
{
    return cli_run_series_dims(cfg, out_dir, quiet, NULL, res);
}

static int run_series(struct pd_acq_config *cfg, const char *out_dir, int quiet, const struct pd_acq_dims_table *dims,
                      struct pd_acq_station *station, struct pd_acq_result *res);

int cli_run_series_dims(struct pd_acq_config *cfg, const char *out_dir, int quiet, const struct pd_acq_dims_table *dims,
                        struct pd_acq_result *res)
{
    return run_series(cfg, out_dir, quiet, dims, NULL, res);
}

int cli_run_series_station(struct pd_acq_config *cfg, const char *out_dir, int quiet, struct pd_acq_station *station,
                           struct pd_acq_result *res)
{
    return run_series(cfg, out_dir, quiet, NULL, station, res);
}

static int run_series(struct pd_acq_config *cfg, const char *out_dir, int quiet, const struct pd_acq_dims_table *dims,
                      struct pd_acq_station *station, struct pd_acq_result *res)
{
    memset(res, 0, sizeof *res);
    /* Per-specimen dimensions: a checked table, or the terminal when the config asks for it (then
     * stdin belongs to the questions, and marks are SIGUSR1 only). */
    enum pd_acq_dims_mode dims_mode = station ? PD_ACQ_DIMS_STATION
                                      : dims  ? PD_ACQ_DIMS_TABLE
                                              : pd_acq_config_dims_mode(cfg);
    struct pd_err dims_err;
    if (pd_acq_config_check_dims(cfg, &dims_err) < 0)
        return cli_fail_input(&dims_err);
    if (dims_mode == PD_ACQ_DIMS_PROMPT && !isatty(STDIN_FILENO))
        return cli_usage_error("run", "%s asks for each specimen's dimensions on the terminal (specimen: dimensions: "
                               "prompt), but stdin is not a terminal: give them with --dimensions FILE.csv",
                               pd_cfg_source_name(cfg->doc));
    char exe_dir[4096];
    cli_exe_dir(exe_dir, sizeof exe_dir);
    struct pd_acq_options opt = {
        .out_dir = out_dir,
        .sim_dir = exe_dir,
        .progress = quiet ? PD_ACQ_PROGRESS_NONE : (isatty(STDERR_FILENO) ? PD_ACQ_PROGRESS_LIVE : PD_ACQ_PROGRESS_LINES),
        .stop = &stop_requested,
        .marks = &marks_requested,
        .dims_mode = dims_mode,
        .dims = dims,
        .prompt_fd = STDIN_FILENO,
        .control = station ? pd_acq_station_control(station) : NULL,
        .station = station,
    };
    install_signals();
    if (station) {
        signal(SIGHUP, SIG_IGN); /* a station run outlives the terminal or server that started it */
    } else if (isatty(STDIN_FILENO) && dims_mode != PD_ACQ_DIMS_PROMPT) {
        pthread_t t;
        if (pthread_create(&t, NULL, mark_reader, NULL) == 0) {
            pthread_detach(t);
            if (!quiet)
                fputs("polydaq: press Enter to mark a moment in the record, Ctrl-C to stop\n", stderr);
        }
    } else if (dims_mode == PD_ACQ_DIMS_PROMPT && !quiet) {
        fputs("polydaq: each specimen's dimensions are asked before it starts (Enter keeps the value shown), "
              "Ctrl-C or end of input (Ctrl-D) stops the series\n", stderr);
    }
    struct pd_err err;
    pd_err_clear(&err);
    int rc = pd_acq_run(cfg, &opt, res, &err);
    if (res->path[0])
        fprintf(stderr,
                "polydaq: run %s: %zu/%ld specimens tested, %llu samples acquired, %llu written, %llu lost (recorded), "
                "%llu read errors, %llu missed deadlines%s\n",
                res->run_id, res->specimens_tested, (long)res->specimens_planned, (unsigned long long)res->samples_acquired,
                (unsigned long long)res->samples_written, (unsigned long long)res->samples_lost,
                (unsigned long long)res->read_errors, (unsigned long long)res->missed_deadlines,
                res->interrupted ? " (interrupted)" : "");
    /* The outcome on stderr as in the file, and an exit status that tells it apart (README):
     * completed 0; failed 3 (2 for a configuration the drivers refuse); incomplete 3; stopped by a
     * signal 128 + its number, as a shell reports a process that signal ended. */
    if (rc < 0) {
        int code = cli_fail(&err);
        if (rc == PD_EBUSY && !res->path[0])
            code = PD_EXIT_USAGE; /* an instrument in use by another run: refused before it started */
        if (res->path[0])
            fprintf(stderr, "polydaq: run %s: outcome failed (the reason above is the run file's outcome_reason)\n",
                    res->run_id);
        if (res->files_sealed)
            fprintf(stderr, "polydaq: run %s: sealed by station '%s' (%zu file(s)): %s\n", res->run_id,
                    cfg->station_name, res->files_sealed, res->seal_path);
        return code;
    }
    fprintf(stderr, "polydaq: run %s: outcome %s: %s\n", res->run_id, pd_acq_outcome_name(res->outcome),
            res->outcome_reason);
    if (res->files_sealed) /* docs/CERTIFICATES.md §6 */
        fprintf(stderr, "polydaq: run %s: sealed by station '%s' (%zu file(s)): %s\n", res->run_id, cfg->station_name,
                res->files_sealed, res->seal_path);
    switch (res->outcome) {
    case PD_ACQ_COMPLETED: return PD_EXIT_OK;
    case PD_ACQ_INTERRUPTED:
        return res->stop_signal > 0 && res->stop_signal < 64 ? 128 + res->stop_signal : 128 + SIGINT;
    case PD_ACQ_FAILED:
    case PD_ACQ_INCOMPLETE: break;
    }
    return PD_EXIT_RUNTIME;
}
