/* mfi_sim.c — `polydaq-sim mfi`: a melt flow indexer (ISO 1133): barrel temperature under a
 * controller, piston travel at the rate a configured MFR and melt density give, and automatic
 * cut-offs at a set interval, over a simple ASCII protocol. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance/hal/host/line_server.h"
#include "sim/sim.h"

static const char mfi_usage[] =
    "usage: polydaq-sim mfi (--pty PATH|auto | --tcp HOST:PORT) [OPTIONS]\n"
    "Simulated melt flow indexer. Protocol (CR LF):\n"
    "  ID?       -> MFI <model> SN <serial> FW <version> SIM 1\n"
    "               (SIM 1: a simulator, so polydaq marks the data simulated however it reached it)\n"
    "  R?        -> T <barrel C> S <piston travel mm> C <cut-offs> E <test time s>\n"
    "  SP <C>    -> OK   barrel temperature setpoint\n"
    "  INT <s>   -> OK   cut-off interval\n"
    "  GO        -> OK   charge loaded, piston released: cut-offs every interval from now\n"
    "  STOP      -> OK\n"
    "  anything else -> ERR 1\n"
    "\n"
    "  --mfr G10MIN          melt mass-flow rate of the material (default 8.13)\n"
    "  --melt-density G_CM3  melt density (default 0.7387)\n"
    "  --temperature C       initial setpoint (default 230)\n"
    "  --interval S          cut-off interval (default 10)\n"
    "  --charge-drop C       barrel temperature drop when the charge is loaded (default 3)\n"
    "  --travel-max MM       usable piston travel; the test ends there (default 30)\n"
    "  --serial TEXT         serial number (default M2024)\n"
    "  --time-scale X        instrument seconds per real second (default 1)\n"
    "  --fault SPEC          drop-every=N, corrupt-every=N, stall-after=N[:MS], disconnect-after=N, endless-after=N\n";

#define MFI_AREA_CM2 0.711

struct mfi {
    double mfr, density, setpoint, interval, charge_drop, travel_max, time_scale;
    char serial[32];
    int running;
    double started_at;  /* instrument s */
    double disturbed_at;
};

static double elapsed(const struct mfi *m, double now)
{
    if (!m->running)
        return 0;
    double speed = m->mfr / m->density / (MFI_AREA_CM2 * 600.0) * 10.0; /* mm/s */
    double e = now - m->started_at;
    double limit = m->travel_max / speed;
    return e < limit ? e : limit;
}

static size_t mfi_handle(void *ctx, const char *req, char *out, size_t size)
{
    struct mfi *m = ctx;
    double now = line_server_clock(m->time_scale);
    int n;
    char *end;
    if (strcmp(req, "ID?") == 0) {
        /* SIM 1 always: the identity declares the simulator (config/instruments/mfi.yaml captures
         * it as {simulated}), so its data are never taken for a real instrument's. */
        n = snprintf(out, size, "MFI PD-MF20 SN %s FW 1.3 SIM 1\r\n", m->serial);
    } else if (strcmp(req, "R?") == 0) {
        double temp = m->setpoint;
        if (m->disturbed_at > -1e8)
            temp -= m->charge_drop * exp(-(now - m->disturbed_at) / 8.0);
        temp += 0.02 * sin(now * 1.7);
        double e = elapsed(m, now);
        double speed = m->mfr / m->density / (MFI_AREA_CM2 * 600.0) * 10.0;
        unsigned long cuts = m->running ? (unsigned long)floor(e / m->interval) : 0;
        n = snprintf(out, size, "T %.2f S %.3f C %lu E %.2f\r\n", temp, e * speed, cuts, e);
    } else if (strncmp(req, "SP ", 3) == 0) {
        errno = 0;
        double v = strtod(req + 3, &end);
        if (end == req + 3 || *end || errno || !(v >= 100 && v <= 450))
            n = snprintf(out, size, "ERR 2\r\n");
        else {
            m->setpoint = v;
            n = snprintf(out, size, "OK\r\n");
        }
    } else if (strncmp(req, "INT ", 4) == 0) {
        errno = 0;
        double v = strtod(req + 4, &end);
        if (end == req + 4 || *end || errno || !(v >= 1 && v <= 600))
            n = snprintf(out, size, "ERR 2\r\n");
        else {
            m->interval = v;
            n = snprintf(out, size, "OK\r\n");
        }
    } else if (strcmp(req, "GO") == 0) {
        m->running = 1;
        m->started_at = now;
        m->disturbed_at = now;
        n = snprintf(out, size, "OK\r\n");
    } else if (strcmp(req, "STOP") == 0) {
        m->running = 0;
        n = snprintf(out, size, "OK\r\n");
    } else {
        n = snprintf(out, size, "ERR 1\r\n");
    }
    return n > 0 ? (size_t)n : 0;
}

static int usage(const char *fmt, const char *arg)
{
    fputs("polydaq-sim: mfi: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (see --help)\n", stderr);
    return 2;
}

static int mfi_main(int argc, char **argv)
{
    struct mfi m = {.mfr = 8.13, .density = 0.7387, .setpoint = 230, .interval = 10, .charge_drop = 3,
                    .travel_max = 30, .time_scale = 1, .disturbed_at = -1e9};
    strcpy(m.serial, "M2024");
    struct line_server_options o = {.instrument = "mfi"};
    for (int i = 0; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            fputs(mfi_usage, stdout);
            return 0;
        }
        if (i + 1 >= argc)
            return usage("option %s needs a value", opt);
        const char *val = argv[++i];
        int r = line_server_option(&o, opt, val);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (strcmp(opt, "--serial") == 0) {
            if (strlen(val) >= sizeof m.serial || strchr(val, ' '))
                return usage("--serial '%s' is too long or has a blank", val);
            strcpy(m.serial, val);
            continue;
        }
        char *end;
        errno = 0;
        double v = strtod(val, &end);
        if (end == val || *end || errno || !isfinite(v))
            return usage("%s needs a number", opt);
        if (strcmp(opt, "--mfr") == 0 && v > 0 && v <= 2000)
            m.mfr = v;
        else if (strcmp(opt, "--melt-density") == 0 && v > 0.1 && v <= 5)
            m.density = v;
        else if (strcmp(opt, "--temperature") == 0 && v >= 100 && v <= 450)
            m.setpoint = v;
        else if (strcmp(opt, "--interval") == 0 && v >= 1 && v <= 600)
            m.interval = v;
        else if (strcmp(opt, "--charge-drop") == 0 && v >= 0 && v <= 50)
            m.charge_drop = v;
        else if (strcmp(opt, "--travel-max") == 0 && v > 0 && v <= 200)
            m.travel_max = v;
        else if (strcmp(opt, "--time-scale") == 0 && v > 0 && v <= 10000)
            m.time_scale = v;
        else
            return usage("unknown option or value out of range: %s", opt);
    }
    return line_server_run(&o, mfi_handle, &m);
}

const struct sim_instrument sim_mfi = {
    .name = "mfi",
    .summary = "melt flow indexer (ISO 1133), ASCII over a pty or raw TCP",
    .main = mfi_main,
};
