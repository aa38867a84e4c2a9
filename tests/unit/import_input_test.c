/* import_input_test.c — pd_import_run on small exports written by the test: a testXpert, a
 * Bluehill series and mapped CSVs import with the values their text says (units converted, strain
 * turned into extension by L0), marked imported with the file's SHA-256 (computed here with
 * sha256sum); and every kind of bad input (wrong field count, unknown unit, decimal comma or point
 * where the other is expected, time going back, NaN/inf, a missing dimension, an empty file, a
 * binary file, map mistakes) is refused with file:line(:column) and leaves nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/noise.h"
#include "import/import.h"
#include "store/store.h"

static char tmpdir[64];
static char outdir[PATH_MAX];

static void rm_rf(const char *path)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", path);
}

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/pd_import_test_XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(outdir, sizeof outdir, "%s/out", tmpdir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rm_rf(tmpdir);
    return 0;
}

static const char *write_file(const char *name, const char *text, size_t len)
{
    static char paths[8][PATH_MAX];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, PATH_MAX, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    return p;
}
#define WRITE(name, text) write_file((name), (text), strlen(text))

/* Entries of the output folder (0 when it does not exist). */
static int out_entries(void)
{
    DIR *d = opendir(outdir);
    if (!d)
        return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static struct pd_import_options opts(enum pd_import_format format, const char *map)
{
    struct pd_import_options o;
    pd_import_options_init(&o);
    o.format = format;
    o.map_path = map;
    o.out_dir = outdir;
    return o;
}

/* Expects the import to fail with `code`, a message containing every one of the NULL-terminated
 * fragments, and nothing written. */
static void expect_refused(const char *const *files, size_t n, const struct pd_import_options *o, int code, ...)
{
    struct pd_import_result res;
    memset(&res, 0x5a, sizeof res);
    struct pd_err err;
    pd_err_clear(&err);
    int rc = pd_import_run(files, n, o, &res, &err);
    if (rc != code)
        fail_msg("expected status %d, got %d (%s)", code, rc, err.msg);
    va_list ap;
    va_start(ap, code);
    for (const char *frag; (frag = va_arg(ap, const char *)) != NULL;)
        if (!strstr(err.msg, frag))
            fail_msg("message '%s' lacks '%s'", err.msg, frag);
    va_end(ap);
    assert_int_equal(out_entries(), 0);
    assert_int_equal(res.n_specimens, (size_t)0x5a5a5a5a5a5a5a5aull); /* untouched */
}

static void import_ok(const char *const *files, size_t n, const struct pd_import_options *o,
                      struct pd_import_result *res)
{
    struct pd_err err;
    pd_err_clear(&err);
    int rc = pd_import_run(files, n, o, res, &err);
    if (rc != 0)
        fail_msg("import failed: %s", err.msg);
}

static void sha256_of(const char *path, char hex[65])
{
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%64s", hex), 1);
    pclose(p);
}

static double *channel(struct pd_run *run, size_t s, const char *name, size_t *n)
{
    double *d = NULL;
    struct pd_err err;
    if (pd_run_read_channel(run, s, 0, name, &d, n, &err) != 0)
        fail_msg("%s: %s", name, err.msg);
    return d;
}

/* ---- testXpert ----------------------------------------------------------------------------*/
#define TX_HEAD                                                                                    \
    "\"Specimen thickness\",2,\"mm\"\n\"Specimen width\",10.5,\"mm\"\n"                           \
    "\"Gage length, standard travel\",50,\"mm\"\n\"Date/Clock time\",44182.5,\"\"\n"                 \
    "\"Operator\",\"M\xfcller\",\"\"\n\"v1\",1,\"mm/min\"\n"                                      \
    "\"Time\",\"Crosshead absolute\",\"Standard travel\",\"Standard force\"\n\"s\",\"mm\",\"mm\",\"kN\"\n"

static void test_testxpert_values(void **state)
{
    (void)state;
    /* noisy rows written with %.6g, read back independently with strtod */
    struct pd_test_rng rng = {.state = 7};
    size_t n = 3000;
    char *text = malloc(n * 80 + 1024);
    double *t = malloc(n * sizeof *t), *x = malloc(n * sizeof *x), *e = malloc(n * sizeof *e),
           *f = malloc(n * sizeof *f);
    size_t k = (size_t)sprintf(text, "%s", TX_HEAD);
    for (size_t i = 0; i < n; i++) {
        char row[4][32];
        snprintf(row[0], 32, "%.6g", 2.5 + 0.01 * (double)i);
        snprintf(row[1], 32, "%.6g", 1190.5 + 0.0004 * (double)i + 0.0001 * pd_test_gaussian(&rng));
        snprintf(row[2], 32, "%.6g", 0.0003 * (double)i + 1e-5 * pd_test_gaussian(&rng));
        snprintf(row[3], 32, "%.6g", 0.1 + 0.002 * (double)i + 0.01 * pd_test_gaussian(&rng));
        t[i] = strtod(row[0], NULL);
        x[i] = strtod(row[1], NULL);
        e[i] = strtod(row[2], NULL);
        f[i] = strtod(row[3], NULL);
        k += (size_t)sprintf(text + k, "%s,%s,%s,%s\n", row[0], row[1], row[2], row[3]);
    }
    const char *path = write_file("Tx_01.TRA", text, k);
    struct pd_import_options o = opts(PD_IMPORT_TESTXPERT, NULL);
    struct pd_import_result res;
    import_ok(&path, 1, &o, &res);
    assert_int_equal(res.n_samples, n);
    assert_string_equal(res.run_id, "Tx_01");

    struct pd_run *run;
    struct pd_err err;
    assert_int_equal(pd_run_open(res.path, &run, &err), 0);
    assert_string_equal(pd_run_attr(run, "imported"), "1");
    assert_string_equal(pd_run_attr(run, "import_software"), "ZwickRoell testXpert");
    assert_string_equal(pd_run_attr(run, "operator"), "M\xc3\xbcller"); /* latin-1 ü as UTF-8 */
    assert_string_equal(pd_run_attr(run, "start_time"), "2020-12-17T12:00:00.000000000Z");
    char hex[65];
    sha256_of(path, hex);
    assert_string_equal(pd_run_attr(run, "import_sha256"), hex);
    assert_string_equal(pd_run_specimen_attr(run, 0, "source_sha256"), hex);
    assert_string_equal(pd_run_specimen_attr(run, 0, "status"), "tested");
    double w, h, l0;
    assert_int_equal(pd_run_specimen_attr_double(run, 0, "width", &w), 0);
    assert_int_equal(pd_run_specimen_attr_double(run, 0, "thickness", &h), 0);
    assert_int_equal(pd_run_specimen_attr_double(run, 0, "gauge_length", &l0), 0);
    assert_true(w == 10.5 && h == 2.0 && l0 == 50.0);
    assert_null(pd_run_specimen_attr(run, 0, "grip_distance")); /* not in the header, not given */
    assert_string_equal(pd_run_instrument_attr(run, 0, "calibration_due"), "");
    size_t m;
    double *force = channel(run, 0, "force", &m);
    assert_int_equal(m, n);
    double *ext = channel(run, 0, "extension", &m);
    double *xh = channel(run, 0, "crosshead", &m);
    int64_t *time;
    assert_int_equal(pd_run_read_time(run, 0, 0, &time, &m, &err), 0);
    int64_t t0 = (int64_t)(44182.5 - 25569.0) * 86400 * 1000000000LL + 43200LL * 1000000000LL;
    for (size_t i = 0; i < n; i++) {
        assert_true(force[i] == f[i] * 1000.0); /* kN → N */
        assert_true(ext[i] == e[i]);
        assert_true(fabs(xh[i] - (x[i] - x[0])) <= 1e-12 * fabs(x[0]));
        assert_true(llabs(time[i] - (t0 + (int64_t)llround(t[i] * 1e9))) <= 1);
    }
    free(force);
    free(ext);
    free(xh);
    free(time);
    pd_run_close(run);
    /* the same again: the existing file is not replaced, nothing else written */
    struct pd_import_result res2;
    pd_err_clear(&err);
    assert_int_equal(pd_import_run(&path, 1, &o, &res2, &err), PD_ECONFIG);
    assert_non_null(strstr(err.msg, "already exists"));
    assert_int_equal(out_entries(), 1);
    rm_rf(outdir);
    free(text);
    free(t);
    free(x);
    free(e);
    free(f);
}

static void test_testxpert_bad_input(void **state)
{
    (void)state;
    struct pd_import_options o = opts(PD_IMPORT_TESTXPERT, NULL);
    const char *p;
    p = WRITE("count.TRA", TX_HEAD "1,1190,0,0.1\n1.1,1190,0,0.2\n1.2,1190,0.1\n");
    expect_refused(&p, 1, &o, PD_EDATA, "count.TRA:11", "3 fields", "4 columns", NULL);
    p = WRITE("extra.TRA", TX_HEAD "1,1190,0,0.1\n1.1,1190,0,0,2\n");
    expect_refused(&p, 1, &o, PD_EDATA, "extra.TRA:10", "5 fields", "decimal commas", NULL);
    p = WRITE("unit.TRA", "\"Specimen thickness\",2,\"mm\"\n\"Specimen width\",10,\"mm\"\n\"Gage length\",50,\"mm\"\n"
                          "\"Time\",\"Standard force\"\n\"s\",\"lbf\"\n1,2\n");
    expect_refused(&p, 1, &o, PD_EDATA, "unit.TRA:5:2", "'lbf'", NULL);
    p = WRITE("back.TRA", TX_HEAD "1,1190,0,0.1\n1.1,1190,0,0.2\n1.05,1190,0,0.3\n");
    expect_refused(&p, 1, &o, PD_EDATA, "back.TRA:11:1", "go back", NULL);
    p = WRITE("nan.TRA", TX_HEAD "1,1190,0,0.1\n1.1,1190,nan,0.2\n");
    expect_refused(&p, 1, &o, PD_EDATA, "nan.TRA:10:10", "not a finite number", "Standard travel", NULL);
    p = WRITE("inf.TRA", TX_HEAD "1,1190,0,-inf\n");
    expect_refused(&p, 1, &o, PD_EDATA, "inf.TRA:9:10", "not a finite number", NULL);
    p = WRITE("word.TRA", TX_HEAD "1,1190,0,abc\n");
    expect_refused(&p, 1, &o, PD_EDATA, "word.TRA:9:10", "'abc'", "not a number", NULL);
    p = WRITE("nodim.TRA", "\"Specimen thickness\",2,\"mm\"\n\"Gage length\",50,\"mm\"\n"
                           "\"Time\",\"Standard force\"\n\"s\",\"N\"\n1,2\n");
    expect_refused(&p, 1, &o, PD_EDATA, "nodim.TRA", "no specimen width", "--width", NULL);
    /* the command line supplies what the header lacks */
    o.dims.width_mm = 4.0;
    struct pd_import_result res;
    import_ok(&p, 1, &o, &res);
    struct pd_run *run;
    struct pd_err err;
    assert_int_equal(pd_run_open(res.path, &run, &err), 0);
    assert_non_null(strstr(pd_run_specimen_attr(run, 0, "dimensions_source"), "width: command line"));
    pd_run_close(run);
    rm_rf(outdir);
    o.dims.width_mm = NAN;
    p = WRITE("empty.TRA", "");
    expect_refused(&p, 1, &o, PD_EDATA, "empty.TRA:1", "empty file", NULL);
    char bin[512];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (char)(i * 37 + 11);
    p = write_file("binary.TRA", bin, sizeof bin);
    expect_refused(&p, 1, &o, PD_EDATA, "binary.TRA:1", "binary data", NULL);
    p = WRITE("bluehill.TRA", "Width,\"10\",mm\r\n\r\nTime,Load\r\n(s),(N)\r\n\"0.1\",\"1,004.8\"\r\n");
    expect_refused(&p, 1, &o, PD_EDATA, "bluehill.TRA:3", "no force column", NULL); /* wrong --format */
    p = WRITE("binrows.TRA", TX_HEAD "1,1190,0,0.1\n1.1,11\x01\x02,0,0.2\n");
    expect_refused(&p, 1, &o, PD_EDATA, "binrows.TRA:10:7", "binary data (byte 0x01)", NULL);
    /* beyond the first 64 KiB the row parser finds it */
    char *big = malloc(200000);
    size_t k = (size_t)sprintf(big, "%s", TX_HEAD);
    for (int i = 0; i < 5000; i++)
        k += (size_t)sprintf(big + k, "%d.5,1190,0,0.1\n", i);
    k += (size_t)sprintf(big + k, "6000,1190,\x1b[0m,0.1\n");
    p = write_file("binlate.TRA", big, k);
    free(big);
    expect_refused(&p, 1, &o, PD_EDATA, "binlate.TRA:5009:11", "binary data (byte 0x1b) in column 3", NULL);
    o.dims.width_mm = NAN;
    const char *missing = "/nonexistent/x.TRA";
    expect_refused(&missing, 1, &o, PD_EDATA, "/nonexistent/x.TRA", "cannot open", NULL);
}

/* ---- Bluehill -----------------------------------------------------------------------------*/
static const char *bluehill(const char *name, double width, const char *rows)
{
    char text[4096];
    snprintf(text, sizeof text,
             "Specimen number (included),1\r\nLength,\"26.00000\",mm\r\nSpecimen ID,\"%s\"\r\nThickness,\"2.04200\",mm\r\n"
             "Width,\"%.5f\",mm\r\n\r\nTime,Extension,Load,Tensile strain (Strain 1),Tensile stress\r\n"
             "(s),(mm),(N),(%%),(MPa)\r\n%s",
             name, width, rows);
    char file[64];
    snprintf(file, sizeof file, "B_Specimen_RawData_%s.csv", name);
    return write_file(file, text, strlen(text));
}

static void test_bluehill_series(void **state)
{
    (void)state;
    const char *files[2];
    files[0] = bluehill("1", 10.178, "\"0.00000\",\"0.01731\",\"462.86465\",\"-0.0002\",\"22.2708\"\r\n"
                                     "\"0.10000\",\"0.01744\",\"1,004.80000\",\"0.0500\",\"22.2473\"\r\n"
                                     "\"0.20000\",\"0.01931\",\"10,166.89062\",\"3.2126\",\"489.1814\"\r\n");
    files[1] = bluehill("2", 10.2, "\"0.00000\",\"0.0\",\"1.5\",\"0.0\",\"0.1\"\r\n\"0.1\",\"0.1\",\"2,000\",\"1\",\"2\"\r\n");
    struct pd_import_options o = opts(PD_IMPORT_BLUEHILL, NULL);
    o.test_date = "2026-11-20";
    struct pd_import_result res;
    import_ok(files, 2, &o, &res);
    assert_int_equal(res.n_specimens, 2);
    assert_string_equal(res.run_id, "B");
    struct pd_run *run;
    struct pd_err err;
    assert_int_equal(pd_run_open(res.path, &run, &err), 0);
    assert_int_equal(pd_run_specimen_count(run), 2);
    assert_string_equal(pd_run_specimen_id(run, 0), "1");
    assert_string_equal(pd_run_attr(run, "import_software"), "Instron Bluehill");
    assert_non_null(strstr(pd_run_attr(run, "import_strain"), "Tensile strain (Strain 1)"));
    assert_non_null(strstr(pd_run_attr(run, "start_time"), "2026-11-20T00:00:00"));
    double w;
    assert_int_equal(pd_run_specimen_attr_double(run, 1, "width", &w), 0);
    assert_true(w == 10.2);
    size_t m;
    double *force = channel(run, 0, "force", &m), *ext = channel(run, 0, "extension", &m),
           *xh = channel(run, 0, "crosshead", &m), *stress = channel(run, 0, "tensile_stress", &m);
    assert_int_equal(m, 3);
    const double want_f[] = {462.86465, 1004.8, 10166.89062}, want_strain[] = {-0.0002, 0.05, 3.2126},
                 want_x[] = {0.01731, 0.01744, 0.01931}, want_s[] = {22.2708, 22.2473, 489.1814};
    for (size_t i = 0; i < 3; i++) {
        assert_true(force[i] == want_f[i]);
        assert_true(fabs(ext[i] - want_strain[i] / 100.0 * 26.0) <= 1e-15);
        assert_true(xh[i] == want_x[i]);
        assert_true(stress[i] == want_s[i]);
    }
    free(force);
    free(ext);
    free(xh);
    free(stress);
    pd_run_close(run);
    rm_rf(outdir);

    /* a series whose files differ in their columns is refused */
    const char *odd = WRITE("B_Specimen_RawData_3.csv", "Thickness,\"2\",mm\r\nWidth,\"10\",mm\r\nLength,\"26\",mm\r\n\r\n"
                                                        "Time,Load\r\n(s),(N)\r\n\"0.1\",\"1\"\r\n");
    const char *two[2] = {files[0], odd};
    expect_refused(two, 2, &o, PD_EDATA, "B_Specimen_RawData_3.csv", "columns differ", NULL);
    /* a thousands separator where there is none to be */
    const char *bad = bluehill("4", 10, "\"0.0\",\"0.1\",\"1,00.5\",\"0\",\"1\"\r\n");
    expect_refused(&bad, 1, &o, PD_EDATA, "B_Specimen_RawData_4.csv:9:13", "'\"1,00.5\"'", NULL);
    /* --extension-column takes the crosshead-like Extension instead (the strain is kept as an extra) */
    o.extension_column = "Extension";
    import_ok(files, 1, &o, &res);
    assert_int_equal(pd_run_open(res.path, &run, &err), 0);
    size_t ich;
    assert_true(pd_run_find_channel(run, "crosshead", &ich, &ich) < 0);
    ext = channel(run, 0, "extension", &m);
    assert_true(ext[2] == 0.01931);
    free(ext);
    ext = channel(run, 0, "tensile_strain_strain_1", &m);
    assert_true(ext[2] == 3.2126);
    free(ext);
    pd_run_close(run);
    rm_rf(outdir);
    o.extension_column = "Strain 2";
    expect_refused(files, 1, &o, PD_EDATA, "B_Specimen_RawData_1.csv:7", "'Strain 2'", NULL);
}

/* ---- mapped CSV ---------------------------------------------------------------------------*/
static const char map_semicolon[] =
    "format: {separator: ';', decimal: ',', skip_lines: 2}\n"
    "columns:\n"
    "  - {quantity: time, unit: ms}\n"
    "  - {quantity: ignore}\n"
    "  - {quantity: force, unit: kN}\n"
    "  - {quantity: extension, unit: '%'}\n"
    "  - {quantity: crosshead, unit: µm}\n"
    "specimen: {width: 10, thickness: 4, gauge_length: 75, grip_distance: 115}\n"
    "instrument:\n"
    "  name: zwick\n"
    "  manufacturer: ZwickRoell\n"
    "  model: Z010\n"
    "  serial_number: '123456'\n"
    "  calibration: {date: 2026-01-10, due: 2027-01-10, certificate: DAkkS-1}\n"
    "run: {operator: A. Tester, date: 2026-11-20T09:30:00}\n";

static void test_csv_map_conversions(void **state)
{
    (void)state;
    const char *map = WRITE("semi.yaml", map_semicolon);
    const char *csv = WRITE("semi.csv", "Zeit;Kommentar;Kraft;Dehnung;Traverse\nms;;kN;%;µm\n"
                                        "0;a;0,0015;0;0\n10;b b;1,25;0,05;12,5\n20;;-0,5;1,5e-1;-3\n");
    struct pd_import_options o = opts(PD_IMPORT_CSV, map);
    struct pd_import_result res;
    import_ok(&csv, 1, &o, &res);
    struct pd_run *run;
    struct pd_err err;
    assert_int_equal(pd_run_open(res.path, &run, &err), 0);
    assert_string_equal(pd_run_instrument_name(run, 0), "zwick");
    assert_string_equal(pd_run_instrument_attr(run, 0, "calibration_due"), "2027-01-10");
    assert_string_equal(pd_run_instrument_attr(run, 0, "serial_number"), "123456");
    assert_string_equal(pd_run_attr(run, "operator"), "A. Tester");
    assert_string_equal(pd_run_attr(run, "start_time"), "2026-11-20T09:30:00.000000000Z");
    double g;
    assert_int_equal(pd_run_specimen_attr_double(run, 0, "grip_distance", &g), 0);
    assert_true(g == 115.0);
    size_t m;
    double *force = channel(run, 0, "force", &m), *ext = channel(run, 0, "extension", &m),
           *xh = channel(run, 0, "crosshead", &m);
    int64_t *time;
    assert_int_equal(pd_run_read_time(run, 0, 0, &time, &m, &err), 0);
    assert_int_equal(m, 3);
    const double f[] = {1.5, 1250, -500}, e[] = {0, 0.05 / 100 * 75, 0.15 / 100 * 75}, x[] = {0, 0.0125, -0.003};
    int64_t t0 = time[0];
    for (size_t i = 0; i < 3; i++) {
        assert_true(fabs(force[i] - f[i]) <= 1e-12 * fabs(f[i]));
        assert_true(fabs(ext[i] - e[i]) <= 1e-15);
        assert_true(fabs(xh[i] - x[i]) <= 1e-18);
        assert_true(time[i] - t0 == (int64_t)i * 10000000);
    }
    free(force);
    free(ext);
    free(xh);
    free(time);
    pd_run_close(run);
    rm_rf(outdir);

    /* the wrong decimal separator, either way */
    csv = WRITE("point.csv", "h\nh\n0;a;1,5;0;0\n10;a;1.5;0;0\n");
    expect_refused(&csv, 1, &o, PD_EDATA, "point.csv:4:6", "decimal point", "','", NULL);
    const char *dotmap = WRITE("dot.yaml", "format: {separator: ';', decimal: '.'}\n"
                                           "columns: [{quantity: time, unit: s}, {quantity: force, unit: N}]\n"
                                           "specimen: {width: 10, thickness: 4, gauge_length: 75}\n");
    struct pd_import_options od = opts(PD_IMPORT_CSV, dotmap);
    csv = WRITE("comma.csv", "0;1.5\n1;2,5\n");
    expect_refused(&csv, 1, &od, PD_EDATA, "comma.csv:2:3", "decimal comma", NULL);
    csv = WRITE("short.csv", "0;1.5\n1\n");
    expect_refused(&csv, 1, &od, PD_EDATA, "short.csv:2", "1 fields", NULL);
    csv = WRITE("blank.csv", "0;1.5\n\n1;2\n");
    expect_refused(&csv, 1, &od, PD_EDATA, "blank.csv:2", "empty line", NULL);
    csv = WRITE("none.csv", "");
    expect_refused(&csv, 1, &od, PD_EDATA, "none.csv:1", "no data rows", NULL);
    csv = WRITE("far.csv", "0;1.5\n1e12;2\n");
    expect_refused(&csv, 1, &od, PD_EDATA, "far.csv:2", "out of range", NULL);
    csv = WRITE("trail.csv", "0;1.5\n1;2\n\n\n");
    od.test_date = "2026-02-30";
    expect_refused(&csv, 1, &od, PD_ECONFIG, "--date", NULL); /* no such day */
    od.test_date = NULL;
    import_ok(&csv, 1, &od, &res); /* blank lines at the end are fine */
    assert_int_equal(res.n_samples, 2);
    rm_rf(outdir);
}

static void test_map_errors(void **state)
{
    (void)state;
    const char *csv = WRITE("m.csv", "0,1\n");
    struct {
        const char *yaml, *frag1, *frag2;
    } cases[] = {
        {"columns: [{quantity: time, unit: s}, {quantity: force, unit: lbf}]\n", "m1.yaml:1:62", "'lbf'"},
        {"columns: [{quantity: time, unit: s}, {quantity: forse, unit: N}]\n", "m2.yaml:1:49", "force"},
        {"columns: [{quantity: time, unit: s}]\n", "m3.yaml:1:10", "force column"},
        {"format: {decimal: ','}\ncolumns: [{quantity: time, unit: s}, {quantity: force, unit: N}]\n", "m4.yaml:1:19",
         "field separator"},
        {"colums: []\n", "m5.yaml:1:1", "columns"},
        {"columns: [{quantity: time, unit: s}, {quantity: force, unit: N}]\ninstrument: {calibration: {date: 2026-01-01, "
         "due: soon}}\n", "m6.yaml:2:51", "YYYY-MM-DD"},
        {"columns: [{quantity: time, unit: s}, {quantity: force, unit: N}, {quantity: crosshead, unit: '%'}]\n",
         "m7.yaml:1:", "strain"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%zu.yaml", i + 1);
        const char *map = WRITE(name, cases[i].yaml);
        struct pd_import_options o = opts(PD_IMPORT_CSV, map);
        expect_refused(&csv, 1, &o, PD_ECONFIG, cases[i].frag1, cases[i].frag2, NULL);
    }
    struct pd_import_options o = opts(PD_IMPORT_CSV, NULL);
    expect_refused(&csv, 1, &o, PD_ECONFIG, "--map", NULL);
    const char *txmap = WRITE("tx.yaml", "columns: [{quantity: time, unit: s}]\n");
    o = opts(PD_IMPORT_TESTXPERT, txmap);
    expect_refused(&csv, 1, &o, PD_ECONFIG, "tx.yaml:1:10", "describes itself", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_testxpert_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_testxpert_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bluehill_series, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_map_conversions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
