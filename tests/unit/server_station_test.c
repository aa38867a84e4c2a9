/* server_station_test.c — the station's server side in-process (valgrind, sanitizers): the link to
 * a series' run socket and its Server-Sent Event streams, spoken to over real sockets. The test
 * plays the run's end of the control socket (docs/STATION.md protocol) to inject what a run does
 * and what goes wrong: a series left running is reconnected at the server's start and one whose
 * socket is gone is marked ended; two viewers get the replay and each new event; a viewer that
 * never reads is dropped while the other keeps receiving; commands carry the person's name and
 * the run's ack or error comes back (and into the history); bad commands never reach the run;
 * reviewers watch but may not drive; a second start on a busy instrument is 409; a run that dies
 * before it answers is reported with its exit status and frees the instrument; the run's end
 * ends the streams and records the outcome; a server stopped while a viewer watches ends its stream
 * cleanly and reconnects to the run at its next start. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/srv_db.h"
#include "server/internal.h"
#include "store/store.h"

#define HANG_BOUND_MS SRV_HANG_BOUND_MS

static struct pd_server *srv;
static uint16_t port;
static char cookie[5][65]; /* 3 reviewer, 4 technician */
static int run_listen = -1; /* the socket "the run" listens on (series 1) */
static int run_fd = -1;     /* the server's connection to it */
static struct pd_server_options opt;

/* ---- HTTP (common/srv_db.h) -----------------------------------------------------------------*/
static int connect_server(void)
{
    return srv_connect(port);
}

static void send_request(int fd, const char *method, const char *path, int who, bool csrf, const char *body)
{
    srv_send(fd, method, path, who ? cookie[who] : NULL, csrf, body ? "application/json" : NULL, body,
             body ? strlen(body) : 0);
}

/* The short names these tests were written with (and the station branch's tests in flight use). */
#define readable srv_readable
#define answer   srv_answer

static void call(const char *method, const char *path, int who, bool csrf, const char *body, struct answer *ans)
{
    int fd = connect_server();
    send_request(fd, method, path, who, csrf, body);
    srv_read_answer(fd, ans);
}

/* ---- Event streams: the chunked body taken apart, the events' text kept ----------------------*/
struct stream {
    int fd;
    char raw[1 << 16];
    size_t raw_len;
    char *text; /* the de-chunked body */
    size_t len, cap;
    bool ended;
};

static void stream_pump(struct stream *s) /* moves whole chunks from raw to text */
{
    for (;;) {
        char *crlf = memchr(s->raw, '\n', s->raw_len);
        if (!crlf)
            return;
        size_t size = strtoul(s->raw, NULL, 16);
        size_t head = (size_t)(crlf - s->raw) + 1;
        if (size == 0) {
            s->ended = true;
            return;
        }
        if (s->raw_len < head + size + 2)
            return;
        if (s->len + size + 1 > s->cap) {
            s->cap = (s->len + size + 1) * 2;
            s->text = realloc(s->text, s->cap);
            assert_non_null(s->text);
        }
        memcpy(s->text + s->len, s->raw + head, size);
        s->len += size;
        s->text[s->len] = '\0';
        memmove(s->raw, s->raw + head + size + 2, s->raw_len - head - size - 2);
        s->raw_len -= head + size + 2;
    }
}

static void stream_open(struct stream *s, int who, int64_t series)
{
    memset(s, 0, sizeof *s);
    s->fd = connect_server();
    char path[80];
    snprintf(path, sizeof path, "/api/v1/series/%lld/events", (long long)series);
    send_request(s->fd, "GET", path, who, false, NULL);
    /* the headers */
    char *end = NULL;
    while (!end) {
        assert_true(readable(s->fd, HANG_BOUND_MS));
        ssize_t r = read(s->fd, s->raw + s->raw_len, sizeof s->raw - 1 - s->raw_len);
        assert_true(r > 0);
        s->raw_len += (size_t)r;
        s->raw[s->raw_len] = '\0';
        end = strstr(s->raw, "\r\n\r\n");
    }
    assert_non_null(strstr(s->raw, "HTTP/1.1 200"));
    assert_non_null(strstr(s->raw, "text/event-stream"));
    assert_non_null(strstr(s->raw, "Content-Security-Policy"));
    size_t head = (size_t)(end + 4 - s->raw);
    memmove(s->raw, s->raw + head, s->raw_len - head);
    s->raw_len -= head;
    stream_pump(s);
}

/* Reads until `needle` is in the stream's text (true), or the stream ends (false). */
static bool stream_wait(struct stream *s, const char *needle)
{
    while (!(s->text && strstr(s->text, needle))) {
        if (s->ended)
            return false;
        assert_true(readable(s->fd, HANG_BOUND_MS));
        ssize_t r = read(s->fd, s->raw + s->raw_len, sizeof s->raw - s->raw_len);
        if (r <= 0)
            return false;
        s->raw_len += (size_t)r;
        stream_pump(s);
    }
    return true;
}

static void stream_close(struct stream *s)
{
    close(s->fd);
    free(s->text);
}

/* ---- The run's end of the control socket -------------------------------------------------------*/
static void run_send(const char *line)
{
    size_t n = strlen(line);
    assert_int_equal(send(run_fd, line, n, MSG_NOSIGNAL), (ssize_t)n);
    assert_int_equal(send(run_fd, "\n", 1, MSG_NOSIGNAL), 1);
}

/* The next command line the server sent to the run (parsed). */
static json_t *run_next_command(void)
{
    static char buf[70000];
    static size_t len;
    for (;;) {
        char *nl = memchr(buf, '\n', len);
        if (nl) {
            *nl = '\0';
            json_t *cmd = json_loads(buf, 0, NULL);
            assert_non_null(cmd);
            size_t used = (size_t)(nl - buf) + 1;
            memmove(buf, buf + used, len - used);
            len -= used;
            return cmd;
        }
        assert_true(readable(run_fd, HANG_BOUND_MS));
        ssize_t r = read(run_fd, buf + len, sizeof buf - len);
        assert_true(r > 0);
        len += (size_t)r;
    }
}

/* Answers the server's next command with an ack or an error, after checking it. */
struct run_reply {
    const char *want_cmd;
    const char *error; /* NULL: ack */
    json_t *seen;
};
static void *run_replier(void *arg)
{
    struct run_reply *r = arg;
    r->seen = run_next_command();
    char line[400];
    json_int_t id = json_integer_value(json_object_get(r->seen, "cmd_id"));
    if (r->error)
        snprintf(line, sizeof line, "{\"type\":\"error\",\"t\":1,\"cmd_id\":%lld,\"message\":\"%s\"}", (long long)id,
                 r->error);
    else
        snprintf(line, sizeof line, "{\"type\":\"ack\",\"t\":1,\"cmd_id\":%lld}", (long long)id);
    run_send(line);
    return NULL;
}

static void command_with_reply(const char *path, const char *body, struct run_reply *r, struct answer *ans)
{
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_replier, r), 0);
    call("POST", path, 4, true, body, ans);
    pthread_join(t, NULL);
    assert_string_equal(json_string_value(json_object_get(r->seen, "cmd")), r->want_cmd);
}

/* ---- Setup: a lab, a request with items, a series left running by an earlier server ------------*/
static void add_session(struct pd_srvdb *db, int slot, int user_id)
{
    srv_add_session(db, cookie[slot], user_id);
}

static const char lab_yaml[] =
    "lab: {name: Test Lab, operator: tester}\n"
    "run: {method: iso527, specimens: 5, material: PP}\n"
    "specimen: {dimensions: prompt, caliper: caliper1, width: 10.0, thickness: 4.0}\n"
    "instruments:\n"
    "  - {name: frame1, driver: modbus, transport: 'tcp://127.0.0.1:1', model: LF-1}\n"
    "  - {name: caliper1, driver: serial_line, transport: 'tcp-raw://127.0.0.1:3'}\n"
    "  - {name: frame2, driver: modbus, transport: 'tcp://127.0.0.1:2'}\n"
    "  - {name: caliper2, driver: serial_line, transport: 'tcp-raw://127.0.0.1:4'}\n"
    "  - {name: chamber1, driver: modbus, transport: 'tcp://127.0.0.1:5', channels: [{name: temperature, unit: degC}]}\n"
    "station: {name: test station, key: keys/station.key}\n";

static int setup(void **state)
{
    (void)state;
    if (srv_tmp_setup(state) < 0)
        return -1;
    char path[400];
    snprintf(path, sizeof path, "%s/lab.yaml", tmp_dir);
    FILE *f = fopen(path, "w");
    if (!f || fputs(lab_yaml, f) < 0 || fclose(f) != 0)
        return -1;
    struct pd_srvdb *db;
    if (pd_srvdb_open(tmp_dir, &db, NULL) < 0)
        return -1;
    int64_t a, id;
    if (pd_member_add(db, "A", &a, NULL) < 0)
        return -1;
    if (pd_user_add(db, "amy", "Amy", PD_ROLE_MEMBER, "A", "amy-password-1", &id, NULL) < 0)
        return -1;
    const char *sql =
        "INSERT INTO users(id, login, name, role, member_id, password_hash, created_at) "
        "SELECT 3, 'rae', 'Rae', 'reviewer', NULL, password_hash, 'now' FROM users WHERE id = 1;"
        "INSERT INTO users(id, login, name, role, member_id, password_hash, created_at) "
        "SELECT 4, 'tim', 'Tim Tech', 'technician', NULL, password_hash, 'now' FROM users WHERE id = 1;"
        "INSERT INTO requests VALUES (1, 1, 1, 'PP', 'spec', 'iso527', 3, 'c', '2027-01-01', 'ref', '', 'rule', "
        "'items received', 'now', NULL, NULL, NULL, NULL);"
        "INSERT INTO items VALUES (1, 'IT-2026-000001', 1, 'bar', 'ok', 1, 'shelf', 'now', 4);"
        "INSERT INTO items VALUES (2, 'IT-2026-000002', 1, 'bar', 'ok', 1, 'shelf', 'now', 4);"
        "UPDATE users SET email = 'amy@example.org' WHERE login = 'amy';"; /* the member's notices */
    if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    add_session(db, 3, 3);
    add_session(db, 4, 4);
    /* Series 1 on frame1: left running by an earlier server, its run listening on its socket.
     * Series 2: its socket is gone (the run ended while no server listened). */
    char sock1[400], sock2[400], insert[2000];
    snprintf(sock1, sizeof sock1, "%s/s1.sock", tmp_dir);
    snprintf(sock2, sizeof sock2, "%s/s2.sock", tmp_dir);
    snprintf(insert, sizeof insert,
             "INSERT INTO series VALUES (1, 1, 'frame1', 'iso527', 3, 4, 'now', 'running', NULL, 'r1', NULL, '%s', "
             "'l');"
             "INSERT INTO series VALUES (2, 1, 'frame2', 'iso527', 3, 4, 'now', 'running', NULL, NULL, '%s/none.h5', "
             "'%s', 'l');",
             sock1, tmp_dir, sock2);
    if (sqlite3_exec(db->h, insert, NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    pd_srvdb_close(db);
    run_listen = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    pd_strlcpy(sa.sun_path, sock1, sizeof sa.sun_path);
    if (run_listen < 0 || bind(run_listen, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(run_listen, 4) < 0)
        return -1;
    static char lab_path[400];
    pd_strlcpy(lab_path, path, sizeof lab_path);
    opt = (struct pd_server_options){.listen_addr = "127.0.0.1", .port = 0, .data_dir = tmp_dir, .threads = 2,
                                     .lab_path = lab_path, .polydaq_path = "/bin/false"};
    if (pd_server_start(&opt, &srv, NULL) < 0)
        return -1;
    port = pd_server_port(srv);
    run_fd = accept(run_listen, NULL, NULL); /* the server reconnected at its start */
    return run_fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    pd_server_stop(srv, 5000); /* (NULL when a test stopped it) */
    if (run_fd >= 0)
        close(run_fd);
    close(run_listen);
    return srv_tmp_teardown(state);
}

static int64_t db_int(const char *sql)
{
    struct pd_srvdb *db;
    assert_int_equal(pd_srvdb_open(tmp_dir, &db, NULL), 0);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db->h, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    pd_srvdb_close(db);
    return v;
}

/* ---- Tests (in order: they follow one series) ------------------------------------------------*/
static void test_reconnect_and_stations(void **state)
{
    (void)state;
    /* The series whose socket was gone is ended, with no outcome file: interrupted. */
    assert_int_equal(db_int("SELECT count(*) FROM series WHERE id = 2 AND state = 'failed' AND outcome = "
                            "'interrupted'"),
                     1);
    run_send("{\"type\":\"hello\",\"t\":1,\"run_id\":\"R1\",\"file\":\"/x/run-R1.h5\",\"method\":\"iso527\","
             "\"specimens\":3,\"instrument\":\"frame1\",\"protocol\":1}");
    run_send("{\"type\":\"state\",\"t\":2,\"specimen\":1,\"state\":\"waiting_dims\",\"machine\":\"idle\","
             "\"outcome\":null}");
    struct answer ans;
    /* The hello is recorded by the link's thread: wait for it through the API. */
    for (int i = 0; i < 400; i++) {
        call("GET", "/api/v1/series/1", 3, false, NULL, &ans);
        if (strstr(ans.body, "\"run_id\":\"R1\""))
            break;
        pd_clock_sleep_ns(10 * 1000 * 1000);
    }
    assert_int_equal(ans.status, 200);
    assert_non_null(strstr(ans.body, "\"run_id\":\"R1\""));
    assert_non_null(strstr(ans.body, "\"state\":\"running\""));
    call("GET", "/api/v1/stations", 3, false, NULL, &ans);
    assert_int_equal(ans.status, 200);
    json_t *st = json_loads(ans.body, 0, NULL);
    json_t *stations = json_object_get(st, "stations");
    assert_int_equal(json_array_size(stations), 3); /* the caliper is not a station */
    assert_string_equal(json_string_value(json_object_get(json_array_get(stations, 0), "name")), "frame1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(stations, 0), "state")), "busy");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(stations, 0), "series_id")), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(stations, 1), "state")), "free");
    assert_string_equal(json_string_value(json_array_get(json_object_get(st, "calipers"), 0)), "caliper1");
    /* each frame has the caliper listed after it */
    assert_string_equal(json_string_value(json_object_get(json_array_get(stations, 0), "caliper")), "caliper1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(stations, 1), "caliper")), "caliper2");
    /* a station with channels and no force records; the frames (channels left to the driver) test */
    assert_string_equal(json_string_value(json_object_get(json_array_get(stations, 0), "method")), "iso527");
    assert_string_equal(json_string_value(json_object_get(json_array_get(stations, 2), "name")), "chamber1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(stations, 2), "method")), "record");
    assert_true(json_is_null(json_object_get(json_array_get(stations, 2), "caliper")));
    json_decref(st);
    /* Members have no station. */
    call("GET", "/api/v1/stations", 0, false, NULL, &ans);
    assert_int_equal(ans.status, 401);
}

static void test_viewers_and_slow_viewer(void **state)
{
    (void)state;
    run_send("{\"type\":\"points\",\"t\":3,\"specimen\":1,\"x\":[0,0.1],\"y\":[0,5.5],\"ts\":3}");
    struct stream a, b;
    stream_open(&a, 3, 1); /* the reviewer */
    stream_open(&b, 4, 1); /* the technician */
    /* Both get the replay: hello, state, the points so far. */
    assert_true(stream_wait(&a, "\"type\":\"hello\""));
    assert_true(stream_wait(&a, "\"waiting_dims\""));
    assert_true(stream_wait(&a, "[0,5.5]"));
    assert_true(stream_wait(&b, "[0,5.5]"));
    /* A viewer that never reads, with a small receive buffer. */
    int slow = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(slow, (struct sockaddr *)&sa, sizeof sa), 0);
    send_request(slow, "GET", "/api/v1/series/1/events", 3, false, NULL);
    /* its answer's headers: from here on it is a viewer, and it is not read any more */
    char head[8192];
    size_t hn = 0;
    head[0] = '\0';
    while (!strstr(head, "\r\n\r\n") && hn < sizeof head - 1) {
        assert_true(readable(slow, HANG_BOUND_MS));
        ssize_t r = read(slow, head + hn, 1);
        assert_true(r == 1);
        head[++hn] = '\0';
    }
    assert_non_null(strstr(head, "HTTP/1.1 200"));
    /* 12 MB of points: more than the slow viewer's buffer and the kernel's socket buffers hold
     * (the sender's grows to 4 MiB on loopback). */
    static char line[40000];
    int n = snprintf(line, sizeof line, "{\"type\":\"points\",\"t\":4,\"specimen\":1,\"x\":[");
    for (int i = 0; i < 3000; i++)
        n += snprintf(line + n, sizeof line - (size_t)n, "%s%d.5", i ? "," : "", i);
    n += snprintf(line + n, sizeof line - (size_t)n, "],\"y\":[1],\"ts\":4}");
    size_t flood = 0;
    for (int i = 0; i < 700; i++) {
        flood += (size_t)n;
        run_send(line);
        /* the readers keep up (they are the test; the slow one is not read at all) */
        while (readable(a.fd, 0) && read(a.fd, a.raw + a.raw_len, sizeof a.raw - a.raw_len) > 0)
            ;
        a.raw_len = 0; /* (the flood's text is not needed) */
        while (readable(b.fd, 0) && read(b.fd, b.raw + b.raw_len, sizeof b.raw - b.raw_len) > 0)
            ;
        b.raw_len = 0;
    }
    /* After the flood, a marker: a fresh viewer sees it, and so does a reader that kept up. */
    stream_close(&a);
    stream_close(&b);
    stream_open(&a, 3, 1);
    run_send("{\"type\":\"event\",\"t\":5,\"kind\":\"note\",\"specimen\":1,\"by\":\"x\",\"text\":\"marker-1\"}");
    assert_true(stream_wait(&a, "marker-1"));
    /* The slow viewer was dropped: its connection ends (read until EOF, bounded by the buffer). */
    char junk[65536];
    ssize_t r;
    size_t total = 0;
    while (readable(slow, HANG_BOUND_MS) && (r = read(slow, junk, sizeof junk)) > 0)
        total += (size_t)r;
    assert_true(total < flood); /* it never got the whole flood */
    close(slow);
    stream_close(&a);
}

static void test_commands(void **state)
{
    (void)state;
    struct answer ans;
    struct run_reply r = {.want_cmd = "dims"};
    command_with_reply("/api/v1/series/1/dims", "{\"specimen\":1,\"values\":{\"width\":10.02,\"thickness\":4.01}}", &r,
                       &ans);
    assert_int_equal(ans.status, 200);
    assert_non_null(strstr(ans.body, "\"ack\""));
    assert_string_equal(json_string_value(json_object_get(r.seen, "by")), "Tim Tech");
    assert_true(json_integer_value(json_object_get(r.seen, "cmd_id")) > 0);
    assert_true(json_real_value(json_object_get(json_object_get(r.seen, "values"), "width")) == 10.02);
    json_decref(r.seen);
    /* The run's refusal comes back with its message. */
    struct run_reply e = {.want_cmd = "start", .error = "specimen 2 waits for its dimensions"};
    command_with_reply("/api/v1/series/1/start", NULL, &e, &ans);
    assert_int_equal(ans.status, 422);
    assert_non_null(strstr(ans.body, "specimen 2 waits for its dimensions"));
    json_decref(e.seen);
    struct run_reply inv = {.want_cmd = "invalid"};
    command_with_reply("/api/v1/series/1/invalid", "{\"specimen\":2,\"reason\":\"broke outside the gauge length\"}",
                       &inv, &ans);
    assert_int_equal(ans.status, 200);
    assert_string_equal(json_string_value(json_object_get(inv.seen, "reason")), "broke outside the gauge length");
    json_decref(inv.seen);
    /* Refused before the run: a value with a unit, an unknown field, a reviewer, no CSRF token. */
    call("POST", "/api/v1/series/1/dims", 4, true, "{\"specimen\":1,\"values\":{\"width\":\"10.0 cm\"}}", &ans);
    assert_int_equal(ans.status, 400);
    assert_non_null(strstr(ans.body, "values.width"));
    call("POST", "/api/v1/series/1/note", 4, true, "{\"specimen\":1,\"text\":\"x\",\"by\":\"someone else\"}", &ans);
    assert_int_equal(ans.status, 400);
    call("POST", "/api/v1/series/1/start", 3, true, NULL, &ans);
    assert_int_equal(ans.status, 403);
    call("POST", "/api/v1/series/1/start", 4, false, NULL, &ans);
    assert_int_equal(ans.status, 403);
    call("POST", "/api/v1/series/9/start", 4, true, NULL, &ans);
    assert_int_equal(ans.status, 404);
    /* Nothing of those reached the run: the next line it reads is the next real command. */
    struct run_reply stop = {.want_cmd = "abort"};
    command_with_reply("/api/v1/series/1/abort", NULL, &stop, &ans);
    assert_int_equal(ans.status, 200);
    json_decref(stop.seen);
    /* The history: each action with the person, the refusal with the run's reason. */
    assert_int_equal(db_int("SELECT count(*) FROM series_events WHERE series_id = 1 AND user_id = 4 AND action = "
                            "'dims' AND detail LIKE '%10.02%'"),
                     1);
    assert_int_equal(db_int("SELECT count(*) FROM series_events WHERE series_id = 1 AND action = 'refused start' "
                            "AND detail LIKE '%waits for its dimensions%'"),
                     1);
    assert_int_equal(db_int("SELECT count(*) FROM series_events WHERE action IN ('invalid', 'abort')"), 2);
}

static void test_second_start_and_failed_start(void **state)
{
    (void)state;
    struct answer ans;
    /* frame1 is busy with series 1: 409, nothing recorded. */
    int64_t before = db_int("SELECT count(*) FROM series");
    call("POST", "/api/v1/series", 4, true,
         "{\"request_id\":1,\"item_ids\":[\"IT-2026-000001\"],\"method\":\"iso527\",\"instrument\":\"frame1\"}", &ans);
    assert_int_equal(ans.status, 409);
    assert_non_null(strstr(ans.body, "in use by series 1"));
    assert_int_equal(db_int("SELECT count(*) FROM series"), before);
    /* Bad starts: an item of no such request, a caliper as station, a reviewer. */
    call("POST", "/api/v1/series", 4, true,
         "{\"request_id\":1,\"item_ids\":[\"IT-2026-000009\"],\"method\":\"iso527\",\"instrument\":\"frame2\"}", &ans);
    assert_int_equal(ans.status, 400);
    assert_non_null(strstr(ans.body, "IT-2026-000009"));
    call("POST", "/api/v1/series", 4, true,
         "{\"request_id\":1,\"item_ids\":[\"IT-2026-000001\"],\"method\":\"iso527\",\"instrument\":\"caliper1\"}",
         &ans);
    assert_int_equal(ans.status, 400);
    call("POST", "/api/v1/series", 3, true,
         "{\"request_id\":1,\"item_ids\":[\"IT-2026-000001\"],\"method\":\"iso527\",\"instrument\":\"frame2\"}", &ans);
    assert_int_equal(ans.status, 403);
    /* frame2 is free; the run (here /bin/false) ends before it answers: 422 with its exit status,
     * the series recorded as failed, the instrument free again, the config written for it. */
    call("POST", "/api/v1/series", 4, true,
         "{\"request_id\":1,\"item_ids\":[\"IT-2026-000001\",\"IT-2026-000002\"],\"method\":\"iso527\","
         "\"instrument\":\"frame2\"}",
         &ans);
    assert_int_equal(ans.status, 422);
    assert_non_null(strstr(ans.body, "exit status 1"));
    int64_t id = db_int("SELECT max(id) FROM series");
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM series WHERE id = %lld AND state = 'failed'", (long long)id);
    assert_int_equal(db_int(sql), 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM series_items WHERE series_id = %lld", (long long)id);
    assert_int_equal(db_int(sql), 2);
    assert_int_equal(db_int("SELECT count(*) FROM requests WHERE id = 1 AND state = 'testing'"), 1);
    /* The move to testing is told to the member, as a linked run's is (it was not, once). */
    assert_true(db_int("SELECT count(*) FROM outbox WHERE subject LIKE 'Request 1: testing (%'") >= 1);
    call("GET", "/api/v1/stations", 4, false, NULL, &ans);
    assert_non_null(strstr(ans.body, "\"name\":\"frame2\",\"driver\":\"modbus\",\"model\":\"\",\"series_id\":null"));
    char path[400];
    snprintf(path, sizeof path, "%s/stations/series-%lld.yaml", tmp_dir, (long long)id);
    struct pd_cfg_doc *doc;
    struct pd_err err;
    assert_int_equal(pd_cfg_load_file(path, &doc, &err), 0);
    const struct pd_cfg_node *root = pd_cfg_root(doc);
    assert_string_equal(pd_cfg_scalar(pd_cfg_map_get(pd_cfg_map_get(root, "run"), "specimens")), "2");
    const struct pd_cfg_node *insts = pd_cfg_map_get(root, "instruments");
    assert_int_equal(pd_cfg_seq_len(insts), 2); /* frame2 and its caliper, not frame1 nor frame1's caliper */
    assert_string_equal(pd_cfg_scalar(pd_cfg_map_get(pd_cfg_seq_at(insts, 0), "name")), "frame2");
    assert_string_equal(pd_cfg_scalar(pd_cfg_map_get(pd_cfg_seq_at(insts, 1), "name")), "caliper2");
    /* the lab file names frame1's caliper for the dimensions: frame2's series reads its own */
    assert_string_equal(pd_cfg_scalar(pd_cfg_map_get(pd_cfg_map_get(root, "specimen"), "caliper")), "caliper2");
    const char *key = pd_cfg_scalar(pd_cfg_map_get(pd_cfg_map_get(root, "station"), "key"));
    assert_true(key[0] == '/' && strstr(key, "/keys/station.key"));
    pd_cfg_free(doc);
    struct stat sb;
    snprintf(path, sizeof path, "%s/stations", tmp_dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    /* A recording on the chamber: its config keeps the chamber alone (no caliper to lock and
     * record), no specimen section, one "specimen", method record. */
    call("POST", "/api/v1/series", 4, true,
         "{\"request_id\":1,\"item_ids\":[\"IT-2026-000001\"],\"method\":\"record\",\"instrument\":\"chamber1\"}",
         &ans);
    assert_int_equal(ans.status, 422);
    id = db_int("SELECT max(id) FROM series");
    snprintf(path, sizeof path, "%s/stations/series-%lld.yaml", tmp_dir, (long long)id);
    assert_int_equal(pd_cfg_load_file(path, &doc, &err), 0);
    root = pd_cfg_root(doc);
    assert_string_equal(pd_cfg_scalar(pd_cfg_map_get(pd_cfg_map_get(root, "run"), "method")), "record");
    assert_string_equal(pd_cfg_scalar(pd_cfg_map_get(pd_cfg_map_get(root, "run"), "specimens")), "1");
    assert_null(pd_cfg_map_get(root, "specimen"));
    insts = pd_cfg_map_get(root, "instruments");
    assert_int_equal(pd_cfg_seq_len(insts), 1);
    assert_string_equal(pd_cfg_scalar(pd_cfg_map_get(pd_cfg_seq_at(insts, 0), "name")), "chamber1");
    pd_cfg_free(doc);
}

/* The server stops while a viewer watches a running series: the viewer's stream ends cleanly (its
 * last chunk), the run sees its client go and goes on, the series stays `running`; the server's
 * next start reconnects to it. (The stop's wake-up of parked viewers once copied from a null list
 * for a series without any, which UBSan stopped in the browser test; it is one list now.) */
static void test_stop_and_restart(void **state)
{
    (void)state;
    struct stream a;
    stream_open(&a, 4, 1);
    assert_true(stream_wait(&a, "marker-1"));
    pd_clock_sleep_ns(100 * 1000 * 1000); /* (parked or not, the stop must end it) */
    pd_server_stop(srv, 5000);
    srv = NULL;
    assert_false(stream_wait(&a, "never sent"));
    assert_true(a.ended); /* the terminating chunk, not a cut connection */
    stream_close(&a);
    char c;
    assert_true(readable(run_fd, HANG_BOUND_MS));
    assert_int_equal(read(run_fd, &c, 1), 0); /* the server closed its link */
    close(run_fd);
    assert_int_equal(db_int("SELECT count(*) FROM series WHERE id = 1 AND state = 'running'"), 1);
    assert_int_equal(pd_server_start(&opt, &srv, NULL), 0);
    port = pd_server_port(srv);
    run_fd = accept(run_listen, NULL, NULL);
    assert_true(run_fd >= 0);
    /* what a run gives a new client: hello and the picture so far */
    run_send("{\"type\":\"hello\",\"t\":1,\"run_id\":\"R1\",\"file\":\"/x/run-R1.h5\",\"protocol\":1}");
    run_send("{\"type\":\"event\",\"t\":5,\"kind\":\"note\",\"specimen\":1,\"by\":\"x\",\"text\":\"marker-1\"}");
    struct answer ans;
    call("GET", "/api/v1/stations", 4, false, NULL, &ans);
    assert_non_null(strstr(ans.body, "\"name\":\"frame1\",\"driver\":\"modbus\",\"model\":\"LF-1\",\"series_id\":1"));
}

static void test_end(void **state)
{
    (void)state;
    struct stream a;
    stream_open(&a, 4, 1);
    assert_true(stream_wait(&a, "marker-1")); /* the replay holds the events */
    run_send("{\"type\":\"end\",\"t\":9,\"outcome\":\"aborted\",\"file\":\"/x/run-R1.h5\"}");
    close(run_fd);
    run_fd = -1;
    assert_true(stream_wait(&a, "\"outcome\":\"aborted\""));
    /* the stream ends after the end */
    while (!a.ended) {
        assert_true(readable(a.fd, HANG_BOUND_MS));
        ssize_t r = read(a.fd, a.raw + a.raw_len, sizeof a.raw - a.raw_len);
        if (r <= 0)
            break;
        a.raw_len += (size_t)r;
        stream_pump(&a);
    }
    stream_close(&a);
    struct answer ans;
    for (int i = 0; i < 400; i++) {
        call("GET", "/api/v1/series/1", 4, false, NULL, &ans);
        if (strstr(ans.body, "\"state\":\"finished\""))
            break;
        pd_clock_sleep_ns(10 * 1000 * 1000);
    }
    assert_non_null(strstr(ans.body, "\"outcome\":\"aborted\""));
    /* A command now: the series is not running. */
    call("POST", "/api/v1/series/1/stop", 4, true, NULL, &ans);
    assert_int_equal(ans.status, 409);
    call("GET", "/api/v1/stations", 4, false, NULL, &ans);
    assert_null(strstr(ans.body, "busy"));
}

/* A run file as a station run leaves it, for a series that ended before this server started: two
 * specimens on frame2 with their own dimensions; specimen 1 long (5000 samples, one unread, a peak
 * in the middle), specimen 2 short. */
static void write_ended_run(const char *path)
{
    struct pd_store_attr run_attrs[] = {{.key = "run_id", .type = PD_STORE_STRING, .s = "R-ENDED"},
                                        {.key = "method", .type = PD_STORE_STRING, .s = "iso527"}};
    struct pd_store_instrument inst = {.name = "frame2", .n_channels = 2};
    strcpy(inst.channels[0].name, "force");
    strcpy(inst.channels[0].unit, "N");
    strcpy(inst.channels[1].name, "extension");
    strcpy(inst.channels[1].unit, "mm");
    struct pd_store_attr dims[2][3] = {
        {{.key = "width", .type = PD_STORE_DOUBLE, .d = 10.0}, {.key = "thickness", .type = PD_STORE_DOUBLE, .d = 4.0},
         {.key = "gauge_length", .type = PD_STORE_DOUBLE, .d = 50.0}},
        {{.key = "width", .type = PD_STORE_DOUBLE, .d = 5.0}, {.key = "thickness", .type = PD_STORE_DOUBLE, .d = 2.0},
         {.key = "gauge_length", .type = PD_STORE_DOUBLE, .d = 50.0}},
    };
    struct pd_store_specimen specimens[2] = {{.id = "S01", .n_attrs = 3, .attrs = dims[0]},
                                             {.id = "S02", .n_attrs = 3, .attrs = dims[1]}};
    struct pd_store_layout layout = {.n_run_attrs = 2, .run_attrs = run_attrs, .n_instruments = 1, .instruments = &inst,
                                     .n_specimens = 2, .specimens = specimens, .deflate_level = -1};
    struct pd_store *st;
    struct pd_err err;
    assert_int_equal(pd_store_create(path, &layout, &st, &err), 0);
    size_t sizes[2] = {5000, 10};
    for (size_t k = 0; k < 2; k++) {
        size_t n = sizes[k];
        int64_t *t = malloc(n * sizeof *t), *unc = calloc(n, sizeof *unc);
        uint32_t *q = calloc(n, sizeof *q);
        double *v = malloc(2 * n * sizeof *v);
        assert_true(t && unc && q && v);
        for (size_t i = 0; i < n; i++) {
            t[i] = 1795852800000000000LL + (int64_t)(k * 100000 + i) * 1000000;
            v[2 * i] = 100.0 + (double)i;     /* force, N */
            v[2 * i + 1] = 0.01 * (double)i; /* extension, mm */
        }
        if (k == 0) {
            v[2 * 2500] = 99999.0; /* the peak, inside a bucket */
            v[2 * 10] = NAN;       /* an unread sample: not drawn */
            q[10] = PD_Q_UNREAD | PD_Q_UNREAD_CHANNEL(0);
        }
        assert_int_equal(pd_store_append(st, k, 0, n, t, unc, q, v, &err), 0);
        free(t);
        free(unc);
        free(q);
        free(v);
    }
    assert_int_equal(pd_store_add_event(st, 0, 1795852800000000000LL, "note", "grips checked (by Tim Tech)", &err), 0);
    struct pd_store_attr final[] = {{.key = "outcome", .type = PD_STORE_STRING, .s = "completed"}};
    assert_int_equal(pd_store_close(st, 1, final, &err), 0);
}

/* The stream's events (the de-chunked text's data lines), parsed. */
static json_t *stream_events(const struct stream *s)
{
    json_t *list = json_array();
    for (const char *p = s->text; p && (p = strstr(p, "data: ")) != NULL;) {
        p += 6;
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        json_t *ev = json_loadb(p, (size_t)(nl - p), 0, NULL);
        assert_non_null(ev);
        json_array_append_new(list, ev);
        p = nl;
    }
    return list;
}

static void stream_drain(struct stream *a)
{
    while (!a->ended) {
        assert_true(readable(a->fd, HANG_BOUND_MS));
        ssize_t r = read(a->fd, a->raw + a->raw_len, sizeof a->raw - a->raw_len);
        if (r <= 0)
            break;
        a->raw_len += (size_t)r;
        stream_pump(a);
    }
}

/* A series that ended before this server started: its stream replays the run file (every
 * specimen's curve, decimated for display, its own dimensions; the final state; the end) and
 * ends, twice alike; one whose file is gone is 409 naming it; a command to it is 409. */
static void test_ended_replay(void **state)
{
    (void)state;
    char path[400], sql[1200];
    snprintf(path, sizeof path, "%s/ended.h5", tmp_dir);
    write_ended_run(path);
    struct pd_srvdb *db;
    assert_int_equal(pd_srvdb_open(tmp_dir, &db, NULL), 0);
    snprintf(sql, sizeof sql,
             "INSERT INTO series VALUES (50, 1, 'frame2', 'iso527', 2, 4, 'now', 'finished', 'completed', 'R-ENDED', "
             "'%s', '', 'l')",
             path);
    assert_int_equal(sqlite3_exec(db->h, sql, NULL, NULL, NULL), SQLITE_OK);
    pd_srvdb_close(db);
    for (int round = 0; round < 2; round++) { /* the second from the link the first one left */
        struct stream a;
        stream_open(&a, 3, 50);
        stream_drain(&a);
        assert_true(a.ended);
        json_t *evs = stream_events(&a);
        stream_close(&a);
        assert_int_equal(json_array_size(evs), 6); /* hello, state, specimen 1's note, points ×2, end */
        json_t *note = json_array_get(evs, 2);
        assert_string_equal(json_string_value(json_object_get(note, "type")), "event");
        assert_string_equal(json_string_value(json_object_get(note, "kind")), "note");
        assert_int_equal(json_integer_value(json_object_get(note, "specimen")), 1);
        assert_string_equal(json_string_value(json_object_get(note, "text")), "grips checked (by Tim Tech)");
        json_t *hello = json_array_get(evs, 0);
        assert_string_equal(json_string_value(json_object_get(hello, "type")), "hello");
        assert_string_equal(json_string_value(json_object_get(hello, "run_id")), "R-ENDED");
        assert_string_equal(json_string_value(json_object_get(hello, "instrument")), "frame2");
        assert_int_equal(json_integer_value(json_object_get(hello, "specimens")), 2);
        json_t *st = json_array_get(evs, 1);
        assert_string_equal(json_string_value(json_object_get(st, "state")), "finished");
        assert_string_equal(json_string_value(json_object_get(st, "outcome")), "completed");
        for (int k = 1; k <= 2; k++) {
            json_t *p = json_array_get(evs, (size_t)(2 + k));
            assert_string_equal(json_string_value(json_object_get(p, "type")), "points");
            assert_int_equal(json_integer_value(json_object_get(p, "specimen")), k);
            json_t *x = json_object_get(p, "x"), *y = json_object_get(p, "y");
            size_t n = json_array_size(x);
            assert_int_equal(json_array_size(y), n);
            double area = k == 1 ? 40.0 : 10.0;
            if (k == 2) { /* short: every sample, with its own cross-section */
                assert_int_equal(n, 10);
                for (size_t i = 0; i < n; i++) {
                    assert_float_equal(json_number_value(json_array_get(y, i)), (100.0 + (double)i) / area, 1e-6);
                    assert_float_equal(json_number_value(json_array_get(x, i)), 0.01 * (double)i / 50.0 * 100.0, 1e-9);
                }
                continue;
            }
            assert_true(n > 1000 && n <= 2000);
            bool peak = false;
            double prev_x = -1;
            for (size_t i = 0; i < n; i++) {
                double xi = json_number_value(json_array_get(x, i)), yi = json_number_value(json_array_get(y, i));
                assert_true(xi > prev_x); /* time order, each sample once */
                prev_x = xi;
                assert_true(fabs(xi - 0.2) > 1e-9); /* sample 10 (unread) is not drawn */
                peak |= fabs(yi - 99999.0 / area) < 1e-3;
            }
            assert_true(peak);
            assert_float_equal(json_number_value(json_array_get(x, n - 1)), 49.99 / 50.0 * 100.0, 1e-9);
            assert_float_equal(json_number_value(json_array_get(y, n - 1)), 5099.0 / area, 1e-6); /* the last sample */
        }
        json_t *end = json_array_get(evs, 5);
        assert_string_equal(json_string_value(json_object_get(end, "type")), "end");
        assert_string_equal(json_string_value(json_object_get(end, "outcome")), "completed");
        assert_string_equal(json_string_value(json_object_get(end, "file")), path);
        json_decref(evs);
    }
    struct answer ans;
    call("POST", "/api/v1/series/50/start", 4, true, NULL, &ans);
    assert_int_equal(ans.status, 409);
    /* Series 2's run file is gone: 409 naming it, nothing streamed. */
    call("GET", "/api/v1/series/2/events", 3, false, NULL, &ans);
    assert_int_equal(ans.status, 409);
    assert_non_null(strstr(ans.body, "none.h5"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reconnect_and_stations),
        cmocka_unit_test(test_viewers_and_slow_viewer),
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_second_start_and_failed_start),
        cmocka_unit_test(test_stop_and_restart),
        cmocka_unit_test(test_end),
        cmocka_unit_test(test_ended_replay),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
