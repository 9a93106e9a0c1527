/* The config client without a control plane (dataplane/cpclient/cpclient.h): the cached
 * snapshot is applied before dp_cpclient_start() returns, a corrupt cache is ignored, the node
 * id is kept across restarts, bad settings fail in dp_cpclient_new(), and a client that cannot
 * reach its control plane stops cleanly. */
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
#include "cpconn.h"
#include "pb.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct fixture {
    char dir[512];
    char target[64];
    struct ev_loop *loop;
    int applied;
    uint64_t applied_revision;
    size_t applied_resources;
    int verdict; /* what apply returns */
};

/* A loopback port that nobody listens on: bound, then released. */
static void
closed_port_target(char *buf, size_t len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    snprintf(buf, len, "127.0.0.1:%u", ntohs(sa.sin_port));
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/cpclient-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir))
        return -1;
    closed_port_target(f->target, sizeof(f->target));
    f->loop = ev_loop_new(EVFLAG_AUTO);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    ev_loop_destroy(f->loop);
    free(f);
    return 0;
}

static int
apply(void *ctx, const Edge__V1__ConfigUpdate *config, const struct dp_key_changes *keys, char *err,
      size_t err_len)
{
    struct fixture *f = ctx;
    assert_true(config->full);
    f->applied++;
    f->applied_revision = config->revision;
    f->applied_resources = config->n_put;
    if (f->verdict != 0)
        snprintf(err, err_len, "test says no");
    return f->verdict;
}

static void
write_cache(const char *dir, uint64_t revision)
{
    Edge__V1__ConfigUpdate *u = edge_pb_new(&edge__v1__config_update__descriptor);
    u->full = true;
    u->revision = revision;
    u->store_id = edge_pb_strdup("store-x");
    for (int i = 0; i < 3; i++) {
        Edge__V1__Resource *r = edge_pb_new(&edge__v1__resource__descriptor);
        char id[8];
        snprintf(id, sizeof(id), "u%d", i);
        r->type = EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_UPSTREAM;
        r->id = edge_pb_strdup(id);
        r->body_case = EDGE__V1__RESOURCE__BODY_UPSTREAM;
        r->upstream = edge_pb_new(&edge__v1__upstream__descriptor);
        r->upstream->name = edge_pb_strdup(id);
        edge_pb_append((void ***)&u->put, &u->n_put, r);
    }
    assert_int_equal(dp_cpcache_write(dir, u), 0);
    edge_pb_free(u);
}

static struct dp_cpclient *
client(struct fixture *f, const char *node_id)
{
    struct dp_cpclient_config cfg = {
        .target = f->target,
        .cache_dir = f->dir,
        .node_id = node_id,
        .version = "test",
    };
    char err[256] = "";
    struct dp_cpclient *c = dp_cpclient_new(f->loop, &cfg, apply, f, err, sizeof(err));
    if (!c)
        print_error("dp_cpclient_new: %s\n", err);
    assert_non_null(c);
    return c;
}

/* Runs the loop for about ms milliseconds. */
static void
run_for(struct ev_loop *loop, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        ev_run(loop, EVRUN_NOWAIT);
        usleep(10000);
    }
}

static void
test_cache_applied_before_start_returns(void **state)
{
    struct fixture *f = *state;

    write_cache(f->dir, 17);
    struct dp_cpclient *c = client(f, "node-a");
    assert_int_equal(f->applied, 0);
    assert_int_equal(dp_cpclient_revision(c), 0);
    assert_int_equal(dp_cpclient_start(c), 0);
    assert_int_equal(f->applied, 1);
    assert_int_equal(f->applied_revision, 17);
    assert_int_equal(f->applied_resources, 3);
    assert_int_equal(dp_cpclient_revision(c), 17);
    assert_false(dp_cpclient_connected(c));
    assert_int_equal(dp_cpclient_fleet_size(c), 0);
    assert_string_equal(dp_cpclient_node_id(c), "node-a");
    assert_int_equal(dp_cpclient_start(c), -EALREADY);
    /* Nobody listens: it keeps retrying, and stops cleanly when told. */
    run_for(f->loop, 300);
    assert_false(dp_cpclient_connected(c));
    assert_int_equal(f->applied, 1);
    assert_null(dp_cpclient_free(c));
}

static void
test_corrupt_cache_ignored(void **state)
{
    struct fixture *f = *state;
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", f->dir, DP_CPCACHE_SNAPSHOT);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("\xff\xff\xff\xff not protobuf", fp);
    fclose(fp);
    struct dp_cpclient *c = client(f, NULL);
    assert_int_equal(dp_cpclient_start(c), 0);
    assert_int_equal(f->applied, 0);
    assert_int_equal(dp_cpclient_revision(c), 0);
    dp_cpclient_free(c);
}

static void
test_rejected_cache_not_held(void **state)
{
    struct fixture *f = *state;

    write_cache(f->dir, 5);
    f->verdict = -EINVAL;
    struct dp_cpclient *c = client(f, NULL);
    assert_int_equal(dp_cpclient_start(c), 0);
    assert_int_equal(f->applied, 1);
    assert_int_equal(dp_cpclient_revision(c), 0);
    dp_cpclient_free(c);
}

static void
test_node_id_stable(void **state)
{
    struct fixture *f = *state;
    char first[129];

    struct dp_cpclient *c = client(f, NULL);
    snprintf(first, sizeof(first), "%s", dp_cpclient_node_id(c));
    assert_memory_equal(first, "dp-", 3);
    assert_int_equal(strlen(first), 15);
    dp_cpclient_free(c); /* never started */
    c = client(f, NULL);
    assert_string_equal(dp_cpclient_node_id(c), first);
    dp_cpclient_free(c);
    /* A configured id wins over the saved one. */
    c = client(f, "explicit-1");
    assert_string_equal(dp_cpclient_node_id(c), "explicit-1");
    dp_cpclient_free(c);
}

static void
test_no_cache_dir(void **state)
{
    struct fixture *f = *state;
    struct dp_cpclient_config cfg = {.target = f->target};
    char err[256] = "";

    /* Works, with an id of its own that a restart does not keep, and nothing cached. */
    struct dp_cpclient *c = dp_cpclient_new(f->loop, &cfg, apply, f, err, sizeof(err));
    assert_non_null(c);
    assert_memory_equal(dp_cpclient_node_id(c), "dp-", 3);
    assert_int_equal(dp_cpclient_start(c), 0);
    assert_int_equal(f->applied, 0);
    dp_cpclient_free(c);
}

static void
test_bad_settings(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    char missing[PATH_MAX + 16];
    snprintf(missing, sizeof(missing), "%s/no-such-ca.pem", f->dir);

    struct dp_cpclient_config cfg = {.target = f->target, .cache_dir = f->dir, .node_id = "bad id"};
    assert_null(dp_cpclient_new(f->loop, &cfg, apply, f, err, sizeof(err)));
    assert_non_null(strstr(err, "node id"));
    cfg.node_id = "ok";
    cfg.ca_file = missing;
    assert_null(dp_cpclient_new(f->loop, &cfg, apply, f, err, sizeof(err)));
    assert_non_null(strstr(err, "no-such-ca.pem"));
    cfg.ca_file = NULL;
    cfg.cert_file = missing;
    assert_null(dp_cpclient_new(f->loop, &cfg, apply, f, err, sizeof(err)));
    assert_non_null(strstr(err, "key"));
    cfg.cert_file = NULL;
    cfg.target = NULL;
    assert_null(dp_cpclient_new(f->loop, &cfg, apply, f, err, sizeof(err)));
    assert_null(dp_cpclient_free(NULL));
}

/* Control-plane addresses: host:port, [v6]:port; nothing else reaches a connect. */
static void
test_target_forms(void **state)
{
    (void)state;
    static const struct {
        const char *target, *host, *port;
    } ok[] = {
        {"127.0.0.1:9090", "127.0.0.1", "9090"},
        {"cp.example.com:443", "cp.example.com", "443"},
        {"[::1]:9090", "::1", "9090"},
        {"[fe80::1%eth0]:1", "fe80::1%eth0", "1"},
        {"localhost:65535", "localhost", "65535"},
    };
    static const char *const bad[] = {
        "",        "127.0.0.1", "127.0.0.1:", ":9090",    "::1:9090", "[::1]9090", "[::1]",
        "[]:9090", "h:0",       "h:65536",    "h:123456", "h:9o9o",   "h:-1",      "dns:///cp:9090",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char *h = NULL, *p = NULL;
        assert_int_equal(dp_cpconn_parse_target(ok[i].target, &h, &p), 0);
        assert_string_equal(h, ok[i].host);
        assert_string_equal(p, ok[i].port);
        free(h);
        free(p);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *h = NULL, *p = NULL;
        if (dp_cpconn_parse_target(bad[i], &h, &p) != -EINVAL)
            fail_msg("target \"%s\" accepted", bad[i]);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_target_forms),
        cmocka_unit_test_setup_teardown(test_cache_applied_before_start_returns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_cache_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejected_cache_not_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_id_stable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_cache_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_settings, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
