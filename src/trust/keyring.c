/* keyring.c — the keyring a lab publishes (which public keys are its issuing keys, its reviewers',
 * authorizers' and stations'): one key per line, parsed strictly, every error naming file:line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trust/trust.h"

#define KEYRING_TAG "polydaq-ed25519-public "
#define KEYRING_MAX_BYTES (4u << 20) /* a keyring of a few hundred keys is a few tens of kB */

static const char *const role_names[] = {"lab", "reviewer", "authorizer", "station"};

const char *pd_key_role_name(enum pd_key_role role)
{
    return (unsigned)role < sizeof role_names / sizeof role_names[0] ? role_names[role] : "?";
}

int pd_key_role_parse(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++)
        if (strlen(role_names[i]) == len && memcmp(role_names[i], s, len) == 0)
            return (int)i;
    return -1;
}

/* A label is printable UTF-8 text: no control bytes, bidi controls or bytes that are not UTF-8 —
 * exactly what the escape function would change (apart from the backslashes it doubles). */
static bool label_ok(const char *s, size_t len)
{
    if (len == 0 || len >= PD_KEYRING_LABEL_MAX || s[0] == ' ' || s[len - 1] == ' ')
        return false;
    char plain[PD_KEYRING_LABEL_MAX];
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] != '\\')
            plain[n++] = s[i];
    char *esc = pd_text_escape_terminal(plain, n);
    bool same = esc && strlen(esc) == n && memcmp(esc, plain, n) == 0;
    free(esc);
    return same;
}

/* One line (without its newline) into e; an error message in why otherwise. */
static bool parse_line(const char *line, size_t len, struct pd_keyring_entry *e, char *why, size_t why_size)
{
    size_t tl = strlen(KEYRING_TAG);
    if (len < tl || memcmp(line, KEYRING_TAG, tl) != 0) {
        snprintf(why, why_size, "expected 'polydaq-ed25519-public <64 hex digits> <role> <label>', a comment (#) "
                                "or a blank line");
        return false;
    }
    const char *hex = line + tl;
    size_t left = len - tl;
    if (left < 65 || strspn(hex, "0123456789abcdef") < 64 || hex[64] != ' ') {
        snprintf(why, why_size, "the key must be 64 lowercase hex digits followed by one space");
        return false;
    }
    char hexz[65];
    memcpy(hexz, hex, 64);
    hexz[64] = '\0';
    struct pd_err ignored;
    if (pd_public_key_from_hex(hexz, &e->key, &ignored) < 0) {
        snprintf(why, why_size, "the key must be 64 lowercase hex digits");
        return false;
    }
    const char *role = hex + 65;
    const char *sp = memchr(role, ' ', len - (size_t)(role - line));
    int r = sp ? pd_key_role_parse(role, (size_t)(sp - role)) : -1;
    if (r < 0) {
        snprintf(why, why_size, "the role must be one of lab, reviewer, authorizer, station, followed by a label");
        return false;
    }
    e->role = (enum pd_key_role)r;
    const char *label = sp + 1;
    size_t label_len = len - (size_t)(label - line);
    if (!label_ok(label, label_len)) {
        snprintf(why, why_size, "the label must be 1..%d bytes of printable UTF-8 text without leading or trailing "
                                "spaces",
                 PD_KEYRING_LABEL_MAX - 1);
        return false;
    }
    memcpy(e->label, label, label_len);
    e->label[label_len] = '\0';
    return true;
}

int pd_keyring_load(const char *path, struct pd_keyring *out, struct pd_err *err)
{
    if (!path || !out)
        return pd_err_set(err, PD_EINVAL, NULL, "keyring: missing path");
    FILE *f = fopen(path, "rb");
    if (!f)
        return pd_err_set_os(err, PD_EIO, errno, path, "cannot read the keyring");
    char *text = malloc(KEYRING_MAX_BYTES + 1);
    size_t got = text ? fread(text, 1, KEYRING_MAX_BYTES + 1, f) : 0;
    bool read_error = ferror(f);
    fclose(f);
    if (!text)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    if (read_error) {
        free(text);
        return pd_err_set(err, PD_EIO, path, "cannot read the keyring");
    }
    if (got > KEYRING_MAX_BYTES) {
        free(text);
        return pd_err_set(err, PD_EDATA, path, "not a keyring: larger than %u bytes", KEYRING_MAX_BYTES);
    }
    struct pd_keyring kr = {0};
    size_t cap = 0, lineno = 0;
    int rc = 0;
    for (size_t at = 0; at < got && rc == 0;) {
        const char *line = text + at;
        const char *nl = memchr(line, '\n', got - at);
        size_t len = nl ? (size_t)(nl - line) : got - at;
        at += len + (nl ? 1 : 0);
        lineno++;
        char where[4200];
        snprintf(where, sizeof where, "%s:%zu", path, lineno);
        if (memchr(line, '\0', len)) {
            rc = pd_err_set(err, PD_EDATA, where, "a NUL byte in the keyring");
            break;
        }
        if (len == 0 || line[0] == '#')
            continue;
        if (cap == kr.n) {
            size_t ncap = cap ? 2 * cap : 8;
            struct pd_keyring_entry *ne = realloc(kr.entries, ncap * sizeof *ne);
            if (!ne) {
                rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
                break;
            }
            kr.entries = ne;
            cap = ncap;
        }
        struct pd_keyring_entry *e = &kr.entries[kr.n];
        char why[200];
        if (!parse_line(line, len, e, why, sizeof why)) {
            rc = pd_err_set(err, PD_EDATA, where, "%s", why);
            break;
        }
        /* The same key listed twice for one role is a mistake in the file, not a second key. */
        for (size_t k = 0; k < kr.n && rc == 0; k++)
            if (kr.entries[k].role == e->role && memcmp(kr.entries[k].key.bytes, e->key.bytes, PD_KEY_PUBLIC_BYTES) == 0)
                rc = pd_err_set(err, PD_EDATA, where, "key %s is already listed as %s", e->key.id,
                                pd_key_role_name(e->role));
        kr.n++;
    }
    free(text);
    if (rc < 0) {
        free(kr.entries);
        return rc;
    }
    *out = kr;
    return 0;
}

void pd_keyring_close(struct pd_keyring *kr)
{
    if (!kr)
        return;
    free(kr->entries);
    kr->entries = NULL;
    kr->n = 0;
}

const struct pd_keyring_entry *pd_keyring_find(const struct pd_keyring *kr, const struct pd_public_key *key,
                                               enum pd_key_role role)
{
    for (size_t i = 0; kr && key && i < kr->n; i++)
        if (kr->entries[i].role == role && memcmp(kr->entries[i].key.bytes, key->bytes, PD_KEY_PUBLIC_BYTES) == 0)
            return &kr->entries[i];
    return NULL;
}

size_t pd_keyring_count(const struct pd_keyring *kr, enum pd_key_role role)
{
    size_t n = 0;
    for (size_t i = 0; kr && i < kr->n; i++)
        n += kr->entries[i].role == role;
    return n;
}

int pd_keyring_format_line(const struct pd_public_key *key, enum pd_key_role role, const char *label, char *buf,
                           size_t size, struct pd_err *err)
{
    if (!key || !label || !buf || (unsigned)role > PD_KEY_ROLE_STATION)
        return pd_err_set(err, PD_EINVAL, NULL, "keyring: missing key, role or label");
    if (!label_ok(label, strlen(label)))
        return pd_err_set(err, PD_EINVAL, NULL, "keyring: the label must be 1..%d bytes of printable UTF-8 text "
                                                "without leading or trailing spaces",
                          PD_KEYRING_LABEL_MAX - 1);
    int n = snprintf(buf, size, KEYRING_TAG "%s %s %s\n", key->hex, pd_key_role_name(role), label);
    if (n < 0 || (size_t)n >= size)
        return pd_err_set(err, PD_ERANGE, NULL, "keyring: the line does not fit");
    return 0;
}
