/* cmd_keygen.c — `polydaq keygen`: Ed25519 key pairs for the lab (issuing), a person (reviewer,
 * authorizer) or an acquisition station. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cert/cert.h"
#include "cli/cli.h"
#include "trust/trust.h"

static const char keygen_usage[] =
    "usage: polydaq keygen -o DIR [--person NAME | --station NAME | --x509 NAME]\n"
    "\n"
    "Creates an Ed25519 key pair. Without --person/--station: the lab's issuing key, DIR/lab.key (secret,\n"
    "mode 0600; keep it off the repository and backed up offline) and DIR/lab.pub (publish it, or the\n"
    "lab's keyring, to customers for `polydaq verify`). --person NAME: a reviewer's or authorizer's own key,\n"
    "DIR/<slug>.key/.pub; --station NAME: an acquisition station's key, DIR/station-<slug>.key/.pub (slug:\n"
    "the name lowercased, each run of other characters than a-z and 0-9 one '-': \"R. Viewer\" → r-viewer).\n"
    "An existing key is never overwritten (exit 2).\n"
    "  --x509 NAME   with the lab key: also DIR/lab-x509.key (ECDSA P-256, 0600) and DIR/lab.crt, a\n"
    "                self-signed X.509 certificate for NAME (CN and O) with which issued PDFs are signed\n"
    "                (PAdES); a lab with a CA-issued certificate puts that and its key there instead\n";

/* The file-name stem of a name: lowercase ASCII letters and digits, each run of anything else
 * one '-', none at either end. false when nothing is left or it does not fit. */
static bool slug_of(const char *name, const char *prefix, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "%s", prefix);
    bool dash = false, any = false;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
        if (c[0] < 0x80 && isalnum(c[0])) {
            if (dash && any && n + 1 < size)
                out[n++] = '-';
            if (n + 1 >= size)
                return false;
            out[n++] = (char)tolower(c[0]);
            dash = false;
            any = true;
        } else {
            dash = true;
        }
    }
    out[n] = '\0';
    return any;
}

static int keygen_main(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"person", required_argument, NULL, 'p'},
                                             {"station", required_argument, NULL, 's'},
                                             {"x509", required_argument, NULL, 'x'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *dir = NULL, *person = NULL, *station = NULL, *x509_name = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': dir = optarg; break;
        case 'p': person = optarg; break;
        case 's': station = optarg; break;
        case 'x': x509_name = optarg; break;
        case 'h': fputs(keygen_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("keygen", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (!dir || optind != argc)
        return cli_usage_error("keygen", "usage: keygen -o DIR [--person NAME | --station NAME | --x509 NAME]");
    if (person && station)
        return cli_usage_error("keygen", "a key is either a person's (--person) or a station's (--station)");
    char stem[128] = "lab";
    if ((person || station) && !slug_of(person ? person : station, person ? "" : "station-", stem, sizeof stem))
        return cli_usage_error("keygen", "the %s name '%s' needs at least one letter or digit (and at most %zu)",
                               person ? "person's" : "station's", person ? person : station, sizeof stem - 10);
    if (person && strcmp(stem, "lab") == 0)
        return cli_usage_error("keygen", "a person's key cannot be named 'lab' (the lab's issuing key's file name)");
    if (x509_name && (person || station))
        return cli_usage_error("keygen", "--x509 goes with the lab's key, not a person's or a station's");
    if (x509_name && (!x509_name[0] || strlen(x509_name) > 64)) /* checked before any key is made */
        return cli_usage_error("keygen", "--x509: the lab's name must be 1 to 64 characters");
    char sk[4200], pk[4200];
    struct pd_err err;
    pd_err_clear(&err);
    if (pd_key_generate(dir, stem, sk, sizeof sk, pk, sizeof pk, &err) < 0)
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
    .synopsis = "keygen -o DIR [--person NAME | --station NAME | --x509 NAME]",
    .summary = "create an Ed25519 key pair: the lab's, a reviewer's/authorizer's or a station's",
    .main = keygen_main,
};
