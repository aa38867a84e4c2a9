/* cmd_keygen.c — `polydaq keygen`: the lab's Ed25519 signing key pair. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cert/cert.h"
#include "cli/cli.h"

static const char keygen_usage[] =
    "usage: polydaq keygen -o DIR\n"
    "\n"
    "Creates the lab's Ed25519 key pair: DIR/lab.key (secret, mode 0600; keep it off the repository and\n"
    "backed up offline) and DIR/lab.pub (publish it to customers for `polydaq verify --key`).\n"
    "An existing key is never overwritten.\n"
    "  --x509 NAME   also DIR/lab-x509.key (ECDSA P-256, 0600) and DIR/lab.crt, a self-signed X.509\n"
    "                certificate for NAME (CN and O) with which issued PDFs are signed (PAdES); a lab\n"
    "                with a CA-issued certificate puts that and its key there instead\n";

static int keygen_main(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"x509", required_argument, NULL, 'x'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *dir = NULL, *x509_name = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': dir = optarg; break;
        case 'x': x509_name = optarg; break;
        case 'h': fputs(keygen_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("keygen", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (!dir || optind != argc)
        return cli_usage_error("keygen", "usage: keygen -o DIR");
    if (x509_name && (!x509_name[0] || strlen(x509_name) > 64)) /* checked before any key is made */
        return cli_usage_error("keygen", "--x509: the lab's name must be 1 to 64 characters");
    char sk[4200], pk[4200];
    struct pd_err err;
    pd_err_clear(&err);
    if (pd_cert_keygen(dir, sk, sizeof sk, pk, sizeof pk, &err) < 0)
        return err.code == PD_ESTATE ? cli_fail_input(&err) : cli_fail(&err);
    printf("%s\n%s\n", pk, sk);
    char crt[4200];
    if (x509_name && pd_cert_x509_keygen(dir, x509_name, crt, sizeof crt, &err) < 0)
        return err.code == PD_ESTATE || err.code == PD_EINVAL ? cli_fail_input(&err) : cli_fail(&err);
    if (x509_name)
        printf("%s\n", crt);
    return PD_EXIT_OK;
}

const struct cli_command cli_cmd_keygen = {
    .name = "keygen",
    .synopsis = "keygen -o DIR",
    .summary = "create the lab's Ed25519 signing key pair",
    .main = keygen_main,
};
