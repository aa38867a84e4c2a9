/* import.c — pd_import_run: reads and checks every export of a series, settles each specimen's
 * dimensions (header, then command line, then map), the time origin and the strain the extension
 * channel holds, writes the run file under a temporary name and links it to its final name only
 * when everything succeeded. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "import/import_internal.h"
#include "store/store.h"

static const char *const format_names[] = {"testxpert", "bluehill", "csv"};

int pd_import_format_parse(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (name && strcmp(name, format_names[i]) == 0)
            return i;
    return -1;
}

const char *pd_import_format_name(enum pd_import_format format)
{
    return (unsigned)format < 3 ? format_names[format] : "?";
}

void pd_import_options_init(struct pd_import_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->format = PD_IMPORT_CSV;
    opt->dims = (struct pd_import_dims){NAN, NAN, NAN, NAN};
    opt->deflate_level = PD_STORE_DEFAULT_DEFLATE;
}

/* "Invar_LT_05_01.TRA" → "Invar_LT_05_01"; a Bluehill series "X_Specimen_RawData_1.csv" → "X". */
static void derive_run_id(const char *name, enum pd_import_format format, char *out, size_t size)
{
    snprintf(out, size, "%s", name);
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = '\0';
    if (format == PD_IMPORT_BLUEHILL) {
        char *raw = strstr(out, "Specimen_RawData");
        if (raw && raw > out) {
            raw[raw[-1] == '_' || raw[-1] == '-' ? -1 : 0] = '\0';
        } else {
            char *us = strrchr(out, '_');
            if (us && us != out && us[1] >= '0' && us[1] <= '9')
                *us = '\0';
        }
    }
    for (char *p = out; *p; p++)
        if (*p == '/' || *p == ' ' || (unsigned char)*p < 0x20)
            *p = '_';
}

static int resolve(const struct imp_source *src, const char *what, const char *opt_name, const char *map_key,
                   double *value, enum imp_origin *from, double cli, double mapv, bool required, struct pd_err *err)
{
    if (*from == IMP_FROM_HEADER)
        return 0;
    if (isfinite(cli)) {
        *value = cli;
        *from = IMP_FROM_CLI;
    } else if (isfinite(mapv)) {
        *value = mapv;
        *from = IMP_FROM_MAP;
    } else if (required) {
        return pd_err_set(err, PD_EDATA, src->path,
                          "no specimen %s: the export's header does not give it; give %s or specimen.%s in the map", what, opt_name, map_key);
    } else {
        *value = NAN;
        *from = IMP_FROM_NONE;
    }
    return 0;
}

static const struct imp_column *find_col(const struct imp_source *s, enum imp_quantity q)
{
    for (size_t c = 0; c < s->n_cols; c++)
        if (s->cols[c].q == q)
            return &s->cols[c];
    return NULL;
}

/* Every export of a series must give the same channels. */
static int same_columns(const struct imp_source *a, const struct imp_source *b, struct pd_err *err)
{
    bool same = a->n_cols == b->n_cols;
    for (size_t c = 0; same && c < a->n_cols; c++)
        same = a->cols[c].q == b->cols[c].q && a->cols[c].scale == b->cols[c].scale &&
               a->cols[c].strain == b->cols[c].strain && strcmp(a->cols[c].name, b->cols[c].name) == 0 &&
               strcmp(a->cols[c].unit, b->cols[c].unit) == 0;
    if (same)
        return 0;
    return pd_err_set(err, PD_EDATA, b->path, "its columns differ from those of %s; one run holds one series "
                      "measured alike (import them separately)", a->path);
}

static void strain_note(const struct imp_source *s, enum pd_import_format format, char *out, size_t size)
{
    const struct imp_column *e = find_col(s, IMP_EXTENSION), *x = find_col(s, IMP_CROSSHEAD);
    size_t k = 0;
    if (e && e->strain)
        k += (size_t)snprintf(out + k, size - k,
                              "extension = %s × gauge length L0 (%.6g mm): the export's strain channel%s, so the "
                              "certificate's strain is that channel; ",
                              e->source, s->gauge_length,
                              format == PD_IMPORT_BLUEHILL ? " (Bluehill's extensometer-equivalent strain)" : "");
    else if (e)
        k += (size_t)snprintf(out + k, size - k, "extension = %s (strain = extension / L0, L0 = %.6g mm); ", e->source,
                              s->gauge_length);
    else
        k += (size_t)snprintf(out + k, size - k, "no extension channel (strain only from the crosshead, Method A); ");
    if (k < size && x)
        snprintf(out + k, size - k, "crosshead = %s%s (nominal strain only, needs grip_distance)", x->source,
                 x->relative ? " minus its first value (an absolute position)" : "");
    else if (k < size)
        snprintf(out + k, size - k, "no crosshead channel");
}

int pd_import_run(const char *const *files, size_t n_files, const struct pd_import_options *opt,
                  struct pd_import_result *res, struct pd_err *err)
{
    if (!files || n_files == 0 || !opt || !opt->out_dir || !res)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_import_run: no files, options or result");
    if ((unsigned)opt->format > PD_IMPORT_CSV)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_import_run: unknown format %d", (int)opt->format);
    if (opt->deflate_level < -1 || opt->deflate_level > 9)
        return pd_err_set(err, PD_ECONFIG, NULL, "deflate level %d: expected -1 (none) or 0..9", opt->deflate_level);
    const double *cli[4] = {&opt->dims.width_mm, &opt->dims.thickness_mm, &opt->dims.gauge_length_mm,
                            &opt->dims.grip_distance_mm};
    for (int i = 0; i < 4; i++)
        if (!isnan(*cli[i]) && !(isfinite(*cli[i]) && *cli[i] > 0))
            return pd_err_set(err, PD_ECONFIG, NULL, "a specimen dimension must be a positive number of mm (got %g)",
                              *cli[i]);
    if (opt->extension_column && opt->format == PD_IMPORT_CSV)
        return pd_err_set(err, PD_ECONFIG, NULL, "--extension-column is for testxpert/bluehill; a csv map says "
                          "quantity: extension");
    int64_t cli_date = 0;
    if (opt->test_date && !imp_parse_date(opt->test_date, &cli_date))
        return pd_err_set(err, PD_ECONFIG, NULL, "--date '%s': expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS (UTC)",
                          opt->test_date);

    struct imp_run run;
    memset(&run, 0, sizeof run);
    run.opt = opt;
    if (opt->run_id)
        snprintf(run.run_id, sizeof run.run_id, "%s", opt->run_id);
    else {
        const char *slash = strrchr(files[0], '/');
        derive_run_id(slash ? slash + 1 : files[0], opt->format, run.run_id, sizeof run.run_id);
    }
    if (!run.run_id[0] || strchr(run.run_id, '/') || run.run_id[0] == '.' || strlen(run.run_id) > 100)
        return pd_err_set(err, PD_ECONFIG, NULL, "run id '%s': expected 1..100 characters, no '/', not starting with '.'",
                          run.run_id);
    char final_path[4096], tmp_path[4200];
    int n = snprintf(final_path, sizeof final_path, "%s/%s.h5", opt->out_dir, run.run_id);
    if (n < 0 || (size_t)n >= sizeof final_path)
        return pd_err_set(err, PD_ECONFIG, NULL, "output path too long");
    snprintf(tmp_path, sizeof tmp_path, "%s/.%s.h5.import-%ld", opt->out_dir, run.run_id, (long)getpid());
    struct stat sb;
    if (stat(final_path, &sb) == 0)
        return pd_err_set(err, PD_ECONFIG, final_path, "%s already exists: not replaced (give --run-id or another -o)",
                          final_path);

    struct imp_map *map = calloc(1, sizeof *map);
    struct imp_source *src = calloc(n_files, sizeof *src);
    if (!map || !src) {
        free(map);
        free(src);
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    }
    int rc = imp_map_load(opt->map_path, opt->format, map, err);
    bool map_loaded = rc == 0;
    run.map = map;
    run.src = src;
    run.n_src = n_files;
    for (size_t i = 0; i < n_files && rc == 0; i++) {
        struct imp_source *s = &src[i];
        s->width = s->thickness = s->gauge_length = s->grip_distance = NAN;
        if ((rc = imp_read_file(files[i], s, err)) < 0 || (rc = imp_check_text(s, err)) < 0)
            break;
        if (opt->format == PD_IMPORT_CSV)
            rc = imp_csv_header(map, s, err);
        else
            rc = imp_vendor_header(opt->format, opt->extension_column, s, err);
        if (rc == 0)
            rc = imp_parse_rows(s, err);
        if (rc == 0 && i > 0)
            rc = same_columns(&src[0], s, err);
        if (rc == 0)
            rc = resolve(s, "width", "--width", "width", &s->width, &s->width_from, opt->dims.width_mm, map->width, true,
                         err);
        if (rc == 0)
            rc = resolve(s, "thickness", "--thickness", "thickness", &s->thickness, &s->thickness_from,
                         opt->dims.thickness_mm, map->thickness, true, err);
        if (rc == 0)
            rc = resolve(s, "gauge length", "--gauge-length", "gauge_length", &s->gauge_length, &s->gauge_from,
                         opt->dims.gauge_length_mm, map->gauge_length, true, err);
        if (rc == 0)
            rc = resolve(s, "grip distance", "--grip-distance", "grip_distance", &s->grip_distance, &s->grip_from,
                         opt->dims.grip_distance_mm, map->grip_distance, false, err);
    }
    if (rc == 0) {
        /* the time origin: the export's date, else --date, else the map's; else unknown */
        int64_t ns;
        if (src[0].have_date) {
            run.have_date = true;
            run.t0_ns = src[0].date_ns;
            snprintf(run.date_note, sizeof run.date_note, "export header date (%.80s), taken as UTC", src[0].date_text);
        } else if (opt->test_date) {
            run.have_date = true;
            run.t0_ns = cli_date;
            snprintf(run.date_note, sizeof run.date_note, "--date %.80s (UTC)", opt->test_date);
        } else if (map->date[0] && imp_parse_date(map->date, &ns)) {
            run.have_date = true;
            run.t0_ns = ns;
            snprintf(run.date_note, sizeof run.date_note, "map run.date %.80s (UTC)", map->date);
        } else {
            snprintf(run.date_note, sizeof run.date_note,
                     "unknown: the export gives no date; time = the export's time from 1970-01-01T00:00:00Z");
        }
        run.software = opt->format == PD_IMPORT_TESTXPERT ? "ZwickRoell testXpert"
                       : opt->format == PD_IMPORT_BLUEHILL ? "Instron Bluehill"
                                                           : "unknown (a CSV described by a column map)";
    }
    for (size_t i = 0; i < n_files; i++)
        imp_hash_wait(&src[i]);
    char note[600];
    if (rc == 0) {
        strain_note(&src[0], opt->format, note, sizeof note);
        run.strain_note = note;
        if ((rc = pd_mkdir_p(opt->out_dir, err)) == 0) {
            unlink(tmp_path); /* a leftover of a crashed import by a process of the same id */
            rc = imp_write_run(&run, tmp_path, err);
            if (rc == 0 && link(tmp_path, final_path) < 0)
                rc = errno == EEXIST ? pd_err_set(err, PD_ECONFIG, final_path, "%s already exists: not replaced",
                                                  final_path)
                                     : pd_err_set_os(err, PD_EIO, errno, final_path, "cannot create %s", final_path);
            unlink(tmp_path);
        }
    }
    if (rc == 0) {
        memset(res, 0, sizeof *res);
        pd_strlcpy(res->path, final_path, sizeof res->path);
        pd_strlcpy(res->run_id, run.run_id, sizeof res->run_id);
        res->n_specimens = n_files;
        for (size_t i = 0; i < n_files; i++)
            res->n_samples += src[i].n;
    }
    for (size_t i = 0; i < n_files; i++)
        imp_source_free(&src[i]);
    if (map_loaded)
        imp_map_free(map);
    free(src);
    free(map);
    return rc;
}
