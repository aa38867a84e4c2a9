/* scalar.c — strict conversion of scalar nodes to numbers and booleans, with messages that say
 * what was expected and what was found. */
#include "config/cfg_internal.h"

#include <ctype.h>
#include <strings.h>

static int expected(const struct pd_cfg_node *node, const char *what, const char *help,
                    struct pd_err *err)
{
    char found[64];
    pd_cfg_describe(node, found, sizeof found);
    if (help)
        return pd_cfg_error(err, node, "expected %s, found %s (%s)", what, found, help);
    return pd_cfg_error(err, node, "expected %s, found %s", what, found);
}

static const char *skip_digits(const char *s)
{
    while (isdigit((unsigned char)*s))
        s++;
    return s;
}

/* Decimal notation only: [+-] digits [. digits] [e [+-] digits]. strtod alone would also take
 * leading blanks, hex floats, "inf" and "nan", none of which belongs in a config. */
static bool looks_decimal(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    const char *int_end = skip_digits(s);
    bool digits = int_end != s;
    s = int_end;
    if (*s == '.') {
        const char *frac_end = skip_digits(s + 1);
        digits = digits || frac_end != s + 1;
        s = frac_end;
    }
    if (!digits)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        const char *exp_end = skip_digits(s);
        if (exp_end == s)
            return false;
        s = exp_end;
    }
    return *s == '\0';
}

/* [+-] decimal digits, or 0x followed by hex digits. */
static bool looks_integer(const char *s)
{
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        if (!*s)
            return false;
        while (isxdigit((unsigned char)*s))
            s++;
        return *s == '\0';
    }
    if (*s == '+' || *s == '-')
        s++;
    const char *end = skip_digits(s);
    return end != s && *end == '\0';
}

int pd_cfg_conv_double(const struct pd_cfg_node *node, const char *help, double *out,
                       struct pd_err *err)
{
    const char *s = pd_cfg_scalar(node);
    if (!s || !looks_decimal(s))
        return expected(node, "a number", help, err);
    double v;
    if (!pd_parse_double(s, &v))
        return pd_cfg_error(err, node, "number '%s' is out of range", s);
    *out = v;
    return 0;
}

int pd_cfg_conv_long(const struct pd_cfg_node *node, const char *help, long *out, struct pd_err *err)
{
    const char *s = pd_cfg_scalar(node);
    if (!s || !looks_integer(s))
        return expected(node, "an integer", help, err);
    long v;
    if (!pd_parse_long(s, &v))
        return pd_cfg_error(err, node, "integer '%s' is out of range", s);
    *out = v;
    return 0;
}

int pd_cfg_conv_bool(const struct pd_cfg_node *node, const char *help, bool *out, struct pd_err *err)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    const char *s = pd_cfg_scalar(node);
    if (s) {
        for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
            if (strcasecmp(s, yes[i]) == 0) {
                *out = true;
                return 0;
            }
            if (strcasecmp(s, no[i]) == 0) {
                *out = false;
                return 0;
            }
        }
    }
    return expected(node, "a boolean (true/false, yes/no, on/off)", help, err);
}

int pd_cfg_get_double(const struct pd_cfg_node *node, double *out, struct pd_err *err)
{
    return pd_cfg_conv_double(node, NULL, out, err);
}

int pd_cfg_get_long(const struct pd_cfg_node *node, long *out, struct pd_err *err)
{
    return pd_cfg_conv_long(node, NULL, out, err);
}

int pd_cfg_get_bool(const struct pd_cfg_node *node, bool *out, struct pd_err *err)
{
    return pd_cfg_conv_bool(node, NULL, out, err);
}
