/* protocol.c — compiling and matching the configured line grammars (the fuzz target's subject). */
#include "serial_line/protocol.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static int fail(char *why, size_t size, const char *fmt, size_t column, const char *detail)
{
    if (size)
        snprintf(why, size, fmt, column, detail);
    return -1;
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static int add_literal(struct sl_pattern *p, char c, size_t col, char *why, size_t ws)
{
    struct sl_token *last = p->n_tokens ? &p->tokens[p->n_tokens - 1] : NULL;
    if (last && last->kind == SL_LITERAL) {
        size_t l = strlen(last->literal);
        if (l + 1 >= SL_LITERAL_MAX)
            return fail(why, ws, "column %zu: literal text too long%s", col, "");
        last->literal[l] = c;
        last->literal[l + 1] = '\0';
        return 0;
    }
    if (p->n_tokens >= SL_MAX_TOKENS)
        return fail(why, ws, "column %zu: pattern has too many parts%s", col, "");
    struct sl_token *t = &p->tokens[p->n_tokens++];
    memset(t, 0, sizeof *t);
    t->kind = SL_LITERAL;
    t->literal[0] = c;
    return 0;
}

int sl_pattern_compile(const char *text, struct sl_pattern *out, char *why, size_t ws)
{
    struct sl_pattern *p = calloc(1, sizeof *p);
    if (!p)
        return fail(why, ws, "column %zu: out of memory%s", 0, "");
    int rc = 0;
    size_t i = 0, n = strlen(text);
    while (rc == 0 && i < n) {
        char c = text[i];
        size_t col = i + 1;
        if (is_blank(c)) {
            while (i < n && is_blank(text[i]))
                i++;
            if (p->n_tokens >= SL_MAX_TOKENS) {
                rc = fail(why, ws, "column %zu: pattern has too many parts%s", col, "");
                break;
            }
            p->tokens[p->n_tokens++] = (struct sl_token){.kind = SL_BLANKS};
            continue;
        }
        if ((c == '{' && i + 1 < n && text[i + 1] == '{') || (c == '}' && i + 1 < n && text[i + 1] == '}')) {
            rc = add_literal(p, c, col, why, ws);
            i += 2;
            continue;
        }
        if (c == '}') {
            rc = fail(why, ws, "column %zu: lone '}' (write }} for a literal brace)%s", col, "");
            break;
        }
        if (c != '{') {
            if ((unsigned char)c < 0x20) {
                rc = fail(why, ws, "column %zu: control character in the pattern%s", col, "");
                break;
            }
            rc = add_literal(p, c, col, why, ws);
            i++;
            continue;
        }
        /* a field */
        const char *close = strchr(text + i, '}');
        if (!close) {
            rc = fail(why, ws, "column %zu: '{' without '}'%s", col, "");
            break;
        }
        char spec[SL_FIELD_NAME_MAX + 16];
        size_t sl = (size_t)(close - (text + i + 1));
        if (sl == 0 || sl >= sizeof spec) {
            rc = fail(why, ws, "column %zu: empty or overlong field%s", col, "");
            break;
        }
        memcpy(spec, text + i + 1, sl);
        spec[sl] = '\0';
        i += sl + 2;
        if (p->n_tokens >= SL_MAX_TOKENS) {
            rc = fail(why, ws, "column %zu: pattern has too many parts%s", col, "");
            break;
        }
        if (strcmp(spec, "*") == 0) {
            p->tokens[p->n_tokens++] = (struct sl_token){.kind = SL_SKIP};
            continue;
        }
        char *colon = strchr(spec, ':');
        bool word = false;
        if (colon) {
            if (strcmp(colon + 1, "word") != 0) {
                rc = fail(why, ws, "column %zu: unknown field type '%s' (number is the default; word)", col,
                          colon + 1);
                break;
            }
            *colon = '\0';
            word = true;
        }
        size_t nl = strlen(spec);
        bool name_ok = nl > 0 && nl < SL_FIELD_NAME_MAX;
        for (size_t k = 0; k < nl; k++)
            name_ok = name_ok && is_name_char(spec[k]);
        if (!name_ok) {
            rc = fail(why, ws, "column %zu: field name '%s' must be letters, digits, _", col, spec);
            break;
        }
        if (sl_pattern_field(p, spec) >= 0) {
            rc = fail(why, ws, "column %zu: field '%s' appears twice", col, spec);
            break;
        }
        if (p->n_fields >= SL_MAX_FIELDS) {
            rc = fail(why, ws, "column %zu: more than 16 fields%s", col, "");
            break;
        }
        size_t f = p->n_fields++;
        memcpy(p->field_names[f], spec, nl + 1);
        p->field_is_word[f] = word;
        /* two captures in a row cannot be told apart */
        if (p->n_tokens && (p->tokens[p->n_tokens - 1].kind == SL_NUMBER || p->tokens[p->n_tokens - 1].kind == SL_WORD ||
                            p->tokens[p->n_tokens - 1].kind == SL_SKIP)) {
            rc = fail(why, ws, "column %zu: field '%s' follows another field without a separator", col, spec);
            break;
        }
        p->tokens[p->n_tokens++] = (struct sl_token){.kind = word ? SL_WORD : SL_NUMBER, .field = (int)f};
    }
    if (rc == 0 && p->n_tokens == 0)
        rc = fail(why, ws, "column %zu: empty pattern%s", 1, "");
    if (rc == 0)
        *out = *p;
    free(p);
    return rc;
}

int sl_pattern_field(const struct sl_pattern *p, const char *name)
{
    for (size_t i = 0; i < p->n_fields; i++)
        if (strcmp(p->field_names[i], name) == 0)
            return (int)i;
    return -1;
}

/* Length of the number at s (0 when none): [+-] digits [. digits] [e [+-] digits]. */
static size_t number_length(const char *s)
{
    size_t i = 0, digits = 0;
    if (s[i] == '+' || s[i] == '-')
        i++;
    while (s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (s[i] == '.') {
        i++;
        while (s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (digits == 0)
        return 0;
    if (s[i] == 'e' || s[i] == 'E') {
        size_t j = i + 1;
        if (s[j] == '+' || s[j] == '-')
            j++;
        size_t ed = 0;
        while (s[j] >= '0' && s[j] <= '9')
            j++, ed++;
        if (ed)
            i = j;
    }
    return i;
}

int sl_pattern_match(const struct sl_pattern *p, const char *line, struct sl_match *out, char *why, size_t ws)
{
    size_t n = strlen(line);
    while (n && (is_blank(line[n - 1]) || line[n - 1] == '\r'))
        n--;
    struct sl_match m;
    memset(&m, 0, sizeof m);
    size_t i = 0;
    for (size_t k = 0; k < p->n_tokens; k++) {
        const struct sl_token *t = &p->tokens[k];
        size_t col = i + 1;
        switch (t->kind) {
        case SL_LITERAL: {
            size_t l = strlen(t->literal);
            if (i + l > n || memcmp(line + i, t->literal, l) != 0)
                return fail(why, ws, "column %zu: expected '%s'", col, t->literal);
            i += l;
            break;
        }
        case SL_BLANKS:
            if (i >= n || !is_blank(line[i]))
                return fail(why, ws, "column %zu: expected a blank%s", col, "");
            while (i < n && is_blank(line[i]))
                i++;
            break;
        case SL_NUMBER: {
            char buf[64];
            size_t l = number_length(line + i);
            if (l > n - i)
                l = n - i;
            if (l == 0 || l >= sizeof buf)
                return fail(why, ws, "column %zu: expected a number for '%s'", col, p->field_names[t->field]);
            memcpy(buf, line + i, l);
            buf[l] = '\0';
            double v;
            if (!pd_parse_double(buf, &v) || !isfinite(v))
                return fail(why, ws, "column %zu: number out of range for '%s'", col, p->field_names[t->field]);
            m.numbers[t->field] = v;
            i += l;
            break;
        }
        case SL_WORD:
        case SL_SKIP: {
            /* up to a blank, or to the next literal's first character */
            char stop = k + 1 < p->n_tokens && p->tokens[k + 1].kind == SL_LITERAL ? p->tokens[k + 1].literal[0] : '\0';
            size_t s = i;
            while (i < n && !is_blank(line[i]) && line[i] != stop)
                i++;
            if (i == s)
                return fail(why, ws, "column %zu: expected a word%s", col, "");
            if (t->kind == SL_WORD) {
                if (i - s >= SL_WORD_MAX)
                    return fail(why, ws, "column %zu: word for '%s' too long", col, p->field_names[t->field]);
                memcpy(m.words[t->field], line + s, i - s);
                m.words[t->field][i - s] = '\0';
            }
            break;
        }
        }
    }
    if (i != n)
        return fail(why, ws, "column %zu: unexpected text at the end%s", i + 1, "");
    *out = m;
    return 0;
}

int sl_format_request(const char *tmpl, double value, char *out, size_t size)
{
    const char *at = strstr(tmpl, "{value}");
    int n;
    if (!at)
        n = snprintf(out, size, "%s", tmpl);
    else
        n = snprintf(out, size, "%.*s%.10g%s", (int)(at - tmpl), tmpl, value, at + 7);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}
