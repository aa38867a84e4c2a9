/* fuzz_pdf_parse.c — libFuzzer target for the PDF parser that the PAdES signer runs on a rendered
 * certificate (src/cert/pdf_parse.c): any bytes give 0 with spans inside the input, or PD_EDATA. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cert/cert_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_dict(const struct cert_pdf_dict *d, size_t size)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->e[i].key.off + d->e[i].key.len > size || d->e[i].value.off + d->e[i].value.len > size)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cert_pdf_doc d;
    struct pd_err err;
    int rc = cert_pdf_parse(data, size, "fuzz.pdf", &d, &err);
    if (rc != 0 && rc != PD_EDATA)
        abort();
    if (rc == 0) {
        if (d.catalog.off >= size || d.page.off >= size || d.startxref >= size)
            abort();
        check_dict(&d.catalog.dict, size);
        check_dict(&d.page.dict, size);
    }
    return 0;
}
