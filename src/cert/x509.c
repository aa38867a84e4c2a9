/*
 * x509.c — the lab's X.509 signing identity for PDFs: a self-made ECDSA P-256 key and certificate
 * (keygen --x509), and loading the certificate, its chain and key a PDF is signed with.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cert/cert_internal.h"

/* A self-made certificate is valid this long: long enough that a lab is not surprised by an
 * expiry during a normal audit cycle, short enough that a forgotten key does not sign forever. */
#define X509_VALID_DAYS (3 * 365)

/* OpenSSL's last error as text (its queue is emptied, so the next failure reports its own). */
static const char *ossl_reason(char *buf, size_t size)
{
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (!e)
        return "no detail from OpenSSL";
    ERR_error_string_n(e, buf, size);
    return buf;
}

static int ossl_fail(struct pd_err *err, int code, const char *where, const char *what)
{
    char buf[256];
    return pd_err_set(err, code, where, "%s: %s", what, ossl_reason(buf, sizeof buf));
}

/* Adds one extension given in OpenSSL's configuration syntax ("critical,digitalSignature"). */
static bool add_ext(X509 *crt, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, crt, crt, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    bool ok = ext && X509_add_ext(crt, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* A self-signed certificate for `key`: subject CN and O both the lab's name, a random positive
 * 128-bit serial, key usage for document signatures (digitalSignature, nonRepudiation). It is also
 * marked a CA (pathlen 0, keyCertSign) only because it is its own trust anchor: NSS (which
 * pdfsig uses) accepts an anchor only when it is a CA certificate; as a plain end-entity
 * certificate it stays "issuer unknown" even when trusted explicitly. */
static X509 *make_cert(EVP_PKEY *key, const char *name)
{
    X509 *crt = X509_new();
    X509_NAME *subj = X509_NAME_new();
    BIGNUM *bn = BN_new();
    ASN1_INTEGER *serial = NULL;
    unsigned char rnd[16];
    bool ok = crt && subj && bn && RAND_bytes(rnd, sizeof rnd) == 1;
    if (ok) {
        rnd[0] &= 0x7f; /* positive, as RFC 5280 requires */
        rnd[0] |= 0x40; /* and a full 16 bytes long */
        ok = BN_bin2bn(rnd, sizeof rnd, bn) && (serial = BN_to_ASN1_INTEGER(bn, NULL)) != NULL;
    }
    ok = ok && X509_set_version(crt, 2) == 1 && X509_set_serialNumber(crt, serial) == 1 &&
         X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8, (const unsigned char *)name, -1, -1, 0) == 1 &&
         X509_NAME_add_entry_by_txt(subj, "O", MBSTRING_UTF8, (const unsigned char *)name, -1, -1, 0) == 1 &&
         X509_set_subject_name(crt, subj) == 1 && X509_set_issuer_name(crt, subj) == 1 &&
         X509_gmtime_adj(X509_getm_notBefore(crt), 0) != NULL &&
         X509_time_adj_ex(X509_getm_notAfter(crt), X509_VALID_DAYS, 0, NULL) != NULL &&
         X509_set_pubkey(crt, key) == 1 && add_ext(crt, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
         add_ext(crt, NID_key_usage, "critical,digitalSignature,nonRepudiation,keyCertSign") &&
         add_ext(crt, NID_subject_key_identifier, "hash") && X509_sign(crt, key, EVP_sha256()) > 0;
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    X509_NAME_free(subj);
    if (!ok) {
        X509_free(crt);
        return NULL;
    }
    return crt;
}

/* Writes the secret key PEM (PKCS#8) to a new file: 0600 from the start, never over an existing one. */
static int write_key(const char *path, EVP_PKEY *key, struct pd_err *err)
{
    BIO *mem = BIO_new(BIO_s_mem());
    char *pem = NULL;
    long len = 0;
    if (!mem || PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL) != 1 ||
        (len = BIO_get_mem_data(mem, &pem)) <= 0) {
        BIO_free(mem);
        return ossl_fail(err, PD_ENOMEM, path, "cannot encode the X.509 secret key");
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        BIO_free_all(mem); /* BIO_s_mem clears its buffer when freed */
        return e == EEXIST ? pd_err_set(err, PD_ESTATE, path, "a key already exists; not overwritten")
                           : pd_err_set_os(err, PD_EIO, e, path, "cannot create the X.509 secret key");
    }
    bool ok = write(fd, pem, (size_t)len) == (ssize_t)len && fchmod(fd, 0600) == 0 && fsync(fd) == 0;
    int e = errno;
    OPENSSL_cleanse(pem, (size_t)len);
    BIO_free(mem);
    if (close(fd) < 0 || !ok) {
        unlink(path);
        return pd_err_set_os(err, PD_EIO, e, path, "cannot write the X.509 secret key");
    }
    return 0;
}

int pd_cert_x509_keygen(const char *dir, const char *lab_name, char *crt_path, size_t crt_size, struct pd_err *err)
{
    if (!dir || !lab_name || !crt_path)
        return pd_err_set(err, PD_EINVAL, NULL, "x509 keygen: missing folder, name or output");
    if (!lab_name[0] || strlen(lab_name) > 64) /* RFC 5280's upper bound for CN and O */
        return pd_err_set(err, PD_EINVAL, NULL, "the lab's name for its X.509 certificate must be 1 to 64 characters");
    int rc = pd_mkdir_p(dir, err);
    if (rc < 0)
        return rc;
    char key_path[4200], cert_path[4200];
    snprintf(key_path, sizeof key_path, "%s/" CERT_X509_KEY_FILE, dir);
    snprintf(cert_path, sizeof cert_path, "%s/" CERT_X509_CRT_FILE, dir);
    if (access(cert_path, F_OK) == 0)
        return pd_err_set(err, PD_ESTATE, cert_path, "a certificate already exists; not overwritten");
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!key)
        return ossl_fail(err, PD_EIO, NULL, "cannot make an ECDSA P-256 key");
    X509 *crt = make_cert(key, lab_name);
    if (!crt) {
        EVP_PKEY_free(key);
        return ossl_fail(err, PD_EIO, NULL, "cannot make the lab's X.509 certificate");
    }
    rc = write_key(key_path, key, err);
    EVP_PKEY_free(key);
    BIO *mem = rc == 0 ? BIO_new(BIO_s_mem()) : NULL;
    char *pem = NULL;
    long len = 0;
    if (rc == 0 && (!mem || PEM_write_bio_X509(mem, crt) != 1 || BIO_write(mem, "", 1) != 1 ||
                    (len = BIO_get_mem_data(mem, &pem)) <= 0))
        rc = ossl_fail(err, PD_ENOMEM, cert_path, "cannot encode the certificate");
    if (rc == 0)
        rc = cert_write_file(cert_path, pem, true, err);
    if (rc < 0 && mem) /* the key exists only with its certificate */
        unlink(key_path);
    BIO_free(mem);
    X509_free(crt);
    if (rc == 0)
        pd_strlcpy(crt_path, cert_path, crt_size);
    return rc;
}

int cert_x509_load(const char *crt_path, const char *key_path, struct cert_x509_signer *out, struct pd_err *err)
{
    struct stat st;
    if (stat(key_path, &st) != 0)
        return pd_err_set_os(err, PD_EIO, errno, key_path, "cannot read the X.509 secret key");
    /* Like ssh: a key others can read may already be someone else's. */
    if (st.st_mode & 077)
        return pd_err_set(err, PD_ESTATE, key_path,
                          "secret key is readable by group or others (mode %04o); "
                          "chmod 600 it",
                          (unsigned)(st.st_mode & 07777));
    FILE *f = fopen(crt_path, "r");
    if (!f)
        return pd_err_set_os(err, PD_EIO, errno, crt_path, "cannot read the lab's X.509 certificate");
    X509 *crt = PEM_read_X509(f, NULL, NULL, NULL);
    STACK_OF(X509) *chain = crt ? sk_X509_new_null() : NULL;
    bool chain_ok = chain != NULL;
    for (X509 *c; chain_ok && (c = PEM_read_X509(f, NULL, NULL, NULL)) != NULL;)
        if (!sk_X509_push(chain, c)) {
            X509_free(c);
            chain_ok = false;
        }
    fclose(f);
    ERR_clear_error(); /* the end of the file ends the loop with a "no start line" error */
    if (!crt || !chain_ok) {
        X509_free(crt);
        sk_X509_pop_free(chain, X509_free);
        return crt ? pd_err_set(err, PD_ENOMEM, crt_path, "out of memory")
                   : pd_err_set(err, PD_EDATA, crt_path, "not a PEM X.509 certificate");
    }
    f = fopen(key_path, "r");
    if (!f) {
        X509_free(crt);
        sk_X509_pop_free(chain, X509_free);
        return pd_err_set_os(err, PD_EIO, errno, key_path, "cannot read the X.509 secret key");
    }
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!key) {
        X509_free(crt);
        sk_X509_pop_free(chain, X509_free);
        return ossl_fail(err, PD_EDATA, key_path, "not an unencrypted PEM private key");
    }
    if (X509_check_private_key(crt, key) != 1) {
        ERR_clear_error();
        X509_free(crt);
        sk_X509_pop_free(chain, X509_free);
        EVP_PKEY_free(key);
        return pd_err_set(err, PD_EDATA, key_path, "this key does not belong to the certificate %s", crt_path);
    }
    char cn[256] = "";
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(crt), NID_commonName, cn, sizeof cn) < 0)
        X509_NAME_get_text_by_NID(X509_get_subject_name(crt), NID_organizationName, cn, sizeof cn);
    out->crt = crt;
    out->chain = chain;
    out->key = key;
    pd_strlcpy(out->name, cn, sizeof out->name);
    return 0;
}

void cert_x509_close(struct cert_x509_signer *s)
{
    if (!s)
        return;
    X509_free(s->crt);
    sk_X509_pop_free(s->chain, X509_free);
    EVP_PKEY_free(s->key);
    s->crt = NULL;
    s->chain = NULL;
    s->key = NULL;
}
