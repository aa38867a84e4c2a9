/*
 * mhd.c — libmicrohttpd, loaded when a server starts (dlopen) instead of linked. Debian's library
 * brings GnuTLS and eight more shared libraries with it; linked, every polydaq process (certify,
 * verify, run...) would map and relocate them at start-up, although only `serve` needs them.
 */
#include <dlfcn.h>
#include <pthread.h>

#include "server/internal.h"

struct mhd_api mhd;

static void *handle;
static char load_error[300];
static pthread_once_t once = PTHREAD_ONCE_INIT;

#define LOAD(field, symbol)                                                                            \
    do {                                                                                               \
        *(void **)&mhd.field = dlsym(handle, symbol);                                                  \
        if (!mhd.field) {                                                                              \
            snprintf(load_error, sizeof load_error, "libmicrohttpd lacks %s (too old?)", symbol);      \
            return;                                                                                    \
        }                                                                                              \
    } while (0)

static void load(void)
{
    /* The ABI's soname (libmicrohttpd12 in Debian 12): the interface this file was written for. */
    handle = dlopen("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        snprintf(load_error, sizeof load_error, "cannot load libmicrohttpd (Debian package libmicrohttpd12): %s",
                 dlerror());
        return;
    }
    LOAD(start_daemon, "MHD_start_daemon");
    LOAD(stop_daemon, "MHD_stop_daemon");
    LOAD(get_daemon_info, "MHD_get_daemon_info");
    LOAD(get_connection_info, "MHD_get_connection_info");
    LOAD(lookup_connection_value, "MHD_lookup_connection_value");
    LOAD(create_response_from_buffer, "MHD_create_response_from_buffer");
    LOAD(add_response_header, "MHD_add_response_header");
    LOAD(queue_response, "MHD_queue_response");
    LOAD(destroy_response, "MHD_destroy_response");
    LOAD(create_response_from_callback, "MHD_create_response_from_callback");
    LOAD(suspend_connection, "MHD_suspend_connection");
    LOAD(resume_connection, "MHD_resume_connection");
    mhd.loaded = true;
}

int mhd_load(struct pd_err *err)
{
    pthread_once(&once, load);
    if (!mhd.loaded)
        return pd_err_set(err, PD_EUNSUPPORTED, NULL, "%s", load_error);
    return 0;
}
