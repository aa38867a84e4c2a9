/*
 * store.h — one HDF5 file per test run: the writer used by the acquisition loop and the reader
 * used by certify/inspect/export. The file follows NeXus conventions (see docs/HDF5-SCHEMA.md):
 * one NXentry per specimen, inside it one NXdata group per instrument holding `time` (int64 ns
 * UTC), `time_uncertainty` (int64 ns), `quality` (uint32) and one float64 dataset per channel,
 * every dataset with a `units` attribute. The whole layout (every specimen's entry) is created
 * by pd_store_create, before any sample is written, so that SWMR writing can follow. No HDF5 type
 * appears in this header.
 */
#ifndef PD_STORE_H
#define PD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define PD_STORE_NAME_MAX 32
#define PD_STORE_UNIT_MAX 16
#define PD_STORE_MAX_CHANNELS 16

/* A named value attached to the run, a specimen (NXsample) or an instrument. */
enum pd_store_attr_type { PD_STORE_STRING, PD_STORE_DOUBLE, PD_STORE_INT };
struct pd_store_attr {
    const char *key;
    enum pd_store_attr_type type;
    const char *s;     /* PD_STORE_STRING */
    double d;          /* PD_STORE_DOUBLE */
    int64_t i;         /* PD_STORE_INT */
    const char *units; /* optional, for numbers ("mm") */
};

struct pd_store_channel {
    char name[PD_STORE_NAME_MAX];
    char unit[PD_STORE_UNIT_MAX];
};

struct pd_store_instrument {
    char name[PD_STORE_NAME_MAX];
    size_t n_channels;
    struct pd_store_channel channels[PD_STORE_MAX_CHANNELS];
    const char *signal; /* NXdata signal channel name; NULL = first channel */
    const char *axes;   /* NXdata axes channel name; NULL = "time" */
    size_t chunk_samples; /* this instrument's chunk (e.g. smaller for a slow one); 0 = the layout's */
    size_t n_attrs;     /* model, serial, firmware, calibration..., driver, map (as text) */
    const struct pd_store_attr *attrs;
};

struct pd_store_specimen {
    char id[64];        /* specimen id, e.g. "S01" */
    size_t n_attrs;     /* NXsample fields: width, thickness, gauge_length, ... with units */
    const struct pd_store_attr *attrs;
};

struct pd_store_layout {
    size_t n_run_attrs; /* run_id, method, operator, lab, software_version, start_time, config_text, simulated... */
    const struct pd_store_attr *run_attrs;
    size_t n_instruments;
    const struct pd_store_instrument *instruments;
    size_t n_specimens;
    const struct pd_store_specimen *specimens;
    size_t chunk_samples; /* samples per chunk of every sample dataset; 0 = PD_STORE_DEFAULT_CHUNK */
    int deflate_level;    /* -1 = no compression, 0..9 shuffle+deflate */
};

/* Defaults measured with `polydaq bench pipeline` (docs/BENCHMARKS.md). */
#define PD_STORE_DEFAULT_CHUNK 65536
#define PD_STORE_DEFAULT_DEFLATE 1

/* Samples an instrument acquired but that never reached the file (its ring was full because the
 * writer fell behind). Sequence numbers count every sample the instrument's bus handed to the
 * writer, from 0, across specimens; they are stored with each written sample, so for every
 * instrument `written + sum(count)` equals the number acquired, and the ranges fill the gaps. */
struct pd_store_overrun {
    size_t instrument;
    size_t specimen;              /* 0-based; SIZE_MAX when not known */
    uint64_t first_seq, last_seq; /* inclusive */
    uint64_t count;               /* last_seq - first_seq + 1 unless ranges had to be merged */
    int64_t t_first_utc_ns, t_last_utc_ns;
};

struct pd_store; /* a run file open for writing; used by one thread */

/* Creates the file (fails if it exists) with the whole layout. On failure nothing is left behind. */
int pd_store_create(const char *path, const struct pd_store_layout *layout, struct pd_store **out,
                    struct pd_err *err);
/* Appends n samples of one instrument to one specimen. `values` is row-major n × n_channels.
 * t_unc_ns and quality may be NULL (zeros). The samples are numbered on from the instrument's
 * previous append (from 0). */
int pd_store_append(struct pd_store *st, size_t specimen, size_t instrument, size_t n,
                    const int64_t *t_utc_ns, const int64_t *t_unc_ns, const uint32_t *quality,
                    const double *values, struct pd_err *err);
/* The same with the acquisition's own sequence numbers (gaps = lost samples, see /overruns);
 * seq NULL = numbered on as above. */
int pd_store_append_seq(struct pd_store *st, size_t specimen, size_t instrument, size_t n,
                        const int64_t *t_utc_ns, const int64_t *t_unc_ns, const uint32_t *quality,
                        const uint64_t *seq, const double *values, struct pd_err *err);
/* The same with the channels as columns: columns[c][k] is channel c of sample k (no transposing:
 * the writer thread's fast path). */
int pd_store_append_columns(struct pd_store *st, size_t specimen, size_t instrument, size_t n,
                            const int64_t *t_utc_ns, const int64_t *t_unc_ns, const uint32_t *quality,
                            const uint64_t *seq, const double *const *columns, struct pd_err *err);
/* Appending in place, without a copy: pd_store_append_reserve hands out room for 1..max samples
 * of one instrument in one specimen (*n of them, all in the chunk being assembled), the caller
 * fills the first k ≤ *n rows of every column it is given and pd_store_append_commit adds them
 * (k = 0 adds nothing). Rows not committed are not part of the file. One reservation is open at a
 * time: another reservation, an append, a flush or closing ends it uncommitted (a commit then
 * fails with PD_EINVAL). The appends above are this with a copy. */
struct pd_store_slot {
    int64_t *t_utc_ns, *t_unc_ns;
    uint32_t *quality;
    uint64_t *seq; /* the acquisition's sequence numbers (see pd_store_append_seq) */
    double *columns[PD_STORE_MAX_CHANNELS];
};
int pd_store_append_reserve(struct pd_store *st, size_t specimen, size_t instrument, size_t max,
                            struct pd_store_slot *slot, size_t *n, struct pd_err *err);
int pd_store_append_commit(struct pd_store *st, size_t k, struct pd_err *err);
/* Records lost samples in /overruns (see struct pd_store_overrun). */
int pd_store_add_overrun(struct pd_store *st, const struct pd_store_overrun *o, struct pd_err *err);
/* Per-instrument run summary (poll rate, samples acquired/written/lost, missed deadlines...),
 * kept in memory and written by pd_store_close as attributes of /acquisition/<instrument>.
 * A later call for the same instrument replaces the earlier set. */
int pd_store_set_instrument_summary(struct pd_store *st, size_t instrument, size_t n_attrs,
                                    const struct pd_store_attr *attrs, struct pd_err *err);
/* An event (specimen start/end, break, fault, operator mark) at a time; specimen SIZE_MAX = run level. */
int pd_store_add_event(struct pd_store *st, size_t specimen, int64_t t_utc_ns, const char *kind,
                       const char *text, struct pd_err *err);
/* Sets/overwrites a specimen attribute after the fact (e.g. status "tested", "invalid: ..."). */
int pd_store_set_specimen_attr(struct pd_store *st, size_t specimen, const struct pd_store_attr *attr,
                               struct pd_err *err);
/* Hands everything appended so far to the kernel in a state a reader (SWMR, or after a crash of
 * the process) can open, then fsyncs the file: on return it also survives a power cut. */
int pd_store_flush(struct pd_store *st, struct pd_err *err);
/* The same without the fsync: what it flushed survives a crash of the process at once, a power
 * cut once the caller has synced the file (fsync/fdatasync of any descriptor of the file; polydaq
 * run's writer does that on a second thread, so appending never waits for the disk). */
int pd_store_flush_nosync(struct pd_store *st, struct pd_err *err);
/* Writes the final run attributes (end_time, counters...), marks the file closed cleanly, closes.
 * Always frees `st`, also when it returns an error. */
int pd_store_close(struct pd_store *st, size_t n_final_attrs, const struct pd_store_attr *final_attrs,
                   struct pd_err *err);

/* ---- Reader -------------------------------------------------------------------------------*/
struct pd_run; /* a run file open for reading */

int pd_run_open(const char *path, struct pd_run **out, struct pd_err *err);
/* pd_run_open reads a file through a child process (limited in CPU, memory and time: a damaged
 * file cannot crash or hang the caller). A caller about to start threads forks the readers of its
 * next n opens here first, while it is single-threaded: fork copies only the calling thread, and
 * a lock held by another one at that moment would stay held in the child. */
int pd_store_readers_prepare(size_t n, struct pd_err *err);
/* The same for the runs `paths` (n of them), each reader starting to open its file at once: the
 * file's metadata is read while the caller does other work (certify: the spec, the registry). */
int pd_store_readers_start(const char *const *paths, size_t n, struct pd_err *err);
/* Ends the readers started for files that were then not opened (a command that stopped early; in
 * a long-running process such as the server they would otherwise wait, holding their file, until
 * it exits). Call once the runs are open or the work was given up. */
void pd_store_readers_release(void);
void pd_run_close(struct pd_run *run);

/* Run attribute as a string (numbers formatted); NULL when absent. Valid until pd_run_close. */
const char *pd_run_attr(struct pd_run *run, const char *key);
int pd_run_attr_double(struct pd_run *run, const char *key, double *out);
/* 1 when the writer closed the file cleanly, 0 otherwise. */
int pd_run_closed_cleanly(struct pd_run *run);

size_t pd_run_specimen_count(const struct pd_run *run);
const char *pd_run_specimen_id(const struct pd_run *run, size_t specimen);
const char *pd_run_specimen_attr(struct pd_run *run, size_t specimen, const char *key);
int pd_run_specimen_attr_double(struct pd_run *run, size_t specimen, const char *key, double *out);

size_t pd_run_instrument_count(const struct pd_run *run);
const char *pd_run_instrument_name(const struct pd_run *run, size_t instrument);
const char *pd_run_instrument_attr(struct pd_run *run, size_t instrument, const char *key);
size_t pd_run_channel_count(const struct pd_run *run, size_t instrument);
const struct pd_store_channel *pd_run_channel(const struct pd_run *run, size_t instrument, size_t channel);
/* Finds the instrument holding a channel of that name; -1 (PD_EDATA in err) when none has it. */
int pd_run_find_channel(const struct pd_run *run, const char *channel, size_t *instrument, size_t *index);

/* Reads one channel / the time axis of one specimen. *data is malloc'd (free() it); n may be 0. */
int pd_run_read_channel(struct pd_run *run, size_t specimen, size_t instrument, const char *channel,
                        double **data, size_t *n, struct pd_err *err);
/* The same into an array the caller keeps (*data malloc'd or NULL, *cap its length in samples),
 * replaced by a larger one only when the channel does not fit, so specimen after specimen reuses
 * the same memory; an unfiltered dataset is read from the file straight into it (no chunk-cache
 * copy). On failure *data and *cap still belong together but the array's contents are undefined;
 * *n is set only on success. (read_into.c) */
int pd_run_read_channel_into(struct pd_run *run, size_t specimen, size_t instrument, const char *channel,
                             double **data, size_t *cap, size_t *n, struct pd_err *err);
int pd_run_read_time(struct pd_run *run, size_t specimen, size_t instrument, int64_t **t_utc_ns,
                     size_t *n, struct pd_err *err);
/* Timing uncertainty (ns) and quality bits of the samples, row for row with the time axis. */
int pd_run_read_uncertainty(struct pd_run *run, size_t specimen, size_t instrument, int64_t **unc_ns, size_t *n,
                            struct pd_err *err);
int pd_run_read_quality(struct pd_run *run, size_t specimen, size_t instrument, uint32_t **quality, size_t *n,
                        struct pd_err *err);
/* Sequence numbers of the samples (schema 2; a schema-1 file gives n = 0). */
int pd_run_read_sequence(struct pd_run *run, size_t specimen, size_t instrument, uint64_t **seq, size_t *n,
                         struct pd_err *err);
/* Recorded overruns (/overruns; none in a schema-1 file). */
size_t pd_run_overrun_count(struct pd_run *run);
int pd_run_overrun(struct pd_run *run, size_t i, struct pd_store_overrun *out);
/* An attribute of /acquisition/<instrument> (written at a clean close) as text; NULL when absent. */
const char *pd_run_summary_attr(struct pd_run *run, size_t instrument, const char *key);

/* ---- Recovery ------------------------------------------------------------------------------*/
/* A live run's writer holds a lock on its file from pd_store_create to pd_store_close (released by
 * the kernel also when the process dies). pd_store_claim fails with PD_EBUSY, naming the file and
 * the writer's pid, while one does; otherwise *claim holds a shared claim on the file (no new
 * writer can take it; claims do not exclude each other) until pd_store_unclaim(*claim). */
int pd_store_claim(const char *path, int *claim, struct pd_err *err);
void pd_store_unclaim(int claim);
/* Makes a file whose writer died (SWMR mark still set) readable by any HDF5 reader: copies
 * everything a SWMR reader sees (all that was flushed) into a fresh file at `out_path` (which
 * must not exist) and marks it `recovered = 1` (closed_cleanly stays 0). The input is not changed.
 * A file a live run still writes is refused (PD_EBUSY, see pd_store_claim). */
int pd_store_recover(const char *in_path, const char *out_path, struct pd_err *err);
/* Events of a specimen (SIZE_MAX = run level): count and i-th (time, kind, text). */
size_t pd_run_event_count(struct pd_run *run, size_t specimen);
int pd_run_event(struct pd_run *run, size_t specimen, size_t i, int64_t *t_utc_ns, const char **kind,
                 const char **text);

#endif /* PD_STORE_H */
