/* tmp_dir.h — a test program's own temporary folder under /tmp, made at its start and removed
 * with everything in it at its end, without a shell (a path is never a command). */
#ifndef PD_TEST_TMP_DIR_H
#define PD_TEST_TMP_DIR_H

#include <stddef.h>

/* Makes a fresh folder /tmp/pd-NAME-XXXXXX (mode 0700) and writes its path to `dir` (`size`
 * bytes, 64 are plenty for a short name): 0, or -1 with `dir` "" when it cannot. */
int pd_test_tmp_make(char *dir, size_t size, const char *name);

/* Removes `path` and, when it is a folder (not a link to one), everything in it: 0, or -1 when
 * something stayed. */
int pd_test_tmp_remove(const char *path);

#endif /* PD_TEST_TMP_DIR_H */
