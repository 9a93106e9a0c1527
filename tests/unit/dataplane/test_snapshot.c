/* Snapshot compile (errors refused with their reason) and host/base-path resolution. */
#include "pb.h"
#include "snapshot/snapshot.h"

/* cmocka needs these first, in this order. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cfg {
    Edge__V1__ConfigUpdate *u;
};

static Edge__V1__Resource *
add_res(Edge__V1__ConfigUpdate *u, Edge__V1__ResourceType type)
{
    Edge__V1__Resource *r = edge_pb_new(&edge__v1__resource__descriptor);
    r->type = type;
    edge_pb_append((void ***)&u->put, &u->n_put, r);
    return r;
}

static void
add_upstream(Edge__V1__ConfigUpdate *u, const char *name, unsigned port)
{
    Edge__V1__Resource *r = add_res(u, EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_UPSTREAM);
    Edge__V1__Upstream *up = edge_pb_new(&edge__v1__upstream__descriptor);
    up->name = edge_pb_strdup(name);
    Edge__V1__Target *t = edge_pb_new(&edge__v1__target__descriptor);
    t->host = edge_pb_strdup("127.0.0.1");
    t->port = port;
    edge_pb_append((void ***)&up->targets, &up->n_targets, t);
    r->body_case = EDGE__V1__RESOURCE__BODY_UPSTREAM;
    r->upstream = up;
}

static Edge__V1__Deployment *
add_deployment(Edge__V1__ConfigUpdate *u, const char *id, const char *api)
{
    Edge__V1__Resource *r = add_res(u, EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_DEPLOYMENT);
    Edge__V1__Deployment *d = edge_pb_new(&edge__v1__deployment__descriptor);
    d->id = edge_pb_strdup(id);
    d->api = edge_pb_strdup(api);
    r->body_case = EDGE__V1__RESOURCE__BODY_DEPLOYMENT;
    r->deployment = d;
    return d;
}

static void
add_route(Edge__V1__Deployment *d, const char *method, const char *path, const char *upstream,
          const char *int_path)
{
    Edge__V1__Route *rt = edge_pb_new(&edge__v1__route__descriptor);
    rt->method = edge_pb_strdup(method);
    rt->path = edge_pb_strdup(path);
    rt->api = edge_pb_strdup(d->api);
    rt->integration = edge_pb_new(&edge__v1__integration__descriptor);
    rt->integration->upstream = edge_pb_strdup(upstream);
    rt->integration->path = edge_pb_strdup(int_path);
    edge_pb_append((void ***)&d->routes, &d->n_routes, rt);
}

static void
add_stage(Edge__V1__ConfigUpdate *u, const char *api, const char *name, const char *dep)
{
    Edge__V1__Resource *r = add_res(u, EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_STAGE);
    Edge__V1__Stage *s = edge_pb_new(&edge__v1__stage__descriptor);
    s->api = edge_pb_strdup(api);
    s->name = edge_pb_strdup(name);
    s->deployment_id = edge_pb_strdup(dep);
    r->body_case = EDGE__V1__RESOURCE__BODY_STAGE;
    r->stage = s;
}

static void
add_domain(Edge__V1__ConfigUpdate *u, const char *host, const char *base, const char *api,
           const char *stage)
{
    Edge__V1__Resource *r = add_res(u, EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_DOMAIN);
    Edge__V1__DomainMapping *m = edge_pb_new(&edge__v1__domain_mapping__descriptor);
    m->host = edge_pb_strdup(host);
    m->base_path = edge_pb_strdup(base);
    m->api = edge_pb_strdup(api);
    m->stage = edge_pb_strdup(stage);
    r->body_case = EDGE__V1__RESOURCE__BODY_DOMAIN;
    r->domain = m;
}

/* Two APIs, three stages, mappings at every precedence level. */
static Edge__V1__ConfigUpdate *
base_config(void)
{
    Edge__V1__ConfigUpdate *u = edge_pb_new(&edge__v1__config_update__descriptor);
    u->revision = 7;
    u->full = 1;
    add_upstream(u, "u1", 8081);
    Edge__V1__Deployment *d1 = add_deployment(u, "d-1", "pets");
    add_route(d1, "GET", "/pets/{id}", "u1", "/items/{id}");
    add_route(d1, "ANY", "/{proxy+}", "u1", "");
    Edge__V1__Deployment *d2 = add_deployment(u, "d-2", "shop");
    add_route(d2, "GET", "/cart", "u1", "");
    add_stage(u, "pets", "prod", "d-1");
    add_stage(u, "pets", "dev", "d-1");
    add_stage(u, "shop", "prod", "d-2");
    add_stage(u, "shop", "empty", "");
    add_domain(u, "api.example.com", "", "pets", "prod");
    add_domain(u, "api.example.com", "/shop", "shop", "prod");
    add_domain(u, "*.example.com", "/v1", "shop", "prod");
    add_domain(u, "*", "/petsv1", "pets", "prod");
    return u;
}

static struct dp_registries reg;

static int
setup(void **state)
{
    memset(&reg, 0, sizeof(reg));
    return 0;
}

static int
teardown(void **state)
{
    dp_registry_done(&reg.targets);
    dp_registry_done(&reg.upstreams);
    dp_registry_done(&reg.routes);
    dp_registries_policy_done(&reg);
    return 0;
}

static void
test_compile_ok(void **state)
{
    Edge__V1__ConfigUpdate *u = base_config();
    struct dp_snapshot *s = NULL;
    char err[256] = "";
    assert_int_equal(dp_snapshot_compile(u, &reg, &s, err, sizeof(err)), 0);
    assert_non_null(s);
    assert_int_equal(s->revision, 7);
    assert_int_equal(s->n_routes, 3);
    assert_int_equal(s->n_stages, 4);
    assert_int_equal(s->n_mappings, 4);
    assert_int_equal(s->upstreams[0].connect_timeout_ms, 2000);
    assert_int_equal(s->upstreams[0].pool_size, 64);
    assert_true(s->upstreams[0].targets[0].resolved);
    /* Recompiling the same config keeps the stable ids. */
    struct dp_snapshot *s2 = NULL;
    assert_int_equal(dp_snapshot_compile(u, &reg, &s2, err, sizeof(err)), 0);
    assert_int_equal(s2->upstreams[0].targets[0].pool_id, s->upstreams[0].targets[0].pool_id);
    assert_int_equal(s2->n_stat_ids, s->n_stat_ids);
    dp_snapshot_unref(s2);
    dp_snapshot_unref(s);
    edge_pb_free(u);
}

struct resolve_case {
    const char *host, *path;
    int rc;
    const char *api, *stage;
    const char *rest;
};

static void
test_resolve(void **state)
{
    Edge__V1__ConfigUpdate *u = base_config();
    struct dp_snapshot *s = NULL;
    char err[256];
    assert_int_equal(dp_snapshot_compile(u, &reg, &s, err, sizeof(err)), 0);
    static const struct resolve_case cases[] = {
        /* exact host; the longest base path wins */
        {"api.example.com", "/pets/1", 0, "pets", "prod", "/pets/1"},
        {"api.example.com", "/shop/cart", 0, "shop", "prod", "/cart"},
        {"api.example.com", "/shop", 0, "shop", "prod", ""},
        {"api.example.com", "/shopping", 0, "pets", "prod", "/shopping"},
        /* wildcard, then "*" */
        {"a.example.com", "/v1/cart", 0, "shop", "prod", "/cart"},
        {"a.b.example.com", "/v1/cart", 0, "shop", "prod", "/cart"},
        {"example.com", "/v1/cart", -ENOENT, NULL, NULL, NULL},
        {"other.org", "/petsv1/pets/2", 0, "pets", "prod", "/pets/2"},
        /* a wildcard host whose base does not match falls through to "*" */
        {"a.example.com", "/petsv1/x", 0, "pets", "prod", "/x"},
        /* unmapped stages at /{api}/{stage}; mapped ones are not */
        {"other.org", "/pets/dev/pets/3", 0, "pets", "dev", "/pets/3"},
        {"other.org", "/pets/dev", 0, "pets", "dev", ""},
        {"other.org", "/pets/prod/pets/3", -ENOENT, NULL, NULL, NULL},
        {"other.org", "/shop/empty/x", 0, "shop", "empty", "/x"},
        {"other.org", "/nope/dev/x", -ENOENT, NULL, NULL, NULL},
        {"other.org", "/", -ENOENT, NULL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct resolve_case *c = &cases[i];
        struct dp_resolved res;
        int rc = dp_snapshot_resolve(s, c->host, strlen(c->host), c->path, strlen(c->path), &res);
        if (rc != c->rc)
            fail_msg("case %zu (%s %s): rc %d, want %d", i, c->host, c->path, rc, c->rc);
        if (rc == 0) {
            assert_string_equal(res.stage->api, c->api);
            assert_string_equal(res.stage->name, c->stage);
            assert_string_equal(c->path + res.rest_off, c->rest);
        }
    }
    dp_snapshot_unref(s);
    edge_pb_free(u);
}

static void
expect_refused(Edge__V1__ConfigUpdate *u, const char *want)
{
    struct dp_snapshot *s = NULL;
    char err[256] = "";
    assert_int_equal(dp_snapshot_compile(u, &reg, &s, err, sizeof(err)), -EINVAL);
    assert_null(s);
    if (!strstr(err, want))
        fail_msg("reason \"%s\" does not contain \"%s\"", err, want);
    edge_pb_free(u);
}

static void
test_compile_errors(void **state)
{
    Edge__V1__ConfigUpdate *u = base_config();
    add_route(u->put[1]->deployment, "GET", "/pets/{x}", "u1", "");
    expect_refused(u, "defined twice");

    u = base_config();
    add_route(u->put[1]->deployment, "GET", "/a", "missing", "");
    expect_refused(u, "unknown upstream \"missing\"");

    u = base_config();
    add_route(u->put[1]->deployment, "GET", "/a/{id", "u1", "");
    expect_refused(u, "route GET /a/{id");

    u = base_config();
    add_route(u->put[1]->deployment, "GET", "/b/{id}", "u1", "/x/{other}");
    expect_refused(u, "not a parameter");

    u = base_config();
    add_stage(u, "pets", "qa", "d-404");
    expect_refused(u, "unknown deployment d-404");

    u = base_config();
    add_domain(u, "x.org", "", "pets", "nope");
    expect_refused(u, "unknown stage pets/nope");

    u = base_config();
    add_domain(u, "api.example.com", "", "pets", "dev");
    expect_refused(u, "defined twice");

    u = base_config();
    add_domain(u, "x.org", "/v1/", "pets", "dev");
    expect_refused(u, "base path");

    u = base_config();
    add_upstream(u, "u1", 9000);
    expect_refused(u, "upstream \"u1\" defined twice");

    u = base_config();
    add_upstream(u, "u2", 70000);
    expect_refused(u, "invalid port");

    u = base_config();
    add_stage(u, "pets", "prod", "d-1");
    expect_refused(u, "stage pets/prod defined twice");
}

static void
add_stage_var(Edge__V1__ConfigUpdate *u, const char *api, const char *name, const char *dep,
              const char *var, const char *value)
{
    add_stage(u, api, name, dep);
    Edge__V1__Stage *st = u->put[u->n_put - 1]->stage;
    if (!var)
        return;
    Edge__V1__Stage__VariablesEntry *v = edge_pb_new(&edge__v1__stage__variables_entry__descriptor);
    v->key = edge_pb_strdup(var);
    v->value = edge_pb_strdup(value);
    edge_pb_append((void ***)&st->variables, &st->n_variables, v);
}

static const struct dp_route *
stage_route(const struct dp_snapshot *s, const char *stage, const char *path)
{
    struct dp_resolved res;
    char full[128], scratch[256];
    (void)snprintf(full, sizeof(full), "/vars/%s%s", stage, path);
    assert_int_equal(dp_snapshot_resolve(s, "h", 1, full, strlen(full), &res), 0);
    struct edge_route_match m;
    edge_route_lookup(res.stage->deployment->table, "GET", 3, path, strlen(path), scratch,
                      sizeof(scratch), &m);
    assert_int_equal(m.status, 200);
    return m.route;
}

/* ${stageVariables.NAME} as a route's upstream: an upstream's name, a literal target (an
 * implicit upstream shared by every route that names it), or a 500 for that route only. */
static void
test_stage_var_upstream(void **state)
{
    Edge__V1__ConfigUpdate *u = base_config();
    add_upstream(u, "u2", 8082);
    Edge__V1__Deployment *d = add_deployment(u, "d-v", "vars");
    add_route(d, "GET", "/a", "${stageVariables.backend}", "");
    add_route(d, "GET", "/b/{id}", "${stageVariables.backend}", "/${stageVariables.ver}/b/{id}");
    add_route(d, "GET", "/plain", "u1", "");
    add_stage_var(u, "vars", "byname", "d-v", "backend", "u2");
    add_stage_var(u, "vars", "lit", "d-v", "backend", "127.0.0.1:9001");
    add_stage_var(u, "vars", "lit2", "d-v", "backend", "127.0.0.1:9001");
    add_stage_var(u, "vars", "url", "d-v", "backend", "http://localhost:9002/");
    add_stage_var(u, "vars", "v6", "d-v", "backend", "[::1]:9003");
    add_stage_var(u, "vars", "missing", "d-v", NULL, NULL);
    add_stage_var(u, "vars", "bad", "d-v", "backend", "nope");
    add_stage_var(u, "vars", "badport", "d-v", "backend", "127.0.0.1:70000");
    add_stage_var(u, "vars", "https", "d-v", "backend", "https://h:443");
    struct dp_snapshot *s = NULL;
    char err[256] = "";
    if (dp_snapshot_compile(u, &reg, &s, err, sizeof(err)) != 0)
        fail_msg("compile: %s", err);

    const struct dp_route *r = stage_route(s, "byname", "/a");
    assert_null(r->error);
    assert_string_equal(r->upstream->name, "u2");
    assert_int_equal(r->timeout_ms, 30000);

    r = stage_route(s, "lit", "/a");
    assert_null(r->error);
    const struct dp_upstream *lit = r->upstream;
    assert_int_equal(lit->n_targets, 1);
    assert_string_equal(lit->targets[0].authority, "127.0.0.1:9001");
    assert_true(lit->targets[0].resolved);
    assert_int_equal(lit->connect_timeout_ms, 2000); /* the default upstream settings */
    assert_int_equal(lit->pool_size, 64);
    assert_int_equal(lit->retries, 0);
    assert_false(lit->tls);
    /* one implicit upstream per target: the other route, the other stage */
    assert_ptr_equal(stage_route(s, "lit2", "/a")->upstream, lit);
    r = stage_route(s, "lit", "/b/7");
    assert_ptr_equal(r->upstream, lit);
    assert_null(r->int_path); /* ver is not defined: 500 for the path */
    assert_string_equal(r->error, "stage variable \"ver\" is not defined in stage vars/lit");
    r = stage_route(s, "url", "/a");
    assert_null(r->error);
    assert_string_equal(r->upstream->targets[0].authority, "localhost:9002");
    r = stage_route(s, "v6", "/a");
    assert_null(r->error);
    assert_string_equal(r->upstream->targets[0].host, "::1");
    assert_string_equal(r->upstream->targets[0].authority, "[::1]:9003");
    assert_int_equal(s->n_upstreams, 2); /* /config counts the defined ones */

    static const struct {
        const char *stage, *msg;
    } bad[] = {
        {"missing", "stage variable \"backend\" (the route's upstream) is not defined in stage "
                    "vars/missing"},
        {"bad", "stage variable \"backend\" of stage vars/bad names no upstream and is not "
                "host:port or http://host[:port]"},
        {"badport", "names no upstream"},
        {"https", "names no upstream"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = stage_route(s, bad[i].stage, "/a");
        assert_null(r->upstream);
        if (!r->error || !strstr(r->error, bad[i].msg))
            fail_msg("%s: error '%s', want '%s'", bad[i].stage, r->error ? r->error : "(none)",
                     bad[i].msg);
        /* the upstream's error wins over the path's; the other routes serve */
        r = stage_route(s, bad[i].stage, "/b/1");
        assert_non_null(strstr(r->error, "backend"));
        r = stage_route(s, bad[i].stage, "/plain");
        assert_null(r->error);
        assert_string_equal(r->upstream->name, "u1");
    }
    /* Recompiling keeps the implicit upstream's LB and pool ids. */
    struct dp_snapshot *s2 = NULL;
    assert_int_equal(dp_snapshot_compile(u, &reg, &s2, err, sizeof(err)), 0);
    const struct dp_upstream *lit2 = stage_route(s2, "lit", "/a")->upstream;
    assert_int_equal(lit2->lb_id, lit->lb_id);
    assert_int_equal(lit2->targets[0].pool_id, lit->targets[0].pool_id);
    dp_snapshot_unref(s2);
    dp_snapshot_unref(s);
    edge_pb_free(u);
}

static void
test_parse_target(void **state)
{
    static const struct {
        const char *in;
        int rc;
        const char *host;
        unsigned port;
    } cases[] = {
        {"10.0.0.5:8080", 0, "10.0.0.5", 8080},
        {"svc.internal:80", 0, "svc.internal", 80},
        {"http://svc.internal", 0, "svc.internal", 80},
        {"http://svc.internal:8080", 0, "svc.internal", 8080},
        {"http://svc.internal:8080/", 0, "svc.internal", 8080},
        {"[::1]:9000", 0, "::1", 9000},
        {"http://[2001:db8::1]", 0, "2001:db8::1", 80},
        {"svc", -EINVAL, NULL, 0},
        {"svc:", -EINVAL, NULL, 0},
        {"svc:0", -EINVAL, NULL, 0},
        {"svc:65536", -EINVAL, NULL, 0},
        {"svc:80x", -EINVAL, NULL, 0},
        {":80", -EINVAL, NULL, 0},
        {"https://svc:443", -EINVAL, NULL, 0},
        {"http://svc/path", -EINVAL, NULL, 0},
        {"sv c:80", -EINVAL, NULL, 0},
        {"[::1:80", -EINVAL, NULL, 0},
        {"[::1]x", -EINVAL, NULL, 0},
        {"", -EINVAL, NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char host[64] = "";
        uint16_t port = 0;
        int rc = edge_route_parse_target(cases[i].in, host, sizeof(host), &port);
        if (rc != cases[i].rc)
            fail_msg("'%s': rc %d, want %d", cases[i].in, rc, cases[i].rc);
        if (rc == 0 && (strcmp(host, cases[i].host) != 0 || port != cases[i].port))
            fail_msg("'%s': %s %u", cases[i].in, host, port);
    }
    const char *name;
    size_t len;
    assert_true(dp_release_upstream_var("${stageVariables.backend}", &name, &len));
    assert_int_equal(len, 7);
    assert_int_equal(strncmp(name, "backend", len), 0);
    assert_false(dp_release_upstream_var("backend", &name, &len));
    assert_false(dp_release_upstream_var("${stageVariables.}", &name, &len));
    assert_false(dp_release_upstream_var("${stageVariables.a}${stageVariables.b}", &name, &len));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_compile_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compile_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stage_var_upstream, setup, teardown),
        cmocka_unit_test(test_parse_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
