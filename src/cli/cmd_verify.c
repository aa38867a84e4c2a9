/* cmd_verify.c — `polydaq verify`: signature, audit log chain and raw-file hashes of an issued certificate. */
#include <getopt.h>
#include <stdio.h>

#include "cert/cert.h"
#include "cli/cli.h"

static const char verify_usage[] =
    "usage: polydaq verify CERT.json [--key LAB.pub] [--registry DIR] [--data RUN.h5...]\n"
    "\n"
    "Checks that CERT.json is issued and its Ed25519 signature holds (against LAB.pub when given), that\n"
    "its review/authorization entries match its content and sit in the lab's audit log (audit.log beside\n"
    "it) whose hash chain is intact, and that each raw file given has the SHA-256 the certificate records.\n"
    "With --registry DIR (the lab's certificate folder): the lab keys registered there are trust anchors,\n"
    "the certificate's state there is reported (withdrawn or superseded: FAIL) and both approvals must be\n"
    "signed by keys registered with those roles.\n"
    "Exit status: 0 everything verified, 1 a check failed, 2 unreadable input.\n";

static int verify_main(int argc, char **argv)
{
    static const struct option longopts[] = {{"key", required_argument, NULL, 'k'},
                                             {"data", no_argument, NULL, 'd'},
                                             {"registry", required_argument, NULL, 'g'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *key = NULL, *registry = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "k:dh", longopts, NULL)) != -1) {
        switch (c) {
        case 'k': key = optarg; break;
        case 'g': registry = optarg; break;
        case 'd': break; /* the raw files are the operands after the certificate */
        case 'h': fputs(verify_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("verify", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cli_usage_error("verify", "missing CERT.json");
    static struct pd_verify_report r;
    struct pd_err err;
    pd_err_clear(&err);
    if (pd_cert_verify(argv[optind], key, (const char *const *)argv + optind + 1, (size_t)(argc - optind - 1), &r,
                       &err) < 0)
        return cli_fail_input(&err);
    if (registry && pd_cert_verify_registry(argv[optind], registry, &r, &err) < 0)
        return cli_fail_input(&err);
    for (size_t i = 0; i < r.n_lines; i++)
        printf("%s\n", r.lines[i]);
    if (r.n_omitted > 0)
        printf("... %zu more line(s) not kept\n", r.n_omitted);
    printf("%s: %s\n", argv[optind], r.ok ? "VERIFIED" : "VERIFICATION FAILED");
    return r.ok ? PD_EXIT_OK : PD_EXIT_CHECK_FAILED;
}

const struct cli_command cli_cmd_verify = {
    .name = "verify",
    .synopsis = "verify CERT.json [--key LAB.pub] [--registry DIR] [--data RUN.h5...]",
    .summary = "check a certificate's signature, audit log and raw-file hashes",
    .main = verify_main,
};
