/* The config client against a scripted Config/Watch server (the common/rpc server layer on a
 * thread of its own): what Hello carries (node id, version, listeners, revision, store id,
 * token), updates that arrive while the loop is busy coalesce into one apply and one ack, an
 * invalid update is nacked, an empty update is acked, and a delta that does not apply makes
 * the client reconnect asking for a full snapshot (Hello revision 0). */
/* cmocka needs these first, in this order. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "cpclient.h"
#include "pb.h"
#include "rpc/rpc.h"

#include <errno.h>
#include <ev.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define OUTQ_MAX 16

/* ---- the scripted server (its own thread; everything under mu) ---------------------------- */

struct fake {
    pthread_mutex_t mu;
    pthread_t thread;
    struct edge_rpc_server *srv;
    int port;
    bool stop;
    struct edge_rpc_stream *s; /* the live stream, if any */
    grpc_slice outq[OUTQ_MAX];
    size_t nout;
    size_t sent; /* messages handed to the transport, all streams */
    int streams_closed;
    /* The last Hello. */
    int hellos;
    char node_id[129], version[64], store_id[64], token[128], listeners[128];
    uint64_t hello_revision;
    /* The last ack. */
    int acks;
    uint64_t ack_revision;
    bool ack_ok;
    char ack_error[256];
};

static struct fake fk;

static int
fake_open(void *ctx, struct edge_rpc_stream *s, struct edge_rpc_status *st)
{
    size_t len = 0;
    const char *v = edge_rpc_call_metadata(edge_rpc_stream_call(s), "authorization", &len);

    pthread_mutex_lock(&fk.mu);
    snprintf(fk.token, sizeof(fk.token), "%.*s", v ? (int)len : 0, v ? v : "");
    fk.s = s;
    fk.nout = 0;
    pthread_mutex_unlock(&fk.mu);
    return 0;
}

static void
fake_message(void *ctx, struct edge_rpc_stream *s, const ProtobufCMessage *msg)
{
    const Edge__V1__NodeMessage *m = (const Edge__V1__NodeMessage *)msg;

    pthread_mutex_lock(&fk.mu);
    if (m->msg_case == EDGE__V1__NODE_MESSAGE__MSG_HELLO) {
        const Edge__V1__Hello *h = m->hello;
        fk.hellos++;
        snprintf(fk.node_id, sizeof(fk.node_id), "%s", h->node_id);
        snprintf(fk.version, sizeof(fk.version), "%s", h->version);
        snprintf(fk.store_id, sizeof(fk.store_id), "%s", h->store_id);
        fk.hello_revision = h->revision;
        fk.listeners[0] = '\0';
        for (size_t i = 0; i < h->n_listeners; i++) {
            size_t off = strlen(fk.listeners);
            snprintf(fk.listeners + off, sizeof(fk.listeners) - off, "%s%s", i ? "," : "",
                     h->listeners[i]);
        }
    } else if (m->msg_case == EDGE__V1__NODE_MESSAGE__MSG_ACK) {
        fk.acks++;
        fk.ack_revision = m->ack->revision;
        fk.ack_ok = m->ack->ok;
        snprintf(fk.ack_error, sizeof(fk.ack_error), "%s", m->ack->error);
    }
    pthread_mutex_unlock(&fk.mu);
}

static void
fake_closed(void *ctx, struct edge_rpc_stream *s)
{
    pthread_mutex_lock(&fk.mu);
    if (fk.s == s) {
        fk.s = NULL;
        for (size_t i = 0; i < fk.nout; i++)
            grpc_slice_unref(fk.outq[i]);
        fk.nout = 0;
    }
    fk.streams_closed++;
    pthread_mutex_unlock(&fk.mu);
}

static void
flush_locked(void)
{
    while (fk.s && fk.nout > 0 && !edge_rpc_stream_busy(fk.s)) {
        if (edge_rpc_stream_send(fk.s, fk.outq[0]) != 0)
            return;
        grpc_slice_unref(fk.outq[0]);
        memmove(&fk.outq[0], &fk.outq[1], (fk.nout - 1) * sizeof(fk.outq[0]));
        fk.nout--;
        fk.sent++;
    }
}

static void
fake_writable(void *ctx, struct edge_rpc_stream *s)
{
    pthread_mutex_lock(&fk.mu);
    flush_locked();
    pthread_mutex_unlock(&fk.mu);
}

static const struct edge_rpc_stream_ops fake_ops = {
    .open = fake_open,
    .message = fake_message,
    .writable = fake_writable,
    .closed = fake_closed,
};

static void *
fake_main(void *arg)
{
    for (;;) {
        (void)edge_rpc_server_poll(fk.srv, 10);
        pthread_mutex_lock(&fk.mu);
        bool stop = fk.stop;
        flush_locked();
        pthread_mutex_unlock(&fk.mu);
        if (stop)
            break;
    }
    edge_rpc_server_shutdown(fk.srv, 100);
    return NULL;
}

static void
fake_start(grpc_server_credentials *creds)
{
    struct edge_rpc_server_config cfg = {.listen = "127.0.0.1:0", .creds = creds};
    char err[256];

    memset(&fk, 0, sizeof(fk));
    pthread_mutex_init(&fk.mu, NULL);
    fk.srv = edge_rpc_server_new(&cfg, &fk.port, err, sizeof(err));
    if (!fk.srv)
        fail_msg("edge_rpc_server_new: %s", err);
    assert_int_equal(edge_rpc_server_add_bidi(fk.srv, "/edge.v1.Config/Watch",
                                              &edge__v1__node_message__descriptor, &fake_ops, NULL,
                                              NULL),
                     0);
    assert_int_equal(edge_rpc_server_start(fk.srv), 0);
    assert_int_equal(pthread_create(&fk.thread, NULL, fake_main, NULL), 0);
}

static void
fake_stop(void)
{
    pthread_mutex_lock(&fk.mu);
    fk.stop = true;
    pthread_mutex_unlock(&fk.mu);
    pthread_join(fk.thread, NULL);
    edge_rpc_server_free(fk.srv);
    for (size_t i = 0; i < fk.nout; i++)
        grpc_slice_unref(fk.outq[i]);
    pthread_mutex_destroy(&fk.mu);
}

/* Queues an update (taken) for the live stream. */
static void
fake_push(Edge__V1__ConfigUpdate *u)
{
    grpc_slice s = edge_rpc_pack(&u->base);
    edge_pb_free(u);
    pthread_mutex_lock(&fk.mu);
    assert_true(fk.nout < OUTQ_MAX);
    fk.outq[fk.nout++] = s;
    pthread_mutex_unlock(&fk.mu);
}

/* ---- messages ---------------------------------------------------------------------------- */

static Edge__V1__ConfigUpdate *
update(bool full, uint64_t revision, uint64_t base, const char *store)
{
    Edge__V1__ConfigUpdate *u = edge_pb_new(&edge__v1__config_update__descriptor);
    u->full = full;
    u->revision = revision;
    u->base_revision = base;
    u->store_id = edge_pb_strdup(store);
    u->nodes_connected = full ? 3 : 0;
    return u;
}

static void
put(Edge__V1__ConfigUpdate *u, const char *id)
{
    Edge__V1__Resource *r = edge_pb_new(&edge__v1__resource__descriptor);
    r->type = EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_API;
    r->id = edge_pb_strdup(id);
    r->body_case = EDGE__V1__RESOURCE__BODY_API;
    r->api = edge_pb_new(&edge__v1__api__descriptor);
    r->api->name = edge_pb_strdup(id);
    edge_pb_append((void ***)&u->put, &u->n_put, r);
}

static void
removal(Edge__V1__ConfigUpdate *u, const char *id)
{
    Edge__V1__ResourceRef *r = edge_pb_new(&edge__v1__resource_ref__descriptor);
    r->type = EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_API;
    r->id = edge_pb_strdup(id);
    edge_pb_append((void ***)&u->remove, &u->n_remove, r);
}

/* ---- the node ---------------------------------------------------------------------------- */

static struct {
    char dir[512];
    struct ev_loop *loop;
    struct dp_cpclient *c;
    int applied;
    uint64_t applied_revision;
    char applied_apis[256];
    size_t applied_n;
} nd;

static int
apply(void *ctx, const Edge__V1__ConfigUpdate *config, const struct dp_key_changes *keys, char *err,
      size_t err_len)
{
    size_t off = 0;

    nd.applied++;
    nd.applied_revision = config->revision;
    nd.applied_apis[0] = '\0';
    nd.applied_n = config->n_put;
    /* The names while they fit (a test with many resources counts them instead). */
    for (size_t i = 0; i < config->n_put && off < sizeof(nd.applied_apis); i++)
        off += (size_t)snprintf(nd.applied_apis + off, sizeof(nd.applied_apis) - off, "%s%s",
                                i ? "," : "", config->put[i]->id);
    return 0;
}

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the node's loop (when run_loop) until pred() holds, for at most timeout_ms. */
static bool
wait_for(bool (*pred)(void), bool run_loop, int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    for (;;) {
        pthread_mutex_lock(&fk.mu);
        bool ok = pred();
        pthread_mutex_unlock(&fk.mu);
        if (ok)
            return true;
        if (now_ms() >= end)
            return false;
        if (run_loop)
            ev_run(nd.loop, EVRUN_NOWAIT);
        usleep(5000);
    }
}

static int want_hellos, want_acks;
static size_t want_sent;

static bool
hellos_seen(void)
{
    return fk.hellos >= want_hellos;
}

static bool
acks_seen(void)
{
    return fk.acks >= want_acks;
}

static bool
all_sent(void)
{
    return fk.sent >= want_sent && fk.nout == 0;
}

static int
setup(void **state)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(nd.dir, sizeof(nd.dir), "%s/cpclient-stream-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(nd.dir))
        return -1;
    nd.loop = ev_loop_new(EVFLAG_AUTO);
    nd.applied = 0;
    return 0;
}

/* Starts the client against the fake; tls: "" plaintext, "ca" server-verified TLS, "mtls"
 * with a client certificate too. */
static void
node_start(const char *tls)
{
    static const char *const listeners[] = {"0.0.0.0:8080", "[::]:8443", NULL};
    char target[64], err[256], ca[600], cert[600], key[600];

    snprintf(target, sizeof(target), "127.0.0.1:%d", fk.port);
    snprintf(ca, sizeof(ca), "%s/ca.pem", nd.dir);
    snprintf(cert, sizeof(cert), "%s/cli.pem", nd.dir);
    snprintf(key, sizeof(key), "%s/cli.key", nd.dir);
    struct dp_cpclient_config cfg = {
        .target = target,
        .cache_dir = nd.dir,
        .node_id = "node-7",
        .version = "1.2.3",
        .token = "sekrit-token",
        .listeners = listeners,
        .ca_file = *tls ? ca : NULL,
        .cert_file = strcmp(tls, "mtls") == 0 ? cert : NULL,
        .key_file = strcmp(tls, "mtls") == 0 ? key : NULL,
    };
    nd.c = dp_cpclient_new(nd.loop, &cfg, apply, NULL, err, sizeof(err));
    if (!nd.c)
        fail_msg("dp_cpclient_new: %s", err);
    assert_int_equal(dp_cpclient_start(nd.c), 0);
}

static char *
slurp(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    assert_true(n > 0);
    return buf;
}

/* A server on mutual TLS: our CA, client certificates required and verified. */
static grpc_server_credentials *
mtls_server_creds(void)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "sh '%s' '%s'", CPC_GEN_CERTS, nd.dir);
    assert_int_equal(system(cmd), 0);
    char *ca = slurp(nd.dir, "ca.pem"), *cert = slurp(nd.dir, "srv.pem"),
         *key = slurp(nd.dir, "srv.key");
    grpc_ssl_pem_key_cert_pair kp = {.private_key = key, .cert_chain = cert};
    grpc_server_credentials *creds = grpc_ssl_server_credentials_create_ex(
        ca, &kp, 1, GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY, NULL);
    free(ca);
    free(cert);
    free(key);
    assert_non_null(creds);
    return creds;
}

static int
teardown(void **state)
{
    char cmd[600];

    nd.c = dp_cpclient_free(nd.c);
    fake_stop();
    ev_loop_destroy(nd.loop);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", nd.dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void
test_stream(void **state)
{
    fake_start(NULL);
    node_start("");
    /* Hello: who we are, what we hold (nothing yet), the token. */
    want_hellos = 1;
    assert_true(wait_for(hellos_seen, false, 10000));
    pthread_mutex_lock(&fk.mu);
    assert_string_equal(fk.node_id, "node-7");
    assert_string_equal(fk.version, "1.2.3");
    assert_string_equal(fk.listeners, "0.0.0.0:8080,[::]:8443");
    assert_int_equal(fk.hello_revision, 0);
    assert_string_equal(fk.store_id, "");
    assert_string_equal(fk.token, "Bearer sekrit-token");
    pthread_mutex_unlock(&fk.mu);

    /* Four revisions while the node's loop is busy: one apply, one ack, of the newest. */
    Edge__V1__ConfigUpdate *u = update(true, 1, 0, "st");
    put(u, "a");
    fake_push(u);
    u = update(false, 2, 1, "st");
    put(u, "b");
    fake_push(u);
    u = update(false, 3, 2, "st");
    put(u, "c");
    fake_push(u);
    u = update(false, 4, 3, "st");
    removal(u, "a");
    fake_push(u);
    want_sent = 4;
    assert_true(wait_for(all_sent, false, 10000));
    usleep(300000); /* let the client's gRPC thread take them all in */
    want_acks = 1;
    assert_true(wait_for(acks_seen, true, 10000));
    assert_int_equal(nd.applied, 1);
    assert_int_equal(nd.applied_revision, 4);
    assert_string_equal(nd.applied_apis, "b,c");
    pthread_mutex_lock(&fk.mu);
    assert_int_equal(fk.ack_revision, 4);
    assert_true(fk.ack_ok);
    pthread_mutex_unlock(&fk.mu);
    assert_int_equal(dp_cpclient_revision(nd.c), 4);
    assert_int_equal(dp_cpclient_fleet_size(nd.c), 3);
    assert_true(dp_cpclient_connected(nd.c));

    /* A delta, applied and acked. */
    u = update(false, 5, 4, "st");
    put(u, "d");
    fake_push(u);
    want_acks = 2;
    assert_true(wait_for(acks_seen, true, 10000));
    assert_int_equal(nd.applied_revision, 5);
    assert_string_equal(nd.applied_apis, "b,c,d");

    /* Nonsense is nacked and changes nothing. */
    u = update(false, 6, 5, "st");
    put(u, "e");
    put(u, "e");
    fake_push(u);
    want_acks = 3;
    assert_true(wait_for(acks_seen, true, 10000));
    pthread_mutex_lock(&fk.mu);
    assert_int_equal(fk.ack_revision, 6);
    assert_false(fk.ack_ok);
    assert_non_null(strstr(fk.ack_error, "twice"));
    pthread_mutex_unlock(&fk.mu);
    assert_int_equal(nd.applied, 2);
    assert_int_equal(dp_cpclient_revision(nd.c), 5);

    /* "You are current" is acked without an apply. */
    fake_push(update(false, 5, 5, "st"));
    want_acks = 4;
    assert_true(wait_for(acks_seen, true, 10000));
    pthread_mutex_lock(&fk.mu);
    assert_int_equal(fk.ack_revision, 5);
    assert_true(fk.ack_ok);
    pthread_mutex_unlock(&fk.mu);
    assert_int_equal(nd.applied, 2);

    /* A delta from a revision we do not hold: the client reconnects and asks for everything. */
    u = update(false, 8, 7, "st");
    put(u, "f");
    fake_push(u);
    want_hellos = 2;
    assert_true(wait_for(hellos_seen, true, 10000));
    pthread_mutex_lock(&fk.mu);
    assert_int_equal(fk.hello_revision, 0);
    assert_string_equal(fk.store_id, "");
    assert_string_equal(fk.token, "Bearer sekrit-token");
    assert_true(fk.streams_closed >= 1);
    pthread_mutex_unlock(&fk.mu);
    assert_int_equal(nd.applied, 2);
    u = update(true, 9, 0, "st");
    put(u, "x");
    fake_push(u);
    want_acks = 5;
    assert_true(wait_for(acks_seen, true, 10000));
    assert_int_equal(nd.applied_revision, 9);
    assert_string_equal(nd.applied_apis, "x");
    assert_int_equal(dp_cpclient_revision(nd.c), 9);
}

static bool
connected(void)
{
    return dp_cpclient_connected(nd.c);
}

static bool
outq_has_room(void)
{
    return fk.nout < OUTQ_MAX;
}

/* An API whose description is `bytes` long: a big resource. */
static void
put_big(Edge__V1__ConfigUpdate *u, const char *id, size_t bytes)
{
    put(u, id);
    Edge__V1__Api *api = u->put[u->n_put - 1]->api;
    if (api->description != protobuf_c_empty_string)
        free(api->description);
    api->description = malloc(bytes + 1);
    assert_non_null(api->description);
    memset(api->description, 'x', bytes);
    api->description[bytes] = '\0';
}

/* A 5 MB snapshot arrives whole (many DATA frames, flow-control credit along the way); then
 * 100 deltas of 200 KB pushed while the node's loop is idle outgrow the update queue, so the
 * client withholds credit (the control plane stalls) and gives it back once the loop drains:
 * every revision gets through, in order, and the newest is applied and acked. */
static void
test_big_and_backpressure(void **state)
{
    fake_start(NULL);
    node_start("");
    want_hellos = 1;
    assert_true(wait_for(hellos_seen, false, 10000));

    Edge__V1__ConfigUpdate *u = update(true, 1, 0, "bp");
    put_big(u, "big", 5 << 20);
    fake_push(u);
    want_acks = 1;
    assert_true(wait_for(acks_seen, true, 20000));
    assert_string_equal(nd.applied_apis, "big");

    enum { N = 100 };
    bool loop_runs = false;
    for (int i = 0; i < N; i++) {
        /* Without the loop the queue stalls once the client withholds credit; from then on
         * the loop runs, as a node's would. */
        if (!loop_runs && !wait_for(outq_has_room, false, 2000))
            loop_runs = true;
        assert_true(wait_for(outq_has_room, true, 20000));
        char id[16];
        snprintf(id, sizeof(id), "d%03d", i);
        u = update(false, (uint64_t)i + 2, (uint64_t)i + 1, "bp");
        put_big(u, id, 200 << 10);
        fake_push(u);
    }
    print_message("the control plane stalled on the idle node: %s\n", loop_runs ? "yes" : "no");
    want_sent = N + 1;
    assert_true(wait_for(all_sent, true, 30000));
    want_acks = 2;
    assert_true(wait_for(acks_seen, true, 20000));
    for (int i = 0; i < 200 && nd.applied_revision != N + 1; i++) {
        ev_run(nd.loop, EVRUN_NOWAIT);
        usleep(10000);
    }
    assert_int_equal(nd.applied_revision, N + 1);
    assert_int_equal(nd.applied_n, N + 1); /* "big" and every delta's API */
    assert_int_equal(dp_cpclient_revision(nd.c), N + 1);
    pthread_mutex_lock(&fk.mu);
    assert_true(fk.ack_ok);
    pthread_mutex_unlock(&fk.mu);
    assert_true(dp_cpclient_connected(nd.c));
}

static void
test_mtls(void **state)
{
    grpc_server_credentials *creds = mtls_server_creds();
    fake_start(creds);
    grpc_server_credentials_release(creds);

    /* Without a client certificate the server turns us away. */
    node_start("ca");
    usleep(1000000);
    ev_run(nd.loop, EVRUN_NOWAIT);
    pthread_mutex_lock(&fk.mu);
    assert_int_equal(fk.hellos, 0);
    pthread_mutex_unlock(&fk.mu);
    assert_false(dp_cpclient_connected(nd.c));
    nd.c = dp_cpclient_free(nd.c);

    /* With one, the stream works as on plaintext. */
    node_start("mtls");
    want_hellos = 1;
    assert_true(wait_for(hellos_seen, true, 10000));
    Edge__V1__ConfigUpdate *u = update(true, 3, 0, "tls-store");
    put(u, "secure");
    fake_push(u);
    want_acks = 1;
    assert_true(wait_for(acks_seen, true, 10000));
    assert_true(wait_for(connected, true, 1000));
    assert_string_equal(nd.applied_apis, "secure");
    pthread_mutex_lock(&fk.mu);
    assert_string_equal(fk.token, "Bearer sekrit-token");
    assert_int_equal(fk.ack_revision, 3);
    pthread_mutex_unlock(&fk.mu);
}

int
main(void)
{
    grpc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mtls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_and_backpressure, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    grpc_shutdown();
    return rc;
}
