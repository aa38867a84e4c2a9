/* cmd_member.c — `polydaq member add|list`: the member companies (tenants) in a data folder. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "server/server.h"

static const char member_usage[] =
    "usage: polydaq member add --data DIR NAME\n"
    "       polydaq member list --data DIR\n"
    "\n"
    "Member companies of the joint laboratory in DIR/server.sqlite (created when missing); each\n"
    "member's contacts are added with 'polydaq user add --role member --member NAME'. 'add' prints\n"
    "the new member's id; 'list' prints id, name and creation time, tab-separated, one per line.\n";

static void print_member(const struct pd_member_info *m, void *ctx)
{
    (void)ctx;
    printf("%lld\t%s\t%s\n", (long long)m->id, m->name, m->created_at);
}

static int member_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"data", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(member_usage, stdout);
        return PD_EXIT_OK;
    }
    if (argc < 2)
        return cli_usage_error("member", "say add or list");
    /* the verb first, then its options and arguments */
    const char *verb = argv[1];
    char **rest = argv + 1;
    int nrest = argc - 1;
    const char *dir = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(nrest, rest, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'h': fputs(member_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("member", "unknown or incomplete option '%s'", rest[optind - 1]);
        }
    }
    if (!dir)
        return cli_usage_error("member", "--data DIR is required");
    bool add = strcmp(verb, "add") == 0;
    if (!add && strcmp(verb, "list") != 0)
        return cli_usage_error("member", "unknown action '%s' (add, list)", verb);
    if (add ? optind != nrest - 1 : optind != nrest)
        return cli_usage_error("member", add ? "member add takes one NAME" : "member list takes no arguments");
    struct pd_srvdb *db;
    struct pd_err err;
    pd_err_clear(&err);
    if (pd_srvdb_open(dir, &db, &err) < 0)
        return cli_fail(&err);
    int rc;
    if (add) {
        int64_t id;
        rc = pd_member_add(db, rest[optind], &id, &err);
        if (rc == 0)
            printf("%lld\n", (long long)id);
    } else {
        rc = pd_member_list(db, print_member, NULL, &err);
    }
    pd_srvdb_close(db);
    if (rc < 0)
        return rc == PD_EDATA || rc == PD_ESTATE ? cli_fail_input(&err) : cli_fail(&err);
    return PD_EXIT_OK;
}

const struct cli_command cli_cmd_member = {
    .name = "member",
    .synopsis = "member add|list --data DIR [NAME]",
    .summary = "the lab server's member companies",
    .main = member_main,
};
