/* import.c — benchmark: `polydaq import` of a 1-million-line CSV (time, force, extension,
 * crosshead) into a run file, against pandas' read_csv (C engine) of the same file, both as whole
 * processes; afterwards the run file's values are compared bit for bit with pandas' round-trip parse. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

#include "proc_time.h"

static uint64_t rng = 88172645463325252ull;
static double gauss(void)
{
    double u[2];
    for (int i = 0; i < 2; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        u[i] = ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2.0 * log(u[0])) * cos(2.0 * M_PI * u[1]);
}

/* A tensile-like curve at 1 kHz: what a machine export holds, written with the digits exports use. */
static int write_csv(const char *path, long rows)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs("time,force,extension,crosshead\n", f);
    for (long i = 0; i < rows; i++) {
        double t = (double)i * 0.001, x = t * 0.0166;
        double force = 1500.0 * tanh(3.0 * x) + 0.2 * gauss();
        fprintf(f, "%.3f,%.4f,%.6f,%.5f\n", t, force, 0.3 * x + 2e-5 * gauss(), x);
    }
    return fclose(f) == 0 ? 0 : -1;
}

static const char map_yaml[] = "format: {separator: ',', decimal: '.', skip_lines: 1}\n"
                               "columns:\n"
                               "  - {quantity: time, unit: s}\n"
                               "  - {quantity: force, unit: N}\n"
                               "  - {quantity: extension, unit: mm}\n"
                               "  - {quantity: crosshead, unit: mm}\n"
                               "specimen: {width: 10, thickness: 4, gauge_length: 50, grip_distance: 115}\n";

/* pandas' correctly rounded parse of the same file, dumped as float64 columns, against the run. */
static int compare(const char *dir, const char *run_path, long rows)
{
    char dump[300], cmd[1200];
    snprintf(dump, sizeof dump, "%s/pandas.f64", dir);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import pandas, sys; df = pandas.read_csv('%s/big.csv', engine='c', "
             "float_precision='round_trip'); df[['time','force','extension','crosshead']].to_numpy('float64')"
             ".T.tofile('%s')\"",
             dir, dump);
    if (system(cmd) != 0)
        return -1;
    FILE *f = fopen(dump, "rb");
    double *ref = malloc((size_t)rows * 4 * sizeof *ref);
    if (!f || !ref || fread(ref, sizeof *ref, (size_t)rows * 4, f) != (size_t)rows * 4) {
        if (f)
            fclose(f);
        free(ref);
        return -1;
    }
    fclose(f);
    struct pd_run *run;
    struct pd_err err;
    if (pd_run_open(run_path, &run, &err) < 0) {
        free(ref);
        return -1;
    }
    long mismatches = 0;
    const char *names[3] = {"force", "extension", "crosshead"};
    for (int c = 0; c < 3; c++) {
        double *v = NULL;
        size_t n = 0;
        if (pd_run_read_channel(run, 0, 0, names[c], &v, &n, &err) < 0 || n != (size_t)rows) {
            mismatches++;
            free(v);
            continue;
        }
        for (long i = 0; i < rows; i++)
            mismatches += memcmp(&v[i], &ref[(size_t)(c + 1) * (size_t)rows + (size_t)i], sizeof(double)) != 0;
        free(v);
    }
    int64_t *t = NULL;
    size_t n = 0;
    if (pd_run_read_time(run, 0, 0, &t, &n, &err) < 0 || n != (size_t)rows)
        mismatches++;
    else
        for (long i = 0; i < rows; i++)
            mismatches += t[i] != llround(ref[i] * 1e9);
    free(t);
    pd_run_close(run);
    free(ref);
    return mismatches == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    long rows = argc > 2 ? atol(argv[2]) : 1000000;
    if (reps < 1)
        reps = 1;
    if (reps > 32)
        reps = 32;
    char dir[] = "/tmp/pd-bench-import.XXXXXX";
    if (!mkdtemp(dir))
        return 3;
    char csv[300], map[300], out[300], run_path[400];
    snprintf(csv, sizeof csv, "%s/big.csv", dir);
    snprintf(map, sizeof map, "%s/map.yaml", dir);
    FILE *m = fopen(map, "w");
    if (!m || fputs(map_yaml, m) < 0 || fclose(m) != 0 || write_csv(csv, rows) < 0) {
        fprintf(stderr, "bench: cannot write %s\n", dir);
        return 3;
    }
    char pyprog[400];
    snprintf(pyprog, sizeof pyprog, "import pandas; df = pandas.read_csv('%s', engine='c')", csv);
    double t_imp[32], t_py[32], t_raw[32], c_imp[32], c_py[32], c_raw[32];
    for (int r = 0; r < reps; r++) {
        snprintf(out, sizeof out, "%s/out%d", dir, r);
        char *imp[] = {(char *)PD_CLI_PATH, "import", csv, "--format", "csv", "--map", map, "-o", out, NULL};
        char out_raw[320];
        snprintf(out_raw, sizeof out_raw, "%s/raw%d", dir, r);
        char *raw[] = {(char *)PD_CLI_PATH, "import", csv, "--format", "csv", "--map", map, "-o", out_raw,
                       "--deflate", "none", NULL};
        char *py[] = {"/usr/bin/python3", "-c", pyprog, NULL};
        t_imp[r] = pd_bench_proc_time(imp, "/dev/null", "/dev/null", 0, &c_imp[r]);
        t_py[r] = pd_bench_proc_time(py, "/dev/null", "/dev/null", 0, &c_py[r]);
        t_raw[r] = pd_bench_proc_time(raw, "/dev/null", "/dev/null", 0, &c_raw[r]);
        if (t_imp[r] < 0 || t_py[r] < 0 || t_raw[r] < 0) {
            fprintf(stderr, "bench: a process failed (polydaq import, or /usr/bin/python3 with pandas: "
                            "apt-get install python3-pandas)\n");
            return 3;
        }
    }
    snprintf(run_path, sizeof run_path, "%s/out0/big.h5", dir);
    int cmp = compare(dir, run_path, rows);
    double mi = pd_bench_median(t_imp, reps), mp = pd_bench_median(t_py, reps);
    double ci = pd_bench_median(c_imp, reps), cp = pd_bench_median(c_py, reps);
    double mr = pd_bench_median(t_raw, reps), cr = pd_bench_median(c_raw, reps);
    printf("import benchmark: %ld-line CSV (4 columns, %.1f MB), median of %d runs, whole processes\n", rows,
           (double)(rows * 35) / 1e6, reps);
    printf("  polydaq import (parse + HDF5 run file, deflate 1): %8.1f ms\n", mi * 1e3);
    printf("  pandas read_csv, C engine (parse only):            %8.1f ms\n", mp * 1e3);
    printf("  speed-up, wall clock:                              %8.2f x\n", mp / mi);
    printf("  CPU time (user + system, all threads): polydaq %.1f ms, pandas %.1f ms (%.2f x)\n", ci * 1e3, cp * 1e3,
           cp / ci);
    printf("  polydaq import --deflate none:                     %8.1f ms (%.2f x; CPU %.1f ms, %.2f x)\n", mr * 1e3,
           mp / mr, cr * 1e3, cp / cr);
    printf("  values vs pandas (float_precision='round_trip'): %s\n",
           cmp == 0 ? "identical, bit for bit" : cmp < 0 ? "COULD NOT COMPARE" : "DIFFERENT");
    if (getenv("PD_BENCH_KEEP")) {
        printf("kept %s\n", dir);
        return cmp == 0 ? 0 : 1;
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not remove %s\n", dir);
    return cmp == 0 ? 0 : 1;
}
