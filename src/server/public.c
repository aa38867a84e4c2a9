/*
 * public.c — certificate verification for anyone, without a login: the page a certificate's QR
 * code leads to (GET /v/CERT-…, HTML made here, so it works without JavaScript), the same facts as
 * JSON, the check of an uploaded JSON or PDF against the lab's registry (the same verification as
 * `polydaq verify --registry`), and the keyring and revocation list `registry publish` wrote.
 *
 * What it may reveal: an issued (or later superseded or withdrawn) certificate's number, state,
 * issue date, lab, signing key and document hash — what the certificate and the lab's published
 * revocation list say anyway. A draft, a certificate under review and a number never used get the
 * same 404, byte for byte; nothing here names a member, a request or a person. Looking up numbers
 * that do not exist and uploading files are throttled per client (throttle.c), so the numbers
 * cannot be walked and the verifier cannot be used as a free CPU.
 */
#define _GNU_SOURCE 1 /* memmem */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "registry/registry.h"
#include "server/internal.h"
#include "server/verify_upload.h"
#include "trust/trust.h"

#define CERTS_SUBDIR "certs"   /* DATA/certs: the registry and its exports */
#define PUBLIC_SUBDIR "public" /* DATA/public: keyring.txt, revocations.json (`registry publish -o`) */
#define LOOKUP_FREE_MISSES 30  /* unknown numbers a client may look up before it has to wait */
#define CHECK_FREE_UPLOADS 20  /* uploads a client may have checked before it has to wait */

const struct srv_field srv_raw_body[] = {{.name = NULL}};

bool public_cert_id_ok(const char *s, size_t n)
{
    if (n < 5 + 6 || n > 5 + 12 || strncmp(s, "CERT-", 5) != 0)
        return false;
    for (size_t i = 5; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

bool public_upload_path(const char *path)
{
    size_t n = strlen(path);
    return n > 6 && strcmp(path + n - 6, "/check") == 0 &&
           (strncmp(path, "/v/", 3) == 0 || strncmp(path, "/api/v1/public/", 15) == 0);
}

/* The CERT-… segment of the path (the router checked its form). */
static void path_cert_id(const struct srv_call *call, char out[24])
{
    const char *p = strstr(call->path, "/CERT-");
    out[0] = '\0';
    if (!p)
        return;
    p++;
    size_t n = strcspn(p, "/");
    if (n < 24) {
        memcpy(out, p, n);
        out[n] = '\0';
    }
}

/* ---- HTML, built as text with every value escaped ----------------------------------------------*/
struct html {
    char *s;
    size_t len, cap;
    bool failed;
};

static void html_bytes(struct html *h, const char *text, size_t n)
{
    if (h->failed)
        return;
    if (h->len + n + 1 > h->cap) {
        size_t cap = h->cap ? h->cap : 4096;
        while (cap < h->len + n + 1)
            cap *= 2;
        char *grown = realloc(h->s, cap);
        if (!grown) {
            h->failed = true;
            return;
        }
        h->s = grown;
        h->cap = cap;
    }
    memcpy(h->s + h->len, text, n);
    h->len += n;
    h->s[h->len] = '\0';
}

static void html_raw(struct html *h, const char *text)
{
    html_bytes(h, text, strlen(text));
}

/* A value as text: the five characters HTML gives meaning to become references. */
static void html_text(struct html *h, const char *text)
{
    for (const char *p = text ? text : ""; *p;) {
        size_t plain = strcspn(p, "<>&\"'"); /* copied as one run */
        html_bytes(h, p, plain);
        p += plain;
        switch (*p) {
        case '<': html_raw(h, "&lt;"); break;
        case '>': html_raw(h, "&gt;"); break;
        case '&': html_raw(h, "&amp;"); break;
        case '"': html_raw(h, "&quot;"); break;
        case '\'': html_raw(h, "&#39;"); break;
        default: continue; /* the end */
        }
        p++;
    }
}

static void html_head(struct html *h, const char *title)
{
    html_raw(h, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                "<meta name=\"referrer\" content=\"no-referrer\">\n<title>");
    html_text(h, title);
    html_raw(h, "</title>\n<link rel=\"icon\" href=\"/web/favicon.svg\" type=\"image/svg+xml\">\n"
                "<link rel=\"stylesheet\" href=\"/web/verify.css\">\n"
                "<script type=\"module\" src=\"/web/verify.js\"></script>\n</head>\n<body>\n<main>\n");
}

static void html_foot(struct html *h)
{
    html_raw(h, "<footer><p>The lab's published keys, for <code>polydaq verify</code> offline: "
                "<a href=\"/keys/keyring.txt\">keyring.txt</a> and "
                "<a href=\"/keys/revocations.json\">revocations.json</a>.</p></footer>\n</main>\n</body>\n</html>\n");
}

static int reply_html(struct srv_call *call, int status, struct html *h)
{
    if (h->failed || !h->s) {
        free(h->s);
        return call_error(call, 500, "internal", "out of memory");
    }
    return call_reply_bytes(call, status, "text/html; charset=utf-8", (unsigned char *)h->s, h->len);
}

/* The one answer for a number that is not an issued certificate of this lab: the same for a number
 * never used, a draft and a certificate under review. */
static int not_found(struct srv_call *call, bool html)
{
    if (!html)
        return call_error(call, 404, "not_found", "this laboratory has issued no certificate with this number");
    struct html h = {0};
    html_head(&h, "Certificate not found");
    html_raw(&h, "<h1>Certificate not found</h1>\n<p class=\"verdict verdict-bad\">This laboratory has issued no "
                 "certificate with this number.</p>\n<p>Check the number on the certificate, or ask the "
                 "laboratory that issued it.</p>\n");
    html_foot(&h);
    return reply_html(call, 404, &h);
}

/* A refused upload: JSON for the API, a page for the form (a person sent it). */
static int refuse(struct srv_call *call, bool html, int status, const char *code, const char *message)
{
    if (!html)
        return call_error(call, status, code, "%s", message);
    char id[24];
    path_cert_id(call, id);
    struct html h = {0};
    html_head(&h, "Certificate check");
    html_raw(&h, "<h1>Certificate check</h1>\n<p id=\"verdict\" class=\"verdict verdict-bad\" data-verdict=\"refused\">");
    html_text(&h, message);
    html_raw(&h, "</p>\n<p><a href=\"/v/");
    html_text(&h, id);
    html_raw(&h, "\">Back to the certificate's page</a></p>\n");
    html_foot(&h);
    return reply_html(call, status, &h);
}

static int throttled(struct srv_call *call, bool html, int64_t wait_s)
{
    call->retry_after_s = (int)wait_s;
    if (!html)
        return call_error(call, 429, "too_many_attempts", "too many requests from this address; wait %lld s",
                          (long long)wait_s);
    struct html h = {0};
    char line[160];
    html_head(&h, "Too many requests");
    snprintf(line, sizeof line, "<h1>Too many requests</h1>\n<p>Please wait %lld s and try again.</p>\n",
             (long long)wait_s);
    html_raw(&h, line);
    html_foot(&h);
    return reply_html(call, 429, &h);
}

/* ---- What the registry says about a number ------------------------------------------------------*/
struct public_cert {
    char id[24];
    char status[16]; /* issued | superseded | withdrawn */
    char issued[40];
    char lab[256];
    char key_id[32];
    char public_key[72];
    char document_sha256[65];
    char superseded_by[32];
    char retired[40]; /* when withdrawn or superseded */
    char reason[512];
};

static void certs_dir(const struct srv_call *call, char *buf, size_t size)
{
    snprintf(buf, size, "%s/" CERTS_SUBDIR, srv_data_dir(call->srv));
}

/* The registry of this connection (internal.h), opened at its first use; NULL (with *rc 0) when
 * the data folder has none yet. */
static struct pd_registry *registry_of(struct srv_call *call, int *rc, struct pd_err *err)
{
    *rc = 0;
    if (call->db->registry)
        return call->db->registry;
    char dir[4200];
    certs_dir(call, dir, sizeof dir);
    if (!pd_registry_exists(dir))
        return NULL;
    struct pd_registry *reg = malloc(sizeof *reg);
    if (!reg) {
        *rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    if ((*rc = pd_registry_open(reg, dir, 0, err)) < 0) {
        free(reg);
        return NULL;
    }
    call->db->registry = reg;
    return reg;
}

/* What the page shows from the signed document itself: the lab's name and the signing key. Read
 * with SQLite's JSON functions on the server's connection: jansson parsing the whole document
 * (~27 kB) into objects for these three strings was half of the page's CPU. Anything that is not
 * a string there (or a document that is not JSON) gives "", as before. */
static void document_facts(struct srv_call *call, const char *document, struct public_cert *out)
{
    sqlite3_stmt *st;
    if (db_prepare_kept(call->db,
                        "SELECT json_extract(?1, '$.lab.name', '$.signature.key_id', '$.signature.public_key')", &st,
                        NULL) < 0)
        return;
    sqlite3_bind_text(st, 1, document, -1, SQLITE_STATIC);
    json_t *facts = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT)
        facts = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL); /* ["lab", "key id", "key"] */
    db_release(st);
    const char *lab = json_string_value(json_array_get(facts, 0));
    const char *key_id = json_string_value(json_array_get(facts, 1));
    const char *pk = json_string_value(json_array_get(facts, 2));
    pd_strlcpy(out->lab, lab ? lab : "", sizeof out->lab);
    pd_strlcpy(out->key_id, key_id ? key_id : "", sizeof out->key_id);
    pd_strlcpy(out->public_key, pk ? pk : "", sizeof out->public_key);
    json_decref(facts);
}

/* ---- Facts already looked up ----------------------------------------------------------------------
 * Why: reading a certificate's row (its ~27 kB signed document, across overflow pages) and the
 * document's facts was ~90 % of a public page's CPU, ~8 times the rest of the request. What the page
 * shows changes only when the registry does, so each connection keeps what it found, valid while
 * the registry's `PRAGMA data_version` is the one it was found under: that counter moves with every
 * commit of any other connection or process (a withdrawal by `polydaq registry withdraw` shows at
 * the next request) — not with this connection's own commits, so it must stay read-only. Numbers that are not public are not kept (each lookup of one still counts
 * against the client's throttle). Per connection, so without locks; bounded: emptied when 3/4 full
 * (12 288 certificates, ~15 MB). */
#define PUBLIC_CACHE_SLOTS 16384u /* a power of two; entries allocated when used (~1.2 kB each) */
struct public_cache {
    struct sqlite3 *registry_db; /* the connection data_version was prepared on */
    sqlite3_stmt *data_version;
    int64_t version; /* of the entries below */
    size_t used;
    struct public_cert *slot[PUBLIC_CACHE_SLOTS]; /* NULL: free */
};

static void cache_clear(struct public_cache *cache)
{
    for (size_t i = 0; i < PUBLIC_CACHE_SLOTS; i++) {
        free(cache->slot[i]);
        cache->slot[i] = NULL;
    }
    cache->used = 0;
}

void public_cache_free(struct public_cache *cache)
{
    if (!cache)
        return;
    cache_clear(cache);
    sqlite3_finalize(cache->data_version);
    free(cache);
}

static size_t cache_home(const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h & (PUBLIC_CACHE_SLOTS - 1);
}

/* The connection's cache, emptied when the registry changed since its entries were found; NULL
 * (no caching, every lookup reads the registry) when it cannot be had. */
static struct public_cache *cache_current(struct pd_srvdb *db, struct pd_registry *reg)
{
    struct public_cache *cache = db->public_cache;
    if (cache && cache->registry_db != reg->db) { /* the registry was opened again */
        public_cache_free(cache);
        cache = db->public_cache = NULL;
    }
    if (!cache) {
        if (!(cache = calloc(1, sizeof *cache)))
            return NULL;
        if (sqlite3_prepare_v2(reg->db, "PRAGMA data_version", -1, &cache->data_version, NULL) != SQLITE_OK) {
            public_cache_free(cache);
            return NULL;
        }
        cache->registry_db = reg->db;
        cache->version = -1;
        db->public_cache = cache;
    }
    int64_t version = -1;
    if (sqlite3_step(cache->data_version) == SQLITE_ROW)
        version = sqlite3_column_int64(cache->data_version, 0);
    sqlite3_reset(cache->data_version);
    if (version < 0)
        return NULL;
    if (version != cache->version) {
        cache_clear(cache);
        cache->version = version;
    }
    return cache;
}

static const struct public_cert *cache_find(const struct public_cache *cache, const char *id)
{
    for (size_t i = cache_home(id), k = 0; k < PUBLIC_CACHE_SLOTS && cache->slot[i];
         k++, i = (i + 1) & (PUBLIC_CACHE_SLOTS - 1))
        if (strcmp(cache->slot[i]->id, id) == 0)
            return cache->slot[i];
    return NULL;
}

static void cache_add(struct public_cache *cache, const struct public_cert *pc)
{
    if (cache->used >= PUBLIC_CACHE_SLOTS / 4 * 3)
        cache_clear(cache);
    struct public_cert *copy = malloc(sizeof *copy);
    if (!copy)
        return; /* not kept: looked up again next time */
    *copy = *pc;
    size_t i = cache_home(pc->id);
    while (cache->slot[i])
        i = (i + 1) & (PUBLIC_CACHE_SLOTS - 1);
    cache->slot[i] = copy;
    cache->used++;
}

/* 1: found and public (filled in); 0: no such issued certificate; negative: the registry failed. */
static int lookup(struct srv_call *call, const char *id, struct public_cert *out, struct pd_err *err)
{
    int rc;
    struct pd_registry *reg = registry_of(call, &rc, err);
    if (!reg)
        return rc;
    struct public_cache *cache = cache_current(call->db, reg);
    const struct public_cert *known = cache ? cache_find(cache, id) : NULL;
    if (known) {
        *out = *known;
        return 1;
    }
    struct pd_registry_cert c;
    struct pd_err missing;
    rc = pd_registry_cert_get(reg, id, &c, &missing);
    if (rc < 0 && missing.code == PD_ESTATE)
        return 0; /* no such number */
    if (rc < 0) { /* opened again at the next lookup */
        public_cache_free(call->db->public_cache); /* its statement is on this connection */
        call->db->public_cache = NULL;
        pd_registry_close(reg);
        free(reg);
        call->db->registry = NULL;
        *err = missing;
        return rc;
    }
    bool visible = strcmp(c.status, "issued") == 0 || strcmp(c.status, "superseded") == 0 ||
                   strcmp(c.status, "withdrawn") == 0;
    if (visible) {
        memset(out, 0, sizeof *out);
        pd_strlcpy(out->id, c.id, sizeof out->id);
        pd_strlcpy(out->status, c.status, sizeof out->status);
        pd_strlcpy(out->issued, c.issued, sizeof out->issued);
        pd_strlcpy(out->document_sha256, c.document_sha256, sizeof out->document_sha256);
        pd_strlcpy(out->superseded_by, c.superseded_by, sizeof out->superseded_by);
        pd_strlcpy(out->retired, c.withdrawn, sizeof out->retired);
        pd_strlcpy(out->reason, c.reason, sizeof out->reason);
        document_facts(call, c.document, out);
        if (cache)
            cache_add(cache, out);
    }
    pd_registry_cert_free(&c);
    return visible ? 1 : 0;
}

/* Looks the path's number up, throttling clients that look up numbers that do not exist:
 * 1 found, 0 answered (404, 429 or an error). */
static int find_or_answer(struct srv_call *call, bool html, struct public_cert *pc)
{
    char key[96];
    snprintf(key, sizeof key, "lookup:%s", call->client);
    /* Read before the query: a failure counted meanwhile moves it and voids the memo. */
    uint64_t generation = throttle_generation();
    struct pd_srvdb *db = call->db;
    if (db->lookup_free_generation != generation || strcmp(db->lookup_free_key, key) != 0) {
        int64_t wait = throttle_wait_s(db, key);
        if (wait > 0) {
            throttled(call, html, wait);
            return 0;
        }
        pd_strlcpy(db->lookup_free_key, key, sizeof db->lookup_free_key);
        db->lookup_free_generation = generation;
    }
    char id[24];
    path_cert_id(call, id);
    struct pd_err err;
    pd_err_clear(&err);
    int rc = lookup(call, id, pc, &err);
    if (rc < 0) {
        call_fail(call, &err);
        return 0;
    }
    if (rc == 0) {
        throttle_fail(call->db, key, LOOKUP_FREE_MISSES);
        not_found(call, html);
        return 0;
    }
    return 1;
}

/* "2026-12-03T17:08:44.380318559Z" as "2026-12-03 17:08:44 UTC" for people (anything else as it is). */
static const char *readable_time(const char *iso, char *buf, size_t size)
{
    if (strlen(iso) >= 20 && iso[10] == 'T' && iso[strlen(iso) - 1] == 'Z')
        snprintf(buf, size, "%.10s %.8s UTC", iso, iso + 11);
    else
        snprintf(buf, size, "%s", iso);
    return buf;
}

static const char *status_sentence(const struct public_cert *pc, char *buf, size_t size)
{
    char when[64];
    if (strcmp(pc->status, "superseded") == 0)
        snprintf(buf, size, "Superseded by %s on %s", pc->superseded_by, readable_time(pc->retired, when, sizeof when));
    else if (strcmp(pc->status, "withdrawn") == 0)
        snprintf(buf, size, "Withdrawn on %s", readable_time(pc->retired, when, sizeof when));
    else
        snprintf(buf, size, "Issued and valid");
    return buf;
}

/* ---- GET /v/{cert} -------------------------------------------------------------------------------*/
static void html_row(struct html *h, const char *term, const char *value, bool code)
{
    html_raw(h, "<dt>");
    html_text(h, term);
    html_raw(h, code ? "</dt><dd><code>" : "</dt><dd>");
    html_text(h, value);
    html_raw(h, code ? "</code></dd>\n" : "</dd>\n");
}

static void upload_form(struct html *h, const char *id)
{
    html_raw(h, "<h2>Check your copy</h2>\n<p>Upload the certificate's JSON file (the signed original) or its PDF; "
                "the laboratory's server checks it against its registry.</p>\n<form method=\"post\" action=\"/v/");
    html_text(h, id);
    html_raw(h, "/check\" enctype=\"multipart/form-data\">\n<label for=\"file\">Certificate file (JSON or PDF, up to "
                "4 MiB)</label>\n<input type=\"file\" id=\"file\" name=\"file\" required "
                "accept=\".json,.pdf,application/json,application/pdf\">\n<button type=\"submit\">Check the "
                "file</button>\n</form>\n");
}

int public_page(struct srv_call *call)
{
    struct public_cert pc;
    if (!find_or_answer(call, true, &pc))
        return 0;
    struct html h = {0};
    char title[80], sentence[200];
    snprintf(title, sizeof title, "Certificate %s", pc.id);
    html_head(&h, title);
    html_raw(&h, "<h1>");
    html_text(&h, title);
    html_raw(&h, "</h1>\n<p id=\"status\" class=\"verdict ");
    html_raw(&h, strcmp(pc.status, "issued") == 0 ? "verdict-good" : "verdict-bad");
    html_raw(&h, "\" data-status=\"");
    html_text(&h, pc.status);
    html_raw(&h, "\">");
    html_text(&h, status_sentence(&pc, sentence, sizeof sentence));
    if (strcmp(pc.status, "superseded") == 0) {
        html_raw(&h, " — see <a href=\"/v/");
        html_text(&h, pc.superseded_by);
        html_raw(&h, "\">");
        html_text(&h, pc.superseded_by);
        html_raw(&h, "</a>");
    }
    html_raw(&h, "</p>\n");
    if (strcmp(pc.status, "issued") != 0 && pc.reason[0]) {
        html_raw(&h, "<p>Reason: ");
        html_text(&h, pc.reason);
        html_raw(&h, "</p>\n");
    }
    /* verify.js compares the address's #fragment (the QR code's hash, which never reaches the
     * server) with the hash below; without JavaScript the reader compares them by eye. */
    html_raw(&h, "<p id=\"hash-check\" class=\"verdict\" role=\"status\" aria-live=\"polite\" hidden></p>\n");
    html_raw(&h, "<dl>\n");
    html_row(&h, "Certificate", pc.id, false);
    char when[64];
    html_row(&h, "Issued", readable_time(pc.issued, when, sizeof when), false);
    html_row(&h, "Laboratory", pc.lab, false);
    html_row(&h, "Signing key (Ed25519 key id)", pc.key_id, true);
    html_row(&h, "Signing key (public key)", pc.public_key, true);
    html_raw(&h, "<dt>Document hash (SHA-256 of the signed JSON, as in the QR code)</dt><dd><code id=\"doc-hash\">");
    html_text(&h, pc.document_sha256);
    html_raw(&h, "</code></dd>\n</dl>\n");
    html_raw(&h, "<p class=\"hint\">The QR code's address ends with <code>#</code> and the document hash: it must be "
                 "the hash above.</p>\n");
    upload_form(&h, pc.id);
    html_foot(&h);
    return reply_html(call, 200, &h);
}

/* ---- GET /api/v1/public/certificates/{cert} ---------------------------------------------------------*/
static json_t *public_json(const struct public_cert *pc)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:s},s:s}", "certificate", pc->id, "status", pc->status, "issued",
                          pc->issued, "lab", pc->lab, "signing_key", "key_id", pc->key_id, "public_key", pc->public_key,
                          "document_sha256", pc->document_sha256);
    if (o && strcmp(pc->status, "superseded") == 0)
        json_object_set_new(o, "superseded_by", json_string(pc->superseded_by));
    if (o && strcmp(pc->status, "issued") != 0) {
        json_object_set_new(o, "retired", json_string(pc->retired));
        json_object_set_new(o, "reason", json_string(pc->reason));
    }
    return o;
}

int public_status(struct srv_call *call)
{
    struct public_cert pc;
    if (!find_or_answer(call, false, &pc))
        return 0;
    return call_reply(call, 200, public_json(&pc));
}

/* ---- POST …/check: an uploaded certificate ---------------------------------------------------------*/
bool public_multipart_file(const char *type, const char *body, size_t len, const char **data, size_t *data_len)
{
    const char *b = strstr(type, "boundary=");
    if (!b)
        return false;
    b += 9;
    char boundary[80] = "\r\n--";
    size_t bn = strcspn(b, "; ");
    if (*b == '"') {
        b++;
        bn = strcspn(b, "\"");
    }
    if (bn == 0 || bn > 70)
        return false;
    memcpy(boundary + 4, b, bn);
    boundary[4 + bn] = '\0';
    size_t blen = 4 + bn;
    /* The body starts with the boundary without its leading CRLF. */
    if (len < blen - 2 || memcmp(body, boundary + 2, blen - 2) != 0)
        return false;
    const char *p = body + blen - 2, *end = body + len;
    while (p < end) {
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return false; /* the closing boundary: no file part */
        const char *headers = p;
        const char *hdr_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hdr_end)
            return false;
        const char *content = hdr_end + 4;
        const char *next = memmem(content, (size_t)(end - content), boundary, blen);
        if (!next)
            return false;
        size_t hn = (size_t)(hdr_end - headers);
        bool has_file = memmem(headers, hn, "filename=", 9) != NULL;
        if (has_file) {
            *data = content;
            *data_len = (size_t)(next - content);
            return true;
        }
        p = next + blen;
    }
    return false;
}

static bool type_is(const char *type, const char *want)
{
    size_t n = strlen(want);
    return type && strncasecmp(type, want, n) == 0 && (type[n] == '\0' || type[n] == ';' || type[n] == ' ');
}

struct check_result {
    const char *verdict; /* valid | altered | not_ours | superseded | withdrawn */
    char id[24];         /* the certificate the file says it is ("" when it names none) */
    char why[600];       /* one sentence */
    json_t *checks;      /* the verification's lines (ok/FAIL), paths removed */
    struct public_cert pc;
    bool known;          /* pc filled in */
};

static void result_set(struct check_result *r, const char *verdict, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void result_set(struct check_result *r, const char *verdict, const char *fmt, ...)
{
    r->verdict = verdict;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
}

/* The verdict of a file that is the registry's document (or PDF) of a public certificate. */
static void verdict_by_status(struct check_result *r, const char *what)
{
    if (strcmp(r->pc.status, "superseded") == 0)
        result_set(r, "superseded", "%s is the one the laboratory issued as %s, but it was superseded by %s on %s: %s",
                   what, r->pc.id, r->pc.superseded_by, r->pc.retired, r->pc.reason);
    else if (strcmp(r->pc.status, "withdrawn") == 0)
        result_set(r, "withdrawn", "%s is the one the laboratory issued as %s, but it was withdrawn on %s: %s", what,
                   r->pc.id, r->pc.retired, r->pc.reason);
    else
        result_set(r, "valid", "%s is the certificate %s as the laboratory issued it; it is current", what, r->pc.id);
}

/* A report line for the public: "ok:"/"FAIL:" lines only, with the server's paths taken out. */
static void add_check_line(json_t *checks, const char *line, const char *hide1, const char *hide2)
{
    if (strncmp(line, "ok:", 3) != 0 && strncmp(line, "FAIL:", 5) != 0)
        return;
    char out[400];
    size_t o = 0;
    for (const char *p = line; *p && o + 12 < sizeof out;) {
        if (hide1[0] && strncmp(p, hide1, strlen(hide1)) == 0) {
            o += (size_t)snprintf(out + o, sizeof out - o, "(registry)");
            p += strlen(hide1);
        } else if (hide2[0] && strncmp(p, hide2, strlen(hide2)) == 0) {
            o += (size_t)snprintf(out + o, sizeof out - o, "(upload)");
            p += strlen(hide2);
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    json_array_append_new(checks, json_string(out));
}

struct line_sink {
    json_t *checks;
    const char *hide1, *hide2;
    bool foreign; /* the signature is valid under the key the file names, which is not this lab's */
};

static void sink_line(const char *line, void *arg)
{
    struct line_sink *s = arg;
    static const char foreign[] = "FAIL: signature valid, signer not trusted"; /* verify.c's words */
    if (strncmp(line, foreign, sizeof foreign - 1) == 0)
        s->foreign = true;
    add_check_line(s->checks, line, s->hide1, s->hide2);
}

static int check_json(struct srv_call *call, const char *data, size_t len, struct check_result *r, struct pd_err *err)
{
    json_error_t jerr;
    json_t *doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *id = json_string_value(json_object_get(doc, "certificate_id"));
    if (!doc || !id || !public_cert_id_ok(id, strlen(id))) {
        json_decref(doc);
        if (!doc)
            result_set(r, "not_ours", "the file is not a certificate: %s at line %d, column %d", jerr.text, jerr.line,
                       jerr.column);
        else
            result_set(r, "not_ours", "the file is not a certificate of this laboratory (no certificate number)");
        return 0;
    }
    pd_strlcpy(r->id, id, sizeof r->id);
    json_decref(doc);
    int rc = lookup(call, r->id, &r->pc, err);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        result_set(r, "not_ours", "this laboratory has issued no certificate %s", r->id);
        return 0;
    }
    r->known = true;
    /* The same verification as `polydaq verify --registry DATA/certs`, on a private copy. */
    const char *tmp_root = getenv("TMPDIR");
    char tmpdir[4200], path[4300], certs[4200];
    snprintf(tmpdir, sizeof tmpdir, "%s/polydaq-check-XXXXXX", tmp_root && tmp_root[0] ? tmp_root : "/tmp");
    if (!mkdtemp(tmpdir))
        return pd_err_set_os(err, PD_EIO, errno, tmpdir, "cannot make a folder for the upload");
    snprintf(path, sizeof path, "%s/%s.json", tmpdir, r->id);
    certs_dir(call, certs, sizeof certs);
    FILE *f = fopen(path, "wbx");
    bool written = f && fwrite(data, 1, len, f) == len;
    if (f && fclose(f) != 0)
        written = false;
    struct pd_err verr;
    pd_err_clear(&verr);
    int vrc = -1;
    bool ok = false;
    struct line_sink sink = {r->checks, certs, tmpdir, false};
    if (written)
        vrc = verify_upload_file(path, certs, &ok, sink_line, &sink, &verr);
    unlink(path);
    rmdir(tmpdir);
    if (!written)
        return pd_err_set(err, PD_EIO, NULL, "cannot store the upload for its check");
    if (vrc < 0 && verr.code != PD_EDATA) {
        *err = verr;
        return vrc;
    }
    if (vrc < 0) { /* not in the exact form polydaq writes: someone else wrote these bytes */
        char msg[400];
        const char *at = strstr(verr.msg, path); /* it names the private copy: said as "the file" */
        int line = 0, column = 0, used = 0;
        if (at && sscanf(at + strlen(path), ":%d:%d: %n", &line, &column, &used) == 2 && used > 0)
            snprintf(msg, sizeof msg, "%.*sline %d, column %d: %s", (int)(at - verr.msg), verr.msg, line, column,
                     at + strlen(path) + used);
        else if (at)
            snprintf(msg, sizeof msg, "%.*sthe file%s", (int)(at - verr.msg), verr.msg, at + strlen(path));
        else
            pd_strlcpy(msg, verr.msg, sizeof msg);
        result_set(r, "altered", "the file is not %s in the exact form the laboratory issued it%s%s", r->id,
                   msg[0] ? ": " : "", msg);
        return 0;
    }
    char *canon_doc = NULL;
    json_t *parsed = json_loadb(data, len, 0, NULL);
    char whole[65] = "";
    if (parsed && (canon_doc = pd_json_canonical(parsed, NULL)))
        pd_sha256_hex(canon_doc, strlen(canon_doc), whole);
    free(canon_doc);
    json_decref(parsed);
    bool registry_copy = strcmp(whole, r->pc.document_sha256) == 0;
    if (registry_copy && (ok || strcmp(r->pc.status, "issued") != 0))
        verdict_by_status(r, "the file"); /* superseded, withdrawn: the state is what fails it */
    else if (!registry_copy && sink.foreign) /* every lab numbers from CERT-000001: another lab's */
        result_set(r, "not_ours",
                   "the file is signed by a key that is not this laboratory's: a certificate of another laboratory "
                   "that has the same number, or a forgery");
    else if (registry_copy) /* the lab's own record does not verify: not the reader's doing */
        result_set(r, "altered",
                   "the file is the laboratory's record of %s, but that record does not verify (see the checks): "
                   "ask the laboratory",
                   r->id);
    else
        result_set(r, "altered", "the file differs from the certificate %s the laboratory issued (see the checks)",
                   r->id);
    return 0;
}

/* A PDF is the lab's when it is, byte for byte, the PDF the lab issued (its export beside the
 * registry). Any other PDF — changed, or saved again by another program — is not; the JSON is the
 * signed original that can be checked whatever happened to a PDF. */
static int check_pdf(struct srv_call *call, const char *data, size_t len, struct check_result *r, struct pd_err *err)
{
    const char *title = memmem(data, len, "/Title (CERT-", 13);
    if (!title) {
        result_set(r, "not_ours", "the PDF names no certificate of this laboratory");
        return 0;
    }
    title += 8;
    size_t n = 0;
    while (title + n < data + len && n < 20 && title[n] != ')')
        n++;
    if (!public_cert_id_ok(title, n)) {
        result_set(r, "not_ours", "the PDF names no certificate of this laboratory");
        return 0;
    }
    memcpy(r->id, title, n);
    r->id[n] = '\0';
    int rc = lookup(call, r->id, &r->pc, err);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        result_set(r, "not_ours", "this laboratory has issued no certificate %s", r->id);
        return 0;
    }
    r->known = true;
    char certs[4200], pdf_path[4300], want[65] = "", got[65];
    certs_dir(call, certs, sizeof certs);
    snprintf(pdf_path, sizeof pdf_path, "%s/%s.pdf", certs, r->id);
    struct pd_err ignored;
    if (pd_sha256_file(pdf_path, want, &ignored) < 0)
        want[0] = '\0';
    pd_sha256_hex(data, len, got);
    if (want[0] && strcmp(want, got) == 0) {
        json_array_append_new(r->checks, json_string("ok: the PDF is byte for byte the one the laboratory issued"));
        verdict_by_status(r, "the PDF");
    } else {
        json_array_append_new(r->checks,
                              json_string("FAIL: the PDF differs from the one the laboratory issued (SHA-256)"));
        result_set(r, "altered",
                   "the PDF is not the one the laboratory issued as %s (changed, or saved again by another program); "
                   "check the certificate's JSON file, the signed original",
                   r->id);
    }
    return 0;
}

static void check_html(struct html *h, const char *page_id, const struct check_result *r)
{
    static const struct {
        const char *verdict, *heading;
    } headings[] = {{"valid", "Valid"},
                    {"altered", "Altered: this is not the certificate the laboratory issued"},
                    {"not_ours", "Not a certificate of this laboratory"},
                    {"superseded", "Superseded"},
                    {"withdrawn", "Withdrawn"}};
    const char *heading = r->verdict;
    for (size_t i = 0; i < sizeof headings / sizeof headings[0]; i++)
        if (strcmp(headings[i].verdict, r->verdict) == 0)
            heading = headings[i].heading;
    html_head(h, "Certificate check");
    html_raw(h, "<h1>Certificate check</h1>\n<p id=\"verdict\" class=\"verdict ");
    html_raw(h, strcmp(r->verdict, "valid") == 0 ? "verdict-good" : "verdict-bad");
    html_raw(h, "\" data-verdict=\"");
    html_text(h, r->verdict);
    html_raw(h, "\">");
    html_text(h, heading);
    html_raw(h, "</p>\n<p id=\"why\">");
    /* the sentence starts lower case: as a paragraph, with a capital */
    char why[sizeof r->why];
    pd_strlcpy(why, r->why, sizeof why);
    if (why[0] >= 'a' && why[0] <= 'z')
        why[0] = (char)(why[0] - 'a' + 'A');
    html_text(h, why);
    html_raw(h, ".</p>\n");
    if (json_array_size(r->checks) > 0) {
        html_raw(h, "<h2>Checks</h2>\n<ul class=\"checks\">\n");
        for (size_t i = 0; i < json_array_size(r->checks); i++) {
            html_raw(h, "<li>");
            html_text(h, json_string_value(json_array_get(r->checks, i)));
            html_raw(h, "</li>\n");
        }
        html_raw(h, "</ul>\n");
    }
    html_raw(h, "<p><a href=\"/v/");
    html_text(h, r->known ? r->pc.id : page_id);
    html_raw(h, "\">Back to the certificate's page</a></p>\n");
    html_foot(h);
}

int public_check(struct srv_call *call)
{
    bool html = strncmp(call->path, "/v/", 3) == 0;
    char key[96];
    snprintf(key, sizeof key, "check:%s", call->client);
    int64_t wait = throttle_wait_s(call->db, key);
    if (wait > 0)
        return throttled(call, html, wait);
    /* The page's own number must be a public certificate: the form is offered on its page only. */
    struct public_cert page;
    if (!find_or_answer(call, html, &page))
        return 0;
    throttle_fail(call->db, key, CHECK_FREE_UPLOADS); /* each upload counts, answered or not */
    const char *data = call->upload;
    size_t len = call->upload_len;
    const char *type = call->upload_type;
    if (type_is(type, "multipart/form-data")) {
        if (!public_multipart_file(type, call->upload ? call->upload : "", call->upload_len, &data, &len))
            return refuse(call, html, 400, "invalid", "The form holds no file: choose the certificate's file first.");
    } else if (!type_is(type, "application/json") && !type_is(type, "application/pdf")) {
        return refuse(call, html, 415, "unsupported_media_type",
                      "Send the certificate as application/json or application/pdf (or a form upload).");
    }
    if (!data || len == 0)
        return refuse(call, html, 400, "invalid", "The file is empty.");
    struct check_result r = {.checks = json_array()};
    struct pd_err err;
    pd_err_clear(&err);
    int rc;
    /* By its bytes, not by what the sender calls it: a PDF starts with %PDF-, a JSON document with {. */
    if (len >= 5 && memcmp(data, "%PDF-", 5) == 0) {
        rc = check_pdf(call, data, len, &r, &err);
    } else {
        size_t i = 0;
        while (i < len && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t'))
            i++;
        if (i == len || data[i] != '{') {
            json_decref(r.checks);
            return refuse(call, html, 415, "unsupported_media_type",
                          "The file is neither a certificate's JSON file nor its PDF.");
        }
        rc = check_json(call, data, len, &r, &err);
    }
    if (rc < 0) {
        json_decref(r.checks);
        return call_fail(call, &err);
    }
    if (html) {
        char page_id[24];
        path_cert_id(call, page_id);
        struct html h = {0};
        check_html(&h, page_id, &r);
        json_decref(r.checks);
        return reply_html(call, 200, &h);
    }
    json_t *o = json_pack("{s:s,s:s,s:s,s:o}", "verdict", r.verdict, "certificate", r.id, "reason", r.why, "checks",
                          r.checks);
    if (o && r.known)
        json_object_set_new(o, "registry", public_json(&r.pc));
    return call_reply(call, 200, o);
}

/* ---- GET /keys/…: what `polydaq registry publish -o DATA/public` wrote ------------------------------*/
static int serve_published(struct srv_call *call, const char *name, const char *type)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/" PUBLIC_SUBDIR "/%s", srv_data_dir(call->srv), name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return call_error(call, 404, "not_found", "the laboratory has not published %s yet", name);
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    bool ok = true;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8192;
            unsigned char *grown = cap <= 16u * 1024 * 1024 ? realloc(buf, cap) : NULL;
            if (!grown) {
                ok = false;
                break;
            }
            buf = grown;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            ok = !ferror(f);
            break;
        }
    }
    fclose(f);
    if (!ok) {
        free(buf);
        return call_error(call, 500, "internal", "cannot read the published %s", name);
    }
    return call_reply_bytes(call, 200, type, buf, len);
}

int public_keyring(struct srv_call *call)
{
    return serve_published(call, "keyring.txt", "text/plain; charset=utf-8");
}

int public_revocations(struct srv_call *call)
{
    return serve_published(call, "revocations.json", "application/json; charset=utf-8");
}
