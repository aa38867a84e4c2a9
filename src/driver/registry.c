/* registry.c — the one table of drivers. Adding a driver means one extern line and one entry. */
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
