/* fuzz_server_multipart.c — the public check's form reader (public_multipart_file, src/server/
 * public.c) on arbitrary bytes: the input's first line is the Content-Type, the rest the body. It
 * must answer without crashing or reading past the body, and a file it finds must lie inside it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size < 200 ? size : 200);
    if (!nl)
        return 0;
    char type[201];
    size_t tn = (size_t)(nl - data);
    memcpy(type, data, tn);
    type[tn] = '\0';
    size_t len = size - tn - 1;
    char *body = malloc(len ? len : 1); /* exactly the body's bytes: the sanitizer sees any overread */
    if (!body)
        return 0;
    memcpy(body, nl + 1, len);
    const char *file = NULL;
    size_t file_len = 0;
    if (public_multipart_file(type, body, len, &file, &file_len) &&
        (file < body || file + file_len > body + len))
        abort();
    free(body);
    return 0;
}
