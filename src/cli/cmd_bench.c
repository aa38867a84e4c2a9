/* cmd_bench.c — `polydaq bench NAME`: runs the benchmark program pd-bench-NAME built from
 * tools/bench/NAME.c (in build/tools/ beside polydaq), passing the remaining arguments on. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char bench_usage[] =
    "usage: polydaq bench NAME [ARGS]\n"
    "\n"
    "Runs a benchmark and prints its figures beside the reference measured in the same run\n"
    "(see docs/BENCHMARKS.md). NAME is one of the programs pd-bench-NAME in the tools/ directory\n"
    "beside polydaq; `polydaq bench --list` lists them.\n";

static void bench_dir(char *buf, size_t size)
{
    char exe[4096];
    cli_exe_dir(exe, sizeof exe);
    snprintf(buf, size, "%s/tools", exe);
}

static int list_benchmarks(void)
{
    char dir[4200];
    bench_dir(dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "polydaq bench: no benchmarks in %s\n", dir);
        return PD_EXIT_RUNTIME;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "pd-bench-", 9) == 0)
            printf("%s\n", e->d_name + 9);
    closedir(d);
    return PD_EXIT_OK;
}

static int bench_main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("bench", "missing benchmark NAME");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(bench_usage, stdout);
        return PD_EXIT_OK;
    }
    if (strcmp(argv[1], "--list") == 0)
        return list_benchmarks();
    if (strchr(argv[1], '/') || argv[1][0] == '-')
        return cli_usage_error("bench", "bad benchmark name '%s'", argv[1]);
    char dir[4200], path[4400];
    bench_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/pd-bench-%s", dir, argv[1]);
    if (access(path, X_OK) != 0)
        return cli_usage_error("bench", "unknown benchmark '%s' (see 'polydaq bench --list')", argv[1]);
    argv[1] = path;
    execv(path, argv + 1);
    fprintf(stderr, "polydaq bench: cannot run %s: %s\n", path, strerror(errno));
    return PD_EXIT_RUNTIME;
}

const struct cli_command cli_cmd_bench = {
    .name = "bench",
    .synopsis = "bench NAME [ARGS]",
    .summary = "run a benchmark (figures beside their reference)",
    .main = bench_main,
};
