/* server.c — benchmark of the lab server (`polydaq serve`) beside nginx serving a static file of
 * the same size, in the same run, both measured with wrk (issue 12, Performance):
 *
 *   public      the public verification page of a certificate, a random one of the registry's per
 *               request: requests/s of polydaq ÷ nginx's (the same wrk script against both);
 *   list        a member's certificate list, logged in (the session cookie set by the wrk script):
 *               p50/p99 latency at --connections concurrent connections;
 *   soak        both at once (alternating) for --soak seconds, the server's VmRSS sampled every 10 s
 *               from /proc/PID/status: the first minute against the last.
 * Beside each: the measured server's CPU per request (/proc/PID/stat; nginx with its workers).
 * A build without /v/<number> or /api/v1/certificates gets /login and its request list instead
 * (said in the output).
 *
 * The data folder is seeded first (docs/BENCHMARKS.md, "Lab server"): `polydaq demo` makes one real
 * issued certificate (certify, review, authorize with the demo's keys); its folder becomes
 * DATA/certs and the certificate the template of --certs − 1 more, each drafted, reviewed,
 * authorized and signed by the library in one registry transaction (real rows, audit chain and
 * signatures). server.sqlite: --members member companies and the staff by `polydaq member add` and
 * `polydaq user add`, then in one transaction one member user each, one issued test request per
 * certificate, spread over the members, and (schema 3) the certificate's row for its request.
 *
 * usage: pd-bench-server [--seconds S] [--rounds N] [--soak S] [--threads N] [--connections N]
 *                        [--certs N] [--members N] [--data DIR] [--keep] [--polydaq PATH]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cert/cert_internal.h"
#include "core/core.h"
#include "registry/registry.h"
#include "trust/trust.h"

#include "proc_time.h"

extern char **environ;

#define PASSWORD        "bench-password-0001" /* every member user's (one Argon2id hash, copied) */
#define MAX_ROUNDS      32
#define MAX_RSS_SAMPLES 1024
#define RSS_EVERY_S     10

static double seconds = 10, soak_s = 600;
static int rounds = 3, threads = 2, connections = 50, wrk_threads = 2;
static long n_certs = 10000, n_members = 100;
static bool keep = false;
static const char *serve_cli = PD_CLI_PATH; /* the polydaq whose server is measured (--polydaq) */
static char work[1024], data_dir[2048], certs_dir[2200], keys_dir[2200];

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static pid_t server_pid = -1, nginx_pid = -1;

static void stop_child(pid_t *pid)
{
    if (*pid <= 0)
        return;
    kill(*pid, SIGTERM);
    for (int i = 0; i < 150; i++) { /* up to 15 s: the server finishes requests in flight */
        if (waitpid(*pid, NULL, WNOHANG) == *pid) {
            *pid = -1;
            return;
        }
        pd_clock_sleep_ns(100 * 1000 * 1000);
    }
    kill(*pid, SIGKILL);
    waitpid(*pid, NULL, 0);
    *pid = -1;
}

static void cleanup(void)
{
    stop_child(&server_pid);
    stop_child(&nginx_pid);
    if (!keep && work[0]) {
        char *argv[] = {"rm", "-rf", work, NULL};
        pid_t pid;
        if (posix_spawnp(&pid, "rm", NULL, NULL, argv, environ) == 0)
            waitpid(pid, NULL, 0);
    }
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("pd-bench-server: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    cleanup();
    exit(1);
}

static double now_s(void)
{
    return (double)pd_clock_mono_ns() / 1e9;
}

static void load_average(char *buf, size_t size)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double a = 0, b = 0, c = 0;
    if (f && fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3)
        snprintf(buf, size, "%.2f %.2f %.2f", a, b, c);
    else
        pd_strlcpy(buf, "?", size);
    if (f)
        fclose(f);
}

/* Starts argv (searched in PATH when search) with stdout and stderr into files (NULL: /dev/null). */
static pid_t spawn_in(char *const argv[], bool search, const char *in_path, const char *out_path, const char *err_path)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in_path ? in_path : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path ? err_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = search ? posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ)
                    : posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        die("cannot start %s: %s", argv[0], strerror(rc));
    return pid;
}

static pid_t spawn(char *const argv[], bool search, const char *out_path, const char *err_path)
{
    return spawn_in(argv, search, NULL, out_path, err_path);
}

static int wait_exit(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        die("no free loopback port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- A minimal HTTP/1.1 client (one request per connection) for set-up and probes ---------------*/
struct http_answer {
    int status;
    char *raw;        /* the whole answer, NUL-terminated */
    const char *body; /* into raw */
    size_t body_len;
    char cookie[128]; /* pd_session=... from Set-Cookie */
    char content_type[128];
};

static void header_value(const char *raw, const char *end, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    size_t n = strlen(name);
    for (const char *p = strstr(raw, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
            const char *v = p + 3 + n;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t len = e ? (size_t)(e - v) : strlen(v);
            if (len >= size)
                len = size - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return;
        }
    }
}

static int http(uint16_t port, const char *method, const char *path, const char *cookie, const char *json,
                struct http_answer *a)
{
    memset(a, 0, sizeof *a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char req[2048], extra[512] = "";
    if (cookie)
        snprintf(extra, sizeof extra, "Cookie: %s\r\n", cookie);
    if (json)
        snprintf(extra, sizeof extra, "Content-Type: application/json\r\nContent-Length: %zu\r\n", strlen(json));
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n%s\r\n%s", method,
                     path, (unsigned)port, extra, json ? json : "");
    if (n < 0 || (size_t)n >= sizeof req || write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 4096 > cap)
            buf = realloc(buf, cap *= 2);
        if (!buf)
            die("out of memory");
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    const char *end = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.", 7) != 0 || !end) {
        free(buf);
        return -1;
    }
    a->raw = buf;
    a->status = atoi(buf + 9);
    a->body = end + 4;
    a->body_len = len - (size_t)(a->body - buf);
    char set_cookie[256];
    header_value(buf, end, "Set-Cookie", set_cookie, sizeof set_cookie);
    char *semi = strchr(set_cookie, ';');
    if (semi)
        *semi = '\0';
    pd_strlcpy(a->cookie, set_cookie, sizeof a->cookie);
    header_value(buf, end, "Content-Type", a->content_type, sizeof a->content_type);
    return 0;
}

static void wait_listening(uint16_t port, pid_t pid, const char *what, const char *log)
{
    for (int i = 0; i < 300; i++) {
        struct http_answer a;
        if (http(port, "GET", "/", NULL, NULL, &a) == 0) {
            free(a.raw);
            return;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid)
            die("%s exited before listening (see %s)", what, log);
        pd_clock_sleep_ns(50 * 1000 * 1000);
    }
    die("%s does not answer on port %u after 15 s (see %s)", what, (unsigned)port, log);
}

/* ---- Seeding: the registry ------------------------------------------------------------------*/
struct signer {
    struct pd_secret_key key;
    struct pd_registry_key who;
};

static void load_signer(struct pd_registry *reg, const char *file, struct signer *s)
{
    char path[4400];
    struct pd_err err;
    snprintf(path, sizeof path, "%s/%s", keys_dir, file);
    if (pd_secret_key_load(path, &s->key, &err) < 0 || pd_registry_key_find(reg, &s->key.pub, &s->who, &err) < 0)
        die("%s", err.msg);
}

static json_t *approval(const char *role, const struct signer *s, const char *content, const char *time,
                        const char *sig_hex)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "role", role, "name", s->who.name, "key_id", s->key.pub.id,
                     "public_key", s->key.pub.hex, "content_sha256", content, "time", time, "signature", sig_hex);
}

static void append_audit(json_t *doc, json_t *entry)
{
    json_t *audit = json_object_get(doc, "audit");
    if (!audit) {
        audit = json_array();
        json_object_set_new(doc, "audit", audit);
    }
    json_array_append_new(audit, entry);
}

/* One more certificate from the template: drafted (number, draft audit entry, row), reviewed and
 * authorized (the two persons' signatures of the content, their audit entries), signed with the
 * lab's key and issued — the steps of certify and approve, in the caller's transaction. */
static void clone_certificate(struct pd_registry *reg, const json_t *tpl, const char *operator_name,
                              const struct signer *rv, const struct signer *au, const struct signer *lab,
                              const char *canonical_form)
{
    struct pd_err err;
    unsigned long number;
    if (pd_registry_next_number(reg, &number, &err) < 0)
        die("%s", err.msg);
    char id[32], now[40], content[65], msg[512];
    snprintf(id, sizeof id, "CERT-%06lu", number);
    pd_time_format_iso8601(pd_clock_utc_ns(), now, sizeof now);
    json_t *doc = json_deep_copy(tpl);
    json_object_del(doc, "approvals");
    json_object_del(doc, "audit");
    json_object_del(doc, "signature");
    json_object_del(doc, "issued");
    json_object_set_new(doc, "status", json_string("draft"));
    json_object_set_new(doc, "drafted", json_string(now));
    json_object_set_new(doc, "certificate_id", json_string(id));
    if (cert_content_hash(doc, content) < 0)
        die("out of memory");
    json_t *entry = NULL;
    if (pd_registry_audit_append(reg, "draft", id, operator_name, "operator", content, &entry, &err) < 0)
        die("%s", err.msg);
    append_audit(doc, entry);
    struct pd_registry_cert row;
    memset(&row, 0, sizeof row);
    row.number = (long long)number;
    pd_strlcpy(row.id, id, sizeof row.id);
    pd_strlcpy(row.status, "draft", sizeof row.status);
    pd_strlcpy(row.drafted, now, sizeof row.drafted);
    memcpy(row.content_sha256, content, sizeof content);
    row.document = cert_document_text(doc);
    char *canon = cert_canonical(doc, NULL);
    if (!row.document || !canon)
        die("out of memory");
    cert_sha256_hex(canon, strlen(canon), row.document_sha256);
    free(canon);
    if (pd_registry_cert_insert(reg, &row, &err) < 0)
        die("%s", err.msg);
    free(row.document);

    /* review, then authorization of that very review */
    unsigned char sig[PD_KEY_SIGNATURE_BYTES];
    char rv_sig[129], au_sig[129];
    snprintf(msg, sizeof msg, "polydaq-review-v1\n%s\n%s", id, content);
    pd_key_sign(&rv->key, msg, strlen(msg), sig);
    pd_signature_to_hex(sig, rv_sig);
    if (pd_registry_audit_append(reg, "review", id, rv->who.name, "reviewer", content, &entry, &err) < 0)
        die("%s", err.msg);
    json_t *approvals = json_array();
    json_array_append_new(approvals, approval("reviewer", rv, content, now, rv_sig));
    json_object_set_new(doc, "approvals", approvals);
    append_audit(doc, entry);
    snprintf(msg, sizeof msg, "polydaq-authorize-v1\n%s\n%s\n%s", id, content, rv_sig);
    pd_key_sign(&au->key, msg, strlen(msg), sig);
    pd_signature_to_hex(sig, au_sig);
    if (pd_registry_audit_append(reg, "authorize", id, au->who.name, "authorizer", content, &entry, &err) < 0)
        die("%s", err.msg);
    json_array_append_new(approvals, approval("authorizer", au, content, now, au_sig));
    append_audit(doc, entry);
    json_object_set_new(doc, "status", json_string("issued"));
    json_object_set_new(doc, "issued", json_string(now));
    static const char *const no_signature[] = {"signature", NULL};
    canon = cert_canonical(doc, no_signature);
    if (!canon)
        die("out of memory");
    pd_key_sign(&lab->key, canon, strlen(canon), sig);
    free(canon);
    char lab_sig[129];
    pd_signature_to_hex(sig, lab_sig);
    json_object_set_new(doc, "signature",
                        json_pack("{s:s,s:s,s:s,s:s,s:s}", "algorithm", "Ed25519", "public_key", lab->key.pub.hex,
                                  "key_id", lab->key.pub.id, "value", lab_sig, "canonical_form", canonical_form));
    row.document = cert_document_text(doc);
    canon = cert_canonical(doc, NULL);
    if (!row.document || !canon)
        die("out of memory");
    cert_sha256_hex(canon, strlen(canon), row.document_sha256);
    free(canon);
    pd_strlcpy(row.status, "issued", sizeof row.status);
    pd_strlcpy(row.issued, now, sizeof row.issued);
    if (pd_registry_cert_update(reg, "draft", &row, &err) < 0)
        die("%s", err.msg);
    free(row.document);
    struct pd_registry_approval ap = {.key_ref = rv->who.ref};
    pd_strlcpy(ap.cert_id, id, sizeof ap.cert_id);
    pd_strlcpy(ap.role, "reviewer", sizeof ap.role);
    memcpy(ap.content_sha256, content, sizeof content);
    pd_strlcpy(ap.time, now, sizeof ap.time);
    memcpy(ap.signature, rv_sig, sizeof rv_sig);
    if (pd_registry_approval_add(reg, &ap, &err) < 0)
        die("%s", err.msg);
    ap.key_ref = au->who.ref;
    pd_strlcpy(ap.role, "authorizer", sizeof ap.role);
    memcpy(ap.signature, au_sig, sizeof au_sig);
    if (pd_registry_approval_add(reg, &ap, &err) < 0 ||
        pd_registry_audit_append(reg, "issue", id, au->who.name, "authorizer", row.document_sha256, NULL, &err) < 0)
        die("%s", err.msg);
    json_decref(doc);
}

static void seed_registry(void)
{
    /* The template: one certificate made by the real pipeline (simulated run, certify, review,
     * authorize) in a registry with the lab's, the persons' and the station's keys. */
    char demo_out[4300], demo_err[4300];
    snprintf(demo_out, sizeof demo_out, "%s/demo.out", work);
    snprintf(demo_err, sizeof demo_err, "%s/demo.err", work);
    char *argv[] = {PD_CLI_PATH, "demo", "-o", certs_dir, NULL};
    double t0 = now_s();
    if (wait_exit(spawn(argv, false, demo_out, demo_err)) != 0)
        die("polydaq demo failed (see %s)", demo_err);
    char moved[4300];
    snprintf(moved, sizeof moved, "%s/keys", certs_dir);
    if (rename(moved, keys_dir) != 0) /* secret keys do not stay in the server's data folder */
        die("cannot move %s: %s", moved, strerror(errno));
    printf("seed: template certificate by `polydaq demo` in %.1f s\n", now_s() - t0);

    t0 = now_s();
    struct pd_registry reg;
    struct pd_err err;
    if (pd_registry_open(&reg, certs_dir, 0, &err) < 0)
        die("%s", err.msg);
    struct pd_registry_cert tpl_row;
    if (pd_registry_cert_get(&reg, "CERT-000001", &tpl_row, &err) < 0)
        die("%s", err.msg);
    json_t *tpl = json_loads(tpl_row.document, 0, NULL);
    if (!tpl || strcmp(tpl_row.status, "issued") != 0)
        die("the demo's CERT-000001 is not an issued certificate");
    struct signer rv, au, lab;
    load_signer(&reg, "demo-reviewer.key", &rv);
    load_signer(&reg, "demo-authorizer.key", &au);
    load_signer(&reg, "lab.key", &lab);
    const char *operator_name = json_string_value(json_object_get(tpl, "operator"));
    const char *canonical_form =
        json_string_value(json_object_get(json_object_get(tpl, "signature"), "canonical_form"));
    if (!operator_name || !canonical_form)
        die("the template certificate has no operator or signature");
    if (pd_registry_begin(&reg, &err) < 0)
        die("%s", err.msg);
    for (long i = 1; i < n_certs; i++)
        clone_certificate(&reg, tpl, operator_name, &rv, &au, &lab, canonical_form);
    if (pd_registry_commit(&reg, &err) < 0 || pd_registry_checkpoint(&reg, &err) < 0)
        die("%s", err.msg);
    json_decref(tpl);
    pd_registry_cert_free(&tpl_row);
    pd_secret_key_wipe(&rv.key);
    pd_secret_key_wipe(&au.key);
    pd_secret_key_wipe(&lab.key);
    pd_registry_close(&reg);
    printf("seed: %ld more certificates drafted, approved and issued in one registry transaction in %.1f s\n",
           n_certs - 1, now_s() - t0);

    /* The last one checked by `polydaq verify` against the registry, as a customer's copy would be. */
    char id[32], json_path[4300];
    snprintf(id, sizeof id, "CERT-%06ld", n_certs);
    if (pd_cert_export(certs_dir, id, NULL, NULL, NULL, &err) < 0)
        die("exporting %s: %s", id, err.msg);
    snprintf(json_path, sizeof json_path, "%s/%s.json", certs_dir, id);
    char verify_out[4300];
    snprintf(verify_out, sizeof verify_out, "%s/verify.out", work);
    char *vargv[] = {PD_CLI_PATH, "verify", json_path, "--registry", certs_dir, NULL};
    int st = wait_exit(spawn(vargv, false, verify_out, verify_out));
    if (st != 0)
        die("`polydaq verify %s --registry` exits %d (see %s)", id, st, verify_out);
    printf("seed: %s verifies against the registry (polydaq verify --registry)\n", id);
}

/* ---- Seeding: the server's members, users and requests ----------------------------------------*/
static void sql(sqlite3 *db, const char *text)
{
    char *msg = NULL;
    if (sqlite3_exec(db, text, NULL, NULL, &msg) != SQLITE_OK)
        die("server.sqlite: %s", msg ? msg : "error");
}

static void seed_server(void)
{
    double t0 = now_s();
    /* Members and the first two users the documented way (`polydaq member add`, `user add`, the
     * password on standard input), which also creates server.sqlite with its schema. */
    char name[64], login[64], out[4300], pw[4300];
    snprintf(out, sizeof out, "%s/setup.out", work);
    snprintf(pw, sizeof pw, "%s/password", work);
    FILE *f = fopen(pw, "w");
    if (!f || fputs(PASSWORD "\n", f) < 0 || fclose(f) != 0)
        die("cannot write %s", pw);
    for (long m = 1; m <= n_members; m++) {
        snprintf(name, sizeof name, "Member company %03ld", m);
        char *argv[] = {PD_CLI_PATH, "member", "add", "--data", data_dir, name, NULL};
        if (wait_exit(spawn(argv, false, out, out)) != 0)
            die("polydaq member add failed (see %s)", out);
    }
    char *admin[] = {PD_CLI_PATH, "user",        "add",    "admin", "--data", data_dir,
                     "--name",    "Bench Admin", "--role", "admin", NULL};
    char *member[] = {
        PD_CLI_PATH, "user",   "add",      "member001",          "--data", data_dir, "--name", "Contact of member 001",
        "--role",    "member", "--member", "Member company 001", NULL};
    if (wait_exit(spawn_in(admin, false, pw, out, out)) != 0 || wait_exit(spawn_in(member, false, pw, out, out)) != 0)
        die("polydaq user add failed (see %s)", out);
    /* The lab's people who draft, review and authorize (the reviewer and authorizer get personal
     * keys registered in DATA/certs, where the server has them). */
    static const char *const staff[][2] = {{"tech", "technician"}, {"rev", "reviewer"}, {"auth", "authorizer"}};
    for (size_t i = 0; i < sizeof staff / sizeof staff[0]; i++) {
        char *argv[] = {PD_CLI_PATH, "user",
                        "add",       (char *)staff[i][0],
                        "--data",    data_dir,
                        "--name",    (char *)staff[i][1],
                        "--role",    (char *)staff[i][1],
                        NULL};
        if (wait_exit(spawn_in(argv, false, pw, out, out)) != 0)
            die("polydaq user add %s failed (see %s)", staff[i][0], out);
    }

    char path[4300];
    snprintf(path, sizeof path, "%s/server.sqlite", data_dir);
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        die("%s: cannot open", path);
    sqlite3_busy_timeout(db, 5000);
    sql(db, "BEGIN IMMEDIATE");
    sqlite3_stmt *st;
    /* The other members' contacts: the same password, so its Argon2id hash is computed once. */
    if (sqlite3_prepare_v2(
            db,
            "INSERT INTO users(login, name, role, member_id, password_hash, disabled, created_at) "
            "SELECT ?, ?, 'member', ?, password_hash, 0, created_at FROM users WHERE login = 'member001'",
            -1, &st, NULL) != SQLITE_OK)
        die("server.sqlite: %s", sqlite3_errmsg(db));
    for (long m = 2; m <= n_members; m++) {
        snprintf(login, sizeof login, "member%03ld", m);
        snprintf(name, sizeof name, "Contact of member %03ld", m);
        sqlite3_bind_text(st, 1, login, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, m);
        if (sqlite3_step(st) != SQLITE_DONE)
            die("server.sqlite: %s", sqlite3_errmsg(db));
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    /* One issued request per certificate, member by member in turn (request i ↔ CERT-i). */
    sqlite3_stmt *req, *ev;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO requests(id, member_id, submitted_by, material, specification, methods, "
                           "specimens, conditioning, due_date, customer_reference, notes, decision_rule, state, "
                           "submitted_at, decided_by, decided_at, contract_review) "
                           "VALUES (?1, ?2, (SELECT id FROM users WHERE member_id = ?2), ?3, 'PP-demo', "
                           "'[\"iso527\"]', 5, 'ISO 291 23/50, 88 h', '2026-12-31', ?4, '', "
                           "'ILAC-G8:09/2019 simple acceptance (shared risk, guard band w = 0)', 'issued', "
                           "'2026-11-02T09:00:00Z', (SELECT id FROM users WHERE login = 'admin'), "
                           "'2026-11-02T10:00:00Z', '{\"capability_and_resources\":true,\"comments\":\"\","
                           "\"due_date_feasible\":true,\"methods_appropriate\":true,\"requirements_defined\":true,"
                           "\"subcontracting\":false}')",
                           -1, &req, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO request_events(request_id, at, user_id, action, detail) "
                           "VALUES (?1, ?2, (SELECT submitted_by FROM requests WHERE id = ?1), ?3, '')",
                           -1, &ev, NULL) != SQLITE_OK)
        die("server.sqlite: %s", sqlite3_errmsg(db));
    char material[64], ref[32];
    for (long i = 1; i <= n_certs; i++) {
        snprintf(material, sizeof material, "PP homopolymer, batch %ld", i);
        snprintf(ref, sizeof ref, "PO-%06ld", i);
        sqlite3_bind_int64(req, 1, i);
        sqlite3_bind_int64(req, 2, (i - 1) % n_members + 1);
        sqlite3_bind_text(req, 3, material, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(req, 4, ref, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(req) != SQLITE_DONE)
            die("server.sqlite: %s", sqlite3_errmsg(db));
        sqlite3_reset(req);
        static const char *const steps[][2] = {{"submitted", "2026-11-02T09:00:00Z"},
                                               {"accepted", "2026-11-02T10:00:00Z"}};
        for (size_t k = 0; k < 2; k++) {
            sqlite3_bind_int64(ev, 1, i);
            sqlite3_bind_text(ev, 2, steps[k][1], -1, SQLITE_STATIC);
            sqlite3_bind_text(ev, 3, steps[k][0], -1, SQLITE_STATIC);
            if (sqlite3_step(ev) != SQLITE_DONE)
                die("server.sqlite: %s", sqlite3_errmsg(db));
            sqlite3_reset(ev);
        }
    }
    sqlite3_finalize(req);
    sqlite3_finalize(ev);
    /* The server's record of each certificate (since schema 3): CERT-i belongs to request i. */
    sqlite3_stmt *has;
    bool certs_table = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name = 'certificates'", -1, &has,
                                          NULL) == SQLITE_OK &&
                       sqlite3_step(has) == SQLITE_ROW;
    sqlite3_finalize(has);
    if (certs_table) {
        sql(db, "INSERT INTO certificates(number, request_id, specification, status, drafted_by, drafted_at, "
                "reviewed_by, authorized_by, issued_at) "
                "SELECT id, id, 'pp-demo-spec.yaml', 'issued', (SELECT id FROM users WHERE login = 'tech'), "
                "'2026-11-20T09:00:00Z', (SELECT id FROM users WHERE login = 'rev'), "
                "(SELECT id FROM users WHERE login = 'auth'), '2026-11-20T10:00:00Z' FROM requests");
        printf("seed: server.sqlite links CERT-i to request i (certificates table)\n");
    }
    sql(db, "COMMIT");
    sql(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close(db);
    printf("seed: %ld members, %ld member users, %ld issued requests in server.sqlite in %.1f s\n", n_members,
           n_members, n_certs, now_s() - t0);
}

/* ---- The two servers ---------------------------------------------------------------------------*/
static uint16_t server_port, nginx_port;

static void start_server(void)
{
    server_port = free_port();
    char listen[64], th[16], log[4300], out[4300], err[4300];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", (unsigned)server_port);
    snprintf(th, sizeof th, "%d", threads);
    snprintf(log, sizeof log, "%s/access.log", work);
    snprintf(out, sizeof out, "%s/serve.out", work);
    snprintf(err, sizeof err, "%s/serve.err", work);
    /* The access log goes to a file, as a lab would keep it (one JSON line per request). */
    char *argv[] = {(char *)serve_cli, "serve", "--data",       data_dir, "--listen", listen,
                    "--threads",       th,      "--access-log", log,      NULL};
    server_pid = spawn(argv, false, out, err);
    wait_listening(server_port, server_pid, "polydaq serve", err);
}

static void start_nginx(const char *body, size_t body_len, const char *content_type)
{
    nginx_port = free_port();
    char prefix[4300], path[4400];
    snprintf(prefix, sizeof prefix, "%s/nginx", work);
    snprintf(path, sizeof path, "%s/www", prefix);
    struct pd_err err;
    if (pd_mkdir_p(path, &err) < 0)
        die("%s", err.msg);
    snprintf(path, sizeof path, "%s/tmp", prefix);
    if (pd_mkdir_p(path, &err) < 0)
        die("%s", err.msg);
    /* nginx's workers run as nobody when we are root: they must reach the page. */
    chmod(work, 0755);
    chmod(prefix, 0755);
    snprintf(path, sizeof path, "%s/www", prefix);
    chmod(path, 0755);
    snprintf(path, sizeof path, "%s/www/page.html", prefix);
    FILE *f = fopen(path, "w");
    if (!f || fwrite(body, 1, body_len, f) != body_len || fclose(f) != 0)
        die("cannot write %s", path);
    chmod(path, 0644);
    snprintf(path, sizeof path, "%s/nginx.conf", prefix);
    f = fopen(path, "w");
    if (!f)
        die("cannot write %s", path);
    /* One worker per core; the same security headers as the lab server's answers, so both send about
     * the same bytes; no access log (the static file is the reference: the least a server can do). */
    fprintf(f,
            "%s"
            "worker_processes %ld;\n"
            "daemon off;\n"
            "pid %s/nginx.pid;\n"
            "error_log %s/error.log warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            "  access_log off;\n"
            "  client_body_temp_path %s/tmp/body; proxy_temp_path %s/tmp/proxy; fastcgi_temp_path %s/tmp/fcgi;\n"
            "  uwsgi_temp_path %s/tmp/uwsgi; scgi_temp_path %s/tmp/scgi;\n"
            "  keepalive_requests 1000000;\n"
            "  server {\n"
            "    listen 127.0.0.1:%u;\n"
            "    root %s/www;\n"
            "    types { }\n"
            "    default_type \"%s\";\n"
            "    location / {\n"
            "      try_files /page.html =404;\n"
            "      add_header Cache-Control no-store; add_header Pragma no-cache;\n"
            "      add_header X-Content-Type-Options nosniff;\n"
            "      add_header Content-Security-Policy \"default-src 'self'; frame-ancestors 'none'\";\n"
            "      add_header X-Frame-Options DENY; add_header Referrer-Policy no-referrer;\n"
            "      add_header Cross-Origin-Resource-Policy same-origin;\n"
            "    }\n"
            "  }\n"
            "}\n",
            geteuid() == 0 ? "user nobody nogroup;\n" : "", sysconf(_SC_NPROCESSORS_ONLN), prefix, prefix, prefix,
            prefix, prefix, prefix, prefix, (unsigned)nginx_port, prefix, content_type);
    if (fclose(f) != 0)
        die("cannot write %s", path);
    char err_path[4400];
    snprintf(err_path, sizeof err_path, "%s/stderr", prefix);
    char *argv[] = {"nginx", "-p", prefix, "-c", path, "-e", err_path, NULL};
    nginx_pid = spawn(argv, true, NULL, err_path);
    wait_listening(nginx_port, nginx_pid, "nginx", err_path);
}

/* ---- wrk ---------------------------------------------------------------------------------------*/
struct wrk_result {
    double rps;
    double cpu_us; /* CPU time (user + system) of the server measured, per request */
    double p50_ms, p90_ms, p99_ms, max_ms;
    long requests, errors;
};

/* User + system CPU seconds of a process (all its threads) and of its direct children (nginx's
 * workers), from /proc: on a machine shared with others the CPU per request moves far less than
 * requests/s do. */
static double proc_cpu_one(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double proc_cpu(pid_t pid)
{
    double total = proc_cpu_one(pid);
    char path[96];
    snprintf(path, sizeof path, "/proc/%ld/task/%ld/children", (long)pid, (long)pid);
    FILE *f = fopen(path, "r");
    long child;
    while (f && fscanf(f, "%ld", &child) == 1)
        total += proc_cpu_one(child);
    if (f)
        fclose(f);
    return total;
}

/* The Lua that every wrk script ends with: one line of figures to parse, in exact units. */
static const char lua_done[] =
    "done = function(s, latency, requests)\n"
    "  io.write(string.format('PDWRK requests=%d duration_us=%d errors=%d p50_us=%.0f p90_us=%.0f p99_us=%.0f "
    "max_us=%.0f\\n', s.requests, s.duration, s.errors.connect + s.errors.read + s.errors.write + s.errors.status + "
    "s.errors.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))\n"
    "end\n";

static void write_script(const char *path, const char *body)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(body, f) < 0 || fputs(lua_done, f) < 0 || fclose(f) != 0)
        die("cannot write %s", path);
}

static struct wrk_result run_wrk(uint16_t port, const char *script, double duration, pid_t rss_pid, long *rss_kb,
                                 double *rss_t, int *n_rss)
{
    pid_t measured = port == server_port ? server_pid : nginx_pid;
    double cpu0 = proc_cpu(measured);
    char t[16], c[16], d[32], url[64], out[4300], err[4300];
    snprintf(t, sizeof t, "-t%d", wrk_threads);
    snprintf(c, sizeof c, "-c%d", connections);
    snprintf(d, sizeof d, "-d%.0fs", duration);
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)port);
    snprintf(out, sizeof out, "%s/wrk.out", work);
    snprintf(err, sizeof err, "%s/wrk.err", work);
    char *argv[] = {"wrk", t, c, d, "--latency", "--timeout", "10s", "-s", (char *)script, url, NULL};
    double t0 = now_s();
    pid_t pid = spawn(argv, true, out, err);
    if (rss_pid > 0) { /* the soak: the server's resident set every RSS_EVERY_S seconds */
        double next = t0 + RSS_EVERY_S;
        while (waitpid(pid, NULL, WNOHANG) == 0) {
            if (now_s() >= next && *n_rss < MAX_RSS_SAMPLES) {
                char path[64], line[256];
                snprintf(path, sizeof path, "/proc/%ld/status", (long)rss_pid);
                FILE *f = fopen(path, "r");
                while (f && fgets(line, sizeof line, f))
                    if (strncmp(line, "VmRSS:", 6) == 0) {
                        rss_kb[*n_rss] = atol(line + 6);
                        rss_t[*n_rss] = now_s() - t0;
                        (*n_rss)++;
                    }
                if (f)
                    fclose(f);
                next += RSS_EVERY_S;
            }
            pd_clock_sleep_ns(100 * 1000 * 1000);
        }
        pid = -1;
    }
    if (pid > 0 && wait_exit(pid) != 0)
        die("wrk failed (see %s)", err);
    double cpu = proc_cpu(measured) - cpu0;
    FILE *f = fopen(out, "r");
    char line[512];
    struct wrk_result r = {0};
    bool found = false;
    while (f && fgets(line, sizeof line, f)) {
        long long dur = 0;
        double p50, p90, p99, mx;
        if (sscanf(line, "PDWRK requests=%ld duration_us=%lld errors=%ld p50_us=%lf p90_us=%lf p99_us=%lf max_us=%lf",
                   &r.requests, &dur, &r.errors, &p50, &p90, &p99, &mx) == 7) {
            r.rps = dur > 0 ? (double)r.requests / ((double)dur / 1e6) : 0;
            r.cpu_us = r.requests > 0 ? cpu * 1e6 / (double)r.requests : 0;
            r.p50_ms = p50 / 1e3, r.p90_ms = p90 / 1e3, r.p99_ms = p99 / 1e3, r.max_ms = mx / 1e3;
            found = true;
        }
    }
    if (f)
        fclose(f);
    if (!found)
        die("no figures in wrk's output (%s)", out);
    if (r.errors > 0)
        die("wrk saw %ld errors or non-2xx answers of %ld requests (%s on port %u)", r.errors, r.requests, script,
            (unsigned)port);
    return r;
}

/* ---- main ---------------------------------------------------------------------------------------*/
static void usage(void)
{
    fputs("usage: pd-bench-server [--seconds S] [--rounds N] [--soak S] [--threads N] [--connections N]\n"
          "                       [--certs N] [--members N] [--data DIR] [--keep] [--polydaq PATH]\n"
          "  --seconds    each wrk measurement (default 10)      --rounds  alternating rounds (default 3)\n"
          "  --soak       seconds of mixed load with RSS samples every 10 s (default 600; 0: none)\n"
          "  --threads    polydaq serve --threads (default 2)    --connections  wrk -c (default 50)\n"
          "  --data DIR   a data folder seeded before (kept), or to seed into (kept)\n"
          "  --keep       keep the temporary folder (data, logs, wrk scripts)\n"
          "  --polydaq P  measure the server of another polydaq build (before/after; seeding uses this build's)\n",
          stderr);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"seconds", required_argument, NULL, 's'},
                                             {"rounds", required_argument, NULL, 'r'},
                                             {"soak", required_argument, NULL, 'k'},
                                             {"threads", required_argument, NULL, 't'},
                                             {"connections", required_argument, NULL, 'c'},
                                             {"certs", required_argument, NULL, 'n'},
                                             {"members", required_argument, NULL, 'm'},
                                             {"data", required_argument, NULL, 'd'},
                                             {"keep", no_argument, NULL, 'K'},
                                             {"polydaq", required_argument, NULL, 'p'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *given_data = NULL;
    int o;
    while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (o) {
        case 's': seconds = atof(optarg); break;
        case 'r': rounds = atoi(optarg); break;
        case 'k': soak_s = atof(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 'c': connections = atoi(optarg); break;
        case 'n': n_certs = atol(optarg); break;
        case 'm': n_members = atol(optarg); break;
        case 'd': given_data = optarg; break;
        case 'K': keep = true; break;
        case 'p': serve_cli = optarg; break;
        case 'h': usage(); return 0;
        default: usage(); return 2;
        }
    }
    if (optind != argc || seconds < 1 || rounds < 1 || rounds > MAX_ROUNDS || soak_s < 0 || threads < 1 ||
        threads > 64 || connections < 1 || n_certs < 1 || n_members < 1 || n_members > 999) {
        usage();
        return 2;
    }
    snprintf(work, sizeof work, "/tmp/pd-bench-server.XXXXXX");
    if (!mkdtemp(work))
        die("cannot make a temporary folder: %s", strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines as they happen, also into a file */

    char la[64];
    load_average(la, sizeof la);
    printf("machine: %ld cores online, load average %s; wrk -t%d -c%d, %s serve --threads %d\n",
           sysconf(_SC_NPROCESSORS_ONLN), la, wrk_threads, connections, serve_cli, threads);
    bool seeded = false;
    if (given_data) {
        pd_strlcpy(data_dir, given_data, sizeof data_dir);
        char probe[4300];
        snprintf(probe, sizeof probe, "%s/server.sqlite", data_dir);
        seeded = access(probe, F_OK) == 0;
        snprintf(keys_dir, sizeof keys_dir, "%s.keys", data_dir);
    } else {
        snprintf(data_dir, sizeof data_dir, "%s/data", work);
        snprintf(keys_dir, sizeof keys_dir, "%s/keys", work);
    }
    snprintf(certs_dir, sizeof certs_dir, "%s/certs", data_dir);
    if (!seeded) {
        struct pd_err err;
        if (pd_mkdir_p(data_dir, &err) < 0)
            die("%s", err.msg);
        seed_registry();
        seed_server();
    } else {
        printf("seed: reusing %s\n", data_dir);
    }

    start_server();
    /* A member's session, as the web page holds it. */
    struct http_answer a;
    if (http(server_port, "POST", "/api/v1/session", NULL, "{\"login\":\"member001\",\"password\":\"" PASSWORD "\"}",
             &a) < 0 ||
        a.status != 201 || !a.cookie[0])
        die("logging in as member001 failed (HTTP %d)", a.status);
    char cookie[160];
    pd_strlcpy(cookie, a.cookie, sizeof cookie);
    free(a.raw);

    /* The public page: the certificate's verification page when the server has it; until then the
     * public route that exists stands in (said in the output). */
    const char *public_fmt = NULL, *list_path = "/api/v1/certificates";
    static const char *const public_candidates[] = {"/v/CERT-%06d", "/v/%d"};
    for (size_t i = 0; i < sizeof public_candidates / sizeof public_candidates[0] && !public_fmt; i++) {
        char p[64];
        snprintf(p, sizeof p, public_candidates[i], 1);
        if (http(server_port, "GET", p, NULL, NULL, &a) == 0 && a.status == 200)
            public_fmt = public_candidates[i];
        free(a.raw);
    }
    bool stand_in = !public_fmt;
    if (stand_in)
        public_fmt = "/login";
    char probe_path[64];
    snprintf(probe_path, sizeof probe_path, public_fmt, (int)(n_certs / 2));
    if (http(server_port, "GET", probe_path, NULL, NULL, &a) < 0 || a.status != 200)
        die("GET %s: HTTP %d", probe_path, a.status);
    printf("public page: GET %s%s — %zu bytes, %s\n", public_fmt,
           stand_in ? " (stand-in: no /v/<number> route in this build)" : "", a.body_len, a.content_type);
    start_nginx(a.body, a.body_len, a.content_type);
    free(a.raw);
    /* The member's certificate list; until the server has one, its request list stands in. */
    bool list_stand_in = http(server_port, "GET", list_path, cookie, NULL, &a) < 0 || a.status != 200;
    free(a.raw);
    if (list_stand_in)
        list_path = "/api/v1/requests";
    if (http(server_port, "GET", list_path, cookie, NULL, &a) < 0 || a.status != 200)
        die("GET %s as member001: HTTP %d", list_path, a.status);
    printf("member's list: GET %s (member001, logged in) — %zu bytes%s\n", list_path, a.body_len,
           list_stand_in ? " (stand-in: no certificate list in this build)" : "");
    free(a.raw);

    char public_lua[4300], list_lua[4300], soak_lua[4300], body[2048];
    snprintf(public_lua, sizeof public_lua, "%s/public.lua", work);
    snprintf(list_lua, sizeof list_lua, "%s/list.lua", work);
    snprintf(soak_lua, sizeof soak_lua, "%s/soak.lua", work);
    snprintf(body, sizeof body,
             "request = function()\n"
             "  return wrk.format('GET', string.format('%s', math.random(1, %ld)))\n"
             "end\n",
             public_fmt, n_certs);
    write_script(public_lua, body);
    snprintf(body, sizeof body, "wrk.headers['Cookie'] = '%s'\nwrk.path = '%s'\n", cookie, list_path);
    write_script(list_lua, body);
    snprintf(body, sizeof body,
             "local i = 0\n"
             "request = function()\n"
             "  i = i + 1\n"
             "  if i %% 2 == 0 then return wrk.format('GET', '%s', { Cookie = '%s' }) end\n"
             "  return wrk.format('GET', string.format('%s', math.random(1, %ld)))\n"
             "end\n",
             list_path, cookie, public_fmt, n_certs);
    write_script(soak_lua, body);

    /* Warm-up: page cache, SQLite caches, the servers' pools. */
    run_wrk(server_port, public_lua, 2, -1, NULL, NULL, NULL);
    run_wrk(nginx_port, public_lua, 2, -1, NULL, NULL, NULL);
    run_wrk(server_port, list_lua, 2, -1, NULL, NULL, NULL);

    double ratio[MAX_ROUNDS], poly_rps[MAX_ROUNDS], ngx_rps[MAX_ROUNDS], list_p99[MAX_ROUNDS], list_p50[MAX_ROUNDS],
        list_rps[MAX_ROUNDS], poly_cpu[MAX_ROUNDS], ngx_cpu[MAX_ROUNDS], list_cpu[MAX_ROUNDS];
    printf("\n| round | load | polydaq %s req/s | nginx req/s | ratio | polydaq p99 [ms] | nginx p99 [ms] | "
           "polydaq / nginx CPU [µs/req] | list req/s | list p50 [ms] | list p99 [ms] | list CPU [µs/req] |\n"
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
           stand_in ? "/login" : "/v");
    for (int r = 0; r < rounds; r++) {
        load_average(la, sizeof la);
        struct wrk_result p, n, l;
        if (r % 2 == 0) { /* alternate which goes first */
            p = run_wrk(server_port, public_lua, seconds, -1, NULL, NULL, NULL);
            n = run_wrk(nginx_port, public_lua, seconds, -1, NULL, NULL, NULL);
        } else {
            n = run_wrk(nginx_port, public_lua, seconds, -1, NULL, NULL, NULL);
            p = run_wrk(server_port, public_lua, seconds, -1, NULL, NULL, NULL);
        }
        l = run_wrk(server_port, list_lua, seconds, -1, NULL, NULL, NULL);
        poly_rps[r] = p.rps, ngx_rps[r] = n.rps, ratio[r] = p.rps / n.rps;
        list_p99[r] = l.p99_ms, list_p50[r] = l.p50_ms, list_rps[r] = l.rps;
        poly_cpu[r] = p.cpu_us, ngx_cpu[r] = n.cpu_us, list_cpu[r] = l.cpu_us;
        printf("| %d | %s | %.0f | %.0f | %.3f | %.2f | %.2f | %.1f / %.1f | %.0f | %.2f | %.2f | %.0f |\n", r + 1, la,
               p.rps, n.rps, ratio[r], p.p99_ms, n.p99_ms, p.cpu_us, n.cpu_us, l.rps, l.p50_ms, l.p99_ms, l.cpu_us);
        fflush(stdout);
    }
    double med_ratio = pd_bench_median(ratio, rounds), med_p99 = pd_bench_median(list_p99, rounds);
    printf("| median | | %.0f | %.0f | **%.3f** | | | %.1f / %.1f | %.0f | %.2f | **%.2f** | %.0f |\n",
           pd_bench_median(poly_rps, rounds), pd_bench_median(ngx_rps, rounds), med_ratio,
           pd_bench_median(poly_cpu, rounds), pd_bench_median(ngx_cpu, rounds), pd_bench_median(list_rps, rounds),
           pd_bench_median(list_p50, rounds), med_p99, pd_bench_median(list_cpu, rounds));
    printf("\npublic page ÷ nginx: %.3f (target ≥ 0.5: %s)%s\n", med_ratio, med_ratio >= 0.5 ? "met" : "NOT met",
           stand_in ? " — measured on the stand-in route" : "");
    printf("member's list p99 at %d connections: %.2f ms (target ≤ 20 ms: %s)\n", connections, med_p99,
           med_p99 <= 20 ? "met" : "NOT met");

    if (soak_s > 0) {
        static long rss_kb[MAX_RSS_SAMPLES];
        static double rss_t[MAX_RSS_SAMPLES];
        int n_rss = 0;
        load_average(la, sizeof la);
        printf("\nsoak: %.0f s of both (alternating), load average %s at the start\n", soak_s, la);
        struct wrk_result s = run_wrk(server_port, soak_lua, soak_s, server_pid, rss_kb, rss_t, &n_rss);
        load_average(la, sizeof la);
        printf("soak: %.0f req/s, p99 %.2f ms, %ld requests, load average %s at the end\n", s.rps, s.p99_ms, s.requests,
               la);
        printf("VmRSS [MiB] every %d s:", RSS_EVERY_S);
        for (int i = 0; i < n_rss; i++)
            printf(" %.1f", (double)rss_kb[i] / 1024);
        printf("\n");
        /* The first and the last minute (a third each when the soak is shorter than 3 minutes). */
        double window = soak_s >= 180 ? 60 : soak_s / 3;
        double first = 0, last = 0, first_max = 0, last_max = 0;
        int nf = 0, nl = 0;
        for (int i = 0; i < n_rss; i++) {
            double mib = (double)rss_kb[i] / 1024;
            if (rss_t[i] <= window + 1) {
                first += mib, nf++;
                if (mib > first_max)
                    first_max = mib;
            }
            if (rss_t[i] >= soak_s - window - 1) {
                last += mib, nl++;
                if (mib > last_max)
                    last_max = mib;
            }
        }
        if (nf && nl) {
            first /= nf, last /= nl;
            double growth = last - first;
            bool flat = growth <= 1.0 || growth <= 0.02 * first;
            printf("VmRSS first %.0f s: mean %.1f MiB (max %.1f); last %.0f s: mean %.1f MiB (max %.1f); "
                   "%+.1f MiB: %s\n",
                   window, first, first_max, window, last, last_max, growth, flat ? "flat (≤ 1 MiB or 2 %)" : "GROWS");
        } else {
            printf("VmRSS: too few samples for a first and last window (soak of at least 30 s needed)\n");
        }
    }
    if (keep)
        printf("\nkept: %s\n", work);
    cleanup();
    return 0;
}
