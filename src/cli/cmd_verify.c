/* cmd_verify.c — `polydaq verify`: an issued certificate against the lab's trusted key: exact form,
 * signature, approvals, revocation list, audit log chain and raw-file hashes. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert.h"
#include "cli/cli.h"

static const char verify_usage[] =
    "usage: polydaq verify CERT.json (--key LAB.pub | --keyring KEYRING.txt | --registry DIR)\n"
    "                      [--revocations REVOCATIONS.json] [--data RUN.h5...]\n"
    "\n"
    "Checks that CERT.json is an issued certificate in exactly the form polydaq writes, signed by a lab key\n"
    "the verifier trusts (LAB.pub, or a `lab` key of the lab's published keyring: the key a certificate\n"
    "names is never trusted by itself), that its reviewer and authorizer signed its present content with\n"
    "two different keys (registered with those roles, when the keyring lists persons), that the lab's\n"
    "signed revocation list does not withdraw or supersede it, that its review/authorization entries sit\n"
    "in the lab's audit log (audit.log beside it) whose hash chain is intact, and that each raw file given\n"
    "has the SHA-256 the certificate records. What it prints from the certificate is escaped (control\n"
    "characters, bidi overrides, invalid UTF-8 as \\xNN or \\u{...}).\n"
    "With --registry DIR (the lab's certificate folder, where the lab verifies its own): the lab keys\n"
    "registered there are trust anchors, the certificate's state there is reported (withdrawn or\n"
    "superseded: FAIL), its document must be the one the registry issued and both approvals must be\n"
    "signed by keys registered with those roles and active then.\n"
    "Exit status: 0 everything verified, 1 a check failed (also: no trust anchor given), 2 unreadable input,\n"
    "duplicate keys or a certificate not in polydaq's exact form.\n";

/* A line from the document or about it, escaped so it cannot drive the terminal. */
static void print_safe(const char *text)
{
    char *safe = pd_text_escape_terminal(text, strlen(text));
    puts(safe ? safe : "(out of memory)");
    free(safe);
}

static int fail_input_safe(struct pd_err *err)
{
    char *safe = pd_text_escape_terminal(err->msg, strlen(err->msg));
    if (safe)
        pd_strlcpy(err->msg, safe, sizeof err->msg);
    free(safe);
    return cli_fail_input(err);
}

static int verify_main(int argc, char **argv)
{
    static const struct option longopts[] = {{"key", required_argument, NULL, 'k'},
                                             {"keyring", required_argument, NULL, 'K'},
                                             {"revocations", required_argument, NULL, 'R'},
                                             {"data", no_argument, NULL, 'd'},
                                             {"registry", required_argument, NULL, 'g'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    struct pd_verify_options opt = {0};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "k:dh", longopts, NULL)) != -1) {
        switch (c) {
        case 'k': opt.key_path = optarg; break;
        case 'K': opt.keyring_path = optarg; break;
        case 'R': opt.revocations_path = optarg; break;
        case 'g': opt.registry_dir = optarg; break;
        case 'd': break; /* the raw files are the operands after the certificate */
        case 'h': fputs(verify_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("verify", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cli_usage_error("verify", "missing CERT.json");
    opt.data_paths = (const char *const *)argv + optind + 1;
    opt.n_data = (size_t)(argc - optind - 1);
    static struct pd_verify_report r;
    struct pd_err err;
    pd_err_clear(&err);
    if (pd_cert_verify(argv[optind], &opt, &r, &err) < 0)
        return fail_input_safe(&err);
    for (size_t i = 0; i < r.n_lines; i++)
        print_safe(r.lines[i]);
    if (r.n_omitted > 0)
        printf("... %zu more line(s) not kept\n", r.n_omitted);
    char verdict[4200];
    snprintf(verdict, sizeof verdict, "%s: %s", argv[optind], r.ok ? "VERIFIED" : "VERIFICATION FAILED");
    print_safe(verdict);
    return r.ok ? PD_EXIT_OK : PD_EXIT_CHECK_FAILED;
}

const struct cli_command cli_cmd_verify = {
    .name = "verify",
    .synopsis = "verify CERT.json (--key LAB.pub | --keyring F | --registry DIR) [--revocations F] [--data RUN.h5...]",
    .summary = "check a certificate against the lab's key: signature, approvals, revocations, log, raw files",
    .main = verify_main,
};
