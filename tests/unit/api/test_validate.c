/* Table tests of the Admin validators: valid and invalid inputs with the message fragment. */
/* cmocka needs these first, in this order. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "api/validate.h"
#include "pb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct str_case {
    const char *in;
    const char *fragment; /* NULL: valid */
};

typedef int (*str_validator_fn)(const char *field, const char *v, char *err, size_t err_len);

static void
run_str_cases(const char *what, str_validator_fn fn, const struct str_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char err[256] = "";
        int r = fn("f", c[i].in, err, sizeof(err));
        if (!c[i].fragment) {
            if (r != 0)
                fail_msg("%s: '%s' should be valid, got: %s", what, c[i].in, err);
            continue;
        }
        if (r != -EINVAL)
            fail_msg("%s: '%s' should be invalid", what, c[i].in ? c[i].in : "(null)");
        if (strncmp(err, "f: ", 3) != 0 || !strstr(err, c[i].fragment))
            fail_msg("%s: '%s': message '%s' lacks field or '%s'", what, c[i].in, err,
                     c[i].fragment);
    }
}

#define RUN(fn, cases) run_str_cases(#fn, fn, cases, sizeof(cases) / sizeof(cases[0]))

static char long_name[80], long_host[300], long_label[80];

static void
test_names(void **state)
{
    const struct str_case cases[] = {
        {"pets", NULL},
        {"a", NULL},
        {"0day", NULL},
        {"my-api.v2_x", NULL},
        {long_name + 1, NULL}, /* 63 characters */
        {"", "required"},
        {NULL, "required"},
        {long_name, "at most 63"},
        {"Pets", "[a-z0-9]"},
        {"-pets", "offset 0"},
        {".pets", "offset 0"},
        {"pe ts", "offset 2"},
        {"pets/1", "offset 4"},
        {"p\xc3\xa9", "offset 1"},
    };
    RUN(cp_validate_name, cases);
}

static void
test_hosts(void **state)
{
    const struct str_case cases[] = {
        {"example.com", NULL},
        {"localhost", NULL},
        {"a-b.c-d.example", NULL},
        {"127.0.0.1", NULL},
        {"::1", NULL},
        {"[::1]", NULL},
        {"2001:db8::42", NULL},
        {"xn--bcher-kva.example", NULL},
        {"", "required"},
        {long_host, "at most 253"},
        {long_label, "longer than 63"},
        {"256.1.1.1", "IPv4"},
        {"1.2.3", "IPv4"},
        {"::g", "IPv6"},
        {"[::1", "IPv6"},
        {"a..b", "empty label"},
        {"example.com.", "empty label"},
        {"-a.example", "'-'"},
        {"a-.example", "'-'"},
        {"exa mple.com", "offset 3"},
        {"under_score.com", "offset 5"},
        {"*.example.com", "offset 0"},
    };
    RUN(cp_validate_host, cases);
}

static void
test_domain_hosts(void **state)
{
    const struct str_case cases[] = {
        {"*", NULL},
        {"api.example.com", NULL},
        {"*.example.com", NULL},
        {"10.1.2.3", NULL},
        {"", "required"},
        {"*.", "*.suffix"},
        {"*example.com", "*.suffix"},
        {"*.*.example.com", "one leading"},
        {"api.*.com", "only allowed"},
        {"*.exa mple.com", "invalid character"},
    };
    RUN(cp_validate_domain_host, cases);
}

static void
test_base_paths(void **state)
{
    const struct str_case cases[] = {
        {"", NULL},           {"/v1", NULL},         {"/v1/pets", NULL},
        {"/caf%C3%A9", NULL}, {"/a:b@c", NULL},      {"v1", "start with '/'"},
        {"/", "trailing"},    {"/v1/", "trailing"},  {"/v1//x", "empty segment"},
        {"/v 1", "offset 2"}, {"/{id}", "offset 1"}, {"/v1?x", "offset 3"},
        {"/%zz", "percent"},  {"/%4", "percent"},
    };
    RUN(cp_validate_base_path, cases);
}

static void
test_methods(void **state)
{
    const struct str_case cases[] = {
        {"GET", NULL},    {"POST", NULL},        {"ANY", NULL},    {"PATCH", NULL},
        {"", "required"}, {"get", "upper-case"}, {"G ET", "HTTP"}, {"GET/", "HTTP"},
    };
    RUN(cp_validate_method, cases);
}

static void
test_path_templates(void **state)
{
    static char long_path[1100];
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[0] = '/';
    const struct str_case cases[] = {
        {"/pets", NULL},     {"/pets/{id}", NULL}, {"/files/{name}.json", NULL},
        {"/{proxy+}", NULL}, {"", "required"},     {long_path, "at most 1024"},
        {"pets", ""},        {"/pets/{id", ""},    {"/{proxy+}/x", ""},
    };
    RUN(cp_validate_path_template, cases);
}

static void
test_text_and_numbers(void **state)
{
    char err[256];

    assert_int_equal(cp_validate_text("d", "hello\tworld", 20, err, sizeof(err)), 0);
    assert_int_equal(cp_validate_text("d", "toolong", 3, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "d: at most 3 bytes"));
    assert_int_equal(cp_validate_text("d", "a\nb", 20, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "d: control character at offset 1"));

    assert_int_equal(cp_validate_port("p", 1, err, sizeof(err)), 0);
    assert_int_equal(cp_validate_port("p", 65535, err, sizeof(err)), 0);
    assert_int_equal(cp_validate_port("p", 0, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "p: must be 1..65535");
    assert_int_equal(cp_validate_port("p", 65536, err, sizeof(err)), -EINVAL);

    assert_int_equal(cp_validate_timeout("t", 3600000, err, sizeof(err)), 0);
    assert_int_equal(cp_validate_timeout("t", 3600001, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "t: at most 3600000 ms"));

    Edge__V1__Throttle th = EDGE__V1__THROTTLE__INIT;
    th.rate = 100;
    th.burst = 10;
    assert_int_equal(cp_validate_throttle("th", &th, err, sizeof(err)), 0);
    assert_int_equal(cp_validate_throttle("th", NULL, err, sizeof(err)), 0);
    th.rate = -1;
    assert_int_equal(cp_validate_throttle("th", &th, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "th.rate"));
    th.rate = 1.0 / 0.0;
    assert_int_equal(cp_validate_throttle("th", &th, err, sizeof(err)), -EINVAL);
    th.rate = 1;
    th.burst = 2000000000u;
    assert_int_equal(cp_validate_throttle("th", &th, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "th.burst"));

    assert_int_equal(cp_validate_id("id", "r-0123456789ab", 'r', false, err, sizeof(err)), 0);
    assert_int_equal(cp_validate_id("id", "", 'r', true, err, sizeof(err)), 0);
    assert_int_equal(cp_validate_id("id", "", 'r', false, err, sizeof(err)), -EINVAL);
    assert_int_equal(cp_validate_id("id", "d-0123456789ab", 'r', false, err, sizeof(err)), -EINVAL);
    assert_int_equal(cp_validate_id("id", "r-0123456789AB", 'r', false, err, sizeof(err)), -EINVAL);
    assert_int_equal(cp_validate_id("id", "r-0123456789abc", 'r', false, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "id: must be \"r-\" and 12 hex digits"));
}

static void
test_headers_and_variables(void **state)
{
    char err[256];
    Edge__V1__HeaderMatch h = EDGE__V1__HEADER_MATCH__INIT;
    static char long_value[1100];
    memset(long_value, 'v', sizeof(long_value) - 1);

    h.name = "x-tenant";
    h.value = "acme corp\t1";
    assert_int_equal(cp_validate_header_match("h", &h, err, sizeof(err)), 0);
    h.name = "";
    assert_int_equal(cp_validate_header_match("h", &h, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "h.name: required");
    h.name = "x tenant";
    assert_int_equal(cp_validate_header_match("h", &h, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "h.name: invalid character at offset 1"));
    h.name = "x:y";
    assert_int_equal(cp_validate_header_match("h", &h, err, sizeof(err)), -EINVAL);
    h.name = "x-ok";
    h.value = "a\r\nInjected: 1";
    assert_int_equal(cp_validate_header_match("h", &h, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "h.value: control character at offset 1"));
    h.value = long_value;
    assert_int_equal(cp_validate_header_match("h", &h, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "h.value: at most 1024"));

    assert_int_equal(cp_validate_variable("v", "backend_url", "http://x:1/y", err, sizeof(err)), 0);
    assert_int_equal(cp_validate_variable("v", "", "x", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "v: name required"));
    assert_int_equal(cp_validate_variable("v", "bad-name", "x", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "[A-Za-z0-9_]"));
    assert_int_equal(cp_validate_variable("v", "ok", long_value, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "v: at most 512 bytes"));
    assert_int_equal(cp_validate_variable("v", "ok", "a\x01", err, sizeof(err)), -EINVAL);
}

/* ---- whole objects ------------------------------------------------------------------------ */

static Edge__V1__Upstream *
good_upstream(void)
{
    Edge__V1__Upstream *u = edge_pb_new(&edge__v1__upstream__descriptor);
    u->name = edge_pb_strdup("backend");
    for (int i = 0; i < 2; i++) {
        Edge__V1__Target *t = edge_pb_new(&edge__v1__target__descriptor);
        t->host = edge_pb_strdup(i ? "Backend.Internal" : "10.0.0.1");
        t->port = 8080;
        edge_pb_append((void ***)&u->targets, &u->n_targets, t);
    }
    return u;
}

static void
expect_upstream(void (*mutate)(Edge__V1__Upstream *), const char *message)
{
    char err[256] = "";
    Edge__V1__Upstream *u = good_upstream();

    mutate(u);
    int r = cp_validate_upstream(u, err, sizeof(err));
    if (r != -EINVAL || !strstr(err, message))
        fail_msg("expected '%s', got %d '%s'", message, r, err);
    edge_pb_free(u);
}

static void
up_port(Edge__V1__Upstream *u)
{
    u->targets[1]->port = 70000;
}
static void
up_weight(Edge__V1__Upstream *u)
{
    u->targets[0]->weight = 1001;
}
static void
up_host(Edge__V1__Upstream *u)
{
    free(u->targets[1]->host);
    u->targets[1]->host = edge_pb_strdup("bad host");
}
static void
up_no_targets(Edge__V1__Upstream *u)
{
    u->n_targets = 0; /* the array is still freed by edge_pb_free: elements leak otherwise */
    edge_pb_free(u->targets[0]);
    edge_pb_free(u->targets[1]);
}
static void
up_dup(Edge__V1__Upstream *u)
{
    free(u->targets[1]->host);
    u->targets[1]->host = edge_pb_strdup("10.0.0.1");
}
static void
up_retries(Edge__V1__Upstream *u)
{
    u->retries = 11;
}
static void
up_timeout(Edge__V1__Upstream *u)
{
    u->timeout_ms = 3600001;
}
static void
up_pool(Edge__V1__Upstream *u)
{
    u->pool_size = 100000;
}
static void
up_lb(Edge__V1__Upstream *u)
{
    u->lb = 9;
}
static void
up_name(Edge__V1__Upstream *u)
{
    free(u->name);
    u->name = edge_pb_strdup("Back End");
}
static void
up_hc(Edge__V1__Upstream *u)
{
    u->health_check = edge_pb_new(&edge__v1__health_check__descriptor);
    u->health_check->path = edge_pb_strdup("health");
}
static void
up_hc_timeout(Edge__V1__Upstream *u)
{
    u->health_check = edge_pb_new(&edge__v1__health_check__descriptor);
    u->health_check->path = edge_pb_strdup("/health");
    u->health_check->interval_ms = 1000;
    u->health_check->timeout_ms = 2000;
}

static void
test_upstream(void **state)
{
    char err[256];
    Edge__V1__Upstream *u = good_upstream();

    assert_int_equal(cp_validate_upstream(u, err, sizeof(err)), 0);
    /* Defaults filled, hosts lower-cased. */
    assert_int_equal(u->connect_timeout_ms, 2000);
    assert_int_equal(u->timeout_ms, 30000);
    assert_int_equal(u->pool_size, 64);
    assert_int_equal(u->targets[0]->weight, 1);
    assert_string_equal(u->targets[1]->host, "backend.internal");
    u->health_check = edge_pb_new(&edge__v1__health_check__descriptor);
    u->health_check->path = edge_pb_strdup("/healthz");
    assert_int_equal(cp_validate_upstream(u, err, sizeof(err)), 0);
    assert_int_equal(u->health_check->interval_ms, 10000);
    assert_int_equal(u->health_check->unhealthy_threshold, 3);
    edge_pb_free(u);

    expect_upstream(up_port, "upstream.targets[1].port: must be 1..65535");
    expect_upstream(up_weight, "upstream.targets[0].weight: must be 1..1000");
    expect_upstream(up_host, "upstream.targets[1].host: invalid character");
    expect_upstream(up_no_targets, "upstream.targets: at least one target");
    expect_upstream(up_dup, "upstream.targets[1]: duplicate of targets[0]");
    expect_upstream(up_retries, "upstream.retries: must be 0..10");
    expect_upstream(up_timeout, "upstream.timeout_ms: at most");
    expect_upstream(up_pool, "upstream.pool_size");
    expect_upstream(up_lb, "upstream.lb");
    expect_upstream(up_name, "upstream.name");
    expect_upstream(up_hc, "upstream.health_check.path: must start with '/'");
    expect_upstream(up_hc_timeout, "upstream.health_check.timeout_ms");
}

static Edge__V1__Route *
good_route(void)
{
    Edge__V1__Route *r = edge_pb_new(&edge__v1__route__descriptor);
    r->api = edge_pb_strdup("pets");
    r->method = edge_pb_strdup("GET");
    r->path = edge_pb_strdup("/pets/{id}/{rest+}");
    r->integration = edge_pb_new(&edge__v1__integration__descriptor);
    r->integration->upstream = edge_pb_strdup("backend");
    r->integration->path = edge_pb_strdup("/v1/{id}/{rest}");
    return r;
}

struct route_case {
    const char *field;
    const char *value;
    const char *message;
};

static void
set_route_field(Edge__V1__Route *r, const char *field, const char *value)
{
    char **slot = NULL;

    if (strcmp(field, "api") == 0)
        slot = &r->api;
    else if (strcmp(field, "method") == 0)
        slot = &r->method;
    else if (strcmp(field, "path") == 0)
        slot = &r->path;
    else if (strcmp(field, "host") == 0)
        slot = &r->host;
    else if (strcmp(field, "authorizer") == 0)
        slot = &r->authorizer;
    else if (strcmp(field, "upstream") == 0)
        slot = &r->integration->upstream;
    else if (strcmp(field, "ipath") == 0)
        slot = &r->integration->path;
    else if (strcmp(field, "header") == 0) {
        Edge__V1__HeaderMatch *h = edge_pb_new(&edge__v1__header_match__descriptor);
        h->name = edge_pb_strdup(value);
        edge_pb_append((void ***)&r->headers, &r->n_headers, h);
        return;
    }
    assert_non_null(slot);
    if (*slot != protobuf_c_empty_string)
        free(*slot);
    *slot = edge_pb_strdup(value);
}

static void
test_route(void **state)
{
    char err[256];
    Edge__V1__Route *r = good_route();

    assert_int_equal(cp_validate_route(r, false, err, sizeof(err)), 0);
    assert_int_equal(cp_validate_route(r, true, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "route.id: required");
    set_route_field(r, "host", "API.Example.com");
    set_route_field(r, "header", "X-Tenant");
    assert_int_equal(cp_validate_route(r, false, err, sizeof(err)), 0);
    assert_string_equal(r->host, "api.example.com");
    assert_string_equal(r->headers[0]->name, "x-tenant");
    edge_pb_free(r);

    const struct route_case cases[] = {
        {"api", "", "route.api: required"},
        {"method", "get", "route.method"},
        {"path", "", "route.path: required"},
        {"path", "pets", "route.path"},
        {"host", "bad host", "route.host"},
        {"header", "bad name", "route.headers[0].name"},
        {"upstream", "", "route.integration.upstream: required"},
        {"upstream", "Bad", "route.integration.upstream"},
        {"ipath", "v1", "route.integration.path: must start with '/'"},
        {"ipath", "/v1/{nope}", "not a parameter of route.path"},
        {"ipath", "/v1/{id", "unclosed"},
        {"authorizer", "Bad Name", "route.authorizer"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        r = good_route();
        set_route_field(r, cases[i].field, cases[i].value);
        err[0] = '\0';
        if (cp_validate_route(r, false, err, sizeof(err)) != -EINVAL ||
            !strstr(err, cases[i].message))
            fail_msg("case %zu: expected '%s', got '%s'", i, cases[i].message, err);
        edge_pb_free(r);
    }

    r = good_route();
    r->integration->timeout_ms = 3600001;
    assert_int_equal(cp_validate_route(r, false, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "route.integration.timeout_ms"));
    r->integration->timeout_ms = 0;
    r->max_body_bytes = (1ull << 30) + 1;
    assert_int_equal(cp_validate_route(r, false, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "route.max_body_bytes"));
    r->max_body_bytes = 0;
    for (int i = 0; i < 17; i++)
        set_route_field(r, "header", "x-h");
    assert_int_equal(cp_validate_route(r, false, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "route.headers: at most 16"));
    edge_pb_free(r->integration);
    r->integration = NULL;
    assert_int_equal(cp_validate_route(r, false, err, sizeof(err)), -EINVAL);
    edge_pb_free(r);
}

/* A route's upstream: a name, or one stage variable as the whole upstream. */
static void
test_upstream_ref(void **state)
{
    static const struct str_case cases[] = {
        {"backend", NULL},
        {"${stageVariables.backend}", NULL},
        {"${stageVariables.Backend_2}", NULL},
        {"", "required"},
        {"Bad", "must match"},
        {"${stageVariables.}", "expected ${stageVariables.NAME}"},
        {"${stageVariables.backend", "expected ${stageVariables.NAME}"},
        {"${stagevariables.backend}", "expected ${stageVariables.NAME}"},
        {"${stage.backend}", "expected ${stageVariables.NAME}"},
        {"${stageVariables.back-end}", "bad stage variable name"},
        {"${stageVariables.backend}x", "nothing may follow ${stageVariables.NAME}"},
        {"${stageVariables.a}${stageVariables.b}", "nothing may follow"},
        {"svc-${stageVariables.env}", "one stage variable as the whole upstream"},
        {"$backend", "one stage variable as the whole upstream"},
    };
    RUN(cp_validate_upstream_ref, cases);

    char err[256];
    Edge__V1__Route *r = good_route();
    set_route_field(r, "upstream", "${stageVariables.backend}");
    set_route_field(r, "ipath", "/${stageVariables.version}/{id}");
    assert_int_equal(cp_validate_route(r, false, err, sizeof(err)), 0);
    set_route_field(r, "ipath", "/v1/{id}/{rest+}"); /* as the node expands it */
    assert_int_equal(cp_validate_route(r, false, err, sizeof(err)), 0);
    set_route_field(r, "upstream", "${stageVariables.backend");
    assert_int_equal(cp_validate_route(r, false, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "route.integration.upstream: '${' at offset 0"));
    edge_pb_free(r);
}

static void
test_stage_domain_deploy(void **state)
{
    char err[256];
    Edge__V1__Stage *g = edge_pb_new(&edge__v1__stage__descriptor);

    g->api = edge_pb_strdup("pets");
    g->name = edge_pb_strdup("prod");
    assert_int_equal(cp_validate_stage(g, err, sizeof(err)), 0);
    g->deployment_id = edge_pb_strdup("x");
    assert_int_equal(cp_validate_stage(g, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "stage.deployment_id"));
    free(g->deployment_id);
    g->deployment_id = edge_pb_strdup("d-0123456789ab");
    g->canary = edge_pb_new(&edge__v1__canary__descriptor);
    g->canary->percent = 101;
    assert_int_equal(cp_validate_stage(g, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "stage.canary.percent: must be 0..100"));
    g->canary->percent = 10;
    assert_int_equal(cp_validate_stage(g, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "stage.canary.deployment_id: required"));
    for (int i = 0; i < 2; i++) {
        Edge__V1__Stage__VariablesEntry *v =
            edge_pb_new(&edge__v1__stage__variables_entry__descriptor);
        v->key = edge_pb_strdup(i ? "bad-name" : "ok");
        v->value = edge_pb_strdup("1");
        edge_pb_append((void ***)&g->variables, &g->n_variables, v);
    }
    g->canary->percent = 0;
    assert_int_equal(cp_validate_stage(g, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "stage.variables[1]"));
    free(g->name);
    g->name = edge_pb_strdup("Prod");
    assert_int_equal(cp_validate_stage(g, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "stage.name"));
    edge_pb_free(g);

    Edge__V1__DomainMapping dm = EDGE__V1__DOMAIN_MAPPING__INIT;
    char host[] = "API.example.com";
    dm.host = host;
    dm.base_path = "/v1";
    dm.api = "pets";
    dm.stage = "prod";
    assert_int_equal(cp_validate_domain(&dm, err, sizeof(err)), 0);
    assert_string_equal(dm.host, "api.example.com");
    dm.base_path = "/v1/";
    assert_int_equal(cp_validate_domain(&dm, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "domain.base_path: no trailing '/'"));
    dm.base_path = "";
    dm.stage = "";
    assert_int_equal(cp_validate_domain(&dm, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "domain.stage: required"));

    Edge__V1__CreateDeploymentRequest req = EDGE__V1__CREATE_DEPLOYMENT_REQUEST__INIT;
    req.api = "pets";
    req.stage = "prod";
    assert_int_equal(cp_validate_deployment_request(&req, err, sizeof(err)), 0);
    req.stage = "";
    assert_int_equal(cp_validate_deployment_request(&req, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "stage: required"));

    Edge__V1__Api api = EDGE__V1__API__INIT;
    api.name = "pets";
    static char long_desc[1100];
    memset(long_desc, 'd', sizeof(long_desc) - 1);
    api.description = long_desc;
    assert_int_equal(cp_validate_api(&api, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "api.description: at most 1024"));
}

int
main(void)
{
    memset(long_name, 'a', 64); /* long_name: 64 chars; long_name + 1: 63 */
    memset(long_host, 'a', 254);
    for (int i = 1; i < 254; i += 10)
        long_host[i] = '.';
    memset(long_label, 'b', 64);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_hosts),
        cmocka_unit_test(test_domain_hosts),
        cmocka_unit_test(test_base_paths),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_path_templates),
        cmocka_unit_test(test_text_and_numbers),
        cmocka_unit_test(test_headers_and_variables),
        cmocka_unit_test(test_upstream),
        cmocka_unit_test(test_route),
        cmocka_unit_test(test_upstream_ref),
        cmocka_unit_test(test_stage_domain_deploy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
