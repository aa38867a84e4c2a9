/* lab_config.h — the integration lab (tests/integration/data/fast-tensile.yaml) rewritten for a
 * test that puts its own device or proxy in front of the load frame: the simulator section goes,
 * and chosen lines are replaced; and `polydaq run` of it with its output kept in files. */
#ifndef PD_TEST_LAB_CONFIG_H
#define PD_TEST_LAB_CONFIG_H

#include <stddef.h>

/* A line of the lab that contains `match` is written as `replacement` instead (whole lines, each
 * ending in '\n'); the first edit that matches a line wins. */
struct pd_test_line_edit {
    const char *match;
    const char *replacement;
};

/* Writes the lab to path without its instrument's simulator section, with the edits applied.
 * 0, or -1 when the lab cannot be read or path cannot be written. */
int pd_test_write_lab(const char *path, const struct pd_test_line_edit *edits, size_t n_edits);

/* Where a test's `polydaq run` of a lab goes, all in one work folder: DIR/NAME.yaml (the lab),
 * DIR/NAME.out and DIR/NAME.err (its stdout and stderr), DIR/NAME-runs (the run files). */
struct pd_test_lab_run {
    char config[192], out[192], err[192], runs[192];
};
void pd_test_lab_run_paths(struct pd_test_lab_run *run, const char *dir, const char *name);

/* `polydaq run CONFIG -o RUNS`, stdout and stderr into OUT and ERR; its exit status. */
int pd_test_lab_run(const struct pd_test_lab_run *run);

#endif
