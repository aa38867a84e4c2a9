/* cmd_inspect.c — `polydaq inspect`: a human summary of a run file (its text escaped for the terminal). */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "store/store.h"

static const char inspect_usage[] =
    "usage: polydaq inspect RUN.h5\n"
    "\n"
    "Prints the run's attributes, whether the file was closed cleanly, and per specimen and\n"
    "instrument the samples, time span, achieved rate, gaps (intervals longer than twice the poll\n"
    "period, and samples missing from the sequence) and the events; then the recorded overruns\n"
    "and, for a cleanly closed file, each instrument's counters.\n";

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
    if (optind != argc - 1)
        return cli_usage_error("inspect", optind >= argc ? "missing RUN.h5" : "exactly one RUN.h5 expected");
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
    .synopsis = "inspect RUN.h5",
    .summary = "summarise a run file: clean or not, specimens, rates, events",
    .main = inspect_main,
};
