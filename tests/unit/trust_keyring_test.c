/* trust_keyring_test.c — the lab's published keyring: lines read strictly (every error names
 * file:line), roles found by key, the formatted line read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "trust/trust.h"

static char tmp_dir[] = "/tmp/pd-keyring-XXXXXX";
static char path[300];

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(tmp_dir))
        return -1;
    snprintf(path, sizeof path, "%s/keyring.txt", tmp_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_text(const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

#define HEX_A "1111111111111111111111111111111111111111111111111111111111111111"
#define HEX_B "2222222222222222222222222222222222222222222222222222222222222222"

static void test_reads_roles_comments_and_blank_lines(void **state)
{
    (void)state;
    static const char text[] = "# Joint Plastics Test Laboratory, keyring of 2026-12-03\n"
                               "\n"
                               "polydaq-ed25519-public " HEX_A " lab Joint Plastics Test Laboratory\n"
                               "polydaq-ed25519-public " HEX_B " reviewer R. Viewer\n"
                               "polydaq-ed25519-public " HEX_B " authorizer R. Viewer (deputy)"; /* no final newline */
    write_text(text, sizeof text - 1);
    struct pd_keyring kr;
    struct pd_err err = {0};
    assert_int_equal(pd_keyring_load(path, &kr, &err), 0);
    assert_int_equal(kr.n, 3);
    assert_int_equal(kr.entries[0].role, PD_KEY_ROLE_LAB);
    assert_string_equal(kr.entries[0].label, "Joint Plastics Test Laboratory");
    assert_string_equal(kr.entries[2].label, "R. Viewer (deputy)");
    struct pd_public_key a, b;
    assert_int_equal(pd_public_key_from_hex(HEX_A, &a, &err), 0);
    assert_int_equal(pd_public_key_from_hex(HEX_B, &b, &err), 0);
    assert_non_null(pd_keyring_find(&kr, &a, PD_KEY_ROLE_LAB));
    assert_null(pd_keyring_find(&kr, &a, PD_KEY_ROLE_REVIEWER));
    assert_null(pd_keyring_find(&kr, &b, PD_KEY_ROLE_LAB)); /* a person's key is no lab key */
    assert_ptr_equal(pd_keyring_find(&kr, &b, PD_KEY_ROLE_AUTHORIZER), &kr.entries[2]);
    assert_int_equal(pd_keyring_count(&kr, PD_KEY_ROLE_LAB), 1);
    assert_int_equal(pd_keyring_count(&kr, PD_KEY_ROLE_STATION), 0);
    pd_keyring_close(&kr);
}

/* Each bad line is refused, naming the file and the line (the 2nd: a good line comes first). */
static void test_bad_lines_name_file_and_line(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "polydaq-ed25519-public " HEX_A " lab\n",                        /* no label */
        "polydaq-ed25519-public " HEX_A " admin Root\n",                 /* unknown role */
        "polydaq-ed25519-public " HEX_A "  lab Two spaces\n",            /* not exactly one space */
        "polydaq-ed25519-public " HEX_A "1 lab Long key\n",              /* 65 hex digits */
        "polydaq-ed25519-public 1111111111111111111111111111111111111111111111111111111111111ABC lab Upper\n",
        "polydaq-ed25519-secret " HEX_A " lab Secret\n",                 /* a secret key line */
        "polydaq-ed25519-public " HEX_A " lab Lab\r\n",                  /* CR: a control character */
        "polydaq-ed25519-public " HEX_A " lab \xE2\x80\xAE" "baL\n",     /* bidi override in the label */
        "polydaq-ed25519-public " HEX_A " lab \xff\xfe\n",               /* not UTF-8 */
        "polydaq-ed25519-public " HEX_B " reviewer R. Viewer\n",         /* the same key and role again */
        " # an indented comment\n",
        "garbage\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[400];
        int n = snprintf(text, sizeof text, "polydaq-ed25519-public " HEX_B " reviewer R. Viewer\n%s", bad[i]);
        write_text(text, (size_t)n);
        struct pd_keyring kr = {.n = 99};
        struct pd_err err = {0};
        assert_int_equal(pd_keyring_load(path, &kr, &err), PD_EDATA);
        assert_int_equal(kr.n, 99); /* untouched */
        char where[320];
        snprintf(where, sizeof where, "%s:2", path);
        assert_string_equal(err.where, where);
    }
    static const char nul[] = "polydaq-ed25519-public " HEX_A " lab L\0ab\n";
    write_text(nul, sizeof nul - 1);
    struct pd_keyring kr;
    struct pd_err err = {0};
    assert_int_equal(pd_keyring_load(path, &kr, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, ":1: a NUL byte"));
    char missing[320];
    snprintf(missing, sizeof missing, "%s/none.txt", tmp_dir);
    assert_int_equal(pd_keyring_load(missing, &kr, &err), PD_EIO);
}

static void test_formatted_line_reads_back(void **state)
{
    (void)state;
    struct pd_public_key k;
    struct pd_err err = {0};
    assert_int_equal(pd_public_key_from_hex(HEX_A, &k, &err), 0);
    char line[400];
    assert_int_equal(pd_keyring_format_line(&k, PD_KEY_ROLE_STATION, "Frame 1, hall B", line, sizeof line, &err), 0);
    assert_string_equal(line, "polydaq-ed25519-public " HEX_A " station Frame 1, hall B\n");
    write_text(line, strlen(line));
    struct pd_keyring kr;
    assert_int_equal(pd_keyring_load(path, &kr, &err), 0);
    assert_non_null(pd_keyring_find(&kr, &k, PD_KEY_ROLE_STATION));
    pd_keyring_close(&kr);
    assert_int_equal(pd_keyring_format_line(&k, PD_KEY_ROLE_LAB, "Lab \\ Dept. 2", line, sizeof line, &err), 0);
    assert_int_equal(pd_keyring_format_line(&k, PD_KEY_ROLE_LAB, "evil\nnext line", line, sizeof line, &err), PD_EINVAL);
    assert_int_equal(pd_keyring_format_line(&k, PD_KEY_ROLE_LAB, "", line, sizeof line, &err), PD_EINVAL);
    assert_int_equal(pd_keyring_format_line(&k, PD_KEY_ROLE_LAB, "Lab", line, 20, &err), PD_ERANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_roles_comments_and_blank_lines),
        cmocka_unit_test(test_bad_lines_name_file_and_line),
        cmocka_unit_test(test_formatted_line_reads_back),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
