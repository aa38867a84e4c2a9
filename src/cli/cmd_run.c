/* cmd_run.c — `polydaq run` and `polydaq demo`: run a test series (and, for the demo, certify it). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "acq/acq.h"
#include "cert/cert.h"
#include "cli/cli.h"
#include "pd_demo_config.h"

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

static int run_series(struct pd_acq_config *cfg, const char *out_dir, int quiet, struct pd_acq_result *res)
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

static const char run_usage[] =
    "usage: polydaq run CONFIG.yaml [-o DIR] [-q] [-v]\n"
    "\n"
    "Runs the test series described by CONFIG.yaml (see config/demo.yaml): starts the simulators it\n"
    "names, connects to the instruments, tests every specimen and writes DIR/run-<id>.h5.\n"
    "  -o, --output DIR   where the run file goes (default: runs)\n"
    "  -q, --quiet        no progress display\n"
    "  -v, --verbose      log every fault and reconnect\n"
    "Ctrl-C once stops after flushing and closing the file; twice aborts at once.\n";

int cli_run(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *out_dir = "runs";
    int quiet = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out_dir = optarg; break;
        case 'q': quiet = 1; break;
        case 'v': pd_log_set_level(PD_LOG_DEBUG); break;
        case 'h': fputs(run_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("run", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("run", optind >= argc ? "missing CONFIG.yaml" : "exactly one CONFIG.yaml expected");
    struct pd_err err;
    struct pd_acq_config *cfg;
    if (pd_acq_config_load_file(argv[optind], &cfg, &err) < 0)
        return cli_fail_input(&err);
    struct pd_acq_result res;
    int code = run_series(cfg, out_dir, quiet, &res);
    if (res.path[0])
        printf("%s\n", res.path);
    pd_acq_config_free(cfg);
    return code;
}

static const char demo_usage[] =
    "usage: polydaq demo [-o DIR] [-q]\n"
    "\n"
    "Runs the embedded simulated lab (config/demo.yaml: one simulated load frame, five ISO 527\n"
    "tensile specimens), then certifies the run against the embedded spec (config/specs/pp-demo.yaml)\n"
    "and prints where the HDF5 file and the certificate are. Needs polydaq-sim beside polydaq or on PATH.\n"
    "  -o, --output DIR   where files go (default: out/demo)\n";

int cli_demo(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *out_dir = "out/demo";
    int quiet = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out_dir = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': fputs(demo_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("demo", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage_error("demo", "unexpected argument '%s'", argv[optind]);
    struct pd_err err;
    struct pd_acq_config *cfg;
    if (pd_acq_config_load_string("<embedded>/config/demo.yaml", (const char *)pd_demo_yaml, &cfg, &err) < 0)
        return cli_fail_input(&err);
    struct pd_acq_result res;
    int code = run_series(cfg, out_dir, quiet, &res);
    pd_acq_config_free(cfg);
    if (code != PD_EXIT_OK)
        return code;

    /* The spec goes next to the results, so what the certificate was checked against is on file. */
    char spec_path[4200];
    snprintf(spec_path, sizeof spec_path, "%s/pp-demo-spec.yaml", out_dir);
    FILE *f = fopen(spec_path, "w");
    if (!f || fputs((const char *)pd_demo_spec_yaml, f) == EOF || fclose(f) != 0) {
        pd_err_set_os(&err, PD_EIO, errno, spec_path, "cannot write the demo spec");
        return cli_fail(&err);
    }
    struct pd_spec spec;
    if (pd_spec_load(spec_path, &spec, &err) < 0)
        return cli_fail_input(&err);
    struct pd_certify_options copt = {.out_dir = out_dir, .request_id = "DEMO"};
    struct pd_certify_result cres;
    if (pd_certify_run(res.path, &spec, &copt, &cres, &err) < 0)
        return cli_fail(&err);
    printf("HDF5 run file: %s\n", res.path);
    printf("certificate:   %s (%s)\n", cres.json_path, cres.verdict == PD_VERDICT_PASS ? "pass" : "FAIL");
    return cres.verdict == PD_VERDICT_PASS ? PD_EXIT_OK : PD_EXIT_CHECK_FAILED;
}
