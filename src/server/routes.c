/*
 * routes.c — the one table of the server's routes: method, path, handler, the roles allowed and
 * the body's schema. Who may see which objects is not decided here but by the scope (scope.c);
 * docs/SERVER.md shows the resulting access matrix. New resources (items, runs, certificates,
 * complaints, the public verification page) add their rows here.
 */
#include "server/internal.h"

#define REVIEWERS (ROLE_BIT(PD_ROLE_REVIEWER) | ROLE_BIT(PD_ROLE_AUTHORIZER) | ROLE_BIT(PD_ROLE_ADMIN))
#define ADMIN ROLE_BIT(PD_ROLE_ADMIN)
#define MEMBER ROLE_BIT(PD_ROLE_MEMBER)
#define TECHNICIAN ROLE_BIT(PD_ROLE_TECHNICIAN) /* runs the machine: starts and drives a series */

const struct srv_route srv_routes[] = {
    {"POST", "/api/v1/session", auth_login, ROLES_ANONYMOUS, auth_login_body},
    {"DELETE", "/api/v1/session", auth_logout, ROLES_ALL, NULL},
    {"GET", "/api/v1/me", auth_me, ROLES_ALL, NULL},

    {"GET", "/api/v1/members", members_list, ROLES_ALL, NULL},
    {"POST", "/api/v1/members", members_create, ADMIN, members_create_body},
    {"GET", "/api/v1/members/{id}", members_get, ROLES_ALL, NULL},

    {"GET", "/api/v1/users", users_list, ADMIN, NULL},
    {"POST", "/api/v1/users", users_create, ADMIN, users_create_body},
    {"POST", "/api/v1/users/{id}/disable", users_disable, ADMIN, NULL},
    {"POST", "/api/v1/users/{id}/password", users_password, ADMIN, users_password_body},

    {"GET", "/api/v1/requests", requests_list, ROLES_ALL, NULL},
    {"POST", "/api/v1/requests", requests_create, MEMBER, requests_create_body},
    {"GET", "/api/v1/requests/{id}", requests_get, ROLES_ALL, NULL},
    {"POST", "/api/v1/requests/{id}/accept", requests_accept, REVIEWERS, requests_accept_body},
    {"POST", "/api/v1/requests/{id}/reject", requests_reject, REVIEWERS, requests_reject_body},

    {"GET", "/api/v1/requests/{id}/items", items_list, ROLES_ALL, NULL},
    {"POST", "/api/v1/requests/{id}/items", items_receive, ROLES_STAFF, items_receive_body},
    {"GET", "/api/v1/requests/{id}/labels.pdf", labels_pdf, ROLES_ALL, NULL},
    {"GET", "/api/v1/items/{id}", items_get, ROLES_ALL, NULL},

    {"GET", "/api/v1/complaints", complaints_list, ROLES_ALL, NULL},
    {"POST", "/api/v1/complaints", complaints_create, MEMBER, complaints_create_body},
    {"GET", "/api/v1/complaints/{id}", complaints_get, ROLES_ALL, NULL},
    {"POST", "/api/v1/complaints/{id}/acknowledge", complaints_acknowledge, ROLES_STAFF, complaints_note_body},
    {"POST", "/api/v1/complaints/{id}/investigation", complaints_investigate, ROLES_STAFF,
     complaints_investigation_body},
    {"POST", "/api/v1/complaints/{id}/close", complaints_close, REVIEWERS, complaints_close_body},

    /* The test station (stations.c, series.c, sse.c): staff watch, technicians drive. */
    {"GET", "/api/v1/stations", stations_list, ROLES_STAFF, NULL},
    {"GET", "/api/v1/series", series_list, ROLES_STAFF, NULL},
    {"POST", "/api/v1/series", series_create, TECHNICIAN, series_create_body},
    {"GET", "/api/v1/series/{id}", series_get, ROLES_STAFF, NULL},
    {"GET", "/api/v1/series/{id}/events", series_events, ROLES_STAFF, NULL},
    {"POST", "/api/v1/series/{id}/dims", series_command, TECHNICIAN, series_dims_body},
    {"POST", "/api/v1/series/{id}/caliper", series_command, TECHNICIAN, series_caliper_body},
    {"POST", "/api/v1/series/{id}/start", series_command, TECHNICIAN, NULL},
    {"POST", "/api/v1/series/{id}/stop", series_command, TECHNICIAN, NULL},
    {"POST", "/api/v1/series/{id}/abort", series_command, TECHNICIAN, NULL},
    {"POST", "/api/v1/series/{id}/return", series_command, TECHNICIAN, NULL},
    {"POST", "/api/v1/series/{id}/invalid", series_command, TECHNICIAN, series_invalid_body},
    {"POST", "/api/v1/series/{id}/note", series_command, TECHNICIAN, series_note_body},

    /* The web interface (static.c): its files, and the pages' addresses, which all get the one
     * HTML shell (open without a session: the page asks the API, which decides). */
    {"GET", "/web/{file}", static_file, ROLES_ANONYMOUS, NULL},
    {"GET", "/", static_page, ROLES_ANONYMOUS, NULL},
    {"GET", "/login", static_page, ROLES_ANONYMOUS, NULL},
    {"GET", "/requests", static_page, ROLES_ANONYMOUS, NULL},
    {"GET", "/requests/new", static_page, ROLES_ANONYMOUS, NULL},
    {"GET", "/requests/{id}", static_page, ROLES_ANONYMOUS, NULL},
    {"GET", "/admin", static_page, ROLES_ANONYMOUS, NULL},
    {"GET", "/stations", static_page, ROLES_ANONYMOUS, NULL},
    {"GET", "/series/{id}", static_page, ROLES_ANONYMOUS, NULL},
};
const size_t srv_route_count = sizeof srv_routes / sizeof srv_routes[0];
