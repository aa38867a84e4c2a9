/* chunks.c — assembles the chunk of an instrument's sample columns in memory and hands it to the
 * file whole with H5Dwrite_chunk: one write of a contiguous chunk instead of a hyperslab write
 * (selection, type path, chunk lookup) per append and column. A filtered chunk is shuffled and
 * deflated by the store (deflate_pool.c, two threads) into exactly what HDF5's own shuffle and
 * deflate filters produce, so every reader decodes it with those filters as usual. A chunk that
 * is not full yet goes to the file when it is flushed: unfiltered, only its rows the file does
 * not have yet (a hyperslab write, straight into the chunk's place); filtered, compressed whole
 * as it stands. Once full, it is written whole (again).
 *
 * Rewriting a compressed chunk at another length makes HDF5 move it, and under SWMR it never
 * frees the old place (measured: a run flushed every 1000 of 600 000 samples took 98 MB for
 * 2.5 MB of compressed data). So a filtered chunk keeps the length it was first written at: that
 * write reserves room to grow (filtered_length), later writes are padded to it with zeros after
 * the end of the zlib stream (which the deflate filter never reads), and a chunk moves only when
 * it outgrows its room, into one at least twice what it holds. */
#include "store/store_internal.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h> /* compressBound */

/* The buffers are written as the file's little-endian types byte for byte (no conversion). */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "chunks.c writes native buffers as little-endian file data: a big-endian host needs a conversion here"
#endif

int pd_chunk_asm_init(struct pd_chunk_asm *a, size_t n_cols, const hid_t *mtype, size_t chunk,
                      struct pd_deflate_pool *pool)
{
    memset(a, 0, sizeof *a);
    a->n_cols = n_cols;
    a->chunk = chunk;
    a->pool = pool;
    for (size_t c = 0; c < n_cols; c++) {
        a->mtype[c] = mtype[c];
        a->elem[c] = H5Tget_size(mtype[c]);
        if (a->elem[c] == 0) {
            pd_chunk_asm_free(a);
            return -1;
        }
        /* no memset: every row is written before it is part of the extent; a chunk's tail beyond
         * the extent is zeroed before a partial chunk goes to the file (pd_chunk_asm_write) */
        if (!(a->buf[c] = malloc(chunk * a->elem[c]))) {
            pd_chunk_asm_free(a);
            return -1;
        }
        if (pool) { /* each column's compressed chunk has its own buffer: both threads fill them */
            a->packed_cap[c] = compressBound((uLong)(chunk * a->elem[c]));
            if (!(a->packed[c] = malloc(a->packed_cap[c]))) {
                pd_chunk_asm_free(a);
                return -1;
            }
        }
    }
    return 0;
}

void pd_chunk_asm_free(struct pd_chunk_asm *a)
{
    for (size_t c = 0; c < a->n_cols; c++) {
        free(a->buf[c]);
        free(a->packed[c]);
    }
    memset(a, 0, sizeof *a);
}

int pd_chunk_asm_begin(struct pd_chunk_asm *a, const hid_t *ds, uint64_t size)
{
    a->start = size - size % a->chunk;
    a->fill = a->in_file = (size_t)(size - a->start);
    memset(a->stored, 0, sizeof a->stored);
    if (a->fill == 0)
        return 0;
    if (a->pool) { /* the length the chunk has in the file is the one to keep */
        hsize_t offset = a->start, bytes = 0;
        for (size_t c = 0; c < a->n_cols; c++)
            if (H5Dget_chunk_storage_size(ds[c], &offset, &bytes) >= 0)
                a->stored[c] = (size_t)bytes;
            else
                pd_store_h5_forget(); /* not known: the next write may move the chunk, once */
    }
    /* Appending resumes inside a chunk the file already holds part of (the specimen was switched
     * away from and back): that part is read back, since the chunk is rewritten whole. */
    hsize_t start = a->start, n = a->fill;
    hid_t ms = H5Screate_simple(1, &n, NULL);
    int rc = ms < 0 ? -1 : 0;
    for (size_t c = 0; rc == 0 && c < a->n_cols; c++) {
        hid_t fs = H5Dget_space(ds[c]);
        if (fs < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &n, NULL) < 0 ||
            H5Dread(ds[c], a->mtype[c], ms, fs, H5P_DEFAULT, a->buf[c]) < 0)
            rc = -1;
        if (rc < 0)
            pd_store_h5_note(); /* H5Sclose would clear the reason from the stack */
        if (fs >= 0)
            H5Sclose(fs);
    }
    if (ms >= 0)
        H5Sclose(ms);
    return rc;
}

/* The rows [in_file, fill) of an unfiltered chunk, straight into their place in the file. */
static int write_new_rows(struct pd_chunk_asm *a, const hid_t *ds, size_t *failed_col)
{
    for (size_t c = 0; c < a->n_cols; c++) {
        *failed_col = c;
        if (pd_store_append_rows(ds[c], a->mtype[c], a->start + a->in_file, a->fill - a->in_file,
                                 a->buf[c] + a->in_file * a->elem[c]) < 0)
            return -1;
    }
    a->in_file = a->fill;
    return 0;
}

/* The length to write a column's compressed chunk of n bytes at (see the top of this file). */
static size_t filtered_length(struct pd_chunk_asm *a, size_t c, size_t n)
{
    if (a->stored[c] >= n) /* in place */
        return a->stored[c];
    if (a->fill == a->chunk) /* written once and for all (moving at most this once) */
        return n;
    /* Room for a partial chunk to grow into: the column's last full chunk and a quarter, and at
     * least twice what it holds now, so a chunk that outgrows its room moves a few times at most
     * (each move leaves behind less than half of what the next room holds). */
    size_t room = a->full_len[c] + a->full_len[c] / 4 + 64;
    if (room < 2 * n)
        room = 2 * n;
    if (room > a->packed_cap[c])
        room = a->packed_cap[c];
    return room > n ? room : n;
}

int pd_chunk_asm_write(struct pd_chunk_asm *a, const hid_t *ds, size_t *failed_col)
{
    if (!a->pool && a->fill < a->chunk)
        return write_new_rows(a, ds, failed_col);
    hsize_t size = a->start + a->fill, offset = a->start;
    struct pd_deflate_job jobs[PD_STORE_MAX_COLS];
    if (a->pool) {
        for (size_t c = 0; c < a->n_cols; c++) {
            /* a partial chunk's tail lies beyond the extent: zeros, so files are reproducible
             * and the tail compresses to almost nothing */
            if (a->fill < a->chunk)
                memset(a->buf[c] + a->fill * a->elem[c], 0, (a->chunk - a->fill) * a->elem[c]);
            jobs[c] = (struct pd_deflate_job){.src = a->buf[c], .n = a->chunk, .elem = a->elem[c],
                                              .dst = a->packed[c], .cap = a->packed_cap[c]};
        }
        if (pd_deflate_pool_run(a->pool, jobs, a->n_cols) < 0) {
            *failed_col = 0;
            for (size_t c = 0; c < a->n_cols && jobs[c].rc == 0; c++)
                *failed_col = c + 1;
            return -1;
        }
    }
    for (size_t c = 0; c < a->n_cols; c++) {
        *failed_col = c;
        size_t bytes = a->chunk * a->elem[c];
        const void *data = a->buf[c];
        if (a->pool) {
            size_t n = jobs[c].out;
            bytes = filtered_length(a, c, n);
            memset(a->packed[c] + n, 0, bytes - n);
            if (a->fill == a->chunk)
                a->full_len[c] = n;
            data = a->packed[c];
        }
        if (H5Dset_extent(ds[c], &size) < 0 || H5Dwrite_chunk(ds[c], H5P_DEFAULT, 0, &offset, bytes, data) < 0) {
            pd_store_h5_note();
            return -1;
        }
        a->stored[c] = bytes;
    }
    a->in_file = a->fill;
    if (a->fill == a->chunk) { /* on to the next chunk */
        a->start += a->chunk;
        a->fill = a->in_file = 0;
        memset(a->stored, 0, sizeof a->stored);
    }
    return 0;
}
