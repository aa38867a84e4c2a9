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

static int mfi_text_option(void *ctx, const char *opt, const char *val)
{
    struct mfi *m = ctx;
    if (strcmp(opt, "--serial") != 0)
        return 0;
    if (strlen(val) >= sizeof m->serial || strchr(val, ' '))
        return line_usage_error("mfi", "--serial '%s' is too long or has a blank", val);
    strcpy(m->serial, val);
    return 1;
}

static int mfi_main(int argc, char **argv)
{
    struct mfi m = {.mfr = 8.13, .density = 0.7387, .setpoint = 230, .interval = 10, .charge_drop = 3,
                    .travel_max = 30, .time_scale = 1, .disturbed_at = -1e9};
    strcpy(m.serial, "M2024");
    struct line_server_options o = {.instrument = "mfi"};
    const struct line_number numbers[] = {
        {"--mfr", &m.mfr, 0, 2000, 1},           {"--melt-density", &m.density, 0.1, 5, 1},
        {"--temperature", &m.setpoint, 100, 450, 0}, {"--interval", &m.interval, 1, 600, 0},
        {"--charge-drop", &m.charge_drop, 0, 50, 0}, {"--travel-max", &m.travel_max, 0, 200, 1},
        {"--time-scale", &m.time_scale, 0, 10000, 1},
    };
    const struct line_cli cli = {.usage = mfi_usage, .server = &o, .numbers = numbers,
                                 .n_numbers = sizeof numbers / sizeof numbers[0], .text_option = mfi_text_option,
                                 .ctx = &m};
    int status = line_cli_parse(&cli, argc, argv);
    if (status != LINE_CLI_SERVE)
        return status;
    return line_server_run(&o, mfi_handle, &m);
}

const struct sim_instrument sim_mfi = {
    .name = "mfi",
    .summary = "melt flow indexer (ISO 1133), ASCII over a pty or raw TCP",
    .main = mfi_main,
};
