/* cmd_approve.c — `polydaq approve`: a named reviewer, then a named authorizer; the authorizer's step signs and issues. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cert/cert.h"
#include "cli/cli.h"

static const char approve_usage[] =
    "usage: polydaq approve CERT.json --as NAME --role reviewer|authorizer [--key LAB.key]\n"
    "\n"
    "Records NAME as the reviewer of a draft, or as the authorizer of a reviewed certificate, in the\n"
    "certificate and in the lab's audit log (DIR/audit.log). The authorizer's approval signs the\n"
    "certificate with the lab key (--key, required then), issues it and renders the final PDF.\n"
    "Exit status: 0 recorded, 2 bad input or a step out of order.\n";

static int approve_main_body(int argc, char **argv)
{
    static const struct option longopts[] = {{"as", required_argument, NULL, 'a'},
                                             {"role", required_argument, NULL, 'r'},
                                             {"key", required_argument, NULL, 'k'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *name = NULL, *role = NULL, *key = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "a:r:k:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': name = optarg; break;
        case 'r': role = optarg; break;
        case 'k': key = optarg; break;
        case 'h': fputs(approve_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("approve", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("approve", "exactly one CERT.json expected");
    if (!name || !name[0])
        return cli_usage_error("approve", "missing --as NAME");
    enum pd_approval_role r;
    if (role && strcmp(role, "reviewer") == 0)
        r = PD_ROLE_REVIEWER;
    else if (role && strcmp(role, "authorizer") == 0)
        r = PD_ROLE_AUTHORIZER;
    else
        return cli_usage_error("approve", "--role must be reviewer or authorizer");
    if (r == PD_ROLE_AUTHORIZER && !key)
        return cli_usage_error("approve", "the authorizer signs: --key LAB.key is needed");
    char status[32];
    struct pd_err err;
    pd_err_clear(&err);
    if (pd_cert_approve(argv[optind], name, r, key, status, sizeof status, &err) < 0)
        return err.code == PD_ENOMEM ? cli_fail(&err) : cli_fail_input(&err);
    printf("%s: %s\n", argv[optind], status);
    return PD_EXIT_OK;
}

/* PDFs leave cairo/fontconfig caches behind; released here so sanitizer builds exit cleanly. */
static int approve_main(int argc, char **argv)
{
    int code = approve_main_body(argc, argv);
    pd_cert_release_fonts();
    return code;
}

const struct cli_command cli_cmd_approve = {
    .name = "approve",
    .synopsis = "approve CERT.json --as NAME --role reviewer|authorizer [--key LAB.key]",
    .summary = "review / authorize a draft; the authorizer signs and issues it",
    .main = approve_main,
};
