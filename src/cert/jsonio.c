/* jsonio.c — JSON building helpers, the canonical form that is hashed and signed, SHA-256 of files and safe file writes. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cert/cert_internal.h"

void cert_say(char *buf, size_t size, const char *fmt, ...)
{
    /* Messages are cut at the buffer's end on purpose: a truncated reason is still a reason. */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

void cert_jset(json_t *obj, const char *key, json_t *value, bool *ok)
{
    if (!obj || json_object_set_new(obj, key, value) < 0)
        *ok = false;
}

void cert_jappend(json_t *arr, json_t *value, bool *ok)
{
    if (!arr || json_array_append_new(arr, value) < 0)
        *ok = false;
}

json_t *cert_jstr(const char *s)
{
    if (!s)
        return json_null();
    json_t *v = json_string(s);
    return v ? v : json_string("(not valid UTF-8)");
}

json_t *cert_jreal(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

char *cert_canonical(const json_t *doc, const char *const *without)
{
    json_t *copy = json_copy((json_t *)doc); /* shallow: the removed keys are top-level only */
    if (!copy)
        return NULL;
    for (size_t i = 0; without && without[i]; i++)
        json_object_del(copy, without[i]);
    /* 17 significant digits: every double reads back to itself, so load → dump is stable. Any
     * value, not only an object: recompute compares members one by one. */
    char *text = json_dumps(copy, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(17));
    json_decref(copy);
    return text;
}

static void to_hex(const unsigned char *bin, size_t n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[bin[i] >> 4];
        hex[2 * i + 1] = digits[bin[i] & 15];
    }
    hex[2 * n] = '\0';
}

void cert_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    to_hex(h, sizeof h, hex);
}

/* Raw run files are tens of MB and their hash is on the critical path of every certify: with the
 * CPU's SHA extensions (~1.7 GB/s where libsodium's portable code does ~240 MB/s) — our own
 * sha256ni.c where the CPU has them, libcrypto's (which uses them too, or its best other code)
 * where not. Short texts (canonical JSON, keys) stay with libsodium, which also signs them.
 *
 * libcrypto is loaded on first use, only when the CPU lacks the extensions, not linked: with its ~21 000 relocations it was the largest
 * single cost of starting `polydaq` (any command), and certify hashes on a thread of its own, so
 * the load happens there, beside the evaluation. Without libcrypto.so.3 the hash is libsodium's:
 * slower, the same digest. */
struct evp {
    EVP_MD_CTX *(*ctx_new)(void);
    void (*ctx_free)(EVP_MD_CTX *);
    const EVP_MD *(*sha256)(void);
    int (*init)(EVP_MD_CTX *, const EVP_MD *, ENGINE *);
    int (*update)(EVP_MD_CTX *, const void *, size_t);
    int (*final)(EVP_MD_CTX *, unsigned char *, unsigned int *);
};
static struct evp evp;
static bool have_evp;
static pthread_once_t evp_once = PTHREAD_ONCE_INIT;

static void load_evp(void)
{
    void *lib = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return;
    /* Without the system's openssl.cnf (providers, policies): a plain SHA-256 from the default
     * provider needs none of it, and reading it cost ~1 ms of the critical path (1.5-2.0 against
     * 2.4-3.2 ms to the first digest). */
    int (*init_crypto)(uint64_t, const OPENSSL_INIT_SETTINGS *);
    *(void **)&init_crypto = dlsym(lib, "OPENSSL_init_crypto");
    if (init_crypto)
        (void)init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
    struct evp e;
    *(void **)&e.ctx_new = dlsym(lib, "EVP_MD_CTX_new");
    *(void **)&e.ctx_free = dlsym(lib, "EVP_MD_CTX_free");
    *(void **)&e.sha256 = dlsym(lib, "EVP_sha256");
    *(void **)&e.init = dlsym(lib, "EVP_DigestInit_ex");
    *(void **)&e.update = dlsym(lib, "EVP_DigestUpdate");
    *(void **)&e.final = dlsym(lib, "EVP_DigestFinal_ex");
    if (e.ctx_new && e.ctx_free && e.sha256 && e.init && e.update && e.final) {
        evp = e;
        have_evp = true;
    } /* the library stays loaded either way: libcrypto registers exit handlers of its own */
}

/* One SHA-256 in progress, by whichever implementation is there: the CPU's SHA extensions
 * (sha256ni.c: no library to load), else libcrypto's, else libsodium's. */
struct file_hash {
    bool ni;
    struct cert_sha256ni ni_st;
    EVP_MD_CTX *ctx; /* NULL: libsodium's state below */
    crypto_hash_sha256_state st;
};

static int hash_begin(struct file_hash *h)
{
    h->ni = cert_sha256ni_available();
    h->ctx = NULL;
    if (h->ni) {
        cert_sha256ni_init(&h->ni_st);
        return 0;
    }
    pthread_once(&evp_once, load_evp);
    if (!have_evp)
        return crypto_hash_sha256_init(&h->st) == 0 ? 0 : -1;
    h->ctx = evp.ctx_new();
    if (h->ctx && evp.init(h->ctx, evp.sha256(), NULL) == 1)
        return 0;
    evp.ctx_free(h->ctx);
    h->ctx = NULL;
    return -1;
}

static int hash_update(struct file_hash *h, const unsigned char *buf, size_t n)
{
    if (h->ni) {
        cert_sha256ni_update(&h->ni_st, buf, n);
        return 0;
    }
    if (h->ctx)
        return evp.update(h->ctx, buf, n) == 1 ? 0 : -1;
    return crypto_hash_sha256_update(&h->st, buf, n) == 0 ? 0 : -1;
}

/* Finishes (also frees the context); 0 with the 32-byte digest in out. */
static int hash_end(struct file_hash *h, unsigned char out[32], bool want)
{
    int rc = 0;
    if (h->ni) {
        if (want)
            cert_sha256ni_final(&h->ni_st, out);
    } else if (h->ctx) {
        unsigned int len = 0;
        unsigned char d[EVP_MAX_MD_SIZE];
        if (want && (evp.final(h->ctx, d, &len) != 1 || len != 32))
            rc = -1;
        else if (want)
            memcpy(out, d, 32);
        evp.ctx_free(h->ctx);
        h->ctx = NULL;
    } else if (want) {
        rc = crypto_hash_sha256_final(&h->st, out) == 0 ? 0 : -1;
    }
    return rc;
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
    unsigned char *buf = malloc(CHUNK);
    struct file_hash h;
    if (!buf || hash_begin(&h) < 0) {
        free(buf);
        return pd_err_set(err, PD_ENOMEM, path, "sha256: cannot set up the digest");
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(buf);
        hash_end(&h, NULL, false);
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
        if (hash_update(&h, buf, (size_t)r) < 0) {
            rc = pd_err_set(err, PD_EIO, path, "sha256: digest update failed");
            break;
        }
    }
    close(fd);
    unsigned char d[32];
    if (hash_end(&h, d, rc == 0) < 0 && rc == 0)
        rc = pd_err_set(err, PD_EIO, path, "sha256: digest final failed");
    free(buf);
    if (rc == 0)
        to_hex(d, 32, hex);
    return rc;
}

static int write_all(int fd, const char *text, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

int cert_write_file(const char *path, const char *text, bool exclusive, struct pd_err *err)
{
    char tmp[4200];
    const char *target = path;
    if (!exclusive) {
        int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
        if (n < 0 || (size_t)n >= sizeof tmp)
            return pd_err_set(err, PD_EINVAL, path, "path too long");
        target = tmp;
    }
    int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        if (e == EEXIST && exclusive)
            return pd_err_set(err, PD_ESTATE, path, "already exists; not overwritten");
        return pd_err_set_os(err, PD_EIO, e, target, "cannot create");
    }
    int rc = 0;
    /* fdatasync: the file is new, so its size (which fdatasync writes with the data) is all the
     * metadata needed to read it back; fsync would add only the timestamps. */
    if (write_all(fd, text, strlen(text)) < 0 || fdatasync(fd) < 0)
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot write");
    if (close(fd) < 0 && rc == 0)
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot write");
    if (rc == 0 && !exclusive && rename(tmp, path) < 0)
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot replace");
    if (rc < 0)
        unlink(target);
    return rc;
}

void cert_dirname(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        pd_strlcpy(dir, ".", size);
        return;
    }
    size_t n = (size_t)(slash - path);
    if (n == 0)
        n = 1; /* "/x.json" → "/" */
    if (n >= size)
        n = size - 1;
    memcpy(dir, path, n);
    dir[n] = '\0';
}
