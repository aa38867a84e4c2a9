/* method_common.c — what every method sequence needs: copying its attribute tables, telling why
 * a wait must end early (stop requested, instrument failed, write error, timeout), and closing a
 * specimen the same way in every series. */
#include <stdio.h>
#include <string.h>

#include "acq/acq_internal.h"

size_t acq_copy_attrs(const struct pd_store_attr *attrs, size_t n, struct pd_store_attr *out, size_t max)
{
    n = n < max ? n : max;
    memcpy(out, attrs, n * sizeof attrs[0]);
    return n;
}

const char *acq_series_trouble(struct run *run, struct bus *const *buses, size_t n, int64_t deadline, int *rc,
                               struct pd_err *err)
{
    if (run->opt->stop && *run->opt->stop)
        return "aborted";
    for (size_t i = 0; i < n; i++) {
        struct pd_err fe;
        if (acq_bus_failed(buses[i], &fe)) {
            *err = fe;
            *rc = fe.code ? fe.code : PD_EIO;
            return "instrument failure";
        }
    }
    int wrc = atomic_load(&run->writer_rc);
    if (wrc < 0) {
        *rc = pd_err_set(err, wrc, NULL, "%s", run->writer_err.msg);
        return "write error";
    }
    if (pd_clock_mono_ns() > deadline)
        return "timeout";
    return NULL;
}

bool acq_series_stopping(const struct run *run, struct pd_acq_result *result)
{
    if (!(run->opt->stop && *run->opt->stop))
        return false;
    result->interrupted = 1;
    return true;
}

void acq_specimen_close(struct run *run, struct bus *shown, size_t k, const char *outcome)
{
    acq_set_status(run, k, outcome);
    if (run->opt->progress == PD_ACQ_PROGRESS_LIVE)
        fputc('\n', stderr); /* the live line stays on screen as the specimen's summary */
    else
        acq_show_progress(run, shown, k + 1, true);
}

bool acq_series_continue(struct pd_acq_result *result, size_t k, const char *outcome)
{
    if (strcmp(outcome, "tested") == 0) {
        result->specimens_tested++;
        return true;
    }
    if (strcmp(outcome, "aborted") == 0) {
        result->interrupted = 1;
        return false;
    }
    pd_log(PD_LOG_WARN, "specimen %zu: %s; continuing with the next", k + 1, outcome);
    /* The specimens not tested, for the run's outcome (incomplete) and its reason. */
    size_t used = strlen(result->outcome_reason);
    if (used < sizeof result->outcome_reason)
        snprintf(result->outcome_reason + used, sizeof result->outcome_reason - used, "%sspecimen %zu: %s",
                 used ? ", " : "", k + 1, outcome);
    return true;
}
