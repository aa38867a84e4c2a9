/* methods.c — the table of test methods a run can execute. Adding a method means writing its
 * method_<name>.c and one line here. */
#include <string.h>

#include "acq/acq_internal.h"

extern const struct acq_method acq_method_iso527;
extern const struct acq_method acq_method_iso1133;
extern const struct acq_method acq_method_iso868;
extern const struct acq_method acq_method_record;

static const struct acq_method *const methods[] = {
    &acq_method_iso527,
    &acq_method_iso1133,
    &acq_method_iso868,
    &acq_method_record,
};

const struct acq_method *acq_method_find(const char *name)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(methods[i]->name, name) == 0)
            return methods[i];
    return NULL;
}

void acq_method_names(char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        if (i)
            strncat(buf, ", ", size - strlen(buf) - 1);
        strncat(buf, methods[i]->name, size - strlen(buf) - 1);
    }
}
