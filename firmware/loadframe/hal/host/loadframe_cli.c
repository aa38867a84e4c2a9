/* loadframe_cli.c — `polydaq-sim loadframe`: options of the simulated load frame, then serve. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadframe/core/model.h"
#include "material_file.h"
#include "modbus_server.h"
#include "sim/sim.h"

#define EXIT_USAGE 2

static const char loadframe_usage[] =
    "usage: polydaq-sim loadframe --tcp HOST:PORT [OPTIONS]\n"
    "Simulated load frame serving the register map of firmware/loadframe/REGISTERS.md over Modbus TCP.\n"
    "PORT 0 picks a free port; the actual address is printed as `listening tcp://HOST:PORT`.\n"
    "\n"
    "  --tcp HOST:PORT       address to listen on (required)\n"
    "  --unit ID             Modbus unit id, 1..247 (default 1; requests for 0 and 255 are also answered)\n"
    "  --material NAME|FILE  built-in material or a file of `key = value` lines (default pp-demo)\n"
    "  --seed N              seed of specimen scatter and sensor noise (default 1)\n"
    "  --time-scale X        instrument seconds per real second, (0, 10000] (default 1)\n"
    "  --serial N            serial number (default 1)\n"
    "  --cal-date YYYY-MM-DD calibration date of the force channel (default 2026-06-01)\n"
    "  --force-offset N      load-cell zero offset before tare, N (default 0)\n"
    "material overrides:\n"
    "  --modulus MPA  --yield-stress MPA  --yield-strain FRAC  --draw-stress MPA\n"
    "  --neck-strain FRAC  --break-strain FRAC  --noise-force N  --noise-extension MM  --scatter FRAC\n"
    "\n"
    "material files: modulus, yield_stress, yield_strain, draw_stress, neck_end_strain, break_strain\n"
    "(required); force_noise, extension_noise, scatter (optional).\n";

static int usage_error(const char *fmt, const char *arg)
{
    fputs("polydaq-sim: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (see --help)\n", stderr);
    return EXIT_USAGE;
}

static int parse_double_arg(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int parse_u64_arg(const char *s, uint64_t max, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return -1; /* strtoull would accept "-1" and " 1" */
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || errno == ERANGE || v > max)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

static int parse_date_arg(const char *s, struct lf_frame_params *p)
{
    unsigned y, m, d;
    char tail;
    if (strlen(s) != 10 || sscanf(s, "%4u-%2u-%2u%c", &y, &m, &d, &tail) != 3)
        return -1;
    if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    p->cal_year = (uint16_t)y;
    p->cal_month = (uint16_t)m;
    p->cal_day = (uint16_t)d;
    return 0;
}

/* Splits "HOST:PORT" or "[V6]:PORT" in place. */
static int split_host_port(char *spec, char **host, char **port)
{
    char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || colon[1] == '\0')
        return -1;
    *colon = '\0';
    *port = colon + 1;
    *host = spec;
    size_t n = strlen(spec);
    if (spec[0] == '[') {
        if (n < 3 || spec[n - 1] != ']')
            return -1;
        spec[n - 1] = '\0';
        *host = spec + 1;
    }
    uint64_t port_no;
    if (parse_u64_arg(*port, 65535, &port_no) != 0)
        return -1;
    return 0;
}

struct material_override {
    const char *option;
    size_t offset; /* of a double in struct lf_material */
};

static const struct material_override override_table[] = {
    {"--modulus", offsetof(struct lf_material, modulus_mpa)},
    {"--yield-stress", offsetof(struct lf_material, yield_stress_mpa)},
    {"--yield-strain", offsetof(struct lf_material, yield_strain)},
    {"--draw-stress", offsetof(struct lf_material, draw_stress_mpa)},
    {"--neck-strain", offsetof(struct lf_material, neck_end_strain)},
    {"--break-strain", offsetof(struct lf_material, break_strain)},
    {"--noise-force", offsetof(struct lf_material, force_noise_n)},
    {"--noise-extension", offsetof(struct lf_material, extension_noise_mm)},
    {"--scatter", offsetof(struct lf_material, scatter_rel)},
};

#define OVERRIDE_COUNT (sizeof override_table / sizeof override_table[0])

static int run_loadframe(int argc, char **argv)
{
    struct lf_frame_params params;
    lf_frame_params_defaults(&params);
    const char *tcp = NULL;
    const char *material = "pp-demo";
    uint64_t unit = 1;
    /* Overrides apply on top of whichever material is chosen, so they are collected first. */
    double override_values[OVERRIDE_COUNT];
    int overridden[OVERRIDE_COUNT] = {0};

    for (int i = 0; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            fputs(loadframe_usage, stdout);
            return 0;
        }
        if (strncmp(opt, "--", 2) != 0)
            return usage_error("loadframe: unexpected argument '%s'", opt);
        if (i + 1 >= argc)
            return usage_error("loadframe: option %s needs a value", opt);
        const char *val = argv[++i];
        uint64_t u;
        double d;
        int matched = 0;
        for (size_t k = 0; k < OVERRIDE_COUNT; k++) {
            if (strcmp(opt, override_table[k].option) == 0) {
                if (parse_double_arg(val, &override_values[k]) != 0)
                    return usage_error("loadframe: %s needs a number", opt);
                overridden[k] = 1;
                matched = 1;
            }
        }
        if (matched)
            continue;
        if (strcmp(opt, "--tcp") == 0) {
            tcp = val;
        } else if (strcmp(opt, "--unit") == 0) {
            if (parse_u64_arg(val, 247, &unit) != 0 || unit < 1)
                return usage_error("loadframe: --unit must be 1..247, not '%s'", val);
        } else if (strcmp(opt, "--material") == 0) {
            material = val;
        } else if (strcmp(opt, "--seed") == 0) {
            if (parse_u64_arg(val, UINT64_MAX, &u) != 0)
                return usage_error("loadframe: --seed must be a non-negative integer, not '%s'", val);
            params.seed = u;
        } else if (strcmp(opt, "--time-scale") == 0) {
            if (parse_double_arg(val, &d) != 0 || !(d > 0.0) || d > 10000.0)
                return usage_error("loadframe: --time-scale must be in (0, 10000], not '%s'", val);
            params.time_scale = d;
        } else if (strcmp(opt, "--serial") == 0) {
            if (parse_u64_arg(val, UINT32_MAX, &u) != 0)
                return usage_error("loadframe: --serial must be 0..4294967295, not '%s'", val);
            params.serial_number = (uint32_t)u;
        } else if (strcmp(opt, "--cal-date") == 0) {
            if (parse_date_arg(val, &params) != 0)
                return usage_error("loadframe: --cal-date must be YYYY-MM-DD, not '%s'", val);
        } else if (strcmp(opt, "--force-offset") == 0) {
            if (parse_double_arg(val, &params.force_offset_n) != 0)
                return usage_error("loadframe: --force-offset needs a number, not '%s'", val);
        } else {
            return usage_error("loadframe: unknown option '%s'", opt);
        }
    }
    if (!tcp)
        return usage_error("loadframe: %s is required", "--tcp HOST:PORT");

    char why[512];
    const struct lf_material *builtin = lf_material_find(material);
    if (builtin) {
        params.material = *builtin;
    } else if (strchr(material, '/') || strchr(material, '.')) {
        if (sim_material_load(material, &params.material, why, sizeof why) != 0)
            return usage_error("loadframe: --material %s", why);
    } else {
        return usage_error("loadframe: unknown material '%s' (built in: pp-demo, abs-demo, "
                           "pa6-demo, brittle-demo; or give a file path)", material);
    }
    for (size_t k = 0; k < OVERRIDE_COUNT; k++)
        if (overridden[k])
            memcpy((char *)&params.material + override_table[k].offset, &override_values[k], sizeof(double));

    const char *reason = NULL;
    struct lf_frame frame;
    if (lf_frame_init(&frame, &params, &reason) != LF_OK)
        return usage_error("loadframe: %s", reason);

    char tcp_copy[300];
    if (strlen(tcp) >= sizeof tcp_copy)
        return usage_error("loadframe: --tcp address too long: '%s'", tcp);
    strcpy(tcp_copy, tcp);
    char *host, *port;
    if (split_host_port(tcp_copy, &host, &port) != 0)
        return usage_error("loadframe: --tcp must be HOST:PORT with PORT 0..65535, not '%s'", tcp);

    struct sim_server *server = NULL;
    if (sim_server_create(&server, host, port, (int)unit, &frame, why, sizeof why) != 0) {
        fprintf(stderr, "polydaq-sim: loadframe: %s\n", why);
        return 1;
    }
    char address[300];
    if (sim_server_address(server, address, sizeof address) != 0) {
        fprintf(stderr, "polydaq-sim: loadframe: cannot name the listening address\n");
        sim_server_destroy(server);
        return 1;
    }
    printf("listening %s\n", address);
    fflush(stdout);
    int rc = sim_server_run(server, why, sizeof why);
    if (rc != 0)
        fprintf(stderr, "polydaq-sim: loadframe: %s\n", why);
    sim_server_destroy(server);
    return rc == 0 ? 0 : 1;
}

const struct sim_instrument sim_loadframe = {
    .name = "loadframe",
    .summary = "tensile load frame, Modbus TCP server",
    .main = run_loadframe,
};
