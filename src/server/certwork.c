/*
 * certwork.c — the server's calls into cert and registry (certwork.h): open a run file through
 * the hostile-file reader, certify runs into a draft, approve and withdraw with a key held in
 * memory, read a certificate's status. One at a time (certwork.h says why).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert.h"
#include "registry/registry.h"
#include "server/certwork.h"
#include "store/store.h"

static pthread_mutex_t work_lock = PTHREAD_MUTEX_INITIALIZER;

int certwork_run_check(const char *path, char run_id[128], size_t *specimens, struct pd_err *err)
{
    pthread_mutex_lock(&work_lock);
    struct pd_run *run = NULL;
    int rc = pd_run_open(path, &run, err);
    if (rc == 0) {
        const char *id = pd_run_attr(run, "run_id");
        pd_strlcpy(run_id, id ? id : "", 128);
        *specimens = pd_run_specimen_count(run);
        if (*specimens == 0)
            rc = pd_err_set(err, PD_EDATA, path, "the run file holds no specimen");
        /* Every channel of every specimen read once: damage inside the data (a flipped chunk, a
         * cut file) shows here, not when the certificate is drafted. */
        double *data = NULL;
        size_t cap = 0, n = 0;
        for (size_t s = 0; rc == 0 && s < *specimens; s++) {
            for (size_t i = 0; rc == 0 && i < pd_run_instrument_count(run); i++) {
                for (size_t c = 0; rc == 0 && c < pd_run_channel_count(run, i); c++)
                    rc = pd_run_read_channel_into(run, s, i, pd_run_channel(run, i, c)->name, &data, &cap, &n, err);
                /* the time axis and its uncertainty, quality and sequence columns too */
                int64_t *t = NULL, *u = NULL;
                uint32_t *q = NULL;
                uint64_t *seq = NULL;
                if (rc == 0)
                    rc = pd_run_read_time(run, s, i, &t, &n, err);
                if (rc == 0)
                    rc = pd_run_read_uncertainty(run, s, i, &u, &n, err);
                if (rc == 0)
                    rc = pd_run_read_quality(run, s, i, &q, &n, err);
                if (rc == 0)
                    rc = pd_run_read_sequence(run, s, i, &seq, &n, err);
                free(t);
                free(u);
                free(q);
                free(seq);
            }
        }
        free(data);
        pd_run_close(run);
    }
    pthread_mutex_unlock(&work_lock);
    return rc;
}

static int certify_locked(const struct certwork_certify *in, struct certwork_draft *out, struct pd_err *err)
{
    struct pd_spec *spec = calloc(1, sizeof *spec);
    if (!spec)
        return pd_err_set(err, PD_ENOMEM, NULL, "out of memory");
    int rc = pd_spec_load(in->spec_path, spec, err);
    if (rc == 0)
        rc = pd_mkdir_p(in->certs_dir, err);
    /* The stations whose seals are trusted: the registry's active station keys. */
    struct pd_public_key *stations = NULL;
    size_t n_stations = 0;
    if (rc == 0)
        rc = pd_registry_station_keys(in->certs_dir, &stations, &n_stations, err);
    struct pd_certify_options opt = {
        .out_dir = in->certs_dir,
        .request_id = in->request_ref,
        .customer = in->customer,
        .replaces = in->replaces,
        .reason = in->reason,
        .trusted_stations = stations,
        .n_trusted_stations = n_stations,
    };
    struct pd_certify_result res;
    if (rc == 0)
        rc = pd_certify_runs(in->runs, in->n_runs, spec, &opt, &res, err);
    free(stations);
    free(spec);
    if (rc < 0)
        return rc;
    pd_strlcpy(out->cert_id, res.cert_id, sizeof out->cert_id);
    const char *digits = strchr(res.cert_id, '-');
    out->number = digits ? atoll(digits + 1) : 0;
    pd_strlcpy(out->verdict, pd_verdict_name(res.verdict), sizeof out->verdict);
    out->accredited = res.accredited;
    out->specimens = res.n_specimens;
    return 0;
}

int certwork_certify(const struct certwork_certify *in, struct certwork_draft *out, struct pd_err *err)
{
    pthread_mutex_lock(&work_lock);
    int rc = certify_locked(in, out, err);
    pthread_mutex_unlock(&work_lock);
    return rc;
}

int certwork_approve(const char *certs_dir, const char *cert_id, bool authorize, const struct pd_secret_key *person,
                     char status[16], struct pd_err *err)
{
    char lab_key[4200];
    snprintf(lab_key, sizeof lab_key, "%s/lab.key", certs_dir);
    struct pd_approval a = {
        .dir = certs_dir,
        .cert_id = cert_id,
        .role = authorize ? PD_ROLE_AUTHORIZER : PD_ROLE_REVIEWER,
        .person_secret = person,
        .lab_key = authorize ? lab_key : NULL,
    };
    pthread_mutex_lock(&work_lock);
    int rc = pd_cert_approve(&a, status, 16, err);
    pthread_mutex_unlock(&work_lock);
    return rc;
}

int certwork_withdraw(const char *certs_dir, const char *cert_id, const struct pd_secret_key *person,
                      const char *reason, struct pd_err *err)
{
    pthread_mutex_lock(&work_lock);
    int rc = pd_cert_withdraw_with_key(certs_dir, cert_id, person, reason, err);
    pthread_mutex_unlock(&work_lock);
    return rc;
}

int certwork_status(const char *certs_dir, const char *cert_id, char status[16], struct pd_err *err)
{
    struct pd_registry reg;
    int rc = pd_registry_open(&reg, certs_dir, 0, err);
    if (rc < 0)
        return rc;
    struct pd_registry_cert c;
    memset(&c, 0, sizeof c);
    rc = pd_registry_cert_get(&reg, cert_id, &c, err);
    if (rc == 0)
        pd_strlcpy(status, c.status, 16);
    pd_registry_cert_free(&c);
    pd_registry_close(&reg);
    return rc;
}

int certwork_states(const char *certs_dir, const char *const *cert_ids, size_t n, struct certwork_state *out,
                    struct pd_err *err)
{
    memset(out, 0, n * sizeof *out);
    if (n == 0 || !pd_registry_exists(certs_dir))
        return 0;
    struct pd_registry reg;
    int rc = pd_registry_open(&reg, certs_dir, 0, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct pd_registry_cert c;
        memset(&c, 0, sizeof c);
        struct pd_err missing;
        pd_err_clear(&missing);
        int got = pd_registry_cert_get(&reg, cert_ids[i], &c, &missing);
        if (got == 0) {
            pd_strlcpy(out[i].status, c.status, sizeof out[i].status);
            pd_strlcpy(out[i].issued, c.issued, sizeof out[i].issued);
            pd_strlcpy(out[i].reason, c.reason, sizeof out[i].reason);
        } else if (got != PD_ESTATE) { /* PD_ESTATE: not in this registry, left "" */
            rc = pd_err_set(err, got, NULL, "%s", missing.msg);
        }
        pd_registry_cert_free(&c);
    }
    pd_registry_close(&reg);
    return rc;
}

void certwork_release(void)
{
    pd_cert_release_fonts();
}
