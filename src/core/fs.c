/* fs.c — small file-system helpers shared by the modules that write output files. */
#include "core/core.h"

#include <errno.h>
#include <sys/stat.h>

int pd_mkdir_p(const char *path, struct pd_err *err)
{
    char tmp[4096];
    if (!path || !*path)
        return pd_err_set(err, PD_EINVAL, NULL, "empty directory path");
    if (pd_strlcpy(tmp, path, sizeof tmp) < 0)
        return pd_err_set(err, PD_EINVAL, NULL, "directory path too long");
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0775) < 0 && errno != EEXIST)
            return pd_err_set_os(err, PD_EIO, errno, tmp, "cannot create directory");
        *p = '/';
    }
    if (mkdir(tmp, 0775) < 0 && errno != EEXIST)
        return pd_err_set_os(err, PD_EIO, errno, tmp, "cannot create directory");
    struct stat st;
    if (stat(tmp, &st) < 0 || !S_ISDIR(st.st_mode))
        return pd_err_set(err, PD_EIO, tmp, "exists and is not a directory");
    return PD_OK;
}
