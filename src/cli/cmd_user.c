/* cmd_user.c — `polydaq user add|list|disable`: logins of the lab server in a data folder (the
 * first admin, scripts). Passwords are read from the terminal (twice, not echoed) or from one
 * line of standard input, never from the command line, where other users could see them. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "server/server.h"

static const char user_usage[] =
    "usage: polydaq user add LOGIN --data DIR --name NAME --role ROLE [--member MEMBER] [--email ADDRESS]\n"
    "       polydaq user list --data DIR\n"
    "       polydaq user disable LOGIN --data DIR\n"
    "       polydaq user key LOGIN --data DIR\n"
    "\n"
    "ROLE is member (a member company's contact: --member names the company), technician, reviewer,\n"
    "authorizer or admin. The password is asked on the terminal, or read as one line from standard\n"
    "input (at least 12 characters); it is stored as an Argon2id hash. 'disable' refuses further logins\n"
    "and ends the user's sessions. Passwords are reset by an admin through the API. 'add' prints the\n"
    "new user's id; --email is where a member contact gets e-mail notices (none without). 'list' prints\n"
    "id, login, role, member (- for staff), active/disabled and name,\n"
    "tab-separated, one per line.\n"
    "A reviewer or authorizer gets a personal Ed25519 signing key when added, registered in the\n"
    "certificate registry DIR/certs as that person and role; its secret half is kept in DIR/server.sqlite\n"
    "sealed under the password (Argon2id + XChaCha20-Poly1305) and opened only by their login. 'key'\n"
    "makes a new one for an existing reviewer or authorizer (asks their password; the old key is\n"
    "disabled in the registry, where it still verifies past approvals).\n";

/* One line from `f` without its line end; false when too long or missing. */
static bool read_line(FILE *f, char *buf, size_t size)
{
    if (!fgets(buf, (int)size, f))
        return false;
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    else if (!feof(f))
        return false; /* longer than the buffer */
    if (n > 0 && buf[n - 1] == '\r')
        buf[--n] = '\0';
    return true;
}

static bool ask_password(const char *prompt, char *buf, size_t size)
{
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty)
        return false;
    struct termios old, quiet;
    tcgetattr(fileno(tty), &old);
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
    fputs(prompt, tty);
    fflush(tty);
    bool ok = read_line(tty, buf, size);
    tcsetattr(fileno(tty), TCSAFLUSH, &old);
    fputs("\n", tty);
    fclose(tty);
    return ok;
}

static int read_password(char *buf, size_t size)
{
    if (isatty(STDIN_FILENO)) {
        char again[PD_PASSWORD_MAX + 2];
        if (!ask_password("password: ", buf, size) || !ask_password("again: ", again, sizeof again)) {
            fprintf(stderr, "polydaq user: no password given\n");
            return PD_EXIT_USAGE;
        }
        bool same = strcmp(buf, again) == 0;
        memset(again, 0, sizeof again);
        if (!same) {
            fprintf(stderr, "polydaq user: the passwords differ\n");
            return PD_EXIT_USAGE;
        }
        return 0;
    }
    if (!read_line(stdin, buf, size)) {
        fprintf(stderr, "polydaq user: standard input: expected the password on one line (at most %d bytes)\n",
                PD_PASSWORD_MAX);
        return PD_EXIT_USAGE;
    }
    return 0;
}

static void print_user(const struct pd_user_info *u, void *ctx)
{
    (void)ctx;
    printf("%lld\t%s\t%s\t%s\t%s\t%s\n", (long long)u->id, u->login, pd_role_name(u->role),
           u->member_id ? u->member_name : "-", u->disabled ? "disabled" : "active", u->name);
}

static int user_main(int argc, char **argv)
{
    static const struct option longopts[] = {{"data", required_argument, NULL, 'd'},
                                             {"name", required_argument, NULL, 'n'},
                                             {"role", required_argument, NULL, 'r'},
                                             {"member", required_argument, NULL, 'm'},
                                             {"email", required_argument, NULL, 'e'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(user_usage, stdout);
        return PD_EXIT_OK;
    }
    if (argc < 2)
        return cli_usage_error("user", "say add, list, disable or key");
    const char *verb = argv[1];
    char **rest = argv + 1;
    int nrest = argc - 1;
    const char *dir = NULL, *name = NULL, *role_name = NULL, *member = NULL, *email = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(nrest, rest, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'n': name = optarg; break;
        case 'r': role_name = optarg; break;
        case 'm': member = optarg; break;
        case 'e': email = optarg; break;
        case 'h': fputs(user_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("user", "unknown or incomplete option '%s'", rest[optind - 1]);
        }
    }
    if (!dir)
        return cli_usage_error("user", "--data DIR is required");
    bool add = strcmp(verb, "add") == 0, list = strcmp(verb, "list") == 0, disable = strcmp(verb, "disable") == 0;
    bool key = strcmp(verb, "key") == 0;
    if (!add && !list && !disable && !key)
        return cli_usage_error("user", "unknown action '%s' (add, list, disable, key)", verb);
    if (list ? optind != nrest : optind != nrest - 1)
        return cli_usage_error("user", list ? "user list takes no arguments" : "user %s takes one LOGIN", verb);
    enum pd_role role = PD_ROLE_MEMBER;
    if (add) {
        if (!name || !role_name)
            return cli_usage_error("user", "user add needs --name and --role");
        if (!pd_role_parse(role_name, &role))
            return cli_usage_error("user", "--role must be member, technician, reviewer, authorizer or admin, not "
                                           "'%s'",
                                   role_name);
        if ((role == PD_ROLE_MEMBER) != (member != NULL))
            return cli_usage_error("user", role == PD_ROLE_MEMBER ? "a member contact needs --member COMPANY"
                                                                  : "--member is for role member only");
    }
    struct pd_srvdb *db;
    struct pd_err err;
    pd_err_clear(&err);
    int rc;
    char password[PD_PASSWORD_MAX + 2];
    if ((add || key) && (rc = read_password(password, sizeof password)) != 0)
        return rc;
    if (pd_srvdb_open(dir, &db, &err) < 0) {
        memset(password, 0, sizeof password);
        return cli_fail(&err);
    }
    if (add) {
        int64_t id;
        rc = pd_user_add_with_email(db, rest[optind], name, role, member, email, password, &id, &err);
        if (rc == 0)
            printf("%lld\n", (long long)id);
        if (rc == 0 && (role == PD_ROLE_REVIEWER || role == PD_ROLE_AUTHORIZER)) {
            /* The signing key needs the registry; without one the login works and the key follows
             * with `polydaq user key` once the registry exists. */
            char key_id[17];
            struct pd_err kerr;
            pd_err_clear(&kerr);
            if (pd_user_key_create(db, dir, rest[optind], password, key_id, &kerr) == 0)
                fprintf(stderr, "polydaq user: signing key %s registered in %s/certs as %s\n", key_id, dir, role_name);
            else
                fprintf(stderr, "polydaq user: note: no signing key yet: %s\n", kerr.msg);
        }
        memset(password, 0, sizeof password);
    } else if (key) {
        char key_id[17];
        rc = pd_user_key_create(db, dir, rest[optind], password, key_id, &err);
        memset(password, 0, sizeof password);
        if (rc == 0)
            printf("%s\n", key_id);
    } else if (list) {
        rc = pd_user_list(db, print_user, NULL, &err);
    } else {
        rc = pd_user_disable(db, rest[optind], &err);
    }
    pd_srvdb_close(db);
    if (rc < 0)
        return rc == PD_EDATA || rc == PD_ESTATE ? cli_fail_input(&err) : cli_fail(&err);
    return PD_EXIT_OK;
}

const struct cli_command cli_cmd_user = {
    .name = "user",
    .synopsis = "user add|list|disable|key --data DIR [LOGIN]",
    .summary = "the lab server's logins and roles",
    .main = user_main,
};
