/* The gRPC layer end to end in one process: a server on a thread of its own, the blocking
 * client on the test thread. */
/* cmocka needs these first, in this order. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "edge/v1/admin.pb-c.h"
#include "pb.h"
#include "rpc/rpc.h"

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
    struct edge_rpc_server *srv;
    pthread_t thread;
    atomic_bool stop;
    char target[64];
    int calls;
};

static int
auth_secret(void *ctx, const struct edge_rpc_call *call, struct edge_rpc_status *st)
{
    size_t len;
    const char *v = edge_rpc_call_metadata(call, "authorization", &len);
    if (!v)
        return edge_rpc_fail(st, GRPC_STATUS_UNAUTHENTICATED, "missing bearer token");
    if (len != strlen("Bearer secret") || memcmp(v, "Bearer secret", len) != 0)
        return edge_rpc_fail(st, GRPC_STATUS_UNAUTHENTICATED, "invalid token");
    return 0;
}

static void
get_api(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
        ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct fixture *f = ctx;
    const Edge__V1__GetApiRequest *r = (const Edge__V1__GetApiRequest *)req;

    f->calls++;
    assert_string_equal(edge_rpc_call_method(call), "/edge.v1.Admin/GetApi");
    assert_true(strncmp(edge_rpc_call_peer(call), "ipv4:127.0.0.1:", 15) == 0);
    if (strcmp(r->name, "missing") == 0) {
        edge_rpc_fail(st, GRPC_STATUS_NOT_FOUND, "api \"%s\" not found", r->name);
        return;
    }
    Edge__V1__Api *api = edge_pb_new(&edge__v1__api__descriptor);
    api->name = edge_pb_strdup(r->name);
    api->description = edge_pb_strdup("echo");
    *ret_resp = &api->base;
}

static void *
serve(void *arg)
{
    struct fixture *f = arg;
    while (!atomic_load(&f->stop))
        (void)edge_rpc_server_poll(f->srv, 20);
    edge_rpc_server_shutdown(f->srv, 500);
    edge_rpc_server_free(f->srv);
    return NULL;
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[256];
    int port = 0;
    struct edge_rpc_server_config cfg = {.listen = "127.0.0.1:0", .max_message_bytes = 4096};

    f->srv = edge_rpc_server_new(&cfg, &port, err, sizeof(err));
    assert_non_null(f->srv);
    assert_true(port > 0);
    assert_int_equal(edge_rpc_server_add_unary(f->srv, "/edge.v1.Admin/GetApi",
                                               &edge__v1__get_api_request__descriptor, get_api,
                                               auth_secret, f),
                     0);
    assert_int_equal(edge_rpc_server_start(f->srv), 0);
    snprintf(f->target, sizeof(f->target), "127.0.0.1:%d", port);
    pthread_create(&f->thread, NULL, serve, f);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    free(f);
    return 0;
}

static grpc_status_code
call_get_api(struct fixture *f, const char *token, const char *name, Edge__V1__Api **ret,
             struct edge_rpc_status *st)
{
    char err[256];
    struct edge_rpc_client_config cfg = {.token = token};
    struct edge_rpc_client *cli = edge_rpc_client_new(f->target, &cfg, err, sizeof(err));
    Edge__V1__GetApiRequest req = EDGE__V1__GET_API_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    assert_non_null(cli);
    req.name = (char *)name;
    grpc_status_code code = edge_rpc_client_call(cli, "/edge.v1.Admin/GetApi", &req.base,
                                                 &edge__v1__api__descriptor, 5000, &resp, st);
    *ret = (Edge__V1__Api *)resp;
    edge_rpc_client_free(cli);
    return code;
}

static void
test_unary_ok(void **state)
{
    struct fixture *f = *state;
    struct edge_rpc_status st;
    Edge__V1__Api *api;

    assert_int_equal(call_get_api(f, "secret", "pets", &api, &st), GRPC_STATUS_OK);
    assert_non_null(api);
    assert_string_equal(api->name, "pets");
    assert_string_equal(api->description, "echo");
    edge_pb_free(api);
}

static void
test_unary_error_carries_message(void **state)
{
    struct fixture *f = *state;
    struct edge_rpc_status st;
    Edge__V1__Api *api;

    assert_int_equal(call_get_api(f, "secret", "missing", &api, &st), GRPC_STATUS_NOT_FOUND);
    assert_null(api);
    assert_string_equal(st.message, "api \"missing\" not found");
}

static void
test_auth_refused(void **state)
{
    struct fixture *f = *state;
    struct edge_rpc_status st;
    Edge__V1__Api *api;

    assert_int_equal(call_get_api(f, NULL, "pets", &api, &st), GRPC_STATUS_UNAUTHENTICATED);
    assert_string_equal(st.message, "missing bearer token");
    assert_int_equal(call_get_api(f, "wrong", "pets", &api, &st), GRPC_STATUS_UNAUTHENTICATED);
    assert_string_equal(st.message, "invalid token");
    assert_int_equal(f->calls, 0);
}

static void
test_unknown_method_unimplemented(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct edge_rpc_status st;
    struct edge_rpc_client *cli = edge_rpc_client_new(f->target, NULL, err, sizeof(err));
    Edge__V1__GetApiRequest req = EDGE__V1__GET_API_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    assert_int_equal(edge_rpc_client_call(cli, "/edge.v1.Admin/NoSuchThing", &req.base,
                                          &edge__v1__api__descriptor, 5000, &resp, &st),
                     GRPC_STATUS_UNIMPLEMENTED);
    assert_null(resp);
    edge_rpc_client_free(cli);
}

static void
test_oversized_request_refused(void **state)
{
    struct fixture *f = *state;
    struct edge_rpc_status st;
    Edge__V1__Api *api;
    char big[8192];

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(call_get_api(f, "secret", big, &api, &st), GRPC_STATUS_RESOURCE_EXHAUSTED);
    assert_null(api);
    /* The server is still there. */
    assert_int_equal(call_get_api(f, "secret", "after", &api, &st), GRPC_STATUS_OK);
    edge_pb_free(api);
}

static void
test_unreachable_server(void **state)
{
    (void)state;
    char err[256];
    struct edge_rpc_status st;
    /* Port 1 on loopback: nothing listens there. */
    struct edge_rpc_client *cli = edge_rpc_client_new("127.0.0.1:1", NULL, err, sizeof(err));
    Edge__V1__GetApiRequest req = EDGE__V1__GET_API_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    grpc_status_code code = edge_rpc_client_call(cli, "/edge.v1.Admin/GetApi", &req.base,
                                                 &edge__v1__api__descriptor, 2000, &resp, &st);
    assert_true(code == GRPC_STATUS_UNAVAILABLE || code == GRPC_STATUS_DEADLINE_EXCEEDED);
    edge_rpc_client_free(cli);
}

static void
test_listen_failure_reported(void **state)
{
    (void)state;
    char err[256] = "";
    struct edge_rpc_server_config cfg = {.listen = "256.0.0.1:80"};
    assert_null(edge_rpc_server_new(&cfg, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "256.0.0.1:80"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unary_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unary_error_carries_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_method_unimplemented, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_request_refused, setup, teardown),
        cmocka_unit_test(test_unreachable_server),
        cmocka_unit_test(test_listen_failure_reported),
    };
    grpc_init();
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    grpc_shutdown();
    return rc;
}
