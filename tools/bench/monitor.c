/* monitor.c — benchmark of a monitoring run (`method: record`): N chamber simulators (temperature
 * + humidity over Modbus TCP, one polydaq-sim process each, started by this program, so their CPU
 * is not polydaq's) recorded by one `polydaq run` process, measured from outside: its own CPU
 * (user + system of all its threads, wait4 at the end; /proc/PID/stat while it runs) and its
 * resident set (VmRSS) sampled through the run, across the rollovers.
 *
 * Two phases:
 *   real        every instrument at the real rate (default 10 Hz) in real time for --real-seconds,
 *               rolling over every --real-rollover seconds: CPU as a share of one core, directly;
 *   compressed  --hours of recording clock (default 24) compressed --compress times (method
 *               time_scale; the simulators' --time-scale), hourly files, each instrument polled
 *               --speedup times its real rate: CPU per sample, extrapolated to the real rate
 *               (N × rate samples/s), and RSS across the day's rollovers.
 *
 * usage: pd-bench-monitor [--instruments N] [--rate HZ] [--hours H] [--compress K] [--speedup F]
 *                         [--real-seconds S] [--real-rollover S] [--only real|compressed] [--dir DIR]
 *                         [--rss-every S]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"

extern char **environ;

#define MAX_INSTRUMENTS 64
#define MAX_RSS_POINTS 4096

static int n_instruments = 50;
static double rate_hz = 10, hours = 24, compress = 720, speedup = 10, real_seconds = 60, real_rollover = 10;
static double rss_every = 2;
static const char *only = NULL;
static char dir[4096];

struct sim {
    pid_t pid;
    char address[128];
};

/* Starts polydaq-sim chamber on an ephemeral port and reads its announcement. */
static int sim_start(struct sim *s, double time_scale, unsigned seed)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    char ts[32], sd[32];
    snprintf(ts, sizeof ts, "%g", time_scale);
    snprintf(sd, sizeof sd, "%u", seed);
    char *argv[] = {(char *)PD_SIM_PATH, "chamber", "--tcp", "127.0.0.1:0", "--time-scale", ts, "--seed", sd,
                    "--tau", "3600", "--rh-tau", "3600", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    int rc = posix_spawn(&s->pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return -1;
    }
    char line[256];
    size_t len = 0;
    int64_t deadline = pd_clock_mono_ns() + 5000000000LL;
    while (len + 1 < sizeof line && pd_clock_mono_ns() < deadline) {
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t r = read(fds[0], line + len, 1);
        if (r <= 0)
            break;
        if (line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    close(fds[0]);
    if (strncmp(line, "listening ", 10) != 0)
        return -1;
    pd_strlcpy(s->address, line + 10, sizeof s->address);
    return 0;
}

/* Stops a simulator; its CPU seconds (wait4). */
static double sim_stop(struct sim *s)
{
    if (s->pid <= 0)
        return 0;
    kill(s->pid, SIGTERM);
    int status;
    struct rusage ru;
    double cpu = 0;
    if (wait4(s->pid, &status, 0, &ru) == s->pid)
        cpu = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
              1e-6 * (double)ru.ru_stime.tv_usec;
    s->pid = 0;
    return cpu;
}

static int write_config(const char *path, const struct sim *sims, int n, double poll_hz, double time_scale,
                        double duration_s, double rollover_s)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f,
            "# pd-bench-monitor: %d chamber sensors (temperature + humidity) at %g Hz\n"
            "lab: {name: Benchmark Lab, operator: pd-bench-monitor}\n"
            "run:\n  method: record\n  material: monitoring benchmark\n  poll_rate_hz: %g\n"
            "  store: {flush_interval_s: 1}\n"
            "method:\n  rollover: %g\n  duration: %g\n  time_scale: %g\n"
            "  alarms:\n    - {channel: room00.temperature, low: 21, high: 25}\n"
            "    - {channel: room00.humidity, low: 40, high: 60}\n"
            "instruments:\n",
            n, poll_hz, poll_hz, rollover_s, duration_s, time_scale);
    for (int i = 0; i < n; i++)
        fprintf(f,
                "  - name: room%02d\n    driver: modbus\n    transport: %s\n    unit: 1\n    address_base: 0\n"
                "    response_timeout_ms: 1000\n    model: polydaq TC-1 as room sensor\n    channels:\n"
                "      - {name: temperature, table: input, address: 4, type: float32, order: CDAB, unit: degC}\n"
                "      - {name: humidity, table: input, address: 10, type: float32, order: CDAB, unit: \"%%RH\"}\n",
                i, sims[i].address);
    return fclose(f);
}

/* utime + stime of a live process (all its threads), seconds; < 0 when unreadable. */
static double proc_cpu(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command may hold blanks */
    if (!p)
        return -1;
    unsigned long utime = 0, stime = 0;
    /* after ") ": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double proc_rss_mb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    double kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lf kB", &kb) == 1)
            break;
    fclose(f);
    return kb / 1024.0;
}

static int count_files(const char *d)
{
    DIR *dp = opendir(d);
    if (!dp)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        if (strstr(e->d_name, ".h5"))
            n++;
    closedir(dp);
    return n;
}

static unsigned long long du_bytes(const char *d)
{
    DIR *dp = opendir(d);
    if (!dp)
        return 0;
    unsigned long long total = 0;
    struct dirent *e;
    char p[8192];
    while ((e = readdir(dp))) {
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", d, e->d_name);
        if (e->d_name[0] != '.' && stat(p, &st) == 0)
            total += (unsigned long long)st.st_size;
    }
    closedir(dp);
    return total;
}

struct phase_result {
    double wall_s, cpu_s, sims_cpu_s;
    unsigned long long samples, bytes;
    int files, exit_status;
    size_t n_rss;
    double rss_t[MAX_RSS_POINTS], rss_mb[MAX_RSS_POINTS], cpu_at[MAX_RSS_POINTS];
    int rss_files[MAX_RSS_POINTS];
};

/* One `polydaq run` of n sims' instruments; fills r. */
static int run_phase(const char *name, double poll_hz, double time_scale, double duration_s, double rollover_s,
                     struct phase_result *r)
{
    memset(r, 0, sizeof *r);
    struct sim sims[MAX_INSTRUMENTS];
    memset(sims, 0, sizeof sims);
    int rc = 0;
    for (int i = 0; i < n_instruments && rc == 0; i++)
        if (sim_start(&sims[i], time_scale, (unsigned)i + 1) != 0) {
            fprintf(stderr, "pd-bench-monitor: simulator %d did not start\n", i);
            rc = -1;
        }
    char cfg[4200], out[4200], err_path[4200];
    snprintf(cfg, sizeof cfg, "%s/%s.yaml", dir, name);
    snprintf(out, sizeof out, "%s/%s-runs", dir, name);
    snprintf(err_path, sizeof err_path, "%s/%s.stderr", dir, name);
    if (rc == 0 && write_config(cfg, sims, n_instruments, poll_hz, time_scale, duration_s, rollover_s) != 0)
        rc = -1;
    pid_t pid = -1;
    if (rc == 0) {
        char *argv[] = {(char *)PD_CLI_PATH, "run", cfg, "-o", out, NULL};
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
            rc = -1;
        posix_spawn_file_actions_destroy(&fa);
    }
    if (rc == 0) {
        int64_t t0 = pd_clock_mono_ns(), next = t0;
        int status = 0;
        struct rusage ru;
        for (;;) {
            pid_t w = wait4(pid, &status, WNOHANG, &ru);
            if (w == pid)
                break;
            int64_t now = pd_clock_mono_ns();
            if (now >= next && r->n_rss < MAX_RSS_POINTS) {
                double mb = proc_rss_mb(pid), cpu = proc_cpu(pid);
                if (mb > 0 && cpu >= 0) {
                    r->cpu_at[r->n_rss] = cpu;
                    r->rss_t[r->n_rss] = (double)(now - t0) / 1e9;
                    r->rss_mb[r->n_rss] = mb;
                    r->rss_files[r->n_rss] = count_files(out);
                    r->n_rss++;
                }
                next += (int64_t)(rss_every * 1e9);
            }
            pd_clock_sleep_ns(50 * 1000000LL);
        }
        r->wall_s = (double)(pd_clock_mono_ns() - t0) / 1e9;
        r->cpu_s = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
                   1e-6 * (double)ru.ru_stime.tv_usec;
        r->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    for (int i = 0; i < n_instruments; i++)
        r->sims_cpu_s += sim_stop(&sims[i]);
    if (rc != 0)
        return rc;
    FILE *f = fopen(err_path, "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, " samples acquired");
        if (p) {
            while (p > line && p[-1] >= '0' && p[-1] <= '9')
                p--;
            r->samples = strtoull(p, NULL, 10);
        }
    }
    if (f)
        fclose(f);
    r->files = count_files(out);
    r->bytes = du_bytes(out);
    return r->exit_status == 0 ? 0 : -1;
}

static void report(const char *name, const struct phase_result *r, double poll_hz)
{
    double real_rate = n_instruments * rate_hz; /* samples/s at the real rate */
    double per_sample_us = r->samples ? r->cpu_s / (double)r->samples * 1e6 : 0;
    printf("\n%s: %d instruments x %g Hz, %.1f s wall, exit %d\n", name, n_instruments, poll_hz, r->wall_s,
           r->exit_status);
    printf("  samples %llu, files %d, %.1f MB on disk\n", r->samples, r->files, (double)r->bytes / 1e6);
    printf("  polydaq CPU %.3f s (%.2f %% of one core over the run), %.2f us per sample\n", r->cpu_s,
           100.0 * r->cpu_s / r->wall_s, per_sample_us);
    printf("  extrapolated to the real rate (%g samples/s): %.3f %% of one core\n", real_rate,
           100.0 * per_sample_us * 1e-6 * real_rate);
    printf("  simulators' CPU (not polydaq's): %.3f s\n", r->sims_cpu_s);
    if (r->n_rss >= 3) { /* steady state: from the second sample point to the last, start-up and close left out */
        size_t a = 1, b = r->n_rss - 1;
        double dt = r->rss_t[b] - r->rss_t[a], dc = r->cpu_at[b] - r->cpu_at[a];
        if (dt > 0)
            printf("  steady state (/proc, %.0f s .. %.0f s): %.2f %% of one core\n", r->rss_t[a], r->rss_t[b],
                   100.0 * dc / dt);
    }
    double lo = 1e30, hi = 0;
    for (size_t k = 0; k < r->n_rss; k++) {
        if (r->rss_mb[k] < lo)
            lo = r->rss_mb[k];
        if (r->rss_mb[k] > hi)
            hi = r->rss_mb[k];
    }
    printf("  RSS %.1f .. %.1f MB over %zu samples; series (s: MB [files]):\n   ", lo, hi, r->n_rss);
    for (size_t k = 0; k < r->n_rss; k++)
        printf(" %.0f:%.1f[%d]%s", r->rss_t[k], r->rss_mb[k], r->rss_files[k], (k + 1) % 8 == 0 ? "\n   " : "");
    printf("\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"instruments", required_argument, NULL, 'n'}, {"rate", required_argument, NULL, 'r'},
        {"hours", required_argument, NULL, 'H'},       {"compress", required_argument, NULL, 'k'},
        {"speedup", required_argument, NULL, 'f'},     {"real-seconds", required_argument, NULL, 's'},
        {"real-rollover", required_argument, NULL, 'R'}, {"only", required_argument, NULL, 'o'},
        {"dir", required_argument, NULL, 'd'},         {"rss-every", required_argument, NULL, 'e'},
        {NULL, 0, NULL, 0}};
    const char *dir_arg = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'n': n_instruments = atoi(optarg); break;
        case 'r': rate_hz = atof(optarg); break;
        case 'H': hours = atof(optarg); break;
        case 'k': compress = atof(optarg); break;
        case 'f': speedup = atof(optarg); break;
        case 's': real_seconds = atof(optarg); break;
        case 'R': real_rollover = atof(optarg); break;
        case 'o': only = optarg; break;
        case 'd': dir_arg = optarg; break;
        case 'e': rss_every = atof(optarg); break;
        default: fprintf(stderr, "usage: see the head of tools/bench/monitor.c\n"); return 2;
        }
    }
    if (n_instruments < 1 || n_instruments > MAX_INSTRUMENTS || rate_hz <= 0 || compress < 1 || compress > 10000 ||
        speedup < 1 || hours <= 0 || real_seconds <= 0 || real_rollover < 1 || rss_every <= 0) {
        fprintf(stderr, "pd-bench-monitor: option out of range\n");
        return 2;
    }
    if (dir_arg)
        pd_strlcpy(dir, dir_arg, sizeof dir);
    else {
        snprintf(dir, sizeof dir, "/tmp/pd-bench-monitor-XXXXXX");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            return 1;
        }
    }
    mkdir(dir, 0755);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    double load[3] = {0};
    if (getloadavg(load, 3) < 0)
        load[0] = -1;
    printf("pd-bench-monitor: %d instruments (chamber simulators, temperature + humidity, Modbus TCP on loopback), "
           "real rate %g Hz; %ld cores, load average %.2f at start; files in %s\n",
           n_instruments, rate_hz, cores, load[0], dir);
    int rc = 0;
    struct phase_result *r = malloc(sizeof *r);
    if (!r)
        return 1;
    if (!only || strcmp(only, "real") == 0) {
        rc |= run_phase("real", rate_hz, 1, real_seconds, real_rollover, r);
        report("real", r, rate_hz);
    }
    if (!only || strcmp(only, "compressed") == 0) {
        /* hours of recording clock, hourly files, compressed `compress` times; polled `speedup` times faster */
        rc |= run_phase("compressed", rate_hz * speedup, compress, hours * 3600, 3600, r);
        report("compressed", r, rate_hz * speedup);
        printf("  (%g h of recording clock at time_scale %g; %.4g of the samples a real %g h would give)\n", hours,
               compress, speedup / compress, hours);
    }
    free(r);
    if (getloadavg(load, 3) >= 0)
        printf("load average %.2f at the end\n", load[0]);
    return rc ? 1 : 0;
}
