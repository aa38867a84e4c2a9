/* cmd_validate.c — `polydaq validate`: runs every method over the built-in validation set and writes the report. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cert/cert.h"
#include "cli/cli.h"
#include "validate/validate.h"

static const char validate_usage[] =
    "usage: polydaq validate [-o DIR] [--data DIR]\n"
    "\n"
    "Software validation (ISO/IEC 17025 7.11.2): runs every evaluation method over the built-in validation\n"
    "set — the worked examples of the method reference, synthetic curves of the load-frame model with known\n"
    "truth (clean and noisy, 10 Hz to 1 kHz) and real instrument exports — and compares each computed value\n"
    "with its independently known expected value within the stated tolerance.\n"
    "\n"
    "  -o, --output DIR  write DIR/validation.json, DIR/validation.pdf and DIR/method-set.txt (the text of\n"
    "                    every built-in method definition whose SHA-256 the report names)\n"
    "      --data DIR    folder of the real exports (default: ../shared/data/tensile beside the source tree);\n"
    "                    when absent their cases are reported as skipped\n"
    "\n"
    "Without -o only the summary table is printed. Exit status: 0 every case passed, 1 a case failed,\n"
    "2 bad usage, 3 the report could not be written.\n";

static int validate_main(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"data", required_argument, NULL, 'd'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *out_dir = NULL, *data_dir = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out_dir = optarg; break;
        case 'd': data_dir = optarg; break;
        case 'h': fputs(validate_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("validate", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("validate", "unexpected argument '%s'", argv[optind]);
    if ((out_dir && !out_dir[0]) || (data_dir && !data_dir[0]))
        return cli_usage_error("validate", "empty folder name");

    struct pd_validation *v = malloc(sizeof *v);
    if (!v) {
        fputs("polydaq: out of memory\n", stderr);
        return PD_EXIT_RUNTIME;
    }
    struct pd_err err;
    pd_err_clear(&err);
    int status;
    if (pd_validation_init(v, data_dir, &err) < 0 || pd_validation_run(v, &err) < 0) {
        status = cli_fail(&err);
    } else {
        pd_validation_print(v, stdout);
        status = pd_validation_exit_status(v) == 0 ? PD_EXIT_OK : PD_EXIT_CHECK_FAILED;
        if (out_dir) {
            if (pd_validation_write(v, out_dir, &err) < 0) {
                fprintf(stderr, "polydaq: %s\n", err.msg);
                status = PD_EXIT_RUNTIME;
            } else {
                printf("report: %s/validation.json, %s/validation.pdf (method set: %s/method-set.txt)\n", out_dir,
                       out_dir, out_dir);
            }
            pd_cert_release_fonts();
        }
    }
    free(v);
    return status;
}

const struct cli_command cli_cmd_validate = {
    .name = "validate",
    .synopsis = "validate [-o DIR] [--data DIR]",
    .summary = "run every method over the validation set; report (JSON + PDF)",
    .main = validate_main,
};
