/* APIs, routes and upstreams: every CRUD call and its constraint errors. */
#include "store_test.h"

#include <sqlite3.h>

static void
test_api_crud(void **state)
{
    struct fixture *f = *state;
    struct cp_store_err e = {0};
    Edge__V1__Api in = EDGE__V1__API__INIT, *out = NULL;

    in.name = "pets";
    in.description = "first";
    in.created_at = 12345; /* output only: ignored */
    assert_int_equal(cp_store_api_create(f->st, "admin", &in, &out, &e), 0);
    assert_string_equal(out->name, "pets");
    assert_string_equal(out->description, "first");
    assert_true(out->created_at > 12345);
    int64_t created = out->created_at;
    edge_pb_free(out);

    assert_int_equal(cp_store_api_create(f->st, "admin", &in, &out, &e), -EEXIST);
    assert_non_null(strstr(e.message, "api 'pets' already exists"));

    in.description = "second";
    assert_int_equal(cp_store_api_update(f->st, "admin", &in, &out, &e), 0);
    assert_string_equal(out->description, "second");
    assert_int_equal(out->created_at, created);
    edge_pb_free(out);

    in.name = "ghost";
    assert_int_equal(cp_store_api_update(f->st, "admin", &in, &out, &e), -ENOENT);
    assert_non_null(strstr(e.message, "api 'ghost' not found"));
    assert_int_equal(cp_store_api_get(f->st, "ghost", &out, &e), -ENOENT);

    make_api(f->st, "alpha");
    Edge__V1__ListApisResponse *l = NULL;
    assert_int_equal(cp_store_api_list(f->st, &l, &e), 0);
    assert_int_equal(l->n_apis, 2);
    assert_string_equal(l->apis[0]->name, "alpha");
    assert_string_equal(l->apis[1]->name, "pets");
    edge_pb_free(l);

    uint64_t rev;
    assert_int_equal(cp_store_api_delete(f->st, "admin", "alpha", &rev, &e), 0);
    assert_int_equal(cp_store_api_delete(f->st, "admin", "alpha", &rev, &e), -ENOENT);
    assert_int_equal(cp_store_api_get(f->st, "alpha", &out, &e), -ENOENT);
}

static Edge__V1__Route *
full_route(void)
{
    Edge__V1__Route *r = edge_pb_new(&edge__v1__route__descriptor);
    r->api = edge_pb_strdup("pets");
    r->method = edge_pb_strdup("GET");
    r->path = edge_pb_strdup("/pets/{id}");
    r->host = edge_pb_strdup("api.example.com");
    for (int i = 0; i < 2; i++) {
        Edge__V1__HeaderMatch *h = edge_pb_new(&edge__v1__header_match__descriptor);
        h->name = edge_pb_strdup(i ? "x-b" : "x-a");
        h->value = edge_pb_strdup(i ? "2" : "1");
        edge_pb_append((void ***)&r->headers, &r->n_headers, h);
    }
    r->integration = edge_pb_new(&edge__v1__integration__descriptor);
    r->integration->upstream = edge_pb_strdup("backend");
    r->integration->path = edge_pb_strdup("/v1/pets/{id}");
    r->integration->timeout_ms = 1500;
    r->api_key_required = true;
    r->authorizer = edge_pb_strdup("jwt");
    r->max_body_bytes = 4096;
    r->throttle = edge_pb_new(&edge__v1__throttle__descriptor);
    r->throttle->rate = 12.5;
    r->throttle->burst = 20;
    return r;
}

static void
test_route_crud(void **state)
{
    struct fixture *f = *state;
    struct cp_store_err e = {0};
    Edge__V1__Route *in = full_route(), *out = NULL;

    /* Needs the API, then the upstream. */
    assert_int_equal(cp_store_route_create(f->st, "admin", in, &out, &e), -ENOENT);
    assert_non_null(strstr(e.message, "api 'pets' not found"));
    make_api(f->st, "pets");
    assert_int_equal(cp_store_route_create(f->st, "admin", in, &out, &e), -ENOENT);
    assert_non_null(strstr(e.message, "upstream 'backend' not found"));
    make_upstream(f->st, "backend");
    make_upstream(f->st, "other");
    uint64_t rev0 = cp_store_revision(f->st);

    assert_int_equal(cp_store_route_create(f->st, "admin", in, &out, &e), 0);
    assert_int_equal(cp_store_revision(f->st), rev0 + 1);
    assert_int_equal(strlen(out->id), 14);
    assert_memory_equal(out->id, "r-", 2);
    assert_string_equal(out->api, "pets");
    assert_string_equal(out->host, "api.example.com");
    assert_int_equal(out->n_headers, 2);
    assert_string_equal(out->headers[1]->name, "x-b");
    assert_string_equal(out->headers[1]->value, "2");
    assert_string_equal(out->integration->upstream, "backend");
    assert_string_equal(out->integration->path, "/v1/pets/{id}");
    assert_int_equal(out->integration->timeout_ms, 1500);
    assert_true(out->api_key_required);
    assert_string_equal(out->authorizer, "jwt");
    assert_int_equal(out->max_body_bytes, 4096);
    assert_non_null(out->throttle);
    assert_true(out->throttle->rate == 12.5);
    assert_int_equal(out->throttle->burst, 20);
    char *id = strdup(out->id);
    int64_t created = out->created_at;
    edge_pb_free(out);

    /* Same method, host and shape (parameter names differ): a duplicate, naming the first. */
    free(in->path);
    in->path = edge_pb_strdup("/pets/{petId}");
    assert_int_equal(cp_store_route_create(f->st, "admin", in, &out, &e), -EEXIST);
    assert_non_null(strstr(e.message, id));
    /* Another host or method is another route. */
    free(in->host);
    in->host = edge_pb_strdup("");
    assert_int_equal(cp_store_route_create(f->st, "admin", in, &out, &e), 0);
    char *id2 = strdup(out->id);
    edge_pb_free(out);
    assert_null(out = NULL);

    /* Update replaces whole, keeps id and created_at; cannot collide with another route. */
    Edge__V1__Route upd = EDGE__V1__ROUTE__INIT;
    Edge__V1__Integration ig = EDGE__V1__INTEGRATION__INIT;
    ig.upstream = "other";
    upd.id = id;
    upd.api = "pets";
    upd.method = "POST";
    upd.path = "/pets";
    upd.integration = &ig;
    assert_int_equal(cp_store_route_update(f->st, "admin", &upd, &out, &e), 0);
    assert_string_equal(out->id, id);
    assert_string_equal(out->method, "POST");
    assert_int_equal(out->n_headers, 0);
    assert_null(out->throttle);
    assert_false(out->api_key_required);
    assert_string_equal(out->integration->upstream, "other");
    assert_int_equal(out->created_at, created);
    edge_pb_free(out);
    upd.id = id2;
    assert_int_equal(cp_store_route_update(f->st, "admin", &upd, &out, &e), -EEXIST);
    upd.id = "r-000000000000";
    assert_int_equal(cp_store_route_update(f->st, "admin", &upd, &out, &e), -ENOENT);
    assert_non_null(strstr(e.message, "route 'r-000000000000' not found in api 'pets'"));

    Edge__V1__ListRoutesResponse *l = NULL;
    assert_int_equal(cp_store_route_list(f->st, "pets", &l, &e), 0);
    assert_int_equal(l->n_routes, 2);
    assert_string_equal(l->routes[0]->path, "/pets"); /* sorted by path */
    edge_pb_free(l);
    assert_int_equal(cp_store_route_list(f->st, "nope", &l, &e), -ENOENT);

    assert_int_equal(cp_store_route_get(f->st, "pets", id2, &out, &e), 0);
    assert_string_equal(out->path, "/pets/{petId}");
    edge_pb_free(out);

    uint64_t rev;
    assert_int_equal(cp_store_route_delete(f->st, "admin", "pets", id2, &rev, &e), 0);
    assert_int_equal(rev, cp_store_revision(f->st));
    assert_int_equal(cp_store_route_delete(f->st, "admin", "pets", id2, &rev, &e), -ENOENT);
    assert_int_equal(cp_store_route_get(f->st, "pets", id2, &out, &e), -ENOENT);

    Edge__V1__Api *a;
    assert_int_equal(cp_store_api_get(f->st, "pets", &a, &e), 0);
    assert_int_equal(a->route_count, 1);
    edge_pb_free(a);
    free(id);
    free(id2);
    edge_pb_free(in);
}

static void
test_route_shapes(void **state)
{
    struct fixture *f = *state;
    struct cp_store_err e = {0};

    make_api(f->st, "a");
    make_upstream(f->st, "u");
    free(make_route(f->st, "a", "GET", "/x/{id}", "u"));
    free(make_route(f->st, "a", "GET", "/x/{id}.json", "u")); /* partial: another shape */
    free(make_route(f->st, "a", "GET", "/x/{proxy+}", "u"));  /* greedy: another shape */
    free(make_route(f->st, "a", "ANY", "/x/{id}", "u"));
    Edge__V1__Route in = EDGE__V1__ROUTE__INIT;
    Edge__V1__Integration ig = EDGE__V1__INTEGRATION__INIT;
    ig.upstream = "u";
    in.api = "a";
    in.method = "GET";
    in.path = "/x/{rest+}";
    in.integration = &ig;
    assert_int_equal(cp_store_route_create(f->st, "admin", &in, NULL, &e), -EEXIST);
    in.path = "/x/{name}.json";
    assert_int_equal(cp_store_route_create(f->st, "admin", &in, NULL, &e), -EEXIST);
    in.integration = NULL;
    in.path = "/y";
    assert_int_equal(cp_store_route_create(f->st, "admin", &in, NULL, &e), -EINVAL);
}

static void
test_upstream_crud(void **state)
{
    struct fixture *f = *state;
    struct cp_store_err e = {0};
    Edge__V1__Upstream in = EDGE__V1__UPSTREAM__INIT, *out = NULL;
    Edge__V1__Target t1 = EDGE__V1__TARGET__INIT, t2 = EDGE__V1__TARGET__INIT;
    Edge__V1__Target *ts[] = {&t1, &t2};
    Edge__V1__HealthCheck hc = EDGE__V1__HEALTH_CHECK__INIT;

    t1.host = "10.0.0.1";
    t1.port = 80;
    t1.weight = 5;
    t2.host = "backend.internal";
    t2.port = 8080;
    t2.weight = 0; /* stored as 1 */
    hc.path = "/healthz";
    hc.interval_ms = 1000;
    hc.timeout_ms = 500;
    hc.healthy_threshold = 2;
    hc.unhealthy_threshold = 3;
    in.name = "web";
    in.targets = ts;
    in.n_targets = 2;
    in.lb = EDGE__V1__LB_POLICY__LB_POLICY_LEAST_REQUEST;
    in.connect_timeout_ms = 100;
    in.timeout_ms = 200;
    in.retries = 3;
    in.pool_size = 8;
    in.tls = true;
    in.sni = "web.example.com";
    in.health_check = &hc;
    assert_int_equal(cp_store_upstream_create(f->st, "admin", &in, &out, &e), 0);
    assert_string_equal(out->name, "web");
    assert_int_equal(out->n_targets, 2);
    assert_string_equal(out->targets[0]->host, "10.0.0.1");
    assert_int_equal(out->targets[0]->weight, 5);
    assert_string_equal(out->targets[1]->host, "backend.internal");
    assert_int_equal(out->targets[1]->weight, 1);
    assert_int_equal(out->lb, EDGE__V1__LB_POLICY__LB_POLICY_LEAST_REQUEST);
    assert_int_equal(out->connect_timeout_ms, 100);
    assert_int_equal(out->timeout_ms, 200);
    assert_int_equal(out->retries, 3);
    assert_int_equal(out->pool_size, 8);
    assert_true(out->tls);
    assert_string_equal(out->sni, "web.example.com");
    assert_non_null(out->health_check);
    assert_string_equal(out->health_check->path, "/healthz");
    assert_int_equal(out->health_check->unhealthy_threshold, 3);
    int64_t created = out->created_at;
    edge_pb_free(out);

    assert_int_equal(cp_store_upstream_create(f->st, "admin", &in, &out, &e), -EEXIST);
    assert_non_null(strstr(e.message, "upstream 'web' already exists"));

    /* Update replaces the targets and the rest. */
    in.n_targets = 1;
    in.targets = &ts[1];
    in.health_check = NULL;
    in.tls = false;
    assert_int_equal(cp_store_upstream_update(f->st, "admin", &in, &out, &e), 0);
    assert_int_equal(out->n_targets, 1);
    assert_string_equal(out->targets[0]->host, "backend.internal");
    assert_null(out->health_check);
    assert_false(out->tls);
    assert_int_equal(out->created_at, created);
    edge_pb_free(out);
    in.name = "ghost";
    assert_int_equal(cp_store_upstream_update(f->st, "admin", &in, &out, &e), -ENOENT);

    make_upstream(f->st, "api");
    Edge__V1__ListUpstreamsResponse *l = NULL;
    assert_int_equal(cp_store_upstream_list(f->st, &l, &e), 0);
    assert_int_equal(l->n_upstreams, 2);
    assert_string_equal(l->upstreams[0]->name, "api");
    assert_int_equal(l->upstreams[0]->n_targets, 1);
    assert_string_equal(l->upstreams[1]->name, "web");
    edge_pb_free(l);

    uint64_t rev;
    assert_int_equal(cp_store_upstream_delete(f->st, "admin", "api", &rev, &e), 0);
    assert_int_equal(cp_store_upstream_delete(f->st, "admin", "api", &rev, &e), -ENOENT);
    assert_int_equal(cp_store_upstream_get(f->st, "api", &out, &e), -ENOENT);
    assert_int_equal(cp_store_upstream_get(f->st, "web", &out, &e), 0);
    edge_pb_free(out);
}

static void
test_upstream_in_use(void **state)
{
    struct fixture *f = *state;
    struct cp_store_err e = {0};
    uint64_t rev;

    make_api(f->st, "pets");
    make_upstream(f->st, "backend");
    make_upstream(f->st, "spare");
    char *rid = make_route(f->st, "pets", "GET", "/pets", "backend");
    assert_int_equal(cp_store_upstream_delete(f->st, "admin", "backend", &rev, &e), -EBUSY);
    assert_non_null(strstr(e.message, rid));
    assert_non_null(strstr(e.message, "GET /pets"));

    /* Deployed, then the route moves away: the stage's deployment still uses it. */
    Edge__V1__Deployment *d = NULL;
    must(cp_store_deployment_create(f->st, "admin", "pets", "prod", "", &d, &e), &e);
    Edge__V1__Route upd = EDGE__V1__ROUTE__INIT;
    Edge__V1__Integration ig = EDGE__V1__INTEGRATION__INIT;
    ig.upstream = "spare";
    upd.id = rid;
    upd.api = "pets";
    upd.method = "GET";
    upd.path = "/pets";
    upd.integration = &ig;
    must(cp_store_route_update(f->st, "admin", &upd, NULL, &e), &e);
    assert_int_equal(cp_store_upstream_delete(f->st, "admin", "backend", &rev, &e), -EBUSY);
    assert_non_null(strstr(e.message, d->id));
    assert_non_null(strstr(e.message, "stage pets/prod"));

    /* Once the stage serves a deployment without it, it may go. */
    Edge__V1__Deployment *d2 = NULL;
    must(cp_store_deployment_create(f->st, "admin", "pets", "prod", "", &d2, &e), &e);
    assert_int_equal(cp_store_upstream_delete(f->st, "admin", "backend", &rev, &e), 0);
    edge_pb_free(d);
    edge_pb_free(d2);
    free(rid);
}

/* The 10,000 routes before the limit go in through a second connection in one transaction;
 * through the store (one fsync'd transaction each) they would take minutes. */
static void
test_route_limit(void **state)
{
    struct fixture *f = *state;
    struct cp_store_err e = {0};
    sqlite3 *db = NULL;
    char *msg = NULL;

    make_api(f->st, "big");
    make_upstream(f->st, "u");
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    int rc = sqlite3_exec(
        db,
        "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 9999) "
        "INSERT INTO routes (id, api_id, method, path, shape, host, headers, upstream_id,"
        " integration_path, integration_timeout_ms, api_key_required, authorizer,"
        " max_body_bytes, created_at, updated_at) "
        "SELECT printf('r-%012x', i), 1, 'GET', '/p' || i, '/p' || i, '', '[]', 1, '', 0, 0,"
        " '', 0, 0, 0 FROM c",
        NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s", msg);
    sqlite3_close(db);
    free(make_route(f->st, "big", "GET", "/last", "u")); /* the 10,000th */
    Edge__V1__Route in = EDGE__V1__ROUTE__INIT;
    Edge__V1__Integration ig = EDGE__V1__INTEGRATION__INIT;
    ig.upstream = "u";
    in.api = "big";
    in.method = "GET";
    in.path = "/one-too-many";
    in.integration = &ig;
    assert_int_equal(cp_store_route_create(f->st, "admin", &in, NULL, &e), -E2BIG);
    assert_non_null(strstr(e.message, "at most 10000 routes"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_api_crud, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_route_crud, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_route_shapes, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_upstream_crud, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_upstream_in_use, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_route_limit, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
