/* fuzz_seal.c — libFuzzer target: the strict reader of run-file seals (RUN.h5.seal), which anyone
 * who can write the runs folder controls. Odd first byte: the input is the seal text. Even: the
 * rest of the input replaces a stretch of a well-formed seal (position from bytes 1–2), so the
 * search starts deep in the field checks instead of at JSON syntax. Never a crash, leak or hang;
 * a seal either verifies or says why not. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trust/trust.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Well-formed but for its signature (any 128 hex digits do: the checks before it are the target). */
static const char shape[] =
    "{\"closed\":\"2026-12-03T13:55:18.183681067Z\",\"file\":\"run-1.h5\",\"format\":\"polydaq-seal-1\","
    "\"instruments\":[{\"firmware\":\"1.4\",\"model\":\"LF-1\",\"name\":\"frame1\",\"serial\":\"12\"}],"
    "\"outcome\":\"completed\",\"run_id\":\"20261203T135512-03216\",\"sha256\":"
    "\"421d77cea92ba76578702eee6a26aa62d18c76e37d8296f2ff4459ea843c925f\",\"signature\":"
    "\"0ae4064eac459f2af5d40e10bf3dc6c55ce2b8ad47b022b8cc9167292a336962e1dcf3e7f32f1d5bfbf64ac7ba85fa71b71820e05dba6ec"
    "044f7dda6722fbb06\",\"simulated\":true,\"size\":297671,\"station\":{\"key_id\":\"13f37929276dfa48\",\"name\":"
    "\"bench 1\",\"public_key\":\"be53c9f08a540e9a630c2ae32d1e70d7a75724193cba7cb30f53c2fa2e303676\"}}\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pd_seal seal;
    struct pd_err err;
    enum pd_seal_verdict verdict;
    if (size == 0 || (data[0] & 1)) {
        (void)pd_seal_parse((const char *)data + (size ? 1 : 0), size ? size - 1 : 0, "fuzz", &seal, &verdict, &err);
        return 0;
    }
    if (size < 3)
        return 0;
    size_t n = sizeof shape - 1, at = ((size_t)data[1] << 8 | data[2]) % n, k = size - 3;
    size_t cut = k < n - at ? k : n - at; /* the stretch replaced: as long as the payload, within the shape */
    char *text = malloc(n - cut + k);
    if (!text)
        return 0;
    memcpy(text, shape, at);
    memcpy(text + at, data + 3, k);
    memcpy(text + at + k, shape + at + cut, n - at - cut);
    (void)pd_seal_parse(text, n - cut + k, "fuzz", &seal, &verdict, &err);
    free(text);
    return 0;
}
