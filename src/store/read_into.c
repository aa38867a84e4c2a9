/* read_into.c — reads a channel of a run straight into an array the caller keeps and reuses (certify's fast path). */
#include "store/store_internal.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Opens the dataset at `dpath` (*filtered: whether it has filters); an unfiltered one again without
 * a chunk cache: HDF5 then reads each chunk from the file into the caller's array itself, instead
 * of into a cache buffer that is copied afterwards (half the memory traffic, and no cache buffers
 * to fault in; the run's open never keeps such a dataset open, which would keep its first cache).
 * A compressed one is the handle the run's open kept (pd_run_h5_open_dataset): its chunks are
 * decoded by chunk_decode.c, which needs no cache. */
static hid_t open_column(const struct pd_run *run, const char *dpath, bool *filtered)
{
    hid_t d = pd_run_h5_open_dataset(run, dpath, H5P_DEFAULT);
    if (d < 0)
        return -1;
    hid_t dcpl = H5Dget_create_plist(d);
    int filters = dcpl >= 0 ? H5Pget_nfilters(dcpl) : -1;
    if (dcpl >= 0)
        H5Pclose(dcpl);
    *filtered = filters != 0;
    if (filters != 0)
        return d;
    H5Dclose(d);
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl < 0)
        return -1;
    d = H5Pset_chunk_cache(dapl, 0, 0, 1.0) < 0 ? -1 : pd_run_h5_open_dataset(run, dpath, dapl);
    H5Pclose(dapl);
    return d;
}

#define POPULATE_MAX ((size_t)64 << 20)

void pd_store_populate(void *p, size_t size)
{
    /* A kernel without MADV_POPULATE_WRITE (before 5.14) simply faults the pages in as usual. */
#ifdef MADV_POPULATE_WRITE
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0)
        return;
    if (size > POPULATE_MAX)
        size = POPULATE_MAX;
    uintptr_t a = ((uintptr_t)p + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t b = ((uintptr_t)p + size) & ~((uintptr_t)page - 1);
    if (b > a)
        (void)madvise((void *)a, b - a, MADV_POPULATE_WRITE);
#else
    (void)p;
    (void)size;
#endif
}

/* Reads the 1-D dataset `name` of one specimen's instrument (indexes already checked) as `mtype`
 * (`elem` bytes each) into room(ctx, bytes), asked for once the length is known. */
int pd_run_h5_read(struct pd_run *run, size_t specimen, size_t instrument, const char *name, hid_t mtype,
                   size_t elem, void *(*room)(void *ctx, size_t bytes), void *ctx, size_t *n, struct pd_err *err)
{
    const char *path = pd_run_h5_path(run);
    char group[32], dpath[160];
    pd_store_specimen_group(specimen, group, sizeof group);
    snprintf(dpath, sizeof dpath, "/%s/%s/%s", group, pd_run_instrument_name(run, instrument), name);
    pd_store_h5_quiet();
    int swmr = pd_run_h5_swmr(run);
    bool filtered = false;
    hid_t d = open_column(run, dpath, &filtered);
    int rc = 0;
    if (d < 0 || (swmr && H5Drefresh(d) < 0))
        rc = pd_store_h5_fail(err, PD_EDATA, path, "cannot open %s", dpath);
    hid_t space = rc == 0 ? H5Dget_space(d) : -1;
    hssize_t len = space >= 0 && H5Sget_simple_extent_ndims(space) == 1 ? H5Sget_simple_extent_npoints(space) : -1;
    if (rc == 0 && len < 0)
        rc = pd_store_h5_fail(err, PD_EDATA, path, "%s is not a 1-D dataset", dpath);
    /* A damaged file may claim any length: one the address space cannot hold is refused here. */
    if (rc == 0 && (uint64_t)len > SIZE_MAX / elem)
        rc = pd_err_set(err, PD_EDATA, path, "%s claims %zd samples", dpath, (ssize_t)len);
    void *dst = NULL;
    if (rc == 0 && !(dst = room(ctx, (size_t)len * elem)))
        rc = pd_err_set(err, PD_ENOMEM, path, "out of memory for %zd samples of %s", (ssize_t)len, dpath);
    /* polydaq's own shuffle + deflate chunks are decoded by chunk_decode.c; any other layout by HDF5 */
    int decoded = rc == 0 && len > 0
                      ? pd_store_read_deflated(pd_run_h5_decoder(run), d, path, dpath, mtype, elem, (size_t)len, dst, err)
                      : PD_EUNSUPPORTED;
    if (rc == 0 && decoded != PD_EUNSUPPORTED)
        rc = decoded;
    else if (rc == 0 && len > 0) {
        if (H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0)
            rc = pd_store_h5_fail(err, PD_EDATA, path, "cannot read %s", dpath);
        /* The chunk cache HDF5 filled (up to 1 MiB) goes with the dataset's last handle: not kept
         * for the run's life. */
        if (filtered)
            pd_run_h5_drop_kept(run, dpath);
    }
    if (space >= 0)
        H5Sclose(space);
    if (d >= 0)
        H5Dclose(d);
    pd_store_h5_forget();
    if (rc == 0)
        *n = (size_t)len;
    return rc;
}

/* The caller's array, grown when it is too small (see pd_run_read_channel_into). */
struct reuse {
    double **data;
    size_t *cap;
};

static void *reuse_room(void *ctx, size_t bytes)
{
    struct reuse *r = ctx;
    size_t len = bytes / sizeof(double);
    if (len <= *r->cap)
        return *r->data ? (void *)*r->data : (void *)r->data; /* never NULL: 0 samples need no room */
    /* Grown by a fresh allocation, the old array freed only once this one is had: on failure the
     * caller's array and capacity still go together. */
    double *bigger = malloc(bytes);
    if (!bigger)
        return NULL;
    pd_store_populate(bigger, bytes);
    free(*r->data);
    *r->data = bigger;
    *r->cap = len;
    return bigger;
}

int pd_run_read_channel_into(struct pd_run *run, size_t specimen, size_t instrument, const char *channel,
                             double **data, size_t *cap, size_t *n, struct pd_err *err)
{
    if (!run || !channel || !data || !cap || !n)
        return pd_err_set(err, PD_EINVAL, NULL, "pd_run_read_channel_into: missing run, channel or outputs");
    const char *path = pd_run_h5_path(run);
    if (specimen >= pd_run_specimen_count(run))
        return pd_store_bad_index(err, path, "specimen", specimen, pd_run_specimen_count(run));
    const char *inst = pd_run_instrument_name(run, instrument);
    if (!inst)
        return pd_store_bad_index(err, path, "instrument", instrument, pd_run_instrument_count(run));
    size_t c = 0, nc = pd_run_channel_count(run, instrument);
    while (c < nc && strcmp(pd_run_channel(run, instrument, c)->name, channel) != 0)
        c++;
    if (c == nc)
        return pd_err_set(err, PD_EDATA, path, "instrument '%s' has no channel '%s'", inst, channel);
    struct reuse r = {data, cap};
    int rc = pd_run_column(run, specimen, instrument, channel, PD_COL_DOUBLE, 0, reuse_room, &r, n, err);
    /* Read-ahead: a caller walking the specimens (certify) asks for the next one's channel next;
     * the reading child decodes it while this one is evaluated. */
    for (size_t k = specimen + 1; rc == 0 && k <= specimen + 2 && k < pd_run_specimen_count(run); k++)
        pd_run_read_ahead(run, k, instrument, channel, PD_COL_DOUBLE);
    return rc;
}
