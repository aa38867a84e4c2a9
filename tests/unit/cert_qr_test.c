/* cert_qr_test.c — the QR code's rectangles on the certificate PDF (cert_qr_rects) cover exactly its
 * dark modules, each once: on libqrencode's codes for certificate-like payloads and on random
 * matrices of every density, with the coverage counted module by module; the code certify's writer
 * thread prepares for the PDF (cert_doc_hash_set) is the one of the certificate's number and the
 * SHA-256 of its canonical JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert_internal.h"

/* Counts how often each module is covered and compares with the matrix: dark once, light never. */
static size_t check_cover(const unsigned char *modules, int w)
{
    size_t cells = (size_t)w * (size_t)w;
    unsigned char *covered = malloc(cells);
    int(*rect)[4] = malloc(cells * sizeof *rect);
    int *count = calloc(cells, sizeof *count);
    assert_non_null(covered);
    assert_non_null(rect);
    assert_non_null(count);
    size_t n = cert_qr_rects(modules, w, covered, rect);
    assert_true(n <= cells);
    for (size_t i = 0; i < n; i++) {
        int c = rect[i][0], r = rect[i][1], cols = rect[i][2], rows = rect[i][3];
        assert_true(cols >= 1 && rows >= 1);
        assert_true(c >= 0 && r >= 0 && c + cols <= w && r + rows <= w);
        for (int rr = r; rr < r + rows; rr++)
            for (int cc = c; cc < c + cols; cc++)
                count[rr * w + cc]++;
    }
    size_t dark = 0;
    for (size_t k = 0; k < cells; k++) {
        int want = modules[k] & 1;
        dark += (size_t)want;
        if (count[k] != want)
            fail_msg("module (%zu, %zu) of %d x %d covered %d times, dark = %d", k / (size_t)w, k % (size_t)w, w, w,
                     count[k], want);
    }
    assert_true(n <= dark);
    free(covered);
    free(rect);
    free(count);
    return n;
}

static void test_certificate_codes(void **state)
{
    (void)state;
    static const char *const payloads[] = {
        "polydaq-certificate:CERT-000001;sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "polydaq-certificate:CERT-000043;sha256:f3c6a1d9e0b27c4485ffb1d203e97a6c5d4b3a29187e6f5d4c3b2a1908f7e6d5",
        "x",
    };
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        QRcode *code = QRcode_encodeString(payloads[i], 0, QR_ECLEVEL_M, QR_MODE_8, 1);
        assert_non_null(code);
        size_t dark = 0;
        for (int k = 0; k < code->width * code->width; k++)
            dark += code->data[k] & 1;
        size_t n = check_cover(code->data, code->width);
        /* The point of it: a certificate's code (~900 dark modules) takes far fewer rectangles. */
        if (i < 2)
            assert_true(2 * n < dark);
        QRcode_free(code);
    }
}

static void test_random_matrices(void **state)
{
    (void)state;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (int w = 1; w <= 41; w += 4) {
        for (int density = 0; density <= 100; density += 10) {
            unsigned char *m = malloc((size_t)w * (size_t)w);
            assert_non_null(m);
            for (int k = 0; k < w * w; k++) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                /* other bits set as libqrencode sets them: only bit 0 says dark */
                m[k] = (unsigned char)(((int)(rng % 100) < density ? 1 : 0) | ((rng >> 8) & 0xfe));
            }
            check_cover(m, w);
            free(m);
        }
    }
}

/* certify's writer thread hashes the final document and encodes its QR code for the PDF: the hash
 * must be the canonical JSON's, the payload name this certificate, the rectangles cover that code. */
static void test_doc_hash_prepares_the_certificates_code(void **state)
{
    (void)state;
    json_t *doc = json_pack("{s:s,s:s,s:[i,i]}", "certificate_id", "CERT-000321", "title", "t", "n", 1, 2);
    assert_non_null(doc);
    struct cert_doc_hash h;
    cert_doc_hash_init(&h);
    cert_doc_hash_set(&h, doc);
    char hex[65];
    cert_doc_hash_wait(&h, hex);
    char *canon = cert_canonical(doc, NULL);
    assert_non_null(canon);
    char want[65];
    cert_sha256_hex(canon, strlen(canon), want);
    free(canon);
    assert_string_equal(hex, want);
    char payload[200];
    snprintf(payload, sizeof payload, "polydaq-certificate:CERT-000321;sha256:%s", want);
    assert_string_equal(h.qr_payload, payload);
    QRcode *code = QRcode_encodeString(payload, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    assert_non_null(code);
    assert_int_equal(h.qr_width, code->width);
    assert_true(h.n_rects > 0);
    int w = code->width;
    int *count = calloc((size_t)w * (size_t)w, sizeof *count);
    assert_non_null(count);
    for (size_t i = 0; i < h.n_rects; i++)
        for (int r = h.rects[i][1]; r < h.rects[i][1] + h.rects[i][3]; r++)
            for (int c = h.rects[i][0]; c < h.rects[i][0] + h.rects[i][2]; c++)
                count[r * w + c]++;
    for (int k = 0; k < w * w; k++)
        assert_int_equal(count[k], code->data[k] & 1);
    free(count);
    QRcode_free(code);
    /* another document, another hash: the code changes with it */
    json_object_set_new(doc, "title", json_string("u"));
    struct cert_doc_hash h2;
    cert_doc_hash_init(&h2);
    cert_doc_hash_set(&h2, doc);
    assert_string_not_equal(h2.hex, h.hex);
    assert_string_not_equal(h2.qr_payload, h.qr_payload);
    cert_doc_hash_destroy(&h2);
    cert_doc_hash_destroy(&h);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_certificate_codes),
        cmocka_unit_test(test_random_matrices),
        cmocka_unit_test(test_doc_hash_prepares_the_certificates_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
