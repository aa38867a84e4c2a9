/*
 * pdf_sign.c — PAdES B-B signature of an issued certificate's PDF: an incremental update appended
 * to the file cairo wrote (catalog with /AcroForm, page 1 with an invisible signature widget, the
 * signature dictionary, a new xref section with /Prev) and a detached CMS SignedData (CAdES:
 * SHA-256, signing-certificate-v2, no signing-time — the claimed time is /M) over the byte range,
 * i.e. the whole file but the /Contents hex string. Nothing already in the file is changed, so
 * the page a reader shows is the page cairo drew.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cert/cert_internal.h"

#define MAX_PDF_BYTES   (512L * 1024 * 1024) /* a certificate is ~100 kB; anything near this is not one */
#define BYTERANGE_FIELD 10                   /* digits per /ByteRange number: files up to 10 GB */

/* ---- a growable byte buffer ------------------------------------------------------------------*/
struct buf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void put(struct buf *b, const void *data, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void putf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->oom = true; /* only short fixed texts go through here */
        return;
    }
    put(b, tmp, (size_t)n);
}

/* A PDF text string: a literal with ( ) \ escaped when the text is printable ASCII, else UTF-16BE
 * with its byte-order mark as a hex string (invalid UTF-8 becomes U+FFFD). */
static void put_text(struct buf *b, const char *s)
{
    bool ascii = true;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c < 0x20 || *c > 0x7e)
            ascii = false;
    if (ascii) {
        put(b, "(", 1);
        for (const char *c = s; *c; c++) {
            if (*c == '(' || *c == ')' || *c == '\\')
                put(b, "\\", 1);
            put(b, c, 1);
        }
        put(b, ")", 1);
        return;
    }
    put(b, "<FEFF", 5);
    const unsigned char *c = (const unsigned char *)s;
    while (*c) {
        unsigned long cp = 0xFFFD;
        int n = *c < 0x80 ? 1 : (*c & 0xE0) == 0xC0 ? 2 : (*c & 0xF0) == 0xE0 ? 3 : (*c & 0xF8) == 0xF0 ? 4 : 0;
        bool ok = n > 0;
        for (int i = 1; ok && i < n; i++)
            ok = (c[i] & 0xC0) == 0x80;
        if (ok) {
            cp = n == 1 ? *c : (unsigned long)(*c & (0x7F >> n));
            for (int i = 1; i < n; i++)
                cp = (cp << 6) | (c[i] & 0x3F);
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ||
                cp < (n == 2   ? 0x80UL
                      : n == 3 ? 0x800UL
                      : n == 4 ? 0x10000UL
                               : 0))
                cp = 0xFFFD;
            c += n;
        } else {
            c++;
        }
        if (cp < 0x20)
            cp = 0xFFFD; /* control characters have no place in a signer's name or reason */
        if (cp >= 0x10000) {
            unsigned long v = cp - 0x10000;
            putf(b, "%04lX%04lX", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
        } else {
            putf(b, "%04lX", cp);
        }
    }
    put(b, ">", 1);
}

/* ---- the CMS signature ------------------------------------------------------------------------*/
static int ossl_fail(struct pd_err *err, const char *where, const char *what)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    return pd_err_set(err, PD_EIO, where, "%s: %s", what, e ? buf : "no detail from OpenSSL");
}

struct der {
    unsigned char *p;
    int len;
};

static int der_cmp(const void *a, const void *b)
{
    const struct der *x = a, *y = b;
    int n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, (size_t)n);
    return c ? c : x->len - y->len;
}

/* Signs the signed attributes again after the signing-time attribute OpenSSL always adds was
 * taken out (PAdES B-B wants the claimed time in /M only): the signature covers the DER SET OF
 * the attributes, elements sorted by their encodings, as the encoder writes them. */
static bool resign_attributes(CMS_SignerInfo *si, EVP_PKEY *key)
{
    int n = CMS_signed_get_attr_count(si);
    if (n <= 0 || n > 32)
        return false;
    struct der el[32];
    size_t total = 0;
    bool ok = true;
    for (int i = 0; i < n; i++) {
        el[i].p = NULL;
        el[i].len = ok ? i2d_X509_ATTRIBUTE(CMS_signed_get_attr(si, i), &el[i].p) : -1;
        if (el[i].len <= 0)
            ok = false;
        else
            total += (size_t)el[i].len;
    }
    unsigned char *set = ok ? malloc(total + 6) : NULL;
    size_t hdr = 0;
    if (set) {
        qsort(el, (size_t)n, sizeof el[0], der_cmp);
        set[hdr++] = 0x31; /* SET */
        if (total < 0x80) {
            set[hdr++] = (unsigned char)total;
        } else {
            int bytes = total > 0xFFFFFF ? 4 : total > 0xFFFF ? 3 : total > 0xFF ? 2 : 1;
            set[hdr++] = (unsigned char)(0x80 | bytes);
            for (int i = bytes - 1; i >= 0; i--)
                set[hdr++] = (unsigned char)(total >> (8 * i));
        }
        size_t at = hdr;
        for (int i = 0; i < n; i++) {
            memcpy(set + at, el[i].p, (size_t)el[i].len);
            at += (size_t)el[i].len;
        }
    }
    for (int i = 0; i < n; i++)
        OPENSSL_free(el[i].p);
    if (!set)
        return false;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t sig_len = 0;
    unsigned char *sig = NULL;
    ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
         EVP_DigestSign(md, NULL, &sig_len, set, hdr + total) == 1 && (sig = OPENSSL_malloc(sig_len)) != NULL &&
         EVP_DigestSign(md, sig, &sig_len, set, hdr + total) == 1 &&
         ASN1_STRING_set(CMS_SignerInfo_get0_signature(si), sig, (int)sig_len) == 1;
    OPENSSL_free(sig);
    EVP_MD_CTX_free(md);
    free(set);
    return ok;
}

/* The DER CMS SignedData (detached) over `data`. */
static int cms_sign(const struct cert_x509_signer *s, const unsigned char *data, size_t len, unsigned char **der,
                    int *der_len, const char *where, struct pd_err *err)
{
    const unsigned flags = CMS_DETACHED | CMS_BINARY | CMS_CADES | CMS_NOSMIMECAP | CMS_PARTIAL;
    BIO *in = BIO_new_mem_buf(data, (int)len);
    CMS_ContentInfo *cms = in ? CMS_sign(NULL, NULL, s->chain, NULL, flags) : NULL;
    CMS_SignerInfo *si = cms ? CMS_add1_signer(cms, s->crt, s->key, EVP_sha256(), flags) : NULL;
    int rc = 0;
    if (!si || CMS_final(cms, in, NULL, flags) != 1) {
        rc = ossl_fail(err, where, "cannot make the CMS signature");
    } else {
        int t = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
        if (t >= 0) {
            X509_ATTRIBUTE_free(CMS_signed_delete_attr(si, t));
            if (!resign_attributes(si, s->key))
                rc = ossl_fail(err, where, "cannot sign the CMS attributes");
        }
        unsigned char *out = NULL;
        int n = rc == 0 ? i2d_CMS_ContentInfo(cms, &out) : 0;
        if (rc == 0 && n <= 0)
            rc = ossl_fail(err, where, "cannot encode the CMS signature");
        if (rc == 0) {
            *der = out;
            *der_len = n;
        }
    }
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    return rc;
}

/* ---- the incremental update -------------------------------------------------------------------*/
static void put_span(struct buf *b, const unsigned char *pdf, struct cert_pdf_span s)
{
    put(b, pdf + s.off, s.len);
}

/* A dictionary's entries again, one a line, without `skip` (NULL: all). */
static void put_entries(struct buf *b, const unsigned char *pdf, const struct cert_pdf_dict *d, const char *skip)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct cert_pdf_entry *e = &d->e[i];
        if (skip && e->key.len == strlen(skip) && memcmp(pdf + e->key.off, skip, e->key.len) == 0)
            continue;
        put_span(b, pdf, e->key);
        put(b, " ", 1);
        put_span(b, pdf, e->value);
        put(b, "\n", 1);
    }
}

struct xref_entry {
    long long num, gen;
    size_t off;
};

static int xref_cmp(const void *a, const void *b)
{
    const struct xref_entry *x = a, *y = b;
    return x->num < y->num ? -1 : x->num > y->num;
}

/* Builds the update for `pdf` into `b` (offsets counted from the start of the file) and reports
 * where the /ByteRange numbers and the /Contents hex string are in it. */
static void build_update(struct buf *b, const unsigned char *pdf, size_t len, const struct cert_pdf_doc *d,
                         const struct cert_x509_signer *s, const char *reason, int64_t time_ns, size_t *br_at,
                         size_t *contents_at)
{
    long long field = d->size, sig = d->size + 1;
    struct xref_entry x[4];
    if (pdf[len - 1] != '\n' && pdf[len - 1] != '\r')
        put(b, "\n", 1);
    /* The catalog, again, with the form that holds the signature field. */
    x[0] = (struct xref_entry){d->catalog.num, d->catalog.gen, len + b->len};
    putf(b, "%lld %lld obj\n<<\n", d->catalog.num, d->catalog.gen);
    put_entries(b, pdf, &d->catalog.dict, NULL);
    putf(b, "/AcroForm << /Fields [ %lld 0 R ] /SigFlags 3 >>\n>>\nendobj\n", field);
    /* Page 1, again, with the field's widget among its annotations. */
    x[1] = (struct xref_entry){d->page.num, d->page.gen, len + b->len};
    putf(b, "%lld %lld obj\n<<\n", d->page.num, d->page.gen);
    put_entries(b, pdf, &d->page.dict, "/Annots");
    put(b, "/Annots [ ", 10);
    const struct cert_pdf_entry *annots = cert_pdf_dict_get(pdf, &d->page.dict, "/Annots");
    if (annots) { /* an inline array (the parser refuses anything else): its items kept */
        put(b, pdf + annots->value.off + 1, annots->value.len - 2);
        put(b, " ", 1);
    }
    putf(b, "%lld 0 R ]\n>>\nendobj\n", field);
    /* The signature field: an invisible widget (no size, printed, locked) on page 1. */
    x[2] = (struct xref_entry){field, 0, len + b->len};
    putf(b,
         "%lld 0 obj\n<< /Type /Annot /Subtype /Widget /FT /Sig /T (Lab signature) /F 132 /Rect [ 0 0 0 0 ]\n"
         "   /P %lld %lld R /V %lld 0 R >>\nendobj\n",
         field, d->page.num, d->page.gen, sig);
    /* The signature dictionary; /ByteRange and /Contents are filled once the layout is final. */
    x[3] = (struct xref_entry){sig, 0, len + b->len};
    putf(b, "%lld 0 obj\n<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached\n   /ByteRange [ 0 ",
         sig);
    *br_at = len + b->len;
    for (int i = 0; i < 3; i++)
        putf(b, "%*s ", BYTERANGE_FIELD, "");
    put(b, "]\n   /Contents ", 15);
    *contents_at = len + b->len;
    put(b, "<", 1);
    for (size_t i = 0; i < 2 * CERT_PDF_SIG_MAX; i += 64)
        put(b, "0000000000000000000000000000000000000000000000000000000000000000", 64);
    put(b, ">", 1);
    time_t t = (time_t)(time_ns / 1000000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    putf(b, "\n   /M (D:%04d%02d%02d%02d%02d%02d+00'00')\n   /Name ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
         tm.tm_hour, tm.tm_min, tm.tm_sec);
    put_text(b, s->name);
    put(b, "\n   /Reason ", 12);
    put_text(b, reason);
    put(b, "\n>>\nendobj\n", 11);
    /* The new xref section: one subsection per object, in number order. */
    size_t xref_at = len + b->len;
    qsort(x, 4, sizeof x[0], xref_cmp);
    put(b, "xref\n", 5);
    for (int i = 0; i < 4; i++)
        putf(b, "%lld 1\n%010zu %05lld n\r\n", x[i].num, x[i].off, x[i].gen);
    putf(b, "trailer\n<< /Size %lld\n   /Root %lld %lld R\n", d->size + 2, d->catalog.num, d->catalog.gen);
    if (d->info.len) {
        put(b, "   /Info ", 9);
        put_span(b, pdf, d->info);
        put(b, "\n", 1);
    }
    if (d->id.len) {
        put(b, "   /ID ", 7);
        put_span(b, pdf, d->id);
        put(b, "\n", 1);
    }
    putf(b, "   /Prev %zu\n>>\nstartxref\n%zu\n%%%%EOF\n", d->startxref, xref_at);
}

static int read_whole(const char *path, unsigned char **out, size_t *len, mode_t *mode, struct pd_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pd_err_set_os(err, PD_EIO, errno, path, "cannot open the PDF");
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return pd_err_set_os(err, PD_EIO, e, path, "cannot read the PDF");
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return pd_err_set(err, PD_EDATA, path, "not a regular file");
    }
    if (st.st_size > MAX_PDF_BYTES) {
        close(fd);
        return pd_err_set(err, PD_EDATA, path, "%lld bytes: too large for a certificate PDF", (long long)st.st_size);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *p = malloc(n ? n : 1);
    size_t got = 0;
    while (p && got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    int e = errno;
    close(fd);
    if (!p)
        return pd_err_set(err, PD_ENOMEM, path, "out of memory for the PDF");
    if (got != n) {
        free(p);
        return pd_err_set_os(err, PD_EIO, e, path, "cannot read the PDF");
    }
    *out = p;
    *len = n;
    *mode = st.st_mode & 0777;
    return 0;
}

static int write_all_fd(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* original + update → temporary file beside the PDF, synced, renamed over it, folder synced. */
static int replace_file(const char *path, mode_t mode, const unsigned char *a, size_t alen, const char *b, size_t blen,
                        struct pd_err *err)
{
    char tmp[4200];
    int n = snprintf(tmp, sizeof tmp, "%s.sign.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return pd_err_set(err, PD_EINVAL, path, "path too long");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return pd_err_set_os(err, PD_EIO, errno, tmp, "cannot create the signed PDF");
    int rc = 0;
    if (write_all_fd(fd, a, alen) < 0 || write_all_fd(fd, b, blen) < 0 || fsync(fd) < 0)
        rc = pd_err_set_os(err, PD_EIO, errno, tmp, "cannot write the signed PDF");
    if (close(fd) < 0 && rc == 0)
        rc = pd_err_set_os(err, PD_EIO, errno, tmp, "cannot write the signed PDF");
    if (rc == 0 && rename(tmp, path) < 0)
        rc = pd_err_set_os(err, PD_EIO, errno, path, "cannot replace the PDF with its signed version");
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    char dir[4096];
    cert_dirname(path, dir, sizeof dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) { /* the rename itself durable; a folder that cannot be opened was synced by no one before either */
        if (fsync(dfd) < 0)
            rc = pd_err_set_os(err, PD_EIO, errno, dir, "cannot sync the folder of the signed PDF");
        close(dfd);
    }
    return rc;
}

int cert_pdf_sign(const char *pdf_path, const struct cert_x509_signer *signer, const char *reason, int64_t time_ns,
                  struct pd_err *err)
{
    if (!pdf_path || !signer || !signer->crt || !signer->key || !reason)
        return pd_err_set(err, PD_EINVAL, NULL, "pdf sign: missing PDF, signer or reason");
    unsigned char *pdf = NULL;
    size_t len = 0;
    mode_t mode = 0644;
    int rc = read_whole(pdf_path, &pdf, &len, &mode, err);
    if (rc < 0)
        return rc;
    struct cert_pdf_doc *d = malloc(sizeof *d);
    if (!d) {
        free(pdf);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    }
    rc = cert_pdf_parse(pdf, len, pdf_path, d, err);
    struct buf b = {0};
    size_t br_at = 0, contents_at = 0;
    if (rc == 0) {
        build_update(&b, pdf, len, d, signer, reason, time_ns, &br_at, &contents_at);
        if (b.oom)
            rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory for the signature");
    }
    unsigned char *signed_bytes = NULL, *der = NULL;
    int der_len = 0;
    if (rc == 0) {
        /* The byte range: everything but the hex string (its < and > included). */
        size_t total = len + b.len, gap_start = contents_at, gap_end = contents_at + 2 * CERT_PDF_SIG_MAX + 2;
        char field[3][BYTERANGE_FIELD + 2];
        size_t nums[3] = {gap_start, gap_end, total - gap_end};
        for (int i = 0; i < 3; i++)
            snprintf(field[i], sizeof field[i], "%-*zu", BYTERANGE_FIELD, nums[i]);
        for (int i = 0; i < 3; i++)
            memcpy(b.p + (br_at - len) + (size_t)i * (BYTERANGE_FIELD + 1), field[i], BYTERANGE_FIELD);
        signed_bytes = malloc(total - (gap_end - gap_start));
        if (!signed_bytes) {
            rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory for the signature");
        } else {
            memcpy(signed_bytes, pdf, len);
            memcpy(signed_bytes + len, b.p, gap_start - len);
            memcpy(signed_bytes + gap_start, b.p + (gap_end - len), total - gap_end);
            rc = cms_sign(signer, signed_bytes, total - (gap_end - gap_start), &der, &der_len, pdf_path, err);
        }
        if (rc == 0 && (size_t)der_len > CERT_PDF_SIG_MAX)
            rc = pd_err_set(err, PD_ERANGE, pdf_path,
                            "the CMS signature takes %d bytes, more than the %d reserved "
                            "(a certificate chain that long?)",
                            der_len, CERT_PDF_SIG_MAX);
        if (rc == 0) {
            static const char hex[] = "0123456789ABCDEF";
            char *h = b.p + (contents_at - len) + 1;
            for (int i = 0; i < der_len; i++) {
                h[2 * i] = hex[der[i] >> 4];
                h[2 * i + 1] = hex[der[i] & 15];
            }
        }
    }
    if (rc == 0)
        rc = replace_file(pdf_path, mode, pdf, len, b.p, b.len, err);
    OPENSSL_free(der);
    free(signed_bytes);
    free(b.p);
    free(d);
    free(pdf);
    return rc;
}

int cert_pdf_sign_issued(const char *pdf_path, const char *lab_key_path, const json_t *doc, struct pd_err *err)
{
    if (!pdf_path || !lab_key_path || !doc)
        return pd_err_set(err, PD_EINVAL, NULL, "pdf sign: missing PDF, key or certificate");
    char dir[4096], crt[4200], key[4200];
    cert_dirname(lab_key_path, dir, sizeof dir);
    snprintf(crt, sizeof crt, "%s/" CERT_X509_CRT_FILE, dir);
    snprintf(key, sizeof key, "%s/" CERT_X509_KEY_FILE, dir);
    bool has_crt = access(crt, F_OK) == 0, has_key = access(key, F_OK) == 0;
    if (!has_crt && !has_key)
        return 0; /* the lab signs its PDFs with no X.509 identity: the PDF stays as rendered */
    if (!has_crt || !has_key)
        return pd_err_set(err, PD_ESTATE, has_crt ? key : crt,
                          "missing: the PDF is signed with %s and %s side by side; the PDF was left unsigned",
                          CERT_X509_CRT_FILE, CERT_X509_KEY_FILE);
    struct cert_x509_signer s = {0};
    int rc = cert_x509_load(crt, key, &s, err);
    if (rc < 0)
        return rc;
    char *canon = cert_canonical(doc, NULL);
    if (!canon) {
        cert_x509_close(&s);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    }
    char hash[65], reason[300];
    cert_sha256_hex(canon, strlen(canon), hash);
    free(canon);
    const char *id = json_string_value(json_object_get(doc, "certificate_id"));
    snprintf(reason, sizeof reason, "Certificate %s issued; SHA-256 of its signed JSON, canonical form: %s",
             id ? id : "?", hash);
    rc = cert_pdf_sign(pdf_path, &s, reason, pd_clock_utc_ns(), err);
    cert_x509_close(&s);
    return rc;
}
