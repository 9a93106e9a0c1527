/* edge-dataplane: parses the command line and runs the node (core/daemon.c). */
#include "admin/admin.h"
#include "core/daemon.h"
#include "edge_config.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LISTEN 16

static void
usage(FILE *f)
{
    fprintf(f, "usage: edge-dataplane --control-plane ADDR:PORT [options]\n"
               "       edge-dataplane --config-file FILE [options]\n"
               "  --control-plane ADDR:PORT  the control plane's Config service\n"
               "  --config-file FILE         serve a packed edge.v1.ConfigUpdate (debug, tests;\n"
               "                             SIGHUP reloads it)\n"
               "  --listen ADDR:PORT         HTTP listener, repeatable (default 0.0.0.0:8080)\n"
               "  --workers N                worker threads (default: number of cores)\n"
               "  --admin ADDR:PORT          admin/metrics port (default 127.0.0.1:9901)\n"
               "  --cache-dir DIR            snapshot cache and node id (default ./edge-cache)\n"
               "  --node-id ID               node id (default: made once, kept in the cache)\n"
               "  --token T                  node token for the control plane\n"
               "  --token-file FILE          the same, from the first line of FILE (not in ps)\n"
               "  --cp-ca FILE               TLS to the control plane: the CA that signed its\n"
               "                             certificate (PEM); checked against its address\n"
               "  --cp-cert FILE             client certificate for mutual TLS (PEM, with\n"
               "  --cp-key FILE              its key); implies TLS with the system's CAs\n"
               "                             when --cp-ca is not given\n"
               "  --access-log PATH|-        JSON access log lines (off by default)\n"
               "  --drain-timeout-ms MS      on SIGTERM, wait this long for requests (10000)\n"
               "  --max-body-bytes N         default request body limit (10485760)\n"
               "  --header-timeout-ms MS     request head timeout (10000)\n"
               "  --idle-timeout-ms MS       keep-alive idle timeout (60000)\n"
               "  --body-timeout-ms MS       request body inactivity timeout (30000)\n"
               "  --log-level L              debug, info, warn, error (info)\n"
               "  --help, --version\n");
}

static int
parse_u64(const char *s, uint64_t *ret)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -EINVAL;
    *ret = v;
    return 0;
}

/* The first line of path (without its line end) into buf. */
static int
read_token(const char *path, char *buf, size_t len, char *err, size_t err_len)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, err_len, "--token-file %s: %s", path, strerror(errno));
        return -1;
    }
    bool got = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    buf[got ? strcspn(buf, "\r\n") : 0] = '\0';
    if (!buf[0]) {
        snprintf(err, err_len, "--token-file %s: no token on its first line", path);
        return -1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    enum {
        O_CP = 1000,
        O_CONFIG,
        O_LISTEN,
        O_WORKERS,
        O_ADMIN,
        O_CACHE,
        O_NODE,
        O_TOKEN,
        O_TOKEN_FILE,
        O_CP_CA,
        O_CP_CERT,
        O_CP_KEY,
        O_ALOG,
        O_DRAIN,
        O_MAXBODY,
        O_HDR_TO,
        O_BODY_TO,
        O_IDLE_TO,
        O_LEVEL,
        O_HELP,
        O_VERSION
    };
    static const struct option opts[] = {
        {"control-plane", required_argument, NULL, O_CP},
        {"config-file", required_argument, NULL, O_CONFIG},
        {"listen", required_argument, NULL, O_LISTEN},
        {"workers", required_argument, NULL, O_WORKERS},
        {"admin", required_argument, NULL, O_ADMIN},
        {"cache-dir", required_argument, NULL, O_CACHE},
        {"node-id", required_argument, NULL, O_NODE},
        {"token", required_argument, NULL, O_TOKEN},
        {"token-file", required_argument, NULL, O_TOKEN_FILE},
        {"cp-ca", required_argument, NULL, O_CP_CA},
        {"cp-cert", required_argument, NULL, O_CP_CERT},
        {"cp-key", required_argument, NULL, O_CP_KEY},
        {"access-log", required_argument, NULL, O_ALOG},
        {"drain-timeout-ms", required_argument, NULL, O_DRAIN},
        {"max-body-bytes", required_argument, NULL, O_MAXBODY},
        {"header-timeout-ms", required_argument, NULL, O_HDR_TO},
        {"idle-timeout-ms", required_argument, NULL, O_IDLE_TO},
        {"body-timeout-ms", required_argument, NULL, O_BODY_TO},
        {"log-level", required_argument, NULL, O_LEVEL},
        {"help", no_argument, NULL, O_HELP},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    const char *cp = NULL, *config_file = NULL, *admin = "127.0.0.1:9901";
    const char *cache_dir = "./edge-cache", *node_id = NULL, *token = NULL, *alog = NULL;
    const char *token_file = NULL, *cp_ca = NULL, *cp_cert = NULL, *cp_key = NULL;
    const char *listen[MAX_LISTEN + 1] = {0};
    unsigned n_listen = 0;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t workers = cores > 0 ? (uint64_t)cores : 1, drain_ms = 10000;
    uint64_t max_body = 10 * 1024 * 1024, hdr_to = 10000, idle_to = 60000, body_to = 30000;
    edge_log_set_ident("dataplane");
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        uint64_t *num = NULL;
        switch (o) {
        case O_CP:
            cp = optarg;
            break;
        case O_CONFIG:
            config_file = optarg;
            break;
        case O_LISTEN:
            if (n_listen == MAX_LISTEN) {
                fprintf(stderr, "edge-dataplane: at most %d --listen\n", MAX_LISTEN);
                return 2;
            }
            listen[n_listen++] = optarg;
            break;
        case O_WORKERS:
            num = &workers;
            break;
        case O_ADMIN:
            admin = optarg;
            break;
        case O_CACHE:
            cache_dir = optarg;
            break;
        case O_NODE:
            node_id = optarg;
            break;
        case O_TOKEN:
            token = optarg;
            break;
        case O_TOKEN_FILE:
            token_file = optarg;
            break;
        case O_CP_CA:
            cp_ca = optarg;
            break;
        case O_CP_CERT:
            cp_cert = optarg;
            break;
        case O_CP_KEY:
            cp_key = optarg;
            break;
        case O_ALOG:
            alog = optarg;
            break;
        case O_DRAIN:
            num = &drain_ms;
            break;
        case O_MAXBODY:
            num = &max_body;
            break;
        case O_HDR_TO:
            num = &hdr_to;
            break;
        case O_IDLE_TO:
            num = &idle_to;
            break;
        case O_BODY_TO:
            num = &body_to;
            break;
        case O_LEVEL: {
            enum edge_log_level lv;
            if (edge_log_parse_level(optarg, &lv) < 0) {
                fprintf(stderr, "edge-dataplane: bad --log-level \"%s\"\n", optarg);
                return 2;
            }
            edge_log_set_level(lv);
            break;
        }
        case O_HELP:
            usage(stdout);
            return 0;
        case O_VERSION:
            printf("edge-dataplane %s\n", EDGE_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (num && parse_u64(optarg, num) < 0) {
            fprintf(stderr, "edge-dataplane: bad number \"%s\"\n", optarg);
            return 2;
        }
    }
    if (optind != argc || (!cp && !config_file)) {
        usage(stderr);
        return 2;
    }
    if (workers == 0 || workers > 256) {
        fprintf(stderr, "edge-dataplane: --workers must be 1..256\n");
        return 2;
    }
    char token_buf[1024];
    if (token_file) {
        if (token) {
            fprintf(stderr, "edge-dataplane: --token and --token-file: one of them\n");
            return 2;
        }
        char terr[512];
        if (read_token(token_file, token_buf, sizeof(token_buf), terr, sizeof(terr)) < 0) {
            edge_log_error("%s", terr);
            return 1;
        }
        token = token_buf;
    }
    if (n_listen == 0)
        listen[n_listen++] = "0.0.0.0:8080";
    signal(SIGPIPE, SIG_IGN);

    static struct dp_daemon d;
    d.settings = (struct dp_settings){
        .listen = listen,
        .workers = (unsigned)workers,
        .header_timeout_ms = (uint32_t)hdr_to,
        .idle_timeout_ms = (uint32_t)idle_to,
        .body_timeout_ms = (uint32_t)body_to,
        .max_body_bytes = max_body,
        .max_uri_bytes = 8192,
        .max_headers = 100,
        .max_conns_per_worker = 20000,
        .access_log_fd = -1,
    };
    d.drain_timeout_ms = (uint32_t)drain_ms;
    d.node_id = node_id;
    d.config_file = config_file;
    if (alog) {
        d.settings.access_log_fd =
            strcmp(alog, "-") == 0 ? STDOUT_FILENO
                                   : open(alog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (d.settings.access_log_fd < 0) {
            edge_log_error("access log %s: %s", alog, strerror(errno));
            return 1;
        }
    }
    char err[512] = "";
    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    if (dp_daemon_init(&d, loop, err, sizeof(err)) < 0) {
        edge_log_error("%s", err);
        dp_daemon_done(&d);
        return 1;
    }
    d.admin = dp_admin_new(&d, admin, err, sizeof(err));
    if (!d.admin) {
        edge_log_error("%s", err);
        dp_daemon_done(&d);
        return 1;
    }
    if (config_file && dp_daemon_load_file(&d, config_file, err, sizeof(err)) < 0) {
        edge_log_error("config file: %s", err);
        dp_daemon_done(&d);
        return 1;
    }
    if (cp) {
        struct dp_cplink_config cc = {.target = cp,
                                      .cache_dir = cache_dir,
                                      .node_id = node_id,
                                      .token = token,
                                      .ca_file = cp_ca,
                                      .cert_file = cp_cert,
                                      .key_file = cp_key};
        if (dp_cplink_start(&d, &cc, err, sizeof(err)) < 0) {
            edge_log_error("control plane: %s", err);
            dp_daemon_done(&d);
            return 1;
        }
    }
    edge_log_info("serving on %s (%u workers), admin on %s", listen[0], d.n_workers, admin);
    dp_daemon_run(&d);
    dp_daemon_done(&d);
    edge_log_info("stopped");
    return 0;
}
