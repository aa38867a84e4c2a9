/* writer.c — creates a run file with its whole layout, then appends samples and events under SWMR. */
#include "store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The columns of an NXdata group, in file order: row k of each is sample k. */
enum { COL_TIME, COL_UNC, COL_QUALITY, COL_SEQ, COL_CHANNEL0 };
_Static_assert(COL_CHANNEL0 == PD_STORE_FIXED_COLS, "store_internal.h counts the fixed columns");
#define MAX_COLS PD_STORE_MAX_COLS
static const char *const fixed_col_names[COL_CHANNEL0] = {"time", "time_uncertainty", "quality", "sequence"};

/* The datasets of one instrument inside one specimen. Only the specimen an instrument currently
 * appends to keeps them open (and its chunk in the instrument's assembly buffers), so memory
 * does not grow with the number of specimens. */
struct nxdata_w {
    hid_t col[MAX_COLS];
    hsize_t size; /* rows appended: in the file, or in the chunk being assembled */
    int open;
    int dirty;
};

/* A growing compound table (events, sample updates). */
struct table_w {
    hid_t id;
    hsize_t size;
    int dirty;
};

/* A specimen attribute set during the run; folded into the NXsample group at close. */
struct update_w {
    char *key;
    enum pd_store_attr_type type;
    char *s;
    double d;
    int64_t i;
    char *units;
};

static void free_update(struct update_w *u);

struct specimen_w {
    struct nxdata_w *nx; /* one per instrument */
    hid_t status;
    int status_dirty;
    struct table_w events;
    struct table_w updates;
    struct update_w *upd;
    size_t n_upd;
};

struct instrument_w {
    char name[PD_STORE_NAME_MAX];
    size_t n_channels;
    char channel[PD_STORE_MAX_CHANNELS][PD_STORE_NAME_MAX];
    size_t current;    /* the specimen whose datasets are open; SIZE_MAX = none */
    uint64_t next_seq; /* for appends without sequence numbers */
    size_t chunk;      /* rows per chunk of its sample datasets */
    struct pd_chunk_asm chunks; /* the current specimen's chunk; set up by its first append */
    int chunks_ready;
    struct update_w *summary;
    size_t n_summary;
};

struct pd_store {
    char *path;
    hid_t file;
    size_t n_specimens, n_instruments;
    struct instrument_w *instr;
    struct specimen_w *spec;
    struct table_w events; /* run level */
    struct table_w overruns;
    hid_t event_type, update_type, status_type, overrun_type;
    hid_t column_dapl; /* how every sample dataset is opened: no chunk cache (make_column_dapl) */
    int deflate_level;
    struct pd_deflate_pool *deflate; /* compressed layouts: shared by every instrument's chunks */
    size_t reserved_instrument; /* the open pd_store_append_reserve; SIZE_MAX = none */
    size_t reserved_n;
    /* This run's lock on its file (runlock.c), held until close, and the file it locks: close
     * writes the final attributes only into that very file, whatever the path names by then. */
    int lock_fd;
    dev_t dev;
    ino_t ino;
};

static const char *const reserved_in_specimen[] = {"sample", "instrument", "status", "events",
                                                   "sample_updates"};
static const char *const reserved_in_nxdata[] = {"time", "time_uncertainty", "quality", "sequence"};
static const char *const reserved_at_root[] = {"NX_class", "creator", "default", "file_format",
                                               "schema_version", "closed_cleanly", "recovered"};

static int in_list(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, list[i]) == 0)
            return 1;
    return 0;
}

/* An HDF5 link name we can use as is: non-empty, no '/', not "." (so paths stay unambiguous). */
static int valid_link_name(const char *name)
{
    return name[0] && !strchr(name, '/') && strcmp(name, ".") != 0;
}

static int check_attrs(const char *path, const char *owner, const struct pd_store_attr *attrs, size_t n,
                       struct pd_err *err)
{
    if (n && !attrs)
        return pd_err_set(err, PD_EINVAL, path, "%s: %zu attributes but no array", owner, n);
    for (size_t i = 0; i < n; i++) {
        const struct pd_store_attr *a = &attrs[i];
        if (!a->key || !valid_link_name(a->key))
            return pd_err_set(err, PD_EINVAL, path, "%s: attribute %zu has no usable key", owner, i);
        if (a->type != PD_STORE_STRING && a->type != PD_STORE_DOUBLE && a->type != PD_STORE_INT)
            return pd_err_set(err, PD_EINVAL, path, "%s: attribute '%s' has an unknown type", owner, a->key);
        if (a->type == PD_STORE_STRING && !a->s)
            return pd_err_set(err, PD_EINVAL, path, "%s: string attribute '%s' has no value", owner, a->key);
    }
    return 0;
}

static int check_layout(const char *path, const struct pd_store_layout *l, struct pd_err *err)
{
    if (l->n_specimens == 0 || !l->specimens)
        return pd_err_set(err, PD_EINVAL, path, "layout has no specimens");
    if (l->n_instruments == 0 || !l->instruments)
        return pd_err_set(err, PD_EINVAL, path, "layout has no instruments");
    if (l->deflate_level < -1 || l->deflate_level > 9)
        return pd_err_set(err, PD_EINVAL, path, "deflate level %d is not in -1..9", l->deflate_level);
    int rc = check_attrs(path, "run", l->run_attrs, l->n_run_attrs, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < l->n_run_attrs; i++)
        if (in_list(l->run_attrs[i].key, reserved_at_root, sizeof reserved_at_root / sizeof *reserved_at_root))
            return pd_err_set(err, PD_EINVAL, path, "run attribute '%s' is reserved by the file format",
                              l->run_attrs[i].key);
    for (size_t i = 0; i < l->n_instruments; i++) {
        const struct pd_store_instrument *in = &l->instruments[i];
        if (!memchr(in->name, '\0', sizeof in->name) || !valid_link_name(in->name))
            return pd_err_set(err, PD_EINVAL, path, "instrument %zu has no usable name", i);
        if (in_list(in->name, reserved_in_specimen, sizeof reserved_in_specimen / sizeof *reserved_in_specimen))
            return pd_err_set(err, PD_EINVAL, path, "instrument name '%s' is reserved by the file format",
                              in->name);
        for (size_t k = 0; k < i; k++)
            if (strcmp(l->instruments[k].name, in->name) == 0)
                return pd_err_set(err, PD_EINVAL, path, "instrument '%s' appears twice", in->name);
        if (in->n_channels == 0 || in->n_channels > PD_STORE_MAX_CHANNELS)
            return pd_err_set(err, PD_EINVAL, path, "instrument '%s': %zu channels (1..%d allowed)", in->name,
                              in->n_channels, PD_STORE_MAX_CHANNELS);
        for (size_t c = 0; c < in->n_channels; c++) {
            const struct pd_store_channel *ch = &in->channels[c];
            if (!memchr(ch->name, '\0', sizeof ch->name) || !valid_link_name(ch->name) ||
                !memchr(ch->unit, '\0', sizeof ch->unit))
                return pd_err_set(err, PD_EINVAL, path, "instrument '%s': channel %zu has no usable name/unit",
                                  in->name, c);
            if (in_list(ch->name, reserved_in_nxdata, sizeof reserved_in_nxdata / sizeof *reserved_in_nxdata))
                return pd_err_set(err, PD_EINVAL, path, "instrument '%s': channel name '%s' is reserved",
                                  in->name, ch->name);
            for (size_t k = 0; k < c; k++)
                if (strcmp(in->channels[k].name, ch->name) == 0)
                    return pd_err_set(err, PD_EINVAL, path, "instrument '%s': channel '%s' appears twice",
                                      in->name, ch->name);
        }
        int sig_found = !in->signal, axes_found = !in->axes || strcmp(in->axes, "time") == 0;
        for (size_t c = 0; c < in->n_channels; c++) {
            sig_found |= in->signal && strcmp(in->signal, in->channels[c].name) == 0;
            axes_found |= in->axes && strcmp(in->axes, in->channels[c].name) == 0;
        }
        if (!sig_found || !axes_found)
            return pd_err_set(err, PD_EINVAL, path, "instrument '%s': signal/axes name no channel", in->name);
        char owner[64];
        snprintf(owner, sizeof owner, "instrument '%s'", in->name);
        rc = check_attrs(path, owner, in->attrs, in->n_attrs, err);
        if (rc < 0)
            return rc;
    }
    for (size_t s = 0; s < l->n_specimens; s++) {
        const struct pd_store_specimen *sp = &l->specimens[s];
        if (!memchr(sp->id, '\0', sizeof sp->id) || !sp->id[0])
            return pd_err_set(err, PD_EINVAL, path, "specimen %zu has no id", s + 1);
        char owner[96];
        snprintf(owner, sizeof owner, "specimen '%s'", sp->id);
        rc = check_attrs(path, owner, sp->attrs, sp->n_attrs, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- Creating the layout -------------------------------------------------------------------*/

/* A group whose links and attributes remember their creation order, so readers list channels,
 * instruments and attributes in the order the layout gave them. */
static hid_t make_group(hid_t parent, const char *name, const char *nx_class)
{
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    if (gcpl < 0)
        return -1;
    if (H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0 ||
        H5Pset_attr_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0) {
        H5Pclose(gcpl);
        return -1;
    }
    hid_t g = H5Gcreate2(parent, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    if (g >= 0 && nx_class && pd_store_attr_write_str(g, "NX_class", nx_class) < 0) {
        H5Gclose(g);
        return -1;
    }
    return g;
}

/* A 1-D, initially empty, unlimited dataset with a `units` attribute. */
static hid_t make_column(hid_t group, const char *name, hid_t ftype, hid_t dcpl, const char *units)
{
    hsize_t zero = 0, unlimited = H5S_UNLIMITED;
    hid_t space = H5Screate_simple(1, &zero, &unlimited);
    if (space < 0)
        return -1;
    hid_t d = H5Dcreate2(group, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Sclose(space);
    if (d < 0)
        return -1;
    if (units && pd_store_attr_write_str(d, "units", units) < 0) {
        H5Dclose(d);
        return -1;
    }
    return d;
}

static hid_t make_table(hid_t group, const char *name, hid_t type)
{
    hsize_t zero = 0, unlimited = H5S_UNLIMITED, chunk = PD_STORE_TABLE_CHUNK;
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl < 0)
        return -1;
    hid_t space = H5Screate_simple(1, &zero, &unlimited);
    hid_t d = -1;
    if (space >= 0 && H5Pset_chunk(dcpl, 1, &chunk) >= 0)
        d = H5Dcreate2(group, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (space >= 0)
        H5Sclose(space);
    H5Pclose(dcpl);
    return d;
}

/* Writes a string as a scalar variable-length string dataset (NXsample text fields). */
static int write_str_dataset(hid_t group, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0)
        return -1;
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t d = -1;
    int rc = -1;
    if (space >= 0 && H5Tset_size(t, H5T_VARIABLE) >= 0 && H5Tset_cset(t, H5T_CSET_UTF8) >= 0)
        d = H5Dcreate2(group, name, t, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0) {
        rc = H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value) < 0 ? -1 : 0;
        H5Dclose(d);
    }
    if (space >= 0)
        H5Sclose(space);
    H5Tclose(t);
    return rc;
}

static int write_num_dataset(hid_t group, const char *name, hid_t ftype, hid_t mtype, const void *value,
                             const char *units)
{
    hid_t space = H5Screate(H5S_SCALAR);
    if (space < 0)
        return -1;
    hid_t d = H5Dcreate2(group, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Sclose(space);
    if (d < 0)
        return -1;
    int rc = H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, value) < 0 ? -1 : 0;
    if (rc == 0 && units && units[0])
        rc = pd_store_attr_write_str(d, "units", units);
    H5Dclose(d);
    return rc;
}

/* One NXsample field: a scalar dataset named as the attribute, numbers with a `units` attribute. */
static int write_sample_field(hid_t sample, const struct pd_store_attr *a)
{
    switch (a->type) {
    case PD_STORE_STRING: return write_str_dataset(sample, a->key, a->s);
    case PD_STORE_DOUBLE:
        return write_num_dataset(sample, a->key, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &a->d, a->units);
    case PD_STORE_INT: return write_num_dataset(sample, a->key, H5T_STD_I64LE, H5T_NATIVE_INT64, &a->i, a->units);
    }
    return -1;
}

static int write_status(struct pd_store *st, hid_t status, const char *text)
{
    char buf[PD_STORE_STATUS_LEN] = {0};
    pd_store_copy_utf8(buf, text, sizeof buf);
    return H5Dwrite(status, st->status_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0 ? -1 : 0;
}

static int create_nxdata(struct pd_store *st, hid_t entry, const char *entry_name,
                         const struct pd_store_instrument *in, hid_t dcpl, struct nxdata_w *nx,
                         struct pd_err *err)
{
    hid_t g = make_group(entry, in->name, "NXdata");
    if (g < 0)
        return pd_store_h5_fail(err, PD_EIO, st->path, "cannot create /%s/%s", entry_name, in->name);
    const char *signal = in->signal ? in->signal : in->channels[0].name;
    const char *axes = in->axes ? in->axes : "time";
    char indices[PD_STORE_NAME_MAX + 16];
    snprintf(indices, sizeof indices, "%s_indices", axes);
    const char *what = "attributes";
    int ok = pd_store_attr_write_str(g, "signal", signal) == 0 && pd_store_attr_write_str(g, "axes", axes) == 0 &&
             pd_store_attr_write_int(g, indices, 0) == 0;
    static const char *const units[COL_CHANNEL0] = {"ns", "ns", "1", "1"};
    const hid_t types[COL_CHANNEL0] = {H5T_STD_I64LE, H5T_STD_I64LE, H5T_STD_U32LE, H5T_STD_U64LE};
    for (size_t c = 0; ok && c < COL_CHANNEL0; c++) {
        what = fixed_col_names[c];
        nx->col[c] = make_column(g, what, types[c], dcpl, units[c]);
        ok = nx->col[c] >= 0;
    }
    ok = ok && pd_store_attr_write_str(nx->col[COL_TIME], "epoch", "1970-01-01T00:00:00Z") == 0 &&
         pd_store_attr_write_str(nx->col[COL_QUALITY], "description",
                                 "bit flags: 1 retried, 2 outside plausibility range, 4 simulated") == 0 &&
         pd_store_attr_write_str(nx->col[COL_SEQ], "description",
                                 "the instrument's acquisition sequence number; gaps are listed in /overruns") == 0;
    for (size_t c = 0; ok && c < in->n_channels; c++) {
        what = in->channels[c].name;
        const char *unit = in->channels[c].unit[0] ? in->channels[c].unit : "1";
        nx->col[COL_CHANNEL0 + c] = make_column(g, in->channels[c].name, H5T_IEEE_F64LE, dcpl, unit);
        ok = nx->col[COL_CHANNEL0 + c] >= 0;
    }
    nx->open = 1;
    int rc = ok ? 0 : pd_store_h5_fail(err, PD_EIO, st->path, "cannot create /%s/%s/%s", entry_name, in->name, what);
    H5Gclose(g);
    return rc;
}

static int create_instrument_info(struct pd_store *st, hid_t entry, const char *entry_name,
                                  const struct pd_store_layout *l, struct pd_err *err)
{
    hid_t g = make_group(entry, "instrument", "NXinstrument");
    if (g < 0)
        return pd_store_h5_fail(err, PD_EIO, st->path, "cannot create /%s/instrument", entry_name);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < l->n_instruments; i++) {
        const struct pd_store_instrument *in = &l->instruments[i];
        hid_t ig = make_group(g, in->name, "NXcollection");
        if (ig < 0) {
            rc = pd_store_h5_fail(err, PD_EIO, st->path, "cannot create /%s/instrument/%s", entry_name, in->name);
            break;
        }
        for (size_t a = 0; rc == 0 && a < in->n_attrs; a++)
            if (pd_store_attr_write(ig, &in->attrs[a]) < 0)
                rc = pd_store_h5_fail(err, PD_EIO, st->path, "cannot write attribute %s of /%s/instrument/%s",
                                      in->attrs[a].key, entry_name, in->name);
        H5Gclose(ig);
    }
    H5Gclose(g);
    return rc;
}

static hid_t make_column_dcpl(const struct pd_store_layout *l, const struct pd_store_instrument *in);

static int create_specimen(struct pd_store *st, size_t s, const struct pd_store_layout *l, struct pd_err *err)
{
    const struct pd_store_specimen *sp = &l->specimens[s];
    struct specimen_w *sw = &st->spec[s];
    char name[32];
    pd_store_specimen_group(s, name, sizeof name);
    hid_t entry = make_group(st->file, name, "NXentry");
    if (entry < 0)
        return pd_store_h5_fail(err, PD_EIO, st->path, "cannot create /%s", name);
    int rc = 0;
    if (pd_store_attr_write_str(entry, "default", l->instruments[0].name) < 0 ||
        pd_store_attr_write_str(entry, "specimen_id", sp->id) < 0)
        rc = pd_store_h5_fail(err, PD_EIO, st->path, "cannot write attributes of /%s", name);

    if (rc == 0) {
        hid_t sample = make_group(entry, "sample", "NXsample");
        if (sample < 0)
            rc = pd_store_h5_fail(err, PD_EIO, st->path, "cannot create /%s/sample", name);
        int has_name = 0;
        for (size_t a = 0; rc == 0 && a < sp->n_attrs; a++) {
            has_name |= strcmp(sp->attrs[a].key, "name") == 0;
            if (write_sample_field(sample, &sp->attrs[a]) < 0)
                rc = pd_store_h5_fail(err, PD_EIO, st->path, "cannot write /%s/sample/%s", name, sp->attrs[a].key);
        }
        if (rc == 0 && !has_name && write_str_dataset(sample, "name", sp->id) < 0)
            rc = pd_store_h5_fail(err, PD_EIO, st->path, "cannot write /%s/sample/name", name);
        if (sample >= 0)
            H5Gclose(sample);
    }
    if (rc == 0)
        rc = create_instrument_info(st, entry, name, l, err);
    for (size_t i = 0; rc == 0 && i < l->n_instruments; i++) {
        hid_t dcpl = make_column_dcpl(l, &l->instruments[i]);
        if (dcpl < 0) {
            rc = pd_store_h5_fail(err, PD_EIO, st->path, "cannot set chunking/compression");
            break;
        }
        rc = create_nxdata(st, entry, name, &l->instruments[i], dcpl, &sw->nx[i], err);
        H5Pclose(dcpl);
    }
    if (rc == 0) {
        hid_t space = H5Screate(H5S_SCALAR);
        if (space >= 0)
            sw->status = H5Dcreate2(entry, "status", st->status_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (space >= 0)
            H5Sclose(space);
        if (sw->status < 0 || write_status(st, sw->status, "not tested") < 0)
            rc = pd_store_h5_fail(err, PD_EIO, st->path, "cannot create /%s/status", name);
    }
    if (rc == 0 && (sw->events.id = make_table(entry, "events", st->event_type)) < 0)
        rc = pd_store_h5_fail(err, PD_EIO, st->path, "cannot create /%s/events", name);
    if (rc == 0 && (sw->updates.id = make_table(entry, "sample_updates", st->update_type)) < 0)
        rc = pd_store_h5_fail(err, PD_EIO, st->path, "cannot create /%s/sample_updates", name);
    H5Gclose(entry);
    return rc;
}

static int create_root(struct pd_store *st, const struct pd_store_layout *l, struct pd_err *err)
{
    hid_t root = st->file;
    for (size_t i = 0; i < l->n_run_attrs; i++)
        if (pd_store_attr_write(root, &l->run_attrs[i]) < 0)
            return pd_store_h5_fail(err, PD_EIO, st->path, "cannot write run attribute %s", l->run_attrs[i].key);
    char first[32];
    pd_store_specimen_group(0, first, sizeof first);
    if (pd_store_attr_write_str(root, "NX_class", "NXroot") < 0 ||
        pd_store_attr_write_str(root, "creator", "polydaq") < 0 ||
        pd_store_attr_write_str(root, "default", first) < 0 ||
        pd_store_attr_write_str(root, "file_format", PD_STORE_FILE_FORMAT) < 0 ||
        pd_store_attr_write_int(root, "schema_version", PD_STORE_SCHEMA_VERSION) < 0 ||
        pd_store_attr_write_int(root, "closed_cleanly", 0) < 0)
        return pd_store_h5_fail(err, PD_EIO, st->path, "cannot write the root attributes");
    if ((st->events.id = make_table(root, "events", st->event_type)) < 0)
        return pd_store_h5_fail(err, PD_EIO, st->path, "cannot create /events");
    if ((st->overruns.id = make_table(root, "overruns", st->overrun_type)) < 0)
        return pd_store_h5_fail(err, PD_EIO, st->path, "cannot create /overruns");
    return 0;
}

static void close_id(hid_t *id, herr_t (*fn)(hid_t))
{
    if (*id >= 0)
        fn(*id);
    *id = -1;
}

/* Closes an NXdata group's datasets; callers write its pending chunk first (write_pending). */
static void park_nxdata(struct nxdata_w *nx)
{
    for (size_t c = 0; c < MAX_COLS; c++)
        close_id(&nx->col[c], H5Dclose);
    nx->open = 0;
}

/* Closes every HDF5 object the store holds (not the file) and forgets the ids. */
static void close_objects(struct pd_store *st)
{
    for (size_t s = 0; st->spec && s < st->n_specimens; s++) {
        struct specimen_w *sw = &st->spec[s];
        for (size_t i = 0; sw->nx && i < st->n_instruments; i++)
            park_nxdata(&sw->nx[i]);
        close_id(&sw->status, H5Dclose);
        close_id(&sw->events.id, H5Dclose);
        close_id(&sw->updates.id, H5Dclose);
    }
    close_id(&st->events.id, H5Dclose);
    close_id(&st->overruns.id, H5Dclose);
    close_id(&st->overrun_type, H5Tclose);
    close_id(&st->event_type, H5Tclose);
    close_id(&st->update_type, H5Tclose);
    close_id(&st->status_type, H5Tclose);
}

static void free_store(struct pd_store *st)
{
    close_objects(st);
    close_id(&st->column_dapl, H5Pclose);
    for (size_t s = 0; st->spec && s < st->n_specimens; s++) {
        struct specimen_w *sw = &st->spec[s];
        free(sw->nx);
        for (size_t u = 0; u < sw->n_upd; u++) {
            free(sw->upd[u].key);
            free(sw->upd[u].s);
            free(sw->upd[u].units);
        }
        free(sw->upd);
    }
    free(st->spec);
    for (size_t i = 0; st->instr && i < st->n_instruments; i++) {
        if (st->instr[i].chunks_ready)
            pd_chunk_asm_free(&st->instr[i].chunks);
        for (size_t u = 0; u < st->instr[i].n_summary; u++)
            free_update(&st->instr[i].summary[u]);
        free(st->instr[i].summary);
    }
    free(st->instr);
    pd_deflate_pool_free(st->deflate);
    if (st->lock_fd >= 0)
        close(st->lock_fd); /* releases the run's lock */
    free(st->path);
    free(st);
}

static struct pd_store *alloc_store(const char *path, const struct pd_store_layout *l)
{
    struct pd_store *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->file = st->events.id = st->overruns.id = st->event_type = st->update_type = st->status_type = -1;
    st->column_dapl = -1;
    st->overrun_type = -1;
    st->n_specimens = l->n_specimens;
    st->n_instruments = l->n_instruments;
    st->deflate_level = l->deflate_level;
    st->reserved_instrument = SIZE_MAX;
    st->lock_fd = -1;
    st->path = strdup(path);
    st->instr = calloc(l->n_instruments, sizeof *st->instr);
    st->spec = calloc(l->n_specimens, sizeof *st->spec);
    if (!st->path || !st->instr || !st->spec) {
        free_store(st);
        return NULL;
    }
    for (size_t i = 0; i < l->n_instruments; i++) {
        const struct pd_store_instrument *in = &l->instruments[i];
        pd_strlcpy(st->instr[i].name, in->name, sizeof st->instr[i].name);
        st->instr[i].current = SIZE_MAX;
        st->instr[i].n_channels = in->n_channels;
        for (size_t c = 0; c < in->n_channels; c++)
            pd_strlcpy(st->instr[i].channel[c], in->channels[c].name, PD_STORE_NAME_MAX);
    }
    for (size_t s = 0; s < l->n_specimens; s++) {
        struct specimen_w *sw = &st->spec[s];
        sw->status = sw->events.id = sw->updates.id = -1;
        sw->nx = calloc(l->n_instruments, sizeof *sw->nx);
        if (!sw->nx) {
            free_store(st);
            return NULL;
        }
        for (size_t i = 0; i < l->n_instruments; i++) {
            struct nxdata_w *nx = &sw->nx[i];
            for (size_t c = 0; c < MAX_COLS; c++)
                nx->col[c] = -1;
        }
    }
    return st;
}

/* File access: the newest format (required for SWMR) and a close that takes every object along. */
static hid_t make_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0)
        return -1;
    if (H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST) < 0 ||
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

static hsize_t layout_chunk(const struct pd_store_layout *l, const struct pd_store_instrument *in)
{
    return in->chunk_samples ? (hsize_t)in->chunk_samples
                             : l->chunk_samples ? (hsize_t)l->chunk_samples : PD_STORE_DEFAULT_CHUNK;
}

static hid_t make_column_dcpl(const struct pd_store_layout *l, const struct pd_store_instrument *in)
{
    hsize_t chunk = layout_chunk(l, in);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl < 0)
        return -1;
    /* Every row is written before it is part of the extent, so a fresh chunk needs no fill value
     * (saves a memset of each chunk buffer). */
    int ok = H5Pset_chunk(dcpl, 1, &chunk) >= 0 && H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) >= 0;
    if (ok && l->deflate_level >= 0)
        ok = H5Pset_shuffle(dcpl) >= 0 && H5Pset_deflate(dcpl, (unsigned)l->deflate_level) >= 0;
    if (!ok) {
        H5Pclose(dcpl);
        return -1;
    }
    return dcpl;
}

/* Dataset access for the sample columns: no chunk cache. The store assembles each chunk itself
 * and writes it whole (chunks.c); HDF5's cache would only hold a copy of what it never reads. */
static hid_t make_column_dapl(void)
{
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl < 0)
        return -1;
    if (H5Pset_chunk_cache(dapl, 0, 0, 1.0) < 0) {
        H5Pclose(dapl);
        return -1;
    }
    return dapl;
}

static int build_file(struct pd_store *st, const struct pd_store_layout *l, struct pd_err *err)
{
    for (size_t i = 0; i < l->n_instruments; i++)
        st->instr[i].chunk = (size_t)layout_chunk(l, &l->instruments[i]);
    if ((st->column_dapl = make_column_dapl()) < 0)
        return pd_store_h5_fail(err, PD_EIO, st->path, "cannot set the chunk cache");
    st->event_type = pd_store_event_type();
    st->update_type = pd_store_update_type();
    st->status_type = pd_store_fixed_str_type(PD_STORE_STATUS_LEN);
    st->overrun_type = pd_store_overrun_type();
    if (st->event_type < 0 || st->update_type < 0 || st->status_type < 0 || st->overrun_type < 0)
        return pd_store_h5_fail(err, PD_EIO, st->path, "cannot build the table types");
    int rc = create_root(st, l, err);
    if (rc < 0)
        return rc;
    for (size_t s = 0; rc == 0 && s < l->n_specimens; s++)
        rc = create_specimen(st, s, l, err);
    if (rc < 0)
        return rc;
    for (size_t s = 0; s < l->n_specimens; s++)
        for (size_t i = 0; i < l->n_instruments; i++)
            park_nxdata(&st->spec[s].nx[i]);
    /* From here on only existing datasets are extended and written: what SWMR readers can follow. */
    if (H5Fstart_swmr_write(st->file) < 0)
        return pd_store_h5_fail(err, PD_EIO, st->path, "cannot start SWMR writing");
    return 0;
}

int pd_store_create(const char *path, const struct pd_store_layout *layout, struct pd_store **out,
                    struct pd_err *err)
{
    if (!path || !path[0] || !layout || !out)
        return pd_err_set(err, PD_EINVAL, path, "pd_store_create: missing path, layout or output");
    int rc = check_layout(path, layout, err);
    if (rc < 0)
        return rc;
    struct stat sb;
    if (stat(path, &sb) == 0)
        return pd_err_set_os(err, PD_EIO, EEXIST, path, "refusing to overwrite an existing file");
    /* HDF5 1.10.8 crashes in its exit-time clean-up on a file whose close failed (a write error,
     * disk full): a writing process closes its files itself and asks for no exit-time clean-up.
     * This only takes effect before the library's first use in the process; later it is a no-op. */
    H5dont_atexit();
    pd_store_h5_quiet();
    struct pd_store *st = alloc_store(path, layout);
    if (!st)
        return pd_err_set(err, PD_ENOMEM, path, "out of memory for the run file's layout");

    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    hid_t fapl = make_fapl();
    if (fcpl >= 0 && fapl >= 0 &&
        H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) >= 0 &&
        H5Pset_attr_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) >= 0)
        st->file = H5Fcreate(path, H5F_ACC_EXCL, fcpl, fapl);
    if (st->file < 0)
        rc = pd_store_h5_fail(err, PD_EIO, path, "cannot create the run file");
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (fapl >= 0)
        H5Pclose(fapl);
    if (rc == 0) { /* locked before anything else can see the file as a run file */
        void *handle = NULL;
        int hdf5_fd = H5Fget_vfd_handle(st->file, H5P_DEFAULT, &handle) >= 0 && handle ? *(int *)handle : -1;
        rc = pd_store_writer_lock(path, hdf5_fd, &st->lock_fd, &st->dev, &st->ino, err);
    }
    if (rc == 0)
        rc = build_file(st, layout, err);
    if (rc < 0) {
        close_objects(st);
        if (st->file >= 0)
            H5Fclose(st->file);
        pd_store_h5_forget();
        /* It did not exist before this call, so whatever is there now is our half-made file. */
        if (stat(path, &sb) == 0)
            unlink(path);
        st->file = -1;
        free_store(st);
        return rc;
    }
    *out = st;
    return 0;
}

/* ---- Writing during the run ----------------------------------------------------------------*/

static const char *col_name(const struct instrument_w *in, size_t c)
{
    return c < COL_CHANNEL0 ? fixed_col_names[c] : in->channel[c - COL_CHANNEL0];
}

/* Writes the instrument's chunk being assembled if it holds rows the file does not have yet. */
static int write_pending(struct pd_store *st, size_t instrument, struct pd_err *err)
{
    struct instrument_w *in = &st->instr[instrument];
    if (!in->chunks_ready || in->current == SIZE_MAX || in->chunks.fill == in->chunks.in_file)
        return 0;
    struct nxdata_w *nx = &st->spec[in->current].nx[instrument];
    size_t c = 0;
    if (pd_chunk_asm_write(&in->chunks, nx->col, &c) < 0) {
        char sg[32];
        pd_store_specimen_group(in->current, sg, sizeof sg);
        return pd_store_h5_fail(err, PD_EIO, st->path, "cannot write samples to /%s/%s/%s", sg, in->name,
                                col_name(in, c));
    }
    return 0;
}

/* Makes `specimen` the one whose datasets of this instrument are open and whose chunk is being
 * assembled, handing the previous specimen's last chunk to the file and parking its datasets. */
static int open_nxdata(struct pd_store *st, size_t specimen, size_t instrument, struct pd_err *err)
{
    struct instrument_w *in = &st->instr[instrument];
    struct nxdata_w *nx = &st->spec[specimen].nx[instrument];
    char sg[32];
    pd_store_specimen_group(specimen, sg, sizeof sg);
    size_t n_cols = COL_CHANNEL0 + in->n_channels;
    if (in->current == specimen && nx->open && in->chunks_ready)
        return 0;
    if (in->current != specimen && in->current != SIZE_MAX) {
        struct nxdata_w *old = &st->spec[in->current].nx[instrument];
        if (old->open) {
            int rc = write_pending(st, instrument, err);
            if (rc < 0)
                return rc;
            for (size_t c = 0; c < n_cols; c++)
                if (H5Dflush(old->col[c]) < 0)
                    return pd_store_h5_fail(err, PD_EIO, st->path, "cannot flush /%s/%s", sg, in->name);
            old->dirty = 0;
            park_nxdata(old);
        }
    }
    in->current = SIZE_MAX; /* until the new one is fully set up */
    if (!nx->open) {
        char path[128];
        for (size_t c = 0; c < n_cols; c++) {
            snprintf(path, sizeof path, "/%s/%s/%s", sg, in->name, col_name(in, c));
            if ((nx->col[c] = H5Dopen2(st->file, path, st->column_dapl)) < 0) {
                park_nxdata(nx);
                return pd_store_h5_fail(err, PD_EIO, st->path, "cannot open %s", path);
            }
        }
        nx->open = 1;
    }
    if (!in->chunks_ready) {
        /* the columns' memory types, in the order of fixed_col_names, then every channel */
        hid_t mtype[MAX_COLS] = {H5T_NATIVE_INT64, H5T_NATIVE_INT64, H5T_NATIVE_UINT32, H5T_NATIVE_UINT64};
        for (size_t c = COL_CHANNEL0; c < n_cols; c++)
            mtype[c] = H5T_NATIVE_DOUBLE;
        if (st->deflate_level >= 0 && !st->deflate && !(st->deflate = pd_deflate_pool_new(st->deflate_level)))
            return pd_err_set(err, PD_ENOMEM, st->path, "out of memory for compressing %s", in->name);
        if (pd_chunk_asm_init(&in->chunks, n_cols, mtype, in->chunk, st->deflate) < 0)
            return pd_err_set(err, PD_ENOMEM, st->path, "out of memory for the chunks of %s", in->name);
        in->chunks_ready = 1;
    }
    if (pd_chunk_asm_begin(&in->chunks, nx->col, nx->size) < 0)
        return pd_store_h5_fail(err, PD_EIO, st->path, "cannot read back the last chunk of /%s/%s", sg, in->name);
    in->current = specimen;
    return 0;
}

static int bad_specimen(const struct pd_store *st, size_t specimen, struct pd_err *err)
{
    return pd_store_bad_index(err, st->path, "specimen", specimen, st->n_specimens);
}

/* 0 when both indices name something in the file; otherwise PD_EINVAL naming the bad one. */
static int check_indices(const struct pd_store *st, size_t specimen, size_t instrument, struct pd_err *err)
{
    if (specimen >= st->n_specimens)
        return bad_specimen(st, specimen, err);
    if (instrument >= st->n_instruments)
        return pd_store_bad_index(err, st->path, "instrument", instrument, st->n_instruments);
    return 0;
}

int pd_store_append_reserve(struct pd_store *st, size_t specimen, size_t instrument, size_t max,
                            struct pd_store_slot *slot, size_t *n, struct pd_err *err)
{
    if (!st || !slot || !n)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_store_append_reserve: no store or slot");
    st->reserved_instrument = SIZE_MAX;
    int rc = check_indices(st, specimen, instrument, err);
    if (rc < 0)
        return rc;
    if (max == 0)
        return pd_err_set(err, PD_EINVAL, st->path, "pd_store_append_reserve: no room asked for");
    pd_store_h5_quiet(); /* the appending thread may not be the one that created the file */
    if ((rc = open_nxdata(st, specimen, instrument, err)) < 0)
        return rc;
    struct pd_chunk_asm *a = &st->instr[instrument].chunks;
    size_t room = a->chunk - a->fill;
    size_t k = max < room ? max : room;
    slot->t_utc_ns = (int64_t *)(void *)a->buf[COL_TIME] + a->fill;
    slot->t_unc_ns = (int64_t *)(void *)a->buf[COL_UNC] + a->fill;
    slot->quality = (uint32_t *)(void *)a->buf[COL_QUALITY] + a->fill;
    slot->seq = (uint64_t *)(void *)a->buf[COL_SEQ] + a->fill;
    for (size_t c = 0; c < PD_STORE_MAX_CHANNELS; c++)
        slot->columns[c] = c < st->instr[instrument].n_channels
                               ? (double *)(void *)a->buf[COL_CHANNEL0 + c] + a->fill
                               : NULL;
    st->reserved_instrument = instrument;
    st->reserved_n = k;
    *n = k;
    return 0;
}

int pd_store_append_commit(struct pd_store *st, size_t k, struct pd_err *err)
{
    if (!st)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_store_append_commit: no store");
    size_t instrument = st->reserved_instrument;
    if (instrument == SIZE_MAX || k > st->reserved_n)
        return pd_err_set(err, PD_EINVAL, st->path, "pd_store_append_commit: %s",
                          instrument == SIZE_MAX ? "no open reservation" : "more rows than reserved");
    st->reserved_instrument = SIZE_MAX;
    if (k == 0)
        return 0;
    struct instrument_w *in = &st->instr[instrument];
    struct pd_chunk_asm *a = &in->chunks;
    struct nxdata_w *nx = &st->spec[in->current].nx[instrument];
    const uint64_t *seq = (const uint64_t *)(const void *)a->buf[COL_SEQ];
    in->next_seq = seq[a->fill + k - 1] + 1;
    a->fill += k;
    nx->size += k;
    nx->dirty = 1;
    return a->fill == a->chunk ? write_pending(st, instrument, err) : 0;
}

/* Rows (`values`, row-major) or columns: exactly one of the two is given. */
static int append_samples(struct pd_store *st, size_t specimen, size_t instrument, size_t n,
                          const int64_t *t_utc_ns, const int64_t *t_unc_ns, const uint32_t *quality,
                          const uint64_t *seq, const double *values, const double *const *columns,
                          struct pd_err *err)
{
    if (!st)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_store_append: no store");
    st->reserved_instrument = SIZE_MAX;
    int rc = check_indices(st, specimen, instrument, err);
    if (rc < 0)
        return rc;
    if (n == 0)
        return 0;
    if (!t_utc_ns || (!values && !columns))
        return pd_err_set(err, PD_EINVAL, st->path, "pd_store_append: missing times or values");
    const size_t n_ch = st->instr[instrument].n_channels;
    for (size_t ch = 0; columns && ch < n_ch; ch++)
        if (!columns[ch])
            return pd_err_set(err, PD_EINVAL, st->path, "pd_store_append: column %zu missing", ch);
    for (size_t done = 0; done < n;) {
        struct pd_store_slot s;
        size_t k = 0;
        if ((rc = pd_store_append_reserve(st, specimen, instrument, n - done, &s, &k, err)) < 0)
            return rc;
        memcpy(s.t_utc_ns, t_utc_ns + done, k * sizeof *t_utc_ns);
        if (t_unc_ns)
            memcpy(s.t_unc_ns, t_unc_ns + done, k * sizeof *t_unc_ns);
        else
            memset(s.t_unc_ns, 0, k * sizeof *s.t_unc_ns);
        if (quality)
            memcpy(s.quality, quality + done, k * sizeof *quality);
        else
            memset(s.quality, 0, k * sizeof *s.quality);
        uint64_t next = st->instr[instrument].next_seq;
        for (size_t i = 0; i < k; i++)
            s.seq[i] = seq ? seq[done + i] : next + i;
        for (size_t ch = 0; ch < n_ch; ch++) {
            if (columns) {
                memcpy(s.columns[ch], columns[ch] + done, k * sizeof(double));
                continue;
            }
            /* The caller's rows interleave channels; each dataset wants one contiguous column. */
            for (size_t i = 0; i < k; i++)
                s.columns[ch][i] = values[(done + i) * n_ch + ch];
        }
        if ((rc = pd_store_append_commit(st, k, err)) < 0)
            return rc;
        done += k;
    }
    return 0;
}

int pd_store_append(struct pd_store *st, size_t specimen, size_t instrument, size_t n,
                    const int64_t *t_utc_ns, const int64_t *t_unc_ns, const uint32_t *quality,
                    const double *values, struct pd_err *err)
{
    return pd_store_append_seq(st, specimen, instrument, n, t_utc_ns, t_unc_ns, quality, NULL, values, err);
}

int pd_store_append_seq(struct pd_store *st, size_t specimen, size_t instrument, size_t n,
                        const int64_t *t_utc_ns, const int64_t *t_unc_ns, const uint32_t *quality,
                        const uint64_t *seq, const double *values, struct pd_err *err)
{
    return append_samples(st, specimen, instrument, n, t_utc_ns, t_unc_ns, quality, seq, values, NULL, err);
}

int pd_store_append_columns(struct pd_store *st, size_t specimen, size_t instrument, size_t n,
                            const int64_t *t_utc_ns, const int64_t *t_unc_ns, const uint32_t *quality,
                            const uint64_t *seq, const double *const *columns, struct pd_err *err)
{
    if (n && !columns)
        return pd_err_set(err, PD_EINVAL, st ? st->path : NULL, "pd_store_append_columns: missing columns");
    return append_samples(st, specimen, instrument, n, t_utc_ns, t_unc_ns, quality, seq, NULL, columns, err);
}

int pd_store_add_overrun(struct pd_store *st, const struct pd_store_overrun *o, struct pd_err *err)
{
    if (!st || !o)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_store_add_overrun: no store or overrun");
    pd_store_h5_quiet();
    if (o->instrument >= st->n_instruments)
        return pd_store_bad_index(err, st->path, "instrument", o->instrument, st->n_instruments);
    if (o->specimen != SIZE_MAX && o->specimen >= st->n_specimens)
        return bad_specimen(st, o->specimen, err);
    struct pd_store_overrun_row row;
    memset(&row, 0, sizeof row);
    pd_strlcpy(row.instrument, st->instr[o->instrument].name, sizeof row.instrument);
    row.specimen = o->specimen == SIZE_MAX ? 0 : (int32_t)(o->specimen + 1);
    row.first_seq = o->first_seq;
    row.last_seq = o->last_seq;
    row.count = o->count;
    row.t_first = o->t_first_utc_ns;
    row.t_last = o->t_last_utc_ns;
    if (pd_store_append_rows(st->overruns.id, st->overrun_type, st->overruns.size, 1, &row) < 0)
        return pd_store_h5_fail(err, PD_EIO, st->path, "cannot append to /overruns");
    st->overruns.size++;
    st->overruns.dirty = 1;
    return 0;
}

int pd_store_add_event(struct pd_store *st, size_t specimen, int64_t t_utc_ns, const char *kind,
                       const char *text, struct pd_err *err)
{
    if (!st)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_store_add_event: no store");
    pd_store_h5_quiet();
    if (specimen != SIZE_MAX && specimen >= st->n_specimens)
        return bad_specimen(st, specimen, err);
    if (!kind || !kind[0] || strlen(kind) >= PD_STORE_EVENT_KIND_LEN)
        return pd_err_set(err, PD_EINVAL, st->path, "event kind '%s' is empty or longer than %d bytes",
                          kind ? kind : "", PD_STORE_EVENT_KIND_LEN - 1);
    struct pd_store_event_row row;
    memset(&row, 0, sizeof row);
    row.time = t_utc_ns;
    pd_strlcpy(row.kind, kind, sizeof row.kind);
    /* Event text is for people; a longer one is cut (on a character boundary) rather than lost. */
    pd_store_copy_utf8(row.text, text ? text : "", sizeof row.text);
    struct table_w *tab = specimen == SIZE_MAX ? &st->events : &st->spec[specimen].events;
    if (pd_store_append_rows(tab->id, st->event_type, tab->size, 1, &row) < 0) {
        char sg[32] = "";
        if (specimen != SIZE_MAX)
            pd_store_specimen_group(specimen, sg, sizeof sg);
        return pd_store_h5_fail(err, PD_EIO, st->path, "cannot append an event to %s/events",
                                specimen == SIZE_MAX ? "" : sg);
    }
    tab->size++;
    tab->dirty = 1;
    return 0;
}

static void free_update(struct update_w *u)
{
    free(u->key);
    free(u->s);
    free(u->units);
}

/* Remembers the latest value of a key so close can fold it into the NXsample group. */
static int remember_update(struct specimen_w *sw, const struct pd_store_attr *a)
{
    struct update_w u = {0};
    u.key = strdup(a->key);
    u.type = a->type;
    u.s = a->type == PD_STORE_STRING ? strdup(a->s) : NULL;
    u.d = a->d;
    u.i = a->i;
    u.units = a->units && a->units[0] ? strdup(a->units) : NULL;
    if (!u.key || (a->type == PD_STORE_STRING && !u.s) || (a->units && a->units[0] && !u.units)) {
        free_update(&u);
        return -1;
    }
    for (size_t k = 0; k < sw->n_upd; k++)
        if (strcmp(sw->upd[k].key, a->key) == 0) {
            free_update(&sw->upd[k]);
            sw->upd[k] = u;
            return 0;
        }
    struct update_w *p = realloc(sw->upd, (sw->n_upd + 1) * sizeof *p);
    if (!p) {
        free_update(&u);
        return -1;
    }
    sw->upd = p;
    sw->upd[sw->n_upd++] = u;
    return 0;
}

int pd_store_set_specimen_attr(struct pd_store *st, size_t specimen, const struct pd_store_attr *attr,
                               struct pd_err *err)
{
    if (!st || !attr)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_store_set_specimen_attr: no store or attribute");
    pd_store_h5_quiet();
    if (specimen >= st->n_specimens)
        return bad_specimen(st, specimen, err);
    int rc = check_attrs(st->path, "specimen update", attr, 1, err);
    if (rc < 0)
        return rc;
    struct specimen_w *sw = &st->spec[specimen];
    char sg[32];
    pd_store_specimen_group(specimen, sg, sizeof sg);
    if (strcmp(attr->key, "status") == 0) {
        if (attr->type != PD_STORE_STRING)
            return pd_err_set(err, PD_EINVAL, st->path, "/%s/status must be a string", sg);
        if (strlen(attr->s) >= PD_STORE_STATUS_LEN)
            return pd_err_set(err, PD_ERANGE, st->path, "/%s/status: '%.40s...' is longer than %d bytes", sg,
                              attr->s, PD_STORE_STATUS_LEN - 1);
        if (write_status(st, sw->status, attr->s) < 0)
            return pd_store_h5_fail(err, PD_EIO, st->path, "cannot write /%s/status", sg);
        sw->status_dirty = 1;
        return 0;
    }
    /* Other keys go to a pre-created table (new datasets are not allowed under SWMR); the reader
     * lets the latest row win, and close also rewrites the NXsample field. */
    struct pd_store_update_row row;
    memset(&row, 0, sizeof row);
    row.time = pd_clock_utc_ns();
    if (strlen(attr->key) >= sizeof row.key)
        return pd_err_set(err, PD_EINVAL, st->path, "/%s: attribute key '%s' is longer than %zu bytes", sg, attr->key,
                          sizeof row.key - 1);
    pd_strlcpy(row.key, attr->key, sizeof row.key);
    if (attr->units && pd_strlcpy(row.units, attr->units, sizeof row.units) < 0)
        return pd_err_set(err, PD_ERANGE, st->path, "/%s: units of '%s' longer than %zu bytes", sg, attr->key,
                          sizeof row.units - 1);
    switch (attr->type) {
    case PD_STORE_STRING:
        if (pd_strlcpy(row.value, attr->s, sizeof row.value) < 0)
            return pd_err_set(err, PD_ERANGE, st->path, "/%s: value of '%s' longer than %zu bytes", sg, attr->key,
                              sizeof row.value - 1);
        break;
    case PD_STORE_DOUBLE: pd_store_format_double(attr->d, row.value, sizeof row.value); break;
    case PD_STORE_INT: snprintf(row.value, sizeof row.value, "%" PRId64, attr->i); break;
    }
    if (remember_update(sw, attr) < 0)
        return pd_err_set(err, PD_ENOMEM, st->path, "out of memory for specimen attribute '%s'", attr->key);
    if (pd_store_append_rows(sw->updates.id, st->update_type, sw->updates.size, 1, &row) < 0)
        return pd_store_h5_fail(err, PD_EIO, st->path, "cannot append to /%s/sample_updates", sg);
    sw->updates.size++;
    sw->updates.dirty = 1;
    return 0;
}

int pd_store_set_instrument_summary(struct pd_store *st, size_t instrument, size_t n_attrs,
                                    const struct pd_store_attr *attrs, struct pd_err *err)
{
    if (!st)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_store_set_instrument_summary: no store");
    if (instrument >= st->n_instruments)
        return pd_store_bad_index(err, st->path, "instrument", instrument, st->n_instruments);
    int rc = check_attrs(st->path, "instrument summary", attrs, n_attrs, err);
    if (rc < 0)
        return rc;
    struct update_w *copy = calloc(n_attrs ? n_attrs : 1, sizeof *copy);
    if (!copy)
        return pd_err_set(err, PD_ENOMEM, st->path, "out of memory");
    for (size_t k = 0; k < n_attrs; k++) {
        const struct pd_store_attr *a = &attrs[k];
        copy[k].key = strdup(a->key);
        copy[k].type = a->type;
        copy[k].s = a->type == PD_STORE_STRING ? strdup(a->s) : NULL;
        copy[k].d = a->d;
        copy[k].i = a->i;
        copy[k].units = a->units && a->units[0] ? strdup(a->units) : NULL;
        if (!copy[k].key || (a->type == PD_STORE_STRING && !copy[k].s) || (a->units && a->units[0] && !copy[k].units)) {
            for (size_t j = 0; j <= k; j++)
                free_update(&copy[j]);
            free(copy);
            return pd_err_set(err, PD_ENOMEM, st->path, "out of memory");
        }
    }
    struct instrument_w *in = &st->instr[instrument];
    for (size_t u = 0; u < in->n_summary; u++)
        free_update(&in->summary[u]);
    free(in->summary);
    in->summary = copy;
    in->n_summary = n_attrs;
    return 0;
}

int pd_store_flush_nosync(struct pd_store *st, struct pd_err *err)
{
    if (!st)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_store_flush: no store");
    pd_store_h5_quiet();
    st->reserved_instrument = SIZE_MAX;
    /* each instrument's chunk as it stands (rewritten in place once it is full) */
    for (size_t i = 0; i < st->n_instruments; i++) {
        int rc = write_pending(st, i, err);
        if (rc < 0)
            return rc;
    }
    /* One H5Fflush writes every dataset and the file's metadata, the superblock's
     * end-of-allocation included (so a crashed file opens normally after only clearing its SWMR
     * mark, h5clear -s). An H5Dflush per dataset before it cost a scan of HDF5's whole metadata
     * cache each (the cache builds its skip list per flush call): for 50 instruments, 300 scans a
     * second, most of a monitoring run's CPU (docs/BENCHMARKS.md "Monitoring"). */
    for (size_t s = 0; s < st->n_specimens; s++) {
        struct specimen_w *sw = &st->spec[s];
        for (size_t i = 0; i < st->n_instruments; i++)
            sw->nx[i].dirty = 0;
        sw->status_dirty = sw->events.dirty = sw->updates.dirty = 0;
    }
    st->events.dirty = st->overruns.dirty = 0;
    int ok = H5Fflush(st->file, H5F_SCOPE_LOCAL) >= 0;
    if (!ok)
        return pd_store_h5_fail(err, PD_EIO, st->path, "cannot flush the run file");
    pd_store_h5_forget();
    return 0;
}

int pd_store_flush(struct pd_store *st, struct pd_err *err)
{
    int rc = pd_store_flush_nosync(st, err);
    if (rc < 0)
        return rc;
    /* HDF5 only hands the bytes to the kernel; fsync makes a flushed sample survive a power cut. */
    void *handle = NULL;
    if (H5Fget_vfd_handle(st->file, H5P_DEFAULT, &handle) >= 0 && handle) {
        if (fsync(*(int *)handle) < 0 && errno != EINVAL)
            return pd_err_set_os(err, PD_EIO, errno, st->path, "fsync failed");
    }
    pd_store_h5_forget();
    return 0;
}

/* ---- Closing -------------------------------------------------------------------------------*/

/* Replaces NXsample fields set during the run by their final values (SWMR is over by now). */
static int fold_updates(struct pd_store *st, hid_t file, struct pd_err *err)
{
    for (size_t s = 0; s < st->n_specimens; s++) {
        struct specimen_w *sw = &st->spec[s];
        if (sw->n_upd == 0)
            continue;
        char path[64];
        pd_store_specimen_group(s, path, sizeof path);
        strcat(path, "/sample");
        hid_t g = H5Gopen2(file, path, H5P_DEFAULT);
        if (g < 0)
            return pd_store_h5_fail(err, PD_EIO, st->path, "cannot open /%s", path);
        for (size_t u = 0; u < sw->n_upd; u++) {
            const struct update_w *up = &sw->upd[u];
            struct pd_store_attr a = {.key = up->key, .type = up->type, .s = up->s, .d = up->d, .i = up->i,
                                      .units = up->units};
            htri_t exists = H5Lexists(g, up->key, H5P_DEFAULT);
            if (exists < 0 || (exists > 0 && H5Ldelete(g, up->key, H5P_DEFAULT) < 0) || write_sample_field(g, &a) < 0) {
                int rc = pd_store_h5_fail(err, PD_EIO, st->path, "cannot rewrite /%s/%s", path, up->key);
                H5Gclose(g);
                return rc;
            }
        }
        H5Gclose(g);
    }
    return 0;
}

/* /acquisition/<instrument>: the per-instrument counters of the run (SWMR is over by now). */
static int write_summaries(struct pd_store *st, hid_t file, struct pd_err *err)
{
    hid_t g = make_group(file, "acquisition", "NXcollection");
    if (g < 0)
        return pd_store_h5_fail(err, PD_EIO, st->path, "cannot create /acquisition");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < st->n_instruments; i++) {
        const struct instrument_w *in = &st->instr[i];
        hid_t ig = make_group(g, in->name, "NXcollection");
        if (ig < 0) {
            rc = pd_store_h5_fail(err, PD_EIO, st->path, "cannot create /acquisition/%s", in->name);
            break;
        }
        for (size_t u = 0; rc == 0 && u < in->n_summary; u++) {
            const struct update_w *up = &in->summary[u];
            struct pd_store_attr a = {.key = up->key, .type = up->type, .s = up->s, .d = up->d, .i = up->i,
                                      .units = up->units};
            if (pd_store_attr_write(ig, &a) < 0)
                rc = pd_store_h5_fail(err, PD_EIO, st->path, "cannot write /acquisition/%s %s", in->name, up->key);
        }
        H5Gclose(ig);
    }
    H5Gclose(g);
    return rc;
}

/* PD_ESTATE when the run's path no longer names the file this run created (moved away or replaced
 * while the run was live, e.g. by a recover that ignored the lock): its data then stay where they
 * are, in its own file, which is left as a crashed run's (SWMR mark set, not closed cleanly). */
static int still_our_file(const struct pd_store *st, const struct stat *sb, struct pd_err *err)
{
    if (sb->st_dev == st->dev && sb->st_ino == st->ino)
        return 0;
    return pd_err_set(err, PD_ESTATE, st->path,
                      "no longer names the file this run created (it was moved or replaced while the run was "
                      "live): the final attributes were not written into another file; the run's data stay in "
                      "its own file, which `polydaq recover` makes readable");
}

static int finish_file(struct pd_store *st, size_t n_final, const struct pd_store_attr *final_attrs,
                       struct pd_err *err)
{
    struct stat sb;
    if (stat(st->path, &sb) < 0)
        return pd_err_set_os(err, PD_ESTATE, errno, st->path,
                             "the run file is gone (moved or deleted while the run was live); not closed cleanly");
    int rc = still_our_file(st, &sb, err);
    if (rc < 0)
        return rc;
    hid_t fapl = make_fapl();
    if (fapl < 0)
        return pd_store_h5_fail(err, PD_EIO, st->path, "cannot prepare reopening");
    hid_t file = H5Fopen(st->path, H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    if (file < 0)
        return pd_store_h5_fail(err, PD_EIO, st->path, "cannot reopen to write the final attributes");
    /* The same check on the file actually opened (the path may have changed since the stat):
     * nothing is written into another one. */
    void *handle = NULL;
    if (H5Fget_vfd_handle(file, H5P_DEFAULT, &handle) < 0 || !handle || fstat(*(int *)handle, &sb) < 0)
        rc = pd_store_h5_fail(err, PD_EIO, st->path, "cannot check the reopened run file");
    else
        rc = still_our_file(st, &sb, err);
    for (size_t i = 0; rc == 0 && i < n_final; i++)
        if (pd_store_attr_write(file, &final_attrs[i]) < 0)
            rc = pd_store_h5_fail(err, PD_EIO, st->path, "cannot write final run attribute %s", final_attrs[i].key);
    if (rc == 0)
        rc = fold_updates(st, file, err);
    if (rc == 0)
        rc = write_summaries(st, file, err);
    /* Written last: a file that says it was closed cleanly has everything else in it. */
    if (rc == 0 && pd_store_attr_write_int(file, "closed_cleanly", 1) < 0)
        rc = pd_store_h5_fail(err, PD_EIO, st->path, "cannot mark the file closed cleanly");
    if (H5Fclose(file) < 0 && rc == 0)
        rc = pd_store_h5_fail(err, PD_EIO, st->path, "closing after the final attributes failed");
    return rc;
}

int pd_store_close(struct pd_store *st, size_t n_final_attrs, const struct pd_store_attr *final_attrs,
                   struct pd_err *err)
{
    if (!st)
        return 0;
    pd_store_h5_quiet();
    int rc = check_attrs(st->path, "final run", final_attrs, n_final_attrs, err);
    for (size_t i = 0; rc == 0 && i < n_final_attrs; i++)
        if (in_list(final_attrs[i].key, reserved_at_root, sizeof reserved_at_root / sizeof *reserved_at_root))
            rc = pd_err_set(err, PD_EINVAL, st->path, "final attribute '%s' is reserved by the file format",
                            final_attrs[i].key);
    st->reserved_instrument = SIZE_MAX;
    for (size_t i = 0; i < st->n_instruments; i++) { /* the samples still in memory first */
        struct pd_err e;
        int w = write_pending(st, i, rc == 0 ? err : &e);
        if (w < 0 && rc == 0)
            rc = w;
    }
    close_objects(st);
    herr_t closed = H5Fclose(st->file);
    st->file = -1;
    if (closed < 0 && rc == 0)
        rc = pd_store_h5_fail(err, PD_EIO, st->path, "closing the run file failed");
    if (rc == 0)
        rc = finish_file(st, n_final_attrs, final_attrs, err);
    if (rc == 0) { /* the closed file, final attributes included, on the disk before we say so */
        int fd = open(st->path, O_RDONLY);
        if (fd >= 0) {
            if (fsync(fd) < 0 && errno != EINVAL)
                rc = pd_err_set_os(err, PD_EIO, errno, st->path, "fsync failed");
            close(fd);
        }
    }
    pd_store_h5_forget();
    free_store(st);
    return rc;
}
