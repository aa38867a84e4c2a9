/* write.c — a run file from parsed exports, in the schema of an acquired ISO 527 run: run
 * attributes (marked imported, with the sources' names and SHA-256), one instrument group with
 * force / extension / crosshead (and the export's other columns), one specimen per export with its
 * dimensions, status "tested". The samples go in through the store's append-in-place API. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/import_internal.h"
#include "pd_version.h"
#include "store/store.h"

#define SATTR(k, v) (struct pd_store_attr){.key = (k), .type = PD_STORE_STRING, .s = (v)}
#define DATTR(k, v, u) (struct pd_store_attr){.key = (k), .type = PD_STORE_DOUBLE, .d = (v), .units = (u)}
#define IATTR(k, v) (struct pd_store_attr){.key = (k), .type = PD_STORE_INT, .i = (v)}

/* A growing text buffer for the joined lists (file names, hashes); `failed` once memory ran out. */
struct text {
    char *s;
    size_t len, cap;
    bool failed;
};
static void text_add(struct text *t, const char *sep, const char *s)
{
    size_t need = t->len + strlen(sep) + strlen(s) + 1;
    if (need > t->cap) {
        size_t cap = need * 2;
        char *p = realloc(t->s, cap);
        if (!p) {
            t->failed = true;
            return;
        }
        t->s = p;
        t->cap = cap;
    }
    t->len += (size_t)sprintf(t->s + t->len, "%s%s", t->len ? sep : "", s);
}

static const char *origin_name(enum imp_origin o)
{
    return o == IMP_FROM_HEADER ? "export header" : o == IMP_FROM_CLI ? "command line" : o == IMP_FROM_MAP ? "map" : "-";
}

/* Copies one specimen's channels into the store, chunk by chunk, converting as it goes. */
static int append_specimen(struct pd_store *st, size_t s, const struct imp_source *src, const int *chan_of_col,
                           int64_t t0_ns, struct pd_err *err)
{
    size_t time_col = 0;
    for (size_t c = 0; c < src->n_cols; c++)
        if (src->cols[c].q == IMP_TIME)
            time_col = c;
    const double tscale = src->cols[time_col].scale * 1e9;
    const double *traw = src->raw[time_col];
    size_t done = 0;
    while (done < src->n) {
        struct pd_store_slot slot;
        size_t room = 0;
        int rc = pd_store_append_reserve(st, s, 0, src->n - done, &slot, &room, err);
        if (rc < 0)
            return rc;
        size_t k = room < src->n - done ? room : src->n - done;
        for (size_t i = 0; i < k; i++)
            slot.t_utc_ns[i] = t0_ns + llround(traw[done + i] * tscale);
        if (slot.t_unc_ns)
            memset(slot.t_unc_ns, 0, k * sizeof *slot.t_unc_ns);
        if (slot.quality)
            memset(slot.quality, 0, k * sizeof *slot.quality);
        if (slot.seq)
            for (size_t i = 0; i < k; i++)
                slot.seq[i] = done + i;
        for (size_t c = 0; c < src->n_cols; c++) {
            int ch = chan_of_col[c];
            if (ch < 0)
                continue;
            const struct imp_column *col = &src->cols[c];
            const double *in = src->raw[c] + done;
            double *out = slot.columns[ch];
            double f = col->scale;
            if (col->strain)
                f *= src->gauge_length;
            double zero = col->relative ? src->raw[c][0] * f : 0.0;
            for (size_t i = 0; i < k; i++)
                out[i] = in[i] * f - zero;
        }
        if ((rc = pd_store_append_commit(st, k, err)) < 0)
            return rc;
        done += k;
    }
    return 0;
}

int imp_write_run(const struct imp_run *run, const char *tmp_path, struct pd_err *err)
{
    const struct imp_map *map = run->map;
    const struct imp_source *first = &run->src[0];
    /* channels: force, extension, crosshead in that order, then the extras of the first export */
    struct pd_store_instrument inst;
    memset(&inst, 0, sizeof inst);
    pd_strlcpy(inst.name, map->instrument[0] ? map->instrument : "frame", sizeof inst.name);
    int chan_of_col[IMP_MAX_COLUMNS];
    static const enum imp_quantity order[] = {IMP_FORCE, IMP_EXTENSION, IMP_CROSSHEAD, IMP_EXTRA};
    for (size_t c = 0; c < first->n_cols; c++)
        chan_of_col[c] = -1;
    for (size_t o = 0; o < sizeof order / sizeof order[0]; o++)
        for (size_t c = 0; c < first->n_cols; c++)
            if (first->cols[c].q == order[o] && inst.n_channels < PD_STORE_MAX_CHANNELS) {
                chan_of_col[c] = (int)inst.n_channels;
                pd_strlcpy(inst.channels[inst.n_channels].name, first->cols[c].name, PD_STORE_NAME_MAX);
                pd_strlcpy(inst.channels[inst.n_channels].unit, first->cols[c].unit, PD_STORE_UNIT_MAX);
                inst.n_channels++;
                if (order[o] == IMP_EXTENSION)
                    inst.axes = "extension";
            }
    inst.signal = "force";
    if (!inst.axes)
        for (size_t c = 0; c < first->n_cols; c++)
            if (first->cols[c].q == IMP_CROSSHEAD)
                inst.axes = "crosshead";

    const char *software = map->software[0] ? map->software : run->software;
    char model[192];
    snprintf(model, sizeof model, "%s", map->model[0] ? map->model : first->machine[0] ? first->machine : "");
    struct pd_store_attr ia[20];
    size_t ni = 0;
    char driver[48];
    snprintf(driver, sizeof driver, "import:%s", pd_import_format_name(run->opt->format));
    ia[ni++] = SATTR("driver", driver);
    ia[ni++] = SATTR("manufacturer", map->manufacturer);
    ia[ni++] = SATTR("model", model);
    ia[ni++] = SATTR("serial_number", map->serial);
    ia[ni++] = SATTR("firmware", "");
    ia[ni++] = SATTR("calibration_date", map->cal_date);
    ia[ni++] = SATTR("calibration_due", map->cal_due);
    ia[ni++] = SATTR("calibration_certificate", map->cal_certificate);
    ia[ni++] = IATTR("simulated", 0);
    ia[ni++] = IATTR("imported", 1);
    ia[ni++] = SATTR("import_software", software);
    ia[ni++] = SATTR("calibration_source", map->cal_due[0] ? "import map (the lab's record of the source instrument)"
                                                           : "none: the source instrument's calibration was not recorded");
    if (first->load_cell[0])
        ia[ni++] = SATTR("load_cell", first->load_cell);
    if (first->extensometer[0])
        ia[ni++] = SATTR("extensometer", first->extensometer);
    ia[ni++] = SATTR("map", map->doc ? pd_cfg_source_text(map->doc) : "");
    inst.attrs = ia;
    inst.n_attrs = ni;

    /* run attributes */
    struct text files = {0}, hashes = {0};
    for (size_t i = 0; i < run->n_src; i++) {
        text_add(&files, "\n", run->src[i].name);
        text_add(&hashes, "\n", run->src[i].sha256);
    }
    char start[40] = "", end_time[40] = "";
    int64_t t_last = run->t0_ns;
    for (size_t i = 0; i < run->n_src; i++) {
        const struct imp_source *s = &run->src[i];
        for (size_t c = 0; c < s->n_cols; c++)
            if (s->cols[c].q == IMP_TIME) {
                int64_t t = run->t0_ns + llround(s->raw[c][s->n - 1] * s->cols[c].scale * 1e9);
                if (t > t_last)
                    t_last = t;
            }
    }
    if (run->have_date) {
        pd_time_format_iso8601(run->t0_ns, start, sizeof start);
        pd_time_format_iso8601(t_last, end_time, sizeof end_time);
    }
    struct pd_store_attr ra[40];
    size_t nr = 0;
    ra[nr++] = SATTR("run_id", run->run_id);
    ra[nr++] = SATTR("method", map->method[0] ? map->method : "iso527");
    ra[nr++] = SATTR("operator", map->operator_name[0] ? map->operator_name : first->operator_name);
    ra[nr++] = SATTR("lab_name", map->lab_name);
    ra[nr++] = SATTR("material", map->material);
    ra[nr++] = SATTR("software", "polydaq " PD_VERSION_STRING " (import)");
    ra[nr++] = SATTR("software_version", PD_VERSION_STRING);
    if (run->have_date) {
        ra[nr++] = SATTR("start_time", start);
        ra[nr++] = IATTR("start_time_ns", run->t0_ns);
    }
    ra[nr++] = IATTR("simulated", 0);
    ra[nr++] = IATTR("imported", 1);
    ra[nr++] = SATTR("import_format", pd_import_format_name(run->opt->format));
    ra[nr++] = SATTR("import_software", software);
    ra[nr++] = SATTR("import_files", files.s ? files.s : "");
    ra[nr++] = SATTR("import_sha256", hashes.s ? hashes.s : "");
    ra[nr++] = SATTR("import_strain", run->strain_note);
    ra[nr++] = SATTR("import_time_origin", run->date_note);
    ra[nr++] = SATTR("import_header", first->header_text ? first->header_text : "");
    if (first->date_text[0])
        ra[nr++] = SATTR("import_date_text", first->date_text);
    if (first->speed_v1[0])
        ra[nr++] = SATTR("import_speed_v1", first->speed_v1);
    if (first->speed_v2[0])
        ra[nr++] = SATTR("import_speed_v2", first->speed_v2);
    if (map->doc) {
        ra[nr++] = SATTR("config_file", pd_cfg_source_name(map->doc));
        ra[nr++] = SATTR("config_text", pd_cfg_source_text(map->doc));
    }
    ra[nr++] = IATTR("deflate_level", run->opt->deflate_level);

    /* specimens */
    struct pd_store_specimen *sp = calloc(run->n_src, sizeof *sp);
    struct pd_store_attr(*sa)[16] = calloc(run->n_src, sizeof *sa);
    char(*dims_from)[200] = calloc(run->n_src, sizeof *dims_from);
    int rc = 0;
    if (!sp || !sa || !dims_from || !files.s || !hashes.s || files.failed || hashes.failed)
        rc = pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; i < run->n_src && rc == 0; i++) {
        const struct imp_source *s = &run->src[i];
        if (s->specimen_id[0])
            snprintf(sp[i].id, sizeof sp[i].id, "%s", s->specimen_id);
        else if (map->specimen_id[0] && run->n_src == 1)
            snprintf(sp[i].id, sizeof sp[i].id, "%s", map->specimen_id);
        else
            snprintf(sp[i].id, sizeof sp[i].id, "%.48s-S%02zu", run->run_id, (i + 1) % 1000);
        snprintf(dims_from[i], sizeof dims_from[i], "width: %s, thickness: %s, gauge_length: %s, grip_distance: %s",
                 origin_name(s->width_from), origin_name(s->thickness_from), origin_name(s->gauge_from),
                 origin_name(s->grip_from));
        size_t k = 0;
        struct pd_store_attr *a = sa[i];
        if (map->specimen_type[0])
            a[k++] = SATTR("type", map->specimen_type);
        a[k++] = DATTR("width", s->width, "mm");
        a[k++] = DATTR("thickness", s->thickness, "mm");
        a[k++] = DATTR("gauge_length", s->gauge_length, "mm");
        if (isfinite(s->grip_distance))
            a[k++] = DATTR("grip_distance", s->grip_distance, "mm");
        a[k++] = SATTR("material", map->material);
        a[k++] = SATTR("dimensions_source", dims_from[i]);
        a[k++] = SATTR("source_file", s->name);
        a[k++] = SATTR("source_sha256", s->sha256);
        for (size_t c = 0; c < s->n_cols; c++)
            if (s->cols[c].q == IMP_CROSSHEAD && s->cols[c].relative)
                a[k++] = DATTR("crosshead_zero", s->raw[c][0] * s->cols[c].scale, "mm");
        sp[i].attrs = a;
        sp[i].n_attrs = k;
    }
    struct pd_store_layout layout = {
        .n_run_attrs = nr,
        .run_attrs = ra,
        .n_instruments = 1,
        .instruments = &inst,
        .n_specimens = run->n_src,
        .specimens = sp,
        .chunk_samples = PD_STORE_DEFAULT_CHUNK,
        .deflate_level = run->opt->deflate_level,
    };
    struct pd_store *st = NULL;
    if (rc == 0)
        rc = pd_store_create(tmp_path, &layout, &st, err);
    size_t total = 0;
    for (size_t i = 0; i < run->n_src && rc == 0; i++) {
        const struct imp_source *s = &run->src[i];
        int chan[IMP_MAX_COLUMNS];
        /* every export of a series has the first one's columns (checked by the caller) */
        memcpy(chan, chan_of_col, sizeof chan);
        rc = append_specimen(st, i, s, chan, run->t0_ns, err);
        char text[200];
        snprintf(text, sizeof text, "imported from %s (sha256 %.16s…)", s->name, s->sha256);
        int64_t t_first = run->t0_ns;
        for (size_t c = 0; c < s->n_cols; c++)
            if (s->cols[c].q == IMP_TIME)
                t_first = run->t0_ns + llround(s->raw[c][0] * s->cols[c].scale * 1e9);
        if (rc == 0)
            rc = pd_store_add_event(st, i, t_first, "import", text, err);
        struct pd_store_attr status = SATTR("status", "tested");
        if (rc == 0)
            rc = pd_store_set_specimen_attr(st, i, &status, err);
        total += s->n;
    }
    if (st) {
        struct pd_store_attr fa[3];
        size_t nf = 0;
        if (run->have_date)
            fa[nf++] = SATTR("end_time", end_time);
        fa[nf++] = IATTR("specimens_tested", (int64_t)run->n_src);
        fa[nf++] = IATTR("samples_written", (int64_t)total);
        struct pd_err close_err;
        pd_err_clear(&close_err);
        int crc = pd_store_close(st, rc == 0 ? nf : 0, fa, &close_err);
        if (rc == 0 && crc < 0) {
            *err = close_err;
            rc = crc;
        }
    }
    free(sp);
    free(sa);
    free(dims_from);
    free(files.s);
    free(hashes.s);
    return rc;
}
