/* fuzz_server_body.c — the lab server's body checker (src/server/body.c) on arbitrary bytes, with
 * each route's schema: it must refuse or accept without crashing, leaking or reading past the
 * input, and whatever it accepts must be a JSON object holding only the schema's fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t r = 0; r < srv_route_count; r++) {
        const struct srv_field *fields = srv_routes[r].body;
        if (!fields || fields == srv_raw_body) /* an upload: no JSON schema (fuzz_server_multipart.c) */
            continue;
        json_t *out = NULL;
        char msg[300];
        if (body_check((const char *)data, size, fields, &out, msg, sizeof msg)) {
            if (!json_is_object(out))
                abort();
            const char *key;
            json_t *value;
            json_object_foreach(out, key, value)
            {
                const struct srv_field *f = fields;
                while (f->name && strcmp(f->name, key) != 0)
                    f++;
                if (!f->name)
                    abort(); /* an unknown field got through */
            }
            json_decref(out);
        } else if (out || strlen(msg) == 0) {
            abort(); /* a refusal must say why and hand out nothing */
        }
    }
    return 0;
}
