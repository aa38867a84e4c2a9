/* issue.c — the lab key, the audit-log part of verification (the rest: verify.c; review, authorization and
 * issue: approve.c, on the registry) and recomputation. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cert/cert_internal.h"
#include "config/config.h"
#include "registry/registry.h"
#include "trust/trust.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

static const char *const no_hash[] = {"hash", NULL};

/* ---- keys ---------------------------------------------------------------------------------*/
int pd_cert_keygen(const char *dir, char *secret_path, size_t secret_size, char *public_path, size_t public_size,
                   struct pd_err *err)
{
    if (!dir || !secret_path || !public_path)
        return pd_err_set(err, PD_EINVAL, NULL, "keygen: missing folder or outputs");
    return pd_key_generate(dir, "lab", secret_path, secret_size, public_path, public_size, err);
}

/* ---- audit log ----------------------------------------------------------------------------*/
static int entry_hash(const json_t *entry, char hex[65])
{
    char *text = cert_canonical(entry, no_hash);
    if (!text)
        return PD_ENOMEM;
    cert_sha256_hex(text, strlen(text), hex);
    free(text);
    return 0;
}

/* Reads DIR/audit.log into an array; a missing log is an empty one. Lines that are not JSON objects
 * are an error naming the line. */
static int read_log(const char *dir, json_t **out, struct pd_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/audit.log", dir);
    json_t *arr = json_array();
    if (!arr)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) {
            *out = arr;
            return 0;
        }
        json_decref(arr);
        return pd_err_set_os(err, PD_EIO, errno, path, "cannot read the audit log");
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    int rc = 0;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        json_error_t jerr;
        json_t *e = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(e)) {
            json_decref(e);
            rc = pd_err_set(err, PD_EDATA, path, "line %zu is not a log entry: %s", lineno, jerr.text);
            break;
        }
        json_array_append_new(arr, e);
    }
    free(line);
    fclose(f);
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

/* ---- approval and issue -------------------------------------------------------------------*/
/* Certificates are read strictly (duplicate keys refused: another reader could see the other
 * value); approve and recompute accept any layout, verify only the exact form polydaq writes. */
static int load_cert(const char *path, json_t **out, struct pd_err *err)
{
    return cert_load_certificate(path, false, out, err);
}

/* Review, authorization and issue live in approve.c (on the registry). */

/* ---- verification -------------------------------------------------------------------------*/
void cert_verify_audit_log(const json_t *doc, const char *dir, struct pd_verify_report *r)
{
    const char *id = json_string_value(json_object_get(doc, "certificate_id"));
    char content[65];
    cert_content_hash(doc, content);
    /* The certificate's own entries: each intact and about this content. */
    const json_t *audit = json_object_get(doc, "audit");
    bool own_ok = json_array_size(audit) >= 3;
    for (size_t i = 0; i < json_array_size(audit); i++) {
        const json_t *e = json_array_get(audit, i);
        char h[65];
        const char *stored = json_string_value(json_object_get(e, "hash"));
        const char *c = json_string_value(json_object_get(e, "content_sha256"));
        if (entry_hash(e, h) < 0 || !stored || strcmp(h, stored) != 0 || !c || strcmp(c, content) != 0)
            own_ok = false;
    }
    cert_report_line(r, !own_ok, own_ok ? "ok: draft, review and authorization entries match the certified content"
                            : "FAIL: the certificate's audit entries do not match its content (altered after review?)");

    struct pd_err e = {0};
    json_t *log = NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/audit.log", dir);
    if (pd_registry_exists(dir)) { /* the lab's log is in its registry: verify --registry checks it */
        cert_report_line(r, false, "note: the lab's audit log is in %s/%s (checked by --registry %s)", dir,
                         PD_REGISTRY_FILE, dir);
        return;
    }
    if (access(path, R_OK) != 0) {
        cert_report_line(r, false, "note: no audit log at %s; the lab's log was not checked", path);
        return;
    }
    if (read_log(dir, &log, &e) < 0) {
        cert_report_line(r, true, "FAIL: %s", e.msg);
        return;
    }
    const char *prev = ZERO_HASH;
    bool chain = true, issued = false;
    size_t found = 0, bad_at = 0;
    char *canon = cert_canonical(doc, NULL);
    char whole[65] = "";
    if (canon)
        cert_sha256_hex(canon, strlen(canon), whole);
    free(canon);
    for (size_t i = 0; i < json_array_size(log); i++) {
        const json_t *le = json_array_get(log, i);
        char h[65];
        const char *stored = json_string_value(json_object_get(le, "hash"));
        const char *p = json_string_value(json_object_get(le, "prev"));
        if (entry_hash(le, h) < 0 || !stored || strcmp(h, stored) != 0 || !p || strcmp(p, prev) != 0) {
            if (chain)
                bad_at = i + 1;
            chain = false;
        }
        prev = stored ? stored : "";
        for (size_t k = 0; k < json_array_size(audit); k++) {
            const char *ah = json_string_value(json_object_get(json_array_get(audit, k), "hash"));
            if (ah && stored && strcmp(ah, stored) == 0)
                found++;
        }
        const char *ev = json_string_value(json_object_get(le, "event"));
        const char *cid = json_string_value(json_object_get(le, "certificate"));
        const char *ch = json_string_value(json_object_get(le, "content_sha256"));
        if (ev && cid && ch && id && strcmp(ev, "issue") == 0 && strcmp(cid, id) == 0 && strcmp(ch, whole) == 0)
            issued = true;
    }
    size_t n_log = json_array_size(log);
    json_decref(log);
    if (chain)
        cert_report_line(r, false, "ok: audit log chain intact (%zu entries)", n_log);
    else
        cert_report_line(r, true, "FAIL: audit log chain broken at entry %zu (an entry was changed, removed or inserted)", bad_at);
    cert_report_line(r, found != json_array_size(audit), found == json_array_size(audit)
                                                 ? "ok: the certificate's audit entries are in the lab's log"
                                                 : "FAIL: the certificate's audit entries are not all in the lab's log");
    cert_report_line(r, !issued, issued ? "ok: the log records the issue of exactly this certificate"
                            : "FAIL: the log has no issue entry for this certificate's exact content");
}

/* ---- recomputation ------------------------------------------------------------------------*/
/* Top-level members that legitimately differ between the certificate and a recomputation: its
 * number (and the verification page named by it), life cycle and signature, when it was drafted
 * and issued, and the build that made it. */
static const char *const not_content[] = {"certificate_id", "verification_url", "status", "drafted", "issued",
                                          "approvals", "audit", "signature", "software", NULL};

/* A value as a reader compares it: JSON, a real number in its shortest form that reads back as
 * the same double (0.003, not 0.0030000000000000001). */
static char *display(const json_t *v)
{
    if (json_is_real(v)) {
        char buf[40];
        if (pd_decimal_plain(json_real_value(v), buf, sizeof buf) < 0)
            snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
        return strdup(buf);
    }
    return v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17)) : NULL;
}

/* At most `width` bytes of s from about `from` (on UTF-8 boundaries), with "…" where cut. */
static void excerpt(const char *s, size_t from, size_t width, char *out, size_t size)
{
    size_t len = strlen(s), start = from > width / 3 ? from - width / 3 : 0;
    if (len <= width)
        start = 0;
    while (start > 0 && ((unsigned char)s[start] & 0xC0) == 0x80)
        start--;
    size_t end = start + width < len ? start + width : len;
    while (end < len && ((unsigned char)s[end] & 0xC0) == 0x80)
        end--;
    snprintf(out, size, "%s%.*s%s", start > 0 ? "…" : "", (int)(end - start), s + start, end < len ? "…" : "");
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void difference(const json_t *want, const json_t *got, const char *path, struct pd_verify_report *r,
                       size_t *n)
{
    char *a = display(want), *b = display(got);
    size_t at = 0;
    while (a && b && a[at] && a[at] == b[at]) /* where they part: shown in both excerpts */
        at++;
    char ea[130], eb[130];
    excerpt(a ? a : "(absent)", a ? at : 0, 100, ea, sizeof ea);
    excerpt(b ? b : "(absent)", b ? at : 0, 100, eb, sizeof eb);
    (*n)++;
    /* The order data are not in the raw files: certify had them from its command line. */
    bool order = strcmp(path, "customer") == 0 || strcmp(path, "request_id") == 0 || strncmp(path, "revision", 8) == 0;
    cert_report_line(r, true, "DIFF: %s: certificate %s, recomputed %s%s", path, ea, eb,
         order && (!got || json_is_null(got)) ? " (not in the raw data: give it as to certify)" : "");
    free(a);
    free(b);
}

/* Lists every leaf where the canonical forms of want and got differ, by its JSON path. */
static void compare(const json_t *want, const json_t *got, const char *path, struct pd_verify_report *r, size_t *n)
{
    char *a = cert_canonical(want, NULL), *b = cert_canonical(got, NULL);
    bool same = a && b && strcmp(a, b) == 0;
    free(a);
    free(b);
    if (same || (!want && !got))
        return;
    char sub[600];
    if (json_is_object(want) && json_is_object(got)) {
        size_t cap = json_object_size(want) + json_object_size(got), nk = 0;
        const char **keys = malloc((cap ? cap : 1) * sizeof *keys);
        if (!keys) {
            difference(want, got, path, r, n);
            return;
        }
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)want, key, v)
        {
            keys[nk++] = key;
        }
        json_object_foreach((json_t *)got, key, v)
        {
            if (!json_object_get(want, key))
                keys[nk++] = key;
        }
        qsort(keys, nk, sizeof *keys, cmp_keys); /* the canonical order */
        for (size_t i = 0; i < nk; i++) {
            snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", keys[i]);
            compare(json_object_get(want, keys[i]), json_object_get(got, keys[i]), sub, r, n);
        }
        free(keys);
        return;
    }
    if (json_is_array(want) && json_is_array(got)) {
        size_t na = json_array_size(want), nb = json_array_size(got);
        for (size_t i = 0; i < (na > nb ? na : nb); i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            compare(json_array_get(want, i), json_array_get(got, i), sub, r, n);
        }
        return;
    }
    difference(want, got, path, r, n);
}

/* The method the certificate records (`def`, from its definition) against where it came from: a
 * parameter the recorded method file states must be what the definition says (else the text was
 * changed: a difference); one it leaves to the defaults, or every one of a built-in method, is
 * noted when this build's default is another (the certificate's value is the one used). */
static void check_method_source(const json_t *mo, const struct pd_method_def *def, struct pd_verify_report *r,
                                size_t *n)
{
    const char *text = json_string_value(json_object_get(mo, "text"));
    if (!json_is_string(json_object_get(mo, "definition")))
        return; /* an older certificate: its text or the defaults were all there was to use */
    static struct pd_method_def src;
    struct pd_err e = {0};
    struct pd_cfg_doc *cfg = NULL;
    int rc = text ? pd_method_load_string("method.text", text, &src, &e) : pd_method_defaults(def->base, &src, &e);
    if (rc < 0) {
        (*n)++;
        cert_report_line(r, true, "DIFF: method.text: does not load as a method file on this build: %s", e.msg);
        return;
    }
    if (text && pd_cfg_load_string("method.text", text, strlen(text), &cfg, &e) < 0)
        cfg = NULL;
    const struct pd_cfg_node *stated = cfg ? pd_cfg_map_get(pd_cfg_root(cfg), "parameters") : NULL;
    for (size_t i = 0; i < def->n_params; i++) {
        double want = def->params[i].value, got = pd_method_param(&src, def->params[i].key);
        if (got == want)
            continue;
        char a[40] = "?", b[40] = "?";
        pd_decimal_plain(got, a, sizeof a);
        pd_decimal_plain(want, b, sizeof b);
        if (stated && pd_cfg_map_get(stated, def->params[i].key)) {
            (*n)++;
            cert_report_line(r, true, "DIFF: method.text: states %s = %s, method.definition %s", def->params[i].key, a, b);
        } else {
            cert_report_line(r, false, "note: this build's default for method parameter %s is %s; the certificate's %s was used",
                 def->params[i].key, a, b);
        }
    }
    pd_cfg_free(cfg);
}

int pd_cert_recompute(const char *cert_path, const char *const *data_paths, size_t n_data,
                      const struct pd_recompute_inputs *in, struct pd_verify_report *report, struct pd_err *err)
{
    if (!cert_path || !report || !data_paths || n_data == 0)
        return pd_err_set(err, PD_EINVAL, NULL, "recompute: a certificate and its raw files (--data) are needed");
    static const struct pd_recompute_inputs none;
    if (!in)
        in = &none;
    if (in->replaces && (!in->reason || !in->reason[0]))
        return pd_err_set(err, PD_EINVAL, NULL, "recompute: a revision of %s needs the reason for it", in->replaces);
    json_t *doc = NULL;
    int rc = load_cert(cert_path, &doc, err);
    if (rc < 0)
        return rc;
    static struct pd_spec spec;
    static struct pd_method_def def;
    char note[300] = "";
    const json_t *so = json_object_get(doc, "spec");
    const char *spec_text = json_string_value(json_object_get(so, "text"));
    const char *spec_file = json_string_value(json_object_get(so, "file"));
    if (!spec_text)
        rc = pd_err_set(err, PD_EDATA, cert_path, "the certificate records no spec text to recompute with");
    if (rc == 0)
        rc = pd_spec_load_string(spec_file ? spec_file : "spec", spec_text, &spec, err);
    if (rc == 0 && !json_is_object(json_object_get(doc, "method")))
        rc = pd_err_set(err, PD_EDATA, cert_path, "the certificate records no method to recompute with");
    if (rc == 0)
        rc = cert_method_from_doc(json_object_get(doc, "method"), &def, note, sizeof note, err);
    size_t runs_n = json_array_size(json_object_get(doc, "runs"));
    if (rc == 0 && runs_n != n_data)
        rc = pd_err_set(err, PD_EINVAL, cert_path, "the certificate has %zu run files, %zu given", runs_n, n_data);
    json_t *fresh = NULL;
    enum pd_verdict v;
    bool acc;
    /* made before seals were checked (no runs[].seal): recomputed with the gate as it was then */
    bool before_seals = rc == 0 && !json_object_get(json_array_get(json_object_get(doc, "runs"), 0), "seal");
    size_t ns, nf;
    if (rc == 0) {
        /* the station keys trusted when it was made (the registry's then), so the gate decides alike */
        static struct pd_public_key stations[64];
        size_t n_stations = cert_trusted_stations_of(doc, stations, sizeof stations / sizeof stations[0]);
        struct cert_build b = {.run_paths = data_paths, .n_runs = n_data, .spec = &spec, .method = &def,
                               .request_id = in->request_id, .customer = in->customer, .hash_files = true,
                               .trusted_stations = stations, .n_trusted_stations = n_stations,
                               .gate_before_seals = before_seals};
        rc = cert_build_document(&b, &fresh, &v, &acc, &ns, &nf, err);
    }
    if (rc == 0 && in->replaces &&
        json_object_set_new(fresh, "revision", json_pack("{s:s,s:s}", "replaces", in->replaces, "reason", in->reason)) < 0)
        rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    if (rc < 0) {
        json_decref(doc);
        return rc;
    }
    static struct pd_verify_report r;
    memset(&r, 0, sizeof r);
    r.ok = true;
    r.each_line = in->each_line;
    r.each_line_arg = in->each_line_arg;
    if (note[0])
        cert_report_line(&r, false, "note: %s", note);
    if (before_seals)
        cert_report_line(&r, false, "note: certified before run-file seals were checked: recomputed without the "
                                    "seal, imported and recovered checks");
    /* The definition is an input, recorded verbatim like the spec and method texts: what it says is
     * compared through the method fields regenerated from it (parameters, channels, budget ...), so
     * a later build that writes definitions differently still recomputes an old certificate. */
    json_t *rec_def = json_object_get(json_object_get(doc, "method"), "definition");
    if (json_is_string(rec_def))
        json_object_set(json_object_get(fresh, "method"), "definition", rec_def);
    /* Where the raw files are now is not content (their SHA-256 is, and is compared). */
    json_t *ra = json_object_get(doc, "runs"), *rb = json_object_get(fresh, "runs");
    for (size_t i = 0; i < runs_n; i++) {
        json_t *fa = json_object_get(json_array_get(ra, i), "file");
        if (!json_equal(fa, json_object_get(json_array_get(rb, i), "file"))) {
            cert_report_line(&r, false, "note: runs[%zu].file: certified as %s, read from %s", i,
                 json_string_value(fa) ? json_string_value(fa) : "(none)", data_paths[i]);
            if (fa)
                json_object_set(json_array_get(rb, i), "file", fa);
        }
    }
    const char *va = json_string_value(json_object_get(json_object_get(doc, "software"), "version"));
    const char *vb = json_string_value(json_object_get(json_object_get(fresh, "software"), "version"));
    if (!va || !vb || strcmp(va, vb) != 0)
        cert_report_line(&r, false, "note: certified with polydaq %s, recomputed with %s", va ? va : "(unknown)", vb ? vb : "?");
    size_t n = 0;
    check_method_source(json_object_get(doc, "method"), &def, &r, &n);
    char *canon_a = cert_canonical(doc, not_content), *canon_b = cert_canonical(fresh, not_content);
    if (!canon_a || !canon_b) {
        rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    } else if (strcmp(canon_a, canon_b) == 0 && n == 0) {
        cert_report_line(&r, false,
             "ok: the certificate's content (%zu bytes of canonical JSON) recomputed identically, byte for byte, "
             "from %zu raw file(s)",
             strlen(canon_a), n_data);
    } else {
        size_t n_source = n;
        json_t *ca = json_deep_copy(doc), *cb = json_deep_copy(fresh);
        for (size_t i = 0; not_content[i] && ca && cb; i++) {
            json_object_del(ca, not_content[i]);
            json_object_del(cb, not_content[i]);
        }
        if (!ca || !cb)
            rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
        else
            compare(ca, cb, "", &r, &n);
        json_decref(ca);
        json_decref(cb);
        if (n == n_source && strcmp(canon_a, canon_b) != 0) /* memory ran out in the walk: never "identical" */
            cert_report_line(&r, true, "FAIL: the canonical forms differ");
        if (r.n_lines == PD_VERIFY_MAX_LINES) { /* the verdict line is never the one left out */
            r.n_lines--;
            r.n_omitted++;
        }
        cert_report_line(&r, true, "FAIL: %zu field(s) of the certificate differ from the recomputation", n);
    }
    free(canon_a);
    free(canon_b);
    json_decref(fresh);
    json_decref(doc);
    if (rc < 0)
        return rc;
    *report = r;
    return 0;
}
