/* fuzz_mtsics.c — libFuzzer target: any bytes as one MT-SICS response line. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtsics/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = malloc(size + 1);
    if (!line)
        return 0;
    memcpy(line, data, size);
    line[size] = '\0'; /* the transport hands lines over NUL-terminated (NUL bytes refused) */
    struct mtsics_reply r;
    char why[128];
    if (mtsics_parse(line, &r, why, sizeof why) == 0) {
        double g;
        if (r.has_weight)
            (void)mtsics_unit_to_grams(r.unit, &g);
        if (mtsics_weight_grams(&r, &g) && !isfinite(g)) /* a converted weight is a finite number */
            abort();
        if (strlen(r.cmd) >= MTSICS_CMD_MAX || strlen(r.unit) >= MTSICS_UNIT_MAX || strlen(r.text) >= MTSICS_TEXT_MAX)
            abort();
    }
    free(line);
    return 0;
}
