/* protocol.c — parsing MT-SICS response lines; defensive against garbage (the fuzz target's subject). */
#include "mtsics/protocol.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"

static int fail(char *why, size_t size, const char *text)
{
    if (size)
        snprintf(why, size, "%s", text);
    return -1;
}

static bool is_cmd_char(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '@'; }

static bool is_number_text(const char *s, size_t n)
{
    size_t i = 0, digits = 0, dots = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    for (; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9')
            digits++;
        else if (s[i] == '.' && dots++ == 0)
            continue;
        else
            return false;
    }
    return digits > 0;
}

int mtsics_parse(const char *line, struct mtsics_reply *out, char *why, size_t why_size)
{
    struct mtsics_reply r;
    memset(&r, 0, sizeof r);
    size_t len = strlen(line);
    while (len && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r'))
        len--;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] >= 0x7f)
            return fail(why, why_size, "control or non-ASCII byte in the line");
    if (len == 0)
        return fail(why, why_size, "empty line");
    if (len == 2 && line[0] == 'E' && (line[1] == 'S' || line[1] == 'T' || line[1] == 'L')) {
        r.kind = line[1] == 'S' ? MTSICS_ERR_SYNTAX : line[1] == 'T' ? MTSICS_ERR_TRANSMISSION : MTSICS_ERR_LOGIC;
        *out = r;
        return 0;
    }
    size_t i = 0;
    while (i < len && is_cmd_char(line[i]))
        i++;
    if (i == 0 || i >= MTSICS_CMD_MAX)
        return fail(why, why_size, "no command name at the start of the line");
    memcpy(r.cmd, line, i);
    if (i >= len || line[i] != ' ')
        return fail(why, why_size, "no status after the command name");
    while (i < len && line[i] == ' ')
        i++;
    if (i >= len)
        return fail(why, why_size, "no status after the command name");
    char status = line[i++];
    switch (status) {
    case 'A': r.kind = MTSICS_DONE; break;
    case 'B': r.kind = MTSICS_MORE; break;
    case 'S': r.kind = MTSICS_STABLE; break;
    case 'D': r.kind = MTSICS_DYNAMIC; break;
    case 'I': r.kind = MTSICS_BUSY; break;
    case 'L': r.kind = MTSICS_LOGIC; break;
    case '+': r.kind = MTSICS_OVERLOAD; break;
    case '-': r.kind = MTSICS_UNDERLOAD; break;
    default: return fail(why, why_size, "unknown status character");
    }
    if (i < len && line[i] != ' ')
        return fail(why, why_size, "status is more than one character");
    while (i < len && line[i] == ' ')
        i++;
    if (i >= len) {
        *out = r;
        return 0;
    }
    if (line[i] == '"') {
        const char *close = memchr(line + i + 1, '"', len - i - 1);
        if (!close)
            return fail(why, why_size, "unterminated quoted text");
        size_t tl = (size_t)(close - (line + i + 1));
        if (tl >= MTSICS_TEXT_MAX)
            return fail(why, why_size, "quoted text too long");
        memcpy(r.text, line + i + 1, tl);
        r.has_text = true;
        /* Further quoted fields (I1 has several) are allowed and ignored. */
        for (size_t k = (size_t)(close - line) + 1; k < len; k++)
            if (line[k] != ' ' && line[k] != '"' && line[k] != '.' && !(line[k] >= '0' && line[k] <= '9') &&
                !(line[k] >= 'A' && line[k] <= 'Z') && !(line[k] >= 'a' && line[k] <= 'z'))
                return fail(why, why_size, "unexpected text after the quoted field");
        *out = r;
        return 0;
    }
    /* A weight: number, blanks, unit. Some balances put an error text where the number goes
     * ("S S Error 12"): that is not a weight. */
    size_t ns = i;
    while (i < len && line[i] != ' ')
        i++;
    size_t nl = i - ns;
    if (!is_number_text(line + ns, nl) || nl >= 32)
        return fail(why, why_size, "weight field is not a number");
    char num[32];
    memcpy(num, line + ns, nl);
    num[nl] = '\0';
    double v;
    if (!pd_parse_double(num, &v) || !isfinite(v))
        return fail(why, why_size, "weight field is not a number");
    while (i < len && line[i] == ' ')
        i++;
    size_t us = i;
    while (i < len && line[i] != ' ')
        i++;
    size_t ul = i - us;
    if (ul == 0)
        return fail(why, why_size, "weight without a unit");
    if (ul >= MTSICS_UNIT_MAX)
        return fail(why, why_size, "unit field too long");
    while (i < len && line[i] == ' ')
        i++;
    if (i < len)
        return fail(why, why_size, "unexpected text after the unit");
    memcpy(r.unit, line + us, ul);
    memcpy(r.weight_text, num, nl + 1);
    r.weight = v;
    r.has_weight = true;
    *out = r;
    return 0;
}

bool mtsics_unit_to_grams(const char *unit, double *grams_per_unit)
{
    static const struct {
        const char *unit;
        double grams;
    } units[] = {{"g", 1.0}, {"kg", 1000.0}, {"mg", 0.001}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(unit, units[i].unit) == 0) {
            *grams_per_unit = units[i].grams;
            return true;
        }
    return false;
}

bool mtsics_weight_grams(const struct mtsics_reply *reply, double *grams)
{
    static const struct {
        const char *unit;
        int exponent; /* grams = number × 10^exponent */
    } units[] = {{"g", 0}, {"kg", 3}, {"mg", -3}};
    if (!reply->has_weight)
        return false;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(reply->unit, units[i].unit) == 0) {
            /* "12345.6e-3": strtod rounds the exact decimal value once, correctly. */
            char text[48];
            snprintf(text, sizeof text, "%se%d", reply->weight_text, units[i].exponent);
            return pd_parse_double(text, grams);
        }
    return false;
}

const char *mtsics_reply_cmd(const char *request)
{
    if (strcmp(request, "SI") == 0 || strcmp(request, "SIR") == 0 || strcmp(request, "S") == 0)
        return "S";
    if (strcmp(request, "@") == 0)
        return "I4";
    if (strcmp(request, "TI") == 0)
        return "T";
    return request;
}

bool mtsics_i2_simulated(const char *i2_text)
{
    static const char word[] = MTSICS_SIMULATED_WORD;
    const size_t wl = sizeof word - 1;
    for (const char *p = i2_text; (p = strstr(p, word)) != NULL; p += wl) {
        bool starts = p == i2_text || p[-1] == ' ';
        bool ends = p[wl] == '\0' || p[wl] == ' ';
        if (starts && ends)
            return true;
    }
    return false;
}

const char *mtsics_kind_name(enum mtsics_kind kind)
{
    switch (kind) {
    case MTSICS_DONE: return "done (A)";
    case MTSICS_MORE: return "more lines follow (B)";
    case MTSICS_STABLE: return "stable (S)";
    case MTSICS_DYNAMIC: return "dynamic (D)";
    case MTSICS_BUSY: return "not executable now: busy or not stable in time (I)";
    case MTSICS_LOGIC: return "logical error (L)";
    case MTSICS_OVERLOAD: return "overload (+)";
    case MTSICS_UNDERLOAD: return "underload (-)";
    case MTSICS_ERR_SYNTAX: return "syntax error: command not understood (ES)";
    case MTSICS_ERR_TRANSMISSION: return "transmission error (ET)";
    case MTSICS_ERR_LOGIC: return "logical error (EL)";
    }
    return "?";
}
