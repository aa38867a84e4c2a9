/*
 * store_internal.h — what the store's writer and reader share and nobody else sees: the schema's
 * fixed names and sizes, HDF5 error capture and the small attribute/string helpers.
 */
#ifndef PD_STORE_INTERNAL_H
#define PD_STORE_INTERNAL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/core.h"
#include "store/store.h"

#define PD_STORE_FILE_FORMAT "polydaq-run"
#define PD_STORE_SCHEMA_VERSION 2
/* Fixed sizes (bytes, including the terminating NUL) of the strings inside growing datasets. */
#define PD_STORE_STATUS_LEN 128
#define PD_STORE_EVENT_KIND_LEN 32
#define PD_STORE_EVENT_TEXT_LEN 200
#define PD_STORE_UPDATE_KEY_LEN 32
#define PD_STORE_UPDATE_VALUE_LEN 200
#define PD_STORE_UPDATE_UNITS_LEN 16
#define PD_STORE_TABLE_CHUNK 64
/* Sample datasets of one NXdata group: time, time_uncertainty, quality, sequence, channels. */
#define PD_STORE_FIXED_COLS 4
#define PD_STORE_MAX_COLS (PD_STORE_FIXED_COLS + PD_STORE_MAX_CHANNELS)

/* In-memory rows of the two compound tables; the file types are built from these layouts. */
struct pd_store_event_row {
    int64_t time;
    char kind[PD_STORE_EVENT_KIND_LEN];
    char text[PD_STORE_EVENT_TEXT_LEN];
};
struct pd_store_update_row {
    int64_t time;
    char key[PD_STORE_UPDATE_KEY_LEN];
    char value[PD_STORE_UPDATE_VALUE_LEN];
    char units[PD_STORE_UPDATE_UNITS_LEN];
};

struct pd_store_overrun_row {
    char instrument[PD_STORE_NAME_MAX];
    int32_t specimen; /* 1-based; 0 = not known */
    uint64_t first_seq, last_seq, count;
    int64_t t_first, t_last;
};
hid_t pd_store_overrun_type(void);

/* The writer's lock on its run file for the run's whole life (runlock.c): opens `path` again,
 * checks it is the file HDF5 holds open as `hdf5_fd` (-1: not checked), locks it, and returns the
 * locking descriptor (closing it releases the lock) with the file's device and inode. */
int pd_store_writer_lock(const char *path, int hdf5_fd, int *lock_fd, dev_t *dev, ino_t *ino, struct pd_err *err);

/* Shuffle + deflate of a chunk's columns into HDF5's filter format, on the calling thread and one
 * helper thread (deflate_pool.c); one pool per store, used by the thread that writes. */
struct pd_deflate_pool;
struct pd_deflate_job {
    const unsigned char *src; /* n values of elem bytes */
    size_t n, elem;
    unsigned char *dst; /* cap bytes (compressBound of n × elem) */
    size_t cap;
    size_t out; /* bytes of dst used */
    int rc;     /* 0, or -1 when zlib failed */
};
struct pd_deflate_pool *pd_deflate_pool_new(int level); /* NULL when out of memory */
void pd_deflate_pool_free(struct pd_deflate_pool *p);
/* Compresses jobs[0..n); 0, or -1 when one failed (its rc says which). */
int pd_deflate_pool_run(struct pd_deflate_pool *p, struct pd_deflate_job *jobs, size_t n);

/* The chunk of one instrument's sample columns being assembled in memory (chunks.c): rows
 * [start, start + fill) of each column, of which the file holds the first in_file. */
struct pd_chunk_asm {
    size_t n_cols;
    size_t chunk; /* rows per chunk */
    hid_t mtype[PD_STORE_MAX_COLS]; /* native memory type of each column */
    size_t elem[PD_STORE_MAX_COLS];
    unsigned char *buf[PD_STORE_MAX_COLS];
    uint64_t start; /* a multiple of chunk */
    size_t fill, in_file;
    struct pd_deflate_pool *pool; /* NULL: unfiltered; else shuffle + deflate through it */
    unsigned char *packed[PD_STORE_MAX_COLS]; /* filtered: each column's compressed chunk */
    size_t packed_cap[PD_STORE_MAX_COLS];
    size_t stored[PD_STORE_MAX_COLS];   /* filtered: the current chunk's length in the file (0: not there) */
    size_t full_len[PD_STORE_MAX_COLS]; /* filtered: the column's last full chunk, compressed (0: none yet) */
};
/* Buffers for n_cols columns of the native types mtype[c] (their file types are the same bytes,
 * little-endian); filtered when a pool is given. 0, or -1 when out of memory. */
int pd_chunk_asm_init(struct pd_chunk_asm *a, size_t n_cols, const hid_t *mtype, size_t chunk,
                      struct pd_deflate_pool *pool);
void pd_chunk_asm_free(struct pd_chunk_asm *a);
/* Starts assembling after row `size` of the datasets `ds`, reading back the rows of their last
 * chunk that the file already holds. */
int pd_chunk_asm_begin(struct pd_chunk_asm *a, const hid_t *ds, uint64_t size);
/* Extends each dataset to start + fill and writes what the file lacks: a full chunk whole (then
 * left behind for the next), a partial one as its new rows (unfiltered) or whole with a zeroed
 * tail (filtered). On failure *failed_col names the column. */
int pd_chunk_asm_write(struct pd_chunk_asm *a, const hid_t *ds, size_t *failed_col);

/* A file-access list for SWMR-reading opens (a live or crashed run's file): few metadata read
 * retries (see h5util.c). Negative on failure; the caller closes it. */
#define PD_STORE_SWMR_READ_ATTEMPTS 28
hid_t pd_store_swmr_read_fapl(void);

/* Silences HDF5's own error printing (the store reports through struct pd_err instead). */
void pd_store_h5_quiet(void);
/* Keeps the innermost message of the failure on the error stack now, for pd_store_h5_fail, when
 * clean-up calls (each of which clears the stack) must come first. */
void pd_store_h5_note(void);
/* Forgets a failure the caller expected and handled (a fallback was taken). */
void pd_store_h5_forget(void);
/* Sets `err` to "<path>: <what>: <innermost HDF5 message>", clears the HDF5 error stack and
 * returns `code`. */
int pd_store_h5_fail(struct pd_err *err, int code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "specimen_01" for index 0. */
/* PD_EINVAL: "<path>: <what> index <index> out of range (file has <count>)". */
int pd_store_bad_index(struct pd_err *err, const char *path, const char *what, size_t index, size_t count);
/* Extends a 1-D dataset to start + n and writes n elements of `buf` (memory type mtype) into
 * rows [start, start + n). 0, or -1 with the reason kept for pd_store_h5_fail. */
int pd_store_append_rows(hid_t ds, hid_t mtype, hsize_t start, hsize_t n, const void *buf);
void pd_store_specimen_group(size_t specimen, char *buf, size_t size);

/* Memory/file types of the compound tables (caller closes with H5Tclose); negative on failure. */
hid_t pd_store_event_type(void);
hid_t pd_store_update_type(void);
/* A fixed-length, NUL-terminated UTF-8 string type of `size` bytes. */
hid_t pd_store_fixed_str_type(size_t size);

/* Scalar attribute writers; an existing attribute of that name is replaced. 0 or negative. */
int pd_store_attr_write_str(hid_t loc, const char *name, const char *value);
int pd_store_attr_write_double(hid_t loc, const char *name, double value);
int pd_store_attr_write_int(hid_t loc, const char *name, int64_t value);
/* Writes a pd_store_attr as an attribute plus its "<key>_units" companion when units are given. */
int pd_store_attr_write(hid_t loc, const struct pd_store_attr *attr);

/* Shortest text that reads back as exactly `v` ("3.98", not "3.9799999999999999"). */
void pd_store_format_double(double v, char *buf, size_t size);
/* Copies at most size-1 bytes without cutting a UTF-8 sequence in half; always terminates. */
void pd_store_copy_utf8(char *dst, const char *src, size_t size);

/* The reader's open file, its path and whether it was opened as a SWMR reader (for read_into.c,
 * which reads through the same handle). */
hid_t pd_run_h5_file(const struct pd_run *run);
const char *pd_run_h5_path(const struct pd_run *run);
int pd_run_h5_swmr(const struct pd_run *run);
/* Opens the dataset at `path` ('/' first) of a run read in this process: with the default access
 * list, the handle its open kept (see reader.c, kept_datasets) when there is one. H5Dclose it. */
hid_t pd_run_h5_open_dataset(const struct pd_run *run, const char *path, hid_t dapl);
/* Closes the handle kept for `path`, if any (the dataset closes with the caller's last handle). */
void pd_run_h5_drop_kept(struct pd_run *run, const char *path);

/* ---- Hostile files: HDF5 reads run files only in a child process (isolate.c) ----------------*/

/* Column types the reader hands out (the samples' native memory types). */
enum pd_col_type { PD_COL_DOUBLE, PD_COL_INT64, PD_COL_UINT32, PD_COL_UINT64 };

/* The child's limits for a file of `file_size` bytes: each request's wall-clock deadline and the
 * child's CPU time (`seconds`), and the memory it may add to what it inherited (`memory`), from
 * the defaults or the POLYDAQ_READ_* environment variables (PD_ECONFIG when one is malformed). */
struct pd_read_limits {
    double seconds;
    uint64_t memory;
};
int pd_read_limits(const char *path, uint64_t file_size, struct pd_read_limits *out, struct pd_err *err);

/* The reader's child: forked, limited, it opens the file with pd_run_open_direct and answers with
 * a snapshot of everything but the samples (pd_run_snapshot), then serves column reads. A crash,
 * a limit or a hang of the child is PD_EDATA "damaged run file: PATH: ..." for that request and
 * every later one. */
struct pd_run_child;
int pd_run_child_open(const char *path, uint64_t file_size, struct pd_run_child **out, void **snapshot,
                      size_t *snapshot_size, struct pd_err *err);
/* A hint that `name` of `specimen` will be read next: a run read through a child has it decoded
 * meanwhile; a run read in this process ignores it. */
void pd_run_read_ahead(struct pd_run *run, size_t specimen, size_t instrument, const char *name, enum pd_col_type type);
/* Asks the child to decode a column ahead of its request (no answer, never waits; see isolate.c). */
void pd_run_child_read_ahead(struct pd_run_child *c, size_t specimen, size_t instrument, const char *name,
                             enum pd_col_type type);
int pd_run_child_column(struct pd_run_child *c, size_t specimen, size_t instrument, const char *name,
                        enum pd_col_type type, int optional, void *(*room)(void *ctx, size_t bytes), void *ctx,
                        size_t *n, struct pd_err *err);
void pd_run_child_close(struct pd_run_child *c);
/* Runs work(ctx) in a child under the limits for the file (pd_store_recover); its result and
 * error come back, or what became of the child. */
int pd_store_in_child(const char *path, uint64_t file_size, int (*work)(void *ctx, struct pd_err *err), void *ctx,
                      struct pd_err *err);

/* reader.c: the in-process open (used in the child), the snapshot and its reading back, and one
 * column read into room(ctx, bytes) — through the child when the run has one, else with HDF5
 * (optional: a missing dataset is 0 samples). room may be asked for 0 bytes and must then return
 * a non-NULL pointer; NULL means out of memory. */
int pd_run_open_direct(const char *path, struct pd_run **out, struct pd_err *err);
int pd_run_snapshot(struct pd_run *run, void *(*room)(void *ctx, size_t bytes), void *ctx, size_t *size,
                    struct pd_err *err);
int pd_run_column(struct pd_run *run, size_t specimen, size_t instrument, const char *name, enum pd_col_type type,
                  int optional, void *(*room)(void *ctx, size_t bytes), void *ctx, size_t *n, struct pd_err *err);
/* read_into.c: pd_run_column's HDF5 side (indexes already checked). */
/* chunk_decode.c: a decoder of polydaq's shuffled + deflated chunks, its buffers and helper thread
 * kept from one column to the next (NULL: out of memory). One thread uses it at a time. */
struct pd_chunk_decoder;
struct pd_chunk_decoder *pd_chunk_decoder_new(void);
void pd_chunk_decoder_free(struct pd_chunk_decoder *dec);
/* Maps `file`'s bytes for `dec` (best effort: a file HDF5 reads through its POSIX driver; true
 * when mapped), which then inflates chunks where they are in the file instead of reading each
 * into a buffer first. Only for a file that does not change while mapped (never one still being
 * written). */
bool pd_chunk_decoder_map(struct pd_chunk_decoder *dec, hid_t file);
/* Reads all `len` samples of the 1-D dataset `d` into dst by decoding its chunks with `dec` (NULL:
 * one made for this call) when it is shuffled and deflated the way polydaq writes; PD_EUNSUPPORTED
 * (err untouched) for any other layout, which the caller then reads with H5Dread; PD_EDATA for a
 * damaged chunk. */
int pd_store_read_deflated(struct pd_chunk_decoder *dec, hid_t d, const char *path, const char *dpath, hid_t mtype,
                           size_t elem, size_t len, void *dst, struct pd_err *err);
/* The decoder of a run read in this process, made on first use and freed with the run (NULL: out
 * of memory; the caller then decodes with one of its own). (reader.c) */
struct pd_chunk_decoder *pd_run_h5_decoder(struct pd_run *run);
/* Asks the kernel for all pages of new memory at once: one call instead of a page fault per 4 KiB
 * when it is first written (each fault is expensive on a virtual machine). Best effort, and only
 * for the first 64 MiB: a damaged file may claim a column far larger than it holds, whose memory
 * must not be committed before the decoding finds out. (read_into.c) */
void pd_store_populate(void *p, size_t size);
int pd_run_h5_read(struct pd_run *run, size_t specimen, size_t instrument, const char *name, hid_t mtype,
                   size_t elem, void *(*room)(void *ctx, size_t bytes), void *ctx, size_t *n, struct pd_err *err);
/* Refuses what a run file must not hold anywhere (external storage, external/soft/user-defined
 * links, virtual datasets): PD_EDATA naming the object. (reader.c) */
int pd_store_refuse_foreign(hid_t file, const char *path, struct pd_err *err);

#endif /* PD_STORE_INTERNAL_H */
