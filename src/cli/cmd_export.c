/* cmd_export.c — `polydaq export`: a run's samples as CSV or JSON for people who don't use HDF5. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "store/store.h"

static const char export_usage[] =
    "usage: polydaq export RUN.h5 --format csv|json [--specimen N] [--instrument NAME] [-o FILE]\n"
    "       polydaq export RUN-001.h5 RUN-002.h5... --format csv [--instrument NAME] [-o FILE]\n"
    "\n"
    "Writes the samples of a run file (finished, crashed or still being written) to stdout or FILE.\n"
    "Several files of one recording run (method record), consecutive and in order, are joined into\n"
    "one CSV (one header; the sequence numbers run on across them).\n"
    "  -f, --format csv|json   csv: one instrument's samples, one row each, a header naming every\n"
    "                          column with its unit; json: everything (run attributes, every\n"
    "                          instrument's samples, events, overruns)\n"
    "  -s, --specimen N        only specimen N (1-based); default every specimen\n"
    "  -i, --instrument NAME   csv: which instrument (default the first); json: only that one\n"
    "  -o, --output FILE       write there instead of stdout\n"
    "Times are nanoseconds since 1970-01-01T00:00:00Z (UTC) plus the same as ISO 8601 text.\n";

/* The data of one (specimen, instrument): every column read at once. */
struct block {
    size_t n;
    int64_t *t, *unc;
    uint32_t *q;
    uint64_t *seq; /* NULL in a schema-1 file */
    double *v[PD_STORE_MAX_CHANNELS];
    size_t n_channels;
};

static void block_free(struct block *b)
{
    free(b->t);
    free(b->unc);
    free(b->q);
    free(b->seq);
    for (size_t c = 0; c < b->n_channels; c++)
        free(b->v[c]);
    memset(b, 0, sizeof *b);
}

static int block_read(struct pd_run *run, size_t s, size_t i, struct block *b, struct pd_err *err)
{
    memset(b, 0, sizeof *b);
    size_t n = 0, m;
    int rc = pd_run_read_time(run, s, i, &b->t, &n, err);
    if (rc == 0 && (rc = pd_run_read_uncertainty(run, s, i, &b->unc, &m, err)) == 0 && m < n)
        n = m;
    if (rc == 0 && (rc = pd_run_read_quality(run, s, i, &b->q, &m, err)) == 0 && m < n)
        n = m;
    if (rc == 0 && (rc = pd_run_read_sequence(run, s, i, &b->seq, &m, err)) == 0 && b->seq && m < n)
        n = m;
    for (size_t c = 0; rc == 0 && c < pd_run_channel_count(run, i); c++) {
        b->n_channels = c + 1;
        rc = pd_run_read_channel(run, s, i, pd_run_channel(run, i, c)->name, &b->v[c], &m, err);
        if (rc == 0 && m < n)
            n = m; /* a live file's columns may differ by the last append: keep whole rows */
    }
    b->n = n;
    if (rc < 0)
        block_free(b);
    return rc;
}

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void json_double(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fputs("null", f);
}

static int export_csv(FILE *f, struct pd_run *run, size_t s_from, size_t s_to, size_t instr, bool header,
                      struct pd_err *err)
{
    if (!header)
        goto rows;
    fputs("specimen,time_ns,time_utc,time_uncertainty_ns,quality,sequence", f);
    for (size_t c = 0; c < pd_run_channel_count(run, instr); c++) {
        const struct pd_store_channel *ch = pd_run_channel(run, instr, c);
        char name[PD_STORE_NAME_MAX + PD_STORE_UNIT_MAX + 4];
        snprintf(name, sizeof name, ch->unit[0] ? "%s [%s]" : "%s", ch->name, ch->unit);
        fputc(',', f);
        csv_field(f, name);
    }
    fputc('\n', f);
rows:
    for (size_t s = s_from; s < s_to; s++) {
        struct block b;
        int rc = block_read(run, s, instr, &b, err);
        if (rc < 0)
            return rc;
        for (size_t k = 0; k < b.n; k++) {
            char iso[40];
            pd_time_format_iso8601(b.t[k], iso, sizeof iso);
            fprintf(f, "%zu,%" PRId64 ",%s,%" PRId64 ",%" PRIu32 ",", s + 1, b.t[k], iso, b.unc[k], b.q[k]);
            if (b.seq)
                fprintf(f, "%" PRIu64, b.seq[k]);
            for (size_t c = 0; c < b.n_channels; c++) {
                if (isfinite(b.v[c][k]))
                    fprintf(f, ",%.17g", b.v[c][k]);
                else
                    fputs(",", f); /* empty: pandas reads NaN */
            }
            fputc('\n', f);
        }
        block_free(&b);
    }
    return 0;
}

static void json_events(FILE *f, struct pd_run *run, size_t specimen)
{
    fputs("[", f);
    for (size_t e = 0; e < pd_run_event_count(run, specimen); e++) {
        int64_t t;
        const char *kind, *text;
        if (pd_run_event(run, specimen, e, &t, &kind, &text) < 0)
            continue;
        char iso[40];
        pd_time_format_iso8601(t, iso, sizeof iso);
        fprintf(f, "%s{\"time_ns\": %" PRId64 ", \"time_utc\": \"%s\", \"kind\": ", e ? ", " : "", t, iso);
        json_string(f, kind);
        fputs(", \"text\": ", f);
        json_string(f, text);
        fputs("}", f);
    }
    fputs("]", f);
}

static int export_json(FILE *f, struct pd_run *run, size_t s_from, size_t s_to, size_t i_from, size_t i_to,
                       struct pd_err *err)
{
    static const char *const keys[] = {"run_id",           "method",           "material",     "lab_name",
                                       "lab_address",      "operator",         "start_time",   "end_time",
                                       "software",         "simulated",        "outcome",      "specimens_tested",
                                       "samples_acquired", "samples_written",  "samples_lost", "missed_deadlines",
                                       "clock_step_ns",    "flush_interval_s", "recovered"};
    fputs("{\n  \"run\": {", f);
    int first = 1;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const char *v = pd_run_attr(run, keys[k]);
        if (!v)
            continue;
        fprintf(f, "%s\"%s\": ", first ? "" : ", ", keys[k]);
        json_string(f, v);
        first = 0;
    }
    fprintf(f, "},\n  \"closed_cleanly\": %s,\n  \"events\": ", pd_run_closed_cleanly(run) ? "true" : "false");
    json_events(f, run, SIZE_MAX);
    fputs(",\n  \"overruns\": [", f);
    for (size_t o = 0; o < pd_run_overrun_count(run); o++) {
        struct pd_store_overrun ov;
        if (pd_run_overrun(run, o, &ov) < 0)
            continue;
        fprintf(f, "%s{\"instrument\": ", o ? ", " : "");
        json_string(f, ov.instrument < pd_run_instrument_count(run) ? pd_run_instrument_name(run, ov.instrument) : "?");
        fprintf(f,
                ", \"specimen\": %zu, \"first_seq\": %" PRIu64 ", \"last_seq\": %" PRIu64 ", \"count\": %" PRIu64
                ", \"t_first_ns\": %" PRId64 ", \"t_last_ns\": %" PRId64 "}",
                ov.specimen == SIZE_MAX ? 0 : ov.specimen + 1, ov.first_seq, ov.last_seq, ov.count, ov.t_first_utc_ns,
                ov.t_last_utc_ns);
    }
    fputs("],\n  \"specimens\": [", f);
    for (size_t s = s_from; s < s_to; s++) {
        const char *status = pd_run_specimen_attr(run, s, "status");
        fprintf(f, "%s\n    {\"specimen\": %zu, \"id\": ", s > s_from ? "," : "", s + 1);
        json_string(f, pd_run_specimen_id(run, s));
        fputs(", \"status\": ", f);
        json_string(f, status ? status : "");
        fputs(", \"events\": ", f);
        json_events(f, run, s);
        fputs(",\n     \"instruments\": [", f);
        for (size_t i = i_from; i < i_to; i++) {
            struct block b;
            int rc = block_read(run, s, i, &b, err);
            if (rc < 0)
                return rc;
            fprintf(f, "%s\n      {\"name\": ", i > i_from ? "," : "");
            json_string(f, pd_run_instrument_name(run, i));
            fprintf(f, ", \"samples\": %zu, \"units\": {\"time_ns\": \"ns\", \"time_uncertainty_ns\": \"ns\"", b.n);
            for (size_t c = 0; c < b.n_channels; c++) {
                fputs(", ", f);
                json_string(f, pd_run_channel(run, i, c)->name);
                fputs(": ", f);
                json_string(f, pd_run_channel(run, i, c)->unit);
            }
            fputs("},\n       \"time_ns\": [", f);
            for (size_t k = 0; k < b.n; k++)
                fprintf(f, "%s%" PRId64, k ? ", " : "", b.t[k]);
            fputs("],\n       \"time_uncertainty_ns\": [", f);
            for (size_t k = 0; k < b.n; k++)
                fprintf(f, "%s%" PRId64, k ? ", " : "", b.unc[k]);
            fputs("],\n       \"quality\": [", f);
            for (size_t k = 0; k < b.n; k++)
                fprintf(f, "%s%" PRIu32, k ? ", " : "", b.q[k]);
            fputs("],\n       \"sequence\": [", f);
            for (size_t k = 0; b.seq && k < b.n; k++)
                fprintf(f, "%s%" PRIu64, k ? ", " : "", b.seq[k]);
            fputs("],\n       \"channels\": {", f);
            for (size_t c = 0; c < b.n_channels; c++) {
                fputs(c ? ",\n         " : "\n         ", f);
                json_string(f, pd_run_channel(run, i, c)->name);
                fputs(": [", f);
                for (size_t k = 0; k < b.n; k++) {
                    if (k)
                        fputs(", ", f);
                    json_double(f, b.v[c][k]);
                }
                fputs("]", f);
            }
            fputs("}}", f);
            block_free(&b);
        }
        fputs("]}", f);
    }
    fputs("\n  ]\n}\n", f);
    return 0;
}

/* The files of one recording run as one CSV: each must be the next file of the same run (run_id,
 * recording_file) with the instrument's channels as in the first. One file is open at a time. */
static int export_join(int n, char **paths, const char *instrument, const char *output)
{
    struct pd_err err;
    char run_id[128] = "", first_channels[2048] = "";
    long prev_file = 0;
    FILE *f = stdout;
    if (output && !(f = fopen(output, "w"))) {
        pd_err_set_os(&err, PD_EIO, errno, output, "cannot create the export file");
        return cli_fail(&err);
    }
    int rc = 0, exit_code = PD_EXIT_OK;
    for (int k = 0; k < n && exit_code == PD_EXIT_OK; k++) {
        struct pd_run *run;
        if (pd_run_open(paths[k], &run, &err) < 0) {
            exit_code = cli_fail_input(&err);
            break;
        }
        const char *id = pd_run_attr(run, "run_id"), *method = pd_run_attr(run, "method");
        double file_no = 0;
        size_t instr = 0, n_instr = pd_run_instrument_count(run);
        while (instrument && instr < n_instr && strcmp(pd_run_instrument_name(run, instr), instrument) != 0)
            instr++;
        char channels[2048] = "";
        for (size_t c = 0; instr < n_instr && c < pd_run_channel_count(run, instr); c++) {
            const struct pd_store_channel *ch = pd_run_channel(run, instr, c);
            size_t used = strlen(channels);
            snprintf(channels + used, sizeof channels - used, "%s[%s],", ch->name, ch->unit);
        }
        if (!method || strcmp(method, "record") != 0 || !id || pd_run_attr_double(run, "recording_file", &file_no) < 0)
            exit_code = cli_usage_error("export", "%s is not a file of a recording run (method record): only those "
                                                  "are joined", paths[k]);
        else if (k > 0 && (strcmp(id, run_id) != 0 || (long)file_no != prev_file + 1))
            exit_code = cli_usage_error("export", "%s is not the file after %s of run %s (it is file %ld of run %s)",
                                        paths[k], paths[k - 1], run_id, (long)file_no, id);
        else if (instr == n_instr)
            exit_code = cli_usage_error("export", "%s has no instrument '%s'", paths[k], instrument);
        else if (k > 0 && strcmp(channels, first_channels) != 0)
            exit_code = cli_usage_error("export", "%s: instrument '%s' has other channels than in %s", paths[k],
                                        pd_run_instrument_name(run, instr), paths[0]);
        if (exit_code == PD_EXIT_OK) {
            if (k == 0) {
                pd_strlcpy(run_id, id, sizeof run_id);
                pd_strlcpy(first_channels, channels, sizeof first_channels);
            }
            prev_file = (long)file_no;
            rc = export_csv(f, run, 0, pd_run_specimen_count(run), instr, k == 0, &err);
            if (rc < 0)
                exit_code = cli_fail(&err);
        }
        pd_run_close(run);
    }
    if (exit_code == PD_EXIT_OK && (fflush(f) != 0 || ferror(f))) {
        pd_err_set_os(&err, PD_EIO, errno, output ? output : "stdout", "write failed");
        exit_code = cli_fail(&err);
    }
    if (f != stdout && fclose(f) != 0 && exit_code == PD_EXIT_OK) {
        pd_err_set_os(&err, PD_EIO, errno, output, "write failed");
        exit_code = cli_fail(&err);
    }
    if (exit_code != PD_EXIT_OK && output) /* nothing half-written */
        remove(output);
    return exit_code;
}

static int export_main(int argc, char **argv)
{
    static const struct option longopts[] = {{"format", required_argument, NULL, 'f'},
                                             {"specimen", required_argument, NULL, 's'},
                                             {"instrument", required_argument, NULL, 'i'},
                                             {"output", required_argument, NULL, 'o'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *format = NULL, *specimen = NULL, *instrument = NULL, *output = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "f:s:i:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': format = optarg; break;
        case 's': specimen = optarg; break;
        case 'i': instrument = optarg; break;
        case 'o': output = optarg; break;
        case 'h': fputs(export_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("export", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cli_usage_error("export", "missing RUN.h5");
    if (!format)
        return cli_usage_error("export", "missing --format csv|json");
    int csv = strcmp(format, "csv") == 0;
    if (!csv && strcmp(format, "json") != 0)
        return cli_usage_error("export", "unknown format '%s' (expected csv or json)", format);
    long spec = 0;
    if (specimen && (!pd_parse_long(specimen, &spec) || spec < 1))
        return cli_usage_error("export", "--specimen expects a specimen number from 1, not '%s'", specimen);
    if (optind != argc - 1) {
        if (!csv || specimen)
            return cli_usage_error("export", "several files are joined only as CSV without --specimen");
        return export_join(argc - optind, argv + optind, instrument, output);
    }

    const char *path = argv[optind];
    struct pd_err err;
    struct pd_run *run;
    if (pd_run_open(path, &run, &err) < 0)
        return cli_fail_input(&err);
    size_t n_spec = pd_run_specimen_count(run), s_from = 0, s_to = n_spec;
    if (spec) {
        if ((size_t)spec > n_spec) {
            pd_run_close(run);
            return cli_usage_error("export", "%s has %zu specimens, not %ld", path, n_spec, spec);
        }
        s_from = (size_t)spec - 1;
        s_to = (size_t)spec;
    }
    size_t i_from = 0, i_to = pd_run_instrument_count(run);
    if (instrument) {
        size_t i = 0;
        while (i < i_to && strcmp(pd_run_instrument_name(run, i), instrument) != 0)
            i++;
        if (i == i_to) {
            pd_run_close(run);
            return cli_usage_error("export", "%s has no instrument '%s'", path, instrument);
        }
        i_from = i;
        i_to = i + 1;
    }
    FILE *f = stdout;
    if (output && !(f = fopen(output, "w"))) {
        pd_err_set_os(&err, PD_EIO, errno, output, "cannot create the export file");
        pd_run_close(run);
        return cli_fail(&err);
    }
    int rc =
        csv ? export_csv(f, run, s_from, s_to, i_from, true, &err) : export_json(f, run, s_from, s_to, i_from, i_to, &err);
    pd_run_close(run);
    if (rc == 0 && (fflush(f) != 0 || ferror(f)))
        rc = pd_err_set_os(&err, PD_EIO, errno, output ? output : "stdout", "write failed");
    if (f != stdout && fclose(f) != 0 && rc == 0)
        rc = pd_err_set_os(&err, PD_EIO, errno, output, "write failed");
    if (rc < 0 && output) /* nothing half-written: a damaged file can fail the export midway */
        remove(output);
    if (rc < 0)
        return cli_fail(&err);
    return PD_EXIT_OK;
}

const struct cli_command cli_cmd_export = {
    .name = "export",
    .synopsis = "export RUN.h5 --format csv|json [--specimen N]",
    .summary = "write a run's samples as CSV or JSON",
    .main = export_main,
};
