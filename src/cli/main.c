/* main.c — `polydaq`: global options and dispatch to the subcommands. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "pd_version.h"

static const char usage[] =
    "usage: polydaq [--help] [--version] COMMAND [ARGS]\n"
    "\n"
    "Instrument data acquisition and test certificates for the polymer test laboratory.\n"
    "\n"
    "commands:\n"
    "  run CONFIG.yaml [-o DIR]              run a test series, one HDF5 file per run\n"
    "  certify RUN.h5 --spec SPEC.yaml [-o DIR] [--request ID]\n"
    "                                        compute results, check limits, write a certificate\n"
    "  inspect RUN.h5                        summarise a run file\n"
    "  demo [-o DIR]                         run the embedded simulated lab and certify it\n"
    "\n"
    "Each command has --help. Exit status: 0 success, 1 a check failed (spec not met),\n"
    "2 bad usage or input, 3 the run failed (instrument or file error).\n";

int cli_fail(const struct pd_err *err)
{
    fprintf(stderr, "polydaq: %s\n", err->msg[0] ? err->msg : pd_status_name(err->code));
    switch (err->code) {
    case PD_ECONFIG:
    case PD_EINVAL:
    case PD_EDATA:
    case PD_ERANGE:
        return PD_EXIT_USAGE;
    default:
        return PD_EXIT_RUNTIME;
    }
}

int cli_fail_input(const struct pd_err *err)
{
    cli_fail(err);
    return PD_EXIT_USAGE;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "polydaq %s: %s (see 'polydaq %s --help')\n", cmd, msg, cmd);
    return PD_EXIT_USAGE;
}

void cli_exe_dir(char *buf, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    if (n <= 0) {
        buf[0] = '\0';
        return;
    }
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash)
        *slash = '\0';
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return PD_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return PD_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("polydaq %s\n", PD_VERSION_STRING);
        return PD_EXIT_OK;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } commands[] = {{"run", cli_run}, {"certify", cli_certify}, {"inspect", cli_inspect}, {"demo", cli_demo}};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "polydaq: unknown command '%s' (see 'polydaq --help')\n", cmd);
    return PD_EXIT_USAGE;
}
