/* certify.c — benchmark: certifying 5 tensile specimens × 100 000 points from HDF5, beside a numpy + h5py script computing the same chord modulus and strength.
 * Two files with the same samples: run.h5 as `polydaq run` and `polydaq import` write by default
 * (chunks of 65 536 samples, shuffle + deflate level 1: what certify meets in the lab) and
 * run-plain.h5 with the store's compression off (`store: {deflate: none}`, chunks of 16 384). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert.h"
#include "store/store.h"

#include "proc_time.h"

#define N_SPEC 5
#define N_POINTS 100000

/* Same definitions as the C evaluation's defaults (cert.h, docs/CERTIFICATES.md §4): chord modulus
 * with σ interpolated at exactly e1 and e2 between the bracketing samples (ISO 527-1); strength =
 * first local maximum: the running maximum accepted once σ falls below it by the band, max(0.5 % of
 * the highest stress, 10 noise SDs; noise = 1.4826·median|Δ⁴σ|/√70), armed beyond e2, searched up
 * to the break point (last sample before σ <= 10 % of the maximum). The curve's noise (0.05 N) is
 * below 0.01 % of its maximum, where the C search does not average: the script checks that. */
static const char script[] =
    "import json, sys\n"
    "import h5py, numpy as np\n"
    "E1, E2, H, BF = 0.0005, 0.0025, 0.005, 0.10\n"
    "def chord_at(strain, stress, t):\n"
    "    i = int(np.argmax(strain >= t))\n"
    "    return stress[i - 1] + (t - strain[i - 1]) / (strain[i] - strain[i - 1]) * (stress[i] - stress[i - 1])\n"
    "out = []\n"
    "with h5py.File(sys.argv[1], 'r') as f:\n"
    "    for name in sorted(k for k in f if k.startswith('specimen_')):\n"
    "        e = f[name]; s = e['sample']\n"
    "        b, h, l0 = (float(s[k][()]) for k in ('width', 'thickness', 'gauge_length'))\n"
    "        stress = e['frame/force'][...] / (b * h); strain = e['frame/extension'][...] / l0\n"
    "        n = len(stress)\n"
    "        smax_prev = np.maximum.accumulate(stress)[:-1]\n"
    "        armed = strain[:-1] > E2\n"
    "        brk = np.nonzero(armed & (smax_prev > 0) & (stress[1:] <= BF * smax_prev))[0]\n"
    "        count = brk[0] + 1 if len(brk) else n\n"
    "        st, sn = stress[:count], strain[:count]\n"
    "        rm = np.maximum.accumulate(st)\n"
    "        new = np.empty(count, bool); new[0] = True; new[1:] = st[1:] > rm[:-1]\n"
    "        idx = np.maximum.accumulate(np.where(new, np.arange(count), 0))\n"
    "        noise = 1.4826 * np.median(np.abs(np.diff(st, 4))) / np.sqrt(70.0)\n"
    "        assert noise <= 1e-4 * st.max(), 'noisier than the benchmark is built for'\n"
    "        band = max(H * st.max(), 10.0 * noise)\n"
    "        drop = np.nonzero((~new[1:]) & (sn[idx[:-1]] > E2) & (st[1:] < rm[:-1] - band))[0]\n"
    "        strength = rm[drop[0]] if len(drop) else rm[-1]\n"
    "        modulus = (chord_at(sn, st, E2) - chord_at(sn, st, E1)) / (E2 - E1)\n"
    "        out.append([float(modulus), float(strength)])\n"
    "print(json.dumps(out))\n";

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

/* A PP-like curve: linear to 1 %, rounding to yield at 8 %, softening, drawing, break at 25 %. */
static double stress_at(double e, double E)
{
    double sy = 32.0, ey = 0.08;
    if (e <= 0.01)
        return E * e;
    if (e <= ey) {
        double s1 = E * 0.01, u = (ey - e) / (ey - 0.01);
        return s1 + (sy - s1) * (1.0 - u * u);
    }
    if (e <= 0.14)
        return sy - 6.0 * (e - ey) / 0.06;
    return 26.0 + 4.0 * (e - 0.14);
}

static int write_run(const char *path, size_t chunk_samples, int deflate_level)
{
    const struct pd_store_attr run_attrs[] = {
        {.key = "run_id", .type = PD_STORE_STRING, .s = "BENCH"},
        {.key = "method", .type = PD_STORE_STRING, .s = "iso527"},
        {.key = "lab_name", .type = PD_STORE_STRING, .s = "bench lab"},
        {.key = "start_time", .type = PD_STORE_STRING, .s = "2026-11-25T08:00:00Z"},
        {.key = "simulated", .type = PD_STORE_INT, .i = 1},
    };
    struct pd_store_instrument inst = {.name = "frame", .n_channels = 2};
    strcpy(inst.channels[0].name, "force");
    strcpy(inst.channels[0].unit, "N");
    strcpy(inst.channels[1].name, "extension");
    strcpy(inst.channels[1].unit, "mm");
    const struct pd_store_attr dims[] = {
        {.key = "width", .type = PD_STORE_DOUBLE, .d = 10.0, .units = "mm"},
        {.key = "thickness", .type = PD_STORE_DOUBLE, .d = 4.0, .units = "mm"},
        {.key = "gauge_length", .type = PD_STORE_DOUBLE, .d = 75.0, .units = "mm"},
    };
    struct pd_store_specimen sp[N_SPEC];
    memset(sp, 0, sizeof sp);
    for (int s = 0; s < N_SPEC; s++) {
        snprintf(sp[s].id, sizeof sp[s].id, "S%02d", s + 1);
        sp[s].attrs = dims;
        sp[s].n_attrs = 3;
    }
    struct pd_store_layout layout = {.n_run_attrs = 5, .run_attrs = run_attrs, .n_instruments = 1, .instruments = &inst,
                                     .n_specimens = N_SPEC, .specimens = sp, .chunk_samples = chunk_samples, .deflate_level = deflate_level};
    struct pd_store *st;
    struct pd_err err = {0};
    rng = 88172645463325252ull; /* every file gets the same samples */
    if (pd_store_create(path, &layout, &st, &err) < 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return -1;
    }
    int64_t *t = malloc(N_POINTS * sizeof *t), *unc = calloc(N_POINTS, sizeof *unc);
    uint32_t *q = calloc(N_POINTS, sizeof *q);
    double *v = malloc(2 * N_POINTS * sizeof *v);
    int rc = t && unc && q && v ? 0 : -1;
    for (int s = 0; s < N_SPEC && rc == 0; s++) {
        double E = 1500.0 * (1.0 + 0.005 * (s - 2));
        for (int i = 0; i < N_POINTS; i++) {
            double e = 0.2501 * i / (N_POINTS - 1);
            t[i] = 1795852800000000000LL + (int64_t)i * 1000000;
            v[2 * i] = stress_at(e, E) * 40.0 + 0.05 * gauss();
            v[2 * i + 1] = e * 75.0;
        }
        v[2 * (N_POINTS - 1)] = 0.0; /* the break */
        if (pd_store_append(st, (size_t)s, 0, N_POINTS, t, unc, q, v, &err) < 0)
            rc = -1;
        struct pd_store_attr status = {.key = "status", .type = PD_STORE_STRING, .s = "tested"};
        if (rc == 0 && pd_store_set_specimen_attr(st, (size_t)s, &status, &err) < 0)
            rc = -1;
    }
    free(t);
    free(unc);
    free(q);
    free(v);
    if (pd_store_close(st, 0, NULL, &err) < 0 || rc < 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static double now_s(void)
{
    return (double)pd_clock_mono_ns() * 1e-9;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (reps < 1)
        reps = 1;
    char dir[] = "/tmp/pd-bench-certify.XXXXXX";
    if (!mkdtemp(dir))
        return 3;
    char run[256], plain[256], spec_path[256], py[256], out[256], pyout[256], pyplain[256];
    snprintf(run, sizeof run, "%s/run.h5", dir);
    snprintf(plain, sizeof plain, "%s/run-plain.h5", dir);
    snprintf(pyplain, sizeof pyplain, "%s/py-plain.json", dir);
    snprintf(spec_path, sizeof spec_path, "%s/spec.yaml", dir);
    snprintf(py, sizeof py, "%s/chord.py", dir);
    snprintf(pyout, sizeof pyout, "%s/py.json", dir);
    FILE *f = fopen(py, "w");
    FILE *g = fopen(spec_path, "w");
    if (!f || !g || write_run(run, 65536, 1) < 0 || write_run(plain, 16384, -1) < 0)
        return 3;
    fputs(script, f);
    fclose(f);
    fputs("spec: {name: bench, material: PP, method: iso527}\nproperties:\n"
          "  - {property: tensile_modulus, min: 1000, unit: MPa}\n  - {property: tensile_strength, min: 20, unit: MPa}\n",
          g);
    fclose(g);
    static struct pd_spec spec;
    struct pd_err err = {0};
    if (pd_spec_load(spec_path, &spec, &err) < 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 3;
    }
    /* PD_BENCH_CERTIFY_OTHER=/path/to/polydaq: another build's certify in the same rounds (after
     * this one's, before the script), for an alternated comparison on a busy machine. */
    const char *other = getenv("PD_BENCH_CERTIFY_OTHER");
    double t_eval[32], t_cli[32], t_py[32], c_cli[32], c_py[32], t_other[32], c_other[32];
    double t_cli_plain[32], t_py_plain[32], c_cli_plain[32], c_py_plain[32];
    if (reps > 32)
        reps = 32;
    struct pd_certify_result res = {0};
    for (int r = 0; r < reps; r++) {
        snprintf(out, sizeof out, "%s/eval", dir);
        pd_mkdir_p(out, &err);
        struct pd_certify_options opt = {.out_dir = out, .no_pdf = true};
        double t0 = now_s();
        if (pd_certify_run(run, &spec, &opt, &res, &err) < 0) {
            fprintf(stderr, "bench: %s\n", err.msg);
            return 3;
        }
        t_eval[r] = now_s() - t0;
        char certs[300];
        snprintf(certs, sizeof certs, "%s/cli", dir);
        char *cli[] = {(char *)PD_CLI_PATH, "certify", run, "--spec", spec_path, "-o", certs, NULL};
        t_cli[r] = pd_bench_proc_time(cli, "/dev/null", NULL, 1, &c_cli[r]);
        if (other) {
            char other_certs[300];
            snprintf(other_certs, sizeof other_certs, "%s/other", dir);
            char *ocli[] = {(char *)other, "certify", run, "--spec", spec_path, "-o", other_certs, NULL};
            t_other[r] = pd_bench_proc_time(ocli, "/dev/null", NULL, 1, &c_other[r]);
            if (t_other[r] < 0) {
                fprintf(stderr, "bench: %s certify failed\n", other);
                return 3;
            }
        }
        char *pyargv[] = {"/usr/bin/python3", py, run, NULL};
        t_py[r] = pd_bench_proc_time(pyargv, pyout, NULL, 1, &c_py[r]);
        char *cli_plain[] = {(char *)PD_CLI_PATH, "certify", plain, "--spec", spec_path, "-o", certs, NULL};
        t_cli_plain[r] = pd_bench_proc_time(cli_plain, "/dev/null", NULL, 1, &c_cli_plain[r]);
        char *py_plain[] = {"/usr/bin/python3", py, plain, NULL};
        t_py_plain[r] = pd_bench_proc_time(py_plain, pyplain, NULL, 1, &c_py_plain[r]);
        if (t_cli[r] < 0 || t_py[r] < 0 || t_cli_plain[r] < 0 || t_py_plain[r] < 0) {
            fprintf(stderr, "bench: a process failed (polydaq certify or /usr/bin/python3 %s)\n", py);
            return 3;
        }
    }
    /* Compare the last in-process certificate with the script's numbers. */
    json_error_t jerr;
    json_t *cert = json_load_file(res.json_path, 0, &jerr), *pyres = json_load_file(pyout, 0, &jerr);
    json_t *pyres_plain = json_load_file(pyplain, 0, &jerr);
    if (!cert || !pyres || json_array_size(pyres) != N_SPEC || !pyres_plain || !json_equal(pyres, pyres_plain)) {
        fprintf(stderr, "bench: cannot read the results to compare\n");
        return 3;
    }
    double worst = 0.0;
    const char *props[2] = {"tensile_modulus", "tensile_strength"};
    for (size_t s = 0; s < N_SPEC; s++) {
        const json_t *results = json_object_get(json_array_get(json_object_get(cert, "specimens"), s), "results");
        for (int p = 0; p < 2; p++) {
            double c = json_number_value(json_object_get(json_object_get(results, props[p]), "value"));
            double y = json_number_value(json_array_get(json_array_get(pyres, s), (size_t)p));
            double rel = fabs(c - y) / fabs(y);
            worst = rel > worst ? rel : worst;
            if (s == 0)
                printf("specimen S01 %-17s C %.12g   numpy %.12g\n", props[p], c, y);
        }
    }
    json_decref(cert);
    json_decref(pyres);
    json_decref(pyres_plain);
    double me = pd_bench_median(t_eval, reps), mc = pd_bench_median(t_cli, reps);
    double mp = pd_bench_median(t_py, reps);
    double cc = pd_bench_median(c_cli, reps), cp = pd_bench_median(c_py, reps);
    printf("certify benchmark: %d specimens x %d points from HDF5 (shuffle + deflate 1, as polydaq run writes), median of %d runs\n", N_SPEC, N_POINTS, reps);
    printf("  polydaq evaluation + JSON (in process, no PDF): %8.1f ms\n", me * 1e3);
    printf("  polydaq certify (whole process, JSON + PDF):    %8.1f ms\n", mc * 1e3);
    printf("  numpy + h5py script (whole process):            %8.1f ms\n", mp * 1e3);
    printf("  speed-up, whole process vs script:              %8.1f x\n", mp / mc);
    printf("  CPU time (user + system, all threads): polydaq certify %.1f ms, script %.1f ms (%.1f x)\n", cc * 1e3,
           cp * 1e3, cp / cc);
    if (other) {
        double mo = pd_bench_median(t_other, reps), co = pd_bench_median(c_other, reps);
        printf("  other build %s certify, same rounds: %.1f ms (speed-up %.1f x), CPU %.1f ms (%.1f x)\n", other,
               mo * 1e3, mp / mo, co * 1e3, cp / co);
    }
    double mcp = pd_bench_median(t_cli_plain, reps), mpp = pd_bench_median(t_py_plain, reps);
    double ccp = pd_bench_median(c_cli_plain, reps), cpp = pd_bench_median(c_py_plain, reps);
    printf("  the same samples in a file without compression (store: {deflate: none}), same rounds:\n");
    printf("    polydaq certify %.1f ms, script %.1f ms, speed-up %.1f x; CPU %.1f / %.1f ms (%.1f x)\n", mcp * 1e3,
           mpp * 1e3, mpp / mcp, ccp * 1e3, cpp * 1e3, cpp / ccp);
    printf("  largest relative difference (modulus, strength): %.3g %s\n", worst, worst <= 1e-9 ? "(<= 1e-9: agree)" : "(DISAGREE)");
    if (getenv("PD_BENCH_KEEP")) { printf("kept %s\n", dir); return worst <= 1e-9 ? 0 : 1; }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not remove %s\n", dir);
    return worst <= 1e-9 ? 0 : 1;
}
