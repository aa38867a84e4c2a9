/* fuzz_line_grammar.c — libFuzzer target: the configured line grammar. The input's first line is
 * compiled as a pattern, the rest matched against it; and the whole input is matched against the
 * patterns of the shipped durometer and melt flow indexer configs. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serial_line/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const shipped[] = {
    "H{scale:word} {hardness} T {dwell} C {contact} N {count}",
    "T {temperature} S {piston} C {cutoffs} E {test_time}",
    "DUR {model:word} SN {serial:word} FW {firmware:word}",
    "ERR {code}",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char why[200];
    struct sl_match m;
    static struct sl_pattern fixed[sizeof shipped / sizeof shipped[0]];
    static int compiled;
    if (!compiled) {
        for (size_t i = 0; i < sizeof shipped / sizeof shipped[0]; i++)
            if (sl_pattern_compile(shipped[i], &fixed[i], why, sizeof why) != 0)
                abort();
        compiled = 1;
    }
    for (size_t i = 0; i < sizeof shipped / sizeof shipped[0]; i++)
        (void)sl_pattern_match(&fixed[i], text, &m, why, sizeof why);
    char *nl = strchr(text, '\n');
    if (nl) {
        *nl = '\0';
        struct sl_pattern *p = malloc(sizeof *p);
        if (p && sl_pattern_compile(text, p, why, sizeof why) == 0)
            (void)sl_pattern_match(p, nl + 1, &m, why, sizeof why);
        free(p);
        char req[64];
        (void)sl_format_request(text, 1.5, req, sizeof req);
    }
    free(text);
    return 0;
}
