/* cmd_certify.c — `polydaq certify`: results, limit checks and the certificate for a run file. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "cert/cert.h"
#include "cli/cli.h"

static const char certify_usage[] =
    "usage: polydaq certify RUN.h5 --spec SPEC.yaml [-o DIR] [--request ID]\n"
    "\n"
    "Evaluates every tested specimen of RUN.h5 by the run's method, computes the series statistics,\n"
    "checks them against SPEC.yaml and writes DIR/CERT-<run id>.json.\n"
    "  -s, --spec SPEC.yaml  the specification (limits) to check against (required)\n"
    "  -o, --output DIR      where the certificate goes (default: the current directory)\n"
    "  -r, --request ID      the customer's request id, recorded in the certificate\n"
    "Exit status: 0 every limit met, 1 some limit not met, 2 bad input.\n";

static int certify_main(int argc, char **argv)
{
    static const struct option longopts[] = {{"spec", required_argument, NULL, 's'},
                                             {"output", required_argument, NULL, 'o'},
                                             {"request", required_argument, NULL, 'r'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *spec_path = NULL, *out_dir = ".", *request = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "s:o:r:h", longopts, NULL)) != -1) {
        switch (c) {
        case 's': spec_path = optarg; break;
        case 'o': out_dir = optarg; break;
        case 'r': request = optarg; break;
        case 'h': fputs(certify_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("certify", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("certify", optind >= argc ? "missing RUN.h5" : "exactly one RUN.h5 expected");
    if (!spec_path)
        return cli_usage_error("certify", "missing --spec SPEC.yaml");
    struct pd_err err;
    if (access(argv[optind], R_OK) != 0) {
        pd_err_set_os(&err, PD_EIO, errno, argv[optind], "cannot read the run file");
        return cli_fail_input(&err);
    }
    struct pd_spec spec;
    if (pd_spec_load(spec_path, &spec, &err) < 0)
        return cli_fail_input(&err);
    if (pd_mkdir_p(out_dir, &err) < 0)
        return cli_fail(&err);
    struct pd_certify_options opt = {.out_dir = out_dir, .request_id = request};
    struct pd_certify_result res;
    if (pd_certify_run(argv[optind], &spec, &opt, &res, &err) < 0)
        return cli_fail(&err);
    printf("%s\n", res.json_path);
    fprintf(stderr, "polydaq: %s: %zu specimens evaluated, %s\n", res.cert_id, res.n_specimens,
            res.verdict == PD_VERDICT_PASS ? "every limit met (pass)" : "some limit not met (FAIL)");
    return res.verdict == PD_VERDICT_PASS ? PD_EXIT_OK : PD_EXIT_CHECK_FAILED;
}

const struct cli_command cli_cmd_certify = {
    .name = "certify",
    .synopsis = "certify RUN.h5 --spec SPEC.yaml [-o DIR]",
    .summary = "compute results, check limits, write a certificate",
    .main = certify_main,
};
