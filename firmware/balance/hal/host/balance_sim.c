/* balance_sim.c — `polydaq-sim balance`: an analytical balance speaking MT-SICS (level 0/1 subset)
 * with a pan load that settles after every change, optional pieces placed and removed in a cycle
 * (melt-flow cut-offs), overload/underload, and test hooks (#MASS, #BUSY, #NEXT). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "line_server.h"
#include "mbslave/hal/host/sim_args.h"
#include "sim/sim.h"

static const char balance_usage[] =
    "usage: polydaq-sim balance (--pty PATH|auto | --tcp HOST:PORT) [OPTIONS]\n"
    "Simulated analytical balance speaking MT-SICS: S, SI, Z, ZI, T, TAC, I2, I3, I4, @.\n"
    "--pty auto creates a pty and prints `listening /dev/pts/N`; --tcp prints `listening tcp-raw://HOST:PORT`.\n"
    "\n"
    "  --serial TEXT         serial number answered to I4 (default B123456789)\n"
    "  --model TEXT          type answered to I2 (default PD-XS205), always followed by the word\n"
    "                        SIMULATED: `I2 A \"PD-XS205 SIMULATED 220.0000 g\"` marks the data simulated\n"
    "  --capacity G          maximum load in g, up to 1e6 (default 220)\n"
    "  --unit g|kg|mg        display unit (default g)\n"
    "  --mass G              load on the pan (default 0)\n"
    "  --settle S            seconds a change takes to become stable (default 0.5)\n"
    "  --stability-timeout S how long S/Z/T wait for stability before answering I (default 3)\n"
    "  --pieces MEAN[,SCATTER]  a cycle of pieces: empty pan, a piece of MEAN g (relative scatter) settling,\n"
    "                        then stable; for melt-flow cut-offs\n"
    "  --period S            length of one piece cycle (default 10)\n"
    "  --seed N              seed of the scatter (default 1)\n"
    "  --time-scale X        instrument seconds per real second (default 1)\n"
    "  --fault SPEC          drop-every=N, corrupt-every=N, stall-after=N[:MS], disconnect-after=N,\n"
    "                        endless-after=N (comma-separated; also `#FAULT SPEC` at run time)\n"
    "test hooks (not MT-SICS): `#MASS G` puts G on the pan, `#BUSY N` answers I to the next N S/Z/T,\n"
    "`#NEXT TEXT` sends TEXT as the next reply.\n";

struct balance {
    char serial[64];
    char model[64];
    double capacity_g;
    int unit; /* 0 g, 1 kg, 2 mg */
    double pan_g;
    double changed_at; /* instrument s */
    double settle_s;
    double stability_timeout_s;
    double piece_mean_g, piece_scatter;
    double period_s;
    uint64_t seed;
    double time_scale;
    double zero_g, tare_g;
    unsigned long busy;
    char next_reply[200];
    int have_next;
};

static const char *const unit_names[] = {"g", "kg", "mg"};
static const double unit_factor[] = {1.0, 1e-3, 1e3};
static const int unit_decimals[] = {4, 7, 1};

static double now_s(const struct balance *b) { return line_server_clock(b->time_scale); }

/* Deterministic standard-normal-ish number for piece k (sum of uniforms). */
static double piece_noise(uint64_t seed, uint64_t k)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + k * 0xD1B54A32D192ED03ull + 1;
    double sum = 0;
    for (int i = 0; i < 12; i++) {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 29;
        sum += (double)(x >> 11) / 9007199254740992.0;
    }
    return sum - 6.0;
}

/* Gross load and whether it is stable at instrument time t. */
static void pan_state(const struct balance *b, double t, double *gross, int *stable, double *settled_at)
{
    if (b->piece_mean_g > 0) {
        double cycle = floor(t / b->period_s);
        double phase = (t - cycle * b->period_s) / b->period_s;
        double m = b->piece_mean_g * (1 + b->piece_scatter * piece_noise(b->seed, (uint64_t)cycle));
        double start = cycle * b->period_s;
        if (phase < 0.05) { /* piece just taken off */
            *gross = 0.02 * m * (0.05 - phase) / 0.05;
            *stable = 0;
            *settled_at = start + 0.05 * b->period_s;
        } else if (phase < 0.25) {
            *gross = 0;
            *stable = 1;
            *settled_at = start + 0.05 * b->period_s;
        } else if (phase < 0.45) {
            double x = (phase - 0.25) / 0.2;
            *gross = m * (1 - exp(-4 * x) * cos(12 * x));
            *stable = 0;
            *settled_at = start + 0.45 * b->period_s;
        } else {
            *gross = m;
            *stable = 1;
            *settled_at = start + 0.45 * b->period_s;
        }
        *gross += b->pan_g;
        return;
    }
    double age = t - b->changed_at;
    *settled_at = b->changed_at + b->settle_s;
    if (age >= b->settle_s) {
        *gross = b->pan_g;
        *stable = 1;
    } else {
        double x = age / (b->settle_s > 0 ? b->settle_s : 1);
        *gross = b->pan_g + 0.002 * b->pan_g * exp(-3 * x) * cos(20 * x) + 0.0004 * (1 - x);
        *stable = 0;
    }
}

/* Waits (really) until the pan is stable, at most the stability timeout; 1 when stable. */
static int wait_stable(struct balance *b, double *gross)
{
    double t = now_s(b), settled_at;
    int stable;
    pan_state(b, t, gross, &stable, &settled_at);
    if (stable)
        return 1;
    double wait = settled_at - t + 1e-3;
    if (wait > b->stability_timeout_s)
        return 0;
    double real = wait / b->time_scale;
    struct timespec ts = {(time_t)real, (long)((real - floor(real)) * 1e9)};
    nanosleep(&ts, NULL);
    pan_state(b, now_s(b), gross, &stable, &settled_at);
    return stable;
}

static int load_fault(const struct balance *b, double gross)
{
    if (gross > b->capacity_g * 1.0 + 9 * pow(10, -unit_decimals[0]))
        return '+';
    if (gross < -0.05 * b->capacity_g)
        return '-';
    return 0;
}

static size_t format_weight(const struct balance *b, const char *cmd, char status, double grams, char *out,
                            size_t size)
{
    int n = snprintf(out, size, "%s %c %10.*f %s\r\n", cmd, status, unit_decimals[b->unit], grams * unit_factor[b->unit],
                     unit_names[b->unit]);
    return n > 0 ? (size_t)n : 0;
}

static size_t reply(char *out, size_t size, const char *fmt, const char *arg)
{
    int n = snprintf(out, size, fmt, arg);
    return n > 0 ? (size_t)n : 0;
}

static size_t balance_handle(void *ctx, const char *req, char *out, size_t size)
{
    struct balance *b = ctx;
    if (b->have_next && req[0] != '#') {
        b->have_next = 0;
        return reply(out, size, "%s\r\n", b->next_reply);
    }
    double gross;
    int stable, fault;
    double settled_at;
    if (strcmp(req, "S") == 0 || strcmp(req, "Z") == 0 || strcmp(req, "T") == 0) {
        pan_state(b, now_s(b), &gross, &stable, &settled_at);
        if ((fault = load_fault(b, gross)) != 0) {
            char tmp[8] = {req[0], ' ', (char)fault, '\r', '\n', 0};
            return reply(out, size, "%s", tmp);
        }
        if (b->busy > 0) {
            b->busy--;
            return reply(out, size, "%s I\r\n", req);
        }
        if (!wait_stable(b, &gross))
            return reply(out, size, "%s I\r\n", req);
        if (req[0] == 'S')
            return format_weight(b, "S", 'S', gross - b->zero_g - b->tare_g, out, size);
        if (req[0] == 'Z') {
            b->zero_g = gross;
            b->tare_g = 0;
            return reply(out, size, "%s\r\n", "Z A");
        }
        b->tare_g = gross - b->zero_g;
        return format_weight(b, "T", 'S', b->tare_g, out, size);
    }
    if (strcmp(req, "SI") == 0 || strcmp(req, "ZI") == 0) {
        pan_state(b, now_s(b), &gross, &stable, &settled_at);
        if ((fault = load_fault(b, gross)) != 0) {
            char tmp[16];
            snprintf(tmp, sizeof tmp, "%s %c\r\n", req[0] == 'S' ? "S" : "ZI", fault);
            return reply(out, size, "%s", tmp);
        }
        if (req[0] == 'S')
            return format_weight(b, "S", stable ? 'S' : 'D', gross - b->zero_g - b->tare_g, out, size);
        b->zero_g = gross;
        b->tare_g = 0;
        return reply(out, size, "%s\r\n", stable ? "ZI S" : "ZI D");
    }
    if (strcmp(req, "TAC") == 0) {
        b->tare_g = 0;
        return reply(out, size, "%s\r\n", "TAC A");
    }
    if (strcmp(req, "I4") == 0 || strcmp(req, "@") == 0)
        return reply(out, size, "I4 A \"%s\"\r\n", b->serial);
    if (strcmp(req, "I3") == 0)
        return reply(out, size, "I3 A \"%s\"\r\n", "2.10 1.4.7");
    if (strcmp(req, "I2") == 0) {
        /* The type always carries the word SIMULATED (a read-only answer no real balance gives),
         * so polydaq marks the data simulated however it reached this balance. */
        char text[160];
        snprintf(text, sizeof text, "%s SIMULATED %.4f g", b->model, b->capacity_g);
        return reply(out, size, "I2 A \"%s\"\r\n", text);
    }
    if (strncmp(req, "#MASS ", 6) == 0) {
        char *end;
        double v = strtod(req + 6, &end);
        if (end == req + 6 || *end || !isfinite(v))
            return reply(out, size, "#ERR %s\r\n", "bad mass");
        b->pan_g = v;
        b->changed_at = now_s(b);
        return reply(out, size, "%s\r\n", "#OK");
    }
    if (strncmp(req, "#BUSY ", 6) == 0) {
        b->busy = strtoul(req + 6, NULL, 10);
        return reply(out, size, "%s\r\n", "#OK");
    }
    if (strncmp(req, "#NEXT ", 6) == 0) {
        snprintf(b->next_reply, sizeof b->next_reply, "%s", req + 6);
        b->have_next = 1;
        return reply(out, size, "%s\r\n", "#OK");
    }
    return reply(out, size, "%s\r\n", "ES");
}

static int printable_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

static int balance_text_option(void *ctx, const char *opt, const char *val)
{
    struct balance *b = ctx;
    if (strcmp(opt, "--serial") == 0) {
        if (strlen(val) >= sizeof b->serial || strchr(val, '"'))
            return line_usage_error("balance", "--serial '%s' is too long or has a quote", val);
        strcpy(b->serial, val);
    } else if (strcmp(opt, "--model") == 0) {
        /* printable ASCII only: an I2 line a driver cannot read would hide the SIMULATED mark */
        if (strlen(val) >= sizeof b->model || strchr(val, '"') || !printable_ascii(val))
            return line_usage_error("balance", "--model '%s' is too long or has a quote or a non-ASCII character",
                                    val);
        strcpy(b->model, val);
    } else if (strcmp(opt, "--unit") == 0) {
        b->unit = strcmp(val, "g") == 0 ? 0 : strcmp(val, "kg") == 0 ? 1 : strcmp(val, "mg") == 0 ? 2 : -1;
        if (b->unit < 0)
            return line_usage_error("balance", "--unit must be g, kg or mg, not '%s'", val);
    } else if (strcmp(opt, "--pieces") == 0) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", val);
        char *comma = strchr(buf, ',');
        if (comma)
            *comma = '\0';
        if (sim_parse_double(buf, &b->piece_mean_g) != 0 || !(b->piece_mean_g > 0) ||
            (comma && (sim_parse_double(comma + 1, &b->piece_scatter) != 0 || b->piece_scatter < 0 ||
                       b->piece_scatter > 0.2)))
            return line_usage_error("balance", "--pieces needs MEAN>0[,SCATTER 0..0.2], not '%s'", val);
    } else if (strcmp(opt, "--seed") == 0) {
        double d;
        if (sim_parse_double(val, &d) != 0 || d < 0)
            return line_usage_error("balance", "--seed must be a non-negative integer, not '%s'", val);
        b->seed = (uint64_t)d;
    } else {
        return 0;
    }
    return 1;
}

static int balance_main(int argc, char **argv)
{
    struct balance b = {.capacity_g = 220, .settle_s = 0.5, .stability_timeout_s = 3, .period_s = 10, .seed = 1,
                        .time_scale = 1};
    strcpy(b.serial, "B123456789");
    strcpy(b.model, "PD-XS205");
    struct line_server_options o = {.instrument = "balance"};
    const struct line_number numbers[] = {
        /* capacity bounded so the I2 text (model, SIMULATED, capacity) stays within what a driver reads */
        {"--capacity", &b.capacity_g, 0, 1e6, 1},
        {"--mass", &b.pan_g, -INFINITY, INFINITY, 0},
        {"--settle", &b.settle_s, 0, INFINITY, 0},
        {"--stability-timeout", &b.stability_timeout_s, 0, INFINITY, 0},
        {"--period", &b.period_s, 0, INFINITY, 1},
        {"--time-scale", &b.time_scale, 0, 10000, 1},
    };
    const struct line_cli cli = {.usage = balance_usage, .server = &o, .numbers = numbers,
                                 .n_numbers = sizeof numbers / sizeof numbers[0],
                                 .text_option = balance_text_option, .ctx = &b};
    int status = line_cli_parse(&cli, argc, argv);
    if (status != LINE_CLI_SERVE)
        return status;
    b.changed_at = -1e9; /* the initial load has long settled */
    return line_server_run(&o, balance_handle, &b);
}

const struct sim_instrument sim_balance = {
    .name = "balance",
    .summary = "analytical balance, MT-SICS over a pty or raw TCP",
    .main = balance_main,
};
