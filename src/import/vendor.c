/* vendor.c — the self-describing exports: Zwick testXpert ASCII (.TRA) and Instron Bluehill
 * raw data (Specimen_RawData_N.csv). Both are a block of header lines (name, value, unit), a
 * line of column names, a line of units and the numbers; this file finds those parts, takes the
 * specimen dimensions and test facts from the header and decides what each column becomes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "import/import_internal.h"

#define MAX_FIELDS 64
#define HEADER_SEARCH_LINES 400

struct record {
    char *f[MAX_FIELDS];
    int n;
    char store[4096];
};

/* A line's fields (quotes removed), in UTF-8 for latin-1 exports. */
static int split_line(const char *s, const char *e, char sep, bool latin1, struct record *r)
{
    char tmp[2048];
    size_t len = (size_t)(e - s);
    if (len >= sizeof tmp / 2)
        len = sizeof tmp / 2 - 1;
    const char *text = s;
    char *conv = NULL;
    if (latin1) {
        conv = imp_to_utf8(s, len, true);
        if (!conv)
            return -1;
        text = conv;
        len = strlen(conv);
    }
    memcpy(tmp, text, len);
    free(conv);
    r->n = imp_split(tmp, tmp + len, sep, r->f, MAX_FIELDS, r->store, sizeof r->store);
    return r->n;
}

/* Does the line start like a data row: an (optionally quoted) number? */
static bool looks_numeric(const char *s, const char *e, struct imp_dialect d)
{
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    bool quoted = s < e && *s == '"';
    double v;
    const char *q = imp_number_prefix(s + quoted, e, d.decimal, quoted ? d.thousands : 0, &v);
    if (!q)
        return false;
    if (quoted && (q >= e || *q != '"'))
        return false;
    q += quoted;
    return q == e || *q == d.sep;
}

static void strip_parens(char *u)
{
    size_t n = strlen(u);
    if (n >= 2 && u[0] == '(' && u[n - 1] == ')') {
        memmove(u, u + 1, n - 2);
        u[n - 2] = '\0';
    }
}

static bool name_is(const char *name, const char *const *names)
{
    for (size_t i = 0; names[i]; i++)
        if (strcasecmp(name, names[i]) == 0)
            return true;
    return false;
}

/* A channel name from a column name: lower case, [a-z0-9_], at most 31 bytes. */
static void channel_name(const char *src, char *out, size_t size)
{
    size_t k = 0;
    bool under = false;
    for (const unsigned char *p = (const unsigned char *)src; *p && k + 1 < size; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')) {
            out[k++] = (char)*p;
            under = false;
        } else if (*p >= 'A' && *p <= 'Z') {
            out[k++] = (char)(*p - 'A' + 'a');
            under = false;
        } else if (!under && k > 0) {
            out[k++] = '_';
            under = true;
        }
    }
    while (k > 0 && out[k - 1] == '_')
        k--;
    out[k] = '\0';
    if (k == 0)
        snprintf(out, size, "column");
}

static const char *const testxpert_time[] = {"Time", "Test time", "Zeit", "Prüfzeit", NULL};
static const char *const testxpert_force[] = {"Standard force", "Force", "Standardkraft", "Kraft", NULL};
static const char *const testxpert_extension[] = {"Standard travel", "Standardweg", "Strain", "Dehnung",
                                                  "Extension", "Extensometer", NULL};
static const char *const testxpert_crosshead_abs[] = {"Crosshead absolute", "Traversenposition absolut",
                                                      "Traverse absolut", NULL};
static const char *const testxpert_crosshead[] = {"Crosshead travel", "Traversenweg", "Grip to grip separation",
                                                  NULL};
static const char *const bluehill_time[] = {"Time", NULL};
static const char *const bluehill_force[] = {"Load", "Force", NULL};
static const char *const bluehill_crosshead[] = {"Extension", NULL};
static const char *const bluehill_strain[] = {"Tensile strain (Strain 1)", "Tensile strain", "Strain 1", "Strain",
                                              NULL};

/* What the column becomes, from its name and unit; an unknown unit of a needed quantity is an error. */
static int classify(enum pd_import_format format, const char *ext_override, struct imp_source *src,
                    struct imp_column *col, const char *name, const char *unit, bool *have, const char *where,
                    struct pd_err *err)
{
    enum imp_quantity q = IMP_EXTRA;
    bool relative = false;
    if (ext_override && strcasecmp(name, ext_override) == 0) {
        q = IMP_EXTENSION; /* chosen by the user; the format's own extension column becomes an extra */
    } else if (format == PD_IMPORT_TESTXPERT) {
        if (name_is(name, testxpert_time))
            q = IMP_TIME;
        else if (name_is(name, testxpert_force))
            q = IMP_FORCE;
        else if (name_is(name, testxpert_extension))
            q = IMP_EXTENSION;
        else if (name_is(name, testxpert_crosshead_abs))
            q = IMP_CROSSHEAD, relative = true;
        else if (name_is(name, testxpert_crosshead))
            q = IMP_CROSSHEAD;
    } else {
        if (name_is(name, bluehill_time))
            q = IMP_TIME;
        else if (name_is(name, bluehill_force))
            q = IMP_FORCE;
        else if (name_is(name, bluehill_crosshead))
            q = IMP_CROSSHEAD;
        else if (name_is(name, bluehill_strain))
            q = IMP_EXTENSION;
    }
    if (ext_override && q == IMP_EXTENSION && strcasecmp(name, ext_override) != 0)
        q = IMP_EXTRA;
    if (q != IMP_EXTRA && have[q])
        q = IMP_EXTRA; /* a second column of the same quantity is kept as it is */
    snprintf(col->source, sizeof col->source, "'%s' [%s]", name, unit);
    if (q == IMP_EXTRA) {
        size_t extras = 0;
        for (size_t c = 0; c < src->n_cols; c++)
            extras += src->cols[c].q == IMP_EXTRA;
        if (extras >= IMP_MAX_EXTRAS) {
            col->q = IMP_IGNORE;
            return 0;
        }
        col->q = IMP_EXTRA;
        col->scale = 1.0;
        channel_name(name, col->name, sizeof col->name);
        /* force/extension/crosshead/time are the evaluation's names; an extra never takes one */
        if (strcmp(col->name, "force") == 0 || strcmp(col->name, "extension") == 0 ||
            strcmp(col->name, "crosshead") == 0 || strcmp(col->name, "time") == 0 ||
            strcmp(col->name, "quality") == 0 || strcmp(col->name, "sequence") == 0)
            snprintf(col->name, sizeof col->name, "source_%.20s", name);
        for (size_t c = 0; c < src->n_cols; c++)
            if (src->cols[c].q == IMP_EXTRA && strcmp(src->cols[c].name, col->name) == 0)
                snprintf(col->name + (strlen(col->name) > 26 ? 26 : strlen(col->name)), 6, "_%zu", src->n_cols + 1);
        pd_strlcpy(col->unit, unit[0] ? unit : "1", sizeof col->unit);
        return 0;
    }
    col->relative = relative;
    int rc = imp_column_unit(col, q, unit, where, err);
    if (rc == 0)
        have[q] = true;
    return rc;
}

/* A header value as a number; unit conversion for lengths. */
static int header_length(const struct imp_source *src, struct record *r, long line, double *out,
                         enum imp_origin *from, struct pd_err *err)
{
    char where[400];
    snprintf(where, sizeof where, "%s:%ld", src->path, line);
    if (r->n < 2 || !r->f[1][0])
        return 0; /* present but empty: as if absent */
    double v, f = 1.0;
    const char *s = r->f[1];
    if (pd_import_number(s, s + strlen(s), src->d.decimal, src->d.thousands, &v) < 0 || !(v > 0) || !isfinite(v))
        return pd_err_set(err, PD_EDATA, where, "%s '%s' is not a positive number", r->f[0], s);
    if (r->n >= 3 && r->f[2][0]) {
        strip_parens(r->f[2]);
        if (!imp_unit_length(r->f[2], &f))
            return pd_err_set(err, PD_EDATA, where, "%s: unit '%s' is not a length unit polydaq knows (mm, µm, cm, m, in)", r->f[0], r->f[2]);
    }
    *out = v * f;
    *from = IMP_FROM_HEADER;
    return 0;
}

/* testXpert writes "Date/Clock time" as a spreadsheet serial day (days since 1899-12-30). */
static void header_date(struct imp_source *src, const char *value)
{
    pd_strlcpy(src->date_text, value, sizeof src->date_text);
    double serial;
    int64_t ns;
    if (imp_parse_date(value, &ns)) {
        src->have_date = true;
        src->date_ns = ns;
    } else if (pd_import_number(value, value + strlen(value), src->d.decimal, 0, &serial) == 0 && serial > 25569.0 &&
               serial < 2958466.0) {
        src->have_date = true;
        src->date_ns = (int64_t)llround((serial - 25569.0) * 86400.0) * 1000000000LL;
        snprintf(src->date_text, sizeof src->date_text, "%s (spreadsheet serial day)", value);
    }
}

static int header_facts(enum pd_import_format format, struct imp_source *src, struct record *r, long line,
                        struct pd_err *err)
{
    static const char *const width[] = {"Specimen width", "Width", "Probenbreite", "Breite", NULL};
    static const char *const thickness[] = {"Specimen thickness", "Thickness", "Probendicke", "Dicke", NULL};
    static const char *const gauge_tx[] = {"Gage length, standard travel", "Gauge length, standard travel",
                                           "Gage length", "Gauge length", "Messlänge", "Messlänge Standardweg", NULL};
    static const char *const gauge_bh[] = {"Length", "Gauge length", "Gage length", NULL};
    static const char *const grip[] = {"Grip to grip separation", "Grip separation", "Grip distance",
                                       "Einspannlänge", "Grip to grip separation at the start position", NULL};
    static const char *const date[] = {"Date/Clock time", "Date", "Test date", "Datum/Uhrzeit", "Datum", NULL};
    static const char *const oper[] = {"Operator", "Tester", "Prüfer", NULL};
    static const char *const id[] = {"Specimen ID", "Specimen label", "Probenbezeichnung", NULL};
    if (r->n < 1 || !r->f[0][0])
        return 0;
    const char *key = r->f[0], *val = r->n >= 2 ? r->f[1] : "";
    if (name_is(key, width))
        return header_length(src, r, line, &src->width, &src->width_from, err);
    if (name_is(key, thickness))
        return header_length(src, r, line, &src->thickness, &src->thickness_from, err);
    if (name_is(key, format == PD_IMPORT_TESTXPERT ? gauge_tx : gauge_bh))
        return header_length(src, r, line, &src->gauge_length, &src->gauge_from, err);
    if (name_is(key, grip))
        return header_length(src, r, line, &src->grip_distance, &src->grip_from, err);
    if (name_is(key, date) && val[0])
        header_date(src, val);
    else if (name_is(key, oper))
        pd_strlcpy(src->operator_name, val, sizeof src->operator_name);
    else if (name_is(key, id))
        pd_strlcpy(src->specimen_id, val, sizeof src->specimen_id);
    else if (strcasecmp(key, "Load cell") == 0)
        pd_strlcpy(src->load_cell, val, sizeof src->load_cell);
    else if (strcasecmp(key, "Extensometer") == 0)
        pd_strlcpy(src->extensometer, val, sizeof src->extensometer);
    else if (strcasecmp(key, "Machine") == 0 || strcasecmp(key, "Testing machine") == 0)
        pd_strlcpy(src->machine, val, sizeof src->machine);
    else if (strcasecmp(key, "v1") == 0 && val[0])
        snprintf(src->speed_v1, sizeof src->speed_v1, "%.20s %.20s", val, r->n >= 3 ? r->f[2] : "");
    else if (strcasecmp(key, "v2") == 0 && val[0])
        snprintf(src->speed_v2, sizeof src->speed_v2, "%.20s %.20s", val, r->n >= 3 ? r->f[2] : "");
    return 0;
}

/* Control bytes in the header mean this is no text export. */
static int check_text(const struct imp_source *src, const char *s, const char *e, long line, struct pd_err *err)
{
    for (const char *p = s; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == 0 || (c < 0x20 && c != '\t' && c != '\r' && c != '\n')) {
            char where[400];
            snprintf(where, sizeof where, "%s:%ld:%ld", src->path, line, (long)(p - s) + 1);
            return pd_err_set(err, PD_EDATA, where, "binary data (byte 0x%02x): not a text export", c);
        }
    }
    return 0;
}

int imp_vendor_header(enum pd_import_format format, const char *extension_column, struct imp_source *src,
                      struct pd_err *err)
{
    const char *const end = src->buf + src->len;
    const bool latin1 = format == PD_IMPORT_TESTXPERT;
    const char *fmt = format == PD_IMPORT_TESTXPERT ? "testXpert" : "Bluehill";
    /* The first line tells the separator: ';' or a tab (a German-locale export, decimal comma
     * then) outside quotes, else ','. */
    const char *l1e = imp_line_end(src->buf, end);
    src->d = (struct imp_dialect){.sep = ',', .decimal = '.', .thousands = format == PD_IMPORT_BLUEHILL ? ',' : 0};
    bool q = false;
    for (const char *p = src->buf; p < l1e; p++) {
        if (*p == '"')
            q = !q;
        else if (!q && (*p == ';' || *p == '\t')) {
            src->d.sep = *p;
            src->d.decimal = ',';
            src->d.thousands = format == PD_IMPORT_BLUEHILL ? '.' : 0;
            break;
        }
    }
    /* Find the column-names line: the first line followed by a units line with as many fields
     * and a line that starts with a number. */
    const char *lines[HEADER_SEARCH_LINES + 3];
    size_t n_lines = 0;
    for (const char *p = src->buf; p < end && n_lines < HEADER_SEARCH_LINES + 3; p = imp_next_line(p, end))
        lines[n_lines++] = p;
    long names_at = -1;
    struct record *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return pd_err_set(err, PD_ENOMEM, src->path, "out of memory");
    }
    int rc = 0;
    for (size_t i = 0; i + 2 < n_lines && rc == 0; i++) {
        const char *e0 = imp_line_end(lines[i], end);
        if ((rc = check_text(src, lines[i], e0, (long)i + 1, err)) < 0)
            break;
        const char *e2 = imp_line_end(lines[i + 2], end);
        if (!looks_numeric(lines[i + 2], e2, src->d) || looks_numeric(lines[i], e0, src->d))
            continue;
        int n0 = split_line(lines[i], e0, src->d.sep, latin1, a);
        int n1 = split_line(lines[i + 1], imp_line_end(lines[i + 1], end), src->d.sep, latin1, b);
        if (n0 >= 2 && n0 == n1) {
            names_at = (long)i;
            break;
        }
    }
    if (rc == 0 && names_at < 0) {
        char where[400];
        snprintf(where, sizeof where, "%s:1", src->path);
        if (src->len == 0 || (size_t)(imp_line_end(src->buf, end) - src->buf) == src->len || n_lines < 3)
            rc = pd_err_set(err, PD_EDATA, where, "%s: too short for a %s export (a header, column names, units and "
                            "data rows)", src->len == 0 ? "empty file" : "no data", fmt);
        else
            rc = pd_err_set(err, PD_EDATA, where,
                            "not a %s export: no line of column names followed by a line of units and a row of "
                            "numbers in its first %d lines",
                            fmt, HEADER_SEARCH_LINES);
    }
    if (rc < 0) {
        free(a);
        free(b);
        return rc;
    }
    /* header lines: facts + text */
    size_t header_len = (size_t)(lines[names_at] - src->buf);
    src->header_text = imp_to_utf8(src->buf, header_len, latin1);
    if (!src->header_text)
        rc = pd_err_set(err, PD_ENOMEM, src->path, "out of memory");
    for (long i = 0; i < names_at && rc == 0; i++) {
        struct record *r = b;
        if (split_line(lines[i], imp_line_end(lines[i], end), src->d.sep, latin1, r) < 0)
            continue;
        rc = header_facts(format, src, r, i + 1, err);
    }
    /* columns */
    if (rc == 0) {
        split_line(lines[names_at], imp_line_end(lines[names_at], end), src->d.sep, latin1, a);
        split_line(lines[names_at + 1], imp_line_end(lines[names_at + 1], end), src->d.sep, latin1, b);
        bool have[IMP_EXTRA + 1] = {false};
        src->n_cols = 0;
        for (int c = 0; c < a->n && rc == 0; c++) {
            char where[400];
            snprintf(where, sizeof where, "%s:%ld:%d", src->path, names_at + 2, c + 1);
            strip_parens(b->f[c]);
            struct imp_column *col = &src->cols[src->n_cols];
            memset(col, 0, sizeof *col);
            rc = classify(format, extension_column, src, col, a->f[c], b->f[c], have, where, err);
            src->n_cols++;
        }
        if (rc == 0 && extension_column && !have[IMP_EXTENSION]) {
            char where[400];
            snprintf(where, sizeof where, "%s:%ld", src->path, names_at + 1);
            rc = pd_err_set(err, PD_EDATA, where, "no column named '%s' (--extension-column) in this export",
                            extension_column);
        }
        if (rc == 0 && (!have[IMP_TIME] || !have[IMP_FORCE])) {
            char where[400];
            snprintf(where, sizeof where, "%s:%ld", src->path, names_at + 1);
            rc = pd_err_set(err, PD_EDATA, where,
                            "no %s column among the %s export's columns (known names: %s); describe the file with "
                            "--format csv --map instead", have[IMP_TIME] ? "force" : "time", fmt,
                            format == PD_IMPORT_TESTXPERT ? (have[IMP_TIME] ? "Standard force, Force" : "Time, Test time")
                                                          : (have[IMP_TIME] ? "Load, Force" : "Time"));
        }
    }
    free(a);
    free(b);
    if (rc < 0)
        return rc;
    src->data_off = (size_t)(lines[names_at + 2] - src->buf);
    src->data_line = names_at + 3;
    return 0;
}
