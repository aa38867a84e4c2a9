/* lab_config.c — the integration lab rewritten for a test, and run (see lab_config.h). */
#include "common/lab_config.h"

#include "common/proc.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int pd_test_write_lab(const char *path, const struct pd_test_line_edit *edits, size_t n_edits)
{
    FILE *in = fopen(PD_SOURCE_DIR "/tests/integration/data/fast-tensile.yaml", "r");
    if (!in)
        return -1;
    FILE *out = fopen(path, "w");
    if (!out) {
        fclose(in);
        return -1;
    }
    char line[512];
    bool skipping = false;
    while (fgets(line, sizeof line, in)) {
        if (strncmp(line, "    simulator:", 14) == 0) { /* the section and its deeper lines */
            skipping = true;
            continue;
        }
        if (skipping && strncmp(line, "      ", 6) == 0)
            continue;
        skipping = false;
        const char *text = line;
        for (size_t i = 0; i < n_edits; i++)
            if (strstr(line, edits[i].match)) {
                text = edits[i].replacement;
                break;
            }
        fputs(text, out);
    }
    fclose(in);
    return fclose(out) == 0 ? 0 : -1;
}

void pd_test_lab_run_paths(struct pd_test_lab_run *run, const char *dir, const char *name)
{
    snprintf(run->config, sizeof run->config, "%s/%s.yaml", dir, name);
    snprintf(run->out, sizeof run->out, "%s/%s.out", dir, name);
    snprintf(run->err, sizeof run->err, "%s/%s.err", dir, name);
    snprintf(run->runs, sizeof run->runs, "%s/%s-runs", dir, name);
}

int pd_test_lab_run(const struct pd_test_lab_run *run)
{
    char *argv[] = {PD_CLI_PATH, "run", (char *)run->config, "-o", (char *)run->runs, NULL};
    return pd_test_wait_exit(pd_test_spawn(argv, run->out, run->err));
}
