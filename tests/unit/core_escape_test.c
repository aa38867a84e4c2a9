/* core_escape_test.c — pd_text_escape_terminal: terminal controls, bidi overrides and bytes that
 * are not UTF-8 come out as visible escapes, printable text (ASCII and other scripts) unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"

static void expect(const char *in, size_t len, const char *want)
{
    char *got = pd_text_escape_terminal(in, len);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}
#define EXPECT(lit, want) expect(lit, sizeof lit - 1, want)

static void test_printable_text_is_unchanged(void **state)
{
    (void)state;
    EXPECT("ACME Automotive GmbH, 1503 MPa ± 25", "ACME Automotive GmbH, 1503 MPa ± 25");
    EXPECT("Müller & Søn — Łódź 東京 \xF0\x9F\x98\x80", "Müller & Søn — Łódź 東京 \xF0\x9F\x98\x80");
    expect("", 0, "");
    expect(NULL, 0, "");
}

static void test_terminal_controls_are_escaped(void **state)
{
    (void)state;
    EXPECT("\x1b[2J\x1b[HACME", "\\x1B[2J\\x1B[HACME");          /* clear screen, cursor home */
    EXPECT("FAIL\rVERIFIED", "FAIL\\x0DVERIFIED");                 /* carriage-return overwrite */
    EXPECT("bad\b\b\bok", "bad\\x08\\x08\\x08ok");                /* backspaces */
    EXPECT("a\nb\tc\x7f", "a\\x0Ab\\x09c\\x7F");                  /* newline, tab, DEL */
    EXPECT("x\x00y", "x\\x00y");                                   /* a NUL inside the bytes */
    EXPECT("\xC2\x9B" "2J", "\\u{9B}2J");                          /* C1 CSI as UTF-8 */
    EXPECT("C:\\x1B", "C:\\\\x1B");                                /* a backslash cannot fake an escape */
}

static void test_bidi_overrides_are_escaped(void **state)
{
    (void)state;
    /* U+202E RIGHT-TO-LEFT OVERRIDE would show "ACME" followed by the reversed "LIAF" as "FAIL" */
    EXPECT("ACME \xE2\x80\xAE" "DEIFIREV", "ACME \\u{202E}DEIFIREV");
    EXPECT("\xE2\x80\xAA\xE2\x80\xAB\xE2\x80\xAC\xE2\x80\xAD", "\\u{202A}\\u{202B}\\u{202C}\\u{202D}");
    EXPECT("\xE2\x81\xA6\xE2\x81\xA7\xE2\x81\xA8\xE2\x81\xA9", "\\u{2066}\\u{2067}\\u{2068}\\u{2069}");
    EXPECT("\xE2\x80\x8E\xE2\x80\x8F\xD8\x9C", "\\u{200E}\\u{200F}\\u{61C}");
    EXPECT("a\xE2\x80\xA8" "b", "a\\u{2028}b");
}

static void test_invalid_utf8_is_shown_byte_by_byte(void **state)
{
    (void)state;
    EXPECT("\xff\xfe", "\\xFF\\xFE");
    EXPECT("\xC0\xAF", "\\xC0\\xAF");                 /* overlong '/' */
    EXPECT("\xED\xA0\x80", "\\xED\\xA0\\x80");        /* a surrogate */
    EXPECT("\xF4\x90\x80\x80", "\\xF4\\x90\\x80\\x80"); /* beyond U+10FFFF */
    EXPECT("ok\xE2\x80", "ok\\xE2\\x80");             /* cut sequence at the end */
    EXPECT("\xE2\x28\xA1", "\\xE2(\\xA1");            /* broken continuation */
    EXPECT("\xEF\xBB\xBF{", "\xEF\xBB\xBF{");          /* a BOM is printable text (U+FEFF) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_printable_text_is_unchanged),
        cmocka_unit_test(test_terminal_controls_are_escaped),
        cmocka_unit_test(test_bidi_overrides_are_escaped),
        cmocka_unit_test(test_invalid_utf8_is_shown_byte_by_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
