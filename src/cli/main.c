/* main.c — `polydaq`: global options and dispatch to the subcommands. */
#include <stdarg.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "pd_version.h"

#include "pd_cli_commands.h"

#define N_COMMANDS (sizeof cli_commands / sizeof cli_commands[0])

static void print_usage(FILE *f)
{
    fputs("usage: polydaq [--help] [--version] COMMAND [ARGS]\n"
          "\n"
          "Instrument data acquisition and test certificates for the polymer test laboratory.\n"
          "\n"
          "commands:\n",
          f);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const struct cli_command *c = cli_commands[i];
        if (strlen(c->synopsis) <= 40)
            fprintf(f, "  %-40s  %s\n", c->synopsis, c->summary);
        else /* a long synopsis gets its own line */
            fprintf(f, "  %s\n  %-40s  %s\n", c->synopsis, "", c->summary);
    }
    fputs("\n"
          "Each command has --help. Exit status: 0 success, 1 a check failed (spec not met),\n"
          "2 bad usage or input, 3 the run failed (instrument or file error) or is incomplete,\n"
          "130/143 a run stopped by Ctrl-C/SIGTERM (closed cleanly).\n",
          f);
}

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
        print_usage(stderr);
        return PD_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        print_usage(stdout);
        return PD_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("polydaq %s\n", PD_VERSION_STRING);
        return PD_EXIT_OK;
    }
    /* Every command moves megabytes through HDF5, which allocates and frees a chunk-sized buffer
     * per chunk read or written; with glibc's default thresholds each is an mmap/munmap pair or a
     * heap trim, so a fresh process spends much of its time in page faults (measured: 3x slower
     * `run` with compression, 15-30 % more CPU in `certify`; docs/BENCHMARKS.md). Keep them in the heap. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(cmd, cli_commands[i]->name) == 0)
            return cli_commands[i]->main(argc - 1, argv + 1);
    fprintf(stderr, "polydaq: unknown command '%s' (see 'polydaq --help')\n", cmd);
    return PD_EXIT_USAGE;
}
