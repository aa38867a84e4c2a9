/* cmd_run.c — `polydaq run`: a test series from a lab configuration file. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acq/acq.h"
#include "cli/cli.h"

static const char run_usage[] =
    "usage: polydaq run CONFIG.yaml [-o DIR] [--dimensions FILE.csv | --control SOCKET [--control-user NAME]]\n"
    "                   [-q] [-v]\n"
    "\n"
    "Runs the test series described by CONFIG.yaml (see config/demo.yaml): starts the simulators it\n"
    "names, connects to the instruments, tests every specimen and writes DIR/run-<id>.h5.\n"
    "  -o, --output DIR   where the run file goes (default: runs)\n"
    "  --dimensions FILE.csv  each specimen's own dimensions in mm, checked before the run starts:\n"
    "                     header specimen,width,thickness[,gauge_length][,invalid_reason], one row\n"
    "                     per planned specimen (1..n); an empty cell keeps the config's value, a\n"
    "                     reason marks that specimen invalid once tested. Without it, a config with\n"
    "                     'specimen: dimensions: prompt' asks for them on the terminal (README).\n"
    "  --control SOCKET   a station run (docs/STATION.md): serves newline-delimited JSON on the Unix\n"
    "                     socket SOCKET (created 0600, removed at exit); each specimen's dimensions,\n"
    "                     start, stop, abort, return, invalid marks and notes come from its clients,\n"
    "                     every event goes to all of them; the terminal is never read\n"
    "  --control-user NAME  who started the series (the run's operator in the file)\n"
    "  -q, --quiet        no progress display\n"
    "  -v, --verbose      log every fault and reconnect\n"
    "Ctrl-C (or SIGTERM) once stops after flushing and closing the file; twice aborts at once,\n"
    "leaving what was flushed (see 'polydaq recover'). Enter on the terminal, or SIGUSR1, records\n"
    "an operator mark in the current specimen's events. Simulators it started end with it, however\n"
    "it ends.\n"
    "\n"
    "The run's outcome is printed and stored in the file (attributes outcome, outcome_reason).\n"
    "Exit status:\n"
    "  0    completed: every planned specimen was tested\n"
    "  2    bad usage, or a configuration that cannot be loaded or that the drivers refuse, or an\n"
    "       instrument in use by another run (OUT/.instrument-NAME.lock)\n"
    "  3    failed (an instrument failed, delivered no sample for run.no_data_timeout_s, or the\n"
    "       file could not be written) or incomplete (some specimens not tested, e.g. timeouts)\n"
    "  130  interrupted by Ctrl-C (SIGINT) and closed cleanly; 143 for SIGTERM (128 + signal);\n"
    "       a second Ctrl-C also ends it with 130, without closing the file\n";

static int run_main(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {"dimensions", required_argument, NULL, 'd'},
                                             {"control", required_argument, NULL, 'c'},
                                             {"control-user", required_argument, NULL, 'u'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *out_dir = "runs", *dims_path = NULL, *control = NULL, *control_user = NULL;
    int quiet = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out_dir = optarg; break;
        case 'd': dims_path = optarg; break;
        case 'c': control = optarg; break;
        case 'u': control_user = optarg; break;
        case 'q': quiet = 1; break;
        case 'v': pd_log_set_level(PD_LOG_DEBUG); break;
        case 'h': fputs(run_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("run", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("run", optind >= argc ? "missing CONFIG.yaml" : "exactly one CONFIG.yaml expected");
    if (control && dims_path)
        return cli_usage_error("run", "--control takes each specimen's dimensions from the station: no --dimensions");
    if (control_user && !control)
        return cli_usage_error("run", "--control-user goes with --control");
    if (control && !control[0])
        return cli_usage_error("run", "--control needs a socket path");
    if (control_user) {
        size_t n = strlen(control_user);
        bool clean = n > 0 && n < sizeof(((struct pd_acq_config *)0)->operator_name);
        for (size_t i = 0; clean && i < n; i++)
            clean = (unsigned char)control_user[i] >= 0x20 && control_user[i] != 0x7f;
        if (!clean)
            return cli_usage_error("run", "--control-user: 1..127 bytes without control characters");
    }
    struct pd_err err;
    struct pd_acq_config *cfg;
    if (pd_acq_config_load_file(argv[optind], &cfg, &err) < 0)
        return cli_fail_input(&err);
    if (control) {
        if (control_user)
            pd_strlcpy(cfg->operator_name, control_user, sizeof cfg->operator_name);
        struct pd_acq_station *station;
        if (pd_acq_station_open(control, &station, &err) < 0) {
            pd_acq_config_free(cfg);
            return cli_fail_input(&err);
        }
        struct pd_acq_result res;
        int code = cli_run_series_station(cfg, out_dir, quiet, station, &res);
        if (res.path[0])
            printf("%s\n", res.path);
        pd_acq_station_close(station);
        pd_acq_config_free(cfg);
        return code;
    }
    struct pd_acq_dims_table *dims = NULL;
    if (dims_path) { /* every row checked before anything starts */
        dims = malloc(sizeof *dims);
        if (!dims || pd_acq_dims_load_csv(dims_path, dims, &err) < 0 || pd_acq_dims_check(cfg, dims, &err) < 0) {
            if (!dims)
                pd_err_set(&err, PD_ENOMEM, NULL, "out of memory");
            free(dims);
            pd_acq_config_free(cfg);
            return cli_fail_input(&err);
        }
    }
    struct pd_acq_result res;
    int code = cli_run_series_dims(cfg, out_dir, quiet, dims, &res);
    if (res.path[0])
        printf("%s\n", res.path);
    free(dims);
    pd_acq_config_free(cfg);
    return code;
}


const struct cli_command cli_cmd_run = {
    .name = "run",
    .synopsis = "run CONFIG.yaml [-o DIR] [--control SOCKET]",
    .summary = "run a test series, one HDF5 file per run",
    .main = run_main,
};
