/* import_internal.h — private to src/import: one parsed export (a specimen's curve with what its
 * header said), the column map, and the steps import.c strings together. */
#ifndef PD_IMPORT_INTERNAL_H
#define PD_IMPORT_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "config/config.h"
#include "import/import.h"

#define IMP_MAX_COLUMNS 64
#define IMP_MAX_EXTRAS 12 /* channels beyond force/extension/crosshead (PD_STORE_MAX_CHANNELS = 16) */

enum imp_quantity { IMP_IGNORE, IMP_TIME, IMP_FORCE, IMP_EXTENSION, IMP_CROSSHEAD, IMP_EXTRA };

/* How one column of the file becomes (part of) a channel. */
struct imp_column {
    enum imp_quantity q;
    double scale;       /* to s / N / mm; for a strain column to a fraction (then × L0) */
    bool strain;        /* the column is strain: extension = value × scale × gauge length */
    bool relative;      /* an absolute position: the first sample's value is the zero */
    char name[32];      /* the channel's name (IMP_EXTRA: from the column's name) */
    char unit[16];      /* the channel's unit as stored */
    char source[96];    /* the column as the file names it, with its unit */
};

/* Field separator, decimal separator, thousands separator (0 = none) of the data rows. */
struct imp_dialect {
    char sep, decimal, thousands;
};

/* Where a value came from, for the record. */
enum imp_origin { IMP_FROM_NONE, IMP_FROM_HEADER, IMP_FROM_CLI, IMP_FROM_MAP };

/* One export file = one specimen. */
struct imp_source {
    const char *path;
    const char *name;     /* basename of path */
    char *buf;            /* the whole file, NUL-terminated (owned: mapped or malloc'd) */
    size_t len;
    bool mapped;
    char sha256[65];      /* valid after imp_hash_wait */
    bool hashing;
    pthread_t hash_thread;
    struct imp_dialect d;
    size_t data_off;      /* first data row */
    long data_line;       /* its 1-based line number */
    size_t n_cols;
    struct imp_column cols[IMP_MAX_COLUMNS];
    /* what the header said (NAN / "" when it did not) */
    double width, thickness, gauge_length, grip_distance;
    enum imp_origin width_from, thickness_from, gauge_from, grip_from;
    char specimen_id[64];
    char operator_name[128];
    char date_text[64];    /* as written */
    bool have_date;
    int64_t date_ns;       /* the test's date/time taken as UTC */
    char load_cell[128], extensometer[128], machine[128];
    char speed_v1[48], speed_v2[48]; /* "1 mm/min" */
    char *header_text;     /* the header lines in UTF-8 (owned) */
    /* the curve: sample k of every used column */
    size_t n;
    double *raw[IMP_MAX_COLUMNS]; /* per column (NULL for ignored ones), owned */
};

/* The column map / identity file (--map). */
struct imp_map {
    struct pd_cfg_doc *doc;        /* NULL when no map was given */
    bool has_format;               /* csv: format + columns sections */
    struct imp_dialect d;
    long skip_lines;
    bool latin1;
    size_t n_cols;
    struct imp_column cols[IMP_MAX_COLUMNS];
    /* specimen */
    char specimen_id[64], specimen_type[32], material[128];
    double width, thickness, gauge_length, grip_distance;
    /* instrument */
    char instrument[32], manufacturer[64], model[64], serial[64], software[64];
    char cal_date[16], cal_due[16], cal_certificate[64];
    /* run */
    char operator_name[128], lab_name[128], date[40], method[32];
};

/* number.c: parses the longest number at s (see pd_import_number); returns where it stopped, NULL
 * when there is no number there (or it overflows). */
const char *imp_number_prefix(const char *s, const char *end, char decimal, char thousands, double *out);

/* text.c: reads (maps) the file and starts hashing it; imp_hash_wait before using src->sha256. */
int imp_read_file(const char *path, struct imp_source *src, struct pd_err *err);
void imp_hash_start(struct imp_source *src);
void imp_hash_wait(struct imp_source *src);
void imp_source_free(struct imp_source *src);
/* Control bytes (NUL, ESC...) near the start: a binary file, refused with the place. */
int imp_check_text(const struct imp_source *src, struct pd_err *err);
/* Latin-1 (or anything not valid UTF-8) → UTF-8; malloc'd. */
char *imp_to_utf8(const char *s, size_t len, bool latin1);
bool imp_valid_utf8(const char *s, size_t len);
/* Splits one record [s, end) by sep honouring "quotes" ("" inside = one quote). Writes up to max
 * fields as NUL-terminated strings into `store` (size bytes), unquoted and trimmed; returns the
 * number of fields, or -1 when the record does not fit. */
int imp_split(const char *s, const char *end, char sep, char **fields, int max, char *store, size_t size);
/* End of the line starting at p (the '\n' or the '\r' before it, or end). */
const char *imp_line_end(const char *p, const char *end);
const char *imp_next_line(const char *p, const char *end);
/* Unit factors: returns false when the unit is not one of those known for the quantity. */
bool imp_unit_time(const char *unit, double *scale);
bool imp_unit_force(const char *unit, double *scale);
bool imp_unit_length(const char *unit, double *scale);
bool imp_unit_strain(const char *unit, double *scale);
/* "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS]Z?", "DD.MM.YYYY [HH:MM[:SS]]" → ns UTC. */
bool imp_parse_date(const char *s, int64_t *ns);
/* Sets the column's quantity and scale from a unit; PD_EDATA with `where` on an unknown unit. */
int imp_column_unit(struct imp_column *col, enum imp_quantity q, const char *unit, const char *where,
                    struct pd_err *err);

/* vendor.c: the header, columns and dialect of a testXpert / Bluehill export. */
int imp_vendor_header(enum pd_import_format format, const char *extension_column, struct imp_source *src,
                      struct pd_err *err);

/* map.c */
int imp_map_load(const char *path, enum pd_import_format format, struct imp_map *map, struct pd_err *err);
void imp_map_free(struct imp_map *map);
/* csv: dialect and columns from the map, header = the skipped lines. */
int imp_csv_header(const struct imp_map *map, struct imp_source *src, struct pd_err *err);

/* data.c: parses the rows into src->raw[] and checks them (count, numbers, time order). */
int imp_parse_rows(struct imp_source *src, struct pd_err *err);

/* write.c: the run file from parsed sources (dimensions resolved, data converted). */
struct imp_run {
    const struct pd_import_options *opt;
    const struct imp_map *map;
    struct imp_source *src;
    size_t n_src;
    char run_id[128];
    const char *software;   /* the exporting software */
    const char *strain_note; /* which strain the extension channel holds */
    int64_t t0_ns;
    bool have_date;
    char date_note[160];
};
int imp_write_run(const struct imp_run *run, const char *tmp_path, struct pd_err *err);

#endif /* PD_IMPORT_INTERNAL_H */
