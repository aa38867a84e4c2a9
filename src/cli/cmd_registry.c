/* cmd_registry.c — `polydaq registry`: set up the lab's certificate registry, its people and stations; export, check,
 * migrate, publish, withdraw. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert.h"
#include "cli/cli.h"
#include "registry/registry.h"
#include "trust/trust.h"

static const char registry_usage[] =
    "usage: polydaq registry init DIR --lab-key LAB.pub [--name NAME] [--url BASE-URL]\n"
    "       polydaq registry set-url BASE-URL [-o DIR]\n"
    "       polydaq registry person add --key PERSON.pub --name NAME --role reviewer|authorizer [-o DIR]\n"
    "       polydaq registry person list [-o DIR]\n"
    "       polydaq registry person disable KEY-ID|NAME [-o DIR]\n"
    "       polydaq registry station add --key STATION.pub --name NAME [-o DIR]\n"
    "       polydaq registry list [-o DIR]\n"
    "       polydaq registry export [CERT-ID] [-o DIR] [--lab-key LAB.key]\n"
    "       polydaq registry withdraw CERT-ID --reason TEXT --key AUTHORIZER.key [-o DIR]\n"
    "       polydaq registry check DIR\n"
    "       polydaq registry migrate DIR\n"
    "       polydaq registry publish --lab-key LAB.key -o OUT [--registry DIR]\n"
    "\n"
    "The registry (DIR/registry.sqlite, DIR the lab's certificate folder; default: the current\n"
    "directory) holds the certificate numbers, each certificate's state and document, the approvals\n"
    "signed by registered persons' keys and the audit log. init records the lab's issuing key (run it\n"
    "again to add another); person/station add register public keys with a role; disable keeps a key's\n"
    "past approvals valid but refuses new ones. export writes CERT-ID's JSON and PDF again from the\n"
    "registry (without CERT-ID: every missing or out-of-date one; --lab-key: an issued one's PDF signed\n"
    "with the lab's X.509 identity beside that key). withdraw marks an issued certificate\n"
    "withdrawn, signed by an authorizer. check runs SQLite's integrity check, the audit chain, the\n"
    "issued documents' hashes and the exports. migrate turns an old folder (counter, audit.log,\n"
    "CERT-*.json) into a registry. publish writes OUT/keyring.txt and OUT/revocations.json (signed by\n"
    "the lab key) for customers. set-url (or init --url) records the lab's public verification base URL\n"
    "(https://lab.example.org): certificates certified from then on carry BASE-URL/v/CERT-ID and their\n"
    "QR code leads there (\"\" removes it).\n"
    "Exit status: 0 done (check: all ok), 1 check found a fault, 2 bad input.\n";

static void print_line(const char *line, void *arg)
{
    (void)arg;
    printf("%s\n", line);
}

/* Options shared by the subcommands: -o DIR, --key, --name, --role, --reason, --lab-key, --registry. */
struct reg_opts {
    const char *dir, *key, *name, *role, *reason, *lab_key, *registry, *url;
    int first; /* index of the first operand */
};

static int parse(int argc, char **argv, const char *cmd, struct reg_opts *o)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"key", required_argument, NULL, 'k'},
                                             {"name", required_argument, NULL, 'n'},
                                             {"role", required_argument, NULL, 'r'},
                                             {"reason", required_argument, NULL, 'R'},
                                             {"lab-key", required_argument, NULL, 'L'},
                                             {"registry", required_argument, NULL, 'g'},
                                             {"url", required_argument, NULL, 'U'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->dir = ".";
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:k:n:r:R:L:g:U:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': o->dir = optarg; break;
        case 'k': o->key = optarg; break;
        case 'n': o->name = optarg; break;
        case 'r': o->role = optarg; break;
        case 'R': o->reason = optarg; break;
        case 'L': o->lab_key = optarg; break;
        case 'g': o->registry = optarg; break;
        case 'U': o->url = optarg; break;
        case 'h': fputs(registry_usage, stdout); return 1;
        default: return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    o->first = optind;
    return 0;
}

/* Options and operands in any order (getopt permutes the operands to the end). */
static int parse_all(int argc, char **argv, const char *cmd, struct reg_opts *o, const char **ops, int max_ops,
                     int *n_ops)
{
    int rc = parse(argc, argv, cmd, o);
    if (rc != 0)
        return rc;
    *n_ops = 0;
    for (int i = o->first; i < argc; i++) {
        if (*n_ops >= max_ops)
            return cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
        ops[(*n_ops)++] = argv[i];
    }
    return 0;
}

static int load_pub(const char *path, struct pd_public_key *k, const char *cmd)
{
    if (!path)
        return cli_usage_error(cmd, "missing --key FILE.pub");
    struct pd_err err = {0};
    if (pd_public_key_load(path, k, &err) < 0)
        return cli_fail_input(&err);
    return 0;
}

static int add_key(struct reg_opts *o, enum pd_key_role role, bool create, const char *cmd)
{
    struct pd_public_key k;
    int rc = load_pub(role == PD_KEY_ROLE_LAB ? o->lab_key : o->key, &k, cmd);
    if (rc != 0)
        return rc;
    struct pd_err err = {0};
    struct pd_registry reg;
    if (create && pd_mkdir_p(o->dir, &err) < 0)
        return cli_fail(&err);
    if (pd_registry_open(&reg, o->dir, create ? PD_REGISTRY_CREATE : 0, &err) < 0)
        return cli_fail_input(&err);
    struct pd_registry_key out;
    rc = pd_registry_key_add(&reg, role, o->name, &k, &out, &err);
    pd_registry_close(&reg);
    if (rc == PD_ESTATE && role == PD_KEY_ROLE_LAB && create && strstr(err.msg, "(lab,")) {
        printf("%s: lab key %s already registered\n", o->dir, k.id);
        return PD_EXIT_OK;
    }
    if (rc < 0)
        return rc == PD_ENOMEM || rc == PD_EIO ? cli_fail(&err) : cli_fail_input(&err);
    printf("%s: registered %s key %s '%s'\n", o->dir, pd_key_role_name(out.role), out.key.id, out.name);
    return PD_EXIT_OK;
}

static int list_keys(struct reg_opts *o, int role)
{
    struct pd_err err = {0};
    struct pd_registry reg;
    if (pd_registry_open(&reg, o->dir, 0, &err) < 0)
        return cli_fail_input(&err);
    struct pd_registry_key *keys = NULL;
    size_t n = 0;
    int rc = pd_registry_keys(&reg, role, &keys, &n, &err);
    pd_registry_close(&reg);
    if (rc < 0)
        return cli_fail(&err);
    for (size_t i = 0; i < n; i++)
        if (role >= 0 || keys[i].role == PD_KEY_ROLE_REVIEWER || keys[i].role == PD_KEY_ROLE_AUTHORIZER)
            printf("%s  %-10s %-30s registered %s%s%s\n", keys[i].key.id, pd_key_role_name(keys[i].role), keys[i].name,
                   keys[i].registered, keys[i].disabled[0] ? ", disabled " : "", keys[i].disabled);
    free(keys);
    return PD_EXIT_OK;
}

static int list_certs(struct reg_opts *o)
{
    struct pd_err err = {0};
    struct pd_registry reg;
    if (pd_registry_open(&reg, o->dir, 0, &err) < 0)
        return cli_fail_input(&err);
    char(*ids)[32] = NULL;
    size_t n = 0;
    int rc = pd_registry_cert_ids(&reg, &ids, &n, &err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct pd_registry_cert c;
        if ((rc = pd_registry_cert_get(&reg, ids[i], &c, &err)) < 0)
            break;
        printf("%s  %-10s drafted %s%s%s%s%s\n", c.id, c.status, c.drafted, c.replaces[0] ? "  replaces " : "",
               c.replaces, c.superseded_by[0] ? "  superseded by " : "", c.superseded_by);
        pd_registry_cert_free(&c);
    }
    free(ids);
    pd_registry_close(&reg);
    return rc < 0 ? cli_fail(&err) : PD_EXIT_OK;
}

/* Records the verification base URL; `create`: the registry is made when missing. */
static int set_url(const char *dir, const char *url, bool create)
{
    struct pd_err err = {0};
    struct pd_registry reg;
    if (url[0] && pd_registry_verify_url_check(url, &err) < 0)
        return cli_fail_input(&err);
    if (pd_registry_open(&reg, dir, create ? PD_REGISTRY_CREATE : 0, &err) < 0)
        return cli_fail_input(&err);
    int rc = pd_registry_set_verify_url(&reg, url, &err);
    char now[PD_VERIFY_URL_MAX + 1] = "";
    if (rc == 0)
        rc = pd_registry_verify_url(&reg, now, sizeof now, &err);
    pd_registry_close(&reg);
    if (rc < 0)
        return rc == PD_EIO ? cli_fail(&err) : cli_fail_input(&err);
    if (now[0])
        printf("%s: certificates' QR codes lead to %s/v/CERT-…\n", dir, now);
    else
        printf("%s: no verification URL (QR codes carry the number and hash only)\n", dir);
    return PD_EXIT_OK;
}

static int registry_main_body(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        if (argc < 2)
            return cli_usage_error("registry", "missing subcommand");
        fputs(registry_usage, stdout);
        return PD_EXIT_OK;
    }
    const char *sub = argv[1];
    const char *ops[3] = {NULL, NULL, NULL};
    int n_ops = 0;
    struct reg_opts o;
    int rc = parse_all(argc - 1, argv + 1, "registry", &o, ops, 3, &n_ops);
    if (rc == 1)
        return PD_EXIT_OK;
    if (rc != 0)
        return rc;
    struct pd_err err = {0};
    if (strcmp(sub, "init") == 0) {
        if (n_ops != 1)
            return cli_usage_error("registry", "usage: registry init DIR --lab-key LAB.pub");
        if (!o.lab_key)
            return cli_usage_error("registry", "init records the lab's issuing key: --lab-key LAB.pub");
        o.dir = ops[0];
        if (!o.name)
            o.name = "lab";
        if (pd_cert_folder_unmigrated(o.dir)) {
            pd_err_set(&err, PD_ESTATE, o.dir,
                       "holds certificates from before the registry: `polydaq registry migrate %s` "
                       "first",
                       o.dir);
            return cli_fail_input(&err);
        }
        if (o.url && pd_registry_verify_url_check(o.url, &err) < 0) /* before anything is written */
            return cli_fail_input(&err);
        rc = add_key(&o, PD_KEY_ROLE_LAB, true, "registry");
        return rc == PD_EXIT_OK && o.url ? set_url(o.dir, o.url, false) : rc;
    }
    if (strcmp(sub, "set-url") == 0 && n_ops == 1)
        return set_url(o.dir, ops[0], false);
    if (strcmp(sub, "person") == 0 || strcmp(sub, "station") == 0) {
        const char *verb = n_ops >= 1 ? ops[0] : "";
        bool person = strcmp(sub, "person") == 0;
        if (strcmp(verb, "add") == 0 && n_ops == 1) {
            if (!o.name)
                return cli_usage_error("registry", "missing --name NAME");
            int role = person ? (o.role ? pd_key_role_parse(o.role, strlen(o.role)) : -1) : PD_KEY_ROLE_STATION;
            if (person && role != PD_KEY_ROLE_REVIEWER && role != PD_KEY_ROLE_AUTHORIZER)
                return cli_usage_error("registry", "--role must be reviewer or authorizer");
            return add_key(&o, (enum pd_key_role)role, false, "registry");
        }
        if (strcmp(verb, "list") == 0 && n_ops == 1)
            return list_keys(&o, person ? -2 : PD_KEY_ROLE_STATION);
        if (strcmp(verb, "disable") == 0 && n_ops == 2) {
            struct pd_registry reg;
            if (pd_registry_open(&reg, o.dir, 0, &err) < 0)
                return cli_fail_input(&err);
            struct pd_registry_key k;
            rc = pd_registry_key_disable(&reg, ops[1], &k, &err);
            pd_registry_close(&reg);
            if (rc < 0)
                return cli_fail_input(&err);
            printf("%s: disabled %s key %s '%s' on %s\n", o.dir, pd_key_role_name(k.role), k.key.id, k.name,
                   k.disabled);
            return PD_EXIT_OK;
        }
        return cli_usage_error("registry", "usage: registry %s add|list|disable ...", sub);
    }
    if (strcmp(sub, "list") == 0 && n_ops == 0)
        return list_certs(&o);
    if (strcmp(sub, "export") == 0 && n_ops <= 1) {
        if (pd_cert_export(o.dir, n_ops ? ops[0] : NULL, o.lab_key, print_line, NULL, &err) < 0)
            return err.code == PD_ENOMEM || err.code == PD_EIO ? cli_fail(&err) : cli_fail_input(&err);
        return PD_EXIT_OK;
    }
    if (strcmp(sub, "withdraw") == 0 && n_ops == 1) {
        if (!o.reason || !o.reason[0])
            return cli_usage_error("registry", "withdraw needs --reason TEXT");
        if (!o.key)
            return cli_usage_error("registry", "withdraw is signed by an authorizer: --key AUTHORIZER.key");
        if (pd_cert_withdraw(o.dir, ops[0], o.key, o.reason, &err) < 0)
            return err.code == PD_ENOMEM || err.code == PD_EIO ? cli_fail(&err) : cli_fail_input(&err);
        printf("%s: withdrawn\n", ops[0]);
        return PD_EXIT_OK;
    }
    if (strcmp(sub, "check") == 0 && n_ops == 1) {
        bool ok = false;
        if (pd_cert_registry_check(ops[0], print_line, NULL, &ok, &err) < 0)
            return cli_fail_input(&err);
        printf("%s: %s\n", ops[0], ok ? "registry OK" : "REGISTRY CHECK FAILED");
        return ok ? PD_EXIT_OK : PD_EXIT_CHECK_FAILED;
    }
    if (strcmp(sub, "migrate") == 0 && n_ops == 1) {
        if (pd_cert_registry_migrate(ops[0], print_line, NULL, &err) < 0)
            return err.code == PD_ENOMEM ? cli_fail(&err) : cli_fail_input(&err);
        return PD_EXIT_OK;
    }
    if (strcmp(sub, "publish") == 0 && n_ops == 0) {
        if (!o.lab_key)
            return cli_usage_error("registry", "publish signs the revocation list: --lab-key LAB.key");
        if (strcmp(o.dir, ".") == 0)
            return cli_usage_error("registry", "publish needs -o OUT");
        struct pd_registry reg;
        if (pd_registry_open(&reg, o.registry ? o.registry : ".", 0, &err) < 0)
            return cli_fail_input(&err);
        rc = pd_registry_publish(&reg, o.dir, o.lab_key, &err);
        pd_registry_close(&reg);
        if (rc < 0)
            return rc == PD_ENOMEM || rc == PD_EIO ? cli_fail(&err) : cli_fail_input(&err);
        printf("%s/keyring.txt\n%s/revocations.json\n", o.dir, o.dir);
        return PD_EXIT_OK;
    }
    return cli_usage_error("registry", "unknown subcommand or wrong arguments: registry %s", sub);
}

static int registry_main(int argc, char **argv)
{
    int code = registry_main_body(argc, argv);
    pd_cert_release_fonts();
    return code;
}

const struct cli_command cli_cmd_registry = {
    .name = "registry",
    .synopsis = "registry init|person|station|list|export|withdraw|check|migrate|publish|set-url ...",
    .summary = "the lab's certificate registry: keys of the lab, people and stations; states; checks",
    .main = registry_main,
};
