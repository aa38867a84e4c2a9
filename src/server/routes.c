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
#define REVIEWER ROLE_BIT(PD_ROLE_REVIEWER)     /* signs reviews with a reviewer's key */
#define AUTHORIZER ROLE_BIT(PD_ROLE_AUTHORIZER) /* signs authorizations with an authorizer's key */
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

    /* Run files (runs.c) and certificates (certs.c): staff upload, link and certify; reviewers
     * review and authorizers authorize with the key their login unlocked; members read their own. */
    {"GET", "/api/v1/runs", runs_list, ROLES_ALL, NULL},
    {"POST", "/api/v1/runs", runs_register, ROLES_STAFF, runs_register_body},
    {"PUT", "/api/v1/runs/{file}", runs_upload, ROLES_STAFF, srv_raw_body},
    {"GET", "/api/v1/runs/{id}", runs_get, ROLES_ALL, NULL},
    {"GET", "/api/v1/runs/{id}/file", runs_download, ROLES_ALL, NULL},
    {"GET", "/api/v1/requests/{id}/runs", runs_of_request, ROLES_ALL, NULL},
    {"POST", "/api/v1/requests/{id}/runs", runs_link, ROLES_STAFF, runs_link_body},
    {"GET", "/api/v1/specifications", specs_list, ROLES_STAFF, NULL},
    {"POST", "/api/v1/requests/{id}/certify", certs_certify, ROLES_STAFF, certs_certify_body},
    {"GET", "/api/v1/requests/{id}/certificates", certs_list, ROLES_ALL, NULL},
    {"GET", "/api/v1/certificates", certs_list, ROLES_ALL, NULL},
    {"GET", "/api/v1/certificates/{id}", certs_get, ROLES_ALL, NULL},
    {"GET", "/api/v1/certificates/{id}/pdf", certs_pdf, ROLES_ALL, NULL},
    {"GET", "/api/v1/certificates/{id}/json", certs_json, ROLES_ALL, NULL},
    {"POST", "/api/v1/certificates/{id}/review", certs_review, REVIEWER, NULL},
    {"POST", "/api/v1/certificates/{id}/authorize", certs_authorize, AUTHORIZER, NULL},
    {"POST", "/api/v1/certificates/{id}/revise", certs_revise, REVIEWERS, certs_reason_body},
    {"POST", "/api/v1/certificates/{id}/withdraw", certs_withdraw, AUTHORIZER, certs_reason_body},

    /* Public verification (public.c): anyone, no login; drafts and unknown numbers alike 404. */
    {"GET", "/v/{cert}", public_page, ROLES_ANONYMOUS, NULL},
    {"POST", "/v/{cert}/check", public_check, ROLES_ANONYMOUS, srv_raw_body},
    {"GET", "/api/v1/public/certificates/{cert}", public_status, ROLES_ANONYMOUS, NULL},
    {"POST", "/api/v1/public/certificates/{cert}/check", public_check, ROLES_ANONYMOUS, srv_raw_body},
    {"GET", "/keys/keyring.txt", public_keyring, ROLES_ANONYMOUS, NULL},
    {"GET", "/keys/revocations.json", public_revocations, ROLES_ANONYMOUS, NULL},
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
    {"GET", "/items/{id}", static_page, ROLES_ANONYMOUS, NULL},
    {"GET", "/complaints", static_page, ROLES_ANONYMOUS, NULL},
    {"GET", "/complaints/new", static_page, ROLES_ANONYMOUS, NULL},
    {"GET", "/complaints/{id}", static_page, ROLES_ANONYMOUS, NULL},
    {"GET", "/admin", static_page, ROLES_ANONYMOUS, NULL},
    {"GET", "/certificates", static_page, ROLES_ANONYMOUS, NULL},
    {"GET", "/certificates/{id}", static_page, ROLES_ANONYMOUS, NULL},
    {"GET", "/stations", static_page, ROLES_ANONYMOUS, NULL},
    {"GET", "/series/{id}", static_page, ROLES_ANONYMOUS, NULL},
};
const size_t srv_route_count = sizeof srv_routes / sizeof srv_routes[0];
