/*
 * core.h — the contract every polydaq module shares: status codes and error detail, logging,
 * clocks, the single-producer/single-consumer ring that carries samples between threads, and a
 * few string helpers. Nothing here knows about instruments, files or methods.
 */
#ifndef PD_CORE_H
#define PD_CORE_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Status codes -------------------------------------------------------------------------
 * Functions return 0 or one of these negative codes directly (never errno). The class decides
 * the caller's policy: fix the input, reconnect, retry, flush and retry, give up. */
enum pd_status {
    PD_OK = 0,
    PD_EINVAL = -1,       /* bad argument from the caller (a programming error) */
    PD_ECONFIG = -2,      /* bad configuration or spec file: the user must fix it */
    PD_EIO = -3,          /* link or file I/O failed (connection refused/dropped, write error) */
    PD_ETIMEOUT = -4,     /* no answer in time */
    PD_EPROTO = -5,       /* framing/protocol error: bad CRC, short or garbage frame */
    PD_EDEVICE = -6,      /* the device answered with an exception / error response */
    PD_EBUSY = -7,        /* device busy: retry this request only */
    PD_EUNSUPPORTED = -8, /* not supported by this driver/device/build */
    PD_ESTATE = -9,       /* call not valid in the current state */
    PD_ENOMEM = -10,      /* allocation failed */
    PD_EDATA = -11,       /* bad data: unreadable/invalid file or samples that cannot be evaluated */
    PD_ERANGE = -12,      /* a value outside its valid range */
};

/* Human-readable name of a status ("timeout", "config error", ...). Never NULL. */
const char *pd_status_name(int status);

/* ---- Error detail --------------------------------------------------------------------------
 * Caller-allocated; filled by the function that fails, untouched on success. `msg` is the whole
 * one-line reason, already prefixed with the place (file:line:column, instrument/register) when
 * there is one, so a CLI can print it as is. */
struct pd_err {
    int code;          /* an enum pd_status value */
    int os_errno;      /* errno captured at the failure, 0 if none */
    int device_code;   /* e.g. a Modbus exception code, 0 if none */
    char where[160];   /* "file:line:col" or "instrument frame1, register 30005"; may be empty */
    char msg[512];     /* full message including `where` */
};

/* Sets code and message; `where` may be NULL. Returns `code` so callers can `return pd_err_set(...)`.
 * A NULL `err` is allowed (the detail is dropped). */
int pd_err_set(struct pd_err *err, int code, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int pd_err_setv(struct pd_err *err, int code, const char *where, const char *fmt, va_list ap);
/* Like pd_err_set, also records `os_errno` and appends strerror(os_errno) to the message. */
int pd_err_set_os(struct pd_err *err, int code, int os_errno, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void pd_err_clear(struct pd_err *err);

/* ---- Logging -------------------------------------------------------------------------------
 * Thread-safe, one line per call, to stderr (or a file set by pd_log_set_stream). */
enum pd_log_level { PD_LOG_ERROR = 0, PD_LOG_WARN = 1, PD_LOG_INFO = 2, PD_LOG_DEBUG = 3 };
void pd_log_set_level(enum pd_log_level level);
enum pd_log_level pd_log_get_level(void);
void pd_log(enum pd_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- Clocks --------------------------------------------------------------------------------*/
int64_t pd_clock_mono_ns(void); /* CLOCK_MONOTONIC in ns */
int64_t pd_clock_utc_ns(void);  /* CLOCK_REALTIME in ns since 1970-01-01T00:00:00Z */
/* Sleep until an absolute CLOCK_MONOTONIC deadline (restarts on EINTR). */
void pd_clock_sleep_until_mono(int64_t deadline_ns);
void pd_clock_sleep_ns(int64_t ns);
/* "2026-11-25T02:26:58.123456789Z" (UTC, always 30 chars + NUL); buf must hold 40 bytes. */
void pd_time_format_iso8601(int64_t utc_ns, char *buf, size_t size);

/* A time base that maps CLOCK_MONOTONIC readings to UTC through one (monotonic, realtime) pair
 * taken at run start, so a clock step during a run does not bend the time axis. */
struct pd_timebase {
    int64_t mono0_ns;
    int64_t utc0_ns;
};
void pd_timebase_init(struct pd_timebase *tb);
int64_t pd_timebase_utc(const struct pd_timebase *tb, int64_t mono_ns);
/* Realtime minus the timebase's prediction now: non-zero when the system clock was stepped. */
int64_t pd_timebase_step_ns(const struct pd_timebase *tb);

/* ---- SPSC ring -----------------------------------------------------------------------------
 * Bounded, preallocated, lock-free; exactly one producer thread and one consumer thread.
 * Fixed-size elements; capacity is rounded up to a power of two. Push never blocks. */
struct pd_ring {
    unsigned char *buf;
    size_t elem_size;
    size_t mask;
    /* Each side's index and its private copy of the other's sit on cache lines of their own
     * (the padding works at any base alignment): a side reads the other's index only when its
     * copy says the ring is full or empty, instead of moving a shared line back and forth for
     * every element. */
    char pad_producer[64];
    _Atomic size_t head; /* written by the producer */
    size_t tail_seen;    /* the producer's last look at tail */
    char pad_consumer[64];
    _Atomic size_t tail; /* written by the consumer */
    size_t head_seen;    /* the consumer's last look at head */
    char pad_end[64];
};
int pd_ring_init(struct pd_ring *ring, size_t elem_size, size_t min_capacity);
void pd_ring_close(struct pd_ring *ring);
size_t pd_ring_capacity(const struct pd_ring *ring);
/* Returns false (and copies nothing) when the ring is full. */
bool pd_ring_push(struct pd_ring *ring, const void *elem);
/* Copies up to `max` elements into `out`, oldest first, and frees their slots; returns how many.
 * A bulk copy: at most two memcpy calls (before and after the buffer's wrap point). */
size_t pd_ring_pop(struct pd_ring *ring, void *out, size_t max);
/* Consumer, without copying: points *span at the oldest elements that lie contiguously in the
 * buffer (up to `max`; fewer at the wrap point) and returns how many. They stay the consumer's to
 * read until pd_ring_release frees them (at most that many, oldest first). */
size_t pd_ring_peek(struct pd_ring *ring, size_t max, const void **span);
void pd_ring_release(struct pd_ring *ring, size_t n);
size_t pd_ring_count(const struct pd_ring *ring);

/* ---- Sample quality bits (per sample, stored in files) -------------------------------------*/
enum pd_quality {
    PD_Q_GOOD = 0,
    PD_Q_RETRIED = 1u << 0,   /* obtained after a retry */
    PD_Q_RANGE = 1u << 1,     /* outside the channel's plausibility range */
    PD_Q_SIMULATED = 1u << 2, /* produced by a simulator: never certifiable */
    PD_Q_UNREAD = 1u << 3,    /* some channels could not be read: NaN, named by the bits below */
};
/* Bit 16 + i: channel i (0..15) of the sample could not be read (its request failed) and holds
 * NaN; the other channels of the sample were read. Always together with PD_Q_UNREAD. */
#define PD_Q_UNREAD_CHANNEL(i) (1u << (16u + (unsigned)(i)))

/* ---- Small string helpers ------------------------------------------------------------------*/
/* Bounded copy that always terminates; returns PD_ERANGE (and truncates) when src did not fit. */
int pd_strlcpy(char *dst, const char *src, size_t size);
/* Parses a whole string as a double / long; false on empty, trailing junk, overflow. */
bool pd_parse_double(const char *s, double *out);
bool pd_parse_long(const char *s, long *out);
/* Text from a document or a run file, safe to print on a terminal (escape.c): C0 controls, DEL
 * and bytes that are not valid UTF-8 become \xNN, C1 controls, bidi embeddings/overrides/isolates/
 * marks and U+2028/2029 become \u{XXXX}, a backslash becomes two; everything else is kept. len
 * bytes of text (NUL included: it is shown as \x00). malloc'd; NULL when out of memory. */
char *pd_text_escape_terminal(const char *text, size_t len);

/* ---- Files -------------------------------------------------------------------------------*/
/* mkdir -p: creates the directory and its missing parents (mode 0775); an existing one is fine. */
int pd_mkdir_p(const char *path, struct pd_err *err);

#endif /* PD_CORE_H */
