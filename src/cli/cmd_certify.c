/* cmd_certify.c — `polydaq certify`: results, decisions and the draft certificate for run files; --recompute checks one. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cert/cert.h"
#include "cli/cli.h"
#include "registry/registry.h"

static const char certify_usage[] =
    "usage: polydaq certify RUN.h5... --spec SPEC.yaml [-o DIR] [--request ID] [--customer NAME]\n"
    "                       [--method METHOD.yaml] [--revises CERT-ID --reason TEXT]\n"
    "                       [--station-key STATION.pub]...\n"
    "       polydaq certify --recompute CERT.json [--customer NAME] [--request ID]\n"
    "                       [--revises CERT-ID --reason TEXT] --data RUN.h5...\n"
    "\n"
    "Evaluates every tested specimen of the runs by the spec's method, computes series statistics and\n"
    "expanded uncertainties, decides every limit by the spec's decision rule and writes the DRAFT\n"
    "DIR/CERT-<number>.json and .pdf: the draft is recorded in DIR's registry (DIR/registry.sqlite,\n"
    "created when missing) under its next number, then exported as those files. The first line of\n"
    "output is the JSON path. A draft becomes a certificate with `polydaq approve` (reviewer, then\n"
    "authorizer). A folder of certificates from before the registry: `polydaq registry migrate` first.\n"
    "  -s, --spec SPEC.yaml    the specification (limits, decision rule) (required)\n"
    "  -o, --output DIR        the lab's certificate folder (default: the current directory)\n"
    "  -r, --request ID        the customer's request id\n"
    "  -c, --customer NAME     the customer\n"
    "  -m, --method FILE.yaml  a method definition (lab variant) instead of the spec's / built-in one\n"
    "      --revises CERT-ID   this certificate replaces CERT-ID, an issued certificate of DIR's\n"
    "                          registry (needs --reason); CERT-ID is superseded when this is issued\n"
    "      --station-key FILE  an acquisition station's public key whose seals are trusted (repeatable;\n"
    "                          besides the station keys registered in DIR's registry, for use without\n"
    "                          one). A certificate is accredited only when every run file has a seal\n"
    "                          (RUN.h5.seal) that verifies under a trusted key\n"
    "      --recompute CERT    regenerate CERT.json's content from the --data files with the spec and\n"
    "                          method it records and compare it exactly, listing every differing field\n"
    "                          by its JSON path; customer, request and revision as given to certify\n"
    "                          (they are not in the raw data)\n"
    "      --data RUN.h5...    (with --recompute) the raw files, in the certificate's order\n"
    "Exit status: 0 every limit passes (recompute: identical), 1 some limit fails or is conditional\n"
    "(recompute: differences), 2 bad input.\n";

/* Every line of a recompute as it is made: a changed raw file differs in every field of every
 * specimen, more than a report keeps. */
static void print_line(const char *line, void *arg)
{
    (void)arg;
    printf("%s\n", line);
}

static int certify_main_body(int argc, char **argv)
{
    enum { OPT_REVISES = 1000, OPT_REASON, OPT_RECOMPUTE, OPT_DATA, OPT_STATION_KEY };
    enum { MAX_STATION_KEYS = 32, MAX_TRUSTED = 256 };
    static struct pd_public_key stations[MAX_TRUSTED];
    size_t n_stations = 0;
    static const struct option longopts[] = {{"spec", required_argument, NULL, 's'},
                                             {"output", required_argument, NULL, 'o'},
                                             {"request", required_argument, NULL, 'r'},
                                             {"customer", required_argument, NULL, 'c'},
                                             {"method", required_argument, NULL, 'm'},
                                             {"revises", required_argument, NULL, OPT_REVISES},
                                             {"reason", required_argument, NULL, OPT_REASON},
                                             {"recompute", required_argument, NULL, OPT_RECOMPUTE},
                                             {"data", no_argument, NULL, OPT_DATA},
                                             {"station-key", required_argument, NULL, OPT_STATION_KEY},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *spec_path = NULL, *recompute = NULL;
    struct pd_certify_options opt = {.out_dir = "."};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "s:o:r:c:m:h", longopts, NULL)) != -1) {
        switch (c) {
        case 's': spec_path = optarg; break;
        case 'o': opt.out_dir = optarg; break;
        case 'r': opt.request_id = optarg; break;
        case 'c': opt.customer = optarg; break;
        case 'm': opt.method_path = optarg; break;
        case OPT_REVISES: opt.replaces = optarg; break;
        case OPT_REASON: opt.reason = optarg; break;
        case OPT_RECOMPUTE: recompute = optarg; break;
        case OPT_DATA: break; /* the files are the remaining operands */
        case OPT_STATION_KEY: {
            struct pd_err kerr;
            if (n_stations == MAX_STATION_KEYS)
                return cli_usage_error("certify", "at most %d --station-key", MAX_STATION_KEYS);
            if (pd_public_key_load(optarg, &stations[n_stations], &kerr) < 0)
                return cli_fail_input(&kerr);
            n_stations++;
            break;
        }
        case 'h': fputs(certify_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("certify", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    opt.trusted_stations = stations;
    opt.n_trusted_stations = n_stations;
    const char *const *files = (const char *const *)argv + optind;
    size_t n_files = (size_t)(argc - optind);
    struct pd_err err;
    pd_err_clear(&err);
    if (recompute) {
        if (n_files == 0)
            return cli_usage_error("certify", "--recompute needs --data RUN.h5...");
        if (opt.replaces && !opt.reason)
            return cli_usage_error("certify", "--revises needs --reason TEXT");
        static struct pd_verify_report r;
        struct pd_recompute_inputs in = {.customer = opt.customer, .request_id = opt.request_id,
                                         .replaces = opt.replaces, .reason = opt.reason, .each_line = print_line};
        if (pd_cert_recompute(recompute, files, n_files, &in, &r, &err) < 0)
            return cli_fail_input(&err);
        return r.ok ? PD_EXIT_OK : PD_EXIT_CHECK_FAILED;
    }
    if (n_files == 0)
        return cli_usage_error("certify", "missing RUN.h5");
    if (!spec_path)
        return cli_usage_error("certify", "missing --spec SPEC.yaml");
    if (opt.replaces && !opt.reason)
        return cli_usage_error("certify", "--revises needs --reason TEXT");
    for (size_t i = 0; i < n_files; i++) {
        if (access(files[i], R_OK) != 0) {
            pd_err_set_os(&err, PD_EIO, errno, files[i], "cannot read the run file");
            return cli_fail_input(&err);
        }
    }
    /* The raw files' SHA-256 is the longest single job of a certify: it starts before anything else. */
    if (pd_cert_hashing_start(files, n_files, &opt.hashing, &err) < 0)
        return cli_fail(&err);
    static struct pd_spec spec;
    if (pd_spec_load(spec_path, &spec, &err) < 0) {
        pd_cert_hashing_finish(opt.hashing, NULL, NULL);
        return cli_fail_input(&err);
    }
    if (pd_mkdir_p(opt.out_dir, &err) < 0) {
        pd_cert_hashing_finish(opt.hashing, NULL, NULL);
        return cli_fail(&err);
    }
    /* The stations whose seals are trusted: the active station keys of the folder's registry, and
     * any --station-key given. */
    struct pd_public_key *registered = NULL;
    size_t n_registered = 0;
    if (pd_registry_station_keys(opt.out_dir, &registered, &n_registered, &err) < 0) {
        pd_cert_hashing_finish(opt.hashing, NULL, NULL);
        return cli_fail_input(&err);
    }
    for (size_t i = 0; i < n_registered && n_stations < MAX_TRUSTED; i++)
        stations[n_stations++] = registered[i];
    free(registered);
    opt.n_trusted_stations = n_stations;
    struct pd_certify_result res;
    int rc = pd_certify_runs(files, n_files, &spec, &opt, &res, &err);
    if (rc < 0)
        return rc == PD_EDATA || rc == PD_EIO || rc == PD_ECONFIG || rc == PD_ESTATE ? cli_fail_input(&err)
                                                                                     : cli_fail(&err);
    printf("%s\n", res.json_path);
    if (res.pdf_path[0])
        printf("%s\n", res.pdf_path);
    fprintf(stderr, "polydaq: %s (draft): %zu specimens evaluated, %s%s\n", res.cert_id, res.n_specimens,
            res.verdict == PD_VERDICT_PASS ? "every limit passes" : pd_verdict_name(res.verdict),
            res.accredited ? "" : "; NOT ACCREDITED");
    if (!res.accredited)
        fprintf(stderr, "polydaq: %s not accredited: %s\n", res.cert_id, res.accreditation_reasons);
    return res.verdict == PD_VERDICT_PASS ? PD_EXIT_OK : PD_EXIT_CHECK_FAILED;
}

/* Everything certify writes is on disk when certify_main_body returns (the certificate, counter
 * and audit entry synced, the PDF renamed into place, every HDF5 file closed), so the process
 * leaves without tearing down what the kernel frees anyway: cairo's and fontconfig's caches,
 * HDF5's and libcrypto's exit handlers, ~0.5 ms of every certify's 1.3 ms exit. Sanitizer builds
 * release the font caches and exit normally, so that their leak check sees a clean process. */
#if defined(__SANITIZE_ADDRESS__)
#define CERTIFY_TEARDOWN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CERTIFY_TEARDOWN 1
#endif
#endif
static int certify_main(int argc, char **argv)
{
    int code = certify_main_body(argc, argv);
#ifdef CERTIFY_TEARDOWN
    pd_cert_release_fonts();
    return code;
#else
    if (fflush(NULL) != 0 && code == PD_EXIT_OK)
        code = PD_EXIT_RUNTIME; /* the paths on stdout did not get out */
    _exit(code);
#endif
}

const struct cli_command cli_cmd_certify = {
    .name = "certify",
    .synopsis = "certify RUN.h5... --spec SPEC.yaml [-o DIR] | --recompute CERT.json --data RUN.h5...",
    .summary = "compute results, decide limits, write a draft certificate (or recompute one)",
    .main = certify_main,
};
