/* cmd_approve.c — `polydaq approve`: a registered reviewer, then a registered authorizer, each signing with their own
 * key; the authorizer's step issues with the lab key. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cert/cert.h"
#include "cli/cli.h"

static const char approve_usage[] =
    "usage: polydaq approve CERT-ID -o DIR --key PERSON.key --role reviewer\n"
    "       polydaq approve CERT-ID -o DIR --key PERSON.key --role authorizer --lab-key LAB.key\n"
    "\n"
    "Records an approval of certificate CERT-ID (e.g. CERT-000042; DIR/CERT-ID.json is accepted too) in\n"
    "the registry of DIR, the lab's certificate folder (default: the current directory). The approver is\n"
    "whoever PERSON.key's public half was registered as (`polydaq registry person add`), with that role;\n"
    "they sign the certificate's content hash (the authorizer's signature also covers the reviewer's).\n"
    "Refused: an unregistered, disabled or wrong-role key, the same key for both steps, a certificate\n"
    "whose content changed since it was drafted or reviewed (in the registry or in its JSON file), a\n"
    "step out of order. The authorizer's step signs the certificate with the lab's registered key,\n"
    "issues it and renders the final PDF. Repeating a recorded step writes the files again.\n"
    "Exit status: 0 recorded, 2 bad input or refused.\n";

/* "DIR/CERT-000042.json" → DIR and CERT-000042. */
static void split_path(const char *arg, char *dir, size_t dsize, char *id, size_t isize)
{
    const char *slash = strrchr(arg, '/');
    const char *base = slash ? slash + 1 : arg;
    if (slash)
        snprintf(dir, dsize, "%.*s", (int)(slash - arg), arg);
    snprintf(id, isize, "%s", base);
    char *dot = strrchr(id, '.');
    if (dot && strcmp(dot, ".json") == 0)
        *dot = '\0';
}

static int approve_main_body(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"key", required_argument, NULL, 'k'},
                                             {"role", required_argument, NULL, 'r'},
                                             {"lab-key", required_argument, NULL, 'L'},
                                             {"as", required_argument, NULL, 'a'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *dir = NULL, *role = NULL, *key = NULL, *lab_key = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:k:r:L:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': dir = optarg; break;
        case 'r': role = optarg; break;
        case 'k': key = optarg; break;
        case 'L': lab_key = optarg; break;
        case 'a':
            return cli_usage_error("approve",
                                   "--as NAME is gone: the approver is the registered owner of --key PERSON.key");
        case 'h': fputs(approve_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("approve", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("approve", "exactly one CERT-ID expected");
    struct pd_approval a = {.person_key = key, .lab_key = lab_key};
    if (role && strcmp(role, "reviewer") == 0)
        a.role = PD_ROLE_REVIEWER;
    else if (role && strcmp(role, "authorizer") == 0)
        a.role = PD_ROLE_AUTHORIZER;
    else
        return cli_usage_error("approve", "--role must be reviewer or authorizer");
    if (!key)
        return cli_usage_error("approve", "missing --key PERSON.key (the approver's own key)");
    if (a.role == PD_ROLE_AUTHORIZER && !lab_key)
        return cli_usage_error("approve", "the authorizer issues with the lab's key: --lab-key LAB.key is needed");
    char path_dir[4096] = ".", id[256];
    split_path(argv[optind], path_dir, sizeof path_dir, id, sizeof id);
    a.dir = dir ? dir : path_dir;
    a.cert_id = id;
    char status[32];
    struct pd_err err;
    pd_err_clear(&err);
    if (pd_cert_approve(&a, status, sizeof status, &err) < 0)
        return err.code == PD_ENOMEM ? cli_fail(&err) : cli_fail_input(&err);
    printf("%s/%s.json: %s\n", a.dir, id, status);
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
    .synopsis = "approve CERT-ID -o DIR --key PERSON.key --role reviewer|authorizer [--lab-key LAB.key]",
    .summary = "review / authorize a draft with a registered person's key; the authorizer's step issues it",
    .main = approve_main,
};
