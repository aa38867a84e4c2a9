/*
 * certs.c — certificates from the browser: lab staff certify a request's linked runs by one of the
 * lab's specifications (DATA_DIR/specs) into a draft of the registry (DATA_DIR/certs); a reviewer
 * reviews and a different person, an authorizer, authorizes it with the signing key their login
 * unlocked (keys.c), which issues it; revisions and withdrawals carry a reason. The registry is
 * the truth about a certificate; this file keeps which request each one belongs to, who acted,
 * and a copy of its status for lists and scope. Members see their own company's certificates
 * once issued (also when later withdrawn or superseded), never drafts, and download PDF and JSON.
 * Every change moves the request on and queues the member's notice in the same transaction.
 */
#define _GNU_SOURCE 1 /* F_OFD_SETLK */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/certwork.h"
#include "server/internal.h"

const struct srv_field certs_certify_body[] = {
    {"specification", FT_STRING, true, 1, 128, NULL}, /* a file name of DATA_DIR/specs */
    {NULL, 0, false, 0, 0, NULL},
};
const struct srv_field certs_reason_body[] = {
    {"reason", FT_TEXT, true, 1, 400, NULL},
    {NULL, 0, false, 0, 0, NULL},
};

#define CERT_FROM                                                                                                      \
    "FROM certificates c JOIN requests q ON q.id = c.request_id JOIN members m ON m.id = q.member_id JOIN users d "    \
    "ON d.id = c.drafted_by LEFT JOIN users r ON r.id = c.reviewed_by LEFT JOIN users a ON a.id = c.authorized_by "
#define CERT_SELECT                                                                                                    \
    "SELECT c.number, c.request_id, q.member_id, m.name, c.specification, c.status, c.replaces, c.drafted_at, "        \
    "d.login, r.login, a.login, c.issued_at, c.reason " CERT_FROM
/* The object cert_json builds, as JSON text made by SQLite, for lists: building a member's 100 rows
 * as jansson objects, dumping and freeing them was half of the list's CPU (docs/BENCHMARKS.md,
 * "Lab server"). The same keys in the same order, NULL as null. */
#define CERT_ROW_JSON                                                                                                  \
    "json_object('number', c.number, 'certificate', printf('CERT-%06d', c.number), 'request_id', c.request_id, "      \
    "'member_id', q.member_id, 'member_name', m.name, 'specification', c.specification, 'status', c.status, "         \
    "'replaces', CASE WHEN c.replaces IS NULL THEN NULL ELSE printf('CERT-%06d', c.replaces) END, "                   \
    "'drafted_at', c.drafted_at, 'drafted_by', d.login, 'reviewed_by', r.login, 'authorized_by', a.login, "           \
    "'issued_at', c.issued_at, 'reason', c.reason) "

static void cert_name(int64_t number, char id[32])
{
    snprintf(id, 32, "CERT-%06lld", (long long)number);
}

static json_t *text_or_null(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? json_string((const char *)t) : json_null();
}

static json_t *cert_json(sqlite3_stmt *st)
{
    char id[32];
    int64_t number = sqlite3_column_int64(st, 0);
    cert_name(number, id);
    json_t *o = json_object();
    json_object_set_new(o, "number", json_integer(number));
    json_object_set_new(o, "certificate", json_string(id));
    json_object_set_new(o, "request_id", json_integer(sqlite3_column_int64(st, 1)));
    json_object_set_new(o, "member_id", json_integer(sqlite3_column_int64(st, 2)));
    json_object_set_new(o, "member_name", text_or_null(st, 3));
    json_object_set_new(o, "specification", text_or_null(st, 4));
    json_object_set_new(o, "status", text_or_null(st, 5));
    if (sqlite3_column_type(st, 6) == SQLITE_NULL) {
        json_object_set_new(o, "replaces", json_null());
    } else {
        cert_name(sqlite3_column_int64(st, 6), id);
        json_object_set_new(o, "replaces", json_string(id));
    }
    json_object_set_new(o, "drafted_at", text_or_null(st, 7));
    json_object_set_new(o, "drafted_by", text_or_null(st, 8));
    json_object_set_new(o, "reviewed_by", text_or_null(st, 9));
    json_object_set_new(o, "authorized_by", text_or_null(st, 10));
    json_object_set_new(o, "issued_at", text_or_null(st, 11));
    json_object_set_new(o, "reason", text_or_null(st, 12));
    return o;
}

/* Certificates in the caller's scope: one (number > 0), those of a request (request > 0) or all. */
static int cert_query(struct srv_call *call, int64_t number, int64_t request, json_t *list, json_t **one,
                      struct pd_err *err)
{
    sqlite3_stmt *st;
    /* clang-format off */
    static const char sql[] = CERT_SELECT "WHERE " SCOPE_CERT_SQL("q.member_id", "c.status")
        " AND (:n = 0 OR c.number = :n) AND (:req = 0 OR c.request_id = :req) ORDER BY c.number DESC";
    /* clang-format on */
    int rc = scope_prepare_kept(call->db, &call->scope, sql, &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":n"), number);
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":req"), request);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (one) {
            *one = cert_json(st);
            break;
        }
        json_array_append_new(list, cert_json(st));
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        rc = db_fail(call->db, "reading certificates", err);
    db_release(st);
    return rc;
}

/* {"certificates": [...]} of the caller's scope (those of one request when request > 0) as text. */
static int cert_list_text(struct srv_call *call, int64_t request, char **out, size_t *out_len, struct pd_err *err)
{
    sqlite3_stmt *st;
    /* clang-format off */
    static const char sql[] = "SELECT " CERT_ROW_JSON CERT_FROM "WHERE " SCOPE_CERT_SQL("q.member_id", "c.status")
        " AND (:req = 0 OR c.request_id = :req) ORDER BY c.number DESC";
    /* clang-format on */
    int rc = scope_prepare_kept(call->db, &call->scope, sql, &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":req"), request);
    static const char head[] = "{\"certificates\":[", tail[] = "]}";
    size_t len = sizeof head - 1, cap = 4096;
    char *text = malloc(cap);
    if (text)
        memcpy(text, head, len);
    int step;
    bool first = true;
    while (text && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *row = (const char *)sqlite3_column_text(st, 0);
        size_t n = row ? (size_t)sqlite3_column_bytes(st, 0) : 0;
        if (len + n + sizeof tail + 1 > cap) {
            while (len + n + sizeof tail + 1 > cap)
                cap *= 2;
            char *grown = realloc(text, cap);
            if (!grown) {
                free(text);
                text = NULL;
                break;
            }
            text = grown;
        }
        if (!first)
            text[len++] = ',';
        first = false;
        memcpy(text + len, row ? row : "", n);
        len += n;
    }
    if (!text)
        rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    else if (step != SQLITE_DONE)
        rc = db_fail(call->db, "listing certificates", err);
    db_release(st);
    if (rc < 0) {
        free(text);
        return rc;
    }
    memcpy(text + len, tail, sizeof tail);
    *out = text;
    *out_len = len + sizeof tail - 1;
    return 0;
}

/* Set when the registry changed a certificate and the server could not record it (approve,
 * withdraw), or a re-sync failed: the next certificate read re-syncs before it answers. */
static atomic_bool mirror_stale;

/* One certificate whose status can still change, as server.sqlite has it. */
struct mirror_row {
    int64_t number, request_id, member_id;
    char id[32], status[16], material[64];
};

/* The rows of certs_resync: certificates not final (draft, reviewed, issued) with their request. */
static int mirror_rows(struct pd_srvdb *db, struct mirror_row **out, size_t *n_out, struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = db_prepare(db,
                        "SELECT c.number, c.status, c.request_id, q.member_id, q.material FROM certificates c JOIN "
                        "requests q ON q.id = c.request_id WHERE c.status IN ('draft','reviewed','issued') "
                        "ORDER BY c.number",
                        &st, err);
    if (rc < 0)
        return rc;
    struct mirror_row *rows = NULL;
    size_t n = 0, cap = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            struct mirror_row *grown = realloc(rows, (cap = cap ? 2 * cap : 64) * sizeof *rows);
            if (!grown) {
                rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
                break;
            }
            rows = grown;
        }
        struct mirror_row *r = &rows[n++];
        r->number = sqlite3_column_int64(st, 0);
        cert_name(r->number, r->id);
        db_text(st, 1, r->status, sizeof r->status);
        r->request_id = sqlite3_column_int64(st, 2);
        r->member_id = sqlite3_column_int64(st, 3);
        utf8_cut(r->material, (const char *)sqlite3_column_text(st, 4), sizeof r->material);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_fail(db, "reading the certificates", err);
    sqlite3_finalize(st);
    if (rc < 0) {
        free(rows);
        return rc;
    }
    *out = rows;
    *n_out = n;
    return 0;
}

/* Records the registry's state `reg` of row `r` (inside the caller's transaction): the status, when
 * it was issued and the reason of a withdrawal, the request issued with it, and the member's notice
 * of an issue or a withdrawal. */
static int mirror_apply(struct pd_srvdb *db, const struct mirror_row *r, const struct certwork_state *reg,
                        struct pd_err *err)
{
    char now[40];
    db_now_iso(now, sizeof now);
    sqlite3_stmt *st;
    int rc = db_prepare(db,
                        "UPDATE certificates SET status = ?1, issued_at = CASE WHEN ?1 = 'issued' THEN "
                        "coalesce(issued_at, ?2) ELSE issued_at END, reason = coalesce(?3, reason) "
                        "WHERE number = ?4 AND status = ?5",
                        &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, reg->status, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, reg->issued[0] ? reg->issued : now, -1, SQLITE_STATIC);
    bool issued = strcmp(reg->status, "issued") == 0, withdrawn = strcmp(reg->status, "withdrawn") == 0;
    /* the reason of a withdrawal only: a superseded certificate keeps its own (a revision's) */
    withdrawn ? sqlite3_bind_text(st, 3, reg->reason, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 3);
    sqlite3_bind_int64(st, 4, r->number);
    sqlite3_bind_text(st, 5, r->status, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(db, "re-syncing the certificate's status", err);
    sqlite3_finalize(st);
    if (rc < 0)
        return rc;
    if (issued && (rc = request_move(db, r->request_id, "reviewing", "issued", err)) < 0)
        return rc;
    if (!issued && !withdrawn)
        return 0;
    char subject[200], text[1000];
    snprintf(subject, sizeof subject, "Request %lld: certificate %s (%s)", (long long)r->request_id, reg->status,
             r->material);
    snprintf(text, sizeof text, "Your test request %lld (%s): certificate %s was %s by the laboratory.%s%s\n",
             (long long)r->request_id, r->material, r->id, reg->status,
             issued ? " Log in to the laboratory's portal to download it (PDF and JSON)." : " Reason: ",
             issued ? "" : reg->reason);
    return outbox_notify_member(db, r->member_id, subject, text, err);
}

int certs_resync(struct pd_srvdb *db, const char *data_dir, struct pd_err *err)
{
    struct mirror_row *rows = NULL;
    size_t n = 0;
    int rc = mirror_rows(db, &rows, &n, err);
    const char **ids = rc == 0 ? calloc(n + 1, sizeof *ids) : NULL;
    struct certwork_state *reg = rc == 0 ? calloc(n + 1, sizeof *reg) : NULL;
    if (rc == 0 && (!ids || !reg))
        rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", data_dir, PD_SERVER_CERTS_DIR);
    for (size_t i = 0; rc == 0 && i < n; i++)
        ids[i] = rows[i].id;
    if (rc == 0)
        rc = certwork_states(dir, ids, n, reg, err);
    int changed = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!reg[i].status[0] || strcmp(reg[i].status, rows[i].status) == 0)
            continue;
        if (changed == 0)
            rc = db_begin(db, err);
        if (rc == 0)
            rc = mirror_apply(db, &rows[i], &reg[i], err);
        if (rc == 0) {
            pd_log(PD_LOG_WARN, "%s: the server's copy said %s, the registry says %s: re-synced", rows[i].id,
                   rows[i].status, reg[i].status);
            changed++;
        }
    }
    if (rc == 0 && changed)
        rc = db_commit(db, err);
    if (rc < 0) {
        db_rollback(db);
        atomic_store(&mirror_stale, true); /* tried again at the next read */
    }
    free(rows);
    free(ids);
    free(reg);
    return rc < 0 ? rc : changed;
}

/* Re-syncs when a registry change was not recorded here (mirror_stale). */
static void resync_if_stale(struct srv_call *call)
{
    if (!atomic_exchange(&mirror_stale, false))
        return;
    struct pd_err err;
    pd_err_clear(&err);
    if (certs_resync(call->db, srv_data_dir(call->srv), &err) < 0)
        pd_log(PD_LOG_ERROR, "re-syncing certificate statuses from the registry: %s", err.msg);
}

/* The registry changed certificate `id` to `status`, and recording it here failed with `err`: the
 * answer says so, and the copy is re-synced at the next read (or the next start). */
static int mirror_failed(struct srv_call *call, const char *id, const char *status, const struct pd_err *err)
{
    db_rollback(call->db);
    atomic_store(&mirror_stale, true);
    pd_log(PD_LOG_ERROR, "%s is %s in the registry, but server.sqlite did not record it: %s", id, status, err->msg);
    return call_error(call, 500, "internal",
                      "%s is %s in the registry, but the server could not record it (logged on the server); its "
                      "copy is re-synced from the registry at the next read",
                      id, status);
}

int certs_list(struct srv_call *call)
{
    struct pd_err err;
    pd_err_clear(&err);
    /* /api/v1/requests/{id}/certificates names a request; /api/v1/certificates does not. */
    int64_t request = strncmp(call->path, "/api/v1/requests/", 17) == 0 ? call->ids[0] : 0;
    if (request) {
        struct request_brief req;
        int rc = request_visible(call, request, &req, &err);
        if (rc <= 0)
            return rc < 0 ? call_fail(call, &err) : call_error(call, 404, "not_found", "no such request");
    }
    resync_if_stale(call);
    char *text;
    size_t len;
    if (cert_list_text(call, request, &text, &len, &err) < 0)
        return call_fail(call, &err);
    return call_reply_bytes(call, 200, "application/json; charset=utf-8", (unsigned char *)text, len);
}


/* Certificate {id} as the caller may see it; 0 with the 404 answered when it may not. */
static json_t *visible_cert(struct srv_call *call)
{
    resync_if_stale(call);
    struct pd_err err;
    pd_err_clear(&err);
    json_t *o = NULL;
    if (cert_query(call, call->ids[0], 0, NULL, &o, &err) < 0) {
        call_fail(call, &err);
        return NULL;
    }
    if (!o)
        call_error(call, 404, "not_found", "no such certificate");
    return o;
}

int certs_get(struct srv_call *call)
{
    json_t *o = visible_cert(call);
    return o ? call_reply(call, 200, o) : 0;
}

static void certs_dir(struct srv_call *call, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", srv_data_dir(call->srv), PD_SERVER_CERTS_DIR);
}

/* A spec's file name in DATA_DIR/specs: [a-z0-9._-], ending in .yaml, no path. */
static bool spec_name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 5 && static_name_ok(s, n) && strcmp(s + n - 5, ".yaml") == 0;
}

int specs_list(struct srv_call *call)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", srv_data_dir(call->srv), PD_SERVER_SPECS_DIR);
    json_t *list = json_array();
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (spec_name_ok(e->d_name))
            json_array_append_new(list, json_string(e->d_name));
    if (d)
        closedir(d);
    /* readdir's order is the file system's: sorted for a stable page */
    size_t n = json_array_size(list);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(json_string_value(json_array_get(list, j - 1)),
                                           json_string_value(json_array_get(list, j))) > 0;
             j--) {
            json_t *a = json_incref(json_array_get(list, j - 1));
            json_array_set(list, j - 1, json_array_get(list, j));
            json_array_set_new(list, j, a);
        }
    return call_reply(call, 200, json_pack("{s:o}", "specifications", list));
}

/* The state change's history entry, the request's new state and the member's notice, in one
 * transaction of server.sqlite (the registry's change is already committed: it is the truth). */
static int record_change(struct srv_call *call, int64_t request_id, const char *new_state, const char *action,
                         const char *detail, const char *notice, struct pd_err *err)
{
    struct request_brief req;
    int rc = request_visible(call, request_id, &req, err);
    if (rc <= 0)
        return rc < 0 ? rc : pd_err_set(err, PD_EIO, NULL, "request %lld vanished", (long long)request_id);
    char from[sizeof req.state], subject[200], text[2000], material[64];
    pd_strlcpy(from, req.state, sizeof from);
    utf8_cut(material, req.material, sizeof material);
    snprintf(subject, sizeof subject, "Request %lld: %s (%s)", (long long)req.id, action, material);
    snprintf(text, sizeof text, "Your test request %lld (%s): %s\n", (long long)req.id, req.material,
             notice ? notice : "");
    struct request_step step = {.from = from,
                                .to = new_state && strcmp(from, new_state) != 0 ? new_state : NULL,
                                .action = action,
                                .detail = detail,
                                .subject = notice ? subject : NULL,
                                .text = text,
                                .notice_always = true};
    rc = request_advance(call, &req, &step, err);
    return rc < 0 ? rc : 0;
}

/* The claim on certifying request `request_id`: a write lock on its byte of DATA_DIR/certify.lock
 * (an open file description lock: two threads of this server conflict as two processes on the same
 * data folder do, and the kernel drops it with the process). Taken before the registry drafts — which
 * takes seconds outside any transaction of server.sqlite —, so a second certify of the same request
 * is answered 409 at once instead of making a second draft. The file descriptor, or -1 with the
 * answer set (409 while another call holds it). */
static int claim_certify(struct srv_call *call, int64_t request_id)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/certify.lock", srv_data_dir(call->srv));
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        pd_log(PD_LOG_ERROR, "%s: %s", path, strerror(errno));
        call_error(call, 500, "internal", "cannot take the certification claim (logged on the server)");
        return -1;
    }
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)request_id, .l_len = 1};
    if (fcntl(fd, F_OFD_SETLK, &lk) == 0)
        return fd;
    int e = errno;
    close(fd);
    if (e == EAGAIN || e == EACCES)
        call_error(call, 409, "conflict", "request %lld is being certified by another call right now",
                   (long long)request_id);
    else
        call_error(call, 500, "internal", "cannot take the certification claim: %s", strerror(e));
    return -1;
}

/* The open certificate (draft or reviewed) of request `request_id` by `spec`: its number, 0 if none. */
#define OPEN_DRAFT_SQL                                                                                                 \
    "SELECT number FROM certificates WHERE request_id = :req AND specification = :spec AND status IN "                 \
    "('draft','reviewed')"
static int open_draft(struct srv_call *call, int64_t request_id, const char *spec, int64_t *number, struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = db_prepare(call->db, OPEN_DRAFT_SQL, &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":req"), request_id);
    sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":spec"), spec, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    *number = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    rc = step == SQLITE_ROW || step == SQLITE_DONE ? 0 : db_fail(call->db, "reading the open drafts", err);
    sqlite3_finalize(st);
    return rc;
}

/* Drafts a certificate of request `request_id`'s runs; `replaces` > 0 for a revision. One draft
 * at a time per request and specification: a second is 409 while the first is open (draft or
 * reviewed) or still being made. */
static int draft_claimed(struct srv_call *call, int64_t request_id, const char *spec, int64_t replaces,
                         const char *reason);
static int draft(struct srv_call *call, int64_t request_id, const char *spec, int64_t replaces, const char *reason)
{
    int fd = claim_certify(call, request_id);
    if (fd < 0)
        return 0;
    int rc = draft_claimed(call, request_id, spec, replaces, reason);
    close(fd); /* after the draft's transaction: the next caller sees it */
    return rc;
}

static int draft_claimed(struct srv_call *call, int64_t request_id, const char *spec, int64_t replaces,
                         const char *reason)
{
    /* A revision is drafted whatever the request's state (its certificate was issued). */
    static const char *const drafting[] = {"testing", "reviewing", NULL};
    struct request_brief req;
    if (!request_in_state(call, request_id, replaces ? NULL : drafting,
                          "a certificate is drafted from linked runs (state testing)", &req))
        return 0;
    struct pd_err err;
    pd_err_clear(&err);
    int rc;
    if (!spec_name_ok(spec))
        return call_error(call, 400, "invalid",
                          "field 'specification': a file name of the lab's specs/ "
                          "(a-z 0-9 . _ -, ending in .yaml)");
    char spec_path[4400], dir[4200];
    snprintf(spec_path, sizeof spec_path, "%s/%s/%s", srv_data_dir(call->srv), PD_SERVER_SPECS_DIR, spec);
    struct stat sb;
    if (lstat(spec_path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return call_error(call, 400, "invalid", "field 'specification': the lab has no specification '%s'", spec);
    int64_t open_number = 0;
    if ((rc = open_draft(call, request_id, spec, &open_number, &err)) < 0)
        return call_fail(call, &err);
    if (open_number) {
        char open_id[32];
        cert_name(open_number, open_id);
        return call_error(call, 409, "conflict",
                          "request %lld has %s by %s still open (not issued): review it rather than certify again",
                          (long long)request_id, open_id, spec);
    }
    /* The request's runs, as paths in DATA_DIR/runs. */
    sqlite3_stmt *st;
    if ((rc = db_prepare(call->db,
                         "SELECT DISTINCT r.name FROM runs r JOIN run_items ri ON ri.run_id = r.id JOIN items i ON "
                         "i.id = ri.item_id WHERE i.request_id = ? ORDER BY r.id",
                         &st, &err)) < 0)
        return call_fail(call, &err);
    sqlite3_bind_int64(st, 1, request_id);
    char **paths = NULL;
    size_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char **grown = realloc(paths, (n + 1) * sizeof *paths);
        char *p = malloc(4400);
        if (!grown || !p) {
            free(p);
            if (grown)
                paths = grown;
            rc = PD_ENOMEM;
            break;
        }
        paths = grown;
        snprintf(p, 4400, "%s/%s/%s", srv_data_dir(call->srv), PD_SERVER_RUNS_DIR,
                 (const char *)sqlite3_column_text(st, 0));
        paths[n++] = p;
    }
    sqlite3_finalize(st);
    struct certwork_draft d;
    bool no_runs = rc == 0 && n == 0;
    if (rc == 0 && !no_runs) {
        char ref[40], replaced[32];
        snprintf(ref, sizeof ref, "REQ-%lld", (long long)request_id);
        if (replaces)
            cert_name(replaces, replaced);
        certs_dir(call, dir, sizeof dir);
        struct certwork_certify in = {
            dir, (const char *const *)paths, n, spec_path, ref, req.member_name, replaces ? replaced : NULL, reason};
        rc = certwork_certify(&in, &d, &err);
    }
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    if (no_runs)
        return call_error(call, 409, "conflict", "request %lld has no linked runs to certify", (long long)request_id);
    if (rc == PD_ENOMEM)
        return call_error(call, 500, "internal", "out of memory");
    if (rc < 0)
        return rc == PD_ESTATE || rc == PD_EDATA || rc == PD_ECONFIG || rc == PD_EIO
                   ? call_error(call, 422, "certify_failed", "%s", err.msg)
                   : call_fail(call, &err);
    char now[40], detail[400];
    db_now_iso(now, sizeof now);
    snprintf(detail, sizeof detail, "%s drafted by %s: %zu specimen(s), %s%s%s", d.cert_id, spec, d.specimens,
             d.verdict, d.accredited ? "" : ", not accredited", replaces ? " (revision)" : "");
    if ((rc = db_begin(call->db, &err)) == 0 &&
        (rc = db_prepare(call->db,
                         "INSERT INTO certificates(number, request_id, specification, status, replaces, drafted_by, "
                         "drafted_at, reason) SELECT ?1,?2,?3,'draft',?4,?5,?6,?7 WHERE NOT EXISTS (SELECT 1 FROM "
                         "certificates WHERE request_id = ?2 AND specification = ?3 AND status IN "
                         "('draft','reviewed'))",
                         &st, &err)) == 0) {
        sqlite3_bind_int64(st, 1, d.number);
        sqlite3_bind_int64(st, 2, request_id);
        sqlite3_bind_text(st, 3, spec, -1, SQLITE_TRANSIENT);
        replaces ? sqlite3_bind_int64(st, 4, replaces) : sqlite3_bind_null(st, 4);
        sqlite3_bind_int64(st, 5, call->user.id);
        sqlite3_bind_text(st, 6, now, -1, SQLITE_TRANSIENT);
        reason ? sqlite3_bind_text(st, 7, reason, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, 7);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(call->db, "recording the draft", &err);
        sqlite3_finalize(st);
        /* Checked and inserted in one transaction: the claim above makes this unreachable unless
         * the lock file is not shared (another folder, a file system without locks). */
        if (rc == 0 && sqlite3_changes(call->db->h) != 1)
            rc = pd_err_set(&err, PD_ESTATE, NULL,
                            "request %lld has an open certificate by %s already; %s is left a draft in the registry",
                            (long long)request_id, spec, d.cert_id);
    }
    if (rc == 0)
        rc = record_change(call, request_id, "reviewing", replaces ? "revision drafted" : "certificate drafted", detail,
                           replaces ? "the laboratory is revising its certificate; the revision is being reviewed."
                                    : "testing is complete; the certificate is being reviewed.",
                           &err);
    if (rc == 0)
        rc = db_commit(call->db, &err);
    if (rc < 0)
        return call_fail(call, &err);
    json_t *o = NULL;
    call->ids[0] = d.number;
    if (cert_query(call, d.number, 0, NULL, &o, &err) < 0 || !o)
        return call_error(call, 500, "internal", "the draft could not be read back");
    return call_reply(call, 201, o);
}

int certs_certify(struct srv_call *call)
{
    return draft(call, call->ids[0], json_string_value(json_object_get(call->body, "specification")), 0, NULL);
}

/* The certificate's request, status and reviewer (for the review/authorize/withdraw checks). */
struct cert_row {
    int64_t request_id;
    char status[16];
    char spec[200];
    int64_t reviewed_by;
    int64_t replaces;
};
static int cert_row(struct srv_call *call, struct cert_row *out)
{
    json_t *o = visible_cert(call);
    if (!o)
        return -1;
    out->request_id = json_integer_value(json_object_get(o, "request_id"));
    pd_strlcpy(out->status, json_string_value(json_object_get(o, "status")), sizeof out->status);
    pd_strlcpy(out->spec, json_string_value(json_object_get(o, "specification")), sizeof out->spec);
    json_decref(o);
    sqlite3_stmt *st;
    out->reviewed_by = 0;
    out->replaces = 0;
    if (db_prepare(call->db,
                   "SELECT COALESCE(reviewed_by, 0), COALESCE(replaces, 0) FROM certificates WHERE number = ?", &st,
                   NULL) == 0) {
        sqlite3_bind_int64(st, 1, call->ids[0]);
        if (sqlite3_step(st) == SQLITE_ROW) {
            out->reviewed_by = sqlite3_column_int64(st, 0);
            out->replaces = sqlite3_column_int64(st, 1);
        }
        sqlite3_finalize(st);
    }
    return 0;
}

/* The path's certificate when it is in status `want`: 1 (row filled in), or 0 with the answer
 * set — 404 when the caller may not see it, 409 "the certificate is S; <why>" in another status. */
static int cert_in_status(struct srv_call *call, const char *want, const char *why, struct cert_row *row)
{
    if (cert_row(call, row) < 0)
        return 0;
    if (strcmp(row->status, want) != 0) {
        call_error(call, 409, "conflict", "the certificate is %s; %s", row->status, why);
        return 0;
    }
    return 1;
}

static int set_status(struct srv_call *call, int64_t number, const char *status, const char *who_column,
                      const char *reason, struct pd_err *err)
{
    char sql[300], now[40];
    db_now_iso(now, sizeof now);
    snprintf(sql, sizeof sql, "UPDATE certificates SET status = ?%s%s%s WHERE number = ?", who_column ? ", " : "",
             who_column ? who_column : "", who_column ? " = ?" : "");
    sqlite3_stmt *st;
    int rc = db_prepare(call->db, sql, &st, err);
    if (rc < 0)
        return rc;
    int k = 1;
    sqlite3_bind_text(st, k++, status, -1, SQLITE_STATIC);
    if (who_column)
        sqlite3_bind_int64(st, k++, call->user.id);
    sqlite3_bind_int64(st, k, number);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(call->db, "recording the certificate's status", err);
    sqlite3_finalize(st);
    if (rc == 0 && strcmp(status, "issued") == 0 &&
        (rc = db_prepare(call->db, "UPDATE certificates SET issued_at = ? WHERE number = ?", &st, err)) == 0) {
        sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, number);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(call->db, "recording the issue", err);
        sqlite3_finalize(st);
    }
    if (rc == 0 && reason &&
        (rc = db_prepare(call->db, "UPDATE certificates SET reason = ? WHERE number = ?", &st, err)) == 0) {
        sqlite3_bind_text(st, 1, reason, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, number);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(call->db, "recording the reason", err);
        sqlite3_finalize(st);
    }
    return rc;
}

/* Review or authorize with the session's key. */
static int approve(struct srv_call *call, bool authorize)
{
    struct cert_row row;
    if (!cert_in_status(call, authorize ? "reviewed" : "draft",
                        authorize ? "authorization needs it reviewed" : "review needs it draft", &row))
        return 0;
    /* Four eyes: the authorizer is another person than the reviewer (the registry refuses the same
     * key too; this refuses the same login, whatever its keys). */
    if (authorize && row.reviewed_by == call->user.id)
        return call_error(call, 409, "conflict", "the reviewer of a certificate cannot also authorize it");
    struct pd_err err;
    pd_err_clear(&err);
    char dir[4200], id[32], status[16] = "", lab_key[4300];
    certs_dir(call, dir, sizeof dir);
    cert_name(call->ids[0], id);
    snprintf(lab_key, sizeof lab_key, "%s/lab.key", dir);
    if (authorize && access(lab_key, R_OK) != 0)
        return call_error(call, 409, "refused",
                          "the lab's issuing key is not on this server (certs/lab.key in the data folder): issue %s "
                          "with `polydaq approve` where the key is kept",
                          id);
    struct pd_secret_key key;
    if (keys_session_key(call, &key, &err) < 0)
        return call_error(call, 409, "no_signing_key", "%s", err.msg);
    int rc = certwork_approve(dir, id, authorize, &key, status, &err);
    sodium_memzero(&key, sizeof key);
    if (rc < 0)
        return rc == PD_ESTATE || rc == PD_EDATA ? call_error(call, 409, "refused", "%s", err.msg)
                                                 : call_fail(call, &err);
    char detail[200];
    snprintf(detail, sizeof detail, "%s %s by %s", id, status, call->user.login);
    rc = db_begin(call->db, &err);
    if (rc == 0)
        rc = set_status(call, call->ids[0], status, authorize ? "authorized_by" : "reviewed_by", NULL, &err);
    if (rc == 0 && authorize && row.replaces)
        rc = set_status(call, row.replaces, "superseded", NULL, NULL, &err);
    if (rc == 0) {
        char notice[300];
        snprintf(notice, sizeof notice,
                 "certificate %s was issued. Log in to the laboratory's portal to download it (PDF and JSON).", id);
        rc = record_change(call, row.request_id, authorize ? "issued" : NULL,
                           authorize ? "certificate issued" : "certificate reviewed", detail, authorize ? notice : NULL,
                           &err);
    }
    if (rc == 0)
        rc = db_commit(call->db, &err);
    if (rc < 0)
        return mirror_failed(call, id, status, &err);
    json_t *o = visible_cert(call);
    return o ? call_reply(call, 200, o) : 0;
}

int certs_review(struct srv_call *call)
{
    return approve(call, false);
}
int certs_authorize(struct srv_call *call)
{
    return approve(call, true);
}

/* A revision (ISO/IEC 17025 7.8.8): a new draft from the same runs and specification that replaces
 * the issued certificate once it is issued in turn. */
int certs_revise(struct srv_call *call)
{
    struct cert_row row;
    if (!cert_in_status(call, "issued", "only an issued certificate is revised", &row))
        return 0;
    return draft(call, row.request_id, row.spec, call->ids[0],
                 json_string_value(json_object_get(call->body, "reason")));
}

int certs_withdraw(struct srv_call *call)
{
    struct cert_row row;
    if (!cert_in_status(call, "issued", "only an issued certificate is withdrawn", &row))
        return 0;
    const char *reason = json_string_value(json_object_get(call->body, "reason"));
    struct pd_err err;
    pd_err_clear(&err);
    struct pd_secret_key key;
    if (keys_session_key(call, &key, &err) < 0)
        return call_error(call, 409, "no_signing_key", "%s", err.msg);
    char dir[4200], id[32];
    certs_dir(call, dir, sizeof dir);
    cert_name(call->ids[0], id);
    int rc = certwork_withdraw(dir, id, &key, reason, &err);
    sodium_memzero(&key, sizeof key);
    if (rc < 0)
        return rc == PD_ESTATE || rc == PD_EDATA ? call_error(call, 409, "refused", "%s", err.msg)
                                                 : call_fail(call, &err);
    char detail[600], notice[700];
    snprintf(detail, sizeof detail, "%s withdrawn by %s: %s", id, call->user.login, reason);
    snprintf(notice, sizeof notice, "certificate %s was withdrawn by the laboratory. Reason: %s", id, reason);
    rc = db_begin(call->db, &err);
    if (rc == 0)
        rc = set_status(call, call->ids[0], "withdrawn", NULL, reason, &err);
    if (rc == 0)
        rc = record_change(call, row.request_id, NULL, "certificate withdrawn", detail, notice, &err);
    if (rc == 0)
        rc = db_commit(call->db, &err);
    if (rc < 0)
        return mirror_failed(call, id, "withdrawn", &err);
    json_t *o = visible_cert(call);
    return o ? call_reply(call, 200, o) : 0;
}

/* The registry's export of a certificate the caller may see: DATA_DIR/certs/CERT-….pdf or .json. */
static int send_export(struct srv_call *call, const char *ext, const char *type)
{
    json_t *o = visible_cert(call);
    if (!o)
        return 0;
    json_decref(o);
    char path[4400], id[32];
    cert_name(call->ids[0], id);
    snprintf(path, sizeof path, "%s/%s/%s.%s", srv_data_dir(call->srv), PD_SERVER_CERTS_DIR, id, ext);
    FILE *f = fopen(path, "rb");
    if (!f)
        return call_error(call, 410, "gone", "%s.%s is not in the registry's folder (polydaq registry export %s)", id,
                          ext, id);
    unsigned char *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            unsigned char *grown = realloc(data, cap = cap ? 2 * cap : 65536);
            if (!grown)
                break;
            data = grown;
        }
        size_t n = fread(data + len, 1, cap - len, f);
        if (n == 0)
            break;
        len += n;
    }
    bool ok = !ferror(f) && len < cap;
    fclose(f);
    if (!ok) {
        free(data);
        return call_error(call, 500, "internal", "cannot read %s.%s (logged on the server)", id, ext);
    }
    return call_reply_bytes(call, 200, type, data, len);
}

int certs_pdf(struct srv_call *call)
{
    return send_export(call, "pdf", "application/pdf");
}
int certs_json(struct srv_call *call)
{
    return send_export(call, "json", "application/json; charset=utf-8");
}
