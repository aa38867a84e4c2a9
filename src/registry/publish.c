/* publish.c — the files a lab publishes from its registry: the keyring and the signed revocation list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry_internal.h"

static int write_keyring(struct pd_registry *reg, const char *out_dir, struct pd_err *err)
{
    struct pd_registry_key *keys = NULL;
    size_t n = 0;
    int rc = pd_registry_keys(reg, -1, &keys, &n, err);
    if (rc < 0)
        return rc;
    size_t cap = 512 + n * 400, len = 0;
    char *text = malloc(cap);
    if (!text) {
        free(keys);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    }
    char now[40];
    pd_time_format_iso8601(pd_clock_utc_ns(), now, sizeof now);
    len += (size_t)snprintf(text + len, cap - len,
                            "# polydaq keyring, published %s from %s\n"
                            "# polydaq-ed25519-public <key> <role> <name>; only 'lab' keys are trust anchors for a\n"
                            "# certificate's signature\n",
                            now, reg->path);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char line[400];
        rc = pd_keyring_format_line(&keys[i].key, keys[i].role, keys[i].name, line, sizeof line, err);
        if (rc == 0 && keys[i].disabled[0]) /* no longer trusted: shown, as a comment */
            len += (size_t)snprintf(text + len, cap - len, "# disabled %s: %s", keys[i].disabled, line);
        else if (rc == 0)
            len += (size_t)snprintf(text + len, cap - len, "%s", line);
    }
    if (rc < 0) {
        free(keys);
        free(text);
        return rc;
    }
    free(keys);
    char path[4200];
    snprintf(path, sizeof path, "%s/keyring.txt", out_dir);
    rc = pd_write_file_atomic(path, text, len, err);
    free(text);
    return rc;
}

static int write_revocations(struct pd_registry *reg, const char *out_dir, const struct pd_secret_key *lab,
                             const char *lab_name, struct pd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = reg_prepare(reg,
                         "SELECT certificate_id, status, superseded_by, reason, retired FROM certificates"
                         " WHERE status IN ('withdrawn', 'superseded') ORDER BY number",
                         &st, err);
    if (rc < 0)
        return rc;
    json_t *entries = json_array();
    int s;
    while (entries && (s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *by = (const char *)sqlite3_column_text(st, 2);
        const char *reason = (const char *)sqlite3_column_text(st, 3);
        json_array_append_new(entries,
                              json_pack("{s:s,s:s,s:o,s:s,s:s}", "certificate", sqlite3_column_text(st, 0), "state",
                                        sqlite3_column_text(st, 1), "by", by ? json_string(by) : json_null(), "reason",
                                        reason ? reason : "", "time",
                                        sqlite3_column_text(st, 4) ? (const char *)sqlite3_column_text(st, 4) : ""));
    }
    sqlite3_finalize(st);
    char now[40];
    pd_time_format_iso8601(pd_clock_utc_ns(), now, sizeof now);
    json_t *doc = entries ? json_pack("{s:s,s:s,s:s,s:o}", "format", "polydaq-revocations-1", "lab", lab_name,
                                      "published", now, "entries", entries)
                          : NULL;
    static const char *const no_signature[] = {"signature", NULL};
    char *canon = doc ? pd_json_canonical(doc, no_signature) : NULL;
    if (!canon) {
        json_decref(doc);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    }
    unsigned char sig[PD_KEY_SIGNATURE_BYTES];
    char hex[2 * PD_KEY_SIGNATURE_BYTES + 1];
    pd_key_sign(lab, canon, strlen(canon), sig);
    free(canon);
    pd_signature_to_hex(sig, hex);
    json_object_set_new(doc, "signature",
                        json_pack("{s:s,s:s,s:s,s:s}", "algorithm", "Ed25519", "key_id", lab->pub.id, "public_key",
                                  lab->pub.hex, "value", hex));
    char *text = json_dumps(doc, JSON_SORT_KEYS | JSON_INDENT(2));
    json_decref(doc);
    if (!text)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    char path[4200];
    snprintf(path, sizeof path, "%s/revocations.json", out_dir);
    size_t len = strlen(text);
    text[len] = '\0';
    char *with_nl = realloc(text, len + 2);
    if (with_nl) {
        text = with_nl;
        text[len++] = '\n';
        text[len] = '\0';
    }
    rc = pd_write_file_atomic(path, text, len, err);
    free(text);
    return rc;
}

int pd_registry_publish(struct pd_registry *reg, const char *out_dir, const char *lab_key_path, struct pd_err *err)
{
    if (!reg || !reg->db || !out_dir || !lab_key_path)
        return pd_err_set(err, PD_EINVAL, NULL, "publish: missing folder or lab key");
    struct pd_secret_key lab;
    int rc = pd_secret_key_load(lab_key_path, &lab, err);
    if (rc < 0)
        return rc;
    struct pd_registry_key k;
    rc = pd_registry_key_find(reg, &lab.pub, &k, err);
    if (rc == 0 && (k.role != PD_KEY_ROLE_LAB || k.disabled[0]))
        rc = pd_err_set(err, PD_ESTATE, lab_key_path, "key %s is not an active lab key of this registry", lab.pub.id);
    if (rc == 0)
        rc = pd_mkdir_p(out_dir, err);
    if (rc == 0)
        rc = write_keyring(reg, out_dir, err);
    if (rc == 0)
        rc = write_revocations(reg, out_dir, &lab, k.name, err);
    pd_secret_key_wipe(&lab);
    return rc;
}
