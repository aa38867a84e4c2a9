/*
 * runs.c — run files and their link to items. Lab staff upload a run file (PUT, the HDF5 bytes as
 * the body) or name one already in DATA_DIR/runs; either way the file is opened with the store's
 * hostile-file reader before it is accepted, so a damaged or foreign file is refused with the
 * reason and nothing is kept. Staff then link a run to items of one request (the request moves to
 * `testing`). A run belongs to the member company whose items it is linked to: members list and
 * download only those, through the scope; an unlinked run is the lab's alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/certwork.h"
#include "server/internal.h"

const struct srv_field runs_register_body[] = {
    {"name", FT_STRING, true, 1, 128, NULL},
    {NULL, 0, false, 0, 0, NULL},
};
const struct srv_field runs_link_body[] = {
    {"run", FT_INTEGER, true, 1, 999999999999999L, NULL},
    {"items", FT_STRING_ARRAY, false, 0, 100, NULL}, /* item ids IT-…; none: every item of the request */
    {NULL, 0, false, 0, 0, NULL},
};

#define RUN_SELECT                                                                                                     \
    "SELECT r.id, r.name, r.run_id, r.sha256, r.size, r.specimens, r.how, r.added_at, u.login, "                       \
    "(SELECT q.id FROM run_items ri JOIN items i ON i.id = ri.item_id JOIN requests q ON q.id = i.request_id "         \
    "WHERE ri.run_id = r.id LIMIT 1) FROM runs r JOIN users u ON u.id = r.added_by "

static json_t *run_json(struct srv_call *call, sqlite3_stmt *st)
{
    char buf[200];
    json_t *o = json_object();
    int64_t id = sqlite3_column_int64(st, 0);
    json_object_set_new(o, "id", json_integer(id));
    db_text(st, 1, buf, sizeof buf);
    json_object_set_new(o, "name", json_string(buf));
    db_text(st, 2, buf, sizeof buf);
    json_object_set_new(o, "run_id", json_string(buf));
    db_text(st, 3, buf, sizeof buf);
    json_object_set_new(o, "sha256", json_string(buf));
    json_object_set_new(o, "size", json_integer(sqlite3_column_int64(st, 4)));
    json_object_set_new(o, "specimens", json_integer(sqlite3_column_int64(st, 5)));
    db_text(st, 6, buf, sizeof buf);
    json_object_set_new(o, "how", json_string(buf));
    db_text(st, 7, buf, sizeof buf);
    json_object_set_new(o, "added_at", json_string(buf));
    db_text(st, 8, buf, sizeof buf);
    json_object_set_new(o, "added_by", json_string(buf));
    json_object_set_new(o, "request_id",
                        sqlite3_column_type(st, 9) == SQLITE_NULL ? json_null()
                                                                  : json_integer(sqlite3_column_int64(st, 9)));
    /* The items it is linked to: all of one request, which the scope already showed. */
    json_t *items = json_array();
    sqlite3_stmt *it;
    if (db_prepare(
            call->db,
            "SELECT i.code FROM run_items ri JOIN items i ON i.id = ri.item_id WHERE ri.run_id = ? ORDER BY i.id", &it,
            NULL) == 0) {
        sqlite3_bind_int64(it, 1, id);
        while (sqlite3_step(it) == SQLITE_ROW) {
            db_text(it, 0, buf, sizeof buf);
            json_array_append_new(items, json_string(buf));
        }
        sqlite3_finalize(it);
    }
    json_object_set_new(o, "items", items);
    return o;
}

/* Run {id} (or every run, id 0; or those of request `request_id`) as the caller's scope shows. */
static int run_query(struct srv_call *call, int64_t id, int64_t request_id, json_t *list, json_t **one,
                     struct pd_err *err)
{
    sqlite3_stmt *st;
    /* clang-format off */
    static const char sql[] = RUN_SELECT "WHERE " SCOPE_RUN_SQL("r.id")
        " AND (:id = 0 OR r.id = :id) AND (:req = 0 OR EXISTS (SELECT 1 FROM run_items ri JOIN items i ON "
        "i.id = ri.item_id WHERE ri.run_id = r.id AND i.request_id = :req)) ORDER BY r.id DESC";
    /* clang-format on */
    int rc = scope_prepare(call->db, &call->scope, sql, &st, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":id"), id);
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":req"), request_id);
    int step, n = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = run_json(call, st);
        n++;
        if (one) {
            *one = o;
            break;
        }
        json_array_append_new(list, o);
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        rc = db_fail(call->db, "reading runs", err);
    sqlite3_finalize(st);
    return rc < 0 ? rc : n;
}

int runs_list(struct srv_call *call)
{
    struct pd_err err;
    pd_err_clear(&err);
    json_t *list = json_array();
    if (run_query(call, 0, 0, list, NULL, &err) < 0) {
        json_decref(list);
        return call_fail(call, &err);
    }
    return call_reply(call, 200, json_pack("{s:o}", "runs", list));
}

/* Run {id} as the caller may see it; NULL with the answer set (404, or the error) when not. */
static json_t *visible_run(struct srv_call *call)
{
    struct pd_err err;
    pd_err_clear(&err);
    json_t *o = NULL;
    if (run_query(call, call->ids[0], 0, NULL, &o, &err) < 0)
        call_fail(call, &err);
    else if (!o)
        call_error(call, 404, "not_found", "no such run");
    return o;
}

int runs_get(struct srv_call *call)
{
    json_t *o = visible_run(call);
    return o ? call_reply(call, 200, o) : 0;
}

int runs_of_request(struct srv_call *call)
{
    struct pd_err err;
    pd_err_clear(&err);
    struct request_brief req;
    if (!request_of_path(call, &req))
        return 0;
    json_t *list = json_array();
    if (run_query(call, 0, req.id, list, NULL, &err) < 0) {
        json_decref(list);
        return call_fail(call, &err);
    }
    return call_reply(call, 200, json_pack("{s:o}", "runs", list));
}

/* The path of run file `name` in DATA_DIR/runs. */
static void run_path(struct srv_call *call, const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/%s/%s", srv_data_dir(call->srv), PD_SERVER_RUNS_DIR, name);
}

/* A run file's name: [A-Za-z0-9._-], ending in .h5, not starting with '.' or '-', no "..": one
 * name in DATA_DIR/runs, never a path. */
static bool run_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 4 || n > 128 || s[0] == '.' || s[0] == '-' || strstr(s, "..") || strcmp(s + n - 3, ".h5") != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

/* Checks the file at `path` (the reader, its SHA-256) and records it as `name`; the answer is the
 * new run. */
static int record_run(struct srv_call *call, const char *path, const char *name, const char *how, struct pd_err *err)
{
    char run_id[128], sha[65];
    size_t specimens = 0;
    int rc = certwork_run_check(path, run_id, &specimens, err);
    if (rc < 0)
        return rc;
    if ((rc = pd_sha256_file(path, sha, err)) < 0)
        return rc;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return pd_err_set(err, PD_EIO, name, "the run file vanished");
    if ((rc = db_begin(call->db, err)) < 0)
        return rc;
    sqlite3_stmt *st;
    if ((rc = db_prepare(call->db,
                         "INSERT INTO runs(name, sha256, size, run_id, specimens, how, added_by, added_at) "
                         "VALUES (?,?,?,?,?,?,?,?)",
                         &st, err)) < 0)
        return rc;
    char now[40];
    db_now_iso(now, sizeof now);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, sha, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)sb.st_size);
    sqlite3_bind_text(st, 4, run_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)specimens);
    sqlite3_bind_text(st, 6, how, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, call->user.id);
    sqlite3_bind_text(st, 8, now, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(call->db, "recording the run", err);
    sqlite3_finalize(st);
    if (rc < 0) {
        db_rollback(call->db);
        return rc == PD_ESTATE ? pd_err_set(err, PD_ESTATE, name, "a run of this name is recorded already") : rc;
    }
    int64_t id = sqlite3_last_insert_rowid(call->db->h);
    if ((rc = db_commit(call->db, err)) < 0)
        return rc;
    json_t *o = NULL;
    if (run_query(call, id, 0, NULL, &o, err) < 0 || !o)
        return pd_err_set(err, PD_EIO, NULL, "the new run could not be read back");
    call_reply(call, 201, o);
    return 0;
}

/* The reader's reason, said of the file's name: the server's paths (the upload's temporary file,
 * the data folder) are not the client's business. */
static int answer_refusal(struct srv_call *call, int rc, const struct pd_err *err, const char *name, const char *path)
{
    if (rc != PD_EDATA && rc != PD_EIO)
        return call_fail(call, err);
    const char *reason = err->msg;
    size_t n = strlen(path);
    if (strncmp(reason, path, n) == 0 && strncmp(reason + n, ": ", 2) == 0)
        reason += n + 2;
    char clean[600] = "";
    size_t used = 0;
    for (const char *p; used < sizeof clean && (p = strstr(reason, path)) != NULL; reason = p + n)
        used += (size_t)snprintf(clean + used, sizeof clean - used, "%.*s%s", (int)(p - reason), reason, name);
    if (used < sizeof clean)
        snprintf(clean + used, sizeof clean - used, "%s", reason);
    return call_error(call, 422, "not_a_run_file", "%s is not accepted: %s", name, clean);
}

/* POST /api/v1/runs: a file already in DATA_DIR/runs (from a station, or copied there). */
int runs_register(struct srv_call *call)
{
    const char *name = json_string_value(json_object_get(call->body, "name"));
    if (!run_name_ok(name))
        return call_error(call, 400, "invalid",
                          "field 'name': a run file's name in the data folder's runs/ (letters, digits, . _ -, "
                          "ending in .h5; no path)");
    char path[4400];
    run_path(call, name, path, sizeof path);
    struct stat sb;
    if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return call_error(call, 404, "not_found", "no run file '%s' in the data folder's runs/", name);
    struct pd_err err;
    pd_err_clear(&err);
    int rc = record_run(call, path, name, "linked", &err);
    return rc < 0 ? answer_refusal(call, rc, &err, name, path) : 0;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* PUT /api/v1/runs/{file}: the file's bytes. Written to a temporary file beside its place (synced),
 * opened with the hostile-file reader, and only then given its name (link: never over another);
 * refused, nothing stays. */
int runs_upload(struct srv_call *call)
{
    const char *name = strrchr(call->path, '/') + 1;
    if (!run_name_ok(name))
        return call_error(call, 400, "invalid", "the file name must end in .h5");
    if (!call->upload_type || (strcasecmp(call->upload_type, "application/x-hdf5") != 0 &&
                               strcasecmp(call->upload_type, "application/octet-stream") != 0))
        return call_error(call, 415, "unsupported_media_type", "the body must be the run file (application/x-hdf5)");
    if (call->upload_len == 0)
        return call_error(call, 400, "invalid", "the body is empty: send the run file's bytes");
    struct pd_err err;
    pd_err_clear(&err);
    char dir[4200], path[4400], tmp[4400];
    snprintf(dir, sizeof dir, "%s/%s", srv_data_dir(call->srv), PD_SERVER_RUNS_DIR);
    if (pd_mkdir_p(dir, &err) < 0)
        return call_fail(call, &err);
    run_path(call, name, path, sizeof path);
    if (access(path, F_OK) == 0)
        return call_error(call, 409, "conflict", "a run file '%s' exists already", name);
    snprintf(tmp, sizeof tmp, "%s/.upload-XXXXXX", dir);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return call_error(call, 500, "internal", "cannot store the upload (logged on the server)");
    bool written = write_all(fd, call->upload, call->upload_len) == 0 && fsync(fd) == 0;
    close(fd);
    if (!written) {
        unlink(tmp);
        pd_log(PD_LOG_ERROR, "server: writing %s: %s", tmp, strerror(errno));
        return call_error(call, 507, "storage_full", "the run file could not be stored (disk full?); nothing kept");
    }
    char run_id[128];
    size_t specimens = 0;
    int rc = certwork_run_check(tmp, run_id, &specimens, &err);
    if (rc < 0) {
        unlink(tmp);
        return answer_refusal(call, rc, &err, name, tmp);
    }
    if (link(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        if (e == EEXIST)
            return call_error(call, 409, "conflict", "a run file '%s' exists already", name);
        return call_error(call, 500, "internal", "cannot name the upload (logged on the server)");
    }
    unlink(tmp);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    rc = record_run(call, path, name, "uploaded", &err);
    if (rc < 0) {
        unlink(path); /* not recorded: not kept */
        return answer_refusal(call, rc, &err, name, path);
    }
    return 0;
}

/* GET /api/v1/runs/{id}/file: the raw file, for the lab and the member whose items it holds. */
int runs_download(struct srv_call *call)
{
    json_t *o = visible_run(call);
    if (!o)
        return 0;
    char path[4400];
    run_path(call, json_string_value(json_object_get(o, "name")), path, sizeof path);
    json_decref(o);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (fd >= 0)
            close(fd);
        return call_error(call, 410, "gone", "the run file is no longer in the data folder");
    }
    unsigned char *data = malloc(sb.st_size ? (size_t)sb.st_size : 1);
    size_t got = 0;
    while (data && got < (size_t)sb.st_size) {
        ssize_t n = read(fd, data + got, (size_t)sb.st_size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!data || got != (size_t)sb.st_size) {
        free(data);
        return call_error(call, 500, "internal", "cannot read the run file (logged on the server)");
    }
    return call_reply_bytes(call, 200, "application/x-hdf5", data, got);
}

/* Moves the request to `testing` (from items received), with its history and the member's notice;
 * inside the caller's transaction. */
static int request_to_testing(struct srv_call *call, struct request_brief *req, const char *detail, struct pd_err *err)
{
    char subject[200], text[2000], material[64];
    utf8_cut(material, req->material, sizeof material);
    snprintf(subject, sizeof subject, "Request %lld: testing (%s)", (long long)req->id, material);
    snprintf(text, sizeof text,
             "Testing of your request %lld (%s) has started: the laboratory recorded test runs of its items.\n",
             (long long)req->id, req->material);
    struct request_step step = {.from = "items received",
                                .to = "testing",
                                .action = "run linked",
                                .detail = detail,
                                .subject = subject,
                                .text = text};
    int rc = request_advance(call, req, &step, err);
    return rc < 0 ? rc : 0;
}

struct link_ctx {
    json_t *wanted; /* item ids asked for (NULL: all) */
    json_t *found;  /* item id → row id */
};
static void collect_item(sqlite3_stmt *st, void *ctx)
{
    struct link_ctx *lc = ctx;
    char code[64];
    db_text(st, 1, code, sizeof code);
    json_object_set_new(lc->found, code, json_integer(sqlite3_column_int64(st, 0)));
}

/* POST /api/v1/requests/{id}/runs: links a run to items of this request. */
int runs_link(struct srv_call *call)
{
    struct pd_err err;
    pd_err_clear(&err);
    int64_t run = json_integer_value(json_object_get(call->body, "run"));
    json_t *wanted = json_object_get(call->body, "items");
    int rc = db_begin(call->db, &err);
    if (rc < 0)
        return call_fail(call, &err);
    static const char *const linking[] = {"items received", "testing", NULL};
    struct request_brief req;
    if (!request_in_state(call, call->ids[0], linking, "runs are linked once its items are received", &req))
        return 0;
    sqlite3_stmt *st;
    if ((rc = db_prepare(call->db,
                         "SELECT r.name, (SELECT i.request_id FROM run_items ri JOIN items i ON i.id = ri.item_id "
                         "WHERE ri.run_id = r.id LIMIT 1) FROM runs r WHERE r.id = ?",
                         &st, &err)) < 0)
        return call_fail(call, &err);
    sqlite3_bind_int64(st, 1, run);
    bool exists = sqlite3_step(st) == SQLITE_ROW;
    char run_name[200] = "";
    int64_t linked_request = 0;
    if (exists) {
        db_text(st, 0, run_name, sizeof run_name);
        linked_request = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (!exists)
        return call_error(call, 400, "invalid", "field 'run': no run %lld", (long long)run);
    /* A run's data are one member's: never linked to two requests. */
    if (linked_request && linked_request != req.id)
        return call_error(call, 409, "conflict", "run %lld is linked to another request", (long long)run);
    struct link_ctx lc = {wanted, json_object()};
    if ((rc = items_of_request(call, req.id, collect_item, &lc, &err)) < 0) {
        json_decref(lc.found);
        return call_fail(call, &err);
    }
    json_t *ids = json_array();
    if (wanted && json_array_size(wanted) > 0) {
        size_t i;
        json_t *v;
        json_array_foreach(wanted, i, v)
        {
            json_t *row = json_object_get(lc.found, json_string_value(v));
            if (!row) {
                json_decref(ids);
                json_decref(lc.found);
                return call_error(call, 400, "invalid", "field 'items[%zu]': '%.40s' is not an item of request %lld", i,
                                  json_string_value(v), (long long)req.id);
            }
            json_array_append(ids, row);
        }
    } else {
        const char *k;
        json_t *v;
        json_object_foreach(lc.found, k, v) json_array_append(ids, v);
    }
    json_decref(lc.found);
    if (json_array_size(ids) == 0) {
        json_decref(ids);
        return call_error(call, 409, "conflict", "request %lld has no items to link the run to", (long long)req.id);
    }
    char now[40];
    db_now_iso(now, sizeof now);
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        if ((rc = db_prepare(call->db,
                             "INSERT INTO run_items(run_id, item_id, linked_by, linked_at) VALUES (?,?,?,?) "
                             "ON CONFLICT DO NOTHING",
                             &st, &err)) < 0)
            break;
        sqlite3_bind_int64(st, 1, run);
        sqlite3_bind_int64(st, 2, json_integer_value(v));
        sqlite3_bind_int64(st, 3, call->user.id);
        sqlite3_bind_text(st, 4, now, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(call->db, "linking the run", &err);
        sqlite3_finalize(st);
        if (rc < 0)
            break;
    }
    char detail[400];
    snprintf(detail, sizeof detail, "run %lld (%s) linked to %zu item(s)", (long long)run, run_name,
             json_array_size(ids));
    json_decref(ids);
    if (rc == 0)
        rc = request_to_testing(call, &req, detail, &err);
    if (rc == 0)
        rc = db_commit(call->db, &err);
    if (rc < 0)
        return call_fail(call, &err);
    return runs_of_request(call);
}
