/* cert_sha256ni_test.c — the SHA extensions' SHA-256 (sha256ni.c) against FIPS 180-4's examples and
 * libsodium's independent implementation, for every length around the block and padding edges and
 * for data fed in random pieces; and pd_sha256_file on a file against the same. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cert/cert_internal.h"

static void hex(const unsigned char d[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void test_fips_examples(void **state)
{
    (void)state;
    if (!cert_sha256ni_available())
        skip();
    static const struct {
        const char *msg, *digest;
    } ex[] = {
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        struct cert_sha256ni h;
        unsigned char d[32];
        char got[65];
        cert_sha256ni_init(&h);
        cert_sha256ni_update(&h, ex[i].msg, strlen(ex[i].msg));
        cert_sha256ni_final(&h, d);
        hex(d, got);
        assert_string_equal(got, ex[i].digest);
    }
}

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_against_libsodium(void **state)
{
    (void)state;
    if (!cert_sha256ni_available())
        skip();
    assert_true(sodium_init() >= 0);
    enum { MAX = 4200 };
    unsigned char *data = malloc(MAX);
    assert_non_null(data);
    for (size_t i = 0; i < MAX; i++)
        data[i] = (unsigned char)next();
    for (size_t len = 0; len < MAX; len += len < 300 ? 1 : 61) {
        unsigned char want[32], got[32];
        crypto_hash_sha256(want, data, len);
        struct cert_sha256ni h;
        cert_sha256ni_init(&h);
        size_t off = 0;
        while (off < len) { /* pieces of 0..130 bytes: partial blocks before, across and after whole ones */
            size_t piece = (size_t)(next() % 131);
            piece = piece > len - off ? len - off : piece;
            cert_sha256ni_update(&h, data + off, piece);
            off += piece;
        }
        cert_sha256ni_final(&h, got);
        if (memcmp(want, got, 32) != 0) {
            char a[65], b[65];
            hex(want, a);
            hex(got, b);
            fail_msg("length %zu: libsodium %s, SHA extensions %s", len, a, b);
        }
    }
    free(data);
}

/* The file path certify takes (whichever implementation this machine uses), on 3 MB + 17 bytes. */
static void test_file_hash(void **state)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    size_t len = (3u << 20) + 17;
    unsigned char *data = malloc(len);
    assert_non_null(data);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(next() >> 24);
    char path[] = "/tmp/cert_sha256ni_test.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_true(write(fd, data, len) == (ssize_t)len);
    close(fd);
    unsigned char want[32];
    char want_hex[65], got_hex[65];
    crypto_hash_sha256(want, data, len);
    hex(want, want_hex);
    struct pd_err err = {0};
    assert_int_equal(pd_sha256_file(path, got_hex, &err), 0);
    assert_string_equal(got_hex, want_hex);
    unlink(path);
    free(data);
}

int main(void)
{
    if (!cert_sha256ni_available())
        fprintf(stderr, "cert_sha256ni_test: no SHA extensions on this CPU (or under valgrind): only the file hash, by "
                        "the fallback, is checked\n");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fips_examples),
        cmocka_unit_test(test_against_libsodium),
        cmocka_unit_test(test_file_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
