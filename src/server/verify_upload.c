/* verify_upload.c — the certificate module's verification run for the server's public check
 * (public.c), one at a time (pd_cert_verify keeps its report and anchors in static storage). */
#include <pthread.h>

#include "cert/cert.h"
#include "server/verify_upload.h"

static pthread_mutex_t verify_lock = PTHREAD_MUTEX_INITIALIZER;

int verify_upload_file(const char *cert_path, const char *registry_dir, bool *ok,
                       void (*each)(const char *line, void *arg), void *arg, struct pd_err *err)
{
    static struct pd_verify_report report;
    const struct pd_verify_options opt = {.registry_dir = registry_dir};
    pthread_mutex_lock(&verify_lock);
    int rc = pd_cert_verify(cert_path, &opt, &report, err);
    if (rc == 0) {
        *ok = report.ok;
        for (size_t i = 0; i < report.n_lines; i++)
            each(report.lines[i], arg);
    }
    pthread_mutex_unlock(&verify_lock);
    return rc;
}
