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
    size_t chunk_samples; /* 0 = default */
    int deflate_level;    /* -1 = no compression, 0..9 shuffle+deflate */
};

struct pd_store; /* a run file open for writing; used by one thread */

/* Creates the file (fails if it exists) with the whole layout. On failure nothing is left behind. */
int pd_store_create(const char *path, const struct pd_store_layout *layout, struct pd_store **out,
                    struct pd_err *err);
/* Appends n samples of one instrument to one specimen. `values` is row-major n × n_channels. */
int pd_store_append(struct pd_store *st, size_t specimen, size_t instrument, size_t n,
                    const int64_t *t_utc_ns, const int64_t *t_unc_ns, const uint32_t *quality,
                    const double *values, struct pd_err *err);
/* An event (specimen start/end, break, fault, operator mark) at a time; specimen SIZE_MAX = run level. */
int pd_store_add_event(struct pd_store *st, size_t specimen, int64_t t_utc_ns, const char *kind,
                       const char *text, struct pd_err *err);
/* Sets/overwrites a specimen attribute after the fact (e.g. status "tested", "invalid: ..."). */
int pd_store_set_specimen_attr(struct pd_store *st, size_t specimen, const struct pd_store_attr *attr,
                               struct pd_err *err);
int pd_store_flush(struct pd_store *st, struct pd_err *err);
/* Writes the final run attributes (end_time, counters...), marks the file closed cleanly, closes.
 * Always frees `st`, also when it returns an error. */
int pd_store_close(struct pd_store *st, size_t n_final_attrs, const struct pd_store_attr *final_attrs,
                   struct pd_err *err);

/* ---- Reader -------------------------------------------------------------------------------*/
struct pd_run; /* a run file open for reading */

int pd_run_open(const char *path, struct pd_run **out, struct pd_err *err);
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
int pd_run_read_time(struct pd_run *run, size_t specimen, size_t instrument, int64_t **t_utc_ns,
                     size_t *n, struct pd_err *err);
/* Events of a specimen (SIZE_MAX = run level): count and i-th (time, kind, text). */
size_t pd_run_event_count(struct pd_run *run, size_t specimen);
int pd_run_event(struct pd_run *run, size_t specimen, size_t i, int64_t *t_utc_ns, const char **kind,
                 const char **text);

#endif /* PD_STORE_H */
