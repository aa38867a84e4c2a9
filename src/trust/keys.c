/* keys.c — Ed25519 key files (one line of text each), their permissions, and detached signatures. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trust/trust.h"

#define SECRET_TAG "polydaq-ed25519-secret "
#define PUBLIC_TAG "polydaq-ed25519-public "

int pd_trust_init(struct pd_err *err)
{
    if (sodium_init() < 0)
        return pd_err_set(err, PD_EIO, NULL, "libsodium could not be initialised");
    return 0;
}

static void fill_public(struct pd_public_key *pub, const unsigned char *pk)
{
    memcpy(pub->bytes, pk, PD_KEY_PUBLIC_BYTES);
    sodium_bin2hex(pub->hex, sizeof pub->hex, pk, PD_KEY_PUBLIC_BYTES);
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, pk, PD_KEY_PUBLIC_BYTES);
    char full[2 * sizeof digest + 1];
    sodium_bin2hex(full, sizeof full, digest, sizeof digest);
    memcpy(pub->id, full, 16);
    pub->id[16] = '\0';
}

/* Writes text to a new file (O_EXCL) with the given mode, fsync'ed; removes it on failure. */
static int write_new(const char *path, const char *text, mode_t mode, struct pd_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        int e = errno;
        return e == EEXIST ? pd_err_set(err, PD_ESTATE, path, "a key already exists; not overwritten")
                           : pd_err_set_os(err, PD_EIO, e, path, "cannot create the key file");
    }
    size_t len = strlen(text);
    /* fchmod: the mode given to open is filtered by the umask; a secret key must be 0600 exactly. */
    bool ok = write(fd, text, len) == (ssize_t)len && fchmod(fd, mode) == 0 && fsync(fd) == 0;
    int e = errno;
    if (close(fd) < 0 || !ok) {
        unlink(path);
        return pd_err_set_os(err, PD_EIO, e, path, "cannot write the key file");
    }
    return 0;
}

int pd_key_generate(const char *dir, const char *stem, char *secret_path, size_t secret_size, char *public_path,
                    size_t public_size, struct pd_err *err)
{
    if (!dir || !stem || !stem[0] || strchr(stem, '/'))
        return pd_err_set(err, PD_EINVAL, NULL, "keygen: missing folder or a bad key name");
    int rc = pd_trust_init(err);
    if (rc < 0 || (rc = pd_mkdir_p(dir, err)) < 0)
        return rc;
    char sk_path[4200], pk_path[4200];
    snprintf(sk_path, sizeof sk_path, "%s/%s.key", dir, stem);
    snprintf(pk_path, sizeof pk_path, "%s/%s.pub", dir, stem);
    if (access(pk_path, F_OK) == 0)
        return pd_err_set(err, PD_ESTATE, pk_path, "a key already exists; not overwritten");
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(pk, sk);
    char hex[2 * sizeof sk + 1];
    char text[sizeof SECRET_TAG + sizeof hex + 2];
    sodium_bin2hex(hex, sizeof hex, sk, sizeof sk);
    snprintf(text, sizeof text, SECRET_TAG "%s\n", hex);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(hex, sizeof hex);
    rc = write_new(sk_path, text, 0600, err);
    sodium_memzero(text, sizeof text);
    if (rc < 0)
        return rc;
    sodium_bin2hex(hex, sizeof hex, pk, sizeof pk);
    snprintf(text, sizeof text, PUBLIC_TAG "%s\n", hex);
    if ((rc = write_new(pk_path, text, 0644, err)) < 0) {
        unlink(sk_path);
        return rc;
    }
    if (secret_path)
        pd_strlcpy(secret_path, sk_path, secret_size);
    if (public_path)
        pd_strlcpy(public_path, pk_path, public_size);
    return 0;
}

/* Reads the one line of a key file and decodes the hex after tag into key[size]. */
static int read_key_line(int fd, const char *path, const char *tag, unsigned char *key, size_t size,
                         struct pd_err *err)
{
    char line[400];
    ssize_t got = read(fd, line, sizeof line - 1);
    if (got < 0)
        return pd_err_set_os(err, PD_EIO, errno, path, "cannot read the key file");
    line[got] = '\0';
    size_t tl = strlen(tag), hex_len = 2 * size;
    const char *kind = strstr(tag, "secret") ? "secret" : "public";
    int rc = 0;
    /* Exactly: tag, 2·size hex digits, one newline (or none), nothing else. */
    if (strncmp(line, tag, tl) != 0)
        rc = pd_err_set(err, PD_EDATA, path, "not a polydaq %s key file", kind);
    else if (strspn(line + tl, "0123456789abcdef") != hex_len ||
             !(line[tl + hex_len] == '\0' || (line[tl + hex_len] == '\n' && line[tl + hex_len + 1] == '\0')))
        rc = pd_err_set(err, PD_EDATA, path, "%s key file damaged: expected one line of %zu lowercase hex digits",
                        kind, hex_len);
    else if (sodium_hex2bin(key, size, line + tl, hex_len, NULL, NULL, NULL) != 0)
        rc = pd_err_set(err, PD_EDATA, path, "%s key file damaged", kind);
    sodium_memzero(line, sizeof line);
    return rc;
}

int pd_secret_key_load(const char *path, struct pd_secret_key *out, struct pd_err *err)
{
    if (!path || !out)
        return pd_err_set(err, PD_EINVAL, NULL, "secret key: missing path");
    int rc = pd_trust_init(err);
    if (rc < 0)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return pd_err_set_os(err, PD_EIO, errno, path, "cannot open the secret key");
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return pd_err_set_os(err, PD_EIO, e, path, "cannot stat the secret key");
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return pd_err_set(err, PD_EDATA, path, "the secret key is not a regular file");
    }
    /* Like ssh: a key others can read may already be someone else's; refuse to sign with it. */
    if (st.st_mode & 077) {
        close(fd);
        return pd_err_set(err, PD_ESTATE, path,
                          "permissions %04o are too open: a secret key must be readable by its owner only "
                          "(chmod 600 %s)",
                          (unsigned)(st.st_mode & 07777), path);
    }
    unsigned char sk[PD_KEY_SECRET_BYTES];
    rc = read_key_line(fd, path, SECRET_TAG, sk, sizeof sk, err);
    close(fd);
    if (rc < 0) {
        sodium_memzero(sk, sizeof sk);
        return rc;
    }
    /* libsodium's secret key is the seed followed by its public key: a file whose halves do not
     * belong together is damaged (or tampered with) and would sign under a wrong key id. */
    unsigned char seed_pk[PD_KEY_PUBLIC_BYTES], seed_sk[PD_KEY_SECRET_BYTES];
    crypto_sign_seed_keypair(seed_pk, seed_sk, sk);
    bool same = memcmp(seed_pk, sk + 32, sizeof seed_pk) == 0;
    sodium_memzero(seed_sk, sizeof seed_sk);
    if (!same) {
        sodium_memzero(sk, sizeof sk);
        return pd_err_set(err, PD_EDATA, path, "secret key file damaged: its two halves do not match");
    }
    memcpy(out->bytes, sk, sizeof sk);
    fill_public(&out->pub, sk + 32);
    sodium_memzero(sk, sizeof sk);
    return 0;
}

void pd_secret_key_wipe(struct pd_secret_key *key)
{
    if (key)
        sodium_memzero(key, sizeof *key);
}

int pd_public_key_load(const char *path, struct pd_public_key *out, struct pd_err *err)
{
    if (!path || !out)
        return pd_err_set(err, PD_EINVAL, NULL, "public key: missing path");
    int rc = pd_trust_init(err);
    if (rc < 0)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pd_err_set_os(err, PD_EIO, errno, path, "cannot open the public key");
    unsigned char pk[PD_KEY_PUBLIC_BYTES];
    rc = read_key_line(fd, path, PUBLIC_TAG, pk, sizeof pk, err);
    close(fd);
    if (rc < 0)
        return rc;
    fill_public(out, pk);
    return 0;
}

int pd_public_key_from_hex(const char *hex, struct pd_public_key *out, struct pd_err *err)
{
    if (!hex || strlen(hex) != 2 * PD_KEY_PUBLIC_BYTES || strspn(hex, "0123456789abcdef") != 2 * PD_KEY_PUBLIC_BYTES)
        return pd_err_set(err, PD_EDATA, NULL, "a public key is 64 lowercase hex digits");
    int rc = pd_trust_init(err);
    if (rc < 0)
        return rc;
    unsigned char pk[PD_KEY_PUBLIC_BYTES];
    if (sodium_hex2bin(pk, sizeof pk, hex, 2 * sizeof pk, NULL, NULL, NULL) != 0)
        return pd_err_set(err, PD_EDATA, NULL, "a public key is 64 lowercase hex digits");
    fill_public(out, pk);
    return 0;
}

void pd_key_sign(const struct pd_secret_key *key, const void *msg, size_t len, unsigned char sig[PD_KEY_SIGNATURE_BYTES])
{
    crypto_sign_detached(sig, NULL, msg, len, key->bytes);
}

bool pd_key_verify(const struct pd_public_key *key, const void *msg, size_t len,
                   const unsigned char sig[PD_KEY_SIGNATURE_BYTES])
{
    if (sodium_init() < 0)
        return false;
    return crypto_sign_verify_detached(sig, msg, len, key->bytes) == 0;
}

void pd_signature_to_hex(const unsigned char sig[PD_KEY_SIGNATURE_BYTES], char hex[2 * PD_KEY_SIGNATURE_BYTES + 1])
{
    sodium_bin2hex(hex, 2 * PD_KEY_SIGNATURE_BYTES + 1, sig, PD_KEY_SIGNATURE_BYTES);
}

int pd_signature_from_hex(const char *hex, unsigned char sig[PD_KEY_SIGNATURE_BYTES], struct pd_err *err)
{
    if (!hex || strlen(hex) != 2 * PD_KEY_SIGNATURE_BYTES ||
        strspn(hex, "0123456789abcdef") != 2 * PD_KEY_SIGNATURE_BYTES ||
        sodium_hex2bin(sig, PD_KEY_SIGNATURE_BYTES, hex, 2 * PD_KEY_SIGNATURE_BYTES, NULL, NULL, NULL) != 0)
        return pd_err_set(err, PD_EDATA, NULL, "a signature is 128 lowercase hex digits");
    return 0;
}
