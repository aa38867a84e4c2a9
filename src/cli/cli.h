/* cli.h — private to src/cli: the subcommands of `polydaq` and their shared helpers. */
#ifndef PD_CLI_H
#define PD_CLI_H

#include "core/core.h"

/* Exit codes of every subcommand. */
enum { PD_EXIT_OK = 0, PD_EXIT_CHECK_FAILED = 1, PD_EXIT_USAGE = 2, PD_EXIT_RUNTIME = 3 };

int cli_run(int argc, char **argv);
int cli_certify(int argc, char **argv);
int cli_inspect(int argc, char **argv);
int cli_demo(int argc, char **argv);

/* Prints "polydaq: <msg>" on stderr and returns the exit code for the error's class. */
int cli_fail(const struct pd_err *err);
/* Same, for errors in reading the user's input files: always PD_EXIT_USAGE (a missing or
 * unreadable config, spec or run file is bad input, whatever the underlying status). */
int cli_fail_input(const struct pd_err *err);
/* Prints "polydaq <cmd>: <msg>" plus a hint to --help; returns PD_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Directory holding the running executable (to find polydaq-sim beside it). */
void cli_exe_dir(char *buf, size_t size);

#endif
