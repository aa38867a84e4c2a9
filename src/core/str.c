/* str.c — bounded string copy and strict number parsing (whole string, no silent junk). */
#include "core/core.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int pd_strlcpy(char *dst, const char *src, size_t size)
{
    if (size == 0)
        return PD_ERANGE;
    size_t len = strlen(src);
    if (len >= size) {
        memcpy(dst, src, size - 1);
        dst[size - 1] = '\0';
        return PD_ERANGE;
    }
    memcpy(dst, src, len + 1);
    return PD_OK;
}

bool pd_parse_double(const char *s, double *out)
{
    if (!s || !*s)
        return false;
    /* Decimal only: strtod would also take leading blanks and hexadecimal ("0x10", "0x1p4"), which
     * no file polydaq reads means as a number. */
    if (!(isdigit((unsigned char)s[0]) || s[0] == '-' || s[0] == '+' || s[0] == '.') || strpbrk(s, "xXpP"))
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
        return false;
    *out = v;
    return true;
}

bool pd_parse_long(const char *s, long *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    /* Base 10, or hex with an explicit 0x prefix: a leading zero must never mean octal. */
    int base = (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? 16 : 10;
    long v = strtol(s, &end, base);
    if (end == s || *end != '\0' || errno == ERANGE)
        return false;
    *out = v;
    return true;
}
