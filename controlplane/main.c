/* edge-controlplane: owns all configuration (SQLite), serves the Admin API and streams config
 * to data-plane nodes. One thread drives gRPC; see DESIGN.md §5. */
#include "api/api.h"
#include "cp.h"
#include "edge_config.h"
#include "log.h"
#include "rpc/rpc.h"
#include "store/store.h"
#include "watch/watch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct options {
    const char *db;
    const char *listen;
    const char *port_file;
    const char *token_file;
    const char *tls_cert, *tls_key, *tls_client_ca;
    const char *node_token_file;
    int shutdown_grace_ms;
};

static void
usage(FILE *out)
{
    fputs("usage: edge-controlplane --db PATH [--listen ADDR:PORT] [options]\n"
          "\n"
          "Owns Edge's configuration in a SQLite database, serves the edge.v1.Admin API\n"
          "(edgectl) and streams configuration to data-plane nodes (edge.v1.Config/Watch).\n"
          "\n"
          "  --db PATH              SQLite database (created if missing)\n"
          "  --listen ADDR:PORT     gRPC address (default 127.0.0.1:9090; port 0 picks one)\n"
          "  --port-file PATH       write the bound port to PATH once listening\n"
          "  --token-file PATH      admin token file (default PATH-of-db.token, mode 0600)\n"
          "  --tls-cert FILE        serve TLS with this certificate chain (PEM)\n"
          "  --tls-key FILE         private key of --tls-cert (PEM)\n"
          "  --tls-client-ca FILE   require client certificates signed by this CA (mTLS)\n"
          "  --node-token-file FILE data planes must present this token (first line of FILE)\n"
          "  --shutdown-grace-ms N  on SIGTERM, wait up to N ms for calls in flight (2000)\n"
          "  --log-level LEVEL      debug, info, warn or error (default info)\n"
          "  --version              print the version and exit\n"
          "  --help                 print this help and exit\n"
          "\n"
          "Like Redis's protected mode, a control plane listening only on loopback serves\n"
          "without TLS and accepts nodes without credentials; on any other address it refuses\n"
          "to start without --tls-cert/--tls-key and node credentials (--tls-client-ca or\n"
          "--node-token-file).\n",
          out);
}

static bool
listen_is_loopback(const char *listen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    size_t n = colon ? (size_t)(colon - listen) : strlen(listen);
    struct in_addr a4;

    if (n >= sizeof(host))
        return false;
    memcpy(host, listen, n);
    host[n] = '\0';
    if (strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return false;
}

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    if (fseek(f, 0, SEEK_END) == 0) {
        long sz = ftell(f);
        if (sz >= 0 && sz < (64 << 20) && fseek(f, 0, SEEK_SET) == 0) {
            buf = malloc((size_t)sz + 1);
            if (buf) {
                len = fread(buf, 1, (size_t)sz, f);
                buf[len] = '\0';
            }
        }
    }
    fclose(f);
    return buf;
}

static grpc_server_credentials *
make_server_creds(const struct options *o, int *ret_err)
{
    *ret_err = 0;
    if (!o->tls_cert && !o->tls_key)
        return NULL;
    if (!o->tls_cert || !o->tls_key) {
        edge_log_error("--tls-cert and --tls-key go together");
        *ret_err = -EINVAL;
        return NULL;
    }
    char *cert = slurp(o->tls_cert), *key = slurp(o->tls_key);
    char *ca = o->tls_client_ca ? slurp(o->tls_client_ca) : NULL;
    if (!cert || !key || (o->tls_client_ca && !ca)) {
        edge_log_error("cannot read %s", !cert  ? o->tls_cert
                                         : !key ? o->tls_key
                                                : o->tls_client_ca);
        free(cert);
        free(key);
        free(ca);
        *ret_err = -ENOENT;
        return NULL;
    }
    grpc_ssl_pem_key_cert_pair kp = {key, cert};
    grpc_server_credentials *c = grpc_ssl_server_credentials_create_ex(
        ca, &kp, 1,
        ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
           : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
        NULL);
    free(cert);
    free(key);
    free(ca);
    return c;
}

static int
parse_args(int argc, char **argv, struct options *o)
{
    enum {
        O_DB = 256,
        O_LISTEN,
        O_PORT_FILE,
        O_TOKEN_FILE,
        O_CERT,
        O_KEY,
        O_CA,
        O_NODE_TOKEN,
        O_GRACE,
        O_LOG,
        O_VERSION,
        O_HELP
    };
    static const struct option longopts[] = {
        {"db", required_argument, NULL, O_DB},
        {"listen", required_argument, NULL, O_LISTEN},
        {"port-file", required_argument, NULL, O_PORT_FILE},
        {"token-file", required_argument, NULL, O_TOKEN_FILE},
        {"tls-cert", required_argument, NULL, O_CERT},
        {"tls-key", required_argument, NULL, O_KEY},
        {"tls-client-ca", required_argument, NULL, O_CA},
        {"node-token-file", required_argument, NULL, O_NODE_TOKEN},
        {"shutdown-grace-ms", required_argument, NULL, O_GRACE},
        {"log-level", required_argument, NULL, O_LOG},
        {"version", no_argument, NULL, O_VERSION},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    int c;
    enum edge_log_level level;
    char *end;

    o->listen = "127.0.0.1:9090";
    o->shutdown_grace_ms = 2000;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_DB:
            o->db = optarg;
            break;
        case O_LISTEN:
            o->listen = optarg;
            break;
        case O_PORT_FILE:
            o->port_file = optarg;
            break;
        case O_TOKEN_FILE:
            o->token_file = optarg;
            break;
        case O_CERT:
            o->tls_cert = optarg;
            break;
        case O_KEY:
            o->tls_key = optarg;
            break;
        case O_CA:
            o->tls_client_ca = optarg;
            break;
        case O_NODE_TOKEN:
            o->node_token_file = optarg;
            break;
        case O_GRACE:
            errno = 0;
            o->shutdown_grace_ms = (int)strtol(optarg, &end, 10);
            if (errno || *end || o->shutdown_grace_ms < 0 || o->shutdown_grace_ms > 600000) {
                fprintf(stderr,
                        "edge-controlplane: --shutdown-grace-ms: not a number of "
                        "milliseconds (0..600000): \"%s\"\n",
                        optarg);
                return 2;
            }
            break;
        case O_LOG:
            if (edge_log_parse_level(optarg, &level) != 0) {
                fprintf(stderr, "edge-controlplane: --log-level: expected debug, info, warn or "
                                "error\n");
                return 2;
            }
            edge_log_set_level(level);
            break;
        case O_VERSION:
            printf("edge-controlplane %s\n", EDGE_VERSION);
            return 0;
        case 'h':
        case O_HELP:
            usage(stdout);
            return 0;
        default:
            fputs("Try 'edge-controlplane --help'.\n", stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "edge-controlplane: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    if (!o->db) {
        fputs("edge-controlplane: --db PATH is required\nTry 'edge-controlplane --help'.\n",
              stderr);
        return 2;
    }
    return -1;
}

static int
write_port_file(const char *path, int port)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -errno;
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0)
        return -EIO;
    return rename(tmp, path) == 0 ? 0 : -errno;
}

static int
run(const struct options *o)
{
    struct cp_ctx cp = {.db_path = o->db, .started_at = (int64_t)time(NULL)};
    char err[512], token_path[4096];
    bool created = false;
    int port = 0, rc = 1, cred_err;
    grpc_server_credentials *creds = NULL;

    if (!listen_is_loopback(o->listen) && !o->tls_cert) {
        edge_log_error("refusing to listen on %s without TLS: only loopback addresses are "
                       "served in the clear (give --tls-cert and --tls-key)",
                       o->listen);
        return 1;
    }
    if (!listen_is_loopback(o->listen) && !o->tls_client_ca && !o->node_token_file) {
        edge_log_error("refusing to listen on %s without node credentials: give "
                       "--tls-client-ca (mTLS) or --node-token-file",
                       o->listen);
        return 1;
    }
    char *node_token = NULL;
    if (o->node_token_file) {
        node_token = slurp(o->node_token_file);
        if (node_token)
            node_token[strcspn(node_token, "\r\n")] = '\0';
        if (!node_token || strlen(node_token) < 16) {
            edge_log_error("cannot use the node token in %s: %s", o->node_token_file,
                           node_token ? "shorter than 16 characters" : strerror(errno));
            free(node_token);
            return 1;
        }
    }
    cp.store = cp_store_open(o->db, err, sizeof(err));
    if (!cp.store) {
        edge_log_error("cannot open the database %s: %s", o->db, err);
        free(node_token);
        return 1;
    }
    snprintf(token_path, sizeof(token_path), "%s.token", o->db);
    if (cp_store_admin_token_bootstrap(cp.store, o->token_file ? o->token_file : token_path,
                                       &created, err, sizeof(err)) != 0) {
        edge_log_error("cannot set up the admin token: %s", err);
        goto out_store;
    }
    if (created)
        edge_log_info("wrote a new admin token to %s (mode 0600)",
                      o->token_file ? o->token_file : token_path);
    (void)cp_store_nodes_reset(cp.store);

    creds = make_server_creds(o, &cred_err);
    if (cred_err)
        goto out_store;
    struct edge_rpc_server_config scfg = {.listen = o->listen, .creds = creds};
    cp.rpc = edge_rpc_server_new(&scfg, &port, err, sizeof(err));
    if (creds)
        grpc_server_credentials_release(creds);
    if (!cp.rpc) {
        edge_log_error("%s", err);
        goto out_store;
    }
    cp.watch = cp_watch_new(&cp, node_token);
    if (cp_api_register(&cp) != 0 || cp_watch_register(cp.watch) != 0) {
        edge_log_error("cannot register the RPC handlers");
        goto out_rpc;
    }
    edge_rpc_server_start(cp.rpc);
    {
        char host[256];
        const char *colon = strrchr(o->listen, ':');
        size_t n = colon ? (size_t)(colon - o->listen) : 0;
        if (n >= sizeof(host))
            n = sizeof(host) - 1;
        memcpy(host, o->listen, n);
        host[n] = '\0';
        edge_log_info("edge-controlplane %s listening on %s:%d%s (database %s, revision %llu)",
                      EDGE_VERSION, host, port, o->tls_cert ? " with TLS" : "", o->db,
                      (unsigned long long)cp_store_revision(cp.store));
    }
    if (o->port_file && write_port_file(o->port_file, port) != 0) {
        edge_log_error("cannot write the port file %s", o->port_file);
        goto out_rpc;
    }

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    for (;;) {
        struct timespec zero = {0, 0};
        siginfo_t si;
        if (edge_rpc_server_poll(cp.rpc, 200) != 0)
            break;
        int sig = sigtimedwait(&sigs, &si, &zero);
        if (sig == SIGTERM || sig == SIGINT) {
            edge_log_info("received %s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
    }
    cp_watch_shutdown(cp.watch);
    edge_rpc_server_shutdown(cp.rpc, o->shutdown_grace_ms);
    rc = 0;
out_rpc:
    edge_rpc_server_free(cp.rpc);
    cp_watch_free(cp.watch);
out_store:
    cp_store_close(cp.store);
    free(node_token);
    if (rc == 0)
        edge_log_info("stopped");
    return rc;
}

int
main(int argc, char **argv)
{
    struct options o = {0};
    sigset_t sigs;
    int rc;

    edge_log_set_ident("edge-controlplane");
    rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    /* Blocked in every thread (gRPC's included, which inherit the mask); the main loop
     * collects them with sigtimedwait between polls. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    grpc_init();
    rc = run(&o);
    grpc_shutdown();
    return rc;
}
