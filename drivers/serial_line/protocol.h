/* protocol.h — line grammars for simple ASCII instruments, described in config instead of code.
 *
 * A pattern is matched against a whole line (trailing blanks and CR ignored):
 *   - ordinary characters match themselves;
 *   - a blank matches one or more blanks (space or tab), so right-aligned numbers need no care;
 *   - {name} captures a number (sign, digits, decimal point, exponent; not inf/nan/hex);
 *   - {name:word} captures a run of non-blank characters (up to the next literal character);
 *   - {*} skips one word; {{ and }} are literal braces.
 * Example: "H{scale:word} {hardness} T {dwell} C {contact}" matches "HA  67.3 T 15.00 C 1".
 */
#ifndef PD_SERIAL_LINE_PROTOCOL_H
#define PD_SERIAL_LINE_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>

#define SL_MAX_FIELDS 16
#define SL_MAX_TOKENS 48
#define SL_FIELD_NAME_MAX 32
#define SL_WORD_MAX 64
#define SL_LITERAL_MAX 64

enum sl_token_kind { SL_LITERAL, SL_BLANKS, SL_NUMBER, SL_WORD, SL_SKIP };

struct sl_token {
    enum sl_token_kind kind;
    char literal[SL_LITERAL_MAX]; /* SL_LITERAL */
    int field;                    /* SL_NUMBER / SL_WORD: index into the pattern's fields */
};

struct sl_pattern {
    size_t n_tokens;
    struct sl_token tokens[SL_MAX_TOKENS];
    size_t n_fields;
    char field_names[SL_MAX_FIELDS][SL_FIELD_NAME_MAX];
    bool field_is_word[SL_MAX_FIELDS];
};

/* What a match captured, by field index. */
struct sl_match {
    double numbers[SL_MAX_FIELDS];
    char words[SL_MAX_FIELDS][SL_WORD_MAX];
};

/* Compiles `text`. Returns 0, or -1 with the reason and the column (1-based) in `why`. */
int sl_pattern_compile(const char *text, struct sl_pattern *out, char *why, size_t why_size);
/* Index of a field by name, -1 when absent. */
int sl_pattern_field(const struct sl_pattern *p, const char *name);
/* Matches a whole line. Returns 0, or -1 with where and why it failed in `why` (out untouched). */
int sl_pattern_match(const struct sl_pattern *p, const char *line, struct sl_match *out, char *why, size_t why_size);

/* Replaces "{value}" in `tmpl` by `value` (%.10g); -1 when it does not fit. */
int sl_format_request(const char *tmpl, double value, char *out, size_t size);

#endif
