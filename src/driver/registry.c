/* registry.c — the one table of drivers (adding a driver means one extern line and one entry), and
 * the helpers every driver shares (its common keys, copying its counters). */
#include "driver/driver.h"

#include <string.h>

extern const struct pd_driver pd_driver_modbus;
extern const struct pd_driver pd_driver_mtsics;
extern const struct pd_driver pd_driver_serial_line;

static const struct pd_driver *const drivers[] = {
    &pd_driver_modbus,
    &pd_driver_mtsics,
    &pd_driver_serial_line,
};

const char *const pd_instrument_common_keys[] = {
    "name", "driver", "model", "serial", "calibration", "simulator", "poll_rate_hz", NULL,
};

const struct pd_driver *pd_driver_find(const char *name)
{
    for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++)
        if (strcmp(drivers[i]->name, name) == 0)
            return drivers[i];
    return NULL;
}

size_t pd_driver_count(void) { return sizeof drivers / sizeof drivers[0]; }

const struct pd_driver *pd_driver_at(size_t i)
{
    return i < pd_driver_count() ? drivers[i] : NULL;
}

int pd_driver_instrument_name(const struct pd_cfg_node *instrument, char out[PD_NAME_MAX], struct pd_err *err)
{
    const struct pd_cfg_node *name_node = pd_cfg_map_get(instrument, "name");
    const char *name = name_node ? pd_cfg_scalar(name_node) : NULL;
    if (!name || !name[0])
        return pd_cfg_error(err, name_node ? name_node : instrument, "the instrument needs a name");
    if (strlen(name) >= PD_NAME_MAX)
        return pd_cfg_error(err, name_node, "name '%s' is too long (at most %d bytes)", name, PD_NAME_MAX - 1);
    memcpy(out, name, strlen(name) + 1);
    return PD_OK;
}

size_t pd_driver_stats_copy(const struct pd_driver_stat *all, size_t n, struct pd_driver_stat *out, size_t max)
{
    n = n < max ? n : max;
    memcpy(out, all, n * sizeof all[0]);
    return n;
}

void pd_driver_other_keys(const char *const *extra, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; pd_instrument_common_keys[i] && n + 1 < max; i++)
        out[n++] = pd_instrument_common_keys[i];
    for (size_t i = 0; extra && extra[i] && n + 1 < max; i++)
        out[n++] = extra[i];
    out[n] = NULL;
}
