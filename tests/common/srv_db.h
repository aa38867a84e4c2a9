/*
 * srv_db.h — the server unit tests' temporary data folder and the databases opened in it: a fresh
 * folder per test program (srv_tmp_setup / srv_tmp_teardown as cmocka group fixtures, or called
 * first and last by a program's own fixtures), a database per test in a sub-folder, and the two
 * queries the tests check with. Header only (static inline): it uses the server's internal API,
 * which each server test links and pd_testutil does not.
 */
#ifndef PD_TEST_SRV_DB_H
#define PD_TEST_SRV_DB_H

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/internal.h"

/* The folder: /tmp/pd-srvtest-XXXXXX once made. The short names (tmp_dir, open_db, count,
 * exec_sql) are the ones the server tests were written with. */
static char tmp_dir[64];

static inline int srv_tmp_setup(void **state)
{
    (void)state;
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/pd-srvtest-XXXXXX");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

/* Removes `path` and, when it is a folder (not a link to one), everything in it. */
static inline int tmp_dir_remove(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) < 0)
        return -1;
    if (!S_ISDIR(sb.st_mode))
        return unlink(path);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char sub[1024];
        if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= (int)sizeof sub)
            rc = -1; /* deeper than any test makes it */
        else
            rc |= tmp_dir_remove(sub);
    }
    closedir(d);
    return rc | rmdir(path);
}

/* Removes the folder and everything in it (no shell: a path is never a command). */
static inline int srv_tmp_teardown(void **state)
{
    (void)state;
    return tmp_dir[0] ? tmp_dir_remove(tmp_dir) : 0;
}

/* A server on a free loopback port over the temporary folder (access log: NULL for none), two
 * threads: its port, 0 when it did not start (then *srv is NULL). */
static inline uint16_t srv_tmp_serve(struct pd_server **srv, FILE *access_log)
{
    struct pd_server_options opt = {.listen_addr = "127.0.0.1", .port = 0, .data_dir = tmp_dir, .threads = 2,
                                    .access_log = access_log};
    *srv = NULL;
    if (pd_server_start(&opt, srv, NULL) < 0)
        return 0;
    return pd_server_port(*srv);
}

/* A database (schema current) in the sub-folder `name` of the temporary folder. */
static inline struct pd_srvdb *open_db(const char *name)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/%s", tmp_dir, name);
    struct pd_srvdb *db = NULL;
    struct pd_err err;
    pd_err_clear(&err);
    assert_int_equal(db_connect(dir, &db, &err), 0);
    return db;
}

/* The first column of the first row of `sql` (a count, a flag). */
static inline int64_t count(struct pd_srvdb *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(db_prepare(db, sql, &st, NULL), 0);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* Runs `sql` as it is, for setting up rows or attacking the schema: SQLite's result code. */
static inline int exec_sql(struct pd_srvdb *db, const char *sql)
{
    return sqlite3_exec(db->h, sql, NULL, NULL, NULL);
}
static inline void exec_ok(struct pd_srvdb *db, const char *sql)
{
    assert_int_equal(exec_sql(db, sql), SQLITE_OK);
}

#endif /* PD_TEST_SRV_DB_H */
