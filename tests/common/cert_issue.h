/*
 * cert_issue.h — for tests of verify: issues a draft or reviewed certificate the way the registry
 * does by the agreed design (docs/CERTIFICATES.md §7), with approvals signed by personal keys, so
 * verify's checks can be attacked one by one. Header-only (static functions): each test program
 * that includes it links the cert module.
 */
#ifndef PD_TEST_CERT_ISSUE_H
#define PD_TEST_CERT_ISSUE_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert_internal.h"
#include "trust/trust.h"

/* The approval of `role` signed with the secret key at key_path (reviewer_sig: the reviewer's
 * signature hex, for the authorizer). NULL when the key cannot be loaded. */
static inline json_t *test_signed_approval(const char *role, const char *name, const char *key_path, const char *cert_id,
                                    const char *content, const char *reviewer_sig)
{
    struct pd_secret_key key;
    struct pd_err err = {0};
    if (pd_secret_key_load(key_path, &key, &err) < 0) {
        fprintf(stderr, "test_signed_approval: %s\n", err.msg);
        return NULL;
    }
    char msg[600];
    if (strcmp(role, "authorizer") == 0)
        snprintf(msg, sizeof msg, "polydaq-authorize-v1\n%s\n%s\n%s", cert_id, content, reviewer_sig);
    else
        snprintf(msg, sizeof msg, "polydaq-review-v1\n%s\n%s", cert_id, content);
    unsigned char sig[PD_KEY_SIGNATURE_BYTES];
    pd_key_sign(&key, msg, strlen(msg), sig);
    char hex[2 * PD_KEY_SIGNATURE_BYTES + 1];
    pd_signature_to_hex(sig, hex);
    json_t *a = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "role", role, "name", name, "key_id", key.pub.id,
                          "public_key", key.pub.hex, "content_sha256", content, "time", "2026-12-03T10:00:00Z",
                          "signature", hex);
    pd_secret_key_wipe(&key);
    return a;
}

/* The lab's issuing signature over the canonical form without "signature" (as approve makes it). */
static inline int test_lab_sign(json_t *doc, const char *lab_key_path)
{
    struct pd_secret_key key;
    struct pd_err err = {0};
    if (pd_secret_key_load(lab_key_path, &key, &err) < 0) {
        fprintf(stderr, "test_lab_sign: %s\n", err.msg);
        return -1;
    }
    static const char *const no_signature[] = {"signature", NULL};
    json_object_del(doc, "signature");
    char *canon = pd_json_canonical(doc, no_signature);
    unsigned char sig[PD_KEY_SIGNATURE_BYTES];
    pd_key_sign(&key, canon, strlen(canon), sig);
    free(canon);
    char hex[2 * PD_KEY_SIGNATURE_BYTES + 1];
    pd_signature_to_hex(sig, hex);
    json_object_set_new(doc, "signature", json_pack("{s:s,s:s,s:s,s:s}", "algorithm", "Ed25519", "public_key",
                                                    key.pub.hex, "key_id", key.pub.id, "value", hex));
    pd_secret_key_wipe(&key);
    return 0;
}

/* Appends an entry to DIR/audit.log as a folder from before the registry has it (the registry
 * keeps its log in registry.sqlite; verify still checks an old folder's log beside a certificate):
 * seq, time, event, certificate, actor, role, content_sha256, prev and hash, one JSON line. The
 * entry goes to *entry_out (the caller's). 0 on success. */
static inline int cert_audit_append(const char *dir, const char *event, const char *cert_id, const char *actor,
                                    const char *role, const char *content_sha256, json_t **entry_out, struct pd_err *err)
{
    char path[4200], prev[65] = "0000000000000000000000000000000000000000000000000000000000000000";
    snprintf(path, sizeof path, "%s/audit.log", dir);
    long long seq = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        char line[4096];
        while (fgets(line, sizeof line, f)) {
            json_t *e = json_loads(line, 0, NULL);
            const char *h = json_string_value(json_object_get(e, "hash"));
            if (h)
                snprintf(prev, sizeof prev, "%s", h);
            seq++;
            json_decref(e);
        }
        fclose(f);
    }
    json_t *e = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "seq", (json_int_t)(seq + 1), "time",
                          "2026-12-03T09:00:00.000000000Z", "event", event, "certificate", cert_id, "actor", actor,
                          "role", role, "content_sha256", content_sha256, "prev", prev);
    static const char *const no_hash[] = {"hash", NULL};
    char *canon = e ? pd_json_canonical(e, no_hash) : NULL;
    char hex[65];
    if (!canon) {
        json_decref(e);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    }
    pd_sha256_hex(canon, strlen(canon), hex);
    free(canon);
    json_object_set_new(e, "hash", json_string(hex));
    char *text = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    f = text ? fopen(path, "a") : NULL;
    int rc = f && fprintf(f, "%s\n", text) > 0 ? 0 : pd_err_set(err, PD_EIO, path, "cannot append");
    if (f && fclose(f) != 0)
        rc = pd_err_set(err, PD_EIO, path, "cannot append");
    free(text);
    if (rc < 0) {
        json_decref(e);
        return rc;
    }
    *entry_out = e;
    return 0;
}

/* Writes doc in the exact form polydaq writes certificates. */
static inline int test_write_cert(const char *path, const json_t *doc)
{
    char *text = cert_document_text(doc);
    struct pd_err err = {0};
    int rc = text ? cert_write_file(path, text, false, &err) : -1;
    free(text);
    return rc;
}

/* A draft as certify leaves it in the folder dir (which must exist; its own audit log): number
 * CERT-000041, a little content, the draft entry. Its path in path[size]. 0 on success. */
static inline int test_make_draft(const char *dir, const char *customer, char *path, size_t size)
{
    snprintf(path, size, "%s/CERT-000041.json", dir);
    json_t *doc = json_pack("{s:s,s:s,s:{s:s,s:s},s:s,s:s,s:i,s:[{s:s,s:{s:{s:f,s:s}}}],s:[]}", "certificate_id",
                            "CERT-000041", "status", "draft", "lab", "name", "Joint Plastics Test Laboratory",
                            "address", "Hall B", "customer", customer, "drafted", "2026-12-03T09:00:00Z",
                            "specimens_tested", 1, "specimens", "id", "S01", "results", "tensile_modulus", "value",
                            1503.5, "unit", "MPa", "runs");
    char content[65];
    json_t *entry = NULL;
    struct pd_err err = {0};
    int rc = doc && cert_content_hash(doc, content) == 0 ? 0 : -1;
    if (rc == 0)
        rc = cert_audit_append(dir, "draft", "CERT-000041", "A. Tester", "operator", content, &entry, &err);
    if (rc == 0) {
        json_object_set_new(doc, "audit", json_pack("[o]", entry));
        rc = test_write_cert(path, doc);
    }
    json_decref(doc);
    return rc;
}

/* Issues the certificate at path (a draft, or reviewed by pd_cert_approve: its unsigned review is
 * replaced) with a reviewer's and an authorizer's signed approvals, audit entries in the lab's log
 * beside it, and the lab key's signature. 0 on success. */
static inline int test_issue_signed_as(const char *path, const char *reviewer, const char *reviewer_key,
                                const char *authorizer, const char *authorizer_key, const char *lab_key)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (!doc)
        return -1;
    char dir[4096], content[65];
    cert_dirname(path, dir, sizeof dir);
    cert_content_hash(doc, content);
    const char *id = json_string_value(json_object_get(doc, "certificate_id"));
    const char *status = json_string_value(json_object_get(doc, "status"));
    struct pd_err err = {0};
    json_t *entry = NULL, *audit = json_object_get(doc, "audit");
    int rc = 0;
    if (strcmp(status, "draft") == 0) {
        rc = cert_audit_append(dir, "review", id, reviewer, "reviewer", content, &entry, &err);
        if (rc == 0)
            json_array_append_new(audit, entry);
    }
    json_t *review = test_signed_approval("reviewer", reviewer, reviewer_key, id, content, NULL);
    json_t *authorize = review ? test_signed_approval("authorizer", authorizer, authorizer_key, id, content,
                                                      json_string_value(json_object_get(review, "signature")))
                               : NULL;
    if (rc == 0 && review && authorize)
        rc = cert_audit_append(dir, "authorize", id, authorizer, "authorizer", content, &entry, &err);
    else
        rc = -1;
    if (rc == 0) {
        json_array_append_new(audit, entry);
        json_object_set_new(doc, "approvals", json_pack("[o,o]", review, authorize));
        review = authorize = NULL;
        json_object_set_new(doc, "status", json_string("issued"));
        json_object_set_new(doc, "issued", json_string("2026-12-03T10:00:01Z"));
        rc = test_lab_sign(doc, lab_key);
    }
    if (rc == 0)
        rc = test_write_cert(path, doc);
    if (rc == 0) {
        char *canon = pd_json_canonical(doc, NULL), whole[65];
        pd_sha256_hex(canon, strlen(canon), whole);
        free(canon);
        rc = cert_audit_append(dir, "issue", id, authorizer, "authorizer", whole, &entry, &err);
        json_decref(entry);
    }
    if (rc != 0 && err.msg[0])
        fprintf(stderr, "test_issue_signed: %s\n", err.msg);
    json_decref(review);
    json_decref(authorize);
    json_decref(doc);
    return rc;
}

static inline int test_issue_signed(const char *path, const char *reviewer_key, const char *authorizer_key,
                             const char *lab_key)
{
    return test_issue_signed_as(path, "R. Viewer", reviewer_key, "B. Boss", authorizer_key, lab_key);
}

#endif
