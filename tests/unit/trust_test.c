/* trust_test.c — key files: created 0600 and never overwritten, refused when readable by others or
 * damaged, signatures that fail on any changed byte, against libsodium's own check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "trust/trust.h"

static char tmp_dir[] = "/tmp/pd-trust-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_generate_load_sign(void **state)
{
    (void)state;
    char dir[300], sk[400], pk[400];
    snprintf(dir, sizeof dir, "%s/k1", tmp_dir);
    struct pd_err err = {0};
    assert_int_equal(pd_key_generate(dir, "lab", sk, sizeof sk, pk, sizeof pk, &err), 0);
    struct stat st;
    assert_int_equal(stat(sk, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* never overwritten, secret or public half */
    assert_int_equal(pd_key_generate(dir, "lab", sk, sizeof sk, pk, sizeof pk, &err), PD_ESTATE);
    struct pd_secret_key key;
    struct pd_public_key pub;
    assert_int_equal(pd_secret_key_load(sk, &key, &err), 0);
    assert_int_equal(pd_public_key_load(pk, &pub, &err), 0);
    assert_memory_equal(key.pub.bytes, pub.bytes, PD_KEY_PUBLIC_BYTES);
    assert_string_equal(key.pub.id, pub.id);
    assert_int_equal(strlen(pub.id), 16);

    const char msg[] = "content sha256 of CERT-000001";
    unsigned char sig[PD_KEY_SIGNATURE_BYTES];
    pd_key_sign(&key, msg, sizeof msg - 1, sig);
    assert_true(pd_key_verify(&pub, msg, sizeof msg - 1, sig));
    char other[sizeof msg];
    memcpy(other, msg, sizeof msg);
    other[5] ^= 1;
    assert_false(pd_key_verify(&pub, other, sizeof msg - 1, sig));
    sig[10] ^= 0x80;
    assert_false(pd_key_verify(&pub, msg, sizeof msg - 1, sig));
    sig[10] ^= 0x80;

    /* hex round trips, strictly */
    char hex[2 * PD_KEY_SIGNATURE_BYTES + 1];
    pd_signature_to_hex(sig, hex);
    unsigned char back[PD_KEY_SIGNATURE_BYTES];
    assert_int_equal(pd_signature_from_hex(hex, back, &err), 0);
    assert_memory_equal(back, sig, sizeof sig);
    hex[0] = 'A'; /* upper case is not the canonical form */
    assert_int_equal(pd_signature_from_hex(hex, back, &err), PD_EDATA);
    assert_int_equal(pd_signature_from_hex("00", back, &err), PD_EDATA);
    struct pd_public_key from_hex;
    assert_int_equal(pd_public_key_from_hex(pub.hex, &from_hex, &err), 0);
    assert_string_equal(from_hex.id, pub.id);
    char longer[80];
    snprintf(longer, sizeof longer, "%s00", pub.hex);
    assert_int_equal(pd_public_key_from_hex(longer, &from_hex, &err), PD_EDATA);

    /* another key does not verify this signature */
    char dir2[300], sk2[400], pk2[400];
    snprintf(dir2, sizeof dir2, "%s/k2", tmp_dir);
    assert_int_equal(pd_key_generate(dir2, "person", sk2, sizeof sk2, pk2, sizeof pk2, &err), 0);
    struct pd_public_key pub2;
    assert_int_equal(pd_public_key_load(pk2, &pub2, &err), 0);
    assert_false(pd_key_verify(&pub2, msg, sizeof msg - 1, sig));
    pd_secret_key_wipe(&key);
}

static void test_secret_key_permissions(void **state)
{
    (void)state;
    char dir[300], sk[400], pk[400];
    snprintf(dir, sizeof dir, "%s/k3", tmp_dir);
    struct pd_err err = {0};
    assert_int_equal(pd_key_generate(dir, "lab", sk, sizeof sk, pk, sizeof pk, &err), 0);
    struct pd_secret_key key;
    const mode_t open_modes[] = {0640, 0604, 0644, 0660, 0602};
    for (size_t i = 0; i < sizeof open_modes / sizeof open_modes[0]; i++) {
        assert_int_equal(chmod(sk, open_modes[i]), 0);
        memset(&key, 0x5a, sizeof key);
        assert_int_equal(pd_secret_key_load(sk, &key, &err), PD_ESTATE);
        assert_non_null(strstr(err.msg, "too open"));
        assert_int_equal(key.bytes[0], 0x5a); /* output untouched */
    }
    assert_int_equal(chmod(sk, 0400), 0);
    assert_int_equal(pd_secret_key_load(sk, &key, &err), 0);
    pd_secret_key_wipe(&key);
    /* a symbolic link is not followed: the key must be the file itself */
    char link_path[500];
    snprintf(link_path, sizeof link_path, "%s/link.key", tmp_dir);
    assert_int_equal(symlink(sk, link_path), 0);
    assert_true(pd_secret_key_load(link_path, &key, &err) < 0);
}

static void test_damaged_key_files(void **state)
{
    (void)state;
    char dir[300], sk[400], pk[400];
    snprintf(dir, sizeof dir, "%s/k4", tmp_dir);
    struct pd_err err = {0};
    assert_int_equal(pd_key_generate(dir, "lab", sk, sizeof sk, pk, sizeof pk, &err), 0);
    FILE *f = fopen(sk, "r");
    char good[300] = "";
    assert_non_null(fgets(good, sizeof good, f));
    fclose(f);
    char path[500];
    snprintf(path, sizeof path, "%s/bad.key", tmp_dir);
    struct pd_secret_key key;

    char text[400];
    /* one hex digit changed in the public half: the halves no longer belong together */
    snprintf(text, sizeof text, "%s", good);
    size_t last = strlen(text) - 2;
    text[last] = text[last] == '0' ? '1' : '0';
    write_text(path, text, 0600);
    assert_int_equal(pd_secret_key_load(path, &key, &err), PD_EDATA);
    /* truncated, trailing text, upper case, empty, a public key given as secret */
    snprintf(text, sizeof text, "%.60s\n", good);
    write_text(path, text, 0600);
    assert_int_equal(pd_secret_key_load(path, &key, &err), PD_EDATA);
    snprintf(text, sizeof text, "%.*s extra\n", (int)strlen(good) - 1, good);
    write_text(path, text, 0600);
    assert_int_equal(pd_secret_key_load(path, &key, &err), PD_EDATA);
    write_text(path, "", 0600);
    assert_int_equal(pd_secret_key_load(path, &key, &err), PD_EDATA);
    f = fopen(pk, "r");
    char pub_line[300] = "";
    assert_non_null(fgets(pub_line, sizeof pub_line, f));
    fclose(f);
    write_text(path, pub_line, 0600);
    assert_int_equal(pd_secret_key_load(path, &key, &err), PD_EDATA);
    struct pd_public_key pub;
    assert_int_equal(pd_public_key_load(sk, &pub, &err), PD_EDATA); /* a secret key given as public */
    snprintf(text, sizeof text, "%.*s\n\n", (int)strlen(pub_line) - 1, pub_line);
    write_text(path, text, 0644);
    assert_int_equal(pd_public_key_load(path, &pub, &err), PD_EDATA);
    assert_int_equal(pd_public_key_load("/nonexistent/lab.pub", &pub, &err), PD_EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_load_sign),
        cmocka_unit_test(test_secret_key_permissions),
        cmocka_unit_test(test_damaged_key_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
