/* canonical.c — the canonical JSON form that polydaq hashes and signs (docs/CERTIFICATES.md §7). */
#include <jansson.h>

#include "trust/trust.h"

char *pd_json_canonical(const json_t *doc, const char *const *without)
{
    json_t *copy = json_copy((json_t *)doc); /* shallow: the removed keys are top-level only */
    if (!copy)
        return NULL;
    for (size_t i = 0; without && without[i]; i++)
        json_object_del(copy, without[i]);
    /* 17 significant digits: every double reads back to itself, so load → dump is stable. Any
     * value, not only an object: recompute compares members one by one. */
    char *text = json_dumps(copy, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(17));
    json_decref(copy);
    return text;
}

