/* acq_internal.h — private to src/acq: the run, its buses (one per instrument, each with its own
 * thread), the writer, simulator processes and the method table. */
#ifndef PD_ACQ_INTERNAL_H
#define PD_ACQ_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "acq/acq.h"
#include "driver/driver.h"
#include "store/store.h"
#include "trust/trust.h"

#define ACQ_RING_CAPACITY 65536
/* A sample ring holds ACQ_RING_SECONDS of its instrument's samples (a power of two, at least
 * ACQ_RING_MIN_CAPACITY, at most ACQ_RING_CAPACITY): the writer may stall that long before a
 * sample is lost, and 50 sensors at 10 Hz take 50 × 48 KiB, not 50 × 3 MiB (docs/BENCHMARKS.md
 * "Monitoring"). */
#define ACQ_RING_SECONDS 60
#define ACQ_RING_MIN_CAPACITY 1024
#define ACQ_EVENT_RING_CAPACITY 256
#define ACQ_LOSS_RING_CAPACITY 1024
#define ACQ_LOSS_BACKLOG 64
/* A clock step of at least this much (realtime vs. the run's time base) is recorded as an event. */
#define ACQ_CLOCK_STEP_EVENT_NS (1000000LL)
/* Test-only hooks, read once when a run starts (docs/HDF5-SCHEMA.md, "Test hooks"). */
#define ACQ_ENV_RING_CAPACITY "POLYDAQ_TEST_RING_CAPACITY"
#define ACQ_ENV_WRITER_STALL_MS "POLYDAQ_TEST_WRITER_STALL_MS"
/* bytes a station client may leave unread before it is dropped (1024 .. 1 MiB; also makes each
 * client's socket buffer small, so the limit is reached in seconds) */
#define ACQ_ENV_STATION_OUT_MAX "POLYDAQ_TEST_STATION_OUT_MAX"
#define ACQ_WRITER_PERIOD_NS (20 * 1000000LL)
/* The writer drains about every this many samples of the fastest instrument (writer.c). */
#define ACQ_WRITER_IDLE_SAMPLES 16
#define ACQ_FLUSH_PERIOD_NS (1000 * 1000000LL)
/* Appended bytes after which the writer asks the sync thread for an fdatasync (writer.c). */
#define ACQ_SYNC_BYTES (16u << 20)
#define ACQ_COMMAND_TIMEOUT_NS (5000 * 1000000LL)
#define ACQ_BACKOFF_MIN_NS (100 * 1000000LL)
#define ACQ_BACKOFF_MAX_NS (5000 * 1000000LL)
/* Consecutive timeouts/protocol errors before the link is considered lost and reopened. */
#define ACQ_ERRORS_BEFORE_RECONNECT 3
/* Retries of a command whose reply was garbled or lost. */
#define ACQ_COMMAND_RETRIES 2

/* ---- simulators ------------------------------------------------------------------------------*/
struct pd_sim_process {
    pid_t pid;
    char address[128]; /* "tcp://127.0.0.1:40123", "/dev/pts/5", "rtu:/dev/pts/6" as it reported it */
};

/* Starts the instrument's simulator with `--tcp HOST:PORT` taken from `transport`
 * ("tcp://HOST:PORT" or "tcp-raw://HOST:PORT", port 0 = let it choose) or, for a serial port
 * transport, with `--rtu auto` (modbus driver or "rtu:" prefix) or `--pty auto` (a new pty in
 * place of the port), and waits up to `timeout_ms` for its "listening <address>" line. */
int pd_sim_start(const struct pd_acq_instrument_config *ic, const char *transport, const char *sim_dir,
                 int timeout_ms, struct pd_sim_process *out, struct pd_err *err);
/* SIGTERM, wait up to 2 s, then SIGKILL; reaps the process. */
void pd_sim_stop(struct pd_sim_process *sim);

/* ---- what travels between threads ----------------------------------------------------------*/
struct acq_sample {
    int64_t t_mono_ns;
    int64_t half_width_ns;
    uint64_t seq;      /* the bus's count of samples handed to the writer before this one */
    uint32_t quality;
    uint32_t specimen; /* 1-based */
    double values[PD_MAX_CHANNELS];
};

/* Bytes of a sample in a bus's ring: the values of its own channels only (less to copy twice). */
static inline size_t acq_sample_size(size_t n_channels)
{
    return offsetof(struct acq_sample, values) + n_channels * sizeof(double);
}

/* A run of consecutive samples lost to a full ring (one specimen). `count` is exact; the range is
 * too, unless the bus had to merge records because even the loss ring was full. */
struct acq_loss {
    uint32_t specimen; /* 1-based */
    uint64_t first_seq, last_seq, count;
    int64_t t_first_mono_ns, t_last_mono_ns;
};

/* An event a bus thread reports (fault, reconnect); the writer stores it. */
struct acq_event {
    int64_t t_mono_ns;
    uint32_t specimen; /* 1-based; 0 = run level */
    char kind[32];
    char text[200];
};

/* ---- a bus: one instrument, its driver, its thread -------------------------------------------*/
struct run;

struct bus {
    const struct pd_acq_instrument_config *cfg;
    const struct pd_driver *drv;
    void *state;
    bool opened;
    struct pd_instrument_info info;
    const struct pd_channel_info *channels;
    size_t n_channels;
    struct pd_sim_process sim;
    int64_t period_ns;
    int64_t give_up_ns; /* a link down this long fails the instrument */
    int64_t no_data_ns; /* answering without a sample this long fails it (run.no_data_timeout_s) */
    /* when the driver last delivered a reading or a poll succeeded (or the thread began) */
    _Atomic int64_t last_sample_ns;
    /* bus thread only: when each channel last delivered a value (a reading marks the channels it
     * lacks PD_Q_UNREAD_CHANNEL); one silent for no_data_ns fails the instrument too */
    int64_t channel_read_ns[PD_MAX_CHANNELS];
    int64_t poll_due_ns; /* bus thread only: the deadline the current poll was scheduled for */

    pthread_t thread;
    bool thread_started;
    struct pd_ring ring;   /* samples, bus thread → writer */
    struct pd_ring events; /* events, bus thread → writer */
    struct pd_ring losses; /* lost-sample ranges, bus thread → writer */
    size_t ring_capacity;
    /* bus thread only (then the closer, after the join): numbering and losses not yet handed over */
    uint64_t next_seq;
    struct acq_loss pending;
    struct acq_loss backlog[ACQ_LOSS_BACKLOG];
    size_t n_backlog;
    _Atomic int quit;
    _Atomic uint32_t active_specimen; /* readings are recorded only while non-zero */

    /* mailbox: one command at a time from the method thread */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool cmd_pending, cmd_done;
    char cmd_name[32];
    double cmd_value;
    int cmd_rc;
    struct pd_err cmd_err;

    /* the last failed poll's message (a caliper's garbage line), published under `lock` */
    char last_error[256];
    /* latest reading, published under `lock` */
    struct pd_reading latest;
    uint64_t latest_seq;
    bool link_down;
    bool failed;
    struct pd_err fail_err;

    /* optional controls the driver has no mapping for (method thread only): said once, not errors */
    char unmapped[8][32];
    size_t n_unmapped;
    size_t n_unmapped_reported;

    _Atomic uint64_t n_readings, n_errors, n_lost, n_missed_deadlines, n_reconnects, n_events_lost;
    _Atomic uint64_t n_written, n_acquired;
    uint64_t lost_recorded; /* writer thread only: samples covered by overrun records in the file */
};

/* The bus's lock (priority inheritance) and condition (CLOCK_MONOTONIC, which the bus thread's
 * sleep needs); before acq_bus_open. acq_bus_close destroys them. */
void acq_bus_init_sync(struct bus *b);
/* ring_capacity 0: acq_ring_for_rate of the instrument's rate. */
int acq_bus_open(struct bus *b, const struct pd_acq_config *cfg, const char *sim_dir, size_t ring_capacity,
                 struct pd_err *err);
/* After the bus thread ended: hands the losses it still held over to the loss ring's reader (the
 * caller); returns how many were copied into `out` (at most `max`). */
size_t acq_bus_take_pending_losses(struct bus *b, struct acq_loss *out, size_t max);
int acq_bus_start(struct bus *b, struct pd_err *err);
/* Sample slots for an instrument polled at rate_hz (ACQ_RING_SECONDS of them, bounded). */
size_t acq_ring_for_rate(double rate_hz);
/* Tells the bus thread to end, waking it from its sleep (join it afterwards). */
void acq_bus_quit(struct bus *b);
/* Stops the thread (if started), closes the driver and the simulator, frees the rings. */
void acq_bus_close(struct bus *b);
/* Sends a named control to the bus thread and waits until it was carried out. */
int acq_bus_command(struct bus *b, const char *name, double value, struct pd_err *err);
/* A control the method sets only where the instrument has it: a control the driver does not know
 * (PD_EUNSUPPORTED) is noted for acq_bus_report_unmapped and returns 0; other failures as above. */
int acq_bus_command_optional(struct bus *b, const char *name, double value, struct pd_err *err);
/* Says (a log line and a run event) which optional controls turned out not to be mapped since the
 * last call: each is named once per run. Methods call it after their first setpoints. */
void acq_bus_report_unmapped(struct run *run, struct bus *b);
bool acq_bus_latest(struct bus *b, struct pd_reading *out, uint64_t *seq);
/* Sets the specimen tag of the samples to come (0 = record none). When it returns, every sample
 * tagged with the previous value is already in the ring: a file boundary loses nothing. */
void acq_bus_set_specimen(struct bus *b, uint32_t specimen);
bool acq_bus_failed(struct bus *b, struct pd_err *err);
int acq_bus_find_channel(const struct bus *b, const char *name);

/* ---- the run ---------------------------------------------------------------------------------*/
struct run {
    const struct pd_acq_config *cfg;
    const struct pd_acq_options *opt;
    struct bus buses[PD_ACQ_MAX_INSTRUMENTS];
    size_t n_buses;
    struct pd_timebase tb;
    struct pd_store *store;
    pthread_mutex_t store_lock; /* the writer thread and the method thread both write to the store */
    pthread_t writer;
    bool writer_started;
    _Atomic int writer_quit;   /* set through acq_writer_quit, which also ends the writer's pause */
    pthread_mutex_t writer_wake_lock;
    pthread_cond_t writer_wake; /* on CLOCK_MONOTONIC */
    bool writer_wake_ready;     /* both initialised (acq_writer_wake_init) */
    _Atomic int writer_rc;
    struct pd_err writer_err;
    int64_t flush_period_ns;
    const char *path;          /* the run file */
    uint64_t space_margin;     /* bytes that must stay free (disk and file size limit) to go on */
    bool stopped_for_space;    /* the writer stopped the run before the disk filled: still drain */
    int64_t test_stall_ns;  /* ACQ_ENV_WRITER_STALL_MS: the writer sleeps this long once (tests) */
    /* writer thread only */
    sig_atomic_t marks_seen;
    size_t last_drained; /* samples the last drain moved: a busy writer drains again at once */
    uint64_t unsynced_bytes; /* appended since the writer last asked for an fdatasync */
    int64_t clock_step_reported_ns, clock_step_max_ns;
    /* Rolling runs (acq_method.one_entry_per_file): samples tagged up to file_tag go to the
     * current file's only entry; the method sets rollover_to to a new tag after re-tagging every
     * bus, and the writer (acq_writer_drain_all) creates the next file, then closes the current
     * one, once every sample of the old tags is in it. When the next file cannot be created the
     * current one takes the new tag too (file_tag = rollover_to), the writer records a
     * `rollover_failed` event and sets rollover_failed, and the method asks again after
     * `rollover_retry` (docs/HDF5-SCHEMA.md "Recording runs"). Non-rolling runs: file_no and
     * file_tag 1, rollover_to 0. */
    char run_id[64];
    char out_dir[3900];
    bool rolling;               /* the method has one entry per file (set before any thread starts) */
    uint32_t file_no;           /* the current file's number in the recording, 1-based (writer thread) */
    uint32_t file_tag;          /* the highest bus tag the current file takes (writer thread) */
    uint32_t rollover_failures; /* failed attempts to create the next file since the last success */
    _Atomic uint32_t rollover_to;
    _Atomic int rollover_failed; /* writer → method: the last rollover failed, ask again later */
    uint64_t file_written_base[PD_ACQ_MAX_INSTRUMENTS]; /* n_written when the current file began */
    uint64_t file_lost_base[PD_ACQ_MAX_INSTRUMENTS];    /* lost_recorded when the current file began */
    struct pd_acq_result *result;
    /* the station's key (cfg station section), loaded before any instrument is opened: each file
     * closed cleanly is sealed with it (sealing false: no station section) */
    bool sealing;
    struct pd_secret_key station_key;
    /* progress display (method thread only) */
    uint64_t progress_prev[PD_ACQ_MAX_INSTRUMENTS];
    int64_t progress_prev_t;
    double progress_rate[PD_ACQ_MAX_INSTRUMENTS];
};

/* Samples per chunk for an instrument polled at rate_hz: about ten seconds of them (a power of
 * two, at least 64), at most max_chunk, so a slow instrument does not fill the file with mostly
 * empty chunks (nor rewrite a large one at every flush). */
size_t acq_chunk_for_rate(double rate_hz, size_t max_chunk);

void *acq_writer_main(void *arg);
/* The writer's pause between drains ends at once when it is told to quit (a stop does not wait
 * out the pause). init: 0 or PD_ENOMEM/PD_EIO; without it the pause is a plain sleep. */
int acq_writer_wake_init(struct run *run);
void acq_writer_wake_destroy(struct run *run);
void acq_writer_quit(struct run *run);
/* Moves everything the rings hold into the store. */
int acq_writer_drain(struct run *run, struct pd_err *err);
/* acq_writer_drain, and for a rolling run every rollover that became due (run.c does the file
 * switch); true in *rolled when the file changed. */
int acq_writer_drain_all(struct run *run, bool *rolled, struct pd_err *err);
/* Creates the next file of a rolling run and closes the current one (writer thread, store lock
 * free); *switched tells whether it did. A next file that cannot be created is no error: the
 * current file goes on (an event, run->rollover_failed set), unless the current file itself is
 * gone from its path (its directory removed or renamed): then the run fails (PD_EIO) and the file
 * is closed cleanly where it now is. A failure to close the old file is an error of the run. */
int acq_run_rollover(struct run *run, bool *switched, struct pd_err *err);
/* Records lost samples in the file (an overrun row and an "overrun" event). */
int acq_record_loss(struct run *run, size_t bus_index, const struct acq_loss *loss, struct pd_err *err);
/* Events and status from the method thread (specimen 0-based; SIZE_MAX = run level). */
int acq_run_event(struct run *run, size_t specimen, const char *kind, const char *text);
void acq_set_status(struct run *run, size_t specimen, const char *status);
/* A live line (terminal) or one line per specimen (not a terminal) on stderr. */
void acq_show_progress(const struct run *run, const struct bus *primary, size_t specimen, bool final_line);

/* ---- alarm hooks (alarm_hook.c; monitoring runs) --------------------------------------------*/
#define ACQ_HOOK_MAX_ARGS 16
#define ACQ_HOOKS_RUNNING_MAX 8 /* hooks alive at once; one more is refused (an event) */

/* A command from the config: argv[0] is a path, or a name looked up on PATH. */
struct acq_hook_cmd {
    size_t argc;
    char argv[ACQ_HOOK_MAX_ARGS][256];
};

/* What a hook is told (POLYDAQ_* environment variables, docs/HDF5-SCHEMA.md "Recording runs"). */
struct acq_hook_alarm {
    const char *channel;    /* instrument.channel */
    const char *instrument;
    double value, low, high;
    bool outside; /* true: it left its band (alarm); false: it came back (cleared) */
    int64_t t_mono_ns; /* the reading's time */
};

struct acq_hook_proc {
    pid_t pid; /* 0: a free slot */
    int64_t started_ns, deadline_ns;
    char what[200];
};

/* The hooks of one run, owned by the method thread. */
struct acq_hooks {
    int64_t timeout_ns; /* a hook still running this long after its start is killed */
    struct acq_hook_proc running[ACQ_HOOKS_RUNNING_MAX];
};

/* A YAML list of strings → a command; errors name file:line:column. */
int acq_hook_parse(const struct pd_cfg_node *seq, struct acq_hook_cmd *out, struct pd_err *err);
/* Starts the command for an alarm change without waiting for it; a failure to start is an
 * `alarm_hook_failed` event (and a warning line), never an error of the run. */
void acq_hook_start(struct run *run, struct acq_hooks *hooks, const struct acq_hook_cmd *cmd,
                    const struct acq_hook_alarm *alarm);
/* Reaps the hooks that ended (an `alarm_hook` event for exit status 0, else `alarm_hook_failed`
 * with the status or signal) and kills the ones past their deadline. Never blocks. */
void acq_hooks_reap(struct run *run, struct acq_hooks *hooks);
/* At the end of the run: waits for the running hooks at most `grace_ns` more (and no longer than
 * their own deadlines), then kills what is left; every one ends as an event. */
void acq_hooks_finish(struct run *run, struct acq_hooks *hooks, int64_t grace_ns);

/* ---- methods ---------------------------------------------------------------------------------*/
/* A test method as the acquisition side runs it. Its config sections (`specimen:`, `method:`) and
 * what it records about each specimen are its own business. */
struct acq_method {
    const char *name; /* as in the config's run.method */
    const char *description;
    /* Recording runs: one entry (NXentry) per file, the run rolling over to a new file when the
     * method asks (run->rollover_to); the series has one "specimen" (the recording). */
    bool one_entry_per_file;
    size_t params_size; /* bytes of its decoded parameters (allocated zeroed by the loader) */
    /* Validates the sections (either may be NULL when absent) into `params`; errors name
     * file:line:column. */
    int (*configure)(const struct pd_acq_config *cfg, void *params, struct pd_err *err);
    /* Attributes stored per specimen (NXsample: dimensions with units...) and per run (test
     * speeds...); `out` holds `max` entries; returns how many were filled. Strings point into params. */
    size_t (*specimen_attrs)(const void *params, struct pd_store_attr *out, size_t max);
    size_t (*run_attrs)(const void *params, struct pd_store_attr *out, size_t max);
    /* Runs every specimen of the series; returns 0 or a negative status (err filled). */
    int (*run_series)(struct run *run, struct pd_acq_result *result, struct pd_err *err);
    /* The dimensions measured on each specimen (NULL: none; dimensions.c): their keys and ranges,
     * the configured values (every specimen's default) and the configured dims mode. */
    const struct acq_dim *dims;
    size_t n_dims;
    void (*dim_defaults)(const void *params, double *out);
    enum pd_acq_dims_mode (*dims_mode)(const void *params);
    const char *(*caliper)(const void *params); /* the measuring instrument's name, "" for none */
    /* A specimen's values together (NULL: no such rule): 0, or -1 with why in `why`; `values`
     * follow `dims`, the config's where a table leaves one empty. */
    int (*dims_consistent)(const void *params, const double *values, char *why, size_t size);
};

/* A specimen dimension: key (the specimen attribute, in mm), what the technician is asked, its
 * range, whether a CSV must have it and whether the terminal asks for it. */
struct acq_dim {
    const char *key;
    const char *label;
    double min, max;
    bool required;
    bool prompted;
};
#define ACQ_MAX_DIMS PD_ACQ_MAX_DIM_COLUMNS

/* One specimen's dimensions as obtained before it starts, and where each value came from. */
struct acq_specimen_dims {
    double value[ACQ_MAX_DIMS];
    char source[ACQ_MAX_DIMS][160]; /* "config", "typed", "csv FILE:LINE", "caliper NAME MODEL s/n SERIAL" */
};
/* Obtains specimen k's (0-based) dimensions from the run's source and records them in the file
 * (attributes <key> and <key>_source, an event). Returns 0, or 1 when the series must stop
 * (end of input or a stop request on the terminal: result marked interrupted, reason noted). */
int acq_dims_obtain(struct run *run, size_t k, struct acq_specimen_dims *out, struct pd_acq_result *result);
/* After specimen k closed: the CSV's or the terminal's verdict, then the control's pending marks
 * for specimens up to k (SIZE_MAX: all, at the end of the series). Returns 1 when the terminal
 * reached end of input (the series stops after this specimen), else 0. */
int acq_dims_after_specimen(struct run *run, size_t k, struct pd_acq_result *result);
/* Records specimen k (0-based) invalid: status, attributes, event. */
void acq_mark_invalid(struct run *run, size_t k, const char *reason, const char *who, const char *via);
const struct acq_method *acq_method_find(const char *name);
/* Copies up to `max` of a method's attribute table into `out`; returns how many. */
size_t acq_copy_attrs(const struct pd_store_attr *attrs, size_t n, struct pd_store_attr *out, size_t max);
/* Why a method's wait must end early — "aborted" (stop requested), "instrument failure" (one of
 * `buses` failed), "write error", "timeout" (past `deadline`) — with *rc and *err set for the
 * failures; NULL while all is well. */
const char *acq_series_trouble(struct run *run, struct bus *const *buses, size_t n, int64_t deadline, int *rc,
                               struct pd_err *err);
/* True (and the series marked interrupted) when a stop was requested before the next specimen. */
bool acq_series_stopping(const struct run *run, struct pd_acq_result *result);
/* Closes specimen k for the technician: its status in the file and its progress line. */
void acq_specimen_close(struct run *run, struct bus *shown, size_t k, const char *outcome);
/* What specimen k's outcome means for the series: a tested one is counted; "aborted" marks the
 * series interrupted and returns false (stop); any other failure is logged and the series goes on. */
bool acq_series_continue(struct pd_acq_result *result, size_t k, const char *outcome);
/* "iso527, ..." for messages. */
void acq_method_names(char *buf, size_t size);

/* ---- the station's control socket (control.c) -----------------------------------------------*/
/* Commands as parsed from one line (acq_cmd_parse): every field checked, nothing else allowed. */
enum acq_cmd_kind { ACQ_CMD_DIMS, ACQ_CMD_CALIPER, ACQ_CMD_START, ACQ_CMD_STOP, ACQ_CMD_ABORT, ACQ_CMD_RETURN,
                    ACQ_CMD_INVALID, ACQ_CMD_NOTE };
struct acq_cmd {
    enum acq_cmd_kind kind;
    bool has_id;
    long long cmd_id;
    char by[PD_ACQ_BY_MAX];
    size_t specimen; /* dims, caliper, invalid, note: 1-based */
    size_t n_values; /* dims: the fields given, as indices into the method's dims */
    size_t dim[ACQ_MAX_DIMS];
    double value[ACQ_MAX_DIMS];
    char text[PD_ACQ_NOTE_MAX + 1]; /* invalid: the reason; note: the text */
};
/* Parses one command line against the method's dimensions (`dims`, n_dims; their ranges). Returns
 * 0, or -1 with the message in `why`; *has_id / *cmd_id carry a valid cmd_id even when the rest
 * is refused, so the error can echo it. */
int acq_cmd_parse(const char *line, size_t len, const struct acq_dim *dims, size_t n_dims, struct acq_cmd *out,
                  bool *has_id, long long *cmd_id, char *why, size_t size);

/* Decimation for display (docs/STATION.md "points"): samples in buckets of 8^level samples, each
 * closed bucket giving its minimum and maximum of y and its last sample (in time order, each once);
 * the level rises as the budget is used (half of what is left at each level), so the points of a
 * specimen never exceed the budget however long it runs, and acq_decim_flush gives the newest
 * sample at the end. */
struct acq_point {
    int64_t t;
    double x, y;
};
#define ACQ_DECIM_MAX_OUT 3 /* points one call can give */
struct acq_decimator {
    size_t budget, emitted;
    unsigned level;
    uint64_t bucket_size, in_bucket;
    struct acq_point first_min, first_max, last; /* the open bucket: extremes of y and the newest */
};
void acq_decim_init(struct acq_decimator *d, size_t budget);
/* Adds one sample; returns how many points (≤ ACQ_DECIM_MAX_OUT) a bucket it closed gave in out. */
size_t acq_decim_add(struct acq_decimator *d, const struct acq_point *p, struct acq_point *out);
/* The open bucket's points (the specimen ended); returns how many. */
size_t acq_decim_flush(struct acq_decimator *d, struct acq_point *out);

/* The run's side of the station (opt->station; all no-ops without one). */
int acq_station_check(const struct pd_acq_config *cfg, struct pd_err *err); /* the method can be driven */
int acq_station_start(struct run *run, struct pd_err *err); /* serves from now on (hello needs the file) */
/* The last event (outcome as the protocol names it), then clients are closed; the caller unlinks. */
void acq_station_finish(struct run *run, const char *outcome, const char *reason);
bool acq_station_active(const struct run *run);
/* The method thread, before specimen k (0-based): asks for its dimensions and waits until a client
 * starts it (0, *out filled with each value's source) or the series must end (1: abort, stop). */
int acq_station_obtain_dims(struct run *run, size_t k, struct acq_specimen_dims *out, struct pd_acq_result *result);
/* State changes as the protocol names them (machine, outcome may be NULL: unchanged / null). */
void acq_station_state(struct run *run, size_t k, const char *state, const char *machine, const char *outcome);
/* A control action for clients (type "event"); the caller records it in the file. */
void acq_station_event(struct run *run, size_t k, const char *kind, const char *by, const char *text);
/* After a specimen's samples stopped being tagged: waits (at most 1 s) until the writer has taken
 * every one of bus b's, so the station's last points of the specimen go out before its "done". */
void acq_station_settle(struct run *run, struct bus *b);
/* The machine took specimen k's start: state running, a start event; the file event's text. */
const char *acq_station_started(struct run *run, size_t k);
/* Specimen k ended by a station's `req` ("stop" or "abort", by `by`): `text` into the file's events
 * and to the clients; an abort also marks the specimen invalid ("aborted by BY"). Returns the
 * specimen's status: "tested" (a stop: evaluated as it is) or "aborted". */
const char *acq_station_stopped(struct run *run, size_t k, const char *req, const char *by, const char *text);
/* While specimen k runs: "stop" or "abort" when a client asked (who in `by`), else NULL; notes
 * waiting are written to the file on the way. */
const char *acq_station_request(struct run *run, size_t k, char *by, size_t size);
/* Who aborted the series from the station (NULL: nobody). */
const char *acq_station_aborted_by(struct run *run);
/* Notes waiting in the control, written to the file's events (any thread holding no store lock). */
void acq_control_apply_notes(struct run *run);
/* Writer thread: `n` samples of bus `bus_index` for specimen tag `specimen` just appended (times in
 * UTC ns, columns as the store has them); copied for the display without ever waiting. */
void acq_station_tap(struct run *run, size_t bus_index, uint32_t specimen, const int64_t *t_utc,
                     double *const *columns, size_t n);

#endif
