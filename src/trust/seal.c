/* seal.c — a station's seal over a closed run file: made and written once when the acquisition
 * closes the file, read strictly and checked by certify (docs/CERTIFICATES.md §6). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trust/trust.h"

/* A seal is a few hundred bytes per instrument; anything far larger is not one (and is not read). */
#define SEAL_MAX_BYTES (256 * 1024)

int pd_seal_path(const char *run_path, char *out, size_t size, struct pd_err *err)
{
    if (!run_path || !out)
        return pd_err_set(err, PD_EINVAL, NULL, "seal: missing run path");
    int n = snprintf(out, size, "%s" PD_SEAL_SUFFIX, run_path);
    if (n < 0 || (size_t)n >= size)
        return pd_err_set(err, PD_ERANGE, run_path, "seal: path too long");
    return 0;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The seal as JSON, without its signature (what is signed) — NULL when memory ran out. */
static json_t *seal_json(const struct pd_seal *s)
{
    json_t *inst = json_array();
    for (size_t i = 0; inst && i < s->facts.n_instruments; i++) {
        const struct pd_seal_instrument *in = &s->facts.instruments[i];
        if (json_array_append_new(inst, json_pack("{s:s,s:s,s:s,s:s}", "name", in->name, "model", in->model, "serial",
                                                  in->serial, "firmware", in->firmware)) < 0) {
            json_decref(inst);
            inst = NULL;
        }
    }
    if (!inst)
        return NULL;
    return json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:b,s:o,s:{s:s,s:s,s:s}}", "format", PD_SEAL_FORMAT, "run_id",
                     s->facts.run_id, "file", s->file, "size", (json_int_t)s->size, "sha256", s->sha256, "closed",
                     s->closed, "outcome", s->facts.outcome, "simulated", s->facts.simulated, "instruments", inst,
                     "station", "name", s->station_name, "key_id", s->station.id, "public_key", s->station.hex);
}

static bool utf8_ok(const char *text)
{
    json_t *j = json_string(text); /* NULL for invalid UTF-8 */
    json_decref(j);
    return j != NULL;
}

/* Writes text to a fresh temporary file beside `path`, fsyncs it and links it to `path`, which
 * must not exist yet; the folder is fsync'ed so the name survives a power cut. */
static int write_once(const char *path, const char *text, struct pd_err *err)
{
    char tmp[4200];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return pd_err_set(err, PD_ERANGE, path, "seal: path too long");
    if (access(path, F_OK) == 0)
        return pd_err_set(err, PD_ESTATE, path, "a seal already exists; not overwritten");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return pd_err_set_os(err, PD_EIO, errno, tmp, "cannot create the seal");
    size_t len = strlen(text), done = 0;
    int e = 0;
    while (done < len && !e) { /* a short write is retried, so a full disk reports its own errno */
        ssize_t w = write(fd, text + done, len - done);
        if (w > 0)
            done += (size_t)w;
        else if (w == 0 || errno != EINTR)
            e = w == 0 ? EIO : errno;
    }
    if (!e && fsync(fd) < 0)
        e = errno;
    if (close(fd) < 0 && !e)
        e = errno;
    if (e) {
        unlink(tmp);
        return pd_err_set_os(err, PD_EIO, e, path, "cannot write the seal");
    }
    /* link, not rename: it fails when the name exists, so a seal is never replaced */
    if (link(tmp, path) < 0) {
        e = errno;
        unlink(tmp);
        return e == EEXIST ? pd_err_set(err, PD_ESTATE, path, "a seal already exists; not overwritten")
                           : pd_err_set_os(err, PD_EIO, e, path, "cannot put the seal in place");
    }
    unlink(tmp);
    char dir[4200];
    pd_strlcpy(dir, path, sizeof dir);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0) {
        e = errno;
        if (dfd >= 0)
            close(dfd);
        unlink(path);
        return pd_err_set_os(err, PD_EIO, e, path, "cannot sync the seal's folder");
    }
    close(dfd);
    return 0;
}

int pd_seal_create(const char *run_path, const struct pd_seal_facts *facts, const char *closed,
                   const char *station_name, const struct pd_secret_key *key, struct pd_seal *out,
                   struct pd_err *err)
{
    if (!run_path || !facts || !station_name || !station_name[0] || !key)
        return pd_err_set(err, PD_EINVAL, NULL, "seal: missing run path, facts, station name or key");
    if (facts->n_instruments > PD_SEAL_MAX_INSTRUMENTS)
        return pd_err_set(err, PD_EINVAL, run_path, "seal: more than %d instruments", PD_SEAL_MAX_INSTRUMENTS);
    int rc = pd_trust_init(err);
    if (rc < 0)
        return rc;
    struct pd_seal *s = calloc(1, sizeof *s);
    if (!s)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    s->facts = *facts;
    struct stat st;
    char seal_path[4200];
    if ((rc = pd_seal_path(run_path, seal_path, sizeof seal_path, err)) < 0)
        goto out;
    if (stat(run_path, &st) < 0) {
        rc = pd_err_set_os(err, PD_EIO, errno, run_path, "seal: cannot stat the run file");
        goto out;
    }
    s->size = (uint64_t)st.st_size;
    if ((rc = pd_sha256_file(run_path, s->sha256, err)) < 0)
        goto out;
    /* the file must not change while it is hashed: the size again after the hash */
    if (stat(run_path, &st) < 0 || (uint64_t)st.st_size != s->size) {
        rc = pd_err_set(err, PD_ESTATE, run_path, "seal: the run file changed while it was hashed");
        goto out;
    }
    if (pd_strlcpy(s->file, base_name(run_path), sizeof s->file) < 0 ||
        pd_strlcpy(s->station_name, station_name, sizeof s->station_name) < 0) {
        rc = pd_err_set(err, PD_ERANGE, run_path, "seal: file or station name too long");
        goto out;
    }
    if (closed)
        pd_strlcpy(s->closed, closed, sizeof s->closed);
    else
        pd_time_format_iso8601(pd_clock_utc_ns(), s->closed, sizeof s->closed);
    s->station = key->pub;
    /* JSON holds UTF-8 text only: an identity string a device sent in another encoding is named */
    const char *bad = !utf8_ok(s->facts.run_id) ? "the run id" : !utf8_ok(s->station_name) ? "the station name" : NULL;
    for (size_t i = 0; !bad && i < s->facts.n_instruments; i++) {
        const struct pd_seal_instrument *in = &s->facts.instruments[i];
        if (!utf8_ok(in->name) || !utf8_ok(in->model) || !utf8_ok(in->serial) || !utf8_ok(in->firmware))
            bad = "an instrument's name, model, serial or firmware";
    }
    if (bad || !utf8_ok(s->facts.outcome) || !utf8_ok(s->file) || !utf8_ok(s->closed)) {
        rc = pd_err_set(err, PD_EDATA, run_path, "seal: %s is not UTF-8 text", bad ? bad : "a field");
        goto out;
    }
    json_t *doc = seal_json(s);
    char *signed_text = doc ? pd_json_canonical(doc, NULL) : NULL;
    char *text = NULL;
    if (signed_text) {
        unsigned char sig[PD_KEY_SIGNATURE_BYTES];
        pd_key_sign(key, signed_text, strlen(signed_text), sig);
        pd_signature_to_hex(sig, s->signature);
        if (json_object_set_new(doc, "signature", json_string(s->signature)) == 0)
            text = pd_json_canonical(doc, NULL);
    }
    json_decref(doc);
    free(signed_text);
    size_t tl = text ? strlen(text) : 0;
    char *line = text ? realloc(text, tl + 2) : NULL;
    if (!line) {
        free(text);
        rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory while sealing %s", run_path);
        goto out;
    }
    line[tl] = '\n';
    line[tl + 1] = '\0';
    rc = write_once(seal_path, line, err);
    free(line);
    if (rc == 0 && out)
        *out = *s;
out:
    free(s);
    return rc;
}

/* ---- reading --------------------------------------------------------------------------------*/
struct reader {
    const char *path;
    struct pd_err *err;
    int rc;
};

static int refuse(struct reader *r, const char *fmt, const char *field)
{
    if (r->rc == 0)
        r->rc = pd_err_set(r->err, PD_EDATA, r->path, fmt, field);
    return r->rc;
}

/* Every key of `obj` must be one of `keys` (NULL-terminated). */
static void only_keys(struct reader *r, const json_t *obj, const char *const *keys, const char *what)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        bool known = false;
        for (size_t i = 0; keys[i] && !known; i++)
            known = strcmp(k, keys[i]) == 0;
        if (!known && r->rc == 0)
            r->rc = pd_err_set(r->err, PD_EDATA, r->path, "not a polydaq seal: unknown field '%s' in %s", k, what);
    }
}

static void get_str(struct reader *r, const json_t *obj, const char *key, char *dst, size_t size)
{
    const json_t *v = json_object_get(obj, key);
    if (r->rc)
        return;
    if (!v)
        refuse(r, "not a polydaq seal: field '%s' missing", key);
    else if (!json_is_string(v))
        refuse(r, "not a polydaq seal: field '%s' is not a string", key);
    else if (pd_strlcpy(dst, json_string_value(v), size) < 0)
        refuse(r, "not a polydaq seal: field '%s' too long", key);
}

static bool is_hex(const char *s, size_t n)
{
    return strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

/* Reads the seal file's bytes (at most SEAL_MAX_BYTES); malloc'd into *out, its length in *len. */
static int read_text(const char *path, char **out, size_t *len, enum pd_seal_verdict *verdict, struct pd_err *err)
{
    /* O_NONBLOCK: a FIFO put where the seal belongs must not hang the reader (refused below) */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        *verdict = e == ENOENT ? PD_SEAL_ABSENT : PD_SEAL_UNREADABLE;
        return e == ENOENT ? pd_err_set(err, PD_EDATA, path, "run file not sealed (no %s)", base_name(path))
                           : pd_err_set_os(err, PD_EIO, e, path, "cannot open the seal");
    }
    *verdict = PD_SEAL_UNREADABLE;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > SEAL_MAX_BYTES) {
        close(fd);
        return pd_err_set(err, PD_EDATA, path, "not a polydaq seal: not a regular file of at most %d bytes",
                          SEAL_MAX_BYTES);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return pd_err_set(err, PD_ENOMEM, path, "out of memory");
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    *out = buf;
    *len = got;
    return 0;
}

static void parse_instrument(struct reader *r, const json_t *o, struct pd_seal_instrument *in)
{
    static const char *const keys[] = {"name", "model", "serial", "firmware", NULL};
    if (!json_is_object(o)) {
        refuse(r, "not a polydaq seal: an entry of '%s' is not an object", "instruments");
        return;
    }
    only_keys(r, o, keys, "an instrument");
    get_str(r, o, "name", in->name, sizeof in->name);
    get_str(r, o, "model", in->model, sizeof in->model);
    get_str(r, o, "serial", in->serial, sizeof in->serial);
    get_str(r, o, "firmware", in->firmware, sizeof in->firmware);
}

static void parse_seal(struct reader *r, const json_t *doc, struct pd_seal *s)
{
    static const char *const keys[] = {"format", "run_id", "file", "size", "sha256", "closed", "outcome",
                                       "simulated", "instruments", "station", "signature", NULL};
    static const char *const station_keys[] = {"name", "key_id", "public_key", NULL};
    char format[32] = "";
    get_str(r, doc, "format", format, sizeof format);
    if (r->rc == 0 && strcmp(format, PD_SEAL_FORMAT) != 0)
        refuse(r, "not a polydaq seal: format '%s', expected '" PD_SEAL_FORMAT "'", format);
    only_keys(r, doc, keys, "the seal");
    get_str(r, doc, "run_id", s->facts.run_id, sizeof s->facts.run_id);
    get_str(r, doc, "file", s->file, sizeof s->file);
    get_str(r, doc, "sha256", s->sha256, sizeof s->sha256);
    get_str(r, doc, "closed", s->closed, sizeof s->closed);
    get_str(r, doc, "outcome", s->facts.outcome, sizeof s->facts.outcome);
    get_str(r, doc, "signature", s->signature, sizeof s->signature);
    const json_t *size = json_object_get(doc, "size");
    if (!size)
        refuse(r, "not a polydaq seal: field '%s' missing", "size");
    else if (!json_is_integer(size) || json_integer_value(size) < 0)
        refuse(r, "not a polydaq seal: field '%s' is not a whole number of bytes", "size");
    else
        s->size = (uint64_t)json_integer_value(size);
    const json_t *sim = json_object_get(doc, "simulated");
    if (!sim)
        refuse(r, "not a polydaq seal: field '%s' missing", "simulated");
    else if (!json_is_boolean(sim))
        refuse(r, "not a polydaq seal: field '%s' is not true or false", "simulated");
    else
        s->facts.simulated = json_is_true(sim);
    const json_t *inst = json_object_get(doc, "instruments");
    if (!inst)
        refuse(r, "not a polydaq seal: field '%s' missing", "instruments");
    else if (!json_is_array(inst))
        refuse(r, "not a polydaq seal: field '%s' is not a list", "instruments");
    else if (json_array_size(inst) > PD_SEAL_MAX_INSTRUMENTS)
        refuse(r, "not a polydaq seal: too many '%s'", "instruments");
    for (size_t i = 0; r->rc == 0 && i < json_array_size(inst); i++) {
        parse_instrument(r, json_array_get(inst, i), &s->facts.instruments[i]);
        s->facts.n_instruments = i + 1;
    }
    const json_t *station = json_object_get(doc, "station");
    char key_id[40] = "", public_key[80] = "";
    if (!station)
        refuse(r, "not a polydaq seal: field '%s' missing", "station");
    else if (!json_is_object(station))
        refuse(r, "not a polydaq seal: field '%s' is not an object", "station");
    if (r->rc == 0) {
        only_keys(r, station, station_keys, "station");
        get_str(r, station, "name", s->station_name, sizeof s->station_name);
        get_str(r, station, "key_id", key_id, sizeof key_id);
        get_str(r, station, "public_key", public_key, sizeof public_key);
    }
    if (r->rc == 0 && !is_hex(s->sha256, 64))
        refuse(r, "not a polydaq seal: '%s' is not 64 lowercase hex digits", "sha256");
    if (r->rc == 0 && pd_public_key_from_hex(public_key, &s->station, r->err) < 0)
        refuse(r, "not a polydaq seal: station.%s is not 64 lowercase hex digits", "public_key");
    if (r->rc == 0 && strcmp(key_id, s->station.id) != 0)
        refuse(r, "not a polydaq seal: station.key_id is not the id of station.%s", "public_key");
}

int pd_seal_parse(const char *text, size_t len, const char *name, struct pd_seal *out, enum pd_seal_verdict *verdict,
                  struct pd_err *err)
{
    enum pd_seal_verdict v_local;
    if (!verdict)
        verdict = &v_local;
    *verdict = PD_SEAL_UNREADABLE;
    if (!text || !out)
        return pd_err_set(err, PD_EINVAL, NULL, "seal: missing text or output");
    if (!name)
        name = "seal";
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return pd_err_set(err, PD_EDATA, NULL, "%.200s:%d:%d: not a polydaq seal: %s", name, jerr.line, jerr.column,
                          jerr.text);
    struct pd_seal *s = calloc(1, sizeof *s);
    if (!s) {
        json_decref(doc);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    }
    struct reader r = {.path = name, .err = err};
    if (!json_is_object(doc))
        refuse(&r, "not a polydaq seal: %s", "not a JSON object");
    else
        parse_seal(&r, doc, s);
    unsigned char sig[PD_KEY_SIGNATURE_BYTES];
    if (r.rc == 0 && pd_signature_from_hex(s->signature, sig, NULL) < 0)
        refuse(&r, "not a polydaq seal: '%s' is not 128 lowercase hex digits", "signature");
    if (r.rc == 0) {
        static const char *const unsigned_keys[] = {"signature", NULL};
        char *signed_text = pd_json_canonical(doc, unsigned_keys);
        if (!signed_text) {
            r.rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
        } else if (!pd_key_verify(&s->station, signed_text, strlen(signed_text), sig)) {
            *verdict = PD_SEAL_BAD_SIGNATURE;
            r.rc = pd_err_set(err, PD_EDATA, name,
                              "seal does not verify: its signature is not station key %s's over the seal's "
                              "content (the seal was altered after signing)",
                              s->station.id);
        }
        free(signed_text);
    }
    json_decref(doc);
    if (r.rc == 0) {
        *out = *s;
        *verdict = PD_SEAL_VERIFIED;
    }
    free(s);
    return r.rc;
}

int pd_seal_load(const char *seal_path, struct pd_seal *out, enum pd_seal_verdict *verdict, struct pd_err *err)
{
    enum pd_seal_verdict v_local;
    if (!verdict)
        verdict = &v_local;
    if (!seal_path || !out) {
        *verdict = PD_SEAL_UNREADABLE;
        return pd_err_set(err, PD_EINVAL, NULL, "seal: missing path or output");
    }
    char *text = NULL;
    size_t len = 0;
    int rc = read_text(seal_path, &text, &len, verdict, err);
    if (rc < 0)
        return rc;
    rc = pd_seal_parse(text, len, seal_path, out, verdict, err);
    free(text);
    return rc;
}

/* ---- checking against the file as it is now --------------------------------------------------*/
static const struct pd_seal_instrument *find_instrument(const struct pd_seal_facts *f, const char *name)
{
    for (size_t i = 0; i < f->n_instruments; i++)
        if (strcmp(f->instruments[i].name, name) == 0)
            return &f->instruments[i];
    return NULL;
}

/* The first difference between the sealed facts and the file's, as text into why; false if none. */
static bool facts_differ(const struct pd_seal_facts *sealed, const struct pd_seal_facts *now, char *why, size_t size)
{
    if (strcmp(sealed->run_id, now->run_id) != 0) {
        snprintf(why, size, "run id: sealed '%.100s', the file says '%.100s'", sealed->run_id, now->run_id);
        return true;
    }
    if (sealed->simulated != now->simulated) {
        snprintf(why, size, "simulated: sealed %s, the file says %s", sealed->simulated ? "true" : "false",
                 now->simulated ? "true" : "false");
        return true;
    }
    if (sealed->outcome[0] && now->outcome[0] && strcmp(sealed->outcome, now->outcome) != 0) {
        snprintf(why, size, "outcome: sealed '%.31s', the file says '%.31s'", sealed->outcome, now->outcome);
        return true;
    }
    if (sealed->n_instruments != now->n_instruments) {
        snprintf(why, size, "instruments: %zu sealed, %zu in the file", sealed->n_instruments, now->n_instruments);
        return true;
    }
    for (size_t i = 0; i < now->n_instruments; i++) {
        const struct pd_seal_instrument *b = &now->instruments[i];
        const struct pd_seal_instrument *a = find_instrument(sealed, b->name);
        const char *field = !a                                  ? "name"
                            : strcmp(a->model, b->model) != 0    ? "model"
                            : strcmp(a->serial, b->serial) != 0  ? "serial"
                            : strcmp(a->firmware, b->firmware) != 0 ? "firmware"
                                                                    : NULL;
        if (field) {
            snprintf(why, size, "instrument '%.63s': %s differs from the sealed one", b->name, field);
            return true;
        }
    }
    return false;
}

int pd_seal_check(const struct pd_seal *seal, const char *run_path, const char *sha256_now,
                  const struct pd_seal_facts *facts_now, const struct pd_public_key *trusted, size_t n_trusted,
                  enum pd_seal_verdict *verdict, struct pd_err *err)
{
    enum pd_seal_verdict v_local;
    if (!verdict)
        verdict = &v_local;
    *verdict = PD_SEAL_UNREADABLE;
    if (!seal || !run_path || !facts_now || (n_trusted && !trusted))
        return pd_err_set(err, PD_EINVAL, NULL, "seal check: missing seal, run path, facts or keys");
    bool known = false;
    for (size_t i = 0; i < n_trusted && !known; i++)
        known = memcmp(trusted[i].bytes, seal->station.bytes, PD_KEY_PUBLIC_BYTES) == 0;
    if (!known) {
        *verdict = PD_SEAL_UNTRUSTED;
        return pd_err_set(err, PD_EDATA, run_path, "sealed by an untrusted station key %s (station '%.100s')%s",
                          seal->station.id, seal->station_name,
                          n_trusted ? "" : ": no station key is trusted (the registry's, or --station-key)");
    }
    struct stat st;
    if (stat(run_path, &st) < 0)
        return pd_err_set_os(err, PD_EIO, errno, run_path, "seal check: cannot stat the run file");
    char hex[65];
    if (!sha256_now) {
        int rc = pd_sha256_file(run_path, hex, err);
        if (rc < 0)
            return rc;
        sha256_now = hex;
    }
    if (strcmp(sha256_now, seal->sha256) != 0 || (uint64_t)st.st_size != seal->size) {
        *verdict = PD_SEAL_FILE_CHANGED;
        return pd_err_set(err, PD_EDATA, run_path,
                          "run file changed after sealing: sha256 %.16s… (%" PRIu64 " bytes) now, %.16s… (%" PRIu64
                          " bytes) sealed",
                          sha256_now, (uint64_t)st.st_size, seal->sha256, seal->size);
    }
    char why[400];
    if (facts_differ(&seal->facts, facts_now, why, sizeof why)) {
        *verdict = PD_SEAL_MISMATCH;
        return pd_err_set(err, PD_EDATA, run_path, "seal does not match the run file: %s", why);
    }
    *verdict = PD_SEAL_VERIFIED;
    return 0;
}
