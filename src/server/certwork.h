/*
 * certwork.h — private to src/server: the server's calls into the certificate module and the
 * registry, kept in certwork.c, a file of their own because cert.h and server.h both name a
 * PD_ROLE_REVIEWER (the approval's role and the login's). One mutex serializes them: run files are
 * read through forked reader processes (store), which a process should start from one thread at a
 * time, and the registry takes one writer anyway.
 */
#ifndef PD_SERVER_CERTWORK_H
#define PD_SERVER_CERTWORK_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"
#include "trust/trust.h"

/* Opens a run file with the store's hostile-file reader (a child process under limits) and reads
 * its run id and specimen count; PD_EDATA naming why when it is damaged or not a run file. */
int certwork_run_check(const char *path, char run_id[128], size_t *specimens, struct pd_err *err);

struct certwork_certify {
    const char *certs_dir;   /* DATA_DIR/certs */
    const char *const *runs; /* run file paths */
    size_t n_runs;
    const char *spec_path;
    const char *request_ref; /* "REQ-12": the customer request on the certificate */
    const char *customer;    /* the member company */
    const char *replaces;    /* a revision: the issued CERT-… it replaces (NULL otherwise) */
    const char *reason;      /* the revision's reason */
};
struct certwork_draft {
    char cert_id[96];
    long long number;
    char verdict[32];
    bool accredited;
    size_t specimens;
};
/* Certify: a draft in the registry (and its exports) from the runs by the spec. */
int certwork_certify(const struct certwork_certify *in, struct certwork_draft *out, struct pd_err *err);
/* Review (authorize false) or authorize with the person's key in memory; the authorizer's step
 * signs with the lab key DATA_DIR/certs/lab.key and issues. status: "reviewed" or "issued". */
int certwork_approve(const char *certs_dir, const char *cert_id, bool authorize, const struct pd_secret_key *person,
                     char status[16], struct pd_err *err);
int certwork_withdraw(const char *certs_dir, const char *cert_id, const struct pd_secret_key *person,
                      const char *reason, struct pd_err *err);
/* The registry's status of a certificate ("issued", "superseded"...). */
int certwork_status(const char *certs_dir, const char *cert_id, char status[16], struct pd_err *err);

/* A certificate's state as the registry has it ("" for what it does not hold or has not set). */
struct certwork_state {
    char status[16]; /* draft | reviewed | issued | withdrawn | superseded */
    char issued[40];
    char reason[512]; /* a withdrawal's, or why it was superseded */
};
/* The registry's state of each of `n` certificates (status "" for one it does not hold); nothing
 * to do (0, all "") when the folder has no registry. One registry opening for all. */
int certwork_states(const char *certs_dir, const char *const *cert_ids, size_t n, struct certwork_state *out,
                    struct pd_err *err);

/* At the server's stop: the font caches PDFs left behind (the certificate's and the label sheet's). */
void certwork_release(void);

#endif /* PD_SERVER_CERTWORK_H */
