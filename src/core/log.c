/* log.c — one-line, thread-safe diagnostics on stderr with a global level filter. */
#include "core/core.h"

#include <pthread.h>
#include <stdio.h>

static _Atomic int log_level = PD_LOG_WARN;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void pd_log_set_level(enum pd_log_level level) { atomic_store(&log_level, (int)level); }
enum pd_log_level pd_log_get_level(void) { return (enum pd_log_level)atomic_load(&log_level); }

void pd_log(enum pd_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    if ((int)level > atomic_load(&log_level))
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One fputs under a lock so lines from several threads never interleave. */
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "polydaq: %s: %s\n", names[level], line);
    pthread_mutex_unlock(&log_lock);
}
