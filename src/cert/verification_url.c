/* verification_url.c — the address of the lab's public verification page a certificate names
 * (BASE/v/CERT-…), from the base URL its registry records, so the QR code can lead there. */
#include <stdio.h>

#include "cert/cert_internal.h"
#include "registry/registry.h"

int cert_set_verification_url(struct pd_registry *reg, json_t *doc, const char *id, struct pd_err *err)
{
    char base[PD_VERIFY_URL_MAX + 1];
    int rc = pd_registry_verify_url(reg, base, sizeof base, err);
    if (rc < 0 || !base[0])
        return rc;
    char url[PD_VERIFY_URL_MAX + 64];
    snprintf(url, sizeof url, "%s/v/%s", base, id);
    bool ok = true;
    cert_jset(doc, "verification_url", cert_jstr(url), &ok);
    return ok ? 0 : pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
}
