/* cli.h — private to src/cli: the subcommands of `polydaq` and their shared helpers. */
#ifndef PD_CLI_H
#define PD_CLI_H

#include "core/core.h"

/* Exit codes of every subcommand. */
enum { PD_EXIT_OK = 0, PD_EXIT_CHECK_FAILED = 1, PD_EXIT_USAGE = 2, PD_EXIT_RUNTIME = 3 };

/* A subcommand. Each src/cli/cmd_<name>.c defines `const struct cli_command cli_cmd_<name>`;
 * CMake generates the table from the file names (pd_cli_commands.h). */
struct cli_command {
    const char *name;     /* as typed: "run" */
    const char *synopsis; /* one line for `polydaq --help`: "run CONFIG.yaml [-o DIR]" */
    const char *summary;  /* what it does, a few words */
    int (*main)(int argc, char **argv); /* argv[0] is the command name; returns the exit status */
};

/* Prints "polydaq: <msg>" on stderr and returns the exit code for the error's class. */
int cli_fail(const struct pd_err *err);
/* Same, for errors in reading the user's input files: always PD_EXIT_USAGE (a missing or
 * unreadable config, spec or run file is bad input, whatever the underlying status). */
int cli_fail_input(const struct pd_err *err);
/* Prints "polydaq <cmd>: <msg>" plus a hint to --help; returns PD_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Runs a test series from a loaded config with progress on stderr and Ctrl-C handling (used by
 * run and demo). Prints the run summary; returns the exit status. */
struct pd_acq_config;
struct pd_acq_result;
int cli_run_series(struct pd_acq_config *cfg, const char *out_dir, int quiet, struct pd_acq_result *res);
struct pd_acq_dims_table;
/* The same with each specimen's dimensions (and invalid marks) from a checked table (may be NULL). */
int cli_run_series_dims(struct pd_acq_config *cfg, const char *out_dir, int quiet, const struct pd_acq_dims_table *dims,
                        struct pd_acq_result *res);
struct pd_acq_station;
/* The same driven over a station's control socket (dims and start from its clients; never reads
 * the terminal). */
int cli_run_series_station(struct pd_acq_config *cfg, const char *out_dir, int quiet, struct pd_acq_station *station,
                           struct pd_acq_result *res);
/* Directory holding the running executable (to find polydaq-sim beside it). */
void cli_exe_dir(char *buf, size_t size);
/* d with `prec` (0–18) decimals exactly as glibc's snprintf("%.*f") writes it (cut to size, NUL
 * ended), returning the full length; -1, buf untouched, where glibc should do it (not finite,
 * |d| >= 2^53, another rounding mode, a decimal point other than "."). The fast path of the
 * numbers cairo prints into PDFs (fixed_format.c). */
int pd_fixed_format(char *buf, size_t size, int prec, double d);

#endif
