/* cmd_demo.c — `polydaq demo`: the embedded simulated lab, run and certified. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "acq/acq.h"
#include "cert/cert.h"
#include "cli/cli.h"
#include "cli/demo_labdata.h"
#include "registry/registry.h"
#include "trust/trust.h"
#include "pd_demo_config.h"

static const char demo_usage[] =
    "usage: polydaq demo [-o DIR] [--lab-data LABDIR [--url BASE-URL]] [-q]\n"
    "\n"
    "Runs the embedded simulated lab (config/demo.yaml: one simulated load frame, five ISO 527\n"
    "tensile specimens), then certifies the run against the embedded spec (config/specs/pp-demo.yaml)\n"
    "as a draft in DIR's registry, has it reviewed and authorized by two registered demo persons (keys\n"
    "made in DIR/keys on first use with the lab's issuing key and a station key, all registered) and\n"
    "verifies the issued certificate against the lab key, the registry and the raw file. Prints where\n"
    "everything is. The run file is sealed by the demo station's key (DIR/keys/station-demo.key),\n"
    "which certify trusts as the registry lists it.\n"
    "Needs polydaq-sim beside polydaq or on PATH.\n"
    "With --lab-data LABDIR it also leaves a demo lab server's data: the run file in LABDIR/runs, the\n"
    "registry with the issued certificate in LABDIR/certs (its QR code leading to BASE-URL/v/CERT-…,\n"
    "default http://127.0.0.1:8080), the published keyring and revocation list in LABDIR/public and\n"
    "demo accounts (a member company's contact, a technician, a reviewer, an authorizer, an admin;\n"
    "passwords printed and in LABDIR/demo-passwords.txt, mode 0600) for `polydaq serve --data LABDIR`.\n"
    "The keys stay in DIR/keys: a lab's secret keys do not belong on its server.\n"
    "  -o, --output DIR      where files go (default: out/demo)\n"
    "  --lab-data LABDIR     the demo lab server's data folder (see above)\n"
    "  --url BASE-URL        the lab server's public address (default http://127.0.0.1:8080)\n";

static int demo_main_body(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"lab-data", required_argument, NULL, 'L'},
                                             {"url", required_argument, NULL, 'U'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *out_dir = "out/demo", *lab_data = NULL, *url = NULL;
    int quiet = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out_dir = optarg; break;
        case 'q': quiet = 1; break;
        case 'L': lab_data = optarg; break;
        case 'U': url = optarg; break;
        case 'h': fputs(demo_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("demo", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage_error("demo", "unexpected argument '%s'", argv[optind]);
    if (url && !lab_data)
        return cli_usage_error("demo", "--url is the lab server's address: with --lab-data LABDIR");
    struct pd_err err;
    if (!url)
        url = "http://127.0.0.1:8080";
    if (lab_data && pd_registry_verify_url_check(url, &err) < 0)
        return cli_fail_input(&err);
    /* Where the certificates (the registry and its exports) and the run file go: DIR, or the lab
     * server's layout LABDIR/certs and LABDIR/runs. */
    char cert_dir[4200], run_dir[4200];
    snprintf(cert_dir, sizeof cert_dir, "%s%s", lab_data ? lab_data : out_dir, lab_data ? "/certs" : "");
    snprintf(run_dir, sizeof run_dir, "%s%s", lab_data ? lab_data : out_dir, lab_data ? "/runs" : "");
    if (lab_data && (pd_mkdir_p(cert_dir, &err) < 0 || pd_mkdir_p(run_dir, &err) < 0))
        return cli_fail(&err);
    struct pd_acq_config *cfg;
    if (pd_acq_config_load_string("<embedded>/config/demo.yaml", (const char *)pd_demo_yaml, &cfg, &err) < 0)
        return cli_fail_input(&err);
    /* The demo station's key, made once in DIR/keys (never a key from the repository): it seals the
     * run file, and certify trusts it as a registry would. */
    char key_dir[4200], station_sk[4300], station_pk[4300];
    snprintf(key_dir, sizeof key_dir, "%s/keys", out_dir);
    snprintf(station_sk, sizeof station_sk, "%s/station-demo.key", key_dir);
    snprintf(station_pk, sizeof station_pk, "%s/station-demo.pub", key_dir);
    if (access(station_sk, F_OK) != 0 &&
        pd_key_generate(key_dir, "station-demo", station_sk, sizeof station_sk, station_pk, sizeof station_pk, &err) < 0) {
        pd_acq_config_free(cfg);
        return cli_fail(&err);
    }
    pd_strlcpy(cfg->station_key, station_sk, sizeof cfg->station_key);
    struct pd_acq_result res;
    int code = cli_run_series(cfg, run_dir, quiet, &res);
    pd_acq_config_free(cfg);
    if (code != PD_EXIT_OK)
        return code;
    /* The demo lab's self-made X.509 certificate beside its keys (DIR/keys), made once: the issued
     * PDF is signed with it (PAdES). */
    char x509_dir[4200], crt[4300];
    snprintf(x509_dir, sizeof x509_dir, "%s/keys", out_dir);
    snprintf(crt, sizeof crt, "%s/lab.crt", x509_dir);
    if (access(crt, R_OK) != 0 &&
        pd_cert_x509_keygen(x509_dir, "Joint Plastics Test Laboratory", crt, sizeof crt, &err) < 0)
        return cli_fail(&err);

    /* The spec goes next to the results, so what the certificate was checked against is on file. */
    char spec_path[4200];
    snprintf(spec_path, sizeof spec_path, "%s/pp-demo-spec.yaml", out_dir);
    FILE *f = fopen(spec_path, "w");
    if (!f || fputs((const char *)pd_demo_spec_yaml, f) == EOF || fclose(f) != 0) {
        pd_err_set_os(&err, PD_EIO, errno, spec_path, "cannot write the demo spec");
        return cli_fail(&err);
    }
    static struct pd_spec spec;
    if (pd_spec_load(spec_path, &spec, &err) < 0)
        return cli_fail_input(&err);

    /* The demo lab's own keys, made once (never keys from the repository): the lab's issuing key,
     * a reviewer's, an authorizer's and the station's, registered in the folder's registry. */
    char sk[4300], pk[4300], rk[4300], ak[4300];
    snprintf(sk, sizeof sk, "%s/lab.key", key_dir);
    snprintf(pk, sizeof pk, "%s/lab.pub", key_dir);
    snprintf(rk, sizeof rk, "%s/demo-reviewer.key", key_dir);
    snprintf(ak, sizeof ak, "%s/demo-authorizer.key", key_dir);
    static const struct {
        const char *stem, *name;
        enum pd_key_role role;
    } people[] = {{"lab", "demo lab", PD_KEY_ROLE_LAB},
                  {"demo-reviewer", "demo reviewer", PD_KEY_ROLE_REVIEWER},
                  {"demo-authorizer", "demo authorizer", PD_KEY_ROLE_AUTHORIZER},
                  {"station-demo", "demo station", PD_KEY_ROLE_STATION}};
    struct pd_registry reg;
    if (pd_registry_open(&reg, cert_dir, PD_REGISTRY_CREATE, &err) < 0)
        return cli_fail(&err);
    if (lab_data && pd_registry_set_verify_url(&reg, url, &err) < 0) {
        pd_registry_close(&reg);
        return cli_fail(&err);
    }
    for (size_t i = 0; i < sizeof people / sizeof people[0]; i++) {
        char secret[4300], pub[4300];
        snprintf(secret, sizeof secret, "%s/%s.key", key_dir, people[i].stem);
        snprintf(pub, sizeof pub, "%s/%s.pub", key_dir, people[i].stem);
        struct pd_public_key k;
        struct pd_registry_key found;
        struct pd_err e;
        if ((access(secret, R_OK) != 0 &&
             pd_key_generate(key_dir, people[i].stem, secret, sizeof secret, pub, sizeof pub, &err) < 0) ||
            pd_public_key_load(pub, &k, &err) < 0 ||
            (pd_registry_key_find(&reg, &k, &found, &e) < 0 &&
             pd_registry_key_add(&reg, people[i].role, people[i].name, &k, NULL, &err) < 0)) {
            pd_registry_close(&reg);
            return cli_fail(&err);
        }
    }
    pd_registry_close(&reg);

    /* certify trusts the stations the registry lists (the demo station, registered above) */
    struct pd_public_key *stations = NULL;
    size_t n_stations = 0;
    if (pd_registry_station_keys(cert_dir, &stations, &n_stations, &err) < 0)
        return cli_fail(&err);
    struct pd_certify_options copt = {.out_dir = cert_dir, .request_id = "DEMO", .customer = "demo customer",
                                      .trusted_stations = stations, .n_trusted_stations = n_stations};
    struct pd_certify_result cres;
    int crc = pd_certify_run(res.path, &spec, &copt, &cres, &err);
    free(stations);
    if (crc < 0)
        return cli_fail(&err);
    char status[32];
    struct pd_approval review = {.dir = cert_dir, .cert_id = cres.cert_id, .role = PD_ROLE_REVIEWER, .person_key = rk};
    struct pd_approval authorize = {.dir = cert_dir, .cert_id = cres.cert_id, .role = PD_ROLE_AUTHORIZER,
                                    .person_key = ak, .lab_key = sk};
    if (pd_cert_approve(&review, status, sizeof status, &err) < 0 ||
        pd_cert_approve(&authorize, status, sizeof status, &err) < 0)
        return cli_fail(&err);
    static struct pd_verify_report vr;
    const char *data[1] = {res.path};
    const struct pd_verify_options vopt = {.data_paths = data, .n_data = 1, .key_path = pk, .registry_dir = cert_dir};
    if (pd_cert_verify(cres.json_path, &vopt, &vr, &err) < 0)
        return cli_fail(&err);
    printf("HDF5 run file: %s\n", res.path);
    printf("seal:          %s\n", res.seal_path[0] ? res.seal_path : "(not sealed)");
    printf("certificate:   %s (%s, %s, signed)\n", cres.json_path, pd_verdict_name(cres.verdict),
           cres.accredited ? "accredited" : "NOT accredited");
    if (!cres.accredited)
        printf("  not accredited: %s\n", cres.accreditation_reasons);
    printf("PDF:           %s\n", cres.pdf_path);
    printf("public key:    %s\n", pk);
    for (size_t i = 0; i < vr.n_lines; i++)
        printf("  verify: %s\n", vr.lines[i]);
    printf("PDF signer:    %s (X.509, self-made for the demo)\n", crt);
    printf("verification:  %s\n", vr.ok ? "VERIFIED" : "FAILED");
    if (lab_data) { /* the lab server's data: published keys and accounts */
        char public_dir[4200];
        snprintf(public_dir, sizeof public_dir, "%s/public", lab_data);
        struct pd_registry pub;
        int prc = pd_registry_open(&pub, cert_dir, 0, &err);
        if (prc == 0) {
            prc = pd_registry_publish(&pub, public_dir, sk, &err);
            pd_registry_close(&pub);
        }
        if (prc < 0 || demo_labdata_accounts(lab_data, &err) < 0)
            return cli_fail(&err);
        printf("published:     %s/keyring.txt, %s/revocations.json\n", public_dir, public_dir);
        printf("lab server:    polydaq serve --data %s --listen 127.0.0.1:8080\n", lab_data);
        printf("verify page:   %s/v/%s\n", url, cres.cert_id);
    }
    return cres.verdict == PD_VERDICT_PASS && vr.ok ? PD_EXIT_OK : PD_EXIT_CHECK_FAILED;
}

/* PDFs leave cairo/fontconfig caches behind; released here so sanitizer builds exit cleanly. */
static int demo_main(int argc, char **argv)
{
    int code = demo_main_body(argc, argv);
    pd_cert_release_fonts();
    return code;
}

const struct cli_command cli_cmd_demo = {
    .name = "demo",
    .synopsis = "demo [-o DIR]",
    .summary = "run the embedded simulated lab, certify, sign and verify it",
    .main = demo_main,
};
