/* cmd_scan.c — `polydaq scan`: lists the serial ports and, with --probe, asks each named port (or
 * every listed one) for an identity — MT-SICS I4, Modbus report-slave-id (FC17) — at the usual
 * baud rates, printing an instrument section ready to paste into a lab config. Only identity
 * queries are sent: nothing that changes an instrument's state. */
#include <errno.h>
#include <getopt.h>
#include <modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "mtsics/protocol.h"
#include "transport/transport.h"

static const char scan_usage[] =
    "usage: polydaq scan [--probe [PORT|tcp-raw://HOST:PORT|tcp://HOST:PORT]...] [--unit ID]\n"
    "\n"
    "Lists the serial ports (name, description, USB vendor/product/serial). With --probe, asks each\n"
    "named port (the listed ports when none is named; ptys must be named) who is there: MT-SICS I4\n"
    "(balances), then Modbus RTU report-slave-id (FC17) at 9600/19200/38400/115200 baud, even and no\n"
    "parity; tcp-raw:// gets I4, tcp:// Modbus TCP FC17. Prints an instrument section for each\n"
    "instrument found, to paste into a lab config's `instruments:` list.\n"
    "  --unit ID      Modbus unit id to ask (default 1)\n"
    "  --timeout MS   answer timeout per query (default 300)\n";

static const long bauds[] = {9600, 19200, 38400, 115200, 4800, 2400};
#define N_BAUDS (sizeof bauds / sizeof bauds[0])

static int probe_mtsics(const char *port, long baud, int timeout_ms, char *serial, size_t size)
{
    struct pd_serial_params sp;
    pd_serial_params_default(&sp);
    sp.baud = baud;
    struct pd_transport *t;
    struct pd_err err;
    if (pd_transport_open(port, &sp, timeout_ms, &t, &err) < 0)
        return -1;
    char line[256];
    size_t len;
    int found = -1;
    if (pd_transport_request(t, "I4", line, sizeof line, &len, timeout_ms, NULL, &err) == 0) {
        struct mtsics_reply r;
        char why[64];
        if (mtsics_parse(line, &r, why, sizeof why) == 0 && strcmp(r.cmd, "I4") == 0 && r.has_text) {
            pd_strlcpy(serial, r.text, size);
            found = 0;
        }
    }
    pd_transport_close(t);
    return found;
}

static void print_mtsics(const char *port, long baud, const char *serial, int index, bool is_tcp)
{
    printf("# %s: MT-SICS balance, serial %s%s\n", port, serial, is_tcp ? "" : ", 8N1");
    printf("  - name: balance%d\n    driver: mtsics\n    transport: %s\n", index, port);
    if (!is_tcp)
        printf("    baud: %ld\n    parity: none\n    data_bits: 8\n    stop_bits: 1\n", baud);
    printf("    serial: \"%s\"\n    command: SI\n    response_timeout_ms: 1500\n", serial);
}

/* Text of a report-slave-id answer: id byte, run indicator, then device-specific bytes. */
static void slave_id_text(const uint8_t *buf, int n, char *out, size_t size)
{
    size_t o = 0;
    for (int i = 2; i < n && o + 1 < size; i++)
        if (buf[i] >= 0x20 && buf[i] < 0x7f && buf[i] != '"' && buf[i] != '\\')
            out[o++] = (char)buf[i];
    out[o] = '\0';
}

static int probe_modbus(modbus_t *ctx, int unit, int timeout_ms, char *text, size_t size, int *id)
{
    if (!ctx)
        return -1;
    modbus_set_slave(ctx, unit);
    modbus_set_response_timeout(ctx, (uint32_t)(timeout_ms / 1000), (uint32_t)(timeout_ms % 1000) * 1000u);
    int found = -1;
    if (modbus_connect(ctx) == 0) {
        uint8_t buf[MODBUS_MAX_PDU_LENGTH];
        int n = modbus_report_slave_id(ctx, sizeof buf, buf);
        if (n >= 2) {
            *id = buf[0];
            slave_id_text(buf, n, text, size);
            found = 0;
        }
        modbus_close(ctx);
    }
    modbus_free(ctx);
    return found;
}

static void print_modbus(const char *port, long baud, char parity, int unit, int id, const char *text, int index)
{
    bool tcp = strncmp(port, "tcp://", 6) == 0;
    printf("# %s: Modbus %s unit %d, slave id %d \"%s\"%s\n", port, tcp ? "TCP" : "RTU", unit, id, text,
           tcp ? "" : parity == 'E' ? ", 8E1" : ", 8N1");
    printf("# the register map is the instrument's own: replace the one channel below by its map\n");
    printf("  - name: modbus%d\n    driver: modbus\n    transport: %s%s\n    unit: %d\n    address_base: 0\n", index,
           tcp ? "" : "rtu:", port, unit);
    if (!tcp)
        printf("    baud: %ld\n    parity: %s\n    data_bits: 8\n    stop_bits: 1\n", baud,
               parity == 'E' ? "even" : "none");
    printf("    model: \"%s\"\n    channels:\n      - {name: register0, table: holding, address: 0, type: uint16}\n",
           text);
}

/* Probes one port; returns 1 when something answered. */
static int probe(const char *port, int unit, int timeout_ms, int index)
{
    char serial[128], text[128];
    int id;
    if (strncmp(port, "tcp-raw://", 10) == 0) {
        if (probe_mtsics(port, 9600, timeout_ms, serial, sizeof serial) == 0) {
            print_mtsics(port, 0, serial, index, true);
            return 1;
        }
        return 0;
    }
    if (strncmp(port, "tcp://", 6) == 0) {
        char host[256];
        long p;
        if (!pd_transport_split_hostport(port + 6, host, sizeof host, &p))
            return 0;
        char ps[16];
        snprintf(ps, sizeof ps, "%ld", p);
        if (probe_modbus(modbus_new_tcp_pi(host, ps), unit, timeout_ms, text, sizeof text, &id) == 0) {
            print_modbus(port, 0, 'N', unit, id, text, index);
            return 1;
        }
        return 0;
    }
    for (size_t b = 0; b < N_BAUDS; b++)
        if (probe_mtsics(port, bauds[b], timeout_ms, serial, sizeof serial) == 0) {
            print_mtsics(port, bauds[b], serial, index, false);
            return 1;
        }
    static const char parities[] = {'E', 'N'};
    for (size_t b = 0; b < N_BAUDS; b++)
        for (size_t q = 0; q < sizeof parities; q++)
            if (probe_modbus(modbus_new_rtu(port, (int)bauds[b], parities[q], 8, 1), unit, timeout_ms, text, sizeof text,
                             &id) == 0) {
                print_modbus(port, bauds[b], parities[q], unit, id, text, index);
                return 1;
            }
    return 0;
}

static int scan_main(int argc, char **argv)
{
    static const struct option longopts[] = {{"probe", no_argument, NULL, 'p'},
                                             {"unit", required_argument, NULL, 'u'},
                                             {"timeout", required_argument, NULL, 't'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    bool do_probe = false;
    long unit = 1, timeout_ms = 300;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "pu:t:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': do_probe = true; break;
        case 'u':
            if (!pd_parse_long(optarg, &unit) || unit < 1 || unit > 247)
                return cli_usage_error("scan", "--unit must be 1..247, not '%s'", optarg);
            break;
        case 't':
            if (!pd_parse_long(optarg, &timeout_ms) || timeout_ms < 10 || timeout_ms > 10000)
                return cli_usage_error("scan", "--timeout must be 10..10000 ms, not '%s'", optarg);
            break;
        case 'h': fputs(scan_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("scan", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (!do_probe && optind < argc)
        return cli_usage_error("scan", "ports are named only with --probe");
    struct pd_port_info *ports = NULL;
    size_t n = 0;
    struct pd_err err;
    if (optind == argc || !do_probe) {
        if (pd_transport_list_ports(&ports, &n, &err) < 0)
            return cli_fail(&err);
        if (!do_probe) {
            if (n == 0)
                printf("no serial ports found (ptys are not listed: name them with --probe)\n");
            for (size_t i = 0; i < n; i++) {
                printf("%s\t%s\t%s", ports[i].name, ports[i].kind, ports[i].description);
                if (ports[i].usb_vid >= 0)
                    printf("\tUSB %04x:%04x", ports[i].usb_vid, ports[i].usb_pid);
                if (ports[i].usb_serial[0])
                    printf("\tserial %s", ports[i].usb_serial);
                if (ports[i].usb_manufacturer[0] || ports[i].usb_product[0])
                    printf("\t%s %s", ports[i].usb_manufacturer, ports[i].usb_product);
                putchar('\n');
            }
            free(ports);
            return PD_EXIT_OK;
        }
    }
    int found = 0;
    if (optind < argc) {
        for (int i = optind; i < argc; i++) {
            int got = probe(argv[i], (int)unit, (int)timeout_ms, found + 1);
            if (!got)
                fprintf(stderr, "polydaq scan: %s: no answer to MT-SICS I4 or Modbus report-slave-id\n", argv[i]);
            found += got;
        }
    } else {
        for (size_t i = 0; i < n; i++)
            found += probe(ports[i].name, (int)unit, (int)timeout_ms, found + 1);
    }
    free(ports);
    return found > 0 ? PD_EXIT_OK : PD_EXIT_RUNTIME;
}

const struct cli_command cli_cmd_scan = {
    .name = "scan",
    .synopsis = "scan [--probe [PORT]...]",
    .summary = "list serial ports; identify instruments and print config snippets",
    .main = scan_main,
};
