/* mtsics_events_test.c — a balance's status changes in a run's event stream: the MT-SICS driver on
 * an instrument bus (the acquisition's poll thread) against a scripted balance on a pty that goes
 * stable → overload (S +) → underload (S -) → stable. Each change is one event: "error" for the
 * overload, another "error" for the underload (the same status class, a different answer), and
 * "cleared" when it weighs again; repeats of the same answer in a row add none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acq/acq.h"
#include "acq/acq_internal.h"
#include "common/pty_device.h"
#include "common/test_time.h"

struct balance_script {
    struct pd_test_pty_device pty;
    const char *answer_s;
};

static const char *answer(void *ctx, const char *req)
{
    struct balance_script *s = ctx;
    if (strcmp(req, "I4") == 0)
        return "I4 A \"B0815\"";
    if (strcmp(req, "I2") == 0)
        return "I2 A \"XS 205 DU 220.0000 g\"";
    if (strcmp(req, "S") == 0 || strcmp(req, "SI") == 0)
        return s->answer_s;
    return "ES";
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits until the counter has grown by `more` (a few polls in the new state); fails after a
 * generous limit (a hang, not a timing check). */
static void wait_for(_Atomic uint64_t *counter, uint64_t more)
{
    uint64_t from = atomic_load(counter);
    for (int i = 0; i < 4000 && atomic_load(counter) < from + more; i++)
        sleep_ms(5);
    assert_true(atomic_load(counter) >= from + more);
}

static void test_status_changes_are_events(void **state)
{
    (void)state;
    struct balance_script s = {.answer_s = "S S      12.3456 g"};
    assert_int_equal(pd_test_pty_device_start(&s.pty, answer, &s), 0);
    char text[1024];
    snprintf(text, sizeof text,
             "lab: {name: Test Lab, operator: tester}\n"
             "run: {method: iso527, specimens: 1}\n"
             "specimen: {width: 10, thickness: 4, gauge_length: 75}\n"
             "instruments:\n"
             "  - {name: balance1, driver: mtsics, transport: %s, response_timeout_ms: %d, poll_rate_hz: 100}\n",
             s.pty.path, pd_test_ms(300));
    struct pd_acq_config *cfg = NULL;
    struct pd_err err;
    if (pd_acq_config_load_string("lab.yaml", text, &cfg, &err) != 0)
        fail_msg("config: %s", err.msg);

    struct bus *b = calloc(1, sizeof *b);
    assert_non_null(b);
    b->cfg = &cfg->instruments[0];
    acq_bus_init_sync(b);
    if (acq_bus_open(b, cfg, NULL, 1024, &err) != 0)
        fail_msg("open: %s", err.msg);
    assert_int_equal(acq_bus_start(b, &err), 0);

    wait_for(&b->n_readings, 3);
    pd_test_pty_device_set(&s.pty, &s.answer_s, "S +");
    wait_for(&b->n_errors, 3);
    pd_test_pty_device_set(&s.pty, &s.answer_s, "S -");
    wait_for(&b->n_errors, 3);
    pd_test_pty_device_set(&s.pty, &s.answer_s, "S S       1.0000 g");
    wait_for(&b->n_readings, 3);

    struct acq_event ev[32];
    size_t n = pd_ring_pop(&b->events, ev, sizeof ev / sizeof ev[0]);
    acq_bus_close(b);
    free(b);
    pd_acq_config_free(cfg);
    pd_test_pty_device_stop(&s.pty);

    static const struct {
        const char *kind, *text;
    } want[] = {{"error", "overload"}, {"error", "underload"}, {"cleared", "balance1"}};
    if (n != sizeof want / sizeof want[0]) {
        for (size_t i = 0; i < n; i++)
            print_message("event %zu: %s %s\n", i, ev[i].kind, ev[i].text);
        fail_msg("%zu events, expected 3", n);
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(ev[i].kind, want[i].kind) != 0 || !strstr(ev[i].text, want[i].text))
            fail_msg("event %zu: %s '%s', expected %s about %s", i, ev[i].kind, ev[i].text, want[i].kind,
                     want[i].text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_changes_are_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
