/*
 * acq.h — running a test series: the lab/run configuration, simulator start-up, one bus thread per
 * instrument polling on absolute deadlines, a writer thread that batches samples into the run's
 * HDF5 file, and the method sequence (specimen start, break, stop) driven from the caller's thread.
 */
#ifndef PD_ACQ_H
#define PD_ACQ_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/core.h"

#define PD_ACQ_MAX_INSTRUMENTS 64 /* a monitoring run of a whole lab: 50 sensors (docs/BENCHMARKS.md "Monitoring") */
#define PD_ACQ_MAX_SIM_ARGS 24

struct pd_acq_instrument_config {
    char name[32];
    char driver[32];
    char model[64];
    char serial[64];
    char calibration_date[16];
    char calibration_due[16];
    char calibration_id[64];
    double poll_rate_hz;            /* 0.1 .. 10000; 0 in the file = the run's poll_rate_hz */
    const struct pd_cfg_node *node; /* the whole instrument section, for the driver */
    /* Simulator to start for this instrument (program empty = connect to a running instrument). */
    char sim_program[256];
    size_t sim_argc;
    char sim_args[PD_ACQ_MAX_SIM_ARGS][64];
};

/* The parsed lab configuration (config/demo.yaml shows every key). */
struct pd_acq_config {
    struct pd_cfg_doc *doc;      /* owned; nodes above point into it */
    char lab_name[128];
    char lab_address[256];
    char operator_name[128];
    char method[32];             /* "iso527" */
    long specimens;              /* 1..100 */
    char material[128];
    double poll_rate_hz;         /* 0.1 .. 10000: instruments without their own poll_rate_hz */
    double specimen_timeout_s;
    double reconnect_timeout_s;  /* a lost instrument is retried this long, then the run stops */
    double no_data_timeout_s;    /* an instrument that answers but delivers no sample this long
                                  * (exceptions only, a dropped connection at every request) fails
                                  * the run */
    /* run.store: how sample datasets are written (docs/HDF5-SCHEMA.md, docs/BENCHMARKS.md) */
    long store_chunk_samples;    /* samples per chunk (fewer for slow instruments, see run.c) */
    int store_deflate;           /* -1 = uncompressed, 0..9 = shuffle + deflate at that level */
    double flush_interval_s;     /* how old the newest sample a crash can lose may be */
    /* The `specimen:` and `method:` sections belong to the method named in run.method, which
     * validates them at load time into its own parameters (opaque here). */
    const struct pd_cfg_node *specimen_section; /* may be NULL */
    const struct pd_cfg_node *method_section;   /* may be NULL */
    const struct pd_cfg_node *store_section;    /* run.store; may be NULL */
    void *method_params;                        /* owned; the method's decoded parameters */
    size_t n_instruments;
    struct pd_acq_instrument_config instruments[PD_ACQ_MAX_INSTRUMENTS];
    /* `station: {name, key}`: the acquisition station whose key seals every run file it closes
     * (docs/CERTIFICATES.md §6). station_name "" = no section: files are not sealed, and never
     * accredited. The key path is relative to the config file's folder; the key is loaded when a
     * run starts, before any instrument is touched (station_key_node names the place in errors). */
    char station_name[128];
    char station_key[4096];
    const struct pd_cfg_node *station_key_node;
};

/* Parse and validate (every error names file:line:column). On failure *out is untouched. */
int pd_acq_config_load_file(const char *path, struct pd_acq_config **out, struct pd_err *err);
int pd_acq_config_load_string(const char *name, const char *text, struct pd_acq_config **out,
                              struct pd_err *err);
void pd_acq_config_free(struct pd_acq_config *cfg);

enum pd_acq_progress { PD_ACQ_PROGRESS_NONE, PD_ACQ_PROGRESS_LINES, PD_ACQ_PROGRESS_LIVE };

/* ---- per-specimen dimensions and invalid specimens (dimensions.c) ----------------------------
 * Where each specimen's dimensions come from: the config's `specimen:` values for every specimen,
 * a table read before the run (a CSV, pd_acq_dims_load_csv), the technician typing them on a
 * terminal before each specimen (which is also asked after each specimen whether it is valid), or
 * a station's clients over the control socket (PD_ACQ_DIMS_STATION, with pd_acq_options.station). */
enum pd_acq_dims_mode { PD_ACQ_DIMS_CONFIG, PD_ACQ_DIMS_TABLE, PD_ACQ_DIMS_PROMPT, PD_ACQ_DIMS_STATION };
#define PD_ACQ_MAX_SPECIMENS 100
#define PD_ACQ_MAX_DIM_COLUMNS 4
#define PD_ACQ_REASON_MAX 100 /* bytes of an invalid reason ("invalid: " + it fits the status) */

/* A dimensions CSV as read (docs/HDF5-SCHEMA.md, README): values in mm, NaN where a row leaves a
 * column empty (the config's value then). Positions are kept for the range check's messages. */
struct pd_acq_dims_table {
    char source[256];                              /* the file as named */
    size_t n_columns;                              /* dimension columns after `specimen` */
    char column[PD_ACQ_MAX_DIM_COLUMNS][32];       /* their keys ("width"), units stripped */
    size_t n_rows;
    struct pd_acq_dims_row {
        unsigned line;                             /* 1-based line in the file */
        unsigned col[PD_ACQ_MAX_DIM_COLUMNS];      /* 1-based column where each value starts */
        double value[PD_ACQ_MAX_DIM_COLUMNS];
        char invalid_reason[PD_ACQ_REASON_MAX + 1]; /* empty: valid */
    } rows[PD_ACQ_MAX_SPECIMENS];
};
/* Parses CSV text (header `specimen,width,thickness[,gauge_length][,invalid_reason]`, optional
 * unit suffix `_mm` or ` [mm]`, strict decimal numbers, specimens numbered 1..n in order); every
 * error names name:line:column. On failure *out is untouched. */
int pd_acq_dims_parse_csv(const char *name, const char *text, size_t len, struct pd_acq_dims_table *out,
                          struct pd_err *err);
int pd_acq_dims_load_csv(const char *path, struct pd_acq_dims_table *out, struct pd_err *err);
/* Checks a table against the configured series before it starts: one row per planned specimen,
 * only the method's dimensions, each value within the method's range (name:line:column). */
int pd_acq_dims_check(const struct pd_acq_config *cfg, const struct pd_acq_dims_table *t, struct pd_err *err);
/* Checks what the configuration's dimension settings refer to (a `caliper:` that is one of its
 * instruments), naming the place; 0 when all is well. */
int pd_acq_config_check_dims(const struct pd_acq_config *cfg, struct pd_err *err);
/* What the configuration asks for (`specimen: dimensions: prompt`), PD_ACQ_DIMS_CONFIG otherwise. */
enum pd_acq_dims_mode pd_acq_config_dims_mode(const struct pd_acq_config *cfg);

/* Requests from another thread (the station's control socket, control.c): specimens declared
 * invalid while the series runs, and — for a run whose dims_mode is PD_ACQ_DIMS_STATION — each
 * specimen's dimensions, start, stop, abort, return and notes. Caller-allocated; the run applies
 * each invalid mark once the specimen is closed (at the latest when the series ends), as status
 * "invalid: REASON", attributes invalid_reason / invalid_by and an "invalid" event. Everything
 * else is taken by the method thread at its next look (every few ms while it waits), under
 * `lock`; `changed` wakes it at once. */
#define PD_ACQ_BY_MAX 128   /* bytes of a "by" name with its terminator */
#define PD_ACQ_NOTE_MAX 500 /* bytes of a note */
#define PD_ACQ_NOTES_QUEUED 32
struct pd_acq_control {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* on CLOCK_MONOTONIC: a request arrived */
    size_t n_pending;
    struct pd_acq_invalid_mark {
        size_t specimen; /* 1-based */
        char reason[PD_ACQ_REASON_MAX + 1];
        char who[PD_ACQ_BY_MAX];
    } pending[PD_ACQ_MAX_SPECIMENS];
    /* The current specimen's dimensions as given so far (station runs; reset for each specimen by
     * the method thread): value, source ("typed", "caliper NAME MODEL s/n SERIAL") and who. */
    size_t dims_specimen; /* 1-based; 0 = none asked for yet */
    bool dim_given[PD_ACQ_MAX_DIM_COLUMNS];
    double dim_value[PD_ACQ_MAX_DIM_COLUMNS];
    char dim_source[PD_ACQ_MAX_DIM_COLUMNS][160];
    char dim_by[PD_ACQ_MAX_DIM_COLUMNS][PD_ACQ_BY_MAX];
    /* One-shot requests with who asked (empty: none waiting). */
    char start_by[PD_ACQ_BY_MAX], stop_by[PD_ACQ_BY_MAX], abort_by[PD_ACQ_BY_MAX], return_by[PD_ACQ_BY_MAX];
    size_t n_notes;
    struct pd_acq_note {
        size_t specimen; /* 1-based */
        char text[PD_ACQ_NOTE_MAX + 1];
        char who[PD_ACQ_BY_MAX];
    } notes[PD_ACQ_NOTES_QUEUED];
};
int pd_acq_control_init(struct pd_acq_control *c, struct pd_err *err);
void pd_acq_control_close(struct pd_acq_control *c);
/* Queues the mark (thread-safe): PD_EINVAL for specimen 0, an empty reason, a reason longer than
 * PD_ACQ_REASON_MAX or with a control character, PD_EBUSY when PD_ACQ_MAX_SPECIMENS marks wait.
 * The run ignores (with a warning) a mark for a specimen beyond its series. */
int pd_acq_mark_invalid(struct pd_acq_control *c, size_t specimen, const char *reason, const char *who,
                        struct pd_err *err);

/* Queues a note for the run file's events (thread-safe): PD_EINVAL for specimen 0, an empty text,
 * one longer than PD_ACQ_NOTE_MAX or with a control character; PD_EBUSY when the queue is full. */
int pd_acq_add_note(struct pd_acq_control *c, size_t specimen, const char *text, const char *who,
                    struct pd_err *err);

/* ---- the station's control socket (control.c; docs/STATION.md "Protocol") -------------------
 * A run driven from the lab server: newline-delimited JSON over a Unix stream socket the run
 * creates (mode 0600), several clients at once, every client gets every event, any client may send
 * commands. Events reach clients through a bounded queue served by the station's own thread; a
 * client that does not read is dropped once PD_ACQ_STATION_OUT_MAX bytes wait for it, so no
 * acquisition thread ever waits for a client. */
#define PD_ACQ_STATION_LINE_MAX (64u * 1024u)   /* a command line, newline excluded */
#define PD_ACQ_STATION_OUT_MAX (1024u * 1024u)  /* bytes queued for one client before it is dropped */
#define PD_ACQ_STATION_CLIENTS 64
struct pd_acq_station;
/* Binds and listens on `socket_path` (an existing socket file is replaced only when nothing
 * answers on it); clients wait in the backlog until the run starts serving. */
int pd_acq_station_open(const char *socket_path, struct pd_acq_station **out, struct pd_err *err);
/* Stops serving (if the run has not), closes every client and unlinks the socket. */
void pd_acq_station_close(struct pd_acq_station *st);
/* The control every command goes through (pass it as pd_acq_options.control). */
struct pd_acq_control *pd_acq_station_control(struct pd_acq_station *st);

/* ---- one run per instrument (run.c) -------------------------------------------------------
 * Every run holds an exclusive flock on OUT_DIR/.instrument-NAME.lock for each of its instruments
 * from before it connects until it ends; the file holds the run's id. A second run on the same
 * instrument fails at once with PD_EBUSY: "instrument NAME is in use by run ID". */

struct pd_acq_options {
    const char *out_dir;          /* created if missing */
    const char *sim_dir;          /* where to look for simulator programs first (NULL: PATH only) */
    enum pd_acq_progress progress;
    /* Set non-zero by a signal handler: finish cleanly (may be NULL). The value is the signal's
     * number when a signal asked for the stop (it is reported), any other non-zero value else. */
    volatile sig_atomic_t *stop;
    /* Incremented (by a signal handler or an input thread) for each operator mark: the writer
     * records a "mark" event for each (may be NULL). */
    volatile sig_atomic_t *marks;
    /* Per-specimen dimensions (zero: the config's for every specimen). PD_ACQ_DIMS_TABLE needs
     * `dims` (checked with pd_acq_dims_check); PD_ACQ_DIMS_PROMPT reads lines from `prompt_fd`
     * (a terminal; nothing else may read it meanwhile) and writes the questions to stderr. */
    enum pd_acq_dims_mode dims_mode;
    const struct pd_acq_dims_table *dims;
    int prompt_fd;
    struct pd_acq_control *control; /* may be NULL */
    /* A station run (dims_mode PD_ACQ_DIMS_STATION, control = pd_acq_station_control(station)):
     * the run serves the socket from when its file exists until its end event. */
    struct pd_acq_station *station;
};

/* How a run ended, as recorded in the run file's `outcome` attribute. Only `completed` means every
 * planned specimen was tested. */
enum pd_acq_outcome {
    PD_ACQ_COMPLETED,   /* every planned specimen tested */
    PD_ACQ_INTERRUPTED, /* stopped on request (a signal) before the series was done */
    PD_ACQ_FAILED,      /* an instrument failed or the file could not be written */
    PD_ACQ_INCOMPLETE,  /* the series ran to its end, but some specimens were not tested (timeouts) */
};
/* "completed", "interrupted", "failed", "incomplete" */
const char *pd_acq_outcome_name(enum pd_acq_outcome outcome);

struct pd_acq_result {
    char path[4096];         /* the run's HDF5 file */
    char run_id[64];
    size_t specimens_tested;
    size_t specimens_planned; /* run.specimens; 1 for a recording (method record) */
    uint64_t samples_written;
    uint64_t samples_acquired; /* handed to the writer: written + lost */
    uint64_t samples_lost;   /* ring overruns, recorded in the file */
    uint64_t missed_deadlines;
    uint64_t read_errors;
    int interrupted;         /* stopped by the stop flag */
    int stop_signal;         /* the stop flag's value when it stopped the run (a signal number) */
    enum pd_acq_outcome outcome;
    char outcome_reason[512]; /* one line: why the run ended as it did (also in the run file) */
    char seal_path[4200];     /* RUN.h5.seal of the last file, "" when not sealed */
    size_t files_sealed;      /* a recording seals each of its files */
};

/* Runs the whole series. Returns 0 when the series ran to its end or was stopped on request —
 * result->outcome then says whether it was completed, interrupted or incomplete —, PD_ECONFIG for
 * a configuration the drivers refuse, PD_EIO/PD_ETIMEOUT/PD_EDEVICE when an instrument fails
 * (outcome failed; err names the instrument and what it could not read). The file written so far
 * is closed and kept in every case, with the outcome and its reason as run attributes, and its path
 * is in result->path as soon as it exists. Simulators it starts are killed by the kernel if the
 * process dies (PR_SET_PDEATHSIG), so call it from a thread that outlives the call (any does). */
int pd_acq_run(const struct pd_acq_config *cfg, const struct pd_acq_options *opt,
               struct pd_acq_result *result, struct pd_err *err);

#endif /* PD_ACQ_H */
