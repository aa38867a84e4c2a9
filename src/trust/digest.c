/* digest.c — SHA-256 of byte strings and of files (libcrypto: the CPU's SHA extensions). */
#include <errno.h>
#include <fcntl.h>
/* SHA256_Init/Update/Final without deprecation warnings (pd_sha256_file says why). */
#define OPENSSL_API_COMPAT 0x10100000L
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <unistd.h>

#include "trust/trust.h"

static void to_hex(const unsigned char *bin, size_t n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[bin[i] >> 4];
        hex[2 * i + 1] = digits[bin[i] & 15];
    }
    hex[2 * n] = '\0';
}

/* The canonical JSON's hash (the content hash under the lab lock, the QR code's) is on certify's
 * critical path too: libcrypto's SHA-256 (SHA extensions) takes ~10 µs for a 14 kB certificate
 * where libsodium's portable code took ~65 µs. */
void pd_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
#ifndef OPENSSL_NO_DEPRECATED_3_0
    SHA256_CTX c; /* not SHA256(), which OpenSSL 3 runs through a provider fetch (~1.8 M instructions) */
    SHA256_Init(&c);
    SHA256_Update(&c, data, len);
    SHA256_Final(h, &c);
#else
    crypto_hash_sha256(h, data, len);
#endif
    to_hex(h, sizeof h, hex);
}

/* Raw run files are tens of MB and their hash is on the critical path of every certify: libcrypto's
 * SHA-256 uses the CPU's SHA extensions where it has them (~1.7 GB/s; libsodium's portable code
 * does ~240 MB/s). libsodium signs (Ed25519).
 * libcrypto is linked statically into polydaq where the archive exists (CMakeLists.txt), so using
 * it costs no library load. Its SHA256_Init/Update/Final run the same code as the EVP interface
 * (sha256_block_data_order, chosen by CPU features at load time) without what EVP sets up first:
 * in OpenSSL 3 the first EVP_DigestInit_ex fetches the algorithm from the default provider, 0.5 ms
 * (median; 0.46-1.1 ms) of the hashing thread before its first byte. Where libcrypto is built
 * without the 1.1 interface, EVP as before (initialised without the system's openssl.cnf, which
 * cost ~1 ms more). */
#ifndef OPENSSL_NO_DEPRECATED_3_0
struct file_digest {
    SHA256_CTX c;
};

static int digest_init(struct file_digest *d)
{
    return SHA256_Init(&d->c) == 1 ? 0 : -1;
}

static int digest_update(struct file_digest *d, const void *data, size_t len)
{
    return SHA256_Update(&d->c, data, len) == 1 ? 0 : -1;
}

static int digest_final(struct file_digest *d, unsigned char out[32])
{
    return SHA256_Final(out, &d->c) == 1 ? 0 : -1;
}

static void digest_free(struct file_digest *d)
{
    OPENSSL_cleanse(&d->c, sizeof d->c);
}
#else
struct file_digest {
    EVP_MD_CTX *c;
};

static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;

static void init_crypto(void)
{
    (void)OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
}

static int digest_init(struct file_digest *d)
{
    pthread_once(&crypto_once, init_crypto);
    d->c = EVP_MD_CTX_new();
    return d->c && EVP_DigestInit_ex(d->c, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

static int digest_update(struct file_digest *d, const void *data, size_t len)
{
    return EVP_DigestUpdate(d->c, data, len) == 1 ? 0 : -1;
}

static int digest_final(struct file_digest *d, unsigned char out[32])
{
    unsigned int len = 0;
    return EVP_DigestFinal_ex(d->c, out, &len) == 1 && len == 32 ? 0 : -1;
}

static void digest_free(struct file_digest *d)
{
    EVP_MD_CTX_free(d->c);
}
#endif

int pd_sha256_file(const char *path, char hex[65], struct pd_err *err)
{
    if (!path || !hex)
        return pd_err_set(err, PD_EINVAL, NULL, "sha256: missing path or output");
    /* 128 KiB reads into one reused buffer: the digest reads each block from L2 right after the
     * kernel copied it there, and the buffer costs 32 page faults. Measured on the 25 MB benchmark
     * file: 19 ms against 20 ms with 256 KiB, and 32-34 ms through mmap (MAP_POPULATE, MADV_SEQUENTIAL
     * or MADV_POPULATE_READ alike): on this kind of VM mapping the page cache costs more than copying it. */
    enum { CHUNK = 1 << 17 };
    unsigned char *buf = malloc(CHUNK);
    struct file_digest ctx;
    if (!buf || digest_init(&ctx) < 0) {
        if (buf)
            digest_free(&ctx);
        free(buf);
        return pd_err_set(err, PD_ENOMEM, path, "sha256: cannot set up the digest");
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(buf);
        digest_free(&ctx);
        return pd_err_set_os(err, PD_EIO, e, path, "cannot open for hashing");
    }
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    int rc = 0;
    for (;;) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot read for hashing");
            break;
        }
        if (r == 0)
            break;
        if (digest_update(&ctx, buf, (size_t)r) < 0) {
            rc = pd_err_set(err, PD_EIO, path, "sha256: digest update failed");
            break;
        }
    }
    close(fd);
    unsigned char d[32];
    if (rc == 0 && digest_final(&ctx, d) < 0)
        rc = pd_err_set(err, PD_EIO, path, "sha256: digest final failed");
    digest_free(&ctx);
    free(buf);
    if (rc == 0)
        to_hex(d, 32, hex);
    return rc;
}
