/* verify.c — whether an issued certificate can be trusted: its exact form, the lab's signature
 * against the verifier's trust anchors, the signed approvals, the lab's revocation list and the
 * raw files' SHA-256 (the audit-log checks are issue.c's, beside the log they read). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert_internal.h"
#include "trust/trust.h"

static const char *const no_signature[] = {"signature", NULL};

void cert_report_line(struct pd_verify_report *r, bool fail, const char *fmt, ...)
{
    if (fail)
        r->ok = false;
    char text[sizeof r->lines[0]];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (r->each_line)
        r->each_line(text, r->each_line_arg);
    if (r->n_lines >= PD_VERIFY_MAX_LINES) {
        r->n_omitted++;
        return;
    }
    memcpy(r->lines[r->n_lines++], text, sizeof text);
}

static const char *basename_of(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static void verify_data(const json_t *doc, const char *const *data, size_t n_data, struct pd_verify_report *r)
{
    const json_t *runs = json_object_get(doc, "runs");
    for (size_t i = 0; i < n_data; i++) {
        char hex[65];
        struct pd_err e = {0};
        if (pd_sha256_file(data[i], hex, &e) < 0) {
            cert_report_line(r, true, "FAIL: %s", e.msg);
            continue;
        }
        /* The run entry of the same file name, else the one at the same position. */
        const json_t *match = NULL;
        for (size_t k = 0; k < json_array_size(runs) && !match; k++) {
            const char *f = json_string_value(json_object_get(json_array_get(runs, k), "file"));
            if (f && strcmp(basename_of(f), basename_of(data[i])) == 0)
                match = json_array_get(runs, k);
        }
        if (!match)
            match = json_array_get(runs, i);
        const char *want = json_string_value(json_object_get(match, "sha256"));
        if (!want)
            cert_report_line(r, true, "FAIL: %s: the certificate records no raw file for it", data[i]);
        else if (strcmp(want, hex) != 0)
            cert_report_line(r, true, "FAIL: %s: SHA-256 %.16s… differs from the certificate's %.16s… (raw data changed)", data[i],
                 hex, want);
        else
            cert_report_line(r, false, "ok: raw file %s matches its SHA-256", basename_of(data[i]));
    }
}

/* What the (signed) certificate records of each run's seal (docs/CERTIFICATES.md §6): shown, not
 * checked again — certify checked it against the raw file, the signature covers what it found. */
static void verify_seals(const json_t *doc, struct pd_verify_report *r)
{
    const json_t *runs = json_object_get(doc, "runs");
    for (size_t i = 0; i < json_array_size(runs); i++) {
        const json_t *run = json_array_get(runs, i), *seal = json_object_get(run, "seal");
        const char *file = json_string_value(json_object_get(run, "file"));
        const char *station = json_string_value(json_object_get(seal, "station"));
        const char *key_id = json_string_value(json_object_get(seal, "key_id"));
        file = file ? basename_of(file) : "?";
        if (!seal) /* a certificate from before seals were checked */
            continue;
        if (!json_is_object(seal))
            cert_report_line(r, false, "note: run file %.100s had no seal certify could read", file);
        else
            cert_report_line(r, false, "note: run file %.100s sealed by station '%.60s' (key %.16s), a key certify %s",
                             file, station ? station : "?", key_id ? key_id : "?",
                             json_is_true(json_object_get(seal, "key_trusted")) ? "trusted" : "did not trust");
    }
}

/* ---- trust anchors --------------------------------------------------------------------------*/
/* The lab keys this verifier trusts, each with where it came from, and the keyring's persons. */
struct anchors {
    struct pd_public_key keys[64];
    char source[64][256];
    size_t n;
    struct pd_keyring ring; /* empty without --keyring */
    bool keyring_given;
    bool registry_given;
};

static int anchor_add(struct anchors *a, const struct pd_public_key *key, const char *fmt, const char *arg,
                      struct pd_err *err)
{
    if (a->n >= sizeof a->keys / sizeof a->keys[0])
        return pd_err_set(err, PD_ERANGE, NULL, "more than %zu trusted lab keys", sizeof a->keys / sizeof a->keys[0]);
    a->keys[a->n] = *key;
    snprintf(a->source[a->n], sizeof a->source[0], fmt, arg);
    a->n++;
    return 0;
}

static int anchors_load(const struct pd_verify_options *opt, struct anchors *a, struct pd_err *err)
{
    memset(a, 0, sizeof *a);
    if (opt->key_path) {
        struct pd_public_key k;
        int rc = pd_public_key_load(opt->key_path, &k, err);
        if (rc < 0)
            return rc;
        anchor_add(a, &k, "%s", opt->key_path, err);
    }
    if (opt->keyring_path) {
        int rc = pd_keyring_load(opt->keyring_path, &a->ring, err);
        if (rc < 0)
            return rc;
        a->keyring_given = true;
        for (size_t i = 0; i < a->ring.n && rc == 0; i++)
            if (a->ring.entries[i].role == PD_KEY_ROLE_LAB)
                rc = anchor_add(a, &a->ring.entries[i].key, "lab key \"%s\" of the keyring", a->ring.entries[i].label,
                                err);
        if (rc < 0)
            return rc;
    }
    if (opt->registry_dir) { /* the registry's lab keys */
        a->registry_given = true;
        struct pd_public_key *keys = NULL;
        char(*names)[128] = NULL;
        size_t n = 0;
        int rc = cert_registry_lab_keys(opt->registry_dir, &keys, &names, &n, err);
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = anchor_add(a, &keys[i], "lab key \"%s\" of the registry", names[i], err);
        free(keys);
        free(names);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The anchor whose key signed these bytes, or -1. */
static int anchor_signer(const struct anchors *a, const char *bytes, const unsigned char sig[PD_KEY_SIGNATURE_BYTES])
{
    for (size_t i = 0; i < a->n; i++)
        if (pd_key_verify(&a->keys[i], bytes, strlen(bytes), sig))
            return (int)i;
    return -1;
}

static const char *no_anchor_reason(const struct anchors *a)
{
    return a->keyring_given ? "no trust anchor given (the keyring lists no lab key; --key, --keyring or --registry)"
                            : "no trust anchor given (--key, --keyring or --registry)";
}

/* The lab's issuing signature over the canonical form without "signature". */
static void verify_signature(const json_t *doc, const struct anchors *a, struct pd_verify_report *r)
{
    const json_t *sig = json_object_get(doc, "signature");
    struct pd_err ignored;
    unsigned char s[PD_KEY_SIGNATURE_BYTES];
    const char *alg = json_string_value(json_object_get(sig, "algorithm"));
    if (!alg || strcmp(alg, "Ed25519") != 0 ||
        pd_signature_from_hex(json_string_value(json_object_get(sig, "value")), s, &ignored) < 0) {
        cert_report_line(r, true, "FAIL: no usable Ed25519 signature");
        return;
    }
    struct pd_public_key named;
    bool have_named = pd_public_key_from_hex(json_string_value(json_object_get(sig, "public_key")), &named, &ignored) == 0;
    char *canon = cert_canonical(doc, no_signature);
    if (!canon) {
        cert_report_line(r, true, "FAIL: out of memory checking the signature");
        return;
    }
    bool named_valid = have_named && pd_key_verify(&named, canon, strlen(canon), s);
    int signer = anchor_signer(a, canon, s);
    free(canon);
    if (signer >= 0) {
        const struct pd_public_key *k = &a->keys[signer];
        const char *id = json_string_value(json_object_get(sig, "key_id"));
        if (!have_named || memcmp(named.bytes, k->bytes, PD_KEY_PUBLIC_BYTES) != 0 || !id || strcmp(id, k->id) != 0)
            cert_report_line(r, true, "FAIL: the signature's public_key/key_id do not name the key that signed it (%s)",
                             k->id);
        else
            cert_report_line(r, false, "ok: Ed25519 signature valid, by the trusted lab key %s (%s)", k->id,
                             a->source[signer]);
    } else if (a->n == 0) {
        if (named_valid)
            cert_report_line(r, true, "FAIL: signature valid, signer not trusted: %s", no_anchor_reason(a));
        else
            cert_report_line(r, true, "FAIL: signature does not verify (certificate changed after signing), and %s",
                             no_anchor_reason(a));
    } else if (named_valid) {
        cert_report_line(r, true,
                         "FAIL: signature valid, signer not trusted: key %s is not a trusted lab key (anyone can "
                         "make a key and sign)",
                         named.id);
    } else {
        cert_report_line(r, true,
                         "FAIL: signature does not verify with any trusted lab key (certificate changed after "
                         "signing, or another key)");
    }
}

/* ---- approvals ------------------------------------------------------------------------------*/
/* One approval's signed fields, checked for form; its key and signature decoded. */
struct approval {
    const char *name, *content, *sig_hex, *time;
    struct pd_public_key key;
    unsigned char sig[PD_KEY_SIGNATURE_BYTES];
};

/* false (with the reason in why) when the entry lacks a field or one is malformed. */
static bool approval_parse(const json_t *e, struct approval *out, char *why, size_t why_size)
{
    struct pd_err ignored;
    out->name = json_string_value(json_object_get(e, "name"));
    out->content = json_string_value(json_object_get(e, "content_sha256"));
    out->sig_hex = json_string_value(json_object_get(e, "signature"));
    out->time = json_string_value(json_object_get(e, "time"));
    const char *key_hex = json_string_value(json_object_get(e, "public_key"));
    const char *key_id = json_string_value(json_object_get(e, "key_id"));
    if (!out->sig_hex && !key_hex) {
        snprintf(why, why_size, "is not signed: a certificate from before polydaq signed approvals (re-issue it, or "
                                "verify it with --registry of a migrated registry)");
        return false;
    }
    if (!out->name || !out->content || !out->time || !key_id || !key_hex || !out->sig_hex) {
        snprintf(why, why_size, "lacks one of name, time, content_sha256, key_id, public_key, signature");
        return false;
    }
    if (pd_public_key_from_hex(key_hex, &out->key, &ignored) < 0 || strcmp(key_id, out->key.id) != 0) {
        snprintf(why, why_size, "has a public_key that is not 64 hex digits or a key_id that is not its id");
        return false;
    }
    if (pd_signature_from_hex(out->sig_hex, out->sig, &ignored) < 0) {
        snprintf(why, why_size, "has a signature that is not 128 hex digits");
        return false;
    }
    return true;
}

/* The bytes each role signs (docs/CERTIFICATES.md §7): the reviewer the certificate's number and
 * content hash, the authorizer the same and the reviewer's signature (so it approves that review). */
static char *approval_message(bool authorizer, const char *id, const char *content, const char *reviewer_sig)
{
    size_t size = strlen(id) + strlen(content) + (reviewer_sig ? strlen(reviewer_sig) : 0) + 40;
    char *m = malloc(size);
    if (!m)
        return NULL;
    if (authorizer)
        snprintf(m, size, "polydaq-authorize-v1\n%s\n%s\n%s", id, content, reviewer_sig);
    else
        snprintf(m, size, "polydaq-review-v1\n%s\n%s", id, content);
    return m;
}

static void verify_approvals(const json_t *doc, const struct anchors *a, struct pd_verify_report *r)
{
    const char *id = json_string_value(json_object_get(doc, "certificate_id"));
    const json_t *list = json_object_get(doc, "approvals");
    const json_t *rev = NULL, *auth = NULL;
    bool extra = !json_is_array(list);
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *e = json_array_get(list, i);
        const char *role = json_string_value(json_object_get(e, "role"));
        const json_t **slot = role && strcmp(role, "reviewer") == 0     ? &rev
                              : role && strcmp(role, "authorizer") == 0 ? &auth
                                                                        : NULL;
        if (!slot || *slot)
            extra = true;
        else
            *slot = e;
    }
    if (extra || !rev || !auth) {
        cert_report_line(r, true, "FAIL: approvals: an issued certificate has exactly one reviewer and one authorizer");
        return;
    }
    struct approval ra, aa;
    char why[300];
    if (!approval_parse(rev, &ra, why, sizeof why)) {
        cert_report_line(r, true, "FAIL: the reviewer's approval %s", why);
        return;
    }
    if (!approval_parse(auth, &aa, why, sizeof why)) {
        cert_report_line(r, true, "FAIL: the authorizer's approval %s", why);
        return;
    }
    char content[65];
    if (cert_content_hash(doc, content) < 0) {
        cert_report_line(r, true, "FAIL: out of memory checking the approvals");
        return;
    }
    bool ok = true;
    const struct approval *both[2] = {&ra, &aa};
    for (int k = 0; k < 2; k++) {
        const char *role = k ? "authorizer" : "reviewer";
        if (strcmp(both[k]->content, content) != 0) {
            cert_report_line(r, true,
                             "FAIL: the %s approved content %.16s…, the certificate's content is now %.16s… (changed "
                             "after approval)",
                             role, both[k]->content, content);
            ok = false;
            continue;
        }
        char *msg = approval_message(k == 1, id, both[k]->content, ra.sig_hex);
        bool good = msg && pd_key_verify(&both[k]->key, msg, strlen(msg), both[k]->sig);
        free(msg);
        if (!good) {
            cert_report_line(r, true, "FAIL: the %s's signature (key %s) does not verify%s", role, both[k]->key.id,
                             k ? " over this content and the reviewer's signature" : " over this content");
            ok = false;
        }
    }
    if (memcmp(ra.key.bytes, aa.key.bytes, PD_KEY_PUBLIC_BYTES) == 0) {
        cert_report_line(r, true, "FAIL: reviewer and authorizer signed with the same key %s: four eyes need two people",
                         ra.key.id);
        ok = false;
    }
    if (!ok)
        return;
    cert_report_line(r, false,
                     "ok: reviewer %s (key %s) and authorizer %s (key %s) signed this content, with two different "
                     "keys",
                     ra.name, ra.key.id, aa.name, aa.key.id);
    size_t persons = pd_keyring_count(&a->ring, PD_KEY_ROLE_REVIEWER) + pd_keyring_count(&a->ring, PD_KEY_ROLE_AUTHORIZER);
    if (persons == 0 && a->registry_given)
        return; /* the registry's persons are checked by cert_verify_registry */
    if (persons == 0) {
        cert_report_line(r, false, "note: the approvers' keys were not checked against the lab's persons (no keyring "
                                   "listing reviewers and authorizers, no registry)");
        return;
    }
    const struct pd_keyring_entry *re = pd_keyring_find(&a->ring, &ra.key, PD_KEY_ROLE_REVIEWER);
    const struct pd_keyring_entry *ae = pd_keyring_find(&a->ring, &aa.key, PD_KEY_ROLE_AUTHORIZER);
    if (!re)
        cert_report_line(r, true, "FAIL: the reviewer's key %s is not a reviewer's key in the keyring", ra.key.id);
    if (!ae)
        cert_report_line(r, true, "FAIL: the authorizer's key %s is not an authorizer's key in the keyring", aa.key.id);
    if (re && ae)
        cert_report_line(r, false, "ok: the keyring lists the reviewer's key as \"%s\" and the authorizer's as \"%s\"",
                         re->label, ae->label);
}

/* ---- revocation list ------------------------------------------------------------------------*/
static bool is_str(const json_t *o, const char *key)
{
    return json_is_string(json_object_get(o, key));
}

/* The list's form (PD_EDATA naming what is wrong: it is not a revocation list then). */
static int revocations_check_form(const char *path, const json_t *list, struct pd_err *err)
{
    const char *format = json_string_value(json_object_get(list, "format"));
    const json_t *entries = json_object_get(list, "entries"), *sig = json_object_get(list, "signature");
    if (!json_is_object(list) || !format || strcmp(format, "polydaq-revocations-1") != 0)
        return pd_err_set(err, PD_EDATA, path, "not a polydaq revocation list (format is not polydaq-revocations-1)");
    if (!is_str(list, "lab") || !is_str(list, "published") || !json_is_array(entries) || !json_is_object(sig) ||
        !is_str(sig, "value") || !is_str(sig, "public_key"))
        return pd_err_set(err, PD_EDATA, path,
                          "not a polydaq revocation list: lab, published, entries and signature are needed");
    for (size_t i = 0; i < json_array_size(entries); i++) {
        const json_t *e = json_array_get(entries, i);
        const char *state = json_string_value(json_object_get(e, "state"));
        const json_t *by = json_object_get(e, "by");
        bool superseded = state && strcmp(state, "superseded") == 0;
        if (!json_is_object(e) || !is_str(e, "certificate") || !is_str(e, "reason") || !is_str(e, "time") ||
            !(superseded || (state && strcmp(state, "withdrawn") == 0)) ||
            !(json_is_string(by) || (!superseded && json_is_null(by))))
            return pd_err_set(err, PD_EDATA, path,
                              "entries[%zu]: certificate, state (withdrawn or superseded), by (the successor, or "
                              "null when withdrawn), reason and time are needed",
                              i);
    }
    return 0;
}

static int verify_revocations(const char *path, const json_t *doc, const struct anchors *a,
                              struct pd_verify_report *r, struct pd_err *err)
{
    json_t *list = NULL;
    int rc = cert_load_json(path, "revocation list", &list, NULL, NULL, err);
    if (rc == 0)
        rc = revocations_check_form(path, list, err);
    if (rc < 0) {
        json_decref(list);
        return rc;
    }
    const json_t *sig = json_object_get(list, "signature");
    struct pd_err ignored;
    unsigned char s[PD_KEY_SIGNATURE_BYTES];
    char *canon = cert_canonical(list, no_signature);
    int signer = canon && pd_signature_from_hex(json_string_value(json_object_get(sig, "value")), s, &ignored) == 0
                     ? anchor_signer(a, canon, s)
                     : -1;
    free(canon);
    if (signer < 0) {
        cert_report_line(r, true,
                         "FAIL: the revocation list %s is not signed by a trusted lab key (changed after publication, "
                         "or another signer): withdrawn certificates cannot be checked",
                         path);
        json_decref(list);
        return 0;
    }
    const char *id = json_string_value(json_object_get(doc, "certificate_id"));
    const json_t *entries = json_object_get(list, "entries");
    bool listed = false;
    for (size_t i = 0; i < json_array_size(entries); i++) {
        const json_t *e = json_array_get(entries, i);
        if (strcmp(json_string_value(json_object_get(e, "certificate")), id) != 0)
            continue;
        listed = true;
        const char *by = json_string_value(json_object_get(e, "by"));
        const char *when = json_string_value(json_object_get(e, "time"));
        const char *reason = json_string_value(json_object_get(e, "reason"));
        if (strcmp(json_string_value(json_object_get(e, "state")), "superseded") == 0)
            cert_report_line(r, true, "FAIL: %s was superseded by %s on %s: %s", id, by, when, reason);
        else
            cert_report_line(r, true, "FAIL: %s was withdrawn on %s: %s", id, when, reason);
    }
    if (!listed)
        cert_report_line(r, false, "ok: %s is neither withdrawn nor superseded in the revocation list of %s published %s",
                         id, json_string_value(json_object_get(list, "lab")),
                         json_string_value(json_object_get(list, "published")));
    json_decref(list);
    return 0;
}

/* ---- the whole check ------------------------------------------------------------------------*/
int pd_cert_verify(const char *cert_path, const struct pd_verify_options *opt, struct pd_verify_report *report,
                   struct pd_err *err)
{
    static const struct pd_verify_options none;
    if (!opt)
        opt = &none;
    if (!cert_path || !report || (opt->n_data > 0 && !opt->data_paths))
        return pd_err_set(err, PD_EINVAL, NULL, "verify: missing certificate or report");
    static struct anchors a;
    int rc = anchors_load(opt, &a, err);
    json_t *doc = NULL;
    if (rc == 0)
        rc = cert_load_certificate(cert_path, true, &doc, err);
    if (rc < 0) {
        pd_keyring_close(&a.ring);
        return rc;
    }
    static struct pd_verify_report r;
    memset(&r, 0, sizeof r);
    r.ok = true;
    const char *status = json_string_value(json_object_get(doc, "status"));
    /* What is being verified, as the certificate states it (the verdict below says whether to
     * believe it): a forged certificate differs from the real one first in these. */
    const json_t *lab = json_object_get(doc, "lab"), *customer = json_object_get(doc, "customer");
    const json_t *issued = json_object_get(doc, "issued");
    cert_report_line(&r, false, "note: %s of %s for customer %s, issued %s",
                     json_string_value(json_object_get(doc, "certificate_id")),
                     json_is_string(json_object_get(lab, "name")) ? json_string_value(json_object_get(lab, "name"))
                                                                  : "(no lab named)",
                     json_is_string(customer) ? json_string_value(customer) : "(none)",
                     json_is_string(issued) ? json_string_value(issued) : "(not issued)");
    if (strcmp(status, "issued") != 0)
        cert_report_line(&r, true, "FAIL: %s is '%s', not issued (reviewer and authorizer approve it first)",
                         json_string_value(json_object_get(doc, "certificate_id")), status);
    verify_signature(doc, &a, &r);
    verify_approvals(doc, &a, &r);
    if (opt->revocations_path)
        rc = verify_revocations(opt->revocations_path, doc, &a, &r, err);
    if (rc == 0 && opt->registry_dir)
        rc = cert_verify_registry(doc, opt->registry_dir, &r, err);
    if (rc == 0) {
        char dir[4096];
        cert_dirname(cert_path, dir, sizeof dir);
        cert_verify_audit_log(doc, dir, &r);
        verify_data(doc, opt->data_paths, opt->n_data, &r);
        verify_seals(doc, &r);
        *report = r;
    }
    json_decref(doc);
    pd_keyring_close(&a.ring);
    return rc;
}
