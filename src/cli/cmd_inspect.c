/* cmd_inspect.c — `polydaq inspect`: a human summary of a run file, or of the files of one
 * recording run taken together (span, samples, sequence continuity across the files, alarms); all
 * text from the files escaped for the terminal. */
#include <getopt.h>
#include <glob.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "store/store.h"

static const char inspect_usage[] =
    "usage: polydaq inspect RUN.h5\n"
    "       polydaq inspect RUN-001.h5 RUN-002.h5 ...   (or the prefix: polydaq inspect runs/run-ID)\n"
    "\n"
    "Prints the run's attributes, whether the file was closed cleanly, and per specimen and\n"
    "instrument the samples, time span, achieved rate, gaps (intervals longer than twice the poll\n"
    "period, and samples missing from the sequence) and the events; then the recorded overruns\n"
    "and, for a cleanly closed file, each instrument's counters.\n"
    "\n"
    "Several files of one recording run (method record; or the run's prefix, which names its files\n"
    "PREFIX-NNN.h5) are summarised together, in the order of their recording_file numbers: each\n"
    "file's span, state and samples; the total span; per instrument the samples and whether the\n"
    "sequence numbers run on across the files, with every gap (samples missing, and whether recorded\n"
    "overruns account for them) and every repeated sequence number named by file; files of the\n"
    "recording missing from the list; the alarms and rollover events. Files of different runs, a\n"
    "file given twice or a file that is not part of a recording exit 2.\n";

/* Text from the run file (or its name) made safe for the terminal: a file can carry escape
 * sequences, carriage returns or bidi overrides in any attribute. The result lives until eight
 * more calls (enough for one printf). */
static const char *safe(const char *s)
{
    static char *kept[8];
    static unsigned next;
    unsigned i = next++ % 8;
    free(kept[i]);
    kept[i] = s ? pd_text_escape_terminal(s, strlen(s)) : NULL;
    return kept[i] ? kept[i] : s ? "(out of memory)" : NULL;
}

static void print_attr(struct pd_run *run, const char *key)
{
    const char *v = pd_run_attr(run, key);
    if (v && v[0])
        printf("  %-18s %s\n", key, safe(v));
}

/* ---- several files of one recording ------------------------------------------------------*/

#define MULTI_MAX_PROBLEMS 20 /* gaps and repeats listed per instrument; the rest are counted */

struct rec_file {
    const char *path;
    long number; /* recording_file */
};

static int by_number(const void *a, const void *b)
{
    long x = ((const struct rec_file *)a)->number, y = ((const struct rec_file *)b)->number;
    return (x > y) - (x < y);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* What the walk over the files knows about one instrument. */
struct rec_instrument {
    char name[64];
    uint64_t samples, lost_recorded;
    bool any;
    uint64_t last_seq;
    long last_file;
    int64_t t_first, t_last;
    uint64_t missing, repeated;
    size_t problems; /* listed so far */
};

static bool is_event_of_interest(const char *kind)
{
    return strncmp(kind, "alarm", 5) == 0 || strncmp(kind, "rollover", 8) == 0 || strcmp(kind, "overrun") == 0 ||
           strcmp(kind, "recording_start") == 0 || strcmp(kind, "recording_end") == 0;
}

/* One file's part of the walk: its line, then its samples against what came before. */
static int walk_file(struct pd_run *run, const struct rec_file *f, struct rec_instrument *ins, size_t n_ins,
                     size_t *n_alarms, struct pd_err *err)
{
    const char *outcome = pd_run_attr(run, "outcome");
    const char *start = pd_run_attr(run, "file_start_time"), *end = pd_run_attr(run, "end_time");
    printf("file %ld  %s  %s, outcome %s, %s .. %s\n", f->number, safe(base_name(f->path)),
           pd_run_closed_cleanly(run) ? "closed cleanly" : "NOT closed cleanly", outcome ? safe(outcome) : "?",
           start ? safe(start) : "?", end ? safe(end) : "?");
    for (size_t i = 0; i < n_ins; i++) {
        struct rec_instrument *r = &ins[i];
        int64_t *t = NULL;
        uint64_t *seq = NULL;
        size_t n = 0, n_seq = 0;
        if (pd_run_read_time(run, 0, i, &t, &n, err) < 0 || pd_run_read_sequence(run, 0, i, &seq, &n_seq, err) < 0) {
            free(t);
            return PD_EIO;
        }
        printf("  %-10s %zu samples", safe(r->name), n);
        if (n) {
            char a[40], b[40];
            pd_time_format_iso8601(t[0], a, sizeof a);
            pd_time_format_iso8601(t[n - 1], b, sizeof b);
            printf(", %s .. %s", a, b);
            if (!r->any || t[0] < r->t_first)
                r->t_first = t[0];
            if (!r->any || t[n - 1] > r->t_last)
                r->t_last = t[n - 1];
        }
        if (n_seq)
            printf(", sequence %llu..%llu", (unsigned long long)seq[0], (unsigned long long)seq[n_seq - 1]);
        printf("\n");
        for (size_t k = 0; k < n_seq; k++) {
            uint64_t q = seq[k];
            if (r->any && q != r->last_seq + 1) {
                bool gap = q > r->last_seq + 1;
                if (gap)
                    r->missing += q - r->last_seq - 1;
                else
                    r->repeated++;
                if (r->problems++ < MULTI_MAX_PROBLEMS) {
                    char where[96];
                    if (r->last_file == f->number)
                        snprintf(where, sizeof where, "in file %ld", f->number);
                    else
                        snprintf(where, sizeof where, "between file %ld and file %ld", r->last_file, f->number);
                    if (gap)
                        printf("    gap: %s sequence %llu..%llu missing (%llu samples) %s\n", safe(r->name),
                               (unsigned long long)r->last_seq + 1, (unsigned long long)q - 1,
                               (unsigned long long)(q - r->last_seq - 1), where);
                    else
                        printf("    repeated: %s sequence %llu %s (after %llu)\n", safe(r->name), (unsigned long long)q,
                               where, (unsigned long long)r->last_seq);
                }
            }
            if (!r->any || q > r->last_seq || q == r->last_seq + 1)
                r->last_seq = q;
            r->any = true;
            r->last_file = f->number;
        }
        r->samples += n;
        free(t);
        free(seq);
    }
    for (size_t o = 0; o < pd_run_overrun_count(run); o++) {
        struct pd_store_overrun ov;
        if (pd_run_overrun(run, o, &ov) == 0 && ov.instrument < n_ins)
            ins[ov.instrument].lost_recorded += ov.count;
    }
    for (size_t e = 0; e < pd_run_event_count(run, 0); e++) {
        int64_t te;
        const char *kind, *text;
        if (pd_run_event(run, 0, e, &te, &kind, &text) == 0 && is_event_of_interest(kind)) {
            char iso[40];
            pd_time_format_iso8601(te, iso, sizeof iso);
            printf("  event %s %-18s %s\n", iso, safe(kind), safe(text));
            if (strcmp(kind, "alarm") == 0 || strcmp(kind, "alarm_cleared") == 0)
                (*n_alarms)++;
        }
    }
    return PD_OK;
}

/* `polydaq inspect FILE...` over the files of one recording run. One file is open at a time and
 * one file's time axis and sequence are in memory: constant memory over a year of files. */
static int inspect_recording(char **paths, size_t n_paths)
{
    struct rec_file *files = calloc(n_paths, sizeof *files);
    if (!files) {
        fprintf(stderr, "polydaq inspect: out of memory\n");
        return PD_EXIT_RUNTIME;
    }
    struct pd_err err;
    char run_id[128] = "", first[4096] = "";
    struct rec_instrument *ins = NULL;
    size_t n_ins = 0;
    int exit_code = PD_EXIT_OK;
    /* first pass: which recording, which file of it, the same instruments */
    for (size_t k = 0; k < n_paths && exit_code == PD_EXIT_OK; k++) {
        struct pd_run *run;
        if (pd_run_open(paths[k], &run, &err) < 0) {
            exit_code = cli_fail_input(&err);
            break;
        }
        const char *id = pd_run_attr(run, "run_id"), *method = pd_run_attr(run, "method");
        double number = 0;
        if (!method || strcmp(method, "record") != 0 || !id || pd_run_attr_double(run, "recording_file", &number) < 0)
            exit_code = cli_usage_error("inspect", "%s is not a file of a recording run (method record): inspect it "
                                                   "on its own", paths[k]);
        else if (k > 0 && strcmp(id, run_id) != 0)
            exit_code = cli_usage_error("inspect", "%s is a file of run %s, %s of run %s: one recording at a time",
                                        paths[k], id, first, run_id);
        else if (k == 0) {
            pd_strlcpy(run_id, id, sizeof run_id);
            pd_strlcpy(first, paths[k], sizeof first);
            n_ins = pd_run_instrument_count(run);
            ins = calloc(n_ins ? n_ins : 1, sizeof *ins);
            if (!ins) {
                fprintf(stderr, "polydaq inspect: out of memory\n");
                exit_code = PD_EXIT_RUNTIME;
            }
            for (size_t i = 0; ins && i < n_ins; i++)
                pd_strlcpy(ins[i].name, pd_run_instrument_name(run, i), sizeof ins[i].name);
        } else {
            bool same = pd_run_instrument_count(run) == n_ins && pd_run_specimen_count(run) == 1;
            for (size_t i = 0; same && i < n_ins; i++)
                same = strcmp(ins[i].name, pd_run_instrument_name(run, i)) == 0;
            if (!same)
                exit_code = cli_usage_error("inspect", "%s does not have the instruments of %s", paths[k], first);
        }
        files[k] = (struct rec_file){.path = paths[k], .number = (long)number};
        pd_run_close(run);
    }
    if (exit_code == PD_EXIT_OK) {
        qsort(files, n_paths, sizeof *files, by_number);
        for (size_t k = 1; k < n_paths && exit_code == PD_EXIT_OK; k++)
            if (files[k].number == files[k - 1].number)
                exit_code = cli_usage_error("inspect", "%s and %s are both file %ld of run %s", files[k - 1].path,
                                            files[k].path, files[k].number, run_id);
    }
    if (exit_code != PD_EXIT_OK) {
        free(ins);
        free(files);
        return exit_code;
    }
    printf("recording %s: %zu files (file %ld .. file %ld)\n", safe(run_id), n_paths, files[0].number,
           files[n_paths - 1].number);
    size_t n_alarms = 0;
    long missing_files = files[0].number - 1;
    const char *last_outcome_file = files[n_paths - 1].path;
    for (size_t k = 0; k < n_paths && exit_code == PD_EXIT_OK; k++) {
        if (k > 0 && files[k].number != files[k - 1].number + 1) {
            printf("missing: file %ld .. file %ld of the recording are not in the list\n", files[k - 1].number + 1,
                   files[k].number - 1);
            missing_files += files[k].number - files[k - 1].number - 1;
        }
        struct pd_run *run;
        if (pd_run_open(files[k].path, &run, &err) < 0) {
            exit_code = cli_fail_input(&err);
            break;
        }
        if (k == 0) {
            static const char *const keys[] = {"method", "material", "lab_name", "operator", "start_time",
                                               "rollover_period", "simulated"};
            for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
                print_attr(run, keys[i]);
        }
        if (walk_file(run, &files[k], ins, n_ins, &n_alarms, &err) < 0)
            exit_code = cli_fail_input(&err);
        if (k == n_paths - 1 && exit_code == PD_EXIT_OK) {
            printf("last file %s:\n", safe(base_name(last_outcome_file)));
            print_attr(run, "end_time");
            print_attr(run, "outcome");
            print_attr(run, "outcome_reason");
        }
        pd_run_close(run);
    }
    if (exit_code == PD_EXIT_OK) {
        int64_t t0 = 0, t1 = 0;
        bool any = false;
        for (size_t i = 0; i < n_ins; i++)
            if (ins[i].samples) {
                if (!any || ins[i].t_first < t0)
                    t0 = ins[i].t_first;
                if (!any || ins[i].t_last > t1)
                    t1 = ins[i].t_last;
                any = true;
            }
        if (any) {
            char a[40], b[40];
            pd_time_format_iso8601(t0, a, sizeof a);
            pd_time_format_iso8601(t1, b, sizeof b);
            printf("total span %s .. %s (%.3f s)\n", a, b, (double)(t1 - t0) / 1e9);
        }
        bool continuous = missing_files == 0;
        for (size_t i = 0; i < n_ins; i++) {
            struct rec_instrument *r = &ins[i];
            printf("instrument %s: %llu samples", safe(r->name), (unsigned long long)r->samples);
            if (r->missing == 0 && r->repeated == 0)
                printf(", sequence continuous across the files");
            else
                printf(", sequence NOT continuous: %llu missing in gaps (%llu of them recorded overruns), %llu "
                       "repeated",
                       (unsigned long long)r->missing, (unsigned long long)r->lost_recorded,
                       (unsigned long long)r->repeated);
            if (r->problems > MULTI_MAX_PROBLEMS)
                printf(" (%zu listed of %zu)", (size_t)MULTI_MAX_PROBLEMS, r->problems);
            printf("\n");
            continuous = continuous && r->missing == 0 && r->repeated == 0;
        }
        printf("alarms: %zu alarm/all-clear events\n", n_alarms);
        printf("continuity: %s\n", continuous ? "every sample present exactly once across the files"
                                              : "NOT continuous (see the gaps, repeats and missing files above)");
    }
    free(ins);
    free(files);
    return exit_code;
}

/* A single argument that is no file but the prefix of a recording's files (PREFIX-NNN.h5). */
static bool expand_prefix(const char *arg, glob_t *g)
{
    struct stat st;
    if (stat(arg, &st) == 0)
        return false;
    char pattern[4200];
    snprintf(pattern, sizeof pattern, "%s-[0-9][0-9][0-9]*.h5", arg);
    return glob(pattern, 0, NULL, g) == 0 && g->gl_pathc > 0;
}

static int inspect_main(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(inspect_usage, stdout);
            return PD_EXIT_OK;
        }
        return cli_usage_error("inspect", "unknown option '%s'", argv[optind - 1]);
    }
    if (optind >= argc)
        return cli_usage_error("inspect", "missing RUN.h5");
    if (argc - optind > 1)
        return inspect_recording(argv + optind, (size_t)(argc - optind));
    glob_t g;
    memset(&g, 0, sizeof g);
    if (expand_prefix(argv[optind], &g)) {
        int rc = inspect_recording(g.gl_pathv, g.gl_pathc);
        globfree(&g);
        return rc;
    }
    globfree(&g);
    const char *path = argv[optind];
    struct pd_err err;
    struct pd_run *run;
    if (pd_run_open(path, &run, &err) < 0)
        return cli_fail_input(&err);
    printf("%s\n", safe(path));
    printf("  %-18s %s\n", "closed",
           pd_run_closed_cleanly(run) ? "cleanly"
           : pd_run_attr(run, "recovered") ? "NOT cleanly (recovered after a crash: samples up to the last flush)"
                                          : "NOT cleanly (writer crashed or still running; see 'polydaq recover')");
    static const char *const keys[] = {"run_id", "method", "material", "lab_name", "operator", "start_time",
                                       "end_time", "software", "simulated", "specimens_tested", "samples_acquired",
                                       "samples_written", "samples_lost", "read_errors", "missed_deadlines",
                                       "clock_step_ns", "clock_step_max_ns", "flush_interval_s", "recovered",
                                       "outcome", "outcome_reason"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        print_attr(run, keys[i]);
    for (size_t s = 0; s < pd_run_specimen_count(run); s++) {
        const char *status = pd_run_specimen_attr(run, s, "status");
        printf("specimen %zu  %s  status: %s\n", s + 1, safe(pd_run_specimen_id(run, s)), status ? safe(status) : "?");
        for (size_t i = 0; i < pd_run_instrument_count(run); i++) {
            int64_t *t = NULL;
            size_t n = 0;
            if (pd_run_read_time(run, s, i, &t, &n, &err) < 0) {
                pd_run_close(run);
                return cli_fail(&err);
            }
            printf("  %-10s %zu samples", safe(pd_run_instrument_name(run, i)), n);
            double rate = 0;
            const char *rate_text = pd_run_instrument_attr(run, i, "poll_rate_hz");
            if (!rate_text || !pd_parse_double(rate_text, &rate) || rate <= 0)
                rate = 0;
            if (n >= 2) {
                double span = (double)(t[n - 1] - t[0]) / 1e9;
                int64_t gap = 0;
                size_t n_gaps = 0;
                int64_t period = rate > 0 ? (int64_t)(1e9 / rate) : 0;
                for (size_t k = 1; k < n; k++) {
                    int64_t d = t[k] - t[k - 1];
                    if (d > gap)
                        gap = d;
                    if (period && d > 2 * period)
                        n_gaps++;
                }
                printf(", %.3f s, %.1f Hz", span, span > 0 ? (double)(n - 1) / span : 0.0);
                if (rate > 0)
                    printf(" (polled at %.4g Hz)", rate);
                printf(", largest gap %.1f ms", (double)gap / 1e6);
                if (period)
                    printf(", %zu gap%s > 2 periods", n_gaps, n_gaps == 1 ? "" : "s");
            }
            uint64_t *seq = NULL;
            size_t n_seq = 0;
            if (pd_run_read_sequence(run, s, i, &seq, &n_seq, &err) == 0 && n_seq >= 2) {
                uint64_t missing = 0;
                for (size_t k = 1; k < n_seq; k++)
                    missing += seq[k] - seq[k - 1] - 1;
                if (missing)
                    printf(", %llu samples missing from the sequence", (unsigned long long)missing);
            }
            free(seq);
            printf("  [");
            for (size_t ch = 0; ch < pd_run_channel_count(run, i); ch++) {
                const struct pd_store_channel *info = pd_run_channel(run, i, ch);
                printf("%s%s%s%s%s", ch ? ", " : "", safe(info->name), info->unit[0] ? " (" : "", safe(info->unit),
                       info->unit[0] ? ")" : "");
            }
            printf("]\n");
            free(t);
        }
        for (size_t e = 0; e < pd_run_event_count(run, s); e++) {
            int64_t te;
            const char *kind, *text;
            if (pd_run_event(run, s, e, &te, &kind, &text) == 0) {
                char iso[40];
                pd_time_format_iso8601(te, iso, sizeof iso);
                printf("  event %s %-14s %s\n", iso, safe(kind), safe(text));
            }
        }
    }
    uint64_t lost_total = 0;
    for (size_t o = 0; o < pd_run_overrun_count(run); o++) {
        struct pd_store_overrun ov;
        if (pd_run_overrun(run, o, &ov) < 0)
            continue;
        char a[40], b[40];
        pd_time_format_iso8601(ov.t_first_utc_ns, a, sizeof a);
        pd_time_format_iso8601(ov.t_last_utc_ns, b, sizeof b);
        lost_total += ov.count;
        printf("overrun %s specimen %zu: %llu samples lost, sequence %llu..%llu, %s .. %s\n",
               ov.instrument < pd_run_instrument_count(run) ? safe(pd_run_instrument_name(run, ov.instrument)) : "?",
               ov.specimen == SIZE_MAX ? 0 : ov.specimen + 1, (unsigned long long)ov.count,
               (unsigned long long)ov.first_seq, (unsigned long long)ov.last_seq, a, b);
    }
    printf("overruns: %zu recorded, %llu samples lost\n", pd_run_overrun_count(run), (unsigned long long)lost_total);
    for (size_t i = 0; i < pd_run_instrument_count(run); i++) {
        static const char *const counters[] = {"poll_rate_hz", "samples_acquired", "samples_written", "samples_lost",
                                               "missed_deadlines", "read_errors", "reconnects"};
        if (!pd_run_summary_attr(run, i, "samples_acquired"))
            continue;
        printf("instrument %s:", safe(pd_run_instrument_name(run, i)));
        for (size_t k = 0; k < sizeof counters / sizeof counters[0]; k++) {
            const char *v = pd_run_summary_attr(run, i, counters[k]);
            if (v)
                printf(" %s %s", counters[k], safe(v));
        }
        printf("\n");
    }
    for (size_t e = 0; e < pd_run_event_count(run, SIZE_MAX); e++) {
        int64_t te;
        const char *kind, *text;
        if (pd_run_event(run, SIZE_MAX, e, &te, &kind, &text) == 0) {
            char iso[40];
            pd_time_format_iso8601(te, iso, sizeof iso);
            printf("run event %s %-14s %s\n", iso, safe(kind), safe(text));
        }
    }
    pd_run_close(run);
    return PD_EXIT_OK;
}

const struct cli_command cli_cmd_inspect = {
    .name = "inspect",
    .synopsis = "inspect RUN.h5 | RUN-001.h5 RUN-002.h5...",
    .summary = "summarise a run file, or a recording's files together: clean or not, samples, continuity, events",
    .main = inspect_main,
};
