/* data.c — the data rows of an export: one pass over the text, numbers parsed where they stand
 * into one array per used column (no allocation per row or field), with the checks a curve must
 * pass (field count, numbers in the expected notation, finite values, time not going back). The
 * first fault ends the import with its file:line:column. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "import/import_internal.h"

/* End of the field starting at p (for messages): to the separator or the line's end. */
static const char *field_end(const char *p, const char *end, char sep)
{
    bool quoted = p < end && *p == '"';
    const char *q = quoted ? p + 1 : p;
    while (q < end && *q != '\n' && *q != '\r' && (quoted ? *q != '"' : *q != sep))
        q++;
    if (quoted && q < end && *q == '"')
        q++;
    return q;
}

static bool is_non_finite(const char *s, size_t n)
{
    char t[16];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < sizeof t; i++)
        if (s[i] != '"' && s[i] != '+' && s[i] != '-' && s[i] != ' ')
            t[k++] = (char)tolower((unsigned char)s[i]);
    t[k] = '\0';
    return k > 0 && (strcmp(t, "nan") == 0 || strcmp(t, "inf") == 0 || strcmp(t, "infinity") == 0 ||
                     strcmp(t, "1.#inf") == 0 || strcmp(t, "1.#qnan") == 0 || strcmp(t, "#nv") == 0 ||
                     strcmp(t, "#n/a") == 0);
}

/* Says what is wrong with the field at p (it did not parse as a number of the file's notation). */
static int field_error(const struct imp_source *src, long line, const char *line_start, const char *p, size_t col,
                       struct pd_err *err)
{
    const char *end = src->buf + src->len;
    const char *fe = field_end(p, end, src->d.sep);
    char where[400];
    snprintf(where, sizeof where, "%s:%ld:%ld", src->path, line, (long)(p - line_start) + 1);
    const char *what = col < src->n_cols ? src->cols[col].source : "?";
    char text[48];
    size_t n = (size_t)(fe - p) < sizeof text - 1 ? (size_t)(fe - p) : sizeof text - 1;
    for (size_t i = 0; i < n; i++)
        text[i] = (unsigned char)p[i] < 0x20 || (unsigned char)p[i] >= 0x7f ? '?' : p[i];
    text[n] = '\0';
    for (const char *q = p; q < fe || (q == p && q < end); q++) {
        unsigned char c = (unsigned char)*q;
        if (c == 0 || (c < 0x20 && c != '\t' && c != '\r' && c != '\n'))
            return pd_err_set(err, PD_EDATA, where, "binary data (byte 0x%02x) in column %zu (%s): not a text export", c, col + 1, what);
    }
    if (fe == p)
        return pd_err_set(err, PD_EDATA, where, "empty field in column %zu (%s)", col + 1, what);
    if (is_non_finite(p, (size_t)(fe - p)))
        return pd_err_set(err, PD_EDATA, where, "'%s' in column %zu (%s) is not a finite number", text,
                          col + 1, what);
    const char *s = p, *e = fe;
    if (*s == '"' && e - s >= 2 && e[-1] == '"') {
        s++;
        e--;
    }
    double v;
    char other = src->d.decimal == '.' ? ',' : '.';
    if (memchr(s, other, (size_t)(e - s)) && other != src->d.thousands && pd_import_number(s, e, other, 0, &v) == 0)
        return pd_err_set(err, PD_EDATA, where, "'%s' in column %zu (%s) has a decimal %s where the file's decimal "
                          "separator is '%c'", text, col + 1, what, other == ',' ? "comma" : "point", src->d.decimal);
    if (pd_import_number(s, e, src->d.decimal, src->d.thousands, &v) == 0)
        return pd_err_set(err, PD_EDATA, where, "'%s' in column %zu (%s) is out of range", text, col + 1,
                          what);
    return pd_err_set(err, PD_EDATA, where, "'%s' in column %zu (%s) is not a number", text, col + 1, what);
}

static int count_error(const struct imp_source *src, long line, const char *line_start, struct pd_err *err)
{
    const char *end = src->buf + src->len;
    const char *le = imp_line_end(line_start, end);
    size_t fields = 1;
    bool quoted = false;
    for (const char *q = line_start; q < le; q++) {
        if (*q == '"')
            quoted = !quoted;
        else if (*q == src->d.sep && !quoted)
            fields++;
    }
    char where[400];
    snprintf(where, sizeof where, "%s:%ld", src->path, line);
    const char *hint = "";
    if (fields > src->n_cols && src->d.sep == ',' && src->d.decimal == '.')
        hint = " (decimal commas in a comma-separated file?)";
    return pd_err_set(err, PD_EDATA, where, "%zu fields where the header has %zu columns%s", fields,
                      src->n_cols, hint);
}

static int grow(struct imp_source *src, size_t *cap, struct pd_err *err)
{
    size_t ncap = *cap * 2;
    for (size_t c = 0; c < src->n_cols; c++) {
        if (!src->raw[c])
            continue;
        double *p = realloc(src->raw[c], ncap * sizeof *p);
        if (!p)
            return pd_err_set(err, PD_ENOMEM, src->path, "out of memory for %zu rows", ncap);
        src->raw[c] = p;
    }
    *cap = ncap;
    return 0;
}

/* Only blank lines (and spaces) from p to the end? */
static bool rest_blank(const char *p, const char *end)
{
    for (; p < end; p++)
        if (*p != '\n' && *p != '\r' && *p != ' ' && *p != '\t')
            return false;
    return true;
}

int imp_parse_rows(struct imp_source *src, struct pd_err *err)
{
    const char *const buf_end = src->buf + src->len;
    const char *p = src->buf + src->data_off;
    const char sep = src->d.sep, dec = src->d.decimal, thou = src->d.thousands;
    const size_t ncols = src->n_cols;
    size_t time_col = SIZE_MAX;
    for (size_t c = 0; c < ncols; c++) {
        if (src->cols[c].q == IMP_TIME)
            time_col = c;
    }
    /* room for the rows the file's size suggests, from the first row's length */
    const char *first_end = imp_next_line(p, buf_end);
    size_t first_len = (size_t)(first_end - p) > 4 ? (size_t)(first_end - p) : 4;
    size_t cap = (size_t)(buf_end - p) / first_len + (size_t)(buf_end - p) / first_len / 8 + 16;
    for (size_t c = 0; c < ncols; c++) {
        if (src->cols[c].q == IMP_IGNORE)
            continue;
        src->raw[c] = malloc(cap * sizeof(double));
        if (!src->raw[c])
            return pd_err_set(err, PD_ENOMEM, src->path, "out of memory for %zu rows", cap);
    }
    size_t n = 0;
    long line = src->data_line;
    double prev_t = -INFINITY;
    while (p < buf_end) {
        const char *ls = p;
        if (*p == '\n' || (*p == '\r' && p + 1 < buf_end && p[1] == '\n')) {
            if (rest_blank(p, buf_end))
                break;
            char where[400];
            snprintf(where, sizeof where, "%s:%ld", src->path, line);
            return pd_err_set(err, PD_EDATA, where, "empty line inside the data");
        }
        if (n == cap && grow(src, &cap, err) < 0)
            return PD_ENOMEM;
        for (size_t c = 0; c < ncols; c++) {
            while (*p == ' ' || *p == '\t')
                p++;
            const char *fs = p;
            if (src->cols[c].q == IMP_IGNORE) {
                p = field_end(p, buf_end, sep);
            } else {
                bool quoted = *p == '"';
                double v;
                const char *q = imp_number_prefix(p + quoted, buf_end, dec, quoted ? thou : 0, &v);
                if (!q || (quoted && *q != '"'))
                    return field_error(src, line, ls, fs, c, err);
                p = q + quoted;
                if (c == time_col) {
                    if (v < prev_t) {
                        char where[400];
                        snprintf(where, sizeof where, "%s:%ld:%ld", src->path, line, (long)(fs - ls) + 1);
                        return pd_err_set(err, PD_EDATA, where,
                                          "time %.10g is before the previous row's %.10g: time must not go back", v, prev_t);
                    }
                    prev_t = v;
                }
                src->raw[c][n] = v;
            }
            while (*p == ' ' || *p == '\t')
                p++;
            if (c + 1 < ncols) {
                if (*p == sep) {
                    p++;
                    continue;
                }
                if (p == buf_end || *p == '\n' || *p == '\r')
                    return count_error(src, line, ls, err);
                return field_error(src, line, ls, fs, c, err);
            }
            if (*p == '\n') {
                p++;
            } else if (*p == '\r' && p + 1 < buf_end && p[1] == '\n') {
                p += 2;
            } else if (p == buf_end) {
                /* last line without a newline */
            } else if (*p == sep) {
                return count_error(src, line, ls, err);
            } else {
                return field_error(src, line, ls, fs, c, err);
            }
        }
        n++;
        line++;
    }
    if (n == 0) {
        char where[400];
        snprintf(where, sizeof where, "%s:%ld", src->path, src->data_line);
        return pd_err_set(err, PD_EDATA, where, "no data rows after the header");
    }
    /* Times become int64 ns from the test date: ±10^9 s (31 years) is far inside that and far
     * beyond any test. The time never goes back, so the first and last row bound all others. */
    if (time_col != SIZE_MAX) {
        const double scale = src->cols[time_col].scale;
        for (int end = 0; end < 2; end++) {
            size_t i = end ? n - 1 : 0;
            double s = src->raw[time_col][i] * scale;
            if (!(fabs(s) <= 1e9)) {
                char where[400];
                snprintf(where, sizeof where, "%s:%ld", src->path, src->data_line + (long)i);
                return pd_err_set(err, PD_EDATA, where, "time %.10g s in %s is out of range (at most 1e9 s)", s,
                                  src->cols[time_col].source);
            }
        }
    }
    src->n = n;
    return 0;
}
