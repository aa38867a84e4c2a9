/* store_test.c — run files: write a layout, read every value back, crashes, live SWMR reading, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <hdf5.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"

static char tmpdir[64];

/* Asserts a call returned 0, printing the error detail when it did not. */
#define assert_ok(call, err)                                                                       \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != 0)                                                                              \
            print_error("%s\n", (err).msg);                                                        \
        assert_int_equal(rc_, 0);                                                                  \
    } while (0)

static int make_tmpdir(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/pd_store_test_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    /* every file the tests wrote, whatever its name */
    DIR *d = opendir(tmpdir);
    if (!d)
        return -1;
    char path[PATH_MAX];
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
            unlink(path);
        }
    closedir(d);
    return rmdir(tmpdir);
}

static void tmp_path(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* ---- The test layout: 2 specimens × 2 instruments --------------------------------------------*/

static const struct pd_store_attr run_attrs[] = {
    {.key = "run_id", .type = PD_STORE_STRING, .s = "R-2026-0042"},
    {.key = "method", .type = PD_STORE_STRING, .s = "ISO 527-2 type 1A"},
    {.key = "operator", .type = PD_STORE_STRING, .s = "Zoë Müller"},
    {.key = "simulated", .type = PD_STORE_INT, .i = 1},
    {.key = "test_speed", .type = PD_STORE_DOUBLE, .d = 50.0, .units = "mm/min"},
    {.key = "config_text", .type = PD_STORE_STRING, .s = "lab: demo\ninstruments:\n  - frame\n"},
};
static const struct pd_store_attr frame_attrs[] = {
    {.key = "model", .type = PD_STORE_STRING, .s = "LF-10"},
    {.key = "serial", .type = PD_STORE_STRING, .s = "SN1234"},
    {.key = "load_cell_capacity", .type = PD_STORE_DOUBLE, .d = 10000.0, .units = "N"},
    {.key = "slave_id", .type = PD_STORE_INT, .i = 17},
};
static const struct pd_store_attr thermo_attrs[] = {
    {.key = "model", .type = PD_STORE_STRING, .s = "TH-2"},
};
static const struct pd_store_attr s1_attrs[] = {
    {.key = "width", .type = PD_STORE_DOUBLE, .d = 10.02, .units = "mm"},
    {.key = "thickness", .type = PD_STORE_DOUBLE, .d = 3.98, .units = "mm"},
    {.key = "material", .type = PD_STORE_STRING, .s = "PP-H batch 7"},
    {.key = "conditioning_h", .type = PD_STORE_INT, .i = 88, .units = "h"},
};
static const struct pd_store_attr s2_attrs[] = {
    {.key = "width", .type = PD_STORE_DOUBLE, .d = 9.97, .units = "mm"},
};

static struct pd_store_instrument instruments[2];
static struct pd_store_specimen specimens[2];

static struct pd_store_layout make_layout(size_t chunk, int deflate)
{
    memset(instruments, 0, sizeof instruments);
    strcpy(instruments[0].name, "frame");
    instruments[0].n_channels = 2;
    strcpy(instruments[0].channels[0].name, "force");
    strcpy(instruments[0].channels[0].unit, "N");
    strcpy(instruments[0].channels[1].name, "extension");
    strcpy(instruments[0].channels[1].unit, "mm");
    instruments[0].signal = "force";
    instruments[0].axes = "extension";
    instruments[0].n_attrs = sizeof frame_attrs / sizeof *frame_attrs;
    instruments[0].attrs = frame_attrs;
    strcpy(instruments[1].name, "thermo");
    instruments[1].n_channels = 3;
    strcpy(instruments[1].channels[0].name, "temperature");
    strcpy(instruments[1].channels[0].unit, "degC");
    strcpy(instruments[1].channels[1].name, "humidity");
    strcpy(instruments[1].channels[1].unit, "%");
    strcpy(instruments[1].channels[2].name, "ratio");
    instruments[1].n_attrs = 1;
    instruments[1].attrs = thermo_attrs;

    memset(specimens, 0, sizeof specimens);
    strcpy(specimens[0].id, "S01");
    specimens[0].n_attrs = sizeof s1_attrs / sizeof *s1_attrs;
    specimens[0].attrs = s1_attrs;
    strcpy(specimens[1].id, "S02");
    specimens[1].n_attrs = 1;
    specimens[1].attrs = s2_attrs;

    struct pd_store_layout l = {
        .n_run_attrs = sizeof run_attrs / sizeof *run_attrs,
        .run_attrs = run_attrs,
        .n_instruments = 2,
        .instruments = instruments,
        .n_specimens = 2,
        .specimens = specimens,
        .chunk_samples = chunk,
        .deflate_level = deflate,
    };
    return l;
}

/* Deterministic sample k of an instrument/specimen, so the reader side can recompute it. */
static const int64_t T0 = INT64_C(1795000000000000000);
static double value_of(size_t spec, size_t instr, size_t ch, size_t k)
{
    return (double)(spec * 1000 + instr * 100 + ch) + (double)k * 0.001 + 1.0 / 3.0;
}
static int64_t time_of(size_t spec, size_t instr, size_t k)
{
    return T0 + (int64_t)(spec * 1000000 + instr * 1000) + (int64_t)k * 1000003;
}

/* Appends samples [from, from+n) of one (specimen, instrument) in one call. */
static int append_range(struct pd_store *st, size_t spec, size_t instr, size_t from, size_t n, struct pd_err *err)
{
    size_t nch = instruments[instr].n_channels;
    int64_t *t = calloc(n + 1, sizeof *t);
    int64_t *u = calloc(n + 1, sizeof *u);
    uint32_t *q = calloc(n + 1, sizeof *q);
    double *v = calloc((n + 1) * nch, sizeof *v);
    assert_non_null(t);
    assert_non_null(u);
    assert_non_null(q);
    assert_non_null(v);
    for (size_t k = 0; k < n; k++) {
        t[k] = time_of(spec, instr, from + k);
        u[k] = (int64_t)(from + k) % 977;
        q[k] = (uint32_t)((from + k) % 8);
        for (size_t c = 0; c < nch; c++)
            v[k * nch + c] = value_of(spec, instr, c, from + k);
    }
    int rc = pd_store_append(st, spec, instr, n, t, u, q, v, err);
    free(t);
    free(u);
    free(q);
    free(v);
    return rc;
}

static void expect_samples(struct pd_run *run, size_t spec, size_t instr, size_t n_expected)
{
    struct pd_err err = {0};
    int64_t *t = NULL;
    size_t n = 12345;
    assert_ok(pd_run_read_time(run, spec, instr, &t, &n, &err), err);
    assert_int_equal(n, n_expected);
    for (size_t k = 0; k < n; k++)
        assert_true(t[k] == time_of(spec, instr, k));
    free(t);
    for (size_t c = 0; c < instruments[instr].n_channels; c++) {
        double *d = NULL;
        n = 12345;
        assert_ok(pd_run_read_channel(run, spec, instr, instruments[instr].channels[c].name, &d, &n, &err), err);
        assert_int_equal(n, n_expected);
        for (size_t k = 0; k < n; k++)
            assert_true(d[k] == value_of(spec, instr, c, k));
        free(d);
    }
}

static char long_text[400];

static void write_full_run(const char *path, size_t chunk, int deflate)
{
    struct pd_store_layout l = make_layout(chunk, deflate);
    struct pd_err err = {0};
    struct pd_store *st = NULL;
    assert_ok(pd_store_create(path, &l, &st, &err), err);
    assert_non_null(st);

    assert_ok(pd_store_add_event(st, SIZE_MAX, T0, "run_start", "operator logged in", &err), err);
    /* Batches that cross chunk boundaries at odd places. */
    assert_int_equal(append_range(st, 0, 0, 0, 100, &err), 0);
    assert_int_equal(append_range(st, 0, 0, 100, 1, &err), 0);
    assert_int_equal(append_range(st, 0, 0, 101, 4000, &err), 0);
    assert_int_equal(append_range(st, 0, 1, 0, 7, &err), 0);
    assert_ok(pd_store_flush(st, &err), err);
    assert_int_equal(append_range(st, 0, 1, 7, 70, &err), 0);
    assert_int_equal(append_range(st, 1, 0, 0, 333, &err), 0);
    assert_int_equal(append_range(st, 1, 1, 0, 0, &err), 0); /* nothing: a no-op */

    memset(long_text, 'x', sizeof long_text - 1);
    assert_ok(pd_store_add_event(st, 0, T0 + 5, "specimen_start", "", &err), err);
    assert_ok(pd_store_add_event(st, 0, T0 + 9, "break", long_text, &err), err);

    struct pd_store_attr status = {.key = "status", .type = PD_STORE_STRING, .s = "tested"};
    assert_ok(pd_store_set_specimen_attr(st, 0, &status, &err), err);
    struct pd_store_attr status2 = {.key = "status", .type = PD_STORE_STRING, .s = "invalid: broke at the grip"};
    assert_ok(pd_store_set_specimen_attr(st, 1, &status2, &err), err);
    struct pd_store_attr width = {.key = "width", .type = PD_STORE_DOUBLE, .d = 10.05, .units = "mm"};
    assert_ok(pd_store_set_specimen_attr(st, 0, &width, &err), err);
    struct pd_store_attr where = {.key = "break_location", .type = PD_STORE_STRING, .s = "gauge length"};
    assert_ok(pd_store_set_specimen_attr(st, 1, &where, &err), err);

    /* Wrong uses are refused with a reason and change nothing. */
    assert_int_equal(pd_store_append(st, 2, 0, 1, NULL, NULL, NULL, NULL, &err), PD_EINVAL);
    assert_non_null(strstr(err.msg, "specimen index 2"));
    assert_int_equal(pd_store_add_event(st, 0, T0, "a-kind-name-that-is-far-too-long-for-the-table", "", &err),
                     PD_EINVAL);
    assert_int_equal(pd_store_set_specimen_attr(st, 0, &(struct pd_store_attr){.key = "status",
                                                                                 .type = PD_STORE_STRING,
                                                                                 .s = long_text},
                                                &err),
                     PD_ERANGE);
    assert_ok(pd_store_flush(st, &err), err);

    const struct pd_store_attr final_attrs[] = {
        {.key = "end_time", .type = PD_STORE_STRING, .s = "2026-11-25T03:00:00Z"},
        {.key = "samples_total", .type = PD_STORE_INT, .i = 4511},
    };
    assert_ok(pd_store_close(st, 2, final_attrs, &err), err);
}

static void test_round_trip(void **state)
{
    (void)state;
    char path[128];
    tmp_path("run.h5", path, sizeof path);
    write_full_run(path, 64, -1);

    struct pd_err err = {0};
    struct pd_run *run = NULL;
    assert_ok(pd_run_open(path, &run, &err), err);
    assert_int_equal(pd_run_closed_cleanly(run), 1);

    assert_string_equal(pd_run_attr(run, "run_id"), "R-2026-0042");
    assert_string_equal(pd_run_attr(run, "operator"), "Zoë Müller");
    assert_string_equal(pd_run_attr(run, "simulated"), "1");
    assert_string_equal(pd_run_attr(run, "test_speed"), "50");
    assert_string_equal(pd_run_attr(run, "test_speed_units"), "mm/min");
    assert_string_equal(pd_run_attr(run, "config_text"), run_attrs[5].s);
    assert_string_equal(pd_run_attr(run, "end_time"), "2026-11-25T03:00:00Z");
    assert_string_equal(pd_run_attr(run, "samples_total"), "4511");
    assert_string_equal(pd_run_attr(run, "creator"), "polydaq");
    assert_string_equal(pd_run_attr(run, "file_format"), "polydaq-run");
    assert_string_equal(pd_run_attr(run, "default"), "specimen_01");
    assert_null(pd_run_attr(run, "no_such_key"));
    double d = 0;
    assert_int_equal(pd_run_attr_double(run, "test_speed", &d), 0);
    assert_true(d == 50.0);
    assert_int_equal(pd_run_attr_double(run, "schema_version", &d), 0);
    assert_true(d == 2.0);
    assert_int_equal(pd_run_attr_double(run, "run_id", &d), PD_EDATA);

    assert_int_equal(pd_run_specimen_count(run), 2);
    assert_string_equal(pd_run_specimen_id(run, 0), "S01");
    assert_string_equal(pd_run_specimen_id(run, 1), "S02");
    assert_null(pd_run_specimen_id(run, 2));
    assert_string_equal(pd_run_specimen_attr(run, 0, "status"), "tested");
    assert_string_equal(pd_run_specimen_attr(run, 1, "status"), "invalid: broke at the grip");
    assert_string_equal(pd_run_specimen_attr(run, 0, "material"), "PP-H batch 7");
    assert_string_equal(pd_run_specimen_attr(run, 0, "name"), "S01");
    assert_string_equal(pd_run_specimen_attr(run, 0, "thickness"), "3.98");
    assert_string_equal(pd_run_specimen_attr(run, 0, "thickness_units"), "mm");
    assert_string_equal(pd_run_specimen_attr(run, 0, "conditioning_h"), "88");
    assert_string_equal(pd_run_specimen_attr(run, 1, "break_location"), "gauge length");
    assert_null(pd_run_specimen_attr(run, 0, "break_location"));
    assert_int_equal(pd_run_specimen_attr_double(run, 0, "width", &d), 0);
    assert_true(d == 10.05); /* the update made during the run wins */
    assert_int_equal(pd_run_specimen_attr_double(run, 1, "width", &d), 0);
    assert_true(d == 9.97);

    assert_int_equal(pd_run_instrument_count(run), 2);
    assert_string_equal(pd_run_instrument_name(run, 0), "frame");
    assert_string_equal(pd_run_instrument_name(run, 1), "thermo");
    assert_string_equal(pd_run_instrument_attr(run, 0, "serial"), "SN1234");
    assert_string_equal(pd_run_instrument_attr(run, 0, "load_cell_capacity"), "10000");
    assert_string_equal(pd_run_instrument_attr(run, 0, "load_cell_capacity_units"), "N");
    assert_string_equal(pd_run_instrument_attr(run, 0, "slave_id"), "17");
    assert_string_equal(pd_run_instrument_attr(run, 1, "model"), "TH-2");
    assert_null(pd_run_instrument_attr(run, 1, "serial"));
    assert_int_equal(pd_run_channel_count(run, 0), 2);
    assert_int_equal(pd_run_channel_count(run, 1), 3);
    /* Channel order is the layout's, not alphabetical. */
    assert_string_equal(pd_run_channel(run, 0, 0)->name, "force");
    assert_string_equal(pd_run_channel(run, 0, 0)->unit, "N");
    assert_string_equal(pd_run_channel(run, 0, 1)->name, "extension");
    assert_string_equal(pd_run_channel(run, 1, 0)->name, "temperature");
    assert_string_equal(pd_run_channel(run, 1, 1)->unit, "%");
    assert_string_equal(pd_run_channel(run, 1, 2)->unit, "1"); /* empty unit is stored as "1" */
    assert_null(pd_run_channel(run, 1, 3));
    size_t ii = 9, ci = 9;
    assert_int_equal(pd_run_find_channel(run, "humidity", &ii, &ci), 0);
    assert_int_equal(ii, 1);
    assert_int_equal(ci, 1);
    assert_int_equal(pd_run_find_channel(run, "extension", &ii, &ci), 0);
    assert_int_equal(ii, 0);
    assert_int_equal(ci, 1);
    assert_int_equal(pd_run_find_channel(run, "strain", &ii, &ci), PD_EDATA);

    expect_samples(run, 0, 0, 4101);
    expect_samples(run, 0, 1, 77);
    expect_samples(run, 1, 0, 333);
    expect_samples(run, 1, 1, 0);
    double *data = (double *)&d;
    size_t n = 0;
    assert_int_equal(pd_run_read_channel(run, 0, 1, "force", &data, &n, &err), PD_EDATA);
    assert_non_null(strstr(err.msg, "no channel 'force'"));
    assert_int_equal(pd_run_read_channel(run, 5, 0, "force", &data, &n, &err), PD_EINVAL);

    assert_int_equal(pd_run_event_count(run, SIZE_MAX), 1);
    assert_int_equal(pd_run_event_count(run, 0), 2);
    assert_int_equal(pd_run_event_count(run, 1), 0);
    int64_t t = 0;
    const char *kind = NULL, *text = NULL;
    assert_int_equal(pd_run_event(run, SIZE_MAX, 0, &t, &kind, &text), 0);
    assert_true(t == T0);
    assert_string_equal(kind, "run_start");
    assert_string_equal(text, "operator logged in");
    assert_int_equal(pd_run_event(run, 0, 1, &t, &kind, &text), 0);
    assert_true(t == T0 + 9);
    assert_string_equal(kind, "break");
    assert_int_equal(strlen(text), 199); /* cut to the table's text size */
    assert_int_equal(pd_run_event(run, 0, 2, &t, &kind, &text), PD_EINVAL);
    pd_run_close(run);

    /* The file itself, as h5py/MATLAB see it: NeXus attributes, units, and the folded update. */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t ds = H5Dopen2(f, "/specimen_01/sample/width", H5P_DEFAULT);
    assert_true(ds >= 0);
    assert_true(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &d) >= 0);
    assert_true(d == 10.05);
    H5Dclose(ds);
    assert_true(H5Aexists_by_name(f, "/specimen_01/frame", "signal", H5P_DEFAULT) > 0);
    assert_true(H5Aexists_by_name(f, "/specimen_01/frame/time", "epoch", H5P_DEFAULT) > 0);
    assert_true(H5Aexists_by_name(f, "/specimen_02/thermo/ratio", "units", H5P_DEFAULT) > 0);
    assert_true(H5Lexists(f, "/specimen_02/events", H5P_DEFAULT) > 0);
    H5Fclose(f);
}

static void test_compressed_round_trip(void **state)
{
    (void)state;
    char path[128];
    tmp_path("zip.h5", path, sizeof path);
    struct pd_store_layout l = make_layout(0, 1);
    struct pd_err err = {0};
    struct pd_store *st = NULL;
    assert_ok(pd_store_create(path, &l, &st, &err), err);
    for (size_t from = 0; from < 20000; from += 2500)
        assert_int_equal(append_range(st, 1, 0, from, 2500, &err), 0);
    assert_int_equal(append_range(st, 0, 1, 0, 9, &err), 0);
    assert_ok(pd_store_close(st, 0, NULL, &err), err);

    struct pd_run *run = NULL;
    assert_ok(pd_run_open(path, &run, &err), err);
    assert_int_equal(pd_run_closed_cleanly(run), 1);
    expect_samples(run, 1, 0, 20000);
    expect_samples(run, 0, 1, 9);
    expect_samples(run, 0, 0, 0);
    pd_run_close(run);

    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t ds = H5Dopen2(f, "/specimen_02/frame/force", H5P_DEFAULT);
    hid_t dcpl = H5Dget_create_plist(ds);
    hsize_t chunk = 0;
    assert_int_equal(H5Pget_chunk(dcpl, 1, &chunk), 1);
    assert_int_equal(chunk, PD_STORE_DEFAULT_CHUNK);
    assert_int_equal(H5Pget_nfilters(dcpl), 2); /* shuffle + deflate */
    H5Pclose(dcpl);
    H5Dclose(ds);
    H5Fclose(f);
}

static void test_refuses_existing_path(void **state)
{
    (void)state;
    char path[128];
    tmp_path("exists.h5", path, sizeof path);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("precious", fp);
    fclose(fp);
    struct pd_store_layout l = make_layout(0, -1);
    struct pd_err err = {0};
    struct pd_store *st = (struct pd_store *)&err;
    assert_int_equal(pd_store_create(path, &l, &st, &err), PD_EIO);
    assert_ptr_equal(st, (struct pd_store *)&err); /* output untouched */
    assert_non_null(strstr(err.msg, "exists.h5"));
    assert_non_null(strstr(err.msg, "existing"));
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 8);
}

static void test_bad_layout_leaves_nothing(void **state)
{
    (void)state;
    char path[128];
    tmp_path("bad.h5", path, sizeof path);
    struct pd_err err = {0};
    struct pd_store *st = NULL;

    struct pd_store_layout l = make_layout(0, -1);
    strcpy(instruments[1].channels[1].name, "temperature");
    assert_int_equal(pd_store_create(path, &l, &st, &err), PD_EINVAL);
    assert_non_null(strstr(err.msg, "'temperature' appears twice"));
    assert_false(exists(path));

    l = make_layout(0, -1);
    strcpy(instruments[0].channels[0].name, "time");
    assert_int_equal(pd_store_create(path, &l, &st, &err), PD_EINVAL);
    assert_non_null(strstr(err.msg, "reserved"));

    l = make_layout(0, -1);
    instruments[0].signal = "stress";
    assert_int_equal(pd_store_create(path, &l, &st, &err), PD_EINVAL);
    assert_false(exists(path));

    /* Two NXsample fields of one name fail inside HDF5, after the file exists: it must go away. */
    static const struct pd_store_attr twice[] = {
        {.key = "width", .type = PD_STORE_DOUBLE, .d = 1.0},
        {.key = "width", .type = PD_STORE_DOUBLE, .d = 2.0},
    };
    l = make_layout(0, -1);
    specimens[1].attrs = twice;
    specimens[1].n_attrs = 2;
    assert_int_equal(pd_store_create(path, &l, &st, &err), PD_EIO);
    assert_non_null(strstr(err.msg, "/specimen_02/sample/width (HDF5: name already exists)"));
    assert_false(exists(path));
    assert_null(st);
}

static void test_open_garbage_and_foreign_files(void **state)
{
    (void)state;
    char path[128];
    struct pd_err err = {0};
    struct pd_run *run = NULL;

    tmp_path("garbage.h5", path, sizeof path);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 1000; i++)
        fputs("not hdf5 at all ", fp);
    fclose(fp);
    assert_int_equal(pd_run_open(path, &run, &err), PD_EDATA);
    assert_null(run);
    assert_non_null(strstr(err.msg, "garbage.h5: not a polydaq run file"));

    tmp_path("plain.h5", path, sizeof path);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t g = H5Gcreate2(f, "measurements", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
    H5Fclose(f);
    assert_int_equal(pd_run_open(path, &run, &err), PD_EDATA);
    assert_null(run);
    assert_non_null(strstr(err.msg, "plain.h5: not a polydaq run file (missing /specimen_01)"));

    tmp_path("nothing-here.h5", path, sizeof path);
    assert_int_equal(pd_run_open(path, &run, &err), PD_EIO);
    assert_non_null(strstr(err.msg, "nothing-here.h5"));
}

/* Waits for a forked writer child and asserts it exited 0 (its own steps succeeded). */
static void expect_clean_exit(pid_t pid)
{
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* The writer dies without pd_store_close: what it flushed must be readable, and the file says so. */
static struct pd_store *child_store; /* kept reachable so the child's valgrind sees no leak */

static void test_crashed_writer(void **state)
{
    (void)state;
    char path[128];
    tmp_path("crash.h5", path, sizeof path);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct pd_store_layout l = make_layout(128, -1);
        struct pd_err err = {0};
        if (pd_store_create(path, &l, &child_store, &err) < 0)
            _exit(2);
        int64_t t[300];
        double v[600];
        for (size_t k = 0; k < 300; k++) {
            t[k] = time_of(0, 0, k);
            v[2 * k] = value_of(0, 0, 0, k);
            v[2 * k + 1] = value_of(0, 0, 1, k);
        }
        /* NULL uncertainty/quality: stored as zeros. */
        if (pd_store_append(child_store, 0, 0, 300, t, NULL, NULL, v, &err) < 0 ||
            pd_store_add_event(child_store, 0, T0, "specimen_start", "crash test", &err) < 0 ||
            pd_store_set_specimen_attr(child_store, 0,
                                       &(struct pd_store_attr){.key = "status", .type = PD_STORE_STRING,
                                                               .s = "testing"},
                                       &err) < 0 ||
            pd_store_flush(child_store, &err) < 0)
            _exit(3);
        _exit(0);
    }
    expect_clean_exit(pid);

    struct pd_err err = {0};
    struct pd_run *run = NULL;
    assert_ok(pd_run_open(path, &run, &err), err);
    assert_int_equal(pd_run_closed_cleanly(run), 0);
    assert_string_equal(pd_run_specimen_attr(run, 0, "status"), "testing");
    assert_int_equal(pd_run_event_count(run, 0), 1);
    expect_samples(run, 0, 0, 300);
    expect_samples(run, 1, 1, 0);
    pd_run_close(run);
}

/* Chunks larger than HDF5's default 1 MiB chunk cache, written as the writer thread does (uneven
 * batches, a flush every so often, across a chunk boundary), unfiltered (written past the cache,
 * straight into the file) and compressed (the cache is sized to hold a whole chunk): after the
 * writer dies, everything up to its last flush is there, value for value. */
static void test_large_chunks(void **state)
{
    (void)state;
    const size_t chunk = 196608; /* 1.5 MiB of float64 */
    for (int deflate = -1; deflate <= 1; deflate += 2) {
        char path[128];
        tmp_path(deflate < 0 ? "big-plain.h5" : "big-zip.h5", path, sizeof path);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            struct pd_store_layout l = make_layout(chunk, deflate);
            struct pd_err err = {0};
            if (pd_store_create(path, &l, &child_store, &err) < 0)
                _exit(2);
            size_t k = 0;
            for (int round = 0; round < 3; round++) {
                for (size_t end = k + 70001; k < end; k += 7001)
                    if (append_range(child_store, 0, 0, k, 7001, &err) < 0)
                        _exit(3);
                if (pd_store_flush(child_store, &err) < 0)
                    _exit(4);
            }
            if (append_range(child_store, 0, 0, k, 5000, &err) < 0) /* never flushed */
                _exit(5);
            _exit(0);
        }
        expect_clean_exit(pid);

        struct pd_err err = {0};
        struct pd_run *run = NULL;
        assert_ok(pd_run_open(path, &run, &err), err);
        assert_int_equal(pd_run_closed_cleanly(run), 0);
        expect_samples(run, 0, 0, 3 * 70010); /* past the first chunk's 196608 */
        pd_run_close(run);

        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
        H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl);
        H5Pclose(fapl);
        assert_true(f >= 0);
        hid_t ds = H5Dopen2(f, "/specimen_01/frame/force", H5P_DEFAULT);
        hid_t dcpl = H5Dget_create_plist(ds);
        hsize_t got = 0;
        assert_int_equal(H5Pget_chunk(dcpl, 1, &got), 1);
        assert_int_equal(got, chunk);
        assert_int_equal(H5Pget_nfilters(dcpl), deflate < 0 ? 0 : 2);
        H5Pclose(dcpl);
        H5Dclose(ds);
        H5Fclose(f);
    }
}

/* A reader opens the file while the writer (another process) still appends to it. */
static void test_live_reader(void **state)
{
    (void)state;
    char path[128];
    tmp_path("live.h5", path, sizeof path);
    int to_parent[2], to_child[2];
    assert_int_equal(pipe(to_parent), 0);
    assert_int_equal(pipe(to_child), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(to_parent[0]);
        close(to_child[1]);
        struct pd_store_layout l = make_layout(0, 1);
        struct pd_err err = {0};
        char go = 0;
        if (pd_store_create(path, &l, &child_store, &err) < 0)
            _exit(2);
        for (size_t k = 0; k < 50; k++) {
            int64_t t = time_of(1, 1, k);
            double v[3] = {value_of(1, 1, 0, k), value_of(1, 1, 1, k), value_of(1, 1, 2, k)};
            if (pd_store_append(child_store, 1, 1, 1, &t, NULL, NULL, v, &err) < 0)
                _exit(3);
        }
        if (pd_store_flush(child_store, &err) < 0 || write(to_parent[1], "1", 1) != 1 ||
            read(to_child[0], &go, 1) != 1)
            _exit(4);
        for (size_t k = 50; k < 80; k++) {
            int64_t t = time_of(1, 1, k);
            double v[3] = {value_of(1, 1, 0, k), value_of(1, 1, 1, k), value_of(1, 1, 2, k)};
            if (pd_store_append(child_store, 1, 1, 1, &t, NULL, NULL, v, &err) < 0)
                _exit(5);
        }
        int rc = pd_store_close(child_store, 0, NULL, &err);
        child_store = NULL;
        _exit(rc < 0 ? 6 : 0);
    }
    close(to_parent[1]);
    close(to_child[0]);
    char ready = 0;
    assert_int_equal(read(to_parent[0], &ready, 1), 1);

    struct pd_err err = {0};
    struct pd_run *run = NULL;
    assert_ok(pd_run_open(path, &run, &err), err);
    assert_int_equal(pd_run_closed_cleanly(run), 0);
    expect_samples(run, 1, 1, 50);
    pd_run_close(run);

    assert_int_equal(write(to_child[1], "g", 1), 1);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(to_parent[0]);
    close(to_child[1]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    assert_ok(pd_run_open(path, &run, &err), err);
    assert_int_equal(pd_run_closed_cleanly(run), 1);
    expect_samples(run, 1, 1, 80);
    pd_run_close(run);
}

/* Sequence numbers, overrun records and the per-instrument summary round-trip; appends that go
 * back and forth between specimens (each switch closes and reopens datasets) keep every sample. */
static void test_sequence_overruns_summary(void **state)
{
    (void)state;
    char path[128];
    tmp_path("seq.h5", path, sizeof path);
    struct pd_store_layout l = make_layout(64, -1);
    struct pd_err err = {0};
    struct pd_store *st = NULL;
    assert_ok(pd_store_create(path, &l, &st, &err), err);
    int64_t t[10];
    uint64_t seq[10];
    double v[20];
    for (size_t k = 0; k < 10; k++) {
        t[k] = time_of(0, 0, k);
        seq[k] = k;
        v[2 * k] = value_of(0, 0, 0, k);
        v[2 * k + 1] = value_of(0, 0, 1, k);
    }
    assert_ok(pd_store_append_seq(st, 0, 0, 10, t, NULL, NULL, seq, v, &err), err);
    struct pd_store_overrun o = {.instrument = 0, .specimen = 1, .first_seq = 10, .last_seq = 14, .count = 5,
                                 .t_first_utc_ns = T0 + 1, .t_last_utc_ns = T0 + 2};
    assert_ok(pd_store_add_overrun(st, &o, &err), err);
    o.instrument = 7;
    assert_int_equal(pd_store_add_overrun(st, &o, &err), PD_EINVAL);
    for (size_t k = 0; k < 10; k++) {
        t[k] = time_of(1, 0, k);
        seq[k] = 15 + k;
        v[2 * k] = value_of(1, 0, 0, k);
        v[2 * k + 1] = value_of(1, 0, 1, k);
    }
    assert_ok(pd_store_append_seq(st, 1, 0, 10, t, NULL, NULL, seq, v, &err), err);
    assert_ok(pd_store_flush(st, &err), err);
    /* back to specimen 1 after 2, unnumbered: numbering continues after 24 */
    assert_int_equal(append_range(st, 0, 0, 10, 5, &err), 0);
    struct pd_store_attr summary[] = {
        {.key = "poll_rate_hz", .type = PD_STORE_DOUBLE, .d = 500, .units = "Hz"},
        {.key = "samples_acquired", .type = PD_STORE_INT, .i = 30},
    };
    assert_ok(pd_store_set_instrument_summary(st, 0, 2, summary, &err), err);
    summary[1].i = 30;
    assert_ok(pd_store_set_instrument_summary(st, 0, 2, summary, &err), err); /* replaces */
    assert_int_equal(pd_store_set_instrument_summary(st, 2, 2, summary, &err), PD_EINVAL);
    assert_ok(pd_store_close(st, 0, NULL, &err), err);

    struct pd_run *run = NULL;
    assert_ok(pd_run_open(path, &run, &err), err);
    expect_samples(run, 0, 0, 15);
    expect_samples(run, 1, 0, 10);
    uint64_t *sq = NULL;
    size_t n = 0;
    assert_ok(pd_run_read_sequence(run, 0, 0, &sq, &n, &err), err);
    assert_int_equal(n, 15);
    for (size_t k = 0; k < 15; k++)
        assert_int_equal(sq[k], k < 10 ? k : 25 + (k - 10));
    free(sq);
    assert_ok(pd_run_read_sequence(run, 1, 0, &sq, &n, &err), err);
    assert_int_equal(n, 10);
    assert_int_equal(sq[0], 15);
    free(sq);
    assert_int_equal(pd_run_overrun_count(run), 1);
    struct pd_store_overrun got;
    assert_int_equal(pd_run_overrun(run, 0, &got), 0);
    assert_int_equal(got.instrument, 0);
    assert_int_equal(got.specimen, 1);
    assert_int_equal(got.first_seq, 10);
    assert_int_equal(got.last_seq, 14);
    assert_int_equal(got.count, 5);
    assert_true(got.t_first_utc_ns == T0 + 1 && got.t_last_utc_ns == T0 + 2);
    assert_int_equal(pd_run_overrun(run, 1, &got), PD_EINVAL);
    assert_string_equal(pd_run_summary_attr(run, 0, "samples_acquired"), "30");
    assert_string_equal(pd_run_summary_attr(run, 0, "poll_rate_hz"), "500");
    assert_null(pd_run_summary_attr(run, 1, "samples_acquired"));
    pd_run_close(run);
}

/* Appending in place: reserve hands out room inside the chunk being assembled (never across its
 * end), commit adds only the rows it is told, and a reservation ended by another call cannot be
 * committed any more. Specimens are switched back and forth on a filtered layout, so a partly
 * written compressed chunk is read back and rewritten whole. */
static void test_reserve_commit(void **state)
{
    (void)state;
    char path[128];
    tmp_path("slot.h5", path, sizeof path);
    struct pd_store_layout l = make_layout(100, 1);
    struct pd_err err = {0};
    struct pd_store *st = NULL;
    assert_ok(pd_store_create(path, &l, &st, &err), err);

    struct pd_store_slot slot;
    size_t n = 0;
    assert_ok(pd_store_append_reserve(st, 0, 0, 1000, &slot, &n, &err), err);
    assert_int_equal(n, 100); /* the chunk's room, not more */
    assert_null(slot.columns[2]); /* the frame has two channels */
    for (size_t k = 0; k < 30; k++) {
        slot.t_utc_ns[k] = time_of(0, 0, k);
        slot.t_unc_ns[k] = (int64_t)k % 977;
        slot.quality[k] = (uint32_t)(k % 8);
        slot.seq[k] = k;
        for (size_t c = 0; c < 2; c++)
            slot.columns[c][k] = value_of(0, 0, c, k);
    }
    slot.t_utc_ns[30] = 0; /* written, never committed: not part of the file */
    assert_int_equal(pd_store_append_commit(st, 31 + 70, &err), PD_EINVAL); /* more than reserved */
    assert_non_null(strstr(err.msg, "more rows than reserved"));
    assert_ok(pd_store_append_commit(st, 30, &err), err);
    assert_int_equal(pd_store_append_commit(st, 1, &err), PD_EINVAL); /* nothing open any more */
    assert_non_null(strstr(err.msg, "no open reservation"));

    /* 30 rows taken: 70 left in this chunk */
    assert_ok(pd_store_append_reserve(st, 0, 0, 1000, &slot, &n, &err), err);
    assert_int_equal(n, 70);
    assert_ok(pd_store_flush(st, &err), err); /* ends the reservation uncommitted */
    assert_int_equal(pd_store_append_commit(st, 5, &err), PD_EINVAL);
    assert_ok(pd_store_append_reserve(st, 1, 0, 1, &slot, &n, &err), err);
    assert_int_equal(n, 1);
    assert_ok(pd_store_append_commit(st, 0, &err), err); /* commits nothing */

    /* back and forth: 30 → 45 (specimen 2 in between) → 250 rows, across chunk ends */
    assert_int_equal(append_range(st, 1, 0, 0, 17, &err), 0);
    assert_int_equal(append_range(st, 0, 0, 30, 15, &err), 0);
    assert_int_equal(append_range(st, 1, 0, 17, 200, &err), 0);
    assert_int_equal(append_range(st, 0, 0, 45, 205, &err), 0);
    assert_int_equal(pd_store_append_reserve(st, 9, 0, 1, &slot, &n, &err), PD_EINVAL);
    assert_int_equal(pd_store_append_reserve(st, 0, 0, 0, &slot, &n, &err), PD_EINVAL);
    assert_ok(pd_store_close(st, 0, NULL, &err), err);

    struct pd_run *run = NULL;
    assert_ok(pd_run_open(path, &run, &err), err);
    expect_samples(run, 0, 0, 250);
    expect_samples(run, 1, 0, 217);
    uint32_t *q = NULL;
    assert_ok(pd_run_read_quality(run, 0, 0, &q, &n, &err), err);
    assert_int_equal(n, 250);
    for (size_t k = 0; k < n; k++)
        assert_int_equal(q[k], k % 8);
    free(q);
    pd_run_close(run);
}

/* Writes samples [0, n) of the frame into specimen 1 of a new compressed file, flushing after
 * every `per_flush` of them; returns the file's size. */
static off_t write_flushed(const char *path, size_t n, size_t per_flush)
{
    struct pd_store_layout l = make_layout(4096, 1);
    struct pd_err err = {0};
    struct pd_store *st = NULL;
    assert_ok(pd_store_create(path, &l, &st, &err), err);
    for (size_t from = 0; from < n; from += per_flush) {
        assert_int_equal(append_range(st, 0, 0, from, per_flush, &err), 0);
        assert_ok(pd_store_flush_nosync(st, &err), err);
    }
    assert_ok(pd_store_close(st, 0, NULL, &err), err);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_size;
}

/* Flushing often does not bloat a compressed file: a chunk rewritten at every flush keeps its
 * place in the file (under SWMR, HDF5 never reuses the place of a chunk that moved; files
 * flushed every 100 samples used to grow by about a chunk per flush). */
static void test_frequent_flushes_keep_size(void **state)
{
    (void)state;
    char once[128], often[128];
    tmp_path("flush-once.h5", once, sizeof once);
    tmp_path("flush-often.h5", often, sizeof often);
    const size_t n = 40000;
    off_t size_once = write_flushed(once, n, n);
    off_t size_often = write_flushed(often, n, 100); /* 400 flushes, ~40 per chunk */
    print_message("compressed file flushed once %lld bytes, every 100 samples %lld bytes (%.2fx)\n",
                  (long long)size_once, (long long)size_often, (double)size_often / (double)size_once);
    assert_true(size_often < 2 * size_once);

    struct pd_err err = {0};
    struct pd_run *run = NULL;
    assert_ok(pd_run_open(often, &run, &err), err);
    expect_samples(run, 0, 0, n);
    pd_run_close(run);
}

/* A writer killed after a flush: recover copies what was flushed into a file a plain open reads. */
static void test_recover(void **state)
{
    (void)state;
    char path[128], out[128];
    tmp_path("dead.h5", path, sizeof path);
    tmp_path("dead-recovered.h5", out, sizeof out);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct pd_store_layout l = make_layout(0, 1);
        struct pd_err err = {0};
        if (pd_store_create(path, &l, &child_store, &err) < 0 || append_range(child_store, 0, 0, 0, 3000, &err) < 0 ||
            append_range(child_store, 1, 1, 0, 7, &err) < 0 ||
            pd_store_add_event(child_store, SIZE_MAX, T0, "run_start", "x", &err) < 0 ||
            pd_store_flush(child_store, &err) < 0 || append_range(child_store, 0, 0, 3000, 100, &err) < 0)
            _exit(3);
        _exit(0); /* no close, no flush of the last 100 */
    }
    expect_clean_exit(pid);

    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f < 0); /* the SWMR mark refuses a plain open */
    struct pd_err err = {0};
    assert_ok(pd_store_recover(path, out, &err), err);
    assert_int_equal(pd_store_recover(path, out, &err), PD_EIO); /* never overwrites */
    f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    H5Fclose(f);
    struct pd_run *run = NULL;
    assert_ok(pd_run_open(out, &run, &err), err);
    assert_int_equal(pd_run_closed_cleanly(run), 0);
    assert_string_equal(pd_run_attr(run, "recovered"), "1");
    assert_string_equal(pd_run_attr(run, "run_id"), "R-2026-0042");
    expect_samples(run, 0, 0, 3000);
    expect_samples(run, 1, 1, 7);
    assert_int_equal(pd_run_event_count(run, SIZE_MAX), 1);
    pd_run_close(run);

    char garbage[128];
    tmp_path("garbage.bin", garbage, sizeof garbage);
    FILE *g = fopen(garbage, "w");
    assert_non_null(g);
    fputs("not hdf5", g);
    fclose(g);
    tmp_path("garbage-out.h5", out, sizeof out);
    assert_int_equal(pd_store_recover(garbage, out, &err), PD_EDATA);
}

/* A live writer's file is refused by recover, naming the writer's pid: in this process, and in a
 * child until it is killed (kill -9 takes the lock along); after a clean close it is free again. */
static void test_live_file_refused(void **state)
{
    (void)state;
    char path[128], out[128], msg[64];
    tmp_path("held.h5", path, sizeof path);
    tmp_path("held-recovered.h5", out, sizeof out);
    struct pd_store_layout l = make_layout(0, -1);
    struct pd_err err = {0};
    struct pd_store *st = NULL;
    assert_ok(pd_store_create(path, &l, &st, &err), err);
    assert_ok(append_range(st, 0, 0, 0, 50, &err), err);
    assert_ok(pd_store_flush(st, &err), err);
    int claim = -1;
    assert_int_equal(pd_store_claim(path, &claim, &err), PD_EBUSY);
    assert_int_equal(claim, -1); /* output untouched */
    snprintf(msg, sizeof msg, "process %ld)", (long)getpid());
    assert_non_null(strstr(err.msg, msg));
    assert_non_null(strstr(err.msg, path));
    assert_int_equal(pd_store_recover(path, out, &err), PD_EBUSY);
    assert_false(exists(out));
    assert_ok(append_range(st, 0, 0, 50, 25, &err), err); /* the refused recover changed nothing */
    assert_ok(pd_store_close(st, 0, NULL, &err), err);
    assert_ok(pd_store_claim(path, &claim, &err), err);
    assert_true(claim >= 0);
    pd_store_unclaim(claim);
    struct pd_run *run = NULL;
    assert_ok(pd_run_open(path, &run, &err), err);
    assert_int_equal(pd_run_closed_cleanly(run), 1);
    expect_samples(run, 0, 0, 75);
    pd_run_close(run);

    /* a writer in a child process, killed with SIGKILL while live */
    tmp_path("killed.h5", path, sizeof path);
    tmp_path("killed-recovered.h5", out, sizeof out);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        if (pd_store_create(path, &l, &child_store, &err) < 0 || append_range(child_store, 0, 0, 0, 40, &err) < 0 ||
            pd_store_flush(child_store, &err) < 0)
            _exit(3);
        if (write(ready[1], "r", 1) != 1)
            _exit(4);
        for (;;)
            pause();
    }
    close(ready[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    assert_int_equal(pd_store_claim(path, &claim, &err), PD_EBUSY);
    snprintf(msg, sizeof msg, "process %ld)", (long)pid);
    assert_non_null(strstr(err.msg, msg));
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_ok(pd_store_recover(path, out, &err), err);
    assert_ok(pd_run_open(out, &run, &err), err);
    expect_samples(run, 0, 0, 40);
    pd_run_close(run);
}

/* A run whose path was moved away and replaced while it was live writes its end into no other
 * file: the close fails naming why, the stranger is byte for byte as it was, and the run's data
 * are all in its own file (recoverable). */
static void test_close_keeps_to_its_own_file(void **state)
{
    (void)state;
    char path[128], moved[128], out[128];
    tmp_path("replaced.h5", path, sizeof path);
    tmp_path("replaced-own.h5", moved, sizeof moved);
    tmp_path("replaced-recovered.h5", out, sizeof out);
    struct pd_store_layout l = make_layout(0, -1);
    struct pd_err err = {0};
    struct pd_store *st = NULL;
    assert_ok(pd_store_create(path, &l, &st, &err), err);
    assert_ok(append_range(st, 0, 0, 0, 60, &err), err);
    assert_ok(pd_store_flush(st, &err), err);
    assert_int_equal(rename(path, moved), 0);
    static const char stranger[] = "a file this run did not create\n";
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(stranger, f);
    fclose(f);
    assert_ok(append_range(st, 0, 0, 60, 30, &err), err); /* appends go on into its own file */
    assert_int_equal(pd_store_close(st, 0, NULL, &err), PD_ESTATE);
    assert_non_null(strstr(err.msg, "no longer names the file this run created"));
    char back[128] = "";
    f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(back, 1, sizeof back - 1, f);
    fclose(f);
    back[n] = '\0';
    assert_string_equal(back, stranger);
    assert_ok(pd_store_recover(moved, out, &err), err);
    struct pd_run *run = NULL;
    assert_ok(pd_run_open(out, &run, &err), err);
    assert_int_equal(pd_run_closed_cleanly(run), 0);
    expect_samples(run, 0, 0, 90);
    pd_run_close(run);
}

/* The writer thread's flush leaves the fsync to another thread: what it flushed is still all there
 * after the process dies (nothing of what came after), as with pd_store_flush. */
static void test_flush_nosync_survives_crash(void **state)
{
    (void)state;
    char path[128];
    tmp_path("nosync.h5", path, sizeof path);
    struct pd_err err = {0};
    assert_int_equal(pd_store_flush_nosync(NULL, &err), PD_EINVAL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct pd_store_layout l = make_layout(0, -1);
        if (pd_store_create(path, &l, &child_store, &err) < 0 || append_range(child_store, 0, 0, 0, 2000, &err) < 0 ||
            pd_store_add_event(child_store, 0, T0, "specimen_start", "nosync", &err) < 0 ||
            pd_store_flush_nosync(child_store, &err) < 0 || append_range(child_store, 0, 0, 2000, 500, &err) < 0 ||
            pd_store_flush_nosync(child_store, &err) < 0 || append_range(child_store, 0, 0, 2500, 100, &err) < 0)
            _exit(3);
        _exit(0); /* no close: the last 100 were never flushed */
    }
    expect_clean_exit(pid);
    struct pd_run *run = NULL;
    assert_ok(pd_run_open(path, &run, &err), err);
    assert_int_equal(pd_run_closed_cleanly(run), 0);
    expect_samples(run, 0, 0, 2500);
    assert_int_equal(pd_run_event_count(run, 0), 1);
    pd_run_close(run);
}

/* The file system refuses a write (here the file size limit, as when the disk is full): the store
 * reports it naming the reason, and closing the broken file neither crashes now nor at exit. */
static void test_write_error(void **state)
{
    (void)state;
    char path[128];
    tmp_path("full.h5", path, sizeof path);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        /* The program has turned HDF5's error printing off (as a caller may): the store still
         * reports the reason. */
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        struct pd_store_layout l = make_layout(256, -1);
        struct pd_err err = {0};
        if (pd_store_create(path, &l, &child_store, &err) < 0)
            _exit(2);
        struct stat sb;
        if (stat(path, &sb) < 0)
            _exit(3);
        struct rlimit rl = {.rlim_cur = (rlim_t)sb.st_size + 65536, .rlim_max = RLIM_INFINITY};
        if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
            _exit(4);
        int rc = 0;
        for (size_t k = 0; rc == 0 && k < 200; k++) {
            rc = append_range(child_store, 0, 0, k * 1000, 1000, &err);
            if (rc == 0)
                rc = pd_store_flush(child_store, &err);
        }
        if (rc != PD_EIO || !strstr(err.msg, "File too large"))
            _exit(5);
        rc = pd_store_close(child_store, 0, NULL, &err);
        child_store = NULL;
        exit(rc == PD_EIO ? 0 : 6); /* exit(), not _exit(): HDF5's own clean-up runs too */
    }
    expect_clean_exit(pid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_compressed_round_trip),
        cmocka_unit_test(test_refuses_existing_path),
        cmocka_unit_test(test_bad_layout_leaves_nothing),
        cmocka_unit_test(test_open_garbage_and_foreign_files),
        cmocka_unit_test(test_crashed_writer),
        cmocka_unit_test(test_large_chunks),
        cmocka_unit_test(test_live_reader),
        cmocka_unit_test(test_sequence_overruns_summary),
        cmocka_unit_test(test_reserve_commit),
        cmocka_unit_test(test_frequent_flushes_keep_size),
        cmocka_unit_test(test_recover),
        cmocka_unit_test(test_live_file_refused),
        cmocka_unit_test(test_close_keeps_to_its_own_file),
        cmocka_unit_test(test_flush_nosync_survives_crash),
        cmocka_unit_test(test_write_error),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
