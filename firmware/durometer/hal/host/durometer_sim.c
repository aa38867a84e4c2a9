/* durometer_sim.c — `polydaq-sim durometer`: a digital Shore A/D durometer on an operating stand,
 * answering a simple ASCII poll (the reading relaxes after the presser foot meets the specimen). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance/hal/host/line_server.h"
#include "sim/sim.h"

static const char durometer_usage[] =
    "usage: polydaq-sim durometer (--pty PATH|auto | --tcp HOST:PORT) [OPTIONS]\n"
    "Simulated Shore durometer on a stand. Protocol (CR LF):\n"
    "  ID?  -> DUR SHORE-A SN <serial> FW <version> SIM 1\n"
    "         (SIM 1: a simulator, so polydaq marks the data simulated however it reached it)\n"
    "  M?   -> H<scale> <hardness> T <dwell s> C <1 in contact, 0 not> N <readings taken>\n"
    "         while in contact before the dwell: the live value and time since contact; from the dwell\n"
    "         on: the reading held at the dwell time (N counts them)\n"
    "  GO   -> OK   (lower the presser foot onto the specimen: a new indentation)\n"
    "  UP   -> OK   (lift it)\n"
    "  DWELL <s> -> OK  dwell time of the held reading (default 15)\n"
    "  anything else -> ERR 1\n"
    "\n"
    "  --scale A|D          durometer type (default A)\n"
    "  --hardness H         the material's 15 s hardness, 0..100 (default 65)\n"
    "  --scatter X          relative scatter between indentations (default 0.01)\n"
    "  --creep H            how much higher the instant reading is (default 4)\n"
    "  --serial TEXT        serial number (default D4711)\n"
    "  --seed N             seed of the scatter (default 1)\n"
    "  --time-scale X       instrument seconds per real second (default 1)\n"
    "  --fault SPEC         drop-every=N, corrupt-every=N, stall-after=N[:MS], disconnect-after=N, endless-after=N\n";

struct durometer {
    char scale;
    double hardness, scatter, creep, time_scale;
    uint64_t seed;
    char serial[32];
    int contact;
    double contact_at;
    double dwell;
    unsigned long indentation;
    unsigned long readings; /* held readings completed */
    int held;
};

static double noise(uint64_t seed, uint64_t k)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + k * 0xBF58476D1CE4E5B9ull + 7;
    double sum = 0;
    for (int i = 0; i < 12; i++) {
        x ^= x >> 31;
        x *= 0x94D049BB133111EBull;
        x ^= x >> 29;
        sum += (double)(x >> 11) / 9007199254740992.0;
    }
    return sum - 6.0;
}

static size_t durometer_handle(void *ctx, const char *req, char *out, size_t size)
{
    struct durometer *d = ctx;
    int n;
    double now = line_server_clock(d->time_scale);
    if (strcmp(req, "ID?") == 0) {
        /* SIM 1 always: the identity declares the simulator (config/instruments/durometer.yaml
         * captures it as {simulated}), so its data are never taken for a real instrument's. */
        n = snprintf(out, size, "DUR SHORE-%c SN %s FW 2.1 SIM 1\r\n", d->scale, d->serial);
    } else if (strncmp(req, "DWELL ", 6) == 0) {
        char *end;
        errno = 0;
        double v = strtod(req + 6, &end);
        if (end == req + 6 || *end || errno || !(v >= 0.5 && v <= 60))
            n = snprintf(out, size, "ERR 2\r\n");
        else {
            d->dwell = v;
            n = snprintf(out, size, "OK\r\n");
        }
    } else if (strcmp(req, "M?") == 0) {
        double h = 0, t = 0;
        if (d->contact) {
            t = now - d->contact_at;
            if (t >= d->dwell) {
                t = d->dwell; /* the reading latched by the dwell timer */
                if (!d->held) {
                    d->held = 1;
                    d->readings++;
                }
            }
            double h15 = d->hardness * (1 + d->scatter * noise(d->seed, d->indentation));
            /* the indentor creeps in: the reading falls towards its long-time value */
            h = h15 + d->creep * (exp(-t / 4.0) - exp(-15.0 / 4.0));
            if (!d->held)
                h += 0.05 * noise(d->seed + 99, (uint64_t)(now * 50));
            h = h < 0 ? 0 : h > 100 ? 100 : h;
        }
        n = snprintf(out, size, "H%c %5.1f T %6.2f C %d N %lu\r\n", d->scale, h, t, d->contact, d->readings);
    } else if (strcmp(req, "GO") == 0) {
        d->contact = 1;
        d->held = 0;
        d->contact_at = now;
        d->indentation++;
        n = snprintf(out, size, "OK\r\n");
    } else if (strcmp(req, "UP") == 0) {
        d->contact = 0;
        n = snprintf(out, size, "OK\r\n");
    } else {
        n = snprintf(out, size, "ERR 1\r\n");
    }
    return n > 0 ? (size_t)n : 0;
}

static int durometer_text_option(void *ctx, const char *opt, const char *val)
{
    struct durometer *d = ctx;
    if (strcmp(opt, "--scale") == 0) {
        if (strcmp(val, "A") != 0 && strcmp(val, "D") != 0)
            return line_usage_error("durometer", "--scale must be A or D, not '%s'", val);
        d->scale = val[0];
        return 1;
    }
    if (strcmp(opt, "--serial") == 0) {
        if (strlen(val) >= sizeof d->serial || strchr(val, ' '))
            return line_usage_error("durometer", "--serial '%s' is too long or has a blank", val);
        strcpy(d->serial, val);
        return 1;
    }
    return 0;
}

static int durometer_main(int argc, char **argv)
{
    struct durometer d = {.scale = 'A', .hardness = 65, .scatter = 0.01, .creep = 4, .time_scale = 1, .seed = 1,
                        .dwell = 15};
    strcpy(d.serial, "D4711");
    struct line_server_options o = {.instrument = "durometer"};
    double seed = 1;
    const struct line_number numbers[] = {
        {"--hardness", &d.hardness, 0, 100, 0},  {"--scatter", &d.scatter, 0, 0.2, 0},
        {"--creep", &d.creep, 0, 20, 0},         {"--seed", &seed, 0, 1.8e19, 0},
        {"--time-scale", &d.time_scale, 0, 10000, 1},
    };
    const struct line_cli cli = {.usage = durometer_usage, .server = &o, .numbers = numbers,
                                 .n_numbers = sizeof numbers / sizeof numbers[0],
                                 .text_option = durometer_text_option, .ctx = &d};
    int status = line_cli_parse(&cli, argc, argv);
    if (status != LINE_CLI_SERVE)
        return status;
    d.seed = (uint64_t)seed;
    return line_server_run(&o, durometer_handle, &d);
}

const struct sim_instrument sim_durometer = {
    .name = "durometer",
    .summary = "Shore A/D durometer on a stand, ASCII over a pty or raw TCP",
    .main = durometer_main,
};
