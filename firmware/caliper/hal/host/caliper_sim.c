/* caliper_sim.c — `polydaq-sim caliper`: a digital caliper behind a Digimatic-to-serial interface,
 * answering a data request with the displayed value in the Mitutoyo line format, CR-terminated.
 * What it displays is told by the test: a fixed --value, or a control file read at every request
 * (a number, or "garbage" / "silent" to act as a faulty link). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance/hal/host/line_server.h"
#include "sim/sim.h"

static const char caliper_usage[] =
    "usage: polydaq-sim caliper (--pty PATH|auto | --tcp HOST:PORT) [OPTIONS]\n"
    "Simulated digital caliper on a Digimatic-to-serial interface (9600 8N1). Protocol (CR):\n"
    "  1    -> 01A+0009.980   the displayed value: '01' (code, channel), 'A', sign, 8 characters\n"
    "                         with the decimal point (mm, 0.001 resolution)\n"
    "  anything else: no answer (as the interface ignores what it does not know)\n"
    "\n"
    "  --value MM           the displayed value (default 10.000)\n"
    "  --control FILE       read at every request: a number in mm is the displayed value; 'garbage'\n"
    "                       answers an unreadable line, 'silent' answers nothing; a missing or empty\n"
    "                       file means --value\n"
    "  --fault SPEC         drop-every=N, corrupt-every=N, stall-after=N[:MS], disconnect-after=N, endless-after=N\n";

struct caliper {
    double value;
    char control[512];
};

/* What the control file says now: 0 a value (in *v), 1 garbage, 2 silent, -1 nothing usable. */
static int read_control(const struct caliper *c, double *v)
{
    if (!c->control[0])
        return -1;
    FILE *f = fopen(c->control, "r");
    if (!f)
        return -1;
    char line[64] = "";
    char *got = fgets(line, sizeof line, f);
    fclose(f);
    if (!got)
        return -1;
    line[strcspn(line, "\r\n")] = '\0';
    if (strcmp(line, "garbage") == 0)
        return 1;
    if (strcmp(line, "silent") == 0)
        return 2;
    char *end;
    errno = 0;
    double x = strtod(line, &end);
    if (end == line || *end || errno || !isfinite(x))
        return -1;
    *v = x;
    return 0;
}

static size_t caliper_handle(void *ctx, const char *req, char *out, size_t size)
{
    struct caliper *c = ctx;
    if (strcmp(req, "1") != 0)
        return 0;
    double v = c->value;
    int mode = read_control(c, &v);
    int n;
    if (mode == 2)
        return 0;
    if (mode == 1)
        n = snprintf(out, size, "01A+00?#.1x\r");
    else
        n = snprintf(out, size, "01A%c%08.3f\r", v < 0 ? '-' : '+', fabs(v));
    return n > 0 ? (size_t)n : 0;
}

static int caliper_text_option(void *ctx, const char *opt, const char *val)
{
    struct caliper *c = ctx;
    if (strcmp(opt, "--control") == 0) {
        if (strlen(val) >= sizeof c->control)
            return line_usage_error("caliper", "--control '%s' is too long a path", val);
        strcpy(c->control, val);
        return 1;
    }
    return 0;
}

static int caliper_main(int argc, char **argv)
{
    struct caliper c = {.value = 10.0};
    struct line_server_options o = {.instrument = "caliper", .cr_ends_request = 1};
    const struct line_number numbers[] = {{"--value", &c.value, -9999, 9999, 0}};
    const struct line_cli cli = {.usage = caliper_usage, .server = &o, .numbers = numbers,
                                 .n_numbers = sizeof numbers / sizeof numbers[0],
                                 .text_option = caliper_text_option, .ctx = &c};
    int status = line_cli_parse(&cli, argc, argv);
    if (status != LINE_CLI_SERVE)
        return status;
    return line_server_run(&o, caliper_handle, &c);
}

const struct sim_instrument sim_caliper = {
    .name = "caliper",
    .summary = "digital caliper on a Digimatic-to-serial interface, over a pty or raw TCP",
    .main = caliper_main,
};
