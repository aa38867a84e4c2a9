/* recover.c — turns a run file whose writer died into one any HDF5 reader opens, by copying what a
 * SWMR reader sees (everything flushed) object by object into a fresh file (public API only: no
 * superblock surgery), in a limited child process like every read of a run file (isolate.c). */
#include "store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Set when writing the copy failed (a full disk) rather than reading the original (a damaged
 * file): the two are different errors. The copy runs in its own child process, alone. */
static int write_failed;

/* Copies one attribute of an object to its copy, whatever its type. (H5Ocopy is not used: HDF5
 * 1.10.8 crashes copying variable-length string attributes kept in dense attribute storage.) */
static herr_t copy_attr(hid_t src, const char *name, const H5A_info_t *info, void *data)
{
    (void)info;
    hid_t dst = *(hid_t *)data;
    hid_t a = H5Aopen(src, name, H5P_DEFAULT);
    hid_t ftype = a >= 0 ? H5Aget_type(a) : -1;
    hid_t space = a >= 0 ? H5Aget_space(a) : -1;
    hid_t mtype = ftype >= 0 ? H5Tget_native_type(ftype, H5T_DIR_DEFAULT) : -1;
    hssize_t npoints = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    size_t size = mtype >= 0 ? H5Tget_size(mtype) : 0;
    void *buf = npoints >= 0 && size ? calloc((size_t)(npoints ? npoints : 1), size) : NULL;
    herr_t rc = -1;
    if (buf && H5Aread(a, mtype, buf) >= 0) {
        if (H5Aexists(dst, name) > 0)
            H5Adelete(dst, name);
        hid_t out = H5Acreate2(dst, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
        if (out >= 0) {
            rc = H5Awrite(out, mtype, buf) < 0 ? -1 : 0;
            H5Aclose(out);
        }
        if (rc < 0)
            write_failed = 1;
        if (H5Tis_variable_str(mtype) > 0 || H5Tdetect_class(mtype, H5T_VLEN) > 0)
            H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, buf);
    }
    free(buf);
    if (mtype >= 0)
        H5Tclose(mtype);
    if (space >= 0)
        H5Sclose(space);
    if (ftype >= 0)
        H5Tclose(ftype);
    if (a >= 0)
        H5Aclose(a);
    return rc;
}

static int copy_attrs(hid_t src, hid_t dst)
{
    hsize_t idx = 0;
    if (H5Aiterate2(src, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, copy_attr, &dst) >= 0)
        return 0;
    pd_store_h5_forget(); /* an object without creation order: by name */
    idx = 0;
    return H5Aiterate2(src, H5_INDEX_NAME, H5_ITER_INC, &idx, copy_attr, &dst) < 0 ? -1 : 0;
}

/* Copies a dataset's data in slabs of this many elements (1-D) so a long run needs little memory. */
#define COPY_SLAB 262144

/* No row limit for copy_dataset. */
#define NO_LIMIT ((hsize_t)-1)

/* Copies one dataset; a 1-D one keeps at most `limit` elements (its rows that every column of its
 * sample table has). */
static int copy_dataset(hid_t src_loc, const char *name, hid_t dst_loc, hsize_t limit)
{
    hid_t s = H5Dopen2(src_loc, name, H5P_DEFAULT);
    if (s < 0)
        return -1;
    H5Drefresh(s); /* as a SWMR reader: see the extent that was flushed */
    hid_t ftype = H5Dget_type(s), space = H5Dget_space(s), dcpl = H5Dget_create_plist(s);
    if (space >= 0 && limit != NO_LIMIT && H5Sget_simple_extent_ndims(space) == 1) {
        hsize_t dims, maxdims;
        H5Sget_simple_extent_dims(space, &dims, &maxdims);
        if (dims > limit)
            H5Sset_extent_simple(space, 1, &limit, &maxdims);
    }
    hid_t mtype = ftype >= 0 ? H5Tget_native_type(ftype, H5T_DIR_DEFAULT) : -1;
    hid_t d = -1;
    int rc = -1;
    if (mtype >= 0 && space >= 0 && dcpl >= 0)
        d = H5Dcreate2(dst_loc, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (mtype >= 0 && space >= 0 && dcpl >= 0 && d < 0)
        write_failed = 1;
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    size_t esize = mtype >= 0 ? H5Tget_size(mtype) : 0;
    int vlen = mtype >= 0 && (H5Tis_variable_str(mtype) > 0 || H5Tdetect_class(mtype, H5T_VLEN) > 0);
    if (d >= 0 && rank == 1 && !vlen) {
        hsize_t n = 0;
        H5Sget_simple_extent_dims(space, &n, NULL);
        void *buf = malloc((n < COPY_SLAB ? (n ? n : 1) : COPY_SLAB) * esize);
        rc = buf ? 0 : -1;
        for (hsize_t at = 0; rc == 0 && at < n; at += COPY_SLAB) {
            hsize_t m = n - at < COPY_SLAB ? n - at : COPY_SLAB;
            hid_t ms = H5Screate_simple(1, &m, NULL);
            if (ms < 0 || H5Sselect_hyperslab(space, H5S_SELECT_SET, &at, NULL, &m, NULL) < 0 ||
                H5Dread(s, mtype, ms, space, H5P_DEFAULT, buf) < 0)
                rc = -1;
            else if (H5Dwrite(d, mtype, ms, space, H5P_DEFAULT, buf) < 0)
                rc = -1, write_failed = 1;
            if (ms >= 0)
                H5Sclose(ms);
        }
        free(buf);
    } else if (d >= 0) { /* scalars and small fixed datasets: all at once */
        hssize_t n = H5Sget_simple_extent_npoints(space);
        void *buf = n >= 0 ? calloc((size_t)(n ? n : 1), esize) : NULL;
        if (buf && H5Dread(s, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0) {
            if (H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0)
                rc = 0;
            else
                write_failed = 1;
        }
        if (buf && vlen)
            H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, buf);
        free(buf);
    }
    if (rc == 0)
        rc = copy_attrs(s, d);
    if (d >= 0)
        H5Dclose(d);
    if (mtype >= 0)
        H5Tclose(mtype);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (space >= 0)
        H5Sclose(space);
    if (ftype >= 0)
        H5Tclose(ftype);
    H5Dclose(s);
    return rc;
}

static herr_t copy_link(hid_t src, const char *name, const H5L_info_t *info, void *data);

/* Where copy_link puts a group's members, and the row limit of its sample columns. */
struct copy_target {
    hid_t dst;
    hsize_t limit;
};

struct column_span {
    hsize_t min, max;
};

static herr_t column_lengths(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
    (void)info;
    struct column_span *span = data;
    H5O_info_t oi;
    if (H5Oget_info_by_name2(group, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET)
        return 0;
    hid_t d = H5Dopen2(group, name, H5P_DEFAULT);
    if (d < 0)
        return 0;
    H5Drefresh(d);
    hid_t space = H5Dget_space(d);
    hsize_t dims;
    if (space >= 0 && H5Sget_simple_extent_ndims(space) == 1 && H5Sget_simple_extent_dims(space, &dims, NULL) == 1) {
        span->min = dims < span->min ? dims : span->min;
        span->max = dims > span->max ? dims : span->max;
    }
    if (space >= 0)
        H5Sclose(space);
    H5Dclose(d);
    return 0;
}

/* A sample table (an instrument's NXdata: `time`, `sequence` and one column per channel) grows
 * column by column and a SWMR flush is not atomic across datasets, so a writer killed during a
 * flush can leave some columns a few rows longer than others: only the rows every column has are
 * whole samples. Returns the shortest and longest column, or {NO_LIMIT, 0} for any other group. */
static struct column_span sample_rows(hid_t group)
{
    struct column_span span = {NO_LIMIT, 0};
    if (H5Lexists(group, "time", H5P_DEFAULT) <= 0 || H5Lexists(group, "sequence", H5P_DEFAULT) <= 0)
        return span;
    hsize_t idx = 0;
    if (H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &idx, column_lengths, &span) < 0)
        return (struct column_span){NO_LIMIT, 0};
    return span;
}

/* Copies the links of group `src` into group `dst`, in creation order (so channels keep theirs);
 * a sample table is cut to its whole rows, and how many partial ones were left behind is noted. */
static int copy_members(hid_t src, hid_t dst)
{
    struct column_span span = sample_rows(src);
    struct copy_target t = {.dst = dst, .limit = span.min};
    hsize_t idx = 0;
    if (H5Literate(src, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, copy_link, &t) < 0)
        return -1;
    if (span.min != NO_LIMIT && span.max > span.min &&
        pd_store_attr_write_int(dst, "recovered_partial_rows", (int64_t)(span.max - span.min)) < 0)
        return -1;
    return 0;
}

static herr_t copy_link(hid_t src, const char *name, const H5L_info_t *info, void *data)
{
    const struct copy_target *t = data;
    hid_t dst = t->dst;
    if (info->type != H5L_TYPE_HARD)
        return 0; /* the writer makes none */
    H5O_info_t oi;
    if (H5Oget_info_by_name2(src, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
        return -1;
    if (oi.type == H5O_TYPE_DATASET)
        return copy_dataset(src, name, dst, t->limit) < 0 ? -1 : 0;
    if (oi.type != H5O_TYPE_GROUP)
        return 0;
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    hid_t sg = H5Gopen2(src, name, H5P_DEFAULT);
    hid_t dg = -1;
    if (gcpl >= 0 && sg >= 0 && H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) >= 0 &&
        H5Pset_attr_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) >= 0)
        dg = H5Gcreate2(dst, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    if (sg >= 0 && dg < 0)
        write_failed = 1;
    int rc = dg >= 0 && copy_attrs(sg, dg) == 0 && copy_members(sg, dg) == 0 ? 0 : -1;
    if (dg >= 0)
        H5Gclose(dg);
    if (sg >= 0)
        H5Gclose(sg);
    if (gcpl >= 0)
        H5Pclose(gcpl);
    return rc;
}

static int recover_claimed(const char *in_path, const char *out_path, struct pd_err *err);

struct recover_job {
    const char *in_path, *out_path;
};

static int recover_work(void *ctx, struct pd_err *err)
{
    const struct recover_job *job = ctx;
    return recover_claimed(job->in_path, job->out_path, err);
}

int pd_store_recover(const char *in_path, const char *out_path, struct pd_err *err)
{
    if (!in_path || !out_path)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_store_recover: missing path");
    struct stat sb;
    if (stat(in_path, &sb) < 0)
        return pd_err_set_os(err, PD_EIO, errno, in_path, "cannot open the run file");
    uint64_t size = (uint64_t)sb.st_size;
    if (stat(out_path, &sb) == 0)
        return pd_err_set_os(err, PD_EIO, EEXIST, out_path, "refusing to overwrite an existing file");
    /* A live run's file is not a crashed one: copying it would take a snapshot the run then
     * outgrows; the claim is held while copying so the verdict stays true. */
    int claim;
    int rc = pd_store_claim(in_path, &claim, err);
    if (rc < 0)
        return rc;
    /* The copy reads the damaged file with HDF5: in a limited child. When the child dies, what it
     * began of the copy goes (the output did not exist before, checked above and by H5Fcreate). */
    struct recover_job job = {in_path, out_path};
    rc = pd_store_in_child(in_path, size, recover_work, &job, err);
    if (rc < 0)
        unlink(out_path);
    pd_store_unclaim(claim);
    return rc;
}

static int recover_claimed(const char *in_path, const char *out_path, struct pd_err *err)
{
    struct stat sb;
    if (stat(in_path, &sb) < 0)
        return pd_err_set_os(err, PD_EIO, errno, in_path, "cannot open the run file");
    if (stat(out_path, &sb) == 0)
        return pd_err_set_os(err, PD_EIO, EEXIST, out_path, "refusing to overwrite an existing file");
    pd_store_h5_quiet();
    if (H5Fis_hdf5(in_path) <= 0) {
        pd_store_h5_forget();
        return pd_err_set(err, PD_EDATA, in_path, "not an HDF5 file");
    }
    /* The SWMR-read open is what a dead writer's file allows; it sees everything flushed. */
    hid_t swmr_fapl = pd_store_swmr_read_fapl();
    hid_t src = swmr_fapl >= 0 ? H5Fopen(in_path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, swmr_fapl) : -1;
    if (swmr_fapl >= 0)
        H5Pclose(swmr_fapl);
    if (src < 0) {
        pd_store_h5_forget();
        src = H5Fopen(in_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    }
    if (src < 0)
        return pd_store_h5_fail(err, PD_EDATA, in_path, "cannot open the file even as a SWMR reader");
    if (H5Lexists(src, "specimen_01", H5P_DEFAULT) <= 0) {
        H5Fclose(src);
        pd_store_h5_forget();
        return pd_err_set(err, PD_EDATA, in_path, "not a polydaq run file (missing /specimen_01)");
    }
    int refused = pd_store_refuse_foreign(src, in_path, err);
    if (refused < 0) {
        H5Fclose(src);
        pd_store_h5_forget();
        return refused;
    }
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    hid_t dst = -1;
    if (fcpl >= 0 && fapl >= 0 &&
        H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) >= 0 &&
        H5Pset_attr_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) >= 0 &&
        H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST) >= 0)
        dst = H5Fcreate(out_path, H5F_ACC_EXCL, fcpl, fapl);
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (fapl >= 0)
        H5Pclose(fapl);
    int rc = 0;
    if (dst < 0) {
        rc = pd_store_h5_fail(err, PD_EIO, out_path, "cannot create the recovered file");
    } else {
        /* A failed copy names the file at fault: the copy when writing it failed, else the original. */
        write_failed = 0;
        if (copy_attrs(src, dst) < 0)
            rc = write_failed ? pd_store_h5_fail(err, PD_EIO, out_path, "cannot copy the run attributes of %s", in_path)
                              : pd_store_h5_fail(err, PD_EDATA, in_path, "cannot copy the run attributes");
        if (rc == 0 && copy_members(src, dst) < 0)
            rc = write_failed ? pd_store_h5_fail(err, PD_EIO, out_path, "cannot copy the groups of %s", in_path)
                              : pd_store_h5_fail(err, PD_EDATA, in_path, "cannot copy the groups");
        if (rc == 0 && (pd_store_attr_write_int(dst, "recovered", 1) < 0 ||
                        pd_store_attr_write_str(dst, "recovered_from", in_path) < 0))
            rc = pd_store_h5_fail(err, PD_EIO, out_path, "cannot mark the file recovered");
        if (H5Fclose(dst) < 0 && rc == 0)
            rc = pd_store_h5_fail(err, PD_EIO, out_path, "closing the recovered file failed");
        if (rc == 0) { /* the repaired copy must survive a power cut as well as the original */
            int fd = open(out_path, O_RDONLY);
            if (fd >= 0) {
                if (fsync(fd) < 0)
                    rc = pd_err_set_os(err, PD_EIO, errno, out_path, "fsync failed");
                close(fd);
            }
        }
        if (rc < 0)
            unlink(out_path);
    }
    H5Fclose(src);
    pd_store_h5_forget();
    return rc;
}
