/* The config client against the real control plane (argv[1]: the edge-controlplane binary),
 * on a temporary database and an ephemeral loopback port: the snapshot on connect, deltas,
 * acks and nacks as the control plane records them, the cache that serves a node restarted
 * while the control plane is down, and the reconnect after the control plane comes back. */
/* cmocka needs these first, in this order. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "cpcache.h"
#include "cpclient.h"
#include "edge/v1/admin.pb-c.h"
#include "log.h"
#include "pb.h"
#include "rpc/rpc.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <grpc/grpc.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *cp_binary;

static struct {
    char dir[512];
    char cache[600];
    char target[64];
    int port;
    pid_t cp_pid;
    long log_offset; /* where the current control plane's log starts in cp.log */
    struct ev_loop *loop;
    struct edge_rpc_client *admin;
    struct dp_cpclient *client;
    char node_id[129];
    /* What apply saw last. */
    int applied;
    uint64_t applied_revision;
    char applied_apis[512];
    int verdict;
} g;

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the node's loop until pred() holds or timeout_ms passes. */
static bool
run_until(bool (*pred)(void), int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    while (now_ms() < end) {
        if (pred())
            return true;
        ev_run(g.loop, EVRUN_NOWAIT);
        usleep(5000);
    }
    return pred();
}

static int
apply(void *ctx, const Edge__V1__ConfigUpdate *config, const struct dp_key_changes *keys, char *err,
      size_t err_len)
{
    size_t off = 0;

    assert_true(config->full);
    g.applied++;
    g.applied_revision = config->revision;
    g.applied_apis[0] = '\0';
    for (size_t i = 0; i < config->n_put; i++)
        if (config->put[i]->type == EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_API)
            off += (size_t)snprintf(g.applied_apis + off, sizeof(g.applied_apis) - off, "%s%s",
                                    off ? "," : "", config->put[i]->id);
    if (g.verdict != 0)
        snprintf(err, err_len, "test says no");
    return g.verdict;
}

static void
start_cp(int port)
{
    char db[600], port_file[600], log[600], listen[64];

    snprintf(db, sizeof(db), "%s/cp.db", g.dir);
    snprintf(port_file, sizeof(port_file), "%s/port", g.dir);
    snprintf(log, sizeof(log), "%s/cp.log", g.dir);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    unlink(port_file);
    struct stat st;
    g.log_offset = stat(log, &st) == 0 ? (long)st.st_size : 0;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
        }
        execl(cp_binary, cp_binary, "--db", db, "--listen", listen, "--port-file", port_file,
              "--log-level", "debug", "--shutdown-grace-ms", "200", (char *)NULL);
        _exit(127);
    }
    g.cp_pid = pid;
    int64_t end = now_ms() + 10000;
    while (now_ms() < end) {
        FILE *f = fopen(port_file, "r");
        if (f) {
            int p = 0;
            bool ok = fscanf(f, "%d", &p) == 1 && p > 0;
            fclose(f);
            if (ok) {
                g.port = p;
                snprintf(g.target, sizeof(g.target), "127.0.0.1:%d", p);
                return;
            }
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            fail_msg("edge-controlplane exited at start (see %s)", log);
        usleep(20000);
    }
    fail_msg("edge-controlplane did not write its port file");
}

static void
stop_cp(void)
{
    int status;

    if (g.cp_pid <= 0)
        return;
    kill(g.cp_pid, SIGTERM);
    for (int i = 0; i < 500; i++) {
        if (waitpid(g.cp_pid, &status, WNOHANG) == g.cp_pid) {
            g.cp_pid = 0;
            return;
        }
        usleep(10000);
    }
    kill(g.cp_pid, SIGKILL);
    waitpid(g.cp_pid, &status, 0);
    g.cp_pid = 0;
}

static void
connect_admin(void)
{
    char path[600], token[256] = "", err[256];

    snprintf(path, sizeof(path), "%s/cp.db.token", g.dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(token, sizeof(token), f));
    fclose(f);
    token[strcspn(token, "\r\n")] = '\0';
    struct edge_rpc_client_config cfg = {.token = token};
    g.admin = edge_rpc_client_new(g.target, &cfg, err, sizeof(err));
    assert_non_null(g.admin);
}

static void
create_api(const char *name)
{
    Edge__V1__Api api = EDGE__V1__API__INIT;
    ProtobufCMessage *resp = NULL;
    struct edge_rpc_status st;

    api.name = (char *)name;
    grpc_status_code code = edge_rpc_client_call(g.admin, "/edge.v1.Admin/CreateApi", &api.base,
                                                 &edge__v1__api__descriptor, 5000, &resp, &st);
    if (code != GRPC_STATUS_OK)
        fail_msg("CreateApi %s: %s %s", name, edge_rpc_code_name(code), st.message);
    edge_pb_free(resp);
}

/* The control plane's record of our node, or NULL (owned). */
static Edge__V1__ListNodesResponse *
list_nodes(const Edge__V1__Node **ret_node)
{
    Edge__V1__ListNodesRequest req = EDGE__V1__LIST_NODES_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    struct edge_rpc_status st;

    *ret_node = NULL;
    if (edge_rpc_client_call(g.admin, "/edge.v1.Admin/ListNodes", &req.base,
                             &edge__v1__list_nodes_response__descriptor, 5000, &resp,
                             &st) != GRPC_STATUS_OK)
        return NULL;
    Edge__V1__ListNodesResponse *r = (Edge__V1__ListNodesResponse *)resp;
    for (size_t i = 0; i < r->n_nodes; i++)
        if (strcmp(r->nodes[i]->id, g.node_id) == 0)
            *ret_node = r->nodes[i];
    return r;
}

static uint64_t want_revision;

static bool
cp_saw_ack(void)
{
    const Edge__V1__Node *n;
    Edge__V1__ListNodesResponse *r = list_nodes(&n);
    bool ok = n && n->connected && n->acked_revision == want_revision;
    edge_pb_free(r);
    return ok;
}

static bool
cp_saw_nack(void)
{
    const Edge__V1__Node *n;
    Edge__V1__ListNodesResponse *r = list_nodes(&n);
    bool ok = n && n->nacked_revision == want_revision && strstr(n->last_error, "test says no");
    edge_pb_free(r);
    return ok;
}

/* The current control plane logged that our node acked want_revision (its debug log). */
static bool
cp_logged_ack(void)
{
    char path[600], needle[256], line[1024];
    bool found = false;

    snprintf(path, sizeof(path), "%s/cp.log", g.dir);
    snprintf(needle, sizeof(needle), "node \"%s\" acked revision %llu\n", g.node_id,
             (unsigned long long)want_revision);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    fseek(f, g.log_offset, SEEK_SET);
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static const char *want_apis;

static bool
applied_apis(void)
{
    return strcmp(g.applied_apis, want_apis) == 0;
}

static bool
connected(void)
{
    return dp_cpclient_connected(g.client);
}

static bool
disconnected(void)
{
    return !dp_cpclient_connected(g.client);
}

static struct dp_cpclient *
new_client(void)
{
    static const char *const listeners[] = {"0.0.0.0:8080", NULL};
    struct dp_cpclient_config cfg = {
        .target = g.target,
        .cache_dir = g.cache,
        .version = "e2e",
        .listeners = listeners,
    };
    char err[256];
    struct dp_cpclient *c = dp_cpclient_new(g.loop, &cfg, apply, NULL, err, sizeof(err));
    if (!c)
        fail_msg("dp_cpclient_new: %s", err);
    return c;
}

static void
test_snapshot_on_connect(void **state)
{
    create_api("pets"); /* revision 1, before the node exists */
    g.client = new_client();
    snprintf(g.node_id, sizeof(g.node_id), "%s", dp_cpclient_node_id(g.client));
    assert_int_equal(dp_cpclient_start(g.client), 0);
    want_apis = "pets";
    assert_true(run_until(applied_apis, 10000));
    assert_int_equal(g.applied, 1);
    assert_true(g.applied_revision >= 1);
    assert_true(dp_cpclient_connected(g.client));
    assert_int_equal(dp_cpclient_revision(g.client), g.applied_revision);
    assert_int_equal(dp_cpclient_fleet_size(g.client), 1);
    want_revision = g.applied_revision;
    assert_true(run_until(cp_saw_ack, 10000));

    /* The cache holds what was acked. */
    Edge__V1__ConfigUpdate *cached = NULL;
    assert_int_equal(dp_cpcache_read(g.cache, &cached), 0);
    assert_int_equal(cached->revision, g.applied_revision);
    assert_true(cached->full);
    assert_true(cached->store_id[0] != '\0');
    edge_pb_free(cached);
}

static void
test_delta_and_ack(void **state)
{
    uint64_t before = g.applied_revision;

    create_api("shop");
    want_apis = "pets,shop";
    assert_true(run_until(applied_apis, 10000));
    assert_true(g.applied_revision > before);
    want_revision = g.applied_revision;
    assert_true(run_until(cp_saw_ack, 10000));
    assert_int_equal(dp_cpclient_revision(g.client), g.applied_revision);
}

static void
test_nack_keeps_previous(void **state)
{
    uint64_t held = g.applied_revision;
    int applied = g.applied;

    g.verdict = -EINVAL;
    create_api("bad");
    want_apis = "bad,pets,shop";
    assert_true(run_until(applied_apis, 10000));
    assert_int_equal(g.applied, applied + 1);
    want_revision = g.applied_revision;
    assert_true(run_until(cp_saw_nack, 10000));
    assert_int_equal(dp_cpclient_revision(g.client), held);
    Edge__V1__ConfigUpdate *cached = NULL;
    assert_int_equal(dp_cpcache_read(g.cache, &cached), 0);
    assert_int_equal(cached->revision, held); /* a rejected config is not cached */
    edge_pb_free(cached);

    /* The next revision lands on top of what the node really holds. */
    g.verdict = 0;
    create_api("good");
    want_apis = "bad,good,pets,shop";
    assert_true(run_until(applied_apis, 10000));
    want_revision = g.applied_revision;
    assert_true(run_until(cp_saw_ack, 10000));
    assert_int_equal(dp_cpclient_revision(g.client), g.applied_revision);
}

static void
test_restart_while_cp_down_serves_cache(void **state)
{
    uint64_t rev = g.applied_revision;

    stop_cp();
    assert_true(run_until(disconnected, 15000));
    g.client = dp_cpclient_free(g.client);

    g.applied = 0;
    g.applied_apis[0] = '\0';
    g.client = new_client();
    assert_string_equal(dp_cpclient_node_id(g.client), g.node_id); /* kept in the cache dir */
    assert_int_equal(dp_cpclient_start(g.client), 0);
    /* Applied before start returned, with no control plane around. */
    assert_int_equal(g.applied, 1);
    assert_int_equal(g.applied_revision, rev);
    assert_string_equal(g.applied_apis, "bad,good,pets,shop");
    assert_int_equal(dp_cpclient_revision(g.client), rev);
    assert_false(dp_cpclient_connected(g.client));
}

static void
test_reconnect_when_cp_returns(void **state)
{
    uint64_t rev = g.applied_revision;

    /* Let the client fail a few attempts first, so that backoff is in play. */
    ev_run(g.loop, EVRUN_NOWAIT);
    usleep(700000);
    start_cp(g.port);
    edge_rpc_client_free(g.admin);
    connect_admin();
    assert_true(run_until(connected, 15000));
    /* It holds the current revision: the control plane says so, we ack, nothing re-applies. */
    want_revision = rev;
    assert_true(run_until(cp_logged_ack, 10000));
    assert_true(run_until(cp_saw_ack, 10000));
    assert_int_equal(g.applied, 1);

    /* And deltas flow again on the new stream. */
    create_api("zoo");
    want_apis = "bad,good,pets,shop,zoo";
    assert_true(run_until(applied_apis, 10000));
    want_revision = g.applied_revision;
    assert_true(run_until(cp_saw_ack, 10000));
}

static int
group_setup(void **state)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(g.dir, sizeof(g.dir), "%s/cpclient-e2e-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g.dir))
        return -1;
    snprintf(g.cache, sizeof(g.cache), "%s/cache", g.dir);
    g.loop = ev_loop_new(EVFLAG_AUTO);
    start_cp(0);
    connect_admin();
    return 0;
}

static int
group_teardown(void **state)
{
    char cmd[600];

    g.client = dp_cpclient_free(g.client);
    edge_rpc_client_free(g.admin);
    stop_cp();
    ev_loop_destroy(g.loop);
    if (getenv("KEEP_TMP")) {
        fprintf(stderr, "kept %s\n", g.dir);
        return 0;
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g.dir);
    return system(cmd) == 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH-TO-edge-controlplane\n", argv[0]);
        return 2;
    }
    cp_binary = argv[1];
    if (getenv("EDGE_TEST_DEBUG"))
        edge_log_set_level(EDGE_LOG_DEBUG);
    grpc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_on_connect),
        cmocka_unit_test(test_delta_and_ack),
        cmocka_unit_test(test_nack_keeps_previous),
        cmocka_unit_test(test_restart_while_cp_down_serves_cache),
        cmocka_unit_test(test_reconnect_when_cp_returns),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    grpc_shutdown();
    return rc;
}
