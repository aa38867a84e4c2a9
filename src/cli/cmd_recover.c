/* cmd_recover.c — `polydaq recover`: makes the file of a run whose writer died (kill -9, power
 * cut) readable by any HDF5 program, keeping the original as the raw record. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "store/store.h"

static const char recover_usage[] =
    "usage: polydaq recover RUN.h5 [-o OUT.h5]\n"
    "\n"
    "Copies everything the crashed run's writer had flushed (all samples older than the run's\n"
    "flush interval) into a file that h5py, HDFView or MATLAB open normally. Without -o the\n"
    "recovered file takes the name RUN.h5 and the original is kept as RUN.h5.crashed.\n"
    "A file that was closed cleanly needs nothing and is left alone. A file a live run still\n"
    "writes is refused (the run holds a lock on it until it ends; a killed run's lock is gone).\n"
    "  -o, --output OUT.h5   write the recovered file there and leave RUN.h5 untouched\n";

/* Recovers `path` (into `out`, or in place) once the caller holds the claim on it. */
static int recover_file(const char *path, const char *out)
{
    struct pd_err err;
    struct pd_run *run;
    if (pd_run_open(path, &run, &err) < 0)
        return cli_fail_input(&err);
    int clean = pd_run_closed_cleanly(run);
    const char *recovered = pd_run_attr(run, "recovered");
    int done = recovered && strcmp(recovered, "1") == 0;
    pd_run_close(run);
    if (clean || done) {
        fprintf(stderr, "polydaq recover: %s was %s; nothing to do\n", path,
                clean ? "closed cleanly" : "recovered already");
        printf("%s\n", path);
        return PD_EXIT_OK;
    }
    char tmp[4200], kept[4200];
    if (out) {
        if (pd_store_recover(path, out, &err) < 0)
            return cli_fail(&err);
        printf("%s\n", out);
        return PD_EXIT_OK;
    }
    snprintf(tmp, sizeof tmp, "%s.recovering", path);
    snprintf(kept, sizeof kept, "%s.crashed", path);
    struct stat sb;
    if (stat(kept, &sb) == 0) {
        pd_err_set_os(&err, PD_EIO, EEXIST, kept, "a kept original is already there; move it away first");
        return cli_fail(&err);
    }
    unlink(tmp); /* a leftover of an interrupted recover */
    if (pd_store_recover(path, tmp, &err) < 0)
        return cli_fail(&err);
    if (rename(path, kept) < 0) {
        pd_err_set_os(&err, PD_EIO, errno, path, "cannot keep the original as %s", kept);
        unlink(tmp);
        return cli_fail(&err);
    }
    if (rename(tmp, path) < 0) {
        pd_err_set_os(&err, PD_EIO, errno, tmp, "cannot move the recovered file to %s", path);
        rename(kept, path);
        return cli_fail(&err);
    }
    fprintf(stderr, "polydaq recover: %s recovered; the original is kept as %s\n", path, kept);
    printf("%s\n", path);
    return PD_EXIT_OK;
}

static int recover_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *out = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': fputs(recover_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("recover", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("recover", optind >= argc ? "missing RUN.h5" : "exactly one RUN.h5 expected");
    const char *path = argv[optind];
    struct pd_err err;
    /* Held until the renames are done: the file is no live run's, and stays so meanwhile. */
    int claim;
    if (pd_store_claim(path, &claim, &err) < 0)
        return err.code == PD_EBUSY ? cli_fail(&err) : cli_fail_input(&err);
    int rc = recover_file(path, out);
    pd_store_unclaim(claim);
    return rc;
}

const struct cli_command cli_cmd_recover = {
    .name = "recover",
    .synopsis = "recover RUN.h5 [-o OUT.h5]",
    .summary = "make a crashed run's file readable by any HDF5 program",
    .main = recover_main,
};
