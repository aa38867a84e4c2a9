/* h5util.c — the HDF5 plumbing shared by the run-file writer and reader (errors, types, attributes). */
#include "store/store_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The innermost message of the last failed HDF5 call. HDF5 clears its error stack at the start of
 * every API call, so by the time the store builds its message (after closing ids, say) the stack
 * is gone; the automatic-error hook runs as the failing call returns and keeps what matters. The
 * serial HDF5 build is not thread-safe anyway, so one buffer is enough. */
static _Thread_local char last_h5_error[200];

static herr_t take_innermost(unsigned n, const H5E_error2_t *e, void *data)
{
    (void)data;
    /* Walking upward, entry 0 is the most specific failure: the one that says what was wrong. */
    if (n != 0 || !e || !e->desc)
        return 0;
    /* The file drivers put the OS's reason deep inside a long line ("file write failed: time =
     * ..., errno = 28, error message = 'No space left on device', ..."): lift it to the front. */
    const char *msg = strstr(e->desc, "error message = '");
    const char *colon = strchr(e->desc, ':');
    if (msg && colon) {
        msg += strlen("error message = '");
        const char *end = strchr(msg, '\'');
        int len = end ? (int)(end - msg) : (int)strlen(msg);
        snprintf(last_h5_error, sizeof last_h5_error, "%.*s: %.*s", (int)(colon - e->desc), e->desc, len, msg);
    } else {
        pd_strlcpy(last_h5_error, e->desc, sizeof last_h5_error);
    }
    return 0;
}

static herr_t capture_error(hid_t estack, void *data)
{
    (void)data;
    last_h5_error[0] = '\0';
    H5Ewalk2(estack, H5E_WALK_UPWARD, take_innermost, NULL);
    return 0;
}

void pd_store_h5_quiet(void)
{
    /* Replaces HDF5's printing of error stacks to stderr by capture_error. A thread-safe HDF5
     * build keeps this setting per thread; and a program may have set its own since (tests turn
     * printing off with H5Eset_auto2(..., NULL, NULL)), so it is checked every time, not once. */
    H5E_auto2_t func = NULL;
    void *data = NULL;
    if (H5Eget_auto2(H5E_DEFAULT, &func, &data) < 0 || func != capture_error)
        H5Eset_auto2(H5E_DEFAULT, capture_error, NULL);
    last_h5_error[0] = '\0';
}

void pd_store_h5_note(void)
{
    if (!last_h5_error[0])
        H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_innermost, NULL);
}

void pd_store_h5_forget(void)
{
    last_h5_error[0] = '\0';
    H5Eclear2(H5E_DEFAULT);
}

int pd_store_h5_fail(struct pd_err *err, int code, const char *path, const char *fmt, ...)
{
    char what[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (!last_h5_error[0]) /* the hook was not called (some failures only leave the stack) */
        H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_innermost, NULL);
    char detail[sizeof last_h5_error];
    pd_strlcpy(detail, last_h5_error, sizeof detail);
    last_h5_error[0] = '\0';
    H5Eclear2(H5E_DEFAULT);
    if (detail[0])
        return pd_err_set(err, code, path, "%s (HDF5: %s)", what, detail);
    return pd_err_set(err, code, path, "%s", what);
}

void pd_store_specimen_group(size_t specimen, char *buf, size_t size)
{
    snprintf(buf, size, "specimen_%02zu", specimen + 1);
}

hid_t pd_store_fixed_str_type(size_t size)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0)
        return -1;
    if (H5Tset_size(t, size) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0 ||
        H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* Adds a fixed-length string member of `size` bytes at `offset` to a compound type. */
static int insert_str(hid_t compound, const char *name, size_t offset, size_t size)
{
    hid_t s = pd_store_fixed_str_type(size);
    if (s < 0)
        return -1;
    herr_t rc = H5Tinsert(compound, name, offset, s);
    H5Tclose(s);
    return rc < 0 ? -1 : 0;
}

hid_t pd_store_event_type(void)
{
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(struct pd_store_event_row));
    if (t < 0)
        return -1;
    if (H5Tinsert(t, "time", offsetof(struct pd_store_event_row, time), H5T_NATIVE_INT64) < 0 ||
        insert_str(t, "kind", offsetof(struct pd_store_event_row, kind), PD_STORE_EVENT_KIND_LEN) < 0 ||
        insert_str(t, "text", offsetof(struct pd_store_event_row, text), PD_STORE_EVENT_TEXT_LEN) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

hid_t pd_store_update_type(void)
{
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(struct pd_store_update_row));
    if (t < 0)
        return -1;
    if (H5Tinsert(t, "time", offsetof(struct pd_store_update_row, time), H5T_NATIVE_INT64) < 0 ||
        insert_str(t, "key", offsetof(struct pd_store_update_row, key), PD_STORE_UPDATE_KEY_LEN) < 0 ||
        insert_str(t, "value", offsetof(struct pd_store_update_row, value), PD_STORE_UPDATE_VALUE_LEN) < 0 ||
        insert_str(t, "units", offsetof(struct pd_store_update_row, units), PD_STORE_UPDATE_UNITS_LEN) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

hid_t pd_store_overrun_type(void)
{
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(struct pd_store_overrun_row));
    if (t < 0)
        return -1;
#define OR_OFF(f) offsetof(struct pd_store_overrun_row, f)
    if (insert_str(t, "instrument", OR_OFF(instrument), PD_STORE_NAME_MAX) < 0 ||
        H5Tinsert(t, "specimen", OR_OFF(specimen), H5T_NATIVE_INT32) < 0 ||
        H5Tinsert(t, "first_seq", OR_OFF(first_seq), H5T_NATIVE_UINT64) < 0 ||
        H5Tinsert(t, "last_seq", OR_OFF(last_seq), H5T_NATIVE_UINT64) < 0 ||
        H5Tinsert(t, "count", OR_OFF(count), H5T_NATIVE_UINT64) < 0 ||
        H5Tinsert(t, "t_first", OR_OFF(t_first), H5T_NATIVE_INT64) < 0 ||
        H5Tinsert(t, "t_last", OR_OFF(t_last), H5T_NATIVE_INT64) < 0) {
        H5Tclose(t);
        return -1;
    }
#undef OR_OFF
    return t;
}

/* Creates (replacing any old one) a scalar attribute of file type `ftype` and writes `value`. */
static int attr_write_scalar(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *value)
{
    htri_t exists = H5Aexists(loc, name);
    if (exists < 0 || (exists > 0 && H5Adelete(loc, name) < 0))
        return -1;
    hid_t space = H5Screate(H5S_SCALAR);
    if (space < 0)
        return -1;
    hid_t a = H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Sclose(space);
    if (a < 0)
        return -1;
    herr_t rc = H5Awrite(a, mtype, value);
    H5Aclose(a);
    return rc < 0 ? -1 : 0;
}

int pd_store_attr_write_str(hid_t loc, const char *name, const char *value)
{
    /* Variable-length strings: attributes are written before SWMR starts (or after it ended), and
     * a long configuration text then costs no fixed size guess. */
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0)
        return -1;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return -1;
    }
    const char *v = value ? value : "";
    int rc = attr_write_scalar(loc, name, t, t, &v);
    H5Tclose(t);
    return rc;
}

int pd_store_attr_write_double(hid_t loc, const char *name, double value)
{
    return attr_write_scalar(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

int pd_store_attr_write_int(hid_t loc, const char *name, int64_t value)
{
    return attr_write_scalar(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

int pd_store_attr_write(hid_t loc, const struct pd_store_attr *attr)
{
    int rc;
    switch (attr->type) {
    case PD_STORE_STRING: return pd_store_attr_write_str(loc, attr->key, attr->s);
    case PD_STORE_DOUBLE: rc = pd_store_attr_write_double(loc, attr->key, attr->d); break;
    case PD_STORE_INT: rc = pd_store_attr_write_int(loc, attr->key, attr->i); break;
    default: return -1;
    }
    if (rc < 0 || !attr->units || !attr->units[0])
        return rc;
    char units_key[160];
    if ((size_t)snprintf(units_key, sizeof units_key, "%s_units", attr->key) >= sizeof units_key)
        return -1;
    return pd_store_attr_write_str(loc, units_key, attr->units);
}

void pd_store_format_double(double v, char *buf, size_t size)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

void pd_store_copy_utf8(char *dst, const char *src, size_t size)
{
    if (size == 0)
        return;
    size_t len = strlen(src);
    if (len >= size) {
        len = size - 1;
        /* Back off over continuation bytes so the cut lands on a character boundary. */
        while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
}

int pd_store_bad_index(struct pd_err *err, const char *path, const char *what, size_t index, size_t count)
{
    return pd_err_set(err, PD_EINVAL, path, "%s index %zu out of range (file has %zu)", what, index, count);
}

int pd_store_append_rows(hid_t ds, hid_t mtype, hsize_t start, hsize_t n, const void *buf)
{
    hsize_t size = start + n;
    if (H5Dset_extent(ds, &size) < 0) {
        pd_store_h5_note();
        return -1;
    }
    hid_t fs = H5Dget_space(ds), ms = H5Screate_simple(1, &n, NULL);
    int rc = -1;
    if (fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &n, NULL) >= 0 &&
        H5Dwrite(ds, mtype, ms, fs, H5P_DEFAULT, buf) >= 0)
        rc = 0;
    else
        pd_store_h5_note(); /* H5Sclose would clear the reason from the stack */
    if (ms >= 0)
        H5Sclose(ms);
    if (fs >= 0)
        H5Sclose(fs);
    return rc;
}

hid_t pd_store_swmr_read_fapl(void)
{
    /* A SWMR reader retries a metadata read whose checksum fails (a writer may be midway through
     * writing it), sleeping 1 ns, 2 ns, 4 ns... between tries: HDF5's default of 100 tries turns
     * one damaged object header of a crashed file into an endless wait. 28 tries wait at most
     * ~0.27 s in all, far longer than a writer takes to write a header. */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && H5Pset_metadata_read_attempts(fapl, PD_STORE_SWMR_READ_ATTEMPTS) < 0) {
        H5Pclose(fapl);
        fapl = -1;
    }
    return fapl;
}
