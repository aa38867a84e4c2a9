/*
 * verify_upload.h — private to src/server: the one call public.c makes into the certificate
 * module, kept apart because cert.h and server.h both name their roles PD_ROLE_* (a reviewer's
 * approval there, an account's role here) and cannot be included together.
 */
#ifndef PD_SERVER_VERIFY_UPLOAD_H
#define PD_SERVER_VERIFY_UPLOAD_H

#include <stdbool.h>

#include "core/core.h"

/* `polydaq verify CERT --registry REGISTRY_DIR` in-process: *ok when every check passed; `each`
 * hears every line of the report. Negative (err naming what) when the file is not a certificate
 * in the exact form polydaq writes, or the registry cannot be read. Serialized: the verifier keeps
 * its working state in static storage. */
int verify_upload_file(const char *cert_path, const char *registry_dir, bool *ok,
                       void (*each)(const char *line, void *arg), void *arg, struct pd_err *err);

#endif
