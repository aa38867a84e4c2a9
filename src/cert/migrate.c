/* migrate.c — an old certificate folder (counter, audit.log, CERT-*.json) turned into a registry, its audit chain
 * checked first. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cert/cert_internal.h"
#include "registry/registry.h"

static void tell(void (*say)(const char *, void *), void *arg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void tell(void (*say)(const char *, void *), void *arg, const char *fmt, ...)
{
    if (!say)
        return;
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    say(text, arg);
}

/* The old counter file, strictly: digits and one newline, nothing else. 0 when absent. */
static int read_counter(const char *dir, unsigned long *out, struct pd_err *err)
{
    char path[4200], buf[64] = "";
    snprintf(path, sizeof path, "%s/counter", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) {
            *out = 0;
            return 0;
        }
        return pd_err_set_os(err, PD_EIO, errno, path, "cannot read the certificate counter");
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    size_t digits = strspn(buf, "0123456789");
    if (digits == 0 || digits > 9 || (buf[digits] != '\0' && strcmp(buf + digits, "\n") != 0))
        return pd_err_set(err, PD_EDATA, path, "the certificate counter is not a plain number");
    *out = strtoul(buf, NULL, 10);
    return 0;
}

/* Imports audit.log line by line into the open transaction: every line a whole entry that
 * continues the chain, else PD_EDATA naming audit.log:LINE. */
static int import_log(struct pd_registry *reg, const char *dir, size_t *n_out, struct pd_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/audit.log", dir);
    FILE *f = fopen(path, "r");
    *n_out = 0;
    if (!f)
        return errno == ENOENT ? 0 : pd_err_set_os(err, PD_EIO, errno, path, "cannot read the audit log");
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    int rc = 0;
    ssize_t len;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        char where[4300];
        snprintf(where, sizeof where, "%s:%zu", path, lineno);
        json_error_t je;
        json_t *e = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(e)) {
            rc = pd_err_set(err, PD_EDATA, where,
                            "not one whole audit entry (%s): the chain is broken here; "
                            "nothing was migrated",
                            je.text);
        } else {
            struct pd_err e2 = {0};
            if (pd_registry_audit_import(reg, e, &e2) < 0)
                rc = pd_err_set(err, PD_EDATA, where, "%s: nothing was migrated", e2.msg);
            else
                (*n_out)++;
        }
        json_decref(e);
    }
    free(line);
    fclose(f);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The CERT-NNNNNN.json files of the folder, sorted. */
static int list_certs(const char *dir, char ***out, size_t *n, struct pd_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return pd_err_set_os(err, PD_EIO, errno, dir, "cannot list the folder");
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (strncmp(de->d_name, "CERT-", 5) != 0 || l != 16 || strcmp(de->d_name + 11, ".json") != 0 ||
            strspn(de->d_name + 5, "0123456789") != 6)
            continue;
        if (count == cap) {
            size_t nc = cap ? 2 * cap : 16;
            char **nn = realloc(names, nc * sizeof *nn);
            if (!nn) {
                rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
                break;
            }
            names = nn;
            cap = nc;
        }
        if (!(names[count] = strdup(de->d_name))) {
            rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
            break;
        }
        count++;
    }
    closedir(d);
    if (rc == 0 && count > 1)
        qsort(names, count, sizeof *names, by_name);
    *out = names;
    *n = count;
    return rc;
}

static int import_cert(struct pd_registry *reg, const char *dir, const char *name, unsigned long *max_number,
                       struct pd_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return pd_err_set_os(err, PD_EIO, errno, path, "cannot read");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = size >= 0 ? malloc((size_t)size + 1) : NULL;
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(text);
        return pd_err_set(err, PD_EIO, path, "cannot read");
    }
    fclose(f);
    text[size] = '\0';
    json_error_t je;
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    struct pd_registry_cert c;
    memset(&c, 0, sizeof c);
    int rc = 0;
    const char *id = json_string_value(json_object_get(doc, "certificate_id"));
    const char *status = json_string_value(json_object_get(doc, "status"));
    if (!doc)
        rc = pd_err_set(err, PD_EDATA, path, "not JSON: %s at line %d:%d", je.text, je.line, je.column);
    else if (!id || strncmp(name, id, strlen(id)) != 0 || strlen(id) != 11)
        rc = pd_err_set(err, PD_EDATA, path, "its certificate_id does not match the file name");
    else if (!status ||
             (strcmp(status, "draft") != 0 && strcmp(status, "reviewed") != 0 && strcmp(status, "issued") != 0))
        rc = pd_err_set(err, PD_EDATA, path, "unknown status '%s'", status ? status : "(none)");
    char *canon = rc == 0 ? cert_canonical(doc, NULL) : NULL;
    if (rc == 0 && (!canon || cert_content_hash(doc, c.content_sha256) < 0))
        rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    if (rc == 0) {
        cert_sha256_hex(canon, strlen(canon), c.document_sha256);
        c.number = strtol(id + 5, NULL, 10);
        pd_strlcpy(c.id, id, sizeof c.id);
        pd_strlcpy(c.status, status, sizeof c.status);
        c.document = text;
        const char *drafted = json_string_value(json_object_get(doc, "drafted"));
        const char *issued = json_string_value(json_object_get(doc, "issued"));
        pd_strlcpy(c.drafted, drafted ? drafted : "", sizeof c.drafted);
        pd_strlcpy(c.issued, issued && strcmp(status, "issued") == 0 ? issued : "", sizeof c.issued);
        /* a revision's predecessor is linked when it is in the folder (imported before it) */
        const char *replaces = json_string_value(json_object_get(json_object_get(doc, "revision"), "replaces"));
        struct pd_registry_cert old;
        struct pd_err ignored;
        if (replaces && pd_registry_cert_get(reg, replaces, &old, &ignored) == 0) {
            pd_strlcpy(c.replaces, replaces, sizeof c.replaces);
            pd_registry_cert_free(&old);
        }
        rc = pd_registry_cert_insert(reg, &c, err);
        if (rc == 0 && c.replaces[0] && strcmp(status, "issued") == 0) {
            struct pd_err e2 = {0};
            if (pd_registry_cert_retire(reg, c.replaces, c.id,
                                        json_string_value(json_object_get(json_object_get(doc, "revision"), "reason")),
                                        c.issued, &e2) < 0 &&
                e2.code != PD_ESTATE) {
                if (err)
                    *err = e2;
                rc = e2.code;
            }
        }
        if ((unsigned long)c.number > *max_number)
            *max_number = (unsigned long)c.number;
    }
    free(canon);
    free(text);
    json_decref(doc);
    return rc;
}

bool pd_cert_folder_unmigrated(const char *dir)
{
    if (pd_registry_exists(dir))
        return false;
    char path[4200];
    snprintf(path, sizeof path, "%s/counter", dir);
    if (access(path, F_OK) == 0)
        return true;
    snprintf(path, sizeof path, "%s/audit.log", dir);
    if (access(path, F_OK) == 0)
        return true;
    char **names = NULL;
    size_t n = 0;
    struct pd_err ignored;
    bool any = list_certs(dir, &names, &n, &ignored) == 0 && n > 0;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return any;
}

int pd_cert_registry_migrate(const char *dir, void (*say)(const char *line, void *arg), void *arg, struct pd_err *err)
{
    if (!dir)
        return pd_err_set(err, PD_EINVAL, NULL, "migrate: missing folder");
    if (pd_registry_exists(dir))
        return pd_err_set(err, PD_ESTATE, dir, "already has a registry (%s): nothing to migrate", PD_REGISTRY_FILE);
    unsigned long counter = 0, max_number = 0;
    int rc = read_counter(dir, &counter, err);
    char **names = NULL;
    size_t n_names = 0, n_log = 0;
    if (rc == 0)
        rc = list_certs(dir, &names, &n_names, err);
    /* The registry is made in a temporary name and put in place only when all was imported. */
    char tmpdir[4200], from[4300], to[4300];
    snprintf(tmpdir, sizeof tmpdir, "%s/.registry-migrating", dir);
    snprintf(from, sizeof from, "%s/%s", tmpdir, PD_REGISTRY_FILE);
    snprintf(to, sizeof to, "%s/%s", dir, PD_REGISTRY_FILE);
    unlink(from);
    char wal[4400];
    snprintf(wal, sizeof wal, "%s-wal", from);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", from);
    unlink(wal);
    struct pd_registry reg;
    memset(&reg, 0, sizeof reg);
    if (rc == 0)
        rc = pd_mkdir_p(tmpdir, err);
    if (rc == 0)
        rc = pd_registry_open(&reg, tmpdir, PD_REGISTRY_CREATE, err);
    bool open = rc == 0;
    if (rc == 0)
        rc = pd_registry_begin(&reg, err);
    if (rc == 0)
        rc = import_log(&reg, dir, &n_log, err);
    for (size_t i = 0; rc == 0 && i < n_names; i++)
        rc = import_cert(&reg, dir, names[i], &max_number, err);
    if (rc == 0) {
        /* the sequence starts after the old counter: numbers are never reused */
        rc = pd_registry_sequence_raise(&reg, counter > max_number ? counter : max_number, err);
    }
    if (rc == 0)
        rc = pd_registry_commit(&reg, err);
    if (open)
        pd_registry_close(&reg); /* checkpoints the WAL into the file */
    if (rc == 0 && rename(from, to) < 0)
        rc = pd_err_set_os(err, PD_EIO, errno, to, "cannot put the registry in place");
    if (rc < 0)
        unlink(from);
    rmdir(tmpdir);
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    free(names);
    if (rc < 0)
        return rc;
    static const char *const old[] = {"audit.log", "counter"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(from, sizeof from, "%s/%s", dir, old[i]);
        snprintf(to, sizeof to, "%s/%s.migrated", dir, old[i]);
        if (rename(from, to) == 0)
            tell(say, arg, "%s kept as %s (no longer read)", from, to);
    }
    tell(say, arg, "migrated %zu certificate(s) and %zu audit entries into %s/%s", n_names, n_log, dir,
         PD_REGISTRY_FILE);
    return 0;
}
