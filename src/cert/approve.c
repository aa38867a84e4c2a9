/* approve.c — review, authorization (with the lab's issuing signature) and withdrawal of a registry's certificates,
 * each signed by a registered person's key. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cert/cert_internal.h"
#include "registry/registry.h"
#include "trust/trust.h"

static const char *const no_signature[] = {"signature", NULL};

/* The lab's issuing signature over the canonical form of everything else (approvals included). */
static int sign_doc(json_t *doc, const struct pd_secret_key *key, struct pd_err *err)
{
    char *canon = cert_canonical(doc, no_signature);
    if (!canon)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    unsigned char sig[PD_KEY_SIGNATURE_BYTES];
    pd_key_sign(key, canon, strlen(canon), sig);
    free(canon);
    char sig_hex[2 * PD_KEY_SIGNATURE_BYTES + 1];
    pd_signature_to_hex(sig, sig_hex);
    json_t *s = json_pack("{s:s,s:s,s:s,s:s,s:s}", "algorithm", "Ed25519", "public_key", key->pub.hex, "key_id",
                          key->pub.id, "value", sig_hex, "canonical_form",
                          "the certificate without 'signature', JSON compact, keys sorted, non-ASCII escaped "
                          "(\\uXXXX), reals with 17 significant digits, UTF-8 bytes");
    if (!s || json_object_set_new(doc, "signature", s) < 0)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    return 0;
}

/* The bytes a reviewer or authorizer signs (docs/CERTIFICATES.md §8). */
static void approval_message(enum pd_approval_role role, const char *id, const char *content, const char *reviewer_sig,
                             char *out, size_t size)
{
    if (role == PD_ROLE_REVIEWER)
        snprintf(out, size, "polydaq-review-v1\n%s\n%s", id, content);
    else
        snprintf(out, size, "polydaq-authorize-v1\n%s\n%s\n%s", id, content, reviewer_sig);
}

/* A secret key file whose public half is registered with `role` and active now. */
static int registered_signer(struct pd_registry *reg, const char *key_path, const struct pd_secret_key *in_memory,
                             enum pd_key_role role, struct pd_secret_key *key, struct pd_registry_key *who,
                             struct pd_err *err)
{
    int rc = 0;
    if (in_memory) {
        *key = *in_memory;
        key_path = "the session's key";
    } else if ((rc = pd_secret_key_load(key_path, key, err)) < 0) {
        return rc;
    }
    struct pd_err e = {0};
    rc = pd_registry_key_find(reg, &key->pub, who, &e);
    if (rc < 0) {
        pd_secret_key_wipe(key);
        if (rc != PD_ESTATE) {
            if (err)
                *err = e;
            return rc;
        }
        return pd_err_set(err, PD_ESTATE, key_path, "key %s is not registered in %s as %s (%s)", key->pub.id, reg->dir,
                          pd_key_role_name(role),
                          role == PD_KEY_ROLE_LAB ? "polydaq registry init DIR --lab-key LAB.pub"
                                             : "polydaq registry person add");
    }
    if (who->role != role) {
        pd_secret_key_wipe(key);
        return pd_err_set(err, PD_ESTATE, key_path, "key %s is registered for '%s' as %s, not as %s", key->pub.id,
                          who->name, pd_key_role_name(who->role), pd_key_role_name(role));
    }
    if (who->disabled[0]) {
        pd_secret_key_wipe(key);
        return pd_err_set(err, PD_ESTATE, key_path, "key %s of '%s' was disabled on %s", key->pub.id, who->name,
                          who->disabled);
    }
    return 0;
}

/* What the exported file says, against the registry: refused when its content was edited. */
static int check_export(const char *dir, const char *id, const char *want_content, struct pd_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.json", dir, id);
    json_error_t je;
    json_t *file = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!file) {
        if (access(path, F_OK) != 0 && errno == ENOENT)
            return 0; /* not exported (an interrupted certify): written again below */
        return pd_err_set(err, PD_ESTATE, path,
                          "the exported certificate is not valid JSON (%s at line %d): refused; "
                          "`polydaq registry export %s` restores it from the registry",
                          je.text, je.line, id);
    }
    char content[65];
    int rc = cert_content_hash(file, content);
    json_decref(file);
    if (rc < 0)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    if (strcmp(content, want_content) != 0)
        return pd_err_set(err, PD_ESTATE, path,
                          "the file's content differs from %s in the registry (edited after certify or review): "
                          "refused; `polydaq registry export %s` restores the registry's",
                          id, id);
    return 0;
}

static int doc_hashes(const json_t *doc, char content[65], char whole[65], struct pd_err *err)
{
    char *canon = cert_canonical(doc, NULL);
    if (!canon || cert_content_hash(doc, content) < 0) {
        free(canon);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    }
    cert_sha256_hex(canon, strlen(canon), whole);
    free(canon);
    return 0;
}

/* Inside the transaction: the checks and the new state of one approval. `done` is set when the
 * same key had already recorded this step (a repeat: nothing to change). */
static int approve_in(struct pd_registry *reg, const struct pd_approval *a, const struct pd_secret_key *person,
                      const struct pd_registry_key *who, const struct pd_secret_key *lab, struct pd_registry_cert *c,
                      bool *done, struct pd_err *err)
{
    const char *role_name = a->role == PD_ROLE_REVIEWER ? "reviewer" : "authorizer";
    const char *want = a->role == PD_ROLE_REVIEWER ? "draft" : "reviewed";
    int rc = pd_registry_cert_get(reg, a->cert_id, c, err);
    if (rc < 0)
        return rc;
    if (strcmp(c->status, want) != 0) {
        struct pd_registry_approval prior;
        struct pd_err e;
        if (pd_registry_approval_get(reg, a->cert_id, role_name, &prior, &e) == 0 && prior.key_ref == who->ref) {
            *done = true; /* this person recorded this step already (the repeat of an interrupted approve) */
            return 0;
        }
        return pd_err_set(err, PD_ESTATE, a->cert_id, "%s is '%s': a %s approves a %s certificate", a->cert_id,
                          c->status, role_name, want);
    }
    json_error_t je;
    json_t *doc = json_loads(c->document, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return pd_err_set(err, PD_EDATA, reg->path, "%s: the registry's document is not JSON: %s", a->cert_id, je.text);
    char content[65], whole[65];
    rc = doc_hashes(doc, content, whole, err);
    if (rc == 0 && strcmp(content, c->content_sha256) != 0)
        rc = pd_err_set(err, PD_ESTATE, reg->path,
                        "%s: the registry's document no longer hashes to the content recorded at certify "
                        "(changed outside polydaq): refused",
                        a->cert_id);
    if (rc == 0)
        rc = check_export(reg->dir, a->cert_id, content, err);
    char reviewer_sig[129] = "";
    if (rc == 0 && a->role == PD_ROLE_AUTHORIZER) {
        struct pd_registry_approval rv;
        struct pd_registry_key rk;
        unsigned char sig[PD_KEY_SIGNATURE_BYTES];
        char msg[400];
        rc = pd_registry_approval_get(reg, a->cert_id, "reviewer", &rv, err);
        if (rc == 0)
            rc = pd_registry_key_get(reg, rv.key_ref, &rk, err);
        if (rc == 0 && rv.key_ref == who->ref)
            rc = pd_err_set(err, PD_ESTATE, a->cert_id,
                            "%s was reviewed with this key ('%s'): the authorizer must be another person's key",
                            a->cert_id, who->name);
        if (rc == 0 && strcmp(rv.content_sha256, content) != 0)
            rc = pd_err_set(err, PD_ESTATE, a->cert_id,
                            "%s changed after review: the reviewer signed content %.16s…, it is now %.16s…: refused",
                            a->cert_id, rv.content_sha256, content);
        if (rc == 0) {
            approval_message(PD_ROLE_REVIEWER, a->cert_id, rv.content_sha256, NULL, msg, sizeof msg);
            struct pd_err e;
            if (pd_signature_from_hex(rv.signature, sig, &e) < 0 || !pd_key_verify(&rk.key, msg, strlen(msg), sig))
                rc = pd_err_set(err, PD_ESTATE, reg->path,
                                "%s: the reviewer's signature in the registry does not verify", a->cert_id);
        }
        if (rc == 0)
            pd_strlcpy(reviewer_sig, rv.signature, sizeof reviewer_sig);
    }
    char now[40], msg[400], sig_hex[129];
    pd_time_format_iso8601(pd_clock_utc_ns(), now, sizeof now);
    json_t *entry = NULL;
    if (rc == 0) {
        unsigned char sig[PD_KEY_SIGNATURE_BYTES];
        approval_message(a->role, a->cert_id, content, reviewer_sig, msg, sizeof msg);
        pd_key_sign(person, msg, strlen(msg), sig);
        pd_signature_to_hex(sig, sig_hex);
        rc = pd_registry_audit_append(reg, a->role == PD_ROLE_REVIEWER ? "review" : "authorize", a->cert_id, who->name,
                                      role_name, content, &entry, err);
    }
    bool ok = true;
    if (rc == 0) {
        json_t *approvals = json_object_get(doc, "approvals");
        if (!json_is_array(approvals)) {
            approvals = json_array();
            cert_jset(doc, "approvals", approvals, &ok);
        }
        cert_jappend(approvals,
                     json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "role", role_name, "name", who->name, "key_id",
                               person->pub.id, "public_key", person->pub.hex, "content_sha256", content, "time", now,
                               "signature", sig_hex),
                     &ok);
        json_t *audit = json_object_get(doc, "audit");
        if (!json_is_array(audit)) {
            audit = json_array();
            cert_jset(doc, "audit", audit, &ok);
        }
        cert_jappend(audit, json_incref(entry), &ok);
        cert_jset(doc, "status", cert_jstr(a->role == PD_ROLE_REVIEWER ? "reviewed" : "issued"), &ok);
        if (a->role == PD_ROLE_AUTHORIZER)
            cert_jset(doc, "issued", cert_jstr(now), &ok);
        if (!ok)
            rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    }
    json_decref(entry);
    if (rc == 0 && a->role == PD_ROLE_AUTHORIZER)
        rc = sign_doc(doc, lab, err);
    char *text = rc == 0 ? cert_document_text(doc) : NULL;
    if (rc == 0 && !text)
        rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    if (rc == 0)
        rc = doc_hashes(doc, content, whole, err);
    if (rc == 0) {
        free(c->document);
        c->document = text;
        text = NULL;
        pd_strlcpy(c->status, a->role == PD_ROLE_REVIEWER ? "reviewed" : "issued", sizeof c->status);
        memcpy(c->document_sha256, whole, sizeof whole);
        if (a->role == PD_ROLE_AUTHORIZER)
            pd_strlcpy(c->issued, now, sizeof c->issued);
        rc = pd_registry_cert_update(reg, want, c, err);
    }
    free(text);
    if (rc == 0) {
        struct pd_registry_approval ap = {.key_ref = who->ref};
        pd_strlcpy(ap.cert_id, a->cert_id, sizeof ap.cert_id);
        pd_strlcpy(ap.role, role_name, sizeof ap.role);
        memcpy(ap.content_sha256, content, sizeof content);
        pd_strlcpy(ap.time, now, sizeof ap.time);
        memcpy(ap.signature, sig_hex, sizeof sig_hex);
        rc = pd_registry_approval_add(reg, &ap, err);
    }
    if (rc == 0 && a->role == PD_ROLE_AUTHORIZER) {
        /* The issue entry records the hash of the whole signed certificate: a certificate swapped
         * for another after issue no longer matches the registry. */
        rc = pd_registry_audit_append(reg, "issue", a->cert_id, who->name, role_name, whole, NULL, err);
        const json_t *rev = json_object_get(doc, "revision");
        const char *old = json_string_value(json_object_get(rev, "replaces"));
        if (rc == 0 && old) {
            rc = pd_registry_cert_retire(reg, old, a->cert_id, json_string_value(json_object_get(rev, "reason")), now,
                                         err);
            char reason_hash[65];
            const char *reason = json_string_value(json_object_get(rev, "reason"));
            pd_sha256_hex(reason ? reason : "", reason ? strlen(reason) : 0, reason_hash);
            if (rc == 0)
                rc = pd_registry_audit_append(reg, "supersede", old, who->name, role_name, reason_hash, NULL, err);
        }
    }
    json_decref(doc);
    return rc;
}

int pd_cert_approve(const struct pd_approval *a, char *status_out, size_t status_size, struct pd_err *err)
{
    if (!a || !a->dir || !a->cert_id || (!a->person_key && !a->person_secret) ||
        (a->role != PD_ROLE_REVIEWER && a->role != PD_ROLE_AUTHORIZER))
        return pd_err_set(err, PD_EINVAL, NULL, "approve: missing folder, certificate, key or role");
    if (a->role == PD_ROLE_AUTHORIZER && !a->lab_key)
        return pd_err_set(err, PD_EINVAL, NULL, "approve: the authorizer issues with the lab's key: --lab-key LAB.key");
    struct pd_registry reg;
    int rc = pd_registry_open(&reg, a->dir, 0, err);
    if (rc < 0)
        return rc;
    struct pd_secret_key person, lab;
    struct pd_registry_key who, lab_reg;
    memset(&lab, 0, sizeof lab);
    rc = registered_signer(&reg, a->person_key, a->person_secret, a->role == PD_ROLE_REVIEWER ? PD_KEY_ROLE_REVIEWER : PD_KEY_ROLE_AUTHORIZER,
                           &person, &who, err);
    if (rc == 0 && a->role == PD_ROLE_AUTHORIZER) {
        rc = registered_signer(&reg, a->lab_key, NULL, PD_KEY_ROLE_LAB, &lab, &lab_reg, err);
        if (rc < 0)
            pd_secret_key_wipe(&person);
    }
    if (rc < 0) {
        pd_registry_close(&reg);
        return rc;
    }
    struct pd_registry_cert c;
    memset(&c, 0, sizeof c);
    bool done = false;
    rc = pd_registry_begin(&reg, err);
    if (rc == 0)
        rc = approve_in(&reg, a, &person, &who, &lab, &c, &done, err);
    if (rc == 0 && !done)
        rc = pd_registry_commit(&reg, err);
    pd_registry_rollback(&reg); /* after an error, or a repeat that changed nothing */
    pd_secret_key_wipe(&person);
    pd_secret_key_wipe(&lab);
    /* The registry is the truth from here; the files are its exports (written again by a repeat,
     * or by `polydaq registry export`, when this is interrupted). */
    if (rc == 0) {
        struct pd_err e = {0};
        /* The final PDF is rendered and then signed (PAdES, when the lab has an X.509 identity
         * beside its key) before it takes its name. A reviewer's step, also repeated, leaves the
         * PDF as it is unless it is missing: only the authorizer has the lab key to sign it. */
        char pdf[4200];
        snprintf(pdf, sizeof pdf, "%s/%s.pdf", a->dir, a->cert_id);
        bool render = a->role == PD_ROLE_AUTHORIZER || access(pdf, F_OK) != 0;
        rc = cert_export_one(&c, a->dir, true, render, a->lab_key, &e);
        if (rc < 0)
            pd_err_set(err, rc, NULL,
                       "%s is %s in the registry, but its export failed: %s (polydaq registry export %s)", a->cert_id,
                       c.status, e.msg, a->cert_id);
    }
    if (rc == 0 && status_out)
        pd_strlcpy(status_out, c.status, status_size);
    pd_registry_cert_free(&c);
    pd_registry_close(&reg);
    return rc;
}

static int withdraw(const char *dir, const char *cert_id, const char *person_key,
                    const struct pd_secret_key *in_memory, const char *reason, struct pd_err *err)
{
    if (!dir || !cert_id || (!person_key && !in_memory) || !reason || !reason[0])
        return pd_err_set(err, PD_EINVAL, NULL, "withdraw: a certificate, an authorizer's key and a reason are needed");
    struct pd_registry reg;
    int rc = pd_registry_open(&reg, dir, 0, err);
    if (rc < 0)
        return rc;
    struct pd_secret_key person;
    struct pd_registry_key who;
    rc = registered_signer(&reg, person_key, in_memory, PD_KEY_ROLE_AUTHORIZER, &person, &who, err);
    if (rc < 0) {
        pd_registry_close(&reg);
        return rc;
    }
    char now[40], reason_hash[65], msg[300], sig_hex[129];
    unsigned char sig[PD_KEY_SIGNATURE_BYTES];
    pd_time_format_iso8601(pd_clock_utc_ns(), now, sizeof now);
    pd_sha256_hex(reason, strlen(reason), reason_hash);
    snprintf(msg, sizeof msg, "polydaq-withdraw-v1\n%s\n%s", cert_id, reason_hash);
    pd_key_sign(&person, msg, strlen(msg), sig);
    pd_secret_key_wipe(&person);
    pd_signature_to_hex(sig, sig_hex);
    struct pd_registry_approval ap = {.key_ref = who.ref};
    pd_strlcpy(ap.cert_id, cert_id, sizeof ap.cert_id);
    pd_strlcpy(ap.role, "withdraw", sizeof ap.role);
    memcpy(ap.content_sha256, reason_hash, sizeof reason_hash);
    pd_strlcpy(ap.time, now, sizeof ap.time);
    memcpy(ap.signature, sig_hex, sizeof sig_hex);
    rc = pd_registry_begin(&reg, err);
    if (rc == 0)
        rc = pd_registry_cert_retire(&reg, cert_id, NULL, reason, now, err);
    if (rc == 0)
        rc = pd_registry_approval_add(&reg, &ap, err);
    if (rc == 0)
        rc = pd_registry_audit_append(&reg, "withdraw", cert_id, who.name, "authorizer", reason_hash, NULL, err);
    if (rc == 0)
        rc = pd_registry_commit(&reg, err);
    pd_registry_rollback(&reg);
    pd_registry_close(&reg);
    return rc;
}

int pd_cert_withdraw(const char *dir, const char *cert_id, const char *person_key, const char *reason,
                     struct pd_err *err)
{
    return withdraw(dir, cert_id, person_key, NULL, reason, err);
}

int pd_cert_withdraw_with_key(const char *dir, const char *cert_id, const struct pd_secret_key *person,
                              const char *reason, struct pd_err *err)
{
    return withdraw(dir, cert_id, NULL, person, reason, err);
}
