/*
 * import.h — curves exported by the lab's existing testing machines (Zwick testXpert ASCII,
 * Instron Bluehill raw-data CSV, or any CSV described by a column map) turned into polydaq run
 * files: the same HDF5 schema as an acquired ISO 527 run (docs/HDF5-SCHEMA.md), written through
 * the store, marked as imported (source file name, SHA-256, exporting software, what the export's
 * header tells), so that `polydaq certify` evaluates them like acquired runs. Bad input is refused
 * with the place (file:line:column) and nothing is left behind. This header is the module's whole
 * contract.
 */
#ifndef PD_IMPORT_H
#define PD_IMPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"

enum pd_import_format {
    PD_IMPORT_TESTXPERT, /* Zwick testXpert ASCII export (.TRA): latin-1, "name",value,"unit" header */
    PD_IMPORT_BLUEHILL,  /* Instron Bluehill Specimen_RawData_N.csv: one file per specimen */
    PD_IMPORT_CSV,       /* any delimited text described by a column map (--map) */
};

/* "testxpert" / "bluehill" / "csv" → the format; -1 when unknown. */
int pd_import_format_parse(const char *name);
const char *pd_import_format_name(enum pd_import_format format);

/* Specimen dimensions given outside the export (command line); NAN = not given. */
struct pd_import_dims {
    double width_mm, thickness_mm, gauge_length_mm, grip_distance_mm;
};

struct pd_import_options {
    enum pd_import_format format;
    const char *map_path;        /* column map / instrument identity YAML; required for csv, else optional */
    struct pd_import_dims dims;  /* fill with NAN for "not given" (pd_import_options_init does) */
    const char *out_dir;         /* where RUN.h5 goes (created when missing) */
    const char *run_id;          /* NULL = derived from the first file's name */
    const char *test_date;       /* "YYYY-MM-DD[THH:MM:SS]" (UTC) when the export has no date; NULL */
    int deflate_level;           /* -1 none, 0..9 (default PD_STORE_DEFAULT_DEFLATE) */
    const char *extension_column; /* testxpert/bluehill: the column that becomes `extension`, by its
                                     name in the export; NULL = the format's default (testXpert
                                     "Standard travel", Bluehill "Tensile strain (Strain 1)") */
};
void pd_import_options_init(struct pd_import_options *opt);

struct pd_import_result {
    char path[4096];      /* the run file written */
    char run_id[128];
    size_t n_specimens;
    size_t n_samples;     /* over all specimens */
};

/* Imports files[0..n_files-1] as one run (one specimen per file for Bluehill and csv; a testXpert
 * export is one specimen). Everything is parsed and checked before the run file is complete; it is
 * written under a temporary name in out_dir and linked to its final name only at the end (an
 * existing file of that name is never replaced). On error nothing is left in out_dir and `res` is
 * untouched; err names the file, line and column. PD_EDATA bad export, PD_ECONFIG bad map or
 * options, PD_EIO unreadable file or write failure. */
int pd_import_run(const char *const *files, size_t n_files, const struct pd_import_options *opt,
                  struct pd_import_result *res, struct pd_err *err);

/* The number parser of the data rows, exposed for its test. Parses exactly [s, end):
 * [+-]digits[<decimal>digits][(e|E)[+-]digits] with `decimal` '.' or ',', and when `thousands`
 * is not 0 that separator between groups of three digits of the integer part ("1,004.8").
 * Correctly rounded (same double as strtod): an exact fast path for up to 19 significant digits
 * and a power of ten within 10^±22, strtod otherwise. Returns 0, or -1 for anything else (empty,
 * junk, nan/inf, a second decimal separator, a value that overflows). */
int pd_import_number(const char *s, const char *end, char decimal, char thousands, double *out);

#endif /* PD_IMPORT_H */
