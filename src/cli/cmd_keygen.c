/* cmd_keygen.c — `polydaq keygen`: the lab's Ed25519 signing key pair. */
#include <getopt.h>
#include <stdio.h>

#include "cert/cert.h"
#include "cli/cli.h"

static const char keygen_usage[] =
    "usage: polydaq keygen -o DIR\n"
    "\n"
    "Creates the lab's Ed25519 key pair: DIR/lab.key (secret, mode 0600; keep it off the repository and\n"
    "backed up offline) and DIR/lab.pub (publish it to customers for `polydaq verify --key`).\n"
    "An existing key is never overwritten.\n";

static int keygen_main(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *dir = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': dir = optarg; break;
        case 'h': fputs(keygen_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("keygen", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (!dir || optind != argc)
        return cli_usage_error("keygen", "usage: keygen -o DIR");
    char sk[4200], pk[4200];
    struct pd_err err;
    pd_err_clear(&err);
    if (pd_cert_keygen(dir, sk, sizeof sk, pk, sizeof pk, &err) < 0)
        return err.code == PD_ESTATE ? cli_fail_input(&err) : cli_fail(&err);
    printf("%s\n%s\n", pk, sk);
    return PD_EXIT_OK;
}

const struct cli_command cli_cmd_keygen = {
    .name = "keygen",
    .synopsis = "keygen -o DIR",
    .summary = "create the lab's Ed25519 signing key pair",
    .main = keygen_main,
};
