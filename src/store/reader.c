/* reader.c — opens a run file (finished, crashed or still being written) and reads it back; the HDF5
 * side runs in a limited child process (isolate.c), the caller's side holds a snapshot of the run's
 * attributes, specimens, instruments and events and asks the child for the samples. */
#include "store/store_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Key/value text pairs in file order; a later set of the same key replaces the value in place. */
struct kv {
    char *key;
    char *val;
};
struct kvlist {
    struct kv *v;
    size_t n;
};

struct events_r {
    struct pd_store_event_row *rows;
    size_t n;
};

struct instrument_r {
    char name[PD_STORE_NAME_MAX];
    size_t n_channels;
    struct pd_store_channel ch[PD_STORE_MAX_CHANNELS];
    struct kvlist attrs;
    struct kvlist summary; /* /acquisition/<name> */
};

struct specimen_r {
    char group[32];
    char *id;
    struct kvlist attrs;
    struct events_r ev;
};

/* Datasets held open since the foreign-content walk opened them (it opens every one of them):
 * reading the run's fields and columns then takes the open handle instead of opening the dataset
 * again by its path (an open is most of what a small read costs). At most KEPT_MAX: a file with
 * more datasets has the rest opened when read, as before. */
#define KEPT_MAX 512
struct kept_dataset {
    char *name; /* the path without its leading '/' */
    hid_t id;
};
struct kept_datasets {
    struct kept_dataset *v;
    size_t n;
};

struct pd_run {
    char *path;
    struct pd_run_child *child; /* the process that reads the file; NULL: this one does (the child's own run) */
    hid_t file;                 /* -1 when a child reads the file */
    int swmr; /* opened while a writer may still be appending: refresh before sizing a dataset */
    struct pd_chunk_decoder *decoder; /* this process's decoder of its columns (made on first use) */
    struct kept_datasets kept;        /* datasets the foreign-content walk opened, kept for reading */
    struct kvlist attrs;
    size_t n_specimens, n_instruments;
    struct specimen_r *spec;
    struct instrument_r *instr;
    struct events_r ev;
    struct pd_store_overrun_row *overruns;
    size_t n_overruns;
};

/* ---- Small containers ----------------------------------------------------------------------*/

static const char *kv_get(const struct kvlist *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].key, key) == 0)
            return l->v[i].val;
    return NULL;
}

/* Takes ownership of `val` (also on failure). */
static int kv_set(struct kvlist *l, const char *key, char *val)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].key, key) == 0) {
            free(l->v[i].val);
            l->v[i].val = val;
            return 0;
        }
    char *k = strdup(key);
    struct kv *p = k ? realloc(l->v, (l->n + 1) * sizeof *p) : NULL;
    if (!p) {
        free(k);
        free(val);
        return -1;
    }
    l->v = p;
    l->v[l->n].key = k;
    l->v[l->n].val = val;
    l->n++;
    return 0;
}

static int kv_set_copy(struct kvlist *l, const char *key, const char *val)
{
    char *v = strdup(val);
    if (!v)
        return -1;
    return kv_set(l, key, v);
}

static void kv_free(struct kvlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].key);
        free(l->v[i].val);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* ---- Values as text ------------------------------------------------------------------------*/

/* A scalar attribute (is_attr) or dataset as text: strings as they are, numbers formatted.
 * NULL for what has no single-value text form (arrays, compounds) or on failure. */
static char *value_text(hid_t id, int is_attr)
{
    /* A scalar needs a few bytes of conversion buffer; the default transfer list has HDF5 allocate
     * and clear 1 MiB for each read, which was most of the cost of opening a run. */
    hid_t xfer = is_attr ? H5P_DEFAULT : H5Pcreate(H5P_DATASET_XFER);
    if (xfer < 0 || (!is_attr && H5Pset_buffer(xfer, 4096, NULL, NULL) < 0)) {
        if (xfer > 0 && xfer != H5P_DEFAULT)
            H5Pclose(xfer);
        xfer = H5P_DEFAULT;
    }
    hid_t type = is_attr ? H5Aget_type(id) : H5Dget_type(id);
    hid_t space = is_attr ? H5Aget_space(id) : H5Dget_space(id);
    char *out = NULL;
    if (type < 0 || space < 0 || H5Sget_simple_extent_npoints(space) != 1)
        goto done;
    H5T_class_t cls = H5Tget_class(type);
    if (cls == H5T_STRING) {
        htri_t var = H5Tis_variable_str(type);
        hid_t mt = H5Tcopy(H5T_C_S1);
        if (mt < 0)
            goto done;
        if (var > 0) {
            char *p = NULL;
            if (H5Tset_size(mt, H5T_VARIABLE) >= 0 && H5Tset_cset(mt, H5Tget_cset(type)) >= 0 &&
                (is_attr ? H5Aread(id, mt, &p) : H5Dread(id, mt, H5S_ALL, H5S_ALL, xfer, &p)) >= 0) {
                out = strdup(p ? p : "");
                H5free_memory(p);
            }
        } else if (var == 0) {
            /* Read with the file's own string type (size, padding, character set): no conversion. */
            size_t size = H5Tget_size(type);
            char *buf = calloc(1, size + 1);
            H5Tclose(mt);
            mt = H5Tcopy(type);
            if (buf && mt >= 0 &&
                (is_attr ? H5Aread(id, mt, buf) : H5Dread(id, mt, H5S_ALL, H5S_ALL, xfer, buf)) >= 0)
                out = buf;
            else
                free(buf);
        }
        if (mt >= 0)
            H5Tclose(mt);
    } else if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
        char buf[64];
        if (cls == H5T_INTEGER) {
            int64_t v;
            if ((is_attr ? H5Aread(id, H5T_NATIVE_INT64, &v)
                         : H5Dread(id, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, xfer, &v)) < 0)
                goto done;
            snprintf(buf, sizeof buf, "%" PRId64, v);
        } else {
            double v;
            if ((is_attr ? H5Aread(id, H5T_NATIVE_DOUBLE, &v)
                         : H5Dread(id, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, xfer, &v)) < 0)
                goto done;
            pd_store_format_double(v, buf, sizeof buf);
        }
        out = strdup(buf);
    }
done:
    if (xfer != H5P_DEFAULT)
        H5Pclose(xfer);
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    return out;
}

static char *attr_text(hid_t loc, const char *name)
{
    if (H5Aexists(loc, name) <= 0)
        return NULL;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0)
        return NULL;
    char *t = value_text(a, 1);
    H5Aclose(a);
    return t;
}

static herr_t collect_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    (void)info;
    char *t = attr_text(loc, name);
    if (t && kv_set(data, name, t) < 0)
        return -1;
    return 0;
}

/* All attributes of an object as text, in creation order when the file recorded it. */
static int collect_attrs(hid_t obj, struct kvlist *l)
{
    hsize_t idx = 0;
    if (H5Aiterate2(obj, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, collect_attr, l) >= 0)
        return 0;
    pd_store_h5_forget();
    kv_free(l);
    idx = 0;
    return H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_attr, l) < 0 ? -1 : 0;
}

/* Names of a group's links, in creation order when recorded (channels keep the layout's order). */
struct names {
    char **v;
    size_t n;
};

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)g;
    (void)info;
    struct names *nm = data;
    char *s = strdup(name);
    char **p = s ? realloc(nm->v, (nm->n + 1) * sizeof *p) : NULL;
    if (!p) {
        free(s);
        return -1;
    }
    nm->v = p;
    nm->v[nm->n++] = s;
    return 0;
}

static void names_free(struct names *nm)
{
    for (size_t i = 0; i < nm->n; i++)
        free(nm->v[i]);
    free(nm->v);
    nm->v = NULL;
    nm->n = 0;
}

static int list_links(hid_t g, struct names *nm)
{
    hsize_t idx = 0;
    if (H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, collect_name, nm) >= 0)
        return 0;
    pd_store_h5_forget();
    names_free(nm);
    idx = 0;
    return H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_name, nm) < 0 ? -1 : 0;
}

/* ---- Opening -------------------------------------------------------------------------------*/

/* The dataset at `path` (from the root, '/' first) if the walk kept it open, with one more
 * reference that the caller's H5Dclose gives back; else -1. */
static hid_t kept_dataset(const struct pd_run *run, const char *path)
{
    if (path[0] != '/')
        return -1;
    for (size_t i = 0; i < run->kept.n; i++)
        if (strcmp(run->kept.v[i].name, path + 1) == 0)
            return H5Iinc_ref(run->kept.v[i].id) < 0 ? -1 : run->kept.v[i].id;
    return -1;
}

hid_t pd_run_h5_open_dataset(const struct pd_run *run, const char *path, hid_t dapl)
{
    hid_t d = dapl == H5P_DEFAULT ? kept_dataset(run, path) : -1;
    return d >= 0 ? d : H5Dopen2(run->file, path, dapl);
}

void pd_run_h5_drop_kept(struct pd_run *run, const char *path)
{
    for (size_t i = 0; path[0] == '/' && i < run->kept.n; i++)
        if (strcmp(run->kept.v[i].name, path + 1) == 0) {
            H5Dclose(run->kept.v[i].id);
            free(run->kept.v[i].name);
            run->kept.v[i] = run->kept.v[--run->kept.n];
            return;
        }
}

static hid_t open_dataset(struct pd_run *run, const char *path)
{
    hid_t d = pd_run_h5_open_dataset(run, path, H5P_DEFAULT);
    if (d >= 0 && run->swmr && H5Drefresh(d) < 0) {
        H5Dclose(d);
        return -1;
    }
    return d;
}

static hssize_t dataset_length(hid_t d)
{
    hid_t space = H5Dget_space(d);
    if (space < 0)
        return -1;
    hssize_t n = H5Sget_simple_extent_ndims(space) == 1 ? H5Sget_simple_extent_npoints(space) : -1;
    H5Sclose(space);
    return n;
}

static int load_events(struct pd_run *run, const char *path, struct events_r *ev, struct pd_err *err)
{
    if (H5Lexists(run->file, path, H5P_DEFAULT) <= 0)
        return 0; /* a file without an event table simply has no events */
    hid_t d = open_dataset(run, path);
    hid_t mt = pd_store_event_type();
    hssize_t n = d >= 0 ? dataset_length(d) : -1;
    int rc = 0;
    if (d < 0 || mt < 0 || n < 0) {
        rc = pd_store_h5_fail(err, PD_EDATA, run->path, "cannot read %s", path);
    } else if (n > 0) {
        ev->rows = calloc((size_t)n, sizeof *ev->rows);
        if (!ev->rows)
            rc = pd_err_set(err, PD_ENOMEM, run->path, "out of memory for %zd events", (ssize_t)n);
        else if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, ev->rows) < 0)
            rc = pd_store_h5_fail(err, PD_EDATA, run->path, "cannot read %s", path);
        else
            ev->n = (size_t)n;
    }
    if (mt >= 0)
        H5Tclose(mt);
    if (d >= 0)
        H5Dclose(d);
    return rc;
}

static int load_overruns(struct pd_run *run, struct pd_err *err)
{
    if (H5Lexists(run->file, "/overruns", H5P_DEFAULT) <= 0) {
        pd_store_h5_forget();
        return 0; /* schema 1 */
    }
    hid_t d = open_dataset(run, "/overruns");
    hid_t mt = pd_store_overrun_type();
    hssize_t n = d >= 0 ? dataset_length(d) : -1;
    int rc = 0;
    if (d < 0 || mt < 0 || n < 0) {
        rc = pd_store_h5_fail(err, PD_EDATA, run->path, "cannot read /overruns");
    } else if (n > 0) {
        run->overruns = calloc((size_t)n, sizeof *run->overruns);
        if (!run->overruns)
            rc = pd_err_set(err, PD_ENOMEM, run->path, "out of memory for %zd overruns", (ssize_t)n);
        else if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, run->overruns) < 0)
            rc = pd_store_h5_fail(err, PD_EDATA, run->path, "cannot read /overruns");
        else
            run->n_overruns = (size_t)n;
    }
    if (mt >= 0)
        H5Tclose(mt);
    if (d >= 0)
        H5Dclose(d);
    return rc;
}

/* NXsample fields, then the status, then values set during the run (the latest wins). */
static int load_specimen_attrs(struct pd_run *run, struct specimen_r *sp, struct pd_err *err)
{
    char path[96];
    snprintf(path, sizeof path, "/%s/sample", sp->group);
    int rc = 0;
    if (H5Lexists(run->file, path, H5P_DEFAULT) > 0) {
        hid_t g = H5Gopen2(run->file, path, H5P_DEFAULT);
        struct names nm = {0};
        if (g < 0 || list_links(g, &nm) < 0)
            rc = pd_store_h5_fail(err, PD_EDATA, run->path, "cannot list %s", path);
        for (size_t i = 0; rc == 0 && i < nm.n; i++) {
            char field[256];
            snprintf(field, sizeof field, "%s/%s", path, nm.v[i]);
            hid_t d = kept_dataset(run, field);
            if (d < 0)
                d = H5Dopen2(g, nm.v[i], H5P_DEFAULT);
            if (d < 0) {
                pd_store_h5_forget(); /* not a dataset: not a field */
                continue;
            }
            char *val = value_text(d, 0);
            char *units = attr_text(d, "units");
            H5Dclose(d);
            if (val && kv_set(&sp->attrs, nm.v[i], val) < 0)
                rc = -1;
            if (rc == 0 && units) {
                char key[160];
                snprintf(key, sizeof key, "%s_units", nm.v[i]);
                rc = kv_set(&sp->attrs, key, units);
            } else {
                free(units);
            }
            if (rc < 0)
                rc = pd_err_set(err, PD_ENOMEM, run->path, "out of memory reading %s", path);
        }
        names_free(&nm);
        if (g >= 0)
            H5Gclose(g);
        if (rc < 0)
            return rc;
    }
    snprintf(path, sizeof path, "/%s/status", sp->group);
    if (H5Lexists(run->file, path, H5P_DEFAULT) > 0) {
        hid_t d = open_dataset(run, path);
        char *val = d >= 0 ? value_text(d, 0) : NULL;
        if (d >= 0)
            H5Dclose(d);
        if (!val)
            return pd_store_h5_fail(err, PD_EDATA, run->path, "cannot read %s", path);
        if (kv_set(&sp->attrs, "status", val) < 0)
            return pd_err_set(err, PD_ENOMEM, run->path, "out of memory reading %s", path);
    }
    snprintf(path, sizeof path, "/%s/sample_updates", sp->group);
    if (H5Lexists(run->file, path, H5P_DEFAULT) > 0) {
        hid_t d = open_dataset(run, path);
        hid_t mt = pd_store_update_type();
        hssize_t n = d >= 0 ? dataset_length(d) : -1;
        struct pd_store_update_row *rows = n > 0 ? calloc((size_t)n, sizeof *rows) : NULL;
        if (d < 0 || mt < 0 || n < 0 || (n > 0 && (!rows || H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0)))
            rc = pd_store_h5_fail(err, PD_EDATA, run->path, "cannot read %s", path);
        for (hssize_t i = 0; rc == 0 && i < n; i++) {
            struct pd_store_update_row *r = &rows[i];
            r->key[sizeof r->key - 1] = r->value[sizeof r->value - 1] = r->units[sizeof r->units - 1] = '\0';
            char key[160];
            snprintf(key, sizeof key, "%s_units", r->key);
            if (kv_set_copy(&sp->attrs, r->key, r->value) < 0 || (r->units[0] && kv_set_copy(&sp->attrs, key, r->units) < 0))
                rc = pd_err_set(err, PD_ENOMEM, run->path, "out of memory reading %s", path);
        }
        free(rows);
        if (mt >= 0)
            H5Tclose(mt);
        if (d >= 0)
            H5Dclose(d);
    }
    return rc;
}

/* Instruments and their channels, taken from the first specimen (every specimen has the same). */
static int load_instruments(struct pd_run *run, struct pd_err *err)
{
    char path[160];
    snprintf(path, sizeof path, "/%s/instrument", run->spec[0].group);
    if (H5Lexists(run->file, path, H5P_DEFAULT) <= 0)
        return pd_err_set(err, PD_EDATA, run->path, "not a polydaq run file (missing %s)", path);
    hid_t g = H5Gopen2(run->file, path, H5P_DEFAULT);
    struct names nm = {0};
    if (g < 0 || list_links(g, &nm) < 0) {
        if (g >= 0)
            H5Gclose(g);
        return pd_store_h5_fail(err, PD_EDATA, run->path, "cannot list %s", path);
    }
    int rc = 0;
    run->instr = calloc(nm.n ? nm.n : 1, sizeof *run->instr);
    if (!run->instr)
        rc = pd_err_set(err, PD_ENOMEM, run->path, "out of memory");
    for (size_t i = 0; rc == 0 && i < nm.n; i++) {
        struct instrument_r *in = &run->instr[i];
        run->n_instruments = i + 1;
        if (pd_strlcpy(in->name, nm.v[i], sizeof in->name) < 0) {
            rc = pd_err_set(err, PD_EDATA, run->path, "instrument name '%s' too long", nm.v[i]);
            break;
        }
        hid_t ig = H5Gopen2(g, in->name, H5P_DEFAULT);
        if (ig < 0 || collect_attrs(ig, &in->attrs) < 0)
            rc = pd_store_h5_fail(err, PD_EDATA, run->path, "cannot read %s/%s", path, in->name);
        if (ig >= 0)
            H5Gclose(ig);
        if (rc < 0)
            break;
        char dpath[96];
        snprintf(dpath, sizeof dpath, "/%s/%s", run->spec[0].group, in->name);
        hid_t dg = H5Gopen2(run->file, dpath, H5P_DEFAULT);
        struct names ch = {0};
        if (dg < 0 || list_links(dg, &ch) < 0) {
            rc = pd_store_h5_fail(err, PD_EDATA, run->path, "cannot list the data group %s", dpath);
        } else {
            for (size_t c = 0; rc == 0 && c < ch.n; c++) {
                if (strcmp(ch.v[c], "time") == 0 || strcmp(ch.v[c], "time_uncertainty") == 0 ||
                    strcmp(ch.v[c], "quality") == 0 || strcmp(ch.v[c], "sequence") == 0)
                    continue;
                if (in->n_channels == PD_STORE_MAX_CHANNELS) {
                    rc = pd_err_set(err, PD_EDATA, run->path, "%s has more than %d channels", dpath,
                                    PD_STORE_MAX_CHANNELS);
                    break;
                }
                struct pd_store_channel *pc = &in->ch[in->n_channels++];
                pd_strlcpy(pc->name, ch.v[c], sizeof pc->name);
                char cpath[256];
                snprintf(cpath, sizeof cpath, "%s/%s", dpath, ch.v[c]);
                hid_t d = kept_dataset(run, cpath);
                if (d < 0)
                    d = H5Dopen2(dg, ch.v[c], H5P_DEFAULT);
                char *unit = d >= 0 ? attr_text(d, "units") : NULL;
                if (d >= 0)
                    H5Dclose(d);
                pd_strlcpy(pc->unit, unit ? unit : "", sizeof pc->unit);
                free(unit);
            }
        }
        names_free(&ch);
        if (dg >= 0)
            H5Gclose(dg);
        char spath[96];
        snprintf(spath, sizeof spath, "/acquisition/%s", in->name);
        if (rc == 0 && H5Lexists(run->file, "/acquisition", H5P_DEFAULT) > 0 &&
            H5Lexists(run->file, spath, H5P_DEFAULT) > 0) {
            hid_t sg = H5Gopen2(run->file, spath, H5P_DEFAULT);
            if (sg < 0 || collect_attrs(sg, &in->summary) < 0)
                rc = pd_store_h5_fail(err, PD_EDATA, run->path, "cannot read %s", spath);
            if (sg >= 0)
                H5Gclose(sg);
        }
        pd_store_h5_forget();
    }
    names_free(&nm);
    H5Gclose(g);
    return rc;
}

/* ---- Refused content ----------------------------------------------------------------------*/

/* Data stored outside the file (external storage, external links, virtual datasets) escape the
 * file's SHA-256 and seal: whoever can write the other file changes a certified run. The writer
 * makes none of them, nor soft links; a file holding one was made or changed by something else. */
struct foreign {
    const char *path;
    struct pd_err *err;
    int rc;
    struct kept_datasets *keep; /* NULL: every dataset closed after its check */
};

/* Keeps dataset `d` open under `name` (false: not kept, the caller closes it). */
static bool keep_dataset(struct kept_datasets *keep, hid_t d, const char *name)
{
    if (!keep || keep->n == KEPT_MAX)
        return false;
    if (keep->n % 64 == 0) {
        struct kept_dataset *v = realloc(keep->v, (keep->n + 64) * sizeof *v);
        if (!v)
            return false;
        keep->v = v;
    }
    char *copy = strdup(name);
    if (!copy)
        return false;
    keep->v[keep->n++] = (struct kept_dataset){copy, d};
    return true;
}

static void kept_close(struct kept_datasets *keep)
{
    for (size_t i = 0; i < keep->n; i++) {
        H5Dclose(keep->v[i].id);
        free(keep->v[i].name);
    }
    free(keep->v);
    keep->v = NULL;
    keep->n = 0;
}

/* What a dataset's creation list says of where its data are: refused if outside the file. True
 * when its handle may be kept for reading: not a chunked dataset without filters, which a column
 * read opens with its own chunk cache settings (read_into.c), and HDF5 gives a dataset opened a
 * second time the cache of the first opening. */
static bool check_dataset(struct foreign *f, hid_t d, const char *name)
{
    hid_t dcpl = H5Dget_create_plist(d);
    int external = dcpl >= 0 ? H5Pget_external_count(dcpl) : -1;
    H5D_layout_t layout = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    bool keep = layout != H5D_CHUNKED || (dcpl >= 0 && H5Pget_nfilters(dcpl) > 0);
    if (dcpl < 0 || external < 0 || layout == H5D_LAYOUT_ERROR)
        f->rc = pd_store_h5_fail(f->err, PD_EDATA, f->path, "cannot read the dataset /%s", name);
    else if (external > 0)
        f->rc = pd_err_set(f->err, PD_EDATA, f->path, "run file uses external storage in /%s: refused", name);
    else if (layout == H5D_VIRTUAL)
        f->rc = pd_err_set(f->err, PD_EDATA, f->path, "run file uses a virtual dataset at /%s: refused", name);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    return keep;
}

/* The object a hard link names, looked up by its name from the root: the slow way, taken only
 * when opening it by address failed, for the reason (an object that cannot be read, or a dataset
 * that cannot be opened). */
static void check_by_name(struct foreign *f, hid_t root, const char *name)
{
    pd_store_h5_forget();
    H5O_info_t oi;
    if (H5Oget_info_by_name2(root, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
        f->rc = pd_store_h5_fail(f->err, PD_EDATA, f->path, "cannot read the object /%s", name);
        return;
    }
    if (oi.type != H5O_TYPE_DATASET)
        return;
    hid_t d = H5Dopen2(root, name, H5P_DEFAULT);
    if (d < 0) {
        f->rc = pd_store_h5_fail(f->err, PD_EDATA, f->path, "cannot read the dataset /%s", name);
        return;
    }
    check_dataset(f, d, name);
    H5Dclose(d);
}

static herr_t check_link(hid_t root, const char *name, const H5L_info_t *info, void *data)
{
    struct foreign *f = data;
    if (info->type == H5L_TYPE_EXTERNAL)
        f->rc = pd_err_set(f->err, PD_EDATA, f->path, "run file uses an external link at /%s: refused", name);
    else if (info->type == H5L_TYPE_SOFT)
        f->rc = pd_err_set(f->err, PD_EDATA, f->path, "run file uses a soft link at /%s (not in the schema): refused",
                           name);
    else if (info->type != H5L_TYPE_HARD)
        f->rc = pd_err_set(f->err, PD_EDATA, f->path, "run file uses a user-defined link at /%s: refused", name);
    if (f->rc < 0)
        return 1;
    /* Opened by the address the link holds: looking each object up by its full name again walked
     * the groups from the root for every object, twice (its kind, then the dataset), a third of
     * the time of opening a run. */
    hid_t obj = H5Oopen_by_addr(root, info->u.address);
    if (obj < 0)
        check_by_name(f, root, name);
    else if (H5Iget_type(obj) == H5I_DATASET) {
        if (check_dataset(f, obj, name) && f->rc == 0 && keep_dataset(f->keep, obj, name))
            obj = -1;
    }
    if (obj >= 0)
        H5Oclose(obj);
    return f->rc < 0 ? 1 : 0;
}

static int refuse_foreign(hid_t file, const char *path, struct kept_datasets *keep, struct pd_err *err)
{
    struct foreign f = {.path = path, .err = err, .keep = keep};
    herr_t r = H5Lvisit(file, H5_INDEX_NAME, H5_ITER_NATIVE, check_link, &f);
    if (f.rc < 0)
        return f.rc;
    if (r < 0)
        return pd_store_h5_fail(err, PD_EDATA, path, "cannot walk the objects of the file");
    return 0;
}

int pd_store_refuse_foreign(hid_t file, const char *path, struct pd_err *err)
{
    return refuse_foreign(file, path, NULL, err);
}

static int load_run(struct pd_run *run, struct pd_err *err)
{
    /* (A file still being written is not: H5Drefresh, which each read of it needs, cannot reopen
     * a dataset whose handle has more than one reference.) */
    int refused = refuse_foreign(run->file, run->path, run->swmr ? NULL : &run->kept, err);
    if (refused < 0)
        return refused;
    if (collect_attrs(run->file, &run->attrs) < 0)
        return pd_store_h5_fail(err, PD_EDATA, run->path, "cannot read the run attributes");
    const char *version = kv_get(&run->attrs, "schema_version");
    long v;
    if (version && pd_parse_long(version, &v) && v > PD_STORE_SCHEMA_VERSION)
        return pd_err_set(err, PD_EDATA, run->path, "schema version %ld is newer than this reader (%d)", v,
                          PD_STORE_SCHEMA_VERSION);
    char group[32];
    size_t n = 0;
    for (;; n++) {
        pd_store_specimen_group(n, group, sizeof group);
        if (H5Lexists(run->file, group, H5P_DEFAULT) <= 0)
            break;
    }
    pd_store_h5_forget();
    if (n == 0)
        return pd_err_set(err, PD_EDATA, run->path, "not a polydaq run file (missing /specimen_01)");
    run->spec = calloc(n, sizeof *run->spec);
    if (!run->spec)
        return pd_err_set(err, PD_ENOMEM, run->path, "out of memory");
    run->n_specimens = n;
    for (size_t s = 0; s < n; s++) {
        struct specimen_r *sp = &run->spec[s];
        pd_store_specimen_group(s, sp->group, sizeof sp->group);
        hid_t g = H5Gopen2(run->file, sp->group, H5P_DEFAULT);
        sp->id = g >= 0 ? attr_text(g, "specimen_id") : NULL;
        if (g >= 0)
            H5Gclose(g);
        if (!sp->id)
            sp->id = strdup(sp->group);
        if (!sp->id)
            return pd_err_set(err, PD_ENOMEM, run->path, "out of memory");
        int rc = load_specimen_attrs(run, sp, err);
        char path[64];
        snprintf(path, sizeof path, "/%s/events", sp->group);
        if (rc == 0)
            rc = load_events(run, path, &sp->ev, err);
        if (rc < 0)
            return rc;
    }
    int rc = load_instruments(run, err);
    if (rc == 0)
        rc = load_events(run, "/events", &run->ev, err);
    if (rc == 0)
        rc = load_overruns(run, err);
    return rc;
}

static hid_t open_file(const char *path, int *swmr, struct pd_err *err)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f >= 0) {
        *swmr = 0;
        return f;
    }
    /* A file still being written, or left by a writer that died, keeps its SWMR-writing mark in
     * the superblock; a plain open refuses it, a SWMR read open does not and sees what was flushed. */
    struct pd_err plain;
    pd_store_h5_fail(&plain, PD_EIO, path, "cannot open the run file");
    hid_t fapl = pd_store_swmr_read_fapl();
    f = fapl >= 0 ? H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl) : -1;
    if (fapl >= 0)
        H5Pclose(fapl);
    if (f >= 0) {
        *swmr = 1;
        return f;
    }
    /* The plain open's reason is the one that explains the file; the fallback's adds nothing. */
    pd_store_h5_forget();
    if (err)
        *err = plain;
    return PD_EIO;
}

static void free_events(struct events_r *ev)
{
    free(ev->rows);
    ev->rows = NULL;
    ev->n = 0;
}

hid_t pd_run_h5_file(const struct pd_run *run)
{
    return run->file;
}

const char *pd_run_h5_path(const struct pd_run *run)
{
    return run->path;
}

int pd_run_h5_swmr(const struct pd_run *run)
{
    return run->swmr;
}

struct pd_chunk_decoder *pd_run_h5_decoder(struct pd_run *run)
{
    if (!run->decoder) {
        run->decoder = pd_chunk_decoder_new();
        if (!run->swmr) /* a file still being written grows under a mapping */
            pd_chunk_decoder_map(run->decoder, run->file);
    }
    return run->decoder;
}

void pd_run_close(struct pd_run *run)
{
    if (!run)
        return;
    for (size_t s = 0; run->spec && s < run->n_specimens; s++) {
        free(run->spec[s].id);
        kv_free(&run->spec[s].attrs);
        free_events(&run->spec[s].ev);
    }
    free(run->spec);
    for (size_t i = 0; run->instr && i < run->n_instruments; i++) {
        kv_free(&run->instr[i].attrs);
        kv_free(&run->instr[i].summary);
    }
    free(run->overruns);
    free(run->instr);
    free_events(&run->ev);
    kv_free(&run->attrs);
    pd_chunk_decoder_free(run->decoder);
    kept_close(&run->kept);
    if (run->child) {
        pd_run_child_close(run->child);
    } else {
        if (run->file >= 0)
            H5Fclose(run->file);
        pd_store_h5_forget();
    }
    free(run->path);
    free(run);
}

int pd_run_open_direct(const char *path, struct pd_run **out, struct pd_err *err)
{
    if (!path || !out)
        return pd_err_set(err, PD_EINVAL, path, "pd_run_open: missing path or output");
    struct stat sb;
    if (stat(path, &sb) < 0)
        return pd_err_set_os(err, PD_EIO, errno, path, "cannot open the run file");
    pd_store_h5_quiet();
    struct pd_run *run = calloc(1, sizeof *run);
    if (!run || !(run->path = strdup(path))) {
        free(run);
        return pd_err_set(err, PD_ENOMEM, path, "out of memory");
    }
    /* Opened straight away; only a file HDF5 refuses is asked whether it is HDF5 at all, for the
     * reason (H5Fis_hdf5 first opened and searched every run file a second time). */
    run->file = open_file(path, &run->swmr, err);
    if (run->file < 0 && H5Fis_hdf5(path) <= 0) {
        pd_store_h5_forget();
        pd_run_close(run);
        return pd_err_set(err, PD_EDATA, path, "not a polydaq run file (not an HDF5 file)");
    }
    int rc = run->file < 0 ? PD_EIO : load_run(run, err);
    if (rc < 0) {
        pd_run_close(run);
        return rc;
    }
    *out = run;
    return 0;
}

/* ---- Snapshot: what the child read, handed to the caller's process ---------------------------
 * Native byte order (the two processes are one program): counts as uint64, strings as a uint32
 * length and their bytes, event and overrun rows as they are in memory. The reading side checks
 * every length against what is left, so a child gone wrong cannot make the caller read past it. */

struct sbuf {
    unsigned char *p;
    size_t n, cap;
    int failed;
};

static void put(struct sbuf *b, const void *v, size_t len)
{
    if (b->failed || len == 0) /* (an empty table's rows may be NULL) */
        return;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + len)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, v, len);
    b->n += len;
}

static void put_u64(struct sbuf *b, uint64_t v) { put(b, &v, sizeof v); }

static void put_str(struct sbuf *b, const char *s)
{
    uint32_t len = (uint32_t)strlen(s);
    put(b, &len, sizeof len);
    put(b, s, len);
}

static void put_kv(struct sbuf *b, const struct kvlist *l)
{
    put_u64(b, l->n);
    for (size_t i = 0; i < l->n; i++) {
        put_str(b, l->v[i].key);
        put_str(b, l->v[i].val);
    }
}

static void put_events(struct sbuf *b, const struct events_r *ev)
{
    put_u64(b, ev->n);
    put(b, ev->rows, ev->n * sizeof *ev->rows);
}

int pd_run_snapshot(struct pd_run *run, void *(*room)(void *ctx, size_t bytes), void *ctx, size_t *size,
                    struct pd_err *err)
{
    struct sbuf b = {0};
    put_kv(&b, &run->attrs);
    put_u64(&b, run->n_specimens);
    for (size_t s = 0; s < run->n_specimens; s++) {
        put_str(&b, run->spec[s].id);
        put_kv(&b, &run->spec[s].attrs);
        put_events(&b, &run->spec[s].ev);
    }
    put_u64(&b, run->n_instruments);
    for (size_t i = 0; i < run->n_instruments; i++) {
        const struct instrument_r *in = &run->instr[i];
        put_str(&b, in->name);
        put_u64(&b, in->n_channels);
        for (size_t c = 0; c < in->n_channels; c++) {
            put_str(&b, in->ch[c].name);
            put_str(&b, in->ch[c].unit);
        }
        put_kv(&b, &in->attrs);
        put_kv(&b, &in->summary);
    }
    put_events(&b, &run->ev);
    put_u64(&b, run->n_overruns);
    put(&b, run->overruns, run->n_overruns * sizeof *run->overruns);
    void *dst = b.failed ? NULL : room(ctx, b.n);
    if (!dst) {
        free(b.p);
        return pd_err_set(err, PD_ENOMEM, run->path, "out of memory");
    }
    memcpy(dst, b.p, b.n);
    free(b.p);
    *size = b.n;
    return 0;
}

struct scur {
    const unsigned char *p;
    size_t left;
    int bad;
};

static int get(struct scur *c, void *v, size_t len)
{
    if (c->bad || len > c->left) {
        c->bad = 1;
        return -1;
    }
    memcpy(v, c->p, len);
    c->p += len;
    c->left -= len;
    return 0;
}

/* A count of items of at least `min_size` bytes each, no more than what is left can hold. */
static size_t get_count(struct scur *c, size_t min_size)
{
    uint64_t v = 0;
    if (get(c, &v, sizeof v) < 0 || v > c->left / (min_size ? min_size : 1)) {
        c->bad = 1;
        return 0;
    }
    return (size_t)v;
}

static char *get_str(struct scur *c)
{
    uint32_t len = 0;
    if (get(c, &len, sizeof len) < 0 || len > c->left) {
        c->bad = 1;
        return NULL;
    }
    char *s = malloc((size_t)len + 1);
    if (!s) {
        c->bad = 1;
        return NULL;
    }
    memcpy(s, c->p, len);
    s[len] = '\0';
    c->p += len;
    c->left -= len;
    return s;
}

static void get_kv(struct scur *c, struct kvlist *l)
{
    size_t n = get_count(c, 8);
    for (size_t i = 0; i < n && !c->bad; i++) {
        char *k = get_str(c), *v = get_str(c);
        if (!k || !v) {
            free(v);
            c->bad = 1;
        } else if (kv_set(l, k, v) < 0) { /* it owns v, also when it fails */
            c->bad = 1;
        }
        free(k);
    }
}

static void get_events(struct scur *c, struct events_r *ev)
{
    size_t n = get_count(c, sizeof *ev->rows);
    if (c->bad || n == 0)
        return;
    if (!(ev->rows = malloc(n * sizeof *ev->rows)) || get(c, ev->rows, n * sizeof *ev->rows) < 0) {
        c->bad = 1;
        return;
    }
    ev->n = n;
}

/* Fills a fresh run (path set, no file) from a snapshot; 0, or -1 when it is malformed. */
static int from_snapshot(struct pd_run *run, const void *snap, size_t size)
{
    struct scur c = {.p = snap, .left = size};
    get_kv(&c, &run->attrs);
    size_t n = get_count(&c, 12);
    if (!c.bad && n > 0 && !(run->spec = calloc(n, sizeof *run->spec)))
        c.bad = 1;
    for (size_t s = 0; s < n && !c.bad; s++) {
        struct specimen_r *sp = &run->spec[s];
        run->n_specimens = s + 1;
        pd_store_specimen_group(s, sp->group, sizeof sp->group);
        sp->id = get_str(&c);
        get_kv(&c, &sp->attrs);
        get_events(&c, &sp->ev);
    }
    n = get_count(&c, 28);
    if (!c.bad && n > 0 && !(run->instr = calloc(n, sizeof *run->instr)))
        c.bad = 1;
    for (size_t i = 0; i < n && !c.bad; i++) {
        struct instrument_r *in = &run->instr[i];
        run->n_instruments = i + 1;
        char *name = get_str(&c);
        if (name && pd_strlcpy(in->name, name, sizeof in->name) < 0)
            c.bad = 1;
        free(name);
        size_t nc = get_count(&c, 8);
        if (nc > PD_STORE_MAX_CHANNELS)
            c.bad = 1;
        for (size_t k = 0; k < nc && !c.bad; k++) {
            char *cn = get_str(&c), *cu = get_str(&c);
            if (!cn || !cu || pd_strlcpy(in->ch[k].name, cn, sizeof in->ch[k].name) < 0)
                c.bad = 1;
            else
                pd_strlcpy(in->ch[k].unit, cu, sizeof in->ch[k].unit);
            in->n_channels = k + 1;
            free(cn);
            free(cu);
        }
        get_kv(&c, &in->attrs);
        get_kv(&c, &in->summary);
    }
    get_events(&c, &run->ev);
    n = get_count(&c, sizeof *run->overruns);
    if (!c.bad && n > 0) {
        if (!(run->overruns = malloc(n * sizeof *run->overruns)) ||
            get(&c, run->overruns, n * sizeof *run->overruns) < 0)
            c.bad = 1;
        else
            run->n_overruns = n;
    }
    return c.bad || c.left != 0 ? -1 : 0;
}

/* The caller's open: the file is opened and checked by a child process (isolate.c), which keeps
 * it open for the column reads; this process holds the snapshot and never calls HDF5 on it. */
int pd_run_open(const char *path, struct pd_run **out, struct pd_err *err)
{
    if (!path || !out)
        return pd_err_set(err, PD_EINVAL, path, "pd_run_open: missing path or output");
    struct stat sb;
    if (stat(path, &sb) < 0)
        return pd_err_set_os(err, PD_EIO, errno, path, "cannot open the run file");
    struct pd_run *run = calloc(1, sizeof *run);
    if (!run || !(run->path = strdup(path))) {
        free(run);
        return pd_err_set(err, PD_ENOMEM, path, "out of memory");
    }
    run->file = -1;
    void *snap = NULL;
    size_t size = 0;
    int rc = pd_run_child_open(path, (uint64_t)sb.st_size, &run->child, &snap, &size, err);
    if (rc == 0 && from_snapshot(run, snap, size) < 0)
        rc = pd_err_set(err, PD_EDATA, NULL, "damaged run file: %s: the reader process sent a malformed answer",
                        path);
    free(snap);
    if (rc < 0) {
        pd_run_close(run);
        return rc;
    }
    *out = run;
    return 0;
}

/* ---- Queries -------------------------------------------------------------------------------*/

static int text_double(const char *s, double *out)
{
    double v;
    if (!s || !pd_parse_double(s, &v))
        return PD_EDATA;
    *out = v;
    return 0;
}

const char *pd_run_attr(struct pd_run *run, const char *key)
{
    return run && key ? kv_get(&run->attrs, key) : NULL;
}

int pd_run_attr_double(struct pd_run *run, const char *key, double *out)
{
    if (!run || !key || !out)
        return PD_EINVAL;
    return text_double(kv_get(&run->attrs, key), out);
}

int pd_run_closed_cleanly(struct pd_run *run)
{
    const char *v = pd_run_attr(run, "closed_cleanly");
    return v && strcmp(v, "1") == 0;
}

size_t pd_run_specimen_count(const struct pd_run *run)
{
    return run ? run->n_specimens : 0;
}

const char *pd_run_specimen_id(const struct pd_run *run, size_t specimen)
{
    return run && specimen < run->n_specimens ? run->spec[specimen].id : NULL;
}

const char *pd_run_specimen_attr(struct pd_run *run, size_t specimen, const char *key)
{
    if (!run || !key || specimen >= run->n_specimens)
        return NULL;
    return kv_get(&run->spec[specimen].attrs, key);
}

int pd_run_specimen_attr_double(struct pd_run *run, size_t specimen, const char *key, double *out)
{
    if (!run || !key || !out || specimen >= run->n_specimens)
        return PD_EINVAL;
    return text_double(kv_get(&run->spec[specimen].attrs, key), out);
}

size_t pd_run_instrument_count(const struct pd_run *run)
{
    return run ? run->n_instruments : 0;
}

const char *pd_run_instrument_name(const struct pd_run *run, size_t instrument)
{
    return run && instrument < run->n_instruments ? run->instr[instrument].name : NULL;
}

const char *pd_run_instrument_attr(struct pd_run *run, size_t instrument, const char *key)
{
    if (!run || !key || instrument >= run->n_instruments)
        return NULL;
    return kv_get(&run->instr[instrument].attrs, key);
}

size_t pd_run_channel_count(const struct pd_run *run, size_t instrument)
{
    return run && instrument < run->n_instruments ? run->instr[instrument].n_channels : 0;
}

const struct pd_store_channel *pd_run_channel(const struct pd_run *run, size_t instrument, size_t channel)
{
    if (!run || instrument >= run->n_instruments || channel >= run->instr[instrument].n_channels)
        return NULL;
    return &run->instr[instrument].ch[channel];
}

int pd_run_find_channel(const struct pd_run *run, const char *channel, size_t *instrument, size_t *index)
{
    if (!run || !channel)
        return PD_EINVAL;
    for (size_t i = 0; i < run->n_instruments; i++)
        for (size_t c = 0; c < run->instr[i].n_channels; c++)
            if (strcmp(run->instr[i].ch[c].name, channel) == 0) {
                if (instrument)
                    *instrument = i;
                if (index)
                    *index = c;
                return 0;
            }
    return PD_EDATA;
}

void pd_run_read_ahead(struct pd_run *run, size_t specimen, size_t instrument, const char *name, enum pd_col_type type)
{
    if (run->child && specimen < run->n_specimens && instrument < run->n_instruments)
        pd_run_child_read_ahead(run->child, specimen, instrument, name, type);
}

int pd_run_column(struct pd_run *run, size_t specimen, size_t instrument, const char *name, enum pd_col_type type,
                  int optional, void *(*room)(void *ctx, size_t bytes), void *ctx, size_t *n, struct pd_err *err)
{
    if (specimen >= run->n_specimens)
        return pd_store_bad_index(err, run->path, "specimen", specimen, run->n_specimens);
    if (instrument >= run->n_instruments)
        return pd_store_bad_index(err, run->path, "instrument", instrument, run->n_instruments);
    if (run->child)
        return pd_run_child_column(run->child, specimen, instrument, name, type, optional, room, ctx, n, err);
    if (optional) {
        char path[160];
        snprintf(path, sizeof path, "/%s/%s/%s", run->spec[specimen].group, run->instr[instrument].name, name);
        pd_store_h5_quiet();
        htri_t exists = H5Lexists(run->file, path, H5P_DEFAULT);
        pd_store_h5_forget();
        if (exists <= 0) {
            *n = 0;
            return 0;
        }
    }
    hid_t mtype = type == PD_COL_DOUBLE  ? H5T_NATIVE_DOUBLE
                  : type == PD_COL_INT64 ? H5T_NATIVE_INT64
                  : type == PD_COL_UINT32 ? H5T_NATIVE_UINT32
                                          : H5T_NATIVE_UINT64;
    return pd_run_h5_read(run, specimen, instrument, name, mtype, type == PD_COL_UINT32 ? 4 : 8, room, ctx, n, err);
}

/* A new array per read (the caller free()s it; NULL for 0 samples). */
struct fresh {
    void *p;
};

static void *fresh_room(void *ctx, size_t bytes)
{
    struct fresh *f = ctx;
    if (bytes == 0)
        return f; /* nothing to read into; *data stays NULL */
    f->p = malloc(bytes);
    return f->p;
}

/* Reads a whole 1-D dataset of one specimen's instrument into a new array. */
static int read_column(struct pd_run *run, size_t specimen, size_t instrument, const char *name,
                       enum pd_col_type type, int optional, void **data, size_t *n, struct pd_err *err)
{
    if (!run || !data || !n)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_run_read: missing run or outputs");
    struct fresh f = {NULL};
    size_t len = 0;
    int rc = pd_run_column(run, specimen, instrument, name, type, optional, fresh_room, &f, &len, err);
    if (rc < 0) {
        free(f.p);
        return rc;
    }
    *data = f.p;
    *n = len;
    return 0;
}

int pd_run_read_channel(struct pd_run *run, size_t specimen, size_t instrument, const char *channel,
                        double **data, size_t *n, struct pd_err *err)
{
    if (!run || !channel)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_run_read_channel: missing run or channel");
    if (instrument < run->n_instruments) {
        const struct instrument_r *in = &run->instr[instrument];
        size_t c = 0;
        while (c < in->n_channels && strcmp(in->ch[c].name, channel) != 0)
            c++;
        if (c == in->n_channels)
            return pd_err_set(err, PD_EDATA, run->path, "instrument '%s' has no channel '%s'", in->name, channel);
    }
    void *buf = NULL;
    int rc = read_column(run, specimen, instrument, channel, PD_COL_DOUBLE, 0, &buf, n, err);
    if (rc == 0)
        *data = buf;
    return rc;
}

int pd_run_read_time(struct pd_run *run, size_t specimen, size_t instrument, int64_t **t_utc_ns, size_t *n,
                     struct pd_err *err)
{
    if (!t_utc_ns)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_run_read_time: missing output");
    void *buf = NULL;
    int rc = read_column(run, specimen, instrument, "time", PD_COL_INT64, 0, &buf, n, err);
    if (rc == 0)
        *t_utc_ns = buf;
    return rc;
}

int pd_run_read_uncertainty(struct pd_run *run, size_t specimen, size_t instrument, int64_t **unc_ns, size_t *n,
                            struct pd_err *err)
{
    if (!unc_ns)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_run_read_uncertainty: missing output");
    void *buf = NULL;
    int rc = read_column(run, specimen, instrument, "time_uncertainty", PD_COL_INT64, 0, &buf, n, err);
    if (rc == 0)
        *unc_ns = buf;
    return rc;
}

int pd_run_read_quality(struct pd_run *run, size_t specimen, size_t instrument, uint32_t **quality, size_t *n,
                        struct pd_err *err)
{
    if (!quality)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_run_read_quality: missing output");
    void *buf = NULL;
    int rc = read_column(run, specimen, instrument, "quality", PD_COL_UINT32, 0, &buf, n, err);
    if (rc == 0)
        *quality = buf;
    return rc;
}

int pd_run_read_sequence(struct pd_run *run, size_t specimen, size_t instrument, uint64_t **seq, size_t *n,
                         struct pd_err *err)
{
    if (!seq || !n || !run)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_run_read_sequence: missing run or output");
    void *buf = NULL;
    /* optional: a schema-1 file has no sequence (n = 0) */
    int rc = read_column(run, specimen, instrument, "sequence", PD_COL_UINT64, 1, &buf, n, err);
    if (rc == 0)
        *seq = buf;
    return rc;
}

size_t pd_run_overrun_count(struct pd_run *run) { return run ? run->n_overruns : 0; }

int pd_run_overrun(struct pd_run *run, size_t i, struct pd_store_overrun *out)
{
    if (!run || !out || i >= run->n_overruns)
        return PD_EINVAL;
    struct pd_store_overrun_row *r = &run->overruns[i];
    r->instrument[sizeof r->instrument - 1] = '\0';
    struct pd_store_overrun o = {.instrument = SIZE_MAX,
                                 .specimen = r->specimen > 0 ? (size_t)r->specimen - 1 : SIZE_MAX,
                                 .first_seq = r->first_seq,
                                 .last_seq = r->last_seq,
                                 .count = r->count,
                                 .t_first_utc_ns = r->t_first,
                                 .t_last_utc_ns = r->t_last};
    for (size_t k = 0; k < run->n_instruments; k++)
        if (strcmp(run->instr[k].name, r->instrument) == 0)
            o.instrument = k;
    *out = o;
    return 0;
}

const char *pd_run_summary_attr(struct pd_run *run, size_t instrument, const char *key)
{
    if (!run || !key || instrument >= run->n_instruments)
        return NULL;
    return kv_get(&run->instr[instrument].summary, key);
}

static const struct events_r *events_of(const struct pd_run *run, size_t specimen)
{
    if (!run)
        return NULL;
    if (specimen == SIZE_MAX)
        return &run->ev;
    return specimen < run->n_specimens ? &run->spec[specimen].ev : NULL;
}

size_t pd_run_event_count(struct pd_run *run, size_t specimen)
{
    const struct events_r *ev = events_of(run, specimen);
    return ev ? ev->n : 0;
}

int pd_run_event(struct pd_run *run, size_t specimen, size_t i, int64_t *t_utc_ns, const char **kind,
                 const char **text)
{
    const struct events_r *ev = events_of(run, specimen);
    if (!ev || i >= ev->n)
        return PD_EINVAL;
    struct pd_store_event_row *r = &ev->rows[i];
    /* Fixed-length fields may fill their whole size in a file written elsewhere. */
    r->kind[sizeof r->kind - 1] = '\0';
    r->text[sizeof r->text - 1] = '\0';
    if (t_utc_ns)
        *t_utc_ns = r->time;
    if (kind)
        *kind = r->kind;
    if (text)
        *text = r->text;
    return 0;
}
