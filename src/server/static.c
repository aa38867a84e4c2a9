/*
 * static.c — the web interface's files: the pages' one HTML shell, its ES modules and style
 * sheet, compiled into the program at build time (generated/pd_web_assets.h, made by CMake from
 * src/server/web/). Only names in that table exist: there is no file system behind these routes,
 * so no directory listing and no path that could climb out of a folder.
 */
#include <string.h>

#include "server/internal.h"

#include "pd_web_assets.h" /* pd_web_assets[]: {name, bytes, length}, from src/server/web/ */

/* The content type of a file by its extension; files of other kinds are not served. */
static const char *content_type_of(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
    };
    const char *dot = strrchr(name, '.');
    if (!dot)
        return NULL;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

static int serve_asset(struct srv_call *call, const char *name)
{
    const char *type = content_type_of(name);
    for (size_t i = 0; type && i < sizeof pd_web_assets / sizeof pd_web_assets[0]; i++) {
        if (strcmp(pd_web_assets[i].name, name) == 0) {
            call->raw = pd_web_assets[i].bytes;
            call->raw_len = pd_web_assets[i].length;
            call->content_type = type;
            call->status = 200;
            return 0;
        }
    }
    return call_error(call, 404, "not_found", "no such file");
}

/* GET /web/{file}: the router let through only one name segment (static_name_ok). */
int static_file(struct srv_call *call)
{
    const char *name = strrchr(call->path, '/');
    return serve_asset(call, name ? name + 1 : "");
}

/* GET of a page's address (/, /login, /requests/{id} …): the one HTML shell; its script reads the
 * address and asks the API for the page's data, so an id the caller may not see shows the
 * not-found page the API's 404 leads to. */
int static_page(struct srv_call *call)
{
    return serve_asset(call, "index.html");
}

bool static_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
            return false;
        if (c == '.' && i + 1 < n && s[i + 1] == '.')
            return false;
    }
    return true;
}
