/* cmd_serve.c — `polydaq serve`: the lab server on a data folder until SIGTERM or SIGINT. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "server/server.h"

static const char serve_usage[] =
    "usage: polydaq serve --data DIR [--listen ADDR:PORT] [--tls-proxy] [--threads N]\n"
    "                     [--session-idle SECONDS] [--session-max SECONDS] [--access-log FILE]\n"
    "                     [--smtp smtp://HOST:PORT --mail-from ADDRESS] [--lab LAB.yaml]\n"
    "\n"
    "Serves the lab's JSON API (/api/v1/, docs/openapi.yaml) and its web pages (/) over\n"
    "DIR/server.sqlite (created when missing). --listen defaults to 127.0.0.1:8080 (IPv6:\n"
    "[::1]:8080; port 0: any free port). The server speaks plain HTTP: put it behind the lab's TLS\n"
    "reverse proxy and say so with --tls-proxy\n"
    "(cookies then get Secure, and X-Real-IP from a loopback proxy names the client). Prints\n"
    "'listening http://ADDR:PORT' when ready; one JSON line per request goes to the access log\n"
    "(default: stdout). A session ends after --session-idle unused (default 1800 s) and\n"
    "--session-max after login (default 43200 s). SIGTERM or SIGINT: stop accepting, finish the\n"
    "requests in flight (up to 10 s), exit 0. E-mail notices to members go through the SMTP relay\n"
    "--smtp as --mail-from; without --smtp they wait in the outbox until a server runs with one.\n"
    "The rest of DIR: certs/ (the certificate registry; lab.key there lets an authorizer issue from\n"
    "the browser), runs/ (run files), specs/ (the specifications certify offers), public/ (the\n"
    "published keys) — docs/SERVER.md.\n"
    "--lab names the lab config whose instruments are the test stations (config/station-demo.yaml):\n"
    "technicians start series on them from /stations; each runs as its own 'polydaq run' process\n"
    "(DIR/stations/, DIR/runs/) and goes on when the server stops (docs/STATION.md).\n";

static bool parse_listen(const char *s, char *addr, size_t size, long *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return false;
    size_t n = (size_t)(colon - s);
    if (s[0] == '[') { /* [v6]:port */
        if (s[n - 1] != ']' || n < 3)
            return false;
        s++, n -= 2;
    }
    if (n >= size)
        return false;
    memcpy(addr, s, n);
    addr[n] = '\0';
    return pd_parse_long(colon + 1, port) && *port >= 0 && *port <= 65535;
}

static int serve_main(int argc, char **argv)
{
    static const struct option longopts[] = {{"data", required_argument, NULL, 'd'},
                                             {"listen", required_argument, NULL, 'l'},
                                             {"tls-proxy", no_argument, NULL, 't'},
                                             {"threads", required_argument, NULL, 'n'},
                                             {"session-idle", required_argument, NULL, 'i'},
                                             {"session-max", required_argument, NULL, 'x'},
                                             {"access-log", required_argument, NULL, 'a'},
                                             {"smtp", required_argument, NULL, 's'},
                                             {"mail-from", required_argument, NULL, 'f'},
                                             {"lab", required_argument, NULL, 'L'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    struct pd_server_options opt = {.listen_addr = "127.0.0.1", .port = 8080};
    const char *listen = "127.0.0.1:8080", *log_path = NULL;
    long threads = 0, idle = 0, max = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': opt.data_dir = optarg; break;
        case 'L': opt.lab_path = optarg; break;
        case 'l': listen = optarg; break;
        case 't': opt.tls_proxy = true; break;
        case 'n':
            if (!pd_parse_long(optarg, &threads) || threads < 1 || threads > 64)
                return cli_usage_error("serve", "--threads must be 1 to 64, not '%s'", optarg);
            break;
        case 'i':
            if (!pd_parse_long(optarg, &idle) || idle < 1 || idle > 86400)
                return cli_usage_error("serve", "--session-idle must be 1 to 86400 seconds, not '%s'", optarg);
            break;
        case 'x':
            if (!pd_parse_long(optarg, &max) || max < 1 || max > 30 * 86400)
                return cli_usage_error("serve", "--session-max must be 1 to 2592000 seconds, not '%s'", optarg);
            break;
        case 'a': log_path = optarg; break;
        case 's': opt.smtp_url = optarg; break;
        case 'f': opt.mail_from = optarg; break;
        case 'h': fputs(serve_usage, stdout); return PD_EXIT_OK;
        default: return cli_usage_error("serve", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    if (!opt.data_dir)
        return cli_usage_error("serve", "--data DIR is required");
    if ((opt.smtp_url != NULL) != (opt.mail_from != NULL))
        return cli_usage_error("serve", "--smtp and --mail-from go together");
    char addr[64];
    long port;
    if (!parse_listen(listen, addr, sizeof addr, &port))
        return cli_usage_error("serve", "--listen must be ADDR:PORT (e.g. 127.0.0.1:8080 or [::1]:8080), not '%s'",
                               listen);
    opt.listen_addr = addr;
    opt.port = (uint16_t)port;
    opt.threads = (unsigned)threads;
    opt.session_idle_s = (int)idle;
    opt.session_absolute_s = (int)max;
    FILE *log = stdout;
    if (log_path && strcmp(log_path, "-") != 0 && !(log = fopen(log_path, "a"))) {
        fprintf(stderr, "polydaq serve: cannot open the access log '%s'\n", log_path);
        return PD_EXIT_USAGE;
    }
    opt.access_log = log;
    /* The stop signals are taken by this thread alone (sigwait): the server's threads, started
     * below, inherit the blocked mask. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct pd_server *srv;
    struct pd_err err;
    pd_err_clear(&err);
    int rc = pd_server_start(&opt, &srv, &err);
    if (rc < 0) {
        if (log != stdout)
            fclose(log);
        return rc == PD_ECONFIG || rc == PD_EIO ? cli_fail_input(&err) : cli_fail(&err);
    }
    fprintf(stderr, "polydaq serve: listening http://%s%s%s:%u (data %s)\n", strchr(addr, ':') ? "[" : "", addr,
            strchr(addr, ':') ? "]" : "", (unsigned)pd_server_port(srv), opt.data_dir);
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "polydaq serve: %s: finishing the requests in flight\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    pd_server_stop(srv, 10000);
    if (log != stdout)
        fclose(log);
    fprintf(stderr, "polydaq serve: stopped\n");
    return PD_EXIT_OK;
}

const struct cli_command cli_cmd_serve = {
    .name = "serve",
    .synopsis = "serve --data DIR [--listen ADDR:PORT]",
    .summary = "the lab server: JSON API for members and staff",
    .main = serve_main,
};
