/*
 * driver.h — the instrument driver interface and the registry of drivers. A driver is a table of
 * callbacks; the acquisition core finds it by name and never sees its internals. Each instance
 * is used from one thread at a time (its bus thread), so drivers need no locking of their own.
 */
#ifndef PD_DRIVER_H
#define PD_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/core.h"

#define PD_MAX_CHANNELS 16
#define PD_NAME_MAX 32
#define PD_UNIT_MAX 16

struct pd_channel_info {
    char name[PD_NAME_MAX]; /* "force", "extension", "break" */
    char unit[PD_UNIT_MAX]; /* "N", "mm", "" for dimensionless/flags */
};

/* Identity and calibration status of a connected instrument. Fields the device reports override
 * those from the config; empty means unknown. */
struct pd_instrument_info {
    char model[64];
    char serial[64];
    char firmware[32];
    char calibration_date[16]; /* ISO 8601 date */
    char calibration_due[16];
    char calibration_id[64];   /* calibration certificate id */
    int simulated;             /* 1 when the data come from a simulator */
};

/* One reading of all of an instrument's channels, in channel order. The timestamp is the
 * midpoint of the request/response exchange on CLOCK_MONOTONIC and half_width its half-length:
 * the timing uncertainty of the reading. */
struct pd_reading {
    int64_t t_mono_ns;
    int64_t half_width_ns;
    uint32_t quality; /* enum pd_quality bits */
    double values[PD_MAX_CHANNELS];
};

/* Where a driver's poll delivers readings (one poll may yield zero, one or many). */
struct pd_sink {
    int (*push)(void *ctx, const struct pd_reading *reading);
    void *ctx;
};

/* One counter of an instrument link (requests, timeouts, garbled answers...), for the run file. */
struct pd_driver_stat {
    const char *name; /* static, a plain identifier: "timeouts", "exception_02" */
    uint64_t value;
    bool fault;       /* counts something that went wrong (requests and reopens do not) */
};
#define PD_DRIVER_STATS_MAX 32

struct pd_driver {
    const char *name;        /* as written in configs: "modbus" */
    const char *description;
    /* Keys of the instrument map this driver reads (NULL-terminated); with pd_instrument_common_keys
     * they are all the keys an instrument section may have. */
    const char *const *config_keys;
    /* Validate the instrument's config section and allocate state; no I/O. */
    int (*create)(const struct pd_cfg_node *instrument, void **state, struct pd_err *err);
    /* Optional (may be NULL): replace the configured transport before open, e.g. with the
     * address a simulator reported after it picked a free port ("tcp://127.0.0.1:40123"). */
    int (*set_transport)(void *state, const char *transport, struct pd_err *err);
    /* Connect and identify; fills what the device reports into *info. */
    int (*open)(void *state, struct pd_instrument_info *info, struct pd_err *err);
    /* The channels, fixed from create on. */
    size_t (*channels)(void *state, const struct pd_channel_info **out);
    int (*poll)(void *state, const struct pd_sink *sink, struct pd_err *err);
    /* Named commands and setpoints ("start", "speed", "width", ...) as the config maps them.
     * A name the instrument's config does not map returns PD_EUNSUPPORTED (callers use that to
     * skip optional setpoints). */
    int (*control)(void *state, const char *name, double value, struct pd_err *err);
    /* Description of the map used, stored with the data (e.g. the register map as YAML text). */
    const char *(*map_text)(void *state);
    /* Optional: the link's counters since create, across reopens, up to `max` (at most
     * PD_DRIVER_STATS_MAX) into `out`; returns how many. The caller logs them and stores them
     * with the run, so drivers do not log them themselves. */
    size_t (*stats)(void *state, struct pd_driver_stat *out, size_t max);
    void (*close)(void *state);
    void (*destroy)(void *state);
};

/* Keys every instrument section has whatever its driver (decoded by the acquisition module):
 * name, driver, model, serial, calibration, simulator, poll_rate_hz. */
extern const char *const pd_instrument_common_keys[];

/* For drivers' create: the keys of an instrument section a driver leaves to others — the common
 * keys, then `extra` (e.g. pd_transport_config_keys) — NULL-terminated in `out` (max entries). */
void pd_driver_other_keys(const char *const *extra, const char **out, size_t max);

/* For drivers' stats: copies up to `max` of a driver's `n` counters into `out`; returns how many. */
size_t pd_driver_stats_copy(const struct pd_driver_stat *all, size_t n, struct pd_driver_stat *out, size_t max);

/* For drivers' create: the instrument's `name` (a common key) copied into `out`, or a config error
 * naming the place when it is missing, empty or longer than PD_NAME_MAX - 1 bytes. */
int pd_driver_instrument_name(const struct pd_cfg_node *instrument, char out[PD_NAME_MAX], struct pd_err *err);

/* The registry: NULL when no driver has that name. */
const struct pd_driver *pd_driver_find(const char *name);
size_t pd_driver_count(void);
const struct pd_driver *pd_driver_at(size_t i);

#endif /* PD_DRIVER_H */
