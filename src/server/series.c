/*
 * series.c — test series started from the station page: POST /api/v1/series checks the request,
 * its items and the station, reserves the instrument (one series per instrument: a second start
 * gets 409), records the series and spawns `polydaq run … --control SOCKET` in a session of its
 * own (so it outlives the browser and the server); the control actions go to the run as commands
 * with the person's name and into the series' history; the live events are the link's (sse.c).
 * At a start the server reconnects to the series still running and takes the state of those that
 * ended from their run files.
 */
#define _GNU_SOURCE 1 /* POSIX_SPAWN_SETSID */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/internal.h"
#include "store/store.h"

extern char **environ;

#define START_WAIT_MS 30000  /* the run starts its simulators and instruments before it listens */
#define COMMAND_WAIT_MS 10000 /* a caliper reading or a machine command answers well within */

const struct srv_field series_create_body[] = {
    {"request_id", FT_INTEGER, true, 1, 999999999999999L, NULL},
    {"item_ids", FT_STRING_ARRAY, true, 1, 100, NULL}, /* the lab's item ids (IT-2026-0001) */
    {"method", FT_STRING, true, 1, 31, NULL},
    {"instrument", FT_STRING, true, 1, 63, NULL},
    {"specimens", FT_INTEGER, false, 1, 1000, NULL}, /* default: one per item */
    {"material", FT_STRING, false, 1, 200, NULL},
    {NULL, 0, false, 0, 0, NULL},
};
const struct srv_field series_dims_body[] = {
    {"specimen", FT_INTEGER, true, 1, 1000, NULL},
    {"values", FT_NUMBER_MAP, true, 1, 8, NULL},
    {NULL, 0, false, 0, 0, NULL},
};
const struct srv_field series_caliper_body[] = {
    {"specimen", FT_INTEGER, true, 1, 1000, NULL},
    {"field", FT_STRING, true, 1, 32, NULL},
    {NULL, 0, false, 0, 0, NULL},
};
const struct srv_field series_invalid_body[] = {
    {"specimen", FT_INTEGER, true, 1, 1000, NULL},
    {"reason", FT_STRING, true, 1, 200, NULL},
    {NULL, 0, false, 0, 0, NULL},
};
const struct srv_field series_note_body[] = {
    {"specimen", FT_INTEGER, true, 1, 1000, NULL},
    {"text", FT_STRING, true, 1, 1000, NULL},
    {NULL, 0, false, 0, 0, NULL},
};

#define SERIES_SELECT                                                                                          \
    "SELECT s.id, s.request_id, s.instrument, s.method, s.specimens, u.login, u.name, s.started_at, s.state, " \
    "s.outcome, s.run_id, s.file, s.socket, s.log FROM series s JOIN requests r ON r.id = s.request_id JOIN "  \
    "users u ON u.id = s.started_by "

static json_t *text_or_null(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? json_string((const char *)t) : json_null();
}

static json_t *series_json(struct srv_call *call, sqlite3_stmt *st)
{
    char buf[4200];
    json_t *o = json_object();
    int64_t id = sqlite3_column_int64(st, 0);
    json_object_set_new(o, "id", json_integer(id));
    json_object_set_new(o, "request_id", json_integer(sqlite3_column_int64(st, 1)));
    db_text(st, 2, buf, sizeof buf);
    json_object_set_new(o, "instrument", json_string(buf));
    db_text(st, 3, buf, sizeof buf);
    json_object_set_new(o, "method", json_string(buf));
    json_object_set_new(o, "specimens", json_integer(sqlite3_column_int64(st, 4)));
    db_text(st, 5, buf, sizeof buf);
    json_object_set_new(o, "started_by", json_string(buf));
    db_text(st, 6, buf, sizeof buf);
    json_object_set_new(o, "started_by_name", json_string(buf));
    db_text(st, 7, buf, sizeof buf);
    json_object_set_new(o, "started_at", json_string(buf));
    db_text(st, 8, buf, sizeof buf);
    json_object_set_new(o, "state", json_string(buf));
    json_object_set_new(o, "outcome", text_or_null(st, 9));
    json_object_set_new(o, "run_id", text_or_null(st, 10));
    json_object_set_new(o, "file", text_or_null(st, 11));
    json_t *state = NULL, *hello = NULL;
    int phase = live_describe(srv_hub(call->srv), id, &state, &hello);
    json_object_set_new(o, "live", json_boolean(phase == 1));
    json_object_set_new(o, "run_state", state ? state : json_null());
    json_decref(hello);
    return o;
}

/* Series `id` in the caller's scope: its JSON (with items and history) or NULL (*rc 0: not found). */
static json_t *load_series(struct srv_call *call, int64_t id, bool full, struct pd_err *err, int *rc)
{
    sqlite3_stmt *st;
    *rc = scope_prepare(call->db, &call->scope, SERIES_SELECT "WHERE s.id = :id AND " SCOPE_SQL("r.member_id"), &st,
                        err);
    if (*rc < 0)
        return NULL;
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":id"), id);
    int step = sqlite3_step(st);
    json_t *o = NULL;
    if (step == SQLITE_ROW)
        o = series_json(call, st);
    else
        *rc = step == SQLITE_DONE ? 0 : db_fail(call->db, "reading the series", err);
    sqlite3_finalize(st);
    if (!o || !full)
        return o;
    json_t *items = json_array(), *history = json_array();
    char buf[2100];
    if (db_prepare(call->db,
                   "SELECT i.code FROM series_items si JOIN items i ON i.id = si.item_id WHERE si.series_id = ? "
                   "ORDER BY i.id",
                   &st, err) == 0) {
        sqlite3_bind_int64(st, 1, id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            db_text(st, 0, buf, sizeof buf);
            json_array_append_new(items, json_string(buf));
        }
        sqlite3_finalize(st);
    }
    if (db_prepare(call->db,
                   "SELECT e.at, u.login, u.name, e.action, e.detail FROM series_events e JOIN users u ON u.id = "
                   "e.user_id WHERE e.series_id = ? ORDER BY e.id",
                   &st, err) == 0) {
        sqlite3_bind_int64(st, 1, id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_t *e = json_object();
            const char *keys[] = {"at", "by", "by_name", "action", "detail"};
            for (int c = 0; c < 5; c++) {
                db_text(st, c, buf, sizeof buf);
                json_object_set_new(e, keys[c], json_string(buf));
            }
            json_array_append_new(history, e);
        }
        sqlite3_finalize(st);
    }
    json_object_set_new(o, "items", items);
    json_object_set_new(o, "history", history);
    return o;
}

static int series_event(struct srv_call *call, int64_t series_id, const char *action, const char *detail,
                        struct pd_err *err)
{
    return db_event_add(call->db,
                        "INSERT INTO series_events(series_id, at, user_id, action, detail) VALUES (?,?,?,?,?)",
                        series_id, call->user.id, action, detail, "recording the series' history", err);
}

int series_list(struct srv_call *call)
{
    struct pd_err err;
    pd_err_clear(&err);
    sqlite3_stmt *st;
    if (scope_prepare(call->db, &call->scope,
                      SERIES_SELECT "WHERE " SCOPE_SQL("r.member_id") " ORDER BY s.id DESC LIMIT 200", &st, &err) < 0)
        return call_fail(call, &err);
    json_t *list = json_array();
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(list, series_json(call, st));
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) {
        json_decref(list);
        db_fail(call->db, "reading the series", &err);
        return call_fail(call, &err);
    }
    return call_reply(call, 200, json_pack("{s:o}", "series", list));
}

int series_get(struct srv_call *call)
{
    struct pd_err err;
    pd_err_clear(&err);
    int rc;
    json_t *o = load_series(call, call->ids[0], true, &err, &rc);
    if (!o)
        return rc < 0 ? call_fail(call, &err) : call_error(call, 404, "not_found", "no such series");
    return call_reply(call, 200, o);
}

/* ---- Starting a series ----------------------------------------------------------------------*/
static bool method_name_ok(const char *s)
{
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return s[0] != '\0';
}

/* The last line of the run's log that says something (its error), for the answer. */
static void log_tail(const char *path, char *out, size_t size)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[600];
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n > 0)
            utf8_cut(out, line, size);
    }
    fclose(f);
}

static int spawn_run(const char *polydaq, const char *config, const char *runs_dir, const char *sock,
                     const char *login, const char *log_path, pid_t *pid, struct pd_err *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    /* A session of its own (a server's SIGTERM or a closed terminal never reaches it), with the
     * signals the server's threads block (sigwait) unblocked and at their defaults. */
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGHUP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *argv[] = {(char *)"polydaq", (char *)"run", (char *)config, (char *)"-o", (char *)runs_dir,
                    (char *)"--control", (char *)sock, (char *)"--control-user", (char *)login, (char *)"-q",
                    NULL};
    int e = posix_spawn(pid, polydaq, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (e != 0)
        return pd_err_set_os(err, PD_EIO, e, polydaq, "cannot start the run");
    return 0;
}

/* A run that never answered (alive and not reaped, so its pid is still its own): SIGTERM (it
 * closes its file), SIGKILL after 5 s, and reaped. */
static void stop_child(pid_t pid)
{
    kill(pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(pid, NULL, WNOHANG) != 0)
            return;
        pd_clock_sleep_ns(50 * 1000 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static int mkdir_private(const char *path, struct pd_err *err)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return pd_err_set_os(err, PD_EIO, errno, path, "cannot make the folder");
    return 0;
}

static void set_series_state(struct pd_srvdb *db, int64_t id, const char *state, const char *outcome)
{
    sqlite3_stmt *st;
    struct pd_err err;
    if (db_prepare(db, "UPDATE series SET state = ?, outcome = coalesce(?, outcome) WHERE id = ?", &st, &err) < 0)
        return;
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    if (outcome)
        sqlite3_bind_text(st, 2, outcome, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, id);
    if (sqlite3_step(st) != SQLITE_DONE)
        pd_log(PD_LOG_ERROR, "series %lld: cannot record its state: %s", (long long)id, sqlite3_errmsg(db->h));
    sqlite3_finalize(st);
}

int series_create(struct srv_call *call)
{
    struct pd_err err;
    pd_err_clear(&err);
    const struct srv_lab *lab = srv_lab(call->srv);
    if (!lab)
        return call_error(call, 409, "no_lab", "this server has no lab config (polydaq serve --lab FILE)");
    const char *instrument = json_string_value(json_object_get(call->body, "instrument"));
    const char *method = json_string_value(json_object_get(call->body, "method"));
    const char *material = json_string_value(json_object_get(call->body, "material"));
    json_t *item_ids = json_object_get(call->body, "item_ids");
    if (!lab_station(lab, instrument))
        return call_error(call, 400, "invalid", "field 'instrument': no station '%s' in the lab config", instrument);
    if (!method_name_ok(method))
        return call_error(call, 400, "invalid", "field 'method' must be a method name such as iso527");
    int64_t request_id = json_integer_value(json_object_get(call->body, "request_id"));
    struct request_brief req;
    int rc = request_visible(call, request_id, &req, &err);
    if (rc < 0)
        return call_fail(call, &err);
    if (rc == 0)
        return call_error(call, 404, "not_found", "no such request");
    if (strcmp(req.state, "items received") != 0 && strcmp(req.state, "testing") != 0)
        return call_error(call, 409, "conflict", "request %lld is %s: a series needs its items received first",
                          (long long)request_id, req.state);
    /* Every item named must be one of this request's. */
    int64_t item_rowids[100];
    size_t n_items = json_array_size(item_ids);
    for (size_t i = 0; i < n_items; i++) {
        const char *code = json_string_value(json_array_get(item_ids, i));
        sqlite3_stmt *st;
        if (db_prepare(call->db, "SELECT id FROM items WHERE code = ? AND request_id = ?", &st, &err) < 0)
            return call_fail(call, &err);
        sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, request_id);
        int step = sqlite3_step(st);
        item_rowids[i] = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_finalize(st);
        if (!item_rowids[i])
            return call_error(call, 400, "invalid", "field 'item_ids' item %zu: '%s' is not an item of request %lld",
                              i + 1, code, (long long)request_id);
        for (size_t j = 0; j < i; j++)
            if (item_rowids[j] == item_rowids[i])
                return call_error(call, 400, "invalid", "field 'item_ids' item %zu: '%s' is named twice", i + 1, code);
    }
    json_t *sp = json_object_get(call->body, "specimens");
    long specimens = sp ? (long)json_integer_value(sp) : (long)n_items;

    /* One series per instrument: the server's reservation answers a second start at once (the
     * run's own lock on the instrument stands behind it). */
    struct live_hub *hub = srv_hub(call->srv);
    if (live_reserve(hub, instrument, &err) < 0)
        return call_error(call, 409, "instrument_busy", "%s", err.msg);

    char dir[4200], sock[4300], log_path[4300], config[4300], runs_dir[4300], now[40];
    snprintf(dir, sizeof dir, "%s/stations", srv_data_dir(call->srv));
    snprintf(runs_dir, sizeof runs_dir, "%s/runs", srv_data_dir(call->srv));
    db_now_iso(now, sizeof now);
    int64_t id = 0;
    sqlite3_stmt *st = NULL;
    if ((rc = mkdir_private(dir, &err)) < 0 || (rc = mkdir_private(runs_dir, &err)) < 0 ||
        (rc = db_begin(call->db, &err)) < 0)
        goto fail;
    if ((rc = db_prepare(call->db,
                         "INSERT INTO series(request_id, instrument, method, specimens, started_by, started_at, "
                         "state, socket, log) VALUES (?,?,?,?,?,?,'starting','','')",
                         &st, &err)) < 0)
        goto fail;
    sqlite3_bind_int64(st, 1, request_id);
    sqlite3_bind_text(st, 2, instrument, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, method, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, specimens);
    sqlite3_bind_int64(st, 5, call->user.id);
    sqlite3_bind_text(st, 6, now, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_fail(call->db, "recording the series", &err);
        goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    id = sqlite3_last_insert_rowid(call->db->h);
    snprintf(sock, sizeof sock, "%s/series-%lld.sock", dir, (long long)id);
    snprintf(log_path, sizeof log_path, "%s/series-%lld.log", dir, (long long)id);
    snprintf(config, sizeof config, "%s/series-%lld.yaml", dir, (long long)id);
    if ((rc = db_prepare(call->db, "UPDATE series SET socket = ?, log = ? WHERE id = ?", &st, &err)) < 0)
        goto fail;
    sqlite3_bind_text(st, 1, sock, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, log_path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, id);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_fail(call->db, "recording the series", &err);
        goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    for (size_t i = 0; i < n_items; i++) {
        if ((rc = db_prepare(call->db, "INSERT INTO series_items(series_id, item_id) VALUES (?,?)", &st, &err)) < 0)
            goto fail;
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, item_rowids[i]);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = db_fail(call->db, "linking the items", &err);
            goto fail;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    char detail[400];
    snprintf(detail, sizeof detail, "%s on %s, %ld specimens", method, instrument, specimens);
    if ((rc = series_event(call, id, "start series", detail, &err)) < 0)
        goto fail;
    snprintf(detail, sizeof detail, "series %lld: %s on %s, %ld specimens", (long long)id, method, instrument,
             specimens);
    /* The first series moves the request to testing, told to the member as a linked run is. */
    char subject[200], text[1000], material_cut[64];
    utf8_cut(material_cut, req.material, sizeof material_cut);
    snprintf(subject, sizeof subject, "Request %lld: testing (%s)", (long long)request_id, material_cut);
    snprintf(text, sizeof text,
             "Testing of your request %lld (%s) has started: the laboratory started a test series.\n",
             (long long)request_id, req.material);
    struct request_step step = {.from = "items received",
                                .to = "testing",
                                .action = "series started",
                                .detail = detail,
                                .subject = subject,
                                .text = text};
    if ((rc = request_advance(call, &req, &step, &err)) < 0)
        goto fail;
    if ((rc = db_commit(call->db, &err)) < 0)
        goto fail;
    live_assign(hub, instrument, id);

    /* The run: its config, the process, its socket. */
    pid_t pid = 0;
    char login[PD_LOGIN_MAX + 1];
    pd_strlcpy(login, call->user.login, sizeof login);
    if ((rc = lab_write_series_config(lab, instrument, method, specimens, material ? material : req.material, config,
                                      &err)) < 0 ||
        (rc = spawn_run(srv_polydaq(call->srv), config, runs_dir, sock, login, log_path, &pid, &err)) < 0 ||
        (rc = live_attach(hub, id, sock, pid, START_WAIT_MS, &err)) < 0) {
        live_release(hub, instrument);
        set_series_state(call->db, id, "failed", "failed");
        char tail[400];
        log_tail(log_path, tail, sizeof tail);
        if (pid > 0 && waitpid(pid, NULL, WNOHANG) == 0) /* still starting after the wait: stopped, not left */
            stop_child(pid);
        pd_log(PD_LOG_WARN, "series %lld did not start: %s (log: %s)", (long long)id, err.msg, tail);
        /* The run's own refusal (its instrument lock held by a run the server does not know of,
         * a config it cannot use) is the message the technician needs. */
        bool busy = strstr(tail, "in use") != NULL;
        return call_error(call, busy ? 409 : 422, busy ? "instrument_busy" : "run_failed", "series %lld: %s",
                          (long long)id, tail[0] ? tail : err.msg);
    }
    /* The run's hello names its run id and file: recorded before the answer, so the series is
     * linked to its run file even if this server stops at once (the link's observer records it
     * too, for a reconnect). */
    json_t *hello = live_wait_hello(hub, id, START_WAIT_MS);
    if (hello) {
        series_observe(call->srv, id, hello);
        json_decref(hello);
    }
    json_t *o = load_series(call, id, true, &err, &rc);
    if (!o)
        return call_error(call, 500, "internal", "the new series could not be read back");
    return call_reply(call, 201, o);
fail:
    sqlite3_finalize(st);
    db_rollback(call->db);
    live_release(hub, instrument);
    return call_fail(call, &err);
}

/* ---- Control ---------------------------------------------------------------------------------*/
int series_command(struct srv_call *call)
{
    struct pd_err err;
    pd_err_clear(&err);
    const char *action = strrchr(call->path, '/') + 1; /* the router matched one of the actions */
    int rc;
    json_t *series = load_series(call, call->ids[0], false, &err, &rc);
    if (!series)
        return rc < 0 ? call_fail(call, &err) : call_error(call, 404, "not_found", "no such series");
    json_decref(series);
    /* The command as the protocol has it: the body's fields, the action and the person. */
    json_t *cmd = call->body ? json_deep_copy(call->body) : json_object();
    char by[128];
    utf8_cut(by, call->user.name, sizeof by);
    json_object_set_new(cmd, "cmd", json_string(action));
    json_object_set_new(cmd, "by", json_string(by));
    char *detail = call->body ? json_dumps(call->body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_t *answer = NULL;
    rc = live_command(srv_hub(call->srv), call->ids[0], cmd, COMMAND_WAIT_MS, &answer, &err);
    json_decref(cmd);
    const char *type = answer ? json_string_value(json_object_get(answer, "type")) : NULL;
    bool accepted = rc == 0 && type && strcmp(type, "ack") == 0;
    /* The history holds what was asked and what the run said, accepted or not. */
    char hist_action[64];
    snprintf(hist_action, sizeof hist_action, "%s%s", accepted ? "" : "refused ", action);
    char hist_detail[1400];
    const char *why = rc < 0 ? err.msg : !accepted ? json_string_value(json_object_get(answer, "message")) : NULL;
    snprintf(hist_detail, sizeof hist_detail, "%s%s%s", detail ? detail : "", why ? (detail ? " — " : "") : "",
             why ? why : "");
    struct pd_err herr;
    if (db_begin(call->db, &herr) == 0 &&
        (series_event(call, call->ids[0], hist_action, hist_detail, &herr) < 0 || db_commit(call->db, &herr) < 0))
        pd_log(PD_LOG_ERROR, "series %lld: %s", (long long)call->ids[0], herr.msg);
    free(detail);
    if (rc == PD_ESTATE) {
        json_decref(answer);
        return call_error(call, 409, "not_running", "%s", err.msg);
    }
    if (rc < 0) {
        json_decref(answer);
        return call_error(call, rc == PD_ETIMEOUT ? 504 : 502, "run_unavailable", "%s", err.msg);
    }
    if (!accepted) {
        const char *msg = json_string_value(json_object_get(answer, "message"));
        int r = call_error(call, 422, "refused", "%s", msg ? msg : "the run refused the command");
        json_decref(answer);
        return r;
    }
    return call_reply(call, 200, json_pack("{s:s,s:o}", "action", action, "ack", answer));
}

/* ---- The curve of a series that ended before this server started ------------------------------
 * Its run file holds every sample; a late viewer gets the picture a live link would have kept:
 * the run's hello, each specimen's stress-strain points (decimated for display only, at most
 * REPLAY_POINTS per specimen as the run sends them: each bucket's lowest and highest stress and its
 * last sample, in time order), the final state and the end. */
#define REPLAY_POINTS 2000

static pthread_mutex_t replay_lock = PTHREAD_MUTEX_INITIALIZER; /* one file read at a time */

static char *dump_line(json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/* A recording's curve: the instrument's first channel over the time since the run's start (`t0`,
 * its start_time_ns), as the run's live points (docs/STATION.md "A recording"). */
struct replay_axes {
    bool recording;
    bool shore; /* ISO 868: each reading's hardness over its dwell, no dimensions needed */
    const char *channel; /* the recording's channel */
    int64_t t0;
};

/* One specimen's points event, or NULL (no samples or no dimensions: nothing to draw). */
static char *points_line(struct pd_run *run, size_t k, size_t inst, int64_t t_now, const struct replay_axes *ax)
{
    double b = 1, h = 1, l0 = 1;
    if (!ax->recording && !ax->shore &&
        (pd_run_specimen_attr_double(run, k, "width", &b) < 0 ||
         pd_run_specimen_attr_double(run, k, "thickness", &h) < 0 ||
         pd_run_specimen_attr_double(run, k, "gauge_length", &l0) < 0 || !(b > 0) || !(h > 0) || !(l0 > 0)))
        return NULL;
    struct pd_err err;
    double *force = NULL, *ext = NULL;
    int64_t *t = NULL;
    size_t nf = 0, ne = 0, nt = 0;
    char *out = NULL;
    size_t out_len = 0;
    const char *y_channel = ax->recording ? ax->channel : ax->shore ? "hardness" : "force";
    if (pd_run_read_channel(run, k, inst, y_channel, &force, &nf, &err) < 0 ||
        pd_run_read_time(run, k, inst, &t, &nt, &err) < 0)
        goto done;
    if (ax->recording) { /* x: seconds since the run's start */
        ext = malloc((nt ? nt : 1) * sizeof *ext);
        if (!ext)
            goto done;
        for (size_t i = 0; i < nt; i++)
            ext[i] = (double)(t[i] - ax->t0) / 1e9;
        ne = nt;
        l0 = 100.0; /* x = ext / l0 × 100 below: the seconds as they are */
    } else if (pd_run_read_channel(run, k, inst, ax->shore ? "dwell" : "extension", &ext, &ne, &err) < 0) {
        goto done;
    }
    size_t n = nf < ne ? nf : ne;
    n = n < nt ? n : nt;
    if (n == 0)
        goto done;
    FILE *f = open_memstream(&out, &out_len);
    if (!f)
        goto done;
    /* Three points per bucket at most; each sample once, in time order. */
    size_t bucket = n <= REPLAY_POINTS ? 1 : (3 * n + REPLAY_POINTS - 1) / REPLAY_POINTS;
    size_t *pick = malloc(3 * (n / bucket + 1) * sizeof *pick);
    size_t n_pick = 0;
    for (size_t i0 = 0; pick && i0 < n; i0 += bucket) {
        size_t i1 = i0 + bucket < n ? i0 + bucket : n;
        size_t lo = SIZE_MAX, hi = SIZE_MAX, last = SIZE_MAX;
        for (size_t i = i0; i < i1; i++) {
            if (!isfinite(force[i]) || !isfinite(ext[i]))
                continue;
            if (lo == SIZE_MAX || force[i] < force[lo])
                lo = i;
            if (hi == SIZE_MAX || force[i] > force[hi])
                hi = i;
            last = i;
        }
        size_t three[3] = {lo, hi, last};
        for (int a = 0; a < 3; a++) /* ascending, each once */
            for (int c = a + 1; c < 3; c++)
                if (three[c] < three[a]) {
                    size_t x = three[a];
                    three[a] = three[c];
                    three[c] = x;
                }
        for (int a = 0; a < 3; a++)
            if (three[a] != SIZE_MAX && (a == 0 || three[a] != three[a - 1]))
                pick[n_pick++] = three[a];
    }
    fprintf(f, "{\"type\":\"points\",\"t\":%lld,\"specimen\":%zu,\"x\":[", (long long)t_now, k + 1);
    for (size_t i = 0; pick && i < n_pick; i++)
        fprintf(f, "%s%.17g", i ? "," : "", ax->recording || ax->shore ? ext[pick[i]] : ext[pick[i]] / l0 * 100.0);
    fputs("],\"y\":[", f);
    for (size_t i = 0; pick && i < n_pick; i++)
        fprintf(f, "%s%.17g", i ? "," : "", ax->recording || ax->shore ? force[pick[i]] : force[pick[i]] / (b * h));
    fprintf(f, "],\"ts\":%lld,\"from_file\":true}", (long long)(n_pick ? t[pick[n_pick - 1]] : t[n - 1]));
    bool empty = n_pick == 0;
    free(pick);
    if (fclose(f) != 0 || empty) {
        free(out);
        out = NULL;
    }
done:
    free(force);
    free(ext);
    free(t);
    return out;
}

/* The replay of series `series` (its JSON: instrument, method, outcome) from its run file. */
static int file_replay(const char *file, const json_t *series, char ***lines_out, size_t *n_out, struct pd_err *err)
{
    struct pd_run *run;
    pthread_mutex_lock(&replay_lock);
    int rc = pd_run_open(file, &run, err);
    if (rc < 0) {
        pthread_mutex_unlock(&replay_lock);
        return rc;
    }
    const char *instrument = json_string_value(json_object_get(series, "instrument"));
    size_t inst = SIZE_MAX, idx;
    for (size_t i = 0; i < pd_run_instrument_count(run); i++)
        if (strcmp(pd_run_instrument_name(run, i), instrument) == 0)
            inst = i;
    if (inst == SIZE_MAX && pd_run_find_channel(run, "force", &inst, &idx) < 0)
        inst = SIZE_MAX;
    size_t n_spec = pd_run_specimen_count(run);
    char **lines = calloc(n_spec + 3, sizeof *lines);
    size_t n = 0;
    int64_t now = pd_clock_utc_ns();
    if (!lines) {
        rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
        goto done;
    }
    json_t *channels = json_array();
    for (size_t c = 0; inst != SIZE_MAX && c < pd_run_channel_count(run, inst); c++) {
        const struct pd_store_channel *ch = pd_run_channel(run, inst, c);
        json_array_append_new(channels, json_pack("{s:s,s:s}", "name", ch->name, "unit", ch->unit));
    }
    const char *run_id = pd_run_attr(run, "run_id");
    const char *method = json_string_value(json_object_get(series, "method"));
    struct replay_axes ax = {.recording = method && strcmp(method, "record") == 0,
                             .shore = method && strcmp(method, "iso868") == 0};
    const struct pd_store_channel *first = inst != SIZE_MAX && pd_run_channel_count(run, inst) ? pd_run_channel(run, inst, 0) : NULL;
    const char *t0 = pd_run_attr(run, "start_time_ns");
    if (ax.recording && first) {
        ax.channel = first->name;
        ax.t0 = t0 ? strtoll(t0, NULL, 10) : 0;
    } else if (ax.recording) {
        inst = SIZE_MAX; /* nothing to draw */
    }
    json_t *hello = json_pack("{s:s,s:I,s:s,s:s,s:s,s:I,s:s,s:o,s:{s:s,s:s,s:s,s:s},s:i,s:b}", "type", "hello", "t",
                              (json_int_t)now, "run_id", run_id ? run_id : "", "file", file, "method", method,
                              "specimens", (json_int_t)n_spec, "instrument", instrument, "channels", channels, "plot",
                              "x", ax.recording ? "time" : ax.shore ? "dwell" : "strain", "x_unit",
                              ax.recording || ax.shore ? "s" : "%", "y",
                              ax.channel ? ax.channel : ax.shore ? "hardness" : "stress", "y_unit",
                              ax.channel ? first->unit : ax.shore ? "1" : "MPa",
                              "protocol", 1, "from_file", 1);
    if (hello && ax.recording)
        json_object_set_new(hello, "t0", json_integer(ax.t0));
    lines[n++] = dump_line(hello);
    /* Per specimen: what its events recorded (dimensions, start, stop, invalid marks, notes, each
     * naming the person in its text), then its curve. */
    size_t n_events = 0;
    for (size_t k = 0; k < n_spec; k++)
        n_events += pd_run_event_count(run, k);
    char **grown = realloc(lines, (n_spec + 3 + n_events) * sizeof *lines);
    if (!grown) {
        rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
        goto done;
    }
    lines = grown;
    for (size_t k = 0; k < n_spec; k++) {
        size_t count = pd_run_event_count(run, k);
        for (size_t i = 0; i < count; i++) {
            int64_t t;
            const char *kind, *text;
            if (pd_run_event(run, k, i, &t, &kind, &text) < 0)
                continue;
            lines[n++] = dump_line(json_pack("{s:s,s:I,s:s,s:I,s:s,s:s,s:b}", "type", "event", "t", (json_int_t)t,
                                             "kind", kind ? kind : "", "specimen", (json_int_t)(k + 1), "by", "",
                                             "text", text ? text : "", "from_file", 1));
        }
        char *p = inst != SIZE_MAX ? points_line(run, k, inst, now, &ax) : NULL;
        if (p)
            lines[n++] = p;
    }
    /* The outcome as the server recorded it from the run's end (the protocol's name), else the file's. */
    const char *outcome = json_string_value(json_object_get(series, "outcome"));
    const char *file_outcome = pd_run_attr(run, "outcome");
    if (!outcome)
        outcome = file_outcome && strcmp(file_outcome, "incomplete") != 0 ? file_outcome
                  : file_outcome                                          ? "failed"
                                                                          : "interrupted";
    const char *reason = pd_run_attr(run, "outcome_reason");
    lines[n++] = dump_line(json_pack("{s:s,s:I,s:I,s:s,s:s,s:s}", "type", "state", "t", (json_int_t)now, "specimen",
                                     (json_int_t)(n_spec ? n_spec : 1), "state", "finished", "machine", "idle",
                                     "outcome", outcome));
    lines[n++] = dump_line(json_pack("{s:s,s:I,s:s,s:s,s:s,s:b}", "type", "end", "t", (json_int_t)now, "outcome",
                                     outcome, "file", file, "reason", reason ? reason : "", "from_file", 1));
    for (size_t i = 0; i < n; i++)
        if (!lines[i])
            rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
done:
    pd_run_close(run);
    pthread_mutex_unlock(&replay_lock);
    if (rc < 0 && lines) {
        for (size_t i = 0; i < n; i++)
            free(lines[i]);
        free(lines);
        return rc;
    }
    *lines_out = lines;
    *n_out = n;
    return rc;
}

int series_events(struct srv_call *call)
{
    struct pd_err err;
    pd_err_clear(&err);
    int rc;
    json_t *series = load_series(call, call->ids[0], false, &err, &rc);
    if (!series)
        return rc < 0 ? call_fail(call, &err) : call_error(call, 404, "not_found", "no such series");
    struct live_hub *hub = srv_hub(call->srv);
    json_t *state = NULL, *hello = NULL;
    int phase = live_describe(hub, call->ids[0], &state, &hello);
    json_decref(state);
    json_decref(hello);
    const char *file = json_string_value(json_object_get(series, "file"));
    if (phase < 0 && file && file[0]) { /* ended before this server started: its curve is in the file */
        char **lines = NULL;
        size_t n = 0;
        rc = file_replay(file, series, &lines, &n, &err);
        if (rc == 0) {
            rc = live_load_ended(hub, call->ids[0], json_string_value(json_object_get(series, "instrument")), lines,
                                 n, &err);
            for (size_t i = 0; i < n; i++)
                free(lines[i]);
            free(lines);
        }
        if (rc < 0) {
            json_decref(series);
            pd_log(PD_LOG_WARN, "series %lld: its run file cannot be replayed: %s", (long long)call->ids[0], err.msg);
            return call_error(call, 409, "not_live", "series %lld ended before this server started and its run "
                              "file cannot be read: %s", (long long)call->ids[0], err.msg);
        }
    }
    json_decref(series);
    if (live_open_stream(hub, call, call->ids[0], &err) < 0)
        return err.code == PD_ESTATE ? call_error(call, 409, "not_live", "%s", err.msg) : call_fail(call, &err);
    return 0;
}

/* ---- A server's start: the series it left running ---------------------------------------------*/
/* The outcome a run file states (after its run ended while no server listened), or NULL. */
static void outcome_of_file(const char *file, char *out, size_t size)
{
    out[0] = '\0';
    struct pd_run *run;
    struct pd_err err;
    if (!file[0] || pd_run_open(file, &run, &err) < 0)
        return;
    const char *o = pd_run_attr(run, "outcome");
    pd_strlcpy(out, o ? o : "", size);
    pd_run_close(run);
}

int series_reconnect(struct pd_server *srv, struct pd_srvdb *db, struct pd_err *err)
{
    sqlite3_stmt *st;
    int rc = db_prepare(db, "SELECT id, instrument, socket, coalesce(file, '') FROM series WHERE state IN "
                            "('starting','running') ORDER BY id",
                        &st, err);
    if (rc < 0)
        return rc;
    struct live_hub *hub = srv_hub(srv);
    struct {
        int64_t id;
        char state[16], outcome[32];
    } done[64];
    size_t n_done = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        char instrument[64], sock[4300], file[4300];
        db_text(st, 1, instrument, sizeof instrument);
        db_text(st, 2, sock, sizeof sock);
        db_text(st, 3, file, sizeof file);
        struct pd_err e;
        if (live_reserve(hub, instrument, &e) == 0) {
            live_assign(hub, instrument, id);
            if (live_attach(hub, id, sock, 0, 0, &e) == 0) {
                pd_log(PD_LOG_INFO, "series %lld on %s: still running, reconnected", (long long)id, instrument);
                continue;
            }
            live_release(hub, instrument);
        }
        if (n_done < sizeof done / sizeof done[0]) { /* its socket is gone: it ended meanwhile */
            done[n_done].id = id;
            outcome_of_file(file, done[n_done].outcome, sizeof done[n_done].outcome);
            pd_strlcpy(done[n_done].state, done[n_done].outcome[0] ? "finished" : "failed",
                       sizeof done[n_done].state);
            if (!done[n_done].outcome[0])
                pd_strlcpy(done[n_done].outcome, "interrupted", sizeof done[n_done].outcome);
            pd_log(PD_LOG_INFO, "series %lld on %s ended while no server listened: %s", (long long)id, instrument,
                   done[n_done].outcome);
            n_done++;
        }
    }
    sqlite3_finalize(st);
    for (size_t i = 0; i < n_done; i++)
        set_series_state(db, done[i].id, done[i].state, done[i].outcome);
    return 0;
}

/* The link's news (from its thread): the run's hello names its id and file; its end, the outcome. */
void series_observe(void *ctx, int64_t series_id, const json_t *event)
{
    struct pd_server *srv = ctx;
    struct pd_srvdb *db;
    struct pd_err err;
    if (series_id <= 0 || db_connect(srv_data_dir(srv), &db, &err) < 0)
        return;
    const char *type = json_string_value(json_object_get(event, "type"));
    const char *file = json_string_value(json_object_get(event, "file"));
    sqlite3_stmt *st;
    if (type && strcmp(type, "hello") == 0 &&
        db_prepare(db, "UPDATE series SET state = 'running', run_id = ?, file = coalesce(?, file) WHERE id = ?", &st,
                   &err) == 0) {
        sqlite3_bind_text(st, 1, json_string_value(json_object_get(event, "run_id")), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, file, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, series_id);
        if (sqlite3_step(st) != SQLITE_DONE)
            pd_log(PD_LOG_ERROR, "series %lld: cannot record its run: %s", (long long)series_id, sqlite3_errmsg(db->h));
        sqlite3_finalize(st);
    } else if (type && strcmp(type, "end") == 0) {
        const char *outcome = json_string_value(json_object_get(event, "outcome"));
        set_series_state(db, series_id, "finished", outcome ? outcome : "interrupted");
        if (file && db_prepare(db, "UPDATE series SET file = ? WHERE id = ?", &st, &err) == 0) {
            sqlite3_bind_text(st, 1, file, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(st, 2, series_id);
            sqlite3_step(st);
            sqlite3_finalize(st);
        }
    }
    pd_srvdb_close(db);
}
