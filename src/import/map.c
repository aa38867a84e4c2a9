/* map.c — the import map (--map MAP.yaml): how a plain CSV's columns become channels (quantity,
 * unit, separators, lines to skip) and, for every format, what the export does not say: specimen
 * dimensions, the source instrument's identity and calibration, operator and date. Read with
 * src/config, so every mistake is reported as file:line:column. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/import_internal.h"

struct top {
    const struct pd_cfg_node *format, *columns, *specimen, *instrument, *run;
};
static const struct pd_cfg_field top_fields[] = {
    {.key = "format", .type = PD_CFG_T_MAP, .offset = offsetof(struct top, format),
     .help = "the file's layout: separator, decimal, skip_lines, encoding (csv only)"},
    {.key = "columns", .type = PD_CFG_T_SEQ, .offset = offsetof(struct top, columns),
     .help = "one entry per column in file order: {quantity, unit} (csv only)"},
    {.key = "specimen", .type = PD_CFG_T_MAP, .offset = offsetof(struct top, specimen),
     .help = "id, width, thickness, gauge_length, grip_distance (mm), type, material"},
    {.key = "instrument", .type = PD_CFG_T_MAP, .offset = offsetof(struct top, instrument),
     .help = "the machine that made the export: name, manufacturer, model, serial_number, software, calibration"},
    {.key = "run", .type = PD_CFG_T_MAP, .offset = offsetof(struct top, run),
     .help = "operator, date, lab_name, method"},
    {.key = NULL},
};

struct format_sec {
    char separator[8], decimal[4], thousands[4];
    long skip_lines;
    int encoding;
};
static const char *const encodings[] = {"utf-8", "latin-1", NULL};
static const struct pd_cfg_field format_fields[] = {
    {.key = "separator", .type = PD_CFG_T_STRING, .offset = offsetof(struct format_sec, separator),
     .size = sizeof(((struct format_sec *)0)->separator), .def = ",", .help = "field separator: ',', ';' or tab"},
    {.key = "decimal", .type = PD_CFG_T_STRING, .offset = offsetof(struct format_sec, decimal),
     .size = sizeof(((struct format_sec *)0)->decimal), .def = ".", .help = "decimal separator: '.' or ','"},
    {.key = "thousands", .type = PD_CFG_T_STRING, .offset = offsetof(struct format_sec, thousands),
     .size = sizeof(((struct format_sec *)0)->thousands), .def = "",
     .help = "thousands separator inside quoted numbers ('', ',', '.', ' ')"},
    {.key = "skip_lines", .type = PD_CFG_T_INT, .offset = offsetof(struct format_sec, skip_lines), .min = 0,
     .max = 10000, .def = "0", .help = "header lines before the first data row (column names included)"},
    {.key = "encoding", .type = PD_CFG_T_ENUM, .offset = offsetof(struct format_sec, encoding), .choices = encodings,
     .def = "utf-8", .help = "utf-8 or latin-1 (of the header lines)"},
    {.key = NULL},
};

struct column_sec {
    int quantity;
    char unit[16];
};
static const char *const quantities[] = {"ignore", "time", "force", "extension", "crosshead", NULL};
static const struct pd_cfg_field column_fields[] = {
    {.key = "quantity", .type = PD_CFG_T_ENUM, .offset = offsetof(struct column_sec, quantity), .choices = quantities,
     .required = true, .help = "time, force, extension, crosshead or ignore"},
    {.key = "unit", .type = PD_CFG_T_STRING, .offset = offsetof(struct column_sec, unit),
     .size = sizeof(((struct column_sec *)0)->unit), .def = "",
     .help = "s, ms, min, h | N, kN, mN | mm, µm, cm, m, in | % or mm/mm (strain, extension only)"},
    {.key = NULL},
};

#define S(st, k) .offset = offsetof(st, k), .size = sizeof(((st *)0)->k)
static const struct pd_cfg_field specimen_fields[] = {
    {.key = "id", .type = PD_CFG_T_STRING, S(struct imp_map, specimen_id), .help = "specimen id"},
    {.key = "type", .type = PD_CFG_T_STRING, S(struct imp_map, specimen_type), .help = "specimen type, e.g. 1A"},
    {.key = "material", .type = PD_CFG_T_STRING, S(struct imp_map, material), .help = "material"},
    {.key = "width", .type = PD_CFG_T_DOUBLE, .offset = offsetof(struct imp_map, width), .min = 0.001, .max = 10000,
     .help = "width b in mm"},
    {.key = "thickness", .type = PD_CFG_T_DOUBLE, .offset = offsetof(struct imp_map, thickness), .min = 0.001,
     .max = 10000, .help = "thickness h in mm"},
    {.key = "gauge_length", .type = PD_CFG_T_DOUBLE, .offset = offsetof(struct imp_map, gauge_length), .min = 0.001,
     .max = 10000, .help = "extensometer gauge length L0 in mm"},
    {.key = "grip_distance", .type = PD_CFG_T_DOUBLE, .offset = offsetof(struct imp_map, grip_distance), .min = 0.001,
     .max = 10000, .help = "initial grip distance L in mm"},
    {.key = NULL},
};

struct cal_sec {
    char date[16], due[16], certificate[64];
};
static const struct pd_cfg_field cal_fields[] = {
    {.key = "date", .type = PD_CFG_T_STRING, S(struct cal_sec, date), .required = true,
     .help = "calibration date YYYY-MM-DD"},
    {.key = "due", .type = PD_CFG_T_STRING, S(struct cal_sec, due), .required = true,
     .help = "next calibration due YYYY-MM-DD"},
    {.key = "certificate", .type = PD_CFG_T_STRING, S(struct cal_sec, certificate), .def = "",
     .help = "calibration certificate id"},
    {.key = NULL},
};
static const struct pd_cfg_field instrument_fields[] = {
    {.key = "name", .type = PD_CFG_T_STRING, S(struct imp_map, instrument), .help = "instrument group name"},
    {.key = "manufacturer", .type = PD_CFG_T_STRING, S(struct imp_map, manufacturer), .help = "manufacturer"},
    {.key = "model", .type = PD_CFG_T_STRING, S(struct imp_map, model), .help = "model"},
    {.key = "serial_number", .type = PD_CFG_T_STRING, S(struct imp_map, serial), .help = "serial number"},
    {.key = "software", .type = PD_CFG_T_STRING, S(struct imp_map, software), .help = "the exporting software"},
    {.key = "calibration", .type = PD_CFG_T_MAP, .offset = 0, .help = "calibration: date, due, certificate"},
    {.key = NULL},
};
static const struct pd_cfg_field run_fields[] = {
    {.key = "operator", .type = PD_CFG_T_STRING, S(struct imp_map, operator_name), .help = "operator"},
    {.key = "lab_name", .type = PD_CFG_T_STRING, S(struct imp_map, lab_name), .help = "laboratory"},
    {.key = "date", .type = PD_CFG_T_STRING, S(struct imp_map, date),
     .help = "test date YYYY-MM-DD[THH:MM:SS] (UTC) when the export has none"},
    {.key = "method", .type = PD_CFG_T_STRING, S(struct imp_map, method), .help = "test method id (iso527)"},
    {.key = NULL},
};

static bool is_date(const char *s)
{
    int64_t ns;
    return strlen(s) == 10 && imp_parse_date(s, &ns);
}

static int decode_instrument(const struct pd_cfg_node *node, struct imp_map *map, struct pd_err *err)
{
    /* the calibration sub-map is decoded on its own (its struct is not the map's) */
    static const char *const extra[] = {"calibration", NULL};
    struct pd_cfg_field fields[sizeof instrument_fields / sizeof instrument_fields[0]];
    size_t k = 0;
    for (size_t i = 0; instrument_fields[i].key; i++)
        if (strcmp(instrument_fields[i].key, "calibration") != 0)
            fields[k++] = instrument_fields[i];
    fields[k] = (struct pd_cfg_field){.key = NULL};
    int rc = pd_cfg_decode(node, fields, extra, map, err);
    if (rc < 0)
        return rc;
    const struct pd_cfg_node *cal = pd_cfg_map_get(node, "calibration");
    if (!cal)
        return 0;
    if (pd_cfg_kind(cal) != PD_CFG_MAP)
        return pd_cfg_error(err, cal, "expected a map: calibration: {date: YYYY-MM-DD, due: YYYY-MM-DD, certificate: ID}");
    struct cal_sec c;
    memset(&c, 0, sizeof c);
    if ((rc = pd_cfg_decode(cal, cal_fields, NULL, &c, err)) < 0)
        return rc;
    if (!is_date(c.date))
        return pd_cfg_error(err, pd_cfg_map_get(cal, "date"), "expected a date YYYY-MM-DD");
    if (!is_date(c.due))
        return pd_cfg_error(err, pd_cfg_map_get(cal, "due"), "expected a date YYYY-MM-DD");
    memcpy(map->cal_date, c.date, sizeof map->cal_date);
    memcpy(map->cal_due, c.due, sizeof map->cal_due);
    pd_strlcpy(map->cal_certificate, c.certificate, sizeof map->cal_certificate);
    return 0;
}

static int decode_format(const struct pd_cfg_node *node, struct imp_map *map, struct pd_err *err)
{
    struct format_sec f;
    memset(&f, 0, sizeof f);
    int rc = pd_cfg_decode(node, format_fields, NULL, &f, err);
    if (rc < 0)
        return rc;
    const char *sep = f.separator;
    if (strcmp(sep, "tab") == 0 || strcmp(sep, "\t") == 0)
        map->d.sep = '\t';
    else if (strcmp(sep, ",") == 0 || strcmp(sep, ";") == 0 || strcmp(sep, " ") == 0 || strcmp(sep, "|") == 0)
        map->d.sep = sep[0];
    else
        return pd_cfg_error(err, pd_cfg_map_get(node, "separator"), "expected ',', ';', 'tab', ' ' or '|'");
    if (strcmp(f.decimal, ".") != 0 && strcmp(f.decimal, ",") != 0)
        return pd_cfg_error(err, pd_cfg_map_get(node, "decimal"), "expected '.' or ','");
    map->d.decimal = f.decimal[0];
    if (map->d.decimal == map->d.sep)
        return pd_cfg_error(err, pd_cfg_map_get(node, "decimal"),
                            "the decimal separator cannot be the field separator (quote such fields? then say "
                            "separator: ';')");
    if (f.thousands[0] && (strlen(f.thousands) != 1 || f.thousands[0] == map->d.decimal || !strchr(",. '", f.thousands[0])))
        return pd_cfg_error(err, pd_cfg_map_get(node, "thousands"), "expected '', ',', '.', ' ' or \"'\", not the decimal "
                            "separator");
    map->d.thousands = f.thousands[0];
    map->skip_lines = f.skip_lines;
    map->latin1 = f.encoding == 1;
    return 0;
}

static int decode_columns(const struct pd_cfg_node *seq, struct imp_map *map, struct pd_err *err)
{
    size_t n = pd_cfg_seq_len(seq);
    if (n == 0 || n > IMP_MAX_COLUMNS)
        return pd_cfg_error(err, seq, "expected 1..%d columns, one entry per column of the file", IMP_MAX_COLUMNS);
    bool have[IMP_EXTRA + 1] = {false};
    for (size_t i = 0; i < n; i++) {
        const struct pd_cfg_node *e = pd_cfg_seq_at(seq, i);
        struct column_sec c;
        memset(&c, 0, sizeof c);
        int rc = pd_cfg_decode(e, column_fields, NULL, &c, err);
        if (rc < 0)
            return rc;
        struct imp_column *col = &map->cols[i];
        memset(col, 0, sizeof *col);
        snprintf(col->source, sizeof col->source, "column %zu (%s)", i + 1, quantities[c.quantity]);
        enum imp_quantity q = (enum imp_quantity)c.quantity; /* the choices are in enum order */
        if (q == IMP_IGNORE) {
            col->q = IMP_IGNORE;
            continue;
        }
        if (have[q])
            return pd_cfg_error(err, pd_cfg_map_get(e, "quantity"), "a second %s column", quantities[c.quantity]);
        const struct pd_cfg_node *unode = pd_cfg_map_get(e, "unit");
        if (!unode)
            return pd_cfg_error(err, e, "%s needs a unit", quantities[c.quantity]);
        struct pd_err inner;
        pd_err_clear(&inner);
        if (imp_column_unit(col, q, c.unit, "", &inner) < 0) {
            const char *detail = strstr(inner.msg, ": unit") ? strstr(inner.msg, ": unit") + 2 : inner.msg;
            return pd_cfg_error(err, unode, "%s", detail);
        }
        have[q] = true;
    }
    if (!have[IMP_TIME] || !have[IMP_FORCE])
        return pd_cfg_error(err, seq, "the columns need a time and a force column");
    map->n_cols = n;
    return 0;
}

int imp_map_load(const char *path, enum pd_import_format format, struct imp_map *map, struct pd_err *err)
{
    memset(map, 0, sizeof *map);
    map->width = map->thickness = map->gauge_length = map->grip_distance = NAN;
    map->d = (struct imp_dialect){.sep = ',', .decimal = '.'};
    if (!path) {
        if (format == PD_IMPORT_CSV)
            return pd_err_set(err, PD_ECONFIG, NULL, "--format csv needs a column map: --map MAP.yaml");
        return 0;
    }
    int rc = pd_cfg_load_file(path, &map->doc, err);
    if (rc == PD_EIO && err)
        err->code = PD_ECONFIG; /* a missing or unreadable map is bad input like a bad one */
    if (rc < 0)
        return rc == PD_EIO ? PD_ECONFIG : rc;
    const struct pd_cfg_node *root = pd_cfg_root(map->doc);
    struct top t;
    memset(&t, 0, sizeof t);
    if ((rc = pd_cfg_decode(root, top_fields, NULL, &t, err)) < 0)
        goto fail;
    if (format == PD_IMPORT_CSV) {
        if (!t.columns) {
            rc = pd_cfg_error(err, root, "a csv map needs 'columns:' (one {quantity, unit} per column)");
            goto fail;
        }
        if (t.format && (rc = decode_format(t.format, map, err)) < 0)
            goto fail;
        if ((rc = decode_columns(t.columns, map, err)) < 0)
            goto fail;
        map->has_format = true;
    } else if (t.format || t.columns) {
        rc = pd_cfg_error(err, t.format ? t.format : t.columns,
                          "'format' and 'columns' describe a plain CSV (--format csv); a %s export describes itself",
                          pd_import_format_name(format));
        goto fail;
    }
    if (t.specimen && (rc = pd_cfg_decode(t.specimen, specimen_fields, NULL, map, err)) < 0)
        goto fail;
    if (t.instrument && (rc = decode_instrument(t.instrument, map, err)) < 0)
        goto fail;
    if (t.run && (rc = pd_cfg_decode(t.run, run_fields, NULL, map, err)) < 0)
        goto fail;
    int64_t ns;
    if (map->date[0] && !imp_parse_date(map->date, &ns)) {
        rc = pd_cfg_error(err, pd_cfg_map_get(t.run, "date"), "expected a date YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS");
        goto fail;
    }
    return 0;
fail:
    pd_cfg_free(map->doc);
    map->doc = NULL;
    return rc;
}

void imp_map_free(struct imp_map *map)
{
    pd_cfg_free(map->doc);
    map->doc = NULL;
}

int imp_csv_header(const struct imp_map *map, struct imp_source *src, struct pd_err *err)
{
    const char *const end = src->buf + src->len;
    src->d = map->d;
    src->n_cols = map->n_cols;
    memcpy(src->cols, map->cols, sizeof src->cols);
    const char *p = src->buf;
    long line = 1;
    for (; line <= map->skip_lines; line++) {
        if (p >= end) {
            char where[400];
            snprintf(where, sizeof where, "%s:%ld", src->path, line);
            return pd_err_set(err, PD_EDATA, where, "%s: the map skips %ld header lines but the file has %ld", src->len ? "too short" : "empty file", map->skip_lines, line - 1);
        }
        const char *le = imp_line_end(p, end);
        for (const char *q = p; q < le; q++) {
            unsigned char c = (unsigned char)*q;
            if (c == 0 || (c < 0x20 && c != '\t')) {
                char where[400];
                snprintf(where, sizeof where, "%s:%ld:%ld", src->path, line, (long)(q - p) + 1);
                return pd_err_set(err, PD_EDATA, where, "binary data (byte 0x%02x): not a text file", c);
            }
        }
        p = imp_next_line(p, end);
    }
    src->header_text = imp_to_utf8(src->buf, (size_t)(p - src->buf), map->latin1);
    if (!src->header_text)
        return pd_err_set(err, PD_ENOMEM, src->path, "out of memory");
    if (p >= end) {
        char where[400];
        snprintf(where, sizeof where, "%s:%ld", src->path, line);
        return pd_err_set(err, PD_EDATA, where, "%s: no data rows", src->len ? "no data" : "empty file");
    }
    src->data_off = (size_t)(p - src->buf);
    src->data_line = line;
    return 0;
}
