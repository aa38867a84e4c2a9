/* verify_registry.c — what the lab's registry says about a certificate (verify --registry): its state, the trusted lab
 * key, the registered approvers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert_internal.h"
#include "registry/registry.h"
#include "trust/trust.h"

/* The lab's issuing signature, against the keys the registry lists as the lab's. */
static void check_lab_key(struct pd_registry *reg, const json_t *doc, const char *issued, struct pd_verify_report *r)
{
    static const char *const no_signature[] = {"signature", NULL};
    const json_t *sig = json_object_get(doc, "signature");
    struct pd_public_key pk;
    struct pd_registry_key k;
    struct pd_err e = {0};
    unsigned char s[PD_KEY_SIGNATURE_BYTES];
    if (pd_public_key_from_hex(json_string_value(json_object_get(sig, "public_key")), &pk, &e) < 0 ||
        pd_signature_from_hex(json_string_value(json_object_get(sig, "value")), s, &e) < 0) {
        cert_report_line(r, true, "FAIL: the certificate carries no usable lab signature");
        return;
    }
    if (pd_registry_key_find(reg, &pk, &k, &e) < 0 || k.role != PD_KEY_ROLE_LAB) {
        cert_report_line(r, true, "FAIL: signed by key %s, which the registry does not list as the lab's issuing key", pk.id);
        return;
    }
    if (!pd_registry_key_valid_at(&k, PD_KEY_ROLE_LAB, issued)) {
        cert_report_line(r, true, "FAIL: lab key %s ('%s') was disabled on %s, before this certificate's issue", pk.id, k.name,
            k.disabled);
        return;
    }
    char *canon = cert_canonical(doc, no_signature);
    bool good = canon && pd_key_verify(&pk, canon, strlen(canon), s);
    free(canon);
    if (good)
        cert_report_line(r, false, "ok: signed by lab key %s ('%s'), registered in the registry (trust anchor)", pk.id, k.name);
    else
        cert_report_line(r, true, "FAIL: the lab signature does not verify under the registered lab key %s", pk.id);
}

/* Both approvals: signatures over this content by registered keys of those roles, two keys. */
static void check_approvals(struct pd_registry *reg, const json_t *doc, const char *id, struct pd_verify_report *r)
{
    char content[65];
    if (cert_content_hash(doc, content) < 0)
        return;
    const json_t *approvals = json_object_get(doc, "approvals");
    const char *roles[2] = {"reviewer", "authorizer"};
    char keys[2][65] = {"", ""}, sigs[2][129] = {"", ""};
    for (size_t i = 0; i < json_array_size(approvals); i++) {
        const json_t *ap = json_array_get(approvals, i);
        const char *role = json_string_value(json_object_get(ap, "role"));
        int at = role && strcmp(role, "reviewer") == 0 ? 0 : role && strcmp(role, "authorizer") == 0 ? 1 : -1;
        if (at >= 0) {
            pd_strlcpy(keys[at],
                       json_string_value(json_object_get(ap, "public_key"))
                           ? json_string_value(json_object_get(ap, "public_key"))
                           : "",
                       sizeof keys[at]);
            pd_strlcpy(sigs[at],
                       json_string_value(json_object_get(ap, "signature"))
                           ? json_string_value(json_object_get(ap, "signature"))
                           : "",
                       sizeof sigs[at]);
        }
    }
    for (int at = 0; at < 2; at++) {
        const json_t *ap = NULL;
        for (size_t i = 0; i < json_array_size(approvals) && !ap; i++) {
            const char *role = json_string_value(json_object_get(json_array_get(approvals, i), "role"));
            if (role && strcmp(role, roles[at]) == 0)
                ap = json_array_get(approvals, i);
        }
        struct pd_public_key pk;
        struct pd_registry_key k;
        struct pd_err e = {0};
        unsigned char s[PD_KEY_SIGNATURE_BYTES];
        const char *signed_content = json_string_value(json_object_get(ap, "content_sha256"));
        const char *time = json_string_value(json_object_get(ap, "time"));
        if (!ap || pd_public_key_from_hex(keys[at], &pk, &e) < 0 || pd_signature_from_hex(sigs[at], s, &e) < 0 ||
            !signed_content) {
            cert_report_line(r, true, "FAIL: no signed %s approval on the certificate", roles[at]);
            continue;
        }
        char msg[400];
        if (at == 0)
            snprintf(msg, sizeof msg, "polydaq-review-v1\n%s\n%s", id, signed_content);
        else
            snprintf(msg, sizeof msg, "polydaq-authorize-v1\n%s\n%s\n%s", id, signed_content, sigs[0]);
        bool good = pd_key_verify(&pk, msg, strlen(msg), s);
        bool registered = pd_registry_key_find(reg, &pk, &k, &e) == 0;
        enum pd_key_role want = at == 0 ? PD_KEY_ROLE_REVIEWER : PD_KEY_ROLE_AUTHORIZER;
        if (!good)
            cert_report_line(r, true, "FAIL: the %s's signature does not verify under key %s", roles[at], pk.id);
        else if (strcmp(signed_content, content) != 0)
            cert_report_line(r, true,
                "FAIL: the %s signed content %.16s…, the certificate's content is %.16s… (changed after approval)",
                roles[at], signed_content, content);
        else if (!registered)
            cert_report_line(r, true, "FAIL: the %s's key %s is not registered in the registry", roles[at], pk.id);
        else if (!pd_registry_key_valid_at(&k, want, time))
            cert_report_line(r, true, "FAIL: the %s's key %s ('%s') is registered as %s%s%s, not an active %s at %s", roles[at],
                pk.id, k.name, pd_key_role_name(k.role), k.disabled[0] ? ", disabled on " : "", k.disabled, roles[at],
                time ? time : "?");
        else
            cert_report_line(r, false, "ok: %s '%s' (key %s, registered as %s) signed this content", roles[at], k.name, pk.id,
                roles[at]);
    }
    if (keys[0][0] && strcmp(keys[0], keys[1]) == 0)
        cert_report_line(r, true, "FAIL: reviewer and authorizer are the same key (four eyes need two people)");
}

int cert_registry_lab_keys(const char *registry_dir, struct pd_public_key **keys, char (**names)[128], size_t *n,
                           struct pd_err *err)
{
    struct pd_registry reg;
    int rc = pd_registry_open(&reg, registry_dir, 0, err);
    if (rc < 0)
        return rc;
    struct pd_registry_key *all = NULL;
    size_t count = 0;
    rc = pd_registry_keys(&reg, PD_KEY_ROLE_LAB, &all, &count, err);
    pd_registry_close(&reg);
    if (rc < 0)
        return rc;
    *keys = malloc((count ? count : 1) * sizeof **keys);
    *names = malloc((count ? count : 1) * sizeof **names);
    if (!*keys || !*names) {
        free(*keys);
        free(*names);
        free(all);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        (*keys)[i] = all[i].key;
        pd_strlcpy((*names)[i], all[i].name, sizeof (*names)[i]);
    }
    free(all);
    *n = count;
    return 0;
}

int cert_verify_registry(const json_t *doc, const char *registry_dir, struct pd_verify_report *report,
                         struct pd_err *err)
{
    if (!doc || !registry_dir || !report)
        return pd_err_set(err, PD_EINVAL, NULL, "verify: missing certificate or registry");
    const char *id = json_string_value(json_object_get(doc, "certificate_id"));
    if (!id)
        return pd_err_set(err, PD_EDATA, NULL, "not a polydaq certificate (no certificate_id)");
    struct pd_registry reg;
    int rc = pd_registry_open(&reg, registry_dir, 0, err);
    if (rc < 0)
        return rc;
    struct pd_registry_cert c;
    struct pd_err e = {0};
    if (pd_registry_cert_get(&reg, id, &c, &e) < 0) {
        cert_report_line(report, true, "FAIL: %s is not in the registry at %s", id, registry_dir);
    } else {
        if (strcmp(c.status, "withdrawn") == 0)
            cert_report_line(report, true, "FAIL: %s was withdrawn on %s: %s", id, c.withdrawn, c.reason);
        else if (strcmp(c.status, "superseded") == 0)
            cert_report_line(report, true, "FAIL: %s was superseded by %s on %s: %s", id, c.superseded_by,
                             c.withdrawn, c.reason);
        else if (strcmp(c.status, "issued") != 0)
            cert_report_line(report, true, "FAIL: %s is '%s' in the registry, not issued", id, c.status);
        else
            cert_report_line(report, false, "ok: %s is issued and current in the registry", id);
        char *canon = cert_canonical(doc, NULL);
        char whole[65] = "";
        if (canon)
            cert_sha256_hex(canon, strlen(canon), whole);
        free(canon);
        if (c.issued[0] && strcmp(whole, c.document_sha256) == 0)
            cert_report_line(report, false, "ok: the document is the one the registry issued");
        else if (c.issued[0])
            cert_report_line(report, true, "FAIL: the document differs from the one the registry issued as %s", id);
        check_lab_key(&reg, doc, c.issued, report);
        check_approvals(&reg, doc, id, report);
        pd_registry_cert_free(&c);
    }
    pd_registry_close(&reg);
    return 0;
}
