/* demo_labdata.c — the demo lab server's accounts (`polydaq demo --lab-data DIR`): one member
 * company with its contact and one person for each lab role, random passwords in a 0600 file;
 * the reviewer's and the authorizer's personal signing keys. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/demo_labdata.h"
#include "server/server.h"

#define DEMO_MEMBER "Demo Polymers GmbH"

/* 20 characters without look-alikes (no 0/O, 1/l/I): ~115 bits, typed without doubt. */
static void random_password(char out[21])
{
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    for (int i = 0; i < 20; i++)
        out[i] = alphabet[randombytes_uniform((uint32_t)(sizeof alphabet - 1))];
    out[20] = '\0';
}

static void user_exists(const struct pd_user_info *u, void *ctx)
{
    (void)u;
    *(int *)ctx += 1;
}

int demo_labdata_accounts(const char *dir, struct pd_err *err)
{
    static const struct {
        const char *login, *name;
        enum pd_role role;
    } people[] = {{"demo-member", "Mia Member", PD_ROLE_MEMBER},
                  {"demo-technician", "Tom Technician", PD_ROLE_TECHNICIAN},
                  {"demo-reviewer", "Rita Reviewer", PD_ROLE_REVIEWER},
                  {"demo-authorizer", "Alan Authorizer", PD_ROLE_AUTHORIZER},
                  {"demo-admin", "Ada Admin", PD_ROLE_ADMIN}};
    if (sodium_init() < 0)
        return pd_err_set(err, PD_EIO, NULL, "libsodium cannot start");
    struct pd_srvdb *db;
    int rc = pd_srvdb_open(dir, &db, err);
    if (rc < 0)
        return rc;
    int users = 0;
    rc = pd_user_list(db, user_exists, &users, err);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, DEMO_PASSWORD_FILE);
    if (rc == 0 && users > 0) { /* made before: kept as they are */
        pd_srvdb_close(db);
        printf("demo accounts: kept (%d users); their passwords are in %s\n", users, path);
        return 0;
    }
    if (rc < 0) {
        pd_srvdb_close(db);
        return rc;
    }
    int64_t member_id;
    rc = pd_member_add(db, DEMO_MEMBER, &member_id, err);
    int fd = rc == 0 ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    if (rc == 0 && fd < 0)
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot write the demo passwords");
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (fd >= 0 && !f) {
        close(fd);
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot write the demo passwords");
    }
    if (f)
        fprintf(f, "# polydaq demo lab server accounts (login password role); demo only\n");
    for (size_t i = 0; rc == 0 && i < sizeof people / sizeof people[0]; i++) {
        char password[21];
        int64_t user_id;
        random_password(password);
        rc = pd_user_add(db, people[i].login, people[i].name, people[i].role,
                         people[i].role == PD_ROLE_MEMBER ? DEMO_MEMBER : NULL, password, &user_id, err);
        /* Reviewer and authorizer get their personal signing keys, registered in DIR/certs and
         * sealed under their passwords, so they sign through their logins (docs/SERVER.md). */
        char key_id[17];
        if (rc == 0 && (people[i].role == PD_ROLE_REVIEWER || people[i].role == PD_ROLE_AUTHORIZER))
            rc = pd_user_key_create(db, dir, people[i].login, password, key_id, err);
        if (rc == 0) {
            fprintf(f, "%s %s %s\n", people[i].login, password, pd_role_name(people[i].role));
            printf("demo account:  %-16s %s  (%s%s%s)\n", people[i].login, password, pd_role_name(people[i].role),
                   people[i].role == PD_ROLE_MEMBER ? " of " : "", people[i].role == PD_ROLE_MEMBER ? DEMO_MEMBER : "");
        }
        sodium_memzero(password, sizeof password);
    }
    if (f && fclose(f) != 0 && rc == 0)
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot write the demo passwords");
    pd_srvdb_close(db);
    if (rc == 0)
        printf("passwords:     %s (mode 0600)\n", path);
    return rc;
}
