/* driver_test.c — the driver registry: every registered driver is complete and findable by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "driver/driver.h"

static void test_every_driver_is_complete_and_findable(void **state)
{
    (void)state;
    assert_true(pd_driver_count() >= 1);
    for (size_t i = 0; i < pd_driver_count(); i++) {
        const struct pd_driver *d = pd_driver_at(i);
        assert_non_null(d);
        assert_non_null(d->name);
        assert_ptr_equal(pd_driver_find(d->name), d);
        /* the callbacks the acquisition engine calls unconditionally */
        assert_non_null(d->create);
        assert_non_null(d->open);
        assert_non_null(d->channels);
        assert_non_null(d->poll);
        assert_non_null(d->control);
        assert_non_null(d->close);
        assert_non_null(d->destroy);
        assert_non_null(d->config_keys);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(pd_driver_at(j)->name, d->name);
    }
    assert_null(pd_driver_at(pd_driver_count()));
}

static void test_lookup_of_unknown_names(void **state)
{
    (void)state;
    assert_non_null(pd_driver_find("modbus"));
    assert_null(pd_driver_find("modbis"));
    assert_null(pd_driver_find(""));
}

static void test_common_keys_do_not_clash_with_driver_keys(void **state)
{
    (void)state;
    for (size_t i = 0; i < pd_driver_count(); i++) {
        const struct pd_driver *d = pd_driver_at(i);
        for (const char *const *k = d->config_keys; *k; k++)
            for (const char *const *c = pd_instrument_common_keys; *c; c++)
                if (strcmp(*k, *c) == 0)
                    fail_msg("driver %s claims the common key '%s'", d->name, *k);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_driver_is_complete_and_findable),
        cmocka_unit_test(test_lookup_of_unknown_names),
        cmocka_unit_test(test_common_keys_do_not_clash_with_driver_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
