/* line_server.h — the host side of the simulated serial-line instruments (balance, durometer, melt
 * flow indexer): serves a line-oriented request/response protocol on a pty (`--pty PATH|auto`) or a
 * raw TCP byte stream (`--tcp HOST:PORT`), and injects the faults the tests need (dropped bytes,
 * corrupted lines, stalls, disconnects, endless lines). The instrument supplies only a handler
 * turning one request line into its reply. */
#ifndef SIM_LINE_SERVER_H
#define SIM_LINE_SERVER_H

#include <stddef.h>

struct line_faults {
    unsigned long drop_every;       /* every Nth reply loses its last bytes (no terminator) */
    unsigned long corrupt_every;    /* every Nth reply has garbage in the middle */
    unsigned long stall_after;      /* after N replies: answer nothing ... */
    unsigned long stall_ms;         /* ... for this long (0: for ever) */
    unsigned long disconnect_after; /* after N replies: drop the connection (pty: the port vanishes) */
    unsigned long endless_after;    /* reply N is replaced by an endless line (8 KiB, no terminator) */
};

struct line_server_options {
    const char *instrument; /* for messages: "balance" */
    const char *pty;        /* path of one end of a pty pair, or "auto" */
    const char *tcp;        /* HOST:PORT */
    struct line_faults faults;
    int cr_ends_request;    /* a CR alone ends a request (LF ignored), for CR-terminated protocols */
};

/* A reply for one request line: `out` receives the reply with its terminators (one or more
 * lines); return its length, 0 for no reply. */
typedef size_t (*line_handler_fn)(void *ctx, const char *request, char *out, size_t size);

/* Parses `--fault SPEC` values: comma-separated drop-every=N, corrupt-every=N, stall-after=N[:MS],
 * disconnect-after=N, endless-after=N, or "off". Returns 0, or -1 with a message in why. */
int line_faults_parse(struct line_faults *f, const char *spec, char *why, size_t why_size);

/* Handles --pty/--tcp/--fault; returns 1 when `opt` was one of them (value consumed), 0 when not
 * ours, -1 (message printed) for a bad value. */
int line_server_option(struct line_server_options *o, const char *opt, const char *val);

/* A numeric option of a line instrument, accepted within [lo, hi] (lo excluded when lo_open). */
struct line_number {
    const char *option; /* "--mfr" */
    double *target;
    double lo, hi;
    int lo_open;
};

/* The option loop every line instrument shares: --help, the server's options (--pty, --tcp,
 * --fault), numbers from a table, and the instrument's own text options. */
struct line_cli {
    const char *usage; /* printed for --help */
    struct line_server_options *server;
    const struct line_number *numbers;
    size_t n_numbers;
    /* Text-valued options: 1 (taken), 0 (not one of them) or 2 after line_usage_error. NULL: none. */
    int (*text_option)(void *ctx, const char *opt, const char *val);
    void *ctx;
};

#define LINE_CLI_SERVE (-1)

/* Parses argv (after the instrument's name): LINE_CLI_SERVE to go on and serve, else the exit
 * status (0 after --help, 2 after a usage error on stderr). */
int line_cli_parse(const struct line_cli *cli, int argc, char **argv);

/* "polydaq-sim: INSTRUMENT: " + fmt (one %s for arg) + " (see --help)" on stderr; returns 2. */
int line_usage_error(const char *instrument, const char *fmt, const char *arg);

/* Serves until SIGTERM/SIGINT (or the pty vanishes). Prints `listening tcp-raw://HOST:PORT` or
 * `listening /dev/pts/N` (auto) or `serving PATH` on stdout first. Lines starting with "#FAULT "
 * change the faults at run time (answered "#OK" or "#ERR ..."). Returns the exit status. */
int line_server_run(const struct line_server_options *o, line_handler_fn handler, void *ctx);

/* Instrument seconds since the server started, scaled by time_scale. */
double line_server_clock(double time_scale);

#endif
