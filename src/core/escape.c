/* escape.c — text from documents and run files made safe to print on a terminal: controls, bidi
 * overrides and bytes that are not UTF-8 shown as visible escapes instead of acted upon. */
#include "core/core.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (1..4) with its code point, or 0 when the bytes are
 * not one (overlong forms, surrogates, beyond U+10FFFF and cut sequences included). */
static size_t utf8_decode(const unsigned char *s, size_t left, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 2, v = c & 0x1Fu, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, v = c & 0x0Fu, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, v = c & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

/* Code points a terminal acts on or that reorder what follows: C1 controls, the bidi embeddings,
 * overrides, isolates and marks, and the Unicode line and paragraph separators. */
static bool dangerous(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F ||
           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029;
}

char *pd_text_escape_terminal(const char *text, size_t len)
{
    if (!text)
        len = 0;
    /* Worst case: every byte becomes \xNN (4 bytes); a 2-byte C1 control becomes \u{9f} (6). */
    if (len > (SIZE_MAX - 1) / 4)
        return NULL;
    char *out = malloc(4 * len + 1);
    if (!out)
        return NULL;
    const unsigned char *s = (const unsigned char *)text;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp = 0;
        size_t n = utf8_decode(s + i, len - i, &cp);
        if (n == 0) {
            o += (size_t)sprintf(out + o, "\\x%02X", s[i]);
            i++;
        } else if (cp < 0x20 || cp == 0x7F) {
            o += (size_t)sprintf(out + o, "\\x%02X", (unsigned)cp);
            i++;
        } else if (cp == '\\') {
            /* A backslash is doubled so that no text can pass for one of the escapes above. */
            out[o++] = '\\';
            out[o++] = '\\';
            i++;
        } else if (dangerous(cp)) {
            o += (size_t)sprintf(out + o, "\\u{%X}", (unsigned)cp);
            i += n;
        } else {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
        }
    }
    out[o] = '\0';
    return out;
}
