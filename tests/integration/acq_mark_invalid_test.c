/* acq_mark_invalid_test.c — the station's call, pd_acq_mark_invalid, against a real run on the
 * simulated frame: a series of three runs in one thread while another marks specimen 2 invalid
 * before it has even started (the mark must survive the specimen's own close) and names a
 * specimen outside the series (ignored); the file then has specimen 2 "invalid: REASON" with
 * invalid_reason, invalid_by and an "invalid" event, the others tested, the run completed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <libgen.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acq/acq.h"
#include "common/proc.h"
#include "store/store.h"

struct run_job {
    struct pd_acq_config *cfg;
    struct pd_acq_options opt;
    struct pd_acq_result result;
    struct pd_err err;
    int rc;
};

static void *run_thread(void *arg)
{
    struct run_job *j = arg;
    j->rc = pd_acq_run(j->cfg, &j->opt, &j->result, &j->err);
    return NULL;
}

static void mark_during_run(void **state)
{
    (void)state;
    char *text = pd_test_slurp(PD_SOURCE_DIR "/tests/integration/data/fast-tensile.yaml");
    assert_non_null(text);
    char *n = strstr(text, "specimens: 5");
    assert_non_null(n);
    n[11] = '3';
    static struct run_job j;
    if (pd_acq_config_load_string("fast-tensile.yaml", text, &j.cfg, &j.err) < 0)
        fail_msg("%s", j.err.msg);

    char dir[] = "/tmp/pd-mark-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sim_path[4096];
    snprintf(sim_path, sizeof sim_path, "%s", PD_SIM_PATH);
    struct pd_acq_control control;
    assert_int_equal(pd_acq_control_init(&control, &j.err), 0);
    j.opt = (struct pd_acq_options){.out_dir = dir, .sim_dir = dirname(sim_path), .control = &control};

    /* queued before the series starts: held until specimen 2 is closed, then applied */
    assert_int_equal(pd_acq_mark_invalid(&control, 2, "slipped in the grips", "station tech", &j.err), 0);
    assert_int_equal(pd_acq_mark_invalid(&control, 7, "no such specimen", "station tech", &j.err), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_thread, &j), 0);
    pthread_join(t, NULL);
    if (j.rc < 0)
        fail_msg("run: %s", j.err.msg);
    assert_int_equal(j.result.outcome, PD_ACQ_COMPLETED);
    assert_int_equal(control.n_pending, 0);

    struct pd_run *run;
    struct pd_err err;
    if (pd_run_open(j.result.path, &run, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(pd_run_specimen_count(run), 3);
    assert_string_equal(pd_run_specimen_attr(run, 0, "status"), "tested");
    assert_string_equal(pd_run_specimen_attr(run, 1, "status"), "invalid: slipped in the grips");
    assert_string_equal(pd_run_specimen_attr(run, 2, "status"), "tested");
    assert_string_equal(pd_run_specimen_attr(run, 1, "invalid_reason"), "slipped in the grips");
    assert_string_equal(pd_run_specimen_attr(run, 1, "invalid_by"), "station tech");
    assert_null(pd_run_specimen_attr(run, 0, "invalid_reason"));
    bool found = false;
    for (size_t i = 0; i < pd_run_event_count(run, 1); i++) {
        int64_t t_ns;
        const char *kind, *evtext;
        assert_int_equal(pd_run_event(run, 1, i, &t_ns, &kind, &evtext), 0);
        if (strcmp(kind, "invalid") == 0) {
            assert_string_equal(evtext, "slipped in the grips (by station tech, station)");
            assert_true(t_ns > 0);
            found = true;
        }
    }
    assert_true(found);
    /* each specimen's dimensions from the config, said so */
    assert_string_equal(pd_run_specimen_attr(run, 2, "width_source"), "config");
    pd_run_close(run);

    pd_acq_control_close(&control);
    pd_acq_config_free(j.cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(mark_during_run)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
