/* cmd_import.c — `polydaq import`: exports of the lab's other testing machines into run files. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "import/import.h"

static const char import_usage[] =
    "usage: polydaq import FILE... --format testxpert|bluehill|csv [--map MAP.yaml] -o DIR\n"
    "                      [--width MM] [--thickness MM] [--gauge-length MM] [--grip-distance MM]\n"
    "                      [--date YYYY-MM-DD[THH:MM:SS]] [--run-id ID] [--deflate none|0..9]\n"
    "                      [--extension-column NAME]\n"
    "\n"
    "Turns exports of other testing machines into one polydaq run file (DIR/RUN_ID.h5, one specimen\n"
    "per FILE), which `polydaq certify` evaluates like an acquired run. Prints the file's path.\n"
    "  -f, --format F        testxpert: Zwick testXpert ASCII export (.TRA); bluehill: Instron Bluehill\n"
    "                        Specimen_RawData_N.csv (give all N of a series); csv: any delimited text\n"
    "                        described by --map (columns, units, separators, lines to skip)\n"
    "  -m, --map MAP.yaml    column map (csv) and what the export does not say: specimen dimensions, the\n"
    "                        source instrument's identity and calibration, operator, date\n"
    "  -o, --output DIR      where the run file goes (created if missing)\n"
    "  --width, --thickness, --gauge-length, --grip-distance MM\n"
    "                        dimensions the export's header lacks (the header wins when it has them)\n"
    "  --date D              test date when the export has none (UTC)\n"
    "  --run-id ID           the run's id and file name (default from the first file's name)\n"
    "  --deflate none|0..9   compression of the sample datasets (default 1)\n"
    "  --extension-column NAME  the export's column that becomes `extension` (default: testXpert\n"
    "                        'Standard travel'; Bluehill 'Tensile strain (Strain 1)', a strain in %\n"
    "                        stored as strain x gauge length); the default one is then kept as an extra\n"
    "Without the instrument's calibration in the map, certificates of the run are not accredited.\n"
    "Exit status: 0 written, 2 bad input (nothing written), 3 write failure.\n";

static int parse_mm(const char *opt, const char *s, double *out)
{
    if (!pd_parse_double(s, out) || !isfinite(*out) || *out <= 0)
        return cli_usage_error("import", "%s expects a positive length in mm, not '%s'", opt, s);
    return 0;
}

static int import_main(int argc, char **argv)
{
    enum { O_WIDTH = 1000, O_THICK, O_GAUGE, O_GRIP, O_DATE, O_RUNID, O_DEFLATE, O_EXTCOL };
    static const struct option longopts[] = {{"format", required_argument, NULL, 'f'},
                                             {"map", required_argument, NULL, 'm'},
                                             {"output", required_argument, NULL, 'o'},
                                             {"width", required_argument, NULL, O_WIDTH},
                                             {"thickness", required_argument, NULL, O_THICK},
                                             {"gauge-length", required_argument, NULL, O_GAUGE},
                                             {"grip-distance", required_argument, NULL, O_GRIP},
                                             {"date", required_argument, NULL, O_DATE},
                                             {"run-id", required_argument, NULL, O_RUNID},
                                             {"deflate", required_argument, NULL, O_DEFLATE},
                                             {"extension-column", required_argument, NULL, O_EXTCOL},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    struct pd_import_options opt;
    pd_import_options_init(&opt);
    const char *format = NULL;
    int c, rc = 0;
    optind = 1;
    opterr = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "f:m:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': format = optarg; break;
        case 'm': opt.map_path = optarg; break;
        case 'o': opt.out_dir = optarg; break;
        case O_WIDTH: rc = parse_mm("--width", optarg, &opt.dims.width_mm); break;
        case O_THICK: rc = parse_mm("--thickness", optarg, &opt.dims.thickness_mm); break;
        case O_GAUGE: rc = parse_mm("--gauge-length", optarg, &opt.dims.gauge_length_mm); break;
        case O_GRIP: rc = parse_mm("--grip-distance", optarg, &opt.dims.grip_distance_mm); break;
        case O_DATE: opt.test_date = optarg; break;
        case O_RUNID: opt.run_id = optarg; break;
        case O_EXTCOL: opt.extension_column = optarg; break;
        case O_DEFLATE: {
            long level;
            if (strcmp(optarg, "none") == 0)
                opt.deflate_level = -1;
            else if (pd_parse_long(optarg, &level) && level >= 0 && level <= 9)
                opt.deflate_level = (int)level;
            else
                rc = cli_usage_error("import", "--deflate expects none or 0..9, not '%s'", optarg);
            break;
        }
        case 'h': fputs(import_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("import", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (rc)
        return rc;
    if (optind >= argc)
        return cli_usage_error("import", "missing FILE");
    if (!format)
        return cli_usage_error("import", "missing --format testxpert|bluehill|csv");
    int f = pd_import_format_parse(format);
    if (f < 0)
        return cli_usage_error("import", "unknown format '%s' (expected testxpert, bluehill or csv)", format);
    opt.format = (enum pd_import_format)f;
    if (!opt.out_dir)
        return cli_usage_error("import", "missing -o DIR");

    struct pd_err err;
    pd_err_clear(&err);
    struct pd_import_result res;
    rc = pd_import_run((const char *const *)(argv + optind), (size_t)(argc - optind), &opt, &res, &err);
    if (rc < 0)
        return cli_fail(&err); /* bad input (EDATA, ECONFIG) 2; a failed write (EIO) 3 */
    printf("%s\n", res.path);
    fprintf(stderr, "polydaq import: %s: %zu specimen%s, %zu samples\n", res.run_id, res.n_specimens,
            res.n_specimens == 1 ? "" : "s", res.n_samples);
    return PD_EXIT_OK;
}

const struct cli_command cli_cmd_import = {
    .name = "import",
    .synopsis = "import FILE... --format testxpert|bluehill|csv [--map MAP.yaml] -o DIR",
    .summary = "turn other testing machines' exports into run files",
    .main = import_main,
};
