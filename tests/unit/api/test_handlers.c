/* The Admin handlers against a real store (no server, no watch module): status codes, field
 * messages, defaults, and that nothing is written when a request is refused. */
/* cmocka needs these first, in this order. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "api/api_internal.h"
#include "cp.h"
#include "pb.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct env {
    char dir[PATH_MAX];
    char path[PATH_MAX + 16];
    struct cp_ctx cp;
};

static int
setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    char err[512];

    assert_non_null(e);
    (void)snprintf(e->dir, sizeof(e->dir), "/tmp/edge-api-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    (void)snprintf(e->path, sizeof(e->path), "%s/edge.db", e->dir);
    e->cp.store = cp_store_open(e->path, err, sizeof(err));
    if (!e->cp.store)
        fail_msg("%s", err);
    e->cp.db_path = e->path;
    e->cp.started_at = 1000;
    *state = e;
    return 0;
}

static int
teardown(void **state)
{
    struct env *e = *state;
    char p[PATH_MAX + 32];

    cp_store_close(e->cp.store);
    const char *files[] = {"edge.db", "edge.db-wal", "edge.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        (void)snprintf(p, sizeof(p), "%s/%s", e->dir, files[i]);
        (void)unlink(p);
    }
    (void)rmdir(e->dir);
    free(e);
    return 0;
}

/* Calls a handler; returns the status code and leaves the response (or NULL) in *ret. */
static grpc_status_code
call(struct env *e, edge_rpc_unary_fn fn, const void *req, ProtobufCMessage **ret,
     struct edge_rpc_status *st)
{
    ProtobufCMessage *resp = NULL;

    memset(st, 0, sizeof(*st));
    st->code = GRPC_STATUS_OK;
    fn(&e->cp, NULL, req, &resp, st);
    if (st->code == GRPC_STATUS_OK)
        assert_non_null(resp);
    else
        assert_null(resp);
    if (ret)
        *ret = resp;
    else
        edge_pb_free(resp);
    return st->code;
}

static void
expect(struct env *e, edge_rpc_unary_fn fn, const void *req, grpc_status_code code,
       const char *fragment)
{
    struct edge_rpc_status st;
    grpc_status_code got = call(e, fn, req, NULL, &st);

    if (got != code || (fragment && !strstr(st.message, fragment)))
        fail_msg("expected %s '%s', got %s '%s'", edge_rpc_code_name(code),
                 fragment ? fragment : "", edge_rpc_code_name(got), st.message);
}

static void
create_basics(struct env *e)
{
    Edge__V1__Api api = EDGE__V1__API__INIT;
    api.name = "pets";
    expect(e, cp_api_create_api, &api, GRPC_STATUS_OK, NULL);

    Edge__V1__Upstream up = EDGE__V1__UPSTREAM__INIT;
    Edge__V1__Target t = EDGE__V1__TARGET__INIT;
    Edge__V1__Target *ts[] = {&t};
    t.host = "127.0.0.1";
    t.port = 9000;
    up.name = "backend";
    up.targets = ts;
    up.n_targets = 1;
    expect(e, cp_api_create_upstream, &up, GRPC_STATUS_OK, NULL);
}

static char *
create_route(struct env *e, const char *method, const char *path)
{
    Edge__V1__Route r = EDGE__V1__ROUTE__INIT;
    Edge__V1__Integration ig = EDGE__V1__INTEGRATION__INIT;
    struct edge_rpc_status st;
    ProtobufCMessage *out;

    ig.upstream = "backend";
    r.api = "pets";
    r.method = (char *)method;
    r.path = (char *)path;
    r.integration = &ig;
    assert_int_equal(call(e, cp_api_create_route, &r, &out, &st), GRPC_STATUS_OK);
    char *id = strdup(((Edge__V1__Route *)out)->id);
    edge_pb_free(out);
    return id;
}

static void
test_apis(void **state)
{
    struct env *e = *state;
    Edge__V1__Api api = EDGE__V1__API__INIT;
    struct edge_rpc_status st;
    ProtobufCMessage *out;

    api.name = "Bad Name";
    expect(e, cp_api_create_api, &api, GRPC_STATUS_INVALID_ARGUMENT, "api.name");
    api.name = "pets";
    api.description = "Pet store";
    assert_int_equal(call(e, cp_api_create_api, &api, &out, &st), GRPC_STATUS_OK);
    assert_string_equal(((Edge__V1__Api *)out)->description, "Pet store");
    edge_pb_free(out);
    expect(e, cp_api_create_api, &api, GRPC_STATUS_ALREADY_EXISTS, "api 'pets' already exists");
    api.description = "Updated";
    expect(e, cp_api_update_api, &api, GRPC_STATUS_OK, NULL);

    Edge__V1__GetApiRequest get = EDGE__V1__GET_API_REQUEST__INIT;
    get.name = "pets";
    assert_int_equal(call(e, cp_api_get_api, &get, &out, &st), GRPC_STATUS_OK);
    assert_string_equal(((Edge__V1__Api *)out)->description, "Updated");
    edge_pb_free(out);
    get.name = "nope";
    expect(e, cp_api_get_api, &get, GRPC_STATUS_NOT_FOUND, "api 'nope' not found");
    get.name = "";
    expect(e, cp_api_get_api, &get, GRPC_STATUS_INVALID_ARGUMENT, "name: required");

    Edge__V1__ListApisRequest list = EDGE__V1__LIST_APIS_REQUEST__INIT;
    assert_int_equal(call(e, cp_api_list_apis, &list, &out, &st), GRPC_STATUS_OK);
    assert_int_equal(((Edge__V1__ListApisResponse *)out)->n_apis, 1);
    edge_pb_free(out);

    Edge__V1__DeleteApiRequest del = EDGE__V1__DELETE_API_REQUEST__INIT;
    del.name = "pets";
    assert_int_equal(call(e, cp_api_delete_api, &del, &out, &st), GRPC_STATUS_OK);
    assert_int_equal(((Edge__V1__DeleteResponse *)out)->revision, 3);
    edge_pb_free(out);
    expect(e, cp_api_delete_api, &del, GRPC_STATUS_NOT_FOUND, "pets");
}

static void
test_routes(void **state)
{
    struct env *e = *state;
    Edge__V1__Route r = EDGE__V1__ROUTE__INIT;
    Edge__V1__Integration ig = EDGE__V1__INTEGRATION__INIT;
    struct edge_rpc_status st;
    ProtobufCMessage *out;

    ig.upstream = "backend";
    r.api = "pets";
    r.method = "GET";
    r.path = "/pets/{id}";
    r.integration = &ig;
    expect(e, cp_api_create_route, &r, GRPC_STATUS_NOT_FOUND, "api 'pets' not found");
    create_basics(e);
    ig.upstream = "ghost";
    expect(e, cp_api_create_route, &r, GRPC_STATUS_NOT_FOUND, "upstream 'ghost' not found");
    ig.upstream = "backend";
    r.path = "/pets/{id";
    expect(e, cp_api_create_route, &r, GRPC_STATUS_INVALID_ARGUMENT, "route.path");
    r.path = "/pets/{id}";
    r.method = "fetch";
    expect(e, cp_api_create_route, &r, GRPC_STATUS_INVALID_ARGUMENT, "route.method");
    r.method = "GET";
    assert_int_equal(call(e, cp_api_create_route, &r, &out, &st), GRPC_STATUS_OK);
    char *id = strdup(((Edge__V1__Route *)out)->id);
    edge_pb_free(out);
    r.path = "/pets/{petId}";
    expect(e, cp_api_create_route, &r, GRPC_STATUS_ALREADY_EXISTS, id);

    r.id = id;
    r.method = "PUT";
    assert_int_equal(call(e, cp_api_update_route, &r, &out, &st), GRPC_STATUS_OK);
    assert_string_equal(((Edge__V1__Route *)out)->method, "PUT");
    edge_pb_free(out);
    r.id = "nope";
    expect(e, cp_api_update_route, &r, GRPC_STATUS_INVALID_ARGUMENT, "route.id");

    Edge__V1__GetRouteRequest get = EDGE__V1__GET_ROUTE_REQUEST__INIT;
    get.api = "pets";
    get.id = id;
    expect(e, cp_api_get_route, &get, GRPC_STATUS_OK, NULL);
    Edge__V1__ListRoutesRequest list = EDGE__V1__LIST_ROUTES_REQUEST__INIT;
    list.api = "pets";
    assert_int_equal(call(e, cp_api_list_routes, &list, &out, &st), GRPC_STATUS_OK);
    assert_int_equal(((Edge__V1__ListRoutesResponse *)out)->n_routes, 1);
    edge_pb_free(out);

    Edge__V1__DeleteUpstreamRequest dup = EDGE__V1__DELETE_UPSTREAM_REQUEST__INIT;
    dup.name = "backend";
    expect(e, cp_api_delete_upstream, &dup, GRPC_STATUS_FAILED_PRECONDITION, id);

    Edge__V1__DeleteRouteRequest del = EDGE__V1__DELETE_ROUTE_REQUEST__INIT;
    del.api = "pets";
    del.id = id;
    expect(e, cp_api_delete_route, &del, GRPC_STATUS_OK, NULL);
    expect(e, cp_api_delete_route, &del, GRPC_STATUS_NOT_FOUND, id);
    expect(e, cp_api_delete_upstream, &dup, GRPC_STATUS_OK, NULL);
    free(id);
}

static void
test_upstreams(void **state)
{
    struct env *e = *state;
    Edge__V1__Upstream up = EDGE__V1__UPSTREAM__INIT;
    Edge__V1__Target t1 = EDGE__V1__TARGET__INIT, t2 = EDGE__V1__TARGET__INIT;
    Edge__V1__Target *ts[] = {&t1, &t2};
    struct edge_rpc_status st;
    ProtobufCMessage *out;

    t1.host = "10.0.0.1";
    t1.port = 80;
    t2.host = "10.0.0.2";
    t2.port = 0;
    up.name = "web";
    up.targets = ts;
    up.n_targets = 2;
    expect(e, cp_api_create_upstream, &up, GRPC_STATUS_INVALID_ARGUMENT,
           "upstream.targets[1].port: must be 1..65535");
    t2.port = 81;
    assert_int_equal(call(e, cp_api_create_upstream, &up, &out, &st), GRPC_STATUS_OK);
    Edge__V1__Upstream *u = (Edge__V1__Upstream *)out;
    assert_int_equal(u->connect_timeout_ms, 2000);
    assert_int_equal(u->timeout_ms, 30000);
    assert_int_equal(u->pool_size, 64);
    assert_int_equal(u->targets[1]->weight, 1);
    edge_pb_free(out);
    expect(e, cp_api_create_upstream, &up, GRPC_STATUS_ALREADY_EXISTS, "upstream 'web'");
    up.retries = 3;
    assert_int_equal(call(e, cp_api_update_upstream, &up, &out, &st), GRPC_STATUS_OK);
    assert_int_equal(((Edge__V1__Upstream *)out)->retries, 3);
    edge_pb_free(out);
    Edge__V1__GetUpstreamRequest get = EDGE__V1__GET_UPSTREAM_REQUEST__INIT;
    get.name = "web";
    expect(e, cp_api_get_upstream, &get, GRPC_STATUS_OK, NULL);
    Edge__V1__ListUpstreamsRequest list = EDGE__V1__LIST_UPSTREAMS_REQUEST__INIT;
    expect(e, cp_api_list_upstreams, &list, GRPC_STATUS_OK, NULL);
}

static void
test_releases(void **state)
{
    struct env *e = *state;
    struct edge_rpc_status st;
    ProtobufCMessage *out;

    create_basics(e);
    Edge__V1__CreateDeploymentRequest dreq = EDGE__V1__CREATE_DEPLOYMENT_REQUEST__INIT;
    dreq.api = "pets";
    dreq.stage = "prod";
    expect(e, cp_api_create_deployment, &dreq, GRPC_STATUS_FAILED_PRECONDITION, "no routes");
    free(create_route(e, "GET", "/pets"));
    assert_int_equal(call(e, cp_api_create_deployment, &dreq, &out, &st), GRPC_STATUS_OK);
    char *dep = strdup(((Edge__V1__Deployment *)out)->id);
    edge_pb_free(out);

    Edge__V1__GetDeploymentRequest dget = EDGE__V1__GET_DEPLOYMENT_REQUEST__INIT;
    dget.api = "pets";
    dget.id = dep;
    expect(e, cp_api_get_deployment, &dget, GRPC_STATUS_OK, NULL);
    dget.id = "d-000000000000";
    expect(e, cp_api_get_deployment, &dget, GRPC_STATUS_NOT_FOUND, "d-000000000000");
    Edge__V1__ListDeploymentsRequest dl = EDGE__V1__LIST_DEPLOYMENTS_REQUEST__INIT;
    dl.api = "pets";
    expect(e, cp_api_list_deployments, &dl, GRPC_STATUS_OK, NULL);

    Edge__V1__Stage g = EDGE__V1__STAGE__INIT;
    g.api = "pets";
    g.name = "prod";
    expect(e, cp_api_create_stage, &g, GRPC_STATUS_ALREADY_EXISTS, "stage 'prod'");
    g.name = "dev";
    g.deployment_id = dep;
    expect(e, cp_api_create_stage, &g, GRPC_STATUS_OK, NULL);
    g.description = "dev stage";
    expect(e, cp_api_update_stage, &g, GRPC_STATUS_OK, NULL);
    Edge__V1__GetStageRequest sget = EDGE__V1__GET_STAGE_REQUEST__INIT;
    sget.api = "pets";
    sget.name = "dev";
    assert_int_equal(call(e, cp_api_get_stage, &sget, &out, &st), GRPC_STATUS_OK);
    assert_string_equal(((Edge__V1__Stage *)out)->description, "dev stage");
    edge_pb_free(out);
    Edge__V1__ListStagesRequest sl = EDGE__V1__LIST_STAGES_REQUEST__INIT;
    sl.api = "pets";
    assert_int_equal(call(e, cp_api_list_stages, &sl, &out, &st), GRPC_STATUS_OK);
    assert_int_equal(((Edge__V1__ListStagesResponse *)out)->n_stages, 2);
    edge_pb_free(out);

    Edge__V1__DomainMapping dm = EDGE__V1__DOMAIN_MAPPING__INIT;
    dm.host = "API.Example.com";
    dm.base_path = "/v1/";
    dm.api = "pets";
    dm.stage = "dev";
    expect(e, cp_api_create_domain_mapping, &dm, GRPC_STATUS_INVALID_ARGUMENT, "domain.base_path");
    dm.base_path = "/v1";
    assert_int_equal(call(e, cp_api_create_domain_mapping, &dm, &out, &st), GRPC_STATUS_OK);
    assert_string_equal(((Edge__V1__DomainMapping *)out)->host, "api.example.com");
    edge_pb_free(out);
    expect(e, cp_api_create_domain_mapping, &dm, GRPC_STATUS_ALREADY_EXISTS, "already exists");
    Edge__V1__ListDomainMappingsRequest dml = EDGE__V1__LIST_DOMAIN_MAPPINGS_REQUEST__INIT;
    expect(e, cp_api_list_domain_mappings, &dml, GRPC_STATUS_OK, NULL);

    Edge__V1__DeleteStageRequest sdel = EDGE__V1__DELETE_STAGE_REQUEST__INIT;
    sdel.api = "pets";
    sdel.name = "dev";
    expect(e, cp_api_delete_stage, &sdel, GRPC_STATUS_FAILED_PRECONDITION, "domain mapping");
    Edge__V1__DeleteApiRequest adel = EDGE__V1__DELETE_API_REQUEST__INIT;
    adel.name = "pets";
    expect(e, cp_api_delete_api, &adel, GRPC_STATUS_FAILED_PRECONDITION, "domain mapping");

    Edge__V1__DeleteDomainMappingRequest ddel = EDGE__V1__DELETE_DOMAIN_MAPPING_REQUEST__INIT;
    ddel.host = "API.EXAMPLE.COM"; /* normalised like on create */
    ddel.base_path = "/v1";
    expect(e, cp_api_delete_domain_mapping, &ddel, GRPC_STATUS_OK, NULL);
    expect(e, cp_api_delete_domain_mapping, &ddel, GRPC_STATUS_NOT_FOUND, "not found");
    expect(e, cp_api_delete_stage, &sdel, GRPC_STATUS_OK, NULL);
    expect(e, cp_api_delete_api, &adel, GRPC_STATUS_OK, NULL);
    free(dep);
}

static void
test_status_audit_nodes(void **state)
{
    struct env *e = *state;
    struct edge_rpc_status st;
    ProtobufCMessage *out;

    create_basics(e);
    free(create_route(e, "GET", "/pets"));
    assert_int_equal(cp_store_node_connected(e->cp.store, "n1", "ipv4:127.0.0.1:5", "0.1.0", 5), 0);

    Edge__V1__GetStatusRequest sreq = EDGE__V1__GET_STATUS_REQUEST__INIT;
    assert_int_equal(call(e, cp_api_get_status, &sreq, &out, &st), GRPC_STATUS_OK);
    Edge__V1__Status *s = (Edge__V1__Status *)out;
    assert_int_equal(s->revision, 3);
    assert_string_equal(s->store_id, cp_store_id(e->cp.store));
    assert_int_equal(s->apis, 1);
    assert_int_equal(s->routes, 1);
    assert_int_equal(s->upstreams, 1);
    assert_int_equal(s->nodes_known, 1);
    assert_int_equal(s->nodes_connected, 0);
    assert_int_equal(s->started_at, 1000);
    assert_string_equal(s->db_path, e->path);
    assert_true(strlen(s->version) > 0);
    edge_pb_free(out);

    Edge__V1__ListAuditRequest areq = EDGE__V1__LIST_AUDIT_REQUEST__INIT;
    assert_int_equal(call(e, cp_api_list_audit, &areq, &out, &st), GRPC_STATUS_OK);
    Edge__V1__ListAuditResponse *a = (Edge__V1__ListAuditResponse *)out;
    assert_int_equal(a->n_entries, 3);
    assert_string_equal(a->entries[0]->object_type, "route");
    assert_string_equal(a->entries[0]->actor, "admin");
    edge_pb_free(out);
    areq.limit = 5000;
    expect(e, cp_api_list_audit, &areq, GRPC_STATUS_INVALID_ARGUMENT, "limit");

    Edge__V1__ListNodesRequest nreq = EDGE__V1__LIST_NODES_REQUEST__INIT;
    assert_int_equal(call(e, cp_api_list_nodes, &nreq, &out, &st), GRPC_STATUS_OK);
    assert_int_equal(((Edge__V1__ListNodesResponse *)out)->n_nodes, 1);
    edge_pb_free(out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_apis, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upstreams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_releases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_audit_nodes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
