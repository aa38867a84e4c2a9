/* cert_pdfsign_test.c — the PDF parser and the PAdES signer of issued certificates: hand-made and
 * cairo-made PDFs parse to the right catalog, page and trailer; every truncation and many byte
 * substitutions of a PDF give a clean result or a clear error (never a crash); each damage the
 * parser refuses is named; a signed PDF is the original plus an update whose CMS signature
 * OpenSSL verifies over the byte range (CAdES attributes, no signing time); signing a damaged
 * PDF leaves it untouched; the X.509 identity is made once, kept private and checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cairo-pdf.h>
#include <cairo.h>
#include <dirent.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cert/cert_internal.h"

/* ---- helpers ---------------------------------------------------------------------------------*/
struct pdfbuf {
    char p[16384];
    size_t len;
};

static void add(struct pdfbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct pdfbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, sizeof b->p - b->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof b->p - b->len);
    b->len += (size_t)n;
}

/* A PDF of `n` objects (numbered from 1, bodies as given) with a correct xref table and a trailer
 * of /Size n+1 /Root 1 0 R plus `trailer_extra`. */
static void make_pdf(struct pdfbuf *b, const char *const *bodies, int n, const char *trailer_extra)
{
    size_t off[32];
    b->len = 0;
    add(b, "%%PDF-1.5\n%%\xb5\xed\xae\xfb\n");
    for (int i = 0; i < n; i++) {
        off[i] = b->len;
        add(b, "%d 0 obj\n%s\nendobj\n", i + 1, bodies[i]);
    }
    size_t xref = b->len;
    add(b, "xref\n0 %d\n0000000000 65535 f \n", n + 1);
    for (int i = 0; i < n; i++)
        add(b, "%010zu 00000 n \n", off[i]);
    add(b, "trailer\n<< /Size %d\n   /Root 1 0 R\n%s>>\nstartxref\n%zu\n%%%%EOF\n", n + 1, trailer_extra, xref);
}

static const char *const good_objs[] = {
    "<< /Type /Catalog\n   /Pages 2 0 R\n>>",
    "<< /Type /Pages /Kids [ 3 0 R ] /Count 1 >>",
    "<< /Type /Page % 1 (a comment, as cairo writes)\n   /Parent 2 0 R /MediaBox [ 0 0 595.28 841.89 ]\n"
    "   /Contents 4 0 R /Resources << /Font << >> >> /Annots [ ] >>",
    "<< /Length 8 >>\nstream\n0 0 m S\n\nendstream",
    "<< /Producer (polydaq \\(test\\) ) >>",
};

static void make_good(struct pdfbuf *b)
{
    make_pdf(b, good_objs, 5, "   /Info 5 0 R\n   /ID [ <0123ABCD> <0123ABCD> ]\n");
}

static int parse(const struct pdfbuf *b, struct cert_pdf_doc *d, struct pd_err *err)
{
    pd_err_clear(err);
    return cert_pdf_parse((const unsigned char *)b->p, b->len, "t.pdf", d, err);
}

static bool span_eq(const char *pdf, struct cert_pdf_span s, const char *text)
{
    return s.len == strlen(text) && memcmp(pdf + s.off, text, s.len) == 0;
}

static char tmpdir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/pd-pdfsign-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    p[n] = 0; /* sscanf may look at it as text */
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void write_all(const char *path, const void *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* A two-page PDF drawn by cairo, as the certificate renderer writes them. */
static void cairo_pdf(const char *path)
{
    cairo_surface_t *s = cairo_pdf_surface_create(path, 595.28, 841.89);
    cairo_t *cr = cairo_create(s);
    for (int page = 0; page < 2; page++) {
        cairo_move_to(cr, 72, 72);
        cairo_line_to(cr, 300, 400);
        cairo_stroke(cr);
        cairo_show_page(cr);
    }
    cairo_destroy(cr);
    cairo_surface_finish(s);
    assert_int_equal(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    cairo_surface_destroy(s);
}

/* ---- parser ----------------------------------------------------------------------------------*/
static void test_parse_hand_made(void **state)
{
    (void)state;
    static struct pdfbuf b;
    make_good(&b);
    struct cert_pdf_doc d;
    struct pd_err err;
    assert_int_equal(parse(&b, &d, &err), 0);
    assert_int_equal(d.size, 6);
    assert_int_equal(d.catalog.num, 1);
    assert_int_equal(d.page.num, 3);
    assert_int_equal(d.page.gen, 0);
    assert_true(span_eq(b.p, d.info, "5 0 R"));
    assert_true(span_eq(b.p, d.id, "[ <0123ABCD> <0123ABCD> ]"));
    assert_memory_equal(b.p + d.startxref, "xref", 4);
    /* The page's entries, the comment skipped, values whole (a reference is one value). */
    const struct cert_pdf_entry *e = cert_pdf_dict_get((const unsigned char *)b.p, &d.page.dict, "/Parent");
    assert_non_null(e);
    assert_true(span_eq(b.p, e->value, "2 0 R"));
    e = cert_pdf_dict_get((const unsigned char *)b.p, &d.page.dict, "/Resources");
    assert_non_null(e);
    assert_true(span_eq(b.p, e->value, "<< /Font << >> >>"));
    assert_int_equal(d.page.dict.n, 6);
    assert_null(cert_pdf_dict_get((const unsigned char *)b.p, &d.page.dict, "/Par"));
}

static void test_parse_cairo(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/cairo.pdf", tmpdir);
    cairo_pdf(path);
    size_t len;
    unsigned char *p = read_all(path, &len);
    struct cert_pdf_doc d;
    struct pd_err err;
    pd_err_clear(&err);
    assert_int_equal(cert_pdf_parse(p, len, path, &d, &err), 0);
    const struct cert_pdf_entry *t = cert_pdf_dict_get(p, &d.page.dict, "/Type");
    assert_non_null(t);
    assert_true(span_eq((const char *)p, t->value, "/Page"));
    /* page 1 is the first kid of the page tree */
    const struct cert_pdf_entry *parent = cert_pdf_dict_get(p, &d.page.dict, "/Parent");
    assert_non_null(parent);
    char kid[32];
    snprintf(kid, sizeof kid, "[ %lld %lld R", d.page.num, d.page.gen);
    bool listed = false;
    for (size_t i = 0; !listed && i + strlen(kid) <= len; i++)
        listed = memcmp(p + i, kid, strlen(kid)) == 0;
    assert_true(listed);
    assert_true(d.info.len > 0);
    free(p);
}

/* Every prefix and many substitutions of a PDF: 0 or PD_EDATA with the file and a byte named. */
static void test_parse_damaged_never_crashes(void **state)
{
    (void)state;
    static struct pdfbuf good, b;
    make_good(&good);
    struct cert_pdf_doc d;
    struct pd_err err;
    size_t ok = 0, refused = 0;
    for (size_t n = 0; n + 1 < good.len; n++) { /* all but the last line end: %%EOF cut or missing */
        b = good;
        b.len = n;
        int rc = parse(&b, &d, &err);
        assert_int_equal(rc, PD_EDATA); /* no prefix is a complete PDF: %%EOF is the last line */
        assert_non_null(strstr(err.msg, "t.pdf (byte "));
    }
    static const char subst[] = {'\0', '(', ')', '<', '>', '[', ']', '/', '%', '9', 'x', ' ', '\n'};
    for (size_t i = 0; i < good.len; i++) {
        for (size_t k = 0; k < sizeof subst; k++) {
            b = good;
            b.p[i] = subst[k];
            int rc = parse(&b, &d, &err);
            if (rc == 0) {
                ok++;
                assert_true(d.page.off < b.len && d.catalog.off < b.len && d.startxref < b.len);
            } else {
                refused++;
                assert_int_equal(rc, PD_EDATA);
                assert_non_null(strstr(err.msg, "t.pdf (byte "));
            }
        }
    }
    assert_true(ok > 0 && refused > 0); /* both outcomes occurred: the loop tested something */
}

struct bad_case {
    const char *what, *expect;
};

static void expect_refused(struct pdfbuf *b, const char *expect)
{
    struct cert_pdf_doc d;
    struct pd_err err;
    int rc = parse(b, &d, &err);
    if (rc != PD_EDATA || !strstr(err.msg, expect))
        fail_msg("expected an error with '%s', got %d: %s", expect, rc, err.msg);
}

static void with_obj(struct pdfbuf *b, int index, const char *body, const char *trailer_extra)
{
    const char *objs[5];
    memcpy(objs, good_objs, sizeof objs);
    if (index >= 0)
        objs[index] = body;
    make_pdf(b, objs, 5, trailer_extra);
}

static void test_parse_refusals(void **state)
{
    (void)state;
    static struct pdfbuf b;
    make_good(&b);
    b.p[1] = 'X';
    expect_refused(&b, "not a PDF");

    make_good(&b);
    b.len -= 6; /* "%%EOF\n" */
    expect_refused(&b, "truncated");

    make_good(&b);
    char *sx = strstr(b.p, "startxref\n");
    b.len = (size_t)(sx - b.p);
    add(&b, "startxref\n99999\n%%%%EOF\n");
    expect_refused(&b, "outside the file");

    make_good(&b);
    sx = strstr(b.p, "startxref\n");
    b.len = (size_t)(sx - b.p);
    add(&b, "startxref\n15\n%%%%EOF\n"); /* object 1: as a compressed xref would be */
    expect_refused(&b, "cross-reference stream");

    with_obj(&b, 0, "<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [ ] >> >>", "");
    expect_refused(&b, "already has a form");

    with_obj(&b, 0, "<< /Type /Catalog /Pages 2 0 R /Lang (unterminated >>", "");
    expect_refused(&b, "unterminated string");

    with_obj(&b, 0, "<< /Type /Metadata /Pages 2 0 R >>", "");
    expect_refused(&b, "not a /Catalog");

    with_obj(&b, 0, "<< /Type /Catalog >>", "");
    expect_refused(&b, "no /Pages");

    with_obj(&b, 1, "<< /Type /Pages /Kids [ 2 0 R ] /Count 1 >>", ""); /* a tree that loops */
    expect_refused(&b, "deeper than 32");

    with_obj(&b, 1, "<< /Type /Pages /Kids [ ] /Count 0 >>", "");
    expect_refused(&b, "the first of /Kids");

    with_obj(&b, 2, "<< /Type /Page /Parent 2 0 R /Annots 4 0 R >>", "");
    expect_refused(&b, "not an inline array");

    char deep[400] = "<< /Type /Page /Parent 2 0 R /X ";
    for (int i = 0; i < 60; i++)
        strcat(deep, "[");
    for (int i = 0; i < 60; i++)
        strcat(deep, "]");
    strcat(deep, " >>");
    with_obj(&b, 2, deep, "");
    expect_refused(&b, "nested too deeply");

    with_obj(&b, 2, "<< /Type /Page /Parent 2 0 R /X <12G4> >>", "");
    expect_refused(&b, "not a hex digit");

    with_obj(&b, 2, "<< /Type /Page 7 8 >>", "");
    expect_refused(&b, "expected a name");

    with_obj(&b, -1, NULL, "   /Prev 99999999\n");
    expect_refused(&b, "/Prev points outside");

    /* /Prev pointing to its own table: the chain loops */
    make_good(&b);
    size_t xref_at = (size_t)(strstr(b.p, "\nxref\n") - b.p) + 1;
    char extra[64];
    snprintf(extra, sizeof extra, "   /Prev %zu\n", xref_at);
    with_obj(&b, -1, NULL, extra);
    expect_refused(&b, "loops");

    /* the catalog's xref entry: free; then pointing at another object */
    make_good(&b);
    char *e1 = strstr(b.p, "65535 f \n") + 9;
    e1[17] = 'f';
    expect_refused(&b, "listed as free");
    make_good(&b);
    e1 = strstr(b.p, "65535 f \n") + 9;
    memcpy(e1, strstr(b.p, "65535 f \n") + 9 + 20, 10); /* object 1's offset := object 2's */
    expect_refused(&b, "points to something else");

    make_good(&b);
    char *root = strstr(b.p, "/Root 1 0 R");
    memcpy(root, "/Root [1 0]", 11);
    expect_refused(&b, "not an indirect reference");

    make_good(&b);
    char *sub = strstr(b.p, "xref\n0 6");
    sub[7] = '9'; /* 9 entries announced, 6 there */
    expect_refused(&b, "xref entry");
}

/* ---- signing ---------------------------------------------------------------------------------*/
static void make_identity(const char *sub, char *dir, size_t size)
{
    snprintf(dir, size, "%s/%s", tmpdir, sub);
    char crt[256];
    struct pd_err err;
    pd_err_clear(&err);
    if (pd_cert_x509_keygen(dir, "Prüflabor Nord (Test)", crt, sizeof crt, &err) < 0)
        fail_msg("%s", err.msg);
}

static void load_identity(const char *dir, struct cert_x509_signer *s)
{
    char crt[256], key[256];
    snprintf(crt, sizeof crt, "%s/lab.crt", dir);
    snprintf(key, sizeof key, "%s/lab-x509.key", dir);
    struct pd_err err;
    pd_err_clear(&err);
    if (cert_x509_load(crt, key, s, &err) < 0)
        fail_msg("%s", err.msg);
}

static void test_x509_identity(void **state)
{
    (void)state;
    char dir[128], crt[256], key[256];
    make_identity("id", dir, sizeof dir);
    snprintf(crt, sizeof crt, "%s/lab.crt", dir);
    snprintf(key, sizeof key, "%s/lab-x509.key", dir);
    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    size_t n1, n2;
    unsigned char *before = read_all(key, &n1);
    struct pd_err err;
    char out[256] = "";
    assert_int_equal(pd_cert_x509_keygen(dir, "Another", out, sizeof out, &err), PD_ESTATE);
    assert_string_equal(out, "");
    unsigned char *after = read_all(key, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    free(before);
    free(after);
    assert_int_equal(pd_cert_x509_keygen(dir, "", out, sizeof out, &err), PD_EINVAL);

    struct cert_x509_signer s = {0};
    load_identity(dir, &s);
    assert_string_equal(s.name, "Prüflabor Nord (Test)");
    assert_int_equal(X509_get_key_usage(s.crt) & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION),
                     KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION);
    /* No empty authority key identifier (OpenSSL 3.0 writes one for "keyid" on a self-signed
     * certificate): absent, or naming the key. */
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(s.crt);
    assert_true(X509_get_ext_by_NID(s.crt, NID_authority_key_identifier, -1) < 0 ||
                (aki && ASN1_STRING_length(aki) > 0));
    assert_non_null(X509_get0_subject_key_id(s.crt));
    /* Its own trust anchor: a CA (NSS accepts no other anchor), pathlen 0. */
    assert_true(X509_check_ca(s.crt) > 0);
    cert_x509_close(&s);

    /* readable by others: refused, like ssh */
    assert_int_equal(chmod(key, 0640), 0);
    struct cert_x509_signer t = {0};
    pd_err_clear(&err);
    assert_int_equal(cert_x509_load(crt, key, &t, &err), PD_ESTATE);
    assert_non_null(strstr(err.msg, "readable by group or others"));
    assert_null(t.crt);
    assert_int_equal(chmod(key, 0600), 0);

    /* a key that is not the certificate's */
    char other[128], other_key[256];
    make_identity("id-other", other, sizeof other);
    snprintf(other_key, sizeof other_key, "%s/lab-x509.key", other);
    pd_err_clear(&err);
    assert_int_equal(cert_x509_load(crt, other_key, &t, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "does not belong"));
    pd_err_clear(&err);
    assert_int_equal(cert_x509_load(key, key, &t, &err), PD_EDATA); /* a key given as certificate */
    assert_non_null(strstr(err.msg, "not a PEM X.509 certificate"));
}

static size_t find(const unsigned char *p, size_t len, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(p + i, s, n) == 0)
            return i;
    fail_msg("'%s' not found", s);
    return 0;
}

static void test_sign_cairo_pdf(void **state)
{
    (void)state;
    char dir[128], path[128];
    make_identity("sign", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/signed.pdf", tmpdir);
    cairo_pdf(path);
    size_t olen, slen;
    unsigned char *orig = read_all(path, &olen);
    struct cert_x509_signer s = {0};
    load_identity(dir, &s);
    struct pd_err err;
    pd_err_clear(&err);
    int64_t t = (int64_t)1796313600 * 1000000000; /* 2026-12-03T16:00:00Z */
    if (cert_pdf_sign(path, &s, "Certificate CERT-000007 issued (test) \\ sha256 00ff", t, &err) < 0)
        fail_msg("%s", err.msg);
    unsigned char *sp = read_all(path, &slen);
    /* An incremental update: the original bytes unchanged in front. */
    assert_true(slen > olen + 2 * CERT_PDF_SIG_MAX);
    assert_memory_equal(sp, orig, olen);
    const unsigned char *upd = sp + olen;
    size_t ulen = slen - olen;
    find(upd, ulen, "/SubFilter /ETSI.CAdES.detached");
    find(upd, ulen, "/M (D:20261203160000+00'00')");
    find(upd, ulen, "/Reason (Certificate CERT-000007 issued \\(test\\) \\\\ sha256 00ff)");
    find(upd, ulen, "/Name <FEFF0050007200FC0066"); /* "Prüf" in UTF-16BE */
    find(upd, ulen, "/SigFlags 3");
    /* The byte range: all but the hex string. */
    size_t br = olen + find(upd, ulen, "/ByteRange [");
    long long a, b, c, n;
    assert_int_equal(sscanf((const char *)sp + br, "/ByteRange [ %lld %lld %lld %lld ]", &a, &b, &c, &n), 4);
    assert_int_equal(a, 0);
    assert_int_equal(c + n, (long long)slen);
    assert_int_equal(sp[b], '<');
    assert_int_equal(sp[c - 1], '>');
    assert_int_equal(c - b, 2 * CERT_PDF_SIG_MAX + 2);
    /* The CMS signature verifies over exactly those ranges (OpenSSL, the certificate as anchor). */
    size_t der_len = (size_t)(c - b - 2) / 2;
    unsigned char *der = malloc(der_len);
    assert_non_null(der);
    for (size_t i = 0; i < der_len; i++) {
        unsigned v;
        assert_int_equal(sscanf((const char *)sp + b + 1 + 2 * i, "%2x", &v), 1);
        der[i] = (unsigned char)v;
    }
    const unsigned char *q = der;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &q, (long)der_len);
    assert_non_null(cms);
    unsigned char *content = malloc((size_t)(b + n));
    memcpy(content, sp, (size_t)b);
    memcpy(content + b, sp + c, (size_t)n);
    X509_STORE *store = X509_STORE_new();
    assert_int_equal(X509_STORE_add_cert(store, s.crt), 1);
    X509_VERIFY_PARAM_set_purpose(X509_STORE_get0_param(store), X509_PURPOSE_ANY);
    BIO *in = BIO_new_mem_buf(content, (int)(b + n));
    if (CMS_verify(cms, NULL, store, in, NULL, CMS_BINARY) != 1) {
        ERR_print_errors_fp(stderr);
        fail_msg("CMS_verify failed");
    }
    BIO_free(in);
    STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
    assert_int_equal(sk_CMS_SignerInfo_num(sis), 1);
    CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, 0);
    assert_true(CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1) < 0);
    assert_true(CMS_signed_get_attr_by_NID(si, NID_id_smime_aa_signingCertificateV2, -1) >= 0);
    assert_int_equal(CMS_SignerInfo_cert_cmp(si, s.crt), 0);
    /* One changed byte of the signed range: the signature no longer verifies. */
    content[b / 2] ^= 1;
    in = BIO_new_mem_buf(content, (int)(b + n));
    assert_int_not_equal(CMS_verify(cms, NULL, store, in, NULL, CMS_BINARY), 1);
    ERR_clear_error();
    BIO_free(in);
    X509_STORE_free(store);
    CMS_ContentInfo_free(cms);
    free(content);
    free(der);

    /* The signed PDF parses (its update's xref points right) and is refused for a second signature,
     * the file unchanged. */
    pd_err_clear(&err);
    assert_int_equal(cert_pdf_sign(path, &s, "again", t, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "already has a form"));
    size_t again_len;
    unsigned char *again = read_all(path, &again_len);
    assert_int_equal(again_len, slen);
    assert_memory_equal(again, sp, slen);
    free(again);
    cert_x509_close(&s);
    free(sp);
    free(orig);
}

/* A damaged PDF: an error naming it and the byte, the file as it was, no temporary file left. */
static void test_sign_damaged_untouched(void **state)
{
    (void)state;
    char dir[128], path[128];
    make_identity("damaged", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/dmg/damaged.pdf", tmpdir);
    char sub[128];
    snprintf(sub, sizeof sub, "%s/dmg", tmpdir);
    assert_int_equal(mkdir(sub, 0755), 0);
    static struct pdfbuf b;
    make_good(&b);
    b.len -= 40; /* cut into the trailer */
    write_all(path, b.p, b.len);
    struct cert_x509_signer s = {0};
    load_identity(dir, &s);
    struct pd_err err;
    pd_err_clear(&err);
    assert_int_equal(cert_pdf_sign(path, &s, "r", 0, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "damaged.pdf (byte "));
    size_t len;
    unsigned char *p = read_all(path, &len);
    assert_int_equal(len, b.len);
    assert_memory_equal(p, b.p, len);
    free(p);
    DIR *d = opendir(sub);
    assert_non_null(d);
    int files = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        files += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(files, 1);
    pd_err_clear(&err);
    assert_int_equal(cert_pdf_sign(sub, &s, "r", 0, &err), PD_EDATA); /* a folder */
    cert_x509_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_hand_made),
        cmocka_unit_test(test_parse_cairo),
        cmocka_unit_test(test_parse_damaged_never_crashes),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_x509_identity),
        cmocka_unit_test(test_sign_cairo_pdf),
        cmocka_unit_test(test_sign_damaged_untouched),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
