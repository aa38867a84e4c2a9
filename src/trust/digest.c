/* digest.c — SHA-256 of byte strings (libsodium) and of files (libcrypto, the CPU's SHA extensions). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
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

void pd_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    to_hex(h, sizeof h, hex);
}

/* Raw run files are tens of MB and their hash is on the critical path of every certify: libcrypto's
 * SHA-256 uses the CPU's SHA extensions where it has them (~1.7 GB/s; libsodium's portable code
 * does ~240 MB/s). Short texts (canonical JSON, keys) stay with libsodium, which also signs them.
 * libcrypto is linked statically into polydaq where the archive exists (CMakeLists.txt), so using
 * it costs no library load; it is initialised once without the system's openssl.cnf (providers,
 * policies): a plain SHA-256 from the default provider needs none of it, and reading it cost ~1 ms
 * of the critical path. */
static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;

static void init_crypto(void)
{
    (void)OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
}

int pd_sha256_file(const char *path, char hex[65], struct pd_err *err)
{
    if (!path || !hex)
        return pd_err_set(err, PD_EINVAL, NULL, "sha256: missing path or output");
    /* 128 KiB reads into one reused buffer: the digest reads each block from L2 right after the
     * kernel copied it there, and the buffer costs 32 page faults. Measured on the 25 MB benchmark
     * file: 19 ms against 20 ms with 256 KiB, and 32-34 ms through mmap (MAP_POPULATE, MADV_SEQUENTIAL
     * or MADV_POPULATE_READ alike): on this kind of VM mapping the page cache costs more than copying it. */
    enum { CHUNK = 1 << 17 };
    pthread_once(&crypto_once, init_crypto);
    unsigned char *buf = malloc(CHUNK);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!buf || !ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        free(buf);
        EVP_MD_CTX_free(ctx);
        return pd_err_set(err, PD_ENOMEM, path, "sha256: cannot set up the digest");
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(buf);
        EVP_MD_CTX_free(ctx);
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
        if (EVP_DigestUpdate(ctx, buf, (size_t)r) != 1) {
            rc = pd_err_set(err, PD_EIO, path, "sha256: digest update failed");
            break;
        }
    }
    close(fd);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (rc == 0 && (EVP_DigestFinal_ex(ctx, d, &len) != 1 || len != 32))
        rc = pd_err_set(err, PD_EIO, path, "sha256: digest final failed");
    EVP_MD_CTX_free(ctx);
    free(buf);
    if (rc == 0)
        to_hex(d, 32, hex);
    return rc;
}
