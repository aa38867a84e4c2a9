/* tmp_dir.c — the tests' temporary folders (tmp_dir.h). */
#include "common/tmp_dir.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int pd_test_tmp_make(char *dir, size_t size, const char *name)
{
    if (snprintf(dir, size, "/tmp/pd-%s-XXXXXX", name) >= (int)size || !mkdtemp(dir)) {
        if (size)
            dir[0] = '\0';
        return -1;
    }
    return 0;
}

int pd_test_tmp_remove(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) < 0)
        return -1;
    if (!S_ISDIR(sb.st_mode))
        return unlink(path);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char sub[1024];
        if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= (int)sizeof sub)
            rc = -1; /* deeper than any test makes it */
        else
            rc |= pd_test_tmp_remove(sub);
    }
    closedir(d);
    return rc | rmdir(path);
}
